//! Handshake outcome: version, cipher, ALPN, name, HelloRetryRequest, unanswered or reset
//! ClientHellos, TLS 1.3 client authentication.

use super::timeouts::nearest;
use super::{Context, Finding, RuleId, Severity, fmt_secs, has};
use crate::timeline::{AlertLevel, Dir, Event, EventKind, Kinds, Timeline};
use crate::tls::names::is_grease;
use crate::tls::{ClientHelloInfo, TlsVersion, alert_name, cipher_name};

pub fn check(t: &Timeline, ctx: &Context, out: &mut Vec<Finding>) {
    alert_based(t, ctx, out);
    hello_retry(t, out);
    unanswered(t, ctx, out);
    tls13_client_auth(t, out);
}

/// The versions the client offered, for summaries: "TLS 1.3, TLS 1.2".
pub fn offered_versions(ch: &ClientHelloInfo) -> String {
    let mut vs: Vec<TlsVersion> = ch.supported_versions().filter(|v| !v.is_grease()).collect();
    if vs.is_empty() {
        vs.push(ch.legacy_version);
    }
    vs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn suites(ch: &ClientHelloInfo) -> String {
    let names: Vec<String> = ch
        .cipher_suites()
        .iter()
        .filter(|c| !is_grease(**c) && **c != 0x00ff && **c != 0x5600)
        .take(12)
        .map(|c| cipher_name(*c).into_owned())
        .collect();
    let total = ch
        .cipher_suites()
        .iter()
        .filter(|c| !is_grease(**c))
        .count();
    if total > names.len() {
        format!("{} (+{} more)", names.join(", "), total - names.len())
    } else {
        names.join(", ")
    }
}

fn groups(ch: &ClientHelloInfo) -> String {
    ch.groups()
        .iter()
        .filter(|g| !is_grease(**g))
        .map(|g| match g {
            23 => "secp256r1".to_string(),
            24 => "secp384r1".to_string(),
            25 => "secp521r1".to_string(),
            29 => "x25519".to_string(),
            30 => "x448".to_string(),
            256 => "ffdhe2048".to_string(),
            0x11ec => "X25519MLKEM768".to_string(),
            0x6399 => "X25519Kyber768Draft00".to_string(),
            other => format!("0x{other:04x}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rules keyed on a plaintext alert during the handshake.
fn alert_based(t: &Timeline, ctx: &Context, out: &mut Vec<Finding>) {
    let ch = t.client_hello();
    // Asked only when an alert needs it (a context read is not free with `--jobs`).
    let ok_elsewhere = || {
        ctx.server(&t.server)
            .and_then(|s| s.ok_example.clone())
            .filter(|(stream, _, _)| *stream != t.stream)
    };
    let alerts = if t.has_any(Kinds::ALERT) {
        t.events.as_slice()
    } else {
        &[]
    };
    for e in alerts {
        let EventKind::Alert { level, description } = e.kind else {
            continue;
        };
        let before_sh = !t.events.iter().any(|x| {
            x.frame < e.frame
                && matches!(&x.kind, EventKind::ServerHello(sh) if !sh.hello_retry_request)
        });
        let who = e.dir.sender();
        let lvl = level.name();
        let finding = match description {
            70 | 86 => {
                let mut s = format!(
                    "{who} rejected the handshake with {lvl} {} ({description}) (frame {})",
                    alert_name(description),
                    e.frame
                );
                if let Some((_, c)) = ch {
                    s.push_str(&format!("; the client offered {}", offered_versions(c)));
                }
                if description == 86 {
                    s.push_str(
                        "; inappropriate_fallback: the client retried with a lower version than it supports (a downgrade after an earlier failure)",
                    );
                } else if let Some((stream, ver, _)) = &ok_elsewhere() {
                    s.push_str(&format!(
                        "; the server accepted {ver} from another client (tcp.stream eq {stream})"
                    ));
                }
                Some((RuleId::ProtocolVersionMismatch, s))
            }
            40 | 71
                if before_sh && e.dir == Dir::ServerToClient && !has(out, RuleId::MissingSni) =>
            {
                let Some((_, c)) = ch else { continue };
                if c.sni.is_none() {
                    continue;
                }
                let mut s = format!(
                    "server refused the ClientHello for {} with {} ({description}) (frame {}); the client offered {} suites: {}",
                    c.sni.as_deref().unwrap_or("?"),
                    alert_name(description),
                    e.frame,
                    c.cipher_suites().iter().filter(|x| !is_grease(**x)).count(),
                    suites(c)
                );
                let g = groups(c);
                if !g.is_empty() {
                    s.push_str(&format!("; groups: {g}"));
                }
                if let Some((stream, ver, cipher)) = &ok_elsewhere() {
                    s.push_str(&format!(
                        "; another connection to this server succeeded with {ver} / {cipher} (tcp.stream eq {stream})"
                    ));
                }
                Some((RuleId::NoSharedCipher, s))
            }
            120 => {
                let offered = ch.map(|(_, c)| c.alpn.join(", ")).unwrap_or_default();
                Some((
                    RuleId::AlpnMismatch,
                    format!(
                        "{who} rejected the handshake with no_application_protocol (120) (frame {}); the client offered ALPN [{offered}]",
                        e.frame
                    ),
                ))
            }
            112 => {
                let Some(sni) = ch.and_then(|(_, c)| c.sni.clone()) else {
                    continue;
                };
                if has(out, RuleId::MissingSni) {
                    continue;
                }
                Some((
                    RuleId::UnrecognizedName,
                    format!(
                        "{who} does not know the name {sni}: {lvl} unrecognized_name (112) (frame {})",
                        e.frame
                    ),
                ))
            }
            100 => Some((
                RuleId::RenegotiationRefused,
                format!(
                    "{who} refused to renegotiate: {lvl} no_renegotiation (100) (frame {})",
                    e.frame
                ),
            )),
            _ => None,
        };
        if let Some((rule, summary)) = finding {
            if has(out, rule) {
                continue;
            }
            let mut ev: Vec<&Event> = vec![e];
            if let Some((che, _)) = ch {
                ev.push(che);
            }
            let mut f = Finding::new(rule, summary, &ev).explains(vec![e.frame]);
            if rule == RuleId::UnrecognizedName && level == AlertLevel::Warning {
                f = f.severity(Severity::Warning);
            }
            out.push(f);
        }
    }
    alpn_silently_refused(t, out);
}

/// ALPN offered, none selected, and the client aborted before its Finished.
fn alpn_silently_refused(t: &Timeline, out: &mut Vec<Finding>) {
    if has(out, RuleId::AlpnMismatch) {
        return;
    }
    let (Some((_, ch)), Some((she, sh))) = (t.client_hello(), t.server_hello()) else {
        return;
    };
    if ch.alpn.is_empty() || sh.alpn.is_some() || sh.version.is_tls13() {
        return;
    }
    let client_finished = t
        .events
        .iter()
        .any(|e| e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::Finished { .. }));
    if client_finished {
        return;
    }
    let abort = t.events.iter().find(|e| {
        e.frame > she.frame
            && e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::Alert {
                    level: AlertLevel::Fatal,
                    ..
                } | EventKind::Fin
                    | EventKind::Rst
            )
    });
    let Some(abort) = abort else { return };
    // A certificate alert is the certificate rules' story.
    if matches!(
        abort.kind,
        EventKind::Alert {
            description: 42..=49,
            ..
        }
    ) {
        return;
    }
    out.push(
        Finding::new(
            RuleId::AlpnMismatch,
            format!(
                "the client offered ALPN [{}], the server selected none (ServerHello frame {}), and the client aborted (frame {})",
                ch.alpn.join(", "),
                she.frame,
                abort.frame
            ),
            &[she, abort],
        )
        .inferred(true),
    );
}

fn hello_retry(t: &Timeline, out: &mut Vec<Finding>) {
    let Some((i, hrr)) =
        t.position(|e| matches!(&e.kind, EventKind::ServerHello(sh) if sh.hello_retry_request))
    else {
        return;
    };
    let rest = t.after(i);
    let second = rest
        .iter()
        .find(|e| e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::ClientHello(_)));
    let real_sh = rest
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ServerHello(sh) if !sh.hello_retry_request));
    let alert = rest.iter().find(|e| {
        matches!(
            e.kind,
            EventKind::Alert { .. } | EventKind::EncryptedAlert { .. }
        )
    });
    let close = rest
        .iter()
        .find(|e| matches!(e.kind, EventKind::Fin | EventKind::Rst));
    let (summary, ev): (String, Vec<&Event>) = match (second, real_sh) {
        (_, Some(_)) => return,
        (None, _) => {
            let end = alert.or(close);
            (
                format!(
                    "server sent a HelloRetryRequest (frame {}) and the client never sent a second ClientHello{}",
                    hrr.frame,
                    end.map_or(" before the capture ended".to_string(), |e| format!(
                        "; the {} {} (frame {})",
                        e.dir.sender(),
                        describe(e),
                        e.frame
                    ))
                ),
                [Some(hrr), end].into_iter().flatten().collect(),
            )
        }
        (Some(ch2), None) => {
            let end = alert.or(close);
            if end.is_none() && t.last_time.secs_since(ch2.time) < 1.0 {
                return;
            }
            (
                format!(
                    "server sent a HelloRetryRequest (frame {}), the client retried (frame {}) but no ServerHello followed{}",
                    hrr.frame,
                    ch2.frame,
                    end.map_or(String::new(), |e| format!(
                        "; the {} {} (frame {})",
                        e.dir.sender(),
                        describe(e),
                        e.frame
                    ))
                ),
                [Some(hrr), Some(ch2), end].into_iter().flatten().collect(),
            )
        }
    };
    let explains = ev
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Alert { .. }))
        .map(|e| e.frame)
        .collect();
    out.push(Finding::new(RuleId::HelloRetryFailed, summary, &ev).explains(explains));
}

