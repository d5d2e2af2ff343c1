//! Defences the reviewer found in place (S14): the attacks that did not work, kept as regressions.

use crate::common::*;
use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{LedgerMessage, Phase};

/// S14 (a proposal in flight forgotten when an older refused one is adopted). The leader pays 1 (A, v2), the
/// attacker rejects; the leader adds a leaf (P, v3, locks `LEAF`) and the attacker keeps P unanswered. The attacker
/// challenges with A (adopted), then replaces the challenge with P completed by itself (v3 > v2). Before the fix
/// (9ccbc76), adopting A dropped the pending P (taken out of `pending`, pushed nowhere): P was neither pending nor
/// refused, so the leader did not adopt it, and the ledger finalized with P, whose `subRoot` held the leaf, while
/// the leader's table did not: the `LEAF` it funded was unclaimable. Now P joins the refused proposals, is adopted
/// when registered, and the table is the finalized one.
#[tokio::test]
async fn s14_adopting_a_refused_proposal_keeps_the_one_in_flight() {
    const LEAF: u64 = 300_000;
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        attacker,
        ..
    } = attacked_channel(61).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let mut hoard = Vec::new();
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    steps_rejecting(&mut net, id, &mut hoard, 3).await;
    let a = hoard.first().cloned().expect("A");
    assert_eq!(a.0.version.to::<u64>(), 2);
    // P: a leaf, held unanswered.
    let vid = B256::repeat_byte(0x79);
    add_own_leaf(&mut net, id, vid, LEAF);
    let p = last_proposal(&mut net, 3).await.expect("P proposed");
    assert_eq!(p.0.version.to::<u64>(), 3);
    assert_eq!(p.0.outcome.assets[0].locked, U256::from(LEAF));
    // Register A, then P.
    let sigs = complete(&net, &a.0, a.1.clone());
    net.client
        .challenge(attacker, &params, &a.0, &sigs, None)
        .await
        .expect("challenge A");
    steps_silent(&mut net, 5).await;
    assert!(
        net.node(0)
            .channel(&id)
            .expect("ch")
            .signed_states()
            .iter()
            .any(|s| **s == p.0),
        "P, signed and sent, is still among the states the leader holds"
    );
    let sigs = complete(&net, &p.0, p.1.clone());
    net.client
        .challenge(attacker, &params, &p.0, &sigs, None)
        .await
        .expect("challenge P");
    steps_silent(&mut net, 10).await;
    after_window(&mut net, 60).await;
    let ch = net.node(0).channel(&id).expect("ch").clone();
    let fin = ch.finalized_state().expect("finalized").clone();
    assert_eq!(fin, p.0, "the ledger finalized with P");
    let table = net.node(0).table(&id).expect("table");
    assert_eq!(
        table.root(),
        fin.outcome.subRoot,
        "the table is the finalized one"
    );
    assert!(
        table.contains(&vid),
        "the leaf the leader funded is in its table, claimable"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(LEAF), "the leaf waits for its claim");
}

/// S14 (two refused proposals registered in sequence, with a crash between them). A (v2) adds leaf L1, B (v3, built
/// on v1) adds leaf L2; both rejected. The attacker registers A (adopted with L1), the leader crashes and restarts
/// from its store, the attacker replaces the challenge with B. The reviewer tried to leave the leader's table with L1
/// (the undo of A's change lost at the restart) and found it defended: the leader rebuilds the table of B from the
/// state supported before any adoption (what it persisted), so its table is the finalized one, L2 only.
#[tokio::test]
async fn s14_two_refused_proposals_registered_in_sequence_across_a_restart_leave_the_finalized_table()
 {
    const LEAF: u64 = 200_000;
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        attacker,
        ..
    } = attacked_channel(81).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let mut hoard = Vec::new();
    for b in [0x11u8, 0x22] {
        add_own_leaf(&mut net, id, B256::repeat_byte(b), LEAF);
        steps_rejecting(&mut net, id, &mut hoard, 5).await;
    }
    let get = |v: u64| {
        hoard
            .iter()
            .find(|(s, _)| s.version.to::<u64>() == v)
            .cloned()
            .expect("proposal")
    };
    let (a, b) = (get(2), get(3));
    let sigs = complete(&net, &a.0, a.1.clone());
    net.client
        .challenge(attacker, &params, &a.0, &sigs, None)
        .await
        .expect("challenge A");
    steps_silent(&mut net, 5).await;
    assert!(
        net.node(0)
            .table(&id)
            .expect("t")
            .contains(&B256::repeat_byte(0x11))
    );
    net.crash(0);
    net.restart(0).expect("restart");
    net.node(0).set_guard(Box::new(AcceptAll));
    let sigs = complete(&net, &b.0, b.1.clone());
    net.client
        .challenge(attacker, &params, &b.0, &sigs, None)
        .await
        .expect("challenge B");
    steps_silent(&mut net, 10).await;
    after_window(&mut net, 60).await;
    let ch = net.node(0).channel(&id).expect("ch").clone();
    let fin = ch.finalized_state().expect("finalized").clone();
    assert_eq!(fin, b.0);
    let table = net.node(0).table(&id).expect("table");
    assert_eq!(
        table.root(),
        fin.outcome.subRoot,
        "the table is the finalized one"
    );
    assert!(table.contains(&B256::repeat_byte(0x22)));
    assert!(!table.contains(&B256::repeat_byte(0x11)));
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(LEAF), "only L2 waits for its claim");
}

