//! The batch model behind `scan` and `merge`: many files, one report.
//!
//! Each file is rendered as its JSON file object (the `analyze` schema of [`super::json`],
//! plus `size`), and everything else is computed from what those objects say: a [`FileDigest`]
//! per file (what the summaries need: counts, errors, findings), the [`Summary`], the human
//! summary, the JSONL finding lines and the Markdown report. `merge` reads the same objects
//! back from JSON reports, so a merge of shards and the unsharded scan go through one code
//! path and print the same bytes. A scan never holds a file's connections: it reads the file
//! object without them, and each connection's object as it is finalised
//! ([`FileDigest::add_conn`]); with `--format json` the objects go to a spool
//! ([`super::document`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::FileReport;
use super::json::{TOOL, Tool};
use crate::rules::Severity;
use crate::rules::registry::lookup;

/// One finding as the batch reports need it.
#[derive(Clone, Debug, PartialEq)]
pub struct FindingDigest {
    pub stream: u64,
    pub client: String,
    pub server: String,
    pub sni: Option<String>,
    pub rule: String,
    pub severity: Severity,
    pub summary: String,
    pub frames: Vec<u64>,
    pub time: f64,
    pub evidence: String,
    pub filter: String,
}

/// One file as the batch reports need it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileDigest {
    pub path: String,
    pub size: Option<u64>,
    pub format: Option<String>,
    pub compressed: bool,
    pub packets: u64,
    pub connections: u64,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// Worst first, then by stream and first frame.
    pub findings: Vec<FindingDigest>,
}

/// A path that was not analysed (not a capture, a link not followed, a link loop).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skip {
    pub path: String,
    pub reason: String,
}

#[derive(Deserialize)]
struct InFile {
    path: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    compressed: bool,
    #[serde(default)]
    packets: u64,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    connections: Vec<InConn>,
}

#[derive(Deserialize)]
struct InConn {
    stream: u64,
    #[serde(default)]
    client: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    sni: Option<String>,
    #[serde(default)]
    findings: Vec<InFinding>,
}

#[derive(Deserialize)]
struct InFinding {
    rule: String,
    severity: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    frames: Vec<u64>,
    #[serde(default)]
    time: f64,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    filter: String,
}

/// The JSON file object of a report: the `analyze` schema plus `size` (bytes on disk; null
/// for standard input and pipes), right after `path`.
pub fn file_value(r: &FileReport, size: Option<u64>) -> Result<Value, serde_json::Error> {
    let mut v = serde_json::to_value(super::json::file(r))?;
    if let Value::Object(m) = &mut v {
        m.shift_insert(1, "size".into(), size.map_or(Value::Null, Value::from));
    }
    Ok(v)
}

impl FileDigest {
    /// Reads a JSON file object (from this run or from a report being merged).
    pub fn from_json(v: &Value) -> Result<FileDigest, String> {
        let f = InFile::deserialize(v).map_err(|e| format!("not a tlsdiag file object: {e}"))?;
        let mut d = FileDigest {
            path: f.path,
            size: f.size,
            format: f.format,
            compressed: f.compressed,
            packets: f.packets,
            connections: 0,
            warnings: f.warnings,
            error: f.error,
            findings: Vec::new(),
        };
        for c in f.connections {
            d.add(c)?;
        }
        d.sort_findings();
        Ok(d)
    }

    /// Adds one connection of the file, as it is analysed (a scan does not keep the file's
    /// connections): read from its JSON object as [`FileDigest::from_json`] reads it, so that a
    /// scan and a merge of its report agree. Call [`FileDigest::sort_findings`] once all are in.
    pub fn add_conn(&mut self, c: &super::ConnReport) -> Result<(), String> {
        if c.findings.is_empty() {
            // All a connection without findings gives.
            self.connections += 1;
            return Ok(());
        }
        // The caller names the file.
        let v = serde_json::to_value(super::json::conn(c, None))
            .map_err(|e| format!("cannot render the report: {e}"))?;
        let c =
            InConn::deserialize(v).map_err(|e| format!("not a tlsdiag connection object: {e}"))?;
        self.add(c)
    }

