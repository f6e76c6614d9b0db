//! `idle_timeout_close`: a side closes the connection right after a silence.

use super::timeouts::nearest;
use super::{Context, Finding, RuleId, Severity, fmt_secs};
use crate::timeline::{AlertEvidence, Dir, Event, EventKind, Kinds, Timeline};

/// Silences shorter than this are not idle timeouts.
pub const MIN_IDLE_SECS: f64 = 1.0;
/// Close actions of one side within this long after the first belong to the same close.
const CLOSE_WINDOW_SECS: f64 = 1.0;

fn is_close(e: &Event) -> bool {
    match e.kind {
        EventKind::Fin | EventKind::Rst | EventKind::EncryptedAlert { .. } => true,
        EventKind::Alert { description, .. } => description == 0,
        _ => false,
    }
}

fn label(e: &Event) -> String {
    let what = match &e.kind {
        EventKind::Fin => "FIN".to_string(),
        EventKind::Rst => "RST".to_string(),
        EventKind::EncryptedAlert { len, evidence } => match evidence {
            AlertEvidence::ContentType => format!("encrypted alert, {len} bytes"),
            AlertEvidence::InferredFromSize => {
                format!("{len}-byte record = encrypted alert, inferred")
            }
        },
        EventKind::Alert { .. } => "close_notify".to_string(),
        _ => "packet".to_string(),
    };
    format!("{what}, frame {}", e.frame)
}

pub fn check(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    // A silence that is part of another finding's story (an unanswered renegotiation, a
    // handshake nobody answered, ...) is not a keep-alive timeout: that finding names it.
    if !t.has_any(Kinds::IDLE) || out.iter().any(|f| f.explains_silence) {
        return;
    }
    for (i, idle) in t.events.iter().enumerate() {
        let EventKind::Idle { secs, after_frame } = idle.kind else {
            continue;
        };
        if secs < MIN_IDLE_SECS {
            continue;
        }
        // The first thing after the silence must be a close.
        let rest = t.events.get(i + 1..).unwrap_or_default();
        let Some(first) = rest
            .iter()
            .take_while(|e| e.frame == idle.frame)
            .find(|e| is_close(e))
        else {
            continue;
        };
        let closer = first.dir;
        // The closer's close actions, until the peer sends data (a RST after that is the
        // answer to the peer's data, reported separately).
        let closes: Vec<&Event> = rest
            .iter()
            .take_while(|e| {
                e.time.secs_since(first.time) <= CLOSE_WINDOW_SECS
                    && !(e.dir != closer
                        && matches!(
                            e.kind,
                            EventKind::AppData { .. } | EventKind::Retransmission { .. }
                        ))
            })
            .filter(|e| e.dir == closer && is_close(e))
            .collect();
        let known = nearest(secs);
        if closer == Dir::ClientToServer && known.is_none() {
            // A client closing its own idle connection is normal pool hygiene.
            continue;
        }
        let parts: Vec<String> = closes.iter().map(|e| label(e)).collect();
        let mut summary = format!(
            "{} closed the connection after {} idle ({}; last activity frame {})",
            closer.sender(),
            fmt_secs(secs),
            parts.join(", "),
            after_frame
        );
        match known {
            Some(k) => summary.push_str(&format!(" — matches {}", k.what)),
            None => summary.push_str(" — no well-known default matches; look for a configured timeout of about this length"),
        }
        let mut evidence: Vec<&Event> = closes.clone();
        let last_close_frame = closes.last().map_or(first.frame, |e| e.frame);
        let peer = if closer == Dir::ServerToClient {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        };
        let later = rest.iter().filter(|e| e.frame > last_close_frame);
        let peer_data = later.clone().find(|e| {
            e.dir == peer
                && matches!(
                    e.kind,
                    EventKind::AppData { .. } | EventKind::Retransmission { .. }
                )
        });
        let peer_rst = later
            .clone()
            .find(|e| e.dir == peer && matches!(e.kind, EventKind::Rst));
        let closer_rst = later
            .clone()
            .find(|e| e.dir == closer && matches!(e.kind, EventKind::Rst));
        if let Some(d) = peer_data {
            summary.push_str(&format!(
                "; the {} then sent data on the closed connection (frame {})",
                peer.sender(),
                d.frame
            ));
            evidence.push(d);
            if let Some(r) = closer_rst {
                summary.push_str(&format!(" and got a RST (frame {})", r.frame));
                evidence.push(r);
            }
        }
        if let Some(r) = peer_rst {
            summary.push_str(&format!(
                "; the {} reset the connection {} later (RST, frame {})",
                peer.sender(),
                fmt_secs(r.time.secs_since(first.time)),
                r.frame
            ));
            evidence.push(r);
        }
        let inferred = !closes
            .iter()
            .any(|e| matches!(e.kind, EventKind::Fin | EventKind::Rst))
            && closes.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::EncryptedAlert {
                        evidence: AlertEvidence::InferredFromSize,
                        ..
                    }
                )
            });
        // Harmful when the timeout is a known server/middlebox limit or the peer was caught
        // out (it sent on the closed connection or reset it); a server tidying up an idle
        // connection nobody was using is only worth an info.
        let harmful = known.is_some() || peer_data.is_some() || peer_rst.is_some();
        let severity = match (closer, harmful) {
            (Dir::ServerToClient, true) => Severity::Warning,
            _ => Severity::Info,
        };
        let detail = format!(
            "Nothing was sent for {} (frames {}–{}). Then the {} closed; the {} did not expect it.",
            fmt_secs(secs),
            after_frame,
            first.frame,
            closer.sender(),
            peer.sender()
        );
        out.push(
            Finding::new(RuleId::IdleTimeoutClose, summary, &evidence)
                .severity(severity)
                .inferred(inferred)
                .detail(detail)
                .explains(
                    closes
                        .iter()
                        .filter(|e| matches!(e.kind, EventKind::Alert { .. }))
                        .map(|e| e.frame)
                        .collect(),
                ),
        );
        return;
    }
}
