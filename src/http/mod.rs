//! HTTP/1.x and WebSocket above TCP (or, once decryption lands, above TLS).
//!
//! [`HttpConn`] receives a direction's plaintext bytes chunk by chunk, finds message heads
//! (bounded to [`MAX_HEAD`] bytes), parses them with `httparse`, frames bodies by
//! Content-Length / chunked encoding / close without copying them, pairs responses with
//! requests (keep-alive and pipelining: a FIFO of request methods, so a HEAD response has no
//! body), and after a `101 Switching Protocols` frames WebSocket messages (RFC 6455 §5.2):
//! opcode, FIN, RSV1 (permessage-deflate), mask, length and close codes. Payloads are never
//! stored.

pub mod websocket;

use std::collections::VecDeque;

use serde::Serialize;

use crate::capture::Timestamp;
use crate::timeline::EventKind;
use crate::tls::EventSink;
use websocket::WsDir;

/// The most bytes one message head may take.
pub const MAX_HEAD: usize = 16 * 1024;
/// Requests waiting for their response (pipelining depth we track).
const MAX_PENDING: usize = 64;

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestInfo {
    pub method: String,
    pub target: String,
    pub host: Option<String>,
    pub connection: Option<String>,
    pub upgrade: Option<String>,
    pub ws_key: Option<String>,
    pub ws_extensions: Option<String>,
    pub user_agent: Option<String>,
}

/// A parsed response head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResponseInfo {
    pub status: u16,
    pub reason: String,
    pub server: Option<String>,
    pub via: Option<String>,
    pub x_powered_by: Option<String>,
    pub connection: Option<String>,
    pub upgrade: Option<String>,
    pub ws_accept: Option<String>,
    pub ws_extensions: Option<String>,
    pub content_length: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunked {
    /// Reading a chunk-size line (bytes so far are only counted).
    Size {
        line: Vec<u8>,
    },
    Data {
        remaining: u64,
    },
    /// The CRLF after a chunk's data.
    DataEnd {
        remaining: u8,
    },
    /// Trailer section after the last chunk: ends with an empty line.
    Trailer {
        line_len: usize,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body {
        remaining: u64,
    },
    Chunked(Chunked),
    /// Body delimited by the connection's close.
    UntilClose,
    WebSocket,
    /// Not HTTP, or lost: wait for a segment that starts a message.
    Lost,
}

#[derive(Debug)]
struct HttpDir {
    state: State,
    head: Vec<u8>,
    ws: WsDir,
    /// This direction carries requests (true) or responses (false), once known.
    requests: Option<bool>,
}

impl Default for HttpDir {
    fn default() -> Self {
        HttpDir {
            state: State::Head,
            head: Vec::new(),
            ws: WsDir::default(),
            requests: None,
        }
    }
}

/// HTTP state of one connection, made at its first plaintext byte or lost byte: most
/// connections are TLS and never need it, and a connection's state is read cold when it is
/// finalised (a pointer here instead of ~280 bytes of state in every connection).
#[derive(Debug, Default)]
pub struct HttpConn(Option<Box<HttpState>>);

#[derive(Debug, Default)]
struct HttpState {
    dirs: [HttpDir; 2],
    /// Methods of requests not answered yet, and which side sent them.
    pending: VecDeque<(usize, bool)>,
    seen: bool,
}

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PRI ",
];

/// Does `d` start an HTTP/1.x message? (A chunk shorter than the longest method is judged
/// on the bytes it has.)
pub fn starts_message(d: &[u8]) -> bool {
    let pats = METHODS
        .iter()
        .copied()
        .chain(std::iter::once(&b"HTTP/1."[..]));
    let mut pats = pats;
    pats.any(|m| d.starts_with(m) || (d.len() < m.len() && m.starts_with(d)))
}

fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

impl HttpConn {
    /// True once a message head was parsed on this connection.
    pub fn is_http(&self) -> bool {
        self.0.as_ref().is_some_and(|h| h.seen)
    }

    /// Bytes of this direction were lost.
    pub fn on_gap(&mut self, side: usize) {
        self.0.get_or_insert_default().on_gap(side);
    }

    /// In-order plaintext bytes of one TCP segment of direction `side`.
    pub fn on_data(
        &mut self,
        side: usize,
        d: &[u8],
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        self.0
            .get_or_insert_default()
            .on_data(side, d, frame, time, out);
    }
}

impl HttpState {
    fn on_gap(&mut self, side: usize) {
        if let Some(d) = self.dirs.get_mut(side) {
            if d.state != State::WebSocket && d.state != State::UntilClose {
                d.state = State::Lost;
                d.head.clear();
            } else if d.state == State::WebSocket {
                d.ws.lose_sync();
            }
        }
    }

