//! `[admin]`: the admin listener's address and token, safe by default (loopback, or a token),
//! and the token-free probe listener's address.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::config::raw::Spanned;

use super::ctx::Ctx;
use super::document::Section;
use super::server::socket_addr;
use crate::config::admin::AdminSettings;
use crate::config::raw::{RawAdmin, RawServer};
use crate::config::ServerSettings;

/// The shortest accepted token, in characters.
const MIN_TOKEN: usize = 16;

/// Validates `[admin]`; absent or invalid values keep their defaults (errors are in `ctx`).
/// `server` is `[server]` as validated and `raw_server` as written, for the listen conflict.
pub(super) fn admin(
    section: Option<&Section<RawAdmin>>,
    server: &ServerSettings,
    raw_server: Option<&Section<RawServer>>,
    ctx: &mut Ctx<'_>,
) -> AdminSettings {
    let mut out = AdminSettings::default();
    // No `[admin]` still means a listener (on the default address), which must not clash.
    let none = RawAdmin::default();
    let (raw, dropped) = match section {
        Some(s) => (&s.raw, s.dropped.as_slice()),
        None => (&none, &[][..]),
    };
    if let Some(b) = &raw.enabled {
        out.enabled = *b.get_ref();
    }
    let mut listen_ok = true;
    if let Some(v) = &raw.listen {
        let addr = ctx
            .string(v, "admin.listen")
            .and_then(|text| socket_addr(&text, v.span(), "admin.listen", ctx));
        match addr {
            Some(addr) => out.listen = addr,
            None => listen_ok = false,
        }
    }
    listen_ok &= !dropped.iter().any(|d| d == "listen");

    let sources = [("token", &raw.token), ("token_file", &raw.token_file)];
    let hint = "keep one: token = \"${ADMIN_TOKEN}\" or token_file = \"admin.token\"";
    out.token = match ctx.at_most_one("admin", &sources, hint) {
        Ok(Some(("token", v))) => ctx
            .string(v, "admin.token")
            .and_then(|t| token(&t, v, "admin.token", "the token", ctx)),
        Ok(Some((_, v))) => read(v, ctx)
            .and_then(|t| token(&t, v, "admin.token_file", "the token in the file", ctx)),
        Ok(None) | Err(()) => None,
    };
    if let Some(v) = &raw.state_file {
        out.state_file = ctx
            .string(v, "admin.state_file")
            .filter(|t| !t.is_empty())
            .map(|t| config_dir(ctx).join(t));
    }
    out.probe_listen = probe_listen(raw, &out, listen_ok, server, ctx);
    // A token that was written but has a problem is already reported: do not also ask for one.
    let token_written = raw.token.is_some()
        || raw.token_file.is_some()
        || dropped.iter().any(|d| d == "token" || d == "token_file");

    if !out.enabled || !listen_ok {
        return out;
    }
    if out.token.is_none() && !token_written && !is_loopback(out.listen.ip()) {
        // Only a written `listen` can be off loopback: the default is 127.0.0.1.
        let span = raw.listen.as_ref().map_or(0..0, Spanned::span);
        let msg = format!(
            "the admin listener on {} (not a loopback address) needs a token",
            out.listen
        );
        let hint = "set token = \"${ADMIN_TOKEN}\" or token_file, or listen on 127.0.0.1";
        ctx.error(span, "admin.listen", msg, Some(hint.to_owned()));
    }
    clash_with_server(&out, raw, server, raw_server, ctx);
    out
}

/// `[admin] probe_listen`: an address of its own, off every `[server]` address and the admin
/// listener's (when that is served and valid). No token needed: it answers only the probes.
fn probe_listen(
    raw: &RawAdmin,
    out: &AdminSettings,
    listen_ok: bool,
    server: &ServerSettings,
    ctx: &mut Ctx<'_>,
) -> Option<SocketAddr> {
    let v = raw.probe_listen.as_ref()?;
    let key = "admin.probe_listen";
    let addr = ctx
        .string(v, key)
        .and_then(|text| socket_addr(&text, v.span(), key, ctx))?;
    let clash = if let Some(s) = server.listen.iter().find(|s| overlaps(**s, addr)) {
        format!("{addr} clashes with the [server] listen address {s}")
    } else if out.enabled && listen_ok && overlaps(out.listen, addr) {
        format!(
            "{addr} clashes with the admin listen address {}",
            out.listen
        )
    } else {
        return Some(addr);
    };
    let hint = "give the probe listener its own port, e.g. \"0.0.0.0:9902\"";
    ctx.error(v.span(), key, clash, Some(hint.to_owned()));
    None
}

