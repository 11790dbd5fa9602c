//! `[services.discovery]` and the `dns+` / `srv+` endpoint schemes: name servers as
//! `ip[:port]`, the TTL floor and ceiling (floor <= ceiling), the resolution timeout and the
//! grace of empty answers. A service with a `dns+` or `srv+` endpoint gets the defaults when
//! the table is absent; the table on a service without one is an error.

use std::net::{IpAddr, SocketAddr};

use super::ctx::Ctx;
use super::fields::{fields, Fields};
use crate::config::discovery::{DiscoverySpec, Resolve};
use crate::config::raw::{RawDiscovery, RawService, Spanned};
use crate::config::EndpointSpec;

const NAMESERVER_HINT: &str = "an IP address with an optional port, e.g. \"10.0.0.2\" or \
                               \"127.0.0.1:5353\"; leave the key out to use /etc/resolv.conf";

/// The service's discovery settings: `Ok(None)` when no endpoint is resolved by the gateway,
/// `Err(())` after reporting problems.
pub(super) fn discovery(
    raw: &RawService,
    endpoints: Option<&[EndpointSpec]>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Result<Option<DiscoverySpec>, ()> {
    let named = endpoints.is_some_and(|e| e.iter().any(|e| e.resolve != Resolve::Fixed));
    let Some(t) = &raw.discovery else {
        return Ok(named.then(DiscoverySpec::default));
    };
    let prefix = format!("{key}.discovery");
    let mut out = DiscoverySpec::default();
    let mut f = Fields::new(ctx, prefix.as_str());
    fields!(f, t, out;
        nameservers: with(nameservers);
        min_ttl: timeout;
        max_ttl: timeout;
        timeout: timeout;
        empty_grace: duration0;
    );
    if let (Some(v), true) = (&t.max_ttl, f.valid("min_ttl") && f.valid("max_ttl")) {
        if out.max_ttl < out.min_ttl {
            let msg = "max_ttl is shorter than min_ttl";
            f.error(
                v.span(),
                "max_ttl",
                msg,
                "the ceiling must be at least the floor",
            );
        }
    }
    if f.ok && endpoints.is_some() && !named {
        let span = first_span(t).unwrap_or(0..0);
        let msg = "[services.discovery] on a service without dns+ or srv+ endpoints";
        let hint = "write an endpoint as \"dns+http://NAME:PORT\" (A/AAAA records) or \
                    \"srv+http://_SERVICE._tcp.NAME\" (SRV records), or remove the table";
        f.ctx
            .error(span, prefix.clone(), msg, Some(hint.to_owned()));
        f.ok = false;
    }
    if f.ok {
        Ok(named.then_some(out))
    } else {
        Err(())
    }
}

/// Where the table's first key is, to point at it.
fn first_span(t: &RawDiscovery) -> Option<std::ops::Range<usize>> {
    let d = [&t.min_ttl, &t.max_ttl, &t.timeout, &t.empty_grace];
    t.nameservers
        .as_ref()
        .map(Spanned::span)
        .or_else(|| d.iter().find_map(|v| v.as_ref().map(Spanned::span)))
}

/// `nameservers = ["10.0.0.2", "127.0.0.1:5353", "[::1]:53"]`: port 53 when none is given.
fn nameservers(
    ctx: &mut Ctx<'_>,
    v: &Spanned<Vec<Spanned<String>>>,
    key: &str,
) -> Option<Vec<SocketAddr>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, s) in v.get_ref().iter().enumerate() {
        let k = format!("{key}[{i}]");
        let text = s.get_ref().trim();
        let addr = text.parse::<SocketAddr>().ok().or_else(|| {
            text.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, 53))
        });
        match addr {
            Some(a) if a.port() != 0 => out.push(a),
            _ => {
                let msg = format!("invalid name server \"{text}\"");
                ctx.error(s.span(), k, msg, Some(NAMESERVER_HINT.to_owned()));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Splits `dns+` or `srv+` off an endpoint URL: what it names and the plain URL.
pub(super) fn scheme(url: &str) -> (Resolve, &str) {
    if let Some(rest) = url.strip_prefix("dns+") {
        (Resolve::Addresses, rest)
    } else if let Some(rest) = url.strip_prefix("srv+") {
        (Resolve::Srv, rest)
    } else {
        (Resolve::Fixed, url)
    }
}
