//! Validation: raw TOML -> the runtime `Config`, collecting every problem (never stopping at
//! the first) as a `ConfigError` with file, 1-based line/column, dotted key, message and hint.
//!
//! Submodules: `document` (parse + per-section serde), `ctx` (error collection, spans,
//! durations), `hint` (did-you-mean), `server`, `admin`, `services` (with `resilience` and
//! `statuses`), `routes`, `policy` (with `auth`, `jwt`, `jwt_keys`, `limits`, `headers`,
//! `cors`, `cache` and `compression`), `consumers`, `tls` (`[[tls]]` listeners), `acme`,
//! `telemetry`, `upstream_tls`.

mod acme;
mod admin;
mod answers;
mod auth;
mod cache;
mod cluster;
mod compression;
mod consumers;
mod cors;
mod ctx;
mod discovery;
mod document;
mod fields;
mod forward_auth;
mod headers;
mod hint;
mod jwt;
mod jwt_keys;
mod limits;
mod log;
mod otel_env;
mod outbound;
mod policy;
mod resilience;
mod routes;
mod server;
mod services;
mod statuses;
mod stream;
mod telemetry;
mod tls;
mod traffic;
mod upstream_tls;

use std::path::Path;

use super::{Config, ConfigError, ConfigErrors};
use ctx::{Ctx, Lookup};

/// Parses and validates config text. `file` is only used in error locations.
///
/// `${VAR}` references in string values are expanded from the process environment.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    parse_with_env(text, file, &|name| std::env::var(name).ok())
}

/// Reads, parses and validates a config file; sets `Config::source`.
///
/// An unreadable file is reported as one `ConfigError` with line and column 0.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            key: "(file)".to_owned(),
            message: format!("cannot read config file: {e}"),
            hint: None,
        }])
    })?;
    let mut config = parse_str(&text, &file)?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

/// What `portcullis check` prints: `Ok` with the one-line summary of a valid file, `Err` with
/// every problem (file:line:column) and their count.
pub fn check_file(path: &Path) -> Result<String, String> {
    match load_file(path) {
        Ok(c) => {
            let tcp = match c.tcp.len() {
                0 => String::new(),
                n => format!(", {n} tcp listeners"),
            };
            Ok(format!(
                "{}: ok ({} services, {} routes{tcp})",
                path.display(),
                c.services.len(),
                c.routes.len()
            ))
        }
        Err(errs) => Err(format!("{errs}\n{} problem(s) found", errs.0.len())),
    }
}

