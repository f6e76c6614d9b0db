//! `unanswered_renegotiation` and `renegotiation`: handshake records after the handshake.

use super::timeouts::nearest;
use super::{Context, Finding, RuleId, fmt_secs, has};
use crate::timeline::{Dir, Event, EventKind, Timeline};

fn is_close(e: &Event) -> bool {
    matches!(
        e.kind,
        EventKind::Fin
            | EventKind::Rst
            | EventKind::EncryptedAlert { .. }
            | EventKind::Alert { .. }
    )
}

fn close_name(e: &Event) -> String {
    let what = match e.kind {
        EventKind::Fin => "FIN",
        EventKind::Rst => "RST",
        EventKind::EncryptedAlert { .. } => "encrypted alert",
        EventKind::Alert { .. } => "alert",
        _ => "packet",
    };
    format!("{what}, frame {}", e.frame)
}

pub fn check(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    // A renegotiation request: an encrypted handshake record from the server after its
    // Finished, or a plaintext HelloRequest.
    let Some((i, req)) = t.events.iter().enumerate().find(|(_, e)| {
        e.dir == Dir::ServerToClient
            && matches!(
                e.kind,
                EventKind::EncryptedHandshake { .. } | EventKind::HelloRequest
            )
    }) else {
        return client_initiated(t, out);
    };
    let after = t.events.get(i + 1..).unwrap_or_default();
    if has(out, RuleId::RenegotiationRefused) {
        return;
    }
    // The client's first reaction: an alert-sized encrypted record right away is its
    // no_renegotiation warning (a close after a long silence is a close, not a refusal).
    let reaction = after.iter().find(|e| {
        e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::EncryptedAlert { .. }
                    | EventKind::EncryptedHandshake { .. }
                    | EventKind::ClientHello(_)
                    | EventKind::AppData { .. }
                    | EventKind::Fin
                    | EventKind::Rst
            )
    });
    if let Some(r) = reaction
        && matches!(r.kind, EventKind::EncryptedAlert { .. })
        && r.time.secs_since(req.time) < 1.0
    {
        let EventKind::EncryptedAlert { len, .. } = r.kind else {
            return;
        };
        let server_abort = after.iter().find(|e| {
            e.frame > r.frame
                && e.dir == Dir::ServerToClient
                && matches!(
                    e.kind,
                    EventKind::EncryptedAlert { .. } | EventKind::Rst | EventKind::Fin
                )
        });
        let mut summary = format!(
            "the server requested renegotiation (frame {}) and the client answered {} later with a {len}-byte encrypted alert (frame {}) instead of a ClientHello: a no_renegotiation refusal",
            req.frame,
            fmt_secs(r.time.secs_since(req.time)),
            r.frame
        );
        let mut ev = vec![req, r];
        if let Some(a) = server_abort {
            summary.push_str(&format!(
                "; the server then gave up on the connection ({} frame {})",
                match a.kind {
                    EventKind::Rst => "RST,",
                    EventKind::Fin => "FIN,",
                    _ => "encrypted alert,",
                },
                a.frame
            ));
            ev.push(a);
        }
        out.push(Finding::new(RuleId::RenegotiationRefused, summary, &ev).inferred(true));
        return;
    }
    let answer = after.iter().find(|e| {
        e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::EncryptedHandshake { .. } | EventKind::ClientHello(_)
            )
    });
    if let Some(ans) = answer {
        let summary = format!(
            "server requested renegotiation (frame {}) and the client answered with a new handshake (frame {}) after {}",
            req.frame,
            ans.frame,
            fmt_secs(ans.time.secs_since(req.time))
        );
        out.push(Finding::new(RuleId::Renegotiation, summary, &[req, ans]));
        return;
    }
    let close = after.iter().find(|e| is_close(e));
    let end_time = close.map_or(t.last_time, |c| c.time);
    let waited = end_time.secs_since(req.time);
    let mut evidence: Vec<&Event> = vec![req];
    let mut summary = format!(
        "server requested renegotiation (encrypted handshake record after the handshake, frame {}) and the client never answered",
        req.frame
    );
    let client_data = after
        .iter()
        .find(|e| e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::AppData { .. }));
    if let Some(d) = client_data {
        summary.push_str(&format!(
            " (it sent application data instead, frame {})",
            d.frame
        ));
    }
    match close {
        Some(c) => {
            summary.push_str(&format!(
                "; the server waited {} until the {} closed the connection ({})",
                fmt_secs(waited),
                c.dir.sender(),
                close_name(c)
            ));
            if let Some(k) = nearest(waited) {
                summary.push_str(&format!(
                    " — the {}'s timeout matches {}",
                    c.dir.sender(),
                    k.what
                ));
            }
            evidence.push(c);
            // The other side's close, if any, completes the picture.
            if let Some(c2) = after.iter().find(|e| e.dir != c.dir && is_close(e)) {
                evidence.push(c2);
            }
        }
        None => summary.push_str(&format!(
            "; nothing else happened for {} until the capture ended",
            fmt_secs(waited)
        )),
    }
    let explains = evidence
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Alert { .. }))
        .map(|e| e.frame)
        .collect();
    let f = Finding::new(RuleId::UnansweredRenegotiation, summary, &evidence)
        .explains(explains)
        .explains_silence()
        .explains_resets()
        .detail(format!(
            "The server sent its renegotiation request {} after the connection's first packet and then waited {} for a new ClientHello that never came.",
            fmt_secs(req.time.secs_since(t.first_time)),
            fmt_secs(waited)
        ));
    out.push(f);
}

/// A client-initiated renegotiation that the server answered: info only.
fn client_initiated(t: &Timeline, out: &mut Vec<Finding>) {
    let Some((i, req)) = t.events.iter().enumerate().find(|(_, e)| {
        e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::EncryptedHandshake { .. })
    }) else {
        return;
    };
    if let Some(ans) = t.events.get(i + 1..).unwrap_or_default().iter().find(|e| {
        e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::EncryptedHandshake { .. })
    }) {
        let summary = format!(
            "client started a renegotiation (frame {}) and the server answered (frame {})",
            req.frame, ans.frame
        );
        out.push(Finding::new(RuleId::Renegotiation, summary, &[req, ans]));
    }
}
