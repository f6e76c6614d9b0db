//! Recognising captures by their first bytes (magic number), not their name: classic pcap (µs,
//! ns and the "modified" variant, both byte orders) and pcapng, each gzip-compressed or not.

use std::io::Read;
use std::path::Path;

use crate::capture;

/// What the first bytes of a file say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sniffed {
    Capture,
    /// Not a capture, and why (to report a skipped file).
    NotCapture(String),
    /// The file could not be opened or read; the analysis will report why.
    Unreadable,
}

/// The magic numbers the capture reader accepts, as the first four bytes of the file.
const MAGICS: [[u8; 4]; 7] = [
    [0xd4, 0xc3, 0xb2, 0xa1], // pcap, µs, little-endian
    [0xa1, 0xb2, 0xc3, 0xd4], // pcap, µs, big-endian
    [0x4d, 0x3c, 0xb2, 0xa1], // pcap, ns, little-endian
    [0xa1, 0xb2, 0x3c, 0x4d], // pcap, ns, big-endian
    [0x34, 0xcd, 0xb2, 0xa1], // modified pcap (Kuznetzov), little-endian
    [0xa1, 0xb2, 0xcd, 0x34], // modified pcap, big-endian
    [0x0a, 0x0d, 0x0d, 0x0a], // pcapng section header block
];

/// True when `head` starts like a capture.
pub fn is_capture_magic(head: &[u8]) -> bool {
    MAGICS.iter().any(|m| head.starts_with(m))
}

/// Reads the first bytes of `path` (through gzip when it is compressed) and says whether it
/// is a capture.
pub fn sniff(path: &Path) -> Sniffed {
    let Ok((mut input, compressed)) = capture::open(path) else {
        return Sniffed::Unreadable;
    };
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        let Some(rest) = head.get_mut(got..) else {
            break;
        };
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got = (got + n).min(head.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if compressed => {
                return Sniffed::NotCapture(format!("gzip data that cannot be decompressed ({e})"));
            }
            Err(_) => return Sniffed::Unreadable,
        }
    }
    let head = head.get(..got).unwrap_or(&head);
    if is_capture_magic(head) {
        return Sniffed::Capture;
    }
    let what = if got == 0 {
        "empty".to_string()
    } else if got < 4 {
        format!("only {got} bytes long")
    } else {
        format!("starts with {}", preview(head))
    };
    Sniffed::NotCapture(if compressed {
        format!("gzip-compressed, and the content is not a capture ({what})")
    } else {
        format!("not a capture ({what})")
    })
}

/// `3c 21 44 4f "<!DO"` (the text escaped like a Rust string).
fn preview(head: &[u8]) -> String {
    let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    let text = String::from_utf8_lossy(head);
    format!("{} \"{}\"", hex.join(" "), text.escape_debug())
}

/// True when the file name says it is meant to be a capture (`x.pcap`, `x.pcapng`, `x.cap`,
/// `x.ntar`, tcpdump's rotated `x.pcap3`, each optionally `.gz`): such a file is analysed even
/// when its first bytes are wrong, so a damaged capture is reported as an error, not skipped.
pub fn named_like_capture(path: &Path) -> bool {
    let Some(name) = path.file_name() else {
        return false;
    };
    let name = name.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let Some((_, ext)) = name.rsplit_once('.') else {
        return false;
    };
    let base = ext.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(base, "pcap" | "pcapng" | "cap" | "ntar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_names() {
        for yes in [
            "a.pcap",
            "A.PCAPNG",
            "x.cap",
            "t.pcap.gz",
            "trace.pcap12",
            "t.ntar",
        ] {
            assert!(named_like_capture(Path::new(yes)), "{yes}");
        }
        for no in [
            "notes.txt",
            "pcap",
            "x.gz",
            "x.pcapx",
            "trace0",
            ".pcap.txt",
        ] {
            assert!(!named_like_capture(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn magic_and_preview() {
        assert!(is_capture_magic(&[0xd4, 0xc3, 0xb2, 0xa1, 0]));
        assert!(is_capture_magic(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!is_capture_magic(b"\x0a\x0d\x0d"));
        assert_eq!(preview(b"<!D\x00"), r#"3c 21 44 00 "<!D\0""#);
        assert_eq!(preview(b"{\n \""), r#"7b 0a 20 22 "{\n \"""#);
    }
}
