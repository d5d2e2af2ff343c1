//! A third outside reviewer's attacks on the ledger core, after the second round's fixes (the `Checkpointed` event
//! carrying the state, `adopt_newer`, the funding timeout, own top-ups counted only in known assets, the bound on
//! queued requests), kept as regression tests on the embedded chain. The reviewer wrote each as a test that passed
//! while the attack worked; each now plays the same attack and asserts the defence (no gas spent at a stranger's
//! command, the channel dropped; the challenge reached after a restart and the deposit paid back; a proposed close
//! still taken on-chain; no challenge of an honest peer). The tests of holes closed by this round's fixes (the
//! funding timeout decided by the node's own deposits; `resume` resetting `unresponsive_reported`; a final kept in
//! flight when an older refused proposal is adopted; own top-ups counted only in assets the channel holds or the
//! user topped up with) fail on the code before them; the three attacks the code already defended are kept too.

use crate::common::*;
use alloy::primitives::U256;
use ferry_adjudicator::Chain;
use ferry_ledger::State;
use ferry_ledger::protocol::{Config, LedgerMessage, Phase};
use ferry_simulations::ledger_net::LedgerNet;

// ============================================================================================== funding timeout

/// S16 ("strangers cannot make a node spend"), through the funding timeout. Any keyed peer opens a channel to the
/// honest node asking nothing of it (`[1, 0]`; the default open policy accepts) and never funds its own side;
/// instead it deposits **1 wei for the honest node's slot** (participant 1), then vanishes. Before the fix,
/// `LedgerChannel::funding_timed_out` decided between dropping the channel and disputing it by whether *anyone's*
/// deposit was credited to the node's slot: the dust turned the drop into a `challenge` with the pre-fund and, after
/// the window, a `withdraw`, two transactions paid by the honest node for one cheap deposit by the stranger,
/// repeatable over any number of opens. Now the decision is by the node's own funding deposits (a persisted
/// `deposit_sent`, or its own on-chain total reaching what the pre-fund asks of it): the channel is dropped
/// (`Failed`) and the node sends nothing (the dust is left to whoever cares).
#[tokio::test]
async fn s16_a_strangers_dust_in_the_honest_slot_leaves_the_funding_timeout_a_drop() {
    let mut net = LedgerNet::in_memory(2, config(), 301).await.expect("net");
    let (victim, stranger) = (net.address(0), net.address(1));
    let (id, _) = opened_by_stranger(&mut net, [U256::from(1), U256::ZERO]);
    assert_eq!(phase(&net, 0, id), Some(Phase::Funding));
    // The stranger's node goes away; the stranger only sends one 1-wei deposit for the victim's slot.
    net.crash(1);
    net.client
        .deposit(stranger, ETH, id, 1, U256::ZERO, U256::from(1))
        .await
        .expect("dust for the victim");
    steps_silent(&mut net, 10).await;
    for _ in 0..3 {
        net.now += 3_600_000;
        steps_silent(&mut net, 20).await;
    }
    after_window(&mut net, 50).await;
    net.now += 60_000;
    steps_silent(&mut net, 50).await;
    eprintln!(
        "victim phase {:?}; its transactions: {:?}; paid back {}",
        phase(&net, 0, id),
        net.landed,
        paid_to(&net, 0, victim)
    );
    // The honest node put nothing in: it drops the channel and pays for nothing at the stranger's command.
    assert_eq!(
        phase(&net, 0, id),
        Some(Phase::Failed),
        "the channel is dropped"
    );
    assert!(
        net.landed.is_empty() && net.failed.is_empty(),
        "the honest node sent no transaction: {:?} {:?}",
        net.landed,
        net.failed
    );
}

