pub mod protocol;
pub use protocol::{CloseCode, DataKind, Fragment, Message, ProtocolError};
