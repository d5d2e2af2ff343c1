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

/// A change to the ledger settings ([`VirtualNetBuilder::ledger_config`]).
type ConfigChange = Box<dyn Fn(&mut Config)>;

/// Options of a [`VirtualNet`]; [`VirtualNetBuilder::build`] makes it.
pub struct VirtualNetBuilder {
    members: usize,
    deposit: U256,
    chain: ChainKind,
    leaders: Leaders,
    ledger_config: Vec<ConfigChange>,
    policy: Option<IntermediaryPolicy>,
    seed: u64,
    keep_ledger_history: bool,
    check_one_final: bool,
    custom_apps: Vec<CustomApp>,
}

impl std::fmt::Debug for VirtualNetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualNetBuilder")
            .field("members", &self.members)
            .field("deposit", &self.deposit)
            .field("chain", &self.chain)
            .field("leaders", &self.leaders)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl VirtualNetBuilder {
    /// Each side's deposit in each ledger (ETH; default [`DEFAULT_DEPOSIT`]). The members accept ledgers up to it.
    pub fn deposit(mut self, amount: U256) -> Self {
        self.deposit = amount;
        self
    }

    /// The chain (default [`ChainKind::Synthetic`]).
    pub fn chain(mut self, chain: ChainKind) -> Self {
        self.chain = chain;
        self
    }

    /// On the [`EmbeddedChain`], events counting after `confirmations` blocks.
    pub fn embedded(self, confirmations: u64) -> Self {
        self.chain(ChainKind::Embedded { confirmations })
    }

    /// Who opens each ledger (default [`Leaders::Alternating`]).
    pub fn leaders(mut self, leaders: Leaders) -> Self {
        self.leaders = leaders;
        self
    }

    /// Changes the ledger settings every member runs with, after the harness's own: each member accepts a ledger
    /// up to the deposit, and on the embedded chain gives a silent peer up after 5 s (`peer_timeout_ms`) and sends
    /// its closing transactions after 1 s (`grace_ms`), so that on-chain fallbacks start within a few hundred
    /// ticks. Several calls apply in order.
    pub fn ledger_config(mut self, change: impl Fn(&mut Config) + 'static) -> Self {
        self.ledger_config.push(Box::new(change));
        self
    }

    /// The policy every intermediary routes by (default: [`IntermediaryPolicy::default`], no fee).
    pub fn intermediary_policy(mut self, policy: IntermediaryPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The seed of the members' keys on the synthetic chain and of the wire's faults (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Keeps, after every round, each ledger state signed by both that each member holds
    /// ([`VirtualNet::signed_states`]: a byzantine member's ammunition).
    pub fn keep_ledger_history(mut self) -> Self {
        self.keep_ledger_history = true;
        self
    }

    /// Checks S4 after every round: two members holding two different finals of a virtual channel, each signed by
    /// the whole path, is recorded ([`VirtualNet::conflicting_finals`]).
    pub fn check_one_final(mut self) -> Self {
        self.check_one_final = true;
        self
    }

    /// Adds an app builder's own turn-based app: every member declares `rules` for it (again after each restart),
    /// and on the embedded chain `bytecode` is deployed, so that moves played on-chain run its contract. Open a
    /// channel with it as [`App::Custom`]`(i)`, `i` counting the calls from 0; [`VirtualNet::custom_app`] gives
    /// its address.
    pub fn custom_app(mut self, rules: impl TurnApp + 'static, bytecode: Bytes) -> Self {
        self.custom_apps.push(CustomApp {
            rules: Arc::new(rules),
            bytecode,
        });
        self
    }

    /// Builds the net: the members' nodes, then each ledger opened by its leader and funded by both sides.
    ///
    /// # Panics
    ///
    /// With fewer than 2 members, or when a ledger does not get funded (a harness or protocol bug).
    pub fn build(self) -> VirtualNet {
        assert!(self.members >= 2, "a path has at least two members");
        let n = self.members;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let (chain, keys, ctx, apps) = match self.chain {
            ChainKind::Synthetic => {
                let keys: Vec<Signer> = (0..n)
                    .map(|_| {
                        loop {
                            let secret = B256::from(rng.random::<[u8; 32]>());
                            if let Ok(key) = Signer::from_bytes(&secret) {
                                break key;
                            }
                        }
                    })
                    .collect();
                let ctx = ChainContext {
                    chain_id: SYNTHETIC_CHAIN_ID,
                    adjudicator: SYNTHETIC_ADJUDICATOR,
                };
                let apps = Apps {
                    payment: SYNTHETIC_PAYMENT_APP,
                    game: SYNTHETIC_GAME_APP,
                    custom: self
                        .custom_apps
                        .iter()
                        .enumerate()
                        .map(|(i, app)| (synthetic_app_address(i), app.rules.clone()))
                        .collect(),
                };
                (ChainSide::Synthetic { position: 0 }, keys, ctx, apps)
            }
            ChainKind::Embedded { confirmations } => {
                let chain = Arc::new(
                    EmbeddedChain::builder()
                        .chain_id(DEFAULT_CHAIN_ID)
                        .accounts(n + 1)
                        .confirmations(confirmations)
                        .build()
                        .expect("the embedded chain starts"),
                );
                let keys: Vec<Signer> = (0..n)
                    .map(|i| {
                        Signer::from_bytes(&EmbeddedChain::account_key(i + 1))
                            .expect("an account key")
                    })
                    .collect();
                let ctx = ChainContext {
                    chain_id: chain.chain_id(),
                    adjudicator: chain.adjudicator(),
                };
                let deployed = |a| chain.deployed(a).expect("a bundled app is deployed");
                // Account 0 is no member's: it deploys the custom apps.
                let deployer = chain.accounts()[0];
                let custom = self
                    .custom_apps
                    .iter()
                    .map(|app| {
                        let receipt = ready(chain.deploy(deployer, app.bytecode.clone()))
                            .unwrap_or_else(|e| panic!("deploying a custom app: {e}"));
                        let address = receipt
                            .contract_address
                            .expect("a deployment's receipt names the contract");
                        (address, app.rules.clone())
                    })
                    .collect();
                let apps = Apps {
                    payment: deployed(Artifact::PaymentApp),
                    game: deployed(Artifact::RockPaperScissors),
                    custom,
                };
                let client = AdjudicatorClient::new(chain.clone());
                (ChainSide::Embedded { chain, client }, keys, ctx, apps)
            }
        };
        let mut config = Config {
            open: OpenPolicy {
                accept: true,
                max_own_deposit: self.deposit,
                ..OpenPolicy::default()
            },
            ..Config::default()
        };
        if chain.is_embedded() {
            config.peer_timeout_ms = 5_000;
            config.grace_ms = 1_000;
        }
        for change in &self.ledger_config {
            change(&mut config);
        }
        let members = keys
            .into_iter()
            .enumerate()
            .map(|(k, key)| {
                let policy = (k > 0 && k + 1 < n).then(|| self.policy.clone()).flatten();
                let mut member = Member {
                    node: start_node(&key, ctx, config.clone(), MemoryStore::new(), 0, &apps),
                    key,
                    offline: false,
                    events: Vec::new(),
                    policy: None,
                    retention: None,
                    inbox: None,
                };
                if let Some(p) = policy {
                    member.set_policy(p);
                }
                member
            })
            .collect();
        let mut net = VirtualNet {
            members,
            chain,
            ctx,
            apps,
            config,
            hops: Vec::new(),
            now: 0,
            rng,
            faults: Faults::default(),
            drop: None,
            wire: Vec::new(),
            tx_log: Vec::new(),
            refused: Vec::new(),
            landed: Vec::new(),
            failed: Vec::new(),
            history: self.keep_ledger_history.then(BTreeMap::new),
            finals: self.check_one_final.then_some(None),
            initial_holdings: (vec![U256::ZERO; n], U256::ZERO),
        };
        if net.chain.is_embedded() {
            net.initial_holdings = net.holdings();
            net.fund_on_chain(self.leaders, self.deposit);
        } else {
            net.fund_synthetic(self.leaders, self.deposit);
        }
        net.tx_log.clear();
        net
    }
}

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
/// ready when first polled.
fn ready<F: Future>(fut: F) -> F::Output {
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

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- building

    /// Options for a net of `members` members (at least 2): 100 per side in each ledger, the synthetic chain,
    /// alternating ledger leaders, seed 0.
    pub fn builder(members: usize) -> VirtualNetBuilder {
        VirtualNetBuilder {
            members,
            deposit: U256::from(DEFAULT_DEPOSIT),
            chain: ChainKind::Synthetic,
            leaders: Leaders::Alternating,
            ledger_config: Vec::new(),
            policy: None,
            seed: 0,
            keep_ledger_history: false,
            check_one_final: false,
            custom_apps: Vec::new(),
        }
    }

    /// A path of `members` members on the synthetic chain with the default options (see
    /// [`VirtualNet::builder`]).
    pub fn path(members: usize) -> Self {
        Self::builder(members).build()
    }

    /// The ledger amounts: `deposit` per side.
    fn amounts(deposit: U256) -> [(Address, [U256; 2]); 1] {
        [(ETH, [deposit, deposit])]
    }

    /// Ledger `k`'s leader opens it with its neighbour, `deposit` per side: the ledger's id, its opener and its peer.
    fn open_ledger(&mut self, k: usize, leaders: Leaders, deposit: U256) -> (B256, usize, usize) {
        let opener = leaders.leader(k, self.members());
        let peer = if opener == k { k + 1 } else { k };
        let (peer_addr, now) = (self.addr(peer), self.now);
        let id = self.members[opener]
            .node
            .ledger_mut()
            .open(peer_addr, &Self::amounts(deposit), CHALLENGE_DURATION, now)
            .expect("the leader opens its ledger");
        (id, opener, peer)
    }

    /// Opens each ledger in turn and funds it with synthetic deposit events, delivering the messages as they go
    /// (no timer: the clock stands still).
    fn fund_synthetic(&mut self, leaders: Leaders, deposit: U256) {
        let n = self.members();
        for k in 0..n - 1 {
            let (id, opener, peer) = self.open_ledger(k, leaders, deposit);
            self.flush();
            let mut total = U256::ZERO;
            for p in 0..2u8 {
                total += deposit;
                let ev = Event::Deposited(IAdjudicator::Deposited {
                    channelId: id,
                    asset: ETH,
                    participant: U256::from(p),
                    taken: deposit,
                    depositedTotal: total,
                });
                self.feed([opener, peer], &ev);
                self.flush();
            }
            for m in [k, k + 1] {
                assert_eq!(
                    self.members[m]
                        .node
                        .ledger()
                        .channel(&id)
                        .map(|c| c.phase()),
                    Some(Phase::Running),
                    "ledger {k} is funded at member {m}: refused {:?}",
                    self.refused
                );
            }
            self.hops.push(id);
        }
    }

    /// Opens every ledger and ticks until the chain funded them all.
    fn fund_on_chain(&mut self, leaders: Leaders, deposit: U256) {
        let n = self.members();
        for k in 0..n - 1 {
            let (id, _, _) = self.open_ledger(k, leaders, deposit);
            self.hops.push(id);
        }
        let funded = self.run_until(300, |net| {
            (0..n - 1).all(|k| {
                net.ledger_phase(k, k) == Some(Phase::Running)
                    && net.ledger_phase(k + 1, k) == Some(Phase::Running)
            })
        });
        assert!(funded, "ledgers not funded: {:?}", self.failed);
    }

    // ------------------------------------------------------------------------------------------- members

    /// How many members the path has.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Member `k`'s address (its channel key; on the embedded chain also its funded account).
    pub fn addr(&self, k: usize) -> Address {
        self.members[k].key.address()
    }

    /// Every member's address, A first.
    pub fn addresses(&self) -> Vec<Address> {
        self.members.iter().map(|m| m.key.address()).collect()
    }

    /// The member with address `a`.
    ///
    /// # Panics
    ///
    /// When no member has it.
    pub fn index(&self, a: Address) -> usize {
        self.members
            .iter()
            .position(|m| m.key.address() == a)
            .unwrap_or_else(|| panic!("{a} is no path member"))
    }

    /// Member `k`'s key.
    pub fn signer(&self, k: usize) -> &Signer {
        &self.members[k].key
    }

    /// `state` signed by member `k` (for the net's chain).
    pub fn sign(&self, k: usize, state: &State) -> Signature {
        self.members[k].key.sign_state(&self.ctx, state)
    }

    /// Member `k`'s node.
    pub fn node(&self, k: usize) -> &VirtualNode<MemoryStore> {
        &self.members[k].node
    }

    /// Member `k`'s node, for commands (pay, settle, challenge, its ledger's commands, …) and raw inputs.
    pub fn node_mut(&mut self, k: usize) -> &mut VirtualNode<MemoryStore> {
        &mut self.members[k].node
    }

    /// Two members' nodes at once (`a != b`).
    pub fn pair_mut(
        &mut self,
        a: usize,
        b: usize,
    ) -> (&mut VirtualNode<MemoryStore>, &mut VirtualNode<MemoryStore>) {
        assert_ne!(a, b, "two different members");
        if a < b {
            let (left, right) = self.members.split_at_mut(b);
            (&mut left[a].node, &mut right[0].node)
        } else {
            let (left, right) = self.members.split_at_mut(a);
            (&mut right[0].node, &mut left[b].node)
        }
    }

    /// The ledgers of the path: `hops()[k]` between members `k` and `k + 1`.
    pub fn hops(&self) -> &[B256] {
        &self.hops
    }

    /// Ledger `k`'s id (between members `k` and `k + 1`).
    pub fn hop(&self, k: usize) -> B256 {
        self.hops[k]
    }

    /// The ledgers member `k` is in, by index: towards A, then towards B.
    pub fn ledgers_of(&self, k: usize) -> Vec<usize> {
        let mut out = Vec::new();
        if k > 0 {
            out.push(k - 1);
        }
        if k + 1 < self.members() {
            out.push(k);
        }
        out
    }

    /// The chain context states are signed for.
    pub fn ctx(&self) -> ChainContext {
        self.ctx
    }

    /// The payment app's address.
    pub fn payment_app(&self) -> Address {
        self.apps.payment
    }

    /// The rock-paper-scissors game's address.
    pub fn game_app(&self) -> Address {
        self.apps.game
    }

    /// The address of the `i`-th custom app ([`VirtualNetBuilder::custom_app`]).
    ///
    /// # Panics
    ///
    /// When fewer than `i + 1` custom apps were declared.
    pub fn custom_app(&self, i: usize) -> Address {
        self.apps.custom[i].0
    }

    /// The ledger settings every member runs with.
    pub fn ledger_config(&self) -> &Config {
        &self.config
    }

    /// Sets member `k`'s routing policy (kept across restarts).
    pub fn set_policy(&mut self, k: usize, policy: IntermediaryPolicy) {
        self.members[k].set_policy(policy);
    }

    /// Sets how long member `k` keeps a released virtual channel (kept across restarts).
    pub fn set_release_retention(&mut self, k: usize, ms: u64) {
        self.members[k].node.set_release_retention(ms);
        self.members[k].retention = Some(ms);
    }

    /// Replaces the guard that decides on member `k`'s leaf operations in its ledgers (a byzantine member: e.g.
    /// [`AnyLeaf`]). A restart puts the node's own guard back.
    pub fn set_guard(&mut self, k: usize, guard: Box<dyn SubChannelGuard + Send>) {
        self.members[k].node.ledger_mut().set_guard(guard);
    }

    /// Crashes member `k` (whatever it had not sent is lost) and restarts it from its store, with its apps,
    /// policy and retention declared again.
    pub fn crash_restart(&mut self, k: usize) {
        let config = self.members[k].node.ledger().config().clone();
        let placeholder = start_node(
            &self.members[k].key,
            self.ctx,
            config.clone(),
            MemoryStore::new(),
            0,
            &self.apps,
        );
        let store = std::mem::replace(&mut self.members[k].node, placeholder).into_store();
        let member = &mut self.members[k];
        member.node = start_node(&member.key, self.ctx, config, store, self.now, &self.apps);
        if let Some(p) = member.policy.clone() {
            member.node.set_policy(p);
        }
        if let Some(ms) = member.retention {
            member.node.set_release_retention(ms);
        }
    }

    /// Takes member `k` offline (`true`: it neither sends nor receives, fires no timer and does no chain duty; it
    /// keeps everything it holds) or back online.
    pub fn set_offline(&mut self, k: usize, offline: bool) {
        self.members[k].offline = offline;
    }

    /// Whether member `k` is offline.
    pub fn is_offline(&self, k: usize) -> bool {
        self.members[k].offline
    }

    /// Keeps every message delivered to member `k` from now on ([`VirtualNet::inbox`], at most [`INBOX_CAP`]).
    pub fn keep_inbox(&mut self, k: usize) {
        self.members[k].inbox.get_or_insert_with(Vec::new);
    }

    /// The messages delivered to member `k` since [`VirtualNet::keep_inbox`]: (sender, message).
    pub fn inbox(&self, k: usize) -> &[(usize, Message)] {
        self.members[k].inbox.as_deref().unwrap_or_default()
    }

    // ------------------------------------------------------------------------------------------- virtual channels

    /// Opens a virtual channel from its first endpoint ([`OpenV`]), at the local clock; nothing is delivered
    /// yet. The one place the harness opens a virtual channel.
    pub fn open(&mut self, req: OpenV) -> ferry_virtual::Result<B256> {
        let members = self.path_members(req.ends);
        let (first, last) = (members[0], members[members.len() - 1]);
        let hops: Vec<B256> = if first <= last {
            self.hops[first..last].to_vec()
        } else {
            self.hops[last..first].iter().rev().copied().collect()
        };
        let app = match req.app {
            App::Payment => self.apps.payment,
            App::Game => self.apps.game,
            App::Custom(i) => self.custom_app(i),
            App::At(a) => a,
        };
        let fees = req.fees.unwrap_or_else(|| {
            let total = req
                .balances
                .first()
                .map_or(U256::ZERO, |(_, [a, b])| *a + *b);
            members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if i == 0 || i + 1 == members.len() {
                        U256::ZERO
                    } else {
                        self.members[*m].node.quote(total)
                    }
                })
                .collect()
        });
        let path = members.iter().map(|m| self.addr(*m)).collect();
        let now = self.now;
        self.members[first].node.open(
            OpenRequest {
                path,
                hops,
                app,
                balances: req.balances,
                fees,
                challenge_duration: req.challenge_duration,
            },
            now,
        )
    }

    /// The members on the path of a virtual channel from `ends` (see [`OpenV::ends`]), first endpoint first.
    pub fn path_members(&self, ends: Option<(usize, usize)>) -> Vec<usize> {
        let (first, last) = ends.unwrap_or((0, self.members() - 1));
        if first <= last {
            (first..=last).collect()
        } else {
            (last..=first).rev().collect()
        }
    }

    /// [`VirtualNet::open`], then [`VirtualNet::pump`]; returns V's id.
    ///
    /// # Panics
    ///
    /// When V is refused, or when it is not open at every member of its path once the net is quiet.
    pub fn open_and_pump(&mut self, req: OpenV) -> B256 {
        let members = self.path_members(req.ends);
        let v = self.open(req).expect("V's first endpoint opens it");
        self.pump();
        for k in members {
            assert_eq!(
                self.v_phase(k, v),
                Some(VirtualPhase::Open),
                "V is open at member {k}: refused {:?}",
                self.refused
            );
        }
        v
    }

    /// [`VirtualNet::open`], then ticks until V is open at every member of its path, at most `ticks` times;
    /// returns V's id.
    ///
    /// # Panics
    ///
    /// When V is refused, or not open everywhere in time.
    pub fn open_and_run(&mut self, req: OpenV, ticks: usize) -> B256 {
        let members = self.path_members(req.ends);
        let v = self.open(req).expect("V's first endpoint opens it");
        let open = self.run_until(ticks, |net| {
            members
                .iter()
                .all(|k| net.v_phase(*k, v) == Some(VirtualPhase::Open))
        });
        assert!(open, "V did not open: {:?}", self.failed);
        v
    }

    /// A pays into a new payment channel over the whole path `a`, B `b` (at the quoted fees); nothing delivered.
    ///
    /// # Panics
    ///
    /// When A's node refuses to open it.
    pub fn open_payment(&mut self, a: u64, b: u64) -> B256 {
        self.open(OpenV::payment(a, b)).expect("A opens V")
    }

    /// Member `k`'s record of virtual channel `v`.
    pub fn channel(&self, k: usize, v: B256) -> Option<&VirtualChannel> {
        self.members[k].node.channel(&v)
    }

    /// Where `v` is at member `k`.
    pub fn v_phase(&self, k: usize, v: B256) -> Option<VirtualPhase> {
        self.channel(k, v).map(|c| c.phase())
    }

    /// Whether every member holds `v` in `phase`.
    pub fn all_in(&self, v: B256, phase: VirtualPhase) -> bool {
        (0..self.members()).all(|k| self.v_phase(k, v) == Some(phase))
    }

    // ------------------------------------------------------------------------------------------- ledgers

    /// Where ledger `hop` is at member `k`.
    pub fn ledger_phase(&self, k: usize, hop: usize) -> Option<Phase> {
        self.members[k]
            .node
            .ledger()
            .channel(&self.hops[hop])
            .map(|c| c.phase())
    }

    /// Member `k`'s ETH balance in ledger `hop` (what is locked in leaves is not counted).
    ///
    /// # Panics
    ///
    /// When `k` is not in that ledger.
    pub fn balance(&self, k: usize, hop: usize) -> U256 {
        self.members[k]
            .node
            .ledger()
            .channel(&self.hops[hop])
            .unwrap_or_else(|| panic!("member {k} is not in ledger {hop}"))
            .balance(&ETH)
    }

    /// Member `k`'s ETH balances summed over the net's ledgers it is in.
    pub fn total(&self, k: usize) -> U256 {
        let node = self.members[k].node.ledger();
        self.hops
            .iter()
            .filter_map(|h| node.channel(h))
            .map(|c| c.balance(&ETH))
            .fold(U256::ZERO, |a, b| a + b)
    }

    /// What ledger `hop` locks in leaves (ETH) in the latest state member `k` holds signed by both.
    pub fn locked(&self, k: usize, hop: usize) -> U256 {
        self.members[k]
            .node
            .ledger()
            .channel(&self.hops[hop])
            .and_then(|c| c.supported())
            .map(|s| s.state.outcome.assets[0].locked)
            .unwrap_or_default()
    }

    /// Member `k`'s leaves in ledger `hop`.
    pub fn table(&self, k: usize, hop: usize) -> Option<&SubTree> {
        self.members[k].node.ledger().table(&self.hops[hop])
    }

    // ------------------------------------------------------------------------------------------- the wire

    /// The random faults of the wire (seeded); [`Faults::default`] heals it.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Loses every message `hook` picks, on top of the random faults, until [`VirtualNet::clear_drop`].
    pub fn set_drop(&mut self, hook: impl FnMut(usize, usize, &Message) -> bool + Send + 'static) {
        self.drop = Some(Box::new(hook));
    }

    /// Removes the drop hook.
    pub fn clear_drop(&mut self) {
        self.drop = None;
    }

    /// Messages on the wire, not yet due.
    pub fn in_flight(&self) -> usize {
        self.wire.len()
    }

    /// Hands `msg` to member `to` as if member `from` sent it (a byzantine member's own message, or a replay),
    /// at the local clock, whether or not either is offline; returns what the node answered.
    pub fn inject(&mut self, from: usize, to: usize, msg: Message) -> ferry_virtual::Result<()> {
        let (sender, now) = (self.addr(from), self.now);
        self.members[to].node.handle_message(sender, msg, now)
    }

    /// Moves every online member's pending events (and, on the synthetic chain, transactions) into the logs;
    /// returns the messages they sent.
    fn collect(&mut self) -> Vec<(usize, usize, Message)> {
        let synthetic = !self.chain.is_embedded();
        let mut out = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            if m.offline {
                continue;
            }
            while let Some((to, msg)) = m.node.poll_transmit() {
                out.push((i, to, msg));
            }
            if synthetic {
                while let Some(tx) = m.node.poll_tx() {
                    self.tx_log.push((i, tx));
                }
            }
            while let Some(e) = m.node.poll_event() {
                m.events.push(e);
            }
        }
        out.into_iter()
            .map(|(from, to, msg)| (from, self.index(to), msg))
            .collect()
    }

    /// Puts `msg` on the wire, through the offline members, the drop hook and the random faults.
    fn send(&mut self, from: usize, to: usize, msg: Message) {
        if self.members[from].offline || self.members[to].offline {
            return;
        }
        if self.drop.as_mut().is_some_and(|lost| lost(from, to, &msg)) {
            return;
        }
        let f = self.faults;
        if f.drop_pct > 0 && self.rng.random_range(0..100u8) < f.drop_pct {
            return;
        }
        let copies = if f.dup_pct > 0 && self.rng.random_range(0..100u8) < f.dup_pct {
            2
        } else {
            1
        };
        let mut delays = [0u64; 2];
        for d in delays.iter_mut().take(copies) {
            if f.max_delay_ms > 0 {
                *d = self.rng.random_range(0..=f.max_delay_ms);
            }
        }
        if copies == 2 {
            self.wire.push(InFlight {
                at: self.now + delays[1],
                from,
                to,
                msg: msg.clone(),
            });
        }
        self.wire.push(InFlight {
            at: self.now + delays[0],
            from,
            to,
            msg,
        });
    }

    /// Delivers every message due at the local clock; returns what it moved.
    fn deliver_due(&mut self) -> Traffic {
        let mut traffic = Traffic::default();
        if self.wire.is_empty() {
            return traffic;
        }
        self.wire.sort_by_key(|w| w.at);
        let due = self.wire.partition_point(|w| w.at <= self.now);
        let now = self.now;
        for w in self.wire.drain(..due) {
            let sender = self.members[w.from].key.address();
            let member = &mut self.members[w.to];
            if let Some(inbox) = member.inbox.as_mut()
                && inbox.len() < INBOX_CAP
            {
                inbox.push((w.from, w.msg.clone()));
            }
            if member.offline {
                continue;
            }
            traffic.messages += 1;
            if let Err(e) = member.node.handle_message(sender, w.msg, now) {
                traffic.refused += 1;
                self.refused.push(format!(
                    "member {} refused a message from member {}: {e}",
                    w.to, w.from
                ));
            }
        }
        traffic
    }

    /// One round of messages with the clock standing still: what every online member sends goes on the wire,
    /// except what `lost` picks by sender and receiver, and what is due is delivered. No timer fires.
    pub fn step(&mut self, lost: impl Fn(usize, usize) -> bool) {
        self.step_selective(|from, to, _| lost(from, to));
    }

    /// [`VirtualNet::step`], `lost` picking by sender, receiver and message.
    pub fn step_selective(&mut self, mut lost: impl FnMut(usize, usize, &Message) -> bool) {
        for (from, to, msg) in self.collect() {
            if !lost(from, to, &msg) {
                self.send(from, to, msg);
            }
        }
        self.deliver_due();
        self.audit();
    }

    /// Delivers messages until the net is quiet, firing timers as it goes: when nothing is left to deliver, the
    /// clock moves to the next timer or delayed message due within [`PUMP_HORIZON_MS`] (every online member's
    /// timers are handled then); beyond that, the pump stops.
    ///
    /// A ledger config whose resends stay within the horizon (`max_resend_ms` under [`PUMP_HORIZON_MS`]) may keep
    /// the net from ever being quiet: tick such a net instead.
    ///
    /// # Panics
    ///
    /// When the net is not quiet after [`MAX_PUMP_ROUNDS`] rounds, or a node fails on a timer.
    pub fn pump(&mut self) -> Traffic {
        self.pump_inner(true)
    }

    /// Delivers messages until no member has anything to send, without firing timers or moving the clock.
    ///
    /// # Panics
    ///
    /// When the net is not quiet after [`MAX_PUMP_ROUNDS`] rounds.
    pub fn flush(&mut self) -> Traffic {
        self.pump_inner(false)
    }

    fn pump_inner(&mut self, timers: bool) -> Traffic {
        let mut total = Traffic::default();
        for _ in 0..MAX_PUMP_ROUNDS {
            let out = self.collect();
            let sent = !out.is_empty();
            for (from, to, msg) in out {
                self.send(from, to, msg);
            }
            let moved = self.deliver_due();
            total.messages += moved.messages;
            total.refused += moved.refused;
            self.audit();
            if sent || moved.messages > 0 {
                continue;
            }
            let next_message = self.wire.iter().map(|w| w.at).min();
            let next_timer = if timers {
                self.members
                    .iter()
                    .filter(|m| !m.offline)
                    .filter_map(|m| m.node.poll_timeout())
                    .min()
            } else {
                None
            };
            match next_message.into_iter().chain(next_timer).min() {
                Some(t) if t <= self.now + PUMP_HORIZON_MS => {
                    self.now = self.now.max(t);
                    if next_timer.is_some_and(|t| t <= self.now) {
                        self.fire_timers();
                    }
                }
                _ => return total,
            }
        }
        panic!("no quiescence after {MAX_PUMP_ROUNDS} rounds");
    }

    /// Hands every online member the local clock as a timeout (what is due fires).
    ///
    /// # Panics
    ///
    /// When a node fails on it (its store).
    pub fn fire_timers(&mut self) {
        let now = self.now;
        for m in self.members.iter_mut().filter(|m| !m.offline) {
            m.node
                .handle_timeout(now)
                .expect("a node handles its timers");
        }
    }

    /// One tick of [`TICK_MS`]: see [`VirtualNet::tick_by`].
    pub fn tick(&mut self) {
        self.tick_by(TICK_MS);
    }

    /// One tick: what every online member sends goes on the wire, what is due is delivered, each online member's
    /// due timers fire and it does its chain duties (on the embedded chain: its transactions submitted and the
    /// chain's confirmed events read, a block mined when events need more than one confirmation); then the local
    /// clock moves by `dt` ms.
    ///
    /// # Panics
    ///
    /// When a node fails on a timer or the chain cannot be read (a harness or store failure; a transaction that
    /// fails is recorded in [`VirtualNet::failed`]).
    pub fn tick_by(&mut self, dt: u64) {
        for (from, to, msg) in self.collect() {
            self.send(from, to, msg);
        }
        self.deliver_due();
        let now = self.now;
        for m in self.members.iter_mut().filter(|m| !m.offline) {
            if m.node.poll_timeout().is_some_and(|t| t <= now) {
                m.node
                    .handle_timeout(now)
                    .expect("a node handles its timers");
            }
        }
        if let ChainSide::Embedded { chain, .. } = &self.chain {
            let chain = chain.clone();
            for k in 0..self.members() {
                if !self.members[k].offline {
                    self.drive(k);
                }
            }
            if chain.confirmations() > 1 {
                chain.mine();
            }
        }
        self.audit();
        self.now += dt;
    }

    /// `steps` ticks.
    pub fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.tick();
        }
    }

    /// Ticks until `done` holds, at most `steps` times; returns whether it holds.
    pub fn run_until(&mut self, steps: usize, done: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..steps {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }

    /// The local clock (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Sets the local clock (ms); nothing fires until the net is moved.
    pub fn set_now(&mut self, ms: u64) {
        self.now = ms;
    }

    // ------------------------------------------------------------------------------------------- the chain

    /// Whether the net runs on the embedded chain.
    pub fn is_embedded(&self) -> bool {
        self.chain.is_embedded()
    }

    /// The embedded chain.
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn chain(&self) -> &Arc<EmbeddedChain> {
        match &self.chain {
            ChainSide::Embedded { chain, .. } => chain,
            ChainSide::Synthetic { .. } => panic!("the net runs on the synthetic chain"),
        }
    }

    /// Moves the embedded chain's clock `secs` seconds on (a block is mined at the new time); nothing is read back
    /// until the next tick.
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn advance_chain_time(&self, secs: u64) {
        ready(self.chain().advance_time(secs))
            .unwrap_or_else(|e| panic!("the embedded chain moves its clock: {e}"));
    }

    /// What the adjudicator on the embedded chain holds for channel `id` (registered version, deadline, moves).
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn onchain_status(&self, id: B256) -> ChannelStatus {
        ready(self.chain().status_of(id))
            .unwrap_or_else(|e| panic!("the embedded chain answers a status: {e}"))
    }

    /// A client of the embedded chain (to act on-chain for a byzantine member).
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn client(&self) -> &AdjudicatorClient {
        match &self.chain {
            ChainSide::Embedded { client, .. } => client,
            ChainSide::Synthetic { .. } => panic!("the net runs on the synthetic chain"),
        }
    }

    /// One round of member `k`'s chain duties on the embedded chain ([`ferry_node::chain::drive`]), whether or not
    /// it is offline; what landed and failed is recorded.
    ///
    /// # Panics
    ///
    /// On the synthetic chain, or when the chain cannot be read.
    pub fn drive(&mut self, k: usize) {
        let ChainSide::Embedded { client, .. } = &self.chain else {
            panic!("the net runs on the synthetic chain");
        };
        let (from, now) = (self.members[k].key.address(), self.now);
        let round = ready(ferry_node::chain::drive(
            client,
            from,
            &mut self.members[k].node,
            now,
        ))
        .expect("a member's chain duties run");
        self.landed
            .extend(round.landed.iter().map(|(name, _)| (k, *name)));
        self.failed.extend(
            round
                .failed
                .iter()
                .map(|(name, e)| (k, format!("{name}: {e}"))),
        );
    }

    /// Hands the `members` a synthetic chain event, at the next chain position (block) and the local clock.
    ///
    /// # Panics
    ///
    /// On the embedded chain, or when a node fails on it (its store).
    pub fn feed(&mut self, members: impl IntoIterator<Item = usize>, event: &Event) {
        let ChainSide::Synthetic { position } = &mut self.chain else {
            panic!("on the embedded chain, events come from the chain");
        };
        *position += 1;
        let position = *position;
        let now = self.now;
        for k in members {
            self.members[k]
                .node
                .handle_chain_event(position, 0, event, now)
                .expect("a node handles a chain event");
        }
    }

    /// The embedded chain's head timestamp (s).
    pub fn chain_time(&self) -> u64 {
        self.chain().head_info().timestamp
    }

    /// What member `k` holds on the embedded chain.
    pub fn balance_of(&self, k: usize) -> U256 {
        ready(self.chain().balance(self.addr(k))).expect("read a balance")
    }

    /// What each member holds on the embedded chain, and the total with the adjudicator's holdings.
    pub fn holdings(&self) -> (Vec<U256>, U256) {
        let chain = self.chain();
        let each: Vec<U256> = (0..self.members()).map(|k| self.balance_of(k)).collect();
        let total = each.iter().fold(U256::ZERO, |x, y| x + *y)
            + ready(chain.balance(chain.adjudicator())).expect("read a balance");
        (each, total)
    }

    /// [`VirtualNet::holdings`] before the ledgers were funded (zeros on the synthetic chain).
    pub fn initial_holdings(&self) -> &(Vec<U256>, U256) {
        &self.initial_holdings
    }

    /// What the adjudicator holds on the embedded chain.
    pub fn adjudicator_balance(&self) -> U256 {
        let chain = self.chain();
        ready(chain.balance(chain.adjudicator())).expect("read a balance")
    }

    /// Transactions that landed on the embedded chain: (member, name).
    pub fn landed(&self) -> &[(usize, &'static str)] {
        &self.landed
    }

    /// Whether a transaction named `name` landed (any member).
    pub fn has_landed(&self, name: &str) -> bool {
        self.landed.iter().any(|(_, n)| *n == name)
    }

    /// How many transactions named `name` landed.
    pub fn landed_count(&self, name: &str) -> usize {
        self.landed.iter().filter(|(_, n)| *n == name).count()
    }

    /// Transactions that failed on the embedded chain: (member, "name: reason").
    pub fn failed(&self) -> &[(usize, String)] {
        &self.failed
    }

    // ------------------------------------------------------------------------------------------- what happened

    /// Every event member `k` emitted since the net was built (its ledgers' funding included), as collected.
    pub fn events(&self, k: usize) -> &[VirtualEvent] {
        &self.members[k].events
    }

    /// Takes member `k`'s events collected so far.
    pub fn take_events(&mut self, k: usize) -> Vec<VirtualEvent> {
        std::mem::take(&mut self.members[k].events)
    }

    /// On the synthetic chain, every transaction a member asked for since the ledgers were funded: (member, tx).
    pub fn tx_log(&self) -> &[(usize, Tx)] {
        &self.tx_log
    }

    /// Empties the transaction log.
    pub fn clear_tx_log(&mut self) {
        self.tx_log.clear();
    }

    /// Takes the transaction log.
    pub fn take_tx_log(&mut self) -> Vec<(usize, Tx)> {
        std::mem::take(&mut self.tx_log)
    }

    /// Why each message a member refused on delivery was refused.
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    /// Empties [`VirtualNet::refused`].
    pub fn clear_refused(&mut self) {
        self.refused.clear();
    }

    /// The challenges of virtual channels member `k` asked for (transaction log): the state it registers, and
    /// whether with a certificate.
    pub fn challenges_by(&self, k: usize) -> Vec<(SignedState, bool)> {
        self.tx_log
            .iter()
            .filter(|(i, _)| *i == k)
            .filter_map(|(_, tx)| match tx {
                Tx::Virtual(VirtualTx::Challenge { state, cert, .. }) => {
                    Some((state.clone(), cert.is_some()))
                }
                _ => None,
            })
            .collect()
    }

    /// The conclusions of virtual channels member `k` asked for (transaction log), by the final's version.
    pub fn conclusions_by(&self, k: usize) -> Vec<u64> {
        self.tx_log
            .iter()
            .filter(|(i, _)| *i == k)
            .filter_map(|(_, tx)| match tx {
                Tx::Virtual(VirtualTx::Conclude { state, .. }) => Some(state.version()),
                _ => None,
            })
            .collect()
    }

    /// Every state of ledger `hop` signed by both that member `k` held at the end of a round, by version (with
    /// [`VirtualNetBuilder::keep_ledger_history`]; empty otherwise).
    pub fn signed_states(&self, k: usize, hop: usize) -> Vec<SignedState> {
        self.history
            .as_ref()
            .and_then(|h| h.get(&(k, self.hops[hop])))
            .map(|h| h.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The first breach of S4 seen (with [`VirtualNetBuilder::check_one_final`]): two members holding two
    /// different finals of one virtual channel, each signed by the whole path.
    pub fn conflicting_finals(&self) -> Option<&str> {
        self.finals.as_ref().and_then(|f| f.as_deref())
    }

    /// After a round: the ledger history and the S4 check, when asked for.
    fn audit(&mut self) {
        if let Some(history) = self.history.as_mut() {
            for (k, m) in self.members.iter().enumerate() {
                if m.offline {
                    continue;
                }
                for l in m.node.ledger().channels() {
                    if let Some(s) = l.supported() {
                        history
                            .entry((k, l.id()))
                            .or_default()
                            .entry(s.version())
                            .or_insert_with(|| s.clone());
                    }
                }
            }
        }
        if let Some(None) = self.finals {
            let mut seen: BTreeMap<B256, (usize, State)> = BTreeMap::new();
            for (i, m) in self.members.iter().enumerate() {
                for ch in m.node.channels() {
                    let Some(f) = ch.final_signed() else {
                        continue;
                    };
                    let id = f.state.channelId;
                    match seen.get(&id) {
                        Some((j, other)) if *other != f.state => {
                            self.finals = Some(Some(format!(
                                "members {j} and {i} hold two different finals of {id} signed by the whole path"
                            )));
                            return;
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(id, (i, f.state));
                        }
                    }
                }
            }
        }
    }
}
