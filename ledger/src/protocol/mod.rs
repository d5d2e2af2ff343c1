//! The sans-IO ledger-channel protocol (DESIGN "Protocols" 1, 2, 6, 7): open, batched updates, cooperative close,
//! disputes.
//!
//! Two layers, both free of I/O:
//! - [`LedgerChannel`]: one channel's objectives as a state machine. Inputs are method calls (`handle_*`, user
//!   commands) with the time passed in; outputs are queued messages, transactions and events.
//! - [`LedgerNode`]: all channels of one participant with its key, its [`Store`](crate::store::Store) and its
//!   policy. It routes messages and chain events, persists every change before the messages it causes can be
//!   polled out (`poll_transmit`), and restores everything from the store after a crash.
//!
//! Roles: participant 0 of a ledger (the opener) is its **leader** and participant 1 its **follower**. The leader
//! batches every operation (its own and the follower's requests) into one proposal at a time; the follower checks
//! it and countersigns. Neither side ever signs two different states with the same version.

mod channel;
mod duties;
mod node;
pub mod ops;

pub use channel::{Config, LedgerChannel, OpenPolicy, Phase};
pub use duties::ChainDuties;
pub use node::{LedgerNode, NAMESPACES, NS_CHANNELS, NS_CURSOR, NS_LEAVES};
pub use ops::{Op, Proposal};

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{ChannelParams, Signature, State, SubAlloc};
use serde::{Deserialize, Serialize};

use crate::SignedState;

