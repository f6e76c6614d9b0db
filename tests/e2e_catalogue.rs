//! End-to-end tests for the diagnosis catalogue on real captures made by
//! `fixtures/catalogue/make-catalogue.sh` (see fixtures/catalogue/README.md): for each rule a
//! positive capture and, where one exists, a negative one that must stay silent for it.

mod common;

// server with ALPN h2 only, client offers "foo": no_application_protocol
rule_test!(
    alpn_mismatch,
    "fixtures/catalogue/alpn-mismatch.pcap",
    [(0, "alpn_mismatch", "error", [4, 6], "seen")]
);
// tcpdump started after the handshake
rule_test!(
    capture_midstream,
    "fixtures/catalogue/capture-midstream.pcap",
    [(0, "capture_incomplete", "info", [1], "seen")]
);
// leaf issued by an intermediate that the server does not send
rule_test!(
    cert_chain_incomplete,
    "fixtures/catalogue/cert-chain-incomplete.pcap",
    [(0, "certificate_chain_incomplete", "warning", [6], "seen")]
);
// leaf expired before the capture
rule_test!(
    cert_expired,
    "fixtures/catalogue/cert-expired.pcap",
    [(0, "certificate_expired", "error", [6], "seen")]
);
// SNI origin.example.test, certificate for other.example.test
rule_test!(
    cert_name_mismatch,
    "fixtures/catalogue/cert-name-mismatch.pcap",
    [(0, "certificate_name_mismatch", "error", [6], "seen")]
);
// leaf valid only after the capture
rule_test!(
    cert_not_yet_valid,
    "fixtures/catalogue/cert-not-yet-valid.pcap",
    [(0, "certificate_not_yet_valid", "error", [6], "seen")]
);
// self-signed leaf
rule_test!(
    cert_self_signed,
    "fixtures/catalogue/cert-self-signed.pcap",
    [(0, "certificate_self_signed", "warning", [6], "seen")]
);
// negative: *.example.test covers the SNI
rule_test!(
    cert_wildcard_ok,
    "fixtures/catalogue/cert-wildcard-ok.pcap",
    []
);
// client closes right after the Certificate, no alert
rule_test!(
    client_closes_after_cert,
    "fixtures/catalogue/client-closes-after-cert.pcap",
    [(
        0,
        "client_rejected_certificate",
        "error",
        [6, 8],
        "inferred"
    )]
);
// TLS 1.3: the client resets 0.2 s after the server's encrypted flight, no alert, no Finished
rule_test!(
    client_aborts_handshake_tls13,
    "fixtures/catalogue/client-aborts-handshake-tls13.pcap",
    [(
        0,
        "client_aborted_handshake",
        "error",
        [6, 7, 10],
        "inferred"
    )]
);
// TLS 1.2 client: unknown_ca
rule_test!(
    client_rejects_cert_tls12,
    "fixtures/catalogue/client-rejects-cert-tls12.pcap",
    [(0, "client_rejected_certificate", "error", [6, 8], "seen")]
);
// the same exchange captured with `tcpdump -i any` across a bridge: every packet twice
rule_test!(
    captured_twice_unknown_ca,
    "fixtures/catalogue/captured-twice-unknown-ca.pcap",
    [(0, "client_rejected_certificate", "error", [11, 15], "seen")]
);

/// Every packet twice, 2-23 us apart (the bridge's ingress and egress ports): the copies of the
/// seven segments with data, SYN or FIN (frames 2, 4, 8, 12, 16, 18, 20) are counted as packets
/// and named in a warning; none is a retransmission, and the connection reads as captured once.
#[test]
fn copies_are_named_not_analysed() {
    let doc = common::json("fixtures/catalogue/captured-twice-unknown-ca.pcap");
    let file = &doc["files"][0];
    assert_eq!(
        file["warnings"],
        serde_json::json!([
            "7 segments with data, SYN or FIN were copies of one captured just before (the same packet captured twice: tcpdump -i any, a mirror port, merged captures); counted as packets, not analysed again"
        ])
    );
    let twice = &file["connections"][0];
    let once = &common::json("fixtures/catalogue/client-rejects-cert-tls12.pcap")["files"][0]["connections"]
        [0];
    for dir in ["c2s", "s2c"] {
        assert_eq!(twice[dir]["retransmissions"], 0, "{dir}");
        assert_eq!(
            twice[dir]["packets"].as_u64().map(|n| n / 2),
            once[dir]["packets"].as_u64(),
            "{dir}"
        );
    }
    for key in ["outcome", "tls_version", "cipher", "transcript"] {
        assert_eq!(twice[key], once[key], "{key}");
    }
}

