//! Per-direction TCP reassembly.
//!
//! Invariant: `next` is the sequence number of the first byte not yet delivered; every byte
//! before it has been delivered exactly once (as data or as a declared gap). `pending` holds
//! out-of-order segments strictly after `next`, sorted by sequence number, non-overlapping,
//! with at most [`MAX_PENDING_SEGMENTS`] entries and [`MAX_PENDING_BYTES`] bytes.
//!
//! All sequence arithmetic is modulo 2^32 (RFC 793 §3.3, RFC 1982 serial arithmetic) and
//! never panics: a segment is placed by `seq.wrapping_sub(next) as i32`.
//!
//! In-order payload is handed out as a borrowed slice (no copy). Only out-of-order segments are
//! copied, and when the buffer is full, the peer acknowledged past a hole, or the connection
//! ends, the hole is declared a [`Chunk::Gap`] and delivery resumes after it.

use super::At;
use crate::capture::Timestamp;
use crate::capture::link::TcpBody;

/// How many out-of-order segments one direction may hold.
pub const MAX_PENDING_SEGMENTS: usize = 64;
/// How many out-of-order bytes one direction may hold.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;
/// A segment more than this far ahead of `next` is treated as a gap right away.
const MAX_AHEAD: i64 = 4 * 1024 * 1024;

/// Something handed to the consumer, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data { bytes: &'a [u8], frame: u64 },
    Gap { len: u64 },
}

/// What a segment was, relative to what had been seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Bytes delivered (possibly after an overlap was trimmed).
    InOrder,
    /// Ahead of the next expected byte: buffered (or a gap was declared).
    OutOfOrder,
    /// Every byte had been seen already.
    Retransmission,
    /// A keep-alive probe: one byte (or none) just before `next`.
    KeepAlive,
    /// No payload.
    Empty,
}

#[derive(Debug)]
struct Pending {
    seq: u32,
    frame: u64,
    data: Vec<u8>,
    /// Bytes on the wire beyond `data` (snaplen cut).
    missing_tail: u32,
}

#[derive(Debug, Default)]
pub struct Reassembler {
    next: Option<u32>,
    pending: Vec<Pending>,
    pending_bytes: usize,
    /// Sequence number right after the FIN, once seen.
    fin_seq: Option<u32>,
    /// The furthest the peer has acknowledged (once `next` is known).
    acked_to: Option<u32>,
    /// Acknowledgements beyond every byte seen at the time, in order, and where they were:
    /// where the capture's loss shows (Wireshark's "ACKed unseen segment"). Empty unless the
    /// capture lost bytes; those whose bytes came later are dropped when the next one comes,
    /// and at most [`CLAIMS_KEPT`] are kept.
    claims: Vec<(u32, At)>,
    /// The initial sequence number of the SYN that started the stream, and that of a later
    /// SYN that disagreed with it before the start was settled (SYN-ACKs retransmitted with a
    /// new ISN, as around TCP Fast Open): the peer's acknowledgement, or the first byte, tells
    /// which one is real.
    isn: Option<u32>,
    other_isn: Option<u32>,
    /// The start is decided: a byte came, or the peer acknowledged a SYN.
    settled: bool,
    /// The acknowledgement of the SYN that lost (its ISN + 1): a stray copy of it later says
    /// nothing about this stream's bytes.
    stale_ack: Option<u32>,
    /// This direction's last segments, to tell a packet captured twice (kept here, beside what
    /// every segment reads: in a cache line of its own it cost 3% of a one-thread run).
    recent: super::copies::Recent,
}

/// Acknowledgements of unseen bytes kept per direction: a capture that lost one direction's
/// data altogether has one at every acknowledgement, and only the first ones can be cited.
const CLAIMS_KEPT: usize = 4;

/// The most bytes that acknowledgements beyond everything seen may claim missing at the end:
/// more is taken for a bogus acknowledgement number, not for a capture's loss.
const MAX_UNSEEN_ACKED: i64 = 1 << 30;

