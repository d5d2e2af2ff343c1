//! Unit and property tests of the hashing rules, the encodings and the bindings.

use std::collections::BTreeSet;

use alloy::primitives::aliases::{U48, U96};
use alloy::sol_types::{SolCall, SolValue};
use proptest::prelude::*;

use super::*;

fn cases() -> ProptestConfig {
    let cases = std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------- strategies

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}
fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}
fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes)
    ]
}
fn params() -> impl Strategy<Value = ChannelParams> {
    (
        any::<u8>(),
        u256(),
        address(),
        prop::collection::vec(address(), 0..5),
        u256(),
        address(),
        (any::<u64>(), any::<u64>()),
        prop::collection::vec(b256(), 0..4),
    )
        .prop_map(
            |(kind, chain_id, adjudicator, participants, nonce, app, (cd, mm), hops)| {
                ChannelParams {
                    kind,
                    chainId: chain_id,
                    adjudicator,
                    participants,
                    nonce,
                    app,
                    challengeDuration: U48::saturating_from(cd),
                    maxMoves: U48::saturating_from(mm),
                    challengeBond: U96::saturating_from(mm.wrapping_mul(cd)),
                    hops,
                }
            },
        )
}
fn asset_outcome() -> impl Strategy<Value = AssetOutcome> {
    (
        address(),
        prop::collection::vec(u256(), 0..4),
        prop::collection::vec(u256(), 0..4),
        prop::collection::vec(u256(), 0..4),
        u256(),
    )
        .prop_map(
            |(asset, balances, deposited, withdrawn, locked)| AssetOutcome {
                asset,
                balances,
                deposited,
                withdrawn,
                locked,
            },
        )
}
fn state() -> impl Strategy<Value = State> {
    (
        b256(),
        any::<u64>(),
        prop::collection::vec(asset_outcome(), 0..3),
        b256(),
        prop::collection::vec(any::<u8>(), 0..100),
        any::<bool>(),
    )
        .prop_map(|(id, version, assets, sub_root, app, fin)| State {
            channelId: id,
            version: U48::saturating_from(version),
            outcome: Outcome {
                assets,
                subRoot: sub_root,
            },
            appData: app.into(),
            isFinal: fin,
        })
}
fn signature() -> impl Strategy<Value = Signature> {
    (any::<u8>(), b256(), b256()).prop_map(|(v, r, s)| Signature { v, r, s })
}
fn sub_alloc() -> impl Strategy<Value = SubAlloc> {
    (
        b256(),
        prop::collection::vec((address(), u256()), 0..4),
        u256(),
    )
        .prop_map(|(id, a, fee)| SubAlloc {
            channelId: id,
            amounts: a
                .into_iter()
                .map(|(asset, amount)| AssetAmount { asset, amount })
                .collect(),
            fee,
        })
}

// ---------------------------------------------------------------------------------------------- reference hashing

/// EIP-712 `hashStruct` written out by hand after `ChannelLib.sol`, independent of alloy's `SolStruct`.
mod reference {
    use super::*;

    fn word_u256(out: &mut Vec<u8>, v: U256) {
        out.extend_from_slice(&v.to_be_bytes::<32>());
    }
    fn word_address(out: &mut Vec<u8>, a: Address) {
        out.extend_from_slice(&[0u8; 12]);
        out.extend_from_slice(a.as_slice());
    }
    fn packed(values: &[U256]) -> B256 {
        let mut out = Vec::new();
        for v in values {
            word_u256(&mut out, *v);
        }
        keccak256(out)
    }

    const ASSET_OUTCOME: &str = "AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)";
    const OUTCOME: &str = "Outcome(AssetOutcome[] assets,bytes32 subRoot)";

    pub fn asset_outcome(a: &AssetOutcome) -> B256 {
        let mut out = keccak256(ASSET_OUTCOME).to_vec();
        word_address(&mut out, a.asset);
        out.extend_from_slice(packed(&a.balances).as_slice());
        out.extend_from_slice(packed(&a.deposited).as_slice());
        out.extend_from_slice(packed(&a.withdrawn).as_slice());
        word_u256(&mut out, a.locked);
        keccak256(out)
    }

