//! Command-line interface: flags are defined once here (clap derive), with their docs.
//!
//! Exit status, for every command: **0** nothing at or above `--fail-on`; **1** a finding at or
//! above `--fail-on`; **2** a usage error or a file that could not be read (the other files'
//! results are still reported). `--fail-on` defaults to `error` for `scan` and `merge`, and to
//! `never` for `analyze` (which exits 0 whatever it finds unless asked).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analyze::{Options, analyze_rendered};
use crate::filter::{Filter, HostMatch, SniPattern, parse_rule};
use crate::merge::merge;
use crate::report::document::{self, Spool};
use crate::report::summary::{self, FileDigest, ShardInfo, Skip, Summary, render_human, summarize};
use crate::report::{FileReport, jsonl, markdown, table};

/// Output buffer: large writes keep the system-call count low on big reports.
const OUT_BUF: usize = 256 * 1024;
use crate::rules::Severity;
use crate::rules::registry::{RULES, RuleId, lookup, render_markdown, render_one};
use crate::scan::shard::Shard;
use crate::scan::walk::WalkOptions;
use crate::scan::{self, Done, ScanOptions};

/// tlsdiag reads packet captures and tells why TLS connections failed, with the frame
/// numbers that prove it.
#[derive(Debug, Parser)]
#[command(name = "tlsdiag", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 nothing at or above --fail-on, 1 findings at or above \
--fail-on, 2 usage error or a file that could not be read."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse capture files (pcap, pcapng, gzip-compressed or not; `-` reads stdin).
    Analyze {
        /// Capture files to analyse.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Show every connection in the human table (default: all when there are at most 40,
        /// else only those with findings).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Exit with status 1 when a finding is at or above this severity.
        #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = FailOn::Never)]
        fail_on: FailOn,
        /// Threads for one file: a reader numbers the packets and N-1 workers own the
        /// connections and check them (the reader takes new connections itself while every
        /// worker has a backlog); the first worker also merges, renders and writes. The output is
        /// identical whatever N. Applies to uncompressed pcap and pcapng files (gzip and stdin
        /// are read by one thread). More than 256 counts as 256.
        #[arg(short, long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
        /// NSS key log (`SSLKEYLOGFILE`) to decrypt TLS 1.2 (AES-GCM, ChaCha20) and TLS 1.3
        /// sessions with: certificates, alerts and HTTP inside become visible. Without it, a
        /// key log beside the capture (`trace.keylog` for `trace.pcap`) is used if present.
        #[arg(long, value_name = "FILE")]
        keylog: Option<PathBuf>,
    },
    /// Scan files and directories of captures (recursively; `-` reads stdin) in parallel and
    /// write one report: files are recognised by their first bytes (pcap, pcapng, gzip).
    Scan {
        /// Files and directories to scan.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = BatchFormat::Human)]
        format: BatchFormat,
        /// Write the report to FILE (atomically: a temporary file renamed into place).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Files analysed at the same time (default: one per core; more than 256 counts as 256).
        #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Descend at most N directories below each PATH (0: only PATH itself).
        #[arg(long, value_name = "N")]
        max_depth: Option<usize>,
        /// Also scan hidden files and directories (names starting with `.`).
        #[arg(long)]
        hidden: bool,
        /// Follow symbolic links inside directories (loops are detected and skipped).
        #[arg(short = 'L', long)]
        follow: bool,
        /// Scan only the K-th of N deterministic slices of the file list (K from 1 to N), to
        /// split an archive across machines; `tlsdiag merge` combines the reports.
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
        /// No progress bar (it is drawn only when stderr is a terminal).
        #[arg(short, long)]
        quiet: bool,
        /// Human and Markdown formats: list every file with findings, every finding and every
        /// skipped path (default: the worst 20 files, 5 findings a file (Markdown: 10), 10
        /// skipped paths).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
        /// Exit with status 1 when a finding is at or above this severity.
        #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = FailOn::Error)]
        fail_on: FailOn,
    },
    /// Combine JSON reports (`scan --format json`, e.g. one per --shard) into one.
    Merge {
        /// JSON reports to combine (`-` reads stdin).
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = BatchFormat::Json)]
        format: BatchFormat,
        /// Write the report to FILE (atomically: a temporary file renamed into place).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Human and Markdown formats: list every file with findings, every finding and every
        /// skipped path (default: the worst 20 files, 5 findings a file (Markdown: 10), 10
        /// skipped paths).
        #[arg(long)]
        all: bool,
        /// Exit with status 1 when a finding is at or above this severity.
        #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = FailOn::Error)]
        fail_on: FailOn,
    },
    /// List every rule (id, severity, title).
    Rules {
        /// Print docs/rules.md (the full catalogue in Markdown).
        #[arg(long)]
        markdown: bool,
    },
    /// Print the full text of one rule: explanation, fix and known problems.
    Explain {
        /// A rule id, e.g. missing_sni.
        id: String,
    },
}

