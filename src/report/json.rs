//! JSON wire types. The schema is a contract documented in `docs/json.md`: fields are added,
//! never renamed or removed.

use serde::Serialize;

use super::{ConnReport, FileReport};
use crate::capture::linktype_name;
use crate::rules::Finding;
use crate::timeline::DirStats;

/// Serialises a value as the JSON string of its `Display` form, escaped as it is written
/// (no intermediate `String`).
pub struct Shown<T>(pub T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A rule's explanation followed by this connection's facts (see [`Finding::detail`]).
pub struct Explanation<'a> {
    pub text: &'static str,
    pub detail: Option<&'a str>,
}

impl std::fmt::Display for Explanation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text)?;
        if let Some(d) = self.detail {
            f.write_str(" ")?;
            f.write_str(d)?;
        }
        Ok(())
    }
}

/// The Wireshark display filter that opens a connection: `tcp.stream eq N`.
pub struct StreamFilter(pub u64);

impl std::fmt::Display for StreamFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tcp.stream eq {}", self.0)
    }
}

#[derive(Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

pub const TOOL: Tool = Tool {
    name: env!("CARGO_PKG_NAME"),
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Serialize)]
pub struct Document<'a> {
    pub tool: Tool,
    pub files: Vec<JsonFile<'a>>,
}

#[derive(Serialize)]
pub struct LinkType {
    pub linktype: i32,
    pub name: String,
}

#[derive(Serialize)]
pub struct JsonFile<'a> {
    pub path: &'a str,
    pub format: Option<&'a str>,
    pub compressed: bool,
    pub link_types: Vec<LinkType>,
    pub packets: u64,
    pub tcp_streams: u64,
    pub warnings: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    pub connections: Vec<JsonConn<'a>>,
}

#[derive(Serialize)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
    pub tls_app_records: u64,
    pub tls_app_bytes: u64,
    pub retransmissions: u64,
    pub missing_bytes: u64,
}

impl From<&DirStats> for Traffic {
    fn from(s: &DirStats) -> Self {
        Traffic {
            packets: s.packets,
            bytes: s.bytes,
            tls_app_records: s.app_records,
            tls_app_bytes: s.app_bytes,
            retransmissions: s.retransmissions,
            missing_bytes: s.gap_bytes,
        }
    }
}

#[derive(Serialize)]
pub struct JsonConn<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'a str>,
    pub stream: u64,
    pub client: Shown<&'a std::net::SocketAddr>,
    pub server: Shown<&'a std::net::SocketAddr>,
    pub sni: Option<&'a str>,
    pub alpn: Option<&'a str>,
    pub alpn_offered: &'a [crate::tls::AlpnName],
    pub tls_version: Option<Shown<crate::tls::TlsVersion>>,
    pub cipher: Option<&'a str>,
    pub outcome: &'static str,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_time: f64,
    pub last_time: f64,
    pub transcript: &'a str,
    pub c2s: Traffic,
    pub s2c: Traffic,
    pub findings: Vec<JsonFinding<'a>>,
    /// HTTP/1.x exchanges seen on the connection (plaintext, or decrypted).
    pub http: Vec<JsonHttp<'a>>,
    /// WebSocket traffic after an upgrade (absent when there was none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<JsonWs>,
}

#[derive(Serialize)]
pub struct JsonHttpRequest<'a> {
    pub frame: u64,
    pub time: f64,
    #[serde(flatten)]
    pub head: &'a crate::http::RequestInfo,
}

#[derive(Serialize)]
pub struct JsonHttpResponse<'a> {
    pub frame: u64,
    pub time: f64,
    #[serde(flatten)]
    pub head: &'a crate::http::ResponseInfo,
}

#[derive(Serialize)]
pub struct JsonHttp<'a> {
    pub request: Option<JsonHttpRequest<'a>>,
    pub response: Option<JsonHttpResponse<'a>>,
    /// Seconds from the request to the response head.
    pub duration: Option<f64>,
}

#[derive(Serialize)]
pub struct JsonWsClose {
    pub frame: u64,
    pub direction: &'static str,
    pub code: Option<u16>,
}

#[derive(Serialize)]
pub struct JsonWs {
    pub frames_c2s: u64,
    pub frames_s2c: u64,
    pub compressed_frames: u64,
    pub closes: Vec<JsonWsClose>,
}

