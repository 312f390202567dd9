//! Address helpers: CIDR ranges and the client address behind a proxy.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An IP network in CIDR notation, such as `10.0.0.0/8` or `::1/128`.
///
/// A bare address is a network of one host.
///
/// # Examples
///
/// ```
/// use wsgate::IpNet;
///
/// let net: IpNet = "192.168.0.0/16".parse().unwrap();
/// assert!(net.contains("192.168.4.2".parse().unwrap()));
/// assert!(!net.contains("10.0.0.1".parse().unwrap()));
/// assert!("::1".parse::<IpNet>().unwrap().contains("::1".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A string that is not an address or CIDR range.
///
/// # Examples
///
/// ```
/// let error = "10.0.0.0/33".parse::<wsgate::IpNet>().unwrap_err();
/// assert_eq!(error.0, "10.0.0.0/33");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIpNet(
    /// The string that failed to parse.
    pub String,
);

impl std::fmt::Display for InvalidIpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not an IP address or CIDR range: {}",
            crate::error::Quoted(&self.0)
        )
    }
}

impl std::error::Error for InvalidIpNet {}

impl IpNet {
    /// The network `addr/prefix`, or `None` when the prefix is too long for
    /// the address family.
    ///
    /// # Examples
    ///
    /// ```
    /// use wsgate::IpNet;
    ///
    /// let net = IpNet::new("127.0.0.0".parse().unwrap(), 8).unwrap();
    /// assert!(net.contains("127.1.2.3".parse().unwrap()));
    /// ```
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is in this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) match IPv4 networks.
    ///
    /// # Examples
    ///
    /// ```
    /// let net: wsgate::IpNet = "10.0.0.0/8".parse().unwrap();
    /// assert!(net.contains("::ffff:10.1.1.1".parse().unwrap()));
    /// ```
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, prefix: u8) -> bool {
    prefix == 0 || (a ^ b) >> (128 - u32::from(prefix)) == 0
}

impl FromStr for IpNet {
    type Err = InvalidIpNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpNet(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| invalid())?;
        let prefix = match prefix {
            Some(p) => p.trim().parse().map_err(|_| invalid())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpNet::new(addr, prefix).ok_or_else(invalid)
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy,
/// the address the proxies forwarded.
///
/// The hops of `Forwarded` (RFC 7239; `for=` of every element, over every
/// header line) or else of `X-Forwarded-For` are walked from the right,
/// skipping trusted proxies: the first untrusted hop is the client. A
/// client cannot choose its address by sending the headers itself, since a
/// proxy appends to what it received. A hop that cannot be read (such as
/// `unknown`) ends the walk at the TCP peer. A forwarded address carries no
/// usable port, so the result has port 0 unless `Forwarded` gives one.
pub(crate) fn client_address(
    peer: SocketAddr,
    trusted: &[IpNet],
    headers: &[(String, String)],
) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer.ip()) {
        return peer;
    }
    // Each header's value is a list, and several headers are one list.
    fn values<'h>(
        headers: &'h [(String, String)],
        name: &'static str,
    ) -> impl Iterator<Item = &'h str> {
        crate::handshake::header_values(headers, name).flat_map(|v| v.split(','))
    }
    let forwarded: Vec<Option<SocketAddr>> =
        values(headers, "forwarded").map(forwarded_for).collect();
    let hops = if forwarded.is_empty() {
        values(headers, "x-forwarded-for")
            .map(|hop| parse_node(hop.trim()))
            .collect()
    } else {
        forwarded
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(addr) if is_trusted(addr.ip()) => client = addr,
            Some(addr) => return addr,
            None => return peer,
        }
    }
    client
}

/// The `for=` parameter of one `Forwarded` element.
fn forwarded_for(element: &str) -> Option<SocketAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:80`, `[::1]`,
/// `[::1]:80` or `::1`.
fn parse_node(node: &str) -> Option<SocketAddr> {
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = node
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(node);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.255.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::2".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        for bad in ["", "10.0.0.0/", "1.2.3.4/33", "::/129", "nope", "1.2.3.4/x"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let trusted = ["127.0.0.1".parse().unwrap()];
        let xff = headers(&[("X-Forwarded-For", "203.0.113.7")]);
        assert_eq!(client_address(peer, &[], &xff), peer);
        assert_eq!(
            client_address(peer, &trusted, &xff),
            "203.0.113.7:0".parse().unwrap()
        );
        let fwd = headers(&[
            ("Forwarded", "for=\"[2001:db8::17]:4711\";proto=https"),
            ("X-Forwarded-For", "203.0.113.7"),
        ]);
        assert_eq!(
            client_address(peer, &trusted, &fwd),
            "[2001:db8::17]:4711".parse().unwrap()
        );
        let junk = headers(&[("X-Forwarded-For", "not-an-address")]);
        assert_eq!(client_address(peer, &trusted, &junk), peer);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        // The client sent a forged first hop; the proxies appended the rest.
        let xff = headers(&[("X-Forwarded-For", "1.1.1.1, 198.51.100.9, 10.0.0.2")]);
        assert_eq!(
            client_address(peer, &trusted, &xff),
            "198.51.100.9:0".parse().unwrap()
        );
        // Several header lines are one list.
        let lines = headers(&[
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Forwarded-For", "198.51.100.9, 10.0.0.2"),
        ]);
        assert_eq!(
            client_address(peer, &trusted, &lines),
            "198.51.100.9:0".parse().unwrap()
        );
        // Every hop trusted: the leftmost.
        let inside = headers(&[("X-Forwarded-For", "10.1.1.1, 10.0.0.2")]);
        assert_eq!(
            client_address(peer, &trusted, &inside),
            "10.1.1.1:0".parse().unwrap()
        );
        // An unreadable hop ends the walk at the peer.
        let unknown = headers(&[("Forwarded", "for=unknown, for=10.0.0.2")]);
        assert_eq!(client_address(peer, &trusted, &unknown), peer);
    }
}
