//! Acknowledgements after the node's commit ([`TransportConfig::ack_when_committed`]): a message the node took in
//! but did not report committed stays in the sender's outbox and comes again after the receiver restarts.

use super::*;

fn committing() -> TransportConfig {
    TransportConfig {
        ack_when_committed: true,
        ..TransportConfig::default()
    }
}

/// The next `n` messages from `from`: their numbers and the ids to report committed.
async fn taken(rx: &mut Receiver<Inbound>, from: Address, n: usize) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    while out.len() < n {
        match event(rx, |e| matches!(e, Inbound::Message { .. })).await {
            Inbound::Message { from: f, msg, ack } => {
                assert_eq!(f, from);
                out.push((number(&msg), ack.expect("an id to report")));
            }
            _ => unreachable!(),
        }
    }
    out
}

#[tokio::test]
async fn a_message_is_acknowledged_once_committed_and_one_taken_in_but_not_committed_comes_again() {
    let b_key = Signer::random();
    let (a, _a_rx) = node().await;
    let (b, mut b_rx) = Transport::start(
        committing(),
        Identity::ephemeral(b_key.clone()).unwrap(),
        MemoryStore::new(),
    )
    .await
    .unwrap();
    a.add_peer(b.address(), b.local_addr());
    a.send_batch((1..=10).map(|n| (b.address(), msg(n))).collect())
        .unwrap();
    let got = taken(&mut b_rx, a.address(), 10).await;
    assert_eq!(
        got.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    // Taken in, not committed: A keeps all of them.
    quiet(&mut b_rx, Duration::from_millis(300)).await;
    assert_eq!(a.stats().outbox, 10);
    // The first six committed: acknowledged, gone from A's outbox; reporting them again changes nothing.
    b.committed(a.address(), got[5].1);
    eventually("six acknowledged", || a.stats().outbox == 4).await;
    b.committed(a.address(), got[2].1);
    quiet(&mut b_rx, Duration::from_millis(200)).await;
    assert_eq!(a.stats().outbox, 4);

    // B stops before committing the rest (a crash of its node): it comes back with the same key and gets the four
    // again, which it commits this time.
    b.shutdown().await;
    drop(b);
    let (b, mut b_rx) = Transport::start(
        committing(),
        Identity::ephemeral(b_key).unwrap(),
        MemoryStore::new(),
    )
    .await
    .unwrap();
    a.add_peer(b.address(), b.local_addr());
    let again = taken(&mut b_rx, a.address(), 4).await;
    assert_eq!(
        again.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![7, 8, 9, 10]
    );
    b.committed(a.address(), again[3].1);
    eventually("A's outbox empty", || a.stats().outbox == 0).await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn without_the_option_a_message_is_acknowledged_when_taken_in() {
    let (a, _a_rx) = node().await;
    let (b, mut b_rx) = node().await;
    a.add_peer(b.address(), b.local_addr());
    a.send(b.address(), msg(1)).unwrap();
    let m = event(&mut b_rx, |e| matches!(e, Inbound::Message { .. })).await;
    assert!(matches!(m, Inbound::Message { ack: None, .. }), "{m:?}");
    eventually("A's outbox empty", || a.stats().outbox == 0).await;
    a.shutdown().await;
    b.shutdown().await;
}
