//! Certificates from a plaintext Certificate message (TLS ≤ 1.2), read with `x509-parser`.

use std::sync::Arc;

use serde::Serialize;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

/// What a report needs of one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub subject_cn: Option<String>,
    pub issuer: String,
    /// DNS names and IP addresses from subjectAltName.
    pub sans: Vec<String>,
    /// Validity bounds, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub self_signed: bool,
    pub serial: String,
}

/// The chain as sent (leaf first); certificates that failed to parse are counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    pub chain: Vec<CertSummary>,
    pub unparsed: u32,
}

impl CertInfo {
    pub fn leaf(&self) -> Option<&CertSummary> {
        self.chain.first()
    }
}

/// Most distinct Certificate messages remembered per thread (a capture's connections mostly
/// repeat a few servers' chains; parsing X.509 is the costliest step of a handshake).
const CACHE_ENTRIES: usize = 512;

/// Certificate message bytes and their summary, by hash of the bytes.
type CertCache = rustc_hash::FxHashMap<u64, (Vec<u8>, Arc<CertInfo>)>;

thread_local! {
    static CACHE: std::cell::RefCell<CertCache> = std::cell::RefCell::new(CertCache::default());
}

/// The chain of a plaintext Certificate message body (TLS ≤ 1.2), parsed once per distinct
/// message: an identical message (same bytes) reuses the earlier summary.
pub fn summarize_message(body: &[u8]) -> Option<Arc<CertInfo>> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    h.write(body);
    let key = h.finish();
    let hit = CACHE.with(|c| {
        c.borrow()
            .get(&key)
            .filter(|(bytes, _)| bytes.as_slice() == body)
            .map(|(_, info)| Arc::clone(info))
    });
    if hit.is_some() {
        return hit;
    }
    let (_, msg) = tls_parser::parse_tls_handshake_msg_certificate(body).ok()?;
    let tls_parser::TlsMessageHandshake::Certificate(c) = msg else {
        return None;
    };
    let info = Arc::new(summarize(c.cert_chain.iter().map(|r| r.data)));
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_ENTRIES {
            c.clear();
        }
        c.insert(key, (body.to_vec(), Arc::clone(&info)));
    });
    Some(info)
}

/// The chain of a TLS 1.3 Certificate message (RFC 8446 §4.4.2: a request context, then
/// entries of certificate data and extensions), read once decrypted.
pub fn summarize_tls13(body: &[u8]) -> Option<Arc<CertInfo>> {
    let ctx_len = usize::from(*body.first()?);
    let rest = body.get(1 + ctx_len..)?;
    let list_len = (usize::from(*rest.first()?) << 16)
        | (usize::from(*rest.get(1)?) << 8)
        | usize::from(*rest.get(2)?);
    let mut list = rest.get(3..3 + list_len)?;
    let mut ders: Vec<&[u8]> = Vec::new();
    while let [a, b, c, tail @ ..] = list {
        let len = (usize::from(*a) << 16) | (usize::from(*b) << 8) | usize::from(*c);
        let der = tail.get(..len)?;
        let ext_len = usize::from(u16::from_be_bytes([*tail.get(len)?, *tail.get(len + 1)?]));
        ders.push(der);
        list = tail.get(len + 2 + ext_len..)?;
    }
    Some(Arc::new(summarize(ders.into_iter())))
}

/// Parses DER certificates; at most `MAX_CERTS` are kept.
pub fn summarize<'a>(ders: impl Iterator<Item = &'a [u8]>) -> CertInfo {
    const MAX_CERTS: usize = 10;
    let mut info = CertInfo::default();
    for der in ders.take(MAX_CERTS) {
        match X509Certificate::from_der(der) {
            Ok((_, cert)) => info.chain.push(one(&cert)),
            Err(_) => info.unparsed += 1,
        }
    }
    info
}

fn one(cert: &X509Certificate<'_>) -> CertSummary {
    let subject_cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push((*d).to_string()),
                GeneralName::IPAddress(ip) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*ip) {
                        sans.push(std::net::Ipv4Addr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*ip) {
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    CertSummary {
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        subject,
        subject_cn,
        issuer,
        sans,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        serial: cert.raw_serial_as_string(),
    }
}
