//! Rock-paper-scissors with stakes, commit–reveal (contracts/SPEC.md "Apps", `RockPaperScissors.sol`); the stake is
//! in the outcome's first asset, every other asset stays as it is.
//!
//! - ready (0) → committed (1), by the first endpoint ([`commit`]): a stake within both balances and a commitment
//!   `keccak256(abi.encode(uint8 hand, bytes32 salt))`.
//! - committed (1) → played (2), by the last endpoint ([`play`]): its hand in the clear; the stake moves to it
//!   tentatively, so a first endpoint that never reveals loses by timeout.
//! - played (2) → ready (0), by the first endpoint ([`reveal`]): hand and salt opening the commitment; from the
//!   played balances the first endpoint gets `2 * stake` back if it won, `stake` on a draw, nothing if it lost.

use alloy::primitives::{B256, Bytes, U256, keccak256};
use alloy::sol_types::SolValue;
use ferry_contracts::{ChannelParams, GameData, State};
use rand::RngCore;

use super::{App, balance, decode_app_data, last_index};
use crate::{Error, Result, state};

/// Phase: ready for a new round.
pub const READY: u8 = 0;
/// Phase: the first endpoint committed to a hand.
pub const COMMITTED: u8 = 1;
/// Phase: the last endpoint played; the stake is tentatively its.
pub const PLAYED: u8 = 2;

/// A hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Hand {
    /// Beats scissors.
    Rock = 1,
    /// Beats rock.
    Paper = 2,
    /// Beats paper.
    Scissors = 3,
}

impl Hand {
    /// The hand encoded as `n` (1 rock, 2 paper, 3 scissors).
    pub fn from_u8(n: u8) -> Option<Hand> {
        match n {
            1 => Some(Hand::Rock),
            2 => Some(Hand::Paper),
            3 => Some(Hand::Scissors),
            _ => None,
        }
    }

    /// Whether this hand beats `other`.
    pub fn beats(self, other: Hand) -> bool {
        matches!(
            (self, other),
            (Hand::Rock, Hand::Scissors)
                | (Hand::Paper, Hand::Rock)
                | (Hand::Scissors, Hand::Paper)
        )
    }
}

/// `keccak256(abi.encode(uint8 hand, bytes32 salt))`.
pub fn commitment(hand: Hand, salt: B256) -> B256 {
    commitment_of(hand as u8, salt)
}

fn commitment_of(hand: u8, salt: B256) -> B256 {
    keccak256((U256::from(hand), salt).abi_encode_params())
}

/// A fresh random salt for a commitment.
pub fn random_salt() -> B256 {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    B256::from(bytes)
}

/// Decodes a game state's app data.
pub fn game_data(state: &State) -> Result<GameData> {
    decode_app_data(&state.appData)
}

/// App data of a game's first state: phase ready, nothing staked.
pub fn ready_data() -> Bytes {
    GameData::default().abi_encode().into()
}

/// What the first endpoint gets back from the played balances (where the stake already moved to the last
/// endpoint): `2 * stake` if it won, `stake` on a draw, nothing if it lost; `None` when `2 * stake` overflows (a
/// revert on-chain).
fn first_gets_back(first: u8, last: u8, stake: U256) -> Option<U256> {
    if first == last {
        return Some(stake);
    }
    let first_wins = matches!((first, last), (1, 3) | (2, 1) | (3, 2));
    if first_wins {
        stake.checked_mul(U256::from(2u8))
    } else {
        Some(U256::ZERO)
    }
}

/// The bundled game app.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RockPaperScissors;

