//! Exhaustive model checking (stateright, breadth-first to a depth) of the real sans-IO cores against
//! unrestricted peers over an abstract adjudicator.
//!
//! **Model 1, a ledger channel** (`ledger_leader_…`, `ledger_follower_…`). The honest party is the real
//! [`LedgerNode`] (its channel core included), as the leader or as the follower, restarted from its store before
//! every step: the model's state holds the honest node's committed store and nothing of its memory, so a crash can
//! fall between any two inputs (and [`Act::Crash`] also hands the chain every transaction the restarted node asks
//! for again). The adversary is the channel's other participant. It holds its own key and every state the honest
//! node ever signed and sent it (its hoard: refused and abandoned proposals included), and at each step it may:
//! countersign any hoarded state and send its signature; reject any proposal version (because of its first
//! operation, or of a state mismatch); as the follower ask for a payment to the honest party, a withdrawal of its
//! own, a top-up or a close; as the leader propose the state any one-operation batch (a payment to the honest party,
//! its own withdrawal or top-up, a close, any request the honest party sent) gives from any hoarded state, at the
//! next version or one further, and refuse the honest party's requests; stall (time passes); and submit to the
//! chain every transaction the adjudicator accepts built from its hoard: `challenge`, `checkpoint`, `conclude` with
//! a hoarded final, `withdrawPartial`, `withdraw`, and a deposit for either side. Versions stay at or below
//! `MAX_VERSION` (6), amounts are 1 against deposits of 4. The honest party pays, withdraws part of its balance,
//! tops up, closes and challenges. Its transactions sit in a mempool the adversary may front-run; time moves only
//! once the mempool is empty (the liveness assumption: an honest transaction lands within the challenge window),
//! one tick being a whole challenge window.
//!
//! The abstract adjudicator keeps each channel's status (registered version, registered state, deadline) and its
//! on-chain deposit, withdrawal and claim totals, checks every entry point with [`ferry_ledger::support`] (the
//! rules the contract applies: `check_challenge`, `check_checkpoint`, `check_final`, `check_withdraw_partial`,
//! `check_claim`) and pays with the contract's formulas (contracts/SPEC.md "Entry points"); chain time is an
//! abstract clock.
//!
//! Invariants, in every reachable state:
//! - **entitlement**: once the channel is finalized on-chain, what the honest party is paid (already, plus what
//!   `withdraw` pays it now) minus what it deposited is at least its net position (balance + withdrawn −
//!   deposited) in the latest state it ever held signed by both, or in any newer state it signed and sent,
//!   whichever is lower (SECURITY.md);
//! - **solvency**: no payout the adjudicator's formulas compute exceeds what the channel holds (so the cap never
//!   bites), and the channel never pays out more than was deposited;
//! - and, so that the above is not vacuous, some explored behaviour does end the channel on-chain.
//!
//! **Model 2, a hub** (`hub_between_colluding_endpoints`). The hub H is the real [`VirtualNode`] (with its real
//! ledger node) on two ledgers A–H and H–B, routing one payment channel V = [A, H, B] (A 2, B 0, fee 1). The
//! endpoints A and B collude; to keep the model small they run the real cores too (their engine), and their
//! deviations are on top: at any point, within a budget, they withhold (drop) every message they have in flight to
//! the hub, register any ledger state the hub signed (challenge, or conclude a final), conclude V with any final
//! the hub signed, challenge V with any whole-path state of it, or with any split of V they both sign on top of the
//! certificate; time jumps a challenge window; the hub crashes. Between deviations the honest schedule runs (the
//! hub's transactions land, every message in flight is delivered, A pays B 1, B settles, the hub takes both
//! ledgers on-chain, time passes). Invariant: once both ledgers are finalized (and V, if a finalized ledger state
//! still holds its leaf), the hub ends at least even across its two ledgers, plus its fee when it held V's
//! certificate before V was final on-chain; and solvency as above. The endpoints' own deviations do not include
//! forging protocol messages the real endpoint core would not send (their guards are the honest ones), nor
//! `progress` on V: that part of the adversary is what the proptest `virtual/tests/virtual_byzantine.rs` covers.
//!
//! **Holes put back** without touching library code, to show the checker finds them. The honest node's store is
//! rolled back, when the peer rejects one of its proposals, to just before it signed that proposal (never across a
//! chain event: a lost store is out of scope), and the node's answer to the reject is dropped: it forgets the
//! refused proposal as the code before the fix did, and signs on. The rollback is coarser than the old code: it
//! also forgets the node's version counter, so the node signs a second state at the refused version, and both
//! counterexamples below use that.
//! - **S14** (`s14_hole_refused_final_forgotten_is_found`), a refused final: the checker finds, in five steps, the
//!   honest leader closing, the peer rejecting the final, asking to pay the honest party 1 (the honest node proposes
//!   a new state at the final's version), countersigning that state and registering it (checkpoint or challenge),
//!   then concluding with the final it kept (`conclude` takes a final as new as the registered version): the honest
//!   party loses the payment.
//! - **S12** (`s12_hole_refused_withdrawal_forgotten_is_found`), a refused proposal withdrawing for the peer (the
//!   node neither carries the withdrawal into later states nor keeps its floor of withdrawn totals): the checker
//!   finds, in six steps, the peer asking to withdraw its whole balance and rejecting the proposal, asking to pay the
//!   honest party 1, registering that new state (checkpoint), then replacing it by challenge with the refused
//!   withdrawal proposal of the same version, which finalizes: the honest party is paid its balance without the 1.
//!
//! Bounds: the default run (`cargo test -p ferry-simulations --test model_check`, debug) explores every behaviour
//! of model 1 up to depth 7 (one honest operation, one adversary operation, one deposit, one tick) and of model 2
//! up to depth 28 with two deviations, in under a minute on two cores. `FERRY_MODEL_DEPTH=deeper` raises the
//! budgets (two operations each, crashes, three ticks, the full adversary menu; three deviations for the hub) and
//! the hub's depth (34), for several minutes; `FERRY_MODEL_DEPTH=<n>` runs the deeper budgets with model 1 at depth
//! `n` (each level multiplies its states by about four: depth 8 is a long run with gigabytes of queue).

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256, U256};
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};
use ferry_ledger::contracts::{ChannelParams, Signature, State};
use ferry_ledger::params::DurationPolicy;
use ferry_ledger::protocol::{
    ChainTx, Config, LedgerMessage, LedgerNode, NS_CHANNELS, NS_CURSOR, NS_LEAVES, Op, OpenPolicy,
    Phase, Proposal,
};
use ferry_ledger::signature::recover;
use ferry_ledger::store::{Batch, MemoryStore, Store};
use ferry_ledger::support::{self, Registered};
use ferry_ledger::{ChainContext, SignedState, Signer};
use ferry_virtual::protocol::{
    AppKind, IntermediaryPolicy, Message, NS_PRUNED, NS_VIRTUAL, OpenRequest, Tx as VTx,
    VirtualNode, VirtualTx,
};
use stateright::{Checker, HasDiscoveries, Model, Property};

const ETH: Address = Address::ZERO;
/// Each side's opening deposit.
const DEPOSIT: u64 = 4;
/// The challenge duration (chain seconds).
const WINDOW: u64 = 10;
/// How far one tick moves the clock (chain seconds; local time is chain time × 1000): a challenge window.
const TICK: u64 = 10;
/// The highest version the adversary works with.
const MAX_VERSION: u64 = 6;

fn ctx() -> ChainContext {
    ChainContext {
        chain_id: 31337,
        adjudicator: Address::repeat_byte(0xad),
    }
}

/// Signatures the model makes for the adversary, memoized by signer and digest (signing is deterministic, RFC 6979).
fn sign(signer: &Signer, state: &State) -> Signature {
    type Cache = Mutex<HashMap<(Address, B256), Signature>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let digest = ctx().digest(state);
    let cache = CACHE.get_or_init(Default::default);
    let k = (signer.address(), digest);
    if let Some(sig) = cache.lock().ok().and_then(|c| c.get(&k).cloned()) {
        return sig;
    }
    let sig = signer.sign_digest(&digest);
    if let Ok(mut c) = cache.lock() {
        c.insert(k, sig.clone());
    }
    sig
}

fn key(byte: u8) -> Signer {
    match Signer::from_bytes(&B256::repeat_byte(byte)) {
        Ok(s) => s,
        Err(e) => panic!("test key {byte}: {e}"),
    }
}

/// Short timers so that one tick fires every resend, peer timeout and grace period.
fn config() -> Config {
    Config {
        resend_ms: 1_000,
        max_resend_ms: 1_000,
        peer_timeout_ms: 2_000,
        auto_dispute: true,
        grace_ms: 1_000,
        durations: DurationPolicy {
            min_challenge: WINDOW,
            max_lock: 1_000,
        },
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(1_000),
            ..OpenPolicy::default()
        },
        ..Config::default()
    }
}

fn u(v: u64) -> U256 {
    U256::from(v)
}

fn n(v: U256) -> i128 {
    i128::from(v.to::<u64>())
}

/// Balance, deposited, withdrawn of participant `p`, and the locked amount, of ETH in `state`.
fn amounts(state: &State, p: usize) -> (i128, i128, i128, i128) {
    state
        .outcome
        .assets
        .iter()
        .find(|a| a.asset == ETH)
        .map(|a| {
            (
                n(a.balances[p]),
                n(a.deposited[p]),
                n(a.withdrawn[p]),
                n(a.locked),
            )
        })
        .unwrap_or_default()
}

