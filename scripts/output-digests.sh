#!/usr/bin/env bash
# output-digests.sh - what a build prints for every committed fixture and public capture, in
# short digests: a change meant to be only faster must leave all four unchanged.
#
# Usage: scripts/output-digests.sh [BIN] [OUT_PREFIX]
#   BIN         the tlsdiag binary (default target/release/tlsdiag)
#   OUT_PREFIX  where the four outputs are kept, to diff two builds' (default /tmp/tlsdiag-digests)
#
# Runs `analyze` from the repository's root on every .pcap, .pcapng, .cap and .pcap.gz under
# fixtures/ and ../shared/captures/public (when present), named by those relative paths so that
# the digests do not depend on where the clone is, one file at a time in sorted order, stderr
# included: jsonl, the human report, json, and jsonl with --jobs 2. Prints the first 8 hex
# digits of each output's MD5, then whether the --jobs 2 output equals the --jobs 1 one.
# docs/performance.md ("Commands") gives the digests of the current code.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
BIN="${1:-$REPO/target/release/tlsdiag}"
OUT="${2:-/tmp/tlsdiag-digests}"
[ -x "$BIN" ] || { echo "output-digests.sh: $BIN is not an executable (cargo build --release)" >&2; exit 2; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
cd "$REPO"
dirs=(fixtures)
[ -d ../shared/captures/public ] && dirs+=(../shared/captures/public)
mapfile -t files < <(find "${dirs[@]}" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.pcap.gz' \) | sort)
[ "${#files[@]}" -gt 0 ] || { echo "output-digests.sh: no captures found" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
# Exit codes are findings (--fail-on) or bad input, not failures of this script.
run() { for f in "${files[@]}"; do "$BIN" analyze "$@" "$f" 2>&1 || true; done; }
run --format jsonl > "$OUT.jsonl"
run > "$OUT.human"
run --format json > "$OUT.json"
run --jobs 2 --format jsonl > "$OUT.j2"
echo "${#files[@]} captures"
for ext in jsonl human json j2; do
    printf '%s %s\n' "$(md5sum < "$OUT.$ext" | cut -c1-8)" "$OUT.$ext"
done
if cmp -s "$OUT.jsonl" "$OUT.j2"; then echo "--jobs 2 identical to --jobs 1"; else echo "--jobs 2 DIFFERS from --jobs 1"; exit 1; fi
