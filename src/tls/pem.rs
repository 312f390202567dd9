//! PEM in, DER out: certificate chains, private keys, root certificates.

use std::path::Path;

use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::RootCertStore;

use super::error::TlsConfigError;

/// Reads a whole PEM file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// Every `CERTIFICATE` section, in order (for a chain: leaf first); other
/// sections are skipped. At least one is required.
pub(crate) fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificates);
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1); other sections are
/// skipped.
pub(crate) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    match PrivateKeyDer::pem_slice_iter(pem).next() {
        Some(key) => Ok(key?),
        None => Err(TlsConfigError::NoPrivateKey),
    }
}

/// Adds every certificate in `pem` to `roots` as a trust anchor.
pub(crate) fn add_roots(roots: &mut RootCertStore, pem: &[u8]) -> Result<(), TlsConfigError> {
    for cert in certificates(pem)? {
        roots
            .add(cert)
            .map_err(TlsConfigError::InvalidRootCertificate)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage_pem_have_no_certificates() {
        assert!(matches!(
            certificates(b""),
            Err(TlsConfigError::NoCertificates)
        ));
        assert!(matches!(
            certificates(b"hello\nworld\n"),
            Err(TlsConfigError::NoCertificates)
        ));
        assert!(matches!(
            private_key(b""),
            Err(TlsConfigError::NoPrivateKey)
        ));
    }

    #[test]
    fn unterminated_section_is_a_pem_error() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(certificates(pem), Err(TlsConfigError::Pem(_))));
    }

    #[test]
    fn bad_root_is_rejected() {
        // Valid PEM and base64, but not a certificate.
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let mut roots = RootCertStore::empty();
        assert!(matches!(
            add_roots(&mut roots, pem),
            Err(TlsConfigError::InvalidRootCertificate(_))
        ));
    }

    #[test]
    fn missing_file_names_the_path() {
        match read(Path::new("/nonexistent/wsgate-test.pem")) {
            Err(TlsConfigError::ReadFile { path, .. }) => {
                assert_eq!(path, Path::new("/nonexistent/wsgate-test.pem"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
