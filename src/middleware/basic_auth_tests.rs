//! Tests of `basic_auth`: real bcrypt and argon2 hashes, htpasswd lines, header parsing.

use super::*;
use crate::config::policy::BasicCredential;
use argon2::{Algorithm, PasswordHasher, Version};

/// `htpasswd -B` style line (`$2y$`, cost 5), made by libxcrypt, not by the bcrypt crate.
const HTPASSWD_2Y: &str = "alice:$2y$05$Hq1Wq9b8Xk3hE7cTQeZ3p.8Kyr.UrW8bnzOoB.z0h6LqX9jcvV69.";
/// `$2a$` cost 4 for "hunter2", also from libxcrypt.
const LIBXCRYPT_2A: &str = "$2a$04$ZyXwVuTsRqPoNmLkJiHgFeglGCJLAwxxXvAb7/uZglHA6Cux5ah3u";

fn consumer(name: &str, cred: Option<(&str, &str)>) -> ConsumerSpec {
    ConsumerSpec {
        name: name.into(),
        api_keys: vec![],
        basic: cred.map(|(user, hash)| BasicCredential {
            user: user.into(),
            hash: hash.into(),
        }),
        routes: vec![],
    }
}

fn argon2_hash(alg: Algorithm, pw: &str) -> String {
    let params = Params::new(64, 1, 1, None).unwrap();
    Argon2::new(alg, Version::V0x13, params)
        .hash_password(pw.as_bytes())
        .unwrap()
        .to_string()
}

fn auth(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
    h
}

#[test]
fn bcrypt_hashes_of_every_prefix_verify() {
    let (user, hash) = HTPASSWD_2Y.split_once(':').unwrap();
    let b2b = bcrypt::hash("pw-b", 4).unwrap();
    assert!(b2b.starts_with("$2b$04$"));
    let t = BasicTable::new(&[
        consumer("nobasic", None),
        consumer("alice", Some((user, hash))),
        consumer("bob", Some(("bob", LIBXCRYPT_2A))),
        consumer("carol", Some(("carol", &b2b))),
    ]);
    assert_eq!(t.verify("alice", "s3cret pässword"), Some(1));
    assert_eq!(t.verify("alice", "s3cret password"), None);
    assert_eq!(t.verify("bob", "hunter2"), Some(2));
    assert_eq!(t.verify("bob", "hunter3"), None);
    assert_eq!(t.verify("carol", "pw-b"), Some(3));
    assert_eq!(t.verify("carol", "hunter2"), None);
    assert_eq!(
        t.verify("Carol", "pw-b"),
        None,
        "user names are case-sensitive"
    );
    for h in [hash, LIBXCRYPT_2A, b2b.as_str()] {
        assert_eq!(validate_hash(h), Ok(()), "{h}");
    }
}

