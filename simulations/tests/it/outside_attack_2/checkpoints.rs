//! Checkpoints (S14): a refused proposal, a proposal in flight, a proposal built on a checkpointed one and the
//! follower's post-fund, each completed and registered by the peer, are adopted and the honest party paid.

use crate::common::*;
use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{LedgerMessage, Phase};
use ferry_ledger::{Signature, State};
use ferry_simulations::ledger_net::LedgerNet;

/// S14 (a refused proposal completed by the peer; "nothing stays locked forever"). The attacker (follower) rejects
/// the honest leader's proposal A (v2, a 1-wei payment), completes A with its own signature and `checkpoint`s it
/// (no challenge needed: `checkpoint` works on an idle channel), then goes silent; the leader closes. Before the
/// fix, the `Checkpointed` event carried only the version and the node ignored it when no dispute was pending: the
/// leader kept v1, its unresponsive-peer challenge with v1 was refused (`StaleVersion(1, 2)`), and having no state
/// at version >= 2 signed by the peer it could neither challenge nor conclude: its whole deposit stayed in the
/// adjudicator for as long as the attacker liked. Now the event carries the state and signatures and the leader
/// adopts A (`adopt_newer`): its challenge with A lands, the ledger finalizes and the leader is paid what A gives it.
#[tokio::test]
async fn s14_a_refused_proposal_the_peer_checkpoints_is_adopted_and_the_leader_paid() {
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        honest,
        attacker,
    } = attacked_channel(31).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    let mut hoard = Vec::new();
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let (a, sig) = hoard.first().cloned().expect("the leader proposed A");
    assert_eq!(a.version.to::<u64>(), 2);
    let sigs = complete(&net, &a, sig);
    net.client
        .checkpoint(attacker, &params, &a, &sigs)
        .await
        .expect("checkpoint with the abandoned proposal");
    steps_silent(&mut net, 5).await;
    assert_eq!(
        net.node(0)
            .channel(&id)
            .and_then(|c| c.supported())
            .map(|s| &s.state),
        Some(&a),
        "the leader adopted the checkpointed state"
    );
    // The honest leader wants out: it proposes its final; the attacker stays silent from now on.
    let now = net.now;
    net.node(0).close(id, now).expect("close");
    steps_silent(&mut net, 200).await;
    for _ in 0..5 {
        after_window(&mut net, 100).await;
    }
    assert_eq!(
        failed(&net, "challenge"),
        0,
        "no challenge of the leader's is refused: {:?}",
        net.failed
    );
    assert!(
        landed(&net, "challenge") >= 1,
        "the leader challenged its silent peer with A: {:?}",
        net.landed
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    assert_eq!(
        paid_to(&net, 0, honest),
        U256::from(DEPOSIT - 1),
        "the honest leader gets what A gives it"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO, "nothing stays locked in the adjudicator");
}

/// S14 (the leader's proposal in flight, completed by the peer; "nothing stays locked forever"). As above, but the
/// attacker leaves the leader's proposal A (v2, a 1-wei payment) unanswered instead of rejecting it, completes it and
/// `checkpoint`s it, then goes silent. Before the fix the leader ignored `Checkpointed`: A stayed in flight, the
/// leader could not close, and its unresponsive-peer challenge with v1 was refused (`StaleVersion(1, 2)`). Now the
/// leader adopts A with the attacker's signature from the event: its challenge with A lands and it is paid.
#[tokio::test]
async fn s14_a_proposal_in_flight_the_peer_checkpoints_is_adopted_and_the_leader_paid() {
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        honest,
        attacker,
    } = attacked_channel(33).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    let (a, sig) = last_proposal(&mut net, 3)
        .await
        .expect("the leader proposed A");
    assert_eq!(a.version.to::<u64>(), 2);
    let sigs = complete(&net, &a, sig);
    net.client
        .checkpoint(attacker, &params, &a, &sigs)
        .await
        .expect("checkpoint with the proposal in flight");
    steps_silent(&mut net, 5).await;
    assert_eq!(
        net.node(0)
            .channel(&id)
            .and_then(|c| c.supported())
            .map(|s| &s.state),
        Some(&a),
        "the leader adopted the checkpointed state"
    );
    let now = net.now;
    net.node(0).close(id, now).expect("close");
    steps_silent(&mut net, 200).await;
    for _ in 0..5 {
        after_window(&mut net, 100).await;
    }
    assert_eq!(
        failed(&net, "challenge"),
        0,
        "no challenge of the leader's is refused: {:?}",
        net.failed
    );
    assert!(landed(&net, "challenge") >= 1, "{:?}", net.landed);
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    assert_eq!(
        paid_to(&net, 0, honest),
        U256::from(DEPOSIT - 1),
        "the honest leader gets what A gives it"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO, "nothing stays locked in the adjudicator");
}

