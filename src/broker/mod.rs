//! The broker seam: how topics reach other processes.
//!
//! Without a broker (the default), a publish reaches the subscribers of
//! this server only, and nothing here runs. With one
//! ([`ServerBuilder::broker`](crate::ServerBuilder::broker)), every node
//! of a cluster does the same three things:
//!
//! - a publish is delivered to this node's subscribers first, then handed
//!   to the broker, tagged with this node's id;
//! - the node is subscribed at the broker to a topic while the topic has at
//!   least one local subscriber (a connection, or an
//!   [`on_topic`](crate::ServerHandle::on_topic) listener), and
//!   unsubscribed when the last one leaves;
//! - what the broker brings from other nodes is checked and delivered to
//!   the local subscribers; the node's own publishes, echoed back by the
//!   broker, are recognised by their tag and ignored.
//!
//! A broker never makes a connection's task or a publisher wait: handing a
//! publish over only queues it (a broker that cannot keep up drops and
//! counts), and an outage only stops what crosses to other nodes.
//!
//! Delivery across nodes is **at most once**, and **in order per
//! publisher** on each receiving node: the broker's own guarantees (for
//! Redis, one connection per node publishes in order, and pub/sub keeps no
//! message for a node that is not connected). A publish made while the
//! broker is down, or before a node's subscription has reached the broker,
//! does not reach other nodes.
//!
//! wsgate ships a Redis broker, [`RedisBroker`] (feature `redis`). Another
//! broker (NATS, a message bus of the application's) implements
//! [`Broker`]; it moves opaque bytes on named channels, and wsgate does
//! the tagging, checking and counting.

pub(crate) mod envelope;
mod inbox;
mod link;
#[cfg(feature = "redis")]
mod redis;
mod seam;

pub use self::inbox::BrokerInbox;
pub(crate) use self::inbox::Inbound;
pub(crate) use self::link::Link;
#[cfg(feature = "redis")]
pub use self::redis::{RedisBroker, RedisBrokerBuilder};
pub use self::seam::{Broker, BrokerMetrics};
