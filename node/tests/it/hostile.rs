//! Strangers against a real `ferry node` hub on anvil (SECURITY.md, "What a hub exposes to strangers"): hostile
//! clients, each a QUIC peer with a key of its own, send forged ledger opens (no asset, nothing of the opener's,
//! valid but never funded, past the per-key cap) and a flood of messages about channels the hub does not have,
//! while an honest pair opens a virtual channel through the hub, pays in it and settles. The hub spends no gas on
//! the strangers, forgets their opens, disconnects the flooder, keeps its memory, and serves the honest users.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_node::adjudicator::Chain;
use ferry_node::ledger::protocol::LedgerMessage;
use ferry_node::ledger::store::MemoryStore;
use ferry_node::ledger::{ChainContext, Signer, channel};
use ferry_node::rpc::FerryApiClient;
use ferry_node::transport::{Identity, Transport, TransportConfig};
use ferry_virtual::protocol::{Message, VirtualPhase};

use super::processes::{ETH, WEI, World, introduce, open_req, phase_at_least};

/// A hostile peer on loopback address `127.0.0.<ip>`: a transport of its own with a fresh key, knowing where the
/// hub listens.
async fn stranger(ip: u8, hub: Address, at: &str) -> (Signer, Transport) {
    let key = Signer::random();
    let (t, _inbound) = Transport::start(
        TransportConfig {
            listen: SocketAddr::new(IpAddr::from([127, 0, 0, ip]), 0),
            ..TransportConfig::default()
        },
        Identity::ephemeral(key.clone()).unwrap(),
        MemoryStore::new(),
    )
    .await
    .unwrap();
    t.add_peer(hub, at.parse().unwrap());
    (key, t)
}

/// A ledger `Open` from `key` to `hub` with these deposits per asset (`[opener's, hub's]`), signed by `key`.
fn open(
    ctx: &ChainContext,
    key: &Signer,
    hub: Address,
    assets: &[(Address, [u128; 2])],
) -> Message {
    let params = channel::ledger_params(ctx, key.address(), hub, 60);
    let assets = assets
        .iter()
        .map(|(a, [x, y])| channel::funded_asset(*a, vec![U256::from(*x), U256::from(*y)]))
        .collect();
    let prefund = channel::state(&params, 0, assets, Bytes::new(), false);
    let sig = key.sign_state(ctx, &prefund);
    Message::Ledger(LedgerMessage::Open {
        params,
        prefund,
        sig,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_a_hub_under_hostile_peers_spends_no_gas_on_them_and_serves_its_users() {
    let w = World::new().await;
    // The hub forgets an unfunded open after 5 s (an hour by default).
    let i = w.start_with("ingrid", 2, "funding_timeout_ms = 5000");
    let a = w.start("alice", 1);
    let b = w.start("bob", 3);
    introduce(&[&a, &i, &b]).await;
    let ctx = ChainContext {
        chain_id: 31337,
        adjudicator: w.chain.adjudicator(),
    };
    let hub_eth = w.balance(i.address).await;
    let rss_before = i.rss();

    // Twenty strangers, each: an open with no asset, one where it deposits nothing, then six valid opens it never
    // funds (the hub takes four: its per-key cap).
    let mut strangers = Vec::new();
    for k in 0..20u8 {
        let (key, t) = stranger(10 + k, i.address, &i.quic).await;
        let mut msgs = vec![
            open(&ctx, &key, i.address, &[]),
            open(&ctx, &key, i.address, &[(ETH, [0, WEI])]),
        ];
        for _ in 0..6 {
            msgs.push(open(&ctx, &key, i.address, &[(ETH, [1, WEI])]));
        }
        t.send_batch(msgs.into_iter().map(|m| (i.address, m)).collect())
            .unwrap();
        strangers.push((key, t));
    }
    // A flooder: 2,000 messages about channels the hub does not have (its budget is 1,000 a minute).
    let (flooder, ft) = stranger(9, i.address, &i.quic).await;
    let sig = flooder.sign_state(
        &ctx,
        &channel::state(
            &channel::ledger_params(&ctx, flooder.address(), i.address, 60),
            0,
            vec![],
            Bytes::new(),
            false,
        ),
    );
    let junk: Vec<_> = (0..2_000u64)
        .map(|k| {
            Message::Ledger(LedgerMessage::Sign {
                channel_id: B256::from(U256::from(k + 1)),
                version: 1,
                sig: sig.clone(),
                have_yours: false,
            })
        })
        .collect();
    ft.send_batch(junk.into_iter().map(|m| (i.address, m)).collect())
        .unwrap();

    // The hub holds four opens of each stranger (until its funding timeout).
    i.wait("the strangers' opens held", |s| s.ledgers.len() >= 20 * 4)
        .await;

    // Meanwhile, the honest users: ledgers, a virtual channel through the hub, payments, a settle.
    let hops = w.ledgers(&a, &i, &b).await;
    let v = a
        .api
        .open_virtual(open_req(&a, &i, &b, hops, WEI))
        .await
        .unwrap();
    for n in [&a, &i, &b] {
        n.wait("V to open", |s| phase_at_least(s, &v, VirtualPhase::Open))
            .await;
    }
    for _ in 0..50 {
        a.api.pay(v, ETH, U256::from(1_000u64)).await.unwrap();
    }
    b.wait("Bob to count the payments", |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.balances[0].theirs == U256::from(50_000u64))
    })
    .await;
    a.api.settle(v).await.unwrap();
    for n in [&a, &i, &b] {
        n.wait("V released", |s| {
            phase_at_least(s, &v, VirtualPhase::Released)
        })
        .await;
    }

    // The strangers' opens reached the hub: four per key held, the rest refused by name.
    let s = i
        .wait("the strangers' opens handled", |s| {
            s.stats.refused >= 20 * 4 + 1_000 && s.stats.refusal_disconnects >= 1
        })
        .await;
    assert!(
        s.stats.refusal_disconnects >= 1,
        "the flooder was disconnected"
    );
    // After the funding timeout every stranger's open is forgotten; only the two honest ledgers remain.
    let s = i
        .wait("the strangers' opens forgotten", |s| s.ledgers.len() == 2)
        .await;
    for l in &s.ledgers {
        assert!(l.peer == a.address || l.peer == b.address, "{l:?}");
    }
    // The hub's only transactions are its two deposits into the honest ledgers: none for a stranger.
    assert_eq!(s.stats.txs_landed, 2, "{:?}", s.stats);
    let spent = hub_eth - w.balance(i.address).await;
    let deposits = U256::from(20 * WEI);
    assert!(
        spent >= deposits
            && spent - deposits <= U256::from(s.stats.gas_used) * U256::from(10_000_000_000u64),
        "the hub paid its two deposits and their gas, nothing else: {spent}"
    );
    // Its memory grew by the honest work only (far below what the strangers could pin before).
    let grown = i.rss().saturating_sub(rss_before);
    assert!(grown < 64 << 20, "the hub grew by {} MiB", grown >> 20);
    println!(
        "hostile peers: hub refused {} messages, disconnected {} peer(s), {} txs ({} gas), RSS +{} KiB",
        s.stats.refused,
        s.stats.refusal_disconnects,
        s.stats.txs_landed,
        s.stats.gas_used,
        grown >> 10
    );
    drop(strangers);
}
