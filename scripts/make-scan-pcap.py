#!/usr/bin/env python3
"""make-scan-pcap.py - write a synthetic capture of refused connections (a scan), or of
unanswered SYNs (a SYN flood).

Usage: make-scan-pcap.py [--unanswered] CONNECTIONS PER_SECOND OUT.pcap

Each connection is a SYN from its own client (10.x.y.z, a port from 40000) to 10.255.0.1:443
and the server's RST/ACK a millisecond later (with --unanswered, the SYN alone); PER_SECOND of
them start each second. Classic pcap, raw IPv4 link type (101), microsecond times from
2023-11-14T22:13:20Z, checksums 0 (tlsdiag does not check them).

What it measures: a closed connection waits 5 s for late packets before it is finalised, so at
PER_SECOND connections a second about 5 x PER_SECOND are held at once. The benchmark capture has
~4,200 of them; a scan at 50,000 a second has 250,000. Twenty-eighth stop
(docs/performance-history.md): `tlsdiag analyze --jobs 1 --format jsonl` peaked at 997 MiB on
`make-scan-pcap.py 1000000 50000` (112 MB) and 213 MiB on `make-scan-pcap.py 300000 10000`.
An unanswered SYN is an open connection, kept for an hour of capture time: on
`make-scan-pcap.py --unanswered 1000000 50000` (56 MB) it peaked at 2.94 GB until the
twenty-ninth stop held such connections as their packets' headers (0.53-0.57 GB).

The tests build the same records, byte for byte, with `tlsdiag::capture::synthetic`.

Hand-built on purpose: no real stack refuses 50,000 connections a second on loopback in a way
tcpdump keeps up with, and the content of each connection does not matter here, only how many
are held at once.
"""
import struct
import sys


def main() -> int:
    args = sys.argv[1:]
    unanswered = args[:1] == ["--unanswered"]
    if unanswered:
        args = args[1:]
    if len(args) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    n, per_sec, path = int(args[0]), int(args[1]), args[2]
    # Every client address is its own up to 200 x 65,536 connections.
    if not 1 <= n <= 200 * 65536 or per_sec < 1:
        print("make-scan-pcap.py: CONNECTIONS 1..13,107,200 and PER_SECOND >= 1", file=sys.stderr)
        return 2
    server = bytes([10, 255, 0, 1])
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))

        def record(usec, src, sport, dst, dport, flags):
            ip = bytes([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]) + src + dst
            tcp = struct.pack(">HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 0xFFFF, 0, 0)
            secs = 1_700_000_000 + usec // 1_000_000
            out.write(struct.pack("<IIII", secs, usec % 1_000_000, 40, 40) + ip + tcp)

        for i in range(n):
            client = bytes([10, 1 + (i >> 16) % 200, (i >> 8) & 255, i & 255])
            port = 40000 + i % 20000
            usec = i * 1_000_000 // per_sec
            record(usec, client, port, server, 443, 0x02)
            if not unanswered:
                record(usec + 1000, server, 443, client, port, 0x14)
    return 0


if __name__ == "__main__":
    sys.exit(main())
