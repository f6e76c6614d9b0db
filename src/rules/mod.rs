//! Stage 5: rules read a finished [`Timeline`] and return [`Finding`]s.
//!
//! One file per rule family (like Zeek's policy scripts); metadata lives in [`registry`].
//! A check gets the timeline and a [`Context`] of small per-server summaries (for facts across
//! connections, such as "the same server accepted a ClientHello with SNI"), never bytes.
//! Specific rules run first; a finding lists the alert frames it explains, and `tls_alert`
//! reports only the alerts no other finding explained.

pub mod alerts;
pub mod certificate;
pub mod handshake;
pub mod http;
pub mod idle;
pub mod posture;
pub mod registry;
pub mod renegotiation;
pub mod sni;
pub mod tcp;
pub mod timeouts;

use std::net::SocketAddr;

pub use registry::{Evidence, RULES, RuleId, RuleMeta, Severity};

use crate::capture::Timestamp;
use crate::timeline::{Event, Timeline};

/// One conclusion about one connection, with the frames that prove it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// One line filled with this connection's facts.
    pub summary: String,
    /// Facts specific to this connection, appended to the rule's explanation.
    pub detail: Option<String>,
    /// Evidence frames (1-based, ascending).
    pub frames: Vec<u64>,
    /// Time of the first evidence frame.
    pub time: Timestamp,
    pub evidence: Evidence,
    /// Alert frames this finding accounts for (so `tls_alert` stays quiet about them).
    pub explains: Vec<u64>,
    /// The connection's silences are part of this finding's story (so `idle_timeout_close`
    /// stays quiet).
    pub explains_silence: bool,
    /// The connection's resets are part of this finding's story (so the `*_reset_midstream` rules
    /// stay quiet).
    pub explains_resets: bool,
    /// Why the conclusion is less certain than usual (the capture misses part of the
    /// connection), if it is.
    pub low_confidence: Option<String>,
}

impl Finding {
    pub fn new(rule: RuleId, summary: String, events: &[&Event]) -> Finding {
        let mut frames: Vec<u64> = events.iter().map(|e| e.frame).collect();
        frames.sort_unstable();
        frames.dedup();
        let time = events.iter().map(|e| e.time).min().unwrap_or_default();
        Finding {
            rule,
            severity: rule.meta().severity,
            summary,
            detail: None,
            frames,
            time,
            evidence: Evidence::Seen,
            explains: Vec::new(),
            explains_silence: false,
            explains_resets: false,
            low_confidence: None,
        }
    }
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
    pub fn detail(mut self, d: String) -> Self {
        self.detail = Some(d);
        self
    }
    pub fn inferred(mut self, yes: bool) -> Self {
        if yes {
            self.evidence = Evidence::Inferred;
        }
        self
    }
    /// One more evidence frame, for a fact no single event carries (the last frame of a run
    /// of records, say); the frames stay ascending and distinct.
    pub fn frame(mut self, frame: u64) -> Self {
        if let Err(i) = self.frames.binary_search(&frame) {
            self.frames.insert(i, frame);
        }
        self
    }
    pub fn explains(mut self, frames: Vec<u64>) -> Self {
        self.explains = frames;
        self
    }
    /// See [`Finding::explains_silence`].
    pub fn explains_silence(mut self) -> Self {
        self.explains_silence = true;
        self
    }
    /// See [`Finding::explains_resets`].
    pub fn explains_resets(mut self) -> Self {
        self.explains_resets = true;
        self
    }
}

/// What one server (address:port) did across the capture's connections.
#[derive(Clone, Debug, Default)]
pub struct ServerSummary {
    /// Connections with SNI whose handshake completed.
    pub sni_ok: u32,
    /// One of them: (tcp.stream, SNI).
    pub sni_ok_example: Option<(u64, String)>,
    /// Completed handshakes.
    pub ok: u32,
    /// The first of them: (tcp.stream, version, cipher).
    pub ok_example: Option<(u64, String, String)>,
    /// Completed handshakes whose ClientHello fit in one TCP segment.
    pub small_hello_ok: u32,
}

