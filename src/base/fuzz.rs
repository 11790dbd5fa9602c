//! Property fuzzing (proptest) of the ground floor's parsers of peer bytes: the RFC 8941
//! Dictionary reader (targeted cache-control fields) on arbitrary and structured text, the
//! sf-string writer against it, and the streaming base64 decoder of gRPC-Web `-text` bodies
//! in arbitrary chunkings, and the chunked decoder of upstream bodies (any bytes in any
//! chunking decode alike; encoded chunks and trailers come back as they were). Cases:
//! `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use base64::Engine as _;
use bytes::BytesMut;
use proptest::prelude::*;

use super::body::base64::Base64Stream;
use super::sf::{parse_dictionary, push_sf_string, Item};

/// Dictionary-shaped text: keys, `=`, items of every kind, parameters, commas and spaces.
fn dictionary_soup() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(
        &[
            "max-age",
            "=",
            "60",
            "-1.5",
            "1.2345",
            "?1",
            "?0",
            "\"x\\\"y\"",
            "\"",
            ":YQ==:",
            ":",
            "(",
            ")",
            "(a b)",
            ";",
            ";q=1",
            ",",
            " ",
            "\t",
            "private",
            "No-Cache",
            "*a",
            "a*",
            "0",
            "99999999999999999",
            "1.",
            ".5",
            "\\",
            "é",
            "a;b=?1",
        ][..],
    );
    prop::collection::vec(atoms, 0..16).prop_map(|a| a.concat())
}

/// Splits `input` at the given cut points (taken modulo its length).
fn chunks(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for c in at.into_iter().chain([input.len()]) {
        out.push(input[from..c].to_vec());
        from = c;
    }
    out
}

/// Decodes `parts` as one stream: the bytes, or `None` when it is refused.
fn stream_decode(parts: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut dec = Base64Stream::default();
    let mut out = BytesMut::new();
    for p in parts {
        let before = out.len();
        let bound = dec.max_out(p.len());
        dec.decode(p, &mut out).ok()?;
        assert!(out.len() - before <= bound, "max_out is a bound");
    }
    dec.finish().ok()?;
    Some(out.to_vec())
}

proptest! {
    #[test]
    fn fuzz_sf_dictionary_arbitrary(text in any::<String>()) {
        let _ = parse_dictionary(&text);
    }

    #[test]
    fn fuzz_sf_dictionary_structured(text in dictionary_soup()) {
        if let Some(members) = parse_dictionary(&text) {
            for (key, _) in &members {
                prop_assert!(!key.is_empty(), "{text:?}");
                prop_assert!(!key.bytes().any(|b| b.is_ascii_uppercase()), "{text:?}");
            }
        }
    }

    #[test]
    fn fuzz_sf_string_round_trips(s in any::<String>()) {
        let mut text = String::from("k=");
        push_sf_string(&mut text, &s);
        let parsed = parse_dictionary(&text);
        let expect: String = s
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .collect();
        prop_assert_eq!(parsed, Some(vec![("k".to_string(), Item::String(expect))]));
    }

    #[test]
    fn fuzz_base64_stream_any_chunking(
        input in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let whole = stream_decode(std::slice::from_ref(&input));
        prop_assert_eq!(stream_decode(&chunks(&input, &cuts)), whole);
    }

    #[test]
    fn fuzz_base64_stream_padded_chunks(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let engine = base64::engine::general_purpose::STANDARD;
        let text: String = messages.iter().map(|m| engine.encode(m)).collect();
        let expect: Vec<u8> = messages.concat();
        prop_assert_eq!(stream_decode(&chunks(text.as_bytes(), &cuts)), Some(expect));
    }
}

/// Decodes a chunked body fed in pieces cut at `cuts`: the data, the trailers, and whether
/// it ended (`Some(true)`), failed (`Some(false)`) or wants more (`None`).
fn dechunk(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<http::HeaderMap>, Option<bool>) {
    use super::body::chunked::{Decoder, Step};
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    at.push(input.len());
    let (mut dec, mut buf) = (Decoder::default(), BytesMut::new());
    let (mut data, mut trailers, mut from) = (Vec::new(), None, 0);
    for c in at {
        buf.extend_from_slice(&input[from..c]);
        from = c;
        loop {
            match dec.decode(&mut buf) {
                Err(_) => return (data, trailers, Some(false)),
                Ok(Step::Data(d)) => data.extend_from_slice(&d),
                Ok(Step::Trailers(t)) => trailers = Some(t),
                Ok(Step::End) => return (data, trailers, Some(true)),
                Ok(Step::More) => break,
            }
        }
    }
    (data, trailers, None)
}

proptest! {
    #[test]
    fn fuzz_chunked_any_bytes_any_chunking(
        input in prop::collection::vec(any::<u8>(), 0..160),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = dechunk(&input, &[]);
        let (data, trailers, end) = dechunk(&input, &cuts);
        // Data may come in other pieces, but the same bytes, and the same outcome.
        prop_assert_eq!(end, whole.2);
        if end == Some(true) {
            prop_assert_eq!(data, whole.0);
            prop_assert_eq!(trailers, whole.1);
        }
    }

    #[test]
    fn fuzz_chunked_round_trip(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..6),
        ext in prop::sample::select(&["", ";a=b", " ;x", ";q=\"v\""][..]),
        trailer in prop::option::of("[a-z]{1,8}"),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for c in &chunks {
            wire.extend_from_slice(format!("{:x}{ext}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n");
        if let Some(t) = &trailer {
            wire.extend_from_slice(format!("x-{t}: {t}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let (data, trailers, end) = dechunk(&wire, &cuts);
        prop_assert_eq!(end, Some(true));
        prop_assert_eq!(data, chunks.concat());
        prop_assert_eq!(trailers.map(|t| t.len()), trailer.map(|_| 1));
    }
}
