//! Validated traffic-policy settings: consumers, named policies (auth, rate limits, header
//! transforms, CORS, IP rules, body limit) and the global rate-limit settings. Routes refer to
//! policies by index; `middleware::Chain` compiles them once per snapshot.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use ipnet::IpNet;
use serde::Serialize;

use super::show;

pub use jsonwebtoken::Algorithm as JwtAlgorithm;

/// `[consumers.NAME]`: an identity that API keys, basic auth or JWTs resolve to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerSpec {
    pub name: String,
    /// SHA-256 digests of the consumer's API keys (config holds `sha256:<64 hex>`, or a plain
    /// key, usually from `${ENV}`, hashed at load).
    #[serde(serialize_with = "show::count")]
    pub api_keys: Vec<[u8; 32]>,
    /// Basic-auth credential: user name (default: the consumer name) and password hash
    /// (bcrypt `$2a$`/`$2b$`/`$2y$`, or argon2 PHC `$argon2id$...`).
    pub basic: Option<BasicCredential>,
    /// Route names this consumer may call; empty = every route.
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicCredential {
    pub user: String,
    #[serde(serialize_with = "show::secret")]
    pub hash: String,
}

/// `[policies.NAME]`: one named bundle of settings. A route applies a list of policies; see
/// `docs/config.md` for how they merge.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PolicySpec {
    pub name: String,
    pub auth: Option<AuthSpec>,
    pub rate_limits: Vec<RateLimitSpec>,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    pub cors: Option<CorsSpec>,
    pub ip_rules: Option<IpRules>,
    /// Request body limit for routes using this policy (overrides `server.max_body_bytes`;
    /// 0 = unlimited).
    pub max_body_bytes: Option<u64>,
    /// Response caching (`[policies.NAME.cache]`).
    pub cache: Option<super::cache::CacheSpec>,
    /// Response compression (`[policies.NAME.compression]`).
    pub compression: Option<super::compression::CompressionSpec>,
    /// Ask an external service whether to let the request through
    /// (`[policies.NAME.forward_auth]`).
    pub forward_auth: Option<ForwardAuthSpec>,
}

/// `[policies.NAME.forward_auth]`: an external HTTP service decides (Traefik's forwardAuth,
/// nginx `auth_request`, Envoy's HTTP ext_authz). A 2xx lets the request through with
/// `response_headers` copied upstream; any other status below 500 is the client's answer; a
/// failure (unreachable, timeout, 5xx) refuses with 503 or lets through, per `failure`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForwardAuthSpec {
    /// `http://` or `https://` (verified like every outbound call).
    pub url: String,
    /// Client request headers sent to the service. Default `Authorization`, `Cookie`.
    #[serde(serialize_with = "show::displays")]
    pub request_headers: Vec<HeaderName>,
    /// The service's answer headers copied into the upstream request on success. The client's
    /// own values of these headers are always removed first, so a backend can trust them.
    #[serde(serialize_with = "show::displays")]
    pub response_headers: Vec<HeaderName>,
    /// The whole exchange with the service. Default 2 s.
    #[serde(serialize_with = "show::duration")]
    pub timeout: Duration,
    /// What a failure does: refuse with 503 (default) or let the request through.
    pub failure: FailureMode,
    /// How long a success is remembered for the same credentials, method, host and path
    /// (0 = never, the default).
    #[serde(serialize_with = "show::duration")]
    pub cache_ttl: Duration,
    /// Most remembered successes. Default 10,000.
    pub cache_max_entries: usize,
}

/// `failure`: fail closed (`deny`) or open (`allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    Deny,
    Allow,
}

/// `[policies.NAME.auth]`: which credentials are accepted. The first method that finds
/// credentials in the request decides; none found -> 401 (unless `optional`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthSpec {
    pub api_key: Option<ApiKeySpec>,
    pub jwt: Option<JwtSpec>,
    pub basic: Option<BasicSpec>,
    /// Header that carries the consumer's name upstream. Default `X-Consumer`.
    #[serde(serialize_with = "show::display")]
    pub consumer_header: HeaderName,
    /// Let requests without any credentials through (anonymous). Default false. Invalid
    /// credentials are still refused.
    pub optional: bool,
}

