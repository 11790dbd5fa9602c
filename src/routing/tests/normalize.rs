//! `normalize_path`: every rule, traversal attempts and the borrowed fast path.

use std::borrow::Cow;

use crate::routing::{normalize_path, NormalizeOptions, PathError};

fn norm(p: &str) -> Result<String, PathError> {
    normalize_path(p, &NormalizeOptions::default()).map(Cow::into_owned)
}

fn lenient() -> NormalizeOptions {
    NormalizeOptions {
        merge_slashes: false,
        reject_encoded_slash: false,
    }
}

#[test]
fn default_options_are_strict() {
    let o = NormalizeOptions::default();
    assert!(o.merge_slashes && o.reject_encoded_slash);
}

#[test]
fn normal_paths_are_borrowed() {
    for p in [
        "/",
        "/api",
        "/api/users/1",
        "/a/b/",
        "/x%20y%C3%A9",
        "/a-b.c_d~e",
    ] {
        match normalize_path(p, &NormalizeOptions::default()) {
            Ok(Cow::Borrowed(b)) => assert_eq!(b, p),
            other => panic!("{p}: expected borrowed, got {other:?}"),
        }
    }
    // Kept-encoded slash in uppercase is already normal when allowed.
    assert!(matches!(
        normalize_path("/a%2Fb", &lenient()),
        Ok(Cow::Borrowed("/a%2Fb"))
    ));
    // `//` is normal when slashes are not merged.
    assert!(matches!(
        normalize_path("/a//b", &lenient()),
        Ok(Cow::Borrowed("/a//b"))
    ));
}

#[test]
fn dirty_paths_are_owned() {
    assert!(matches!(
        normalize_path("/a/../b", &NormalizeOptions::default()),
        Ok(Cow::Owned(_))
    ));
}

#[test]
fn must_be_absolute() {
    assert_eq!(norm("api/x"), Err(PathError::NotAbsolute));
    assert_eq!(norm(""), Err(PathError::NotAbsolute));
    assert_eq!(norm("*"), Err(PathError::NotAbsolute));
}

#[test]
fn decodes_unreserved_only() {
    assert_eq!(norm("/%61pi").as_deref(), Ok("/api"));
    assert_eq!(norm("/%41%5a%30%2D%2e%5F%7e").as_deref(), Ok("/AZ0-._~"));
    // Reserved and non-ASCII stay encoded, with uppercase hex.
    assert_eq!(norm("/a%20b%3f%c3%a9").as_deref(), Ok("/a%20b%3F%C3%A9"));
    assert_eq!(norm("/q%3a").as_deref(), Ok("/q%3A"));
}

#[test]
fn encoded_slash() {
    assert_eq!(norm("/a%2Fb"), Err(PathError::EncodedSlash));
    assert_eq!(norm("/a%2fb"), Err(PathError::EncodedSlash));
    let kept = normalize_path("/a%2fb", &lenient()).map(Cow::into_owned);
    assert_eq!(kept.as_deref(), Ok("/a%2Fb"));
}

#[test]
fn backslash_nul_and_bad_escapes() {
    assert_eq!(norm("/a\\b"), Err(PathError::Backslash));
    assert_eq!(norm("/a%5Cb"), Err(PathError::Backslash));
    assert_eq!(norm("/a%5cb"), Err(PathError::Backslash));
    assert_eq!(
        normalize_path("/a%5c", &lenient()),
        Err(PathError::Backslash)
    );
    assert_eq!(norm("/a%00b"), Err(PathError::Nul));
    assert_eq!(norm("/a\0b"), Err(PathError::Nul));
    assert_eq!(norm("/a%zzb"), Err(PathError::BadPercentEncoding));
    assert_eq!(norm("/a%4"), Err(PathError::BadPercentEncoding));
    assert_eq!(norm("/a%"), Err(PathError::BadPercentEncoding));
    assert_eq!(norm("/a%g1"), Err(PathError::BadPercentEncoding));
}

