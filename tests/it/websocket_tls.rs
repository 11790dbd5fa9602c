//! A WebSocket through the gateway to an `https` endpoint of an `auto` service whose server
//! prefers HTTP/2: the upgrade's connection offers only HTTP/1.1 through ALPN, so the tunnel
//! works (HTTP/2 cannot carry this upgrade), while ordinary requests still get HTTP/2.

use crate::common::tls::Pki;
use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn an_upgrade_to_an_auto_tls_service_offers_only_http1() {
    let pki = Pki::new("ws");
    let server = pki.server(&["127.0.0.1"], &[&b"h2"[..], &b"http/1.1"[..]], None);
    let acceptor = TlsAcceptor::from(server);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let alpn_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = alpn_seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                seen.lock().unwrap().push(alpn);
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let gw = start_gateway(&format!(
        r#"
[[services]]
name = "ws"
endpoints = ["https://{addr}"]
protocol = "auto"
[services.tls]
ca_file = "{ca}"
[services.health_check]
enabled = false

[[routes]]
name = "ws"
path = "/ws/*"
service = "ws"
"#,
        ca = pki.ca_file()
    ))
    .await;
    let url = format!("ws://{}/ws/echo", gw.addr);
    let (mut client, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    client.send(Message::text("over tls")).await.unwrap();
    let echoed = client.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "over tls");
    assert_eq!(
        alpn_seen.lock().unwrap().as_slice(),
        [Some(b"http/1.1".to_vec())],
        "the upgrade's TLS connection offered HTTP/1.1 only"
    );
    task.abort();
}
