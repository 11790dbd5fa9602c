//! `[server]`, `[server.path]`, `[server.http2]` and `[log]`: defaults, ranges, listen
//! addresses, proxy CIDRs, HTTP/2 limits.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use ipnet::IpNet;
use toml::Spanned;

use super::ctx::Ctx;
use super::document::Section;
use super::fields::Fields;
use crate::config::raw::{RawHttp2, RawLog, RawServer, StrList};
use crate::config::tls::Http2Settings;
use crate::config::{LogFormat, LogSettings, ServerSettings};

const KIB: i64 = 1024;
const MIB: i64 = 1024 * 1024;

/// Validates `[server]`; absent or invalid values keep their defaults (errors are in `ctx`).
/// `tls`: there are `[[tls]]` listeners, so `listen = []` (no plaintext listener) is fine.
pub(super) fn server(
    section: Option<&Section<RawServer>>,
    tls: bool,
    ctx: &mut Ctx<'_>,
) -> ServerSettings {
    let mut out = ServerSettings::default();
    let Some(section) = section else {
        return out;
    };
    let raw = &section.raw;
    if let Some(v) = &raw.listen {
        out.listen = listen(v, tls, ctx);
    }
    if let Some(v) = &raw.threads {
        let hint = "0 means one thread per CPU core";
        if let Some(n) = ctx.int_in(v, "server.threads", 0, 1024, hint) {
            out.threads = n as usize;
        }
    }
    if let Some(v) = &raw.max_header_bytes {
        let hint = "bytes, from 1 KiB (1024) to 1 MiB (1048576)";
        if let Some(n) = ctx.int_in(v, "server.max_header_bytes", KIB, MIB, hint) {
            out.max_header_bytes = n as usize;
        }
    }
    if let Some(v) = &raw.max_body_bytes {
        let hint = "bytes; 0 means unlimited";
        if let Some(n) = ctx.int_in(v, "server.max_body_bytes", 0, i64::MAX, hint) {
            out.max_body_bytes = n as u64;
        }
    }
    let timeouts = [
        (
            &raw.header_read_timeout,
            "server.header_read_timeout",
            &mut out.header_read_timeout,
        ),
        (
            &raw.keepalive_timeout,
            "server.keepalive_timeout",
            &mut out.keepalive_timeout,
        ),
        (
            &raw.upstream_idle_timeout,
            "server.upstream_idle_timeout",
            &mut out.upstream_idle_timeout,
        ),
        (
            &raw.shutdown_grace,
            "server.shutdown_grace",
            &mut out.shutdown_grace,
        ),
        (
            &raw.websocket_idle_timeout,
            "server.websocket_idle_timeout",
            &mut out.websocket_idle_timeout,
        ),
    ];
    for (value, key, slot) in timeouts {
        if let Some(d) = value.as_ref().and_then(|v| ctx.timeout(v, key)) {
            *slot = d;
        }
    }
    if let Some(v) = &raw.max_connections {
        let hint = "from 1 to 1000000";
        if let Some(n) = ctx.int_in(v, "server.max_connections", 1, 1_000_000, hint) {
            out.max_connections = n as usize;
        }
    }
    if let Some(v) = &raw.trusted_proxies {
        out.trusted_proxies = trusted_proxies(v, ctx);
    }
    out.http2 = http2(raw.http2.as_ref(), out.max_header_bytes, ctx);
    if let Some(p) = &raw.path {
        if let Some(b) = &p.merge_slashes {
            out.path.merge_slashes = *b.get_ref();
        }
        if let Some(b) = &p.reject_encoded_slash {
            out.path.reject_encoded_slash = *b.get_ref();
        }
    }
    out
}

