//! Stage 4: the per-connection timeline — the facts rules read.
//!
//! Like Zeek's `events.bif`, each [`EventKind`] variant is one documented fact with a direction.
//! Rules never look at bytes; they read a finished [`Timeline`]: its events in capture order
//! (frame number, time, direction) and a summary of the connection.
//!
//! The transcript ([`Timeline::transcript`]) is a compact history in the spirit of Zeek's
//! `ssl_history`: one letter per TLS message, alert or TCP close, upper case when the client
//! sent it, lower case for the server. The alphabet is documented in `docs/json.md` and in
//! [`EventKind::letter`].

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;
use smallvec::SmallVec;

use crate::capture::Timestamp;
use crate::tls::{CertInfo, ClientHelloInfo, ServerHelloInfo, TlsVersion};

/// Which way a packet or message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Dir {
    #[serde(rename = "c2s")]
    ClientToServer,
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Dir {
    pub fn is_client(self) -> bool {
        self == Dir::ClientToServer
    }
    /// "client" or "server": the side that sent it.
    pub fn sender(self) -> &'static str {
        match self {
            Dir::ClientToServer => "client",
            Dir::ServerToClient => "server",
        }
    }
    pub fn receiver(self) -> &'static str {
        match self {
            Dir::ClientToServer => "server",
            Dir::ServerToClient => "client",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::ClientToServer => "c2s",
            Dir::ServerToClient => "s2c",
        }
    }
    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }
}

/// TLS alert level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertLevel {
    Warning,
    Fatal,
    Unknown(u8),
}

impl AlertLevel {
    pub fn from_code(c: u8) -> Self {
        match c {
            1 => AlertLevel::Warning,
            2 => AlertLevel::Fatal,
            o => AlertLevel::Unknown(o),
        }
    }
    pub fn name(self) -> String {
        match self {
            AlertLevel::Warning => "warning".into(),
            AlertLevel::Fatal => "fatal".into(),
            AlertLevel::Unknown(c) => format!("level {c}"),
        }
    }
}

/// Why a record is believed to be an encrypted alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertEvidence {
    /// The record's content type says alert (TLS ≤ 1.2): seen.
    ContentType,
    /// A TLS 1.3 application-data record whose size is exactly an encrypted alert's: inferred.
    InferredFromSize,
}

/// One fact about a connection. Each variant documents what it means.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A SYN without ACK (connection request). `retransmission` when the same ISN was seen before.
    Syn { retransmission: bool },
    /// A SYN+ACK (connection accepted).
    SynAck,
    /// A FIN: the sender will send no more data.
    Fin,
    /// A RST: the sender aborts the connection.
    Rst,
    /// A segment whose bytes were all seen before (retransmission).
    Retransmission { bytes: u32 },
    /// Bytes of this direction that were never captured (lost before the capture point, cut by
    /// the snaplen, or the capture started mid-stream); TLS parsing resynchronised after them.
    Gap { bytes: u64 },
    /// Nothing was sent in either direction for `secs` seconds before this event's frame
    /// (only gaps of at least [`IDLE_EVENT_SECS`] are recorded). `after_frame` is the last frame
    /// before the silence.
    Idle { secs: f64, after_frame: u64 },
    /// The first bytes of this direction do not look like TLS (e.g. plaintext HTTP).
    NotTls { preview: Box<str> },
    /// A TLS ClientHello (TLS or SSLv2 record format).
    ClientHello(Box<ClientHelloInfo>),
    /// A TLS ServerHello (a HelloRetryRequest has `hello_retry_request` set).
    ServerHello(Box<ServerHelloInfo>),
    /// A plaintext Certificate message (TLS ≤ 1.2) with the parsed chain.
    Certificate(std::sync::Arc<CertInfo>),
    /// A plaintext HelloRequest (the server asks the client to renegotiate).
    HelloRequest,
    /// Another plaintext handshake message, by TLS handshake type number.
    Handshake { msg_type: u8 },
    /// A ChangeCipherSpec record: the sender encrypts from now on.
    ChangeCipherSpec,
    /// A plaintext alert.
    Alert { level: AlertLevel, description: u8 },
    /// An alert whose content is encrypted; `len` is the record's payload length.
    EncryptedAlert { len: u16, evidence: AlertEvidence },
    /// The sender's encrypted Finished (TLS ≤ 1.2: the first handshake record after its CCS;
    /// TLS 1.3: inferred as its first encrypted flight).
    Finished { len: u16 },
    /// An encrypted handshake record after this side's Finished (TLS ≤ 1.2): a renegotiation —
    /// a HelloRequest when the server sends it, a ClientHello when the client does.
    EncryptedHandshake { len: u16 },
    /// Application-data records (consecutive records in one direction are coalesced; `frame`
    /// is the first, `last_frame` the last).
    AppData {
        records: u32,
        bytes: u64,
        last_frame: u64,
    },
    /// A heartbeat record.
    Heartbeat { len: u16 },
    /// The sender advertised a zero receive window: the other side must stop sending.
    ZeroWindow,
    /// The sender's receive window opened again after a zero window.
    WindowOpen,
    /// An HTTP/1.x request head.
    HttpRequest(Box<crate::http::RequestInfo>),
    /// An HTTP/1.x response head.
    HttpResponse(Box<crate::http::ResponseInfo>),
    /// A WebSocket frame (after a 101 response).
    WsFrame(crate::http::websocket::WsFrameInfo),
}

