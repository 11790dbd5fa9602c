//! Active health checks: a pure `Counter` of consecutive results with its thresholds, and one
//! background task per service (a child per endpoint) that GETs the check path and flips the
//! endpoint's `healthy` flag. `Checkers` keeps the tasks in step with the current snapshot.
//!
//! Endpoints start healthy; the first check runs one interval (plus jitter) after the task
//! starts. A task is kept across reloads while its service's check settings, endpoint URLs
//! and transports are unchanged, otherwise it is aborted and a new one starts on the
//! carried-over state. Checks speak to an endpoint as requests do: over TLS for https, and
//! HTTP/2 where the service's protocol (or ALPN) says so; a `tcp://` endpoint (of a service
//! `[[tcp]]` listeners forward to) is checked by opening a TCP connection.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{header, HeaderValue, Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};

use super::{EndpointState, Service};
use crate::base::lock;
use crate::client::transport::{dial, DialError, Dialed, Transport};
use crate::config::upstream::status_in;
use crate::config::HealthCheckSpec;

/// The User-Agent of health-check requests (backends and tests can tell them apart).
pub const USER_AGENT: &str = "portcullis-health-check";

/// Consecutive passes and failures of one endpoint's checks.
#[derive(Debug, Default, Clone)]
pub struct Counter {
    passes: u32,
    failures: u32,
}

impl Counter {
    /// Records one check result for an endpoint that is `healthy` now; returns the new
    /// verdict when it changes (after `healthy_threshold` passes or `unhealthy_threshold`
    /// failures in a row).
    pub fn record(&mut self, healthy: bool, passed: bool, spec: &HealthCheckSpec) -> Option<bool> {
        if passed {
            self.failures = 0;
            self.passes = self.passes.saturating_add(1);
            (!healthy && self.passes >= spec.healthy_threshold).then_some(true)
        } else {
            self.passes = 0;
            self.failures = self.failures.saturating_add(1);
            (healthy && self.failures >= spec.unhealthy_threshold).then_some(false)
        }
    }
}

/// What a checker needs of one endpoint.
struct Target {
    service: Arc<str>,
    url: Arc<str>,
    key: Arc<str>,
    host: HeaderValue,
    path: String,
    state: Arc<EndpointState>,
    transport: Transport,
}

/// One service's running checker.
struct Checker {
    spec: HealthCheckSpec,
    urls: Vec<Arc<str>>,
    transports: Vec<Transport>,
    task: JoinHandle<()>,
}

/// The running checkers by service name.
#[derive(Default)]
pub struct Checkers {
    inner: Mutex<CheckersInner>,
}

#[derive(Default)]
struct CheckersInner {
    runtime: Option<Handle>,
    tasks: HashMap<Arc<str>, Checker>,
}

impl Checkers {
    /// Sets the runtime the tasks run on; `sync` starts them.
    pub fn start(&self, rt: Handle) {
        lock(&self.inner).runtime = Some(rt);
    }

    /// Aborts every task; no new ones start until `start` again.
    pub fn stop(&self) {
        let mut inner = lock(&self.inner);
        inner.runtime = None;
        for (_, c) in inner.tasks.drain() {
            c.task.abort();
        }
    }

