//! The line formats' tests: every byte of a line is the contract.

use super::*;
use std::time::{Duration, UNIX_EPOCH};

fn record() -> Record {
    Record {
        time: UNIX_EPOCH + Duration::from_micros(971_186_136_123_456),
        method: Method::GET,
        version: Version::HTTP_11,
        path: "/api/a b\"c".into(),
        route: Some("api".into()),
        service: None,
        endpoint: None,
        status: 200,
        duration_ms: 1.23456,
        bytes_in: 0,
        bytes_out: 2326,
        request_id: HeaderValue::from_static("rid-1"),
        trace_id: [0xab; 16],
        span_id: [0x01; 8],
        client: "192.0.2.7".parse().unwrap(),
        complete: true,
        user_agent: Some(HeaderValue::from_static("curl/8.0 \"x\"")),
    }
}

#[test]
fn json_lines_have_the_chosen_fields_in_order_and_parse() {
    let mut s = String::new();
    let fields = [AccessField::Status, AccessField::Path, AccessField::Service];
    line(&record(), AccessFormat::Json, &fields, &mut s);
    assert_eq!(
        s,
        "{\"status\":200,\"path\":\"/api/a b\\\"c\",\"service\":\"-\"}\n"
    );
    let mut all = String::new();
    line(&record(), AccessFormat::Json, &AccessField::ALL, &mut all);
    let v: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(v["timestamp"], "2000-10-10T13:55:36.123456Z");
    assert_eq!(v["duration_ms"], 1.235);
    assert_eq!(v["trace_id"], "ab".repeat(16));
    assert_eq!(v["complete"], true);
    assert_eq!(v.as_object().unwrap().len(), AccessField::ALL.len());
}

#[test]
fn json_strings_round_trip_with_and_without_escapes() {
    for text in [
        "plain /api/x",
        "a\"b\\c",
        "tab\there\u{1}",
        "é ✓ \u{7f}",
        "",
    ] {
        let mut out = String::new();
        json_string(text, &mut out);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, text, "{out}");
    }
}

/// The line's bytes are the contract: durations as `Display` wrote the rounded float.
#[test]
fn durations_are_written_as_display_wrote_them() {
    let mut cases = vec![
        0.0,
        0.0004,
        0.0005,
        0.0015,
        0.001,
        0.01,
        0.1,
        0.5,
        1.0,
        1.2345,
        1.23456,
        2.5,
        10.0,
        99.9995,
        999.9994,
        1e6,
        1e6 + 0.0005,
        123_456.789_5,
        1e12,
        1e12 + 0.001,
        1.1e12,
        2e12,
        1e15,
        1e20,
        f64::MAX,
        f64::INFINITY,
    ];
    // And many from a fixed pseudo-random walk over the magnitudes a request takes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let scale = 10f64.powi((x % 14) as i32 - 3);
        cases.push((x >> 11) as f64 / (1u64 << 53) as f64 * scale);
    }
    for ms in cases {
        let mut got = String::new();
        millis_into(ms, &mut got);
        let want = format!("{}", (ms * 1000.0).round() / 1000.0);
        assert_eq!(got, want, "{ms:e}");
    }
}

#[test]
fn json_keys_are_the_field_names() {
    for f in AccessField::ALL {
        assert_eq!(json_key(f), format!("\"{}\":", f.name()));
    }
}

#[test]
fn client_addresses_are_written_as_display_wrote_them() {
    for ip in [
        "192.0.2.7",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "2001:db8::7",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        let mut got = String::new();
        ip_into(ip, &mut got);
        assert_eq!(got, ip.to_string());
    }
}

#[test]
fn timestamps_are_rfc3339_with_microseconds() {
    let cases = [
        (0, "1970-01-01T00:00:00.000000Z"),
        (971_186_136_123_456, "2000-10-10T13:55:36.123456Z"),
        (4_102_444_799_999_999, "2099-12-31T23:59:59.999999Z"),
    ];
    for (micros, want) in cases {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_micros(micros)), want);
    }
}

#[test]
fn logfmt_quotes_what_needs_it() {
    let mut s = String::new();
    let fields = [AccessField::Method, AccessField::Path, AccessField::Status];
    line(&record(), AccessFormat::Logfmt, &fields, &mut s);
    assert_eq!(s, "method=GET path=\"/api/a b\\\"c\" status=200\n");
    let mut e = String::new();
    logfmt_value("", &mut e);
    logfmt_value("a=b", &mut e);
    logfmt_value("x\ny", &mut e);
    assert_eq!(e, "\"\"\"a=b\"\"x\\ny\"");
}

#[test]
fn combined_matches_nginx() {
    let mut s = String::new();
    line(&record(), AccessFormat::Combined, &[], &mut s);
    assert_eq!(
        s,
        "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /api/a b\\\"c HTTP/1.1\" 200 2326 \"-\" \"curl/8.0 \\\"x\\\"\"\n"
    );
    let mut r = record();
    (r.bytes_out, r.user_agent, r.version) = (0, None, Version::HTTP_2);
    let mut s = String::new();
    line(&r, AccessFormat::Combined, &[], &mut s);
    assert!(s.ends_with("HTTP/2.0\" 200 - \"-\" \"-\"\n"), "{s}");
}
