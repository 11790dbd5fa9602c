//! Unit tests of the negotiation and the media-type rule of `proxy::compress`.

use http::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING};

use super::{negotiate, qvalue, type_matches};
use crate::config::compression::{Algorithm, CompressionSpec};
use Algorithm::{Br, Gzip, Zstd};

const ALL: [Algorithm; 3] = [Zstd, Br, Gzip];

fn pick(accept: &str, offered: &[Algorithm]) -> Option<Algorithm> {
    let mut h = HeaderMap::new();
    h.insert(ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap());
    negotiate(&h, offered)
}

#[test]
fn no_header_is_identity() {
    assert_eq!(negotiate(&HeaderMap::new(), &ALL), None);
}

#[test]
fn server_order_breaks_ties() {
    assert_eq!(pick("gzip, br, zstd", &ALL), Some(Zstd));
    assert_eq!(pick("gzip, br", &ALL), Some(Br));
    assert_eq!(pick("gzip, br", &[Gzip, Br]), Some(Gzip));
    assert_eq!(pick("GZIP", &ALL), Some(Gzip));
    assert_eq!(pick("x-gzip", &ALL), Some(Gzip));
}

#[test]
fn q_values_choose() {
    assert_eq!(pick("gzip;q=1.0, br;q=0.5, zstd;q=0.2", &ALL), Some(Gzip));
    assert_eq!(pick("br;q=0.9, gzip;q=0.95", &ALL), Some(Gzip));
    assert_eq!(pick("zstd;q=0, br;q=0.001", &ALL), Some(Br));
    assert_eq!(pick("gzip; q=0.8", &[Gzip]), Some(Gzip));
    // Only what is offered counts.
    assert_eq!(pick("zstd", &[Gzip, Br]), None);
}

#[test]
fn star_and_identity() {
    assert_eq!(pick("*", &ALL), Some(Zstd));
    assert_eq!(pick("*;q=0.5, zstd;q=0", &ALL), Some(Br));
    assert_eq!(pick("*;q=0", &ALL), None);
    assert_eq!(pick("identity", &ALL), None);
    assert_eq!(pick("identity;q=1, gzip;q=0.5", &ALL), None);
    assert_eq!(pick("identity;q=0.5, gzip", &ALL), Some(Gzip));
    assert_eq!(pick("identity;q=0, *;q=0", &ALL), None);
    assert_eq!(pick("deflate, compress", &ALL), None);
}

#[test]
fn malformed_q_values_drop_the_item() {
    assert_eq!(qvalue(""), Some(1000));
    assert_eq!(qvalue("q=0.25"), Some(250));
    assert_eq!(qvalue("Q=1"), Some(1000));
    assert_eq!(qvalue("q=1.5"), None);
    assert_eq!(qvalue("q=2"), None);
    assert_eq!(qvalue("q=0.1234"), None);
    assert_eq!(qvalue("q=abc"), None);
    assert_eq!(pick("gzip;q=abc, br;q=0.1", &ALL), Some(Br));
}

#[test]
fn media_types() {
    let types = CompressionSpec::default().types;
    for yes in [
        "text/html",
        "text/plain; charset=utf-8",
        "Application/JSON",
        "image/svg+xml",
    ] {
        assert!(type_matches(&types, yes), "{yes}");
    }
    for no in [
        "image/png",
        "application/octet-stream",
        "text/event-stream",
        "video/mp4",
        "nonsense",
    ] {
        assert!(!type_matches(&types, no), "{no}");
    }
    assert!(!type_matches(&["video/*".to_owned()], "video/mp4"));
    let all = ["application/*".to_owned()];
    assert!(type_matches(&all, "application/json"));
    for grpc in ["application/grpc", "application/grpc-web-text+proto"] {
        assert!(
            !type_matches(&all, grpc),
            "gRPC is never compressed: {grpc}"
        );
    }
}
