//! Claim tests: `exp`/`nbf`/`iat` with leeway, `iss`, `aud` (string and array), required
//! claims, and `Claims::consumer` / `Claims::header_value`.

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::test_support::*;
use super::{Claims, JwtError, Verifier};
use crate::config::policy::JwtSpec;

fn base() -> JwtSpec {
    spec(vec![verify_source(Algorithm::HS256)])
}

/// Verifies a token carrying `changes` over the default claims (null removes a claim).
fn check(spec: &JwtSpec, changes: Value) -> Result<std::sync::Arc<Claims>, JwtError> {
    let v = Verifier::new(spec).unwrap();
    let t = sign(
        Algorithm::HS256,
        None,
        &claims_with(changes),
        &signing_key(Algorithm::HS256),
    );
    v.verify(&t, NOW)
}

fn reason(spec: &JwtSpec, changes: Value) -> &'static str {
    check(spec, changes).map_or_else(|e| e.reason(), |_| "ok")
}

#[test]
fn exp_is_required_and_must_be_a_number() {
    assert_eq!(
        check(&base(), json!({"exp": null})),
        Err(JwtError::MissingClaim("exp".into()))
    );
    assert_eq!(
        check(&base(), json!({"exp": "tomorrow"})),
        Err(JwtError::InvalidClaim("exp"))
    );
    assert_eq!(
        check(&base(), json!({"nbf": [1]})),
        Err(JwtError::InvalidClaim("nbf"))
    );
    assert_eq!(
        check(&base(), json!({"iat": true})),
        Err(JwtError::InvalidClaim("iat"))
    );
}

#[test]
fn exp_in_the_past_beyond_leeway_is_expired() {
    assert_eq!(reason(&base(), json!({"exp": NOW - 61})), "expired");
    assert_eq!(reason(&base(), json!({"exp": NOW - 60})), "expired");
    assert_eq!(reason(&base(), json!({"exp": 0})), "expired");
    let mut strict = base();
    strict.leeway = std::time::Duration::ZERO;
    // Valid only before exp (RFC 7519 §4.1.4).
    assert_eq!(reason(&strict, json!({"exp": NOW})), "expired");
    assert_eq!(reason(&strict, json!({"exp": NOW + 1})), "ok");
}

#[test]
fn exp_within_leeway_is_accepted() {
    assert_eq!(reason(&base(), json!({"exp": NOW - 59})), "ok");
    assert_eq!(reason(&base(), json!({"exp": NOW - 30})), "ok");
    // Fractional NumericDate.
    assert_eq!(
        reason(&base(), json!({"exp": (NOW - 59) as f64 + 0.5})),
        "ok"
    );
    assert_eq!(
        reason(&base(), json!({"exp": (NOW - 60) as f64 - 0.5})),
        "expired"
    );
}

#[test]
fn nbf_in_the_future_beyond_leeway_is_not_yet_valid() {
    assert_eq!(reason(&base(), json!({"nbf": NOW + 61})), "not_yet_valid");
    assert_eq!(reason(&base(), json!({"nbf": NOW + 3600})), "not_yet_valid");
}

#[test]
fn nbf_within_leeway_or_past_is_accepted() {
    assert_eq!(reason(&base(), json!({"nbf": NOW + 60})), "ok");
    assert_eq!(reason(&base(), json!({"nbf": NOW})), "ok");
    assert_eq!(reason(&base(), json!({"nbf": NOW - 1000})), "ok");
}

#[test]
fn iat_in_the_future_is_refused_beyond_leeway() {
    assert_eq!(
        reason(&base(), json!({"iat": NOW + 61})),
        "issued_in_future"
    );
    assert_eq!(reason(&base(), json!({"iat": NOW + 60})), "ok");
    assert_eq!(reason(&base(), json!({"iat": null})), "ok");
}

#[test]
fn issuer_must_be_listed_when_configured() {
    let mut s = base();
    assert_eq!(reason(&s, json!({"iss": "https://anyone"})), "ok");
    s.issuers = vec!["https://idp.example".into(), "https://idp2.example".into()];
    assert_eq!(reason(&s, json!({"iss": "https://idp2.example"})), "ok");
    assert_eq!(
        reason(&s, json!({"iss": "https://evil.example"})),
        "bad_issuer"
    );
    assert_eq!(
        reason(&s, json!({"iss": ["https://idp.example"]})),
        "bad_issuer"
    );
    assert_eq!(
        check(&s, json!({})),
        Err(JwtError::MissingClaim("iss".into()))
    );
}

