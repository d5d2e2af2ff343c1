//! The node runtime: a tokio task that drives one [`VirtualNode`] (its ledger channels and virtual channels) with
//! its store, its network and its chain, behind a typed, cloneable handle ([`Node`]) and an event stream.
//!
//! The protocol cores are sans-IO; this is the thin driver DESIGN's "Node runtime" asks for. One task owns the
//! core, so every input is handled in order: a command from the API, a message from a peer, a timer, a round of
//! chain duties. After each, what the core produced leaves: messages to the network (which persists them in its
//! outbox first), events to subscribers. Every state change is committed by the core before any of it is released.

mod launch;
pub mod network;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::{AdjudicatorClient, Chain};
use ferry_ledger::Signer;
use ferry_ledger::app::rps::{self, Hand};
use ferry_ledger::contracts::Artifact;
use ferry_ledger::protocol::{Config as LedgerConfig, LedgerNode};
use ferry_ledger::store::{Batch, Store, decode};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::protocol::{
    AppKind, IntermediaryPolicy, OpenRequest, VirtualChannel, VirtualEvent, VirtualNode,
    VirtualPhase, driver,
};
use crate::{Error, Result};
pub use launch::NodeSetup;
pub use network::{Inbound, MemoryLink, MemoryNetwork, Network};

/// Store namespace of the runtime's own records (a game player's hidden hand and salt, kept until revealed).
pub const NS_NODE: &str = "node.game";

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
}

impl NodeConfig {
    /// Defaults for `signer`: the ledger protocol's defaults, no routing fee, chain duties every 200 ms, released
    /// virtual channels kept a day.
    pub fn new(signer: Signer) -> Self {
        Self {
            signer,
            ledger: LedgerConfig::default(),
            policy: IntermediaryPolicy::default(),
            chain_poll: Duration::from_millis(200),
            apps: Vec::new(),
            event_capacity: 65_536,
            release_retention: Duration::from_millis(crate::protocol::RELEASED_RETENTION_MS),
        }
    }
}

/// What a node tells its subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NodeEvent {
    /// A ledger or virtual channel event.
    Channel(VirtualEvent),
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
    /// Transactions that landed.
    pub txs_landed: u64,
    /// Gas of those transactions.
    pub gas_used: u64,
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

type Reply<T> = oneshot::Sender<Result<T>>;