fn describe(e: &Event) -> String {
    match e.kind {
        EventKind::Alert { level, description } => {
            format!("sent {} alert {}", level.name(), alert_name(description))
        }
        EventKind::EncryptedAlert { .. } => "sent an encrypted alert".into(),
        EventKind::Fin => "closed (FIN)".into(),
        EventKind::Rst => "reset (RST)".into(),
        _ => "reacted".into(),
    }
}

/// ClientHello never answered: timeout, split-hello middlebox bug, or a reset.
fn unanswered(t: &Timeline, ctx: &Context, out: &mut Vec<Finding>) {
    let Some((ch_ev, ch)) = t.client_hello() else {
        return;
    };
    if t.any_server_hello() || has(out, RuleId::MissingSni) {
        return;
    }
    let after: Vec<&Event> = t.events.iter().filter(|e| e.frame >= ch_ev.frame).collect();
    // Anything TLS from the server means it answered (an alert is the alert rules' story).
    if after.iter().any(|e| {
        e.dir == Dir::ServerToClient
            && !matches!(
                e.kind,
                EventKind::Fin
                    | EventKind::Rst
                    | EventKind::Retransmission { .. }
                    | EventKind::Idle { .. }
                    | EventKind::ZeroWindow
                    | EventKind::WindowOpen
            )
    }) {
        return;
    }
    // The client continuing the handshake proves the server answered (one-sided capture).
    if after.iter().any(|e| {
        e.dir == Dir::ClientToServer
            && matches!(
                e.kind,
                EventKind::Handshake { .. }
                    | EventKind::ChangeCipherSpec
                    | EventKind::Finished { .. }
                    | EventKind::AppData { .. }
            )
    }) {
        return;
    }
    let client_close = after.iter().find(|e| {
        e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::Fin | EventKind::Rst)
    });
    // The server's own reaction comes before the client gives up; after it, it is teardown.
    let before_client_close =
        |e: &&&Event| client_close.is_none_or(|c| e.frame < c.frame || e.time < c.time);
    let server_rst = after
        .iter()
        .filter(before_client_close)
        .find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Rst));
    let server_fin = after
        .iter()
        .filter(before_client_close)
        .find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Fin));
    let retrans: Vec<&&Event> = after
        .iter()
        .filter(|e| {
            e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::Retransmission { .. })
        })
        .collect();
    let split = ch.segments >= 2;
    let small_ok = ctx.server(&t.server).map_or(0, |s| s.small_hello_ok);

    if let Some(rst) = server_rst.filter(|r| client_close.is_none_or(|c| r.frame <= c.frame)) {
        if split {
            return split_finding(t, ch_ev, ch, rst, "reset", small_ok, out);
        }
        return reset_finding(t, ch_ev, rst, out);
    }
    if server_fin.is_some() {
        // The server closed without a word: not a timeout (and not an SNI problem: SNI present).
        return;
    }
    let (end, who) = match client_close {
        Some(c) => (
            c.time,
            format!(
                "the client gave up ({} frame {})",
                if matches!(c.kind, EventKind::Fin) {
                    "FIN,"
                } else {
                    "RST,"
                },
                c.frame
            ),
        ),
        None => (t.last_time, "the capture ended".to_string()),
    };
    let waited = end.secs_since(ch_ev.time);
    // A capture that simply stops right after a ClientHello proves nothing.
    if client_close.is_none() && retrans.is_empty() {
        return;
    }
    if waited < 1.0 && retrans.is_empty() {
        return;
    }
    if split {
        let last: &Event = client_close.copied().unwrap_or(ch_ev);
        return split_finding(t, ch_ev, ch, last, "never answered", small_ok, out);
    }
    let mut summary = format!(
        "ClientHello (frame {}) to {} was never answered: no ServerHello, no alert; {} after {}",
        ch_ev.frame,
        t.server,
        who,
        fmt_secs(waited)
    );
    if !retrans.is_empty() {
        summary.push_str(&format!(" and {} retransmission(s)", retrans.len()));
    }
    if let Some(k) = nearest(waited) {
        summary.push_str(&format!(" (matches {})", k.what));
    }
    let mut ev: Vec<&Event> = vec![ch_ev];
    ev.extend(retrans.iter().map(|e| **e));
    if let Some(c) = client_close {
        ev.push(c);
    }
    out.push(Finding::new(RuleId::HandshakeTimeout, summary, &ev).explains_silence());
}

