//! The one place for rule metadata: ids (never renamed), severities, titles, explanations and
//! fixes. `tlsdiag rules`, `tlsdiag explain ID` and `docs/rules.md` all render this table; a
//! test fails when `docs/rules.md` differs from [`render_markdown`].

use std::fmt::Write as _;

use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "error" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// What a rule's conclusion rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    /// Plaintext protocol fields seen in the capture.
    Seen,
    /// Encrypted record sizes or timing.
    Inferred,
}

/// Stable rule identifiers. The string form is part of the JSON contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    MissingSni,
    UnansweredRenegotiation,
    Renegotiation,
    IdleTimeoutClose,
    TlsAlert,
    ProtocolVersionMismatch,
    NoSharedCipher,
    AlpnMismatch,
    UnrecognizedName,
    RenegotiationRefused,
    HelloRetryFailed,
    ClientRejectedCertificate,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateNameMismatch,
    CertificateChainIncomplete,
    CertificateSelfSigned,
    HandshakeTimeout,
    SplitClienthelloUnanswered,
    ResetAfterClienthello,
    ClientAbortedHandshake,
    Tls13ClientAuthUnsupported,
    InsecureRenegotiation,
    DeprecatedProtocol,
    WeakCipher,
    ResumptionRejected,
    TcpNoAnswer,
    TcpRejected,
    HandshakeStallRetransmits,
    ZeroWindowStall,
    ServerResetMidstream,
    ClientResetMidstream,
    StaleConnectionReuse,
    SilentIdleDrop,
    CaptureIncomplete,
    HttpsysNoSite,
    WebsocketNoFramesAfterUpgrade,
    WebsocketAcceptMismatch,
    ProxyErrorStatus,
    HostSniMismatch,
    PlaintextToTlsPort,
}

/// A rule's documentation and defaults.
#[derive(Debug)]
pub struct RuleMeta {
    pub id: RuleId,
    /// snake_case, never renamed.
    pub name: &'static str,
    /// The file under `src/rules/` that implements it.
    pub family: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub explanation: &'static str,
    pub fix: &'static str,
    /// What the evidence usually is (a finding says which it used).
    pub evidence: &'static str,
    pub known_problems: &'static str,
}

