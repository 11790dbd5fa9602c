//! `${VAR}` expansion inside string values, applied after TOML parsing so that a variable's
//! value can never inject TOML syntax. `$${` stands for a literal `${`; any other `$` is literal.

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EnvError {
    /// These variables are referenced but not set (in order of appearance, no duplicates).
    Unset(Vec<String>),
    /// A `${` without its closing `}`.
    Unterminated,
    /// `${...}` whose content is not a variable name (`[A-Za-z_][A-Za-z0-9_]*`).
    BadName(String),
}

impl EnvError {
    /// The message and hint for a `ConfigError`.
    pub(super) fn describe(&self) -> (String, String) {
        match self {
            EnvError::Unset(names) if names.len() == 1 => (
                format!("environment variable `{}` is not set", names[0]),
                format!("set {} or remove the reference", names[0]),
            ),
            EnvError::Unset(names) => (
                format!(
                    "environment variables {} are not set",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!("set {} or remove the references", names.join(", ")),
            ),
            EnvError::Unterminated => (
                "unterminated `${` (no closing `}`)".to_owned(),
                "write ${NAME}, or $${ for a literal ${".to_owned(),
            ),
            EnvError::BadName(name) => (
                format!("`${{{name}}}` is not a valid variable reference"),
                "names use letters, digits and _ and do not start with a digit; \
                 write $${ for a literal ${"
                    .to_owned(),
            ),
        }
    }
}

/// Expands every `${NAME}` in `s` with `lookup(NAME)`, reporting all unset names at once.
pub(super) fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut unset: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(EnvError::Unterminated)?;
            let name = &after[..end];
            if !is_var_name(name) {
                return Err(EnvError::BadName(name.to_owned()));
            }
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None if unset.iter().any(|u| u == name) => {}
                None => unset.push(name.to_owned()),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if unset.is_empty() {
        Ok(out)
    } else {
        Err(EnvError::Unset(unset))
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.1".into()),
            "EMPTY" => Some(String::new()),
            "TRICKY" => Some("\"] [x".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(expand("plain", &env).unwrap(), "plain");
        assert_eq!(
            expand("http://${HOST}:80", &env).unwrap(),
            "http://10.0.0.1:80"
        );
        assert_eq!(
            expand("${HOST}${EMPTY}${HOST}", &env).unwrap(),
            "10.0.0.110.0.0.1"
        );
        assert_eq!(
            expand("$${HOST} costs $5", &env).unwrap(),
            "${HOST} costs $5"
        );
        assert_eq!(expand("$$${HOST}", &env).unwrap(), "$${HOST}");
        assert_eq!(expand("${TRICKY}", &env).unwrap(), "\"] [x");
        assert_eq!(expand("trailing $", &env).unwrap(), "trailing $");
    }

    #[test]
    fn reports_problems() {
        assert_eq!(
            expand("${NOPE}/${HOST}/${NOPE}/${ALSO}", &env),
            Err(EnvError::Unset(vec!["NOPE".into(), "ALSO".into()]))
        );
        assert_eq!(expand("${HOST", &env), Err(EnvError::Unterminated));
        assert_eq!(expand("${1X}", &env), Err(EnvError::BadName("1X".into())));
        assert_eq!(expand("${}", &env), Err(EnvError::BadName(String::new())));
    }
}