/// A failed connection, remembered so that a proxy's 502 elsewhere can name it.
#[derive(Clone, Debug)]
pub struct FailureNote {
    pub stream: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Lower case (shared with the ClientHello when it was already).
    pub sni: Option<std::sync::Arc<str>>,
    pub time: Timestamp,
    pub frame: u64,
    pub rule: &'static str,
    pub summary: String,
}

/// How many failure notes the context keeps (the most recent ones).
const MAX_FAILURE_NOTES: usize = 4096;

/// Cross-connection context: small per-server summaries, fed as connections finish.
///
/// It also remembers whether a rule has read it since [`Context::take_consulted`]: with
/// `--jobs`, workers check each connection against an empty context, and only the connections
/// whose rules actually asked it something are checked again, in order, against the real one.
#[derive(Debug, Default)]
pub struct Context {
    servers: rustc_hash::FxHashMap<SocketAddr, ServerSummary>,
    failures: std::collections::VecDeque<FailureNote>,
    consulted: std::cell::Cell<bool>,
}

/// What [`Context::observe`] takes from a finished connection (small, so that a worker can
/// hand it over instead of the timeline).
#[derive(Clone, Debug)]
pub struct Observation {
    stream: u64,
    server: SocketAddr,
    /// The handshake completed: (version, cipher) when a ServerHello was seen, and whether the
    /// ClientHello fit in one TCP segment.
    complete: Option<(Option<(crate::tls::TlsVersion, u16)>, bool)>,
    /// The SNI of a completed handshake (shared with its ClientHello).
    sni_ok: Option<std::sync::Arc<str>>,
}

impl Observation {
    pub fn of(t: &Timeline) -> Observation {
        let complete = t.handshake_complete().then(|| {
            (
                t.server_hello().map(|(_, sh)| (sh.version, sh.cipher)),
                t.client_hello().is_some_and(|(_, ch)| ch.segments <= 1),
            )
        });
        Observation {
            stream: t.stream,
            server: t.server,
            sni_ok: complete.and(t.sni_shared()).cloned(),
            complete,
        }
    }
}

impl Context {
    /// Adds a finished connection to its server's summary.
    pub fn observe(&mut self, t: &Timeline) {
        self.observe_note(&Observation::of(t));
    }

    /// [`Context::observe`] from an [`Observation`].
    pub fn observe_note(&mut self, o: &Observation) {
        if let Some((hello, small)) = o.complete {
            let s = self.servers.entry(o.server).or_default();
            s.ok += 1;
            if let Some((version, cipher)) = hello
                && s.ok_example
                    .as_ref()
                    .is_none_or(|(st, _, _)| o.stream < *st)
            {
                s.ok_example = Some((
                    o.stream,
                    version.to_string(),
                    crate::tls::cipher_name(cipher).into_owned(),
                ));
            }
            if small {
                s.small_hello_ok += 1;
            }
        }
        if let Some(sni) = &o.sni_ok {
            let s = self.servers.entry(o.server).or_default();
            s.sni_ok += 1;
            if s.sni_ok_example
                .as_ref()
                .is_none_or(|(st, _)| o.stream < *st)
            {
                s.sni_ok_example = Some((o.stream, sni.to_string()));
            }
        }
    }

    pub fn server(&self, addr: &SocketAddr) -> Option<&ServerSummary> {
        self.consulted.set(true);
        self.servers.get(addr)
    }

    /// True when a rule read this context since the last call (and resets the mark).
    pub fn take_consulted(&self) -> bool {
        self.consulted.replace(false)
    }

    /// Remembers a connection's error findings (for proxy correlation).
    pub fn record(&mut self, t: &Timeline, findings: &[Finding]) {
        self.record_notes(failure_notes_of(t, findings));
    }

    /// [`Context::record`] from notes made by [`failure_notes`].
    pub fn record_notes(&mut self, notes: impl IntoIterator<Item = FailureNote>) {
        for n in notes {
            if self.failures.len() >= MAX_FAILURE_NOTES {
                self.failures.pop_front();
            }
            self.failures.push_back(n);
        }
    }

