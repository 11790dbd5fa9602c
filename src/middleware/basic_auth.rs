//! HTTP Basic authentication (RFC 7617): reading `Authorization: Basic`, checking the password
//! against the consumers' bcrypt (`$2a$`, `$2b$`, `$2y$`, as `htpasswd -B` writes) or argon2
//! PHC hashes, and the `WWW-Authenticate` challenge.

use std::collections::HashMap;

use argon2::{Argon2, Params, PasswordHash, PasswordVerifier};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::{header, HeaderMap, HeaderValue};

use crate::config::policy::ConsumerSpec;

/// Highest accepted bcrypt cost: each step doubles the time of every login (16 is about 4 s on
/// one core), and each request with Basic credentials pays it.
pub const MAX_BCRYPT_COST: u32 = 16;
/// Highest accepted argon2 memory (KiB; 256 MiB), spent by every request that logs in.
pub const MAX_ARGON2_M_COST: u32 = 256 * 1024;
/// Highest accepted argon2 passes.
pub const MAX_ARGON2_T_COST: u32 = 64;
/// Highest accepted argon2 lanes.
pub const MAX_ARGON2_P_COST: u32 = 64;

/// Base64 as RFC 7617 uses it, tolerating missing padding (some clients drop it).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone)]
enum Hash {
    Bcrypt(String),
    Argon2(Box<PasswordHash>),
    /// Not a usable hash (the config layer should have refused it): never matches.
    Invalid,
}

impl Hash {
    fn parse(s: &str) -> Hash {
        match validate_hash(s) {
            Ok(()) if is_bcrypt(s) => Hash::Bcrypt(s.to_owned()),
            Ok(()) => PasswordHash::new(s).map_or(Hash::Invalid, |h| Hash::Argon2(Box::new(h))),
            Err(_) => Hash::Invalid,
        }
    }

    /// Runs the full hash computation; `true` only on a match.
    fn check(&self, password: &[u8]) -> bool {
        match self {
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Argon2(h) => Argon2::default().verify_password(password, &**h).is_ok(),
            Hash::Invalid => false,
        }
    }
}

/// The Basic credentials of all consumers that have one: user name -> (hash, consumer index).
///
/// A user name unknown to the table is checked against a copy of the first configured
/// credential's hash, so it costs as much as a known user and the answer time does not tell
/// which names exist (exactly so when all hashes share algorithm and cost, the usual case).
#[derive(Debug, Clone, Default)]
pub struct BasicTable {
    users: HashMap<String, (Hash, usize)>,
    dummy: Option<Hash>,
}

impl BasicTable {
    /// Gathers the consumers' `basic` credentials; the index is the position in `consumers`.
    /// A user name given twice resolves to the first consumer (the config layer refuses it).
    pub fn new(consumers: &[ConsumerSpec]) -> BasicTable {
        let mut t = BasicTable::default();
        for (i, c) in consumers.iter().enumerate() {
            let Some(cred) = &c.basic else { continue };
            let hash = Hash::parse(&cred.hash);
            if t.dummy.is_none() {
                t.dummy = Some(hash.clone());
            }
            t.users.entry(cred.user.clone()).or_insert((hash, i));
        }
        t
    }

    /// Whether no consumer has a Basic credential.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The consumer whose user name and password these are. An unknown user still runs one
    /// hash computation (against the dummy) before `None`.
    pub fn verify(&self, user: &str, password: &str) -> Option<usize> {
        match self.users.get(user) {
            Some((hash, consumer)) => hash.check(password.as_bytes()).then_some(*consumer),
            None => {
                if let Some(d) = &self.dummy {
                    let _ = std::hint::black_box(d.check(password.as_bytes()));
                }
                None
            }
        }
    }
}