/// S14 (a refused proposal completed by the peer, built on an adopted one, adopted with the whole table; S10: the
/// table is the one the claims need). The leader adds a leaf L1 (proposal A, v2), the attacker rejects; the leader
/// pays 1 (B, v3, built on v1), rejected; the attacker challenges with A (adopted: the table holds L1), then
/// checkpoints with B. Before the fix B was ignored (only a pending dispute was cleared): the leader ran on with A
/// supported and built its next proposal C on A, and an earlier hole (fixed in 84da1c8) then replayed C on v1 when
/// C was registered, losing L1 from the table while C's `subRoot` held it. Now the checkpointed B is adopted (the
/// table loses L1 with it: B was built on v1); C (v4, adding leaf L2) is built on B, rejected and registered by the
/// attacker: the leader adopts it and its table is the finalized one, L2 without L1, so L2 can be claimed.
#[tokio::test]
async fn s14_a_refused_proposal_built_on_a_checkpointed_one_is_adopted_with_the_whole_table() {
    const LEAF: u64 = 400_000;
    const LEAF2: u64 = 250_000;
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        attacker,
        ..
    } = attacked_channel(41).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let (l1, l2) = (B256::repeat_byte(0x78), B256::repeat_byte(0x7a));
    let mut hoard = Vec::new();
    add_own_leaf(&mut net, id, l1, LEAF);
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let get = |hoard: &[(State, Signature)], v: u64| {
        hoard
            .iter()
            .find(|(s, _)| s.version.to::<u64>() == v)
            .cloned()
            .expect("proposal")
    };
    let (a, b) = (get(&hoard, 2), get(&hoard, 3));
    assert_eq!(a.0.outcome.assets[0].locked, U256::from(LEAF));
    assert!(b.0.outcome.assets[0].locked.is_zero());
    // Register A: the leader adopts it.
    let sigs = complete(&net, &a.0, a.1.clone());
    net.client
        .challenge(attacker, &params, &a.0, &sigs, None)
        .await
        .expect("challenge A");
    steps_silent(&mut net, 5).await;
    assert_eq!(
        net.node(0)
            .channel(&id)
            .and_then(|c| c.supported())
            .map(|s| s.version()),
        Some(2)
    );
    assert!(net.node(0).table(&id).expect("t").contains(&l1));
    // Checkpoint with B: the leader adopts B, with its table (no L1), and runs on.
    let sigs = complete(&net, &b.0, b.1.clone());
    net.client
        .checkpoint(attacker, &params, &b.0, &sigs)
        .await
        .expect("checkpoint B");
    steps_silent(&mut net, 5).await;
    assert_eq!(phase(&net, 0, id), Some(Phase::Running));
    assert_eq!(
        net.node(0)
            .channel(&id)
            .and_then(|c| c.supported())
            .map(|s| &s.state),
        Some(&b.0),
        "the leader adopted the checkpointed B"
    );
    assert!(!net.node(0).table(&id).expect("t").contains(&l1));
    // A new proposal C, built on B, adds L2; rejected.
    add_own_leaf(&mut net, id, l2, LEAF2);
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let c = get(&hoard, 4);
    assert_eq!(
        c.0.outcome.assets[0].locked,
        U256::from(LEAF2),
        "C is built on B: it holds L2 only"
    );
    let sigs = complete(&net, &c.0, c.1.clone());
    net.client
        .challenge(attacker, &params, &c.0, &sigs, None)
        .await
        .expect("challenge C");
    steps_silent(&mut net, 10).await;
    after_window(&mut net, 60).await;
    let ch = net.node(0).channel(&id).expect("ch").clone();
    let fin = ch.finalized_state().expect("finalized").clone();
    assert_eq!(fin, c.0, "the ledger finalized with C");
    let table = net.node(0).table(&id).expect("table");
    assert_eq!(
        table.root(),
        fin.outcome.subRoot,
        "the node's table is the finalized one"
    );
    assert!(
        table.contains(&l2),
        "the leaf the honest party funded is in its table"
    );
    assert!(!table.contains(&l1));
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(LEAF2), "L2 waits for its claim");
}