/// "Nothing stays locked forever" (a peer that never deposits leaves the opener's deposit with a reaction, the
/// funding timeout) against "the honest party's own machine may crash at any instruction". The attacker accepts
/// the honest opener's `[DEPOSIT, DEPOSIT]` open and never deposits. At `funding_timeout_ms` the opener's
/// `funding_timed_out` sets `unresponsive_reported` (persisted) and queues the pre-fund `challenge` (not persisted);
/// the node crashes after that commit and before the challenge is sent. Before the fix, the timeout path and
/// `next_timeout`'s funding deadline were both guarded by the persisted flag and nothing re-derived the challenge:
/// the channel stayed in `Funding` for ever and the opener's `DEPOSIT` stayed in the adjudicator until its user
/// noticed. Now `resume` resets `unresponsive_reported`: the timeout is reached again after the restart, the
/// challenge lands and the opener withdraws its whole deposit.
#[tokio::test]
async fn a_crash_after_the_funding_timeout_still_challenges_and_pays_the_opener_back() {
    let mut net = LedgerNet::in_memory(2, config(), 302).await.expect("net");
    let adjudicator = net.chain.adjudicator();
    let (victim, attacker) = (net.address(0), net.address(1));
    let id = net
        .node(0)
        .open(
            attacker,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    // The open and the countersigned pre-fund are exchanged by hand; then the attacker's node goes away.
    while let Some((_, m)) = net.node(0).poll_transmit() {
        net.node(1).handle_message(victim, m, 0).expect("accepted");
    }
    while let Some((_, m)) = net.node(1).poll_transmit() {
        net.node(0)
            .handle_message(attacker, m, 0)
            .expect("pre-fund");
    }
    net.crash(1);
    assert_eq!(phase(&net, 0, id), Some(Phase::Funding));
    steps_silent(&mut net, 20).await;
    assert_eq!(landed(&net, "deposit"), 1, "{:?}", net.landed);
    assert_eq!(
        net.chain.balance(adjudicator).await.expect("bal"),
        U256::from(DEPOSIT)
    );
    // The funding timeout fires; the node commits and crashes before its challenge leaves.
    net.now += 3_600_001;
    let now = net.now;
    net.node(0).handle_timeout(now).expect("timeout");
    let due = net.node(0).poll_tx().expect("the challenge was due");
    assert_eq!(due.name(), "challenge");
    // The crash loses it (it never reached the chain).
    net.crash(0);
    net.restart(0).expect("restart");
    for _ in 0..4 {
        steps_silent(&mut net, 30).await;
        net.now += 3_600_000;
        net.advance_chain_time(WINDOW + 1).await.expect("time");
    }
    steps_silent(&mut net, 30).await;
    eprintln!(
        "phase {:?}, landed {:?}, held {}",
        phase(&net, 0, id),
        net.landed,
        net.chain.balance(adjudicator).await.expect("bal")
    );
    assert_eq!(
        landed(&net, "challenge"),
        1,
        "the challenge is sent after the restart"
    );
    assert_ne!(
        phase(&net, 0, id),
        Some(Phase::Funding),
        "not stuck in funding"
    );
    assert_eq!(
        net.chain.balance(adjudicator).await.expect("bal"),
        U256::ZERO,
        "nothing stays locked"
    );
    assert_eq!(
        paid_to(&net, 0, victim),
        U256::from(DEPOSIT),
        "the opener is paid back"
    );
}

/// The same crash on the running-channel path (`handle_timeout`'s `peer_timeout_ms` branch): the peer stops
/// answering the honest leader's proposal; the peer timeout fires (flag persisted, challenge queued, not
/// persisted); the node crashes before sending it. Before the fix, after the restart the peer timer was filtered
/// out by `unresponsive_reported` for ever and no challenge was sent: the leader's funds stayed in the channel for
/// as long as the attacker liked, contrary to "a ledger whose peer stops answering is challenged after
/// `peer_timeout_ms`". Now `resume` resets the flag: the peer is reported again, the challenge (with v1, the
/// latest state both signed) lands and, after the window, the leader withdraws its whole deposit.
#[tokio::test]
async fn a_crash_after_the_peer_timeout_still_challenges_the_silent_peer() {
    let Attacked { mut net, id, .. } = attacked_channel(303).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    steps_silent(&mut net, 3).await;
    // Past the peer timeout: the timeout fires by hand, then the node crashes before its challenge leaves.
    net.now += 5_000;
    let now = net.now;
    net.node(0).handle_timeout(now).expect("timeout");
    let due = net.node(0).poll_tx().expect("the challenge was due");
    assert_eq!(due.name(), "challenge");
    net.crash(0);
    net.restart(0).expect("restart");
    for _ in 0..5 {
        steps_silent(&mut net, 40).await;
        net.now += 60_000;
    }
    eprintln!("phase {:?}, landed {:?}", phase(&net, 0, id), net.landed);
    assert_eq!(
        landed(&net, "challenge"),
        1,
        "the challenge is sent after the restart"
    );
    assert_ne!(phase(&net, 0, id), Some(Phase::Running));
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    for _ in 0..3 {
        steps_silent(&mut net, 40).await;
        net.now += 60_000;
    }
    let leader = net.address(0);
    eprintln!(
        "after the window: phase {:?}, landed {:?}",
        phase(&net, 0, id),
        net.landed
    );
    assert_eq!(
        paid_to(&net, 0, leader),
        U256::from(DEPOSIT),
        "the leader is paid its deposit"
    );
}

// ============================================================================================== checkpoints (S14)

/// What `state` records as withdrawn by participant 0 in ETH.
fn withdrawn0(state: &State) -> U256 {
    state
        .outcome
        .assets
        .iter()
        .find(|a| a.asset == ETH)
        .map(|a| a.withdrawn[0])
        .unwrap_or_default()
}

/// S12/S14 (a carried partial withdrawal and the adoption of its refused proposal; defended before this round's
/// fixes, kept as a regression). The honest leader's user asks for one partial withdrawal W of 10; the attacker
/// (follower) rejects proposal A (v2, holding W), so `on_reject` carries W and the leader proposes it at once in C
/// (v3, built on v1). The attacker completes A and `checkpoint`s it: `adopt_newer` adopts A and abandons C (W in
/// flight, not left queued), so nothing proposes W a second time; then the attacker completes and checkpoints C
/// too: C carries the same cumulative `withdrawn` (10), so `withdrawPartial` pays nothing more. Before the fix (and
/// after) the leader is paid 10 in total, as asked.
#[tokio::test]
async fn s14_a_carried_withdrawal_is_paid_once_after_its_refused_proposal_is_checkpointed() {
    // Slow resends, so the carried W is still queued when the checkpoint is read (any timing the attacker picks).
    let slow = Config {
        resend_ms: 5_000,
        max_resend_ms: 10_000,
        peer_timeout_ms: 60_000,
        ..config()
    };
    let Attacked {
        mut net,
        id,
        params,
        honest,
        attacker,
        ..
    } = attacked_channel_with(slow, 304).await;
    let now = net.now;
    net.node(0)
        .withdraw(id, ETH, U256::from(10), now)
        .expect("withdraw");
    net.step().await.expect("step");
    let (a, a_sig) = take_proposal(&mut net).expect("A proposed");
    assert_eq!(withdrawn0(&a), U256::from(10));
    reject(&mut net, id, a.version.to::<u64>()).expect("reject");
    let sigs = complete(&net, &a, a_sig);
    net.client
        .checkpoint(attacker, &params, &a, &sigs)
        .await
        .expect("checkpoint A");
    let mut c = None;
    for _ in 0..10 {
        net.step().await.expect("step");
        for m in std::mem::take(&mut net.diverted) {
            if let LedgerMessage::Propose { state, sig, batch } = m.msg {
                eprintln!(
                    "proposal v{} withdrawn[0] {} batch {:?}; leader supports v{:?}",
                    state.version,
                    withdrawn0(&state),
                    batch,
                    net.node(0)
                        .channel(&id)
                        .and_then(|ch| ch.supported())
                        .map(|s| s.state.version)
                );
                if state.version > a.version && c.is_none() {
                    c = Some((state, sig));
                }
            }
        }
        if c.is_some() {
            break;
        }
    }
    let supported = net
        .node(0)
        .channel(&id)
        .and_then(|ch| ch.supported())
        .map(|s| s.state.clone());
    assert_eq!(supported.as_ref(), Some(&a), "A adopted");
    let (c, c_sig) = c.expect("the leader proposed again after the adoption");
    eprintln!("C v{} withdrawn[0] = {}", c.version, withdrawn0(&c));
    assert_eq!(withdrawn0(&c), U256::from(10), "W once");
    let sigs = complete(&net, &c, c_sig);
    net.client
        .checkpoint(attacker, &params, &c, &sigs)
        .await
        .expect("checkpoint C");
    steps_silent(&mut net, 20).await;
    let paid = paid_to(&net, 0, honest);
    eprintln!(
        "partial withdrawals paid to the leader: {paid}; landed {:?}",
        net.landed
    );
    assert_eq!(paid, U256::from(10), "the user asked for 10 and got 10");
}

/// S14 and "nothing stays locked forever — a ledger whose peer stops answering is challenged after
/// `peer_timeout_ms`", through `adopt_newer`'s handling of a proposed final. The honest leader pays 1 (proposal A,
/// v2); the attacker rejects A (kept as abandoned). The leader's user closes: final F (v3) is proposed. Before the
/// peer timeout the attacker completes the *older* A and `checkpoint`s it, then goes silent. Before the fix,
/// `adopt_newer` adopted A, moved the pending final F to `abandoned` and stopped waiting: the channel was back to
/// `Running` with nothing in flight and no timer at all, while the leader, having signed F, could sign nothing else
/// (nor close again): no challenge was ever sent and its funds stayed in the channel until its user noticed. Now
/// F stays in flight with its timer armed: the silent peer is reported, the leader's challenge (with the adopted A)
/// lands and, after the window, the leader is paid what A gives it.
#[tokio::test]
async fn s14_a_checkpoint_of_an_older_refused_proposal_keeps_the_proposed_close_armed() {
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        attacker,
        ..
    } = attacked_channel(305).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    net.step().await.expect("step");
    let (a, a_sig) = take_proposal(&mut net).expect("A");
    reject(&mut net, id, a.version.to::<u64>()).expect("reject A");
    let now = net.now;
    net.node(0).close(id, now).expect("close");
    net.step().await.expect("step");
    let (f, _) = take_proposal(&mut net).expect("F");
    assert!(f.isFinal && f.version > a.version);
    let sigs = complete(&net, &a, a_sig);
    net.client
        .checkpoint(attacker, &params, &a, &sigs)
        .await
        .expect("checkpoint the older A");
    steps_silent(&mut net, 5).await;
    let ch = net.node(0).channel(&id).expect("ch");
    assert_eq!(ch.supported().map(|s| &s.state), Some(&a), "A adopted");
    assert_eq!(ch.signed_final(), Some(&f), "F signed: nothing else can be");
    eprintln!(
        "after the checkpoint: phase {:?}, busy {}, next timeout {:?}",
        ch.phase(),
        ch.is_busy(),
        net.node(0).poll_timeout()
    );
    // Hours pass; the attacker stays silent.
    for _ in 0..6 {
        net.now += 600_000;
        steps_silent(&mut net, 20).await;
    }
    eprintln!(
        "after an hour: phase {:?}; landed {:?}",
        phase(&net, 0, id),
        net.landed
    );
    assert_eq!(
        landed(&net, "challenge"),
        1,
        "the silent peer is challenged"
    );
    assert_ne!(phase(&net, 0, id), Some(Phase::Running));
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    for _ in 0..3 {
        steps_silent(&mut net, 40).await;
        net.now += 60_000;
    }
    let leader = net.address(0);
    eprintln!(
        "after the window: phase {:?}; landed {:?}; held {}",
        phase(&net, 0, id),
        net.landed,
        net.chain.balance(adjudicator).await.expect("bal")
    );
    assert_eq!(
        paid_to(&net, 0, leader),
        U256::from(DEPOSIT - 1),
        "the leader is paid what the adopted A gives it"
    );
}

