//! What can go wrong while setting TLS up.

use std::fmt;
use std::io;
use std::path::PathBuf;

use futures_rustls::pki_types::pem;
use futures_rustls::rustls;

/// Why a TLS configuration (certificates, keys, roots) could not be built.
///
/// Returned by [`RustlsAcceptor`](super::RustlsAcceptor)'s constructors and
/// by the client's [`add_root_certificate`](crate::Client::add_root_certificate)
/// and [`client_certificate`](crate::Client::client_certificate).
///
/// # Examples
///
/// ```
/// use wsgate::tls::{RustlsAcceptor, TlsConfigError};
///
/// let error = RustlsAcceptor::from_pem(b"not PEM", b"").unwrap_err();
/// assert!(matches!(error, TlsConfigError::NoCertificates));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read.
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The PEM text is malformed (a section without its end line, bad
    /// base64).
    Pem(pem::Error),
    /// The PEM text holds no `CERTIFICATE` section.
    NoCertificates,
    /// The PEM text holds no private key (`PRIVATE KEY`, `RSA PRIVATE KEY`
    /// or `EC PRIVATE KEY` section).
    NoPrivateKey,
    /// A certificate given as a trusted root could not be parsed as one.
    InvalidRootCertificate(rustls::Error),
    /// rustls refused the certificate chain and private key: a key type the
    /// crypto provider cannot sign with, or a key that does not belong to
    /// the first certificate of the chain.
    InvalidCertificateOrKey(rustls::Error),
    /// The crypto provider supports neither TLS 1.3 nor TLS 1.2 (only with a
    /// custom provider).
    UnsupportedProvider(rustls::Error),
    /// The client-certificate verifier could not be built (for example, no
    /// root certificate was given).
    ClientVerifier(rustls::server::VerifierBuilderError),
    /// No crypto provider: the `ring` feature is off and the application has
    /// not installed a process-wide default
    /// ([`rustls::crypto::CryptoProvider::install_default`]).
    NoCryptoProvider,
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsConfigError::ReadFile { path, .. } => write!(f, "cannot read {}", path.display()),
            TlsConfigError::Pem(_) => f.write_str("malformed PEM"),
            TlsConfigError::NoCertificates => f.write_str("no CERTIFICATE section in the PEM data"),
            TlsConfigError::NoPrivateKey => f.write_str("no private key section in the PEM data"),
            TlsConfigError::InvalidRootCertificate(_) => f.write_str("unusable root certificate"),
            TlsConfigError::InvalidCertificateOrKey(_) => {
                f.write_str("unusable certificate chain or private key")
            }
            TlsConfigError::UnsupportedProvider(_) => {
                f.write_str("the crypto provider supports no TLS version")
            }
            TlsConfigError::ClientVerifier(_) => f.write_str("cannot verify client certificates"),
            TlsConfigError::NoCryptoProvider => f.write_str(
                "no rustls crypto provider: enable the `ring` feature or install a default provider",
            ),
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsConfigError::ReadFile { source, .. } => Some(source),
            TlsConfigError::Pem(e) => Some(e),
            TlsConfigError::InvalidRootCertificate(e)
            | TlsConfigError::InvalidCertificateOrKey(e)
            | TlsConfigError::UnsupportedProvider(e) => Some(e),
            TlsConfigError::ClientVerifier(e) => Some(e),
            TlsConfigError::NoCryptoProvider
            | TlsConfigError::NoCertificates
            | TlsConfigError::NoPrivateKey => None,
        }
    }
}

impl From<pem::Error> for TlsConfigError {
    fn from(e: pem::Error) -> Self {
        TlsConfigError::Pem(e)
    }
}
