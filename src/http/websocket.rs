//! WebSocket framing (RFC 6455 §5.2): headers are parsed, payloads skipped (only a close
//! frame's 2-byte status code is unmasked and kept).

use serde::Serialize;

use crate::capture::Timestamp;
use crate::timeline::EventKind;
use crate::tls::EventSink;

/// The GUID of RFC 6455 §1.3.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The facts of one WebSocket frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct WsFrameInfo {
    pub opcode: u8,
    pub fin: bool,
    /// RSV1: a compressed message (permessage-deflate).
    pub rsv1: bool,
    pub masked: bool,
    pub len: u64,
    /// Status code of a close frame.
    pub close_code: Option<u16>,
}

#[derive(Debug, Default)]
pub struct WsDir {
    hdr: [u8; 14],
    hdr_len: usize,
    /// Payload bytes still to skip of the current frame.
    remaining: u64,
    /// A close frame's first payload bytes (masked).
    close: Option<(WsFrameInfo, [u8; 4], [u8; 2], usize)>,
    lost: bool,
}

fn header_len(h: &[u8]) -> Option<usize> {
    let b1 = *h.get(1)?;
    let masked = b1 & 0x80 != 0;
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    Some(2 + ext + if masked { 4 } else { 0 })
}

impl WsDir {
    pub fn lose_sync(&mut self) {
        self.lost = true;
    }

    pub fn on_data(
        &mut self,
        side: usize,
        mut d: &[u8],
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        if self.lost {
            return;
        }
        while !d.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(d.len() as u64) as usize;
                if let Some((info, key, code, got)) = self.close.as_mut() {
                    for &b in &d[..take] {
                        if *got < 2 {
                            code[*got] = b ^ key[*got % 4];
                            *got += 1;
                        }
                    }
                    let _ = info;
                }
                d = &d[take..];
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.finish_close(side, frame, time, out);
                }
                continue;
            }
            // Header bytes: first the 2 fixed ones, then as many as they announce.
            let need = if self.hdr_len < 2 {
                2
            } else {
                header_len(&self.hdr[..self.hdr_len]).unwrap_or(2)
            };
            let take = (need - self.hdr_len.min(need)).min(d.len());
            self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&d[..take]);
            self.hdr_len += take;
            d = &d[take..];
            let Some(full) = header_len(&self.hdr[..self.hdr_len]) else {
                continue;
            };
            if self.hdr_len < full {
                continue;
            }
            let h = &self.hdr[..full];
            let b0 = h[0];
            let b1 = h[1];
            let masked = b1 & 0x80 != 0;
            let len = match b1 & 0x7f {
                126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
                n => u64::from(n),
            };
            let key = if masked {
                let k = &h[full - 4..full];
                [k[0], k[1], k[2], k[3]]
            } else {
                [0; 4]
            };
            let info = WsFrameInfo {
                opcode: b0 & 0x0f,
                fin: b0 & 0x80 != 0,
                rsv1: b0 & 0x40 != 0,
                masked,
                len,
                close_code: None,
            };
            self.hdr_len = 0;
            // A reserved opcode means we are not at a frame boundary after all.
            if !matches!(info.opcode, 0 | 1 | 2 | 8 | 9 | 10) {
                self.lost = true;
                return;
            }
            self.remaining = len;
            if info.opcode == 8 && len >= 2 {
                self.close = Some((info, key, [0; 2], 0));
            } else {
                out.emit(side, frame, time, EventKind::WsFrame(info));
            }
            if self.remaining == 0 {
                self.finish_close(side, frame, time, out);
            }
        }
    }

    fn finish_close(&mut self, side: usize, frame: u64, time: Timestamp, out: &mut dyn EventSink) {
        if let Some((mut info, _, code, got)) = self.close.take() {
            if got == 2 {
                info.close_code = Some(u16::from_be_bytes(code));
            }
            out.emit(side, frame, time, EventKind::WsFrame(info));
        }
    }
}

/// base64(SHA-1(key + GUID)): the Sec-WebSocket-Accept a server must send (RFC 6455 §4.2.2).
pub fn expected_accept(key: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_example() {
        assert_eq!(
            expected_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
