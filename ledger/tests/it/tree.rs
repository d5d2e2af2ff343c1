use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{AssetAmount, EMPTY_SUBTREES, SubAlloc, TREE_DEPTH, leaf_hash, tree_node};
use ferry_ledger::sub_tree::{root_from_proof, verify};
use ferry_ledger::{Error, SubTree};
use proptest::prelude::*;
use std::collections::BTreeMap;

use ferry_ledger::sub_tree::MAX_LEAVES;

fn leaf(id: u64, amount: u64) -> SubAlloc {
    SubAlloc {
        fee: U256::ZERO,
        channelId: B256::from(U256::from(id)),
        amounts: vec![AssetAmount {
            asset: Address::ZERO,
            amount: U256::from(amount),
        }],
    }
}

/// Root recomputed from scratch: every slot up to the next power of two, then empty subtrees to depth 32.
fn naive_root(slots: &BTreeMap<u32, SubAlloc>) -> B256 {
    let Some(max) = slots.keys().next_back() else {
        return ferry_contracts::empty_root();
    };
    let width = (*max as usize + 1).next_power_of_two();
    let mut level: Vec<B256> = (0..width)
        .map(|i| {
            slots
                .get(&(i as u32))
                .map(leaf_hash)
                .unwrap_or(EMPTY_SUBTREES[0])
        })
        .collect();
    let mut h = 0;
    while level.len() > 1 {
        level = level.chunks(2).map(|p| tree_node(&p[0], &p[1])).collect();
        h += 1;
    }
    let mut cur = level[0];
    for z in EMPTY_SUBTREES.iter().take(TREE_DEPTH).skip(h) {
        cur = tree_node(&cur, z);
    }
    cur
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, u64),
    Remove(usize),
    Update(usize, u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (0u64..200, 1u64..1_000).prop_map(|(i, a)| Op::Insert(i, a)),
            1 => any::<usize>().prop_map(Op::Remove),
            1 => (any::<usize>(), 1u64..1_000).prop_map(|(i, a)| Op::Update(i, a)),
        ],
        1..80,
    )
}

proptest! {
    #![proptest_config(crate::cases())]

    #[test]
    fn random_inserts_and_removes_match_a_full_recomputation(ops in ops()) {
        let mut tree = SubTree::new();
        let mut model: BTreeMap<u32, SubAlloc> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(id, amount) => {
                    let l = leaf(id, amount);
                    let dup = model.values().any(|m| m.channelId == l.channelId);
                    match tree.insert(l.clone()) {
                        Ok(slot) => {
                            prop_assert!(!dup);
                            // Lowest free slot.
                            prop_assert_eq!(slot, (0..).find(|s| !model.contains_key(s)).unwrap_or_default());
                            model.insert(slot, l);
                        }
                        Err(e) => {
                            prop_assert!(dup);
                            prop_assert_eq!(e, Error::DuplicateSubChannel(l.channelId));
                        }
                    }
                }
                Op::Remove(k) => {
                    if model.is_empty() { continue; }
                    let slot = *model.keys().nth(k % model.len()).unwrap_or(&0);
                    let l = model.remove(&slot).unwrap_or_else(|| leaf(0, 0));
                    let before = tree.proof(&l.channelId);
                    prop_assert!(before.is_ok());
                    prop_assert_eq!(tree.remove(&l.channelId), Ok(l.clone()));
                    // A removed leaf no longer verifies, with its old proof or any other.
                    if let Ok(p) = before {
                        prop_assert!(!verify(&tree.root(), &l, &p));
                    }
                    prop_assert!(tree.proof(&l.channelId).is_err());
                }
                Op::Update(k, amount) => {
                    if model.is_empty() { continue; }
                    let slot = *model.keys().nth(k % model.len()).unwrap_or(&0);
                    let mut l = model[&slot].clone();
                    l.amounts[0].amount = U256::from(amount);
                    prop_assert!(tree.update(l.clone()).is_ok());
                    model.insert(slot, l);
                }
            }
            prop_assert_eq!(tree.root(), naive_root(&model));
            prop_assert_eq!(tree.len(), model.len());
            // The width is one past the highest used slot; the locked total is the sum of the leaves.
            prop_assert_eq!(tree.width(), model.keys().next_back().map_or(0, |m| *m as usize + 1));
            let total: U256 = model.values().map(|l| l.amounts[0].amount).sum();
            prop_assert_eq!(tree.locked(&Address::ZERO), total);
        }
        for (slot, l) in &model {
            let p = tree.proof(&l.channelId);
            prop_assert!(p.is_ok());
            if let Ok(p) = p {
                prop_assert_eq!(p.index, *slot);
                prop_assert!(p.siblings.len() <= tree.height());
                prop_assert!(verify(&tree.root(), l, &p));
                let mut other = l.clone();
                other.amounts[0].amount += U256::from(1);
                prop_assert!(!verify(&tree.root(), &other, &p));
            }
        }
    }

    #[test]
    fn bulk_build_equals_incremental_inserts(n in 0usize..300) {
        let leaves: Vec<SubAlloc> = (0..n as u64).map(|i| leaf(i, i + 1)).collect();
        let bulk = SubTree::from_leaves(leaves.clone());
        prop_assert!(bulk.is_ok());
        let mut inc = SubTree::new();
        for l in leaves {
            prop_assert!(inc.insert(l).is_ok());
        }
        if let Ok(bulk) = bulk {
            prop_assert_eq!(bulk.root(), inc.root());
        }
    }
}