    /// The upstream failure that best explains a proxy error answered at `until` to a request
    /// made at `since`: a failing connection from the proxy's address, or for the same host
    /// name (SNI), in that window (the latest one).
    pub fn upstream_failure(
        &self,
        own_stream: u64,
        proxy_ip: std::net::IpAddr,
        host: Option<&str>,
        since: Timestamp,
        until: Timestamp,
    ) -> Option<FailureNote> {
        self.consulted.set(true);
        let slack = 500_000_000; // 0.5 s
        self.failures
            .iter()
            .filter(|n| n.stream != own_stream)
            .filter(|n| n.time.0 >= since.0 - slack && n.time.0 <= until.0 + slack)
            .filter(|n| n.client.ip() == proxy_ip || (host.is_some() && n.sni.as_deref() == host))
            .max_by_key(|n| n.time)
            .cloned()
    }
}

/// The notes [`Context::record`] keeps of a connection's findings: failures and timeouts only
/// (posture findings and notes about the capture explain no proxy error).
pub fn failure_notes(t: &Timeline, findings: &[Finding]) -> Vec<FailureNote> {
    failure_notes_of(t, findings).collect()
}

/// [`failure_notes`], one by one.
fn failure_notes_of<'a>(
    t: &'a Timeline,
    findings: &'a [Finding],
) -> impl Iterator<Item = FailureNote> + 'a {
    // Lower case once per connection (the ClientHello's own when it already is), on the first
    // note only: most connections have none.
    let mut sni: Option<Option<std::sync::Arc<str>>> = None;
    let mut sni = move || {
        sni.get_or_insert_with(|| {
            t.sni_shared().map(|s| {
                if s.bytes().any(|b| b.is_ascii_uppercase()) {
                    std::sync::Arc::from(s.to_ascii_lowercase())
                } else {
                    std::sync::Arc::clone(s)
                }
            })
        })
        .clone()
    };
    findings
        .iter()
        .filter(|f| {
            !matches!(
                f.rule,
                RuleId::ProxyErrorStatus
                    | RuleId::CaptureIncomplete
                    | RuleId::DeprecatedProtocol
                    | RuleId::WeakCipher
                    | RuleId::InsecureRenegotiation
                    | RuleId::ResumptionRejected
                    | RuleId::Renegotiation
            )
        })
        .map(move |f| FailureNote {
            stream: t.stream,
            client: t.client,
            server: t.server,
            sni: sni(),
            time: f.time,
            frame: f.frames.first().copied().unwrap_or(t.first_frame),
            rule: f.rule.as_str(),
            summary: f.summary.clone(),
        })
}

/// A rule family's check.
type Check = fn(&Timeline, &Context, &mut Vec<Finding>);

/// Families in the order they run: specific ones before `alerts`.
static CHECKS: &[(&str, Check)] = &[
    ("tcp", tcp::check_connect),
    ("sni", sni::check),
    ("handshake", handshake::check),
    ("certificate", certificate::check),
    ("renegotiation", renegotiation::check),
    ("http", http::check),
    ("tcp", tcp::check_established),
    // After the certificate and stall checks, which explain some client closes better.
    ("handshake", handshake::check_client_abort),
    ("idle", idle::check),
    ("posture", posture::check),
    ("alerts", alerts::check),
];

/// Runs every rule on a finished connection. When the capture misses part of the connection,
/// a `capture_incomplete` finding says so and every other finding is marked low-confidence.
pub fn run(t: &Timeline, ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for (_, check) in CHECKS {
        check(t, ctx, &mut out);
    }
    if let Some(reason) = tcp::incompleteness(t) {
        if !out.is_empty() {
            for f in &mut out {
                f.low_confidence = Some(reason.clone());
            }
            out.push(tcp::capture_incomplete(t, &reason));
        } else if tcp::worth_reporting_incomplete(t) {
            out.push(tcp::capture_incomplete(t, &reason));
        }
    }
    out
}

