//! Every encoded type round-trips: ABI (what goes on-chain), serde JSON (the API) and bincode 2 (the wire/store).
#![allow(non_snake_case)] // field names follow the Solidity structs

use alloy::primitives::aliases::{U48, U96};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolValue;
use ferry_contracts::{
    AssetAmount, AssetOutcome, Certificate, ChannelParams, GameData, LeafProof, Outcome,
    PaymentData, Signature, State, SubAlloc, Voucher,
};
use ferry_ledger::{SignedState, SubTree};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}
fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}
fn u256() -> impl Strategy<Value = U256> {
    any::<[u8; 32]>().prop_map(U256::from_be_bytes)
}
fn u48() -> impl Strategy<Value = U48> {
    (0u64..(1 << 48)).prop_map(U48::from)
}
fn signature() -> impl Strategy<Value = Signature> {
    (27u8..=28, b256(), b256()).prop_map(|(v, r, s)| Signature { v, r, s })
}
pub fn params() -> impl Strategy<Value = ChannelParams> {
    (
        0u8..=1,
        u256(),
        address(),
        prop::collection::vec(address(), 0..5),
        u256(),
        address(),
        u48(),
        (u48(), any::<u64>()),
        prop::collection::vec(b256(), 0..4),
    )
        .prop_map(
            |(
                kind,
                chainId,
                adjudicator,
                participants,
                nonce,
                app,
                challengeDuration,
                (maxMoves, bond),
                hops,
            )| ChannelParams {
                kind,
                chainId,
                adjudicator,
                participants,
                nonce,
                app,
                challengeDuration,
                maxMoves,
                challengeBond: U96::from(bond),
                hops,
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
pub fn state() -> impl Strategy<Value = State> {
    (
        b256(),
        u48(),
        prop::collection::vec(asset_outcome(), 0..3),
        b256(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(
            |(channelId, version, assets, subRoot, app, isFinal)| State {
                channelId,
                version,
                outcome: Outcome { assets, subRoot },
                appData: Bytes::from(app),
                isFinal,
            },
        )
}
fn sub_alloc() -> impl Strategy<Value = SubAlloc> {
    (b256(), prop::collection::vec((address(), u256()), 0..3)).prop_map(|(channelId, a)| SubAlloc {
        fee: U256::ZERO,
        channelId,
        amounts: a
            .into_iter()
            .map(|(asset, amount)| AssetAmount { asset, amount })
            .collect(),
    })
}

fn check_serde<T>(value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    let cfg = bincode::config::standard();
    let bin = bincode::serde::encode_to_vec(value, cfg)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (back, used): (T, usize) = bincode::serde::decode_from_slice(&bin, cfg)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(used, bin.len());
    prop_assert_eq!(&back, value);
    Ok(())
}

fn check_all<T>(value: &T) -> Result<(), TestCaseError>
where
    T: SolValue
        + serde::Serialize
        + serde::de::DeserializeOwned
        + PartialEq
        + std::fmt::Debug
        + Clone,
    T: From<<<T as SolValue>::SolType as alloy::sol_types::SolType>::RustType>,
{
    let abi = value.abi_encode();
    let back = T::abi_decode(&abi).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    let json = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    let cfg = bincode::config::standard();
    let bin = bincode::serde::encode_to_vec(value, cfg)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (back, used): (T, usize) = bincode::serde::decode_from_slice(&bin, cfg)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(used, bin.len());
    prop_assert_eq!(&back, value);
    Ok(())
}

proptest! {
    #![proptest_config(crate::cases())]

    #[test]
    fn channel_params_round_trip(p in params()) { check_all(&p)?; }

    #[test]
    fn states_round_trip(s in state()) { check_all(&s)?; }

    #[test]
    fn outcomes_round_trip(s in state()) {
        check_all(&s.outcome)?;
        for a in &s.outcome.assets {
            check_all(a)?;
        }
    }

    #[test]
    fn sub_allocs_round_trip(l in sub_alloc()) {
        check_all(&l)?;
        for a in &l.amounts {
            check_all(a)?;
        }
    }

    #[test]
    fn signed_states_round_trip(s in state(), sigs in prop::collection::vec(signature(), 0..4)) {
        check_serde(&SignedState { state: s, sigs })?;
    }

    #[test]
    fn sub_tables_round_trip(ids in prop::collection::btree_set(any::<u64>(), 0..30), removals in prop::collection::vec(any::<prop::sample::Index>(), 0..10)) {
        let mut table = SubTree::new();
        let leaves: Vec<SubAlloc> = ids.iter().map(|i| SubAlloc {
            fee: U256::ZERO,
            channelId: B256::from(U256::from(*i)),
            amounts: vec![AssetAmount { asset: Address::ZERO, amount: U256::from(*i) }],
        }).collect();
        for l in &leaves {
            table.insert(l.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        if !leaves.is_empty() {
            for r in removals {
                let _ = table.remove(&leaves[r.index(leaves.len())].channelId);
            }
        }
        check_serde(&table)?;
        let json = serde_json::to_string(&table).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: SubTree = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.next_slot(), table.next_slot());
        prop_assert_eq!(back.locked_totals(), table.locked_totals());
    }

    #[test]
    fn signatures_round_trip(s in signature()) { check_all(&s)?; }

    #[test]
    fn proofs_round_trip(index in any::<u32>(), siblings in prop::collection::vec(b256(), 0..33)) {
        check_all(&LeafProof { index, siblings })?;
    }

    #[test]
    fn certificates_round_trip(s in state(), sigs in prop::collection::vec(signature(), 0..4)) {
        check_all(&Certificate { state: s, sigs })?;
    }

    #[test]
    fn vouchers_round_trip(channelId in b256(), payer in address(), asset in address(), amount in u256()) {
        check_all(&Voucher { channelId, payer, asset, amount })?;
    }

    #[test]
    fn app_data_round_trips(a in prop::collection::vec(u256(), 0..3), b in prop::collection::vec(u256(), 0..3),
                            sigs in prop::collection::vec(signature(), 0..3), phase in 0u8..3, stake in u256(),
                            c in b256(), ml in 0u8..4, mf in 0u8..4, salt in b256()) {
        check_all(&PaymentData { paidByFirst: a, paidByLast: b, voucherSigs: sigs })?;
        check_all(&GameData { phase, stake, commitment: c, moveLast: ml, moveFirst: mf, salt })?;
    }

    #[test]
    fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = State::abi_decode(&bytes);
        let _ = ChannelParams::abi_decode(&bytes);
        let _ = PaymentData::abi_decode(&bytes);
        let _: Result<(State, usize), _> = bincode::serde::decode_from_slice(&bytes, bincode::config::standard());
    }
}