/// Letters of a transcript kept in the value itself (a short connection's has 10-20).
const TRANSCRIPT_INLINE: usize = 32;

/// A connection's compact transcript ([`Timeline::transcript`]): ASCII, read as a `str`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Transcript(SmallVec<[u8; TRANSCRIPT_INLINE]>);

impl Transcript {
    pub fn as_str(&self) -> &str {
        // Built from ASCII letters only, so always valid.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for Transcript {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Transcript {
    fn from(s: &str) -> Transcript {
        Transcript(SmallVec::from_slice(s.as_bytes()))
    }
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Only silences at least this long become [`EventKind::Idle`] events.
pub const IDLE_EVENT_SECS: f64 = 1.0;

impl EventKind {
    /// The transcript letter (upper case = client; the caller applies the case).
    pub fn letter(&self) -> Option<char> {
        Some(match self {
            EventKind::ClientHello(_) => 'c',
            EventKind::ServerHello(sh) if sh.hello_retry_request => 'j',
            EventKind::ServerHello(_) => 's',
            EventKind::Certificate(_) => 'x',
            EventKind::HelloRequest => 'h',
            EventKind::Handshake { msg_type } => match msg_type {
                4 => 't',
                8 => 'o',
                12 => 'k',
                13 => 'q',
                14 => 'n',
                15 => 'y',
                16 => 'g',
                20 => 'e',
                _ => 'z',
            },
            EventKind::ChangeCipherSpec => 'i',
            EventKind::Finished { .. } => 'e',
            EventKind::EncryptedHandshake { .. } => 'u',
            EventKind::Alert { .. } => 'l',
            EventKind::EncryptedAlert { .. } => 'a',
            EventKind::AppData { .. } => 'd',
            EventKind::Heartbeat { .. } => 'b',
            EventKind::Fin => 'f',
            EventKind::Rst => 'r',
            EventKind::Gap { .. } => 'm',
            EventKind::NotTls { .. } => 'p',
            EventKind::HttpRequest(_) | EventKind::HttpResponse(_) => 'v',
            EventKind::WsFrame(_) => 'w',
            EventKind::Idle { .. } => return Some('~'),
            EventKind::Syn { .. }
            | EventKind::SynAck
            | EventKind::Retransmission { .. }
            | EventKind::ZeroWindow
            | EventKind::WindowOpen => {
                return None;
            }
        })
    }
}

/// One event: what happened, in which frame, when, and which way.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub frame: u64,
    pub time: Timestamp,
    pub dir: Dir,
    pub kind: EventKind,
}

/// How a connection ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// TLS handshake completed (both Finished, or application data flowed).
    HandshakeOk,
    /// A fatal alert ended the handshake.
    HandshakeFailed,
    /// The handshake started but did not finish (no fatal alert seen).
    HandshakeIncomplete,
    /// TCP reset before the handshake finished.
    Reset,
    /// The connection carried data that is not TLS.
    NotTls,
    /// TCP connected but no payload was sent.
    NoData,
    /// SYN sent, nothing came back.
    NoAnswer,
    /// SYN answered by a RST.
    Refused,
    /// Seen only mid-stream: encrypted data without a handshake in the capture.
    MidStream,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::HandshakeOk => "handshake_ok",
            Outcome::HandshakeFailed => "handshake_failed",
            Outcome::HandshakeIncomplete => "handshake_incomplete",
            Outcome::Reset => "reset",
            Outcome::NotTls => "not_tls",
            Outcome::NoData => "no_data",
            Outcome::NoAnswer => "no_answer",
            Outcome::Refused => "refused",
            Outcome::MidStream => "mid_stream",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirStats {
    pub packets: u64,
    /// TCP payload bytes on the wire.
    pub bytes: u64,
    pub app_records: u64,
    pub app_bytes: u64,
    pub retransmissions: u64,
    pub gap_bytes: u64,
}

/// How the client side was decided (Wireshark's role basis, in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleBasis {
    Syn,
    SynAck,
    ClientHello,
    ServerHello,
    Port,
}