/// S14 (the chain's signatures in the wrong order, and a final checkpointed; defended before this round's fixes,
/// kept as a regression). The attacker holds the leader's refused proposal A and its proposed final F.
/// `checkpoint` with A's two signatures swapped reverts (`ChannelLib.requireSignedByAll` checks participant order),
/// so `adopt_newer`'s slot-by-slot copy of the event's signatures cannot be fed a wrong order; `checkpoint` with F
/// reverts (`FinalityMismatch`), so the `Checkpointed` handler never sees a final. Before the fix (and after) the
/// leader's state is untouched.
#[tokio::test]
async fn s14_swapped_signatures_and_a_checkpointed_final_are_refused() {
    let Attacked {
        mut net,
        id,
        params,
        attacker,
        ..
    } = attacked_channel(306).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    net.step().await.expect("step");
    let (a, a_sig) = take_proposal(&mut net).expect("A");
    reject(&mut net, id, a.version.to::<u64>()).expect("reject A");
    let mut swapped = complete(&net, &a, a_sig);
    swapped.reverse();
    assert!(
        net.client
            .checkpoint(attacker, &params, &a, &swapped)
            .await
            .is_err(),
        "checkpoint with swapped signatures reverts"
    );
    let now = net.now;
    net.node(0).close(id, now).expect("close");
    net.step().await.expect("step");
    let (f, f_sig) = take_proposal(&mut net).expect("F");
    let sigs = complete(&net, &f, f_sig);
    assert!(
        net.client
            .checkpoint(attacker, &params, &f, &sigs)
            .await
            .is_err(),
        "a final cannot be checkpointed"
    );
    steps_silent(&mut net, 5).await;
    let v = net
        .node(0)
        .channel(&id)
        .and_then(|c| c.supported())
        .map(|s| s.version());
    assert_eq!(v, Some(1), "nothing adopted");
}

