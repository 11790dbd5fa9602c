//! `portcullis_grpc_responses_total{route,service,grpc_status}`: gRPC responses by status, from
//! the trailers or a trailers-only head; the label is the numeric code 0-16 or "other".

use prometheus_client::encoding::EncodeLabelSet;

use super::Metrics;

/// The labels of the gRPC response counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct GrpcLabels {
    route: String,
    service: String,
    grpc_status: &'static str,
}

const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// The bounded label of a `grpc-status` value: "0" to "16", else "other" (also when absent).
pub fn status_label(v: Option<&[u8]>) -> &'static str {
    let code = v
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.trim().parse::<usize>().ok());
    code.and_then(|c| CODES.get(c).copied()).unwrap_or("other")
}

impl Metrics {
    /// A gRPC response by route and service ("-" when none matched) and its `grpc-status`.
    pub fn grpc_response(&self, route: &str, service: &str, status: Option<&[u8]>) {
        let labels = GrpcLabels {
            route: route.to_owned(),
            service: service.to_owned(),
            grpc_status: status_label(status),
        };
        self.grpc_responses.get_or_create(&labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_bounded() {
        assert_eq!(status_label(Some(b"0")), "0");
        assert_eq!(status_label(Some(b"16")), "16");
        assert_eq!(status_label(Some(b"17")), "other");
        assert_eq!(status_label(Some(b"x")), "other");
        assert_eq!(status_label(None), "other");
    }

    #[test]
    fn responses_are_counted_by_status() {
        let m = Metrics::new();
        m.grpc_response("r", "s", Some(b"5"));
        m.grpc_response("r", "s", Some(b"5"));
        m.grpc_response("-", "-", Some(b"99"));
        let text = m.encode(&super::super::Scrape {
            services: &[],
            cache_bytes: 0,
            cache_entries: 0,
            open_connections: 0,
            upstream_idle: &[],
        });
        assert!(
            text.contains(
                r#"portcullis_grpc_responses_total{route="r",service="s",grpc_status="5"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"grpc_status="other"} 1"#), "{text}");
    }
}
