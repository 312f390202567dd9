//! permessage-deflate in the async layer: the server-wide memory budget,
//! negotiation against it, and each connection's codec state.
//!
//! The sans-IO pieces live elsewhere: the codec in [`crate::protocol`]
//! (`Compressor`, `Decompressor`, `CompressorPool`), the offer/answer rules
//! in [`crate::handshake`] (`negotiate_deflate`). Without the `deflate`
//! feature the types here are uninhabited stand-ins, so the connection code
//! keeps one shape (`Option<DeflateState>` is always `None`).

#[cfg(feature = "deflate")]
mod budget;

#[cfg(feature = "deflate")]
pub(crate) use self::budget::{
    DeflateBudget, DeflateState, Negotiated, SendCodec, configure_server, negotiate_server,
};

/// Without the `deflate` feature nothing is ever negotiated.
#[cfg(not(feature = "deflate"))]
pub(crate) enum Negotiated {}

#[cfg(not(feature = "deflate"))]
impl Negotiated {
    pub(crate) fn response_header(&self) -> String {
        match *self {}
    }
}

/// Without the `deflate` feature no connection has deflate state.
#[cfg(not(feature = "deflate"))]
pub(crate) enum DeflateState {}
