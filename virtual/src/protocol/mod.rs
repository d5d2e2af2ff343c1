//! The sans-IO virtual-channel protocol (DESIGN "Protocols" 3–5): open A → I1 … In → B, payments by vouchers,
//! settle — with zero on-chain transactions.
//!
//! [`VirtualNode`] is one path member: its [`LedgerNode`](ferry_ledger::protocol::LedgerNode) and the virtual
//! channels it is on. Signatures on V's states travel by **gossip along the path**: a member that learns a new
//! valid signature (or adds its own) passes the whole set to both path neighbours, so the pre-fund, the post-fund
//! (V's funding certificate) and the final state complete whatever the order in which members come online, and a
//! lost message is made good by the next one. Each ledger on the path adds V's leaf (S8) and later swaps it for the
//! payout (S10) through the ledger protocol, whose sub-channel guard is this node's [`registry::Registry`]: a
//! ledger participant agrees to a leaf only for a V whose params and complete pre-fund it holds, and to a payout
//! only from V's final signed by the whole path.
//!
//! Virtual records live in the node's store; intermediaries apply an [`IntermediaryPolicy`] (fees, caps); when a
//! member disappears or cheats, [`VirtualNode::challenge`] and the derived `progress`, `claim` and ledger disputes
//! (driven on-chain through its [`ChainDuties`](ferry_ledger::protocol::ChainDuties) by
//! `ferry_adjudicator::watcher::drive`) get every honest member its due (README, "On-chain fallback").
//!
//! Layout: one V's state machine is [`VirtualChannel`]'s (`channel/`, a file per protocol phase, the rules a step
//! runs listed in `channel/progress.rs`); [`VirtualNode`] (`node/`) keeps what is about many channels (the store,
//! the guard's [`registry`], policy, pruning) and routes each input to the channel it concerns. [`leaf`] says what
//! V's leaf holds and pays in a ledger; `duties.rs` is its side of the chain ([`ChainDuties`](ferry_ledger::protocol::ChainDuties)).

mod apps;
mod channel;
mod duties;
mod error;
pub mod leaf;
mod node;
pub mod registry;

pub use apps::{AppRules, TurnApp};
pub use channel::{ESCALATE_MS, OPEN_TIMEOUT_MS, VirtualChannel, VirtualPhase};
pub use error::{CapacityShort, MoveError, PolicyRefusal, VirtualError};
pub use node::{NS_PRUNED, NS_VIRTUAL, RELEASED_RETENTION_MS, VirtualNode};

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::protocol::{LedgerEvent, LedgerMessage};
use ferry_ledger::{ChannelParams, Signature, State};
use serde::{Deserialize, Serialize};

/// What [`VirtualNode::open`] needs to open a virtual channel from this node (A) to the path's last member (B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// `[A, I1, …, In, B]`; this node must be A.
    pub path: Vec<Address>,
    /// The ledger channel of each hop: `hops[k]` between `path[k]` and `path[k + 1]`.
    pub hops: Vec<B256>,
    /// The app's address on the chain (the payment app, the game or an app builder's own; the node must know it,
    /// see [`VirtualNode::set_app`]).
    pub app: Address,
    /// Per asset, `[A's balance, B's balance]` (in any order of assets: V's outcome sorts them).
    pub balances: Vec<(Address, [U256; 2])>,
    /// The routing fee each path member charges, in V's first asset: one per path member, 0 for the endpoints.
    pub fees: Vec<U256>,
    /// V's challenge duration in seconds.
    pub challenge_duration: u64,
}

/// A message between virtual-channel path members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtualMessage {
    /// The signatures a member knows on a state of V (`sigs[i]` by `participants[i]`). `params` travels with the
    /// pre-fund (version 0), which introduces V to the next member.
    Sigs {
        /// V's params, with the pre-fund.
        params: Option<Box<ChannelParams>>,
        /// The state (pre-fund, post-fund or final).
        state: State,
        /// The signatures known, by participant index.
        sigs: Vec<Option<Signature>>,
        /// With the pre-fund: the routing fee each path member charges, in V's first asset (0 for the endpoints).
        fees: Vec<U256>,
    },
    /// A payment: the payer's voucher for its new cumulative total of `asset` (endpoint to endpoint).
    Voucher {
        /// V.
        channel_id: B256,
        /// The asset.
        asset: Address,
        /// The cumulative amount paid so far.
        cumulative: U256,
        /// The payer's voucher signature.
        sig: Signature,
    },
    /// An app move (endpoint to endpoint): the next state of V under its app's rules, signed by the mover.
    Move {
        /// The new state (version one above the latest state both endpoints signed).
        state: State,
        /// The mover's signature.
        sig: Signature,
    },
    /// The other endpoint's countersignature on a move.
    MoveAck {
        /// V.
        channel_id: B256,
        /// The version countersigned.
        version: u64,
        /// The signature.
        sig: Signature,
    },
    /// The last endpoint asks the first to propose the final state.
    SettleRequest {
        /// V.
        channel_id: B256,
    },
}