/// S14 (the follower's post-fund, completed by the peer; "nothing stays locked forever"), at no cost to the
/// attacker. The attacker opens a channel putting in the least it can (`[1, DEPOSIT]`: an opener that puts nothing in
/// is refused since issue 13) and deposits it; the honest follower deposits
/// `DEPOSIT`, signs the post-fund (v1) and sends it. The attacker never sends its own post-fund signature: it
/// countersigns v1 itself and `checkpoint`s it. Before the fix the follower ignored `Checkpointed` (no dispute was
/// pending) and kept the pre-fund (v0): its challenge with v0 was refused (`StaleVersion(0, 1)`) and, holding no
/// state >= v1 signed by the attacker, it could not get its `DEPOSIT` out. Now it adopts the checkpointed post-fund
/// (its version is newer than its own): its challenge with v1 lands and it is paid its whole deposit.
#[tokio::test]
async fn s14_a_post_fund_the_peer_checkpoints_is_adopted_and_the_follower_paid() {
    let mut net = LedgerNet::in_memory(2, config(), 51).await.expect("net");
    let adjudicator = net.chain.adjudicator();
    let attacker = net.address(0);
    let victim = net.address(1);
    let id = net
        .node(0)
        .open(
            victim,
            &[(ETH, [U256::from(1), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    let params = channel_params(&mut net, id);
    // The open reaches the follower; from then on the attacker drives by hand (its own node is gone).
    net.divert_to = Some(0);
    net.step().await.expect("step");
    net.crash(0);
    net.client
        .deposit(attacker, ETH, id, 0, U256::ZERO, U256::from(1))
        .await
        .expect("the attacker's deposit");
    let mut follower_postfund = None;
    for _ in 0..50 {
        net.step().await.expect("step");
        for m in std::mem::take(&mut net.diverted) {
            if let LedgerMessage::Sign {
                version: 1, sig, ..
            } = m.msg
            {
                follower_postfund = Some(sig);
            }
        }
        if follower_postfund.is_some() {
            break;
        }
    }
    let follower_sig = follower_postfund.expect("the follower deposited and signed the post-fund");
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(DEPOSIT + 1), "both deposits are in");
    let pre = net
        .node(1)
        .channel(&id)
        .and_then(|c| c.supported())
        .expect("pre-fund")
        .state
        .clone();
    let mut post = pre.clone();
    post.version = ferry_ledger::state::version(1).expect("v1");
    let ctx = *net.node(1).context();
    let mine = net.parties[0].signer.sign_state(&ctx, &post);
    net.client
        .checkpoint(attacker, &params, &post, &[mine, follower_sig])
        .await
        .expect("checkpoint the post-fund");
    for _ in 0..3 {
        steps_silent(&mut net, 200).await;
        net.advance_chain_time(WINDOW + 1).await.expect("time");
    }
    assert_eq!(
        net.node(1)
            .channel(&id)
            .and_then(|c| c.supported())
            .map(|s| &s.state),
        Some(&post),
        "the follower adopted the checkpointed post-fund"
    );
    net.node(1).challenge(id).expect("challenge asked");
    steps_silent(&mut net, 20).await;
    after_window(&mut net, 100).await;
    assert_eq!(
        failed(&net, "challenge"),
        0,
        "the follower's challenge is not refused: {:?}",
        net.failed
    );
    assert!(landed(&net, "challenge") >= 1, "{:?}", net.landed);
    assert_eq!(phase(&net, 1, id), Some(Phase::Closed));
    assert_eq!(
        paid_to(&net, 1, victim),
        U256::from(DEPOSIT),
        "the honest follower gets its whole deposit back"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO, "nothing stays locked in the adjudicator");
}
