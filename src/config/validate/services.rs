//! `[[services]]`: names, endpoint URLs and weights, timeouts and the Host header policy; the
//! resilience keys are in `resilience`, `protocol` and `[services.tls]` in `upstream_tls`.

use std::collections::HashMap;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};

use super::ctx::{Ctx, Table};
use super::document::Item;
use super::fields::{fields, Fields};
use super::{discovery, hint, resilience, upstream_tls};
use crate::config::discovery::Resolve;
use crate::config::raw::{
    EndpointList, RawEndpoint, RawService, RawUpstreamHeaders, ENDPOINT_KEYS,
};
use crate::config::{EndpointSpec, HostHeader, ServiceSpec, TraceContextMode, UpstreamHeaders};

/// The validated services, aligned with the `[[services]]` elements.
pub(super) struct Services {
    /// `None` for an element with problems (already reported).
    pub specs: Vec<Option<ServiceSpec>>,
    /// Every service name that was written, valid or not, with its element index.
    pub names: HashMap<String, usize>,
}

/// Validates every `[[services]]` element.
pub(super) fn services(items: &[Item<RawService>], ctx: &mut Ctx<'_>) -> Services {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut first_seen: HashMap<String, Range<usize>> = HashMap::new();
    let mut specs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let key = format!("services[{i}]");
        let Some(section) = &item.section else {
            if let Some(n) = &item.name {
                names.entry(n.clone()).or_insert(i);
            }
            specs.push(None);
            continue;
        };
        let raw = &section.raw;
        let table = Table {
            span: item.span.clone(),
            dropped: &section.dropped,
        };
        let (k, what) = (
            format!("{key}.name"),
            "every service needs a unique name, e.g. name = \"user-service\"",
        );
        let name = ctx.required(&raw.name, &table, &k, what, |ctx, v| {
            let n = ctx.name(v, &k)?;
            if let Some(first) = first_seen.get(&n) {
                let hint = format!("first defined at line {}", ctx.line_of(first.start));
                let msg = format!("duplicate service name \"{n}\"");
                ctx.error(v.span(), k.clone(), msg, Some(hint));
            } else {
                first_seen.insert(n.clone(), v.span());
                names.insert(n.clone(), i);
            }
            Some(n)
        });
        let (k, what) = (
            format!("{key}.endpoints"),
            "e.g. endpoints = [\"http://127.0.0.1:9001\"]",
        );
        let endpoints = ctx.required(&raw.endpoints, &table, &k, what, |ctx, v| {
            endpoints(v.get_ref(), v.span(), &key, ctx)
        });
        let mut out = ServiceSpec {
            name: name.clone().unwrap_or_default(),
            endpoints: endpoints.clone().unwrap_or_default(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            host_header: HostHeader::Endpoint,
            resilience: Default::default(),
            protocol: Default::default(),
            tls: None,
            discovery: None,
            upstream_headers: Default::default(),
        };
        let hosts = [
            ("endpoint", HostHeader::Endpoint),
            ("preserve", HostHeader::Preserve),
        ];
        let mut f = Fields::new(ctx, key.as_str());
        fields!(f, raw, out;
            connect_timeout: timeout;
            request_timeout: timeout;
            host_header: one_of(&hosts);
        );
        if let Some(t) = &raw.upstream_headers {
            f.prefix = format!("{key}.upstream_headers");
            upstream_headers(t, &mut f, &mut out.upstream_headers);
        }
        let ok = f.ok && name.is_some() && endpoints.is_some();
        let resilience = resilience::resilience(raw, &key, ctx);
        let transport =
            upstream_tls::transport(raw, name.as_deref(), endpoints.as_deref(), &key, ctx);
        let found = discovery::discovery(raw, endpoints.as_deref(), &key, ctx);
        let spec = match (resilience, transport, found) {
            (Some(resilience), Some((protocol, tls)), Ok(discovery)) if ok => Some(ServiceSpec {
                resilience,
                protocol,
                tls,
                discovery,
                ..out
            }),
            _ => None,
        };
        specs.push(spec);
    }
    Services { specs, names }
}

/// `[services.upstream_headers]`.
fn upstream_headers(raw: &RawUpstreamHeaders, f: &mut Fields<'_, '_>, out: &mut UpstreamHeaders) {
    let modes = [
        ("always", TraceContextMode::Always),
        ("sampled", TraceContextMode::Sampled),
        ("off", TraceContextMode::Off),
    ];
    fields!(f, raw, out;
        via: flag;
        request_id: flag;
        forwarded_host: flag;
        trace_context: one_of(&modes);
    );
}

