//! What strangers may hold of a transport (SECURITY.md "What a hub exposes to strangers"): connections, handshakes,
//! partial frames, buffers and refused messages, each driven by hostile quinn clients while an honest peer keeps
//! exchanging messages.

use super::*;

/// How a connection attempt from `from` to `to` that must not be admitted failed.
async fn refused_from(from: IpAddr, to: SocketAddr) -> quinn::ConnectionError {
    let endpoint = quinn::Endpoint::client(SocketAddr::new(from, 0)).unwrap();
    let connecting = endpoint
        .connect_with(identity::client_config().unwrap(), to, "anything")
        .unwrap();
    let conn = match tokio::time::timeout(WAIT, connecting).await.unwrap() {
        Ok(conn) => conn,
        Err(e) => return e,
    };
    match tokio::time::timeout(WAIT, conn.accept_uni()).await.unwrap() {
        Ok(_) => panic!("admitted"),
        Err(e) => e,
    }
}

/// Whether a connection error is the node refusing for its caps: a QUIC refusal, or closed with `BUSY`.
fn is_busy(e: &quinn::ConnectionError) -> bool {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => {
            close.error_code == quinn::VarInt::from_u32(close_code::BUSY)
        }
        quinn::ConnectionError::ConnectionClosed(close) => {
            close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED
        }
        _ => false,
    }
}

/// `n` QUIC Initial packets, each opening a new connection (its own connection id), as a client at `from` sends
/// them; replayed from a socket that never reads, they are bare Initials from an address that never answers.
async fn initials(from: IpAddr, n: usize) -> Vec<Vec<u8>> {
    let sink = tokio::net::UdpSocket::bind(SocketAddr::new(from, 0))
        .await
        .unwrap();
    let to = sink.local_addr().unwrap();
    let endpoint = quinn::Endpoint::client(SocketAddr::new(from, 0)).unwrap();
    let mut pending = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 2048];
    while out.len() < n {
        pending.push(
            endpoint
                .connect_with(identity::client_config().unwrap(), to, "anything")
                .unwrap(),
        );
        loop {
            let (len, _) = tokio::time::timeout(WAIT, sink.recv_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            let packet = &buf[..len];
            // A long-header Initial: 0b11xx_xxxx with type 0; its destination connection id names the connection.
            if len < 7 || packet[0] & 0xf0 != 0xc0 {
                continue;
            }
            let dcid_len = usize::from(packet[5]);
            let dcid = packet[6..6 + dcid_len.min(len - 6)].to_vec();
            if seen.insert(dcid) {
                out.push(packet.to_vec());
                break;
            }
        }
    }
    out
}

/// An honest transport connected to `t` (it dialed `t`), after one message each way.
async fn honest_peer(
    t: &Transport,
    t_rx: &mut Receiver<Inbound>,
) -> (Transport, Receiver<Inbound>) {
    let (w, mut w_rx) = node().await;
    w.add_peer(t.address(), t.local_addr());
    w.send(t.address(), msg(1)).unwrap();
    assert_eq!(messages(t_rx, w.address(), 1).await, vec![1]);
    t.send(w.address(), msg(1)).unwrap();
    assert_eq!(messages(&mut w_rx, t.address(), 1).await, vec![1]);
    (w, w_rx)
}

