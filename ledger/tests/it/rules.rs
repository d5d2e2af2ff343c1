//! Params (S1, S2) and outcome rules (S12, S2): one test per rejection, with the contract's reason codes.

use alloy::primitives::aliases::{U48, U96};
use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{
    AssetAmount, AssetOutcome, ChannelParams, KIND_LEDGER, KIND_VIRTUAL, Outcome, SubAlloc,
};
use ferry_ledger::outcome::{check_conserved, check_sub_table, totals_hash, validate};
use ferry_ledger::{Error, SubTree, params};
use proptest::prelude::*;

fn addr(k: u8) -> Address {
    Address::repeat_byte(k)
}

fn ledger() -> ChannelParams {
    ChannelParams {
        kind: KIND_LEDGER,
        chainId: U256::from(1),
        adjudicator: addr(0xad),
        participants: vec![addr(1), addr(2)],
        nonce: U256::from(7),
        app: Address::ZERO,
        challengeDuration: U48::from(60u8),
        maxMoves: U48::ZERO,
        challengeBond: U96::ZERO,
        hops: vec![],
    }
}

fn virt(n: u8) -> ChannelParams {
    ChannelParams {
        kind: KIND_VIRTUAL,
        participants: (1..=n).map(addr).collect(),
        hops: (1..n).map(B256::repeat_byte).collect(),
        ..ledger()
    }
}

#[test]
fn s1_valid_params_pass() {
    assert_eq!(params::validate(&ledger()), Ok(()));
    // [A, B] is a sub-channel of their direct ledger; [A, I1, ..., In, B] goes through n hubs.
    for n in 2..6 {
        assert_eq!(params::validate(&virt(n)), Ok(()), "n = {n}");
    }
}

#[test]
fn s1_unknown_kind_is_reason_1() {
    let mut p = ledger();
    p.kind = 2;
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(1)));
}

#[test]
fn s1_participant_count_is_reason_2() {
    let mut p = ledger();
    p.participants.push(addr(3));
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(2)));
    p.participants.truncate(1);
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(2)));
    let mut v = virt(2);
    v.participants.truncate(1);
    v.hops.clear();
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(2)));
    v.participants.clear();
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(2)));
}

#[test]
fn s1_zero_participant_is_reason_3() {
    let mut p = ledger();
    p.participants[1] = Address::ZERO;
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(3)));
    let mut v = virt(4);
    v.participants[2] = Address::ZERO;
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(3)));
}

#[test]
fn s1_repeated_participant_is_reason_4() {
    let mut p = ledger();
    p.participants[1] = p.participants[0];
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(4)));
    // A path that loops: [A, I, A].
    let mut v = virt(3);
    v.participants[2] = v.participants[0];
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(4)));
}

#[test]
fn s2_hop_count_is_reason_5() {
    let mut p = ledger();
    p.hops.push(B256::repeat_byte(1));
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(5)));
    let mut v = virt(3);
    v.hops.pop();
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(5)));
    let mut v = virt(3);
    v.hops.push(B256::repeat_byte(9));
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(5)));
}

#[test]
fn s2_repeated_hop_is_reason_6() {
    let mut v = virt(4);
    v.hops[2] = v.hops[0];
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(6)));
}

#[test]
fn s1_zero_challenge_duration_is_reason_7() {
    let mut p = ledger();
    p.challengeDuration = U48::ZERO;
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(7)));
}

#[test]
fn s1_checks_run_in_the_contracts_order() {
    // Several faults at once: the first in the contract's order wins.
    let mut p = virt(3);
    p.hops.pop();
    p.participants[1] = Address::ZERO;
    p.challengeDuration = U48::ZERO;
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(5)));
    let mut p = ledger();
    p.participants = vec![Address::ZERO, Address::ZERO];
    assert_eq!(params::validate(&p), Err(Error::InvalidParams(3)));
    assert_eq!(
        params::validate_for(&p, 2, Address::ZERO),
        Err(Error::WrongChain {
            got: 1,
            expected: 2
        })
    );
}

