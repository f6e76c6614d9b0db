//! `missing_sni`: a ClientHello without SNI that the server refused.

use super::{Context, Finding, RuleId, fmt_secs};
use crate::timeline::{AlertLevel, Dir, EventKind, Timeline};
use crate::tls::{RecordFormat, alert_name};

pub fn check(t: &Timeline, ctx: &Context, out: &mut Vec<Finding>) {
    let Some((ch_ev, ch)) = t.client_hello() else {
        return;
    };
    if ch.sni.is_some() || ch.record_format == RecordFormat::Sslv2 {
        return;
    }
    if t.events
        .iter()
        .any(|e| matches!(e.kind, EventKind::ServerHello(_)))
    {
        return;
    }
    // The server's first reaction after the ClientHello.
    let Some(reaction) = t.events.iter().find(|e| {
        e.frame >= ch_ev.frame
            && e.dir == Dir::ServerToClient
            && matches!(
                e.kind,
                EventKind::Alert { .. } | EventKind::Fin | EventKind::Rst
            )
    }) else {
        return;
    };
    let server = t.server;
    let how = match &reaction.kind {
        EventKind::Alert {
            level: AlertLevel::Fatal,
            description: d @ (40 | 112),
        } => format!(
            "answered it with a fatal {} alert (frame {})",
            alert_name(*d),
            reaction.frame
        ),
        EventKind::Alert { .. } => return,
        EventKind::Fin => format!(
            "closed the connection (FIN, frame {}) without a ServerHello",
            reaction.frame
        ),
        EventKind::Rst => format!(
            "reset the connection (RST, frame {}) without a ServerHello",
            reaction.frame
        ),
        _ => return,
    };
    let waited = reaction.time.secs_since(ch_ev.time);
    let mut summary = format!(
        "ClientHello without SNI (frame {}) to {server}; the server {how} after {}",
        ch_ev.frame,
        fmt_secs(waited)
    );
    let mut detail = None;
    if let Some(s) = ctx.server(&server).filter(|s| s.sni_ok > 0)
        && let Some((stream, sni)) = &s.sni_ok_example
    {
        summary.push_str(&format!(
                "; {} other connection(s) to the same server with SNI succeeded (e.g. tcp.stream eq {stream}, SNI {sni})",
                s.sni_ok
            ));
        detail = Some(format!(
            "In this capture the same server completed {} handshake(s) whose ClientHello carried SNI (e.g. `{sni}` in tcp.stream eq {stream}), so it is the missing SNI that it refuses. Configure the client to send `{sni}` as SNI.",
            s.sni_ok
        ));
    }
    let explains = match reaction.kind {
        EventKind::Alert { .. } => vec![reaction.frame],
        _ => Vec::new(),
    };
    let mut f = Finding::new(RuleId::MissingSni, summary, &[ch_ev, reaction]).explains(explains);
    if let Some(d) = detail {
        f = f.detail(d);
    }
    out.push(f);
}
