//! The ninth outside attacker's findings (on reorganization replays), kept as regression tests: each asserted the
//! bad outcome when written and now asserts the fix (the doc comments describe the attack as it worked).

use alloy::primitives::aliases::U48;

use super::*;

impl Pair {
    fn challenge_event(&mut self, id: B256, s: &SignedState, finalizes_at: u32) {
        self.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
            channelId: id,
            finalizesAt: U48::from(finalizes_at),
            state: s.state.clone(),
            sigs: s.sigs.clone(),
        }));
    }

    fn checkpoint_event(&mut self, id: B256, s: &SignedState) {
        self.chain(Ev::Checkpointed(IAdjudicator::Checkpointed {
            channelId: id,
            version: s.state.version,
            state: s.state.clone(),
            sigs: s.sigs.clone(),
        }));
    }
}

/// The replay compared `Deposited` by `taken`, which depends on what the slot held when the deposit was mined
/// (`take = expectedHeld + amount - mine`). The attacker put 1 wei into the honest node's slot in the new chain
/// before the honest top-up was mined again: the top-up then took 9 instead of 10. The chain showed exactly the
/// same cumulative deposit (110), but the fact `{participant 0, taken 10}` never came back, so the honest node's
/// channel never signed again off-chain (for 1 wei). Deposits are now compared by totals.
#[test]
fn one_wei_in_the_victims_slot_before_its_re_mined_top_up_does_not_freeze_the_channel() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).top_up(id, ETH, U256::from(10)).unwrap();
    p.pump();
    let fork = p.pos + 1;
    p.deposit(id, 0, 10);
    p.pump();
    let topped = p.version(0, id);
    assert!(topped > 1);
    p.rewind_both(fork);
    assert!(p.ch(0, id).reorganized());
    // New chain: 1 wei for participant 0 first, then A's same transaction takes only 9.
    p.deposit(id, 0, 1);
    p.pump();
    p.deposit(id, 0, 9);
    p.pump();
    assert_eq!(p.deposits(0, id), [U256::from(110), U256::from(100)]);
    assert!(!p.ch(0, id).reorganized(), "the deposits are back");
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    assert!(p.version(0, id) > topped, "A pays again");
}

/// The same in funding: 1 wei in the opener's slot before its funding deposit was mined again kept the opener from
/// ever signing the post-fund. Now the channel is funded as agreed and runs.
#[test]
fn one_wei_before_a_re_mined_funding_deposit_does_not_keep_the_channel_unfunded() {
    let mut p = Pair::new();
    let id = p.propose(100, 50);
    let fork = p.pos + 1;
    p.deposit(id, 0, 100);
    p.pump();
    p.block(10);
    p.rewind_both(fork);
    p.deposit(id, 0, 1);
    p.deposit(id, 0, 99);
    p.deposit(id, 1, 50);
    p.pump();
    assert_eq!(p.deposits(0, id), [U256::from(100), U256::from(50)]);
    for i in 0..2 {
        assert!(!p.ch(i, id).reorganized(), "node {i}");
        assert_eq!(p.phase(i, id), Phase::Running, "node {i}");
        assert_eq!(p.version(i, id), 1, "node {i}");
    }
}

/// The replay compared `ChallengeRegistered` by `finalizesAt` (`block.timestamp + challengeDuration`): the same
/// challenge mined again in a later block never "showed again", and a peer that registered a stale challenge just
/// before a reorganization froze the honest node's channel for good. Vanished disputes are not waited for now (the
/// states they carry are signed by both); the channel acts on what the chain it keeps shows.
#[test]
fn a_challenge_re_mined_in_a_later_block_leaves_the_channel_running() {
    let mut p = Pair::new();
    let id = p.open();
    let stale = p.ch(0, id).supported().unwrap().clone();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    let latest = p.ch(0, id).supported().unwrap().clone();
    let fork = p.pos + 1;
    p.challenge_event(id, &stale, 1000 + 3600);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Disputed);
    p.checkpoint_event(id, &latest);
    p.pump();
    p.block(1000);
    p.rewind_both(fork);
    // Both vanished: the channel runs, as the chain it keeps shows.
    assert_eq!(p.phase(0, id), Phase::Running);
    assert!(!p.ch(0, id).reorganized());
    p.challenge_event(id, &stale, 1012 + 3600);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Disputed);
    p.checkpoint_event(id, &latest);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Running);
    let before = p.version(0, id);
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    assert!(p.version(0, id) > before, "A pays again");
}

