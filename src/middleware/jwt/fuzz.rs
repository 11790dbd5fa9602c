//! Property fuzzing (proptest) of what a client or a key server sends: `verify` on arbitrary
//! strings and on tokens built from hostile JOSE headers and claims (signed for real, so the
//! claim checks are reached), `bearer` on arbitrary header bytes, and `parse_jwks` on
//! arbitrary bytes and JWK soup. Cases: `PROPTEST_CASES` (256 unless set; `scripts/fuzz`).

use std::sync::OnceLock;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::keys::parse_jwks;
use super::test_support::{b64, secret, sign, verifier, NOW, SECRET};
use super::Verifier;

/// One verifier for every case: an HS256/384/512 secret (the verified-token cache is shared,
/// as it is in the gateway).
fn shared() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| verifier(vec![secret(SECRET, &[], None)]))
}

/// JSON values that claim checks and header parsing must survive.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(1e308)),
        Just(json!(-1e308)),
        Just(json!(NOW + 60)),
        "[a-zA-Z0-9 ]{0,8}".prop_map(Value::from),
        Just(json!([])),
        Just(json!(["a", 1])),
        Just(json!({ "x": 1 })),
    ]
}

fn claims() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(&["exp", "nbf", "iat", "iss", "aud", "sub", "x"][..]);
    prop::collection::vec((names, hostile_value()), 0..7).prop_map(|members| {
        Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    })
}

fn header() -> impl Strategy<Value = Value> {
    let algs = prop::sample::select(&["HS256", "none", "NoNe", "RS256", "ES256", "EdDSA", ""][..]);
    (algs, prop::option::of(hostile_value()), any::<bool>()).prop_map(|(alg, kid, crit)| {
        let mut h = json!({ "alg": alg, "typ": "JWT" });
        if let Some(kid) = kid {
            h["kid"] = kid;
        }
        if crit {
            h["crit"] = json!(["exp"]);
        }
        h
    })
}

fn jwk() -> impl Strategy<Value = Value> {
    let kty = prop::sample::select(&["RSA", "EC", "OKP", "oct", "x", ""][..]);
    let field =
        prop::sample::select(&["n", "e", "x", "y", "crv", "alg", "use", "key_ops", "k"][..]);
    (kty, prop::collection::vec((field, hostile_value()), 0..6)).prop_map(|(kty, fields)| {
        let mut k = json!({ "kty": kty });
        for (name, value) in fields {
            k[name] = value;
        }
        k
    })
}

proptest! {
    #[test]
    fn fuzz_jwt_verify_arbitrary_strings(token in any::<String>(), dots in "[A-Za-z0-9_.=-]{0,64}") {
        let v = shared();
        let _ = v.verify(&token, NOW);
        let _ = v.verify(&dots, NOW);
    }

    #[test]
    fn fuzz_jwt_verify_hostile_headers(h in header(), c in claims(), sig in "[A-Za-z0-9_=-]{0,12}") {
        let token = format!("{}.{}.{sig}", b64(&h.to_string()), b64(&c.to_string()));
        prop_assert!(shared().verify(&token, NOW).is_err(), "{token}");
    }

    #[test]
    fn fuzz_jwt_verify_signed_hostile_claims(c in claims(), alg in 0..3usize) {
        let alg = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512][alg];
        let token = sign(alg, None, &c, &EncodingKey::from_secret(SECRET));
        let v = shared();
        let first = v.verify(&token, NOW).map(|claims| claims.0.clone());
        // A second look (from the verified-token cache when it passed) agrees with the first.
        prop_assert_eq!(v.verify(&token, NOW).map(|claims| claims.0.clone()), first.clone());
        if first.is_ok() {
            let exp = c["exp"].as_f64().expect("an accepted token has a numeric exp");
            prop_assert!((NOW as f64) < exp + 60.0);
        }
    }

    #[test]
    fn fuzz_jwt_bearer_any_header(value in prop::collection::vec(any::<u8>(), 0..40)) {
        let Ok(value) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value);
        if let Some(token) = Verifier::bearer(&h) {
            prop_assert!(!token.starts_with(' ') && !token.ends_with(' '));
        }
    }

    #[test]
    fn fuzz_jwks_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_jwks(&body);
    }

    #[test]
    fn fuzz_jwks_hostile_keys(keys in prop::collection::vec(jwk(), 0..4)) {
        let _ = parse_jwks(json!({ "keys": keys }).to_string().as_bytes());
    }
}
