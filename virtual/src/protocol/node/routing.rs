//! Routing a node's inputs: a message to the ledger node or to the virtual channel it is about (a pre-fund
//! introducing a new V is checked and joined here), chain events and blocks to the channels they concern, and the
//! steps every live channel takes after the ledger node moved or time passed.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Unbounded};

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::store::Store;
use ferry_ledger::{ChannelParams, Signature, State};

use super::super::channel::{VirtualChannel, VirtualPhase, check_prefund};
use super::super::{Message, PolicyRefusal, VirtualError, VirtualEvent, VirtualMessage};
use super::{VirtualNode, verr};
use crate::Result;

impl<S: Store> VirtualNode<S> {
    /// Handles a message from `from`; a refused one gets a typed error and changes nothing.
    pub fn handle_message(&mut self, from: Address, msg: Message, now: u64) -> Result<()> {
        self.input(now, |n| n.handle_message_inner(from, msg, now))
    }

    fn handle_message_inner(&mut self, from: Address, msg: Message, now: u64) -> Result<()> {
        match msg {
            Message::Ledger(m) => {
                let ledger = m.channel_id();
                self.ledger.handle_message(from, m, now)?;
                // Every V on this ledger is stepped below, after its change; any other ledger changed is noted.
                let mut changed = self.ledger.take_changed();
                changed.remove(&ledger);
                self.index.dirty.extend(changed);
                self.after_ledger(ledger, now);
                Ok(())
            }
            Message::Virtual(m) => {
                let id = m.channel_id();
                if self.pruned.contains(&id) {
                    return Err(verr(VirtualError::Pruned(id)));
                }
                self.touched.insert(id);
                let r = self.handle_virtual(from, m, now);
                if let Err(e) = &r {
                    self.out.events.push_back(VirtualEvent::Refused {
                        channel_id: id,
                        reason: e.to_string(),
                    });
                }
                r
            }
        }
    }

    fn handle_virtual(&mut self, from: Address, msg: VirtualMessage, now: u64) -> Result<()> {
        match msg {
            VirtualMessage::Sigs {
                params,
                state,
                sigs,
                fees,
            } => {
                let id = state.channelId;
                if self.channels.contains_key(&id) {
                    self.on_channel(id, |ch, cx| ch.on_sigs(cx, from, state, sigs, now))
                } else {
                    // A pre-fund introducing V.
                    let params = *params.ok_or(verr(VirtualError::UnknownChannel(id)))?;
                    self.join(from, params, state, sigs, fees, now)
                }
            }
            VirtualMessage::Voucher {
                channel_id,
                asset,
                cumulative,
                sig,
            } => self.on_channel(channel_id, |ch, cx| {
                ch.on_voucher(cx, from, asset, cumulative, sig)
            }),
            VirtualMessage::Move { state, sig } => {
                self.on_channel(state.channelId, |ch, cx| ch.on_move(cx, from, state, sig))
            }
            VirtualMessage::MoveAck {
                channel_id,
                version,
                sig,
            } => self.on_channel(channel_id, |ch, cx| ch.on_move_ack(cx, from, version, sig)),
            VirtualMessage::SettleRequest { channel_id } => {
                self.on_channel(channel_id, |ch, cx| ch.on_settle_request(cx, from, now))
            }
        }
    }

    /// The checks of a pre-fund introducing V that cost next to nothing, made first (by the core, and by the
    /// prediction of what it will recover): a path of at most `MAX_PATH` members with one
    /// signature slot each, this node on it, and `from` its neighbour there. Returns this node's index on the path
    /// and the hop between it and `from` (when the params name one).
    pub(super) fn introduction(
        &self,
        from: Address,
        params: &ChannelParams,
        sigs: &[Option<Signature>],
    ) -> Result<(usize, Option<B256>)> {
        let path = &params.participants;
        if path.len() > super::super::MAX_PATH || sigs.len() != path.len() {
            return Err(verr(VirtualError::InvalidPrefund(
                "a path of at most MAX_PATH members, one signature slot each",
            )));
        }
        let me = path
            .iter()
            .position(|p| *p == self.address())
            .ok_or(verr(VirtualError::NotMember("a path member")))?;
        let hop = if me > 0 && path[me - 1] == from {
            params.hops.get(me - 1)
        } else if path.get(me + 1) == Some(&from) {
            params.hops.get(me)
        } else {
            return Err(verr(VirtualError::NotNeighbour(from)));
        };
        Ok((me, hop.copied()))
    }