    /// Makes the tasks match `services` (those of the current snapshot).
    pub fn sync(&self, services: &[Arc<Service>]) {
        let mut inner = lock(&self.inner);
        let Some(rt) = inner.runtime.clone() else {
            return;
        };
        let mut keep: HashMap<Arc<str>, Checker> = HashMap::new();
        for s in services {
            let spec = &s.spec.health_check;
            if !spec.enabled {
                continue;
            }
            let urls: Vec<Arc<str>> = s.endpoints.iter().map(|e| e.url.clone()).collect();
            let transports: Vec<Transport> =
                s.endpoints.iter().map(|e| e.transport.clone()).collect();
            if let Some(c) = inner.tasks.remove(&s.name) {
                let same_wire = c.transports.len() == transports.len()
                    && c.transports.iter().zip(&transports).all(|(a, b)| a.same(b));
                if c.spec == *spec && c.urls == urls && same_wire && !c.task.is_finished() {
                    keep.insert(s.name.clone(), c);
                    continue;
                }
                c.task.abort();
            }
            let task = rt.spawn(run_service(s, spec.clone()));
            let spec = spec.clone();
            let checker = Checker {
                spec,
                urls,
                transports,
                task,
            };
            keep.insert(s.name.clone(), checker);
        }
        for (name, c) in inner.tasks.drain() {
            tracing::debug!(service = %name, "health checks stopped");
            c.task.abort();
        }
        inner.tasks = keep;
    }

    /// Number of running checkers (for tests).
    pub fn running(&self) -> usize {
        lock(&self.inner).tasks.len()
    }
}

/// The task of one service: a child per endpoint; aborting it aborts them (the `JoinSet`
/// is dropped).
fn run_service(s: &Service, spec: HealthCheckSpec) -> impl std::future::Future<Output = ()> {
    let targets: Vec<Target> = s
        .endpoints
        .iter()
        .map(|e| Target {
            service: s.name.clone(),
            url: e.url.clone(),
            key: e.key.clone(),
            host: e.host_header.clone(),
            path: format!("{}{}", e.base_path, spec.path),
            state: e.state.clone(),
            transport: e.transport.clone(),
        })
        .collect();
    async move {
        let spec = Arc::new(spec);
        let mut set = JoinSet::new();
        for t in targets {
            set.spawn(check_loop(t, spec.clone()));
        }
        while set.join_next().await.is_some() {}
    }
}

async fn check_loop(t: Target, spec: Arc<HealthCheckSpec>) {
    loop {
        tokio::time::sleep(spec.interval + jitter(spec.jitter)).await;
        // A `tcp://` endpoint ([[tcp]] listeners) passes when it accepts a connection.
        let tcp = t.url.starts_with("tcp://");
        let result = match tcp {
            true => connect(&t, &spec).await.map(|()| 0),
            false => probe(&t, &spec).await,
        };
        let passed = match tcp {
            true => result.is_ok(),
            false => matches!(result, Ok(s) if status_in(&spec.expected_statuses, s)),
        };
        let healthy = t.state.healthy.load(Ordering::Relaxed);
        let change = lock(&t.state.checks).record(healthy, passed, &spec);
        match change {
            Some(true) => {
                t.state.healthy.store(true, Ordering::Relaxed);
                tracing::info!(service = %t.service, endpoint = %t.url, "endpoint healthy again: back in rotation");
            }
            Some(false) => {
                t.state.healthy.store(false, Ordering::Relaxed);
                let why = match &result {
                    Ok(s) => format!("status {s}"),
                    Err(e) => e.clone(),
                };
                let hint = failure_hint(&result, &spec.path);
                tracing::warn!(service = %t.service, endpoint = %t.url, reason = %why, hint = hint.as_deref(), "endpoint failed its health checks: out of rotation");
            }
            None => {}
        }
    }
}

/// What to do when the check path itself is missing (404, 405, 501): a new service often
/// has no `/health`, and would otherwise go 503 once its endpoints are all out.
fn failure_hint(result: &Result<u16, String>, path: &str) -> Option<String> {
    match result {
        Ok(404 | 405 | 501) => Some(format!(
            "the endpoint does not serve GET {path}: set path in [services.health_check] to one it serves, \
             or enabled = false there if it has no health endpoint"
        )),
        _ => None,
    }
}

fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    max.mul_f64(fastrand::f64())
}

/// The check of a `tcp://` endpoint: a TCP connection within `spec.timeout`, closed at once.
async fn connect(t: &Target, spec: &HealthCheckSpec) -> Result<(), String> {
    match tokio::time::timeout(spec.timeout, tokio::net::TcpStream::connect(&*t.key)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err("connect: timed out".to_owned()),
    }
}

