//! `tls_alert`: every plaintext alert that no more specific rule explained.

use std::collections::HashSet;

use super::{Context, Finding, RuleId, Severity};
use crate::timeline::{AlertLevel, EventKind, Kinds, Timeline};
use crate::tls::alert_name;
use crate::tls::names::handshake_name;

pub fn check(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    if !t.has_any(Kinds::ALERT) {
        return;
    }
    let explained: HashSet<u64> = out
        .iter()
        .flat_map(|f| f.explains.iter().copied())
        .collect();
    for (i, e) in t.events.iter().enumerate() {
        let EventKind::Alert { level, description } = e.kind else {
            continue;
        };
        // close_notify is the normal end of a session (seen in clear only when decrypted).
        if explained.contains(&e.frame) || description == 0 {
            continue;
        }
        let severity = match (level, description) {
            (AlertLevel::Fatal, _) => Severity::Error,
            (_, 0 | 90) => Severity::Info,
            _ => Severity::Warning,
        };
        // What the sender was reacting to: the other side's last TLS message before it.
        let before = t
            .events
            .get(..i)
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|p| {
                p.dir != e.dir
                    && matches!(
                        p.kind,
                        EventKind::ClientHello(_)
                            | EventKind::ServerHello(_)
                            | EventKind::Certificate(_)
                            | EventKind::Handshake { .. }
                            | EventKind::Finished { .. }
                            | EventKind::ChangeCipherSpec
                            | EventKind::AppData { .. }
                            | EventKind::HelloRequest
                    )
            });
        let mut summary = format!(
            "{} sent {} alert {} ({})",
            e.dir.sender(),
            level.name(),
            alert_name(description),
            description
        );
        let mut evidence = vec![e];
        if let Some(p) = before {
            let what = match &p.kind {
                EventKind::ClientHello(_) => "ClientHello".to_string(),
                EventKind::ServerHello(_) => "ServerHello".to_string(),
                EventKind::Certificate(_) => "Certificate".to_string(),
                EventKind::Handshake { msg_type } => handshake_name(*msg_type).to_string(),
                EventKind::Finished { .. } => "Finished".to_string(),
                EventKind::ChangeCipherSpec => "ChangeCipherSpec".to_string(),
                EventKind::HelloRequest => "HelloRequest".to_string(),
                _ => "application data".to_string(),
            };
            summary.push_str(&format!(
                " after the {}'s {} (frame {})",
                p.dir.sender(),
                what,
                p.frame
            ));
            evidence.push(p);
        }
        out.push(Finding::new(RuleId::TlsAlert, summary, &evidence).severity(severity));
    }
}
