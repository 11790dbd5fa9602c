//! Verification keys: HMAC secrets, PEM public keys and JWKS documents, each turned into a
//! `VerifyKey` bound to the algorithms it may ever be used with (HMAC only with HS*, RSA with
//! RS*/PS*, P-256 with ES256, P-384 with ES384, Ed25519 with EdDSA).

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::error::alg_name;

/// What a key is; this alone decides which algorithms it can be used with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    /// Every algorithm this kind of key is for.
    pub(crate) fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            KeyKind::Hmac => &[HS256, HS384, HS512],
            KeyKind::Rsa => &[RS256, RS384, RS512, PS256, PS384, PS512],
            KeyKind::P256 => &[ES256],
            KeyKind::P384 => &[ES384],
            KeyKind::Ed25519 => &[EdDSA],
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyKind::Hmac => "an HMAC secret",
            KeyKind::Rsa => "an RSA key",
            KeyKind::P256 => "an EC P-256 key",
            KeyKind::P384 => "an EC P-384 key",
            KeyKind::Ed25519 => "an Ed25519 key",
        }
    }
}

/// One verification key, its optional `kid` and the algorithms it may verify.
#[derive(Debug, Clone)]
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

impl VerifyKey {
    /// A key for `algorithms` (empty = every algorithm of its kind); refuses algorithms that do
    /// not fit the kind and keys the crypto backend cannot use.
    fn new(
        kid: Option<String>,
        kind: KeyKind,
        algorithms: &[Algorithm],
        key: DecodingKey,
    ) -> Result<VerifyKey, String> {
        let algorithms = if algorithms.is_empty() {
            kind.algorithms().to_vec()
        } else {
            algorithms.to_vec()
        };
        if let Some(bad) = algorithms.iter().find(|a| !kind.algorithms().contains(a)) {
            return Err(format!(
                "{} cannot be used with {}",
                alg_name(*bad),
                kind.name()
            ));
        }
        // Builds the backend's verifier once (parses EC points and Ed25519 keys; RSA keys are
        // parsed per verification, so a broken RSA key shows as bad signatures).
        if jsonwebtoken::crypto::verify("", b"", &key, algorithms[0]).is_err() {
            return Err(format!("{} is not valid", kind.name()));
        }
        Ok(VerifyKey {
            kid,
            algorithms,
            key,
        })
    }

    /// Whether this key may verify `alg`.
    pub(crate) fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// Whether `signature` (base64url) signs `message` under `alg`; always false for an
    /// algorithm this key is not for.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &str) -> bool {
        self.allows(alg)
            && jsonwebtoken::crypto::verify(signature, message, &self.key, alg).unwrap_or(false)
    }
}

/// An HMAC secret for the HS algorithms listed (empty = HS256/384/512).
pub(crate) fn from_secret(
    secret: &[u8],
    algorithms: &[Algorithm],
    kid: Option<String>,
) -> Result<VerifyKey, String> {
    if secret.is_empty() {
        return Err("the HMAC secret is empty".into());
    }
    if secret.len() < 32 {
        tracing::warn!(
            bytes = secret.len(),
            "JWT HMAC secret shorter than 32 bytes (RFC 7518 §3.2 asks for at least the hash size)"
        );
    }
    VerifyKey::new(
        kid,
        KeyKind::Hmac,
        algorithms,
        DecodingKey::from_secret(secret),
    )
}

