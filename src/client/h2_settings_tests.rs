//! Unit tests of the HTTP/2 frame follower: the first SETTINGS frame, later SETTINGS frames
//! changing the stream limit, other frames skipped, bytes split anywhere.

use super::*;

fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
    frame(SETTINGS, 0, &entries_payload(entries))
}

fn entries_payload(entries: &[(u16, u32)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (id, v) in entries {
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&v.to_be_bytes());
    }
    b
}

fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut b = len.to_be_bytes()[1..].to_vec();
    b.extend([kind, flags, 0, 0, 0, 1]);
    b.extend_from_slice(payload);
    b
}

/// Feeds `bytes` in pieces of `step`; the events seen and the limit after each piece.
fn follow(bytes: &[u8], step: usize) -> (Vec<Event>, Vec<usize>) {
    let mut f = Frames::default();
    let max = AtomicUsize::new(DEFAULT_MAX_STREAMS);
    let (mut events, mut limits) = (Vec::new(), Vec::new());
    for piece in bytes.chunks(step) {
        let e = f.feed(piece, &max);
        if e != Event::Nothing {
            events.push(e);
        }
        limits.push(max.load(Ordering::Relaxed));
    }
    (events, limits)
}

#[test]
fn the_first_settings_frame_gives_the_limit() {
    let f = settings(&[(0x4, 65_535), (MAX_CONCURRENT_STREAMS, 2)]);
    for step in [1, 2, 5, 9, 100] {
        let (events, limits) = follow(&f, step);
        assert_eq!(events, [Event::FirstSettings], "step {step}");
        assert_eq!(*limits.last().unwrap(), 2);
    }
    let (events, limits) = follow(&f[..f.len() - 1], 100);
    assert!(events.is_empty(), "incomplete");
    assert_eq!(limits, [DEFAULT_MAX_STREAMS]);
    let (events, limits) = follow(&settings(&[]), 3);
    assert_eq!(events, [Event::FirstSettings]);
    assert_eq!(*limits.last().unwrap(), DEFAULT_MAX_STREAMS);
}

#[test]
fn anything_but_settings_first_is_refused() {
    let mut ack = settings(&[]);
    ack[4] = ACK;
    assert_eq!(follow(&ack, 100).0, [Event::NotHttp2]);
    let http1 = b"HTTP/1.1 400 Bad Request\r\n";
    assert_eq!(follow(http1, 4).0, [Event::NotHttp2]);
}

#[test]
fn later_settings_frames_change_the_limit() {
    let mut stream = settings(&[(MAX_CONCURRENT_STREAMS, 10)]);
    stream.extend(frame(SETTINGS, ACK, &[])); // the ACK of the client's settings
    stream.extend(frame(0x1, 0x4, &[0x88; 40])); // HEADERS of a response
    stream.extend(frame(0x0, 0x1, &[0; 300])); // DATA, payload never parsed
    let lowered = stream.len();
    stream.extend(settings(&[(0x1, 4096), (MAX_CONCURRENT_STREAMS, 1)]));
    stream.extend(frame(0x8, 0, &[0, 0, 0, 10])); // WINDOW_UPDATE
    stream.extend(settings(&[(0x4, 1 << 20)])); // no limit entry: unchanged
    let raised = stream.len();
    stream.extend(settings(&[(MAX_CONCURRENT_STREAMS, 50)]));
    for step in [1, 7, 64, 4096] {
        let mut f = Frames::default();
        let max = AtomicUsize::new(DEFAULT_MAX_STREAMS);
        assert_eq!(
            f.feed(&stream[..30.min(lowered)], &max),
            Event::FirstSettings
        );
        let mut at = 30;
        let mut check = |upto: usize, want: usize| {
            while at < upto {
                let end = (at + step).min(upto);
                assert_eq!(f.feed(&stream[at..end], &max), Event::Nothing);
                at = end;
            }
            assert_eq!(max.load(Ordering::Relaxed), want, "step {step} at {upto}");
        };
        check(lowered, 10);
        check(raised, 1);
        check(stream.len(), 50);
    }
}

#[tokio::test]
async fn sniffs_through_a_socket_and_passes_every_byte() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut server, client) = tokio::io::duplex(64);
    let mut bytes = settings(&[(MAX_CONCURRENT_STREAMS, 7)]);
    bytes.extend(frame(0x0, 0, b"rest"));
    bytes.extend(settings(&[(MAX_CONCURRENT_STREAMS, 3)]));
    let sent = bytes.clone();
    tokio::spawn(async move {
        for chunk in bytes.chunks(4) {
            server.write_all(chunk).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    let (mut s, max, rx) = Sniff::new(client);
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, sent);
    assert_eq!(rx.await.unwrap(), 7);
    assert_eq!(max.load(Ordering::Relaxed), 3);
}