#[test]
fn proofs_carry_log2_n_siblings() -> Result<(), Error> {
    for (n, expected) in [(1usize, 0usize), (2, 1), (1000, 10), (1024, 10), (1025, 11)] {
        let tree = SubTree::from_leaves((0..n as u64).map(|i| leaf(i, 1)))?;
        let p = tree.proof(&leaf(0, 1).channelId)?;
        assert_eq!(p.siblings.len(), expected, "n = {n}");
        assert_eq!(root_from_proof(&leaf(0, 1), &p)?, tree.root());
    }
    Ok(())
}

#[test]
fn empty_tree_has_the_constant_empty_root() {
    assert_eq!(SubTree::new().root(), ferry_contracts::empty_root());
    assert_eq!(
        SubTree::from_leaves(vec![]).map(|t| t.root()),
        Ok(ferry_contracts::empty_root())
    );
}

#[test]
fn slots_are_reused_lowest_first() -> Result<(), Error> {
    let mut t = SubTree::new();
    for i in 0..4 {
        t.insert(leaf(i, 1))?;
    }
    t.remove(&leaf(1, 1).channelId)?;
    t.remove(&leaf(3, 1).channelId)?;
    assert_eq!(t.width(), 3);
    assert_eq!(t.insert(leaf(10, 1))?, 1);
    assert_eq!(t.insert_at(0, leaf(11, 1)), Err(Error::SlotUnavailable(0)));
    assert_eq!(t.insert_at(7, leaf(12, 1)), Err(Error::SlotUnavailable(7)));
    assert_eq!(t.insert(leaf(13, 1))?, 3);
    assert_eq!(t.insert(leaf(14, 1))?, 4);
    assert_eq!(
        t.remove(&leaf(99, 1).channelId),
        Err(Error::UnknownSubChannel(leaf(99, 1).channelId))
    );
    assert_eq!(
        t.proof(&leaf(99, 1).channelId),
        Err(Error::UnknownSubChannel(leaf(99, 1).channelId))
    );
    Ok(())
}

#[test]
fn proof_longer_than_the_tree_is_rejected() {
    let p = ferry_contracts::LeafProof {
        index: 0,
        siblings: vec![B256::ZERO; 33],
    };
    assert_eq!(
        root_from_proof(&leaf(1, 1), &p),
        Err(Error::InvalidParams(8))
    );
}

#[test]
fn explicit_slots_are_free_slots_or_the_next_one() -> Result<(), Error> {
    let mut t = SubTree::new();
    // A far slot is refused before anything is allocated.
    assert_eq!(
        t.insert_at(u32::MAX, leaf(1, 1)),
        Err(Error::SlotUnavailable(u64::from(u32::MAX)))
    );
    assert_eq!(t.insert_at(1, leaf(1, 1)), Err(Error::SlotUnavailable(1)));
    assert_eq!(t.width(), 0);
    t.insert_at(0, leaf(1, 1))?;
    t.insert_at(1, leaf(2, 1))?;
    t.insert_at(2, leaf(3, 1))?;
    assert_eq!(t.insert_at(1, leaf(4, 1)), Err(Error::SlotUnavailable(1)));
    t.remove(&leaf(2, 1).channelId)?;
    assert_eq!(t.next_slot()?, 1);
    t.insert_at(3, leaf(4, 1))?;
    t.insert_at(1, leaf(5, 1))?;
    assert_eq!(t.at(1), Some(&leaf(5, 1)));
    assert_eq!(t.slot_of(&leaf(4, 1).channelId), Some(3));
    assert!(t.contains(&leaf(4, 1).channelId));
    Ok(())
}

