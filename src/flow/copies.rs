//! Packets captured twice.
//!
//! `tcpdump -i any` on a host with a bridge or veth pair, a mirror port that copies both the
//! ingress and the egress of a link, or two capture points merged: each packet is in the file
//! twice, microseconds to milliseconds apart. Taken as sent twice, the copies look like
//! retransmissions (of the server's flight, of a ClientHello), and the rules that read
//! retransmissions then explain a failure that did not happen: on such a copy of the
//! fixtures, `client_aborted_handshake` became `handshake_stall_retransmits` and
//! `client_rejected_certificate` became a bare `tls_alert`.
//!
//! A copy is a segment identical to one of the last few of its direction: the same sequence
//! and acknowledgement numbers, length, flags and window, and either the same non-zero IPv4
//! identification within [`SAME_ID_NANOS`] (a sender gives a packet sent again a new one:
//! Linux counts per socket, Windows globally, others draw at random) or, with nothing to tell
//! them apart (IPv6, or an identification of 0), within [`NO_ID_NANOS`] and with no packet of
//! the peer in between. A stack sends a segment again only after a timer (200 ms or more; a
//! tail-loss probe after 10 ms at least) or after the peer said it is missing (duplicate ACKs,
//! SACK): on a LAN a fast retransmission can follow its original within a millisecond, but
//! never without the peer's packets between them. Only segments with data, a SYN or a FIN are
//! compared: a copy of a pure ACK changes nothing, real duplicate ACKs come in bursts, and so
//! do real RSTs (a host answers every segment that reaches a closed socket with a RST of the
//! same numbers: nDPI's reddit.pcap has 25 such, IPv6, microseconds apart). Segments of data
//! already seen are remembered in a place of their own (the last one only), so a copy that
//! comes too late to be recognised does not push out the originals of the copies after it,
//! and a segment sent again is still known when its own copy follows.
//!
//! Not recognised: copies more than [`RECENT`] new segments behind their original (a mirror
//! port that lags more), copies without an identification and more than a millisecond apart
//! or with a packet of the peer between them, copies a middlebox rewrote (window, ID).

use crate::capture::Timestamp;
use crate::capture::link::TcpBody;

/// How far apart two copies of one IPv4 packet (the same identification) are taken as one.
const SAME_ID_NANOS: i64 = 50_000_000;

/// How far apart two identical segments without an identification are taken as one packet.
const NO_ID_NANOS: i64 = 1_000_000;

/// New segments remembered per direction: copies interleave (a, b, a', b') on a mirror port.
/// Eight caught a lagging mirror's copies of a whole ten-segment flight but cost 3.6% of a
/// one-thread run against 1.4% for four (pinned pairs, 1 GiB benchmark); with four, a copy
/// five segments behind is missed (it is then a retransmission), and the next ones are not.
const RECENT: usize = 4;
/// The ring's places, and the place of the last segment of data seen before.
const PLACES: usize = RECENT + 1;
const _: () = assert!(PLACES <= 16, "one bit each in Recent::valid");

/// What tells one segment from another besides its sequence number, in 20 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    ack: u32,
    /// How many packets the peer had sent (wrapped to 32 bits).
    peer_packets: u32,
    /// Capture time in microseconds, wrapped to 32 bits (about 71 minutes: only differences
    /// of milliseconds are read).
    micros: u32,
    /// The payload's length on the wire, saturated (only a jumbo super-packet holds more; two
    /// of those with the same numbers still differ in the rest).
    wire_len: u16,
    window: u16,
    /// The IPv4 identification (0 without one).
    ip_id: u16,
    flags: u8,
    /// Whether `ip_id` is one.
    has_id: bool,
}

/// Microseconds in [`SAME_ID_NANOS`] and [`NO_ID_NANOS`].
const SAME_ID_MICROS: i64 = SAME_ID_NANOS / 1000;
const NO_ID_MICROS: i64 = NO_ID_NANOS / 1000;

