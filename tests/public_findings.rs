//! The whole catalogue over every capture in `../shared/captures/public/`, pinned: every
//! finding there is listed below (file, tcp.stream, rule, severity), reviewed by hand. An
//! unexpected finding — in particular on a healthy capture — or a missing one fails the test.
//! Most of these captures are healthy; what fires is real: SSLv3/TLS 1.0 and RC4 in old
//! captures, a missing-SNI handshake_failure, a draft TLS 1.3 protocol_version alert,
//! self-signed RDP/IRC certificates, session tickets a server ignores, captures that start
//! mid-stream or hold one direction, or lost segments that the peer acknowledged (Wireshark's
//! "ACKed unseen segment").
//!
//! When `../shared` is absent the test prints a notice and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tlsdiag::analyze::analyze_collect;

#[rustfmt::skip]
const PINNED: &[(&str, u64, &str, &str)] = &[
    ("arkime__tests_pcap_openssl-ssl3.pcap", 0, "deprecated_protocol", "error"),
    ("arkime__tests_pcap_openssl-ssl3.pcap", 0, "weak_cipher", "warning"),
    ("arkime__tests_pcap_openssl-tls1.pcap", 0, "deprecated_protocol", "warning"),
    ("arkime__tests_pcap_openssl-tls1.pcap", 0, "weak_cipher", "warning"),
    ("arkime__tests_pcap_openssl-tls1_1.pcap", 0, "deprecated_protocol", "warning"),
    ("arkime__tests_pcap_pppoe.pcap", 0, "deprecated_protocol", "error"),
    ("arkime__tests_pcap_pppoe.pcap", 0, "insecure_renegotiation", "warning"),
    ("arkime__tests_pcap_pppoe.pcap", 0, "weak_cipher", "warning"),
    ("illustrated-tls13__captures_capture.pcap", 0, "certificate_chain_incomplete", "warning"),
    ("illustrated-tls13__captures_capture.pcap", 0, "certificate_expired", "error"),
    ("ja4__pcap_badcurveball.pcap", 0, "client_rejected_certificate", "error"),
    ("ja4__pcap_tls-handshake.pcapng", 33, "capture_incomplete", "info"),
    ("ja4__pcap_tls-handshake.pcapng", 40, "capture_incomplete", "info"),
    ("ja4__pcap_tls-handshake.pcapng", 46, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_6in4tunnel.pcap", 2, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_6in4tunnel.pcap", 3, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_ja3_lots_of_cipher_suites.pcap", 0, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_ja3_lots_of_cipher_suites.pcap", 0, "client_rejected_certificate", "error"),
    ("nDPI__tests_cfgs_default_pcap_ja3_lots_of_cipher_suites_2_anon.pcap", 0, "certificate_name_mismatch", "error"),
    ("nDPI__tests_cfgs_default_pcap_ja3_lots_of_cipher_suites_2_anon.pcap", 0, "certificate_self_signed", "warning"),
    ("nDPI__tests_cfgs_default_pcap_ja3_lots_of_cipher_suites_2_anon.pcap", 0, "stale_connection_reuse", "error"),
    ("nDPI__tests_cfgs_default_pcap_rdp_over_tls.pcap", 0, "certificate_self_signed", "warning"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 1, "idle_timeout_close", "info"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 2, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 4, "idle_timeout_close", "info"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 5, "idle_timeout_close", "info"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 33, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 49, "certificate_chain_incomplete", "warning"),
    ("nDPI__tests_cfgs_default_pcap_sites.pcapng", 49, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tls-appdata.pcap", 0, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_tls-appdata.pcap", 1, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_tls-esni-fuzzed.pcap", 0, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_tls-esni-fuzzed.pcap", 1, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_tls-esni-fuzzed.pcap", 2, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 0, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 1, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 2, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 3, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 4, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 5, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 8, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 8, "handshake_timeout", "error"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 14, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_tunnelbear.pcap", 19, "resumption_rejected", "info"),
    ("nDPI__tests_cfgs_default_pcap_zoom.pcap", 0, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_zoom.pcap", 0, "handshake_timeout", "error"),
    ("nDPI__tests_cfgs_default_pcap_zoom.pcap", 1, "idle_timeout_close", "warning"),
    ("nDPI__tests_cfgs_default_pcap_zoom.pcap", 2, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_zoom.pcap", 5, "capture_incomplete", "info"),
    ("nDPI__tests_cfgs_default_pcap_zoom.pcap", 6, "capture_incomplete", "info"),
    ("scapy__doc_notebooks_tls_raw_data_tls_nss_example.pcap", 0, "certificate_chain_incomplete", "warning"),
    ("scapy__doc_notebooks_tls_raw_data_tls_nss_example.pcap", 1, "certificate_chain_incomplete", "warning"),
    ("suricata-verify__tests_linktype-228_flow-test-01.pcap", 0, "insecure_renegotiation", "warning"),
    ("suricata-verify__tests_sslv2-tls-upgrade-01_ssl-v2-s1.pcap", 0, "certificate_chain_incomplete", "warning"),
    ("suricata-verify__tests_sslv2-tls-upgrade-01_ssl-v2-s1.pcap", 0, "deprecated_protocol", "warning"),
    ("suricata-verify__tests_sslv2-tls-upgrade-01_ssl-v2-s1.pcap", 0, "insecure_renegotiation", "warning"),
    ("suricata-verify__tests_tls-duplicate-hello_input.pcap", 0, "tcp_rejected", "error"),
    ("zeek__testing_btest_Traces_socks-with-ssl.pcap", 0, "certificate_name_mismatch", "error"),
    ("zeek__testing_btest_Traces_socks-with-ssl.pcap", 0, "deprecated_protocol", "warning"),
    ("zeek__testing_btest_Traces_socks-with-ssl.pcap", 0, "weak_cipher", "warning"),
    ("zeek__testing_btest_Traces_tls_certificate-request-failed.pcap", 0, "tls_alert", "error"),
    ("zeek__testing_btest_Traces_tls_irc-starttls.pcap", 0, "certificate_self_signed", "warning"),
    ("zeek__testing_btest_Traces_tls_ssl-v2.pcap", 0, "deprecated_protocol", "error"),
    ("zeek__testing_btest_Traces_tls_tls-1.2-handshake-failure.pcap", 0, "missing_sni", "error"),
    ("zeek__testing_btest_Traces_tls_tls-early-alert.pcap", 0, "certificate_expired", "error"),
    ("zeek__testing_btest_Traces_tls_tls-early-alert.pcap", 0, "resumption_rejected", "info"),
    ("zeek__testing_btest_Traces_tls_tls-early-alert.pcap", 0, "unrecognized_name", "warning"),
    ("zeek__testing_btest_Traces_tls_tls13-ech.pcap", 0, "capture_incomplete", "info"),
    ("zeek__testing_btest_Traces_tls_tls13draft16-ff52.a01-aborted.pcap", 0, "protocol_version_mismatch", "error"),
    ("zeek__testing_btest_Traces_tls_tls13draft16-ff52.a01-aborted.pcap", 1, "protocol_version_mismatch", "error"),
    ("zeek__testing_btest_Traces_tunnels_gtp_gtp6_gtp_0x32.pcap", 0, "deprecated_protocol", "warning"),
    ("zeek__testing_btest_Traces_tunnels_gtp_gtp6_gtp_0x32.pcap", 0, "insecure_renegotiation", "warning"),
];

/// Every path in `../shared/captures/public/`, sorted; `None` (after a notice) when it is absent.
fn public_paths(test: &str) -> Option<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures/public");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("notice: ../shared/captures/public not found; {test} skipped");
        return None;
    };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    Some(paths)
}

