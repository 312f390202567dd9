//! permessage-deflate negotiation (RFC 7692 §5, §7.1), both ends.
//!
//! Server side: [`negotiate_deflate`] walks the client's offers (already
//! parsed into [`ExtensionOffer`]s) and accepts the first one it can honour;
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

use std::fmt;

use super::tokens::ExtensionOffer;
use crate::protocol::{
    Compressor, DECOMPRESSOR_MEMORY, Decompressor, DeflateSettingError, Role, compressor_memory,
};

/// The extension's registered name.
///
/// # Examples
///
/// ```
/// assert_eq!(wsgate::handshake::PERMESSAGE_DEFLATE, "permessage-deflate");
/// ```
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// This end's permessage-deflate preferences.
///
/// The same settings serve a server (what it answers, whatever the client
/// offers) and a client (what it offers). Every field has a default
/// ([`DeflateConfig::default`]). [`validate`](Self::validate) reports values
/// out of range; negotiation clamps window bits into range regardless, and
/// [`DeflateParams::compressor`] refuses a level above 9.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::DeflateConfig;
///
/// let mut config = DeflateConfig::default();
/// config.server_max_window_bits = 12;
/// config.level = 1;
/// config.validate()?;
/// # Ok::<(), wsgate::handshake::DeflateConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Negotiate permessage-deflate at all. Default on: compression is what
    /// users ask for, and it is only used when the peer offers or accepts
    /// it.
    pub enabled: bool,
    /// Server: never keep the compression context between messages, and
    /// say so. Client: ask the server for that. Default off: context
    /// takeover is where most of the gain on small messages comes from.
    pub server_no_context_takeover: bool,
    /// Server: require the client to reset its context after every message.
    /// Client: promise to. Default off, for the same reason.
    pub client_no_context_takeover: bool,
    /// Server: the largest window (base-2 logarithm, 9..=15) to compress
    /// with; a smaller one offered by the client wins. Client: the window
    /// asked of the server (sent when under 15). Default 15 (32 KiB), the
    /// best ratio; the server's compressor memory is 248 960 +
    /// `4 << bits` bytes, so 15 costs ~371 KiB and 9 ~245 KiB.
    ///
    /// 8 is not accepted: zlib-rs cannot compress raw DEFLATE with a 256-byte
    /// window.
    pub server_max_window_bits: u8,
    /// Server: the largest window (9..=15) the client may compress with,
    /// when the client offers the parameter (a smaller value it offers
    /// wins); without the parameter in the offer it cannot be asked.
    /// Client: the window it promises to stay within. Default `None`: no
    /// limit (15). Decompressor memory does not depend on it (zlib-rs always
    /// allocates a 32 KiB window), so a server gains little by lowering it.
    pub client_max_window_bits: Option<u8>,
    /// Messages shorter than this many bytes are sent uncompressed. Default
    /// 1024: below about a kilobyte the DEFLATE overhead and the CPU cost
    /// outweigh the few bytes saved.
    pub threshold: usize,
    /// zlib compression level, 0..=9. Default 6, zlib's own default and a
    /// good ratio; 1 costs several times less CPU for somewhat larger
    /// output, the better choice for a CPU-bound server. Memory is the same
    /// for every level.
    pub level: u32,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: None,
            threshold: 1024,
            level: 6,
        }
    }
}

impl DeflateConfig {
    /// Checks that every value is in range.
    ///
    /// # Errors
    ///
    /// The first field out of range, as a [`DeflateConfigError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::{DeflateConfig, DeflateConfigError};
    ///
    /// let mut config = DeflateConfig::default();
    /// config.server_max_window_bits = 8;
    /// assert_eq!(config.validate(), Err(DeflateConfigError::ServerMaxWindowBits(8)));
    /// ```
    pub fn validate(&self) -> Result<(), DeflateConfigError> {
        if !(9..=15).contains(&self.server_max_window_bits) {
            return Err(DeflateConfigError::ServerMaxWindowBits(
                self.server_max_window_bits,
            ));
        }
        match self.client_max_window_bits {
            Some(bits) if !(9..=15).contains(&bits) => {
                return Err(DeflateConfigError::ClientMaxWindowBits(bits));
            }
            _ => {}
        }
        if self.level > 9 {
            return Err(DeflateConfigError::Level(self.level));
        }
        Ok(())
    }

    /// Whether a `len`-byte message is worth compressing: at least
    /// [`threshold`](Self::threshold) bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateConfig;
    ///
    /// let config = DeflateConfig::default();
    /// assert!(!config.should_compress(1023));
    /// assert!(config.should_compress(1024));
    /// ```
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    fn server_bits(&self) -> u8 {
        self.server_max_window_bits.clamp(9, 15)
    }

    fn client_bits(&self) -> Option<u8> {
        self.client_max_window_bits.map(|bits| bits.clamp(9, 15))
    }
}

/// A [`DeflateConfig`] field out of range.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::DeflateConfigError;
///
/// assert_eq!(
///     DeflateConfigError::Level(12).to_string(),
///     "deflate level 12 out of range 0..=9"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeflateConfigError {
    /// `server_max_window_bits` outside 9..=15.
    ServerMaxWindowBits(u8),
    /// `client_max_window_bits` outside 9..=15.
    ClientMaxWindowBits(u8),
    /// `level` above 9.
    Level(u32),
}

impl fmt::Display for DeflateConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerMaxWindowBits(bits) => {
                write!(f, "server_max_window_bits {bits} out of range 9..=15")
            }
            Self::ClientMaxWindowBits(bits) => {
                write!(f, "client_max_window_bits {bits} out of range 9..=15")
            }
            Self::Level(level) => write!(f, "deflate level {level} out of range 0..=9"),
        }
    }
}

impl std::error::Error for DeflateConfigError {}

