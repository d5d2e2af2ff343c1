//! Property tests of the ledger-channel protocol over the embedded chain: random user operations on a wire that
//! drops, duplicates, delays and reorders messages, crashes with restart from the store, and a byzantine peer
//! (forged and stale messages, withheld signatures, a stale challenge). Invariants: funds are conserved; each
//! honest party ends with at least its latest supported balance; no objective stays stuck once the network heals;
//! a restarted node never forgets a state it sent its signature for; a bad message changes nothing.
//!
//! Cases: `FERRY_PROPTEST_CASES` (default 64).

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{Config, LedgerMessage, OpenPolicy, Phase};
use ferry_ledger::store::MemoryStore;
use ferry_ledger::{SignedState, Signer};
use ferry_simulations::ledger_net::{Faults, LedgerNet};
use proptest::prelude::*;

const ETH: Address = Address::ZERO;
const DEPOSIT: u64 = 1_000_000;
const WINDOW: u64 = 3_600;

#[derive(Debug, Clone)]
enum Action {
    Pay {
        who: usize,
        amount: u64,
    },
    Withdraw {
        who: usize,
        amount: u64,
    },
    TopUp {
        who: usize,
        amount: u64,
    },
    Crash {
        who: usize,
    },
    /// `who` pays, commits, and crashes before anything it produced leaves the process.
    PayThenCrash {
        who: usize,
        amount: u64,
    },
    Wait {
        steps: usize,
    },
    /// A forged or replayed message from `who`'s peer to `who`.
    Forge {
        who: usize,
        kind: u8,
    },
    /// `who`'s peer stops sending (withholds signatures) for a while.
    Silence {
        who: usize,
        steps: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..2usize, 1..500u64).prop_map(|(who, amount)| Action::Pay { who, amount }),
        1 => (0..2usize, 1..200u64).prop_map(|(who, amount)| Action::Withdraw { who, amount }),
        1 => (0..2usize, 1..1000u64).prop_map(|(who, amount)| Action::TopUp { who, amount }),
        1 => (0..2usize).prop_map(|who| Action::Crash { who }),
        1 => (0..2usize, 1..500u64).prop_map(|(who, amount)| Action::PayThenCrash { who, amount }),
        2 => (1..30usize).prop_map(|steps| Action::Wait { steps }),
        2 => (0..2usize, 0..5u8).prop_map(|(who, kind)| Action::Forge { who, kind }),
        1 => (0..2usize, 1..40usize).prop_map(|(who, steps)| Action::Silence { who, steps }),
    ]
}

fn config(peer_timeout_ms: u64) -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(DEPOSIT),
            ..OpenPolicy::default()
        },
        resend_ms: 300,
        max_resend_ms: 2_000,
        peer_timeout_ms,
        grace_ms: 1_000,
        ..Config::default()
    }
}

fn phase(net: &LedgerNet<MemoryStore>, i: usize, id: B256) -> Option<Phase> {
    net.parties[i]
        .node
        .as_ref()
        .and_then(|n| n.channel(&id))
        .map(|c| c.phase())
}

fn supported(net: &LedgerNet<MemoryStore>, i: usize, id: B256) -> Option<SignedState> {
    net.parties[i]
        .node
        .as_ref()
        .and_then(|n| n.channel(&id))
        .and_then(|c| c.supported().cloned())
}

/// What a participant's payout from `s` is relative to what it deposited: balance + withdrawn − deposited.
fn net_position(s: &SignedState, i: usize) -> (U256, U256) {
    let a = &s.state.outcome.assets[0];
    (a.balances[i] + a.withdrawn[i], a.deposited[i])
}

/// The least an honest party may end with: its position in the worst of the states it signed that may still be
/// registered — its latest supported state, or a newer one it signed whose countersignature it never received (the
/// peer holds it complete and may register it). As `(gain, deposited)`; the party must end with
/// `start + gain − deposited` or more.
fn floor(net: &LedgerNet<MemoryStore>, i: usize, id: B256) -> Option<(U256, U256)> {
    let ch = net.parties[i].node.as_ref()?.channel(&id)?;
    let latest = ch.supported()?.version();
    ch.signed_states()
        .into_iter()
        .filter(|s| s.version.to::<u64>() >= latest)
        .map(|s| {
            let a = &s.outcome.assets[0];
            (a.balances[i] + a.withdrawn[i], a.deposited[i])
        })
        .min_by(|x, y| (x.0 + y.1).cmp(&(y.0 + x.1)))
}

