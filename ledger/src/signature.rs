//! secp256k1 signatures over EIP-712 digests: 65 bytes, `v ∈ {27, 28}`, `0 < r < n`, `0 < s <= n/2` (low s),
//! a non-zero recovered address (contracts/SPEC.md "Identity and hashing"; `ChannelLib.recover`).

use alloy::primitives::{Address, B256, U256, keccak256};
use ferry_contracts::{Signature, State};
use k256::ecdsa::{RecoveryId, Signature as K256Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::ops::{LinearCombination, Reduce};
use k256::elliptic_curve::point::DecompressPoint;
use k256::elliptic_curve::subtle::Choice;
use k256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

use crate::context::ChainContext;
use crate::{Error, Result};

/// The secp256k1 group order n.
pub const SECP256K1_N: U256 = U256::from_be_slice(&[
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
]);

/// `n / 2`: the largest `s` a low-s signature may have.
pub const SECP256K1_HALF_N: U256 = U256::from_be_slice(&[
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
]);

/// What is wrong with a malformed signature. The contract reverts with `InvalidSignature()` for all of them, and
/// so does [`recover`] ([`Error::InvalidSignature`]); this names the fault for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFault {
    /// `v` is neither 27 nor 28.
    BadV,
    /// `r` is zero.
    ZeroR,
    /// `r >= n`.
    ROutOfRange,
    /// `s` is zero.
    ZeroS,
    /// `s > n/2`: the high-s twin of a valid signature (malleability).
    HighS,
    /// No public key recovers from `(digest, r, s, v)` (no curve point has x = r), or it hashes to address 0.
    Unrecoverable,
}

/// The checks `ChannelLib.recover` makes before `ecrecover`, in its order.
pub fn check_form(sig: &Signature) -> Result<(), SignatureFault> {
    let r = U256::from_be_bytes(sig.r.0);
    let s = U256::from_be_bytes(sig.s.0);
    if sig.v != 27 && sig.v != 28 {
        return Err(SignatureFault::BadV);
    }
    if r.is_zero() {
        return Err(SignatureFault::ZeroR);
    }
    if r >= SECP256K1_N {
        return Err(SignatureFault::ROutOfRange);
    }
    if s.is_zero() {
        return Err(SignatureFault::ZeroS);
    }
    if s > SECP256K1_HALF_N {
        return Err(SignatureFault::HighS);
    }
    Ok(())
}

/// Recovers the signer of `digest`, or names the fault. A result [`precompute_recover`] computed ahead is used
/// (once) instead of recovering again.
pub fn recover_detailed(digest: &B256, sig: &Signature) -> Result<Address, SignatureFault> {
    if let Some(found) = memo::RECOVERED.take(&(*digest, sig_bytes(sig))) {
        memo::count(|c| c.recovered_ahead += 1);
        return found;
    }
    memo::count(|c| c.recovered_here += 1);
    recover_uncached(digest, sig)
}

fn recover_uncached(digest: &B256, sig: &Signature) -> Result<Address, SignatureFault> {
    recover_with(sig, |parsed, y_odd| recover_key(digest, parsed, y_odd))
}

/// Recovers the signer of `digest` now, on the calling thread, so that the [`recover`] of the same pair that
/// follows (on any thread) finds the result instead of computing it. A node's runtime calls this for the
/// signatures a batch of messages carries, on several cores at once, before its single-threaded core handles the
/// batch: the core's checks are unchanged and only cheaper.
///
/// Sound by construction: recovery is a pure function of `(digest, sig)`, and the only way into the memo is
/// this function computing it, so a result found there is the result [`recover`] would compute. The memo holds
/// at most [`memo::CAPACITY`] results (results never asked for are dropped when it fills), and each is used once.
pub fn precompute_recover(digest: &B256, sig: &Signature) {
    let found = recover_uncached(digest, sig);
    memo::RECOVERED.put((*digest, sig_bytes(sig)), found);
}

/// A signature as the 65 bytes `r ‖ s ‖ v`: a memo key.
fn sig_bytes(sig: &Signature) -> [u8; 65] {
    let mut out = [0u8; 65];
    out[..32].copy_from_slice(sig.r.as_slice());
    out[32..64].copy_from_slice(sig.s.as_slice());
    out[64] = sig.v;
    out
}

