//! `tlsdiag merge REPORT...`: combines JSON reports (`scan --format json`, e.g. one per
//! `--shard`, or `analyze --format json`) into one.
//!
//! File objects are passed through as they are (fields this version does not know included),
//! sorted by path like `scan` sorts them, and the summary is computed again from them. So the
//! merge of all shards of a scan prints the same bytes as the unsharded scan.
//!
//! The merge is checked: a report that cannot be read or is not a tlsdiag report, a file that
//! appears in two reports, shards of different counts, a shard given twice or missing — each is
//! a problem that makes the exit status 2 (the merged report is still written, with what there
//! is, and `summary.missing_shards` names the shards that are missing).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::summary::{FileDigest, ShardInfo, Skip};

/// The union of several reports.
#[derive(Debug, Default)]
pub struct Merged {
    /// File objects, sorted by path.
    pub files: Vec<Value>,
    /// Their digests, in the same order.
    pub digests: Vec<FileDigest>,
    pub skipped: Vec<Skip>,
    pub missing_shards: Vec<u64>,
    /// What is wrong with the inputs; non-empty makes the exit status 2.
    pub problems: Vec<String>,
}

/// The byte offset of serde_json's 1-based line and column.
fn byte_offset(text: &[u8], line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive(|&b| b == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

/// Reads one report (`-` is standard input).
fn read(path: &Path) -> Result<Value, String> {
    let name = path.display();
    let mut text = Vec::new();
    let res = if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut text))
    };
    res.map_err(|e| format!("{name}: cannot read: {e} (at byte offset {})", text.len()))?;
    let v: Value = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "{name}: not valid JSON: {e} (at byte offset {})",
            byte_offset(&text, e.line(), e.column())
        )
    })?;
    if !v.get("files").is_some_and(Value::is_array) {
        return Err(format!(
            "{name}: not a tlsdiag JSON report (no `files` array; make it with `scan --format json`) (at byte offset 0)"
        ));
    }
    Ok(v)
}

/// Merges the reports at `paths`.
pub fn merge(paths: &[PathBuf]) -> Merged {
    let mut m = Merged::default();
    // path → (report it came from, file object, digest)
    let mut files: BTreeMap<String, (String, Value, FileDigest)> = BTreeMap::new();
    let mut skipped: BTreeSet<Skip> = BTreeSet::new();
    let mut shards: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
    for p in paths {
        let name = p.display().to_string();
        let mut doc = match read(p) {
            Ok(v) => v,
            Err(e) => {
                m.problems.push(e);
                continue;
            }
        };
        if let Some(s) = doc.pointer("/summary/shard") {
            match serde_json::from_value::<ShardInfo>(s.clone()) {
                Ok(s) => shards
                    .entry(s.count)
                    .or_default()
                    .push((s.index, name.clone())),
                Err(e) => m.problems.push(format!("{name}: summary.shard: {e}")),
            }
        }
        if let Some(Value::Array(list)) = doc.get_mut("skipped").map(Value::take) {
            for k in list {
                match serde_json::from_value::<Skip>(k) {
                    Ok(k) => {
                        skipped.insert(k);
                    }
                    Err(e) => m.problems.push(format!("{name}: skipped: {e}")),
                }
            }
        }
        let Some(Value::Array(list)) = doc.get_mut("files").map(Value::take) else {
            continue;
        };
        for (i, f) in list.into_iter().enumerate() {
            let digest = match FileDigest::from_json(&f) {
                Ok(d) => d,
                Err(e) => {
                    m.problems.push(format!("{name}: files[{i}]: {e}"));
                    continue;
                }
            };
            match files.get(&digest.path) {
                Some((first, _, _)) => m.problems.push(format!(
                    "{} is in both {first} and {name}; kept the one from {first}",
                    digest.path
                )),
                None => {
                    files.insert(digest.path.clone(), (name.clone(), f, digest));
                }
            }
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
    for (_, (_, f, d)) in files {
        m.files.push(f);
        m.digests.push(d);
    }
    m.skipped = skipped.into_iter().collect();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_from_lines() {
        let t = b"{\n  \"a\": x\n}";
        assert_eq!(byte_offset(t, 2, 8), 9);
        assert_eq!(byte_offset(t, 1, 1), 0);
        assert_eq!(byte_offset(t, 9, 9), t.len());
    }
}
