//! A reorganization deeper than the confirmations: the events a channel applied from the replaced blocks are taken
//! back (the cumulative deposits and payouts they counted come off; a challenge, checkpoint or conclusion that
//! vanished is undone, so the channel's dispute is what the events it keeps show) and the new chain is read again
//! from the fork point. A vanished deposit is what later signatures rest on (a post-fund, a top-up counted): the
//! channel signs nothing until the chain shows each participant's deposits at least as high as before. A vanished
//! challenge, checkpoint or conclusion is not waited for: the states they carried are signed by both whatever
//! the chain does, and the channel acts on the dispute the chain it keeps shows. What is already signed still
//! answers on-chain meanwhile, and every transaction due is asked for again. A channel whose vanished events cannot
//! all be named (more of them than it keeps) never signs again off-chain.

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use ferry_contracts::IAdjudicator::IAdjudicatorEvents as Event;
use serde::{Deserialize, Serialize};

use super::{Env, LedgerChannel, Phase, perr};
use crate::protocol::{LedgerEvent, ProtocolError};
use crate::sub_tree::SubTree;
use crate::{Result, SignedState};

/// Events kept per channel to take back after a reorganization (the newest). A channel with more events in the
/// replaced blocks than this cannot be replayed exactly and is frozen.
pub const RECENT_EVENTS: usize = 64;

/// What an adjudicator event told a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Fact {
    /// `taken` of `asset` deposited for participant `participant`.
    Deposited {
        asset: Address,
        participant: u64,
        taken: U256,
    },
    /// `amount` of `asset` paid out to `to`.
    Withdrawn {
        asset: Address,
        to: Address,
        amount: U256,
    },
    /// A challenge registered `registered`, finalizing at `finalizes_at`.
    Challenged {
        registered: SignedState,
        finalizes_at: u64,
    },
    /// A checkpoint of `version`.
    Checkpointed { version: u64 },
    /// A conclusion at `version`.
    Concluded { version: u64 },
}

impl Fact {
    /// The fact an event states; `None` for events no channel acts on.
    pub(crate) fn of(event: &Event) -> Option<Self> {
        Some(match event {
            Event::Deposited(e) => Fact::Deposited {
                asset: e.asset,
                participant: e.participant.to::<u64>(),
                taken: e.taken,
            },
            Event::Withdrawn(e) => Fact::Withdrawn {
                asset: e.asset,
                to: e.to,
                amount: e.amount,
            },
            Event::ChallengeRegistered(e) => Fact::Challenged {
                registered: SignedState {
                    state: e.state.clone(),
                    sigs: e.sigs.clone(),
                },
                finalizes_at: e.finalizesAt.to::<u64>(),
            },
            Event::Checkpointed(e) => Fact::Checkpointed {
                version: e.version.to::<u64>(),
            },
            Event::Concluded(e) => Fact::Concluded {
                version: e.version.to::<u64>(),
            },
            _ => return None,
        })
    }
}

/// An event this channel applied, at its chain position (block, log index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Applied {
    pub(crate) pos: (u64, u64),
    pub(crate) fact: Fact,
}

/// A replay in progress: until the chain shows each participant's deposits at least at `deposited_floor` (what it
/// showed before the reorganization), nothing is signed. `until` is the newest block read before the
/// reorganization (reading past it still waiting is reported once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Replay {
    until: u64,
    deposited_floor: BTreeMap<Address, [U256; 2]>,
    reported: bool,
}

impl LedgerChannel {
    /// Records an event applied at `pos`.
    pub(super) fn record_applied(&mut self, pos: (u64, u64), event: &Event) {
        let Some(fact) = Fact::of(event) else {
            return;
        };
        if self.recent.len() >= RECENT_EVENTS {
            self.recent.remove(0);
            self.recent_truncated = true;
        }
        self.recent.push(Applied { pos, fact });
    }

