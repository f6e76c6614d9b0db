//! The human report: per file a summary line, a table of connections, then each finding with
//! its explanation, fix and evidence (`frames 181, 191 · tcp.stream eq 7`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use super::{ConnReport, FileReport, utc};
use crate::capture::linktype_name;
use crate::rules::Severity;

/// How many healthy connections the table shows before it only lists those with findings.
pub const MAX_ROWS: usize = 40;
/// Findings of one rule shown in full per file (unless --all); the others are listed by stream.
pub const MAX_PER_RULE: usize = 5;

fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

fn frames(list: &[u64]) -> String {
    let shown: Vec<String> = list.iter().take(12).map(u64::to_string).collect();
    let more = if list.len() > 12 {
        format!(" (+{} more)", list.len() - 12)
    } else {
        String::new()
    };
    format!("{}{}", shown.join(", "), more)
}

fn findings_cell(c: &ConnReport) -> String {
    if c.findings.is_empty() {
        return "-".into();
    }
    let mut names: Vec<&str> = c.findings.iter().map(|f| f.rule.as_str()).collect();
    names.dedup();
    names.join(", ")
}

/// What the human report needs of one file, gathered as connections stream by, so that memory
/// stays bounded on large captures: counts, every finding's rule and stream, and in full only
/// the connections the report shows (all with `--all`; else up to [`MAX_ROWS`] healthy ones and
/// the connections that carry a finding a rule still shows, or the first [`MAX_ROWS`] with
/// findings).
#[derive(Debug, Default)]
pub struct Digest {
    all: bool,
    /// Findings by severity: error, warning, info.
    counts: [usize; 3],
    /// Rule → (worst severity, streams with a finding of it, in order, deduplicated).
    by_rule: BTreeMap<&'static str, (Severity, Vec<u64>)>,
    /// Connections kept in full.
    kept: Vec<ConnReport>,
    healthy_total: usize,
    healthy_kept: usize,
    with_findings_total: usize,
    with_findings_kept: usize,
    /// Findings kept in full per rule.
    kept_per_rule: HashMap<&'static str, usize>,
}

impl Digest {
    pub fn new(all: bool) -> Self {
        Digest {
            all,
            ..Digest::default()
        }
    }

    /// The worst severity seen.
    pub fn worst(&self) -> Option<Severity> {
        [Severity::Error, Severity::Warning, Severity::Info]
            .into_iter()
            .zip(self.counts)
            .find(|(_, n)| *n > 0)
            .map(|(s, _)| s)
    }

    pub fn add(&mut self, c: ConnReport) {
        for f in &c.findings {
            let i = match f.severity {
                Severity::Error => 0,
                Severity::Warning => 1,
                Severity::Info => 2,
            };
            self.counts[i] += 1;
            let e = self
                .by_rule
                .entry(f.rule.as_str())
                .or_insert((f.severity, Vec::new()));
            e.0 = e.0.max(f.severity);
            if e.1.last() != Some(&c.stream) {
                e.1.push(c.stream);
            }
        }
        if c.findings.is_empty() {
            self.healthy_total += 1;
            if self.all || self.healthy_kept < MAX_ROWS {
                self.healthy_kept += 1;
                self.kept.push(c);
            }
            return;
        }
        self.with_findings_total += 1;
        let wanted = self.all
            || self.with_findings_kept < MAX_ROWS
            || c.findings.iter().any(|f| {
                self.kept_per_rule
                    .get(f.rule.as_str())
                    .copied()
                    .unwrap_or(0)
                    < MAX_PER_RULE
            });
        if wanted {
            for f in &c.findings {
                *self.kept_per_rule.entry(f.rule.as_str()).or_default() += 1;
            }
            self.with_findings_kept += 1;
            self.kept.push(c);
        }
    }
}

/// The per-file summary of causes: rule → count, worst first, with the streams to open.
fn causes(d: &Digest) -> String {
    if d.by_rule.is_empty() {
        return String::new();
    }
    let mut rows: Vec<(&str, Severity, &Vec<u64>)> = d
        .by_rule
        .iter()
        .map(|(k, (sev, streams))| (*k, *sev, streams))
        .collect();
    rows.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(b.2.len().cmp(&a.2.len()))
            .then(a.0.cmp(b.0))
    });
    let mut s = String::from("   Causes (worst first):\n");
    for (rule, sev, streams) in rows {
        let shown: Vec<String> = streams.iter().take(6).map(u64::to_string).collect();
        let more = if streams.len() > 6 {
            format!(" (+{} more)", streams.len() - 6)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "     {:<8} {:<30} ×{:<4} tcp.stream eq {}{}",
            sev.as_str(),
            rule,
            streams.len(),
            shown.join(", "),
            more
        );
    }
    s
}

