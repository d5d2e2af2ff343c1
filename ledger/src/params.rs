//! Channel params: validation (S1, S2), ids, fresh nonces, and where a ledger sits on a virtual channel's path.

use alloy::primitives::aliases::U96;
use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{ChannelParams, KIND_LEDGER, KIND_VIRTUAL};
use rand::RngCore;

use crate::{Error, Result};

pub use ferry_contracts::channel_id;

/// The longest challenge duration params may name, in seconds (`MAX_CHALLENGE_DURATION` in `ChannelLib.sol`, S6):
/// `now + challengeDuration` always fits the adjudicator's 48-bit deadline, so every dispute ends by a timeout.
pub const MAX_CHALLENGE_DURATION: u64 = 365 * 24 * 3600;

/// The structural checks of S1/S2, with the contract's reason codes (`ChannelLib.validate`, same order):
/// - kind 0 (ledger): exactly two participants (2), no hops (5), no app (9) and no moves (10) (S13: otherwise one
///   participant could "move" a registered ledger state alone with `progress`);
/// - kind 1 (virtual): at least two participants (2) — `[A, B]` is a sub-channel of their direct ledger, `[A, I1,
///   …, In, B]` goes through n intermediaries — and `hops.len() == participants.len() - 1` (5), hops pairwise
///   distinct (6);
/// - any other kind (1);
/// - participants non-zero (3) and pairwise distinct (4); a positive challenge duration (7) of at most
///   [`MAX_CHALLENGE_DURATION`] (11).
pub fn validate(params: &ChannelParams) -> Result<()> {
    let n = params.participants.len();
    match params.kind {
        KIND_LEDGER => {
            if n != 2 {
                return Err(Error::InvalidParams(2));
            }
            if !params.hops.is_empty() {
                return Err(Error::InvalidParams(5));
            }
            if params.app != Address::ZERO {
                return Err(Error::InvalidParams(9));
            }
            if !params.maxMoves.is_zero() {
                return Err(Error::InvalidParams(10));
            }
        }
        KIND_VIRTUAL => {
            if n < 2 {
                return Err(Error::InvalidParams(2));
            }
            if params.hops.len() != n - 1 {
                return Err(Error::InvalidParams(5));
            }
            for (i, hop) in params.hops.iter().enumerate() {
                if params.hops[..i].contains(hop) {
                    return Err(Error::InvalidParams(6));
                }
            }
        }
        _ => return Err(Error::InvalidParams(1)),
    }
    for (i, p) in params.participants.iter().enumerate() {
        if *p == Address::ZERO {
            return Err(Error::InvalidParams(3));
        }
        if params.participants[..i].contains(p) {
            return Err(Error::InvalidParams(4));
        }
    }
    if params.challengeDuration.is_zero() {
        return Err(Error::InvalidParams(7));
    }
    if params.challengeDuration.to::<u64>() > MAX_CHALLENGE_DURATION {
        return Err(Error::InvalidParams(11));
    }
    Ok(())
}

/// [`validate`] after the chain context of S1 (the contract's order: chain, adjudicator, structure): the params
/// name this chain and this adjudicator. Returns the channel id.
pub fn validate_for(params: &ChannelParams, chain_id: u64, adjudicator: Address) -> Result<B256> {
    if params.chainId != U256::from(chain_id) {
        return Err(Error::WrongChain {
            got: params.chainId.saturating_to(),
            expected: chain_id,
        });
    }
    if params.adjudicator != adjudicator {
        return Err(Error::WrongAdjudicator);
    }
    validate(params)?;
    Ok(channel_id(params))
}

/// A fresh random 256-bit nonce (S1), from the thread-local CSPRNG.
pub fn fresh_nonce() -> U256 {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    U256::from_be_bytes(bytes)
}

/// Index of the last participant (endpoint B of a virtual channel; participant 1 of a ledger channel); 0 when
/// there are no participants.
pub fn last_index(params: &ChannelParams) -> usize {
    params.participants.len().saturating_sub(1)
}

/// Whether `index` is an endpoint (0 or n-1) of a channel with at least one participant.
pub fn is_endpoint(params: &ChannelParams, index: usize) -> bool {
    !params.participants.is_empty() && (index == 0 || index == last_index(params))
}

/// The two endpoints `(A, B)` (first and last participant); `None` with fewer than two participants.
pub fn endpoints(params: &ChannelParams) -> Option<(Address, Address)> {
    match params.participants.as_slice() {
        [first, .., last] => Some((*first, *last)),
        _ => None,
    }
}