    pub fn outcome(o: &Outcome) -> B256 {
        let mut out = keccak256(format!("{OUTCOME}{ASSET_OUTCOME}")).to_vec();
        let mut hashes = Vec::new();
        for a in &o.assets {
            hashes.extend_from_slice(asset_outcome(a).as_slice());
        }
        out.extend_from_slice(keccak256(hashes).as_slice());
        out.extend_from_slice(o.subRoot.as_slice());
        keccak256(out)
    }

    pub fn state(s: &State) -> B256 {
        let typ = format!(
            "State(bytes32 channelId,uint48 version,Outcome outcome,bytes appData,bool isFinal){ASSET_OUTCOME}{OUTCOME}"
        );
        let mut out = keccak256(typ).to_vec();
        out.extend_from_slice(s.channelId.as_slice());
        word_u256(&mut out, U256::from(s.version));
        out.extend_from_slice(outcome(&s.outcome).as_slice());
        out.extend_from_slice(keccak256(&s.appData).as_slice());
        word_u256(&mut out, U256::from(s.isFinal as u8));
        keccak256(out)
    }

    pub fn voucher(v: &Voucher) -> B256 {
        let mut out =
            keccak256("Voucher(bytes32 channelId,address payer,address asset,uint256 amount)")
                .to_vec();
        out.extend_from_slice(v.channelId.as_slice());
        word_address(&mut out, v.payer);
        word_address(&mut out, v.asset);
        word_u256(&mut out, v.amount);
        keccak256(out)
    }

    pub fn separator(chain_id: U256, adjudicator: Address) -> B256 {
        let mut out = keccak256(
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        )
        .to_vec();
        out.extend_from_slice(keccak256("Ferry").as_slice());
        out.extend_from_slice(keccak256("1").as_slice());
        word_u256(&mut out, chain_id);
        word_address(&mut out, adjudicator);
        keccak256(out)
    }

    pub fn digest(separator: B256, hash: B256) -> B256 {
        let mut out = vec![0x19, 0x01];
        out.extend_from_slice(separator.as_slice());
        out.extend_from_slice(hash.as_slice());
        keccak256(out)
    }
}

// ---------------------------------------------------------------------------------------------- unit tests

#[test]
fn every_artifact_has_bytecode() -> Result<()> {
    for a in Artifact::ALL {
        assert!(a.creation_code().len() > 100, "{}", a.name());
        assert!(a.deployed_code().len() > 100, "{}", a.name());
        assert_eq!(a.bytecode()?, a.creation_code());
    }
    assert_eq!(
        bindings::adjudicator_bytecode(),
        Artifact::Adjudicator.creation_code()
    );
    assert_eq!(
        bindings::ferry_harness_bytecode(),
        Artifact::FerryHarness.creation_code()
    );
    assert_eq!(
        bindings::payment_app_bytecode(),
        Artifact::PaymentApp.creation_code()
    );
    assert_eq!(
        bindings::rock_paper_scissors_bytecode(),
        Artifact::RockPaperScissors.creation_code()
    );
    assert_eq!(
        bindings::test_token_bytecode(),
        Artifact::TestToken.creation_code()
    );
    assert_eq!(
        bindings::fee_on_transfer_token_bytecode(),
        Artifact::FeeOnTransferToken.creation_code()
    );
    assert_eq!(
        bindings::reverting_token_bytecode(),
        Artifact::RevertingToken.creation_code()
    );
    assert_eq!(
        bindings::gas_burning_token_bytecode(),
        Artifact::GasBurningToken.creation_code()
    );
    Ok(())
}

