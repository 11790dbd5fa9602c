//! Strict parsing (issue 14, defect 2) and targeted cache control (RFC 9213, defect 3)
//! through the real gateway: what is served from the cache, and which fields reach clients.

use crate::cache_revalidate::{fetch, gateway_with, Origin};

/// Response headers, as the origin's script takes them.
type Fields = Vec<(&'static str, &'static str)>;

/// Two plain GETs of `path`; the upstream requests they made.
async fn twice(o: &Origin, gw: &crate::common::Gateway, path: &str) -> (u64, String) {
    let before = o.hits();
    fetch(gw, path, &[]).await;
    let r = fetch(gw, path, &[]).await;
    (o.hits() - before, r.x_cache().to_owned())
}

#[tokio::test]
async fn lenient_values_are_not_served_from_the_cache() {
    let o = Origin::start(&[]).await;
    let (gw, _) = gateway_with(&o, "", "").await;
    let future = "Thu, 18 Aug 2050 02:01:18 GMT";
    let cases: [(&str, Fields, u64); 6] = [
        (
            "valid Age",
            vec![("cache-control", "max-age=3600"), ("age", "1")],
            1,
        ),
        (
            "Age 1a",
            vec![("cache-control", "max-age=3600"), ("age", "1a")],
            2,
        ),
        ("valid Expires", vec![("expires", future)], 1),
        (
            "Expires, extra spaces",
            vec![("expires", "Thu, 18  Aug  2050 02:01:18 GMT")],
            2,
        ),
        (
            "No-Cache",
            vec![("cache-control", "max-age=3600, No-Cache")],
            2,
        ),
        (
            "NO-STORE",
            vec![("cache-control", "max-age=3600, NO-STORE")],
            2,
        ),
    ];
    for (i, (case, headers, want)) in cases.into_iter().enumerate() {
        let h: Vec<(&'static str, String)> =
            headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        o.set(|s| s.headers = h);
        let (hits, _) = twice(&o, &gw, &format!("/s{i}")).await;
        assert_eq!(hits, want, "{case}");
    }
    // `No-Cache` with a validator: stored, and revalidated before every use.
    o.set(|s| {
        s.headers = vec![
            ("cache-control", "max-age=3600, No-Cache".into()),
            ("etag", "\"v\"".into()),
        ]
    });
    let (hits, x_cache) = twice(&o, &gw, "/nc").await;
    assert_eq!((hits, x_cache.as_str()), (2, "REVALIDATED"));
}

#[tokio::test]
async fn targeted_fields_take_precedence_and_only_ours_is_stripped() {
    let o = Origin::start(&[]).await;
    let (gw, _) = gateway_with(&o, "", "").await;
    let cases: [(&str, Fields, u64); 5] = [
        (
            "CDN private over max-age",
            vec![
                ("cache-control", "max-age=3600"),
                ("cdn-cache-control", "private"),
            ],
            2,
        ),
        (
            "CDN no-cache over max-age",
            vec![
                ("cache-control", "max-age=3600"),
                ("cdn-cache-control", "no-cache"),
            ],
            2,
        ),
        (
            "CDN max-age over no-store",
            vec![
                ("cache-control", "no-store"),
                ("cdn-cache-control", "max-age=60"),
            ],
            1,
        ),
        (
            "ours over CDN",
            vec![
                ("cdn-cache-control", "max-age=60"),
                ("portcullis-cache-control", "no-store"),
            ],
            2,
        ),
        (
            "invalid CDN value ignored",
            vec![
                ("cache-control", "no-store"),
                ("cdn-cache-control", "Max-Age=60"),
            ],
            2,
        ),
    ];
    for (i, (case, headers, want)) in cases.into_iter().enumerate() {
        let h: Vec<(&'static str, String)> =
            headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        o.set(|s| s.headers = h);
        let (hits, _) = twice(&o, &gw, &format!("/t{i}")).await;
        assert_eq!(hits, want, "{case}");
    }
    // CDN-Cache-Control is forwarded (for CDNs in front); ours never, stored or not.
    o.set(|s| {
        s.headers = vec![
            ("cdn-cache-control", "max-age=30".into()),
            ("portcullis-cache-control", "max-age=60".into()),
        ]
    });
    for want in ["MISS", "HIT"] {
        let r = fetch(&gw, "/fwd", &[]).await;
        assert_eq!(r.x_cache(), want);
        assert_eq!(r.headers["cdn-cache-control"], "max-age=30", "{want}");
        assert!(
            !r.headers.contains_key("portcullis-cache-control"),
            "{want}"
        );
    }
}

#[tokio::test]
async fn the_gateways_own_field_is_configurable() {
    let o = Origin::start(&[
        ("cdn-cache-control", "max-age=60"),
        ("edge-cache-control", "no-store"),
        ("portcullis-cache-control", "private"),
    ])
    .await;
    let top = "[cache]\ntargeted_field = \"Edge-Cache-Control\"\n";
    let (gw, _) = gateway_with(&o, "", top).await;
    let (hits, _) = twice(&o, &gw, "/e").await;
    assert_eq!(hits, 2, "Edge-Cache-Control: no-store rules");
    let r = fetch(&gw, "/e", &[]).await;
    assert!(!r.headers.contains_key("edge-cache-control"));
    // The default name is an ordinary field now: forwarded, and not read.
    assert_eq!(r.headers["portcullis-cache-control"], "private");
    o.set(|s| s.headers.retain(|(k, _)| *k != "edge-cache-control"));
    let (hits, x_cache) = twice(&o, &gw, "/e2").await;
    assert_eq!((hits, x_cache.as_str()), (1, "HIT"));
}