/// Signatures computed ahead of need ([`precompute_recover`], [`Signer::presign`]), process-wide and bounded.
pub mod memo {
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{LazyLock, Mutex};

    use alloy::primitives::{Address, B256};
    use ferry_contracts::Signature;

    use super::SignatureFault;

    /// Results each memo holds at most: when a new one finds it full, every result not used yet is dropped
    /// (ahead-of-time work that went unused; the callers compute it again if they ever need it).
    pub const CAPACITY: usize = 16_384;

    /// A bounded map from an input to its result, each result taken at most once.
    pub(super) struct Memo<K, V> {
        map: Mutex<HashMap<K, V>>,
        /// The number of results held: lets a lookup skip the lock when there are none (the common case for a
        /// node that computes nothing ahead).
        len: AtomicUsize,
    }

    impl<K: Hash + Eq, V> Memo<K, V> {
        pub(super) fn new() -> Self {
            Self {
                map: Mutex::new(HashMap::new()),
                len: AtomicUsize::new(0),
            }
        }

        pub(super) fn put(&self, key: K, value: V) {
            // A panic while holding the lock leaves a map that is still valid: carry on with it.
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(key, value);
            self.len.store(map.len(), Ordering::Relaxed);
        }

        pub(super) fn take(&self, key: &K) -> Option<V> {
            if self.len.load(Ordering::Relaxed) == 0 {
                return None;
            }
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            let found = map.remove(key);
            self.len.store(map.len(), Ordering::Relaxed);
            found
        }

        pub(super) fn len(&self) -> usize {
            self.len.load(Ordering::Relaxed)
        }
    }

    /// A recovery's input: the digest and the signature's 65 bytes.
    type RecoveryInput = (B256, [u8; 65]);

    /// `(digest, r ‖ s ‖ v)` → what [`super::recover_detailed`] computes for it.
    pub(super) static RECOVERED: LazyLock<Memo<RecoveryInput, Result<Address, SignatureFault>>> =
        LazyLock::new(Memo::new);

    /// `(signer's address, digest)` → the signer's (deterministic) signature of the digest.
    pub(super) static SIGNED: LazyLock<Memo<(Address, B256), Signature>> = LazyLock::new(Memo::new);

    /// What [`super::recover`] and [`super::Signer::sign_digest`] did on one thread: found the result computed
    /// ahead, or computed it there. Tests use it to check that what a runtime computes ahead is what the core
    /// uses.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct ThreadCounts {
        /// Recoveries found computed ahead.
        pub recovered_ahead: u64,
        /// Recoveries computed on the thread.
        pub recovered_here: u64,
        /// Signatures found computed ahead.
        pub signed_ahead: u64,
        /// Signatures computed on the thread.
        pub signed_here: u64,
    }

    thread_local! {
        static COUNTS: std::cell::Cell<ThreadCounts> = const {
            std::cell::Cell::new(ThreadCounts {
                recovered_ahead: 0,
                recovered_here: 0,
                signed_ahead: 0,
                signed_here: 0,
            })
        };
    }

    pub(super) fn count(f: impl FnOnce(&mut ThreadCounts)) {
        COUNTS.with(|c| {
            let mut counts = c.get();
            f(&mut counts);
            c.set(counts);
        });
    }

    /// The calling thread's counts since it started.
    pub fn thread_counts() -> ThreadCounts {
        COUNTS.with(std::cell::Cell::get)
    }

    /// Recoveries computed ahead and not used yet.
    pub fn recovered_held() -> usize {
        RECOVERED.len()
    }

    /// Signatures computed ahead and not used yet.
    pub fn signed_held() -> usize {
        SIGNED.len()
    }
}

/// The form checks, the parse, then `key` (v = 27 + y parity; `ecrecover` takes r itself as the x coordinate,
/// never r + n), and the zero-address rejection.
fn recover_with(
    sig: &Signature,
    key: impl FnOnce(&K256Signature, bool) -> Option<VerifyingKey>,
) -> Result<Address, SignatureFault> {
    check_form(sig)?;
    let parsed =
        K256Signature::from_scalars(sig.r.0, sig.s.0).map_err(|_| SignatureFault::Unrecoverable)?;
    let key = key(&parsed, sig.v == 28).ok_or(SignatureFault::Unrecoverable)?;
    let address = address_of(&key);
    if address == Address::ZERO {
        return Err(SignatureFault::Unrecoverable);
    }
    Ok(address)
}

