//! The chunked transfer coding's decoder (RFC 9112 section 7.1), a pure state machine over the
//! bytes read so far: each `decode` call takes what it can from the front of the buffer and
//! says what it found (data, the trailer section, the end) or that it needs more bytes. Lines
//! are bounded (`MAX_LINE`, `MAX_TRAILERS`), so a peer cannot make it buffer without end.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// The longest chunk-size line, chunk extensions included.
pub const MAX_LINE: usize = 4096;
/// The largest trailer section, and the most fields in it.
pub const MAX_TRAILERS: usize = 16 * 1024;
const MAX_TRAILER_FIELDS: usize = 64;

/// What the front of the buffer held.
#[derive(Debug, PartialEq)]
pub enum Step {
    Data(Bytes),
    /// The trailer section; the body ended with it.
    Trailers(HeaderMap),
    /// The body ended (last chunk, no trailers).
    End,
    /// More bytes are needed.
    More,
}

/// Why a chunked body cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked response body: {0}")]
pub struct ChunkError(&'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// A chunked body's decoder; see the module docs.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { state: State::Size }
    }
}

impl Decoder {
    /// Takes the next step's bytes from the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(size) = size_line(buf)? else {
                        return Ok(Step::More);
                    };
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(rest) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let n = rest.min(buf.len() as u64);
                    let data = buf.split_to(n as usize).freeze();
                    self.state = match rest - n {
                        0 => State::DataEnd,
                        left => State::Data(left),
                    };
                    return Ok(Step::Data(data));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ChunkError("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => return self.trailers(buf),
                State::Done => return Ok(Step::End),
            }
        }
    }

    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkError> {
        if buf.len() < 2 {
            return Ok(Step::More);
        }
        if &buf[..2] == b"\r\n" {
            buf.advance(2);
            self.state = State::Done;
            return Ok(Step::End);
        }
        let window = &buf[..buf.len().min(MAX_TRAILERS)];
        let Some(end) = memchr::memmem::find(window, b"\r\n\r\n") else {
            return match buf.len() >= MAX_TRAILERS {
                true => Err(ChunkError("trailer section too large")),
                false => Ok(Step::More),
            };
        };
        let section = &buf[..end + 4];
        let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
        let parsed = match httparse::parse_headers(section, &mut fields) {
            Ok(httparse::Status::Complete((_, parsed))) => parsed,
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ChunkError("too many trailer fields"))
            }
            _ => return Err(ChunkError("malformed trailer section")),
        };
        let mut map = HeaderMap::with_capacity(parsed.len());
        for f in parsed.iter() {
            let name = HeaderName::from_bytes(f.name.as_bytes())
                .map_err(|_| ChunkError("invalid trailer field name"))?;
            let value = HeaderValue::from_bytes(f.value)
                .map_err(|_| ChunkError("invalid trailer field value"))?;
            map.append(name, value);
        }
        buf.advance(end + 4);
        self.state = State::Done;
        Ok(Step::Trailers(map))
    }
}

