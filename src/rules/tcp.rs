//! TCP underneath TLS: connects that fail, stalls, resets, stale reuse, silent drops, and
//! captures that miss part of a connection.

use super::timeouts::nearest;
use super::{Context, Finding, RuleId, Severity, fmt_secs};
use crate::timeline::{Dir, Event, EventKind, Kinds, Timeline};

/// Silences at least this long before a drop count as a middlebox idle expiry.
/// (240 s is Azure's default; the silence seen is measured from the last packet, so allow 5 s.)
pub const SILENT_DROP_MIN_IDLE_SECS: f64 = 235.0;
/// A zero window shorter than this is flow control, not a stall.
pub const ZERO_WINDOW_MIN_SECS: f64 = 1.0;

fn is_data(e: &Event) -> bool {
    matches!(e.kind, EventKind::AppData { .. })
}

/// SYN without SYN/ACK: no answer, or refused.
pub fn check_connect(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    let is_syn =
        |e: &&Event| e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::Syn { .. });
    let Some(first) = t.events.iter().find(is_syn) else {
        return;
    };
    if t.has_any(Kinds::SYN_ACK) || t.c2s.bytes + t.s2c.bytes > 0 {
        return;
    }
    if let Some(rst) = t.find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Rst))
    {
        out.push(Finding::new(
            RuleId::TcpRejected,
            format!(
                "{} refused the connection: SYN (frame {}) answered by RST (frame {}) after {}",
                t.server,
                first.frame,
                rst.frame,
                fmt_secs(rst.time.secs_since(first.time))
            ),
            &[first, rst],
        ));
        return;
    }
    // Only now (rarely) the list: every connection that was answered or refused returned above.
    let syns: Vec<&Event> = t.events.iter().filter(is_syn).collect();
    let last = syns.last().copied().unwrap_or(first);
    let waited = t.last_time.secs_since(first.time);
    if syns.len() < 2 && waited < 1.0 {
        // One SYN at the very end of a capture proves nothing.
        return;
    }
    out.push(
        Finding::new(
            RuleId::TcpNoAnswer,
            format!(
                "{} never answered: {} SYN(s) over {} (frames {}–{}), no SYN/ACK, no RST",
                t.server,
                syns.len(),
                fmt_secs(waited),
                first.frame,
                last.frame
            ),
            &syns,
        )
        .explains_silence(),
    );
}

/// Problems of an established connection.
pub fn check_established(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    // Each part needs events most connections do not have.
    if t.has_any(Kinds::RETRANSMISSION) {
        stall(t, out);
    }
    if t.has_any(Kinds::ZERO_WINDOW) {
        zero_window(t, out);
    }
    if t.has_any(Kinds::RST) {
        stale_reuse(t, out);
    }
    if t.has_any(Kinds::IDLE) && t.has_any(Kinds::RETRANSMISSION) {
        silent_drop(t, out);
    }
    if t.has_any(Kinds::RST) {
        resets(t, out);
    }
}

fn stall(t: &Timeline, out: &mut Vec<Finding>) {
    let Some((she, _)) = t.server_hello() else {
        return;
    };
    let client_went_on = t.events.iter().any(|e| {
        e.frame > she.frame
            && e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::Handshake { .. }
                    | EventKind::Finished { .. }
                    | EventKind::ChangeCipherSpec
                    | EventKind::Alert { .. }
                    | EventKind::EncryptedAlert { .. }
            )
    });
    if client_went_on {
        return;
    }
    let retrans: Vec<&Event> = t
        .events
        .iter()
        .filter(|e| {
            e.frame > she.frame.saturating_sub(1)
                && e.dir == Dir::ServerToClient
                && matches!(e.kind, EventKind::Retransmission { .. })
        })
        .collect();
    if retrans.len() < 2 {
        return;
    }
    let sizes: Vec<String> = retrans
        .iter()
        .take(8)
        .filter_map(|e| match e.kind {
            EventKind::Retransmission { bytes } => Some(bytes.to_string()),
            _ => None,
        })
        .collect();
    let end = t
        .events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::Fin | EventKind::Rst));
    let mut ev = vec![she];
    ev.extend(retrans.iter().copied());
    if let Some(e) = end {
        ev.push(e);
    }
    out.push(Finding::new(
        RuleId::HandshakeStallRetransmits,
        format!(
            "the server's handshake flight (ServerHello frame {}) was retransmitted {} time(s) (segments of {} bytes) and the client never continued the handshake{}",
            she.frame,
            retrans.len(),
            sizes.join(", "),
            end.map_or(String::new(), |e| format!("; the {} gave up ({} frame {})", e.dir.sender(), if matches!(e.kind, EventKind::Rst) { "RST," } else { "FIN," }, e.frame))
        ),
        &ev,
    ).explains_silence());
}

