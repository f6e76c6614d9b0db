//! Stage 2: TCP connections.
//!
//! [`FlowTable`] maps both directions of a 4-tuple to one connection and numbers connections
//! exactly as Wireshark's `tcp.stream` does: in order of first appearance, with a new index
//! when a SYN (without ACK) arrives on a known 4-tuple with a sequence number different from
//! that direction's base sequence number (port reuse; a retransmitted SYN keeps its stream).
//! See Wireshark's `packet-tcp.c`, "If this is a SYN packet, then check if its seq-nr is
//! different from the base_seq of the retrieved conversation".
//!
//! A connection is never split by silence: an open connection is kept for
//! [`IDLE_EXPIRY_SECS`] of capture time without a packet; a closed one (RST, or FIN both
//! ways) is finalised [`LINGER_SECS`] after its last packet, so that a late RST still lands
//! on it. Finalising runs the connection's reassemblers dry and turns it into a
//! [`Timeline`]; its state is dropped, and only a small tombstone stays to keep the stream
//! numbering of late packets right. When many connections are open at once (a SYN flood, a
//! scan), a new one is kept as the headers of its first packets until it carries a byte
//! (`attempt`): 176 bytes instead of ~2.4 KiB, replayed into the full state exactly.

mod attempt;
mod copies;
pub mod reassembly;

use std::net::SocketAddr;

use crate::capture::link::{TcpBody, TcpSegment};
use crate::capture::{Frame, Timestamp};
use crate::http::HttpConn;
use crate::timeline::{
    Dir, DirStats, Event, EventKind, IDLE_EVENT_SECS, IpMark, Kinds, RoleBasis, Timeline,
};
use crate::tls::decrypt::KeyLog;
use crate::tls::{EventSink, TlsConn};
use attempt::Attempt;
use reassembly::{Chunk, Reassembler, SegmentKind};
use std::sync::Arc;

/// An open connection without packets for this long (capture time) is finalised.
pub const IDLE_EXPIRY_SECS: i64 = 3600;
/// A closed connection is finalised this long after its last packet.
pub const LINGER_SECS: i64 = 5;
/// Most events one connection keeps (alerts and TCP closes are always kept).
pub const MAX_EVENTS: usize = 1024;
/// Hard cap, even for events that are always kept.
const MAX_EVENTS_HARD: usize = 16 * 1024;
/// How often (capture time) the table looks for connections to finalise.
const SWEEP_EVERY_SECS: i64 = 1;

/// A connection's events. Until the client side is known, `dir` says which side sent an event
/// as if side 0 (the sender of the first packet) were the client; [`Conn::finish`] turns them
/// round when it is not. The list becomes the timeline's as it is (one allocation, recycled by
/// [`crate::timeline::event_list`]).
#[derive(Debug, Default)]
struct Events {
    list: Vec<Event>,
    dropped: u64,
}

/// Events a closed connection may have for its list to be cut to that size (see
/// [`Events::trim_closed`]).
const CLOSED_FEW_EVENTS: usize = 4;

/// The provisional direction of what `side` sends (see [`Events`]).
fn provisional(side: usize) -> Dir {
    if side == 0 {
        Dir::ClientToServer
    } else {
        Dir::ServerToClient
    }
}

impl Events {
    /// A connection that has just closed with few events (refused, or reset before any data:
    /// a scan, a SYN flood) gives back the room its list was made with for a usual connection
    /// (24 events, ~1.1 KiB): it still waits 5 s for late packets, and at thousands of such
    /// connections a second most of the memory held was those lists. On synthetic scans
    /// (`scripts/make-scan-pcap.py`) peak RSS went 212 -> 134 MiB (300,000 connections, 10,000
    /// a second) and 997 -> 569 MiB (1 M, 50,000 a second).
    #[cold]
    fn trim_closed(&mut self) {
        if self.list.len() <= CLOSED_FEW_EVENTS && self.list.capacity() > CLOSED_FEW_EVENTS {
            self.list.shrink_to(CLOSED_FEW_EVENTS);
        }
    }

    fn push(&mut self, side: usize, frame: u64, time: Timestamp, kind: EventKind) {
        let dir = provisional(side);
        if let EventKind::AppData { records, bytes, .. } = &kind
            && let Some(Event {
                dir: d,
                kind:
                    EventKind::AppData {
                        records: r,
                        bytes: b,
                        last_frame,
                    },
                ..
            }) = self.list.last_mut()
            && *d == dir
        {
            *r = r.saturating_add(*records);
            *b = b.saturating_add(*bytes);
            *last_frame = frame;
            return;
        }
        let always = matches!(
            kind,
            EventKind::Alert { .. }
                | EventKind::EncryptedAlert { .. }
                | EventKind::Fin
                | EventKind::Rst
                | EventKind::ClientHello(_)
                | EventKind::ServerHello(_)
                | EventKind::HelloRequest
                | EventKind::EncryptedHandshake { .. }
        );
        if self.list.len() >= MAX_EVENTS_HARD || (self.list.len() >= MAX_EVENTS && !always) {
            self.dropped += 1;
            return;
        }
        self.list.push(Event {
            frame,
            time,
            dir,
            kind,
        });
    }
}

/// Counts application data as the TLS layer reports it.
struct Sink<'a> {
    events: &'a mut Events,
    stats: &'a mut [DirStats; 2],
}

impl EventSink for Sink<'_> {
    fn emit(&mut self, side: usize, frame: u64, time: Timestamp, kind: EventKind) {
        if let EventKind::AppData { records, bytes, .. } = &kind
            && let Some(s) = self.stats.get_mut(side)
        {
            s.app_records += u64::from(*records);
            s.app_bytes += *bytes;
        }
        self.events.push(side, frame, time, kind);
    }
}

/// The TLS layer's sink: events, and decrypted application data on to HTTP.
struct TlsSink<'a> {
    events: &'a mut Events,
    stats: &'a mut [DirStats; 2],
    http: &'a mut HttpConn,
}

impl EventSink for TlsSink<'_> {
    fn emit(&mut self, side: usize, frame: u64, time: Timestamp, kind: EventKind) {
        Sink {
            events: &mut *self.events,
            stats: &mut *self.stats,
        }
        .emit(side, frame, time, kind);
    }

    fn app_data(&mut self, side: usize, bytes: &[u8], frame: u64, time: Timestamp) {
        let mut sink = Sink {
            events: &mut *self.events,
            stats: &mut *self.stats,
        };
        self.http.on_data(side, bytes, frame, time, &mut sink);
    }
}

#[derive(Debug)]
struct Conn {
    stream: u64,
    /// Side 0: the sender of the first packet.
    a: SocketAddr,
    b: SocketAddr,
    first_frame: u64,
    first_time: Timestamp,
    last_frame: u64,
    last_time: Timestamp,
    activity: Option<(u64, Timestamp)>,
    base_seq: [Option<u32>; 2],
    syn_side: Option<usize>,
    synack_side: Option<usize>,
    syn_isn: Option<u32>,
    /// The first SYN/ACK's sequence number: a copy of it is a retransmission.
    synack_isn: Option<u32>,
    fin: [bool; 2],
    rst: bool,
    zero_window: [bool; 2],
    synack_mark: Option<IpMark>,
    rst_marks: Vec<(usize, IpMark)>,
    midstream: bool,
    reasm: [Reassembler; 2],
    tls: TlsConn,
    http: HttpConn,
    events: Events,
    stats: [DirStats; 2],
}

/// [`IDLE_EVENT_SECS`] in nanoseconds: compared per packet without a float division (for a
/// whole number of nanoseconds the two comparisons agree).
const IDLE_EVENT_NANOS: i64 = (IDLE_EVENT_SECS * 1e9) as i64;

/// Feeds reassembled chunks of `side` into TLS and records gaps.
fn deliver_to(
    side: usize,
    tls: &mut TlsConn,
    http: &mut HttpConn,
    events: &mut Events,
    stats: &mut [DirStats; 2],
    time: Timestamp,
    gap_frame: u64,
) -> impl FnMut(Chunk<'_>) {
    move |chunk| match chunk {
        Chunk::Data { bytes, frame } => {
            let mut sink = TlsSink {
                events: &mut *events,
                stats: &mut *stats,
                http: &mut *http,
            };
            tls.on_data(side, bytes, frame, time, &mut sink);
            if tls.is_plaintext(side) {
                let mut sink = Sink {
                    events: &mut *events,
                    stats: &mut *stats,
                };
                http.on_data(side, bytes, frame, time, &mut sink);
            }
        }
        Chunk::Gap { len } => {
            if let Some(s) = stats.get_mut(side) {
                s.gap_bytes += len;
            }
            events.push(side, gap_frame, time, EventKind::Gap { bytes: len });
            let mut sink = TlsSink {
                events: &mut *events,
                stats: &mut *stats,
                http: &mut *http,
            };
            tls.on_missing(side, len, gap_frame, time, &mut sink);
            http.on_gap(side);
        }
    }
}

impl Conn {
    fn new(stream: u64, seg: &TcpSegment<'_>, at: At, keylog: Option<&Arc<KeyLog>>) -> Self {
        Conn {
            stream,
            a: seg.src,
            b: seg.dst,
            first_frame: at.frame,
            first_time: at.time,
            last_frame: at.frame,
            last_time: at.time,
            activity: None,
            base_seq: [None; 2],
            syn_side: None,
            synack_side: None,
            syn_isn: None,
            synack_isn: None,
            fin: [false; 2],
            rst: false,
            zero_window: [false; 2],
            synack_mark: None,
            rst_marks: Vec::new(),
            midstream: false,
            reasm: [Reassembler::default(), Reassembler::default()],
            tls: TlsConn::with_keylog(keylog.cloned()),
            http: HttpConn::default(),
            // A typical TLS connection has 15-30 events: one allocation instead of four.
            events: Events {
                list: crate::timeline::event_list(),
                dropped: 0,
            },
            stats: [DirStats::default(); 2],
        }
    }

    /// Makes `self` (a box another connection left, see [`Conn::spare`]) the state of a new
    /// connection, as [`Conn::new`] would, field by field: no connection-sized value is built
    /// on the stack and copied in (`reuse_is_new` checks that every field is set).
    fn reuse(&mut self, stream: u64, seg: &TcpSegment<'_>, at: At, keylog: Option<&Arc<KeyLog>>) {
        self.stream = stream;
        self.a = seg.src;
        self.b = seg.dst;
        self.first_frame = at.frame;
        self.first_time = at.time;
        self.last_frame = at.frame;
        self.last_time = at.time;
        self.activity = None;
        self.base_seq = [None; 2];
        self.syn_side = None;
        self.synack_side = None;
        self.syn_isn = None;
        self.synack_isn = None;
        self.fin = [false; 2];
        self.rst = false;
        self.zero_window = [false; 2];
        self.synack_mark = None;
        self.rst_marks = Vec::new();
        self.midstream = false;
        for r in &mut self.reasm {
            *r = Reassembler::default();
        }
        self.tls = TlsConn::with_keylog(keylog.cloned());
        self.http = HttpConn::default();
        self.events.list = crate::timeline::event_list();
        self.events.dropped = 0;
        self.stats = [DirStats::default(); 2];
    }

    /// A finished connection's box, kept for another: what it holds goes now, not at its reuse.
    fn spare(&mut self) {
        self.tls = TlsConn::default();
        self.http = HttpConn::default();
        self.reasm = Default::default();
        self.rst_marks = Vec::new();
    }

    fn closed(&self) -> bool {
        self.rst || (self.fin[0] && self.fin[1])
    }

