//! Stage 6: reports. One model ([`FileReport`], [`ConnReport`]) and one renderer per format:
//! [`table`] (the human report), [`json`] (the JSON document; wire types kept apart,
//! documented in `docs/json.md`), [`jsonl`] (JSON Lines: the same bytes serde writes for the
//! wire types, written directly for speed).

pub mod document;
pub mod json;
pub mod jsonl;
pub mod markdown;
pub mod summary;
pub mod table;

use crate::capture::Timestamp;
use crate::rules::{Finding, Severity};
use crate::timeline::{Dir, DirStats, EventKind, Outcome, Timeline};
use crate::tls::cipher_name;

/// One HTTP request and its response (either may be missing).
#[derive(Clone, Debug)]
pub struct HttpExchange {
    pub request: Option<(u64, Timestamp, crate::http::RequestInfo)>,
    pub response: Option<(u64, Timestamp, crate::http::ResponseInfo)>,
}

/// WebSocket traffic after an upgrade.
#[derive(Clone, Debug, Default)]
pub struct WsSummary {
    pub frames_c2s: u64,
    pub frames_s2c: u64,
    pub compressed_frames: u64,
    /// (frame, direction, close code)
    pub closes: Vec<(u64, Dir, Option<u16>)>,
}

/// An [`HttpExchange`] borrowed from the timeline (what the rules read).
#[derive(Clone, Copy, Debug)]
pub struct HttpExchangeRef<'a> {
    pub request: Option<(u64, Timestamp, &'a crate::http::RequestInfo)>,
    pub response: Option<(u64, Timestamp, &'a crate::http::ResponseInfo)>,
}

/// The exchanges of a connection, owned (for the report).
pub fn http_exchanges(t: &Timeline) -> Vec<HttpExchange> {
    pair_http(t)
        .into_iter()
        .map(|x| HttpExchange {
            request: x.request.map(|(f, at, r)| (f, at, r.clone())),
            response: x.response.map(|(f, at, r)| (f, at, r.clone())),
        })
        .collect()
}

/// Pairs requests with responses in order (keep-alive, pipelining).
pub fn pair_http(t: &Timeline) -> Vec<HttpExchangeRef<'_>> {
    let mut out: Vec<HttpExchangeRef<'_>> = Vec::new();
    let mut waiting: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    for e in &t.events {
        match &e.kind {
            EventKind::HttpRequest(r) => {
                waiting.push_back(out.len());
                out.push(HttpExchangeRef {
                    request: Some((e.frame, e.time, &**r)),
                    response: None,
                });
            }
            EventKind::HttpResponse(r) => {
                let interim = (100..200).contains(&r.status) && r.status != 101;
                let slot = if interim {
                    waiting.front().copied()
                } else {
                    waiting.pop_front()
                };
                match slot {
                    Some(i) if !interim => {
                        if let Some(x) = out.get_mut(i) {
                            x.response = Some((e.frame, e.time, &**r));
                        }
                    }
                    Some(_) => {}
                    None => out.push(HttpExchangeRef {
                        request: None,
                        response: Some((e.frame, e.time, &**r)),
                    }),
                }
            }
            _ => {}
        }
    }
    out
}

/// WebSocket frame counts, if the connection carried any.
pub fn ws_summary(t: &Timeline) -> Option<WsSummary> {
    let upgraded = t
        .events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::HttpResponse(r) if r.status == 101));
    if !upgraded {
        return None;
    }
    let mut s = WsSummary::default();
    for e in &t.events {
        if let EventKind::WsFrame(f) = &e.kind {
            match e.dir {
                Dir::ClientToServer => s.frames_c2s += 1,
                Dir::ServerToClient => s.frames_s2c += 1,
            }
            if f.rsv1 {
                s.compressed_frames += 1;
            }
            if f.opcode == 8 {
                s.closes.push((e.frame, e.dir, f.close_code));
            }
        }
    }
    Some(s)
}

/// One connection as reported.
#[derive(Clone, Debug)]
pub struct ConnReport {
    pub stream: u64,
    pub client: std::net::SocketAddr,
    pub server: std::net::SocketAddr,
    /// Shared with the ClientHello it comes from.
    pub sni: Option<std::sync::Arc<str>>,
    /// The ALPN protocol the server selected.
    pub alpn: Option<crate::tls::AlpnName>,
    pub alpn_offered: crate::tls::AlpnList,
    pub tls_version: Option<crate::tls::TlsVersion>,
    pub cipher: Option<std::borrow::Cow<'static, str>>,
    pub outcome: Outcome,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_time: Timestamp,
    pub last_time: Timestamp,
    pub transcript: crate::timeline::Transcript,
    pub c2s: DirStats,
    pub s2c: DirStats,
    pub findings: Vec<Finding>,
    pub http: Vec<HttpExchange>,
    pub websocket: Option<WsSummary>,
}

