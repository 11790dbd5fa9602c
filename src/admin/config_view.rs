//! `GET /api/config`: the effective config as JSON, with every secret left out. API keys,
//! password hashes, JWT secrets and PEMs, the admin token, the Redis URL (which may hold a
//! password) and the OTLP exporter's header values are never shown; where one is set the
//! view says so (`"<redacted>"` or a count).

use crate::config::compression::Level;
use serde_json::{json, Value};

use crate::config::policy::{JwtKeySource, LimitKey, LimitStore, PolicySpec};
use crate::config::{BalancePolicy, Config, HostHeader, UpstreamProtocol};

const REDACTED: &str = "<redacted>";

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// The effective config without secrets.
pub fn view(c: &Config) -> Value {
    let s = &c.server;
    json!({
        "source": c.source.as_ref().map(|p| p.display().to_string()),
        "server": {
            "listen": s.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "threads": s.threads,
            "max_header_bytes": s.max_header_bytes,
            "max_body_bytes": s.max_body_bytes,
            "header_read_timeout_ms": ms(s.header_read_timeout),
            "keepalive_timeout_ms": ms(s.keepalive_timeout),
            "upstream_idle_timeout_ms": ms(s.upstream_idle_timeout),
            "max_connections": s.max_connections,
            "shutdown_grace_ms": ms(s.shutdown_grace),
            "trusted_proxies": s.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "admin": {
            "enabled": c.admin.enabled,
            "listen": c.admin.listen.to_string(),
            "token": c.admin.token.as_ref().map(|_| REDACTED),
            "state_file": c.admin.state_file.as_ref().map(|p| p.display().to_string()),
        },
        "cluster": c.cluster.as_ref().map(|cl| json!({ "redis": REDACTED, "prefix": cl.prefix })),
        "rate_limit": {
            "max_keys": c.rate_limit.max_keys,
            "legacy_headers": c.rate_limit.legacy_headers,
            "redis": c.rate_limit.redis.as_ref().map(|r| json!({
                "url": REDACTED,
                "timeout_ms": ms(r.timeout),
                "prefix": r.prefix,
            })),
        },
        "cache": { "max_bytes": c.cache.max_bytes },
        "telemetry": {
            "otlp": c.telemetry.otlp.as_ref().map(|o| json!({
                "endpoint": o.endpoint.to_string(),
                "service_name": o.service_name,
                "headers": o.headers.iter().map(|(k, _)| (k.to_string(), Value::from(REDACTED))).collect::<serde_json::Map<_, _>>(),
                "sample_ratio": o.sample_ratio,
                "batch_size": o.batch_size,
                "flush_interval_ms": ms(o.flush_interval),
                "queue_size": o.queue_size,
                "timeout_ms": ms(o.timeout),
            })),
        },
        "services": c.services.iter().map(|sv| {
            let r = &sv.resilience;
            json!({
                "name": sv.name,
                "endpoints": sv.endpoints.iter().map(|e| json!({"url": e.url, "weight": e.weight})).collect::<Vec<_>>(),
                "connect_timeout_ms": ms(sv.connect_timeout),
                "request_timeout_ms": ms(sv.request_timeout),
                "host_header": match sv.host_header { HostHeader::Endpoint => "endpoint", HostHeader::Preserve => "preserve" },
                "protocol": match sv.protocol {
                    UpstreamProtocol::Http1 => "http1",
                    UpstreamProtocol::H2 => "h2",
                    UpstreamProtocol::H2c => "h2c",
                    UpstreamProtocol::Auto => "auto",
                },
                "tls": sv.tls.as_ref().map(|t| json!({
                    "ca_file": t.ca_file.as_ref().map(|p| p.display().to_string()),
                    "server_name": t.server_name,
                    "client_cert_file": t.client_cert_file.as_ref().map(|p| p.display().to_string()),
                    "client_key_file": t.client_key_file.as_ref().map(|p| p.display().to_string()),
                    "insecure_skip_verify": t.insecure_skip_verify,
                })),
                "load_balancing": match r.balance {
                    BalancePolicy::RoundRobin => "round_robin",
                    BalancePolicy::LeastRequest => "least_request",
                    BalancePolicy::Random => "random",
                    BalancePolicy::ConsistentHash => "consistent_hash",
                },
                "max_concurrent": r.max_concurrent,
                "panic_threshold": r.panic_threshold,
                "retries": r.retry.retries,
                "health_check": {
                    "enabled": r.health_check.enabled,
                    "path": r.health_check.path,
                    "interval_ms": ms(r.health_check.interval),
                },
                "outlier_detection": { "enabled": r.outlier.enabled, "consecutive_failures": r.outlier.consecutive_failures },
                "circuit_breaker": {
                    "enabled": r.breaker.enabled,
                    "per_endpoint": r.breaker.per_endpoint,
                    "consecutive_failures": r.breaker.consecutive_failures,
                    "cooldown_ms": ms(r.breaker.cooldown),
                },
            })
        }).collect::<Vec<_>>(),
        "routes": c.routes.iter().map(|rt| json!({
            "name": rt.def.name,
            "path": rt.def.path,
            "host": rt.def.host,
            "methods": rt.def.methods.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "service": c.services.get(rt.service).map(|s| s.name.as_str()),
            "policies": rt.policies.iter().filter_map(|&i| c.policies.get(i).map(|p| p.name.as_str())).collect::<Vec<_>>(),
            "timeout_ms": rt.timeout.map(ms),
            "retry_non_idempotent": rt.retry_non_idempotent,
        })).collect::<Vec<_>>(),
        "policies": c.policies.iter().map(policy).collect::<Vec<_>>(),
        "consumers": c.consumers.iter().map(|k| json!({
            "name": k.name,
            "api_keys": k.api_keys.len(),
            "basic_user": k.basic.as_ref().map(|b| b.user.as_str()),
            "routes": k.routes,
        })).collect::<Vec<_>>(),
    })
}

fn policy(p: &PolicySpec) -> Value {
    json!({
        "name": p.name,
        "auth": p.auth.as_ref().map(|a| json!({
            "api_key": a.api_key.as_ref().map(|k| json!({
                "header": k.header.as_ref().map(|h| h.as_str()),
                "query": k.query,
            })),
            "basic": a.basic.as_ref().map(|b| json!({"realm": b.realm})),
            "jwt": a.jwt.as_ref().map(|j| json!({
                "issuers": j.issuers,
                "audiences": j.audiences,
                "required_claims": j.required_claims,
                "leeway_ms": ms(j.leeway),
                "keys": j.keys.iter().map(|k| match k {
                    JwtKeySource::Secret { kid, .. } => json!({"secret": REDACTED, "kid": kid}),
                    JwtKeySource::Pem { kid, algorithms, .. } => json!({
                        "pem": REDACTED,
                        "kid": kid,
                        "algorithms": algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
                    }),
                    JwtKeySource::JwksFile { path } => json!({"jwks_file": path.display().to_string()}),
                    JwtKeySource::JwksUrl { url, refresh, .. } => json!({"jwks_url": url, "refresh_ms": ms(*refresh)}),
                }).collect::<Vec<_>>(),
            })),
            "consumer_header": a.consumer_header.as_str(),
            "optional": a.optional,
        })),
        "rate_limits": p.rate_limits.iter().map(|l| json!({
            "name": l.name,
            "rate": l.rate,
            "per_ms": ms(l.per),
            "burst": l.burst,
            "key": l.key.iter().map(|k| match k {
                LimitKey::ClientIp => "client_ip".to_owned(),
                LimitKey::Consumer => "consumer".to_owned(),
                LimitKey::Route => "route".to_owned(),
                LimitKey::Header(h) => format!("header:{h}"),
            }).collect::<Vec<_>>(),
            "store": match l.store { LimitStore::Memory => "memory", LimitStore::Redis => "redis" },
        })).collect::<Vec<_>>(),
        "cors": p.cors.as_ref().map(|c| json!({"allow_origins": c.allow_origins})),
        "ip_rules": p.ip_rules.as_ref().map(|r| json!({
            "allow": r.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "deny": r.deny.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
        "max_body_bytes": p.max_body_bytes,
        "cache": p.cache.as_ref().map(|c| json!({
            "enabled": c.enabled,
            "default_ttl_ms": c.default_ttl.map(ms),
            "max_object_bytes": c.max_object_bytes,
        })),
        "compression": p.compression.as_ref().map(|c| json!({
            "enabled": c.enabled,
            "algorithms": c.algorithms.iter().map(|a| a.token()).collect::<Vec<_>>(),
            "min_size": c.min_size,
            "types": c.types,
            "level": match c.level {
                Level::Fastest => json!("fastest"),
                Level::Default => json!("default"),
                Level::Best => json!("best"),
                Level::Precise(n) => json!(n),
            },
        })),
    })
}
