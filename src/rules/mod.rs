//! Stage 5: rules read a finished [`Timeline`] and return [`Finding`]s.
//!
//! One file per rule family (like Zeek's policy scripts); metadata lives in [`registry`].
//! A check gets the timeline and a [`Context`] of small per-server summaries (for facts across
//! connections, such as "the same server accepted a ClientHello with SNI"), never bytes.
//! Specific rules run first; a finding lists the alert frames it explains, and `tls_alert`
//! reports only the alerts no other finding explained.

pub mod alerts;
pub mod idle;
pub mod registry;
pub mod renegotiation;
pub mod sni;
pub mod timeouts;

use std::collections::HashMap;
use std::net::SocketAddr;

pub use registry::{Evidence, RULES, RuleId, RuleMeta, Severity};

use crate::capture::Timestamp;
use crate::timeline::{Event, Timeline};

/// One conclusion about one connection, with the frames that prove it.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    /// One line filled with this connection's facts.
    pub summary: String,
    /// Facts specific to this connection, appended to the rule's explanation.
    pub detail: Option<String>,
    /// Evidence frames (1-based, ascending).
    pub frames: Vec<u64>,
    /// Time of the first evidence frame.
    pub time: Timestamp,
    pub evidence: Evidence,
    /// Alert frames this finding accounts for (so `tls_alert` stays quiet about them).
    pub explains: Vec<u64>,
}

impl Finding {
    pub fn new(rule: RuleId, summary: String, events: &[&Event]) -> Finding {
        let mut frames: Vec<u64> = events.iter().map(|e| e.frame).collect();
        frames.sort_unstable();
        frames.dedup();
        let time = events.iter().map(|e| e.time).min().unwrap_or_default();
        Finding {
            rule,
            severity: rule.meta().severity,
            summary,
            detail: None,
            frames,
            time,
            evidence: Evidence::Seen,
            explains: Vec::new(),
        }
    }
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
    pub fn detail(mut self, d: String) -> Self {
        self.detail = Some(d);
        self
    }
    pub fn inferred(mut self, yes: bool) -> Self {
        if yes {
            self.evidence = Evidence::Inferred;
        }
        self
    }
    pub fn explains(mut self, frames: Vec<u64>) -> Self {
        self.explains = frames;
        self
    }
}

/// What one server (address:port) did across the capture's connections.
#[derive(Clone, Debug, Default)]
pub struct ServerSummary {
    /// Connections with SNI whose handshake completed.
    pub sni_ok: u32,
    /// One of them: (tcp.stream, SNI).
    pub sni_ok_example: Option<(u64, String)>,
}

/// Cross-connection context: small per-server summaries, fed as connections finish.
#[derive(Debug, Default)]
pub struct Context {
    servers: HashMap<SocketAddr, ServerSummary>,
}

impl Context {
    /// Adds a finished connection to its server's summary.
    pub fn observe(&mut self, t: &Timeline) {
        if let Some(sni) = t.sni()
            && t.handshake_complete()
        {
            let s = self.servers.entry(t.server).or_default();
            s.sni_ok += 1;
            if s.sni_ok_example
                .as_ref()
                .is_none_or(|(st, _)| t.stream < *st)
            {
                s.sni_ok_example = Some((t.stream, sni.to_string()));
            }
        }
    }
    pub fn server(&self, addr: &SocketAddr) -> Option<&ServerSummary> {
        self.servers.get(addr)
    }
}

/// A rule family's check.
type Check = fn(&Timeline, &Context, &mut Vec<Finding>);

/// Families in the order they run: specific ones before `alerts`.
static CHECKS: &[(&str, Check)] = &[
    ("sni", sni::check),
    ("renegotiation", renegotiation::check),
    ("idle", idle::check),
    ("alerts", alerts::check),
];

/// Runs every rule on a finished connection.
pub fn run(t: &Timeline, ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for (_, check) in CHECKS {
        check(t, ctx, &mut out);
    }
    out
}

/// Seconds formatted for summaries: "120.0 s", "0.35 s".
pub fn fmt_secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_family_has_a_check() {
        for m in RULES {
            assert!(
                CHECKS.iter().any(|(f, _)| *f == m.family),
                "{} has no check",
                m.name
            );
        }
    }
}
