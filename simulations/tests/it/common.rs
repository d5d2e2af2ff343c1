//! The setup the ledger adversary tests share (`ledger_hoarder.rs`, `outside_attack*`): a two-party ledger on
//! the embedded chain with short timers, and the small probes they assert with. Each test file uses a part of it.
#![allow(dead_code)]

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{Config, LedgerEvent, LedgerMessage, OpenPolicy, Phase};
use ferry_ledger::store::MemoryStore;
use ferry_ledger::{ChannelParams, Signature, State};
use ferry_simulations::ledger_net::LedgerNet;

/// The asset every test channel holds.
pub const ETH: Address = Address::ZERO;
/// Each side's deposit.
pub const DEPOSIT: u64 = 1_000_000;
/// The challenge duration, in chain seconds.
pub const WINDOW: u64 = 3_600;

/// A node that accepts opens up to `DEPOSIT` of its own, with timers short enough for a test.
pub fn config() -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(DEPOSIT),
            ..OpenPolicy::default()
        },
        resend_ms: 300,
        max_resend_ms: 2_000,
        peer_timeout_ms: 4_000,
        grace_ms: 1_000,
        ..Config::default()
    }
}

/// Party `i`'s phase of channel `id` (`None` if it holds no such channel or is down).
pub fn phase(net: &LedgerNet<MemoryStore>, i: usize, id: B256) -> Option<Phase> {
    net.parties[i]
        .node
        .as_ref()
        .and_then(|n| n.channel(&id))
        .map(|c| c.phase())
}

/// What party `i` saw paid out of the adjudicator to `to`.
pub fn paid_to(net: &LedgerNet<MemoryStore>, i: usize, to: Address) -> U256 {
    net.parties[i]
        .events
        .iter()
        .filter_map(|e| match e {
            LedgerEvent::PaidOut { to: t, amount, .. } if *t == to => Some(*amount),
            _ => None,
        })
        .sum()
}

/// How many transactions named `name` the nodes got included.
pub fn landed(net: &LedgerNet<MemoryStore>, name: &str) -> usize {
    net.landed.iter().filter(|(n, _)| *n == name).count()
}

/// How many transactions named `name` the nodes sent and saw fail.
pub fn failed(net: &LedgerNet<MemoryStore>, name: &str) -> usize {
    net.failed.iter().filter(|(n, _)| *n == name).count()
}

/// The parameters of channel `id`, as party 0 holds them.
pub fn channel_params(net: &mut LedgerNet<MemoryStore>, id: B256) -> ChannelParams {
    net.node(0).channel(&id).expect("ch").params().clone()
}

/// Steps the network `n` times, dropping whatever reached the attacker's diverted inbox.
pub async fn steps_silent(net: &mut LedgerNet<MemoryStore>, n: usize) {
    for _ in 0..n {
        net.step().await.expect("step");
        net.diverted.clear();
    }
}

/// Moves the chain's time past a challenge window (`WINDOW + 1`), then steps the network `n` times as
/// [`steps_silent`] does.
pub async fn after_window(net: &mut LedgerNet<MemoryStore>, n: usize) {
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    steps_silent(net, n).await;
}

