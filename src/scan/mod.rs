//! `tlsdiag scan`: many captures, one report.
//!
//! [`walk::list`] turns the operands into a sorted, de-duplicated list; `--shard K/N` keeps one
//! deterministic slice of it ([`shard`]); the files are then analysed in parallel on a rayon
//! pool of `--jobs` threads and handed to the caller **in list order**, whatever the
//! scheduling, so two runs print the same bytes. Workers take files in list order (one shared
//! counter), so results can be streamed as they come (JSONL) with a small reorder buffer.
//!
//! A file that cannot be read, or whose analysis fails in any way (a panic included), becomes
//! that file's `error`; the scan goes on.

pub mod shard;
pub mod sniff;
pub mod walk;

use std::collections::BTreeMap;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use crate::analyze::{Options, analyze_with};
use crate::filter::Filter;
use crate::report::FileReport;
use crate::report::document::{Spool, write_file_object};
use crate::report::summary::{FileDigest, Skip, clean, file_value};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shard::Shard;
use sniff::{Sniffed, named_like_capture, sniff};
use walk::{Item, Kind, WalkOptions};

/// Everything `scan` needs besides the operands.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    pub walk: WalkOptions,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    pub shard: Option<Shard>,
    pub filter: Filter,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// One result, delivered in list order.
#[derive(Debug)]
pub enum Done {
    /// A file that was analysed, or could not be.
    File {
        digest: FileDigest,
    },
    Skipped(Skip),
    /// The run cannot go on: the JSON report's temporary file could not be written (a full
    /// disk). Not a fault of the file being read, so not reported as its error.
    Fatal(String),
}

/// Lists the operands and keeps the shard's slice.
pub fn plan(operands: &[std::path::PathBuf], opts: &ScanOptions) -> Vec<Item> {
    let mut items = walk::list(operands, opts.walk);
    if let Some(s) = opts.shard {
        items.retain(|it| s.contains(&it.key));
    }
    items
}