#[test]
fn dot_segments() {
    assert_eq!(norm("/api/public/../admin").as_deref(), Ok("/api/admin"));
    assert_eq!(norm("/a/./b/").as_deref(), Ok("/a/b/"));
    assert_eq!(norm("/a/b/..").as_deref(), Ok("/a/"));
    assert_eq!(norm("/a/b/.").as_deref(), Ok("/a/b/"));
    assert_eq!(norm("/../a").as_deref(), Ok("/a"));
    assert_eq!(norm("/../../../etc/passwd").as_deref(), Ok("/etc/passwd"));
    assert_eq!(norm("/..").as_deref(), Ok("/"));
    assert_eq!(norm("/.").as_deref(), Ok("/"));
    assert_eq!(norm("/a/..b/c..").as_deref(), Ok("/a/..b/c.."));
    assert_eq!(norm("/a/.../b").as_deref(), Ok("/a/.../b"));
}

#[test]
fn traversal_attempts() {
    assert_eq!(norm("/api/%2e%2e/admin").as_deref(), Ok("/admin"));
    assert_eq!(norm("/api/%2E./admin").as_deref(), Ok("/admin"));
    assert_eq!(norm("/api/.%2e/.%2E/x").as_deref(), Ok("/x"));
    assert_eq!(norm("/..%2f.."), Err(PathError::EncodedSlash));
    assert_eq!(norm("/..%5c..%5cetc"), Err(PathError::Backslash));
    // With encoded slashes allowed the `%2F` stays data, not a separator.
    let kept = normalize_path("/..%2f../x", &lenient()).map(Cow::into_owned);
    assert_eq!(kept.as_deref(), Ok("/..%2F../x"));
}

#[test]
fn slashes() {
    assert_eq!(norm("//a///b").as_deref(), Ok("/a/b"));
    assert_eq!(norm("/a//").as_deref(), Ok("/a/"));
    assert_eq!(norm("//").as_deref(), Ok("/"));
    let kept = normalize_path("/a//../b", &lenient()).map(Cow::into_owned);
    assert_eq!(kept.as_deref(), Ok("/a/b"));
}

#[test]
fn trailing_slash_is_kept() {
    assert_eq!(norm("/a/b/").as_deref(), Ok("/a/b/"));
    assert_eq!(norm("/%61/").as_deref(), Ok("/a/"));
}

#[test]
fn display_is_human() {
    assert_eq!(
        PathError::EncodedSlash.to_string(),
        "encoded slash (%2F) in path"
    );
    let all = [
        PathError::NotAbsolute,
        PathError::EncodedSlash,
        PathError::Backslash,
        PathError::Nul,
        PathError::BadPercentEncoding,
    ];
    let texts: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), all.len());
    assert!(texts.iter().all(|t| t.contains("path")));
}

/// The byte-scan fast path never calls a path normal that the segment-by-segment check would
/// change or refuse: every path of up to five characters over an alphabet of the tricky
/// bytes, under both option sets.
#[test]
fn fast_path_agrees_with_the_full_check() {
    let alphabet = [b'a', b'/', b'.', b'%', b'2', b'f', b'\\', 0u8];
    let mut checked = 0;
    for len in 0..=5u32 {
        for mut n in 0..alphabet.len().pow(len) {
            let mut p = vec![b'/'];
            for _ in 0..len {
                p.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            let p = String::from_utf8(p).unwrap();
            for o in [NormalizeOptions::default(), lenient()] {
                let full = crate::routing::normalize::normalize_checked(&p, &p[1..], &o);
                assert_eq!(normalize_path(&p, &o), full, "{p:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 70_000);
}

#[test]
fn dot_segments_with_parameters_are_refused() {
    for p in [
        "/api/users/..;/admin",
        "/api/users/..;x/admin",
        "/api/users/.;/admin",
        "/api/users/.;x=1",
        "/..;",
        "/a/%2e%2e;/b",
        "/a/%2E%2e;jsessionid=1/b",
        "/a/.%2e;/b",
        "/a/..%3B/b",
        "/a/..%3b/b",
        "/a/%2e%3Bx/b",
    ] {
        assert_eq!(norm(p), Err(PathError::DotSegmentParameter), "{p}");
        let lenient = normalize_path(p, &lenient());
        assert_eq!(lenient, Err(PathError::DotSegmentParameter), "{p}");
    }
    // Parameters elsewhere, and names that merely start with dots, stay as they are.
    for p in [
        "/a;b/c",
        "/a/b;v=1",
        "/...;/x",
        "/.well-known/x;y",
        "/a/..x;/b",
        "/a/;/b",
    ] {
        assert_eq!(norm(p).as_deref(), Ok(p), "{p}");
    }
}
