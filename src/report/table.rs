//! The human report: per file a summary line, a table of connections, then each finding with
//! its explanation, fix and evidence (`frames 181, 191 · tcp.stream eq 7`).

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

/// The per-file summary of causes: rule → count, worst first, with the streams to open.
pub fn causes(r: &FileReport) -> String {
    use std::collections::BTreeMap;
    let mut by_rule: BTreeMap<&str, (Severity, Vec<u64>)> = BTreeMap::new();
    for (c, f) in r.findings() {
        let e = by_rule
            .entry(f.rule.as_str())
            .or_insert((f.severity, Vec::new()));
        e.0 = e.0.max(f.severity);
        if e.1.last() != Some(&c.stream) {
            e.1.push(c.stream);
        }
    }
    if by_rule.is_empty() {
        return String::new();
    }
    let mut rows: Vec<(&str, Severity, Vec<u64>)> = by_rule
        .into_iter()
        .map(|(k, (sev, streams))| (k, sev, streams))
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

/// Renders one file's report. `all` shows every connection in the table.
pub fn render(r: &FileReport, all: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "== {}", r.path);
    if let Some(e) = &r.error {
        let _ = writeln!(s, "   error: {e}");
        return s;
    }
    let links: Vec<String> = r.link_types.iter().map(|&l| linktype_name(l)).collect();
    let (errors, warnings, infos) = (
        r.count(Severity::Error),
        r.count(Severity::Warning),
        r.count(Severity::Info),
    );
    let _ = writeln!(
        s,
        "   {}{} · {} · {} packets · {} TCP connections · findings: {} error, {} warning, {} info",
        r.format.unwrap_or("?"),
        if r.compressed { " (gzip)" } else { "" },
        links.join(", "),
        r.packets,
        r.tcp_streams,
        errors,
        warnings,
        infos
    );
    for w in &r.warnings {
        let _ = writeln!(s, "   warning: {w}");
    }
    s.push_str(&causes(r));
    if r.connections.is_empty() {
        let _ = writeln!(s, "   no TCP connections");
        return s;
    }
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
    let show_all = all || r.connections.len() <= MAX_ROWS;
    let mut hidden = 0usize;
    for c in &r.connections {
        if !show_all && c.findings.is_empty() {
            hidden += 1;
            continue;
        }
        table.add_row(vec![
            c.stream.to_string(),
            format!("{} → {}", c.client, c.server),
            c.sni.clone().unwrap_or_else(|| "-".into()),
            c.tls_version.clone().unwrap_or_else(|| "-".into()),
            c.cipher.clone().unwrap_or_else(|| "-".into()),
            c.outcome.to_string(),
            if c.transcript.len() > 40 {
                format!("{}…", &c.transcript[..40])
            } else {
                c.transcript.clone()
            },
            findings_cell(c),
        ]);
    }
    for line in table.to_string().lines() {
        let _ = writeln!(s, "   {line}");
    }
    if hidden > 0 {
        let _ = writeln!(
            s,
            "   ({hidden} connections without findings not shown; --all shows them)"
        );
    }
    let mut list: Vec<(&ConnReport, &crate::rules::Finding)> = r.findings().collect();
    // Worst first, then by stream and frame.
    list.sort_by(|a, b| {
        b.1.severity
            .cmp(&a.1.severity)
            .then(a.0.stream.cmp(&b.0.stream))
            .then(a.1.frames.first().cmp(&b.1.frames.first()))
    });
    let mut explained = std::collections::HashSet::new();
    let mut shown: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut hidden: std::collections::BTreeMap<(std::cmp::Reverse<Severity>, &str), Vec<u64>> =
        std::collections::BTreeMap::new();
    for (c, f) in list {
        let meta = f.rule.meta();
        let n = shown.entry(meta.name).or_default();
        *n += 1;
        if !all && *n > MAX_PER_RULE {
            hidden
                .entry((std::cmp::Reverse(f.severity), meta.name))
                .or_default()
                .push(c.stream);
            continue;
        }
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
    if !hidden.is_empty() {
        let _ = writeln!(s);
    }
    for ((_, rule), streams) in hidden {
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
