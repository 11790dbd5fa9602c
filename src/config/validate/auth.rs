//! `[policies.NAME.auth]`: which credentials a policy accepts (`api_key`, `basic`, `jwt`, the
//! last in `jwt`), the consumer header and `optional`.

use crate::config::raw::Spanned;
use http::HeaderName;

use super::ctx::Ctx;
use super::fields::{fields, Fields};
use super::headers::{header, Use};
use super::jwt;
use crate::config::policy::{ApiKeySpec, AuthSpec, BasicSpec};
use crate::config::raw::{RawApiKey, RawAuth, RawBasicAuth, Toggle};

/// Validates the `auth` table at `key` (`policies.NAME.auth`); `dropped` are the dropped
/// entries of the policy table.
pub(super) fn auth(
    v: &Spanned<RawAuth>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<AuthSpec> {
    let raw = v.get_ref();
    let k = |field: &str| format!("{key}.{field}");
    let mut ok = true;
    let api_key = match raw.api_key.as_ref().map(|t| (t.get_ref(), t.span())) {
        None | Some((Toggle::Flag(false), _)) => None,
        Some((Toggle::Flag(true), _)) => Some(ApiKeySpec {
            header: Some(HeaderName::from_static("x-api-key")),
            query: None,
        }),
        Some((Toggle::Table(t), span)) => {
            let spec = api_key(t, span, &k("api_key"), dropped, ctx);
            ok &= spec.is_some();
            spec
        }
    };
    let basic = match raw.basic.as_ref().map(|b| b.get_ref()) {
        None | Some(Toggle::Flag(false)) => None,
        Some(Toggle::Flag(true)) => Some(BasicSpec {
            realm: "portcullis".to_owned(),
        }),
        Some(Toggle::Table(t)) => {
            let spec = basic(t, &k("basic"), ctx);
            ok &= spec.is_some();
            spec
        }
    };
    let mut out = AuthSpec {
        api_key,
        jwt: None,
        basic,
        consumer_header: HeaderName::from_static("x-consumer"),
        optional: false,
    };
    let mut f = Fields::new(ctx, key);
    f.ok = ok;
    fields!(f, raw, out; jwt: with(|ctx, j, k| jwt::jwt(j, k, dropped, ctx).map(Some)););
    let enabled = out.api_key.is_some() || out.basic.is_some() || out.jwt.is_some();
    let methods_dropped = ["api_key", "basic", "jwt"]
        .iter()
        .any(|m| dropped.iter().any(|d| d == &format!("auth.{m}")));
    if f.ok && !enabled && !methods_dropped {
        let msg = "no authentication method is enabled";
        let hint = "set at least one of `api_key`, `jwt` or `basic`, e.g. api_key = true";
        f.ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        f.ok = false;
    }
    fields!(f, raw, out;
        consumer_header: with(header(Use::Write));
        optional: flag;
    );
    f.ok.then_some(out)
}

/// `api_key = { header = "...", query = "..." }`: at least one of them.
fn api_key(
    raw: &RawApiKey,
    span: std::ops::Range<usize>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<ApiKeySpec> {
    let mut ok = true;
    let header = raw.header.as_ref().and_then(|h| {
        let name = header(Use::Read)(ctx, h, &format!("{key}.header"));
        ok &= name.is_some();
        name
    });
    let query = raw.query.as_ref().and_then(|q| {
        let k = format!("{key}.query");
        let name = ctx.string(q, &k)?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~'));
        if !valid {
            let msg = format!("invalid query parameter name \"{}\"", name.escape_debug());
            let hint = "use letters, digits, '_', '-', '.' and '~', e.g. \"api_key\"";
            ctx.error(q.span(), k, msg, Some(hint.to_owned()));
            ok = false;
            return None;
        }
        Some(name)
    });
    let something_dropped = ["header", "query"]
        .iter()
        .any(|f| dropped.iter().any(|d| d == &format!("auth.api_key.{f}")));
    if raw.header.is_none() && raw.query.is_none() && !something_dropped {
        let msg = "the api_key table sets neither `header` nor `query`";
        let hint = "e.g. api_key = { header = \"X-API-Key\" }, or api_key = true for the \
                    X-API-Key header";
        ctx.error(span, key, msg, Some(hint.to_owned()));
        ok = false;
    }
    ok.then_some(ApiKeySpec { header, query })
}

/// `basic = { realm = "..." }`.
fn basic(raw: &RawBasicAuth, key: &str, ctx: &mut Ctx<'_>) -> Option<BasicSpec> {
    let Some(v) = &raw.realm else {
        return Some(BasicSpec {
            realm: "portcullis".to_owned(),
        });
    };
    let k = format!("{key}.realm");
    let realm = ctx.string(v, &k)?;
    let valid = !realm.is_empty()
        && realm
            .chars()
            .all(|c| (c == ' ' || c.is_ascii_graphic()) && c != '"' && c != '\\');
    if valid {
        return Some(BasicSpec { realm });
    }
    let msg = match realm.is_empty() {
        true => "the realm is empty".to_owned(),
        false => format!("invalid realm \"{}\"", realm.escape_debug()),
    };
    let hint = "use visible ASCII characters and spaces, without '\"' or '\\'";
    ctx.error(v.span(), k, msg, Some(hint.to_owned()));
    None
}
