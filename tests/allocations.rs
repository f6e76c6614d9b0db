//! The hot path allocates per connection, never per packet (issue 6): a real capture of one
//! long download, cut at two packet boundaries in the middle of the transfer, costs the
//! analyser the same number of heap allocations at either cut, although the longer cut has
//! hundreds more packets and application-data records: framed and counted without the key
//! log, decrypted (into one reused buffer) with it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::Path;

/// Counts the allocations made on the current thread (a one-thread analysis runs on the
/// calling thread), growing reallocations included. (A thread-local in an allocator needs
/// native TLS, which every target this project builds for has.)
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only a
// const-initialised thread-local Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            count();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CAPTURE: &str = "fixtures/catalogue/bulk-download.pcap";
const KEYLOG: &str = "fixtures/catalogue/keylogs/bulk-download.keylog";

/// Where each record of a classic little-endian pcap ends (a cut record ends the list).
fn record_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 24;
    while let Some(h) = bytes.get(at + 8..at + 12) {
        let caplen = u32::from_le_bytes(<[u8; 4]>::try_from(h).expect("4 bytes"));
        let end = at + 16 + caplen as usize;
        if end > bytes.len() {
            break;
        }
        ends.push(end);
        at = end;
    }
    ends
}

/// The capture's first `n` records, as a classic pcap file.
fn cut(bytes: &[u8], ends: &[usize], n: usize) -> tempfile::NamedTempFile {
    let end = *ends.get(n - 1).expect("n records");
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(bytes.get(..end).expect("whole records"))
        .expect("write");
    f
}

struct Run {
    allocations: u64,
    packets: u64,
    app_bytes: u64,
}

fn analyse(path: &Path, keylog: Option<&str>) -> Run {
    let mut packets = 0;
    let mut app_bytes = 0;
    // One thread: the counter sees only this one.
    let opts = tlsdiag::analyze::Options {
        jobs: 1,
        keylog: keylog.map(Into::into),
    };
    let before = ALLOCATIONS.with(Cell::get);
    tlsdiag::analyze::analyze_with(path, &opts, &mut |_, c| {
        packets += c.c2s.packets + c.s2c.packets;
        app_bytes += c.c2s.app_bytes + c.s2c.app_bytes;
    })
    .expect("analysed");
    Run {
        allocations: ALLOCATIONS.with(Cell::get) - before,
        packets,
        app_bytes,
    }
}

#[test]
fn allocations_do_not_grow_with_packets() {
    let bytes = std::fs::read(CAPTURE).expect("fixture");
    // Little-endian classic pcap, microseconds: what the fixture scripts write.
    assert_eq!(bytes.get(..4), Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]));
    let ends = record_ends(&bytes);
    let n = ends.len();
    let (a, b) = (
        cut(&bytes, &ends, n * 2 / 5),
        cut(&bytes, &ends, n * 9 / 10),
    );
    for keylog in [None, Some(KEYLOG)] {
        // Once on the whole file first: lazily built tables are built now, not in a measured
        // run.
        let whole = analyse(Path::new(CAPTURE), keylog);
        assert_eq!(whole.packets, n as u64);
        let (short, long) = (analyse(a.path(), keylog), analyse(b.path(), keylog));
        let more_packets = long.packets - short.packets;
        // The body: 400 KiB in records of 4 KiB.
        let more_records = (long.app_bytes - short.app_bytes) / 4096;
        let more_allocations = long.allocations.saturating_sub(short.allocations);
        eprintln!(
            "key log {keylog:?}: {n} packets; cut at {} packets: {} allocations, {} bytes of \
             application data; at {}: {} allocations, {} bytes",
            short.packets,
            short.allocations,
            short.app_bytes,
            long.packets,
            long.allocations,
            long.app_bytes
        );
        assert!(
            more_packets >= 200,
            "the cuts are {more_packets} packets apart"
        );
        assert!(
            more_records >= 40,
            "the cuts are {more_records} records apart"
        );
        // A growing event list or buffer costs a few; anything per packet or per record would
        // be hundreds.
        assert!(
            more_allocations <= 4,
            "key log {keylog:?}: {more_allocations} more allocations for {more_packets} more \
             packets"
        );
    }
}
