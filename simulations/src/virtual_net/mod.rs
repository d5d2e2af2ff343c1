//! A deterministic network of virtual-channel nodes on a path: the harness of the virtual-channel tests, property
//! tests and benchmarks.
//!
//! [`VirtualNet`] holds `n` members (`0` is A, `n - 1` is B, the others intermediaries), each a real
//! [`VirtualNode`] on a [`MemoryStore`], with one funded ETH ledger between each pair of neighbours (ledger `k`,
//! [`VirtualNet::hop`]`(k)`, between members `k` and `k + 1`). Nothing runs by itself: the test moves messages, the local clock and the chain
//! by calling the harness, so every run is reproducible (the keys and the wire's faults come from one seed).
//!
//! # The chain
//!
//! A net is built on one of two chains ([`ChainKind`]):
//! - **synthetic**: no chain at all. The ledgers are funded by feeding the nodes `Deposited` events; every other
//!   chain event is one the test makes up and hands over ([`VirtualNet::feed`], or the node's own
//!   `handle_chain_event`). The transactions the nodes ask for are only logged ([`VirtualNet::tx_log`]).
//! - **embedded**: the in-process [`EmbeddedChain`] with the deployed adjudicator and apps. Each member's chain
//!   duties run through [`ferry_node::chain::drive`] (its transactions submitted, the confirmed events read back),
//!   once per [`VirtualNet::tick`]; the nodes count an event after the configured number of confirmations (each
//!   tick mines a block when that is more than one). The chain's clock is the test's to move
//!   ([`VirtualNet::chain`]`().advance_time(..)`). The embedded chain executes and mines a transaction as it is
//!   sent, so the harness runs its calls to completion in place: every method here is synchronous, inside a Tokio
//!   runtime or not.
//!
//! # Moving the net
//!
//! Two ways, which a test may mix:
//! - **Message rounds**, with the clock standing still: [`VirtualNet::step`] / [`VirtualNet::step_selective`]
//!   deliver one round of messages (losing those the caller picks), [`VirtualNet::pump`] delivers until the net is
//!   quiet, firing the timers that fall due within [`PUMP_HORIZON_MS`] as it goes, and [`VirtualNet::flush`]
//!   delivers until quiet without any timer.
//! - **Ticks** on the local clock: [`VirtualNet::tick`] delivers the messages due, fires the due timers, runs
//!   every member's chain duties and moves the clock by [`TICK_MS`]; [`VirtualNet::run`] and
//!   [`VirtualNet::run_until`] repeat it.
//!
//! Every message goes through the same wire: members [taken offline](VirtualNet::set_offline) neither send nor
//! receive, a [drop hook](VirtualNet::set_drop) loses the messages it picks by sender, receiver and content, and
//! the random [`Faults`] (seeded) lose, duplicate and delay the rest. Events and (on the synthetic chain)
//! transactions are collected from every online member at the start of each round; on the embedded chain the
//! transactions are left to the members' chain duties, which only ticks run.
//!
//! # Byzantine members
//!
//! A byzantine member is a real node the test tampers with: [`VirtualNet::set_guard`] replaces the guard that
//! decides on its ledgers' leaf operations (e.g. [`AnyLeaf`]), [`VirtualNet::inject`] hands any member a message as
//! if another sent it (forged with [`VirtualNet::sign`]), [`VirtualNet::keep_inbox`] keeps every message a member is
//! given, and [`VirtualNetBuilder::keep_ledger_history`] every ledger state signed by both it ever held. A net built
//! with [`VirtualNetBuilder::check_one_final`] checks S4 after every round: no two members hold two different finals
//! of a virtual channel signed by the whole path.
//!
//! ```
//! use alloy::primitives::U256;
//! use ferry_simulations::virtual_net::{ETH, VirtualNet};
//! use ferry_virtual::protocol::VirtualPhase;
//!
//! // A–I–B on the synthetic chain, 100 per side in each ledger.
//! let mut net = VirtualNet::builder(3).build();
//! let v = net.open_payment(50, 20);
//! net.pump();
//! assert!(net.all_in(v, VirtualPhase::Open));
//! net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
//! let now = net.now();
//! net.node_mut(0).settle(v, now).unwrap();
//! net.pump();
//! assert!(net.all_in(v, VirtualPhase::Released));
//! assert_eq!(net.balance(2, 1), U256::from(110));
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use ferry_adjudicator::{AdjudicatorClient, Chain, ChannelStatus, DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_ledger::contracts::Artifact;
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Event};
use ferry_ledger::protocol::{
    Config, GuardRefusal, LedgerNode, OpenPolicy, Phase, SubChannelGuard,
};
use ferry_ledger::store::MemoryStore;
use ferry_ledger::{
    ChainContext, ChannelParams, Signature, SignedState, Signer, State, SubAlloc, SubTree,
};
use ferry_virtual::protocol::{
    AppKind, AppRules, IntermediaryPolicy, Message, OpenRequest, TurnApp, Tx, VirtualChannel,
    VirtualEvent, VirtualNode, VirtualPhase, VirtualTx,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use crate::ledger_net::Faults;

/// ETH: the one asset of the net's ledgers.
pub const ETH: Address = Address::ZERO;
/// Each side's deposit in each ledger unless the builder says otherwise.
pub const DEFAULT_DEPOSIT: u64 = 100;
/// How far the local clock moves in one [`VirtualNet::tick`] (ms).
pub const TICK_MS: u64 = 100;
/// How far ahead of the local clock [`VirtualNet::pump`] fires timers when the net is quiet (ms): resends and
/// short waits run their course, long timeouts (an open's, a release's retention) wait for the test to move the
/// clock.
pub const PUMP_HORIZON_MS: u64 = 5_000;
/// Rounds after which [`VirtualNet::pump`] and [`VirtualNet::flush`] give up on quiet (and panic).
pub const MAX_PUMP_ROUNDS: usize = 500;
/// Most messages [`VirtualNet::keep_inbox`] keeps per member.
pub const INBOX_CAP: usize = 4_000;
/// Challenge duration of the ledgers and, by default, of the virtual channels (s).
pub const CHALLENGE_DURATION: u64 = 3_600;
/// Chain id states are signed for on the synthetic chain.
pub const SYNTHETIC_CHAIN_ID: u64 = 31_337;
/// The adjudicator's address on the synthetic chain.
pub const SYNTHETIC_ADJUDICATOR: Address = Address::repeat_byte(0xad);
/// The payment app's address on the synthetic chain.
pub const SYNTHETIC_PAYMENT_APP: Address = Address::repeat_byte(0xaa);
/// The rock-paper-scissors game's address on the synthetic chain.
pub const SYNTHETIC_GAME_APP: Address = Address::repeat_byte(0xbb);

/// The chain under the net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChainKind {
    /// No chain: the ledgers are funded by synthetic `Deposited` events, transactions are only logged.
    #[default]
    Synthetic,
    /// The [`EmbeddedChain`], whose events count for the nodes after `confirmations` blocks.
    Embedded {
        /// Blocks that make an event count (1: the head's events count at once).
        confirmations: u64,
    },
}