fn split_finding(
    t: &Timeline,
    ch_ev: &Event,
    ch: &ClientHelloInfo,
    end: &Event,
    what: &str,
    small_ok: u32,
    out: &mut Vec<Finding>,
) {
    let retrans: Vec<&Event> = t
        .events
        .iter()
        .filter(|e| {
            e.frame > ch_ev.frame
                && e.dir == Dir::ClientToServer
                && matches!(e.kind, EventKind::Retransmission { .. })
        })
        .collect();
    let mut summary = format!(
        "ClientHello of {} bytes spread over {} TCP segments (completed in frame {}) was {}",
        ch.length, ch.segments, ch_ev.frame, what,
    );
    match end.kind {
        EventKind::Rst | EventKind::Fin => summary.push_str(&format!(
            " ({} frame {}, {} after the ClientHello)",
            if matches!(end.kind, EventKind::Rst) {
                "RST,"
            } else {
                "FIN,"
            },
            end.frame,
            fmt_secs(end.time.secs_since(ch_ev.time))
        )),
        _ => summary.push_str(&format!(
            " (nothing came back for {})",
            fmt_secs(t.last_time.secs_since(ch_ev.time))
        )),
    }
    if !retrans.is_empty() {
        summary.push_str(&format!(
            "; the client retransmitted {} time(s): the later segment(s) never got through",
            retrans.len()
        ));
    }
    if small_ok > 0 {
        summary.push_str(&format!(
            "; {small_ok} handshake(s) with a one-segment ClientHello to the same server succeeded"
        ));
    }
    let mut ev = vec![ch_ev];
    ev.extend(retrans);
    ev.push(end);
    let f = Finding::new(RuleId::SplitClienthelloUnanswered, summary, &ev).explains_silence();
    out.push(if small_ok > 0 {
        f
    } else {
        f.severity(Severity::Warning)
    });
}