#[test]
fn endpoints_and_path_helpers() {
    let v = virt(4);
    assert_eq!(params::endpoints(&v), Some((addr(1), addr(4))));
    assert_eq!(params::last_index(&v), 3);
    assert!(params::is_endpoint(&v, 0) && params::is_endpoint(&v, 3));
    assert!(!params::is_endpoint(&v, 1) && !params::is_endpoint(&v, 4));
    let mut empty = v.clone();
    empty.participants.clear();
    assert_eq!(params::endpoints(&empty), None);
    assert!(!params::is_endpoint(&empty, 0));
    assert_eq!(params::channel_id(&v), ferry_contracts::channel_id(&v));
}

// ---------------------------------------------------------------------------------------------- outcomes

fn asset(a: u8, balances: &[u64], locked: u64) -> AssetOutcome {
    let balances: Vec<U256> = balances.iter().map(|b| U256::from(*b)).collect();
    let mut deposited = balances.clone();
    deposited[0] += U256::from(locked);
    AssetOutcome {
        asset: addr(a),
        withdrawn: vec![U256::ZERO; balances.len()],
        balances,
        deposited,
        locked: U256::from(locked),
    }
}

fn outcome(assets: Vec<AssetOutcome>) -> Outcome {
    Outcome {
        assets,
        subRoot: ferry_contracts::empty_root(),
    }
}

#[test]
fn s12_valid_outcomes_pass() {
    let o = outcome(vec![asset(0, &[5, 6], 3), asset(1, &[0, 0], 0)]);
    assert_eq!(validate(&o, 2, KIND_LEDGER), Ok(()));
    assert_eq!(validate(&outcome(vec![]), 2, KIND_VIRTUAL), Ok(()));
    // Withdrawals count: balances + locked == deposited - withdrawn.
    let mut a = asset(0, &[5, 6], 0);
    a.deposited[1] += U256::from(4);
    a.withdrawn[1] = U256::from(4);
    assert_eq!(validate(&outcome(vec![a]), 2, KIND_LEDGER), Ok(()));
}

#[test]
fn s12_asset_order_is_reason_1() {
    let o = outcome(vec![asset(2, &[1, 1], 0), asset(1, &[1, 1], 0)]);
    assert_eq!(validate(&o, 2, KIND_LEDGER), Err(Error::InvalidOutcome(1)));
    let dup = outcome(vec![asset(1, &[1, 1], 0), asset(1, &[1, 1], 0)]);
    assert_eq!(
        validate(&dup, 2, KIND_LEDGER),
        Err(Error::InvalidOutcome(1))
    );
}

#[test]
fn s12_array_lengths_are_reason_2() {
    let o = outcome(vec![asset(0, &[1, 1], 0)]);
    assert_eq!(validate(&o, 3, KIND_VIRTUAL), Err(Error::InvalidOutcome(2)));
    let mut a = asset(0, &[1, 1], 0);
    a.withdrawn.push(U256::ZERO);
    assert_eq!(
        validate(&outcome(vec![a]), 2, KIND_LEDGER),
        Err(Error::InvalidOutcome(2))
    );
    let mut a = asset(0, &[1, 1], 0);
    a.deposited.pop();
    assert_eq!(
        validate(&outcome(vec![a]), 2, KIND_LEDGER),
        Err(Error::InvalidOutcome(2))
    );
}

#[test]
fn s12_funding_invariant_is_reason_3() {
    let mut a = asset(0, &[5, 6], 0);
    a.balances[0] += U256::from(1);
    assert_eq!(
        validate(&outcome(vec![a]), 2, KIND_LEDGER),
        Err(Error::InvalidOutcome(3))
    );
    // More withdrawn than deposited.
    let mut a = asset(0, &[0, 0], 0);
    a.withdrawn[0] = U256::from(1);
    assert_eq!(
        validate(&outcome(vec![a]), 2, KIND_LEDGER),
        Err(Error::InvalidOutcome(3))
    );
    // Locked funds are part of the total.
    let mut a = asset(0, &[5, 6], 3);
    a.locked = U256::from(2);
    assert_eq!(
        validate(&outcome(vec![a]), 2, KIND_LEDGER),
        Err(Error::InvalidOutcome(3))
    );
}

