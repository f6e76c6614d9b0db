//! End-to-end tests for the HTTP/WebSocket rules on real captures made by
//! `fixtures/http/make-http-fixtures.sh` (see fixtures/http/README.md).

mod common;

use common::{json, summaries};

// httpsys_no_site: HTTP.sys's own 404 and 503 (one connection each); a real IIS site's 404
// stays silent.
rule_test!(
    httpsys_no_site_404_and_503,
    "fixtures/http/httpsys-no-site.pcap",
    [
        (0, "httpsys_no_site", "error", [4, 6], "seen"),
        (1, "httpsys_no_site", "error", [12, 14], "seen"),
    ]
);
rule_test!(iis_site_404_is_silent, "fixtures/http/iis-404-ok.pcap", []);

// websocket_no_frames_after_upgrade: a proxy (X-Powered-By: ARR/3.0) relays the upgrade with
// permessage-deflate and drops every frame; both legs are in the capture. A healthy
// WebSocket with frames both ways stays silent.
rule_test!(
    websocket_deflate_dropped_by_proxy,
    "fixtures/http/websocket-deflate-dropped.pcap",
    [
        (
            0,
            "websocket_no_frames_after_upgrade",
            "error",
            [4, 13, 15, 19, 21],
            "seen"
        ),
        (
            1,
            "websocket_no_frames_after_upgrade",
            "error",
            [9, 11, 16, 24],
            "seen"
        ),
    ]
);
rule_test!(
    healthy_websocket_is_silent,
    "fixtures/http/websocket-ok.pcap",
    []
);

// websocket_accept_mismatch: the proxy rewrites Sec-WebSocket-Accept.
rule_test!(
    websocket_accept_rewritten,
    "fixtures/http/websocket-accept-mismatch.pcap",
    [
        (0, "websocket_accept_mismatch", "error", [4, 13], "seen"),
        (
            1,
            "websocket_no_frames_after_upgrade",
            "error",
            [9, 11, 15, 20],
            "seen"
        ),
    ]
);

// proxy_error_status: nginx 502 explained by the upstream leg's missing SNI (both legs in one
// capture); 504 explained by the upstream read timeout; the same proxy with SNI is silent.
rule_test!(
    proxy_502_explained_by_missing_sni,
    "fixtures/http/proxy-502-missing-sni.pcap",
    [
        (0, "proxy_error_status", "error", [4, 17], "inferred"),
        (1, "missing_sni", "error", [9, 11], "seen"),
    ]
);
rule_test!(
    proxy_504_explained_by_upstream_timeout,
    "fixtures/http/proxy-504-timeout.pcap",
    [
        (0, "proxy_error_status", "error", [4, 12], "inferred"),
        (1, "idle_timeout_close", "info", [11], "seen"),
    ]
);
rule_test!(
    proxy_with_sni_is_silent,
    "fixtures/http/proxy-502-ok.pcap",
    []
);
rule_test!(
    keepalive_and_pipelining_are_silent,
    "fixtures/http/http-keepalive-pipelined.pcap",
    []
);

#[test]
fn proxy_summary_names_the_upstream_cause() {
    let s = summaries("fixtures/http/proxy-502-missing-sni.pcap").join("\n");
    assert!(
        s.contains(
            "answered 502 Bad Gateway (frame 17) to GET / (Host origin.example.test, frame 4)"
        ),
        "{s}"
    );
    assert!(s.contains("upstream connection tcp.stream eq 1"), "{s}");
    assert!(s.contains("missing_sni at frame 9"), "{s}");
}

#[test]
fn websocket_summary_names_deflate_and_the_proxy() {
    let s = summaries("fixtures/http/websocket-deflate-dropped.pcap").join("\n");
    assert!(s.contains("permessage-deflate was negotiated and a proxy relayed the upgrade (X-Powered-By: ARR/3.0)"), "{s}");
    assert!(s.contains("compressed: RSV1 set"), "{s}");
}

#[test]
fn http_exchanges_in_json() {
    let doc = json("fixtures/http/http-keepalive-pipelined.pcap");
    let conns = doc["files"][0]["connections"]
        .as_array()
        .expect("connections");
    for c in conns {
        let http = c["http"].as_array().expect("http");
        assert_eq!(http.len(), 3, "{c}");
        for x in http {
            assert!(x["request"]["method"].is_string(), "{x}");
            assert!(x["response"]["status"].is_u64(), "{x}");
            assert!(x["duration"].is_f64(), "{x}");
        }
    }
    let statuses: Vec<u64> = conns
        .iter()
        .flat_map(|c| c["http"].as_array().cloned().unwrap_or_default())
        .filter_map(|x| x["response"]["status"].as_u64())
        .collect();
    assert!(statuses.contains(&404), "{statuses:?}");

    let doc = json("fixtures/http/websocket-ok.pcap");
    let ws = &doc["files"][0]["connections"][0]["websocket"];
    assert!(ws["frames_c2s"].as_u64().unwrap_or(0) > 0, "{ws}");
    assert!(ws["frames_s2c"].as_u64().unwrap_or(0) > 0, "{ws}");
    assert!(
        ws["closes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x["code"] == 1000)),
        "{ws}"
    );
}

// host_sni_mismatch on a TLS 1.3 session decrypted with the key log beside the capture
// (fixtures/decrypt/make-decrypt-fixtures.sh): curl sends SNI origin.example.test and
// `Host: www.example.test`; the server answers 421. The same request with a matching Host is
// silent for it. (The test certificate is self-signed, which the decrypted Certificate shows.)
rule_test!(
    host_sni_mismatch_decrypted,
    "fixtures/decrypt/host-sni-mismatch.pcap",
    [
        (0, "certificate_self_signed", "warning", [6], "seen"),
        (0, "host_sni_mismatch", "warning", [4, 10], "seen"),
    ]
);
rule_test!(
    host_matching_sni_is_silent,
    "fixtures/decrypt/host-sni-match.pcap",
    [(0, "certificate_self_signed", "warning", [6], "seen")]
);

#[test]
fn decrypted_session_shows_http_inside_tls() {
    let doc = json("fixtures/decrypt/host-sni-mismatch.pcap");
    let c = &doc["files"][0]["connections"][0];
    assert_eq!(c["tls_version"], "TLS 1.3");
    assert_eq!(c["http"][0]["request"]["host"], "www.example.test");
    assert_eq!(c["http"][0]["response"]["status"], 421);
    // Without the key log nothing inside is readable.
    let dir = std::env::temp_dir().join(format!("tlsdiag-nokeys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let copy = dir.join("copy.pcap");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/decrypt/host-sni-mismatch.pcap"),
        &copy,
    )
    .expect("copy");
    let doc = json(copy.to_str().expect("path"));
    let c = &doc["files"][0]["connections"][0];
    assert_eq!(c["http"].as_array().map(Vec::len), Some(0));
    assert!(c["findings"].as_array().is_some_and(Vec::is_empty), "{c}");
}

// plaintext_to_tls_port: curl http:// to nginx `listen 8443 ssl` (400); the https:// request to
// the same nginx is silent for it (fixtures/plaintext/make-plaintext-fixtures.sh).
rule_test!(
    plain_http_to_tls_port,
    "fixtures/plaintext/http-to-tls-port.pcap",
    [(0, "plaintext_to_tls_port", "error", [4, 6], "seen")]
);
rule_test!(
    https_to_tls_port_is_silent_for_it,
    "fixtures/plaintext/https-to-tls-port.pcap",
    [(0, "certificate_self_signed", "warning", [6], "seen")]
);