    /// Ends the replay when the chain shows again everything it waits for (called once an event's effects are
    /// counted).
    pub(super) fn end_replay_if_whole(&mut self) {
        let Some(r) = &self.replay else {
            return;
        };
        let deposits_back = r.deposited_floor.iter().all(|(asset, floor)| {
            let now = self.chain_deposited.get(asset).copied().unwrap_or_default();
            now[0] >= floor[0] && now[1] >= floor[1]
        });
        if deposits_back {
            self.replay = None;
            self.events.push(LedgerEvent::Replayed {
                channel_id: self.id,
                unchanged: true,
            });
        }
    }

    /// Whether this channel applied an event from block `fork` on.
    pub(crate) fn applied_from(&self, fork: u64) -> bool {
        self.last_event.is_some_and(|(block, _)| block >= fork)
    }

    /// The chain reorganized from block `fork` on (every block at or above it read before is replaced), and the
    /// blocks read went up to `read_up_to`: takes back the events applied from those blocks and, when a deposit
    /// was among them, starts a replay. Returns whether the channel had applied any event there.
    pub(crate) fn rewind(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        fork: u64,
        read_up_to: u64,
        now: u64,
    ) -> Result<bool> {
        if !self.applied_from(fork) {
            return Ok(false);
        }
        let deposited_before = self.chain_deposited.clone();
        let (vanished, kept): (Vec<Applied>, Vec<Applied>) = std::mem::take(&mut self.recent)
            .into_iter()
            .partition(|a| a.pos.0 >= fork);
        self.recent = kept;
        for a in &vanished {
            match &a.fact {
                Fact::Deposited {
                    asset,
                    participant,
                    taken,
                } => {
                    if let Some(entry) = self.chain_deposited.get_mut(asset)
                        && let Some(v) = usize::try_from(*participant)
                            .ok()
                            .and_then(|p| entry.get_mut(p))
                    {
                        *v = v.saturating_sub(*taken);
                    }
                }
                Fact::Withdrawn { asset, to, amount } => {
                    if let Some(i) = self.params.participants.iter().position(|p| p == to)
                        && let Some(entry) = self.chain_withdrawn.get_mut(asset)
                    {
                        entry[i] = entry[i].saturating_sub(*amount);
                    }
                }
                _ => {}
            }
        }
        // Events before the fork stay applied; the new chain's from the fork on are applied as they are read.
        self.last_event = fork.checked_sub(1).map(|b| (b, u64::MAX));
        // Events older than those kept may have vanished too: no exact replay then.
        let exact = !self.recent_truncated || self.recent.first().is_some_and(|a| a.pos.0 < fork);
        if !exact {
            self.reorged = true;
        }
        let disputes_vanished = vanished.iter().any(|a| {
            matches!(
                a.fact,
                Fact::Challenged { .. } | Fact::Checkpointed { .. } | Fact::Concluded { .. }
            )
        });
        if disputes_vanished && exact {
            self.undo_dispute_events(env, table, now)?;
        }
        let deposits_vanished = vanished
            .iter()
            .any(|a| matches!(a.fact, Fact::Deposited { .. }));
        if deposits_vanished {
            match &mut self.replay {
                Some(r) => {
                    r.until = r.until.max(read_up_to);
                    r.reported = false;
                    for (asset, before) in deposited_before {
                        let floor = r.deposited_floor.entry(asset).or_default();
                        floor[0] = floor[0].max(before[0]);
                        floor[1] = floor[1].max(before[1]);
                    }
                }
                None => {
                    self.replay = Some(Replay {
                        until: read_up_to,
                        deposited_floor: deposited_before,
                        reported: false,
                    });
                }
            }
        }
        if !vanished.is_empty() || self.reorged {
            self.events.push(LedgerEvent::Reorganized {
                channel_id: self.id,
                vanished: vanished.len(),
            });
        }
        // Every transaction due is asked for again (each is safe to repeat): a deposit or payout that vanished, an
        // answer to a challenge whose checkpoint vanished.
        self.submitted.clear();
        self.drive(env, now);
        Ok(true)
    }

