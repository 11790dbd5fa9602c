//! One `[[policies.NAME.auth.jwt.keys]]` table: exactly one source (`secret`, `pem`,
//! `pem_file`, `jwks_file`, `jwks_url`), its algorithms, and the files read at load. Secrets and
//! key material are never echoed in messages.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::config::raw::Spanned;
use jsonwebtoken::{AlgorithmFamily, DecodingKey, DecodingKeyKind};

use super::ctx::Ctx;
use super::fields::expanded;
use super::hint;
use crate::config::policy::{JwtAlgorithm, JwtKeySource};
use crate::config::raw::{DurationStr, RawJwtKey};

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// Validates one key table at `key`; `dropped` are the dropped entries of the policy table.
pub(super) fn key(
    raw: &RawJwtKey,
    span: Range<usize>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<JwtKeySource> {
    let k = |field: &str| format!("{key}.{field}");
    let (source, value) = source(raw, span.clone(), key, dropped, ctx)?;
    let static_key = matches!(source, "secret" | "pem" | "pem_file");
    let ok = misplaced(raw, source, key, ctx);
    let kid = match (&raw.kid, static_key) {
        (Some(v), true) => match ctx.string(v, &k("kid")) {
            Some(s) if s.is_empty() => {
                let hint = "remove `kid`, or give the key id the tokens carry".to_owned();
                ctx.error(v.span(), k("kid"), "the kid is empty", Some(hint));
                None
            }
            other => other.map(Some),
        },
        _ => Some(None),
    };
    // `None`: not written (or not applicable); `algs_ok`: every written one is valid.
    let (algorithms, algs_ok) = match (&raw.algorithms, static_key) {
        (Some(v), true) => {
            let (algs, ok) = algorithms(v, &k("algorithms"), ctx);
            (Some(algs), ok)
        }
        _ => (None, true),
    };
    let base = Path::new(ctx.file())
        .parent()
        .unwrap_or(Path::new(""))
        .to_owned();
    let out = match source {
        "secret" => {
            let default = || vec![(JwtAlgorithm::HS256, (value.span(), k("algorithms")))];
            secret(value, algorithms.unwrap_or_else(default), &k("secret"), ctx)
        }
        "pem" | "pem_file" => {
            let pem = match source {
                "pem" => ctx.string(value, &k("pem")),
                _ => read(value, &base, &k("pem_file"), "PEM file", ctx).map(|(_, t)| t),
            };
            let Some(algs) = algorithms else {
                let what = "list the algorithms the key verifies, e.g. algorithms = [\"RS256\"]";
                ctx.missing(span, &k("algorithms"), dropped, what);
                return None;
            };
            let pem = pem?;
            pem_key(&pem, &algs, (value.span(), k(source)), ctx).map(|()| JwtKeySource::Pem {
                pem,
                algorithms: algs.into_iter().map(|(a, _)| a).collect(),
                kid: None,
            })
        }
        "jwks_file" => jwks_file(value, &base, &k("jwks_file"), ctx),
        _ => jwks_url(raw, value, key, ctx),
    };
    let kid = kid?;
    let out = out.map(|source| with_kid(source, kid));
    out.filter(|_| ok && algs_ok)
}

/// The one source of a key table (`secret`, `pem`, `pem_file`, `jwks_file` or `jwks_url`)
/// with its value; `None` after reporting none or several.
fn source<'r>(
    raw: &'r RawJwtKey,
    span: Range<usize>,
    key: &str,
    dropped: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<(&'static str, &'r Spanned<String>)> {
    let sources = [
        ("secret", &raw.secret),
        ("pem", &raw.pem),
        ("pem_file", &raw.pem_file),
        ("jwks_file", &raw.jwks_file),
        ("jwks_url", &raw.jwks_url),
    ];
    let hint = "a key table holds exactly one key; put the other one in its own \
                [[...jwt.keys]] table";
    match ctx.at_most_one(key, &sources, hint) {
        Ok(Some(one)) => Some(one),
        Ok(None) => {
            let dropped_one =
                (sources.iter()).any(|(name, _)| was_dropped(dropped, &format!("{key}.{name}")));
            if !dropped_one {
                let msg = "the key has no source";
                let hint = "set exactly one of `secret`, `pem`, `pem_file`, `jwks_file` or \
                            `jwks_url`";
                ctx.error(span, key, msg, Some(hint.to_owned()));
            }
            None
        }
        Err(()) => None,
    }
}

/// A static key (secret or PEM) with its `kid`; other sources as they are.
fn with_kid(source: JwtKeySource, kid: Option<String>) -> JwtKeySource {
    match source {
        JwtKeySource::Secret {
            secret, algorithms, ..
        } => JwtKeySource::Secret {
            secret,
            algorithms,
            kid,
        },
        JwtKeySource::Pem {
            pem, algorithms, ..
        } => JwtKeySource::Pem {
            pem,
            algorithms,
            kid,
        },
        other => other,
    }
}

/// Whether the entry at the full dotted `key` was dropped as malformed.
fn was_dropped(dropped: &[String], key: &str) -> bool {
    dropped.iter().any(|d| {
        key.strip_suffix(d.as_str())
            .is_some_and(|k| k.ends_with('.'))
    })
}

/// Reports keys that do not apply to this kind of source; false when there are any.
fn misplaced(raw: &RawJwtKey, source: &str, key: &str, ctx: &mut Ctx<'_>) -> bool {
    let static_key = matches!(source, "secret" | "pem" | "pem_file");
    let span = |v: &Option<Spanned<_>>| v.as_ref().map(|v: &Spanned<_>| v.span());
    let fields = [
        (
            "algorithms",
            raw.algorithms.as_ref().map(|v| v.span()),
            !static_key,
        ),
        ("kid", raw.kid.as_ref().map(|v| v.span()), !static_key),
        ("refresh", span(&raw.refresh), source != "jwks_url"),
        ("min_refetch", span(&raw.min_refetch), source != "jwks_url"),
        ("timeout", span(&raw.timeout), source != "jwks_url"),
    ];
    let mut ok = true;
    for (field, at, wrong) in fields {
        let (Some(at), true) = (at, wrong) else {
            continue;
        };
        let (msg, hint) = match static_key {
            true => (
                format!("`{field}` only applies to jwks_url keys"),
                "remove it",
            ),
            false => (
                format!("`{field}` only applies to secret and PEM keys"),
                "a JWKS names each key's algorithm and kid itself; remove it",
            ),
        };
        ctx.error(at, format!("{key}.{field}"), msg, Some(hint.to_owned()));
        ok = false;
    }
    ok
}

/// A JWKS file: readable, JSON, with a `keys` array.
fn jwks_file(
    value: &Spanned<String>,
    base: &Path,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<JwtKeySource> {
    let (path, text) = read(value, base, key, "JWKS file", ctx)?;
    let valid = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("is not valid JSON ({e})"))
        .and_then(|doc| match doc.get("keys").is_some_and(|k| k.is_array()) {
            true => Ok(()),
            false => Err("has no \"keys\" array".to_owned()),
        });
    if let Err(why) = valid {
        let msg = format!("the JWKS file \"{}\" {why}", path.display());
        let hint = "a JWKS is a JSON object: { \"keys\": [ { \"kty\": ..., ... } ] }";
        ctx.error(value.span(), key, msg, Some(hint.to_owned()));
        return None;
    }
    Some(JwtKeySource::JwksFile { path })
}

/// `algorithms = ["RS256", ...]`: the known names with where each is written, and whether
/// the list is valid (non-empty, no unknown names).
fn algorithms(
    v: &Spanned<crate::config::raw::StrList>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> (Algs, bool) {
    let items = expanded(v, key, ctx);
    if items.is_empty() {
        let hint = "list at least one algorithm, e.g. [\"RS256\"]";
        ctx.error(
            v.span(),
            key,
            "the algorithm list is empty",
            Some(hint.to_owned()),
        );
        return (Vec::new(), false);
    }
    let mut out: Vec<(JwtAlgorithm, (Range<usize>, String))> = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = item.text else {
            ok = false;
            continue;
        };
        match JwtAlgorithm::from_str(&text) {
            Ok(a) if out.iter().any(|(b, _)| *b == a) => {}
            Ok(a) => out.push((a, (item.span, item.key))),
            Err(_) => {
                let msg = format!("unknown algorithm \"{}\"", text.escape_debug());
                let hint = hint::expected_one_of(&text, ALGORITHMS);
                ctx.error(item.span, item.key, msg, Some(hint));
                ok = false;
            }
        }
    }
    (out, ok)
}

/// Algorithms with where each is written (span, dotted key).
type Algs = Vec<(JwtAlgorithm, (Range<usize>, String))>;

/// An HMAC secret: HS algorithms only (default HS256), at least as many bytes as the hash.
fn secret(v: &Spanned<String>, algs: Algs, key: &str, ctx: &mut Ctx<'_>) -> Option<JwtKeySource> {
    let secret = ctx.string(v, key);
    let mut ok = true;
    for (alg, (span, k)) in &algs {
        if alg.family() != AlgorithmFamily::Hmac {
            let msg = format!("{alg:?} does not fit a secret key");
            let hint = "a secret verifies HS256, HS384 or HS512; use pem or pem_file for \
                        public keys";
            ctx.error(span.clone(), k, msg, Some(hint.to_owned()));
            ok = false;
        }
    }
    let secret = secret?;
    let need = algs
        .iter()
        .map(|(a, _)| match a {
            JwtAlgorithm::HS384 => 48,
            JwtAlgorithm::HS512 => 64,
            _ => 32,
        })
        .max()
        .unwrap_or(32);
    if secret.len() < need {
        let alg = match need {
            64 => "HS512",
            48 => "HS384",
            _ => "HS256",
        };
        let msg = format!("the secret is too weak for {alg}: it must be at least {need} bytes");
        let hint = format!(
            "use a random secret of {need} bytes or more, e.g. from `openssl rand -base64 {need}`"
        );
        ctx.error(v.span(), key, msg, Some(hint));
        return None;
    }
    ok.then(|| JwtKeySource::Secret {
        secret: secret.into_bytes(),
        algorithms: algs.into_iter().map(|(a, _)| a).collect(),
        kid: None,
    })
}

/// Reads a file named relative to the config file's directory; its path and text.
fn read(
    v: &Spanned<String>,
    base: &Path,
    key: &str,
    what: &str,
    ctx: &mut Ctx<'_>,
) -> Option<(PathBuf, String)> {
    let path: PathBuf = base.join(ctx.string(v, key)?);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some((path, text)),
        Err(e) => {
            let msg = format!("cannot read {what} \"{}\": {e}", path.display());
            let hint = "relative paths start at the config file's directory";
            ctx.error(v.span(), key, msg, Some(hint.to_owned()));
            None
        }
    }
}

