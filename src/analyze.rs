//! Wires the stages together for one capture file: capture → link → flow (+ TLS) → timeline →
//! rules → connection reports, streamed: each connection is reported as soon as it is
//! finalised, and its state is dropped.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use crate::capture::link::{self, Decoded, TcpBody, TcpFlags, TcpSegment};
use crate::capture::{self, CaptureError, linktype_name};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};

use crate::capture::Timestamp;
use crate::flow::{Assigned, At, Connections, FlowTable, Numbering, Strays, SweepClock};
use crate::report::{ConnReport, FileReport};
use crate::rules::{self, Context, FailureNote, Finding, Observation};
use crate::timeline::Timeline;
use crate::tls::decrypt::KeyLog;

#[derive(Debug, Default)]
struct DecodeStats {
    unsupported: BTreeMap<i32, u64>,
    malformed: u64,
    fragments: u64,
    snaplen_cut: u64,
}

/// Analyses one capture. Each finished connection goes to `on_conn` (in batches as
/// connections are finalised, each batch in `tcp.stream` order). Returns the file's report
/// without its connections.
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
    analyze_with(path, &Options::default(), on_conn)
}

/// The most threads `--jobs` starts (more count as this many: a machine cannot start 65,535).
pub const MAX_JOBS: usize = 256;

/// How to analyse a file.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Threads analysing one file; 0 or 1: one thread. With more, an uncompressed pcap or
    /// pcapng file is memory-mapped and read by one thread that numbers streams in file order,
    /// and each 4-tuple is owned by one thread (both directions of a flow, port reuse included):
    /// one of `jobs - 1` workers, or the reader itself when every worker has a backlog. Which
    /// thread owns a connection never changes what is reported. Sweeps are decided by the
    /// reader on the capture's clock and the connections finalised at a sweep are merged in
    /// stream order, so the output is byte-identical to one thread. The first worker runs on
    /// the calling thread, which also merges, so `jobs` threads in all (and, for the last sweep
    /// only, a helper per worker). Other inputs (gzip, stdin) use one thread.
    pub jobs: usize,
    /// An NSS key log (`SSLKEYLOGFILE`) to decrypt TLS with. Without one, a key log beside the
    /// capture (`trace.keylog` for `trace.pcap`, or `trace.pcap.keylog`) is used if present.
    pub keylog: Option<PathBuf>,
}

/// The key log for `path`: the one given, else one beside the capture.
pub fn find_keylog(path: &Path, given: Option<&Path>) -> Result<Option<Arc<KeyLog>>, CaptureError> {
    if let Some(k) = given {
        return KeyLog::load(k)
            .map(|l| Some(Arc::new(l)))
            .map_err(|e| CaptureError {
                path: k.to_path_buf(),
                offset: 0,
                reason: format!("cannot read key log: {e}"),
            });
    }
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let stem = Path::new(base)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(base);
    for candidate in [
        path.with_file_name(format!("{stem}.keylog")),
        path.with_file_name(format!("{base}.keylog")),
    ] {
        if candidate.is_file()
            && let Ok(l) = KeyLog::load(&candidate)
        {
            return Ok((!l.is_empty()).then(|| Arc::new(l)));
        }
    }
    Ok(None)
}

/// Analyses one capture with `opts` (see [`analyze_file`] and [`Options`]).
pub fn analyze_with(
    path: &Path,
    opts: &Options,
    on_conn: &mut dyn FnMut(&Timeline, ConnReport),
) -> Result<FileReport, CaptureError> {
    analyze_rendered(path, opts, &|t, c| (t, c), &mut |(t, c)| on_conn(&t, c))
}

/// Turns a finished connection and its report into what the caller keeps (the CLI keeps the
/// filtered report, and renders it where it writes). With `--jobs` it runs on the worker
/// threads, and what it returns crosses to the merging one.
pub type Render<'r, R> = dyn Fn(Timeline, ConnReport) -> R + Sync + 'r;

/// The general form: each finished connection is checked, reported and handed to `render`
/// (on a worker thread when `opts.jobs > 1`), and `sink` receives the results in the order of
/// [`analyze_file`] (batches as connections are finalised, each batch in `tcp.stream` order),
/// the same for any number of jobs.
pub fn analyze_rendered<R: Send>(
    path: &Path,
    opts: &Options,
    render: &Render<'_, R>,
    sink: &mut dyn FnMut(R),
) -> Result<FileReport, CaptureError> {
    let keylog = find_keylog(path, opts.keylog.as_deref())?;
    let mut ctx = Context::default();
    let jobs = opts.jobs;
    let outcome = match (jobs > 1).then(|| capture::map_capture(path)).flatten() {
        Some(map) => parallel(
            path,
            &map,
            jobs,
            &mut |in_flight| choose_owner(in_flight, BUSY),
            keylog,
            render,
            &mut |batch: Vec<Item<R>>| settle(batch, &mut ctx, render, sink),
        )?,
        None => sequential(path, keylog, &mut |batch: Vec<Timeline>| {
            settle(batch, &mut ctx, render, sink)
        })?,
    };
    Ok(report_of(path, outcome))
}

/// What the reader learnt besides the packets.
#[derive(Debug, Default)]
struct ReadOutcome {
    summary: capture::CaptureSummary,
    stats: DecodeStats,
    streams: u64,
    strays: Strays,
}

/// A finished connection on its way to the sink: a pointer (a report is ~470 bytes, a timeline
/// ~280), so that the workers' batches and the merge move 16 bytes per connection, not ~560;
/// only what the sink takes leaves the box.
enum Item<R> {
    /// Checked and rendered by a worker against an empty [`Context`] that no rule read.
    Done(Box<Checked<R>>),
    /// To be checked against the real context, in stream order.
    Open(Box<Timeline>),
}

/// A connection checked against an empty context that no rule read, so its findings are those
/// the real context gives; what the context needs from the connection travels with it.
struct Checked<R> {
    stream: u64,
    observation: Observation,
    notes: Vec<FailureNote>,
    out: R,
}

const _: () = assert!(std::mem::size_of::<Item<[u8; 512]>>() == 16);

impl<R> Item<R> {
    fn stream(&self) -> u64 {
        match self {
            Item::Done(c) => c.stream,
            Item::Open(t) => t.stream,
        }
    }
}

/// A worker's attempt at a connection: final unless a rule needs other connections.
fn precheck<R>(t: Timeline, empty: &Context, render: &Render<'_, R>) -> Item<R> {
    let mut findings = rules::run(&t, empty);
    if empty.take_consulted() {
        return Item::Open(Box::new(t));
    }
    rules::correlate(&t, empty, &mut findings);
    if empty.take_consulted() {
        return Item::Open(Box::new(t));
    }
    let observation = Observation::of(&t);
    let notes = rules::failure_notes(&t, &findings);
    let stream = t.stream;
    let report = ConnReport::new(&t, findings);
    Item::Done(Box::new(Checked {
        stream,
        observation,
        notes,
        out: render(t, report),
    }))
}

/// [`precheck`] for each connection of a batch.
fn prechecked<R>(batch: Vec<Timeline>, empty: &Context, render: &Render<'_, R>) -> Vec<Item<R>> {
    batch
        .into_iter()
        .map(|t| precheck(t, empty, render))
        .collect()
}

/// What [`settle`] takes: a connection to check against the real context (with one thread,
/// every connection: a [`Timeline`], unboxed), or one a worker has checked.
trait Pending<R> {
    /// The timeline of a connection still to check.
    fn open(&self) -> Option<&Timeline>;
    /// A connection already checked.
    fn checked(&mut self) -> Option<&mut Checked<R>>;
    /// What goes to the sink, given the findings [`settle`] made (none for a checked one).
    fn finish(self, findings: Vec<Finding>, render: &Render<'_, R>) -> R;
}

impl<R> Pending<R> for Timeline {
    fn open(&self) -> Option<&Timeline> {
        Some(self)
    }

    fn checked(&mut self) -> Option<&mut Checked<R>> {
        None
    }

    fn finish(self, findings: Vec<Finding>, render: &Render<'_, R>) -> R {
        let report = ConnReport::new(&self, findings);
        render(self, report)
    }
}

impl<R> Pending<R> for Item<R> {
    fn open(&self) -> Option<&Timeline> {
        match self {
            Item::Open(t) => Some(t),
            Item::Done(_) => None,
        }
    }

    fn checked(&mut self) -> Option<&mut Checked<R>> {
        match self {
            Item::Done(c) => Some(c),
            Item::Open(_) => None,
        }
    }