/// A PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`); the key type is read from the PEM.
pub(crate) fn from_pem(
    pem: &str,
    algorithms: &[Algorithm],
    kid: Option<String>,
) -> Result<VerifyKey, String> {
    let label = pem
        .lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("not a PEM document")?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        l if l.contains("PRIVATE") => {
            return Err(format!(
                "the PEM holds a private key ({l}); configure the public key"
            ))
        }
        l => return Err(format!("unsupported PEM block {l:?}; expected PUBLIC KEY")),
    }
    let bytes = pem.as_bytes();
    let (kind, key) = if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
        (KeyKind::Rsa, key)
    } else if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        // The SEC1 point: 0x04 || x || y, or compressed 0x02/0x03 || x.
        let kind = match key.as_bytes().len() {
            65 | 33 => KeyKind::P256,
            97 | 49 => KeyKind::P384,
            _ => return Err("unsupported EC curve (only P-256 and P-384)".into()),
        };
        (kind, key)
    } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
        if key.as_bytes().len() != 32 {
            return Err("not an Ed25519 public key".into());
        }
        (KeyKind::Ed25519, key)
    } else {
        return Err("not an RSA, EC or Ed25519 public key".into());
    };
    VerifyKey::new(kid, kind, algorithms, key)
}

/// The usable signing keys of a JWKS document. Keys are parsed one by one (as
/// `jsonwebtoken::jwk::Jwk`) so one unsupported key does not sink the set: keys with `use`
/// other than `sig`, `key_ops` without `verify`, an encryption `alg`, or an unsupported type
/// or curve are skipped (logged at debug). A document without any usable key is an error.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyKey>, String> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<Value>,
    }
    let raw: RawSet =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = Vec::with_capacity(raw.keys.len());
    for (index, value) in raw.keys.into_iter().enumerate() {
        let parsed = serde_json::from_value::<Jwk>(value)
            .map_err(|e| format!("unsupported JWK: {e}"))
            .and_then(|jwk| from_jwk(&jwk));
        match parsed {
            Ok(key) => keys.push(key),
            Err(why) => tracing::debug!(index, %why, "JWKS key skipped"),
        }
    }
    if keys.is_empty() {
        return Err("the JWKS has no usable signing key".into());
    }
    Ok(keys)
}

/// One JWK as a verification key: its `alg` when given, else every algorithm of its type.
fn from_jwk(jwk: &Jwk) -> Result<VerifyKey, String> {
    let common = &jwk.common;
    if let Some(usage) = &common.public_key_use {
        if *usage != PublicKeyUse::Signature {
            return Err(format!("use {usage:?} is not sig"));
        }
    }
    if let Some(ops) = &common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return Err("key_ops lacks verify".into());
        }
    }
    let bad = |e: jsonwebtoken::errors::Error| format!("bad key material: {e}");
    let (kind, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => (
            KeyKind::Rsa,
            DecodingKey::from_rsa_components(&p.n, &p.e).map_err(bad)?,
        ),
        AlgorithmParameters::EllipticCurve(p) => {
            let kind = match p.curve {
                EllipticCurve::P256 => KeyKind::P256,
                EllipticCurve::P384 => KeyKind::P384,
                ref other => return Err(format!("unsupported EC curve {other:?}")),
            };
            (
                kind,
                DecodingKey::from_ec_components(&p.x, &p.y).map_err(bad)?,
            )
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 {
                return Err(format!("unsupported OKP curve {:?}", p.curve));
            }
            let key = DecodingKey::from_ed_components(&p.x).map_err(bad)?;
            if key.as_bytes().len() != 32 {
                return Err("Ed25519 x is not 32 bytes".into());
            }
            (KeyKind::Ed25519, key)
        }
        AlgorithmParameters::OctetKey(_) => {
            let key = DecodingKey::from_jwk(jwk).map_err(bad)?;
            if key.as_bytes().is_empty() {
                return Err("empty oct key".into());
            }
            (KeyKind::Hmac, key)
        }
    };
    let algorithms = match common.key_algorithm {
        None => Vec::new(),
        Some(alg) => vec![signing_alg(alg)?],
    };
    VerifyKey::new(common.key_id.clone(), kind, &algorithms, key)
}

/// A JWK `alg` as a signing algorithm; encryption and unknown algorithms are refused.
fn signing_alg(alg: KeyAlgorithm) -> Result<Algorithm, String> {
    Ok(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        other => return Err(format!("alg {other} is not a signing algorithm")),
    })
}
