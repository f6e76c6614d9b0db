//! Decryption with an NSS key log (`SSLKEYLOGFILE`), for captures whose keys the user has.
//!
//! TLS 1.2 (`CLIENT_RANDOM` master secrets; AES-GCM and ChaCha20-Poly1305 suites: RFC 5246 §6.3
//! key expansion, RFC 5288 / RFC 7905 nonces) and TLS 1.3 (`*_TRAFFIC_SECRET_*`; RFC 8446
//! §7.1-7.3 HKDF-Expand-Label, per-record nonce) — built on RustCrypto. Records that fail to
//! authenticate are left encrypted, and the direction stops trying.

use std::collections::HashMap;
use std::path::Path;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

/// The secrets of one session (by client random).
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub master: Option<Vec<u8>>,
    pub client_hs: Option<Vec<u8>>,
    pub server_hs: Option<Vec<u8>>,
    pub client_app: Option<Vec<u8>>,
    pub server_app: Option<Vec<u8>>,
}

/// An NSS key log: secrets by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    sessions: HashMap<Vec<u8>, Secrets>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

impl KeyLog {
    /// Parses the NSS key log format; unknown or malformed lines are skipped.
    pub fn parse(text: &str) -> KeyLog {
        let mut log = KeyLog::default();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(label), Some(random), Some(secret)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Some(random), Some(secret)) = (unhex(random), unhex(secret)) else {
                continue;
            };
            let s = log.sessions.entry(random).or_default();
            match label {
                "CLIENT_RANDOM" => s.master = Some(secret),
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => s.client_hs = Some(secret),
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => s.server_hs = Some(secret),
                "CLIENT_TRAFFIC_SECRET_0" => s.client_app = Some(secret),
                "SERVER_TRAFFIC_SECRET_0" => s.server_app = Some(secret),
                _ => {}
            }
        }
        log
    }

    pub fn load(path: &Path) -> std::io::Result<KeyLog> {
        Ok(KeyLog::parse(&std::fs::read_to_string(path)?))
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, client_random: &[u8]) -> Option<&Secrets> {
        self.sessions.get(client_random)
    }
}

/// The AEAD tag at the end of every record (AES-GCM and ChaCha20-Poly1305).
const TAG: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Aes128,
    Aes256,
    Chacha,
}

/// (AEAD, TLS 1.2 PRF hash is SHA-384) of a cipher suite we can decrypt.
fn suite(cipher: u16) -> Option<(Kind, bool)> {
    Some(match cipher {
        0x1301 => (Kind::Aes128, false),
        0x1302 => (Kind::Aes256, true),
        0x1303 => (Kind::Chacha, false),
        // TLS 1.2 AES-GCM: ECDHE-ECDSA, ECDHE-RSA, RSA, DHE-RSA
        0xc02b | 0xc02f | 0x009c | 0x009e => (Kind::Aes128, false),
        0xc02c | 0xc030 | 0x009d | 0x009f => (Kind::Aes256, true),
        // TLS 1.2 ChaCha20-Poly1305
        0xcca8..=0xccaa => (Kind::Chacha, false),
        _ => return None,
    })
}

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    Chacha(Box<ChaCha20Poly1305>),
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher")
    }
}

impl Cipher {
    fn new(kind: Kind, key: &[u8]) -> Option<Cipher> {
        Some(match kind {
            Kind::Aes128 => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            Kind::Aes256 => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            Kind::Chacha => Cipher::Chacha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?)),
        })
    }
    /// Decrypts `msg` (ciphertext and its 16-byte tag) into `out`, which is overwritten: one
    /// buffer serves every record of a direction, so decrypting allocates nothing per record.
    fn open_into(&self, nonce: &[u8; 12], msg: &[u8], aad: &[u8], out: &mut Vec<u8>) -> Option<()> {
        fn run<C: AeadInOut>(
            c: &C,
            nonce: &[u8; 12],
            aad: &[u8],
            out: &mut [u8],
            tag: &[u8],
        ) -> Option<()> {
            c.decrypt_inout_detached(
                nonce.as_slice().try_into().ok()?,
                aad,
                out.into(),
                tag.try_into().ok()?,
            )
            .ok()
        }
        let (text, tag) = msg.split_at_checked(msg.len().checked_sub(TAG)?)?;
        out.clear();
        out.extend_from_slice(text);
        match self {
            Cipher::Aes128(c) => run(&**c, nonce, aad, out, tag),
            Cipher::Aes256(c) => run(&**c, nonce, aad, out, tag),
            Cipher::Chacha(c) => run(&**c, nonce, aad, out, tag),
        }
    }
}

