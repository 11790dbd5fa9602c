//! Unit tests for trace context parsing, the upstream header, `tracestate` rules and ids.

use super::*;

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn always(_: &[u8; 16]) -> bool {
    true
}

#[test]
fn parses_a_valid_version_00() {
    let p = parse_traceparent(VALID.as_bytes()).unwrap();
    assert_eq!(Hex::<32>::new(&p.trace_id).as_str(), &VALID[3..35]);
    assert_eq!(Hex::<16>::new(&p.parent_id).as_str(), &VALID[36..52]);
    assert_eq!(p.flags, 1);
    // Flags other than sampled are kept for version 00.
    let p = parse_traceparent(&VALID.replace("-01", "-09").into_bytes()).unwrap();
    assert_eq!(p.flags, 9);
}

#[test]
fn refuses_malformed_version_00() {
    let bad = [
        "",
        "00",
        // uppercase hex
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        // a non-hex digit
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        // all-zero trace id / parent id
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        // wrong field lengths
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        // version 00 with anything after it
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        // wrong separators
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        // version ff is invalid, and the version must be lowercase hex
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "Cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        // surrounding whitespace is not part of the format
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ];
    for v in bad {
        assert_eq!(parse_traceparent(v.as_bytes()), None, "{v:?}");
    }
}

#[test]
fn later_versions_are_parsed_by_the_version_00_rules() {
    let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff";
    let p = parse_traceparent(later.as_bytes()).unwrap();
    assert_eq!(Hex::<32>::new(&p.trace_id).as_str(), &later[3..35]);
    // Only the flags this version knows (sampled, random) are passed on.
    assert_eq!(p.flags, 0x03);
    let longer = format!("{later}-what-the-future-holds");
    assert!(parse_traceparent(longer.as_bytes()).is_some());
    // Longer, but without a '-' right after the known fields.
    let glued = format!("{later}x-future");
    assert_eq!(parse_traceparent(glued.as_bytes()), None);
}

#[test]
fn a_valid_parent_is_continued_with_a_new_span() {
    let h = headers(&[("traceparent", VALID), ("tracestate", "congo=t61rcWkgMzE")]);
    let c = TraceContext::from_headers(&h, |_| panic!("no sampling decision for a child"));
    assert_eq!(c.trace_id_hex().as_str(), &VALID[3..35]);
    assert_eq!(
        c.parent_id
            .map(|p| Hex::<16>::new(&p).to_string())
            .as_deref(),
        Some(&VALID[36..52])
    );
    assert_ne!(c.span_id_hex().as_str(), &VALID[36..52]);
    assert!(c.sampled());
    assert_eq!(c.tracestate.as_ref().unwrap(), "congo=t61rcWkgMzE");
    let out = c.traceparent();
    let out = out.to_str().unwrap();
    assert_eq!(out.len(), 55);
    assert_eq!(&out[..36], &VALID[..36]);
    assert_eq!(&out[36..52], c.span_id_hex().as_str());
    assert_eq!(&out[52..], "-01");
    assert_eq!(
        parse_traceparent(out.as_bytes()).unwrap().trace_id,
        c.trace_id
    );
}

#[test]
fn the_unsampled_flag_is_kept() {
    let h = headers(&[("traceparent", &VALID.replace("-01", "-00"))]);
    let c = TraceContext::from_headers(&h, always);
    assert!(!c.sampled());
    assert!(c.traceparent().to_str().unwrap().ends_with("-00"));
}

#[test]
fn invalid_or_repeated_parents_start_a_new_trace_and_drop_tracestate() {
    let cases = [
        headers(&[("traceparent", "garbage"), ("tracestate", "a=1")]),
        headers(&[
            ("traceparent", VALID),
            ("traceparent", VALID),
            ("tracestate", "a=1"),
        ]),
        headers(&[("tracestate", "a=1")]),
    ];
    for h in cases {
        let c = TraceContext::from_headers(&h, always);
        assert_ne!(c.trace_id_hex().as_str(), &VALID[3..35]);
        assert_eq!(c.parent_id, None);
        assert_eq!(c.tracestate, None);
        assert_eq!(c.flags, SAMPLED);
        assert!(parse_traceparent(c.traceparent().as_bytes()).is_some());
    }
    // The root sampling decision sets the flag of a new trace.
    let c = TraceContext::from_headers(&HeaderMap::new(), |_| false);
    assert!(c.traceparent().to_str().unwrap().ends_with("-00"));
}