#[test]
fn catalogue_on_public_captures_is_pinned() {
    let Some(paths) = public_paths("pinned-findings test") else {
        return;
    };
    let files: Vec<_> = paths
        .into_iter()
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz")
        })
        .collect();
    assert!(!files.is_empty());
    let mut got = BTreeSet::new();
    for f in &files {
        let r = analyze_collect(f);
        assert!(r.error.is_none(), "{}: {:?}", f.display(), r.error);
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        for c in &r.connections {
            for x in &c.findings {
                // Evidence: frames of this connection (its bounds are checked against tshark's
                // by tests/truth.rs), in order.
                assert!(
                    !x.frames.is_empty()
                        && x.frames.windows(2).all(|w| w[0] <= w[1])
                        && x.frames
                            .iter()
                            .all(|f| (c.first_frame..=c.last_frame).contains(f)),
                    "{name}: tcp.stream {}: {} cites frames {:?} outside {}..={}",
                    c.stream,
                    x.rule.as_str(),
                    x.frames,
                    c.first_frame,
                    c.last_frame
                );
                got.insert((
                    name.clone(),
                    c.stream,
                    x.rule.as_str().to_string(),
                    x.severity.as_str().to_string(),
                ));
            }
        }
    }
    let want: BTreeSet<(String, u64, String, String)> = PINNED
        .iter()
        .map(|(f, s, r, v)| (f.to_string(), *s, r.to_string(), v.to_string()))
        .collect();
    let unexpected: Vec<_> = got.difference(&want).collect();
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(
        unexpected.is_empty() && missing.is_empty(),
        "unexpected findings: {unexpected:#?}\nmissing findings: {missing:#?}"
    );
}

/// Bytes the peer acknowledged that the capture never showed are cited where Wireshark flags
/// them: `capture_incomplete` on a connection whose only loss is "ACKed segment that wasn't
/// captured" names that acknowledgement's frame (the truth files hold tshark's expert info).
#[test]
fn capture_incomplete_cites_the_acknowledgement_of_unseen_bytes() {
    let Some(paths) = public_paths("ACKed-unseen citation test") else {
        return;
    };
    let mut checked = 0;
    for truth_path in paths {
        let name = truth_path.to_string_lossy().to_string();
        let Some(capture) = name.strip_suffix(".truth.json") else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&truth_path) else {
            continue;
        };
        let truth: serde_json::Value = serde_json::from_str(&text).expect("truth parses");
        let report = analyze_collect(Path::new(capture));
        let streams = truth["tls_streams"].as_array().cloned().unwrap_or_default();
        for s in streams {
            let frames_of = |needle: &str| -> Vec<u64> {
                s["expert"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["message"].as_str().is_some_and(|m| m.contains(needle)))
                    .flat_map(|e| e["frames"].as_array().cloned().unwrap_or_default())
                    .filter_map(|f| f.as_u64())
                    .collect()
            };
            let acked_unseen = frames_of("ACKed segment that wasn't captured");
            if acked_unseen.is_empty() || !frames_of("Previous segment").is_empty() {
                continue;
            }
            let Some(stream) = s["tcp_stream"].as_u64() else {
                continue;
            };
            let Some(conn) = report.connections.iter().find(|c| c.stream == stream) else {
                continue;
            };
            for f in &conn.findings {
                if f.rule.as_str() == "capture_incomplete" {
                    assert!(
                        f.frames.iter().all(|n| acked_unseen.contains(n)),
                        "{capture}: tcp.stream {stream}: capture_incomplete cites {:?}, tshark flags {acked_unseen:?}",
                        f.frames
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 5, "only {checked} connections checked");
}