/// Checks that `pem` is an RSA, EC (P-256, P-384) or Ed25519 public key and that every
/// algorithm fits it. `at` is where the key is written.
fn pem_key(pem: &str, algs: &Algs, at: (Range<usize>, String), ctx: &mut Ctx<'_>) -> Option<()> {
    let (span, key) = at;
    if pem.contains("PRIVATE KEY") {
        let msg = "this is a private key; a public key is needed";
        let hint = "extract it with `openssl pkey -in private.pem -pubout`";
        ctx.error(span, key, msg, Some(hint.to_owned()));
        return None;
    }
    let bytes = pem.as_bytes();
    let (kind, fits): (&str, &[JwtAlgorithm]) = if DecodingKey::from_rsa_pem(bytes).is_ok() {
        ("an RSA key", AlgorithmFamily::Rsa.algorithms())
    } else if let Ok(k) = DecodingKey::from_ec_pem(bytes) {
        let point = match k.kind() {
            DecodingKeyKind::SecretOrDer(p) => p.len(),
            DecodingKeyKind::RsaModulusExponent { .. } => 0,
        };
        match point {
            65 => ("an EC P-256 key", &[JwtAlgorithm::ES256][..]),
            97 => ("an EC P-384 key", &[JwtAlgorithm::ES384][..]),
            _ => {
                let msg = "unsupported elliptic curve";
                let hint = "EC keys must be on P-256 (ES256) or P-384 (ES384)";
                ctx.error(span, key, msg, Some(hint.to_owned()));
                return None;
            }
        }
    } else if DecodingKey::from_ed_pem(bytes).is_ok() {
        ("an Ed25519 key", AlgorithmFamily::Ed.algorithms())
    } else {
        let msg = "not a PEM public key (RSA, EC or Ed25519)";
        let hint = "expected \"-----BEGIN PUBLIC KEY-----\" (or \"-----BEGIN RSA PUBLIC \
                    KEY-----\") followed by base64 lines";
        ctx.error(span, key, msg, Some(hint.to_owned()));
        return None;
    };
    let mut ok = true;
    for (alg, (span, k)) in algs {
        if !fits.contains(alg) {
            let names: Vec<String> = fits.iter().map(|a| format!("{a:?}")).collect();
            let msg = format!("{alg:?} does not fit this key: it is {kind}");
            let hint = format!("{kind} verifies {}", names.join(", "));
            ctx.error(span.clone(), k, msg, Some(hint));
            ok = false;
        }
    }
    ok.then_some(())
}

