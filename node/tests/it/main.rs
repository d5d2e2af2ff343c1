//! `ferry-node`'s integration tests, in one binary (one link of the heavy dependencies instead of one per file).
//!
//! - [`node_runtime`]: three nodes in one process on an in-memory network and the embedded chain.
//! - [`rpc_api`]: the JSON-RPC API and `/metrics` against a running node.
//! - [`processes`]: three `ferry node` processes over loopback QUIC against a real anvil.
//! - [`chain_side`]: the chain side on anvil: a loop that never waits, concurrent and replaced transactions, reorgs.
//! - [`slow_blocks`]: a hub on 2-second blocks keeps serving its users while its transactions are mined.
//! - [`hostile`]: strangers (forged opens, floods) against a `ferry node` hub while honest users pay through it.
//! - [`cli`]: the `ferry` binary's arguments and errors.

mod chain_side;
mod cli;
mod hostile;
mod node_runtime;
mod outside_attack_8;
mod processes;
mod rpc_api;
mod slow_blocks;
