//! Hand-built captures of many TCP connections without payload, for tests and measurements
//! where what matters is how many connections are open at once, not what they carry (a scan,
//! a SYN flood): a classic little-endian pcap, raw IPv4 link type (101), 40-byte packets
//! (IPv4 and TCP headers, checksums 0: tlsdiag does not check them), microsecond times from
//! 2023-11-14T22:13:20Z. `scripts/make-scan-pcap.py` writes the same records, byte for byte, for
//! the measurements in docs/performance.md.

/// One packet: microseconds after the capture's start, the sending and receiving address and
/// port, the TCP flags. Sequence and acknowledgement numbers are 1, the window 65,535.
#[derive(Clone, Copy, Debug)]
pub struct Packet {
    pub usec: u64,
    pub from: ([u8; 4], u16),
    pub to: ([u8; 4], u16),
    pub flags: u8,
}

/// The capture of `packets`, in that order.
pub fn raw_ipv4_pcap(packets: impl IntoIterator<Item = Packet>) -> Vec<u8> {
    let mut out = Vec::new();
    // The version (2, 4) is two u16s: one little-endian word 0x0004_0002.
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for p in packets {
        let secs = 1_700_000_000 + p.usec / 1_000_000;
        for word in [secs as u32, (p.usec % 1_000_000) as u32, 40, 40] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        out.extend_from_slice(&p.from.0);
        out.extend_from_slice(&p.to.0);
        out.extend_from_slice(&p.from.1.to_be_bytes());
        out.extend_from_slice(&p.to.1.to_be_bytes());
        out.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, 1, 0x50, p.flags, 0xff, 0xff, 0, 0, 0, 0,
        ]);
    }
    out
}

/// `n` connections refused, `per_sec` opening each second: a SYN, and the server's RST a
/// millisecond later. Clients are `10.x.y.z`, 200 to an address, ports 40,000 on (the layout of
/// `scripts/make-scan-pcap.py`); the server `10.255.0.1:443`.
pub fn refused_connections(n: u32, per_sec: u32) -> Vec<u8> {
    let server = ([10, 255, 0, 1], 443);
    raw_ipv4_pcap((0..n).flat_map(|i| {
        let [_, _, hi, lo] = (i / 200).to_be_bytes();
        let client = ([10, hi, lo, (i % 200) as u8 + 1], 40_000 + (i % 200) as u16);
        let usec = u64::from(i) * 1_000_000 / u64::from(per_sec.max(1));
        [
            Packet {
                usec,
                from: client,
                to: server,
                flags: 0x02,
            },
            Packet {
                usec: usec + 1_000,
                from: server,
                to: client,
                flags: 0x14,
            },
        ]
    }))
}