/// API keys from a header (default `X-API-Key`) and/or a query parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKeySpec {
    #[serde(serialize_with = "show::opt_display")]
    pub header: Option<HeaderName>,
    pub query: Option<String>,
}

/// HTTP Basic authentication against the consumers' hashes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicSpec {
    /// `WWW-Authenticate: Basic realm="..."`. Default "portcullis".
    pub realm: String,
}

/// JWT bearer tokens (`Authorization: Bearer <token>`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JwtSpec {
    pub keys: Vec<JwtKeySource>,
    /// Accepted `iss` values; empty = not checked.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (any one must be present); empty = not checked.
    pub audiences: Vec<String>,
    /// Claims that must be present (besides `exp`, which always must).
    pub required_claims: Vec<String>,
    /// Clock skew allowed for `exp`, `nbf` and `iat`. Default 60 s.
    #[serde(serialize_with = "show::duration")]
    pub leeway: Duration,
    /// Tokens longer than this are refused unparsed. Default 8 KiB.
    pub max_token_bytes: usize,
    /// Claim -> request header passed upstream (string claims as is, others as JSON).
    #[serde(serialize_with = "show::pairs")]
    pub forward_claims: Vec<(String, HeaderName)>,
    /// Remove `Authorization` before the request goes upstream. Default false.
    pub strip_authorization: bool,
    /// The claim naming the consumer (rate-limit key, consumer header). Default `sub`.
    pub consumer_claim: String,
    /// Also accept the token from this query parameter when there is no bearer header
    /// (e.g. `access_token`, for clients that cannot set headers). Default none.
    pub query: Option<String>,
}

impl Default for JwtSpec {
    /// The documented defaults, with no keys yet.
    fn default() -> Self {
        JwtSpec {
            keys: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            required_claims: Vec::new(),
            leeway: Duration::from_secs(60),
            max_token_bytes: 8192,
            forward_claims: Vec::new(),
            strip_authorization: false,
            consumer_claim: "sub".to_owned(),
            query: None,
        }
    }
}

/// Where verification keys come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum JwtKeySource {
    /// An HMAC secret, for the HS algorithms listed.
    Secret {
        #[serde(serialize_with = "show::secret")]
        secret: Vec<u8>,
        algorithms: Vec<JwtAlgorithm>,
        kid: Option<String>,
    },
    /// A PEM public key (RSA, EC or Ed25519), for the algorithms listed (they must fit the
    /// key type).
    Pem {
        #[serde(serialize_with = "show::secret")]
        pem: String,
        algorithms: Vec<JwtAlgorithm>,
        kid: Option<String>,
    },
    /// A JWKS document on disk, read at load.
    JwksFile {
        #[serde(rename = "jwks_file")]
        path: PathBuf,
    },
    /// A JWKS URL fetched in the background.
    JwksUrl {
        #[serde(rename = "jwks_url")]
        url: String,
        /// Refetch period. Default 5 min.
        #[serde(serialize_with = "show::duration")]
        refresh: Duration,
        /// An unknown `kid` triggers a refetch at most once per this period. Default 30 s.
        #[serde(serialize_with = "show::duration")]
        min_refetch: Duration,
        /// Time limit of one fetch. Default 5 s.
        #[serde(serialize_with = "show::duration")]
        timeout: Duration,
    },
}

/// One rate limit: `rate` requests per `per`, with bursts up to `burst`, per key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimitSpec {
    /// Shown in `RateLimit-Policy` and metrics. Default `"{rate}-per-{per}"`.
    pub name: String,
    pub rate: u64,
    #[serde(serialize_with = "show::duration")]
    pub per: Duration,
    /// Default `rate`.
    pub burst: u64,
    /// The key: one or more parts, combined. Default `[ClientIp]`.
    #[serde(serialize_with = "show::displays")]
    pub key: Vec<LimitKey>,
    pub store: LimitStore,
    /// What a Redis-backed limit does when Redis fails. Default `Local`.
    pub on_error: OnStoreError,
}