impl App for RockPaperScissors {
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        let invalid = Error::InvalidTransition;
        let last = last_index(params)?;
        let f = game_data(from).map_err(|_| invalid("app data does not decode"))?;
        let t = game_data(to).map_err(|_| invalid("app data does not decode"))?;
        let m = to.outcome.assets.len();
        if m == 0 || from.outcome.assets.len() != m {
            return Err(invalid("the stake needs an asset"));
        }
        if from.outcome.assets[1..] != to.outcome.assets[1..] {
            return Err(invalid("only the first asset moves"));
        }
        let (fa, ta) = (&from.outcome.assets[0], &to.outcome.assets[0]);
        if fa.asset != ta.asset || fa.locked != ta.locked {
            return Err(invalid("assets and locked amounts are fixed"));
        }
        for p in 1..last {
            if balance(ta, p)? != balance(fa, p)? {
                return Err(invalid("intermediaries' balances are fixed"));
            }
        }
        let (f_first, f_last) = (balance(fa, 0)?, balance(fa, last)?);
        let (t_first, t_last) = (balance(ta, 0)?, balance(ta, last)?);
        let ok = match f.phase {
            READY => {
                mover == 0
                    && t.phase == COMMITTED
                    && !t.stake.is_zero()
                    && t.stake <= f_first
                    && t.stake <= f_last
                    && t.commitment != B256::ZERO
                    && t.moveLast == 0
                    && t.moveFirst == 0
                    && t.salt == B256::ZERO
                    && t_first == f_first
                    && t_last == f_last
            }
            COMMITTED => {
                mover == last
                    && t.phase == PLAYED
                    && t.stake == f.stake
                    && t.commitment == f.commitment
                    && (1..=3).contains(&t.moveLast)
                    && t.moveFirst == 0
                    && t.salt == B256::ZERO
                    && f_first >= f.stake
                    && Some(t_first) == f_first.checked_sub(f.stake)
                    && f_last.checked_add(f.stake).is_some_and(|x| x == t_last)
            }
            PLAYED => {
                mover == 0
                    && t.phase == READY
                    && t.stake == f.stake
                    && t.commitment == f.commitment
                    && t.moveLast == f.moveLast
                    && (1..=3).contains(&t.moveFirst)
                    && commitment_of(t.moveFirst, t.salt) == f.commitment
                    && first_gets_back(t.moveFirst, f.moveLast, f.stake).is_some_and(|back| {
                        f_last >= back
                            && f_first.checked_add(back) == Some(t_first)
                            && Some(t_last) == f_last.checked_sub(back)
                    })
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(invalid("not a valid game move"))
        }
    }
}

fn with_game(from: &State, data: GameData, shift: Option<(usize, usize, U256)>) -> Result<State> {
    let mut to = state::next(from)?;
    to.appData = data.abi_encode().into();
    if let Some((payer, payee, amount)) = shift {
        let a = to
            .outcome
            .assets
            .first_mut()
            .ok_or(Error::InvalidTransition("the stake needs an asset"))?;
        let p = balance(a, payer)?
            .checked_sub(amount)
            .ok_or(Error::InvalidTransition("balance too small"))?;
        let q = balance(a, payee)?
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        a.balances[payer] = p;
        a.balances[payee] = q;
    }
    Ok(to)
}

/// The first endpoint's commit move from a ready state: `stake` of the first asset on `hand`, hidden by `salt`
/// (keep both for [`reveal`]).
pub fn commit(
    params: &ChannelParams,
    from: &State,
    stake: U256,
    hand: Hand,
    salt: B256,
) -> Result<State> {
    let data = GameData {
        phase: COMMITTED,
        stake,
        commitment: commitment(hand, salt),
        moveLast: 0,
        moveFirst: 0,
        salt: B256::ZERO,
    };
    let to = with_game(from, data, None)?;
    RockPaperScissors.valid_transition(params, from, &to, 0)?;
    Ok(to)
}

/// The last endpoint's move from a committed state: `hand` in the clear; the stake moves to it tentatively.
pub fn play(params: &ChannelParams, from: &State, hand: Hand) -> Result<State> {
    let f = game_data(from)?;
    let last = last_index(params)?;
    let data = GameData {
        phase: PLAYED,
        moveLast: hand as u8,
        ..f.clone()
    };
    let to = with_game(from, data, Some((0, last, f.stake)))?;
    RockPaperScissors.valid_transition(params, from, &to, last)?;
    Ok(to)
}

/// The first endpoint's reveal from a played state: the committed `hand` and `salt`; the winnings move back to it.
pub fn reveal(params: &ChannelParams, from: &State, hand: Hand, salt: B256) -> Result<State> {
    let f = game_data(from)?;
    let last = last_index(params)?;
    let back = first_gets_back(hand as u8, f.moveLast, f.stake).ok_or(Error::Overflow)?;
    let data = GameData {
        phase: READY,
        moveFirst: hand as u8,
        salt,
        ..f
    };
    let to = with_game(from, data, Some((last, 0, back)))?;
    RockPaperScissors.valid_transition(params, from, &to, 0)?;
    Ok(to)
}
