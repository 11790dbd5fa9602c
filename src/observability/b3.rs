//! B3 propagation (Zipkin): the single `b3` header and the `X-B3-*` headers, read on
//! requests and written upstream when `[telemetry] propagation` names `b3` or `b3multi`.
//!
//! Read: `b3: {trace}-{span}[-{sampling}[-{parent}]]` (or a lone sampling decision `0`, `1`,
//! `d`) first, else `X-B3-TraceId` + `X-B3-SpanId` with `X-B3-Sampled` / `X-B3-Flags`. A
//! 64-bit trace id is widened to 128 bits with leading zeros. Written: the gateway's span as
//! the upstream's parent, in the one configured form; every incoming B3 header is replaced.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::trace_context::{Hex, Parent, SAMPLED};
use crate::config::telemetry::B3Format;

pub const B3: HeaderName = HeaderName::from_static("b3");
pub const TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
pub const SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
pub const PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
pub const SAMPLED_H: HeaderName = HeaderName::from_static("x-b3-sampled");
pub const FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");

/// What a request's B3 headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// A context: the caller's trace and span, and its sampling decision if it made one.
    Context {
        parent: Parent,
        sampled: Option<bool>,
    },
    /// Only a sampling decision (`b3: 0`): a new trace with it.
    Decision(bool),
}

/// The B3 context of headers `h`, if any is valid.
pub fn read(h: &HeaderMap) -> Option<Incoming> {
    if let Some(v) = one(h, &B3) {
        return single(v.as_bytes());
    }
    let sampled = match (
        one(h, &FLAGS).map(HeaderValue::as_bytes),
        one(h, &SAMPLED_H),
    ) {
        (Some(b"1"), _) => Some(true),
        (_, Some(s)) => sampling(s.as_bytes()),
        _ => None,
    };
    let (Some(t), Some(s)) = (one(h, &TRACE_ID), one(h, &SPAN_ID)) else {
        return sampled.map(Incoming::Decision);
    };
    let parent = ids(t.as_bytes(), s.as_bytes())?;
    Some(Incoming::Context { parent, sampled })
}

/// Replaces every B3 header of `h` with the gateway's span in `format`.
pub fn write(
    h: &mut HeaderMap,
    format: B3Format,
    trace_id: &[u8; 16],
    span_id: &[u8; 8],
    parent_id: Option<&[u8; 8]>,
    flags: u8,
) {
    for name in [
        &B3,
        &TRACE_ID,
        &SPAN_ID,
        &PARENT_SPAN_ID,
        &SAMPLED_H,
        &FLAGS,
    ] {
        h.remove(name);
    }
    let (trace, span) = (Hex::<32>::new(trace_id), Hex::<16>::new(span_id));
    let sampled = if flags & SAMPLED != 0 { "1" } else { "0" };
    let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("0"));
    match format {
        B3Format::Single => {
            let v = format!("{}-{}-{sampled}", trace.as_str(), span.as_str());
            h.insert(B3, value(&v));
        }
        B3Format::Multi => {
            h.insert(TRACE_ID, value(trace.as_str()));
            h.insert(SPAN_ID, value(span.as_str()));
            if let Some(p) = parent_id {
                h.insert(PARENT_SPAN_ID, value(Hex::<16>::new(p).as_str()));
            }
            h.insert(SAMPLED_H, HeaderValue::from_static(sampled));
        }
    }
}

/// The header's only value (several lines are not trusted).
fn one<'h>(h: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    let mut all = h.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => Some(v),
        _ => None,
    }
}

fn single(v: &[u8]) -> Option<Incoming> {
    let mut parts = v.split(|&b| b == b'-');
    let first = parts.next()?;
    let Some(span) = parts.next() else {
        return sampling(first).map(Incoming::Decision);
    };
    let sampled = match parts.next() {
        Some(s) => Some(sampling(s)?),
        None => None,
    };
    if let Some(p) = parts.next() {
        id::<8>(p)?; // a parent id, well formed but not needed
    }
    if parts.next().is_some() {
        return None;
    }
    let parent = ids(first, span)?;
    Some(Incoming::Context { parent, sampled })
}

/// `1`, `d` (debug) and `true` sample; `0` and `false` do not.
fn sampling(s: &[u8]) -> Option<bool> {
    match s {
        b"1" | b"d" | b"true" => Some(true),
        b"0" | b"false" => Some(false),
        _ => None,
    }
}

/// A 16- or 32-digit trace id and a 16-digit span id, neither all zeros.
fn ids(trace: &[u8], span: &[u8]) -> Option<Parent> {
    let trace_id = match trace.len() {
        16 => {
            let mut t = [0u8; 16];
            t[8..].copy_from_slice(&id::<8>(trace)?);
            t
        }
        _ => id::<16>(trace)?,
    };
    let parent_id = id::<8>(span)?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        parent_id,
        flags: 0,
    })
}

/// Exactly `2 * N` lowercase hex digits.
fn id<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = digit(s[2 * i])? << 4 | digit(s[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn single_and_multi_forms_are_read() {
        let t = "80f198ee56343ba864fe8b2a57d3eff7";
        let h = headers(&[("b3", &format!("{t}-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"))]);
        let Some(Incoming::Context { parent, sampled }) = read(&h) else {
            panic!()
        };
        assert_eq!(Hex::<32>::new(&parent.trace_id).as_str(), t);
        assert_eq!(
            parent.parent_id,
            [0xe4, 0x57, 0xb5, 0xa2, 0xe4, 0xd8, 0x6b, 0xd1]
        );
        assert_eq!(sampled, Some(true));
        let h = headers(&[
            ("x-b3-traceid", "64fe8b2a57d3eff7"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-sampled", "0"),
        ]);
        let Some(Incoming::Context { parent, sampled }) = read(&h) else {
            panic!()
        };
        assert_eq!(&parent.trace_id[..8], &[0; 8]);
        assert_eq!(sampled, Some(false));
        assert_eq!(
            read(&headers(&[("b3", "d")])),
            Some(Incoming::Decision(true))
        );
        for bad in [
            "xyz",
            "80f198ee56343ba8-e457",
            "0000000000000000-e457b5a2e4d86bd1",
            "a-b-c-d-e",
        ] {
            assert_eq!(read(&headers(&[("b3", bad)])), None, "{bad}");
        }
    }

    #[test]
    fn writing_replaces_every_incoming_b3_header() {
        let mut h = headers(&[("b3", "0"), ("x-b3-flags", "1"), ("x-b3-traceid", "ab")]);
        write(
            &mut h,
            B3Format::Single,
            &[0x11; 16],
            &[0x22; 8],
            Some(&[0x33; 8]),
            1,
        );
        assert_eq!(
            h.get("b3").unwrap(),
            &format!("{}-{}-1", "11".repeat(16), "22".repeat(8))
        );
        assert!(h.get("x-b3-flags").is_none() && h.get("x-b3-traceid").is_none());
        write(
            &mut h,
            B3Format::Multi,
            &[0x11; 16],
            &[0x22; 8],
            Some(&[0x33; 8]),
            0,
        );
        assert!(h.get("b3").is_none());
        assert_eq!(h.get("x-b3-traceid").unwrap(), &"11".repeat(16));
        assert_eq!(h.get("x-b3-parentspanid").unwrap(), &"33".repeat(8));
        assert_eq!(h.get("x-b3-sampled").unwrap(), "0");
    }
}
