//! `tlsdiag merge REPORT...`: combines JSON reports (`scan --format json`, e.g. one per
//! `--shard`, or `analyze --format json`) into one.
//!
//! File objects are passed through as they are (fields this version does not know included),
//! sorted by path like `scan` sorts them, and the summary is computed again from them. So the
//! merge of all shards of a scan prints the same bytes as the unsharded scan.
//!
//! A report is read as it streams (serde visitors over the reader): a file object's fields
//! are kept as values, but its connections are digested and spooled one by one
//! ([`crate::report::document`]), so no report, file or list of connections is ever held whole
//! (merging the 1 GiB benchmark's 143 MB report: 30-36 MiB peak RSS; reading it whole took
//! 786-808 MiB). A report that turns out not to be valid JSON gives nothing, as before.
//!
//! The merge is checked: a report that cannot be read or is not a tlsdiag report, a file that
//! appears in two reports, shards of different counts, a shard given twice or missing — each is
//! a problem that makes the exit status 2 (the merged report is still written, with what there
//! is, and `summary.missing_shards` names the shards that are missing).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::report::document::{CONN_DEPTH, Spool, pretty, write_file_fields};
use crate::report::summary::{FileDigest, ShardInfo, Skip};

/// The union of several reports.
#[derive(Default)]
pub struct Merged {
    /// File objects (when asked for), keyed by their place in path order.
    pub files: Spool,
    /// Their digests, sorted by path.
    pub digests: Vec<FileDigest>,
    pub skipped: Vec<Skip>,
    pub missing_shards: Vec<u64>,
    /// What is wrong with the inputs; non-empty makes the exit status 2.
    pub problems: Vec<String>,
}

/// Reads a report, counting bytes and keeping where the last two lines began, to turn
/// serde_json's line and column into a byte offset.
struct Counting<R> {
    inner: R,
    offset: u64,
    /// 1-based number of the line being read, and where it and the one before began.
    line: usize,
    line_start: u64,
    previous_start: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            offset: 0,
            line: 1,
            line_start: 0,
            previous_start: 0,
        }
    }

    /// The byte offset of serde_json's 1-based line and column (the bytes read, for a line
    /// further back than the last two).
    fn byte_offset(&self, line: usize, column: usize) -> u64 {
        let col = column.saturating_sub(1) as u64;
        if line == self.line {
            self.line_start + col
        } else if line + 1 == self.line {
            self.previous_start + col
        } else {
            self.offset
        }
        .min(self.offset)
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let [b] = buf {
            // serde_json's case: one byte at a time.
            if n == 1 && *b == b'\n' {
                self.previous_start = self.line_start;
                self.line_start = self.offset + 1;
                self.line += 1;
            }
            self.offset += n as u64;
            return Ok(n);
        }
        for (i, &b) in buf.iter().take(n).enumerate() {
            if b == b'\n' {
                self.previous_start = self.line_start;
                self.line_start = self.offset + i as u64 + 1;
                self.line += 1;
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// What one report gives, kept apart until it has been read to its end (a report that turns
/// out not to be valid JSON gives nothing, as if it had not been read).
#[derive(Default)]
struct Report {
    /// (path, digest), in the report's order; their objects are the spool's last pieces.
    files: Vec<(String, FileDigest)>,
    /// The paths in `files`, to find one given twice.
    paths: std::collections::HashSet<String>,
    problems: Vec<String>,
    shard: Option<Value>,
    skipped: Option<Value>,
    saw_files: bool,
}

/// Where a report's pieces go.
struct Sink<'a> {
    name: &'a str,
    /// The files kept so far (from earlier reports): path → report.
    kept: &'a BTreeMap<String, (String, u64)>,
    /// File objects, when the merged document needs them; keyed by arrival.
    files: Option<&'a mut Spool>,
    /// Pieces in `files` before this report.
    first_key: u64,
    /// `files.len()` before this report.
    first_len: usize,
    /// One file's connections.
    conns: &'a mut Spool,
    report: Report,
    /// A spool that could not be written: the merge stops (not the report's fault).
    fatal: Option<io::Error>,
}

/// Why a report gave nothing.
enum ReadError {
    /// The report could not be read or is not one.
    Report(String),
    /// A temporary file could not be written: the merge cannot go on.
    Run(String),
}

/// Reads one report (`-` is standard input) into `sink`.
fn read(path: &Path, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    let name = path.display();
    if path.as_os_str() == "-" {
        read_from(&name, io::stdin().lock(), sink)
    } else {
        match std::fs::File::open(path) {
            Ok(f) => read_from(&name, io::BufReader::with_capacity(1 << 16, f), sink),
            Err(e) => Err(ReadError::Report(format!(
                "{name}: cannot read: {e} (at byte offset 0)"
            ))),
        }
    }
}

fn read_from<R: BufRead>(
    name: &dyn fmt::Display,
    input: R,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    // serde_json reads a reader a byte at a time: generic, so that each byte is a direct call.
    let mut counting = Counting::new(input);
    let mut de = serde_json::Deserializer::from_reader(&mut counting);
    let res = DocumentSeed(sink)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    drop(de);
    if let Some(e) = sink.fatal.take() {
        return Err(ReadError::Run(format!(
            "cannot write a temporary file (in {}) while reading {name}: {e}",
            std::env::temp_dir().display()
        )));
    }
    if let Err(e) = res {
        let at = if e.is_io() {
            counting.offset
        } else {
            counting.byte_offset(e.line(), e.column())
        };
        let what = if e.is_io() {
            "cannot read"
        } else {
            "not valid JSON"
        };
        return Err(ReadError::Report(format!(
            "{name}: {what}: {e} (at byte offset {at})"
        )));
    }
    if !sink.report.saw_files {
        return Err(ReadError::Report(format!(
            "{name}: not a tlsdiag JSON report (no `files` array; make it with `scan --format json`) (at byte offset 0)"
        )));
    }
    Ok(())
}

/// What to do with a JSON value of any shape (a report is hostile input: any field may hold
/// anything). An object or an array can be streamed; whatever is not is given as a value.
trait Shapes<'de>: Sized {
    type Out;
    fn on_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        use serde::Deserialize as _;
        let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(self.other(v))
    }
    fn on_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Out, A::Error> {
        use serde::Deserialize as _;
        let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(self.other(v))
    }
    fn other(self, v: Value) -> Self::Out;
}

