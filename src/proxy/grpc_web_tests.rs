//! Unit tests of the gRPC-Web framing and encoding core, and of its body glue on in-memory
//! bodies.

use super::*;
use crate::base::body::base64::{BadBase64, Base64Stream, TextBody};
use http_body_util::{BodyExt, StreamBody};

fn b64_decode_all(input: &[u8]) -> Result<Vec<u8>, BadBase64> {
    let mut s = Base64Stream::default();
    let mut out = BytesMut::new();
    s.decode(input, &mut out)?;
    s.finish()?;
    Ok(out.to_vec())
}

#[test]
fn content_types_map_both_ways() {
    assert_eq!(parse_web(b"application/grpc-web"), Some((false, &b""[..])));
    assert_eq!(
        parse_web(b"application/grpc-web-text+proto"),
        Some((true, &b"+proto"[..]))
    );
    assert_eq!(parse_web(b"application/grpc-webby"), None);
    assert_eq!(parse_web(b"application/grpc"), None);
    assert_eq!(grpc_type(b"+json").unwrap(), "application/grpc+json");
    assert_eq!(
        web_type(b"application/grpc", false).unwrap(),
        "application/grpc-web"
    );
    assert_eq!(
        web_type(b"application/grpc+proto", true).unwrap(),
        "application/grpc-web-text+proto"
    );
    assert_eq!(
        web_type(b"application/grpc+json", true).unwrap(),
        "application/grpc-web-text+json"
    );
    assert_eq!(web_type(b"application/json", false), None);
    assert_eq!(web_type(b"application/grpcx", false), None);
}

#[test]
fn requests_are_rewritten_to_grpc() {
    let mut req = Request::post("/a.B/C")
        .header("content-type", "application/grpc-web-text+proto")
        .header("content-length", "12")
        .header("accept", "application/grpc-web-text")
        .body(())
        .unwrap();
    assert_eq!(request(&mut req), Some(Web { text: true }));
    let h = req.headers();
    assert_eq!(h["content-type"], "application/grpc+proto");
    assert_eq!(h["te"], "trailers");
    assert!(
        !h.contains_key("content-length"),
        "the decoded length differs"
    );
    assert!(req.extensions().get::<TextRequest>().is_some());

    let mut req = Request::post("/a.B/C")
        .header("content-type", "application/grpc-web")
        .header("content-length", "12")
        .body(())
        .unwrap();
    assert_eq!(request(&mut req), Some(Web { text: false }));
    assert_eq!(req.headers()["content-type"], "application/grpc");
    assert_eq!(req.headers()["content-length"], "12");
    assert!(req.extensions().get::<TextRequest>().is_none());

    // Binary request, text response asked for by Accept.
    let mut req = Request::post("/a.B/C")
        .header("content-type", "application/grpc-web+proto")
        .header("accept", "application/grpc-web-text")
        .body(())
        .unwrap();
    assert_eq!(request(&mut req), Some(Web { text: true }));

    for (method, ct) in [
        (Method::GET, "application/grpc-web"),
        (Method::POST, "application/grpc"),
        (Method::POST, "application/json"),
    ] {
        let mut req = Request::builder()
            .method(method)
            .header("content-type", ct)
            .body(())
            .unwrap();
        assert_eq!(request(&mut req), None, "{ct}");
        assert_eq!(req.headers()["content-type"], ct);
        assert!(!req.headers().contains_key("te"));
    }
}

#[test]
fn trailers_become_the_last_frame() {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static("5"));
    t.insert("grpc-message", HeaderValue::from_static("not: found"));
    let f = trailers_frame(&t);
    let lines = b"grpc-status:5\r\ngrpc-message:not: found\r\n";
    assert_eq!(f[0], TRAILERS_FLAG);
    assert_eq!(&f[1..5], (lines.len() as u32).to_be_bytes());
    assert_eq!(&f[5..], lines);
    assert_eq!(trailers_frame(&HeaderMap::new())[..], [0x80, 0, 0, 0, 0]);
}

