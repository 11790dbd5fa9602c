//! Header and shape tests: `alg: none`, unknown algorithms, `crit`, malformed and oversized
//! tokens, `bearer()` and the error reasons.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

use super::test_support::*;
use super::{JwtError, Verifier};

#[test]
fn alg_none_is_refused_in_any_case() {
    let v = verifier(vec![secret(SECRET, &[], None)]);
    let payload = b64(&claims().to_string());
    for alg in ["none", "NONE", "None", "nOnE"] {
        let header = b64(&json!({ "alg": alg, "typ": "JWT" }).to_string());
        for sig in ["", "c2ln"] {
            let t = format!("{header}.{payload}.{sig}");
            assert_eq!(v.verify(&t, NOW), Err(JwtError::AlgNone), "{alg} {sig:?}");
        }
    }
}

#[test]
fn unknown_algorithms_are_refused() {
    let v = verifier(vec![secret(SECRET, &[], None)]);
    let payload = b64(&claims().to_string());
    for alg in ["HS999", "ES512", "hs256", "RSA-OAEP"] {
        let t = format!("{}.{payload}.c2ln", b64(&json!({ "alg": alg }).to_string()));
        assert_eq!(
            v.verify(&t, NOW),
            Err(JwtError::AlgNotAllowed("unknown")),
            "{alg}"
        );
    }
}

