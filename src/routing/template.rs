//! `Template`: a text with the route's captured parameters (`{name}`) and prefix remainder
//! (`{*}`) filled in per request, compiled once against the route's path pattern. Redirects use
//! it for their path and host; `RouteMatch::fill` expands it.

use super::pattern::{parse_template, Part, Pattern};

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub(super) parts: Vec<Part>,
    /// The source text, as written.
    pub text: String,
}

impl Template {
    /// Compiles `text` against the path pattern `pattern` (as in `[[routes]] path`). `what`
    /// names the key in messages. `Err` holds the message and a hint; a pattern that does not
    /// parse is the `path` key's error, reported by the router, so it is `Err` without one.
    pub fn parse(pattern: &str, text: &str, what: &str) -> Result<Template, TemplateError> {
        let pattern = Pattern::parse(pattern).map_err(|_| TemplateError::Pattern)?;
        match parse_template(text, &pattern, what) {
            Ok(parts) => Ok(Template {
                parts,
                text: text.to_owned(),
            }),
            Err(e) => Err(TemplateError::Invalid(e.message, e.hint)),
        }
    }

    /// Whether the template inserts nothing (a plain literal).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The path pattern itself is invalid (reported for `path`).
    Pattern,
    /// The template is invalid: message and hint.
    Invalid(String, Option<String>),
}

impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
