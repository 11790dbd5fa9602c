//! Property fuzzing (proptest) of the client request fields the gateway reads before anything
//! else: `traceparent` / `tracestate` (W3C trace context), `Authorization: Basic` and
//! `X-Request-Id`, on arbitrary bytes and on shapes close to valid ones. Never a panic; a
//! kept trace or request id is exactly what the client sent. Cases: `PROPTEST_CASES` (256
//! unless set; `scripts/fuzz` runs them long).

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis::middleware::basic_auth::parse_authorization;
use portcullis::observability::trace_context::{parse_traceparent, valid_tracestate, TraceContext};
use portcullis::proxy::headers::request_id;
use proptest::prelude::*;

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        // Near-valid traceparents: version, ids and flags of any hex length and case.
        "[0-9a-fA-F]{2}-[0-9a-fA-Fx]{30,34}-[0-9a-f]{14,18}-[0-9a-f]{1,3}(-[ -~]{0,6})?"
            .prop_map(String::into_bytes),
        // Near-valid tracestates.
        "([a-z0-9@_*/-]{0,8}=[ -~]{0,6},? ?){0,5}".prop_map(String::into_bytes),
        // Basic credentials, valid base64 or not.
        (
            "[Bb][Aa][Ss][Ii][Cc][ \t]{0,2}",
            prop::collection::vec(any::<u8>(), 0..24),
            any::<bool>()
        )
            .prop_map(|(scheme, creds, encode)| {
                let rest = if encode {
                    base64::engine::general_purpose::STANDARD
                        .encode(&creds)
                        .into_bytes()
                } else {
                    creds
                };
                [scheme.into_bytes(), rest].concat()
            }),
    ]
}

fn fields() -> impl Strategy<Value = HeaderMap> {
    let names =
        prop::sample::select(&["traceparent", "tracestate", "authorization", "x-request-id"][..]);
    prop::collection::vec((names, header_bytes()), 0..5).prop_map(|lines| {
        let mut h = HeaderMap::new();
        for (name, value) in lines {
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                h.append(HeaderName::from_static(name), v);
            }
        }
        h
    })
}

proptest! {
    #[test]
    fn fuzz_request_fields(h in fields(), raw in header_bytes()) {
        let _ = parse_traceparent(&raw);
        let _ = valid_tracestate(&raw);
        let ctx = TraceContext::from_headers(&h, |_| true);
        let mut out = HeaderMap::new();
        ctx.apply(&mut out);
        let sent = h.get("traceparent").map(|v| v.as_bytes().to_vec());
        if let (Some(sent), Some(parent)) = (sent, ctx.parent_id) {
            // A continued trace keeps the caller's trace id and names the caller's span.
            let p = parse_traceparent(&sent).expect("continued only from a valid traceparent");
            prop_assert_eq!(p.parent_id, parent);
            prop_assert_eq!(p.trace_id, ctx.trace_id);
        }
        let _ = parse_authorization(&h);
        let id = request_id(&h);
        prop_assert!(!id.is_empty() && id.len() <= 128);
        if let Some(sent) = h.get("x-request-id") {
            prop_assert!(id == sent || !sent.as_bytes().iter().all(u8::is_ascii_graphic) || sent.is_empty() || sent.len() > 128);
        }
    }
}
