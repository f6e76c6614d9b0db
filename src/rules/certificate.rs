//! Certificates (TLS ≤ 1.2, sent in clear) and the client's verdict on them.

use super::{Context, Finding, RuleId, fmt_secs, has};
use crate::report::utc_date;
use crate::timeline::{AlertEvidence, Dir, Event, EventKind, Kinds, Timeline};
use crate::tls::{CertInfo, CertSummary, alert_name};

pub fn check(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    // A client's rejection shows as an alert (clear or encrypted), a FIN or a RST.
    if t.has_any(Kinds::ALERT | Kinds::ENCRYPTED_ALERT | Kinds::FIN | Kinds::RST) {
        client_rejected(t, out);
    }
    if !t.has_any(Kinds::CERTIFICATE) {
        return;
    }
    let Some((cert_ev, info)) = t.events.iter().find_map(|e| match &e.kind {
        EventKind::Certificate(c) if e.dir == Dir::ServerToClient => Some((e, c.as_ref())),
        _ => None,
    }) else {
        return;
    };
    validity(cert_ev, info, out);
    name(t, cert_ev, info, out);
    chain(cert_ev, info, out);
}

/// "leaf www.example.com", "chain certificate #2 R3": which certificate of the chain.
fn push_which(out: &mut String, i: usize, c: &CertSummary) {
    if i == 0 {
        out.push_str("leaf ");
    } else {
        out.push_str("chain certificate #");
        out.push_str(itoa::Buffer::new().format(i + 1));
        out.push(' ');
    }
    out.push_str(c.subject_cn.as_deref().unwrap_or(&c.subject));
}

/// "the leaf www.example.com expired on 2021-01-01 (3 days before the capture; Certificate
/// frame 7)". Built by hand, not with `format!` (~1,000 instructions a call): certificates
/// "from the future" are common (a capture host's clock), so this runs once per connection.
fn lapse_summary(
    i: usize,
    c: &CertSummary,
    what: &str,
    date: i64,
    lapse: &str,
    frame: u64,
) -> String {
    let mut s = String::with_capacity(128);
    s.push_str("the ");
    push_which(&mut s, i, c);
    s.push_str(what);
    s.push_str(&utc_date(date));
    s.push_str(" (");
    s.push_str(lapse);
    s.push_str("; Certificate frame ");
    s.push_str(itoa::Buffer::new().format(frame));
    s.push(')');
    s
}

fn validity(ev: &Event, info: &CertInfo, out: &mut Vec<Finding>) {
    let now = ev.time.0.div_euclid(1_000_000_000);
    for (i, c) in info.chain.iter().enumerate() {
        if c.not_after < now && !has(out, RuleId::CertificateExpired) {
            let lapse = span(now - c.not_after) + " before the capture";
            out.push(Finding::new(
                RuleId::CertificateExpired,
                lapse_summary(i, c, " expired on ", c.not_after, &lapse, ev.frame),
                &[ev],
            ));
        }
        if c.not_before > now && !has(out, RuleId::CertificateNotYetValid) {
            let lapse = span(c.not_before - now) + " after the capture time";
            out.push(Finding::new(
                RuleId::CertificateNotYetValid,
                lapse_summary(i, c, " is valid only from ", c.not_before, &lapse, ev.frame),
                &[ev],
            ));
        }
    }
}

/// A span of whole seconds as a person reads a clock skew or a lapse: days when it is a day
/// or more, else hours and minutes, else seconds.
fn span(secs: i64) -> String {
    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let s = secs.max(0);
    // Without `format!`: certificates issued "in the future" are common (a capture host's
    // clock), and this runs once per such connection.
    let mut out = String::with_capacity(16);
    let mut part = |n: i64, unit: &str| {
        out.push_str(itoa::Buffer::new().format(n));
        out.push_str(unit);
    };
    match s {
        DAY.. => part(s / DAY, if s / DAY == 1 { " day" } else { " days" }),
        HOUR.. => {
            part(s / HOUR, " h ");
            part(s % HOUR / MIN, " min");
        }
        MIN.. => {
            part(s / MIN, " min ");
            part(s % MIN, " s");
        }
        _ => part(s, " s"),
    }
    out
}

/// RFC 6125 §6.4: case-insensitive; a wildcard is only a whole left-most label and matches
/// exactly one label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.');
    let h = host.trim_end_matches('.');
    if let Some(rest) = p.strip_prefix("*.") {
        match h.split_once('.') {
            Some((first, tail)) => {
                !first.is_empty() && tail.eq_ignore_ascii_case(rest) && rest.contains('.')
            }
            None => false,
        }
    } else {
        p.eq_ignore_ascii_case(h)
    }
}

