//! Byzantine path members, property-based, on the embedded chain: small networks (A–I–B, A–I1–I2–B) open a
//! virtual payment channel V over funded ledgers, run payments both ways on a wire that drops and delays messages,
//! and one scheduled attack turns some members byzantine: A and B colluding against the intermediaries (two finals
//! shown to two hubs, a refund asked after the post-fund, new states of V registered again and again, V's balance
//! moved while a ledger on the path does not hold the leaf), an endpoint withholding its post-fund signature (the
//! sixth outside attacker's gas attack, generated) or any member griefing with stale challenges of V or of
//! one of its ledgers; or A and B *hoarding*: keeping every message their hubs sent them and, at any point of V's
//! life (while it runs and after it settled), proposing V's leaf again or its removal through their own nodes
//! (whose guards take anything), replaying old messages, registering old ledger states. The chain counts events
//! after 1 to 3 confirmations. A byzantine member is a real `VirtualNode` whose outputs the harness tampers with, plus
//! raw messages and transactions sent with its key; it may vanish after its attack. The honest members run the real
//! node, and once the network heals their operators settle, close or challenge until everything is out.
//!
//! Invariants at the end of every case, after the challenge windows pass on the chain's clock: funds are conserved
//! (all accounts plus the adjudicator); every ledger's holdings are paid out (nothing stays locked); an honest
//! intermediary ends with at least what it started with plus its routing fee for every V it holds the certificate
//! of; an honest endpoint with at least its latest balance in V by its own accounting (less the fees it paid); and at no step do two members hold two different finals of V signed by the whole path (S4).
//!
//! Cases: `FERRY_PROPTEST_CASES` (default 64 of any attack, and 400 of hoarding endpoints only on a chain with 3
//! confirmations; each case runs its own chain, in tens of milliseconds). With hole 6 of issue 11 put back (the
//! driver handing the head's timestamp with the confirmed blocks' events), the hoarding property finds it in most
//! default runs (5 of 6 runs of 200 cases did; `FERRY_PROPTEST_CASES=1500` for certainty).

mod attacks;
mod case;

use std::collections::BTreeMap;

use alloy::primitives::aliases::U96;
use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::app::payment;
use ferry_ledger::protocol::Phase;
use ferry_ledger::{ChannelParams, Signature, State, state};
use ferry_simulations::virtual_net::{
    AnyLeaf, CHALLENGE_DURATION as WINDOW, ETH, Faults, Leaders, OpenV, TICK_MS, VirtualNet,
};
use ferry_virtual::protocol::{
    IntermediaryPolicy, Message, OPEN_TIMEOUT_MS, VirtualMessage, VirtualPhase,
};
use proptest::prelude::*;

use super::proptest_cases;
use attacks::{hoard_acts, perform};
use case::{Attack, Case, Op, Topology, case};

/// The routing fee every intermediary charges in a property case (held in V's leaves until V is funded).
const FEE: u64 = 1;
/// The challenge bond of every channel (S17), far above any balance here: a bond lost shows at once.
const BOND: u64 = 1_000_000;

/// V's params, as A holds them.
fn v_params(sim: &VirtualNet, v: B256) -> ChannelParams {
    sim.channel(0, v).unwrap().params().clone()
}

/// A state of V at `version` giving A `a_pct` % of V and B the rest (endpoint-signed, or a final).
fn v_state(sim: &VirtualNet, v: B256, version: u64, a_pct: u8, is_final: bool) -> State {
    let n = sim.members();
    let ch = sim.channel(0, v).unwrap();
    let mut s = ch.postfund();
    let total = s.outcome.assets[0]
        .balances
        .iter()
        .fold(U256::ZERO, |x, y| x + *y);
    let a = total * U256::from(a_pct) / U256::from(100u8);
    s.version = state::version(version).unwrap();
    s.isFinal = is_final;
    s.outcome.assets[0].balances = vec![U256::ZERO; n];
    s.outcome.assets[0].balances[0] = a;
    s.outcome.assets[0].balances[n - 1] = total - a;
    s
}

/// `state` signed by A and B (in endpoint order, as S4 wants for an endpoint-signed state of V).
fn endpoint_sigs(sim: &VirtualNet, s: &State) -> Vec<Signature> {
    vec![sim.sign(0, s), sim.sign(sim.members() - 1, s)]
}