/// What both ends agreed on for permessage-deflate.
///
/// The window sizes are `None` when the response does not state them (a
/// window of 15 bits). On the client side, `client_max_window_bits` is also
/// set when the server left it out but the client's own offer promised a
/// limit.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{negotiate_deflate, parse_extensions, DeflateConfig};
/// use wsgate::protocol::Role;
///
/// let offers = parse_extensions("permessage-deflate; server_max_window_bits=10")?;
/// let params = negotiate_deflate(&offers, &DeflateConfig::default(), true).unwrap();
/// assert_eq!(params.server_max_window_bits, Some(10));
/// assert_eq!(params.send_window_bits(Role::Server), 10);
/// assert_eq!(params.receive_window_bits(Role::Server), 15);
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most `2^n` bytes of window.
    pub server_max_window_bits: Option<u8>,
    /// The client compresses with at most `2^n` bytes of window.
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value that accepts these parameters,
    /// for the server's 101 response.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    ///
    /// let params = DeflateParams {
    ///     server_no_context_takeover: true,
    ///     client_max_window_bits: Some(10),
    ///     ..DeflateParams::default()
    /// };
    /// assert_eq!(
    ///     params.response_header(),
    ///     "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    /// );
    /// ```
    pub fn response_header(&self) -> String {
        let mut out = String::from(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            out.push_str("; ");
            out.push_str(SERVER_NO_CONTEXT_TAKEOVER);
        }
        if self.client_no_context_takeover {
            out.push_str("; ");
            out.push_str(CLIENT_NO_CONTEXT_TAKEOVER);
        }
        if let Some(bits) = self.server_max_window_bits {
            out.push_str(&format!("; {SERVER_MAX_WINDOW_BITS}={bits}"));
        }
        if let Some(bits) = self.client_max_window_bits {
            out.push_str(&format!("; {CLIENT_MAX_WINDOW_BITS}={bits}"));
        }
        out
    }

    /// The window bits `role` compresses with (15 when not stated).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::Role;
    ///
    /// let params = DeflateParams { client_max_window_bits: Some(9), ..DeflateParams::default() };
    /// assert_eq!(params.send_window_bits(Role::Client), 9);
    /// assert_eq!(params.send_window_bits(Role::Server), 15);
    /// ```
    pub fn send_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
        .unwrap_or(15)
    }

    /// The window bits `role`'s peer compresses with (15 when not stated).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::Role;
    ///
    /// let params = DeflateParams { client_max_window_bits: Some(8), ..DeflateParams::default() };
    /// assert_eq!(params.receive_window_bits(Role::Server), 8);
    /// ```
    pub fn receive_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        }
        .unwrap_or(15)
    }

    /// Whether `role` resets its compressor after every message.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::Role;
    ///
    /// let params = DeflateParams { server_no_context_takeover: true, ..DeflateParams::default() };
    /// assert!(params.send_no_context_takeover(Role::Server));
    /// assert!(!params.send_no_context_takeover(Role::Client));
    /// ```
    pub fn send_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// Whether `role`'s peer resets its compressor after every message (and
    /// `role`'s decompressor therefore too).
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::Role;
    ///
    /// let params = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
    /// assert!(params.receive_no_context_takeover(Role::Server));
    /// ```
    pub fn receive_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }

    /// A compressor for `role`'s outgoing messages, with its window and
    /// context takeover as agreed.
    ///
    /// # Errors
    ///
    /// [`DeflateSettingError`] for a level above 9 or window bits our
    /// compressor cannot use (8, or out of range); never for parameters
    /// from [`negotiate_deflate`] or [`accept_deflate_response`].
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::Role;
    ///
    /// let params = DeflateParams { server_max_window_bits: Some(11), ..DeflateParams::default() };
    /// let compressor = params.compressor(Role::Server, 6)?;
    /// assert_eq!(compressor.window_bits(), 11);
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn compressor(&self, role: Role, level: u32) -> Result<Compressor, DeflateSettingError> {
        Compressor::new(
            self.send_window_bits(role),
            level,
            self.send_no_context_takeover(role),
        )
    }

    /// A decompressor for the messages `role` receives.
    ///
    /// # Errors
    ///
    /// [`DeflateSettingError::WindowBits`] for window bits outside 8..=15;
    /// never for parameters from [`negotiate_deflate`] or
    /// [`accept_deflate_response`].
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::Role;
    ///
    /// let params = DeflateParams { client_no_context_takeover: true, ..DeflateParams::default() };
    /// assert!(params.decompressor(Role::Server)?.no_context_takeover());
    /// # Ok::<(), wsgate::protocol::DeflateSettingError>(())
    /// ```
    pub fn decompressor(&self, role: Role) -> Result<Decompressor, DeflateSettingError> {
        Decompressor::new(
            self.receive_window_bits(role),
            self.receive_no_context_takeover(role),
        )
    }

    /// Bytes a connection's own codec costs at `role`: a compressor with
    /// the agreed window ([`compressor_memory`]) plus a decompressor
    /// ([`DECOMPRESSOR_MEMORY`]). What a memory budget charges a connection
    /// that does not share a pooled compressor.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::handshake::DeflateParams;
    /// use wsgate::protocol::{compressor_memory, Role, DECOMPRESSOR_MEMORY};
    ///
    /// let params = DeflateParams::default();
    /// assert_eq!(params.memory(Role::Server), compressor_memory(15) + DECOMPRESSOR_MEMORY);
    /// ```
    pub fn memory(&self, role: Role) -> usize {
        compressor_memory(self.send_window_bits(role)) + DECOMPRESSOR_MEMORY
    }
}

impl fmt::Display for DeflateParams {
    /// The same as [`response_header`](Self::response_header).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.response_header())
    }
}

/// A permessage-deflate parameter that breaks RFC 7692 §7.1.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{negotiate_deflate_offer, parse_extensions, DeclineReason,
///     DeflateConfig, DeflateParamError};
///
/// let offer = &parse_extensions("permessage-deflate; server_max_window_bits=16")?[0];
/// assert_eq!(
///     negotiate_deflate_offer(offer, &DeflateConfig::default(), true),
///     Err(DeclineReason::Param(DeflateParamError::InvalidValue {
///         name: "server_max_window_bits",
///         value: "16".into(),
///     }))
/// );
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeflateParamError {
    /// A parameter RFC 7692 does not define.
    Unknown(String),
    /// A parameter given twice.
    Repeated(&'static str),
    /// A value on a parameter that takes none (`*_no_context_takeover`).
    UnexpectedValue {
        /// The parameter.
        name: &'static str,
        /// The value it carried.
        value: String,
    },
    /// No value where one is required: `server_max_window_bits` always,
    /// `client_max_window_bits` in a response.
    MissingValue(&'static str),
    /// A window size that is not a decimal integer from 8 to 15 without
    /// leading zeros.
    InvalidValue {
        /// The parameter.
        name: &'static str,
        /// The value it carried.
        value: String,
    },
}

impl fmt::Display for DeflateParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => write!(f, "unknown parameter {name:?}"),
            Self::Repeated(name) => write!(f, "repeated parameter {name}"),
            Self::UnexpectedValue { name, value } => {
                write!(f, "parameter {name} takes no value (got {value:?})")
            }
            Self::MissingValue(name) => write!(f, "parameter {name} needs a value"),
            Self::InvalidValue { name, value } => {
                write!(f, "invalid {name} value {value:?} (8 to 15)")
            }
        }
    }
}

