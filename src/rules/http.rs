//! HTTP and WebSocket above TLS/TCP: HTTP.sys answering for a missing site, WebSockets that
//! go silent after the upgrade or whose handshake was rewritten, proxy errors (correlated with
//! the upstream leg when the capture has it), Host vs SNI.

use super::{Context, Finding, RuleId, Severity, fmt_secs, has};
use crate::http::websocket::expected_accept;
use crate::report::pair_http;
use crate::timeline::{Dir, Event, EventKind, Kinds, Timeline};

pub fn check(t: &Timeline, _ctx: &Context, out: &mut Vec<Finding>) {
    // Each part needs events most connections (TLS ones) do not have.
    if t.has_any(Kinds::NOT_TLS) {
        plaintext_to_tls_port(t, out);
    }
    if t.has_any(Kinds::HTTP_RESPONSE) {
        httpsys(t, out);
        websocket(t, out);
    }
    if t.has_any(Kinds::HTTP_REQUEST) {
        host_sni(t, out);
    }
}

/// Ports where TLS starts with the first byte (no STARTTLS): HTTPS, SMTPS, NNTPS, LDAPS,
/// DNS over TLS, FTPS, TELNETS, IMAPS, POP3S, LDAPS-GC, SIPS, WinRM-HTTPS, IRCS, MQTTS, ...
const TLS_PORTS: &[u16] = &[
    443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 3269, 4443, 5061, 5986, 6697, 8443,
    8883, 9443,
];

fn plaintext_to_tls_port(t: &Timeline, out: &mut Vec<Finding>) {
    let Some(first) = t
        .events
        .iter()
        .find(|e| e.dir == Dir::ClientToServer && matches!(e.kind, EventKind::NotTls { .. }))
    else {
        return;
    };
    if t.client_hello().is_some() {
        return;
    }
    let server_tls: Option<&Event> = t.events.iter().find(|e| {
        e.dir == Dir::ServerToClient
            && matches!(
                e.kind,
                EventKind::Alert { .. }
                    | EventKind::ServerHello(_)
                    | EventKind::EncryptedAlert { .. }
            )
    });
    let port = t.server.port();
    if !TLS_PORTS.contains(&port) && server_tls.is_none() {
        return;
    }
    let EventKind::NotTls { preview } = &first.kind else {
        return;
    };
    let line = preview.split("..").next().unwrap_or(preview);
    let mut summary = format!(
        "the client sent plain text (`{}`, frame {}) to {}, {}",
        line.trim_end_matches('.'),
        first.frame,
        t.server,
        if TLS_PORTS.contains(&port) {
            format!("and port {port} speaks TLS")
        } else {
            "a port that answers in TLS".to_string()
        }
    );
    let mut ev: Vec<&Event> = vec![first];
    let resp = t.events.iter().find_map(|e| match &e.kind {
        EventKind::HttpResponse(r) if e.dir == Dir::ServerToClient => Some((e, r.as_ref())),
        _ => None,
    });
    if let Some((re, r)) = resp {
        summary.push_str(&format!(
            "; the server answered {} {} (frame {}{})",
            r.status,
            r.reason,
            re.frame,
            r.server
                .as_deref()
                .map_or(String::new(), |s| format!(", Server: {s}"))
        ));
        ev.push(re);
    } else if let Some(a) = server_tls {
        summary.push_str(&format!("; the server answered in TLS (frame {})", a.frame));
        ev.push(a);
    } else if let Some(c) = t
        .events
        .iter()
        .find(|e| e.dir == Dir::ServerToClient && matches!(e.kind, EventKind::Fin | EventKind::Rst))
    {
        summary.push_str(&format!(
            "; the server closed the connection (frame {})",
            c.frame
        ));
        ev.push(c);
    }
    out.push(Finding::new(RuleId::PlaintextToTlsPort, summary, &ev));
}

fn host_only(h: &str) -> String {
    let h = h.trim().trim_end_matches('.');
    let h = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        h.rsplit_once(':').map_or(h, |(a, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                a
            } else {
                h
            }
        })
    };
    h.to_ascii_lowercase()
}

fn find_event(t: &Timeline, frame: u64, want_request: bool) -> Option<&Event> {
    t.events.iter().find(|e| {
        e.frame == frame
            && if want_request {
                matches!(e.kind, EventKind::HttpRequest(_))
            } else {
                matches!(e.kind, EventKind::HttpResponse(_))
            }
    })
}