    /// Adds one connection given as its JSON object (from a report being merged).
    pub fn add_conn_json(&mut self, v: &Value) -> Result<(), String> {
        let c = InConn::deserialize(v).map_err(|e| format!("not a tlsdiag file object: {e}"))?;
        self.add(c)
    }

    fn add(&mut self, c: InConn) -> Result<(), String> {
        self.connections += 1;
        for x in c.findings {
            let severity = Severity::parse(&x.severity).ok_or_else(|| {
                format!(
                    "{}: tcp.stream {}: unknown severity `{}`",
                    self.path, c.stream, x.severity
                )
            })?;
            self.findings.push(FindingDigest {
                stream: c.stream,
                client: c.client.clone(),
                server: c.server.clone(),
                sni: c.sni.clone(),
                rule: x.rule,
                severity,
                summary: x.summary,
                frames: x.frames,
                time: x.time,
                evidence: x.evidence,
                filter: x.filter,
            });
        }
        Ok(())
    }

    /// Worst first, then by stream and first frame (a connection's findings in their order).
    pub fn sort_findings(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.stream.cmp(&b.stream))
                .then(a.frames.first().cmp(&b.frames.first()))
        });
    }

    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// Error, warning and info counts: compared in that order, the larger is the worse file.
    pub fn badness(&self) -> [usize; 3] {
        [
            self.count(Severity::Error),
            self.count(Severity::Warning),
            self.count(Severity::Info),
        ]
    }
}

/// Findings per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl Counts {
    fn of(f: &FileDigest) -> Counts {
        let [error, warning, info] = f.badness();
        Counts {
            error,
            warning,
            info,
        }
    }
    fn total(&self) -> usize {
        self.error + self.warning + self.info
    }
}

/// One (rule, severity) pair of the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub severity: &'static str,
    pub findings: usize,
    pub files: usize,
}

/// One file with findings, in the summary's worst-first list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileCount {
    pub path: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub connections: u64,
}

/// The shard a report covers (`--shard K/N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u64,
    pub count: u64,
}

/// The `summary` object of a scan or merge report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Files examined: read, unreadable and skipped.
    pub files: usize,
    /// Files read as captures (gzip-compressed ones included).
    pub captures: usize,
    pub compressed: usize,
    /// Files that could not be read (each has an `error`).
    pub errors: usize,
    /// Files with warnings (a damaged or truncated tail, unsupported link types…).
    pub warnings: usize,
    pub skipped: usize,
    /// Bytes on disk of the files read (standard input and pipes not counted).
    pub bytes: u64,
    pub packets: u64,
    pub connections: u64,
    pub findings: Counts,
    pub files_with_findings: usize,
    /// Worst severity first, then most findings, then rule id.
    pub rules: Vec<RuleCount>,
    /// Every file with findings, worst first (most errors, then warnings, then infos; then path).
    pub worst_files: Vec<FileCount>,
    /// `error`, `warning`, `info` or `never`.
    pub fail_on: &'static str,
    /// The exit status of the run: 2 when a file could not be read (or shards are missing), else
    /// 1 when a finding is at or above `fail_on`, else 0.
    pub exit_status: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// `merge` only: shards of the same N that none of the merged reports covers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_shards: Vec<u64>,
}

/// The name of a `--fail-on` threshold (`None` is `never`).
pub fn fail_on_name(fail_on: Option<Severity>) -> &'static str {
    fail_on.map_or("never", Severity::as_str)
}

/// 2 when a file could not be read, else 1 when a finding is at or above `fail_on`, else 0.
pub fn exit_status(files: &[FileDigest], fail_on: Option<Severity>) -> u8 {
    if files.iter().any(|f| f.error.is_some()) {
        2
    } else if fail_on.is_some_and(|t| {
        files
            .iter()
            .any(|f| f.findings.iter().any(|x| x.severity >= t))
    }) {
        1
    } else {
        0
    }
}