/// Why a protocol message or command was refused. The channel is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// No channel with this id.
    #[error("unknown channel {0}")]
    UnknownChannel(B256),
    /// A message came from someone who is not the channel's peer.
    #[error("{0} is not this channel's peer")]
    NotPeer(Address),
    /// This node is not a participant of the channel (or not the one the message or command needs).
    #[error("this node is not {0} of the channel")]
    NotParticipant(&'static str),
    /// The channel id was used before: a node never signs for the same channel twice (S1).
    #[error("channel {0} is already known")]
    ChannelExists(B256),
    /// The command or message does not fit the channel's current phase.
    #[error("not possible while the channel is {phase}: {what}")]
    WrongPhase {
        /// The channel's phase.
        phase: &'static str,
        /// What was attempted.
        what: &'static str,
    },
    /// The open request does not meet this node's open policy.
    #[error("open refused: {0}")]
    OpenRefused(String),
    /// This node signed a final state of the channel and signs no other state of it (S14): the peer could
    /// complete that final at any time and erase every later state with it.
    #[error("a final state of this channel is signed (version {0}): the channel is closing")]
    FinalSigned(u64),
    /// The state leaves out a partial withdrawal of `asset` that a state this node signed before counts (S14): the
    /// peer could be paid it on-chain by the older state and keep the funds in the newer one.
    #[error("the state leaves out a partial withdrawal of {0} this node signed before")]
    WithdrawalDropped(Address),
    /// The asset is not in the channel.
    #[error("asset {0} is not in the channel")]
    UnknownAsset(Address),
    /// The peer asked this node to take an ERC-20 token that is not on its list of accepted tokens
    /// ([`OpenPolicy::tokens`]).
    #[error("asset {0} is not on this node's list of accepted tokens")]
    AssetNotAccepted(Address),
    /// An amount was zero.
    #[error("zero amount")]
    ZeroAmount,
    /// Not enough funds for the operation.
    #[error("insufficient funds: {0}")]
    Insufficient(&'static str),
    /// Lengths or sums of an operation do not fit.
    #[error("malformed operation: {0}")]
    ShapeMismatch(&'static str),
    /// A close while sub-channels are still hosted.
    #[error("{0} sub-channels are still open")]
    SubChannelsOpen(usize),
    /// The channel is closing (a final state exists); nothing else can change.
    #[error("the channel is closing")]
    ChannelClosing,
    /// An operation takes funds from a participant who did not propose or request it.
    #[error("operation {op} would take funds from participant {victim}, who did not ask for it")]
    Unauthorized {
        /// The operation's name.
        op: &'static str,
        /// The participant it would take from.
        victim: u8,
    },
    /// A request's sequence number is not the next one.
    #[error("request {got} out of sequence (next is {expected})")]
    OutOfSequence {
        /// The sequence number received.
        got: u64,
        /// The one expected.
        expected: u64,
    },
    /// The sub-channel guard refused an operation.
    #[error("sub-channel operation refused: {0}")]
    GuardRefused(String),
    /// The proposed state is not what the batch gives.
    #[error("the proposed state does not match its batch")]
    StateMismatch,
    /// The peer signed a different state with a version already used: evidence of a byzantine peer.
    #[error("conflicting state for version {0}")]
    ConflictingState(u64),
    /// A state with a version this node signed something else for, or older than its latest supported one.
    #[error("version {version} is stale (latest {latest})")]
    StaleVersion {
        /// The version received.
        version: u64,
        /// This node's latest signed or supported version.
        latest: u64,
    },
    /// A message for a version this node does not expect.
    #[error("unexpected version {0}")]
    UnexpectedVersion(u64),
    /// A top-up the chain does not show yet (the message is kept and answered once it does).
    #[error("waiting for the chain to show a deposit")]
    AwaitingChain,
    /// A malformed open: the pre-fund state is not a plain version-0 funding state.
    #[error("invalid pre-fund state: {0}")]
    InvalidPrefund(&'static str),
    /// The channel's table already holds its maximum of sub-channels, or a batch is too large.
    #[error("limit reached: {0}")]
    Limit(&'static str),
}

/// A message between the two participants of a ledger channel. Every message names its channel; the transport
/// tells who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerMessage {
    /// The opener's proposal: the params and the pre-fund state (version 0) signed by the opener.
    Open {
        /// The channel's params.
        params: ChannelParams,
        /// The pre-fund state.
        prefund: State,
        /// The opener's signature on it.
        sig: Signature,
    },
    /// A signature on the state of `version` this channel's objective is at (pre-fund, post-fund, an update, the
    /// final state). `have_yours` tells the receiver whether the sender already holds the receiver's signature on
    /// it; when it does not, the receiver answers with its own.
    Sign {
        /// The channel.
        channel_id: B256,
        /// The version signed.
        version: u64,
        /// The signature.
        sig: Signature,
        /// Whether the sender holds the receiver's signature on this state.
        have_yours: bool,
    },
    /// The leader's update: the batch and the state it leads to, signed by the leader.
    Propose {
        /// The new state.
        state: State,
        /// The leader's signature on it.
        sig: Signature,
        /// The operations, in order.
        batch: Vec<Proposal>,
    },
    /// The follower refuses the leader's proposal of `version` because of operation `index`.
    Reject {
        /// The channel.
        channel_id: B256,
        /// The version refused.
        version: u64,
        /// The offending operation's index in the batch.
        index: u64,
        /// Why.
        reason: String,
    },
    /// The follower's operations for the leader's next batch: every request not yet included, oldest first.
    Request {
        /// The channel.
        channel_id: B256,
        /// The requests.
        proposals: Vec<Proposal>,
    },
    /// The leader refuses the follower's request `seq`.
    Refuse {
        /// The channel.
        channel_id: B256,
        /// The request's sequence number.
        seq: u64,
        /// Why.
        reason: String,
    },
}

impl LedgerMessage {
    /// The channel the message is about.
    pub fn channel_id(&self) -> B256 {
        match self {
            LedgerMessage::Open { prefund, .. } => prefund.channelId,
            LedgerMessage::Propose { state, .. } => state.channelId,
            LedgerMessage::Sign { channel_id, .. }
            | LedgerMessage::Reject { channel_id, .. }
            | LedgerMessage::Request { channel_id, .. }
            | LedgerMessage::Refuse { channel_id, .. } => *channel_id,
        }
    }
}

/// A transaction a channel wants on-chain; the runtime submits it from the node's account and reports a failure
/// back with [`LedgerNode::handle_tx_failed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainTx {
    /// `deposit(asset, channelId, participant, expectedHeld, amount)` (tokens need an allowance first).
    Deposit {
        /// The channel.
        channel_id: B256,
        /// The asset.
        asset: Address,
        /// The depositing participant's index.
        participant: u8,
        /// This participant's cumulative deposit of the asset the chain must show already (S16: its own, not
        /// both participants' together); the adjudicator takes only what brings it to `expected_held + amount`.
        expected_held: U256,
        /// The amount.
        amount: U256,
    },
    /// `concludeAndWithdraw` with a final state signed by both.
    ConcludeAndWithdraw {
        /// The params.
        params: ChannelParams,
        /// The final state with both signatures.
        state: SignedState,
    },
    /// `challenge` with the latest supported state (also the answer to a stale challenge).
    Challenge {
        /// The params.
        params: ChannelParams,
        /// The state with both signatures.
        state: SignedState,
    },
    /// `withdraw` after finalization, with the registered state.
    Withdraw {
        /// The params.
        params: ChannelParams,
        /// The registered (finalized) state.
        state: State,
    },
    /// `withdrawPartial` for an agreed partial withdrawal.
    WithdrawPartial {
        /// The params.
        params: ChannelParams,
        /// The state agreeing the withdrawal, with both signatures.
        state: SignedState,
        /// Who withdraws.
        participant: u8,
    },
}

impl ChainTx {
    /// The channel the transaction is for.
    pub fn channel_id(&self) -> B256 {
        match self {
            ChainTx::Deposit { channel_id, .. } => *channel_id,
            ChainTx::ConcludeAndWithdraw { state, .. }
            | ChainTx::Challenge { state, .. }
            | ChainTx::WithdrawPartial { state, .. } => state.state.channelId,
            ChainTx::Withdraw { state, .. } => state.channelId,
        }
    }

    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ChainTx::Deposit { .. } => "deposit",
            ChainTx::ConcludeAndWithdraw { .. } => "concludeAndWithdraw",
            ChainTx::Challenge { .. } => "challenge",
            ChainTx::Withdraw { .. } => "withdraw",
            ChainTx::WithdrawPartial { .. } => "withdrawPartial",
        }
    }
}