#[test]
fn one_position_per_virtual_channel() -> Result<(), Error> {
    let mut t = SubTree::new();
    t.insert(leaf(1, 1))?;
    let root = t.root();
    assert_eq!(
        t.insert(leaf(1, 2)),
        Err(Error::DuplicateSubChannel(leaf(1, 1).channelId))
    );
    assert_eq!(
        t.insert_at(1, leaf(1, 2)),
        Err(Error::DuplicateSubChannel(leaf(1, 1).channelId))
    );
    assert_eq!(
        SubTree::from_leaves(vec![leaf(1, 1), leaf(1, 2)]),
        Err(Error::DuplicateSubChannel(leaf(1, 1).channelId))
    );
    assert_eq!(t.root(), root);
    assert_eq!(t.len(), 1);
    Ok(())
}

#[test]
fn capacity_is_enforced_and_freed_by_removals() -> Result<(), Error> {
    let mut t = SubTree::with_max_leaves(3);
    for i in 0..3 {
        t.insert(leaf(i, 1))?;
    }
    assert_eq!(t.insert(leaf(9, 1)), Err(Error::TreeFull { capacity: 3 }));
    assert_eq!(
        t.insert_at(3, leaf(9, 1)),
        Err(Error::TreeFull { capacity: 3 })
    );
    assert_eq!(t.next_slot(), Err(Error::TreeFull { capacity: 3 }));
    t.remove(&leaf(1, 1).channelId)?;
    assert_eq!(t.insert(leaf(9, 1))?, 1);
    assert_eq!(SubTree::with_max_leaves(u64::MAX).max_leaves(), MAX_LEAVES);
    assert_eq!(
        SubTree::from_slots(1, vec![(0, leaf(1, 1)), (1, leaf(2, 1))]),
        Err(Error::TreeFull { capacity: 1 })
    );
    Ok(())
}

#[test]
fn leaves_with_several_assets_are_tracked_per_asset() -> Result<(), Error> {
    let two = |id: u8, a: u8, b: u8| SubAlloc {
        fee: U256::ZERO,
        channelId: B256::repeat_byte(id),
        amounts: vec![
            AssetAmount {
                asset: Address::repeat_byte(a),
                amount: U256::from(1),
            },
            AssetAmount {
                asset: Address::repeat_byte(b),
                amount: U256::from(2),
            },
        ],
    };
    assert!(matches!(
        ferry_ledger::sub_tree::validate_leaf(&two(7, 2, 1)),
        Err(Error::InvalidLeaf(_))
    ));
    assert!(matches!(
        ferry_ledger::sub_tree::validate_leaf(&two(7, 1, 1)),
        Err(Error::InvalidLeaf(_))
    ));
    assert_eq!(ferry_ledger::sub_tree::validate_leaf(&two(7, 1, 2)), Ok(()));
    let mut t = SubTree::new();
    t.insert(two(7, 1, 2))?;
    t.insert(two(8, 2, 3))?;
    assert_eq!(t.locked(&Address::repeat_byte(1)), U256::from(1));
    assert_eq!(t.locked(&Address::repeat_byte(2)), U256::from(3));
    assert_eq!(t.locked(&Address::repeat_byte(3)), U256::from(2));
    t.update(two(7, 3, 4))?;
    assert_eq!(t.locked(&Address::repeat_byte(1)), U256::ZERO);
    assert_eq!(t.locked(&Address::repeat_byte(3)), U256::from(3));
    assert_eq!(t.locked(&Address::repeat_byte(4)), U256::from(2));
    assert_eq!(t.locked_totals().len(), 3);
    Ok(())
}

