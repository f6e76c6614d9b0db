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
//! them apart (IPv6, or an identification of 0), within [`NO_ID_NANOS`], sooner than any
//! stack sends a segment again (a retransmission timer fires after 200 ms or more, a tail-loss
//! probe after two round trips and at least milliseconds; a fast retransmission follows other
//! segments). Only segments with data, a SYN or a FIN are compared: a copy of a pure ACK
//! changes nothing, real duplicate ACKs come in bursts, and so do real RSTs (a host answers
//! every segment that reaches a closed socket with a RST of the same numbers: nDPI's
//! reddit.pcap has 25 such, IPv6, microseconds apart).

use crate::capture::Timestamp;
use crate::capture::link::TcpBody;

/// How far apart two copies of one IPv4 packet (the same identification) are taken as one.
const SAME_ID_NANOS: i64 = 50_000_000;

/// How far apart two identical segments without an identification are taken as one packet.
const NO_ID_NANOS: i64 = 1_000_000;

/// Segments remembered per direction: copies interleave (a, b, a', b') on a mirror port.
const RECENT: usize = 4;
const _: () = assert!(RECENT <= 8, "one bit each in Recent::valid");

/// What tells one segment from another besides its sequence number, in 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    ack: u32,
    /// Capture time in microseconds, wrapped to 32 bits (about 71 minutes: only differences
    /// of milliseconds are read).
    micros: u32,
    /// The payload's length on the wire, saturated (an IPv4 or IPv6 packet holds less).
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
    fn of(seg: &TcpBody<'_>, time: Timestamp) -> Seen {
        Seen {
            ack: seg.ack,
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
        let limit = if self.has_id && self.ip_id != 0 {
            SAME_ID_MICROS
        } else {
            NO_ID_MICROS
        };
        apart <= limit
    }
}

/// The last segments of one direction: their sequence numbers apart, so that the usual case (no
/// segment with this one's number) is four comparisons without a branch.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    seq: [u32; RECENT],
    seen: [Seen; RECENT],
    /// The places that hold a segment, one bit each.
    valid: u8,
    /// The ring's next place.
    next: u8,
}

impl Recent {
    /// True when `seg`, captured at `time`, is a copy of a segment seen just before (see the
    /// module's documentation); otherwise it is remembered.
    #[inline]
    pub fn is_copy(&mut self, seg: &TcpBody<'_>, time: Timestamp) -> bool {
        let flags = seg.flags;
        if flags.rst() || (seg.wire_len == 0 && !(flags.syn() || flags.fin())) {
            return false;
        }
        let mut same = 0u8;
        for (i, &q) in self.seq.iter().enumerate() {
            same |= u8::from(q == seg.seq) << i;
        }
        same &= self.valid;
        let s = Seen::of(seg, time);
        if same != 0
            && self
                .seen
                .iter()
                .enumerate()
                .any(|(i, p)| same & (1 << i) != 0 && p.same_packet(&s))
        {
            return true;
        }
        let at = usize::from(self.next);
        if let (Some(q), Some(p)) = (self.seq.get_mut(at), self.seen.get_mut(at)) {
            *q = seg.seq;
            *p = s;
            self.valid |= 1 << at;
        }
        self.next = (self.next + 1) % RECENT as u8;
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

    #[test]
    fn copies_are_told_from_segments_sent_again() {
        let ack = TcpFlags::ACK;
        let data = |seq, id| body(seq, ack, b"abc", id);
        let mut r = Recent::default();
        let at = |ms: i64| Timestamp(ms * MS);
        // Interleaved copies (a mirror port): a, b, a', b'.
        assert!(!r.is_copy(&data(1, Some(10)), at(0)));
        assert!(!r.is_copy(&data(4, Some(11)), at(0)));
        assert!(r.is_copy(&data(1, Some(10)), at(6)));
        assert!(r.is_copy(&data(4, Some(11)), at(7)));
        // Sent again by the stack: a new identification, or too late to be a copy.
        assert!(!r.is_copy(&data(4, Some(12)), at(8)));
        assert!(!r.is_copy(&data(4, Some(12)), at(8 + 51)));
        // Without an identification (IPv6, or 0): only within a millisecond.
        let mut r = Recent::default();
        assert!(!r.is_copy(&data(1, None), at(0)));
        assert!(r.is_copy(&data(1, None), Timestamp(MS)));
        assert!(!r.is_copy(&data(1, None), Timestamp(3 * MS)));
        assert!(!r.is_copy(&data(9, Some(0)), at(10)));
        assert!(r.is_copy(&data(9, Some(0)), Timestamp(10 * MS + 500)));
        assert!(!r.is_copy(&data(9, Some(0)), at(12)));
        // Anything else that differs: not a copy.
        let mut r = Recent::default();
        assert!(!r.is_copy(&data(1, Some(5)), at(0)));
        assert!(!r.is_copy(&body(1, ack | TcpFlags::FIN, b"abc", Some(5)), at(0)));
        assert!(!r.is_copy(&body(1, ack, b"abcd", Some(5)), at(0)));
        assert!(!r.is_copy(&data(1, None), at(0)));
        // A pure ACK or a RST is never compared; a bare FIN or SYN is.
        let mut r = Recent::default();
        assert!(!r.is_copy(&body(1, ack, b"", Some(5)), at(0)));
        assert!(!r.is_copy(&body(1, ack, b"", Some(5)), at(0)));
        assert!(!r.is_copy(&body(1, TcpFlags::RST, b"", None), at(0)));
        assert!(!r.is_copy(&body(1, TcpFlags::RST, b"", None), at(0)));
        assert!(!r.is_copy(&body(2, ack | TcpFlags::FIN, b"", None), at(0)));
        assert!(r.is_copy(&body(2, ack | TcpFlags::FIN, b"", None), at(0)));
        assert!(!r.is_copy(&body(1, TcpFlags::SYN, b"", Some(6)), at(0)));
        assert!(r.is_copy(&body(1, TcpFlags::SYN, b"", Some(6)), at(1)));
        // Only the last few of a direction are remembered.
        let mut r = Recent::default();
        for i in 0..=RECENT as u32 {
            assert!(!r.is_copy(&data(100 + i, Some(i as u16 + 1)), at(0)));
        }
        assert!(!r.is_copy(&data(100, Some(1)), at(1)));
        assert!(r.is_copy(&data(100 + RECENT as u32, Some(RECENT as u16 + 1)), at(1)));
    }
}