#[test]
fn any_crit_header_is_refused() {
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    let mut header = Header::new(Algorithm::HS256);
    header.crit = Some(vec!["exp".into()]);
    let t = jsonwebtoken::encode(&header, &claims(), &signing_key(Algorithm::HS256)).unwrap();
    assert_eq!(v.verify(&t, NOW), Err(JwtError::CritUnsupported));
    let payload = b64(&claims().to_string());
    let t = format!("{}.{payload}.c2ln", b64(r#"{"alg":"HS256","crit":[]}"#));
    assert_eq!(v.verify(&t, NOW), Err(JwtError::CritUnsupported));
}

#[test]
fn wrong_segment_counts_are_malformed() {
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    let t = token(Algorithm::HS256);
    let two = t.rsplit_once('.').unwrap().0.to_owned();
    for bad in [
        two,
        format!("{t}.x"),
        "a".into(),
        "a.b".into(),
        "..".into(),
        "...".into(),
    ] {
        assert_eq!(reason(&v, &bad), "malformed", "{bad}");
    }
}

#[test]
fn bad_base64_is_malformed() {
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    let t = token(Algorithm::HS256);
    let p: Vec<&str> = t.split('.').collect();
    let cases = [
        (
            format!("{}!.{}.{}", p[0], p[1], p[2]),
            "header is not base64url",
        ),
        (
            format!("{}.{}*.{}", p[0], p[1], p[2]),
            "payload is not base64url",
        ),
        (
            format!("{}.{}.{}=", p[0], p[1], p[2]),
            "signature is not base64url",
        ),
        (format!("{}.{}.", p[0], p[1]), "signature is not base64url"),
        (
            format!("{}==.{}.{}", p[0], p[1], p[2]),
            "header is not base64url",
        ),
    ];
    for (bad, why) in cases {
        assert_eq!(v.verify(&bad, NOW), Err(JwtError::Malformed(why)), "{bad}");
    }
}

#[test]
fn header_must_be_a_json_object_with_alg() {
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    let rest = token(Algorithm::HS256)
        .split_once('.')
        .unwrap()
        .1
        .to_owned();
    let cases = [
        ("not json", "header is not JSON"),
        ("[\"HS256\"]", "header is not a JSON object"),
        ("\"HS256\"", "header is not a JSON object"),
        ("{\"typ\":\"JWT\"}", "header has no alg"),
        ("{\"alg\":256}", "header has no alg"),
        ("{\"alg\":\"HS256\",\"kid\":7}", "kid is not a string"),
    ];
    for (header, why) in cases {
        let t = format!("{}.{rest}", b64(header));
        assert_eq!(v.verify(&t, NOW), Err(JwtError::Malformed(why)), "{header}");
    }
}

#[test]
fn payload_must_be_a_json_object() {
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    let key = signing_key(Algorithm::HS256);
    for payload in [json!([1, 2, 3]), json!("alice"), json!(42), json!(null)] {
        let t = sign(Algorithm::HS256, None, &payload, &key);
        assert_eq!(
            v.verify(&t, NOW),
            Err(JwtError::Malformed("payload is not a JSON object")),
            "{payload}"
        );
    }
    let header = token(Algorithm::HS256)
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let t = format!("{header}.{}.c2ln", b64("{not json"));
    assert_eq!(
        v.verify(&t, NOW),
        Err(JwtError::Malformed("payload is not JSON"))
    );
}

#[test]
fn empty_and_garbage_tokens_are_malformed() {
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    assert_eq!(v.verify("", NOW), Err(JwtError::Malformed("empty token")));
    for garbage in [
        "garbage",
        "Bearer x.y.z",
        "\u{1F600}.\u{1F600}.\u{1F600}",
        " . . ",
        "a b.c d.e f",
    ] {
        assert_eq!(reason(&v, garbage), "malformed", "{garbage}");
    }
}

#[test]
fn oversized_tokens_are_refused_unparsed() {
    let mut s = spec(vec![verify_source(Algorithm::HS256)]);
    let t = token(Algorithm::HS256);
    s.max_token_bytes = t.len();
    let v = Verifier::new(&s).unwrap();
    assert_eq!(reason(&v, &t), "ok");
    s.max_token_bytes = t.len() - 1;
    let v = Verifier::new(&s).unwrap();
    assert_eq!(v.verify(&t, NOW), Err(JwtError::TooLarge));
    // Refused before parsing: garbage gets the same answer.
    assert_eq!(v.verify(&"x".repeat(t.len()), NOW), Err(JwtError::TooLarge));
}

#[test]
fn bearer_parsing() {
    let with = |value: &[u8]| {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        h
    };
    let cases: [(&[u8], Option<&str>); 10] = [
        (b"Bearer abc.def.ghi", Some("abc.def.ghi")),
        (b"bearer abc", Some("abc")),
        (b"BEARER   abc  ", Some("abc")),
        (b"Bearer\tabc", Some("abc")),
        (b"Bearer", Some("")),
        (b"Bearer ", Some("")),
        (b"Bearer \xff\xfe", Some("")),
        (b"Basic dXNlcjpwYXNz", None),
        (b"Bearerabc", None),
        (b"Token abc", None),
    ];
    for (value, want) in cases {
        assert_eq!(
            Verifier::bearer(&with(value)),
            want,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(Verifier::bearer(&HeaderMap::new()), None);
    // An empty bearer token is refused, not treated as no credentials.
    let v = verifier(vec![verify_source(Algorithm::HS256)]);
    assert_eq!(
        reason(&v, Verifier::bearer(&with(b"Bearer ")).unwrap()),
        "malformed"
    );
}

#[test]
fn reasons_are_distinct_static_labels() {
    let all = [
        JwtError::Malformed("x"),
        JwtError::TooLarge,
        JwtError::AlgNone,
        JwtError::AlgNotAllowed("RS256"),
        JwtError::CritUnsupported,
        JwtError::UnknownKid,
        JwtError::BadSignature,
        JwtError::Expired,
        JwtError::NotYetValid,
        JwtError::IssuedInFuture,
        JwtError::BadIssuer,
        JwtError::BadAudience,
        JwtError::MissingClaim("exp".into()),
        JwtError::InvalidClaim("exp"),
        JwtError::KeysUnavailable,
    ];
    let mut reasons: Vec<_> = all.iter().map(JwtError::reason).collect();
    assert!(reasons
        .iter()
        .all(|r| r.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    reasons.sort();
    reasons.dedup();
    assert_eq!(reasons.len(), all.len());
    assert_eq!(
        JwtError::MissingClaim("tenant".into()).to_string(),
        "claim \"tenant\" missing"
    );
}
