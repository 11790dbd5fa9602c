//! Structured field values (RFC 8941) as the gateway writes them: the sf-string of the
//! `RateLimit` and `Cache-Status` headers.

/// Appends `s` as an RFC 8941 sf-string: quotes, `\` and `"` escaped, anything outside
/// printable ASCII replaced by `?`.
pub fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sf_strings_are_quoted_escaped_and_ascii() {
        let mut s = String::new();
        push_sf_string(&mut s, "a \"b\" \\ é");
        assert_eq!(s, r#""a \"b\" \\ ?""#);
    }
}
