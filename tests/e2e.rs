//! End-to-end: run the built binary on the real-capture fixtures and assert the exact findings
//! (rule id, severity, tcp.stream, evidence frames), nothing more and nothing less.
//! Fixtures are made by `fixtures/make-fixtures.sh` (see fixtures/README.md for how).

mod common;

use std::path::Path;

use common::{json, summaries, tlsdiag};
use serde_json::Value;

// missing_sni: positive (with a successful SNI connection to the same server), positive
// (nginx ssl_reject_handshake → unrecognized_name), negative (no SNI, but the server accepts).
rule_test!(
    missing_sni_handshake_failure,
    "fixtures/missing-sni-handshake-failure.pcap",
    [(1, "missing_sni", "error", [25, 27], "seen")]
);
rule_test!(
    missing_sni_unrecognized_name,
    "fixtures/missing-sni-unrecognized-name.pcap",
    [(0, "missing_sni", "error", [4, 6], "seen")]
);
rule_test!(
    missing_sni_silent_when_server_accepts,
    "fixtures/sni-ok.pcap",
    []
);

// unanswered_renegotiation: positive (HelloRequest, 120 s of silence, client closes);
// negative (the client answers: info `renegotiation` only).
rule_test!(
    unanswered_renegotiation,
    "fixtures/renegotiation-unanswered.pcap",
    [(0, "unanswered_renegotiation", "error", [14, 16, 18], "seen")]
);
rule_test!(
    answered_renegotiation_is_info_only,
    "fixtures/renegotiation-answered.pcap",
    [(0, "renegotiation", "info", [14, 16], "seen")]
);

// idle_timeout_close: 120 s (TLS 1.2, close_notify seen), 75 s (TLS 1.3, close_notify
// inferred from its 19-byte record, FIN seen); negative: keep-alive without idle.
rule_test!(
    idle_timeout_close_120s,
    "fixtures/idle-timeout-close.pcap",
    [
        // The client's later request on the closed connection: the keep-alive race.
        (0, "stale_connection_reuse", "error", [13, 17, 18], "seen"),
        (0, "idle_timeout_close", "warning", [13, 15, 17, 18], "seen"),
    ]
);
rule_test!(
    idle_timeout_close_75s,
    "fixtures/idle-timeout-close-75s.pcap",
    [
        (0, "stale_connection_reuse", "error", [16, 20, 21], "seen"),
        (0, "idle_timeout_close", "warning", [16, 18, 20, 21], "seen"),
    ]
);
rule_test!(
    idle_silent_on_clean_keepalive,
    "fixtures/keepalive-clean.pcap",
    []
);

// The client rejects the server's certificate (unknown_ca: it does not trust the root that
// issued the lone leaf; nothing is missing from the chain). Healthy captures stay silent.
rule_test!(
    client_rejected_certificate_unknown_ca,
    "fixtures/alert-unknown-ca.pcap",
    [(0, "client_rejected_certificate", "error", [6, 8], "seen")]
);
rule_test!(healthy_tls12_silent, "fixtures/tls12-ok.pcap", []);
rule_test!(healthy_tls13_silent, "fixtures/tls13-ok.pcap", []);
rule_test!(healthy_tls12_ipv6_silent, "fixtures/tls12-ok-ipv6.pcap", []);

// tcp.stream numbering past a connection's end (real captures, fixtures/README.md): the same
// client port connects again 7.6 s after a clean close (port reuse: a new stream, as in
// Wireshark); the server's FIN retransmitted for 14 s after a lost ACK stays in its stream.
// The "-busy" twins keep another connection going meanwhile, so that tlsdiag has finalised the
// first connection when those packets come (its 4-tuple has ended).
rule_test!(
    port_reuse_after_close_silent,
    "fixtures/port-reuse-after-close.pcap",
    []
);
rule_test!(
    late_fin_retransmission_silent,
    "fixtures/late-fin-retransmission.pcap",
    []
);
rule_test!(
    port_reuse_after_close_busy_silent,
    "fixtures/port-reuse-after-close-busy.pcap",
    []
);
rule_test!(
    late_fin_retransmission_busy_silent,
    "fixtures/late-fin-retransmission-busy.pcap",
    []
);

