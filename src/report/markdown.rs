//! `--format markdown`: a ticket-ready report. Totals and findings by rule, then per affected
//! file (worst first) each cause with its evidence frames and the Wireshark filter and command
//! that open it, then each rule's fix once, then what could not be read or was skipped.
//!
//! Text that comes from captures or file names (an SNI is chosen by whoever sent the
//! ClientHello) is escaped so that it cannot add links, HTML or code blocks to a ticket.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::summary::{
    FileDigest, SKIPPED_SHOWN, Skip, Summary, clean, error_reason, frame_list, plural, rule_title,
    shown,
};
use crate::rules::registry::lookup;

/// Escapes Markdown link and HTML syntax (and control characters) in prose. Code spans are
/// kept as they are (the rules' summaries quote configuration directives in backticks); an
/// unpaired backtick is escaped, so text after it cannot escape the escaping.
pub fn escape(s: &str) -> String {
    let s = clean(s);
    let ticks = s.matches('`').count();
    let mut seen = 0;
    let mut in_code = false;
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '`' {
            seen += 1;
            if ticks % 2 == 1 && seen == ticks {
                o.push_str("\\`");
            } else {
                in_code = !in_code;
                o.push(c);
            }
            continue;
        }
        match c {
            c if in_code => o.push(c),
            '\\' | '[' | ']' => {
                o.push('\\');
                o.push(c);
            }
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            c => o.push(c),
        }
    }
    o
}

