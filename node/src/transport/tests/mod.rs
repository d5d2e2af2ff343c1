//! Transport tests: real QUIC on loopback, raw quinn clients for misbehaving peers; the bounds on what strangers
//! hold are in `strangers.rs`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::Signer;
use ferry_ledger::protocol::LedgerMessage;
use ferry_ledger::store::{MemoryStore, RedbStore};
use tokio::sync::mpsc::Receiver;

use super::conn::{Role, make_hello};
use super::*;
use crate::wire::{self, Frame, Hello, MAX_FRAME};
use ferry_virtual::protocol::{Message, VirtualMessage};

const WAIT: Duration = Duration::from_secs(5);

/// Message number `n` (a settle request for channel `n`).
fn msg(n: u64) -> Message {
    Message::Virtual(VirtualMessage::SettleRequest {
        channel_id: B256::from(U256::from(n)),
    })
}

fn number(msg: &Message) -> u64 {
    match msg {
        Message::Virtual(VirtualMessage::SettleRequest { channel_id }) => {
            U256::from_be_bytes(channel_id.0).to::<u64>()
        }
        other => panic!("unexpected message {other:?}"),
    }
}

async fn start(config: TransportConfig) -> (Transport, Receiver<Inbound>) {
    let identity = Identity::ephemeral(Signer::random()).unwrap();
    Transport::start(config, identity, MemoryStore::new())
        .await
        .unwrap()
}

async fn node() -> (Transport, Receiver<Inbound>) {
    start(TransportConfig::default()).await
}

/// The next event matching `pred`, skipping others.
async fn event(rx: &mut Receiver<Inbound>, pred: impl Fn(&Inbound) -> bool) -> Inbound {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = rx.recv().await.unwrap();
            if pred(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching event within {WAIT:?}"))
}

/// The numbers of the next `n` messages from `from`, skipping other events.
async fn messages(rx: &mut Receiver<Inbound>, from: Address, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    while out.len() < n {
        match event(rx, |e| matches!(e, Inbound::Message { .. })).await {
            Inbound::Message { from: f, msg, .. } => {
                assert_eq!(f, from);
                out.push(number(&msg));
            }
            _ => unreachable!(),
        }
    }
    out
}

/// Every event arriving within `dur`.
async fn quiet(rx: &mut Receiver<Inbound>, dur: Duration) -> Vec<Inbound> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + dur;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        out.push(event);
    }
    out
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A raw quinn client connected to `to`, with the node's `Hello` read (and checked to be its acceptor proof).
struct Raw {
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    recv: quinn::RecvStream,
    send: Option<quinn::SendStream>,
    their_hello: Hello,
}

/// A loopback address other than 127.0.0.1 (Linux routes all of 127/8 to lo): a stranger on another IP.
fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

impl Raw {
    async fn connect(to: SocketAddr) -> Self {
        Self::connect_from(ip(1), to).await
    }

    /// Connects from the loopback address `from`.
    async fn connect_from(from: IpAddr, to: SocketAddr) -> Self {
        let endpoint = quinn::Endpoint::client(SocketAddr::new(from, 0)).unwrap();
        let conn = endpoint
            .connect_with(identity::client_config().unwrap(), to, "anything")
            .unwrap()
            .await
            .unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let Some(Frame::Hello(their_hello)) = wire::read_frame(&mut recv, MAX_FRAME).await.unwrap()
        else {
            panic!("the node did not start with a hello");
        };
        Self {
            _endpoint: endpoint,
            conn,
            recv,
            send: None,
            their_hello,
        }
    }

    /// Connects and proves `signer`'s key.
    async fn peer(to: SocketAddr, signer: &Signer) -> Self {
        Self::peer_from(ip(1), to, signer).await
    }

    /// Connects from `from` and proves `signer`'s key.
    async fn peer_from(from: IpAddr, to: SocketAddr, signer: &Signer) -> Self {
        let mut raw = Self::connect_from(from, to).await;
        let hello = make_hello(signer, &raw.conn, Role::Dialer).unwrap();
        raw.write(&Frame::Hello(hello)).await;
        raw
    }