/// Renders one file's report from its digest.
pub fn render(r: &FileReport, d: &Digest) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "== {}", r.path);
    if let Some(e) = &r.error {
        let _ = writeln!(s, "   error: {e}");
        return s;
    }
    let links: Vec<String> = r.link_types.iter().map(|&l| linktype_name(l)).collect();
    let _ = writeln!(
        s,
        "   {}{} · {} · {} packets · {} TCP connections · findings: {} error, {} warning, {} info",
        r.format.unwrap_or("?"),
        if r.compressed { " (gzip)" } else { "" },
        links.join(", "),
        r.packets,
        r.tcp_streams,
        d.counts[0],
        d.counts[1],
        d.counts[2]
    );
    for w in &r.warnings {
        let _ = writeln!(s, "   warning: {w}");
    }
    s.push_str(&causes(d));
    if d.kept.is_empty() {
        let _ = writeln!(s, "   no TCP connections");
        return s;
    }
    let mut conns: Vec<&ConnReport> = d.kept.iter().collect();
    conns.sort_by_key(|c| c.stream);
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "stream",
            "client → server",
            "SNI",
            "version",
            "cipher",
            "outcome",
            "transcript",
            "findings",
        ]);
    let show_healthy = d.all || d.healthy_total + d.with_findings_total <= MAX_ROWS;
    for c in &conns {
        if !show_healthy && c.findings.is_empty() {
            continue;
        }
        table.add_row(vec![
            c.stream.to_string(),
            format!("{} → {}", c.client, c.server),
            c.sni.as_deref().unwrap_or("-").to_string(),
            c.tls_version
                .map_or_else(|| "-".to_string(), |v| v.to_string()),
            c.cipher.as_deref().unwrap_or("-").to_string(),
            c.outcome.to_string(),
            if c.transcript.chars().count() > 40 {
                format!("{}…", c.transcript.chars().take(40).collect::<String>())
            } else {
                c.transcript.to_string()
            },
            findings_cell(c),
        ]);
    }
    for line in table.to_string().lines() {
        let _ = writeln!(s, "   {line}");
    }
    let hidden_healthy = if show_healthy { 0 } else { d.healthy_total };
    let hidden_findings = d.with_findings_total - d.with_findings_kept;
    if hidden_healthy + hidden_findings > 0 {
        let _ = writeln!(
            s,
            "   ({} connections without findings and {} more with findings not shown; --all shows them)",
            hidden_healthy, hidden_findings
        );
    }
    let mut list: Vec<(&ConnReport, &crate::rules::Finding)> = conns
        .iter()
        .flat_map(|c| c.findings.iter().map(move |f| (*c, f)))
        .collect();
    // Worst first, then by stream and frame.
    list.sort_by(|a, b| {
        b.1.severity
            .cmp(&a.1.severity)
            .then(a.0.stream.cmp(&b.0.stream))
            .then(a.1.frames.first().cmp(&b.1.frames.first()))
    });
    let mut explained = HashSet::new();
    let mut shown: HashMap<&str, Vec<u64>> = HashMap::new();
    for (c, f) in list {
        let meta = f.rule.meta();
        let seen = shown.entry(meta.name).or_default();
        if !d.all && seen.len() >= MAX_PER_RULE {
            continue;
        }
        seen.push(c.stream);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "   [{}] {} · tcp.stream eq {} · {} → {}",
            f.severity.as_str(),
            meta.name,
            c.stream,
            c.client,
            c.server
        );
        s.push_str(&wrap(&f.summary, 96, "     "));
        if let Some(why) = &f.low_confidence {
            s.push_str(&wrap(&format!("Low confidence: {why}."), 96, "     "));
        }
        // The rule's explanation and fix once per file; later findings of the same rule add
        // only their own facts.
        if explained.insert(meta.name) {
            let mut why = meta.explanation.to_string();
            if let Some(d) = &f.detail {
                why.push(' ');
                why.push_str(d);
            }
            s.push_str(&wrap(&format!("Why: {why}"), 96, "     "));
            s.push_str(&wrap(&format!("Fix: {}", meta.fix), 96, "     "));
        } else if let Some(d) = &f.detail {
            s.push_str(&wrap(&format!("Why (see above): {d}"), 96, "     "));
        }
        let _ = writeln!(
            s,
            "     Evidence ({}): frames {} · tcp.stream eq {} · {} UTC",
            match f.evidence {
                crate::rules::Evidence::Seen => "seen",
                crate::rules::Evidence::Inferred => "inferred",
            },
            frames(&f.frames),
            c.stream,
            utc(f.time)
        );
    }
    // Findings not shown in full, per rule, worst first.
    let mut rest: Vec<(Severity, &str, Vec<u64>)> = d
        .by_rule
        .iter()
        .filter_map(|(rule, (sev, streams))| {
            let done = shown.get(rule).map(Vec::as_slice).unwrap_or_default();
            let left: Vec<u64> = streams
                .iter()
                .copied()
                .filter(|st| !done.contains(st))
                .collect();
            (!left.is_empty()).then_some((*sev, *rule, left))
        })
        .collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    if !rest.is_empty() {
        let _ = writeln!(s);
    }
    for (_, rule, streams) in rest {
        let list: Vec<String> = streams.iter().take(12).map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "   … and {} more {rule} finding(s) (tcp.stream eq {}{}); --all shows them",
            streams.len(),
            list.join(", "),
            if streams.len() > 12 { ", …" } else { "" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_words() {
        assert_eq!(wrap("aa bb cc", 5, "> "), "> aa bb\n> cc\n");
        assert_eq!(frames(&[1, 2]), "1, 2");
    }
}