/// Participant `p`'s net position in `state`: what it is owed in all (balance and withdrawals) minus what it put in.
fn net(state: &State, p: usize) -> i128 {
    let (bal, dep, wd, _) = amounts(state, p);
    bal + wd - dep
}

fn version(state: &State) -> u64 {
    ferry_ledger::state::version_of(state)
}

// ------------------------------------------------------------------------------------------------ store snapshot

/// The honest node's committed store: everything it keeps across a crash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Snapshot(Vec<(usize, Vec<u8>, Vec<u8>)>);

impl Snapshot {
    fn of(store: &MemoryStore, namespaces: &[&'static str]) -> Self {
        let mut rows = Vec::new();
        for (i, ns) in namespaces.iter().enumerate() {
            for (k, v) in store.scan(ns, &[]).unwrap_or_default() {
                rows.push((i, k, v));
            }
        }
        Self(rows)
    }

    fn restore(&self, namespaces: &[&'static str]) -> MemoryStore {
        let mut store = MemoryStore::new();
        let mut batch = Batch::new();
        for (i, k, v) in &self.0 {
            batch.put_raw(namespaces[*i], k.clone(), v.clone());
        }
        if !batch.is_empty()
            && let Err(e) = store.commit(batch)
        {
            panic!("restoring a snapshot: {e}");
        }
        store
    }
}

const LEDGER_NS: [&str; 3] = [NS_CHANNELS, NS_LEAVES, NS_CURSOR];

// ------------------------------------------------------------------------------------------------ abstract chain

/// A transaction for the abstract adjudicator (one ledger channel, ETH).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Tx {
    Deposit {
        p: usize,
        expected: u64,
        amount: u64,
    },
    Challenge(SignedState),
    Checkpoint(SignedState),
    Conclude {
        state: SignedState,
        withdraw: bool,
    },
    Withdraw(State),
    WithdrawPartial(SignedState, usize),
}

impl Tx {
    fn of(tx: &ChainTx) -> Self {
        match tx.clone() {
            ChainTx::Deposit {
                participant,
                expected_held,
                amount,
                ..
            } => Tx::Deposit {
                p: usize::from(participant),
                expected: expected_held.to::<u64>(),
                amount: amount.to::<u64>(),
            },
            ChainTx::ConcludeAndWithdraw { state, .. } => Tx::Conclude {
                state,
                withdraw: true,
            },
            ChainTx::Challenge { state, .. } => Tx::Challenge(state),
            ChainTx::Withdraw { state, .. } => Tx::Withdraw(state),
            ChainTx::WithdrawPartial {
                state, participant, ..
            } => Tx::WithdrawPartial(state, usize::from(participant)),
        }
    }
}

/// One ledger channel's on-chain record in the adjudicator, with the contract's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Chain {
    /// Chain time (seconds).
    time: u64,
    /// The last block number used.
    block: u64,
    /// On-chain cumulative deposits and withdrawals (payouts of `withdraw` and `withdrawPartial`) per participant.
    dep: [u64; 2],
    wd: [u64; 2],
    /// `status.version`, `status.finalizesAt` and the registered state (its fingerprint).
    version: u64,
    finalizes_at: u64,
    registered: Option<State>,
    /// A payout the contract's formula computed above what the channel held (the cap bit).
    overdraw: bool,
    /// Paid out by claims of sub-channel leaves, in all and to each participant.
    claimed: u64,
    claims_paid: [u64; 2],
}

impl Chain {
    fn finalized(&self) -> bool {
        self.finalizes_at != 0 && self.time >= self.finalizes_at
    }

    fn pending(&self) -> bool {
        self.finalizes_at != 0 && self.time < self.finalizes_at
    }

    fn held(&self) -> i128 {
        i128::from(self.dep[0]) + i128::from(self.dep[1])
            - i128::from(self.wd[0])
            - i128::from(self.wd[1])
            - i128::from(self.claimed)
    }

    /// What `withdraw` may pay out in all: deposits minus withdrawals minus what the state locks in leaves (claims
    /// come out of the locked part).
    fn available(&self, locked: i128) -> i128 {
        (self.held() + i128::from(self.claimed) - locked).max(0)
    }

    /// What `withdraw` with `state` pays participant `p` (the contract's formula, before the cap).
    fn payout(&self, state: &State, p: usize) -> i128 {
        let (bal, dep, wd, _) = amounts(state, p);
        (bal + (i128::from(self.dep[p]) - dep) - (i128::from(self.wd[p]) - wd)).max(0)
    }

    /// Applies `tx` as the adjudicator does, or says why it reverts. Returns the events it emits.
    fn apply(&mut self, params: &ChannelParams, tx: &Tx) -> Result<Vec<Ev>, String> {
        let ctx = ctx();
        let id = ferry_ledger::contracts::channel_id(params);
        let mut events = Vec::new();
        if self.finalized() && !matches!(tx, Tx::Withdraw(_)) {
            return Err("ChannelFinalized".into());
        }
        match tx {
            Tx::Deposit {
                p,
                expected,
                amount,
            } => {
                if self.dep[*p] < *expected {
                    return Err("HeldBelowExpected".into());
                }
                let taken = (expected + amount).saturating_sub(self.dep[*p]);
                self.dep[*p] += taken;
                events.push(Ev::Deposited(IAdjudicator::Deposited {
                    channelId: id,
                    asset: ETH,
                    participant: u(*p as u64),
                    taken: u(taken),
                    depositedTotal: u(self.dep[*p]),
                }));
            }
            Tx::Challenge(s) => {
                let registered = Registered {
                    version: self.version,
                    pending: self.pending(),
                    certified_totals: None,
                };
                support::check_challenge(&ctx, params, &s.state, &s.sigs, None, &registered)
                    .map_err(|e| e.to_string())?;
                if !self.pending() {
                    self.finalizes_at = self.time + WINDOW;
                }
                self.version = version(&s.state);
                self.registered = Some(s.state.clone());
                events.push(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
                    channelId: id,
                    finalizesAt: U48::from(self.finalizes_at),
                    state: s.state.clone(),
                    sigs: s.sigs.clone(),
                }));
            }
            Tx::Checkpoint(s) => {
                support::check_checkpoint(&ctx, params, &s.state, &s.sigs, self.version)
                    .map_err(|e| e.to_string())?;
                self.version = version(&s.state);
                self.finalizes_at = 0;
                self.registered = None;
                events.push(Ev::Checkpointed(IAdjudicator::Checkpointed {
                    channelId: id,
                    version: U48::from(self.version),
                    state: s.state.clone(),
                    sigs: s.sigs.clone(),
                }));
            }
            Tx::Conclude { state, withdraw } => {
                support::check_final(&ctx, params, &state.state, &state.sigs, self.version)
                    .map_err(|e| e.to_string())?;
                self.version = version(&state.state);
                self.finalizes_at = self.time;
                self.registered = Some(state.state.clone());
                events.push(Ev::Concluded(IAdjudicator::Concluded {
                    channelId: id,
                    version: U48::from(self.version),
                }));
                if *withdraw {
                    events.extend(self.withdraw(params, &state.state)?);
                }
            }
            Tx::Withdraw(state) => events.extend(self.withdraw(params, state)?),
            Tx::WithdrawPartial(s, p) => {
                support::check_withdraw_partial(&ctx, params, &s.state, &s.sigs, *p)
                    .map_err(|e| e.to_string())?;
                let (_, _, wd, locked) = amounts(&s.state, *p);
                let due = (wd - i128::from(self.wd[*p])).max(0);
                let cap = (self.held() - locked).max(0);
                if due > cap {
                    self.overdraw = true;
                }
                let paid = due.min(cap);
                if paid > 0 {
                    self.pay(params, *p, paid, &mut events);
                }
            }
        }
        Ok(events)
    }

    fn withdraw(&mut self, params: &ChannelParams, state: &State) -> Result<Vec<Ev>, String> {
        if !self.finalized() {
            return Err("NotFinalized".into());
        }
        if self.registered.as_ref() != Some(state) {
            return Err("WrongFingerprint".into());
        }
        let (_, _, _, locked) = amounts(state, 0);
        let mut available = self.available(locked);
        let mut events = Vec::new();
        for p in 0..2 {
            let payout = self.payout(state, p);
            if payout > available {
                self.overdraw = true;
            }
            let paid = payout.min(available);
            available -= paid;
            if paid > 0 {
                self.pay(params, p, paid, &mut events);
            }
        }
        Ok(events)
    }

    fn pay(&mut self, params: &ChannelParams, p: usize, amount: i128, events: &mut Vec<Ev>) {
        let amount = u64::try_from(amount).unwrap_or_default();
        self.wd[p] += amount;
        events.push(Ev::Withdrawn(IAdjudicator::Withdrawn {
            channelId: ferry_ledger::contracts::channel_id(params),
            asset: ETH,
            to: params.participants[p],
            amount: u(amount),
        }));
    }
}

// ------------------------------------------------------------------------------------------------ model 1: ledger

/// The honest node's pending chain transactions (a mempool the adversary may front-run).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Pool(Vec<ChainTx>);

