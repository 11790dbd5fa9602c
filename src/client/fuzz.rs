//! Property fuzzing (proptest) of the upstream's HTTP/2 frame follower (`h2_settings`):
//! arbitrary server bytes in any chunking tell the same first event and stream limit as fed
//! at once, and well-formed SETTINGS frames set exactly the last MAX_CONCURRENT_STREAMS they
//! carry. Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::h2_settings::{Event, Frames, DEFAULT_MAX_STREAMS};

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
}
