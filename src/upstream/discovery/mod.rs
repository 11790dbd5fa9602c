//! DNS service discovery: a service endpoint written `dns+http://NAME:PORT` stands for every
//! A and AAAA record of NAME, `srv+http://_SERVICE._tcp.NAME` for the targets of its SRV
//! records (ports and weights from the records). Each such name has a background task
//! (`tasks::Refreshers`, one per name, kept in step with the snapshot like the health checks)
//! that resolves it (`resolve`, hickory) when its TTL runs out, feeds the answer to the pure
//! core (`core`: keep, replace or empty the set, when to ask again) and, when the set changed,
//! has the snapshot rebuilt through the same path as a reload (`state::Shared::rediscover`).
//! The rebuilt service carries every endpoint's state over by URL, and a resolved endpoint's
//! URL is its address (`http://10.0.0.5:8080/base`): an address present before and after keeps
//! its health, breaker, ejection and pooled connections, a new one starts fresh, a vanished
//! one is dropped.
//!
//! The known sets live in the [`Table`], which outlives snapshots; `Service::new` reads it
//! through [`expand`].

pub mod core;
pub mod resolve;
pub mod tasks;

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::uri::{Authority, Scheme};
use http::HeaderValue;

use crate::base::lock;
use crate::config::discovery::{DiscoverySpec, Resolve};
use crate::config::{EndpointSpec, ServiceSpec};
pub use core::{Answer, Known, Step, Target};

/// The known sets of one service's names, by endpoint URL as written.
type Names = HashMap<Arc<str>, Known>;

/// The known set of every resolved name, by service name and endpoint URL as written.
#[derive(Default)]
pub struct Table {
    inner: Mutex<HashMap<Arc<str>, Names>>,
}

impl Table {
    /// The targets `url` of `service` resolved to last (none before its first answer).
    pub fn targets(&self, service: &str, url: &str) -> Option<Arc<[Target]>> {
        let inner = lock(&self.inner);
        let known = inner.get(service)?.get(url)?;
        Some(known.targets.clone())
    }

    /// Applies one answer for `url` of `service` (the core's `step`, under the lock only
    /// for that).
    pub fn step(
        &self,
        service: &Arc<str>,
        url: &Arc<str>,
        answer: Answer,
        now: Instant,
        spec: &DiscoverySpec,
    ) -> Step {
        let mut inner = lock(&self.inner);
        let known = inner
            .entry(service.clone())
            .or_default()
            .entry(url.clone())
            .or_default();
        core::step(known, answer, now, spec)
    }

    /// Forgets the names `keep` does not want (services or endpoints no longer configured).
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        let mut inner = lock(&self.inner);
        for (service, names) in inner.iter_mut() {
            names.retain(|url, _| keep(service, url));
        }
        inner.retain(|_, names| !names.is_empty());
    }
}

/// The names a service resolves, with its settings: what its refreshers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub spec: DiscoverySpec,
    /// The `dns+` and `srv+` endpoints as configured.
    pub names: Vec<EndpointSpec>,
}

impl Sources {
    /// `None` for a service without `dns+` or `srv+` endpoints.
    pub fn of(spec: &ServiceSpec) -> Option<Arc<Sources>> {
        let d = spec.discovery.as_ref()?;
        let names: Vec<EndpointSpec> = spec
            .endpoints
            .iter()
            .filter(|e| e.resolve != Resolve::Fixed)
            .cloned()
            .collect();
        (!names.is_empty()).then(|| {
            Arc::new(Sources {
                spec: d.clone(),
                names,
            })
        })
    }
}

/// One endpoint a service is built with: as configured, or resolved from a name.
pub struct Concrete<'a> {
    pub spec: Cow<'a, EndpointSpec>,
    /// The `dns+` / `srv+` URL it was resolved from.
    pub origin: Option<Arc<str>>,
    /// The name to present as TLS server name (the resolved name), when resolved.
    pub server_name: Option<Arc<str>>,
}

/// The endpoints of `spec` with every name replaced by what `table` knows it resolves to;
/// one endpoint per URL (an address listed twice, or resolved from two names, once: the first).
pub fn expand<'a>(spec: &'a ServiceSpec, table: &Table) -> Vec<Concrete<'a>> {
    let mut out: Vec<Concrete<'a>> = Vec::with_capacity(spec.endpoints.len());
    // The same endpoint is the same scheme, host:port and base path, however it is written.
    let same = |a: &EndpointSpec, b: &EndpointSpec| {
        (&a.scheme, &a.authority, &a.base_path) == (&b.scheme, &b.authority, &b.base_path)
    };
    for e in &spec.endpoints {
        if e.resolve == Resolve::Fixed {
            if out.iter().any(|c| same(&c.spec, e)) {
                continue;
            }
            out.push(Concrete {
                spec: Cow::Borrowed(e),
                origin: None,
                server_name: None,
            });
            continue;
        }
        let origin: Arc<str> = Arc::from(e.url.as_str());
        for t in table
            .targets(&spec.name, &e.url)
            .iter()
            .flat_map(|t| t.iter())
        {
            let Some(r) = resolved(e, t) else { continue };
            if out.iter().any(|c| same(&c.spec, &r)) {
                continue;
            }
            out.push(Concrete {
                spec: Cow::Owned(r),
                origin: Some(origin.clone()),
                server_name: Some(t.name.clone()),
            });
        }
    }
    out
}

/// The endpoint `e` (a name) stands for at target `t`: dialled at the address, its Host the
/// name (with the port unless it is the scheme's default).
fn resolved(e: &EndpointSpec, t: &Target) -> Option<EndpointSpec> {
    let default_port = if e.scheme == Scheme::HTTPS { 443 } else { 80 };
    let host = match t.addr.port() {
        p if p == default_port => t.name.to_string(),
        p => format!("{}:{p}", t.name),
    };
    Some(EndpointSpec {
        url: format!("{}://{}{}", e.scheme, t.addr, e.base_path),
        scheme: e.scheme.clone(),
        authority: Authority::from_str(&t.addr.to_string()).ok()?,
        host_header: HeaderValue::from_str(&host).ok()?,
        base_path: e.base_path.clone(),
        // The element's own weight for A/AAAA, read from the config in force (a reload
        // that changes it keeps the name's refresher), the record's for SRV.
        weight: match e.resolve {
            Resolve::Srv => t.weight,
            _ => e.weight,
        },
        resolve: Resolve::Fixed,
    })
}