fn reset_finding(t: &Timeline, ch_ev: &Event, rst: &Event, out: &mut Vec<Finding>) {
    let delay = rst.time.secs_since(ch_ev.time);
    let mut summary = format!(
        "the server side reset the connection (RST, frame {}) {} after the ClientHello (frame {}), before any ServerHello",
        rst.frame,
        fmt_secs(delay),
        ch_ev.frame
    );
    let mut clues = Vec::new();
    let rst_mark = t
        .rst_marks
        .iter()
        .find(|(d, m)| *d == Dir::ServerToClient && m.frame == rst.frame)
        .map(|(_, m)| *m);
    if let (Some(sa), Some(r)) = (t.synack_mark, rst_mark) {
        if sa.ttl != r.ttl {
            clues.push(format!(
                "its IP TTL is {} but the server's SYN/ACK (frame {}) had {}",
                r.ttl, sa.frame, sa.ttl
            ));
        }
        // IP-IDs differ between a kernel's SYN/ACK (often 0, DF) and its own RST, so they prove
        // nothing alone; they are quoted only next to a TTL difference.
        if let (Some(a), Some(b)) = (sa.ip_id, r.ip_id)
            && sa.ttl != r.ttl
            && a != b
        {
            clues.push(format!(
                "its IP-ID is {b:#06x} where the SYN/ACK's was {a:#06x}"
            ));
        }
    }
    let syn = t.find(|e| {
        matches!(
            e.kind,
            EventKind::Syn {
                retransmission: false
            }
        )
    });
    let synack = t.find(|e| matches!(e.kind, EventKind::SynAck));
    if let (Some(s), Some(sa)) = (syn, synack) {
        let rtt = sa.time.secs_since(s.time);
        if rtt > 0.002 && delay < rtt / 2.0 {
            clues.push(format!(
                "it came {} after the ClientHello, faster than the server's round trip ({})",
                fmt_secs(delay),
                fmt_secs(rtt)
            ));
        }
    }
    let injected = !clues.is_empty();
    if injected {
        summary.push_str(&format!(
            "; it looks injected by a middlebox (SNI filtering?): {}",
            clues.join("; ")
        ));
    }
    out.push(
        Finding::new(RuleId::ResetAfterClienthello, summary, &[ch_ev, rst]).inferred(injected),
    );
}

