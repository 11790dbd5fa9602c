//! Downstream TLS test kit: a private CA made with rcgen that signs server and client
//! certificates, PEM files in a scratch directory, the gateway started with its TLS listeners
//! on ephemeral ports, and an HTTPS client (tokio-rustls + hyper) trusting the CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Gateway;

/// A private CA.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
    pub der: CertificateDer<'static>,
}

/// A certificate signed by the CA, with its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Portcullis Test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (subjectAltName DNS names).
    pub fn server(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate with subject `CN=cn,O=Portcullis Test`.
    pub fn client(&self, cn: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Portcullis Test");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// A scratch directory removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new() -> Dir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("portcullis-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    /// Writes `text` to `name` in the directory; its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes a leaf as `name.crt` and `name.key`; the two paths as TOML strings.
    pub fn leaf(&self, name: &str, leaf: &Leaf) -> (String, String) {
        let c = self.write(&format!("{name}.crt"), &leaf.cert_pem);
        let k = self.write(&format!("{name}.key"), &leaf.key_pem);
        (toml_path(&c), toml_path(&k))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn toml_path(p: &Path) -> String {
    p.display().to_string()
}

/// A gateway with its plaintext listener and one TLS listener per `[[tls]]` element, all on
/// ephemeral ports (the `[[tls]]` listen addresses in the config are placeholders).
pub struct TlsGateway {
    pub gw: Gateway,
    pub tls: Vec<SocketAddr>,
}

pub async fn start(toml: &str) -> TlsGateway {
    let mut config = portcullis::config::parse_str(toml, "test.toml")
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    config.server.threads = 1;
    let gw = super::start_gateway_config(config).await;
    let tls = gw.tls.clone();
    TlsGateway { gw, tls }
}

/// One echo service (`host_header = "preserve"`, health checks off) behind a catch-all route
/// `all`, with `header_read_timeout = "2s"`, then `tls` (the `[[tls]]` tables).
pub fn config(backend: &super::Backend, tls: &str) -> String {
    format!(
        r#"
[server]
header_read_timeout = "2s"

[[services]]
name = "echo"
endpoints = ["http://{}"]
host_header = "preserve"
[services.health_check]
enabled = false

[[routes]]
name = "all"
path = "/*"
service = "echo"

{tls}
"#,
        backend.addr
    )
}

/// A client config trusting `ca`, offering `alpn`, with an optional client certificate.
pub fn client_config(ca: &Ca, alpn: &[&str], cert: Option<&Leaf>) -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut c = match cert {
        None => b.with_no_client_auth(),
        Some(l) => {
            let key = PrivateKeyDer::from_pem_slice(l.key_pem.as_bytes()).unwrap();
            b.with_client_auth_cert(vec![l.der.clone()], key).unwrap()
        }
    };
    c.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    c
}

use rustls::pki_types::pem::PemObject;

/// A TLS connection to `addr` verifying the server as `name` (sent as SNI unless the config
/// turns SNI off).
pub async fn connect(
    addr: SocketAddr,
    name: &str,
    config: ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
}

/// The leaf certificate the server presented.
pub fn peer_leaf(s: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// The DNS names of a certificate's subjectAltName.
pub fn dns_names(der: &CertificateDer<'_>) -> Vec<String> {
    let ee = webpki::EndEntityCert::try_from(der).unwrap();
    ee.valid_dns_names().map(str::to_owned).collect()
}

pub type Reply = Response<Bytes>;

/// One request over an established connection, HTTP/2 if ALPN chose it, else HTTP/1.1.
pub async fn request(
    s: TlsStream<TcpStream>,
    req: Request<Empty<Bytes>>,
) -> Result<Reply, hyper::Error> {
    let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(s);
    let resp = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        send.send_request(req).await?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        send.send_request(req).await?
    };
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// GET `path` on `host` through a new TLS connection (HTTP/2 when ALPN chose it).
pub async fn get(addr: SocketAddr, host: &str, path: &str, config: ClientConfig) -> Reply {
    let s = connect(addr, host, config)
        .await
        .expect("TLS connect failed");
    let req = get_request(&s, host, path);
    tokio::time::timeout(Duration::from_secs(10), request(s, req))
        .await
        .expect("request timed out")
        .expect("request failed")
}

/// A GET for `s`: origin form with Host for HTTP/1.1, the absolute URI (:authority) for h2.
pub fn get_request(s: &TlsStream<TcpStream>, host: &str, path: &str) -> Request<Empty<Bytes>> {
    let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
    let b = match h2 {
        true => Request::get(format!("https://{host}{path}")),
        false => Request::get(path).header("host", host),
    };
    b.body(Empty::new()).unwrap()
}

/// An HTTP/1.1 GET in origin form with a Host header.
pub fn get_request_plain(host: &str, path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", host)
        .body(Empty::new())
        .unwrap()
}

/// Whether a status is 200 (helper for readable asserts).
pub fn ok(r: &Reply) -> bool {
    r.status() == StatusCode::OK
}