    /// One segment from `side` (0: the side that sent the connection's first packet). Returns
    /// false when it is a copy of a packet just seen (captured twice): counted in the
    /// direction's packets and bytes, as Wireshark counts it, and not analysed again.
    fn packet(&mut self, side: usize, seg: &TcpBody<'_>, at: At) -> bool {
        let side = side.min(1);
        let other = 1 - side;
        let (num, time) = (at.frame, at.time);
        self.last_frame = num;
        self.last_time = time;
        self.base_seq[side].get_or_insert(seg.seq);
        self.stats[side].packets += 1;
        self.stats[side].bytes += u64::from(seg.wire_len);
        if self.reasm[side].is_copy(seg, time, self.stats[other].packets) {
            return false;
        }
        let flags = seg.flags;

        // A keep-alive probe is not activity.
        let keepalive = seg.wire_len <= 1
            && !flags.syn()
            && !flags.fin()
            && !flags.rst()
            && self.reasm[side]
                .next_seq()
                .is_some_and(|n| seg.seq == n.wrapping_sub(1));
        if !keepalive {
            if let Some((last_frame, last_time)) = self.activity
                && time.0.saturating_sub(last_time.0) >= IDLE_EVENT_NANOS
            {
                self.events.push(
                    side,
                    num,
                    time,
                    EventKind::Idle {
                        secs: time.secs_since(last_time),
                        after_frame: last_frame,
                    },
                );
            }
            self.activity = Some((num, time));
        }

        if flags.syn() {
            if flags.ack() {
                if self.synack_side.is_none() {
                    self.synack_side = Some(side);
                    self.synack_isn = Some(seg.seq);
                    self.synack_mark = Some(IpMark {
                        frame: num,
                        ttl: seg.ttl,
                        ip_id: seg.ip_id,
                    });
                    self.events.push(side, num, time, EventKind::SynAck);
                } else if self.synack_side == Some(side) && self.synack_isn == Some(seg.seq) {
                    // Sent again: counted as Wireshark counts it (no event: the rules read
                    // `Retransmission` events as data sent again).
                    self.stats[side].retransmissions += 1;
                }
            } else {
                let retransmission = self.syn_isn == Some(seg.seq);
                if self.syn_side.is_none() {
                    self.syn_side = Some(side);
                    self.syn_isn = Some(seg.seq);
                }
                if retransmission {
                    // Also counted, as Wireshark does; the event says it too.
                    self.stats[side].retransmissions += 1;
                }
                self.events
                    .push(side, num, time, EventKind::Syn { retransmission });
            }
            self.reasm[side].syn(seg.seq);
        }
        if flags.rst() {
            self.rst = true;
            if self.rst_marks.len() < 16 {
                self.rst_marks.push((
                    side,
                    IpMark {
                        frame: num,
                        ttl: seg.ttl,
                        ip_id: seg.ip_id,
                    },
                ));
            }
            self.events.push(side, num, time, EventKind::Rst);
            self.events.trim_closed();
        }

        if !flags.syn() && !flags.rst() && flags.ack() {
            if seg.window == 0 {
                if !self.zero_window[side] {
                    self.zero_window[side] = true;
                    self.events.push(side, num, time, EventKind::ZeroWindow);
                }
            } else if self.zero_window[side] {
                self.zero_window[side] = false;
                self.events.push(side, num, time, EventKind::WindowOpen);
            }
        }

        let data_seq = if flags.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if seg.wire_len > 0 && !flags.rst() {
            if self.reasm[side].start_midstream(data_seq) {
                self.midstream = true;
                self.tls.on_gap(side);
            }
            let Conn {
                reasm,
                tls,
                http,
                events,
                stats,
                ..
            } = self;
            let kind = {
                let mut deliver = deliver_to(side, tls, http, events, stats, time, num);
                reasm[side].segment(data_seq, seg.payload, seg.wire_len, num, &mut deliver)
            };
            // A copy of one byte with a FIN or SYN is no keep-alive probe (Wireshark's rule
            // too): it is the byte, and its flag, sent again.
            let again = kind == SegmentKind::Retransmission
                || (kind == SegmentKind::KeepAlive && (flags.fin() || flags.syn()));
            if again {
                stats[side].retransmissions += 1;
                if stats[side].retransmissions <= 64 {
                    events.push(
                        side,
                        num,
                        time,
                        EventKind::Retransmission {
                            bytes: seg.wire_len,
                        },
                    );
                }
            }
        }
        if flags.ack() && !flags.rst() {
            let Conn {
                reasm,
                tls,
                http,
                events,
                stats,
                ..
            } = self;
            let mut deliver = deliver_to(other, tls, http, events, stats, time, num);
            reasm[other].acked(seg.ack, at, &mut deliver);
        }
        if flags.fin() {
            let end = data_seq.wrapping_add(seg.wire_len);
            if self.reasm[side].fin(end) {
                self.fin[side] = true;
                self.events.push(side, num, time, EventKind::Fin);
                if self.closed() {
                    self.events.trim_closed();
                }
            } else if seg.wire_len == 0 && self.reasm[side].is_same_fin(end) {
                // A bare FIN sent again (its ACK was lost, or never came) is a retransmission
                // in the direction's count, as Wireshark counts it; one with data was counted
                // above. It is no `Retransmission` event: the rules read those as data sent
                // again (a stalled flight, an unanswered request), which a FIN is not.
                self.stats[side].retransmissions += 1;
            }
        }
        true
    }

    /// The connection's timeline. Leaves `self` spent: its box is reused for a new connection.
    fn finish(&mut self) -> Timeline {
        for side in 0..2 {
            let Conn {
                reasm,
                tls,
                http,
                events,
                stats,
                last_frame,
                last_time,
                ..
            } = self;
            reasm[side].flush_all(&mut deliver_to(
                side,
                tls,
                http,
                events,
                stats,
                *last_time,
                *last_frame,
            ));
            if let Some((len, claimed_at)) = reasm[side].take_unseen_acked() {
                // Cited at the first acknowledgement that claimed them (Wireshark flags that
                // frame "ACKed unseen segment"), else at the connection's end.
                let at = claimed_at.unwrap_or(At {
                    frame: *last_frame,
                    time: *last_time,
                });
                deliver_to(side, tls, http, events, stats, at.time, at.frame)(Chunk::Gap { len });
            }
        }
        let (client_side, role_basis) = if let Some(s) = self.syn_side {
            (s, RoleBasis::Syn)
        } else if let Some(s) = self.synack_side {
            (1 - s, RoleBasis::SynAck)
        } else if let Some(s) = self.tls.client_side() {
            (s, RoleBasis::ClientHello)
        } else if let Some(s) = self.tls.server_side() {
            (1 - s, RoleBasis::ServerHello)
        } else {
            let (pa, pb) = (self.a.port(), self.b.port());
            let a_is_client = match (pa < 1024, pb < 1024) {
                (false, true) => true,
                (true, false) => false,
                _ => pa >= pb,
            };
            (usize::from(!a_is_client), RoleBasis::Port)
        };
        let (client, server) = if client_side == 0 {
            (self.a, self.b)
        } else {
            (self.b, self.a)
        };
        // What side 0 sent was taken as the client's (see [`Events`]).
        let dir = |side: usize| {
            let d = provisional(side);
            if client_side == 0 { d } else { d.reverse() }
        };
        let mut events = std::mem::take(&mut self.events.list);
        if client_side != 0 {
            for e in &mut events {
                e.dir = e.dir.reverse();
            }
        }
        Timeline {
            stream: self.stream,
            client,
            server,
            role_basis,
            first_frame: self.first_frame,
            first_time: self.first_time,
            last_frame: self.last_frame,
            last_time: self.last_time,
            kinds: Kinds::of_events(&events),
            events,
            events_dropped: self.events.dropped,
            c2s: self.stats[client_side],
            s2c: self.stats[1 - client_side],
            midstream: self.syn_side.is_none() && self.synack_side.is_none(),
            synack_mark: self.synack_mark,
            rst_marks: self.rst_marks.iter().map(|(s, m)| (dir(*s), *m)).collect(),
        }
    }
}

/// Where a packet sits in the capture: its frame number and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub frame: u64,
    pub time: Timestamp,
}

impl From<&Frame<'_>> for At {
    fn from(f: &Frame<'_>) -> Self {
        At {
            frame: f.number,
            time: f.time,
        }
    }
}

/// A hash of a 4-tuple, the same for both directions, with its low two bits clear (an
/// [`Ended`] entry keeps two flags there, and the live and ended tables must tell keys apart
/// alike), and whether `a` is the lower endpoint. The numbering remembers every conversation of
/// the capture (Wireshark never forgets one), so its entries are small (a collision needs ~2
/// billion connections by chance; FxHash is not keyed, so a capture built for it can make two
/// 4-tuples share an entry: their packets then go to one connection, each side taken from its
/// own endpoint order, and nothing panics).
fn flow_key(a: SocketAddr, b: SocketAddr) -> (u64, bool) {
    use std::hash::BuildHasher;
    let fx = rustc_hash::FxBuildHasher;
    match (a, b) {
        // The common case in two words: address and port packed as SocketAddr orders them.
        (SocketAddr::V4(x), SocketAddr::V4(y)) => {
            let pack = |v: std::net::SocketAddrV4| {
                (u64::from(v.ip().to_bits()) << 16) | u64::from(v.port())
            };
            let (px, py) = (pack(x), pack(y));
            let lower = px <= py;
            let pair = if lower { (px, py) } else { (py, px) };
            (fx.hash_one(pair) & !Ended::HAS, lower)
        }
        _ => {
            let lower = a <= b;
            let pair = if lower { (a, b) } else { (b, a) };
            (fx.hash_one(pair) & !Ended::HAS, lower)
        }
    }
}

/// What [`Numbering::assign`] says of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// Its `tcp.stream` index ([`FREE`] for a late packet on an [`Ended`] 4-tuple: counted,
    /// not tracked).
    pub stream: u64,
    /// Whether it starts a new connection.
    pub new: bool,
    /// The slot of its connection in its owner's [`Connections`]: the numbering's one hash
    /// lookup per packet finds the connection too.
    pub slot: u32,
    /// The thread that owns the 4-tuple (see [`Numbering::assign_owned`]; 0 with one thread).
    pub owner: u32,
    /// The segment's side of its connection: 0 when it goes the way the connection's first
    /// packet went, 1 the other way. (The numbering compares the 4-tuple anyway; a worker then
    /// needs no addresses past a connection's first packet.) 0 for a late packet on an
    /// [`Ended`] 4-tuple.
    pub side: u8,
}

/// What the numbering remembers of a 4-tuple whose connection is live, or whose stream index is
/// reserved (32 bytes; once the connection is over, [`Ended`] keeps what is still needed).
#[derive(Clone, Copy, Debug)]
struct KeyState {
    stream: u64,
    /// Wireshark's base_seq per side: the first sequence number seen (see `has_base`).
    base_seq: [u32; 2],
    /// Who owns the 4-tuple; [`UNOWNED`] while it has been seen only quoted in an ICMP error
    /// (its stream index is reserved; its first TCP segment starts the connection).
    owner: u32,
    /// The slot its connection was given ([`NO_SLOT`] while reserved).
    slot: u32,
    /// Side 0 (the first sender) is the lower address of the key.
    a_is_lower: bool,
    /// Whether `base_seq` of each side is known.
    has_base: [bool; 2],
}

const _: () = assert!(std::mem::size_of::<KeyState>() == 32);

/// The owner of a 4-tuple seen only quoted in an ICMP error.
const UNOWNED: u32 = u32::MAX;

/// The slot of a 4-tuple that has no connection (only quoted so far).
const NO_SLOT: u32 = u32::MAX;

/// The stream of a free slot.
const FREE: u64 = u64::MAX;

impl KeyState {
    fn reserved(&self) -> bool {
        self.owner == UNOWNED
    }

    /// The base sequence number of `side`, if known.
    fn base(&self, side: usize) -> Option<u32> {
        match (self.has_base.get(side), self.base_seq.get(side)) {
            (Some(true), Some(&b)) => Some(b),
            _ => None,
        }
    }

    /// Records `seq` as the base sequence number of `side` unless it has one.
    fn set_base_once(&mut self, side: usize, seq: u32) {
        if let (Some(has), Some(b)) = (self.has_base.get_mut(side), self.base_seq.get_mut(side))
            && !*has
        {
            *has = true;
            *b = seq;
        }
    }
}

/// One owner's connection slots, as the numbering hands them out: the stream each slot holds
/// (or [`FREE`]) and the free ones. The owner's [`Connections`] keeps its live connections in
/// a vector by slot and gives a slot back ([`Numbering::release`]) when it finalises the
/// connection in it; until then the slot is not given to another 4-tuple.
#[derive(Debug, Default)]
struct Slots {
    /// By slot: the stream it holds, and its 4-tuple's key.
    held: Vec<(u64, u64)>,
    free: Vec<u32>,
}

impl Slots {
    /// A free slot (or a new one) for `stream`, on the 4-tuple `key`.
    fn take(&mut self, stream: u64, key: u64) -> u32 {
        while let Some(s) = self.free.pop() {
            if let Some(x) = self.held.get_mut(s as usize) {
                *x = (stream, key);
                return s;
            }
        }
        match u32::try_from(self.held.len()) {
            Ok(s) if s < NO_SLOT => {
                self.held.push((stream, key));
                s
            }
            // Four billion live connections on one thread: not tracked.
            _ => NO_SLOT,
        }
    }

    /// The slot for `stream`, a new connection on the 4-tuple `key` whose connection `old` had
    /// `slot`: the same slot while `old` still holds it (the owner replaces the connection in
    /// it, as a new connection on a 4-tuple replaces the old one), another one once it was
    /// given back.
    fn again(&mut self, slot: u32, old: u64, stream: u64, key: u64) -> u32 {
        match self.held.get_mut(slot as usize) {
            Some(x) if x.0 == old => {
                x.0 = stream;
                slot
            }
            _ => self.take(stream, key),
        }
    }

    /// `slot` is free again if it still holds `stream` (a new connection of the same 4-tuple
    /// may have taken it over since: then its owner did not free it); the 4-tuple's key if so.
    fn release(&mut self, slot: u32, stream: u64) -> Option<u64> {
        let x = self.held.get_mut(slot as usize)?;
        if x.0 != stream {
            return None;
        }
        let key = x.1;
        *x = (FREE, 0);
        self.free.push(slot);
        Some(key)
    }
}