enum Command {
    OpenLedger {
        peer: Address,
        amounts: Vec<(Address, [U256; 2])>,
        challenge_duration: u64,
        reply: Reply<B256>,
    },
    CloseLedger {
        id: B256,
        reply: Reply<()>,
    },
    ChallengeLedger {
        id: B256,
        reply: Reply<()>,
    },
    OpenVirtual {
        req: OpenVirtual,
        reply: Reply<B256>,
    },
    Pay {
        id: B256,
        asset: Address,
        amount: U256,
        reply: Reply<()>,
    },
    Game {
        id: B256,
        mv: GameMove,
        reply: Reply<()>,
    },
    Settle {
        id: B256,
        reply: Reply<()>,
    },
    ChallengeVirtual {
        id: B256,
        reply: Reply<()>,
    },
    Quote {
        total: U256,
        reply: Reply<U256>,
    },
    Status {
        reply: Reply<NodeStatus>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A running node: a cloneable handle to its task. Every call returns an error (never panics) when the node
/// refuses or has stopped.
#[derive(Clone, Debug)]
pub struct Node {
    address: Address,
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
}

/// Milliseconds since the Unix epoch: the protocol's clock (timers survive a restart).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Node {
    /// Starts a node on `store` (resuming every channel it holds), reaching its peers through `net` and
    /// `inbound`, and the chain through `chain`. The task runs until [`Node::shutdown`] or until every handle is
    /// dropped.
    pub async fn start<S: Store + 'static>(
        config: NodeConfig,
        store: S,
        chain: Arc<dyn Chain>,
        net: Arc<dyn Network>,
        inbound: mpsc::Receiver<Inbound>,
    ) -> Result<Node> {
        let now = now_ms();
        let ctx = ferry_ledger::ChainContext {
            chain_id: chain.chain_id(),
            adjudicator: chain.adjudicator(),
        };
        let signer = config.signer.clone();
        let ledger =
            LedgerNode::open_store(signer.clone(), ctx, config.ledger.clone(), store, now)?;
        let mut core = VirtualNode::open_store(ledger, now)?;
        let mut apps = config.apps.clone();
        if apps.is_empty() {
            if let Some(a) = chain.deployed(Artifact::PaymentApp) {
                apps.push((a, AppKind::Payment));
            }
            if let Some(a) = chain.deployed(Artifact::RockPaperScissors) {
                apps.push((a, AppKind::Game));
            }
        }
        for (address, kind) in &apps {
            core.set_app(*address, *kind);
        }
        core.set_policy(config.policy.clone());
        core.set_release_retention(
            u64::try_from(config.release_retention.as_millis()).unwrap_or(u64::MAX),
        );
        let (commands, cmd_rx) = mpsc::channel(1_024);
        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        let runtime = Runtime {
            core,
            client: AdjudicatorClient::new(chain),
            net,
            events: events.clone(),
            address: signer.address(),
            apps: apps.into_iter().map(|(a, k)| (app_key(k), a)).collect(),
            stats: NodeStats::default(),
            chain_poll: config.chain_poll,
        };
        tokio::spawn(async move {
            // The runtime (and with it the store) is dropped before a shutdown is acknowledged, so a node restarted
            // right after can open the same store.
            if let Some(reply) = runtime.run(cmd_rx, inbound).await {
                let _ = reply.send(());
            }
        });
        Ok(Node {
            address: signer.address(),
            commands,
            events,
        })
    }

    /// The node's channel address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// A stream of everything that happens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Opens a ledger channel with `peer` (who must accept) with each side's deposit per asset (`[ours, theirs]`).
    /// Returns its id at once; [`Node::wait_ledger_running`] waits until both deposits are on-chain.
    pub async fn open_ledger(
        &self,
        peer: Address,
        amounts: Vec<(Address, [U256; 2])>,
        challenge_duration: u64,
    ) -> Result<B256> {
        self.call(|reply| Command::OpenLedger {
            peer,
            amounts,
            challenge_duration,
            reply,
        })
        .await
    }

    /// Closes a ledger channel cooperatively (the peer countersigns the final state; one transaction concludes
    /// and pays out).
    pub async fn close_ledger(&self, id: B256) -> Result<()> {
        self.call(|reply| Command::CloseLedger { id, reply }).await
    }

    /// Challenges a ledger channel on-chain with its latest supported state (the peer stopped answering).
    pub async fn challenge_ledger(&self, id: B256) -> Result<()> {
        self.call(|reply| Command::ChallengeLedger { id, reply })
            .await
    }

    /// Opens a virtual channel from this node; returns V's id at once. [`Node::wait_virtual`] waits for
    /// [`VirtualPhase::Open`].
    pub async fn open_virtual(&self, req: OpenVirtual) -> Result<B256> {
        self.call(|reply| Command::OpenVirtual { req, reply }).await
    }

    /// Pays `amount` of `asset` to the other endpoint of V.
    pub async fn pay(&self, id: B256, asset: Address, amount: U256) -> Result<()> {
        self.call(|reply| Command::Pay {
            id,
            asset,
            amount,
            reply,
        })
        .await
    }

    /// Makes a game move in V.
    pub async fn game_move(&self, id: B256, mv: GameMove) -> Result<()> {
        self.call(|reply| Command::Game { id, mv, reply }).await
    }

    /// Settles V off-chain (either endpoint may ask).
    pub async fn settle(&self, id: B256) -> Result<()> {
        self.call(|reply| Command::Settle { id, reply }).await
    }

