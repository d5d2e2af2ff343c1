//! A second outside reviewer's attacks on the ledger core (every refused proposal kept and adopted when registered,
//! `state_at` after a conclude, one funding deposit per asset), kept as regression tests on the embedded chain. The
//! reviewer wrote each as a test that passed while the attack worked; each now plays the same attack and asserts the
//! defence (the honest party paid, nothing locked, the node bounded, no gas spent at a stranger's command). The
//! tests of holes closed by this round's fixes (the `Checkpointed` event carrying the state, adopted by
//! `adopt_newer`; the bound on queued requests; top-ups counted only for known assets; the funding timeout) fail on
//! the code before them.

use crate::common::*;
use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{LedgerEvent, LedgerMessage, Phase};
use ferry_ledger::store::MemoryStore;
use ferry_ledger::{ChannelParams, Signature, State};
use ferry_simulations::ledger_net::LedgerNet;

/// How many transactions named `name` the nodes sent and saw fail.
fn failed(net: &LedgerNet<MemoryStore>, name: &str) -> usize {
    net.failed.iter().filter(|(n, _)| *n == name).count()
}

async fn steps_rejecting(
    net: &mut LedgerNet<MemoryStore>,
    id: B256,
    hoard: &mut Vec<(State, Signature)>,
    n: usize,
) {
    for _ in 0..n {
        net.step().await.expect("step");
        reject_all(net, id, hoard);
    }
}

