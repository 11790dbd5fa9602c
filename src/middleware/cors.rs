//! CORS: the gateway answers preflights itself and adds the CORS response headers to actual
//! requests, replacing any the upstream sent (the route's policy owns them).
//!
//! Origin matching:
//! - `*` without credentials: every request is answered `Access-Control-Allow-Origin: *`
//!   whatever its origin (`null` included), so the answer does not vary and no `Vary: Origin`
//!   is added. `*` with credentials reflects the request's origin, except `null`.
//! - Exact entries compare ASCII case-insensitively (scheme and host; origins carry no path,
//!   a trailing `/` in the config is ignored).
//! - `scheme://*.example.com[:port]` matches that scheme and port (none = no port) and a host
//!   of ONE OR MORE labels before `.example.com` (`a.example.com`, `a.b.example.com`; not
//!   `example.com` itself — list it separately), each label letters, digits and `-`. Any other
//!   use of `*` never matches.
//! - `null` (sandboxed frames, `file:`) matches only an explicit `null` entry.
//!
//! A denied preflight (origin, method or a requested header not allowed) should be answered
//! `403` without any CORS header, as Spring and rs/cors do: the browser fails it exactly as it
//! would a 2xx without `Access-Control-Allow-Origin` (what Kong sends), but the status makes
//! the refusal plain in devtools, logs and metrics, and nothing about the policy is disclosed.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::policy::CorsSpec;

const STAR: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");
const PREFLIGHT_VARY: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
);

/// The outcome of a CORS preflight request.
#[derive(Debug, Clone, PartialEq)]
pub enum Preflight {
    /// Answer `204 No Content` with these headers.
    Allowed(HeaderMap),
    /// Answer `403 Forbidden` without CORS headers (see the module docs).
    Denied,
}

/// A `CorsSpec` compiled for request time, header values pre-rendered.
#[derive(Debug, Clone)]
pub struct Cors {
    any_origin: bool,
    /// Lower-case, no trailing `/`.
    exact: Vec<String>,
    wildcards: Vec<Wildcard>,
    credentials: bool,
    methods: Vec<Method>,
    methods_value: Option<HeaderValue>,
    /// `allow_headers` holds `*`: reflect what the preflight asks for.
    any_header: bool,
    /// Lower-case.
    headers: Vec<String>,
    headers_value: Option<HeaderValue>,
    expose_value: Option<HeaderValue>,
    max_age_value: Option<HeaderValue>,
}

/// `scheme://*.suffix[:port]`, lower-case.
#[derive(Debug, Clone)]
struct Wildcard {
    /// `https://`
    scheme: String,
    /// `.example.com` or `.example.com:8443`
    suffix: String,
}

impl Wildcard {
    fn parse(pattern: &str) -> Option<Wildcard> {
        let (scheme, rest) = pattern.split_once("://")?;
        let suffix = rest.strip_prefix('*')?;
        let valid = suffix.len() > 1 && suffix.starts_with('.') && !suffix.contains(['*', '/']);
        valid.then(|| Wildcard {
            scheme: format!("{scheme}://"),
            suffix: suffix.to_owned(),
        })
    }

    fn matches(&self, origin: &str) -> bool {
        let o = origin.as_bytes();
        let (s, x) = (self.scheme.as_bytes(), self.suffix.as_bytes());
        if o.len() <= s.len() + x.len()
            || !o[..s.len()].eq_ignore_ascii_case(s)
            || !o[o.len() - x.len()..].eq_ignore_ascii_case(x)
        {
            return false;
        }
        o[s.len()..o.len() - x.len()]
            .split(|&c| c == b'.')
            .all(|label| {
                !label.is_empty()
                    && label
                        .iter()
                        .all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            })
    }
}

/// The `Access-Control-Allow-Origin` answer for one request.
enum Answer<'a> {
    Star,
    Reflect(&'a HeaderValue),
}

impl Cors {
    /// Compiles `spec`. Entries of `allow_headers` that are not header names are dropped (the
    /// config layer refuses them).
    pub fn new(spec: &CorsSpec) -> Cors {
        let mut c = Cors {
            any_origin: false,
            exact: Vec::new(),
            wildcards: Vec::new(),
            credentials: spec.allow_credentials,
            methods: spec.allow_methods.clone(),
            methods_value: join(spec.allow_methods.iter().map(Method::as_str)),
            any_header: spec.allow_headers.iter().any(|h| h == "*"),
            headers: Vec::new(),
            headers_value: None,
            expose_value: join(spec.expose_headers.iter().map(HeaderName::as_str)),
            max_age_value: spec.max_age.map(|d| HeaderValue::from(d.as_secs())),
        };
        for o in &spec.allow_origins {
            let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
            if o == "*" {
                c.any_origin = true;
            } else if let Some(w) = Wildcard::parse(&o) {
                c.wildcards.push(w);
            } else {
                c.exact.push(o);
            }
        }
        c.headers = spec
            .allow_headers
            .iter()
            .filter(|h| *h != "*" && HeaderName::from_bytes(h.as_bytes()).is_ok())
            .map(|h| h.to_ascii_lowercase())
            .collect();
        c.headers_value = join(c.headers.iter().map(String::as_str));
        c
    }

    /// `*` without credentials: the answer is the same for every origin.
    fn constant_star(&self) -> bool {
        self.any_origin && !self.credentials
    }