/// Which member of each pair of neighbours opens (leads) the ledger between them. The leader proposes the
/// ledger's updates; the other asks it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Leaders {
    /// Ledger `k` is opened by member `k` when `k` is even, by member `k + 1` when odd: the member on A's side is
    /// sometimes participant 1 of its ledger.
    #[default]
    Alternating,
    /// Every ledger is opened by the member on A's side (A leads A–I, I leads I–B).
    TowardA,
    /// A and B open their own ledgers; a ledger between two intermediaries is opened by the one on A's side (so
    /// B's ledger lists B first: V's path and the ledger disagree on the order).
    Endpoints,
}

impl Leaders {
    /// The member that opens ledger `k` of a path of `n` members.
    pub fn leader(self, k: usize, n: usize) -> usize {
        match self {
            Leaders::Alternating if k % 2 == 1 => k + 1,
            Leaders::Endpoints if k + 2 == n => k + 1,
            _ => k,
        }
    }
}

/// The app of a virtual channel to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum App {
    /// The payment app (vouchers).
    #[default]
    Payment,
    /// The rock-paper-scissors game (moves both endpoints sign).
    Game,
    /// The `i`-th app builder's app declared with [`VirtualNetBuilder::custom_app`].
    Custom(usize),
    /// Any address (the members know it only if the test declared it with `set_app`).
    At(Address),
}