/// A peer making the honest follower drop a channel it funds later (defended before issue 13, kept as a
/// regression). The attacker opens `[DEPOSIT, DEPOSIT]` and deposits nothing until the honest follower's funding
/// timeout dropped the channel (nothing of its own deposited or sent: it deposits only after the opener); then it
/// deposits its whole share and sends its `Open` again. Before issue 13 the follower kept the failed channel and
/// ignored the resent `Open`. Now the dropped channel is forgotten (a stranger's abandoned opens cost no memory), so
/// the resent `Open` is a new open under the node's policy, as one with a fresh nonce would be: the follower sees
/// the attacker's deposit, deposits its own share after it, and when the attacker never signs the post-fund it takes
/// its deposit back on-chain. It never loses anything, and nothing stays locked.
#[tokio::test]
async fn a_follower_dropped_in_funding_and_opened_again_gets_its_deposit_back() {
    let mut net = LedgerNet::in_memory_confirmed(2, config(), 307, 2)
        .await
        .expect("net");
    let (attacker, follower) = (net.address(1), net.address(0));
    let (id, open_msg) = opened_by_stranger(&mut net, [U256::from(DEPOSIT), U256::from(DEPOSIT)]);
    net.crash(1);
    for _ in 0..2 {
        net.now += 3_600_000;
        steps_silent(&mut net, 10).await;
    }
    assert_eq!(phase(&net, 0, id), None, "forgotten");
    assert!(net.landed.is_empty(), "nothing sent: {:?}", net.landed);
    net.client
        .deposit(attacker, ETH, id, 0, U256::ZERO, U256::from(DEPOSIT))
        .await
        .expect("late deposit");
    let now = net.now;
    net.node(0)
        .handle_message(attacker, open_msg.expect("open"), now)
        .expect("a new open");
    for _ in 0..3 {
        net.now += 60_000;
        steps_silent(&mut net, 20).await;
    }
    after_window(&mut net, 100).await;
    assert_eq!(
        paid_to(&net, 0, follower),
        U256::from(DEPOSIT),
        "the follower takes its deposit back: {:?}",
        net.landed
    );
    let held = net
        .chain
        .balance(net.chain.adjudicator())
        .await
        .expect("bal");
    assert_eq!(held, U256::ZERO, "nothing stays locked");
}

