//! Unit tests for the `OTEL_*` environment variables under `[telemetry.otlp]` (the file's
//! keys win, the variables fill the rest), the new protocol, compression and resource keys,
//! and `[telemetry] propagation`.

use std::time::Duration;

use super::parse_with_env;
use crate::config::telemetry::{B3Format, Compression, OtlpSettings, Propagation, Protocol};
use crate::config::ConfigError;

fn with_env(text: &str, vars: &[(&str, &str)]) -> Result<crate::config::Config, Vec<ConfigError>> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    parse_with_env(text, "t.toml", &lookup).map_err(|e| e.0)
}

fn otlp(text: &str, vars: &[(&str, &str)]) -> OtlpSettings {
    with_env(text, vars)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .telemetry
        .otlp
        .unwrap()
}

#[test]
fn the_environment_fills_an_empty_table() {
    let o = otlp(
        "[telemetry.otlp]\n",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s%3Dcret,x-tenant=blue",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod",
            ),
        ],
    );
    assert_eq!(o.endpoint.to_string(), "http://collector:4318/v1/traces");
    assert_eq!(o.protocol, Protocol::HttpProtobuf);
    assert_eq!(o.compression, Compression::Gzip);
    assert_eq!(o.timeout, Duration::from_millis(2500));
    assert_eq!(o.headers.len(), 2);
    assert_eq!(o.headers[0].1, "s=cret");
    assert!(o.headers[0].1.is_sensitive());
    assert_eq!(o.service_name, "from-attrs");
    assert_eq!(
        o.resource_attributes,
        [("deployment.environment".to_owned(), "prod".to_owned())]
    );
}

#[test]
fn the_file_wins_and_traces_variables_win_over_general_ones() {
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ];
    let o = otlp("[telemetry.otlp]\n", &vars);
    assert_eq!(o.endpoint.to_string(), "http://traces:4317/");
    assert_eq!(o.protocol, Protocol::Grpc);
    assert_eq!(o.service_name, "from-env");
    let text = "[telemetry.otlp]\nendpoint = \"http://file:4318/v1/traces\"\nprotocol = \"http/json\"\nservice_name = \"file\"\ncompression = \"none\"\n";
    let o = otlp(text, &vars);
    assert_eq!(o.endpoint.host(), Some("file"));
    assert_eq!(o.protocol, Protocol::HttpJson);
    assert_eq!(o.service_name, "file");
    assert_eq!(o.compression, Compression::None);
    // Without a [telemetry.otlp] table the variables export nothing.
    assert_eq!(with_env("", &vars).unwrap().telemetry.otlp, None);
}

#[test]
fn refused_variables_are_named_at_the_table() {
    let text = "\n[telemetry.otlp]\nendpoint = \"http://c:4318/v1/traces\"\n";
    let errs = with_env(
        text,
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-key"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5s"),
        ],
    )
    .unwrap_err();
    assert_eq!(errs.len(), 3, "{errs:?}");
    for (e, var) in errs.iter().zip(["PROTOCOL", "TIMEOUT", "HEADERS"]) {
        assert_eq!((e.line, e.column), (2, 1), "{e:?}");
        assert!(
            e.message.contains(&format!("OTEL_EXPORTER_OTLP_{var}")),
            "{e:?}"
        );
    }
    let errs = with_env("[telemetry.otlp]\n", &[]).unwrap_err();
    assert!(errs[0].message.contains("missing"), "{errs:?}");
    assert!(errs[0]
        .hint
        .as_deref()
        .unwrap()
        .contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
}

#[test]
fn a_grpc_endpoint_has_no_path_and_protocols_are_checked() {
    let grpc = "[telemetry.otlp]\nendpoint = \"http://c:4317/v1/traces\"\nprotocol = \"grpc\"\n";
    let errs = with_env(grpc, &[]).unwrap_err();
    assert!(errs[0].message.contains("gRPC"), "{errs:?}");
    let bad = "[telemetry.otlp]\nendpoint = \"http://c:4318/v1/traces\"\nprotocol = \"http\"\ncompression = \"br\"\n";
    let errs = with_env(bad, &[]).unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["telemetry.otlp.protocol", "telemetry.otlp.compression"]
    );
    let refused = "[telemetry.otlp]\nendpoint = \"http://c/\"\nresource_attributes = { \"service.name\" = \"x\" }\n";
    let errs = with_env(refused, &[]).unwrap_err();
    assert_eq!(
        errs[0].key, "telemetry.otlp.resource_attributes.\"service.name\"",
        "{errs:?}"
    );
}

#[test]
fn propagation_formats() {
    let p = |text: &str| with_env(text, &[]).map(|c| c.telemetry.propagation);
    assert_eq!(p("").unwrap(), Propagation::W3C);
    let both = p("[telemetry]\npropagation = [\"w3c\", \"b3\"]\n").unwrap();
    assert_eq!(
        both,
        Propagation {
            w3c: true,
            b3: Some(B3Format::Single)
        }
    );
    let multi = p("[telemetry]\npropagation = [\"b3multi\"]\n").unwrap();
    assert_eq!(
        multi,
        Propagation {
            w3c: false,
            b3: Some(B3Format::Multi)
        }
    );
    for bad in ["[]", "[\"b3\", \"b3multi\"]", "[\"jaeger\"]"] {
        let errs = p(&format!("[telemetry]\npropagation = {bad}\n")).unwrap_err();
        assert_eq!(errs[0].key, "telemetry.propagation", "{bad}: {errs:?}");
        assert_eq!(errs[0].line, 2, "{bad}");
    }
}