impl Hash for Pool {
    fn hash<H: Hasher>(&self, h: &mut H) {
        for tx in &self.0 {
            ferry_ledger::store::encode(tx).unwrap_or_default().hash(h);
        }
    }
}

impl Pool {
    fn add(&mut self, tx: ChainTx) {
        if !self.0.contains(&tx) {
            self.0.push(tx);
        }
    }
}

/// How the checker may weaken the honest side, to put a closed hole back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weakness {
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
struct Bounds {
    depth: usize,
    honest_ops: u8,
    peer_ops: u8,
    deposits: u8,
    ticks: u8,
    crashes: u8,
    /// How much the adversary, following, asks to withdraw.
    peer_withdraw: u64,
    /// Whether the adversary also sends signatures saying it lacks the honest one (the node resends its own),
    /// rejects naming no operation, and asks for (or, leading, proposes) payments out of the honest party's balance
    /// (always refused); the default run leaves these out.
    full_menu: bool,
}

/// A request the adversary (the follower) sends the honest leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ask {
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
enum Lead {
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
enum Act {
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
struct LState {
    store: Snapshot,
    chain: Chain,
    pool: Pool,
    /// Every state the honest node signed and sent, with its signature (the adversary's hoard).
    hoard: Vec<(State, Signature)>,
    /// The honest follower's requests (the adversary as leader may batch them).
    requests: Vec<Proposal>,
    /// The adversary's next request sequence number (as the follower) or its next own sequence number (as the
    /// leader).
    seq: u64,
    honest_ops: u8,
    peer_ops: u8,
    deposits: u8,
    ticks: u8,
    crashes: u8,
    /// Ghost: the version and the honest party's net position of the latest state it ever held signed by both.
    supported: (u64, i128),
    /// Weakened runs: per version the honest node signed, its store just before it did (and the adversary's next
    /// sequence number and the chain's block number then).
    before_sign: Vec<(u64, Snapshot, u64, u64)>,
}

struct LedgerModel {
    /// The honest party's participant index: 0 (the leader) or 1 (the follower).
    me: usize,
    params: ChannelParams,
    id: B256,
    honest: Signer,
    peer: Signer,
    bounds: Bounds,
    weakness: Weakness,
    init: LState,
}

fn drain(node: &mut LedgerNode<MemoryStore>) -> (Vec<LedgerMessage>, Vec<ChainTx>) {
    let mut msgs = Vec::new();
    let mut txs = Vec::new();
    while let Some((_, m)) = node.poll_transmit() {
        msgs.push(m);
    }
    while let Some(t) = node.poll_tx() {
        txs.push(t);
    }
    while node.poll_event().is_some() {}
    (msgs, txs)
}

impl LedgerModel {
    /// Opens and funds the channel with the real core on both sides (the peer's node serves only the setup), the
    /// honest party as participant 0 (the leader).
    fn new(me: usize, bounds: Bounds, weakness: Weakness) -> Self {
        let honest = key(0x11);
        let peer = key(0x22);
        let (p0, p1) = if me == 0 {
            (&honest, &peer)
        } else {
            (&peer, &honest)
        };
        let mut params =
            ferry_ledger::channel::ledger_params(&ctx(), p0.address(), p1.address(), WINDOW);
        params.nonce = u(1);
        let id = ferry_ledger::contracts::channel_id(&params);
        let open = |s: &Signer| {
            LedgerNode::open_store(s.clone(), ctx(), config(), MemoryStore::new(), 1_000)
                .unwrap_or_else(|e| panic!("open store: {e}"))
        };
        // nodes[i] is participant i.
        let mut nodes = [open(p0), open(p1)];
        let addrs = [p0.address(), p1.address()];
        if let Err(e) =
            nodes[0].open_with_params(params.clone(), &[(ETH, [u(DEPOSIT), u(DEPOSIT)])], 1_000)
        {
            panic!("open: {e}");
        }
        let mut chain = Chain {
            time: 1,
            ..Chain::default()
        };
        let mut hoard = Vec::new();
        for _ in 0..50 {
            let mut quiet = true;
            for i in 0..2 {
                let (msgs, txs) = drain(&mut nodes[i]);
                for m in msgs {
                    quiet = false;
                    if i == me {
                        hoard_message(&mut hoard, &nodes[me], &id, &m);
                    }
                    if let Err(e) = nodes[1 - i].handle_message(addrs[i], m, 1_000) {
                        panic!("setup message: {e}");
                    }
                }
                for t in txs {
                    quiet = false;
                    let events = chain
                        .apply(&params, &Tx::of(&t))
                        .unwrap_or_else(|e| panic!("setup tx: {e}"));
                    chain.block += 1;
                    for node in nodes.iter_mut() {
                        deliver(node, &chain, &events, 1_000);
                    }
                }
            }
            if quiet {
                break;
            }
        }
        let ch = nodes[me]
            .channel(&id)
            .unwrap_or_else(|| panic!("no channel"));
        assert_eq!(ch.phase(), Phase::Running, "setup did not fund the channel");
        let supported = ch
            .supported()
            .map(|s| (s.version(), net(&s.state, me)))
            .unwrap_or_default();
        let [n0, n1] = nodes;
        let node = if me == 0 { n0 } else { n1 };
        let init = LState {
            store: Snapshot::of(&node.into_store(), &LEDGER_NS),
            chain,
            pool: Pool::default(),
            hoard,
            requests: Vec::new(),
            seq: 1,
            honest_ops: 0,
            peer_ops: 0,
            deposits: 0,
            ticks: 0,
            crashes: 0,
            supported,
            before_sign: Vec::new(),
        };
        Self {
            me,
            params,
            id,
            honest,
            peer,
            bounds,
            weakness,
            init,
        }
    }

    fn now(s: &LState) -> u64 {
        s.chain.time * 1_000
    }

    fn reopen(&self, s: &LState) -> LedgerNode<MemoryStore> {
        LedgerNode::open_store(
            self.honest.clone(),
            ctx(),
            config(),
            s.store.restore(&LEDGER_NS),
            Self::now(s),
        )
        .unwrap_or_else(|e| panic!("reopening the honest node: {e}"))
    }

    fn both(&self, state: &State, honest_sig: &Signature) -> SignedState {
        let mut sigs = vec![honest_sig.clone(), sign(&self.peer, state)];
        if self.me == 1 {
            sigs.reverse();
        }
        SignedState {
            state: state.clone(),
            sigs,
        }
    }

    fn message(&self, node: &mut LedgerNode<MemoryStore>, s: &LState, m: LedgerMessage) -> bool {
        node.handle_message(self.peer.address(), m, Self::now(s))
            .is_ok()
    }

    /// A transaction lands: the chain applies it and the honest node reads the block.
    fn land(
        &self,
        node: &mut LedgerNode<MemoryStore>,
        chain: &mut Chain,
        tx: &Tx,
        now: u64,
    ) -> Result<(), String> {
        let events = chain.apply(&self.params, tx)?;
        chain.block += 1;
        deliver(node, chain, &events, now);
        Ok(())
    }