#[test]
fn argon2_variants_verify() {
    let id = argon2_hash(Algorithm::Argon2id, "pw-id");
    let i = argon2_hash(Algorithm::Argon2i, "pw-i");
    let d = argon2_hash(Algorithm::Argon2d, "pw-d");
    assert!(id.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{id}");
    assert!(i.starts_with("$argon2i$") && d.starts_with("$argon2d$"));
    let t = BasicTable::new(&[
        consumer("a", Some(("a", &id))),
        consumer("b", Some(("b", &i))),
        consumer("c", Some(("c", &d))),
    ]);
    assert_eq!(t.verify("a", "pw-id"), Some(0));
    assert_eq!(t.verify("b", "pw-i"), Some(1));
    assert_eq!(t.verify("c", "pw-d"), Some(2));
    assert_eq!(t.verify("a", "pw-i"), None);
    for h in [&id, &i, &d] {
        assert_eq!(validate_hash(h), Ok(()), "{h}");
    }
}

#[test]
fn unknown_user_spends_a_hash_and_fails() {
    // The dummy is the first credential's hash: even its password does not log in an
    // unknown name.
    let h = bcrypt::hash("right", 4).unwrap();
    let t = BasicTable::new(&[consumer("a", Some(("a", &h)))]);
    assert_eq!(t.verify("nobody", "right"), None);
    assert_eq!(t.verify("", ""), None);
    let empty = BasicTable::new(&[consumer("a", None)]);
    assert!(empty.is_empty());
    assert_eq!(empty.verify("a", "right"), None);
}

#[test]
fn duplicate_user_resolves_to_the_first_consumer() {
    let h = bcrypt::hash("pw", 4).unwrap();
    let t = BasicTable::new(&[
        consumer("x", Some(("u", &h))),
        consumer("y", Some(("u", &h))),
    ]);
    assert_eq!(t.verify("u", "pw"), Some(0));
}

#[test]
fn invalid_configured_hash_never_matches() {
    let t = BasicTable::new(&[consumer("a", Some(("a", "plaintext")))]);
    assert_eq!(t.verify("a", "plaintext"), None);
    assert_eq!(t.verify("b", "plaintext"), None);
}

#[test]
fn validate_hash_refuses_bad_values() {
    let good = bcrypt::hash("pw", 4).unwrap();
    let cases = [
        "plaintext".to_string(),
        "".into(),
        good.replacen("$2b$", "$2x$", 1),
        good.replacen("$2b$", "$3b$", 1),
        good[..59].to_string(),
        good.replacen("$04$", "$03$", 1),
        good.replacen("$04$", "$17$", 1),
        good.replacen("$04$", "$x4$", 1),
        format!("{}!", &good[..59]),
        "$argon2id$v=19$m=64,t=1,p=1".into(),
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ".into(),
        "$argon2xx$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        "$argon2id$v=19$m=64,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        "$argon2id$v=17$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        "$pbkdf2-sha256$29000$abc$def".into(),
    ];
    for c in &cases {
        assert!(validate_hash(c).is_err(), "accepted {c:?}");
    }
    // A hand-written PHC string with a 16-byte hash is fine.
    let ok = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    assert_eq!(validate_hash(ok), Ok(()));
}

#[test]
fn parses_basic_authorization() {
    // base64("alice:pa:ss") — the password may hold colons.
    let h = auth("Basic YWxpY2U6cGE6c3M=");
    assert_eq!(
        parse_authorization(&h),
        Some(("alice".into(), "pa:ss".into()))
    );
    // Scheme case, extra spaces, missing padding.
    let h = auth("bAsIc    YWxpY2U6cGE6c3M");
    assert_eq!(
        parse_authorization(&h),
        Some(("alice".into(), "pa:ss".into()))
    );
    // UTF-8 user and password: "jürgen:pässword".
    let h = auth(&format!("Basic {}", B64.encode("jürgen:pässword")));
    assert_eq!(
        parse_authorization(&h),
        Some(("jürgen".into(), "pässword".into()))
    );
    // Empty password.
    let h = auth(&format!("Basic {}", B64.encode("bob:")));
    assert_eq!(parse_authorization(&h), Some(("bob".into(), "".into())));
}

#[test]
fn refuses_malformed_authorization() {
    let bad = [
        "Bearer YWxpY2U6cGE6c3M=".to_string(),
        "Basic".into(),
        "Basic ".into(),
        "BasicYWxpY2U6cGE6c3M=".into(),
        "Basic !!!notbase64".into(),
        format!("Basic {}", B64.encode("no-colon")),
        format!("Basic {}", B64.encode(b"bob:\xff\xfe")),
        format!("Basic {}", B64.encode("b\x01ob:pw")),
    ];
    for v in &bad {
        assert_eq!(parse_authorization(&auth(v)), None, "{v}");
    }
    assert_eq!(parse_authorization(&HeaderMap::new()), None);
}

#[test]
fn two_basic_lines_are_ambiguous_but_other_schemes_are_skipped() {
    let mut h = auth("Bearer abc");
    h.append(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic YTpi"),
    );
    assert_eq!(parse_authorization(&h), Some(("a".into(), "b".into())));
    h.append(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic YzpE"),
    );
    assert_eq!(parse_authorization(&h), None);
}

#[test]
fn challenge_quotes_the_realm() {
    assert_eq!(
        challenge("portcullis"),
        "Basic realm=\"portcullis\", charset=\"UTF-8\""
    );
    assert_eq!(
        challenge("a \"q\" \\ b\r\n"),
        "Basic realm=\"a \\\"q\\\" \\\\ b\", charset=\"UTF-8\""
    );
    let v = challenge("Zürich");
    assert_eq!(
        v.as_bytes(),
        "Basic realm=\"Zürich\", charset=\"UTF-8\"".as_bytes()
    );
}
