//! tlsdiag: from a packet capture to diagnosed TLS connections.
//!
//! The pipeline, one module per stage: [`capture`] (pcap/pcapng records) → [`capture::link`]
//! (TCP segments) → [`flow`] (TCP connections, `tcp.stream` numbering, reassembly) → [`tls`]
//! (records, handshake messages, certificates) → [`timeline`] (per-connection events) →
//! [`rules`] (findings) → [`report`] (human, JSON, JSONL). [`analyze`] wires them together.
//!
//! ```
//! use std::path::Path;
//!
//! let report = tlsdiag::analyze::analyze_collect(Path::new("fixtures/missing-sni-unrecognized-name.pcap"));
//! let conn = &report.connections[0];
//! assert_eq!(conn.stream, 0);
//! assert_eq!(conn.findings[0].rule.as_str(), "missing_sni");
//! assert_eq!(conn.findings[0].frames, vec![4, 6]);
//! ```

pub mod analyze;
pub mod capture;
pub mod cli;
pub mod filter;
pub mod flow;
pub mod http;
pub mod merge;
pub mod report;
pub mod rules;
pub mod scan;
pub mod timeline;
pub mod tls;
