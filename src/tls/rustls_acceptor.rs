//! The default TLS provider: rustls 0.23 through `futures-rustls`.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::transport::TcpTransport;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::crypto::CryptoProvider;
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{RootCertStore, ServerConfig};

use super::error::TlsConfigError;
use super::{TlsAccepted, TlsAcceptor, pem, provider};

/// A [`TlsAcceptor`] backed by rustls: pass it to
/// [`ServerBuilder::bind_tls`](crate::ServerBuilder::bind_tls) or
/// [`Server::add_bind_tls`](crate::Server::add_bind_tls).
///
/// Built from a PEM certificate chain and private key with the safe
/// defaults listed in the [module docs](super) (TLS 1.3 and 1.2, AEAD
/// suites only), or from any [`rustls::ServerConfig`](ServerConfig). With
/// client-certificate authentication
/// ([`RustlsAcceptorBuilder::with_client_auth`]), the chain the client
/// presented and rustls verified is on the request:
/// [`WebSocketRequest::peer_certificates`](crate::WebSocketRequest::peer_certificates).
///
/// Cheap to clone: clones share one configuration.
///
/// # Examples
///
/// ```no_run
/// use wsgate::Server;
/// use wsgate::tls::RustlsAcceptor;
///
/// # wsgate::runtime::block_on(async {
/// let acceptor = RustlsAcceptor::from_pem_files("fullchain.pem", "privkey.pem")?;
/// let server = Server::builder().bind_tls("0.0.0.0:443", acceptor).await?;
/// println!("wss://{}", server.local_addr());
/// # Ok::<(), Box<dyn std::error::Error>>(()) });
/// ```
#[derive(Clone)]
pub struct RustlsAcceptor {
    config: Arc<ServerConfig>,
    acceptor: futures_rustls::TlsAcceptor,
}

