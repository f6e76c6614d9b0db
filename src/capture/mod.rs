//! Stage 1: capture reading.
//!
//! Streams classic pcap (µs/ns, both byte orders) and pcapng (several interfaces, each with its
//! own link type, `if_tsresol` and `if_tsoffset`) with `pcap-parser`, gzip-compressed or not,
//! and hands each packet record to a callback as a [`Frame`] with its 1-based frame number (file
//! order, as Wireshark numbers frames) and its capture time in nanoseconds.
//!
//! The file is never loaded whole: the reader keeps one buffer of [`BUFFER_SIZE`] bytes (grown
//! only for a record larger than that). A damaged or truncated tail ends the walk with a
//! [`CaptureWarning`] so that the packets before it still count (partial results); a file that
//! is not a capture at all is a [`CaptureError`] naming the path and byte offset.

pub mod link;
#[doc(hidden)]
pub mod synthetic;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};

/// Initial size of the streaming read buffer.
pub const BUFFER_SIZE: usize = 1 << 20;
/// The largest buffer the reader grows to for one oversized record.
const MAX_BUFFER_SIZE: usize = 64 << 20;

/// A capture timestamp: nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Seconds since the epoch as a float (microsecond precision is kept).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// `self - earlier` in seconds (negative when the capture goes back in time).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e9
    }
}

impl fmt::Display for Timestamp {
    /// Formats like Wireshark's `frame.time_epoch` (seconds with 9 decimals).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{nanos:09}")
    }
}

/// The container format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        }
    }
}

/// One packet record of the capture.
#[derive(Debug)]
pub struct Frame<'a> {
    /// 1-based frame number in file order (Wireshark's `frame.number`).
    pub number: u64,
    pub time: Timestamp,
    /// Link-layer header type (LINKTYPE_* value) of the interface the packet was captured on.
    pub linktype: i32,
    /// Captured bytes (may be shorter than `orig_len` when the snaplen cut the packet).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// A problem that stops reading: the file is not a capture, cannot be opened, or the header is
/// damaged. It names the file and the byte offset where reading stopped.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason} (at byte offset {offset})")]
pub struct CaptureError {
    pub path: PathBuf,
    pub offset: u64,
    pub reason: String,
}

/// A non-fatal problem found while reading; the packets before it are analysed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureWarning {
    pub offset: u64,
    pub message: String,
}

impl CaptureWarning {
    /// The file ends inside the record that starts at `offset`.
    fn truncated(offset: u64) -> Self {
        CaptureWarning {
            offset,
            message: "capture ends in the middle of a record (truncated file); the packets before it were analysed".into(),
        }
    }

    /// The classic pcap record at `offset` claims `caplen` captured bytes, more than `limit`
    /// (see [`RecordRule`]): its header is damaged, and nothing after it can be framed.
    fn oversized(offset: u64, caplen: u32, limit: u32) -> Self {
        CaptureWarning {
            offset,
            message: format!(
                "damaged record header (it claims {caplen} captured bytes, more than the maximum of {limit}); the packets before it were analysed"
            ),
        }
    }

    /// The record at `offset` does not parse (`why`, when the parser said).
    fn damaged(offset: u64, why: Option<&str>) -> Self {
        CaptureWarning {
            offset,
            message: match why {
                Some(why) => {
                    format!("damaged record ({why}); the packets before it were analysed")
                }
                None => "damaged record; the packets before it were analysed".into(),
            },
        }
    }
}

/// What the walk over a capture saw.
#[derive(Debug, Default)]
pub struct CaptureSummary {
    pub format: Option<Format>,
    pub compressed: bool,
    /// Link types in the order first seen (pcap: the header's; pcapng: per interface).
    pub link_types: Vec<i32>,
    pub packets: u64,
    pub bytes: u64,
    pub warnings: Vec<CaptureWarning>,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: i32,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_secs: i64,
}

/// Where an [`EndAtError`] reader stopped: offset in decompressed bytes, and the error. Shared
/// between the reader (which the capture parser owns) and whoever opened it.
pub type StreamFault = std::sync::Arc<std::sync::Mutex<Option<(u64, String)>>>;

/// A reader that ends (returns 0) at the first read error instead of failing, and records the
/// error in its [`StreamFault`]: a gzip stream cut short or damaged still yields the packets
/// decompressed before the damage (partial results), and the error becomes a warning.
pub struct EndAtError<R> {
    inner: R,
    produced: u64,
    fault: StreamFault,
}

impl<R: Read> EndAtError<R> {
    pub fn new(inner: R, fault: StreamFault) -> Self {
        EndAtError {
            inner,
            produced: 0,
            fault,
        }
    }
}

impl<R: Read> Read for EndAtError<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Ok(mut fault) = self.fault.lock() else {
            return Ok(0);
        };
        if fault.is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.produced += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                *fault = Some((self.produced, e.to_string()));
                Ok(0)
            }
        }
    }
}

/// Opens `path` (`-` is standard input) and returns a reader over its bytes, gunzipped on the fly
/// when the content starts with the gzip magic.
pub fn open(path: &Path) -> Result<(Box<dyn Read + Send>, bool), CaptureError> {
    let (input, fault) = open_tracked(path)?;
    Ok((input, fault.is_some()))
}

