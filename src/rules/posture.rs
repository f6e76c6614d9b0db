//! Security posture of a completed handshake: renegotiation support, protocol version,
//! cipher strength, session resumption.

use super::{Context, Finding, RuleId, Severity};
use crate::timeline::{Dir, Timeline};
use crate::tls::{TlsVersion, cipher_name};

/// Name fragments of weak suites, and why each is weak (the first that matches is told).
const WEAK: [(&[&str], &str); 6] = [
    (&["RC4"], "RC4 is prohibited (RFC 7465)"),
    (&["EXPORT"], "an export-grade suite (40/56-bit)"),
    (&["_NULL_", "NULL_WITH"], "NULL: no encryption at all"),
    (&["DES"], "DES/3DES: 64-bit blocks (Sweet32)"),
    (
        &["anon"],
        "anonymous key exchange: no server authentication",
    ),
    (&["_MD5"], "MD5 MAC"),
];

/// Why the cipher suite `id` is weak, if it is: its IANA name searched for [`WEAK`]'s
/// fragments once per suite, then remembered (every connection asks).
fn weakness(id: u16) -> Option<&'static str> {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0: not looked at yet; 1: not weak; 2 + i: weak for WEAK[i]. 64 KiB, zeroed, touched
    /// only where suites are seen.
    static SEEN: [AtomicU8; 1 << 16] = [const { AtomicU8::new(0) }; 1 << 16];
    let slot = SEEN.get(usize::from(id))?;
    let code = match slot.load(Ordering::Relaxed) {
        0 => {
            let name = cipher_name(id);
            let code = WEAK
                .iter()
                .position(|(frags, _)| frags.iter().any(|f| name.contains(f)))
                .map_or(1, |i| 2 + i as u8);
            slot.store(code, Ordering::Relaxed);
            code
        }
        c => c,
    };
    WEAK.get(usize::from(code).checked_sub(2)?)
        .map(|(_, why)| *why)
}

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
    if sh.cipher != 0
        && let Some(why) = weakness(sh.cipher)
    {
        out.push(Finding::new(
            RuleId::WeakCipher,
            format!(
                "the server chose {} (ServerHello frame {}): {why}",
                cipher_name(sh.cipher),
                she.frame,
            ),
            &[she],
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_suites_are_named_by_their_first_weakness_and_remembered() {
        let cases: [(u16, Option<&str>); 6] = [
            (0x0005, Some("RC4 is prohibited (RFC 7465)")), // TLS_RSA_WITH_RC4_128_SHA
            (0x0018, Some("RC4 is prohibited (RFC 7465)")), // TLS_DH_anon_WITH_RC4_128_MD5
            (0x0001, Some("NULL: no encryption at all")),   // TLS_RSA_WITH_NULL_MD5
            (0x000a, Some("DES/3DES: 64-bit blocks (Sweet32)")),
            (0xc02f, None), // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            (0x1301, None), // TLS_AES_128_GCM_SHA256
        ];
        for _ in 0..2 {
            for (id, why) in cases {
                assert_eq!(weakness(id), why, "{}", cipher_name(id));
            }
        }
    }
}
