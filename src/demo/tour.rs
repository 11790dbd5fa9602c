//! The tour printed after `portcullis demo` starts, and shown in the README: each step a
//! command to paste and a line saying what to look for. Each step also holds the requests its
//! command sends (`Call`s, from which the command is written), so the tests send exactly those
//! to a real demo and check what the step promises.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use http::Method;

use super::config::{demo_jwt, shown, DEMO_API_KEY};
use super::store::Kind;
use super::DemoBackends;

/// Where the tour's commands point.
#[derive(Debug, Clone, Copy)]
pub struct TourAddrs {
    /// The gateway's plaintext listener.
    pub gateway: SocketAddr,
    /// The admin listener (dashboard, admin API, metrics).
    pub admin: SocketAddr,
    /// order-service (its chaos switch is called directly).
    pub order_service: SocketAddr,
    /// product-service (a runtime registration points at it).
    pub product_service: SocketAddr,
}

impl TourAddrs {
    /// The addresses of a running demo.
    pub fn new(backends: &DemoBackends, gateway: SocketAddr, admin: SocketAddr) -> TourAddrs {
        let addr = |kind: Kind| {
            backends
                .service(kind.service_name())
                .map_or_else(|| fixed(kind), |s| s.addr)
        };
        TourAddrs {
            gateway: shown(gateway),
            admin: shown(admin),
            order_service: addr(Kind::Orders),
            product_service: addr(Kind::Products),
        }
    }

    /// The demo's usual addresses (gateway 127.0.0.1:8080, services 9001-9003, admin 9901),
    /// as in the README.
    pub fn usual() -> TourAddrs {
        TourAddrs {
            gateway: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            // `[admin] listen` in demo.toml (DEMO_ADMIN).
            admin: SocketAddr::from((Ipv4Addr::LOCALHOST, 9901)),
            order_service: fixed(Kind::Orders),
            product_service: fixed(Kind::Products),
        }
    }
}

fn fixed(kind: Kind) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, kind.fixed_port()))
}

/// Which step; the tests match on it (exhaustively, so a new step needs its check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepId {
    Dashboard,
    Headers,
    Cache,
    RateLimit,
    NoCredentials,
    ApiKey,
    Jwt,
    ChaosOn,
    BreakerOpens,
    BreakerState,
    ChaosOff,
    BreakerCloses,
    Register,
    Registered,
    Metrics,
}

/// One request a step's command sends.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Call {
    fn get(url: String) -> Call {
        Call {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    fn post(url: String) -> Call {
        Call {
            method: Method::POST,
            ..Call::get(url)
        }
    }

    fn json(mut self, body: &str) -> Call {
        self.headers
            .push(("content-type", "application/json".to_owned()));
        self.body = Some(body.to_owned());
        self
    }

    fn header(mut self, name: &'static str, value: String) -> Call {
        self.headers.push((name, value));
        self
    }

    /// `curl FLAGS [-X POST] URL [-H ..] [-d ..]`, quoted for a POSIX shell.
    fn curl(&self, flags: &str) -> String {
        let mut c = String::from("curl");
        if !flags.is_empty() {
            c.push(' ');
            c.push_str(flags);
        }
        // curl infers POST from `-d` (and notes that an -X POST is unnecessary).
        let inferred = self.method == Method::POST && self.body.is_some();
        if self.method != Method::GET && !inferred {
            let _ = write!(c, " -X {}", self.method);
        }
        c.push(' ');
        c.push_str(&quoted(&self.url));
        for (name, value) in &self.headers {
            let _ = write!(c, " -H '{name}: {value}'");
        }
        if let Some(body) = &self.body {
            let _ = write!(c, " -d '{body}'");
        }
        c
    }
}

/// A URL with shell-special characters (`?`, `&`, `[`) in single quotes.
fn quoted(url: &str) -> String {
    if url.contains(['?', '&', '[']) {
        format!("'{url}'")
    } else {
        url.to_owned()
    }
}

/// One step of the tour.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: StepId,
    pub title: String,
    /// The command to paste.
    pub command: String,
    /// What to look for in its output.
    pub look_for: String,
    /// How long the command sleeps before its requests (a breaker's cooldown).
    pub wait: Duration,
    /// The requests the command sends, in order.
    pub calls: Vec<Call>,
}

/// The whole tour.
#[derive(Debug, Clone)]
pub struct Tour {
    pub steps: Vec<Step>,
}

