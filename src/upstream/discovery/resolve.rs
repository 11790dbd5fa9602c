//! The I/O of DNS discovery: a hickory resolver asking the configured name servers (or the
//! system's, from /etc/resolv.conf), without a cache of its own (the refresher asks again when
//! the TTL says, so a cached answer would only hide changes), turning A/AAAA and SRV lookups
//! into [`Answer`]s for the pure core.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use super::core::{srv_choice, Answer, Srv, Target};
use crate::config::discovery::{DiscoverySpec, Resolve};

/// A resolver built from one service's `[services.discovery]`.
pub struct Resolver {
    inner: TokioResolver,
    timeout: Duration,
}

impl Resolver {
    /// The resolver of `spec`: its name servers (UDP, then TCP on truncation), or the system's
    /// (with `/etc/hosts`).
    pub fn new(spec: &DiscoverySpec) -> Result<Resolver, String> {
        let mut builder = if spec.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| format!("/etc/resolv.conf: {e}"))?
        } else {
            let servers = spec.nameservers.iter().map(|a| server(*a)).collect();
            let config = ResolverConfig::from_name_servers(servers);
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        };
        let o: &mut ResolverOpts = builder.options_mut();
        o.cache_size = 0;
        o.timeout = spec.timeout;
        o.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        // The system's resolvers come with its hosts file, as getaddrinfo reads it; named
        // servers are asked alone.
        if !spec.nameservers.is_empty() {
            o.use_hosts_file = ResolveHosts::Never;
        }
        let inner = builder.build().map_err(|e| e.to_string())?;
        Ok(Resolver {
            inner,
            timeout: spec.timeout,
        })
    }

    /// Resolves `name`: its A and AAAA records as endpoints on `port` with `weight`
    /// (`Resolve::Addresses`), or its SRV records' targets (`Resolve::Srv`); within the
    /// timeout.
    pub async fn resolve(&self, how: Resolve, name: &str, port: u16, weight: u32) -> Answer {
        let work = async {
            match how {
                Resolve::Srv => self.srv(name).await,
                _ => self.addresses(name, port, weight).await,
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(Answer::Found { targets, .. })) if targets.is_empty() => Answer::Empty,
            Ok(Ok(a)) => a,
            Ok(Err(e)) if e.is_no_records_found() => Answer::Empty,
            Ok(Err(e)) => Answer::Failed(e.to_string()),
            Err(_) => Answer::Failed(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn addresses(&self, name: &str, port: u16, weight: u32) -> Result<Answer, NetError> {
        let found = self.inner.lookup_ip(name).await?;
        let ttl = left(found.valid_until());
        let label: Arc<str> = Arc::from(name.trim_end_matches('.'));
        let targets = found
            .iter()
            .map(|ip| Target {
                addr: SocketAddr::new(ip, port),
                weight,
                name: label.clone(),
            })
            .collect();
        Ok(Answer::Found { targets, ttl })
    }

    /// The SRV records, then the addresses of each target that counts; a target without
    /// addresses adds nothing, a failed target lookup fails the whole answer (a partial set
    /// would drop endpoints that are still there).
    async fn srv(&self, name: &str) -> Result<Answer, NetError> {
        let lookup = self.inner.srv_lookup(name).await?;
        let mut ttl = left(lookup.valid_until());
        let records: Vec<Srv> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(Srv {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: s.target.to_ascii(),
                }),
                _ => None,
            })
            .collect();
        let mut targets = Vec::new();
        for (weight, port, target) in srv_choice(&records) {
            match self.addresses(&format!("{target}."), port, weight).await {
                Ok(Answer::Found {
                    targets: t,
                    ttl: t_ttl,
                }) => {
                    targets.extend(t.into_iter().map(|t| Target {
                        name: Arc::from(target.as_str()),
                        ..t
                    }));
                    ttl = ttl.min(t_ttl);
                }
                Ok(_) => {}
                Err(e) if e.is_no_records_found() => {}
                Err(e) => return Err(e),
            }
        }
        if targets.is_empty() {
            return Ok(Answer::Empty);
        }
        Ok(Answer::Found { targets, ttl })
    }
}

/// A name server at `addr`: UDP, and TCP for truncated answers, on its port.
fn server(addr: SocketAddr) -> NameServerConfig {
    let mut s = NameServerConfig::udp_and_tcp(addr.ip());
    for c in &mut s.connections {
        c.port = addr.port();
    }
    s
}

/// The time left until `until`.
fn left(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}
