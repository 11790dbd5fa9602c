//! Response compression through the real gateway: gzip, br and zstd negotiated from
//! Accept-Encoding (bodies decoded with flate2, brotli and zstd and compared with the
//! original), q-values, identity, what is never compressed, and one cached copy serving every
//! encoding.

use std::io::Read;

use crate::common::*;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

/// A body worth compressing (about 20 KB of text).
fn text() -> String {
    (0..400)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, data).unwrap();
    e.finish().unwrap()
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::decode_all(body).unwrap(),
        other => panic!("unexpected encoding {other}"),
    }
    out
}

fn reply(ct: &str, extra: &[(&str, &str)], body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut b = Response::builder().header("content-type", ct);
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(full(body)).unwrap()
}

async fn backend() -> Backend {
    Backend::start(|req: Request<Incoming>| async move {
        let path = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
        match path.as_str() {
            "text" => reply("text/plain; charset=utf-8", &[("etag", "\"v1\"")], text()),
            "json" => reply("application/json", &[], format!("{{\"t\":\"{}\"}}", text())),
            "small" => reply("text/plain", &[], "tiny body"),
            "png" => reply("image/png", &[], vec![7u8; 20_000]),
            "gz" => reply("text/plain", &[("content-encoding", "gzip")], gzip(b"once")),
            "keep" => reply("text/plain", &[("cache-control", "no-transform")], text()),
            "cached" => reply("text/html", &[("cache-control", "max-age=60")], text()),
            "stream" => Response::builder()
                .header("content-type", "text/plain")
                .body(streamed(4))
                .unwrap(),
            _ => reply("text/plain", &[], "?"),
        }
    })
    .await
}

fn config(b: &Backend, compression: &str) -> String {
    format!(
        r#"
[policies.web.compression]
{compression}

[policies.cached.cache]
[policies.cached.compression]

[[services]]
name = "app"
endpoints = ["http://{addr}"]
[services.health_check]
enabled = false

[[routes]]
name = "web"
path = "/web/*"
service = "app"
policies = ["web"]

[[routes]]
name = "cached"
path = "/cached/*"
service = "app"
policies = ["cached"]

[[routes]]
name = "plain"
path = "/plain/*"
service = "app"
"#,
        addr = b.addr
    )
}

async fn get_with(
    url: &str,
    accept: Option<&str>,
    method: Method,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut b = Request::builder().method(method).uri(url);
    if let Some(a) = accept {
        b = b.header("accept-encoding", a);
    }
    send(b.body(full("")).unwrap()).await
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

fn varies(h: &http::HeaderMap) -> bool {
    h.get_all("vary").iter().any(|v| {
        v.to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    })
}

#[tokio::test]
async fn gzip_br_and_zstd_are_each_negotiated_and_decode_to_the_original() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "")).await;
    for enc in ["gzip", "br", "zstd"] {
        let (st, h, body) = get_with(&gw.url("/web/text"), Some(enc), Method::GET).await;
        assert_eq!(st, 200);
        assert_eq!(header(&h, "content-encoding"), Some(enc));
        assert!(varies(&h), "{enc}: {h:?}");
        assert!(h.get("content-length").is_none(), "{enc}: {h:?}");
        assert_eq!(header(&h, "etag"), Some("W/\"v1\""), "strong ETag weakened");
        assert!(body.len() < text().len() / 4, "{enc}: {} bytes", body.len());
        assert_eq!(decode(enc, &body), text().as_bytes(), "{enc}");
    }
    // A body of unknown length (chunked) is compressed too.
    let (_, h, body) = get_with(&gw.url("/web/stream"), Some("gzip"), Method::GET).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(decode("gzip", &body), vec![b'x'; 4 * CHUNK]);
}

#[tokio::test]
async fn q_values_and_the_server_order_choose_the_coding() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "algorithms = [\"br\", \"gzip\", \"zstd\"]")).await;
    let cases = [
        ("gzip, br, zstd", Some("br")),
        ("gzip;q=1.0, br;q=0.5, zstd;q=0.9", Some("gzip")),
        ("zstd;q=0.8, gzip;q=0.2", Some("zstd")),
        ("*;q=0.1, br;q=0", Some("gzip")),
        ("*", Some("br")),
        ("br;q=0, gzip;q=0, zstd;q=0", None),
        ("identity", None),
        ("identity;q=1, gzip;q=0.5", None),
        ("*;q=0", None),
        ("deflate", None),
    ];
    for (accept, want) in cases {
        let (st, h, body) = get_with(&gw.url("/web/json"), Some(accept), Method::GET).await;
        assert_eq!(st, 200);
        assert_eq!(
            header(&h, "content-encoding"),
            want,
            "Accept-Encoding: {accept}"
        );
        assert!(
            varies(&h),
            "{accept}: the answer depends on Accept-Encoding"
        );
        if want.is_none() {
            assert!(
                body.starts_with(b"{\"t\":\"line 0"),
                "{accept}: identity body"
            );
            assert_eq!(header(&h, "etag"), None);
        }
    }
}