// ============================================================================================== checkpoints (S14)

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
    let (mut net, id) = running_channel(1, 31).await;
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let adjudicator = net.chain.adjudicator();
    let (honest, attacker) = (net.address(0), net.address(1));
    net.divert_to = Some(1);
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
        net.advance_chain_time(WINDOW + 1).await.expect("time");
        steps_silent(&mut net, 100).await;
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
    let (mut net, id) = running_channel(1, 33).await;
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let adjudicator = net.chain.adjudicator();
    let (honest, attacker) = (net.address(0), net.address(1));
    net.divert_to = Some(1);
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    let mut a = None;
    for _ in 0..3 {
        net.step().await.expect("step");
        for m in std::mem::take(&mut net.diverted) {
            if let LedgerMessage::Propose { state, sig, .. } = m.msg {
                a = Some((state, sig));
            }
        }
    }
    let (a, sig) = a.expect("the leader proposed A");
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
        net.advance_chain_time(WINDOW + 1).await.expect("time");
        steps_silent(&mut net, 100).await;
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
    let (mut net, id) = running_channel(1, 41).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let adjudicator = net.chain.adjudicator();
    let attacker = net.address(1);
    net.divert_to = Some(1);
    let leaf = |b: u8, amount: u64| ferry_contracts::SubAlloc {
        channelId: B256::repeat_byte(b),
        amounts: vec![ferry_contracts::AssetAmount {
            asset: ETH,
            amount: U256::from(amount),
        }],
        fee: U256::ZERO,
    };
    let (l1, l2) = (B256::repeat_byte(0x78), B256::repeat_byte(0x7a));
    let mut hoard = Vec::new();
    let now = net.now;
    net.node(0)
        .add_sub_channel(
            id,
            leaf(0x78, LEAF),
            [vec![U256::from(LEAF)], vec![U256::ZERO]],
            now,
        )
        .expect("add leaf");
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
    let now = net.now;
    net.node(0)
        .add_sub_channel(
            id,
            leaf(0x7a, LEAF2),
            [vec![U256::from(LEAF2)], vec![U256::ZERO]],
            now,
        )
        .expect("add leaf 2");
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
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(&mut net, 60).await;
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
/// attacker. The attacker opens a channel asking nothing of itself (`[0, DEPOSIT]`); the honest follower deposits
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
            &[(ETH, [U256::ZERO, U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    // The open reaches the follower; from then on the attacker drives by hand (its own node is gone).
    net.divert_to = Some(0);
    net.step().await.expect("step");
    net.crash(0);
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
    assert_eq!(held, U256::from(DEPOSIT), "the follower's deposit is in");
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
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(&mut net, 100).await;
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

// ============================================================================================== resource bounds

/// "Unbounded memory per peer". The attacker (follower) rejects the leader's proposal and checkpoints it (the
/// setup of the first checkpoint attack), then floods the leader with requests, 4,000 a frame (each frame well under
/// the 1 MiB limit), while the leader's proposal of the first ones waits unanswered. Before the fix,
/// `LedgerChannel::on_request` queued every authorized request with no bound (a proposal drains at most `max_batch`,
/// one at a time): the leader's channel record, re-encoded and committed whole on every message, grew by every frame
/// (past a megabyte after a dozen). Now a leader keeps at most `MAX_QUEUED_REQUESTS` (256) of the follower's requests
/// queued and refuses the rest by name: the record stops growing once the queue is full.
#[tokio::test]
async fn a_follower_flooding_requests_is_refused_past_the_bound() {
    use ferry_ledger::protocol::{Op, Proposal};
    const MAX_QUEUED_REQUESTS: usize = 256; // not exported
    const PER_FRAME: usize = 4_000;
    const FRAMES: usize = 12;
    let (mut net, id) = running_channel(1, 71).await;
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let attacker = net.address(1);
    net.divert_to = Some(1);
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    let mut hoard = Vec::new();
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let (a, sig) = hoard.first().cloned().expect("A");
    let sigs = complete(&net, &a, sig);
    net.client
        .checkpoint(attacker, &params, &a, &sigs)
        .await
        .expect("checkpoint");
    steps_silent(&mut net, 5).await;
    let size = |net: &LedgerNet<MemoryStore>| {
        let ch = net.parties[0]
            .node
            .as_ref()
            .and_then(|n| n.channel(&id))
            .expect("the leader's channel");
        ferry_ledger::store::encode(ch).expect("encode").len()
    };
    let mut seq = 0u64;
    let mut sizes = Vec::new();
    let mut refused = 0;
    for _ in 0..FRAMES {
        let proposals: Vec<Proposal> = (0..PER_FRAME)
            .map(|_| {
                seq += 1;
                Proposal {
                    proposer: 1,
                    seq,
                    op: Op::Pay {
                        from: 1,
                        asset: ETH,
                        amount: U256::from(1),
                    },
                }
            })
            .collect();
        let msg = LedgerMessage::Request {
            channel_id: id,
            proposals,
        };
        let frame = ferry_ledger::store::encode(&msg).expect("encode").len();
        assert!(frame < 1 << 20, "each request fits one frame: {frame}");
        let now = net.now;
        net.node(0)
            .handle_message(attacker, msg, now)
            .expect("request");
        // A burst: well within `peer_timeout_ms`, so the leader's proposal just waits unanswered.
        for _ in 0..2 {
            net.step().await.expect("step");
            refused += std::mem::take(&mut net.diverted)
                .iter()
                .filter(|m| matches!(m.msg, LedgerMessage::Refuse { .. }))
                .count();
        }
        sizes.push(size(&net));
    }
    println!("leader's channel record size per frame: {sizes:?}");
    assert_eq!(
        phase(&net, 0, id),
        Some(Phase::Running),
        "the flood came while the leader waited"
    );
    assert!(
        refused >= FRAMES * PER_FRAME - 2 * MAX_QUEUED_REQUESTS,
        "every request past the bound is refused: {refused}"
    );
    assert!(
        sizes[FRAMES - 1] <= sizes[1],
        "the record stops growing once the queue is full: {sizes:?}"
    );
    assert!(
        sizes[FRAMES - 1] < 100_000,
        "the record stays small: {sizes:?}"
    );
}

/// "Unbounded memory per peer" from a stranger. Any keyed peer may send `Open` (the default `OpenPolicy` accepts)
/// and the honest node stores the channel and countersigns its pre-fund. The stranger opens 500 channels asking
/// nothing of the node (`[1, 0]`) and never deposits. Before the fix a channel in funding had no timer (the
/// follower waited for participant 0's deposit with nothing set to wake it): every record stayed in `Funding`, in
/// memory and in the store, reloaded at every restart, for ever, at no gas to the stranger. Now a channel in funding
/// has a timer and after `funding_timeout_ms`, with nothing of the node's own deposited or sent, it fails
/// (`OpenFailed`): nothing waits on the stranger's channels any more and the node sent no transaction for them.
#[tokio::test]
async fn a_strangers_unfunded_channels_fail_after_the_funding_timeout() {
    const OPENS: usize = 500;
    let mut net = LedgerNet::in_memory(2, config(), 121).await.expect("net");
    let (victim, stranger) = (net.address(0), net.address(1));
    for _ in 0..OPENS {
        net.node(1)
            .open(victim, &[(ETH, [U256::from(1), U256::ZERO])], WINDOW, 0)
            .expect("open");
        while let Some((_, m)) = net.node(1).poll_transmit() {
            net.node(0)
                .handle_message(stranger, m, 0)
                .expect("accepted");
        }
    }
    assert!(
        net.node(0).poll_timeout().is_some(),
        "a timer waits on the channels in funding"
    );
    // The stranger's own node goes away; hours pass on the honest node (past `funding_timeout_ms`, 1 h by
    // default), which restarts too.
    net.crash(1);
    for _ in 0..3 {
        net.now += 3_600_000;
        steps_silent(&mut net, 20).await;
    }
    net.crash(0);
    net.restart(0).expect("restart");
    steps_silent(&mut net, 20).await;
    let theirs: Vec<Phase> = net
        .node(0)
        .channels()
        .filter(|c| c.peer() == stranger)
        .map(|c| c.phase())
        .collect();
    let failed_opens = net.parties[0]
        .events
        .iter()
        .filter(|e| matches!(e, LedgerEvent::OpenFailed { .. }))
        .count();
    assert!(
        !theirs.contains(&Phase::Funding),
        "no stranger's channel waits in funding any more"
    );
    assert!(
        theirs.iter().all(|p| *p == Phase::Failed),
        "each failed: {theirs:?}"
    );
    assert_eq!(failed_opens, OPENS, "each reported as a failed open");
    assert_eq!(
        net.node(0).poll_timeout(),
        None,
        "nothing waits on them any more"
    );
    assert!(
        net.landed.is_empty(),
        "the node sent no transaction: {:?}",
        net.landed
    );
}

// ============================================================================================== strangers (S16)

/// S16 (strangers cannot make a node spend: nothing a stranger sends makes a node sign or send a transaction).
/// Between two honest nodes, a stranger deposits 1 unit of a junk ERC-20 (one neither node lists) for the leader,
/// then repeats zero-amount ETH deposits for it (each emits `Deposited`, for gas only). Before the fix, on every
/// `Deposited` event the leader counted the junk token's on-chain deposit as its own top-up and proposed it; the
/// honest follower refused it (`AssetNotAccepted`) and the next event asked again: after 64 refusals
/// (`MAX_ABANDONED`) the leader reported its honest peer unresponsive and challenged on-chain, so a stranger made it
/// sign 64 states, pay for a challenge and close the honest pair's channel. Now a node counts its own on-chain
/// top-ups only for assets the channel lists, its node takes or its user topped up with (and does not propose a
/// refused top-up again until its total grows): it signs nothing, sends nothing, and the channel runs on.
#[tokio::test]
async fn s16_a_strangers_junk_token_dust_never_makes_the_leader_sign_or_challenge() {
    let (mut net, id) = running_channel(1, 111).await;
    let landed_before = net.landed.len();
    let stranger = net.chain.accounts()[0];
    assert!(!(0..2).any(|i| net.address(i) == stranger));
    let junk = net.client.deploy_test_token(stranger).await.expect("token");
    net.client
        .mint(stranger, junk, stranger, U256::from(10))
        .await
        .expect("mint");
    net.client
        .approve(stranger, junk, U256::from(10))
        .await
        .expect("approve");
    net.client
        .deposit(stranger, junk, id, 0, U256::ZERO, U256::from(1))
        .await
        .expect("junk dust");
    steps_silent(&mut net, 5).await;
    for _ in 0..70 {
        // Free for the stranger but gas: a zero deposit still emits `Deposited`.
        net.client
            .deposit(stranger, ETH, id, 0, U256::ZERO, U256::ZERO)
            .await
            .expect("zero deposit");
        steps_silent(&mut net, 5).await;
    }
    let signed = net.node(0).channel(&id).expect("ch").signed_states().len();
    assert_eq!(
        signed, 1,
        "the leader signed nothing above v1 (it proposed no top-up of the junk token)"
    );
    steps_silent(&mut net, 100).await;
    assert_eq!(
        net.landed.len(),
        landed_before,
        "no transaction at the stranger's command: {:?}",
        net.landed
    );
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(&mut net, 50).await;
    assert_eq!(phase(&net, 0, id), Some(Phase::Running));
    assert_eq!(phase(&net, 1, id), Some(Phase::Running));
}

// ============================================================================================== funding liveness

/// "Nothing stays locked forever … a ledger whose peer stops answering is challenged after `peer_timeout_ms`". The
/// attacker countersigns the honest opener's pre-fund (so the opener deposits) and then never deposits its own
/// share. Before the fix nothing waited on the peer's deposit (the pre-fund completed stopped the timer and the
/// post-fund is signed only once every deposit is in): the opener's channel stayed in `Funding` for ever, with no
/// timer, no `PeerUnresponsive` and no challenge, its deposit locked until its operator noticed. Now after
/// `funding_timeout_ms` the opener, having deposited, reports the peer unresponsive and (`auto_dispute`) challenges
/// with the pre-fund, whose payout gives each side its own deposits: the opener is paid its `DEPOSIT` back.
#[tokio::test]
async fn an_opener_whose_peer_never_deposits_is_paid_back_after_the_funding_timeout() {
    let mut net = LedgerNet::in_memory(2, config(), 131).await.expect("net");
    let adjudicator = net.chain.adjudicator();
    let (honest, attacker) = (net.address(0), net.address(1));
    net.crash(1);
    let id = net
        .node(0)
        .open(
            attacker,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    let (_, open) = net.node(0).poll_transmit().expect("open message");
    let LedgerMessage::Open { prefund, .. } = open else {
        panic!("not an open")
    };
    let ctx = *net.node(0).context();
    let sig = net.parties[1].signer.sign_state(&ctx, &prefund);
    net.node(0)
        .handle_message(
            attacker,
            LedgerMessage::Sign {
                channel_id: id,
                version: 0,
                sig,
                have_yours: true,
            },
            0,
        )
        .expect("pre-fund countersigned");
    // Hours pass (past `funding_timeout_ms`, 1 h by default), and the chain's time with them.
    for _ in 0..5 {
        steps_silent(&mut net, 200).await;
        net.advance_chain_time(WINDOW + 1).await.expect("time");
        net.now += 3_600_000;
    }
    assert!(
        net.parties[0]
            .events
            .iter()
            .any(|e| matches!(e, LedgerEvent::PeerUnresponsive { .. })),
        "the peer is reported unresponsive"
    );
    assert!(
        landed(&net, "challenge") >= 1,
        "the opener challenged with the pre-fund: {:?}",
        net.landed
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    assert_eq!(
        paid_to(&net, 0, honest),
        U256::from(DEPOSIT),
        "the opener gets its deposit back"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO, "nothing stays locked in the adjudicator");
}

/// Liveness between two honest nodes ("nothing stays locked forever"); no attacker beyond one failed transaction.
/// The follower's funding deposit fails once (an RPC error, a gas spike: `handle_tx_failed`). Before the fix nothing
/// asked for it again: `handle_tx_failed` did not re-run `drive`, and in `Funding` neither node had a timer (the
/// pre-fund completed, the opener's deposit in), so both stayed in `Funding` for ever with the opener's deposit
/// locked. Now a channel in funding wakes up periodically (every `max_resend_ms`) and asks again for a deposit that
/// failed: the follower's deposit lands and the channel runs.
#[tokio::test]
async fn a_followers_failed_funding_deposit_is_asked_again() {
    use ferry_adjudicator::watcher;
    use ferry_ledger::protocol::ChainTx;
    let (mut net, id) = prefunded_by_hand(141).await;
    let adjudicator = net.chain.adjudicator();
    let a0 = net.address(0);
    let first = net.node(0).poll_tx().expect("the opener's deposit");
    watcher::submit(&net.client, a0, &first)
        .await
        .expect("opener deposits");
    net.node(0).handle_tx_done(&first).expect("done");
    let chain: std::sync::Arc<dyn Chain> = net.chain.clone();
    watcher::sync::<_, ferry_adjudicator::Error>(chain.as_ref(), net.node(1), 0)
        .await
        .expect("sync");
    let second = net.node(1).poll_tx().expect("the follower's deposit");
    assert!(matches!(second, ChainTx::Deposit { participant: 1, .. }));
    net.node(1)
        .handle_tx_failed(&second, "transient RPC error".into())
        .expect("reported");
    // Both honest nodes run on for hours.
    for _ in 0..5 {
        steps_silent(&mut net, 200).await;
        net.now += 3_600_000;
    }
    assert!(
        landed(&net, "deposit") >= 1,
        "the follower's deposit is asked again and lands: {:?}",
        net.landed
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Running));
    assert_eq!(phase(&net, 1, id), Some(Phase::Running));
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(2 * DEPOSIT), "both deposits are in");
}

// ============================================================================================== defences the reviewer found in place (S14)

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
    let (mut net, id) = running_channel(1, 61).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let adjudicator = net.chain.adjudicator();
    let attacker = net.address(1);
    net.divert_to = Some(1);
    let mut hoard = Vec::new();
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    steps_rejecting(&mut net, id, &mut hoard, 3).await;
    let a = hoard.first().cloned().expect("A");
    assert_eq!(a.0.version.to::<u64>(), 2);
    // P: a leaf, held unanswered.
    let vid = B256::repeat_byte(0x79);
    add_own_leaf(&mut net, id, vid, LEAF);
    let mut p = None;
    for _ in 0..3 {
        net.step().await.expect("step");
        for m in std::mem::take(&mut net.diverted) {
            if let LedgerMessage::Propose { state, sig, .. } = m.msg {
                p = Some((state, sig));
            }
        }
    }
    let p = p.expect("P proposed");
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
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(&mut net, 60).await;
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
    let (mut net, id) = running_channel(1, 81).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let adjudicator = net.chain.adjudicator();
    let attacker = net.address(1);
    net.divert_to = Some(1);
    let leaf = |b: u8| ferry_contracts::SubAlloc {
        channelId: B256::repeat_byte(b),
        amounts: vec![ferry_contracts::AssetAmount {
            asset: ETH,
            amount: U256::from(LEAF),
        }],
        fee: U256::ZERO,
    };
    let mut hoard = Vec::new();
    for b in [0x11u8, 0x22] {
        let now = net.now;
        net.node(0)
            .add_sub_channel(id, leaf(b), [vec![U256::from(LEAF)], vec![U256::ZERO]], now)
            .expect("add leaf");
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
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(&mut net, 60).await;
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
    let (mut net, id) = running_channel(1, 101).await;
    let params: ChannelParams = net.node(0).channel(&id).expect("ch").params().clone();
    let adjudicator = net.chain.adjudicator();
    let (honest, attacker) = (net.address(0), net.address(1));
    net.divert_to = Some(1);
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
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(&mut net, 100).await;
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    let to_honest: U256 = net.parties[0]
        .events
        .iter()
        .filter_map(|e| match e {
            LedgerEvent::PaidOut { to, amount, .. } if *to == honest => Some(*amount),
            _ => None,
        })
        .sum();
    assert_eq!(
        to_honest,
        U256::from(DEPOSIT),
        "the honest leader gets all of its deposit"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO);
}
