//! The parsing floor: iterate the records of a capture with pcap-parser and do nothing else.
//! `tlsdiag analyze` throughput is reported as a ratio to this (see docs/performance.md).
//!
//!     cargo run --release --example parse_floor -- FILE

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: parse_floor FILE"))?;
    let start = Instant::now();
    let summary = tlsdiag::capture::read_capture(std::path::Path::new(&path), |f| {
        std::hint::black_box(f.data.len());
    })?;
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len() as f64;
    println!(
        "{} packets, {:.0} MB in {:.3} s: {:.0} MB/s, {:.0} packets/s",
        summary.packets,
        bytes / 1e6,
        secs,
        bytes / 1e6 / secs,
        summary.packets as f64 / secs
    );
    Ok(())
}