/// A report: its `files`, `summary.shard` and `skipped`.
struct DocumentSeed<'s, 'a>(&'s mut Sink<'a>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AnyValue(self))
    }
}

impl<'de> Shapes<'de> for DocumentSeed<'_, '_> {
    type Out = ();
    fn on_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let sink = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "files" => {
                    // A later `files` replaces an earlier one, as in a JSON value.
                    if let Some(files) = sink.files.as_deref_mut() {
                        files.truncate(sink.first_len);
                    }
                    sink.report.files.clear();
                    sink.report.paths.clear();
                    sink.report.problems.clear();
                    sink.report.saw_files = map.next_value_seed(FilesSeed(&mut *sink))?;
                }
                "summary" => {
                    let v: Value = map.next_value()?;
                    sink.report.shard = v.get("shard").cloned();
                }
                "skipped" => sink.report.skipped = Some(map.next_value()?),
                _ => {
                    // Read (and dropped) as a value: checked as the whole document was.
                    map.next_value::<Value>()?;
                }
            }
        }
        Ok(())
    }
    fn other(self, _: Value) {}
}

/// A report's `files`: true when it is an array.
struct FilesSeed<'s, 'a>(&'s mut Sink<'a>);

impl<'de> DeserializeSeed<'de> for FilesSeed<'_, '_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(AnyValue(self))
    }
}

impl<'de> Shapes<'de> for FilesSeed<'_, '_> {
    type Out = bool;
    fn on_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(FileSeed {
                sink: &mut *self.0,
                index: i,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(true)
    }
    fn other(self, _: Value) -> bool {
        false
    }
}

/// The `index`th file object of a report: its fields kept in order (all small but
/// `connections`), its connections digested and spooled one by one.
struct FileSeed<'s, 'a> {
    sink: &'s mut Sink<'a>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(AnyValue(self))
    }
}

