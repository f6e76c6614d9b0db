#!/usr/bin/env python3
"""page-cache.py - put files into the page cache in a known state before a timed run.

Usage: page-cache.py MODE FILE...

  4k     drop FILE from the page cache, then read it back with readahead off
         (POSIX_FADV_RANDOM, 1 MiB reads): the cache holds it in 4 KiB pages, as on a kernel
         without large folios. Every table in docs/performance.md was measured in this state.
  large  drop FILE, then read it back sequentially with readahead on: the kernel caches it in
         large folios (2 MiB ones on Linux 6.18 with ext4, read_ahead_kb 8192). A file that
         was just written (the generator's output) is cached in 2 MiB folios too.
  keep   read FILE as it is cached (like `cat FILE > /dev/null`); whatever state it was in
         stays.

Why it matters: a memory-mapped reader maps a 2 MiB folio with one page-table entry and a 4 KiB
page with one each, and read() copies from large folios faster too. The same 1 GiB capture took
tlsdiag 0.59 s in large folios against 0.70 s in 4 KiB pages, and the bare pcap-parser loop
0.10 s against 0.23 s, so the ratio of the two moves from ~3x to ~6x. A benchmark that only
re-reads its input with `cat` measures whichever state the file happens to be in.

Dropping needs no privileges (posix_fadvise POSIX_FADV_DONTNEED after fdatasync); pages mapped by
a running process stay.
"""
import os
import sys

CHUNK = 1 << 20


def drop(fd):
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def read_all(fd):
    buf = bytearray(CHUNK)
    while os.readv(fd, [buf]):
        pass


def main(argv):
    if len(argv) < 3 or argv[1] not in ("4k", "large", "keep"):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    mode = argv[1]
    for path in argv[2:]:
        fd = os.open(path, os.O_RDONLY)
        try:
            if mode != "keep":
                drop(fd)
            if mode == "4k":
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            else:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            read_all(fd)
        finally:
            os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
