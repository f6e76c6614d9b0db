//! ClientHello / ServerHello contents.
//!
//! Both hellos are walked by hand, field by field, into one small value each: a ClientHello
//! is parsed for every connection, and tls-parser's `parse_tls_handshake_client_hello` and
//! extension parsers build a vector per list (cipher suites, compression methods, server
//! names, ALPN names, versions, groups) that would only be copied and dropped. The walk
//! follows tls-parser's rules exactly (what it accepts, what makes it give up on a hello or an
//! extension): the tests compare the two on every ClientHello that opens a TCP payload whole
//! in the fixtures and public captures, and on thousands of damaged ones. Extensions are framed one by one, so that one
//! malformed extension (fuzzed or experimental) costs only that extension.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use smallvec::SmallVec;

use super::names::TlsVersion;

/// How a ClientHello was framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    Tls,
    Sslv2,
}

/// A hello's session id (at most 32 bytes, RFC 5246 §7.4.1.2), kept inline.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionId {
    len: u8,
    bytes: [u8; 32],
}

impl SessionId {
    /// The id, or None when longer than 32 bytes.
    pub fn new(id: &[u8]) -> Option<SessionId> {
        let mut s = SessionId {
            len: u8::try_from(id.len()).ok().filter(|n| *n <= 32)?,
            bytes: [0; 32],
        };
        s.bytes.get_mut(..id.len())?.copy_from_slice(id);
        Some(s)
    }

    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// An ALPN protocol name: the registered ones without an allocation.
pub type AlpnName = Cow<'static, str>;

/// A ClientHello's ALPN names: two (the usual "h2", "http/1.1") without an allocation of
/// their own, in the ClientHello's box and in a report's copy of them.
pub type AlpnList = SmallVec<[AlpnName; 2]>;

/// How many u16s of a ClientHello's four lists are kept in its box (a list longer than that
/// goes to a heap block of its own): 96 bytes cover the lists of the common clients (browsers
/// send about 45 entries, OpenSSL and curl fewer).
const LISTS_INLINE: usize = 48;

/// The facts of a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHelloInfo {
    pub record_format: RecordFormat,
    /// The record layer version of the (first) record carrying it.
    pub record_version: TlsVersion,
    pub legacy_version: TlsVersion,
    pub sni: Option<Arc<str>>,
    pub alpn: AlpnList,
    /// The cipher suites, the extension types (in the order sent), supported_groups and
    /// supported_versions (GREASE included, as sent), one after another, in the box unless
    /// longer than [`LISTS_INLINE`]: with `alpn` inline too, a ClientHello is one allocation
    /// instead of three. Read them with the methods of the same names.
    lists: SmallVec<[u16; LISTS_INLINE]>,
    /// Where the extension types, the groups and the versions start in `lists`.
    starts: [usize; 3],
    pub renegotiation_info: bool,
    /// TLS_EMPTY_RENEGOTIATION_INFO_SCSV offered.
    pub renegotiation_scsv: bool,
    pub session_id: SessionId,
    /// A non-empty session ticket was offered.
    pub session_ticket: bool,
    /// A TLS 1.3 pre_shared_key was offered.
    pub psk: bool,
    /// Length of the handshake message (header included).
    pub length: u32,
    /// How many TCP segments carried it.
    pub segments: u32,
}

impl ClientHelloInfo {
    /// A ClientHello with empty lists and no extension (the lists are set with
    /// [`ClientHelloInfo::with_lists`]).
    pub fn new(
        record_format: RecordFormat,
        record_version: TlsVersion,
        legacy_version: TlsVersion,
    ) -> ClientHelloInfo {
        ClientHelloInfo {
            record_format,
            record_version,
            legacy_version,
            sni: None,
            alpn: AlpnList::new(),
            lists: SmallVec::new(),
            starts: [0; 3],
            renegotiation_info: false,
            renegotiation_scsv: false,
            session_id: SessionId::default(),
            session_ticket: false,
            psk: false,
            length: 0,
            segments: 1,
        }
    }

