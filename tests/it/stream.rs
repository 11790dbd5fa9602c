//! `[[tcp]]` listeners through the real gateway, plain TCP mode: bytes forwarded exactly both
//! ways with half-closes, balancing, health checks, the connection limit, the idle timeout,
//! reloads and the drain, each counted in the metrics.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::tcp::{
    closed_by_peer, round_trip, start_tcp_gateway, start_tcp_gateway_threads, Backend,
};

const NO_CHECKS: &str = "[services.health_check]\nenabled = false\n";

/// Service `db` over `backends`, and the `[[tcp]]` listener `db` forwarding to it.
fn config(backends: &[&Backend], tcp: &str, service: &str) -> String {
    let endpoints: Vec<String> = backends
        .iter()
        .map(|b| format!("\"tcp://{}\"", b.addr))
        .collect();
    format!(
        "[server]\nshutdown_grace = \"10s\"\n\n[[services]]\nname = \"db\"\nendpoints = [{}]\n{service}\n\
         [[tcp]]\nname = \"db\"\nlisten = \"127.0.0.1:1\"\nservice = \"db\"\n{tcp}\n",
        endpoints.join(", ")
    )
}

fn line(result: &str, n: u64) -> String {
    format!("portcullis_tcp_connections_total{{listener=\"db\",service=\"db\",result=\"{result}\"}} {n}")
}

#[tokio::test]
async fn bytes_are_forwarded_exactly_both_ways_with_half_closes() {
    let a = Backend::start("a").await;
    let (gw, addrs) = start_tcp_gateway(&config(&[&a], "", NO_CHECKS)).await;
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();
    // The backend answers only after it read the client's end: the half-close went through.
    let back = round_trip(addrs[0], &data).await;
    assert_eq!(&back[..2], b"a:");
    assert!(back[2..] == data[..], "the bytes came back changed");
    gw.metric_line(&line("ok", 1)).await;
    let bytes = "portcullis_tcp_bytes_total{listener=\"db\",service=\"db\",direction=";
    gw.metric_line(&format!("{bytes}\"in\"}} 1048576")).await;
    gw.metric_line(&format!("{bytes}\"out\"}} 1048578")).await;
    gw.metric_line("portcullis_tcp_connections_active{listener=\"db\"} 0")
        .await;
}

#[tokio::test]
async fn connections_are_balanced_over_the_endpoints() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let (_gw, addrs) = start_tcp_gateway(&config(&[&a, &b], "", NO_CHECKS)).await;
    let mut seen = (0, 0);
    for _ in 0..10 {
        match &round_trip(addrs[0], b"x").await[..] {
            b"a:x" => seen.0 += 1,
            b"b:x" => seen.1 += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(seen, (5, 5), "round robin over two endpoints");
    assert_eq!((a.accepts(), b.accepts()), (5, 5));
}

#[tokio::test]
async fn an_endpoint_failing_its_health_checks_is_skipped() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let checks =
        "[services.health_check]\ninterval = \"100ms\"\ntimeout = \"100ms\"\njitter = \"0ms\"\n\
                  unhealthy_threshold = 1\nhealthy_threshold = 100\n";
    let (gw, addrs) = start_tcp_gateway(&config(&[&a, &b], "", checks)).await;
    let b_addr = b.stop().await;
    let down = |gw: &crate::common::Gateway| {
        let status = gw.shared.upstream_status();
        status[0]
            .endpoints
            .iter()
            .any(|e| e.url.ends_with(&b_addr.to_string()) && !e.healthy)
    };
    for _ in 0..500 {
        if down(&gw) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(down(&gw), "the TCP connect checks never took b out");
    // b listens again, but stays out of rotation until 100 checks pass.
    let b = Backend::on(tokio::net::TcpListener::bind(b_addr).await.unwrap(), "b");
    assert_eq!(round_trip(b.addr, b"x").await, b"b:x", "b is reachable");
    for _ in 0..6 {
        assert_eq!(round_trip(addrs[0], b"x").await, b"a:x");
    }
}

#[tokio::test]
async fn three_workers_share_the_listener_and_its_limit_and_drain() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let toml = config(&[&a, &b], "max_connections = 1", NO_CHECKS);
    let (mut gw, addrs) = start_tcp_gateway_threads(&toml, 3).await;
    for i in 0..30u8 {
        let back = round_trip(addrs[0], &[b'0' + i % 10]).await;
        assert!(back.len() == 3 && back[2] == b'0' + i % 10, "{back:?}");
        // Counted once its slot is free: the next connection fits under the limit.
        gw.metric_line(&line("ok", u64::from(i) + 1)).await;
    }
    assert_eq!(a.accepts() + b.accepts(), 30);
    // One limit for all workers: with one connection open, every other one is closed.
    let mut held = TcpStream::connect(addrs[0]).await.unwrap();
    held.write_all(b"h").await.unwrap();
    while a.accepts() + b.accepts() < 31 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..6 {
        let mut extra = TcpStream::connect(addrs[0]).await.unwrap();
        assert!(
            closed_by_peer(&mut extra).await,
            "over the limit on some worker"
        );
    }
    drop(held);
    gw.shutdown();
    let done = tokio::time::timeout(Duration::from_secs(10), &mut gw.task).await;
    done.expect("the workers did not stop").unwrap().unwrap();
}