    /// Challenges V on-chain with the best state this node holds (the fallback when a path member disappears).
    pub async fn challenge_virtual(&self, id: B256) -> Result<()> {
        self.call(|reply| Command::ChallengeVirtual { id, reply })
            .await
    }

    /// This node's routing fee for a virtual channel holding `total` of its first asset.
    pub async fn quote(&self, total: U256) -> Result<U256> {
        self.call(|reply| Command::Quote { total, reply }).await
    }

    /// The node's channels and counters.
    pub async fn status(&self) -> Result<NodeStatus> {
        self.call(|reply| Command::Status { reply }).await
    }

    /// Waits until `done` holds for the node's status, re-checking after each event, for at most `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&NodeStatus) -> bool,
    ) -> Result<NodeStatus> {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            if done(&status) {
                return Ok(status);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(what.to_string()));
            }
            // Any event (or a lagged stream) may have changed the status; a quiet second re-checks it anyway.
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), events.recv()).await;
        }
    }

    /// Waits until ledger `id` is running (funded, post-fund signed by both).
    pub async fn wait_ledger_running(&self, id: B256, timeout: Duration) -> Result<LedgerInfo> {
        let status = self
            .wait_until("the ledger channel to run", timeout, |s| {
                s.ledger(&id).is_some_and(|l| l.phase == "running")
            })
            .await?;
        status
            .ledger(&id)
            .cloned()
            .ok_or(Error::Timeout("the ledger channel".into()))
    }

    /// Waits until ledger `id` is closed (paid out on-chain).
    pub async fn wait_ledger_closed(&self, id: B256, timeout: Duration) -> Result<()> {
        self.wait_until("the ledger channel to close", timeout, |s| {
            s.ledger(&id).is_none_or(|l| l.phase == "closed")
        })
        .await
        .map(|_| ())
    }

    /// Waits until V reaches `phase` (or a later one in the cooperative life: open → settling → settled →
    /// released).
    pub async fn wait_virtual(
        &self,
        id: B256,
        phase: VirtualPhase,
        timeout: Duration,
    ) -> Result<VirtualInfo> {
        let rank = |p: VirtualPhase| match p {
            VirtualPhase::Opening => 0,
            VirtualPhase::Open => 1,
            VirtualPhase::Settling => 2,
            VirtualPhase::Settled => 3,
            VirtualPhase::Released => 4,
            VirtualPhase::Aborted => 5,
        };
        let what = format!("virtual channel {id} to be {phase:?}");
        let status = self
            .wait_until(&what, timeout, |s| {
                s.virtual_channel(&id).is_some_and(|v| {
                    (v.phase != VirtualPhase::Aborted || phase == VirtualPhase::Aborted)
                        && rank(v.phase) >= rank(phase)
                })
            })
            .await?;
        status
            .virtual_channel(&id)
            .cloned()
            .ok_or(Error::Timeout(what))
    }

    /// Stops the node after it has handed everything pending to the network; its store keeps every channel.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply: tx })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }
}

struct Runtime<S: Store> {
    core: VirtualNode<S>,
    client: AdjudicatorClient,
    net: Arc<dyn Network>,
    events: broadcast::Sender<NodeEvent>,
    address: Address,
    apps: BTreeMap<AppKindKey, Address>,
    stats: NodeStats,
    chain_poll: Duration,
}

/// `AppKind` as a map key.
type AppKindKey = u8;

fn app_key(kind: AppKind) -> AppKindKey {
    match kind {
        AppKind::Payment => 0,
        AppKind::Game => 1,
    }
}