/// `[admin] listen` (written or the default) must not be a `[server]` listen address.
fn clash_with_server(
    out: &AdminSettings,
    raw: &RawAdmin,
    server: &ServerSettings,
    raw_server: Option<&Section<RawServer>>,
    ctx: &mut Ctx<'_>,
) {
    let Some(taken) = server.listen.iter().find(|a| overlaps(**a, out.listen)) else {
        return;
    };
    let at = raw_server.and_then(|s| server_at(s, *taken, ctx));
    let what = match raw.listen {
        Some(_) => "",
        None => " (the default admin address)",
    };
    let msg = match *taken == out.listen {
        true => format!("{}{what} is also a [server] listen address", out.listen),
        false => format!(
            "{}{what} overlaps the [server] listen address {taken}",
            out.listen
        ),
    };
    let mut hint = match &at {
        Some(span) => format!(
            "[server] listen {taken} is at line {}; ",
            ctx.line_of(span.start)
        ),
        None => String::new(),
    };
    hint.push_str(match raw.listen {
        Some(_) => "give the admin listener its own port",
        None => "set [admin] listen to another address, or enabled = false",
    });
    // Unwritten, the error points at the server address (or the top of the file).
    let span = match &raw.listen {
        Some(v) => v.span(),
        None => at.unwrap_or(0..0),
    };
    ctx.error(span, "admin.listen", msg, Some(hint));
}

/// A token: trimmed, at least `MIN_TOKEN` characters, printable ASCII without spaces. Never
/// echoed in a message.
fn token(
    text: &str,
    v: &Spanned<String>,
    key: &str,
    what: &str,
    ctx: &mut Ctx<'_>,
) -> Option<String> {
    let text = text.trim();
    let problem = if text.chars().count() < MIN_TOKEN {
        format!("{what} is too short: at least {MIN_TOKEN} characters are required")
    } else if !text.chars().all(|c| c.is_ascii_graphic()) {
        format!("{what} may only contain printable ASCII characters, without spaces")
    } else {
        return Some(text.to_owned());
    };
    let hint = "use a random token, e.g. from `openssl rand -hex 32`";
    ctx.error(v.span(), key, problem, Some(hint.to_owned()));
    None
}

/// Reads `token_file`, named relative to the config file's directory.
fn read(v: &Spanned<String>, ctx: &mut Ctx<'_>) -> Option<String> {
    let key = "admin.token_file";
    let path: PathBuf = config_dir(ctx).join(ctx.string(v, key)?);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            let msg = format!("cannot read the token file \"{}\": {e}", path.display());
            let hint = "relative paths start at the config file's directory";
            ctx.error(v.span(), key, msg, Some(hint.to_owned()));
            None
        }
    }
}

/// The config file's directory, where relative paths start.
pub(super) fn config_dir(ctx: &Ctx<'_>) -> PathBuf {
    Path::new(ctx.file())
        .parent()
        .unwrap_or(Path::new(""))
        .to_owned()
}

/// 127.0.0.0/8 or ::1 (also written as an IPv4-mapped IPv6 address).
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether binding both addresses would clash: the same port, and the same IP or a wildcard
/// covering the other (`0.0.0.0` covers IPv4, `::` everything).
pub(super) fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |w: IpAddr, x: IpAddr| match w {
        IpAddr::V4(w) => w.is_unspecified() && x.is_ipv4(),
        IpAddr::V6(w) => w.is_unspecified(),
    };
    a.port() == b.port() && (a.ip() == b.ip() || covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

/// Where `addr` is written in `[server] listen`, if it is written there.
fn server_at(
    section: &Section<RawServer>,
    addr: SocketAddr,
    ctx: &Ctx<'_>,
) -> Option<Range<usize>> {
    let v = section.raw.listen.as_ref()?;
    v.get_ref()
        .items(v.span())
        .into_iter()
        .find(|(text, _)| {
            ctx.expand_quiet(text)
                .and_then(|t| t.parse::<SocketAddr>().ok())
                == Some(addr)
        })
        .map(|(_, span)| span)
}
