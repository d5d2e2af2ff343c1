//! The support rules (S4, S5, S7), S3, and the other preconditions of the Adjudicator's entry points that do not
//! depend on chain storage: who must have signed what, and what `conclude`, `challenge`, `checkpoint`,
//! `progress`, `withdrawPartial` and `claim` will accept; plus the off-chain check of a proposed leaf (S8). Each function returns the error the contract reverts
//! with, checked in the contract's order; the on-chain facts they need (registered version, pending challenge,
//! certificate totals) are passed in. What they leave to the chain: finalization, fingerprints of registered
//! states, move counts, claimed flags and holdings.

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{
    AssetAmount, Certificate, ChannelParams, KIND_LEDGER, KIND_VIRTUAL, LeafProof, Signature,
    State, SubAlloc,
};

use crate::signature::{check_signed_by_all, recover};
use crate::state::SignedState;
use crate::{Error, Result, outcome, params, sub_tree};

pub use crate::context::ChainContext;
pub use crate::state::version_of;

/// What the chain knows of a channel that bears on a challenge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Registered {
    /// The registered version (0 when nothing is registered).
    pub version: u64,
    /// Whether a challenge is pending (registered, not yet finalized).
    pub pending: bool,
    /// For V: the S3 totals hash of its certificate, once V is registered as certified.
    pub certified_totals: Option<B256>,
}

/// Checks a final state as `conclude` does (S4): params valid for `ctx`, a state of this channel, final, not older
/// than the registered version, a valid outcome, signed by every participant (for V, the whole path).
pub fn check_final(
    ctx: &ChainContext,
    params: &ChannelParams,
    state: &State,
    sigs: &[Signature],
    registered_version: u64,
) -> Result<()> {
    let id = params::validate_for(params, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, state)?;
    if !state.isFinal {
        return Err(Error::FinalityMismatch("conclude needs a final state"));
    }
    if version_of(state) < registered_version {
        return Err(Error::StaleVersion {
            version: version_of(state),
            reference: registered_version,
        });
    }
    outcome::validate(&state.outcome, params.participants.len(), params.kind)?;
    check_signed_by_all(&ctx.digest(state), sigs, &params.participants)
}

/// Checks a state as `challenge` does (S4, S5, S3) against what is registered: not final; newer than the
/// registered version (or as new, when no challenge is pending); a valid outcome; signed by all (a ledger state,
/// or V up to its post-fund), or by V's endpoints with the certificate — given, or already registered. A
/// certificate with no signatures counts as none, as on-chain.
///
/// Returns the certificate totals the chain starts remembering when this challenge certifies V (a whole-path
/// version-1 state or a certificate, while V is not yet certified); `None` otherwise.
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
        return Err(Error::FinalityMismatch("finals go through conclude"));
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
    let (totals, newly) = match cert.filter(|c| !c.sigs.is_empty()) {
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
    outcome::check_conserved_hash(&totals, &state.outcome)?;
    Ok(newly)
}

