//! Ferry's SDK for app builders.
//!
//! One dependency gives an app builder everything Ferry offers today:
//! - [`ledger`]: channel params and ids, states and outcomes, signatures, the sub-channel tree, the support rules,
//!   the [`ledger::app::App`] trait and the bundled payment and rock-paper-scissors apps;
//! - [`adjudicator`]: the [`adjudicator::Chain`] trait with the embedded chain and the JSON-RPC chain, and the
//!   typed [`adjudicator::AdjudicatorClient`] for every on-chain path (deposit, conclude, challenge, checkpoint,
//!   progress, withdraw, claim).
//!
//! - [`protocol`]: the sans-IO virtual-channel protocol — a [`protocol::VirtualNode`] is one path member (its
//!   ledger node and the virtual channels it is on): open through 1..n intermediaries, vouchers, settle.
//!
//! The QUIC node runtime is built in this crate on top of these.

pub mod cli;
mod error;
pub mod metrics;
pub mod node;
pub mod protocol;
pub mod rpc;
pub mod transport;
pub mod wire;

pub use error::{Error, Result};
pub use ferry_adjudicator as adjudicator;
pub use ferry_ledger as ledger;
