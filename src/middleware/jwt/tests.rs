//! Verifier tests: every algorithm with its key, wrong keys, algorithm confusion, key
//! selection by `kid` and key loading errors.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::test_support::*;
use super::{JwtError, Verifier};

macro_rules! accepts {
    ($($name:ident: $alg:ident,)*) => {$(
        #[test]
        fn $name() {
            let v = verifier(vec![verify_source(Algorithm::$alg)]);
            let claims = v.verify(&token(Algorithm::$alg), NOW).unwrap();
            assert_eq!(claims.consumer("sub").as_deref(), Some("alice"));
        }
    )*};
}

accepts! {
    accepts_hs256: HS256, accepts_hs384: HS384, accepts_hs512: HS512,
    accepts_rs256: RS256, accepts_rs384: RS384, accepts_rs512: RS512,
    accepts_ps256: PS256, accepts_ps384: PS384, accepts_ps512: PS512,
    accepts_es256: ES256, accepts_es384: ES384, accepts_eddsa: EdDSA,
}

#[test]
fn wrong_key_is_bad_signature_for_every_key_type() {
    let cases = [
        (Algorithm::HS256, EncodingKey::from_secret(SECRET2)),
        (Algorithm::RS256, rsa_key(RSA2_PRIV)),
        (Algorithm::PS512, rsa_key(RSA2_PRIV)),
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(EC256B_PRIV.as_bytes()).unwrap(),
        ),
        (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(ED2_PRIV.as_bytes()).unwrap(),
        ),
    ];
    for (alg, key) in cases {
        let v = verifier(vec![verify_source(alg)]);
        let t = sign(alg, None, &claims(), &key);
        assert_eq!(reason(&v, &t), "bad_signature", "{alg:?}");
    }
}

#[test]
fn tampered_payload_is_bad_signature() {
    let v = verifier(vec![verify_source(Algorithm::RS256)]);
    let t = token(Algorithm::RS256);
    let parts: Vec<&str> = t.split('.').collect();
    let forged = b64(&claims_with(json!({"sub": "admin"})).to_string());
    let t = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert_eq!(reason(&v, &t), "bad_signature");
}

#[test]
fn rs256_token_refused_by_hmac_only_config() {
    let v = verifier(vec![secret(SECRET, &[Algorithm::HS256], None)]);
    let t = token(Algorithm::RS256);
    assert_eq!(v.verify(&t, NOW), Err(JwtError::AlgNotAllowed("RS256")));
}

#[test]
fn hs256_signed_with_rsa_public_key_is_refused() {
    // The classic confusion: the attacker uses the (public) RSA key PEM as an HMAC secret.
    let forged_key = EncodingKey::from_secret(RSA_PUB.as_bytes());
    for kid in [None, Some("rsa")] {
        let v = verifier(vec![pem(RSA_PUB, &[], kid)]);
        let t = sign(Algorithm::HS256, kid, &claims(), &forged_key);
        assert_eq!(reason(&v, &t), "alg_not_allowed", "kid {kid:?}");
        // The same key accepts its real tokens.
        let real = sign(Algorithm::RS256, kid, &claims(), &rsa_key(RSA_PRIV));
        assert_eq!(reason(&v, &real), "ok");
    }
    // Nor can a config list HS256 for an RSA key.
    let err = Verifier::new(&spec(vec![pem(RSA_PUB, &[Algorithm::HS256], None)])).err();
    assert!(err
        .unwrap()
        .contains("HS256 cannot be used with an RSA key"));
}

#[test]
fn key_is_used_only_with_its_listed_algorithms() {
    let v = verifier(vec![pem(RSA_PUB, &[Algorithm::RS256], None)]);
    assert_eq!(reason(&v, &token(Algorithm::RS256)), "ok");
    assert_eq!(reason(&v, &token(Algorithm::PS256)), "alg_not_allowed");
    let v = verifier(vec![secret(SECRET, &[Algorithm::HS512], None)]);
    assert_eq!(reason(&v, &token(Algorithm::HS256)), "alg_not_allowed");
}

#[test]
fn ec_curve_decides_the_algorithm() {
    let err = Verifier::new(&spec(vec![pem(EC384_PUB, &[Algorithm::ES256], None)])).err();
    assert!(err
        .unwrap()
        .contains("ES256 cannot be used with an EC P-384 key"));
    let v = verifier(vec![pem(EC256_PUB, &[], None), pem(EC384_PUB, &[], None)]);
    assert_eq!(reason(&v, &token(Algorithm::ES256)), "ok");
    assert_eq!(reason(&v, &token(Algorithm::ES384)), "ok");
    let v = verifier(vec![pem(EC256_PUB, &[], None)]);
    assert_eq!(reason(&v, &token(Algorithm::ES384)), "alg_not_allowed");
    assert_eq!(reason(&v, &token(Algorithm::EdDSA)), "alg_not_allowed");
}

