//! Bindings generated with `sol!` from the compiled artifacts (`contracts/artifacts/*.json`): each module holds the
//! contract's calls, events and errors, its creation bytecode (`BYTECODE`) and its runtime bytecode
//! (`DEPLOYED_BYTECODE`).
//!
//! The crate's public API uses the types generated from `Types.sol` (`crate::State`, `crate::IAdjudicator`, …);
//! the JSON ABI cannot refer to them, so every module here repeats the structs its ABI mentions
//! (`Adjudicator::State`, `FerryHarness::Voucher`, …). They have the same fields and the same ABI encoding, and
//! `From` converts between the two sets in both directions, field by field (no encoding round trip). The crate's
//! tests check that the interfaces in `Types.sol` and the compiled ABIs agree selector by selector.

use alloy::primitives::aliases::{U48, U96};
use alloy::primitives::{Address, B256, Bytes, U256};

/// Generated items carry the ABI's names and no docs of their own.
#[allow(missing_docs, clippy::all, non_snake_case)]
mod generated {
    alloy::sol!(
        #[sol(all_derives)]
        Adjudicator,
        "artifacts/Adjudicator.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        FerryHarness,
        "artifacts/FerryHarness.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        PaymentApp,
        "artifacts/PaymentApp.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        RockPaperScissors,
        "artifacts/RockPaperScissors.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        TestToken,
        "artifacts/TestToken.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        FeeOnTransferToken,
        "artifacts/FeeOnTransferToken.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        RevertingToken,
        "artifacts/RevertingToken.json"
    );
    alloy::sol!(
        #[sol(all_derives)]
        GasBurningToken,
        "artifacts/GasBurningToken.json"
    );
}

pub use generated::{
    Adjudicator, FeeOnTransferToken, FerryHarness, GasBurningToken, PaymentApp, RevertingToken,
    RockPaperScissors, TestToken,
};

/// Creation bytecode of the singleton `Adjudicator` (its constructor takes no arguments).
pub fn adjudicator_bytecode() -> Bytes {
    Adjudicator::BYTECODE.clone()
}

/// Creation bytecode of `FerryHarness` (ChannelLib as external functions, for differential tests).
pub fn ferry_harness_bytecode() -> Bytes {
    FerryHarness::BYTECODE.clone()
}

/// Creation bytecode of the bundled `PaymentApp`.
pub fn payment_app_bytecode() -> Bytes {
    PaymentApp::BYTECODE.clone()
}

/// Creation bytecode of the bundled `RockPaperScissors` app.
pub fn rock_paper_scissors_bytecode() -> Bytes {
    RockPaperScissors::BYTECODE.clone()
}

/// Creation bytecode of `TestToken` (a plain ERC-20 with public mint).
pub fn test_token_bytecode() -> Bytes {
    TestToken::BYTECODE.clone()
}

/// Creation bytecode of `FeeOnTransferToken` (an ERC-20 that takes a 1% fee on transfers).
pub fn fee_on_transfer_token_bytecode() -> Bytes {
    FeeOnTransferToken::BYTECODE.clone()
}

/// Creation bytecode of `RevertingToken` (transfers to blocked recipients revert).
pub fn reverting_token_bytecode() -> Bytes {
    RevertingToken::BYTECODE.clone()
}

/// Creation bytecode of `GasBurningToken` (transfers to blocked recipients burn all gas).
pub fn gas_burning_token_bytecode() -> Bytes {
    GasBurningToken::BYTECODE.clone()
}

/// Field-by-field conversion between two structurally identical generated types.
trait Conv<T> {
    fn conv(self) -> T;
}

macro_rules! conv_identity {
    ($($t:ty),*) => {$(
        impl Conv<$t> for $t {
            #[inline]
            fn conv(self) -> $t {
                self
            }
        }
    )*};
}
conv_identity!(bool, u8, u32, U48, U96, U256, Address, B256, Bytes);

impl<T: Conv<U>, U> Conv<Vec<U>> for Vec<T> {
    #[inline]
    fn conv(self) -> Vec<U> {
        self.into_iter().map(Conv::conv).collect()
    }
}

/// `From` both ways between `crate::X` and `bindings::<Module>::X` for the listed structs and fields.
macro_rules! convert {
    ($module:ident: $($name:ident { $($field:ident),* $(,)? })*) => {$(
        impl Conv<$module::$name> for crate::$name {
            #[inline]
            fn conv(self) -> $module::$name {
                $module::$name { $($field: self.$field.conv()),* }
            }
        }
        impl Conv<crate::$name> for $module::$name {
            #[inline]
            fn conv(self) -> crate::$name {
                crate::$name { $($field: self.$field.conv()),* }
            }
        }
        impl From<crate::$name> for $module::$name {
            #[inline]
            fn from(value: crate::$name) -> Self {
                value.conv()
            }
        }
        impl From<$module::$name> for crate::$name {
            #[inline]
            fn from(value: $module::$name) -> Self {
                value.conv()
            }
        }
    )*};
}

macro_rules! convert_state {
    ($($module:ident),*) => {$(
        convert!($module:
            ChannelParams { kind, chainId, adjudicator, participants, nonce, app, challengeDuration, maxMoves, challengeBond, hops }
            AssetOutcome { asset, balances, deposited, withdrawn, locked }
            Outcome { assets, subRoot }
            State { channelId, version, outcome, appData, isFinal }
        );
    )*};
}

convert_state!(Adjudicator, FerryHarness, PaymentApp, RockPaperScissors);

macro_rules! convert_proofs {
    ($($module:ident),*) => {$(
        convert!($module:
            Signature { v, r, s }
            AssetAmount { asset, amount }
            SubAlloc { channelId, amounts, fee }
            LeafProof { index, siblings }
        );
    )*};
}

convert_proofs!(Adjudicator, FerryHarness);

convert!(Adjudicator: Certificate { state, sigs });
convert!(FerryHarness: Voucher { channelId, payer, asset, amount });