/// Computes the summary of a batch.
pub fn summarize(
    files: &[FileDigest],
    skipped: &[Skip],
    fail_on: Option<Severity>,
    shard: Option<ShardInfo>,
) -> Summary {
    let mut rules: BTreeMap<(String, Severity), (usize, usize)> = BTreeMap::new();
    let mut findings = Counts::default();
    for f in files {
        let c = Counts::of(f);
        findings.error += c.error;
        findings.warning += c.warning;
        findings.info += c.info;
        let mut seen: Vec<(&str, Severity)> = Vec::new();
        for x in &f.findings {
            let e = rules.entry((x.rule.clone(), x.severity)).or_default();
            e.0 += 1;
            if !seen.contains(&(x.rule.as_str(), x.severity)) {
                seen.push((x.rule.as_str(), x.severity));
                e.1 += 1;
            }
        }
    }
    let mut rules: Vec<RuleCount> = rules
        .into_iter()
        .map(|((rule, sev), (n, files))| RuleCount {
            rule,
            severity: sev.as_str(),
            findings: n,
            files,
        })
        .collect();
    let rank = |s: &str| Severity::parse(s);
    rules.sort_by(|a, b| {
        rank(b.severity)
            .cmp(&rank(a.severity))
            .then(b.findings.cmp(&a.findings))
            .then(a.rule.cmp(&b.rule))
    });
    let mut worst: Vec<&FileDigest> = files.iter().filter(|f| !f.findings.is_empty()).collect();
    worst.sort_by(|a, b| b.badness().cmp(&a.badness()).then(a.path.cmp(&b.path)));
    let read: Vec<&FileDigest> = files.iter().filter(|f| f.error.is_none()).collect();
    Summary {
        files: files.len() + skipped.len(),
        captures: read.len(),
        compressed: read.iter().filter(|f| f.compressed).count(),
        errors: files.len() - read.len(),
        warnings: read.iter().filter(|f| !f.warnings.is_empty()).count(),
        skipped: skipped.len(),
        bytes: read.iter().filter_map(|f| f.size).sum(),
        packets: read.iter().map(|f| f.packets).sum(),
        connections: read.iter().map(|f| f.connections).sum(),
        findings,
        files_with_findings: worst.len(),
        rules,
        worst_files: worst
            .iter()
            .map(|f| FileCount {
                path: f.path.clone(),
                counts: Counts::of(f),
                connections: f.connections,
            })
            .collect(),
        fail_on: fail_on_name(fail_on),
        exit_status: exit_status(files, fail_on),
        shard,
        missing_shards: Vec::new(),
    }
}

/// The `--format json` document of `scan` and `merge`: the `analyze` document plus `summary`
/// and `skipped`.
#[derive(Serialize)]
pub struct BatchDocument<'a> {
    pub tool: Tool,
    pub summary: &'a Summary,
    pub files: &'a [Value],
    pub skipped: &'a [Skip],
}

impl<'a> BatchDocument<'a> {
    pub fn new(summary: &'a Summary, files: &'a [Value], skipped: &'a [Skip]) -> Self {
        BatchDocument {
            tool: TOOL,
            summary,
            files,
            skipped,
        }
    }
}

/// One line of `--format jsonl`: a finding, or a file that could not be read.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line<'a> {
    Finding {
        path: &'a str,
        stream: u64,
        rule: &'a str,
        severity: &'static str,
        frames: &'a [u64],
        time: f64,
        evidence: &'a str,
        filter: &'a str,
        client: &'a str,
        server: &'a str,
        sni: Option<&'a str>,
        summary: &'a str,
    },
    Error {
        path: &'a str,
        error: &'a str,
    },
}

/// The JSONL lines of one file: one per finding (worst first), or one error line.
pub fn lines(f: &FileDigest) -> Vec<Line<'_>> {
    if let Some(e) = &f.error {
        return vec![Line::Error {
            path: &f.path,
            error: e,
        }];
    }
    f.findings
        .iter()
        .map(|x| Line::Finding {
            path: &f.path,
            stream: x.stream,
            rule: &x.rule,
            severity: x.severity.as_str(),
            frames: &x.frames,
            time: x.time,
            evidence: &x.evidence,
            filter: &x.filter,
            client: &x.client,
            server: &x.server,
            sni: x.sni.as_deref(),
            summary: &x.summary,
        })
        .collect()
}