/// IP-level marks of one packet (to tell a server's own packets from injected ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpMark {
    pub frame: u64,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification (None for IPv6).
    pub ip_id: Option<u16>,
}

/// The kinds of events a timeline holds, a bit per [`EventKind`] variant: a rule skips a
/// connection that lacks what it looks for without walking the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds(u32);

impl Kinds {
    pub const SYN: Kinds = Kinds(1 << 0);
    pub const SYN_ACK: Kinds = Kinds(1 << 1);
    pub const FIN: Kinds = Kinds(1 << 2);
    pub const RST: Kinds = Kinds(1 << 3);
    pub const RETRANSMISSION: Kinds = Kinds(1 << 4);
    pub const GAP: Kinds = Kinds(1 << 5);
    pub const IDLE: Kinds = Kinds(1 << 6);
    pub const NOT_TLS: Kinds = Kinds(1 << 7);
    pub const CLIENT_HELLO: Kinds = Kinds(1 << 8);
    pub const SERVER_HELLO: Kinds = Kinds(1 << 9);
    pub const CERTIFICATE: Kinds = Kinds(1 << 10);
    pub const HELLO_REQUEST: Kinds = Kinds(1 << 11);
    pub const HANDSHAKE: Kinds = Kinds(1 << 12);
    pub const CHANGE_CIPHER_SPEC: Kinds = Kinds(1 << 13);
    pub const ALERT: Kinds = Kinds(1 << 14);
    pub const ENCRYPTED_ALERT: Kinds = Kinds(1 << 15);
    pub const FINISHED: Kinds = Kinds(1 << 16);
    pub const ENCRYPTED_HANDSHAKE: Kinds = Kinds(1 << 17);
    pub const APP_DATA: Kinds = Kinds(1 << 18);
    pub const HEARTBEAT: Kinds = Kinds(1 << 19);
    pub const ZERO_WINDOW: Kinds = Kinds(1 << 20);
    pub const WINDOW_OPEN: Kinds = Kinds(1 << 21);
    pub const HTTP_REQUEST: Kinds = Kinds(1 << 22);
    pub const HTTP_RESPONSE: Kinds = Kinds(1 << 23);
    pub const WS_FRAME: Kinds = Kinds(1 << 24);

