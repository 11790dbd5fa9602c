//! Mistakes in `[policies.NAME.auth.jwt]` and its keys, and secrets that must never be printed.

use super::{error_at, errors, hint, only_error, render, BASE, BCRYPT, EC_PEM};

/// A policy `a` whose JWT auth has `settings` and one key table with `key`.
fn jwt(settings: &str, key: &str) -> String {
    format!("[policies.a.auth.jwt]\n{settings}\n[[policies.a.auth.jwt.keys]]\n{key}\n")
}

const K: &str = "policies.a.auth.jwt.keys[0]";

#[test]
fn weak_secrets() {
    let e = only_error(
        &jwt("", "secret = \"${WEAK_SECRET}\""),
        &format!("{K}.secret"),
        "secret =",
    );
    assert_eq!(
        e.message,
        "the secret is too weak for HS256: it must be at least 32 bytes"
    );
    assert!(hint(&e).contains("openssl rand"), "{e}");
    // 48 bytes are enough for HS384, not for HS512.
    let key = "secret = \"${JWT_SECRET}\"\nalgorithms = [\"HS384\", \"HS512\"]";
    let e = only_error(&jwt("", key), &format!("{K}.secret"), "secret =");
    assert!(
        e.message.contains("HS512: it must be at least 64 bytes"),
        "{e}"
    );
    let key = "secret = \"${JWT_SECRET}\"\nalgorithms = [\"HS256\", \"RS256\", \"XS1\"]";
    let text = format!("{BASE}{}", jwt("", key));
    let errs = errors(&text);
    let e = error_at(&errs, &text, &format!("{K}.algorithms[1]"), "algorithms");
    assert!(e.message.contains("RS256 does not fit a secret key"), "{e}");
    let e = error_at(&errs, &text, &format!("{K}.algorithms[2]"), "algorithms");
    assert!(e.message.contains("unknown algorithm \"XS1\""), "{e}");
    assert_eq!(errs.len(), 2, "{}", render(&errs));
}

#[test]
fn pem_keys_must_fit_their_algorithms() {
    let key = "pem_file = \"rsa_public.pem\"\nalgorithms = [\"RS256\", \"ES256\"]";
    let e = only_error(&jwt("", key), &format!("{K}.algorithms[1]"), "algorithms");
    assert_eq!(e.message, "ES256 does not fit this key: it is an RSA key");
    assert!(
        hint(&e).contains("RS256, RS384, RS512, PS256, PS384, PS512"),
        "{e}"
    );
    let key = "pem_file = \"ec_p256_public.pem\"\nalgorithms = [\"ES384\"]";
    let e = only_error(&jwt("", key), &format!("{K}.algorithms[0]"), "algorithms");
    assert!(e.message.contains("an EC P-256 key"), "{e}");
    assert_eq!(hint(&e), "an EC P-256 key verifies ES256");
    let key = format!("pem = \"\"\"\n{EC_PEM}\"\"\"\nalgorithms = \"EdDSA\"");
    only_error(&jwt("", &key), &format!("{K}.algorithms"), "algorithms");
    let key = "pem_file = \"ed25519_public.pem\"\nalgorithms = [\"RS256\"]";
    let e = only_error(&jwt("", key), &format!("{K}.algorithms[0]"), "algorithms");
    assert!(e.message.contains("Ed25519"), "{e}");
    // PEM keys need `algorithms`.
    let e = only_error(
        &jwt("", "pem_file = \"rsa_public.pem\""),
        &format!("{K}.algorithms"),
        "[[policies",
    );
    assert!(
        e.message.contains("missing required key `algorithms`"),
        "{e}"
    );
}

#[test]
fn pem_contents() {
    let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFAKEFAKEFAKE\n-----END PRIVATE KEY-----\n";
    let key = format!("pem = \"\"\"\n{private}\"\"\"\nalgorithms = [\"EdDSA\"]");
    let e = only_error(&jwt("", &key), &format!("{K}.pem"), "pem =");
    assert!(e.message.contains("private key"), "{e}");
    assert!(!e.to_string().contains("FAKEFAKE"), "{e}");
    let key = "pem = \"not a key\"\nalgorithms = [\"RS256\"]";
    let e = only_error(&jwt("", key), &format!("{K}.pem"), "pem =");
    assert!(e.message.contains("not a PEM public key"), "{e}");
    let key = "pem_file = \"missing.pem\"\nalgorithms = [\"RS256\"]";
    let e = only_error(&jwt("", key), &format!("{K}.pem_file"), "missing.pem");
    assert!(e.message.contains("cannot read PEM file"), "{e}");
    assert!(
        e.message.contains("tests/fixtures/config/missing.pem"),
        "{e}"
    );
}

#[test]
fn jwks_files() {
    let e = only_error(
        &jwt("", "jwks_file = \"not_a_jwks.json\""),
        &format!("{K}.jwks_file"),
        "not_a",
    );
    assert!(e.message.contains("has no \"keys\" array"), "{e}");
    let e = only_error(
        &jwt("", "jwks_file = \"rsa_public.pem\""),
        &format!("{K}.jwks_file"),
        "jwks_file =",
    );
    assert!(e.message.contains("is not valid JSON"), "{e}");
    only_error(
        &jwt("", "jwks_file = \"nope.json\""),
        &format!("{K}.jwks_file"),
        "nope",
    );
    let e = only_error(
        &jwt("", "jwks_url = \"ftp://x/jwks\""),
        &format!("{K}.jwks_url"),
        "ftp",
    );
    assert!(hint(&e).contains("https://"), "{e}");
}

