//! Sub-channels (S8, S10): leaves added and removed through both sides' guards, the table's undo, restarts.

use super::*;

#[test]
fn undoing_the_removal_of_the_last_leaf_restores_the_table_it_narrowed() {
    // Two leaves; the first is removed, then the second (the table narrows to nothing), and that removal is undone
    // (a challenge landing while it was a proposal in flight).
    let mut table = crate::SubTree::new();
    table.insert(leaf(1, 5)).unwrap();
    table.insert(leaf(2, 7)).unwrap();
    table.remove(&leaf(1, 5).channelId).unwrap();
    let before = table.clone();
    let removed = table.remove(&leaf(2, 7).channelId).unwrap();
    assert!(table.is_empty());
    ops::undo(&mut table, &[ops::UndoStep::Reinsert(1, removed)]).unwrap();
    assert_eq!(table.root(), before.root());
    assert_eq!(table.slot_of(&leaf(2, 7).channelId), Some(1));
    // The free slot below it is usable again.
    assert_eq!(table.insert(leaf(3, 1)).unwrap(), 0);
}

#[test]
fn sub_channels_are_added_and_removed_through_both_guards_and_survive_a_restart() {
    let mut p = Pair::new();
    p.node(0).set_guard(Box::new(TestGuard));
    p.node(1).set_guard(Box::new(TestGuard));
    let id = p.open();
    // Added by the leader and (as requests) by the follower, in one go: the leader places the slots.
    p.node(0)
        .add_sub_channel(
            id,
            leaf(1, 10),
            [vec![U256::from(6)], vec![U256::from(4)]],
            0,
        )
        .unwrap();
    p.node(1)
        .add_sub_channel(id, leaf(2, 5), [vec![U256::ZERO], vec![U256::from(5)]], 0)
        .unwrap();
    p.node(1)
        .add_sub_channel(id, leaf(3, 1), [vec![U256::from(1)], vec![U256::ZERO]], 0)
        .unwrap();
    p.pump();
    for i in 0..2 {
        let t = p.n[i].as_ref().unwrap().table(&id).unwrap();
        assert_eq!(t.len(), 3);
        let s = p.ch(i, id).supported().unwrap();
        assert_eq!(s.state.outcome.subRoot, t.root());
        assert_eq!(s.state.outcome.assets[0].locked, U256::from(16));
    }
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(93));
    // A leaf the peer's guard does not know is refused, and the channel goes on.
    let mut unknown = leaf(9, 1);
    unknown.channelId = B256::repeat_byte(1);
    assert!(
        p.node(0)
            .add_sub_channel(id, unknown, [vec![U256::from(1)], vec![U256::ZERO]], 0)
            .is_err()
    );
    // Both restart: the tables come back from the stored leaves.
    let root = p.n[0].as_ref().unwrap().table(&id).unwrap().root();
    p.crash_restart(0);
    p.crash_restart(1);
    // The guard is the runtime's (the virtual layer's), set again after a restart.
    p.node(0).set_guard(Box::new(TestGuard));
    p.node(1).set_guard(Box::new(TestGuard));
    p.pump();
    assert_eq!(p.n[0].as_ref().unwrap().table(&id).unwrap().root(), root);
    assert_eq!(p.n[1].as_ref().unwrap().table(&id).unwrap().root(), root);
    // Removing one pays its leaf out; a close waits until the table is empty.
    p.node(1)
        .remove_sub_channel(
            id,
            leaf(2, 5).channelId,
            [vec![U256::from(2)], vec![U256::from(3)]],
            0,
        )
        .unwrap();
    p.pump();
    assert_eq!(p.n[0].as_ref().unwrap().table(&id).unwrap().len(), 2);
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(95));
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert!(
        p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::Refused { op: Op::Close, .. })),
        "no close with hosted sub-channels"
    );
    assert_eq!(p.phase(0, id), Phase::Running);
    for l in [leaf(1, 10), leaf(3, 1)] {
        let n = l.amounts[0].amount;
        p.node(0)
            .remove_sub_channel(id, l.channelId, [vec![n], vec![U256::ZERO]], 0)
            .unwrap();
    }
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert_eq!(p.phase(1, id), Phase::Closing);
    let s = p.ch(1, id).supported().unwrap();
    assert!(s.state.isFinal);
    assert_eq!(s.state.outcome.subRoot, ferry_contracts::empty_root());
    assert_eq!(
        s.state.outcome.assets[0].balances,
        vec![U256::from(106), U256::from(94)]
    );
}