impl ConnReport {
    pub fn new(t: &Timeline, findings: Vec<Finding>) -> ConnReport {
        let ch = t.client_hello().map(|(_, ch)| ch);
        let sh = t.server_hello().map(|(_, sh)| sh);
        ConnReport {
            stream: t.stream,
            client: t.client,
            server: t.server,
            sni: ch.and_then(|c| c.sni.clone()),
            alpn: sh.and_then(|s| s.alpn.clone()),
            alpn_offered: ch.map(|c| c.alpn.clone()).unwrap_or_default(),
            tls_version: sh.map(|s| s.version),
            cipher: sh.filter(|s| s.cipher != 0).map(|s| cipher_name(s.cipher)),
            outcome: t.outcome(),
            first_frame: t.first_frame,
            last_frame: t.last_frame,
            first_time: t.first_time,
            last_time: t.last_time,
            transcript: t.transcript(),
            c2s: t.c2s,
            s2c: t.s2c,
            findings,
            http: http_exchanges(t),
            websocket: ws_summary(t),
        }
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// One capture file as reported.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    pub path: String,
    pub format: Option<&'static str>,
    pub compressed: bool,
    pub link_types: Vec<i32>,
    pub packets: u64,
    pub tcp_streams: u64,
    pub warnings: Vec<String>,
    /// The file could not be read at all.
    pub error: Option<String>,
    pub connections: Vec<ConnReport>,
}

impl FileReport {
    pub fn findings(&self) -> impl Iterator<Item = (&ConnReport, &Finding)> {
        self.connections
            .iter()
            .flat_map(|c| c.findings.iter().map(move |f| (c, f)))
    }
    pub fn count(&self, s: Severity) -> usize {
        self.findings().filter(|(_, f)| f.severity == s).count()
    }
}

/// Formats a capture time as UTC `YYYY-MM-DD HH:MM:SS.ffffff`.
pub fn utc(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1_000_000_000);
    let micros = t.0.rem_euclid(1_000_000_000) / 1000;
    let sod = secs.rem_euclid(86_400);
    // A nanosecond clock spans 1677-2262: four-digit years.
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let mut out = String::with_capacity(26);
    for (v, width, after) in [
        (y, 4, Some('-')),
        (m, 2, Some('-')),
        (d, 2, Some(' ')),
        (sod / 3600, 2, Some(':')),
        ((sod % 3600) / 60, 2, Some(':')),
        (sod % 60, 2, Some('.')),
        (micros, 6, None),
    ] {
        padded(&mut out, v, width);
        out.extend(after);
    }
    out
}

/// The UTC date `YYYY-MM-DD` of a time in seconds (certificate validity, which a nanosecond
/// [`Timestamp`] cannot hold past 2262).
pub fn utc_date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{m:02}-{d:02}");
    }
    let mut out = String::with_capacity(10);
    padded(&mut out, y, 4);
    out.push('-');
    padded(&mut out, m, 2);
    out.push('-');
    padded(&mut out, d, 2);
    out
}

/// `v` (non-negative) with leading zeros to `width` digits. By hand: `format!` with widths
/// costs ~3,000 instructions a call, and every certificate finding prints dates.
fn padded(out: &mut String, v: i64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(Timestamp(0)), "1970-01-01 00:00:00.000000");
        assert_eq!(
            utc(Timestamp(1_704_067_200_500_000_000)),
            "2024-01-01 00:00:00.500000"
        );
        assert_eq!(
            utc(Timestamp(951_782_400_000_000_000)),
            "2000-02-29 00:00:00.000000"
        );
        // The ends of the nanosecond clock.
        assert_eq!(utc(Timestamp(i64::MAX)), "2262-04-11 23:47:16.854775");
        assert_eq!(utc(Timestamp(-1_000)), "1969-12-31 23:59:59.999999");
        assert_eq!(utc(Timestamp(i64::MIN)), "1677-09-21 00:12:43.145224");
    }

    /// Certificate dates come in seconds and go past the nanosecond clock (9999-12-31 is a
    /// common notAfter); within it they are utc()'s first ten characters.
    #[test]
    fn utc_dates_from_seconds() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(253_402_300_799), "9999-12-31");
        assert_eq!(utc_date(32_503_680_000), "3000-01-01");
        assert_eq!(utc_date(-62_167_219_200), "0000-01-01");
        assert_eq!(utc_date(-62_167_219_201), "-001-12-31");
        for secs in (-9_000_000_000i64..9_000_000_000).step_by(86_399 * 97) {
            let full = utc(Timestamp(secs * 1_000_000_000));
            assert_eq!(utc_date(secs), full.get(..10).unwrap_or_default(), "{secs}");
        }
    }
}