/// A–I–B on the embedded chain (A and B leading their ledgers) with an open payment V (A 50, B 20) in which A
/// paid B `paid`.
fn one_hub_with_v(paid: u64) -> (VirtualNet, B256) {
    let mut sim = VirtualNet::builder(3)
        .embedded(1)
        .leaders(Leaders::Endpoints)
        .build();
    let v = sim.open_and_run(OpenV::payment(50, 20), 200);
    sim.node_mut(0).pay(v, ETH, U256::from(paid)).unwrap();
    sim.run(5);
    (sim, v)
}

async fn run_case(case: Case) -> Result<(), TestCaseError> {
    let n = case.topology.members();
    let last = n - 1;
    let mut sim = VirtualNet::builder(n)
        .embedded(case.confirmations)
        .leaders(Leaders::Endpoints)
        .intermediary_policy(IntermediaryPolicy {
            fee_flat: U256::from(FEE),
            ..IntermediaryPolicy::default()
        })
        .seed(case.seed)
        .keep_ledger_history()
        .check_one_final()
        // S17: every channel carries a challenge bond, so an honest member that challenges puts it at stake, and
        // the balances below count it: an attack taking an honest member's bond shows as that member's loss.
        .ledger_config(|c| c.durations.challenge_bond = U96::from(BOND))
        .build();
    let (start, total) = sim.initial_holdings().clone();
    let byzantine = case.attack.byzantine(n);
    let honest: Vec<usize> = (0..n).filter(|k| !byzantine.contains(k)).collect();
    if let Attack::Hoard { .. } = case.attack {
        for k in &byzantine {
            sim.set_guard(*k, Box::new(AnyLeaf));
            sim.keep_inbox(*k);
        }
    }

    // V's open, on the faulty wire.
    sim.set_faults(Faults {
        drop_pct: case.wire.drop_pct,
        dup_pct: 0,
        max_delay_ms: u64::from(case.wire.max_delay_steps) * TICK_MS,
    });
    if let Attack::MoveWhileUnfunded { blocked_hop, .. } = case.attack {
        // Every message of the blocked ledger is lost.
        let blocked = sim.hop(usize::from(blocked_hop));
        sim.set_drop(move |_, _, m| matches!(m, Message::Ledger(l) if l.channel_id() == blocked));
    }
    if let Attack::WithholdPostfund { by } = case.attack {
        // Its post-fund signature (V's version 1) never leaves it.
        let k = by.index(n);
        sim.set_drop(move |from, _, m| {
            from == k
                && matches!(m, Message::Virtual(VirtualMessage::Sigs { state, .. })
                    if state.version.to::<u64>() == 1)
        });
    }
    let (a, b) = case.v;
    let v = sim.open(OpenV::payment(a, b)).unwrap();
    // Every virtual channel of the case: the attacked one first.
    let mut vs = vec![v];
    if case.topology == Topology::HubTwoChannels {
        vs.push(
            sim.open(OpenV::payment(b / 2 + 1, a / 2).between(last, 0))
                .unwrap(),
        );
    }
    let unfunded = matches!(
        case.attack,
        Attack::MoveWhileUnfunded { .. } | Attack::WithholdPostfund { .. }
    );
    if !unfunded {
        let open = sim.run_until(500, |s| {
            vs.iter().all(|v| {
                (0..n).all(|k| {
                    s.channel(k, *v)
                        .is_some_and(|c| c.phase() == VirtualPhase::Open)
                })
            })
        });
        // A lossy wire may make a ledger peer look unresponsive and the ledger go on-chain mid-open (the honest
        // answer to a silent peer); V then never opens and its open is resolved on-chain. A wire that loses nothing
        // must open it.
        prop_assert!(
            open || case.wire.drop_pct > 0,
            "V did not open: {:?}",
            sim.failed()
        );
        for op in &case.before {
            match op {
                Op::Pay { by, amount } => {
                    for v in &vs {
                        let _ = sim.node_mut(by.index(n)).pay(*v, ETH, U256::from(*amount));
                    }
                    sim.tick();
                }
                Op::Run { steps } => sim.run(usize::from(*steps)),
            }
        }
        sim.run(10);
        if case.final_withheld {
            // A withholds its ledger messages from its hub.
            sim.set_drop(|from, to, m| matches!(m, Message::Ledger(_)) && (from, to) == (0, 1));
            let now = sim.now();
            let _ = sim.node_mut(0).settle(v, now);
            sim.run_until(300, |s| {
                (1..n).all(|k| s.channel(k, v).is_some_and(|c| c.final_signed().is_some()))
                    && !s.table(last, n - 2).is_some_and(|t| t.contains(&v))
            });
        }
    }

    perform(&mut sim, &case, v).await?;
    if case.vanish {
        for k in &byzantine {
            sim.set_offline(*k, true);
        }
    }

    // The network heals; byzantine members that did not vanish keep running their nodes.
    sim.set_faults(Faults::default());
    if unfunded {
        sim.clear_drop();
        // The open times out (S8): whoever never signed the post-fund gives it up, the others go on-chain.
        for _ in 0..(OPEN_TIMEOUT_MS / 1_000 + 5) {
            sim.tick_by(1_000);
        }
    }
    sim.run(30);
    for e in [0, last] {
        for v in &vs {
            if !sim.is_offline(e) {
                let now = sim.now();
                let _ = sim.node_mut(e).settle(*v, now);
            }
        }
    }
    let settled = |s: &VirtualNet| {
        honest.iter().all(|k| {
            vs.iter().all(|v| {
                s.channel(*k, *v)
                    .is_none_or(|c| c.phase() == VirtualPhase::Released)
            })
        })
    };
    sim.run_until(300, settled);
    if let Attack::Hoard { after, .. } = &case.attack {
        hoard_acts(&mut sim, v, after).await;
        sim.run(30);
    }
    // Every honest operator wants its funds out: a ledger with nothing left in it is closed, one still hosting
    // V's leaf is challenged (after a first round for the cooperative way), and the chain's clock runs on.
    let all_closed = |s: &VirtualNet| {
        honest.iter().all(|k| {
            s.ledgers_of(*k)
                .iter()
                .all(|h| s.ledger_phase(*k, *h) == Some(Phase::Closed))
        })
    };
    for round in 0..8 {
        for k in honest.clone() {
            for h in sim.ledgers_of(k) {
                if sim.ledger_phase(k, h) != Some(Phase::Running) {
                    continue;
                }
                let (now, id) = (sim.now(), sim.hop(h));
                let empty = sim.table(k, h).is_none_or(|t| t.is_empty());
                if empty {
                    let _ = sim.node_mut(k).ledger_mut().close(id, now);
                } else if round > 0 {
                    let _ = sim.node_mut(k).ledger_mut().challenge(id);
                }
            }
        }
        if sim.run_until(200, all_closed) {
            break;
        }
        sim.chain().advance_time(WINDOW + 1).await.unwrap();
        sim.run(20);
    }
    let (end, end_total) = sim.holdings();

    // ---- invariants
    let report = |sim: &VirtualNet| {
        format!(
            "phases V {:?}; ledgers {:?}; landed {:?}; failed {:?}",
            (0..n)
                .map(|k| sim.channel(k, v).map(|c| c.phase()))
                .collect::<Vec<_>>(),
            (0..n)
                .map(|k| sim
                    .ledgers_of(k)
                    .iter()
                    .map(|h| sim.ledger_phase(k, *h))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            sim.landed(),
            sim.failed()
                .iter()
                .fold(BTreeMap::<&String, usize>::new(), |mut m, (_, f)| {
                    *m.entry(f).or_default() += 1;
                    m
                })
        )
    };
    prop_assert!(
        sim.conflicting_finals().is_none(),
        "{:?}",
        sim.conflicting_finals()
    );
    prop_assert_eq!(end_total, total, "funds not conserved");
    for k in &honest {
        let k = *k;
        if k == 0 || k == last {
            // What it put into its virtual channels, and what it holds there by its own accounting.
            let (mut put_in, mut own) = (U256::ZERO, U256::ZERO);
            for v in &vs {
                if let Some(c) = sim.channel(k, *v) {
                    let me = c
                        .params()
                        .participants
                        .iter()
                        .position(|p| *p == sim.addr(k));
                    put_in += me
                        .map(|i| c.prefund().outcome.assets[0].balances[i])
                        .unwrap_or_default();
                    if me == Some(0) {
                        // The proposer pays every hub's fee.
                        put_in += U256::from(FEE * (n as u64 - 2));
                    }
                    own += c.balance(0);
                }
            }
            prop_assert!(
                end[k] + put_in >= start[k] + own,
                "honest endpoint {} ends with {} of {} (put {} into its channels, holds {} there): {}",
                k,
                end[k],
                start[k],
                put_in,
                own,
                report(&sim)
            );
        } else {
            // Its fee for every V it holds the certificate of (V got past its pre-fund: the fee in its left leaf is
            // its own, whatever happens on-chain); nothing lost on the others.
            let earned = vs
                .iter()
                .filter(|v| sim.channel(k, **v).is_some_and(|c| c.is_funded()))
                .count() as u64
                * FEE;
            prop_assert!(
                end[k] >= start[k] + U256::from(earned),
                "honest intermediary {} ends with {} of {} (earned fees {}): {}",
                k,
                end[k],
                start[k],
                earned,
                report(&sim)
            );
        }
    }
    // A byzantine member that vanished may still be owed what V's outcome gives its side of a ledger: no honest member
    // claims funds that are not its own (no transaction for nothing at stake), so it comes back for them, and
    // "every ledger paid out" below checks that nothing stays locked for good. The honest members' own balances and
    // fees are checked above, as they stood before it came back.
    if case.vanish {
        for k in &byzantine {
            sim.set_offline(*k, false);
        }
        for _ in 0..3 {
            sim.run(50);
            sim.chain().advance_time(WINDOW + 1).await.unwrap();
        }
        sim.run(50);
    }

    for h in sim.hops().to_vec() {
        let held = sim.client().holdings(h, ETH).await.unwrap().held();
        prop_assert!(
            held.is_zero(),
            "ledger {} still holds {}: {}",
            h,
            held,
            report(&sim)
        );
    }
    prop_assert!(
        all_closed(&sim),
        "an honest member's ledger is not closed: {}",
        report(&sim)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(64),
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn honest_members_get_their_due_whatever_byzantine_members_do(case in case(false)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_case(case))?;
    }
}

proptest! {
    // 400 cases: with hole 6 put back (the head's timestamp for the confirmed blocks), 200 found it in 5 runs of 6.
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(400),
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn honest_members_get_their_due_whatever_hoarding_endpoints_do(case in case(true)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_case(case))?;
    }
}