/// Steps the network `n` times, the attacker rejecting every proposal as [`reject_all`] does (each kept in `hoard`).
pub async fn steps_rejecting(
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

/// Takes the leader's first proposal the attacker (diverted inbox) received.
pub fn take_proposal(net: &mut LedgerNet<MemoryStore>) -> Option<(State, Signature)> {
    std::mem::take(&mut net.diverted)
        .into_iter()
        .find_map(|m| match m.msg {
            LedgerMessage::Propose { state, sig, .. } => Some((state, sig)),
            _ => None,
        })
}

/// Steps the network `n` times, leaving the leader's proposals unanswered: the last one the attacker (diverted
/// inbox) received, everything else it received dropped.
pub async fn last_proposal(
    net: &mut LedgerNet<MemoryStore>,
    n: usize,
) -> Option<(State, Signature)> {
    let mut last = None;
    for _ in 0..n {
        net.step().await.expect("step");
        for m in std::mem::take(&mut net.diverted) {
            if let LedgerMessage::Propose { state, sig, .. } = m.msg {
                last = Some((state, sig));
            }
        }
    }
    last
}

/// Opens a ledger channel [party 0, party 1] with `DEPOSIT` each and runs it until both see it running.
pub async fn running_channel(confirmations: u64, seed: u64) -> (LedgerNet<MemoryStore>, B256) {
    running_channel_with(config(), confirmations, seed).await
}

/// [`running_channel`] with another node config.
pub async fn running_channel_with(
    config: Config,
    confirmations: u64,
    seed: u64,
) -> (LedgerNet<MemoryStore>, B256) {
    let mut net = LedgerNet::in_memory_confirmed(2, config, seed, confirmations)
        .await
        .expect("net");
    let peer = net.address(1);
    let id = net
        .node(0)
        .open(
            peer,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    let funded = net
        .run_until(300, |n| {
            (0..2).all(|i| phase(n, i, id) == Some(Phase::Running))
        })
        .await
        .expect("run");
    assert!(funded, "the channel did not get funded");
    (net, id)
}

/// A fresh two-party net (seed `seed`) with a ledger channel party `opener` opened with the other, depositing
/// `[opener's, other's]`, run until both see it running.
pub async fn opened_channel(
    seed: u64,
    opener: usize,
    deposits: [u64; 2],
) -> (LedgerNet<MemoryStore>, B256) {
    let mut net = LedgerNet::in_memory(2, config(), seed).await.expect("net");
    let peer = net.address(1 - opener);
    let id = net
        .node(opener)
        .open(
            peer,
            &[(ETH, [U256::from(deposits[0]), U256::from(deposits[1])])],
            WINDOW,
            0,
        )
        .expect("open");
    let running = net
        .run_until(300, |n| {
            (0..2).all(|i| phase(n, i, id) == Some(Phase::Running))
        })
        .await
        .expect("run");
    assert!(running, "the channel runs");
    (net, id)
}

/// Crashes party `k` and restarts it from its store with `token` listed in its open policy (its operator vets the
/// token; the other party's does not).
pub fn restart_listing(net: &mut LedgerNet<MemoryStore>, k: usize, token: Address) {
    net.crash(k);
    let store = net.parties[k].crashed_store.take().expect("store");
    let ctx = *net.node(1 - k).context();
    let listed = Config {
        open: OpenPolicy {
            tokens: vec![token],
            ..config().open
        },
        ..config()
    };
    let now = net.now;
    net.parties[k].node = Some(
        ferry_ledger::protocol::LedgerNode::open_store(
            net.parties[k].signer.clone(),
            ctx,
            listed,
            store,
            now,
        )
        .expect("restart with the token listed"),
    );
}

/// A running channel under attack (see [`attacked_channel`]) and what the tests use of it.
pub struct Attacked {
    pub net: LedgerNet<MemoryStore>,
    pub id: B256,
    pub params: ChannelParams,
    /// The adjudicator's address (what it holds is `net.chain.balance(adjudicator)`).
    pub adjudicator: Address,
    /// Party 0, the honest leader.
    pub honest: Address,
    /// Party 1, the attacker.
    pub attacker: Address,
}

/// [`running_channel`] (1 confirmation) whose attacker, party 1, owns its inbox from now on (`divert_to`).
pub async fn attacked_channel(seed: u64) -> Attacked {
    attacked_channel_with(config(), seed).await
}

/// [`attacked_channel`] with another node config.
pub async fn attacked_channel_with(config: Config, seed: u64) -> Attacked {
    let (mut net, id) = running_channel_with(config, 1, seed).await;
    let params = channel_params(&mut net, id);
    let adjudicator = net.chain.adjudicator();
    let (honest, attacker) = (net.address(0), net.address(1));
    net.divert_to = Some(1);
    Attacked {
        net,
        id,
        params,
        adjudicator,
        honest,
        attacker,
    }
}

/// Party 0 opens a ledger channel [party 0, party 1] with `DEPOSIT` each and the pre-fund is exchanged by hand (three
/// rounds, local time 0, 1 confirmation); nothing is on-chain yet and the funding deposits wait in the nodes.
pub async fn prefunded_by_hand(seed: u64) -> (LedgerNet<MemoryStore>, B256) {
    let mut net = LedgerNet::in_memory(2, config(), seed).await.expect("net");
    let (a0, a1) = (net.address(0), net.address(1));
    let id = net
        .node(0)
        .open(
            a1,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    for _ in 0..3 {
        while let Some((_, m)) = net.node(0).poll_transmit() {
            let _ = net.node(1).handle_message(a0, m, 0);
        }
        while let Some((_, m)) = net.node(1).poll_transmit() {
            let _ = net.node(0).handle_message(a1, m, 0);
        }
    }
    (net, id)
}

/// Party 1 (a stranger) opens a ledger channel [party 1, party 0] asking `balances` ([its own, party 0's]) of ETH,
/// and its messages reach party 0 by hand (local time 0), which accepts each; the channel, and the last message
/// delivered (the open).
pub fn opened_by_stranger(
    net: &mut LedgerNet<MemoryStore>,
    balances: [U256; 2],
) -> (B256, Option<LedgerMessage>) {
    let (a0, a1) = (net.address(0), net.address(1));
    let id = net
        .node(1)
        .open(a0, &[(ETH, balances)], WINDOW, 0)
        .expect("open");
    let mut last = None;
    while let Some((_, m)) = net.node(1).poll_transmit() {
        last = Some(m.clone());
        net.node(0).handle_message(a1, m, 0).expect("accepted");
    }
    (id, last)
}

/// A test ERC-20 deployed by `stranger`, who mints itself `amount` and approves the adjudicator for it.
pub async fn stranger_token(
    net: &LedgerNet<MemoryStore>,
    stranger: Address,
    amount: u64,
) -> Address {
    let token = net.client.deploy_test_token(stranger).await.expect("token");
    net.client
        .mint(stranger, token, stranger, U256::from(amount))
        .await
        .expect("mint");
    net.client
        .approve(stranger, token, U256::from(amount))
        .await
        .expect("approve");
    token
}

/// The attacker (party 1) rejects the honest leader's proposal of `version`, naming its first operation.
pub fn reject(
    net: &mut LedgerNet<MemoryStore>,
    id: B256,
    version: u64,
) -> ferry_ledger::Result<()> {
    let a1 = net.address(1);
    let now = net.now;
    net.node(0).handle_message(
        a1,
        LedgerMessage::Reject {
            channel_id: id,
            version,
            index: 0,
            reason: "no".into(),
        },
        now,
    )
}

/// The attacker (party 1, inbox diverted) rejects every proposal the honest leader sent it, keeping each with the
/// honest signature.
pub fn reject_all(net: &mut LedgerNet<MemoryStore>, id: B256, hoard: &mut Vec<(State, Signature)>) {
    for m in std::mem::take(&mut net.diverted) {
        if let LedgerMessage::Propose { state, sig, .. } = m.msg {
            let version = state.version.to::<u64>();
            hoard.push((state, sig));
            let _ = reject(net, id, version);
        }
    }
}

/// Party 0 proposes to add a leaf for virtual channel `vid` holding `amount` of its own ETH to ledger `id`.
#[track_caller]
pub fn add_own_leaf(net: &mut LedgerNet<MemoryStore>, id: B256, vid: B256, amount: u64) {
    let leaf = ferry_contracts::SubAlloc {
        channelId: vid,
        amounts: vec![ferry_contracts::AssetAmount {
            asset: ETH,
            amount: U256::from(amount),
        }],
        fee: U256::ZERO,
    };
    let now = net.now;
    net.node(0)
        .add_sub_channel(id, leaf, [vec![U256::from(amount)], vec![U256::ZERO]], now)
        .expect("add leaf");
}

/// Party 1 (the attacker) signs `state`; the two signatures in participant order.
pub fn complete(
    net: &LedgerNet<MemoryStore>,
    state: &State,
    honest_sig: Signature,
) -> Vec<Signature> {
    let ctx = *net.parties[0].node.as_ref().expect("node").context();
    let mine = net.parties[1].signer.sign_state(&ctx, state);
    vec![honest_sig, mine]
}

/// Accepts every sub-channel operation (stands in for a virtual layer whose S8/S10 checks passed): the harness's
/// byzantine guard.
pub use ferry_simulations::virtual_net::AnyLeaf as AcceptAll;

/// A rock-paper-scissors V over A–I–B on the embedded chain (A and B leading toward A) in which A commits 10 on rock
/// and B plays paper, which wins, while A drops B's moves and so never countersigns it. Returns the net, V and A's
/// commit (the latest state both endpoints signed).
pub fn a_withholds_bs_winning_move() -> (
    ferry_simulations::virtual_net::VirtualNet,
    B256,
    ferry_ledger::State,
) {
    use ferry_ledger::app::rps::{self, Hand};
    use ferry_simulations::virtual_net::{Leaders, OpenV, VirtualNet};
    use ferry_virtual::protocol::{Message, VirtualMessage};
    let mut sim = VirtualNet::builder(3)
        .embedded(1)
        .leaders(Leaders::TowardA)
        .build();
    let v = sim.open_and_run(OpenV::game(30, 30), 100);
    let ch = sim.channel(0, v).expect("A is on V");
    let params = ch.params().clone();
    let commit = rps::commit(
        &params,
        &ch.current(),
        U256::from(10),
        Hand::Rock,
        B256::repeat_byte(0x77),
    )
    .expect("a commit by the rules");
    sim.node_mut(0)
        .make_move(v, commit.clone())
        .expect("A commits");
    sim.run(3);
    sim.set_drop(|from, to, m| {
        from == 2 && to == 0 && matches!(m, Message::Virtual(VirtualMessage::Move { .. }))
    });
    let from = sim.channel(2, v).expect("B is on V").current();
    let play = rps::play(&params, &from, Hand::Paper).expect("a play by the rules");
    sim.node_mut(2).make_move(v, play).expect("B plays");
    sim.run(3);
    (sim, v, commit)
}
