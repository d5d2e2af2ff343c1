//! The support rules (S4, S5) and S3 for states handed to the adjudicator: who must have signed what, and what a
//! challenge, a conclude or a checkpoint will accept. Same verdicts as the contract's checks that do not depend on
//! chain storage; the on-chain part (registered version, deadline) is passed in.

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{
    Certificate, ChannelParams, KIND_LEDGER, KIND_VIRTUAL, Signature, State, state_digest,
};

use crate::signature::{check_signed_by_all, recover};
use crate::{Error, Result, outcome, params};

/// The chain context states are signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainContext {
    /// The chain id.
    pub chain_id: u64,
    /// The adjudicator's address.
    pub adjudicator: Address,
}

impl ChainContext {
    /// The EIP-712 digest of `state` in this context.
    pub fn digest(&self, state: &State) -> B256 {
        state_digest(state, U256::from(self.chain_id), self.adjudicator)
    }
}

/// What the chain knows of a channel that bears on a challenge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registered {
    /// The registered version.
    pub version: u64,
    /// Whether a challenge is pending (not yet finalized).
    pub pending: bool,
    /// For V: the S3 totals hash of its certificate, once V is registered as certified.
    pub certified_totals: Option<B256>,
}

/// Numeric value of a `uint48` version.
pub fn version_of(state: &State) -> u64 {
    state.version.to::<u64>()
}

/// Checks a final state as `conclude` does (S4): params valid for `ctx`, the state is final, of this channel, a
/// valid outcome, and signed by every participant (for V, the whole path).
pub fn check_final(
    ctx: &ChainContext,
    params: &ChannelParams,
    state: &State,
    sigs: &[Signature],
) -> Result<()> {
    let id = params::validate_for(params, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, state)?;
    if !state.isFinal {
        return Err(Error::WrongKind("conclude needs a final state"));
    }
    outcome::validate(&state.outcome, params.participants.len(), params.kind)?;
    check_signed_by_all(&ctx.digest(state), sigs, &params.participants)
}

/// Checks a state as `challenge` does (S4, S5, S3) against what is registered. Returns the certificate totals to
/// remember when the state certifies V (a version-1 whole-path state or a supplied certificate).
pub fn check_challenge(
    ctx: &ChainContext,
    params: &ChannelParams,
    state: &State,
    sigs: &[Signature],
    cert: Option<&Certificate>,
    registered: &Registered,
) -> Result<Option<B256>> {
    let id = params::validate_for(params, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, state)?;
    if state.isFinal {
        return Err(Error::WrongKind("finals go through conclude"));
    }
    let version = version_of(state);
    let stale = if registered.pending {
        version <= registered.version
    } else {
        version < registered.version
    };
    if stale {
        return Err(Error::StaleVersion {
            version,
            reference: registered.version,
        });
    }
    outcome::validate(&state.outcome, params.participants.len(), params.kind)?;
    let digest = ctx.digest(state);
    if params.kind == KIND_LEDGER || version <= 1 {
        check_signed_by_all(&digest, sigs, &params.participants)?;
        if params.kind == KIND_VIRTUAL && version == 1 && registered.certified_totals.is_none() {
            return Ok(Some(outcome::totals_hash(&state.outcome)));
        }
        return Ok(None);
    }
    check_endpoint_signed(params, &digest, sigs)?;
    let (totals, newly) = match cert {
        Some(c) => {
            let totals = check_certificate(ctx, params, id, c)?;
            match registered.certified_totals {
                Some(t) if t != totals => return Err(Error::InvalidCertificate),
                Some(_) => (totals, None),
                None => (totals, Some(totals)),
            }
        }
        None => (
            registered
                .certified_totals
                .ok_or(Error::MissingCertificate)?,
            None,
        ),
    };
    if outcome::totals_hash(&state.outcome) != totals
        || !outcome::intermediaries_empty(&state.outcome)
    {
        return Err(Error::ConservationViolated);
    }
    Ok(newly)
}

/// A virtual state after the certificate: signed by the two endpoints `[A, B]` (S4).
pub fn check_endpoint_signed(
    params: &ChannelParams,
    digest: &B256,
    sigs: &[Signature],
) -> Result<()> {
    if sigs.len() != 2 {
        return Err(Error::WrongSigner { index: sigs.len() });
    }
    let last = params::last_index(params);
    if recover(digest, &sigs[0])? != params.participants[0] {
        return Err(Error::WrongSigner { index: 0 });
    }
    if recover(digest, &sigs[1])? != params.participants[last] {
        return Err(Error::WrongSigner { index: last });
    }
    Ok(())
}

/// V's funding certificate: its post-fund (version 1, not final, valid outcome) signed by the whole path. Returns
/// its S3 totals hash.
pub fn check_certificate(
    ctx: &ChainContext,
    params: &ChannelParams,
    id: B256,
    cert: &Certificate,
) -> Result<B256> {
    let c = &cert.state;
    if c.channelId != id || version_of(c) != 1 || c.isFinal {
        return Err(Error::InvalidCertificate);
    }
    outcome::validate(&c.outcome, params.participants.len(), KIND_VIRTUAL)?;
    check_signed_by_all(&ctx.digest(c), &cert.sigs, &params.participants)?;
    Ok(outcome::totals_hash(&c.outcome))
}

/// Checks a state as `checkpoint` does: a ledger channel, a newer non-final state signed by all.
pub fn check_checkpoint(
    ctx: &ChainContext,
    params: &ChannelParams,
    state: &State,
    sigs: &[Signature],
    registered_version: u64,
) -> Result<()> {
    if params.kind != KIND_LEDGER {
        return Err(Error::WrongKind("a virtual channel has no checkpoint"));
    }
    let id = params::validate_for(params, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, state)?;
    if state.isFinal {
        return Err(Error::WrongKind("checkpoint needs a non-final state"));
    }
    if version_of(state) <= registered_version {
        return Err(Error::StaleVersion {
            version: version_of(state),
            reference: registered_version,
        });
    }
    outcome::validate(&state.outcome, 2, KIND_LEDGER)?;
    check_signed_by_all(&ctx.digest(state), sigs, &params.participants)
}

/// Checks a move as `progress` does, apart from the registered fingerprint, deadline and move count: the version
/// steps by one, the move is not final, the mover is an endpoint and signed it, the outcome is valid, S3 holds
/// between `from` and `to`, and the app accepts it.
pub fn check_move(
    ctx: &ChainContext,
    params: &ChannelParams,
    app: &dyn crate::app::App,
    from: &State,
    to: &State,
    mover: usize,
    mover_sig: &Signature,
) -> Result<()> {
    let id = params::validate_for(params, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, to)?;
    if to.isFinal {
        return Err(Error::WrongKind("a move is never final"));
    }
    if version_of(to) != version_of(from) + 1 {
        return Err(Error::StaleVersion {
            version: version_of(to),
            reference: version_of(from),
        });
    }
    let n = params.participants.len();
    if mover != 0 && mover != n - 1 {
        return Err(Error::InvalidParticipant(mover));
    }
    outcome::validate(&to.outcome, n, params.kind)?;
    outcome::check_conserved(&from.outcome, &to.outcome)?;
    if recover(&ctx.digest(to), mover_sig)? != params.participants[mover] {
        return Err(Error::WrongSigner { index: mover });
    }
    app.valid_transition(params, from, to, mover)
}

fn check_channel(id: B256, state: &State) -> Result<()> {
    if state.channelId != id {
        return Err(Error::WrongChannel {
            got: state.channelId,
            expected: id,
        });
    }
    Ok(())
}
