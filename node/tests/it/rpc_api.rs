//! The JSON-RPC API end to end: three nodes in one process, each serving its API; a ledger channel and a virtual
//! channel opened, paid and settled through HTTP calls only; events arrive over a WebSocket subscription; a wrong
//! or missing token is refused; a bad request gets a JSON-RPC error and changes nothing. Also `ferry demo`'s
//! report.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use ferry_node::adjudicator::{DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_node::ledger::Signer;
use ferry_node::ledger::store::RedbStore;
use ferry_node::rpc::{self, FerryApiClient, RpcServer};
use ferry_node::runtime::{MemoryNetwork, Node, NodeConfig, OpenVirtual};
use ferry_virtual::protocol::{AppKind, IntermediaryPolicy, VirtualPhase};
use jsonrpsee::core::client::SubscriptionClientT;

const ETH: Address = Address::ZERO;
const TOKEN: &str = "test-token-0123456789";

async fn wait<F: Fn(&ferry_node::runtime::NodeStatus) -> bool>(
    c: &jsonrpsee::http_client::HttpClient,
    f: F,
) -> ferry_node::runtime::NodeStatus {
    for _ in 0..400 {
        let s = c.status().await.unwrap();
        if f(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_api_drives_a_virtual_channel_and_streams_events() {
    let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
    let net = MemoryNetwork::new();
    let mut servers = vec![];
    let mut clients = vec![];
    let mut addrs = vec![];
    for i in 1..=3 {
        let signer = Signer::from_bytes(&EmbeddedChain::account_key(i)).unwrap();
        let mut c = NodeConfig::new(signer);
        c.ledger.open.max_own_deposit = U256::from(10_000u64);
        c.chain_poll = Duration::from_millis(20);
        if i == 2 {
            // The hub charges a routing fee.
            c.policy = IntermediaryPolicy {
                fee_flat: U256::from(5),
                ..IntermediaryPolicy::default()
            };
        }
        let (link, inbound) = net.join(c.signer.address());
        let node = Node::start(
            c,
            RedbStore::in_memory().unwrap(),
            chain.clone(),
            link,
            inbound,
        )
        .await
        .unwrap();
        addrs.push(node.address());
        let server = RpcServer::start(node, "127.0.0.1:0".parse().unwrap(), TOKEN, None)
            .await
            .unwrap();
        clients.push(rpc::http_client(&format!("http://{}", server.local_addr()), TOKEN).unwrap());
        servers.push(server);
    }
    let (a, i, b) = (&clients[0], &clients[1], &clients[2]);

    // Events of B over a WebSocket subscription.
    let ws = rpc::ws_client(&format!("ws://{}", servers[2].local_addr()), TOKEN)
        .await
        .unwrap();
    let mut events = ws
        .subscribe::<serde_json::Value, _>(
            "ferry_subscribe",
            jsonrpsee::rpc_params![],
            "ferry_unsubscribe",
        )
        .await
        .unwrap();

    // A wrong token and no token are refused at the HTTP layer.
    let wrong = rpc::http_client(
        &format!("http://{}", servers[0].local_addr()),
        "wrong-token-0123456789",
    )
    .unwrap();
    let err = wrong.status().await.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    assert!(
        rpc::ws_client(
            &format!("ws://{}", servers[0].local_addr()),
            "wrong-token-0123456789"
        )
        .await
        .is_err()
    );

    let amounts = vec![(ETH, [U256::from(1_000), U256::from(1_000)])];
    let ai = a
        .open_ledger(addrs[1], amounts.clone(), 3_600)
        .await
        .unwrap();
    let bi = b.open_ledger(addrs[1], amounts, 3_600).await.unwrap();
    wait(i, |s| {
        [ai, bi]
            .iter()
            .all(|id| s.ledger(id).is_some_and(|l| l.phase == "running"))
    })
    .await;
    wait(a, |s| s.ledger(&ai).is_some_and(|l| l.phase == "running")).await;
    wait(b, |s| s.ledger(&bi).is_some_and(|l| l.phase == "running")).await;

    // A bad request: an error, nothing changed.
    let err = a
        .open_virtual(OpenVirtual {
            path: vec![addrs[1], addrs[2]],
            hops: vec![ai],
            app: AppKind::Payment,
            balances: vec![(ETH, [U256::from(1), U256::ZERO])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the first endpoint"), "{err}");
    assert!(a.status().await.unwrap().virtuals.is_empty());

    let v = a
        .open_virtual(OpenVirtual {
            path: addrs.clone(),
            hops: vec![ai, bi],
            app: AppKind::Payment,
            balances: vec![(ETH, [U256::from(100), U256::ZERO])],
            fees: vec![U256::ZERO, U256::from(5), U256::ZERO],
            challenge_duration: 600,
        })
        .await
        .unwrap();
    wait(a, |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.phase == VirtualPhase::Open)
    })
    .await;
    for _ in 0..5 {
        a.pay(v, ETH, U256::from(7)).await.unwrap();
    }
    wait(b, |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.balances[0].theirs == U256::from(35))
    })
    .await;
    b.settle(v).await.unwrap();
    let s = wait(i, |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.phase == VirtualPhase::Released)
    })
    .await;
    assert_eq!(s.ledger(&bi).unwrap().balances[0].theirs, U256::from(1_035));
    // In its ledger with A the hub got what A paid B (35) and its fee (5).
    assert_eq!(s.ledger(&ai).unwrap().balances[0].mine, U256::from(1_040));

    // The hub's metrics, for its operator's Prometheus: its ledgers, its virtual channel, the fee it earned.
    let hub_api = servers[1].local_addr();
    let (code, text) = http_get(hub_api, "GET", "/metrics", Some(TOKEN)).await;
    assert!(code.contains("200"), "{code}: {text}");
    let eth = format!("{:#x}", Address::ZERO);
    for line in [
        "ferry_ledger_channels{phase=\"running\"} 2".to_string(),
        "ferry_virtual_channels{phase=\"released\",role=\"intermediary\"} 1".to_string(),
        format!("ferry_fees_earned{{asset=\"{eth}\"}} 5.0"),
        format!("ferry_ledger_locked{{asset=\"{eth}\"}} 0.0"),
        // 1,040 with A, 1,000 − 35 with B.
        format!("ferry_ledger_balance{{asset=\"{eth}\",side=\"mine\"}} 2005.0"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("ferry_peers_connected "))
    );
    assert!(text.ends_with("# EOF\n"));
    // Behind the same token, and read-only.
    let (code, _) = http_get(hub_api, "GET", "/metrics", None).await;
    assert!(code.contains("401"), "{code}");
    let (code, _) = http_get(hub_api, "POST", "/metrics", Some(TOKEN)).await;
    assert!(code.contains("405"), "{code}");

    // B's subscription saw the payments arrive.
    let mut paid = 0;
    while paid < 5 {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if ev.to_string().contains("Paid") {
            paid += 1;
        }
    }
    for s in servers {
        s.stop().await;
    }
}

