//! Graceful shutdown: an in-flight slow request finishes, new connections are refused, and
//! `run` returns. Also the connection limit: beyond it the gateway stops accepting.

use std::time::Duration;

use crate::common::*;
use http::{Request, Response};
use hyper::body::Incoming;

fn config(addr: std::net::SocketAddr, server: &str) -> String {
    format!(
        r#"
[server]
shutdown_grace = "5s"
{server}
[[services]]
name = "slow"
endpoints = ["http://{addr}"]
[[routes]]
name = "all"
path = "/*"
service = "slow"
"#
    )
}

async fn slow_backend() -> Backend {
    Backend::start(|_r: Request<Incoming>| async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Response::new(full("finished"))
    })
    .await
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let b = slow_backend().await;
    let mut gw = start_gateway(&config(b.addr, "")).await;
    let url = gw.url("/slow");
    let in_flight = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.shutdown();
    let (st, _, body) = in_flight.await.unwrap();
    assert_eq!(st, 200);
    assert_eq!(&body[..], b"finished");
    let done = tokio::time::timeout(Duration::from_secs(5), &mut gw.task).await;
    assert!(
        matches!(done, Ok(Ok(Ok(())))),
        "run did not return cleanly: {done:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(gw.addr).await.is_err(),
        "still accepting"
    );
}

#[tokio::test]
async fn beyond_max_connections_the_gateway_waits_instead_of_crashing() {
    let b = Backend::echo().await;
    let gw = start_gateway(&config(b.addr, "max_connections = 2")).await;
    // Two idle connections hold both slots.
    let c1 = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let c2 = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third connection is not served while both are held...
    let url = gw.url("/x");
    let third = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "served beyond max_connections");
    // ...and is served once a slot frees up.
    drop(c1);
    drop(c2);
    let (st, _, _) = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st, 200);
}
