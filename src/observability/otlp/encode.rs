//! OTLP/HTTP JSON encoding of a batch of spans, in the protobuf JSON mapping.
//!
//! `resourceSpans` / `scopeSpans` / `spans`; trace and span ids as hex (OTLP's exception to
//! base64), 64-bit numbers (times, `intValue`) as decimal strings, enums as numbers.

use serde_json::{json, Value};

use super::{AttrValue, SpanRecord};
use crate::observability::trace_context::Hex;

/// `SPAN_KIND_SERVER`.
const KIND_SERVER: u8 = 2;
/// `STATUS_CODE_ERROR`.
const STATUS_ERROR: u8 = 2;

/// The body of one export request.
#[cfg(test)]
pub(super) fn encode(service_name: &str, spans: &[SpanRecord]) -> Vec<u8> {
    encode_with(service_name, &[], spans)
}

/// The body of one export request, with further resource attributes.
pub(super) fn encode_with(
    service_name: &str,
    resource: &[(String, String)],
    spans: &[SpanRecord],
) -> Vec<u8> {
    let mut attributes = vec![string("service.name", service_name)];
    attributes.extend(resource.iter().map(|(k, v)| string(k, v)));
    let doc = json!({
        "resourceSpans": [{
            "resource": { "attributes": attributes },
            "scopeSpans": [{
                "scope": { "name": "portcullis", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

fn span(s: &SpanRecord) -> Value {
    let name = s.name();
    let attributes: Vec<_> = s
        .attributes()
        .into_iter()
        .map(|(key, v)| match v {
            AttrValue::Str(v) => string(key, &v),
            AttrValue::Int(v) => int(key, v),
        })
        .collect();
    let mut out = json!({
        "traceId": Hex::<32>::new(&s.trace_id).as_str(),
        "spanId": Hex::<16>::new(&s.span_id).as_str(),
        "name": name,
        "kind": KIND_SERVER,
        "startTimeUnixNano": s.start_unix_nanos.to_string(),
        "endTimeUnixNano": s.end_unix_nanos.to_string(),
        "attributes": attributes,
        "status": if s.status >= 500 { json!({ "code": STATUS_ERROR }) } else { json!({}) },
    });
    if let Some(p) = &s.parent_id {
        out["parentSpanId"] = Hex::<16>::new(p).as_str().into();
    }
    out
}

fn int(key: &str, value: u16) -> Value {
    json!({ "key": key, "value": { "intValue": value.to_string() } })
}

fn string(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn record() -> SpanRecord {
        SpanRecord {
            trace_id: [0x4b; 16],
            span_id: [0x01, 2, 3, 4, 5, 6, 7, 8],
            parent_id: Some([0xaa; 8]),
            method: http::Method::POST,
            path: "/api/users/7".to_owned(),
            client: [10, 0, 0, 9].into(),
            route: Some(Arc::from("users")),
            service: Some(Arc::from("user-service")),
            endpoint: Some(Arc::from("http://127.0.0.1:9001")),
            status: 503,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_002_500_000,
        }
    }

    fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
        let list = span["attributes"].as_array().unwrap();
        &list
            .iter()
            .find(|a| a["key"] == key)
            .unwrap_or_else(|| panic!("no {key}"))["value"]
    }

    #[test]
    fn a_batch_in_the_protobuf_json_mapping() {
        let body = encode("edge", &[record()]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let rs = &v["resourceSpans"][0];
        assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
        assert_eq!(
            rs["resource"]["attributes"][0]["value"]["stringValue"],
            "edge"
        );
        let ss = &rs["scopeSpans"][0];
        assert_eq!(ss["scope"]["name"], "portcullis");
        let s = &ss["spans"][0];
        assert_eq!(s["traceId"], "4b".repeat(16));
        assert_eq!(s["spanId"], "0102030405060708");
        assert_eq!(s["parentSpanId"], "aa".repeat(8));
        assert_eq!(s["name"], "POST users");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(s["endTimeUnixNano"], "1700000000002500000");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(attr(s, "http.request.method")["stringValue"], "POST");
        assert_eq!(attr(s, "url.path")["stringValue"], "/api/users/7");
        assert_eq!(attr(s, "http.route")["stringValue"], "users");
        assert_eq!(attr(s, "http.response.status_code")["intValue"], "503");
        assert_eq!(attr(s, "client.address")["stringValue"], "10.0.0.9");
        assert_eq!(attr(s, "portcullis.service")["stringValue"], "user-service");
        assert_eq!(
            attr(s, "portcullis.endpoint")["stringValue"],
            "http://127.0.0.1:9001"
        );
    }

    #[test]
    fn a_root_span_without_route_has_no_parent_and_status_unset() {
        let mut r = record();
        r.parent_id = None;
        r.route = None;
        r.endpoint = None;
        r.status = 404;
        let v: Value = serde_json::from_slice(&encode("p", &[r.clone(), r])).unwrap();
        let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap();
        assert_eq!(spans.len(), 2);
        let s = &spans[0];
        assert!(s.get("parentSpanId").is_none());
        assert_eq!(s["name"], "POST");
        assert_eq!(s["status"], json!({}));
        let keys: Vec<&str> = s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["key"].as_str().unwrap())
            .collect();
        assert!(!keys.contains(&"http.route") && !keys.contains(&"portcullis.endpoint"));
    }
}
