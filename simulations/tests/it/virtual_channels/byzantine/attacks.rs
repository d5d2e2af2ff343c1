//! The scheduled attacks: what the byzantine members do, with their keys, their tampered nodes and raw
//! messages and transactions (see the module above).

use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::app::payment;
use ferry_ledger::protocol::{LedgerMessage, Op as LedgerOp, Proposal, ops};
use ferry_ledger::{Certificate, SignedState};
use ferry_simulations::virtual_net::VirtualNet;
use ferry_virtual::protocol::{Message, VirtualMessage, registry};
use proptest::prelude::*;

use super::case::{Attack, Case, HoardAct, Target};
use super::{WINDOW, endpoint_sigs, v_params, v_state};

/// What the attack itself established (checked right away; the end invariants are checked for every case).
pub(super) async fn perform(
    sim: &mut VirtualNet,
    case: &Case,
    v: B256,
) -> Result<(), TestCaseError> {
    let n = sim.members();
    let last = n - 1;
    match &case.attack {
        Attack::None => {}
        Attack::TwoFinals {
            a_pct_first,
            a_pct_second,
        } => {
            let Some(version) = sim
                .channel(0, v)
                .map(|c| c.current().version.to::<u64>() + 1)
            else {
                return Ok(());
            };
            let second = if a_pct_first == a_pct_second {
                100 - a_pct_first
            } else {
                *a_pct_second
            };
            let f1 = v_state(sim, v, version, *a_pct_first, true);
            let f2 = v_state(sim, v, version, second, true);
            for (f, from, to) in [(f1, 0, 1), (f2, last, last - 1)] {
                let mut sigs = vec![None; n];
                sigs[0] = Some(sim.sign(0, &f));
                sigs[last] = Some(sim.sign(last, &f));
                let _ = sim.inject(
                    from,
                    to,
                    Message::Virtual(VirtualMessage::Sigs {
                        params: None,
                        state: f,
                        sigs,
                        fees: vec![],
                    }),
                );
            }
            sim.run(40);
        }
        Attack::Refund { by, on_chain } => {
            let att = by.index(n);
            let Some(ch) = sim.channel(att, v).cloned() else {
                return Ok(());
            };
            if *on_chain {
                let Some(pre) = ch.prefund_signed() else {
                    return Ok(());
                };
                let _ = sim
                    .client()
                    .challenge(sim.addr(att), ch.params(), &pre.state, &pre.sigs, None)
                    .await;
            } else {
                let (hop, hub) = if att == 0 {
                    (sim.hop(0), 1)
                } else {
                    (sim.hop(n - 2), n - 2)
                };
                let node = sim.node(att);
                let lc = node.ledger().channel(&hop).unwrap();
                let (lparams, me) = (lc.params().clone(), lc.me());
                if let (Some(base), Some(mut table)) =
                    (lc.supported().cloned(), node.ledger().table(&hop).cloned())
                    && table.contains(&v)
                {
                    let leaf = table.get(&v).unwrap().clone();
                    let refund =
                        registry::split(&lparams, ch.params(), ch.prefund(), &leaf).unwrap();
                    let batch = vec![Proposal {
                        proposer: me,
                        seq: 1_000,
                        op: LedgerOp::RemoveSub {
                            channel_id: v,
                            payout: refund,
                        },
                    }];
                    if let Ok((s, _)) =
                        ops::build(&base.state, &mut table, &batch, base.version() + 1)
                    {
                        let sig = sim.sign(att, &s);
                        // The attacker leads its ledger (see `open_ledgers`), so it proposes.
                        prop_assert_eq!(me, 0);
                        let _ = sim.inject(
                            att,
                            hub,
                            Message::Ledger(LedgerMessage::Propose {
                                state: s,
                                sig,
                                batch,
                            }),
                        );
                    }
                }
            }
            sim.run(30);
        }
        Attack::KeepOpen {
            registrations,
            moves,
            a_pcts,
        } => {
            let Some(cert) = sim.channel(0, v).and_then(|c| c.certificate()) else {
                return Ok(());
            };
            let params = v_params(sim, v);
            let max_moves = params.maxMoves.to::<u64>();
            let mut first_deadline = None;
            for r in 0..*registrations {
                let s = v_state(
                    sim,
                    v,
                    10 + u64::from(r),
                    a_pcts[usize::from(r) % a_pcts.len()],
                    false,
                );
                let sigs = endpoint_sigs(sim, &s);
                let res = sim
                    .client()
                    .challenge(sim.addr(0), &params, &s, &sigs, Some(&cert))
                    .await;
                sim.run(5);
                let status = sim.client().status_of(v).await.unwrap();
                if res.is_ok() {
                    // S5: the first challenge fixes the deadline; replacements keep it.
                    let d = *first_deadline.get_or_insert(status.finalizes_at);
                    if status.moves == [0, 0] {
                        prop_assert_eq!(status.finalizes_at, d, "a replacement moved the deadline");
                    }
                }
                sim.chain().advance_time(WINDOW / 5).await.unwrap();
                sim.run(5);
            }
            for m in 0..*moves {
                // The registered state, as the hub's node holds it (its own moves included).
                let from = sim.channel(1, v).unwrap().current();
                let mover = if m % 2 == 0 { 0 } else { last };
                let bal = from.outcome.assets[0].balances[mover];
                if bal.is_zero() || from.version.to::<u64>() < 2 {
                    continue;
                }
                let Ok(to) = payment::pay(
                    &params,
                    &from,
                    mover,
                    &[bal / U256::from(2u8) + U256::from(1u8)],
                ) else {
                    continue;
                };
                let sig = sim.sign(mover, &to);
                let before = sim.client().status_of(v).await.unwrap();
                let res = sim
                    .client()
                    .progress(sim.addr(mover), &params, &from, &to, mover, &sig)
                    .await;
                let made = before.moves[usize::from(mover == last)];
                if u64::from(made) >= max_moves {
                    // S7: no move beyond the mover's own max_moves.
                    prop_assert!(res.is_err(), "a move beyond max_moves landed");
                }
                sim.run(5);
            }
            let status = sim.client().status_of(v).await.unwrap();
            prop_assert!(status.moves.iter().all(|m| u64::from(*m) <= max_moves));
            if let Some(d) = first_deadline {
                // S5 and S7: only moves push the deadline, each by at most one window from its own time.
                let now = sim.chain_time();
                prop_assert!(status.finalizes_at <= d.max(now + WINDOW));
            }
        }
        Attack::WithholdPostfund { by } => {
            sim.run(60);
            // S8: nobody but the withholder can hold V's certificate.
            let k = by.index(n);
            for m in (0..n).filter(|m| *m != k) {
                prop_assert!(
                    !sim.channel(m, v).is_some_and(|c| c.is_funded()),
                    "member {} holds a certificate without the withholder's signature",
                    m
                );
            }
        }
        Attack::MoveWhileUnfunded { a_pct, .. } => {
            sim.run(60);
            // S8: nobody holds V's certificate.
            for k in 0..n {
                prop_assert!(
                    !sim.channel(k, v).is_some_and(|c| c.is_funded()),
                    "member {} holds a certificate while a ledger lacks the leaf",
                    k
                );
            }
            let params = v_params(sim, v);
            let post = sim.channel(0, v).unwrap().postfund();
            // A and B move V's balance in a state of their own, with a certificate they complete with their own
            // signatures: refused on-chain.
            let s = v_state(sim, v, 2, *a_pct, false);
            let sigs = endpoint_sigs(sim, &s);
            let fake = Certificate {
                state: post.clone(),
                sigs: (0..n)
                    .map(|k| sim.sign(if k == last { last } else { 0 }, &post))
                    .collect(),
            };
            let res = sim
                .client()
                .challenge(sim.addr(0), &params, &s, &sigs, Some(&fake))
                .await;
            prop_assert!(
                res.is_err(),
                "an endpoint state of a V never funded was registered"
            );
            // The pre-fund (signed by the whole path) can be registered; no move can follow it (S7: V never
            // certified).
            if let Some(pre) = sim.channel(0, v).and_then(|c| c.prefund_signed())
                && sim
                    .client()
                    .challenge(sim.addr(0), &params, &pre.state, &pre.sigs, None)
                    .await
                    .is_ok()
                && let Ok(to) = payment::pay(&params, &pre.state, last, &[U256::from(1u8)])
            {
                let sig = sim.sign(last, &to);
                let res = sim
                    .client()
                    .progress(sim.addr(last), &params, &pre.state, &to, last, &sig)
                    .await;
                prop_assert!(res.is_err(), "a move in a V never certified landed");
            }
            sim.run(10);
        }
        Attack::BurnMoves { by } => {
            let k = by.index(n);
            let Some(cert) = sim.channel(k, v).and_then(|c| c.certificate()) else {
                return Ok(());
            };
            let params = v_params(sim, v);
            let mut from = cert.state.clone();
            if sim
                .client()
                .challenge(sim.addr(k), &params, &cert.state, &cert.sigs, None)
                .await
                .is_ok()
            {
                for _ in 0..params.maxMoves.to::<u64>() {
                    let Ok(to) = payment::pay(&params, &from, k, &[U256::ZERO]) else {
                        break;
                    };
                    let sig = sim.sign(k, &to);
                    if sim
                        .client()
                        .progress(sim.addr(k), &params, &from, &to, k, &sig)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    from = to;
                }
            }
            sim.run(20);
        }
        Attack::Hoard { during, .. } => hoard_acts(sim, v, during).await,
        Attack::StaleChallenges { who, target, times } => {
            let k = who.index(n);
            for t in 0..*times {
                match target {
                    Target::V => {
                        let Some(ch) = sim.channel(k, v).cloned() else {
                            break;
                        };
                        let states: Vec<SignedState> =
                            [ch.prefund_signed(), ch.certificate().map(SignedState::from)]
                                .into_iter()
                                .flatten()
                                .collect();
                        if let Some(s) = states.get(usize::from(t) % states.len().max(1)) {
                            let _ = sim
                                .client()
                                .challenge(sim.addr(k), ch.params(), &s.state, &s.sigs, None)
                                .await;
                        }
                    }
                    Target::LedgerTowardA | Target::LedgerTowardB => {
                        let hop = if *target == Target::LedgerTowardA {
                            k - 1
                        } else {
                            k
                        };
                        let lparams = sim
                            .node(k)
                            .ledger()
                            .channel(&sim.hop(hop))
                            .unwrap()
                            .params()
                            .clone();
                        let old = sim.signed_states(k, hop);
                        if let Some(s) = old.get(usize::from(t) % old.len().max(1)) {
                            let _ = sim
                                .client()
                                .challenge(sim.addr(k), &lparams, &s.state, &s.sigs, None)
                                .await;
                        }
                    }
                }
                sim.run(20);
            }
        }
    }
    Ok(())
}

