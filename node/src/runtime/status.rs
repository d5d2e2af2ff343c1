//! What a node reports: its ledgers, virtual channels, peers and counters ([`NodeStatus`]).

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::store::Store;
use ferry_virtual::protocol::{VirtualChannel, VirtualPhase};
use serde::{Deserialize, Serialize};

use super::event_loop::Runtime;

/// A ledger channel as its node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerInfo {
    /// The channel id.
    pub id: B256,
    /// The other participant.
    pub peer: Address,
    /// Where the channel is in its life (`proposed`, `funding`, `running`, …).
    pub phase: String,
    /// The latest version signed by both.
    pub version: u64,
    /// Per asset, this node's balance and the peer's in the latest state signed by both.
    pub balances: Vec<AssetBalance>,
    /// Virtual channels funded by this ledger now.
    pub sub_channels: usize,
    /// Per asset, what those virtual channels lock in it (both sides' contributions and the fees they hold).
    #[serde(default)]
    pub locked: Vec<AssetAmount>,
    /// A chain reorganization took events this channel acted on: it signs nothing until the new chain shows them
    /// again (README, "Reorganizations").
    #[serde(default)]
    pub reorganized: bool,
    /// S17: the challenge bond (wei of ETH) its params name: what a `challenge` of it sends along.
    #[serde(default)]
    pub challenge_bond: U256,
}

/// An amount of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetAmount {
    /// The asset (the zero address for ETH).
    pub asset: Address,
    /// The amount.
    pub amount: U256,
}

/// A virtual channel as its node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualInfo {
    /// V's id.
    pub id: B256,
    /// The path `[A, I1, …, B]`.
    pub path: Vec<Address>,
    /// This node's place on the path.
    pub me: usize,
    /// Where V is in its life.
    pub phase: VirtualPhase,
    /// The latest version both endpoints signed (1 after the open).
    pub version: u64,
    /// Per asset, A's and B's balances by this node's accounting (an intermediary sees the funding outcome).
    pub balances: Vec<AssetBalance>,
    /// The routing fee this node charges on V, in V's first asset (0 for an endpoint).
    #[serde(default)]
    pub fee: U256,
    /// Whether this node holds V's funding certificate (the post-fund signed by the whole path): from then on an
    /// intermediary's fee is earned (S9).
    #[serde(default)]
    pub funded: bool,
    /// S17: the challenge bond (wei of ETH) V's params name.
    #[serde(default)]
    pub challenge_bond: U256,
}

/// Two balances of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetBalance {
    /// The asset (the zero address for ETH).
    pub asset: Address,
    /// This node's balance (a ledger) or A's (a virtual channel).
    pub mine: U256,
    /// The peer's balance (a ledger) or B's (a virtual channel).
    pub theirs: U256,
}

/// Counters since the node started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Protocol messages handed to the network.
    pub messages_sent: u64,
    /// Protocol messages received.
    pub messages_received: u64,
    /// Messages refused.
    pub refused: u64,
    /// Peers disconnected for too many refused messages (`max_refusals` within `refusal_window`).
    #[serde(default)]
    pub refusal_disconnects: u64,
    /// Transactions that landed.
    pub txs_landed: u64,
    /// Gas of those transactions.
    pub gas_used: u64,
    /// Transactions submitted and not yet landed or failed (the node's loop does not wait for them).
    #[serde(default)]
    pub txs_in_flight: u64,
    /// The node's chain cursor: the first block it has not read yet.
    #[serde(default)]
    pub next_block: u64,
    /// Reorganizations of the chain deeper than its confirmations, seen below blocks the node had read.
    #[serde(default)]
    pub reorgs: u64,
    /// S17: at the last check (every 30 s), the node's account held less ETH than the largest challenge bond of its
    /// channels still open: it could not challenge or answer a challenge there until it is funded.
    #[serde(default)]
    pub bond_funds_short: bool,
}