/// `rewind` took back only the amounts: a challenge that vanished left the channel disputed, chain time then
/// "finalized" it, and the honest node asked for a `withdraw` that reverts on the real chain and refused to
/// challenge (wrong phase) or close: its funds stayed locked until the attacker chose to act. A vanished challenge
/// is undone now: the channel runs, chain time finalizes nothing, and the node may challenge or close.
#[test]
fn a_vanished_challenge_leaves_no_phantom_finalization() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    let latest = p.ch(0, id).supported().unwrap().clone();
    let fork = p.pos + 1;
    p.challenge_event(id, &latest, 5000);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Disputed);
    p.block(1400);
    p.pump();
    p.rewind_both(fork);
    assert_eq!(p.phase(0, id), Phase::Running);
    for t in [1500u64, 3000, 5000, 6000] {
        p.block(t);
        p.pump();
    }
    assert_eq!(
        p.phase(0, id),
        Phase::Running,
        "no finalization by a vanished deadline"
    );
    p.txs[0].clear();
    p.crash_restart(0);
    p.pump();
    assert!(
        !p.txs[0]
            .iter()
            .any(|t| matches!(t, ChainTx::Withdraw { .. })),
        "{:?}",
        p.txs[0]
    );
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Closing, "a cooperative close works");
}

/// The converse: a challenge stays on the chain but the checkpoint that answered it vanished. The channel is
/// disputed again by that challenge and answers it again (with its newer state) before the deadline.
#[test]
fn a_vanished_checkpoint_makes_the_challenge_live_again_and_it_is_answered() {
    let mut p = Pair::new();
    let id = p.open();
    let stale = p.ch(0, id).supported().unwrap().clone();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    let latest = p.ch(0, id).supported().unwrap().clone();
    p.challenge_event(id, &stale, 5000);
    p.pump();
    let fork = p.pos + 1;
    p.checkpoint_event(id, &latest);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Running);
    p.txs[0].clear();
    p.rewind_both(fork);
    assert_eq!(
        p.phase(0, id),
        Phase::Disputed,
        "the stale challenge stands again"
    );
    assert!(
        p.txs[0].iter().any(|t| matches!(
            t,
            ChainTx::Challenge { state, .. } if state.version() == latest.version()
        )),
        "answered with the newer state: {:?}",
        p.txs[0]
    );
}

/// Same root cause on a cooperative close: B (the closer) got its `concludeAndWithdraw` mined, then dropped by a
/// reorganization and never mined again. `rewind` took the payouts back but left A's channel `Closed`: A, holding
/// the fully signed final, never sent its own `concludeAndWithdraw` (nor could its user challenge or close), so its
/// funds stayed in the adjudicator for as long as B liked. The conclusion is undone now: A is closing again and
/// concludes with the final after the grace period.
#[test]
fn a_vanished_conclusion_is_undone_and_the_victim_concludes_itself() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(1).close(id, 0).unwrap();
    p.pump();
    let fin = p.ch(0, id).supported().unwrap().clone();
    assert!(fin.state.isFinal);
    let (a, b) = (p.addr(0), p.addr(1));
    let fork = p.pos + 1;
    p.chain(Ev::Concluded(IAdjudicator::Concluded {
        channelId: id,
        version: fin.state.version,
    }));
    for to in [a, b] {
        p.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
            channelId: id,
            asset: ETH,
            to,
            amount: U256::from(100),
        }));
    }
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Closed);
    p.rewind_both(fork);
    assert_eq!(
        p.phase(0, id),
        Phase::Closing,
        "not concluded on the chain it keeps"
    );
    p.txs[0].clear();
    p.now = 3_600_000;
    let now = p.now;
    p.node(0).handle_timeout(now).unwrap();
    p.pump();
    assert!(
        p.txs[0].iter().any(
            |t| matches!(t, ChainTx::ConcludeAndWithdraw { state, .. } if state.state == fin.state)
        ),
        "A concludes with the final: {:?}",
        p.txs[0]
    );
}