/// Analyses the planned items and calls `on_done` for each, in order. Stops early only when
/// `on_done` fails (e.g. the output pipe closed). With `files_json` (for `--format json`), each
/// file's JSON object (the `analyze` schema plus `size`) is written there as soon as the file
/// is done, keyed by its place in `items`: no file's connections are kept in memory.
pub fn run<E>(
    items: &[Item],
    opts: &ScanOptions,
    files_json: Option<&Mutex<Spool>>,
    on_done: &mut dyn FnMut(Done) -> Result<(), E>,
) -> Result<(), E> {
    let jobs = if opts.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.jobs
    }
    .min(items.len().max(1))
    .min(crate::analyze::MAX_JOBS);
    let bar = progress_bar(items, opts.progress);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("tlsdiag-scan-{i}"))
        .build();
    let next = AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let done_count = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Done)>();
    let worker = |tx: mpsc::Sender<(usize, Done)>| {
        // This thread's connections of the file it is on, for `files_json`.
        let mut conns = Spool::default();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if !bar.is_hidden() {
                let name = item.path.file_name().map_or_else(
                    || item.display.clone(),
                    |n| n.to_string_lossy().into_owned(),
                );
                bar.set_message(tail(&clean(&name), 40));
            }
            let done = process(i, item, opts, files_json, &mut conns);
            if matches!(done, Done::Fatal(_)) {
                // No further file is worth reading (the receiver ends the run on it at once).
                stop.store(true, Ordering::Relaxed);
            }
            let n = done_count.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_prefix(format!("{n}/{} files", items.len()));
            bar.inc(item.size.unwrap_or(0));
            if tx.send((i, done)).is_err() {
                break;
            }
        }
    };
    let result = std::thread::scope(|scope| {
        let worker = &worker;
        match &pool {
            Ok(pool) => {
                let tx = tx.clone();
                scope.spawn(move || {
                    pool.scope(|s| {
                        for _ in 0..jobs {
                            let tx = tx.clone();
                            s.spawn(move |_| worker(tx));
                        }
                    });
                });
            }
            // No pool (threads unavailable): one plain thread.
            Err(_) => {
                let tx = tx.clone();
                scope.spawn(move || worker(tx));
            }
        }
        drop(tx);
        // Reorder: hold results that finished early until their turn.
        let mut pending: BTreeMap<usize, Done> = BTreeMap::new();
        let mut want = 0usize;
        for (i, done) in rx.iter() {
            if let Done::Fatal(_) = done {
                // Whatever its turn: the run ends here (a file before it may never come).
                stop.store(true, Ordering::Relaxed);
                return on_done(done);
            }
            pending.insert(i, done);
            while let Some(d) = pending.remove(&want) {
                want += 1;
                if let Err(e) = on_done(d) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(())
    });
    bar.finish_and_clear();
    result
}

fn progress_bar(items: &[Item], enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let total: u64 = items.iter().filter_map(|i| i.size).sum();
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    // Files done/total, bytes done/total and throughput, then the name of a file being read;
    // it fits 80 columns.
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {prefix} {percent:>3}% {bytes}/{total_bytes} {binary_bytes_per_sec} {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(format!("0/{} files", items.len()));
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The last `max` characters of `s`, after `…` when cut.
fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let rest: String = s.chars().skip(n - max + 1).collect();
    format!("…{rest}")
}

/// Analyses one item (never panics: a panic in the analysis becomes the file's error), the
/// `index`th of the list. The file's connections are digested (and, with `files_json`,
/// rendered into `conns`) as they are finalised, never all kept.
fn process(
    index: usize,
    item: &Item,
    opts: &ScanOptions,
    files_json: Option<&Mutex<Spool>>,
    conns: &mut Spool,
) -> Done {
    let json = files_json.is_some();
    let (report, streamed) = match &item.kind {
        Kind::Skipped(reason) => return skip(item, reason.clone()),
        Kind::Error(e) => (
            FileReport {
                path: item.display.clone(),
                error: Some(e.clone()),
                ..FileReport::default()
            },
            Ok(FileDigest::default()),
        ),
        Kind::Found => match sniff(&item.path) {
            Sniffed::NotCapture(reason) if !named_like_capture(&item.path) => {
                return skip(item, reason);
            }
            _ => analyse(item, opts, json, conns),
        },
        Kind::Operand => analyse(item, opts, json, conns),
    };
    let failed = |error: String, conns: &mut Spool| {
        let _ = conns.discard();
        file_error(index, item, error, files_json)
    };
    let streamed = match streamed {
        Ok(d) => d,
        Err(Failure::File(e)) => return failed(format!("{}: {e}", item.display), conns),
        Err(Failure::Run(e)) => return fatal(&item.display, e, conns),
    };
    // The file object without its connections: its counters, and what the digest reads.
    let head = match file_value(&report, item.size) {
        Ok(v) => v,
        Err(e) => {
            return failed(
                format!("{}: cannot render the report: {e}", item.display),
                conns,
            );
        }
    };
    let mut digest = match FileDigest::from_json(&head) {
        Ok(d) => d,
        Err(e) => return failed(format!("{}: {e}", item.display), conns),
    };
    digest.connections = streamed.connections;
    digest.findings = streamed.findings;
    digest.sort_findings();
    if let Some(files) = files_json {
        let mut files = files.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = files.push_with(index as u64, |w| write_file_object(w, &head, conns)) {
            drop(files);
            return fatal(&item.display, e, conns);
        }
    }
    Done::File { digest }
}

/// Why a file's digest could not be made.
enum Failure {
    /// Its report could not be read back (the file's error).
    File(String),
    /// Its connections could not be spooled (the run's error).
    Run(io::Error),
}

/// The scan stops: `display`'s connections could not be spooled.
fn fatal(display: &str, e: io::Error, conns: &mut Spool) -> Done {
    let _ = conns.discard();
    Done::Fatal(format!(
        "cannot write the JSON report's temporary file (in {}) while reading {display}: {e}",
        std::env::temp_dir().display()
    ))
}

/// Analyses a file, streaming: its report's counters (no connections), and its connections'
/// count and findings (a digest without the file's facts); with `json`, each connection also
/// rendered into `conns`. A panic becomes the report's error, with nothing streamed.
fn analyse(
    item: &Item,
    opts: &ScanOptions,
    json: bool,
    conns: &mut Spool,
) -> (FileReport, Result<FileDigest, Failure>) {
    let mut digest = FileDigest {
        path: item.display.clone(),
        ..FileDigest::default()
    };
    let mut failure: Option<Failure> = None;
    let run = catch_unwind(AssertUnwindSafe(|| {
        analyze_with(&item.path, &Options::default(), &mut |_, c| {
            let Some(c) = opts.filter.conn(c) else { return };
            if failure.is_some() {
                return;
            }
            if let Err(e) = digest.add_conn(&c) {
                failure = Some(Failure::File(e));
            } else if json && let Err(e) = conns.push(&c) {
                failure = Some(Failure::Run(e));
            }
        })
    }));
    match run {
        Ok(Ok(mut r)) => {
            r.path.clone_from(&item.display);
            (r, failure.map_or(Ok(digest), Err))
        }
        Ok(Err(e)) => {
            // As `analyze`: a file that cannot be read lists no connections.
            let _ = conns.discard();
            (
                FileReport {
                    path: item.display.clone(),
                    error: Some(e.to_string()),
                    ..FileReport::default()
                },
                Ok(FileDigest::default()),
            )
        }
        Err(panic) => {
            let _ = conns.discard();
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            (
                FileReport {
                    path: item.display.clone(),
                    error: Some(format!(
                        "{}: internal error while analysing this file ({msg}); please report it with the capture",
                        item.display
                    )),
                    ..FileReport::default()
                },
                Ok(FileDigest::default()),
            )
        }
    }
}

fn skip(item: &Item, reason: String) -> Done {
    Done::Skipped(Skip {
        path: item.display.clone(),
        reason,
    })
}

fn file_error(index: usize, item: &Item, error: String, files_json: Option<&Mutex<Spool>>) -> Done {
    let digest = FileDigest {
        path: item.display.clone(),
        size: item.size,
        error: Some(error.clone()),
        ..FileDigest::default()
    };
    if let Some(files) = files_json {
        let v = serde_json::json!({
            "path": item.display,
            "size": item.size,
            "format": null,
            "compressed": false,
            "link_types": [],
            "packets": 0,
            "tcp_streams": 0,
            "warnings": [],
            "error": error,
            "connections": [],
        });
        let mut files = files.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = files.push_with(index as u64, |w| {
            write_file_object(w, &v, &mut Spool::with_limit(usize::MAX))
        }) {
            drop(files);
            return fatal(&item.display, e, &mut Spool::with_limit(usize::MAX));
        }
    }
    Done::File { digest }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary file that cannot be written (a full disk) ends the scan with its own error:
    /// the capture being read is not given it as its error. Whether the file's connections or
    /// the document's file objects cannot be spooled.
    #[test]
    fn a_spool_that_cannot_be_written_ends_the_scan() {
        let capture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/missing-sni-handshake-failure.pcap");
        let opts = ScanOptions::default();
        let items = plan(&[capture], &opts);
        let Some(item) = items.first() else {
            panic!("nothing planned");
        };
        let (Some(files), Some(conns)) = (Spool::full(0), Spool::full(0)) else {
            eprintln!("no /dev/full here: skipped");
            return;
        };
        // As it should be.
        let good = Mutex::new(Spool::default());
        match process(0, item, &opts, Some(&good), &mut Spool::default()) {
            Done::File { digest } => assert!(digest.error.is_none() && digest.connections > 0),
            other => panic!("{other:?}"),
        }
        let cases = [
            (Mutex::new(Spool::default()), conns),
            (Mutex::new(files), Spool::default()),
        ];
        for (files, mut conns) in cases {
            match process(0, item, &opts, Some(&files), &mut conns) {
                Done::Fatal(e) => assert!(
                    e.contains("cannot write the JSON report's temporary file"),
                    "{e}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn progress_shows_the_end_of_long_paths() {
        assert_eq!(tail("a/b.pcap", 60), "a/b.pcap");
        assert_eq!(tail("/mnt/archive/2024/trace.pcap", 10), "…race.pcap");
    }
}
