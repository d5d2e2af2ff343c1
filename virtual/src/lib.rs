//! Ferry's sans-IO virtual-channel protocol: no tokio, no sockets, no clock.
//!
//! - [`protocol`]: a [`protocol::VirtualNode`] is one path member (its ledger node and the virtual channels it is
//!   on): open through 0..n intermediaries, vouchers, settle, app moves, the on-chain fallback, gossip.
//!
//! The node runtime (tokio, QUIC, JSON-RPC, the `ferry` binary) is `ferry-node`; the multi-node harness is
//! `ferry-simulations`.

mod error;
pub mod protocol;

pub use error::{Error, Result};
pub use ferry_ledger as ledger;
