//! JWKS tests: parsing (file), and JWKS URLs served by a real hyper server on 127.0.0.1:0:
//! first fetch, fail closed before it, refetch on an unknown kid (rate-limited), rotation by
//! periodic refresh, last good keys kept while the IdP is down, https refused at fetch time.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::test_support::*;
use super::{JwtError, Verifier};
use crate::config::policy::JwtKeySource;
use crate::tls::outbound::Outbound;

fn signed(alg: Algorithm, kid: &str) -> String {
    sign(alg, Some(kid), &claims(), &signing_key(alg))
}

fn write_temp(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn file_verifier(name: &str, body: &str) -> Result<Verifier, String> {
    let path = write_temp(name, body);
    Verifier::new(&spec(vec![JwtKeySource::JwksFile { path }]))
}

#[test]
fn jwks_file_keys_verify_by_kid() {
    let set = jwks(&[
        jwk(Algorithm::RS256, "rsa"),
        jwk(Algorithm::ES256, "p256"),
        jwk(Algorithm::ES384, "p384"),
        jwk(Algorithm::EdDSA, "ed"),
        jwk(Algorithm::HS512, "oct"),
    ]);
    let v = file_verifier("all.json", &set).unwrap();
    assert!(v.ready());
    for (alg, kid) in [
        (Algorithm::RS256, "rsa"),
        (Algorithm::ES256, "p256"),
        (Algorithm::ES384, "p384"),
        (Algorithm::EdDSA, "ed"),
        (Algorithm::HS512, "oct"),
    ] {
        assert!(v.verify(&signed(alg, kid), NOW).is_ok(), "{kid}");
    }
    // The JWK's alg binds the key: RS256 only, not PS256.
    assert_eq!(
        v.verify(&signed(Algorithm::PS256, "rsa"), NOW),
        Err(JwtError::AlgNotAllowed("PS256"))
    );
}

#[test]
fn jwks_without_alg_derives_it_from_the_key_type() {
    let v = file_verifier("noalg.json", &jwks(&[rsa_jwk(RSA_PRIV, "r1")])).unwrap();
    for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS384] {
        assert!(v.verify(&signed(alg, "r1"), NOW).is_ok(), "{alg:?}");
    }
    assert_eq!(
        v.verify(
            &sign(
                Algorithm::HS256,
                Some("r1"),
                &claims(),
                &signing_key(Algorithm::HS256)
            ),
            NOW
        ),
        Err(JwtError::AlgNotAllowed("HS256"))
    );
}

#[test]
fn jwks_skips_encryption_and_unsupported_keys() {
    let mut enc = rsa_jwk(RSA_PRIV, "enc");
    enc["use"] = json!("enc");
    let mut oaep = rsa_jwk(RSA_PRIV, "oaep");
    oaep["alg"] = json!("RSA-OAEP");
    let mut wrap = rsa_jwk(RSA_PRIV, "wrap");
    wrap["key_ops"] = json!(["wrapKey"]);
    let mut mismatched = jwk(Algorithm::ES256, "mismatch");
    mismatched["alg"] = json!("RS256");
    let set = jwks(&[
        enc,
        oaep,
        wrap,
        mismatched,
        json!({"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"}),
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "short", "x": "AAAA"}),
        json!({"kty": "weird", "kid": "w"}),
        jwk(Algorithm::ES256, "good"),
    ]);
    let v = file_verifier("mixed.json", &set).unwrap();
    assert!(v.verify(&signed(Algorithm::ES256, "good"), NOW).is_ok());
    for kid in ["enc", "oaep", "wrap"] {
        assert_eq!(
            v.verify(&signed(Algorithm::RS256, kid), NOW),
            Err(JwtError::UnknownKid),
            "{kid}"
        );
    }
    assert_eq!(
        v.verify(&signed(Algorithm::ES256, "mismatch"), NOW),
        Err(JwtError::UnknownKid)
    );
}

#[test]
fn bad_jwks_files_are_refused() {
    let missing = std::env::temp_dir().join("portcullis-jwt-no-such-file.json");
    let err = Verifier::new(&spec(vec![JwtKeySource::JwksFile { path: missing }])).err();
    assert!(err.unwrap().contains("cannot read"));
    let err = file_verifier("bad.json", "{\"keys\": 5}").err().unwrap();
    assert!(err.contains("not a JWKS document"), "{err}");
    let err = file_verifier("empty.json", "{\"keys\": []}").err().unwrap();
    assert!(err.contains("no usable signing key"), "{err}");
}

