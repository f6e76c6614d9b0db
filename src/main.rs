//! Thin binary: parse flags, run, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's allocator (figures in docs/performance.md). A connection's
/// small objects (its hellos, findings, report strings) are allocated while it runs and freed
/// with hundreds of others when a sweep finalises them; glibc's per-thread cache holds 7 per
/// size, so the rest went through its shared bins and their consolidation (~12% of the
/// one-thread samples on the 1 GiB benchmark), and with --jobs the merging worker frees what
/// the other threads allocated.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the enum's values are stable across releases).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Milliseconds before freed memory goes back to the kernel. Never purging (-1) was as fast,
/// but memory freed once, like a hash table's old buckets, stayed resident: peak RSS grew
/// 1.38x from the 128 MiB to the 1 GiB benchmark (1.28x with 0.1 s) and `--jobs 2` reached
/// 59-69 MB (49-57 MB with 0.1 s).
const PURGE_DELAY_MS: std::ffi::c_long = 100;

fn main() -> ExitCode {
    // Transparent huge pages are off (the crate's `no_thp` feature): with them a heap of ~10 MB
    // was resident as 2 MB pages, and peak RSS doubled.
    // SAFETY: sets one integer option, before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
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