    fn step(&self, s: &LState, act: &Act) -> Option<LState> {
        let mut next = s.clone();
        let mut node = self.reopen(s);
        let resumed = drain(&mut node);
        let now = Self::now(s);
        let signed_before = node
            .channel(&self.id)
            .map(|c| c.signed_up_to())
            .unwrap_or_default();
        let ok = match act {
            Act::Pay | Act::Withdraw | Act::TopUp | Act::Close | Act::Challenge => {
                next.honest_ops += 1;
                let r = match act {
                    Act::Pay => node.pay(self.id, ETH, u(1), now),
                    Act::Withdraw => node.withdraw(self.id, ETH, u(1), now),
                    Act::TopUp => node.top_up(self.id, ETH, u(1)),
                    Act::Close => node.close(self.id, now),
                    _ => node.challenge(self.id),
                };
                r.is_ok()
            }
            Act::Include(i) => {
                let tx = next.pool.0.remove(*i);
                match self.land(&mut node, &mut next.chain, &Tx::of(&tx), now) {
                    Ok(()) => node.handle_tx_done(&tx).is_ok(),
                    Err(reason) => node.handle_tx_failed(&tx, reason).is_ok(),
                }
            }
            Act::Tick => {
                next.ticks += 1;
                next.chain.time += TICK;
                next.chain.block += 1;
                let now = Self::now(&next);
                node.handle_block(next.chain.block, next.chain.time, now)
                    .is_ok()
                    && node.handle_timeout(now).is_ok()
            }
            Act::Crash => {
                next.crashes += 1;
                for t in resumed.1 {
                    next.pool.add(t);
                }
                true
            }
            Act::Sign(i, have_yours) => {
                let (state, _) = &s.hoard[*i];
                let m = LedgerMessage::Sign {
                    channel_id: self.id,
                    version: version(state),
                    sig: sign(&self.peer, state),
                    have_yours: *have_yours,
                };
                self.message(&mut node, s, m)
            }
            Act::Reject(version, index) => {
                let m = LedgerMessage::Reject {
                    channel_id: self.id,
                    version: *version,
                    index: *index,
                    reason: "no".into(),
                };
                self.message(&mut node, s, m)
            }
            Act::Ask(ask) => {
                next.peer_ops += 1;
                let op = match ask {
                    Ask::PayHonest | Ask::Steal => Op::Pay {
                        from: u8::from(*ask == Ask::PayHonest),
                        asset: ETH,
                        amount: u(1),
                    },
                    Ask::Withdraw => Op::Withdraw {
                        participant: 1,
                        asset: ETH,
                        amount: u(self.bounds.peer_withdraw),
                    },
                    Ask::Close => Op::Close,
                    Ask::TopUp => Op::TopUp {
                        participant: 1,
                        asset: ETH,
                        amount: u(1),
                    },
                };
                let m = LedgerMessage::Request {
                    channel_id: self.id,
                    proposals: vec![Proposal {
                        proposer: 1,
                        seq: s.seq,
                        op,
                    }],
                };
                next.seq += 1;
                self.message(&mut node, s, m)
            }
            Act::Propose { base, skip, op } => {
                let peer = (1 - self.me) as u8;
                let own = |op: Op| Proposal {
                    proposer: peer,
                    seq: s.seq,
                    op,
                };
                let one = |who: u8, build: fn(u8, Address, U256) -> Op| build(who, ETH, u(1));
                let proposal = match op {
                    Lead::PayHonest => own(one(peer, |from, asset, amount| Op::Pay {
                        from,
                        asset,
                        amount,
                    })),
                    Lead::Steal => own(one(1 - peer, |from, asset, amount| Op::Pay {
                        from,
                        asset,
                        amount,
                    })),
                    Lead::Withdraw => own(one(peer, |participant, asset, amount| Op::Withdraw {
                        participant,
                        asset,
                        amount,
                    })),
                    Lead::TopUp => own(one(peer, |participant, asset, amount| Op::TopUp {
                        participant,
                        asset,
                        amount,
                    })),
                    Lead::Close => own(Op::Close),
                    Lead::Request(j) => s.requests[*j].clone(),
                };
                if proposal.proposer == peer {
                    next.seq += 1;
                }
                next.peer_ops += 1;
                let (base_state, _) = &s.hoard[*base];
                let batch = vec![proposal];
                let mut table = ferry_ledger::SubTree::default();
                let Ok((state, _)) = ferry_ledger::protocol::ops::build(
                    base_state,
                    &mut table,
                    &batch,
                    version(base_state) + skip,
                ) else {
                    return None;
                };
                let m = LedgerMessage::Propose {
                    sig: sign(&self.peer, &state),
                    state,
                    batch,
                };
                self.message(&mut node, s, m)
            }
            Act::Refuse(seq) => {
                let m = LedgerMessage::Refuse {
                    channel_id: self.id,
                    seq: *seq,
                    reason: "no".into(),
                };
                self.message(&mut node, s, m)
            }
            Act::PeerChallenge(i)
            | Act::PeerCheckpoint(i)
            | Act::PeerConclude(i)
            | Act::PeerWithdrawPartial(i) => {
                let (state, sig) = &s.hoard[*i];
                let signed = self.both(state, sig);
                let tx = match act {
                    Act::PeerChallenge(_) => Tx::Challenge(signed),
                    Act::PeerCheckpoint(_) => Tx::Checkpoint(signed),
                    Act::PeerConclude(_) => Tx::Conclude {
                        state: signed,
                        withdraw: false,
                    },
                    _ => Tx::WithdrawPartial(signed, 1 - self.me),
                };
                self.land(&mut node, &mut next.chain, &tx, now).is_ok()
            }
            Act::PeerWithdraw => match s.chain.registered.clone() {
                Some(state) => self
                    .land(&mut node, &mut next.chain, &Tx::Withdraw(state), now)
                    .is_ok(),
                None => false,
            },
            Act::PeerDeposit(p) => {
                next.deposits += 1;
                let tx = Tx::Deposit {
                    p: *p,
                    expected: s.chain.dep[*p],
                    amount: 1,
                };
                self.land(&mut node, &mut next.chain, &tx, now).is_ok()
            }
        };
        if !ok {
            return None;
        }
        let (msgs, txs) = drain(&mut node);
        for m in &msgs {
            hoard_message(&mut next.hoard, &node, &self.id, m);
            if let LedgerMessage::Request { proposals, .. } = m {
                for p in proposals {
                    if !next.requests.contains(p) {
                        next.requests.push(p.clone());
                    }
                }
            }
        }
        for t in txs {
            next.pool.add(t);
        }
        if let Some(sup) = node.channel(&self.id).and_then(|c| c.supported())
            && sup.version() > next.supported.0
        {
            next.supported = (sup.version(), net(&sup.state, self.me));
        }
        next.store = Snapshot::of(node.store(), &LEDGER_NS);
        if self.weakness != Weakness::None {
            self.weaken(&node, s, &mut next, act, signed_before);
        }
        Some(next)
    }

    /// Puts a closed hole back (see [`Weakness`]): remembers the store before each version the honest node signs,
    /// and rolls it back when the peer rejects a proposal of the kind the weakness forgets.
    fn weaken(
        &self,
        node: &LedgerNode<MemoryStore>,
        s: &LState,
        next: &mut LState,
        act: &Act,
        signed_before: u64,
    ) {
        let Some(ch) = node.channel(&self.id) else {
            return;
        };
        if ch.signed_up_to() > signed_before {
            next.before_sign.retain(|(v, ..)| *v < ch.signed_up_to());
            next.before_sign
                .push((ch.signed_up_to(), s.store.clone(), s.seq, s.chain.block));
        }
        let Act::Reject(v, _) = act else {
            return;
        };
        let refused = ch
            .signed_states()
            .into_iter()
            .chain(ch.signed_final())
            .find(|st| version(st) == *v);
        let base = ch.supported().map(|sup| amounts(&sup.state, 1 - self.me).2);
        let forget = refused.is_some_and(|st| match self.weakness {
            Weakness::ForgetRefusedFinal => st.isFinal,
            Weakness::ForgetRefusedWithdrawal => {
                base.is_some_and(|b| amounts(st, 1 - self.me).2 > b)
            }
            Weakness::None => false,
        });
        // Only what the node signed is forgotten, never what it read from the chain since (a lost store is out of
        // scope). The adversary sees the node forget its request too, and numbers its next one as the node now
        // expects.
        if forget
            && let Some(i) = next
                .before_sign
                .iter()
                .position(|(sv, _, _, block)| sv == v && *block == s.chain.block)
        {
            next.store = next.before_sign[i].1.clone();
            next.seq = next.before_sign[i].2;
            // Nor does the node answer the reject (the real one re-proposes a carried withdrawal at once).
            next.hoard = s.hoard.clone();
            next.pool = s.pool.clone();
            next.before_sign.truncate(i);
        }
    }

    /// The honest party's entitlement: its net position in the latest state it held signed by both, or in any
    /// newer state it signed and sent, whichever is lower.
    fn entitlement(&self, s: &LState) -> i128 {
        s.hoard
            .iter()
            .filter(|(st, _)| version(st) > s.supported.0)
            .map(|(st, _)| net(st, self.me))
            .fold(s.supported.1, i128::min)
    }

    /// What the honest party ends with (paid, plus what `withdraw` pays it now, minus what it deposited), once the
    /// channel is finalized.
    fn outcome(&self, s: &LState) -> Option<i128> {
        let (c, me) = (&s.chain, self.me);
        if !c.finalized() {
            return None;
        }
        let state = c.registered.as_ref()?;
        let (_, _, _, locked) = amounts(state, me);
        let available = c.available(locked);
        // `withdraw` pays participant 0 first.
        let first = if me == 1 {
            c.payout(state, 0).min(available)
        } else {
            0
        };
        let now = c.payout(state, me).min(available - first);
        Some(i128::from(c.wd[me]) + now - i128::from(c.dep[me]))
    }
}

/// Hands `events` (one block) and the block itself to `node`.
fn deliver<S: Store>(node: &mut LedgerNode<S>, chain: &Chain, events: &[Ev], now: u64) {
    for (i, e) in events.iter().enumerate() {
        if let Err(err) = node.handle_chain_event(chain.block, i as u64, e, now) {
            panic!("chain event {e:?}: {err}");
        }
    }
    if let Err(err) = node.handle_block(chain.block, chain.time, now) {
        panic!("block: {err}");
    }
}

/// Adds what the honest node signed in `m` to the hoard: the state of a proposal or an open, or the state a `Sign`
/// is over (found among the states the node holds, checked by recovering the signature).
fn hoard_message(
    hoard: &mut Vec<(State, Signature)>,
    node: &LedgerNode<MemoryStore>,
    id: &B256,
    m: &LedgerMessage,
) {
    let entry = match m {
        LedgerMessage::Propose { state, sig, .. } => Some((state.clone(), sig.clone())),
        LedgerMessage::Open { prefund, sig, .. } => Some((prefund.clone(), sig.clone())),
        LedgerMessage::Sign {
            version: v, sig, ..
        } => node.channel(id).and_then(|c| {
            c.signed_states()
                .into_iter()
                .chain(c.supported().map(|s| &s.state))
                .chain(c.signed_final())
                .find(|st| {
                    version(st) == *v
                        && recover(&ctx().digest(st), sig).is_ok_and(|a| a == node.address())
                })
                .map(|st| (st.clone(), sig.clone()))
        }),
        _ => None,
    };
    if let Some(e) = entry
        && !hoard.contains(&e)
    {
        hoard.push(e);
    }
}

impl Model for LedgerModel {
    type State = LState;
    type Action = Act;

