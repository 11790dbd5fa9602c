//! The compiled parts of a route: path pattern (segments, specificity), rewrite template and
//! strip prefix, each parsed once at config load with a message and hint on error.

use super::normalize::{normalize_path, NormalizeOptions};

/// A validation failure: message and optional hint (the route index and field are added by
/// the caller).
#[derive(Debug)]
pub(crate) struct Invalid {
    pub message: String,
    pub hint: Option<String>,
}

pub(crate) fn invalid(message: String, hint: impl Into<String>) -> Invalid {
    Invalid {
        message,
        hint: Some(hint.into()),
    }
}

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A literal segment; `""` only as the last one (a trailing slash, or the root `/`).
    Static(Box<str>),
    /// `{name}`: any one non-empty segment.
    Param(Box<str>),
}

/// A parsed path pattern: `/a/{b}` has segments `a`, `{b}`; `/a/` has `a`, `""`; a trailing
/// `/*` sets `tail` (zero or more further segments).
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub segs: Vec<Seg>,
    pub tail: bool,
}

impl Pattern {
    /// Parses and validates a pattern.
    pub fn parse(src: &str) -> Result<Pattern, Invalid> {
        if !src.starts_with('/') {
            return Err(invalid(
                format!("path pattern `{src}` does not start with `/`"),
                "write an absolute path such as `/api/users/*`",
            ));
        }
        let (body, tail) = match src.strip_suffix("/*") {
            Some(body) => (body, true),
            None => (src, false),
        };
        let mut segs = Vec::new();
        if let Some(inner) = body.strip_prefix('/') {
            let raw: Vec<&str> = inner.split('/').collect();
            for (i, seg) in raw.iter().enumerate() {
                let last = i + 1 == raw.len() && !tail;
                segs.push(parse_segment(src, seg, last, &segs)?);
            }
        }
        Ok(Pattern { segs, tail })
    }

    /// The segment index of parameter `name`.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.segs
            .iter()
            .position(|s| matches!(s, Seg::Param(p) if &**p == name))
    }

    /// Names of the captured parameters, for messages.
    pub fn param_names(&self) -> Vec<&str> {
        self.segs
            .iter()
            .filter_map(|s| match s {
                Seg::Param(p) => Some(&**p),
                Seg::Static(_) => None,
            })
            .collect()
    }

    /// Specificity key, compared lexicographically (greater = more specific): per segment
    /// static 3, parameter 2; then 1 when the pattern ends there, 0 for a `/*` tail.
    pub fn specificity(&self) -> Vec<u8> {
        let mut key: Vec<u8> = self
            .segs
            .iter()
            .map(|s| match s {
                Seg::Static(_) => 3,
                Seg::Param(_) => 2,
            })
            .collect();
        key.push(u8::from(!self.tail));
        key
    }

    /// The pattern with parameter names erased (`/users/{}/*`): equal shapes match equal paths.
    pub fn shape(&self) -> String {
        let mut s = String::new();
        for seg in &self.segs {
            s.push('/');
            match seg {
                Seg::Static(t) => s.push_str(t),
                Seg::Param(_) => s.push_str("{}"),
            }
        }
        if self.tail {
            s.push_str("/*");
        }
        s
    }

    /// The literal text every matching path starts with (`/api/users/{id}` -> `/api/users/`,
    /// `/api/*` -> `/api`).
    pub fn static_prefix(&self) -> String {
        let mut s = String::new();
        for seg in &self.segs {
            s.push('/');
            match seg {
                Seg::Static(t) => s.push_str(t),
                Seg::Param(_) => break,
            }
        }
        s
    }
}

fn parse_segment(src: &str, seg: &str, last: bool, before: &[Seg]) -> Result<Seg, Invalid> {
    if seg.is_empty() {
        if last {
            return Ok(Seg::Static("".into()));
        }
        return Err(invalid(
            format!("empty segment (`//`) in path pattern `{src}`"),
            "request paths are normalised with runs of `/` merged; remove the extra `/`",
        ));
    }
    if seg.contains('*') {
        return Err(invalid(
            format!("`*` in path pattern `{src}` is only allowed as a final `/*`"),
            "for a prefix route end the pattern with `/*`, e.g. `/api/*`; `{*}` in `rewrite` inserts the rest",
        ));
    }
    if seg.contains(['{', '}']) {
        return parse_param(src, seg, before);
    }
    if seg == "." || seg == ".." {
        return Err(invalid(
            format!("dot-segment `{seg}` in path pattern `{src}`"),
            "request paths are normalised before routing, so this pattern could never match",
        ));
    }
    if let Some(c) = seg
        .chars()
        .find(|c| c.is_ascii_control() || matches!(c, ' ' | '?' | '#'))
    {
        return Err(invalid(
            format!("character {c:?} not allowed in path pattern `{src}`"),
            "patterns match the normalised path only; the query string is not routed on",
        ));
    }
    let lenient = NormalizeOptions {
        merge_slashes: true,
        reject_encoded_slash: false,
    };
    let as_path = format!("/{seg}");
    match normalize_path(&as_path, &lenient) {
        Err(e) => Err(invalid(
            format!("segment `{seg}` of path pattern `{src}`: {e}"),
            "request paths containing this are refused before routing",
        )),
        Ok(n) if n != as_path => Err(invalid(
            format!("segment `{seg}` of path pattern `{src}` is not in normalised form"),
            format!(
                "paths are normalised before matching; write `{}`",
                n.trim_start_matches('/')
            ),
        )),
        Ok(_) => Ok(Seg::Static(seg.into())),
    }
}