/// [`open`], and for a gzip stream the [`StreamFault`] that says where it broke off, if it did.
pub fn open_tracked(
    path: &Path,
) -> Result<(Box<dyn Read + Send>, Option<StreamFault>), CaptureError> {
    let err = |reason: String| CaptureError {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| err(format!("cannot open: {e}")))?)
    };
    let mut buffered = BufReader::with_capacity(64 * 1024, raw);
    let head =
        std::io::BufRead::fill_buf(&mut buffered).map_err(|e| err(format!("cannot read: {e}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(buffered);
        let fault = StreamFault::default();
        Ok((Box::new(EndAtError::new(gz, fault.clone())), Some(fault)))
    } else {
        Ok((Box::new(buffered), None))
    }
}

/// Reads every packet record of the capture at `path` and calls `on_frame` for each, in file
/// order. Returns what was seen; a damaged tail is a warning in the summary, not an error.
pub fn read_capture(
    path: &Path,
    mut on_frame: impl FnMut(&Frame<'_>),
) -> Result<CaptureSummary, CaptureError> {
    if let Some(map) = map_capture(path) {
        let summary = read_mapped(
            path,
            &map,
            &|at| at,
            &|from, to| release(&map, from, to),
            on_frame,
        )?;
        drop(map);
        return Ok(summary);
    }
    let (input, fault) = open_tracked(path)?;
    let mut summary = CaptureSummary {
        compressed: fault.is_some(),
        ..CaptureSummary::default()
    };
    let result = read_stream(path, input, &mut summary, &mut on_frame);
    let broke_off = fault.and_then(|f| f.lock().ok().and_then(|mut g| g.take()));
    if let Some((offset, msg)) = broke_off {
        summary.warnings.push(CaptureWarning {
            offset,
            message: format!(
                "the gzip stream is damaged or cut short after {offset} decompressed bytes ({msg}); the packets before it were analysed"
            ),
        });
        // A stream that ended before a whole capture header is still not a capture.
        if let Err(mut e) = result {
            e.reason = format!("{} (gzip stream damaged or cut short: {msg})", e.reason);
            return Err(e);
        }
    }
    result.map(|()| summary)
}

/// A regular, uncompressed capture file (classic pcap or pcapng), memory-mapped: records are
/// then read in place, without copying them through a read buffer. Anything else (gzip,
/// stdin, a pipe, a file whose header does not parse) takes the streaming reader, which also
/// gives the error messages for bad headers.
pub fn map_capture(path: &Path) -> Option<memmap2::Mmap> {
    if path.as_os_str() == "-" {
        return None;
    }
    let file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() < 24 {
        return None;
    }
    // SAFETY: the map is a shared read-only mapping; we never write through it. If another
    // process truncates the file while we read it, the kernel raises SIGBUS — the same hazard
    // every mmap-based capture reader (tcpdump -r, Wireshark's) accepts.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let usable = match map.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => pcap_parser::pcap::parse_pcap_header(&map).is_ok(),
        [0x0a, 0x0d, 0x0d, 0x0a] => pcap_parser::pcapng::parse_sectionheaderblock(&map).is_ok(),
        _ => false,
    };
    if !usable {
        return None;
    }
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(map)
}

/// How much of a mapped file is read before the pages behind are handed back to the kernel,
/// so that resident memory stays flat whatever the file size.
const MAP_RELEASE_EVERY: usize = 4 << 20;

/// Reads a memory-mapped capture (from [`map_capture`]); frames borrow the map, so their bytes
/// may be handed to other threads for as long as the map lives.
///
/// Pages behind the reading position are handed back to the kernel as the reader goes on, down
/// to `in_use(offset)`: the lowest byte offset that other threads may still read while the
/// reader is at `offset` (pass `&|at| at` when no other thread reads the frames). A thread that
/// touches a page handed back reads it again from the page cache: slower, still correct; so
/// the pages kept behind are capped at 16 MiB, whatever `in_use` says. The reader hands each
/// range of pages, `from..to`, to `hand_back`: [`release`] at once, or another thread that
/// releases them when it has time.
pub fn read_mapped<'m>(
    path: &Path,
    map: &'m memmap2::Mmap,
    in_use: &dyn Fn(usize) -> usize,
    hand_back: &dyn Fn(usize, usize),
    mut on_frame: impl FnMut(&Frame<'m>),
) -> Result<CaptureSummary, CaptureError> {
    let mut summary = CaptureSummary::default();
    let mut pages = PageRelease {
        map,
        in_use,
        hand_back,
        released: 0,
        checked: 0,
        refault_from: None,
        ahead: 0,
    };
    if map.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        read_mapped_pcapng(map, &mut pages, &mut summary, &mut on_frame);
    } else {
        read_mapped_pcap(path, map, &mut pages, &mut summary, &mut on_frame)?;
    }
    Ok(summary)
}

/// The most bytes of a mapped file kept resident behind the reader for other threads: about
/// twice what a worker's full queue spans on ~500-byte packets. With 48 MiB, `--jobs 2`'s peak
/// RSS on the 1 GiB benchmark ranged 46-66 MB when the machine was busy (a worker lagging holds
/// pages); with 16 MiB 49-52 MB, no slower.
const MAX_KEEP_BEHIND: usize = 16 << 20;