/// A started verifier on the current runtime.
fn started(keys: Vec<JwtKeySource>) -> Arc<Verifier> {
    let v = Arc::new(Verifier::new(&spec(keys)).unwrap());
    let handles = v.start(&tokio::runtime::Handle::current());
    assert_eq!(handles.len(), 1);
    v
}

#[tokio::test]
async fn jwks_url_initial_fetch_and_fail_closed_before_it() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "k1")]))).await;
    let v = Arc::new(Verifier::new(&spec(vec![url_source(&idp.url, 60_000, 60_000)])).unwrap());
    // Not started: no keys, fail closed.
    assert!(!v.ready());
    assert_eq!(
        v.verify(&signed(Algorithm::RS256, "k1"), NOW),
        Err(JwtError::KeysUnavailable)
    );
    assert_eq!(
        v.verify(&token(Algorithm::RS256), NOW),
        Err(JwtError::KeysUnavailable)
    );
    v.start(&tokio::runtime::Handle::current());
    eventually("first fetch", || v.ready()).await;
    assert!(v.verify(&signed(Algorithm::RS256, "k1"), NOW).is_ok());
    assert!(
        v.verify(&token(Algorithm::RS256), NOW).is_ok(),
        "kid-less token tries the key"
    );
    assert_eq!(idp.hits(), 1);
    assert!(
        v.start(&tokio::runtime::Handle::current()).is_empty(),
        "second start is a no-op"
    );
}

#[tokio::test]
async fn jwks_url_failing_from_the_start_stays_closed() {
    let idp = JwksServer::start(None).await;
    let v = started(vec![url_source(&idp.url, 60_000, 60_000)]);
    eventually("a failed attempt", || idp.hits() >= 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!v.ready());
    assert_eq!(
        v.verify(&signed(Algorithm::RS256, "k1"), NOW),
        Err(JwtError::KeysUnavailable)
    );
    // It retries (1 s after the first failure) and opens once the IdP answers.
    idp.set(Some(jwks(&[jwk(Algorithm::RS256, "k1")])));
    eventually("retry succeeds", || v.ready()).await;
    assert!(v.verify(&signed(Algorithm::RS256, "k1"), NOW).is_ok());
}

#[tokio::test]
async fn unknown_kid_triggers_one_refetch_per_min_refetch() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "old")]))).await;
    let v = started(vec![url_source(&idp.url, 60_000, 60_000)]);
    eventually("first fetch", || v.ready()).await;
    assert_eq!(idp.hits(), 1);
    // The IdP rotates: the new kid is unknown until the refetch it triggers.
    idp.set(Some(jwks(&[
        jwk(Algorithm::RS256, "old"),
        jwk(Algorithm::ES256, "new"),
    ])));
    let fresh = signed(Algorithm::ES256, "new");
    assert_eq!(v.verify(&fresh, NOW), Err(JwtError::UnknownKid));
    eventually("refetch", || idp.hits() == 2).await;
    eventually("new key", || v.verify(&fresh, NOW).is_ok()).await;
    // Another rotation within min_refetch: no further fetch.
    idp.set(Some(jwks(&[jwk(Algorithm::EdDSA, "newer")])));
    for _ in 0..5 {
        assert_eq!(
            v.verify(&signed(Algorithm::EdDSA, "newer"), NOW),
            Err(JwtError::UnknownKid)
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(idp.hits(), 2);
    assert!(v.verify(&fresh, NOW).is_ok(), "keys unchanged");
}

#[tokio::test]
async fn unknown_kid_refetches_again_after_min_refetch() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "a")]))).await;
    let v = started(vec![url_source(&idp.url, 60_000, 300)]);
    eventually("first fetch", || v.ready()).await;
    let unknown = signed(Algorithm::RS256, "zzz");
    assert_eq!(v.verify(&unknown, NOW), Err(JwtError::UnknownKid));
    eventually("first refetch", || idp.hits() == 2).await;
    assert_eq!(v.verify(&unknown, NOW), Err(JwtError::UnknownKid));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(idp.hits(), 2, "within min_refetch");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(v.verify(&unknown, NOW), Err(JwtError::UnknownKid));
    eventually("second refetch", || idp.hits() == 3).await;
}