/// A 4-tuple whose connection is over (finalised by its owner, its slot given back): what the
/// numbering still needs of it, in 16 bytes against the 40 of a live entry (key and
/// [`KeyState`]). A packet on it later is a late packet of that connection, as in Wireshark,
/// unless it is a SYN with another initial sequence number than that side's first one (port
/// reuse: a new stream); a late packet may still set the base of a side that had sent nothing.
/// Every 4-tuple whose connection was finalised before the end of the capture ends up here: 8 GiB
/// of the benchmark capture (694,388 connections) took peak RSS to 88.5 MiB when they stayed in
/// the live table.
#[derive(Clone, Copy, Debug)]
struct Ended {
    /// The 4-tuple's key (whose low two bits [`flow_key`] leaves clear), with those bits saying
    /// whether `base` is known: bit 0 for the lower address's side, bit 1 for the other (see
    /// [`Ended::HAS`]).
    key: u64,
    /// Each side's base sequence number, the lower address's side first.
    base: [u32; 2],
}

impl Ended {
    /// The low bits of [`Ended::key`] that say which bases are known.
    const HAS: u64 = 0b11;

    /// What is kept of `st`, the 4-tuple `key`'s entry.
    fn of(key: u64, st: &KeyState) -> Ended {
        // Side 0 of the connection is the lower address's side when `a_is_lower`.
        let order = if st.a_is_lower { [0, 1] } else { [1, 0] };
        let mut e = Ended {
            key: key & !Self::HAS,
            base: [0; 2],
        };
        for (i, side) in order.into_iter().enumerate() {
            if let (Some(b), Some(slot)) = (st.base(side), e.base.get_mut(i)) {
                *slot = b;
                e.key |= 1 << i;
            }
        }
        e
    }

    fn matches(&self, key: u64) -> bool {
        self.key & !Self::HAS == key & !Self::HAS
    }

    /// The base of side `i` (0: the lower address's), if known.
    fn base(&self, i: usize) -> Option<u32> {
        (self.key & (1 << i) != 0)
            .then(|| self.base.get(i).copied())
            .flatten()
    }

    fn set_base_once(&mut self, i: usize, seq: u32) {
        if self.key & (1 << i) == 0
            && let Some(b) = self.base.get_mut(i)
        {
            *b = seq;
            self.key |= 1 << i;
        }
    }
}

/// The [`Ended`] 4-tuples, in 16 tables chosen by the key's top bits: a table that grows holds
/// its old and its new buckets at once, and one of sixteen doing so costs a sixteenth of it.
#[derive(Debug, Default)]
struct EndedTable {
    shards: [hashbrown::HashTable<Ended>; 16],
}

impl EndedTable {
    /// The hash a shard files `key` under (without the bits [`Ended::key`] reuses).
    fn hash(key: u64) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(key & !Ended::HAS)
    }

    fn shard(&mut self, key: u64) -> Option<&mut hashbrown::HashTable<Ended>> {
        self.shards.get_mut(usize::try_from(key >> 60).ok()?)
    }

    fn find_mut(&mut self, key: u64) -> Option<&mut Ended> {
        self.shard(key)?
            .find_mut(Self::hash(key), |e| e.matches(key))
    }

    fn contains(&self, key: u64) -> bool {
        usize::try_from(key >> 60)
            .ok()
            .and_then(|i| self.shards.get(i))
            .is_some_and(|t| t.find(Self::hash(key), |e| e.matches(key)).is_some())
    }

    fn remove(&mut self, key: u64) {
        if let Some(Ok(e)) = self
            .shard(key)
            .map(|t| t.find_entry(Self::hash(key), |e| e.matches(key)))
        {
            e.remove();
        }
    }

    fn insert(&mut self, e: Ended) {
        if let Some(t) = self.shard(e.key) {
            t.insert_unique(Self::hash(e.key), e, |x| Self::hash(x.key));
        }
    }
}

/// Wireshark's `tcp.stream` numbering, kept apart from connection state so that one reader can
/// number every packet in file order while the connections are spread over threads (workers,
/// and the reader itself). It also hands out each connection's slot in its owner's table.
#[derive(Debug, Default)]
pub struct Numbering {
    /// 4-tuples with a live connection (about as many as the connections open at once), and
    /// those seen only quoted in ICMP errors (their stream index reserved; they stay here).
    keys: rustc_hash::FxHashMap<u64, KeyState>,
    /// Every other 4-tuple seen.
    ended: EndedTable,
    next: u64,
    /// By owner.
    slots: rustc_hash::FxHashMap<u32, Slots>,
}

impl Numbering {
    /// Number of `tcp.stream` indices handed out so far.
    pub fn streams(&self) -> u64 {
        self.next
    }

    /// The stream of this segment, whether it starts a new connection (a new 4-tuple, the
    /// first real packet of a reserved one, or a SYN whose ISN differs from that side's base
    /// sequence number: port reuse; a retransmitted SYN keeps its stream), and its side (0 for
    /// the packet that starts a connection).
    pub fn assign(&mut self, seg: &TcpSegment<'_>) -> Assigned {
        self.assign_owned(seg, || 0)
    }

    /// [`Numbering::assign`], and the owner of the 4-tuple: `owner()` when its first segment
    /// comes (`u32::MAX`, which marks a reserved index, is taken as `u32::MAX - 1`). A 4-tuple
    /// keeps its owner while its connection is live, port reuse included, so that one thread
    /// sees every packet of it: a new connection on a 4-tuple replaces the old one in its
    /// owner's table, as with one thread. A packet on an [`Ended`] 4-tuple that starts no new
    /// connection is late: it goes to owner `u32::MAX - 1` with [`NO_SLOT`], which counts it.
    pub fn assign_owned(&mut self, seg: &TcpSegment<'_>, owner: impl FnOnce() -> u32) -> Assigned {
        let (h, lower) = flow_key(seg.src, seg.dst);
        let slots = &mut self.slots;
        let fresh = |stream: u64, owner: u32, slot: u32| KeyState {
            stream,
            base_seq: [seg.body.seq, 0],
            owner,
            slot,
            a_is_lower: lower,
            has_base: [true, false],
        };
        let owner = move || owner().min(UNOWNED - 1);
        let st = match self.keys.get_mut(&h) {
            None => {
                if let Some(e) = self.ended.find_mut(h) {
                    // Sides by address order here.
                    let i = usize::from(!lower);
                    let is_syn = seg.body.flags.syn() && !seg.body.flags.ack();
                    if !(is_syn && e.base(i).is_some_and(|b| b != seg.body.seq)) {
                        e.set_base_once(i, seg.body.seq);
                        return Assigned {
                            stream: FREE,
                            new: false,
                            slot: NO_SLOT,
                            owner: UNOWNED - 1,
                            side: 0,
                        };
                    }
                    // Port reuse: a new connection, numbered as a new 4-tuple.
                    self.ended.remove(h);
                }
                let stream = self.next;
                self.next += 1;
                let owner = owner();
                let slot = slots.entry(owner).or_default().take(stream, h);
                let st = fresh(stream, owner, slot);
                self.keys.insert(h, st);
                return Assigned {
                    stream,
                    new: true,
                    slot,
                    owner,
                    side: 0,
                };
            }
            Some(st) => st,
        };
        let (new, side) = if st.reserved() {
            let owner = owner();
            let slot = slots.entry(owner).or_default().take(st.stream, h);
            *st = fresh(st.stream, owner, slot);
            (true, 0)
        } else {
            let side = usize::from(lower != st.a_is_lower);
            let is_syn = seg.body.flags.syn() && !seg.body.flags.ack();
            if is_syn && st.base(side).is_some_and(|b| b != seg.body.seq) {
                let stream = self.next;
                self.next += 1;
                let slot = slots
                    .entry(st.owner)
                    .or_default()
                    .again(st.slot, st.stream, stream, h);
                *st = fresh(stream, st.owner, slot);
                (true, 0)
            } else {
                st.set_base_once(side, seg.body.seq);
                (false, side as u8)
            }
        };
        Assigned {
            stream: st.stream,
            new,
            slot: st.slot,
            owner: st.owner,
            side,
        }
    }

    /// Slots `owner` has emptied: (slot, the stream of the connection it finalised there).
    /// Their 4-tuples move to the [`Ended`] table, unless a newer connection holds them.
    pub fn release(&mut self, owner: u32, freed: &[(u32, u64)]) {
        let Some(slots) = self.slots.get_mut(&owner) else {
            return;
        };
        for &(slot, stream) in freed {
            if let Some(key) = slots.release(slot, stream)
                && let std::collections::hash_map::Entry::Occupied(o) = self.keys.entry(key)
                && o.get().stream == stream
            {
                let st = o.remove();
                self.ended.insert(Ended::of(key, &st));
            }
        }
    }

    /// A TCP 4-tuple quoted in an ICMP error: takes a stream index if the 4-tuple is new.
    pub fn quoted(&mut self, src: SocketAddr, dst: SocketAddr) {
        let (h, _) = flow_key(src, dst);
        if !self.keys.contains_key(&h) && !self.ended.contains(h) {
            self.keys.insert(
                h,
                KeyState {
                    stream: self.next,
                    base_seq: [0; 2],
                    owner: UNOWNED,
                    slot: NO_SLOT,
                    a_is_lower: true,
                    has_base: [false; 2],
                },
            );
            self.next += 1;
        }
    }
}

/// A connection's state: full, or held as the headers of packets without payload (see
/// [`attempt`]).
#[derive(Debug)]
enum State {
    Full(Box<Conn>),
    Held(Box<Attempt>),
}

impl State {
    fn stream(&self) -> u64 {
        match self {
            State::Full(c) => c.stream,
            State::Held(a) => a.stream,
        }
    }
}

/// What new connection states are made from: boxes of finalised connections, and the key log.
#[derive(Debug, Default)]
struct Spares {
    /// Full connections' boxes (a `Conn` is over 1 KiB: past malloc's per-thread cache, and
    /// allocating one per connection showed in profiles).
    #[allow(clippy::vec_box)]
    conns: Vec<Box<Conn>>,
    /// Held connections' boxes.
    #[allow(clippy::vec_box)]
    held: Vec<Box<Attempt>>,
    /// Session secrets for decryption, if the user has them.
    keylog: Option<Arc<KeyLog>>,
}

impl Spares {
    /// The full state of a new connection, after its first packet `seg` (side 0; never a copy:
    /// nothing was seen before it).
    fn full(&mut self, stream: u64, seg: &TcpSegment<'_>, at: At) -> Box<Conn> {
        let mut c = match self.conns.pop() {
            Some(mut b) => {
                b.reuse(stream, seg, at, self.keylog.as_ref());
                b
            }
            None => Box::new(Conn::new(stream, seg, at, self.keylog.as_ref())),
        };
        c.packet(0, &seg.body, at);
        c
    }

    fn held(&mut self, held: Attempt) -> Box<Attempt> {
        match self.held.pop() {
            Some(mut b) => {
                *b = held;
                b
            }
            None => Box::new(held),
        }
    }

    /// The full connection that `held`'s packets build, as they would have built it one by
    /// one; the copies among them are counted now.
    fn replay(&mut self, held: &Attempt, strays: &mut Strays) -> Box<Conn> {
        let (seg, at) = held.first();
        let mut conn = self.full(held.stream, &seg, at);
        for (side, body, at) in held.rest() {
            if !conn.packet(side, &body, at) {
                strays.copies += 1;
            }
        }
        conn
    }

    /// Keeps a finalised connection's box, emptied, while there is room.
    fn give_conn(&mut self, mut c: Box<Conn>) {
        if self.conns.len() < SPARE_CONNS {
            c.spare();
            self.conns.push(c);
        }
    }

    fn give_held(&mut self, b: Box<Attempt>) {
        if self.held.len() < SPARE_HELD {
            self.held.push(b);
        }
    }
}

/// A live connection, with what a sweep reads kept beside it: a sweep looks at every live
/// connection each second, and most of their state is no longer in the CPU's caches.
#[derive(Debug)]
struct Live {
    last_time: Timestamp,
    closed: bool,
    state: State,
}

impl Live {
    fn new(state: State) -> Live {
        let (last_time, closed) = match &state {
            State::Full(c) => (c.last_time, c.closed()),
            State::Held(a) => (a.last_time(), a.closed()),
        };
        Live {
            last_time,
            closed,
            state,
        }
    }

