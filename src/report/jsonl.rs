//! `--format jsonl`: one connection per line, written straight into a byte buffer.
//!
//! The bytes are exactly those `serde_json::to_writer(&json::conn(..))` writes (the wire types
//! in [`super::json`] stay the schema of record; a test compares the two on every fixture and
//! public capture, and on strings that need escaping). What this saves is serde's generic path:
//! keys escaped byte by byte on every line, values escaped byte by byte, `Display` adapters —
//! about a quarter of the instructions of a `jsonl` run on the benchmark capture. Keys are
//! literals here; a string is copied whole when a vectorisable scan finds nothing to escape.
//! The rare parts (HTTP exchanges, WebSocket) still go through serde.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;

use super::ConnReport;
use super::json;
use crate::rules::{Evidence, Finding, RULES, RuleId};
use crate::timeline::DirStats;

/// A capture's path as a JSON string (quoted and escaped), made once for all its lines.
#[derive(Clone, Debug)]
pub struct PathJson(Vec<u8>);

impl PathJson {
    pub fn new(path: &str) -> Self {
        let mut v = Vec::with_capacity(path.len() + 2);
        string(&mut v, path);
        PathJson(v)
    }
}

/// Appends `c` as one JSON object (no newline), the same bytes as
/// `serde_json::to_writer(out, &json::conn(c, path))`.
pub fn write_conn(
    out: &mut Vec<u8>,
    c: &ConnReport,
    path: Option<&PathJson>,
) -> serde_json::Result<()> {
    out.push(b'{');
    if let Some(p) = path {
        out.extend_from_slice(b"\"path\":");
        out.extend_from_slice(&p.0);
        out.push(b',');
    }
    out.extend_from_slice(b"\"stream\":");
    int(out, c.stream);
    out.extend_from_slice(b",\"client\":");
    addr(out, &c.client);
    out.extend_from_slice(b",\"server\":");
    addr(out, &c.server);
    out.extend_from_slice(b",\"sni\":");
    opt_string(out, c.sni.as_deref());
    out.extend_from_slice(b",\"alpn\":");
    opt_string(out, c.alpn.as_deref());
    out.extend_from_slice(b",\"alpn_offered\":[");
    for (i, a) in c.alpn_offered.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, a);
    }
    out.extend_from_slice(b"],\"tls_version\":");
    match c.tls_version {
        Some(v) => match v.released_name() {
            Some(name) => clean(out, name),
            None => shown(out, v),
        },
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"cipher\":");
    opt_string(out, c.cipher.as_deref());
    out.extend_from_slice(b",\"outcome\":");
    clean(out, c.outcome.as_str());
    out.extend_from_slice(b",\"first_frame\":");
    int(out, c.first_frame);
    out.extend_from_slice(b",\"last_frame\":");
    int(out, c.last_frame);
    out.extend_from_slice(b",\"first_time\":");
    float(out, c.first_time.as_secs_f64());
    out.extend_from_slice(b",\"last_time\":");
    float(out, c.last_time.as_secs_f64());
    out.extend_from_slice(b",\"transcript\":");
    string(out, &c.transcript);
    out.extend_from_slice(b",\"c2s\":");
    traffic(out, &c.c2s);
    out.extend_from_slice(b",\"s2c\":");
    traffic(out, &c.s2c);
    out.extend_from_slice(b",\"findings\":[");
    for (i, f) in c.findings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        finding(out, c, f);
    }
    out.extend_from_slice(b"],\"http\":[");
    for (i, x) in json::http(c).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, x)?;
    }
    out.push(b']');
    if let Some(ws) = json::websocket(c) {
        out.extend_from_slice(b",\"websocket\":");
        serde_json::to_writer(&mut *out, &ws)?;
    }
    out.push(b'}');
    Ok(())
}

