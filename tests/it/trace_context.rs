//! W3C trace context through the real gateway and a real backend.
//!
//! A valid `traceparent` is continued with the gateway's span, an invalid or absent one
//! replaced by a new trace; `tracestate` is kept only beside a valid one, well formed and
//! within 512 bytes.

use crate::common::*;
use http::Request;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn traceparent(flags: &str) -> String {
    format!("00-{TRACE}-{PARENT}-{flags}")
}

async fn gateway(b: &Backend) -> Gateway {
    start_gateway(&format!(
        "[[services]]\nname = \"svc\"\nendpoints = [\"http://{}\"]\n[services.health_check]\nenabled = false\n[[routes]]\nname = \"r1\"\npath = \"/api/*\"\nservice = \"svc\"\n",
        b.addr
    ))
    .await
}

/// Sends GET /api/x with `headers` and returns the trace headers the backend received.
async fn through(gw: &Gateway, b: &Backend, headers: &[(&str, &str)]) -> (String, Option<String>) {
    let mut req = Request::get(gw.url("/api/x"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (st, _, _) = send(req.body(full("")).unwrap()).await;
    assert_eq!(st, 200);
    let seen = b.last().headers;
    let parents: Vec<_> = seen.get_all("traceparent").iter().collect();
    assert_eq!(parents.len(), 1, "one traceparent upstream: {seen:?}");
    assert!(seen.get_all("tracestate").iter().count() <= 1);
    let text = |v: &http::HeaderValue| v.to_str().unwrap().to_owned();
    (text(parents[0]), seen.get("tracestate").map(text))
}

/// Splits a version 00 traceparent, checking its shape: (trace id, parent id, flags).
fn parts(tp: &str) -> (&str, &str, &str) {
    assert_eq!(tp.len(), 55, "{tp}");
    let f: Vec<&str> = tp.split('-').collect();
    assert_eq!(f.len(), 4, "{tp}");
    assert_eq!(f[0], "00");
    let hex = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    assert!(f[1..].iter().all(|s| hex(s)), "{tp}");
    assert_ne!(f[1], "0".repeat(32));
    assert_ne!(f[2], "0".repeat(16));
    (f[1], f[2], f[3])
}

#[tokio::test]
async fn a_valid_traceparent_is_continued_with_the_gateways_span() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let sent = traceparent("01");
    let state = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE";
    let (tp, ts) = through(&gw, &b, &[("traceparent", &sent), ("tracestate", state)]).await;
    assert_ne!(
        tp, sent,
        "the client's traceparent reached the backend unaltered"
    );
    let (trace, parent, flags) = parts(&tp);
    assert_eq!(trace, TRACE);
    assert_ne!(parent, PARENT);
    assert_eq!(flags, "01");
    assert_eq!(ts.as_deref(), Some(state));
    // Unsampled stays unsampled; each request gets its own gateway span.
    let (tp2, _) = through(&gw, &b, &[("traceparent", &traceparent("00"))]).await;
    let (trace2, parent2, flags2) = parts(&tp2);
    assert_eq!((trace2, flags2), (TRACE, "00"));
    assert_ne!(parent2, parent);
    // A later version is read by the version 00 rules and sent on as version 00.
    let later = format!("cc-{TRACE}-{PARENT}-01-extra-fields");
    let (tp3, _) = through(&gw, &b, &[("traceparent", &later)]).await;
    assert_eq!(parts(&tp3).0, TRACE);
}

#[tokio::test]
async fn an_invalid_traceparent_starts_a_new_trace_without_tracestate() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let invalid = [
        format!("00-{}-{PARENT}-01", TRACE.to_uppercase()),
        format!("ff-{TRACE}-{PARENT}-01"),
        format!("00-{}-{PARENT}-01", "0".repeat(32)),
        format!("00-{TRACE}-{}-01", "0".repeat(16)),
        format!("00-{TRACE}-{PARENT}-01-extra"),
        format!("00-{TRACE}-{PARENT}"),
        "garbage".to_owned(),
    ];
    let mut traces = Vec::new();
    for sent in &invalid {
        let (tp, ts) = through(&gw, &b, &[("traceparent", sent), ("tracestate", "a=1")]).await;
        let (trace, _, flags) = parts(&tp);
        assert_ne!(trace, TRACE, "{sent}");
        assert_eq!(flags, "01", "{sent}");
        assert_eq!(ts, None, "tracestate kept beside {sent}");
        traces.push(trace.to_owned());
    }
    traces.dedup();
    assert_eq!(traces.len(), invalid.len(), "trace ids repeat: {traces:?}");
}

#[tokio::test]
async fn without_a_traceparent_the_backend_gets_a_new_one() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let (a, ts) = through(&gw, &b, &[("tracestate", "a=1")]).await;
    let (c, _) = through(&gw, &b, &[]).await;
    assert_eq!(ts, None);
    assert_eq!(parts(&a).2, "01");
    assert_ne!(parts(&a).0, parts(&c).0);
}

#[tokio::test]
async fn a_tracestate_over_512_bytes_or_malformed_is_dropped() {
    let b = Backend::echo().await;
    let gw = gateway(&b).await;
    let sent = traceparent("01");
    // Under 512 bytes, but a value longer than the 256 characters the spec allows.
    let long = format!("a={}", "v".repeat(257));
    let (tp, ts) = through(&gw, &b, &[("traceparent", &sent), ("tracestate", &long)]).await;
    assert_eq!(parts(&tp).0, TRACE);
    assert_eq!(ts, None);
    let fits: Vec<String> = (0..27)
        .map(|i| format!("k{i:02}={}", "v".repeat(14)))
        .collect();
    let fits = fits.join(",");
    assert_eq!(fits.len(), 512);
    let (_, ts) = through(&gw, &b, &[("traceparent", &sent), ("tracestate", &fits)]).await;
    assert_eq!(ts.as_deref(), Some(fits.as_str()));
    let over = format!("{fits},z=1");
    let (tp, ts) = through(&gw, &b, &[("traceparent", &sent), ("tracestate", &over)]).await;
    assert_eq!((parts(&tp).0, ts), (TRACE, None));
    for bad in ["Upper=1", "a=1,a=2", "novalue"] {
        let (_, ts) = through(&gw, &b, &[("traceparent", &sent), ("tracestate", bad)]).await;
        assert_eq!(ts, None, "{bad}");
    }
}