    fn init_states(&self) -> Vec<LState> {
        vec![self.init.clone()]
    }

    fn actions(&self, s: &LState, actions: &mut Vec<Act>) {
        let b = &self.bounds;
        let finalized = s.chain.finalized();
        if s.honest_ops < b.honest_ops && !finalized {
            actions.extend([
                Act::Pay,
                Act::Withdraw,
                Act::TopUp,
                Act::Close,
                Act::Challenge,
            ]);
        }
        actions.extend((0..s.pool.0.len()).map(Act::Include));
        if s.pool.0.is_empty() && s.ticks < b.ticks {
            actions.push(Act::Tick);
        }
        if s.crashes < b.crashes {
            actions.push(Act::Crash);
        }
        if !finalized {
            let mut versions = Vec::new();
            for (i, (st, _)) in s.hoard.iter().enumerate() {
                let v = version(st);
                if !(1..=MAX_VERSION).contains(&v) {
                    continue;
                }
                // A signature or a reject for a version at or below the latest supported one is an old duplicate
                // the node ignores (pruned here, not in the node).
                if self.me == 1 {
                    // Leading: proposals from any hoarded state (the honest follower takes only those built on
                    // its own latest supported state, at a fresh version).
                    if s.peer_ops < b.peer_ops && v >= s.supported.0 {
                        let mut ops =
                            vec![Lead::PayHonest, Lead::Withdraw, Lead::TopUp, Lead::Close];
                        ops.extend((0..s.requests.len()).map(Lead::Request));
                        if b.full_menu {
                            ops.push(Lead::Steal);
                        }
                        for op in ops {
                            for skip in [1, 2] {
                                if v + skip <= MAX_VERSION {
                                    actions.push(Act::Propose { base: i, skip, op });
                                }
                            }
                        }
                    }
                } else if v > s.supported.0 {
                    actions.push(Act::Sign(i, true));
                    if b.full_menu {
                        actions.push(Act::Sign(i, false));
                    }
                }
                if self.me == 0 && v > s.supported.0 && !versions.contains(&v) {
                    versions.push(v);
                    actions.push(Act::Reject(v, 0));
                    // A reject naming no operation (a state mismatch) drops the whole batch: the same as naming the
                    // first one of a one-operation batch, so only the full menu has it.
                    if b.full_menu {
                        actions.push(Act::Reject(v, 1_000));
                    }
                }
                if st.isFinal {
                    actions.push(Act::PeerConclude(i));
                } else {
                    if v > s.chain.version || (v == s.chain.version && !s.chain.pending()) {
                        actions.push(Act::PeerChallenge(i));
                    }
                    if v > s.chain.version {
                        actions.push(Act::PeerCheckpoint(i));
                    }
                }
                let peer = 1 - self.me;
                if amounts(st, peer).2 > i128::from(s.chain.wd[peer]) {
                    actions.push(Act::PeerWithdrawPartial(i));
                }
            }
            if s.peer_ops < b.peer_ops && self.me == 0 {
                actions
                    .extend([Ask::PayHonest, Ask::Withdraw, Ask::Close, Ask::TopUp].map(Act::Ask));
                if b.full_menu {
                    actions.push(Act::Ask(Ask::Steal));
                }
            }
            if self.me == 1 {
                actions.extend(s.requests.iter().map(|r| Act::Refuse(r.seq)));
            }
            if s.deposits < b.deposits {
                actions.extend([Act::PeerDeposit(0), Act::PeerDeposit(1)]);
            }
        } else {
            actions.push(Act::PeerWithdraw);
        }
    }

    fn next_state(&self, s: &LState, act: Act) -> Option<LState> {
        self.step(s, &act)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("entitlement", |m: &LedgerModel, s: &LState| {
                m.outcome(s).is_none_or(|got| got >= m.entitlement(s))
            }),
            Property::always("solvency", |_, s: &LState| {
                !s.chain.overdraw && s.chain.held() >= 0
            }),
            // Not vacuous: some explored behaviour moves the channel past its post-fund, and some ends it on-chain
            // (with the entitlement checked).
            Property::sometimes("an update is signed by both", |_, s: &LState| {
                s.supported.0 >= 2
            }),
            Property::sometimes(
                "the channel ends on chain",
                |m: &LedgerModel, s: &LState| m.outcome(s).is_some(),
            ),
        ]
    }

    fn within_boundary(&self, s: &LState) -> bool {
        s.hoard.iter().all(|(st, _)| version(st) <= MAX_VERSION + 1)
    }
}

// ------------------------------------------------------------------------------------------------ runs

/// Whether the run is the deeper one (`FERRY_MODEL_DEPTH=deeper` or a number), and the depth it asks for.
fn deeper() -> Option<Option<usize>> {
    let v = std::env::var("FERRY_MODEL_DEPTH").ok()?;
    Some(v.parse().ok())
}

fn ledger_bounds() -> Bounds {
    match deeper() {
        None => Bounds {
            depth: 7,
            honest_ops: 1,
            peer_ops: 1,
            deposits: 1,
            ticks: 1,
            crashes: 0,
            full_menu: false,
            peer_withdraw: 1,
        },
        Some(depth) => Bounds {
            depth: depth.unwrap_or(7),
            honest_ops: 2,
            peer_ops: 2,
            deposits: 1,
            ticks: 3,
            crashes: 1,
            full_menu: true,
            peer_withdraw: 1,
        },
    }
}

/// Runs the checker breadth-first to `depth` and reports what it explored; `first` stops at the first
/// counterexample.
fn check<M>(name: &str, model: M, depth: usize, first: bool) -> impl Checker<M>
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + fmt::Debug + Hash + PartialEq + Send + Sync + 'static,
    M::Action: Clone + fmt::Debug + PartialEq + Send + Sync + 'static,
{
    let start = Instant::now();
    let checker = model
        .checker()
        .threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
        .target_max_depth(depth)
        .finish_when(if first {
            HasDiscoveries::AnyFailures
        } else {
            HasDiscoveries::All
        })
        .spawn_bfs()
        .join();
    eprintln!(
        "{name}: depth {depth}, {} states ({} unique), max depth {}, {:.1?}",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth(),
        start.elapsed()
    );
    checker
}

/// S14 and S12 against the unrestricted peer: the real leader, every behaviour to the depth, both invariants hold.
#[test]
fn ledger_leader_against_unrestricted_peer() {
    let b = ledger_bounds();
    let checker = check(
        "ledger (honest leader)",
        LedgerModel::new(0, b, Weakness::None),
        b.depth,
        false,
    );
    checker.assert_properties();
}

/// The same with the honest party as the follower: the adversary leads and proposes whatever it likes.
#[test]
fn ledger_follower_against_unrestricted_peer() {
    let b = ledger_bounds();
    let checker = check(
        "ledger (honest follower)",
        LedgerModel::new(1, b, Weakness::None),
        b.depth,
        false,
    );
    checker.assert_properties();
}

/// S14 put back (the honest node forgets a final the peer refused): the checker finds the peer concluding with the
/// final it kept after the honest party was paid on.
#[test]
fn s14_hole_refused_final_forgotten_is_found() {
    let b = Bounds {
        depth: 7,
        honest_ops: 1,
        peer_ops: 1,
        deposits: 0,
        ticks: 0,
        crashes: 0,
        full_menu: false,
        peer_withdraw: 1,
    };
    let checker = check(
        "ledger, S14 put back",
        LedgerModel::new(0, b, Weakness::ForgetRefusedFinal),
        b.depth,
        true,
    );
    let path = checker.assert_any_discovery("entitlement");
    eprintln!("counterexample: {:?}", path.into_actions());
    checker.assert_no_discovery("solvency");
}

/// S12/S14 put back (the honest node forgets a refused proposal that withdrew for the peer, with its floor of
/// withdrawn totals): the checker finds the peer completing the refused proposal, taking its withdrawal with
/// `withdrawPartial`, and ending the channel with a later state that still counts the withdrawn funds as its own.
#[test]
fn s12_hole_refused_withdrawal_forgotten_is_found() {
    let b = Bounds {
        depth: 8,
        honest_ops: 0,
        peer_ops: 2,
        deposits: 0,
        ticks: 1,
        crashes: 0,
        full_menu: false,
        peer_withdraw: DEPOSIT,
    };
    let checker = check(
        "ledger, S12 put back",
        LedgerModel::new(0, b, Weakness::ForgetRefusedWithdrawal),
        b.depth,
        true,
    );
    let path = checker
        .discovery("entitlement")
        .or_else(|| checker.discovery("solvency"));
    let Some(path) = path else {
        panic!("no counterexample with the withdrawal floor put back");
    };
    eprintln!("counterexample: {:?}", path.into_actions());
}

// ------------------------------------------------------------------------------------------------ model 2: hub

/// The namespaces of a virtual node's store (its ledger node's and its own).
const HUB_NS: [&str; 5] = [NS_CHANNELS, NS_LEAVES, NS_CURSOR, NS_VIRTUAL, NS_PRUNED];
/// The hub's routing fee.
const FEE: u64 = 1;
/// A's balance in V (B starts with nothing).
const V_A: u64 = 2;
/// Path members: the endpoints A and B (colluding), the hub H in between.
const A: usize = 0;
const H: usize = 1;
const B: usize = 2;

fn pay_app() -> Address {
    Address::repeat_byte(0xaa)
}

/// V's on-chain record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct VChain {
    version: u64,
    finalizes_at: u64,
    registered: Option<State>,
    certified: Option<B256>,
}