fn httpsys(t: &Timeline, out: &mut Vec<Finding>) {
    let xs = pair_http(t);
    let hits: Vec<_> = xs
        .iter()
        .filter(|x| {
            x.response.as_ref().is_some_and(|(_, _, r)| {
                matches!(r.status, 404 | 503)
                    && r.server
                        .as_deref()
                        .is_some_and(|s| s.to_ascii_lowercase().starts_with("microsoft-httpapi/"))
            })
        })
        .collect();
    let Some(first) = hits.first() else { return };
    let Some((rframe, _, resp)) = &first.response else {
        return;
    };
    let mut ev: Vec<&Event> = Vec::new();
    let mut summary = format!(
        "HTTP.sys itself answered {} {} (frame {}, Server: {})",
        resp.status,
        resp.reason,
        rframe,
        resp.server.as_deref().unwrap_or("")
    );
    if let Some((qframe, _, req)) = &first.request {
        summary.push_str(&format!(
            " to {} {} (Host {}, frame {})",
            req.method,
            req.target,
            req.host.as_deref().unwrap_or("-"),
            qframe
        ));
        ev.extend(find_event(t, *qframe, true));
    }
    ev.extend(find_event(t, *rframe, false));
    summary.push_str(match resp.status {
        503 => ": the application pool behind the URL is stopped, crashed or its queue is full",
        _ => ": no IIS site/binding is registered for this host/IP/port (site stopped or binding missing)",
    });
    if hits.len() > 1 {
        summary.push_str(&format!(
            "; {} such responses on this connection",
            hits.len()
        ));
    }
    if let Some(sni) = t.sni() {
        summary.push_str(&format!("; TLS SNI was {sni}"));
    }
    out.push(Finding::new(RuleId::HttpsysNoSite, summary, &ev));
}