/// Validates `endpoints`: URLs, weights, unknown keys of `{ url, weight }` tables, duplicates.
fn endpoints(
    list: &EndpointList,
    span: Range<usize>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<EndpointSpec>> {
    let items = list.items(span.clone());
    if items.is_empty() {
        let hint = "e.g. endpoints = [\"http://127.0.0.1:9001\"]".to_owned();
        let k = format!("{key}.endpoints");
        ctx.error(span, k, "at least one endpoint is required", Some(hint));
        return None;
    }
    let mut out: Vec<(EndpointSpec, usize)> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, (item, span)) in items.into_iter().enumerate() {
        let k = match list {
            EndpointList::One(_) => format!("{key}.endpoints"),
            EndpointList::Many(_) => format!("{key}.endpoints[{i}]"),
        };
        let mut weighted = false;
        let (url, url_span, url_key, weight) = match item {
            RawEndpoint::Url(url) => (url, span.clone(), k, Some(1)),
            RawEndpoint::Table(t) => {
                for u in &t.unknown {
                    let hint = hint::expected_one_of(u.get_ref(), ENDPOINT_KEYS);
                    let uk = format!("{k}.{}", hint::key_segment(u.get_ref()));
                    ctx.error(
                        u.span(),
                        uk,
                        format!("unknown key `{}`", u.get_ref()),
                        Some(hint),
                    );
                    ok = false;
                }
                weighted = t.weight.is_some();
                let weight = match &t.weight {
                    Some(w) => {
                        let hint = "a relative share of the traffic, 1 to 1000; default 1";
                        let w = ctx.int_in(w, &format!("{k}.weight"), 1, 1000, hint);
                        w.and_then(|w| u32::try_from(w).ok())
                    }
                    None => Some(1),
                };
                let Some(url) = &t.url else {
                    let what = "e.g. { url = \"http://127.0.0.1:9002\", weight = 3 }";
                    ctx.missing(span.clone(), &format!("{k}.url"), &[], what);
                    ok = false;
                    continue;
                };
                (url.get_ref(), url.span(), format!("{k}.url"), weight)
            }
        };
        let Some(url) = ctx.expand(url, url_span.clone(), &url_key) else {
            ok = false;
            continue;
        };
        let mut e = match endpoint(&url) {
            Ok(e) => e,
            Err((message, hint)) => {
                ctx.error(url_span, url_key, message, hint);
                ok = false;
                continue;
            }
        };
        if weighted && e.resolve == Resolve::Srv {
            let msg = format!("\"{url}\" takes its weights from the SRV records");
            let hint = "remove weight, or weight the SRV records themselves".to_owned();
            ctx.error(url_span, url_key, msg, Some(hint));
            ok = false;
            continue;
        }
        let same = |(o, _): &&(EndpointSpec, usize)| {
            o.authority == e.authority && o.base_path == e.base_path
        };
        if let Some((_, first)) = out.iter().find(same) {
            let msg = format!("duplicate endpoint \"{url}\"");
            let hint = format!(
                "first listed at line {}; to send it a larger share, give it a weight",
                ctx.line_of(*first)
            );
            ctx.error(url_span, url_key, msg, Some(hint));
            ok = false;
            continue;
        }
        match weight {
            Some(w) => e.weight = w,
            None => ok = false,
        }
        out.push((e, url_span.start));
    }
    ok.then(|| out.into_iter().map(|(e, _)| e).collect())
}

