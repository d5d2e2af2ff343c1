//! The honest node's committed store (what survives a crash) and the abstract adjudicator: one ledger channel's
//! on-chain record, with the contract's rules and payout formulas.

use alloy::primitives::aliases::U48;
use ferry_ledger::SignedState;
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};
use ferry_ledger::contracts::{ChannelParams, State};
use ferry_ledger::protocol::{ChainTx, NS_CHANNELS, NS_CURSOR, NS_LEAVES};
use ferry_ledger::store::{Batch, MemoryStore, Store};
use ferry_ledger::support::{self, Registered};

use super::{ETH, WINDOW, amounts, ctx, u, version};

/// The honest node's committed store: everything it keeps across a crash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(super) struct Snapshot(Vec<(usize, Vec<u8>, Vec<u8>)>);

impl Snapshot {
    pub(super) fn of(store: &MemoryStore, namespaces: &[&'static str]) -> Self {
        let mut rows = Vec::new();
        for (i, ns) in namespaces.iter().enumerate() {
            for (k, v) in store.scan(ns, &[]).unwrap_or_default() {
                rows.push((i, k, v));
            }
        }
        Self(rows)
    }

    pub(super) fn restore(&self, namespaces: &[&'static str]) -> MemoryStore {
        let mut store = MemoryStore::new();
        let mut batch = Batch::new();
        for (i, k, v) in &self.0 {
            batch.put_raw(namespaces[*i], k.clone(), v.clone());
        }
        if !batch.is_empty()
            && let Err(e) = store.commit(batch)
        {
            panic!("restoring a snapshot: {e}");
        }
        store
    }
}

pub(super) const LEDGER_NS: [&str; 3] = [NS_CHANNELS, NS_LEAVES, NS_CURSOR];

/// A transaction for the abstract adjudicator (one ledger channel, ETH).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Tx {
    Deposit {
        p: usize,
        expected: u64,
        amount: u64,
    },
    Challenge(SignedState),
    Checkpoint(SignedState),
    Conclude {
        state: SignedState,
        withdraw: bool,
    },
    Withdraw(State),
    WithdrawPartial(SignedState, usize),
    /// An asset the state does not list: the model's one asset (ETH) is always listed, so the contract refuses it.
    WithdrawUnlisted,
    /// The model's params name no challenge bond (S17), so no bond is ever held and the contract refuses it.
    ReclaimBond,
}

impl Tx {
    pub(super) fn of(tx: &ChainTx) -> Self {
        match tx.clone() {
            ChainTx::Deposit {
                participant,
                expected_held,
                amount,
                ..
            } => Tx::Deposit {
                p: usize::from(participant),
                expected: expected_held.to::<u64>(),
                amount: amount.to::<u64>(),
            },
            ChainTx::ConcludeAndWithdraw { state, .. } => Tx::Conclude {
                state,
                withdraw: true,
            },
            ChainTx::Challenge { state, .. } => Tx::Challenge(state),
            ChainTx::Withdraw { state, .. } => Tx::Withdraw(state),
            ChainTx::WithdrawPartial {
                state, participant, ..
            } => Tx::WithdrawPartial(state, usize::from(participant)),
            ChainTx::WithdrawUnlisted { .. } => Tx::WithdrawUnlisted,
            ChainTx::ReclaimBond { .. } => Tx::ReclaimBond,
        }
    }
}

/// One ledger channel's on-chain record in the adjudicator, with the contract's rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(super) struct Chain {
    /// Chain time (seconds).
    pub(super) time: u64,
    /// The last block number used.
    pub(super) block: u64,
    /// On-chain cumulative deposits and withdrawals (payouts of `withdraw` and `withdrawPartial`) per participant.
    pub(super) dep: [u64; 2],
    pub(super) wd: [u64; 2],
    /// `status.version`, `status.finalizesAt` and the registered state (its fingerprint).
    pub(super) version: u64,
    pub(super) finalizes_at: u64,
    pub(super) registered: Option<State>,
    /// A payout the contract's formula computed above what the channel held (the cap bit).
    pub(super) overdraw: bool,
    /// Paid out by claims of sub-channel leaves, in all and to each participant.
    pub(super) claimed: u64,
    pub(super) claims_paid: [u64; 2],
}

impl Chain {
    pub(super) fn finalized(&self) -> bool {
        self.finalizes_at != 0 && self.time >= self.finalizes_at
    }

    pub(super) fn pending(&self) -> bool {
        self.finalizes_at != 0 && self.time < self.finalizes_at
    }

    pub(super) fn held(&self) -> i128 {
        i128::from(self.dep[0]) + i128::from(self.dep[1])
            - i128::from(self.wd[0])
            - i128::from(self.wd[1])
            - i128::from(self.claimed)
    }

    /// What `withdraw` may pay out in all: deposits minus withdrawals minus what the state locks in leaves (claims
    /// come out of the locked part).
    pub(super) fn available(&self, locked: i128) -> i128 {
        (self.held() + i128::from(self.claimed) - locked).max(0)
    }