impl<'de> Shapes<'de> for FileSeed<'_, '_> {
    type Out = ();
    fn on_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let sink = self.sink;
        let mut fields: Map<String, Value> = Map::new();
        let mut streamed = Streamed::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == "connections" {
                // A later `connections` replaces an earlier one, as in a JSON value.
                if let Err(e) = sink.conns.discard() {
                    return Err(stop(&mut sink.fatal, e));
                }
                streamed = Streamed::default();
                let v = map.next_value_seed(ConnsSeed {
                    conns: &mut *sink.conns,
                    streamed: &mut streamed,
                    spool: sink.files.is_some(),
                    fatal: &mut sink.fatal,
                })?;
                // In its place; an array's elements are in the spool.
                fields.insert(key, v);
            } else {
                let v: Value = map.next_value()?;
                fields.insert(key, v);
            }
        }
        file_done(sink, self.index, fields, streamed).map_err(|e| stop(&mut sink.fatal, e))
    }
    fn other(self, v: Value) {
        // Not an object: the same problem a whole value gives.
        if let Err(e) = FileDigest::from_json(&v) {
            let sink = self.sink;
            sink.report
                .problems
                .push(format!("{}: files[{}]: {e}", sink.name, self.index));
        }
    }
}

/// What a file's `connections` gave as they streamed.
#[derive(Default)]
struct Streamed {
    /// Connections (and their findings) read so far.
    digest: FileDigest,
    /// The first connection the digest could not read (read again once the file's path is
    /// known, for the message).
    bad: Option<Value>,
    /// `connections` was an array (else its value is in the fields).
    array: bool,
}

/// A file's `connections`: each element digested and (when the document needs it) spooled by
/// its place; anything but an array given back as a value.
struct ConnsSeed<'s> {
    conns: &'s mut Spool,
    streamed: &'s mut Streamed,
    spool: bool,
    fatal: &'s mut Option<io::Error>,
}

/// Ends the reading of a report because a spool failed (kept in `fatal`, which the merge
/// reports as its own error).
fn stop<E: serde::de::Error>(fatal: &mut Option<io::Error>, e: io::Error) -> E {
    let msg = e.to_string();
    fatal.get_or_insert(e);
    E::custom(msg)
}

impl<'de> DeserializeSeed<'de> for ConnsSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(AnyValue(self))
    }
}

impl<'de> Shapes<'de> for ConnsSeed<'_> {
    type Out = Value;
    fn on_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.streamed.array = true;
        let mut k = 0u64;
        while let Some(c) = seq.next_element::<Value>()? {
            if self.streamed.bad.is_none() && self.streamed.digest.add_conn_json(&c).is_err() {
                self.streamed.bad = Some(c.clone());
            }
            if self.spool
                && let Err(e) = self.conns.push_with(k, |w| pretty(w, CONN_DEPTH, &c))
            {
                return Err(stop(self.fatal, e));
            }
            k += 1;
        }
        Ok(Value::Array(Vec::new()))
    }
    fn other(self, v: Value) -> Value {
        v
    }
}