/// Filters shared by `analyze` and `scan`.
#[derive(Debug, Default, Args)]
pub struct FilterArgs {
    /// Only connections whose SNI matches PATTERN (`*` matches any characters; case-insensitive;
    /// repeat for alternatives). Connections without SNI never match.
    #[arg(long, value_name = "PATTERN")]
    sni: Vec<String>,
    /// Only connections from or to this address or network (`10.0.0.0/8`; repeatable).
    #[arg(long, value_name = "IP", value_parser = HostMatch::parse)]
    host: Vec<HostMatch>,
    /// Only connections from or to this TCP port (repeatable).
    #[arg(long, value_name = "N")]
    port: Vec<u16>,
    /// Only findings of this rule (`tlsdiag rules` lists them; repeatable).
    #[arg(long, value_name = "ID", value_parser = parse_rule)]
    rule: Vec<RuleId>,
    /// Hide findings below this severity.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    min_severity: Option<SeverityArg>,
}

impl FilterArgs {
    fn build(&self) -> Filter {
        Filter {
            sni: self.sni.iter().map(|p| SniPattern::new(p)).collect(),
            hosts: self.host.clone(),
            ports: self.port.clone(),
            rules: self.rule.clone(),
            min_severity: self.min_severity.map(SeverityArg::severity),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Summary, table of connections and findings with explanation, fix and evidence.
    Human,
    /// One JSON document (see docs/json.md).
    Json,
    /// One JSON object per connection per line, written as connections finish.
    Jsonl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BatchFormat {
    /// Totals, findings by rule, the worst files with their findings, errors, skipped files.
    Human,
    /// One JSON document: the `analyze` schema plus `summary` and `skipped` (docs/json.md).
    Json,
    /// One JSON object per finding (and per unreadable file) per line, in path order.
    Jsonl,
    /// A ticket-ready report: per affected file the causes, evidence and Wireshark filter.
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Info,
    Warning,
    Error,
}

impl SeverityArg {
    fn severity(self) -> Severity {
        match self {
            SeverityArg::Info => Severity::Info,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Error => Severity::Error,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    /// Exit 0 whatever the findings.
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }
}

/// Runs the command and returns its exit status (see the module doc).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Rules { markdown } => {
            let mut out = io::BufWriter::with_capacity(OUT_BUF, io::stdout().lock());
            if markdown {
                out.write_all(render_markdown().as_bytes())?;
            } else {
                for m in RULES {
                    writeln!(out, "{:<26} {:<8} {}", m.name, m.severity.as_str(), m.title)?;
                }
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { id } => match lookup(&id) {
            Some(m) => {
                let mut out = io::stdout().lock();
                out.write_all(render_one(m, "#").as_bytes())?;
                out.flush()?;
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("tlsdiag: unknown rule `{id}`; `tlsdiag rules` lists them");
                Ok(ExitCode::from(2))
            }
        },
        Command::Analyze {
            files,
            format,
            all,
            filter,
            fail_on,
            jobs,
            keylog,
        } => analyze(
            &files,
            format,
            all,
            &filter.build(),
            fail_on.threshold(),
            &Options {
                jobs: usize::from(jobs),
                keylog,
            },
        ),
        Command::Scan {
            paths,
            format,
            output,
            jobs,
            max_depth,
            hidden,
            follow,
            shard,
            quiet,
            all,
            filter,
            fail_on,
        } => {
            if shard.is_some() && paths.iter().any(|p| p.as_os_str() == "-") {
                eprintln!(
                    "tlsdiag: --shard cannot split standard input (`-`); name files or directories"
                );
                return Ok(ExitCode::from(2));
            }
            let opts = ScanOptions {
                walk: WalkOptions {
                    max_depth,
                    hidden,
                    follow,
                },
                jobs: jobs.map_or(0, usize::from),
                shard,
                filter: filter.build(),
                progress: !quiet && io::stderr().is_terminal(),
            };
            let batch = Batch {
                format,
                all,
                fail_on: fail_on.threshold(),
            };
            let mut out = Output::open(output.as_deref())?;
            let status = batch.scan(&paths, &opts, &mut out)?;
            out.finish()?;
            Ok(ExitCode::from(status))
        }
        Command::Merge {
            reports,
            format,
            output,
            all,
            fail_on,
        } => {
            let mut m = merge(&reports, format == BatchFormat::Json).map_err(anyhow::Error::msg)?;
            for p in &m.problems {
                eprintln!("tlsdiag: merge: {p}");
            }
            let batch = Batch {
                format,
                all,
                fail_on: fail_on.threshold(),
            };
            let mut s = summarize(&m.digests, &m.skipped, batch.fail_on, None);
            s.missing_shards.clone_from(&m.missing_shards);
            if !m.problems.is_empty() {
                s.exit_status = 2;
            }
            let mut out = Output::open(output.as_deref())?;
            batch.write(&mut out, &s, &m.digests, &mut m.files, &m.skipped)?;
            out.finish()?;
            Ok(ExitCode::from(s.exit_status))
        }
    }
}

/// `analyze`: exit 2 when a file could not be read, else 1 when a finding is at or above
/// `fail_on`, else 0.
fn analyze(
    files: &[PathBuf],
    format: Format,
    all: bool,
    filter: &Filter,
    fail_on: Option<Severity>,
    opts: &Options,
) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::with_capacity(OUT_BUF, io::stdout().lock());
    let mut failed = false;
    let mut worst: Option<Severity> = None;
    match format {
        Format::Human => {
            for (i, path) in files.iter().enumerate() {
                // Streamed into a digest: only what the report shows is kept in full.
                let mut digest = table::Digest::new(all);
                let r = match analyze_rendered(path, opts, &|_, c| filter.conn(c), &mut |c| {
                    if let Some(c) = c {
                        digest.add(c);
                    }
                }) {
                    Ok(r) => r,
                    Err(e) => FileReport {
                        path: path.display().to_string(),
                        error: Some(e.to_string()),
                        ..FileReport::default()
                    },
                };
                failed |= r.error.is_some();
                worst = worst.max(digest.worst());
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(table::render(&r, &digest).as_bytes())?;
                out.flush()?;
            }
        }
        Format::Json => {
            // Each file's connections go to a spool as they are finalised, and come out in
            // stream order after the file's counters (see report::document).
            let mut doc = document::DocumentWriter::begin(&mut out)?;
            let mut spool = document::Spool::default();
            for path in files {
                let (res, write_err) =
                    write_kept(path, opts, filter, &mut worst, &mut |c| spool.push(c));
                if let Some(e) = spool.take_file_error() {
                    eprintln!(
                        "tlsdiag: no temporary file for the JSON document ({e}); its connections are kept in memory"
                    );
                }
                if let Some(e) = write_err {
                    return Err(anyhow::Error::new(e).context(format!(
                        "spooling the JSON report of {} (in {})",
                        path.display(),
                        std::env::temp_dir().display()
                    )));
                }
                let r = match res {
                    Ok(r) => r,
                    Err(e) => {
                        // As before: a file that cannot be read lists no connections.
                        spool.discard()?;
                        FileReport {
                            path: path.display().to_string(),
                            error: Some(e.to_string()),
                            ..FileReport::default()
                        }
                    }
                };
                failed |= r.error.is_some();
                doc.file(&r, &mut spool)?;
            }
            doc.finish()?;
        }
        Format::Jsonl => {
            // Lines are written here, straight into one buffer that goes to stdout whenever it
            // holds OUT_BUF bytes: a line rendered on a worker had to cross to this thread's core
            // in its own buffer, and that buffer back (see docs/performance-history.md).
            let mut buf: Vec<u8> = Vec::with_capacity(OUT_BUF + 4096);
            for path in files {
                let p = jsonl::PathJson::new(&path.display().to_string());
                let (res, write_err) = write_kept(path, opts, filter, &mut worst, &mut |c| {
                    let start = buf.len();
                    if let Err(e) = jsonl::write_conn(&mut buf, c, Some(&p)) {
                        buf.truncate(start);
                        return Err(e.into());
                    }
                    buf.push(b'\n');
                    if buf.len() >= OUT_BUF {
                        let written = out.write_all(&buf);
                        buf.clear();
                        written?;
                    }
                    Ok(())
                });
                out.write_all(&buf)?;
                buf.clear();
                if let Some(e) = write_err {
                    return Err(e.into());
                }
                if let Err(e) = res {
                    failed = true;
                    out.flush()?;
                    eprintln!("tlsdiag: {e}");
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::from(if failed {
        2
    } else if worst.is_some_and(|w| fail_on.is_some_and(|t| w >= t)) {
        1
    } else {
        0
    }))
}

/// Analyses `path` and hands each connection the filter keeps to `write` (on this thread, in
/// the order of [`analyze_rendered`]), raising `worst` to its worst finding. After `write`'s
/// first error the remaining connections are skipped; that error comes back beside the
/// analysis' result.
fn write_kept(
    path: &Path,
    opts: &Options,
    filter: &Filter,
    worst: &mut Option<Severity>,
    write: &mut dyn FnMut(&crate::report::ConnReport) -> io::Result<()>,
) -> (
    Result<FileReport, crate::capture::CaptureError>,
    Option<io::Error>,
) {
    let mut write_err: Option<io::Error> = None;
    let res = analyze_rendered(path, opts, &|_, c| filter.conn(c), &mut |c| {
        let Some(c) = c else { return };
        if write_err.is_some() {
            return;
        }
        *worst = (*worst).max(c.worst());
        if let Err(e) = write(&c) {
            write_err = Some(e);
        }
    });
    (res, write_err)
}

/// How a batch (`scan`, `merge`) is reported.
struct Batch {
    format: BatchFormat,
    all: bool,
    fail_on: Option<Severity>,
}

impl Batch {
    /// Scans and writes the report; returns the exit status.
    fn scan(&self, paths: &[PathBuf], opts: &ScanOptions, out: &mut Output) -> anyhow::Result<u8> {
        let items = scan::plan(paths, opts);
        let shard = opts.shard.map(|s| ShardInfo {
            index: s.index,
            count: s.count,
        });
        let mut digests: Vec<FileDigest> = Vec::new();
        let mut skipped: Vec<Skip> = Vec::new();
        let stream = self.format == BatchFormat::Jsonl;
        // `--format json`: each file's object goes to a spool as soon as the file is done.
        let files_json = (self.format == BatchFormat::Json).then(|| Mutex::new(Spool::default()));
        scan::run(
            &items,
            opts,
            files_json.as_ref(),
            &mut |done| -> anyhow::Result<()> {
                match done {
                    Done::File { mut digest } => {
                        if stream {
                            for line in summary::lines(&digest) {
                                serde_json::to_writer(&mut *out, &line)?;
                                writeln!(out)?;
                            }
                            // A consumer (`| jq`, a bot) sees each file as soon as it is done.
                            out.flush()?;
                            // Only what the exit status needs.
                            digest
                                .findings
                                .retain(|f| self.fail_on.is_some_and(|t| f.severity >= t));
                            digest.findings.truncate(1);
                        }
                        digests.push(digest);
                    }
                    Done::Skipped(k) => skipped.push(k),
                    Done::Fatal(e) => anyhow::bail!(e),
                }
                Ok(())
            },
        )?;
        let s = summarize(&digests, &skipped, self.fail_on, shard);
        if !stream {
            let mut files = files_json
                .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
                .unwrap_or_default();
            self.write(out, &s, &digests, &mut files, &skipped)?;
        }
        Ok(s.exit_status)
    }

    /// Writes a whole report (every format but a streamed scan's JSONL).
    fn write(
        &self,
        out: &mut Output,
        s: &Summary,
        digests: &[FileDigest],
        files_json: &mut Spool,
        skipped: &[Skip],
    ) -> anyhow::Result<()> {
        match self.format {
            BatchFormat::Human => {
                out.write_all(render_human(s, digests, skipped, self.all).as_bytes())?
            }
            BatchFormat::Markdown => {
                out.write_all(markdown::render(s, digests, skipped, self.all).as_bytes())?
            }
            BatchFormat::Json => {
                if let Some(e) = files_json.take_file_error() {
                    eprintln!(
                        "tlsdiag: no temporary file for the JSON report ({e}); its files were kept in memory"
                    );
                }
                document::write_batch_document(&mut *out, s, files_json, skipped)
                    .context("writing the JSON report")?
            }
            BatchFormat::Jsonl => {
                for d in digests {
                    for line in summary::lines(d) {
                        serde_json::to_writer(&mut *out, &line)?;
                        writeln!(out)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Where a batch report goes: stdout, or a temporary file beside `--output` that is renamed
/// over it once the report is complete (so a reader never sees half a report, and a failed
/// run leaves the previous report in place).
enum Output {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    File {
        tmp: io::BufWriter<tempfile::NamedTempFile>,
        target: PathBuf,
    },
}

impl Output {
    fn open(target: Option<&Path>) -> anyhow::Result<Output> {
        let Some(target) = target else {
            return Ok(Output::Stdout(io::BufWriter::new(io::stdout().lock())));
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tlsdiag-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(Output::File {
            tmp: io::BufWriter::new(tmp),
            target: target.to_path_buf(),
        })
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush()?,
            Output::File { tmp, target } => {
                let name = target.display();
                let tmp = tmp
                    .into_inner()
                    .map_err(io::IntoInnerError::into_error)
                    .with_context(|| format!("cannot write {name}"))?;
                tmp.as_file()
                    .sync_all()
                    .with_context(|| format!("cannot write {name}"))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    // A new report is readable like any file (the temporary file is 0600);
                    // an existing one keeps its mode.
                    let perms = std::fs::metadata(&target)
                        .map(|m| m.permissions())
                        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
                    tmp.as_file()
                        .set_permissions(perms)
                        .with_context(|| format!("cannot write {name}"))?;
                }
                tmp.persist(&target)
                    .map_err(|e| e.error)
                    .with_context(|| format!("cannot move the report into place at {name}"))?;
            }
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File { tmp, .. } => tmp.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File { tmp, .. } => tmp.flush(),
        }
    }
}
