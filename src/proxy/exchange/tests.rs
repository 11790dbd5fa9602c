//! The exchange builder's tests: the refresh head, and the fields the upstream head changes.

use super::*;

fn client_head() -> http::request::Parts {
    let req = http::Request::builder()
        .method(http::Method::HEAD)
        .uri("/a?b=1")
        .header(header::HOST, "shop.example")
        .header("x-forwarded-for", "6.6.6.6")
        .header(header::CONNECTION, "x-hop")
        .header("x-hop", "1")
        .header(header::IF_NONE_MATCH, "\"client\"")
        .body(())
        .unwrap();
    req.into_parts().0
}

#[test]
fn the_refresh_is_the_sanitised_head_as_a_conditional_get() {
    let mut parts = client_head();
    let trace = TraceContext::from_headers(&HeaderMap::new(), |_| true);
    let id = HeaderValue::from_static("rid-1");
    let client = Client {
        peer: "127.0.0.1".parse().unwrap(),
        trusted: false,
        tls: true,
        request_id: &id,
        trace: &trace,
        add: UpstreamHeaders::default(),
    };
    let host = outgoing_head(&mut parts, &client);
    assert_eq!(host.as_ref().unwrap(), "shop.example");
    let out = Outgoing {
        parts,
        path_and_query: "/a?b=1".into(),
        client_host: host,
        body: None,
        buffered: None,
        max_body_bytes: 0,
        counter: None,
        replay: false,
        interim: None,
    };
    let mut reval = http::Request::new(()).into_parts().0;
    reval
        .headers
        .insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"v1\""));
    let again = out.refresh(&reval);
    assert_eq!(again.parts.method, http::Method::GET);
    assert_eq!(again.parts.version, http::Version::HTTP_11);
    let h = &again.parts.headers;
    assert_eq!(h[header::IF_NONE_MATCH], "\"v1\"");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h[header::VIA], "1.1 portcullis");
    assert_eq!(h[headers::X_REQUEST_ID], "rid-1");
    assert_eq!(h["traceparent"], trace.traceparent());
    assert!(!h.contains_key("x-hop") && !h.contains_key(header::CONNECTION));
    assert_eq!(again.path_and_query, "/a?b=1");
    assert!(again.body.is_none() && again.replay);
    // The foreground request keeps its own method and conditional.
    assert_eq!(out.parts.method, http::Method::HEAD);
    assert_eq!(out.parts.headers[header::IF_NONE_MATCH], "\"client\"");
}

/// The cache's fresh hits are looked up with the client's head (`stages::cache_fresh`):
/// that is only sound while the upstream head differs from it in no field but those
/// `base::headers::set_upstream` names, whenever `only_connection_options` holds.
#[test]
fn the_upstream_head_changes_only_the_fields_the_cache_knows_it_sets() {
    use crate::config::telemetry::{B3Format, Propagation};
    use crate::config::TraceContextMode;
    let client = http::Request::get("/a")
        .header(header::HOST, "shop.example")
        .header(header::CONNECTION, "keep-alive, close")
        .header("keep-alive", "timeout=5")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header(header::VIA, "1.0 other")
        .header("x-request-id", "client-id")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("tracestate", "a=1")
        .header("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")
        .header("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7")
        .header("x-b3-sampled", "1")
        .header(header::ACCEPT_ENCODING, "gzip")
        .header("x-tenant", "t1")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert!(headers::only_connection_options(&client.headers));
    let id = HeaderValue::from_static("rid-1");
    let on = UpstreamHeaders::default();
    let off = UpstreamHeaders {
        via: false,
        request_id: false,
        forwarded_host: false,
        trace_context: TraceContextMode::Off,
    };
    for b3 in [None, Some(B3Format::Single), Some(B3Format::Multi)] {
        let propagation = Propagation {
            w3c: b3.is_none(),
            b3,
        };
        let trace = TraceContext::from_headers_with(&client.headers, propagation, |_| true);
        for (trusted, add) in [(false, on), (true, on), (false, off), (true, off)] {
            let mut parts = crate::proxy::cache::copy_head(&client);
            let c = Client {
                peer: "127.0.0.1".parse().unwrap(),
                trusted,
                tls: false,
                request_id: &id,
                trace: &trace,
                add,
            };
            outgoing_head(&mut parts, &c);
            let (a, b) = (&client.headers, &parts.headers);
            for name in a.keys().chain(b.keys()) {
                let same = a.get_all(name).iter().eq(b.get_all(name).iter());
                let set = crate::base::headers::set_upstream(name.as_str());
                assert!(same || set, "{name} changed ({b3:?}, trusted {trusted})");
            }
        }
    }
}