    fn on_data(
        &mut self,
        side: usize,
        mut d: &[u8],
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        if side > 1 {
            return;
        }
        if self.dirs[side].state == State::Lost {
            if !starts_message(d) {
                return;
            }
            self.dirs[side].state = State::Head;
        }
        while !d.is_empty() {
            let state = self.dirs[side].state.clone();
            match state {
                State::Lost => return,
                State::UntilClose => return,
                State::WebSocket => {
                    self.dirs[side].ws.on_data(side, d, frame, time, out);
                    return;
                }
                State::Body { remaining } => {
                    let take = remaining.min(d.len() as u64);
                    d = d.get(take as usize..).unwrap_or_default();
                    let left = remaining - take;
                    self.dirs[side].state = if left == 0 {
                        State::Head
                    } else {
                        State::Body { remaining: left }
                    };
                }
                State::Chunked(c) => {
                    let (consumed, next) = chunked_step(c, d);
                    d = d.get(consumed..).unwrap_or_default();
                    self.dirs[side].state = next;
                }
                State::Head => {
                    let dir = &mut self.dirs[side];
                    if dir.head.is_empty() && !starts_message(d) {
                        // Leading CRLFs between messages are allowed (RFC 9112 §2.2).
                        if let Some(rest) = d.strip_prefix(b"\r\n") {
                            d = rest;
                            continue;
                        }
                        dir.state = State::Lost;
                        return;
                    }
                    let before = dir.head.len();
                    let room = MAX_HEAD.saturating_sub(before);
                    let take = d.len().min(room);
                    dir.head.extend_from_slice(&d[..take]);
                    let Some(end) = find_head_end(&dir.head) else {
                        if dir.head.len() >= MAX_HEAD {
                            dir.head = Vec::new();
                            dir.state = State::Lost;
                        }
                        return;
                    };
                    // Bytes of `d` that belong to the head.
                    let used = end.saturating_sub(before);
                    d = d.get(used..).unwrap_or_default();
                    let head = std::mem::take(&mut dir.head);
                    self.message(side, &head[..end], frame, time, out);
                }
            }
        }
    }