/// A plain HTTP/1.1 request over TCP (the test needs no HTTP client): the status line and the body.
async fn http_get(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_api_refuses_short_tokens() {
    let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 2).unwrap());
    let net = MemoryNetwork::new();
    let c = NodeConfig::new(Signer::from_bytes(&EmbeddedChain::account_key(1)).unwrap());
    let (link, inbound) = net.join(c.signer.address());
    let node = Node::start(c, RedbStore::in_memory().unwrap(), chain, link, inbound)
        .await
        .unwrap();
    assert!(
        RpcServer::start(node, "127.0.0.1:0".parse().unwrap(), "short", None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_demo_report_adds_up() {
    let report = ferry_node::cli::demo::run(ferry_node::cli::demo::DemoOptions {
        payments: 50,
        rounds: 2,
        progress: false,
    })
    .await
    .unwrap();
    // Four deposits and two closes: nothing on-chain for the virtual channels.
    let names: Vec<&str> = report.onchain.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "deposit").count(),
        4,
        "{names:?}"
    );
    assert_eq!(names.len(), 6, "{names:?}");
    assert_eq!(
        report.gas_total,
        report.onchain.iter().map(|(_, g)| g).sum::<u64>()
    );
    assert!(report.offchain_messages >= 50);
    assert!(report.payments_per_second > 0.0 && report.open_latency_ms > 0.0);
    // Funds are conserved: what went in came out, moved by the payments and the game.
    let paid = 50 * 1_000_000_000_000_000_000u128 / 10_000;
    assert_eq!(
        report.payouts.iter().sum::<u128>(),
        report.deposits.iter().sum::<u128>()
    );
    assert_eq!(
        report.payouts[0] as i128,
        report.deposits[0] as i128 - paid as i128 + report.alice_game_net
    );
    assert_eq!(report.payouts[1], report.deposits[1]);
    let text = report.render();
    assert!(text.contains("payments/s") && text.contains("Alice"));
}