/// `w` and `t` exchange messages `from..from + n` both ways, and the link between them is the one they had.
async fn exchange(
    t: &Transport,
    t_rx: &mut Receiver<Inbound>,
    w: &Transport,
    w_rx: &mut Receiver<Inbound>,
    from: u64,
) {
    for n in from..from + 5 {
        w.send(t.address(), msg(n)).unwrap();
        t.send(w.address(), msg(n)).unwrap();
    }
    let want: Vec<u64> = (from..from + 5).collect();
    assert_eq!(messages(t_rx, w.address(), 5).await, want);
    assert_eq!(messages(w_rx, t.address(), 5).await, want);
    assert!(t.connected().contains(&w.address()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_frames_time_out_and_the_hello_is_capped() {
    let (t, mut t_rx) = start(TransportConfig {
        frame_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    })
    .await;
    let (w, mut w_rx) = honest_peer(&t, &mut t_rx).await;

    // Logged-in strangers stall inside a frame: a length of 1,000 and three bytes of it; half a length prefix.
    let mut stalled = Raw::peer(t.local_addr(), &Signer::random()).await;
    stalled
        .write_raw(&[0, 0, 3, 232, wire::WIRE_VERSION, 1, 2])
        .await;
    let mut half = Raw::peer(t.local_addr(), &Signer::random()).await;
    half.write_raw(&[0, 0]).await;
    // A stranger that proved nothing announces a hello larger than a hello: refused at the length.
    let mut big = Raw::connect(t.local_addr()).await;
    big.write_raw(&u32::try_from(wire::MAX_HELLO + 1).unwrap().to_be_bytes())
        .await;

    // The honest pair keeps talking meanwhile.
    exchange(&t, &mut t_rx, &w, &mut w_rx, 10).await;

    for raw in [&stalled, &half] {
        let (code, reason) = raw.closed().await;
        assert_eq!(code, close_code::SLOW, "{reason}");
        assert!(reason.contains("slow frame"), "{reason}");
    }
    let (code, reason) = big.closed().await;
    assert_eq!(code, close_code::OVERSIZE, "{reason}");
    assert!(
        reason.contains(&format!("limit {}", wire::MAX_HELLO)),
        "{reason}"
    );
    let stats = t.stats();
    assert_eq!((stats.slow_frames, stats.rejected), (2, 3));
    // The stalled frame's reservation came back.
    eventually("nothing buffered", || t.stats().buffered == 0).await;
    exchange(&t, &mut t_rx, &w, &mut w_rx, 20).await;
    assert_eq!(t.connected(), vec![w.address()]);
    t.shutdown().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_buffers_within_its_budget_while_the_node_is_busy() {
    // T's node never reads its events: a logged-in stranger's messages pile up within the connection's budget.
    let (t, mut t_rx) = start(TransportConfig {
        conn_buffer: 64 * 1024,
        max_frame: 16 * 1024,
        ..TransportConfig::default()
    })
    .await;
    let (w, mut w_rx) = honest_peer(&t, &mut t_rx).await;
    let key = Signer::random();
    let mut stranger = Raw::peer(t.local_addr(), &key).await;
    let big = |id: u64| Frame::Msg {
        id,
        msg: Message::Ledger(LedgerMessage::Reject {
            channel_id: B256::ZERO,
            version: 0,
            index: 0,
            reason: "x".repeat(8 * 1024),
        }),
    };
    // More than the node's inbound queue and the connection's window can take: 1,400 frames of 8 KiB (11 MiB).
    let frames = INBOUND_CAPACITY as u64 + 2 * TransportConfig::default().window as u64;
    let writer = tokio::spawn(async move {
        for id in 1..=frames {
            stranger.write(&big(id)).await;
        }
        stranger
    });
    // The node's inbound queue fills, then the connection's budget: the stranger is held back by QUIC.
    eventually("the budget is in use", || t.stats().buffered >= 48 * 1024).await;
    // What T holds for the stranger stays within the budget (64 KiB), whatever it sends.
    for _ in 0..10 {
        let buffered = t.stats().buffered;
        assert!(buffered <= 64 * 1024, "{buffered}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(t.stats().buffered > 0);
    // The honest peer's own messages still go out and are acknowledged.
    for n in 2..=6 {
        t.send(w.address(), msg(n)).unwrap();
    }
    assert_eq!(
        messages(&mut w_rx, t.address(), 5).await,
        (2..=6).collect::<Vec<_>>()
    );
    eventually("T's outbox empty", || t.stats().outbox == 0).await;
    writer.abort();
    t.shutdown().await;
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_ip_and_in_total() {
    let (t, mut t_rx) = start(TransportConfig {
        max_connections: 6,
        max_connections_per_ip: 3,
        ..TransportConfig::default()
    })
    .await;
    // The honest peer dials from 127.0.0.1: one incoming connection.
    let (w, mut w_rx) = honest_peer(&t, &mut t_rx).await;

    // A stranger on 127.0.0.2 logs in three times; the fourth is refused.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Raw::peer_from(ip(2), t.local_addr(), &Signer::random()).await);
    }
    let refused = refused_from(ip(2), t.local_addr()).await;
    assert!(is_busy(&refused), "{refused}");
    assert_eq!(t.stats().refused_connections, 1);

    // A new honest peer from another address connects and talks meanwhile.
    let (w2, mut w2_rx) = honest_peer(&t, &mut t_rx).await;
    exchange(&t, &mut t_rx, &w, &mut w_rx, 10).await;

    // Five held; a stranger on 127.0.0.3 takes the last place, one on 127.0.0.4 finds none.
    held.push(Raw::peer_from(ip(3), t.local_addr(), &Signer::random()).await);
    eventually("six incoming connections", || t.stats().incoming == 6).await;
    let refused = refused_from(ip(4), t.local_addr()).await;
    assert!(is_busy(&refused), "{refused}");
    assert_eq!(t.stats().refused_connections, 2);
    assert_eq!(t.stats().incoming, 6);

    // The honest links carry traffic both ways throughout.
    exchange(&t, &mut t_rx, &w, &mut w_rx, 20).await;
    exchange(&t, &mut t_rx, &w2, &mut w2_rx, 20).await;

    // A stranger leaving gives its place back.
    let gone = held.pop().unwrap();
    gone.conn.close(quinn::VarInt::from_u32(0), b"bye");
    eventually("a place is free", || t.stats().incoming == 5).await;
    let _back = Raw::peer_from(ip(4), t.local_addr(), &Signer::random()).await;
    let mut connected = t.connected();
    connected.retain(|a| *a == w.address() || *a == w2.address());
    assert_eq!(connected.len(), 2);
    t.shutdown().await;
    w.shutdown().await;
    w2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_initials_meet_address_validation_and_handshakes_are_capped_per_ip() {
    let (t, mut t_rx) = start(TransportConfig {
        max_handshakes: 32,
        max_handshakes_per_ip: 3,
        validate_above: 4,
        max_warn_per_sec: 1,
        ..TransportConfig::default()
    })
    .await;
    let (w, mut w_rx) = honest_peer(&t, &mut t_rx).await;

    // 200 bare Initials from 127.0.0.3, sent from a socket that never reads (as from a spoofed address).
    let packets = initials(ip(3), 200).await;
    let spoof = tokio::net::UdpSocket::bind(SocketAddr::new(ip(3), 0))
        .await
        .unwrap();
    for (i, packet) in packets.iter().enumerate() {
        spoof.send_to(packet, t.local_addr()).await.unwrap();
        // Paced a little: a burst would overflow the node's socket buffer, and what is dropped tests nothing.
        if i % 10 == 9 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // At most `validate_above` of them hold a handshake; the others got a Retry, which they never answer.
    eventually("the flood is answered", || t.stats().retries >= 190).await;
    let stats = t.stats();
    assert!(stats.handshakes <= 4, "{stats:?}");
    assert_eq!(stats.refused_handshakes + stats.refused_connections, 0);

    // While handshakes are many, an honest newcomer validates its address (quinn answers the Retry) and talks.
    let before = t.stats().retries;
    let (w2, mut w2_rx) = honest_peer(&t, &mut t_rx).await;
    assert!(t.stats().retries > before);
    exchange(&t, &mut t_rx, &w, &mut w_rx, 10).await;
    exchange(&t, &mut t_rx, &w2, &mut w2_rx, 10).await;

    // Real clients from 127.0.0.2 that never say hello: three hold a handshake each, more are refused (at once,
    // concurrently: the refusals' warnings are rate-limited to one a second).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Raw::connect_from(ip(2), t.local_addr()).await);
    }
    let attempts: Vec<_> = (0..6)
        .map(|_| tokio::spawn(refused_from(ip(2), t.local_addr())))
        .collect();
    for attempt in attempts {
        let refused = attempt.await.unwrap();
        assert!(is_busy(&refused), "{refused}");
    }
    let stats = t.stats();
    assert_eq!(stats.refused_handshakes, 6, "{stats:?}");
    assert!(stats.warnings_suppressed >= 1, "{stats:?}");
    exchange(&t, &mut t_rx, &w, &mut w_rx, 20).await;

    // The spoofed handshakes time out and give their places back; the silent clients are closed for no hello.
    for raw in &held {
        assert_eq!(raw.closed().await.0, close_code::TIMEOUT);
    }
    eventually("no handshake held", || t.stats().handshakes == 0).await;
    t.shutdown().await;
    w.shutdown().await;
    w2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_messages_disconnects_and_bans_the_peer() {
    use crate::runtime::{Node, NodeConfig, NodeSetup};
    use ferry_adjudicator::{DEFAULT_CHAIN_ID, EmbeddedChain};

    let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let mut config =
            NodeConfig::new(Signer::from_bytes(&EmbeddedChain::account_key(i)).unwrap());
        config.ledger.open.max_own_deposit = U256::from(1_000_000u64);
        config.chain_poll = Duration::from_millis(20);
        config.max_refusals = 200;
        let setup = NodeSetup {
            data_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            peers: vec![],
            transport: TransportConfig::default(),
        };
        nodes.push(Node::launch(config, setup, chain.clone()).await.unwrap());
    }
    let (n, nt) = nodes.remove(0);
    let (h, ht) = nodes.remove(0);
    ht.add_peer(nt.address(), nt.local_addr());
    nt.add_peer(ht.address(), ht.local_addr());

    // A stranger floods N with messages about channels N does not have.
    let key = Signer::random();
    let mut flood = Raw::peer(nt.local_addr(), &key).await;
    let frames: Vec<u8> = (1..=1_000u64)
        .flat_map(|id| {
            wire::encode_framed(&Frame::Msg {
                id,
                msg: msg(1_000_000 + id),
            })
            .unwrap()
        })
        .collect();
    flood.write_raw(&frames).await;

    // Meanwhile the honest node opens a ledger with N: messages both ways, and deposits.
    let id = h
        .open_ledger(
            n.address(),
            vec![(Address::ZERO, [U256::from(100u64), U256::from(100u64)])],
            3_600,
        )
        .await
        .unwrap();
    let opened = Duration::from_secs(60);
    h.wait_ledger_running(id, opened).await.unwrap();
    n.wait_ledger_running(id, opened).await.unwrap();

    // The stranger was closed after its budget (200 within a minute), and is refused while banned.
    let (code, reason) = flood.closed().await;
    assert_eq!(code, close_code::DISCONNECTED, "{reason}");
    assert!(reason.contains("refused messages"), "{reason}");
    let again = Raw::peer(nt.local_addr(), &key).await;
    let (code, reason) = again.closed().await;
    assert_eq!(code, close_code::DISCONNECTED, "{reason}");
    assert!(reason.contains("refused for"), "{reason}");

    let status = n.status().await.unwrap();
    assert_eq!(status.stats.refusal_disconnects, 1);
    assert!(
        status.stats.refused > 200 && status.stats.refused <= 1_000,
        "{:?}",
        status.stats
    );
    assert_eq!(nt.stats().disconnects, 2);
    assert!(status.peers.contains(&h.address()));
    assert!(!status.peers.contains(&key.address()));
    assert_eq!(h.status().await.unwrap().stats.refusal_disconnects, 0);
    nt.shutdown().await;
    ht.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_that_come_and_go_leave_no_peer_entry_behind() {
    let (t, mut t_rx) = node().await;
    let (w, mut w_rx) = honest_peer(&t, &mut t_rx).await;
    assert_eq!(t.known_peers(), 1);
    // Strangers log in with fresh keys, each sends a message (delivered), and leaves.
    for k in 0..40u8 {
        let key = Signer::random();
        let mut raw = Raw::peer_from(ip(10 + k), t.local_addr(), &key).await;
        raw.write(&Frame::Msg {
            id: 1,
            msg: msg(u64::from(k)),
        })
        .await;
        assert_eq!(
            messages(&mut t_rx, key.address(), 1).await,
            vec![u64::from(k)]
        );
        raw.conn.close(0u32.into(), b"bye");
    }
    eventually("the strangers' entries dropped", || t.known_peers() == 1).await;

    // One the node wrote to is kept after it leaves (its message waits), until the node forgets it.
    let key = Signer::random();
    let mut raw = Raw::peer_from(ip(60), t.local_addr(), &key).await;
    raw.write(&Frame::Msg { id: 1, msg: msg(7) }).await;
    assert_eq!(messages(&mut t_rx, key.address(), 1).await, vec![7]);
    t.send(key.address(), msg(8)).unwrap();
    raw.conn.close(0u32.into(), b"bye");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.known_peers(), 2);
    t.forget_peer(key.address()).unwrap();
    assert_eq!(t.known_peers(), 1);
    assert_eq!(t.stats().outbox, 0);

    // The honest peer is untouched.
    exchange(&t, &mut t_rx, &w, &mut w_rx, 10).await;
    t.shutdown().await;
    w.shutdown().await;
}