/// S16 ("strangers cannot make a node spend"), through the top-up memory (`topup_refused`) and `MAX_ABANDONED`. Two
/// honest nodes run a channel; the leader's operator lists an ERC-20 token T (`[ledger] tokens`), the follower's
/// does not. A stranger deposits 1 unit of T for the leader, then 1 more, 70 times. Before the fix,
/// `count_own_top_ups` counted T because the leader's own policy lists it, proposed a top-up, the honest follower
/// refused it (`AssetNotAccepted`), and `topup_refused` held it back only until the total grew, which each drip
/// did: after `MAX_ABANDONED` refused proposals the leader counted its honest peer unresponsive and challenged it,
/// a stranger having made it sign 64 states and pay to close an honest pair's channel on-chain. Now own top-ups are
/// counted only in assets the channel holds or the user topped up with: the leader proposes nothing, signs nothing
/// past v1, sends no transaction, and the channel keeps running on both sides.
#[tokio::test]
async fn s16_a_strangers_drip_of_a_token_only_the_leader_lists_is_never_proposed() {
    let (mut net, id) = running_channel(1, 308).await;
    let stranger = net.chain.accounts()[0];
    assert!(!(0..2).any(|i| net.address(i) == stranger));
    let token = stranger_token(&net, stranger, 1_000).await;
    // The leader's operator lists T; the follower's does not.
    restart_listing(&mut net, 0, token);
    steps_silent(&mut net, 5).await;
    let landed_before = net.landed.len();
    for i in 0..70u64 {
        net.client
            .deposit(stranger, token, id, 0, U256::from(i), U256::from(1))
            .await
            .expect("drip");
        steps_silent(&mut net, 4).await;
    }
    let signed = net.node(0).channel(&id).expect("ch").signed_up_to();
    eprintln!("leader signed up to v{signed}");
    for _ in 0..3 {
        net.now += 10_000;
        steps_silent(&mut net, 20).await;
    }
    after_window(&mut net, 60).await;
    let theirs: Vec<_> = net.landed[landed_before..].to_vec();
    eprintln!(
        "after the drip: leader {:?}, follower {:?}; leader's transactions {:?}",
        phase(&net, 0, id),
        phase(&net, 1, id),
        theirs
    );
    assert_eq!(
        signed, 1,
        "the leader signed nothing for the stranger's drip"
    );
    assert!(
        theirs.is_empty(),
        "no transaction at the stranger's command: {theirs:?}"
    );
    assert_eq!(
        landed(&net, "challenge"),
        0,
        "no challenge of the honest peer"
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Running));
    assert_eq!(phase(&net, 1, id), Some(Phase::Running));
}