#[derive(Serialize)]
pub struct JsonFinding<'a> {
    pub rule: &'static str,
    pub severity: &'static str,
    pub summary: &'a str,
    pub explanation: Shown<Explanation<'a>>,
    pub fix: &'static str,
    pub frames: &'a [u64],
    pub time: f64,
    pub evidence: &'static str,
    pub filter: Shown<StreamFilter>,
    /// "high", or "low" when the capture misses part of the connection.
    pub confidence: &'static str,
    /// Why the confidence is low (null when high).
    pub confidence_note: Option<&'a str>,
}

pub fn finding<'a>(c: &ConnReport, f: &'a Finding) -> JsonFinding<'a> {
    let meta = f.rule.meta();
    JsonFinding {
        rule: meta.name,
        severity: f.severity.as_str(),
        summary: &f.summary,
        explanation: Shown(Explanation {
            text: meta.explanation,
            detail: f.detail.as_deref(),
        }),
        fix: meta.fix,
        frames: &f.frames,
        time: f.time.as_secs_f64(),
        evidence: match f.evidence {
            crate::rules::Evidence::Seen => "seen",
            crate::rules::Evidence::Inferred => "inferred",
        },
        filter: Shown(StreamFilter(c.stream)),
        confidence: if f.low_confidence.is_some() {
            "low"
        } else {
            "high"
        },
        confidence_note: f.low_confidence.as_deref(),
    }
}

pub fn conn<'a>(c: &'a ConnReport, path: Option<&'a str>) -> JsonConn<'a> {
    JsonConn {
        path,
        stream: c.stream,
        client: Shown(&c.client),
        server: Shown(&c.server),
        sni: c.sni.as_deref(),
        alpn: c.alpn.as_deref(),
        alpn_offered: &c.alpn_offered,
        tls_version: c.tls_version.map(Shown),
        cipher: c.cipher.as_deref(),
        outcome: c.outcome.as_str(),
        first_frame: c.first_frame,
        last_frame: c.last_frame,
        first_time: c.first_time.as_secs_f64(),
        last_time: c.last_time.as_secs_f64(),
        transcript: &c.transcript,
        c2s: (&c.c2s).into(),
        s2c: (&c.s2c).into(),
        findings: c.findings.iter().map(|f| finding(c, f)).collect(),
        http: http(c),
        websocket: websocket(c),
    }
}

/// The HTTP exchanges of a connection as JSON objects.
pub fn http(c: &ConnReport) -> Vec<JsonHttp<'_>> {
    c.http
        .iter()
        .map(|x| JsonHttp {
            request: x.request.as_ref().map(|(frame, t, head)| JsonHttpRequest {
                frame: *frame,
                time: t.as_secs_f64(),
                head,
            }),
            response: x
                .response
                .as_ref()
                .map(|(frame, t, head)| JsonHttpResponse {
                    frame: *frame,
                    time: t.as_secs_f64(),
                    head,
                }),
            duration: match (&x.request, &x.response) {
                (Some((_, a, _)), Some((_, b, _))) => Some(b.secs_since(*a)),
                _ => None,
            },
        })
        .collect()
}

/// The WebSocket summary of a connection as a JSON object.
pub fn websocket(c: &ConnReport) -> Option<JsonWs> {
    c.websocket.as_ref().map(|w| JsonWs {
        frames_c2s: w.frames_c2s,
        frames_s2c: w.frames_s2c,
        compressed_frames: w.compressed_frames,
        closes: w
            .closes
            .iter()
            .map(|(frame, d, code)| JsonWsClose {
                frame: *frame,
                direction: d.as_str(),
                code: *code,
            })
            .collect(),
    })
}

pub fn file(r: &FileReport) -> JsonFile<'_> {
    JsonFile {
        path: &r.path,
        format: r.format,
        compressed: r.compressed,
        link_types: r
            .link_types
            .iter()
            .map(|&lt| LinkType {
                linktype: lt,
                name: linktype_name(lt),
            })
            .collect(),
        packets: r.packets,
        tcp_streams: r.tcp_streams,
        warnings: &r.warnings,
        error: r.error.as_deref(),
        connections: r.connections.iter().map(|c| conn(c, None)).collect(),
    }
}

/// The whole document for `--format json`.
pub fn document(files: &[FileReport]) -> Document<'_> {
    Document {
        tool: TOOL,
        files: files.iter().map(file).collect(),
    }
}
