//! Portcullis: what HTTP/1.1 connections borrow per thread instead of keeping while idle
//! (see PORTCULLIS.md, change 2): write buffers, taken when a message is encoded and given
//! back when it has all been written; header maps, given back once a message head was encoded
//! and taken when one is parsed. At most `KEEP` of each wait per thread.

use std::cell::RefCell;
use std::thread::LocalKey;

use http::HeaderMap;

const KEEP: usize = 32;
/// Write buffers larger than this are freed rather than kept.
const MAX_WRITE_BUF: usize = 64 * 1024;
/// Header maps with room for more fields than this are freed rather than kept.
const MAX_HEADERS: usize = 128;

thread_local! {
    static WRITE_BUFS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static HEADER_MAPS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// One item back from `pool`, if any waits.
fn take<T: 'static>(pool: &'static LocalKey<RefCell<Vec<T>>>) -> Option<T> {
    pool.try_with(|f| f.borrow_mut().pop()).ok().flatten()
}

/// Keeps `item` in `pool` unless `KEEP` wait already (then it is dropped).
fn give<T: 'static>(pool: &'static LocalKey<RefCell<Vec<T>>>, item: T) {
    let _ = pool.try_with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < KEEP {
            f.push(item);
        }
    });
}

pub(crate) fn take_write_buf() -> Vec<u8> {
    take(&WRITE_BUFS).unwrap_or_else(|| Vec::with_capacity(super::io::INIT_BUFFER_SIZE))
}

pub(crate) fn give_write_buf(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_WRITE_BUF {
        return;
    }
    buf.clear();
    give(&WRITE_BUFS, buf);
}

pub(crate) fn take_headers() -> Option<HeaderMap> {
    take(&HEADER_MAPS)
}

pub(crate) fn give_headers(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_HEADERS {
        return;
    }
    // An encoded head's map was drained already; `clear` would still rewrite its index.
    if !map.is_empty() {
        map.clear();
    }
    give(&HEADER_MAPS, map);
}
