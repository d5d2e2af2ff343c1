//! Apps: the rules of what runs in a channel, implemented once in Solidity (`IApp`) and once here with the same
//! verdicts. The adjudicator has already checked the version step, the mover's signature, the outcome rules and
//! S3 before it asks the app; so do the callers of [`App::valid_transition`] (see `support::check_move`).

mod payment;
mod rps;

pub use payment::{PaymentApp, payment_data, payment_data_bytes, sign_voucher, voucher_move};
pub use rps::{Hand, RockPaperScissors, commitment};

use ferry_contracts::{ChannelParams, State};

use crate::Result;

/// The rules of an app.
pub trait App: Send + Sync {
    /// Whether `to` is a valid move from `from` by the endpoint at `mover` (`IApp.validTransition`).
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()>;
}