/// A forged message as party `who`'s peer could send it.
fn forge(net: &LedgerNet<MemoryStore>, who: usize, id: B256, kind: u8) -> Option<LedgerMessage> {
    let s = supported(net, who, id)?;
    let mallory = Signer::random();
    let ctx = net.parties[who].node.as_ref()?.context().to_owned();
    let mut state = s.state.clone();
    state.version = ferry_ledger::state::version(s.version() + 1).ok()?;
    Some(match kind {
        // A proposal signed by someone else.
        0 => LedgerMessage::Propose {
            sig: mallory.sign_state(&ctx, &state),
            state,
            batch: vec![],
        },
        // A replay of the supported state with a changed balance.
        1 => {
            let mut st = s.state.clone();
            st.outcome.assets[0].balances[0] += U256::from(1);
            LedgerMessage::Propose {
                sig: mallory.sign_state(&ctx, &st),
                state: st,
                batch: vec![],
            }
        }
        // A signature for a version nobody proposed.
        2 => LedgerMessage::Sign {
            channel_id: id,
            version: s.version() + 7,
            sig: mallory.sign_state(&ctx, &state),
            have_yours: false,
        },
        // A request that takes the leader's funds.
        3 => LedgerMessage::Request {
            channel_id: id,
            proposals: vec![ferry_ledger::protocol::Proposal {
                proposer: 1,
                seq: 1_000_000,
                op: ferry_ledger::protocol::Op::Pay {
                    from: 0,
                    asset: ETH,
                    amount: U256::from(1),
                },
            }],
        },
        // An open for a channel that exists.
        _ => LedgerMessage::Open {
            params: net.parties[who]
                .node
                .as_ref()?
                .channel(&id)?
                .params()
                .clone(),
            prefund: state.clone(),
            sig: mallory.sign_state(&ctx, &state),
        },
    })
}