    fn finish(self, findings: Vec<Finding>, render: &Render<'_, R>) -> R {
        match self {
            Item::Done(c) => c.out,
            Item::Open(t) => (*t).finish(findings, render),
        }
    }
}

/// Rules for a batch of connections finalised together (in stream order), then the report of
/// each. Open ones are checked here; checked ones only feed the context.
fn settle<R, P: Pending<R>>(
    mut batch: Vec<P>,
    ctx: &mut Context,
    render: &Render<'_, R>,
    sink: &mut dyn FnMut(R),
) {
    // Summaries first, so that connections finishing together see each other.
    for item in &mut batch {
        if let Some(t) = item.open() {
            ctx.observe(t);
        } else if let Some(c) = item.checked() {
            ctx.observe_note(&c.observation);
        }
    }
    // Findings beside the items (a timeline, ~280 bytes, stays where it is).
    let mut findings: Vec<Vec<Finding>> = batch
        .iter()
        .map(|item| item.open().map_or_else(Vec::new, |t| rules::run(t, ctx)))
        .collect();
    for (item, f) in batch.iter_mut().zip(&findings) {
        if let Some(t) = item.open() {
            ctx.record(t, f);
        } else if let Some(c) = item.checked() {
            ctx.record_notes(std::mem::take(&mut c.notes));
        }
    }
    for (item, f) in batch.iter().zip(&mut findings) {
        if let Some(t) = item.open() {
            rules::correlate(t, ctx, f);
        }
    }
    ctx.take_consulted();
    for (item, f) in batch.into_iter().zip(findings) {
        sink(item.finish(f, render));
    }
}

/// Decodes one frame, counting what is not TCP (fragments, unsupported links, malformed).
#[inline(always)]
fn decode_frame<'a>(frame: &capture::Frame<'a>, stats: &mut DecodeStats) -> Decoded<'a> {
    if frame.data.len() < frame.orig_len as usize {
        stats.snaplen_cut += 1;
    }
    let d = link::decode(frame.linktype, frame.data);
    match d {
        Decoded::Fragment => stats.fragments += 1,
        Decoded::UnsupportedLink => *stats.unsupported.entry(frame.linktype).or_default() += 1,
        Decoded::Malformed => stats.malformed += 1,
        Decoded::Tcp(_) | Decoded::IcmpQuotedTcp { .. } | Decoded::Other => {}
    }
    d
}

/// One thread: a [`FlowTable`] numbers, tracks and sweeps.
fn sequential(
    path: &Path,
    keylog: Option<Arc<KeyLog>>,
    emit: &mut dyn FnMut(Vec<Timeline>),
) -> Result<ReadOutcome, CaptureError> {
    let mut table = FlowTable::with_keylog(keylog);
    let mut stats = DecodeStats::default();
    // The segment is borrowed where the decoder wrote it: moved out of the enum, its ~110 bytes
    // were copied on the stack for every packet (perf put the reader's samples on that copy).
    let summary = capture::read_capture(path, |frame| match &decode_frame(frame, &mut stats) {
        Decoded::Tcp(seg) => table.packet(seg, frame, emit),
        Decoded::IcmpQuotedTcp { src, dst } => table.quoted(*src, *dst),
        _ => {}
    })?;
    emit(table.finish());
    Ok(ReadOutcome {
        summary,
        stats,
        streams: table.streams(),
        strays: table.strays(),
    })
}

/// Packets a reader hands to a worker at once.
const BATCH: usize = 512;
/// Batches queued for one worker before the reader waits: enough to absorb the bursts of a
/// sweep (on the 1 GiB benchmark with -j2, the reader waited 50-126 ms on a full queue and the
/// worker 121-157 ms on an empty one with 8; 29-108 and 25-44 ms with 32, for +10 MB of RSS).
const QUEUE: usize = 32;

/// How far a worker has got through the batches sent to it, so that the reader knows which
/// pages of the mapped file no worker reads any more.
#[derive(Debug, Default)]
struct Progress {
    /// Batches the worker has finished.
    batches: AtomicUsize,
    /// The reader's offset in the file when the last of them was sent: every packet sent or
    /// gathered for this worker since lies beyond it.
    upto: AtomicUsize,
}

impl Progress {
    /// The worker has finished a batch the reader sent at offset `sent_at`: the offset first,
    /// so that a reader that sees the new count also sees it (Release/Acquire).
    fn finish(&self, sent_at: usize) {
        self.upto.store(sent_at, Ordering::Release);
        self.batches.fetch_add(1, Ordering::Release);
    }
}

/// What the reader knows of a worker's packets: batches sent, and the file offset of the
/// first packet gathered for the next batch (`usize::MAX`: none).
#[derive(Debug)]
struct Sent {
    batches: Cell<usize>,
    pending_from: Cell<usize>,
}

impl Sent {
    fn new() -> Self {
        Sent {
            batches: Cell::new(0),
            pending_from: Cell::new(usize::MAX),
        }
    }

    /// Batches sent to the worker and not yet finished.
    fn in_flight(&self, p: &Progress) -> usize {
        self.batches
            .get()
            .saturating_sub(p.batches.load(Ordering::Relaxed))
    }

    /// The lowest file offset the worker may still read.
    fn lowest(&self, p: &Progress) -> usize {
        if p.batches.load(Ordering::Acquire) < self.batches.get() {
            p.upto.load(Ordering::Acquire)
        } else {
            self.pending_from.get()
        }
    }
}

/// One numbered segment for a worker, in 64 bytes. A connection's first packet travels as its
/// frame's bytes, which the worker decodes again (the connection needs its addresses); every
/// later one as the fields tracking reads (its payload, sequence numbers, flags, ...) and its
/// side, which the numbering found: the worker never touches the headers, and ~110 bytes of
/// decoded segment (two `SocketAddr`s alone are 64) do not cross between the threads. Aligned
/// to 64, each fills one cache line of its batch, written whole by [`push_streaming`].
#[repr(align(64))]
struct Numbered<'m> {
    /// The payload; the frame's bytes when [`Numbered::NEW`].
    bytes: &'m [u8],
    at: At,
    stream: u64,
    slot: u32,
    seq: u32,
    ack: u32,
    wire_len: u32,
    window: u16,
    /// The frame's link type when [`Numbered::NEW`] (every one that decodes to TCP fits).
    linktype: u16,
    ip_id: u16,
    /// The TCP flags (the low five bits), and [`Numbered::NEW`], [`Numbered::SIDE`] and
    /// [`Numbered::HAS_IP_ID`].
    marks: u8,
    ttl: u8,
}

impl<'m> Numbered<'m> {
    const NEW: u8 = 0x80;
    const SIDE: u8 = 0x40;
    const HAS_IP_ID: u8 = 0x20;
    const FLAGS: u8 = 0x1f;

    fn new(frame: &capture::Frame<'m>, seg: &TcpSegment<'m>, id: Assigned) -> Self {
        let mut marks = seg.body.flags.0 & Self::FLAGS;
        if id.new {
            marks |= Self::NEW;
        }
        if id.side != 0 {
            marks |= Self::SIDE;
        }
        if seg.body.ip_id.is_some() {
            marks |= Self::HAS_IP_ID;
        }
        Numbered {
            bytes: if id.new { frame.data } else { seg.body.payload },
            at: At::from(frame),
            stream: id.stream,
            slot: id.slot,
            seq: seg.body.seq,
            ack: seg.body.ack,
            wire_len: seg.body.wire_len,
            window: seg.body.window,
            // Every link type that decodes to TCP is below 300.
            linktype: u16::try_from(frame.linktype).unwrap_or(u16::MAX),
            ip_id: seg.body.ip_id.unwrap_or(0),
            marks,
            ttl: seg.body.ttl,
        }
    }

    fn is_new(&self) -> bool {
        self.marks & Self::NEW != 0
    }

    /// The segment past its 4-tuple (for a packet that is not [`Numbered::NEW`]).
    fn body(&self) -> TcpBody<'m> {
        TcpBody {
            seq: self.seq,
            ack: self.ack,
            flags: TcpFlags(self.marks & Self::FLAGS),
            window: self.window,
            payload: self.bytes,
            wire_len: self.wire_len,
            ttl: self.ttl,
            ip_id: (self.marks & Self::HAS_IP_ID != 0).then_some(self.ip_id),
        }
    }

    /// The numbering's answer, for worker `owner`.
    fn id(&self, owner: u32) -> Assigned {
        Assigned {
            stream: self.stream,
            new: self.is_new(),
            slot: self.slot,
            owner,
            side: u8::from(self.marks & Self::SIDE != 0),
        }
    }
}