/// An app builder's own turn-based app run by the net ([`VirtualNetBuilder::custom_app`]): its Rust rules, and its
/// contract's creation bytecode, deployed on the embedded chain (on the synthetic chain the app gets a made-up
/// address and the bytecode is not used).
#[derive(Debug, Clone)]
pub struct CustomApp {
    /// The rules every member checks moves by.
    pub rules: Arc<dyn TurnApp>,
    /// The contract's creation bytecode (its `validTransition` is what `progress` runs on-chain).
    pub bytecode: Bytes,
}

/// The address of the `i`-th custom app on the synthetic chain: `keccak256("ferry synthetic app {i}")`'s last 20
/// bytes.
pub fn synthetic_app_address(i: usize) -> Address {
    Address::from_word(keccak256(format!("ferry synthetic app {i}")))
}

/// The apps every member knows: the bundled ones' addresses and the custom ones' with their rules.
#[derive(Debug, Clone)]
struct Apps {
    payment: Address,
    game: Address,
    custom: Vec<(Address, Arc<dyn TurnApp>)>,
}

/// A virtual channel to open with [`VirtualNet::open`]: over which members, with which app, balances and fees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenV {
    /// The first and last endpoints (A, B); `None`: the whole path, member 0 to the last. When the first is
    /// further along the path than the last, V runs the other way (over the same ledgers, reversed).
    pub ends: Option<(usize, usize)>,
    /// V's app.
    pub app: App,
    /// A's and B's balances, per asset.
    pub balances: Vec<(Address, [U256; 2])>,
    /// Each path member's routing fee (endpoints 0); `None`: what each intermediary quotes for V's total.
    pub fees: Option<Vec<U256>>,
    /// V's challenge duration (s).
    pub challenge_duration: u64,
}

impl OpenV {
    /// A payment channel over the whole path, A putting in `a` and B `b` (ETH), at the quoted fees.
    pub fn payment(a: u64, b: u64) -> Self {
        Self {
            ends: None,
            app: App::Payment,
            balances: vec![(ETH, [U256::from(a), U256::from(b)])],
            fees: None,
            challenge_duration: CHALLENGE_DURATION,
        }
    }

    /// A game channel over the whole path, each player staking its balance (ETH).
    pub fn game(a: u64, b: u64) -> Self {
        Self {
            app: App::Game,
            ..Self::payment(a, b)
        }
    }

    /// Opened by member `first` towards member `last` instead of over the whole path.
    pub fn between(mut self, first: usize, last: usize) -> Self {
        self.ends = Some((first, last));
        self
    }

    /// With these fees, one per path member (endpoints 0).
    pub fn fees(mut self, fees: Vec<U256>) -> Self {
        self.fees = Some(fees);
        self
    }

    /// With this app.
    pub fn app(mut self, app: App) -> Self {
        self.app = app;
        self
    }
}

/// Picks the messages the wire loses: `(from, to, message)` → lost.
pub type DropHook = Box<dyn FnMut(usize, usize, &Message) -> bool + Send>;

/// What one [`VirtualNet::pump`] or [`VirtualNet::flush`] moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Messages handed to a member.
    pub messages: usize,
    /// Of those, the ones the member refused (see [`VirtualNet::refused`] for why).
    pub refused: usize,
}

/// A sub-channel guard that takes every leaf operation: a byzantine member whose node signs any leaf its hub
/// proposes and lets its operator propose any (installed with [`VirtualNet::set_guard`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyLeaf;

impl SubChannelGuard for AnyLeaf {
    fn check_add(
        &self,
        _: &ChannelParams,
        _: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal> {
        Ok(())
    }

    fn check_remove(
        &self,
        _: &ChannelParams,
        _: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal> {
        Ok(())
    }
}

/// A `ChallengeRegistered` event for `channel_id`, registering `state` with `sigs`, finalizing at `finalizes_at`
/// (chain seconds): what the watcher hands a node when a challenge lands.
pub fn challenge_registered(
    channel_id: B256,
    finalizes_at: u64,
    state: &State,
    sigs: &[Signature],
) -> Event {
    Event::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: channel_id,
        finalizesAt: U48::saturating_from(finalizes_at),
        state: state.clone(),
        sigs: sigs.to_vec(),
    })
}

