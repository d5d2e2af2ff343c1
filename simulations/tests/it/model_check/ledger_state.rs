//! Model 1 (a ledger channel): the model's state (the honest node's store, the chain, the mempool, the
//! adversary's hoard and budgets) and its actions (the honest commands and the adversary's moves).

use std::hash::{Hash, Hasher};

use ferry_ledger::contracts::{Signature, State};
use ferry_ledger::protocol::{ChainTx, Proposal};

use super::chain::{Chain, Snapshot};

/// The honest node's pending chain transactions (a mempool the adversary may front-run).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(super) struct Pool(pub(super) Vec<ChainTx>);

impl Hash for Pool {
    fn hash<H: Hasher>(&self, h: &mut H) {
        for tx in &self.0 {
            ferry_ledger::store::encode(tx).unwrap_or_default().hash(h);
        }
    }
}

impl Pool {
    pub(super) fn add(&mut self, tx: ChainTx) {
        if !self.0.contains(&tx) {
            self.0.push(tx);
        }
    }
}

/// How the checker may weaken the honest side, to put a closed hole back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Weakness {
    /// The real node, unchanged.
    None,
    /// S14 put back: when the peer rejects the honest node's final, the node's store is rolled back to before it
    /// signed that final (it forgets the refused close and signs on, as before the fix).
    ForgetRefusedFinal,
    /// S12/S14 put back: when the peer rejects a proposal of the honest node that withdraws for it, the node's
    /// store is rolled back to before it signed that proposal (it forgets the withdrawal it signed, neither carrying
    /// it into later states nor keeping a floor of withdrawn totals).
    ForgetRefusedWithdrawal,
}

/// Bounds of one run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bounds {
    pub(super) depth: usize,
    pub(super) honest_ops: u8,
    pub(super) peer_ops: u8,
    pub(super) deposits: u8,
    pub(super) ticks: u8,
    pub(super) crashes: u8,
    /// How much the adversary, following, asks to withdraw.
    pub(super) peer_withdraw: u64,
    /// Whether the adversary also sends signatures saying it lacks the honest one (the node resends its own),
    /// rejects naming no operation, and asks for (or, leading, proposes) payments out of the honest party's balance
    /// (always refused); the default run leaves these out.
    pub(super) full_menu: bool,
}

/// A request the adversary (the follower) sends the honest leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Ask {
    /// Pay the honest party 1.
    PayHonest,
    /// Withdraw 1 of its own.
    Withdraw,
    /// Close.
    Close,
    /// Count 1 it deposited on-chain.
    TopUp,
    /// A payment of 1 out of the honest party's balance (never authorized).
    Steal,
}

/// An operation the adversary, leading, puts in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Lead {
    /// It pays the honest party 1.
    PayHonest,
    /// It withdraws 1 of its own.
    Withdraw,
    /// It counts 1 it deposited.
    TopUp,
    /// Close.
    Close,
    /// The honest party's request `i` (of those it sent).
    Request(usize),
    /// A payment of 1 out of the honest party's balance it never asked for.
    Steal,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Act {
    /// Honest commands.
    Pay,
    Withdraw,
    TopUp,
    Close,
    Challenge,
    /// The chain includes the honest node's pending transaction `i`.
    Include(usize),
    /// Time passes (only with an empty mempool).
    Tick,
    /// The honest node crashes and restarts; the transactions it asks for again go to the mempool.
    Crash,
    /// The adversary countersigns hoarded state `i` and sends its signature (`have_yours`: it says it holds the
    /// honest party's signature).
    Sign(usize, bool),
    /// The adversary rejects the proposal of `version` because of operation `index`.
    Reject(u64, u64),
    /// The adversary sends a request (the honest party leads).
    Ask(Ask),
    /// The adversary, leading, proposes the state a one-operation batch gives from hoarded state `base`, at
    /// `base`'s version plus `skip` (the honest party follows).
    Propose {
        base: usize,
        skip: u64,
        op: Lead,
    },
    /// The adversary, leading, refuses the honest follower's request `seq`.
    Refuse(u64),
    /// The adversary registers hoarded state `i` with both signatures (`challenge`), or checkpoints it.
    PeerChallenge(usize),
    PeerCheckpoint(usize),
    /// The adversary concludes with hoarded final `i`.
    PeerConclude(usize),
    /// The adversary takes its partial withdrawal in hoarded state `i`.
    PeerWithdrawPartial(usize),
    /// The adversary calls `withdraw` with the registered state.
    PeerWithdraw,
    /// The adversary deposits 1 for participant `p`.
    PeerDeposit(usize),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct LState {
    pub(super) store: Snapshot,
    pub(super) chain: Chain,
    pub(super) pool: Pool,
    /// Every state the honest node signed and sent, with its signature (the adversary's hoard).
    pub(super) hoard: Vec<(State, Signature)>,
    /// The honest follower's requests (the adversary as leader may batch them).
    pub(super) requests: Vec<Proposal>,
    /// The adversary's next request sequence number (as the follower) or its next own sequence number (as the
    /// leader).
    pub(super) seq: u64,
    pub(super) honest_ops: u8,
    pub(super) peer_ops: u8,
    pub(super) deposits: u8,
    pub(super) ticks: u8,
    pub(super) crashes: u8,
    /// Ghost: the version and the honest party's net position of the latest state it ever held signed by both.
    pub(super) supported: (u64, i128),
    /// Weakened runs: per version the honest node signed, its store just before it did (and the adversary's next
    /// sequence number and the chain's block number then).
    pub(super) before_sign: Vec<(u64, Snapshot, u64, u64)>,
}