#[test]
fn apply_replaces_every_incoming_line() {
    let mut h = headers(&[
        ("traceparent", VALID),
        ("tracestate", "a=1"),
        ("tracestate", "b=2"),
        ("x-other", "1"),
    ]);
    let c = TraceContext::from_headers(&h, always);
    assert_eq!(c.tracestate.as_ref().unwrap(), "a=1,b=2");
    c.apply(&mut h);
    assert_eq!(h.get_all(TRACEPARENT).iter().count(), 1);
    assert_ne!(h.get(TRACEPARENT).unwrap(), VALID);
    assert_eq!(h.get(TRACEPARENT).unwrap(), &c.traceparent());
    assert_eq!(h.get_all(TRACESTATE).iter().count(), 1);
    assert_eq!(h.get(TRACESTATE).unwrap(), "a=1,b=2");
    assert!(h.contains_key("x-other"));
    // A new trace sends no tracestate at all.
    let mut h = headers(&[("traceparent", "bad"), ("tracestate", "a=1")]);
    TraceContext::from_headers(&h, always).apply(&mut h);
    assert!(!h.contains_key(TRACESTATE));
}

#[test]
fn tracestate_rules() {
    let good = [
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "a=1 , , b=2",
        // blanks around a member are list whitespace, not part of the value
        "a=trailing \t",
        "tenant1@vendor=x",
        "0tenant@v-2=x y",
        "k/*_-9=!~",
    ];
    for v in good {
        assert!(valid_tracestate(v.as_bytes()), "{v:?}");
    }
    let long_value = format!("a={}", "v".repeat(257));
    let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let too_many = too_many.join(",");
    let bad = [
        "",
        " , ",
        "novalue",
        "=v",
        "Upper=v",
        "1key=v",
        "a=",
        "a=\x7f",
        "a=b=c",
        "a=1,a=2",
        "t@=v",
        "t@Vendor=v",
        "t@vendorvendorvendor=v",
        "a=\x01",
        long_value.as_str(),
        too_many.as_str(),
    ];
    for v in bad {
        assert!(!valid_tracestate(v.as_bytes()), "{v:?}");
    }
    // 32 members are fine.
    let members: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
    assert!(valid_tracestate(members.join(",").as_bytes()));
}

#[test]
fn tracestate_over_512_bytes_is_dropped() {
    // 27 members of 18 bytes and 26 commas: exactly 512 bytes.
    let list = |prefix: char, n: usize| {
        let members: Vec<String> = (0..n)
            .map(|i| format!("{prefix}{i:02}={}", "v".repeat(14)))
            .collect();
        members.join(",")
    };
    let exactly = list('k', 27);
    assert_eq!(exactly.len(), 512);
    let fits = headers(&[("traceparent", VALID), ("tracestate", &exactly)]);
    assert!(TraceContext::from_headers(&fits, always)
        .tracestate
        .is_some());
    let over = format!("{exactly},z=1");
    let h = headers(&[("traceparent", VALID), ("tracestate", &over)]);
    assert_eq!(TraceContext::from_headers(&h, always).tracestate, None);
    // Lines that are fine alone but over the bound once joined.
    let (a, b) = (list('a', 15), list('b', 15));
    assert!(valid_tracestate(a.as_bytes()) && valid_tracestate(b.as_bytes()));
    let h = headers(&[
        ("traceparent", VALID),
        ("tracestate", &a),
        ("tracestate", &b),
    ]);
    assert_eq!(TraceContext::from_headers(&h, always).tracestate, None);
    // An invalid member in any line drops the whole list.
    let h = headers(&[
        ("traceparent", VALID),
        ("tracestate", "a=1"),
        ("tracestate", "B=2"),
    ]);
    assert_eq!(TraceContext::from_headers(&h, always).tracestate, None);
}

#[test]
fn new_ids_are_random_and_non_zero() {
    let a = new_trace_id();
    let b = new_trace_id();
    assert_ne!(a, b);
    assert_ne!(a, [0; 16]);
    assert_ne!(new_span_id(), new_span_id());
    assert_eq!(
        Hex::<16>::new(&[0xab, 0, 1, 2, 3, 4, 5, 0xff]).as_str(),
        "ab000102030405ff"
    );
}
