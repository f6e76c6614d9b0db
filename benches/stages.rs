//! Stage benchmarks (criterion): capture reading, link decode and the whole `analyze_file`.
//!
//!     cargo bench --bench stages                 # everything
//!     cargo bench --bench stages -- analyze/     # one group
//!
//! Inputs:
//! - `fixtures/*.pcap`: the real-capture fixtures, all of them in one iteration (small files: this
//!   measures per-file overhead as much as throughput).
//! - a slice of the benchmark capture (default 24 MiB, `TLSDIAG_BENCH_SLICE_MB`), generated once
//!   with `../shared/bench/make-bench-pcap.sh --from-seed` into `$TMPDIR/tlsdiag-bench-stages/`
//!   and reused afterwards (the generator is deterministic). `TLSDIAG_BENCH_SLICE=FILE` uses a
//!   capture of your own instead. Without `../shared/bench` the slice benchmarks are skipped with
//!   a notice.
//!
//! Throughput is in decimal MB/s of file bytes (capture reading, analysis) or of frame bytes
//! (link decode), the unit `scripts/bench.sh` and `docs/performance.md` use. The whole binary
//! on the 128 MiB – 1 GiB captures is measured by `scripts/bench.sh`, not here.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tlsdiag::capture::{self, link};

const DEFAULT_SLICE_MB: u32 = 24;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `fixtures/*.pcap`, sorted by name.
fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("fixtures"))
        .expect("fixtures/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    files.sort();
    files
}

fn total_len(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// The benchmark slice: `TLSDIAG_BENCH_SLICE`, or a capture generated from the bench seed (once).
fn slice() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TLSDIAG_BENCH_SLICE") {
        return Some(PathBuf::from(p));
    }
    let script = manifest_dir().join("../shared/bench/make-bench-pcap.sh");
    if !script.exists() {
        eprintln!(
            "notice: {} not found; skipping the benchmark-slice inputs",
            script.display()
        );
        return None;
    }
    let mb: u32 = std::env::var("TLSDIAG_BENCH_SLICE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SLICE_MB);
    let dir = std::env::temp_dir().join("tlsdiag-bench-stages");
    let name = format!("slice-{mb}M");
    let pcap = dir.join(format!("{name}.pcap"));
    // The summary is written after the capture: its presence means the capture is complete.
    let done = dir.join(format!("{name}.pcap.summary.json"));
    if pcap.exists() && done.exists() {
        return Some(pcap);
    }
    eprintln!(
        "generating {} ({mb} MiB) from the bench seed",
        pcap.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .args(["--from-seed", "--no-pcapng", "--out-dir"])
        .arg(&dir)
        .args(["--name", &name, &mb.to_string()])
        .stdout(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() && pcap.exists() && done.exists() => Some(pcap),
        other => {
            eprintln!("notice: generating the slice failed ({other:?}); skipping it");
            None
        }
    }
}

/// Every frame of a capture, copied into one buffer: (link type, byte range).
struct Frames {
    buf: Vec<u8>,
    frames: Vec<(i32, usize, usize)>,
}

fn load_frames(files: &[PathBuf]) -> Frames {
    let mut out = Frames {
        buf: Vec::new(),
        frames: Vec::new(),
    };
    for path in files {
        capture::read_capture(path, |f| {
            let start = out.buf.len();
            out.buf.extend_from_slice(f.data);
            out.frames.push((f.linktype, start, out.buf.len()));
        })
        .expect("capture is readable");
    }
    out
}

/// Decodes every frame; returns how many were TCP (so nothing is optimised away).
fn decode_all(frames: &Frames) -> usize {
    let mut tcp = 0;
    for &(linktype, start, end) in &frames.frames {
        if let link::Decoded::Tcp(seg) = link::decode(linktype, &frames.buf[start..end]) {
            tcp += 1;
            black_box(seg.body.payload.len());
        }
    }
    tcp
}

fn read_all(files: &[PathBuf]) -> u64 {
    let mut bytes = 0u64;
    for path in files {
        let summary = capture::read_capture(path, |f| {
            black_box(f.data.len());
        })
        .expect("capture is readable");
        bytes += summary.bytes;
    }
    bytes
}

fn analyze_all(files: &[PathBuf]) -> usize {
    let mut findings = 0;
    for path in files {
        tlsdiag::analyze::analyze_file(path, &mut |c| findings += c.findings.len())
            .expect("capture is readable");
    }
    findings
}

/// The inputs, each with a name and whether it is large (fewer samples).
fn inputs() -> Vec<(&'static str, Vec<PathBuf>, bool)> {
    let fixtures = fixtures();
    assert!(!fixtures.is_empty(), "no fixtures/*.pcap");
    let mut v = vec![("fixtures", fixtures, false)];
    if let Some(s) = slice() {
        v.push(("bench_slice", vec![s], true));
    }
    v
}

/// One benchmark group over every input: `setup` turns the input's files into what `run`
/// takes, plus the byte count the throughput is reported in.
fn bench_group<S, R>(
    c: &mut Criterion,
    name: &str,
    inputs: &[(&'static str, Vec<PathBuf>, bool)],
    setup: impl Fn(&[PathBuf]) -> (u64, S),
    run: impl Fn(&S) -> R,
) {
    let mut group = c.benchmark_group(name);
    for (input, files, big) in inputs {
        if *big {
            group
                .sample_size(10)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(8));
        }
        let (bytes, state) = setup(files);
        group.throughput(Throughput::BytesDecimal(bytes));
        group.bench_function(*input, |b| b.iter(|| run(&state)));
    }
    group.finish();
}

fn stages(c: &mut Criterion) {
    let inputs = inputs();
    let files = |f: &[PathBuf]| (total_len(f), f.to_vec());
    bench_group(c, "capture_read", &inputs, files, |f| read_all(f));
    bench_group(
        c,
        "link_decode",
        &inputs,
        |f| {
            let frames = load_frames(f);
            (frames.buf.len() as u64, frames)
        },
        decode_all,
    );
    bench_group(c, "analyze", &inputs, files, |f| analyze_all(f));
}

criterion_group!(benches, stages);
criterion_main!(benches);
