//! Ferry's channel primitives.
//!
//! - [`channel`]: builders for params and states.
//! - [`params`]: channel params, validation (S1, S2), ids, fresh nonces.
//! - [`outcome`]: outcome rules and the S3 totals.
//! - [`signature`]: channel keys, low-s signatures over EIP-712 digests, recovery.
//! - [`support`]: who must sign what (S4), what challenge / conclude / checkpoint / progress accept (S5, S7).
//! - [`sub_tree`]: the sub-channel Merkle tree a ledger state commits to (O(log n) insert, remove, proof).
//! - [`app`]: the app trait and the bundled payment and rock-paper-scissors apps.
//!
//! The on-chain types themselves (`ChannelParams`, `State`, `Outcome`, …) come from `ferry-contracts`, generated
//! from the Solidity sources, and are re-exported here. This crate has no tokio, no sockets and no clock.

pub mod app;
pub mod channel;
mod error;
pub mod outcome;
pub mod params;
pub mod signature;
pub mod sub_tree;
pub mod support;

pub use error::{Error, Result};
pub use ferry_contracts as contracts;
pub use ferry_contracts::{
    AssetAmount, AssetOutcome, Certificate, ChannelParams, GameData, LeafProof, Outcome,
    PaymentData, Signature, State, SubAlloc, Voucher,
};
pub use signature::Signer;
pub use sub_tree::SubTree;
