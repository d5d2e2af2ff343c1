//! The one error type of `ferry-node`.

/// Everything that can go wrong in the node: the protocol cores refusing, the transport, the chain, the setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger layer refused (channel rules, a ledger protocol error, the store).
    #[error(transparent)]
    Ledger(#[from] ferry_ledger::Error),
    /// The virtual-channel protocol refused.
    #[error(transparent)]
    Virtual(#[from] ferry_virtual::protocol::VirtualError),
    /// The transport refused or failed.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// A frame could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] crate::wire::WireError),
    /// The chain could not be reached or read, or refused a transaction.
    #[error("chain: {0}")]
    Chain(#[from] ferry_adjudicator::Error),
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

impl From<ferry_virtual::Error> for Error {
    fn from(e: ferry_virtual::Error) -> Self {
        match e {
            ferry_virtual::Error::Ledger(e) => Error::Ledger(e),
            ferry_virtual::Error::Virtual(e) => Error::Virtual(e),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
