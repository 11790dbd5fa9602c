//! No credential ever reaches the logs. Alone in its test binary: tracing caches whether a
//! log call site is enabled, and concurrent tests without a subscriber would race with the
//! thread-local subscriber this test captures logs with.

use crate::common::*;
use http::Method;

use crate::common::policy::*;

#[tokio::test]
async fn credentials_never_reach_the_logs() {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let be = Backend::echo().await;
    let policies = format!(
        r#"
[policies.all.auth]
api_key = {{ header = "X-API-Key", query = "api_key" }}
basic = true
[[policies.all.auth.jwt.keys]]
secret = "{JWT_SECRET}"
"#
    );
    let cfg = config(&be, &policies, "policies = [\"all\"]").replace("[server]", "");
    let cfg = format!("[log]\naccess_log = true\n{cfg}");
    let gw = start_gateway(&cfg).await;
    let url = gw.url("/api/x");
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:secret-password-123")
    );
    let forged = format!(
        "Bearer {}x",
        hs256(serde_json::json!({"sub": "u", "exp": now() + 60}))
    );
    for h in [
        ("x-api-key", "secret-api-key-0123456789"),
        ("x-api-key", ALICE_KEY),
        ("authorization", basic.as_str()),
        ("authorization", forged.as_str()),
    ] {
        send(req(Method::GET, &url, &[h])).await;
    }
    send(req(
        Method::GET,
        &format!("{url}?api_key=secret-in-query-0123456789"),
        &[],
    ))
    .await;
    // Access log lines are written when each response body is dropped: wait for all five.
    let text = || String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    let t = std::time::Instant::now();
    while text().matches("\"target\":\"access\"").count() < 5 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "no access log: {}",
            text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let logs = text();
    assert!(
        logs.contains("\"status\":401") || logs.contains("401"),
        "requests were logged: {logs}"
    );
    for secret in [
        "secret-api-key-0123456789",
        ALICE_KEY,
        "secret-password-123",
        &forged[7..],
        "secret-in-query-0123456789",
        JWT_SECRET,
    ] {
        assert!(!logs.contains(secret), "a credential reached the logs");
    }
}
