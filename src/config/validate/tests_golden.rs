//! Every message of a config full of mistakes, as `portcullis check` prints them: the
//! declarative helpers (`fields!`, `Ctx::required`, `fields::each`) must keep each message, key
//! and location of the hand-written checks they replaced (`tests_golden.txt`).

const BAD: &str = r#"
[server]
listen = ["nope", "127.0.0.1:80", "127.0.0.1:80"]
threads = 99999
max_header_bytes = 1
header_read_timeout = "0s"
keepalive_timeout = "xs"
trusted_proxies = ["zz"]
[server.http2]
max_concurrent_streams = 0
keepalive_interval = "0s"
[log]
format = "jsn"
[admin]
listen = "0.0.0.0:9901"
token = "short"
token_file = "f"
[rate_limit]
max_keys = 0
[rate_limit.redis]
url = "http://x"
timeout = "0ms"
[cache]
max_bytes = 1
[telemetry.otlp]
endpoint = "http://127.0.0.1:4318/v1/traces"
sample_ratio = 2.0
batch_size = 100
queue_size = 10
[[services]]
name = "a b"
endpoints = []
connect_timeout = "0s"
host_header = "x"
load_balancing = "rr"
hash_key = "bogus"
panic_threshold = 101
retries = 11
[services.health_check]
path = "nope"
interval = "1s"
timeout = "2s"
jitter = "1s"
expected_statuses = []
[services.outlier_detection]
base_ejection_time = "10s"
max_ejection_time = "1s"
[services.circuit_breaker]
failure_rate = 0
cooldown = "10s"
max_cooldown = "1s"
failure_statuses = [404]
[services.retry]
backoff_base = "1s"
backoff_max = "10ms"
budget_percent = 101
[[services]]
endpoints = ["http://127.0.0.1:1"]
hash_key = "client_ip"
[[routes]]
name = "r"
path = "/a"
service = "nope"
methods = []
strip_prefix = "/a"
rewrite = "/b"
priority = 99999999999
timeout = "0s"
policies = ["zz", "p", "p"]
[[routes]]
path = "/b"
[consumers.c]
api_keys = ["short"]
routes = ["nope", "r", "r"]
[policies.p]
max_body_bytes = -1
[policies.p.auth]
api_key = {}
consumer_header = "Host"
[policies.p.auth.jwt]
leeway = "2h"
max_token_bytes = 1
consumer_claim = ""
query = "a&b"
issuers = [""]
[[policies.p.auth.jwt.keys]]
secret = "x"
pem = "y"
[[policies.p.auth.jwt.keys]]
kid = "k"
[[policies.p.rate_limit]]
per = "0s"
burst = 0
key = ["nope", "consumer", "consumer"]
store = "redis"
on_error = "maybe"
[[policies.p.rate_limit]]
rate = 1
[policies.p.request_headers]
set = { "Connection" = "x" }
remove = ["bad header"]
rename = { "X-A" = "X-A" }
[policies.p.cors]
allow_origins = []
max_age = "x"
[policies.p.ip_rules]
allow = ["nope"]
deny = ["1.2.3.4/99"]
[policies.q.cache]
default_ttl = "0s"
max_object_bytes = 0
key_query = ["a", "a", "*"]
key_headers = ["Authorization", "x-a", "X-A"]
[policies.q.compression]
algorithms = ["brotli", "gzip", "gzip"]
min_size = -1
types = ["image/png", "text/html", "text/html", "bad"]
level = 99
"#;

#[test]
fn a_config_full_of_mistakes_reports_the_same_messages() {
    let errors = crate::config::parse_str(BAD, "t.toml")
        .unwrap_err()
        .to_string();
    let expected = include_str!("tests_golden.txt");
    for (got, want) in errors.lines().zip(expected.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(errors.lines().count(), expected.lines().count(), "{errors}");
}
