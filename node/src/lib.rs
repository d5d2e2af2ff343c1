//! Ferry's node: the I/O around the sans-IO cores (`ferry-ledger`, `ferry-virtual`), and the SDK an app builder
//! depends on.
//!
//! - [`runtime`]: the tokio task that drives one virtual node with its store, network and chain, behind a typed,
//!   cloneable handle ([`runtime::Node`]) and an event stream.
//! - [`transport`]: authenticated QUIC between channel keys, with a persisted outbox (at-least-once delivery).
//! - [`wire`]: the frames on a QUIC stream and their bounds.
//! - [`chain`]: the node's transactions turned into adjudicator calls for the one chain driver.
//! - [`rpc`]: the JSON-RPC API (and `GET /metrics`) on the API port, behind a bearer token.
//! - [`metrics`]: the Prometheus metrics.
//! - [`cli`]: the `ferry` command line, its config file and `ferry demo`.
//!
//! The lower crates are re-exported: [`ledger`] (channel primitives, apps, the store), [`adjudicator`] (the chain:
//! embedded or JSON-RPC, the typed client, the chain driver) and [`virtual_channels`] (the virtual protocol).

pub mod chain;
pub mod cli;
mod error;
pub mod metrics;
pub mod rpc;
pub mod runtime;
pub mod transport;
pub mod wire;

pub use error::{Error, Result};
pub use ferry_adjudicator as adjudicator;
pub use ferry_ledger as ledger;
pub use ferry_virtual as virtual_channels;
