//! Everything in Ferry that talks to the chain.
//!
//! - [`Chain`]: what Ferry asks of a chain — send a transaction and wait for its receipt, call a view, read the
//!   head, stream the Adjudicator's decoded events from a block on ([`event_stream`]), move a test chain's clock.
//! - [`EmbeddedChain`]: revm in-process with the Adjudicator deployed at start, funded accounts and a controllable
//!   clock. The default chain: zero setup.
//! - [`RpcChain`]: any Ethereum JSON-RPC node over HTTP or WebSocket (anvil locally, any EVM chain in production),
//!   with a chain-id check at connect and confirmations.
//! - [`AdjudicatorClient`]: the Adjudicator's entry points as typed async methods over any [`Chain`].
//!
//! Reverts come back as [`Error::Reverted`] with the contract error's name (`ChannelFinalized`, `StaleVersion { .. }`).

mod chain;
mod client;
mod embedded;
mod error;
mod rpc;

pub use chain::{
    BlockInfo, Chain, ChainEvent, ChannelStatus, Holdings, Receipt, TxRequest, decode_events,
    event_stream,
};
pub use client::{AdjudicatorClient, empty_certificate};
pub use embedded::{
    ACCOUNT_FUNDS_ETH, DEFAULT_CHAIN_ID, EmbeddedChain, GENESIS_TIME, TX_GAS_LIMIT,
};
pub use error::{Error, Result};
pub use rpc::{RpcChain, RpcConfig};