    /// What `withdraw` with `state` pays participant `p` (the contract's formula, before the cap).
    pub(super) fn payout(&self, state: &State, p: usize) -> i128 {
        let (bal, dep, wd, _) = amounts(state, p);
        (bal + (i128::from(self.dep[p]) - dep) - (i128::from(self.wd[p]) - wd)).max(0)
    }

    /// Applies `tx` as the adjudicator does, or says why it reverts. Returns the events it emits.
    pub(super) fn apply(&mut self, params: &ChannelParams, tx: &Tx) -> Result<Vec<Ev>, String> {
        let ctx = ctx();
        let id = ferry_ledger::contracts::channel_id(params);
        let mut events = Vec::new();
        if self.finalized() && !matches!(tx, Tx::Withdraw(_)) {
            return Err("ChannelFinalized".into());
        }
        match tx {
            Tx::Deposit {
                p,
                expected,
                amount,
            } => {
                if self.dep[*p] < *expected {
                    return Err("HeldBelowExpected".into());
                }
                let taken = (expected + amount).saturating_sub(self.dep[*p]);
                self.dep[*p] += taken;
                events.push(Ev::Deposited(IAdjudicator::Deposited {
                    channelId: id,
                    asset: ETH,
                    participant: u(*p as u64),
                    taken: u(taken),
                    depositedTotal: u(self.dep[*p]),
                }));
            }
            Tx::Challenge(s) => {
                let registered = Registered {
                    version: self.version,
                    pending: self.pending(),
                    certified_totals: None,
                };
                support::check_challenge(&ctx, params, &s.state, &s.sigs, None, &registered)
                    .map_err(|e| e.to_string())?;
                if !self.pending() {
                    self.finalizes_at = self.time + WINDOW;
                }
                self.version = version(&s.state);
                self.registered = Some(s.state.clone());
                events.push(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
                    channelId: id,
                    finalizesAt: U48::from(self.finalizes_at),
                    state: s.state.clone(),
                    sigs: s.sigs.clone(),
                }));
            }
            Tx::Checkpoint(s) => {
                support::check_checkpoint(&ctx, params, &s.state, &s.sigs, self.version)
                    .map_err(|e| e.to_string())?;
                self.version = version(&s.state);
                self.finalizes_at = 0;
                self.registered = None;
                events.push(Ev::Checkpointed(IAdjudicator::Checkpointed {
                    channelId: id,
                    version: U48::from(self.version),
                    state: s.state.clone(),
                    sigs: s.sigs.clone(),
                }));
            }
            Tx::Conclude { state, withdraw } => {
                support::check_final(&ctx, params, &state.state, &state.sigs, self.version)
                    .map_err(|e| e.to_string())?;
                self.version = version(&state.state);
                self.finalizes_at = self.time;
                self.registered = Some(state.state.clone());
                events.push(Ev::Concluded(IAdjudicator::Concluded {
                    channelId: id,
                    version: U48::from(self.version),
                }));
                if *withdraw {
                    events.extend(self.withdraw(params, &state.state)?);
                }
            }
            Tx::Withdraw(state) => events.extend(self.withdraw(params, state)?),
            Tx::WithdrawUnlisted => return Err("AssetListed".into()),
            Tx::ReclaimBond => return Err("NoBond".into()),
            Tx::WithdrawPartial(s, p) => {
                support::check_withdraw_partial(&ctx, params, &s.state, &s.sigs, *p)
                    .map_err(|e| e.to_string())?;
                let (_, _, wd, locked) = amounts(&s.state, *p);
                let due = (wd - i128::from(self.wd[*p])).max(0);
                let cap = (self.held() - locked).max(0);
                if due > cap {
                    self.overdraw = true;
                }
                let paid = due.min(cap);
                if paid > 0 {
                    self.pay(params, *p, paid, &mut events);
                }
            }
        }
        Ok(events)
    }

    fn withdraw(&mut self, params: &ChannelParams, state: &State) -> Result<Vec<Ev>, String> {
        if !self.finalized() {
            return Err("NotFinalized".into());
        }
        if self.registered.as_ref() != Some(state) {
            return Err("WrongFingerprint".into());
        }
        let (_, _, _, locked) = amounts(state, 0);
        let mut available = self.available(locked);
        let mut events = Vec::new();
        for p in 0..2 {
            let payout = self.payout(state, p);
            if payout > available {
                self.overdraw = true;
            }
            let paid = payout.min(available);
            available -= paid;
            if paid > 0 {
                self.pay(params, p, paid, &mut events);
            }
        }
        Ok(events)
    }

    fn pay(&mut self, params: &ChannelParams, p: usize, amount: i128, events: &mut Vec<Ev>) {
        let amount = u64::try_from(amount).unwrap_or_default();
        self.wd[p] += amount;
        events.push(Ev::Withdrawn(IAdjudicator::Withdrawn {
            channelId: ferry_ledger::contracts::channel_id(params),
            asset: ETH,
            to: params.participants[p],
            amount: u(amount),
        }));
    }
}