/// Digests a file read from a report, and keeps it (its object spooled) unless it is not a
/// file object or its path was already given.
fn file_done(
    sink: &mut Sink<'_>,
    index: usize,
    fields: Map<String, Value>,
    streamed: Streamed,
) -> io::Result<()> {
    let at = fields
        .keys()
        .position(|k| k == "connections")
        .filter(|_| streamed.array);
    let head = Value::Object(fields);
    let digest = FileDigest::from_json(&head).and_then(|mut d| {
        if let Some(bad) = &streamed.bad {
            // The message the whole file gives.
            let mut again = FileDigest {
                path: d.path.clone(),
                ..FileDigest::default()
            };
            again.add_conn_json(bad)?;
        }
        d.connections = streamed.digest.connections;
        d.findings = streamed.digest.findings;
        d.sort_findings();
        Ok(d)
    });
    let name = sink.name;
    let digest = match digest {
        Ok(d) => d,
        Err(e) => {
            sink.report
                .problems
                .push(format!("{name}: files[{index}]: {e}"));
            return sink.conns.discard();
        }
    };
    let first = sink
        .kept
        .get(&digest.path)
        .map(|(from, _)| from.as_str())
        .or_else(|| sink.report.paths.contains(&digest.path).then_some(name));
    if let Some(first) = first {
        sink.report.problems.push(format!(
            "{} is in both {first} and {name}; kept the one from {first}",
            digest.path
        ));
        return sink.conns.discard();
    }
    let Value::Object(fields) = head else {
        return Err(io::Error::other("a file object that is not an object"));
    };
    if let Some(files) = sink.files.as_deref_mut() {
        let key = sink.first_key + sink.report.files.len() as u64;
        let conns = &mut *sink.conns;
        files.push_with(key, |w| write_file_fields(w, &fields, at, conns))?;
    }
    sink.conns.discard()?;
    sink.report.paths.insert(digest.path.clone());
    sink.report.files.push((digest.path.clone(), digest));
    Ok(())
}

/// The visitor of [`Shapes`]: objects and arrays handed over to be streamed, the rest as values.
struct AnyValue<T>(T);