#[tokio::test]
async fn identity_and_no_header_get_the_body_as_it_is() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "")).await;
    for accept in [None, Some("identity")] {
        let (st, h, body) = get_with(&gw.url("/web/text"), accept, Method::GET).await;
        assert_eq!(st, 200);
        assert_eq!(h.get("content-encoding"), None, "{accept:?}");
        assert_eq!(body, text().as_bytes());
        assert_eq!(
            header(&h, "content-length"),
            Some(text().len().to_string().as_str())
        );
        assert_eq!(header(&h, "etag"), Some("\"v1\""), "ETag untouched");
        assert!(varies(&h), "{accept:?}");
    }
}

#[tokio::test]
async fn small_bodies_compressed_types_and_no_transform_are_untouched() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "")).await;
    for path in ["/web/small", "/web/png", "/web/keep"] {
        let (st, h, body) = get_with(&gw.url(path), Some("gzip, br, zstd"), Method::GET).await;
        assert_eq!(st, 200);
        assert_eq!(h.get("content-encoding"), None, "{path}");
        assert!(!varies(&h), "{path}: not eligible, so no Vary");
        assert!(h.get("content-length").is_some(), "{path}");
        let expected = match path {
            "/web/small" => b"tiny body".to_vec(),
            "/web/png" => vec![7u8; 20_000],
            _ => text().into_bytes(),
        };
        assert_eq!(body.to_vec(), expected, "{path}");
    }
    // With min_size = 0 the small body is compressed after all.
    let gw = start_gateway(&config(&b, "min_size = 0\nalgorithms = [\"gzip\"]")).await;
    let (_, h, body) = get_with(&gw.url("/web/small"), Some("gzip"), Method::GET).await;
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(decode("gzip", &body), b"tiny body");
}

#[tokio::test]
async fn an_encoded_response_is_never_compressed_twice() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "")).await;
    let (st, h, body) = get_with(&gw.url("/web/gz"), Some("zstd, br, gzip"), Method::GET).await;
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(h.get_all("content-encoding").iter().count(), 1);
    assert_eq!(decode("gzip", &body), b"once", "one layer of gzip");
}

#[tokio::test]
async fn head_and_routes_without_the_policy_are_untouched() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "")).await;
    let (st, h, body) = get_with(&gw.url("/web/text"), Some("gzip"), Method::HEAD).await;
    assert_eq!(st, 200);
    assert_eq!(h.get("content-encoding"), None);
    assert!(body.is_empty());
    let (st, h, body) = get_with(&gw.url("/plain/text"), Some("gzip"), Method::GET).await;
    assert_eq!(st, 200);
    assert_eq!(h.get("content-encoding"), None);
    assert!(!varies(&h));
    assert_eq!(body, text().as_bytes());
    // enabled = false turns it off.
    let gw = start_gateway(&config(&b, "enabled = false")).await;
    let (_, h, _) = get_with(&gw.url("/web/text"), Some("gzip"), Method::GET).await;
    assert_eq!(h.get("content-encoding"), None);
}

#[tokio::test]
async fn one_cached_copy_serves_every_encoding() {
    let b = backend().await;
    let gw = start_gateway(&config(&b, "")).await;
    let url = gw.url("/cached/cached");
    let mut xcache = Vec::new();
    for enc in [Some("gzip"), Some("br"), None, Some("zstd")] {
        let (st, h, body) = get_with(&url, enc, Method::GET).await;
        assert_eq!(st, 200);
        xcache.push(header(&h, "x-cache").unwrap_or("-").to_owned());
        assert_eq!(header(&h, "content-encoding"), enc, "{enc:?}");
        let plain = match enc {
            Some(e) => decode(e, &body),
            None => body.to_vec(),
        };
        assert_eq!(plain, text().as_bytes(), "{enc:?}");
    }
    assert_eq!(xcache, ["MISS", "HIT", "HIT", "HIT"]);
    assert_eq!(b.hits(), 1, "the upstream was asked once");
}