    /// See [`Conn::packet`]: false for a copy of a packet just seen.
    #[inline]
    fn packet(
        &mut self,
        side: usize,
        seg: &TcpBody<'_>,
        at: At,
        spares: &mut Spares,
        holding: &mut Holding,
        strays: &mut Strays,
    ) -> bool {
        // Every packet is the connection's last (a full one sets its own alike).
        self.last_time = at.time;
        let (full, analysed) = match &mut self.state {
            State::Full(c) => {
                let analysed = c.packet(side, seg, at);
                self.closed = c.closed();
                return analysed;
            }
            State::Held(held) => {
                if held.hold(side, seg, at) {
                    // Held packets have no FIN (see `attempt`).
                    self.closed |= seg.flags.rst();
                    return true;
                }
                holding.turned_full = holding.turned_full.saturating_add(1);
                made_full(held, side, seg, at, spares, strays)
            }
        };
        self.closed = full.closed();
        if let State::Held(b) = std::mem::replace(&mut self.state, State::Full(full)) {
            spares.give_held(b);
        }
        analysed
    }
}

/// The full state `held`'s packets build, and then `seg`'s: what [`Conn::packet`] returns for
/// it.
#[cold]
#[inline(never)]
fn made_full(
    held: &Attempt,
    side: usize,
    seg: &TcpBody<'_>,
    at: At,
    spares: &mut Spares,
    strays: &mut Strays,
) -> (Box<Conn>, bool) {
    let mut c = spares.replay(held, strays);
    let analysed = c.packet(side, seg, at);
    (c, analysed)
}

/// The live connections one owner holds (the whole file, or one thread's share of the flows).
#[derive(Debug)]
pub struct Connections {
    /// By [`Assigned::slot`].
    live: Vec<Option<Live>>,
    /// Slots emptied since [`Connections::take_freed`] last ran, with the stream each held:
    /// for the numbering to hand out again ([`Numbering::release`]).
    freed: Vec<(u32, u64)>,
    /// Live connections (the `Some` in `live`).
    live_count: usize,
    /// When a new connection is held (see [`attempt`]).
    holding: Holding,
    /// Replaced by a new connection on the same 4-tuple; finalised at the next sweep. (Boxes
    /// moved out of `live`: a `Conn` is large, moving the box is not.)
    replaced: Vec<State>,
    spares: Spares,
    /// Packets counted but not analysed: complete once every connection is finalised (copies
    /// among a held connection's packets are counted when they are replayed).
    pub strays: Strays,
}

/// Packets counted but not analysed: late ones, which arrived on a connection already
/// finalised, and copies of a packet just seen (captured twice, see `copies`). Each owner
/// counts its own; the file's are the sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Strays {
    pub late: u64,
    pub copies: u64,
}

impl std::ops::AddAssign for Strays {
    fn add_assign(&mut self, o: Strays) {
        self.late += o.late;
        self.copies += o.copies;
    }
}

/// How many connections ahead [`Connections::finish_sorted`] asks for a connection's event
/// list (and twice as far for its box). 1 GiB benchmark, pinned `--jobs 1`, pair medians against
/// no prefetch: 0.966 (4 ahead), 0.975 (8 ahead) with the file in 2 MiB folios, 0.971 (4) in
/// 4 KiB pages.
const FINISH_AHEAD: usize = 4;

/// The most of an event list asked for ahead (the lists of most connections are shorter).
const EVENTS_AHEAD_BYTES: usize = 2048;

/// Spare connection boxes kept (about 1.3 KiB each).
const SPARE_CONNS: usize = 1024;
/// Spare boxes of held connections kept (under 200 bytes each).
const SPARE_HELD: usize = 1024;

/// Live connections from which a new one is held until it carries a byte (see [`attempt`]).
/// Holding is exact at any number, but below this it saves little memory (the 1 GiB benchmark
/// has ~4,200 live, ~10 MiB of state) and costs a usual capture time: holding every connection
/// took 1.025 of the time on that benchmark (20 rounds, pinned `--jobs 1`, 2 MiB folios; a first
/// version 1.044, +2.1% instructions). A capture with more live connections than this that all
/// carry bytes (a busy proxy's) would pay that, but holding pauses there (see [`Holding`]).
/// Above it are floods and scans: 1 M unanswered SYNs took 2.9 GB before, 0.57 GB now.
const HOLD_FROM: usize = 16_384;

/// New connections held since the last sweep from which holding may be found wasted.
const HOLD_SAMPLE: u32 = 64;

/// Sweeps (seconds of capture time) without holding once it was found wasted, before it is
/// tried again.
const HOLD_PAUSE_SWEEPS: u32 = 16;

/// When a new connection is held (see [`attempt`]): from many live connections on, unless
/// what was held lately turned full anyway. A busy capture whose connections all carry bytes
/// gains no memory by holding and pays for it (see [`HOLD_FROM`]); in a flood or a scan almost
/// nothing held turns full. Either way the output is the same.
#[derive(Debug)]
struct Holding {
    /// Live connections from which new ones are held: [`HOLD_FROM`], or 0 in tests.
    from: usize,
    /// Connections held since the last sweep.
    made: u32,
    /// Held connections made full by a packet since the last sweep.
    turned_full: u32,
    /// Sweeps left without holding.
    paused: u32,
}

impl Holding {
    fn new(from: usize) -> Holding {
        Holding {
            from,
            made: 0,
            turned_full: 0,
            paused: 0,
        }
    }

    fn wanted(&self, live: usize) -> bool {
        self.paused == 0 && live >= self.from
    }

    /// At a sweep: holding pauses for [`HOLD_PAUSE_SWEEPS`] when, of at least [`HOLD_SAMPLE`]
    /// connections held since the last sweep, as many as three in four turned full.
    fn sweep(&mut self) {
        if self.paused > 0 {
            self.paused -= 1;
        } else if self.made >= HOLD_SAMPLE
            && u64::from(self.turned_full) * 4 >= u64::from(self.made) * 3
        {
            self.paused = HOLD_PAUSE_SWEEPS;
        }
        self.made = 0;
        self.turned_full = 0;
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            live: Vec::new(),
            freed: Vec::new(),
            live_count: 0,
            holding: Holding::new(HOLD_FROM),
            replaced: Vec::new(),
            spares: Spares::default(),
            strays: Strays::default(),
        }
    }
}

impl Connections {
    /// Connections that decrypt the sessions in `keylog`.
    pub fn with_keylog(keylog: Option<Arc<KeyLog>>) -> Self {
        Connections {
            spares: Spares {
                keylog,
                ..Spares::default()
            },
            ..Connections::default()
        }
    }

    /// One segment, numbered by [`Numbering::assign`].
    pub fn packet(&mut self, seg: &TcpSegment<'_>, at: At, id: Assigned) {
        let slot = id.slot as usize;
        if id.new {
            if id.slot == NO_SLOT {
                // Not tracked (see `Slots::take`).
                self.strays.late += 1;
                return;
            }
            if self.live.len() <= slot {
                // Slots are handed out in order: this grows the table by one.
                self.live.resize_with(slot + 1, || None);
            }
            let held = if self.holding.wanted(self.live_count) {
                Attempt::start(id.stream, seg, at)
            } else {
                None
            };
            let state = match held {
                Some(held) => {
                    self.holding.made = self.holding.made.saturating_add(1);
                    State::Held(self.spares.held(held))
                }
                None => State::Full(self.spares.full(id.stream, seg, at)),
            };
            // A connection still in the slot is the 4-tuple's previous one (port reuse): the
            // numbering gives a slot to another 4-tuple only once it was freed.
            match self
                .live
                .get_mut(slot)
                .and_then(|l| l.replace(Live::new(state)))
            {
                Some(old) => self.replaced.push(old.state),
                None => self.live_count += 1,
            }
        } else {
            self.packet_of_open(&seg.body, at, id);
        }
    }

    /// A segment of a connection already open (`id.new` is false), without its 4-tuple: the
    /// numbering has told its side. (A `--jobs` worker gets packets so, save each connection's
    /// first.)
    #[inline]
    pub fn packet_of_open(&mut self, seg: &TcpBody<'_>, at: At, id: Assigned) {
        match self.live.get_mut(id.slot as usize) {
            // The slot may hold another 4-tuple's connection by now.
            Some(Some(l)) if l.state.stream() == id.stream => {
                let side = usize::from(id.side);
                let (spares, holding) = (&mut self.spares, &mut self.holding);
                if !l.packet(side, seg, at, spares, holding, &mut self.strays) {
                    self.strays.copies += 1;
                }
            }
            _ => self.strays.late += 1,
        }
    }

    /// The slots emptied since the last call, with the stream each held (for a numbering on
    /// another thread; on this one, [`Connections::release_slots`]).
    pub fn take_freed(&mut self) -> Vec<(u32, u64)> {
        std::mem::take(&mut self.freed)
    }

    /// Hands the slots emptied since the last call back to `numbering`, which numbers this
    /// table's connections as `owner`.
    pub fn release_slots(&mut self, numbering: &mut Numbering, owner: u32) {
        numbering.release(owner, &self.freed);
        self.freed.clear();
    }

    /// Finalises the connections that are done at capture time `now` (closed and quiet for
    /// [`LINGER_SECS`], or silent for [`IDLE_EXPIRY_SECS`]) and those replaced since the last
    /// sweep, in stream order.
    pub fn sweep(&mut self, now: Timestamp) -> Vec<Timeline> {
        self.holding.sweep();
        let mut done = std::mem::take(&mut self.replaced);
        for (slot, cell) in (0u32..).zip(self.live.iter_mut()) {
            let expired = cell.as_ref().is_some_and(|l| {
                let quiet = now.0.saturating_sub(l.last_time.0) / 1_000_000_000;
                (l.closed && quiet >= LINGER_SECS) || quiet >= IDLE_EXPIRY_SECS
            });
            if let Some(l) = cell.take_if(|_| expired) {
                self.freed.push((slot, l.state.stream()));
                debug_assert!(self.live_count > 0, "a live connection uncounted");
                self.live_count = self.live_count.saturating_sub(1);
                done.push(l.state);
            }
        }
        self.finish_sorted(done)
    }

    /// End of the capture: every connection is finalised, in stream order.
    pub fn finish(&mut self) -> Vec<Timeline> {
        let mut done = std::mem::take(&mut self.replaced);
        done.extend(self.live.drain(..).flatten().map(|l| l.state));
        self.live_count = 0;
        self.freed.clear();
        self.finish_sorted(done)
    }

    /// Timelines of `done` in stream order (so that output never depends on hash order or on
    /// scheduling); their boxes go to the spares. A held connection is replayed into a spare
    /// box first, one at a time.
    fn finish_sorted(&mut self, mut done: Vec<State>) -> Vec<Timeline> {
        // Streams are unique: an unstable sort gives the one order, and takes no buffer.
        done.sort_unstable_by_key(State::stream);
        // A finished connection was last touched at least LINGER_SECS of capture time ago, so
        // its box and event list have left the CPU caches: each is asked for a few connections
        // ahead (the box first, its events once the box, which holds their address, is in).
        let ask_conn = |s: &State| match s {
            State::Full(c) => crate::capture::prefetch_span(
                (&**c as *const Conn).cast(),
                std::mem::size_of::<Conn>(),
            ),
            State::Held(a) => crate::capture::prefetch_span(
                (&**a as *const Attempt).cast(),
                std::mem::size_of::<Attempt>(),
            ),
        };
        let ask_events = |s: &State| {
            if let State::Full(c) = s {
                let bytes = std::mem::size_of_val(c.events.list.as_slice());
                crate::capture::prefetch_span(
                    c.events.list.as_ptr().cast(),
                    bytes.min(EVENTS_AHEAD_BYTES),
                )
            }
        };
        done.iter().take(2 * FINISH_AHEAD).for_each(ask_conn);
        done.iter().take(FINISH_AHEAD).for_each(ask_events);
        let mut timelines = Vec::with_capacity(done.len());
        // Each connection's state goes as soon as its timeline is made (a full one's box to the
        // spares while there is room): a sweep, or the end of the capture, may finalise
        // millions of held connections at once.
        let mut done = done.into_iter();
        while let Some(state) = done.next() {
            let ahead = done.as_slice();
            if let Some(s) = ahead.get(2 * FINISH_AHEAD - 1) {
                ask_conn(s);
            }
            if let Some(s) = ahead.get(FINISH_AHEAD - 1) {
                ask_events(s);
            }
            match state {
                State::Full(mut c) => {
                    timelines.push(c.finish());
                    self.spares.give_conn(c);
                }
                State::Held(held) => {
                    let mut c = self.spares.replay(&held, &mut self.strays);
                    let mut t = c.finish();
                    // A few events: the timeline need not hold a list made for 24 until it is
                    // rendered.
                    t.events.shrink_to_fit();
                    timelines.push(t);
                    self.spares.give_held(held);
                    self.spares.give_conn(c);
                }
            }
        }
        timelines
    }
}

/// When a reader sweeps: at the first packet of each new second of capture time (a fixed grid,
/// `SWEEP_EVERY_SECS` wide, counted from the epoch). Where the sweeps fall depends only on the
/// packet's own time and the latest second seen before it, not on when the capture started or
/// when the last sweep was, so that a reader starting in the middle of a capture can tell its
/// sweeps from the packet before its first one. Time going backwards sweeps nothing until it
/// passes the latest second seen.
#[derive(Debug, Default)]
pub struct SweepClock {
    /// The latest grid cell seen (the first packet's, until a later one comes).
    last: Option<i64>,
}