fn zero_window(t: &Timeline, out: &mut Vec<Finding>) {
    for (i, z) in t.events.iter().enumerate() {
        if !matches!(z.kind, EventKind::ZeroWindow) {
            continue;
        }
        let rest = t.after(i);
        let reopen = rest
            .iter()
            .find(|e| e.dir == z.dir && matches!(e.kind, EventKind::WindowOpen));
        let end = reopen.map_or(t.last_time, |e| e.time);
        let secs = end.secs_since(z.time);
        if secs < ZERO_WINDOW_MIN_SECS {
            continue;
        }
        let close = rest
            .iter()
            .find(|e| matches!(e.kind, EventKind::Rst | EventKind::Fin));
        let mut ev = vec![z];
        let how = match (reopen, close) {
            (Some(r), _) => {
                ev.push(r);
                format!("it reopened after {} (frame {})", fmt_secs(secs), r.frame)
            }
            (None, Some(c)) => {
                ev.push(c);
                format!(
                    "it never reopened; the {} closed (frame {}) {} later",
                    c.dir.sender(),
                    c.frame,
                    fmt_secs(c.time.secs_since(z.time))
                )
            }
            (None, None) => format!(
                "it was still zero {} later when the capture ended",
                fmt_secs(secs)
            ),
        };
        out.push(Finding::new(
            RuleId::ZeroWindowStall,
            format!(
                "the {} advertised a zero receive window (frame {}): it stopped reading and the {} had to stop sending; {how}",
                z.dir.sender(),
                z.frame,
                z.dir.receiver()
            ),
            &ev,
        ).explains_resets());
        return;
    }
}

/// Index of the first clean close (FIN or an encrypted alert followed by a FIN) of side `d`.
fn close_of(t: &Timeline, d: Dir) -> Option<(usize, &Event)> {
    t.position(|e| e.dir == d && matches!(e.kind, EventKind::Fin))
        .map(|(i, fin)| {
            // Start at the side's close_notify when it came just before the FIN.
            let alert = t.events[..i]
                .iter()
                .enumerate()
                .rev()
                .take_while(|(_, e)| e.time.secs_since(fin.time).abs() < 1.0)
                .find(|(_, e)| {
                    e.dir == d
                        && matches!(
                            e.kind,
                            EventKind::EncryptedAlert { .. }
                                | EventKind::Alert { description: 0, .. }
                        )
                });
            alert.map_or((i, fin), |(j, a)| (j, a))
        })
}

fn stale_reuse(t: &Timeline, out: &mut Vec<Finding>) {
    // The race is the server (or proxy) closing an idle keep-alive connection and the client
    // sending its next request on it. A client that closes while the server still answers is
    // an ordinary abort, not this.
    let closer = Dir::ServerToClient;
    let Some((i, close)) = close_of(t, closer) else {
        return;
    };
    let rest = t.after(i);
    let Some((j, data)) = rest
        .iter()
        .enumerate()
        .find(|(_, e)| e.dir == closer.reverse() && is_data(e))
    else {
        return;
    };
    let Some(rst) = rest[j..]
        .iter()
        .find(|e| e.dir == closer && matches!(e.kind, EventKind::Rst))
    else {
        return;
    };
    // The idle that preceded the close names the timeout.
    let idle = t.events[..=i].iter().rev().find_map(|e| match e.kind {
        EventKind::Idle { secs, .. } if e.frame <= close.frame => Some(secs),
        _ => None,
    });
    let mut summary = format!(
        "the {} closed the connection (frame {}), the {} still sent data on it {} later (frame {}) and got a RST (frame {})",
        closer.sender(),
        close.frame,
        closer.receiver(),
        fmt_secs(data.time.secs_since(close.time)),
        data.frame,
        rst.frame
    );
    if let Some(secs) = idle {
        summary.push_str(&format!(
            "; the {} closed after {} idle",
            closer.sender(),
            fmt_secs(secs)
        ));
        if let Some(k) = nearest(secs) {
            summary.push_str(&format!(" ({})", k.what));
        }
        summary.push_str(&format!(
            ", so the {}'s keep-alive/pool idle timeout is longer than the {}'s",
            closer.receiver(),
            closer.sender()
        ));
    }
    out.push(
        Finding::new(RuleId::StaleConnectionReuse, summary, &[close, data, rst]).explains_resets(),
    );
}

fn silent_drop(t: &Timeline, out: &mut Vec<Finding>) {
    for (i, idle) in t.events.iter().enumerate() {
        let EventKind::Idle { secs, .. } = idle.kind else {
            continue;
        };
        if secs < SILENT_DROP_MIN_IDLE_SECS {
            continue;
        }
        let rest = t.after(i);
        let Some(first) = rest.first() else { continue };
        let sender = first.dir;
        if !matches!(first.kind, EventKind::AppData { .. }) {
            continue;
        }
        let retrans: Vec<&Event> = rest
            .iter()
            .filter(|e| e.dir == sender && matches!(e.kind, EventKind::Retransmission { .. }))
            .collect();
        let peer_spoke = rest.iter().any(|e| e.dir != sender && is_data(e));
        if retrans.is_empty() || peer_spoke {
            continue;
        }
        let end = rest
            .iter()
            .find(|e| matches!(e.kind, EventKind::Rst | EventKind::Fin));
        let mut ev = vec![first];
        ev.extend(retrans.iter().copied());
        if let Some(e) = end {
            ev.push(e);
        }
        let mut summary = format!(
            "after {} idle the {} sent data (frame {}) and got no answer: {} retransmission(s){}",
            fmt_secs(secs),
            sender.sender(),
            first.frame,
            retrans.len(),
            end.map_or(" until the capture ended".to_string(), |e| format!(
                ", then {} from the {} (frame {})",
                if matches!(e.kind, EventKind::Rst) {
                    "RST"
                } else {
                    "FIN"
                },
                e.dir.sender(),
                e.frame
            ))
        );
        if let Some(k) = nearest(secs).or_else(|| {
            super::timeouts::KNOWN_TIMEOUTS
                .iter()
                .rev()
                .find(|k| k.secs <= secs && k.secs >= SILENT_DROP_MIN_IDLE_SECS)
        }) {
            summary.push_str(&format!("; consistent with {}", k.what));
        }
        out.push(
            Finding::new(RuleId::SilentIdleDrop, summary, &ev)
                .inferred(true)
                .explains_silence()
                .explains_resets(),
        );
        return;
    }
}

