//! ClientHello / ServerHello contents, parsed with `tls-parser`.
//!
//! Extensions are framed one by one here so that one malformed extension (fuzzed or
//! experimental) costs only that extension, then each is handed to tls-parser.

use serde::Serialize;
use tls_parser::{
    TlsExtension, parse_tls_client_hello_extension, parse_tls_server_hello_extension,
};

use super::names::TlsVersion;

/// How a ClientHello was framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    Tls,
    Sslv2,
}

/// The facts of a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientHelloInfo {
    pub record_format: RecordFormat,
    /// The record layer version of the (first) record carrying it.
    pub record_version: TlsVersion,
    pub legacy_version: TlsVersion,
    /// supported_versions (TLS 1.3), GREASE included, as sent.
    pub supported_versions: Vec<TlsVersion>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub cipher_suites: Vec<u16>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    /// supported_groups.
    pub groups: Vec<u16>,
    pub renegotiation_info: bool,
    /// TLS_EMPTY_RENEGOTIATION_INFO_SCSV offered.
    pub renegotiation_scsv: bool,
    pub session_id: Vec<u8>,
    /// A non-empty session ticket was offered.
    pub session_ticket: bool,
    /// A TLS 1.3 pre_shared_key was offered.
    pub psk: bool,
    /// Length of the handshake message (header included).
    pub length: u32,
    /// How many TCP segments carried it.
    pub segments: u32,
}

/// The facts of a ServerHello (or HelloRetryRequest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerHelloInfo {
    /// Negotiated version: supported_versions when present, else the legacy version.
    pub version: TlsVersion,
    pub legacy_version: TlsVersion,
    pub cipher: u16,
    pub alpn: Option<String>,
    pub extensions: Vec<u16>,
    pub hello_retry_request: bool,
    pub renegotiation_info: bool,
    /// The server resumed a session (echoed session id in TLS ≤ 1.2, pre_shared_key in 1.3).
    pub resumed: bool,
    pub session_id: Vec<u8>,
}

/// SHA-256("HelloRetryRequest"): the ServerHello random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Walks an extensions block: (type, whole extension bytes incl. its 4-byte header).
fn walk_extensions(mut ext: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let hdr = ext.get(..4)?;
        let t = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let whole = ext.get(..4 + len)?;
        ext = ext.get(4 + len..).unwrap_or_default();
        Some((t, whole))
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a ClientHello message body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8], record_version: u16) -> Option<ClientHelloInfo> {
    let (_, ch) = tls_parser::parse_tls_handshake_client_hello(body).ok()?;
    let mut info = ClientHelloInfo {
        record_format: RecordFormat::Tls,
        record_version: TlsVersion(record_version),
        legacy_version: TlsVersion(ch.version.0),
        supported_versions: Vec::new(),
        sni: None,
        alpn: Vec::new(),
        cipher_suites: ch.ciphers.iter().map(|c| c.0).collect(),
        extensions: Vec::new(),
        groups: Vec::new(),
        renegotiation_info: false,
        renegotiation_scsv: ch.ciphers.iter().any(|c| c.0 == 0x00ff),
        session_id: ch.session_id.map(<[u8]>::to_vec).unwrap_or_default(),
        session_ticket: false,
        psk: false,
        length: u32::try_from(body.len() + 4).unwrap_or(u32::MAX),
        segments: 1,
    };
    let ext = ch.ext.unwrap_or_default();
    info.extensions = Vec::with_capacity(walk_extensions(ext).count());
    for (t, whole) in walk_extensions(ext) {
        info.extensions.push(t);
        match t {
            0xff01 => info.renegotiation_info = true,
            41 => info.psk = true,
            _ => {}
        }
        // Only the extensions read below are parsed (the others would allocate for nothing).
        if !matches!(t, 0 | 10 | 16 | 35 | 43) {
            continue;
        }
        let Ok((_, ext)) = parse_tls_client_hello_extension(whole) else {
            continue;
        };
        match ext {
            TlsExtension::SNI(names) if info.sni.is_none() => {
                info.sni = names.iter().find(|(t, _)| t.0 == 0).map(|(_, n)| lossy(n));
            }
            TlsExtension::ALPN(protos) => info.alpn = protos.iter().map(|p| lossy(p)).collect(),
            TlsExtension::SupportedVersions(vs) => {
                info.supported_versions = vs.iter().map(|v| TlsVersion(v.0)).collect();
            }
            TlsExtension::EllipticCurves(gs) => info.groups = gs.iter().map(|g| g.0).collect(),
            TlsExtension::SessionTicket(t) => info.session_ticket = !t.is_empty(),
            _ => {}
        }
    }
    Some(info)
}