/// One finding, as [`json::finding`] serialises.
fn finding(out: &mut Vec<u8>, c: &ConnReport, f: &Finding) {
    let meta = f.rule.meta();
    out.extend_from_slice(b"{\"rule\":");
    clean(out, meta.name);
    out.extend_from_slice(b",\"severity\":");
    clean(out, f.severity.as_str());
    out.extend_from_slice(b",\"summary\":");
    string(out, &f.summary);
    out.extend_from_slice(b",\"explanation\":");
    // As json::Explanation displays: the rule's text, then this connection's detail.
    let (explanation, fix) = rule_texts(f.rule);
    out.push(b'"');
    out.extend_from_slice(explanation);
    if let Some(d) = &f.detail {
        out.push(b' ');
        escaped(out, d.as_bytes());
    }
    out.push(b'"');
    out.extend_from_slice(b",\"fix\":");
    out.extend_from_slice(fix);
    out.extend_from_slice(b",\"frames\":[");
    for (i, n) in f.frames.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        int(out, *n);
    }
    out.extend_from_slice(b"],\"time\":");
    float(out, f.time.as_secs_f64());
    out.extend_from_slice(b",\"evidence\":");
    clean(
        out,
        match f.evidence {
            Evidence::Seen => "seen",
            Evidence::Inferred => "inferred",
        },
    );
    out.extend_from_slice(b",\"filter\":");
    // json::StreamFilter, without the formatting machinery.
    out.extend_from_slice(b"\"tcp.stream eq ");
    int(out, c.stream);
    out.push(b'"');
    out.extend_from_slice(b",\"confidence\":");
    clean(
        out,
        if f.low_confidence.is_some() {
            "low"
        } else {
            "high"
        },
    );
    out.extend_from_slice(b",\"confidence_note\":");
    opt_string(out, f.low_confidence.as_deref());
    out.push(b'}');
}

/// One direction's counters, as [`json::Traffic`] serialises.
fn traffic(out: &mut Vec<u8>, s: &DirStats) {
    field(out, b"{\"packets\":", s.packets);
    field(out, b",\"bytes\":", s.bytes);
    field(out, b",\"tls_app_records\":", s.app_records);
    field(out, b",\"tls_app_bytes\":", s.app_bytes);
    field(out, b",\"retransmissions\":", s.retransmissions);
    field(out, b",\"missing_bytes\":", s.gap_bytes);
    out.push(b'}');
}

/// A key (with its punctuation) and an integer value; the key's length is a constant where it
/// is copied.
#[inline(always)]
fn field<const N: usize>(out: &mut Vec<u8>, key: &[u8; N], v: u64) {
    out.extend_from_slice(key);
    int(out, v);
}

fn int(out: &mut Vec<u8>, v: u64) {
    // Most counters here are small: one or two digits without the formatter.
    match v {
        0..=9 => out.push(b'0' + v as u8),
        10..=99 => out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]),
        _ => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
    }
}

/// serde_json's `f64`: the shortest round-trip form, `null` when not finite.
fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// An address as its `Display` string; IPv4 (the common case) without `fmt`, built on the
/// stack and appended at once ("255.255.255.255:65535" with quotes is 23 bytes). The octets'
/// digits are written here: through `itoa`, as the port is, this function took 37% more
/// instructions (+0.5% of the whole run on the 128 MiB benchmark).
fn addr(out: &mut Vec<u8>, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            let mut buf = [0u8; 24];
            let mut n = 0;
            let mut put = |b: u8| {
                if let Some(slot) = buf.get_mut(n) {
                    *slot = b;
                    n += 1;
                }
            };
            put(b'"');
            for (i, o) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    put(b'.');
                }
                if o >= 100 {
                    put(b'0' + o / 100);
                }
                if o >= 10 {
                    put(b'0' + o / 10 % 10);
                }
                put(b'0' + o % 10);
            }
            put(b':');
            for &d in itoa::Buffer::new().format(v4.port()).as_bytes() {
                put(d);
            }
            put(b'"');
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        SocketAddr::V6(_) => shown(out, a),
    }
}

/// A value's `Display` form as a JSON string, escaped as it is written.
fn shown(out: &mut Vec<u8>, v: impl fmt::Display) {
    out.push(b'"');
    // Writing into a Vec cannot fail.
    let _ = write!(Escaping(out), "{v}");
    out.push(b'"');
}

struct Escaping<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escaped(self.0, s.as_bytes());
        Ok(())
    }
}