/// S16, the first attack at the cost of a worthless token. A stranger opens `[1, 0]` in ETH, deploys its own ERC-20
/// and deposits 1 unit of it for the honest follower, then vanishes. Before the fix, `funding_timed_out` looked at
/// *every* asset credited to the node's slot, ones the pre-fund does not list included: instead of dropping the
/// channel the follower challenged with the pre-fund (and later withdrew), gas spent for a token worth nothing
/// that the pre-fund's payout does not even cover. Now only the node's own funding deposits count: the channel is
/// dropped and the follower sends nothing.
#[tokio::test]
async fn s16_a_strangers_junk_token_in_the_honest_slot_leaves_the_funding_timeout_a_drop() {
    let mut net = LedgerNet::in_memory(2, config(), 309).await.expect("net");
    let stranger = net.address(1);
    let junk = stranger_token(&net, stranger, 1).await;
    let (id, _) = opened_by_stranger(&mut net, [U256::from(1), U256::ZERO]);
    net.crash(1);
    net.client
        .deposit(stranger, junk, id, 1, U256::ZERO, U256::from(1))
        .await
        .expect("junk for the victim");
    steps_silent(&mut net, 10).await;
    for _ in 0..3 {
        net.now += 3_600_000;
        steps_silent(&mut net, 20).await;
    }
    after_window(&mut net, 50).await;
    net.now += 60_000;
    steps_silent(&mut net, 50).await;
    eprintln!(
        "victim {:?}; its transactions {:?}",
        phase(&net, 0, id),
        net.landed
    );
    assert_eq!(
        phase(&net, 0, id),
        Some(Phase::Failed),
        "the channel is dropped"
    );
    assert!(
        net.landed.is_empty() && net.failed.is_empty(),
        "no transaction at the stranger's command: {:?} {:?}",
        net.landed,
        net.failed
    );
}