impl RustlsAcceptor {
    /// An acceptor with the default settings, serving the certificate chain
    /// (leaf first, then intermediates) and private key in these PEM texts.
    /// The key may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC); ECDSA, Ed25519 and
    /// RSA keys are supported.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::NoCertificates`], [`TlsConfigError::NoPrivateKey`]
    /// or [`TlsConfigError::Pem`] for unusable PEM text,
    /// [`TlsConfigError::InvalidCertificateOrKey`] for a key rustls cannot
    /// use or that does not match the certificate.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::tls::RustlsAcceptor;
    ///
    /// # fn f() -> Result<(), wsgate::tls::TlsConfigError> {
    /// let cert = std::fs::read("cert.pem").unwrap();
    /// let key = std::fs::read("key.pem").unwrap();
    /// let acceptor = RustlsAcceptor::from_pem(&cert, &key)?;
    /// # Ok(()) }
    /// ```
    pub fn from_pem(
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<RustlsAcceptor, TlsConfigError> {
        RustlsAcceptor::builder(cert_pem, key_pem)?.build()
    }

    /// Like [`from_pem`](Self::from_pem), reading the two PEM files (they
    /// may be the same file, holding both).
    ///
    /// # Errors
    ///
    /// As [`from_pem`](Self::from_pem), and [`TlsConfigError::ReadFile`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f() -> Result<(), wsgate::tls::TlsConfigError> {
    /// let acceptor = wsgate::tls::RustlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// # Ok(()) }
    /// ```
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<RustlsAcceptor, TlsConfigError> {
        RustlsAcceptor::builder_from_pem_files(cert_path, key_path)?.build()
    }

    /// An acceptor using `config` as it is: for settings the builder does
    /// not offer (ALPN, session storage, other protocol versions, a
    /// certificate resolver for several names).
    ///
    /// The peer certificates on each request are those rustls reports for
    /// the connection, so with a client-certificate verifier in `config`
    /// they are the verified chain.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wsgate::tls::{RustlsAcceptor, rustls};
    ///
    /// # fn f(chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// #      key: rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
    /// let config = rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
    ///     .with_no_client_auth()
    ///     .with_single_cert(chain, key)?;
    /// let acceptor = RustlsAcceptor::from_config(Arc::new(config));
    /// # Ok(()) }
    /// ```
    pub fn from_config(config: Arc<ServerConfig>) -> RustlsAcceptor {
        RustlsAcceptor {
            acceptor: futures_rustls::TlsAcceptor::from(config.clone()),
            config,
        }
    }

    /// A builder for an acceptor with client-certificate authentication or
    /// a chosen crypto provider, serving the certificate chain and key in
    /// these PEM texts.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::NoCertificates`], [`TlsConfigError::NoPrivateKey`]
    /// or [`TlsConfigError::Pem`] for unusable PEM text.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::tls::RustlsAcceptor;
    ///
    /// # fn f(cert: &[u8], key: &[u8], ca: &[u8]) -> Result<(), wsgate::tls::TlsConfigError> {
    /// let acceptor = RustlsAcceptor::builder(cert, key)?
    ///     .with_client_auth(ca, true)?
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(
        cert_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<RustlsAcceptorBuilder, TlsConfigError> {
        Ok(RustlsAcceptorBuilder {
            chain: pem::certificates(cert_pem.as_ref())?,
            key: pem::private_key(key_pem.as_ref())?,
            client_auth: None,
            provider: None,
        })
    }

    /// Like [`builder`](Self::builder), reading the two PEM files.
    ///
    /// # Errors
    ///
    /// As [`builder`](Self::builder), and [`TlsConfigError::ReadFile`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::tls::RustlsAcceptor;
    ///
    /// # fn f() -> Result<(), wsgate::tls::TlsConfigError> {
    /// let ca = std::fs::read("clients-ca.pem").unwrap();
    /// let acceptor = RustlsAcceptor::builder_from_pem_files("cert.pem", "key.pem")?
    ///     .with_client_auth(&ca, false)?
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder_from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<RustlsAcceptorBuilder, TlsConfigError> {
        let cert = pem::read(cert_path.as_ref())?;
        let key = pem::read(key_path.as_ref())?;
        RustlsAcceptor::builder(cert, key)
    }

    /// The rustls configuration in use.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(acceptor: wsgate::tls::RustlsAcceptor) {
    /// let provider = acceptor.config().crypto_provider();
    /// println!("{} cipher suites", provider.cipher_suites.len());
    /// # }
    /// ```
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

impl fmt::Debug for RustlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsAcceptor").finish_non_exhaustive()
    }
}

impl TlsAcceptor for RustlsAcceptor {
    fn accept(
        &self,
        stream: TcpTransport,
    ) -> Pin<Box<dyn Future<Output = io::Result<TlsAccepted>> + Send>> {
        let handshake = self.acceptor.accept(stream);
        Box::pin(async move {
            let stream = handshake.await?;
            let peer_certificates = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| chain.iter().map(|cert| cert.to_vec()).collect())
                .unwrap_or_default();
            Ok(TlsAccepted {
                stream: Box::new(stream),
                peer_certificates,
            })
        })
    }
}

/// Client-certificate settings.
struct ClientAuth {
    roots: RootCertStore,
    required: bool,
}

/// Builds a [`RustlsAcceptor`] with client-certificate authentication or a
/// chosen crypto provider. Made by [`RustlsAcceptor::builder`] or
/// [`RustlsAcceptor::builder_from_pem_files`].
///
/// # Examples
///
/// ```no_run
/// use wsgate::tls::RustlsAcceptor;
///
/// # fn f(cert: &[u8], key: &[u8], ca: &[u8]) -> Result<(), wsgate::tls::TlsConfigError> {
/// // Only clients with a certificate issued by `ca` get through.
/// let acceptor = RustlsAcceptor::builder(cert, key)?.with_client_auth(ca, true)?.build()?;
/// # Ok(()) }
/// ```
pub struct RustlsAcceptorBuilder {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: Option<ClientAuth>,
    provider: Option<Arc<CryptoProvider>>,
}

