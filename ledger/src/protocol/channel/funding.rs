//! Opening and funding a channel, and topping it up later: the checks at open and accept (S1 params and ids, S6
//! durations, S13 a ledger without app or moves, the open policy and token list), deposits in participant order
//! against each participant's own cumulative deposit (S16), the post-fund state, the funding timeout, and top-ups,
//! counted in a state only once the chain shows them (S12).

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_contracts::{ChannelParams, KIND_LEDGER, Signature, State};

use super::liveness::TxKey;
use super::{Env, LedgerChannel, Pending, Phase, Role, perr};
use crate::channel::funded_asset;
use crate::params;
use crate::protocol::ops::{Op, Proposal};
use crate::protocol::{ChainTx, LedgerEvent, LedgerMessage, OpenRefusal, ProtocolError};
use crate::signature::recover;
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{Error, Result, SignedState, outcome};

impl LedgerChannel {
    /// The params checks at open and accept: valid for this chain and adjudicator (S1, S2, S13), a two-party ledger,
    /// challenge durations within this node's policy (S6). Returns the channel id.
    fn check_params(env: &Env<'_>, params: &ChannelParams) -> Result<B256> {
        let id = params::validate_for(params, env.ctx.chain_id, env.ctx.adjudicator)?;
        if params.kind != KIND_LEDGER {
            return Err(Error::WrongKind("a ledger channel"));
        }
        if params.participants.len() != 2 {
            return Err(Error::InvalidParams(2));
        }
        env.config.durations.check(params)?;
        Ok(id)
    }