impl SweepClock {
    /// True when a sweep is due at packet time `now`.
    pub fn due(&mut self, now: Timestamp) -> bool {
        let cell = now.0.div_euclid(SWEEP_EVERY_SECS * 1_000_000_000);
        match self.last {
            Some(last) if cell <= last => false,
            Some(_) => {
                self.last = Some(cell);
                true
            }
            None => {
                self.last = Some(cell);
                false
            }
        }
    }
}

/// All TCP connections of one capture, on one thread: numbering, connections and sweeps.
#[derive(Debug, Default)]
pub struct FlowTable {
    numbering: Numbering,
    conns: Connections,
    clock: SweepClock,
}

impl FlowTable {
    /// A table whose connections decrypt the sessions in `keylog`.
    pub fn with_keylog(keylog: Option<Arc<KeyLog>>) -> Self {
        FlowTable {
            conns: Connections::with_keylog(keylog),
            ..FlowTable::default()
        }
    }

    /// Number of `tcp.stream` indices handed out so far.
    pub fn streams(&self) -> u64 {
        self.numbering.streams()
    }

    /// Packets counted but not analysed: late ones and copies (see [`Strays`]); complete after
    /// [`FlowTable::finish`].
    pub fn strays(&self) -> Strays {
        self.conns.strays
    }

    /// One TCP segment; the connections a sweep finalises are handed to `done` as one batch,
    /// in stream order.
    pub fn packet(
        &mut self,
        seg: &TcpSegment<'_>,
        frame: &Frame<'_>,
        done: &mut dyn FnMut(Vec<Timeline>),
    ) {
        let id = self.numbering.assign(seg);
        self.conns.packet(seg, At::from(frame), id);
        if self.clock.due(frame.time) {
            let batch = self.conns.sweep(frame.time);
            // One thread: every connection's owner is 0 (see `Numbering::assign`).
            self.conns.release_slots(&mut self.numbering, 0);
            if !batch.is_empty() {
                done(batch);
            }
        }
    }

    /// End of the capture: every remaining connection is finalised, in stream order.
    pub fn finish(&mut self) -> Vec<Timeline> {
        self.conns.finish()
    }

    /// A TCP 4-tuple quoted in an ICMP error: takes a stream index if the 4-tuple is new.
    pub fn quoted(&mut self, src: SocketAddr, dst: SocketAddr) {
        self.numbering.quoted(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::link::TcpFlags;

    /// Both directions give one key; `lower` says what SocketAddr's order says (the packed IPv4
    /// words order like the addresses: address first, then port).
    #[test]
    fn flow_key_is_symmetric_and_orders_like_socket_addr() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:443",
            "10.0.0.1:50000",
            "10.0.0.2:1",
            "9.255.255.255:65535",
            "127.0.0.1:443",
            "[::1]:443",
            "[::1]:50000",
            "[fe80::1]:22",
        ]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
        assert_eq!(addrs.len(), 8);
        for &a in &addrs {
            for &b in &addrs {
                let (hab, lower_ab) = flow_key(a, b);
                let (hba, lower_ba) = flow_key(b, a);
                assert_eq!(hab, hba, "{a} {b}");
                assert_eq!(lower_ab, a <= b, "{a} {b}");
                if a != b {
                    assert_ne!(lower_ab, lower_ba, "{a} {b}");
                }
            }
        }
    }

