//! The node's chain duties, off its loop: each transaction the core asks for is submitted in a task of its own,
//! and the chain is read in another; what they find comes back to the loop as an input ([`ChainOutcome`]). The
//! loop never waits for a receipt, a confirmation or a slow JSON-RPC node, so a hub keeps serving its users while
//! its deposits and disputes are mined.
//!
//! Several transactions are in flight at once (up to [`MAX_TXS_IN_FLIGHT`]; the rest wait in the core, which is
//! the back-pressure): the chain gives each its nonce under a per-account lock, and replaces one that is stuck
//! with a higher fee ([`ferry_adjudicator::RpcConfig::replace_after`]). One read of the chain is in flight at a
//! time, from the core's cursor; a read that comes back after the cursor moved is dropped
//! ([`watcher::apply`]). Before each read the hashes of the blocks read before are checked against the chain
//! ([`watcher::check_reorg`]): a reorganization deeper than the confirmations is reported. After a restart the
//! core asks again for every transaction still due (it remembers what it asked for only within one start), so a
//! transaction lost with the process is sent again.

use std::collections::{HashMap, VecDeque};

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::AdjudicatorClient;
use ferry_adjudicator::watcher::{self, ChainRead, Reorg, Submit};
use ferry_virtual::protocol::Tx;
use tokio::task::{Id, JoinError, JoinSet};

use crate::chain::VirtualTxs;

/// The most transactions a node has in flight at once.
pub const MAX_TXS_IN_FLIGHT: usize = 64;

/// Blocks read whose hashes are kept to detect a reorganization below the cursor (one per read).
pub const REORG_HORIZON: usize = 64;

/// How often a node reads its own account's ETH balance by default, to check it can pay its channels' challenge
/// bonds (S17; [`NodeConfig::balance_every`](super::NodeConfig::balance_every)).
pub const DEFAULT_BALANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What a chain task found.
#[derive(Debug)]
pub(super) enum ChainOutcome {
    /// `tx` landed, using `gas`.
    Landed {
        /// The transaction.
        tx: Tx,
        /// Its gas.
        gas: u64,
    },
    /// `tx` failed.
    Failed {
        /// The transaction.
        tx: Tx,
        /// Why.
        reason: String,
    },
    /// A read of the chain: the new confirmed blocks' events, nothing new, or why the chain could not be read.
    Read(Result<Option<ChainRead>, String>),
    /// Blocks read before are no longer on the chain (found before reading on).
    Reorg(Reorg),
    /// The node's account's ETH balance, or why it could not be read.
    Balance(Result<U256, String>),
}

/// What a running task is, to know what a task that panicked was doing.
#[derive(Debug)]
enum Job {
    Submit(Box<Tx>),
    Read,
    Balance,
}

/// The chain tasks of one node.
pub(super) struct ChainSide {
    client: AdjudicatorClient,
    from: Address,
    tasks: JoinSet<ChainOutcome>,
    /// What each running task does: the transactions in flight and the read, if any.
    jobs: HashMap<Id, Job>,
    /// The last block of each read applied, oldest first, at most [`REORG_HORIZON`].
    recent: VecDeque<(u64, B256)>,
    /// When the account's balance was last asked for.
    balance_asked: Option<std::time::Instant>,
    /// How often it is asked for.
    balance_every: std::time::Duration,
}

impl ChainSide {
    /// The chain side of the node `from`, which read `recent` (the blocks kept from before a restart).
    pub(super) fn new(
        client: AdjudicatorClient,
        from: Address,
        recent: Vec<(u64, B256)>,
        balance_every: std::time::Duration,
    ) -> Self {
        let mut recent: VecDeque<_> = recent.into();
        while recent.len() > REORG_HORIZON {
            recent.pop_front();
        }
        Self {
            client,
            from,
            tasks: JoinSet::new(),
            jobs: HashMap::new(),
            recent,
            balance_asked: None,
            balance_every,
        }
    }

    /// A read was applied: its last block is remembered; returns the blocks kept, to persist.
    pub(super) fn applied(&mut self, read: &ChainRead) -> Vec<(u64, B256)> {
        if self.recent.len() == REORG_HORIZON {
            self.recent.pop_front();
        }
        self.recent.push_back((read.last, read.hash));
        self.recent.iter().copied().collect()
    }