/// Rules that need other connections' findings (run after [`run`] and [`Context::record`]
/// for the whole batch of connections that finished together).
pub fn correlate(t: &Timeline, ctx: &Context, out: &mut Vec<Finding>) {
    let before = out.len();
    http::correlate(t, ctx, out);
    if out.len() > before
        && let Some(reason) = out.iter().find_map(|f| f.low_confidence.clone())
    {
        for f in out.iter_mut().skip(before) {
            f.low_confidence = Some(reason.clone());
        }
    }
}

/// Does a finding for `rule` already exist?
pub fn has(out: &[Finding], rule: RuleId) -> bool {
    out.iter().any(|f| f.rule == rule)
}

/// Seconds formatted for summaries: "120.0 s", "0.35 s".
pub fn fmt_secs(s: f64) -> String {
    // Whole seconds (certificate validity, most timeouts) print as `format!` would print them,
    // without its float formatting (~1,000 instructions a call).
    if s.fract() == 0.0 && s.abs() < 1e15 && !(s == 0.0 && s.is_sign_negative()) {
        let mut out = String::with_capacity(24);
        out.push_str(itoa::Buffer::new().format(s as i64));
        out.push_str(if s >= 10.0 { ".0 s" } else { ".00 s" });
        return out;
    }
    if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_print_as_format_prints_them() {
        let slow = |s: f64| {
            if s >= 10.0 {
                format!("{s:.1} s")
            } else {
                format!("{s:.2} s")
            }
        };
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            9.0,
            10.0,
            11.0,
            -1.0,
            -10.0,
            120.0,
            0.35,
            9.995,
            10.05,
            1e14,
            -1e14,
            1e15,
            1e16,
            29_059_200.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        cases.extend((0..2000).map(|i| f64::from(i) * 7.0 - 3000.0));
        for s in cases {
            assert_eq!(fmt_secs(s), slow(s), "{s:?}");
        }
    }

    #[test]
    fn every_rule_family_has_a_check() {
        for m in RULES {
            assert!(
                CHECKS.iter().any(|(f, _)| *f == m.family),
                "{} has no check",
                m.name
            );
        }
    }
}

#[cfg(test)]
mod scenario_tests {
    //! Timelines built by hand for variants the fixtures do not cover.
    use super::*;
    use crate::timeline::{AlertEvidence, Dir, DirStats, Event, EventKind, RoleBasis};

    fn ev(frame: u64, secs: f64, dir: Dir, kind: EventKind) -> Event {
        Event {
            frame,
            time: Timestamp((secs * 1e9) as i64),
            dir,
            kind,
        }
    }

    fn timeline(events: Vec<Event>) -> Timeline {
        Timeline {
            stream: 7,
            client: "10.0.0.1:50000".parse().expect("addr"),
            server: "10.0.0.2:443".parse().expect("addr"),
            role_basis: RoleBasis::Syn,
            first_frame: 1,
            first_time: Timestamp(0),
            last_frame: events.last().map_or(1, |e| e.frame),
            last_time: events.last().map_or(Timestamp(0), |e| e.time),
            kinds: crate::timeline::Kinds::of_events(&events),
            events,
            events_dropped: 0,
            c2s: DirStats {
                packets: 5,
                ..DirStats::default()
            },
            s2c: DirStats {
                packets: 5,
                ..DirStats::default()
            },
            midstream: false,
            synack_mark: None,
            rst_marks: Vec::new(),
        }
    }

    use Dir::{ClientToServer as C2S, ServerToClient as S2C};

