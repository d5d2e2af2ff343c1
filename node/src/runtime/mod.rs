//! The node runtime: a tokio task that drives one [`VirtualNode`](ferry_virtual::protocol::VirtualNode) (its ledger channels and virtual channels) with
//! its store, its network and its chain, behind a typed, cloneable handle ([`Node`]) and an event stream.
//!
//! The protocol cores are sans-IO; this is the thin driver DESIGN's "Node runtime" asks for. One task owns the
//! core, so every input is handled in order: a command from the API, a message from a peer, a timer, a round of
//! chain duties. After each, what the core produced leaves: messages to the network (which persists them in its
//! outbox first), events to subscribers. Every state change is committed by the core before any of it is released.

mod chain_side;
mod event_loop;
mod handle;
mod launch;
pub mod network;
mod status;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::Signer;
use ferry_ledger::protocol::Config as LedgerConfig;
use ferry_virtual::protocol::{AppKind, IntermediaryPolicy, VirtualEvent};
use serde::{Deserialize, Serialize};

pub use chain_side::{MAX_TXS_IN_FLIGHT, REORG_HORIZON};
pub use handle::{Node, now_ms};
pub use launch::NodeSetup;
pub use network::{Inbound, MemoryLink, MemoryNetwork, Network};
pub use status::{AssetAmount, AssetBalance, LedgerInfo, NodeStats, NodeStatus, VirtualInfo};

/// Store namespace of the runtime's own records (a game player's hidden hand and salt, kept until revealed).
pub const NS_NODE: &str = "node.game";

/// Refused messages a peer may cause within [`DEFAULT_REFUSAL_WINDOW`] before it is disconnected, by default.
pub const DEFAULT_MAX_REFUSALS: u32 = 1_000;

/// The window [`DEFAULT_MAX_REFUSALS`] is counted in, by default.
pub const DEFAULT_REFUSAL_WINDOW: Duration = Duration::from_secs(60);

/// How a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The channel key: the node's address on every channel and the account its transactions come from.
    pub signer: Signer,
    /// The ledger protocol's timers and policies.
    pub ledger: LedgerConfig,
    /// The terms on which this node routes virtual channels (an intermediary's fee and caps).
    pub policy: IntermediaryPolicy,
    /// How often the node runs its chain duties (submit what channels ask for, read new events).
    pub chain_poll: Duration,
    /// The apps this node knows, by address; empty: the bundled payment app and game as the chain deployed them.
    pub apps: Vec<(Address, AppKind)>,
    /// Events kept for a slow subscriber before it misses some.
    pub event_capacity: usize,
    /// How long a released virtual channel stays in the status and the store before it is pruned.
    pub release_retention: Duration,
    /// A peer with more than this many messages refused within `refusal_window` is disconnected (and refused by
    /// the transport for its `ban`); honest peers have a few refused at most (duplicates after a restart).
    pub max_refusals: u32,
    /// The window `max_refusals` is counted in.
    pub refusal_window: Duration,
    /// How often the node reads its account's ETH balance to check it can pay its channels' challenge bonds (S17;
    /// `status` reports `bond_funds_short`).
    pub balance_every: Duration,
}

impl NodeConfig {
    /// Defaults for `signer`: the ledger protocol's defaults, no routing fee, chain duties every 200 ms, released
    /// virtual channels kept a day, a peer disconnected after more than 1,000 refused messages in a minute, the
    /// account's balance checked against the challenge bonds every 30 s.
    pub fn new(signer: Signer) -> Self {
        Self {
            signer,
            ledger: LedgerConfig::default(),
            policy: IntermediaryPolicy::default(),
            chain_poll: Duration::from_millis(200),
            apps: Vec::new(),
            event_capacity: 65_536,
            release_retention: Duration::from_millis(
                ferry_virtual::protocol::RELEASED_RETENTION_MS,
            ),
            max_refusals: DEFAULT_MAX_REFUSALS,
            refusal_window: DEFAULT_REFUSAL_WINDOW,
            balance_every: chain_side::DEFAULT_BALANCE_EVERY,
        }
    }
}

/// What a node tells its subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NodeEvent {
    /// A ledger or virtual channel event.
    Channel(VirtualEvent),
    /// To one subscriber only: it fell behind and missed `missed` events (the node keeps
    /// `NodeConfig::event_capacity` for a slow one); what it tracks is re-read from the status.
    Lagged {
        /// Events it missed.
        missed: u64,
    },
    /// A peer connected (its address proven).
    PeerConnected(Address),
    /// A peer's connection ended.
    PeerDisconnected {
        /// The peer.
        peer: Address,
        /// Why.
        reason: String,
    },
    /// A transaction landed on-chain.
    TxLanded {
        /// What it was.
        name: String,
        /// Gas used.
        gas: u64,
    },
    /// The chain reorganized deeper than its confirmations: blocks the node had read (and acted on) were replaced.
    /// The node reads on from its cursor; what it did on the strength of the replaced blocks' events stands (see
    /// ARCH, "Reorganizations").
    ChainReorg {
        /// The newest block read that is still on the chain (`None`: none of the blocks kept is).
        kept: Option<u64>,
        /// The newest block read before.
        read_up_to: u64,
    },
    /// A transaction failed.
    TxFailed {
        /// What it was.
        name: String,
        /// Why.
        reason: String,
    },
    /// A peer's message was refused (nothing changed).
    Refused {
        /// The sender.
        from: Address,
        /// Why.
        reason: String,
    },
    /// A connection was refused by the transport.
    ConnectionRejected {
        /// The remote socket address.
        remote: String,
        /// Why.
        reason: String,
    },
}

/// How a virtual channel is opened: the path, the ledgers along it, the app and the endpoints' balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenVirtual {
    /// `[A, I1, …, In, B]`; this node must be A.
    pub path: Vec<Address>,
    /// The ledger channel of each hop: `hops[k]` between `path[k]` and `path[k + 1]`.
    pub hops: Vec<B256>,
    /// The app: payments (vouchers) or the bundled game.
    pub app: AppKind,
    /// Per asset, `[A's balance, B's balance]`.
    pub balances: Vec<(Address, [U256; 2])>,
    /// The routing fee each path member charges (0 for the endpoints); empty: none.
    pub fees: Vec<U256>,
    /// V's challenge duration in seconds.
    pub challenge_duration: u64,
}

/// A move in the bundled rock-paper-scissors game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameMove {
    /// The first endpoint stakes `stake` of the first asset on a hidden hand (the node keeps hand and salt).
    Commit {
        /// The stake.
        stake: U256,
        /// The hand, 1 rock, 2 paper, 3 scissors.
        hand: u8,
    },
    /// The last endpoint plays its hand in the clear.
    Play {
        /// The hand, 1 rock, 2 paper, 3 scissors.
        hand: u8,
    },
    /// The first endpoint reveals the committed hand.
    Reveal,
}
