//! A service's `protocol` and `[services.tls]`: the protocol must fit the endpoints' schemes,
//! the PEM files are read (relative to the config file) and parsed, and the rustls client
//! config is compiled here, once per load, so a bad CA or a key that does not fit its
//! certificate is reported with file and line like any other mistake.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::raw::Spanned;
use http::uri::Scheme;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::ctx::Ctx;
use crate::config::raw::{RawService, RawUpstreamTls};
use crate::config::{EndpointSpec, UpstreamProtocol, UpstreamTls};
use crate::tls::client::{self as tls, Alpn, ClientTls};

/// The protocol names and their values.
const PROTOCOLS: [(&str, UpstreamProtocol); 4] = [
    ("http1", UpstreamProtocol::Http1),
    ("h2", UpstreamProtocol::H2),
    ("h2c", UpstreamProtocol::H2c),
    ("auto", UpstreamProtocol::Auto),
];

/// Validates `protocol` and `tls` of the service at `key`. `endpoints` is `None` when they
/// had problems (then only the keys themselves are checked). `None` after reporting.
pub(super) fn transport(
    raw: &RawService,
    name: Option<&str>,
    endpoints: Option<&[EndpointSpec]>,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<(UpstreamProtocol, Option<UpstreamTls>)> {
    let protocol = match &raw.protocol {
        Some(v) => ctx.one_of(v, &format!("{key}.protocol"), &PROTOCOLS),
        None => Some(UpstreamProtocol::Http1),
    };
    let files = match &raw.tls {
        Some(t) => files(t, &format!("{key}.tls"), ctx),
        None => Some(Files::default()),
    };
    let (Some(protocol), Some(files), Some(endpoints)) = (protocol, files, endpoints) else {
        return None;
    };
    let eps_span = raw.endpoints.as_ref().map_or(0..0, Spanned::span);
    let https = endpoints.iter().find(|e| e.scheme == Scheme::HTTPS);
    let mut ok = fits(protocol, endpoints, raw, key, ctx);
    let Some(first_https) = https else {
        if let Some(t) = &raw.tls {
            let span = first_span(t).unwrap_or(eps_span);
            let msg = "[services.tls] applies to https:// endpoints, and this service has none";
            let hint = "write the endpoints as https://host:port, or remove the tls table";
            ctx.error(span, format!("{key}.tls"), msg, Some(hint.into()));
            return None;
        }
        return ok.then_some((protocol, None));
    };
    if files.server_name.is_none() {
        for e in endpoints.iter().filter(|e| e.scheme == Scheme::HTTPS) {
            if tls::server_name(e.authority.host()).is_none() {
                let msg = format!("\"{}\" has no host usable as a TLS server name", e.url);
                let hint = "set [services.tls] server_name";
                ctx.error(
                    eps_span.clone(),
                    format!("{key}.endpoints"),
                    msg,
                    Some(hint.into()),
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let span = raw.tls.as_ref().and_then(first_span).unwrap_or(eps_span);
    let insecure = files.insecure;
    let client = tls::client_config(ClientTls {
        roots: files.ca,
        client_auth: files.client_auth,
        insecure,
        alpn: match protocol {
            UpstreamProtocol::Http1 => Alpn::Http1,
            UpstreamProtocol::H2 | UpstreamProtocol::H2c => Alpn::H2,
            UpstreamProtocol::Auto => Alpn::Both,
        },
    });
    let client = match client {
        Ok(c) => c,
        Err(why) => {
            let msg = format!("cannot set up TLS to \"{}\": {why}", first_https.url);
            let hint = match files.ca_file {
                None => {
                    "set [services.tls] ca_file to the CA that signed the upstream's certificate"
                }
                Some(_) => "check the PEM files of [services.tls]",
            };
            ctx.error(span, format!("{key}.tls"), msg, Some(hint.into()));
            return None;
        }
    };
    if insecure {
        tracing::warn!(
            service = name.unwrap_or("?"),
            "insecure_skip_verify is on: upstream TLS certificates of this service are NOT verified"
        );
    }
    Some((
        protocol,
        Some(UpstreamTls {
            ca_file: files.ca_file,
            server_name: files.server_name,
            client_cert_file: files.cert_file,
            client_key_file: files.key_file,
            insecure_skip_verify: insecure,
            client: Arc::new(client),
        }),
    ))
}

/// Whether `protocol` fits the endpoints' schemes (`h2` needs https://, `h2c` http://);
/// false after reporting.
fn fits(
    protocol: UpstreamProtocol,
    endpoints: &[EndpointSpec],
    raw: &RawService,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> bool {
    let eps_span = raw.endpoints.as_ref().map_or(0..0, Spanned::span);
    let https = endpoints.iter().find(|e| e.scheme == Scheme::HTTPS);
    let plain = endpoints.iter().find(|e| e.scheme != Scheme::HTTPS);
    let proto_span = raw
        .protocol
        .as_ref()
        .map_or(eps_span.clone(), Spanned::span);
    let pkey = format!("{key}.protocol");
    match (protocol, https, plain) {
        (UpstreamProtocol::H2, _, Some(e)) => {
            let msg = format!(
                "protocol \"h2\" is HTTP/2 over TLS, but \"{}\" is http://",
                e.url
            );
            let hint = "use protocol = \"h2c\" for HTTP/2 over cleartext, or https:// endpoints";
            ctx.error(proto_span, pkey, msg, Some(hint.into()));
            false
        }
        (UpstreamProtocol::H2c, Some(e), _) => {
            let msg = format!(
                "protocol \"h2c\" is cleartext HTTP/2, but \"{}\" is https://",
                e.url
            );
            let hint = "use protocol = \"h2\" (or \"auto\") for https:// endpoints";
            ctx.error(proto_span, pkey, msg, Some(hint.into()));
            false
        }
        _ => true,
    }
}

/// What `[services.tls]` says, with its PEM files read and parsed.
#[derive(Default)]
struct Files {
    ca_file: Option<PathBuf>,
    ca: Option<Vec<CertificateDer<'static>>>,
    server_name: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth: Option<ClientPair>,
    insecure: bool,
}

fn files(t: &RawUpstreamTls, key: &str, ctx: &mut Ctx<'_>) -> Option<Files> {
    let k = |field: &str| format!("{key}.{field}");
    let mut ok = true;
    let mut out = Files {
        insecure: t
            .insecure_skip_verify
            .as_ref()
            .is_some_and(|v| *v.get_ref()),
        ..Files::default()
    };
    let base = Path::new(ctx.file())
        .parent()
        .unwrap_or(Path::new(""))
        .to_owned();
    if let Some(v) = &t.ca_file {
        if out.insecure {
            let msg = "ca_file has no effect with insecure_skip_verify = true";
            let hint = "remove one of them (verifying against ca_file is the safe choice)";
            ctx.error(v.span(), k("ca_file"), msg, Some(hint.into()));
            ok = false;
        }
        match read(v, &base, &k("ca_file"), ctx) {
            Some((path, pem)) => match certs(&pem) {
                Ok(c) => {
                    out.ca = Some(c);
                    out.ca_file = Some(path);
                }
                Err(why) => {
                    let msg = format!("CA file \"{}\": {why}", path.display());
                    ctx.error(v.span(), k("ca_file"), msg, None);
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    if let Some(v) = &t.server_name {
        match ctx.string(v, &k("server_name")) {
            Some(name) if tls::server_name(&name).is_some() => out.server_name = Some(name),
            Some(name) => {
                let msg = format!("invalid server name \"{name}\"");
                let hint = "a DNS name such as \"api.internal\" or an IP address";
                ctx.error(v.span(), k("server_name"), msg, Some(hint.into()));
                ok = false;
            }
            None => ok = false,
        }
    }
    match client_pair(t, &base, key, ctx) {
        Some(Some((cert_file, key_file, pair))) => {
            out.cert_file = Some(cert_file);
            out.key_file = Some(key_file);
            out.client_auth = Some(pair);
        }
        Some(None) => {}
        None => ok = false,
    }
    ok.then_some(out)
}

/// A client certificate chain and its key, read from `client_cert_file` and
/// `client_key_file` (both or neither): `Some(None)` for neither, `None` after reporting.
fn client_pair(
    t: &RawUpstreamTls,
    base: &Path,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Option<(PathBuf, PathBuf, ClientPair)>> {
    let k = |field: &str| format!("{key}.{field}");
    match (&t.client_cert_file, &t.client_key_file) {
        (Some(c), Some(kf)) => {
            let chain = read(c, base, &k("client_cert_file"), ctx).and_then(|(path, pem)| {
                match certs(&pem) {
                    Ok(chain) => Some((path, chain)),
                    Err(why) => {
                        let msg = format!("client certificate file \"{}\": {why}", path.display());
                        ctx.error(c.span(), k("client_cert_file"), msg, None);
                        None
                    }
                }
            });
            let pkey = read(kf, base, &k("client_key_file"), ctx).and_then(|(path, pem)| {
                match PrivateKeyDer::from_pem_slice(&pem) {
                    Ok(key) => Some((path, key)),
                    Err(e) => {
                        let msg = format!(
                            "client key file \"{}\": no private key ({e})",
                            path.display()
                        );
                        ctx.error(kf.span(), k("client_key_file"), msg, None);
                        None
                    }
                }
            });
            let ((cp, chain), (kp, pkey)) = (chain?, pkey?);
            Some(Some((cp, kp, (chain, pkey))))
        }
        (Some(v), None) | (None, Some(v)) => {
            let (have, need) = match t.client_cert_file {
                Some(_) => ("client_cert_file", "client_key_file"),
                None => ("client_key_file", "client_cert_file"),
            };
            let msg = format!("{have} needs {need}");
            let hint = "a client certificate is presented with its private key: set both";
            ctx.error(v.span(), k(have), msg, Some(hint.into()));
            None
        }
        (None, None) => Some(None),
    }
}

/// A client certificate chain with its private key.
type ClientPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Every certificate in a PEM text (at least one).
fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not valid PEM ({e})"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE found in it".into());
    }
    Ok(certs)
}

/// Reads a file named relative to the config file's directory.
fn read(
    v: &Spanned<String>,
    base: &Path,
    key: &str,
    ctx: &mut Ctx<'_>,
) -> Option<(PathBuf, Vec<u8>)> {
    let path = base.join(ctx.string(v, key)?);
    match std::fs::read(&path) {
        Ok(bytes) => Some((path, bytes)),
        Err(e) => {
            let msg = format!("cannot read \"{}\": {e}", path.display());
            let hint = "relative paths start at the config file's directory";
            ctx.error(v.span(), key, msg, Some(hint.into()));
            None
        }
    }
}

/// The span of the first key written in the table (the table itself has none).
fn first_span(t: &RawUpstreamTls) -> Option<Range<usize>> {
    let strings = [
        &t.ca_file,
        &t.server_name,
        &t.client_cert_file,
        &t.client_key_file,
    ];
    let mut spans: Vec<Range<usize>> = strings
        .iter()
        .filter_map(|v| v.as_ref().map(Spanned::span))
        .collect();
    spans.extend(t.insecure_skip_verify.as_ref().map(Spanned::span));
    spans.into_iter().min_by_key(|s| s.start)
}
