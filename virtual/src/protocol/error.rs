//! Why the virtual protocol refuses a message or a command: [`VirtualError`] and the typed reasons it carries.

use alloy::primitives::{Address, B256, U256};

/// Why a virtual-channel message or command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VirtualError {
    /// V holds nothing of this member's (no entitlement, nothing locked for it, no fee): it sends no transaction
    /// for it (S16).
    #[error("the virtual channel holds nothing of this member's: it sends no transaction for it")]
    NothingAtStake,
    /// No such virtual channel here.
    #[error("unknown virtual channel {0}")]
    UnknownChannel(B256),
    /// V was released here and its record pruned after the retention period; late messages about it are refused.
    #[error("virtual channel {0} was released and pruned")]
    Pruned(B256),
    /// This node is not on V's path, or not where the message or command needs it.
    #[error("this node is not {0} of the virtual channel")]
    NotMember(&'static str),
    /// The sender is not this node's neighbour on V's path (or not the other endpoint).
    #[error("{0} may not send this")]
    NotNeighbour(Address),
    /// A ledger V needs is not one of this node's ledgers with the right peer, or not running.
    #[error("ledger {0} is not a running ledger of this node with the path neighbour")]
    LedgerMissing(B256),
    /// The pre-fund state is not a valid opening state of V.
    #[error("invalid pre-fund: {0}")]
    InvalidPrefund(&'static str),
    /// The state is not one of V's states this node can sign or collect signatures for.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// V is not funded yet (no complete certificate): no payment is accepted or made.
    #[error("the virtual channel is not funded yet")]
    NotFunded,
    /// A payment above what the payer holds in V.
    #[error("the payment exceeds the payer's funds in the virtual channel")]
    InsufficientFunds,
    /// This member already signed another final state of V (S4: at most one).
    #[error("another final state was already signed")]
    ConflictingFinal,
    /// The final state does not give this endpoint what its payments say.
    #[error("the final state does not match the payments: {0}")]
    FinalMismatch(&'static str),
    /// V is settling or settled: no more payments.
    #[error("the virtual channel is settling")]
    Settling,
    /// The move breaks the app's rules or is not the next state.
    #[error("invalid move: {0}")]
    InvalidMove(MoveError),
    /// The app at V's app address is not one this node knows the rules of.
    #[error("unknown app {0}")]
    UnknownApp(Address),
    /// The open breaks this intermediary's policy (fee, per-channel or per-user cap).
    #[error("refused by policy: {0}")]
    Policy(PolicyRefusal),
    /// Not enough liquidity in a ledger for this member's side of V (and the fees it passes on).
    #[error("capacity short: {0}")]
    Capacity(Box<CapacityShort>),
}

/// Why a move of V (an app move, or a payment where the channel's app allows none) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// A payment in a channel whose app is not the payment app.
    #[error("not a payment channel")]
    NotPaymentChannel,
    /// An app move in a payment channel: its state moves by vouchers only, so no co-signed move can stand for
    /// (and erase) the vouchers exchanged.
    #[error("a payment channel moves by vouchers, not app moves")]
    PaymentChannel,
    /// This endpoint's earlier move still waits for the other's countersignature (asked to settle meanwhile).
    #[error("a move is waiting for its countersignature")]
    AwaitingCountersignature,
    /// This endpoint's earlier move still waits for the other's countersignature (asked to move again).
    #[error("a move is already waiting")]
    AlreadyWaiting,
    /// The state is final, or of another channel.
    #[error("a non-final state of this channel")]
    NotANonFinalStateOfV,
    /// The state's version is not one above the state the move starts from.
    #[error("not the next version")]
    NotNextVersion,
    /// The app's rules refuse the move (or the app helper building it refused).
    #[error(transparent)]
    AppRules(ferry_ledger::Error),
    /// The hand given for the game is none of rock (1), paper (2) or scissors (3).
    #[error("{0} is not a hand (1 rock, 2 paper, 3 scissors)")]
    NotAHand(u8),
    /// A reveal in a game channel where this node committed no hand.
    #[error("no committed hand to reveal in this channel")]
    NoCommittedHand,
    /// S17: V is registered on-chain and the move would be `MAX_AHEAD_OF_REGISTRATION` or more versions above the
    /// registered state: a state both endpoints signed that far above could take the bond of whoever registered it;
    /// the move waits until the chain's registration catches up (each move is also played there).
    #[error(
        "V's registration on-chain is at version {registered}: no move signed at {version} or above until it catches up"
    )]
    AheadOfRegistration {
        /// The registered version.
        registered: u64,
        /// The refused move's version.
        version: u64,
    },
}

/// Which of an intermediary's terms ([`IntermediaryPolicy`](super::IntermediaryPolicy)) an open breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// The fee quoted for this intermediary is below what it charges.
    #[error("this intermediary charges {charges}, the quote offers {offered}")]
    FeeBelowCharge {
        /// What the intermediary charges for this V.
        charges: U256,
        /// What the quote offers it.
        offered: U256,
    },
    /// One of V's assets holds more than the per-channel cap.
    #[error("{total} of {asset} is above the per-channel cap {cap}")]
    AbovePerChannelCap {
        /// V's total of the asset.
        total: U256,
        /// The asset.
        asset: Address,
        /// The cap.
        cap: U256,
    },
    /// This node routes as many opens at once as it takes (`IntermediaryPolicy::max_opening`): it is busy; try again
    /// later.
    #[error("busy: {limit} virtual channels opening through this node already")]
    Busy {
        /// The limit.
        limit: usize,
    },
    /// This neighbour has as many opens routed through this node in progress as one neighbour may
    /// (`IntermediaryPolicy::max_opening_per_peer`): the node's room for opens is shared.
    #[error("busy: {peer} has {limit} virtual channels opening through this node already")]
    PeerBusy {
        /// The neighbour.
        peer: Address,
        /// The limit.
        limit: usize,
    },
    /// What this node would lock with one neighbour is above the per-user cap.
    #[error("{locked} locked with one neighbour is above the per-user cap {cap}")]
    AbovePerUserCap {
        /// What this node would then lock in the ledger with that neighbour, in the channels' first asset.
        locked: U256,
        /// The cap.
        cap: U256,
    },
}

/// A ledger short of what this member must put into V's leaf there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger {ledger} holds {have} of {asset} for this node, V needs {need}")]
pub struct CapacityShort {
    /// The ledger.
    pub ledger: B256,
    /// The asset.
    pub asset: Address,
    /// What the ledger holds of it for this node.
    pub have: U256,
    /// What V needs of it from this node (its side of V, and the fees it passes on).
    pub need: U256,
}