/// Where a ledger channel sits on a virtual channel's path (S2, S8, S9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathPosition {
    /// k: the ledger is `hops[k]`, between `participants[k]` and `participants[k + 1]` of V.
    pub hop: usize,
    /// The ledger participant that stands for A's side (`V.participants[k]`), paid `min(A's balance, leaf)` by a
    /// claim.
    pub left: Address,
    /// The ledger participant that stands for B's side (`V.participants[k + 1]`).
    pub right: Address,
    /// Index (0 or 1) of `left` among the ledger's participants: the ledger's participants may be in either order
    /// (contracts/SPEC.md "A ledger's participants may appear in either order on a virtual path").
    pub left_index: usize,
}

/// Finds a ledger on V's path as the contract's `claim` does: k is found by searching `V.hops` for the ledger's id
/// (never taken from the caller), and the ledger's participants must be `{P_k, P_k+1}` in either order.
pub fn path_position(ledger: &ChannelParams, virt: &ChannelParams) -> Result<PathPosition> {
    let lid = channel_id(ledger);
    let k = virt
        .hops
        .iter()
        .position(|h| *h == lid)
        .ok_or(Error::LedgerNotOnPath)?;
    let (Some(left), Some(right)) = (virt.participants.get(k), virt.participants.get(k + 1)) else {
        return Err(Error::LedgerNotOnPath);
    };
    let [l0, l1] = ledger.participants.as_slice() else {
        return Err(Error::LedgerNotOnPath);
    };
    let left_index = if l0 == left && l1 == right {
        0
    } else if l0 == right && l1 == left {
        1
    } else {
        return Err(Error::LedgerNotOnPath);
    };
    Ok(PathPosition {
        hop: k,
        left: *left,
        right: *right,
        left_index,
    })
}

/// A node's dispute policy: the shortest challenge window its watcher can guarantee to answer in and the longest
/// it accepts to have funds locked by one channel (S6), and the challenge bond (S17) it writes into the params it
/// creates and the most it accepts in a peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DurationPolicy {
    /// Minimum `challenge_duration` in seconds (the watcher's guaranteed response time).
    pub min_challenge: u64,
    /// Maximum time in seconds one channel may keep funds locked on-chain.
    pub max_lock: u64,
    /// S17: the challenge bond (wei of ETH) this node writes into the params of channels it opens.
    #[serde(default)]
    pub challenge_bond: U96,
    /// S17: the largest challenge bond this node accepts in a channel another member opens. A challenge needs the
    /// bond in ETH, so a bond above what the node keeps at hand would stop it from challenging at all.
    #[serde(default)]
    pub max_challenge_bond: U96,
}

impl DurationPolicy {
    /// S17: refuses, at open, a channel whose challenge bond is above `max_challenge_bond`. S6: refuses a channel
    /// whose challenge window is shorter than `min_challenge`, or whose worst-case
    /// on-chain lock time exceeds `max_lock`: for a ledger channel its challenge duration, for a virtual channel
    /// `challenge_duration * (1 + 2 * max_moves)` (each endpoint has `max_moves` moves, and every `progress` move
    /// may push the deadline one window further).
    pub fn check(&self, params: &ChannelParams) -> Result<()> {
        if params.challengeBond > self.max_challenge_bond {
            return Err(Error::DurationPolicy(format!(
                "challenge bond {} wei is above the maximum {} wei (S17)",
                params.challengeBond, self.max_challenge_bond
            )));
        }
        let duration = params.challengeDuration.to::<u64>();
        if duration < self.min_challenge {
            return Err(Error::DurationPolicy(format!(
                "challenge duration {duration}s is below the minimum {}s",
                self.min_challenge
            )));
        }
        let moves = if params.kind == KIND_VIRTUAL {
            params.maxMoves.to::<u64>().saturating_mul(2)
        } else {
            0
        };
        let lock = moves.checked_add(1).and_then(|m| m.checked_mul(duration));
        match lock {
            Some(lock) if lock <= self.max_lock => Ok(()),
            Some(lock) => Err(Error::DurationPolicy(format!(
                "worst-case lock {lock}s exceeds the maximum {}s",
                self.max_lock
            ))),
            None => Err(Error::DurationPolicy(
                "worst-case lock time overflows".into(),
            )),
        }
    }
}