/// A node's channels and counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's channel address.
    pub address: Address,
    /// Its ledger channels.
    pub ledgers: Vec<LedgerInfo>,
    /// The virtual channels it is on.
    pub virtuals: Vec<VirtualInfo>,
    /// Peers connected now.
    pub peers: Vec<Address>,
    /// Counters.
    pub stats: NodeStats,
}

impl NodeStatus {
    /// The ledger `id`, if this node has it.
    pub fn ledger(&self, id: &B256) -> Option<&LedgerInfo> {
        self.ledgers.iter().find(|l| l.id == *id)
    }

    /// The virtual channel `id`, if this node is on it.
    pub fn virtual_channel(&self, id: &B256) -> Option<&VirtualInfo> {
        self.virtuals.iter().find(|v| v.id == *id)
    }
}

impl<S: Store + 'static> Runtime<S> {
    pub(super) fn status(&self) -> NodeStatus {
        let ledger = self.core.ledger();
        let ledgers = ledger
            .channels()
            .map(|c| {
                let me = usize::from(c.me());
                let (balances, locked) = c
                    .supported()
                    .map(|s| {
                        s.state
                            .outcome
                            .assets
                            .iter()
                            .map(|a| {
                                (
                                    AssetBalance {
                                        asset: a.asset,
                                        mine: a.balances.get(me).copied().unwrap_or_default(),
                                        theirs: a.balances.get(1 - me).copied().unwrap_or_default(),
                                    },
                                    AssetAmount {
                                        asset: a.asset,
                                        amount: a.locked,
                                    },
                                )
                            })
                            .unzip()
                    })
                    .unwrap_or_default();
                LedgerInfo {
                    id: c.id(),
                    peer: c.peer(),
                    phase: c.phase().name().to_string(),
                    version: c.signed_up_to(),
                    balances,
                    sub_channels: ledger.table(&c.id()).map(|t| t.len()).unwrap_or(0),
                    locked,
                    reorganized: c.reorganized(),
                    challenge_bond: U256::from(c.params().challengeBond),
                }
            })
            .collect();
        let virtuals = self.core.channels().map(virtual_info).collect();
        NodeStatus {
            address: self.address,
            ledgers,
            virtuals,
            peers: self.net.connected(),
            stats: NodeStats {
                next_block: self.core.ledger().next_block(),
                ..self.stats.clone()
            },
        }
    }
}

fn virtual_info(ch: &VirtualChannel) -> VirtualInfo {
    let n = ch.params().participants.len();
    let state = ch
        .final_signed()
        .map(|s| s.state)
        .unwrap_or_else(|| ch.current());
    let balances = state
        .outcome
        .assets
        .iter()
        .enumerate()
        .map(|(j, a)| {
            let (first, last) =
                if ch.is_endpoint() && ch.latest().is_none() && ch.final_signed().is_none() {
                    // A payment channel's endpoint knows its balance from its vouchers; the other endpoint's is the
                    // rest of V's funds in that asset.
                    let total: U256 = a
                        .balances
                        .iter()
                        .copied()
                        .fold(U256::ZERO, U256::saturating_add);
                    let mine = ch.balance(j);
                    let other = total.saturating_sub(mine);
                    if ch.me() == 0 {
                        (mine, other)
                    } else {
                        (other, mine)
                    }
                } else {
                    (
                        a.balances.first().copied().unwrap_or_default(),
                        a.balances.get(n - 1).copied().unwrap_or_default(),
                    )
                };
            AssetBalance {
                asset: a.asset,
                mine: first,
                theirs: last,
            }
        })
        .collect();
    VirtualInfo {
        id: ch.id(),
        path: ch.params().participants.clone(),
        me: ch.me(),
        phase: ch.phase(),
        version: state.version.to::<u64>(),
        balances,
        fee: ch.fees().get(ch.me()).copied().unwrap_or_default(),
        funded: ch.is_funded(),
        challenge_bond: U256::from(ch.params().challengeBond),
    }
}