/// The keys of one direction.
#[derive(Clone, Debug)]
pub struct DirKeys {
    cipher: Cipher,
    iv: [u8; 12],
    seq: u64,
    tls13: bool,
    /// TLS 1.2 AES-GCM: 4-byte implicit salt + 8-byte explicit nonce in each record.
    explicit_nonce: bool,
    /// The plaintext buffer (see [`DirKeys::open`]).
    plain: Vec<u8>,
}

impl DirKeys {
    /// Decrypts one record body: (content type, plaintext). The plaintext is written into the
    /// buffer handed back with [`DirKeys::reuse`] after the last record, so that decrypting
    /// allocates nothing per record.
    pub fn open(&mut self, rec_type: u8, version: u16, body: &[u8]) -> Option<(u8, Vec<u8>)> {
        let mut plain = std::mem::take(&mut self.plain);
        let inner = self.open_into(rec_type, version, body, &mut plain)?;
        Some((inner, plain))
    }

    /// Gives back the buffer [`DirKeys::open`] returned.
    pub fn reuse(&mut self, plain: Vec<u8>) {
        self.plain = plain;
    }

    fn open_into(
        &mut self,
        rec_type: u8,
        version: u16,
        body: &[u8],
        plain: &mut Vec<u8>,
    ) -> Option<u8> {
        let seq = self.seq;
        let mut nonce = self.iv;
        // The additional data: TLS 1.3, the record header (5 bytes); TLS 1.2, the sequence
        // number and the header with the plaintext's length (13 bytes).
        let mut aad = [0u8; 13];
        let [v0, v1] = version.to_be_bytes();
        let (msg, aad_len): (&[u8], usize) = if self.tls13 {
            for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                *n ^= s;
            }
            let [l0, l1] = u16::try_from(body.len()).ok()?.to_be_bytes();
            aad[..5].copy_from_slice(&[rec_type, v0, v1, l0, l1]);
            (body, 5)
        } else {
            let msg = if self.explicit_nonce {
                nonce[4..].copy_from_slice(body.get(..8)?);
                body.get(8..)?
            } else {
                for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *n ^= s;
                }
                body
            };
            let [l0, l1] = u16::try_from(msg.len().checked_sub(TAG)?)
                .ok()?
                .to_be_bytes();
            aad[..8].copy_from_slice(&seq.to_be_bytes());
            aad[8..].copy_from_slice(&[rec_type, v0, v1, l0, l1]);
            (msg, 13)
        };
        self.cipher
            .open_into(&nonce, msg, aad.get(..aad_len)?, plain)?;
        self.seq += 1;
        if self.tls13 {
            // TLSInnerPlaintext: content, type, zero padding.
            let end = plain.iter().rposition(|&b| b != 0)?;
            let inner = plain.get(end).copied()?;
            plain.truncate(end);
            Some(inner)
        } else {
            Some(rec_type)
        }
    }
}

fn hmac_sha<const SHA384: bool>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    if SHA384 {
        let Ok(mut m) = <Hmac<Sha384> as KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    } else {
        let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }
}

/// TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed).
fn prf(sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let h = |parts: &[&[u8]]| {
        if sha384 {
            hmac_sha::<true>(secret, parts)
        } else {
            hmac_sha::<false>(secret, parts)
        }
    };
    let mut out = Vec::with_capacity(len + 48);
    let mut a = h(&[label, seed]);
    while out.len() < len && !a.is_empty() {
        out.extend(h(&[&a, label, seed]));
        a = h(&[&a]);
    }
    out.truncate(len);
    out
}

