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

pub use channel::{
    BOND_GRACE, Config, DEFAULT_MAX_CHALLENGE_BOND, LedgerChannel, MAX_ABANDONED,
    MAX_QUEUED_REQUESTS, OpenPolicy, Phase, RECENT_EVENTS,
};
pub use duties::ChainDuties;
pub use node::{LedgerNode, NAMESPACES, NS_CHANNELS, NS_CURSOR, NS_LEAVES};
pub use ops::{Op, Proposal};

/// Defined with the crate's other errors, below every module that returns them.
pub use crate::error::{GuardRefusal, OpenRefusal, ProtocolError};

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{ChannelParams, Signature, State, SubAlloc};
use serde::{Deserialize, Serialize};

use crate::SignedState;

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
    /// `withdrawUnlisted` after finalization: pays back both participants' deposits of an asset the finalized
    /// state does not list (a top-up the peer refused).
    WithdrawUnlisted {
        /// The params.
        params: ChannelParams,
        /// The registered (finalized) state.
        state: State,
        /// The asset.
        asset: Address,
    },
    /// `reclaimBond` after finalization (S17): the challenge bond back to its challenger, sent by the runtime only
    /// when the bond held is this node's own (asked for once per start by every participant of a finalized
    /// channel whose params name a bond; the node cannot tell from the chain's events whose bond is held).
    ReclaimBond {
        /// The channel.
        channel_id: B256,
    },
}

impl ChainTx {
    /// The channel the transaction is for.
    pub fn channel_id(&self) -> B256 {
        match self {
            ChainTx::Deposit { channel_id, .. } | ChainTx::ReclaimBond { channel_id } => {
                *channel_id
            }
            ChainTx::ConcludeAndWithdraw { state, .. }
            | ChainTx::Challenge { state, .. }
            | ChainTx::WithdrawPartial { state, .. } => state.state.channelId,
            ChainTx::Withdraw { state, .. } | ChainTx::WithdrawUnlisted { state, .. } => {
                state.channelId
            }
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
            ChainTx::WithdrawUnlisted { .. } => "withdrawUnlisted",
            ChainTx::ReclaimBond { .. } => "reclaimBond",
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
    /// The last channel with a peer was forgotten (a failed open this node put nothing into): nothing of the
    /// peer's is kept, and a runtime may drop what it still queues for it.
    PeerForgotten {
        /// The peer.
        peer: Address,
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
    /// The chain reorganized below blocks whose events this channel had applied: those events are taken back (a
    /// vanished challenge, checkpoint or conclusion undone) and, if a deposit vanished, the node signs nothing for
    /// the channel until the chain shows the deposits again (see [`LedgerEvent::Replayed`]).
    Reorganized {
        /// The channel.
        channel_id: B256,
        /// How many of its events vanished.
        vanished: usize,
    },
    /// A replay after a reorganization: `unchanged` when the chain shows each participant's deposits at least as
    /// high as before (the channel goes on); else, once, the new chain was read past the replaced blocks without
    /// them (the channel keeps signing nothing until it does; its operator may take it on-chain with the states
    /// already signed).
    Replayed {
        /// The channel.
        channel_id: B256,
        /// Whether the deposits are back.
        unchanged: bool,
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
    ) -> Result<(), GuardRefusal>;

    /// May this ledger replace `leaf` by `payout`?
    fn check_remove(
        &self,
        ledger: &ChannelParams,
        leaf: &SubAlloc,
        payout: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal>;
}

/// A guard that refuses every sub-channel operation: a ledger that hosts no virtual channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSubChannels;

impl SubChannelGuard for NoSubChannels {
    fn check_add(
        &self,
        _: &ChannelParams,
        _: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal> {
        Err(GuardRefusal::NoSubChannels)
    }

    fn check_remove(
        &self,
        _: &ChannelParams,
        _: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal> {
        Err(GuardRefusal::NoSubChannels)
    }
}

#[cfg(test)]
mod tests;
