//! ACME on the serving side: what the listeners need while `crate::acme` orders certificates.
//! [`AcmeCerts`] holds the pending HTTP-01 tokens (answered on the plaintext listeners at
//! `/.well-known/acme-challenge/TOKEN`), the TLS-ALPN-01 challenge certificates (RFC 8737:
//! served to a ClientHello offering ALPN `acme-tls/1`), and the issued certificates by name,
//! which the SNI resolver prefers over the `[[tls.certificates]]` files. Issued certificates
//! sit behind an `ArcSwap`, so a renewal reaches new handshakes with no restart; the
//! challenge maps change a few times per order and are read only by validation requests.
//! In cluster mode a token another instance set up is looked up in Redis through the `remote`
//! hook `crate::acme` sets, so the CA's validation request may reach any instance.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use arc_swap::ArcSwap;
use rustls::server::ClientHello;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::names::{CertNames, Served};
use super::validity::{validity, CertTime};

/// The ALPN protocol of TLS-ALPN-01 validation (RFC 8737 §6.2).
pub const ALPN: &[u8] = b"acme-tls/1";

/// The path prefix of HTTP-01 validation requests (RFC 8555 §8.3).
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// Looks a token up where other instances publish theirs: its key authorization, if any.
pub type Remote =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync>;

/// The ACME state the listeners read; one per gateway, shared with `crate::acme`.
#[derive(Default)]
pub struct AcmeCerts {
    /// Cluster mode: the tokens other instances set up.
    remote: OnceLock<Remote>,
    /// HTTP-01: token -> key authorization.
    tokens: RwLock<HashMap<String, String>>,
    /// TLS-ALPN-01: name -> the challenge certificate.
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// Issued certificates by name.
    issued: ArcSwap<HashMap<String, Arc<Served>>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for AcmeCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeCerts")
            .field("tokens", &read(&self.tokens).len())
            .field("issued", &self.issued.load().len())
            .finish_non_exhaustive()
    }
}

impl AcmeCerts {
    /// The key authorization of a pending HTTP-01 token (`path` is the request path), set up
    /// here or (cluster mode) by another instance.
    pub async fn http01_anywhere(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(HTTP01_PREFIX)?;
        // An RFC 8555 token is base64url; anything else (any client can ask) is not looked up,
        // in Redis least of all.
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if token.is_empty() || token.len() > 256 || !token.bytes().all(base64url) {
            return None;
        }
        if let Some(k) = read(&self.tokens).get(token).cloned() {
            return Some(k);
        }
        let remote = self.remote.get()?;
        remote(token.to_owned()).await
    }

    /// Looks tokens not set up here up with `remote` (set once).
    pub fn set_remote(&self, remote: Remote) {
        let _ = self.remote.set(remote);
    }

    /// Answers `token` with `key_authorization` until [`AcmeCerts::remove_token`].
    pub fn add_token(&self, token: &str, key_authorization: &str) {
        write(&self.tokens).insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn remove_token(&self, token: &str) {
        write(&self.tokens).remove(token);
    }

    /// Serves `cert` to TLS-ALPN-01 validation of `name` until [`AcmeCerts::remove_alpn`].
    pub fn add_alpn(&self, name: &str, cert: Arc<CertifiedKey>) {
        write(&self.alpn).insert(name.to_owned(), cert);
    }

    /// How many TLS-ALPN-01 challenge certificates are installed.
    pub fn alpn_count(&self) -> usize {
        read(&self.alpn).len()
    }

    pub fn remove_alpn(&self, name: &str) {
        write(&self.alpn).remove(name);
    }

    /// Whether a TLS-ALPN-01 challenge certificate for `name` is served.
    pub fn has_alpn(&self, name: &str) -> bool {
        read(&self.alpn).contains_key(name)
    }

    /// Serves `served` for `name` from the next handshake on.
    pub fn install(&self, name: &str, served: Arc<Served>) {
        self.issued.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(name.to_owned(), served.clone());
            m
        });
    }

    /// The issued certificate for `name` (any case, a trailing dot ignored), if any.
    pub fn issued(&self, name: &str) -> Option<Arc<Served>> {
        let name = name.trim_end_matches('.');
        let issued = self.issued.load();
        match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => issued.get(&name.to_ascii_lowercase()).cloned(),
            false => issued.get(name).cloned(),
        }
    }

    /// The certificate for a handshake, when ACME decides it: `Some(None)` for a TLS-ALPN-01
    /// hello with no pending challenge (refused), `None` when the SNI table should decide.
    pub fn resolve(&self, hello: &ClientHello<'_>) -> Option<Option<Arc<CertifiedKey>>> {
        let name = hello.server_name()?;
        let acme_alpn = hello.alpn().is_some_and(|mut a| a.any(|p| p == ALPN));
        if acme_alpn {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            return Some(read(&self.alpn).get(&name).cloned());
        }
        self.issued(name).map(|s| Some(s.key.clone()))
    }
}

/// The TLS-ALPN-01 certificate for `name` (RFC 8737 §3): self-signed, the name as its only
/// subjectAltName, and the critical acmeIdentifier extension holding `digest`, the SHA-256
/// of the key authorization.
pub fn alpn_certificate(name: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    let mut params =
        rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(|e| e.to_string())?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `CertifiedKey::from_der`: its key check parses the certificate with webpki, which
    // refuses the critical acmeIdentifier extension it does not know.
    let signer = (super::provider().key_provider)
        .load_private_key(der)
        .map_err(|e| e.to_string())?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

/// A certificate's (notBefore, notAfter).
pub type Validity = (CertTime, CertTime);

/// A certificate ready to serve from its chain and key (PEM), with its validity.
pub fn served(
    cert_pem: &[u8],
    key_pem: &[u8],
    name: &std::path::Path,
) -> Result<(Arc<Served>, Option<Validity>), String> {
    let loaded = super::certs::parse_pair(cert_pem, key_pem, name, name).map_err(|(_, e)| e)?;
    let validity = loaded.key.cert.first().and_then(|c| validity(c));
    let served = Served {
        key: loaded.key,
        names: CertNames::new(&loaded.dns_names),
    };
    Ok((Arc::new(served), validity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http01_answers_pending_tokens_only() {
        let a = AcmeCerts::default();
        a.add_token("tok", "tok.thumb");
        let ask = |p: &'static str| a.http01_anywhere(p);
        assert_eq!(
            ask("/.well-known/acme-challenge/tok").await.as_deref(),
            Some("tok.thumb")
        );
        assert_eq!(ask("/.well-known/acme-challenge/other").await, None);
        assert_eq!(ask("/tok").await, None);
        a.add_token("t.k", "not base64url");
        assert_eq!(ask("/.well-known/acme-challenge/t.k").await, None);
        a.remove_token("tok");
        assert_eq!(ask("/.well-known/acme-challenge/tok").await, None);
    }

    #[test]
    fn the_alpn_certificate_carries_the_name() {
        let c = alpn_certificate("a.test", &[7; 32]).unwrap();
        // The name, the acmeIdentifier OID 1.3.6.1.5.5.7.1.31 and the digest are in the DER
        // (webpki refuses to parse it: the extension is critical and unknown to it).
        let der = c.cert[0].as_ref();
        assert!(der.windows(6).any(|w| w == b"a.test"));
        let oid = [0x2b, 6, 1, 5, 5, 7, 1, 31];
        assert!(der.windows(oid.len()).any(|w| w == oid));
        assert!(der.windows(32).any(|w| w == [7; 32]));
    }
}