/// The breaker's cooldown after its first trip (`cooldown` in demo.toml).
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(10);
/// Requests the rate-limit step sends at once.
pub const BURST: usize = 200;
/// Requests the breaker step sends while order-service fails.
pub const BREAKER_TRIES: usize = 7;

impl Tour {
    /// The tour for a demo at these addresses.
    pub fn new(a: &TourAddrs) -> Tour {
        let mut steps = Vec::new();
        steps.extend(basics(a));
        steps.extend(auth(a));
        steps.extend(breaker(a));
        steps.extend(runtime(a));
        Tour { steps }
    }

    /// The tour as printed: a numbered title, the command, and `#    -> what to look for`.
    pub fn text(&self) -> String {
        let mut out = String::from(
            "Tour: paste each command; the line under it says what to look for. Every request\n\
             also writes an access-log line in the gateway's terminal.\n",
        );
        for (i, s) in self.steps.iter().enumerate() {
            let _ = write!(
                out,
                "\n# {}. {}\n{}\n#    -> {}\n",
                i + 1,
                s.title,
                s.command,
                s.look_for
            );
        }
        out
    }
}

fn step(id: StepId, title: &str, command: String, look_for: String, calls: Vec<Call>) -> Step {
    Step {
        id,
        title: title.to_owned(),
        command,
        look_for,
        wait: Duration::ZERO,
        calls,
    }
}

/// The dashboard, the headers added both ways, the cache and the rate limit.
fn basics(a: &TourAddrs) -> Vec<Step> {
    let (gw, admin) = (a.gateway, a.admin);
    let dash = Call::get(format!("http://{admin}/"));
    let echo = Call::get(format!("http://{gw}/api/users/echo"));
    let product = Call::get(format!("http://{gw}/api/products/1"));
    let burst = Call::get(format!("http://{gw}/api/users/[1-{BURST}]"));
    let burst_calls = (1..=BURST)
        .map(|i| Call::get(format!("http://{gw}/api/users/{i}")))
        .collect();
    vec![
        step(
            StepId::Dashboard,
            "The live dashboard: open it in a browser and keep it beside this terminal",
            format!("{} | grep -o '<title>.*</title>'", dash.curl("-s")),
            format!("<title>Portcullis dashboard</title>: the page at http://{admin}/"),
            vec![dash],
        ),
        step(
            StepId::Headers,
            "Headers added by the gateway, for the backend and for the client",
            echo.curl("-si"),
            "the backend got \"x-gateway\": \"portcullis-demo\" (and x-forwarded-for, x-request-id, \
             via); the answer has x-content-type-options: nosniff and ratelimit headers"
                .to_owned(),
            vec![echo],
        ),
        step(
            StepId::Cache,
            "The cache: product reads are kept 30 s (product-service sends max-age=30)",
            format!(
                "curl -s -o /dev/null -D - {0} {0} | grep -i '^x-cache'",
                product.url
            ),
            "x-cache: MISS, then x-cache: HIT: the second read never reached product-service"
                .to_owned(),
            vec![product.clone(), product],
        ),
        step(
            StepId::RateLimit,
            "The rate limit: 100 requests per second per client IP, bursts of 150",
            format!(
                "{} | grep -iE '^(HTTP/1.1 429|retry-after)' | sort | uniq -c",
                burst.curl("-s -o /dev/null -D -")
            ),
            "the requests past the burst of 150 got 429 Too Many Requests, each with \
             retry-after (every answer carries ratelimit headers)"
                .to_owned(),
            burst_calls,
        ),
    ]
}

/// Order writes without credentials, with the API key, with a JWT.
fn auth(a: &TourAddrs) -> Vec<Step> {
    let orders = format!("http://{}/api/orders", a.gateway);
    let body = Kind::Orders.sample_body();
    let anonymous = Call::post(orders.clone()).json(body);
    let key = Call::post(orders.clone())
        .header("x-api-key", DEMO_API_KEY.to_owned())
        .json(body);
    let jwt = Call::post(orders)
        .header("authorization", format!("Bearer {}", demo_jwt()))
        .json(body);
    vec![
        step(
            StepId::NoCredentials,
            "Order writes need credentials",
            anonymous.curl("-i"),
            "401 Unauthorized, application/problem+json, with www-authenticate".to_owned(),
            vec![anonymous],
        ),
        step(
            StepId::ApiKey,
            "...with the demo API key",
            key.curl("-i"),
            "201 Created with a location: the order was stored".to_owned(),
            vec![key],
        ),
        step(
            StepId::Jwt,
            "...or with a JWT signed by the demo's HS256 key (sub demo-client)",
            jwt.curl("-i"),
            "201 Created again".to_owned(),
            vec![jwt],
        ),
    ]
}

