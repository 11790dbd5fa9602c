//! JWT bearer verification: a `Verifier` built once per config load from a `JwtSpec` checks
//! compact JWS tokens (JOSE header, key and algorithm, signature, registered claims).
//!
//! The JOSE header is parsed here before any key is touched: `alg: none` (any case), unknown
//! algorithms and any `crit` parameter are refused. A key is only ever used with the algorithms
//! it is for (see `keys`), so an HS256 token "signed" with an RSA public key is refused. Keys
//! from JWKS URLs are refreshed in the background (`fetch`). Claim checks take the time as an
//! argument, so they are done here (`claims`) rather than with `jsonwebtoken::Validation`,
//! which reads the system clock.

mod claims;
mod error;
mod fetch;
#[cfg(test)]
mod fuzz;
mod keys;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_claims;
#[cfg(test)]
mod tests_jwks;
#[cfg(test)]
mod tests_malformed;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::AUTHORIZATION;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::config::policy::{JwtKeySource, JwtSpec};

pub use claims::Claims;
pub use error::JwtError;

use error::alg_name;
use fetch::UrlSource;
use keys::VerifyKey;

/// Verifies bearer tokens for one `JwtSpec`. Send + Sync; share it behind an `Arc`.
pub struct Verifier {
    /// Secret, PEM and JWKS-file keys, loaded in `new`.
    static_keys: Vec<VerifyKey>,
    /// JWKS URL sources; empty until their first fetch.
    sources: Vec<Arc<UrlSource>>,
    rules: claims::Rules,
    max_token_bytes: usize,
    started: AtomicBool,
    /// The refresh tasks, aborted when the verifier is dropped.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Tokens whose signature was verified recently (see `VERIFIED_TTL`).
    verified: moka::sync::Cache<Arc<str>, Arc<Claims>, xxhash_rust::xxh3::Xxh3Builder>,
}

/// How long a verified signature is remembered. Claims (exp, nbf, iat, iss, aud, required)
/// are checked again on every request; only the signature check is skipped. A key removed
/// from a JWKS keeps validating tokens it signed for at most this long.
pub const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Most verified tokens remembered per verifier (each entry is the token and its claims).
pub const VERIFIED_MAX: u64 = 10_000;

/// The parts of a JOSE header that matter here.
struct JoseHeader {
    alg: Algorithm,
    kid: Option<String>,
}