/// A `Concluded` event: `channel_id` concluded with its final at `version`.
pub fn concluded(channel_id: B256, version: u64) -> Event {
    Event::Concluded(IAdjudicator::Concluded {
        channelId: channel_id,
        version: U48::saturating_from(version),
    })
}

mod builder;
pub use builder::VirtualNetBuilder;
mod chain;
mod channels;
mod members;
mod record;
mod wire;

/// One path member.
struct Member {
    key: Signer,
    node: VirtualNode<MemoryStore>,
    offline: bool,
    events: Vec<VirtualEvent>,
    /// Runtime settings, declared again after a restart.
    policy: Option<IntermediaryPolicy>,
    retention: Option<u64>,
    /// Every message delivered to it (sender, message), when kept.
    inbox: Option<Vec<(usize, Message)>>,
}

impl Member {
    fn set_policy(&mut self, policy: IntermediaryPolicy) {
        self.node.set_policy(policy.clone());
        self.policy = Some(policy);
    }
}

enum ChainSide {
    Synthetic {
        /// Position (block) of the last synthetic event fed.
        position: u64,
    },
    Embedded {
        chain: Arc<EmbeddedChain>,
        client: AdjudicatorClient,
    },
}

impl ChainSide {
    fn is_embedded(&self) -> bool {
        matches!(self, ChainSide::Embedded { .. })
    }
}

/// A message on the wire.
struct InFlight {
    /// When it is due (local ms).
    at: u64,
    from: usize,
    to: usize,
    msg: Message,
}

/// The one place a member's node is opened on a store (a fresh one, or the one it left when it crashed); the apps
/// are declared on it (runtime settings).
fn start_node(
    key: &Signer,
    ctx: ChainContext,
    config: Config,
    store: MemoryStore,
    now: u64,
    apps: &Apps,
) -> VirtualNode<MemoryStore> {
    let ledger = LedgerNode::open_store(key.clone(), ctx, config, store, now)
        .expect("the ledger node opens on its store");
    let mut node = VirtualNode::open_store(ledger, now).expect("the node opens on its store");
    node.set_app(apps.payment, AppKind::Payment);
    node.set_app(apps.game, AppKind::Game);
    for (address, rules) in &apps.custom {
        node.set_app(*address, AppRules::Turns(rules.clone()));
    }
    node
}

/// Runs a future of the embedded chain to completion: the chain executes and mines in place, so its futures are
/// ready when first polled (also [`crate::app_check`]'s).
pub(crate) fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the embedded chain did not answer at once (is automine off?)"),
    }
}

/// A path of virtual-channel nodes with a funded ledger between each pair of neighbours; see the
/// [module documentation](self).
pub struct VirtualNet {
    members: Vec<Member>,
    chain: ChainSide,
    ctx: ChainContext,
    /// The apps every member knows.
    apps: Apps,
    config: Config,
    hops: Vec<B256>,
    now: u64,
    rng: StdRng,
    faults: Faults,
    drop: Option<DropHook>,
    wire: Vec<InFlight>,
    tx_log: Vec<(usize, Tx)>,
    refused: Vec<String>,
    landed: Vec<(usize, &'static str)>,
    failed: Vec<(usize, String)>,
    /// Per (member, ledger), every state signed by both it held, by version.
    history: Option<BTreeMap<(usize, B256), BTreeMap<u64, SignedState>>>,
    /// S4 checked after every round (`Some`), and the first breach seen.
    finals: Option<Option<String>>,
    initial_holdings: (Vec<U256>, U256),
}

impl std::fmt::Debug for VirtualNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualNet")
            .field("members", &self.members.len())
            .field("embedded", &self.chain.is_embedded())
            .field("hops", &self.hops)
            .field("now", &self.now)
            .field("in_flight", &self.wire.len())
            .finish_non_exhaustive()
    }
}
