//! `[consumers.NAME]`: API keys (stored as SHA-256 digests), a basic-auth credential and the
//! routes a consumer may call. API keys and password hashes are never echoed in messages.

use std::collections::HashMap;
use std::ops::Range;
use std::str::FromStr;

use crate::config::raw::Spanned;
use sha2::{Digest, Sha256};

use super::ctx::Ctx;
use super::document::{Named, Section};
use super::fields::{each, expanded};
use super::hint;
use super::policy::table_name;
use crate::config::policy::{BasicCredential, ConsumerSpec};
use crate::config::raw::{RawConsumer, RawConsumerBasic};

/// Shortest plain API key accepted, in bytes.
const MIN_KEY_BYTES: usize = 16;

/// What the consumers seen so far use, to find keys and users given twice.
#[derive(Default)]
struct Seen {
    /// Digest -> (consumer, offset where it is written).
    keys: HashMap<[u8; 32], (String, usize)>,
    /// Basic user -> (consumer, offset).
    users: HashMap<String, (String, usize)>,
}

/// Validates every `[consumers.NAME]` table, in name order; `None` entries had problems.
/// `routes` are the route names written in the file.
pub(super) fn consumers(
    items: &[Named<RawConsumer>],
    routes: &[String],
    ctx: &mut Ctx<'_>,
) -> Vec<Option<ConsumerSpec>> {
    let mut sorted: Vec<&Named<RawConsumer>> = items.iter().collect();
    sorted.sort_by(|a, b| a.name.get_ref().cmp(b.name.get_ref()));
    let mut seen = Seen::default();
    let mut out = Vec::with_capacity(sorted.len());
    for item in sorted {
        let name = item.name.get_ref();
        let key = format!("consumers.{}", hint::key_segment(name));
        let named = table_name(ctx, &item.name, &key);
        let spec = item
            .section
            .as_ref()
            .and_then(|s| consumer(name, s, &key, routes, &mut seen, ctx));
        out.push(spec.filter(|_| named));
    }
    out
}