/// How often (bytes read) the reader asks whether pages can be released, once enough can.
const RELEASE_CHECK_EVERY: usize = 64 << 10;

/// The reader's window on a mapped file: the bytes just ahead are asked into the CPU cache
/// before the reader gets there, and the pages no thread needs any more are handed back to the
/// kernel, so that resident memory stays flat whatever the file size.
struct PageRelease<'m, 'u> {
    map: &'m memmap2::Mmap,
    /// The lowest offset still in use, given the reader's.
    in_use: &'u dyn Fn(usize) -> usize,
    /// Releases a range of pages.
    hand_back: &'u dyn Fn(usize, usize),
    released: usize,
    /// The reader's offset when `in_use` was last asked.
    checked: usize,
    /// Pages from here up to `released` were released under the cap while another thread
    /// still had to read them; it reads them back in, so they are released again later.
    refault_from: Option<usize>,
    /// Everything before this offset has been prefetched.
    ahead: usize,
}

/// How far ahead of the reader the file is prefetched. Records are walked like a linked list
/// (each length gives the next offset), which the CPU cannot predict, and most of a record's
/// bytes are skipped, so the hardware prefetchers rarely start a stream: without this, the
/// first touch of almost every record header waits for memory. Measured on the 1 GiB
/// benchmark, tlsdiag's reader alone: 0.30 s without, 0.19/0.16/0.17/0.18 s at 1/2/4/8 KiB.
const PREFETCH_DISTANCE: usize = 2048;

impl PageRelease<'_, '_> {
    /// The reader is at byte `offset`.
    #[inline]
    fn at(&mut self, offset: usize) {
        let want = offset.saturating_add(PREFETCH_DISTANCE).min(self.map.len());
        if self.ahead < offset {
            self.ahead = offset;
        }
        while self.ahead < want {
            if let Some(bytes) = self.map.get(self.ahead..) {
                prefetch(bytes);
            }
            self.ahead += CACHE_LINE;
        }
        if offset.saturating_sub(self.released) >= MAP_RELEASE_EVERY
            && offset.saturating_sub(self.checked) >= RELEASE_CHECK_EVERY
        {
            self.checked = offset;
            self.release(offset);
        }
    }

    #[cold]
    fn release(&mut self, offset: usize) {
        let plan = plan_release(
            self.released,
            self.refault_from,
            offset,
            (self.in_use)(offset),
        );
        for (from, to) in plan.ranges.into_iter().flatten() {
            (self.hand_back)(from, to);
        }
        self.released = plan.released;
        self.refault_from = plan.refault_from;
    }
}

/// Hands the pages of `map` in `from..to` back to the kernel. The range is cut to the map
/// (memmap2 checks its start and its length, not their sum: past the end, the next mapping's
/// pages would go); its start is rounded down to a page by memmap2 ([`plan_release`] makes it
/// page-aligned).
pub(crate) fn release(map: &memmap2::Mmap, from: usize, to: usize) {
    let Some((from, to)) = within(map.len(), from, to) else {
        return;
    };
    // SAFETY: the range lies within the mapping, a shared read-only view of the file: dropped
    // pages are simply read again from the page cache if touched, whichever thread releases
    // them and whenever (a thread that still reads them, below `in_use` or past
    // MAX_KEEP_BEHIND, is slower, never wrong).
    #[cfg(unix)]
    let _ =
        unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
    #[cfg(not(unix))]
    let _ = (map, from, to);
}

/// `from..to` cut to `0..len`; `None` when nothing is left.
fn within(len: usize, from: usize, to: usize) -> Option<(usize, usize)> {
    let to = to.min(len);
    (from < to).then_some((from, to))
}

/// `bytes` in a temporary file, memory-mapped (for tests of page release).
#[cfg(test)]
pub(crate) fn test_map(bytes: &[u8]) -> memmap2::Mmap {
    use std::io::Write;
    let mut f = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => panic!("temp file: {e}"),
    };
    assert!(f.write_all(bytes).is_ok());
    // SAFETY: a private temporary file that nothing else writes.
    match unsafe { memmap2::Mmap::map(&f) } {
        Ok(m) => m,
        Err(e) => panic!("map: {e}"),
    }
}

/// What [`PageRelease`] hands back to the kernel when the reader is at `offset` and other
/// threads may still read from `wanted` on.
#[derive(Debug, PartialEq, Eq)]
struct ReleasePlan {
    /// Page ranges to release (at most two: pages released earlier under the cap that a
    /// lagging thread has read again since, and the new ones).
    ranges: [Option<(usize, usize)>; 2],
    released: usize,
    refault_from: Option<usize>,
}