const _: () = assert!(std::mem::size_of::<Numbered<'static>>() == 64);
// Every flag the decoder records fits below the marks.
const _: () = assert!(
    TcpFlags::FIN | TcpFlags::SYN | TcpFlags::RST | TcpFlags::PSH | TcpFlags::ACK
        == Numbered::FLAGS
);

enum ToWorker<'m> {
    /// Packets, and the reader's file offset when it sent them.
    Packets(Vec<Numbered<'m>>, usize),
    /// Sweep number `.0` at capture time `.1`.
    Sweep(u64, Timestamp),
    /// End of the capture; the final batch is number `.0`.
    End(u64),
}

/// A worker's connections finalised at sweep `epoch` (and its late-packet count at the end).
struct FromWorker<R> {
    epoch: u64,
    batch: Vec<Item<R>>,
    strays: Strays,
}

/// Where a worker's finalised connections go.
trait Deliver<R> {
    /// Hands over one sweep's part; false when nobody takes them any more (the worker stops).
    fn deliver(&mut self, part: FromWorker<R>) -> bool;
    /// Called when the worker has nothing queued (before it waits) and after each part it
    /// delivers.
    fn between(&mut self) {}
    /// Called after each batch of packets.
    fn after_batch(&mut self) {}
    /// How often to call [`Deliver::between`] while the worker waits for its next message
    /// (`None`: only before it waits).
    fn poll_every(&self) -> Option<std::time::Duration> {
        None
    }
}

/// The reader and the workers on their own threads send their parts to the first worker, which
/// merges, and wait while too many of them are not written yet (see [`AHEAD_ITEMS`]).
struct ToMerge<'w, R> {
    tx: mpsc::Sender<FromWorker<R>>,
    ahead: Ahead,
    /// What the sender waits on; released if it unwinds from a panic.
    written: ReleaseOnPanic<'w>,
}

impl<'w, R> ToMerge<'w, R> {
    fn new(tx: mpsc::Sender<FromWorker<R>>, written: &'w Written) -> Self {
        ToMerge {
            tx,
            ahead: Ahead::default(),
            written: ReleaseOnPanic(written),
        }
    }
}

impl<R> Deliver<R> for ToMerge<'_, R> {
    /// Out of line: once a sweep, from inside the reader's per-packet closure.
    #[inline(never)]
    fn deliver(&mut self, part: FromWorker<R>) -> bool {
        let (epoch, items) = (part.epoch, part.batch.len());
        if self.tx.send(part).is_err() {
            return false;
        }
        self.ahead.sent(epoch, items, self.written.0);
        true
    }
}

/// Sweeps' parts put together in sweep order: a sweep's batch is complete (and emitted, in
/// stream order) once the reader and every worker have delivered their part of it.
struct Merger<'e, R> {
    parts: usize,
    /// Per sweep: the parts delivered so far, and the non-empty ones.
    waiting: BTreeMap<u64, (usize, Runs<R>)>,
    next: u64,
    strays: Strays,
    emit: &'e mut dyn FnMut(Vec<Item<R>>),
}

impl<R> Merger<'_, R> {
    fn add(&mut self, part: FromWorker<R>) {
        self.strays += part.strays;
        let slot = self.waiting.entry(part.epoch).or_default();
        slot.0 += 1;
        if !part.batch.is_empty() {
            slot.1.push(part.batch);
        }
        while self
            .waiting
            .get(&self.next)
            .is_some_and(|(n, _)| *n == self.parts)
        {
            if let Some((_, runs)) = self.waiting.remove(&self.next) {
                let batch = merge_runs(runs);
                if !batch.is_empty() {
                    (self.emit)(batch);
                }
            }
            self.next += 1;
        }
    }
}

/// A sweep's parts, each in stream order.
type Runs<R> = Vec<Vec<Item<R>>>;

/// One sweep's parts, each in stream order, merged into one batch in stream order: each item
/// is moved once (a pointer now; when items held the report, ~500 bytes, appending the parts
/// and sorting moved them two or three times). A part out of order (none is) would still be
/// sorted.
fn merge_runs<R>(mut runs: Runs<R>) -> Vec<Item<R>> {
    if runs.len() <= 1 {
        return runs.pop().unwrap_or_default();
    }
    let mut out = Vec::with_capacity(runs.iter().map(Vec::len).sum());
    let mut heads: Vec<std::vec::IntoIter<Item<R>>> =
        runs.into_iter().map(Vec::into_iter).collect();
    let mut in_order = true;
    loop {
        let mut best: Option<(usize, u64)> = None;
        for (i, h) in heads.iter().enumerate() {
            if let Some(s) = h.as_slice().first().map(Item::stream)
                && best.is_none_or(|(_, b)| s < b)
            {
                best = Some((i, s));
            }
        }
        let Some((i, stream)) = best else { break };
        if out.last().is_some_and(|l: &Item<R>| l.stream() > stream) {
            in_order = false;
        }
        if let Some(item) = heads.get_mut(i).and_then(Iterator::next) {
            out.push(item);
        }
    }
    if !in_order {
        out.sort_by_key(Item::stream);
    }
    out
}

/// The worker that runs on the calling thread merges: its own parts go straight in, and the
/// other threads' parts are taken in between its messages (the sink is this thread's). It
/// also hands back to the kernel the pages of the file the reader is done with: the reader is
/// the busiest thread (page faults, decoding, numbering, dispatch), and releasing pages was
/// ~7% of its time.
struct MergeHere<'e, 'm, R> {
    merger: Merger<'e, R>,
    others: mpsc::Receiver<FromWorker<R>>,
    pages: PageReturns<'m>,
    /// Tells the other threads how many sweeps are written (see [`Written`]).
    written: WrittenMark<'m>,
}

/// Items (finalised connections) the reader, or a worker but the first, may have sent to the
/// merge for sweeps not written yet; past that, it waits. The first worker merges and writes
/// the output: when whoever reads the output stops (a pager, a slow pipe, a full disk), it
/// blocks in the write, and the new connections go to the other threads (its backlog makes it
/// busy; with `--jobs 2` they all go to the reader), which went on until the first worker's
/// queue was full of sweeps (32 of them: a quarter of the 1 GiB benchmark), holding what they
/// finalised. With a consumer that read nothing for 3-5 s, `--jobs 2` reached 75-78 MiB on
/// that benchmark (`--jobs 1`: 29 MiB); with this bound 50-66 MiB (512: 49 MiB, 4096:
/// 66 MiB). Without a stall, `--jobs 2`'s reader never waited in six instrumented runs (its
/// count at most ~1,050); `--jobs 3`, three threads on two CPUs, waited 18-41 times a run.
const AHEAD_ITEMS: usize = 1024;

/// The sweeps the first worker has written (every thread's part merged, the batch emitted), for
/// the other threads to wait on: see [`AHEAD_ITEMS`].
#[derive(Debug, Default)]
struct Written {
    /// Sweeps written; `u64::MAX` once the first worker has stopped (nothing to wait for).
    sweeps: AtomicU64,
    lock: Mutex<()>,
    moved: Condvar,
}

impl Written {
    fn set(&self, sweeps: u64) {
        // Under the lock, so that a thread between its check and its wait cannot miss it.
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sweeps.store(sweeps, Ordering::Release);
        self.moved.notify_all();
    }

    /// Waits until sweep `epoch` is written; returns the sweeps written.
    fn wait_past(&self, epoch: u64) -> u64 {
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let _guard = self
            .moved
            .wait_while(guard, |()| self.sweeps.load(Ordering::Acquire) <= epoch)
            .unwrap_or_else(PoisonError::into_inner);
        self.sweeps.load(Ordering::Acquire)
    }
}

/// A thread that sends parts to the merge and unwinds from a panic releases every thread that
/// waits for a sweep to be written: its parts will not come, and the run ends with its panic.
struct ReleaseOnPanic<'a>(&'a Written);

impl Drop for ReleaseOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.set(u64::MAX);
        }
    }
}

/// The first worker's hold on [`Written`]: when it goes (the worker is done, or unwinds from a
/// panic), nobody waits any more.
struct WrittenMark<'a>(&'a Written);

impl Drop for WrittenMark<'_> {
    fn drop(&mut self) {
        self.0.set(u64::MAX);
    }
}

/// A sending thread's side of [`AHEAD_ITEMS`] (the reader's, or a worker's but the first): the
/// items of its parts per sweep, until that sweep is written. It waits only for a sweep two or
/// more behind its own, so that it goes on while the previous sweep is written even when one
/// sweep holds more than [`AHEAD_ITEMS`] (a scan: thousands of connections refused within a
/// second); what is held is then up to three sweeps' connections (one thread holds one
/// sweep's batch).
#[derive(Debug, Default)]
struct Ahead {
    parts: VecDeque<(u64, usize)>,
    items: usize,
}

impl Ahead {
    /// `items` were sent for sweep `epoch`; waits while too many are not written yet.
    /// Out of line: it runs once per sweep (for the reader, inside its per-packet closure).
    #[cold]
    #[inline(never)]
    fn sent(&mut self, epoch: u64, items: usize, written: &Written) {
        if items > 0 {
            self.items += items;
            self.parts.push_back((epoch, items));
        }
        let mut done = written.sweeps.load(Ordering::Acquire);
        loop {
            while let Some(&(e, n)) = self.parts.front()
                && e < done
            {
                self.parts.pop_front();
                self.items = self.items.saturating_sub(n);
            }
            match self.parts.front() {
                Some(&(e, _)) if self.items > AHEAD_ITEMS && epoch.saturating_sub(e) >= 2 => {
                    done = written.wait_past(e);
                }
                _ => return,
            }
        }
    }
}