/// A hoarding endpoint's actions, one step apart.
pub(super) async fn hoard_acts(sim: &mut VirtualNet, v: B256, acts: &[HoardAct]) {
    let n = sim.members();
    for act in acts {
        let now = sim.now();
        match act {
            HoardAct::ReAdd { by } | HoardAct::Remove { by } => {
                let k = by.index(n);
                let hop = if k == 0 { sim.hop(0) } else { sim.hop(n - 2) };
                let (Some(ch), Some(lparams)) = (
                    sim.channel(k, v).cloned(),
                    sim.node(k)
                        .ledger()
                        .channel(&hop)
                        .map(|l| l.params().clone()),
                ) else {
                    continue;
                };
                if let HoardAct::ReAdd { .. } = act {
                    if let Ok(leaf) =
                        registry::leaf_in(&lparams, ch.params(), ch.prefund(), ch.fees())
                        && let Ok(contributions) =
                            registry::split(&lparams, ch.params(), ch.prefund(), &leaf)
                    {
                        let _ = sim.node_mut(k).ledger_mut().add_sub_channel(
                            hop,
                            leaf,
                            contributions,
                            now,
                        );
                    }
                } else if let Some(leaf) = sim
                    .node(k)
                    .ledger()
                    .table(&hop)
                    .and_then(|t| t.get(&v))
                    .cloned()
                {
                    let by_state = ch
                        .final_signed()
                        .map(|f| f.state)
                        .unwrap_or_else(|| ch.prefund().clone());
                    if let Ok(payout) = registry::split(&lparams, ch.params(), &by_state, &leaf) {
                        let _ = sim
                            .node_mut(k)
                            .ledger_mut()
                            .remove_sub_channel(hop, v, payout, now);
                    }
                }
            }
            HoardAct::Replay { by, pick } => {
                let k = by.index(n);
                let kept = sim.inbox(k);
                if !kept.is_empty() {
                    let (from, m) = kept[usize::from(*pick) % kept.len()].clone();
                    let _ = sim.inject(k, from, m);
                }
            }
            HoardAct::RegisterLedger { by, pick } => {
                let k = by.index(n);
                let hop = if k == 0 { 0 } else { n - 2 };
                let old = sim.signed_states(k, hop);
                if let Some(lparams) = sim
                    .node(k)
                    .ledger()
                    .channel(&sim.hop(hop))
                    .map(|l| l.params().clone())
                    && !old.is_empty()
                {
                    let s = &old[usize::from(*pick) % old.len()];
                    let _ = sim
                        .client()
                        .challenge(sim.addr(k), &lparams, &s.state, &s.sigs, None)
                        .await;
                }
            }
            HoardAct::RegisterV { a_pct } => {
                let Some(cert) = sim.channel(0, v).and_then(|c| c.certificate()) else {
                    continue;
                };
                let params = v_params(sim, v);
                let status = sim.chain().status_of(v).await.unwrap();
                let version = status.version.max(1) + 1;
                let s = v_state(sim, v, version, *a_pct, false);
                let sigs = endpoint_sigs(sim, &s);
                let _ = sim
                    .client()
                    .challenge(sim.addr(0), &params, &s, &sigs, Some(&cert))
                    .await;
            }
            HoardAct::NearDeadline { secs } => {
                // The honest members first get the few blocks they need to answer what is registered (the
                // liveness S6 assumes): the clock then jumps, not their reaction time.
                let confirmations = sim.chain().confirmations();
                sim.run(confirmations as usize + 3);
                let mut ids = vec![v];
                ids.extend(sim.hops().iter().copied());
                let now = sim.chain_time();
                let mut nearest: Option<u64> = None;
                for id in ids {
                    let at = sim.chain().status_of(id).await.unwrap().finalizes_at;
                    if at > now + u64::from(*secs) {
                        nearest = Some(nearest.map_or(at, |n| n.min(at)));
                    }
                }
                if let Some(at) = nearest {
                    sim.chain().set_time(at - u64::from(*secs));
                }
            }
            HoardAct::Run { steps } => sim.run(usize::from(*steps)),
        }
        sim.tick();
    }
}
