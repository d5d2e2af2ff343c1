//! Rock-paper-scissors with stakes, commit–reveal (ARCH.md "Apps"); the stake is in the outcome's first asset.
//! When the last endpoint plays, the stake moves to it tentatively, so a first endpoint that never reveals loses.

use alloy::primitives::{B256, U256, keccak256};
use alloy::sol_types::SolValue;
use ferry_contracts::{ChannelParams, GameData, State};

use super::App;
use crate::{Error, Result};

const READY: u8 = 0;
const COMMITTED: u8 = 1;
const PLAYED: u8 = 2;

/// A hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Hand {
    /// Beats scissors.
    Rock = 1,
    /// Beats rock.
    Paper = 2,
    /// Beats paper.
    Scissors = 3,
}

/// `keccak256(abi.encode(uint8 move, bytes32 salt))`.
pub fn commitment(hand: Hand, salt: B256) -> B256 {
    keccak256((U256::from(hand as u8), salt).abi_encode_params())
}

/// The bundled game app.
#[derive(Debug, Clone, Copy, Default)]
pub struct RockPaperScissors;

fn decode(state: &State) -> Result<GameData> {
    GameData::abi_decode(&state.appData).map_err(|e| Error::AppData(e.to_string()))
}

fn first_gets_back(first: u8, last: u8, stake: U256) -> U256 {
    if first == last {
        return stake;
    }
    let wins = matches!((first, last), (1, 3) | (2, 1) | (3, 2));
    if wins {
        stake.saturating_mul(U256::from(2u8))
    } else {
        U256::ZERO
    }
}

impl App for RockPaperScissors {
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        let reject = Err;
        let last = params.participants.len() - 1;
        let f = decode(from)?;
        let t = decode(to)?;
        let m = to.outcome.assets.len();
        if m == 0 || from.outcome.assets.len() != m {
            return reject(Error::InvalidTransition("the stake needs an asset"));
        }
        if from.outcome.assets[1..] != to.outcome.assets[1..] {
            return reject(Error::InvalidTransition("only the first asset moves"));
        }
        let (fa, ta) = (&from.outcome.assets[0], &to.outcome.assets[0]);
        if fa.asset != ta.asset || fa.locked != ta.locked {
            return reject(Error::InvalidTransition(
                "assets and locked amounts are fixed",
            ));
        }
        if (1..last).any(|p| ta.balances[p] != fa.balances[p]) {
            return reject(Error::InvalidTransition(
                "intermediaries' balances are fixed",
            ));
        }
        let (f_first, f_last, t_first, t_last) = (
            fa.balances[0],
            fa.balances[last],
            ta.balances[0],
            ta.balances[last],
        );
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
                    && Some(t_last) == f_last.checked_add(f.stake)
            }
            PLAYED => {
                let back = first_gets_back(t.moveFirst, f.moveLast, f.stake);
                mover == 0
                    && t.phase == READY
                    && t.stake == f.stake
                    && t.commitment == f.commitment
                    && t.moveLast == f.moveLast
                    && (1..=3).contains(&t.moveFirst)
                    && keccak256((U256::from(t.moveFirst), t.salt).abi_encode_params())
                        == f.commitment
                    && f_last >= back
                    && Some(t_first) == f_first.checked_add(back)
                    && Some(t_last) == f_last.checked_sub(back)
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            reject(Error::InvalidTransition("not a valid game move"))
        }
    }
}