/// `parse_str` with an explicit environment (for tests).
pub(super) fn parse_with_env(
    text: &str,
    file: &str,
    lookup: Lookup<'_>,
) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx::new(file, text, lookup);
    let Some(doc) = document::split(text, &mut ctx) else {
        return Err(ConfigErrors(ctx.into_errors()));
    };
    let server = server::server(doc.server.as_ref(), !doc.tls.is_empty(), &mut ctx);
    let log = log::log(doc.log.as_ref(), &mut ctx);
    let (rate_limit, redis) = limits::settings(doc.rate_limit.as_ref(), &mut ctx);
    let (cache, store) = cache::settings(doc.cache.as_ref(), &mut ctx);
    let admin = admin::admin(doc.admin.as_ref(), &server, doc.server.as_ref(), &mut ctx);
    let cluster = cluster::cluster(doc.cluster.as_ref(), &mut ctx);
    let outbound = outbound::outbound(doc.outbound.as_ref(), &mut ctx);
    let taken = tls::Taken {
        server: &server.listen,
        admin: admin.enabled.then_some(admin.listen),
        probes: admin.probe_listen,
        acme: doc.acme.is_some(),
    };
    let tls = tls::tls(&doc.tls, taken, &mut ctx);
    let acme = acme::acme(
        doc.acme.as_ref(),
        !doc.tls.is_empty(),
        &outbound.client,
        &mut ctx,
    );
    let telemetry = telemetry::telemetry(doc.telemetry.as_ref(), &mut ctx);
    let error_pages = doc
        .error_pages
        .as_ref()
        .map_or(Some(Default::default()), |s| {
            traffic::error_pages(&s.raw, "error_pages", &mut ctx)
        });
    let defaults = doc.defaults.as_ref();
    let policies = policy::policies(&doc.policies, defaults, redis, store, &mut ctx);
    let services = services::services(&doc.services, &mut ctx);
    let routes = routes::routes(&doc.routes, &services, &policies, &mut ctx);
    let taken = stream_taken(&server, &admin, &tls);
    let tcp = stream::tcp(&doc.tcp, taken, &services, &mut ctx);
    // Route names as validated, or as written for routes with problems (already reported).
    let route_names: Vec<String> = routes
        .iter()
        .zip(&doc.routes)
        .filter_map(|(r, item)| r.as_ref().map(|r| r.def.name.clone()).or(item.name.clone()))
        .collect();
    let consumers = consumers::consumers(&doc.consumers, &route_names, &mut ctx);
    if !ctx.is_clean() {
        return Err(ConfigErrors(ctx.into_errors()));
    }
    // With no errors reported every element validated, so the routes' service indices
    // (element indices) are indices into `services`, and their policy indices (positions in
    // name order) indices into `policies`.
    let services: Option<Vec<_>> = services.specs.into_iter().collect();
    let routes: Option<Vec<_>> = routes.into_iter().collect();
    let policies: Option<Vec<_>> = policies.specs.into_iter().collect();
    let consumers: Option<Vec<_>> = consumers.into_iter().collect();
    let tls: Option<Vec<_>> = tls.into_iter().collect();
    let tcp: Option<Vec<_>> = tcp.into_iter().collect();
    let (Some(services), Some(routes), Some(policies), Some(consumers), Some(tls), Some(tcp)) =
        (services, routes, policies, consumers, tls, tcp)
    else {
        return Err(ConfigErrors(vec![ConfigError {
            file: file.to_owned(),
            line: 0,
            column: 0,
            key: "(config)".to_owned(),
            message: "internal error: an invalid entry was not reported".to_owned(),
            hint: None,
        }]));
    };
    Ok(Config {
        source: None,
        text: Some(std::sync::Arc::from(text)),
        server,
        log,
        services,
        routes,
        consumers,
        policies,
        rate_limit,
        cache,
        admin,
        cluster,
        outbound,
        tls,
        acme,
        tcp,
        telemetry,
        error_pages: error_pages.unwrap_or_default(),
    })
}

/// The addresses of the HTTP, TLS and admin listeners, which `[[tcp]]` may not take.
fn stream_taken(
    server: &super::ServerSettings,
    admin: &super::admin::AdminSettings,
    tls: &[Option<super::tls::TlsSpec>],
) -> stream::Taken {
    let mut taken: stream::Taken = Vec::new();
    for a in &server.listen {
        taken.push((*a, "[server] listen".to_owned()));
    }
    if admin.enabled {
        taken.push((admin.listen, "[admin] listen".to_owned()));
    }
    if let Some(a) = admin.probe_listen {
        taken.push((a, "[admin] probe_listen".to_owned()));
    }
    for t in tls.iter().flatten() {
        for a in &t.listen {
            taken.push((*a, "[[tls]] listen".to_owned()));
        }
    }
    taken
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_acme;
#[cfg(test)]
mod tests_admin;
#[cfg(test)]
mod tests_cache;
#[cfg(test)]
mod tests_cache_field;
#[cfg(test)]
mod tests_compression;
#[cfg(test)]
mod tests_discovery;
#[cfg(test)]
mod tests_forward_auth;
#[cfg(test)]
mod tests_golden;
#[cfg(test)]
mod tests_log;
#[cfg(test)]
mod tests_outbound;
#[cfg(test)]
mod tests_policy;
#[cfg(test)]
mod tests_resilience;
#[cfg(test)]
mod tests_stream;
#[cfg(test)]
mod tests_telemetry;
#[cfg(test)]
mod tests_telemetry_env;
#[cfg(test)]
mod tests_tls;
#[cfg(test)]
mod tests_traffic;
#[cfg(test)]
mod tests_upstream_headers;
#[cfg(test)]
mod tests_upstream_tls;
