use alloy::primitives::{B256, U256, keccak256};
use ferry_ledger::signature::{
    SECP256K1_HALF_N, SignatureFault, check_form, check_signed_by_all, recover, recover_detailed,
    recover_reference,
};
use ferry_ledger::{Error, Signer};
use proptest::prelude::*;

const N: U256 = U256::from_be_slice(&[
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
]);

fn signer(seed: u64) -> Signer {
    let mut bytes = keccak256(seed.to_be_bytes());
    bytes.0[0] &= 0x7f; // below the group order
    Signer::from_bytes(&bytes).unwrap_or_else(|_| Signer::random())
}

proptest! {
    #![proptest_config(crate::cases())]

    /// Ferry's recovery (no second verification) and k256's (which verifies again) agree on every signature:
    /// valid ones, and random (r, s, v) that may name no point, another key, or nothing at all.
    #[test]
    fn recovery_agrees_with_k256s_own(
        seed in any::<u64>(),
        digest in any::<[u8; 32]>(),
        r in any::<[u8; 32]>(),
        s_bytes in any::<[u8; 32]>(),
        v in 26u8..30,
    ) {
        let d = B256::from(digest);
        let valid = signer(seed).sign_digest(&d);
        prop_assert_eq!(recover(&d, &valid), recover_reference(&d, &valid));
        let mut random = valid.clone();
        random.r = B256::from(r);
        random.s = B256::from(s_bytes);
        random.v = v;
        prop_assert_eq!(recover(&d, &random), recover_reference(&d, &random));
        // Low s, valid v and r: mostly a recoverable random key.
        let mut low = random.clone();
        low.s.0[0] &= 0x7f;
        low.v = 27 + (v & 1);
        prop_assert_eq!(recover(&d, &low), recover_reference(&d, &low));
    }

    #[test]
    fn sign_then_recover_gives_the_signer(seed in any::<u64>(), digest in any::<[u8; 32]>()) {
        let s = signer(seed);
        let d = B256::from(digest);
        let sig = s.sign_digest(&d);
        prop_assert!(sig.v == 27 || sig.v == 28);
        prop_assert!(U256::from_be_bytes(sig.s.0) <= N / U256::from(2));
        prop_assert_eq!(recover(&d, &sig), Ok(s.address()));
        // The same signature over another digest recovers someone else (or nothing).
        let mut other = d;
        other.0[0] ^= 1;
        prop_assert_ne!(recover(&other, &sig).ok(), Some(s.address()));
    }

    #[test]
    fn s1_high_s_form_is_rejected(seed in any::<u64>(), digest in any::<[u8; 32]>()) {
        let d = B256::from(digest);
        let mut sig = signer(seed).sign_digest(&d);
        sig.s = B256::from(N - U256::from_be_bytes(sig.s.0));
        sig.v = if sig.v == 27 { 28 } else { 27 };
        prop_assert_eq!(recover(&d, &sig), Err(Error::InvalidSignature));
    }
}

#[test]
fn half_order_constant_is_n_over_2() {
    assert_eq!(SECP256K1_HALF_N, N / U256::from(2));
    assert_eq!(ferry_ledger::signature::SECP256K1_N, N);
}

#[test]
fn s1_each_malformation_is_named() {
    let s = signer(3);
    let d = B256::repeat_byte(1);
    let good = s.sign_digest(&d);
    assert_eq!(check_form(&good), Ok(()));
    let with = |f: &dyn Fn(&mut ferry_contracts::Signature)| {
        let mut sig = good.clone();
        f(&mut sig);
        sig
    };
    let cases = [
        (with(&|x| x.v = 0), SignatureFault::BadV),
        (with(&|x| x.v = 1), SignatureFault::BadV),
        (with(&|x| x.r = B256::ZERO), SignatureFault::ZeroR),
        (with(&|x| x.r = B256::from(N)), SignatureFault::ROutOfRange),
        (
            with(&|x| x.r = B256::repeat_byte(0xff)),
            SignatureFault::ROutOfRange,
        ),
        (with(&|x| x.s = B256::ZERO), SignatureFault::ZeroS),
        (
            with(&|x| x.s = B256::from(SECP256K1_HALF_N + U256::from(1))),
            SignatureFault::HighS,
        ),
        (with(&|x| x.s = B256::from(N)), SignatureFault::HighS),
    ];
    for (sig, fault) in cases {
        assert_eq!(check_form(&sig), Err(fault), "{sig:?}");
        assert_eq!(recover_detailed(&d, &sig), Err(fault));
        assert_eq!(recover(&d, &sig), Err(Error::InvalidSignature));
    }
    // s = n/2 exactly is still low.
    let edge = with(&|x| x.s = B256::from(SECP256K1_HALF_N));
    assert_eq!(check_form(&edge), Ok(()));
    // An r with no curve point (x = 5 has no y on secp256k1): well-formed, but nothing recovers.
    let no_point = with(&|x| x.r = B256::from(U256::from(5)));
    assert_eq!(check_form(&no_point), Ok(()));
    assert_eq!(
        recover_detailed(&d, &no_point),
        Err(SignatureFault::Unrecoverable)
    );
}

#[test]
fn s1_malformed_signatures_are_rejected() {
    let s = signer(1);
    let d = B256::repeat_byte(7);
    let good = s.sign_digest(&d);
    for v in [0u8, 1, 26, 29, 255] {
        let mut bad = good.clone();
        bad.v = v;
        assert_eq!(recover(&d, &bad), Err(Error::InvalidSignature), "v = {v}");
    }
    let mut zero_r = good.clone();
    zero_r.r = B256::ZERO;
    assert_eq!(recover(&d, &zero_r), Err(Error::InvalidSignature));
    let mut big_r = good.clone();
    big_r.r = B256::from(N);
    assert_eq!(recover(&d, &big_r), Err(Error::InvalidSignature));
    let mut zero_s = good;
    zero_s.s = B256::ZERO;
    assert_eq!(recover(&d, &zero_s), Err(Error::InvalidSignature));
}

#[test]
fn s4_one_signature_per_signer_in_order() {
    let (a, b) = (signer(1), signer(2));
    let d = B256::repeat_byte(9);
    let sigs = vec![a.sign_digest(&d), b.sign_digest(&d)];
    assert_eq!(
        check_signed_by_all(&d, &sigs, &[a.address(), b.address()]),
        Ok(())
    );
    assert_eq!(
        check_signed_by_all(&d, &sigs, &[b.address(), a.address()]),
        Err(Error::WrongSigner { index: 0 })
    );
    assert_eq!(
        check_signed_by_all(&d, &sigs[..1], &[a.address(), b.address()]),
        Err(Error::WrongSigner { index: 1 })
    );
}

#[test]
fn signers_compare_by_address_and_hide_their_key() {
    let a = signer(1);
    assert_eq!(a, signer(1));
    assert_ne!(a, signer(2));
    let shown = format!("{a:?}");
    assert!(shown.contains("address"));
    assert!(!shown.contains(&format!("{}", a.secret_bytes())));
    let from_key = Signer::from(a.signing_key().clone());
    assert_eq!(from_key.address(), a.address());
}

#[test]
fn secret_bytes_round_trip() {
    let s = Signer::random();
    let back = Signer::from_bytes(&s.secret_bytes());
    assert_eq!(back.map(|b| b.address()), Ok(s.address()));
    assert!(Signer::from_bytes(&B256::ZERO).is_err());
    assert!(Signer::from_bytes(&B256::from(N)).is_err());
}