    /// How the request's `Origin` is answered, if it is allowed. More than one `Origin` line
    /// is refused.
    fn answer<'a>(&self, req: &'a HeaderMap) -> Option<Answer<'a>> {
        if self.constant_star() {
            return Some(Answer::Star);
        }
        let mut lines = req.get_all(ORIGIN).iter();
        let (value, None) = (lines.next()?, lines.next()) else {
            return None;
        };
        let origin = value.to_str().ok()?;
        let allowed = if origin == "null" {
            self.exact.iter().any(|e| e == "null")
        } else {
            self.any_origin
                || self.exact.iter().any(|e| e.eq_ignore_ascii_case(origin))
                || self.wildcards.iter().any(|w| w.matches(origin))
        };
        allowed.then_some(Answer::Reflect(value))
    }

    /// Answers a preflight: `None` unless the request is `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method` (other `OPTIONS` requests go upstream). The method must
    /// be in `allow_methods` (exactly; no implicit safelisted methods) and every name in
    /// `Access-Control-Request-Headers` in `allow_headers` (case-insensitively), unless that is
    /// `*`, which reflects the requested names — `Authorization` included.
    pub fn preflight(&self, req_headers: &HeaderMap, method: &Method) -> Option<Preflight> {
        if method != Method::OPTIONS || !req_headers.contains_key(ORIGIN) {
            return None;
        }
        let requested = req_headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
        let Some(answer) = self.answer(req_headers) else {
            return Some(Preflight::Denied);
        };
        let method_ok = Method::from_bytes(requested.as_bytes().trim_ascii())
            .is_ok_and(|m| self.methods.contains(&m));
        if !method_ok {
            return Some(Preflight::Denied);
        }
        let mut asked: Vec<String> = Vec::new();
        for line in req_headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            let Ok(line) = line.to_str() else {
                return Some(Preflight::Denied);
            };
            for name in line.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let name = name.to_ascii_lowercase();
                let ok = HeaderName::from_bytes(name.as_bytes()).is_ok()
                    && (self.any_header || self.headers.contains(&name));
                if !ok {
                    return Some(Preflight::Denied);
                }
                asked.push(name);
            }
        }

        let mut out = HeaderMap::new();
        self.put_origin(&answer, &mut out);
        if let Some(v) = &self.methods_value {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, v.clone());
        }
        let allow_headers = if self.any_header {
            join(asked.iter().map(String::as_str))
        } else {
            self.headers_value.clone()
        };
        if let Some(v) = allow_headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(v) = &self.max_age_value {
            out.insert(ACCESS_CONTROL_MAX_AGE, v.clone());
        }
        out.insert(VARY, PREFLIGHT_VARY);
        Some(Preflight::Allowed(out))
    }

    /// Adds the CORS headers of an actual (non-preflight) response to `out`, first removing
    /// any `Access-Control-Allow-Origin`, `-Allow-Credentials` and `-Expose-Headers` the
    /// upstream sent. `Vary: Origin` is appended (not replacing other `Vary` values) whenever
    /// the answer depends on the origin, allowed or not, so caches keep the variants apart.
    pub fn response_headers(&self, req_headers: &HeaderMap, out: &mut HeaderMap) {
        for name in [
            ACCESS_CONTROL_ALLOW_ORIGIN,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            ACCESS_CONTROL_EXPOSE_HEADERS,
        ] {
            out.remove(name);
        }
        if !self.constant_star() {
            append_vary_origin(out);
        }
        let Some(answer) = self.answer(req_headers) else {
            return;
        };
        self.put_origin(&answer, out);
        if let Some(v) = &self.expose_value {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
    }

    fn put_origin(&self, answer: &Answer<'_>, out: &mut HeaderMap) {
        match answer {
            Answer::Star => out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, STAR),
            Answer::Reflect(v) => out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, (*v).clone()),
        };
        if self.credentials {
            out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
    }
}

/// Appends `Origin` to `Vary` unless a `Vary` line already lists it or `*`.
fn append_vary_origin(out: &mut HeaderMap) {
    let present = out.get_all(VARY).iter().any(|v| {
        v.as_bytes().split(|&c| c == b',').any(|t| {
            let t = t.trim_ascii();
            t == b"*" || t.eq_ignore_ascii_case(b"origin")
        })
    });
    if !present {
        out.append(VARY, HeaderValue::from_static("Origin"));
    }
}

/// `a, b, c`, or `None` for an empty list.
fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let joined = items.collect::<Vec<_>>().join(", ");
    if joined.is_empty() {
        return None;
    }
    HeaderValue::from_str(&joined).ok()
}

/// Checks one `allow_origins` entry for the config layer: `*`, `null`, `scheme://host[:port]`
/// or `scheme://*.domain[:port]`, without a path (a trailing `/` is tolerated).
pub fn validate_origin(s: &str) -> Result<(), String> {
    if s == "*" || s == "null" {
        return Ok(());
    }
    let t = s.strip_suffix('/').unwrap_or(s);
    let Some((scheme, authority)) = t.split_once("://") else {
        return Err(format!("origin {s:?} is not scheme://host[:port]"));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!("origin {s:?} has an invalid scheme"));
    }
    let host_part = authority.strip_prefix("*.").unwrap_or(authority);
    let (host, port) = match host_part.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (host_part, None),
        Some((h, p)) => (h, Some(p)),
        None => (host_part, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit())) {
        return Err(format!("origin {s:?} has an invalid port"));
    }
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok() && host_part.len() == authority.len()
    } else {
        !host.is_empty()
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    };
    if !host_ok {
        return Err(format!(
            "origin {s:?}: expected a host name, an IP or `*.` followed by a domain, no path"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
