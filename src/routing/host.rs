//! Host conditions: exact `api.example.com` or wildcard `*.example.com`, matched against the
//! request host case-insensitively and without its port, allocating nothing.

use super::pattern::{invalid, Invalid};

/// A host condition: exact name or `*.suffix` (stored as `.suffix`), lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostPat {
    Exact(Box<str>),
    Suffix(Box<str>),
}

impl HostPat {
    /// Parses `api.example.com` or `*.example.com`.
    pub fn parse(src: &str) -> Result<HostPat, Invalid> {
        let (name, wild) = match src.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (src, false),
        };
        let bad = |why: &str, hint: String| invalid(format!("host `{src}` {why}"), hint);
        if name.contains(':') {
            return Err(bad(
                "has a port",
                "hosts are matched without the port; drop `:port`".into(),
            ));
        }
        if name.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(bad(
                "is not lowercase",
                format!(
                    "hosts match case-insensitively; write `{}`",
                    src.to_ascii_lowercase()
                ),
            ));
        }
        if !name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        {
            return Err(bad(
                "has a character other than a-z, 0-9, `-` and `.`",
                "write a host name such as `api.example.com` or `*.example.com`".into(),
            ));
        }
        if name.split('.').any(str::is_empty) {
            return Err(bad(
                "has an empty label",
                "write a host name such as `api.example.com` or `*.example.com`".into(),
            ));
        }
        Ok(if wild {
            HostPat::Suffix(format!(".{name}").into())
        } else {
            HostPat::Exact(name.into())
        })
    }

    /// Specificity: exact > wildcard (longer suffix first).
    pub fn rank(pat: Option<&HostPat>) -> (u8, usize) {
        match pat {
            Some(HostPat::Exact(_)) => (2, 0),
            Some(HostPat::Suffix(s)) => (1, s.len()),
            None => (0, 0),
        }
    }

    /// Whether a request host (port and one trailing dot already removed) matches, ignoring
    /// ASCII case. Allocates nothing.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPat::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPat::Suffix(s) => {
                let (h, s) = (host.as_bytes(), s.as_bytes());
                h.len() > s.len() && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }
}

/// The request host without `:port` and without one trailing dot.
pub(crate) fn bare_host(host: &str) -> &str {
    let h = if host.starts_with('[') {
        host.find(']').map_or(host, |i| &host[..=i])
    } else {
        host.find(':').map_or(host, |i| &host[..i])
    };
    h.strip_suffix('.').unwrap_or(h)
}
