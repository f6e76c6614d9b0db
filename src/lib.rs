//! tlsdiag: from a packet capture to diagnosed TLS connections.
//!
//! The pipeline, one module per stage: [`capture`] (pcap/pcapng records) → [`capture::link`]
//! (TCP segments) → [`flow`] (TCP connections, `tcp.stream` numbering, reassembly) → [`tls`]
//! (records, handshake messages, certificates) → [`timeline`] (per-connection events) →
//! [`rules`] (findings) → [`report`] (human, JSON, JSONL). [`analyze`] wires them together.

pub mod analyze;
pub mod capture;
pub mod cli;
pub mod flow;
pub mod report;
pub mod rules;
pub mod timeline;
pub mod tls;