impl Seen {
    fn of(seg: &TcpBody<'_>, time: Timestamp, peer_packets: u64) -> Seen {
        Seen {
            ack: seg.ack,
            // Wrapping on purpose: only equality is read.
            peer_packets: peer_packets as u32,
            // Wrapping on purpose: only the difference of two nearby times is read.
            micros: (time.0 / 1000) as u32,
            wire_len: u16::try_from(seg.wire_len).unwrap_or(u16::MAX),
            window: seg.window,
            ip_id: seg.ip_id.unwrap_or(0),
            flags: seg.flags.0,
            has_id: seg.ip_id.is_some(),
        }
    }

    /// True when `other` (with the same sequence number) is this same packet, captured again.
    fn same_packet(&self, other: &Seen) -> bool {
        if self.ack != other.ack
            || self.wire_len != other.wire_len
            || self.window != other.window
            || self.flags != other.flags
            || self.has_id != other.has_id
            || self.ip_id != other.ip_id
        {
            return false;
        }
        // The two times as a signed difference of the wrapped microseconds.
        let apart = i64::from(other.micros.wrapping_sub(self.micros) as i32).abs();
        if self.has_id && self.ip_id != 0 {
            apart <= SAME_ID_MICROS
        } else {
            apart <= NO_ID_MICROS && self.peer_packets == other.peer_packets
        }
    }
}

/// The last segments of one direction: their sequence numbers apart, so that the usual case (no
/// segment with this one's number) is four comparisons without a branch.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    seq: [u32; PLACES],
    seen: [Seen; PLACES],
    /// The places that hold a segment, one bit each.
    valid: u16,
    /// The ring's next place.
    next: u8,
}

