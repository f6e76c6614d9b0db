#!/usr/bin/env python3
"""compare.py - time tlsdiag binaries against each other in rounds, for changes of a few percent.

Usage: compare.py [--rounds N] [--jobs N] [--page-cache 4k|large] [--no-pin] [--file PCAP]
                  BASE OTHER...

Each round runs every binary once (`analyze --jobs N --format jsonl PCAP > /dev/null`), with the
file put in the page cache by scripts/page-cache.py before every run. The order is rotated by
one and reversed from round to round, so that no binary always runs first or after the same
one. A binary's ratio is taken within a round (its wall time over BASE's in that round) and the
median of the rounds is reported, with the mean: on a VM whose speed drifts, the ratio within a
round is steadier than either binary's own times. Between two sessions of 16 rounds the same
pair still moved by about 3% here, so a change smaller than that needs several sessions.

  --rounds N        rounds (default 16)
  --jobs N          tlsdiag's --jobs (default 1)
  --page-cache M    4k (default) or large: the state the file is put in (see page-cache.py)
  --no-pin          do not pin to CPU 0 (--jobs 1 is pinned with `taskset -c 0` by default; more
                    jobs are never pinned: their threads would share one CPU)
  --file PCAP       input (default /tmp/tlsdiag-bench/bench-1024M.pcap, which scripts/bench.sh
                    makes)

Example (docs/performance-history.md, "Twenty-second stop"):
  scripts/compare.py --page-cache large /tmp/old-tlsdiag target/release/tlsdiag
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def pinned(args):
    """Whether runs are pinned to CPU 0: only --jobs 1 (more threads on one CPU measure nothing)."""
    return args.jobs <= 1 and not args.no_pin


def run(binary, args):
    """One timed run, wall seconds; exits if tlsdiag fails."""
    subprocess.run(
        [sys.executable, os.path.join(HERE, "page-cache.py"), args.page_cache, args.file],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    argv = (["taskset", "-c", "0"] if pinned(args) else []) + [
        binary, "analyze", "--jobs", str(args.jobs), "--format", "jsonl", args.file,
    ]
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=null)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"compare.py: {binary} exited with {done.returncode}")
    return wall


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=16)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--page-cache", choices=["4k", "large"], default="4k")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--file", default="/tmp/tlsdiag-bench/bench-1024M.pcap")
    p.add_argument("base")
    p.add_argument("others", nargs="+")
    args = p.parse_args()
    binaries = [args.base] + args.others
    for b in binaries:
        if not os.access(b, os.X_OK):
            sys.exit(f"compare.py: {b}: not an executable file")
    if not os.path.isfile(args.file):
        sys.exit(f"compare.py: {args.file}: no such file (scripts/bench.sh makes it)")
    times = {b: [] for b in binaries}
    ratios = {b: [] for b in binaries}
    for r in range(args.rounds):
        k = r % len(binaries)
        order = binaries[k:] + binaries[:k]
        if r % 2:
            order.reverse()
        walls = {b: run(b, args) for b in order}
        for b in binaries:
            times[b].append(walls[b])
            ratios[b].append(walls[b] / walls[args.base])
        print(
            f"round {r + 1}: " + "  ".join(f"{walls[b]:.3f}" for b in binaries),
            file=sys.stderr,
        )
    pin = "pinned to CPU 0" if pinned(args) else "not pinned"
    print(f"{args.rounds} rounds, --jobs {args.jobs} ({pin}), page cache {args.page_cache}, {args.file}")
    for b in binaries:
        print(
            f"{b}: median {statistics.median(times[b]):.3f} s, "
            f"ratio to the first: median {statistics.median(ratios[b]):.3f}, "
            f"mean {statistics.mean(ratios[b]):.3f}"
        )


if __name__ == "__main__":
    main()