// TLS 1.3 OpenSSL client: plaintext unknown_ca before its Finished
rule_test!(
    client_rejects_cert_tls13_plain,
    "fixtures/catalogue/client-rejects-cert-tls13-plain.pcap",
    [(0, "client_rejected_certificate", "error", [6, 10], "seen")]
);
// TLS 1.3 GnuTLS client: one 19-byte encrypted record instead of Finished (inferred)
rule_test!(
    client_rejects_cert_tls13,
    "fixtures/catalogue/client-rejects-cert-tls13.pcap",
    [(
        0,
        "client_rejected_certificate",
        "error",
        [6, 11],
        "inferred"
    )]
);
// client RST on an established connection
rule_test!(
    client_reset_midstream,
    "fixtures/catalogue/client-reset-midstream.pcap",
    [(0, "client_reset_midstream", "warning", [13, 16], "seen")]
);
// TLS 1.0 negotiated
rule_test!(
    deprecated_tls10,
    "fixtures/catalogue/deprecated-tls10.pcap",
    [(0, "deprecated_protocol", "warning", [6], "seen")]
);
// server's flight dropped (iptables), retransmitted, never ACKed
rule_test!(
    handshake_stall_retransmits,
    "fixtures/catalogue/handshake-stall-retransmits.pcap",
    [(
        0,
        "handshake_stall_retransmits",
        "error",
        [6, 7, 8, 9, 10, 11, 12],
        "seen"
    )]
);
// server never answers, ClientHello retransmitted, client RST after 30 s
rule_test!(
    handshake_timeout_retransmits,
    "fixtures/catalogue/handshake-timeout-retransmits.pcap",
    [(
        0,
        "handshake_timeout",
        "error",
        [4, 5, 6, 7, 8, 9, 10, 11, 12],
        "seen"
    )]
);
// server never answers, client FIN after 30 s
rule_test!(
    handshake_timeout,
    "fixtures/catalogue/handshake-timeout.pcap",
    [(0, "handshake_timeout", "error", [4, 6], "seen")]
);
// HelloRetryRequest, then the client gives up
rule_test!(
    hrr_failed,
    "fixtures/catalogue/hrr-failed.pcap",
    [(0, "hello_retry_failed", "error", [6, 9], "seen")]
);
// negative: HelloRetryRequest then a successful second ClientHello
rule_test!(hrr_ok, "fixtures/catalogue/hrr-ok.pcap", []);
// a 400 KiB download in 101 records of 4 KiB (nginx ssl_buffer_size 4k) over 301 segments
rule_test!(bulk_download, "fixtures/catalogue/bulk-download.pcap", []);
// neither side offers RFC 5746 renegotiation_info
rule_test!(
    insecure_reneg_no_ri,
    "fixtures/catalogue/insecure-reneg-no-ri.pcap",
    [(0, "insecure_renegotiation", "warning", [4, 6], "seen")]
);
// a default client succeeds, an AES128-SHA-only client is refused
rule_test!(
    no_shared_cipher,
    "fixtures/catalogue/no-shared-cipher.pcap",
    [(1, "no_shared_cipher", "error", [19, 21], "seen")]
);
// TLS 1.3-only client, TLS 1.2-only server
rule_test!(
    proto_version_mismatch_13_vs_12,
    "fixtures/catalogue/proto-version-mismatch-13-vs-12.pcap",
    [(0, "protocol_version_mismatch", "error", [4, 6], "seen")]
);
// TLS 1.0 client, TLS 1.2+ server
rule_test!(
    proto_version_mismatch,
    "fixtures/catalogue/proto-version-mismatch.pcap",
    [(0, "protocol_version_mismatch", "error", [4, 6], "seen")]
);
// HelloRequest answered by an encrypted no_renegotiation warning (inferred)
rule_test!(
    renegotiation_refused,
    "fixtures/catalogue/renegotiation-refused.pcap",
    [(
        0,
        "renegotiation_refused",
        "warning",
        [14, 16, 17],
        "inferred"
    )]
);
// the server process resets after the ClientHello (same TTL as its SYN/ACK)
rule_test!(
    reset_after_ch,
    "fixtures/catalogue/reset-after-ch.pcap",
    [(0, "reset_after_clienthello", "error", [4, 6], "seen")]
);
// iptables REJECT --reject-with tcp-reset: TTL differs from the SYN/ACK (inferred injection)
rule_test!(
    reset_injected,
    "fixtures/catalogue/reset-injected.pcap",
    [(0, "reset_after_clienthello", "error", [4, 5], "inferred")]
);
// negative: PSK accepted
rule_test!(
    resumption_ok_tls13,
    "fixtures/catalogue/resumption-ok-tls13.pcap",
    []
);
// negative: session resumed
rule_test!(resumption_ok, "fixtures/catalogue/resumption-ok.pcap", []);
// PSK offered, full handshake
rule_test!(
    resumption_rejected_tls13,
    "fixtures/catalogue/resumption-rejected-tls13.pcap",
    [(1, "resumption_rejected", "info", [29, 31], "seen")]
);
// ticket offered, full handshake
rule_test!(
    resumption_rejected,
    "fixtures/catalogue/resumption-rejected.pcap",
    [(1, "resumption_rejected", "info", [25, 27], "seen")]
);
// server RST in the middle of the response
rule_test!(
    server_reset_midstream,
    "fixtures/catalogue/server-reset-midstream.pcap",
    [(0, "server_reset_midstream", "error", [13, 19], "seen")]
);
// 240 s idle, then retransmissions only and a client RST
rule_test!(
    silent_idle_drop,
    "fixtures/catalogue/silent-idle-drop.pcap",
    [(
        0,
        "silent_idle_drop",
        "error",
        [16, 17, 18, 19, 20, 21, 22],
        "inferred"
    )]
);
// small ClientHello succeeds; a 1.7 KB two-segment one is never answered
rule_test!(
    split_ch_unanswered,
    "fixtures/catalogue/split-ch-unanswered.pcap",
    [(
        1,
        "split_clienthello_unanswered",
        "error",
        [23, 25, 26, 27, 28, 29],
        "seen"
    )]
);
// server closes the keep-alive connection, the client sends later and gets RST
rule_test!(
    stale_connection_reuse,
    "fixtures/catalogue/stale-connection-reuse.pcap",
    [
        (0, "stale_connection_reuse", "error", [13, 17, 18], "seen"),
        (0, "idle_timeout_close", "warning", [13, 15, 17, 18], "seen")
    ]
);
// SYN dropped, retransmitted
rule_test!(
    tcp_no_answer,
    "fixtures/catalogue/tcp-no-answer.pcap",
    [(0, "tcp_no_answer", "error", [1, 2, 3, 4, 5, 6, 7], "seen")]
);
// SYN answered by RST
rule_test!(
    tcp_rejected,
    "fixtures/catalogue/tcp-rejected.pcap",
    [(0, "tcp_rejected", "error", [1, 2], "seen")]
);
// SNI unknown.example.test refused by nginx ssl_reject_handshake
rule_test!(
    unrecognized_name,
    "fixtures/catalogue/unrecognized-name.pcap",
    [(0, "unrecognized_name", "error", [4, 6], "seen")]
);
// GnuTLS both ends, ECDHE-RSA-3DES
rule_test!(
    weak_cipher_3des,
    "fixtures/catalogue/weak-cipher-3des.pcap",
    [(0, "weak_cipher", "warning", [6], "seen")]
);
// GnuTLS both ends, ECDHE-RSA-RC4
rule_test!(
    weak_cipher_rc4,
    "fixtures/catalogue/weak-cipher-rc4.pcap",
    [(0, "weak_cipher", "warning", [6], "seen")]
);
// client stops reading: zero window, then reopens
rule_test!(
    zero_window,
    "fixtures/catalogue/zero-window.pcap",
    [(0, "zero_window_stall", "warning", [18, 26], "seen")]
);
// TLS 1.3 server resets right after the request (the HTTP.sys client-certificate pattern)
rule_test!(
    tls13_client_auth_reset,
    "fixtures/catalogue/tls13-client-auth-reset.pcap",
    [(
        0,
        "tls13_client_auth_unsupported",
        "error",
        [13, 14],
        "inferred"
    )]
);
// negative: the same server on TLS 1.2 answers 403 and closes cleanly
rule_test!(
    tls12_client_auth_403,
    "fixtures/catalogue/tls12-client-auth-403.pcap",
    []
);
