//! Validated DNS service discovery settings: which endpoints are names to resolve
//! (`dns+http://` A/AAAA, `srv+http://` SRV) and `[services.discovery]`, how and how often they
//! are resolved. The resolving itself is `upstream::discovery`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::show;

/// What an endpoint URL names: an address to dial, or a DNS name whose records are the
/// endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolve {
    /// A fixed endpoint: `http://` or `https://` (a host name is resolved when dialling).
    #[default]
    Fixed,
    /// `dns+http://NAME:PORT`: every A and AAAA record of NAME is an endpoint on PORT.
    Addresses,
    /// `srv+http://_service._proto.NAME`: every SRV target (of the lowest priority) is an
    /// endpoint on the record's port, with the record's weight.
    Srv,
}

/// `[services.discovery]`: present on every service with a `dns+` or `srv+` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoverySpec {
    /// The name servers asked (`ip:port`); empty: the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// The shortest time between two resolutions of a name, whatever its TTL. Default 5 s.
    #[serde(serialize_with = "show::duration")]
    pub min_ttl: Duration,
    /// The longest time a TTL may keep an answer. Default 300 s.
    #[serde(serialize_with = "show::duration")]
    pub max_ttl: Duration,
    /// Time allowed for one resolution (SRV with its targets' addresses). Default 5 s.
    #[serde(serialize_with = "show::duration")]
    pub timeout: Duration,
    /// How long empty answers (no such name, no records) are disbelieved, the last good set
    /// kept, before the name's endpoints are dropped. Default 30 s.
    #[serde(serialize_with = "show::duration")]
    pub empty_grace: Duration,
}

impl Default for DiscoverySpec {
    fn default() -> Self {
        DiscoverySpec {
            nameservers: Vec::new(),
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(300),
            timeout: Duration::from_secs(5),
            empty_grace: Duration::from_secs(30),
        }
    }
}