#[test]
fn s2_virtual_locks_nothing_and_hosts_nothing_reason_4() {
    let o = outcome(vec![asset(0, &[5, 0, 6], 1)]);
    assert_eq!(validate(&o, 3, KIND_LEDGER), Ok(()));
    assert_eq!(validate(&o, 3, KIND_VIRTUAL), Err(Error::InvalidOutcome(4)));
    let mut o = outcome(vec![asset(0, &[5, 0, 6], 0)]);
    o.subRoot = B256::repeat_byte(1);
    assert_eq!(validate(&o, 3, KIND_LEDGER), Ok(()));
    assert_eq!(validate(&o, 3, KIND_VIRTUAL), Err(Error::InvalidOutcome(4)));
}

#[test]
fn s12_overflowing_sums_are_errors_not_panics() {
    let mut a = asset(0, &[0, 0], 0);
    a.balances = vec![U256::MAX, U256::from(1)];
    assert_eq!(
        validate(&outcome(vec![a.clone()]), 2, KIND_LEDGER),
        Err(Error::Overflow)
    );
    a.balances = vec![U256::MAX, U256::ZERO];
    a.locked = U256::from(1);
    assert_eq!(
        validate(&outcome(vec![a.clone()]), 2, KIND_LEDGER),
        Err(Error::Overflow)
    );
    a.locked = U256::ZERO;
    a.deposited = vec![U256::MAX, U256::MAX];
    assert_eq!(
        validate(&outcome(vec![a]), 2, KIND_LEDGER),
        Err(Error::Overflow)
    );
}

#[test]
fn s3_conservation_compares_assets_totals_and_hubs() {
    let from = outcome(vec![asset(0, &[5, 0, 6], 0)]);
    let moved = outcome(vec![asset(0, &[1, 0, 10], 0)]);
    assert_eq!(check_conserved(&from, &moved), Ok(()));
    assert_eq!(totals_hash(&from), totals_hash(&moved));
    let hub = outcome(vec![asset(0, &[4, 1, 6], 0)]);
    assert_eq!(
        check_conserved(&from, &hub),
        Err(Error::ConservationViolated)
    );
    let more = outcome(vec![asset(0, &[5, 0, 7], 0)]);
    assert_eq!(
        check_conserved(&from, &more),
        Err(Error::ConservationViolated)
    );
    let other_asset = outcome(vec![asset(1, &[5, 0, 6], 0)]);
    assert_eq!(
        check_conserved(&from, &other_asset),
        Err(Error::ConservationViolated)
    );
    let extra = outcome(vec![asset(0, &[5, 0, 6], 0), asset(1, &[0, 0, 0], 0)]);
    assert_eq!(
        check_conserved(&from, &extra),
        Err(Error::ConservationViolated)
    );
}

#[test]
fn ledger_outcomes_lock_what_the_table_holds() -> Result<(), Error> {
    let mut table = SubTree::new();
    table.insert(SubAlloc {
        fee: U256::ZERO,
        channelId: B256::repeat_byte(1),
        amounts: vec![
            AssetAmount {
                asset: addr(0),
                amount: U256::from(3),
            },
            AssetAmount {
                asset: addr(1),
                amount: U256::from(2),
            },
        ],
    })?;
    let mut o = outcome(vec![asset(0, &[5, 6], 3), asset(1, &[0, 0], 2)]);
    o.subRoot = table.root();
    assert_eq!(check_sub_table(&o, &table), Ok(()));
    let mut wrong_root = o.clone();
    wrong_root.subRoot = ferry_contracts::empty_root();
    assert!(matches!(
        check_sub_table(&wrong_root, &table),
        Err(Error::SubRootMismatch { .. })
    ));
    let mut short = o.clone();
    short.assets[1].locked = U256::from(1);
    assert_eq!(
        check_sub_table(&short, &table),
        Err(Error::LockedMismatch {
            asset: addr(1),
            locked: U256::from(1),
            expected: U256::from(2)
        })
    );
    let mut missing = o.clone();
    missing.assets.pop();
    assert_eq!(
        check_sub_table(&missing, &table),
        Err(Error::LockedMismatch {
            asset: addr(1),
            locked: U256::ZERO,
            expected: U256::from(2)
        })
    );
    Ok(())
}

