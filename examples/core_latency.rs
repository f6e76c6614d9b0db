//! What a cache line costs when it moves from one CPU to another, next to what a load from
//! memory costs: the two figures that bound `tlsdiag analyze --jobs` (see docs/performance.md,
//! "How to read the numbers").
//!
//!     cargo run --release --example core_latency
//!     target/release/examples/core_latency --probe
//!
//! With `--jobs`, the reader decodes each packet and a worker tracks it: every packet's
//! descriptor, and the lines of payload the worker reads (TLS record headers, handshake bytes),
//! were last in the reader's cache. Where the two CPUs share a cache, such a line moves in a few
//! tens of nanoseconds; on a VM whose vCPUs sit on different core complexes it costs as much as a
//! load from memory, and that cost is what `--jobs 2` spends beyond `--jobs 1`.
//!
//! Prints two lines:
//!   core-to-core: one way N ns (median of 7 runs of 200,000 round trips between two threads)
//!   memory load: N ns (a random walk over 256 MiB, each load depending on the one before)
//! `--probe` prints only the one-way figure, as a number, from one run of 50,000 round trips
//! (~5-20 ms): scripts/bench.sh takes it just before and just after each `--jobs` run it times,
//! because on this VM it moves between ~35 ns and ~170 ns within seconds as the host moves the
//! vCPUs. With fewer than two CPUs the two threads could only take turns: the full run says so,
//! and `--probe` prints `nan`. The memory figure includes the page walks of 4 KiB pages, as the
//! capture's pages have.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One cache line, so that nothing else shares it.
#[repr(align(64))]
struct Line(AtomicU64);

const ROUND_TRIPS: u64 = 200_000;
const PROBE_ROUND_TRIPS: u64 = 50_000;
const RUNS: usize = 7;

/// Nanoseconds per round trip (`trips` of them, timed after a first one that makes sure the
/// other thread is running): this thread writes an odd number, the other answers with the next
/// even one.
fn ping_pong(trips: u64) -> f64 {
    let line = Line(AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..=trips {
                while line.0.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                line.0.store(2 * i + 2, Ordering::Release);
            }
        });
        line.0.store(1, Ordering::Release);
        while line.0.load(Ordering::Acquire) != 2 {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        for i in 1..=trips {
            line.0.store(2 * i + 1, Ordering::Release);
            while line.0.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        start.elapsed().as_secs_f64() * 1e9 / trips as f64
    })
}

/// Nanoseconds per load of a pointer chase through `bytes` of memory in a random cycle (one
/// load per 64-byte line, each address known only when the load before it is done).
fn memory_load(bytes: usize) -> f64 {
    let lines = bytes / 64;
    // A random cyclic permutation (Sattolo's algorithm, xorshift64 for the randomness).
    let mut next: Vec<u32> = (0..lines as u32).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..lines).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        next.swap(i, j);
    }
    // Line `i` holds the index of the line after it, in its first word.
    let mut mem = vec![0u64; lines * 8];
    for (i, n) in next.iter().enumerate() {
        if let Some(w) = mem.get_mut(i * 8) {
            *w = u64::from(*n);
        }
    }
    let steps = 2_000_000;
    let mut at = 0usize;
    let start = Instant::now();
    for _ in 0..steps {
        at = mem.get(at * 8).map_or(0, |&w| w as usize);
    }
    let ns = start.elapsed().as_secs_f64() * 1e9 / steps as f64;
    std::hint::black_box(at);
    ns
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    use std::io::Write;
    let probe = std::env::args().nth(1).is_some_and(|a| a == "--probe");
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the output, nothing more.
    if cpus < 2 {
        let _ = if probe {
            writeln!(out, "nan")
        } else {
            writeln!(
                out,
                "core-to-core: needs two CPUs (this process may use {cpus})"
            )
        };
        return;
    }
    if probe {
        let _ = writeln!(out, "{:.0}", ping_pong(PROBE_ROUND_TRIPS) / 2.0);
        return;
    }
    // The first run wakes both CPUs up; it is not counted.
    ping_pong(ROUND_TRIPS);
    let one_way = median((0..RUNS).map(|_| ping_pong(ROUND_TRIPS) / 2.0).collect());
    let _ = writeln!(out, "core-to-core: one way {one_way:.0} ns");
    let _ = writeln!(out, "memory load: {:.0} ns", memory_load(256 << 20));
}
