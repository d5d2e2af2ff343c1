//! Virtual channels opened through 0 to 4 intermediaries (synthetic chain): zero on-chain transactions, vouchers both
//! ways, settle, every leaf paid out; fifty at once with batched ledger updates; members that are never online
//! together.

use alloy::primitives::U256;
use ferry_simulations::virtual_net::{DEFAULT_DEPOSIT as DEPOSIT, ETH, OpenV, VirtualNet};
use ferry_virtual::protocol::{VirtualError, VirtualEvent, VirtualPhase};

fn open_pay_settle(members: usize) {
    let mut net = VirtualNet::path(members);
    let last = members - 1;
    let v = net.open(OpenV::payment(50, 20)).unwrap();
    net.pump();
    assert!(net.refused().is_empty(), "{:?}", net.refused());
    for i in 0..members {
        let ch = net.node(i).channel(&v).unwrap();
        assert_eq!(ch.phase(), VirtualPhase::Open, "member {i}");
        assert!(ch.certificate().is_some());
    }
    for hop in 0..members - 1 {
        let t = net.table(hop, hop).unwrap();
        assert!(t.contains(&v), "ledger {hop} hosts V");
    }
    assert_eq!(net.tx_log().len(), 0, "opening V touches no chain");
    // Payments both ways.
    for _ in 0..3 {
        net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    }
    net.node_mut(last).pay(v, ETH, U256::from(5)).unwrap();
    net.pump();
    assert!(net.events(last).iter().any(
        |e| matches!(e, VirtualEvent::Paid { cumulative, .. } if *cumulative == U256::from(30))
    ));
    assert!(matches!(
        net.node_mut(0).pay(v, ETH, U256::from(1000)),
        Err(ferry_virtual::Error::Virtual(
            VirtualError::InsufficientFunds
        ))
    ));
    // B settles (it asks A to propose the final); everyone countersigns; every leaf is paid out.
    let now = net.now();
    net.node_mut(last).settle(v, now).unwrap();
    net.pump();
    assert!(net.refused().is_empty(), "{:?}", net.refused());
    for i in 0..members {
        assert_eq!(
            net.node(i).channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
    // A ends with 50 - 30 + 5 = 25 in V, B with 20 + 30 - 5 = 45: every ledger's A side gets 25, B side 45.
    for hop in 0..members - 1 {
        assert_eq!(
            net.balance(hop, hop),
            U256::from(DEPOSIT - 50 + 25),
            "A side of ledger {hop}"
        );
        assert_eq!(
            net.balance(hop + 1, hop),
            U256::from(DEPOSIT - 20 + 45),
            "B side of ledger {hop}"
        );
        assert!(net.table(hop, hop).unwrap().is_empty());
    }
    // Each intermediary breaks even across its two ledgers.
    for i in 1..last {
        assert_eq!(
            net.balance(i, i - 1) + net.balance(i, i),
            U256::from(2 * DEPOSIT)
        );
    }
    assert_eq!(net.tx_log().len(), 0, "settling V touches no chain");
}

#[test]
fn open_pay_settle_with_one_intermediary() {
    open_pay_settle(3);
}

#[test]
fn open_pay_settle_with_two_intermediaries() {
    open_pay_settle(4);
}

#[test]
fn open_pay_settle_with_four_intermediaries() {
    open_pay_settle(6);
}

#[test]
fn open_pay_settle_without_intermediary() {
    open_pay_settle(2);
}

#[test]
fn fifty_virtual_channels_open_and_settle_concurrently_with_batched_ledger_updates() {
    let mut net = VirtualNet::path(3);
    let mut vs = Vec::new();
    for _ in 0..50 {
        vs.push(net.open(OpenV::payment(1, 1)).unwrap());
    }
    let version = |net: &VirtualNet, h: usize| {
        net.node(h)
            .ledger()
            .channel(&net.hop(h))
            .unwrap()
            .supported()
            .unwrap()
            .version()
    };
    let before = [0, 1].map(|h| version(&net, h));
    net.pump();
    for v in &vs {
        assert_eq!(net.node(2).channel(v).unwrap().phase(), VirtualPhase::Open);
    }
    let after = [0, 1].map(|h| version(&net, h));
    for h in 0..2 {
        assert_eq!(net.table(h, h).unwrap().len(), 50);
        assert!(
            after[h] - before[h] < 50,
            "50 leaves in {} ledger updates: batched",
            after[h] - before[h]
        );
    }
    for v in &vs {
        net.node_mut(0).pay(*v, ETH, U256::from(1)).unwrap();
        let now = net.now();
        net.node_mut(0).settle(*v, now).unwrap();
    }
    net.pump();
    for h in 0..2 {
        assert!(net.table(h, h).unwrap().is_empty());
        assert_eq!(net.balance(h, h), U256::from(DEPOSIT - 50));
        assert_eq!(net.balance(h + 1, h), U256::from(DEPOSIT + 50));
    }
}

#[test]
fn members_need_not_be_online_together() {
    let mut net = VirtualNet::path(5);
    let v = net.open_payment(10, 10);
    // Members come online one at a time; while a member is away everything sent to it is lost.
    for online in [
        vec![0, 1],
        vec![1, 2],
        vec![2, 3],
        vec![3, 4],
        vec![4, 3, 2],
        vec![2, 1, 0],
    ] {
        for _ in 0..6 {
            net.step(|from, to| !(online.contains(&from) && online.contains(&to)));
        }
    }
    net.pump();
    for i in 0..5 {
        assert_eq!(
            net.node(i).channel(&v).unwrap().phase(),
            VirtualPhase::Open,
            "member {i}"
        );
    }
    net.node_mut(4).pay(v, ETH, U256::from(4)).unwrap();
    net.pump();
    let now = net.now();
    net.node_mut(4).settle(v, now).unwrap();
    net.pump();
    for i in 0..5 {
        assert_eq!(
            net.node(i).channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
}