#[test]
fn bytecode_is_the_committed_artifact() {
    // The statics come from the same JSON; check one against a plain parse so a stale build cannot hide.
    let json: serde_json::Value =
        serde_json::from_str(include_str!("../artifacts/Adjudicator.json")).unwrap_or_default();
    let hex = json["bytecode"].as_str().unwrap_or_default();
    assert_eq!(
        alloy::primitives::hex::decode(hex).unwrap_or_default(),
        Artifact::Adjudicator.creation_code().to_vec()
    );
}

#[test]
fn empty_root_is_32_levels_of_zero_nodes() {
    let mut z = B256::ZERO;
    assert_eq!(EMPTY_SUBTREES[0], z);
    for (i, level) in EMPTY_SUBTREES.iter().enumerate().skip(1) {
        z = tree_node(&z, &z);
        assert_eq!(*level, z, "Z[{i}]");
    }
    assert_eq!(empty_root(), z);
    assert_ne!(empty_root(), B256::ZERO);
}

#[test]
fn tree_node_is_prefixed_with_one() {
    let (l, r) = (B256::repeat_byte(1), B256::repeat_byte(2));
    let mut buf = vec![0x01];
    buf.extend_from_slice(l.as_slice());
    buf.extend_from_slice(r.as_slice());
    assert_eq!(tree_node(&l, &r), keccak256(buf));
    assert_ne!(tree_node(&l, &r), tree_node(&r, &l));
}

#[test]
fn typehash_matches_the_contract_strings() {
    assert_eq!(
        State::eip712_encode_type(),
        "State(bytes32 channelId,uint48 version,Outcome outcome,bytes appData,bool isFinal)\
         AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)\
         Outcome(AssetOutcome[] assets,bytes32 subRoot)"
    );
    assert_eq!(
        Voucher::eip712_encode_type(),
        "Voucher(bytes32 channelId,address payer,address asset,uint256 amount)"
    );
}

#[test]
fn domain_is_ferry_version_1() {
    let d = domain(U256::from(31337), Address::repeat_byte(0xad));
    assert_eq!(d.name.as_deref(), Some("Ferry"));
    assert_eq!(d.version.as_deref(), Some("1"));
    assert_eq!(d.chain_id, Some(U256::from(31337)));
    assert_eq!(d.verifying_contract, Some(Address::repeat_byte(0xad)));
    assert_eq!(d.salt, None);
}

#[test]
fn s15_the_fingerprint_is_the_whole_struct_hash() {
    let s = State::default();
    assert_eq!(fingerprint(&s), state_hash(&s));
    // Two states whose hashes agree in their low 136 bits would have shared the old truncated fingerprint; the
    // whole hash tells every two states apart.
    let mut t = s.clone();
    t.isFinal = true;
    assert_ne!(fingerprint(&s), fingerprint(&t));
}

#[test]
fn reverts_are_named() {
    let data = IAdjudicator::StaleVersion {
        version: U48::from(3u8),
        registered: U48::ZERO,
    }
    .abi_encode();
    assert!(decode_revert(&data).contains("StaleVersion"));
    assert!(
        decode_revert(
            &WrongSigner {
                index: U256::from(1)
            }
            .abi_encode()
        )
        .contains("WrongSigner")
    );
    assert!(
        decode_revert(
            &InvalidParams {
                reason: U256::from(4)
            }
            .abi_encode()
        )
        .contains("InvalidParams")
    );
    let require = alloy::sol_types::Revert::from("nope").abi_encode();
    assert_eq!(decode_revert(&require), "Error(\"nope\")");
    let panic = alloy::sol_types::Panic {
        code: U256::from(0x11),
    }
    .abi_encode();
    assert_eq!(decode_revert(&panic), "Panic(17)");
    assert_eq!(decode_revert(&[]), "reverted without data");
    assert_eq!(decode_revert(&[0xde, 0xad]), "0xdead");
}

#[test]
fn signature_bytes_need_exactly_65() {
    assert_eq!(Signature::from_slice(&[0u8; 64]), None);
    assert_eq!(Signature::from_slice(&[0u8; 66]), None);
    assert_eq!(
        Signature::from_slice(&[0u8; 65]),
        Some(Signature::default())
    );
}

