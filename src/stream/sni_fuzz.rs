//! Property fuzzing (proptest) of the ClientHello reader: arbitrary bytes, and real
//! ClientHellos with bytes changed or cut, in any chunking, never panic, never read past
//! `MAX_HELLO`, and a whole real ClientHello gives the same server name however it is cut.
//! Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use std::time::Duration;

use proptest::prelude::*;
use tokio::io::AsyncWriteExt;

use super::sni::tests::client_hello;
use super::sni::{read_hello, Hello, HelloError, MAX_HELLO};

/// Writes `input` cut at `cuts` (then closes) and reads a hello from the other end.
fn read_cut(input: &[u8], cuts: &[usize]) -> Result<Hello, HelloError> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let input = input.to_vec();
    rt.block_on(async move {
        let (mut client, mut server) = tokio::io::duplex(MAX_HELLO * 2);
        let mut from = 0;
        for c in at.into_iter().chain([input.len()]) {
            client.write_all(&input[from..c]).await.unwrap();
            from = c;
        }
        drop(client);
        read_hello(&mut server, Duration::from_secs(5)).await
    })
}

proptest! {
    #[test]
    fn fuzz_hello_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..2 * MAX_HELLO),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        if let Ok(h) = read_cut(&bytes, &cuts) {
            prop_assert!(h.bytes.len() <= MAX_HELLO && bytes.starts_with(&h.bytes));
        }
    }

    #[test]
    fn fuzz_hello_real_hellos_changed_cut_and_chunked(
        label in "[a-z]{1,20}",
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut_at in proptest::option::of(any::<usize>()),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let name = format!("{label}.example.com");
        let mut hello = client_hello(&name);
        let intact = flips.is_empty() && cut_at.is_none();
        for (at, b) in &flips {
            let i = at % hello.len();
            hello[i] ^= b | 1;
        }
        if let Some(c) = cut_at {
            hello.truncate(c % hello.len());
        }
        match read_cut(&hello, &cuts) {
            Ok(h) => {
                // The bytes to replay are what was read: a prefix of what was sent.
                prop_assert!(hello.starts_with(&h.bytes));
                if intact {
                    prop_assert!(h.bytes == hello);
                    prop_assert_eq!(h.server_name.as_deref(), Some(name.as_str()));
                }
            }
            Err(e) => prop_assert!(!intact, "an intact hello was refused: {:?}", e),
        }
    }

    #[test]
    fn fuzz_hello_endless_handshake_records_stop_at_the_bound(
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        // A ClientHello announcing 32 KiB, sent in records up to 20 KiB, then the client
        // closes: refused as `Invalid` (rustls refuses this zero-filled hello itself, so this
        // does not prove the bound is needed; `sni::tests` checks the bytes kept).
        let mut first = vec![0x01, 0x00, 0x80, 0x00];
        first.resize(0x4000, 0);
        let mut bytes = vec![0x16, 0x03, 0x01, 0x40, 0x00];
        bytes.extend_from_slice(&first);
        bytes.extend_from_slice(&[0x16, 0x03, 0x01, 0x10, 0x00]);
        bytes.extend(std::iter::repeat_n(0u8, 0x1000));
        prop_assert!(bytes.len() > MAX_HELLO);
        let got = read_cut(&bytes, &cuts);
        prop_assert!(matches!(got, Err(HelloError::Invalid)), "{:?}", got.err());
    }
}
