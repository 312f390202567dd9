//! The server's side of the negotiation: the first offer it can honour,
//! and the parameters that answer it.

use std::fmt;

use super::client::DeflateNegotiationError;
use super::params::{
    ClientBits, DeflateConfig, DeflateParamError, DeflateParams, PERMESSAGE_DEFLATE, Parsed,
    parse_params,
};
use crate::handshake::ExtensionOffer;

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
#[non_exhaustive]
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
            Self::Param(_) => f.write_str("invalid permessage-deflate offer"),
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

/// Server side, for an answer the application wrote itself (a raw 101):
/// the parameters `answer` agrees to, when it is a valid answer to one of
/// the client's permessage-deflate `offers` (RFC 7692 §7.1). `None` when the
/// client made no valid permessage-deflate offer (one with invalid
/// parameters counts as not made); otherwise, when no offer allows the
/// answer, why the first one does not.
///
/// An answer may always add `server_no_context_takeover`,
/// `client_no_context_takeover` and a `server_max_window_bits` (9..=15:
/// our compressor cannot use 8); it must agree to the offer's
/// `server_no_context_takeover` and answer its `server_max_window_bits`
/// with no more; it may answer `client_max_window_bits` only when offered,
/// with no more than an offered value.
pub(crate) fn check_deflate_answer(
    offers: &[ExtensionOffer],
    answer: &ExtensionOffer,
) -> Option<Result<DeflateParams, DeflateNegotiationError>> {
    let answered = match parse_params(&answer.params, false) {
        Ok(answered) => answered,
        Err(e) => return Some(Err(DeflateNegotiationError::Param(e))),
    };
    if answered.server_max_window_bits == Some(8) {
        return Some(Err(DeflateNegotiationError::UnsupportedServerWindowBits8));
    }
    let params = DeflateParams {
        server_no_context_takeover: answered.server_no_context_takeover,
        client_no_context_takeover: answered.client_no_context_takeover,
        server_max_window_bits: answered.server_max_window_bits,
        client_max_window_bits: match answered.client_max_window_bits {
            ClientBits::Max(bits) => Some(bits),
            ClientBits::Absent | ClientBits::Any => None,
        },
    };
    let mut first_error = None;
    let valid_offers = offers
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .filter_map(|offer| parse_params(&offer.params, true).ok());
    for offered in valid_offers {
        match answer_fits(&offered, &params) {
            Ok(()) => return Some(Ok(params)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map(Err)
}

/// Whether `answer` is a valid answer to the offer `offered`.
fn answer_fits(offered: &Parsed, answer: &DeflateParams) -> Result<(), DeflateNegotiationError> {
    if offered.server_no_context_takeover && !answer.server_no_context_takeover {
        return Err(DeflateNegotiationError::MissingServerNoContextTakeover);
    }
    if let Some(asked) = offered.server_max_window_bits {
        match answer.server_max_window_bits {
            None => {
                return Err(DeflateNegotiationError::MissingServerMaxWindowBits { offered: asked });
            }
            Some(bits) if bits > asked => {
                return Err(DeflateNegotiationError::ServerWindowTooLarge {
                    offered: asked,
                    answered: bits,
                });
            }
            Some(_) => {}
        }
    }
    match (
        answer.client_max_window_bits,
        offered.client_max_window_bits,
    ) {
        (Some(_), ClientBits::Absent) => Err(DeflateNegotiationError::ClientWindowBitsNotOffered),
        (Some(bits), ClientBits::Max(limit)) if bits > limit => {
            Err(DeflateNegotiationError::ClientWindowTooLarge {
                offered: limit,
                answered: bits,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::{
        CLIENT_MAX_WINDOW_BITS, CLIENT_NO_CONTEXT_TAKEOVER, SERVER_MAX_WINDOW_BITS,
        SERVER_NO_CONTEXT_TAKEOVER,
    };
    use super::super::test_util::{config, offers};
    use super::*;
    use crate::handshake::parse_extensions;
    use crate::protocol::Role;
    use proptest::prelude::*;

    /// The server's answer to `header` with the default config.
    fn answer(header: &str) -> Option<String> {
        negotiate_deflate(&offers(header), &DeflateConfig::default(), true)
            .map(|p| p.response_header())
    }

    fn decline(header: &str) -> DeclineReason {
        negotiate_deflate_offer(&offers(header)[0], &DeflateConfig::default(), true).unwrap_err()
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
    fn display() {
        use std::error::Error as _;
        assert_eq!(
            DeclineReason::ServerWindowBits8.to_string(),
            "server_max_window_bits=8 is not supported by the compressor"
        );
        assert!(
            DeclineReason::Param(DeflateParamError::Unknown("x".into()))
                .source()
                .is_some()
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
