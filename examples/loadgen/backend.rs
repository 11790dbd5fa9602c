//! The backend of the long checks: HTTP/1.1 keep-alive on a loopback address; `/api/items/ID`
//! answers a small JSON document the gateway may cache (`public, max-age=2`), `/health` and
//! anything else a JSON document it must not (`no-store`).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// Serves until the process is stopped; false if the address cannot be bound.
pub async fn serve(listen: SocketAddr) -> bool {
    // A 4096-connection accept queue: a gateway serving thousands of clients at once opens
    // about as many upstream connections at once (tokio's default queue is 1024).
    let bound = TcpSocket::new_v4().and_then(|s| {
        s.set_reuseaddr(true)?;
        s.bind(listen)?;
        s.listen(4096)
    });
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            eprintln!("loadgen backend: cannot listen on {listen}: {e}");
            return false;
        }
    };
    eprintln!("loadgen backend: listening on {listen}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let (cache, body) = match path.strip_prefix("/api/items/") {
        Some(id) => (
            "public, max-age=2",
            format!("{{\"id\":\"{id}\",\"name\":\"item {id}\",\"price\":42}}"),
        ),
        None => ("no-store", "{\"ok\":true}".to_owned()),
    };
    let user = req
        .headers()
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("cache-control", cache)
        .header("x-seen-user", user)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}
