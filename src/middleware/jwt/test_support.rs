//! Test helpers: fixture keys (tests/fixtures/jwt, openssl-generated, test-only), spec and
//! token builders, JWK encoding and a small real JWKS server on 127.0.0.1:0.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::Verifier;
use crate::config::policy::{JwtKeySource, JwtSpec};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../tests/fixtures/jwt/", $name))
    };
}

pub(super) const RSA_PRIV: &str = fixture!("rsa_private.pem");
pub(super) const RSA_PUB: &str = fixture!("rsa_public.pem");
pub(super) const RSA2_PRIV: &str = fixture!("rsa2_private.pem");
pub(super) const EC256_PRIV: &str = fixture!("ec256_private.pem");
pub(super) const EC256_PUB: &str = fixture!("ec256_public.pem");
pub(super) const EC256B_PRIV: &str = fixture!("ec256b_private.pem");
pub(super) const EC384_PRIV: &str = fixture!("ec384_private.pem");
pub(super) const EC384_PUB: &str = fixture!("ec384_public.pem");
pub(super) const ED_PRIV: &str = fixture!("ed25519_private.pem");
pub(super) const ED_PUB: &str = fixture!("ed25519_public.pem");
pub(super) const ED2_PRIV: &str = fixture!("ed25519b_private.pem");
pub(super) const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-only";
pub(super) const SECRET2: &[u8] = b"another-secret-another-secret-another-secret";

/// A verifier for `keys` with the default spec.
pub(super) fn verifier(keys: Vec<JwtKeySource>) -> Verifier {
    Verifier::new(&spec(keys)).unwrap()
}

/// The reason `token` is refused at `NOW`, or "ok".
pub(super) fn reason(v: &Verifier, token: &str) -> &'static str {
    match v.verify(token, NOW) {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

/// The test clock: every token is checked at this unix time.
pub(super) const NOW: u64 = 1_700_000_000;

/// A spec with the defaults of the config (60 s leeway, 8 KiB tokens, `sub`).
pub(super) fn spec(keys: Vec<JwtKeySource>) -> JwtSpec {
    JwtSpec {
        keys,
        ..JwtSpec::default()
    }
}

pub(super) fn secret(secret: &[u8], algs: &[Algorithm], kid: Option<&str>) -> JwtKeySource {
    JwtKeySource::Secret {
        secret: secret.to_vec(),
        algorithms: algs.to_vec(),
        kid: kid.map(Into::into),
    }
}

pub(super) fn pem(pem: &str, algs: &[Algorithm], kid: Option<&str>) -> JwtKeySource {
    JwtKeySource::Pem {
        pem: pem.into(),
        algorithms: algs.to_vec(),
        kid: kid.map(Into::into),
    }
}

pub(super) fn url_source(url: &str, refresh_ms: u64, min_refetch_ms: u64) -> JwtKeySource {
    JwtKeySource::JwksUrl {
        url: url.into(),
        refresh: Duration::from_millis(refresh_ms),
        min_refetch: Duration::from_millis(min_refetch_ms),
        timeout: Duration::from_secs(2),
    }
}

/// The signing key of the fixture that goes with `alg`.
pub(super) fn signing_key(alg: Algorithm) -> EncodingKey {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => EncodingKey::from_secret(SECRET),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => rsa_key(RSA_PRIV),
        ES256 => EncodingKey::from_ec_pem(EC256_PRIV.as_bytes()).unwrap(),
        ES384 => EncodingKey::from_ec_pem(EC384_PRIV.as_bytes()).unwrap(),
        EdDSA => EncodingKey::from_ed_pem(ED_PRIV.as_bytes()).unwrap(),
    }
}

pub(super) fn rsa_key(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

/// The verification source that goes with `signing_key(alg)`, for `alg` only.
pub(super) fn verify_source(alg: Algorithm) -> JwtKeySource {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => secret(SECRET, &[alg], None),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => pem(RSA_PUB, &[alg], None),
        ES256 => pem(EC256_PUB, &[alg], None),
        ES384 => pem(EC384_PUB, &[alg], None),
        EdDSA => pem(ED_PUB, &[alg], None),
    }
}

/// Valid claims at `NOW`.
pub(super) fn claims() -> Value {
    json!({ "sub": "alice", "iat": NOW - 10, "exp": NOW + 600 })
}

/// `claims()` with the given fields replaced (null removes).
pub(super) fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// A real token signed by `jsonwebtoken::encode`.
pub(super) fn sign<T: serde::Serialize>(
    alg: Algorithm,
    kid: Option<&str>,
    claims: &T,
    key: &EncodingKey,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, claims, key).unwrap()
}

/// A valid token for `alg` with the fixture key.
pub(super) fn token(alg: Algorithm) -> String {
    sign(alg, None, &claims(), &signing_key(alg))
}

pub(super) fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The public JWK of the fixture key for `alg`, with `kid`.
pub(super) fn jwk(alg: Algorithm, kid: &str) -> Value {
    let mut value = if alg == Algorithm::EdDSA {
        let x = DecodingKey::from_ed_pem(ED_PUB.as_bytes()).unwrap();
        json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(x.as_bytes()) })
    } else {
        serde_json::to_value(Jwk::from_encoding_key(&signing_key(alg), alg).unwrap()).unwrap()
    };
    value["kid"] = json!(kid);
    value["use"] = json!("sig");
    value
}

/// The public JWK of an RSA private key, without `alg` (derived from the key type).
pub(super) fn rsa_jwk(private_pem: &str, kid: &str) -> Value {
    let mut value = serde_json::to_value(
        Jwk::from_encoding_key(&rsa_key(private_pem), Algorithm::RS256).unwrap(),
    )
    .unwrap();
    value.as_object_mut().unwrap().remove("alg");
    value["kid"] = json!(kid);
    value
}

pub(super) fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// Polls `cond` every 10 ms for up to 5 s.
pub(super) async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A JWKS endpoint on 127.0.0.1:0 serving a body that tests can swap (`None` = 503).
pub(super) struct JwksServer {
    pub(super) url: String,
    body: Arc<Mutex<Option<String>>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub(super) async fn start(body: Option<String>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let body = Arc::new(Mutex::new(body));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (body.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (b, h) = (b.clone(), h.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |_req| {
                        h.fetch_add(1, Ordering::SeqCst);
                        let answer = match b.lock().unwrap().clone() {
                            Some(text) => Response::new(Full::new(Bytes::from(text))),
                            None => {
                                let mut r = Response::new(Full::new(Bytes::from("down")));
                                *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                                r
                            }
                        };
                        async move { Ok::<_, Infallible>(answer) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        JwksServer {
            url,
            body,
            hits,
            task,
        }
    }

    pub(super) fn set(&self, body: Option<String>) {
        *self.body.lock().unwrap() = body;
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Stops listening: later connections are refused.
    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
