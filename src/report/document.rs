//! The `--format json` document, written as files are analysed, in bounded memory.
//!
//! The document lists each file's counters (packets, streams, warnings: known only once the
//! whole file is read) before its connections, and the connections in `tcp.stream` order,
//! while the analysis hands them over as they are finalised (each batch in stream order, a
//! long connection after shorter ones that began later). So a file's connections are rendered
//! as they come into a [`Spool`] (memory up to [`SPOOL_MEMORY`], then an unnamed temporary
//! file), with 24 bytes per connection kept in memory to find them again, and copied out in
//! stream order once the file is done. Before, every connection's report was kept until the
//! end (~1.7 KiB each: 135 MiB peak RSS on the 1 GiB benchmark).
//!
//! The bytes are those of `serde_json::to_writer_pretty` on [`super::json::document`] (a test
//! holds them equal): each piece is rendered by serde with [`Pretty`], serde's pretty
//! printer started at the depth the piece sits at.

use std::fs::File;
use std::io::{self, Seek, Write};

use serde::Serialize;

use super::json::{self, Document, TOOL};
use super::{ConnReport, FileReport};

/// How much rendered JSON a [`Spool`] keeps in memory before it moves to a temporary file.
pub const SPOOL_MEMORY: usize = 1 << 20;

/// The most bytes read from the spool's file at once when copying it out.
const READ_AT_ONCE: usize = 1 << 20;

/// Where one connection's rendered bytes are in a [`Spool`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    stream: u64,
    /// Offset in the spool: the file's bytes, then the memory's.
    at: u64,
    len: u64,
}