#[tokio::test]
async fn verify_fresh_waits_for_the_refetch() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "old")]))).await;
    let v = started(vec![url_source(&idp.url, 60_000, 60_000)]);
    eventually("first fetch", || v.ready()).await;
    idp.set(Some(jwks(&[jwk(Algorithm::ES384, "rotated")])));
    let t = signed(Algorithm::ES384, "rotated");
    assert!(v.verify_fresh(&t, NOW).await.is_ok());
    assert_eq!(idp.hits(), 2);
    // Rate-limited: nothing pending, so an unknown kid answers at once.
    let started_at = std::time::Instant::now();
    let other = signed(Algorithm::ES384, "other");
    assert_eq!(v.verify_fresh(&other, NOW).await, Err(JwtError::UnknownKid));
    assert!(started_at.elapsed() < Duration::from_millis(500));
    // Other failures are not retried.
    assert_eq!(
        v.verify_fresh("x.y", NOW).await.unwrap_err().reason(),
        "malformed"
    );
}

#[tokio::test]
async fn periodic_refresh_picks_up_rotation() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "k1")]))).await;
    let v = started(vec![url_source(&idp.url, 100, 60_000)]);
    eventually("first fetch", || v.ready()).await;
    idp.set(Some(jwks(&[jwk(Algorithm::EdDSA, "k2")])));
    let k2 = signed(Algorithm::EdDSA, "k2");
    eventually("refresh", || v.verify(&k2, NOW).is_ok()).await;
    assert!(idp.hits() >= 2);
    assert_eq!(
        v.verify(&signed(Algorithm::RS256, "k1"), NOW),
        Err(JwtError::UnknownKid)
    );
}

#[tokio::test]
async fn idp_down_keeps_the_last_good_keys() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "k1")]))).await;
    let v = started(vec![url_source(&idp.url, 50, 60_000)]);
    eventually("first fetch", || v.ready()).await;
    // Errors, then no answer at all.
    idp.set(None);
    let at = idp.hits();
    eventually("failed refreshes", || idp.hits() >= at + 2).await;
    assert!(v.ready());
    assert!(v.verify(&signed(Algorithm::RS256, "k1"), NOW).is_ok());
    idp.set(Some("{\"keys\": []}".into()));
    let at = idp.hits();
    eventually("empty set served", || idp.hits() >= at + 2).await;
    assert!(v.verify(&signed(Algorithm::RS256, "k1"), NOW).is_ok());
    idp.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(v.ready());
    assert!(v.verify(&signed(Algorithm::RS256, "k1"), NOW).is_ok());
}

#[tokio::test]
async fn an_unreachable_https_source_fails_closed() {
    let v = started(vec![url_source("https://127.0.0.1:1/jwks", 60_000, 60_000)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!v.ready());
    assert_eq!(
        v.verify(&signed(Algorithm::RS256, "k1"), NOW),
        Err(JwtError::KeysUnavailable)
    );
    let client = Outbound::default();
    let err = super::fetch::fetch_jwks(&client, "https://127.0.0.1:1/jwks", Duration::from_secs(1))
        .await
        .err()
        .unwrap();
    assert!(err.contains("connect to 127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn fetch_times_out_and_reports_status() {
    // Accepts but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = Outbound::default();
    let url = format!("http://{}/jwks", silent.local_addr().unwrap());
    let err = super::fetch::fetch_jwks(&client, &url, Duration::from_millis(100))
        .await
        .err()
        .unwrap();
    assert!(err.contains("no answer within"), "{err}");
    let idp = JwksServer::start(None).await;
    let err = super::fetch::fetch_jwks(&client, &idp.url, Duration::from_secs(2))
        .await
        .err()
        .unwrap();
    assert!(err.contains("503"), "{err}");
}

#[tokio::test]
async fn static_keys_work_while_url_keys_are_missing() {
    let idp = JwksServer::start(None).await;
    let v = started(vec![
        secret(SECRET, &[Algorithm::HS256], Some("static")),
        url_source(&idp.url, 60_000, 60_000),
    ]);
    assert!(!v.ready());
    let t = sign(
        Algorithm::HS256,
        Some("static"),
        &claims(),
        &signing_key(Algorithm::HS256),
    );
    assert!(v.verify(&t, NOW).is_ok());
    assert_eq!(
        v.verify(&signed(Algorithm::RS256, "idp"), NOW),
        Err(JwtError::KeysUnavailable)
    );
}

#[tokio::test]
async fn dropping_the_verifier_stops_refresh() {
    let idp = JwksServer::start(Some(jwks(&[jwk(Algorithm::RS256, "k1")]))).await;
    let v = Arc::new(Verifier::new(&spec(vec![url_source(&idp.url, 50, 60_000)])).unwrap());
    let handles = v.start(&tokio::runtime::Handle::current());
    eventually("first fetch", || v.ready()).await;
    drop(v);
    for h in handles {
        assert!(h.await.unwrap_err().is_cancelled());
    }
    let at = idp.hits();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(idp.hits(), at);
}
