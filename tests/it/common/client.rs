//! A minimal HTTPS/1.1 client on one keep-alive connection (tokio-rustls + hyper), so tests
//! control connection reuse and can read the negotiated TLS version and certificate.

use std::{net::SocketAddr, path::Path, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1::SendRequest, header::HeaderMap};
use hyper_util::rt::TokioIo;
use rustls::{
    ClientConfig, ProtocolVersion, RootCertStore,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("JSON body ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTPS connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    pub tls_version: Option<ProtocolVersion>,
    pub peer_certificate: Option<CertificateDer<'static>>,
    pub closed: tokio::task::JoinHandle<()>,
}

/// A client config that trusts `ca`, limited to `versions`.
pub fn client_config(ca: &Path, versions: &[&'static rustls::SupportedProtocolVersion]) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Conn {
    /// Connects with TLS 1.2 or 1.3, verifying `localhost` against `ca`.
    pub async fn connect(addr: SocketAddr, ca: &Path) -> Self {
        Self::connect_with(addr, client_config(ca, rustls::ALL_VERSIONS))
            .await
            .expect("TLS connect")
    }

    /// Connects with a given client config.
    pub async fn connect_with(addr: SocketAddr, config: ClientConfig) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
        let (_, session) = tls.get_ref();
        let tls_version = session.protocol_version();
        let peer_certificate = session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned());
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        let closed = tokio::spawn(async move {
            _ = conn.await;
        });
        Ok(Self {
            sender,
            tls_version,
            peer_certificate,
            closed,
        })
    }

    /// POSTs a JSON body.
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Reply {
        self.try_post(path, body).await.expect("request")
    }

    /// POSTs a JSON body, returning transport errors.
    pub async fn try_post(&mut self, path: &str, body: Vec<u8>) -> Result<Reply, hyper::Error> {
        let request = Request::post(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// A plain-HTTP GET on a new connection.
pub async fn http_get(addr: SocketAddr, path: &str) -> Reply {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let request = Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(request).await.expect("GET");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}