/// A string known to need no escaping (the crate's own names: outcomes, severities, rule and
/// version names), quoted without the scan. Debug builds check the claim.
fn clean(out: &mut Vec<u8>, s: &'static str) {
    debug_assert!(!s.bytes().any(needs_escape), "{s:?} needs escaping");
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escaped(out, s.as_bytes());
    out.push(b'"');
}

/// A rule's explanation (escaped, unquoted) and fix (a quoted JSON string): the longest text of
/// a line, the same for every finding of the rule, so escaped once.
fn rule_texts(rule: RuleId) -> (&'static [u8], &'static [u8]) {
    static TEXTS: std::sync::OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = std::sync::OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        RULES
            .iter()
            .map(|m| {
                let mut explanation = Vec::new();
                escaped(&mut explanation, m.explanation.as_bytes());
                let mut fix = Vec::new();
                string(&mut fix, m.fix);
                (explanation, fix)
            })
            .collect()
    });
    texts
        .get(rule.index())
        .map_or((&b""[..], &b"\"\""[..]), |(e, f)| {
            (e.as_slice(), f.as_slice())
        })
}

/// What JSON requires escaping (and all serde_json escapes): control bytes, `"` and `\`.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `bytes` (valid UTF-8) as the inside of a JSON string, escaped as serde_json does.
fn escaped(out: &mut Vec<u8>, mut bytes: &[u8]) {
    // No early exit: the compiler turns this into a vector loop.
    if !bytes.iter().fold(false, |any, &b| any | needs_escape(b)) {
        out.extend_from_slice(bytes);
        return;
    }
    while let Some(i) = bytes.iter().position(|&b| needs_escape(b)) {
        let (run, rest) = bytes.split_at(i);
        out.extend_from_slice(run);
        let Some((&b, rest)) = rest.split_first() else {
            break;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        bytes = rest;
    }
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_display_writes_them() {
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.100.9.99:443",
            "1.20.199.200:8080",
            "[::1]:443",
            "[fe80::1%2]:22",
        ] {
            let a: SocketAddr = a.parse().unwrap_or_else(|e| panic!("{a}: {e}"));
            let mut out = Vec::new();
            addr(&mut out, &a);
            assert_eq!(String::from_utf8_lossy(&out), format!("\"{a}\""));
        }
    }

    #[test]
    fn integers_as_serde_json_writes_them() {
        for v in (0..=1_000).chain([9_999, 65_535, u64::from(u32::MAX), u64::MAX]) {
            let mut out = Vec::new();
            int(&mut out, v);
            assert_eq!(out, serde_json::to_vec(&v).unwrap_or_default(), "{v}");
        }
    }

    fn serde_line(c: &ConnReport, path: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&json::conn(c, path)).unwrap_or_default()
    }

    fn ours(c: &ConnReport, path: Option<&str>) -> Vec<u8> {
        let mut v = Vec::new();
        assert!(write_conn(&mut v, c, path.map(PathJson::new).as_ref()).is_ok());
        v
    }

    #[test]
    fn escaping_matches_serde_json() {
        let mut nasty = String::new();
        for b in 0u8..0x80 {
            nasty.push(char::from(b));
        }
        nasty.push_str("é — 日本 \u{2028} \u{7f} \u{1F600} end");
        for s in ["", "plain", "\"", "\\", "a\"b\\c\nd", nasty.as_str()] {
            let mut v = Vec::new();
            string(&mut v, s);
            assert_eq!(
                String::from_utf8_lossy(&v),
                serde_json::to_string(s).unwrap_or_default(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn floats_and_addresses_match_serde_json() {
        for v in [
            0.0,
            1.5,
            1704067200.1206179,
            1e-9,
            123456789.000001,
            f64::NAN,
        ] {
            let mut out = Vec::new();
            float(&mut out, v);
            assert_eq!(
                String::from_utf8_lossy(&out),
                serde_json::to_string(&v).unwrap_or_default()
            );
        }
        for a in ["127.0.0.1:443", "0.0.0.0:0", "[::1]:8443", "[fe80::1%3]:22"] {
            let a: SocketAddr = match a.parse() {
                Ok(a) => a,
                Err(_) => std::net::SocketAddrV6::new(
                    std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
                    22,
                    0,
                    3,
                )
                .into(),
            };
            let mut out = Vec::new();
            addr(&mut out, &a);
            assert_eq!(
                String::from_utf8_lossy(&out),
                serde_json::to_string(&json::Shown(&a)).unwrap_or_default()
            );
        }
    }

    #[test]
    fn a_connection_with_every_part_matches_serde_json() {
        use crate::capture::Timestamp;
        use crate::http::{RequestInfo, ResponseInfo};
        use crate::report::{HttpExchange, WsSummary};
        use crate::rules::{RuleId, Severity};
        use crate::timeline::{Dir, Outcome};
        let finding = Finding {
            rule: RuleId::MissingSni,
            severity: Severity::Error,
            summary: "quote \" backslash \\ tab\t".into(),
            detail: Some("line\nbreak \u{1}".into()),
            frames: vec![3, 7, 12],
            time: Timestamp(1_704_067_200_123_456_789),
            evidence: Evidence::Inferred,
            explains: vec![],
            explains_silence: false,
            explains_resets: false,
            low_confidence: Some("capture starts mid-stream".into()),
        };
        let mut plain = finding.clone();
        plain.detail = None;
        plain.low_confidence = None;
        plain.evidence = Evidence::Seen;
        let request = RequestInfo {
            method: "GET".into(),
            target: "/chat?q=\"x\"".into(),
            host: Some("h.example".into()),
            connection: Some("Upgrade".into()),
            upgrade: Some("websocket".into()),
            ws_key: None,
            ws_extensions: Some("permessage-deflate".into()),
            user_agent: None,
        };
        let response = ResponseInfo {
            status: 101,
            reason: "Switching Protocols".into(),
            server: Some("Microsoft-IIS/10.0".into()),
            via: None,
            x_powered_by: None,
            connection: None,
            upgrade: Some("websocket".into()),
            ws_accept: Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into()),
            ws_extensions: None,
            content_length: Some(0),
        };
        let c = ConnReport {
            stream: 42,
            client: "10.0.0.1:50000"
                .parse()
                .unwrap_or(SocketAddr::from(([0; 4], 0))),
            server: "[2001:db8::1]:443"
                .parse()
                .unwrap_or(SocketAddr::from(([0; 4], 0))),
            sni: Some("www.example.test".into()),
            alpn: None,
            alpn_offered: smallvec::smallvec!["h2".into(), "http/1.1".into()],
            tls_version: Some(crate::tls::TlsVersion(0x7f17)),
            cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            outcome: Outcome::HandshakeFailed,
            first_frame: 1,
            last_frame: 99,
            first_time: Timestamp(1_704_067_200_000_000_000),
            last_time: Timestamp(1_704_067_320_500_000_001),
            transcript: "Cs!".into(),
            c2s: DirStats::default(),
            s2c: DirStats {
                packets: 3,
                bytes: 4000,
                app_records: 2,
                app_bytes: 3000,
                retransmissions: 1,
                gap_bytes: 5,
            },
            findings: vec![finding, plain],
            http: vec![
                HttpExchange {
                    request: Some((5, Timestamp(1_704_067_201_000_000_000), request)),
                    response: Some((6, Timestamp(1_704_067_201_250_000_000), response)),
                },
                HttpExchange {
                    request: None,
                    response: None,
                },
            ],
            websocket: Some(WsSummary {
                frames_c2s: 1,
                frames_s2c: 0,
                compressed_frames: 1,
                closes: vec![
                    (9, Dir::ClientToServer, Some(1006)),
                    (10, Dir::ServerToClient, None),
                ],
            }),
        };
        for path in [None, Some("/tmp/a \"b\".pcap")] {
            assert_eq!(
                String::from_utf8_lossy(&ours(&c, path)),
                String::from_utf8_lossy(&serde_line(&c, path))
            );
        }
        let mut bare = c.clone();
        bare.findings.clear();
        bare.http.clear();
        bare.websocket = None;
        bare.sni = None;
        bare.alpn_offered.clear();
        bare.tls_version = None;
        bare.cipher = None;
        assert_eq!(ours(&bare, None), serde_line(&bare, None));
    }
}