/// The public key that signed `digest` with `sig`, R's y odd or not: `Q = r⁻¹ (s·R − z·G)` where R is the curve
/// point with x = r (what `ecrecover` computes). k256's `VerifyingKey::recover_from_prehash` computes the same and
/// then verifies the signature against Q again, which cannot fail for a Q computed this way (u1·G + u2·Q = R, whose
/// x is r) and costs ~45% of a recovery; this skips that second check. A differential test compares the two on
/// valid and random signatures.
fn recover_key(digest: &B256, sig: &K256Signature, y_odd: bool) -> Option<VerifyingKey> {
    let (r, s) = sig.split_scalars();
    let z = <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(digest.0));
    let big_r = Option::<AffinePoint>::from(AffinePoint::decompress(
        &r.to_bytes(),
        Choice::from(u8::from(y_odd)),
    ))?;
    // r is non-zero (a parsed signature), so it has an inverse.
    let r_inv = Option::<Scalar>::from(r.invert())?;
    let u1 = -(r_inv * z);
    let u2 = r_inv * *s;
    let q = ProjectivePoint::lincomb(
        &ProjectivePoint::GENERATOR,
        &u1,
        &ProjectivePoint::from(big_r),
        &u2,
    );
    // The identity is no public key.
    VerifyingKey::from_affine(q.to_affine()).ok()
}

/// k256's own recovery (it verifies the signature again after recovering): the reference [`recover`] is tested
/// and benchmarked against.
pub fn recover_reference(digest: &B256, sig: &Signature) -> Result<Address> {
    recover_with(sig, |parsed, y_odd| {
        VerifyingKey::recover_from_prehash(digest.as_slice(), parsed, RecoveryId::new(y_odd, false))
            .ok()
    })
    .map_err(|_| Error::InvalidSignature)
}

/// Recovers the signer of `digest` (`ChannelLib.recover`): rejects `v ∉ {27, 28}`, r or s zero or ≥ n, high s,
/// and signatures from which no address recovers, all as [`Error::InvalidSignature`].
pub fn recover(digest: &B256, sig: &Signature) -> Result<Address> {
    recover_detailed(digest, sig).map_err(|_| Error::InvalidSignature)
}

/// Exactly one signature per signer, in order (S4; `ChannelLib.requireSignedByAll`): a wrong count is
/// `WrongSigner { index: sigs.len() }`, a malformed signature `InvalidSignature`, another signer
/// `WrongSigner { index }`.
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

/// The Ethereum address of a public key: the last 20 bytes of `keccak256(x ‖ y)`.
pub fn address_of(key: &VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    Address::from_slice(&hash[12..])
}

/// A channel key: a k256 [`SigningKey`] with its Ethereum address. Signs digests deterministically (RFC 6979),
/// always in low-s form.
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

impl PartialEq for Signer {
    fn eq(&self, other: &Self) -> bool {
        self.address == other.address
    }
}

impl Eq for Signer {}

impl From<SigningKey> for Signer {
    fn from(key: SigningKey) -> Self {
        let address = address_of(key.verifying_key());
        Self { key, address }
    }
}

impl Signer {
    /// A signer from a 32-byte secret key; rejects zero and keys ≥ n ([`Error::InvalidSignature`]).
    pub fn from_bytes(secret: &B256) -> Result<Self> {
        let key = SigningKey::from_bytes(&secret.0.into()).map_err(|_| Error::InvalidSignature)?;
        Ok(Self::from(key))
    }