#[test]
fn locked_totals_never_overflow_and_errors_change_nothing() -> Result<(), Error> {
    let big = |id: u64| SubAlloc {
        fee: U256::ZERO,
        channelId: B256::from(U256::from(id)),
        amounts: vec![AssetAmount {
            asset: Address::ZERO,
            amount: U256::MAX,
        }],
    };
    let mut t = SubTree::new();
    t.insert(big(1))?;
    let (root, width) = (t.root(), t.width());
    assert_eq!(t.insert(big(2)), Err(Error::Overflow));
    assert_eq!((t.root(), t.width(), t.len()), (root, width, 1));
    assert_eq!(
        t.update(leaf(1, 5)).map(|_| t.locked(&Address::ZERO)),
        Ok(U256::from(5))
    );
    assert_eq!(
        t.update(leaf(2, 5)),
        Err(Error::UnknownSubChannel(leaf(2, 5).channelId))
    );
    t.remove(&leaf(1, 5).channelId)?;
    assert!(t.locked_totals().is_empty());
    Ok(())
}

#[test]
fn removing_the_last_leaves_narrows_the_table() -> Result<(), Error> {
    let mut t = SubTree::from_leaves((0..9).map(|i| leaf(i, 1)))?;
    assert_eq!((t.width(), t.height()), (9, 4));
    for i in [5, 6, 7] {
        t.remove(&leaf(i, 1).channelId)?;
    }
    assert_eq!(t.width(), 9);
    t.remove(&leaf(8, 1).channelId)?;
    // Slots 5..8 were free: the table narrows to slots 0..5.
    assert_eq!((t.width(), t.height()), (5, 3));
    assert_eq!(t.next_slot()?, 5);
    let same = SubTree::from_leaves((0..5).map(|i| leaf(i, 1)))?;
    assert_eq!(t.root(), same.root());
    assert_eq!(t, same);
    for i in 0..5 {
        t.remove(&leaf(i, 1).channelId)?;
    }
    assert_eq!(
        (t.width(), t.height(), t.root()),
        (0, 0, ferry_contracts::empty_root())
    );
    Ok(())
}

#[test]
fn tables_rebuild_from_their_slots() -> Result<(), Error> {
    let mut t = SubTree::new();
    for i in 0..20 {
        t.insert(leaf(i, i + 1))?;
    }
    for i in (0..20).step_by(3) {
        t.remove(&leaf(i, i + 1).channelId)?;
    }
    let slots: Vec<(u32, SubAlloc)> = t.iter().map(|(s, l)| (s, l.clone())).collect();
    let back = SubTree::from_slots(MAX_LEAVES, slots.clone())?;
    assert_eq!(back.root(), t.root());
    assert_eq!(back.next_slot()?, t.next_slot()?);
    assert_eq!(back.locked_totals(), t.locked_totals());
    let mut twice = slots;
    twice.push((1, leaf(99, 1)));
    assert_eq!(
        SubTree::from_slots(MAX_LEAVES, twice),
        Err(Error::SlotUnavailable(1))
    );
    let (l, p) = t.leaf_with_proof(&leaf(1, 2).channelId)?;
    assert!(verify(&t.root(), &l, &p));
    Ok(())
}

/// The design target: a million sub-channels in one ledger. Built in O(n), then updated and proven in O(log n).
/// Ignored by default (a few seconds and ~250 MB); run with `cargo test -p ferry-ledger --release -- --ignored`.
#[test]
#[ignore]
fn a_million_leaves() -> Result<(), Error> {
    let n = 1_000_000u64;
    let start = std::time::Instant::now();
    let mut t = SubTree::from_leaves((0..n).map(|i| leaf(i, 1)))?;
    let built = start.elapsed();
    let start = std::time::Instant::now();
    for i in 0..1000 {
        t.remove(&leaf(i * 997, 1).channelId)?;
        t.insert(leaf(n + i, 2))?;
    }
    let updates = start.elapsed();
    let p = t.proof(&leaf(n + 5, 2).channelId)?;
    assert_eq!(p.siblings.len(), 20);
    assert!(verify(&t.root(), &leaf(n + 5, 2), &p));
    assert_eq!(t.len(), n as usize);
    eprintln!("built {n} leaves in {built:?}; 1000 remove+insert pairs in {updates:?}");
    Ok(())
}