/// The most encrypted records a TLS 1.3 server's flight has after its first one
/// (EncryptedExtensions): CertificateRequest, Certificate, CertificateVerify and Finished. More
/// means the server went on (tickets, a response) and so had the client's Finished, which the
/// capture lost.
const TLS13_FLIGHT_MAX_RECORDS: u32 = 4;

/// The client closed (FIN or RST) after the server's whole handshake flight, without an alert,
/// without finishing the handshake and without sending anything else first, the server having
/// neither closed nor complained. Runs after the certificate and TCP checks: a close that
/// `client_rejected_certificate` (the certificate was visible) or a stall (the server still
/// retransmitting its flight) explains is theirs.
pub fn check_client_abort(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    if !t.has_any(Kinds::FIN | Kinds::RST) || t.handshake_complete() {
        return;
    }
    let (Some((sh_ev, sh)), Some(_)) = (t.server_hello(), t.client_hello()) else {
        return;
    };
    let tls13 = sh.version.is_tls13();
    // Roles as TLS sees them; and in TLS <= 1.2 a visible Certificate makes any close after it
    // client_rejected_certificate's.
    if sh_ev.dir != Dir::ServerToClient
        || (!tls13
            && t.has_any(Kinds::CERTIFICATE)
            && t.find(|e| {
                e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Certificate(_))
            })
            .is_some())
    {
        return;
    }
    // The client's first close: one before the server's flight was complete was no answer to
    // it (a client that abandons its connection right after the ClientHello, whose kernel
    // then resets what the server still sends). Positions in the event list, not frames: a
    // segment carries several events.
    let Some((ci, close)) = t.position(|e| {
        e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::Fin | EventKind::Rst)
    }) else {
        return;
    };
    let Some(si) = t.events.iter().position(|e| std::ptr::eq(e, sh_ev)) else {
        return;
    };
    let between = |from: usize| t.events.iter().enumerate().take(ci).skip(from);
    // The end of the server's flight: its Finished (TLS 1.3: its first encrypted record, or an
    // abbreviated TLS 1.2 handshake) or ServerHelloDone.
    let Some((fi, flight_end)) = between(si + 1).find(|(_, e)| {
        e.dir == Dir::ServerToClient
            && match e.kind {
                EventKind::Finished { .. } => true,
                EventKind::Handshake { msg_type: 14 } => !tls13,
                _ => false,
            }
    }) else {
        return;
    };
    // The rest of a TLS 1.3 flight: the encrypted records right after its first one.
    let tail = between(fi + 1)
        .find(|(_, e)| e.dir == Dir::ServerToClient && !matches!(e.kind, EventKind::Idle { .. }))
        .filter(|(_, e)| tls13 && matches!(e.kind, EventKind::AppData { .. }));
    let tail_records = match tail.map(|(_, e)| &e.kind) {
        Some(EventKind::AppData { records, .. }) => *records,
        _ => 0,
    };
    // Anything either side did before the close tells another story: the client went on after
    // the flight (its handshake messages, a heartbeat, data) or said why (an alert); the server
    // complained (even with a warning) or closed, was still retransmitting (the client may not
    // have had the flight), or sent more than its flight (then it had the client's Finished,
    // which the capture lost).
    let quiet = |e: &Event| {
        matches!(
            e.kind,
            EventKind::Idle { .. } | EventKind::ZeroWindow | EventKind::WindowOpen
        )
    };
    let other = tail_records > TLS13_FLIGHT_MAX_RECORDS
        || between(si + 1).any(|(i, e)| match e.dir {
            Dir::ClientToServer => i > fi && !quiet(e),
            Dir::ServerToClient => {
                matches!(
                    e.kind,
                    EventKind::Alert { .. }
                        | EventKind::EncryptedAlert { .. }
                        | EventKind::Fin
                        | EventKind::Rst
                        | EventKind::Retransmission { .. }
                ) || (i > fi && tail.is_none_or(|(ti, _)| i != ti) && !quiet(e))
            }
        });
    if other
        || out.iter().any(|f| {
            f.frames.contains(&close.frame)
                || matches!(
                    f.rule,
                    RuleId::ClientRejectedCertificate
                        | RuleId::HandshakeStallRetransmits
                        | RuleId::ZeroWindowStall
                )
        })
    {
        return;
    }
    let last_frame = match tail.map(|(_, e)| &e.kind) {
        Some(EventKind::AppData { last_frame, .. }) => (*last_frame).min(close.frame),
        _ => flight_end.frame,
    };
    let waited = close.time.secs_since(flight_end.time);
    let (how, rst) = if matches!(close.kind, EventKind::Rst) {
        ("reset", "RST")
    } else {
        ("closed", "FIN")
    };
    let flight = if sh_ev.frame == last_frame {
        format!("frame {last_frame}")
    } else {
        format!("frames {}-{last_frame}", sh_ev.frame)
    };
    let mut summary = format!(
        "the client {how} the connection ({rst}, frame {}) {} after the server's handshake flight ({flight}), without an alert and without finishing the {} handshake",
        close.frame,
        fmt_secs(waited),
        sh.version
    );
    // Resumed sessions (TLS <= 1.2 never gets here with a Certificate) exchange no certificate.
    let certificate = tls13 && !sh.resumed;
    let waited_long = waited >= 1.0;
    summary.push_str(match (certificate, waited_long) {
        (true, false) => {
            "; the server's certificate is encrypted in TLS 1.3, so which one the client refused is not visible, but it decided at once: most likely it rejected the certificate without saying so, or the application cancelled"
        }
        (true, true) => {
            "; it waited first: a client-side handshake timeout, or the application cancelled (the server's certificate is encrypted in TLS 1.3)"
        }
        (false, false) => {
            "; no certificate was exchanged (a resumed session), so it was no certificate rejection: the application cancelled, or the client gave up on the resumed session"
        }
        (false, true) => {
            "; no certificate was exchanged (a resumed session) and the client waited first: a client-side handshake timeout, or the application cancelled"
        }
    });
    out.push(
        Finding::new(RuleId::ClientAbortedHandshake, summary, &[sh_ev, close])
            .frame(last_frame)
            .explains(vec![close.frame])
            .explains_silence()
            .inferred(true),
    );
}

