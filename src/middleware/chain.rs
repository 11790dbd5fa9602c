//! A route's compiled policy chain: its policies merged once at load (the last policy that
//! sets a section wins, forward auth included; rate limits and header operations accumulate in list order) into
//! ready-to-run parts, so a request never looks anything up by name. The chain holds what
//! `middleware::run` runs; the policy sections other stages use (cache, compression, body
//! limit) go on the route's plan (`state::Route`).

use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use super::api_key::KeyTable;
use super::basic_auth::{self, BasicTable};
use super::cors::Cors;
use super::forward_auth::ForwardAuth;
use super::ip_rules::IpFilter;
use super::jwt::Verifier;
use super::rate_limit::{Limiter, Rendered, Stores};
use crate::config::policy::{
    ApiKeySpec, AuthSpec, ConsumerSpec, HeaderOps, JwtSpec, LimitKey, PolicySpec, RateLimitSpec,
};
use crate::config::Config;

/// What every chain of one snapshot shares: the consumer tables and the limiter stores.
pub struct Shared {
    pub consumers: Arc<[Arc<str>]>,
    /// Consumer name -> index, for JWT subjects.
    pub consumer_index: Arc<std::collections::HashMap<Arc<str>, usize>>,
    pub keys: Arc<KeyTable>,
    pub basic: Arc<BasicTable>,
    pub stores: Arc<Stores>,
    pub legacy_headers: bool,
    /// The gateway's outbound client (JWKS fetches).
    pub outbound: crate::tls::outbound::Outbound,
}

/// One route's chain.
pub struct Chain {
    pub route: Arc<str>,
    pub ip: Option<IpFilter>,
    pub cors: Option<Cors>,
    pub auth: Option<Auth>,
    /// Ask an external service (after authentication, before the rate limits).
    pub forward_auth: Option<ForwardAuth>,
    pub limits: Vec<Limit>,
    /// `RateLimit-Policy` and the parts of `RateLimit` rendered once.
    pub rate_headers: Rendered,
    pub request_headers: Vec<HeaderOps>,
    pub response_headers: Vec<HeaderOps>,
    /// Whether the client IP is needed (IP rules or a limit keyed on it).
    pub needs_client_ip: bool,
}

/// The route's authentication.
pub struct Auth {
    pub api_key: Option<ApiKeySpec>,
    pub jwt: Option<(Arc<Verifier>, JwtSpec)>,
    pub basic: bool,
    pub keys: Arc<KeyTable>,
    pub basic_table: Arc<BasicTable>,
    pub consumers: Arc<[Arc<str>]>,
    pub consumer_index: Arc<std::collections::HashMap<Arc<str>, usize>>,
    /// `consumer_allowed[i]`: whether consumer i may call this route.
    pub consumer_allowed: Vec<bool>,
    pub consumer_header: HeaderName,
    pub optional: bool,
    /// `WWW-Authenticate` challenges sent with a 401, one per method.
    pub challenges: Arc<[HeaderValue]>,
}

/// One rate limit of the route.
pub struct Limit {
    pub spec: RateLimitSpec,
    pub limiter: Limiter,
}

impl Shared {
    pub fn new(config: &Config, stores: Arc<Stores>) -> Shared {
        let consumers: Arc<[Arc<str>]> = config
            .consumers
            .iter()
            .map(|c| Arc::from(c.name.as_str()))
            .collect();
        let consumer_index = consumers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Shared {
            consumers,
            consumer_index: Arc::new(consumer_index),
            keys: Arc::new(KeyTable::new(&config.consumers)),
            basic: Arc::new(BasicTable::new(&config.consumers)),
            stores,
            legacy_headers: config.rate_limit.legacy_headers,
            outbound: config.outbound.client.clone(),
        }
    }
}

/// Finds the verifier of a policy's JWT settings: reused from `previous` when the same
/// settings were compiled before (keeps fetched JWKS keys and their refresh task).
pub type VerifierCache<'a> = &'a mut Vec<(JwtSpec, Arc<Verifier>)>;

