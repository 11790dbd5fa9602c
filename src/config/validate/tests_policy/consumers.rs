//! Mistakes in `[consumers.NAME]`: API keys, basic credentials and routes.

use super::{error_at, errors, hint, only_error, render, BASE, BCRYPT};

#[test]
fn consumer_route_that_does_not_exist() {
    let e = only_error(
        "[consumers.alice]\nroutes = [\"users\", \"user\"]\n",
        "consumers.alice.routes[1]",
        "\"user\"]",
    );
    assert_eq!(e.message, "unknown route \"user\"");
    assert_eq!(hint(&e), "did you mean \"users\"?");
}

#[test]
fn duplicate_basic_users() {
    let extra = format!(
        "[consumers.b]\nbasic = {{ user = \"shared\", password_hash = \"{BCRYPT}\" }}\n\
         [consumers.a]\nbasic = {{ user = \"shared\", password_hash = \"{BCRYPT}\" }}\n"
    );
    // Consumers are checked in name order: `a` first, so `b` is the duplicate.
    let e = only_error(&extra, "consumers.b.basic.user", "\"shared\"");
    assert!(e.message.contains("already used by consumer \"a\""), "{e}");
    let text = format!("{BASE}{extra}");
    let first = text.rfind("\"shared\"").unwrap();
    let line = text[..first].matches('\n').count() + 1;
    assert!(hint(&e).contains(&format!("line {line}")), "{e}");
    // The default user is the consumer name.
    let extra = format!(
        "[consumers.carol]\nbasic = {{ password_hash = \"{BCRYPT}\" }}\n\
         [consumers.dave]\nbasic = {{ user = \"carol\", password_hash = \"{BCRYPT}\" }}\n"
    );
    only_error(&extra, "consumers.dave.basic.user", "user = \"carol\"");
}

#[test]
fn password_hashes() {
    for (hash, message) in [
        ("plain-password", "unsupported password hash"),
        ("$2y$10$tooshort", "malformed bcrypt hash"),
        ("$argon2id$v=19$m=19456", "malformed argon2 hash"),
    ] {
        let extra = format!("[consumers.a]\nbasic = {{ password_hash = \"{hash}\" }}\n");
        let e = only_error(&extra, "consumers.a.basic.password_hash", "password_hash =");
        assert!(e.message.contains(message), "{e}");
        assert!(
            !e.to_string().contains(hash),
            "the hash is never printed: {e}"
        );
    }
    let e = only_error(
        &format!("[consumers.a]\nbasic = {{ user = \"a:b\", password_hash = \"{BCRYPT}\" }}\n"),
        "consumers.a.basic.user",
        "\"a:b\"",
    );
    assert!(hint(&e).contains("no ':'"), "{e}");
}

#[test]
fn api_key_mistakes() {
    let extra = "[consumers.a]\napi_keys = [\"sha256:abc\", \"${WEAK_KEY}\", \"tiny\"]\n\
                 [consumers.b]\napi_keys = \"0123456789abcdef-shared\"\n\
                 [consumers.c]\napi_keys = [\"0123456789abcdef-shared\"]\n";
    let text = format!("{BASE}{extra}");
    let errs = errors(&text);
    let e = error_at(&errs, &text, "consumers.a.api_keys[0]", "sha256:abc");
    assert!(e.message.contains("64 hex digits"), "{e}");
    for key in ["consumers.a.api_keys[1]", "consumers.a.api_keys[2]"] {
        let e = error_at(&errs, &text, key, "sha256:abc");
        assert!(e.message.contains("too weak"), "{e}");
        assert!(hint(e).contains("sha256:"), "{e}");
    }
    let e = error_at(
        &errs,
        &text,
        "consumers.c.api_keys[0]",
        "[\"0123456789abcdef-shared\"]",
    );
    assert!(e.message.contains("also given to consumer \"b\""), "{e}");
    assert_eq!(errs.len(), 4, "{}", render(&errs));
    let shown = render(&errs);
    for secret in ["weak-key-1234", "tiny", "0123456789abcdef-shared"] {
        assert!(!shown.contains(secret), "{secret} printed:\n{shown}");
    }
}