impl std::error::Error for DeflateParamError {}

/// Why the server declined one permessage-deflate offer
/// ([`negotiate_deflate_offer`]).
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{negotiate_deflate_offer, parse_extensions, DeclineReason,
///     DeflateConfig};
///
/// let offer = &parse_extensions("permessage-deflate; server_max_window_bits=8")?[0];
/// assert_eq!(
///     negotiate_deflate_offer(offer, &DeflateConfig::default(), true),
///     Err(DeclineReason::ServerWindowBits8)
/// );
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclineReason {
    /// The offer is for another extension.
    NotPermessageDeflate,
    /// permessage-deflate is switched off ([`DeflateConfig::enabled`]).
    Disabled,
    /// A parameter is unknown, repeated or has an invalid value.
    Param(DeflateParamError),
    /// The offer demands `server_max_window_bits=8`, a window our compressor
    /// cannot use.
    ServerWindowBits8,
}

impl fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPermessageDeflate => f.write_str("not a permessage-deflate offer"),
            Self::Disabled => f.write_str("permessage-deflate is disabled"),
            Self::Param(e) => write!(f, "invalid permessage-deflate offer: {e}"),
            Self::ServerWindowBits8 => {
                f.write_str("server_max_window_bits=8 is not supported by the compressor")
            }
        }
    }
}

impl std::error::Error for DeclineReason {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Param(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a client fails the server's permessage-deflate response
/// ([`accept_deflate_response`]); the connection must then be failed
/// (RFC 6455 §4.1, RFC 7692 §5).
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{accept_deflate_response, parse_extensions, DeflateConfig,
///     DeflateNegotiationError};
///
/// let response = parse_extensions("permessage-deflate; client_max_window_bits=8")?;
/// assert_eq!(
///     accept_deflate_response(&response, &DeflateConfig::default()),
///     Err(DeflateNegotiationError::UnsupportedClientWindowBits8)
/// );
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeflateNegotiationError {
    /// The server accepted an extension the client did not offer (anything
    /// but permessage-deflate, or permessage-deflate when disabled).
    UnexpectedExtension(String),
    /// permessage-deflate appears more than once in the response.
    Duplicate,
    /// A parameter is unknown, repeated or has an invalid value.
    Param(DeflateParamError),
    /// The client asked for `server_no_context_takeover` and the server
    /// did not agree to it.
    MissingServerNoContextTakeover,
    /// The client asked for `server_max_window_bits` and the server did not
    /// answer it.
    MissingServerMaxWindowBits {
        /// What the client offered.
        offered: u8,
    },
    /// The server's window is larger than the client asked for.
    ServerWindowTooLarge {
        /// What the client offered.
        offered: u8,
        /// What the server answered.
        answered: u8,
    },
    /// The server allows the client a larger window than the client
    /// offered to stay within.
    ClientWindowTooLarge {
        /// What the client offered.
        offered: u8,
        /// What the server answered.
        answered: u8,
    },
    /// The server demands `client_max_window_bits=8`, a window our
    /// compressor cannot use.
    UnsupportedClientWindowBits8,
}

impl fmt::Display for DeflateNegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedExtension(name) => {
                write!(f, "server accepted extension {name:?} that was not offered")
            }
            Self::Duplicate => f.write_str("server accepted permessage-deflate twice"),
            Self::Param(e) => write!(f, "invalid permessage-deflate response: {e}"),
            Self::MissingServerNoContextTakeover => {
                f.write_str("server did not agree to server_no_context_takeover")
            }
            Self::MissingServerMaxWindowBits { offered } => {
                write!(f, "server did not answer server_max_window_bits={offered}")
            }
            Self::ServerWindowTooLarge { offered, answered } => write!(
                f,
                "server_max_window_bits={answered} is larger than the {offered} offered"
            ),
            Self::ClientWindowTooLarge { offered, answered } => write!(
                f,
                "client_max_window_bits={answered} is larger than the {offered} offered"
            ),
            Self::UnsupportedClientWindowBits8 => {
                f.write_str("client_max_window_bits=8 is not supported by the compressor")
            }
        }
    }
}

impl std::error::Error for DeflateNegotiationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Param(e) => Some(e),
            _ => None,
        }
    }
}

/// `client_max_window_bits` as it appears in an offer or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientBits {
    Absent,
    /// In an offer, without a value: the server may pick.
    Any,
    Max(u8),
}

/// The four parameters, syntax-checked.
#[derive(Debug, Clone, Copy)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: ClientBits,
}

/// Parses `params` (RFC 7692 §7.1): each of the four known parameters at
/// most once, no others. `offer` allows a valueless `client_max_window_bits`.
fn parse_params(
    params: &[(String, Option<String>)],
    offer: bool,
) -> Result<Parsed, DeflateParamError> {
    let mut parsed = Parsed {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
        client_max_window_bits: ClientBits::Absent,
    };
    let mut seen = [false; 4];
    for (name, value) in params {
        let (index, name) = [
            SERVER_NO_CONTEXT_TAKEOVER,
            CLIENT_NO_CONTEXT_TAKEOVER,
            SERVER_MAX_WINDOW_BITS,
            CLIENT_MAX_WINDOW_BITS,
        ]
        .into_iter()
        .enumerate()
        .find(|(_, known)| name.eq_ignore_ascii_case(known))
        .ok_or_else(|| DeflateParamError::Unknown(name.clone()))?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(DeflateParamError::Repeated(name));
        }
        match (index, value) {
            (0 | 1, Some(value)) => {
                return Err(DeflateParamError::UnexpectedValue {
                    name,
                    value: value.clone(),
                });
            }
            (0, None) => parsed.server_no_context_takeover = true,
            (1, None) => parsed.client_no_context_takeover = true,
            (3, None) if offer => parsed.client_max_window_bits = ClientBits::Any,
            (_, None) => return Err(DeflateParamError::MissingValue(name)),
            (_, Some(value)) => {
                let bits =
                    parse_window_bits(value).ok_or_else(|| DeflateParamError::InvalidValue {
                        name,
                        value: value.clone(),
                    })?;
                if index == 2 {
                    parsed.server_max_window_bits = Some(bits);
                } else {
                    parsed.client_max_window_bits = ClientBits::Max(bits);
                }
            }
        }
    }
    Ok(parsed)
}

/// `8`..`15`, decimal, no leading zeros, no sign (RFC 7692 §7.1.2.1).
fn parse_window_bits(value: &str) -> Option<u8> {
    match value {
        "8" => Some(8),
        "9" => Some(9),
        "10" => Some(10),
        "11" => Some(11),
        "12" => Some(12),
        "13" => Some(13),
        "14" => Some(14),
        "15" => Some(15),
        _ => None,
    }
}

