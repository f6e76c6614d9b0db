//! Connections that have carried no byte yet: a SYN, a refused or unanswered attempt.
//!
//! A [`Conn`](super::Conn) is ~1.2 KiB with a list made for 24 events, and a connection that was
//! never answered stays open for [`super::IDLE_EXPIRY_SECS`] of capture time. A SYN flood or a scan
//! of filtered ports is millions of such connections: 1 M unanswered SYNs (a 56 MB capture) took
//! 2.9 GB. Until a connection carries a byte (or a FIN, or more packets than it holds), it is kept
//! as its packets' headers instead, 176 bytes. When it needs more, or when it is finalised, the
//! headers are replayed into a full connection: `Conn::new` and `Conn::packet` read nothing but
//! their arguments and the connection's own state, so the replayed connection is the one that would
//! have been built packet by packet, and so is everything it reports.
//!
//! The two things read about a connection between its packets are kept as a full connection
//! would give them: the time of its last packet, and whether it is closed. A held packet has
//! no FIN, so closed means a RST came; a segment with a RST is never taken for a copy of a
//! packet (`copies::Recent::is_copy`), so a full connection is closed from its first RST on
//! too. Copies among the held packets are counted when they are replayed, so an owner's count
//! of copies is complete once its connections are finalised.

use std::net::SocketAddr;

use super::At;
#[cfg(test)]
use super::Conn;
use crate::capture::link::{TcpBody, TcpFlags, TcpSegment};

/// Packets an attempt holds: a SYN and its answer (a RST, or a SYN/ACK and the ACK that
/// completes the handshake), or a SYN sent again twice. The next one, a FIN, or any payload
/// makes it a full connection.
const HELD_PACKETS: usize = 3;

/// What `Conn::packet` reads of a segment without payload, and where it was.
#[derive(Clone, Copy, Debug, Default)]
struct Header {
    seq: u32,
    ack: u32,
    window: u16,
    flags: TcpFlags,
    ttl: u8,
    side: u8,
    /// The IPv4 identification, if `has_id` (an `Option<u16>` would take 4 bytes).
    has_id: bool,
    ip_id: u16,
    frame: u64,
    time: crate::capture::Timestamp,
}

impl Header {
    fn of(side: usize, seg: &TcpBody<'_>, at: At) -> Header {
        Header {
            seq: seg.seq,
            ack: seg.ack,
            window: seg.window,
            flags: seg.flags,
            ttl: seg.ttl,
            side: u8::from(side != 0),
            has_id: seg.ip_id.is_some(),
            ip_id: seg.ip_id.unwrap_or(0),
            frame: at.frame,
            time: at.time,
        }
    }

    fn body(&self) -> TcpBody<'static> {
        TcpBody {
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            payload: &[],
            wire_len: 0,
            ttl: self.ttl,
            ip_id: self.has_id.then_some(self.ip_id),
        }
    }

    fn at(&self) -> At {
        At {
            frame: self.frame,
            time: self.time,
        }
    }
}

/// A connection as the headers of its first packets (see the module's comment).
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) stream: u64,
    /// Side 0: the sender of the first packet.
    a: SocketAddr,
    b: SocketAddr,
    first: Header,
    /// Held after the first: `more` of them.
    rest: [Header; HELD_PACKETS - 1],
    more: u8,
}

/// Whether an attempt can hold `seg`: no payload on the wire, no FIN.
fn holdable(seg: &TcpBody<'_>) -> bool {
    seg.wire_len == 0 && seg.payload.is_empty() && !seg.flags.fin()
}

impl Attempt {
    /// The attempt that `seg`, a new connection's first packet, starts, if it can be held.
    pub(super) fn start(stream: u64, seg: &TcpSegment<'_>, at: At) -> Option<Attempt> {
        holdable(&seg.body).then(|| Attempt {
            stream,
            a: seg.src,
            b: seg.dst,
            first: Header::of(0, &seg.body, at),
            rest: [Header::default(); HELD_PACKETS - 1],
            more: 0,
        })
    }

    /// Holds `seg` from `side` if there is room and it can be held; false leaves `self` as it
    /// was (the packet is then the full connection's, after [`Attempt::first`] and
    /// [`Attempt::rest`] were replayed into it).
    #[inline]
    pub(super) fn hold(&mut self, side: usize, seg: &TcpBody<'_>, at: At) -> bool {
        let Some(slot) = self.rest.get_mut(usize::from(self.more)) else {
            return false;
        };
        if !holdable(seg) {
            return false;
        }
        *slot = Header::of(side, seg, at);
        self.more += 1;
        true
    }

    fn held(&self) -> &[Header] {
        self.rest
            .get(..usize::from(self.more))
            .unwrap_or(&self.rest)
    }

    /// The time of the last packet held.
    pub(super) fn last_time(&self) -> crate::capture::Timestamp {
        self.held().last().unwrap_or(&self.first).time
    }

    /// Whether a full connection with these packets would be closed: a RST came.
    pub(super) fn closed(&self) -> bool {
        self.first.flags.rst() || self.held().iter().any(|h| h.flags.rst())
    }

    /// The first packet, as the segment that opened the connection, and where it was.
    pub(super) fn first(&self) -> (TcpSegment<'static>, At) {
        let seg = TcpSegment {
            src: self.a,
            dst: self.b,
            body: self.first.body(),
        };
        (seg, self.first.at())
    }

    /// The packets held after the first: side, segment, where.
    pub(super) fn rest(&self) -> impl Iterator<Item = (usize, TcpBody<'static>, At)> + '_ {
        self.held()
            .iter()
            .map(|h| (usize::from(h.side), h.body(), h.at()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_small() {
        assert_eq!(std::mem::size_of::<Header>(), 32);
        assert!(std::mem::size_of::<Attempt>() <= 176);
        assert!(std::mem::size_of::<Attempt>() * 5 < std::mem::size_of::<Conn>());
    }
}
