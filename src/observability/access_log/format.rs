//! The access log's own line formats (pure): JSON and logfmt with the configured fields, and
//! the NCSA combined format of nginx and Apache. Run on the writer thread, not on requests.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderValue, Method, Version};

use crate::base::civil::Utc;
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

/// A field's value: text (quoted by the format) or a number/boolean written bare. Borrowed
/// from the record or from the caller's scratch string: a line allocates nothing per field.
enum Value<'a> {
    Text(&'a str),
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
                Value::Text(buf)
            }
            AccessField::Method => Value::Text(self.method.as_str()),
            AccessField::Path => Value::Text(&self.path),
            AccessField::Route => Value::Text(name(&self.route)),
            AccessField::Service => Value::Text(name(&self.service)),
            AccessField::Endpoint => Value::Text(name(&self.endpoint)),
            AccessField::Status => int(u64::from(self.status), buf),
            AccessField::DurationMs => {
                let _ = write!(buf, "{}", (self.duration_ms * 1000.0).round() / 1000.0);
                Value::Bare(buf)
            }
            AccessField::BytesIn => int(self.bytes_in, buf),
            AccessField::BytesOut => int(self.bytes_out, buf),
            AccessField::RequestId => Value::Text(self.request_id.to_str().unwrap_or("-")),
            AccessField::TraceId => {
                buf.push_str(Hex::<32>::new(&self.trace_id).as_str());
                Value::Text(buf)
            }
            AccessField::SpanId => {
                buf.push_str(Hex::<16>::new(&self.span_id).as_str());
                Value::Text(buf)
            }
            AccessField::Client => {
                let _ = write!(buf, "{}", self.client);
                Value::Text(buf)
            }
            AccessField::Complete => Value::Bare(if self.complete { "true" } else { "false" }),
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
        json_string(f.name(), out);
        out.push(':');
        match r.value(*f, buf) {
            Value::Text(t) => json_string(t, out),
            Value::Bare(b) => out.push_str(b),
        }
    }
    out.push('}');
}

/// `s` as a JSON string: written as it is when nothing in it needs escaping (the usual case),
/// else escaped by serde_json.
fn json_string(s: &str, out: &mut String) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
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
            Value::Bare(b) => out.push_str(b),
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
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn record() -> Record {
        Record {
            time: UNIX_EPOCH + Duration::from_micros(971_186_136_123_456),
            method: Method::GET,
            version: Version::HTTP_11,
            path: "/api/a b\"c".into(),
            route: Some("api".into()),
            service: None,
            endpoint: None,
            status: 200,
            duration_ms: 1.23456,
            bytes_in: 0,
            bytes_out: 2326,
            request_id: HeaderValue::from_static("rid-1"),
            trace_id: [0xab; 16],
            span_id: [0x01; 8],
            client: "192.0.2.7".parse().unwrap(),
            complete: true,
            user_agent: Some(HeaderValue::from_static("curl/8.0 \"x\"")),
        }
    }

    #[test]
    fn json_lines_have_the_chosen_fields_in_order_and_parse() {
        let mut s = String::new();
        let fields = [AccessField::Status, AccessField::Path, AccessField::Service];
        line(&record(), AccessFormat::Json, &fields, &mut s);
        assert_eq!(
            s,
            "{\"status\":200,\"path\":\"/api/a b\\\"c\",\"service\":\"-\"}\n"
        );
        let mut all = String::new();
        line(&record(), AccessFormat::Json, &AccessField::ALL, &mut all);
        let v: serde_json::Value = serde_json::from_str(&all).unwrap();
        assert_eq!(v["timestamp"], "2000-10-10T13:55:36.123456Z");
        assert_eq!(v["duration_ms"], 1.235);
        assert_eq!(v["trace_id"], "ab".repeat(16));
        assert_eq!(v["complete"], true);
        assert_eq!(v.as_object().unwrap().len(), AccessField::ALL.len());
    }

    #[test]
    fn json_strings_round_trip_with_and_without_escapes() {
        for text in [
            "plain /api/x",
            "a\"b\\c",
            "tab\there\u{1}",
            "é ✓ \u{7f}",
            "",
        ] {
            let mut out = String::new();
            json_string(text, &mut out);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, text, "{out}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let cases = [
            (0, "1970-01-01T00:00:00.000000Z"),
            (971_186_136_123_456, "2000-10-10T13:55:36.123456Z"),
            (4_102_444_799_999_999, "2099-12-31T23:59:59.999999Z"),
        ];
        for (micros, want) in cases {
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_micros(micros)), want);
        }
    }

    #[test]
    fn logfmt_quotes_what_needs_it() {
        let mut s = String::new();
        let fields = [AccessField::Method, AccessField::Path, AccessField::Status];
        line(&record(), AccessFormat::Logfmt, &fields, &mut s);
        assert_eq!(s, "method=GET path=\"/api/a b\\\"c\" status=200\n");
        let mut e = String::new();
        logfmt_value("", &mut e);
        logfmt_value("a=b", &mut e);
        logfmt_value("x\ny", &mut e);
        assert_eq!(e, "\"\"\"a=b\"\"x\\ny\"");
    }

    #[test]
    fn combined_matches_nginx() {
        let mut s = String::new();
        line(&record(), AccessFormat::Combined, &[], &mut s);
        assert_eq!(
            s,
            "192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] \"GET /api/a b\\\"c HTTP/1.1\" 200 2326 \"-\" \"curl/8.0 \\\"x\\\"\"\n"
        );
        let mut r = record();
        (r.bytes_out, r.user_agent, r.version) = (0, None, Version::HTTP_2);
        let mut s = String::new();
        line(&r, AccessFormat::Combined, &[], &mut s);
        assert!(s.ends_with("HTTP/2.0\" 200 - \"-\" \"-\"\n"), "{s}");
    }
}
