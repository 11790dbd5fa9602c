//! Property fuzzing (proptest) of the pipeline's pure header and framing helpers: hop-by-hop
//! removal on arbitrary field sets (nothing connection-specific passes, `TE` is at most
//! `trailers`), gRPC-Web request recognition on arbitrary media types, and the trailers frame
//! (its length prefix is its length), `Accept-Encoding`, and the framing and Host checks of a
//! request head. Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use proptest::prelude::*;

use super::grpc_web::{self, trailers_frame, web_type, TRAILERS_FLAG};
use super::headers::remove_hop_by_hop;

/// Names the hop-by-hop rules look at, plus ordinary ones a `Connection` line may name.
const NAMES: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "x-a",
    "x-b",
    "cookie",
];

/// The fixed hop-by-hop list (RFC 9110 §7.6.1 and the usual extras).
const FIXED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

fn field_value() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(
        &[
            "x-a",
            "X-B",
            "te",
            "close",
            "keep-alive",
            "trailers",
            "Trailers",
            "gzip;q=0.5",
            ",",
            " ",
            ";",
            "cookie",
            "upgrade",
            "é",
            "\t",
            "",
        ][..],
    );
    prop_oneof![
        prop::collection::vec(atoms, 0..5).prop_map(|a| a.concat()),
        "[ -~]{0,16}",
    ]
}

fn fields() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((prop::sample::select(NAMES), field_value()), 0..10).prop_map(|l| {
        let mut h = HeaderMap::new();
        for (name, value) in l {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(HeaderName::from_static(name), v);
            }
        }
        h
    })
}

proptest! {
    #[test]
    fn fuzz_hop_by_hop_removal(mut h in fields()) {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|l| l.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .filter(|n| n != header::TE)
            .collect();
        remove_hop_by_hop(&mut h);
        for name in FIXED {
            prop_assert!(!h.contains_key(*name), "{name} passed");
        }
        for name in &named {
            prop_assert!(!h.contains_key(name), "{name} was named by Connection and passed");
        }
        let te: Vec<&HeaderValue> = h.get_all(header::TE).iter().collect();
        prop_assert!(te.len() <= 1);
        if let Some(v) = te.first() {
            prop_assert!(v.as_bytes().eq_ignore_ascii_case(b"trailers"), "te: {v:?}");
        }
        let again = h.clone();
        remove_hop_by_hop(&mut h);
        prop_assert_eq!(h, again, "not idempotent");
    }

    #[test]
    fn fuzz_grpc_web_request_types(
        ct in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            "application/grpc(-web)?(-text)?(\\+[a-z]{0,6})?[ -~]{0,4}".prop_map(String::into_bytes),
        ],
        accept in "[ -~]{0,30}",
    ) {
        let Ok(ct) = HeaderValue::from_bytes(&ct) else { return Ok(()) };
        let _ = web_type(ct.as_bytes(), false);
        let _ = web_type(ct.as_bytes(), true);
        let mut req = Request::builder()
            .method(Method::POST)
            .header(header::CONTENT_TYPE, ct.clone())
            .header(header::CONTENT_LENGTH, "5")
            .body(())
            .unwrap();
        if let Ok(a) = HeaderValue::from_str(&accept) {
            req.headers_mut().insert(header::ACCEPT, a);
        }
        if grpc_web::request(&mut req).is_some() {
            let now = req.headers()[header::CONTENT_TYPE].as_bytes();
            prop_assert!(now.starts_with(b"application/grpc") && !now.starts_with(b"application/grpc-web"));
            prop_assert_eq!(req.headers().get(header::TE).map(|v| v.as_bytes()), Some(&b"trailers"[..]));
        } else {
            prop_assert_eq!(req.headers().get(header::CONTENT_TYPE), Some(&ct));
        }
    }

    #[test]
    fn fuzz_grpc_web_trailers_frame(t in fields()) {
        let frame = trailers_frame(&t);
        prop_assert_eq!(frame[0], TRAILERS_FLAG);
        let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
        prop_assert_eq!(len, frame.len() - 5);
    }
}

proptest! {
    #[test]
    fn fuzz_accept_encoding(
        lines in prop::collection::vec(
            prop_oneof![
                "[ -~]{0,24}",
                "((gzip|br|zstd|identity|\\*|GZIP|x)(;q=[0-9.]{0,6})?(;[a-z]=1)?, ?){0,4}",
            ],
            0..3,
        ),
    ) {
        use crate::config::compression::Algorithm;
        let mut h = HeaderMap::new();
        for l in &lines {
            if let Ok(v) = HeaderValue::from_str(l) {
                h.append(header::ACCEPT_ENCODING, v);
            }
        }
        for l in &lines {
            // The upstream's Content-Type against the route's compressible types.
            let types = ["text/*".to_string(), "application/json".to_string(), "*/*".to_string()];
            let _ = super::compress::type_matches(&types, l);
        }
        let offered = [Algorithm::Zstd, Algorithm::Br, Algorithm::Gzip];
        for n in 0..=offered.len() {
            if let Some(chosen) = super::compress::negotiate(&h, &offered[..n]) {
                prop_assert!(offered[..n].contains(&chosen), "{chosen:?} was not offered");
            }
        }
    }
}

/// Framing and Host fields in any number and spelling.
fn framing() -> impl Strategy<Value = HeaderMap> {
    let name = prop::sample::select(&["content-length", "transfer-encoding", "host"][..]);
    let value = prop_oneof![
        prop::sample::select(&["0", "4", " 4 ", "04", "-1", "chunked", "a.example", "a:1"][..])
            .prop_map(String::from),
        "[ -~]{0,12}",
    ];
    prop::collection::vec((name, value), 0..5).prop_map(|l| {
        let mut h = HeaderMap::new();
        for (name, value) in l {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(HeaderName::from_static(name), v);
            }
        }
        h
    })
}

proptest! {
    #[test]
    fn fuzz_request_head_sanity(h in framing(), absolute in any::<bool>(), limit in 0usize..200) {
        let uri = if absolute { "http://b.example/x" } else { "/x" };
        let mut parts = Request::builder().uri(uri).body(()).unwrap().into_parts().0;
        parts.headers = h;
        let h = &parts.headers;
        if super::sanity::check_head(&parts, limit).is_ok() {
            let both = h.contains_key(header::TRANSFER_ENCODING) && h.contains_key(header::CONTENT_LENGTH);
            prop_assert!(!both, "CL and TE passed together");
            let cls: Vec<&HeaderValue> = h.get_all(header::CONTENT_LENGTH).iter().collect();
            prop_assert!(cls.windows(2).all(|w| w[0] == w[1]), "conflicting CLs passed");
            let _ = super::sanity::content_length(h);
        }
        if let Ok(host) = super::sanity::request_host(&parts) {
            prop_assert!(h.get_all(header::HOST).iter().count() <= 1, "two Hosts passed");
            prop_assert!(host.is_some(), "HTTP/1.1 without a Host passed");
        }
    }
}

#[test]
fn a_third_conflicting_content_length_is_refused() {
    // Found by `fuzz_request_head_sanity`: only the first two lines were compared.
    let parts = Request::builder()
        .uri("/x")
        .header(header::CONTENT_LENGTH, "4")
        .header(header::CONTENT_LENGTH, "4")
        .header(header::CONTENT_LENGTH, "40")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert!(super::sanity::check_head(&parts, 1 << 16).is_err());
}