fn name(t: &Timeline, ev: &Event, info: &CertInfo, out: &mut Vec<Finding>) {
    let (Some(sni), Some(leaf)) = (t.sni(), info.leaf()) else {
        return;
    };
    // (Host names rarely get past the first test; the parser costs ~200 instructions.)
    let is_ip_name = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
            && s.parse::<std::net::IpAddr>().is_ok()
    };
    let is_ip = is_ip_name(sni);
    // What the certificate is checked against: its IP SANs for an address; for a host name its
    // DNS SANs, or the subject CN when there are none.
    let use_cn = !is_ip && leaf.sans.iter().all(|s| is_ip_name(s));
    let names = || {
        leaf.sans
            .iter()
            .map(String::as_str)
            .filter(move |s| !use_cn && is_ip_name(s) == is_ip)
            .chain(leaf.subject_cn.as_deref().filter(|_| use_cn))
    };
    if names().any(|n| name_matches(n, sni)) {
        return;
    }
    let names: Vec<&str> = names().collect();
    let shown = names.get(..8).unwrap_or(&names);
    out.push(Finding::new(
        RuleId::CertificateNameMismatch,
        format!(
            "the client asked for {sni} but the certificate (frame {}) is for [{}]{}",
            ev.frame,
            shown.join(", "),
            if names.len() > 8 {
                format!(" (+{} more)", names.len() - 8)
            } else {
                String::new()
            }
        ),
        &[ev],
    ));
}

fn chain(ev: &Event, info: &CertInfo, out: &mut Vec<Finding>) {
    let Some(leaf) = info.leaf() else { return };
    if leaf.self_signed && info.chain.len() == 1 {
        out.push(Finding::new(
            RuleId::CertificateSelfSigned,
            format!(
                "the server presented a self-signed certificate ({}; frame {})",
                leaf.subject, ev.frame
            ),
            &[ev],
        ));
        return;
    }
    // The leaf's issuer must be in the chain (the root it chains to need not be sent).
    if leaf.self_signed || info.chain.iter().skip(1).any(|c| c.subject == leaf.issuer) {
        return;
    }
    let top = leaf;
    let rejected = has(out, RuleId::ClientRejectedCertificate);
    // A lone leaf issued straight by a root (private PKIs) is fine: public CAs never do that,
    // and roots say so in their names ("ISRG Root X1", "DigiCert Global Root CA") while
    // intermediates do not ("R3", "GTS CA 1C3").
    let issuer_is_root = leaf.issuer.to_ascii_lowercase().contains("root");
    if issuer_is_root {
        // The root is not sent by design; a client that rejects it does not trust that root
        // (client_rejected_certificate says so), nothing is missing from the chain.
        return;
    }
    let single = info.chain.len() == 1;
    let f = Finding::new(
        RuleId::CertificateChainIncomplete,
        format!(
            "the server sent {} certificate(s) (frame {}) and the leaf's issuer, {}, is not among them{}{}",
            info.chain.len(),
            ev.frame,
            top.issuer,
            if rejected {
                "; the client rejected the chain"
            } else {
                ""
            },
            if single {
                " — an intermediate is missing, unless that issuer is a (private) root the client should trust directly"
            } else {
                ""
            }
        ),
        &[ev],
    );
    // A lone leaf may be signed by a root directly: less certain than a broken chain.
    out.push(if single {
        f.severity(super::Severity::Warning)
    } else {
        f
    });
}

