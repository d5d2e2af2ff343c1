//! The one error type of `ferry-virtual`.

/// Everything that can go wrong in the virtual-channel protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The ledger layer refused (channel rules, a ledger protocol error, the store).
    #[error(transparent)]
    Ledger(#[from] ferry_ledger::Error),
    /// The virtual-channel protocol refused.
    #[error(transparent)]
    Virtual(#[from] crate::protocol::VirtualError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