    /// Sets the cipher suites, extension types, groups and supported_versions.
    pub fn with_lists(
        mut self,
        suites: &[u16],
        extensions: &[u16],
        groups: &[u16],
        versions: &[u16],
    ) -> ClientHelloInfo {
        let parts = [suites, extensions, groups, versions];
        self.set_lists(parts.map(<[u16]>::len), |l| {
            parts.iter().for_each(|p| l.extend_from_slice(p))
        });
        self
    }

    /// The four lists, `lens` long each, appended one after another by `fill` (a list at a
    /// time: one chained iterator would lose `extend`'s exact-size path).
    fn set_lists(
        &mut self,
        lens: [usize; 4],
        fill: impl FnOnce(&mut SmallVec<[u16; LISTS_INLINE]>),
    ) {
        let [suites, extensions, groups, versions] = lens;
        self.lists = SmallVec::with_capacity(suites + extensions + groups + versions);
        fill(&mut self.lists);
        debug_assert_eq!(self.lists.len(), suites + extensions + groups + versions);
        self.starts = [suites, suites + extensions, suites + extensions + groups];
    }

    fn part(&self, i: usize) -> &[u16] {
        let start = match i {
            0 => 0,
            _ => self.starts.get(i - 1).copied().unwrap_or_default(),
        };
        let end = self.starts.get(i).copied().unwrap_or(self.lists.len());
        self.lists.get(start..end).unwrap_or_default()
    }

    pub fn cipher_suites(&self) -> &[u16] {
        self.part(0)
    }

    /// Extension types in the order sent.
    pub fn extensions(&self) -> &[u16] {
        self.part(1)
    }

    /// supported_groups.
    pub fn groups(&self) -> &[u16] {
        self.part(2)
    }

    /// supported_versions (TLS 1.3), GREASE included, as sent.
    pub fn supported_versions(&self) -> impl ExactSizeIterator<Item = TlsVersion> + '_ {
        self.part(3).iter().map(|v| TlsVersion(*v))
    }
}

/// The facts of a ServerHello (or HelloRetryRequest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHelloInfo {
    /// Negotiated version: supported_versions when present, else the legacy version.
    pub version: TlsVersion,
    pub legacy_version: TlsVersion,
    pub cipher: u16,
    pub alpn: Option<AlpnName>,
    pub hello_retry_request: bool,
    pub renegotiation_info: bool,
    /// The server resumed a session (echoed session id in TLS ≤ 1.2, pre_shared_key in 1.3).
    pub resumed: bool,
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

/// Reads big-endian fields off the front of a slice.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a one-byte length.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    /// A vector with a two-byte length.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// A list of 16-bit values, whole (an odd length is malformed).
fn u16_list(b: &[u8]) -> Option<&[u8]> {
    b.len().is_multiple_of(2).then_some(b)
}

fn u16s(b: &[u8]) -> impl Iterator<Item = u16> + '_ {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]))
}

/// Wire bytes as text: valid UTF-8 (nearly every name) through the fast validator, not walked
/// in chunks as `from_utf8_lossy` does; anything else lossily.
fn text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

fn lossy(b: &[u8]) -> Arc<str> {
    Arc::from(&*text(b))
}

/// An ALPN protocol name from the wire.
fn alpn_name(b: &[u8]) -> AlpnName {
    const KNOWN: [&str; 6] = ["h2", "http/1.1", "http/1.0", "h3", "h2c", "acme-tls/1"];
    match KNOWN.iter().find(|k| k.as_bytes() == b) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text(b).into_owned()),
    }
}

/// The first host_name of a server_name extension's data, as tls-parser reads it: the list
/// length must fit, entries are read until one does not.
fn sni_host(data: &[u8]) -> Option<Option<&[u8]>> {
    if data.is_empty() {
        return Some(None);
    }
    let mut list = Bytes(Bytes(data).vec16()?);
    Some(
        std::iter::from_fn(|| Some((list.u8()?, list.vec16()?)))
            .find_map(|(t, n)| (t == 0).then_some(n)),
    )
}

/// ALPN protocol names of an ALPN extension's data (entries read until one does not fit).
fn alpn_names(data: &[u8]) -> Option<impl Iterator<Item = &[u8]>> {
    let mut list = Bytes(Bytes(data).vec16()?);
    Some(std::iter::from_fn(move || list.vec8()))
}