/// Server side: the parameters to accept the first permessage-deflate offer
/// in `offers` that can be honoured, or `None` to answer without the
/// extension (none offered, none acceptable, or [`DeflateConfig::enabled`]
/// off).
///
/// Offers for other extensions are skipped, as are permessage-deflate
/// offers with unknown or repeated parameters, invalid values, or
/// `server_max_window_bits=8` (see [`negotiate_deflate_offer`] for the
/// reasons and the rules). With `allow_context_takeover` false (say, the
/// server's compression memory budget is used up and this connection is to
/// share pooled compressors) the answer carries both
/// `server_no_context_takeover` and `client_no_context_takeover`.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{negotiate_deflate, parse_extensions, DeflateConfig};
///
/// // RFC 7692 §5.1: prefer a 1 KiB server window, else plain deflate.
/// let offers = parse_extensions(
///     "permessage-deflate; server_max_window_bits=10, permessage-deflate",
/// )?;
/// let config = DeflateConfig::default();
/// let params = negotiate_deflate(&offers, &config, true).unwrap();
/// assert_eq!(params.response_header(), "permessage-deflate; server_max_window_bits=10");
///
/// // Over budget: no context takeover either way.
/// let params = negotiate_deflate(&offers, &config, false).unwrap();
/// assert_eq!(
///     params.response_header(),
///     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
///      server_max_window_bits=10"
/// );
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
pub fn negotiate_deflate(
    offers: &[ExtensionOffer],
    config: &DeflateConfig,
    allow_context_takeover: bool,
) -> Option<DeflateParams> {
    offers
        .iter()
        .find_map(|offer| negotiate_deflate_offer(offer, config, allow_context_takeover).ok())
}