/// S14 (one state per version): a malicious leader reusing a version. The honest follower countersigned v2; the
/// attacker proposes another v2 (more to itself), then a v1. The reviewer tried to get a second signature for a
/// version and found it defended: each is refused with a typed error and the follower signs nothing.
#[tokio::test]
async fn s14_a_leader_reusing_a_version_gets_no_second_signature() {
    let (mut net, id) = running_channel(1, 91).await;
    let attacker = net.address(0);
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(5), now).expect("pay");
    let done = net
        .run_until(50, |n| {
            n.parties[1]
                .node
                .as_ref()
                .and_then(|x| x.channel(&id))
                .and_then(|c| c.supported())
                .is_some_and(|s| s.version() == 2)
        })
        .await
        .expect("run");
    assert!(done);
    let v2 = net
        .node(1)
        .channel(&id)
        .and_then(|c| c.supported())
        .expect("v2")
        .state
        .clone();
    let ctx = *net.node(1).context();
    let mut forged = v2.clone();
    forged.outcome.assets[0].balances[0] += U256::from(1_000);
    forged.outcome.assets[0].balances[1] -= U256::from(1_000);
    let mut v1 = forged.clone();
    v1.version = ferry_ledger::state::version(1).expect("v1");
    for state in [forged, v1] {
        let sig = net.parties[0].signer.sign_state(&ctx, &state);
        let now = net.now;
        let r = net.node(1).handle_message(
            attacker,
            LedgerMessage::Propose {
                state,
                sig,
                batch: vec![ferry_ledger::protocol::Proposal {
                    proposer: 1,
                    seq: 99,
                    op: ferry_ledger::protocol::Op::Pay {
                        from: 1,
                        asset: ETH,
                        amount: U256::from(1_000),
                    },
                }],
            },
            now,
        );
        assert!(r.is_err(), "refused: {r:?}");
        while let Some((_, m)) = net.node(1).poll_transmit() {
            assert!(
                !matches!(m, LedgerMessage::Sign { .. }),
                "no signature for a reused version: {m:?}"
            );
        }
    }
    assert_eq!(net.node(1).channel(&id).expect("ch").signed_up_to(), 2);
}

/// S14/S12 (a withdrawal in a refused proposal taken on-chain). The attacker (follower) asks for a partial
/// withdrawal, rejects the leader's proposal that holds it, completes that refused proposal, takes the withdrawal
/// with `withdrawPartial` and goes silent. The reviewer tried to be paid twice (the withdrawal, then its v1 balance)
/// and found it defended: the leader challenges with v1 and withdraws, and the adjudicator nets the attacker's
/// on-chain withdrawal out of its v1 payout, so the honest leader is paid its whole `DEPOSIT`.
#[tokio::test]
async fn s14_a_partial_withdrawal_taken_from_a_refused_proposal_is_netted_out_of_the_payout() {
    use ferry_ledger::protocol::{Op, Proposal};
    const W: u64 = 600_000;
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        honest,
        attacker,
    } = attacked_channel(101).await;
    let now = net.now;
    net.node(0)
        .handle_message(
            attacker,
            LedgerMessage::Request {
                channel_id: id,
                proposals: vec![Proposal {
                    proposer: 1,
                    seq: 1,
                    op: Op::Withdraw {
                        participant: 1,
                        asset: ETH,
                        amount: U256::from(W),
                    },
                }],
            },
            now,
        )
        .expect("request");
    let mut hoard = Vec::new();
    steps_rejecting(&mut net, id, &mut hoard, 3).await;
    let (a, sig) = hoard.first().cloned().expect("A");
    assert_eq!(a.outcome.assets[0].withdrawn[1], U256::from(W));
    let sigs = complete(&net, &a, sig);
    net.client
        .withdraw_partial(attacker, &params, &a, &sigs, 1)
        .await
        .expect("withdrawPartial with the abandoned proposal");
    steps_silent(&mut net, 300).await;
    after_window(&mut net, 100).await;
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    let to_honest = paid_to(&net, 0, honest);
    assert_eq!(
        to_honest,
        U256::from(DEPOSIT),
        "the honest leader gets all of its deposit"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO);
}