impl<R> MergeHere<'_, '_, R> {
    /// After the worker's last message: the other threads' last parts (the channel closes
    /// when all of them are done) and the last pages.
    /// Returns the strays the parts counted.
    fn finish(mut self) -> Strays {
        while let Ok(part) = self.others.recv() {
            self.merger.add(part);
            // The other threads may be waiting for a sweep to be written before they send
            // their last parts.
            self.tell();
        }
        self.pages.release();
        self.merger.strays
    }

    /// Tells the other threads when more sweeps are written (only this worker counts them up;
    /// a sender that panicked may have set the end, which stays).
    fn tell(&mut self) {
        if self.merger.next > self.written.0.sweeps.load(Ordering::Relaxed) {
            self.written.0.set(self.merger.next);
        }
    }
}

/// Page ranges the reader leaves to the first worker at most at once (each is what the reader
/// could release at that point: 4 MiB or more).
const RELEASES_PENDING: usize = 1;

/// The first worker's side of releasing pages with `--jobs`: the ranges the reader handed it.
struct PageReturns<'m> {
    map: &'m memmap2::Mmap,
    ranges: mpsc::Receiver<(usize, usize)>,
    /// Ranges handed over and not yet released (shared with [`PageHandoff`]).
    unreleased: &'m AtomicUsize,
}

impl PageReturns<'_> {
    fn release(&mut self) {
        while let Ok((from, to)) = self.ranges.try_recv() {
            capture::release(self.map, from, to);
            self.unreleased.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The reader's side of releasing pages with `--jobs`: a range goes to the first worker unless
/// it has not got round to the one sent before (it is merging a sweep, say) or has stopped;
/// then the reader releases it itself, so resident memory stays as flat as with one thread.
struct PageHandoff<'a> {
    to: mpsc::Sender<(usize, usize)>,
    unreleased: &'a AtomicUsize,
}

impl PageHandoff<'_> {
    /// True when the range `from..to` was left to the first worker.
    fn offer(&self, from: usize, to: usize) -> bool {
        if self.unreleased.fetch_add(1, Ordering::AcqRel) >= RELEASES_PENDING
            || self.to.send((from, to)).is_err()
        {
            self.unreleased.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }
}

impl<R> Deliver<R> for MergeHere<'_, '_, R> {
    fn deliver(&mut self, part: FromWorker<R>) -> bool {
        self.merger.add(part);
        self.tell();
        true
    }

    /// Takes the other threads' parts.
    fn between(&mut self) {
        self.pages.release();
        while let Ok(part) = self.others.try_recv() {
            self.merger.add(part);
        }
        self.tell();
    }

    fn after_batch(&mut self) {
        self.pages.release();
    }

    /// The other threads' parts are also taken while this worker waits for packets: a thread
    /// that waits for a sweep to be written (see [`AHEAD_ITEMS`]) may have sent the last part
    /// of it after this worker last looked, and then sends nothing more until it is written.
    fn poll_every(&self) -> Option<std::time::Duration> {
        Some(MERGE_POLL)
    }
}

/// How often the first worker takes the other threads' parts while it waits for packets.
const MERGE_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// What a worker hands back to the reader.
struct Back<'m> {
    /// Emptied batches.
    spare: mpsc::Sender<Vec<Numbered<'m>>>,
    /// Connection slots it emptied at a sweep, under its owner index (see [`Freed`]).
    freed: mpsc::Sender<Freed>,
    /// Its owner index.
    owner: u32,
}

/// An owner's emptied connection slots, with the stream each held: the reader's numbering
/// hands them out again ([`Numbering::release`]).
type Freed = (u32, Vec<(u32, u64)>);

fn worker<'m, R: Send>(
    rx: mpsc::Receiver<ToWorker<'m>>,
    out: &mut dyn Deliver<R>,
    back: Back<'m>,
    progress: &Progress,
    keylog: Option<Arc<KeyLog>>,
    render: &Render<'_, R>,
) {
    let mut conns = Connections::with_keylog(keylog);
    // Never fed: a rule that reads it marks its connection to be checked again in the merge,
    // against the real context.
    let empty = Context::default();
    let check = |batch: Vec<Timeline>| prechecked(batch, &empty, render);
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(mpsc::TryRecvError::Empty) => match wait_for_message(&rx, out) {
                Some(msg) => msg,
                None => return,
            },
            Err(mpsc::TryRecvError::Disconnected) => return,
        };
        let part = match msg {
            ToWorker::Packets(mut list, sent_at) => {
                for (i, p) in list.iter().enumerate() {
                    if let Some(ahead) = list.get(i + PREFETCH_AHEAD) {
                        // The start of the payload (of the frame, for a first packet).
                        capture::prefetch_span(ahead.bytes.as_ptr(), ahead.bytes.len().min(128));
                    }
                    if !p.is_new() {
                        conns.packet_of_open(&p.body(), p.at, p.id(back.owner));
                    } else if let Decoded::Tcp(seg) = link::decode(i32::from(p.linktype), p.bytes) {
                        // The reader dispatched it as TCP: the same bytes decode the same.
                        conns.packet(&seg, p.at, p.id(back.owner));
                    }
                }
                // Back to the reader for another batch: no large allocation freed here and
                // made again there for every batch.
                list.clear();
                let _ = back.spare.send(list);
                progress.finish(sent_at);
                out.after_batch();
                continue;
            }
            ToWorker::Sweep(epoch, now) => {
                let batch = check(conns.sweep(now));
                let freed = conns.take_freed();
                if !freed.is_empty() {
                    let _ = back.freed.send((back.owner, freed));
                }
                FromWorker {
                    epoch,
                    batch,
                    strays: Strays::default(),
                }
            }
            ToWorker::End(epoch) => {
                // Finalised first: the strays are complete only then (see `Connections`).
                let batch = prechecked_last(conns.finish(), render);
                FromWorker {
                    epoch,
                    batch,
                    strays: conns.strays,
                }
            }
        };
        if !out.deliver(part) {
            return;
        }
        out.between();
    }
}

/// A worker's next message once its queue is empty (`None`: the reader is gone), with
/// [`Deliver::between`] called before it waits and as often as the sink asks while it does.
fn wait_for_message<'m, R>(
    rx: &mpsc::Receiver<ToWorker<'m>>,
    out: &mut dyn Deliver<R>,
) -> Option<ToWorker<'m>> {
    out.between();
    let Some(every) = out.poll_every() else {
        return rx.recv().ok();
    };
    loop {
        match rx.recv_timeout(every) {
            Ok(msg) => return Some(msg),
            Err(mpsc::RecvTimeoutError::Timeout) => out.between(),
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// The end of the capture finalises every connection still open: several sweeps' worth, at a
/// time when the reader has nothing left to read. A worker checks half of them on a helper
/// thread (when there are enough to be worth a thread, and one can be started), so that the
/// run does not end on one busy thread.
fn prechecked_last<R: Send>(mut batch: Vec<Timeline>, render: &Render<'_, R>) -> Vec<Item<R>> {
    let check = |b: Vec<Timeline>| prechecked(b, &Context::default(), render);
    if batch.len() < LAST_SPLIT_MIN {
        return check(batch);
    }
    // Taken by the helper, or by this thread if no helper could be started.
    let second = std::sync::Mutex::new(batch.split_off(batch.len() / 2));
    let take = || {
        second
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    };
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new()
            .spawn_scoped(s, || check(take()))
            .ok();
        let mut items = check(batch);
        match helper.map(|h| h.join()) {
            Some(Ok(rest)) => items.extend(rest),
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => items.extend(check(take())),
        }
        items
    })
}

/// Connections at the end of the capture from which a worker checks half on a helper thread.
const LAST_SPLIT_MIN: usize = 256;

/// How many packets ahead a worker asks for the start of a payload. A worker's payloads were
/// last near the reader's core, not its own: without this, the first touch of each one stalls
/// (the biggest extra cost of --jobs in profiles).
const PREFETCH_AHEAD: usize = 6;

/// [`Assigned::owner`] of the 4-tuples the reader tracks itself.
const READER: u32 = u32::MAX - 1;

/// Batches in flight (sent, not yet finished) from which a worker counts as busy: about two
/// milliseconds of its work, more than a sweep takes the reader.
const BUSY: usize = 8;

/// How `parallel` picks the owner of a new 4-tuple, given the batches each worker has in
/// flight: a worker's index, or [`READER`] (any other value also means the reader). The real
/// policy is [`choose_owner`]; tests use others to force every split.
type OwnerPolicy<'p> = dyn FnMut(&mut dyn Iterator<Item = usize>) -> u32 + Send + 'p;