#[test]
fn base64_streams_of_padded_chunks_decode() {
    assert_eq!(b64_decode_all(b"QQ==QUI=QUJD").unwrap(), b"AABABC");
    assert_eq!(b64_decode_all(b"").unwrap(), b"");
    assert_eq!(&base64(b"\x00\x00\x00\x00\x02hi")[..], b"AAAAAAJoaQ==");
    assert_eq!(
        b64_decode_all(b"AAAAAAJoaQ==").unwrap(),
        b"\x00\x00\x00\x00\x02hi"
    );
    // Split anywhere, even inside a group of four.
    let mut s = Base64Stream::default();
    let mut out = BytesMut::new();
    for piece in [&b"Q"[..], b"Q=", b"=QU", b"I", b"=", b"QUJD"] {
        let before = out.len();
        let room = s.max_out(piece.len());
        s.decode(piece, &mut out).unwrap();
        assert!(out.len() - before <= room, "max_out bounds the output");
    }
    s.finish().unwrap();
    assert_eq!(&out[..], b"AABABC");
    for bad in [&b"QUJ"[..], b"Q===", b"=QUJ", b"QU=J", b"QU\nJ", b"QUJD!"] {
        assert_eq!(b64_decode_all(bad), Err(BadBase64), "{bad:?}");
    }
}

type Chunks =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, BoxError>>>>;

fn chunks(parts: Vec<Frame<Bytes>>) -> Chunks {
    let items: Vec<Result<Frame<Bytes>, BoxError>> = parts.into_iter().map(Ok).collect();
    StreamBody::new(futures_util::stream::iter(items))
}

#[tokio::test]
async fn text_bodies_decode_as_they_stream() {
    let message = b"\x00\x00\x00\x00\x05hello";
    let encoded = [base64(&message[..3]), base64(&message[3..])].concat();
    // Chunk boundaries that cut groups of four.
    let parts = encoded
        .chunks(5)
        .map(|c| Frame::data(Bytes::copy_from_slice(c)))
        .collect();
    let body = TextBody::new(chunks(parts)).collect().await.unwrap();
    assert_eq!(&body.to_bytes()[..], message);
    let bad = TextBody::new(chunks(vec![Frame::data(Bytes::from_static(b"QU"))]));
    let Err(err) = bad.collect().await else {
        panic!("a truncated group fails");
    };
    assert!(err.to_string().contains("base64"), "{err}");
}

#[tokio::test]
async fn responses_carry_their_trailers_in_the_body() {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static("0"));
    let data = Bytes::from_static(b"\x00\x00\x00\x00\x01x");
    let parts = vec![Frame::data(data.clone()), Frame::trailers(t.clone())];
    let body = WebBody {
        inner: chunks(parts),
        text: false,
    };
    let got = body.collect().await.unwrap();
    assert!(got.trailers().is_none(), "no HTTP trailers left");
    let want = [&data[..], &trailers_frame(&t)[..]].concat();
    assert_eq!(&got.to_bytes()[..], &want[..]);

    let parts = vec![Frame::data(data.clone()), Frame::trailers(t.clone())];
    let body = WebBody {
        inner: chunks(parts),
        text: true,
    };
    let got = body.collect().await.unwrap().to_bytes();
    let want = [base64(&data), base64(&trailers_frame(&t))].concat();
    assert_eq!(&got[..], &want[..]);
    assert_eq!(
        b64_decode_all(&got).unwrap(),
        [&data[..], &trailers_frame(&t)[..]].concat()
    );
}

#[test]
fn responses_change_type_and_keep_trailers_only_heads() {
    let web = Web { text: false };
    let mut resp = Response::new(GatewayBody::full(Bytes::new()));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    resp.headers_mut()
        .insert("grpc-status", HeaderValue::from_static("14"));
    let resp = response(resp, web);
    assert_eq!(resp.headers()["content-type"], "application/grpc-web");
    assert_eq!(resp.headers()["grpc-status"], "14");
    assert!(resp.body().is_end_stream());

    let mut resp = Response::new(GatewayBody::full(Bytes::from_static(b"<html>")));
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    resp.headers_mut()
        .insert("content-length", HeaderValue::from_static("6"));
    let resp = response(resp, Web { text: true });
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert_eq!(resp.headers()["content-length"], "6", "not gRPC: untouched");
}