/// Server side: the parameters accepting one offer, or why it is declined.
///
/// The rules (RFC 7692 §7.1), with `config` the server's preferences:
/// - `server_no_context_takeover` is answered when offered, when
///   configured, or when `allow_context_takeover` is false;
///   `client_no_context_takeover` likewise (the server may always add it,
///   and answering an offered one confirms the client's hint).
/// - `server_max_window_bits=N` (offered) is answered with
///   `min(N, config)`; `N = 8` declines the offer. Not offered, it is
///   answered when the configured window is under 15.
/// - `client_max_window_bits`: offered with a value `N`, it is answered with
///   `min(N, config)` (`N` when unconfigured; 8 is fine, we only inflate);
///   offered without a value, it is answered with the configured window if
///   any; not offered, it cannot be answered.
///
/// # Errors
///
/// A [`DeclineReason`]; the server then tries the client's next offer.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{negotiate_deflate_offer, parse_extensions, DeclineReason,
///     DeflateConfig, DeflateParamError};
///
/// let offers = parse_extensions(
///     "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover; \
///      server_no_context_takeover",
/// )?;
/// let config = DeflateConfig::default();
/// assert_eq!(
///     negotiate_deflate_offer(&offers[0], &config, true),
///     Err(DeclineReason::NotPermessageDeflate)
/// );
/// assert_eq!(
///     negotiate_deflate_offer(&offers[1], &config, true),
///     Err(DeclineReason::Param(DeflateParamError::Repeated("server_no_context_takeover")))
/// );
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
pub fn negotiate_deflate_offer(
    offer: &ExtensionOffer,
    config: &DeflateConfig,
    allow_context_takeover: bool,
) -> Result<DeflateParams, DeclineReason> {
    if !offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
        return Err(DeclineReason::NotPermessageDeflate);
    }
    if !config.enabled {
        return Err(DeclineReason::Disabled);
    }
    let offered = parse_params(&offer.params, true).map_err(DeclineReason::Param)?;
    let own = config.server_bits();
    let server_max_window_bits = match offered.server_max_window_bits {
        Some(8) => return Err(DeclineReason::ServerWindowBits8),
        Some(bits) => Some(bits.min(own)),
        None if own < 15 => Some(own),
        None => None,
    };
    let client_max_window_bits = match (offered.client_max_window_bits, config.client_bits()) {
        (ClientBits::Absent, _) | (ClientBits::Any, None) => None,
        (ClientBits::Any, Some(limit)) => Some(limit),
        (ClientBits::Max(bits), limit) => Some(limit.map_or(bits, |limit| bits.min(limit))),
    };
    Ok(DeflateParams {
        server_no_context_takeover: offered.server_no_context_takeover
            || config.server_no_context_takeover
            || !allow_context_takeover,
        client_no_context_takeover: offered.client_no_context_takeover
            || config.client_no_context_takeover
            || !allow_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

/// Client side: the `Sec-WebSocket-Extensions` value offering
/// permessage-deflate with `config`'s preferences, or `None` when
/// [`DeflateConfig::enabled`] is off.
///
/// `client_max_window_bits` is always offered (without a value when
/// `config` sets no limit), telling the server it may limit our window;
/// `server_max_window_bits` only when the configured window is under 15.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{client_deflate_offer, DeflateConfig};
///
/// let mut config = DeflateConfig::default();
/// assert_eq!(
///     client_deflate_offer(&config).unwrap(),
///     "permessage-deflate; client_max_window_bits"
/// );
/// config.server_max_window_bits = 10;
/// config.client_no_context_takeover = true;
/// assert_eq!(
///     client_deflate_offer(&config).unwrap(),
///     "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; \
///      client_max_window_bits"
/// );
/// ```
pub fn client_deflate_offer(config: &DeflateConfig) -> Option<String> {
    if !config.enabled {
        return None;
    }
    let mut out = String::from(PERMESSAGE_DEFLATE);
    if config.server_no_context_takeover {
        out.push_str("; ");
        out.push_str(SERVER_NO_CONTEXT_TAKEOVER);
    }
    if config.client_no_context_takeover {
        out.push_str("; ");
        out.push_str(CLIENT_NO_CONTEXT_TAKEOVER);
    }
    if config.server_bits() < 15 {
        out.push_str(&format!(
            "; {SERVER_MAX_WINDOW_BITS}={}",
            config.server_bits()
        ));
    }
    out.push_str("; ");
    out.push_str(CLIENT_MAX_WINDOW_BITS);
    if let Some(bits) = config.client_bits() {
        out.push_str(&format!("={bits}"));
    }
    Some(out)
}

/// Client side: checks the extensions the server accepted against the offer
/// [`client_deflate_offer`] made with the same `config`.
///
/// Returns the agreed parameters, or `None` when the server declined
/// permessage-deflate (the connection goes on uncompressed).
///
/// # Errors
///
/// A [`DeflateNegotiationError`] when the response cannot be accepted: an
/// extension that was not offered (this is the only extension the client
/// offers), permessage-deflate twice, invalid parameters, or parameters
/// contradicting the offer; the connection must then be failed.
///
/// # Examples
///
/// ```
/// use wsgate::handshake::{accept_deflate_response, parse_extensions, DeflateConfig};
///
/// let config = DeflateConfig::default();
/// let response = parse_extensions(
///     "permessage-deflate; server_no_context_takeover; client_max_window_bits=12",
/// )?;
/// let params = accept_deflate_response(&response, &config).unwrap().unwrap();
/// assert!(params.server_no_context_takeover);
/// assert_eq!(params.client_max_window_bits, Some(12));
/// assert_eq!(accept_deflate_response(&[], &config), Ok(None));
/// # Ok::<(), wsgate::handshake::TokenError>(())
/// ```
pub fn accept_deflate_response(
    extensions: &[ExtensionOffer],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, DeflateNegotiationError> {
    let mut found = None;
    for extension in extensions {
        if !config.enabled || !extension.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return Err(DeflateNegotiationError::UnexpectedExtension(
                extension.name.clone(),
            ));
        }
        if found.replace(extension).is_some() {
            return Err(DeflateNegotiationError::Duplicate);
        }
    }
    let Some(extension) = found else {
        return Ok(None);
    };
    let answered =
        parse_params(&extension.params, false).map_err(DeflateNegotiationError::Param)?;

    if config.server_no_context_takeover && !answered.server_no_context_takeover {
        return Err(DeflateNegotiationError::MissingServerNoContextTakeover);
    }
    let asked = config.server_bits();
    match answered.server_max_window_bits {
        None if asked < 15 => {
            return Err(DeflateNegotiationError::MissingServerMaxWindowBits { offered: asked });
        }
        Some(bits) if bits > asked => {
            return Err(DeflateNegotiationError::ServerWindowTooLarge {
                offered: asked,
                answered: bits,
            });
        }
        _ => {}
    }
    let client_max_window_bits = match (answered.client_max_window_bits, config.client_bits()) {
        (ClientBits::Max(8), _) => {
            return Err(DeflateNegotiationError::UnsupportedClientWindowBits8);
        }
        (ClientBits::Max(bits), Some(offered)) if bits > offered => {
            return Err(DeflateNegotiationError::ClientWindowTooLarge {
                offered,
                answered: bits,
            });
        }
        (ClientBits::Max(bits), _) => Some(bits),
        // Not answered: our offer's promise still holds.
        (_, offered) => offered,
    };
    Ok(Some(DeflateParams {
        server_no_context_takeover: answered.server_no_context_takeover,
        client_no_context_takeover: answered.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: answered.server_max_window_bits,
        client_max_window_bits,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::parse_extensions;
    use proptest::prelude::*;

    fn offers(header: &str) -> Vec<ExtensionOffer> {
        parse_extensions(header).unwrap()
    }

    /// The server's answer to `header` with the default config.
    fn answer(header: &str) -> Option<String> {
        negotiate_deflate(&offers(header), &DeflateConfig::default(), true)
            .map(|p| p.response_header())
    }

    fn decline(header: &str) -> DeclineReason {
        negotiate_deflate_offer(&offers(header)[0], &DeflateConfig::default(), true).unwrap_err()
    }

    fn config(f: impl FnOnce(&mut DeflateConfig)) -> DeflateConfig {
        let mut config = DeflateConfig::default();
        f(&mut config);
        config
    }

    #[test]
    fn defaults() {
        let c = DeflateConfig::default();
        assert!(c.enabled);
        assert!(!c.server_no_context_takeover && !c.client_no_context_takeover);
        assert_eq!(c.server_max_window_bits, 15);
        assert_eq!(c.client_max_window_bits, None);
        assert_eq!(c.threshold, 1024);
        assert_eq!(c.level, 6);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn config_validation() {
        use DeflateConfigError::*;
        for bits in [0, 8, 16] {
            assert_eq!(
                config(|c| c.server_max_window_bits = bits).validate(),
                Err(ServerMaxWindowBits(bits))
            );
            assert_eq!(
                config(|c| c.client_max_window_bits = Some(bits)).validate(),
                Err(ClientMaxWindowBits(bits))
            );
        }
        assert_eq!(config(|c| c.level = 10).validate(), Err(Level(10)));
        for bits in 9..=15 {
            assert_eq!(
                config(|c| {
                    c.server_max_window_bits = bits;
                    c.client_max_window_bits = Some(bits);
                })
                .validate(),
                Ok(())
            );
        }
        // Out-of-range values are clamped when used, never passed to flate2.
        let wild = config(|c| {
            c.server_max_window_bits = 3;
            c.client_max_window_bits = Some(200);
            c.level = 99;
        });
        let params = negotiate_deflate(
            &offers("permessage-deflate; client_max_window_bits"),
            &wild,
            true,
        )
        .unwrap();
        assert_eq!(params.server_max_window_bits, Some(9));
        assert_eq!(params.client_max_window_bits, Some(15));
        assert_eq!(
            client_deflate_offer(&wild).unwrap(),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=15"
        );
    }

    #[test]
    fn plain_offers() {
        assert_eq!(answer("permessage-deflate").unwrap(), "permessage-deflate");
        // Chrome, Firefox, python-websockets.
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits").unwrap(),
            "permessage-deflate"
        );
        // Case-insensitive names.
        assert_eq!(
            answer("PerMessage-Deflate; Client_No_Context_Takeover").unwrap(),
            "permessage-deflate; client_no_context_takeover"
        );
        assert_eq!(answer(""), None);
        assert_eq!(answer("x-webkit-deflate-frame, deflate-frame"), None);
    }

    #[test]
    fn disabled() {
        let off = config(|c| c.enabled = false);
        assert_eq!(
            negotiate_deflate(&offers("permessage-deflate"), &off, true),
            None
        );
        assert_eq!(
            negotiate_deflate_offer(&offers("permessage-deflate")[0], &off, true),
            Err(DeclineReason::Disabled)
        );
        assert_eq!(client_deflate_offer(&off), None);
    }

    #[test]
    fn server_no_context_takeover() {
        assert_eq!(
            answer("permessage-deflate; server_no_context_takeover").unwrap(),
            "permessage-deflate; server_no_context_takeover"
        );
        let c = config(|c| c.server_no_context_takeover = true);
        let p = negotiate_deflate(&offers("permessage-deflate"), &c, true).unwrap();
        assert!(p.server_no_context_takeover && !p.client_no_context_takeover);
        assert_eq!(
            decline("permessage-deflate; server_no_context_takeover=1"),
            DeclineReason::Param(DeflateParamError::UnexpectedValue {
                name: SERVER_NO_CONTEXT_TAKEOVER,
                value: "1".into()
            })
        );
    }

    #[test]
    fn client_no_context_takeover() {
        // The client's hint is confirmed.
        assert_eq!(
            answer("permessage-deflate; client_no_context_takeover").unwrap(),
            "permessage-deflate; client_no_context_takeover"
        );
        // The server may require it unasked.
        let c = config(|c| c.client_no_context_takeover = true);
        let p = negotiate_deflate(&offers("permessage-deflate"), &c, true).unwrap();
        assert!(p.client_no_context_takeover && !p.server_no_context_takeover);
        assert_eq!(
            decline("permessage-deflate; client_no_context_takeover=\"\\x\""),
            DeclineReason::Param(DeflateParamError::UnexpectedValue {
                name: CLIENT_NO_CONTEXT_TAKEOVER,
                value: "x".into()
            })
        );
    }

    #[test]
    fn no_context_takeover_when_over_budget() {
        for header in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover",
        ] {
            let p = negotiate_deflate(&offers(header), &DeflateConfig::default(), false).unwrap();
            assert!(p.server_no_context_takeover && p.client_no_context_takeover);
            assert!(p.response_header().starts_with(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            ));
        }
    }

    #[test]
    fn server_max_window_bits() {
        for bits in 9..=15 {
            assert_eq!(
                answer(&format!(
                    "permessage-deflate; server_max_window_bits={bits}"
                ))
                .unwrap(),
                format!("permessage-deflate; server_max_window_bits={bits}")
            );
        }
        // The smaller of the offer and the configuration.
        let c = config(|c| c.server_max_window_bits = 12);
        let p = |h: &str| negotiate_deflate(&offers(h), &c, true).unwrap();
        assert_eq!(p("permessage-deflate").server_max_window_bits, Some(12));
        assert_eq!(
            p("permessage-deflate; server_max_window_bits=14").server_max_window_bits,
            Some(12)
        );
        assert_eq!(
            p("permessage-deflate; server_max_window_bits=10").server_max_window_bits,
            Some(10)
        );
        // A value is required.
        assert_eq!(
            decline("permessage-deflate; server_max_window_bits"),
            DeclineReason::Param(DeflateParamError::MissingValue(SERVER_MAX_WINDOW_BITS))
        );
        // Quoted values are fine (RFC 7692 §7.1: after unquoting).
        assert_eq!(
            answer("permessage-deflate; server_max_window_bits=\"10\"").unwrap(),
            "permessage-deflate; server_max_window_bits=10"
        );
    }

    #[test]
    fn server_max_window_bits_8_is_declined() {
        assert_eq!(
            decline("permessage-deflate; server_max_window_bits=8"),
            DeclineReason::ServerWindowBits8
        );
        assert_eq!(answer("permessage-deflate; server_max_window_bits=8"), None);
        // ... and the next offer is tried.
        assert_eq!(
            answer(
                "permessage-deflate; server_max_window_bits=8, \
                 permessage-deflate; server_max_window_bits=9"
            )
            .unwrap(),
            "permessage-deflate; server_max_window_bits=9"
        );
        // Even a server configured for 9 cannot answer 8.
        let c = config(|c| c.server_max_window_bits = 9);
        assert_eq!(
            negotiate_deflate(
                &offers("permessage-deflate; server_max_window_bits=8"),
                &c,
                true
            ),
            None
        );
    }

    #[test]
    fn client_max_window_bits() {
        // Offered without a value: the server may pick.
        let c = config(|c| c.client_max_window_bits = Some(10));
        let p = |h: &str| negotiate_deflate(&offers(h), &c, true).unwrap();
        assert_eq!(
            p("permessage-deflate; client_max_window_bits").response_header(),
            "permessage-deflate; client_max_window_bits=10"
        );
        // Offered with a value: the smaller one.
        assert_eq!(
            p("permessage-deflate; client_max_window_bits=12").client_max_window_bits,
            Some(10)
        );
        assert_eq!(
            p("permessage-deflate; client_max_window_bits=9").client_max_window_bits,
            Some(9)
        );
        // Not offered: cannot be answered.
        assert_eq!(p("permessage-deflate").client_max_window_bits, None);
        // Unconfigured: the client's value is confirmed, or nothing said.
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits=11").unwrap(),
            "permessage-deflate; client_max_window_bits=11"
        );
        // 8: the client compresses with 8, which we inflate fine.
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits=8").unwrap(),
            "permessage-deflate; client_max_window_bits=8"
        );
        assert_eq!(
            p("permessage-deflate; client_max_window_bits=8").client_max_window_bits,
            Some(8)
        );
        let p8 = negotiate_deflate(
            &offers("permessage-deflate; client_max_window_bits=8"),
            &DeflateConfig::default(),
            true,
        )
        .unwrap();
        assert_eq!(p8.decompressor(Role::Server).unwrap().window_bits(), 8);
        assert_eq!(p8.compressor(Role::Server, 6).unwrap().window_bits(), 15);
    }

    #[test]
    fn invalid_values_are_declined() {
        for (name, value) in [
            (SERVER_MAX_WINDOW_BITS, "7"),
            (SERVER_MAX_WINDOW_BITS, "16"),
            (SERVER_MAX_WINDOW_BITS, "010"),
            (SERVER_MAX_WINDOW_BITS, "+9"),
            (SERVER_MAX_WINDOW_BITS, "0x9"),
            (SERVER_MAX_WINDOW_BITS, "abc"),
            (CLIENT_MAX_WINDOW_BITS, "0"),
            (CLIENT_MAX_WINDOW_BITS, "08"),
            (CLIENT_MAX_WINDOW_BITS, "150"),
            (CLIENT_MAX_WINDOW_BITS, "-15"),
        ] {
            let header = format!("permessage-deflate; {name}={value}");
            assert_eq!(
                decline(&header),
                DeclineReason::Param(DeflateParamError::InvalidValue {
                    name,
                    value: value.into()
                }),
                "{header}"
            );
            assert_eq!(answer(&header), None);
        }
    }

    #[test]
    fn unknown_and_repeated_params_are_declined() {
        assert_eq!(
            decline("permessage-deflate; foo"),
            DeclineReason::Param(DeflateParamError::Unknown("foo".into()))
        );
        assert_eq!(
            decline("permessage-deflate; max_window_bits=10"),
            DeclineReason::Param(DeflateParamError::Unknown("max_window_bits".into()))
        );
        for name in [
            SERVER_NO_CONTEXT_TAKEOVER,
            CLIENT_NO_CONTEXT_TAKEOVER,
            SERVER_MAX_WINDOW_BITS,
            CLIENT_MAX_WINDOW_BITS,
        ] {
            let one = if name.ends_with("bits") {
                format!("{name}=10")
            } else {
                name.to_owned()
            };
            let header = format!("permessage-deflate; {one}; {}", one.to_uppercase());
            assert_eq!(
                decline(&header),
                DeclineReason::Param(DeflateParamError::Repeated(name)),
                "{header}"
            );
        }
        // Repeated with different values too.
        assert_eq!(
            decline("permessage-deflate; client_max_window_bits; client_max_window_bits=9"),
            DeclineReason::Param(DeflateParamError::Repeated(CLIENT_MAX_WINDOW_BITS))
        );
    }

    #[test]
    fn first_acceptable_offer_wins() {
        assert_eq!(
            answer(
                "x-foo, permessage-deflate; bogus, permessage-deflate; server_max_window_bits=16, \
                 permessage-deflate; server_max_window_bits=8, \
                 permessage-deflate; client_max_window_bits=12, permessage-deflate"
            )
            .unwrap(),
            "permessage-deflate; client_max_window_bits=12"
        );
        assert_eq!(
            answer("permessage-deflate; server_no_context_takeover, permessage-deflate").unwrap(),
            "permessage-deflate; server_no_context_takeover"
        );
    }

    #[test]
    fn rfc7692_examples() {
        // §5.1 / §7.1.3-style offers and what this server answers.
        for (offer, expected) in [
            ("permessage-deflate", Some("permessage-deflate")),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
            ),
            (
                "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                "permessage-deflate; server_max_window_bits=10, permessage-deflate",
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
                 permessage-deflate; client_max_window_bits",
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
                Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
            ),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; unknown_param", None),
        ] {
            assert_eq!(answer(offer).as_deref(), expected, "{offer}");
        }
    }

    #[test]
    fn params_by_role() {
        let p = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(12),
        };
        assert_eq!(p.send_window_bits(Role::Server), 10);
        assert_eq!(p.receive_window_bits(Role::Server), 12);
        assert_eq!(p.send_window_bits(Role::Client), 12);
        assert_eq!(p.receive_window_bits(Role::Client), 10);
        assert!(p.send_no_context_takeover(Role::Server));
        assert!(p.receive_no_context_takeover(Role::Client));
        assert!(!p.receive_no_context_takeover(Role::Server));
        let server = p.compressor(Role::Server, 6).unwrap();
        assert_eq!(
            (server.window_bits(), server.no_context_takeover()),
            (10, true)
        );
        let client = p.compressor(Role::Client, 6).unwrap();
        assert_eq!(
            (client.window_bits(), client.no_context_takeover()),
            (12, false)
        );
        assert!(p.decompressor(Role::Client).unwrap().no_context_takeover());
        assert!(p.compressor(Role::Server, 10).is_err());
        assert_eq!(p.to_string(), p.response_header());
        assert_eq!(
            p.memory(Role::Server),
            compressor_memory(10) + DECOMPRESSOR_MEMORY
        );
    }

    #[test]
    fn server_answers_parse_back_as_valid_responses() {
        // Whatever the server answers, a client that made the offer accepts.
        let client = config(|c| c.client_max_window_bits = Some(12));
        let offer = client_deflate_offer(&client).unwrap();
        for allow in [true, false] {
            for server in [
                DeflateConfig::default(),
                config(|c| c.server_max_window_bits = 9),
                config(|c| c.client_max_window_bits = Some(9)),
                config(|c| {
                    c.server_no_context_takeover = true;
                    c.client_no_context_takeover = true;
                }),
            ] {
                let params = negotiate_deflate(&offers(&offer), &server, allow).unwrap();
                let response = offers(&params.response_header());
                assert_eq!(
                    accept_deflate_response(&response, &client)
                        .unwrap()
                        .unwrap(),
                    params
                );
            }
        }
    }

    #[test]
    fn client_offers() {
        let c = |f: fn(&mut DeflateConfig)| client_deflate_offer(&config(f)).unwrap();
        assert_eq!(c(|_| {}), "permessage-deflate; client_max_window_bits");
        assert_eq!(
            c(|c| c.server_no_context_takeover = true),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits"
        );
        assert_eq!(
            c(|c| c.client_max_window_bits = Some(11)),
            "permessage-deflate; client_max_window_bits=11"
        );
        // Every offer we make is one our own server accepts.
        for f in [
            (|_| {}) as fn(&mut DeflateConfig),
            |c| c.server_max_window_bits = 9,
            |c| c.client_max_window_bits = Some(9),
            |c| {
                c.server_no_context_takeover = true;
                c.client_no_context_takeover = true;
            },
        ] {
            let offer = c(f);
            assert!(
                negotiate_deflate_offer(&offers(&offer)[0], &DeflateConfig::default(), true)
                    .is_ok(),
                "{offer}"
            );
        }
    }

    #[test]
    fn client_accepts_valid_responses() {
        let default = DeflateConfig::default();
        let accept = |h: &str, c: &DeflateConfig| accept_deflate_response(&offers(h), c);
        assert_eq!(accept("", &default), Ok(None));
        assert_eq!(
            accept("permessage-deflate", &default),
            Ok(Some(DeflateParams::default()))
        );
        // The server may add server_no_context_takeover,
        // client_no_context_takeover or a server window unasked.
        let p = accept(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=8",
            &default,
        )
        .unwrap()
        .unwrap();
        assert!(p.server_no_context_takeover && p.client_no_context_takeover);
        assert_eq!(p.server_max_window_bits, Some(8));
        // 8 for the server is fine: we only inflate it.
        assert_eq!(p.decompressor(Role::Client).unwrap().window_bits(), 8);
        // Our offered client window holds when the server says nothing.
        let c11 = config(|c| c.client_max_window_bits = Some(11));
        assert_eq!(
            accept("permessage-deflate", &c11)
                .unwrap()
                .unwrap()
                .client_max_window_bits,
            Some(11)
        );
        assert_eq!(
            accept("permessage-deflate; client_max_window_bits=9", &c11)
                .unwrap()
                .unwrap()
                .client_max_window_bits,
            Some(9)
        );
        // Our promise of client_no_context_takeover holds unanswered.
        let nct = config(|c| c.client_no_context_takeover = true);
        assert!(
            accept("permessage-deflate", &nct)
                .unwrap()
                .unwrap()
                .client_no_context_takeover
        );
        // A smaller server window than asked is fine.
        let s10 = config(|c| c.server_max_window_bits = 10);
        assert_eq!(
            accept("permessage-deflate; server_max_window_bits=9", &s10)
                .unwrap()
                .unwrap()
                .server_max_window_bits,
            Some(9)
        );
    }

    #[test]
    fn client_rejects_invalid_responses() {
        use DeflateNegotiationError::*;
        let default = DeflateConfig::default();
        let accept = |h: &str, c: &DeflateConfig| accept_deflate_response(&offers(h), c);
        assert_eq!(
            accept("x-foo", &default),
            Err(UnexpectedExtension("x-foo".into()))
        );
        assert_eq!(
            accept("permessage-deflate", &config(|c| c.enabled = false)),
            Err(UnexpectedExtension("permessage-deflate".into()))
        );
        assert_eq!(
            accept("permessage-deflate, permessage-deflate", &default),
            Err(Duplicate)
        );
        assert_eq!(
            accept("permessage-deflate; client_max_window_bits", &default),
            Err(Param(DeflateParamError::MissingValue(
                CLIENT_MAX_WINDOW_BITS
            )))
        );
        assert_eq!(
            accept("permessage-deflate; server_max_window_bits=7", &default),
            Err(Param(DeflateParamError::InvalidValue {
                name: SERVER_MAX_WINDOW_BITS,
                value: "7".into()
            }))
        );
        assert_eq!(
            accept("permessage-deflate; foo=1", &default),
            Err(Param(DeflateParamError::Unknown("foo".into())))
        );
        assert_eq!(
            accept(
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                &default
            ),
            Err(Param(DeflateParamError::Repeated(
                SERVER_NO_CONTEXT_TAKEOVER
            )))
        );
        assert_eq!(
            accept(
                "permessage-deflate",
                &config(|c| c.server_no_context_takeover = true)
            ),
            Err(MissingServerNoContextTakeover)
        );
        let s10 = config(|c| c.server_max_window_bits = 10);
        assert_eq!(
            accept("permessage-deflate", &s10),
            Err(MissingServerMaxWindowBits { offered: 10 })
        );
        assert_eq!(
            accept("permessage-deflate; server_max_window_bits=11", &s10),
            Err(ServerWindowTooLarge {
                offered: 10,
                answered: 11
            })
        );
        let c10 = config(|c| c.client_max_window_bits = Some(10));
        assert_eq!(
            accept("permessage-deflate; client_max_window_bits=12", &c10),
            Err(ClientWindowTooLarge {
                offered: 10,
                answered: 12
            })
        );
        assert_eq!(
            accept("permessage-deflate; client_max_window_bits=8", &default),
            Err(UnsupportedClientWindowBits8)
        );
        assert_eq!(
            accept("permessage-deflate; client_max_window_bits=8", &c10),
            Err(UnsupportedClientWindowBits8)
        );
    }

    #[test]
    fn display() {
        use std::error::Error as _;
        assert_eq!(
            DeflateParamError::InvalidValue {
                name: SERVER_MAX_WINDOW_BITS,
                value: "16".into()
            }
            .to_string(),
            "invalid server_max_window_bits value \"16\" (8 to 15)"
        );
        assert_eq!(
            DeclineReason::ServerWindowBits8.to_string(),
            "server_max_window_bits=8 is not supported by the compressor"
        );
        assert!(
            DeclineReason::Param(DeflateParamError::Unknown("x".into()))
                .source()
                .is_some()
        );
        assert_eq!(
            DeflateNegotiationError::ServerWindowTooLarge {
                offered: 10,
                answered: 12
            }
            .to_string(),
            "server_max_window_bits=12 is larger than the 10 offered"
        );
        assert!(DeflateNegotiationError::Duplicate.source().is_none());
        assert_eq!(
            DeflateConfigError::ServerMaxWindowBits(8).to_string(),
            "server_max_window_bits 8 out of range 9..=15"
        );
    }

    fn param() -> impl Strategy<Value = (String, Option<String>)> {
        (
            prop_oneof![
                Just(SERVER_NO_CONTEXT_TAKEOVER.to_owned()),
                Just(CLIENT_NO_CONTEXT_TAKEOVER.to_owned()),
                Just(SERVER_MAX_WINDOW_BITS.to_owned()),
                Just(CLIENT_MAX_WINDOW_BITS.to_owned()),
                Just("x".to_owned()),
            ],
            proptest::option::of(prop_oneof![
                (0u8..20).prop_map(|n| n.to_string()),
                Just("08".to_owned()),
            ]),
        )
    }

    proptest! {
        /// Any offer: the answer, if any, is one the RFC allows for it, and
        /// builds a working codec.
        #[test]
        fn answers_are_consistent(
            params in proptest::collection::vec(param(), 0..5),
            server_bits in 9..=15u8,
            client_bits in proptest::option::of(9..=15u8),
            allow in any::<bool>(),
        ) {
            let offer = ExtensionOffer { name: PERMESSAGE_DEFLATE.into(), params };
            let c = config(|c| {
                c.server_max_window_bits = server_bits;
                c.client_max_window_bits = client_bits;
            });
            let Ok(p) = negotiate_deflate_offer(&offer, &c, allow) else {
                return Ok(());
            };
            let parsed = parse_params(&offer.params, true).unwrap();
            if let Some(bits) = p.server_max_window_bits {
                prop_assert!((9..=server_bits).contains(&bits));
                prop_assert!(parsed.server_max_window_bits.is_none_or(|offered| bits <= offered));
            }
            prop_assert!(p.server_max_window_bits.is_some() || server_bits == 15);
            match parsed.client_max_window_bits {
                ClientBits::Absent => prop_assert_eq!(p.client_max_window_bits, None),
                ClientBits::Any => prop_assert_eq!(p.client_max_window_bits, client_bits),
                ClientBits::Max(offered) => {
                    prop_assert!(p.client_max_window_bits.unwrap() <= offered);
                }
            }
            if parsed.server_no_context_takeover || !allow {
                prop_assert!(p.server_no_context_takeover);
            }
            if !allow {
                prop_assert!(p.client_no_context_takeover);
            }
            prop_assert!(p.compressor(Role::Server, 6).is_ok());
            prop_assert!(p.decompressor(Role::Server).is_ok());
            // The answer parses back as a valid response to this offer.
            let response = parse_extensions(&p.response_header()).unwrap();
            prop_assert_eq!(&response[0].name, PERMESSAGE_DEFLATE);
            prop_assert!(parse_params(&response[0].params, false).is_ok());
        }
    }
}