async fn run_case(
    actions: Vec<Action>,
    faults: Faults,
    stale_challenge: Option<usize>,
    peer_timeout_ms: u64,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut net = LedgerNet::in_memory(2, config(peer_timeout_ms), seed)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let adjudicator = net.chain.adjudicator();
    let total_before = net.eth_balance(0).await.expect("bal")
        + net.eth_balance(1).await.expect("bal")
        + net.chain.balance(adjudicator).await.expect("bal");
    let start = [
        net.eth_balance(0).await.expect("bal"),
        net.eth_balance(1).await.expect("bal"),
    ];
    let b = net.address(1);
    let id = net
        .node(0)
        .open(
            b,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    let funded = net
        .run_until(300, |n| {
            phase(n, 0, id) == Some(Phase::Running) && phase(n, 1, id) == Some(Phase::Running)
        })
        .await
        .expect("run");
    prop_assert!(funded, "not funded");
    net.faults = faults;
    let mut old_states: Vec<SignedState> = Vec::new();
    let mut silenced: Option<(usize, u64)> = None;
    for a in actions {
        if let Some((who, until)) = silenced
            && net.now >= until
        {
            net.parties[who].online = true;
            silenced = None;
        }
        for i in 0..2 {
            if net.parties[i].node.is_none() {
                net.restart(i).expect("restart");
                // Never forget a state we sent our signature for.
                let sent = net.parties[i].sent_signed.get(&id).copied().unwrap_or(0);
                let kept = net.parties[i]
                    .node
                    .as_ref()
                    .and_then(|n| n.channel(&id))
                    .map(|c| c.signed_up_to());
                prop_assert!(
                    kept >= Some(sent),
                    "party {i} forgot version {sent} (kept {kept:?})"
                );
            }
        }
        if let Some(s) = supported(&net, 1, id) {
            old_states.push(s);
        }
        let now = net.now;
        match a {
            Action::Pay { who, amount } => {
                let _ = net.node(who).pay(id, ETH, U256::from(amount), now);
            }
            Action::Withdraw { who, amount } => {
                let _ = net.node(who).withdraw(id, ETH, U256::from(amount), now);
            }
            Action::TopUp { who, amount } => {
                let _ = net.node(who).top_up(id, ETH, U256::from(amount));
            }
            Action::Crash { who } => net.crash(who),
            Action::PayThenCrash { who, amount } => {
                let _ = net.node(who).pay(id, ETH, U256::from(amount), now);
                net.crash(who);
            }
            Action::Wait { steps } => {
                net.run_until(steps, |_| false).await.expect("run");
            }
            Action::Forge { who, kind } => {
                if let Some(msg) = forge(&net, who, id, kind) {
                    let before = supported(&net, who, id);
                    let from = net.address(1 - who);
                    let _ = net.node(who).handle_message(from, msg, now);
                    prop_assert_eq!(
                        supported(&net, who, id),
                        before,
                        "a forged message changed the channel"
                    );
                }
            }
            Action::Silence { who, steps } => {
                net.parties[1 - who].online = false;
                silenced = Some((1 - who, net.now + steps as u64 * net.tick_ms));
            }
        }
        net.step().await.expect("step");
    }
    // Heal: the wire behaves, everyone is back.
    net.faults = Faults::default();
    for i in 0..2 {
        net.parties[i].online = true;
        if net.parties[i].node.is_none() {
            net.restart(i).expect("restart");
        }
    }
    let healed = net.run_until(600, |n| n.quiet()).await.expect("run");
    prop_assert!(healed, "stuck after healing");
    if let Some(cheater) = stale_challenge.filter(|_| !old_states.is_empty()) {
        // The cheater registers an old state and goes away; the honest party must still get its latest.
        let honest = 1 - cheater;
        let latest = floor(&net, honest, id).expect("state");
        net.crash(cheater);
        let params = net.parties[honest]
            .node
            .as_ref()
            .and_then(|n| n.channel(&id))
            .map(|c| c.params().clone())
            .expect("params");
        let old = &old_states[old_states.len() / 2];
        let _ = net
            .client
            .challenge(net.address(cheater), &params, &old.state, &old.sigs, None)
            .await;
        net.run_until(30, |_| false).await.expect("run");
        net.advance_chain_time(WINDOW + 1).await.expect("time");
        let closed = net
            .run_until(300, |n| phase(n, honest, id) == Some(Phase::Closed))
            .await
            .expect("run");
        prop_assert!(
            closed,
            "honest party not paid out: {:?}",
            phase(&net, honest, id)
        );
        let (gain, dep) = latest;
        let end = net.eth_balance(honest).await.expect("bal");
        prop_assert!(end + dep >= start[honest] + gain, "honest party lost funds");
    } else if (0..2).any(|i| phase(&net, i, id) != Some(Phase::Running)) {
        // A silenced peer was challenged: the dispute runs its course and each side gets its latest state.
        let latest = [floor(&net, 0, id), floor(&net, 1, id)];
        net.run_until(30, |_| false).await.expect("run");
        net.advance_chain_time(WINDOW + 1).await.expect("time");
        let closed = net
            .run_until(300, |n| {
                phase(n, 0, id) == Some(Phase::Closed) && phase(n, 1, id) == Some(Phase::Closed)
            })
            .await
            .expect("run");
        prop_assert!(
            closed,
            "dispute not settled: {:?} {:?}",
            phase(&net, 0, id),
            phase(&net, 1, id)
        );
        for (i, start) in start.iter().enumerate() {
            let (gain, dep) = latest[i].expect("state");
            let end = net.eth_balance(i).await.expect("bal");
            prop_assert!(
                end + dep >= *start + gain,
                "party {} got less than its latest state",
                i
            );
        }
    } else {
        let now = net.now;
        net.node(0).close(id, now).expect("close");
        let closed = net
            .run_until(300, |n| {
                phase(n, 0, id) == Some(Phase::Closed) && phase(n, 1, id) == Some(Phase::Closed)
            })
            .await
            .expect("run");
        prop_assert!(
            closed,
            "not closed: {:?} {:?} {:?}",
            phase(&net, 0, id),
            phase(&net, 1, id),
            net.failed
        );
        let last = supported(&net, 0, id).expect("final");
        prop_assert!(last.state.isFinal);
        for (i, start) in start.iter().enumerate() {
            let (gain, dep) = net_position(&last, i);
            let end = net.eth_balance(i).await.expect("bal");
            prop_assert_eq!(
                end + dep,
                *start + gain,
                "party {} payout differs from the final state",
                i
            );
        }
        let closes = net
            .landed
            .iter()
            .filter(|(n, _)| *n == "concludeAndWithdraw")
            .count();
        prop_assert_eq!(closes, 1, "exactly one closing transaction");
    }
    let total_after = net.eth_balance(0).await.expect("bal")
        + net.eth_balance(1).await.expect("bal")
        + net.chain.balance(adjudicator).await.expect("bal");
    prop_assert_eq!(total_after, total_before, "funds not conserved");
    Ok(())
}

fn cases() -> u32 {
    std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn ledger_protocol_survives_faults_crashes_and_a_byzantine_peer(
        actions in proptest::collection::vec(action(), 1..40),
        drop_pct in 0..25u8,
        dup_pct in 0..25u8,
        max_delay_ms in 0..600u64,
        stale in proptest::option::of(0..2usize),
        disputes in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let faults = Faults { drop_pct, dup_pct, max_delay_ms };
        // With a short peer timeout, a silenced peer is challenged on-chain.
        let peer_timeout_ms = if disputes { 3_000 } else { 1_000_000 };
        rt.block_on(run_case(actions, faults, stale, peer_timeout_ms, seed))?;
    }
}
