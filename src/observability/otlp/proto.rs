//! OTLP protobuf encoding of a batch of spans, with the `opentelemetry-proto` crate's
//! generated prost types (`ExportTraceServiceRequest`): the body of OTLP/HTTP protobuf and
//! the message of OTLP/gRPC.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use super::{AttrValue, SpanRecord};

/// The body of one export request.
pub(super) fn encode(
    service_name: &str,
    resource: &[(String, String)],
    spans: &[SpanRecord],
) -> Vec<u8> {
    let mut attributes = vec![string("service.name", service_name)];
    attributes.extend(resource.iter().map(|(k, v)| string(k, v)));
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "portcullis".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: spans.iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    req.encode_to_vec()
}

fn span(s: &SpanRecord) -> Span {
    let name = s.name();
    let attributes: Vec<_> = s
        .attributes()
        .into_iter()
        .map(|(key, v)| match v {
            AttrValue::Str(v) => string(key, &v),
            AttrValue::Int(v) => int(key, v),
        })
        .collect();
    let code = match s.status >= 500 {
        true => StatusCode::Error,
        false => StatusCode::Unset,
    };
    Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent_id.map(|p| p.to_vec()).unwrap_or_default(),
        name,
        kind: SpanKind::Server as i32,
        start_time_unix_nano: s.start_unix_nanos,
        end_time_unix_nano: s.end_unix_nanos,
        attributes,
        status: Some(Status {
            code: code as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: u16) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(i64::from(value))),
        }),
        ..Default::default()
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}
