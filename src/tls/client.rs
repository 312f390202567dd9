//! The client side of `wss://`: root certificates, a client certificate,
//! and the TLS handshake over a connected TCP stream.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::sign::CertifiedKey;
use futures_rustls::rustls::{ClientConfig, RootCertStore};
use http_types::url::Host;

use super::error::TlsConfigError;
use super::{pem, provider};
use crate::error::Error;
use crate::transport::BoxTransport;

/// A client certificate chain and its key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// The TLS settings of a [`Client`](crate::Client).
#[derive(Clone)]
pub(crate) struct ClientTls {
    /// Roots added by the application, trusted besides the OS roots.
    extra_roots: RootCertStore,
    identity: Option<Arc<Identity>>,
    /// A whole configuration from the application, used as it is.
    config: Option<Arc<ClientConfig>>,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls {
            extra_roots: RootCertStore::empty(),
            identity: None,
            config: None,
        }
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("extra_roots", &self.extra_roots.len())
            .field("client_certificate", &self.identity.is_some())
            .field("custom_config", &self.config.is_some())
            .finish()
    }
}

impl ClientTls {
    pub(crate) fn add_roots(&mut self, pem: &[u8]) -> Result<(), TlsConfigError> {
        // All or nothing: a bad certificate leaves the roots as they were.
        let mut roots = self.extra_roots.clone();
        pem::add_roots(&mut roots, pem)?;
        self.extra_roots = roots;
        Ok(())
    }

    pub(crate) fn set_identity(&mut self, cert: &[u8], key: &[u8]) -> Result<(), TlsConfigError> {
        let chain = pem::certificates(cert)?;
        let key = pem::private_key(key)?;
        // Check now that the key is usable and belongs to the certificate,
        // so that connect cannot fail on it later.
        CertifiedKey::from_der(chain.clone(), key.clone_key(), &*provider::default()?)
            .map_err(TlsConfigError::InvalidCertificateOrKey)?;
        self.identity = Some(Arc::new(Identity { chain, key }));
        Ok(())
    }

    pub(crate) fn set_config(&mut self, config: Arc<ClientConfig>) {
        self.config = Some(config);
    }

    /// The configuration for one connection.
    fn client_config(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        if let Some(config) = &self.config {
            return Ok(config.clone());
        }
        let mut roots = native_roots();
        roots.roots.extend(self.extra_roots.roots.iter().cloned());
        let builder = ClientConfig::builder_with_provider(provider::default()?)
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::UnsupportedProvider)?
            .with_root_certificates(roots);
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(TlsConfigError::InvalidCertificateOrKey)?,
        };
        Ok(Arc::new(config))
    }

    /// Runs the TLS handshake over `stream`, for the server `host` (its name
    /// is sent as SNI and checked against the certificate).
    pub(crate) async fn connect(
        &self,
        host: &Host<String>,
        stream: crate::transport::TcpTransport,
    ) -> Result<BoxTransport, Error> {
        let config = self
            .client_config()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let name = match host {
            Host::Domain(domain) => ServerName::try_from(domain.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            Host::Ipv4(ip) => ServerName::IpAddress(IpAddr::V4(*ip).into()),
            Host::Ipv6(ip) => ServerName::IpAddress(IpAddr::V6(*ip).into()),
        };
        let stream = futures_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await?;
        Ok(Box::new(stream))
    }
}

/// The operating system's root certificates, loaded once (feature
/// `native-roots`); certificates that do not parse are skipped.
#[cfg(feature = "native-roots")]
fn native_roots() -> RootCertStore {
    static ROOTS: std::sync::OnceLock<RootCertStore> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            roots
        })
        .clone()
}

/// No OS roots without the `native-roots` feature: only the roots the
/// application added.
#[cfg(not(feature = "native-roots"))]
fn native_roots() -> RootCertStore {
    RootCertStore::empty()
}