/// Who owns a new 4-tuple with `--jobs N` (N threads: a reader and N - 1 workers), given the
/// batches each worker has in flight: the least busy worker, or the reader itself when every
/// worker is busy. Reading, decoding and numbering are only part of the work (about a quarter
/// on the benchmark capture), so with few workers a reader that only dispatched would wait for
/// them, and with a share fixed in advance (by hash) one of the two would wait whenever the
/// capture's mix or the machine's load changed; owning by backlog keeps both busy.
fn choose_owner(in_flight: impl Iterator<Item = usize>, busy: usize) -> u32 {
    let mut best: Option<(usize, u32)> = None;
    for (w, n) in (0u32..).zip(in_flight) {
        if best.is_none_or(|(b, _)| n < b) {
            best = Some((n, w));
        }
    }
    match best {
        Some((n, w)) if n < busy => w,
        _ => READER,
    }
}

/// The reader's side of the workers' queues: packets gathered per worker, sent in batches.
struct Dispatch<'m, 's> {
    to: Vec<mpsc::SyncSender<ToWorker<'m>>>,
    pending: Vec<Vec<Numbered<'m>>>,
    /// Emptied batches handed back by the workers.
    spare: mpsc::Receiver<Vec<Numbered<'m>>>,
    sent: &'s [Sent],
}

impl<'m> Dispatch<'m, '_> {
    /// Gathers a packet (at file offset `at`) for worker `w`; sends the batch when full.
    fn push(&mut self, w: usize, p: Numbered<'m>, at: usize) {
        let (Some(list), Some(sent)) = (self.pending.get_mut(w), self.sent.get(w)) else {
            return;
        };
        if list.is_empty() {
            sent.pending_from.set(at);
        }
        push_streaming(list, p);
        if list.len() >= BATCH {
            self.send(w, at);
        }
    }

    /// Hands worker `w` the packets gathered for it (the reader is at file offset `at`).
    fn send(&mut self, w: usize, at: usize) {
        let (Some(list), Some(tx), Some(sent)) =
            (self.pending.get_mut(w), self.to.get(w), self.sent.get(w))
        else {
            return;
        };
        if list.is_empty() {
            return;
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(list, next);
        // The batch's entries were written past the cache (`push_streaming`): they must be in
        // memory before the worker is told of them.
        store_fence();
        sent.batches.set(sent.batches.get() + 1);
        sent.pending_from.set(usize::MAX);
        if tx.send(ToWorker::Packets(full, at)).is_err() {
            worker_died();
        }
    }

    /// Sends every worker its packets, then `msg` (a sweep or the end).
    fn send_all(&mut self, at: usize, msg: impl Fn() -> ToWorker<'m>) {
        for w in 0..self.to.len() {
            self.send(w, at);
        }
        for tx in &self.to {
            if tx.send(msg()).is_err() {
                worker_died();
            }
        }
    }
}