/// What happened to a channel, for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerEvent {
    /// A peer's open was accepted (follower side) and the pre-fund countersigned.
    OpenAccepted {
        /// The channel.
        channel_id: B256,
    },
    /// Both deposits are on-chain and the post-fund state is signed by both: the channel is open.
    Funded {
        /// The channel.
        channel_id: B256,
    },
    /// A new state is supported (signed by both).
    Updated {
        /// The channel.
        channel_id: B256,
        /// Its version.
        version: u64,
    },
    /// One of this node's operations was refused by the peer or could not be applied.
    Refused {
        /// The channel.
        channel_id: B256,
        /// The operation.
        op: Op,
        /// Why.
        reason: String,
    },
    /// This node refused the peer's proposal (the peer's batch was invalid or not authorized); nothing changed.
    RejectedProposal {
        /// The channel.
        channel_id: B256,
        /// The version refused.
        version: u64,
        /// Why.
        reason: String,
    },
    /// The open did not complete: the peer never countersigned the pre-fund state (nothing is on-chain).
    OpenFailed {
        /// The channel.
        channel_id: B256,
        /// Why.
        reason: String,
    },
    /// The peer has not answered for the configured timeout.
    PeerUnresponsive {
        /// The channel.
        channel_id: B256,
    },
    /// A challenge was registered on-chain.
    Challenged {
        /// The channel.
        channel_id: B256,
        /// The registered version.
        version: u64,
        /// When it finalizes (chain time, seconds).
        finalizes_at: u64,
    },
    /// This node answered a stale challenge with its newer state.
    ChallengeAnswered {
        /// The channel.
        channel_id: B256,
        /// The stale version registered.
        stale: u64,
        /// The version answered with.
        answered_with: u64,
    },
    /// The channel is finalized on-chain (concluded, or its challenge window passed).
    Finalized {
        /// The channel.
        channel_id: B256,
        /// The finalized version.
        version: u64,
    },
    /// A payout left the adjudicator for this channel.
    PaidOut {
        /// The channel.
        channel_id: B256,
        /// The asset.
        asset: Address,
        /// The recipient.
        to: Address,
        /// The amount.
        amount: U256,
    },
    /// The channel is finalized and paid out; nothing more will happen to it.
    Closed {
        /// The channel.
        channel_id: B256,
    },
    /// A transaction this channel asked for failed.
    TxFailed {
        /// The channel.
        channel_id: B256,
        /// The transaction's name.
        tx: &'static str,
        /// Why.
        reason: String,
    },
}

/// Decides, for each side, whether a sub-channel operation may enter a ledger state (rule S8 for an added leaf,
/// S10 for a removed one). The virtual-channel layer implements it from what it knows of each virtual channel; a
/// node that hosts no virtual channels uses [`NoSubChannels`].
pub trait SubChannelGuard {
    /// May this ledger add `leaf` (the routing fee it holds included), funded by `contributions`?
    fn check_add(
        &self,
        ledger: &ChannelParams,
        leaf: &SubAlloc,
        contributions: &[Vec<U256>; 2],
    ) -> Result<(), String>;

    /// May this ledger replace `leaf` by `payout`?
    fn check_remove(
        &self,
        ledger: &ChannelParams,
        leaf: &SubAlloc,
        payout: &[Vec<U256>; 2],
    ) -> Result<(), String>;
}

/// A guard that refuses every sub-channel operation: a ledger that hosts no virtual channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSubChannels;

impl SubChannelGuard for NoSubChannels {
    fn check_add(&self, _: &ChannelParams, _: &SubAlloc, _: &[Vec<U256>; 2]) -> Result<(), String> {
        Err("this node hosts no sub-channels".into())
    }

    fn check_remove(
        &self,
        _: &ChannelParams,
        _: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), String> {
        Err("this node hosts no sub-channels".into())
    }
}

#[cfg(test)]
mod tests;
