//! The response and request fields the cache decides on, made strict before the decisions
//! (ours and http-cache-semantics', which is lenient where RFC 9111 is not):
//!
//! - **Targeted cache control** (RFC 9213): the first of the gateway's own field (`[cache]
//!   targeted_field`, default `Portcullis-Cache-Control`) and `CDN-Cache-Control` whose value
//!   is a valid, non-empty Structured Fields Dictionary replaces `Cache-Control`, and
//!   `Expires` is then ignored. An invalid one is skipped.
//! - **Directive names** are case-insensitive (`No-Cache` is `no-cache`): rewritten in
//!   lowercase, in responses and requests.
//! - **`Age`** must be one delta-seconds (RFC 9111 §5.1; repeated equal values allowed); any
//!   other value (`1a`, `abc`, `-5`, `1.5`, `0, 7200`) makes the response stale: it is
//!   revalidated before any use.
//! - **`Expires`** and **`Date`** must be valid HTTP-dates (`httpdate::parse`, strict): an
//!   invalid `Expires` means already expired (RFC 9111 §5.3), an invalid `Date` is ignored.
//! - **`Pragma: no-cache`** in a request counts (in any case) only when its `Cache-Control`
//!   has no request directive the cache understands (RFC 9111 §5.4).
//!
//! The stored response keeps the headers as the origin sent them; only the decisions see
//! these views. Clients never see the gateway's own field (`strip_own`).

use std::borrow::Cow;

use http::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, PRAGMA};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::httpdate;
use crate::base::sf::{parse_dictionary, Item};

/// `CDN-Cache-Control` (RFC 9213 §3): after the gateway's own field, before `Cache-Control`.
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

pub use crate::config::cache::TARGETED_FIELD as OWN_FIELD;

/// Request directives of RFC 9111 §5.2.1: one of them makes `Pragma` ignored.
const REQUEST_DIRECTIVES: [&str; 7] = [
    "max-age",
    "max-stale",
    "min-fresh",
    "no-cache",
    "no-store",
    "no-transform",
    "only-if-cached",
];

/// The response headers as the cache decides on them (see the module doc); `own` is the
/// gateway's own targeted field.
pub fn policy_headers(resp: &HeaderMap, own: &HeaderName) -> HeaderMap {
    let mut out = resp.clone();
    out.remove(own);
    out.remove(CDN_CACHE_CONTROL);
    if let Some(cc) = targeted(resp, own) {
        out.remove(EXPIRES);
        out.insert(CACHE_CONTROL, cc);
    } else {
        lowercase_cache_control(&mut out);
        if out.contains_key(EXPIRES) {
            let when = single_date(resp.get_all(EXPIRES).iter());
            let v = when.map_or(HeaderValue::from_static("0"), date_value);
            out.insert(EXPIRES, v);
        }
    }
    if out.contains_key(DATE) {
        match single_date(resp.get_all(DATE).iter()) {
            Some(t) => {
                out.insert(DATE, date_value(t));
            }
            None => {
                out.remove(DATE);
            }
        }
    }
    if out.contains_key(AGE) {
        match age(resp) {
            Some(secs) => {
                out.insert(AGE, HeaderValue::from(secs));
            }
            None => {
                // Invalid: no freshness left (a shared cache's `proxy-revalidate` has
                // http-cache-semantics treat it as stale; stale windows are off too).
                out.remove(AGE);
                out.append(CACHE_CONTROL, HeaderValue::from_static("proxy-revalidate"));
            }
        }
    }
    out
}

/// The request headers as the cache decides on them: directive names in lowercase, and
/// `Pragma` kept (as `no-cache`) only where it counts. Borrowed when nothing changes.
pub fn request_headers(req: &HeaderMap) -> Cow<'_, HeaderMap> {
    let needs_case = req
        .get_all(CACHE_CONTROL)
        .iter()
        .any(|v| v.as_bytes().iter().any(u8::is_ascii_uppercase));
    if !needs_case && !req.contains_key(PRAGMA) {
        return Cow::Borrowed(req);
    }
    let mut out = req.clone();
    lowercase_cache_control(&mut out);
    let understood = out
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| REQUEST_DIRECTIVES.contains(&d.split('=').next().unwrap_or("").trim()));
    let no_cache = out.get_all(PRAGMA).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"no-cache"))
    });
    out.remove(PRAGMA);
    if no_cache && !understood {
        out.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    }
    Cow::Owned(out)
}