impl VChain {
    fn finalized(&self, time: u64) -> bool {
        self.finalizes_at != 0 && time >= self.finalizes_at
    }

    fn pending(&self, time: u64) -> bool {
        self.finalizes_at != 0 && time < self.finalizes_at
    }
}

/// Messages in flight: (from, to, message).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Wire(Vec<(usize, usize, Message)>);

impl Hash for Wire {
    fn hash<S: Hasher>(&self, h: &mut S) {
        for (from, to, m) in &self.0 {
            (from, to).hash(h);
            ferry_ledger::store::encode(m).unwrap_or_default().hash(h);
        }
    }
}

/// The hub's pending transactions.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct HubPool(Vec<VTx>);

impl Hash for HubPool {
    fn hash<S: Hasher>(&self, h: &mut S) {
        for tx in &self.0 {
            format!("{tx:?}").hash(h);
        }
    }
}

impl HubPool {
    fn add(&mut self, tx: VTx) {
        if !self.0.contains(&tx) {
            self.0.push(tx);
        }
    }
}

/// What happens next: the honest schedule (`Pump`) or one of the colluding endpoints' deviations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HAct {
    /// The network and the chain make honest progress: the hub's transactions land, else every message in flight
    /// is delivered, else the endpoints take their next step (A pays B, then B settles, then the hub is asked to
    /// take both ledgers on-chain), else time passes.
    Pump,
    /// The endpoint withholds (drops) every message it has in flight to the hub.
    Withhold(usize),
    /// The hub crashes and restarts from its store.
    Crash,
    /// The endpoint on ledger `k` registers hoarded hub-signed state `i` (challenge, or conclude for a final).
    LedgerAttack(usize),
    /// A and B conclude V with hoarded hub-signed final `i`, or challenge V with hoarded whole-path state `i`.
    VConclude(usize),
    VChallenge(usize),
    /// A and B challenge V with a version-2 state giving A `a` of V's funds, with the certificate they hoarded.
    VEndpoints(u64),
    /// Time passes (with the hub's transactions landed).
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HState {
    stores: [Snapshot; 3],
    wire: Wire,
    pool: HubPool,
    ledgers: [Chain; 2],
    v: VChain,
    /// Hub-signed ledger states (ledger index, state, hub signature) and V states (state, hub signature).
    hoard_l: Vec<(usize, State, Signature)>,
    hoard_v: Vec<(State, Signature)>,
    /// The endpoints' schedule: 0 pay, 1 settle, 2 ask the hub to go on-chain, 3 done.
    stage: u8,
    deviations: u8,
    ticks: u8,
    /// Ghost: the hub held V's certificate before V was final on-chain (so its fee is due).
    certified: bool,
}

struct HubModel {
    keys: [Signer; 3],
    /// Ledger 0: A–H, ledger 1: H–B.
    lparams: [ChannelParams; 2],
    lids: [B256; 2],
    vid: B256,
    vparams: ChannelParams,
    prefund: State,
    deviations: u8,
    ticks: u8,
    init: HState,
}

fn hub_config() -> Config {
    Config {
        peer_timeout_ms: 20_000,
        ..config()
    }
}

/// A virtual node restarted on `store`, with the payment app and (for the hub) its fee.
fn vnode(key: &Signer, store: MemoryStore, now: u64) -> VirtualNode<MemoryStore> {
    let ledger = LedgerNode::open_store(key.clone(), ctx(), hub_config(), store, now)
        .unwrap_or_else(|e| panic!("ledger store: {e}"));
    let mut v =
        VirtualNode::open_store(ledger, now).unwrap_or_else(|e| panic!("virtual store: {e}"));
    v.set_app(pay_app(), AppKind::Payment);
    v.set_policy(IntermediaryPolicy {
        fee_flat: u(FEE),
        ..IntermediaryPolicy::default()
    });
    v
}

type Out = (Vec<(Address, Message)>, Vec<VTx>);

fn vdrain(node: &mut VirtualNode<MemoryStore>) -> Out {
    let mut msgs = Vec::new();
    let mut txs = Vec::new();
    while let Some(m) = node.poll_transmit() {
        msgs.push(m);
    }
    while let Some(t) = node.poll_tx() {
        txs.push(t);
    }
    while node.poll_event().is_some() {}
    (msgs, txs)
}

/// The chain world of model 2: both ledgers and V, with a shared clock.
struct World<'a> {
    m: &'a HubModel,
    ledgers: &'a mut [Chain; 2],
    v: &'a mut VChain,
}

impl World<'_> {
    fn time(&self) -> u64 {
        self.ledgers[0].time
    }

    fn block(&mut self) -> u64 {
        let b = self.ledgers[0].block.max(self.ledgers[1].block) + 1;
        self.ledgers[0].block = b;
        self.ledgers[1].block = b;
        b
    }

    fn ledger_of(&self, id: &B256) -> Option<usize> {
        self.m.lids.iter().position(|l| l == id)
    }

    /// Applies a transaction; returns the block's events.
    fn apply(&mut self, tx: &VTx) -> Result<Vec<Ev>, String> {
        match tx {
            VTx::Ledger(t) => {
                let k = self.ledger_of(&t.channel_id()).ok_or("unknown ledger")?;
                self.ledgers[k].apply(&self.m.lparams[k], &Tx::of(t))
            }
            VTx::Virtual(VirtualTx::Challenge {
                params,
                state,
                cert,
            }) => self.v_challenge(params, state, cert.as_ref()),
            VTx::Virtual(VirtualTx::Conclude { params, state }) => self.v_conclude(params, state),
            VTx::Virtual(VirtualTx::Claim {
                ledger,
                ledger_state,
                leaf,
                proof,
                virt,
                virt_state,
            }) => self.claim(ledger, ledger_state, leaf, proof, virt, virt_state),
            VTx::Virtual(VirtualTx::Progress { .. }) => Err("progress: a hub never moves".into()),
        }
    }

    fn v_challenge(
        &mut self,
        params: &ChannelParams,
        s: &SignedState,
        cert: Option<&ferry_ledger::Certificate>,
    ) -> Result<Vec<Ev>, String> {
        let time = self.time();
        if self.v.finalized(time) {
            return Err("ChannelFinalized".into());
        }
        let registered = Registered {
            version: self.v.version,
            pending: self.v.pending(time),
            certified_totals: self.v.certified,
        };
        let newly = support::check_challenge(&ctx(), params, &s.state, &s.sigs, cert, &registered)
            .map_err(|e| e.to_string())?;
        if newly.is_some() {
            self.v.certified = newly;
        }
        if !self.v.pending(time) {
            self.v.finalizes_at = time + WINDOW;
        }
        self.v.version = version(&s.state);
        self.v.registered = Some(s.state.clone());
        Ok(vec![Ev::ChallengeRegistered(
            IAdjudicator::ChallengeRegistered {
                channelId: self.m.vid,
                finalizesAt: U48::from(self.v.finalizes_at),
                state: s.state.clone(),
                sigs: s.sigs.clone(),
            },
        )])
    }

    fn v_conclude(&mut self, params: &ChannelParams, s: &SignedState) -> Result<Vec<Ev>, String> {
        let time = self.time();
        if self.v.finalized(time) {
            return Err("ChannelFinalized".into());
        }
        // A whole-path final of V concludes over any registered version (S5).
        support::check_final(&ctx(), params, &s.state, &s.sigs, 0).map_err(|e| e.to_string())?;
        self.v.version = version(&s.state);
        self.v.finalizes_at = time;
        self.v.registered = Some(s.state.clone());
        Ok(vec![Ev::Concluded(IAdjudicator::Concluded {
            channelId: self.m.vid,
            version: U48::from(self.v.version),
        })])
    }

    fn claim(
        &mut self,
        ledger: &ChannelParams,
        ledger_state: &State,
        leaf: &ferry_ledger::SubAlloc,
        proof: &ferry_ledger::LeafProof,
        virt: &ChannelParams,
        virt_state: &State,
    ) -> Result<Vec<Ev>, String> {
        let time = self.time();
        let k = self
            .ledger_of(&ferry_ledger::contracts::channel_id(ledger))
            .ok_or("unknown ledger")?;
        let l = &self.ledgers[k];
        if !l.finalized() || !self.v.finalized(time) {
            return Err("NotFinalized".into());
        }
        if l.registered.as_ref() != Some(ledger_state)
            || self.v.registered.as_ref() != Some(virt_state)
        {
            return Err("WrongFingerprint".into());
        }
        if l.claimed > 0 {
            return Err("AlreadyClaimed".into());
        }
        let claim =
            support::check_claim(&ctx(), ledger, ledger_state, leaf, proof, virt, virt_state)
                .map_err(|e| e.to_string())?;
        let p = claim.payouts.first().ok_or("no asset")?;
        let amount = leaf
            .amounts
            .first()
            .map(|a| n(a.amount))
            .unwrap_or_default();
        let (_, _, _, locked) = amounts(ledger_state, 0);
        if amount > locked || amount > l.held() {
            return Err("ClaimExceedsLocked".into());
        }
        let left = claim.position.left_index;
        let l = &mut self.ledgers[k];
        l.claimed += u64::try_from(amount).unwrap_or_default();
        let mut events = vec![Ev::Claimed(IAdjudicator::Claimed {
            ledgerId: self.m.lids[k],
            virtualId: self.m.vid,
            asset: ETH,
            toLeft: p.to_left,
            toRight: p.to_right,
        })];
        for (idx, amt) in [(left, p.to_left), (1 - left, p.to_right)] {
            l.claims_paid[idx] += amt.to::<u64>();
            if !amt.is_zero() {
                events.push(Ev::Withdrawn(IAdjudicator::Withdrawn {
                    channelId: self.m.lids[k],
                    asset: ETH,
                    to: ledger.participants[idx],
                    amount: amt,
                }));
            }
        }
        Ok(events)
    }
}