/// Parses one endpoint URL: `http://host[:port][/base/path]`.
pub(super) fn endpoint(written: &str) -> Result<EndpointSpec, (String, Option<String>)> {
    let (resolve, url) = discovery::scheme(written);
    let example =
        || Some("write e.g. \"http://127.0.0.1:9001\" or \"http://10.0.0.5:8080/v1\"".into());
    if url.contains(['?', '#']) {
        let msg = format!("endpoint URL \"{written}\" must not have a query or fragment");
        return Err((msg, example()));
    }
    let uri = Uri::from_str(url).map_err(|e| {
        (
            format!("invalid endpoint URL \"{written}\": {e}"),
            example(),
        )
    })?;
    let (Some(scheme), Some(auth)) = (uri.scheme(), uri.authority()) else {
        let hint = Some(format!(
            "add the scheme and host: \"http://{}\"",
            written.trim_start_matches('/')
        ));
        return Err((
            format!("endpoint URL \"{written}\" needs a scheme and a host"),
            hint,
        ));
    };
    let tls = *scheme == Scheme::HTTPS;
    let tcp = scheme.as_str() == "tcp";
    if !tls && !tcp && *scheme != Scheme::HTTP {
        let msg = format!("unsupported scheme \"{scheme}\" in \"{written}\"");
        let hint = "endpoints use http:// or https:// (tcp://host:port for [[tcp]] listeners), \
                    or dns+http(s):// and srv+http(s):// for DNS names whose records are the \
                    endpoints";
        return Err((msg, Some(hint.into())));
    }
    if tcp && resolve != Resolve::Fixed {
        let msg = format!("DNS discovery does not apply to tcp:// endpoints: \"{written}\"");
        return Err((msg, Some("write e.g. \"tcp://10.0.0.5:5432\"".into())));
    }
    if tcp {
        return tcp_endpoint(url, auth);
    }
    let default_port = if tls { 443 } else { 80 };
    if auth.as_str().contains('@') {
        let msg = format!("endpoint URL \"{written}\" must not contain credentials");
        return Err((msg, example()));
    }
    let host = auth.host();
    if host.is_empty() {
        return Err((format!("endpoint URL \"{written}\" has no host"), example()));
    }
    let port = match auth
        .as_str()
        .get(host.len()..)
        .and_then(|r| r.strip_prefix(':'))
    {
        None => default_port,
        Some(_) if resolve == Resolve::Srv => {
            let msg = format!("\"{written}\" takes its ports from the SRV records");
            let hint = "write srv+http://_SERVICE._tcp.NAME without a port";
            return Err((msg, Some(hint.into())));
        }
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err((
                    format!("invalid port in endpoint URL \"{written}\""),
                    example(),
                ))
            }
        },
    };
    let bad = |what: &str| {
        (
            format!("invalid {what} in endpoint URL \"{written}\""),
            example(),
        )
    };
    let authority = Authority::from_str(&format!("{host}:{port}")).map_err(|_| bad("host"))?;
    let host_header = if port == default_port {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    let host_header = HeaderValue::from_str(&host_header).map_err(|_| bad("host"))?;
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok(EndpointSpec {
        url: written.to_owned(),
        scheme: if tls { Scheme::HTTPS } else { Scheme::HTTP },
        authority,
        host_header,
        base_path,
        weight: 1,
        resolve,
    })
}

/// `tcp://host:port`: an endpoint of a service that only `[[tcp]]` listeners forward to
/// (its health checks are TCP connects); the port is required and there is no path.
fn tcp_endpoint(url: &str, auth: &Authority) -> Result<EndpointSpec, (String, Option<String>)> {
    let hint = || Some("write e.g. \"tcp://10.0.0.5:5432\"".into());
    let host = auth.host();
    let port = auth.port_u16().filter(|p| *p > 0);
    let rest = url.strip_prefix("tcp://").unwrap_or(url);
    let (Some(port), false, false) = (port, host.is_empty(), rest.contains(['/', '@'])) else {
        return Err((format!("invalid TCP endpoint \"{url}\""), hint()));
    };
    let authority = Authority::from_str(&format!("{host}:{port}"))
        .map_err(|_| (format!("invalid host in \"{url}\""), hint()))?;
    let host_header = HeaderValue::from_str(authority.as_str())
        .map_err(|_| (format!("invalid host in \"{url}\""), hint()))?;
    Ok(EndpointSpec {
        url: url.to_owned(),
        scheme: Scheme::from_str("tcp").map_err(|_| (url.to_owned(), None))?,
        authority,
        host_header,
        base_path: String::new(),
        weight: 1,
        resolve: Resolve::Fixed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = endpoint("http://127.0.0.1:9001").unwrap();
        assert_eq!(e.authority.as_str(), "127.0.0.1:9001");
        assert_eq!(e.host_header, "127.0.0.1:9001");
        assert_eq!(e.base_path, "");
        let e = endpoint("http://users.internal/v1/").unwrap();
        assert_eq!(e.authority.as_str(), "users.internal:80");
        assert_eq!(e.host_header, "users.internal");
        assert_eq!(e.base_path, "/v1");
        let e = endpoint("http://[::1]:9001/a/b").unwrap();
        assert_eq!(e.authority.as_str(), "[::1]:9001");
        assert_eq!(e.base_path, "/a/b");
        let e = endpoint("https://api.example.com/v2").unwrap();
        assert_eq!(e.scheme, Scheme::HTTPS);
        assert_eq!(e.authority.as_str(), "api.example.com:443");
        assert_eq!(e.host_header, "api.example.com");
        let e = endpoint("https://10.0.0.5:8443").unwrap();
        assert_eq!(e.host_header, "10.0.0.5:8443");
        let e = endpoint("tcp://10.0.0.5:5432").unwrap();
        assert_eq!(e.authority.as_str(), "10.0.0.5:5432");
        assert_eq!(e.scheme.as_str(), "tcp");
        for bad in [
            "tcp://x",
            "tcp://x:0",
            "tcp://x:1/path",
            "ftp://x",
            "127.0.0.1:9001",
            "http://",
            "http://u:p@x:1",
            "http://x:1/?q",
            "http://x:0",
            "http://x:99999",
            "http://x:",
            "not a url",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }
}