    /// Starts opening a channel as its participant 0: checks the params and the amounts each participant will
    /// deposit (per asset), signs the pre-fund state and queues the `Open` message.
    pub(crate) fn open(
        env: &Env<'_>,
        params: ChannelParams,
        amounts: &[(Address, [U256; 2])],
        now: u64,
    ) -> Result<Self> {
        let id = Self::check_params(env, &params)?;
        if params.participants[0] != env.signer.address() {
            return Err(perr(ProtocolError::NotParticipant(
                "participant 0 (the opener)",
            )));
        }
        let mut sorted = amounts.to_vec();
        sorted.sort_by_key(|(a, _)| *a);
        if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(perr(ProtocolError::InvalidPrefund(
                "an asset is listed twice",
            )));
        }
        let assets = sorted
            .iter()
            .map(|(a, v)| funded_asset(*a, v.to_vec()))
            .collect();
        let prefund = crate::channel::state(&params, 0, assets, Bytes::new(), false);
        outcome::validate(&prefund.outcome, 2, KIND_LEDGER)?;
        let sig = env.signer.sign_state(env.ctx, &prefund);
        let leader = Role::Leader.index();
        let mut ch = Self::blank(params.clone(), id, leader, prefund.clone(), Phase::Proposed);
        ch.pending = Some(Pending {
            state: prefund.clone(),
            sigs: [Some(sig.clone()), None],
            batch: vec![],
            undo: vec![],
        });
        ch.out.push(LedgerMessage::Open {
            params,
            prefund,
            sig,
        });
        ch.start_waiting(env, now);
        Ok(ch)
    }

    /// Accepts a peer's `Open` as participant 1 after checking it in full (params S1/S6, the pre-fund state, the
    /// opener's signature, the open policy); countersigns the pre-fund state.
    pub(crate) fn accept(
        env: &Env<'_>,
        from: Address,
        params: ChannelParams,
        prefund: State,
        sig: Signature,
        now: u64,
    ) -> Result<Self> {
        let id = Self::check_params(env, &params)?;
        if params.participants[1] != env.signer.address() {
            return Err(perr(ProtocolError::NotParticipant("participant 1")));
        }
        if params.participants[0] != from {
            return Err(perr(ProtocolError::NotPeer(from)));
        }
        if prefund.channelId != id {
            return Err(Error::WrongChannel {
                got: prefund.channelId,
                expected: id,
            });
        }
        if version_of(&prefund) != 0 || prefund.isFinal || !prefund.appData.is_empty() {
            return Err(perr(ProtocolError::InvalidPrefund(
                "it must be version 0, not final, without app data",
            )));
        }
        outcome::validate(&prefund.outcome, 2, KIND_LEDGER)?;
        if prefund.outcome.subRoot != ferry_contracts::empty_root()
            || prefund.outcome.assets.iter().any(|a| {
                !a.locked.is_zero()
                    || a.withdrawn.iter().any(|w| !w.is_zero())
                    || a.balances != a.deposited
            })
        {
            return Err(perr(ProtocolError::InvalidPrefund(
                "balances must equal deposits, with nothing locked or withdrawn",
            )));
        }
        let open = &env.config.open;
        if !open.accept {
            return Err(perr(ProtocolError::OpenRefused(
                OpenRefusal::AcceptsNoOpens,
            )));
        }
        // S16 for strangers: the opener deposits first, and something of every asset this node deposits, so an
        // open costs its opener funds and gas before it costs this node any.
        let Some(first) = prefund.outcome.assets.first() else {
            return Err(perr(ProtocolError::OpenRefused(OpenRefusal::NoAssets)));
        };
        if let Some(a) = prefund
            .outcome
            .assets
            .iter()
            .find(|a| a.deposited[0].is_zero() && !a.deposited[1].is_zero())
            .or(prefund
                .outcome
                .assets
                .iter()
                .all(|a| a.deposited[0].is_zero())
                .then_some(first))
        {
            return Err(perr(ProtocolError::OpenRefused(
                OpenRefusal::OpenerDepositsNothing { asset: a.asset },
            )));
        }
        if let Some(a) = prefund
            .outcome
            .assets
            .iter()
            .find(|a| !open.allows(&a.asset))
        {
            return Err(perr(ProtocolError::AssetNotAccepted(a.asset)));
        }
        if let Some(a) = prefund
            .outcome
            .assets
            .iter()
            .find(|a| a.deposited[1] > open.max_own_deposit)
        {
            return Err(perr(ProtocolError::OpenRefused(
                OpenRefusal::DepositAboveLimit {
                    asset: a.asset,
                    asked: a.deposited[1],
                    limit: open.max_own_deposit,
                },
            )));
        }
        let digest = env.ctx.digest(&prefund);
        if recover(&digest, &sig)? != from {
            return Err(Error::WrongSigner { index: 0 });
        }
        let ours = env.signer.sign_digest(&digest);
        let follower = Role::Follower.index();
        let mut ch = Self::blank(params, id, follower, prefund.clone(), Phase::Funding);
        ch.supported = Some(SignedState {
            state: prefund,
            sigs: vec![sig, ours.clone()],
        });
        ch.out.push(LedgerMessage::Sign {
            channel_id: id,
            version: 0,
            sig: ours,
            have_yours: true,
        });
        ch.events.push(LedgerEvent::OpenAccepted { channel_id: id });
        ch.drive(env, now);
        Ok(ch)
    }

    /// Funding: this node's deposits (participant 0 first, then 1, each against its own cumulative deposit, S16), the
    /// funding timeout, and the post-fund state once every deposit is on-chain.
    pub(super) fn drive_funding(&mut self, env: &Env<'_>, now: u64) {
        let me = usize::from(self.me);
        let since = *self.funding_since.get_or_insert(now);
        let mut all_in = true;
        for a in self.prefund.outcome.assets.clone() {
            let need = a.deposited[me];
            let have = self.deposited_on_chain(&a.asset, me);
            let first_done = self.deposited_on_chain(&a.asset, 0) >= a.deposited[0];
            if self.deposited_on_chain(&a.asset, 0) < a.deposited[0]
                || self.deposited_on_chain(&a.asset, 1) < a.deposited[1]
            {
                all_in = false;
            }
            // S16: against this participant's own cumulative deposit (`have`). One deposit per asset is in flight
            // at a time: the contract takes what is missing up to `expected_held + amount` whatever landed for us
            // meanwhile, so a stranger's deposit for us never calls for another transaction (nor gas); a deposit
            // that failed is asked for again with the total the chain shows then.
            if need > have && (me == 0 || first_done) && self.once(TxKey::Deposit(a.asset)) {
                self.deposit_sent = true;
                self.txs.push(ChainTx::Deposit {
                    channel_id: self.id,
                    asset: a.asset,
                    participant: self.me,
                    expected_held: have,
                    amount: need - have,
                });
            }
        }
        if !all_in {
            // Wake up now and then while funding: a deposit that failed is asked for again.
            if self.resend_at.is_none() {
                self.resend_at = Some(now.saturating_add(env.config.max_resend_ms));
            }
            if now >= since.saturating_add(env.config.funding_timeout_ms)
                && !self.unresponsive_reported
            {
                self.funding_timed_out(env);
                return;
            }
        }
        if all_in
            && self.pending.is_none()
            && self.supported.as_ref().is_some_and(|s| s.version() == 0)
        {
            let mut postfund = self.prefund.clone();
            postfund.version = crate::state::version(1).unwrap_or_default();
            let Ok(sig) = self.sign(env, &postfund) else {
                return;
            };
            let mut sigs = [None, None];
            sigs[me] = Some(sig.clone());
            sigs[1 - me] = self.early_postfund.take();
            let have_yours = sigs[1 - me].is_some();
            self.out.push(LedgerMessage::Sign {
                channel_id: self.id,
                version: 1,
                sig,
                have_yours,
            });
            let pending = Pending {
                state: postfund,
                sigs,
                batch: vec![],
                undo: vec![],
            };
            if have_yours {
                self.complete(env, pending, now);
            } else {
                self.pending = Some(pending);
                self.start_waiting(env, now);
            }
        }
    }

    /// The channel stayed in funding for `funding_timeout_ms`: with nothing of this node's on-chain it is dropped;
    /// otherwise the peer counts as unresponsive and, with `auto_dispute`, the pre-fund state is registered (its
    /// payout gives each side back its own deposits).
    fn funding_timed_out(&mut self, env: &Env<'_>) {
        // Decided by this node's own funding deposits (sent, persisted, or on-chain in full), never by what others
        // deposited in its slot: a stranger's dust must not turn a drop into a challenge paid by this node.
        let me = usize::from(self.me);
        let mine_in = self.prefund.outcome.assets.iter().any(|a| {
            !a.deposited[me].is_zero() && self.deposited_on_chain(&a.asset, me) >= a.deposited[me]
        });
        self.unresponsive_reported = true;
        if !mine_in && !self.deposit_sent {
            self.phase = Phase::Failed;
            self.stop_waiting();
            self.pending = None;
            self.events.push(LedgerEvent::OpenFailed {
                channel_id: self.id,
                reason: "the channel was not funded in time".into(),
            });
            return;
        }
        self.events.push(LedgerEvent::PeerUnresponsive {
            channel_id: self.id,
        });
        if env.config.auto_dispute && self.dispute.is_none() {
            let _ = self.dispute(env);
        }
    }

    /// Deposits more of `asset` on-chain; once the chain shows it, the top-up is counted in the next state.
    pub(crate) fn top_up(&mut self, asset: Address, amount: U256) -> Result<()> {
        if self.phase != Phase::Running {
            return Err(self.wrong_phase("a top-up needs a running channel"));
        }
        if amount.is_zero() {
            return Err(perr(ProtocolError::ZeroAmount));
        }
        // S16: `expectedHeld` is this participant's own cumulative deposit, so nobody else's deposit changes
        // what the adjudicator takes.
        let mine = self.deposited_on_chain(&asset, usize::from(self.me));
        self.topup_assets.insert(asset);
        self.txs.push(ChainTx::Deposit {
            channel_id: self.id,
            asset,
            participant: self.me,
            expected_held: mine,
            amount,
        });
        Ok(())
    }

    /// Whether the chain shows every deposit the top-ups of `batch` count, on top of `base`.
    pub(super) fn topups_confirmed(&self, base: &State, batch: &[Proposal]) -> bool {
        let mut need: BTreeMap<(Address, u8), U256> = BTreeMap::new();
        for p in batch {
            if let Op::TopUp {
                participant,
                asset,
                amount,
            } = &p.op
            {
                let e = need.entry((*asset, *participant)).or_insert_with(|| {
                    base.outcome
                        .assets
                        .iter()
                        .find(|a| a.asset == *asset)
                        .and_then(|a| a.deposited.get(usize::from(*participant)).copied())
                        .unwrap_or_default()
                });
                *e = e.saturating_add(*amount);
            }
        }
        need.iter().all(|((asset, p), total)| {
            self.chain_deposited
                .get(asset)
                .and_then(|d| d.get(usize::from(*p)))
                .is_some_and(|have| have >= total)
        })
    }

    /// Proposes (leader) or requests (follower) a top-up for what the chain shows of this node's own deposits beyond
    /// what the supported state and the operations in flight count, in assets the channel holds or the user topped up
    /// with, and not again after the peer refused it until the total grows.
    pub(super) fn count_own_top_ups(&mut self, env: &Env<'_>, table: &mut SubTree, now: u64) {
        let me = usize::from(self.me);
        let Some(base) = self.supported.as_ref().map(|s| s.state.clone()) else {
            return;
        };
        let assets: Vec<(Address, U256)> = self
            .chain_deposited
            .iter()
            .map(|(a, d)| (*a, d[me]))
            .collect();
        for (asset, on_chain) in assets {
            // Only assets the channel holds or this node's user topped up with: a stranger's deposit of any other
            // token (even one this node lists, which the peer may not) is left to `withdrawUnlisted` at the close.
            let listed = base.outcome.assets.iter().any(|a| a.asset == asset);
            if !listed && !self.topup_assets.contains(&asset) {
                continue;
            }
            if self
                .topup_refused
                .get(&asset)
                .is_some_and(|t| *t >= on_chain)
            {
                continue;
            }
            let mut known = base
                .outcome
                .assets
                .iter()
                .find(|a| a.asset == asset)
                .map(|a| a.deposited[me])
                .unwrap_or_default();
            let in_flight = self
                .pending
                .iter()
                .flat_map(|p| p.batch.iter())
                .chain(self.queue.iter())
                .chain(self.requests.iter());
            for p in in_flight {
                if let Op::TopUp {
                    participant,
                    asset: a,
                    amount,
                } = &p.op
                    && usize::from(*participant) == me
                    && *a == asset
                {
                    known = known.saturating_add(*amount);
                }
            }
            if on_chain > known {
                let op = Op::TopUp {
                    participant: self.me,
                    asset,
                    amount: on_chain - known,
                };
                if let Err(e) = self.submit(env, table, op.clone(), now) {
                    self.events.push(LedgerEvent::Refused {
                        channel_id: self.id,
                        op,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// A top-up of this node's that the peer refused: not proposed again until its on-chain total grows, and an
    /// asset the channel does not hold is no longer counted (the user's top-up was answered; a stranger's drip of
    /// it must not make this node propose it again and again).
    pub(super) fn note_refused_top_up(&mut self, op: &Op) {
        if let Op::TopUp {
            asset, participant, ..
        } = op
            && *participant == self.me
        {
            self.topup_assets.remove(asset);
            let total = self.deposited_on_chain(asset, usize::from(self.me));
            self.topup_refused.insert(*asset, total);
        }
    }
}
