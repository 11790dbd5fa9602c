//! The access log's own line formats (pure): JSON and logfmt with the configured fields, and
//! the NCSA combined format of nginx and Apache. Run on the writer thread, not on requests.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderValue, Method, Version};

use crate::base::civil::Utc;
use crate::base::headers::ipv4_text;
use crate::config::access::{AccessField, AccessFormat};
use crate::observability::trace_context::Hex;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One finished request as the access log writes it.
#[derive(Debug, Clone)]
pub struct Record {
    pub time: SystemTime,
    pub method: Method,
    pub version: Version,
    pub path: String,
    pub route: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub endpoint: Option<Arc<str>>,
    pub status: u16,
    pub duration_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub request_id: HeaderValue,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub client: IpAddr,
    pub complete: bool,
    /// Kept only for the combined format.
    pub user_agent: Option<HeaderValue>,
}

/// A field's value: text (quoted by the format), text that never needs quoting or escaping
/// (times, ids in hex, addresses, methods), or a number/boolean written bare. Borrowed from
/// the record or from the caller's scratch string: a line allocates nothing per field.
enum Value<'a> {
    Text(&'a str),
    Plain(&'a str),
    Bare(&'a str),
}

impl Record {
    /// The value of `f`; numbers, times and addresses are formatted into `buf` (cleared).
    fn value<'s>(&'s self, f: AccessField, buf: &'s mut String) -> Value<'s> {
        buf.clear();
        let name = |n: &'s Option<Arc<str>>| n.as_deref().unwrap_or("-");
        let int = |n: u64, buf: &'s mut String| {
            buf.push_str(itoa::Buffer::new().format(n));
            Value::Bare(buf)
        };
        match f {
            AccessField::Timestamp => {
                rfc3339_into(self.time, buf);
                Value::Plain(buf)
            }
            // A method is a token: no space, quote, `=` or control character.
            AccessField::Method => Value::Plain(self.method.as_str()),
            AccessField::Path => Value::Text(&self.path),
            AccessField::Route => Value::Text(name(&self.route)),
            AccessField::Service => Value::Text(name(&self.service)),
            AccessField::Endpoint => Value::Text(name(&self.endpoint)),
            AccessField::Status => int(u64::from(self.status), buf),
            AccessField::DurationMs => {
                millis_into(self.duration_ms, buf);
                Value::Bare(buf)
            }
            AccessField::BytesIn => int(self.bytes_in, buf),
            AccessField::BytesOut => int(self.bytes_out, buf),
            AccessField::RequestId => Value::Text(self.request_id.to_str().unwrap_or("-")),
            AccessField::TraceId => {
                buf.push_str(Hex::<32>::new(&self.trace_id).as_str());
                Value::Plain(buf)
            }
            AccessField::SpanId => {
                buf.push_str(Hex::<16>::new(&self.span_id).as_str());
                Value::Plain(buf)
            }
            AccessField::Client => {
                ip_into(self.client, buf);
                Value::Plain(buf)
            }
            AccessField::Complete => Value::Bare(if self.complete { "true" } else { "false" }),
        }
    }
}

/// `ms` rounded to three decimals, exactly as `Display` writes
/// `(ms * 1000.0).round() / 1000.0` (the line's bytes are the contract), without the float
/// formatting machinery: the rounded value is `m` thousandths for an integer `m`, and below
/// 2^50 the nearest double to `m / 1000` is closer to it than half a thousandth, so its
/// shortest decimal is `m / 1000` itself, with trailing zeros (and a bare `.`) left out.
fn millis_into(ms: f64, out: &mut String) {
    let m = (ms * 1000.0).round();
    if !(m.is_sign_positive() && m < (1u64 << 50) as f64) {
        let _ = write!(out, "{}", m / 1000.0);
        return;
    }
    let m = m as u64;
    out.push_str(itoa::Buffer::new().format(m / 1000));
    let mut frac = (m % 1000) as u32;
    if frac == 0 {
        return;
    }
    let mut b = *b".000";
    digits(&mut b[1..], frac);
    let mut len = 4;
    while frac.is_multiple_of(10) {
        frac /= 10;
        len -= 1;
    }
    out.push_str(std::str::from_utf8(&b[..len]).unwrap_or("-"));
}

/// The client address as `Display` writes it; IPv4 without the formatting machinery.
fn ip_into(ip: IpAddr, out: &mut String) {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 15];
            out.push_str(std::str::from_utf8(ipv4_text(v4, &mut b)).unwrap_or("-"));
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

/// Appends `r` as one line (with its newline) in `format`.
pub fn line(r: &Record, format: AccessFormat, fields: &[AccessField], out: &mut String) {
    match format {
        AccessFormat::Json => json(r, fields, out),
        AccessFormat::Logfmt => logfmt(r, fields, out),
        AccessFormat::Combined => combined(r, out),
    }
    out.push('\n');
}

thread_local! {
    /// The writer thread's scratch string for formatted values, kept across lines so that a
    /// line allocates nothing.
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn json(r: &Record, fields: &[AccessField], out: &mut String) {
    SCRATCH.with_borrow_mut(|buf| json_with(r, fields, out, buf));
}

fn json_with(r: &Record, fields: &[AccessField], out: &mut String, buf: &mut String) {
    out.push('{');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(json_key(*f));
        match r.value(*f, buf) {
            Value::Text(t) => json_string(t, out),
            Value::Plain(t) => {
                out.push('"');
                out.push_str(t);
                out.push('"');
            }
            Value::Bare(b) => out.push_str(b),
        }
    }
    out.push('}');
}

/// A field's name as a JSON object key with its colon, written out once here (a test holds
/// it to `AccessField::name`): one copy per field instead of four pushes.
fn json_key(f: AccessField) -> &'static str {
    match f {
        AccessField::Timestamp => "\"timestamp\":",
        AccessField::Method => "\"method\":",
        AccessField::Path => "\"path\":",
        AccessField::Route => "\"route\":",
        AccessField::Service => "\"service\":",
        AccessField::Endpoint => "\"endpoint\":",
        AccessField::Status => "\"status\":",
        AccessField::DurationMs => "\"duration_ms\":",
        AccessField::BytesIn => "\"bytes_in\":",
        AccessField::BytesOut => "\"bytes_out\":",
        AccessField::RequestId => "\"request_id\":",
        AccessField::TraceId => "\"trace_id\":",
        AccessField::SpanId => "\"span_id\":",
        AccessField::Client => "\"client\":",
        AccessField::Complete => "\"complete\":",
    }
}

