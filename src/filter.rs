//! Report filters shared by `analyze` and `scan`.
//!
//! Two kinds, applied after the rules ran (they never change what a rule concludes):
//! - **connection filters** (`--sni`, `--host`, `--port`) keep only the connections that match;
//! - **finding filters** (`--rule`, `--min-severity`) keep only the findings that match; the
//!   connections themselves stay.
//!
//! Values of one flag are alternatives (`--port 443 --port 8443` keeps either); different flags
//! must all match.

use std::fmt;
use std::net::IpAddr;

use crate::report::ConnReport;
use crate::rules::Finding;
use crate::rules::registry::{RULES, RuleId, Severity, lookup};

/// A case-insensitive SNI pattern where `*` stands for any run of characters (dots included):
/// `*.example.com`, `api-*`, `*`. A connection without SNI never matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SniPattern {
    /// Lower-cased literal pieces between the `*`s.
    parts: Vec<String>,
    text: String,
}

impl SniPattern {
    pub fn new(pattern: &str) -> SniPattern {
        SniPattern {
            parts: pattern.split('*').map(str::to_ascii_lowercase).collect(),
            text: pattern.to_string(),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let mut rest = name.as_str();
        let last = self.parts.len().saturating_sub(1);
        for (i, part) in self.parts.iter().enumerate() {
            if i == 0 {
                // Anchored at the start.
                match rest.strip_prefix(part.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
                if last == 0 {
                    return rest.is_empty();
                }
            } else if i == last {
                // Anchored at the end (after the last `*`).
                return rest.ends_with(part.as_str());
            } else {
                // Leftmost match is enough for `*` globbing.
                match rest.find(part.as_str()) {
                    Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
                    None => return false,
                }
            }
        }
        true
    }
}

impl fmt::Display for SniPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An address or a network: `192.0.2.7`, `2001:db8::1`, `10.0.0.0/8`, `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMatch {
    addr: IpAddr,
    prefix: u8,
}

impl HostMatch {
    /// Parses `IP` or `IP/PREFIX`.
    pub fn parse(s: &str) -> Result<HostMatch, String> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network (e.g. 192.0.2.7, 10.0.0.0/8, 2001:db8::1)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`{s}`: the prefix length must be 0 to {max}")),
            },
        };
        Ok(HostMatch { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u8) {
            match ip {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                // An IPv4-mapped address is the IPv4 host.
                IpAddr::V6(v) => match v.to_ipv4_mapped() {
                    Some(v4) => (u128::from(u32::from(v4)), 32),
                    None => (u128::from(v), 128),
                },
            }
        }
        let (want, wlen) = bits(self.addr);
        let (got, glen) = bits(ip);
        if wlen != glen {
            return false;
        }
        let prefix = u32::from(self.prefix.min(wlen));
        if prefix == 0 {
            return true;
        }
        let shift = u32::from(wlen) - prefix;
        want.checked_shr(shift) == got.checked_shr(shift)
    }
}

/// Parses a rule id for `--rule`, naming the known ids when it is unknown.
pub fn parse_rule(s: &str) -> Result<RuleId, String> {
    lookup(s).map(|m| m.id).ok_or_else(|| {
        let known: Vec<&str> = RULES.iter().map(|m| m.name).collect();
        format!("unknown rule `{s}`; known rules: {}", known.join(", "))
    })
}

/// The filters of one run. The default keeps everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub sni: Vec<SniPattern>,
    pub hosts: Vec<HostMatch>,
    pub ports: Vec<u16>,
    pub rules: Vec<RuleId>,
    /// Findings below this severity are dropped.
    pub min_severity: Option<Severity>,
}

impl Filter {
    /// True when the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.sni.is_empty()
            && self.hosts.is_empty()
            && self.ports.is_empty()
            && self.rules.is_empty()
            && self.min_severity.is_none()
    }

    /// The connection filters (`--sni`, `--host`, `--port`).
    pub fn keeps_conn(&self, c: &ConnReport) -> bool {
        let ends = [c.client, c.server];
        let sni_ok = self.sni.is_empty()
            || c.sni
                .as_deref()
                .is_some_and(|n| self.sni.iter().any(|p| p.matches(n)));
        let host_ok = self.hosts.is_empty()
            || ends
                .iter()
                .any(|a| self.hosts.iter().any(|h| h.contains(a.ip())));
        let port_ok = self.ports.is_empty() || ends.iter().any(|a| self.ports.contains(&a.port()));
        sni_ok && host_ok && port_ok
    }

    /// The finding filters (`--rule`, `--min-severity`).
    pub fn keeps_finding(&self, f: &Finding) -> bool {
        (self.rules.is_empty() || self.rules.contains(&f.rule))
            && self.min_severity.is_none_or(|min| f.severity >= min)
    }

    /// Applies both kinds to one connection: `None` when the connection is filtered out,
    /// else the connection with only the kept findings.
    pub fn conn(&self, mut c: ConnReport) -> Option<ConnReport> {
        if !self.keeps_conn(&c) {
            return None;
        }
        c.findings.retain(|f| self.keeps_finding(f));
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_wildcards() {
        let p = SniPattern::new("*.example.com");
        assert!(p.matches("a.example.com"));
        assert!(p.matches("A.B.Example.COM"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("a.example.com.evil"));
        let p = SniPattern::new("api-*.example.*");
        assert!(p.matches("api-eu.example.org"));
        assert!(!p.matches("web.example.org"));
        assert!(SniPattern::new("*").matches(""));
        assert!(SniPattern::new("exact.test").matches("EXACT.test"));
        assert!(!SniPattern::new("exact.test").matches("exact.test2"));
        assert!(SniPattern::new("a*a").matches("aa"));
        assert!(!SniPattern::new("a*a").matches("a"));
        assert!(SniPattern::new("**").matches("x"));
    }

    #[test]
    fn hosts_and_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let h = HostMatch::parse("10.0.0.0/8").expect("net");
        assert!(h.contains(ip("10.1.2.3")));
        assert!(!h.contains(ip("11.0.0.1")));
        assert!(!h.contains(ip("::1")));
        assert!(h.contains(ip("::ffff:10.9.9.9")));
        let h = HostMatch::parse("::1").expect("v6");
        assert!(h.contains(ip("::1")));
        assert!(!h.contains(ip("::2")));
        assert!(HostMatch::parse("[::1]").is_ok());
        assert!(
            HostMatch::parse("0.0.0.0/0")
                .expect("any")
                .contains(ip("1.2.3.4"))
        );
        assert!(HostMatch::parse("10.0.0.0/33").is_err());
        assert!(HostMatch::parse("example.com").is_err());
    }

    #[test]
    fn rule_ids_are_validated() {
        assert_eq!(parse_rule("missing_sni"), Ok(RuleId::MissingSni));
        let e = parse_rule("missing-sni").expect_err("unknown");
        assert!(e.contains("known rules: missing_sni"), "{e}");
    }
}