impl<'de, T: Shapes<'de>> Visitor<'de> for AnyValue<T> {
    type Value = T::Out;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T::Out, A::Error> {
        self.0.on_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T::Out, A::Error> {
        self.0.on_seq(seq)
    }
    fn visit_bool<E>(self, v: bool) -> Result<T::Out, E> {
        Ok(self.0.other(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<T::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<T::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<T::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<T::Out, E> {
        Ok(self.0.other(Value::from(v)))
    }
    fn visit_unit<E>(self) -> Result<T::Out, E> {
        Ok(self.0.other(Value::Null))
    }
}

/// Merges the reports at `paths`; with `keep_files`, the merged file objects are in
/// [`Merged::files`] (for `--format json`), else only their digests are kept. A report is
/// read as it streams: no file's connections are all held in memory. Fails only when a
/// temporary file cannot be written (the inputs' problems are in [`Merged::problems`]).
pub fn merge(paths: &[PathBuf], keep_files: bool) -> Result<Merged, String> {
    merge_with(paths, keep_files, Spool::default(), Spool::default())
}

/// [`merge`] with the spools it uses: `files` for the merged file objects, `conns` for one
/// file's connections.
fn merge_with(
    paths: &[PathBuf],
    keep_files: bool,
    files: Spool,
    mut conns: Spool,
) -> Result<Merged, String> {
    let mut m = Merged {
        files,
        ..Merged::default()
    };
    // path → (report it came from, its key in m.files)
    let mut kept: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut digests: Vec<FileDigest> = Vec::new();
    let mut skipped: BTreeSet<Skip> = BTreeSet::new();
    let mut shards: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    for p in paths {
        let name = p.display().to_string();
        let before = m.files.len();
        let mut sink = Sink {
            name: &name,
            kept: &kept,
            files: keep_files.then_some(&mut m.files),
            first_key: digests.len() as u64,
            first_len: before,
            conns: &mut conns,
            report: Report::default(),
            fatal: None,
        };
        let res = read(p, &mut sink);
        let report = sink.report;
        match res {
            Ok(()) => {}
            Err(ReadError::Run(e)) => return Err(e),
            Err(ReadError::Report(e)) => {
                // Nothing from a report that could not be read to its end.
                m.files.truncate(before);
                let _ = conns.discard();
                m.problems.push(e);
                continue;
            }
        }
        if let Some(s) = report.shard {
            match serde_json::from_value::<ShardInfo>(s) {
                Ok(s) => shards
                    .entry(s.count)
                    .or_default()
                    .push((s.index, name.clone())),
                Err(e) => m.problems.push(format!("{name}: summary.shard: {e}")),
            }
        }
        if let Some(Value::Array(list)) = report.skipped {
            for k in list {
                match serde_json::from_value::<Skip>(k) {
                    Ok(k) => {
                        skipped.insert(k);
                    }
                    Err(e) => m.problems.push(format!("{name}: skipped: {e}")),
                }
            }
        }
        m.problems.extend(report.problems);
        for (path, d) in report.files {
            kept.insert(path, (name.clone(), digests.len() as u64));
            digests.push(d);
        }
    }
    if shards.len() > 1 {
        let counts: Vec<String> = shards.keys().map(u64::to_string).collect();
        m.problems.push(format!(
            "the reports come from different shard counts ({}); merge the shards of one run",
            counts.join(", ")
        ));
    }
    for (count, got) in &shards {
        let mut by_index: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
        for (i, name) in got {
            by_index.entry(*i).or_default().push(name);
        }
        for (i, names) in &by_index {
            if names.len() > 1 {
                m.problems.push(format!(
                    "shard {i}/{count} is given more than once ({})",
                    names.join(", ")
                ));
            }
        }
        let missing: Vec<u64> = (1..=*count).filter(|i| !by_index.contains_key(i)).collect();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
            m.problems.push(format!(
                "incomplete: shard {} missing; the merged report covers only part of the files",
                list.join(", ")
            ));
            m.missing_shards.extend(missing);
        }
    }
    // Path order: each file's rank by path, by its place of arrival.
    let mut rank = vec![u64::MAX; digests.len()];
    let mut by_arrival: Vec<Option<FileDigest>> = digests.into_iter().map(Some).collect();
    for (r, (_, (_, key))) in kept.iter().enumerate() {
        if let Some(slot) = usize::try_from(*key).ok().and_then(|k| rank.get_mut(k)) {
            *slot = r as u64;
        }
        if let Some(d) = usize::try_from(*key)
            .ok()
            .and_then(|k| by_arrival.get_mut(k))
            .and_then(Option::take)
        {
            m.digests.push(d);
        }
    }
    m.files.rekey(&rank);
    m.skipped = skipped.into_iter().collect();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FileReport;

    #[test]
    fn offsets_from_lines() {
        let t = b"{\n  \"a\": x\n}";
        let mut c = Counting::new(&t[..]);
        let mut all = Vec::new();
        assert!(c.read_to_end(&mut all).is_ok());
        assert_eq!(c.byte_offset(2, 8), 9);
        assert_eq!(c.byte_offset(3, 1), 11);
        // Further back than two lines: the bytes read.
        assert_eq!(c.byte_offset(1, 1), t.len() as u64);
        assert_eq!(c.byte_offset(9, 9), t.len() as u64);
    }

    /// A temporary file that cannot be written stops the merge with its own error; the
    /// report being read is not blamed for it.
    #[test]
    fn a_spool_that_cannot_be_written_stops_the_merge() {
        let (Some(full_files), Some(full_conns)) = (Spool::full(0), Spool::full(0)) else {
            eprintln!("no /dev/full here: skipped");
            return;
        };
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temp dir: {e}"),
        };
        let report = dir.path().join("r.json");
        let reports: Vec<FileReport> = crate::analyze::fixture_captures()
            .iter()
            .take(5)
            .map(|p| crate::analyze::analyze_collect(p))
            .collect();
        let mut text = Vec::new();
        assert!(
            serde_json::to_writer_pretty(&mut text, &crate::report::json::document(&reports))
                .is_ok()
        );
        assert!(std::fs::write(&report, &text).is_ok());
        let paths = [report];
        // As it should be: no problem.
        match merge(&paths, true) {
            Ok(m) => {
                assert!(m.problems.is_empty(), "{:?}", m.problems);
                assert_eq!(m.digests.len(), 5);
            }
            Err(e) => panic!("{e}"),
        }
        for (files, conns) in [
            (full_files, Spool::default()),
            (Spool::default(), full_conns),
        ] {
            match merge_with(&paths, true, files, conns) {
                Ok(m) => panic!("merged with a spool that cannot write: {:?}", m.problems),
                Err(e) => {
                    assert!(e.contains("cannot write a temporary file"), "{e}");
                    assert!(!e.contains("not valid JSON"), "{e}");
                }
            }
        }
    }
}