fn resets(t: &Timeline, out: &mut Vec<Finding>) {
    if !t.handshake_complete() {
        return;
    }
    if out.iter().any(|f| f.explains_resets) {
        return;
    }
    let Some((i, rst)) = t.position(|e| matches!(e.kind, EventKind::Rst)) else {
        return;
    };
    // A reset as the first thing after a silence is an idle close (idle_timeout_close).
    if i > 0
        && t.events
            .get(i - 1)
            .is_some_and(|e| matches!(e.kind, EventKind::Idle { .. }) && e.frame == rst.frame)
    {
        return;
    }
    let before = &t.events[..i];
    // A reset after the resetting side (or the peer) already closed is teardown, not an abort.
    if before.iter().any(|e| matches!(e.kind, EventKind::Fin)) {
        return;
    }
    // After either side's close_notify the reset is teardown too.
    if before.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::EncryptedAlert { .. } | EventKind::Alert { description: 0, .. }
        )
    }) {
        return;
    }
    let last_data = before.iter().rev().find(|e| is_data(e));
    let (rule, sev) = match rst.dir {
        Dir::ServerToClient => (RuleId::ServerResetMidstream, Severity::Error),
        Dir::ClientToServer => (RuleId::ClientResetMidstream, Severity::Warning),
    };
    let summary = format!(
        "the {} reset the established TLS connection (RST, frame {}) without closing it first{}; {} and {} application bytes had flowed client→server / server→client",
        rst.dir.sender(),
        rst.frame,
        last_data.map_or(String::new(), |d| format!(
            ", {} after the last data from the {} (frame {})",
            fmt_secs(rst.time.secs_since(d.time)),
            d.dir.sender(),
            d.frame
        )),
        t.c2s.app_bytes,
        t.s2c.app_bytes
    );
    let mut ev = vec![rst];
    if let Some(d) = last_data {
        ev.insert(0, d);
    }
    out.push(Finding::new(rule, summary, &ev).severity(sev));
}

/// Why the capture does not show the whole connection, if it does not.
pub fn incompleteness(t: &Timeline) -> Option<String> {
    let mut why = Vec::new();
    let syn_only = t
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Syn { .. }))
        && !t.events.iter().any(|e| matches!(e.kind, EventKind::SynAck));
    // Starting after the SYN matters only when the TLS handshake is missing too.
    if t.midstream && t.client_hello().is_none() {
        why.push(
            "the capture starts after the connection was opened (no SYN, no ClientHello)"
                .to_string(),
        );
    }
    if !syn_only && (t.c2s.packets == 0 || t.s2c.packets == 0) {
        let missing = if t.c2s.packets == 0 {
            "client→server"
        } else {
            "server→client"
        };
        why.push(format!(
            "only one direction was captured (no {missing} packets)"
        ));
    }
    let gap = t.c2s.gap_bytes + t.s2c.gap_bytes;
    if gap > 0 {
        why.push(format!(
            "{gap} {} missing from the capture (loss at the capture point or snaplen)",
            if gap == 1 { "byte is" } else { "bytes are" }
        ));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Whether an incomplete connection without other findings is still worth a line.
pub fn worth_reporting_incomplete(t: &Timeline) -> bool {
    t.c2s.bytes + t.s2c.bytes > 0
}

pub fn capture_incomplete(t: &Timeline, reason: &str) -> Finding {
    // Where the capture first shows a loss (a gap's frame: the segment after the hole, or the
    // acknowledgement of bytes never captured, declared when the connection ends but cited at
    // its own earlier frame); else where the connection starts.
    let first: Vec<&Event> = t
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Gap { .. }))
        .min_by_key(|e| e.frame)
        .or(t.events.first())
        .into_iter()
        .collect();
    let mut f = Finding::new(
        RuleId::CaptureIncomplete,
        format!(
            "{reason}; conclusions about tcp.stream eq {} are less certain",
            t.stream
        ),
        &first,
    );
    if f.frames.is_empty() {
        f.frames = vec![t.first_frame];
        f.time = t.first_time;
    }
    f
}
