//! Stage 3: TLS over a reassembled TCP byte stream.
//!
//! [`TlsConn`] receives each direction's in-order bytes chunk by chunk (one chunk per TCP
//! segment) and turns them into timeline events. It recognises TLS on any port from the record
//! shape (and the SSLv2-format ClientHello), frames records across segments, reassembles
//! handshake messages across records (tls-parser parses the messages themselves) and keeps
//! only what it must: the body of plaintext handshake/alert/CCS records. Application-data and
//! other encrypted records are framed by their length and counted, never copied.
//!
//! Encrypted records are classified only where their size proves it: a TLS ≤ 1.2 record with
//! the alert content type after the sender's ChangeCipherSpec is an encrypted alert (seen);
//! a 19-byte TLS 1.3 application-data record is an AEAD-sealed alert (2 bytes + inner type +
//! 16-byte tag: inferred). A handshake record after the sender's Finished (TLS ≤ 1.2) is a
//! renegotiation.
//!
//! After a gap (bytes never captured) or a record header that makes no sense, the direction
//! resynchronises at the next segment that starts with a plausible record header.

pub mod cert;
pub mod decrypt;
pub mod hello;
pub mod names;

pub use cert::{CertInfo, CertSummary};
pub use hello::{AlpnList, AlpnName, ClientHelloInfo, RecordFormat, ServerHelloInfo, SessionId};
pub use names::{TlsVersion, alert_name, cipher_name};

use crate::capture::Timestamp;
use crate::timeline::{AlertEvidence, AlertLevel, EventKind};

/// The largest record body TLS allows (2^14 + 2048 for ciphertext), plus slack for broken
/// stacks; anything longer means we are not at a record boundary.
const MAX_RECORD_LEN: usize = 16384 + 2048 + 256;
/// The largest handshake message we reassemble (certificate chains fit easily).
const MAX_HANDSHAKE_LEN: usize = 256 * 1024;
/// The most a record's buffer reserves ahead of its bytes (RFC 8446 §5.2: 2^14 + 256).
const MAX_RECORD_RESERVE: usize = (1 << 14) + 256;
/// Length of an AEAD-sealed TLS 1.3 alert record: 2 + 1 (inner type) + 16 (tag).
pub const TLS13_ALERT_LEN: u16 = 19;

/// A sink for the events TLS parsing produces; `side` is 0 for the side that sent the
/// connection's first packet, 1 for the other.
pub trait EventSink {
    fn emit(&mut self, side: usize, frame: u64, time: Timestamp, kind: EventKind);
    /// Decrypted application data (for the protocol above TLS).
    fn app_data(&mut self, _side: usize, _bytes: &[u8], _frame: u64, _time: Timestamp) {}
}

/// A sink that keeps every event (side, frame, kind): for the TLS and HTTP parser tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Collect(pub(crate) Vec<(usize, u64, EventKind)>);

