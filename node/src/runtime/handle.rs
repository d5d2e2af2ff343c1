//! The typed, cloneable handle to a running node ([`Node`]): each call is a command to the node's task, answered
//! once what it produced has left for the network.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::{AdjudicatorClient, Chain};
use ferry_ledger::contracts::Artifact;
use ferry_ledger::protocol::LedgerNode;
use ferry_ledger::store::Store;
use ferry_virtual::protocol::{AppKind, VirtualNode, VirtualPhase};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::event_loop::{Runtime, app_key};
use super::{
    GameMove, Inbound, LedgerInfo, Network, NodeConfig, NodeEvent, NodeStats, NodeStatus,
    OpenVirtual, VirtualInfo,
};
use crate::{Error, Result};

pub(super) type Reply<T> = oneshot::Sender<Result<T>>;

pub(super) enum Command {
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
            balance_every: config.balance_every,
            refusals: super::event_loop::RefusalBudget::new(
                config.max_refusals,
                config.refusal_window,
            ),
            replies: Vec::new(),
            to_ack: std::collections::HashMap::new(),
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
