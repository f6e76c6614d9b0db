//! Thin binary: parse flags, run, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tlsdiag::cli::Cli::parse();
    match tlsdiag::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`tlsdiag ... | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("tlsdiag: {e:#}");
            ExitCode::from(2)
        }
    }
}