    fn seg(
        src: &str,
        dst: &str,
        seq: u32,
        flags: u8,
        payload: &'static [u8],
    ) -> TcpSegment<'static> {
        TcpSegment {
            src: src.parse().expect("addr"),
            dst: dst.parse().expect("addr"),
            body: TcpBody {
                seq,
                ack: 0,
                flags: TcpFlags(flags),
                window: 1000,
                payload,
                wire_len: payload.len() as u32,
                ttl: 64,
                ip_id: None,
            },
        }
    }

    fn frame(n: u64, secs: i64) -> Frame<'static> {
        Frame {
            number: n,
            time: Timestamp(secs * 1_000_000_000),
            linktype: 1,
            data: &[],
            orig_len: 0,
        }
    }

    const C: &str = "10.0.0.1:40000";
    const S: &str = "10.0.0.2:443";
    const SYN: u8 = TcpFlags::SYN;
    const SYNACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const ACK: u8 = TcpFlags::ACK;

    /// Sweeps fall at the first packet of each new second of capture time, whatever the first
    /// packet's time; time going backwards sweeps nothing until a later second comes.
    #[test]
    fn sweeps_on_a_grid_of_whole_seconds() {
        let ms = |m: i64| Timestamp(m * 1_000_000);
        let mut clock = SweepClock::default();
        let due: Vec<bool> = [
            1700, 1999, 2000, 2999, 3001, 2500, 3999, 4000, 4000, 7300, -5,
        ]
        .into_iter()
        .map(|m| clock.due(ms(m)))
        .collect();
        assert_eq!(
            due,
            [
                false, false, true, false, true, false, false, true, false, true, false
            ]
        );
        // Started one packet later, in the same second, it sweeps at the same packets.
        let mut later = SweepClock::default();
        let due: Vec<bool> = [1999, 2000, 2999, 3001].map(|m| later.due(ms(m))).to_vec();
        assert_eq!(due, [false, true, false, true]);
        // Before the epoch too.
        let mut before = SweepClock::default();
        let due: Vec<bool> = [-1500, -1001, -1000, -1]
            .map(|m| before.due(ms(m)))
            .to_vec();
        assert_eq!(due, [false, false, true, false]);
    }

    /// A box that served a connection, spared and reused, is what a new one would be: every
    /// field is set again (the first connection dirties as many as it can).
    #[test]
    fn reuse_is_new() {
        let at = |frame: u64| At {
            frame,
            time: Timestamp(frame as i64 * 1_000_000),
        };
        let first = seg(C, S, 100, SYN, b"");
        let mut c = Conn::new(7, &first, at(1), None);
        c.packet(0, &first.body, at(1));
        let mut synack = seg(S, C, 500, SYNACK, b"");
        synack.body.ack = 101;
        synack.body.ip_id = Some(9);
        c.packet(1, &synack.body, at(2));
        // Plaintext HTTP (the HTTP state is made), a segment ahead of a hole (held back), a
        // zero window (opened again by the FIN), a FIN and a RST.
        c.packet(
            0,
            &seg(C, S, 101, ACK, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body,
            at(3),
        );
        c.packet(1, &seg(S, C, 520, ACK, b"later").body, at(4));
        let mut zero = seg(C, S, 128, ACK, b"");
        zero.body.window = 0;
        c.packet(0, &zero.body, at(5));
        c.packet(0, &seg(C, S, 128, ACK | TcpFlags::FIN, b"").body, at(6));
        c.packet(1, &seg(S, C, 501, ACK | TcpFlags::RST, b"").body, at(7));
        let dirty = format!("{c:?}");
        let t = c.finish();
        assert!(t.events.len() >= 5, "{:?}", t.events);
        c.spare();

        let second = seg("[2001:db8::1]:50000", "[2001:db8::2]:443", 9, ACK, b"");
        c.reuse(8, &second, at(20), None);
        let fresh = Conn::new(8, &second, at(20), None);
        assert_eq!(format!("{c:?}"), format!("{fresh:?}"));
        assert_ne!(dirty, format!("{fresh:?}"));
        for field in [
            "activity: Some",
            "syn_side: Some",
            "fin: [true",
            "rst: true",
            "synack_mark: Some",
            "rst_marks: [(",
            "pending: [Pending",
            "mode: Plaintext",
            "http: HttpConn(Some",
        ] {
            assert!(dirty.contains(field), "{field} not dirtied: {dirty}");
        }
    }

    /// A segment's side is its direction against its connection's first packet, whichever
    /// address is the lower, and a new connection on the 4-tuple (port reuse) starts it again:
    /// what `Conn` would find by comparing the addresses.
    #[test]
    fn the_side_is_the_direction_against_the_first_packet() {
        let mut n = Numbering::default();
        // A 4-tuple first quoted in an ICMP error (IPv6): its stream, 0, is reserved.
        let (hi, lo) = ("[2001:db8::9]:443", "[2001:db8::1]:50000");
        n.quoted(lo.parse().expect("addr"), hi.parse().expect("addr"));
        let cases = [
            // The server (the higher address) speaks first: it is side 0.
            (
                1,
                [
                    seg(S, C, 7, ACK, b"x"),
                    seg(C, S, 1, ACK, b""),
                    seg(S, C, 8, ACK, b"y"),
                ],
            ),
            // The client opens again from the same port: a new connection, the client side 0.
            (
                2,
                [
                    seg(C, S, 9000, SYN, b""),
                    seg(S, C, 50, SYNACK, b""),
                    seg(C, S, 9001, ACK, b""),
                ],
            ),
            // The quoted 4-tuple opened from the higher address.
            (
                0,
                [
                    seg(hi, lo, 5, ACK, b"a"),
                    seg(lo, hi, 9, ACK, b""),
                    seg(hi, lo, 6, ACK, b"b"),
                ],
            ),
        ];
        for (stream, packets) in cases {
            let got: Vec<(u64, bool, u8)> = packets
                .iter()
                .map(|s| {
                    let a = n.assign(s);
                    (a.stream, a.new, a.side)
                })
                .collect();
            let want = [(stream, true, 0), (stream, false, 1), (stream, false, 0)];
            assert_eq!(got, want, "stream {stream}");
        }
        // Tracked with those sides: each direction's packets and bytes are counted apart (the
        // server speaks first here, and the client is the side of the higher port).
        let mut c = Connections::default();
        let mut m = Numbering::default();
        let packets = [
            seg(S, C, 7, ACK, b"xyz"),
            seg(C, S, 1, ACK, b""),
            seg(S, C, 10, ACK, b"w"),
            seg(C, S, 1, ACK, b"hello"),
        ];
        for (i, s) in packets.iter().enumerate() {
            let id = m.assign(s);
            c.packet(s, At::from(&frame(i as u64 + 1, 0)), id);
        }
        let t = c.finish();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].client, t[0].server),
            (C.parse().unwrap(), S.parse().unwrap())
        );
        assert_eq!((t[0].c2s.packets, t[0].c2s.bytes), (2, 5));
        assert_eq!((t[0].s2c.packets, t[0].s2c.bytes), (2, 4));
    }

    // --- owners (--jobs) --------------------------------------------------------------------
    /// A 4-tuple gets its owner once, at its first segment (an ICMP quote does not decide it),
    /// and keeps it in both directions and across port reuse.
    #[test]
    fn a_four_tuple_keeps_its_first_owner() {
        let mut n = Numbering::default();
        let mut asked = 0;
        let mut next_owner = 7u32;
        let mut assign = |n: &mut Numbering, s: &TcpSegment<'_>| {
            n.assign_owned(s, || {
                asked += 1;
                next_owner += 1;
                next_owner
            })
        };
        let a = assign(&mut n, &seg(C, S, 100, SYN, b""));
        assert_eq!((a.stream, a.new, a.owner), (0, true, 8));
        let b = assign(&mut n, &seg(S, C, 500, SYNACK, b""));
        assert_eq!((b.stream, b.new, b.owner), (0, false, 8));
        // Port reuse: a new stream, the same owner.
        let c = assign(&mut n, &seg(C, S, 9000, SYN, b""));
        assert_eq!((c.stream, c.new, c.owner), (1, true, 8));
        // Quoted first: the index is taken, the owner comes with the first segment.
        let other = "10.0.0.3:40001";
        n.quoted(other.parse().expect("addr"), S.parse().expect("addr"));
        let d = assign(&mut n, &seg(S, other, 1, ACK, b"x"));
        assert_eq!((d.stream, d.new, d.owner), (2, true, 9));
        let e = assign(&mut n, &seg(other, S, 2, ACK, b"y"));
        assert_eq!((e.stream, e.new, e.owner), (2, false, 9));
        assert_eq!(asked, 2);
        // An owner of u32::MAX (the reserved mark) is taken as u32::MAX - 1: the 4-tuple's
        // next segment continues its connection instead of starting one again.
        let third = "10.0.0.4:40002";
        let f = n.assign_owned(&seg(third, S, 1, SYN, b""), || u32::MAX);
        assert_eq!((f.stream, f.new, f.owner), (3, true, u32::MAX - 1));
        let g = n.assign_owned(&seg(S, third, 5, SYNACK, b""), || 0);
        assert_eq!((g.stream, g.new, g.owner), (3, false, u32::MAX - 1));
        // One thread: everything is owner 0.
        assert_eq!(
            Numbering::default().assign(&seg(C, S, 1, SYN, b"")).owner,
            0
        );
    }

    // --- connection slots --------------------------------------------------------------------
    /// A slot goes to another 4-tuple only after its owner finalised the connection in it and
    /// told the numbering; a late packet naming a slot taken over since is counted late, never
    /// given to the new connection; port reuse keeps the slot while the old connection holds
    /// it, and takes another once it was given away.
    #[test]
    fn slots_are_handed_out_again_only_once_freed() {
        let mut n = Numbering::default();
        let mut c = Connections::default();
        let at = |frame: u64, secs: i64| At {
            frame,
            time: Timestamp(secs * 1_000_000_000),
        };
        let feed = |n: &mut Numbering, c: &mut Connections, s: TcpSegment<'_>, f, t| {
            let id = n.assign(&s);
            c.packet(&s, at(f, t), id);
            id
        };
        let (d, e) = ("10.0.0.3:40001", "10.0.0.4:40002");
        let a = feed(&mut n, &mut c, seg(C, S, 100, SYN, b""), 1, 0);
        assert_eq!((a.stream, a.slot), (0, 0));
        feed(&mut n, &mut c, seg(S, C, 0, TcpFlags::RST, b""), 2, 0);
        let b = feed(&mut n, &mut c, seg(d, S, 1, SYN, b""), 3, 1);
        assert_eq!((b.stream, b.slot), (1, 1));
        // Stream 0 closed 10 s ago: finalised, its slot freed.
        let done = c.sweep(Timestamp(10_000_000_000));
        assert_eq!(done.iter().map(|t| t.stream).collect::<Vec<_>>(), [0]);
        let freed = c.take_freed();
        assert_eq!(freed, [(0, 0)]);
        n.release(a.owner, &freed);
        // A new 4-tuple takes slot 0.
        let e1 = feed(&mut n, &mut c, seg(e, S, 5, SYN, b""), 4, 11);
        assert_eq!((e1.stream, e1.slot, e1.new), (2, 0, true));
        // A late packet of stream 0: its 4-tuple has ended, so it names no slot (not slot 0,
        // stream 2's now) and is counted late.
        let late = feed(&mut n, &mut c, seg(C, S, 101, ACK, b"x"), 5, 12);
        assert_eq!((late.stream, late.slot, late.new), (FREE, NO_SLOT, false));
        assert_eq!(c.strays.late, 1);
        // Port reuse on C's 4-tuple, which has ended: a new stream in a new slot (slot 0 is
        // stream 2's now).
        let a2 = feed(&mut n, &mut c, seg(C, S, 9000, SYN, b""), 6, 13);
        assert_eq!((a2.stream, a2.slot, a2.new), (3, 2, true));
        // Port reuse on E's 4-tuple while stream 2 still holds slot 0: the same slot; stream 2
        // is replaced (finalised at the next sweep, as with one table).
        let e2 = feed(&mut n, &mut c, seg(e, S, 777, SYN, b""), 7, 14);
        assert_eq!((e2.stream, e2.slot, e2.new), (4, 0, true));
        let done = c.sweep(Timestamp(15_000_000_000));
        assert_eq!(done.iter().map(|t| t.stream).collect::<Vec<_>>(), [2]);
        assert_eq!(done.first().map(|t| t.c2s.packets), Some(1));
        // A replaced connection frees no slot: its 4-tuple's new connection is in it.
        assert!(c.take_freed().is_empty());
        let rest = c.finish();
        assert_eq!(rest.iter().map(|t| t.stream).collect::<Vec<_>>(), [1, 3, 4]);
        // Releasing a slot that a new connection of the same 4-tuple holds does nothing.
        n.release(0, &[(0, 2)]);
        // ... and E's 4-tuple stays live: its next packet is stream 4's, not a late one.
        let e3 = n.assign(&seg(S, e, 50, ACK, b""));
        assert_eq!((e3.stream, e3.slot, e3.new, e3.side), (4, 0, false, 1));
        let f = feed(&mut n, &mut c, seg("10.0.0.5:1", S, 1, SYN, b""), 8, 16);
        assert_eq!(f.slot, 3);
    }

    /// Once its connection is over and its slot given back, a 4-tuple moves from the live
    /// table to [`Ended`] and numbers as it did before: a later packet is late, a retransmitted
    /// SYN too, a late packet gives a side that had sent nothing its base, an ICMP quote takes
    /// no index, and a SYN with another ISN opens a stream. The same packets through a
    /// numbering that is never told of the end give the same streams.
    #[test]
    fn ended_four_tuples_number_as_live_ones_did() {
        let mut n = Numbering::default();
        let mut kept = Numbering::default();
        let mut c = Connections::default();
        let at = |frame: u64, secs: i64| At {
            frame,
            time: Timestamp(secs * 1_000_000_000),
        };
        let mut frame_no = 0;
        let mut feed = |n: &mut Numbering, kept: &mut Numbering, c: &mut Connections, s, t| {
            frame_no += 1;
            let id = n.assign(&s);
            let old = kept.assign(&s);
            assert_eq!(id.new, old.new, "frame {frame_no}");
            if id.new {
                assert_eq!(
                    (id.stream, id.side),
                    (old.stream, old.side),
                    "frame {frame_no}"
                );
            }
            c.packet(&s, at(frame_no, t), id);
            id
        };
        // Stream 0: the client's SYN and its RST; the server never sends.
        feed(&mut n, &mut kept, &mut c, seg(C, S, 100, SYN, b""), 0);
        feed(
            &mut n,
            &mut kept,
            &mut c,
            seg(C, S, 101, TcpFlags::RST, b""),
            0,
        );
        assert_eq!(c.sweep(Timestamp(10_000_000_000)).len(), 1);
        let freed = c.take_freed();
        n.release(0, &freed);
        assert!(n.keys.is_empty(), "the live table keeps only live 4-tuples");
        let late = |id: Assigned| (id.stream, id.slot, id.new, id.owner);
        let late_id = (FREE, NO_SLOT, false, UNOWNED - 1);
        // A late ACK, and the client's SYN again with its first ISN: late, no new stream.
        let a = feed(&mut n, &mut kept, &mut c, seg(C, S, 101, ACK, b"x"), 11);
        let b = feed(&mut n, &mut kept, &mut c, seg(C, S, 100, SYN, b""), 12);
        assert_eq!((late(a), late(b)), (late_id, late_id));
        // The server, silent so far: its first packet sets its base (7), so its SYN with 7 is
        // late and with 8 opens stream 1, the server as side 0.
        feed(&mut n, &mut kept, &mut c, seg(S, C, 7, ACK, b""), 13);
        let d = feed(&mut n, &mut kept, &mut c, seg(S, C, 7, SYN, b""), 14);
        assert_eq!(late(d), late_id);
        n.quoted(C.parse().expect("addr"), S.parse().expect("addr"));
        kept.quoted(C.parse().expect("addr"), S.parse().expect("addr"));
        assert_eq!((n.streams(), kept.streams()), (1, 1));
        let e = feed(&mut n, &mut kept, &mut c, seg(S, C, 8, SYN, b""), 15);
        assert_eq!((e.stream, e.new, e.side), (1, true, 0));
        let f = feed(&mut n, &mut kept, &mut c, seg(C, S, 300, SYNACK, b""), 15);
        assert_eq!((f.stream, f.new, f.side), (1, false, 1));
        assert_eq!(c.strays.late, 4);
        let rest = c.finish();
        assert_eq!(rest.iter().map(|t| t.stream).collect::<Vec<_>>(), [1]);
        // Bases by address order whichever side opened; each side's base is set once.
        let st = KeyState {
            stream: 0,
            base_seq: [5, 9],
            owner: 0,
            slot: 0,
            a_is_lower: false,
            has_base: [true, false],
        };
        let mut end = Ended::of(0xffff_ffff_ffff_ffff, &st);
        assert!(end.matches(0xffff_ffff_ffff_fffc));
        assert_eq!((end.base(0), end.base(1)), (None, Some(5)));
        end.set_base_once(0, 3);
        end.set_base_once(0, 4);
        end.set_base_once(1, 6);
        assert_eq!((end.base(0), end.base(1)), (Some(3), Some(5)));
    }

    // --- stream numbering (Wireshark tcp.stream) ------------------------------------------
    #[test]
    fn retransmitted_syn_keeps_stream_new_isn_opens_one() {
        let mut t = FlowTable::default();
        let mut done: Vec<Timeline> = Vec::new();
        t.packet(&seg(C, S, 100, SYN, b""), &frame(1, 0), &mut |b| {
            done.extend(b)
        });
        t.packet(&seg(C, S, 100, SYN, b""), &frame(2, 1), &mut |b| {
            done.extend(b)
        });
        assert_eq!(t.streams(), 1);
        t.packet(&seg(S, C, 900, SYNACK, b""), &frame(3, 1), &mut |b| {
            done.extend(b)
        });
        t.packet(
            &seg(C, S, 101, TcpFlags::RST, b""),
            &frame(4, 2),
            &mut |b| done.extend(b),
        );
        // Same 4-tuple, new ISN: port reuse → stream 1; stream 0 is replaced and finalised at
        // the sweep that follows (a sweep runs at the first packet of each new second).
        t.packet(&seg(C, S, 5000, SYN, b""), &frame(5, 3), &mut |b| {
            done.extend(b)
        });
        assert_eq!(t.streams(), 2);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].stream, 0);
        assert!(done[0].events.iter().any(|e| e.kind
            == EventKind::Syn {
                retransmission: true
            }));
        done.extend(t.finish());
        assert_eq!(done[1].stream, 1);
        assert_eq!(done[1].first_frame, 5);
    }

    /// The timeline of `packets` (frames 1, 2, ... 10 ms apart: a segment sent again is no copy
    /// captured twice), which must make one connection.
    fn one_connection(packets: &[TcpSegment<'static>]) -> Timeline {
        let timed: Vec<_> = (1..).zip(packets).map(|(n, &p)| (p, n * 10_000)).collect();
        one_connection_at(&timed).0
    }

    /// The timeline of `packets` (frames 1, 2, ..., each at its time in microseconds), which
    /// must make one connection, and the packets counted but not analysed.
    fn one_connection_at(packets: &[(TcpSegment<'static>, i64)]) -> (Timeline, Strays) {
        let (batches, strays, _) = run_held_from(HOLD_FROM, packets);
        let mut done: Vec<Timeline> = batches.into_iter().flatten().collect();
        assert_eq!(done.len(), 1, "one connection");
        (done.remove(0), strays)
    }

    /// The timelines of every batch (the sweeps', then the end's), the strays and the streams
    /// numbered, with connections held from `hold_from` live ones on (see `attempt`); times
    /// in microseconds.
    fn run_held_from(
        hold_from: usize,
        packets: &[(TcpSegment<'static>, i64)],
    ) -> (Vec<Vec<Timeline>>, Strays, u64) {
        let mut t = FlowTable::default();
        t.conns.holding.from = hold_from;
        let mut batches: Vec<Vec<Timeline>> = Vec::new();
        for (n, (p, micros)) in (1..).zip(packets) {
            let mut f = frame(n, 0);
            f.time = Timestamp(micros * 1000);
            t.packet(p, &f, &mut |b| batches.push(b));
        }
        batches.push(t.finish());
        (batches, t.strays(), t.streams())
    }

    /// `packets` with every connection held, and with none, give the same batches, strays and
    /// streams.
    fn held_as_full(packets: &[(TcpSegment<'static>, i64)]) {
        let held = run_held_from(0, packets);
        let full = run_held_from(usize::MAX, packets);
        assert_eq!(format!("{held:?}"), format!("{full:?}"), "{packets:?}");
        assert!(held.0.iter().any(|b| !b.is_empty()));
    }

    /// Connections held until they carry a byte (floods, scans: see `attempt`) give the
    /// timelines, strays and stream numbers that full ones give, whatever comes next: nothing,
    /// a RST, SYNs sent again (more than a connection holds), a copy, the handshake and data,
    /// a FIN, a long silence, data first, a late packet, a new connection on the 4-tuple.
    #[test]
    fn held_connections_give_what_full_ones_give() {
        const RSTACK: u8 = TcpFlags::RST | TcpFlags::ACK;
        const FINACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
        const S2: &str = "10.0.0.3:443";
        let acked = |mut s: TcpSegment<'static>, ack: u32| {
            s.body.ack = ack;
            s
        };
        let with_id = |mut s: TcpSegment<'static>, id: u16| {
            s.body.ip_id = Some(id);
            s
        };
        let zero_window = |mut s: TcpSegment<'static>| {
            s.body.window = 0;
            s
        };
        let sec = 1_000_000;
        // A SYN and its SYN/ACK, which most cases start with.
        let opened = [
            (seg(C, S, 100, SYN, b""), 0),
            (acked(seg(S, C, 500, SYNACK, b""), 101), 100),
        ];
        let cases: Vec<Vec<(TcpSegment<'static>, i64)>> = vec![
            vec![(seg(C, S, 100, SYN, b""), 0)],
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 1_000),
            ],
            // Sent again four times: more than a held connection holds.
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (seg(C, S, 100, SYN, b""), sec),
                (seg(C, S, 100, SYN, b""), 3 * sec),
                (seg(C, S, 100, SYN, b""), 7 * sec),
                (seg(C, S, 100, SYN, b""), 15 * sec),
            ],
            // Captured twice: a copy, counted when replayed; and the same with an IPv4 id.
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (seg(C, S, 100, SYN, b""), 100),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 1_000),
            ],
            vec![
                (with_id(seg(C, S, 100, SYN, b""), 7), 0),
                (with_id(seg(C, S, 100, SYN, b""), 7), 20_000),
            ],
            // A whole connection, with data and FINs.
            [
                opened.as_slice(),
                &[
                    (acked(seg(C, S, 101, ACK, b""), 501), 200),
                    (acked(seg(C, S, 101, ACK, b"hello"), 501), 300),
                    (acked(seg(S, C, 501, ACK, b"world!"), 106), 400),
                    (acked(seg(C, S, 106, FINACK, b""), 507), 500),
                    (acked(seg(S, C, 507, FINACK, b""), 107), 600),
                    (acked(seg(C, S, 107, ACK, b""), 508), 700),
                ],
            ]
            .concat(),
            // Four packets without payload, then a RST; a FIN without data; a RST first.
            [
                opened.as_slice(),
                &[
                    (acked(seg(C, S, 101, ACK, b""), 501), 200),
                    (acked(seg(C, S, 101, ACK, b""), 501), 300),
                    (acked(seg(S, C, 501, RSTACK, b""), 101), 400),
                ],
            ]
            .concat(),
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (acked(seg(C, S, 101, FINACK, b""), 0), 100),
            ],
            // Closed by FINs both ways without a byte: finalised by the sweep at 7 s, so the
            // ACK at 12 s is late.
            [
                opened.as_slice(),
                &[
                    (acked(seg(C, S, 101, FINACK, b""), 501), 200),
                    (acked(seg(S, C, 501, FINACK, b""), 102), 300),
                    (seg(C, S2, 50, SYN, b""), 7 * sec),
                    (acked(seg(C, S, 102, ACK, b""), 502), 12 * sec),
                ],
            ]
            .concat(),
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (acked(seg(C, S, 101, FINACK, b""), 0), 100),
                (acked(seg(S, C, 500, FINACK, b""), 102), 200),
                (seg(C, S2, 50, SYN, b""), 7 * sec),
                (acked(seg(S, C, 501, ACK, b""), 102), 12 * sec),
            ],
            vec![(acked(seg(S, C, 0, RSTACK, b""), 101), 0)],
            // A RST first closes too: finalised by the sweep at 7 s, so the RST at 12 s is late.
            vec![
                (acked(seg(S, C, 0, RSTACK, b""), 101), 0),
                (seg(C, S2, 50, SYN, b""), 7 * sec),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 12 * sec),
            ],
            // Refused 3 s after the SYN: quiet only 4 s at the sweep at 7 s, so not finalised
            // then, and the RST at 9 s is no late one.
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 3 * sec),
                (seg(C, S2, 50, SYN, b""), 7 * sec),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 9 * sec),
            ],
            // A zero window in a held ACK; an acknowledgement of bytes never seen.
            [
                opened.as_slice(),
                &[(zero_window(acked(seg(C, S, 101, ACK, b""), 501)), 200)],
            ]
            .concat(),
            [
                opened.as_slice(),
                &[(acked(seg(C, S, 101, ACK, b""), 9_999), 200)],
            ]
            .concat(),
            // A long silence between the handshake and its end; data in the first packet.
            [
                opened.as_slice(),
                &[(acked(seg(C, S, 101, ACK, b""), 501), 200 * sec)],
            ]
            .concat(),
            vec![
                (acked(seg(C, S, 101, ACK, b"data"), 501), 0),
                (acked(seg(S, C, 501, ACK, b""), 105), 100),
            ],
            // A SYN with data (TCP Fast Open).
            vec![(seg(C, S, 100, SYN, b"early"), 0)],
            // Refused, then (once a sweep at 7 s has finalised it) a RST after the linger
            // (late), then a new SYN on the 4-tuple while another connection is refused beside
            // it.
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 1_000),
                (seg(C, S2, 50, SYN, b""), 7 * sec),
                (acked(seg(S, C, 0, RSTACK, b""), 101), 12 * sec),
                (seg(C, S2, 300, SYN, b""), 12 * sec + 10),
                (seg(C, S, 9_000, SYN, b""), 12 * sec + 20),
                (acked(seg(S2, C, 0, RSTACK, b""), 301), 12 * sec + 30),
            ],
            // A new SYN on the 4-tuple while the first one is held.
            vec![
                (seg(C, S, 100, SYN, b""), 0),
                (seg(C, S, 7_000, SYN, b""), 2 * sec),
                (acked(seg(S, C, 800, SYNACK, b""), 7_001), 2 * sec + 100),
            ],
        ];
        for packets in &cases {
            held_as_full(packets);
        }
    }

    /// As above, on random sequences of packets over four 4-tuples (one IPv6): any flags,
    /// payloads cut by the snap length or claimed without bytes, IPv4 ids or none, zero
    /// windows, packets captured twice, time going back, silences past the linger and the
    /// idle expiry. (A review ran 1 M such sequences with other seeds.)
    #[test]
    fn held_and_full_agree_on_random_sequences() {
        const CLIENTS: [&str; 4] = [
            "10.0.0.1:40000",
            "10.0.0.1:40001",
            "[2001:db8::1]:40002",
            "10.0.0.5:40000",
        ];
        const SERVERS: [&str; 4] = [
            "10.0.0.2:443",
            "10.0.0.2:443",
            "[2001:db8::2]:443",
            "10.0.0.2:80",
        ];
        const FLAGS: [u8; 14] = [
            SYN,
            SYN,
            SYNACK,
            ACK,
            ACK,
            TcpFlags::RST,
            TcpFlags::RST | ACK,
            TcpFlags::RST | SYN,
            TcpFlags::FIN | ACK,
            TcpFlags::FIN | SYN,
            TcpFlags::PSH | ACK,
            TcpFlags::RST | SYNACK,
            0,
            0xff,
        ];
        const PAYLOADS: [&[u8]; 4] = [b"", b"", b"x", b"hello"];
        const SEQS: [u32; 8] = [100, 101, 102, 500, 501, 99, 9_000, u32::MAX];
        const STEPS: [i64; 10] = [
            0,
            0,
            10,
            500,
            1_500_000,
            6_000_000,
            3_601_000_000,
            -1_000_000,
            100,
            2_000,
        ];
        // xorshift64: the same sequences on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut t: i64 = 1_000_000_000;
            let mut packets = Vec::new();
            for _ in 0..1 + pick(14) {
                let c = pick(4);
                let ends = [CLIENTS[c], SERVERS[c]];
                let from = usize::from(pick(3) == 0);
                let payload = PAYLOADS[pick(4)];
                let mut s = seg(
                    ends[from],
                    ends[1 - from],
                    SEQS[pick(8)],
                    FLAGS[pick(14)],
                    payload,
                );
                s.body.ack = SEQS[pick(8)];
                s.body.window = if pick(4) == 0 { 0 } else { 1000 };
                s.body.ip_id = [None, Some(0), Some(7)][pick(3)];
                s.body.ttl = [64, 128][pick(2)];
                s.body.wire_len = match pick(6) {
                    0 => payload.len() as u32 + 1,
                    1 => 0,
                    2 => 1,
                    _ => payload.len() as u32,
                };
                t += STEPS[pick(10)];
                packets.push((s, t));
                if pick(4) == 0 {
                    // Captured twice, at once or 100-200 µs later.
                    packets.push((s, t + 100 * pick(3) as i64));
                }
            }
            held_as_full(&packets);
        }
    }

    /// `s` at `secs`, numbered by `n` and tracked by `c`; the slot it went to.
    fn send_to(c: &mut Connections, n: &mut Numbering, s: &TcpSegment<'_>, secs: i64) -> usize {
        let id = n.assign(s);
        c.packet(s, At::from(&frame(1, secs)), id);
        id.slot as usize
    }

    /// Whether the connection in `slot` is held (see `attempt`).
    fn is_held(c: &Connections, slot: usize) -> bool {
        matches!(
            c.live.get(slot),
            Some(Some(Live {
                state: State::Held(_),
                ..
            }))
        )
    }

    /// From `HOLD_FROM` live connections on, a new one is held until a packet carries a byte
    /// (or is a FIN, or one more than it holds); below, every connection is full from its
    /// first packet.
    #[test]
    fn connections_are_held_from_many_live_until_they_carry_a_byte() {
        let mut c = Connections::default();
        let mut n = Numbering::default();
        let mut send =
            |c: &mut Connections, s: &TcpSegment<'_>, secs: i64| send_to(c, &mut n, s, secs);
        let client =
            |i: usize| format!("10.1.{}.{}:{}", i / 250 % 250, i % 250, 40_000 + i / 62_500);
        for i in 0..HOLD_FROM {
            let slot = send(&mut c, &seg(&client(i), S, 1, SYN, b""), 0);
            assert!(!is_held(&c, slot), "{i}");
        }
        let more = client(HOLD_FROM);
        let slot = send(&mut c, &seg(&more, S, 1, SYN, b""), 0);
        assert!(is_held(&c, slot));
        send(&mut c, &seg(S, &more, 9, SYNACK, b""), 0);
        send(&mut c, &seg(&more, S, 2, ACK, b""), 0);
        assert!(is_held(&c, slot));
        send(&mut c, &seg(&more, S, 2, ACK, b"x"), 0);
        assert!(!is_held(&c, slot));
        assert_eq!(c.live_count, HOLD_FROM + 1);
        // A sweep that finalises none (none closed, none silent an hour) changes no count.
        assert!(c.sweep(Timestamp(10_000_000_000)).is_empty());
        assert_eq!(c.live_count, HOLD_FROM + 1);
        // Two refused at 10 s and finalised by the sweep at 16 s: below the threshold again, so
        // the next new connection is full.
        for i in 0..2 {
            send(&mut c, &seg(S, &client(i), 0, TcpFlags::RST | ACK, b""), 10);
        }
        assert_eq!(c.sweep(Timestamp(16_000_000_000)).len(), 2);
        assert_eq!(c.live_count, HOLD_FROM - 1);
        let slot = send(&mut c, &seg(&client(HOLD_FROM + 1), S, 1, SYN, b""), 16);
        assert!(!is_held(&c, slot));
        assert_eq!(c.finish().len(), HOLD_FROM);
        assert_eq!(c.live_count, 0);
    }

    /// Holding pauses for `HOLD_PAUSE_SWEEPS` sweeps when what was held in the last second
    /// turned full (connections that carry bytes: holding gains nothing there), and goes on
    /// when it stays held (a flood).
    #[test]
    fn holding_pauses_while_what_is_held_turns_full() {
        let mut c = Connections::default();
        c.holding.from = 0;
        let mut n = Numbering::default();
        let mut send =
            |c: &mut Connections, s: &TcpSegment<'_>, secs: i64| send_to(c, &mut n, s, secs);
        let client = |i: u32| format!("10.2.{}.{}:40000", i / 250, i % 250);
        let count = HOLD_SAMPLE;
        // A flood: every SYN stays held, and holding goes on after the sweep.
        for i in 0..count {
            let slot = send(&mut c, &seg(&client(i), S, 1, SYN, b""), 0);
            assert!(is_held(&c, slot));
        }
        assert!(c.sweep(Timestamp(1_000_000_000)).is_empty());
        assert_eq!(c.holding.paused, 0);
        // Connections that carry bytes: held, then full at their first byte; the sweep pauses.
        for i in count..2 * count {
            let slot = send(&mut c, &seg(&client(i), S, 1, SYN, b""), 1);
            assert!(is_held(&c, slot));
            send(&mut c, &seg(&client(i), S, 2, ACK, b"GET"), 1);
            assert!(!is_held(&c, slot));
        }
        assert!(c.sweep(Timestamp(2_000_000_000)).is_empty());
        assert_eq!(c.holding.paused, HOLD_PAUSE_SWEEPS);
        let slot = send(&mut c, &seg(&client(2 * count), S, 1, SYN, b""), 2);
        assert!(!is_held(&c, slot));
        // Tried again after the pause.
        for secs in 3..3 + i64::from(HOLD_PAUSE_SWEEPS) {
            c.sweep(Timestamp(secs * 1_000_000_000));
        }
        assert_eq!(c.holding.paused, 0);
        let slot = send(&mut c, &seg(&client(2 * count + 1), S, 1, SYN, b""), 20);
        assert!(is_held(&c, slot));
    }

    /// A FIN sent again is a retransmission, as Wireshark marks it: a bare one (with RST too)
    /// in the direction's count only, one with data (one byte included: no keep-alive probe)
    /// by the reassembly, once, as a `Retransmission` event; a FIN further on is no repeat.
    #[test]
    fn fin_sent_again_is_a_retransmission() {
        let fin = TcpFlags::FIN | ACK;
        let packets = [
            seg(C, S, 100, SYN, b""),
            seg(S, C, 900, SYNACK, b""),
            seg(C, S, 101, ACK, b""),
            // The server's last data with its FIN (901..904, FIN at 904), then the same again.
            seg(S, C, 901, fin, b"bye"),
            seg(S, C, 901, fin, b"bye"),
            // The client's last byte with its FIN, and again: not a keep-alive probe.
            seg(C, S, 101, fin, b"!"),
            seg(C, S, 101, fin, b"!"),
            // The server's FIN alone, twice more, the second with RST.
            seg(S, C, 904, fin, b""),
            seg(S, C, 904, fin | TcpFlags::RST, b""),
            // A FIN one further on (a broken stack, or a middlebox): not the same FIN.
            seg(C, S, 103, fin, b""),
        ];
        let conn = one_connection(&packets);
        assert_eq!(conn.c2s.retransmissions, 1);
        assert_eq!(conn.s2c.retransmissions, 3);
        // Events only for the data: the rules read a `Retransmission` as data sent again.
        let got: Vec<(u64, Dir, u32)> = conn
            .events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Retransmission { bytes } => Some((e.frame, e.dir, bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            [(5, Dir::ServerToClient, 3), (7, Dir::ClientToServer, 1)]
        );
        let fins: Vec<u64> = conn
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Fin)
            .map(|e| e.frame)
            .collect();
        assert_eq!(fins, [4, 6]);
    }

    /// A connection refused (SYN, RST) keeps a list cut to its few events while it waits for
    /// late packets, and a late packet still gets into it; one that closes after more keeps
    /// its list as it is.
    #[test]
    fn closed_with_few_events_keeps_a_small_list() {
        const RSTACK: u8 = TcpFlags::RST | TcpFlags::ACK;
        const FINACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
        let refused = one_connection(&[
            seg(C, S, 100, SYN, b""),
            seg(S, C, 0, RSTACK, b""),
            seg(S, C, 0, RSTACK, b""),
        ]);
        let kinds: Vec<&EventKind> = refused.events.iter().map(|e| &e.kind).collect();
        assert!(
            matches!(
                kinds.as_slice(),
                [EventKind::Syn { .. }, EventKind::Rst, EventKind::Rst]
            ),
            "{kinds:?}"
        );
        assert!(refused.events.capacity() <= CLOSED_FEW_EVENTS);
        let closed = one_connection(&[
            seg(C, S, 100, SYN, b""),
            seg(S, C, 900, SYNACK, b""),
            seg(C, S, 101, ACK, b""),
            seg(C, S, 101, ACK, b"GET / HTTP/1.1\r\n\r\n"),
            seg(C, S, 119, FINACK, b""),
            seg(S, C, 901, FINACK, b""),
        ]);
        assert!(closed.events.len() > CLOSED_FEW_EVENTS);
        assert!(closed.events.capacity() >= crate::timeline::EVENT_LIST_CAPACITY);
    }

    /// Copies of the SYN and of the SYN/ACK count as retransmissions (Wireshark marks both), and
    /// make no `Retransmission` event; the SYN's copy is still a `Syn { retransmission }`.
    #[test]
    fn syn_and_synack_sent_again_are_retransmissions() {
        let packets = [
            seg(C, S, 100, SYN, b""),
            seg(C, S, 100, SYN, b""),
            seg(S, C, 900, SYNACK, b""),
            seg(S, C, 900, SYNACK, b""),
            seg(S, C, 900, SYNACK, b""),
            seg(C, S, 101, ACK, b""),
        ];
        let conn = one_connection(&packets);
        assert_eq!((conn.c2s.retransmissions, conn.s2c.retransmissions), (1, 2));
        assert!(
            !conn
                .events
                .iter()
                .any(|e| matches!(e.kind, EventKind::Retransmission { .. }))
        );
        let syns: Vec<(u64, EventKind)> = conn
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Syn { .. } | EventKind::SynAck))
            .map(|e| (e.frame, e.kind.clone()))
            .collect();
        assert_eq!(
            syns,
            [
                (
                    1,
                    EventKind::Syn {
                        retransmission: false
                    }
                ),
                (
                    2,
                    EventKind::Syn {
                        retransmission: true
                    }
                ),
                (3, EventKind::SynAck)
            ]
        );
    }

    /// Every packet captured twice (as `tcpdump -i any` records a bridged one): the copies are
    /// counted as packets and copies, and the connection reads as if captured once; a segment
    /// sent again by the stack (a new IP identification) is still a retransmission.
    #[test]
    fn copies_are_counted_not_analysed() {
        let fin = TcpFlags::FIN | ACK;
        let with_id = |mut s: TcpSegment<'static>, id: u16| {
            s.body.ip_id = Some(id);
            s
        };
        let once = [
            with_id(seg(C, S, 100, SYN, b""), 1),
            with_id(seg(S, C, 900, SYNACK, b""), 50),
            with_id(seg(C, S, 101, ACK, b"hello"), 2),
            with_id(seg(S, C, 901, ACK, b"world"), 51),
            // The stack sends its data again: a new identification.
            with_id(seg(S, C, 901, ACK, b"world"), 52),
            // A pure ACK: its copy changes nothing, and is not compared.
            with_id(seg(C, S, 106, ACK, b""), 3),
            with_id(seg(C, S, 106, fin, b""), 3),
            with_id(seg(S, C, 906, fin, b""), 53),
        ];
        let run = |packets| {
            let (t, strays) = one_connection_at(packets);
            (t, strays.copies)
        };
        let plain: Vec<(TcpSegment<'static>, i64)> =
            (0..).zip(once).map(|(i, p)| (p, i * 1000)).collect();
        let twice: Vec<(TcpSegment<'static>, i64)> = plain
            .iter()
            .flat_map(|&(p, t)| [(p, t), (p, t + 3)])
            .collect();
        let (a, none) = run(&plain);
        let (b, copies) = run(&twice);
        assert_eq!((none, copies), (0, 7));
        assert_eq!((a.c2s.packets, a.s2c.packets), (4, 4));
        assert_eq!((b.c2s.packets, b.s2c.packets), (8, 8));
        assert_eq!((a.s2c.retransmissions, b.s2c.retransmissions), (1, 1));
        let kinds = |t: &Timeline| {
            t.events
                .iter()
                .map(|e| (e.dir, e.kind.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&a), kinds(&b));
    }

    /// Without an IP identification (IPv6), a segment sent again within a millisecond is a
    /// retransmission when the peer spoke in between (a fast retransmission on a LAN, after
    /// three duplicate ACKs), and a copy when it did not.
    #[test]
    fn copies_without_an_id_need_a_silent_peer() {
        let (c, s) = ("[2001:db8::1]:40000", "[2001:db8::2]:443");
        let packets = [
            (seg(c, s, 100, SYN, b""), 0),
            (seg(s, c, 900, SYNACK, b""), 100),
            (seg(c, s, 101, ACK, b"hello"), 200),
            (seg(s, c, 901, ACK, b"s1"), 300),
            (seg(s, c, 903, ACK, b"s2"), 305),
            (seg(s, c, 905, ACK, b"s3"), 310),
            (seg(c, s, 106, ACK, b""), 400),
            (seg(c, s, 106, ACK, b""), 405),
            (seg(c, s, 106, ACK, b""), 410),
            // Sent again 0.4 ms after the original, after the duplicate ACKs.
            (seg(s, c, 901, ACK, b"s1"), 700),
            // A copy of it, with nothing in between.
            (seg(s, c, 901, ACK, b"s1"), 702),
        ];
        let (conn, strays) = one_connection_at(&packets);
        assert_eq!(conn.s2c.retransmissions, 1);
        assert_eq!(strays, Strays { late: 0, copies: 1 });
    }

    #[test]
    fn quoted_tcp_reserves_an_index_used_by_later_packets() {
        let mut t = FlowTable::default();
        let mut done: Vec<Timeline> = Vec::new();
        t.quoted(C.parse().expect("addr"), S.parse().expect("addr"));
        t.packet(&seg("10.0.0.3:1", S, 1, SYN, b""), &frame(1, 0), &mut |b| {
            done.extend(b)
        });
        t.packet(&seg(S, C, 7, ACK, b"x"), &frame(2, 0), &mut |b| {
            done.extend(b)
        });
        done.extend(t.finish());
        let streams: Vec<(u64, u64)> = done.iter().map(|d| (d.stream, d.first_frame)).collect();
        assert_eq!(streams, vec![(0, 2), (1, 1)]);
    }

    // --- roles --------------------------------------------------------------------------------
    #[test]
    fn client_without_syn_is_the_higher_port_side() {
        let mut t = FlowTable::default();
        let mut done: Vec<Timeline> = Vec::new();
        t.packet(&seg(S, C, 7, ACK, b"abc"), &frame(1, 0), &mut |b| {
            done.extend(b)
        });
        done.extend(t.finish());
        assert_eq!(done[0].client.to_string(), C);
        assert_eq!(done[0].role_basis, RoleBasis::Port);
        assert!(done[0].midstream);
    }

    // --- idle ---------------------------------------------------------------------------------
    #[test]
    fn long_silence_is_an_event_not_a_new_connection() {
        let mut t = FlowTable::default();
        let mut done: Vec<Timeline> = Vec::new();
        t.packet(&seg(C, S, 100, SYN, b""), &frame(1, 0), &mut |b| {
            done.extend(b)
        });
        t.packet(&seg(S, C, 900, SYNACK, b""), &frame(2, 0), &mut |b| {
            done.extend(b)
        });
        // 350 s of silence, then the server closes.
        t.packet(
            &seg(S, C, 901, TcpFlags::FIN | ACK, b""),
            &frame(3, 350),
            &mut |b| done.extend(b),
        );
        assert!(done.is_empty(), "finalised during an idle gap");
        done.extend(t.finish());
        assert_eq!(done.len(), 1);
        assert!(done[0].events.iter().any(|e| matches!(
            e.kind,
            EventKind::Idle { secs, after_frame: 2 } if (secs - 350.0).abs() < 1e-6
        )));
    }

    // --- loss ---------------------------------------------------------------------------------
    /// Bytes the server acknowledged that the capture never showed are declared when the
    /// connection ends, at the first acknowledgement that claimed them (the frame Wireshark
    /// flags "ACKed unseen segment"), not at a later duplicate or the acknowledgement of the
    /// FIN; when the bytes that first acknowledgement claimed came after all, at the end.
    #[test]
    fn unseen_bytes_are_cited_at_the_acknowledgement_that_claimed_them() {
        let ack = |mut s: TcpSegment<'static>, a: u32| {
            s.body.ack = a;
            s
        };
        let run = |middle: [TcpSegment<'static>; 3]| {
            let mut t = FlowTable::default();
            let mut done: Vec<Timeline> = Vec::new();
            let [m5, m6, m7] = middle;
            let pkts = [
                seg(C, S, 1000, SYN, b""),
                ack(seg(S, C, 5000, SYNACK, b""), 1001),
                ack(seg(C, S, 1001, ACK, b""), 5001),
                ack(seg(C, S, 1001, ACK, b"0123456789"), 5001),
                m5,
                m6,
                m7,
                ack(seg(C, S, 2001, TcpFlags::FIN | ACK, b""), 5001),
                ack(seg(S, C, 5001, TcpFlags::FIN | ACK, b""), 2002),
            ];
            for (i, p) in pkts.iter().enumerate() {
                t.packet(p, &frame(i as u64 + 1, i as i64), &mut |b| done.extend(b));
            }
            done.extend(t.finish());
            let gaps: Vec<(u64, u64)> = done
                .iter()
                .flat_map(|tl| tl.events.iter())
                .filter_map(|e| match e.kind {
                    EventKind::Gap { bytes } => Some((e.frame, bytes)),
                    _ => None,
                })
                .collect();
            gaps
        };
        static HOLE: [u8; 990] = [b'y'; 990];
        let acks = |a: u32| ack(seg(S, C, 5001, ACK, b""), a);
        let late = |data: &'static [u8]| ack(seg(C, S, 1011, ACK, data), 5001);
        // 5 acknowledges 1,000 bytes when 10 were seen; a late byte; a duplicate: cited at 5.
        assert_eq!(run([acks(2001), late(b"x"), acks(2001)]), vec![(5, 989)]);
        // The late segment fills the whole hole: nothing is missing.
        assert_eq!(run([acks(2001), late(&HOLE), acks(2001)]), vec![]);
        // 5 claims 10 bytes that come at 6; 7 then claims more: cited at 7.
        assert_eq!(
            run([acks(1021), late(b"0123456789"), acks(2001)]),
            vec![(7, 980)]
        );
        // 6 claims more while 5's claim stands, then 5's bytes come: cited at 6, the first
        // acknowledgement of the bytes still missing.
        assert_eq!(
            run([acks(1021), acks(2001), late(b"0123456789")]),
            vec![(6, 980)]
        );
    }
}
