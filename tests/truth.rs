//! Parser agreement with Wireshark: every capture in `../shared/captures/public/` is analysed
//! and compared with the `*.truth.json` tshark wrote beside it — packet count, `tcp.stream`
//! indices and endpoints, ClientHello/ServerHello frames, SNI, negotiated version, plaintext and
//! encrypted alerts, FIN and RST frames. Any disagreement fails, unless it is listed in
//! [`KNOWN_DIFFERENCES`] with the reason Wireshark is the one that is wrong.
//!
//! When `../shared` is absent (a clone elsewhere) the test prints a notice and passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tlsdiag::analyze::analyze_timelines;
use tlsdiag::timeline::{AlertEvidence, Dir, EventKind, Timeline};

/// (file, check) pairs where tlsdiag and tshark disagree and tshark is wrong, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "nDPI__tests_cfgs_default_pcap_tls_heur__trojan-tcp-tls.pcapng",
    "stream 3",
    "Wireshark's SOCKS dissector opens a TCP conversation for the SOCKS CONNECT target and so \
     spends tcp.stream index 2 on a conversation that no frame of the capture belongs to \
     (`tshark -T fields -e tcp.stream` prints 0, 1, 3); tlsdiag numbers only conversations \
     that have TCP packets, so its stream 2 is Wireshark's 3",
)];

fn public_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/public");
    p.is_dir().then_some(p)
}

/// truth.py hands tshark `X.keylog` for `X.pcap` (and `X.pcap.keylog` for `X.pcap.gz`).
fn has_keylog(capture: &Path) -> bool {
    let name = capture.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let stem = Path::new(base)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(base);
    capture.with_file_name(format!("{stem}.keylog")).exists()
        || capture.with_file_name(format!("{name}.keylog")).exists()
}

fn dir_str(d: Dir) -> &'static str {
    d.as_str()
}

fn hex(v: u16) -> String {
    format!("0x{v:04x}")
}