/// The versions of a ClientHello's supported_versions data, as tls-parser reads it: two bytes
/// are one version; otherwise a length byte (not checked) and an even number of bytes.
fn versions(data: &[u8]) -> Option<&[u8]> {
    if data.len() == 2 {
        return Some(data);
    }
    u16_list(data.get(1..)?)
}

/// Parses a ClientHello message body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8], record_version: u16) -> Option<ClientHelloInfo> {
    let mut b = Bytes(body);
    let legacy = b.u16()?;
    b.take(32)?;
    let sid_len = b.u8()?;
    let session_id = SessionId::new(b.take(usize::from(sid_len))?)?;
    let suites = u16_list(b.vec16()?)?;
    b.vec8()?;
    // A missing or cut extensions block counts as none.
    let ext = b.vec16().unwrap_or_default();
    let mut info = ClientHelloInfo::new(
        RecordFormat::Tls,
        TlsVersion(record_version),
        TlsVersion(legacy),
    );
    info.session_id = session_id;
    info.renegotiation_scsv = u16s(suites).any(|c| c == 0x00ff);
    info.length = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    // The last well-formed supported_groups and supported_versions win, as the last ALPN.
    let (mut groups, mut vers): (&[u8], &[u8]) = (&[], &[]);
    let mut n_ext = 0;
    for (t, whole) in walk_extensions(ext) {
        n_ext += 1;
        let data = whole.get(4..).unwrap_or_default();
        match t {
            0 => {
                if info.sni.is_none()
                    && let Some(host) = sni_host(data)
                {
                    info.sni = host.map(lossy);
                }
            }
            10 => {
                if let Some(g) = Bytes(data).vec16().and_then(u16_list) {
                    groups = g;
                }
            }
            16 => {
                if let Some(names) = alpn_names(data) {
                    info.alpn = names.map(alpn_name).collect();
                }
            }
            35 => info.session_ticket = !data.is_empty(),
            41 => info.psk = true,
            43 => {
                if let Some(v) = versions(data) {
                    vers = v;
                }
            }
            0xff01 => info.renegotiation_info = true,
            _ => {}
        }
    }
    info.set_lists(
        [suites.len() / 2, n_ext, groups.len() / 2, vers.len() / 2],
        |l| {
            l.extend(u16s(suites));
            l.extend(walk_extensions(ext).map(|(t, _)| t));
            l.extend(u16s(groups));
            l.extend(u16s(vers));
        },
    );
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
    let suites: Vec<u16> = specs
        .chunks_exact(3)
        // SSLv2 cipher specs are 3 bytes; TLS suites are those with a zero first byte.
        .filter(|c| c[0] == 0)
        .map(|c| u16::from_be_bytes([c[1], c[2]]))
        .collect();
    let mut info =
        ClientHelloInfo::new(RecordFormat::Sslv2, TlsVersion(0x0002), TlsVersion(version))
            .with_lists(&suites, &[], &[], &[]);
    info.renegotiation_scsv = suites.contains(&0x00ff);
    // SSLv2 session ids are 16 bytes; a longer one keeps its first 32.
    info.session_id = SessionId::new(sid.get(..32).unwrap_or(sid)).unwrap_or_default();
    info.length = u32::try_from(body.len() + 2).unwrap_or(u32::MAX);
    Some(info)
}

