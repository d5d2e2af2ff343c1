//! Apps: the rules of what runs in a channel, implemented once in Solidity (`IApp.validTransition`) and once here
//! with the same verdicts (contracts/SPEC.md "Apps").
//!
//! The adjudicator has already checked the version step, the mover's signature, the outcome rules and S3 before it
//! asks the app, and so does [`support::check_move`](crate::support::check_move) before it calls
//! [`App::valid_transition`]. An app called directly must still never panic: where the contract would revert
//! (an index out of bounds, an overflow, app data that does not decode), the Rust app rejects the move.
//!
//! - [`payment`]: [`PaymentApp`], vouchers ([`sign_voucher`], [`verify_voucher`]) and the moves that pay
//!   ([`pay`], [`voucher_move`]).
//! - [`rps`]: [`RockPaperScissors`] and its moves ([`rps::commit`], [`rps::play`], [`rps::reveal`]).

pub mod payment;
pub mod rps;

pub use payment::{
    PaymentApp, initial_payment_data, pay, payment_data, payment_data_bytes, sign_voucher,
    verify_voucher, voucher, voucher_move,
};
pub use rps::{Hand, RockPaperScissors, commitment};

use alloy::primitives::U256;
use alloy::sol_types::SolValue;
use ferry_contracts::{AssetOutcome, ChannelParams, State};

use crate::{Error, Result};

/// The rules of an app.
pub trait App: Send + Sync {
    /// `Ok(())` when `to` is a valid move from `from` by the endpoint at `mover` (`IApp.validTransition`
    /// returning `true`); an error otherwise (a revert or `false` on-chain).
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()>;
}

/// Decodes app data as Solidity's `abi.decode(data, (T))` does: values must fit their types (a `uint8` with dirty
/// high bits is refused), trailing bytes are allowed.
pub fn decode_app_data<T>(data: &[u8]) -> Result<T>
where
    T: SolValue + From<<T::SolType as alloy::sol_types::SolType>::RustType>,
{
    T::abi_decode_validate(data).map_err(|e| Error::AppData(e.to_string()))
}

/// A balance the contract would read at `balances[index]`; out of bounds is a revert there, a rejection here.
pub(crate) fn balance(a: &AssetOutcome, index: usize) -> Result<U256> {
    a.balances
        .get(index)
        .copied()
        .ok_or(Error::InvalidTransition("balance index out of bounds"))
}

/// The index of the last participant, rejecting params without participants (`n - 1` underflows on-chain).
pub(crate) fn last_index(params: &ChannelParams) -> Result<usize> {
    params
        .participants
        .len()
        .checked_sub(1)
        .ok_or(Error::InvalidTransition("no participants"))
}
