//! Which rustls crypto provider wsgate's TLS configurations use.

use std::sync::Arc;

use futures_rustls::rustls::crypto::CryptoProvider;

use super::error::TlsConfigError;

/// The process-wide default provider if the application installed one,
/// else *ring* (feature `ring`), else an error.
pub(crate) fn default() -> Result<Arc<CryptoProvider>, TlsConfigError> {
    if let Some(provider) = CryptoProvider::get_default() {
        return Ok(provider.clone());
    }
    #[cfg(feature = "ring")]
    {
        Ok(Arc::new(ring()))
    }
    #[cfg(not(feature = "ring"))]
    {
        Err(TlsConfigError::NoCryptoProvider)
    }
}

/// rustls' *ring* provider with its default suites and groups.
///
/// rustls 0.23.48 deprecates `ring::default_provider` with the note "no
/// support for post-quantum algorithms": a remark on *ring*, with no other
/// way to build its provider (the one rustls installs from its own crate
/// features is built by this same function, under the same `allow`). The
/// `ring` feature is the application's choice of *ring*; one that wants
/// post-quantum key exchange installs another provider as the process-wide
/// default, which [`default`] prefers. `allow`, not `expect`: older rustls
/// 0.23 releases have no deprecation here, and both must build cleanly.
#[cfg(feature = "ring")]
#[allow(deprecated)]
pub(crate) fn ring() -> CryptoProvider {
    futures_rustls::rustls::crypto::ring::default_provider()
}

#[cfg(all(test, feature = "ring"))]
mod tests {
    use futures_rustls::rustls;

    /// The defaults the module docs and the README list.
    #[test]
    fn documented_defaults_are_the_ring_defaults() {
        let provider = super::ring();
        let suites: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            suites,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ]
        );
        let groups: Vec<String> = provider
            .kx_groups
            .iter()
            .map(|g| format!("{:?}", g.name()))
            .collect();
        assert_eq!(groups, ["X25519", "secp256r1", "secp384r1"]);
        let versions: Vec<String> = rustls::DEFAULT_VERSIONS
            .iter()
            .map(|v| format!("{:?}", v.version))
            .collect();
        assert_eq!(versions, ["TLSv1_3", "TLSv1_2"]);
    }
}
