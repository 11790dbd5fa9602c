//! The optional OTLP span exporter: one SERVER span per request, sent in batches over
//! OTLP/HTTP (JSON or protobuf) or OTLP/gRPC, gzip when configured (`otlp/wire.rs`).
//!
//! Spans are queued without blocking and sent by one background task.
//! The request path only calls [`Exporter::record`] (a `try_send` on a bounded channel): a
//! full queue drops the span and counts it (`portcullis_otlp_spans_dropped_total{reason=
//! "queue_full"}`), never waits. The task sends a batch when it holds `batch_size` spans or
//! `flush_interval` has passed, through the gateway's shared outbound client (`http://`, or
//! `https://` verified against `[outbound] ca_file` or the system roots), each request within
//! `timeout`; a failed batch is dropped and counted (`reason="export_failed"`), not retried.
//! Hand-written over `opentelemetry-proto`'s message types rather than `opentelemetry-otlp`:
//! see "Where we differ from the guide" in docs/architecture.md for the measurement.

mod encode;
mod proto;
mod wire;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{mpsc, Notify};
use tokio::time::MissedTickBehavior;

use super::trace_context::TraceContext;
use crate::config::telemetry::OtlpSettings;
use crate::tls::outbound::Outbound;

/// One finished request, as exported.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The caller's span when the request had a valid `traceparent`.
    pub parent_id: Option<[u8; 8]>,
    pub method: Method,
    /// The request path as the client sent it (`url.path`).
    pub path: String,
    pub client: IpAddr,
    pub route: Option<Arc<str>>,
    pub service: Option<Arc<str>>,
    pub endpoint: Option<Arc<str>>,
    pub status: u16,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
}

/// A span attribute's value, for both encoders (`encode` JSON, `proto` protobuf).
pub(super) enum AttrValue<'a> {
    Str(std::borrow::Cow<'a, str>),
    Int(u16),
}

impl SpanRecord {
    /// The span's name: the method and the route's name, when one matched.
    pub(super) fn name(&self) -> String {
        match &self.route {
            Some(route) => format!("{} {route}", self.method),
            None => self.method.to_string(),
        }
    }

    /// The span's attributes (semantic conventions for HTTP servers, and the gateway's own),
    /// in the order they are sent.
    pub(super) fn attributes(&self) -> Vec<(&'static str, AttrValue<'_>)> {
        use std::borrow::Cow;
        let mut out = vec![
            (
                "http.request.method",
                AttrValue::Str(Cow::Borrowed(self.method.as_str())),
            ),
            ("url.path", AttrValue::Str(Cow::Borrowed(&self.path))),
            ("http.response.status_code", AttrValue::Int(self.status)),
            (
                "client.address",
                AttrValue::Str(Cow::Owned(self.client.to_string())),
            ),
        ];
        let named = [
            ("http.route", &self.route),
            ("portcullis.service", &self.service),
            ("portcullis.endpoint", &self.endpoint),
        ];
        for (key, value) in named {
            if let Some(v) = value {
                out.push((key, AttrValue::Str(Cow::Borrowed(v))));
            }
        }
        out
    }
}

/// A span being recorded: what is known when the request arrives, and where it goes.
pub struct PendingSpan {
    record: SpanRecord,
    to: Arc<Exporter>,
}

impl PendingSpan {
    /// Completes the span with what the pipeline learned and hands it to the exporter.
    /// `elapsed` is the request's duration (monotonic), added to the start time.
    pub fn finish(
        self,
        route: Option<Arc<str>>,
        service: Option<Arc<str>>,
        endpoint: Option<Arc<str>>,
        status: u16,
        elapsed: Duration,
    ) {
        let PendingSpan { mut record, to } = self;
        record.route = route;
        record.service = service;
        record.endpoint = endpoint;
        record.status = status;
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        record.end_unix_nanos = record.start_unix_nanos.saturating_add(nanos);
        to.record(record);
    }
}

/// The exporter: the bounded queue, its batching task and the drop counters.
pub struct Exporter {
    settings: OtlpSettings,
    client: Outbound,
    tx: mpsc::Sender<SpanRecord>,
    /// Taken by the batching task when it starts.
    rx: Mutex<Option<mpsc::Receiver<SpanRecord>>>,
    /// The batching task, once started.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    stop: Notify,
    dropped_full: Counter,
    dropped_failed: Counter,
}

impl Exporter {
    /// An exporter for `settings` sending through `client`; `dropped` gives the counter for a
    /// drop reason ("queue_full", "export_failed"). Nothing is sent until [`Exporter::start`].
    pub fn new(
        settings: &OtlpSettings,
        client: &Outbound,
        dropped: impl Fn(&'static str) -> Counter,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(settings.queue_size.max(1));
        Arc::new(Exporter {
            settings: settings.clone(),
            client: client.clone(),
            tx,
            rx: Mutex::new(Some(rx)),
            task: Mutex::new(None),
            stop: Notify::new(),
            dropped_full: dropped("queue_full"),
            dropped_failed: dropped("export_failed"),
        })
    }

    /// The root sampling decision for a new trace: `sample_ratio` of the trace id space
    /// (the same id always gets the same answer).
    pub fn sample_root(&self, trace_id: &[u8; 16]) -> bool {
        sample(self.settings.sample_ratio, trace_id)
    }

    /// Starts recording a request's span when its trace is sampled.
    pub fn begin(
        self: &Arc<Self>,
        trace: &TraceContext,
        method: &Method,
        path: &str,
        client: IpAddr,
    ) -> Option<Box<PendingSpan>> {
        if !trace.sampled() {
            return None;
        }
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Some(Box::new(PendingSpan {
            record: SpanRecord {
                trace_id: trace.trace_id,
                span_id: trace.span_id,
                parent_id: trace.parent_id,
                method: method.clone(),
                path: path.to_owned(),
                client,
                route: None,
                service: None,
                endpoint: None,
                status: 0,
                start_unix_nanos: start,
                end_unix_nanos: start,
            },
            to: self.clone(),
        }))
    }

    /// Queues a finished span; when the queue is full it is dropped and counted. Never waits.
    pub fn record(&self, span: SpanRecord) {
        if self.tx.try_send(span).is_err() {
            self.dropped_full.inc();
        }
    }

    /// Spans dropped so far, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_full.get() + self.dropped_failed.get()
    }