fn consumer(
    name: &str,
    section: &Section<RawConsumer>,
    key: &str,
    routes: &[String],
    seen: &mut Seen,
    ctx: &mut Ctx<'_>,
) -> Option<ConsumerSpec> {
    let raw = &section.raw;
    let mut ok = true;
    let mut out = ConsumerSpec {
        name: name.to_owned(),
        api_keys: Vec::new(),
        basic: None,
        routes: Vec::new(),
    };
    if let Some(list) = &raw.api_keys {
        for item in expanded(list, &format!("{key}.api_keys"), ctx) {
            let Some(digest) = item
                .text
                .and_then(|t| digest(ctx, &t, &item.span, &item.key))
            else {
                ok = false;
                continue;
            };
            if let Some((owner, first)) = seen.keys.get(&digest) {
                let msg = match owner == name {
                    true => "this API key is listed twice".to_owned(),
                    false => format!("this API key is also given to consumer \"{owner}\""),
                };
                let hint = format!(
                    "first given at line {}; each API key identifies one consumer",
                    ctx.line_of(*first)
                );
                ctx.error(item.span, item.key, msg, Some(hint));
                ok = false;
                continue;
            }
            seen.keys.insert(digest, (name.to_owned(), item.span.start));
            out.api_keys.push(digest);
        }
    }
    if let Some(b) = &raw.basic {
        let k = format!("{key}.basic");
        out.basic = basic(name, b, &k, &section.dropped, seen, ctx);
        ok &= out.basic.is_some();
    }
    if let Some(list) = &raw.routes {
        let names = each(
            ctx,
            list,
            &format!("{key}.routes"),
            |ctx, route, item, seen| {
                let (span, key) = (item.span.clone(), item.key.clone());
                if !routes.contains(&route) {
                    let msg = format!("unknown route \"{}\"", route.escape_debug());
                    ctx.error(span, key, msg, Some(route_hint(&route, routes)));
                    return None;
                }
                if seen.contains(&route) {
                    let msg = format!("route \"{route}\" is listed twice");
                    ctx.error(span, key, msg, Some("remove one".to_owned()));
                    return None;
                }
                Some(route)
            },
        );
        match names {
            Some(names) => out.routes = names,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The SHA-256 digest of an API key written as `sha256:<64 hex>` or as the plain key.
fn digest(ctx: &mut Ctx<'_>, text: &str, span: &Range<usize>, key: &str) -> Option<[u8; 32]> {
    if let Some(hex) = text.strip_prefix("sha256:") {
        let digest = decode_hex(hex);
        if digest.is_none() {
            let msg = "invalid API key digest: `sha256:` must be followed by 64 hex digits";
            let hint = "e.g. the output of `printf %s \"$KEY\" | sha256sum`";
            ctx.error(span.clone(), key, msg, Some(hint.to_owned()));
        }
        return digest;
    }
    if text.len() < MIN_KEY_BYTES {
        let msg =
            format!("the API key is too weak: a plain key needs at least {MIN_KEY_BYTES} bytes");
        let hint = "use a long random key (e.g. `openssl rand -hex 32`), or write its digest \
                    as \"sha256:<64 hex digits>\"";
        ctx.error(span.clone(), key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(Sha256::digest(text.as_bytes()).into())
}

/// 64 hex digits (either case) -> 32 bytes.
pub(super) fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `basic = { user, password_hash }`: the user defaults to the consumer name and is unique
/// across consumers; the hash is bcrypt or argon2 (PHC).
fn basic(
    consumer: &str,
    v: &Spanned<RawConsumerBasic>,
    key: &str,
    dropped: &[String],
    seen: &mut Seen,
    ctx: &mut Ctx<'_>,
) -> Option<BasicCredential> {
    let raw = v.get_ref();
    let user = match &raw.user {
        Some(u) => ctx.string(u, &format!("{key}.user")).and_then(|user| {
            let valid =
                !user.is_empty() && !user.contains(':') && !user.chars().any(char::is_control);
            if !valid {
                let msg = match user.is_empty() {
                    true => "the user name is empty".to_owned(),
                    false => format!("invalid user name \"{}\"", user.escape_debug()),
                };
                let hint = "basic-auth user names are not empty and contain no ':'";
                ctx.error(u.span(), format!("{key}.user"), msg, Some(hint.to_owned()));
                return None;
            }
            Some((user, u.span(), format!("{key}.user")))
        }),
        None => Some((consumer.to_owned(), v.span(), key.to_owned())),
    };
    let hash = match &raw.password_hash {
        Some(h) => password_hash(ctx, h, &format!("{key}.password_hash")),
        None => {
            let what = "a bcrypt or argon2 hash, e.g. from `htpasswd -nbBC 10 USER PASSWORD`";
            ctx.missing(v.span(), &format!("{key}.password_hash"), dropped, what);
            None
        }
    };
    let (user, span, user_key) = user?;
    if let Some((owner, first)) = seen.users.get(&user) {
        let msg = format!("basic user \"{user}\" is already used by consumer \"{owner}\"");
        let hint = format!(
            "first defined at line {}; basic users are unique across consumers",
            ctx.line_of(*first)
        );
        ctx.error(span, user_key, msg, Some(hint));
        return None;
    }
    seen.users
        .insert(user.clone(), (consumer.to_owned(), span.start));
    Some(BasicCredential { user, hash: hash? })
}

/// A bcrypt (`$2a$`, `$2b$`, `$2y$`) or argon2 PHC (`$argon2id$`, ...) hash.
fn password_hash(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
    let hash = ctx.string(v, key)?;
    let bcrypt = ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p));
    let argon2 = ["$argon2id$", "$argon2i$", "$argon2d$"]
        .iter()
        .any(|p| hash.starts_with(p));
    let (msg, hint) = if bcrypt {
        if bcrypt::HashParts::from_str(&hash).is_ok() {
            return Some(hash);
        }
        (
            "malformed bcrypt hash",
            "a bcrypt hash is 60 characters: $2y$COST$ then 53 characters of salt and hash",
        )
    } else if argon2 {
        if argon2::PasswordHash::new(&hash).is_ok_and(|h| h.hash.is_some()) {
            return Some(hash);
        }
        (
            "malformed argon2 hash",
            "write the PHC string: $argon2id$v=19$m=...,t=...,p=...$SALT$HASH",
        )
    } else {
        (
            "unsupported password hash: expected bcrypt or argon2",
            "bcrypt hashes start with $2a$, $2b$ or $2y$ (e.g. from `htpasswd -nbBC 10 USER \
             PASSWORD`); argon2 hashes with $argon2id$, $argon2i$ or $argon2d$",
        )
    };
    ctx.error(v.span(), key, msg, Some(hint.to_owned()));
    None
}

fn route_hint(name: &str, routes: &[String]) -> String {
    let mut known: Vec<&str> = routes.iter().map(String::as_str).collect();
    known.sort_unstable();
    if known.is_empty() {
        return "no routes are defined; add a [[routes]] entry".to_owned();
    }
    match hint::closest(name, &known) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("known routes: {}", hint::list(&known)),
    }
}