/// Compares one capture; returns (check, message) disagreements.
fn compare(capture: &Path, truth: &Value) -> Vec<(String, String)> {
    let mut diffs: Vec<(String, String)> = Vec::new();
    let mut timelines: BTreeMap<u64, Timeline> = BTreeMap::new();
    let report = match analyze_timelines(capture, &mut |t, _| {
        timelines.insert(t.stream, t.clone());
    }) {
        Ok(r) => r,
        Err(e) => return vec![("read".into(), e.to_string())],
    };
    if Some(report.packets) != truth["packet_count"].as_u64() {
        diffs.push((
            "packets".into(),
            format!(
                "tlsdiag {} vs tshark {}",
                report.packets, truth["packet_count"]
            ),
        ));
    }
    // Where Wireshark stopped on a damaged record header ("File has N-byte packet, bigger
    // than maximum of M"), tlsdiag stops there too and names the same two figures.
    let stderr = truth["tshark"]["stderr"].as_str().unwrap_or("");
    if !stderr.contains("File has ")
        && let Some(w) = report
            .warnings
            .iter()
            .find(|w| w.contains("damaged record header"))
    {
        diffs.push((
            "damaged record".into(),
            format!("tlsdiag: {w}; tshark read on"),
        ));
    }
    if let Some(rest) = stderr.split("File has ").nth(1)
        && let Some((caplen, rest)) = rest.split_once("-byte packet, bigger than maximum of ")
    {
        let max: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let ours = format!("claims {caplen} captured bytes, more than the maximum of {max}");
        if !report.warnings.iter().any(|w| w.contains(&ours)) {
            diffs.push((
                "damaged record".into(),
                format!(
                    "tshark: {caplen}-byte packet over {max}; tlsdiag: {:?}",
                    report.warnings
                ),
            ));
        }
    }
    let empty = Vec::new();
    for s in truth["tls_streams"].as_array().unwrap_or(&empty) {
        let stream = s["tcp_stream"].as_u64().unwrap_or(u64::MAX);
        let Some(t) = timelines.get(&stream) else {
            diffs.push((
                format!("stream {stream}"),
                "no such tcp.stream in tlsdiag".into(),
            ));
            continue;
        };
        let mut check = |what: &str, ours: String, theirs: String| {
            if ours != theirs {
                diffs.push((
                    format!("stream {stream} {what}"),
                    format!("tlsdiag {ours} vs tshark {theirs}"),
                ));
            }
        };
        check(
            "client",
            t.client.to_string(),
            s["client"].as_str().unwrap_or("").to_string(),
        );
        check(
            "server",
            t.server.to_string(),
            s["server"].as_str().unwrap_or("").to_string(),
        );
        let frames_of = |v: &Value| -> Vec<u64> {
            v.as_array()
                .map(|a| a.iter().filter_map(|x| x["frame"].as_u64()).collect())
                .unwrap_or_default()
        };
        let ours_ch: Vec<u64> = t
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ClientHello(_)))
            .map(|e| e.frame)
            .collect();
        check(
            "client_hello frames",
            format!("{ours_ch:?}"),
            format!("{:?}", frames_of(&s["client_hellos"])),
        );
        let ours_sh: Vec<u64> = t
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ServerHello(_)))
            .map(|e| e.frame)
            .collect();
        check(
            "server_hello frames",
            format!("{ours_sh:?}"),
            format!("{:?}", frames_of(&s["server_hellos"])),
        );
        let their_sni: Option<String> = s["sni"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|v| v.as_str())
            .map(str::to_string);
        check("sni", format!("{:?}", t.sni()), format!("{their_sni:?}"));
        let ours_ver = t.version().map(|v| hex(v.0));
        let their_ver = s["negotiated_version"].as_str().map(str::to_string);
        check(
            "negotiated_version",
            format!("{ours_ver:?}"),
            format!("{their_ver:?}"),
        );

        // Alerts: plaintext ones exactly; encrypted ones tshark sees must be ours too.
        let mut their_plain = BTreeSet::new();
        let mut their_enc = BTreeSet::new();
        for a in s["alerts"].as_array().unwrap_or(&empty) {
            let frame = a["frame"].as_u64().unwrap_or(0);
            let dir = a["direction"].as_str().unwrap_or("").to_string();
            // An alert tshark decrypted with a keylog is still encrypted on the wire.
            if a["encrypted"].as_bool() == Some(true)
                || a["visible_without_keys"].as_bool() == Some(false)
            {
                their_enc.insert((frame, dir));
            } else {
                their_plain.insert((frame, dir, a["description_code"].as_u64().unwrap_or(999)));
            }
        }
        let mut our_plain = BTreeSet::new();
        let mut our_enc_seen = BTreeSet::new();
        let mut our_enc_any = BTreeSet::new();
        for e in &t.events {
            match e.kind {
                EventKind::Alert { description, .. } => {
                    our_plain.insert((e.frame, dir_str(e.dir).to_string(), u64::from(description)));
                }
                EventKind::EncryptedAlert { evidence, .. } => {
                    our_enc_any.insert((e.frame, dir_str(e.dir).to_string()));
                    if evidence == AlertEvidence::ContentType {
                        our_enc_seen.insert((e.frame, dir_str(e.dir).to_string()));
                    }
                }
                _ => {}
            }
        }
        if has_keylog(capture) {
            // tshark decrypted these with the keylog beside the capture (truth.py passes it);
            // on the wire they are encrypted alerts, which is what tlsdiag must report.
            let decrypted: Vec<_> = their_plain
                .iter()
                .filter(|(f, d, _)| our_enc_seen.contains(&(*f, d.clone())))
                .cloned()
                .collect();
            for (f, d, _) in decrypted {
                their_plain.retain(|(f2, d2, _)| !(*f2 == f && *d2 == d));
                their_enc.insert((f, d));
            }
            // And the other way round: alerts tlsdiag decrypted (their AEAD tags verified)
            // where tshark, given the same key log, did not.
            let ours_only: Vec<_> = our_plain
                .iter()
                .filter(|(f, d, _)| their_enc.contains(&(*f, d.clone())))
                .cloned()
                .collect();
            for (f, d, _) in ours_only {
                our_plain.retain(|(f2, d2, _)| !(*f2 == f && *d2 == d));
                our_enc_any.insert((f, d));
            }
        }
        check(
            "plaintext alerts",
            format!("{our_plain:?}"),
            format!("{their_plain:?}"),
        );
        let missing_enc: Vec<_> = their_enc.difference(&our_enc_any).collect();
        let extra_enc: Vec<_> = our_enc_seen.difference(&their_enc).collect();
        check(
            "encrypted alerts",
            format!("missing {missing_enc:?} extra {extra_enc:?}"),
            "missing [] extra []".into(),
        );

        // FIN: the first per direction; RST: every one.
        let mut their_fin: BTreeMap<String, u64> = BTreeMap::new();
        for f in s["fin"].as_array().unwrap_or(&empty) {
            let dir = f["direction"].as_str().unwrap_or("").to_string();
            let frame = f["frame"].as_u64().unwrap_or(0);
            their_fin
                .entry(dir)
                .and_modify(|x| *x = (*x).min(frame))
                .or_insert(frame);
        }
        let our_fin: BTreeMap<String, u64> = t
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Fin))
            .map(|e| (dir_str(e.dir).to_string(), e.frame))
            .collect();
        check("fin", format!("{our_fin:?}"), format!("{their_fin:?}"));
        let their_rst: BTreeSet<(u64, String)> = s["rst"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|r| {
                (
                    r["frame"].as_u64().unwrap_or(0),
                    r["direction"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let our_rst: BTreeSet<(u64, String)> = t
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Rst))
            .map(|e| (e.frame, dir_str(e.dir).to_string()))
            .collect();
        check("rst", format!("{our_rst:?}"), format!("{their_rst:?}"));
    }
    diffs
}