/// (stream, first frame, last frame, client) of each connection of a file's JSON report.
fn spans(file: &Value) -> Vec<(u64, u64, u64, String)> {
    file["connections"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["stream"].as_u64().unwrap_or(u64::MAX),
                        c["first_frame"].as_u64().unwrap_or(0),
                        c["last_frame"].as_u64().unwrap_or(0),
                        c["client"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn streams_past_a_connections_end() {
    let frames = |fixture: &str| {
        let doc = json(fixture);
        let f = &doc["files"][0];
        assert_eq!(f["warnings"], serde_json::json!([]), "{fixture}");
        spans(f)
    };
    let client = "127.0.0.1:40404".to_string();
    assert_eq!(
        frames("fixtures/port-reuse-after-close.pcap"),
        [(0, 1, 21, client.clone()), (1, 22, 42, client)]
    );
    // With another connection busy during the gap, the first is finalised (frame 69) before
    // the same 4-tuple's new SYN (frame 80), which opens stream 2 from the ended 4-tuple.
    let busy = frames("fixtures/port-reuse-after-close-busy.pcap");
    let reused = "127.0.0.1:40408".to_string();
    assert_eq!(
        busy.iter()
            .map(|c| (c.0, c.1, c.2, c.3 == reused))
            .collect::<Vec<_>>(),
        [(0, 1, 21, true), (1, 22, 117, false), (2, 80, 103, true)]
    );
    let late = frames("fixtures/late-fin-retransmission.pcap");
    assert_eq!(
        late.iter().map(|c| (c.0, c.1, c.2)).collect::<Vec<_>>(),
        [(0, 1, 34)]
    );
    // With another connection busy meanwhile, sweeps run during the 6.9 s before the last
    // retransmission (frames 133, 134): stream 0 is finalised at frame 90, those two are late
    // (counted and reported, not attributed), and they open no stream (tshark: two streams).
    let doc = json("fixtures/late-fin-retransmission-busy.pcap");
    let f = &doc["files"][0];
    assert_eq!(f["tcp_streams"], 2);
    assert_eq!(
        f["warnings"],
        serde_json::json!([
            "2 packets arrived on connections already closed and reported for more than 5 s"
        ])
    );
    let got: Vec<(u64, u64, u64)> = spans(f).into_iter().map(|c| (c.0, c.1, c.2)).collect();
    assert_eq!(got, [(0, 1, 90), (1, 21, 151)]);
}

/// Retransmissions as tshark marks them (`tcp.analysis.retransmission`). The server's FIN sent
/// again while its peer's ACKs are dropped: frames 23, 25, 27, 29, 31, 33; in the busy capture
/// 42, 47, 55, 66, 89 and 133, the last after stream 0 was finalised, so counted as a late
/// packet, not in the stream. A SYN sent again while nothing answers: frames 2-7.
#[test]
fn retransmissions_count_as_tshark_counts_them() {
    for (fixture, c2s, s2c) in [
        ("fixtures/late-fin-retransmission.pcap", 0, 6),
        ("fixtures/late-fin-retransmission-busy.pcap", 0, 5),
        ("fixtures/catalogue/tcp-no-answer.pcap", 6, 0),
    ] {
        let doc = json(fixture);
        let conn = &doc["files"][0]["connections"][0];
        assert_eq!(conn["stream"], 0, "{fixture}");
        assert_eq!(conn["c2s"]["retransmissions"], c2s, "{fixture}");
        assert_eq!(conn["s2c"]["retransmissions"], s2c, "{fixture}");
    }
}

#[test]
fn summaries_carry_the_facts() {
    let s = summaries("fixtures/missing-sni-handshake-failure.pcap").join("\n");
    assert!(s.contains("handshake_failure alert (frame 27)"), "{s}");
    assert!(
        s.contains("tcp.stream eq 0, SNI origin.example.test"),
        "{s}"
    );

    let s = summaries("fixtures/renegotiation-unanswered.pcap").join("\n");
    assert!(
        s.contains("frame 14") && s.contains("never answered"),
        "{s}"
    );
    assert!(s.contains("waited 120.0 s until the client closed"), "{s}");
    assert!(s.contains("(120 s)"), "{s}");

    let s = summaries("fixtures/idle-timeout-close.pcap").join("\n");
    assert!(
        s.contains("server closed the connection after 120.0 s idle"),
        "{s}"
    );
    assert!(s.contains("IIS"), "{s}");
    assert!(
        s.contains("sent data on the closed connection (frame 17) and got a RST (frame 18)"),
        "{s}"
    );

    let s = summaries("fixtures/idle-timeout-close-75s.pcap").join("\n");
    assert!(
        s.contains("75.0 s idle") && s.contains("nginx `keepalive_timeout`"),
        "{s}"
    );
    assert!(s.contains("inferred"), "{s}");

    let s = summaries("fixtures/alert-unknown-ca.pcap").join("\n");
    assert!(
        s.contains("with fatal alert unknown_ca (48) (frame 8)"),
        "{s}"
    );
}

#[test]
fn connection_facts() {
    let doc = json("fixtures/missing-sni-handshake-failure.pcap");
    let f = &doc["files"][0];
    assert_eq!(f["format"], "pcap");
    assert_eq!(f["link_types"][0]["name"], "ETHERNET");
    assert_eq!(f["tcp_streams"], 2);
    let c0 = &f["connections"][0];
    assert_eq!(c0["sni"], "origin.example.test");
    assert_eq!(c0["tls_version"], "TLS 1.3");
    assert_eq!(c0["outcome"], "handshake_ok");
    // Endpoints as Wireshark prints them (the truth file beside the fixture).
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/missing-sni-handshake-failure.pcap.truth.json"),
        )
        .expect("truth"),
    )
    .expect("truth json");
    assert_eq!(c0["client"], truth["tls_streams"][0]["client"]);
    assert_eq!(c0["server"], "127.0.0.1:8443");
    let c1 = &f["connections"][1];
    assert_eq!(c1["sni"], Value::Null);
    assert_eq!(c1["outcome"], "handshake_failed");
    assert_eq!(c1["transcript"], "ClfF");
    assert_eq!(c1["first_frame"], 22);

    let doc = json("fixtures/tls12-ok-ipv6.pcap");
    let c = &doc["files"][0]["connections"][0];
    assert!(
        c["client"].as_str().unwrap_or("").starts_with("[::1]:"),
        "{c}"
    );
    assert_eq!(c["server"], "[::1]:443");
    assert_eq!(c["tls_version"], "TLS 1.2");
}

/// The documented JSON contract: these keys exist (fields may be added, never renamed).
#[test]
fn json_contract_keys() {
    let doc = json("fixtures/missing-sni-handshake-failure.pcap");
    for k in ["name", "version"] {
        assert!(doc["tool"].get(k).is_some(), "tool.{k}");
    }
    let f = &doc["files"][0];
    for k in [
        "path",
        "format",
        "link_types",
        "packets",
        "warnings",
        "connections",
    ] {
        assert!(f.get(k).is_some(), "file.{k}");
    }
    let c = &f["connections"][1];
    for k in [
        "stream",
        "client",
        "server",
        "sni",
        "alpn",
        "tls_version",
        "cipher",
        "outcome",
        "first_frame",
        "last_frame",
        "findings",
        "transcript",
    ] {
        assert!(c.get(k).is_some(), "connection.{k}");
    }
    let finding = &c["findings"][0];
    for k in [
        "rule",
        "severity",
        "summary",
        "explanation",
        "fix",
        "frames",
        "time",
        "evidence",
    ] {
        assert!(finding.get(k).is_some(), "finding.{k}");
    }
    // docs/json.md documents every key of the example.
    let doc_md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
            .expect("docs/json.md");
    for obj in [c, finding] {
        for k in obj.as_object().expect("object").keys() {
            assert!(
                doc_md.contains(&format!("`{k}`")),
                "docs/json.md does not document `{k}`"
            );
        }
    }
}

#[test]
fn jsonl_streams_one_connection_per_line() {
    let out = tlsdiag(&["analyze", "--format", "jsonl", "fixtures/sni-ok.pcap"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["path"], "fixtures/sni-ok.pcap");
    assert_eq!(lines[1]["stream"], 1);
}

#[test]
fn human_report_shows_evidence_and_fix() {
    let out = tlsdiag(&["analyze", "fixtures/missing-sni-handshake-failure.pcap"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("== fixtures/missing-sni-handshake-failure.pcap"),
        "{text}"
    );
    assert!(
        text.contains("2 TCP connections · findings: 1 error, 0 warning, 0 info"),
        "{text}"
    );
    assert!(
        text.contains("[error] missing_sni · tcp.stream eq 1"),
        "{text}"
    );
    assert!(text.contains("proxy_ssl_server_name on;"), "{text}");
    assert!(text.contains("Causes (worst first):"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("error")
            && l.contains("missing_sni")
            && l.contains("×1")
            && l.contains("tcp.stream eq 1")),
        "{text}"
    );
    assert!(text.contains("frames 25, 27 · tcp.stream eq 1"), "{text}");
    assert!(text.contains("origin.example.test"), "{text}");
}

#[test]
fn unreadable_file_exits_2_and_batch_goes_on() {
    let out = tlsdiag(&["analyze", "Cargo.toml", "fixtures/tls12-ok.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Cargo.toml: not a pcap or pcapng capture"),
        "{text}"
    );
    assert!(text.contains("byte offset 0"), "{text}");
    assert!(text.contains("== fixtures/tls12-ok.pcap"), "{text}");
}

#[test]
fn rules_and_explain_read_the_registry() {
    let out = tlsdiag(&["rules"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "missing_sni",
        "unanswered_renegotiation",
        "idle_timeout_close",
        "tls_alert",
    ] {
        assert!(text.contains(id), "{text}");
    }
    let out = tlsdiag(&["explain", "missing_sni"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("proxy_ssl_name"));
    let out = tlsdiag(&["explain", "no_such_rule"]);
    assert_eq!(out.status.code(), Some(2));
    let out = tlsdiag(&["rules", "--markdown"]);
    let md = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md"))
        .expect("rules.md");
    assert_eq!(String::from_utf8_lossy(&out.stdout), md);
}

#[test]
fn link_types_and_containers_give_the_same_connections() {
    // Real loopback packets rewrapped in every supported link type / container
    // (fixtures/link/make-link-variants.py): the TLS facts must not change.
    let base = json("fixtures/link/base-ether.pcap");
    let facts = |doc: &Value| -> Vec<(Value, Value, Value, Value)> {
        doc["files"][0]["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .map(|c| {
                (
                    c["stream"].clone(),
                    c["sni"].clone(),
                    c["tls_version"].clone(),
                    c["outcome"].clone(),
                )
            })
            .collect()
    };
    let want = facts(&base);
    assert!(want.len() >= 2, "{want:?}");
    for f in [
        "vlan-8021q.pcap",
        "vlan-qinq.pcap",
        "raw-dlt12.pcap",
        "raw-dlt101.pcap",
        "raw-dlt14.pcap",
        "null-bsd.pcap",
        "loop-108.pcap",
        "pcap-ns-le.pcap",
        "pcap-us-be.pcap",
        "pcap-ns-be.pcap",
        "pcapng-multi-if.pcapng",
        "pcapng-be.pcapng",
        "ipv6-exthdr.pcap",
        "sll.pcap",
        "sll2.pcap",
    ] {
        let path = format!("fixtures/link/{f}");
        if !Path::new(env!("CARGO_MANIFEST_DIR")).join(&path).exists() {
            panic!("missing fixture {path}");
        }
        let got = facts(&json(&path));
        let sni_versions = |v: &[(Value, Value, Value, Value)]| -> Vec<(Value, Value)> {
            v.iter().map(|x| (x.1.clone(), x.2.clone())).collect()
        };
        assert_eq!(sni_versions(&got), sni_versions(&want), "{f}");
    }
}

/// `--jobs N` (a reader and N-1 workers owning flows) prints exactly what one thread prints.
/// Which thread owns which flows is varied by `analyze`'s `owners_do_not_change_the_output`.
#[test]
fn jobs_output_is_identical() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/seed.pcap");
    let mut files = vec![
        "fixtures/missing-sni-handshake-failure.pcap".to_string(),
        "fixtures/http/proxy-502-missing-sni.pcap".to_string(),
        // pcapng is memory-mapped and parallel too (big-endian, several interfaces).
        "fixtures/link/pcapng-be.pcapng".to_string(),
        "fixtures/link/pcapng-multi-if.pcapng".to_string(),
        "fixtures/link/dumpcap-lo.pcapng".to_string(),
        // Late packets and port reuse on ended 4-tuples: the json format carries the
        // late-packet warning and the stream count.
        "fixtures/late-fin-retransmission-busy.pcap".to_string(),
        "fixtures/port-reuse-after-close-busy.pcap".to_string(),
    ];
    if seed.exists() {
        files.push(seed.display().to_string());
    } else {
        eprintln!("notice: ../shared/bench/seed.pcap not found; testing fixtures only");
    }
    for f in &files {
        for format in ["jsonl", "json", "human"] {
            let one = tlsdiag(&["analyze", "--format", format, "-j", "1", f]);
            assert!(one.status.success());
            for jobs in ["2", "3", "5"] {
                let many = tlsdiag(&["analyze", "--format", format, "-j", jobs, f]);
                assert!(many.status.success());
                assert!(
                    one.stdout == many.stdout,
                    "{f} {format} -j {jobs} differs from -j 1"
                );
            }
        }
    }
}

/// The memory-mapped pcapng reader (regular files) and the streaming one (stdin) read the same
/// frames, numbers, times and warnings, also from files cut in the middle of a block.
#[test]
fn mapped_and_streamed_pcapng_agree() {
    let dir = std::env::temp_dir().join(format!("tlsdiag-pcapng-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let strip = |mut v: Value| {
        if let Some(f) = v["files"][0].as_object_mut() {
            f.remove("path");
        }
        v
    };
    let mut checked = 0;
    for name in [
        "pcapng-be.pcapng",
        "pcapng-multi-if.pcapng",
        "pcapng-tsresol-pow2.pcapng",
        "dumpcap-lo.pcapng",
    ] {
        let bytes = std::fs::read(Path::new("fixtures/link").join(name)).expect("fixture");
        // Whole, cut inside a late block, and cut inside an early one.
        for cut in [bytes.len(), bytes.len() * 2 / 3 + 3, bytes.len() / 4 + 1] {
            let file = dir.join(format!("{cut}-{name}"));
            std::fs::write(&file, &bytes[..cut]).expect("write");
            let f = file.display().to_string();
            let mapped = tlsdiag(&["analyze", "--format", "json", &f]);
            let streamed = std::process::Command::new(env!("CARGO_BIN_EXE_tlsdiag"))
                .args(["analyze", "--format", "json", "-"])
                .stdin(std::fs::File::open(&file).expect("open"))
                .output()
                .expect("run tlsdiag");
            let m: Value = serde_json::from_slice(&mapped.stdout).expect("JSON");
            let s: Value = serde_json::from_slice(&streamed.stdout).expect("JSON");
            assert!(
                m["files"][0]["packets"].as_u64().unwrap_or(0) > 0 || cut < bytes.len(),
                "{f}: no packets"
            );
            assert_eq!(
                strip(m),
                strip(s),
                "{f}: mapped and streamed readers differ"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--format jsonl` writes each line without serde; its bytes must be those serde_json writes
/// for the JSON wire types (the schema of record), on every fixture and public capture.
#[test]
fn jsonl_writer_matches_the_wire_types() {
    use tlsdiag::report::{json as wire, jsonl};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![
        root.join("fixtures"),
        root.join("../shared/captures/public"),
    ];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            eprintln!("notice: {} not found; skipped", d.display());
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let n = p.to_string_lossy().to_string();
            if p.is_dir() {
                dirs.push(p);
            } else if [".pcap", ".pcapng", ".cap", ".pcap.gz"]
                .iter()
                .any(|x| n.ends_with(x))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let (mut conns, mut findings, mut http) = (0, 0, 0);
    for f in &files {
        let path = f.display().to_string();
        let report = tlsdiag::analyze::analyze_collect(f);
        for c in &report.connections {
            let mut ours = Vec::new();
            jsonl::write_conn(&mut ours, c, Some(&jsonl::PathJson::new(&path))).expect("write");
            let theirs = serde_json::to_vec(&wire::conn(c, Some(&path))).expect("serde");
            assert!(
                ours == theirs,
                "{path} stream {}:\n{}\n{}",
                c.stream,
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            conns += 1;
            findings += c.findings.len();
            http += c.http.len();
        }
    }
    assert!(
        conns > 100 && findings > 50 && http > 5,
        "{conns} {findings} {http}"
    );
}