/// Reads one chunk-size line (`1*HEXDIG *(BWS ";" ext) CRLF`) off the front of `buf`;
/// `None` until it is whole.
fn size_line(buf: &mut BytesMut) -> Result<Option<u64>, ChunkError> {
    let window = &buf[..buf.len().min(MAX_LINE)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return match buf.len() >= MAX_LINE {
            true => Err(ChunkError("chunk size line too long")),
            false => Ok(None),
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Err(ChunkError("chunk size line not ended by CRLF"));
    }
    let line = &window[..lf - 1];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(ChunkError("chunk size missing"));
    }
    if digits > 16 {
        return Err(ChunkError("chunk size too large"));
    }
    let mut size = 0u64;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
        size = size << 4 | d;
    }
    let rest = &line[digits..];
    let ws = rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    match rest.get(ws) {
        None | Some(b';') => {}
        _ => return Err(ChunkError("invalid bytes after the chunk size")),
    }
    if rest.iter().any(|&b| b == b'\r' || b == 0) {
        return Err(ChunkError("control byte in a chunk extension"));
    }
    buf.advance(lf + 1);
    Ok(Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; the data, the trailers, the error.
    fn run(input: &[u8], step: usize) -> (Vec<u8>, Option<HeaderMap>, Result<(), ChunkError>) {
        let mut dec = Decoder::default();
        let mut buf = BytesMut::new();
        let (mut data, mut trailers) = (Vec::new(), None);
        let mut fed = 0;
        loop {
            match dec.decode(&mut buf) {
                Err(e) => return (data, trailers, Err(e)),
                Ok(Step::Data(d)) => data.extend_from_slice(&d),
                Ok(Step::Trailers(t)) => trailers = Some(t),
                Ok(Step::End) => return (data, trailers, Ok(())),
                Ok(Step::More) => {
                    if fed == input.len() {
                        return (data, trailers, Err(ChunkError("ran out")));
                    }
                    let n = step.min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn decodes_chunks_and_trailers_in_any_split() {
        let input =
            b"5\r\nhello\r\n6;name=\"v\"\r\n world\r\n0\r\ngrpc-status: 0\r\nx-a: b\r\n\r\n";
        for step in [1, 2, 3, 7, input.len()] {
            let (data, trailers, r) = run(input, step);
            assert_eq!(r, Ok(()), "step {step}");
            assert_eq!(data, b"hello world");
            let t = trailers.expect("trailers");
            assert_eq!(t["grpc-status"], "0");
            assert_eq!(t["x-a"], "b");
        }
        let (data, trailers, r) = run(b"A \t;ext\r\n0123456789\r\n0\r\n\r\n", 4);
        assert_eq!((data.len(), trailers, r), (10, None, Ok(())));
    }

    #[test]
    fn ends_exactly_at_the_message_boundary() {
        let mut dec = Decoder::default();
        let mut buf = BytesMut::from(&b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Step::Data(Bytes::from_static(b"abc")))
        );
        assert_eq!(dec.decode(&mut buf), Ok(Step::End));
        assert_eq!(dec.decode(&mut buf), Ok(Step::End), "ended for good");
        assert_eq!(&buf[..], b"HTTP/1.1 200 OK\r\n");
    }

    #[test]
    fn refuses_malformed_framing() {
        for bad in [
            &b"5\nhello\r\n0\r\n\r\n"[..],
            b"\r\nhello\r\n",
            b"x\r\n",
            b"5 5\r\nhello\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"11111111111111111\r\n",
            b"-5\r\nhello\r\n",
            b"5;a\rb\r\nhello\r\n",
            b"0\r\nbad field\r\n\r\n",
        ] {
            let (_, _, r) = run(bad, 3);
            assert!(
                r.as_ref().is_err_and(|e| e.0 != "ran out"),
                "{:?}: {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bounds_lines_and_trailers() {
        let mut long = b"5;".to_vec();
        long.resize(MAX_LINE + 10, b'a');
        assert_eq!(
            run(&long, 1000).2,
            Err(ChunkError("chunk size line too long"))
        );
        let mut big = b"0\r\n".to_vec();
        while big.len() < MAX_TRAILERS + 100 {
            big.extend_from_slice(b"x-long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            run(&big, 4096).2,
            Err(ChunkError("trailer section too large"))
        );
        let mut many = b"0\r\n".to_vec();
        for i in 0..MAX_TRAILER_FIELDS + 1 {
            many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            run(&many, 4096).2,
            Err(ChunkError("too many trailer fields"))
        );
        // The largest size that fits in 64 bits is read, not refused.
        let mut dec = Decoder::default();
        let mut buf = BytesMut::from(&b"ffffffffffffffff\r\nab"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Step::Data(Bytes::from_static(b"ab")))
        );
    }
}
