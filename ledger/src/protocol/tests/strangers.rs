//! S16 for strangers: nobody makes a node spend gas, lock funds or keep memory for a channel it has nothing in.
//! Opens that put nothing in are refused by name, a peer's unfunded opens are capped, an abandoned open is forgotten
//! with its messages, and a node sends no transaction for a channel holding nothing of its own.

use super::*;
use crate::protocol::{NS_CHANNELS, OpenRefusal};
use crate::store::Store;

/// A stranger's `Open` to node 1 with these deposits per asset (`[opener's, node 1's]`), signed by the stranger.
fn stranger_open(p: &Pair, stranger: &Signer, assets: &[(Address, [u64; 2])]) -> LedgerMessage {
    let params = crate::channel::ledger_params(&ctx(), stranger.address(), p.addr(1), 3600);
    let assets = assets
        .iter()
        .map(|(a, [x, y])| crate::channel::funded_asset(*a, vec![U256::from(*x), U256::from(*y)]))
        .collect();
    let prefund = crate::channel::state(&params, 0, assets, Default::default(), false);
    let sig = stranger.sign_state(&ctx(), &prefund);
    LedgerMessage::Open {
        params,
        prefund,
        sig,
    }
}

fn refusal(r: crate::Result<()>) -> Option<OpenRefusal> {
    match r {
        Err(Error::Protocol(ProtocolError::OpenRefused(why))) => Some(why),
        _ => None,
    }
}

#[test]
fn s16_an_open_that_puts_nothing_in_is_refused_by_name() {
    let mut p = Pair::new();
    let stranger = Signer::random();
    let token = Address::repeat_byte(0x70);
    let cases = [
        (vec![], OpenRefusal::NoAssets),
        (
            vec![(ETH, [0, 0])],
            OpenRefusal::OpenerDepositsNothing { asset: ETH },
        ),
        (
            vec![(ETH, [0, 500])],
            OpenRefusal::OpenerDepositsNothing { asset: ETH },
        ),
    ];
    for (assets, why) in cases {
        let open = stranger_open(&p, &stranger, &assets);
        let r = p.node(1).handle_message(stranger.address(), open, 0);
        assert_eq!(refusal(r), Some(why));
    }
    // Something of one asset does not buy this node's deposit of another.
    let mut tokens = config();
    tokens.open.tokens = vec![token];
    let mut node =
        LedgerNode::open_store(p.keys[1].clone(), ctx(), tokens, MemoryStore::new(), 0).unwrap();
    let open = stranger_open(&p, &stranger, &[(ETH, [10, 0]), (token, [0, 500])]);
    assert_eq!(
        refusal(node.handle_message(stranger.address(), open, 0)),
        Some(OpenRefusal::OpenerDepositsNothing { asset: token })
    );
    assert_eq!(p.node(1).channels().count(), 0);
    assert!(p.node(1).poll_transmit().is_none());
    assert!(p.node(1).store().scan(NS_CHANNELS, &[]).unwrap().is_empty());
}

#[test]
fn s16_a_peer_keeps_at_most_max_pending_opens_and_abandoned_ones_are_forgotten_without_gas() {
    let mut p = Pair::new();
    let stranger = Signer::random();
    let limit = config().open.max_pending_per_peer;
    for _ in 0..limit {
        let open = stranger_open(&p, &stranger, &[(ETH, [1, 500])]);
        p.node(1)
            .handle_message(stranger.address(), open, 0)
            .unwrap();
    }
    let open = stranger_open(&p, &stranger, &[(ETH, [1, 500])]);
    assert_eq!(
        refusal(p.node(1).handle_message(stranger.address(), open, 0)),
        Some(OpenRefusal::TooManyPending { limit })
    );
    // Another key is another peer (the transport bounds what one address costs).
    let other = Signer::random();
    let open = stranger_open(&p, &other, &[(ETH, [1, 500])]);
    p.node(1).handle_message(other.address(), open, 0).unwrap();
    p.drain(1);
    assert!(p.txs[1].is_empty(), "node 1 deposits only after the opener");
    // The openers never deposit: at the funding timeout every open is forgotten, record and messages, and no
    // transaction was ever asked for.
    let timeout = config().funding_timeout_ms;
    p.node(1).handle_timeout(timeout + 1).unwrap();
    p.drain(1);
    assert_eq!(p.node(1).channels().count(), 0);
    assert!(p.node(1).store().scan(NS_CHANNELS, &[]).unwrap().is_empty());
    assert!(p.txs[1].is_empty(), "{:?}", p.txs[1]);
    let failed = p.events[1]
        .iter()
        .filter(|e| matches!(e, LedgerEvent::OpenFailed { .. }))
        .count();
    assert_eq!(failed, limit + 1);
    // Nothing is left of either peer: a runtime may drop what it still queues for them.
    for peer in [stranger.address(), other.address()] {
        assert!(p.events[1].contains(&LedgerEvent::PeerForgotten { peer }));
    }
    // The stranger may open again.
    let open = stranger_open(&p, &stranger, &[(ETH, [1, 500])]);
    p.node(1)
        .handle_message(stranger.address(), open, timeout + 2)
        .unwrap();
}