impl VirtualMessage {
    /// The virtual channel the message is about.
    pub fn channel_id(&self) -> B256 {
        match self {
            VirtualMessage::Sigs { state, .. } => state.channelId,
            VirtualMessage::Move { state, .. } => state.channelId,
            VirtualMessage::Voucher { channel_id, .. }
            | VirtualMessage::MoveAck { channel_id, .. }
            | VirtualMessage::SettleRequest { channel_id } => *channel_id,
        }
    }
}

/// Everything a [`VirtualNode`] sends: ledger-protocol messages to its ledger peers, virtual-protocol messages to
/// path members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A ledger-channel message.
    Ledger(LedgerMessage),
    /// A virtual-channel message.
    Virtual(VirtualMessage),
}

/// A transaction a virtual channel needs on-chain (the fallback when a path member stops cooperating).
// Transient values handed over once to the chain driver: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualTx {
    /// `challenge` V with a state signed by the whole path (its certificate, or its pre-fund before one exists).
    Challenge {
        /// V's params.
        params: ChannelParams,
        /// The state with its signatures.
        state: ferry_ledger::SignedState,
        /// V's funding certificate, with a state signed by the endpoints only.
        cert: Option<ferry_ledger::Certificate>,
    },
    /// `progress`: an endpoint's move on top of V's registered state (a payee redeeming its vouchers, S7).
    Progress {
        /// V's params.
        params: ChannelParams,
        /// The registered state.
        from: State,
        /// The move.
        to: State,
        /// The mover's index on the path.
        mover: usize,
        /// The mover's signature on `to`.
        sig: Signature,
    },
    /// `conclude` V with its final state signed by the whole path: V is final on-chain at once by the state every
    /// ledger resolves by off-chain, even while another state of V is registered (S5, S10).
    Conclude {
        /// V's params.
        params: ChannelParams,
        /// The final state with every path member's signature.
        state: ferry_ledger::SignedState,
    },
    /// `claim` V's leaf in a finalized ledger by V's finalized outcome (S9).
    Claim {
        /// The ledger's params.
        ledger: ChannelParams,
        /// The ledger's finalized state.
        ledger_state: State,
        /// V's leaf.
        leaf: ferry_ledger::SubAlloc,
        /// Its inclusion proof against the ledger state's sub-channel root.
        proof: ferry_ledger::LeafProof,
        /// V's params.
        virt: ChannelParams,
        /// V's finalized state.
        virt_state: State,
    },
    /// `reclaimBond` of V once final on-chain (S17), sent by the runtime only when the bond held is this member's
    /// own; asked for once per start by every member of a V whose params name a bond.
    ReclaimBond {
        /// V.
        channel_id: B256,
    },
}

impl VirtualTx {
    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            VirtualTx::Challenge { .. } => "challenge V",
            VirtualTx::Progress { .. } => "progress V",
            VirtualTx::Conclude { .. } => "conclude V",
            VirtualTx::Claim { .. } => "claim",
            VirtualTx::ReclaimBond { .. } => "reclaimBond V",
        }
    }
}

/// A transaction a [`VirtualNode`] asks for: one of its ledgers' or one of its virtual channels'.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tx {
    /// A ledger channel's transaction.
    Ledger(ferry_ledger::protocol::ChainTx),
    /// A virtual channel's transaction.
    Virtual(VirtualTx),
}