#[test]
fn exactly_one_source_per_key() {
    let key =
        "secret = \"${JWT_SECRET}\"\njwks_url = \"http://127.0.0.1:1/jwks\"\npem_file = \"x.pem\"";
    let text = format!("{BASE}{}", jwt("", key));
    let errs = errors(&text);
    let e = error_at(&errs, &text, &format!("{K}.pem_file"), "pem_file");
    assert_eq!(e.message, "`pem_file` and `secret` cannot both be set");
    let e = error_at(&errs, &text, &format!("{K}.jwks_url"), "jwks_url");
    assert!(hint(e).contains("its own"), "{e}");
    assert_eq!(errs.len(), 2, "{}", render(&errs));
    let e = only_error(&jwt("", "kid = \"k\""), K, "[[policies.a.auth.jwt.keys]]");
    assert_eq!(e.message, "the key has no source");
}

#[test]
fn keys_that_do_not_apply_to_the_source() {
    let key = "secret = \"${JWT_SECRET}\"\nrefresh = \"1m\"";
    let e = only_error(&jwt("", key), &format!("{K}.refresh"), "refresh");
    assert!(e.message.contains("only applies to jwks_url keys"), "{e}");
    let key = "jwks_file = \"jwks.json\"\nkid = \"a\"\nalgorithms = [\"RS256\"]";
    let text = format!("{BASE}{}", jwt("", key));
    let errs = errors(&text);
    error_at(&errs, &text, &format!("{K}.kid"), "kid =");
    error_at(&errs, &text, &format!("{K}.algorithms"), "algorithms =");
    assert_eq!(errs.len(), 2, "{}", render(&errs));
}

#[test]
fn jwt_settings() {
    let settings = "leeway = \"2h\"\nmax_token_bytes = 100\nconsumer_claim = \"\"\n\
                    issuers = [\"\"]\nforward_claims = { sub = \"X-User\", uid = \"x-user\" }";
    let text = format!(
        "{BASE}{}",
        jwt(settings, "jwks_url = \"http://127.0.0.1:1/jwks\"")
    );
    let errs = errors(&text);
    for (key, needle) in [
        ("policies.a.auth.jwt.leeway", "leeway"),
        ("policies.a.auth.jwt.max_token_bytes", "max_token_bytes"),
        ("policies.a.auth.jwt.consumer_claim", "consumer_claim"),
        ("policies.a.auth.jwt.issuers[0]", "issuers"),
        ("policies.a.auth.jwt.forward_claims.uid", "forward_claims"),
    ] {
        error_at(&errs, &text, key, needle);
    }
    assert_eq!(errs.len(), 5, "{}", render(&errs));
    let e = only_error(
        "[policies.a.auth.jwt]\nissuers = [\"i\"]\n",
        "policies.a.auth.jwt.keys",
        "[policies.a.auth.jwt]",
    );
    assert!(e.message.contains("missing required key `keys`"), "{e}");
    let key = "jwks_url = \"http://127.0.0.1:1/a\"\n[[policies.a.auth.jwt.keys]]\nsecret = \"${JWT_SECRET}\"\nkid = \"a\"\n\
               [[policies.a.auth.jwt.keys]]\nsecret = \"${JWT_SECRET}\"\nkid = \"a\" # again";
    let e = only_error(&jwt("", key), "policies.a.auth.jwt.keys[2].kid", "# again");
    assert!(e.message.contains("duplicate kid"), "{e}");
}

#[test]
fn secrets_are_never_printed() {
    let secrets = [
        "literal-weak",
        "weak-secret-0123",
        "weak-key-1234",
        "Bearer top-secret\nvalue",
        "$2y$10$notarealhash",
    ];
    let text = format!(
        r#"{BASE}
[consumers.a]
api_keys = ["literal-weak", "${{WEAK_KEY}}"]
basic = {{ password_hash = "$2y$10$notarealhash" }}
[consumers.b]
basic = {{ user = "u", password_hash = "{BCRYPT}" }}
[policies.a.request_headers]
set = {{ Authorization = "Bearer top-secret\nvalue" }}
[[policies.a.auth.jwt.keys]]
secret = "literal-weak"
[[policies.a.auth.jwt.keys]]
secret = "${{WEAK_SECRET}}"
"#
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 6, "{}", render(&errs));
    let shown = render(&errs);
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret:?} printed:\n{shown}");
    }
    let e = error_at(
        &errs,
        &text,
        "policies.a.request_headers.set.Authorization",
        "Bearer",
    );
    assert_eq!(e.message, "invalid header value");
}

#[test]
fn wrong_types_do_not_echo_secrets() {
    let extra = "[consumers.a]\napi_keys = [12345678901234567890]\n\
                 basic = { password_hash = 9876543210 }\n\
                 [[policies.a.auth.jwt.keys]]\nsecret = 55555555555\n";
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    let e = error_at(
        &errs,
        &text,
        "policies.a.auth.jwt.keys[0].secret",
        "secret =",
    );
    assert_eq!(e.message, "wrong type: integer, expected a string");
    error_at(
        &errs,
        &text,
        "consumers.a.basic.password_hash",
        "password_hash =",
    );
    let shown = render(&errs);
    for secret in ["1234567890", "9876543210", "55555555555"] {
        assert!(!shown.contains(secret), "{secret} printed:\n{shown}");
    }
}