/// A part of a rate-limit key.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitKey {
    /// The client IP: the peer, or the right-most untrusted X-Forwarded-For / Forwarded
    /// address when the peer is a trusted proxy.
    ClientIp,
    /// The authenticated consumer (anonymous requests share the key "-").
    Consumer,
    /// A request header's value ("-" when absent).
    Header(HeaderName),
    /// The route name (one bucket per route).
    Route,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitStore {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    Allow,
    Deny,
    /// Fall back to this instance's in-memory limiter.
    #[default]
    Local,
}

/// `[rate_limit]`: global settings of the limiters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimitSettings {
    /// Most keys the in-memory store keeps (all limits together); idle keys are evicted
    /// first. Default 100 000.
    pub max_keys: usize,
    /// Redis for `store = "redis"` limits.
    pub redis: Option<RedisSpec>,
    /// Also send `X-RateLimit-Limit/-Remaining/-Reset`. Default false.
    pub legacy_headers: bool,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            max_keys: 100_000,
            redis: None,
            legacy_headers: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedisSpec {
    /// `redis://host:port/db`.
    #[serde(serialize_with = "show::secret")]
    pub url: String,
    /// Time limit of one decision. Default 20 ms.
    #[serde(serialize_with = "show::duration")]
    pub timeout: Duration,
    /// Key prefix. Default `portcullis:rl:`.
    pub prefix: String,
}

/// Header operations, applied in this order: rename, remove, set, add.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct HeaderOps {
    #[serde(serialize_with = "show::pairs")]
    pub rename: Vec<(HeaderName, HeaderName)>,
    #[serde(serialize_with = "show::displays")]
    pub remove: Vec<HeaderName>,
    #[serde(serialize_with = "show::redacted_headers")]
    pub set: Vec<(HeaderName, HeaderValue)>,
    #[serde(serialize_with = "show::redacted_headers")]
    pub add: Vec<(HeaderName, HeaderValue)>,
}

impl HeaderOps {
    pub fn is_empty(&self) -> bool {
        self.rename.is_empty()
            && self.remove.is_empty()
            && self.set.is_empty()
            && self.add.is_empty()
    }
}

/// CORS for a route; preflights are answered by the gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorsSpec {
    /// Exact origins (`https://app.example.com`), `*`, or `https://*.example.com`.
    pub allow_origins: Vec<String>,
    /// Default GET, HEAD, POST.
    #[serde(serialize_with = "show::displays")]
    pub allow_methods: Vec<Method>,
    /// Request headers allowed; `["*"]` reflects what the preflight asks for.
    pub allow_headers: Vec<String>,
    #[serde(serialize_with = "show::displays")]
    pub expose_headers: Vec<HeaderName>,
    /// Default false; with true, `*` origins are answered with the request's origin.
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`. Default none.
    #[serde(serialize_with = "show::opt_duration")]
    pub max_age: Option<Duration>,
}

/// IP allow and deny lists (CIDR) on the client IP; deny wins; a non-empty allow list
/// refuses everything else. 403.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct IpRules {
    #[serde(serialize_with = "show::displays")]
    pub allow: Vec<IpNet>,
    #[serde(serialize_with = "show::displays")]
    pub deny: Vec<IpNet>,
}

/// `client_ip`, `consumer`, `route` or `header:NAME`, as in the config.
impl std::fmt::Display for LimitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitKey::ClientIp => f.write_str("client_ip"),
            LimitKey::Consumer => f.write_str("consumer"),
            LimitKey::Route => f.write_str("route"),
            LimitKey::Header(h) => write!(f, "header:{h}"),
        }
    }
}