/// An inline code span that holds `s` whatever backticks it contains.
pub fn code(s: &str) -> String {
    let s = clean(s);
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Quotes a word for a POSIX shell.
fn shell(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How many findings of one file the report details before `--all` is needed.
pub const FINDINGS_SHOWN_MD: usize = 10;

/// Renders the Markdown report.
/// `all` lists every finding of a file and every skipped path (else the first
/// [`FINDINGS_SHOWN_MD`] and [`SKIPPED_SHOWN`]).
pub fn render(s: &Summary, files: &[FileDigest], skipped: &[Skip], all: bool) -> String {
    let mut o = String::new();
    let title = if s.files_with_findings == 0 {
        format!("no findings in {} captures", s.captures)
    } else {
        format!(
            "{} of {} captures with findings",
            s.files_with_findings, s.captures
        )
    };
    let _ = writeln!(o, "## tlsdiag scan: {title}\n");
    let mut facts = vec![
        format!("{} captures read", s.captures),
        format!("{} TCP connections", s.connections),
        format!(
            "findings: {} error, {} warning, {} info",
            s.findings.error, s.findings.warning, s.findings.info
        ),
    ];
    if s.errors > 0 {
        facts.push(format!("**{} could not be read**", s.errors));
    }
    if s.skipped > 0 {
        facts.push(format!("{} skipped", s.skipped));
    }
    if let Some(sh) = s.shard {
        facts.push(format!("shard {}/{}", sh.index, sh.count));
    }
    let _ = writeln!(o, "{}\n", facts.join(" · "));

    if !s.rules.is_empty() {
        let _ = writeln!(o, "| rule | severity | findings | files |");
        let _ = writeln!(o, "|---|---|---:|---:|");
        for r in &s.rules {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                code(&r.rule),
                r.severity,
                r.findings,
                r.files
            );
        }
        let _ = writeln!(o);
    }

    let by_path: BTreeMap<&str, &FileDigest> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut rules_seen: Vec<&str> = Vec::new();
    for w in &s.worst_files {
        let Some(f) = by_path.get(w.path.as_str()) else {
            continue;
        };
        let _ = writeln!(o, "### {}\n", code(&f.path));
        let _ = writeln!(
            o,
            "{} error, {} warning, {} info · {}{}\n",
            w.counts.error,
            w.counts.warning,
            w.counts.info,
            plural(f.connections as usize, "TCP connection", "TCP connections"),
            f.format
                .as_deref()
                .map(|x| format!(
                    " · {}{}",
                    escape(x),
                    if f.compressed { " (gzip)" } else { "" }
                ))
                .unwrap_or_default()
        );
        let (list, more) = shown(&f.findings, FINDINGS_SHOWN_MD, all);
        for x in list {
            if !rules_seen.contains(&x.rule.as_str()) {
                rules_seen.push(&x.rule);
            }
            let title = rule_title(&x.rule)
                .map(|t| format!(": {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "- **{}** {}{} · {} → {}{}",
                x.severity.as_str(),
                code(&x.rule),
                escape(&title),
                code(&x.client),
                code(&x.server),
                x.sni
                    .as_deref()
                    .map(|n| format!(" (SNI {})", code(n)))
                    .unwrap_or_else(|| " (no SNI)".into())
            );
            let _ = writeln!(o, "  - {}", escape(&x.summary));
            let _ = writeln!(
                o,
                "  - Evidence ({}): {}",
                escape(&x.evidence),
                frame_list(&x.frames)
            );
            let cmd = format!("wireshark -r {} -Y {}", shell(&f.path), shell(&x.filter));
            let _ = writeln!(o, "  - Wireshark: {} · {}", code(&x.filter), code(&cmd));
        }
        if more > 0 {
            let _ = writeln!(
                o,
                "- … {more} more: {}",
                code(&format!("tlsdiag analyze {}", shell(&f.path)))
            );
        }
        for wn in &f.warnings {
            let _ = writeln!(o, "- warning: {}", escape(wn));
        }
        let _ = writeln!(o);
    }

    if !rules_seen.is_empty() {
        let _ = writeln!(o, "### How to fix\n");
        for r in rules_seen {
            match lookup(r) {
                Some(m) => {
                    let _ = writeln!(
                        o,
                        "- {} ({}): {}",
                        code(m.name),
                        escape(m.title),
                        escape(m.fix)
                    );
                }
                None => {
                    let _ = writeln!(o, "- {}: `tlsdiag explain {}`", code(r), escape(r));
                }
            }
        }
        let _ = writeln!(o);
    }

    let errors: Vec<&FileDigest> = files.iter().filter(|f| f.error.is_some()).collect();
    if !errors.is_empty() {
        let _ = writeln!(o, "### Could not be read\n");
        for f in errors {
            let _ = writeln!(o, "- {}: {}", code(&f.path), escape(error_reason(f)));
        }
        let _ = writeln!(o);
    }
    let warned: Vec<&FileDigest> = files
        .iter()
        .filter(|f| !f.warnings.is_empty() && f.findings.is_empty())
        .collect();
    if !warned.is_empty() {
        let _ = writeln!(o, "### Warnings\n");
        for f in warned {
            for w in &f.warnings {
                let _ = writeln!(o, "- {}: {}", code(&f.path), escape(w));
            }
        }
        let _ = writeln!(o);
    }
    if !skipped.is_empty() {
        let _ = writeln!(o, "### Skipped\n");
        let (list, more) = shown(skipped, SKIPPED_SHOWN, all);
        for k in list {
            let _ = writeln!(o, "- {}: {}", code(&k.path), escape(&k.reason));
        }
        if more > 0 {
            let _ = writeln!(o, "- … {more} more (`--format json` lists them)");
        }
        let _ = writeln!(o);
    }
    while o.ends_with("\n\n") {
        o.pop();
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("[x](http://e) <b>&"),
            r"\[x\](http://e) &lt;b&gt;&amp;"
        );
        assert_eq!(escape("set `a_b <c>` now"), "set `a_b <c>` now");
        assert_eq!(escape("x ` [y]"), r"x \` \[y\]");
        assert_eq!(code("a.pcap"), "`a.pcap`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(shell("dir/a.pcap"), "dir/a.pcap");
        assert_eq!(shell("it's here.pcap"), r"'it'\''s here.pcap'");
        assert_eq!(shell("tcp.stream eq 1"), "'tcp.stream eq 1'");
    }
}
