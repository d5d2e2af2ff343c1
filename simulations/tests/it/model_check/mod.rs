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
//! Bounds: the default run (`cargo test -p ferry-simulations --test it model_check`, debug) explores every behaviour
//! of model 1 up to depth 7 (one honest operation, one adversary operation, one deposit, one tick) and of model 2
//! up to depth 28 with two deviations, in under a minute on two cores. `FERRY_MODEL_DEPTH=deeper` raises the
//! budgets (two operations each, crashes, three ticks, the full adversary menu; three deviations for the hub) and
//! the hub's depth (34), for several minutes; `FERRY_MODEL_DEPTH=<n>` runs the deeper budgets with model 1 at depth
//! `n` (each level multiplies its states by about four: depth 8 is a long run with gigabytes of queue).

mod chain;
mod hub_chain;
mod hub_model;
mod hub_state;
mod ledger_model;
mod ledger_state;

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::contracts::{Signature, State};
use ferry_ledger::params::DurationPolicy;
use ferry_ledger::protocol::{Config, OpenPolicy};
use ferry_ledger::{ChainContext, Signer};
use stateright::{Checker, HasDiscoveries, Model};

use hub_model::HubModel;
use ledger_model::LedgerModel;
use ledger_state::{Bounds, Weakness};

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
            ..Config::default().durations
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