/// A virtual state after the certificate: signed by the two endpoints `[A, B]` (S4). A wrong count is
/// `WrongSigner { index: sigs.len() }`; B's signature is reported at index `n - 1`, as on-chain.
pub fn check_endpoint_signed(
    params: &ChannelParams,
    digest: &B256,
    sigs: &[Signature],
) -> Result<()> {
    let [sig_a, sig_b] = sigs else {
        return Err(Error::WrongSigner { index: sigs.len() });
    };
    let (a, b) = params::endpoints(params).ok_or(Error::InvalidParams(2))?;
    if recover(digest, sig_a)? != a {
        return Err(Error::WrongSigner { index: 0 });
    }
    if recover(digest, sig_b)? != b {
        return Err(Error::WrongSigner {
            index: params::last_index(params),
        });
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

/// Checks a state as `checkpoint` does: a ledger channel (a virtual channel has no checkpoint), a state of it,
/// not final, newer than the registered version, a valid outcome, signed by both participants.
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
        return Err(Error::FinalityMismatch(
            "checkpoint needs a non-final state",
        ));
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

/// Checks a move as `progress` does, apart from the pending challenge, V being certified, the registered
/// fingerprint of `from` and the move count: the channel has an app, `to` is a non-final state of this channel one
/// version after `from`, the mover is an endpoint, `to`'s outcome is valid, S3 holds between `from` and `to`, the
/// mover signed `to`, and the app accepts the move.
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
    if params.app == Address::ZERO {
        return Err(Error::InvalidTransition("the channel has no app"));
    }
    check_channel(id, to)?;
    if to.isFinal {
        return Err(Error::FinalityMismatch("a move is never final"));
    }
    if version_of(to) != version_of(from) + 1 {
        return Err(Error::StaleVersion {
            version: version_of(to),
            reference: version_of(from),
        });
    }
    let n = params.participants.len();
    if !params::is_endpoint(params, mover) {
        return Err(Error::InvalidParticipant(mover));
    }
    outcome::validate(&to.outcome, n, params.kind)?;
    outcome::check_conserved(&from.outcome, &to.outcome)?;
    if recover(&ctx.digest(to), mover_sig)? != params.participants[mover] {
        return Err(Error::WrongSigner { index: mover });
    }
    app.valid_transition(params, from, to, mover)
}

/// Checks a partial withdrawal as `withdrawPartial` does, apart from finalization: a ledger channel, participant 0
/// or 1, a state of this channel with a valid outcome, signed by both.
pub fn check_withdraw_partial(
    ctx: &ChainContext,
    params: &ChannelParams,
    state: &State,
    sigs: &[Signature],
    participant: usize,
) -> Result<()> {
    if params.kind != KIND_LEDGER {
        return Err(Error::WrongKind(
            "partial withdrawals are for ledger channels",
        ));
    }
    if participant > 1 {
        return Err(Error::InvalidParticipant(participant));
    }
    let id = params::validate_for(params, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, state)?;
    outcome::validate(&state.outcome, 2, KIND_LEDGER)?;
    check_signed_by_all(&ctx.digest(state), sigs, &params.participants)
}

/// What a claim pays for one asset of a leaf (S9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimPayout {
    /// The asset.
    pub asset: Address,
    /// `min(A's balance in V, V's part of the leaf)`, paid to the ledger participant standing for A, plus the
    /// routing fee when V never got past its pre-fund.
    pub to_left: U256,
    /// The rest of V's part of the leaf, paid to the other ledger participant, plus the routing fee when V got past
    /// its pre-fund.
    pub to_right: U256,
}

/// What a claim of one leaf does (S9).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claim {
    /// Where the ledger sits on V's path, and who stands for which side.
    pub position: params::PathPosition,
    /// Per asset of the leaf, in order.
    pub payouts: Vec<ClaimPayout>,
}

/// Checks a claim as `claim` does, apart from what needs chain storage (both channels finalized, both states
/// matching their fingerprints, the slot not claimed yet, claims within the ledger's locked and held amounts): the
/// kinds; both params valid for `ctx`; the leaf is V's; the ledger is on V's path with the right participants; the
/// proof leads to the ledger state's `subRoot`; the leaf lists V's assets in order. Returns the payouts.
pub fn check_claim(
    ctx: &ChainContext,
    ledger: &ChannelParams,
    ledger_state: &State,
    leaf: &SubAlloc,
    proof: &LeafProof,
    virt: &ChannelParams,
    virtual_state: &State,
) -> Result<Claim> {
    if ledger.kind != KIND_LEDGER || virt.kind != KIND_VIRTUAL {
        return Err(Error::WrongKind(
            "claim needs a ledger and a virtual channel",
        ));
    }
    params::validate_for(ledger, ctx.chain_id, ctx.adjudicator)?;
    let vid = params::validate_for(virt, ctx.chain_id, ctx.adjudicator)?;
    if leaf.channelId != vid {
        return Err(Error::LeafMismatch);
    }
    let position = params::path_position(ledger, virt)?;
    if sub_tree::root_from_proof(leaf, proof)? != ledger_state.outcome.subRoot {
        return Err(Error::InvalidProof);
    }
    let payouts = leaf_payout(leaf, virtual_state)?;
    Ok(Claim { position, payouts })
}