#[test]
fn audience_string_must_be_listed_when_configured() {
    let mut s = base();
    assert_eq!(reason(&s, json!({"aud": "someone-else"})), "ok");
    s.audiences = vec!["orders".into(), "billing".into()];
    assert_eq!(reason(&s, json!({"aud": "billing"})), "ok");
    assert_eq!(reason(&s, json!({"aud": "shipping"})), "bad_audience");
    assert_eq!(reason(&s, json!({"aud": 7})), "bad_audience");
    assert_eq!(
        check(&s, json!({})),
        Err(JwtError::MissingClaim("aud".into()))
    );
}

#[test]
fn audience_array_must_intersect() {
    let mut s = base();
    s.audiences = vec!["orders".into()];
    assert_eq!(reason(&s, json!({"aud": ["shipping", "orders"]})), "ok");
    assert_eq!(
        reason(&s, json!({"aud": ["shipping", "billing"]})),
        "bad_audience"
    );
    assert_eq!(reason(&s, json!({"aud": []})), "bad_audience");
    assert_eq!(reason(&s, json!({"aud": [["orders"]]})), "bad_audience");
}

#[test]
fn required_claims_must_be_present() {
    let mut s = base();
    s.required_claims = vec!["tenant".into(), "scope".into()];
    assert_eq!(reason(&s, json!({"tenant": "t1", "scope": "read"})), "ok");
    assert_eq!(
        check(&s, json!({"tenant": "t1"})),
        Err(JwtError::MissingClaim("scope".into()))
    );
    assert_eq!(
        check(&s, json!({"tenant": null, "scope": "read"})),
        Err(JwtError::MissingClaim("tenant".into()))
    );
    // Falsy but present values count.
    assert_eq!(reason(&s, json!({"tenant": "", "scope": false})), "ok");
}

#[test]
fn signature_is_checked_before_claims() {
    // An expired token with a wrong signature reports the signature.
    let v = Verifier::new(&base()).unwrap();
    let wrong = jsonwebtoken::EncodingKey::from_secret(SECRET2);
    let t = sign(
        Algorithm::HS256,
        None,
        &claims_with(json!({"exp": 1})),
        &wrong,
    );
    assert_eq!(v.verify(&t, NOW), Err(JwtError::BadSignature));
}

#[test]
fn claims_consumer() {
    let c = check(
        &base(),
        json!({"uid": 42, "empty": "", "obj": {"a": 1}, "flag": true}),
    )
    .unwrap();
    assert_eq!(c.consumer("sub").as_deref(), Some("alice"));
    assert_eq!(c.consumer("uid").as_deref(), Some("42"));
    assert_eq!(c.consumer("empty"), None);
    assert_eq!(c.consumer("obj"), None);
    assert_eq!(c.consumer("flag"), None);
    assert_eq!(c.consumer("missing"), None);
    assert_eq!(c.get("uid"), Some(&json!(42)));
}

#[test]
fn claims_header_value() {
    let c = Claims(
        json!({
            "sub": "alice",
            "roles": ["admin", "ops"],
            "n": 1.5,
            "org": {"id": 7},
            "ok": true,
            "nothing": null,
            "bad": "line\nbreak",
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    let hv = |name: &str| c.header_value(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(hv("sub").as_deref(), Some("alice"));
    assert_eq!(hv("roles").as_deref(), Some(r#"["admin","ops"]"#));
    assert_eq!(hv("n").as_deref(), Some("1.5"));
    assert_eq!(hv("org").as_deref(), Some(r#"{"id":7}"#));
    assert_eq!(hv("ok").as_deref(), Some("true"));
    assert_eq!(hv("nothing"), None);
    assert_eq!(hv("bad"), None);
    assert_eq!(hv("missing"), None);
}

#[test]
fn a_remembered_signature_still_has_its_claims_checked() {
    let v = Verifier::new(&base()).unwrap();
    let t = sign(
        Algorithm::HS256,
        None,
        &claims_with(json!({})),
        &signing_key(Algorithm::HS256),
    );
    let first = v.verify(&t, NOW).unwrap();
    let again = v.verify(&t, NOW).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first, &again),
        "the second check is served from the cache"
    );
    // Much later the cached token is expired like any other.
    assert_eq!(
        v.verify(&t, NOW + 10 * 365 * 24 * 3600)
            .map_err(|e| e.reason()),
        Err("expired")
    );
    // A token differing in its signature is not mistaken for the remembered one.
    let mut forged = t.clone();
    forged.pop();
    forged.push(if t.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        v.verify(&forged, NOW).map_err(|e| e.reason()),
        Err("bad_signature")
    );
}