/// Rendered connections of one file, in the order they were finalised, kept in memory up to a
/// limit and then in an unnamed temporary file (in `TMPDIR`; deleted when closed, whatever
/// happens to the process).
pub struct Spool {
    limit: usize,
    memory: Vec<u8>,
    file: Option<File>,
    /// Bytes in `file`; `memory` holds the spool from there on.
    in_file: u64,
    entries: Vec<Entry>,
    /// Set when no temporary file could be made: the rest stays in memory.
    no_file: Option<io::Error>,
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
        }
    }

    /// Connections spooled so far.
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
        let start = self.memory.len();
        if let Err(e) = pretty(&mut self.memory, CONN_DEPTH, &json::conn(c, None)) {
            self.memory.truncate(start);
            return Err(e);
        }
        self.entries.push(Entry {
            stream: c.stream,
            at: self.in_file + start as u64,
            len: (self.memory.len() - start) as u64,
        });
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
        file.write_all(&self.memory)?;
        self.in_file += self.memory.len() as u64;
        self.memory.clear();
        Ok(())
    }

    /// Hands each connection's bytes to `each` in `tcp.stream` order, then empties the spool.
    fn drain_sorted(
        &mut self,
        each: &mut dyn FnMut(usize, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        // Each batch is already in stream order: mostly sorted runs.
        self.entries.sort_unstable_by_key(|e| e.stream);
        let mut buf: Vec<u8> = Vec::new();
        // The file's bytes in `buf`: [from, from + buf.len()).
        let mut from = 0u64;
        for (i, e) in self.entries.iter().enumerate() {
            let bytes: &[u8] = if e.at >= self.in_file {
                let start = usize::try_from(e.at - self.in_file).map_err(too_big)?;
                let end = start + usize::try_from(e.len).map_err(too_big)?;
                self.memory.get(start..end).ok_or_else(lost)?
            } else {
                let end = e.at + e.len;
                if !(e.at >= from && end <= from + buf.len() as u64) {
                    // Read this entry and, as far as the buffer goes, the ones after it that
                    // follow it in the file (a batch was written in stream order).
                    let mut to = end;
                    for n in self.entries.iter().skip(i + 1) {
                        if n.at != to
                            || n.at >= self.in_file
                            || n.at + n.len - e.at > READ_AT_ONCE as u64
                        {
                            break;
                        }
                        to = n.at + n.len;
                    }
                    let file = self.file.as_ref().ok_or_else(lost)?;
                    buf.resize(usize::try_from(to - e.at).map_err(too_big)?, 0);
                    read_at(file, &mut buf, e.at)?;
                    from = e.at;
                }
                let start = usize::try_from(e.at - from).map_err(too_big)?;
                let end = start + usize::try_from(e.len).map_err(too_big)?;
                buf.get(start..end).ok_or_else(lost)?
            };
            each(i, bytes)?;
        }
        self.discard()
    }

    /// Empties the spool (its file, if any, is kept for the next file's connections).
    pub fn discard(&mut self) -> io::Result<()> {
        self.entries.clear();
        self.memory.clear();
        if let Some(f) = &mut self.file {
            f.set_len(0)?;
            f.rewind()?;
        }
        self.in_file = 0;
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
const CONN_DEPTH: usize = 4;
const CONN_INDENT: &[u8] = b"        ";
/// The depth of a file object: document → files → here.
const FILE_DEPTH: usize = 2;
const FILE_INDENT: &[u8] = b"    ";

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
fn pretty<W: Write, T: Serialize + ?Sized>(out: W, base: usize, value: &T) -> io::Result<()> {
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

/// Writes the document: [`DocumentWriter::begin`], one [`DocumentWriter::file`] per file,
/// [`DocumentWriter::finish`].
pub struct DocumentWriter<W: Write> {
    out: W,
    files: usize,
}

impl<W: Write> DocumentWriter<W> {
    /// Writes the document's head, up to its list of files.
    pub fn begin(mut out: W) -> io::Result<Self> {
        let doc = Document {
            tool: TOOL,
            files: Vec::new(),
        };
        out.write_all(&head_of(&doc, 0, b"[]\n}")?)?;
        out.write_all(b"[")?;
        Ok(DocumentWriter { out, files: 0 })
    }

    /// Writes one file: `r`'s counters (its own `connections` are not read) and the
    /// connections in `spool`, in stream order. Empties the spool.
    pub fn file(&mut self, r: &FileReport, spool: &mut Spool) -> io::Result<()> {
        let mut head = json::file(r);
        head.connections = Vec::new();
        let sep: &[u8] = if self.files == 0 { b"\n" } else { b",\n" };
        self.out.write_all(sep)?;
        self.out.write_all(FILE_INDENT)?;
        self.out
            .write_all(&head_of(&head, FILE_DEPTH, b"[]\n    }")?)?;
        self.files += 1;
        if spool.is_empty() {
            return self.out.write_all(b"[]\n    }");
        }
        self.out.write_all(b"[")?;
        let out = &mut self.out;
        spool.drain_sorted(&mut |i, bytes| {
            out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
            out.write_all(CONN_INDENT)?;
            out.write_all(bytes)
        })?;
        self.out.write_all(b"\n      ]\n    }")
    }

    /// Ends the document (with its final line feed) and hands the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(if self.files == 0 {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        })?;
        Ok(self.out)
    }
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

    /// The file is reused from one file's connections to the next, and read back in pieces
    /// no larger than the read limit (here many connections per read, and one per read).
    #[test]
    fn a_spool_reads_back_what_it_wrote() {
        let reports = fixtures();
        let Some(r) = reports.iter().max_by_key(|r| r.connections.len()) else {
            panic!("no fixtures");
        };
        let mut spool = Spool::with_limit(0);
        for round in 0..3 {
            for c in r.connections.iter().rev() {
                assert!(spool.push(c).is_ok());
            }
            assert_eq!(spool.len(), r.connections.len());
            let mut got = Vec::new();
            assert!(
                spool
                    .drain_sorted(&mut |i, b| {
                        got.push((i, b.to_vec()));
                        Ok(())
                    })
                    .is_ok()
            );
            assert_eq!(got.len(), r.connections.len(), "round {round}");
            for ((i, bytes), c) in got.iter().zip(&r.connections) {
                let mut want = Vec::new();
                assert!(pretty(&mut want, CONN_DEPTH, &json::conn(c, None)).is_ok());
                assert_eq!(bytes, &want, "round {round}, connection {i}");
            }
        }
    }
}