/// What `leaf` pays out by V's state `virtual_state`, per asset, as `claim` computes it (S9): of V's part of the
/// leaf, `min(A's balance, part)` to the side standing for A and the rest to the other; the routing fee held in the
/// leaf (first asset) to the side standing for B if the state is past V's pre-fund (version ≥ 1), back to A's side
/// otherwise. Off-chain removals of the leaf pay the same (refund: the pre-fund; settle: the final).
pub fn leaf_payout(leaf: &SubAlloc, virtual_state: &State) -> Result<Vec<ClaimPayout>> {
    if leaf.amounts.len() != virtual_state.outcome.assets.len() {
        return Err(Error::LeafMismatch);
    }
    sub_tree::validate_leaf(leaf)?;
    let earned = version_of(virtual_state) >= 1;
    let mut payouts = Vec::with_capacity(leaf.amounts.len());
    for (j, (l, va)) in leaf
        .amounts
        .iter()
        .zip(&virtual_state.outcome.assets)
        .enumerate()
    {
        if va.asset != l.asset {
            return Err(Error::LeafMismatch);
        }
        let fee = if j == 0 { leaf.fee } else { U256::ZERO };
        // validate_leaf: the fee is within the first amount.
        let part = l.amount - fee;
        // The contract reads balances[0]; a finalized V has a valid outcome, so it exists.
        let a_balance = va.balances.first().copied().unwrap_or_default();
        let mut to_left = a_balance.min(part);
        let mut to_right = part - to_left;
        if earned {
            to_right += fee;
        } else {
            to_left += fee;
        }
        payouts.push(ClaimPayout {
            asset: l.asset,
            to_left,
            to_right,
        });
    }
    Ok(payouts)
}

/// The leaf a ledger adds for V (S8): V's id and, per asset of V's pre-fund outcome in order, its total
/// (`sum(balances)`; a virtual outcome locks nothing), plus the routing `fee` the side standing for A puts in with
/// it (first asset; see [`leaf_payout`]).
pub fn leaf_of(virt: &ChannelParams, prefund: &State, fee: U256) -> SubAlloc {
    let mut amounts: Vec<AssetAmount> = prefund
        .outcome
        .assets
        .iter()
        .map(|a| AssetAmount {
            asset: a.asset,
            amount: outcome::asset_total(a),
        })
        .collect();
    if let Some(first) = amounts.first_mut() {
        first.amount = first.amount.saturating_add(fee);
    }
    SubAlloc {
        channelId: ferry_contracts::channel_id(virt),
        amounts,
        fee,
    }
}

/// The checks of S8 on a proposed leaf that need no chain: V's params are valid for `ctx`, the pre-fund is V's
/// version-0 non-final state with a valid outcome, signed by the whole path, and the leaf is exactly
/// [`leaf_of`] that pre-fund (V's id, V's assets in order, the pre-fund's totals) with the leaf's fee on top (who
/// may charge what fee is the virtual protocol's policy).
pub fn check_leaf(
    ctx: &ChainContext,
    virt: &ChannelParams,
    prefund: &State,
    prefund_sigs: &[Signature],
    leaf: &SubAlloc,
) -> Result<()> {
    if virt.kind != KIND_VIRTUAL {
        return Err(Error::WrongKind("a leaf hosts a virtual channel"));
    }
    let id = params::validate_for(virt, ctx.chain_id, ctx.adjudicator)?;
    check_channel(id, prefund)?;
    if version_of(prefund) != 0 {
        return Err(Error::StaleVersion {
            version: version_of(prefund),
            reference: 0,
        });
    }
    if prefund.isFinal {
        return Err(Error::FinalityMismatch("the pre-fund is not final"));
    }
    outcome::validate(&prefund.outcome, virt.participants.len(), KIND_VIRTUAL)?;
    check_signed_by_all(&ctx.digest(prefund), prefund_sigs, &virt.participants)?;
    sub_tree::validate_leaf(leaf)?;
    if *leaf != leaf_of(virt, prefund, leaf.fee) {
        return Err(Error::LeafMismatch);
    }
    Ok(())
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

/// The support rules as methods of a [`SignedState`] (here rather than in [`state`](crate::state), which sits below
/// this module and imports nothing of it).
impl SignedState {
    /// What `challenge` checks ([`check_challenge`]); returns the certificate totals to remember when
    /// this state certifies V.
    pub fn check_challenge(
        &self,
        ctx: &ChainContext,
        params: &ChannelParams,
        cert: Option<&Certificate>,
        registered: &Registered,
    ) -> Result<Option<B256>> {
        check_challenge(ctx, params, &self.state, &self.sigs, cert, registered)
    }

    /// What `conclude` checks ([`check_final`]).
    pub fn check_final(
        &self,
        ctx: &ChainContext,
        params: &ChannelParams,
        registered_version: u64,
    ) -> Result<()> {
        check_final(ctx, params, &self.state, &self.sigs, registered_version)
    }

    /// What `checkpoint` checks ([`check_checkpoint`]).
    pub fn check_checkpoint(
        &self,
        ctx: &ChainContext,
        params: &ChannelParams,
        registered_version: u64,
    ) -> Result<()> {
        check_checkpoint(ctx, params, &self.state, &self.sigs, registered_version)
    }
}