#[cfg(test)]
impl EventSink for Collect {
    fn emit(&mut self, side: usize, frame: u64, _time: Timestamp, kind: EventKind) {
        self.0.push((side, frame, kind));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// No byte seen yet in this direction.
    Start,
    /// At record boundaries.
    Records,
    /// Lost sync (gap, garbage, or capture started mid-stream): look for a record header at the
    /// start of each segment.
    Resync,
    /// The direction is not TLS (plaintext protocol): watch segment starts for a STARTTLS-style
    /// ClientHello/ServerHello.
    Plaintext,
}

#[derive(Clone, Copy, Debug)]
struct RecordHeader {
    typ: u8,
    version: u16,
    len: usize,
    remaining: usize,
}

#[derive(Debug)]
struct TlsDir {
    mode: Mode,
    hdr: [u8; 5],
    hdr_len: usize,
    rec: Option<RecordHeader>,
    body: Vec<u8>,
    hs: Vec<u8>,
    hs_start_seg: u64,
    /// Segment in which the current record's header started.
    rec_start_seg: u64,
    seg_index: u64,
    ccs: bool,
    finished: bool,
    /// Part of the current record's body was never captured.
    body_incomplete: bool,
    /// Keys for this direction's encrypted records (from a key log). Boxed, as the pending ones
    /// of [`TlsConn`]: without a key log they are never there, and a connection's state is
    /// copied whole when it starts.
    keys: Option<Box<decrypt::DirKeys>>,
}

impl Default for TlsDir {
    fn default() -> Self {
        TlsDir {
            mode: Mode::Start,
            hdr: [0; 5],
            hdr_len: 0,
            rec: None,
            body: Vec::new(),
            hs: Vec::new(),
            hs_start_seg: 0,
            rec_start_seg: 0,
            seg_index: 0,
            ccs: false,
            finished: false,
            body_incomplete: false,
            keys: None,
        }
    }
}

/// TLS state of one TCP connection (both directions).
#[derive(Debug, Default)]
pub struct TlsConn {
    dirs: [TlsDir; 2],
    /// The ClientHello's session id (to recognise an abbreviated TLS ≤ 1.2 handshake); the
    /// ClientHello itself lives only in its event.
    client_session_id: Option<hello::SessionId>,
    client_side: Option<usize>,
    server_side: Option<usize>,
    tls13: bool,
    /// Decryption: the key log, the hellos' randoms, and keys waiting for their moment.
    keylog: Option<std::sync::Arc<decrypt::KeyLog>>,
    client_random: Option<Vec<u8>>,
    /// TLS 1.2 keys by side, installed at that side's ChangeCipherSpec.
    pending12: [Option<Box<decrypt::DirKeys>>; 2],
    /// TLS 1.3 application traffic keys by side, installed after that side's Finished.
    pending13: [Option<Box<decrypt::DirKeys>>; 2],
}

fn plausible_header(d: &[u8]) -> bool {
    match d {
        [typ, 3, minor, hi, lo, ..] => {
            (20..=24).contains(typ)
                && *minor <= 4
                && usize::from(u16::from_be_bytes([*hi, *lo])) <= MAX_RECORD_LEN
        }
        _ => false,
    }
}

/// Could `d` be the first bytes of a TLS record stream? (A chunk shorter than a record header
/// is judged on the bytes it has.)
fn tls_start(d: &[u8]) -> bool {
    match d {
        [_, _, _, _, _, ..] => plausible_header(d),
        [t, rest @ ..] => {
            (20..=24).contains(t)
                && rest.first().is_none_or(|&b| b == 3)
                && rest.get(1).is_none_or(|&b| b <= 4)
        }
        [] => false,
    }
}

fn hello_at(d: &[u8]) -> bool {
    matches!(d, [22, 3, minor, _, _, 1 | 2, ..] if *minor <= 4)
}

fn sslv2_hello(d: &[u8]) -> Option<(usize, u8)> {
    match d {
        [b0, b1, t @ (1 | 4), v0, v1, ..]
            if b0 & 0x80 != 0 && (*t == 4 || (*v0 == 0 && *v1 == 2) || (*v0 == 3 && *v1 <= 4)) =>
        {
            Some(((usize::from(b0 & 0x7f) << 8) | usize::from(*b1), *t))
        }
        _ => None,
    }
}

fn preview(d: &[u8]) -> Box<str> {
    d.iter()
        .take(24)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

impl TlsConn {
    /// A connection that can decrypt sessions found in `keylog`.
    pub fn with_keylog(keylog: Option<std::sync::Arc<decrypt::KeyLog>>) -> Self {
        TlsConn {
            keylog,
            ..TlsConn::default()
        }
    }

    /// Keys for this session, once the ServerHello fixed version and cipher.
    fn install_keys(&mut self, server_side: usize, sh_body: &[u8], sh: &ServerHelloInfo) {
        let (Some(log), Some(cr)) = (self.keylog.as_ref(), self.client_random.as_ref()) else {
            return;
        };
        let Some(secrets) = log.get(cr) else { return };
        let client_side = 1 - (server_side & 1);
        let server_side = server_side & 1;
        if sh.version.is_tls13() {
            let k = |s: &Option<Vec<u8>>| {
                s.as_deref()
                    .and_then(|s| decrypt::tls13_keys(s, sh.cipher))
                    .map(Box::new)
            };
            self.dirs[server_side].keys = k(&secrets.server_hs);
            self.dirs[client_side].keys = k(&secrets.client_hs);
            self.pending13[server_side] = k(&secrets.server_app);
            self.pending13[client_side] = k(&secrets.client_app);
        } else if let (Some(master), Some(sr)) = (secrets.master.as_deref(), sh_body.get(2..34))
            && let Some((c, s)) = decrypt::tls12_keys(master, cr, sr, sh.cipher)
        {
            self.pending12[client_side] = Some(Box::new(c));
            self.pending12[server_side] = Some(Box::new(s));
        }
    }

    /// Is a record of this type from this direction encrypted?
    fn encrypted(&self, side: usize, typ: u8) -> bool {
        if self.tls13 {
            typ == 23
        } else {
            self.dirs[side & 1].ccs && typ != 20
        }
    }

    /// True when direction `side` was recognised as not TLS (its bytes are plaintext).
    pub fn is_plaintext(&self, side: usize) -> bool {
        self.dirs
            .get(side)
            .is_some_and(|d| d.mode == Mode::Plaintext)
    }

    /// The side that sent the ClientHello, if one was seen.
    pub fn client_side(&self) -> Option<usize> {
        self.client_side
    }

    /// The side that sent the ServerHello, if one was seen.
    pub fn server_side(&self) -> Option<usize> {
        self.server_side
    }

    /// Bytes of this direction were not captured: drop partial state and resynchronise.
    pub fn on_gap(&mut self, side: usize) {
        self.lose_sync(side);
    }

    /// `len` bytes of this direction were not captured (lost, or cut by the snaplen). When they
    /// fall inside the body of the current record, framing survives: the record's length says
    /// where the next one starts, so only this record's content is lost. Otherwise the
    /// direction resynchronises at the next plausible record header.
    pub fn on_missing(
        &mut self,
        side: usize,
        len: u64,
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let Some(dir) = self.dirs.get_mut(side) else {
            return;
        };
        if dir.mode == Mode::Records
            && let Some(mut rec) = dir.rec
            && len <= rec.remaining as u64
        {
            rec.remaining -= len as usize;
            dir.body_incomplete = true;
            if rec.remaining == 0 {
                dir.rec = None;
                self.record(side, rec, frame, time, out);
            } else {
                dir.rec = Some(rec);
            }
            return;
        }
        self.lose_sync(side);
    }

    fn lose_sync(&mut self, side: usize) {
        let Some(dir) = self.dirs.get_mut(side) else {
            return;
        };
        dir.rec = None;
        dir.hdr_len = 0;
        dir.body.clear();
        dir.hs.clear();
        if dir.mode != Mode::Plaintext {
            dir.mode = Mode::Resync;
        }
    }

    /// In-order bytes of one TCP segment of direction `side`.
    pub fn on_data(
        &mut self,
        side: usize,
        mut d: &[u8],
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        if d.is_empty() || side > 1 {
            return;
        }
        let mode = {
            let dir = &mut self.dirs[side & 1];
            dir.seg_index += 1;
            dir.mode
        };
        match mode {
            Mode::Start => {
                if let Some((len, t)) = sslv2_hello(d) {
                    self.sslv2(side, d, len, t, frame, time, out);
                    let consumed = (len + 2).min(d.len());
                    d = d.get(consumed..).unwrap_or_default();
                    self.dirs[side & 1].mode = Mode::Records;
                    if d.is_empty() {
                        return;
                    }
                } else if !tls_start(d) {
                    out.emit(
                        side,
                        frame,
                        time,
                        EventKind::NotTls {
                            preview: preview(d),
                        },
                    );
                    self.dirs[side & 1].mode = Mode::Plaintext;
                    return;
                } else {
                    self.dirs[side & 1].mode = Mode::Records;
                }
            }
            Mode::Records => {}
            Mode::Resync => {
                if !plausible_header(d) {
                    return;
                }
                self.dirs[side & 1].mode = Mode::Records;
            }
            Mode::Plaintext => {
                if !hello_at(d) {
                    return;
                }
                self.dirs[side & 1].mode = Mode::Records;
            }
        }
        while !d.is_empty() {
            let dir = &mut self.dirs[side & 1];
            if dir.mode != Mode::Records {
                return;
            }
            let Some(mut rec) = dir.rec else {
                if dir.hdr_len == 0 {
                    dir.rec_start_seg = dir.seg_index;
                }
                // The usual case, a whole header here, is read as five bytes in place: copying
                // a variable length (below) is a call to memcpy for every record.
                let hdr = match d.split_first_chunk::<5>() {
                    Some((whole, rest)) if dir.hdr_len == 0 => {
                        d = rest;
                        *whole
                    }
                    _ => {
                        let need = 5 - dir.hdr_len;
                        let take = need.min(d.len());
                        dir.hdr[dir.hdr_len..dir.hdr_len + take].copy_from_slice(&d[..take]);
                        dir.hdr_len += take;
                        d = &d[take..];
                        if dir.hdr_len < 5 {
                            return;
                        }
                        dir.hdr_len = 0;
                        dir.hdr
                    }
                };
                if !plausible_header(&hdr) {
                    // Not at a record boundary after all: wait for the next segment start.
                    dir.mode = Mode::Resync;
                    dir.hs.clear();
                    return;
                }
                let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
                dir.rec = Some(RecordHeader {
                    typ: hdr[0],
                    version: u16::from_be_bytes([hdr[1], hdr[2]]),
                    len,
                    remaining: len,
                });
                dir.body.clear();
                dir.body_incomplete = false;
                if len == 0 {
                    let r = dir.rec.take();
                    if let Some(r) = r {
                        self.record(side, r, frame, time, out);
                    }
                }
                continue;
            };
            let take = rec.remaining.min(d.len());
            let decryptable = dir.keys.is_some()
                && (if self.tls13 {
                    rec.typ == 23
                } else {
                    dir.ccs && rec.typ != 20
                });
            let plain_handshake = rec.typ == 22 && (self.tls13 || !dir.ccs);
            // A ChangeCipherSpec's byte is never read, nor is an alert's body unless it can be
            // a plaintext alert (2 bytes): only the record header counts for those.
            let buffered = decryptable || (rec.typ == 21 && rec.len == 2) || plain_handshake;
            // A plaintext handshake record wholly in this segment, with no message pending
            // from earlier records (the usual ClientHello and ServerHello): its messages are
            // parsed where they lie instead of being copied into a buffer first.
            // (A plain handshake record is never decryptable, and is far below
            // MAX_HANDSHAKE_LEN; `body_incomplete` cannot be set on a record that is whole.)
            if plain_handshake
                && take == rec.len
                && dir.hs.is_empty()
                && !dir.body_incomplete
                && let Some(whole) = d.get(..take)
            {
                d = d.get(take..).unwrap_or_default();
                dir.rec = None;
                dir.hs_start_seg = dir.rec_start_seg;
                let off = self.parse_messages(side, rec.version, whole, frame, time, out);
                if let Some(tail) = whole.get(off..)
                    && !tail.is_empty()
                {
                    self.dirs[side & 1].hs = tail.to_vec();
                }
                continue;
            }
            if buffered {
                if dir.body.is_empty() {
                    // One allocation for the record (at most a plaintext record's 16 KiB plus
                    // expansion) instead of doubling its way up from the first segment's bytes.
                    dir.body.reserve(rec.len.min(MAX_RECORD_RESERVE));
                }
                dir.body.extend_from_slice(&d[..take]);
            }
            d = &d[take..];
            rec.remaining -= take;
            if rec.remaining == 0 {
                dir.rec = None;
                self.record(side, rec, frame, time, out);
            } else {
                dir.rec = Some(rec);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sslv2(
        &mut self,
        side: usize,
        d: &[u8],
        len: usize,
        msg_type: u8,
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let body = d
            .get(2..2 + len)
            .unwrap_or_else(|| d.get(2..).unwrap_or_default());
        if msg_type == 1 {
            if let Some(ch) = hello::parse_sslv2_client_hello(body) {
                self.client_side.get_or_insert(side);
                self.client_session_id = Some(ch.session_id);
                out.emit(side, frame, time, EventKind::ClientHello(Box::new(ch)));
            }
        } else {
            // SSLv2 SERVER-HELLO: the connection is SSL 2.0 from here on.
            self.server_side.get_or_insert(side);
            let sh = ServerHelloInfo {
                version: TlsVersion::SSL2,
                legacy_version: TlsVersion::SSL2,
                cipher: 0,
                alpn: None,
                hello_retry_request: false,
                renegotiation_info: false,
                resumed: false,
            };
            out.emit(side, frame, time, EventKind::ServerHello(Box::new(sh)));
        }
    }

    /// A record of a direction with keys: decrypted and handled like its plaintext twin (true),
    /// or, when it does not authenticate, left to the caller as ciphertext and the direction's
    /// keys dropped (false). Kept out of [`TlsConn::record`], which every record goes through.
    #[inline(never)]
    fn decrypted_record(
        &mut self,
        side: usize,
        rec: &RecordHeader,
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) -> bool {
        let dir = &mut self.dirs[side & 1];
        let opened = if dir.body_incomplete {
            None
        } else {
            dir.keys
                .as_mut()
                .and_then(|k| k.open(rec.typ, rec.version, &dir.body))
        };
        match opened {
            Some((inner, plain)) => {
                self.plain_record(side, inner, &plain, rec.version, frame, time, out);
                // The buffer goes back to the direction's keys (the application keys, if the
                // record finished the handshake), for the next record.
                if let Some(k) = self.dirs[side & 1].keys.as_mut() {
                    k.reuse(plain);
                }
                true
            }
            // Wrong keys, or a record we missed: stop trying on this direction.
            None => {
                dir.keys = None;
                false
            }
        }
    }

    fn record(
        &mut self,
        side: usize,
        rec: RecordHeader,
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        let len16 = u16::try_from(rec.len).unwrap_or(u16::MAX);
        if self.encrypted(side, rec.typ)
            && self.dirs[side & 1].keys.is_some()
            && self.decrypted_record(side, &rec, frame, time, out)
        {
            return;
        }
        let is_server = self.server_side == Some(side);
        let tls13 = self.tls13;
        let dir = &mut self.dirs[side & 1];
        match rec.typ {
            20 => {
                dir.ccs = true;
                if let Some(k) = self.pending12[side & 1].take() {
                    dir.keys = Some(k);
                }
                out.emit(side, frame, time, EventKind::ChangeCipherSpec);
            }
            21 => {
                let encrypted = (dir.ccs && !tls13) || rec.len != 2 || dir.body_incomplete;
                match dir.body.as_slice() {
                    [level, desc] if !encrypted => out.emit(
                        side,
                        frame,
                        time,
                        EventKind::Alert {
                            level: AlertLevel::from_code(*level),
                            description: *desc,
                        },
                    ),
                    _ => out.emit(
                        side,
                        frame,
                        time,
                        EventKind::EncryptedAlert {
                            len: len16,
                            evidence: AlertEvidence::ContentType,
                        },
                    ),
                }
            }
            22 if dir.ccs && !tls13 => {
                if dir.finished {
                    out.emit(
                        side,
                        frame,
                        time,
                        EventKind::EncryptedHandshake { len: len16 },
                    );
                } else {
                    dir.finished = true;
                    out.emit(side, frame, time, EventKind::Finished { len: len16 });
                }
            }
            22 if dir.body_incomplete => {
                // Part of this handshake record was never captured: its messages are lost.
                dir.hs.clear();
            }
            22 => {
                if dir.hs.is_empty() {
                    dir.hs_start_seg = dir.rec_start_seg;
                }
                if dir.hs.len() + dir.body.len() > MAX_HANDSHAKE_LEN {
                    dir.hs.clear();
                    return;
                }
                if dir.hs.is_empty() {
                    // The usual case: the record holds whole messages; no copy.
                    std::mem::swap(&mut dir.hs, &mut dir.body);
                } else {
                    dir.hs.extend_from_slice(&dir.body);
                }
                self.handshake_messages(side, rec.version, frame, time, out);
            }
            23 => {
                if tls13 && self.server_side.is_some() && !dir.finished {
                    if !is_server && rec.len == usize::from(TLS13_ALERT_LEN) {
                        out.emit(
                            side,
                            frame,
                            time,
                            EventKind::EncryptedAlert {
                                len: len16,
                                evidence: AlertEvidence::InferredFromSize,
                            },
                        );
                    } else {
                        dir.finished = true;
                        out.emit(side, frame, time, EventKind::Finished { len: len16 });
                    }
                } else if tls13 && rec.len == usize::from(TLS13_ALERT_LEN) {
                    out.emit(
                        side,
                        frame,
                        time,
                        EventKind::EncryptedAlert {
                            len: len16,
                            evidence: AlertEvidence::InferredFromSize,
                        },
                    );
                } else {
                    out.emit(
                        side,
                        frame,
                        time,
                        EventKind::AppData {
                            records: 1,
                            bytes: rec.len as u64,
                            last_frame: frame,
                        },
                    );
                }
            }
            24 => out.emit(side, frame, time, EventKind::Heartbeat { len: len16 }),
            _ => {}
        }
    }

    /// A record decrypted with the key log: handled like its plaintext twin.
    #[allow(clippy::too_many_arguments)]
    fn plain_record(
        &mut self,
        side: usize,
        inner: u8,
        plain: &[u8],
        version: u16,
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        match inner {
            21 => {
                if let [level, description, ..] = plain {
                    out.emit(
                        side,
                        frame,
                        time,
                        EventKind::Alert {
                            level: AlertLevel::from_code(*level),
                            description: *description,
                        },
                    );
                }
            }
            22 => {
                let dir = &mut self.dirs[side & 1];
                if dir.hs.is_empty() {
                    dir.hs_start_seg = dir.rec_start_seg;
                }
                dir.hs.extend_from_slice(plain);
                self.handshake_messages(side, version, frame, time, out);
            }
            23 => {
                out.emit(
                    side,
                    frame,
                    time,
                    EventKind::AppData {
                        records: 1,
                        bytes: plain.len() as u64,
                        last_frame: frame,
                    },
                );
                out.app_data(side, plain, frame, time);
            }
            _ => {}
        }
    }

    fn handshake_messages(
        &mut self,
        side: usize,
        rec_version: u16,
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) {
        // Messages are parsed in place; only an incomplete tail is kept for the next record.
        let hs = std::mem::take(&mut self.dirs[side & 1].hs);
        let off = self.parse_messages(side, rec_version, &hs, frame, time, out);
        let dir = &mut self.dirs[side & 1];
        match hs.get(off..) {
            // Give the memory back: most connections never need it again.
            Some([]) | None => {
                dir.body = Vec::new();
            }
            Some(_) if off == 0 => dir.hs = hs,
            Some(rest) => dir.hs = rest.to_vec(),
        }
    }

    /// Emits the complete handshake messages at the start of `hs`; returns the bytes they
    /// took (all of `hs` when it stops being parseable).
    fn parse_messages(
        &mut self,
        side: usize,
        rec_version: u16,
        hs: &[u8],
        frame: u64,
        time: Timestamp,
        out: &mut dyn EventSink,
    ) -> usize {
        let mut off = 0usize;
        while let Some(h) = hs.get(off..off + 4) {
            let msg_type = h[0];
            let mlen = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            if mlen > MAX_HANDSHAKE_LEN {
                self.dirs[side & 1].mode = Mode::Resync;
                off = hs.len();
                break;
            }
            let Some(body) = hs.get(off + 4..off + 4 + mlen) else {
                break;
            };
            let dir = &mut self.dirs[side & 1];
            let segments = u32::try_from(dir.seg_index.saturating_sub(dir.hs_start_seg) + 1)
                .unwrap_or(u32::MAX);
            off += 4 + mlen;
            if off < hs.len() {
                dir.hs_start_seg = dir.seg_index;
            }
            let kind = match msg_type {
                0 => EventKind::HelloRequest,
                1 => match hello::parse_client_hello(body, rec_version) {
                    Some(mut ch) => {
                        ch.segments = segments;
                        self.client_side.get_or_insert(side);
                        self.client_session_id = Some(ch.session_id);
                        if self.keylog.is_some() {
                            self.client_random = body.get(2..34).map(<[u8]>::to_vec);
                        }
                        EventKind::ClientHello(Box::new(ch))
                    }
                    None => EventKind::Handshake { msg_type },
                },
                2 => match hello::parse_server_hello(body, self.client_session_id.as_ref()) {
                    Some(sh) => {
                        self.server_side.get_or_insert(side);
                        if sh.version.is_tls13() {
                            self.tls13 = true;
                        }
                        if !sh.hello_retry_request && self.keylog.is_some() {
                            self.install_keys(side, body, &sh);
                        }
                        EventKind::ServerHello(Box::new(sh))
                    }
                    None => EventKind::Handshake { msg_type },
                },
                11 => match if self.tls13 {
                    cert::summarize_tls13(body)
                } else {
                    cert::summarize_message(body)
                } {
                    Some(info) => EventKind::Certificate(info),
                    None => EventKind::Handshake { msg_type },
                },
                // A Finished we can read (TLS 1.3, or decrypted): the side's handshake is done;
                // in TLS 1.3 its application keys take over.
                20 => {
                    let side_i = side & 1;
                    self.dirs[side_i].finished = true;
                    if self.tls13
                        && let Some(k) = self.pending13[side_i].take()
                    {
                        self.dirs[side_i].keys = Some(k);
                    }
                    EventKind::Finished {
                        len: u16::try_from(mlen).unwrap_or(u16::MAX),
                    }
                }
                _ => EventKind::Handshake { msg_type },
            };
            out.emit(side, frame, time, kind);
        }
        off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_hello_record(sni: &str) -> Vec<u8> {
        let name = sni.as_bytes();
        let mut sni_ext = vec![0u8, 0];
        let list_len = name.len() + 3;
        sni_ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        sni_ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        sni_ext.push(0);
        sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni_ext.extend_from_slice(name);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x00, 0xff]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&sni_ext);
        let mut msg = vec![1, 0, 0, 0];
        let l = body.len() as u32;
        msg[1..4].copy_from_slice(&l.to_be_bytes()[1..]);
        msg.extend(body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        rec.extend(msg);
        rec
    }

    #[test]
    fn client_hello_split_across_segments_at_every_offset() {
        let rec = client_hello_record("a.example");
        for cut in 1..rec.len() {
            let mut tls = TlsConn::default();
            let mut out = Collect::default();
            tls.on_data(0, &rec[..cut], 10, Timestamp(0), &mut out);
            tls.on_data(0, &rec[cut..], 11, Timestamp(0), &mut out);
            let [(0, 11, EventKind::ClientHello(ch))] = out.0.as_slice() else {
                panic!("cut {cut}: {:?}", out.0);
            };
            assert_eq!(ch.sni.as_deref(), Some("a.example"));
            assert_eq!(ch.segments, 2);
            assert!(ch.renegotiation_scsv);
        }
    }

    /// Handshake records that arrive whole are parsed where they lie; a message cut across
    /// records still joins up, and a segment may hold several records.
    #[test]
    fn handshake_records_whole_split_across_records_and_back_to_back() {
        let rec = client_hello_record("a.example");
        // Whole, in one segment.
        let mut tls = TlsConn::default();
        let mut out = Collect::default();
        tls.on_data(0, &rec, 5, Timestamp(0), &mut out);
        let [(0, 5, EventKind::ClientHello(ch))] = out.0.as_slice() else {
            panic!("{:?}", out.0);
        };
        assert_eq!((ch.sni.as_deref(), ch.segments), (Some("a.example"), 1));
        // The message cut in two records, each whole in its own segment.
        let msg = rec.get(5..).unwrap_or_default();
        for cut in [1, 4, 20, msg.len() - 1] {
            let mut tls = TlsConn::default();
            let mut out = Collect::default();
            for (i, part) in [&msg[..cut], &msg[cut..]].into_iter().enumerate() {
                let mut r = vec![22, 3, 1];
                r.extend_from_slice(&(part.len() as u16).to_be_bytes());
                r.extend_from_slice(part);
                tls.on_data(0, &r, 7 + i as u64, Timestamp(0), &mut out);
            }
            let [(0, 8, EventKind::ClientHello(ch))] = out.0.as_slice() else {
                panic!("cut {cut}: {:?}", out.0);
            };
            assert_eq!((ch.sni.as_deref(), ch.segments), (Some("a.example"), 2));
        }
        // Two records back to back in one segment, then an alert.
        let mut both = client_hello_record("a.example");
        both.extend(client_hello_record("b.example"));
        both.extend([21, 3, 3, 0, 2, 2, 40]);
        let mut tls = TlsConn::default();
        let mut out = Collect::default();
        tls.on_data(0, &both, 9, Timestamp(0), &mut out);
        let names: Vec<String> = out
            .0
            .iter()
            .map(|(_, _, k)| match k {
                EventKind::ClientHello(ch) => ch.sni.as_deref().unwrap_or_default().to_string(),
                EventKind::Alert { description, .. } => format!("alert {description}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["a.example", "b.example", "alert 40"]);
    }

    /// ChangeCipherSpec and encrypted alerts are only framed (their bytes are not kept), a
    /// plaintext alert is still read when its two bytes come in two segments.
    #[test]
    fn ccs_and_alerts_split_across_segments() {
        let mut tls = TlsConn::default();
        let mut out = Collect::default();
        let mut bytes = client_hello_record("a.example");
        bytes.extend([21, 3, 3, 0, 2, 2, 40]);
        bytes.extend([20, 3, 3, 0, 1, 1]);
        // Every byte in its own segment.
        for (i, b) in bytes.iter().enumerate() {
            tls.on_data(
                0,
                std::slice::from_ref(b),
                i as u64 + 1,
                Timestamp(0),
                &mut out,
            );
        }
        let kinds: Vec<String> = out
            .0
            .iter()
            .map(|(_, _, k)| match k {
                EventKind::ClientHello(_) => "CH".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "CH",
                "Alert { level: Fatal, description: 40 }",
                "ChangeCipherSpec"
            ]
        );
        // A CCS and an encrypted alert need no buffer: none is allocated for them.
        let mut fresh = TlsConn::default();
        let mut sink = Collect::default();
        fresh.on_data(
            0,
            &client_hello_record("a.example"),
            1,
            Timestamp(0),
            &mut sink,
        );
        fresh.on_data(0, &[20, 3, 3, 0, 1, 1], 2, Timestamp(0), &mut sink);
        fresh.on_data(0, &[21, 3, 3, 0, 26], 3, Timestamp(0), &mut sink);
        fresh.on_data(0, &[0xab; 26], 4, Timestamp(0), &mut sink);
        assert_eq!(sink.0.len(), 3, "{:?}", sink.0);
        assert_eq!(fresh.dirs[0].body.capacity(), 0);
        assert!(fresh.dirs[0].hs.is_empty());
        // After the CCS (TLS 1.2) an alert is encrypted: its length is all that is reported.
        let mut out2 = Collect::default();
        tls.on_data(0, &[21, 3, 3, 0, 26], 100, Timestamp(0), &mut out2);
        tls.on_data(0, &[0xab; 26], 101, Timestamp(0), &mut out2);
        assert!(
            matches!(
                out2.0.as_slice(),
                [(0, 101, EventKind::EncryptedAlert { len: 26, .. })]
            ),
            "{:?}",
            out2.0
        );
    }

    #[test]
    fn plaintext_http_is_not_tls_and_alert_is_decoded() {
        let mut tls = TlsConn::default();
        let mut out = Collect::default();
        tls.on_data(0, b"GET / HTTP/1.1\r\n", 1, Timestamp(0), &mut out);
        assert!(
            matches!(&out.0[0].2, EventKind::NotTls { preview } if preview.starts_with("GET / HTTP"))
        );
        tls.on_data(1, &[21, 3, 3, 0, 2, 2, 40], 2, Timestamp(0), &mut out);
        assert!(matches!(
            out.0[1].2,
            EventKind::Alert {
                level: AlertLevel::Fatal,
                description: 40
            }
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 12345u32;
        for _ in 0..2000 {
            let mut tls = TlsConn::default();
            let mut out = Collect::default();
            for _ in 0..8 {
                let len = (seed % 300) as usize;
                let chunk: Vec<u8> = (0..len)
                    .map(|i| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        if i % 7 == 0 { 22 } else { (seed >> 16) as u8 }
                    })
                    .collect();
                tls.on_data((seed & 1) as usize, &chunk, 1, Timestamp(0), &mut out);
                if seed.is_multiple_of(5) {
                    tls.on_gap(0);
                }
            }
        }
    }
}