#[test]
fn kid_selects_among_several_keys() {
    let v = verifier(vec![
        secret(SECRET, &[Algorithm::HS256], Some("hmac")),
        pem(RSA_PUB, &[], Some("rsa")),
        pem(EC256_PUB, &[], Some("ec")),
        pem(ED_PUB, &[], Some("ed")),
    ]);
    for (alg, kid) in [
        (Algorithm::HS256, "hmac"),
        (Algorithm::PS384, "rsa"),
        (Algorithm::ES256, "ec"),
        (Algorithm::EdDSA, "ed"),
    ] {
        let t = sign(alg, Some(kid), &claims(), &signing_key(alg));
        assert_eq!(reason(&v, &t), "ok", "{kid}");
    }
    // A real RSA signature under the EC key's kid: that key is not for RS256.
    let t = sign(
        Algorithm::RS256,
        Some("ec"),
        &claims(),
        &signing_key(Algorithm::RS256),
    );
    assert_eq!(reason(&v, &t), "alg_not_allowed");
    // The RSA kid with another RSA key's signature.
    let t = sign(
        Algorithm::RS256,
        Some("rsa"),
        &claims(),
        &rsa_key(RSA2_PRIV),
    );
    assert_eq!(reason(&v, &t), "bad_signature");
    let t = sign(
        Algorithm::HS256,
        Some("nope"),
        &claims(),
        &signing_key(Algorithm::HS256),
    );
    assert_eq!(v.verify(&t, NOW), Err(JwtError::UnknownKid));
    // Without a kid, every key allowed for the algorithm is tried.
    assert_eq!(reason(&v, &token(Algorithm::ES256)), "ok");
}

#[test]
fn keys_without_kid_serve_any_kid_and_all_are_tried() {
    let v = verifier(vec![
        secret(SECRET2, &[Algorithm::HS256], None),
        secret(SECRET, &[Algorithm::HS256], None),
    ]);
    let key = signing_key(Algorithm::HS256);
    assert_eq!(
        reason(&v, &sign(Algorithm::HS256, None, &claims(), &key)),
        "ok"
    );
    assert_eq!(
        reason(&v, &sign(Algorithm::HS256, Some("k7"), &claims(), &key)),
        "ok"
    );
    let wrong = EncodingKey::from_secret(b"neither-of-the-configured-secrets!");
    assert_eq!(
        reason(&v, &sign(Algorithm::HS256, None, &claims(), &wrong)),
        "bad_signature"
    );
    // With a kid no key has, a failure is reported as the unknown kid.
    assert_eq!(
        reason(&v, &sign(Algorithm::HS256, Some("k7"), &claims(), &wrong)),
        "unknown_kid"
    );
}

#[test]
fn bad_key_configurations_are_refused_with_a_reason() {
    let cases = [
        (spec(vec![]), "no key source"),
        (spec(vec![secret(b"", &[], None)]), "secret is empty"),
        (
            spec(vec![secret(SECRET, &[Algorithm::RS256], None)]),
            "RS256 cannot be used with an HMAC secret",
        ),
        (spec(vec![pem(RSA_PRIV, &[], None)]), "private key"),
        (spec(vec![pem("hello", &[], None)]), "not a PEM document"),
        (
            spec(vec![pem(
                &RSA_PUB.replace("PUBLIC KEY", "CERTIFICATE"),
                &[],
                None,
            )]),
            "expected PUBLIC KEY",
        ),
        (
            spec(vec![pem(&RSA_PUB.replace("MII", "AAA"), &[], None)]),
            "not an RSA, EC or Ed25519",
        ),
        (
            spec(vec![pem(ED_PUB, &[Algorithm::ES256], None)]),
            "ES256 cannot be used with an Ed25519 key",
        ),
        (
            spec(vec![url_source("ftp://idp/jwks", 1000, 1000)]),
            "must be http://",
        ),
        (
            spec(vec![url_source("http://idp/jwks", 0, 1000)]),
            "above zero",
        ),
    ];
    for (s, want) in cases {
        let err = Verifier::new(&s).err().expect(want);
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }
    let err = Verifier::new(&spec(vec![
        verify_source(Algorithm::HS256),
        pem("x", &[], None),
    ]))
    .err();
    assert!(err.unwrap().starts_with("jwt key source 2:"));
}

#[test]
fn verifier_is_send_sync_and_static_configs_are_ready() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Verifier>();
    check::<Arc<Verifier>>();
    let v = Arc::new(verifier(vec![verify_source(Algorithm::HS256)]));
    assert!(v.ready());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(v.start(rt.handle()).is_empty());
}