fn websocket(t: &Timeline, out: &mut Vec<Finding>) {
    let Some((i, up)) =
        t.position(|e| matches!(&e.kind, EventKind::HttpResponse(r) if r.status == 101))
    else {
        return;
    };
    let EventKind::HttpResponse(resp) = &up.kind else {
        return;
    };
    // The request that asked for it.
    let req = t.events[..i].iter().rev().find_map(|e| match &e.kind {
        EventKind::HttpRequest(r) => Some((e, r.as_ref())),
        _ => None,
    });
    if let (Some((qe, q)), Some(accept)) = (req, resp.ws_accept.as_deref())
        && let Some(key) = q.ws_key.as_deref()
    {
        let want = expected_accept(key);
        if want != accept.trim() {
            out.push(Finding::new(
                    RuleId::WebsocketAcceptMismatch,
                    format!(
                        "the 101 (frame {}) carries Sec-WebSocket-Accept {} but the request's key {} (frame {}) requires {}: the handshake was rewritten on the way",
                        up.frame,
                        accept.trim(),
                        key.trim(),
                        qe.frame,
                        want
                    ),
                    &[qe, up],
                ));
            return;
        }
    }
    let rest = t.after(i);
    let frames = |d: Dir| {
        rest.iter()
            .filter(|e| e.dir == d && matches!(e.kind, EventKind::WsFrame(_)))
            .count()
    };
    let (c2s, s2c) = (frames(Dir::ClientToServer), frames(Dir::ServerToClient));
    if c2s > 0 && s2c > 0 {
        return;
    }
    let compressed = rest
        .iter()
        .filter(|e| matches!(e.kind, EventKind::WsFrame(f) if f.rsv1))
        .count();
    let end = rest
        .iter()
        .find(|e| matches!(e.kind, EventKind::Fin | EventKind::Rst));
    let silent_for = end.map_or(t.last_time, |e| e.time).secs_since(up.time);
    let mut summary = match (c2s, s2c) {
        (0, 0) => format!(
            "after the 101 Switching Protocols (frame {}) no WebSocket frame went either way",
            up.frame
        ),
        (n, 0) => format!(
            "after the 101 Switching Protocols (frame {}) the client sent {n} frame(s){} and the server sent none",
            up.frame,
            if compressed > 0 {
                format!(" ({compressed} compressed: RSV1 set)")
            } else {
                String::new()
            }
        ),
        (_, n) => format!(
            "after the 101 Switching Protocols (frame {}) the server sent {n} frame(s) and the client sent none",
            up.frame
        ),
    };
    summary.push_str(&match end {
        Some(e) => format!(
            "; the {} {} {} later (frame {})",
            e.dir.sender(),
            if matches!(e.kind, EventKind::Rst) {
                "reset the connection"
            } else {
                "closed the connection"
            },
            fmt_secs(silent_for),
            e.frame
        ),
        None => format!(
            "; nothing for {} until the capture ended",
            fmt_secs(silent_for)
        ),
    });
    let deflate = resp
        .ws_extensions
        .as_deref()
        .is_some_and(|x| x.to_ascii_lowercase().contains("permessage-deflate"));
    let proxy: Vec<String> = [
        resp.via.as_ref().map(|v| format!("Via: {v}")),
        resp.x_powered_by
            .as_ref()
            .filter(|x| x.to_ascii_uppercase().contains("ARR"))
            .map(|x| format!("X-Powered-By: {x}")),
        resp.server
            .as_ref()
            .filter(|s| {
                let s = s.to_ascii_lowercase();
                s.contains("arr") || s.contains("proxy") || s.contains("gateway")
            })
            .map(|s| format!("Server: {s}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if deflate {
        summary.push_str("; permessage-deflate was negotiated");
        if !proxy.is_empty() {
            summary.push_str(&format!(
                " and a proxy relayed the upgrade ({}): it most likely cannot relay compressed frames — turn the extension off on the server or fix the proxy",
                proxy.join(", ")
            ));
        }
    } else if !proxy.is_empty() {
        summary.push_str(&format!(
            "; a proxy relayed the upgrade ({})",
            proxy.join(", ")
        ));
    }
    let mut ev: Vec<&Event> = Vec::new();
    if let Some((qe, _)) = req {
        ev.push(qe);
    }
    ev.push(up);
    ev.extend(
        rest.iter()
            .filter(|e| matches!(e.kind, EventKind::WsFrame(_)))
            .take(4),
    );
    if let Some(e) = end {
        ev.push(e);
    }
    out.push(Finding::new(RuleId::WebsocketNoFramesAfterUpgrade, summary, &ev).explains_silence());
}

fn host_sni(t: &Timeline, out: &mut Vec<Finding>) {
    let Some(sni) = t.sni() else { return };
    let sni_l = host_only(sni);
    for e in &t.events {
        if let EventKind::HttpRequest(r) = &e.kind
            && let Some(host) = r.host.as_deref()
        {
            let h = host_only(host);
            if !h.is_empty() && h != sni_l {
                let ch = t.client_hello().map(|(ev, _)| ev);
                let mut ev: Vec<&Event> = ch.into_iter().collect();
                ev.push(e);
                out.push(Finding::new(
                        RuleId::HostSniMismatch,
                        format!(
                            "the request (frame {}) is for Host {host} but the TLS SNI of this connection is {sni}: the server may pick the wrong site (421 Misdirected Request)",
                            e.frame
                        ),
                        &ev,
                    ));
                return;
            }
        }
    }
}

/// `proxy_error_status`, which needs the other connections' findings: run after every
/// connection of the batch has been checked and recorded in `ctx`.
pub fn correlate(t: &Timeline, ctx: &Context, out: &mut Vec<Finding>) {
    if !t.has_any(Kinds::HTTP_RESPONSE)
        || has(out, RuleId::ProxyErrorStatus)
        || has(out, RuleId::HttpsysNoSite)
    {
        return;
    }
    for x in pair_http(t) {
        let Some((rframe, rtime, resp)) = &x.response else {
            continue;
        };
        let proxied = resp.via.is_some()
            || resp
                .x_powered_by
                .as_deref()
                .is_some_and(|p| p.to_ascii_uppercase().contains("ARR"));
        if !(resp.status == 502 || resp.status == 504 || (resp.status == 503 && proxied)) {
            continue;
        }
        let req = x.request.as_ref();
        let host = req.and_then(|(_, _, q)| q.host.as_deref()).map(host_only);
        let since = req.map_or(t.first_time, |(_, qt, _)| *qt);
        let cause = ctx.upstream_failure(t.stream, t.server.ip(), host.as_deref(), since, *rtime);
        let mut summary = format!(
            "{} answered {} {} (frame {}){}",
            resp.server.as_deref().unwrap_or("the proxy"),
            resp.status,
            resp.reason,
            rframe,
            req.map_or(String::new(), |(f, _, q)| format!(
                " to {} {} (Host {}, frame {})",
                q.method,
                q.target,
                q.host.as_deref().unwrap_or("-"),
                f
            ))
        );
        let waited = req.map(|(_, qt, _)| rtime.secs_since(*qt));
        if let Some(w) = waited {
            summary.push_str(&format!(" after {}", fmt_secs(w)));
        }
        match &cause {
            Some(c) => summary.push_str(&format!(
                "; the upstream connection tcp.stream eq {} ({} → {}) failed just before: {} at frame {} — {}",
                c.stream, c.client, c.server, c.rule, c.frame, c.summary
            )),
            None => summary.push_str("; the capture holds no upstream connection that explains it (capture on the proxy's upstream side too)"),
        }
        let mut ev: Vec<&Event> = Vec::new();
        if let Some((f, _, _)) = req {
            ev.extend(find_event(t, *f, true));
        }
        ev.extend(find_event(t, *rframe, false));
        let f = Finding::new(RuleId::ProxyErrorStatus, summary, &ev);
        out.push(
            if cause.is_some() {
                f
            } else {
                f.severity(Severity::Error)
            }
            .inferred(cause.is_some()),
        );
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::host_only;

    #[test]
    fn host_header_forms() {
        assert_eq!(host_only("Origin.Example.test:8443"), "origin.example.test");
        assert_eq!(host_only("[::1]:443"), "::1");
        assert_eq!(host_only("example.test."), "example.test");
    }
}