    /// The bit of one event kind.
    pub fn of(k: &EventKind) -> Kinds {
        match k {
            EventKind::Syn { .. } => Kinds::SYN,
            EventKind::SynAck => Kinds::SYN_ACK,
            EventKind::Fin => Kinds::FIN,
            EventKind::Rst => Kinds::RST,
            EventKind::Retransmission { .. } => Kinds::RETRANSMISSION,
            EventKind::Gap { .. } => Kinds::GAP,
            EventKind::Idle { .. } => Kinds::IDLE,
            EventKind::NotTls { .. } => Kinds::NOT_TLS,
            EventKind::ClientHello(_) => Kinds::CLIENT_HELLO,
            EventKind::ServerHello(_) => Kinds::SERVER_HELLO,
            EventKind::Certificate(_) => Kinds::CERTIFICATE,
            EventKind::HelloRequest => Kinds::HELLO_REQUEST,
            EventKind::Handshake { .. } => Kinds::HANDSHAKE,
            EventKind::ChangeCipherSpec => Kinds::CHANGE_CIPHER_SPEC,
            EventKind::Alert { .. } => Kinds::ALERT,
            EventKind::EncryptedAlert { .. } => Kinds::ENCRYPTED_ALERT,
            EventKind::Finished { .. } => Kinds::FINISHED,
            EventKind::EncryptedHandshake { .. } => Kinds::ENCRYPTED_HANDSHAKE,
            EventKind::AppData { .. } => Kinds::APP_DATA,
            EventKind::Heartbeat { .. } => Kinds::HEARTBEAT,
            EventKind::ZeroWindow => Kinds::ZERO_WINDOW,
            EventKind::WindowOpen => Kinds::WINDOW_OPEN,
            EventKind::HttpRequest(_) => Kinds::HTTP_REQUEST,
            EventKind::HttpResponse(_) => Kinds::HTTP_RESPONSE,
            EventKind::WsFrame(_) => Kinds::WS_FRAME,
        }
    }

    /// Every kind present in `events`.
    pub fn of_events(events: &[Event]) -> Kinds {
        events
            .iter()
            .fold(Kinds::default(), |k, e| k | Kinds::of(&e.kind))
    }

    /// True when any kind of `other` is among these.
    pub fn any(self, other: Kinds) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Kinds {
    type Output = Kinds;
    fn bitor(self, rhs: Kinds) -> Kinds {
        Kinds(self.0 | rhs.0)
    }
}

/// A finished connection: what rules read.
#[derive(Clone, Debug)]
pub struct Timeline {
    /// Wireshark's `tcp.stream` index.
    pub stream: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub role_basis: RoleBasis,
    pub first_frame: u64,
    pub first_time: Timestamp,
    pub last_frame: u64,
    pub last_time: Timestamp,
    pub events: Vec<Event>,
    /// The kinds of `events` ([`Kinds::of_events`]), kept in step by whoever builds it.
    pub kinds: Kinds,
    /// Events dropped because the per-connection cap was reached.
    pub events_dropped: u64,
    pub c2s: DirStats,
    pub s2c: DirStats,
    /// True when the capture holds no SYN for this connection.
    pub midstream: bool,
    /// The SYN/ACK's IP marks.
    pub synack_mark: Option<IpMark>,
    /// IP marks of RST packets (first 16), with their direction.
    pub rst_marks: Vec<(Dir, IpMark)>,
}

/// Room for a typical TLS connection's events (15-30) in a new list.
pub(crate) const EVENT_LIST_CAPACITY: usize = 24;
/// Lists kept for reuse per thread, and the largest kept (lists that grew for a long
/// connection go back to the allocator).
const EVENT_LISTS_KEPT: usize = 1024;
const EVENT_LIST_MAX_KEPT: usize = 4 * EVENT_LIST_CAPACITY;

thread_local! {
    /// Lists given back on this thread; `None` until the thread takes one (a thread that only
    /// drops timelines keeps none).
    static EVENT_LISTS: std::cell::RefCell<Option<Vec<Vec<Event>>>> = const { std::cell::RefCell::new(None) };
}

/// An empty event list for a new connection: one a finished timeline gave back on this thread,
/// else a new one. A list of ~1.3 KiB is past malloc's per-thread cache, and every connection
/// needs one: reusing them saves a malloc and a free (and the consolidation of small chunks
/// glibc runs before allocating a large one) per connection.
pub fn event_list() -> Vec<Event> {
    EVENT_LISTS
        .try_with(|l| l.borrow_mut().get_or_insert_with(Vec::new).pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(EVENT_LIST_CAPACITY))
}

impl Drop for Timeline {
    /// The event list goes back to [`event_list`] (emptied) when it is of the usual size.
    fn drop(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        if events.capacity() < EVENT_LIST_CAPACITY || events.capacity() > EVENT_LIST_MAX_KEPT {
            return;
        }
        events.clear();
        // On a thread that is exiting the list is simply freed.
        let _ = EVENT_LISTS.try_with(|l| {
            if let Ok(mut l) = l.try_borrow_mut()
                && let Some(l) = l.as_mut()
                && l.len() < EVENT_LISTS_KEPT
            {
                l.push(events);
            }
        });
    }
}

impl Timeline {
    /// True when the timeline holds an event of any kind in `k`.
    pub fn has_any(&self, k: Kinds) -> bool {
        debug_assert_eq!(
            self.kinds,
            Kinds::of_events(&self.events),
            "kinds out of step"
        );
        self.kinds.any(k)
    }

