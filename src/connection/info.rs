//! What a [`Connection`] tells about itself: its traffic, its handshake
//! and its addresses.

use std::net::SocketAddr;

use super::handle::Connection;
use super::stats::ConnectionStats;
use crate::handshake::{ExtensionOffer, HandshakeHeaders};
use crate::protocol::Role;

impl<S> Connection<S> {
    /// Traffic counters and state of this connection.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{:?}", conn.stats());
    /// # }
    /// ```
    pub fn stats(&self) -> ConnectionStats {
        let shared = self.shared();
        let [messages_in, bytes_in, messages_out, bytes_out] = shared.counters.load();
        ConnectionStats {
            messages_in,
            bytes_in,
            messages_out,
            bytes_out,
            queued_bytes: self.buffered_amount(),
            opened_at: shared.opened_at,
            rtt: shared.rtt(),
            open: self.is_open(),
            #[cfg(feature = "deflate")]
            deflate_bytes_saved: shared.deflate.as_ref().map_or(0, |d| d.bytes_saved()),
            #[cfg(not(feature = "deflate"))]
            deflate_bytes_saved: 0,
            #[cfg(feature = "deflate")]
            deflate_memory: shared.deflate_memory(),
            #[cfg(not(feature = "deflate"))]
            deflate_memory: 0,
        }
    }

    /// The round-trip time measured by the last answered keepalive ping
    /// ([`Config::ping_interval`](crate::Config::ping_interval)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if let Some(rtt) = conn.rtt() { println!("rtt {rtt:?}"); }
    /// # }
    /// ```
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.shared().rtt()
    }

    /// Which end of the connection this is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// assert_eq!(conn.role(), wsgate::protocol::Role::Server);
    /// # }
    /// ```
    pub fn role(&self) -> Role {
        self.shared().role
    }

    /// The subprotocol agreed in the handshake, in the client's spelling.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if conn.protocol() == Some("chat") { /* ... */ }
    /// # }
    /// ```
    pub fn protocol(&self) -> Option<&str> {
        self.shared().info.protocol()
    }

    /// The extensions agreed in the handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// for ext in conn.extensions() { println!("{ext}"); }
    /// # }
    /// ```
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.shared().info.extensions
    }

    /// The permessage-deflate parameters agreed in the handshake, or `None`
    /// when messages go uncompressed (feature `deflate`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// if let Some(params) = conn.deflate() {
    ///     println!("compressing: {params}");
    /// }
    /// # }
    /// ```
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::handshake::DeflateParams> {
        self.shared().deflate.as_ref().map(|d| d.params)
    }

    /// The peer's address (for a server behind a trusted proxy, the client
    /// address the proxy forwarded).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("from {}", conn.remote_addr());
    /// # }
    /// ```
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared().info.remote_addr
    }

    /// This end's address.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("on {}", conn.local_addr());
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.shared().info.local_addr
    }

    /// The `Host` of the handshake.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{}", conn.host());
    /// # }
    /// ```
    pub fn host(&self) -> &str {
        self.shared().info.host()
    }

    /// The `Origin` of the handshake, if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{:?}", conn.origin());
    /// # }
    /// ```
    pub fn origin(&self) -> Option<&str> {
        self.shared().info.origin()
    }

    /// The requested resource: path and query.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// println!("{}", conn.resource());
    /// # }
    /// ```
    pub fn resource(&self) -> &str {
        self.shared().info.resource()
    }

    /// The handshake headers (the request's on a server, the response's on a
    /// client), as sent, in order.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// for (name, value) in conn.headers() { println!("{name}: {value}"); }
    /// let cookies: Vec<&str> = conn.headers().get_all("cookie").collect();
    /// # }
    /// ```
    pub fn headers(&self) -> &HandshakeHeaders {
        self.shared().info.headers()
    }

    /// The first handshake header called `name` (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(conn: wsgate::Connection) {
    /// let agent = conn.header("user-agent").unwrap_or("unknown");
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name)
    }
}