/// `s` as a JSON string: written as it is when nothing in it needs escaping (the usual case),
/// else escaped by serde_json. (The check looks at every byte without stopping early, which
/// the compiler turns into a few wide compares.)
fn json_string(s: &str, out: &mut String) {
    let escape = s
        .bytes()
        .fold(false, |e, b| e | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if !escape {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a str serialises"));
    }
}

fn logfmt(r: &Record, fields: &[AccessField], out: &mut String) {
    SCRATCH.with_borrow_mut(|buf| logfmt_with(r, fields, out, buf));
}

fn logfmt_with(r: &Record, fields: &[AccessField], out: &mut String, buf: &mut String) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(f.name());
        out.push('=');
        match r.value(*f, buf) {
            Value::Text(t) => logfmt_value(t, out),
            Value::Plain(b) | Value::Bare(b) => out.push_str(b),
        }
    }
}

/// A logfmt value: bare when it has no space, `=`, quote or control character (and is not
/// empty), else quoted with `"` and `\` escaped.
fn logfmt_value(s: &str, out: &mut String) {
    let plain = !s.is_empty()
        && !s
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if plain {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `client - - [10/Oct/2000:13:55:36 +0000] "GET /path HTTP/1.1" 200 2326 "-" "agent"`. The
/// referer is always `-` (its query strings carry tokens); bytes `-` when none were sent.
fn combined(r: &Record, out: &mut String) {
    let t = Utc::of(r.time);
    let version = match r.version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let _ = write!(
        out,
        "{} - - [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"{} {} {}\" {} ",
        r.client,
        t.day,
        MONTHS[(t.month - 1) as usize],
        t.year,
        t.hour,
        t.minute,
        t.second,
        r.method,
        quoted_inner(&r.path),
        version,
        r.status
    );
    match r.bytes_out {
        0 => out.push('-'),
        n => {
            let _ = write!(out, "{n}");
        }
    }
    let agent = r.user_agent.as_ref().and_then(|v| v.to_str().ok());
    let _ = write!(out, " \"-\" \"{}\"", quoted_inner(agent.unwrap_or("-")));
}

/// Text safe inside a combined line's quotes: `"` and `\` escaped, control bytes as `\xHH`
/// (as nginx escapes them).
fn quoted_inner(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 in UTC with microseconds: `2025-06-01T12:00:00.123456Z` (the tests' view of
/// `rfc3339_into`).
#[cfg(test)]
fn rfc3339(t: SystemTime) -> String {
    let mut s = String::with_capacity(27);
    rfc3339_into(t, &mut s);
    s
}

/// `rfc3339`, appended to `out`: digits written straight into a fixed pattern (it runs once
/// per access log line; the formatting machinery cost ten times as much).
fn rfc3339_into(t: SystemTime, out: &mut String) {
    let u = Utc::of(t);
    if !(0..=9999).contains(&u.year) {
        let _ = write!(out, "{:04}-{:02}-{:02}T", u.year, u.month, u.day);
        let _ = write!(
            out,
            "{:02}:{:02}:{:02}.{:06}Z",
            u.hour, u.minute, u.second, u.micros
        );
        return;
    }
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut b[0..4], u.year as u32);
    digits(&mut b[5..7], u.month);
    digits(&mut b[8..10], u.day);
    digits(&mut b[11..13], u.hour);
    digits(&mut b[14..16], u.minute);
    digits(&mut b[17..19], u.second);
    digits(&mut b[20..26], u.micros);
    out.push_str(std::str::from_utf8(&b).unwrap_or("-"));
}

/// `v`'s last `dst.len()` decimal digits, zero-padded, into `dst`.
fn digits(dst: &mut [u8], mut v: u32) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests;