/// Appends `p` to `list` without fetching its cache line first. A batch's lines were last read
/// by the worker, on the other CPU, and an ordinary store waits for the line to come back from
/// there: ~35 ns on this VM when its two vCPUs share a core complex, ~170 ns when the host has
/// put them on two, for every packet handed over (a `perf` run in that state had 74% of the
/// reader's own samples on the store buffer filling up behind them). A non-temporal store
/// writes the whole line to memory instead, and the worker's sequential read of the batch is
/// streamed by the hardware prefetcher. 398 alternating pairs of `--jobs 2` runs against
/// ordinary stores: 0.79 of the wall time (23 pairs with the vCPUs apart), 0.99 (318 with them
/// together). [`store_fence`] runs before the batch is sent.
#[inline(always)]
fn push_streaming<'m>(list: &mut Vec<Numbered<'m>>, p: Numbered<'m>) {
    #[cfg(target_arch = "x86_64")]
    {
        if list.len() == list.capacity() {
            // Growing copies the entries: the ones already streamed must be in memory first.
            // (A batch is sent at BATCH entries and made with that capacity: not reached.)
            store_fence();
            list.reserve(1);
        }
        let len = list.len();
        let src = std::ptr::from_ref(&p);
        // SAFETY: `len < capacity`, so the slot is allocated and unused, and `add(len)` stays in
        // the allocation. A Numbered is 64 bytes aligned to 64 (asserted with its definition and
        // below), so the four 16-byte stores fill exactly its slot and are aligned as `movntdq`
        // needs; `src` points at `p`, a live Numbered, for the 64 bytes read. The copy is done in
        // assembly, which copies bytes as `memcpy` would, with the provenance of the payload
        // reference inside (a copy through integer vectors in Rust would lose it), and
        // whatever padding a future field list leaves. It is a move of `p`, which has no drop
        // glue (asserted below) and is not used afterwards; `set_len` then covers the slot.
        unsafe {
            let dst = list.as_mut_ptr().add(len);
            std::arch::asm!(
                "movdqu {t}, xmmword ptr [{src}]",
                "movntdq xmmword ptr [{dst}], {t}",
                "movdqu {t}, xmmword ptr [{src} + 16]",
                "movntdq xmmword ptr [{dst} + 16], {t}",
                "movdqu {t}, xmmword ptr [{src} + 32]",
                "movntdq xmmword ptr [{dst} + 32], {t}",
                "movdqu {t}, xmmword ptr [{src} + 48]",
                "movntdq xmmword ptr [{dst} + 48], {t}",
                src = in(reg) src,
                dst = in(reg) dst,
                t = out(xmm_reg) _,
                options(nostack, preserves_flags),
            );
            list.set_len(len + 1);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    list.push(p);
}

/// Orders the non-temporal stores of [`push_streaming`] before what follows (the send).
#[inline(always)]
fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86_64 baseline; a fence has no operands.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

const _: () = assert!(std::mem::align_of::<Numbered<'static>>() == 64);
const _: () = assert!(!std::mem::needs_drop::<Numbered<'static>>());

impl Drop for Dispatch<'_, '_> {
    /// Batches not sent (a worker stopped, and the reader unwinds) are freed, and their memory
    /// reused, only after their streamed entries are in memory.
    fn drop(&mut self) {
        store_fence();
    }
}

/// A worker's queue closed early: the worker panicked (its panic is reported when the threads
/// are joined). Reading on would only hold the rest of the output in memory until the end.
#[cold]
fn worker_died() -> ! {
    panic!("a --jobs worker thread stopped early; the reader stops too");
}

/// A reader thread numbers and dispatches (and tracks the new flows itself while every worker
/// is busy, see [`choose_owner`]); `jobs - 1` workers track and check, the first of
/// them on this thread, which between its own messages merges each sweep's batches in stream
/// order and settles what needs other connections. (A merging thread of its own, a third busy
/// thread on two cores, kept preempting the other two: see docs/performance-history.md.)
fn parallel<R: Send>(
    path: &Path,
    map: &memmap2::Mmap,
    jobs: usize,
    choose: &mut OwnerPolicy<'_>,
    keylog: Option<Arc<KeyLog>>,
    render: &Render<'_, R>,
    emit: &mut dyn FnMut(Vec<Item<R>>),
) -> Result<ReadOutcome, CaptureError> {
    // The reader is one of the `jobs` threads.
    let workers = jobs.min(MAX_JOBS).saturating_sub(1).max(1);
    let progress: Vec<Progress> = (0..workers).map(|_| Progress::default()).collect();
    let progress = &progress;
    let unreleased = &AtomicUsize::new(0);
    let written = &Written::default();
    std::thread::scope(|s| {
        let (merge_tx, merge_rx) = mpsc::channel::<FromWorker<R>>();
        let (spare_tx, spare_rx) = mpsc::channel::<Vec<Numbered<'_>>>();
        let (freed_tx, freed_rx) = mpsc::channel::<Freed>();
        let mut to_workers = Vec::with_capacity(workers);
        // Worker 0 runs on this thread (below), the others on their own.
        let mut here = None;
        for (owner, p) in (0u32..).zip(progress) {
            let (tx, rx) = mpsc::sync_channel::<ToWorker<'_>>(QUEUE);
            let back = Back {
                spare: spare_tx.clone(),
                freed: freed_tx.clone(),
                owner,
            };
            if here.is_none() {
                here = Some((rx, back, p));
            } else {
                let mut out = ToMerge::new(merge_tx.clone(), written);
                let keys = keylog.clone();
                s.spawn(move || worker(rx, &mut out, back, p, keys, render));
            }
            to_workers.push(tx);
        }
        drop(spare_tx);
        drop(freed_tx);
        let reader_keylog = keylog.clone();
        let reader_merge = merge_tx.clone();
        let (pages_tx, pages_rx) = mpsc::channel::<(usize, usize)>();
        let reader = s.spawn(move || {
            let keylog = reader_keylog;
            let mut to_merge = ToMerge::new(reader_merge, written);
            let handoff = PageHandoff {
                to: pages_tx,
                unreleased,
            };
            let hand_back = |from, to| {
                if !handoff.offer(from, to) {
                    capture::release(map, from, to);
                }
            };
            let mut numbering = Numbering::default();
            let mut clock = SweepClock::default();
            let mut stats = DecodeStats::default();
            let mut own = Connections::with_keylog(keylog);
            let empty = Context::default();
            let sent: Vec<Sent> = (0..workers).map(|_| Sent::new()).collect();
            let mut dispatch = Dispatch {
                to: to_workers,
                pending: (0..workers).map(|_| Vec::with_capacity(BATCH)).collect(),
                spare: spare_rx,
                sent: &sent,
            };
            // Pages below what every worker has finished (or still has to read) are released.
            let in_use = |at: usize| {
                sent.iter()
                    .zip(progress)
                    .fold(at, |low, (s, p)| low.min(s.lowest(p)))
            };
            let base = map.as_ptr() as usize;
            let mut epoch = 0u64;
            let mut at = 0usize;
            let summary = capture::read_mapped(path, map, &in_use, &hand_back, |frame| {
                at = (frame.data.as_ptr() as usize).wrapping_sub(base);
                // Borrowed where the decoder wrote it (see `sequential`).
                let decoded = decode_frame(frame, &mut stats);
                let seg = match &decoded {
                    Decoded::Tcp(seg) => seg,
                    Decoded::IcmpQuotedTcp { src, dst } => return numbering.quoted(*src, *dst),
                    _ => return,
                };
                let id = numbering.assign_owned(seg, || {
                    let w = choose(&mut sent.iter().zip(progress).map(|(s, p)| s.in_flight(p)));
                    // Any owner that is no worker's index is the reader: one slot space.
                    if usize::try_from(w).is_ok_and(|w| w < workers) {
                        w
                    } else {
                        READER
                    }
                });
                // An owner that is no worker's index is the reader: a 4-tuple keeps its owner,
                // so all its packets come here, and none is ever dropped.
                match usize::try_from(id.owner) {
                    Ok(w) if w < workers => dispatch.push(w, Numbered::new(frame, seg, id), at),
                    _ => own.packet(seg, At::from(frame), id),
                }
                if clock.due(frame.time) {
                    let now = frame.time;
                    dispatch.send_all(at, || ToWorker::Sweep(epoch, now));
                    to_merge.deliver(FromWorker {
                        epoch,
                        batch: prechecked(own.sweep(now), &empty, render),
                        strays: Strays::default(),
                    });
                    own.release_slots(&mut numbering, READER);
                    // Slots the workers emptied at earlier sweeps.
                    while let Ok((owner, freed)) = freed_rx.try_recv() {
                        numbering.release(owner, &freed);
                    }
                    epoch += 1;
                }
            });
            dispatch.send_all(at, || ToWorker::End(epoch));
            // Finalised first: the strays are complete only then (see `Connections`).
            let batch = prechecked_last(own.finish(), render);
            to_merge.deliver(FromWorker {
                epoch,
                batch,
                strays: own.strays,
            });
            summary.map(|summary| (summary, stats, numbering.streams()))
        });
        let mut merge = MergeHere {
            merger: Merger {
                parts: workers + 1,
                waiting: BTreeMap::new(),
                next: 0,
                strays: Strays::default(),
                emit,
            },
            others: merge_rx,
            pages: PageReturns {
                map,
                ranges: pages_rx,
                unreleased,
            },
            written: WrittenMark(written),
        };
        if let Some((rx, back, p)) = here {
            worker(rx, &mut merge, back, p, keylog, render);
        }
        drop(merge_tx);
        let strays = merge.finish();
        let (summary, stats, streams) = match reader.join() {
            Ok(r) => r?,
            Err(p) => std::panic::resume_unwind(p),
        };
        Ok(ReadOutcome {
            summary,
            stats,
            streams,
            strays,
        })
    })
}

/// The file's report (without connections) from what the reader saw.
fn report_of(path: &Path, o: ReadOutcome) -> FileReport {
    let ReadOutcome {
        summary,
        stats,
        streams,
        strays: Strays { late, copies },
    } = o;
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
    if late > 0 {
        warnings.push(format!(
            "{late} packets arrived on connections already closed and reported for more than {} s",
            crate::flow::LINGER_SECS
        ));
    }
    if copies > 0 {
        let (n, was) = if copies == 1 {
            ("segment", "was a copy")
        } else {
            ("segments", "were copies")
        };
        warnings.push(format!(
            "{copies} {n} with data, SYN or FIN {was} of one captured just before (the same packet captured twice: tcpdump -i any, a mirror port, merged captures); counted as packets, not analysed again"
        ));
    }
    FileReport {
        path: path.display().to_string(),
        format: summary.format.map(|f| f.name()),
        compressed: summary.compressed,
        link_types: summary.link_types,
        packets: summary.packets,
        tcp_streams: streams,
        warnings,
        error: None,
        connections: Vec::new(),
    }
}

/// Analyses a file and collects its connections, sorted by `tcp.stream`.
pub fn analyze_collect(path: &Path) -> FileReport {
    analyze_collect_with(path, &Options::default())
}

/// [`analyze_collect`] with options.
pub fn analyze_collect_with(path: &Path, opts: &Options) -> FileReport {
    let mut conns = Vec::new();
    match analyze_with(path, opts, &mut |_, c| conns.push(c)) {
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

/// The pcap and pcapng files under fixtures/ (for tests that run them all).
#[cfg(test)]
pub(crate) fn fixture_captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .sort_by_file_name()
        .into_iter()
        .flatten()
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    assert!(files.len() >= 50, "captures under {}", root.display());
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new 4-tuple goes to the least busy worker, ties to the first; to the reader when every
    /// worker has BUSY batches in flight or more.
    #[test]
    fn new_flows_go_to_the_least_busy_worker_or_the_reader() {
        let choose = |v: &[usize]| choose_owner(v.iter().copied(), BUSY);
        assert_eq!(choose(&[0]), 0);
        assert_eq!(choose(&[BUSY - 1]), 0);
        assert_eq!(choose(&[BUSY]), READER);
        assert_eq!(choose(&[BUSY + 20]), READER);
        assert_eq!(choose(&[3, 1, 2]), 1);
        assert_eq!(choose(&[2, 1, 1]), 1);
        assert_eq!(choose(&[BUSY, BUSY + 1, BUSY - 1]), 2);
        assert_eq!(choose(&[BUSY, BUSY, BUSY]), READER);
        assert_eq!(choose(&[]), READER);
    }

    /// Every capture under fixtures/ (with its key log, if any) gives the same connections (same
    /// order, same bytes) whoever owns them: all the workers, all the reader, in turn (every
    /// thread gets some whatever the timing), or by backlog.
    #[test]
    fn owners_do_not_change_the_output() {
        let files = fixture_captures();
        let line = |_: Timeline, c: ConnReport| format!("{c:?}");
        let mut mixed = 0;
        for f in &files {
            let keylog = find_keylog(f, None).ok().flatten();
            // One context for the whole file, as analyze_rendered keeps.
            let mut one = Vec::new();
            let mut ctx = Context::default();
            let mut emit =
                |batch: Vec<Timeline>| settle(batch, &mut ctx, &line, &mut |l| one.push(l));
            let seq = sequential(f, keylog.clone(), &mut emit)
                .map_err(|e| e.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            let Some(map) = capture::map_capture(f) else {
                continue;
            };
            let cases: [(usize, &str, Box<OwnerPolicy<'_>>); 6] = [
                (2, "workers only", Box::new(|i| choose_owner(i, usize::MAX))),
                (2, "reader only", Box::new(|i| choose_owner(i, 0))),
                (2, "in turn", in_turn(1)),
                (3, "in turn", in_turn(2)),
                (3, "out-of-range owners", out_of_range(2)),
                (4, "backlog", Box::new(|i| choose_owner(i, BUSY))),
            ];
            for (jobs, policy, mut choose) in cases {
                let mut many = Vec::new();
                let mut ctx = Context::default();
                let mut emit = |batch: Vec<Item<String>>| {
                    settle(batch, &mut ctx, &line, &mut |l| many.push(l))
                };
                let par = parallel(
                    f,
                    &map,
                    jobs,
                    &mut *choose,
                    keylog.clone(),
                    &line,
                    &mut emit,
                )
                .map_err(|e| e.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(many, one, "{} with {jobs} jobs, {policy}", f.display());
                // Streams numbered and strays counted alike (late packets on an ended
                // 4-tuple are counted by the reader, on a live one by its owner).
                assert_eq!(
                    (par.streams, par.strays),
                    (seq.streams, seq.strays),
                    "{} with {jobs} jobs, {policy}",
                    f.display()
                );
            }
            mixed += usize::from(one.len() >= 3);
        }
        // Enough captures with several connections for "in turn" to give every thread some.
        assert!(mixed >= 10, "{mixed} captures with 3+ connections");
    }

    /// The reader waits only when more than `AHEAD_ITEMS` are outstanding and the oldest of them
    /// is two sweeps or more behind; it goes on once that sweep is written.
    #[test]
    fn the_reader_waits_for_sweeps_two_behind_with_too_many_items() {
        let written = Written::default();
        let mut ahead = Ahead::default();
        // One sweep larger than the bound, and the next: no wait (nothing would wake it).
        ahead.sent(0, AHEAD_ITEMS * 5, &written);
        ahead.sent(1, 10, &written);
        assert_eq!(ahead.items, AHEAD_ITEMS * 5 + 10);
        // Sweep 2 with sweep 0 not written: waits until it is.
        let set = std::sync::atomic::AtomicBool::new(false);
        let (done, finished) = mpsc::channel::<()>();
        let (set_ref, written_ref) = (&set, &written);
        std::thread::scope(|s| {
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                set_ref.store(true, Ordering::SeqCst);
                written_ref.set(1);
                // A wait that does not end there fails the test below instead of hanging it.
                if finished
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .is_err()
                {
                    written_ref.set(u64::MAX);
                }
            });
            ahead.sent(2, 10, &written);
            let _ = done.send(());
            assert!(
                set.load(Ordering::SeqCst),
                "returned before sweep 0 was written"
            );
        });
        assert_eq!((ahead.items, ahead.parts.len()), (20, 2));
        // Few items: no wait, however far behind the first worker is.
        let mut few = Ahead::default();
        let idle = Written::default();
        for epoch in 0..100 {
            few.sent(epoch, 5, &idle);
        }
        assert_eq!(few.items, 500);
        // A first worker that stopped releases the reader.
        let mut many = Ahead::default();
        let stopped = Written::default();
        drop(WrittenMark(&stopped));
        for epoch in 0..10 {
            many.sent(epoch, AHEAD_ITEMS, &stopped);
        }
        assert_eq!(many.items, 0);
    }

    /// 8,000 refused connections, 100 a second, mapped; and their number.
    fn refused_map() -> (memmap2::Mmap, usize) {
        const N: u32 = 8_000;
        (
            capture::test_map(&capture::synthetic::refused_connections(N, 100)),
            N as usize,
        )
    }

    /// With `--jobs`, the first worker merges and writes: while the output is not taken (a
    /// pager, a slow pipe), the thread that then gets every new connection (the reader with two
    /// threads, another worker with more) stops within [`AHEAD_ITEMS`] connections of what was
    /// written, instead of holding the rest of the capture's results in memory.
    #[test]
    fn a_stalled_output_stops_the_other_threads() {
        let (map, n) = refused_map();
        // Every new connection to the reader (the first worker only sweeps and merges), or to
        // the second worker.
        let cases: [(usize, &str, Box<OwnerPolicy<'_>>); 2] = [
            (2, "the reader", Box::new(|i| choose_owner(i, 0))),
            (3, "the second worker", Box::new(|_| 1)),
        ];
        for (jobs, owner, mut choose) in cases {
            let rendered = AtomicUsize::new(0);
            let render = |_: Timeline, c: ConnReport| {
                rendered.fetch_add(1, Ordering::Relaxed);
                c.stream
            };
            let (mut emitted, mut ahead) = (0usize, None);
            let mut emit = |batch: Vec<Item<u64>>| {
                if ahead.is_none() {
                    // The consumer stops reading for a while (the others go on meanwhile),
                    // with this batch still to write.
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    ahead = Some(rendered.load(Ordering::Relaxed) - emitted);
                }
                emitted += batch.len();
            };
            let path = Path::new("refused.pcap");
            let out = parallel(path, &map, jobs, &mut *choose, None, &render, &mut emit)
                .map_err(|e| e.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((emitted, out.streams), (n, n as u64), "{owner}");
            // Without the wait, the owner goes on until the first worker's queue is full of
            // sweeps (3,300-3,400 connections ahead). With it, it stops once it has sent more
            // than `AHEAD_ITEMS` for sweeps not written: about 100 connections end per sweep,
            // the one being written, the one that went over, and one rendered before its part
            // was sent (1,100 measured in ten runs of each).
            let ahead = ahead.unwrap_or(usize::MAX);
            assert!(
                ahead <= AHEAD_ITEMS + 3 * 100,
                "{owner} ran {ahead} connections ahead of the output"
            );
        }
    }

    /// A thread that panics while the output is stalled (a worker that is not the first, or
    /// the reader) ends the run with its panic: no thread is left waiting for the output.
    #[test]
    fn a_panic_while_the_output_is_stalled_ends_the_run() {
        let (map, _) = refused_map();
        let cases: [(usize, &str, Box<OwnerPolicy<'_>>); 3] = [
            (3, "the second worker", Box::new(|_| 1)),
            (3, "the reader, with two workers", Box::new(|_| 2)),
            (2, "the reader", Box::new(|i| choose_owner(i, 0))),
        ];
        for (jobs, owner, mut choose) in cases {
            let rendered = AtomicUsize::new(0);
            let render = |_: Timeline, c: ConnReport| {
                if rendered.fetch_add(1, Ordering::Relaxed) == 2_000 {
                    panic!("a render that fails");
                }
                c.stream
            };
            let mut stalled = false;
            let mut emit = |_: Vec<Item<u64>>| {
                if !stalled {
                    stalled = true;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let path = Path::new("refused.pcap");
                parallel(path, &map, jobs, &mut *choose, None, &render, &mut emit).is_ok()
            }));
            assert!(run.is_err(), "{owner}: the panic did not end the run");
        }
    }

    /// A worker that dies while the reader waits for a sweep that needs its part: the reader is
    /// released and the run ends with the panic, instead of every thread waiting for ever.
    /// The reader owns nine new connections in ten and the second worker the tenth, whose
    /// render is slow, so the reader is soon more than `AHEAD_ITEMS` ahead of what is written
    /// and waits; the second worker then panics.
    #[test]
    fn a_worker_dying_while_the_reader_waits_ends_the_run() {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let map = capture::test_map(&capture::synthetic::refused_connections(30_000, 1_000));
            let mut turn = 0u32;
            let mut tenth_to_worker = move |_: &mut dyn Iterator<Item = usize>| {
                turn += 1;
                if turn % 10 == 1 { 1 } else { READER }
            };
            let render = |_: Timeline, c: ConnReport| {
                // Streams 0, 10, 20, ...: the second worker's.
                if c.stream.is_multiple_of(10) {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                    assert!(c.stream < 3_000, "the second worker fails");
                }
                c.stream
            };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let path = Path::new("refused.pcap");
                let mut emit = |_: Vec<Item<u64>>| {};
                parallel(
                    path,
                    &map,
                    3,
                    &mut tenth_to_worker,
                    None,
                    &render,
                    &mut emit,
                )
                .is_ok()
            }));
            let _ = done.send(run.is_err());
        });
        match finished.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(panicked) => assert!(panicked, "the run ended without the worker's panic"),
            Err(_) => panic!("the run did not end within 30 s of the worker's panic"),
        }
    }

    /// The first worker gets one range of pages at a time; the reader releases the others.
    #[test]
    fn pages_go_to_the_first_worker_one_range_at_a_time() {
        const P: usize = 4096;
        let map = capture::test_map(&[7u8; 4 * P]);
        let unreleased = AtomicUsize::new(0);
        let (to, ranges) = mpsc::channel();
        let handoff = PageHandoff {
            to,
            unreleased: &unreleased,
        };
        let mut returns = PageReturns {
            map: &map,
            ranges,
            unreleased: &unreleased,
        };
        assert!(handoff.offer(0, P));
        assert!(!handoff.offer(P, 2 * P), "the first is still pending");
        returns.release();
        assert_eq!(unreleased.load(Ordering::Acquire), 0);
        assert!(handoff.offer(2 * P, 3 * P), "released: room for the next");
        returns.release();
        assert_eq!(unreleased.load(Ordering::Acquire), 0);
        drop(returns);
        assert!(!handoff.offer(3 * P, 4 * P), "a worker that has stopped");
        assert_eq!(unreleased.load(Ordering::Acquire), 0);
        assert!(
            map.iter().all(|&b| b == 7),
            "released pages read back the same"
        );
    }

    /// The last sweep checked half on a helper thread gives the items of one thread, in the
    /// same order (the fixtures' connections, renumbered, are more than LAST_SPLIT_MIN).
    #[test]
    fn the_last_sweep_split_over_two_threads_gives_the_same_items() {
        let mut batch: Vec<Timeline> = Vec::new();
        for f in fixture_captures() {
            let _ = analyze_timelines(&f, &mut |t, _| batch.push(t.clone()));
        }
        while batch.len() < 2 * LAST_SPLIT_MIN + 1 {
            batch.extend_from_within(..);
        }
        for (i, t) in batch.iter_mut().enumerate() {
            t.stream = i as u64;
        }
        let line = |_: Timeline, c: ConnReport| format!("{c:?}");
        let items = |v: Vec<Item<String>>| -> Vec<String> {
            v.into_iter()
                .map(|i| match i {
                    Item::Done(c) => {
                        format!("{} {:?} {:?} {}", c.stream, c.observation, c.notes, c.out)
                    }
                    Item::Open(t) => format!("{} open", t.stream),
                })
                .collect()
        };
        let one = items(prechecked(batch.clone(), &Context::default(), &line));
        let split = items(prechecked_last(batch, &line));
        assert!(one.len() > LAST_SPLIT_MIN);
        assert!(one.iter().any(|l| !l.ends_with(" open")));
        assert_eq!(split, one);
    }

    /// A sweep's parts come out as one batch in stream order, whatever their number and sizes;
    /// a part out of order (which no thread sends) is sorted all the same.
    #[test]
    fn sweep_parts_merge_in_stream_order() {
        let mut one: Option<Timeline> = None;
        for f in fixture_captures() {
            let _ = analyze_timelines(&f, &mut |t, _| {
                one.get_or_insert_with(|| t.clone());
            });
        }
        let Some(one) = one else {
            panic!("no connection in the fixtures")
        };
        let item = |stream: u64| {
            let mut t = one.clone();
            t.stream = stream;
            Item::<()>::Open(Box::new(t))
        };
        let run = |streams: &[u64]| streams.iter().map(|&s| item(s)).collect::<Vec<_>>();
        let merged = |runs: Vec<Vec<Item<()>>>| -> Vec<u64> {
            merge_runs(runs).iter().map(Item::stream).collect()
        };
        assert_eq!(merged(vec![]), Vec::<u64>::new());
        assert_eq!(merged(vec![run(&[3, 5])]), [3, 5]);
        assert_eq!(merged(vec![run(&[]), run(&[7])]), [7]);
        assert_eq!(
            merged(vec![run(&[1, 4, 9]), run(&[2, 3, 10, 11]), run(&[0])]),
            [0, 1, 2, 3, 4, 9, 10, 11]
        );
        assert_eq!(merged(vec![run(&[5, 1]), run(&[3])]), [1, 3, 5]);
    }

    /// Worker 0, 1, ..., then the reader, in turn: every thread gets connections, whatever the
    /// timing.
    fn in_turn(workers: usize) -> Box<OwnerPolicy<'static>> {
        let mut turn = 0usize;
        Box::new(move |_| {
            turn = (turn + 1) % (workers + 1);
            u32::try_from(turn)
                .ok()
                .filter(|&w| (w as usize) < workers)
                .unwrap_or(READER)
        })
    }

    /// Worker 0, then owners that are no thread's (the worker count, u32::MAX - 2, u32::MAX):
    /// the reader must track those 4-tuples, not drop their packets.
    fn out_of_range(workers: usize) -> Box<OwnerPolicy<'static>> {
        let odd = [
            0,
            u32::try_from(workers).unwrap_or(0),
            u32::MAX - 2,
            u32::MAX,
        ];
        let mut turn = 0usize;
        Box::new(move |_| {
            turn = turn.wrapping_add(1);
            odd.get(turn % odd.len()).copied().unwrap_or(READER)
        })
    }

    /// What a worker gets back from a `Numbered` is what the reader numbered and decoded: a
    /// first packet as its frame (to decode again), any other as its fields and side; a link
    /// type outside 16 bits never decodes to TCP, so no packet of a worker's is lost to the
    /// narrowing.
    #[test]
    fn a_numbered_packet_carries_the_numbering() {
        let frame = capture::Frame {
            number: 7,
            time: Timestamp(9),
            linktype: 276,
            data: b"abcdef",
            orig_len: 3,
        };
        let seg = TcpSegment {
            src: "10.0.0.1:40000".parse().unwrap(),
            dst: "10.0.0.2:443".parse().unwrap(),
            body: TcpBody {
                seq: 0xdead_beef,
                ack: 0x0102_0304,
                flags: TcpFlags(
                    TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN | TcpFlags::RST | TcpFlags::PSH,
                ),
                window: 0xfffe,
                payload: &frame.data[4..],
                wire_len: 1 << 30,
                ttl: 255,
                ip_id: Some(0),
            },
        };
        let first = Assigned {
            stream: 1 << 40,
            new: true,
            slot: 5,
            owner: 1,
            side: 0,
        };
        let p = Numbered::new(&frame, &seg, first);
        assert_eq!(p.at, At::from(&frame));
        assert_eq!(p.id(1), first);
        assert!(p.is_new());
        assert_eq!((p.linktype, p.bytes), (276, &b"abcdef"[..]));
        for (side, ip_id) in [(1, Some(0)), (0, None), (1, Some(u16::MAX))] {
            let later = Assigned {
                new: false,
                side,
                ..first
            };
            let seg = TcpSegment {
                body: TcpBody { ip_id, ..seg.body },
                ..seg
            };
            let p = Numbered::new(&frame, &seg, later);
            assert_eq!(p.id(1), later);
            assert!(!p.is_new());
            assert_eq!(p.body(), seg.body);
            assert_eq!(p.bytes, b"ef");
        }
        // Every combination of the five flags comes back as it went, beside every mark.
        for f in 0..=Numbered::FLAGS {
            for side in [0, 1] {
                let later = Assigned {
                    new: false,
                    side,
                    ..first
                };
                let seg = TcpSegment {
                    body: TcpBody {
                        flags: TcpFlags(f),
                        ..seg.body
                    },
                    ..seg
                };
                let p = Numbered::new(&frame, &seg, later);
                assert_eq!((p.body(), p.id(1)), (seg.body, later), "flags {f:#x}");
            }
        }
        let tcp_in_raw_ip = [
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x9c, 0x40, 1, 0xbb,
            0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x10, 0, 0, 0, 0, 0,
        ];
        assert!(matches!(link::decode(101, &tcp_in_raw_ip), Decoded::Tcp(_)));
        for lt in [65_536, 65_637, i32::MAX, -1] {
            assert!(matches!(
                link::decode(lt, &tcp_in_raw_ip),
                Decoded::UnsupportedLink
            ));
        }
    }

    fn numbered(n: u64) -> Numbered<'static> {
        Numbered {
            bytes: &[],
            at: At {
                frame: n,
                time: Timestamp(0),
            },
            stream: 0,
            slot: 0,
            seq: 0,
            ack: 0,
            wire_len: 0,
            window: 0,
            linktype: 1,
            ip_id: 0,
            marks: 0,
            ttl: 0,
        }
    }

    /// What the reader may release follows the worker: the packets it gathers, the batches in
    /// flight, the batches the worker has finished.
    #[test]
    fn pages_are_in_use_until_the_worker_has_finished_their_batch() {
        let progress = Progress::default();
        let sent = [Sent::new()];
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (_back, spare) = mpsc::channel();
        let mut d = Dispatch {
            to: vec![tx],
            pending: vec![Vec::new()],
            spare,
            sent: &sent,
        };
        let lowest = || sent[0].lowest(&progress);
        // Nothing gathered, nothing sent: the worker reads nothing.
        assert_eq!(lowest(), usize::MAX);
        d.push(0, numbered(1), 1000);
        d.push(0, numbered(2), 1500);
        assert_eq!(lowest(), 1000, "the first packet gathered");
        d.send(0, 2000);
        assert_eq!(sent[0].batches.get(), 1);
        // In flight and not finished: everything the worker was ever sent may still be read.
        assert_eq!(lowest(), 0);
        d.push(0, numbered(3), 2500);
        assert_eq!(lowest(), 0);
        // The worker finishes the batch (as `worker` does).
        let Ok(ToWorker::Packets(list, sent_at)) = rx.try_recv() else {
            panic!("no batch sent")
        };
        assert_eq!((list.len(), sent_at), (2, 2000));
        progress.finish(sent_at);
        assert_eq!(lowest(), 2500, "only the packet gathered since");
        d.send(0, 3000);
        assert_eq!(lowest(), 2000, "the second batch is in flight");
        // A full batch goes at once.
        for i in 0..BATCH as u64 {
            d.push(0, numbered(10 + i), 4000 + i as usize);
        }
        assert_eq!(sent[0].batches.get(), 3);
        assert_eq!(sent[0].pending_from.get(), usize::MAX);
        // Sweeps and the end follow the packets gathered before them.
        d.push(0, numbered(9999), 9000);
        d.send_all(9100, || ToWorker::End(7));
        assert_eq!(sent[0].batches.get(), 4);
        let kinds: Vec<String> = rx
            .try_iter()
            .map(|m| match m {
                ToWorker::Packets(l, at) => format!("packets {} at {at}", l.len()),
                ToWorker::Sweep(e, _) => format!("sweep {e}"),
                ToWorker::End(e) => format!("end {e}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "packets 1 at 3000".to_string(),
                format!("packets {BATCH} at {}", 4000 + BATCH - 1),
                "packets 1 at 9100".to_string(),
                "end 7".to_string()
            ]
        );
    }
}