    async fn write_raw(&mut self, bytes: &[u8]) {
        if self.send.is_none() {
            self.send = Some(self.conn.open_uni().await.unwrap());
        }
        // The node may close the connection while we write: what matters is what it does.
        let _ = self.send.as_mut().unwrap().write_all(bytes).await;
    }

    async fn write(&mut self, frame: &Frame) {
        self.write_raw(&wire::encode_framed(frame).unwrap()).await;
    }

    async fn read(&mut self) -> Frame {
        tokio::time::timeout(WAIT, wire::read_frame(&mut self.recv, MAX_FRAME))
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    }

    /// The application close the node sent: code and reason.
    async fn closed(&self) -> (u32, String) {
        match tokio::time::timeout(WAIT, self.conn.closed())
            .await
            .unwrap()
        {
            quinn::ConnectionError::ApplicationClosed(close) => (
                u32::try_from(close.error_code.into_inner()).unwrap(),
                String::from_utf8_lossy(&close.reason).into_owned(),
            ),
            other => panic!("closed otherwise: {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_transports_exchange_both_ways_and_acks_empty_the_outbox() {
    let (a, mut a_rx) = node().await;
    let (b, mut b_rx) = node().await;
    // B does not know where A is: its messages wait for A to connect.
    for n in 1..=100 {
        b.send(a.address(), msg(1000 + n)).unwrap();
    }
    assert_eq!(b.stats().outbox, 100);
    a.add_peer(b.address(), b.local_addr());
    a.send_batch((1..=100).map(|n| (b.address(), msg(n))).collect())
        .unwrap();
    assert_eq!(
        event(&mut b_rx, |e| matches!(e, Inbound::Connected(_))).await,
        Inbound::Connected(a.address())
    );
    assert_eq!(
        messages(&mut b_rx, a.address(), 100).await,
        (1..=100).collect::<Vec<_>>()
    );
    assert_eq!(
        messages(&mut a_rx, b.address(), 100).await,
        (1001..=1100).collect::<Vec<_>>()
    );
    eventually("both outboxes empty", || {
        a.stats().outbox == 0 && b.stats().outbox == 0
    })
    .await;
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.in_flight, sb.in_flight), (0, 0));
    assert_eq!((sa.delivered, sb.delivered), (100, 100));
    assert_eq!((sa.messages_sent, sb.messages_sent), (100, 100));
    assert_eq!((sa.resent, sa.duplicates_dropped), (0, 0));
    assert_eq!(a.connected(), vec![b.address()]);
    assert_eq!(b.connected(), vec![a.address()]);
    // Later traffic reuses the connection.
    b.send(a.address(), msg(7)).unwrap();
    assert_eq!(messages(&mut a_rx, b.address(), 1).await, vec![7]);
    a.shutdown().await;
    let gone = event(&mut b_rx, |e| matches!(e, Inbound::Disconnected { .. })).await;
    assert!(
        matches!(&gone, Inbound::Disconnected { peer, reason } if *peer == a.address() && reason.contains("shutdown")),
        "{gone:?}"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_keep_one_connection() {
    let (a, mut a_rx) = node().await;
    let (b, mut b_rx) = node().await;
    a.add_peer(b.address(), b.local_addr());
    b.add_peer(a.address(), a.local_addr());
    for n in 1..=20 {
        a.send(b.address(), msg(n)).unwrap();
        b.send(a.address(), msg(n)).unwrap();
    }
    assert_eq!(
        messages(&mut b_rx, a.address(), 20).await,
        (1..=20).collect::<Vec<_>>()
    );
    assert_eq!(
        messages(&mut a_rx, b.address(), 20).await,
        (1..=20).collect::<Vec<_>>()
    );
    eventually("both outboxes empty", || {
        a.stats().outbox == 0 && b.stats().outbox == 0
    })
    .await;
    assert_eq!(a.connected(), vec![b.address()]);
    assert_eq!(b.connected(), vec![a.address()]);
    // Nothing was delivered twice.
    let late = quiet(&mut b_rx, Duration::from_millis(200)).await;
    assert!(
        !late.iter().any(|e| matches!(e, Inbound::Message { .. })),
        "{late:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_peer_proving_the_wrong_address_is_refused_and_gets_nothing() {
    let (a, mut a_rx) = node().await;
    let (b, mut b_rx) = node().await;
    let expected = Signer::random().address();
    a.add_peer(expected, b.local_addr());
    a.send(expected, msg(1)).unwrap();
    let refused = event(&mut a_rx, |e| matches!(e, Inbound::Rejected { .. })).await;
    match refused {
        Inbound::Rejected { remote, reason } => {
            assert_eq!(remote, b.local_addr());
            assert!(
                reason.contains(&expected.to_string()) && reason.contains(&b.address().to_string()),
                "{reason}"
            );
        }
        _ => unreachable!(),
    }
    // B never learned who dialed, and got nothing.
    let seen = quiet(&mut b_rx, Duration::from_millis(300)).await;
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(b.stats().delivered, 0);
    assert!(a.connected().is_empty());
    assert_eq!(a.stats().outbox, 1);
    assert_eq!(a.stats().messages_sent, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_replayed_or_reflected_hello_is_refused() {
    let (t, mut t_rx) = node().await;
    let key = Signer::random();
    let honest = Raw::peer(t.local_addr(), &key).await;
    assert_eq!(
        event(&mut t_rx, |e| matches!(e, Inbound::Connected(_))).await,
        Inbound::Connected(key.address())
    );
    let proof = make_hello(&key, &honest.conn, Role::Dialer).unwrap();

    // The same proof on another connection.
    let mut replay = Raw::connect(t.local_addr()).await;
    replay.write(&Frame::Hello(proof)).await;
    let (code, reason) = replay.closed().await;
    assert_eq!(code, close_code::AUTH);
    assert!(reason.contains("replayed"), "{reason}");
    let refused = event(&mut t_rx, |e| matches!(e, Inbound::Rejected { .. })).await;
    assert!(
        matches!(&refused, Inbound::Rejected { reason, .. } if reason.contains("replayed")),
        "{refused:?}"
    );

    // The node's own proof sent back to it (its role differs).
    let mut reflect = Raw::connect(t.local_addr()).await;
    let theirs = reflect.their_hello.clone();
    assert_eq!(theirs.address, t.address());
    reflect.write(&Frame::Hello(theirs)).await;
    assert_eq!(reflect.closed().await.0, close_code::AUTH);

    // A Hello that is not even a signature.
    let mut forged = Raw::connect(t.local_addr()).await;
    let mut bad = make_hello(&key, &forged.conn, Role::Dialer).unwrap();
    bad.sig.v = 5;
    forged.write(&Frame::Hello(bad)).await;
    assert_eq!(forged.closed().await.0, close_code::AUTH);

    assert_eq!(t.connected(), vec![key.address()]);
    assert!(honest.conn.close_reason().is_none());
    assert_eq!(t.stats().rejected, 3);
    t.shutdown().await;
}

/// A transport with default settings and its outbox in the redb file at `path`.
async fn on_file(id: &Identity, path: &std::path::Path) -> (Transport, Receiver<Inbound>) {
    Transport::start(
        TransportConfig::default(),
        id.clone(),
        RedbStore::open(path).unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_outbox_survives_a_restart_and_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.redb");
    let a_id = Identity::load_or_create(dir.path(), Signer::random()).unwrap();
    let b_id = Identity::ephemeral(Signer::random()).unwrap();
    let b_addr = b_id.address();

    // B is down: A's messages wait in the outbox, A stops.
    let (a, _a_rx) = on_file(&a_id, &path).await;
    for n in 1..=20 {
        a.send(b_addr, msg(n)).unwrap();
    }
    assert_eq!(a.stats().outbox, 20);
    a.shutdown().await;
    assert!(matches!(
        a.send(b_addr, msg(99)),
        Err(TransportError::Shutdown)
    ));
    drop(a);

    // A starts again from the same file; B comes up.
    let (a, _a_rx) = on_file(&a_id, &path).await;
    assert_eq!(a.stats().outbox, 20);
    let (b, mut b_rx) = Transport::start(TransportConfig::default(), b_id, MemoryStore::new())
        .await
        .unwrap();
    a.add_peer(b_addr, b.local_addr());
    assert_eq!(
        messages(&mut b_rx, a.address(), 20).await,
        (1..=20).collect::<Vec<_>>()
    );
    eventually("A's outbox empty", || a.stats().outbox == 0).await;
    assert_eq!(a.stats().resent, 20);
    a.shutdown().await;
    drop(a);

    // Once more: the ids continue where they were, so B (which remembers what it delivered) takes the new one.
    let (a, _a_rx) = on_file(&a_id, &path).await;
    assert_eq!(a.stats().outbox, 0);
    a.add_peer(b_addr, b.local_addr());
    a.send(b_addr, msg(21)).unwrap();
    assert_eq!(messages(&mut b_rx, a.address(), 1).await, vec![21]);
    eventually("A's outbox empty", || a.stats().outbox == 0).await;
    let late = quiet(&mut b_rx, Duration::from_millis(200)).await;
    assert!(
        !late.iter().any(|e| matches!(e, Inbound::Message { .. })),
        "{late:?}"
    );
    assert_eq!(b.stats().delivered, 21);
    a.shutdown().await;
    b.shutdown().await;
}

/// A stranger the node forgot: what still waits for it is dropped from the outbox (and stays dropped after a
/// restart), and a later message to it goes out with the next id and is delivered.
#[tokio::test]
async fn a_forgotten_peer_leaves_nothing_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.redb");
    let a_id = Identity::load_or_create(dir.path(), Signer::random()).unwrap();
    let b_id = Identity::ephemeral(Signer::random()).unwrap();
    let b_addr = b_id.address();
    let (a, _a_rx) = on_file(&a_id, &path).await;
    for n in 1..=20 {
        a.send(b_addr, msg(n)).unwrap();
    }
    assert_eq!(a.stats().outbox, 20);
    a.forget_peer(b_addr).unwrap();
    a.forget_peer(Signer::random().address()).unwrap();
    assert_eq!(a.stats().outbox, 0);
    a.shutdown().await;
    drop(a);
    let (a, _a_rx) = on_file(&a_id, &path).await;
    assert_eq!(a.stats().outbox, 0, "nothing comes back after a restart");
    let (b, mut b_rx) = Transport::start(TransportConfig::default(), b_id, MemoryStore::new())
        .await
        .unwrap();
    a.add_peer(b_addr, b.local_addr());
    a.send(b_addr, msg(21)).unwrap();
    assert_eq!(messages(&mut b_rx, a.address(), 1).await, vec![21]);
    eventually("A's outbox empty", || a.stats().outbox == 0).await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_resend_is_acknowledged_but_not_delivered_twice() {
    let (t, mut t_rx) = node().await;
    let key = Signer::random();
    let mut first = Raw::peer(t.local_addr(), &key).await;
    for id in 1..=3 {
        first.write(&Frame::Msg { id, msg: msg(id) }).await;
    }
    assert_eq!(messages(&mut t_rx, key.address(), 3).await, vec![1, 2, 3]);
    // Acknowledgements are cumulative; wait for the one covering 3.
    loop {
        if first.read().await == (Frame::Ack { id: 3 }) {
            break;
        }
    }
    // The sender lost the acknowledgement of 2 and 3: a new connection resends them, then 4.
    let mut second = Raw::peer(t.local_addr(), &key).await;
    for id in 2..=4 {
        second.write(&Frame::Msg { id, msg: msg(id) }).await;
    }
    assert_eq!(messages(&mut t_rx, key.address(), 1).await, vec![4]);
    loop {
        if second.read().await == (Frame::Ack { id: 4 }) {
            break;
        }
    }
    let stats = t.stats();
    assert_eq!((stats.delivered, stats.duplicates_dropped), (4, 2));
    // The newer connection from the same dialer replaced the older one.
    let (code, reason) = first.closed().await;
    assert_eq!(code, close_code::DUPLICATE, "{reason}");
    assert_eq!(t.connected(), vec![key.address()]);
    t.shutdown().await;
}

#[tokio::test]
async fn bad_frames_and_floods_close_only_the_offending_connection() {
    let (t, mut t_rx) = start(TransportConfig {
        max_frames_per_sec: 300,
        ..TransportConfig::default()
    })
    .await;
    // A well-behaved peer, connected throughout.
    let (w, mut w_rx) = node().await;
    w.add_peer(t.address(), t.local_addr());
    w.send(t.address(), msg(1)).unwrap();
    assert_eq!(messages(&mut t_rx, w.address(), 1).await, vec![1]);

    let mut malformed = Raw::peer(t.local_addr(), &Signer::random()).await;
    malformed
        .write_raw(&[0, 0, 0, 3, wire::WIRE_VERSION, 9, 0])
        .await;
    let mut oversize = Raw::peer(t.local_addr(), &Signer::random()).await;
    oversize
        .write_raw(&u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes())
        .await;
    let mut unknown = Raw::peer(t.local_addr(), &Signer::random()).await;
    unknown.write_raw(&[0, 0, 0, 2, 7, 0]).await;
    let mut early = Raw::connect(t.local_addr()).await;
    early.write(&Frame::Msg { id: 1, msg: msg(1) }).await;
    let mut flood = Raw::peer(t.local_addr(), &Signer::random()).await;
    let ack = wire::encode_framed(&Frame::Ack { id: 0 }).unwrap();
    flood.write_raw(&ack.repeat(1000)).await;

    let cases = [
        (&malformed, close_code::PROTOCOL, "malformed"),
        (&oversize, close_code::OVERSIZE, "oversize"),
        (&unknown, close_code::PROTOCOL, "unknown wire version"),
        (&early, close_code::PROTOCOL, "before the hello"),
        (&flood, close_code::FLOOD, "flood"),
    ];
    for (raw, code, text) in cases {
        let (got, reason) = raw.closed().await;
        assert_eq!(got, code, "{text}: {reason}");
        assert!(reason.contains(text), "{text}: {reason}");
    }
    let mut reasons = Vec::new();
    while reasons.len() < 5 {
        if let Inbound::Rejected { reason, .. } =
            event(&mut t_rx, |e| matches!(e, Inbound::Rejected { .. })).await
        {
            reasons.push(reason);
        }
    }
    for (_, _, text) in cases {
        assert!(
            reasons.iter().any(|r| r.contains(text)),
            "{text}: {reasons:?}"
        );
    }
    assert_eq!(t.stats().rejected, 5);

    // The well-behaved peer never noticed.
    w.send(t.address(), msg(2)).unwrap();
    t.send(w.address(), msg(3)).unwrap();
    assert_eq!(messages(&mut t_rx, w.address(), 1).await, vec![2]);
    assert_eq!(messages(&mut w_rx, t.address(), 1).await, vec![3]);
    assert_eq!(t.connected(), vec![w.address()]);
    let w_events = quiet(&mut w_rx, Duration::from_millis(100)).await;
    assert!(
        !w_events
            .iter()
            .any(|e| matches!(e, Inbound::Disconnected { .. })),
        "{w_events:?}"
    );
    t.shutdown().await;
    w.shutdown().await;
}

#[tokio::test]
async fn the_outbox_is_capped_and_messages_checked() {
    let (t, _rx) = start(TransportConfig {
        max_outbox: 5,
        max_frame: 4096,
        ..TransportConfig::default()
    })
    .await;
    let (p1, p2) = (Signer::random().address(), Signer::random().address());
    for n in 1..=5 {
        t.send(p1, msg(n)).unwrap();
    }
    assert_eq!(
        t.send(p1, msg(6)),
        Err(TransportError::OutboxFull { peer: p1, max: 5 })
    );
    // A batch is all or nothing.
    assert_eq!(
        t.send_batch(vec![(p2, msg(1)), (p1, msg(7))]),
        Err(TransportError::OutboxFull { peer: p1, max: 5 })
    );
    assert_eq!(t.stats().outbox, 5);
    assert_eq!(
        t.send(t.address(), msg(1)),
        Err(TransportError::ToSelf(t.address()))
    );
    let huge = Message::Ledger(LedgerMessage::Reject {
        channel_id: B256::ZERO,
        version: 0,
        index: 0,
        reason: "x".repeat(5000),
    });
    assert!(matches!(
        t.send(p2, huge),
        Err(TransportError::TooLarge { .. })
    ));
    assert_eq!(t.stats().outbox, 5);
    t.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_acknowledges_gets_only_the_window() {
    let (t, mut t_rx) = start(TransportConfig {
        window: 8,
        ..TransportConfig::default()
    })
    .await;
    let key = Signer::random();
    let mut slow = Raw::peer(t.local_addr(), &key).await;
    event(&mut t_rx, |e| matches!(e, Inbound::Connected(_))).await;
    for n in 1..=100 {
        t.send(key.address(), msg(n)).unwrap();
    }
    eventually("the window is sent", || t.stats().messages_sent == 8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = t.stats();
    assert_eq!(
        (stats.messages_sent, stats.in_flight, stats.outbox),
        (8, 8, 100)
    );
    // Reading and acknowledging opens the window by as much.
    let mut last = 0;
    for _ in 0..8 {
        match slow.read().await {
            Frame::Msg { id, .. } => last = id,
            other => panic!("{other:?}"),
        }
    }
    slow.write(&Frame::Ack { id: last }).await;
    eventually("the window moves on", || {
        let s = t.stats();
        s.messages_sent == 16 && s.outbox == 92 && s.in_flight == 8
    })
    .await;
    // An acknowledgement of a message never sent is a violation.
    slow.write(&Frame::Ack { id: last + 1000 }).await;
    let (code, reason) = slow.closed().await;
    assert_eq!(code, close_code::PROTOCOL);
    assert!(reason.contains("never sent"), "{reason}");
    assert_eq!(t.stats().outbox, 92);
    t.shutdown().await;
}

#[tokio::test]
async fn messages_to_a_peer_that_is_down_go_out_once_it_listens() {
    // Reserve a port, and free it: the peer will listen there later.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (a, _a_rx) = node().await;
    let b_id = Identity::ephemeral(Signer::random()).unwrap();
    let b_addr = b_id.address();
    a.add_peer(b_addr, port);
    for n in 1..=10 {
        a.send(b_addr, msg(n)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.connected().is_empty());
    let (b, mut b_rx) = Transport::start(
        TransportConfig {
            listen: port,
            ..TransportConfig::default()
        },
        b_id,
        MemoryStore::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        messages(&mut b_rx, a.address(), 10).await,
        (1..=10).collect::<Vec<_>>()
    );
    eventually("A's outbox empty", || a.stats().outbox == 0).await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_node_that_does_not_read_its_inbound_still_gets_its_own_messages_acknowledged() {
    let (a, mut a_rx) = node().await;
    // B never reads its events.
    let (b, _b_rx) = node().await;
    a.add_peer(b.address(), b.local_addr());
    let flood = INBOUND_CAPACITY + 3 * TransportConfig::default().window;
    a.send_batch((1..=flood as u64).map(|n| (b.address(), msg(n))).collect())
        .unwrap();
    eventually("B's inbound is full and A's window is out", || {
        let s = a.stats();
        s.outbox > 0 && s.in_flight == TransportConfig::default().window as u64
    })
    .await;
    // B's own messages go out and are acknowledged while its node is busy.
    for n in 1..=50 {
        b.send(a.address(), msg(n)).unwrap();
    }
    assert_eq!(
        messages(&mut a_rx, b.address(), 50).await,
        (1..=50).collect::<Vec<_>>()
    );
    eventually("B's outbox empty", || b.stats().outbox == 0).await;
    assert!(b.stats().delivered <= (INBOUND_CAPACITY + 1) as u64);
    a.shutdown().await;
    b.shutdown().await;
}

mod acks;
mod strangers;