    /// Starts the batching task on `rt` (once; later calls do nothing).
    pub fn start(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rx) = rx {
            let task = rt.spawn(self.clone().run(rx));
            *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
    }

    /// Sends what is queued and ends the task: called once no request is left, so the spans
    /// of requests drained at shutdown go out too. Waits at most `timeout` (plus a second),
    /// then gives up on what is left.
    pub async fn shutdown(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(mut task) = task else {
            return;
        };
        self.stop.notify_one();
        let within = self.settings.timeout + Duration::from_secs(1);
        if tokio::time::timeout(within, &mut task).await.is_err() {
            task.abort();
        }
    }

    /// The batching loop: a batch goes out when full or when `flush_interval` has passed.
    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<SpanRecord>) {
        let size = self.settings.batch_size.max(1);
        // Grown on demand: a large `batch_size` does not reserve its whole size up front.
        let mut batch = Vec::with_capacity(size.min(1024));
        let every = self.settings.flush_interval;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failures = 0u32;
        loop {
            let room = size - batch.len();
            let stopping = tokio::select! {
                n = rx.recv_many(&mut batch, room) => {
                    if n > 0 && batch.len() < size {
                        continue;
                    }
                    n == 0
                }
                _ = tick.tick() => {
                    if batch.is_empty() {
                        continue;
                    }
                    false
                }
                _ = self.stop.notified() => true,
            };
            if stopping {
                while let Ok(span) = rx.try_recv() {
                    batch.push(span);
                    if batch.len() == size {
                        self.send(&mut batch, &mut failures).await;
                    }
                }
            }
            if !batch.is_empty() {
                self.send(&mut batch, &mut failures).await;
            }
            if stopping {
                return;
            }
        }
    }

    /// Sends one batch (and empties it); a failure drops and counts its spans.
    async fn send(&self, batch: &mut Vec<SpanRecord>, failures: &mut u32) {
        let result = wire::export(&self.settings, &self.client, batch).await;
        let n = batch.len() as u64;
        batch.clear();
        let why = match result {
            Ok(()) => {
                if *failures > 0 {
                    tracing::info!(endpoint = %self.settings.endpoint, failures = *failures,
                        "OTLP export recovered");
                }
                *failures = 0;
                return;
            }
            Err(why) => why,
        };
        self.dropped_failed.inc_by(n);
        if *failures == 0 {
            tracing::warn!(endpoint = %self.settings.endpoint, spans = n, %why,
                "OTLP export failed; spans dropped");
        } else {
            tracing::debug!(endpoint = %self.settings.endpoint, spans = n, %why,
                "OTLP export failed again");
        }
        *failures = failures.saturating_add(1);
    }
}

/// Whether a new trace is sampled at `ratio`: its last 8 id bytes, read as a number, fall in
/// the lowest `ratio` share of their range.
fn sample(ratio: f64, trace_id: &[u8; 16]) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let x = u64::from_be_bytes(low) >> 11;
    // 53 bits, exactly representable in an f64.
    (x as f64) < ratio * (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_ratio() {
        assert!(sample(1.0, &[0xff; 16]));
        assert!(!sample(0.0, &[0; 16]));
        let mut low = [0u8; 16];
        low[8] = 0x10; // 1/16 of the range
        let mut high = [0u8; 16];
        high[8] = 0xf0; // 15/16 of the range
        assert!(sample(0.5, &low) && !sample(0.5, &high));
        let n = 20_000;
        let hits = (0..n)
            .filter(|_| sample(0.25, &super::super::trace_context::new_trace_id()))
            .count();
        let share = hits as f64 / n as f64;
        assert!((0.22..0.28).contains(&share), "{share}");
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let mut s = OtlpSettings::new("http://127.0.0.1:9/v1/traces".parse().unwrap());
        s.queue_size = 2;
        let counters: Arc<Mutex<Vec<(&str, Counter)>>> = Arc::default();
        let c2 = counters.clone();
        let ex = Exporter::new(&s, &Outbound::default(), move |reason| {
            let c = Counter::default();
            c2.lock().unwrap().push((reason, c.clone()));
            c
        });
        let trace = TraceContext::from_headers(&http::HeaderMap::new(), |_| true);
        for _ in 0..5 {
            let span = ex.begin(&trace, &Method::GET, "/x", [127, 0, 0, 1].into());
            span.unwrap()
                .finish(None, None, None, 200, Duration::from_millis(1));
        }
        assert_eq!(ex.dropped(), 3);
        let counters = counters.lock().unwrap();
        let full = counters.iter().find(|(r, _)| *r == "queue_full").unwrap();
        assert_eq!(full.1.get(), 3);
        // Unsampled traces are not recorded at all.
        let unsampled = TraceContext::from_headers(&http::HeaderMap::new(), |_| false);
        assert!(ex
            .begin(&unsampled, &Method::GET, "/x", [127, 0, 0, 1].into())
            .is_none());
    }
}