impl RustlsAcceptorBuilder {
    /// Asks clients for a certificate and verifies it against the root
    /// certificates in `roots_pem` (one or more `CERTIFICATE` sections).
    ///
    /// With `required`, a client without a valid certificate fails the TLS
    /// handshake. Without it, a client may present no certificate (its
    /// request then has no
    /// [`peer_certificates`](crate::WebSocketRequest::peer_certificates)),
    /// but one that presents an untrusted certificate still fails.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::NoCertificates`] or [`TlsConfigError::Pem`] for
    /// unusable PEM text, [`TlsConfigError::InvalidRootCertificate`] for a
    /// certificate that cannot be a trust anchor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use wsgate::tls::RustlsAcceptor;
    ///
    /// # fn f(cert: &[u8], key: &[u8]) -> Result<(), wsgate::tls::TlsConfigError> {
    /// let ca = std::fs::read("clients-ca.pem").unwrap();
    /// let acceptor = RustlsAcceptor::builder(cert, key)?.with_client_auth(&ca, true)?.build()?;
    /// # Ok(()) }
    /// ```
    pub fn with_client_auth(
        mut self,
        roots_pem: impl AsRef<[u8]>,
        required: bool,
    ) -> Result<RustlsAcceptorBuilder, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        pem::add_roots(&mut roots, roots_pem.as_ref())?;
        self.client_auth = Some(ClientAuth { roots, required });
        Ok(self)
    }

    /// Uses `provider` for cryptography instead of the default (the
    /// process-wide default provider if the application installed one, else
    /// *ring*).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wsgate::tls::{RustlsAcceptor, rustls};
    ///
    /// # fn f(cert: &[u8], key: &[u8]) -> Result<(), wsgate::tls::TlsConfigError> {
    /// // Only the TLS 1.3 suites of ring.
    /// let mut provider = rustls::crypto::ring::default_provider();
    /// provider.cipher_suites.retain(|s| s.version() == &rustls::version::TLS13);
    /// let acceptor = RustlsAcceptor::builder(cert, key)?
    ///     .with_crypto_provider(Arc::new(provider))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn with_crypto_provider(mut self, provider: Arc<CryptoProvider>) -> RustlsAcceptorBuilder {
        self.provider = Some(provider);
        self
    }

    /// Builds the acceptor: TLS 1.3 and 1.2 with the provider's cipher
    /// suites (see the [module docs](super)), in the client's order of
    /// preference.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::InvalidCertificateOrKey`] for a key rustls cannot
    /// use or that does not match the certificate,
    /// [`TlsConfigError::NoCryptoProvider`] without a provider,
    /// [`TlsConfigError::UnsupportedProvider`] or
    /// [`TlsConfigError::ClientVerifier`] with an unusable custom provider.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(cert: &[u8], key: &[u8]) -> Result<(), wsgate::tls::TlsConfigError> {
    /// let acceptor = wsgate::tls::RustlsAcceptor::builder(cert, key)?.build()?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<RustlsAcceptor, TlsConfigError> {
        let provider = match self.provider {
            Some(provider) => provider,
            None => provider::default()?,
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::UnsupportedProvider)?;
        let builder = match self.client_auth {
            None => builder.with_no_client_auth(),
            Some(ClientAuth { roots, required }) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(TlsConfigError::ClientVerifier)?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(self.chain, self.key)
            .map_err(TlsConfigError::InvalidCertificateOrKey)?;
        Ok(RustlsAcceptor::from_config(Arc::new(config)))
    }
}

impl fmt::Debug for RustlsAcceptorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsAcceptorBuilder")
            .field("certificates", &self.chain.len())
            .field(
                "client_auth",
                &self.client_auth.as_ref().map(|auth| auth.required),
            )
            .finish_non_exhaustive()
    }
}
