//! permessage-deflate negotiation (RFC 7692 §5, §7.1), both ends.
//!
//! Server side: [`negotiate_deflate`] walks the client's offers (already
//! parsed into [`ExtensionOffer`](super::ExtensionOffer)s) and accepts the first one it can honour;
//! [`DeflateParams::response_header`] is the `Sec-WebSocket-Extensions`
//! value for the 101. Client side: [`client_deflate_offer`] builds the
//! offer, [`accept_deflate_response`] checks what the server answered.
//! Either way, the [`DeflateParams`] agreed on build the codec for each end
//! ([`DeflateParams::compressor`], [`DeflateParams::decompressor`]).
//!
//! One limitation shapes the rules: our compressor cannot use an 8-bit
//! (256-byte) window, which zlib-rs refuses for raw DEFLATE. So a server
//! declines an offer demanding `server_max_window_bits=8` (and goes on to
//! the next offer), and a client fails a response demanding
//! `client_max_window_bits=8`, rather than claiming 8 and compressing with 9.
//! Inflating what a peer compressed with 8 is fine.
//!
//! ```
//! use wsgate::handshake::{negotiate_deflate, parse_extensions, DeflateConfig};
//!
//! // What Chrome offers.
//! let offers = parse_extensions("permessage-deflate; client_max_window_bits")?;
//! let params = negotiate_deflate(&offers, &DeflateConfig::default(), true).expect("accepted");
//! assert_eq!(params.response_header(), "permessage-deflate");
//! # Ok::<(), wsgate::handshake::TokenError>(())
//! ```
//!
//! The parameters and this end's preferences are in `params`, the server's
//! answer to an offer in `negotiate`, the client's offer and its check of
//! the server's answer in `client`.

mod client;
mod negotiate;
mod params;

pub use self::client::{DeflateNegotiationError, accept_deflate_response, client_deflate_offer};
pub(crate) use self::negotiate::check_deflate_answer;
pub use self::negotiate::{DeclineReason, negotiate_deflate, negotiate_deflate_offer};
pub use self::params::{
    DeflateConfig, DeflateConfigError, DeflateParamError, DeflateParams, PERMESSAGE_DEFLATE,
};

/// What the tests of every part build their cases from.
#[cfg(test)]
mod test_util {
    use crate::handshake::{ExtensionOffer, parse_extensions};

    use super::DeflateConfig;

    pub(super) fn offers(header: &str) -> Vec<ExtensionOffer> {
        parse_extensions(header).unwrap()
    }

    pub(super) fn config(f: impl FnOnce(&mut DeflateConfig)) -> DeflateConfig {
        let mut config = DeflateConfig::default();
        f(&mut config);
        config
    }
}