/// The user name and password of an `Authorization: Basic <base64(user:pass)>` header. The
/// scheme is case-insensitive; padding may be missing; the user name is everything before the
/// first `:` and must not hold control characters; both must be UTF-8. `None` when absent or
/// malformed, and when more than one Basic `Authorization` line is present (ambiguous).
pub fn parse_authorization(headers: &HeaderMap) -> Option<(String, String)> {
    let mut basic = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| {
            let v = v.as_bytes().trim_ascii();
            let sp = v.iter().position(|&c| c == b' ')?;
            let (scheme, token) = v.split_at(sp);
            scheme
                .eq_ignore_ascii_case(b"basic")
                .then(|| token.trim_ascii_start())
        });
    let token = basic.next()?;
    if basic.next().is_some() {
        return None;
    }
    let decoded = B64.decode(token).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    if user.chars().any(char::is_control) {
        return None;
    }
    Some((user.to_owned(), pass.to_owned()))
}

/// Checks a configured password hash: bcrypt `$2a$`/`$2b$`/`$2y$` with cost 4 to
/// [`MAX_BCRYPT_COST`], or an argon2 PHC string (`$argon2id$`, `$argon2i$`, `$argon2d$`) with
/// salt and hash and costs within the `MAX_ARGON2_*` limits.
pub fn validate_hash(s: &str) -> Result<(), String> {
    if is_bcrypt(s) {
        let b = s.as_bytes();
        let ok_shape = b.len() == 60
            && b[6] == b'$'
            && b[7..]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/');
        if !ok_shape {
            return Err("a bcrypt hash is `$2y$NN$` and 53 characters of salt and hash".into());
        }
        let cost: u32 = s[4..6]
            .parse()
            .map_err(|_| "the bcrypt cost must be two digits".to_string())?;
        if !(4..=MAX_BCRYPT_COST).contains(&cost) {
            return Err(format!(
                "bcrypt cost {cost} is outside 4..={MAX_BCRYPT_COST} (each request pays it)"
            ));
        }
        return Ok(());
    }
    if ["$argon2id$", "$argon2i$", "$argon2d$"]
        .iter()
        .any(|p| s.starts_with(p))
    {
        let h = PasswordHash::new(s).map_err(|e| format!("invalid argon2 PHC string: {e}"))?;
        if h.salt.is_none() || h.hash.is_none() {
            return Err("the argon2 PHC string lacks its salt or hash".into());
        }
        argon2::Algorithm::try_from(h.algorithm.as_str())
            .map_err(|e| format!("invalid argon2 algorithm: {e}"))?;
        if let Some(v) = h.version {
            argon2::Version::try_from(v).map_err(|e| format!("invalid argon2 version: {e}"))?;
        }
        let p = Params::try_from(&h).map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        if p.m_cost() > MAX_ARGON2_M_COST
            || p.t_cost() > MAX_ARGON2_T_COST
            || p.p_cost() > MAX_ARGON2_P_COST
        {
            return Err(format!(
                "argon2 costs m={} t={} p={} exceed m<={MAX_ARGON2_M_COST} t<={MAX_ARGON2_T_COST} \
                 p<={MAX_ARGON2_P_COST} (each request pays them)",
                p.m_cost(),
                p.t_cost(),
                p.p_cost()
            ));
        }
        return Ok(());
    }
    Err("expected a bcrypt ($2a$, $2b$, $2y$) or argon2 ($argon2id$, ...) hash".into())
}

fn is_bcrypt(s: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| s.starts_with(p))
}

/// `WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"`; `"` and `\` in the realm are
/// escaped and control characters dropped.
pub fn challenge(realm: &str) -> HeaderValue {
    let mut v = String::with_capacity(realm.len() + 32);
    v.push_str("Basic realm=\"");
    for c in realm.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            v.push('\\');
        }
        v.push(c);
    }
    v.push_str("\", charset=\"UTF-8\"");
    HeaderValue::from_str(&v)
        .or_else(|_| HeaderValue::from_bytes(v.as_bytes()))
        .unwrap_or(HeaderValue::from_static("Basic charset=\"UTF-8\""))
}

#[cfg(test)]
#[path = "basic_auth_tests.rs"]
mod tests;
