//! Property fuzzing (proptest) of the WebSocket frame-boundary follower: arbitrary bytes in any
//! chunking end in the same state as fed at once, and well-formed frames of every length form
//! (7-bit, 16-bit, 64-bit; masked or not) end at a boundary, closed exactly when a Close frame
//! passed. Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use proptest::prelude::*;

use super::ws_frame::Frames;

/// Feeds `input` split at `cuts` (modulo its length); the state as text.
fn fed(input: &[u8], cuts: &[usize]) -> String {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut f = Frames::default();
    let mut from = 0;
    for c in at.into_iter().chain([input.len()]) {
        f.feed(&input[from..c]);
        from = c;
    }
    format!("{f:?} {} {}", f.at_boundary(), f.closed())
}

/// One frame: FIN + `opcode`, the shortest or a longer length form, an optional mask.
fn frame(opcode: u8, len: usize, form: u8, masked: bool) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let m = if masked { 0x80 } else { 0 };
    match (form, len) {
        (0, 0..=125) => out.push(m | len as u8),
        (0 | 1, _) if len <= 0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&[1, 2, 3, 4]);
    }
    out.extend(std::iter::repeat_n(0x5a, len));
    out
}

proptest! {
    #[test]
    fn fuzz_ws_frames_any_chunking(
        input in prop::collection::vec(any::<u8>(), 0..128),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        prop_assert_eq!(fed(&input, &cuts), fed(&input, &[]));
    }

    #[test]
    fn fuzz_ws_frames_well_formed(
        frames in prop::collection::vec(
            (prop::sample::select(&[0u8, 1, 2, 8, 9, 10][..]), 0usize..300, 0u8..3, any::<bool>()),
            0..5,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let bytes: Vec<u8> = frames.iter().flat_map(|&(o, l, f, m)| frame(o, l, f, m)).collect();
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut f = Frames::default();
        let mut from = 0;
        for c in at.into_iter().chain([bytes.len()]) {
            f.feed(&bytes[from..c]);
            from = c;
        }
        prop_assert!(f.at_boundary());
        prop_assert_eq!(f.closed(), frames.iter().any(|&(o, ..)| o == 8));
    }
}
