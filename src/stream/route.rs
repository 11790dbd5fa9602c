//! The pure core of a `[[tcp]]` listener's choice: which service a connection goes to, from
//! the listener's element and the ClientHello's server name (SNI). No I/O, no allocation.

use crate::config::stream::{SniPattern, TcpMode, TcpSpec};

/// The service a connection goes to: its name and its index into the snapshot's services;
/// `None` when nothing matches and there is no `default` (the connection is closed).
///
/// `routes` is kept sorted by validation (exact names first, then longer wildcards), so
/// the first match is the most specific one.
pub fn pick<'a>(spec: &'a TcpSpec, server_name: Option<&str>) -> Option<(&'a str, usize)> {
    match spec.mode {
        TcpMode::Tcp => spec.service.as_ref().map(|t| (t.name.as_str(), t.index)),
        TcpMode::TlsPassthrough => {
            let name = server_name.map(|n| n.strip_suffix('.').unwrap_or(n));
            name.and_then(|n| spec.routes.iter().find(|r| matches(&r.pattern, n)))
                .map(|r| (r.service.as_str(), r.index))
                .or_else(|| spec.default.as_ref().map(|t| (t.name.as_str(), t.index)))
        }
    }
}

/// Whether a server name matches a pattern, ignoring ASCII case: `*.example.com` matches
/// one or more labels before `.example.com`, never `example.com` itself.
pub fn matches(pattern: &SniPattern, name: &str) -> bool {
    match pattern {
        SniPattern::Exact(p) => name.eq_ignore_ascii_case(p),
        SniPattern::Suffix(s) => {
            let (n, s) = (name.as_bytes(), s.as_bytes());
            n.len() > s.len() && n[n.len() - s.len()..].eq_ignore_ascii_case(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::stream::{SniRoute, TcpTarget};
    use std::time::Duration;

    fn route(pattern: SniPattern, service: &str, index: usize) -> SniRoute {
        SniRoute {
            pattern,
            service: service.into(),
            index,
        }
    }

    fn spec(default: Option<usize>) -> TcpSpec {
        TcpSpec {
            name: "edge".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            mode: TcpMode::TlsPassthrough,
            service: None,
            // As validation sorts them: exact, then the longer wildcard first.
            routes: vec![
                route(SniPattern::Exact("a.example.com".into()), "a", 0),
                route(SniPattern::Suffix(".eu.example.com".into()), "eu", 1),
                route(SniPattern::Suffix(".example.com".into()), "any", 2),
            ],
            default: default.map(|index| TcpTarget {
                name: "fallback".into(),
                index,
            }),
            idle_timeout: Duration::from_secs(1),
            hello_timeout: Duration::from_secs(1),
            max_connections: 1,
            proxy_protocol: None,
        }
    }

    #[test]
    fn exact_before_wildcards_longest_wildcard_first_then_default() {
        let s = spec(Some(3));
        assert_eq!(pick(&s, Some("a.example.com")), Some(("a", 0)));
        assert_eq!(pick(&s, Some("A.Example.COM.")), Some(("a", 0)));
        assert_eq!(pick(&s, Some("x.eu.example.com")), Some(("eu", 1)));
        assert_eq!(pick(&s, Some("b.example.com")), Some(("any", 2)));
        assert_eq!(pick(&s, Some("x.y.example.com")), Some(("any", 2)));
        assert_eq!(pick(&s, Some("example.com")), Some(("fallback", 3)));
        assert_eq!(pick(&s, Some("other.org")), Some(("fallback", 3)));
        assert_eq!(pick(&s, None), Some(("fallback", 3)));
        let s = spec(None);
        assert_eq!(pick(&s, Some("other.org")), None);
        assert_eq!(pick(&s, None), None);
    }

    #[test]
    fn plain_tcp_always_takes_its_service() {
        let mut s = spec(None);
        s.mode = TcpMode::Tcp;
        s.service = Some(TcpTarget {
            name: "db".into(),
            index: 7,
        });
        assert_eq!(pick(&s, None), Some(("db", 7)));
        assert_eq!(pick(&s, Some("a.example.com")), Some(("db", 7)));
    }
}