    /// The WAF case: the server closes after 120 s idle (encrypted alert + FIN), the client
    /// ACKs and later resets.
    #[test]
    fn idle_close_then_client_rst() {
        let t = timeline(vec![
            ev(
                10,
                1.0,
                S2C,
                EventKind::AppData {
                    records: 1,
                    bytes: 500,
                    last_frame: 10,
                },
            ),
            ev(
                181,
                121.2,
                S2C,
                EventKind::Idle {
                    secs: 120.2,
                    after_frame: 11,
                },
            ),
            ev(
                181,
                121.2,
                S2C,
                EventKind::EncryptedAlert {
                    len: 26,
                    evidence: AlertEvidence::ContentType,
                },
            ),
            ev(182, 121.2, S2C, EventKind::Fin),
            ev(191, 180.0, C2S, EventKind::Rst),
        ]);
        let f = run(&t, &Context::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, RuleId::IdleTimeoutClose);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].frames, vec![181, 182, 191]);
        assert!(
            f[0].summary
                .contains("server closed the connection after 120.2 s idle"),
            "{}",
            f[0].summary
        );
        assert!(
            f[0].summary
                .contains("the client reset the connection 58.8 s later (RST, frame 191)"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn client_closing_its_own_idle_connection_is_not_reported() {
        let t = timeline(vec![
            ev(
                10,
                1.0,
                S2C,
                EventKind::AppData {
                    records: 1,
                    bytes: 500,
                    last_frame: 10,
                },
            ),
            ev(
                20,
                31.0,
                C2S,
                EventKind::Idle {
                    secs: 30.0,
                    after_frame: 10,
                },
            ),
            ev(20, 31.0, C2S, EventKind::Fin),
        ]);
        assert!(run(&t, &Context::default()).is_empty());
    }

    #[test]
    fn missing_sni_closed_without_alert() {
        let info = test_client_hello(None);
        let t = timeline(vec![
            ev(4, 0.1, C2S, EventKind::ClientHello(Box::new(info))),
            ev(5, 0.2, S2C, EventKind::Rst),
        ]);
        let f = run(&t, &Context::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, RuleId::MissingSni);
        assert!(
            f[0].summary.contains("reset the connection (RST, frame 5)"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn unanswered_renegotiation_until_capture_end() {
        let t = timeline(vec![
            ev(8, 0.1, S2C, EventKind::Finished { len: 40 }),
            ev(14, 0.5, S2C, EventKind::EncryptedHandshake { len: 28 }),
            ev(
                15,
                0.6,
                C2S,
                EventKind::AppData {
                    records: 1,
                    bytes: 100,
                    last_frame: 15,
                },
            ),
        ]);
        let f = run(&t, &Context::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, RuleId::UnansweredRenegotiation);
        assert!(
            f[0].summary
                .contains("sent application data instead, frame 15"),
            "{}",
            f[0].summary
        );
        assert!(
            f[0].summary.contains("until the capture ended"),
            "{}",
            f[0].summary
        );
    }

    #[test]
    fn warning_alert_is_a_warning_finding() {
        let t = timeline(vec![ev(
            6,
            0.1,
            S2C,
            EventKind::Alert {
                level: crate::timeline::AlertLevel::Warning,
                description: 41,
            },
        )]);
        let f = run(&t, &Context::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, RuleId::TlsAlert);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].summary.contains("warning alert no_certificate (41)"));
    }

    /// host_sni_mismatch needs HTTP read inside TLS, which a capture only gives with keys.
    #[test]
    fn host_differs_from_sni() {
        let ch = test_client_hello(Some("api.example.test"));
        let req = crate::http::RequestInfo {
            method: "GET".into(),
            target: "/".into(),
            host: Some("www.example.test:443".into()),
            connection: None,
            upgrade: None,
            ws_key: None,
            ws_extensions: None,
            user_agent: None,
        };
        let t = timeline(vec![
            ev(4, 0.4, C2S, EventKind::ClientHello(Box::new(ch))),
            ev(9, 0.9, C2S, EventKind::HttpRequest(Box::new(req))),
        ]);
        let f = run(&t, &Context::default());
        let hs: Vec<&Finding> = f
            .iter()
            .filter(|x| x.rule == RuleId::HostSniMismatch)
            .collect();
        assert_eq!(hs.len(), 1, "{f:?}");
        assert_eq!(hs[0].frames, vec![4, 9]);
        assert!(hs[0].summary.contains(
            "Host www.example.test:443 but the TLS SNI of this connection is api.example.test"
        ));
    }

    fn test_server_hello(version: u16, resumed: bool) -> EventKind {
        use crate::tls::{ServerHelloInfo, TlsVersion};
        EventKind::ServerHello(Box::new(ServerHelloInfo {
            version: TlsVersion(version),
            legacy_version: TlsVersion(0x0303),
            cipher: 0x1302,
            alpn: None,
            hello_retry_request: false,
            renegotiation_info: true,
            resumed,
        }))
    }

    fn hello() -> Event {
        ev(
            4,
            0.01,
            C2S,
            EventKind::ClientHello(Box::new(test_client_hello(Some("a.test")))),
        )
    }

    /// A resumed TLS 1.2 handshake up to the server's Finished (frame 6), then `tail`.
    fn tls12_resumed_then(tail: Vec<Event>) -> Timeline {
        let mut events = vec![
            hello(),
            ev(6, 0.02, S2C, test_server_hello(0x0303, true)),
            ev(6, 0.02, S2C, EventKind::ChangeCipherSpec),
            ev(6, 0.02, S2C, EventKind::Finished { len: 40 }),
        ];
        events.extend(tail);
        timeline(events)
    }

    /// A full TLS 1.3 flight: ServerHello, CCS and the first encrypted record in frame 6, then
    /// `records` more encrypted records up to frame 7; then `tail`.
    fn tls13_flight_then(records: u32, tail: Vec<Event>) -> Timeline {
        let mut events = vec![
            hello(),
            ev(6, 0.02, S2C, test_server_hello(0x0304, false)),
            ev(6, 0.02, S2C, EventKind::ChangeCipherSpec),
            ev(6, 0.02, S2C, EventKind::Finished { len: 27 }),
            ev(
                6,
                0.02,
                S2C,
                EventKind::AppData {
                    records,
                    bytes: 1300,
                    last_frame: 7,
                },
            ),
        ];
        events.extend(tail);
        timeline(events)
    }

    fn aborted(t: &Timeline) -> Vec<Finding> {
        run(t, &Context::default())
            .into_iter()
            .filter(|f| f.rule == RuleId::ClientAbortedHandshake)
            .collect()
    }

    /// TLS 1.3: the client's RST right after the flight (frames 6-7): the certificate wording;
    /// after a silence of 30 s, the timeout wording and no idle_timeout_close beside it.
    #[test]
    fn client_abort_after_a_tls13_flight() {
        let t = tls13_flight_then(3, vec![ev(10, 0.22, C2S, EventKind::Rst)]);
        let f = run(&t, &Context::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, RuleId::ClientAbortedHandshake);
        assert_eq!(f[0].frames, vec![6, 7, 10]);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(
            f[0].summary,
            "the client reset the connection (RST, frame 10) 0.20 s after the server's handshake flight (frames 6-7), without an alert and without finishing the TLS 1.3 handshake; the server's certificate is encrypted in TLS 1.3, so which one the client refused is not visible, but it decided at once: most likely it rejected the certificate without saying so, or the application cancelled"
        );
        let late = tls13_flight_then(
            3,
            vec![
                ev(
                    10,
                    30.02,
                    C2S,
                    EventKind::Idle {
                        secs: 30.0,
                        after_frame: 7,
                    },
                ),
                ev(10, 30.02, C2S, EventKind::Rst),
            ],
        );
        let f = run(&late, &Context::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].summary.contains("30.0 s after")
                && f[0]
                    .summary
                    .contains("it waited first: a client-side handshake timeout"),
            "{}",
            f[0].summary
        );
    }

    /// A resumed session exchanges no certificate: the summary says so instead of blaming one.
    #[test]
    fn client_abort_of_a_resumed_session() {
        let f = aborted(&tls12_resumed_then(vec![ev(8, 0.05, C2S, EventKind::Fin)]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].frames, vec![6, 8]);
        assert!(
            f[0].summary.starts_with(
                "the client closed the connection (FIN, frame 8) 0.03 s after the server's handshake flight (frame 6)"
            ) && f[0].summary.contains("no certificate was exchanged (a resumed session)"),
            "{}",
            f[0].summary
        );
    }

    /// Closes that tell another story stay silent: the client closed before the flight was in
    /// (an abandoned connection), went on first (a heartbeat), said why (an alert); the server
    /// warned or closed first, sent more than its flight (it had the client's Finished, which
    /// the capture lost), or its flight never completed; a visible TLS 1.2 certificate (the
    /// close is client_rejected_certificate's).
    #[test]
    fn client_abort_only_as_the_answer_to_the_flight() {
        use crate::timeline::AlertLevel;
        let alert = |frame, dir, level| {
            ev(
                frame,
                0.02,
                dir,
                EventKind::Alert {
                    level,
                    description: 112,
                },
            )
        };
        let cases: Vec<(&str, Timeline)> = vec![
            (
                "FIN before the ServerHello",
                timeline(vec![
                    hello(),
                    ev(5, 0.01, C2S, EventKind::Fin),
                    ev(6, 0.02, S2C, test_server_hello(0x0303, true)),
                    ev(6, 0.02, S2C, EventKind::Finished { len: 40 }),
                    ev(7, 0.03, C2S, EventKind::Rst),
                ]),
            ),
            (
                "heartbeat first",
                tls12_resumed_then(vec![
                    ev(7, 0.03, C2S, EventKind::Heartbeat { len: 3 }),
                    ev(8, 5.0, C2S, EventKind::Fin),
                ]),
            ),
            (
                "client alert",
                tls12_resumed_then(vec![
                    alert(7, C2S, AlertLevel::Fatal),
                    ev(8, 0.03, C2S, EventKind::Fin),
                ]),
            ),
            (
                "server FIN first",
                tls12_resumed_then(vec![
                    ev(7, 0.03, S2C, EventKind::Fin),
                    ev(8, 0.04, C2S, EventKind::Fin),
                ]),
            ),
            (
                "server warning inside its flight",
                timeline(vec![
                    hello(),
                    ev(6, 0.02, S2C, test_server_hello(0x0303, true)),
                    alert(6, S2C, AlertLevel::Warning),
                    ev(6, 0.02, S2C, EventKind::Finished { len: 40 }),
                    ev(8, 0.05, C2S, EventKind::Fin),
                ]),
            ),
            (
                "TLS 1.2 server data after its flight",
                tls12_resumed_then(vec![
                    ev(
                        9,
                        0.04,
                        S2C,
                        EventKind::AppData {
                            records: 1,
                            bytes: 300,
                            last_frame: 9,
                        },
                    ),
                    ev(10, 0.05, C2S, EventKind::Fin),
                ]),
            ),
            (
                "TLS 1.3 tickets and a response after the flight",
                tls13_flight_then(6, vec![ev(12, 0.3, C2S, EventKind::Fin)]),
            ),
            (
                "flight never complete",
                timeline(vec![
                    hello(),
                    ev(6, 0.02, S2C, test_server_hello(0x0303, false)),
                    ev(8, 0.2, C2S, EventKind::Fin),
                ]),
            ),
            (
                "TLS 1.2 certificate visible",
                timeline(vec![
                    hello(),
                    ev(6, 0.02, S2C, test_server_hello(0x0303, false)),
                    ev(6, 0.02, S2C, EventKind::Certificate(Default::default())),
                    ev(6, 0.02, S2C, EventKind::Handshake { msg_type: 14 }),
                    ev(8, 0.05, C2S, EventKind::Fin),
                ]),
            ),
        ];
        for (what, t) in cases {
            assert!(aborted(&t).is_empty(), "{what}: {:?}", aborted(&t));
        }
    }

    fn test_client_hello(sni: Option<&str>) -> crate::tls::ClientHelloInfo {
        use crate::tls::{ClientHelloInfo, RecordFormat, TlsVersion};
        let mut ch =
            ClientHelloInfo::new(RecordFormat::Tls, TlsVersion(0x0301), TlsVersion(0x0303))
                .with_lists(&[0xc02f], &[0, 0xff01], &[], &[]);
        ch.sni = sni.map(std::sync::Arc::from);
        ch.renegotiation_info = true;
        ch.length = 100;
        ch
    }
}
