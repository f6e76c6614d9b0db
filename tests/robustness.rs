//! Captures are hostile input: damaged, truncated and bit-flipped captures must never panic,
//! a file that is not a capture is an error naming the file and offset, and a truncated one
//! gives partial results plus a warning.

use std::path::{Path, PathBuf};

use tlsdiag::analyze::analyze_collect;

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("fixtures"),
        root.join("fixtures/link"),
        root.join("fixtures/catalogue"),
        root.join("fixtures/http"),
        root.join("fixtures/decrypt"),
        root.join("fixtures/plaintext"),
        root.join("../shared/captures/public"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let n = p.to_string_lossy().to_string();
            let small = e.metadata().map(|m| m.len() < 300_000).unwrap_or(false);
            if small && (n.ends_with(".pcap") || n.ends_with(".pcapng")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The key log beside a capture (`X.keylog` for `X.pcap`), if any.
fn keylog_of(cap: &Path) -> Option<PathBuf> {
    let k = cap.with_extension("keylog");
    k.exists().then_some(k)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsdiag-robustness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn mutated_captures_never_panic() {
    let caps = captures();
    assert!(!caps.is_empty(), "no captures found");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut runs = 0;
    for cap in &caps {
        let bytes = std::fs::read(cap).expect("read capture");
        for round in 0..6 {
            let mut m = bytes.clone();
            match round {
                // truncated at a random offset
                0 | 1 => m.truncate((next() as usize) % bytes.len().max(1)),
                // random byte flips after the file header
                _ => {
                    for _ in 0..(1 + round * 8) {
                        let i = 24 + (next() as usize) % bytes.len().saturating_sub(24).max(1);
                        if let Some(b) = m.get_mut(i) {
                            *b ^= (next() & 0xff) as u8 | 1;
                        }
                    }
                }
            }
            let p = scratch(&format!("m{round}.pcap"));
            std::fs::write(&p, &m).expect("write mutated");
            // Keep a key log beside the mutated copy too, so damaged records reach the
            // decryption path.
            let keys = scratch(&format!("m{round}.keylog"));
            let _ = std::fs::remove_file(&keys);
            if let Some(k) = keylog_of(cap) {
                std::fs::copy(k, &keys).expect("copy key log");
            }
            let _ = analyze_collect(&p);
            runs += 1;
        }
    }
    eprintln!("{runs} mutated captures analysed without a panic");
}

#[test]
fn not_a_capture_is_an_error_naming_file_and_offset() {
    let p = scratch("notes.txt");
    std::fs::write(&p, b"this is a ticket note, not a capture\n").expect("write");
    let r = analyze_collect(&p);
    let err = r.error.expect("an error");
    assert!(err.contains("notes.txt"), "{err}");
    assert!(err.contains("byte offset 0"), "{err}");
    assert!(err.contains("not a pcap or pcapng"), "{err}");

    let empty = scratch("empty.pcap");
    std::fs::write(&empty, b"").expect("write");
    let err = analyze_collect(&empty).error.expect("an error");
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn truncated_gzip_gives_partial_results_and_a_warning() {
    use std::io::Write;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sni-ok.pcap");
    let bytes = std::fs::read(&src).expect("fixture");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).expect("gzip");
    let packed = gz.finish().expect("gzip");
    let p = scratch("cut.pcap.gz");
    std::fs::write(&p, &packed[..packed.len() * 2 / 3]).expect("write");
    let r = analyze_collect(&p);
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.compressed);
    assert!(r.packets > 0, "partial results expected");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("gzip stream is damaged or cut short")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn truncated_capture_gives_partial_results_and_a_warning() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/missing-sni-handshake-failure.pcap");
    let bytes = std::fs::read(&src).expect("fixture");
    let full = analyze_collect(&src);
    let p = scratch("cut.pcap");
    std::fs::write(&p, &bytes[..bytes.len() - 10]).expect("write");
    let r = analyze_collect(&p);
    assert!(r.error.is_none());
    assert_eq!(
        r.packets + 1,
        full.packets,
        "all but the cut record are read"
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("truncated") && w.contains("byte offset")),
        "{:?}",
        r.warnings
    );
    assert!(!r.connections.is_empty());
}

/// The byte offsets of a classic pcap file's records (in the file's byte order).
fn pcap_records(bytes: &[u8], big_endian: bool) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(len) = bytes.get(at + 8..at + 12) {
        out.push(at);
        let len: [u8; 4] = len.try_into().expect("4 bytes");
        let len = if big_endian {
            u32::from_be_bytes(len)
        } else {
            u32::from_le_bytes(len)
        };
        at += 16 + len as usize;
    }
    out
}

