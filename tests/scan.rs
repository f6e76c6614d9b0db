//! `tlsdiag scan` and `tlsdiag merge` end to end, on a generated tree of captures built from the
//! real-capture fixtures: a pcapng, a gzipped capture, a rotated file without extension, a
//! corrupt and a truncated capture, a file named `.pcap` that is not one, an empty capture, a
//! text file, an empty file, a symlink loop and a hidden directory.
//!
//! Expected findings are not repeated here: each file's result is compared with what
//! `tlsdiag analyze` says about the same file (tests/e2e.rs pins those), except for the
//! `missing_sni` finding used as the running example.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// Offset of the `n`-th (0-based) record header of a little-endian classic pcap.
fn record_offset(pcap: &[u8], n: usize) -> usize {
    let mut off = 24;
    for _ in 0..n {
        let caplen = u32::from_le_bytes(pcap[off + 8..off + 12].try_into().expect("4 bytes"));
        off += 16 + caplen as usize;
    }
    off
}

/// The generated tree. Paths in reports are relative to `root` (the tests run there).
struct Tree {
    dir: tempfile::TempDir,
    /// Where reading of bad/corrupt.pcap stops.
    corrupt_at: usize,
    /// Where reading of bad/truncated.pcap stops.
    truncated_at: usize,
}

impl Tree {
    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn build_tree() -> Tree {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let put = |rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    };
    let read = |rel: &str| std::fs::read(fixture(rel)).expect("fixture");
    put(
        "tickets/4711/missing-sni-handshake-failure.pcap",
        &read("missing-sni-handshake-failure.pcap"),
    );
    put(
        "tickets/4711/ticket-4711.pcap.gz",
        &gzip(&read("alert-unknown-ca.pcap")),
    );
    put(
        "tickets/4712/dumpcap-lo.pcapng",
        &read("link/dumpcap-lo.pcapng"),
    );
    // tcpdump -W rotation names: recognised by content, not name.
    put("rotated/trace0", &read("tls12-ok.pcap"));
    put("rotated/trace1", &read("renegotiation-unanswered.pcap"));
    // A record header claiming a 2 GiB packet in the middle of a real capture.
    let mut corrupt = read("sni-ok.pcap");
    let corrupt_at = record_offset(&corrupt, 5);
    corrupt[corrupt_at + 8..corrupt_at + 12].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    put("bad/corrupt.pcap", &corrupt);
    let idle = read("idle-timeout-close.pcap");
    let truncated_at = record_offset(&idle, 7);
    put("bad/truncated.pcap", &idle[..truncated_at + 30]);
    put(
        "bad/fake.pcap",
        b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n",
    );
    put("bad/empty.pcap", b"");
    put("notes/README.txt", b"ticket notes\n");
    put("notes/empty", b"");
    put(".hidden/tls13-ok.pcap", &read("tls13-ok.pcap"));
    #[cfg(unix)]
    std::os::unix::fs::symlink("..", root.join("notes/loop")).expect("symlink");
    Tree {
        dir,
        corrupt_at,
        truncated_at,
    }
}

fn tlsdiag_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsdiag"))
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlsdiag");
    // Fed from a thread (no pipe deadlock); a command that exits without reading its input
    // (a usage error) closes the pipe early, which is fine.
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("stdin");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().expect("tlsdiag output");
    if let Some(f) = feeder {
        f.join().expect("stdin feeder");
    }
    out
}

