//! Payments in a payment channel: the payer's voucher for its new cumulative total, the payee's checks of it, and
//! the payee's redeem of its vouchers on-chain by one netted `progress` move on V's registered state (S7).

use alloy::primitives::{Address, U256};
use ferry_ledger::app::App;
use ferry_ledger::app::payment::{PaymentApp, sign_voucher, verify_voucher, voucher};
use ferry_ledger::store::Store;
use ferry_ledger::{Signature, State};

use super::super::{MoveError, VirtualError, VirtualEvent, VirtualMessage, VirtualTx};
use super::{NodeContext, VirtualChannel, VirtualPhase, verr};
use crate::Result;

impl VirtualChannel {
    /// Pays `amount` of `asset` to the other endpoint by a voucher for the new cumulative total.
    pub(crate) fn pay<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        asset: Address,
        amount: U256,
    ) -> Result<()> {
        let other = self
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if !self.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        // Once V is registered on-chain it only finalizes: a voucher the payee gets after the registration it
        // redeems on could never count there.
        if self.phase != VirtualPhase::Open || self.registered.is_some() {
            return Err(verr(VirtualError::Settling));
        }
        if !cx.app_of(&self.params)?.is_payment() {
            return Err(verr(VirtualError::InvalidMove(
                MoveError::NotPaymentChannel,
            )));
        }
        let j = self
            .asset_index(&asset)
            .ok_or(verr(VirtualError::InvalidState("asset not in the channel")))?;
        if amount.is_zero() || self.balance(j) < amount {
            return Err(verr(VirtualError::InsufficientFunds));
        }
        let cumulative = self.paid[j] + amount;
        let sig = sign_voucher(cx.signer, &self.params, asset, cumulative);
        let to = self.params.participants[other];
        self.paid[j] = cumulative;
        cx.send(
            to,
            VirtualMessage::Voucher {
                channel_id: self.id,
                asset,
                cumulative,
                sig,
            },
        );
        Ok(())
    }

    /// The checks of a voucher from `from` made before its signature's: the asset's index, or `None` for an old or
    /// repeated voucher (nothing to count). Shared with the prediction of what a message will make this member
    /// recover (`ahead.rs`), so nothing is recovered ahead for a voucher refused before its signature.
    pub(super) fn voucher_checks(
        &self,
        from: Address,
        asset: &Address,
        cumulative: U256,
    ) -> Result<Option<usize>> {
        let payer_index = self
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if from != self.params.participants[payer_index] {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        if !self.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        // V registered on-chain: this payee redeems on the registration what it held then, so it counts nothing
        // newer (the payer's node pays nothing newer either).
        if self.final_state.is_some() || self.registered.is_some() {
            return Err(verr(VirtualError::Settling));
        }
        let j = self
            .asset_index(asset)
            .ok_or(verr(VirtualError::InvalidState("asset not in the channel")))?;
        if cumulative <= self.received[j] {
            return Ok(None);
        }
        let payer_funds = self.prefund.outcome.assets[j].balances[payer_index] + self.paid[j];
        if cumulative > payer_funds {
            return Err(verr(VirtualError::InsufficientFunds));
        }
        Ok(Some(j))
    }

    /// A voucher from `from`, the other endpoint: counted when it raises the payer's cumulative total of `asset`
    /// within what the payer holds in V, and V is funded and neither settling nor registered on-chain.
    pub(crate) fn on_voucher<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        from: Address,
        asset: Address,
        cumulative: U256,
        sig: Signature,
    ) -> Result<()> {
        let Some(j) = self.voucher_checks(from, &asset, cumulative)? else {
            return Ok(()); // an old or repeated voucher
        };
        verify_voucher(
            &self.params,
            &voucher(&self.params, from, asset, cumulative),
            &sig,
        )?;
        let amount = cumulative - self.received[j];
        self.received[j] = cumulative;
        self.received_sigs[j] = Some(sig);
        cx.event(VirtualEvent::Paid {
            channel_id: self.id,
            asset,
            amount,
            cumulative,
        });
        Ok(())
    }

    /// S7: the `progress` move by which this payee redeems, on top of V's registered state, the vouchers it holds
    /// beyond what that state counts; `None` when there is nothing to redeem (or it was asked for already).
    ///
    /// The same move also counts what this endpoint paid itself (its own total rises on its own signature, as the
    /// payment app allows): vouchers are cumulative and gross, so after payments both ways each payee's vouchers
    /// can exceed what the other holds in the registered state, and a move redeeming them alone would be refused
    /// by the app (the payer's balance would fall below zero) — neither payee could redeem, and V would finalize by
    /// a state that counts no payment at all. Netted in one move, the balances are this endpoint's own accounting.
    pub(super) fn redeem<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        version: u64,
    ) -> Option<VirtualTx> {
        use alloy::sol_types::SolValue;
        let payer = self.other_endpoint()?;
        let (registered, _) = self.registered.clone()?;
        let mut data = ferry_ledger::app::payment::payment_data(&registered).ok()?;
        let (credited, own) = if payer == 0 {
            (data.paidByFirst.clone(), data.paidByLast.clone())
        } else {
            (data.paidByLast.clone(), data.paidByFirst.clone())
        };
        if !self.received.iter().zip(&credited).any(|(r, c)| r > c) {
            return None;
        }
        let m = registered.outcome.assets.len();
        if self.received.len() != m || self.paid.len() != m || credited.len() != m || own.len() != m
        {
            return None;
        }
        let any_sig = self.received_sigs.iter().flatten().next()?.clone();
        let mut to: State = ferry_ledger::state::next(&registered).ok()?;
        for j in 0..m {
            let theirs = self.received[j].max(credited[j]);
            let mine = self.paid[j].max(own[j]);
            let (d_in, d_out) = (theirs - credited[j], mine - own[j]);
            let a = &mut to.outcome.assets[j];
            a.balances[self.me] = a.balances[self.me].checked_add(d_in)?.checked_sub(d_out)?;
            a.balances[payer] = a.balances[payer].checked_add(d_out)?.checked_sub(d_in)?;
            let (first, last) = if payer == 0 {
                (theirs, mine)
            } else {
                (mine, theirs)
            };
            data.paidByFirst[j] = first;
            data.paidByLast[j] = last;
        }
        data.voucherSigs = self
            .received_sigs
            .iter()
            .map(|s| s.clone().unwrap_or_else(|| any_sig.clone()))
            .collect();
        to.appData = data.abi_encode().into();
        PaymentApp
            .valid_transition(&self.params, &registered, &to, self.me)
            .ok()?;
        let sig = cx.sign(&to);
        self.own_move_once(cx, version, registered, to, sig)
    }
}
