//! Property fuzzing (proptest) of the upstream's HTTP/2 frame follower (`h2_settings`):
//! arbitrary server bytes in any chunking tell the same first event and stream limit as fed
//! at once, and well-formed SETTINGS frames set exactly the last MAX_CONCURRENT_STREAMS they
//! carry; and of `h1`'s response head reader: any bytes parse without panic, a head is
//! never taken from a prefix of itself, and a framing it accepts is one RFC 9112 allows
//! (Transfer-Encoding never beside Content-Length, one length for all Content-Length values).
//! Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use bytes::BytesMut;

use super::h1;
use super::h2_settings::{Event, Frames, DEFAULT_MAX_STREAMS};
use crate::base::body::Framing;

/// Response-head-shaped bytes: a status line and fields, framing ones most of all.
fn head_soup() -> impl Strategy<Value = Vec<u8>> {
    let line = prop::sample::select(
        &[
            "HTTP/1.1 200 OK\r\n",
            "HTTP/1.0 204 No Content\r\n",
            "HTTP/1.1 103 Early Hints\r\n",
            "content-length: 5\r\n",
            "Content-Length: 5, 5\r\n",
            "content-length: 6\r\n",
            "content-length: +5\r\n",
            "transfer-encoding: chunked\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
            "transfer-encoding: gzip\r\n",
            "connection: close\r\n",
            "connection: keep-alive\r\n",
            "x-a: b\r\n",
            " folded\r\n",
            "\r\n",
            "\n",
            ":",
            "\0",
        ][..],
    );
    prop::collection::vec(line, 0..10).prop_map(|l| l.concat().into_bytes())
}

/// What `h1` makes of `input` as one read: the head's length and the framing, or an error.
fn read(input: &[u8], is_head: bool) -> Result<Option<(usize, Framing, bool)>, String> {
    let mut buf = BytesMut::from(input);
    let mut map = None;
    match h1::parse(&mut buf, &mut map) {
        Err(e) => Err(format!("{e:?}")),
        Ok(None) => Ok(None),
        Ok(Some((mut res, _))) => {
            let framing = h1::framing(&mut res, is_head).map_err(|e| format!("{e:?}"))?;
            let h = res.headers();
            let te = h.contains_key(http::header::TRANSFER_ENCODING);
            if te {
                assert!(
                    !h.contains_key(http::header::CONTENT_LENGTH),
                    "CL beside TE"
                );
            }
            // HEAD, 101, 204 and 304 have no body whatever their Content-Length says.
            let bodiless = is_head || matches!(res.status().as_u16(), 101 | 204 | 304);
            if let (Framing::Length(n), false) = (framing, bodiless) {
                for v in h.get_all(http::header::CONTENT_LENGTH) {
                    for t in v.to_str().unwrap().split(',') {
                        assert_eq!(t.trim().parse::<u64>().ok(), Some(n));
                    }
                }
            }
            Ok(Some((input.len() - buf.len(), framing, te)))
        }
    }
}

/// The first event other than `Nothing` and the stream limit after feeding `input` split at
/// `cuts` (modulo its length); feeding stops at `NotHttp2`, as the reader does.
fn fed(input: &[u8], cuts: &[usize]) -> (Event, usize) {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let (mut f, max) = (Frames::default(), AtomicUsize::new(DEFAULT_MAX_STREAMS));
    let (mut first, mut from) = (Event::Nothing, 0);
    for c in at.into_iter().chain([input.len()]) {
        let e = f.feed(&input[from..c], &max);
        from = c;
        if first == Event::Nothing {
            first = e;
        }
        if first == Event::NotHttp2 {
            break;
        }
    }
    (first, max.load(Ordering::Relaxed))
}

/// A frame: 24-bit length, type, flags, stream id, payload.
fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

proptest! {
    #[test]
    fn fuzz_h2_settings_any_chunking(
        input in prop::collection::vec(any::<u8>(), 0..96),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        prop_assert_eq!(fed(&input, &cuts), fed(&input, &[]));
    }

    #[test]
    fn fuzz_h2_settings_well_formed(
        entries in prop::collection::vec((0u16..8, any::<u32>()), 0..6),
        later in prop::collection::vec((0u8..10, prop::collection::vec(any::<u8>(), 0..20)), 0..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let payload: Vec<u8> = entries
            .iter()
            .flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes()))
            .collect();
        let mut bytes = frame(0x4, 0, &payload);
        // Later frames that are not SETTINGS (or are SETTINGS ACKs) change nothing.
        for (kind, body) in &later {
            let (kind, flags) = if *kind == 0x4 { (0x4, 0x1) } else { (*kind, 0) };
            bytes.extend(frame(kind, flags, body));
        }
        let expect = entries
            .iter()
            .rev()
            .find(|(id, _)| *id == 3)
            .map_or(DEFAULT_MAX_STREAMS, |(_, v)| *v as usize);
        prop_assert_eq!(fed(&bytes, &cuts), (Event::FirstSettings, expect));
    }

    #[test]
    fn fuzz_h1_response_head_any_bytes(input in prop::collection::vec(any::<u8>(), 0..200), head in any::<bool>()) {
        let _ = read(&input, head);
    }

    #[test]
    fn fuzz_h1_response_head_soup(input in head_soup(), head in any::<bool>()) {
        // A whole head is never taken from a shorter prefix of it.
        if let Ok(Some((len, _, _))) = read(&input, head) {
            for cut in 0..len {
                prop_assert!(!matches!(read(&input[..cut], head), Ok(Some(_))), "cut {}", cut);
            }
        }
    }
}
