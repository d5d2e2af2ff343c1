//! Members that crash and restart from their stores (synthetic chain): mid-open and mid-settle, after V was
//! concluded on-chain, after a released V was pruned.

use alloy::primitives::{B256, U256};
use ferry_simulations::virtual_net::{
    DEFAULT_DEPOSIT as DEPOSIT, ETH, OpenV, VirtualNet, challenge_registered, concluded,
};
use ferry_virtual::protocol::{Message, VirtualMessage, VirtualPhase};

#[test]
fn members_crashing_mid_open_and_mid_settle_resume_from_their_stores() {
    let mut net = VirtualNet::path(4);
    let v = net.open_payment(50, 20);
    // I1 joins, then crashes before anything it sent arrives.
    net.step(|_, _| false);
    assert!(net.node(1).channel(&v).is_some());
    net.crash_restart(1);
    assert!(
        net.node(1).channel(&v).is_some(),
        "the join survived the crash"
    );
    net.pump();
    for i in 0..4 {
        assert_eq!(
            net.node(i).channel(&v).unwrap().phase(),
            VirtualPhase::Open,
            "member {i}"
        );
    }
    net.node_mut(0).pay(v, ETH, U256::from(7)).unwrap();
    net.pump();
    // B crashes after receiving the payment; the voucher it kept survives.
    net.crash_restart(3);
    assert_eq!(net.node(3).channel(&v).unwrap().balance(0), U256::from(27));
    // A settles; I2 crashes right after countersigning, its messages lost.
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    for _ in 0..3 {
        net.step(|from, _| from == 2);
        if net.node(2).channel(&v).unwrap().phase() != VirtualPhase::Open {
            break;
        }
    }
    net.crash_restart(2);
    net.pump();
    for i in 0..4 {
        assert_eq!(
            net.node(i).channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
    for hop in 0..3 {
        assert_eq!(net.balance(hop, hop), U256::from(DEPOSIT - 7));
        assert_eq!(net.balance(hop + 1, hop), U256::from(DEPOSIT + 7));
    }
}

#[test]
fn a_released_virtual_channel_is_pruned_after_the_retention_period_and_late_messages_about_it_are_refused()
 {
    const RETAIN_MS: u64 = 60_000;
    let mut net = VirtualNet::path(3);
    for k in 0..3 {
        net.set_release_retention(k, RETAIN_MS);
    }
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).pay(v, ETH, U256::from(5)).unwrap();
    net.pump();
    // A late copy of the pre-fund's gossip (with V's params): to a node that never heard of V it is an open.
    let ch = net.node(0).channel(&v).unwrap();
    let pre = ch.prefund_signed().unwrap();
    let late = Message::Virtual(VirtualMessage::Sigs {
        params: Some(Box::new(ch.params().clone())),
        state: pre.state.clone(),
        sigs: pre.sigs.iter().cloned().map(Some).collect(),
        fees: ch.fees().to_vec(),
    });
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    for k in 0..3 {
        assert_eq!(
            net.node(k).channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {k}"
        );
        assert!(
            net.node(k).poll_timeout().is_some(),
            "member {k}: a prune is due"
        );
    }
    // Within the retention period the record stays.
    net.set_now(net.now() + RETAIN_MS - 1_000);
    net.fire_timers();
    assert!((0..3).all(|k| net.node(k).channel(&v).is_some()));
    // After it, each member prunes V: gone from memory and from the store (a restart does not bring it back),
    // its id kept as a tombstone.
    net.set_now(net.now() + 2_000);
    net.fire_timers();
    for k in 0..3 {
        assert!(net.node(k).channel(&v).is_none(), "member {k}");
        assert!(net.node(k).is_pruned(&v), "member {k}");
    }
    net.crash_restart(1);
    assert!(net.node(1).channel(&v).is_none());
    assert!(net.node(1).is_pruned(&v));
    // The late gossip is refused by name and re-opens nothing.
    let err = net.inject(0, 1, late).unwrap_err();
    assert!(err.to_string().contains("pruned"), "{err}");
    assert!(net.node(1).channel(&v).is_none());
    // The ledgers are untouched: V's payment stays where the settle put it.
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 5));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT + 5));
}

/// A–H–B with V (A 50, B 20), A paid 10, a state of V registered on-chain (A's certificate) and the final (A 40,
/// B 30) signed by the whole path; then V is concluded with the final on-chain. Returns V's id.
fn registered_then_concluded(net: &mut VirtualNet) -> B256 {
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    let cert = net.node(0).channel(&v).unwrap().certificate().unwrap();
    net.feed(
        0..3,
        &challenge_registered(v, 5_000, &cert.state, &cert.sigs),
    );
    net.node_mut(0).settle(v, 0).unwrap();
    net.pump();
    let fin = net.node(1).channel(&v).unwrap().final_signed().unwrap();
    net.feed(0..3, &concluded(v, fin.version()));
    v
}

#[test]
fn s10_a_restarted_member_still_pays_a_leaf_out_by_v_s_outcome_on_chain() {
    // The hub restarts right after V was concluded on-chain (no chain event about V comes again): its guard is
    // rebuilt from its record of V, so it still takes the leaf removals by V's outcome on-chain, in both ledgers.
    let mut net = VirtualNet::path(3);
    let v = registered_then_concluded(&mut net);
    net.crash_restart(1);
    net.pump();
    for hop in 0..2 {
        assert!(
            net.table(1, hop).unwrap().is_empty(),
            "ledger {hop} still holds V's leaf"
        );
    }
    assert_eq!(
        net.node(1).channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}