// ---------------------------------------------------------------------------------------------- ABI drift

fn sorted<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

#[test]
fn types_sol_interface_matches_the_compiled_adjudicator() {
    use bindings::Adjudicator as A;
    // Calls: the interface plus the contract's public constants.
    let iface = sorted(IAdjudicator::IAdjudicatorCalls::SELECTORS);
    let compiled = sorted(A::AdjudicatorCalls::SELECTORS);
    let constants: BTreeSet<[u8; 4]> = [
        A::APP_GASCall::SELECTOR,
        A::ETH_STIPENDCall::SELECTOR,
        A::TOKEN_GASCall::SELECTOR,
    ]
    .into_iter()
    .collect();
    assert_eq!(
        compiled
            .difference(&iface)
            .cloned()
            .collect::<BTreeSet<_>>(),
        constants
    );
    assert!(iface.is_subset(&compiled));
    // Events: the same set.
    assert_eq!(
        sorted(IAdjudicator::IAdjudicatorEvents::SELECTORS),
        sorted(A::AdjudicatorEvents::SELECTORS)
    );
    // Errors: every error the contract can raise is declared in Types.sol, so `decode_revert` names it.
    let mut declared = sorted(IAdjudicator::IAdjudicatorErrors::SELECTORS);
    declared.extend([
        InvalidParams::SELECTOR,
        InvalidSignature::SELECTOR,
        WrongSigner::SELECTOR,
        InvalidOutcome::SELECTOR,
    ]);
    assert!(sorted(A::AdjudicatorErrors::SELECTORS).is_subset(&declared));
}

#[test]
fn types_sol_interfaces_match_the_harness_and_the_apps() {
    assert_eq!(
        sorted(IFerryHarness::IFerryHarnessCalls::SELECTORS),
        sorted(bindings::FerryHarness::FerryHarnessCalls::SELECTORS)
    );
    assert_eq!(
        sorted(IApp::IAppCalls::SELECTORS),
        sorted(bindings::PaymentApp::PaymentAppCalls::SELECTORS)
    );
    assert_eq!(
        sorted(IApp::IAppCalls::SELECTORS),
        sorted(bindings::RockPaperScissors::RockPaperScissorsCalls::SELECTORS)
    );
}

