//! The apps a node knows the rules of ([`AppRules`]): the payment app, whose state moves by vouchers, and
//! turn-based apps ([`TurnApp`]) — the bundled rock-paper-scissors or an app builder's own — whose moves both
//! endpoints sign.

use std::sync::Arc;

use alloy::primitives::Bytes;
use ferry_ledger::app::App;
use ferry_ledger::app::rps::{RockPaperScissors, ready_data};

use super::AppKind;

/// An app whose state moves by turns that both endpoints sign: the bundled game, or an app builder's own, declared
/// with [`VirtualNode::set_app`](super::VirtualNode::set_app) at the address of its contract.
///
/// Its rules ([`App::valid_transition`]) must give the verdict its contract's `validTransition` gives on every
/// input: a node signs only the moves its rules accept, and the chain plays only the moves the contract accepts
/// (S7). An app whose rules and contract disagree can lose its users' funds; test them against each other (the
/// harness's `AppCheck` in `ferry-simulations` does).
pub trait TurnApp: App + std::fmt::Debug {
    /// V's app data in its pre-fund, for an outcome of `assets` assets; every path member checks that the pre-fund
    /// carries exactly this.
    fn initial_data(&self, assets: usize) -> Bytes;

    /// How many moves each endpoint may play on-chain after V is registered there (S7, at most 255): enough to
    /// finish the round the other endpoint left. The worst-case on-chain lock of V grows with it (S6).
    fn max_moves(&self) -> u64;
}

impl TurnApp for RockPaperScissors {
    fn initial_data(&self, _assets: usize) -> Bytes {
        ready_data()
    }

    /// A round takes two moves of the first player (commit, reveal) and one of the other.
    fn max_moves(&self) -> u64 {
        2
    }
}

/// What a node knows of the app at an address: how V's state starts, how it moves, and how it settles.
#[derive(Debug, Clone)]
pub enum AppRules {
    /// The payment app: vouchers, netted into the final by the first endpoint; a payee redeems them on-chain in one
    /// move.
    Payment,
    /// A turn-based app: moves checked by its rules, signed by the mover and countersigned by the other endpoint;
    /// V settles on its latest state.
    Turns(Arc<dyn TurnApp>),
}

impl AppRules {
    /// A turn-based app of the app builder's own.
    pub fn turns(app: impl TurnApp + 'static) -> Self {
        AppRules::Turns(Arc::new(app))
    }

    /// Whether this is the payment app.
    pub fn is_payment(&self) -> bool {
        matches!(self, AppRules::Payment)
    }

    /// V's app data in its pre-fund, for `assets` assets.
    pub fn initial_data(&self, assets: usize) -> Bytes {
        match self {
            AppRules::Payment => ferry_ledger::app::payment::initial_payment_data(assets),
            AppRules::Turns(app) => app.initial_data(assets),
        }
    }

    /// The moves each endpoint may play on-chain (S7): a payee redeems its vouchers, netted, in one move.
    pub fn max_moves(&self) -> u64 {
        match self {
            AppRules::Payment => 1,
            AppRules::Turns(app) => app.max_moves(),
        }
    }
}

impl From<AppKind> for AppRules {
    fn from(kind: AppKind) -> Self {
        match kind {
            AppKind::Payment => AppRules::Payment,
            AppKind::Game => AppRules::turns(RockPaperScissors),
        }
    }
}
