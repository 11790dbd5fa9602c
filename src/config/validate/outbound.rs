//! `[outbound]`: the CA file the gateway's own https and rediss calls trust (JWKS fetches,
//! OTLP export, Redis), loaded now so a bad PEM file is reported with file and line.

use super::admin::config_dir;
use super::ctx::Ctx;
use super::document::Section;
use crate::config::raw::RawOutbound;
use crate::config::OutboundSettings;
use crate::tls::outbound::Outbound;

/// Validates `[outbound]`; the system roots when absent or invalid (errors are in `ctx`).
pub(super) fn outbound(
    section: Option<&Section<RawOutbound>>,
    ctx: &mut Ctx<'_>,
) -> OutboundSettings {
    let mut out = OutboundSettings::default();
    let Some(v) = section.and_then(|s| s.raw.ca_file.as_ref()) else {
        return out;
    };
    let key = "outbound.ca_file";
    let Some(text) = ctx.string(v, key) else {
        return out;
    };
    let path = config_dir(ctx).join(text);
    match Outbound::with_ca_file(&path) {
        Ok(client) => {
            out.client = client;
            out.ca_file = Some(path);
        }
        Err(msg) => {
            let hint = "a PEM file of the CA certificates that sign the JWKS, OTLP and Redis \
                        servers' certificates; relative paths start at the config file's directory";
            ctx.error(v.span(), key, msg, Some(hint.to_owned()));
        }
    }
    out
}
