//! Reading PEM files: a certificate chain with its private key (checked to match, and the
//! leaf's DNS names read), and CA certificates for client certificate verification. Used by
//! config validation (so `portcullis check` reports bad files) and at run time (start and
//! live reload).

use std::path::Path;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Which of the two files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Cert,
    Key,
}

/// A certificate chain and key ready for rustls, with the leaf's DNS names.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// The subjectAltName DNS names of the leaf, lowercased (wildcards as `*.example.com`).
    pub dns_names: Vec<String>,
    /// The end of the leaf's validity (`None` if it could not be read).
    pub not_after: Option<super::validity::CertTime>,
}

/// Reads and checks a certificate chain (leaf first) and its private key.
pub fn load_pair(cert_file: &Path, key_file: &Path) -> Result<Loaded, (Which, String)> {
    let cert_pem = read(cert_file, "certificate file").map_err(|e| (Which::Cert, e))?;
    let key_pem = read(key_file, "key file").map_err(|e| (Which::Key, e))?;
    parse_pair(&cert_pem, &key_pem, cert_file, key_file)
}

/// `load_pair` for PEM texts already read (an ACME certificate from Redis); the paths only
/// name them in messages.
pub fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_file: &Path,
    key_file: &Path,
) -> Result<Loaded, (Which, String)> {
    let chain = certificates(cert_pem, cert_file).map_err(|e| (Which::Cert, e))?;
    let dns_names = {
        let leaf = webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| {
            let msg = format!(
                "the first certificate in \"{}\" cannot be parsed: {e}",
                cert_file.display()
            );
            (Which::Cert, msg)
        })?;
        leaf.valid_dns_names()
            .map(|n| n.to_ascii_lowercase())
            .collect()
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        let msg = match e {
            pem::Error::NoItemsFound => format!(
                "no private key in \"{}\" (expected PEM: BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
                key_file.display()
            ),
            e => format!("cannot parse the key file \"{}\": {e}", key_file.display()),
        };
        (Which::Key, msg)
    })?;
    let key = CertifiedKey::from_der(chain, key, &super::provider()).map_err(|e| {
        let msg = match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the key in \"{}\" does not belong to the certificate in \"{}\"",
                key_file.display(),
                cert_file.display()
            ),
            e => format!("unusable private key in \"{}\": {e}", key_file.display()),
        };
        (Which::Key, msg)
    })?;
    let not_after = key.cert.first().and_then(|c| super::validity::not_after(c));
    Ok(Loaded {
        key: Arc::new(key),
        dns_names,
        not_after,
    })
}

/// Reads the CA certificates client certificates must chain to.
pub fn load_roots(ca_file: &Path) -> Result<RootCertStore, String> {
    let pem = read(ca_file, "CA file")?;
    let mut roots = RootCertStore::empty();
    for cert in certificates(&pem, ca_file)? {
        roots.add(cert).map_err(|e| {
            format!(
                "a certificate in \"{}\" is not a usable CA: {e}",
                ca_file.display()
            )
        })?;
    }
    Ok(roots)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} \"{}\": {e}", path.display()))
}

/// Every `CERTIFICATE` block of a PEM text; at least one.
fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot parse \"{}\": {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate in \"{}\" (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}