/// TLS 1.2 keys for both directions from the master secret: (client → server, server → client).
pub fn tls12_keys(
    master: &[u8],
    client_random: &[u8],
    server_random: &[u8],
    cipher: u16,
) -> Option<(DirKeys, DirKeys)> {
    let (kind, sha384) = suite(cipher)?;
    if matches!(cipher, 0x1301..=0x1303) {
        return None;
    }
    let key_len = match kind {
        Kind::Aes128 => 16,
        Kind::Aes256 | Kind::Chacha => 32,
    };
    let iv_len = if kind == Kind::Chacha { 12 } else { 4 };
    let mut seed = server_random.to_vec();
    seed.extend_from_slice(client_random);
    let block = prf(
        sha384,
        master,
        b"key expansion",
        &seed,
        2 * key_len + 2 * iv_len,
    );
    let ck = block.get(..key_len)?;
    let sk = block.get(key_len..2 * key_len)?;
    let civ = block.get(2 * key_len..2 * key_len + iv_len)?;
    let siv = block.get(2 * key_len + iv_len..2 * key_len + 2 * iv_len)?;
    let mk = |key: &[u8], ivb: &[u8]| -> Option<DirKeys> {
        let mut iv = [0u8; 12];
        iv.get_mut(..ivb.len())?.copy_from_slice(ivb);
        Some(DirKeys {
            cipher: Cipher::new(kind, key)?,
            iv,
            seq: 0,
            tls13: false,
            explicit_nonce: kind != Kind::Chacha,
            plain: Vec::new(),
        })
    };
    Some((mk(ck, civ)?, mk(sk, siv)?))
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(sha384: bool, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let full = format!("tls13 {label}");
    let mut info = (len as u16).to_be_bytes().to_vec();
    info.push(u8::try_from(full.len()).ok()?);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let mut out = vec![0u8; len];
    if sha384 {
        hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?;
    } else {
        hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?;
    }
    Some(out)
}

/// TLS 1.3 keys of one direction from a traffic secret.
pub fn tls13_keys(secret: &[u8], cipher: u16) -> Option<DirKeys> {
    let (kind, sha384) = suite(cipher)?;
    if !matches!(cipher, 0x1301..=0x1303) {
        return None;
    }
    let key_len = if kind == Kind::Aes128 { 16 } else { 32 };
    let key = expand_label(sha384, secret, "key", key_len)?;
    let ivv = expand_label(sha384, secret, "iv", 12)?;
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&ivv);
    Some(DirKeys {
        cipher: Cipher::new(kind, &key)?,
        iv,
        seq: 0,
        tls13: true,
        explicit_nonce: false,
        plain: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8448 §3 (simple 1-RTT handshake): server handshake traffic secret → key and iv.
    #[test]
    fn rfc8448_server_handshake_key() {
        let secret = unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
            .unwrap_or_default();
        let key = expand_label(false, &secret, "key", 16).unwrap_or_default();
        let iv = expand_label(false, &secret, "iv", 12).unwrap_or_default();
        assert_eq!(
            key,
            unhex("3fce516009c21727d0f2e4e86ee403bc").unwrap_or_default()
        );
        assert_eq!(iv, unhex("5d313eb2671276ee13000b30").unwrap_or_default());
    }

    #[test]
    fn keylog_lines() {
        let log = KeyLog::parse(
            "# comment\nCLIENT_RANDOM 0a0b 0c0d\nSERVER_TRAFFIC_SECRET_0 0a0b ff\nbroken line\n",
        );
        let s = log.get(&[0x0a, 0x0b]).expect("session");
        assert_eq!(s.master.as_deref(), Some(&[0x0c, 0x0d][..]));
        assert_eq!(s.server_app.as_deref(), Some(&[0xff][..]));
    }
}