/// Compiles the chain of `route` from its policies; `None` when it has none (the fast path).
pub fn compile(
    route: &str,
    policies: &[&PolicySpec],
    consumers: &[ConsumerSpec],
    shared: &Shared,
    verifiers: VerifierCache<'_>,
) -> Result<Option<Arc<Chain>>, String> {
    if policies.is_empty() {
        return Ok(None);
    }
    let last = |f: &dyn Fn(&PolicySpec) -> bool| policies.iter().rev().find(|p| f(p)).copied();
    let ip = last(&|p| p.ip_rules.is_some())
        .and_then(|p| p.ip_rules.as_ref())
        .map(IpFilter::new);
    let cors = last(&|p| p.cors.is_some())
        .and_then(|p| p.cors.as_ref())
        .map(Cors::new);
    let auth = match last(&|p| p.auth.is_some()).and_then(|p| p.auth.as_ref()) {
        Some(a) => Some(auth(route, a, consumers, shared, verifiers)?),
        None => None,
    };
    let forward_auth = last(&|p| p.forward_auth.is_some())
        .and_then(|p| p.forward_auth.as_ref())
        .map(|spec| ForwardAuth::new(spec, &shared.outbound));
    let mut limits = Vec::new();
    for p in policies {
        for spec in &p.rate_limits {
            limits.push(Limit {
                limiter: Limiter::new(&p.name, spec, shared.stores.clone()),
                spec: spec.clone(),
            });
        }
    }
    let needs_client_ip = ip.is_some()
        || forward_auth.is_some()
        || limits
            .iter()
            .any(|l| l.spec.key.contains(&LimitKey::ClientIp));
    let ops = |f: &dyn Fn(&PolicySpec) -> &HeaderOps| {
        policies
            .iter()
            .map(|p| f(p))
            .filter(|o| !o.is_empty())
            .cloned()
            .collect::<Vec<_>>()
    };
    Ok(Some(Arc::new(Chain {
        route: Arc::from(route),
        ip,
        cors,
        auth,
        forward_auth,
        rate_headers: Rendered::new(
            &limits.iter().map(|l| &l.spec).collect::<Vec<_>>(),
            shared.legacy_headers,
        ),
        limits,
        request_headers: ops(&|p| &p.request_headers),
        response_headers: ops(&|p| &p.response_headers),
        needs_client_ip,
    })))
}

fn auth(
    route: &str,
    a: &AuthSpec,
    consumers: &[ConsumerSpec],
    shared: &Shared,
    verifiers: VerifierCache<'_>,
) -> Result<Auth, String> {
    let jwt = match &a.jwt {
        Some(spec) => {
            let v = match verifiers.iter().find(|(s, _)| s == spec) {
                Some((_, v)) => v.clone(),
                None => {
                    let v = Arc::new(Verifier::with_client(spec, &shared.outbound)?);
                    verifiers.push((spec.clone(), v.clone()));
                    v
                }
            };
            Some((v, spec.clone()))
        }
        None => None,
    };
    let mut challenges = Vec::new();
    if jwt.is_some() {
        challenges.push(HeaderValue::from_static("Bearer realm=\"portcullis\""));
    }
    if let Some(b) = &a.basic {
        challenges.push(basic_auth::challenge(&b.realm));
    }
    if let Some(k) = &a.api_key {
        let name = k.header.as_ref().map_or("query", |h| h.as_str());
        let v = format!("ApiKey realm=\"portcullis\", header=\"{name}\"");
        if let Ok(v) = HeaderValue::from_str(&v) {
            challenges.push(v);
        }
    }
    let consumer_allowed = consumers
        .iter()
        .map(|c| c.routes.is_empty() || c.routes.iter().any(|r| r == route))
        .collect();
    Ok(Auth {
        api_key: a.api_key.clone(),
        jwt,
        basic: a.basic.is_some(),
        keys: shared.keys.clone(),
        basic_table: shared.basic.clone(),
        consumers: shared.consumers.clone(),
        consumer_index: shared.consumer_index.clone(),
        consumer_allowed,
        consumer_header: a.consumer_header.clone(),
        optional: a.optional,
        challenges: challenges.into(),
    })
}
