//! `[policies.NAME.forward_auth]`: the authorization service's URL (http or https, a host, no
//! credentials in it), the headers sent and copied back, the timeout, the failure mode and the
//! decision cache.

use std::str::FromStr;
use std::time::Duration;

use crate::config::raw::Spanned;
use http::HeaderName;

use super::ctx::Ctx;
use super::fields::{distinct, each, fields, Fields};
use super::headers::{header_name, Use};
use crate::config::policy::{FailureMode, ForwardAuthSpec};
use crate::config::raw::{RawForwardAuth, StrList};

/// Validates the `forward_auth` section at `key`; `None` after reporting problems.
pub(super) fn forward_auth(
    v: &Spanned<RawForwardAuth>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<ForwardAuthSpec> {
    let raw = v.get_ref();
    let mut out = ForwardAuthSpec {
        url: String::new(),
        request_headers: vec![http::header::AUTHORIZATION, http::header::COOKIE],
        response_headers: Vec::new(),
        timeout: Duration::from_secs(2),
        failure: FailureMode::Deny,
        cache_ttl: Duration::ZERO,
        cache_max_entries: 10_000,
    };
    let url_key = format!("{key}.url");
    let Some(u) = &raw.url else {
        let hint = "e.g. url = \"http://auth.internal:9000/verify\"";
        ctx.missing(v.span(), &url_key, dropped, hint);
        return None;
    };
    out.url = url(ctx, u, &url_key)?;
    let failures = [("deny", FailureMode::Deny), ("allow", FailureMode::Allow)];
    let entries = "remembered successes, 1 to 1000000";
    let mut f = Fields::new(ctx, key);
    fields!(f, raw, out;
        request_headers: with(|ctx, v, k| names(ctx, v, k, Use::Read));
        response_headers: with(|ctx, v, k| names(ctx, v, k, Use::Write));
        timeout: timeout;
        failure: one_of(&failures);
        cache_ttl: duration0;
        cache_max_entries: int(1, 1_000_000, entries);
    );
    f.ok.then_some(out)
}

/// `http://` or `https://` with a host and no user info.
fn url(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
    let text = ctx.string(v, key)?;
    let parsed = http::Uri::from_str(&text).ok();
    let ok = parsed.as_ref().is_some_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https"))
            && u.authority()
                .is_some_and(|a| !a.host().is_empty() && !a.as_str().contains('@'))
    });
    if ok {
        return Some(text);
    }
    // A URL with user info is not echoed: it holds a credential.
    let msg = match parsed.and_then(|u| u.authority().map(|a| a.as_str().contains('@'))) {
        Some(true) => "the forward-auth URL holds credentials".to_owned(),
        _ => format!("invalid forward-auth URL \"{}\"", text.escape_debug()),
    };
    let hint = "write http:// or https://, a host and a path, without credentials, e.g. \
                \"http://auth.internal:9000/verify\"";
    ctx.error(v.span(), key, msg, Some(hint.to_owned()));
    None
}

/// A list of header names (each once).
fn names(
    ctx: &mut Ctx<'_>,
    v: &Spanned<StrList>,
    key: &str,
    usage: Use,
) -> Option<Vec<HeaderName>> {
    let list = each(ctx, v, key, |ctx, text, item, _| {
        header_name(ctx, &text, item.span.clone(), &item.key, usage)
    })?;
    Some(distinct(list))
}