/// Captures with a truth file in `dir`.
fn with_truth(dir: &Path) -> Vec<PathBuf> {
    let mut captures: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read captures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz"))
                && p.with_file_name(format!("{n}.truth.json")).exists()
        })
        .collect();
    captures.sort();
    captures
}

#[test]
fn agrees_with_wireshark_on_public_captures() {
    let Some(dir) = public_dir() else {
        eprintln!("notice: ../shared/captures/public not found; Wireshark agreement test skipped");
        return;
    };
    let captures = with_truth(&dir);
    assert!(
        !captures.is_empty(),
        "no captures with truth files in {}",
        dir.display()
    );
    check_all(&captures, KNOWN_DIFFERENCES);
}

/// Our own fixtures (real loopback captures and their link-type/container variants) carry
/// truth files written by the same tool.
#[test]
fn agrees_with_wireshark_on_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut captures = with_truth(&root);
    for sub in ["link", "catalogue", "http", "decrypt", "plaintext"] {
        captures.extend(with_truth(&root.join(sub)));
    }
    assert!(
        captures.len() >= 10,
        "fixtures with truth files: {}",
        captures.len()
    );
    check_all(&captures, &[]);
}

fn check_all(captures: &[PathBuf], known: &[(&str, &str, &str)]) {
    let mut unexpected = Vec::new();
    let mut used = BTreeSet::new();
    let mut agree = 0usize;
    for cap in captures {
        let name = cap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let truth_path = cap.with_file_name(format!("{name}.truth.json"));
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(&truth_path).expect("read truth"))
                .expect("parse truth");
        let mut ok = true;
        for (what, msg) in compare(cap, &truth) {
            if let Some(k) = known
                .iter()
                .find(|(f, w, _)| *f == name && what.starts_with(w))
            {
                used.insert((k.0, k.1));
                continue;
            }
            ok = false;
            unexpected.push(format!("{name}: {what}: {msg}"));
        }
        if ok {
            agree += 1;
        }
    }
    eprintln!("Wireshark agreement: {agree}/{} captures", captures.len());
    let stale: Vec<_> = known
        .iter()
        .filter(|(f, w, _)| !used.contains(&(*f, *w)))
        .collect();
    assert!(
        stale.is_empty(),
        "known differences no longer seen (remove them): {stale:?}"
    );
    assert!(
        unexpected.is_empty(),
        "{} disagreements with tshark:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
