//! A reorganization deeper than the confirmations: the events a channel applied from the replaced blocks are
//! taken back, nothing is signed on their strength until the new chain shows them again, and events the old and
//! the new chain both hold are counted once.

use super::*;

#[test]
fn a_deposit_that_vanished_is_taken_back_and_the_post_fund_waits_until_the_new_chain_shows_it_again()
 {
    let mut p = Pair::new();
    let id = p.propose(100, 50);
    p.deposit(id, 0, 100);
    let fork = p.pos;
    p.pump();
    p.block(10);
    // The block with A's deposit is replaced: both take it back and wait.
    p.rewind_both(fork);
    for i in 0..2 {
        assert_eq!(p.deposits(i, id), [U256::ZERO; 2], "node {i}");
        assert!(p.ch(i, id).reorganized());
        assert!(p.events[i].contains(&LedgerEvent::Reorganized {
            channel_id: id,
            vanished: 1
        }));
        assert_eq!(
            p.node(i).next_block(),
            fork,
            "the cursor goes back to the fork"
        );
    }
    // The new chain holds B's deposit (its transaction was in flight) but not A's yet: counted, no post-fund.
    p.deposit(id, 1, 50);
    p.pump();
    p.block(11);
    p.pump();
    assert_eq!(p.version(0, id), 0);
    assert_eq!(p.phase(1, id), Phase::Funding);
    assert!(p.events[1].contains(&LedgerEvent::Replayed {
        channel_id: id,
        unchanged: false
    }));
    // A's deposit is mined again: counted once, the replay ends, the post-fund is signed.
    p.deposit(id, 0, 100);
    p.pump();
    for i in 0..2 {
        assert_eq!(p.deposits(i, id), [U256::from(100), U256::from(50)]);
        assert!(!p.ch(i, id).reorganized());
        assert!(p.events[i].contains(&LedgerEvent::Replayed {
            channel_id: id,
            unchanged: true
        }));
        assert_eq!(p.phase(i, id), Phase::Running);
        assert_eq!(p.version(i, id), 1);
    }
}

#[test]
fn a_running_channel_signs_nothing_while_a_vanished_top_up_is_missing() {
    let mut p = Pair::new();
    let id = p.open();
    let before = p.version(0, id);
    // A top-up by A, seen on-chain, then replaced by a reorg.
    p.node(0).top_up(id, ETH, U256::from(10)).unwrap();
    p.pump();
    p.deposit(id, 0, 10);
    let fork = p.pos;
    p.pump();
    let topped = p.version(0, id);
    p.rewind_both(fork);
    assert_eq!(p.deposits(0, id), [U256::from(100), U256::from(100)]);
    // Nothing is signed meanwhile: a payment waits (refused by name).
    let paid = p.node(0).pay(id, ETH, U256::from(1), 0);
    p.pump();
    assert_eq!(p.version(0, id), topped, "{paid:?}");
    assert_eq!(p.version(1, id), topped);
    // The same deposit in the new chain: counted once, and the channel goes on.
    p.deposit(id, 0, 10);
    p.pump();
    assert_eq!(p.deposits(0, id), [U256::from(110), U256::from(100)]);
    assert_eq!(p.deposits(1, id), [U256::from(110), U256::from(100)]);
    assert!(!p.ch(0, id).reorganized());
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    assert!(p.version(0, id) > topped.max(before));
    assert_eq!(p.version(0, id), p.version(1, id));
}

#[test]
fn a_reorg_above_every_event_changes_nothing_and_a_replay_survives_a_restart() {
    let mut p = Pair::new();
    let id = p.open();
    p.block(10);
    let fork = p.pos + 1;
    p.rewind_both(fork);
    assert!(!p.ch(0, id).reorganized());
    assert!(
        !p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::Reorganized { .. }))
    );
    // A payout seen, then replaced: taken back without pausing anything (no signature rests on it), asked for
    // again, and counted once when the new chain shows it.
    let paid = |p: &Pair| {
        p.ch(0, id)
            .chain_withdrawn()
            .get(&ETH)
            .copied()
            .unwrap_or_default()
    };
    p.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
        channelId: id,
        asset: ETH,
        to: p.addr(0),
        amount: U256::from(5),
    }));
    let fork = p.pos;
    p.rewind_both(fork);
    assert_eq!(paid(&p), [U256::ZERO; 2]);
    assert!(!p.ch(0, id).reorganized());
    p.crash_restart(0);
    p.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
        channelId: id,
        asset: ETH,
        to: p.addr(0),
        amount: U256::from(5),
    }));
    assert_eq!(paid(&p), [U256::from(5), U256::ZERO], "counted once");
    // A replay is kept in the store: a deposit vanishes, the node restarts, and it still waits for it.
    p.deposit(id, 1, 7);
    let fork = p.pos;
    p.pump();
    p.rewind_both(fork);
    p.crash_restart(0);
    assert!(p.ch(0, id).reorganized(), "the replay is kept in the store");
    p.deposit(id, 1, 7);
    p.pump();
    assert!(!p.ch(0, id).reorganized());
}