    /// A pre-fund from `from` introducing V: this node joins after checking it in full — it is on V's path, `from`
    /// is its neighbour there, V's params and pre-fund pass [`check_prefund`] (S1, S2, S3, S6), and the open
    /// keeps this node's policy and liquidity.
    fn join(
        &mut self,
        from: Address,
        params: ChannelParams,
        state: State,
        sigs: Vec<Option<Signature>>,
        fees: Vec<U256>,
        now: u64,
    ) -> Result<()> {
        let id = state.channelId;
        let (me, _) = self.introduction(from, &params, &sigs)?;
        let checked = check_prefund(&self.parts().1, &params, &state, me)?;
        if checked != id {
            return Err(verr(VirtualError::InvalidPrefund("the id")));
        }
        self.check_policy(&params, &state, &fees, me)?;
        let intermediary = me != 0 && me + 1 != params.participants.len();
        if intermediary {
            let limit = self.policy.max_opening_per_peer;
            if self.index.opening_from(&from) >= limit {
                return Err(verr(VirtualError::Policy(PolicyRefusal::PeerBusy {
                    peer: from,
                    limit,
                })));
            }
        }
        let ch = VirtualChannel::join(&self.parts().1, params, me, state, &sigs, fees, now)?;
        self.index.add(&ch);
        if intermediary {
            self.index.introduced(id, from);
        }
        self.channels.insert(id, ch);
        self.on_channel(id, |ch, cx| {
            ch.announce(cx, true, now);
            Ok(())
        })
    }

    /// Steps the live virtual channels after the ledger node took a message about one `ledger`: only the channels
    /// this member has in that ledger can take a step (a V's steps depend on its own two ledgers of this member,
    /// its own messages, the chain and the clock), found by the node's ledger index, in id order.
    fn after_ledger(&mut self, ledger: B256, now: u64) {
        let ids: Vec<B256> = self
            .index
            .on_ledger(&ledger)
            .filter(|id| {
                self.channels
                    .get(id)
                    .is_some_and(|c| c.phase != VirtualPhase::Released)
            })
            .collect();
        for id in ids {
            self.progress(id, now);
        }
    }

    /// Steps, after a chain event, a block or a timeout, every live V that can take a step: those whose record an
    /// input changed or touched without a step since, those on a ledger that changed since they were last stepped,
    /// and those whose time-based rule is due (the wake queue); in id order, a V on a ledger an earlier step in the
    /// pass changed joining it. Every other V took its steps already and nothing it depends on changed since, so
    /// this is what stepping every V did, at the cost of what changed.
    fn after_clock(&mut self, now: u64) {
        let mut work: BTreeSet<B256> = std::mem::take(&mut self.index.pending);
        work.extend(self.touched.iter().copied());
        let mut changed = std::mem::take(&mut self.index.dirty);
        changed.extend(self.ledger.take_changed());
        for ledger in &changed {
            work.extend(self.index.on_ledger(ledger));
        }
        work.extend(
            self.index
                .wakes
                .range(..=(now, B256::repeat_byte(0xff)))
                .map(|(_, id)| *id),
        );
        let mut cursor: Option<B256> = None;
        loop {
            let next = match cursor {
                None => work.first().copied(),
                Some(c) => work.range((Excluded(c), Unbounded)).next().copied(),
            };
            let Some(id) = next else {
                break;
            };
            cursor = Some(id);
            if self
                .channels
                .get(&id)
                .is_some_and(|c| c.phase != VirtualPhase::Released)
            {
                self.progress(id, now);
            }
            // A ledger this step changed: the V's on it after this one see the change in this pass, those before
            // it at the next clock input.
            for ledger in self.ledger.take_changed() {
                work.extend(self.index.on_ledger(&ledger).filter(|v| *v > id));
                self.index.dirty.insert(ledger);
            }
        }
    }

