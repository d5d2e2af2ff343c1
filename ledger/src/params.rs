//! Channel params: validation (S1, S2), ids and fresh nonces.

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{ChannelParams, KIND_LEDGER, KIND_VIRTUAL};
use rand::RngCore;

use crate::{Error, Result};

/// The structural checks of S1/S2, with the contract's reason codes (`ChannelLib.validate`): ledger channels have
/// exactly two participants and no hops; virtual channels have at least two participants, one hop per neighbour
/// pair and distinct hops; participants are non-zero and distinct; the challenge duration is positive.
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
    Ok(())
}

/// [`validate`] plus the chain context of S1: the params name this chain and this adjudicator. Returns the id.
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
    Ok(ferry_contracts::channel_id(params))
}

/// A fresh random 256-bit nonce (S1).
pub fn fresh_nonce() -> U256 {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    U256::from_be_bytes(bytes)
}

/// Index of the last participant (endpoint B of a virtual channel; participant 1 of a ledger channel).
pub fn last_index(params: &ChannelParams) -> usize {
    params.participants.len().saturating_sub(1)
}
