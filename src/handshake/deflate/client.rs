//! The client's side of the negotiation: its offer, and its check of what
//! the server answered.

use std::fmt;

use super::params::{
    CLIENT_MAX_WINDOW_BITS, CLIENT_NO_CONTEXT_TAKEOVER, ClientBits, DeflateConfig,
    DeflateParamError, DeflateParams, PERMESSAGE_DEFLATE, SERVER_MAX_WINDOW_BITS,
    SERVER_NO_CONTEXT_TAKEOVER, parse_params,
};
use crate::error::Quoted;
use crate::handshake::ExtensionOffer;

/// Why a server's permessage-deflate response cannot be accepted: by a
/// client ([`accept_deflate_response`]; the connection must then be failed,
/// RFC 6455 §4.1, RFC 7692 §5), or by wsgate checking a raw 101 the
/// application wrote against the client's offers
/// ([`check_raw_response`](crate::handshake::check_raw_response)).
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
    /// A raw 101 answers `client_max_window_bits`, which the offer did not
    /// carry: the client never said it could limit its window.
    ClientWindowBitsNotOffered,
    /// A raw 101 sets `server_max_window_bits=8`, a window wsgate's
    /// compressor cannot use.
    UnsupportedServerWindowBits8,
}

impl fmt::Display for DeflateNegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedExtension(name) => {
                write!(
                    f,
                    "server accepted extension {} that was not offered",
                    Quoted(name)
                )
            }
            Self::Duplicate => f.write_str("server accepted permessage-deflate twice"),
            Self::Param(_) => f.write_str("invalid permessage-deflate response"),
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
            Self::ClientWindowBitsNotOffered => {
                f.write_str("client_max_window_bits answered but not offered")
            }
            Self::UnsupportedServerWindowBits8 => {
                f.write_str("server_max_window_bits=8 is not supported by the compressor")
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
    use super::super::test_util::{config, offers};
    use super::super::{negotiate_deflate, negotiate_deflate_offer};
    use super::*;
    use crate::protocol::Role;

    #[test]
    fn client_offers() {
        let c = |f: fn(&mut DeflateConfig)| client_deflate_offer(&config(f)).unwrap();
        assert_eq!(c(|_| {}), "permessage-deflate; client_max_window_bits");
        assert_eq!(client_deflate_offer(&config(|c| c.enabled = false)), None);
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
    fn display() {
        use std::error::Error as _;
        assert_eq!(
            DeflateNegotiationError::ServerWindowTooLarge {
                offered: 10,
                answered: 12
            }
            .to_string(),
            "server_max_window_bits=12 is larger than the 10 offered"
        );
        assert!(DeflateNegotiationError::Duplicate.source().is_none());
    }
}
