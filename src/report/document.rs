//! The `--format json` documents of `analyze` and `scan`, written as files are analysed, in
//! bounded memory.
//!
//! The document lists each file's counters (packets, streams, warnings: known only once the
//! whole file is read) before its connections, and the connections in `tcp.stream` order,
//! while the analysis hands them over as they are finalised (each batch in stream order, a
//! long connection after shorter ones that began later). So a file's connections are rendered
//! as they come into a [`Spool`] (memory up to [`SPOOL_MEMORY`], then an unnamed temporary
//! file), with 24 bytes per connection kept in memory to find them again, and copied out in
//! stream order once the file is done. Before, every connection's report was kept until the
//! end (~1.7 KiB each: 132-152 MiB peak RSS on the 1 GiB benchmark, 32 MiB now).
//!
//! `scan` does the same for each file (a [`Spool`] per worker thread), writes the file's whole
//! object into one more spool keyed by the file's place in the list, and writes its document
//! ([`write_batch_document`]) once the summary is known. Before, a scan kept each file's
//! reports while it was analysed and its object as a `serde_json::Value` (in every format;
//! 630-646 MiB peak RSS scanning the 1 GiB benchmark, 53-56 MiB now).
//!
//! The bytes are those of `serde_json::to_writer_pretty` on [`super::json::document`] and on
//! [`super::summary::BatchDocument`] (tests hold them equal): each piece is rendered by serde
//! with `Pretty`, serde's pretty printer started at the depth the piece sits at.

use std::fs::File;
use std::io::{self, Seek, Write};

use serde::Serialize;

use super::json::{self, Document, TOOL};
use super::summary::{Skip, Summary};
use super::{ConnReport, FileReport};

/// How much rendered JSON a [`Spool`] keeps in memory before it moves to a temporary file.
pub const SPOOL_MEMORY: usize = 1 << 20;

/// The most bytes read from the spool's file at once when copying it out.
const READ_AT_ONCE: usize = 1 << 20;

/// Where one piece's bytes are in a [`Spool`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// What the pieces are sorted by: a connection's stream, a scanned file's place in the list.
    key: u64,
    /// Offset in the spool: the file's bytes, then the memory's.
    at: u64,
    len: u64,
}

/// Rendered pieces of a document (a file's connections, a scan's file objects) in the order
/// they were made, kept in memory up to a limit and then in an unnamed temporary file (in
/// `TMPDIR`; deleted when closed, whatever happens to the process), and written out sorted by
/// their keys.
pub struct Spool {
    limit: usize,
    memory: Vec<u8>,
    file: Option<File>,
    /// Bytes in `file`; `memory` holds the spool from there on.
    in_file: u64,
    entries: Vec<Entry>,
    /// Set when no temporary file could be made: the rest stays in memory.
    no_file: Option<io::Error>,
    /// The first piece that could not be spooled: copying out fails with it.
    broken: Option<String>,
}

impl Default for Spool {
    fn default() -> Self {
        Spool::with_limit(SPOOL_MEMORY)
    }
}

impl Spool {
    /// A spool that moves to a temporary file past `limit` bytes in memory.
    pub fn with_limit(limit: usize) -> Self {
        Spool {
            limit,
            memory: Vec::new(),
            file: None,
            in_file: 0,
            entries: Vec::new(),
            no_file: None,
            broken: None,
        }
    }

    /// A spool whose file is `/dev/full` (every write fails: a full disk), for tests; `None`
    /// where there is no such device.
    #[cfg(test)]
    pub(crate) fn full(limit: usize) -> Option<Self> {
        let f = File::options().write(true).open("/dev/full").ok()?;
        let mut s = Spool::with_limit(limit);
        s.file = Some(f);
        Some(s)
    }

    /// Pieces spooled so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the spool has gone to a temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Why the spool stayed in memory past its limit, if it did (once per spool).
    pub fn take_file_error(&mut self) -> Option<io::Error> {
        self.no_file.take()
    }

