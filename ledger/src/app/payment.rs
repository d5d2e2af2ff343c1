//! Payments by vouchers (ARCH.md "Apps"): `PaymentData` tracks, per asset, what each endpoint paid the other in
//! total since the funding certificate. A move may raise the mover's own total freely and the other endpoint's
//! only with that endpoint's voucher for the new total.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolValue;
use ferry_contracts::{ChannelParams, PaymentData, Signature, State, Voucher, voucher_digest};

use super::App;
use crate::signature::{Signer, recover};
use crate::{Error, Result};

/// The bundled payment app.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaymentApp;

/// Decodes a payment state's app data.
pub fn payment_data(state: &State) -> Result<PaymentData> {
    PaymentData::abi_decode(&state.appData).map_err(|e| Error::AppData(e.to_string()))
}

/// App data of a co-signed payment state: the cumulative totals each endpoint paid, no voucher signatures.
pub fn payment_data_bytes(paid_by_first: &[U256], paid_by_last: &[U256]) -> Bytes {
    PaymentData {
        paidByFirst: paid_by_first.to_vec(),
        paidByLast: paid_by_last.to_vec(),
        voucherSigs: vec![],
    }
    .abi_encode()
    .into()
}

/// The payer's voucher signature for its cumulative payment of `asset` in channel `params`.
pub fn sign_voucher(
    signer: &Signer,
    params: &ChannelParams,
    asset: Address,
    cumulative: U256,
) -> Signature {
    let voucher = Voucher {
        channelId: ferry_contracts::channel_id(params),
        payer: signer.address(),
        asset,
        amount: cumulative,
    };
    signer.sign_digest(&voucher_digest(
        &voucher,
        params.chainId,
        params.adjudicator,
    ))
}

/// Builds the move by which the payee (`mover`) redeems the other endpoint's vouchers: `totals[j]` is the
/// voucher's cumulative amount for asset j (or the current total where there is no new voucher, with any
/// signature), `sigs[j]` the payer's voucher signatures.
pub fn voucher_move(
    params: &ChannelParams,
    from: &State,
    mover: usize,
    totals: &[U256],
    sigs: Vec<Signature>,
) -> Result<State> {
    let last = params.participants.len() - 1;
    let mut data = payment_data(from)?;
    let mut to = from.clone();
    to.version = from.version + alloy::primitives::aliases::U48::from(1u8);
    to.isFinal = false;
    for (j, a) in to.outcome.assets.iter_mut().enumerate() {
        let total = *totals
            .get(j)
            .ok_or(Error::InvalidTransition("one total per asset"))?;
        let paid = if mover == 0 {
            &mut data.paidByLast[j]
        } else {
            &mut data.paidByFirst[j]
        };
        let delta = total
            .checked_sub(*paid)
            .ok_or(Error::InvalidTransition("cumulative totals never fall"))?;
        *paid = total;
        let (payer, payee) = if mover == 0 { (last, 0) } else { (0, last) };
        a.balances[payer] = a.balances[payer]
            .checked_sub(delta)
            .ok_or(Error::Overflow)?;
        a.balances[payee] = a.balances[payee]
            .checked_add(delta)
            .ok_or(Error::Overflow)?;
    }
    data.voucherSigs = sigs;
    to.appData = data.abi_encode().into();
    Ok(to)
}

impl App for PaymentApp {
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        let n = params.participants.len();
        let last = n - 1;
        if mover != 0 && mover != last {
            return Err(Error::InvalidParticipant(mover));
        }
        let f = payment_data(from)?;
        let t = payment_data(to)?;
        let m = to.outcome.assets.len();
        if from.outcome.assets.len() != m
            || f.paidByFirst.len() != m
            || f.paidByLast.len() != m
            || t.paidByFirst.len() != m
            || t.paidByLast.len() != m
        {
            return Err(Error::InvalidTransition(
                "paid totals need one entry per asset",
            ));
        }
        for j in 0..m {
            let (fa, ta) = (&from.outcome.assets[j], &to.outcome.assets[j]);
            if fa.asset != ta.asset || fa.locked != ta.locked {
                return Err(Error::InvalidTransition(
                    "assets and locked amounts are fixed",
                ));
            }
            if t.paidByFirst[j] < f.paidByFirst[j] || t.paidByLast[j] < f.paidByLast[j] {
                return Err(Error::InvalidTransition("cumulative totals never fall"));
            }
            let d_first = t.paidByFirst[j] - f.paidByFirst[j];
            let d_last = t.paidByLast[j] - f.paidByLast[j];
            let first_ok = fa.balances[0]
                .checked_add(d_last)
                .and_then(|x| x.checked_sub(d_first))
                .is_some_and(|x| x == ta.balances[0]);
            let last_ok = fa.balances[last]
                .checked_add(d_first)
                .and_then(|x| x.checked_sub(d_last))
                .is_some_and(|x| x == ta.balances[last]);
            if !first_ok || !last_ok {
                return Err(Error::InvalidTransition(
                    "balances must move by the paid amounts",
                ));
            }
            if (1..last).any(|p| ta.balances[p] != fa.balances[p]) {
                return Err(Error::InvalidTransition(
                    "intermediaries' balances are fixed",
                ));
            }
            let others_increase = if mover == 0 { d_last } else { d_first };
            if !others_increase.is_zero() {
                if t.voucherSigs.len() != m {
                    return Err(Error::InvalidTransition("one voucher signature per asset"));
                }
                let payer = params.participants[if mover == 0 { last } else { 0 }];
                let total = if mover == 0 {
                    t.paidByLast[j]
                } else {
                    t.paidByFirst[j]
                };
                let voucher = Voucher {
                    channelId: to.channelId,
                    payer,
                    asset: ta.asset,
                    amount: total,
                };
                let digest = voucher_digest(&voucher, params.chainId, params.adjudicator);
                if recover(&digest, &t.voucherSigs[j]).ok() != Some(payer) {
                    return Err(Error::InvalidTransition("voucher not signed by the payer"));
                }
            }
        }
        Ok(())
    }
}