fn diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl Reassembler {
    /// True when `seg`, captured at `time` after the peer's `peer_packets`-th packet, is a copy
    /// of one of this direction's last segments: the same packet captured twice (see
    /// `flow::copies`).
    #[inline]
    pub fn is_copy(&mut self, seg: &TcpBody<'_>, time: Timestamp, peer_packets: u64) -> bool {
        // Data already seen (a copy too late to recognise, or sent again) is not remembered.
        let fresh = seg.wire_len == 0
            || self
                .next
                .is_none_or(|n| diff(seg.seq.wrapping_add(seg.wire_len), n) > 0);
        self.recent.is_copy(seg, time, peer_packets, fresh)
    }

    /// The next expected sequence number, once known.
    pub fn next_seq(&self) -> Option<u32> {
        self.next
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A SYN with initial sequence number `isn`: data starts at `isn + 1`.
    pub fn syn(&mut self, isn: u32) {
        if self.next.is_none() {
            self.next = Some(isn.wrapping_add(1));
            self.isn = Some(isn);
        } else if !self.settled && self.isn.is_some_and(|i| i != isn) {
            self.other_isn = Some(isn);
        }
    }

    /// The stream starts after `isn` after all (the peer acknowledged that SYN, or its first
    /// byte came): nothing was delivered yet, so nothing else changes.
    fn rebase(&mut self, isn: u32) {
        self.stale_ack = self.isn.map(|i| i.wrapping_add(1));
        self.isn = Some(isn);
        self.next = Some(isn.wrapping_add(1));
        self.acked_to = None;
        self.claims.clear();
    }

    /// The start is decided: on the other SYN's ISN when `other_wins`, else on this one; the
    /// acknowledgement of the SYN that lost is stale from now on.
    fn settle(&mut self, other_wins: bool) {
        match self.other_isn.take() {
            Some(other) if other_wins => self.rebase(other),
            lost => self.stale_ack = lost.map(|i| i.wrapping_add(1)),
        }
        self.settled = true;
    }

    /// Whether `seq` is the first sequence number after the other SYN's ISN.
    fn follows_other(&self, seq: u32) -> bool {
        self.other_isn.is_some_and(|o| o.wrapping_add(1) == seq)
    }

    /// The first byte of the stream: if it follows the other SYN's ISN, that SYN was the real
    /// one. Either way the start is settled.
    #[cold]
    fn settle_on_data(&mut self, seq: u32) {
        self.settle(self.follows_other(seq));
    }

    /// Records the FIN's position; returns false if this FIN was seen before.
    pub fn fin(&mut self, seq_after_payload: u32) -> bool {
        if self.fin_seq.is_some() {
            return false;
        }
        self.fin_seq = Some(seq_after_payload.wrapping_add(1));
        true
    }

    /// True when a FIN whose data ends at `seq_after_payload` is the one already seen, sent
    /// again (what Wireshark marks `tcp.analysis.retransmission` on a bare FIN).
    pub fn is_same_fin(&self, seq_after_payload: u32) -> bool {
        self.fin_seq == Some(seq_after_payload.wrapping_add(1))
    }

    /// Starts the stream at `seq` (no SYN seen). Returns true if this started it.
    pub fn start_midstream(&mut self, seq: u32) -> bool {
        if self.next.is_none() {
            self.next = Some(seq);
            self.settled = true;
            true
        } else {
            false
        }
    }

    /// One segment with `wire_len` bytes on the wire, of which `payload` were captured.
    pub fn segment<'a>(
        &mut self,
        seq: u32,
        payload: &'a [u8],
        wire_len: u32,
        frame: u64,
        deliver: &mut dyn FnMut(Chunk<'_>),
    ) -> SegmentKind {
        if wire_len == 0 {
            return SegmentKind::Empty;
        }
        if !self.settled {
            self.settle_on_data(seq);
        }
        let next = match self.next {
            Some(n) => n,
            None => {
                self.next = Some(seq);
                seq
            }
        };
        let off = diff(seq, next);
        let end = off + i64::from(wire_len);
        if end <= 0 {
            if wire_len <= 1 && off == -1 {
                return SegmentKind::KeepAlive;
            }
            return SegmentKind::Retransmission;
        }
        if off > 0 {
            if off > MAX_AHEAD {
                // Far ahead: we lost track. What is buffered goes out, the hole from there to
                // this segment is declared (once: the buffered bytes are not part of it), and
                // delivery restarts here.
                self.flush_all(deliver);
                let now = self.next.unwrap_or(next);
                let hole = diff(seq, now);
                if hole > 0 {
                    deliver(Chunk::Gap { len: hole as u64 });
                    self.next = Some(seq);
                    self.deliver_in_order(seq, payload, wire_len, frame, deliver);
                    return SegmentKind::OutOfOrder;
                }
                if hole + i64::from(wire_len) <= 0 {
                    // The buffered segments already held every byte of this one.
                    return SegmentKind::Retransmission;
                }
                // A buffered segment reached past this one's start.
                self.deliver_overlapping(now, hole, payload, wire_len, frame, deliver);
                return SegmentKind::InOrder;
            }
            self.buffer(seq, payload, wire_len, frame);
            if self.pending.len() > MAX_PENDING_SEGMENTS || self.pending_bytes > MAX_PENDING_BYTES {
                self.skip_first_hole(deliver);
            }
            return SegmentKind::OutOfOrder;
        }
        self.deliver_overlapping(next, off, payload, wire_len, frame, deliver);
        SegmentKind::InOrder
    }

    /// A segment starting `off <= 0` bytes before `next` and ending after it: the part already
    /// delivered is trimmed, the rest delivered, then what became contiguous.
    #[inline(always)]
    fn deliver_overlapping(
        &mut self,
        next: u32,
        off: i64,
        payload: &[u8],
        wire_len: u32,
        frame: u64,
        deliver: &mut dyn FnMut(Chunk<'_>),
    ) {
        let skip = usize::try_from(-off).unwrap_or(usize::MAX);
        let new_payload = payload.get(skip..).unwrap_or_default();
        let new_wire = wire_len.saturating_sub(u32::try_from(skip).unwrap_or(u32::MAX));
        self.deliver_in_order(next, new_payload, new_wire, frame, deliver);
        self.drain(deliver);
    }

    fn deliver_in_order(
        &mut self,
        seq: u32,
        payload: &[u8],
        wire_len: u32,
        frame: u64,
        deliver: &mut dyn FnMut(Chunk<'_>),
    ) {
        let captured = payload.len().min(wire_len as usize);
        if captured > 0 {
            deliver(Chunk::Data {
                bytes: &payload[..captured],
                frame,
            });
        }
        let missing = u64::from(wire_len) - captured as u64;
        if missing > 0 {
            deliver(Chunk::Gap { len: missing });
        }
        self.next = Some(seq.wrapping_add(wire_len));
    }

    fn buffer(&mut self, seq: u32, payload: &[u8], wire_len: u32, frame: u64) {
        let Some(next) = self.next else { return };
        let off = diff(seq, next);
        // Keep the list sorted; drop a segment that starts where one already does (a
        // retransmission of buffered data) and keep the longer one.
        let pos = self.pending.partition_point(|p| diff(p.seq, next) < off);
        if let Some(p) = self.pending.get_mut(pos)
            && p.seq == seq
        {
            if payload.len() > p.data.len() {
                self.pending_bytes = self.pending_bytes - p.data.len() + payload.len();
                p.data = payload.to_vec();
                p.missing_tail = wire_len - payload.len().min(wire_len as usize) as u32;
            }
            return;
        }
        let captured = payload.len().min(wire_len as usize);
        self.pending_bytes += captured;
        self.pending.insert(
            pos,
            Pending {
                seq,
                frame,
                data: payload[..captured].to_vec(),
                missing_tail: wire_len - captured as u32,
            },
        );
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, deliver: &mut dyn FnMut(Chunk<'_>)) {
        while let (Some(next), Some(first)) = (self.next, self.pending.first()) {
            let off = diff(first.seq, next);
            if off > 0 {
                return;
            }
            let p = self.pending.remove(0);
            self.pending_bytes -= p.data.len();
            let wire = u32::try_from(p.data.len()).unwrap_or(u32::MAX) + p.missing_tail;
            let end = off + i64::from(wire);
            if end <= 0 {
                continue;
            }
            let skip = usize::try_from(-off).unwrap_or(usize::MAX);
            let bytes = p.data.get(skip..).unwrap_or_default();
            let new_wire = wire.saturating_sub(u32::try_from(skip).unwrap_or(u32::MAX));
            self.deliver_in_order(next, bytes, new_wire, p.frame, deliver);
        }
    }

    /// Declares the hole before the first buffered segment lost and delivers what follows.
    pub fn skip_first_hole(&mut self, deliver: &mut dyn FnMut(Chunk<'_>)) {
        let (Some(next), Some(first)) = (self.next, self.pending.first()) else {
            return;
        };
        let hole = diff(first.seq, next);
        if hole > 0 {
            deliver(Chunk::Gap { len: hole as u64 });
            self.next = Some(first.seq);
        }
        self.drain(deliver);
    }

    /// The peer acknowledged up to `ack`: bytes before it that we never saw were lost by the
    /// capture, not the network. Declares holes up to the acknowledged point.
    ///
    /// Says whether `ack`, at `at`, was kept as an acknowledgement of bytes never seen (bytes
    /// missing at the end are cited at the first one that claimed them, see
    /// [`Self::take_unseen_acked`]).
    pub fn acked(&mut self, ack: u32, at: At, deliver: &mut dyn FnMut(Chunk<'_>)) -> bool {
        if self.next.is_none() {
            return false;
        }
        if !self.settled {
            self.settle_on_ack(ack);
        }
        if self.stale_ack == Some(ack) {
            return false;
        }
        let furthest = self.acked_to.is_none_or(|a| diff(ack, a) > 0);
        if furthest {
            self.acked_to = Some(ack);
        }
        if !self.pending.is_empty() {
            self.skip_acked_holes(self.data_acked(ack), deliver);
        }
        // Only a furthest acknowledgement claims bytes no earlier one did. (That of a FIN seen
        // goes one past the bytes: not beyond them.)
        furthest
            && self.next.is_some_and(|next| {
                if diff(self.data_acked(ack), next) > 0 {
                    self.claim(ack, next, at)
                } else {
                    // Every byte acknowledged was seen: every earlier claim is met (dropped
                    // now: 2 GiB further on, sequence arithmetic would put it ahead again).
                    self.claims.clear();
                    false
                }
            })
    }

    /// Before the start is settled: an acknowledgement of the other SYN re-bases the stream on
    /// it; one of this SYN settles it as it is.
    #[cold]
    fn settle_on_ack(&mut self, ack: u32) {
        if self.follows_other(ack) {
            self.settle(true);
        } else if self.isn.is_none_or(|i| i.wrapping_add(1) == ack) {
            self.settle(false);
        }
    }

    /// Holes before buffered segments that the peer acknowledged past: lost by the capture.
    #[cold]
    fn skip_acked_holes(&mut self, limit: u32, deliver: &mut dyn FnMut(Chunk<'_>)) {
        while let (Some(next), Some(first)) = (self.next, self.pending.first()) {
            if diff(first.seq, next) > 0 && diff(limit, first.seq) >= 0 {
                self.skip_first_hole(deliver);
            } else {
                break;
            }
        }
    }

    /// `ack`, at `at`, goes beyond every byte seen (up to `next`): kept after the earlier
    /// claims whose bytes have not all come since.
    #[cold]
    fn claim(&mut self, ack: u32, next: u32, at: At) -> bool {
        let met = self
            .claims
            .iter()
            .take_while(|(c, _)| diff(self.data_acked(*c), next) <= 0)
            .count();
        self.claims.drain(..met);
        if self.claims.len() >= CLAIMS_KEPT {
            return false;
        }
        self.claims.push((ack, at));
        true
    }

    /// The end of the data an acknowledgement up to `ack` covers: the FIN's own sequence number,
    /// once the FIN has been seen, is no byte.
    fn data_acked(&self, ack: u32) -> u32 {
        match self.fin_seq {
            Some(f) if diff(ack, f) >= 0 => f.wrapping_sub(1),
            _ => ack,
        }
    }

    /// Everything buffered is delivered, the holes between declared.
    pub fn flush_all(&mut self, deliver: &mut dyn FnMut(Chunk<'_>)) {
        while self.has_pending() {
            self.skip_first_hole(deliver);
        }
    }

    /// End of the connection, after [`Self::flush_all`]: the bytes the peer acknowledged that
    /// the capture never showed (Wireshark's "ACKed unseen segment": the capture lost them,
    /// the peer did not), declared as a gap of that many bytes. Declared only now, when no
    /// late segment can fill them any more: captures often show an acknowledgement before the
    /// segment it acknowledges.
    ///
    /// Returns their count, and where the first acknowledgement that claimed bytes still
    /// unseen was (the earlier ones' bytes all came later), if it was kept.
    pub fn take_unseen_acked(&mut self) -> Option<(u64, Option<At>)> {
        let (Some(next), Some(acked)) = (self.next, self.acked_to) else {
            return None;
        };
        // (A FIN the capture lost counts as one byte.)
        let unseen = diff(self.data_acked(acked), next);
        if unseen > 0 && unseen <= MAX_UNSEEN_ACKED {
            let first = self
                .claims
                .iter()
                .find(|(c, _)| diff(self.data_acked(*c), next) > 0)
                .map(|(_, at)| *at);
            self.next = Some(next.wrapping_add(unseen as u32));
            Some((unseen as u64, first))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reassembler, seq: u32, data: &[u8], frame: u64) -> (SegmentKind, Vec<String>) {
        let mut got = Vec::new();
        let kind = r.segment(seq, data, data.len() as u32, frame, &mut |c| match c {
            Chunk::Data { bytes, frame } => {
                got.push(format!("{}@{frame}", String::from_utf8_lossy(bytes)))
            }
            Chunk::Gap { len } => got.push(format!("gap{len}")),
        });
        (kind, got)
    }

    // --- in-order ---------------------------------------------------------------------------
    #[test]
    fn in_order_delivers_borrowed_and_wraps() {
        let mut r = Reassembler::default();
        r.syn(u32::MAX - 1);
        assert_eq!(
            run(&mut r, u32::MAX, b"ab", 1),
            (SegmentKind::InOrder, vec!["ab@1".into()])
        );
        assert_eq!(
            run(&mut r, 1, b"cd", 2),
            (SegmentKind::InOrder, vec!["cd@2".into()])
        );
    }

    // --- out of order, retransmission, overlap -------------------------------------------------
    #[test]
    fn out_of_order_then_fill() {
        let mut r = Reassembler::default();
        r.syn(0);
        assert_eq!(run(&mut r, 4, b"def", 2).0, SegmentKind::OutOfOrder);
        assert_eq!(run(&mut r, 1, b"abc", 3).1, vec!["abc@3", "def@2"]);
    }

    #[test]
    fn retransmission_overlap_and_keepalive() {
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, 1, b"abcd", 1);
        assert_eq!(run(&mut r, 1, b"abcd", 2).0, SegmentKind::Retransmission);
        assert_eq!(run(&mut r, 3, b"cdef", 3).1, vec!["ef@3"]);
        assert_eq!(run(&mut r, 6, b"x", 4).0, SegmentKind::KeepAlive);
    }

    // --- loss ---------------------------------------------------------------------------------
    fn flushed(r: &mut Reassembler) -> Vec<String> {
        let mut got = Vec::new();
        r.flush_all(&mut |c| got.push(format!("{c:?}")));
        if let Some((len, claimed_at)) = r.take_unseen_acked() {
            got.push(match claimed_at {
                Some(a) => format!("unseen {len} at {}", a.frame),
                None => format!("unseen {len} at the end"),
            });
        }
        got
    }

    fn at(frame: u64) -> At {
        At {
            frame,
            time: crate::capture::Timestamp(frame as i64),
        }
    }

    /// Bytes the peer acknowledged that the capture never showed are a gap at the end (not
    /// before: the segment may still come, captures often show an ACK before its segment);
    /// the FIN's sequence number is no byte; a bogus acknowledgement far ahead is ignored.
    #[test]
    fn acknowledged_but_unseen_bytes_are_a_gap_at_the_end() {
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, 1, b"ab", 1);
        assert!(!r.acked(3, at(2), &mut |_| {}));
        assert!(r.acked(103, at(3), &mut |_| panic!(
            "nothing is declared before the end"
        )));
        // Further still: a later claim; behind: none.
        assert!(r.acked(150, at(4), &mut |_| {}));
        assert!(!r.acked(50, at(5), &mut |_| {}));
        assert_eq!(flushed(&mut r), vec!["unseen 147 at 3"]);
        assert_eq!(r.next_seq(), Some(150));

        // The acknowledged segment shows up after its ACK: nothing is missing.
        let mut r = Reassembler::default();
        r.syn(0);
        assert!(r.acked(3, at(1), &mut |_| {}));
        run(&mut r, 1, b"ab", 2);
        assert!(flushed(&mut r).is_empty());

        // The bytes the first such ACK claimed came later, a later ACK's did not: that later
        // one is the first acknowledgement of the bytes still missing, whether it came before
        // or after the first one's bytes.
        let mut r = Reassembler::default();
        r.syn(0);
        assert!(r.acked(3, at(1), &mut |_| {}));
        run(&mut r, 1, b"ab", 2);
        assert!(r.acked(10, at(3), &mut |_| {}));
        assert_eq!(flushed(&mut r), vec!["unseen 7 at 3"]);
        let mut r = Reassembler::default();
        r.syn(0);
        assert!(r.acked(3, at(1), &mut |_| {}));
        assert!(r.acked(10, at(2), &mut |_| {}));
        run(&mut r, 1, b"ab", 3);
        assert_eq!(flushed(&mut r), vec!["unseen 7 at 2"]);

        // At most CLAIMS_KEPT claims wait: when the bytes of all of them come and a later
        // one's do not, that one was not kept and the bytes are cited at the end; claims met
        // make room for new ones.
        let four_claims = || {
            let mut r = Reassembler::default();
            r.syn(0);
            for (i, ack) in [3u32, 5, 7, 9].into_iter().enumerate() {
                assert!(r.acked(ack, at(i as u64 + 1), &mut |_| {}));
            }
            r
        };
        let mut r = four_claims();
        assert!(!r.acked(11, at(5), &mut |_| {}), "the fifth is not kept");
        run(&mut r, 1, b"abcdefgh", 6);
        assert_eq!(flushed(&mut r), vec!["unseen 2 at the end"]);
        let mut r = four_claims();
        run(&mut r, 1, b"abcdefgh", 5);
        assert!(r.acked(11, at(6), &mut |_| {}), "the four were met");
        assert_eq!(flushed(&mut r), vec!["unseen 2 at 6"]);

        // A claim met long ago stays met: 3 GiB later (past sequence-number wrap-around) the
        // bytes of a new claim are cited at the new one.
        let mut r = Reassembler::default();
        r.syn(0);
        assert!(r.acked(11, at(1), &mut |_| {}));
        run(&mut r, 1, b"0123456789", 2);
        let mut seq = 11u32;
        for i in 0..3u64 {
            // Snaplen-cut segments of 1 GiB, acknowledged as they go.
            r.segment(seq, b"", 1 << 30, 3 + i, &mut |_| {});
            seq = seq.wrapping_add(1 << 30);
            assert!(!r.acked(seq, at(10 + i), &mut |_| {}));
        }
        assert!(r.acked(seq.wrapping_add(5), at(20), &mut |_| {}));
        assert_eq!(r.take_unseen_acked(), Some((5, Some(at(20)))));

        // Data then FIN, both acknowledged: nothing is missing; a lost FIN counts one.
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, 1, b"ab", 1);
        assert!(r.fin(3));
        r.acked(4, at(0), &mut |_| {});
        assert!(flushed(&mut r).is_empty());
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, 1, b"ab", 1);
        r.acked(4, at(2), &mut |_| {});
        assert_eq!(flushed(&mut r), vec!["unseen 1 at 2"]);

        // Acknowledgements behind, or absurdly far ahead (2^31 - 1 bytes): nothing declared.
        for ack in [0, 2, u32::MAX, 0x8000_0001] {
            let mut r = Reassembler::default();
            r.syn(0);
            run(&mut r, 1, b"ab", 1);
            r.acked(ack, at(0), &mut |_| {});
            assert!(flushed(&mut r).is_empty(), "ack {ack}");
        }
    }

    /// Two SYNs with different ISNs before any byte (retransmitted SYN-ACKs that disagree):
    /// the one the peer acknowledges, or the one the first byte follows, starts the stream,
    /// whichever SYN came last; once settled, later SYNs and stray acknowledgements change
    /// nothing, and what was acknowledged of the other numbering is forgotten.
    #[test]
    fn the_acknowledged_isn_wins() {
        let mut r = Reassembler::default();
        r.syn(1000);
        r.syn(50);
        r.syn(1000);
        assert!(r.acked(1001 + 50, at(0), &mut |_| {}));
        assert!(!r.acked(51, at(0), &mut |_| {}));
        // A retransmitted SYN of the old numbering and an acknowledgement of it: settled,
        // and that acknowledgement says nothing of this stream.
        r.syn(1000);
        assert!(!r.acked(1001, at(0), &mut |_| {}));
        assert_eq!(run(&mut r, 51, b"ab", 2).1, vec!["ab@2"]);
        assert!(flushed(&mut r).is_empty());

        // The peer acknowledged the first SYN: a later one with another ISN is ignored.
        let mut r = Reassembler::default();
        r.syn(1000);
        r.acked(1001, at(0), &mut |_| {});
        r.syn(50);
        r.acked(51, at(0), &mut |_| {});
        assert_eq!(r.next_seq(), Some(1001));
        assert!(flushed(&mut r).is_empty());

        // The first byte follows the other SYN (before any acknowledgement): it starts there.
        let mut r = Reassembler::default();
        r.syn(1000);
        r.syn(5000);
        assert_eq!(run(&mut r, 5001, b"ab", 1).1, vec!["ab@1"]);
        r.acked(5003, at(0), &mut |_| {});
        assert!(flushed(&mut r).is_empty());

        // Once a byte came, a disagreeing SYN changes nothing.
        let mut r = Reassembler::default();
        r.syn(1000);
        run(&mut r, 1001, b"ab", 1);
        r.syn(50);
        r.acked(51, at(0), &mut |_| {});
        assert_eq!(r.next_seq(), Some(1003));
    }

    /// A segment far ahead: the buffered bytes go out first and the hole declared is only
    /// what lies between them and the segment (it was once counted from before them too).
    #[test]
    fn far_ahead_declares_the_hole_once() {
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, 1, b"ab", 1);
        run(&mut r, 11, b"klm", 2);
        let far = 3 + MAX_AHEAD as u32 + 100;
        let (kind, got) = run(&mut r, far, b"z", 3);
        assert_eq!(kind, SegmentKind::OutOfOrder);
        assert_eq!(
            got,
            vec![
                "gap8".to_string(),
                "klm@2".to_string(),
                format!("gap{}", far - 14),
                "z@3".to_string()
            ]
        );
        assert_eq!(r.next_seq(), Some(far + 1));

        // Buffered bytes that reach past the far segment's start (a 64 KiB segment buffered
        // just inside the limit): the overlap is trimmed, or the far one was all seen before.
        static BIG: [u8; 4000] = [b'b'; 4000];
        let big: &'static [u8] = &BIG;
        let edge = 1 + MAX_AHEAD as u32 - 100;
        for (far, len, want) in [
            (1 + MAX_AHEAD as u32 + 1000, 4000u32, SegmentKind::InOrder),
            (
                1 + MAX_AHEAD as u32 + 1000,
                2000,
                SegmentKind::Retransmission,
            ),
        ] {
            let mut r = Reassembler::default();
            r.syn(0);
            run(&mut r, edge, big, 1);
            let data = big.get(..len as usize).unwrap_or_default();
            let (kind, got) = run(&mut r, far, data, 2);
            assert_eq!(kind, want, "{len}");
            let end = far.max(edge + 4000);
            assert_eq!(r.next_seq(), Some(end.max(far + len)), "{len}");
            assert_eq!(got.first().map(String::as_str), Some("gap4194204"));
        }
    }

    #[test]
    fn ack_past_a_hole_declares_gap() {
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, 1, b"ab", 1);
        run(&mut r, 6, b"fg", 2);
        let mut got = Vec::new();
        r.acked(8, at(0), &mut |c| got.push(format!("{c:?}")));
        assert_eq!(
            got,
            vec!["Gap { len: 3 }", "Data { bytes: [102, 103], frame: 2 }"]
        );
        assert!(!r.has_pending());
    }

    #[test]
    fn snaplen_cut_is_a_gap() {
        let mut r = Reassembler::default();
        r.syn(0);
        let mut got = Vec::new();
        r.segment(1, b"ab", 10, 1, &mut |c| got.push(format!("{c:?}")));
        assert_eq!(
            got,
            vec!["Data { bytes: [97, 98], frame: 1 }", "Gap { len: 8 }"]
        );
        assert_eq!(r.next_seq(), Some(11));
    }

    #[test]
    fn buffer_is_bounded() {
        let mut r = Reassembler::default();
        r.syn(0);
        let mut gaps = 0;
        for i in 0..(MAX_PENDING_SEGMENTS as u32 + 10) {
            r.segment(100 + i * 10, b"x", 1, 1, &mut |c| {
                if matches!(c, Chunk::Gap { .. }) {
                    gaps += 1;
                }
            });
        }
        assert!(r.pending.len() <= MAX_PENDING_SEGMENTS);
        assert!(gaps > 0);
    }
}