/// Every rule, in the order reports and docs list them.
pub static RULES: &[RuleMeta] = &[
    RuleMeta {
        id: RuleId::MissingSni,
        name: "missing_sni",
        family: "sni",
        severity: Severity::Error,
        title: "ClientHello without SNI rejected by the server",
        explanation: "The client's ClientHello carries no server_name (SNI) extension, and the server answered it with a fatal alert (handshake_failure or unrecognized_name) or closed the connection before sending a ServerHello. Servers that host several names on one address (CDNs, SNI-only virtual hosts, Kubernetes ingresses) cannot pick a certificate without SNI and refuse the handshake. A reverse proxy that connects to such an origin without SNI reports 502 Bad Gateway to its users. When other connections in the same capture reach the same server with SNI and succeed, the missing SNI is almost certainly the cause.",
        fix: "Make the client send SNI. nginx as a proxy: `proxy_ssl_server_name on;` (and `proxy_ssl_name <origin host name>;` when proxy_pass uses an IP or an upstream block name). HAProxy: `server ... ssl sni str(<host>)` or `sni req.hdr(host)`. Apache mod_proxy: `SSLProxyEngine on` with `ProxyPreserveHost` / a host name in ProxyPass. curl: connect by name, or use `--resolve <host>:443:<ip>` instead of an IP URL. openssl s_client: `-servername <host>`. Java: connect by host name (SNI is not sent for IP literals); Python: pass `server_hostname=` to wrap_socket.",
        evidence: "seen",
        known_problems: "A server may also reject a ClientHello with handshake_failure for other reasons (no shared cipher suite); without SNI in the ClientHello the missing SNI is still the first thing to fix.",
    },
    RuleMeta {
        id: RuleId::UnansweredRenegotiation,
        name: "unanswered_renegotiation",
        family: "renegotiation",
        severity: Severity::Error,
        title: "Server asked to renegotiate and the client never answered",
        explanation: "After the TLS 1.2 handshake finished, the server sent an encrypted handshake record (a HelloRequest: it asks the client to renegotiate, typically to request a client certificate for one path), and the client sent no handshake record back before the connection went idle or closed. The server waits for the new handshake and does not answer the pending request; the client (often a WAF or reverse proxy that does not support renegotiation) waits for the response until its timeout, and the user sees 502/504/499. IIS does this when a site or path is set to accept or require client certificates.",
        fix: "On IIS: SSL Settings → Client certificates = Ignore for the site/path (or Require on the whole site, so the certificate is requested in the first handshake; `netsh http add sslcert ... clientcertnegotiation=enable`). Elsewhere: do not request client certificates after the handshake (Apache: no `SSLVerifyClient` inside <Location>/<Directory>); or make the client (WAF/proxy) support renegotiation; or move to TLS 1.3 post-handshake authentication where both sides support it.",
        evidence: "seen (record content type) — the HelloRequest itself is encrypted; its presence is inferred from a handshake record after the server's Finished",
        known_problems: "In TLS 1.2 with encrypted handshake records, a HelloRequest cannot be told apart from another post-handshake message by content; a handshake record from the server after its Finished is treated as one.",
    },
    RuleMeta {
        id: RuleId::Renegotiation,
        name: "renegotiation",
        family: "renegotiation",
        severity: Severity::Info,
        title: "TLS renegotiation took place",
        explanation: "After the handshake finished, one side started a new handshake (a HelloRequest from the server or a new ClientHello from the client) and the other side answered it. This is legal in TLS 1.2 but is often how servers request a client certificate for part of a site, and it is not supported by HTTP/2 or TLS 1.3.",
        fix: "Nothing to fix if the connection worked. If some clients or proxies fail on this server, request client certificates in the initial handshake instead of renegotiating.",
        evidence: "seen (record content type)",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::IdleTimeoutClose,
        name: "idle_timeout_close",
        family: "idle",
        severity: Severity::Warning,
        title: "Connection closed after an idle period (idle timeout)",
        explanation: "Nothing was sent on the connection for a while, then one side closed it (a TLS close_notify alert, a FIN, or a RST). This is a keep-alive / idle timeout, not a TLS failure: a server, proxy or WAF drops connections that stay idle longer than its configured limit. When the other side later sends on the closed connection it gets a RST, which applications report as 'connection reset' or 'SSL error'. The silence is compared with well-known default timeouts (see the table in docs/rules.md).",
        fix: "Make the client's idle timeout shorter than the server's (or proxy's), so the client never reuses a connection the server is about to close: e.g. upstream keepalive_timeout in nginx, HttpClient PooledConnectionIdleTimeout in .NET, the connection pool's idle eviction elsewhere. Or raise the closing side's limit (nginx `keepalive_timeout`, `proxy_read_timeout`; IIS `connectionTimeout`; the load balancer's idle timeout). Clients should retry idempotent requests that fail on a reused connection.",
        evidence: "seen (timing), with the close_notify inferred from the encrypted alert's size in TLS 1.3",
        known_problems: "The idle time is measured between packets in the capture; if the capture point is far from the closing side, it differs from the timer by the path delay.",
    },
    RuleMeta {
        id: RuleId::TlsAlert,
        name: "tls_alert",
        family: "alerts",
        severity: Severity::Warning,
        title: "TLS alert",
        explanation: "A plaintext TLS alert was sent. Fatal alerts end the connection; warning alerts report a condition the sender can live with. The description says what the sender objected to: for example handshake_failure (no acceptable parameters), protocol_version (no common TLS version), unknown_ca / bad_certificate (the client does not trust the server's certificate), unrecognized_name (the server does not serve this SNI), no_application_protocol (no common ALPN). This finding is reported for every plaintext alert that no more specific rule explains.",
        fix: "Look at the alert's sender and description: the sender is the side that rejected something the other side sent just before (the frame before the alert). For certificate alerts from the client, check the server's chain and the client's trust store; for handshake_failure/protocol_version, compare the client's offered versions and cipher suites with the server's configuration (nginx `ssl_protocols` / `ssl_ciphers`, IIS Schannel settings).",
        evidence: "seen",
        known_problems: "Encrypted alerts (after ChangeCipherSpec) have no readable description; they are shown in the transcript but not reported by this rule.",
    },
    RuleMeta {
        id: RuleId::ProtocolVersionMismatch,
        name: "protocol_version_mismatch",
        family: "handshake",
        severity: Severity::Error,
        title: "Client and server have no TLS version in common",
        explanation: "The handshake failed on the protocol version: a protocol_version (70) alert, an inappropriate_fallback (86) alert (a client retried with a lower version and the server detected the downgrade), or a ClientHello whose versions the server does not accept. Typical causes: a legacy client (TLS 1.0/1.1 only: old Java, Windows 7/Server 2008 R2 without updates, embedded devices) against a server that requires TLS 1.2+, or a TLS 1.3-only client against a TLS 1.2 server.",
        fix: "Enable a common version on one side. Server: nginx `ssl_protocols TLSv1.2 TLSv1.3;`, Apache `SSLProtocol`, IIS/Schannel registry keys under SCHANNEL\\Protocols, Java `jdk.tls.server.protocols`. Client: upgrade it or enable TLS 1.2 (Windows: KB3140245 / `DefaultSecureProtocols`; .NET: `ServicePointManager.SecurityProtocol` or SystemDefaultTlsVersions; Java: `-Djdk.tls.client.protocols=TLSv1.2,TLSv1.3`; curl: `--tlsv1.2`). Re-enabling TLS 1.0/1.1 on the server is a last resort.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::NoSharedCipher,
        name: "no_shared_cipher",
        family: "handshake",
        severity: Severity::Error,
        title: "No cipher suite (or key-exchange group) in common",
        explanation: "The server refused a ClientHello that carries SNI with handshake_failure (40) or insufficient_security (71) before any ServerHello: none of the client's cipher suites, signature algorithms or key-exchange groups is acceptable to the server for that name. Typical causes: a hardened server (ECDHE+AES-GCM only) and an old client (RSA key exchange, CBC, 3DES), an ECDSA-only certificate with a client that offers only RSA suites, or FIPS/policy restrictions.",
        fix: "Compare the client's offer (listed in the finding) with the server's configuration and add one suite both support: nginx `ssl_ciphers`, Apache `SSLCipherSuite`, IIS: IIS Crypto / `Enable-TlsCipherSuite`, Java `jdk.tls.disabledAlgorithms`; on the client enable ECDHE-RSA-AES128-GCM-SHA256 / ECDHE-ECDSA-AES128-GCM-SHA256. Serving both an RSA and an ECDSA certificate widens compatibility.",
        evidence: "seen",
        known_problems: "A server may also answer handshake_failure when it needs a client certificate or dislikes an extension; the list of the client's suites is the first thing to check.",
    },
    RuleMeta {
        id: RuleId::AlpnMismatch,
        name: "alpn_mismatch",
        family: "handshake",
        severity: Severity::Error,
        title: "No common application protocol (ALPN)",
        explanation: "The server rejected the handshake with no_application_protocol (120): the client offered ALPN protocols (e.g. only h2, or a gRPC/custom protocol) and the server supports none of them. Also reported when the client offered ALPN, the server selected none and the client then aborted the handshake.",
        fix: "Make the lists overlap: offer `http/1.1` next to `h2` on the client, or enable HTTP/2 on the server (nginx `http2 on;` / `listen 443 ssl http2;`, IIS: HTTP/2 is on by default with TLS 1.2+). For gRPC, the server must offer `h2`.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::UnrecognizedName,
        name: "unrecognized_name",
        family: "handshake",
        severity: Severity::Error,
        title: "The server does not know the requested SNI name",
        explanation: "The client sent SNI and the server answered with an unrecognized_name (112) alert: no virtual host / certificate on that address matches the name (a DNS record pointing at the wrong server or load balancer, a host name missing from the server's or CDN's configuration, a typo). As a fatal alert it ends the handshake; as a warning many clients stop anyway.",
        fix: "Add the name to the server: nginx `server_name <name>;` in a `listen 443 ssl` server block (a default server with `ssl_reject_handshake on` rejects unknown names), IIS: an https binding with that host name and 'Require Server Name Indication', a CDN: add the domain/certificate. Or point DNS for the name at the server that serves it.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::RenegotiationRefused,
        name: "renegotiation_refused",
        family: "renegotiation",
        severity: Severity::Warning,
        title: "Renegotiation refused (no_renegotiation alert)",
        explanation: "One side asked for a new handshake on an established TLS connection and the other refused with a no_renegotiation (100) warning alert. Typically the server requests renegotiation to ask for a client certificate on one path (IIS, Apache `SSLVerifyClient` in a <Location>), and the client (OpenSSL 3 / modern clients, HTTP/2) refuses; the request that needed it then fails (IIS answers 403.7/403.16, others close).",
        fix: "Request client certificates in the initial handshake instead of renegotiating: IIS 'Negotiate Client Certificate' on the binding (`netsh http add sslcert ... clientcertnegotiation=enable`), Apache `SSLVerifyClient` at server/virtual-host level. Or stop requiring a certificate for that path.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::HelloRetryFailed,
        name: "hello_retry_failed",
        family: "handshake",
        severity: Severity::Error,
        title: "HelloRetryRequest was not followed by a successful second ClientHello",
        explanation: "In TLS 1.3 the server sent a HelloRetryRequest (it wants a key share for another group, or a cookie), and the client then sent no second ClientHello, or an alert, or the connection closed. Causes: a client or middlebox that mishandles HelloRetryRequest, or groups that do not overlap after all (e.g. a post-quantum hybrid offered without a classical fallback the server accepts).",
        fix: "Make the client send a key share for a group the server prefers (e.g. x25519 and secp256r1), or configure the server's group preference to one the client shares (nginx `ssl_ecdh_curve X25519:prime256v1;`, OpenSSL `Groups`). Update clients/middleboxes that fail on HelloRetryRequest.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ClientRejectedCertificate,
        name: "client_rejected_certificate",
        family: "certificate",
        severity: Severity::Error,
        title: "The client rejected the server's certificate",
        explanation: "Right after the server's Certificate the client aborted: with a certificate alert (bad_certificate, unsupported_certificate, certificate_revoked, certificate_expired, certificate_unknown, unknown_ca, access_denied), by closing the connection without an alert, or — in TLS 1.3, where alerts are encrypted — with a single alert-sized encrypted record in place of its Finished (inferred). The client does not trust the chain, the name does not match, the certificate expired, or the client's trust store lacks the CA (corporate/private CA, missing intermediate).",
        fix: "Check the certificate findings on this connection (expired, name mismatch, chain incomplete, self-signed). Serve the full chain (nginx `ssl_certificate` = leaf + intermediates; IIS: install the intermediate in the machine's Intermediate Certification Authorities store), renew an expired certificate, or add the private CA to the client's trust store (Java `cacerts`, `update-ca-certificates`, Windows Trusted Root store).",
        evidence: "seen (alerts in TLS ≤ 1.2) or inferred (TLS 1.3 record size, close timing)",
        known_problems: "A client that closes right after the Certificate may also have failed for a reason of its own (timeout, crash).",
    },
    RuleMeta {
        id: RuleId::CertificateExpired,
        name: "certificate_expired",
        family: "certificate",
        severity: Severity::Error,
        title: "The server's certificate had expired at capture time",
        explanation: "A certificate in the chain the server sent (TLS ≤ 1.2, where certificates are in clear) was past its notAfter date at the time of the capture (not today). Clients reject it with certificate_expired or a generic error.",
        fix: "Renew the certificate and install the new one (and the new intermediates) on every server behind the name; reload/restart the service (nginx `nginx -s reload`; IIS: rebind the new certificate in the site's https binding / `netsh http update sslcert`). Automate renewal (ACME/certbot, win-acme).",
        evidence: "seen",
        known_problems: "An expired intermediate or root that a client does not use (cross-signed chains) may not matter to every client.",
    },
    RuleMeta {
        id: RuleId::CertificateNotYetValid,
        name: "certificate_not_yet_valid",
        family: "certificate",
        severity: Severity::Error,
        title: "The server's certificate was not yet valid at capture time",
        explanation: "A certificate in the chain was before its notBefore date at the capture time: it was issued for the future, or a clock is wrong (the server's or the capturing host's clock, or the client's).",
        fix: "Check the clocks (NTP) of the client, the server and the capturing host; if the certificate was issued early, wait or reissue with a correct validity period.",
        evidence: "seen",
        known_problems: "Judged against the capture's timestamps: a capture host with a wrong clock gives a wrong verdict.",
    },
    RuleMeta {
        id: RuleId::CertificateNameMismatch,
        name: "certificate_name_mismatch",
        family: "certificate",
        severity: Severity::Error,
        title: "The certificate does not cover the requested name (SNI)",
        explanation: "The leaf certificate's subjectAltName DNS names (or, when it has none, its Common Name) do not match the SNI the client asked for, per RFC 6125 (a wildcard matches exactly one left-most label: *.example.com covers a.example.com, not example.com or a.b.example.com). Clients reject it with a hostname mismatch.",
        fix: "Install a certificate whose SANs include the name (or a wildcard that covers it), or bind the right certificate to the name (nginx: the server block whose `server_name` matches, with its own `ssl_certificate`; IIS: an https binding with the host name and SNI enabled). If clients use a different name than intended, fix their URL/DNS.",
        evidence: "seen",
        known_problems: "IP-address SANs are compared with an IP-literal SNI only (clients do not send IP SNI).",
    },
    RuleMeta {
        id: RuleId::CertificateChainIncomplete,
        name: "certificate_chain_incomplete",
        family: "certificate",
        severity: Severity::Error,
        title: "The server sends an incomplete certificate chain (missing intermediate)",
        explanation: "The leaf certificate the server sent is neither self-signed nor issued by another certificate in the chain: an intermediate CA certificate is missing. Browsers often repair this (cached intermediates, AIA fetching) but curl, Java, Python, Go, .NET on Linux and many appliances fail with 'unable to get local issuer certificate' / unknown_ca. Reported when the leaf's issuer is not in the chain, unless the server sends only the leaf and its issuer is named as a root (a private CA issuing directly from its root) and the client accepted it.",
        fix: "Configure the full chain: nginx `ssl_certificate` must point to leaf + intermediates (fullchain.pem); Apache 2.4.8+: the same in `SSLCertificateFile`; IIS: import the intermediate into 'Intermediate Certification Authorities' of the local computer; load balancers: upload the chain with the certificate.",
        evidence: "seen",
        known_problems: "Whether a lone leaf's issuer is a root is judged by its name (roots say 'Root'; public intermediates do not); a private root named otherwise is reported as a missing intermediate.",
    },
    RuleMeta {
        id: RuleId::CertificateSelfSigned,
        name: "certificate_self_signed",
        family: "certificate",
        severity: Severity::Warning,
        title: "The server presents a self-signed certificate",
        explanation: "The leaf certificate is self-signed (its issuer is its own subject): no public CA vouches for it, so clients reject it unless it was explicitly trusted. Often a default/placeholder certificate (IIS/HTTP.sys default, an appliance's factory certificate, nginx snake-oil) shows up because the request did not match the intended site (wrong SNI/binding).",
        fix: "Install a CA-issued certificate on the site, or make sure the client reaches the site/binding that has it (SNI, host name binding). Trust a self-signed certificate explicitly only for internal tools.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::HandshakeTimeout,
        name: "handshake_timeout",
        family: "handshake",
        severity: Severity::Error,
        title: "ClientHello never answered",
        explanation: "The client sent a ClientHello (possibly retransmitted) and the server sent nothing back: no ServerHello, no alert. Eventually the client gave up (closed or reset) or the capture ended. The TCP connection was accepted, so something between accepted the connection but never delivered or answered the TLS hello: an overloaded or hung TLS terminator, a port that is not TLS (a plain HTTP or other service that waits for its own protocol), a firewall/IPS that swallows the ClientHello, or an MTU problem with a large ClientHello.",
        fix: "Check that the port really serves TLS (`openssl s_client -connect host:port -servername name`), the server's accept queue and TLS worker health, and any IPS/firewall/SNI filter on the path. If the ClientHello spans several segments, see split_clienthello_unanswered.",
        evidence: "seen (timing)",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::SplitClienthelloUnanswered,
        name: "split_clienthello_unanswered",
        family: "handshake",
        severity: Severity::Error,
        title: "A ClientHello spanning several TCP segments went unanswered",
        explanation: "The ClientHello was larger than one segment (typically ~1.2–1.8 KB since browsers and OpenSSL 3.5+ send post-quantum X25519MLKEM768 key shares, or with many extensions) and it was never answered or was reset, while connections with a ClientHello that fits one segment succeed. A known middlebox bug: firewalls, IPS and load balancers that inspect only the first segment of the ClientHello (for SNI filtering) drop or reset the rest.",
        fix: "Update the middlebox (firewall/IPS/SSL inspection/load balancer firmware). As a workaround, make the ClientHello smaller on the client: disable the post-quantum key share (Chrome: `PostQuantumKeyAgreementEnabled` policy = false; OpenSSL: `-groups X25519:P-256`; Java: `jdk.tls.namedGroups`), or fewer extensions/ALPN entries.",
        evidence: "seen (segments, timing)",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ResetAfterClienthello,
        name: "reset_after_clienthello",
        family: "handshake",
        severity: Severity::Error,
        title: "Connection reset right after the ClientHello",
        explanation: "A RST came from the server's side after the ClientHello and before any ServerHello. Either the server process refused the hello (a non-TLS service, a TLS stack that aborts, an SNI-based block) or something on the path injected the RST. An injected RST usually differs from the server's own packets: its IP TTL (hop count) or IP-ID pattern is not the SYN/ACK's, or it arrives faster than the server could answer — the signature of SNI filtering firewalls and censorship middleboxes.",
        fix: "If it looks injected: find the filtering device (firewall/IPS/proxy with SNI or URL filtering) and allow the name. Otherwise check the server's logs for rejected handshakes, and that the port serves TLS.",
        evidence: "seen; 'injected' is inferred from TTL / IP-ID / timing",
        known_problems: "Load balancers that terminate TCP themselves legitimately have different TTLs than the back end; compare with the SYN/ACK, which came from the same device.",
    },
    RuleMeta {
        id: RuleId::ClientAbortedHandshake,
        name: "client_aborted_handshake",
        family: "handshake",
        severity: Severity::Error,
        title: "The client closed the connection during the handshake, without an alert",
        explanation: "The server answered the ClientHello (ServerHello and the rest of its flight), then the client closed the connection (FIN) or reset it (RST) without sending an alert and without finishing the handshake; the server had not closed or complained first. The client gave up on its own: most often it could not validate the server's certificate (a TLS stack or application that closes instead of sending an alert: some Java, .NET and embedded clients, or an application that checks the certificate itself after the TLS library's handshake step), or it was cancelled, or a client-side handshake timeout expired. In TLS 1.3 the server's certificate is encrypted, so the capture cannot show which certificate the client refused; the time between the server's flight and the close tells a local decision (milliseconds) from a timeout (seconds).",
        fix: "Look at the client's error for this connection (certificate verification failures: untrusted issuer, missing intermediate, name mismatch, expiry; or a timeout). Check the server's certificate chain with `openssl s_client -connect HOST:443 -servername NAME -showcerts` against the client's trust store; if the close came after seconds, compare with the client's handshake/connect timeout.",
        evidence: "seen (the close and what came before); the reason is inferred",
        known_problems: "Scanners and health checks that only want the server's hello close this way on purpose, and so do clients racing several connections and keeping the first that answers. A RST injected by a middlebox on the client's side looks like the client's own. When the capture lost the client's Finished (a busy capture host), the connection can look aborted although it went on; a `capture_incomplete` finding, or the server sending more than its flight, tells that case apart.",
    },
    RuleMeta {
        id: RuleId::Tls13ClientAuthUnsupported,
        name: "tls13_client_auth_unsupported",
        family: "handshake",
        severity: Severity::Error,
        title: "TLS 1.3 connection aborted after the request (client certificate needed?)",
        explanation: "The connection negotiated TLS 1.3, the client sent its request, and the server answered with no data but a reset or an immediate close. This is the HTTP.sys/IIS pattern when a site requires or negotiates a client certificate: in TLS 1.3 it can only ask for one with post-handshake authentication, which HTTP.sys does not do (and many clients do not offer, see post_handshake_auth in the ClientHello), so it resets the connection.",
        fix: "IIS/HTTP.sys: disable TLS 1.3 for the binding that needs client certificates (`netsh http add sslcert ... disablelegacytls`/`disabletls13=enable`, or the 'Disable TLS 1.3 over TCP' binding option), or negotiate the client certificate at connection start (`clientcertnegotiation=enable`). Otherwise configure the client to use TLS 1.2 for this site.",
        evidence: "inferred (timing and record sizes; the request and the client-certificate request are encrypted)",
        known_problems: "Any server that crashes or rejects the request with a reset looks the same from the wire.",
    },
    RuleMeta {
        id: RuleId::InsecureRenegotiation,
        name: "insecure_renegotiation",
        family: "posture",
        severity: Severity::Warning,
        title: "Secure renegotiation (RFC 5746) not supported",
        explanation: "In a TLS ≤ 1.2 handshake the client offered neither the renegotiation_info extension nor the TLS_EMPTY_RENEGOTIATION_INFO_SCSV suite, or the server did not answer with renegotiation_info. Without RFC 5746 the connection is open to the 2009 renegotiation injection attack; modern peers (OpenSSL 3, recent Java, Windows) refuse such connections or refuse to renegotiate.",
        fix: "Update the side that lacks RFC 5746 support (very old OpenSSL, Java < 6u22, embedded stacks). Do not enable 'legacy/unsafe renegotiation' options as a workaround except temporarily.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::DeprecatedProtocol,
        name: "deprecated_protocol",
        family: "posture",
        severity: Severity::Warning,
        title: "Deprecated protocol version negotiated (SSLv2/SSLv3/TLS 1.0/TLS 1.1)",
        explanation: "The connection negotiated a protocol version that RFC 8996 and the browsers have deprecated (TLS 1.0/1.1) or that is broken (SSL 2.0/3.0). It works today only because both sides still allow it; it will fail as soon as either side is updated or hardened, and it fails PCI DSS and most compliance baselines.",
        fix: "Enable TLS 1.2 (and 1.3) on both sides and disable the old versions: nginx `ssl_protocols TLSv1.2 TLSv1.3;`, IIS Crypto / Schannel registry, Java `jdk.tls.disabledAlgorithms`; upgrade clients that cannot do TLS 1.2.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::WeakCipher,
        name: "weak_cipher",
        family: "posture",
        severity: Severity::Warning,
        title: "Weak cipher suite negotiated (RC4, EXPORT, NULL, DES/3DES, anonymous)",
        explanation: "The negotiated cipher suite is broken or obsolete: RC4 (RFC 7465 prohibits it), EXPORT-grade, NULL (no encryption), single DES or 3DES (Sweet32), or anonymous key exchange (no authentication).",
        fix: "Remove these suites from the server (nginx `ssl_ciphers HIGH:!aNULL:!MD5:!3DES:!RC4;` or a Mozilla 'intermediate' list; IIS Crypto best practices) and enable AES-GCM/ChaCha20 suites on the client.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ResumptionRejected,
        name: "resumption_rejected",
        family: "posture",
        severity: Severity::Info,
        title: "Session resumption offered but not accepted",
        explanation: "The client offered to resume a previous session (a session ID, a session ticket, or a TLS 1.3 pre-shared key) and the server did a full handshake instead. Harmless for correctness, but it costs a full key exchange and certificate each time; it is frequent behind load balancers whose back ends do not share session caches/ticket keys, or after a server restart.",
        fix: "Share the session ticket keys across the servers behind one name (nginx `ssl_session_ticket_key` files, HAProxy `tls-ticket-keys`) or use a shared session cache; keep them stable across restarts.",
        evidence: "seen",
        known_problems: "TLS 1.3-capable clients send a random legacy session ID for middlebox compatibility; it is not counted as a resumption offer.",
    },
    RuleMeta {
        id: RuleId::TcpNoAnswer,
        name: "tcp_no_answer",
        family: "tcp",
        severity: Severity::Error,
        title: "SYN never answered",
        explanation: "The client sent a SYN (and retransmissions) and nothing came back: no SYN/ACK, no RST. The server is down or unreachable, or a firewall/security group silently drops the traffic. No TLS was attempted.",
        fix: "Check routing and firewalls between client and server (security groups, NSGs, host firewall), that the service listens on that address and port (`ss -ltn`, `netstat -ano`), and the server's SYN backlog.",
        evidence: "seen",
        known_problems: "A capture taken only on the client side cannot tell where the SYN was dropped.",
    },
    RuleMeta {
        id: RuleId::TcpRejected,
        name: "tcp_rejected",
        family: "tcp",
        severity: Severity::Error,
        title: "SYN answered by RST (connection refused)",
        explanation: "The client's SYN was answered by a RST: nothing listens on that port on the server (service stopped, wrong port, bound to another address), or a firewall rejects actively. No TLS was attempted.",
        fix: "Start the service or fix the port/address it listens on; check the load balancer's back-end pool and health; check firewall reject rules.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::HandshakeStallRetransmits,
        name: "handshake_stall_retransmits",
        family: "tcp",
        severity: Severity::Error,
        title: "The server's handshake flight was retransmitted and never acknowledged",
        explanation: "During the handshake the server sent its flight (ServerHello, Certificate …) and had to retransmit it, and the client never acknowledged those bytes: large segments are lost on the path. This is the classic MTU black hole: a link with a smaller MTU (VPN, tunnel, cloud overlay) drops full-size packets and the ICMP 'fragmentation needed' never reaches the server (filtered), so path MTU discovery fails; small packets (the TCP handshake, the ClientHello) pass, the certificate does not.",
        fix: "Allow ICMP type 3 code 4 / ICMPv6 'packet too big' through firewalls, or clamp the MSS on the tunnel/VPN/router (`iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`, Cisco `ip tcp adjust-mss 1360`), or lower the MTU of the interface on the path.",
        evidence: "seen (retransmissions and missing ACKs)",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ZeroWindowStall,
        name: "zero_window_stall",
        family: "tcp",
        severity: Severity::Warning,
        title: "A receiver advertised a zero window and stalled the transfer",
        explanation: "One side advertised a TCP receive window of zero: its application stopped reading, so the sender had to stop. A long zero window ends in a timeout on one side and looks like a hung or failed TLS connection.",
        fix: "Look at the side that advertised the zero window: a slow or blocked consumer (application thread pool exhausted, disk I/O, a proxy whose upstream is slow). Fix the consumer or increase its buffers; check proxy buffering settings (nginx `proxy_buffering`, `proxy_max_temp_file_size`).",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ServerResetMidstream,
        name: "server_reset_midstream",
        family: "tcp",
        severity: Severity::Error,
        title: "The server reset an established TLS connection",
        explanation: "After the handshake, while the connection was in use, the server side sent a RST without closing cleanly (no close_notify, no FIN first). The server process crashed or was killed, a proxy/load balancer aborted (request too large, back-end failure, timeout), or a firewall/IPS reset the session.",
        fix: "Check the server's and any proxy's logs at that time (the finding gives the capture time), their error/timeout settings and resource limits; compare the RST's TTL with the server's other packets to see whether a middlebox sent it.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ClientResetMidstream,
        name: "client_reset_midstream",
        family: "tcp",
        severity: Severity::Warning,
        title: "The client reset an established TLS connection",
        explanation: "After the handshake the client side sent a RST without closing cleanly: the user or application cancelled (browser navigation, a client-side timeout), the client process exited, or a middlebox on the client's side reset the session.",
        fix: "Check the client's timeout settings (it may give up before a slow server answers: compare the time since the request) and the client application's logs.",
        evidence: "seen",
        known_problems: "Many clients reset instead of closing as a matter of course when they abandon a connection.",
    },
    RuleMeta {
        id: RuleId::StaleConnectionReuse,
        name: "stale_connection_reuse",
        family: "tcp",
        severity: Severity::Error,
        title: "Request sent on a connection the other side had already closed",
        explanation: "One side closed the connection (close_notify and/or FIN), and the other side then still sent data on it and got a RST: the keep-alive race. A client (or proxy) pool reused a connection that the server had just closed for idleness; the request fails with 'connection reset' / 'SSL error' / 502, usually intermittently.",
        fix: "Make the client's pool idle timeout shorter than the server's keep-alive timeout (e.g. nginx upstream `keepalive_timeout` below the origin's, .NET `PooledConnectionIdleTimeout`, Apache HttpClient `evictIdleConnections`, Node `keepAlive` + `freeSocketTimeout`), and retry idempotent requests on connection reset.",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::SilentIdleDrop,
        name: "silent_idle_drop",
        family: "tcp",
        severity: Severity::Error,
        title: "Connection silently dropped by a middlebox after a long idle",
        explanation: "After a long idle period (≥ 240 s) one side sent data and got nothing back but silence: it retransmitted, then gave up or got a RST. A stateful device on the path (Azure Load Balancer: 4 min default, AWS NAT Gateway/NLB: 350 s, firewalls) had expired the idle connection without telling either end.",
        fix: "Enable TCP keep-alives shorter than the device's idle timeout on the client/server (`net.ipv4.tcp_keepalive_time`, `SO_KEEPALIVE`, Windows KeepAliveTime), raise the device's idle timeout (Azure LB `idleTimeoutInMinutes`, enable TCP reset on idle), or make the client's pool drop idle connections sooner.",
        evidence: "inferred (timing, retransmissions)",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::CaptureIncomplete,
        name: "capture_incomplete",
        family: "tcp",
        severity: Severity::Info,
        title: "The capture does not hold the whole connection",
        explanation: "The capture started after the connection was opened, holds only one direction (asymmetric routing, a capture filter, or a SPAN port), or misses bytes (loss at the capture point, snaplen). Conclusions about this connection are less certain: other findings on it carry low confidence and say why.",
        fix: "Capture again from before the connection starts, on a point that sees both directions, with a full snaplen (`tcpdump -s 0`) and a large enough buffer (`-B 4096`), or on both ends.",
        evidence: "seen (the first frame where bytes are missing: the segment after a hole, a frame the snaplen cut, or the acknowledgement of bytes never captured, which Wireshark flags \"ACKed unseen segment\"; else the connection's first frame)",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::HttpsysNoSite,
        name: "httpsys_no_site",
        family: "http",
        severity: Severity::Error,
        title: "HTTP.sys answered: no IIS site or application pool took the request",
        explanation: "The response carries `Server: Microsoft-HTTPAPI/2.0` (not Microsoft-IIS/…) with status 404 or 503: the Windows kernel HTTP listener (HTTP.sys) answered by itself because no registered URL matched the request or the application pool behind it is stopped, crashed or overloaded. HTTP.sys listens on 0.0.0.0 for every binding, so a stopped site still completes the TLS handshake and then returns this 404. Typical causes: the site is stopped, its binding lacks this host name / IP / port, the Host header or SNI differs from the binding, or the application pool is stopped (503).",
        fix: "On the server: `netsh http show servicestate` (which URLs are registered and by which process) and `netsh http show iplisten` (if the list is non-empty, HTTP.sys listens only on those addresses: add the address with `netsh http add iplisten ipaddress=<ip>`); in IIS Manager check that the site is started, that its bindings include this host name, IP and port (and SNI for https), and that its application pool is started (503: see the System event log for pool crashes / rapid-fail protection).",
        evidence: "seen",
        known_problems: "A custom application could send the same Server header; the exact HTTP.sys error bodies make it unambiguous.",
    },
    RuleMeta {
        id: RuleId::WebsocketNoFramesAfterUpgrade,
        name: "websocket_no_frames_after_upgrade",
        family: "http",
        severity: Severity::Error,
        title: "WebSocket upgraded (101) but frames flowed one way or not at all",
        explanation: "The server accepted the WebSocket upgrade (101 Switching Protocols), but afterwards frames went in one direction only, or in neither, until the connection was closed, reset or the capture ended: the application sees a WebSocket that connects and then stays silent. When permessage-deflate was negotiated and a proxy is visible in the response (Via, X-Powered-By: ARR/…, a proxy's Server header), the proxy most likely negotiated or passed on compression it cannot relay (IIS ARR and several WAFs drop compressed frames: RSV1 set).",
        fix: "Turn off per-message compression on the server (Node ws: `perMessageDeflate: false`; ASP.NET Core: `DangerousEnableCompression = false` / do not accept the extension; Python websockets: `compression=None`; Java: remove the deflate extension) or on the client, or fix/upgrade the proxy (IIS: install the WebSocket Protocol feature and ARR 3.0 with WebSocket support; nginx: `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`).",
        evidence: "seen",
        known_problems: "An application that simply has nothing to send looks the same; the finding says which side stayed silent and for how long.",
    },
    RuleMeta {
        id: RuleId::WebsocketAcceptMismatch,
        name: "websocket_accept_mismatch",
        family: "http",
        severity: Severity::Error,
        title: "Sec-WebSocket-Accept does not match the request's key",
        explanation: "RFC 6455 requires the 101 response's Sec-WebSocket-Accept to be base64(SHA-1(Sec-WebSocket-Key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")). It does not: something between client and server rewrote the handshake (a proxy that re-originates the upgrade with its own key, a WAF, a broken load balancer), and the client rejects the connection.",
        fix: "Find the middlebox that terminates or rewrites the upgrade (compare the key the client sent with the one the server received in a capture on the server side) and configure it to pass WebSocket upgrades through unchanged (nginx: `proxy_set_header Upgrade`/`Connection` as for WebSockets, not a custom Sec-WebSocket-Key).",
        evidence: "seen",
        known_problems: "",
    },
    RuleMeta {
        id: RuleId::ProxyErrorStatus,
        name: "proxy_error_status",
        family: "http",
        severity: Severity::Error,
        title: "A proxy answered 502/503/504",
        explanation: "A reverse proxy / gateway (nginx, IIS ARR, a load balancer, a WAF) answered the request itself with 502 Bad Gateway, 503 Service Unavailable or 504 Gateway Timeout: its upstream connection failed or timed out. When the same capture holds the proxy's upstream leg, the upstream connection that explains it is named (correlated by time and by Host/SNI), e.g. a missing_sni handshake failure just before a 502.",
        fix: "Look at the upstream finding named in the summary and fix that; otherwise check the proxy's error log at that time and its upstream settings (nginx `proxy_connect_timeout`/`proxy_read_timeout`, `proxy_ssl_server_name`, upstream health; IIS ARR server farm health and timeouts).",
        evidence: "seen; the upstream correlation is inferred from timing and names",
        known_problems: "Without the upstream leg in the capture the cause stays on the proxy's side of the wire.",
    },
    RuleMeta {
        id: RuleId::HostSniMismatch,
        name: "host_sni_mismatch",
        family: "http",
        severity: Severity::Warning,
        title: "HTTP Host differs from the TLS SNI on the same connection",
        explanation: "The request's Host header names a different host than the SNI the client sent in the ClientHello of the same connection. Servers that select the certificate by SNI and the site by Host may route the request to the wrong site, answer 421 Misdirected Request (HTTP/2 connection coalescing), or 404/400. Typical with proxies that set SNI from the upstream address but forward the original Host.",
        fix: "Make the proxy/client send the same name in both (nginx: `proxy_ssl_name $host;` with `proxy_ssl_server_name on;`, or `proxy_set_header Host` to the upstream's name).",
        evidence: "seen (needs decrypted HTTP: TLS keys, or a plaintext upgrade)",
        known_problems: "Only visible when the HTTP inside TLS can be read.",
    },
    RuleMeta {
        id: RuleId::PlaintextToTlsPort,
        name: "plaintext_to_tls_port",
        family: "http",
        severity: Severity::Error,
        title: "Plain text (e.g. HTTP) sent to a TLS port",
        explanation: "The client's first bytes are not a TLS ClientHello but plain text — typically an HTTP request — while the server port speaks TLS (a well-known TLS port such as 443/8443/993/995/465/636, or the server answered with TLS). The server cannot understand it: nginx answers `400 The plain HTTP request was sent to HTTPS port`, others send a TLS alert or close. Users see 'SSL error', 'bad request' or 'connection reset'. Usually an `http://` URL or a proxy/health check configured with plain HTTP towards an HTTPS back end.",
        fix: "Use `https://` for this port in the client, the load balancer's back-end / health-check protocol (e.g. `proxy_pass https://...;` in nginx, HTTPS target group / health check in AWS, `ssl verify none` / `check-ssl` in HAProxy), or point the client at the server's plain-HTTP port. A server that should accept both can redirect with nginx `error_page 497 https://$host$request_uri;`.",
        evidence: "seen",
        known_problems: "Protocols that start in clear and upgrade (STARTTLS on 25/587/143/110/21) are not reported: their ports are not implicit-TLS ports.",
    },
];