/// Removes the gateway's own targeted field from a response head going to a client.
pub fn strip_own(headers: &mut HeaderMap, own: &HeaderName) {
    headers.remove(own);
}

/// The first targeted field (`own`, then `CDN-Cache-Control`) with a valid, non-empty
/// Dictionary value, as a `Cache-Control` value.
fn targeted(resp: &HeaderMap, own: &HeaderName) -> Option<HeaderValue> {
    [own, &CDN_CACHE_CONTROL].into_iter().find_map(|name| {
        let lines: Vec<&str> = resp
            .get_all(name)
            .iter()
            .map(|v| v.to_str().ok())
            .collect::<Option<_>>()?;
        let dict = parse_dictionary(&lines.join(","))?;
        if dict.is_empty() {
            return None;
        }
        let cc: Vec<String> = dict
            .into_iter()
            .filter_map(|(k, v)| match v {
                Item::Bool(false) => None,
                Item::Bool(true) | Item::List(_) => Some(k),
                Item::Number(n) | Item::Token(n) | Item::Bytes(n) => Some(format!("{k}={n}")),
                Item::String(s) => Some(format!("{k}=\"{s}\"")),
            })
            .collect();
        HeaderValue::from_str(&cc.join(", ")).ok()
    })
}

/// Rewrites every `Cache-Control` line with its directive names in lowercase (arguments, and
/// quoted strings, untouched).
fn lowercase_cache_control(h: &mut HeaderMap) {
    let lines: Vec<HeaderValue> = h.get_all(CACHE_CONTROL).iter().cloned().collect();
    if !lines
        .iter()
        .any(|v| v.as_bytes().iter().any(u8::is_ascii_uppercase))
    {
        return;
    }
    h.remove(CACHE_CONTROL);
    for line in lines {
        let mut b = line.as_bytes().to_vec();
        let (mut in_name, mut quoted) = (true, false);
        for c in &mut b {
            match *c {
                b'"' => quoted = !quoted,
                b',' if !quoted => in_name = true,
                b'=' if !quoted => in_name = false,
                _ if in_name => c.make_ascii_lowercase(),
                _ => {}
            }
        }
        if let Ok(v) = HeaderValue::from_bytes(&b) {
            h.append(CACHE_CONTROL, v);
        }
    }
}

/// The one time all `values` give (each must be a valid HTTP-date; repeats must agree).
fn single_date<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Option<std::time::SystemTime> {
    let mut found = None;
    for v in values {
        let t = httpdate::parse(v.to_str().ok()?)?;
        if found.is_some_and(|f| f != t) {
            return None;
        }
        found = Some(t);
    }
    found
}

fn date_value(t: std::time::SystemTime) -> HeaderValue {
    HeaderValue::from_str(&httpdate::format(t)).unwrap_or(HeaderValue::from_static("0"))
}

/// The `Age` of a response: one delta-seconds (repeats, on one line or several, must be
/// equal); a value too large to hold is 2147483648 (RFC 9111 §1.2.2). `None` when invalid.
fn age(resp: &HeaderMap) -> Option<u64> {
    let mut found = None;
    for line in resp.get_all(AGE) {
        for part in line.to_str().ok()?.split(',') {
            let part = part.trim_matches([' ', '\t']);
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let secs = part
                .parse::<u64>()
                .map_or(2_147_483_648, |n| n.min(2_147_483_648));
            if found.is_some_and(|f| f != secs) {
                return None;
            }
            found = Some(secs);
        }
    }
    found
}

#[cfg(test)]
mod tests;
