//! Turning the operands of `scan` into a sorted, de-duplicated list of files.
//!
//! Directories are walked recursively with `walkdir` (symbolic links are not followed unless
//! asked; when they are, a link back to an ancestor is reported as a loop instead of being walked
//! forever). Operands are taken as they are: a file operand (a FIFO such as `<(zcat x.gz)`
//! included) is always analysed, and `-` is standard input. Files found inside directories are
//! analysed when their first bytes are a capture's (see [`super::sniff()`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// How directories are walked.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkOptions {
    /// Descend at most this many directories below an operand (0: only the operand itself).
    pub max_depth: Option<usize>,
    /// Also walk into hidden files and directories (names starting with `.`).
    pub hidden: bool,
    /// Follow symbolic links found inside directories.
    pub follow: bool,
}

/// What the walk decided about a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Named on the command line (or `-`): analysed whatever its first bytes.
    Operand,
    /// Found inside a directory: analysed when it looks like a capture.
    Found,
    /// Not analysed, and why.
    Skipped(String),
    /// Could not be listed or opened: reported as the file's error.
    Error(String),
}

/// One path of the listing.
#[derive(Clone, Debug)]
pub struct Item {
    pub path: PathBuf,
    /// The path as reports print it.
    pub display: String,
    /// The shard key: the path below its operand, `/`-separated (a file operand: its name).
    pub key: String,
    /// Size on disk, when known (not for stdin or a pipe).
    pub size: Option<u64>,
    pub kind: Kind,
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn key_below(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        file_key(path)
    } else {
        parts.join("/")
    }
}

fn file_key(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| display(path))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Lists every operand: sorted by the printed path (then by raw bytes), each file once. Of
/// several paths to the same file (through links, or operands that overlap) the one that goes
/// through no symbolic link is kept, else the first in that order; this depends only on the
/// file list, so every shard of a fleet makes the same choice.
pub fn list(operands: &[PathBuf], opts: WalkOptions) -> Vec<Item> {
    let mut items = Vec::new();
    for op in operands {
        if op.as_os_str() == "-" {
            items.push(Item {
                path: op.clone(),
                display: "-".into(),
                key: "-".into(),
                size: None,
                kind: Kind::Operand,
            });
            continue;
        }
        match std::fs::metadata(op) {
            Ok(m) if m.is_dir() => walk(op, opts, &mut items),
            Ok(m) => items.push(Item {
                path: op.clone(),
                display: display(op),
                key: file_key(op),
                size: m.is_file().then_some(m.len()),
                kind: Kind::Operand,
            }),
            // Let the capture reader say why (it names the file and the offset).
            Err(_) => items.push(Item {
                path: op.clone(),
                display: display(op),
                key: file_key(op),
                size: None,
                kind: Kind::Operand,
            }),
        }
    }
    items.sort_by(|a, b| {
        a.display
            .cmp(&b.display)
            .then_with(|| a.path.as_os_str().cmp(b.path.as_os_str()))
    });
    let mut seen_paths = HashSet::new();
    items.retain(|it| seen_paths.insert(it.path.clone()));
    // One path per file: the one that does not go through a symbolic link, else the first.
    let real: Vec<Option<PathBuf>> = items
        .iter()
        .map(|it| {
            let analysed = matches!(it.kind, Kind::Operand | Kind::Found) && it.display != "-";
            analysed
                .then(|| std::fs::canonicalize(&it.path).ok())
                .flatten()
        })
        .collect();
    let mut best: HashMap<&Path, (bool, usize)> = HashMap::new();
    for (i, (it, real)) in items.iter().zip(&real).enumerate() {
        let Some(real) = real else { continue };
        let via_link = std::path::absolute(&it.path).ok().as_deref() != Some(real.as_path());
        let b = best.entry(real.as_path()).or_insert((via_link, i));
        *b = (*b).min((via_link, i));
    }
    let keep: Vec<bool> = real
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.as_deref()
                .is_none_or(|r| best.get(r).is_some_and(|b| b.1 == i))
        })
        .collect();
    let mut keep = keep.into_iter();
    items.retain(|_| keep.next().unwrap_or(true));
    items
}

fn walk(root: &Path, opts: WalkOptions, items: &mut Vec<Item>) {
    let mut walker = WalkDir::new(root).follow_links(opts.follow);
    if let Some(d) = opts.max_depth {
        walker = walker.max_depth(d);
    }
    let hidden = opts.hidden;
    let it = walker
        .into_iter()
        .filter_entry(|e| hidden || e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in it {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                let kind = if let Some(anc) = err.loop_ancestor() {
                    Kind::Skipped(format!(
                        "symbolic link loop: leads back to {}",
                        anc.display()
                    ))
                } else if err
                    .io_error()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                    && path.is_symlink()
                {
                    Kind::Skipped("symbolic link to a file that does not exist".into())
                } else {
                    let why = err
                        .io_error()
                        .map_or_else(|| err.to_string(), ToString::to_string);
                    Kind::Error(format!("{}: cannot read directory: {why}", display(&path)))
                };
                items.push(Item {
                    key: key_below(root, &path),
                    display: display(&path),
                    path,
                    size: None,
                    kind,
                });
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let path = entry.path().to_path_buf();
        let kind = if ft.is_symlink() {
            Kind::Skipped("symbolic link, not followed (--follow follows links)".into())
        } else if ft.is_file() {
            Kind::Found
        } else {
            Kind::Skipped("not a regular file (name it on the command line to read it)".into())
        };
        let size = if ft.is_file() {
            entry.metadata().ok().map(|m| m.len())
        } else {
            None
        };
        items.push(Item {
            key: key_below(root, &path),
            display: display(&path),
            path,
            size,
            kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_to_the_operand() {
        assert_eq!(
            key_below(
                Path::new("/mnt/archive"),
                Path::new("/mnt/archive/d/t.pcap")
            ),
            "d/t.pcap"
        );
        assert_eq!(
            key_below(Path::new("a/t.pcap"), Path::new("a/t.pcap")),
            "t.pcap"
        );
        assert_eq!(file_key(Path::new("../x/y.pcap")), "y.pcap");
    }
}