    /// A reorganization was reported: the blocks read that it replaced are forgotten (so it is reported once);
    /// returns the blocks kept, to persist.
    pub(super) fn reorganized(&mut self, reorg: &Reorg) -> Vec<(u64, B256)> {
        self.recent
            .retain(|(n, _)| reorg.kept.is_some_and(|kept| *n <= kept));
        self.recent.iter().copied().collect()
    }

    /// Transactions submitted and not yet landed or failed.
    pub(super) fn in_flight(&self) -> usize {
        self.jobs
            .values()
            .filter(|j| matches!(j, Job::Submit(_)))
            .count()
    }

    /// Room for another transaction.
    pub(super) fn has_room(&self) -> bool {
        self.in_flight() < MAX_TXS_IN_FLIGHT
    }

    /// Submits `tx` in a task of its own.
    pub(super) fn submit(&mut self, tx: Tx) {
        let (client, from) = (self.client.clone(), self.from);
        let job = Box::new(tx.clone());
        let handle = self.tasks.spawn(async move {
            match VirtualTxs.submit(&client, from, &tx).await {
                Ok(receipt) => ChainOutcome::Landed {
                    tx,
                    gas: receipt.gas_used,
                },
                Err(e) => ChainOutcome::Failed {
                    tx,
                    reason: e.to_string(),
                },
            }
        });
        self.jobs.insert(handle.id(), Job::Submit(job));
    }

    /// Reads the chain from `from` in a task, unless a read is in flight already.
    pub(super) fn read(&mut self, from: u64) {
        if self.jobs.values().any(|j| matches!(j, Job::Read)) {
            return;
        }
        let chain = self.client.chain().clone();
        let known: Vec<_> = self.recent.iter().copied().collect();
        let handle = self.tasks.spawn(async move {
            match watcher::checked_read(chain.as_ref(), from, &known).await {
                Ok(watcher::Checked::Reorg(reorg)) => ChainOutcome::Reorg(reorg),
                Ok(watcher::Checked::Read(read)) => ChainOutcome::Read(Ok(read)),
                Err(e) => ChainOutcome::Read(Err(e.to_string())),
            }
        });
        self.jobs.insert(handle.id(), Job::Read);
    }

    /// Reads the account's ETH balance in a task, at most every `balance_every` (S17: the node must be able to pay
    /// its channels' challenge bonds).
    pub(super) fn read_balance(&mut self) {
        if self
            .balance_asked
            .is_some_and(|t| t.elapsed() < self.balance_every)
            || self.jobs.values().any(|j| matches!(j, Job::Balance))
        {
            return;
        }
        self.balance_asked = Some(std::time::Instant::now());
        let (chain, from) = (self.client.chain().clone(), self.from);
        let handle = self.tasks.spawn(async move {
            ChainOutcome::Balance(chain.balance(from).await.map_err(|e| e.to_string()))
        });
        self.jobs.insert(handle.id(), Job::Balance);
    }

    /// The next outcome of a task; pending forever while none runs (for `select!`).
    pub(super) async fn next(&mut self) -> ChainOutcome {
        loop {
            match self.tasks.join_next_with_id().await {
                Some(Ok((id, outcome))) => {
                    self.jobs.remove(&id);
                    return outcome;
                }
                Some(Err(e)) => {
                    if let Some(outcome) = self.lost(e) {
                        return outcome;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// A task that panicked or was cancelled: its transaction is reported failed (the core asks again while it is
    /// due), a read is simply over.
    fn lost(&mut self, e: JoinError) -> Option<ChainOutcome> {
        let id = e.id();
        match self.jobs.remove(&id) {
            Some(Job::Submit(tx)) => Some(ChainOutcome::Failed {
                tx: *tx,
                reason: format!("submission task ended: {e}"),
            }),
            Some(Job::Read) => Some(ChainOutcome::Read(Err(format!(
                "chain read task ended: {e}"
            )))),
            Some(Job::Balance) => Some(ChainOutcome::Balance(Err(format!(
                "balance read task ended: {e}"
            )))),
            None => None,
        }
    }
}
