//! States and their signatures: [`SignedState`] and small helpers over `State`.

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256};
use ferry_contracts::{Certificate, ChannelParams, KIND_LEDGER, Signature, State};
use serde::{Deserialize, Serialize};

use crate::context::ChainContext;
use crate::signature::{Signer, check_signed_by_all, recover};
use crate::{Error, Result, params};

/// Numeric value of a state's `uint48` version.
pub fn version_of(state: &State) -> u64 {
    state.version.to::<u64>()
}

/// A `uint48` version from a number, or [`Error::Overflow`] above `2^48 - 1`.
pub fn version(v: u64) -> Result<U48> {
    U48::try_from(v).map_err(|_| Error::Overflow)
}

/// The state that follows `state`: the same content, the version raised by one, not final. Fails only at the
/// largest `uint48` version.
pub fn next(state: &State) -> Result<State> {
    let mut to = state.clone();
    to.version = version(version_of(state) + 1)?;
    to.isFinal = false;
    Ok(to)
}

/// Who must sign a state as S4 demands (`sigs[i]` by `signers[i]`): every participant of a ledger state; the whole
/// path for a virtual state of version ≤ 1 or a final one; otherwise the two endpoints `[A, B]` (plus, on-chain,
/// the certificate). Empty for params with no participants.
pub fn required_signers(params: &ChannelParams, state: &State) -> Vec<Address> {
    if params.kind == KIND_LEDGER || version_of(state) <= 1 || state.isFinal {
        return params.participants.clone();
    }
    match params::endpoints(params) {
        Some((a, b)) => vec![a, b],
        None => vec![],
    }
}

/// A state with its signatures, in the order S4 requires ([`required_signers`]). Built up one signature at a time
/// with [`SignedState::push`], which checks each one as it comes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedState {
    /// The state.
    pub state: State,
    /// Signatures over the state's EIP-712 digest, in signer order.
    pub sigs: Vec<Signature>,
}

impl SignedState {
    /// A state without signatures yet.
    pub fn new(state: State) -> Self {
        Self {
            state,
            sigs: Vec::new(),
        }
    }

    /// A state signed by each signer in order.
    pub fn sign(ctx: &ChainContext, state: State, signers: &[&Signer]) -> Self {
        let digest = ctx.digest(&state);
        let sigs = signers.iter().map(|s| s.sign_digest(&digest)).collect();
        Self { state, sigs }
    }

    /// The state's version.
    pub fn version(&self) -> u64 {
        version_of(&self.state)
    }

    /// The EIP-712 digest the signatures are over.
    pub fn digest(&self, ctx: &ChainContext) -> B256 {
        ctx.digest(&self.state)
    }

    /// Adds the next signature after checking that it is by `expected` (the next required signer); a malformed
    /// signature or another signer leaves `self` unchanged.
    pub fn push(&mut self, ctx: &ChainContext, expected: Address, sig: Signature) -> Result<()> {
        if recover(&self.digest(ctx), &sig)? != expected {
            return Err(Error::WrongSigner {
                index: self.sigs.len(),
            });
        }
        self.sigs.push(sig);
        Ok(())
    }

    /// The signers of the signatures held, in order.
    pub fn signers(&self, ctx: &ChainContext) -> Result<Vec<Address>> {
        let digest = self.digest(ctx);
        self.sigs.iter().map(|s| recover(&digest, s)).collect()
    }

    /// Exactly one signature per signer in `signers`, in order.
    pub fn check_signed_by(&self, ctx: &ChainContext, signers: &[Address]) -> Result<()> {
        check_signed_by_all(&self.digest(ctx), &self.sigs, signers)
    }

    /// Whether the state holds every signature S4 requires ([`required_signers`]).
    pub fn is_complete(&self, ctx: &ChainContext, params: &ChannelParams) -> bool {
        self.check_signed_by(ctx, &required_signers(params, &self.state))
            .is_ok()
    }

    /// The state as V's funding certificate (its post-fund signed by the whole path); not checked here, see
    /// [`support::check_certificate`](crate::support::check_certificate).
    pub fn into_certificate(self) -> Certificate {
        Certificate {
            state: self.state,
            sigs: self.sigs,
        }
    }
}

impl From<Certificate> for SignedState {
    fn from(cert: Certificate) -> Self {
        Self {
            state: cert.state,
            sigs: cert.sigs,
        }
    }
}
