//! Ferry's simulations, differential tests, benchmarks and the gas report.
//!
//! - [`anchors`]: the anchors' published gas figures, embedded.
//! - [`app_check`]: an app's Rust rules against its contract's verdicts, for app builders' property tests.
//! - [`gas`]: the gas report: every on-chain path on the embedded chain, beside Nitro's figures.
//! - [`ledger_net`]: a deterministic network of ledger nodes over the embedded chain (faulty wire, crashes,
//!   byzantine hooks) for end-to-end tests, property tests and benchmarks.
//! - [`virtual_net`]: the virtual-channel harness: a path of nodes over funded ledgers, on a synthetic or embedded chain.

pub mod anchors;
pub mod app_check;
pub mod gas;
pub mod ledger_net;
pub mod virtual_net;

/// Errors of the simulations crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded anchor figures do not parse.
    #[error("anchor figures: {0}")]
    Anchors(String),
    /// A chain operation failed.
    #[error(transparent)]
    Chain(#[from] ferry_adjudicator::Error),
    /// A channel rule refused something the report built.
    #[error(transparent)]
    Ledger(#[from] ferry_ledger::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