    /// Renders connection `c` (as an element of a file's `connections`) into the spool.
    pub fn push(&mut self, c: &ConnReport) -> io::Result<()> {
        // A connection is small: rendered straight into memory, then moved as a whole.
        let start = self.memory.len();
        if let Err(e) = pretty(&mut self.memory, CONN_DEPTH, &json::conn(c, None)) {
            self.memory.truncate(start);
            return Err(e);
        }
        self.entries.push(Entry {
            key: c.stream,
            at: self.in_file + start as u64,
            len: (self.memory.len() - start) as u64,
        });
        self.spill_if_full()
    }

    /// One piece of any size, written by `render`, sorted by `key` when copied out. What is in
    /// memory moves to the file as it is written past the limit. A piece whose `render` fails
    /// is not listed, and copying out then fails with that error (a document would miss it).
    pub fn push_with(
        &mut self,
        key: u64,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let at = self.in_file + self.memory.len() as u64;
        let mut w = Appender {
            spool: self,
            written: 0,
        };
        if let Err(e) = render(&mut w) {
            self.broken.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        let len = w.written;
        self.entries.push(Entry { key, at, len });
        self.spill_if_full()
    }

    fn spill_if_full(&mut self) -> io::Result<()> {
        if self.memory.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Moves what is in memory to the file (made on first use).
    fn spill(&mut self) -> io::Result<()> {
        if self.no_file.is_some() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => match tempfile::tempfile() {
                Ok(f) => self.file.insert(f),
                Err(e) => {
                    self.no_file = Some(e);
                    // Memory it is, then: the limit no longer applies to this spool.
                    self.limit = usize::MAX;
                    return Ok(());
                }
            },
        };
        if let Err(e) = file.write_all(&self.memory) {
            // Part of it may be in the file: no later offset could be trusted.
            self.broken.get_or_insert_with(|| e.to_string());
            return Err(e);
        }
        self.in_file += self.memory.len() as u64;
        self.memory.clear();
        Ok(())
    }

    /// Fails if a piece could not be spooled (checked before a document is begun, so that a
    /// failed spool writes nothing).
    pub fn check(&self) -> io::Result<()> {
        match &self.broken {
            Some(e) => Err(io::Error::other(format!(
                "the temporary file of the JSON report could not be written: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// Writes every piece to `out` in key order, each after what `before` writes (given the
    /// piece's rank), then empties the spool. Pieces read from the file come in reads of up
    /// to `READ_AT_ONCE` bytes: several pieces that follow each other in the file at once (a
    /// batch of connections was spooled in stream order), a larger one in parts.
    pub fn drain_sorted(
        &mut self,
        out: &mut dyn Write,
        before: &mut dyn FnMut(usize, &mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if let Err(e) = self.check() {
            self.discard()?;
            return Err(e);
        }
        // Mostly sorted runs: cheap to sort.
        self.entries.sort_unstable_by_key(|e| e.key);
        if self.in_file > 0 {
            // Every piece in the file (none half in memory).
            self.spill()?;
        }
        let mut buf: Vec<u8> = Vec::new();
        // The file's bytes in `buf`: [from, from + buf.len()).
        let mut from = 0u64;
        for (i, e) in self.entries.iter().enumerate() {
            before(i, out)?;
            let end = e.at + e.len;
            if e.at >= self.in_file {
                let start = usize::try_from(e.at - self.in_file).map_err(too_big)?;
                let stop = usize::try_from(end - self.in_file).map_err(too_big)?;
                out.write_all(self.memory.get(start..stop).ok_or_else(lost)?)?;
                continue;
            }
            let file = self.file.as_ref().ok_or_else(lost)?;
            if end > self.in_file {
                return Err(lost());
            }
            if e.len > READ_AT_ONCE as u64 {
                // A large piece: in parts, through the buffer.
                let mut at = e.at;
                while at < end {
                    let n = (end - at).min(READ_AT_ONCE as u64);
                    buf.resize(usize::try_from(n).map_err(too_big)?, 0);
                    read_at(file, &mut buf, at)?;
                    out.write_all(&buf)?;
                    at += n;
                }
                buf.clear();
                continue;
            }
            if !(e.at >= from && end <= from + buf.len() as u64) {
                // This piece and, as far as the buffer goes, the ones after it in key order
                // that follow it in the file.
                let mut to = end;
                for n in self.entries.iter().skip(i + 1) {
                    if n.at != to
                        || n.at + n.len > self.in_file
                        || n.at + n.len - e.at > READ_AT_ONCE as u64
                    {
                        break;
                    }
                    to = n.at + n.len;
                }
                buf.resize(usize::try_from(to - e.at).map_err(too_big)?, 0);
                read_at(file, &mut buf, e.at)?;
                from = e.at;
            }
            let start = usize::try_from(e.at - from).map_err(too_big)?;
            let stop = usize::try_from(end - from).map_err(too_big)?;
            out.write_all(buf.get(start..stop).ok_or_else(lost)?)?;
        }
        self.discard()
    }

    /// Forgets the pieces after the first `n` (their bytes stay, unread).
    pub fn truncate(&mut self, n: usize) {
        self.entries.truncate(n);
    }

    /// Gives every piece the key `keys[its key]` (pieces whose key is not an index of `keys`
    /// are forgotten): pieces spooled in one order, written in another.
    pub fn rekey(&mut self, keys: &[u64]) {
        self.entries.retain_mut(
            |e| match usize::try_from(e.key).ok().and_then(|k| keys.get(k)) {
                Some(&k) => {
                    e.key = k;
                    true
                }
                None => false,
            },
        );
    }

    /// Empties the spool (its file, if any, is kept for what is spooled next), and forgets a
    /// failure once the file is empty again.
    pub fn discard(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.memory.clear();
        if let Some(f) = &mut self.file {
            f.set_len(0)?;
            f.rewind()?;
        }
        self.in_file = 0;
        self.broken = None;
        Ok(())
    }
}

/// Writes into a [`Spool`], moving its memory to the file past the limit as it goes.
struct Appender<'a> {
    spool: &'a mut Spool,
    written: u64,
}

impl Write for Appender<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.spool.memory.extend_from_slice(buf);
        self.written += buf.len() as u64;
        self.spool.spill_if_full()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn too_big(_: std::num::TryFromIntError) -> io::Error {
    io::Error::other("spooled JSON larger than this machine's address space")
}

fn lost() -> io::Error {
    io::Error::other("spooled JSON not where it was written")
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_at(mut f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::io::{Read, SeekFrom};
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)?;
    f.seek(SeekFrom::End(0))?;
    Ok(())
}

/// The depth of a connection object: document → files → file → connections → here.
pub(crate) const CONN_DEPTH: usize = 4;
const CONN_INDENT: &[u8] = b"        ";
/// The depth of a file object: document → files → here.
pub(crate) const FILE_DEPTH: usize = 2;
const FILE_INDENT: &[u8] = b"    ";
/// The indentation of a file object's fields.
const FIELD_INDENT: &[u8] = b"      ";

/// serde_json's pretty printer (two spaces a level, `": "` after keys, empty arrays and
/// objects as `[]` and `{}`) for a value that sits `base` levels deep in the document: its
/// lines after the first are indented by those levels too. serde's own `PrettyFormatter`
/// always starts at depth 0; a writer that indented its lines afterwards cost ~8% more time
/// on the 1 GiB benchmark's document.
struct Pretty {
    /// Levels of the value being written, plus `base`.
    depth: usize,
    has_value: bool,
}

impl Pretty {
    fn at(base: usize) -> Self {
        Pretty {
            depth: base,
            has_value: false,
        }
    }

    fn line<W: ?Sized + Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }

    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.line(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes `value` as serde's pretty printer does, at `base` levels deep.
pub(crate) fn pretty<W: Write, T: Serialize + ?Sized>(
    out: W,
    base: usize,
    value: &T,
) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Pretty::at(base));
    value.serialize(&mut ser).map_err(io::Error::from)
}

/// `value` pretty-printed at the depth `prefix` stands for, without what ends with
/// `empty_tail`: the rendering of its last field as an empty array, which the caller writes
/// itself. Errors if the rendering does not end that way (a field added after it).
fn head_of<T: Serialize>(value: &T, base: usize, empty_tail: &[u8]) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    pretty(&mut v, base, value)?;
    match v.strip_suffix(empty_tail) {
        Some(head) => Ok(head.to_vec()),
        None => Err(io::Error::other(
            "the JSON document's last field is not the list written after it",
        )),
    }
}

/// Writes a file object (`head`, with the connections in `spool` in the place of its
/// `connections` field) as an element of a document's `files`, from its opening brace on.
/// Empties the spool.
pub fn write_file_object<T: Serialize>(
    out: &mut dyn Write,
    head: &T,
    spool: &mut Spool,
) -> io::Result<()> {
    let serde_json::Value::Object(fields) = serde_json::to_value(head)? else {
        return Err(io::Error::other("a file object that is not an object"));
    };
    let at = fields.keys().position(|k| k == "connections");
    write_file_fields(out, &fields, at, spool)
}

/// A file object given as its fields in their order, the one at `connections` (its place
/// among them) written from `spool` instead of from its value; as [`write_file_object`] writes
/// it. Empties the spool.
pub fn write_file_fields(
    out: &mut dyn Write,
    fields: &serde_json::Map<String, serde_json::Value>,
    connections: Option<usize>,
    spool: &mut Spool,
) -> io::Result<()> {
    if fields.is_empty() {
        return out.write_all(b"{}");
    }
    out.write_all(b"{")?;
    for (i, (key, value)) in fields.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(FIELD_INDENT)?;
        pretty(&mut *out, 0, key)?;
        out.write_all(b": ")?;
        if connections == Some(i) {
            write_connections(out, spool)?;
        } else {
            pretty(&mut *out, FILE_DEPTH + 1, value)?;
        }
    }
    out.write_all(b"\n    }")
}

/// The `connections` array of a file object, from `spool`. Empties it.
fn write_connections(out: &mut dyn Write, spool: &mut Spool) -> io::Result<()> {
    if spool.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    spool.drain_sorted(out, &mut |i, out| {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(CONN_INDENT)
    })?;
    out.write_all(b"\n      ]")
}

/// Writes the document: [`DocumentWriter::begin`], one [`DocumentWriter::file`] per file,
/// [`DocumentWriter::finish`]. Nothing is written before the first file is complete, so a run
/// that fails while spooling its first file prints no half document.
pub struct DocumentWriter<W: Write> {
    out: W,
    files: usize,
}

impl<W: Write> DocumentWriter<W> {
    pub fn begin(out: W) -> io::Result<Self> {
        Ok(DocumentWriter { out, files: 0 })
    }

    /// The document's head, up to its list of files.
    fn head(&mut self) -> io::Result<()> {
        let doc = Document {
            tool: TOOL,
            files: Vec::new(),
        };
        self.out.write_all(&head_of(&doc, 0, b"[]\n}")?)?;
        self.out.write_all(b"[")
    }

    /// Writes one file: `r`'s counters (its own `connections` are not read) and the
    /// connections in `spool`, in stream order. Empties the spool.
    pub fn file(&mut self, r: &FileReport, spool: &mut Spool) -> io::Result<()> {
        spool.check()?;
        let mut head = json::file(r);
        head.connections = Vec::new();
        if self.files == 0 {
            self.head()?;
        }
        self.out
            .write_all(if self.files == 0 { b"\n" } else { b",\n" })?;
        self.out.write_all(FILE_INDENT)?;
        self.files += 1;
        write_file_object(&mut self.out, &head, spool)
    }

    /// Ends the document (with its final line feed) and hands the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        if self.files == 0 {
            self.head()?;
            self.out.write_all(b"]\n}\n")?;
        } else {
            self.out.write_all(b"\n  ]\n}\n")?;
        }
        Ok(self.out)
    }
}

/// Writes the `scan --format json` document ([`super::summary::BatchDocument`]'s bytes, with
/// its final line feed) whose `files` are the file objects in `files` (each spooled by
/// [`write_file_object`], keyed by its place in the list).
pub fn write_batch_document(
    out: &mut dyn Write,
    summary: &Summary,
    files: &mut Spool,
    skipped: &[Skip],
) -> io::Result<()> {
    files.check()?;
    out.write_all(b"{\n  \"tool\": ")?;
    pretty(&mut *out, 1, &TOOL)?;
    out.write_all(b",\n  \"summary\": ")?;
    pretty(&mut *out, 1, summary)?;
    out.write_all(b",\n  \"files\": ")?;
    if files.is_empty() {
        out.write_all(b"[]")?;
    } else {
        out.write_all(b"[")?;
        files.drain_sorted(out, &mut |i, out| {
            out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            out.write_all(FILE_INDENT)
        })?;
        out.write_all(b"\n  ]")?;
    }
    out.write_all(b",\n  \"skipped\": ")?;
    pretty(&mut *out, 1, skipped)?;
    out.write_all(b"\n}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the document was before it was streamed: every report kept, one serde call.
    fn whole(reports: &[FileReport]) -> Vec<u8> {
        let mut v = Vec::new();
        assert!(serde_json::to_writer_pretty(&mut v, &json::document(reports)).is_ok());
        v.push(b'\n');
        v
    }

    fn streamed(reports: &[FileReport], limit: usize, shuffle: bool) -> Vec<u8> {
        let mut w = match DocumentWriter::begin(Vec::new()) {
            Ok(w) => w,
            Err(e) => panic!("begin: {e}"),
        };
        for r in reports {
            let mut spool = Spool::with_limit(limit);
            let mut conns: Vec<&ConnReport> = r.connections.iter().collect();
            if shuffle {
                // Finalised out of stream order, as long connections are: odd streams last.
                conns.sort_by_key(|c| (c.stream % 2 == 1, c.stream));
            }
            for c in conns {
                assert!(spool.push(c).is_ok());
            }
            if limit == 0 && !r.connections.is_empty() {
                assert!(spool.spilled(), "a zero limit spools to a file");
            }
            assert!(w.file(r, &mut spool).is_ok());
            assert!(spool.is_empty());
        }
        match w.finish() {
            Ok(v) => v,
            Err(e) => panic!("finish: {e}"),
        }
    }

    fn fixtures() -> Vec<FileReport> {
        crate::analyze::fixture_captures()
            .iter()
            .map(|p| crate::analyze::analyze_collect(p))
            .collect()
    }

    /// Every fixture, alone and all together, gives the bytes of the whole-document
    /// rendering: in memory, through a temporary file read back in pieces, and with the
    /// connections handed over out of stream order.
    #[test]
    fn the_streamed_document_is_the_whole_one() {
        let reports = fixtures();
        assert!(reports.len() > 20);
        assert!(reports.iter().map(|r| r.connections.len()).sum::<usize>() > 50);
        for limit in [0, 1, 700, SPOOL_MEMORY] {
            for shuffle in [false, true] {
                assert_eq!(
                    String::from_utf8_lossy(&streamed(&reports, limit, shuffle)),
                    String::from_utf8_lossy(&whole(&reports)),
                    "limit {limit}, shuffled {shuffle}"
                );
                for r in &reports {
                    let one = std::slice::from_ref(r);
                    assert_eq!(streamed(one, limit, shuffle), whole(one), "{}", r.path);
                }
            }
        }
    }

    /// [`Pretty`] at depth 0 is serde's pretty printer, on shapes the schema does not have
    /// yet (empty objects, arrays of arrays, nulls in lists); deeper, it only adds indentation.
    #[test]
    fn pretty_is_serdes_pretty_printer() {
        let v = serde_json::json!({
            "a": {}, "b": [], "c": [[], [1, [2, {}]], {"d": null}], "e": "x\ny", "f": [null, true, 1.5],
            "g": {"h": {"i": []}}
        });
        let mut mine = Vec::new();
        assert!(pretty(&mut mine, 0, &v).is_ok());
        let Ok(theirs) = serde_json::to_string_pretty(&v) else {
            panic!("serde");
        };
        assert_eq!(String::from_utf8_lossy(&mine), theirs);
        let mut deeper = Vec::new();
        assert!(pretty(&mut deeper, 3, &v).is_ok());
        assert_eq!(
            String::from_utf8_lossy(&deeper),
            theirs.replace('\n', "\n      ")
        );
    }

    /// A file without connections, a file that could not be read, and no file at all.
    #[test]
    fn empty_pieces_are_written_as_serde_writes_them() {
        let empty = FileReport {
            path: "empty.pcap".into(),
            ..FileReport::default()
        };
        let failed = FileReport {
            path: "gone.pcap".into(),
            error: Some("cannot open".into()),
            warnings: vec!["w \"quoted\"\nnew line".into()],
            ..FileReport::default()
        };
        for reports in [vec![], vec![empty.clone()], vec![empty, failed]] {
            assert_eq!(streamed(&reports, 0, false), whole(&reports));
        }
    }

    /// Pieces of every size (empty, around the read limit, several times it, each with its
    /// own bytes), spooled out of key order under limits that keep them in memory, move them
    /// to the file whole, or cut them between memory and file as they are written, come back
    /// in key order, each after its separator; the spool is reused three times.
    #[test]
    fn a_spool_gives_back_what_it_was_given_in_key_order() {
        let sizes = [
            0,
            1,
            700,
            READ_AT_ONCE - 1,
            READ_AT_ONCE,
            READ_AT_ONCE + 1,
            3 * READ_AT_ONCE + 7,
            5,
            64 * 1024,
        ];
        let piece = |key: usize, len: usize| -> Vec<u8> {
            (0..len).map(|j| (key * 31 + j % 251) as u8).collect()
        };
        for limit in [0, 1_000, READ_AT_ONCE / 2, SPOOL_MEMORY, usize::MAX] {
            let mut spool = Spool::with_limit(limit);
            for round in 0..3 {
                // Keys given in a scrambled order; small pieces in runs, as batches are.
                let order: Vec<usize> = (0..sizes.len())
                    .map(|k| (k * 4 + round) % sizes.len())
                    .collect();
                for &k in &order {
                    let Some(&len) = sizes.get(k) else { continue };
                    let bytes = piece(k, len);
                    assert!(spool.push_with(k as u64, |w| w.write_all(&bytes)).is_ok());
                }
                assert_eq!(spool.len(), sizes.len());
                let mut got = Vec::new();
                assert!(
                    spool
                        .drain_sorted(&mut got, &mut |i, w| write!(w, "<{i}>"))
                        .is_ok()
                );
                let mut want = Vec::new();
                for (k, &len) in sizes.iter().enumerate() {
                    want.extend_from_slice(format!("<{k}>").as_bytes());
                    want.extend(piece(k, len));
                }
                assert!(
                    got == want,
                    "limit {limit}, round {round}: {} bytes against {}",
                    got.len(),
                    want.len()
                );
                assert!(spool.is_empty());
                assert_eq!(spool.spilled(), limit < usize::MAX, "limit {limit}");
            }
        }
    }

    /// A spool that cannot write (a full disk) says so, and a document over it is not begun:
    /// nothing is written. The analysis's own document is not begun either.
    #[test]
    fn a_spool_that_cannot_write_fails_and_nothing_is_written() {
        let Some(mut spool) = Spool::full(0) else {
            eprintln!("no /dev/full here: skipped");
            return;
        };
        let reports = fixtures();
        let Some(r) = reports.iter().find(|r| !r.connections.is_empty()) else {
            panic!("no connections in the fixtures");
        };
        let Some(c) = r.connections.first() else {
            panic!("no connection");
        };
        assert!(spool.push(c).is_err());
        assert!(spool.check().is_err());
        let mut out = Vec::new();
        let s = crate::report::summary::summarize(&[], &[], None, None);
        assert!(write_batch_document(&mut out, &s, &mut spool, &[]).is_err());
        assert!(out.is_empty(), "{} bytes written", out.len());
        let Some(mut spool) = Spool::full(0) else {
            return;
        };
        assert!(spool.push_with(0, |w| w.write_all(b"{}")).is_err());
        let mut doc = match DocumentWriter::begin(Vec::new()) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert!(doc.file(r, &mut spool).is_err());
        assert!(doc.out.is_empty(), "{} bytes written", doc.out.len());
    }

    /// A large piece written in small writes moves to the file as it goes: memory never grows
    /// far past the limit (a piece kept whole would have grown it to 4 MB).
    #[test]
    fn a_large_piece_does_not_sit_in_memory() {
        let limit = 64 * 1024;
        let mut spool = Spool::with_limit(limit);
        let chunk = [7u8; 4096];
        assert!(
            spool
                .push_with(0, |w| {
                    for _ in 0..1_000 {
                        w.write_all(&chunk)?;
                    }
                    Ok(())
                })
                .is_ok()
        );
        assert!(spool.spilled());
        assert!(
            spool.memory.capacity() <= 2 * (limit + chunk.len()),
            "{} bytes of memory",
            spool.memory.capacity()
        );
        let mut out = Vec::new();
        assert!(spool.drain_sorted(&mut out, &mut |_, _| Ok(())).is_ok());
        assert_eq!(out.len(), 4_096_000);
        assert!(out.iter().all(|&b| b == 7));
    }

    /// The batch document written from a spool of file objects is serde's rendering of
    /// [`BatchDocument`] over the same objects as values (what `merge` writes).
    #[test]
    fn the_batch_document_is_serdes() {
        use crate::report::summary::{BatchDocument, FileDigest, file_value, summarize};
        let reports = fixtures();
        let skipped = vec![Skip {
            path: "notes.txt".into(),
            reason: "text \"quoted\"".into(),
        }];
        for take in [0, 1, reports.len()] {
            let some = reports.get(..take).unwrap_or_default();
            let mut values = Vec::new();
            let mut digests = Vec::new();
            let mut files = Spool::with_limit(4096);
            let mut conns = Spool::with_limit(0);
            for (i, r) in some.iter().enumerate() {
                let size = Some(1000 + i as u64);
                let Ok(v) = file_value(r, size) else {
                    panic!("value");
                };
                let Ok(d) = FileDigest::from_json(&v) else {
                    panic!("digest");
                };
                digests.push(d);
                values.push(v);
                let mut head = r.clone();
                head.connections = Vec::new();
                let Ok(head) = file_value(&head, size) else {
                    panic!("head");
                };
                for c in r.connections.iter().rev() {
                    assert!(conns.push(c).is_ok());
                }
                assert!(
                    files
                        .push_with(i as u64, |w| write_file_object(w, &head, &mut conns))
                        .is_ok()
                );
            }
            let s = summarize(
                &digests,
                &skipped,
                Some(crate::rules::Severity::Error),
                None,
            );
            let mut want = Vec::new();
            assert!(
                serde_json::to_writer_pretty(&mut want, &BatchDocument::new(&s, &values, &skipped))
                    .is_ok()
            );
            want.push(b'\n');
            let mut got = Vec::new();
            assert!(write_batch_document(&mut got, &s, &mut files, &skipped).is_ok());
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{take} files"
            );
        }
    }
}