    pub fn stats(&self, dir: Dir) -> &DirStats {
        match dir {
            Dir::ClientToServer => &self.c2s,
            Dir::ServerToClient => &self.s2c,
        }
    }

    /// The first ClientHello (and its event).
    pub fn client_hello(&self) -> Option<(&Event, &ClientHelloInfo)> {
        if !self.has_any(Kinds::CLIENT_HELLO) {
            return None;
        }
        self.events.iter().find_map(|e| match &e.kind {
            EventKind::ClientHello(ch) if e.dir.is_client() => Some((e, ch.as_ref())),
            _ => None,
        })
    }

    /// The last real ServerHello (not a HelloRetryRequest).
    pub fn server_hello(&self) -> Option<(&Event, &ServerHelloInfo)> {
        if !self.has_any(Kinds::SERVER_HELLO) {
            return None;
        }
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::ServerHello(sh) if !sh.hello_retry_request => Some((e, sh.as_ref())),
            _ => None,
        })
    }

    /// The negotiated version: ServerHello's, else the record version seen.
    pub fn version(&self) -> Option<TlsVersion> {
        self.server_hello().map(|(_, sh)| sh.version)
    }

    pub fn sni(&self) -> Option<&str> {
        self.sni_shared().map(|s| &**s)
    }

    /// [`Timeline::sni`] as the ClientHello holds it (to share without copying).
    pub fn sni_shared(&self) -> Option<&std::sync::Arc<str>> {
        self.client_hello().and_then(|(_, ch)| ch.sni.as_ref())
    }

    /// True when the TLS handshake completed: both sides' Finished seen, or application data
    /// in both directions after a ServerHello.
    pub fn handshake_complete(&self) -> bool {
        let fin = |d: Dir| {
            self.events
                .iter()
                .any(|e| e.dir == d && matches!(e.kind, EventKind::Finished { .. }))
        };
        // The counters first: they settle most connections without a walk of the events.
        (self.c2s.app_records > 0 && self.s2c.app_records > 0 && self.server_hello().is_some())
            || (self.has_any(Kinds::FINISHED)
                && fin(Dir::ClientToServer)
                && fin(Dir::ServerToClient))
    }

    /// Events after index `i`.
    pub fn after(&self, i: usize) -> &[Event] {
        self.events.get(i + 1..).unwrap_or_default()
    }

    /// Index and event of the first event matching `pred`.
    pub fn position(&self, pred: impl Fn(&Event) -> bool) -> Option<(usize, &Event)> {
        self.events.iter().enumerate().find(|(_, e)| pred(e))
    }

    /// Any real ServerHello or HelloRetryRequest.
    pub fn any_server_hello(&self) -> bool {
        self.has_any(Kinds::SERVER_HELLO)
    }

    /// Frame of the first event matching `pred`.
    pub fn find(&self, pred: impl Fn(&Event) -> bool) -> Option<&Event> {
        self.events.iter().find(|e| pred(e))
    }

    /// The compact transcript (see the module docs).
    pub fn transcript(&self) -> Transcript {
        // At most one letter per event (ASCII), and the cut at 200 letters: at most one
        // allocation, none up to TRANSCRIPT_INLINE letters.
        let mut s = SmallVec::with_capacity(self.events.len().min(201));
        for e in &self.events {
            if let Some(l) = e.kind.letter() {
                let c = if l.is_ascii_alphabetic() && e.dir.is_client() {
                    l.to_ascii_uppercase()
                } else {
                    l
                };
                // Letters and '~' only: one ASCII byte each (anything else would make the
                // bytes invalid UTF-8, so it is kept out).
                s.push(if c.is_ascii() { c as u8 } else { b'?' });
                if s.len() >= 200 {
                    s.push(b'+');
                    break;
                }
            }
        }
        Transcript(s)
    }

    pub fn outcome(&self) -> Outcome {
        let syn = self.has_any(Kinds::SYN);
        let synack = self.has_any(Kinds::SYN_ACK);
        let rst = self.has_any(Kinds::RST);
        let payload = self.c2s.bytes + self.s2c.bytes > 0;
        let fatal = self.has_any(Kinds::ALERT)
            && self.events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::Alert {
                        level: AlertLevel::Fatal,
                        ..
                    }
                )
            });
        let tls_seen = self.client_hello().is_some()
            || self.server_hello().is_some()
            || self.c2s.app_records + self.s2c.app_records > 0;
        let not_tls = self.has_any(Kinds::NOT_TLS);
        if self.handshake_complete() {
            return Outcome::HandshakeOk;
        }
        if syn && !synack && !payload {
            return if rst {
                Outcome::Refused
            } else {
                Outcome::NoAnswer
            };
        }
        if fatal {
            return Outcome::HandshakeFailed;
        }
        if not_tls && !tls_seen {
            return Outcome::NotTls;
        }
        if !payload {
            return if rst { Outcome::Reset } else { Outcome::NoData };
        }
        if self.client_hello().is_none() && self.server_hello().is_none() && tls_seen {
            return Outcome::MidStream;
        }
        if rst {
            return Outcome::Reset;
        }
        Outcome::HandshakeIncomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(events: Vec<Event>) -> Timeline {
        Timeline {
            stream: 0,
            client: SocketAddr::from(([10, 0, 0, 1], 50000)),
            server: SocketAddr::from(([10, 0, 0, 2], 443)),
            role_basis: RoleBasis::Syn,
            first_frame: 1,
            first_time: Timestamp(0),
            last_frame: 1,
            last_time: Timestamp(0),
            kinds: Kinds::of_events(&events),
            events,
            events_dropped: 0,
            c2s: DirStats::default(),
            s2c: DirStats::default(),
            midstream: false,
            synack_mark: None,
            rst_marks: Vec::new(),
        }
    }

    #[test]
    fn kinds_are_one_bit_each() {
        let all = [
            Kinds::SYN,
            Kinds::SYN_ACK,
            Kinds::FIN,
            Kinds::RST,
            Kinds::RETRANSMISSION,
            Kinds::GAP,
            Kinds::IDLE,
            Kinds::NOT_TLS,
            Kinds::CLIENT_HELLO,
            Kinds::SERVER_HELLO,
            Kinds::CERTIFICATE,
            Kinds::HELLO_REQUEST,
            Kinds::HANDSHAKE,
            Kinds::CHANGE_CIPHER_SPEC,
            Kinds::ALERT,
            Kinds::ENCRYPTED_ALERT,
            Kinds::FINISHED,
            Kinds::ENCRYPTED_HANDSHAKE,
            Kinds::APP_DATA,
            Kinds::HEARTBEAT,
            Kinds::ZERO_WINDOW,
            Kinds::WINDOW_OPEN,
            Kinds::HTTP_REQUEST,
            Kinds::HTTP_RESPONSE,
            Kinds::WS_FRAME,
        ];
        let union = all.iter().fold(Kinds::default(), |u, k| {
            assert_eq!(k.0.count_ones(), 1);
            assert!(!u.any(*k), "{k:?} twice");
            u | *k
        });
        assert_eq!(union.0.count_ones() as usize, all.len());
        // Each kind maps to its own bit (the HTTP and WebSocket ones are checked by the HTTP
        // fixtures' findings, which their gates would lose).
        use crate::tls::{ClientHelloInfo, RecordFormat, ServerHelloInfo};
        let sh = ServerHelloInfo {
            version: TlsVersion(0x0303),
            legacy_version: TlsVersion(0x0303),
            cipher: 0,
            alpn: None,
            hello_retry_request: false,
            renegotiation_info: false,
            resumed: false,
        };
        let v = TlsVersion(0x0303);
        let mapped = [
            (
                EventKind::Syn {
                    retransmission: false,
                },
                Kinds::SYN,
            ),
            (EventKind::SynAck, Kinds::SYN_ACK),
            (EventKind::Fin, Kinds::FIN),
            (EventKind::Rst, Kinds::RST),
            (
                EventKind::Retransmission { bytes: 1 },
                Kinds::RETRANSMISSION,
            ),
            (EventKind::Gap { bytes: 1 }, Kinds::GAP),
            (
                EventKind::Idle {
                    secs: 2.0,
                    after_frame: 1,
                },
                Kinds::IDLE,
            ),
            (EventKind::NotTls { preview: "".into() }, Kinds::NOT_TLS),
            (
                EventKind::ClientHello(Box::new(ClientHelloInfo::new(RecordFormat::Tls, v, v))),
                Kinds::CLIENT_HELLO,
            ),
            (EventKind::ServerHello(Box::new(sh)), Kinds::SERVER_HELLO),
            (
                EventKind::Certificate(Default::default()),
                Kinds::CERTIFICATE,
            ),
            (EventKind::HelloRequest, Kinds::HELLO_REQUEST),
            (EventKind::Handshake { msg_type: 4 }, Kinds::HANDSHAKE),
            (EventKind::ChangeCipherSpec, Kinds::CHANGE_CIPHER_SPEC),
            (
                EventKind::Alert {
                    level: AlertLevel::Fatal,
                    description: 40,
                },
                Kinds::ALERT,
            ),
            (
                EventKind::EncryptedAlert {
                    len: 26,
                    evidence: AlertEvidence::ContentType,
                },
                Kinds::ENCRYPTED_ALERT,
            ),
            (EventKind::Finished { len: 40 }, Kinds::FINISHED),
            (
                EventKind::EncryptedHandshake { len: 40 },
                Kinds::ENCRYPTED_HANDSHAKE,
            ),
            (
                EventKind::AppData {
                    records: 1,
                    bytes: 1,
                    last_frame: 1,
                },
                Kinds::APP_DATA,
            ),
            (EventKind::Heartbeat { len: 3 }, Kinds::HEARTBEAT),
            (EventKind::ZeroWindow, Kinds::ZERO_WINDOW),
            (EventKind::WindowOpen, Kinds::WINDOW_OPEN),
        ];
        for (kind, bit) in &mapped {
            assert_eq!(Kinds::of(kind), *bit, "{kind:?}");
        }
        let ev = |kind| Event {
            frame: 1,
            time: Timestamp(0),
            dir: Dir::ServerToClient,
            kind,
        };
        let t = timeline(vec![ev(EventKind::Fin), ev(EventKind::ZeroWindow)]);
        assert!(t.has_any(Kinds::FIN) && t.has_any(Kinds::RST | Kinds::ZERO_WINDOW));
        assert!(!t.has_any(Kinds::RST | Kinds::ALERT | Kinds::IDLE));
        assert!(!timeline(Vec::new()).has_any(Kinds::FIN));
    }

    /// A finished timeline's list (of the usual size) is the next connection's, emptied; one
    /// that grew past the cap is not kept.
    #[test]
    fn event_lists_are_reused_on_their_thread() {
        let mut events = event_list();
        assert!(events.capacity() >= EVENT_LIST_CAPACITY);
        events.push(Event {
            frame: 1,
            time: Timestamp(0),
            dir: Dir::ClientToServer,
            kind: EventKind::Fin,
        });
        let ptr = events.as_ptr();
        drop(timeline(events));
        let again = event_list();
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
        drop(timeline(Vec::with_capacity(EVENT_LIST_MAX_KEPT + 1)));
        let fresh = event_list();
        assert_eq!(fresh.capacity(), EVENT_LIST_CAPACITY);
        // A thread that never takes a list keeps none.
        let kept = std::thread::spawn(|| {
            drop(timeline(Vec::with_capacity(EVENT_LIST_CAPACITY)));
            EVENT_LISTS.with(|l| l.borrow().is_some())
        })
        .join()
        .unwrap_or(true);
        assert!(!kept);
    }
}
