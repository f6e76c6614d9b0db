//! Command-line interface: flags are defined once here (clap derive), with their docs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analyze::{analyze_collect, analyze_file};
use crate::report::{json, table};
use crate::rules::registry::{RULES, lookup, render_markdown, render_one};

/// tlsdiag reads packet captures and tells why TLS connections failed, with the frame
/// numbers that prove it.
#[derive(Debug, Parser)]
#[command(name = "tlsdiag", version, about, long_about = None)]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Summary, table of connections and findings with explanation, fix and evidence.
    Human,
    /// One JSON document (see docs/json.md).
    Json,
    /// One JSON object per connection per line, written as connections finish.
    Jsonl,
}

/// Runs the command; the exit code is 0 on success, 2 when a file could not be read or the
/// usage was wrong.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match cli.command {
        Command::Rules { markdown } => {
            if markdown {
                out.write_all(render_markdown().as_bytes())?;
            } else {
                for m in RULES {
                    writeln!(out, "{:<26} {:<8} {}", m.name, m.severity.as_str(), m.title)?;
                }
            }
        }
        Command::Explain { id } => match lookup(&id) {
            Some(m) => out.write_all(render_one(m, "#").as_bytes())?,
            None => {
                out.flush()?;
                eprintln!("tlsdiag: unknown rule `{id}`; `tlsdiag rules` lists them");
                return Ok(ExitCode::from(2));
            }
        },
        Command::Analyze { files, format, all } => {
            let mut failed = false;
            match format {
                Format::Human => {
                    for (i, path) in files.iter().enumerate() {
                        let r = analyze_collect(path);
                        failed |= r.error.is_some();
                        if i > 0 {
                            writeln!(out)?;
                        }
                        out.write_all(table::render(&r, all).as_bytes())?;
                        out.flush()?;
                    }
                }
                Format::Json => {
                    let reports: Vec<_> = files.iter().map(|p| analyze_collect(p)).collect();
                    failed = reports.iter().any(|r| r.error.is_some());
                    serde_json::to_writer_pretty(&mut out, &json::document(&reports))?;
                    writeln!(out)?;
                }
                Format::Jsonl => {
                    for path in &files {
                        let p = path.display().to_string();
                        let mut write_err: Option<io::Error> = None;
                        let res = analyze_file(path, &mut |c| {
                            if write_err.is_some() {
                                return;
                            }
                            let line = json::conn(&c, Some(&p));
                            if let Err(e) = serde_json::to_writer(&mut out, &line)
                                .map_err(io::Error::from)
                                .and_then(|()| writeln!(out))
                            {
                                write_err = Some(e);
                            }
                        });
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
            if failed {
                return Ok(ExitCode::from(2));
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