/// One check: a fresh connection, `GET path`, the response status. The whole exchange is
/// bounded by `spec.timeout`.
async fn probe(t: &Target, spec: &HealthCheckSpec) -> Result<u16, String> {
    let exchange = async {
        let d = dial(&t.key, &t.transport, spec.timeout)
            .await
            .map_err(|e| match e {
                DialError::Connect(e) => format!("connect: {e}"),
                DialError::Timeout => "connect: timed out".to_owned(),
                DialError::Tls(e) => format!("TLS handshake: {e}"),
            })?;
        let h2 = d.speaks_h2(&t.transport);
        let resp = match d {
            Dialed::Plain(s) => get(s, t, h2).await,
            Dialed::Tls(s) => get(s, t, h2).await,
        };
        resp.map(|r| r.status().as_u16())
    };
    match tokio::time::timeout(spec.timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:?}", spec.timeout)),
    }
}

/// `GET` the check path on a dialed socket, over HTTP/2 (absolute URI) or HTTP/1.1.
async fn get<T>(io: T, t: &Target, h2: bool) -> Result<Response<Incoming>, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let req = Request::get(t.path.as_str()).header(header::USER_AGENT, USER_AGENT);
    let io = TokioIo::new(io);
    let (resp, conn) = if h2 {
        let scheme = match t.transport {
            Transport::Tls(_) => "https",
            _ => "http",
        };
        let host = t.host.to_str().unwrap_or("localhost");
        let req = Request::get(format!("{scheme}://{host}{}", t.path))
            .header(header::USER_AGENT, USER_AGENT)
            .version(http::Version::HTTP_2)
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| format!("request: {e}"))?;
        let (mut tx, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let conn = tokio::spawn(conn);
        (tx.send_request(req).await, conn)
    } else {
        let req = req
            .header(header::HOST, t.host.clone())
            .header(header::CONNECTION, "close")
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| format!("request: {e}"))?;
        let (mut tx, conn) = http1::handshake(io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let conn = tokio::spawn(conn);
        (tx.send_request(req).await, conn)
    };
    conn.abort();
    resp.map_err(|e| format!("request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_check_path_gets_a_hint_and_other_failures_none() {
        for status in [404, 405, 501] {
            let hint = failure_hint(&Ok(status), "/health").expect("a hint");
            assert!(hint.contains("GET /health"), "{hint}");
            assert!(
                hint.contains("set path in [services.health_check]"),
                "{hint}"
            );
            assert!(hint.contains("enabled = false"), "{hint}");
        }
        assert_eq!(failure_hint(&Ok(500), "/health"), None);
        assert_eq!(failure_hint(&Ok(503), "/health"), None);
        assert_eq!(
            failure_hint(&Err("connect: refused".into()), "/health"),
            None
        );
    }

    #[test]
    fn counter_needs_consecutive_results_to_flip() {
        let spec = HealthCheckSpec {
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            ..HealthCheckSpec::default()
        };
        let mut c = Counter::default();
        assert_eq!(c.record(true, false, &spec), None);
        assert_eq!(c.record(true, false, &spec), None);
        assert_eq!(
            c.record(true, true, &spec),
            None,
            "a pass resets the failures"
        );
        assert_eq!(c.record(true, false, &spec), None);
        assert_eq!(c.record(true, false, &spec), None);
        assert_eq!(c.record(true, false, &spec), Some(false));
        assert_eq!(c.record(false, true, &spec), None);
        assert_eq!(
            c.record(false, false, &spec),
            None,
            "a failure resets the passes"
        );
        assert_eq!(c.record(false, true, &spec), None);
        assert_eq!(c.record(false, true, &spec), Some(true));
        assert_eq!(c.record(true, true, &spec), None);
    }
}
