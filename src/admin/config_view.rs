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

/// `[server.http2]`.
fn http2(h: &crate::config::tls::Http2Settings) -> Value {
    json!({
        "enabled": h.enabled,
        "max_concurrent_streams": h.max_concurrent_streams,
        "max_header_list_size": h.max_header_list_size,
        "initial_stream_window_size": h.initial_stream_window_size,
        "initial_connection_window_size": h.initial_connection_window_size,
        "keepalive_interval_ms": h.keepalive_interval.map(ms),
        "keepalive_timeout_ms": ms(h.keepalive_timeout),
        "max_pending_accept_reset_streams": h.max_pending_accept_reset_streams,
        "max_local_error_reset_streams": h.max_local_error_reset_streams,
        "max_cancelled_streams": h.max_cancelled_streams,
    })
}

/// One `[[tls]]` element: file names only, never key material.
fn tls(t: &crate::config::tls::TlsSpec) -> Value {
    use crate::config::tls::TlsVersion;
    let path = |p: &std::path::Path| p.display().to_string();
    json!({
        "listen": t.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "certificates": t.certificates.iter().map(|c| json!({
            "cert_file": path(&c.cert_file),
            "key_file": path(&c.key_file),
            "server_names": c.server_names,
        })).collect::<Vec<_>>(),
        "strict_sni": t.strict_sni,
        "min_version": match t.min_version { TlsVersion::Tls12 => "1.2", TlsVersion::Tls13 => "1.3" },
        "client_auth": t.client_auth.as_ref().map(|a| json!({"ca_file": path(&a.ca_file), "required": a.required})),
        "hsts": t.hsts.as_ref().map(|h| h.header_value()),
        "redirect_http": t.redirect_http,
        "watch_interval_ms": ms(t.watch_interval),
    })
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
            "http2": http2(&s.http2),
        },
        "tls": c.tls.iter().map(tls).collect::<Vec<_>>(),
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
        "cache": {
            "max_bytes": c.cache.max_bytes,
            "targeted_field": c.cache.targeted_field.as_str(),
        },
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

#[cfg(test)]
mod tests {
    #[test]
    fn tls_listeners_show_file_names_never_keys() {
        let dir = std::env::temp_dir().join(format!("portcullis-view-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let key_pem = c.signing_key.serialize_pem();
        std::fs::write(dir.join("a.crt"), c.cert.pem()).unwrap();
        std::fs::write(dir.join("a.key"), &key_pem).unwrap();
        let text = "[server.http2]\nmax_concurrent_streams = 7\n[[tls]]\nlisten = \"127.0.0.1:8443\"\n\
            certificates = [{ cert_file = \"a.crt\", key_file = \"a.key\" }]\n[tls.hsts]\nmax_age = 60\n";
        let file = dir.join("gw.toml").display().to_string();
        let config = crate::config::parse_str(text, &file).unwrap();
        let v = super::view(&config);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(v["server"]["http2"]["max_concurrent_streams"], 7);
        let t = &v["tls"][0];
        assert_eq!(t["listen"][0], "127.0.0.1:8443");
        assert!(t["certificates"][0]["key_file"]
            .as_str()
            .unwrap()
            .ends_with("a.key"));
        assert_eq!(t["hsts"], "max-age=60");
        let body = v.to_string();
        let key_line = key_pem.lines().nth(1).unwrap();
        assert!(!body.contains(key_line), "key material is shown");
    }
}