impl RuleId {
    /// Its place in [`RULES`], which lists the ids in the enum's order (tested).
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn meta(self) -> &'static RuleMeta {
        // RULES holds every id exactly once, in order (tested).
        match RULES.get(self.index()) {
            Some(m) if m.id == self => m,
            _ => RULES.iter().find(|m| m.id == self).unwrap_or(&RULES[0]),
        }
    }
    pub fn as_str(self) -> &'static str {
        self.meta().name
    }
}

/// Looks a rule up by its id string.
pub fn lookup(name: &str) -> Option<&'static RuleMeta> {
    RULES.iter().find(|m| m.name == name)
}

/// The full text of `docs/rules.md`.
pub fn render_markdown() -> String {
    let mut s = String::new();
    s.push_str("# tlsdiag rules\n\n");
    s.push_str("<!-- Generated from src/rules/registry.rs by `tlsdiag rules --markdown`; a test fails when this file differs. -->\n\n");
    s.push_str("Every finding names one of these rules. Ids are stable: they are never renamed or reused.\n");
    s.push_str("`tlsdiag rules` lists them and `tlsdiag explain ID` prints one in full.\n\n");
    s.push_str("| id | severity | title |\n|---|---|---|\n");
    for m in RULES {
        let _ = writeln!(
            s,
            "| [`{}`](#{}) | {} | {} |",
            m.name,
            m.name,
            m.severity.as_str(),
            m.title
        );
    }
    for m in RULES {
        s.push('\n');
        s.push_str(&render_one(m, "##"));
    }
    s.push_str("\n## Well-known idle timeouts\n\n");
    s.push_str("`idle_timeout_close` names the closest of these defaults when the silence before the close is within the tolerance (the larger of 2 s and 5 % of the value):\n\n");
    s.push_str("| seconds | what |\n|---|---|\n");
    for t in super::timeouts::KNOWN_TIMEOUTS {
        let _ = writeln!(s, "| {} | {} |", t.secs, t.what);
    }
    s
}