/// What happened, for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum VirtualEvent {
    /// A ledger channel's event.
    Ledger(LedgerEvent),
    /// This node joined V (countersigned its pre-fund).
    Joined {
        /// V.
        channel_id: B256,
    },
    /// V's funding certificate is complete: V is open.
    Opened {
        /// V.
        channel_id: B256,
    },
    /// A new state of V is signed by both endpoints (an app move).
    Moved {
        /// V.
        channel_id: B256,
        /// Its version.
        version: u64,
    },
    /// A payment arrived.
    Paid {
        /// V.
        channel_id: B256,
        /// The asset.
        asset: Address,
        /// The amount of this payment.
        amount: U256,
        /// The cumulative amount received.
        cumulative: U256,
    },
    /// V's final state is signed by the whole path.
    Settled {
        /// V.
        channel_id: B256,
    },
    /// The open did not complete within the open timeout (S8): a member that never signed V's post-fund refunds its
    /// leaves off-chain; one that did challenges V on-chain with its pre-fund and gets its side back from V's
    /// on-chain outcome.
    OpenFailed {
        /// V.
        channel_id: B256,
    },
    /// Every leaf of V in this node's ledgers is gone (paid out): nothing of V is left here.
    Released {
        /// V.
        channel_id: B256,
    },
    /// A message about V was refused (typed error, nothing changed).
    Refused {
        /// V.
        channel_id: B256,
        /// Why.
        reason: String,
    },
}

/// The bundled apps, by name (what a node's API and config call them); [`AppRules`] is what a node knows of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppKind {
    /// The payment app: vouchers.
    Payment,
    /// The rock-paper-scissors game: app moves signed by both endpoints.
    Game,
}

/// An intermediary's terms for routing virtual channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntermediaryPolicy {
    /// Flat fee per virtual channel, in V's first asset.
    pub fee_flat: U256,
    /// Proportional fee in parts per million of V's total in its first asset.
    pub fee_ppm: u64,
    /// Most a single virtual channel may hold, per asset.
    pub max_per_channel: U256,
    /// Most this node locks for one neighbour (in the ledger with it), in each asset (each in its own units).
    pub max_per_user: U256,
    /// Most virtual channels this node routes that are still opening at once; more are refused by name
    /// ([`PolicyRefusal::Busy`]) rather than left to wait past the open timeout (after which a member that signed
    /// the post-fund must go on-chain). Back-pressure for a hub that cannot keep up.
    pub max_opening: usize,
    /// Of those, the most one neighbour may have brought (its messages made this node join them), so one user
    /// cannot fill `max_opening` for everyone.
    pub max_opening_per_peer: usize,
}

/// The most members a virtual channel's path may have (six intermediaries): a node refuses a longer path, at open
/// and before any other check of a pre-fund that introduces one (checking a path costs the square of its length,
/// and a peer could otherwise send one of thousands of members in a frame).
pub const MAX_PATH: usize = 8;

/// S17: while V is registered on-chain, the most versions above the registered state an endpoint signs a move at
/// (exclusive). With its own move in flight on top, every state it signed stays below the registered version plus
/// `BOND_GRACE` (the adjudicator's, [`ferry_ledger::protocol::BOND_GRACE`]), so none can take a bond of that
/// registration.
pub const MAX_AHEAD_OF_REGISTRATION: u64 = ferry_ledger::protocol::BOND_GRACE - 2;

/// [`IntermediaryPolicy::max_opening`] by default: a hub opening a few hundred channels a second clears this many
/// well within the open timeout.
pub const DEFAULT_MAX_OPENING: usize = 4_096;

/// [`IntermediaryPolicy::max_opening_per_peer`] by default: a sixteenth of [`DEFAULT_MAX_OPENING`].
pub const DEFAULT_MAX_OPENING_PER_PEER: usize = 256;

impl Default for IntermediaryPolicy {
    fn default() -> Self {
        Self {
            fee_flat: U256::ZERO,
            fee_ppm: 0,
            max_per_channel: U256::MAX,
            max_per_user: U256::MAX,
            max_opening: DEFAULT_MAX_OPENING,
            max_opening_per_peer: DEFAULT_MAX_OPENING_PER_PEER,
        }
    }
}

impl IntermediaryPolicy {
    /// The fee for routing a virtual channel holding `total` of its first asset: flat + total × ppm / 10⁶.
    pub fn fee(&self, total: U256) -> U256 {
        self.fee_flat.saturating_add(
            total.saturating_mul(U256::from(self.fee_ppm)) / U256::from(1_000_000u64),
        )
    }
}