/// Parses a ServerHello message body. `client_session_id` is the session id of the
/// ClientHello it answers, if seen.
pub fn parse_server_hello(
    body: &[u8],
    client_session_id: Option<&SessionId>,
) -> Option<ServerHelloInfo> {
    // legacy_version(2) random(32) session_id(1+n) cipher(2) compression(1) extensions
    let mut b = Bytes(body);
    let legacy = b.u16()?;
    let random = b.take(32)?;
    let session_id = b.vec8()?;
    let cipher = b.u16()?;
    // A missing compression byte, or a missing or cut extensions block, counts as no
    // extensions.
    let ext_block = match b.u8() {
        Some(_) => b.vec16().unwrap_or_default(),
        None => &[],
    };
    let mut info = ServerHelloInfo {
        version: TlsVersion(legacy),
        legacy_version: TlsVersion(legacy),
        cipher,
        alpn: None,
        hello_retry_request: random == HRR_RANDOM,
        renegotiation_info: false,
        resumed: false,
    };
    let mut psk = false;
    for (t, whole) in walk_extensions(ext_block) {
        let data = whole.get(4..).unwrap_or_default();
        match t {
            0xff01 => info.renegotiation_info = true,
            41 => psk = true,
            // supported_versions in a ServerHello: the selected version (2 bytes).
            43 => {
                if let Some(v) = data.get(..2) {
                    info.version = TlsVersion(u16::from_be_bytes([v[0], v[1]]));
                }
            }
            // The selected protocol: a list of exactly one name; the first is taken.
            16 => {
                if let Some(mut names) = alpn_names(data) {
                    info.alpn = names.next().map(alpn_name);
                }
            }
            _ => {}
        }
    }
    info.resumed = if info.version.is_tls13() {
        psk
    } else {
        client_session_id.is_some_and(|c| !c.is_empty() && c.as_slice() == session_id)
    };
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use tls_parser::{TlsExtension, parse_tls_client_hello_extension};

    /// What a ClientHello says, in plain vectors (to compare two parsers).
    type Facts = (
        u16,
        Option<String>,
        Vec<String>,
        [Vec<u16>; 4],
        [bool; 4],
        Vec<u8>,
        u32,
    );

    fn facts(ch: &ClientHelloInfo) -> Facts {
        (
            ch.legacy_version.0,
            ch.sni.as_deref().map(str::to_string),
            ch.alpn.iter().map(|a| a.to_string()).collect(),
            [
                ch.cipher_suites().to_vec(),
                ch.extensions().to_vec(),
                ch.groups().to_vec(),
                ch.supported_versions().map(|v| v.0).collect(),
            ],
            [
                ch.renegotiation_info,
                ch.renegotiation_scsv,
                ch.session_ticket,
                ch.psk,
            ],
            ch.session_id.as_slice().to_vec(),
            ch.length,
        )
    }

    /// The same facts read by tls-parser (how this module read them before it walked the
    /// bytes itself).
    fn reference(body: &[u8]) -> Option<Facts> {
        let (_, ch) = tls_parser::parse_tls_handshake_client_hello(body).ok()?;
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (mut sni, mut alpn) = (None, Vec::new());
        let (mut exts, mut groups, mut versions) = (Vec::new(), Vec::new(), Vec::new());
        let (mut reneg, mut ticket, mut psk) = (false, false, false);
        let ext = ch.ext.unwrap_or_default();
        for (t, whole) in walk_extensions(ext) {
            exts.push(t);
            match t {
                0xff01 => reneg = true,
                41 => psk = true,
                _ => {}
            }
            if !matches!(t, 0 | 10 | 16 | 35 | 43) {
                continue;
            }
            let Ok((_, ext)) = parse_tls_client_hello_extension(whole) else {
                continue;
            };
            match ext {
                TlsExtension::SNI(names) if sni.is_none() => {
                    sni = names.iter().find(|(t, _)| t.0 == 0).map(|(_, n)| lossy(n));
                }
                TlsExtension::ALPN(protos) => alpn = protos.iter().map(|p| lossy(p)).collect(),
                TlsExtension::SupportedVersions(vs) => versions = vs.iter().map(|v| v.0).collect(),
                TlsExtension::EllipticCurves(gs) => groups = gs.iter().map(|g| g.0).collect(),
                TlsExtension::SessionTicket(t) => ticket = !t.is_empty(),
                _ => {}
            }
        }
        let suites: Vec<u16> = ch.ciphers.iter().map(|c| c.0).collect();
        Some((
            ch.version.0,
            sni,
            alpn,
            [suites.clone(), exts, groups, versions],
            [reneg, suites.contains(&0x00ff), ticket, psk],
            ch.session_id.map(<[u8]>::to_vec).unwrap_or_default(),
            u32::try_from(body.len() + 4).unwrap_or(u32::MAX),
        ))
    }

    fn agree(body: &[u8]) {
        let ours = parse_client_hello(body, 0x0301).map(|c| facts(&c));
        assert_eq!(ours, reference(body), "ClientHello body {body:02x?}");
    }

    /// ClientHello bodies that start a TCP payload whole, in every capture under fixtures/
    /// and ../shared/captures/public (when present).
    fn hellos() -> Vec<Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("fixtures")];
        let public = root.join("../shared/captures/public");
        if public.is_dir() {
            dirs.push(public);
        } else {
            eprintln!("note: {} absent, fixtures only", public.display());
        }
        let files: Vec<PathBuf> = dirs
            .iter()
            .flat_map(|d| walkdir::WalkDir::new(d).sort_by_file_name())
            .flatten()
            .map(walkdir::DirEntry::into_path)
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            })
            .collect();
        let mut out: Vec<Vec<u8>> = Vec::new();
        for f in &files {
            let _ = crate::capture::read_capture(f, |fr| {
                let crate::capture::link::Decoded::Tcp(seg) =
                    crate::capture::link::decode(fr.linktype, fr.data)
                else {
                    return;
                };
                let p = seg.body.payload;
                let (Some(&[0x16, 3, _, _, _, 1, a, b, c]), true) = (p.get(..9), p.len() > 9)
                else {
                    return;
                };
                let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                if let Some(body) = p.get(9..9 + len)
                    && !out.iter().any(|o| o == body)
                {
                    out.push(body.to_vec());
                }
            });
        }
        out
    }

    #[test]
    fn client_hellos_read_as_tls_parser_reads_them() {
        let all = hellos();
        assert!(all.len() >= 40, "{} ClientHellos", all.len());
        let mut sni = 0;
        for body in &all {
            agree(body);
            sni += usize::from(parse_client_hello(body, 0x0301).is_some_and(|c| c.sni.is_some()));
        }
        assert!(sni >= 20, "{sni} with SNI");
    }

    /// Damaged hellos: every truncation, and bytes changed at random (lengths included, so
    /// that lists and extensions overrun, shrink or go odd).
    #[test]
    fn damaged_client_hellos_read_as_tls_parser_reads_them() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let all = hellos();
        assert!(all.len() >= 40, "{} ClientHellos", all.len());
        for body in all.iter().take(60) {
            for n in 0..body.len() {
                agree(&body[..n]);
            }
            for _ in 0..300 {
                let mut b = body.clone();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % b.len() as u64) as usize;
                    b[at] = match next() % 4 {
                        0 => 0,
                        1 => 0xff,
                        2 => b[at].wrapping_add(1),
                        _ => next() as u8,
                    };
                }
                agree(&b);
            }
        }
    }

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

    #[test]
    fn session_ids_are_at_most_32_bytes() {
        let id: Vec<u8> = (0..32).collect();
        let s = SessionId::new(&id).unwrap_or_default();
        assert_eq!(s.as_slice(), id.as_slice());
        assert!(SessionId::new(&[0; 33]).is_none());
        assert!(SessionId::default().is_empty());
        assert_eq!(
            format!("{:?}", SessionId::new(&[1, 2]).unwrap_or_default()),
            "[1, 2]"
        );
    }

    #[test]
    fn registered_alpn_names_are_not_allocated() {
        assert!(matches!(alpn_name(b"h2"), Cow::Borrowed("h2")));
        assert!(matches!(alpn_name(b"http/1.1"), Cow::Borrowed("http/1.1")));
        assert_eq!(alpn_name(b"x\xff"), "x\u{fffd}");
    }

    #[test]
    fn lists_come_back_as_set() {
        let ch = ClientHelloInfo::new(RecordFormat::Tls, TlsVersion(0x0301), TlsVersion(0x0303))
            .with_lists(&[1, 2], &[0, 43], &[29], &[0x0304, 0x0303]);
        assert_eq!(ch.cipher_suites(), &[1, 2]);
        assert_eq!(ch.extensions(), &[0, 43]);
        assert_eq!(ch.groups(), &[29]);
        let v: Vec<u16> = ch.supported_versions().map(|v| v.0).collect();
        assert_eq!(v, vec![0x0304, 0x0303]);
        let empty = ClientHelloInfo::new(RecordFormat::Tls, TlsVersion(0), TlsVersion(0));
        assert!(empty.cipher_suites().is_empty() && empty.supported_versions().len() == 0);
    }
}
