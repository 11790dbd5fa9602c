//! Upstream services and their endpoints at run time: the state a service keeps across
//! requests (its round-robin cursor) built from a validated `ServiceSpec`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::config::{EndpointSpec, HostHeader, ServiceSpec};

/// A named upstream service with one or more endpoints.
#[derive(Debug)]
pub struct Service {
    pub name: Arc<str>,
    pub endpoints: Vec<Endpoint>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub host_header: HostHeader,
    next: AtomicUsize,
}

/// One endpoint of a service.
#[derive(Debug)]
pub struct Endpoint {
    /// `host:port`: the key of the connection pool and what is dialled.
    pub key: Arc<str>,
    /// Host header value when the service's policy is `endpoint`.
    pub host_header: HeaderValue,
    /// A path prefix from the endpoint URL, "" when none.
    pub base_path: Arc<str>,
    /// The URL as configured, for logs.
    pub url: Arc<str>,
}

impl Endpoint {
    fn new(spec: &EndpointSpec) -> Endpoint {
        Endpoint {
            key: Arc::from(spec.authority.as_str()),
            host_header: spec.host_header.clone(),
            base_path: Arc::from(spec.base_path.trim_end_matches('/')),
            url: Arc::from(spec.url.as_str()),
        }
    }
}

impl Service {
    /// Builds the run-time service from its validated spec.
    pub fn new(spec: &ServiceSpec) -> Service {
        Service {
            name: Arc::from(spec.name.as_str()),
            endpoints: spec.endpoints.iter().map(Endpoint::new).collect(),
            connect_timeout: spec.connect_timeout,
            request_timeout: spec.request_timeout,
            host_header: spec.host_header,
            next: AtomicUsize::new(0),
        }
    }

    /// Picks the next endpoint, round robin. Validation guarantees at least one endpoint.
    pub fn pick(&self) -> &Endpoint {
        let n = self.endpoints.len();
        if n == 1 {
            return &self.endpoints[0];
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
        &self.endpoints[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: u16) -> ServiceSpec {
        ServiceSpec {
            name: "s".into(),
            endpoints: (0..n)
                .map(|i| {
                    let a = format!("127.0.0.1:{}", 9000 + i);
                    EndpointSpec {
                        url: format!("http://{a}"),
                        scheme: http::uri::Scheme::HTTP,
                        authority: a.parse().unwrap(),
                        host_header: HeaderValue::from_str(&a).unwrap(),
                        base_path: String::new(),
                        weight: 1,
                    }
                })
                .collect(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            host_header: HostHeader::Endpoint,
            resilience: Default::default(),
        }
    }

    #[test]
    fn round_robin_visits_every_endpoint_in_turn() {
        let s = Service::new(&spec(3));
        let keys: Vec<_> = (0..6).map(|_| s.pick().key.to_string()).collect();
        assert_eq!(keys[0..3], keys[3..6]);
        let mut first = keys[0..3].to_vec();
        first.sort();
        first.dedup();
        assert_eq!(first.len(), 3);
    }
}
