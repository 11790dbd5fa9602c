//! `JwtError`: why a bearer token was refused, with a short static reason for logs and metrics.

use jsonwebtoken::Algorithm;

/// Why a token was refused. `reason()` is a short stable label (`"expired"`, ...) for logs and
/// metrics; `Display` adds detail that never echoes token content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS: segment count, base64url, JSON or object shape is wrong.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Longer than `max_token_bytes`; refused unparsed.
    #[error("token longer than the configured limit")]
    TooLarge,
    /// `alg: none` (any case): an unsigned token.
    #[error("unsigned token (alg none)")]
    AlgNone,
    /// The algorithm is unknown, or no configured key may be used with it.
    #[error("algorithm {0} not allowed")]
    AlgNotAllowed(&'static str),
    /// The header has a `crit` parameter; no extension is understood (RFC 7515 §4.1.11).
    #[error("critical header extension not supported")]
    CritUnsupported,
    /// The token names a `kid` that no configured key has.
    #[error("unknown key id")]
    UnknownKid,
    /// No key allowed for the algorithm verified the signature.
    #[error("signature does not verify")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not one of the accepted issuers.
    #[error("issuer not accepted")]
    BadIssuer,
    /// No `aud` value is one of the accepted audiences.
    #[error("audience not accepted")]
    BadAudience,
    /// A required claim (`exp`, a configured one, or `iss`/`aud` when those are checked) is
    /// absent.
    #[error("claim {0:?} missing")]
    MissingClaim(String),
    /// A time claim (`exp`, `nbf`, `iat`) is not a number.
    #[error("claim {0:?} is not a number")]
    InvalidClaim(&'static str),
    /// The keys of a JWKS URL have not been fetched yet: fail closed.
    #[error("verification keys not available yet")]
    KeysUnavailable,
}

impl JwtError {
    /// A short static label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::Malformed(_) => "malformed",
            JwtError::TooLarge => "too_large",
            JwtError::AlgNone => "alg_none",
            JwtError::AlgNotAllowed(_) => "alg_not_allowed",
            JwtError::CritUnsupported => "crit_unsupported",
            JwtError::UnknownKid => "unknown_kid",
            JwtError::BadSignature => "bad_signature",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::IssuedInFuture => "issued_in_future",
            JwtError::BadIssuer => "bad_issuer",
            JwtError::BadAudience => "bad_audience",
            JwtError::MissingClaim(_) => "missing_claim",
            JwtError::InvalidClaim(_) => "invalid_claim",
            JwtError::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// The JOSE name of an algorithm (`"RS256"`), static for error values and logs.
pub(crate) fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}