/// TLS 1.3, request sent, server resets or closes without answering.
fn tls13_client_auth(t: &Timeline, out: &mut Vec<Finding>) {
    let Some((_, sh)) = t.server_hello() else {
        return;
    };
    if !sh.version.is_tls13() || !t.handshake_complete() {
        return;
    }
    let Some((i, req)) =
        t.position(|e| e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::AppData { .. }))
    else {
        return;
    };
    let rest = t.after(i);
    let server_data: u64 = rest
        .iter()
        .take_while(|e| !matches!(e.kind, EventKind::Rst | EventKind::Fin))
        .filter_map(|e| match e.kind {
            EventKind::AppData { bytes, .. } if e.dir == Dir::ServerToClient => Some(bytes),
            _ => None,
        })
        .sum();
    let Some(abort) = rest.iter().find(|e| {
        e.dir == Dir::ServerToClient
            && matches!(
                e.kind,
                EventKind::Rst | EventKind::Fin | EventKind::EncryptedAlert { .. }
            )
    }) else {
        return;
    };
    let delay = abort.time.secs_since(req.time);
    // The server's first close must be the reset itself, with no response before it (anything
    // beyond a session ticket or two, or — when decrypted — an HTTP response head).
    let answered = rest
        .iter()
        .take_while(|e| e.frame <= abort.frame)
        .any(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::HttpResponse(_)));
    if server_data > 600 || delay > 5.0 || answered || !matches!(abort.kind, EventKind::Rst) {
        return;
    }
    let ch = t.client_hello().map(|(_, c)| c);
    let pha = ch.is_some_and(|c| c.extensions().contains(&49));
    let summary = format!(
        "TLS 1.3: the client sent its request (frame {}) and the server aborted {} later ({} frame {}) without answering; the ClientHello {} post_handshake_auth",
        req.frame,
        fmt_secs(delay),
        if matches!(abort.kind, EventKind::Rst) {
            "RST,"
        } else {
            "close,"
        },
        abort.frame,
        if pha { "offered" } else { "did not offer" }
    );
    out.push(
        Finding::new(RuleId::Tls13ClientAuthUnsupported, summary, &[req, abort])
            .inferred(true)
            .explains_resets(),
    );
}
