//! Model 2 (a hub): the chain world, both ledgers and V on one clock, V's on-chain record and its entry points
//! (`challenge`, `conclude`, the leaves' `claim`) with the contract's rules.

use alloy::primitives::B256;
use alloy::primitives::aliases::U48;
use ferry_ledger::SignedState;
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};
use ferry_ledger::contracts::{ChannelParams, State};
use ferry_ledger::support::{self, Registered};
use ferry_virtual::protocol::{Tx as VTx, VirtualTx};

use super::chain::{Chain, Tx};
use super::hub_model::HubModel;
use super::{ETH, WINDOW, amounts, ctx, n, version};

/// V's on-chain record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(super) struct VChain {
    pub(super) version: u64,
    pub(super) finalizes_at: u64,
    pub(super) registered: Option<State>,
    pub(super) certified: Option<B256>,
}

impl VChain {
    pub(super) fn finalized(&self, time: u64) -> bool {
        self.finalizes_at != 0 && time >= self.finalizes_at
    }

    pub(super) fn pending(&self, time: u64) -> bool {
        self.finalizes_at != 0 && time < self.finalizes_at
    }
}

/// The chain world of model 2: both ledgers and V, with a shared clock.
pub(super) struct World<'a> {
    pub(super) m: &'a HubModel,
    pub(super) ledgers: &'a mut [Chain; 2],
    pub(super) v: &'a mut VChain,
}

impl World<'_> {
    pub(super) fn time(&self) -> u64 {
        self.ledgers[0].time
    }

    pub(super) fn block(&mut self) -> u64 {
        let b = self.ledgers[0].block.max(self.ledgers[1].block) + 1;
        self.ledgers[0].block = b;
        self.ledgers[1].block = b;
        b
    }

    fn ledger_of(&self, id: &B256) -> Option<usize> {
        self.m.lids.iter().position(|l| l == id)
    }

    /// Applies a transaction; returns the block's events.
    pub(super) fn apply(&mut self, tx: &VTx) -> Result<Vec<Ev>, String> {
        match tx {
            VTx::Ledger(t) => {
                let k = self.ledger_of(&t.channel_id()).ok_or("unknown ledger")?;
                self.ledgers[k].apply(&self.m.lparams[k], &Tx::of(t))
            }
            VTx::Virtual(VirtualTx::Challenge {
                params,
                state,
                cert,
            }) => self.v_challenge(params, state, cert.as_ref()),
            VTx::Virtual(VirtualTx::Conclude { params, state }) => self.v_conclude(params, state),
            VTx::Virtual(VirtualTx::Claim {
                ledger,
                ledger_state,
                leaf,
                proof,
                virt,
                virt_state,
            }) => self.claim(ledger, ledger_state, leaf, proof, virt, virt_state),
            VTx::Virtual(VirtualTx::Progress { .. }) => Err("progress: a hub never moves".into()),
            // The model's params name no challenge bond (S17): none is ever held.
            VTx::Virtual(VirtualTx::ReclaimBond { .. }) => Err("NoBond".into()),
        }
    }

    fn v_challenge(
        &mut self,
        params: &ChannelParams,
        s: &SignedState,
        cert: Option<&ferry_ledger::Certificate>,
    ) -> Result<Vec<Ev>, String> {
        let time = self.time();
        if self.v.finalized(time) {
            return Err("ChannelFinalized".into());
        }
        let registered = Registered {
            version: self.v.version,
            pending: self.v.pending(time),
            certified_totals: self.v.certified,
        };
        let newly = support::check_challenge(&ctx(), params, &s.state, &s.sigs, cert, &registered)
            .map_err(|e| e.to_string())?;
        if newly.is_some() {
            self.v.certified = newly;
        }
        if !self.v.pending(time) {
            self.v.finalizes_at = time + WINDOW;
        }
        self.v.version = version(&s.state);
        self.v.registered = Some(s.state.clone());
        Ok(vec![Ev::ChallengeRegistered(
            IAdjudicator::ChallengeRegistered {
                channelId: self.m.vid,
                finalizesAt: U48::from(self.v.finalizes_at),
                state: s.state.clone(),
                sigs: s.sigs.clone(),
            },
        )])
    }

    fn v_conclude(&mut self, params: &ChannelParams, s: &SignedState) -> Result<Vec<Ev>, String> {
        let time = self.time();
        if self.v.finalized(time) {
            return Err("ChannelFinalized".into());
        }
        // A whole-path final of V concludes over any registered version (S5).
        support::check_final(&ctx(), params, &s.state, &s.sigs, 0).map_err(|e| e.to_string())?;
        self.v.version = version(&s.state);
        self.v.finalizes_at = time;
        self.v.registered = Some(s.state.clone());
        Ok(vec![Ev::Concluded(IAdjudicator::Concluded {
            channelId: self.m.vid,
            version: U48::from(self.v.version),
        })])
    }

    fn claim(
        &mut self,
        ledger: &ChannelParams,
        ledger_state: &State,
        leaf: &ferry_ledger::SubAlloc,
        proof: &ferry_ledger::LeafProof,
        virt: &ChannelParams,
        virt_state: &State,
    ) -> Result<Vec<Ev>, String> {
        let time = self.time();
        let k = self
            .ledger_of(&ferry_ledger::contracts::channel_id(ledger))
            .ok_or("unknown ledger")?;
        let l = &self.ledgers[k];
        if !l.finalized() || !self.v.finalized(time) {
            return Err("NotFinalized".into());
        }
        if l.registered.as_ref() != Some(ledger_state)
            || self.v.registered.as_ref() != Some(virt_state)
        {
            return Err("WrongFingerprint".into());
        }
        if l.claimed > 0 {
            return Err("AlreadyClaimed".into());
        }
        let claim =
            support::check_claim(&ctx(), ledger, ledger_state, leaf, proof, virt, virt_state)
                .map_err(|e| e.to_string())?;
        let p = claim.payouts.first().ok_or("no asset")?;
        let amount = leaf
            .amounts
            .first()
            .map(|a| n(a.amount))
            .unwrap_or_default();
        let (_, _, _, locked) = amounts(ledger_state, 0);
        if amount > locked || amount > l.held() {
            return Err("ClaimExceedsLocked".into());
        }
        let left = claim.position.left_index;
        let l = &mut self.ledgers[k];
        l.claimed += u64::try_from(amount).unwrap_or_default();
        let mut events = vec![Ev::Claimed(IAdjudicator::Claimed {
            ledgerId: self.m.lids[k],
            virtualId: self.m.vid,
            asset: ETH,
            toLeft: p.to_left,
            toRight: p.to_right,
        })];
        for (idx, amt) in [(left, p.to_left), (1 - left, p.to_right)] {
            l.claims_paid[idx] += amt.to::<u64>();
            if !amt.is_zero() {
                events.push(Ev::Withdrawn(IAdjudicator::Withdrawn {
                    channelId: self.m.lids[k],
                    asset: ETH,
                    to: ledger.participants[idx],
                    amount: amt,
                }));
            }
        }
        Ok(events)
    }
}