    /// A fresh random key from the thread-local CSPRNG.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        loop {
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            // Fails only for 0 and values ≥ n: probability below 2^-127.
            if let Ok(s) = Self::from_bytes(&B256::from(bytes)) {
                return s;
            }
        }
    }

    /// The signer's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The k256 key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The secret key bytes (for persisting the key).
    pub fn secret_bytes(&self) -> B256 {
        B256::from_slice(&self.key.to_bytes())
    }

    /// Signs a 32-byte digest: low s, `v = 27 + y parity`. [`recover`] gives back [`Signer::address`]. A signature
    /// [`Signer::presign`] computed ahead is used (once) instead of signing again.
    pub fn sign_digest(&self, digest: &B256) -> Signature {
        if let Some(sig) = memo::SIGNED.take(&(self.address, *digest)) {
            memo::count(|c| c.signed_ahead += 1);
            return sig;
        }
        memo::count(|c| c.signed_here += 1);
        self.sign_uncached(digest)
    }

    /// Signs `digest` now, on the calling thread, so that the [`Signer::sign_digest`] of it that follows (on any
    /// thread) finds the signature instead of computing it: a runtime signs a batch's digests on several cores
    /// before its core asks for them one by one.
    ///
    /// Signatures are deterministic (RFC 6979), so the one found is the one `sign_digest` would compute; it is
    /// only ever handed to the signer's own `sign_digest`, so a digest presigned but never asked for is never
    /// given to anyone.
    pub fn presign(&self, digest: &B256) {
        let sig = self.sign_uncached(digest);
        memo::SIGNED.put((self.address, *digest), sig);
    }

    fn sign_uncached(&self, digest: &B256) -> Signature {
        let (sig, recid) = match self.key.sign_prehash_recoverable(digest.as_slice()) {
            Ok(pair) => pair,
            // Only a prehash shorter than half the field size (16 bytes) makes k256 fail; a digest is 32 bytes.
            Err(_) => unreachable_signing(),
        };
        // Low s: negating s flips the parity of the recovered point's y.
        let (sig, y_odd) = match sig.normalize_s() {
            Some(low) => (low, !recid.is_y_odd()),
            None => (sig, recid.is_y_odd()),
        };
        let (r, s) = sig.split_bytes();
        Signature {
            v: 27 + u8::from(y_odd),
            r: B256::from_slice(&r),
            s: B256::from_slice(&s),
        }
    }

    /// Signs a state's EIP-712 digest in a chain context.
    pub fn sign_state(&self, ctx: &ChainContext, state: &State) -> Signature {
        self.sign_digest(&ctx.digest(state))
    }
}

#[cold]
fn unreachable_signing() -> ! {
    panic!("signing a 32-byte digest cannot fail")
}

#[cfg(test)]
mod memo_tests {
    use super::*;

    #[test]
    fn what_is_computed_ahead_is_what_would_be_computed_and_is_used_once() {
        let signer = Signer::random();
        let digest = B256::repeat_byte(7);
        signer.presign(&digest);
        let before = memo::thread_counts();
        let sig = signer.sign_digest(&digest);
        assert_eq!(memo::thread_counts().signed_ahead, before.signed_ahead + 1);
        assert_eq!(sig, signer.sign_uncached(&digest));
        // Used once: the next one is computed here.
        let again = signer.sign_digest(&digest);
        assert_eq!(again, sig);
        assert_eq!(memo::thread_counts().signed_here, before.signed_here + 1);

        precompute_recover(&digest, &sig);
        let before = memo::thread_counts();
        assert_eq!(recover(&digest, &sig).ok(), Some(signer.address()));
        assert_eq!(
            memo::thread_counts().recovered_ahead,
            before.recovered_ahead + 1
        );
        // A recovery computed ahead for another digest is not taken for this one.
        let other = B256::repeat_byte(8);
        precompute_recover(&other, &sig);
        assert_ne!(recover(&digest, &sig).ok(), recover(&other, &sig).ok());
    }

    #[test]
    fn a_malformed_signature_computed_ahead_is_still_refused() {
        let digest = B256::repeat_byte(3);
        let mut sig = Signer::random().sign_digest(&digest);
        sig.v = 29;
        precompute_recover(&digest, &sig);
        assert_eq!(recover_detailed(&digest, &sig), Err(SignatureFault::BadV));
    }

    #[test]
    fn the_memo_is_bounded() {
        let m: memo::Memo<u64, u64> = memo::Memo::new();
        for k in 0..(memo::CAPACITY as u64 * 2 + 5) {
            m.put(k, k);
            assert!(m.len() <= memo::CAPACITY);
        }
        assert_eq!(
            m.take(&(memo::CAPACITY as u64 * 2 + 4)),
            Some(memo::CAPACITY as u64 * 2 + 4)
        );
        assert_eq!(m.take(&0), None);
    }
}