/// Replaces control characters (a capture's SNI, a file name) so that a report cannot move the
/// cursor or recolour a terminal.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `1.4 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `frame 6` or `frames 25, 27` (the first 12, then `(+N more)`).
pub fn frame_list(list: &[u64]) -> String {
    let shown: Vec<String> = list.iter().take(12).map(u64::to_string).collect();
    let more = list.len().saturating_sub(shown.len());
    format!(
        "{} {}{}",
        if list.len() == 1 { "frame" } else { "frames" },
        shown.join(", "),
        if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        }
    )
}

/// The reason of a file's error without the path it starts with (for lists keyed by path).
pub fn error_reason(f: &FileDigest) -> &str {
    let e = f.error.as_deref().unwrap_or_default();
    e.strip_prefix(f.path.as_str())
        .and_then(|r| r.strip_prefix(": "))
        .unwrap_or(e)
}

/// How many files the human summary details before `--all` is needed.
pub const WORST_SHOWN: usize = 20;
/// How many findings of one file the human summary shows before `--all` is needed.
pub const FINDINGS_SHOWN: usize = 5;
/// How many skipped paths the human and Markdown reports list before `--all` is needed.
pub const SKIPPED_SHOWN: usize = 10;

/// The first `limit` items of `list` (all of them when `all`), and how many are left out.
pub fn shown<T>(list: &[T], limit: usize, all: bool) -> (&[T], usize) {
    let n = if all {
        list.len()
    } else {
        list.len().min(limit)
    };
    (list.get(..n).unwrap_or(list), list.len() - n)
}

