//! Sending: the request of number `n` (path and client address varied), the counters every
//! mode keeps (a failure is a transport error, a timeout or any status outside 2xx), the
//! fixed-rate open model and the closed model.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Target;

pub type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Latency buckets: bucket `i` holds latencies below `2^i` microseconds (up to ~34 s).
const BUCKETS: usize = 26;

/// The counters of one interval (swapped out each second) or of the whole run.
#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub bad_status: AtomicU64,
    pub errors: AtomicU64,
    pub max_us: AtomicU64,
    hist: [AtomicU64; BUCKETS],
}

impl Stats {
    pub fn record(&self, result: Result<u16, String>, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        let b = (64 - us.leading_zeros() as usize).min(BUCKETS - 1);
        self.hist[b].fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(s) if (200..300).contains(&s) => self.ok.fetch_add(1, Ordering::Relaxed),
            Ok(s) => {
                eprintln!("loadgen: status {s}");
                self.bad_status.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) => {
                eprintln!("loadgen: error: {e}");
                self.errors.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// The upper bound in milliseconds of the bucket holding quantile `q`.
    fn quantile_ms(&self, q: f64) -> f64 {
        let counts: Vec<u64> = self
            .hist
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let want = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want && total > 0 {
                return (1u64 << i) as f64 / 1000.0;
            }
        }
        0.0
    }

    pub fn failed(&self) -> u64 {
        self.bad_status.load(Ordering::Relaxed) + self.errors.load(Ordering::Relaxed)
    }

    /// `sent,ok,bad_status,errors,p50_ms,p99_ms,max_ms`.
    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{:.3},{:.3},{:.3}",
            self.sent.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.bad_status.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.max_us.load(Ordering::Relaxed) as f64 / 1000.0
        )
    }

    pub fn summary(&self, label: &str, secs: f64) -> String {
        let sent = self.sent.load(Ordering::Relaxed);
        format!(
            "{label}: {sent} sent in {secs:.1} s ({:.0}/s), {} ok, {} non-2xx, {} errors; \
             p50 <= {:.2} ms, p99 <= {:.2} ms, max {:.2} ms",
            sent as f64 / secs.max(1e-9),
            self.ok.load(Ordering::Relaxed),
            self.bad_status.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.max_us.load(Ordering::Relaxed) as f64 / 1000.0
        )
    }
}

impl Target {
    /// Request number `n`: `{n}` in the URL and the client address vary with it.
    pub fn request(&self, n: u64) -> Request<Empty<Bytes>> {
        let url = self
            .url
            .replace("{n}", &(n % self.paths.max(1)).to_string());
        let mut req = Request::get(url).body(Empty::new()).expect("a valid URL");
        let h = req.headers_mut();
        for line in &self.headers {
            let (k, v) = line.split_once(':').expect("headers are `name: value`");
            h.append(
                HeaderName::from_bytes(k.trim().as_bytes()).expect("header name"),
                HeaderValue::from_str(v.trim()).expect("header value"),
            );
        }
        if self.xff > 0 {
            h.insert("x-forwarded-for", client_address(n % self.xff));
        }
        req
    }

    pub fn client(&self) -> HttpClient {
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(4096)
            .build_http()
    }

    /// Sends request `n` and records it in every set of counters given.
    pub async fn send(&self, client: &HttpClient, n: u64, into: &[&Stats]) {
        for s in into {
            s.sent.fetch_add(1, Ordering::Relaxed);
        }
        let start = Instant::now();
        let req = client.request(self.request(n));
        let result = match tokio::time::timeout(self.timeout(), async {
            let resp = req.await.map_err(|e| format!("{e:?}"))?;
            let status = resp.status().as_u16();
            resp.into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?;
            Ok(status)
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err("timed out".to_owned()),
        };
        let took = start.elapsed();
        for s in into {
            s.record(result.clone(), took);
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

/// The `i`-th address of 198.18.0.0/15 (131,072 addresses, reserved for benchmarks).
pub fn client_address(i: u64) -> HeaderValue {
    let i = i % 131_072;
    let v = format!("198.{}.{}.{}", 18 + (i >> 16), (i >> 8) & 255, i & 255);
    HeaderValue::from_str(&v).expect("an address")
}

/// Sends at `rate` per second for `duration` and prints
/// `second,sent,ok,bad_status,errors,p50_ms,p99_ms,max_ms` each second. True when nothing
/// failed.
pub async fn rate(target: Target, rate: f64, duration: Duration) -> bool {
    let target = Arc::new(target);
    let client = target.client();
    let total = Arc::new(Stats::default());
    let interval = Arc::new(arc_swap::ArcSwap::from_pointee(Stats::default()));
    let start = Instant::now();
    println!("second,sent,ok,bad_status,errors,p50_ms,p99_ms,max_ms");
    let reporter = tokio::spawn({
        let interval = interval.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            for second in 1.. {
                tick.tick().await;
                let done = interval.swap(Arc::new(Stats::default()));
                println!("{second},{}", done.csv());
            }
        }
    });
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut n = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while start.elapsed() < duration {
        // Open model: request n is due at n * period, whatever the earlier ones are doing.
        let due = start + period.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let (t, c, tot, iv) = (
            target.clone(),
            client.clone(),
            total.clone(),
            interval.load_full(),
        );
        tasks.spawn(async move { t.send(&c, n, &[&tot, &iv]).await });
        n += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    reporter.abort();
    eprintln!("{}", total.summary("rate", start.elapsed().as_secs_f64()));
    total.failed() == 0
}

/// Sends `requests` requests from `concurrency` loops. True when nothing failed.
pub async fn closed(target: Target, requests: u64, concurrency: u64) -> bool {
    let target = Arc::new(target);
    let client = target.client();
    let total = Arc::new(Stats::default());
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (t, c, tot, next) = (target.clone(), client.clone(), total.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return;
                }
                t.send(&c, n, &[&tot]).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    eprintln!("{}", total.summary("closed", start.elapsed().as_secs_f64()));
    total.failed() == 0
}
