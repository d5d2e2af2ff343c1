//! A reorganization deeper than the confirmations: the events a channel applied from the replaced blocks are taken
//! back (the cumulative deposits and payouts they counted come off) and the new chain is read again from the fork
//! point. The channel signs nothing until the new chain shows every vanished event again (then it goes on); what is
//! already signed still answers on-chain meanwhile. A channel whose vanished events cannot all be named (more of
//! them than it keeps) never signs again off-chain.

use alloy::primitives::{Address, U256};
use ferry_contracts::IAdjudicator::IAdjudicatorEvents as Event;
use serde::{Deserialize, Serialize};

use super::{LedgerChannel, perr};
use crate::Result;
use crate::protocol::{LedgerEvent, ProtocolError};

/// Events kept per channel to take back after a reorganization (the newest). A channel with more events in the
/// replaced blocks than this cannot be replayed exactly and is frozen.
pub const RECENT_EVENTS: usize = 64;

/// What an adjudicator event told a channel, comparable between the old chain and the new one.
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
    /// A challenge registered with `version`, finalizing at `finalizes_at`.
    Challenged { version: u64, finalizes_at: u64 },
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
                version: e.state.version.to::<u64>(),
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

/// A replay in progress: the events that vanished and the new chain has not shown again yet; `until` is the newest
/// block read before the reorganization (reading past it without seeing them all is reported once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Replay {
    until: u64,
    missing: Vec<Fact>,
    reported: bool,
}

impl LedgerChannel {
    /// Records an event applied at `pos`; replaying, one the new chain shows again is struck off, and the replay
    /// ends when none is missing.
    pub(super) fn record_applied(&mut self, pos: (u64, u64), event: &Event) {
        let Some(fact) = Fact::of(event) else {
            return;
        };
        if let Some(r) = &mut self.replay {
            if let Some(i) = r.missing.iter().position(|f| *f == fact) {
                r.missing.swap_remove(i);
            }
            if r.missing.is_empty() {
                self.replay = None;
                self.events.push(LedgerEvent::Replayed {
                    channel_id: self.id,
                    unchanged: true,
                });
            }
        }
        if self.recent.len() >= RECENT_EVENTS {
            self.recent.remove(0);
            self.recent_truncated = true;
        }
        self.recent.push(Applied { pos, fact });
    }

    /// The chain reorganized from block `fork` on (every block at or above it read before is replaced), and the
    /// blocks read went up to `read_up_to`: takes back the events applied from those blocks and starts a replay.
    /// Returns whether the channel had applied any.
    pub(crate) fn rewind(&mut self, fork: u64, read_up_to: u64) -> bool {
        if self.last_event.is_none_or(|(block, _)| block < fork) {
            return false;
        }
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
                        && let Some(v) = entry.get_mut(*participant as usize)
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
        let count = vanished.len();
        // Events older than those kept may have vanished too: no exact replay then.
        let exact = !self.recent_truncated || self.recent.first().is_some_and(|a| a.pos.0 < fork);
        if !exact {
            self.reorged = true;
        }
        let facts = vanished.into_iter().map(|a| a.fact);
        match &mut self.replay {
            Some(r) => {
                r.until = r.until.max(read_up_to);
                r.missing.extend(facts);
                r.reported = false;
            }
            None => {
                self.replay = Some(Replay {
                    until: read_up_to,
                    missing: facts.collect(),
                    reported: false,
                });
            }
        }
        if self.replay.as_ref().is_some_and(|r| r.missing.is_empty()) {
            // Only events no channel acts on vanished.
            self.replay = None;
        }
        if count > 0 || self.reorged {
            self.events.push(LedgerEvent::Reorganized {
                channel_id: self.id,
                vanished: count,
            });
        }
        true
    }

    /// Block `number` was read: a replay that read past the replaced blocks without the new chain showing every
    /// vanished event is reported, once (the channel keeps signing nothing until they show). Returns whether it
    /// was.
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
                "the new chain does not show every event it acted on yet",
            )));
        }
        Ok(())
    }

    /// Whether this channel signs nothing because of a reorganization: replaying (until the new chain shows every
    /// vanished event again) or for good (more of its events vanished than it keeps).
    pub fn reorganized(&self) -> bool {
        self.reorged || self.replay.is_some()
    }
}
