//! Connections that have carried no byte yet: a SYN, a refused or unanswered attempt.
//!
//! A [`Conn`] is ~1.2 KiB with a list made for 24 events, and a connection that was never
//! answered stays open for [`super::IDLE_EXPIRY_SECS`] of capture time. A SYN flood or a scan
//! of filtered ports is millions of such connections: 1 M unanswered SYNs (a 56 MB capture)
//! took 2.9 GB. Until a connection carries a byte (or a FIN, or more packets than it holds),
//! it is kept as its packets' headers instead, ~200 bytes. When it needs more, or when it is
//! finalised, the headers are replayed into a [`Conn`]: `Conn::new` and `Conn::packet` read
//! nothing but their arguments and the connection's own state, so the replayed connection is
//! the one that would have been built packet by packet, and so is everything it reports.
//!
//! The two things read about a connection between its packets are kept as a full connection
//! would give them: the time of its last packet, and whether it is closed. A held packet has
//! no FIN, so closed means a RST came; the first RST of a connection is never taken for a
//! copy of a packet (copies of segments without data, a SYN or a FIN are not looked for, and a
//! copy needs an earlier original), so a full connection is closed from its first RST on too.
//! Copies among the held packets are counted when they are replayed.

use std::net::SocketAddr;

use super::{At, Conn};
use crate::capture::link::{TcpBody, TcpFlags, TcpSegment};

/// Packets an attempt holds: a SYN and its answer (a RST, or a SYN/ACK and the ACK that
/// completes the handshake), or a SYN sent again twice. The next one, a FIN, or any payload
/// makes it a full connection.
pub(super) const HELD_PACKETS: usize = 3;

/// What [`Conn::packet`] reads of a segment without payload, and where it was.
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
    held: u8,
    packets: [Header; HELD_PACKETS],
}

/// Whether an attempt can hold `seg`: no payload on the wire, no FIN.
fn holdable(seg: &TcpBody<'_>) -> bool {
    seg.wire_len == 0 && seg.payload.is_empty() && !seg.flags.fin()
}

impl Attempt {
    /// The attempt that `seg`, a new connection's first packet, starts, if it can be held.
    pub(super) fn start(stream: u64, seg: &TcpSegment<'_>, at: At) -> Option<Attempt> {
        let mut attempt = Attempt {
            stream,
            a: seg.src,
            b: seg.dst,
            held: 0,
            packets: [Header::default(); HELD_PACKETS],
        };
        attempt.hold(0, &seg.body, at).then_some(attempt)
    }

    /// Holds `seg` from `side` if there is room and it can be held; false leaves `self` as it
    /// was (the packet is then the full connection's, after [`Attempt::replay`]).
    #[inline]
    pub(super) fn hold(&mut self, side: usize, seg: &TcpBody<'_>, at: At) -> bool {
        let Some(slot) = self.packets.get_mut(usize::from(self.held)) else {
            return false;
        };
        if !holdable(seg) {
            return false;
        }
        *slot = Header {
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
        };
        self.held += 1;
        true
    }

    /// The time of the last packet held.
    pub(super) fn last_time(&self) -> crate::capture::Timestamp {
        self.held_packets()
            .last()
            .map_or_else(|| crate::capture::Timestamp(i64::MIN), |h| h.time)
    }

    /// Whether a full connection with these packets would be closed: a RST came.
    pub(super) fn closed(&self) -> bool {
        self.held_packets().iter().any(|h| h.flags.rst())
    }

    fn held_packets(&self) -> &[Header] {
        self.packets
            .get(..usize::from(self.held))
            .unwrap_or(&self.packets)
    }

    /// Makes `conn` (a spare box, or a new one) the connection these packets build, as they
    /// would have built it one by one. Returns how many of them were copies of a packet just
    /// seen (counted, not analysed: see [`Conn::packet`]).
    pub(super) fn replay(
        &self,
        conn: Option<Box<Conn>>,
        keylog: Option<&std::sync::Arc<crate::tls::decrypt::KeyLog>>,
    ) -> (Box<Conn>, u64) {
        let mut packets = self.held_packets().iter();
        let first = packets.next().copied().unwrap_or_default();
        let seg = TcpSegment {
            src: self.a,
            dst: self.b,
            body: first.body(),
        };
        let mut conn = match conn {
            Some(mut c) => {
                c.reuse(self.stream, &seg, first.at(), keylog);
                c
            }
            None => Box::new(Conn::new(self.stream, &seg, first.at(), keylog)),
        };
        // The first packet is never a copy (nothing came before it).
        conn.packet(0, &seg.body, first.at());
        let copies = packets
            .filter(|h| !conn.packet(usize::from(h.side), &h.body(), h.at()))
            .count();
        (conn, copies as u64)
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