#[tokio::test]
async fn s5_a_final_signed_by_the_whole_path_concludes_v_over_a_newer_endpoint_state() {
    let (mut sim, v) = one_hub_with_v(10);
    let now = sim.now();
    sim.node_mut(0).settle(v, now).unwrap();
    sim.run(10);
    let fin = sim.channel(1, v).unwrap().final_signed().unwrap();
    // Colluding A and B register a state of their own above the final's version, giving A everything; the hub
    // (which paid B 30 in its ledger with B by the final) concludes V with the final. S5: a final signed by the
    // whole path concludes at once, even while a challenge is pending.
    let params = v_params(&sim, v);
    let cert = sim.channel(0, v).unwrap().certificate().unwrap();
    let newer = v_state(&sim, v, fin.version() + 1, 100, false);
    let sigs = endpoint_sigs(&sim, &newer);
    sim.client()
        .challenge(sim.addr(0), &params, &newer, &sigs, Some(&cert))
        .await
        .unwrap();
    let concluded = sim
        .client()
        .conclude(sim.addr(1), &params, &fin.state, &fin.sigs)
        .await;
    assert!(concluded.is_ok(), "{concluded:?}");
}

#[tokio::test]
async fn s7_a_payee_keeps_a_move_to_redeem_with_when_the_other_burns_them() {
    let (mut sim, v) = one_hub_with_v(10);
    // A registers V's certificate and plays every move max_moves allows, moving nothing.
    let params = v_params(&sim, v);
    let cert = sim.channel(0, v).unwrap().certificate().unwrap();
    sim.client()
        .challenge(sim.addr(0), &params, &cert.state, &cert.sigs, None)
        .await
        .unwrap();
    let mut from = cert.state.clone();
    for _ in 0..params.maxMoves.to::<u64>() {
        let to = payment::pay(&params, &from, 0, &[U256::ZERO]).unwrap();
        let sig = sim.sign(0, &to);
        sim.client()
            .progress(sim.addr(0), &params, &from, &to, 0, &sig)
            .await
            .unwrap();
        from = to;
    }
    // B's node redeems A's voucher for 10 on top of that.
    sim.run(10);
    assert!(
        sim.landed().contains(&(2, "progress V")),
        "B could not redeem: {:?}",
        sim.failed()
    );
}