impl<S: Store + 'static> Runtime<S> {
    /// Runs until a shutdown (returned, to be acknowledged once the runtime is dropped) or until every handle is
    /// gone.
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbound: mpsc::Receiver<Inbound>,
    ) -> Option<oneshot::Sender<()>> {
        let mut chain_tick = tokio::time::interval(self.chain_poll);
        chain_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut inbound_open = true;
        loop {
            let wake = self
                .core
                .poll_timeout()
                .map(|t| Duration::from_millis(t.saturating_sub(now_ms())))
                .unwrap_or(Duration::from_secs(3_600));
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => return None,
                    Some(Command::Shutdown { reply }) => {
                        self.flush();
                        return Some(reply);
                    }
                    Some(cmd) => self.command(cmd),
                },
                msg = inbound.recv(), if inbound_open => match msg {
                    None => inbound_open = false,
                    Some(first) => {
                        self.inbound(first);
                        // Take what else is waiting before releasing the outputs: one flush for a burst.
                        for _ in 0..256 {
                            match inbound.try_recv() {
                                Ok(more) => self.inbound(more),
                                Err(_) => break,
                            }
                        }
                    }
                },
                _ = tokio::time::sleep(wake) => {
                    if let Err(e) = self.core.handle_timeout(now_ms()) {
                        tracing::warn!(node = %self.address, "timer: {e}");
                    }
                }
                _ = chain_tick.tick() => self.chain_round().await,
            }
            self.flush();
        }
    }

    fn emit(&self, event: NodeEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    fn inbound(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Message { from, msg } => {
                self.stats.messages_received += 1;
                if let Err(e) = self.core.handle_message(from, msg, now_ms()) {
                    self.stats.refused += 1;
                    tracing::debug!(node = %self.address, %from, "refused: {e}");
                    self.emit(NodeEvent::Refused {
                        from,
                        reason: e.to_string(),
                    });
                }
            }
            Inbound::Connected(peer) => self.emit(NodeEvent::PeerConnected(peer)),
            Inbound::Disconnected { peer, reason } => {
                self.emit(NodeEvent::PeerDisconnected { peer, reason })
            }
            Inbound::Rejected { remote, reason } => self.emit(NodeEvent::ConnectionRejected {
                remote: remote.to_string(),
                reason,
            }),
        }
    }

    fn flush(&mut self) {
        let mut out = Vec::new();
        while let Some(m) = self.core.poll_transmit() {
            out.push(m);
        }
        if !out.is_empty() {
            self.stats.messages_sent += out.len() as u64;
            if let Err(e) = self.net.send_batch(out) {
                // The cores resend whatever a peer does not answer; the outbox refusing now loses nothing.
                tracing::warn!(node = %self.address, "network: {e}");
            }
        }
        while let Some(e) = self.core.poll_event() {
            self.emit(NodeEvent::Channel(e));
        }
    }

    async fn chain_round(&mut self) {
        match driver::drive(&self.client, self.address, &mut self.core, now_ms()).await {
            Ok(round) => {
                for (name, gas) in round.landed {
                    self.stats.txs_landed += 1;
                    self.stats.gas_used += gas;
                    self.emit(NodeEvent::TxLanded {
                        name: name.to_string(),
                        gas,
                    });
                }
                for (name, reason) in round.failed {
                    self.emit(NodeEvent::TxFailed {
                        name: name.to_string(),
                        reason,
                    });
                }
            }
            Err(e) => tracing::warn!(node = %self.address, "chain: {e}"),
        }
    }

    /// Answers a command only after what it produced has left for the network (committed to the transport's
    /// outbox): a caller told "done" can rely on the messages surviving a crash of this process.
    fn answer<T>(&mut self, reply: Reply<T>, result: Result<T>) {
        self.flush();
        let _ = reply.send(result);
    }

    fn command(&mut self, cmd: Command) {
        let now = now_ms();
        match cmd {
            Command::OpenLedger {
                peer,
                amounts,
                challenge_duration,
                reply,
            } => {
                let r = self
                    .core
                    .ledger_mut()
                    .open(peer, &amounts, challenge_duration, now)
                    .map_err(Error::from);
                self.answer(reply, r);
            }
            Command::CloseLedger { id, reply } => {
                let r = self.core.ledger_mut().close(id, now).map_err(Error::from);
                self.answer(reply, r);
            }
            Command::ChallengeLedger { id, reply } => {
                let r = self.core.ledger_mut().challenge(id).map_err(Error::from);
                self.answer(reply, r);
            }
            Command::OpenVirtual { req, reply } => {
                let r = self.open_virtual(req, now);
                self.answer(reply, r);
            }
            Command::Pay {
                id,
                asset,
                amount,
                reply,
            } => {
                let r = self.core.pay(id, asset, amount);
                self.answer(reply, r);
            }
            Command::Game { id, mv, reply } => {
                let r = self.game(id, mv);
                self.answer(reply, r);
            }
            Command::Settle { id, reply } => {
                let r = self.core.settle(id, now);
                self.answer(reply, r);
            }
            Command::ChallengeVirtual { id, reply } => {
                let r = self.core.challenge(id);
                self.answer(reply, r);
            }
            Command::Quote { total, reply } => {
                let r = Ok(self.core.quote(total));
                self.answer(reply, r);
            }
            Command::Status { reply } => {
                let r = Ok(self.status());
                self.answer(reply, r);
            }
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn open_virtual(&mut self, req: OpenVirtual, now: u64) -> Result<B256> {
        let app = *self
            .apps
            .get(&app_key(req.app))
            .ok_or_else(|| Error::Config(format!("no {:?} app is known on this chain", req.app)))?;
        let fees = if req.fees.is_empty() {
            vec![U256::ZERO; req.path.len()]
        } else {
            req.fees
        };
        self.core.open(
            OpenRequest {
                path: req.path,
                hops: req.hops,
                app,
                balances: req.balances,
                fees,
                challenge_duration: req.challenge_duration,
            },
            now,
        )
    }

    fn game(&mut self, id: B256, mv: GameMove) -> Result<()> {
        let ch = self.core.channel(&id).ok_or(Error::Virtual(
            crate::protocol::VirtualError::UnknownChannel(id),
        ))?;
        let params = ch.params().clone();
        let from = ch.current();
        let hand = |h: u8| {
            Hand::from_u8(h).ok_or(Error::Virtual(crate::protocol::VirtualError::InvalidMove(
                crate::protocol::MoveError::NotAHand(h),
            )))
        };
        let bad = |e: ferry_ledger::Error| {
            Error::Virtual(crate::protocol::VirtualError::InvalidMove(
                crate::protocol::MoveError::AppRules(e),
            ))
        };
        let to = match mv {
            GameMove::Commit { stake, hand: h } => {
                let h = hand(h)?;
                let salt = rps::random_salt();
                let to = rps::commit(&params, &from, stake, h, salt).map_err(bad)?;
                // The hand and salt must outlive a crash, or the stake is lost by timeout: kept before the move
                // leaves.
                let mut batch = Batch::new();
                batch.put(NS_NODE, id.to_vec(), &(h as u8, salt))?;
                self.core.ledger_mut().store_mut().commit(batch)?;
                to
            }
            GameMove::Play { hand: h } => rps::play(&params, &from, hand(h)?).map_err(bad)?,
            GameMove::Reveal => {
                let bytes = self
                    .core
                    .ledger()
                    .store()
                    .get(NS_NODE, id.as_slice())?
                    .ok_or(Error::Virtual(crate::protocol::VirtualError::InvalidMove(
                        crate::protocol::MoveError::NoCommittedHand,
                    )))?;
                let (h, salt): (u8, B256) = decode("game hand", &bytes)?;
                rps::reveal(&params, &from, hand(h)?, salt).map_err(bad)?
            }
        };
        self.core.make_move(id, to)
    }

    fn status(&self) -> NodeStatus {
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
                }
            })
            .collect();
        let virtuals = self.core.channels().map(virtual_info).collect();
        NodeStatus {
            address: self.address,
            ledgers,
            virtuals,
            peers: self.net.connected(),
            stats: self.stats.clone(),
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
    }
}
