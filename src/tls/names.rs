//! Names for TLS numbers: versions, alerts, cipher suites, handshake types.

use std::fmt;

use serde::Serialize;

/// A TLS protocol version as on the wire (0x0303 = TLS 1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    pub const SSL2: TlsVersion = TlsVersion(0x0002);
    pub const SSL3: TlsVersion = TlsVersion(0x0300);
    pub const TLS10: TlsVersion = TlsVersion(0x0301);
    pub const TLS11: TlsVersion = TlsVersion(0x0302);
    pub const TLS12: TlsVersion = TlsVersion(0x0303);
    pub const TLS13: TlsVersion = TlsVersion(0x0304);

    /// True for TLS 1.3 and its drafts (0x7fNN) and Facebook's experimental 0xfbNN.
    pub fn is_tls13(self) -> bool {
        self.0 == 0x0304 || self.0 >> 8 == 0x7f || self.0 >> 8 == 0xfb
    }
    /// GREASE values (RFC 8701) are 0x?a?a.
    pub fn is_grease(self) -> bool {
        is_grease(self.0)
    }
}

pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

impl TlsVersion {
    /// The name of a released version ("TLS 1.2"); `None` for drafts and unknown numbers,
    /// which `Display` spells out.
    pub fn released_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0002 => "SSL 2.0",
            0x0300 => "SSL 3.0",
            0x0301 => "TLS 1.0",
            0x0302 => "TLS 1.1",
            0x0303 => "TLS 1.2",
            0x0304 => "TLS 1.3",
            _ => return None,
        })
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.released_name(), self.0) {
            (Some(name), _) => f.write_str(name),
            (None, v) if v >> 8 == 0x7f => write!(f, "TLS 1.3 (draft {})", v & 0xff),
            (None, v) => write!(f, "0x{v:04x}"),
        }
    }
}

/// The RFC 8446 §6 / IANA name of an alert description.
pub fn alert_name(code: u8) -> String {
    let name = match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        other => return format!("alert_{other}"),
    };
    name.to_string()
}

/// The IANA name of a cipher suite, or its hex value.
pub fn cipher_name(id: u16) -> std::borrow::Cow<'static, str> {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(cs) => cs.name.into(),
        None if is_grease(id) => format!("GREASE 0x{id:04x}").into(),
        None => format!("0x{id:04x}").into(),
    }
}

/// The name of a handshake message type.
pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        3 => "HelloVerifyRequest",
        4 => "NewSessionTicket",
        5 => "EndOfEarlyData",
        6 => "HelloRetryRequest",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        22 => "CertificateStatus",
        24 => "KeyUpdate",
        _ => "unknown handshake message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(TlsVersion(0x0303).to_string(), "TLS 1.2");
        assert_eq!(TlsVersion(0x7f12).to_string(), "TLS 1.3 (draft 18)");
        assert!(TlsVersion(0x7f12).is_tls13());
        assert_eq!(alert_name(40), "handshake_failure");
        assert_eq!(alert_name(200), "alert_200");
        assert_eq!(cipher_name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert!(is_grease(0x1a1a) && !is_grease(0x1a2a));
    }
}
