//! The node's task: one loop that owns the core and handles, in order, a command, a message, a timer or a round
//! of chain duties, then lets out what the core produced.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::AdjudicatorClient;
use ferry_adjudicator::watcher;
use ferry_ledger::app::rps::{self, Hand};
use ferry_ledger::protocol::LedgerEvent;
use ferry_ledger::store::{Batch, Store, decode};
use ferry_virtual::protocol::{
    AppKind, MoveError, OpenRequest, VirtualError, VirtualEvent, VirtualNode,
};
use rayon::prelude::*;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::chain_side::{ChainOutcome, ChainSide};
use super::handle::{Command, Reply, now_ms};
use super::{GameMove, Inbound, NS_NODE, Network, NodeEvent, NodeStats, OpenVirtual};
use crate::{Error, Result};

/// Commands (and messages) handled before one flush: one sync of the store for all of them.
const MAX_GROUP: usize = 256;

/// A command's answer, sent after the flush that makes what it did durable.
pub(super) type Answer = Box<dyn FnOnce() + Send>;

pub(super) struct Runtime<S: Store> {
    pub(super) core: VirtualNode<S>,
    pub(super) client: AdjudicatorClient,
    pub(super) net: Arc<dyn Network>,
    pub(super) events: broadcast::Sender<NodeEvent>,
    pub(super) address: Address,
    pub(super) apps: BTreeMap<AppKindKey, Address>,
    pub(super) stats: NodeStats,
    pub(super) chain_poll: Duration,
    /// How often the account's balance is checked against the challenge bonds (S17).
    pub(super) balance_every: Duration,
    pub(super) refusals: RefusalBudget,
    /// Answers waiting for the next flush.
    pub(super) replies: Vec<Answer>,
    /// Per peer, the highest message id handled since the last flush: acknowledged once that flush made what
    /// they did durable.
    pub(super) to_ack: HashMap<Address, u64>,
}

/// Refused messages counted per peer in fixed windows: a peer past the budget is disconnected.
#[derive(Debug)]
pub(super) struct RefusalBudget {
    max: u32,
    window: Duration,
    /// Per peer: when its window started and its refusals in it.
    counts: HashMap<Address, (Instant, u32)>,
}

/// Peers tracked before windows that ended are pruned.
const REFUSAL_PEERS: usize = 1_024;

impl RefusalBudget {
    pub(super) fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            counts: HashMap::new(),
        }
    }

    /// Counts a refusal of `peer`'s at `now`; `true` when it passes the budget, once per window.
    fn refused(&mut self, peer: Address, now: Instant) -> bool {
        if self.counts.len() >= REFUSAL_PEERS {
            let window = self.window;
            self.counts
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let (start, count) = self.counts.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count > self.max {
            // Already past it in this window (and disconnected): the messages it sent before are not counted again.
            return false;
        }
        *count += 1;
        *count > self.max
    }
}

/// Whether a refusal is the sender's doing (not our store failing).
fn senders_fault(e: &ferry_virtual::Error) -> bool {
    !matches!(
        e,
        ferry_virtual::Error::Ledger(ferry_ledger::Error::Store(_))
    )
}

/// Store namespace of the chain side: the hashes of the blocks read ([`RECENT_BLOCKS`]).
const NS_CHAIN: &str = "node.chain";
/// Key of the recent blocks read.
const RECENT_BLOCKS: &[u8] = b"recent";

/// `AppKind` as a map key.
pub(super) type AppKindKey = u8;

pub(super) fn app_key(kind: AppKind) -> AppKindKey {
    match kind {
        AppKind::Payment => 0,
        AppKind::Game => 1,
    }
}

