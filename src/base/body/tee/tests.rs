//! Unit tests of `tee`.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Empty, Full};

use super::*;

/// A chunked body: yields `chunks` one by one (without an exact size), then an error if
/// `fail`, and only reports its end by returning `None`.
struct Chunks {
    chunks: VecDeque<&'static [u8]>,
    fail: bool,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
        match self.chunks.pop_front() {
            Some(c) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(c))))),
            None if std::mem::take(&mut self.fail) => Poll::Ready(Some(Err("upstream reset"))),
            None => Poll::Ready(None),
        }
    }
}

fn chunks(list: &[&'static [u8]], fail: bool) -> Chunks {
    Chunks {
        chunks: list.iter().copied().collect(),
        fail,
    }
}

/// What the hooks saw.
#[derive(Default, Debug, PartialEq)]
struct Seen {
    completed: Vec<Bytes>,
    abandoned: usize,
}

fn tee<B: Body<Data = Bytes>>(inner: B, limit: usize) -> (TeeBody<B>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (a, b) = (seen.clone(), seen.clone());
    let body = TeeBody::new(
        inner,
        limit,
        Box::new(move |bytes| a.lock().unwrap().completed.push(bytes)),
        Some(Box::new(move || b.lock().unwrap().abandoned += 1)),
    );
    (body, seen)
}

fn outcome(seen: &Arc<Mutex<Seen>>) -> (Vec<Bytes>, usize) {
    let s = seen.lock().unwrap();
    (s.completed.clone(), s.abandoned)
}

#[tokio::test]
async fn full_body_passes_through_and_completes() {
    let (body, seen) = tee(Full::new(Bytes::from_static(b"hello")), 1024);
    let out = body.collect().await.unwrap().to_bytes();
    assert_eq!(out, "hello");
    assert_eq!(outcome(&seen), (vec![Bytes::from_static(b"hello")], 0));
}

#[tokio::test]
async fn chunked_body_is_reassembled_in_order() {
    let (body, seen) = tee(chunks(&[b"ab", b"", b"cd", b"e"], false), 5);
    let mut body = std::pin::pin!(body);
    let mut frames = Vec::new();
    while let Some(f) = body.frame().await {
        frames.push(f.unwrap().into_data().unwrap());
    }
    assert_eq!(frames, ["ab", "", "cd", "e"]);
    assert_eq!(outcome(&seen), (vec![Bytes::from_static(b"abcde")], 0));
}

#[tokio::test]
async fn past_the_limit_the_copy_is_dropped_but_the_stream_is_whole() {
    let (body, seen) = tee(chunks(&[b"abc", b"def", b"g"], false), 5);
    let out = body.collect().await.unwrap().to_bytes();
    assert_eq!(out, "abcdefg");
    assert_eq!(outcome(&seen), (vec![], 1));
}

#[tokio::test]
async fn a_known_length_over_the_limit_abandons_at_once() {
    let (body, seen) = tee(Full::new(Bytes::from_static(b"0123456789")), 4);
    assert_eq!(outcome(&seen), (vec![], 1));
    assert_eq!(body.collect().await.unwrap().to_bytes(), "0123456789");
    assert_eq!(outcome(&seen), (vec![], 1));
}

#[tokio::test]
async fn an_error_abandons_and_is_passed_on() {
    let (body, seen) = tee(chunks(&[b"ab"], true), 100);
    let err = body.collect().await.unwrap_err();
    assert_eq!(err, "upstream reset");
    assert_eq!(outcome(&seen), (vec![], 1));
}

#[tokio::test]
async fn dropping_early_abandons_once() {
    let (body, seen) = tee(chunks(&[b"ab", b"cd"], false), 100);
    let mut body = Box::pin(body);
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "ab");
    drop(body);
    assert_eq!(outcome(&seen), (vec![], 1));
}

#[tokio::test]
async fn dropping_after_completion_fires_nothing_more() {
    let (body, seen) = tee(Full::new(Bytes::from_static(b"x")), 1);
    let mut body = Box::pin(body);
    // Full reports its end after its only frame: completion fires without a final poll.
    body.frame().await.unwrap().unwrap();
    assert!(body.is_end_stream());
    drop(body);
    assert_eq!(outcome(&seen), (vec![Bytes::from_static(b"x")], 0));
}

#[tokio::test]
async fn an_empty_body_completes_even_if_never_polled() {
    let (body, seen) = tee(Empty::<Bytes>::new(), 10);
    drop(body);
    assert_eq!(outcome(&seen), (vec![Bytes::new()], 0));
}

#[tokio::test]
async fn without_an_abandon_hook_failures_are_silent() {
    let done = Arc::new(Mutex::new(0));
    let d = done.clone();
    let body = TeeBody::new(
        chunks(&[b"ab"], true),
        10,
        Box::new(move |_| *d.lock().unwrap() += 1),
        None,
    );
    assert!(body.collect().await.is_err());
    assert_eq!(*done.lock().unwrap(), 0);
}

#[test]
fn size_hint_and_end_pass_through() {
    let (body, _seen) = tee(Full::new(Bytes::from_static(b"abc")), 10);
    assert_eq!(body.size_hint().exact(), Some(3));
    assert!(!body.is_end_stream());
}
