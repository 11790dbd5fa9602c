//! Choosing the certificate by SNI: exact names first, then a `*.example.com` wildcard for one
//! label, then the default (the first certificate), unless SNI is strict. The table sits
//! behind an `ArcSwap` so a certificate reload swaps it without touching handshakes in
//! progress. With `[acme]`, the ACME certificates (`acme::AcmeCerts`) come first: an issued
//! certificate for the exact name, or the TLS-ALPN-01 challenge certificate.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::names::Served;

/// The certificates of one `[[tls]]` element by name.
#[derive(Debug, Default)]
pub struct CertTable {
    exact: HashMap<String, Arc<Served>>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, Arc<Served>>,
    /// The first certificate.
    default: Option<Arc<Served>>,
}

impl CertTable {
    /// Builds the table from certificates (in config order) and the names each one serves.
    /// A name on two certificates is an error.
    pub fn build(certs: &[(Arc<Served>, Vec<String>)]) -> Result<CertTable, String> {
        let names: Vec<&[String]> = certs.iter().map(|(_, n)| n.as_slice()).collect();
        if let Some((name, a, b)) = duplicate_name(&names) {
            return Err(format!(
                "the server name \"{name}\" is on certificates {a} and {b}"
            ));
        }
        let mut out = CertTable {
            default: certs.first().map(|(k, _)| k.clone()),
            ..CertTable::default()
        };
        for (key, names) in certs {
            for n in names {
                match n.strip_prefix("*.") {
                    Some(base) => out.wildcard.insert(base.to_owned(), key.clone()),
                    None => out.exact.insert(n.clone(), key.clone()),
                };
            }
        }
        Ok(out)
    }

    /// The certificate for the name a client asked for (`None`: no SNI).
    pub fn find(&self, sni: Option<&str>, strict: bool) -> Option<&Arc<Served>> {
        let fallback = || (!strict).then_some(self.default.as_ref()).flatten();
        let Some(name) = sni else {
            return fallback();
        };
        let name: Cow<'_, str> = match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(name.to_ascii_lowercase()),
            false => Cow::Borrowed(name),
        };
        let name = name.trim_end_matches('.');
        if let Some(k) = self.exact.get(name) {
            return Some(k);
        }
        let wild = name
            .split_once('.')
            .and_then(|(_, base)| self.wildcard.get(base));
        wild.or_else(fallback)
    }
}

/// The first name that appears on two certificates: `(name, first index, second index)`.
pub fn duplicate_name(names: &[&[String]]) -> Option<(String, usize, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, list) in names.iter().enumerate() {
        for n in list.iter() {
            match seen.get(n.as_str()) {
                Some(&first) if first != i => return Some((n.clone(), first, i)),
                _ => {
                    seen.insert(n, i);
                }
            }
        }
    }
    None
}

/// The rustls certificate resolver of one `[[tls]]` element.
#[derive(Debug)]
pub struct SniResolver {
    table: ArcSwap<CertTable>,
    strict: bool,
    acme: Option<Arc<super::acme::AcmeCerts>>,
}

impl SniResolver {
    pub fn new(table: CertTable, strict: bool) -> SniResolver {
        SniResolver {
            table: ArcSwap::from_pointee(table),
            strict,
            acme: None,
        }
    }

    /// Serves the ACME certificates of `acme` before the table's.
    pub fn with_acme(mut self, acme: Option<Arc<super::acme::AcmeCerts>>) -> SniResolver {
        self.acme = acme;
        self
    }

    /// Whether ACME certificates are served.
    pub fn has_acme(&self) -> bool {
        self.acme.is_some()
    }

    /// The certificate a client asking for `sni` is served (ACME's first), with its names.
    pub fn served(&self, sni: &str) -> Option<Arc<Served>> {
        if let Some(s) = self.acme.as_ref().and_then(|a| a.issued(sni)) {
            return Some(s);
        }
        self.table.load().find(Some(sni), self.strict).cloned()
    }

    /// The table in use now.
    pub fn table(&self) -> arc_swap::Guard<Arc<CertTable>> {
        self.table.load()
    }

    /// Replaces the certificates; handshakes already past certificate selection keep theirs.
    pub fn swap(&self, table: CertTable) {
        self.table.store(Arc::new(table));
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(decided) = self.acme.as_ref().and_then(|a| a.resolve(&hello)) {
            return decided;
        }
        let table = self.table.load();
        let found = table
            .find(hello.server_name(), self.strict)
            .map(|s| s.key.clone());
        if found.is_none() {
            tracing::debug!(sni = ?hello.server_name(), "TLS handshake refused: no certificate for this name");
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<Served> {
        let c = rcgen::generate_simple_self_signed(vec!["x.test".to_owned()]).unwrap();
        let der = rustls_pki_types::PrivateKeyDer::Pkcs8(c.signing_key.serialize_der().into());
        let k = CertifiedKey::from_der(vec![c.cert.der().clone()], der, &crate::tls::provider());
        let names = crate::tls::names::CertNames::default();
        Arc::new(Served {
            key: Arc::new(k.unwrap()),
            names,
        })
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let (a, b) = (key(), key());
        let t = CertTable::build(&[
            (a.clone(), names(&["api.test"])),
            (b.clone(), names(&["*.corp.test", "corp.test"])),
        ])
        .unwrap();
        let is = |x: Option<&Arc<Served>>, y: &Arc<Served>| Arc::ptr_eq(x.unwrap(), y);
        assert!(is(t.find(Some("api.test"), true), &a));
        assert!(is(t.find(Some("API.Test."), true), &a));
        assert!(is(t.find(Some("x.corp.test"), true), &b));
        assert!(is(t.find(Some("corp.test"), true), &b));
        // A wildcard covers one label only.
        assert!(t.find(Some("a.b.corp.test"), true).is_none());
        assert!(is(t.find(Some("a.b.corp.test"), false), &a));
        assert!(t.find(None, true).is_none());
        assert!(is(t.find(None, false), &a));
    }

    #[test]
    fn a_name_on_two_certificates_is_refused() {
        let err = CertTable::build(&[
            (key(), names(&["a.test", "b.test"])),
            (key(), names(&["c.test", "b.test"])),
        ])
        .unwrap_err();
        assert!(
            err.contains("\"b.test\" is on certificates 0 and 1"),
            "{err}"
        );
    }
}