impl<S: Store + 'static> Runtime<S> {
    /// Runs until a shutdown (returned, to be acknowledged once the runtime is dropped) or until every handle is
    /// gone.
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbound: mpsc::Receiver<Inbound>,
    ) -> Option<oneshot::Sender<()>> {
        let mut chain_tick = tokio::time::interval(self.chain_poll);
        chain_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Dropped with the loop: a shutdown aborts what is in flight (the core asks again after the restart).
        let mut chain = ChainSide::new(
            self.client.clone(),
            self.address,
            self.recent_blocks(),
            self.balance_every,
        );
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
                    Some(first) => {
                        // Take what else is waiting (up to a bound): one sync and one flush for all of them, their
                        // answers after it.
                        let mut group = vec![first];
                        let mut shutdown = None;
                        while group.len() < MAX_GROUP {
                            match commands.try_recv() {
                                Ok(Command::Shutdown { reply }) => {
                                    shutdown = Some(reply);
                                    break;
                                }
                                Ok(more) => group.push(more),
                                Err(_) => break,
                            }
                        }
                        self.sign_ahead(&group);
                        for cmd in group {
                            self.command(cmd);
                        }
                        if let Some(reply) = shutdown {
                            self.flush();
                            return Some(reply);
                        }
                    }
                },
                msg = inbound.recv(), if inbound_open => match msg {
                    None => inbound_open = false,
                    Some(first) => {
                        // Take what else is waiting before releasing the outputs: one flush for a burst.
                        let mut burst = vec![first];
                        while burst.len() < MAX_GROUP {
                            match inbound.try_recv() {
                                Ok(more) => burst.push(more),
                                Err(_) => break,
                            }
                        }
                        self.recover_ahead(&burst);
                        for msg in burst {
                            self.inbound(msg);
                        }
                    }
                },
                _ = tokio::time::sleep(wake) => {
                    if let Err(e) = self.core.handle_timeout(now_ms()) {
                        tracing::warn!(node = %self.address, "timer: {e}");
                    }
                }
                outcome = chain.next() => self.chain_outcome(&mut chain, outcome),
                _ = chain_tick.tick() => self.chain_round(&mut chain),
            }
            self.stats.txs_in_flight = chain.in_flight() as u64;
            self.flush();
        }
    }

    /// Signs ahead, on every core, the vouchers a group of commands will sign one by one in the core (a
    /// payment's voucher is the core's whole signature cost): the core then finds them computed
    /// ([`ferry_ledger::Signer::presign`]). What the core signs and checks is unchanged.
    fn sign_ahead(&self, group: &[Command]) {
        let pays: Vec<_> = group
            .iter()
            .filter_map(|c| match c {
                Command::Pay {
                    id, asset, amount, ..
                } => Some((*id, *asset, *amount)),
                _ => None,
            })
            .collect();
        if pays.len() < 2 {
            return; // one signature gains nothing from another core
        }
        let digests = self.core.voucher_digests(&pays);
        let signer = self.core.ledger().signer();
        digests.par_iter().for_each(|d| signer.presign(d));
    }

    /// Recovers ahead, on every core, the signatures a burst of messages carries (from the peers this node holds
    /// channels with; see [`VirtualNode::signatures_to_check`]): the core, which handles the burst one message
    /// at a time, then finds them computed ([`ferry_ledger::signature::precompute_recover`]). What the core
    /// checks is unchanged.
    fn recover_ahead(&self, burst: &[Inbound]) {
        if burst.len() < 2 {
            return;
        }
        let mut pairs: Vec<(B256, ferry_ledger::Signature)> = burst
            .iter()
            .flat_map(|m| match m {
                // At most MAX_PATH per message, whatever it holds.
                Inbound::Message { from, msg, .. } => self.core.signatures_to_check(*from, msg),
                _ => vec![],
            })
            .collect();
        // A signature resent within the burst is recovered once.
        pairs.sort_unstable_by(|a, b| {
            (a.0, &a.1.r, &a.1.s, a.1.v).cmp(&(b.0, &b.1.r, &b.1.s, b.1.v))
        });
        pairs.dedup();
        if pairs.len() < 2 {
            return;
        }
        pairs
            .par_iter()
            .for_each(|(digest, sig)| ferry_ledger::signature::precompute_recover(digest, sig));
    }

    fn emit(&self, event: NodeEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    fn inbound(&mut self, inbound: Inbound) {
        match inbound {
            Inbound::Message { from, msg, ack } => {
                if let Some(id) = ack {
                    let high = self.to_ack.entry(from).or_insert(id);
                    *high = (*high).max(id);
                }
                self.stats.messages_received += 1;
                if let Err(e) = self.core.handle_message(from, msg, now_ms()) {
                    self.stats.refused += 1;
                    tracing::debug!(node = %self.address, %from, "refused: {e}");
                    let over = senders_fault(&e) && self.refusals.refused(from, Instant::now());
                    self.emit(NodeEvent::Refused {
                        from,
                        reason: e.to_string(),
                    });
                    if over {
                        self.stats.refusal_disconnects += 1;
                        let reason = format!(
                            "more than {} refused messages within {:?}",
                            self.refusals.max, self.refusals.window
                        );
                        // The transport logs the disconnect (rate-limited); one line is enough.
                        tracing::debug!(node = %self.address, peer = %from, %reason, "peer disconnected");
                        self.net.disconnect(from, &reason);
                    }
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

    /// Lets out what the inputs since the last flush produced, once they are durable: the store is synced (one
    /// fsync for every commit since: the group commit), the peers' messages handled are acknowledged, then
    /// messages go to the network (which persists them in
    /// its outbox first), events to subscribers, and the commands' answers to their callers. If the sync fails,
    /// nothing leaves: the cores resend what a peer does not answer, and the store refuses further writes.
    fn flush(&mut self) {
        if let Err(e) = self.core.ledger_mut().store_mut().sync() {
            tracing::error!(node = %self.address, "store: sync failed, nothing is sent: {e}");
            // Their callers see the node stopped rather than a "done" that may not survive; the peers send
            // again what they are not told was taken.
            self.replies.clear();
            self.to_ack.clear();
            return;
        }
        if !self.to_ack.is_empty() {
            self.net.committed(self.to_ack.drain().collect());
        }
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
            if let VirtualEvent::Ledger(LedgerEvent::PeerForgotten { peer }) = &e {
                self.net.forget(*peer);
            }
            self.emit(NodeEvent::Channel(e));
        }
        for reply in self.replies.drain(..) {
            reply();
        }
    }

    /// Starts the chain duties that are due: the transactions the core asks for (as many as there is room for;
    /// the rest wait in the core) and a read of the chain from the core's cursor. Nothing here waits.
    fn chain_round(&mut self, chain: &mut ChainSide) {
        // A transaction carries only what is durable (the flushes sync; this one is for a sync that failed).
        if let Err(e) = self.core.ledger_mut().store_mut().sync() {
            tracing::error!(node = %self.address, "store: sync failed, no transaction is sent: {e}");
            return;
        }
        while chain.has_room() {
            match self.core.poll_tx() {
                Some(tx) => chain.submit(tx),
                None => break,
            }
        }
        chain.read(self.core.ledger().next_block());
        chain.read_balance();
    }

    /// S17: whether the account holds the largest challenge bond among the channels still open on-chain (a ledger
    /// not closed, a V not released): a node that cannot pay a bond cannot challenge or answer a challenge. Reported
    /// in `status` (`bond_funds_short`) and by one WARN line each time it turns short.
    fn check_bond_funds(&mut self, balance: U256) {
        let ledgers = self
            .core
            .ledger()
            .channels()
            .filter(|c| c.phase() != ferry_ledger::protocol::Phase::Closed)
            .map(|c| U256::from(c.params().challengeBond));
        let virtuals = self
            .core
            .channels()
            .filter(|c| c.phase() != ferry_virtual::protocol::VirtualPhase::Released)
            .map(|c| U256::from(c.params().challengeBond));
        let needed = ledgers.chain(virtuals).max().unwrap_or_default();
        let short = balance < needed;
        if short && !self.stats.bond_funds_short {
            tracing::warn!(
                node = %self.address,
                %balance,
                %needed,
                "the node's account holds less ETH than a challenge bond of its channels: it could not challenge                  or answer a challenge there (S17); fund the account"
            );
        }
        self.stats.bond_funds_short = short;
    }

    /// What a chain task found, handed to the core.
    fn chain_outcome(&mut self, chain: &mut ChainSide, outcome: ChainOutcome) {
        use ferry_ledger::protocol::ChainDuties;
        let name = |tx: &ferry_virtual::protocol::Tx| {
            use ferry_adjudicator::watcher::Submit;
            crate::chain::VirtualTxs.name(tx).to_string()
        };
        let done = match outcome {
            ChainOutcome::Landed { tx, gas } => {
                self.stats.txs_landed += 1;
                self.stats.gas_used += gas;
                self.emit(NodeEvent::TxLanded {
                    name: name(&tx),
                    gas,
                });
                self.core.tx_done(&tx)
            }
            ChainOutcome::Failed { tx, reason } => {
                self.emit(NodeEvent::TxFailed {
                    name: name(&tx),
                    reason: reason.clone(),
                });
                self.core.tx_failed(&tx, reason)
            }
            ChainOutcome::Read(Ok(Some(read))) => {
                // The read's last block is kept before the cursor moves past it (a crash in between leaves a block
                // to check that is still on the chain, never a cursor past a block no longer checked).
                if read.from == self.core.ledger().next_block() {
                    let recent = chain.applied(&read);
                    self.keep_recent_blocks(&recent);
                }
                watcher::apply::<_, ferry_virtual::Error>(&mut self.core, &read, now_ms())
                    .map(|_| ())
            }
            ChainOutcome::Read(Ok(None)) => Ok(()),
            ChainOutcome::Balance(Ok(balance)) => {
                self.check_bond_funds(balance);
                Ok(())
            }
            ChainOutcome::Balance(Err(e)) => {
                tracing::debug!(node = %self.address, "chain: balance: {e}");
                Ok(())
            }
            ChainOutcome::Read(Err(e)) => {
                tracing::warn!(node = %self.address, "chain: {e}");
                Ok(())
            }
            ChainOutcome::Reorg(reorg) => {
                self.stats.reorgs += 1;
                // Replayed from the block after the newest one still on the chain (from the start when none of
                // those kept is): the channels that applied events from the replaced blocks take them back and
                // sign nothing until the new chain was read past them.
                let fork = reorg.kept.map_or(0, |k| k + 1);
                let replaying = self.core.rewind(fork, reorg.read_up_to, now_ms());
                tracing::error!(
                    node = %self.address,
                    kept = ?reorg.kept,
                    read_up_to = reorg.read_up_to,
                    fork,
                    replaying = ?replaying,
                    "the chain reorganized below the blocks this node read (raise `confirmations`): reading again \
                     from the fork"
                );
                self.emit(NodeEvent::ChainReorg {
                    kept: reorg.kept,
                    read_up_to: reorg.read_up_to,
                });
                let recent = chain.reorganized(&reorg);
                self.keep_recent_blocks(&recent);
                Ok(())
            }
        };
        if let Err(e) = done {
            tracing::warn!(node = %self.address, "chain: {e}");
        }
    }

    /// The blocks read before a restart (number and hash), to detect a reorganization below the cursor.
    fn recent_blocks(&self) -> Vec<(u64, B256)> {
        match self.core.ledger().store().get(NS_CHAIN, RECENT_BLOCKS) {
            Ok(Some(bytes)) => decode("recent blocks", &bytes).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn keep_recent_blocks(&mut self, recent: &[(u64, B256)]) {
        let mut batch = Batch::new();
        let kept = batch
            .put(NS_CHAIN, RECENT_BLOCKS.to_vec(), &recent.to_vec())
            .and_then(|()| self.core.ledger_mut().store_mut().commit(batch));
        if let Err(e) = kept {
            tracing::warn!(node = %self.address, "store: keeping the blocks read: {e}");
        }
    }

    /// Answers a command only after what it produced is durable and has left for the network (committed to the
    /// transport's outbox): the answer waits for the next flush, so a caller told "done" can rely on the state and
    /// the messages surviving a crash of this process.
    fn answer<T: Send + 'static>(&mut self, reply: Reply<T>, result: Result<T>) {
        self.replies.push(Box::new(move || {
            let _ = reply.send(result);
        }));
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
                let r = self.core.pay(id, asset, amount).map_err(Error::from);
                self.answer(reply, r);
            }
            Command::Game { id, mv, reply } => {
                let r = self.game(id, mv);
                self.answer(reply, r);
            }
            Command::Settle { id, reply } => {
                let r = self.core.settle(id, now).map_err(Error::from);
                self.answer(reply, r);
            }
            Command::ChallengeVirtual { id, reply } => {
                let r = self.core.challenge(id).map_err(Error::from);
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
        Ok(self.core.open(
            OpenRequest {
                path: req.path,
                hops: req.hops,
                app,
                balances: req.balances,
                fees,
                challenge_duration: req.challenge_duration,
            },
            now,
        )?)
    }

    fn game(&mut self, id: B256, mv: GameMove) -> Result<()> {
        let ch = self.core.channel(&id).ok_or(Error::Virtual(
            ferry_virtual::protocol::VirtualError::UnknownChannel(id),
        ))?;
        let params = ch.params().clone();
        let from = ch.current();
        let hand = |h: u8| {
            Hand::from_u8(h).ok_or(Error::Virtual(VirtualError::InvalidMove(
                MoveError::NotAHand(h),
            )))
        };
        let bad = |e: ferry_ledger::Error| {
            Error::Virtual(VirtualError::InvalidMove(MoveError::AppRules(e)))
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
                    .ok_or(Error::Virtual(VirtualError::InvalidMove(
                        MoveError::NoCommittedHand,
                    )))?;
                let (h, salt): (u8, B256) = decode("game hand", &bytes)?;
                rps::reveal(&params, &from, hand(h)?, salt).map_err(bad)?
            }
        };
        Ok(self.core.make_move(id, to)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_budget_trips_past_its_max_within_a_window_only() {
        let mut budget = RefusalBudget::new(3, Duration::from_secs(60));
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let t0 = Instant::now();
        assert!((0..3).all(|_| !budget.refused(a, t0)));
        assert!(!budget.refused(b, t0));
        assert!(budget.refused(a, t0));
        // Once per window: what it sent before the disconnect is not counted again.
        assert!((0..10).all(|_| !budget.refused(a, t0)));
        let later = t0 + Duration::from_secs(61);
        assert!((0..3).all(|_| !budget.refused(a, later)));
        assert!(budget.refused(a, later));
    }
}
