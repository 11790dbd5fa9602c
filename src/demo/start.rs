//! `portcullis demo` put together: the three demo services, then the gateway in front of them,
//! started through the one composition root (`crate::gateway`), and the banner `main` prints.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::{
    curl_examples, demo_config, demo_jwt, start_backends, DemoBackends, DemoPorts, Tour, TourAddrs,
    DEMO_API_KEY,
};
use crate::gateway::{Error, Gateway};

/// A demo ready to run: the gateway (not serving yet) and the services behind it.
pub struct Demo {
    pub gateway: Gateway,
    pub backends: DemoBackends,
    /// The gateway's bound address (`listen` as given, with its port when 0).
    listen: SocketAddr,
}

/// Starts the demo services on their fixed ports (or ephemeral ones when taken) and builds
/// the gateway on `listen` with `threads` workers (default: the config's).
pub async fn start(listen: SocketAddr, threads: Option<usize>) -> Result<Demo, Error> {
    let backends = start_backends(DemoPorts::Fixed)
        .await
        .map_err(Error::Demo)?;
    let config = demo_config(&backends, listen);
    let gateway = Gateway::builder(config).threads(threads).start().await?;
    let listen = gateway.addrs().first().copied().unwrap_or(listen);
    Ok(Demo {
        gateway,
        backends,
        listen,
    })
}

impl Demo {
    /// Prints the banner and hands over the gateway to run.
    pub fn into_gateway_after_banner(self) -> Gateway {
        println!("{}", self.banner());
        self.gateway
    }

    /// What `portcullis demo` prints once started: the gateway and services, what is on and
    /// the credentials, the curl lines to try, the tour, and the dashboard and admin API
    /// addresses.
    pub fn banner(&self) -> String {
        let listen = self.listen;
        let admin = self.gateway.admin_addr();
        let mut b = format!("Portcullis demo: gateway on http://{listen}\n");
        for s in &self.backends.services {
            let _ = writeln!(b, "  {} on http://{}", s.name, s.addr);
        }
        let _ = writeln!(
            b,
            "\nOn: a rate limit per client IP (100/s, bursts of 150), a 30 s cache on product reads,\n\
             credentials for order writes, headers added both ways, 2 retries, a breaker after 5\n\
             failures, health checks every 30 s, the access log. The config: portcullis demo --print-config\n\
             Order writes: -H 'x-api-key: {DEMO_API_KEY}'\n\
             \x20         or -H 'authorization: Bearer {}'",
            demo_jwt()
        );
        b.push_str("\nTry:\n");
        b.push_str(&curl_examples(listen));
        b.push('\n');
        let tour_admin = admin.unwrap_or_else(|| TourAddrs::usual().admin);
        b.push_str(&Tour::new(&TourAddrs::new(&self.backends, listen, tour_admin)).text());
        if let Some(a) = admin {
            let u = format!("http://{a}");
            let _ = writeln!(b, "\nDashboard: {u}/");
            let _ = writeln!(
                b,
                "Admin API: {u}/api/status   metrics: {u}/metrics   OpenAPI: {u}/api/openapi.json"
            );
        }
        b
    }
}
