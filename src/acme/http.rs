//! instant-acme's HTTP client over the gateway's own outbound client (`tls::outbound`), so
//! the ACME server is reached with the trust of `[acme] ca_file` or `[outbound]` and no second
//! HTTP/TLS stack is built into the binary.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};

use crate::tls::outbound::Outbound;

/// The largest answer read from the ACME server (a certificate chain, a directory).
const MAX_BODY: usize = 1 << 20;
/// One request's time limit.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The outbound client as an ACME HTTP client.
pub(super) struct Http(pub Outbound);

impl HttpClient for Http {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(never) => match never {},
            };
            let req = Request::from_parts(parts, Full::new(body));
            let resp = client
                .send(req, MAX_BODY, TIMEOUT)
                .await
                .map_err(|e| Error::Other(e.into()))?;
            Ok(BytesResponse::from(resp.map(Full::new)))
        })
    }
}
