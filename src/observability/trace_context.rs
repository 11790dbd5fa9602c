//! W3C Trace Context (`traceparent` / `tracestate`): parsing, new ids, the upstream header;
//! B3 beside or instead of it when `[telemetry] propagation` says so (`super::b3`).
//!
//! A request with a valid `traceparent` keeps its trace id and flags; the upstream receives
//! a new parent-id (the gateway's span) and the `tracestate` unchanged when it is well formed
//! and at most 512 bytes. Anything else starts a new trace and drops `tracestate`. The
//! client's `traceparent` never reaches the upstream as it came. Nothing here allocates except
//! the one header value built per request (and a joined `tracestate` when it came in several
//! header lines).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::b3;
use crate::config::telemetry::Propagation;

/// `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// A longer `tracestate` is dropped (the spec's floor for what propagators must keep).
pub const MAX_TRACESTATE_BYTES: usize = 512;
/// At most this many list members in a `tracestate`.
const MAX_MEMBERS: usize = 32;
/// The sampled bit of the trace flags.
pub const SAMPLED: u8 = 0x01;
/// Flags understood in a traceparent of a later version (sampled, random): other bits of a
/// version this gateway does not know are not passed on.
const KNOWN_FLAGS: u8 = 0x03;
/// Length of a version 00 traceparent.
const LEN: usize = 55;

/// A valid incoming `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

/// The trace context of one request through the gateway.
#[derive(Debug, Clone)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The caller's span (the incoming parent-id) when the request carried a valid
    /// `traceparent`; `None` for a trace the gateway started.
    pub parent_id: Option<[u8; 8]>,
    /// The gateway's span for this request: the parent-id the upstream receives.
    pub span_id: [u8; 8],
    pub flags: u8,
    /// The incoming `tracestate`, kept only beside a valid `traceparent`.
    pub tracestate: Option<HeaderValue>,
    /// The formats read and written.
    pub propagation: Propagation,
}

impl TraceContext {
    /// The context of a request with headers `h`. A valid `traceparent` (exactly one) is
    /// continued with its flags; otherwise a new trace starts whose sampled flag is
    /// `sample_root(&trace_id)`.
    pub fn from_headers(h: &HeaderMap, sample_root: impl FnOnce(&[u8; 16]) -> bool) -> Self {
        Self::from_headers_with(h, Propagation::W3C, sample_root)
    }

    /// `from_headers` reading the formats of `propagation`: a valid W3C `traceparent` first,
    /// then B3 (whose context without a sampling decision is decided by `sample_root`).
    pub fn from_headers_with(
        h: &HeaderMap,
        propagation: Propagation,
        sample_root: impl FnOnce(&[u8; 16]) -> bool,
    ) -> Self {
        let w3c = match propagation.w3c {
            true => {
                let mut lines = h.get_all(TRACEPARENT).iter();
                match (lines.next(), lines.next()) {
                    (Some(v), None) => parse_traceparent(v.as_bytes()),
                    _ => None,
                }
            }
            false => None,
        };
        if let Some(p) = w3c {
            return TraceContext {
                trace_id: p.trace_id,
                parent_id: Some(p.parent_id),
                span_id: new_span_id(),
                flags: p.flags,
                tracestate: tracestate(h),
                propagation,
            };
        }
        let b3 = propagation.b3.and_then(|_| b3::read(h));
        let (trace_id, parent_id, decided) = match b3 {
            Some(b3::Incoming::Context { parent, sampled }) => {
                (parent.trace_id, Some(parent.parent_id), sampled)
            }
            Some(b3::Incoming::Decision(s)) => (new_trace_id(), None, Some(s)),
            None => (new_trace_id(), None, None),
        };
        let sampled = decided.unwrap_or_else(|| sample_root(&trace_id));
        TraceContext {
            trace_id,
            parent_id,
            span_id: new_span_id(),
            flags: if sampled { SAMPLED } else { 0 },
            tracestate: None,
            propagation,
        }
    }

    /// Whether the trace is sampled (the flag the upstream receives).
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// `00-<trace-id>-<span-id>-<flags>`: the gateway's span as the upstream's parent.
    pub fn traceparent(&self) -> HeaderValue {
        let mut buf = [0u8; LEN];
        buf[..2].copy_from_slice(b"00");
        buf[2] = b'-';
        hex_into(&self.trace_id, &mut buf[3..35]);
        buf[35] = b'-';
        hex_into(&self.span_id, &mut buf[36..52]);
        buf[52] = b'-';
        hex_into(&[self.flags], &mut buf[53..55]);
        HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static(""))
    }

    /// Replaces every `traceparent` and `tracestate` of an upstream request with this
    /// context's (and every B3 header, when B3 is on; a format that is off is left alone).
    pub fn apply(&self, h: &mut HeaderMap) {
        if self.propagation.w3c {
            // `insert` replaces every value the client sent.
            h.insert(TRACEPARENT, self.traceparent());
            match &self.tracestate {
                Some(ts) => h.insert(TRACESTATE, ts.clone()),
                None => h.remove(TRACESTATE),
            };
        }
        if let Some(format) = self.propagation.b3 {
            let parent = self.parent_id.as_ref();
            b3::write(h, format, &self.trace_id, &self.span_id, parent, self.flags);
        }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> Hex<32> {
        Hex::new(&self.trace_id)
    }

    /// The gateway's span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> Hex<16> {
        Hex::new(&self.span_id)
    }
}

