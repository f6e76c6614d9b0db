//! Security posture of a completed handshake: renegotiation support, protocol version,
//! cipher strength, session resumption.

use super::{Context, Finding, RuleId, Severity};
use crate::timeline::{Dir, Timeline};
use crate::tls::{TlsVersion, cipher_name};

pub fn check(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    let Some((she, sh)) = t.server_hello() else {
        return;
    };
    let ch = t.client_hello();
    // The evidence: the ClientHello (if seen) and the ServerHello.
    let pair;
    let ev: &[&crate::timeline::Event] = match ch {
        Some((e, _)) => {
            pair = [e, she];
            &pair
        }
        None => std::slice::from_ref(&she),
    };

    if matches!(
        sh.version,
        TlsVersion::SSL2 | TlsVersion::SSL3 | TlsVersion::TLS10 | TlsVersion::TLS11
    ) {
        let sev = if sh.version <= TlsVersion::SSL3 {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(
            Finding::new(
                RuleId::DeprecatedProtocol,
                format!(
                    "the connection negotiated {} (ServerHello frame {})",
                    sh.version, she.frame
                ),
                &[she],
            )
            .severity(sev),
        );
    }
    if sh.cipher != 0 {
        let name = cipher_name(sh.cipher);
        let weak = [
            "RC4",
            "EXPORT",
            "_NULL_",
            "NULL_WITH",
            "DES",
            "anon",
            "_MD5",
        ]
        .iter()
        .find(|w| name.contains(*w));
        if let Some(w) = weak {
            out.push(Finding::new(
                RuleId::WeakCipher,
                format!(
                    "the server chose {name} (ServerHello frame {}): {}",
                    she.frame,
                    match *w {
                        "RC4" => "RC4 is prohibited (RFC 7465)",
                        "EXPORT" => "an export-grade suite (40/56-bit)",
                        "_NULL_" | "NULL_WITH" => "NULL: no encryption at all",
                        "DES" => "DES/3DES: 64-bit blocks (Sweet32)",
                        "anon" => "anonymous key exchange: no server authentication",
                        _ => "MD5 MAC",
                    }
                ),
                &[she],
            ));
        }
    }
    let Some((_, ch)) = ch else { return };
    if !sh.version.is_tls13() && sh.version != TlsVersion::SSL2 {
        let client_ri = ch.renegotiation_info || ch.renegotiation_scsv;
        let problem = if !client_ri {
            Some(
                "the client offered neither renegotiation_info nor TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
            )
        } else if !sh.renegotiation_info {
            Some("the server did not answer with renegotiation_info")
        } else {
            None
        };
        if let Some(p) = problem {
            out.push(Finding::new(
                RuleId::InsecureRenegotiation,
                format!(
                    "RFC 5746 secure renegotiation is not in use: {p} (frames {})",
                    ev.iter()
                        .map(|e| e.frame.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ev,
            ));
        }
    }
    if !sh.resumed && !sh.hello_retry_request {
        let offers_13 = ch.supported_versions().any(|v| v.is_tls13());
        let offered = if sh.version.is_tls13() {
            ch.psk.then_some("a TLS 1.3 pre-shared key")
        } else if ch.session_ticket {
            Some("a session ticket")
        } else if !ch.session_id.is_empty() && !offers_13 {
            Some("a session ID")
        } else {
            None
        };
        if let Some(what) = offered {
            // Only a full handshake (the server sent its certificate flight) counts.
            let full = t.events.iter().any(|e| {
                e.dir == Dir::ServerToClient
                    && matches!(
                        e.kind,
                        crate::timeline::EventKind::Certificate(_)
                            | crate::timeline::EventKind::Handshake { msg_type: 12 | 14 }
                    )
            }) || sh.version.is_tls13();
            if full {
                out.push(Finding::new(
                    RuleId::ResumptionRejected,
                    format!(
                        "the client offered to resume with {what} but the server did a full handshake (ServerHello frame {})",
                        she.frame
                    ),
                    ev,
                ));
            }
        }
    }
}
