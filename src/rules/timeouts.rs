//! Well-known idle timeouts, in one documented table (rendered into `docs/rules.md`).

/// A default idle/read timeout of a well-known server, proxy or load balancer.
#[derive(Debug)]
pub struct KnownTimeout {
    pub secs: f64,
    pub what: &'static str,
}

/// Sorted by duration.
pub static KNOWN_TIMEOUTS: &[KnownTimeout] = &[
    KnownTimeout {
        secs: 5.0,
        what: "Apache httpd `KeepAliveTimeout` (5 s), Node.js `server.keepAliveTimeout` (5 s)",
    },
    KnownTimeout {
        secs: 15.0,
        what: "Apache httpd 2.2 `KeepAliveTimeout` (15 s)",
    },
    KnownTimeout {
        secs: 60.0,
        what: "nginx `proxy_read_timeout` / `send_timeout` / `client_body_timeout` (60 s), AWS ALB/ELB idle timeout (60 s), Apache `Timeout` (60 s)",
    },
    KnownTimeout {
        secs: 75.0,
        what: "nginx `keepalive_timeout` (75 s)",
    },
    KnownTimeout {
        secs: 100.0,
        what: "Cloudflare proxy read timeout (100 s, then HTTP 524)",
    },
    KnownTimeout {
        secs: 120.0,
        what: "IIS `connectionTimeout` / HTTP.sys idle connection timeout (120 s), a common WAF / reverse-proxy idle timeout (120 s)",
    },
    KnownTimeout {
        secs: 240.0,
        what: "Azure Load Balancer idle timeout (4 min; it drops silently, a RST follows on the next send)",
    },
    KnownTimeout {
        secs: 300.0,
        what: "Apache 2.2 `Timeout`, Envoy/Istio stream idle timeout (5 min)",
    },
    KnownTimeout {
        secs: 350.0,
        what: "AWS NAT Gateway / Network Load Balancer TCP idle timeout (350 s)",
    },
    KnownTimeout {
        secs: 3600.0,
        what: "Envoy / many firewalls' TCP idle timeout (1 h)",
    },
];

/// The known timeout closest to `secs`, if within the larger of 2 s and 5 %.
pub fn nearest(secs: f64) -> Option<&'static KnownTimeout> {
    KNOWN_TIMEOUTS
        .iter()
        .filter(|t| (secs - t.secs).abs() <= (t.secs * 0.05).max(2.0))
        .min_by(|a, b| (secs - a.secs).abs().total_cmp(&(secs - b.secs).abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_within_tolerance() {
        assert_eq!(nearest(120.4).map(|t| t.secs), Some(120.0));
        assert_eq!(nearest(75.9).map(|t| t.secs), Some(75.0));
        assert_eq!(nearest(61.0).map(|t| t.secs), Some(60.0));
        assert!(nearest(90.0).is_none());
        assert!(nearest(30.0).is_none());
    }
}