// ---------------------------------------------------------------------------------------------- properties

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn state_hashes_match_a_hand_written_eip712(s in state(), chain_id in u256(), adj in address()) {
        prop_assert_eq!(state_hash(&s), reference::state(&s));
        prop_assert_eq!(domain_separator(chain_id, adj), reference::separator(chain_id, adj));
        prop_assert_eq!(
            state_digest(&s, chain_id, adj),
            reference::digest(reference::separator(chain_id, adj), reference::state(&s))
        );
    }

    #[test]
    fn voucher_hashes_match_a_hand_written_eip712(id in b256(), payer in address(), asset in address(), amount in u256(), chain_id in u256(), adj in address()) {
        let v = Voucher { channelId: id, payer, asset, amount };
        prop_assert_eq!(voucher_hash(&v), reference::voucher(&v));
        prop_assert_eq!(
            voucher_digest(&v, chain_id, adj),
            reference::digest(reference::separator(chain_id, adj), reference::voucher(&v))
        );
    }

    #[test]
    fn channel_id_hashes_params_as_one_tuple(p in params()) {
        let fields = (
            U256::from(p.kind), p.chainId, p.adjudicator, p.participants.clone(), p.nonce, p.app,
            U256::from(p.challengeDuration), U256::from(p.maxMoves), U256::from(p.challengeBond), p.hops.clone(),
        );
        // abi.encode(params) of a dynamic struct: the offset 0x20, then the tuple.
        let mut encoded = U256::from(0x20u8).to_be_bytes::<32>().to_vec();
        encoded.extend_from_slice(&fields.abi_encode_params());
        prop_assert_eq!(channel_id(&p), keccak256(encoded));
    }

    #[test]
    fn leaf_hash_matches_alloys_encoder(leaf in sub_alloc()) {
        let mut buf = vec![0u8];
        buf.extend_from_slice(&(leaf.channelId, leaf.amounts.clone(), leaf.fee).abi_encode_params());
        prop_assert_eq!(leaf_hash(&leaf), keccak256(buf));
        prop_assert_ne!(leaf_hash(&leaf), EMPTY_SUBTREES[0]);
    }

    #[test]
    fn signature_bytes_round_trip(sig in signature()) {
        let bytes = sig.to_bytes();
        prop_assert_eq!(Signature::from_slice(&bytes), Some(sig.clone()));
        prop_assert_eq!(Signature::abi_decode(&sig.abi_encode()).ok(), Some(sig));
    }

    #[test]
    fn binding_structs_convert_both_ways(p in params(), s in state(), sig in signature(), leaf in sub_alloc(), index in any::<u32>(), siblings in prop::collection::vec(b256(), 0..33)) {
        use bindings::{Adjudicator as A, FerryHarness as H, PaymentApp as P, RockPaperScissors as R};
        // Same value, same ABI encoding, same EIP-712 hash, and back again.
        let ap: A::ChannelParams = p.clone().into();
        prop_assert_eq!(ap.abi_encode(), p.abi_encode());
        prop_assert_eq!(ChannelParams::from(ap), p.clone());
        let as_: A::State = s.clone().into();
        prop_assert_eq!(as_.abi_encode(), s.abi_encode());
        prop_assert_eq!(as_.eip712_hash_struct(), state_hash(&s));
        prop_assert_eq!(State::from(as_), s.clone());
        let hs: H::State = s.clone().into();
        prop_assert_eq!(State::from(hs), s.clone());
        let ps: P::State = s.clone().into();
        prop_assert_eq!(State::from(ps), s.clone());
        let rp: R::ChannelParams = p.clone().into();
        prop_assert_eq!(ChannelParams::from(rp), p);
        let cert = Certificate { state: s, sigs: vec![sig.clone(), sig.clone()] };
        let ac: A::Certificate = cert.clone().into();
        prop_assert_eq!(ac.abi_encode(), cert.abi_encode());
        prop_assert_eq!(Certificate::from(ac), cert);
        let al: A::SubAlloc = leaf.clone().into();
        prop_assert_eq!(al.abi_encode(), leaf.abi_encode());
        prop_assert_eq!(SubAlloc::from(al), leaf.clone());
        let proof = LeafProof { index, siblings };
        let hp: H::LeafProof = proof.clone().into();
        prop_assert_eq!(hp.abi_encode(), proof.abi_encode());
        prop_assert_eq!(LeafProof::from(hp), proof);
        let v = Voucher { channelId: leaf.channelId, payer: Address::repeat_byte(1), asset: Address::ZERO, amount: U256::from(index) };
        let hv: H::Voucher = v.clone().into();
        prop_assert_eq!(hv.eip712_hash_struct(), voucher_hash(&v));
        prop_assert_eq!(Voucher::from(hv), v);
    }

    #[test]
    fn abi_round_trips(p in params(), s in state(), leaf in sub_alloc(), sig in signature()) {
        prop_assert_eq!(ChannelParams::abi_decode(&p.abi_encode()).ok(), Some(p));
        prop_assert_eq!(Outcome::abi_decode(&s.outcome.abi_encode()).ok(), Some(s.outcome.clone()));
        prop_assert_eq!(State::abi_decode(&s.abi_encode()).ok(), Some(s.clone()));
        prop_assert_eq!(SubAlloc::abi_decode(&leaf.abi_encode()).ok(), Some(leaf));
        let cert = Certificate { state: s, sigs: vec![sig] };
        prop_assert_eq!(Certificate::abi_decode(&cert.abi_encode()).ok(), Some(cert));
    }
}