/// The human summary: totals, findings by rule, the worst files with their findings, the files
/// that could not be read, the warnings and the skipped paths.
pub fn render_human(s: &Summary, files: &[FileDigest], skipped: &[Skip], all: bool) -> String {
    let mut o = String::new();
    let mut head = format!(
        "tlsdiag scan: {} read",
        plural(s.captures, "capture", "captures")
    );
    if s.compressed > 0 {
        let _ = write!(head, " ({} gzip)", s.compressed);
    }
    if s.errors > 0 {
        let _ = write!(head, ", {} could not be read", s.errors);
    }
    if s.skipped > 0 {
        let _ = write!(head, ", {} skipped", s.skipped);
    }
    if s.bytes > 0 {
        let _ = write!(head, " · {}", bytes(s.bytes));
    }
    let _ = write!(
        head,
        " · {} · {}",
        plural(s.packets as usize, "packet", "packets"),
        plural(s.connections as usize, "TCP connection", "TCP connections")
    );
    if let Some(sh) = s.shard {
        let _ = write!(head, " · shard {}/{}", sh.index, sh.count);
    }
    let _ = writeln!(o, "{head}");
    if s.findings.total() == 0 {
        let _ = writeln!(o, "no findings");
    } else {
        let _ = writeln!(
            o,
            "findings: {} error, {} warning, {} info, in {} of {}",
            s.findings.error,
            s.findings.warning,
            s.findings.info,
            s.files_with_findings,
            plural(s.captures, "capture", "captures")
        );
        let _ = writeln!(o, "\nby rule:");
        let width = s.rules.iter().map(|r| r.rule.len()).max().unwrap_or(0);
        for r in &s.rules {
            let _ = writeln!(
                o,
                "  {:<width$}  {:<7}  {:>5} in {}",
                clean(&r.rule),
                r.severity,
                r.findings,
                plural(r.files, "file", "files")
            );
        }
        let _ = writeln!(o, "\nworst files first:");
        let by_path: BTreeMap<&str, &FileDigest> =
            files.iter().map(|f| (f.path.as_str(), f)).collect();
        let (worst, more_files) = shown(&s.worst_files, WORST_SHOWN, all);
        for w in worst {
            let Some(f) = by_path.get(w.path.as_str()) else {
                continue;
            };
            let _ = writeln!(
                o,
                "  {} · {} error, {} warning, {} info · {}",
                clean(&f.path),
                w.counts.error,
                w.counts.warning,
                w.counts.info,
                plural(f.connections as usize, "connection", "connections")
            );
            let (list, more) = shown(&f.findings, FINDINGS_SHOWN, all);
            for x in list {
                let _ = writeln!(
                    o,
                    "    [{}] {} · {} · {}",
                    x.severity.as_str(),
                    clean(&x.rule),
                    clean(&x.filter),
                    frame_list(&x.frames)
                );
                let _ = writeln!(o, "        {}", clean(&x.summary));
            }
            if more > 0 {
                let _ = writeln!(
                    o,
                    "    (+{more} more: --all, or tlsdiag analyze {})",
                    clean(&f.path)
                );
            }
        }
        if more_files > 0 {
            let _ = writeln!(
                o,
                "  ({more_files} more files with findings: --all lists them)"
            );
        }
    }
    let errors: Vec<&FileDigest> = files.iter().filter(|f| f.error.is_some()).collect();
    if !errors.is_empty() {
        let _ = writeln!(o, "\ncould not be read ({}):", errors.len());
        for f in errors {
            let _ = writeln!(o, "  {}", clean(f.error.as_deref().unwrap_or_default()));
        }
    }
    let warned: Vec<&FileDigest> = files.iter().filter(|f| !f.warnings.is_empty()).collect();
    if !warned.is_empty() {
        let _ = writeln!(o, "\nwarnings ({}):", plural(warned.len(), "file", "files"));
        for f in warned {
            for w in &f.warnings {
                let _ = writeln!(o, "  {}: {}", clean(&f.path), clean(w));
            }
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(o, "\nskipped ({}):", skipped.len());
        let (list, more) = shown(skipped, SKIPPED_SHOWN, all);
        for k in list {
            let _ = writeln!(o, "  {}: {}", clean(&k.path), clean(&k.reason));
        }
        if more > 0 {
            let _ = writeln!(o, "  (+{more} more: --all or --format json lists them)");
        }
    }
    o
}

/// The rule's title, when this version knows the rule.
pub fn rule_title(rule: &str) -> Option<&'static str> {
    lookup(rule).map(|m| m.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(path: &str, sevs: &[Severity], error: Option<&str>) -> FileDigest {
        FileDigest {
            path: path.into(),
            error: error.map(Into::into),
            connections: 1,
            findings: sevs
                .iter()
                .enumerate()
                .map(|(i, &severity)| FindingDigest {
                    stream: i as u64,
                    client: "10.0.0.1:5000".into(),
                    server: "10.0.0.2:443".into(),
                    sni: None,
                    rule: "tls_alert".into(),
                    severity,
                    summary: "s".into(),
                    frames: vec![1],
                    time: 0.0,
                    evidence: "seen".into(),
                    filter: format!("tcp.stream eq {i}"),
                })
                .collect(),
            ..FileDigest::default()
        }
    }

    #[test]
    fn exit_status_and_worst_first() {
        use Severity::*;
        let files = vec![
            digest("a", &[Info], None),
            digest("b", &[Warning, Warning], None),
            digest("c", &[Error], None),
            digest("d", &[], None),
        ];
        assert_eq!(exit_status(&files, Some(Error)), 1);
        assert_eq!(exit_status(&files[..2], Some(Error)), 0);
        assert_eq!(exit_status(&files[..2], Some(Warning)), 1);
        assert_eq!(exit_status(&files[..1], Some(Warning)), 0);
        assert_eq!(exit_status(&files, None), 0);
        let s = summarize(&files, &[], Some(Error), None);
        let order: Vec<&str> = s.worst_files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(order, ["c", "b", "a"]);
        assert_eq!(s.rules[0].severity, "error");
        assert_eq!((s.rules[1].findings, s.rules[1].files), (2, 1));
        let mut with_err = files.clone();
        with_err.push(digest("e", &[], Some("e: cannot open")));
        assert_eq!(exit_status(&with_err, Some(Error)), 2);
        assert_eq!(summarize(&with_err, &[], None, None).errors, 1);
    }

    #[test]
    fn text_helpers() {
        assert_eq!(clean("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(bytes(1000), "1000 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert!(frame_list(&(1..=13).collect::<Vec<_>>()).ends_with("11, 12 (+1 more)"));
        assert_eq!(frame_list(&[6]), "frame 6");
        assert_eq!(frame_list(&[25, 27]), "frames 25, 27");
    }
}