/// Parses a `traceparent` value strictly: version 00 is exactly `2-32-16-2` lowercase hex
/// digits; `ff` is invalid; a later version needs the same first 55 characters and, when
/// longer, a `-` after them. All-zero trace and parent ids are invalid.
pub fn parse_traceparent(v: &[u8]) -> Option<Parent> {
    if v.len() < LEN {
        return None;
    }
    let version = hex_byte(&v[0..2])?;
    if version == 0xff || (version == 0 && v.len() != LEN) {
        return None;
    }
    if v.len() > LEN && v[LEN] != b'-' {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut parent_id = [0u8; 8];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
    }
    for (i, b) in parent_id.iter_mut().enumerate() {
        *b = hex_byte(&v[36 + 2 * i..38 + 2 * i])?;
    }
    let mut flags = hex_byte(&v[53..55])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    if version != 0 {
        flags &= KNOWN_FLAGS;
    }
    Some(Parent {
        trace_id,
        parent_id,
        flags,
    })
}

/// The request's `tracestate` (its lines joined by `,`) when it is well formed, at most 512
/// bytes and not empty; `None` otherwise.
fn tracestate(h: &HeaderMap) -> Option<HeaderValue> {
    let mut lines = h.get_all(TRACESTATE).iter();
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return valid_tracestate(first.as_bytes()).then(|| first.clone());
    };
    let mut joined = Vec::with_capacity(MAX_TRACESTATE_BYTES);
    for line in [first, second].into_iter().chain(lines) {
        if !joined.is_empty() {
            joined.push(b',');
        }
        joined.extend_from_slice(line.as_bytes());
        if joined.len() > MAX_TRACESTATE_BYTES {
            return None;
        }
    }
    if !valid_tracestate(&joined) {
        return None;
    }
    HeaderValue::from_bytes(&joined).ok()
}

/// A `tracestate` list: at most 512 bytes, 1 to 32 non-empty `key=value` members (empty and
/// blank members are allowed between commas), keys unique.
pub fn valid_tracestate(v: &[u8]) -> bool {
    if v.len() > MAX_TRACESTATE_BYTES {
        return false;
    }
    let mut keys: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
    let mut n = 0;
    for member in v.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        let Some(eq) = member.iter().position(|&b| b == b'=') else {
            return false;
        };
        let (key, value) = (&member[..eq], &member[eq + 1..]);
        if n == MAX_MEMBERS || !valid_key(key) || !valid_value(value) {
            return false;
        }
        if keys[..n].contains(&key) {
            return false;
        }
        keys[n] = key;
        n += 1;
    }
    n > 0
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `simple-key` or `tenant-id@system-id`.
fn valid_key(k: &[u8]) -> bool {
    let rest_ok = |s: &[u8]| {
        s.iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match k.iter().position(|&b| b == b'@') {
        None => (1..=256).contains(&k.len()) && k[0].is_ascii_lowercase() && rest_ok(&k[1..]),
        Some(at) => {
            let (tenant, system) = (&k[..at], &k[at + 1..]);
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && rest_ok(&tenant[1..])
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && rest_ok(&system[1..])
        }
    }
}

/// 1 to 256 printable ASCII characters without `,` and `=`, not ending in a space.
fn valid_value(v: &[u8]) -> bool {
    let nblk = |b: u8| (0x21..=0x7e).contains(&b) && b != b',' && b != b'=';
    (1..=256).contains(&v.len())
        && v.iter().all(|&b| b == b' ' || nblk(b))
        && v.last().is_some_and(|&b| nblk(b))
}

/// Two lowercase hex digits.
fn hex_byte(s: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(s[0])? << 4 | digit(s[1])?)
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
}

/// A random, non-zero 16-byte trace id.
pub fn new_trace_id() -> [u8; 16] {
    loop {
        let id = fastrand::u128(..).to_be_bytes();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A random, non-zero 8-byte span id.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id = fastrand::u64(..).to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

/// An id as lowercase hex on the stack (`N` digits), for logs and export.
#[derive(Clone, Copy)]
pub struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    /// `bytes` must be `N / 2` long.
    pub fn new(bytes: &[u8]) -> Self {
        let mut out = [b'0'; N];
        hex_into(&bytes[..N / 2], &mut out);
        Hex(out)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl<const N: usize> std::fmt::Display for Hex<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
