//! The one error type of `ferry-virtual`.

/// Everything that can go wrong in the virtual-channel protocol and the node runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The ledger layer refused (channel rules, a ledger protocol error, the store).
    #[error(transparent)]
    Ledger(#[from] ferry_ledger::Error),
    /// The virtual-channel protocol refused.
    #[error(transparent)]
    Virtual(#[from] crate::protocol::VirtualError),
    /// The transport refused or failed.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// A frame could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
    /// The chain could not be reached or read.
    #[error("chain: {0}")]
    Chain(String),
    /// The network refused to queue a message.
    #[error("network: {0}")]
    Network(String),
    /// A setting is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The node's task has stopped: nothing more can be asked of it.
    #[error("the node has stopped")]
    Stopped,
    /// Something awaited did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
