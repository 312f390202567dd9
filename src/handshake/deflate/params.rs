//! The permessage-deflate parameters (RFC 7692 §7.1): their names and
//! syntax, this end's preferences ([`DeflateConfig`]) and their validation,
//! and what both ends agreed on ([`DeflateParams`]): its header value, its
//! window bits and context takeover by role, and the codec it builds.

use std::fmt;

use crate::error::Quoted;
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

pub(super) const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
pub(super) const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
pub(super) const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
pub(super) const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

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
    /// How long a connection's own compressor may go unused before it
    /// gives its memory (about 371 KiB at window 15) back, at the next
    /// keepalive ping, ours ([`Config::ping_interval`](crate::Config::ping_interval))
    /// or the peer's. The next compressed message makes a fresh one, valid
    /// for the peer whatever it keeps. Default 10 s: a conversation keeps
    /// its context, an idle connection costs little. With neither side
    /// pinging, the compressor is kept.
    pub compressor_idle: std::time::Duration,
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
            compressor_idle: std::time::Duration::from_secs(10),
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

    pub(super) fn server_bits(&self) -> u8 {
        self.server_max_window_bits.clamp(9, 15)
    }

    pub(super) fn client_bits(&self) -> Option<u8> {
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
#[non_exhaustive]
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
    /// from [`negotiate_deflate`](super::negotiate_deflate) or
    /// [`accept_deflate_response`](super::accept_deflate_response).
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
    /// never for parameters from [`negotiate_deflate`](super::negotiate_deflate) or
    /// [`accept_deflate_response`](super::accept_deflate_response).
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
#[non_exhaustive]
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
            Self::Unknown(name) => write!(f, "unknown parameter {}", Quoted(name)),
            Self::Repeated(name) => write!(f, "repeated parameter {name}"),
            Self::UnexpectedValue { name, value } => {
                write!(f, "parameter {name} takes no value (got {})", Quoted(value))
            }
            Self::MissingValue(name) => write!(f, "parameter {name} needs a value"),
            Self::InvalidValue { name, value } => {
                write!(f, "invalid {name} value {} (8 to 15)", Quoted(value))
            }
        }
    }
}

impl std::error::Error for DeflateParamError {}

/// `client_max_window_bits` as it appears in an offer or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientBits {
    Absent,
    /// In an offer, without a value: the server may pick.
    Any,
    Max(u8),
}

/// The four parameters, syntax-checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parsed {
    pub(super) server_no_context_takeover: bool,
    pub(super) client_no_context_takeover: bool,
    pub(super) server_max_window_bits: Option<u8>,
    pub(super) client_max_window_bits: ClientBits,
}

/// Parses `params` (RFC 7692 §7.1): each of the four known parameters at
/// most once, no others. `offer` allows a valueless `client_max_window_bits`.
pub(super) fn parse_params(
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

#[cfg(test)]
mod tests {
    use super::super::test_util::{config, offers};
    use super::super::{client_deflate_offer, negotiate_deflate};
    use super::*;

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
    fn display() {
        assert_eq!(
            DeflateParamError::InvalidValue {
                name: SERVER_MAX_WINDOW_BITS,
                value: "16".into()
            }
            .to_string(),
            "invalid server_max_window_bits value \"16\" (8 to 15)"
        );
        assert_eq!(
            DeflateConfigError::ServerMaxWindowBits(8).to_string(),
            "server_max_window_bits 8 out of range 9..=15"
        );
    }
}
