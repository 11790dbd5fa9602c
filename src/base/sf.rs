//! Structured field values (RFC 8941): the sf-string the gateway writes in the `RateLimit` and
//! `Cache-Status` headers, and the Dictionary it reads in targeted cache-control fields
//! (`CDN-Cache-Control`, RFC 9213).

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

/// A Dictionary member's value, as far as cache directives need it (parameters are parsed
/// and dropped).
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `?1` / `?0`, or a key without a value (true).
    Bool(bool),
    /// An Integer or a Decimal, as written.
    Number(String),
    /// An sf-string, unescaped.
    String(String),
    /// A Token.
    Token(String),
    /// A Byte Sequence (`:base64:`), as written.
    Bytes(String),
    /// An Inner List (its items).
    List(Vec<Item>),
}

/// Parses an RFC 8941 Dictionary (the field lines joined with `,`); `None` when it is not a
/// valid one. Keys are lowercase by the grammar, so `No-Cache` makes the value invalid. A
/// repeated key keeps its last value (RFC 8941 §3.2).
pub fn parse_dictionary(text: &str) -> Option<Vec<(String, Item)>> {
    let mut p = Parser {
        b: text.trim_matches(' ').as_bytes(),
        i: 0,
    };
    let mut out: Vec<(String, Item)> = Vec::new();
    while p.i < p.b.len() {
        let key = p.key()?;
        let item = if p.eat(b'=') {
            if p.peek() == Some(b'(') {
                p.inner_list()?
            } else {
                p.bare_item()?
            }
        } else {
            Item::Bool(true)
        };
        p.parameters()?;
        out.retain(|(k, _)| *k != key);
        out.push((key, item));
        p.ows();
        if p.i == p.b.len() {
            break;
        }
        if !p.eat(b',') {
            return None;
        }
        p.ows();
        if p.i == p.b.len() {
            return None; // a trailing comma
        }
    }
    Some(out)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> String {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.b[start..self.i]).into_owned()
    }
    fn key(&mut self) -> Option<String> {
        let first = self.peek()?;
        if !(first.is_ascii_lowercase() || first == b'*') {
            return None;
        }
        Some(
            self.take_while(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c)
            }),
        )
    }
    fn parameters(&mut self) -> Option<()> {
        while self.eat(b';') {
            while self.eat(b' ') {}
            self.key()?;
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Some(())
    }
    fn inner_list(&mut self) -> Option<Item> {
        self.eat(b'(');
        let mut items = Vec::new();
        loop {
            while self.eat(b' ') {}
            if self.eat(b')') {
                break;
            }
            items.push(self.bare_item()?);
            self.parameters()?;
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return None;
            }
        }
        Some(Item::List(items))
    }
    fn bare_item(&mut self) -> Option<Item> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string(),
            b'?' => {
                self.i += 1;
                let v = match self.peek()? {
                    b'1' => true,
                    b'0' => false,
                    _ => return None,
                };
                self.i += 1;
                Some(Item::Bool(v))
            }
            b':' => {
                self.i += 1;
                let s = self.take_while(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
                self.eat(b':').then_some(Item::Bytes(s))
            }
            c if c.is_ascii_alphabetic() || c == b'*' => {
                Some(Item::Token(self.take_while(|c| {
                    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c)
                })))
            }
            _ => None,
        }
    }
    fn number(&mut self) -> Option<Item> {
        let start = self.i;
        self.eat(b'-');
        let int = self.take_while(|c| c.is_ascii_digit());
        if int.is_empty() || int.len() > 15 {
            return None;
        }
        if self.eat(b'.') {
            let frac = self.take_while(|c| c.is_ascii_digit());
            if frac.is_empty() || frac.len() > 3 || int.len() > 12 {
                return None;
            }
        }
        Some(Item::Number(
            String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
        ))
    }
    fn string(&mut self) -> Option<Item> {
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(Item::String(out));
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        c @ (b'"' | b'\\') => out.push(char::from(c)),
                        _ => return None,
                    }
                }
                c @ b' '..=b'~' => out.push(char::from(c)),
                _ => return None,
            }
            self.i += 1;
        }
    }
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

    #[test]
    fn dictionaries_parse_strictly() {
        let d = parse_dictionary("max-age=60, private, no-cache=?0, x=\"a\\\"b\", l=(\"f\" g);p=1")
            .unwrap();
        assert_eq!(d[0], ("max-age".into(), Item::Number("60".into())));
        assert_eq!(d[1], ("private".into(), Item::Bool(true)));
        assert_eq!(d[2], ("no-cache".into(), Item::Bool(false)));
        assert_eq!(d[3], ("x".into(), Item::String("a\"b".into())));
        let list = vec![Item::String("f".into()), Item::Token("g".into())];
        assert_eq!(d[4], ("l".into(), Item::List(list)));
        assert_eq!(parse_dictionary("").unwrap(), vec![]);
        assert_eq!(
            parse_dictionary("a=1,a=2").unwrap(),
            vec![("a".into(), Item::Number("2".into()))]
        );
        for bad in [
            "No-Cache",
            "max-age=60,",
            "max-age=6a",
            "max-age=",
            "a=\"open",
            "a b",
            ", a",
            "a=1;",
            "a=1234567890123456",
        ] {
            assert_eq!(parse_dictionary(bad), None, "{bad:?}");
        }
    }
}