proptest! {
    #![proptest_config(crate::cases())]

    /// Outcomes built to balance always pass; breaking the invariant by one unit always fails with reason 3.
    #[test]
    fn s12_invariant_holds_exactly(bals in prop::collection::vec((0u64..1 << 60, 0u64..1 << 60), 1..4), locked in 0u64..1 << 60, delta in 1u64..100, which in 0usize..3) {
        let assets: Vec<AssetOutcome> = bals.iter().enumerate().map(|(i, (a, b))| asset(i as u8, &[*a, *b], locked)).collect();
        prop_assert_eq!(validate(&outcome(assets.clone()), 2, KIND_LEDGER), Ok(()));
        let mut broken = assets;
        let a = &mut broken[0];
        match which {
            0 => a.balances[1] += U256::from(delta),
            1 => a.locked += U256::from(delta),
            _ => a.withdrawn[0] += U256::from(delta),
        }
        prop_assert_eq!(validate(&outcome(broken), 2, KIND_LEDGER), Err(Error::InvalidOutcome(3)));
    }
}

mod s6 {
    use alloy::primitives::Address;
    use alloy::primitives::aliases::{U48, U96};
    use ferry_ledger::Error;
    use ferry_ledger::channel::{ledger_params, virtual_params};
    use ferry_ledger::params::DurationPolicy;
    use ferry_ledger::support::ChainContext;

    const POLICY: DurationPolicy = DurationPolicy {
        min_challenge: 600,
        max_lock: 6 * 3600,
        challenge_bond: U96::ZERO,
        max_challenge_bond: U96::from_limbs([1_000, 0]),
    };

    fn ctx() -> ChainContext {
        ChainContext {
            chain_id: 31337,
            adjudicator: Address::repeat_byte(0xad),
        }
    }

    #[test]
    fn s6_challenge_window_below_the_watchers_response_time_is_refused() {
        let short = ledger_params(
            &ctx(),
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            599,
        );
        assert!(matches!(
            POLICY.check(&short),
            Err(Error::DurationPolicy(_))
        ));
        let ok = ledger_params(
            &ctx(),
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            600,
        );
        assert_eq!(POLICY.check(&ok), Ok(()));
        let long = ledger_params(
            &ctx(),
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            6 * 3600 + 1,
        );
        assert!(matches!(POLICY.check(&long), Err(Error::DurationPolicy(_))));
    }

    #[test]
    fn s17_a_bond_above_the_nodes_maximum_is_refused() {
        let mut p = ledger_params(
            &ctx(),
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            600,
        );
        p.challengeBond = POLICY.max_challenge_bond;
        assert_eq!(POLICY.check(&p), Ok(()), "the maximum itself is accepted");
        p.challengeBond = POLICY.max_challenge_bond + U96::from(1u8);
        match POLICY.check(&p) {
            Err(Error::DurationPolicy(why)) => assert!(why.contains("S17"), "{why}"),
            other => panic!("a bond above the maximum must be refused, got {other:?}"),
        }
    }

    #[test]
    fn s6_virtual_lock_counts_every_progress_move() {
        let path = vec![
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
        ];
        let hops = vec![
            alloy::primitives::B256::repeat_byte(1),
            alloy::primitives::B256::repeat_byte(2),
        ];
        // Each endpoint has its own 4 moves (S7): 2400 s × (1 + 2 × 4) = 6 h, exactly the maximum.
        let mut v = virtual_params(&ctx(), path, hops, Address::repeat_byte(9), 2400, 4);
        assert_eq!(POLICY.check(&v), Ok(()));
        v.maxMoves = U48::from(5u8);
        assert!(matches!(POLICY.check(&v), Err(Error::DurationPolicy(_))));
        v.maxMoves = U48::MAX;
        v.challengeDuration = U48::MAX;
        assert!(
            matches!(POLICY.check(&v), Err(Error::DurationPolicy(_))),
            "overflow is refused, not wrapped"
        );
    }
}