fn plan_release(
    released: usize,
    refault_from: Option<usize>,
    offset: usize,
    wanted: usize,
) -> ReleasePlan {
    let page = |x: usize| x & !(PAGE - 1);
    let wanted = page(wanted.min(offset));
    let low = wanted.max(page(offset.saturating_sub(MAX_KEEP_BEHIND)));
    let mut plan = ReleasePlan {
        ranges: [None, None],
        released,
        refault_from,
    };
    // A thread that fell further behind than the cap reads pages back in as it goes: once it
    // is well past them, release them again, or resident memory would grow with the file.
    if let Some(from) = refault_from
        && wanted.saturating_sub(from) >= MAP_RELEASE_EVERY
    {
        let to = wanted.min(released);
        plan.ranges[0] = (from < to).then_some((from, to));
        plan.refault_from = (wanted < released).then_some(wanted);
    }
    if low.saturating_sub(released) >= MAP_RELEASE_EVERY {
        plan.ranges[1] = Some((released, low));
        plan.released = low;
    }
    // Only pages actually released (below `plan.released`) that a thread still needs are read
    // back in: marking more would later ask for a range that was never released.
    if wanted < plan.released {
        plan.refault_from = Some(plan.refault_from.map_or(wanted, |f| f.min(wanted)));
    }
    plan
}

/// The page size the release rounds to (Linux x86_64 and most others; with larger pages
/// memmap2 rounds a range's start down to one, so up to a page before it is dropped too, and
/// read again if a thread still needs it).
const PAGE: usize = 4096;

/// The unit [`prefetch`] loads.
const CACHE_LINE: usize = 64;

/// Asks the CPU to load the cache line holding the start of `bytes` for one use, without
/// displacing what stays in use (does nothing for an empty slice or on other architectures
/// than x86_64).
///
/// The reader asks for every line of the file ahead of it, and most of them (the payload of
/// application data, which is only length-skipped) are never read: with the ordinary hint
/// (`T0`) each one also took a place in the core's larger caches, evicting connection state
/// and the heap. The non-temporal hint brings the line close to the core without that. Measured
/// on the 1 GiB benchmark, one core, alternating pairs against `T0`: 0.969 and 0.959 of its
/// time in 4 KiB pages (12 and 10 pairs), 0.963 in 2 MiB folios (10 pairs); `--jobs 2`
/// unchanged (0.984, 0.997); the `T2` hint instead was 1.22x slower.
#[inline]
pub(crate) fn prefetch(bytes: &[u8]) {
    if !bytes.is_empty() {
        prefetch_line::<true>(bytes.as_ptr());
    }
}

/// Asks the CPU to load the cache lines of the `len` bytes from `start`, to be kept (a hint:
/// nothing is read, so `start` need not be valid; does nothing on other architectures than
/// x86_64).
#[inline]
pub(crate) fn prefetch_span(start: *const u8, len: usize) {
    for off in (0..len).step_by(CACHE_LINE) {
        prefetch_line::<false>(start.wrapping_add(off));
    }
}