fn listen(v: &Spanned<StrList>, tls: bool, ctx: &mut Ctx<'_>) -> Vec<SocketAddr> {
    let items = v.get_ref().items(v.span());
    if items.is_empty() && !tls {
        let hint = "e.g. listen = [\"127.0.0.1:8080\"] (it may be empty with [[tls]] listeners)"
            .to_owned();
        ctx.error(
            v.span(),
            "server.listen",
            "at least one listen address is required",
            Some(hint),
        );
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for (i, (text, span)) in items.into_iter().enumerate() {
        let key = match v.get_ref() {
            StrList::One(_) => "server.listen".to_owned(),
            StrList::Many(_) => format!("server.listen[{i}]"),
        };
        let Some(text) = ctx.expand(text, span.clone(), &key) else {
            continue;
        };
        match socket_addr(&text, span.clone(), &key, ctx) {
            Some(addr) if out.contains(&addr) => {
                ctx.error(span, key, format!("duplicate listen address {addr}"), None);
            }
            Some(addr) => out.push(addr),
            None => {}
        }
    }
    out
}

/// One `IP:port` listen address (already `${ENV}`-expanded) written at `span`; `None` after
/// reporting.
pub(super) fn socket_addr(
    text: &str,
    span: Range<usize>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let hint = if text.parse::<u16>().is_ok() {
        format!("add an IP address, e.g. \"0.0.0.0:{text}\"")
    } else {
        "write IP:port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\" (no host names)".to_owned()
    };
    let msg = format!("invalid listen address \"{text}\"");
    ctx.error(span, key, msg, Some(hint));
    None
}

fn trusted_proxies(v: &Spanned<StrList>, ctx: &mut Ctx<'_>) -> Vec<IpNet> {
    let mut out = Vec::new();
    for (i, (text, span)) in v.get_ref().items(v.span()).into_iter().enumerate() {
        let key = match v.get_ref() {
            StrList::One(_) => "server.trusted_proxies".to_owned(),
            StrList::Many(_) => format!("server.trusted_proxies[{i}]"),
        };
        let Some(text) = ctx.expand(text, span.clone(), &key) else {
            continue;
        };
        let parsed = if text.contains('/') {
            text.parse::<IpNet>().map(|n| n.trunc()).ok()
        } else {
            text.parse::<IpAddr>().map(IpNet::from).ok()
        };
        match parsed {
            Some(net) => out.push(net),
            None => {
                let hint =
                    "write a CIDR such as \"10.0.0.0/8\" or a single IP such as \"127.0.0.1\"";
                let msg = format!("invalid IP address or CIDR \"{text}\"");
                ctx.error(span, key, msg, Some(hint.to_owned()));
            }
        }
    }
    out
}

/// Validates `[server.http2]`; the header list limit defaults to `max_header_bytes`.
fn http2(raw: Option<&RawHttp2>, max_header_bytes: usize, ctx: &mut Ctx<'_>) -> Http2Settings {
    let mut out = Http2Settings::with_header_limit(max_header_bytes);
    let Some(raw) = raw else {
        return out;
    };
    let mut f = Fields {
        ctx,
        prefix: "server.http2".to_owned(),
        ok: true,
    };
    f.flag(&raw.enabled, &mut out.enabled);
    let streams = "streams at once on one connection, from 1 to 10000";
    let (v, s) = (&raw.max_concurrent_streams, &mut out.max_concurrent_streams);
    f.int(v, "max_concurrent_streams", 1, 10_000, streams, s);
    let header = "bytes, from 1 KiB (1024) to 1 MiB (1048576)";
    let (v, s) = (&raw.max_header_list_size, &mut out.max_header_list_size);
    f.int(v, "max_header_list_size", KIB, MIB, header, s);
    let window = "bytes, from 65535 to 2147483647";
    let max_window = i64::from(i32::MAX);
    let (v, s) = (
        &raw.initial_stream_window_size,
        &mut out.initial_stream_window_size,
    );
    f.int(
        v,
        "initial_stream_window_size",
        65_535,
        max_window,
        window,
        s,
    );
    let (v, s) = (
        &raw.initial_connection_window_size,
        &mut out.initial_connection_window_size,
    );
    f.int(
        v,
        "initial_connection_window_size",
        65_535,
        max_window,
        window,
        s,
    );
    if let Some(v) = &raw.keepalive_interval {
        let key = "server.http2.keepalive_interval";
        out.keepalive_interval = f.check(|ctx, _| ctx.timeout(v, key));
    }
    f.duration(
        &raw.keepalive_timeout,
        "keepalive_timeout",
        false,
        &mut out.keepalive_timeout,
    );
    let resets = "from 1 to 100000; beyond it the connection is closed with GOAWAY";
    let (v, s) = (
        &raw.max_pending_accept_reset_streams,
        &mut out.max_pending_accept_reset_streams,
    );
    f.int(v, "max_pending_accept_reset_streams", 1, 100_000, resets, s);
    let (v, s) = (
        &raw.max_local_error_reset_streams,
        &mut out.max_local_error_reset_streams,
    );
    f.int(v, "max_local_error_reset_streams", 1, 100_000, resets, s);
    let (v, s) = (&raw.max_cancelled_streams, &mut out.max_cancelled_streams);
    f.int(v, "max_cancelled_streams", 1, 100_000, resets, s);
    out
}

/// Validates `[log]`.
pub(super) fn log(section: Option<&Section<RawLog>>, ctx: &mut Ctx<'_>) -> LogSettings {
    let mut out = LogSettings {
        access_log: true,
        format: LogFormat::Text,
    };
    let Some(section) = section else {
        return out;
    };
    if let Some(b) = &section.raw.access_log {
        out.access_log = *b.get_ref();
    }
    if let Some(f) = &section.raw.format {
        let choices = [("text", LogFormat::Text), ("json", LogFormat::Json)];
        if let Some(format) = ctx.one_of(f, "log.format", &choices) {
            out.format = format;
        }
    }
    out
}
