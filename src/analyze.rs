//! Wires the stages together for one capture file: capture → link → flow (+ TLS) → timeline →
//! rules → connection reports, streamed: each connection is reported as soon as it is
//! finalised, and its state is dropped.

use std::collections::BTreeMap;
use std::path::Path;

use crate::capture::link::{self, Decoded};
use crate::capture::{self, CaptureError, linktype_name};
use crate::flow::FlowTable;
use crate::report::{ConnReport, FileReport};
use crate::rules::{self, Context};
use crate::timeline::Timeline;

#[derive(Debug, Default)]
struct DecodeStats {
    unsupported: BTreeMap<i32, u64>,
    malformed: u64,
    fragments: u64,
    snaplen_cut: u64,
}

/// Analyses one capture. Each finished connection goes to `on_conn` (in the order connections
/// finish; at the end of the capture in `tcp.stream` order). Returns the file's report without
/// its connections.
pub fn analyze_file(
    path: &Path,
    on_conn: &mut dyn FnMut(ConnReport),
) -> Result<FileReport, CaptureError> {
    analyze_timelines(path, &mut |_, c| on_conn(c))
}

/// Like [`analyze_file`], but also hands out each connection's [`Timeline`] (for tests and
/// tools that need the events themselves).
pub fn analyze_timelines(
    path: &Path,
    on_conn: &mut dyn FnMut(&Timeline, ConnReport),
) -> Result<FileReport, CaptureError> {
    let mut flows = FlowTable::default();
    let mut ctx = Context::default();
    let mut stats = DecodeStats::default();
    let mut batch: Vec<Timeline> = Vec::new();

    let mut process = |batch: &mut Vec<Timeline>, ctx: &mut Context| {
        // Summaries first, so that connections finishing together see each other.
        for t in batch.iter() {
            ctx.observe(t);
        }
        let mut checked: Vec<(Timeline, Vec<rules::Finding>)> = batch
            .drain(..)
            .map(|t| {
                let f = rules::run(&t, ctx);
                (t, f)
            })
            .collect();
        for (t, f) in &checked {
            ctx.record(t, f);
        }
        for (t, f) in &mut checked {
            rules::correlate(t, ctx, f);
        }
        for (t, findings) in checked {
            let report = ConnReport::new(&t, findings);
            on_conn(&t, report);
        }
    };

    let summary = capture::read_capture(path, |frame| {
        if frame.data.len() < frame.orig_len as usize {
            stats.snaplen_cut += 1;
        }
        match link::decode(frame.linktype, frame.data) {
            Decoded::Tcp(seg) => {
                flows.packet(&seg, frame, &mut |t| batch.push(t));
                if !batch.is_empty() {
                    process(&mut batch, &mut ctx);
                }
            }
            Decoded::IcmpQuotedTcp { src, dst } => flows.quoted(src, dst),
            Decoded::Other => {}
            Decoded::Fragment => stats.fragments += 1,
            Decoded::UnsupportedLink => *stats.unsupported.entry(frame.linktype).or_default() += 1,
            Decoded::Malformed => stats.malformed += 1,
        }
    })?;
    flows.finish(&mut |t| batch.push(t));
    process(&mut batch, &mut ctx);

    let mut warnings: Vec<String> = summary
        .warnings
        .iter()
        .map(|w| format!("at byte offset {}: {}", w.offset, w.message))
        .collect();
    for (lt, n) in &stats.unsupported {
        warnings.push(format!(
            "{n} packets with unsupported link type {} ({lt}) skipped",
            linktype_name(*lt)
        ));
    }
    if stats.snaplen_cut > 0 {
        warnings.push(format!(
            "{} packets cut short by the capture's snaplen; their missing bytes are treated as gaps",
            stats.snaplen_cut
        ));
    }
    if stats.malformed > 0 {
        warnings.push(format!(
            "{} packets too short or malformed to decode TCP (skipped)",
            stats.malformed
        ));
    }
    if stats.fragments > 0 {
        warnings.push(format!(
            "{} IP fragments skipped (not reassembled)",
            stats.fragments
        ));
    }
    if flows.late_packets() > 0 {
        warnings.push(format!(
            "{} packets arrived on connections already closed and reported for more than {} s",
            flows.late_packets(),
            crate::flow::LINGER_SECS
        ));
    }
    Ok(FileReport {
        path: path.display().to_string(),
        format: summary.format.map(|f| f.name()),
        compressed: summary.compressed,
        link_types: summary.link_types,
        packets: summary.packets,
        tcp_streams: flows.streams(),
        warnings,
        error: None,
        connections: Vec::new(),
    })
}

/// Analyses a file and collects its connections, sorted by `tcp.stream`.
pub fn analyze_collect(path: &Path) -> FileReport {
    let mut conns = Vec::new();
    match analyze_file(path, &mut |c| conns.push(c)) {
        Ok(mut r) => {
            conns.sort_by_key(|c| c.stream);
            r.connections = conns;
            r
        }
        Err(e) => FileReport {
            path: path.display().to_string(),
            error: Some(e.to_string()),
            ..FileReport::default()
        },
    }
}