fn run(t: &Tree, args: &[&str]) -> Output {
    tlsdiag_in(t.root(), args, None)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            stdout(o),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn paths(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect()
}

const CAPTURES: [&str; 7] = [
    "bad/corrupt.pcap",
    "bad/truncated.pcap",
    "rotated/trace0",
    "rotated/trace1",
    "tickets/4711/missing-sni-handshake-failure.pcap",
    "tickets/4711/ticket-4711.pcap.gz",
    "tickets/4712/dumpcap-lo.pcapng",
];
const UNREADABLE: [&str; 2] = ["bad/empty.pcap", "bad/fake.pcap"];
const SKIPPED: [&str; 3] = ["notes/README.txt", "notes/empty", "notes/loop"];

#[test]
fn scan_json_reports_every_file_like_analyze() {
    let t = build_tree();
    let out = run(&t, &["scan", "--format", "json", "."]);
    // Two files could not be read: exit 2, and the rest of the report is complete.
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let doc = json_of(&out);

    let mut want: Vec<String> = CAPTURES
        .iter()
        .chain(UNREADABLE.iter())
        .map(|p| format!("./{p}"))
        .collect();
    want.sort();
    assert_eq!(paths(&doc["files"]), want, "files, sorted by path");
    let skipped: Vec<String> = SKIPPED.iter().map(|p| format!("./{p}")).collect();
    assert_eq!(paths(&doc["skipped"]), skipped);
    let reasons: Vec<&str> = doc["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|k| k["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(
        reasons[0],
        "not a capture (starts with 74 69 63 6b \"tick\")"
    );
    assert_eq!(reasons[1], "not a capture (empty)");
    assert!(
        reasons[2].starts_with("symbolic link, not followed"),
        "{}",
        reasons[2]
    );

    // Every file object is exactly what `analyze` says about that file, plus `size`.
    for f in doc["files"].as_array().expect("files") {
        let path = f["path"].as_str().expect("path");
        let a = json_of(&run(&t, &["analyze", "--format", "json", path]));
        let mut mine = f.clone();
        let size = mine
            .as_object_mut()
            .expect("object")
            .shift_remove("size")
            .expect("size");
        assert_eq!(mine, a["files"][0], "{path}");
        let on_disk = std::fs::metadata(t.root().join(path)).expect("meta").len();
        assert_eq!(size, on_disk, "{path}");
    }

    let by_path = |p: &str| {
        doc["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"] == p)
            .cloned()
            .expect("file")
    };
    // Recognised by magic bytes: gzip, pcapng, and a rotated file without extension.
    let gz = by_path("./tickets/4711/ticket-4711.pcap.gz");
    assert_eq!(
        (gz["format"].as_str(), gz["compressed"].as_bool()),
        (Some("pcap"), Some(true))
    );
    assert_eq!(
        by_path("./tickets/4712/dumpcap-lo.pcapng")["format"],
        "pcapng"
    );
    assert_eq!(by_path("./rotated/trace0")["format"], "pcap");
    // Bad files: the reason and the byte offset where reading stopped.
    assert_eq!(
        by_path("./bad/empty.pcap")["error"],
        "./bad/empty.pcap: empty file, not a capture (at byte offset 0)"
    );
    assert_eq!(
        by_path("./bad/fake.pcap")["error"],
        "./bad/fake.pcap: not a pcap or pcapng capture (unknown magic number) (at byte offset 0)"
    );
    let w = by_path("./bad/corrupt.pcap")["warnings"][0].clone();
    assert!(
        w.as_str()
            .expect("warning")
            .starts_with(&format!("at byte offset {}:", t.corrupt_at)),
        "{w}"
    );
    let w = by_path("./bad/truncated.pcap")["warnings"][0].clone();
    assert!(
        w.as_str()
            .expect("warning")
            .starts_with(&format!("at byte offset {}:", t.truncated_at)),
        "{w}"
    );
    // The packets before the damage were analysed.
    assert!(by_path("./bad/corrupt.pcap")["packets"].as_u64() > Some(0));

    // The summary adds up.
    let s = &doc["summary"];
    let files = doc["files"].as_array().expect("files");
    assert_eq!(
        s["files"],
        CAPTURES.len() + UNREADABLE.len() + SKIPPED.len()
    );
    assert_eq!(s["captures"], CAPTURES.len());
    assert_eq!(s["errors"], UNREADABLE.len());
    assert_eq!(s["skipped"], SKIPPED.len());
    assert_eq!(s["compressed"], 1);
    assert_eq!(s["warnings"], 2);
    assert_eq!(s["exit_status"], 2);
    assert_eq!(s["fail_on"], "error");
    let conns: usize = files
        .iter()
        .map(|f| f["connections"].as_array().expect("connections").len())
        .sum();
    assert_eq!(s["connections"], conns);
    let mut findings = [0usize; 3];
    for f in files {
        for c in f["connections"].as_array().expect("connections") {
            for x in c["findings"].as_array().expect("findings") {
                let i = ["error", "warning", "info"]
                    .iter()
                    .position(|k| x["severity"] == *k)
                    .expect("severity");
                findings[i] += 1;
            }
        }
    }
    assert_eq!(
        [
            &s["findings"]["error"],
            &s["findings"]["warning"],
            &s["findings"]["info"]
        ],
        findings.map(Value::from).each_ref()
    );
    let by_rule: usize = s["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["findings"].as_u64().expect("n") as usize)
        .sum();
    assert_eq!(by_rule, findings.iter().sum::<usize>());
    // Worst files first: (errors, warnings, infos) never increase down the list.
    let ranks: Vec<[u64; 3]> = s["worst_files"]
        .as_array()
        .expect("worst")
        .iter()
        .map(|w| ["error", "warning", "info"].map(|k| w[k].as_u64().expect("count")))
        .collect();
    assert!(ranks.windows(2).all(|p| p[0] >= p[1]), "{ranks:?}");
    assert!(
        s["worst_files"]
            .as_array()
            .expect("worst")
            .iter()
            .any(|w| w["path"] == "./tickets/4711/missing-sni-handshake-failure.pcap")
    );
}

#[test]
fn scan_human_summary() {
    let t = build_tree();
    let out = run(&t, &["scan", "tickets", "rotated", "bad", "notes"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "tlsdiag scan: 7 captures read (1 gzip), 2 could not be read, 3 skipped · "
        ),
        "{text}"
    );
    assert!(text.contains("\nby rule:\n"), "{text}");
    assert!(text.contains("\nworst files first:\n"), "{text}");
    assert!(
        text.contains("  tickets/4711/missing-sni-handshake-failure.pcap · "),
        "{text}"
    );
    assert!(
        text.contains("    [error] missing_sni · tcp.stream eq 1 · frames 25, 27\n"),
        "{text}"
    );
    assert!(
        text.contains("ClientHello without SNI (frame 25)"),
        "{text}"
    );
    assert!(text.contains(
        "\ncould not be read (2):\n  bad/empty.pcap: empty file, not a capture (at byte offset 0)\n  bad/fake.pcap: not a pcap or pcapng capture"
    ), "{text}");
    assert!(
        text.contains(&format!(
            "  bad/truncated.pcap: at byte offset {}: ",
            t.truncated_at
        )),
        "{text}"
    );
    assert!(
        text.contains("\nskipped (3):\n  notes/README.txt: not a capture"),
        "{text}"
    );
    // No progress bar or anything else on stderr when it is not a terminal.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The worst file's block comes before a file with fewer findings.
    let worst = |p: &str| text.find(&format!("\n  {p} · ")).expect(p);
    let doc = json_of(&run(
        &t,
        &[
            "scan", "--format", "json", "tickets", "rotated", "bad", "notes",
        ],
    ));
    let order = paths(&doc["summary"]["worst_files"]);
    let pos: Vec<usize> = order.iter().map(|p| worst(p)).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[test]
fn output_is_the_same_whatever_the_jobs() {
    let t = build_tree();
    for format in ["json", "human", "jsonl", "markdown"] {
        let one = run(&t, &["scan", "--format", format, "-j", "1", "."]);
        let four = run(&t, &["scan", "--format", format, "--jobs", "4", "."]);
        let again = run(&t, &["scan", "--format", format, "-j", "4", "."]);
        assert_eq!(one.stdout, four.stdout, "{format}: -j 1 vs -j 4");
        assert_eq!(four.stdout, again.stdout, "{format}: two runs");
        assert_eq!(one.status.code(), four.status.code());
    }
    // Operand order does not matter either.
    let a = run(&t, &["scan", "--format", "json", "tickets", "bad"]);
    let b = run(&t, &["scan", "--format", "json", "bad", "tickets", "bad"]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn jsonl_has_one_line_per_finding() {
    let t = build_tree();
    let out = run(&t, &["scan", "--format", "jsonl", "."]);
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let doc = json_of(&run(&t, &["scan", "--format", "json", "."]));
    // The same findings as the JSON document, in path order (worst first within a file).
    let mut want = Vec::new();
    for f in doc["files"].as_array().expect("files") {
        if let Some(e) = f.get("error") {
            want.push((
                "error".to_string(),
                f["path"].clone(),
                Value::Null,
                e.clone(),
                Value::Null,
            ));
        }
        let mut per_file = Vec::new();
        for c in f["connections"].as_array().expect("connections") {
            for x in c["findings"].as_array().expect("findings") {
                per_file.push((c["stream"].clone(), x.clone()));
            }
        }
        let rank = |x: &Value| match x["severity"].as_str() {
            Some("error") => 0,
            Some("warning") => 1,
            _ => 2,
        };
        per_file.sort_by_key(|(s, x)| (rank(x), s.as_u64(), x["frames"][0].as_u64()));
        for (stream, x) in per_file {
            want.push((
                "finding".to_string(),
                f["path"].clone(),
                stream,
                x["rule"].clone(),
                x["frames"].clone(),
            ));
        }
    }
    let got: Vec<_> = lines
        .iter()
        .map(|l| {
            let t = l["type"].as_str().expect("type").to_string();
            if t == "error" {
                (
                    t,
                    l["path"].clone(),
                    Value::Null,
                    l["error"].clone(),
                    Value::Null,
                )
            } else {
                (
                    t,
                    l["path"].clone(),
                    l["stream"].clone(),
                    l["rule"].clone(),
                    l["frames"].clone(),
                )
            }
        })
        .collect();
    assert_eq!(got, want);
    let sni = lines
        .iter()
        .find(|l| l["rule"] == "missing_sni")
        .expect("missing_sni line");
    assert_eq!(
        sni["path"],
        "./tickets/4711/missing-sni-handshake-failure.pcap"
    );
    assert_eq!(sni["stream"], 1);
    assert_eq!(sni["frames"], serde_json::json!([25, 27]));
    assert_eq!(sni["severity"], "error");
    assert_eq!(sni["filter"], "tcp.stream eq 1");
    assert_eq!(sni["sni"], Value::Null);
    for k in ["client", "server", "summary", "time", "evidence"] {
        assert!(sni.get(k).is_some(), "{k}");
    }
}

#[test]
fn shards_partition_the_files_and_merge_back() {
    let t = build_tree();
    let full = run(&t, &["scan", "--format", "json", "."]);
    let doc = json_of(&full);
    let mut all: BTreeSet<String> = paths(&doc["files"]).into_iter().collect();
    // Reports are written outside the scanned tree.
    let out_dir = tempfile::tempdir().expect("temp dir");
    all.extend(paths(&doc["skipped"]));
    for n in [1usize, 2, 3, 5] {
        let mut seen: Vec<String> = Vec::new();
        let mut reports = Vec::new();
        for k in 1..=n {
            let shard = format!("{k}/{n}");
            let out = run(&t, &["scan", "--format", "json", "--shard", &shard, "."]);
            let d = json_of(&out);
            assert_eq!(
                d["summary"]["shard"],
                serde_json::json!({"index": k, "count": n})
            );
            seen.extend(paths(&d["files"]));
            seen.extend(paths(&d["skipped"]));
            let name = out_dir.path().join(format!("shard-{k}-of-{n}.json"));
            std::fs::write(&name, &out.stdout).expect("write shard");
            reports.push(name.to_str().expect("utf-8 path").to_string());
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "{n}: a file is in two shards");
        assert_eq!(unique, all, "{n}: the shards do not cover the files");

        // Merging every shard gives the unsharded report, byte for byte (and exit status).
        let mut args = vec!["merge"];
        args.extend(reports.iter().rev().map(String::as_str));
        let merged = run(&t, &args);
        assert_eq!(merged.status.code(), full.status.code(), "{n}");
        assert_eq!(stdout(&merged), stdout(&full), "{n}");
        if n > 1 {
            // A missing shard is an error, and the merged summary says which.
            let out = run(&t, &["merge", &reports[0]]);
            assert_eq!(out.status.code(), Some(2));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(&format!("incomplete: shard 2/{n}")), "{err}");
            let missing: Vec<usize> = (2..=n).collect();
            assert_eq!(
                json_of(&out)["summary"]["missing_shards"],
                serde_json::json!(missing)
            );
            // A shard given twice is an error too.
            let out = run(&t, &["merge", &reports[0], &reports[0], &reports[1]]);
            assert_eq!(out.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&out.stderr).contains("more than once"));
        }
        for r in &reports {
            std::fs::remove_file(r).expect("rm");
        }
    }
    // The slices depend on the path below the operand, not on where the tree is mounted.
    let here = run(&t, &["scan", "--format", "jsonl", "--shard", "2/3", "."]);
    let abs = run(
        &t,
        &[
            "scan",
            "--format",
            "jsonl",
            "--shard",
            "2/3",
            t.root().to_str().expect("utf-8"),
        ],
    );
    let strip = |o: &Output, prefix: &str| -> Vec<String> {
        stdout(o)
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("line")["path"]
                    .as_str()
                    .expect("path")
                    .trim_start_matches(prefix)
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        strip(&here, "./"),
        strip(&abs, &format!("{}/", t.root().display()))
    );
    // Other human-readable formats merge too.
    let r = out_dir.path().join("r.json");
    let r = r.to_str().expect("utf-8 path");
    let out = run(&t, &["scan", "--format", "json", "-o", r, "."]);
    assert_eq!(out.status.code(), Some(2));
    let md = run(&t, &["merge", "--format", "markdown", r]);
    let direct = run(&t, &["scan", "--format", "markdown", "."]);
    assert_eq!(md.stdout, direct.stdout);
}

#[test]
fn merge_reports_bad_input_with_its_offset() {
    let t = build_tree();
    std::fs::write(t.root().join("bad.json"), "{\n  \"files\": [1,\n").expect("write");
    std::fs::write(t.root().join("other.json"), "{\"x\": 1}").expect("write");
    let out = run(&t, &["merge", "bad.json", "other.json", "nope.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json: not valid JSON"), "{err}");
    // EOF: the end of the 17-byte text.
    assert!(err.contains("(at byte offset 17)"), "{err}");
    assert!(
        err.contains("other.json: not a tlsdiag JSON report"),
        "{err}"
    );
    assert!(err.contains("nope.json: cannot read"), "{err}");
    // What could be merged is still written.
    assert_eq!(json_of(&out)["summary"]["files"], 0);
}

#[test]
fn stdin_is_read_by_analyze_and_scan() {
    let t = build_tree();
    let bytes = std::fs::read(fixture("missing-sni-handshake-failure.pcap")).expect("fixture");
    let by_name = json_of(&tlsdiag_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "analyze",
            "--format",
            "json",
            "fixtures/missing-sni-handshake-failure.pcap",
        ],
        None,
    ));
    let piped = tlsdiag_in(
        t.root(),
        &["analyze", "--format", "json", "-"],
        Some(&bytes),
    );
    assert!(piped.status.success());
    let mut piped = json_of(&piped);
    assert_eq!(piped["files"][0]["path"], "-");
    piped["files"][0]["path"] = by_name["files"][0]["path"].clone();
    assert_eq!(piped, by_name);

    // scan -, gzip-compressed on the way in.
    let out = tlsdiag_in(
        t.root(),
        &["scan", "--format", "jsonl", "-"],
        Some(&gzip(&bytes)),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a missing_sni error fails the scan"
    );
    let line: Value =
        serde_json::from_str(stdout(&out).lines().next().expect("a line")).expect("json");
    assert_eq!(
        (line["path"].as_str(), line["rule"].as_str()),
        (Some("-"), Some("missing_sni"))
    );
    let out = tlsdiag_in(
        t.root(),
        &["scan", "--format", "json", "-", "tickets/4712"],
        Some(&bytes),
    );
    let doc = json_of(&out);
    assert_eq!(
        paths(&doc["files"]),
        ["-", "tickets/4712/dumpcap-lo.pcapng"]
    );
    assert_eq!(doc["files"][0]["size"], Value::Null);

    // --shard cannot split a stream.
    let out = tlsdiag_in(t.root(), &["scan", "--shard", "1/2", "-"], Some(&bytes));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard cannot split standard input"));
}

#[test]
fn markdown_is_ticket_ready() {
    let t = build_tree();
    let out = run(&t, &["scan", "--format", "markdown", "tickets", "bad"]);
    assert_eq!(out.status.code(), Some(2));
    let md = stdout(&out);
    assert!(md.starts_with("## tlsdiag scan: "), "{md}");
    assert!(
        md.contains("| rule | severity | findings | files |"),
        "{md}"
    );
    assert!(md.contains("| `missing_sni` | error | 1 | 1 |"), "{md}");
    assert!(
        md.contains("\n### `tickets/4711/missing-sni-handshake-failure.pcap`\n"),
        "{md}"
    );
    assert!(md.contains("- **error** `missing_sni`: ClientHello without SNI rejected by the server · `127.0.0.1:"), "{md}");
    assert!(md.contains("  - Evidence (seen): frames 25, 27\n"), "{md}");
    assert!(md.contains(
        "  - Wireshark: `tcp.stream eq 1` · `wireshark -r tickets/4711/missing-sni-handshake-failure.pcap -Y 'tcp.stream eq 1'`\n"
    ), "{md}");
    assert!(md.contains("\n### How to fix\n"), "{md}");
    assert!(md.contains("`proxy_ssl_server_name on;`"), "{md}");
    assert!(md.contains("\n### Could not be read\n\n- `bad/empty.pcap`: empty file, not a capture (at byte offset 0)\n"), "{md}");
    assert!(
        md.contains(&format!(
            "- `bad/truncated.pcap`: at byte offset {}:",
            t.truncated_at
        )),
        "{md}"
    );
    // HTML in the rules' fixes is escaped, so a ticket shows it.
    assert!(!md.contains("<Location>"), "{md}");
}

#[test]
fn output_file_is_replaced_atomically() {
    let t = build_tree();
    let target = t.root().join("reports/scan.json");
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    std::fs::write(&target, "old report").expect("write");
    let out = run(
        &t,
        &[
            "scan",
            "--format",
            "json",
            "--output",
            "reports/scan.json",
            "tickets",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let direct = run(&t, &["scan", "--format", "json", "tickets"]);
    assert_eq!(std::fs::read(&target).expect("report"), direct.stdout);
    let names: Vec<String> = std::fs::read_dir(target.parent().expect("parent"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["scan.json"], "no temporary file left behind");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let out = run(
            &t,
            &["scan", "-o", "new.md", "--format", "markdown", "tickets"],
        );
        assert_eq!(out.status.code(), Some(1));
        let mode = std::fs::metadata(t.root().join("new.md"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    // A directory that does not exist: exit 2, the error names it.
    let out = run(&t, &["scan", "-o", "nowhere/scan.json", "tickets"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
}

#[test]
fn exit_status_follows_fail_on() {
    let t = build_tree();
    let code = |args: &[&str]| run(&t, args).status.code();
    // Healthy captures only.
    assert_eq!(code(&["scan", "rotated/trace0"]), Some(0));
    // A finding at error: 1; below the threshold or never: 0.
    assert_eq!(
        code(&["scan", "tickets/4711/missing-sni-handshake-failure.pcap"]),
        Some(1)
    );
    assert_eq!(code(&["scan", "--fail-on", "never", "tickets"]), Some(0));
    assert_eq!(
        code(&[
            "scan",
            "--rule",
            "missing_sni",
            "--fail-on",
            "error",
            "rotated",
            "tickets/4712"
        ]),
        Some(0)
    );
    // A file that cannot be read: 2, whatever the findings.
    assert_eq!(code(&["scan", "--fail-on", "never", "bad"]), Some(2));
    assert_eq!(code(&["scan", "does-not-exist"]), Some(2));
    // Usage errors: 2.
    assert_eq!(code(&["scan", "--shard", "0/3", "."]), Some(2));
    assert_eq!(code(&["scan", "--jobs", "0", "."]), Some(2));
    // Far more threads than MAX_JOBS do not abort the process (65,535 used to, when the system
    // ran out of threads; scripts pass `--jobs $(nproc)`): the library counts them as MAX_JOBS.
    let f = "tickets/4711/missing-sni-handshake-failure.pcap";
    assert_eq!(
        code(&["scan", "--fail-on", "never", "--jobs", "65535", "tickets"]),
        Some(0)
    );
    assert_eq!(code(&["analyze", "--jobs", "65535", f]), Some(0));
    assert_eq!(code(&["scan", "--fail-on", "fatal", "."]), Some(2));
    // analyze keeps exiting 0 with findings unless asked.
    assert_eq!(code(&["analyze", f]), Some(0));
    assert_eq!(code(&["analyze", "--fail-on", "error", f]), Some(1));
    assert_eq!(
        code(&["analyze", "--format", "jsonl", "--fail-on", "error", f]),
        Some(1)
    );
    assert_eq!(
        code(&[
            "analyze",
            "--fail-on",
            "error",
            "--min-severity",
            "error",
            "--rule",
            "tls_alert",
            f
        ]),
        Some(0)
    );
    assert_eq!(
        code(&["analyze", "--fail-on", "error", "bad/empty.pcap", f]),
        Some(2)
    );
}

fn conn_summary(doc: &Value) -> Vec<(u64, Vec<String>)> {
    doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .flat_map(|f| f["connections"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["stream"].as_u64().expect("stream"),
                c["findings"]
                    .as_array()
                    .expect("findings")
                    .iter()
                    .map(|x| x["rule"].as_str().expect("rule").to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn filters_are_shared_by_analyze_and_scan() {
    let t = build_tree();
    let f = "tickets/4711/missing-sni-handshake-failure.pcap";
    for cmd in ["analyze", "scan"] {
        let q = |extra: &[&str]| {
            let mut args = vec![cmd, "--format", "json"];
            args.extend_from_slice(extra);
            args.push(f);
            conn_summary(&json_of(&run(&t, &args)))
        };
        let everything = q(&[]);
        assert_eq!(everything.len(), 2, "{cmd}");
        // Stream 0 has SNI origin.example.test; stream 1 has none.
        assert_eq!(
            q(&["--sni", "ORIGIN.*"]),
            vec![everything[0].clone()],
            "{cmd}"
        );
        assert_eq!(q(&["--sni", "*.example.test"]).len(), 1, "{cmd}");
        assert_eq!(
            q(&["--sni", "other.*", "--sni", "*origin*"]).len(),
            1,
            "{cmd}"
        );
        assert!(q(&["--sni", "*.example.com"]).is_empty(), "{cmd}");
        assert_eq!(q(&["--host", "127.0.0.1"]).len(), 2, "{cmd}");
        assert_eq!(
            q(&["--host", "127.0.0.0/8", "--port", "8443"]).len(),
            2,
            "{cmd}"
        );
        assert!(q(&["--host", "10.0.0.0/8"]).is_empty(), "{cmd}");
        assert!(q(&["--port", "1"]).is_empty(), "{cmd}");
        // Finding filters keep the connections and drop the findings.
        let only = q(&["--rule", "tls_alert"]);
        assert_eq!(only.len(), 2, "{cmd}");
        assert!(
            only.iter().all(|(_, r)| r.iter().all(|x| x == "tls_alert")),
            "{cmd}"
        );
        let sni = q(&["--rule", "missing_sni"]);
        assert_eq!(sni[1], (1, vec!["missing_sni".to_string()]), "{cmd}");
        let errors = q(&["--min-severity", "error"]);
        assert!(errors[1].1.contains(&"missing_sni".to_string()), "{cmd}");
        // Unknown rule ids are usage errors that list the known ones.
        let out = run(&t, &[cmd, "--rule", "missing-sni", f]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("unknown rule `missing-sni`; known rules: missing_sni"),
            "{err}"
        );
        let out = run(&t, &[cmd, "--host", "example.test", f]);
        assert_eq!(out.status.code(), Some(2));
    }
    // In scan, --min-severity also drives the summary.
    let doc = json_of(&run(
        &t,
        &[
            "scan",
            "--format",
            "json",
            "--min-severity",
            "error",
            "tickets",
        ],
    ));
    assert_eq!(doc["summary"]["findings"]["warning"], 0);
    assert_eq!(doc["summary"]["findings"]["info"], 0);
}

#[test]
fn walk_depth_hidden_and_links() {
    let t = build_tree();
    let doc = |args: &[&str]| {
        let mut a = vec!["scan", "--format", "json"];
        a.extend_from_slice(args);
        json_of(&run(&t, &a))
    };
    // Depth 1: the files directly in the operand only.
    assert_eq!(
        paths(&doc(&["--max-depth", "1", "rotated"])["files"]),
        ["rotated/trace0", "rotated/trace1"]
    );
    assert!(paths(&doc(&["--max-depth", "1", "."])["files"]).is_empty());
    assert_eq!(doc(&["--max-depth", "2", "."])["summary"]["files"], 9);
    // Hidden directories only when asked; a hidden operand is always taken.
    assert!(
        !paths(&doc(&["."])["files"])
            .iter()
            .any(|p| p.contains(".hidden"))
    );
    assert!(
        paths(&doc(&["--hidden", "."])["files"]).contains(&"./.hidden/tls13-ok.pcap".to_string())
    );
    assert_eq!(
        paths(&doc(&[".hidden"])["files"]),
        [".hidden/tls13-ok.pcap"]
    );
    // Following links: the loop is detected and reported, not walked forever.
    let plain = doc(&["."]);
    let followed = doc(&["-L", "."]);
    assert_eq!(followed["files"], plain["files"]);
    let lp = followed["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .find(|k| k["path"] == "./notes/loop")
        .cloned()
        .expect("loop");
    assert_eq!(lp["reason"], "symbolic link loop: leads back to .");
    // From below, the link leads up to the whole tree: each file is analysed once, under the
    // path that does not go through the link when there is one.
    let below = doc(&["-L", "notes"]);
    let files = paths(&below["files"]);
    assert_eq!(files.len(), CAPTURES.len() + UNREADABLE.len(), "{files:?}");
    assert!(
        files.iter().all(|p| p.starts_with("notes/loop/")),
        "{files:?}"
    );
    let skipped = paths(&below["skipped"]);
    assert!(
        skipped.contains(&"notes/README.txt".to_string()),
        "{skipped:?}"
    );
    assert!(
        !skipped.contains(&"notes/loop/notes/README.txt".to_string()),
        "{skipped:?}"
    );
    #[cfg(unix)]
    {
        // A file reached twice (directly and through a link) is analysed once.
        std::os::unix::fs::symlink(
            "../tickets/4712/dumpcap-lo.pcapng",
            t.root().join("rotated/latest"),
        )
        .expect("symlink");
        let d = doc(&["-L", "rotated", "tickets/4712"]);
        assert_eq!(
            paths(&d["files"]),
            [
                "rotated/trace0",
                "rotated/trace1",
                "tickets/4712/dumpcap-lo.pcapng"
            ]
        );
        let d = doc(&["-L", "rotated"]);
        assert_eq!(
            paths(&d["files"]),
            ["rotated/latest", "rotated/trace0", "rotated/trace1"]
        );
        let d = doc(&["rotated"]);
        assert_eq!(paths(&d["files"]), ["rotated/trace0", "rotated/trace1"]);
        assert_eq!(paths(&d["skipped"]), ["rotated/latest"]);
    }
}

#[test]
fn unreadable_file_is_reported_and_the_scan_goes_on() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let t = build_tree();
        let p = t.root().join("tickets/4711/locked.pcap");
        std::fs::copy(fixture("tls12-ok.pcap"), &p).expect("copy");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        if std::fs::File::open(&p).is_ok() {
            eprintln!("running as root: permission denied cannot be tested here");
            return;
        }
        let out = run(&t, &["scan", "--format", "json", "tickets"]);
        assert_eq!(out.status.code(), Some(2));
        let doc = json_of(&out);
        let f = doc["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["path"] == "tickets/4711/locked.pcap")
            .cloned()
            .expect("locked file");
        let e = f["error"].as_str().expect("error");
        assert!(
            e.contains("cannot open") && e.contains("ermission denied"),
            "{e}"
        );
        assert_eq!(doc["summary"]["captures"], 3);
    }
}

#[test]
fn long_lists_are_capped_unless_all() {
    let t = build_tree();
    for i in 0..12 {
        std::fs::write(t.root().join(format!("notes/log{i:02}.txt")), "log line\n").expect("write");
    }
    let text = stdout(&run(&t, &["scan", "notes"]));
    assert!(text.contains("\nskipped (15):\n"), "{text}");
    assert_eq!(text.matches(": not a capture").count(), 10, "{text}");
    assert!(
        text.contains("  (+5 more: --all or --format json lists them)\n"),
        "{text}"
    );
    let all = stdout(&run(&t, &["scan", "--all", "notes"]));
    assert!(!all.contains("more: --all"), "{all}");
    let md = stdout(&run(&t, &["scan", "--format", "markdown", "notes"]));
    assert!(
        md.contains("- … 5 more (`--format json` lists them)"),
        "{md}"
    );
}

#[test]
fn merge_accepts_analyze_reports() {
    let t = build_tree();
    let a = run(
        &t,
        &[
            "analyze",
            "--format",
            "json",
            "rotated/trace1",
            "rotated/trace0",
        ],
    );
    std::fs::write(t.root().join("a.json"), &a.stdout).expect("write");
    let b = run(
        &t,
        &[
            "analyze",
            "--format",
            "json",
            "tickets/4712/dumpcap-lo.pcapng",
        ],
    );
    std::fs::write(t.root().join("b.json"), &b.stdout).expect("write");
    let merged = run(&t, &["merge", "--fail-on", "never", "b.json", "a.json"]);
    assert_eq!(merged.status.code(), Some(0));
    let doc = json_of(&merged);
    assert_eq!(
        paths(&doc["files"]),
        [
            "rotated/trace0",
            "rotated/trace1",
            "tickets/4712/dumpcap-lo.pcapng"
        ]
    );
    // The file objects pass through unchanged (analyze has no `size`).
    let a = json_of(&a);
    assert_eq!(doc["files"][0], a["files"][1]);
    assert_eq!(doc["summary"]["captures"], 3);
    assert_eq!(doc["summary"]["bytes"], 0);
}
