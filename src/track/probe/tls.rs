//! The TLS client side of the HTTPS probe: two process-wide rustls configurations (verifying
//! against Mozilla's roots, or accepting any certificate) shared by every probe, and the
//! handshake over an established TCP stream.

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The name the certificate must be valid for (and that goes into SNI when it is a DNS name).
pub(super) enum PeerName {
    Ip(IpAddr),
    Localhost,
}

pub(super) async fn handshake(
    tcp: TcpStream,
    peer: &PeerName,
    verify: bool,
) -> Result<TlsStream<TcpStream>, String> {
    let name = match peer {
        PeerName::Ip(ip) => ServerName::IpAddress((*ip).into()),
        PeerName::Localhost => {
            ServerName::try_from("localhost").expect("localhost is a valid DNS name")
        }
    };
    TlsConnector::from(config(verify))
        .connect(name, tcp)
        .await
        .map_err(|error| reason(&error))
}

fn reason(error: &io::Error) -> String {
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        // Display of `Other` would print the wrapper's Debug ("Other(OtherError(…))").
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) => {
            format!("TLS: invalid peer certificate: {other}")
        }
        Some(tls) => format!("TLS: {tls}"),
        None => format!("TLS: {}", super::io_reason(error)),
    }
}

fn config(verify: bool) -> Arc<ClientConfig> {
    // Built on first use, so a daemon without HTTPS probes pays neither the memory nor the time.
    static VERIFYING: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static ACCEPTING: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let cell = if verify { &VERIFYING } else { &ACCEPTING };
    cell.get_or_init(|| Arc::new(build(verify))).clone()
}

fn build(verify: bool) -> ClientConfig {
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    if verify {
        // The anchors borrow the compiled-in 'static data: this copies ~150 small structs.
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth()
    }
}

/// Accepts any certificate for any name, and any handshake signature: without trust in the
/// certificate, checking that the server holds its key proves nothing (whoever sits in between
/// signs with a key of its own), and skipping it keeps the signature code (RSA, ECDSA and the
/// P-256 tables, ~0.2 MiB of pages) out of memory when only unverified probes run.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    /// What the ClientHello offers; the server picks one of them to sign with.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
