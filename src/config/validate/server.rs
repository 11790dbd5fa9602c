//! `[server]`, `[server.path]` and `[server.http2]`: defaults, ranges, listen
//! addresses, proxy CIDRs, HTTP/2 limits.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use crate::config::raw::Spanned;
use ipnet::IpNet;

use super::ctx::Ctx;
use super::document::Section;
use super::fields::{expanded, Entry};
use super::fields::{fields, Fields};
use crate::config::raw::{RawHttp2, RawServer, StrList};
use crate::config::tls::Http2Settings;
use crate::config::ServerSettings;

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
    if let Some(v) = &raw.trusted_proxies {
        out.trusted_proxies = trusted_proxies(v, ctx);
    }
    let mut f = Fields::new(ctx, "server");
    fields!(f, raw, out;
        threads: int(0, 1024, "0 means one thread per CPU core");
        max_header_bytes: int(KIB, MIB, "bytes, from 1 KiB (1024) to 1 MiB (1048576)");
        max_body_bytes: int(0, i64::MAX, "bytes; 0 means unlimited");
        header_read_timeout: timeout;
        keepalive_timeout: timeout;
        upstream_idle_timeout: timeout;
        shutdown_grace: timeout;
        websocket_idle_timeout: timeout;
        max_connections: int(1, 1_000_000, "from 1 to 1000000");
    );
    if let Some(p) = &raw.path {
        let path = &mut out.path;
        fields!(f, p, path; merge_slashes: flag; reject_encoded_slash: flag;);
    }
    out.http2 = http2(raw.http2.as_ref(), out.max_header_bytes, ctx);
    out
}

fn listen(v: &Spanned<StrList>, tls: bool, ctx: &mut Ctx<'_>) -> Vec<SocketAddr> {
    if v.get_ref().items(v.span()).is_empty() && !tls {
        let hint = "e.g. listen = [\"127.0.0.1:8080\"] (it may be empty with [[tls]] listeners)";
        let msg = "at least one listen address is required";
        ctx.error(v.span(), "server.listen", msg, Some(hint.to_owned()));
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for Entry { text, span, key } in expanded(v, "server.listen", ctx) {
        match text.and_then(|t| socket_addr(&t, span.clone(), &key, ctx)) {
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
    for Entry { text, span, key } in expanded(v, "server.trusted_proxies", ctx) {
        let Some(text) = text else { continue };
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
    let mut f = Fields::new(ctx, "server.http2");
    let streams = "streams at once on one connection, from 1 to 10000";
    let header = "bytes, from 1 KiB (1024) to 1 MiB (1048576)";
    let (window, max_window) = ("bytes, from 65535 to 2147483647", i64::from(i32::MAX));
    let resets = "from 1 to 100000; beyond it the connection is closed with GOAWAY";
    fields!(f, raw, out;
        enabled: flag;
        max_concurrent_streams: int(1, 10_000, streams);
        max_header_list_size: int(KIB, MIB, header);
        initial_stream_window_size: int(65_535, max_window, window);
        initial_connection_window_size: int(65_535, max_window, window);
        keepalive_interval: opt_timeout;
        keepalive_timeout: timeout;
        max_pending_accept_reset_streams: int(1, 100_000, resets);
        max_local_error_reset_streams: int(1, 100_000, resets);
        max_cancelled_streams: int(1, 100_000, resets);
    );
    out
}