/// One rule as Markdown (`heading` is the heading level prefix).
pub fn render_one(m: &RuleMeta, heading: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{heading} {}\n", m.name);
    let _ = writeln!(
        s,
        "**{}** — severity `{}`, family `{}`, evidence: {}\n",
        m.title,
        m.severity.as_str(),
        m.family,
        m.evidence
    );
    let _ = writeln!(s, "**What it means.** {}\n", m.explanation);
    let _ = writeln!(s, "**Fix.** {}", m.fix);
    if !m.known_problems.is_empty() {
        let _ = writeln!(s, "\n**Known problems.** {}", m.known_problems);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_round_trip() {
        for (i, m) in RULES.iter().enumerate() {
            assert!(
                m.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                m.name
            );
            assert_eq!(lookup(m.name).map(|x| x.id), Some(m.id));
            assert_eq!(m.id.as_str(), m.name);
            assert!(
                RULES
                    .iter()
                    .skip(i + 1)
                    .all(|o| o.id != m.id && o.name != m.name)
            );
            assert!(!m.explanation.is_empty() && !m.fix.is_empty() && !m.title.is_empty());
        }
    }

    #[test]
    fn rules_are_listed_in_the_order_of_their_ids() {
        for (i, m) in RULES.iter().enumerate() {
            assert_eq!(m.id.index(), i, "{}", m.name);
            assert!(std::ptr::eq(m.id.meta(), m));
        }
    }

    #[test]
    fn docs_rules_md_is_generated_from_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == render_markdown(),
            "docs/rules.md is out of date: run `cargo run -- rules --markdown > docs/rules.md`"
        );
    }
}