impl HubModel {
    /// Funds both ledgers with the real cores (A opens A–H, the hub opens H–B) and lets A propose V (A 2, B 0,
    /// the hub's fee 1): V's pre-fund is on the wire to the hub.
    fn new(deviations: u8, ticks: u8) -> Self {
        let keys = [key(0x31), key(0x32), key(0x33)];
        let addr = |i: usize| keys[i].address();
        let mut nodes: Vec<VirtualNode<MemoryStore>> = keys
            .iter()
            .map(|k| vnode(k, MemoryStore::new(), 1_000))
            .collect();
        let mut lparams = [(A, H), (H, B)].map(|(x, y)| {
            let mut p = ferry_ledger::channel::ledger_params(&ctx(), addr(x), addr(y), WINDOW);
            p.nonce = u(7);
            p
        });
        lparams[1].nonce = u(8);
        let lids = lparams
            .clone()
            .map(|p| ferry_ledger::contracts::channel_id(&p));
        for (k, opener) in [(0, A), (1, H)] {
            if let Err(e) = nodes[opener].ledger_mut().open_with_params(
                lparams[k].clone(),
                &[(ETH, [u(DEPOSIT), u(DEPOSIT)])],
                1_000,
            ) {
                panic!("open ledger {k}: {e}");
            }
        }
        let mut ledgers = [0, 1].map(|_| Chain {
            time: 1,
            ..Chain::default()
        });
        let v = VChain::default();
        let idx = |a: Address| (0..3).find(|i| addr(*i) == a).unwrap_or(A);
        let mut wire: Vec<(usize, usize, Message)> = Vec::new();
        for _ in 0..100 {
            let mut quiet = true;
            for i in 0..3 {
                let (msgs, txs) = vdrain(&mut nodes[i]);
                for (to, m) in msgs {
                    wire.push((i, idx(to), m));
                }
                for t in txs {
                    quiet = false;
                    let VTx::Ledger(t) = t else { continue };
                    let k = lids
                        .iter()
                        .position(|l| *l == t.channel_id())
                        .unwrap_or_else(|| panic!("setup tx for an unknown channel"));
                    let events = ledgers[k]
                        .apply(&lparams[k], &Tx::of(&t))
                        .unwrap_or_else(|e| panic!("setup tx: {e}"));
                    let b = ledgers[0].block.max(ledgers[1].block) + 1;
                    ledgers[0].block = b;
                    ledgers[1].block = b;
                    for node in nodes.iter_mut() {
                        vdeliver(node, b, ledgers[0].time, &events, 1_000);
                    }
                }
            }
            for (from, to, m) in std::mem::take(&mut wire) {
                quiet = false;
                if let Err(e) = nodes[to].handle_message(addr(from), m, 1_000) {
                    panic!("setup message: {e}");
                }
            }
            if quiet {
                break;
            }
        }
        for k in 0..2 {
            for i in [[A, H], [H, B]][k] {
                let phase = nodes[i].ledger().channel(&lids[k]).map(|c| c.phase());
                assert_eq!(phase, Some(Phase::Running), "ledger {k} not funded");
            }
        }
        let vid = nodes[A]
            .open(
                OpenRequest {
                    path: vec![addr(A), addr(H), addr(B)],
                    hops: lids.to_vec(),
                    app: pay_app(),
                    balances: vec![(ETH, [u(V_A), u(0)])],
                    fees: vec![u(0), u(FEE), u(0)],
                    challenge_duration: WINDOW,
                },
                1_000,
            )
            .unwrap_or_else(|e| panic!("open V: {e}"));
        let (vparams, prefund) = nodes[A]
            .channel(&vid)
            .map(|c| (c.params().clone(), c.prefund().clone()))
            .unwrap_or_else(|| panic!("no V"));
        let (msgs, _) = vdrain(&mut nodes[A]);
        for (to, m) in msgs {
            wire.push((A, idx(to), m));
        }
        let stores = [A, H, B].map(|i| Snapshot::of(nodes[i].ledger().store(), &HUB_NS));
        let init = HState {
            stores,
            wire: Wire(wire),
            pool: HubPool::default(),
            ledgers,
            v,
            hoard_l: Vec::new(),
            hoard_v: Vec::new(),
            stage: 0,
            deviations: 0,
            ticks: 0,
            certified: false,
        };
        Self {
            keys,
            lparams,
            lids,
            vid,
            vparams,
            prefund,
            deviations,
            ticks,
            init,
        }
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    fn index(&self, a: Address) -> usize {
        (0..3).find(|i| self.addr(*i) == a).unwrap_or(A)
    }

    fn now(s: &HState) -> u64 {
        s.ledgers[0].time * 1_000
    }

    /// The endpoint that shares ledger `k` with the hub.
    fn endpoint_of(k: usize) -> usize {
        if k == 0 { A } else { B }
    }

    /// Lands `tx` and hands the block to every node.
    fn land(
        &self,
        nodes: &mut [VirtualNode<MemoryStore>],
        s: &mut HState,
        tx: &VTx,
    ) -> Result<(), String> {
        let now = Self::now(s);
        let mut world = World {
            m: self,
            ledgers: &mut s.ledgers,
            v: &mut s.v,
        };
        let events = world.apply(tx)?;
        let b = world.block();
        let time = world.time();
        for node in nodes.iter_mut() {
            vdeliver(node, b, time, &events, now);
        }
        Ok(())
    }

    fn collect(
        &self,
        nodes: &mut [VirtualNode<MemoryStore>],
        s: &mut HState,
        keep_resent: [bool; 3],
    ) {
        for i in 0..3 {
            let (msgs, txs) = vdrain(&mut nodes[i]);
            if !keep_resent[i] {
                continue;
            }
            for (to, m) in msgs {
                if i == H {
                    self.hoard(&nodes[H], s, &m);
                }
                s.wire.0.push((i, self.index(to), m));
            }
            if i == H {
                for t in txs {
                    s.pool.add(t);
                }
            }
        }
    }

    /// Keeps what the hub signed in `m` (ledger states and V states).
    fn hoard(&self, hub: &VirtualNode<MemoryStore>, s: &mut HState, m: &Message) {
        match m {
            Message::Ledger(lm) => {
                let Some(k) = self.lids.iter().position(|l| *l == lm.channel_id()) else {
                    return;
                };
                let mut h = Vec::new();
                hoard_message(&mut h, hub.ledger(), &self.lids[k], lm);
                for (st, sig) in h {
                    if !s.hoard_l.iter().any(|(_, x, _)| *x == st) {
                        s.hoard_l.push((k, st, sig));
                    }
                }
            }
            Message::Virtual(ferry_virtual::protocol::VirtualMessage::Sigs {
                state, sigs, ..
            }) => {
                if let Some(Some(sig)) = sigs.get(H)
                    && !s.hoard_v.iter().any(|(x, _)| x == state)
                {
                    s.hoard_v.push((state.clone(), sig.clone()));
                }
            }
            Message::Virtual(_) => {}
        }
    }

    fn step(&self, s: &HState, act: &HAct) -> Option<HState> {
        let mut next = s.clone();
        let now = Self::now(s);
        let mut nodes: Vec<VirtualNode<MemoryStore>> = (0..3)
            .map(|i| vnode(&self.keys[i], s.stores[i].restore(&HUB_NS), now))
            .collect();
        let crash = *act == HAct::Crash;
        self.collect(&mut nodes, &mut next, [false, crash, false]);
        if *act != HAct::Pump {
            next.deviations += 1;
        }
        let ok = match act {
            HAct::Pump => self.pump(&mut nodes, &mut next),
            HAct::Tick => self.tick(&mut nodes, &mut next),
            HAct::Crash => true,
            HAct::Withhold(e) => {
                let before = next.wire.0.len();
                next.wire
                    .0
                    .retain(|(from, to, _)| !(*from == *e && *to == H));
                next.wire.0.len() < before
            }
            HAct::LedgerAttack(i) => {
                let (k, st, sig) = s.hoard_l[*i].clone();
                let e = Self::endpoint_of(k);
                let ours = sign(&self.keys[e], &st);
                let sigs = if k == 0 {
                    vec![ours, sig]
                } else {
                    vec![sig, ours]
                };
                let signed = SignedState {
                    state: st.clone(),
                    sigs,
                };
                let tx = if st.isFinal {
                    ChainTx::ConcludeAndWithdraw {
                        params: self.lparams[k].clone(),
                        state: signed,
                    }
                } else {
                    ChainTx::Challenge {
                        params: self.lparams[k].clone(),
                        state: signed,
                    }
                };
                self.land(&mut nodes, &mut next, &VTx::Ledger(tx)).is_ok()
            }
            HAct::VConclude(i) | HAct::VChallenge(i) => {
                let (st, sig) = s.hoard_v[*i].clone();
                let sigs = vec![sign(&self.keys[A], &st), sig, sign(&self.keys[B], &st)];
                let state = SignedState { state: st, sigs };
                let tx = if matches!(act, HAct::VConclude(_)) {
                    VirtualTx::Conclude {
                        params: self.vparams.clone(),
                        state,
                    }
                } else {
                    VirtualTx::Challenge {
                        params: self.vparams.clone(),
                        state,
                        cert: None,
                    }
                };
                self.land(&mut nodes, &mut next, &VTx::Virtual(tx)).is_ok()
            }
            HAct::VEndpoints(a) => {
                let cert = s
                    .hoard_v
                    .iter()
                    .find(|(st, _)| version(st) == 1 && !st.isFinal)
                    .map(|(st, sig)| ferry_ledger::Certificate {
                        state: st.clone(),
                        sigs: vec![
                            sign(&self.keys[A], st),
                            sig.clone(),
                            sign(&self.keys[B], st),
                        ],
                    });
                match cert {
                    None => false,
                    Some(cert) => {
                        let mut st = cert.state.clone();
                        st.version = U48::from(2u64);
                        if let Some(asset) = st.outcome.assets.first_mut() {
                            asset.balances = vec![u(*a), u(0), u(V_A - a)];
                        }
                        let sigs = vec![sign(&self.keys[A], &st), sign(&self.keys[B], &st)];
                        let tx = VirtualTx::Challenge {
                            params: self.vparams.clone(),
                            state: SignedState { state: st, sigs },
                            cert: Some(cert),
                        };
                        self.land(&mut nodes, &mut next, &VTx::Virtual(tx)).is_ok()
                    }
                }
            }
        };
        if !ok {
            return None;
        }
        self.collect(&mut nodes, &mut next, [true, true, true]);
        // The fee is due once the hub holds V's certificate while V is not final on-chain (a certificate completed
        // after V finalized by its pre-fund comes too late for anyone: the fee goes back to A's side, S8).
        if !next.v.finalized(next.ledgers[0].time)
            && nodes[H]
                .channel(&self.vid)
                .is_some_and(|c| c.certificate().is_some())
        {
            next.certified = true;
        }
        for (i, node) in nodes.iter().enumerate() {
            next.stores[i] = Snapshot::of(node.ledger().store(), &HUB_NS);
        }
        Some(next)
    }

    /// Honest progress (see [`HAct::Pump`]).
    fn pump(&self, nodes: &mut [VirtualNode<MemoryStore>], s: &mut HState) -> bool {
        let now = Self::now(s);
        if !s.pool.0.is_empty() {
            for tx in std::mem::take(&mut s.pool.0) {
                let result = self.land(nodes, s, &tx);
                if let (VTx::Ledger(t), Err(reason)) = (&tx, result) {
                    let _ = nodes[H].ledger_mut().handle_tx_failed(t, reason);
                } else if let VTx::Ledger(t) = &tx {
                    let _ = nodes[H].ledger_mut().handle_tx_done(t);
                }
            }
            return true;
        }
        if !s.wire.0.is_empty() {
            for (from, to, m) in std::mem::take(&mut s.wire.0) {
                let _ = nodes[to].handle_message(self.addr(from), m, now);
            }
            return true;
        }
        let stage = s.stage;
        s.stage += 1;
        match stage {
            0 => {
                let _ = nodes[A].pay(self.vid, ETH, u(1));
                true
            }
            1 => {
                if nodes[B].settle(self.vid, now).is_err() {
                    let _ = nodes[A].settle(self.vid, now);
                }
                true
            }
            2 => {
                for id in self.lids {
                    let _ = nodes[H].ledger_mut().challenge(id);
                }
                true
            }
            _ => {
                s.stage = stage;
                self.tick(nodes, s)
            }
        }
    }

    fn tick(&self, nodes: &mut [VirtualNode<MemoryStore>], s: &mut HState) -> bool {
        if !s.pool.0.is_empty() || s.ticks >= self.ticks {
            return false;
        }
        s.ticks += 1;
        for l in s.ledgers.iter_mut() {
            l.time += TICK;
        }
        let b = s.ledgers[0].block.max(s.ledgers[1].block) + 1;
        s.ledgers[0].block = b;
        s.ledgers[1].block = b;
        let (time, now) = (s.ledgers[0].time, Self::now(s));
        for node in nodes.iter_mut() {
            vdeliver(node, b, time, &[], now);
            let _ = node.handle_timeout(now);
        }
        true
    }

    /// The hub's end across its two ledgers, once both are finalized and V too if a finalized ledger state still
    /// holds its leaf: what it was paid (withdrawals and claims) plus what `withdraw` and the leaf's claim pay it
    /// now, minus what it deposited.
    fn hub_end(&self, s: &HState) -> Option<i128> {
        let time = s.ledgers[0].time;
        let mut total = 0i128;
        for k in 0..2 {
            let c = &s.ledgers[k];
            let state = c.registered.as_ref()?;
            if !c.finalized() {
                return None;
            }
            let me = usize::from(k == 0);
            let (_, _, _, locked) = amounts(state, me);
            let now = c.payout(state, me).min(c.available(locked));
            total +=
                i128::from(c.wd[me]) + i128::from(c.claims_paid[me]) + now - i128::from(c.dep[me]);
            if locked > 0 && c.claimed == 0 {
                if !s.v.finalized(time) {
                    return None;
                }
                let vstate = s.v.registered.as_ref()?;
                let leaf = support::leaf_of(&self.vparams, &self.prefund, u(FEE));
                let pos =
                    ferry_ledger::params::path_position(&self.lparams[k], &self.vparams).ok()?;
                let p = support::leaf_payout(&leaf, vstate).ok()?;
                let p = p.first()?;
                total += n(if pos.left_index == me {
                    p.to_left
                } else {
                    p.to_right
                });
            }
        }
        Some(total)
    }
}

fn vdeliver(node: &mut VirtualNode<MemoryStore>, block: u64, time: u64, events: &[Ev], now: u64) {
    for (i, e) in events.iter().enumerate() {
        let _ = node.handle_chain_event(block, i as u64, e, now);
    }
    let _ = node.handle_block(block, time, now);
}

impl Model for HubModel {
    type State = HState;
    type Action = HAct;

