//! Payments by vouchers (contracts/SPEC.md "Apps", `PaymentApp.sol`). `PaymentData` tracks, per asset of the
//! outcome, what each endpoint has paid the other in total. A move may raise the mover's own total freely (the mover
//! signs the move) and the other endpoint's total only with that endpoint's voucher for the new total.
//!
//! Off-chain, a payer simply signs a [`voucher`] for its new cumulative amount and hands it to the payee
//! ([`sign_voucher`] / [`verify_voucher`]); the payee redeems the latest one with [`voucher_move`] (on-chain via
//! `progress`, or co-signed). A payer can also move on its own signature with [`pay`].

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolValue;
use ferry_contracts::{ChannelParams, PaymentData, Signature, State, Voucher, voucher_digest};

use super::{App, balance, decode_app_data, last_index};
use crate::signature::{Signer, recover};
use crate::{Error, Result, state};

/// The bundled payment app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaymentApp;

/// Decodes a payment state's app data.
pub fn payment_data(state: &State) -> Result<PaymentData> {
    decode_app_data(&state.appData)
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

/// App data of a payment channel's first state: nothing paid yet, for `assets` assets.
pub fn initial_payment_data(assets: usize) -> Bytes {
    payment_data_bytes(&vec![U256::ZERO; assets], &vec![U256::ZERO; assets])
}

/// The voucher by which `payer` states it has paid `cumulative` of `asset` in total in channel `params`.
pub fn voucher(
    params: &ChannelParams,
    payer: Address,
    asset: Address,
    cumulative: U256,
) -> Voucher {
    Voucher {
        channelId: ferry_contracts::channel_id(params),
        payer,
        asset,
        amount: cumulative,
    }
}

/// The payer's voucher signature for its cumulative payment of `asset` in channel `params` (EIP-712, the channel's
/// domain).
pub fn sign_voucher(
    signer: &Signer,
    params: &ChannelParams,
    asset: Address,
    cumulative: U256,
) -> Signature {
    let v = voucher(params, signer.address(), asset, cumulative);
    signer.sign_digest(&voucher_digest(&v, params.chainId, params.adjudicator))
}

/// Checks a voucher a payee received: it is for this channel and signed by its payer.
pub fn verify_voucher(params: &ChannelParams, v: &Voucher, sig: &Signature) -> Result<()> {
    let id = ferry_contracts::channel_id(params);
    if v.channelId != id {
        return Err(Error::WrongChannel {
            got: v.channelId,
            expected: id,
        });
    }
    if recover(&voucher_digest(v, params.chainId, params.adjudicator), sig)? != v.payer {
        return Err(Error::WrongSigner { index: 0 });
    }
    Ok(())
}

/// Which endpoint indexes pay and receive when `mover` redeems or pays.
fn sides(params: &ChannelParams, mover: usize) -> Result<(usize, usize)> {
    let last = last_index(params)?;
    if mover == 0 {
        Ok((0, last))
    } else if mover == last {
        Ok((last, 0))
    } else {
        Err(Error::InvalidParticipant(mover))
    }
}

/// Moves `delta` of asset `j` from `payer` to `payee` in `to`.
fn shift(to: &mut State, j: usize, payer: usize, payee: usize, delta: U256) -> Result<()> {
    let a = to
        .outcome
        .assets
        .get_mut(j)
        .ok_or(Error::InvalidTransition("one amount per asset"))?;
    let from_payer = balance(a, payer)?
        .checked_sub(delta)
        .ok_or(Error::InvalidTransition("the payer's balance is too small"))?;
    let to_payee = balance(a, payee)?
        .checked_add(delta)
        .ok_or(Error::Overflow)?;
    a.balances[payer] = from_payer;
    a.balances[payee] = to_payee;
    Ok(())
}

/// The move by which `mover` pays the other endpoint `amounts[j]` more of each asset j on its own signature: its
/// cumulative totals rise, the balances move, no voucher is needed.
pub fn pay(params: &ChannelParams, from: &State, mover: usize, amounts: &[U256]) -> Result<State> {
    let (me, other) = sides(params, mover)?;
    let mut data = payment_data(from)?;
    let m = from.outcome.assets.len();
    if amounts.len() != m || data.paidByFirst.len() != m || data.paidByLast.len() != m {
        return Err(Error::InvalidTransition("one amount per asset"));
    }
    let mut to = state::next(from)?;
    for (j, amount) in amounts.iter().enumerate() {
        let paid = if me == 0 {
            &mut data.paidByFirst[j]
        } else {
            &mut data.paidByLast[j]
        };
        *paid = paid.checked_add(*amount).ok_or(Error::Overflow)?;
        shift(&mut to, j, me, other, *amount)?;
    }
    data.voucherSigs = vec![];
    to.appData = data.abi_encode().into();
    Ok(to)
}

/// The move by which the payee (`mover`) redeems the other endpoint's vouchers: `totals[j]` is the voucher's
/// cumulative amount for asset j (or the current total, where there is no new voucher), `sigs[j]` the payer's
/// voucher signature for it (any signature where the total does not rise; `sigs` may be empty when none rises).
pub fn voucher_move(
    params: &ChannelParams,
    from: &State,
    mover: usize,
    totals: &[U256],
    sigs: Vec<Signature>,
) -> Result<State> {
    let (me, payer) = sides(params, mover)?;
    let mut data = payment_data(from)?;
    let m = from.outcome.assets.len();
    if totals.len() != m || data.paidByFirst.len() != m || data.paidByLast.len() != m {
        return Err(Error::InvalidTransition("one total per asset"));
    }
    let mut to = state::next(from)?;
    for (j, total) in totals.iter().enumerate() {
        let paid = if payer == 0 {
            &mut data.paidByFirst[j]
        } else {
            &mut data.paidByLast[j]
        };
        let delta = total
            .checked_sub(*paid)
            .ok_or(Error::InvalidTransition("cumulative totals never fall"))?;
        *paid = *total;
        shift(&mut to, j, payer, me, delta)?;
    }
    data.voucherSigs = sigs;
    to.appData = data.abi_encode().into();
    Ok(to)
}

fn reject(reason: &'static str) -> Error {
    Error::InvalidTransition(reason)
}

impl App for PaymentApp {
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        let last = last_index(params)?;
        if mover != 0 && mover != last {
            return Err(reject("the mover is not an endpoint"));
        }
        let f = payment_data(from).map_err(|_| reject("app data does not decode"))?;
        let t = payment_data(to).map_err(|_| reject("app data does not decode"))?;
        let m = to.outcome.assets.len();
        if from.outcome.assets.len() != m
            || f.paidByFirst.len() != m
            || f.paidByLast.len() != m
            || t.paidByFirst.len() != m
            || t.paidByLast.len() != m
        {
            return Err(reject("paid totals need one entry per asset"));
        }
        for (j, (fa, ta)) in from
            .outcome
            .assets
            .iter()
            .zip(&to.outcome.assets)
            .enumerate()
        {
            if fa.asset != ta.asset || fa.locked != ta.locked {
                return Err(reject("assets and locked amounts are fixed"));
            }
            if t.paidByFirst[j] < f.paidByFirst[j] || t.paidByLast[j] < f.paidByLast[j] {
                return Err(reject("cumulative totals never fall"));
            }
            let d_first = t.paidByFirst[j] - f.paidByFirst[j];
            let d_last = t.paidByLast[j] - f.paidByLast[j];
            // First: -dF + dL; last: -dL + dF (an overflow reverts on-chain).
            let first = balance(fa, 0)?
                .checked_add(d_last)
                .ok_or(reject("balance overflow"))?;
            if first < d_first || balance(ta, 0)? != first - d_first {
                return Err(reject("balances must move by the paid amounts"));
            }
            let last_bal = balance(fa, last)?
                .checked_add(d_first)
                .ok_or(reject("balance overflow"))?;
            if last_bal < d_last || balance(ta, last)? != last_bal - d_last {
                return Err(reject("balances must move by the paid amounts"));
            }
            for p in 1..last {
                if balance(ta, p)? != balance(fa, p)? {
                    return Err(reject("intermediaries' balances are fixed"));
                }
            }
            let others_increase = if mover == 0 { d_last } else { d_first };
            if !others_increase.is_zero() {
                if t.voucherSigs.len() != m {
                    return Err(reject("one voucher signature per asset"));
                }
                let payer_index = if mover == 0 { last } else { 0 };
                let payer = *params
                    .participants
                    .get(payer_index)
                    .ok_or(reject("no payer"))?;
                let total = if mover == 0 {
                    t.paidByLast[j]
                } else {
                    t.paidByFirst[j]
                };
                let v = Voucher {
                    channelId: to.channelId,
                    payer,
                    asset: ta.asset,
                    amount: total,
                };
                let digest = voucher_digest(&v, params.chainId, params.adjudicator);
                if recover(&digest, &t.voucherSigs[j]).ok() != Some(payer) {
                    return Err(reject("voucher not signed by the payer"));
                }
            }
        }
        Ok(())
    }
}