#[test]
fn s16_an_open_the_peer_never_countersigns_is_forgotten() {
    let mut p = Pair::new();
    let b = p.addr(1);
    let id = p
        .node(0)
        .open(b, &[(ETH, [U256::from(100), U256::ZERO])], 3600, 0)
        .unwrap();
    p.drain(0);
    p.held.clear();
    p.node(0)
        .handle_timeout(config().peer_timeout_ms + 1)
        .unwrap();
    p.drain(0);
    assert!(p.node(0).channel(&id).is_none());
    assert!(p.node(0).store().scan(NS_CHANNELS, &[]).unwrap().is_empty());
    assert!(p.events[0].contains(&LedgerEvent::OpenFailed {
        channel_id: id,
        reason: "the peer never countersigned the pre-fund state".into(),
    }));
    assert!(p.txs[0].is_empty());
}

#[test]
fn s16_a_node_sends_no_transaction_for_a_channel_holding_nothing_of_its_own() {
    let mut p = Pair::new();
    let b = p.addr(1);
    // Node 0 puts 100 in, node 1 nothing: node 1 has nothing at stake.
    let id = p
        .node(0)
        .open(b, &[(ETH, [U256::from(100), U256::ZERO])], 3600, 0)
        .unwrap();
    p.pump();
    p.deposit(id, 0, 100);
    p.pump();
    assert_eq!(p.phase(1, id), Phase::Running);
    p.txs = [vec![], vec![]];
    // Asked by its user or by a silent peer, node 1 challenges nothing.
    assert!(matches!(
        p.node(1).challenge(id),
        Err(Error::Protocol(ProtocolError::NothingAtStake))
    ));
    // Node 0 closes; node 1 countersigns the final but leaves the closing transaction to node 0 whatever the
    // grace period: it has nothing to withdraw.
    p.node(0).close(id, 0).unwrap();
    p.drain(0);
    p.txs[0].clear();
    p.held.retain(|(from, _)| *from == 0);
    let held = std::mem::take(&mut p.held);
    for (_, m) in held {
        let a = p.addr(0);
        p.node(1).handle_message(a, m, 0).unwrap();
    }
    p.node(1)
        .handle_timeout(config().grace_ms + config().peer_timeout_ms + 1)
        .unwrap();
    p.drain(1);
    assert!(p.txs[1].is_empty(), "{:?}", p.txs[1]);
}

#[test]
fn s16_a_node_whose_only_funds_are_its_own_top_up_still_takes_the_channel_on_chain() {
    let mut p = Pair::new();
    let b = p.addr(1);
    let id = p
        .node(0)
        .open(b, &[(ETH, [U256::from(100), U256::ZERO])], 3600, 0)
        .unwrap();
    p.pump();
    p.deposit(id, 0, 100);
    p.pump();
    // Node 1 tops up 50; the chain takes it, and the peer never counts it in a state.
    p.node(1).top_up(id, ETH, U256::from(50)).unwrap();
    p.drain(1);
    p.held.clear();
    p.deposit(id, 1, 50);
    p.drain(1);
    p.held.clear();
    p.txs = [vec![], vec![]];
    // The signed state gives node 1 nothing, but its own 50 are on-chain: it may take the channel on-chain.
    p.node(1).challenge(id).unwrap();
    p.drain(1);
    assert!(
        p.txs[1]
            .iter()
            .any(|t| matches!(t, ChainTx::Challenge { .. })),
        "{:?}",
        p.txs[1]
    );
}

#[test]
fn s16_strangers_together_keep_at_most_max_pending_total_opens() {
    let mut p = Pair::new();
    let mut cfg = config();
    cfg.open.max_pending_total = 6;
    p.n[1] =
        Some(LedgerNode::open_store(p.keys[1].clone(), ctx(), cfg, MemoryStore::new(), 0).unwrap());
    // Six keys, one open each: each under its own cap, together at the node's.
    let keys: Vec<Signer> = (0..6).map(|_| Signer::random()).collect();
    for k in &keys {
        let open = stranger_open(&p, k, &[(ETH, [1, 500])]);
        p.node(1).handle_message(k.address(), open, 0).unwrap();
    }
    let late = Signer::random();
    let open = stranger_open(&p, &late, &[(ETH, [1, 500])]);
    assert_eq!(
        refusal(p.node(1).handle_message(late.address(), open, 0)),
        Some(OpenRefusal::TooManyPendingInAll { limit: 6 })
    );
    assert_eq!(p.node(1).channels().count(), 6);
    // The node's own opens do not count against it.
    let a = p.addr(0);
    let own = p
        .node(1)
        .open(a, &[(ETH, [U256::from(10), U256::ZERO])], 3600, 0);
    assert!(own.is_ok(), "{own:?}");
    // Once the unfunded opens are forgotten, opens are taken again.
    let timeout = config().funding_timeout_ms;
    p.node(1).handle_timeout(timeout + 1).unwrap();
    p.drain(1);
    let open = stranger_open(&p, &late, &[(ETH, [1, 500])]);
    p.node(1)
        .handle_message(late.address(), open, timeout + 2)
        .unwrap();
}
