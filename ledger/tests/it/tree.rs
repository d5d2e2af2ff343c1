use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{AssetAmount, EMPTY_SUBTREES, SubAlloc, TREE_DEPTH, leaf_hash, tree_node};
use ferry_ledger::sub_tree::{root_from_proof, verify};
use ferry_ledger::{Error, SubTree};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn leaf(id: u64, amount: u64) -> SubAlloc {
    SubAlloc {
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
        }
        for (slot, l) in &model {
            let p = tree.proof(&l.channelId);
            prop_assert!(p.is_ok());
            if let Ok(p) = p {
                prop_assert_eq!(p.index, *slot);
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
fn slots_are_reused_lowest_first_and_explicit_slots_are_checked() -> Result<(), Error> {
    let mut t = SubTree::new();
    for i in 0..4 {
        t.insert(leaf(i, 1))?;
    }
    t.remove(&leaf(1, 1).channelId)?;
    t.remove(&leaf(3, 1).channelId)?;
    assert_eq!(t.insert(leaf(10, 1))?, 1);
    assert_eq!(t.insert_at(0, leaf(11, 1)), Err(Error::SlotUnavailable(0)));
    t.insert_at(7, leaf(12, 1))?;
    assert_eq!(t.insert(leaf(13, 1))?, 3);
    assert_eq!(t.insert(leaf(14, 1))?, 4);
    assert_eq!(
        t.remove(&leaf(99, 1).channelId),
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