    fn init_states(&self) -> Vec<HState> {
        vec![self.init.clone()]
    }

    fn actions(&self, s: &HState, actions: &mut Vec<HAct>) {
        actions.push(HAct::Pump);
        if s.deviations >= self.deviations {
            return;
        }
        actions.push(HAct::Tick);
        actions.push(HAct::Crash);
        for e in [A, B] {
            if s.wire.0.iter().any(|(from, to, _)| *from == e && *to == H) {
                actions.push(HAct::Withhold(e));
            }
        }
        for (i, (k, st, _)) in s.hoard_l.iter().enumerate() {
            let c = &s.ledgers[*k];
            if !c.finalized() && version(st) >= c.version.max(1) {
                actions.push(HAct::LedgerAttack(i));
            }
        }
        let time = s.ledgers[0].time;
        if !s.v.finalized(time) {
            for (i, (st, _)) in s.hoard_v.iter().enumerate() {
                if st.isFinal {
                    actions.push(HAct::VConclude(i));
                } else {
                    actions.push(HAct::VChallenge(i));
                }
            }
            if s.certified {
                actions.extend((0..=V_A).map(HAct::VEndpoints));
            }
        }
    }

    fn next_state(&self, s: &HState, act: HAct) -> Option<HState> {
        self.step(s, &act)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("hub gets its due", |m: &HubModel, s: &HState| {
                let due = if s.certified { i128::from(FEE) } else { 0 };
                m.hub_end(s).is_none_or(|end| end >= due)
            }),
            Property::always("solvency", |_, s: &HState| {
                s.ledgers.iter().all(|c| !c.overdraw && c.held() >= 0)
            }),
            Property::sometimes("the hub's due is reached", |m: &HubModel, s: &HState| {
                m.hub_end(s).is_some()
            }),
        ]
    }
}

fn hub_bounds() -> (usize, u8, u8) {
    match deeper() {
        None => (28, 2, 4),
        // A numeric depth is model 1's: the hub's honest schedule alone takes 23 steps.
        Some(_) => (34, 3, 5),
    }
}

/// Model 2: the real virtual-channel core of a hub between colluding endpoints, through V's open, a payment, the
/// settle and both ledgers going on-chain, with every deviation the budget allows at every point.
#[test]
fn hub_between_colluding_endpoints() {
    let (depth, deviations, ticks) = hub_bounds();
    let checker = check(
        "hub (V open, pay, settle)",
        HubModel::new(deviations, ticks),
        depth,
        false,
    );
    checker.assert_no_discovery("hub gets its due");
    checker.assert_no_discovery("solvency");
    checker.assert_any_discovery("the hub's due is reached");
}