    /// The dispute, checkpoint and conclusion events kept (those before the fork) decide again where the channel
    /// is on-chain: a challenge whose checkpoint vanished is live again (and answered), one that vanished is gone
    /// (with the finalization its deadline brought), and so is a conclusion that vanished.
    fn undo_dispute_events(&mut self, env: &Env<'_>, table: &mut SubTree, now: u64) -> Result<()> {
        let mut live: Option<(SignedState, u64)> = None;
        let mut concluded_at = None;
        for a in &self.recent {
            match &a.fact {
                Fact::Challenged {
                    registered,
                    finalizes_at,
                } => live = Some((registered.clone(), *finalizes_at)),
                Fact::Checkpointed { .. } => live = None,
                Fact::Concluded { version } => concluded_at = Some(*version),
                _ => {}
            }
        }
        if self.concluded && concluded_at.is_none() {
            self.concluded = false;
            self.finalized = None;
            self.finalized_since = None;
        }
        if let Some(c) = concluded_at {
            // Still concluded on the chain it keeps: nothing to undo.
            self.concluded = true;
            self.finalized = Some(c);
            return Ok(());
        }
        match live {
            None => {
                // No challenge stands: not disputed, and not finalized by one's deadline.
                // (Not concluded either: a conclusion kept returned above.)
                if self.dispute.take().is_some() {
                    self.finalized = None;
                    self.finalized_since = None;
                }
            }
            Some((registered, finalizes_at)) => {
                let same = self
                    .dispute
                    .as_ref()
                    .is_some_and(|d| d.registered == registered && d.finalizes_at == finalizes_at);
                if !same {
                    self.finalized = None;
                    self.finalized_since = None;
                    self.dispute = None;
                    self.phase = self.phase_off_chain();
                    // As when it was read first: adopts a newer state it shows, abandons what is in flight.
                    self.on_challenge(env, table, registered, finalizes_at, now)?;
                }
            }
        }
        if self.finalized.is_none() {
            self.phase = if self.dispute.is_some() {
                Phase::Disputed
            } else {
                self.phase_off_chain()
            };
        }
        Ok(())
    }

    /// Where the channel is with nothing on-chain: closing once a final is signed by both, else running (a
    /// channel still funding stays so).
    fn phase_off_chain(&self) -> Phase {
        match self.phase {
            Phase::Proposed | Phase::Funding | Phase::Failed => self.phase,
            _ if self.supported.as_ref().is_some_and(|s| s.state.isFinal) => Phase::Closing,
            _ => Phase::Running,
        }
    }

    /// Block `number` was read: a replay that read past the replaced blocks without the chain showing the deposits
    /// again is reported, once (the channel keeps signing nothing until it does). Returns whether it was.
    pub(crate) fn replay_block(&mut self, number: u64) -> bool {
        let Some(r) = &mut self.replay else {
            return false;
        };
        if number < r.until || r.reported {
            return false;
        }
        r.reported = true;
        self.events.push(LedgerEvent::Replayed {
            channel_id: self.id,
            unchanged: false,
        });
        true
    }

    /// Whether a replay is in progress.
    pub(crate) fn replaying(&self) -> bool {
        self.replay.is_some()
    }

    /// Refuses to sign while a reorganization's replay runs or after one changed what this channel acted on.
    pub(super) fn check_not_reorganized(&self) -> Result<()> {
        if self.reorged {
            return Err(perr(ProtocolError::Reorganized(
                "more of its events vanished than it keeps",
            )));
        }
        if self.replay.is_some() {
            return Err(perr(ProtocolError::Reorganized(
                "the new chain does not show the deposits it acted on yet",
            )));
        }
        Ok(())
    }

    /// Whether this channel signs nothing because of a reorganization: replaying (until the chain shows the
    /// deposits it showed before) or for good (more of its events vanished than it keeps).
    pub fn reorganized(&self) -> bool {
        self.reorged || self.replay.is_some()
    }
}
