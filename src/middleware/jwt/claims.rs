//! `Claims` (a verified token's payload) and the registered-claim checks: `exp` (required),
//! `nbf`, `iat` with leeway, `iss`, `aud` and the configured required claims.

use http::HeaderValue;
use serde_json::{Map, Value};

use super::JwtError;

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A claim's value; `None` when absent.
    pub fn get(&self, claim: &str) -> Option<&Value> {
        self.0.get(claim)
    }

    /// The consumer named by `claim`: a non-empty string as is, a number as its decimal text;
    /// `None` for anything else or when absent.
    pub fn consumer(&self, claim: &str) -> Option<String> {
        match self.0.get(claim)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `claim` as a header value: strings as is, other values as compact JSON. `None` when
    /// absent or null, or when the text is not a valid header value (control characters).
    pub fn header_value(&self, claim: &str) -> Option<HeaderValue> {
        let text = match self.0.get(claim)? {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        HeaderValue::from_str(&text).ok()
    }
}

/// The claim checks of one verifier, from its `JwtSpec`.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) required: Vec<String>,
    /// Seconds.
    pub(crate) leeway: f64,
}

impl Rules {
    /// Checks the claims at unix time `now`, in this order: `exp` present, `exp`, `nbf`, `iat`,
    /// `iss`, `aud`, required claims.
    pub(crate) fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<(), JwtError> {
        let now = now as f64;
        let exp = numeric(claims, "exp")?.ok_or_else(|| JwtError::MissingClaim("exp".into()))?;
        // RFC 7519 §4.1.4: valid only *before* exp.
        if now >= exp + self.leeway {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = numeric(claims, "nbf")? {
            if nbf > now + self.leeway {
                return Err(JwtError::NotYetValid);
            }
        }
        if let Some(iat) = numeric(claims, "iat")? {
            if iat > now + self.leeway {
                return Err(JwtError::IssuedInFuture);
            }
        }
        if !self.issuers.is_empty() {
            match present(claims, "iss") {
                None => return Err(JwtError::MissingClaim("iss".into())),
                Some(Value::String(iss)) if self.issuers.iter().any(|i| i == iss) => {}
                Some(_) => return Err(JwtError::BadIssuer),
            }
        }
        if !self.audiences.is_empty() {
            let accepted = |v: &Value| matches!(v, Value::String(s) if self.audiences.contains(s));
            match present(claims, "aud") {
                None => return Err(JwtError::MissingClaim("aud".into())),
                Some(Value::Array(auds)) if auds.iter().any(accepted) => {}
                Some(v) if accepted(v) => {}
                Some(_) => return Err(JwtError::BadAudience),
            }
        }
        for claim in &self.required {
            if present(claims, claim).is_none() {
                return Err(JwtError::MissingClaim(claim.clone()));
            }
        }
        Ok(())
    }
}

/// A claim's value unless absent or null.
fn present<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    claims.get(name).filter(|v| !v.is_null())
}

/// A NumericDate claim (integer or fractional seconds); `InvalidClaim` when not a number.
fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, JwtError> {
    match present(claims, name) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(JwtError::InvalidClaim(name)),
    }
}