impl Recent {
    /// True when `seg`, captured at `time` after the peer's `peer_packets`-th packet, is a copy
    /// of a segment seen just before (see the module's documentation); otherwise it is
    /// remembered: in the ring if `fresh` (no data seen before), else in the place of its own.
    #[inline]
    pub fn is_copy(
        &mut self,
        seg: &TcpBody<'_>,
        time: Timestamp,
        peer_packets: u64,
        fresh: bool,
    ) -> bool {
        let flags = seg.flags;
        if flags.rst() || (seg.wire_len == 0 && !(flags.syn() || flags.fin())) {
            return false;
        }
        let mut same = 0u16;
        for (i, &q) in self.seq.iter().enumerate() {
            same |= u16::from(q == seg.seq) << i;
        }
        same &= self.valid;
        let s = Seen::of(seg, time, peer_packets);
        if same != 0
            && self
                .seen
                .iter()
                .enumerate()
                .any(|(i, p)| same & (1 << i) != 0 && p.same_packet(&s))
        {
            return true;
        }
        let at = if fresh {
            let at = usize::from(self.next);
            self.next = (self.next + 1) % RECENT as u8;
            at
        } else {
            RECENT
        };
        if let (Some(q), Some(p)) = (self.seq.get_mut(at), self.seen.get_mut(at)) {
            *q = seg.seq;
            *p = s;
            self.valid |= 1 << at;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::link::TcpFlags;

    fn body(seq: u32, flags: u8, payload: &'static [u8], ip_id: Option<u16>) -> TcpBody<'static> {
        TcpBody {
            seq,
            ack: 7,
            flags: TcpFlags(flags),
            window: 500,
            payload,
            wire_len: payload.len() as u32,
            ttl: 64,
            ip_id,
        }
    }

    const MS: i64 = 1_000_000;

    /// `r.is_copy` of a new segment (`fresh`) with the peer silent (its count 0).
    fn copy(r: &mut Recent, seg: &TcpBody<'_>, nanos: i64) -> bool {
        r.is_copy(seg, Timestamp(nanos), 0, true)
    }

    #[test]
    fn copies_are_told_from_segments_sent_again() {
        let ack = TcpFlags::ACK;
        let data = |seq, id| body(seq, ack, b"abc", id);
        let mut r = Recent::default();
        // Interleaved copies (a mirror port): a, b, a', b'.
        assert!(!copy(&mut r, &data(1, Some(10)), 0));
        assert!(!copy(&mut r, &data(4, Some(11)), 0));
        assert!(copy(&mut r, &data(1, Some(10)), 6 * MS));
        assert!(copy(&mut r, &data(4, Some(11)), 7 * MS));
        // Sent again by the stack: a new identification, or too late to be a copy.
        assert!(!copy(&mut r, &data(4, Some(12)), 8 * MS));
        assert!(!copy(&mut r, &data(4, Some(12)), 59 * MS));
        // Without an identification (IPv6, or 0): only within a millisecond.
        let mut r = Recent::default();
        assert!(!copy(&mut r, &data(1, None), 0));
        assert!(copy(&mut r, &data(1, None), MS));
        assert!(!copy(&mut r, &data(1, None), 3 * MS));
        assert!(!copy(&mut r, &data(9, Some(0)), 10 * MS));
        assert!(copy(&mut r, &data(9, Some(0)), 10 * MS + 500));
        assert!(!copy(&mut r, &data(9, Some(0)), 12 * MS));
        // ... and only with no packet of the peer in between (a fast retransmission on a LAN
        // follows the peer's duplicate ACKs within a millisecond); with one, an identification
        // still tells a copy.
        let mut r = Recent::default();
        assert!(!r.is_copy(&data(20, None), Timestamp(0), 5, true));
        assert!(!r.is_copy(&data(20, None), Timestamp(MS / 2), 8, true));
        assert!(!r.is_copy(&data(30, Some(40)), Timestamp(0), 5, true));
        assert!(r.is_copy(&data(30, Some(40)), Timestamp(MS / 2), 8, true));
        // Anything else that differs: not a copy.
        let mut r = Recent::default();
        let other = |f: &dyn Fn(&mut TcpBody<'static>)| {
            let mut b = data(1, Some(5));
            f(&mut b);
            b
        };
        assert!(!copy(&mut r, &data(1, Some(5)), 0));
        for b in [
            other(&|b| b.flags = TcpFlags(ack | TcpFlags::FIN)),
            body(1, ack, b"abcd", Some(5)),
            other(&|b| b.ack = 8),
            other(&|b| b.window = 501),
            other(&|b| b.ip_id = Some(6)),
            data(1, None),
        ] {
            assert!(!copy(&mut r, &b, 0), "{b:?}");
        }
        // A pure ACK or a RST is never compared; a bare FIN or SYN is.
        let mut r = Recent::default();
        assert!(!copy(&mut r, &body(1, ack, b"", Some(5)), 0));
        assert!(!copy(&mut r, &body(1, ack, b"", Some(5)), 0));
        assert!(!copy(&mut r, &body(1, TcpFlags::RST, b"", None), 0));
        assert!(!copy(&mut r, &body(1, TcpFlags::RST, b"", None), 0));
        assert!(!copy(&mut r, &body(2, ack | TcpFlags::FIN, b"", None), 0));
        assert!(copy(&mut r, &body(2, ack | TcpFlags::FIN, b"", None), 0));
        assert!(!copy(&mut r, &body(1, TcpFlags::SYN, b"", Some(6)), 0));
        assert!(copy(&mut r, &body(1, TcpFlags::SYN, b"", Some(6)), MS));
        // Time that wraps the 32-bit microseconds, or goes backwards, reads as the difference.
        let mut r = Recent::default();
        let wrap = (1i64 << 32) * 1000;
        assert!(!copy(&mut r, &data(50, Some(9)), wrap - 1000));
        assert!(copy(&mut r, &data(50, Some(9)), wrap + 2000));
        assert!(!copy(&mut r, &data(60, Some(9)), 5 * MS));
        assert!(copy(&mut r, &data(60, Some(9)), 4 * MS));
    }

    /// The last [`RECENT`] new segments of a direction are remembered; a segment of data seen
    /// before (`fresh` false: a copy too late to recognise) is not, so the copies after it are
    /// still recognised.
    #[test]
    fn a_late_copy_does_not_push_out_the_next_originals() {
        let data = |seq: u32| body(seq, TcpFlags::ACK, b"abc", Some(seq as u16));
        let mut r = Recent::default();
        let n = RECENT as u32 + 1;
        for i in 0..n {
            assert!(!copy(&mut r, &data(100 + 3 * i), 0));
        }
        // The first original is gone; its copy is not recognised, and not remembered.
        assert!(!r.is_copy(&data(100), Timestamp(MS), 0, false));
        for i in 1..n {
            assert!(copy(&mut r, &data(100 + 3 * i), MS), "{i}");
        }
    }
}