/// The chaos switch, the breaker opening, its state, and closing again.
fn breaker(a: &TourAddrs) -> Vec<Step> {
    let chaos = |fail: bool| Call::post(format!("http://{}/chaos?fail={fail}", a.order_service));
    let order = Call::get(format!("http://{}/api/orders/1", a.gateway));
    let state = Call::get(format!("http://{}/api/services/order-service", a.admin));
    let secs = BREAKER_COOLDOWN.as_secs();
    let tries: Vec<_> = (1..=BREAKER_TRIES).map(|i| i.to_string()).collect();
    let mut closes = step(
        StepId::BreakerCloses,
        "After the cooldown one probe goes through; it succeeds and the breaker closes",
        format!(
            "sleep {secs}; {}",
            order.curl("-s -o /dev/null -w '%{http_code}\\n'")
        ),
        "200, and the order-service card is no longer red (a probe during chaos reopens it \
         for twice as long, up to 30 s: the 503s' retry-after says how long)"
            .to_owned(),
        vec![order.clone()],
    );
    closes.wait = BREAKER_COOLDOWN;
    vec![
        step(
            StepId::ChaosOn,
            "Chaos: make order-service fail (it answers 500 to every API request)",
            chaos(true).curl(""),
            "{\"fail\":true,\"service\":\"order-service\"}".to_owned(),
            vec![chaos(true)],
        ),
        step(
            StepId::BreakerOpens,
            "The circuit breaker opens after 5 consecutive failures",
            format!(
                "for i in {}; do {}; done; echo",
                tries.join(" "),
                order.curl("-s -o /dev/null -w '%{http_code} '")
            ),
            "500 500 500 500 500 503 503: the open breaker answers 503 (with retry-after) \
             without calling order-service; its dashboard card turns red"
                .to_owned(),
            vec![order; BREAKER_TRIES],
        ),
        step(
            StepId::BreakerState,
            "The breaker's state in the admin API (what the dashboard shows)",
            format!("{} | grep -o '\"breaker\":{{[^}}]*}}'", state.curl("-s")),
            "\"breaker\":{\"open_for_ms\":9870,\"state\":\"open\",\"trips\":1}: open, a probe \
             allowed in 9.87 s"
                .to_owned(),
            vec![state],
        ),
        step(
            StepId::ChaosOff,
            "Chaos off: order-service recovers",
            chaos(false).curl(""),
            "{\"fail\":false,\"service\":\"order-service\"}".to_owned(),
            vec![chaos(false)],
        ),
        closes,
    ]
}

/// A service registered at runtime, its route, and the metrics.
fn runtime(a: &TourAddrs) -> Vec<Step> {
    let registration = format!(
        "{{\"service\":{{\"name\":\"inventory-service\",\"endpoints\":[\"http://{}\"]}},\
         \"routes\":[{{\"name\":\"inventory\",\"path\":\"/api/inventory/*\",\
         \"rewrite\":\"/api/products/{{*}}\"}}]}}",
        a.product_service
    );
    let register = Call::post(format!("http://{}/api/services", a.admin)).json(&registration);
    let inventory = Call::get(format!("http://{}/api/inventory/2", a.gateway));
    let metrics = Call::get(format!("http://{}/metrics", a.admin));
    vec![
        step(
            StepId::Register,
            "Register a service at runtime through the admin API",
            register.curl("-i"),
            "201 Created; a fourth card, inventory-service, appears on the dashboard".to_owned(),
            vec![register],
        ),
        step(
            StepId::Registered,
            "Its route serves at once (rewritten to product-service, with the default policies)",
            inventory.curl("-i"),
            "200 with the Gadget product, and ratelimit headers".to_owned(),
            vec![inventory],
        ),
        step(
            StepId::Metrics,
            "Prometheus metrics of all of the above",
            format!(
                "{} | grep -E '^portcullis_(cache_results|rate_limited|auth_failures)_total'",
                metrics.curl("-s")
            ),
            "counters of the cache hits, the 429s and the 401 you just caused".to_owned(),
            vec![metrics],
        ),
    ]
}
