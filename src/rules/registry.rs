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
];

impl RuleId {
    pub fn meta(self) -> &'static RuleMeta {
        // RULES holds every id exactly once (tested).
        RULES.iter().find(|m| m.id == self).unwrap_or(&RULES[0])
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
                m.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
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
    fn docs_rules_md_is_generated_from_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == render_markdown(),
            "docs/rules.md is out of date: run `cargo run -- rules --markdown > docs/rules.md`"
        );
    }
}