    /// A chain event for the ledger node (see [`LedgerNode::handle_chain_event`]), and for the virtual channel it
    /// is about: a state of V registered (by a challenge or a move), a leaf of V claimed, V concluded.
    ///
    /// [`LedgerNode::handle_chain_event`]: ferry_ledger::protocol::LedgerNode::handle_chain_event
    pub fn handle_chain_event(
        &mut self,
        block: u64,
        log_index: u64,
        event: &ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents,
        now: u64,
    ) -> Result<()> {
        use ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents as Ev;
        self.input(now, |n| {
            // V's own events: what is registered on-chain for it, and when it finalizes.
            let registered = match event {
                Ev::ChallengeRegistered(e) if n.channels.contains_key(&e.channelId) => {
                    Some((e.channelId, e.state.clone(), e.finalizesAt.to::<u64>()))
                }
                Ev::Progressed(e) if n.channels.contains_key(&e.channelId) => {
                    Some((e.channelId, e.to.clone(), e.finalizesAt.to::<u64>()))
                }
                _ => None,
            };
            if let Some((id, state, finalizes_at)) = registered {
                n.touched.insert(id);
                let _ = n.on_channel(id, |ch, cx| {
                    ch.on_registered(cx, state, finalizes_at);
                    Ok(())
                });
            }
            if let Ev::Claimed(e) = event
                && let Some(c) = n.channels.get_mut(&e.virtualId)
                && c.on_claimed(e.ledgerId)
            {
                n.touched.insert(e.virtualId);
            }
            if let Ev::Concluded(e) = event
                && n.channels.contains_key(&e.channelId)
                && n.on_channel(e.channelId, |ch, cx| {
                    Ok(ch.on_concluded(cx, e.version.to::<u64>()))
                })?
            {
                n.touched.insert(e.channelId);
            }
            n.ledger.handle_chain_event(block, log_index, event, now)?;
            n.after_clock(now);
            Ok(())
        })
    }

    /// A block was processed in full (see [`LedgerNode::handle_block`]); a virtual channel whose registered state's
    /// deadline the block passed is final on-chain, and its leaves are replaced by that outcome off-chain (S10).
    ///
    /// [`LedgerNode::handle_block`]: ferry_ledger::protocol::LedgerNode::handle_block
    pub fn handle_block(&mut self, number: u64, timestamp: u64, now: u64) -> Result<()> {
        self.input(now, |n| {
            n.ledger.handle_block(number, timestamp, now)?;
            // Only a V with a registered state and no on-chain outcome can be finalized by a block.
            let ids: Vec<B256> = n.index.awaiting.iter().copied().collect();
            for id in ids {
                if n.on_channel(id, |ch, cx| Ok(ch.final_by_deadline(cx, timestamp)))? {
                    n.progress(id, now);
                }
            }
            n.after_clock(now);
            Ok(())
        })
    }

    /// The chain reorganized from block `fork` on, below the blocks read (up to `read_up_to`): see
    /// [`ferry_ledger::protocol::LedgerNode::rewind`]. The ledger channels that applied events from the replaced
    /// blocks sign nothing until the new chain was read past them, and the cursor goes back to `fork`. A V's own
    /// events read again (a registration, a progress) change nothing it did not already do. Returns how many
    /// ledger channels replay.
    pub fn rewind(&mut self, fork: u64, read_up_to: u64, now: u64) -> Result<usize> {
        self.input(now, |n| {
            let count = n.ledger.rewind(fork, read_up_to, now)?;
            n.after_clock(now);
            Ok(count)
        })
    }

    /// Local time passed: the ledger's timers, and retries of leaf additions and removals.
    pub fn handle_timeout(&mut self, now: u64) -> Result<()> {
        self.input(now, |n| {
            n.ledger.handle_timeout(now)?;
            n.after_clock(now);
            n.prune(now)
        })
    }
}
