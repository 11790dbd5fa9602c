//! "Did you mean" hints: the closest candidate by edit distance (or containment).

/// Levenshtein distance over chars, case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 4).max(2);
    let lower = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= limit || (lower.len() >= 4 && c.to_lowercase().contains(&lower)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or, without a close candidate, the list of valid choices.
pub(super) fn expected_one_of(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => format!("expected one of: {}", list(candidates)),
    }
}

/// A key as it appears in a dotted path: bare when TOML allows it, quoted otherwise.
pub(super) fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// `a`, `b`, `c`
pub(super) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = [
            "name",
            "path",
            "methods",
            "service",
            "strip_prefix",
            "rewrite",
        ];
        assert_eq!(closest("methds", &keys), Some("methods"));
        assert_eq!(closest("Servce", &keys), Some("service"));
        assert_eq!(closest("prefix", &keys), Some("strip_prefix"));
        assert_eq!(closest("zzzzzzzz", &keys), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(
            expected_one_of("jsn", &["text", "json"]),
            "did you mean `json`?"
        );
    }
}
