//! The parsing floor: iterate the records of a capture with pcap-parser and do nothing else.
//! `tlsdiag analyze` throughput is reported as a ratio to this (see docs/performance.md).
//!
//!     cargo run --release --example parse_floor -- FILE
//!     cargo run --release --example parse_floor -- --tlsdiag-reader FILE
//!
//! By default this is the bare pcap-parser loop (its streaming reader over the file: next,
//! consume, refill), which owes nothing to tlsdiag's code. `--tlsdiag-reader` walks the
//! records with `tlsdiag::capture::read_capture` instead (memory-mapped for regular files) and
//! an empty callback: the reading share of `tlsdiag analyze`.

use std::fs::File;
use std::time::Instant;

use pcap_parser::{PcapBlockOwned, PcapError};

fn bare_loop(path: &str) -> anyhow::Result<u64> {
    let file = File::open(path)?;
    let mut reader = pcap_parser::create_reader(1 << 20, file)
        .map_err(|e| anyhow::anyhow!("{path}: not a capture: {e:?}"))?;
    let mut packets = 0u64;
    loop {
        match reader.next() {
            Ok((len, block)) => {
                let data: &[u8] = match &block {
                    PcapBlockOwned::Legacy(b) => b.data,
                    PcapBlockOwned::NG(pcap_parser::pcapng::Block::EnhancedPacket(b)) => b.data,
                    PcapBlockOwned::NG(pcap_parser::pcapng::Block::SimplePacket(b)) => b.data,
                    _ => &[],
                };
                if !data.is_empty() {
                    packets += 1;
                }
                std::hint::black_box(data.len());
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader
                .refill()
                .map_err(|e| anyhow::anyhow!("{path}: {e:?}"))?,
            Err(e) => anyhow::bail!("{path}: damaged record: {e:?}"),
        }
    }
    Ok(packets)
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let ours = args.first().is_some_and(|a| a == "--tlsdiag-reader");
    if ours {
        args.remove(0);
    }
    let [path] = args.as_slice() else {
        anyhow::bail!("usage: parse_floor [--tlsdiag-reader] FILE");
    };
    let start = Instant::now();
    let packets = if ours {
        tlsdiag::capture::read_capture(std::path::Path::new(path), |f| {
            std::hint::black_box(f.data.len());
        })?
        .packets
    } else {
        bare_loop(path)?
    };
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path)?.len() as f64;
    println!(
        "{} ({}): {} packets, {:.0} MB in {:.3} s: {:.0} MB/s, {:.0} packets/s",
        path,
        if ours {
            "tlsdiag reader"
        } else {
            "pcap-parser loop"
        },
        packets,
        bytes / 1e6,
        secs,
        bytes / 1e6 / secs,
        packets as f64 / secs
    );
    Ok(())
}
