//! secp256k1 signatures over EIP-712 digests: 65 bytes, `v ∈ {27, 28}`, low s only.

use alloy::primitives::{Address, B256, keccak256};
use ferry_contracts::Signature;
use k256::ecdsa::{RecoveryId, Signature as K256Signature, SigningKey, VerifyingKey};

use crate::{Error, Result};

/// A channel key: signs digests and knows its Ethereum address.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a 32-byte secret key; rejects zero and out-of-range keys.
    pub fn from_bytes(secret: &B256) -> Result<Self> {
        let key = SigningKey::from_bytes(&secret.0.into()).map_err(|_| Error::InvalidSignature)?;
        Ok(Self::from_key(key))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        loop {
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            if let Ok(s) = Self::from_bytes(&B256::from(bytes)) {
                return s;
            }
        }
    }

    fn from_key(key: SigningKey) -> Self {
        let address = address_of(key.verifying_key());
        Self { key, address }
    }

    /// The signer's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The secret key bytes (for persisting the key).
    pub fn secret_bytes(&self) -> B256 {
        B256::from_slice(&self.key.to_bytes())
    }

    /// Signs a 32-byte digest: low s, `v = 27 + recovery id`.
    pub fn sign_digest(&self, digest: &B256) -> Signature {
        // k256 signs deterministically (RFC 6979); a prehash of 32 bytes never fails.
        let (sig, recid) = match self.key.sign_prehash_recoverable(digest.as_slice()) {
            Ok(pair) => pair,
            Err(_) => unreachable_signing(),
        };
        let (sig, recid) = match sig.normalize_s() {
            Some(low) => (
                low,
                RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced()),
            ),
            None => (sig, recid),
        };
        let (r, s) = sig.split_bytes();
        Signature {
            v: 27 + recid.to_byte(),
            r: B256::from_slice(&r),
            s: B256::from_slice(&s),
        }
    }
}

#[cold]
fn unreachable_signing() -> ! {
    // `sign_prehash_recoverable` fails only for prehashes shorter than the field size; ours are 32 bytes.
    panic!("signing a 32-byte digest cannot fail")
}

fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    Address::from_slice(&hash[12..])
}

/// Recovers the signer of `digest` (`ChannelLib.recover`): rejects `v ∉ {27, 28}`, r or s zero or ≥ n, high s.
pub fn recover(digest: &B256, sig: &Signature) -> Result<Address> {
    let recid = match sig.v {
        27 => RecoveryId::new(false, false),
        28 => RecoveryId::new(true, false),
        _ => return Err(Error::InvalidSignature),
    };
    let parsed =
        K256Signature::from_scalars(sig.r.0, sig.s.0).map_err(|_| Error::InvalidSignature)?;
    if parsed.normalize_s().is_some() {
        return Err(Error::InvalidSignature); // high s
    }
    let key = VerifyingKey::recover_from_prehash(digest.as_slice(), &parsed, recid)
        .map_err(|_| Error::InvalidSignature)?;
    Ok(address_of(&key))
}

/// Exactly one signature per signer, in order (S4).
pub fn check_signed_by_all(digest: &B256, sigs: &[Signature], signers: &[Address]) -> Result<()> {
    if sigs.len() != signers.len() {
        return Err(Error::WrongSigner { index: sigs.len() });
    }
    for (index, (sig, signer)) in sigs.iter().zip(signers).enumerate() {
        if recover(digest, sig)? != *signer {
            return Err(Error::WrongSigner { index });
        }
    }
    Ok(())
}
