//! The hot path allocates per connection, never per packet (issue 6): a real capture of one
//! long download, cut at two packet boundaries in the middle of the transfer, costs the
//! analyser about the same number of heap allocations at either cut, although the longer cut
//! has hundreds more packets and application-data records.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::Path;

/// Counts the allocations made on the current thread (a one-thread analysis runs on the
/// calling thread), growing reallocations included.
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

/// The capture's first `n` records, as a classic pcap file.
fn cut(bytes: &[u8], n: usize) -> tempfile::NamedTempFile {
    let mut end = 24;
    for _ in 0..n {
        let caplen = bytes
            .get(end + 8..end + 12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .expect("a record header");
        end += 16 + caplen as usize;
    }
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(&bytes[..end]).expect("write");
    f
}

fn records(bytes: &[u8]) -> usize {
    let mut at = 24;
    let mut n = 0;
    while let Some(h) = bytes.get(at + 8..at + 12) {
        let caplen = u32::from_le_bytes(<[u8; 4]>::try_from(h).expect("4 bytes"));
        at += 16 + caplen as usize;
        n += 1;
    }
    n
}

struct Run {
    allocations: u64,
    packets: u64,
    app_records: u64,
}

fn analyse(path: &Path) -> Run {
    let mut packets = 0;
    let mut app_records = 0;
    let before = ALLOCATIONS.with(Cell::get);
    tlsdiag::analyze::analyze_file(path, &mut |c| {
        packets += c.c2s.packets + c.s2c.packets;
        app_records += c.c2s.app_records + c.s2c.app_records;
    })
    .expect("analysed");
    Run {
        allocations: ALLOCATIONS.with(Cell::get) - before,
        packets,
        app_records,
    }
}

#[test]
fn allocations_do_not_grow_with_packets() {
    let bytes = std::fs::read(CAPTURE).expect("fixture");
    // Little-endian classic pcap, microseconds: what the fixture scripts write.
    assert_eq!(bytes.get(..4), Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]));
    let n = records(&bytes);
    // Once on the whole file first: lazily built tables are built now, not in a measured run.
    let whole = analyse(Path::new(CAPTURE));
    assert_eq!(whole.packets, n as u64);
    let (a, b) = (cut(&bytes, n * 2 / 5), cut(&bytes, n * 9 / 10));
    let (short, long) = (analyse(a.path()), analyse(b.path()));
    let more_packets = long.packets - short.packets;
    let more_records = long.app_records - short.app_records;
    let more_allocations = long.allocations.saturating_sub(short.allocations);
    eprintln!(
        "{n} packets; cut at {} packets: {} allocations, {} app records; at {}: {} allocations, {} app records",
        short.packets,
        short.allocations,
        short.app_records,
        long.packets,
        long.allocations,
        long.app_records
    );
    assert!(
        more_packets >= 100,
        "the cuts are {more_packets} packets apart"
    );
    assert!(
        more_records >= 30,
        "the cuts are {more_records} records apart"
    );
    // Growing the connection's event list and buffers is logarithmic; anything per packet or
    // per record would be hundreds.
    assert!(
        more_allocations <= 16,
        "{more_allocations} more allocations for {more_packets} more packets"
    );
}