impl Verifier {
    /// Builds from the spec: Secret/Pem keys and JwksFile are loaded now (errors returned as
    /// String with a clear reason); JwksUrl sources start empty. A Secret or Pem source with
    /// no algorithms listed gets every algorithm of its key type.
    pub fn new(spec: &JwtSpec) -> Result<Verifier, String> {
        if spec.keys.is_empty() {
            return Err("jwt: no key source configured".into());
        }
        let mut static_keys = Vec::new();
        let mut sources = Vec::new();
        for (i, source) in spec.keys.iter().enumerate() {
            let at = |why: String| format!("jwt key source {}: {why}", i + 1);
            match source {
                JwtKeySource::Secret {
                    secret,
                    algorithms,
                    kid,
                } => static_keys
                    .push(keys::from_secret(secret, algorithms, kid.clone()).map_err(at)?),
                JwtKeySource::Pem {
                    pem,
                    algorithms,
                    kid,
                } => static_keys.push(keys::from_pem(pem, algorithms, kid.clone()).map_err(at)?),
                JwtKeySource::JwksFile { path } => {
                    let body = std::fs::read(path)
                        .map_err(|e| at(format!("cannot read {}: {e}", path.display())))?;
                    let set = keys::parse_jwks(&body)
                        .map_err(|e| at(format!("{}: {e}", path.display())))?;
                    static_keys.extend(set);
                }
                JwtKeySource::JwksUrl {
                    url,
                    refresh,
                    min_refetch,
                    timeout,
                } => sources.push(Arc::new(
                    UrlSource::new(url, *refresh, *min_refetch, *timeout).map_err(at)?,
                )),
            }
        }
        Ok(Verifier {
            static_keys,
            sources,
            rules: claims::Rules {
                issuers: spec.issuers.clone(),
                audiences: spec.audiences.clone(),
                required: spec.required_claims.clone(),
                leeway: spec.leeway.as_secs_f64(),
            },
            max_token_bytes: spec.max_token_bytes,
            started: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_MAX)
                .time_to_live(VERIFIED_TTL)
                // Only validly signed tokens are ever inserted, so the (fast, seeded) hash
                // cannot be flooded with chosen collisions.
                .build_with_hasher(
                    xxhash_rust::xxh3::Xxh3Builder::new().with_seed(fastrand::u64(..)),
                ),
        })
    }

    /// Starts background fetching for JwksUrl sources on the given runtime; returns the task
    /// handles (aborting them stops refresh; dropping the verifier aborts them too). Only the
    /// first call starts anything.
    pub fn start(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        if self.started.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        let handles: Vec<_> = self
            .sources
            .iter()
            .map(|s| rt.spawn(Arc::clone(s).run()))
            .collect();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.extend(handles.iter().map(|h| h.abort_handle()));
        handles
    }

    /// True once every JwksUrl source has fetched successfully at least once (readiness).
    pub fn ready(&self) -> bool {
        self.sources.iter().all(|s| s.ready())
    }

    /// Verifies a compact JWS token at unix time `now` (seconds). Returns the claims. Never
    /// waits: an unknown `kid` asks the JWKS URL sources for a refetch (at most once per
    /// `min_refetch`) and fails this token with `UnknownKid`; see `verify_fresh`.
    ///
    /// A token whose signature was verified within `VERIFIED_TTL` skips the signature check
    /// (the cache compares whole tokens, so no other token can match an entry); its claims
    /// are checked again against `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<Arc<Claims>, JwtError> {
        if token.len() > self.max_token_bytes {
            return Err(JwtError::TooLarge);
        }
        if let Some(claims) = self.verified.get(token) {
            self.rules.check(&claims.0, now)?;
            return Ok(claims);
        }
        if token.is_empty() {
            return Err(JwtError::Malformed("empty token"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("not three segments"));
        };
        let header = parse_header(header)?;
        let claims = match decode_json(payload, "payload is not base64url", "payload is not JSON")?
        {
            Value::Object(map) => map,
            _ => return Err(JwtError::Malformed("payload is not a JSON object")),
        };
        if signature.is_empty() || URL_SAFE_NO_PAD.decode(signature).is_err() {
            return Err(JwtError::Malformed("signature is not base64url"));
        }
        let message = &token.as_bytes()[..token.len() - signature.len() - 1];
        self.check_signature(&header, message, signature)?;
        self.rules.check(&claims, now)?;
        let claims = Arc::new(Claims(claims));
        self.verified.insert(Arc::from(token), claims.clone());
        Ok(claims)
    }

    /// Like `verify`, but when the token's `kid` is unknown and a JWKS refetch is pending (this
    /// token's or an earlier one's), waits for it up to the source's fetch timeout and verifies
    /// once more. For async callers that prefer a slower answer to a refused rotated key.
    pub async fn verify_fresh(&self, token: &str, now: u64) -> Result<Arc<Claims>, JwtError> {
        let first = self.verify(token, now);
        if !matches!(first, Err(JwtError::UnknownKid)) {
            return first;
        }
        let mut waited = false;
        for source in &self.sources {
            waited |= source.wait_pending().await;
        }
        if waited {
            self.verify(token, now)
        } else {
            first
        }
    }

    /// The token from a request's `Authorization: Bearer ...` header (case-insensitive
    /// scheme), None if absent/other scheme. A Bearer header with an empty or non-ASCII token
    /// gives `Some("")`, which `verify` refuses, so a broken credential is never mistaken for
    /// none.
    pub fn bearer(headers: &http::HeaderMap) -> Option<&str> {
        let value = headers.get(AUTHORIZATION)?;
        let bytes = value.as_bytes();
        let is_bearer = bytes.len() >= 6
            && bytes[..6].eq_ignore_ascii_case(b"bearer")
            && matches!(bytes.get(6), None | Some(b' ' | b'\t'));
        if !is_bearer {
            return None;
        }
        match value.to_str() {
            Ok(text) => Some(text[6..].trim_matches(|c| c == ' ' || c == '\t')),
            Err(_) => Some(""),
        }
    }

    /// Finds the keys for the token's `kid` and `alg` and checks the signature with them.
    fn check_signature(
        &self,
        header: &JoseHeader,
        message: &[u8],
        signature: &str,
    ) -> Result<(), JwtError> {
        let fetched: Vec<_> = self.sources.iter().map(|s| s.keys.load_full()).collect();
        let missing = fetched.iter().any(Option::is_none);
        let all = self
            .static_keys
            .iter()
            .chain(fetched.iter().flatten().flat_map(|set| set.iter()));
        // With a kid: keys with that kid, plus keys without one. Without: every key.
        let mut kid_known = false;
        let mut alg_fits = false;
        for key in all {
            match (&header.kid, &key.kid) {
                (Some(want), Some(have)) if want != have => continue,
                (Some(_), Some(_)) => kid_known = true,
                _ => {}
            }
            if !key.allows(header.alg) {
                continue;
            }
            alg_fits = true;
            if key.verify(header.alg, message, signature) {
                return Ok(());
            }
        }
        if kid_known {
            return Err(if alg_fits {
                JwtError::BadSignature
            } else {
                JwtError::AlgNotAllowed(alg_name(header.alg))
            });
        }
        if missing {
            return Err(JwtError::KeysUnavailable);
        }
        if header.kid.is_some() {
            for source in &self.sources {
                source.request_refetch();
            }
            return Err(JwtError::UnknownKid);
        }
        Err(if alg_fits {
            JwtError::BadSignature
        } else {
            JwtError::AlgNotAllowed(alg_name(header.alg))
        })
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

/// A base64url segment decoded and parsed as JSON; `Malformed(not_b64 | not_json)` otherwise.
fn decode_json(
    segment: &str,
    not_b64: &'static str,
    not_json: &'static str,
) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed(not_b64))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed(not_json))
}

/// Parses the JOSE header, refusing `alg: none`, unknown algorithms and `crit`.
fn parse_header(segment: &str) -> Result<JoseHeader, JwtError> {
    let Value::Object(header) =
        decode_json(segment, "header is not base64url", "header is not JSON")?
    else {
        return Err(JwtError::Malformed("header is not a JSON object"));
    };
    let Some(Value::String(alg)) = header.get("alg") else {
        return Err(JwtError::Malformed("header has no alg"));
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if header.contains_key("crit") {
        return Err(JwtError::CritUnsupported);
    }
    let alg = Algorithm::from_str(alg).map_err(|_| JwtError::AlgNotAllowed("unknown"))?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(JwtError::Malformed("kid is not a string")),
    };
    Ok(JoseHeader { alg, kid })
}