/// A record header claiming more captured bytes than Wireshark reads for the link type
/// (262,144 for Ethernet, whatever the file header's snapshot length says) is damaged, not the
/// end of a truncated file, and it is not read as a record that swallows the packets after it:
/// the analysis stops there with a warning naming its offset, on the mapped reader and on the
/// streaming one (gzip), in both byte orders, whether or not the file holds that many bytes
/// after it. A file that ends inside such a header is truncated.
#[test]
fn an_oversized_record_header_is_reported_as_damaged() {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (fixture, big_endian) in [
        ("fixtures/missing-sni-handshake-failure.pcap", false),
        ("fixtures/link/pcap-us-be.pcap", true),
    ] {
        let bytes = std::fs::read(root.join(fixture)).expect("fixture");
        let records = pcap_records(&bytes, big_endian);
        assert_eq!(
            analyze_collect(&root.join(fixture)).packets as usize,
            records.len()
        );
        let before = records.len() / 2;
        let at = records[before];
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        // (claimed length, bytes appended, snapshot length in the file header): more than is
        // left in the file (beyond the streaming reader's buffer, then within it); less, with
        // padding after the record; and under a file snapshot length larger than the limit.
        let cases = [
            (0x00ff_ffffu32, 0usize, None),
            (300_000, 0, None),
            (300_000, 300_000, None),
            (300_000, 300_000, Some(u32::MAX)),
        ];
        for (n, (caplen, pad, snaplen)) in cases.into_iter().enumerate() {
            let mut m = bytes.clone();
            m[at + 8..at + 12].copy_from_slice(&word(caplen));
            if let Some(snaplen) = snaplen {
                m[16..20].copy_from_slice(&word(snaplen));
            }
            m.extend(std::iter::repeat_n(0u8, pad));
            let plain = scratch(&format!("oversized-{big_endian}-{n}.pcap"));
            std::fs::write(&plain, &m).expect("write");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&m).expect("gzip");
            let packed = scratch(&format!("oversized-{big_endian}-{n}.pcap.gz"));
            std::fs::write(&packed, gz.finish().expect("gzip")).expect("write");
            for p in [&plain, &packed] {
                let r = analyze_collect(p);
                assert!(r.error.is_none(), "{:?}", r.error);
                assert_eq!(r.packets as usize, before, "{}", p.display());
                let expected = format!(
                    "at byte offset {at}: damaged record header (it claims {caplen} captured bytes, more than the maximum of 262144)"
                );
                assert!(
                    r.warnings.iter().any(|w| w.contains(&expected)),
                    "{}: {:?}",
                    p.display(),
                    r.warnings
                );
            }
        }
        // The file ends 4 bytes into that header, after its (large) captured length: cut short.
        let mut m = bytes.clone();
        m[at + 8..at + 12].copy_from_slice(&word(300_000));
        m.truncate(at + 12);
        let cut = scratch(&format!("oversized-{big_endian}-cut.pcap"));
        std::fs::write(&cut, &m).expect("write");
        let r = analyze_collect(&cut);
        assert_eq!(r.packets as usize, before);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains(&format!("at byte offset {at}: capture ends in the middle"))),
            "{:?}",
            r.warnings
        );
    }
}

/// The byte ranges of a pcapng file's blocks, with their types (in the section's byte order).
fn pcapng_blocks(bytes: &[u8]) -> Vec<(u32, std::ops::Range<usize>)> {
    let big_endian = bytes.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d][..]);
    let word = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let len = word(at + 4) as usize;
        if len < 12 {
            break;
        }
        out.push((word(at), at..at + len));
        at += len;
    }
    out
}

#[test]
fn truncated_or_damaged_pcapng_gives_partial_results_and_a_warning() {
    // Little- and big-endian sections: packet blocks are parsed on their own path.
    for name in ["dumpcap-lo.pcapng", "pcapng-be.pcapng"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/link")
            .join(name);
        let bytes = std::fs::read(&src).expect("fixture");
        let full = analyze_collect(&src);
        assert!(full.warnings.is_empty(), "{name}: {:?}", full.warnings);
        let Some((_, last)) = pcapng_blocks(&bytes)
            .into_iter()
            .rfind(|(typ, _)| *typ == 6)
        else {
            panic!("{name}: no enhanced packet block");
        };
        let expect_warning = |r: &tlsdiag::report::FileReport, what: &str| {
            assert!(r.error.is_none(), "{name}: {:?}", r.error);
            assert_eq!(
                r.packets + 1,
                full.packets,
                "{name}: all but the last packet"
            );
            assert!(
                r.warnings
                    .iter()
                    .any(|w| w.contains(what) && w.contains(&format!("byte offset {}", last.start))),
                "{name}: {:?}",
                r.warnings
            );
        };
        // The file ends inside the last packet block.
        let p = scratch(&format!("cut-{name}"));
        std::fs::write(&p, &bytes[..last.end - 10]).expect("write");
        expect_warning(&analyze_collect(&p), "truncated");
        // The last packet block's trailing length disagrees with its leading one.
        let mut bad = bytes.clone();
        bad[last.end - 2] ^= 0x01;
        let p = scratch(&format!("damaged-{name}"));
        std::fs::write(&p, &bad).expect("write");
        expect_warning(&analyze_collect(&p), "damaged record");
    }
}