    fn message(
        &mut self,
        side: usize,
        head: &[u8],
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        if head.starts_with(b"HTTP/") {
            let mut resp = httparse::Response::new(&mut headers);
            let Ok(httparse::Status::Complete(_)) = resp.parse(head) else {
                self.dirs[side].state = State::Lost;
                return;
            };
            let status = resp.code.unwrap_or(0);
            let h = resp.headers;
            let info = ResponseInfo {
                status,
                reason: resp.reason.unwrap_or("").to_string(),
                server: header(h, "server"),
                via: header(h, "via"),
                x_powered_by: header(h, "x-powered-by"),
                connection: header(h, "connection"),
                upgrade: header(h, "upgrade"),
                ws_accept: header(h, "sec-websocket-accept"),
                ws_extensions: header(h, "sec-websocket-extensions"),
                content_length: header(h, "content-length").and_then(|v| v.parse().ok()),
            };
            let chunked = header(h, "transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            self.seen = true;
            self.dirs[side].requests = Some(false);
            // 1xx other than 101 are interim: the request still waits for its final answer.
            let head_request = if (100..200).contains(&status) && status != 101 {
                false
            } else {
                self.pending.pop_front().is_some_and(|(_, is_head)| is_head)
            };
            let next = if status == 101 {
                // Both directions speak the new protocol (WebSocket) from here on.
                self.dirs[1 - side].state = State::WebSocket;
                State::WebSocket
            } else if (100..200).contains(&status) || status == 204 || status == 304 || head_request
            {
                State::Head
            } else if chunked {
                State::Chunked(Chunked::Size { line: Vec::new() })
            } else if let Some(n) = info.content_length {
                if n == 0 {
                    State::Head
                } else {
                    State::Body { remaining: n }
                }
            } else {
                State::UntilClose
            };
            self.dirs[side].state = next;
            out.emit(side, frame, time, EventKind::HttpResponse(Box::new(info)));
        } else {
            let mut req = httparse::Request::new(&mut headers);
            let Ok(httparse::Status::Complete(_)) = req.parse(head) else {
                self.dirs[side].state = State::Lost;
                return;
            };
            let h = req.headers;
            let info = RequestInfo {
                method: req.method.unwrap_or("").to_string(),
                target: req.path.unwrap_or("").to_string(),
                host: header(h, "host"),
                connection: header(h, "connection"),
                upgrade: header(h, "upgrade"),
                ws_key: header(h, "sec-websocket-key"),
                ws_extensions: header(h, "sec-websocket-extensions"),
                user_agent: header(h, "user-agent"),
            };
            let chunked = header(h, "transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            let len: u64 = header(h, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            self.seen = true;
            self.dirs[side].requests = Some(true);
            if self.pending.len() < MAX_PENDING {
                self.pending
                    .push_back((side, info.method.eq_ignore_ascii_case("HEAD")));
            }
            self.dirs[side].state = if chunked {
                State::Chunked(Chunked::Size { line: Vec::new() })
            } else if len > 0 {
                State::Body { remaining: len }
            } else {
                State::Head
            };
            out.emit(side, frame, time, EventKind::HttpRequest(Box::new(info)));
        }
    }
}

/// One step of chunked decoding: returns bytes consumed and the next state.
fn chunked_step(c: Chunked, d: &[u8]) -> (usize, State) {
    match c {
        Chunked::Size { mut line } => match d.iter().position(|&b| b == b'\n') {
            Some(p) => {
                if line.len() < 64 {
                    line.extend_from_slice(&d[..p.min(64)]);
                }
                let text = String::from_utf8_lossy(&line);
                let size_str = text
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                match u64::from_str_radix(&size_str, 16) {
                    Ok(0) => (p + 1, State::Chunked(Chunked::Trailer { line_len: 0 })),
                    Ok(n) => (p + 1, State::Chunked(Chunked::Data { remaining: n })),
                    Err(_) => (d.len(), State::Lost),
                }
            }
            None => {
                if line.len() + d.len() > 64 {
                    return (d.len(), State::Lost);
                }
                line.extend_from_slice(d);
                (d.len(), State::Chunked(Chunked::Size { line }))
            }
        },
        Chunked::Data { remaining } => {
            let take = remaining.min(d.len() as u64);
            let left = remaining - take;
            let next = if left == 0 {
                Chunked::DataEnd { remaining: 2 }
            } else {
                Chunked::Data { remaining: left }
            };
            (take as usize, State::Chunked(next))
        }
        Chunked::DataEnd { remaining } => {
            let take = usize::from(remaining).min(d.len());
            let left = remaining - take as u8;
            if left == 0 {
                (take, State::Chunked(Chunked::Size { line: Vec::new() }))
            } else {
                (take, State::Chunked(Chunked::DataEnd { remaining: left }))
            }
        }
        Chunked::Trailer { mut line_len } => {
            for (i, &b) in d.iter().enumerate() {
                if b == b'\n' {
                    if line_len == 0 {
                        return (i + 1, State::Head);
                    }
                    line_len = 0;
                } else if b != b'\r' {
                    line_len += 1;
                }
            }
            (d.len(), State::Chunked(Chunked::Trailer { line_len }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::Collect;

    #[test]
    fn keepalive_pipelining_chunked_and_head() {
        let mut h = HttpConn::default();
        let mut out = Collect::default();
        h.on_data(
            0,
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n",
            1,
            Timestamp(0),
            &mut out,
        );
        let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nServer: nginx\r\n\r\n";
        // split everywhere
        for cut in 1..resp.len() {
            let mut h2 = HttpConn::default();
            let mut o2 = Collect::default();
            h2.on_data(
                0,
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n",
                1,
                Timestamp(0),
                &mut o2,
            );
            h2.on_data(1, &resp[..cut], 2, Timestamp(0), &mut o2);
            h2.on_data(1, &resp[cut..], 3, Timestamp(0), &mut o2);
            let statuses: Vec<u16> =
                o2.0.iter()
                    .filter_map(|e| match &e.2 {
                        EventKind::HttpResponse(r) => Some(r.status),
                        _ => None,
                    })
                    .collect();
            assert_eq!(statuses, vec![200, 404], "cut {cut}");
        }
        h.on_data(1, resp, 2, Timestamp(0), &mut out);
        assert_eq!(out.0.len(), 4);
        assert!(
            matches!(&out.0[3].2, EventKind::HttpResponse(r) if r.server.as_deref() == Some("nginx"))
        );
    }

    #[test]
    fn upgrade_switches_both_directions_to_websocket() {
        let mut h = HttpConn::default();
        let mut out = Collect::default();
        h.on_data(0, b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 1, Timestamp(0), &mut out);
        h.on_data(1, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi", 2, Timestamp(0), &mut out);
        // masked client text frame "hi"
        h.on_data(
            0,
            &[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2],
            3,
            Timestamp(0),
            &mut out,
        );
        let kinds: Vec<String> = out
            .0
            .iter()
            .map(|e| format!("{}", e.2.letter().unwrap_or('?')))
            .collect();
        assert_eq!(kinds, vec!["v", "v", "w", "w"]);
    }

    #[test]
    fn garbage_is_not_http_and_never_panics() {
        let mut h = HttpConn::default();
        let mut out = Collect::default();
        h.on_data(0, b"\x16\x03\x01garbage", 1, Timestamp(0), &mut out);
        assert!(!h.is_http());
        let mut seed = 7u32;
        for _ in 0..500 {
            let mut h = HttpConn::default();
            for _ in 0..6 {
                let len = (seed % 200) as usize;
                let chunk: Vec<u8> = (0..len)
                    .map(|i| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        if i == 0 { b'G' } else { (seed >> 16) as u8 }
                    })
                    .collect();
                h.on_data((seed & 1) as usize, &chunk, 1, Timestamp(0), &mut out);
            }
        }
    }
}