/// Parses an SSLv2-format ClientHello record body (after the 2-byte length; starts at the
/// message type byte 1).
pub fn parse_sslv2_client_hello(body: &[u8]) -> Option<ClientHelloInfo> {
    let h = body.get(..9)?;
    if h[0] != 1 {
        return None;
    }
    let version = u16::from_be_bytes([h[1], h[2]]);
    let spec_len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    let sid_len = usize::from(u16::from_be_bytes([h[5], h[6]]));
    let specs = body.get(9..9 + spec_len)?;
    let sid = body
        .get(9 + spec_len..9 + spec_len + sid_len)
        .unwrap_or_default();
    let cipher_suites: Vec<u16> = specs
        .chunks_exact(3)
        // SSLv2 cipher specs are 3 bytes; TLS suites are those with a zero first byte.
        .filter(|c| c[0] == 0)
        .map(|c| u16::from_be_bytes([c[1], c[2]]))
        .collect();
    Some(ClientHelloInfo {
        record_format: RecordFormat::Sslv2,
        record_version: TlsVersion(0x0002),
        legacy_version: TlsVersion(version),
        supported_versions: Vec::new(),
        sni: None,
        alpn: Vec::new(),
        renegotiation_scsv: cipher_suites.contains(&0x00ff),
        cipher_suites,
        extensions: Vec::new(),
        groups: Vec::new(),
        renegotiation_info: false,
        session_id: sid.to_vec(),
        session_ticket: false,
        psk: false,
        length: u32::try_from(body.len() + 2).unwrap_or(u32::MAX),
        segments: 1,
    })
}

/// Parses a ServerHello message body. `client_session_id` is the session id of the
/// ClientHello it answers, if seen.
pub fn parse_server_hello(
    body: &[u8],
    client_session_id: Option<&[u8]>,
) -> Option<ServerHelloInfo> {
    // legacy_version(2) random(32) session_id(1+n) cipher(2) compression(1) extensions
    let legacy = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let random = body.get(2..34)?;
    let sid_len = usize::from(*body.get(34)?);
    let session_id = body.get(35..35 + sid_len)?.to_vec();
    let rest = body.get(35 + sid_len..)?;
    let cipher = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]);
    let ext_block = rest
        .get(5..)
        .and_then(|e| {
            let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
            e.get(..len)
        })
        .unwrap_or_default();
    let mut info = ServerHelloInfo {
        version: TlsVersion(legacy),
        legacy_version: TlsVersion(legacy),
        cipher,
        alpn: None,
        extensions: Vec::new(),
        hello_retry_request: random == HRR_RANDOM,
        renegotiation_info: false,
        resumed: false,
        session_id,
    };
    let mut psk = false;
    info.extensions = Vec::with_capacity(walk_extensions(ext_block).count());
    for (t, whole) in walk_extensions(ext_block) {
        info.extensions.push(t);
        match t {
            0xff01 => info.renegotiation_info = true,
            41 => psk = true,
            // supported_versions in a ServerHello: the selected version (2 bytes).
            43 => {
                if let Some(v) = whole.get(4..6) {
                    info.version = TlsVersion(u16::from_be_bytes([v[0], v[1]]));
                }
            }
            16 => {
                if let Ok((_, TlsExtension::ALPN(p))) = parse_tls_server_hello_extension(whole) {
                    info.alpn = p.first().map(|p| lossy(p));
                }
            }
            _ => {}
        }
    }
    info.resumed = if info.version.is_tls13() {
        psk
    } else {
        client_session_id.is_some_and(|c| !c.is_empty() && c == info.session_id.as_slice())
    };
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_walk_stops_on_truncation() {
        let ext = [0u8, 0, 0, 2, 1, 2, 0, 16, 0, 9, 1];
        let v: Vec<u16> = walk_extensions(&ext).map(|(t, _)| t).collect();
        assert_eq!(v, vec![0]);
    }

    #[test]
    fn server_hello_garbage_is_none() {
        assert!(parse_server_hello(&[3, 3, 1], None).is_none());
        assert!(parse_client_hello(&[3, 3], 0x0301).is_none());
        assert!(parse_sslv2_client_hello(&[1, 0, 2]).is_none());
    }
}