#[tokio::test]
async fn a_refused_connect_moves_on_to_another_endpoint() {
    let a = Backend::start("a").await;
    let dead = Backend::start("dead").await;
    let (gw, addrs) = start_tcp_gateway(&config(&[&dead, &a], "", NO_CHECKS)).await;
    dead.stop().await;
    for _ in 0..4 {
        assert_eq!(round_trip(addrs[0], b"x").await, b"a:x");
    }
    gw.metric_line(&line("ok", 4)).await;
    a.stop().await;
    let mut s = TcpStream::connect(addrs[0]).await.unwrap();
    assert!(closed_by_peer(&mut s).await, "answered with no endpoint up");
    gw.metric_line(&line("connect_failed", 1)).await;
}

#[tokio::test]
async fn the_connection_limit_closes_the_extra_connection() {
    let a = Backend::start("a").await;
    let (gw, addrs) = start_tcp_gateway(&config(&[&a], "max_connections = 1", NO_CHECKS)).await;
    let mut first = TcpStream::connect(addrs[0]).await.unwrap();
    first.write_all(b"1").await.unwrap();
    while a.accepts() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut extra = TcpStream::connect(addrs[0]).await.unwrap();
    assert!(
        closed_by_peer(&mut extra).await,
        "the extra connection was served"
    );
    let limit = "portcullis_tcp_connections_total{listener=\"db\",service=\"\",result=\"limit\"} 1";
    gw.metric_line(limit).await;
    first.shutdown().await.unwrap();
    let mut back = Vec::new();
    first.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"a:1", "the first connection is unharmed");
    gw.metric_line(&line("ok", 1)).await;
    // Its slot is free again.
    assert_eq!(round_trip(addrs[0], b"3").await, b"a:3");
}

#[tokio::test]
async fn the_proxy_protocol_header_reaches_the_backend_first() {
    let a = Backend::start("a").await;
    let tcp = "proxy_protocol = \"v1\"";
    let (_gw, addrs) = start_tcp_gateway(&config(&[&a], tcp, NO_CHECKS)).await;
    let mut s = TcpStream::connect(addrs[0]).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(b"x").await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).await.unwrap();
    let header = format!(
        "PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n",
        me.port(),
        addrs[0].port()
    );
    assert_eq!(String::from_utf8_lossy(&back), format!("a:{header}x"));
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let a = Backend::start("a").await;
    let (gw, addrs) =
        start_tcp_gateway(&config(&[&a], "idle_timeout = \"300ms\"", NO_CHECKS)).await;
    let mut s = TcpStream::connect(addrs[0]).await.unwrap();
    s.write_all(b"x").await.unwrap();
    assert!(closed_by_peer(&mut s).await, "an answer came instead");
    assert_eq!(a.accepts(), 1, "it was forwarded before it went idle");
    gw.metric_line(&line("idle_timeout", 1)).await;
}

#[tokio::test]
async fn a_reload_changes_the_service_and_unknown_services_are_refused() {
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    let two = |service: &str| {
        format!(
            "[[services]]\nname = \"a\"\nendpoints = [\"tcp://{}\"]\n{NO_CHECKS}\n\
             [[services]]\nname = \"b\"\nendpoints = [\"tcp://{}\"]\n{NO_CHECKS}\n\
             [[tcp]]\nname = \"db\"\nlisten = \"127.0.0.1:1\"\nservice = \"{service}\"\n",
            a.addr, b.addr
        )
    };
    let (gw, addrs) = start_tcp_gateway(&two("a")).await;
    assert_eq!(round_trip(addrs[0], b"x").await, b"a:x");
    let next = portcullis::config::parse_str(&two("b"), "test.toml").unwrap();
    gw.reloader.apply(next).expect("the reload applies");
    assert_eq!(round_trip(addrs[0], b"x").await, b"b:x");
    let err = portcullis::config::parse_str(&two("c"), "test.toml").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("test.toml:") && text.contains("tcp[0].service: unknown service \"c\""),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_open_connections_finish() {
    let a = Backend::start("a").await;
    let (mut gw, addrs) = start_tcp_gateway(&config(&[&a], "", NO_CHECKS)).await;
    let mut open = TcpStream::connect(addrs[0]).await.unwrap();
    open.write_all(b"before").await.unwrap();
    while a.accepts() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.shutdown();
    // New connections are refused once the accept loop has stopped.
    let mut refused = false;
    for _ in 0..250 {
        if TcpStream::connect(addrs[0]).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting after shutdown");
    assert!(
        !gw.task.is_finished(),
        "the drain did not wait for the open connection"
    );
    open.write_all(b" after").await.unwrap();
    open.shutdown().await.unwrap();
    let mut back = Vec::new();
    open.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"a:before after");
    let done = tokio::time::timeout(Duration::from_secs(10), &mut gw.task).await;
    done.expect("the gateway did not stop after its last connection")
        .unwrap()
        .unwrap();
}

#[test]
fn check_counts_the_tcp_listeners() {
    let dir = std::env::temp_dir().join(format!("portcullis-tcp-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("portcullis.toml");
    let text = "[[services]]\nname = \"db\"\nendpoints = \"tcp://127.0.0.1:5432\"\n\n\
                [[tcp]]\nname = \"db\"\nlisten = \"127.0.0.1:15432\"\nservice = \"db\"\n";
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("check")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("ok (1 services, 0 routes, 1 tcp listeners)"),
        "{said}"
    );
}
