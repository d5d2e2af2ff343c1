//! Everything in Ferry that talks to the chain.
//!
//! - [`Chain`]: what Ferry asks of a chain — send a transaction and wait for its receipt, call a view, read a
//!   channel's status and holdings, balances, the head, stream the Adjudicator's decoded events from a block on
//!   ([`event_stream`]), move a test chain's clock. Used as `Arc<dyn Chain>`.
//! - [`EmbeddedChain`]: revm in-process with the Adjudicator and the bundled apps deployed at start, funded
//!   accounts, automine or batched blocks, and a controllable clock. The default chain: zero setup.
//! - [`RpcChain`]: any Ethereum JSON-RPC node over HTTP or WebSocket (anvil locally, any EVM chain in production),
//!   with a chain-id check at connect and confirmations.
//! - [`AdjudicatorClient`]: the Adjudicator's entry points as typed async methods over any [`Chain`].
//! - [`watcher`]: the one chain driver: feeds a protocol core ([`ChainDuties`](ferry_ledger::protocol::ChainDuties)) the chain's events from its persisted
//!   cursor on (so a restart misses nothing) and submits the transactions its channels ask for.
//!
//! Reverts come back as [`Error::Reverted`] with the contract error decoded ([`ContractError`]: name and
//! arguments, e.g. `StaleVersion { version, registered }`); running out of gas as [`Error::OutOfGas`].

mod chain;
mod client;
mod embedded;
mod error;
mod rpc;
pub mod watcher;

pub use chain::{
    BlockInfo, Chain, ChainEvent, ChannelStatus, Holdings, IERC20, Receipt, TxRequest,
    decode_events, event_stream,
};
pub use client::{AdjudicatorClient, empty_certificate};
pub use embedded::{
    ACCOUNT_FUNDS_ETH, BLOCK_GAS_LIMIT, BUNDLED, DEFAULT_CHAIN_ID, DEFAULT_SPEC, EmbeddedChain,
    EmbeddedConfig, GENESIS_TIME, TX_GAS_LIMIT,
};
pub use error::{ContractError, Error, Result};
pub use ferry_contracts::IAdjudicator::IAdjudicatorEvents as AdjudicatorEvent;
pub use revm::primitives::hardfork::SpecId;
pub use rpc::{DEV_CHAIN_IDS, PUBLIC_CONFIRMATIONS, RpcChain, RpcConfig};