fn client_rejected(t: &Timeline, out: &mut Vec<Finding>) {
    let cert =
        t.find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Certificate(_)));
    let tls13 = t
        .server_hello()
        .is_some_and(|(_, sh)| sh.version.is_tls13());
    if let Some(cert) = cert {
        // A client that had already closed before the certificate arrived did not reject it.
        if t.events.iter().any(|e| {
            e.frame < cert.frame
                && e.dir == Dir::ClientToServer
                && matches!(e.kind, EventKind::Fin | EventKind::Rst)
        }) {
            return;
        }
        let mut after = t
            .events
            .iter()
            .filter(|e| e.frame >= cert.frame && e.dir == Dir::ClientToServer);
        // First client reaction after the Certificate.
        let Some(first) = after.find(|e| {
            matches!(
                e.kind,
                EventKind::Alert { .. }
                    | EventKind::Fin
                    | EventKind::Rst
                    | EventKind::Handshake { .. }
                    | EventKind::ChangeCipherSpec
                    | EventKind::Finished { .. }
                    | EventKind::EncryptedAlert { .. }
                    | EventKind::AppData { .. }
                    | EventKind::Heartbeat { .. }
                    | EventKind::ClientHello(_)
                    | EventKind::EncryptedHandshake { .. }
            )
        }) else {
            return;
        };
        // The server still retransmitting its flight when the client gave up: the client
        // never received the certificate (handshake_stall_retransmits tells that story).
        if t.events.iter().any(|e| {
            e.frame > cert.frame
                && e.frame < first.frame
                && e.dir == Dir::ServerToClient
                && matches!(e.kind, EventKind::Retransmission { .. })
        }) {
            return;
        }
        let summary = match first.kind {
            EventKind::Alert {
                level,
                description: d @ (42..=46 | 48 | 49),
            } => format!(
                "the client rejected the server's certificate (frame {}) with {} alert {} ({d}) (frame {})",
                cert.frame,
                level.name(),
                alert_name(d),
                first.frame
            ),
            EventKind::Fin | EventKind::Rst => format!(
                "the client closed the connection ({} frame {}) {} after the server's certificate (frame {}) without an alert and without continuing the handshake",
                if matches!(first.kind, EventKind::Fin) {
                    "FIN,"
                } else {
                    "RST,"
                },
                first.frame,
                fmt_secs(first.time.secs_since(cert.time)),
                cert.frame
            ),
            _ => return,
        };
        let inferred = !matches!(first.kind, EventKind::Alert { .. });
        out.push(
            Finding::new(RuleId::ClientRejectedCertificate, summary, &[cert, first])
                .explains(vec![first.frame])
                .inferred(inferred),
        );
        return;
    }
    if !tls13 {
        return;
    }
    // TLS 1.3 with a plaintext certificate alert before the client's Finished (OpenSSL sends
    // it unencrypted when it fails verification of the server's encrypted flight).
    if let Some(alert) = t.find(|e| {
        e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::Alert {
                    description: 42..=46 | 48 | 49,
                    ..
                }
            )
    }) && !t.events.iter().any(|e| {
        e.frame < alert.frame
            && e.dir == Dir::ClientToServer
            && matches!(e.kind, EventKind::Finished { .. })
    }) {
        let EventKind::Alert { level, description } = alert.kind else {
            return;
        };
        let flight = t
            .find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Finished { .. }));
        let mut ev = vec![alert];
        if let Some(s) = flight {
            ev.insert(0, s);
        }
        out.push(
            Finding::new(
                RuleId::ClientRejectedCertificate,
                format!(
                    "TLS 1.3: after the server's encrypted Certificate flight{} the client sent {} alert {} ({description}) (frame {}) instead of its Finished",
                    flight.map_or(String::new(), |s| format!(" (frame {})", s.frame)),
                    level.name(),
                    alert_name(description),
                    alert.frame
                ),
                &ev,
            )
            .explains(vec![alert.frame]),
        );
        return;
    }
    // TLS 1.3: an alert-sized encrypted record in place of the client's Finished.
    let Some(alert) = t.find(|e| {
        e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::EncryptedAlert {
                    evidence: AlertEvidence::InferredFromSize,
                    ..
                }
            )
    }) else {
        return;
    };
    let client_finished_before = t.events.iter().any(|e| {
        e.frame < alert.frame
            && e.dir == Dir::ClientToServer
            && matches!(e.kind, EventKind::Finished { .. })
    });
    if client_finished_before {
        return;
    }
    let server_flight =
        t.find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Finished { .. }));
    let mut ev = vec![alert];
    if let Some(s) = server_flight {
        ev.insert(0, s);
    }
    out.push(
        Finding::new(
            RuleId::ClientRejectedCertificate,
            format!(
                "TLS 1.3: instead of its Finished the client sent a single {}-byte encrypted record (frame {}) — the size of an encrypted alert — after the server's encrypted Certificate flight{}; most likely it rejected the certificate",
                crate::tls::TLS13_ALERT_LEN,
                alert.frame,
                server_flight.map_or(String::new(), |s| format!(" (frame {})", s.frame))
            ),
            &ev,
        )
        .inferred(true),
    );
}

#[cfg(test)]
mod tests {
    use super::{name_matches, span};

    #[test]
    fn spans_read_as_days_hours_minutes() {
        for (secs, want) in [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min 0 s"),
            (3_599, "59 min 59 s"),
            (3_600, "1 h 0 min"),
            (86_399, "23 h 59 min"),
            (86_400, "1 day"),
            (91_297_819, "1056 days"),
            (-5, "0 s"),
        ] {
            assert_eq!(span(secs), want, "{secs}");
        }
    }

    #[test]
    fn rfc6125_wildcards() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(name_matches("*.Example.com", "A.example.COM."));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(name_matches("origin.example.test", "origin.example.test"));
        assert!(!name_matches("other.example.test", "origin.example.test"));
    }
}