fn parse_param(src: &str, seg: &str, before: &[Seg]) -> Result<Seg, Invalid> {
    let mut depth = 0i32;
    for c in seg.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if depth > 1 {
            return Err(invalid(
                format!("nested braces in segment `{seg}` of path pattern `{src}`"),
                "a parameter is written `{name}`; literal braces are not supported",
            ));
        }
        if depth < 0 {
            break;
        }
    }
    if depth != 0 {
        return Err(invalid(
            format!("unbalanced braces in segment `{seg}` of path pattern `{src}`"),
            "a parameter is written `{name}`",
        ));
    }
    let name = match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(name) if !name.contains(['{', '}']) => name,
        _ => {
            return Err(invalid(
                format!("parameter in `{seg}` of path pattern `{src}` is not a whole segment"),
                "a parameter takes a whole segment: `/files/{name}`",
            ))
        }
    };
    if name.is_empty() {
        return Err(invalid(
            format!("empty parameter name `{{}}` in path pattern `{src}`"),
            "name it, e.g. `{id}`",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            format!("invalid parameter name `{name}` in path pattern `{src}`"),
            "use letters, digits, `_` and `-`",
        ));
    }
    if before
        .iter()
        .any(|s| matches!(s, Seg::Param(p) if &**p == name))
    {
        return Err(invalid(
            format!("duplicate parameter name `{name}` in path pattern `{src}`"),
            "give each parameter its own name",
        ));
    }
    Ok(Seg::Param(name.into()))
}

/// One piece of a compiled rewrite template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Lit(Box<str>),
    /// The segment at this index.
    Param(usize),
    /// The tail remainder, without its leading `/`.
    Tail,
}

/// Compiles a rewrite template against the route's pattern.
pub(crate) fn parse_rewrite(src: &str, pattern: &Pattern) -> Result<Vec<Part>, Invalid> {
    if !src.starts_with('/') {
        return Err(invalid(
            format!("rewrite `{src}` does not start with `/`"),
            "write an absolute path template such as `/v2/users/{id}`",
        ));
    }
    if let Some(c) = src
        .chars()
        .find(|c| c.is_ascii_control() || matches!(c, ' ' | '?' | '#' | '\\'))
    {
        return Err(invalid(
            format!("character {c:?} not allowed in rewrite `{src}`"),
            "the rewrite is a path only; the query string is forwarded unchanged",
        ));
    }
    parse_template(src, pattern, "rewrite")
}

/// Compiles a template (`{name}` a captured parameter, `{*}` the prefix remainder, the rest
/// literal) against the route's pattern; the caller checks which characters it may hold.
pub(crate) fn parse_template(
    src: &str,
    pattern: &Pattern,
    what: &str,
) -> Result<Vec<Part>, Invalid> {
    let mut parts = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find(['{', '}']) {
        let after = &rest[open + 1..];
        let close = match (rest.as_bytes()[open], after.find(['{', '}'])) {
            (b'{', Some(c)) if after.as_bytes()[c] == b'}' => c,
            _ => {
                return Err(invalid(
                    format!("unbalanced braces in {what} `{src}`"),
                    "insert a parameter with `{name}` and the prefix remainder with `{*}`",
                ))
            }
        };
        if open > 0 {
            parts.push(Part::Lit(rest[..open].into()));
        }
        let name = &after[..close];
        parts.push(rewrite_var(src, name, pattern, what)?);
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.into()));
    }
    Ok(parts)
}

fn rewrite_var(src: &str, name: &str, pattern: &Pattern, what: &str) -> Result<Part, Invalid> {
    if name == "*" {
        return if pattern.tail {
            Ok(Part::Tail)
        } else {
            Err(invalid(
                format!("{what} `{src}` uses `{{*}}` but the path pattern has no `/*` tail"),
                "end the path pattern with `/*` or remove `{*}`",
            ))
        };
    }
    match pattern.param_index(name) {
        Some(i) => Ok(Part::Param(i)),
        None => {
            let names = pattern.param_names();
            let hint = if names.is_empty() {
                "the path pattern captures no parameters".to_string()
            } else {
                format!("the path pattern captures: {}", names.join(", "))
            };
            Err(invalid(
                format!(
                    "{what} `{src}` uses `{{{name}}}`, which the path pattern does not capture"
                ),
                hint,
            ))
        }
    }
}

/// Validates `strip_prefix` against the pattern: absolute, a literal prefix of the pattern's
/// static leading part, ending on a segment boundary.
pub(crate) fn check_strip(strip: &str, pattern: &Pattern) -> Result<(), Invalid> {
    let lead = pattern.static_prefix();
    let hint = || {
        let lead = lead.trim_end_matches('/');
        if lead.is_empty() {
            "the pattern has no literal leading segment to strip".to_string()
        } else {
            format!("strip whole literal leading segments, e.g. `{lead}`")
        }
    };
    if !strip.starts_with('/') {
        return Err(invalid(
            format!("strip_prefix `{strip}` does not start with `/`"),
            hint(),
        ));
    }
    if !lead.starts_with(strip) {
        return Err(invalid(
            format!(
                "strip_prefix `{strip}` is not a prefix of the pattern's literal part `{lead}`"
            ),
            hint(),
        ));
    }
    if !(strip.ends_with('/') || strip.len() == lead.len() || lead[strip.len()..].starts_with('/'))
    {
        return Err(invalid(
            format!("strip_prefix `{strip}` ends inside a path segment"),
            hint(),
        ));
    }
    Ok(())
}
