//! Request path normalisation, done once before routing so that `/api/public/../admin` or
//! `/%61dmin` cannot dodge a route: percent-decoding of unreserved characters, rejection of
//! ambiguous encodings and of dot-segments with path parameters (`..;`), RFC 3986
//! dot-segment removal and optional slash merging.

use std::borrow::Cow;
use std::fmt;

/// How request paths are normalised (`[server.path]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormalizeOptions {
    /// Merge runs of `/` into one (`//a///b` -> `/a/b`).
    pub merge_slashes: bool,
    /// Reject `%2F` instead of keeping it encoded.
    pub reject_encoded_slash: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            merge_slashes: true,
            reject_encoded_slash: true,
        }
    }
}

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// `%2F` while `reject_encoded_slash` is on.
    EncodedSlash,
    /// A literal `\` or `%5C`.
    Backslash,
    /// A literal NUL or `%00`.
    Nul,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// A dot-segment carrying a path parameter (`..;x`, `.;`, `%2e%2e;`): Java servers
    /// (Tomcat, Jetty, Spring) drop the parameter and resolve `..;` as `..`, past the route
    /// the gateway chose.
    DotSegmentParameter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with `/`",
            PathError::EncodedSlash => "encoded slash (%2F) in path",
            PathError::Backslash => "backslash in path",
            PathError::Nul => "NUL byte in path",
            PathError::BadPercentEncoding => "malformed percent-encoding in path",
            PathError::DotSegmentParameter => "dot-segment with a parameter (`..;`) in path",
        })
    }
}

impl std::error::Error for PathError {}

/// Normalises the path part of a request target (no query).
///
/// Unreserved characters (`A-Z a-z 0-9 - . _ ~`) are percent-decoded, every other `%XX` is
/// kept with uppercase hex digits; `%2F` is refused (or kept, see [`NormalizeOptions`]); a
/// backslash, NUL, malformed `%`, or a dot-segment with a path parameter (`..;x`, `.;`, also
/// as `%2e%2e;` or `..%3B`) is refused; then dot-segments are removed (RFC 3986
/// §5.2.4, `..` above the root stays at the root) and, if enabled, runs of `/` are merged. A
/// trailing slash is preserved. An already-normal path is returned borrowed, without
/// allocating.
pub fn normalize_path<'a>(
    path: &'a str,
    opts: &NormalizeOptions,
) -> Result<Cow<'a, str>, PathError> {
    let Some(body) = path.strip_prefix('/') else {
        return Err(PathError::NotAbsolute);
    };
    if plainly_normal(body.as_bytes(), opts.merge_slashes) {
        return Ok(Cow::Borrowed(path));
    }
    normalize_checked(path, body, opts)
}

/// `normalize_path` without the fast path: every segment checked.
pub(crate) fn normalize_checked<'a>(
    path: &'a str,
    body: &str,
    opts: &NormalizeOptions,
) -> Result<Cow<'a, str>, PathError> {
    let mut dirty = false;
    let mut segs = body.split('/').peekable();
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        if seg == "." || seg == ".." || (seg.is_empty() && !last && opts.merge_slashes) {
            dirty = true;
        }
        dirty |= scan_segment(seg, opts)?;
    }
    if dirty {
        Ok(Cow::Owned(rebuild(body, opts)))
    } else {
        Ok(Cow::Borrowed(path))
    }
}

/// The common case in one pass over the bytes: no percent sign, backslash or NUL, no
/// segment that starts with a dot, and no empty segment to merge. Anything else (even a
/// harmless `.well-known`) takes the full check.
fn plainly_normal(body: &[u8], merge_slashes: bool) -> bool {
    let mut prev = b'/';
    for &c in body {
        match c {
            b'%' | b'\\' | 0 => return false,
            b'.' if prev == b'/' => return false,
            b'/' if prev == b'/' && merge_slashes => return false,
            _ => {}
        }
        prev = c;
    }
    true
}

/// Validates one raw segment; tells whether its percent-encoding needs rewriting.
fn scan_segment(seg: &str, opts: &NormalizeOptions) -> Result<bool, PathError> {
    if dot_segment_with_parameter(seg) {
        return Err(PathError::DotSegmentParameter);
    }
    let b = seg.as_bytes();
    let mut dirty = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => return Err(PathError::Backslash),
            0 => return Err(PathError::Nul),
            b'%' => {
                let (Some(hi), Some(lo)) = (hex_at(b, i + 1), hex_at(b, i + 2)) else {
                    return Err(PathError::BadPercentEncoding);
                };
                match (hi << 4) | lo {
                    b'/' if opts.reject_encoded_slash => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::Backslash),
                    0 => return Err(PathError::Nul),
                    v if is_unreserved(v) => dirty = true,
                    _ => dirty |= b[i + 1..i + 3].iter().any(u8::is_ascii_lowercase),
                }
                i += 3;
            }
            _ => i += 1,
        }
    }
    Ok(dirty)
}

/// Whether a raw segment is `.` or `..` followed by a path parameter (`;...`), with `.`
/// and `;` literal or percent-encoded (`%2E`, `%3B`, either case).
fn dot_segment_with_parameter(seg: &str) -> bool {
    let b = seg.as_bytes();
    let (mut i, mut dots) = (0, 0);
    while i < b.len() {
        let (c, len) = match b[i] {
            b'%' => match (hex_at(b, i + 1), hex_at(b, i + 2)) {
                (Some(hi), Some(lo)) => ((hi << 4) | lo, 3),
                _ => return false,
            },
            c => (c, 1),
        };
        match c {
            b'.' if dots < 2 => dots += 1,
            b';' => return dots > 0,
            _ => return false,
        }
        i += len;
    }
    false
}

/// Builds the normal form of an already validated path (`body` is the path after its `/`).
fn rebuild(body: &str, opts: &NormalizeOptions) -> String {
    // `out` is the output stack: "/seg" per kept segment.
    let mut out = String::with_capacity(body.len() + 1);
    let mut segs = body.split('/').peekable();
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        let start = out.len();
        out.push('/');
        decode_into(seg, &mut out);
        match &out[start + 1..] {
            "." => {
                out.truncate(start);
                if last {
                    out.push('/');
                }
            }
            ".." => {
                out.truncate(start);
                if let Some(parent) = out.rfind('/') {
                    out.truncate(parent);
                }
                if last {
                    out.push('/');
                }
            }
            "" if opts.merge_slashes && !last => out.truncate(start),
            _ => {}
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Appends `seg` with unreserved characters decoded and other escapes in uppercase.
fn decode_into(seg: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let b = seg.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (hex_at(b, i + 1), hex_at(b, i + 2)) else {
            // Unreachable after validation; keep the byte as it is.
            i += 1;
            continue;
        };
        out.push_str(&seg[run..i]);
        let v = (hi << 4) | lo;
        if is_unreserved(v) {
            out.push(char::from(v));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(hi)]));
            out.push(char::from(HEX[usize::from(lo)]));
        }
        i += 3;
        run = i;
    }
    out.push_str(&seg[run..]);
}

fn hex_at(b: &[u8], i: usize) -> Option<u8> {
    let c = *b.get(i)?;
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}
