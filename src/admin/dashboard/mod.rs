//! The live dashboard on the admin listener: `GET /` serves one self-contained page (its HTML,
//! CSS and JavaScript compiled into the binary, nothing fetched from elsewhere) that polls
//! `GET /api/dashboard` every second; a sampling task started with the listener keeps the
//! per-service series (`sampler.rs`).

use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::AdminState;

pub mod sampler;

pub use sampler::Sampler;

/// How often the sampler samples and the page polls.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The page: `index.html` with `style.css` and `app.js` put in its placeholders.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    include_str!("index.html")
        .replace("/* style.css */", include_str!("style.css"))
        .replace("/* app.js */", include_str!("app.js"))
});

/// `GET /`: the dashboard page. It holds no data, so it is served without the admin token;
/// the page asks for the token when `/api/dashboard` answers 401.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'",
            ),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

/// `GET /api/dashboard`: every service's live state (as `/api/services`) with its routes and
/// series, and the recent reloads.
pub async fn data(State(st): State<AdminState>) -> Json<Value> {
    let snap = st.shared.snapshot.load();
    let services: Vec<Value> = st
        .shared
        .upstream_status()
        .into_iter()
        .enumerate()
        .map(|(i, status)| {
            let routes: Vec<&str> = snap
                .routes
                .iter()
                .filter(|r| r.service == Some(i))
                .map(|r| &*r.name)
                .collect();
            let series = st.dashboard.series(&status.name);
            let mut v = serde_json::to_value(status).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert("routes".into(), json!(routes));
                o.insert("series".into(), json!(series));
            }
            v
        })
        .collect();
    Json(json!({
        "generated_at": unix_ms(),
        "interval_ms": INTERVAL.as_millis() as u64,
        "capacity": sampler::CAPACITY,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "generation": st.reloader.generation(),
        "services": services,
        "reloads": st.reloader.history(),
    }))
}

/// Samples every `INTERVAL` until dropped (the admin listener aborts it when it stops).
pub async fn run(st: AdminState) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sample(&st);
    }
}

/// Takes one sample of the metrics for the services and routes of the config in force.
pub fn sample(st: &AdminState) {
    let totals = st.shared.metrics.totals();
    let snap = st.shared.snapshot.load();
    let services: Vec<&str> = snap.services.iter().map(|s| &*s.name).collect();
    let routes: Vec<(&str, &str)> = snap
        .routes
        .iter()
        .map(|r| (&*r.name, r.service.map_or("-", |i| &*snap.services[i].name)))
        .collect();
    st.dashboard
        .record(Instant::now(), unix_ms(), &totals, &services, &routes);
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
