//! Validated `[admin]` settings: the admin listener (API, metrics, health) and its token.

use std::net::SocketAddr;

use serde::Serialize;

/// `[admin]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdminSettings {
    /// Serve the admin listener at all. Default true.
    pub enabled: bool,
    /// Default 127.0.0.1:9901. Anything but a loopback address requires `token`.
    pub listen: SocketAddr,
    /// Bearer token every admin request must carry (from `token = "${ENV}"` or
    /// `token_file`). Default none, allowed only on loopback.
    #[serde(serialize_with = "super::show::opt_secret")]
    pub token: Option<String>,
    /// Where runtime service registrations are kept across restarts, as written (relative
    /// paths start at the config file's directory). Default: `<config name>.state.json`
    /// beside the config file.
    pub state_file: Option<std::path::PathBuf>,
    /// A listener of its own that answers `GET /livez` and `GET /readyz` without the token
    /// (and nothing else), for orchestrators' probes; served whatever `enabled` says (Kong's
    /// `status_listen`). Default none.
    pub probe_listen: Option<SocketAddr>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9901)),
            token: None,
            state_file: None,
            probe_listen: None,
        }
    }
}