/// `jwks_url` (http:// or https://) with its fetch timings.
fn jwks_url(
    raw: &RawJwtKey,
    value: &Spanned<String>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<JwtKeySource> {
    let k = |field: &str| format!("{key}.{field}");
    let url = ctx.string(value, &k("jwks_url")).and_then(|url| {
        let parsed = http::Uri::from_str(&url).ok();
        let valid = parsed.as_ref().is_some_and(|u| {
            matches!(u.scheme_str(), Some("http" | "https"))
                && u.authority().is_some_and(|a| !a.host().is_empty())
        });
        if valid {
            return Some(url);
        }
        let msg = format!("invalid JWKS URL \"{}\"", url.escape_debug());
        let hint = "write http:// or https:// and a host, e.g. \
                    \"https://idp.example.com/.well-known/jwks.json\"";
        ctx.error(value.span(), k("jwks_url"), msg, Some(hint.to_owned()));
        None
    });
    let mut timing = |v: &Option<Spanned<DurationStr>>, field: &str, default: u64| match v {
        Some(v) => ctx.timeout(v, &k(field)),
        None => Some(Duration::from_secs(default)),
    };
    let refresh = timing(&raw.refresh, "refresh", 300);
    let min_refetch = timing(&raw.min_refetch, "min_refetch", 30);
    let timeout = timing(&raw.timeout, "timeout", 5);
    Some(JwtKeySource::JwksUrl {
        url: url?,
        refresh: refresh?,
        min_refetch: min_refetch?,
        timeout: timeout?,
    })
}