/// One cache line: for one use (`prefetchnta`, see [`prefetch`]) or to keep (`prefetcht0`).
#[inline(always)]
fn prefetch_line<const ONE_USE: bool>(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is only a hint: it reads
    // nothing architecturally and cannot fault, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_NTA, _MM_HINT_T0, _mm_prefetch};
        if ONE_USE {
            _mm_prefetch::<_MM_HINT_NTA>(at.cast());
        } else {
            _mm_prefetch::<_MM_HINT_T0>(at.cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// pcapng from the memory-mapped file (its section header parsed in [`map_capture`]).
fn read_mapped_pcapng<'m>(
    map: &'m memmap2::Mmap,
    pages: &mut PageRelease<'m, '_>,
    summary: &mut CaptureSummary,
    on_frame: &mut impl FnMut(&Frame<'m>),
) {
    use pcap_parser::pcapng::{
        parse_block_be, parse_block_le, parse_enhancedpacketblock_be, parse_enhancedpacketblock_le,
    };
    let data: &'m [u8] = map;
    let mut rem = data;
    let mut ng = NgState::default();
    let mut big_endian = false;
    summary.format = Some(Format::PcapNg);
    while !rem.is_empty() {
        let offset = data.len() - rem.len();
        pages.at(offset);
        // A packet block, nearly every block of a capture, is parsed as one: through the
        // generic parser, it was moved into the block enum and out again on the stack (a third
        // of the reader's samples on the pcapng benchmark). Its own match, too: one match for
        // both parsers' results (each mapped to the rest of the file) made the reader ~9% slower.
        if block_type(rem, big_endian) == Some(pcap_parser::EPB_MAGIC) {
            let parsed = if big_endian {
                parse_enhancedpacketblock_be(rem)
            } else {
                parse_enhancedpacketblock_le(rem)
            };
            match parsed {
                Ok((next, epb)) => {
                    ng.packet(&epb, offset as u64, summary, on_frame);
                    rem = next;
                    continue;
                }
                Err(e) => return ng_stop(e, offset, summary),
            }
        }
        let parse = if big_endian {
            parse_block_be
        } else {
            parse_block_le
        };
        match parse(rem) {
            Ok((next, block)) => {
                if let Block::SectionHeader(shb) = &block {
                    big_endian = shb.big_endian();
                }
                ng.block(&block, offset as u64, summary, on_frame);
                rem = next;
            }
            Err(e) => return ng_stop(e, offset, summary),
        }
    }
}

/// A pcapng block's type, read in the section's byte order.
fn block_type(rem: &[u8], big_endian: bool) -> Option<u32> {
    let bytes = *rem.first_chunk::<4>()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// The mapped pcapng walk ends at a block that does not parse: truncated or damaged.
#[cold]
fn ng_stop(
    e: pcap_parser::nom::Err<PcapError<&[u8]>>,
    offset: usize,
    summary: &mut CaptureSummary,
) {
    summary.warnings.push(match e {
        pcap_parser::nom::Err::Incomplete(_) => CaptureWarning::truncated(offset as u64),
        pcap_parser::nom::Err::Error(e) | pcap_parser::nom::Err::Failure(e) => {
            CaptureWarning::damaged(offset as u64, Some(&describe(&e)))
        }
    });
}

/// What a classic pcap file's record headers may say: a header claiming more captured bytes
/// than Wireshark reads for the file's link type is damaged, and Wireshark stops there ("File
/// has N-byte packet, bigger than maximum of M"; `wtap_max_snaplen_for_encap`, whatever the
/// file header's snapshot length says). Read as a record, it would swallow the packets after
/// it, or pass for a truncated file when it claims more than is left.
#[derive(Clone, Copy, Debug)]
struct RecordRule {
    /// The most captured bytes a record may claim.
    limit: u32,
    big_endian: bool,
    /// A record header's length (24 in the modified format, 16 otherwise).
    header_len: usize,
}

impl RecordRule {
    fn of(header: &pcap_parser::PcapHeader) -> Self {
        RecordRule {
            limit: match header.network.0 {
                // D-Bus, USBPcap, Linux USB (two), Darwin USB: 128 MiB; EBHSCR: 8 MiB.
                231 | 249 | 189 | 220 | 266 => 128 << 20,
                279 => 8 << 20,
                // WTAP_MAX_PACKET_SIZE_STANDARD.
                _ => 262_144,
            },
            big_endian: header.is_bigendian(),
            header_len: if header.is_modified_format() { 24 } else { 16 },
        }
    }

    /// The captured length the whole record header at the start of `rem` claims, if it is
    /// over the limit (a header cut short by the end of the file is a truncation instead).
    fn oversized(&self, rem: &[u8]) -> Option<u32> {
        let header = rem.get(..self.header_len)?;
        let bytes = *header.get(8..)?.first_chunk::<4>()?;
        let caplen = if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        };
        (caplen > self.limit).then_some(caplen)
    }
}

/// Classic pcap from the memory-mapped file.
fn read_mapped_pcap<'m>(
    path: &Path,
    map: &'m memmap2::Mmap,
    pages: &mut PageRelease<'m, '_>,
    summary: &mut CaptureSummary,
    on_frame: &mut impl FnMut(&Frame<'m>),
) -> Result<(), CaptureError> {
    let data: &'m [u8] = map;
    use pcap_parser::pcap::{
        parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    };
    let (rem, header) = parse_pcap_header(data).map_err(|_| CaptureError {
        path: path.to_path_buf(),
        offset: 0,
        reason: "damaged pcap file header".into(),
    })?;
    summary.format = Some(Format::Pcap);
    let lt = header.network.0;
    summary.link_types.push(lt);
    let units: u64 = if header.is_nanosecond_precision() {
        1_000_000_000
    } else {
        1_000_000
    };
    // One loop per record layout, each with its parser inlined (not called through a pointer).
    let walk = PcapWalk {
        data,
        linktype: lt,
        units,
        records: RecordRule::of(&header),
    };
    if header.is_modified_format() {
        walk.run(rem, parse_pcap_frame_modified, pages, summary, on_frame);
    } else if header.is_bigendian() {
        walk.run(rem, parse_pcap_frame_be, pages, summary, on_frame);
    } else {
        walk.run(rem, parse_pcap_frame, pages, summary, on_frame);
    }
    Ok(())
}

/// The record loop of a mapped classic pcap file.
struct PcapWalk<'m> {
    data: &'m [u8],
    linktype: i32,
    /// Units of the timestamps' fraction per second.
    units: u64,
    /// What its record headers may claim.
    records: RecordRule,
}

impl<'m> PcapWalk<'m> {
    #[inline(always)]
    fn run<P>(
        &self,
        mut rem: &'m [u8],
        parse: P,
        pages: &mut PageRelease<'m, '_>,
        summary: &mut CaptureSummary,
        on_frame: &mut impl FnMut(&Frame<'m>),
    ) where
        P: Fn(
            &'m [u8],
        ) -> pcap_parser::nom::IResult<
            &'m [u8],
            pcap_parser::LegacyPcapBlock<'m>,
            PcapError<&'m [u8]>,
        >,
    {
        let mut frame_no = 0u64;
        while !rem.is_empty() {
            let offset = (self.data.len() - rem.len()) as u64;
            pages.at(offset as usize);
            if let Some(caplen) = self.records.oversized(rem) {
                summary.warnings.push(CaptureWarning::oversized(
                    offset,
                    caplen,
                    self.records.limit,
                ));
                break;
            }
            match parse(rem) {
                Ok((next, b)) => {
                    frame_no += 1;
                    summary.packets += 1;
                    summary.bytes += b.data.len() as u64;
                    on_frame(&Frame {
                        number: frame_no,
                        time: ts_from_parts(i64::from(b.ts_sec), u64::from(b.ts_usec), self.units),
                        linktype: self.linktype,
                        data: b.data,
                        orig_len: b.origlen,
                    });
                    rem = next;
                }
                Err(pcap_parser::nom::Err::Incomplete(_)) => {
                    summary.warnings.push(CaptureWarning::truncated(offset));
                    break;
                }
                Err(pcap_parser::nom::Err::Error(e) | pcap_parser::nom::Err::Failure(e)) => {
                    summary
                        .warnings
                        .push(CaptureWarning::damaged(offset, Some(&describe(&e))));
                    break;
                }
            }
        }
    }
}

/// What a pcapng reader carries from block to block: the section's interfaces and the frame
/// count. Shared by the streaming and the memory-mapped readers.
#[derive(Default)]
struct NgState {
    interfaces: Vec<Interface>,
    frame_no: u64,
}

impl NgState {
    /// An enhanced packet block found at byte `offset`: a frame, unless its interface is
    /// unknown.
    fn packet<'a>(
        &mut self,
        epb: &pcap_parser::pcapng::EnhancedPacketBlock<'a>,
        offset: u64,
        summary: &mut CaptureSummary,
        on_frame: &mut impl FnMut(&Frame<'a>),
    ) {
        self.frame_no += 1;
        let Some(ifc) = self.interfaces.get(epb.if_id as usize).copied() else {
            summary.warnings.push(CaptureWarning {
                offset,
                message: format!(
                    "frame {}: packet refers to undeclared interface {}; skipped",
                    self.frame_no, epb.if_id
                ),
            });
            return;
        };
        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
        let time = ticks_to_time(raw, ifc.units_per_sec, ifc.offset_secs);
        let caplen = (epb.caplen as usize).min(epb.data.len());
        let data: &'a [u8] = epb.data.get(..caplen).unwrap_or(epb.data);
        summary.packets += 1;
        summary.bytes += data.len() as u64;
        on_frame(&Frame {
            number: self.frame_no,
            time,
            linktype: ifc.linktype,
            data,
            orig_len: epb.origlen,
        });
    }

    /// Handles one block found at byte `offset`; packet blocks become frames.
    fn block<'a>(
        &mut self,
        block: &Block<'a>,
        offset: u64,
        summary: &mut CaptureSummary,
        on_frame: &mut impl FnMut(&Frame<'a>),
    ) {
        match block {
            Block::SectionHeader(_) => {
                summary.format = Some(Format::PcapNg);
                // Interface ids are per section.
                self.interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let lt = idb.linktype.0;
                if !summary.link_types.contains(&lt) {
                    summary.link_types.push(lt);
                }
                let units = idb.ts_resolution().unwrap_or_else(|| {
                    summary.warnings.push(CaptureWarning {
                        offset,
                        message: format!(
                            "interface {} has an invalid if_tsresol {:#x}; assuming microseconds",
                            self.interfaces.len(),
                            idb.if_tsresol
                        ),
                    });
                    1_000_000
                });
                self.interfaces.push(Interface {
                    linktype: lt,
                    units_per_sec: units.max(1),
                    offset_secs: idb.ts_offset(),
                });
            }
            Block::EnhancedPacket(epb) => self.packet(epb, offset, summary, on_frame),
            Block::SimplePacket(spb) => {
                self.frame_no += 1;
                if let Some(ifc) = self.interfaces.first().copied() {
                    let caplen = spb.data.len();
                    summary.packets += 1;
                    summary.bytes += caplen as u64;
                    on_frame(&Frame {
                        number: self.frame_no,
                        time: Timestamp(0),
                        linktype: ifc.linktype,
                        data: spb.data,
                        orig_len: spb.origlen,
                    });
                }
            }
            _ => {}
        }
    }
}

fn read_stream(
    path: &Path,
    input: Box<dyn Read + Send>,
    summary: &mut CaptureSummary,
    on_frame: &mut impl FnMut(&Frame<'_>),
) -> Result<(), CaptureError> {
    let mut reader = match pcap_parser::create_reader(BUFFER_SIZE, input) {
        Ok(r) => r,
        Err(e) => {
            let reason = match e {
                PcapError::Eof => "empty file, not a capture".to_string(),
                PcapError::HeaderNotRecognized => {
                    "not a pcap or pcapng capture (unknown magic number)".to_string()
                }
                PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                    "file too short for a capture header".to_string()
                }
                other => format!("cannot read capture header: {other:?}"),
            };
            return Err(CaptureError {
                path: path.to_path_buf(),
                offset: 0,
                reason,
            });
        }
    };

    let mut ng = NgState::default();
    let mut legacy: Option<Interface> = None;
    // What a classic pcap file's record headers may claim, once its header is read.
    let mut records: Option<RecordRule> = None;
    let mut frame_no: u64 = 0;
    let mut capacity = BUFFER_SIZE;
    loop {
        let offset = reader.consumed() as u64;
        // Each classic pcap record's header, once the buffer holds it whole, before it is
        // parsed (a record too large for the buffer, or past the end, is caught here too).
        if let Some(rule) = records
            && let Some(caplen) = rule.oversized(reader.data())
        {
            summary
                .warnings
                .push(CaptureWarning::oversized(offset, caplen, rule.limit));
            break;
        }
        match reader.next() {
            Ok((len, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(hdr) => {
                        summary.format = Some(Format::Pcap);
                        let nanos =
                            hdr.magic_number == 0xa1b2_3c4d || hdr.magic_number == 0x4d3c_b2a1;
                        let lt = hdr.network.0;
                        summary.link_types.push(lt);
                        records = Some(RecordRule::of(&hdr));
                        legacy = Some(Interface {
                            linktype: lt,
                            units_per_sec: if nanos { 1_000_000_000 } else { 1_000_000 },
                            offset_secs: 0,
                        });
                    }
                    PcapBlockOwned::Legacy(b) => {
                        if let Some(ifc) = legacy {
                            frame_no += 1;
                            let time = ts_from_parts(
                                i64::from(b.ts_sec),
                                u64::from(b.ts_usec),
                                ifc.units_per_sec,
                            );
                            summary.packets += 1;
                            summary.bytes += b.data.len() as u64;
                            on_frame(&Frame {
                                number: frame_no,
                                time,
                                linktype: ifc.linktype,
                                data: b.data,
                                orig_len: b.origlen,
                            });
                        }
                    }
                    PcapBlockOwned::NG(block) => ng.block(&block, offset, summary, on_frame),
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if let Err(e) = reader.refill() {
                    summary.warnings.push(CaptureWarning {
                        offset,
                        message: format!("read error: {e:?}; capture read up to here"),
                    });
                    break;
                }
            }
            Err(PcapError::BufferTooSmall) => {
                // One record larger than the buffer: grow it once, up to a hard cap.
                if capacity >= MAX_BUFFER_SIZE {
                    summary.warnings.push(CaptureWarning {
                        offset,
                        message: format!(
                            "a record larger than {} MiB; capture read up to here",
                            MAX_BUFFER_SIZE >> 20
                        ),
                    });
                    break;
                }
                capacity *= 4;
                if !reader.grow(capacity) {
                    summary.warnings.push(CaptureWarning {
                        offset,
                        message: "could not grow the read buffer; capture read up to here".into(),
                    });
                    break;
                }
                if let Err(e) = reader.refill() {
                    summary.warnings.push(CaptureWarning {
                        offset,
                        message: format!("read error: {e:?}; capture read up to here"),
                    });
                    break;
                }
            }
            Err(PcapError::UnexpectedEof) => {
                summary.warnings.push(CaptureWarning::truncated(offset));
                break;
            }
            Err(e) => {
                summary
                    .warnings
                    .push(CaptureWarning::damaged(offset, Some(&describe(&e))));
                break;
            }
        }
    }
    Ok(())
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("parse error {kind:?}"),
        PcapError::OwnedNomError(_, kind) => format!("parse error {kind:?}"),
        PcapError::ReadError => "read error".into(),
        other => format!("{other:?}"),
    }
}

/// A pcapng timestamp (`raw` ticks of `1 / units_per_sec` s, plus the interface's offset).
#[inline]
fn ticks_to_time(raw: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
    // Microseconds and nanoseconds (nearly every capture) divide by constants, which compile
    // to multiplications.
    let (secs, frac) = match units_per_sec {
        1_000_000 => (raw / 1_000_000, raw % 1_000_000),
        1_000_000_000 => (raw / 1_000_000_000, raw % 1_000_000_000),
        units => (raw / units.max(1), raw % units.max(1)),
    };
    ts_from_parts(
        i64::try_from(secs)
            .unwrap_or(i64::MAX / 2_000_000_000)
            .saturating_add(offset_secs),
        frac,
        units_per_sec,
    )
}

/// `secs` seconds and `frac` units of `1 / units_per_sec` s. Microseconds and nanoseconds (every
/// classic pcap, nearly every pcapng) are a multiplication; other resolutions a 128-bit
/// division, which per packet cost the reader ~4%.
#[inline]
fn ts_from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Timestamp {
    let frac = u128::from(frac);
    let nanos = match units_per_sec {
        1_000_000 => frac * 1_000,
        1_000_000_000 => frac,
        units => frac * 1_000_000_000 / u128::from(units.max(1)),
    } as i64;
    Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// A short human name for a LINKTYPE_* value.
pub fn linktype_name(lt: i32) -> String {
    match lt {
        0 => "NULL".into(),
        1 => "ETHERNET".into(),
        12 | 14 | 101 => "RAW".into(),
        108 => "LOOP".into(),
        113 => "LINUX_SLL".into(),
        228 => "IPV4".into(),
        229 => "IPV6".into(),
        276 => "LINUX_SLL2".into(),
        other => format!("LINKTYPE_{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Released pages read back the same; a range past the end of the map is cut to it (and
    /// one that starts past it, or is empty, does nothing).
    #[test]
    fn released_pages_read_back_and_ranges_stop_at_the_map() {
        let bytes: Vec<u8> = (0..3 * PAGE + 100).map(|i| (i % 251) as u8).collect();
        let map = test_map(&bytes);
        release(&map, 0, PAGE);
        release(&map, PAGE, usize::MAX);
        release(&map, 10 * PAGE, usize::MAX);
        release(&map, 2 * PAGE, PAGE);
        assert_eq!(&map[..], &bytes[..]);
        let len = bytes.len();
        assert_eq!(within(len, 0, PAGE), Some((0, PAGE)));
        assert_eq!(within(len, PAGE, usize::MAX), Some((PAGE, len)));
        assert_eq!(within(len, 10 * PAGE, usize::MAX), None);
        assert_eq!(within(len, 2 * PAGE, PAGE), None);
        assert_eq!(within(len, len, len + PAGE), None);
    }

    /// Page release behind the reader: to the lowest offset in use, never more than
    /// MAX_KEEP_BEHIND behind, and the pages a lagging thread reads back in released again.
    #[test]
    fn pages_are_released_behind_the_slowest_reader_within_the_cap() {
        const M: usize = 1 << 20;
        // Alone: everything before the reader, in 4 MiB steps.
        let p = plan_release(0, None, 5 * M + 100, 5 * M + 100);
        assert_eq!(p.ranges, [None, Some((0, 5 * M))]);
        assert_eq!((p.released, p.refault_from), (5 * M, None));
        assert_eq!(plan_release(5 * M, None, 8 * M, 8 * M).ranges, [None, None]);
        // A worker 10 MiB behind: released up to it (page-aligned).
        let p = plan_release(0, None, 30 * M, 20 * M + 5000);
        assert_eq!(p.ranges, [None, Some((0, 20 * M + 4096))]);
        // A worker further behind than the cap: released to the cap; it will read back in
        // what it still needs, from its offset on.
        let k = MAX_KEEP_BEHIND;
        let p = plan_release(0, None, 100 * M, 10 * M);
        assert_eq!(p.ranges, [None, Some((0, 100 * M - k))]);
        assert_eq!((p.released, p.refault_from), (100 * M - k, Some(10 * M)));
        // It moves 2 MiB: not yet worth a call.
        let q = plan_release(p.released, p.refault_from, 100 * M, 12 * M);
        assert_eq!(q.ranges, [None, None]);
        assert_eq!(q.refault_from, Some(10 * M));
        // 20 MiB on (the reader too): what it read back in behind it goes again.
        let q = plan_release(p.released, p.refault_from, 120 * M, 30 * M);
        assert_eq!(
            q.ranges,
            [Some((10 * M, 30 * M)), Some((100 * M - k, 120 * M - k))]
        );
        assert_eq!((q.released, q.refault_from), (120 * M - k, Some(30 * M)));
        // It catches up past everything released: nothing left to watch.
        let r = plan_release(q.released, q.refault_from, 121 * M, 121 * M);
        assert_eq!(
            r.ranges,
            [Some((30 * M, 120 * M - k)), Some((120 * M - k, 121 * M))]
        );
        assert_eq!((r.released, r.refault_from), (121 * M, None));
        // A worker past the cap before anything could be released: nothing of its range was
        // released, so nothing is to be released again later, and ranges never run backwards.
        let p = plan_release(0, None, 18 * M, M);
        assert_eq!(
            (p.ranges, p.released, p.refault_from),
            ([None, None], 0, None)
        );
        let q = plan_release(p.released, p.refault_from, 30 * M, 6 * M);
        assert_eq!(q.ranges, [None, Some((0, 30 * M - k))]);
        assert_eq!((q.released, q.refault_from), (30 * M - k, Some(6 * M)));
        // Whatever the history, a planned range is never reversed.
        let mut state = (0, None);
        for (offset, wanted) in [(18, 1), (30, 6), (31, 30), (60, 10), (61, 61), (90, 2)] {
            let p = plan_release(state.0, state.1, offset * M, wanted * M);
            for (from, to) in p.ranges.into_iter().flatten() {
                assert!(
                    from < to && to <= offset * M,
                    "{from}..{to} at {offset} MiB"
                );
            }
            assert!(p.refault_from.is_none_or(|f| f < p.released));
            state = (p.released, p.refault_from);
        }
    }

    #[test]
    fn timestamp_formats_like_wireshark() {
        assert_eq!(
            Timestamp(1_413_337_821_624_858_000).to_string(),
            "1413337821.624858000"
        );
        assert_eq!(
            ts_from_parts(1, 500_000, 1_000_000),
            Timestamp(1_500_000_000)
        );
        assert_eq!(ts_from_parts(1, 5, 10), Timestamp(1_500_000_000));
        // The constant-divisor paths (pcap fractions, pcapng ticks) give what the general
        // formula gives.
        let general = |raw: u64, units: u64, offset: i64| {
            let secs = i64::try_from(raw / units)
                .unwrap_or(i64::MAX / 2_000_000_000)
                .saturating_add(offset);
            let nanos = (u128::from(raw % units) * 1_000_000_000 / u128::from(units)) as i64;
            Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
        };
        for units in [1_000_000u64, 1_000_000_000] {
            for frac in [0u64, 1, 999_999, 1_000_000, u64::from(u32::MAX)] {
                let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as i64;
                assert_eq!(
                    ts_from_parts(7, frac, units),
                    Timestamp(7_000_000_000 + nanos),
                    "{frac} {units}"
                );
            }
        }
        for units in [1_000_000, 1_000_000_000, 1_000, 1 << 20, 7] {
            for raw in [0, 1, 999_999, 1_000_000, 1_704_067_200_123_456, u64::MAX] {
                for offset in [0, -5, i64::MAX] {
                    assert_eq!(
                        ticks_to_time(raw, units, offset),
                        general(raw, units, offset),
                        "{raw} {units} {offset}"
                    );
                }
            }
        }
        // 2^-20 units
        assert_eq!(ts_from_parts(0, 1 << 19, 1 << 20), Timestamp(500_000_000));
    }
}
