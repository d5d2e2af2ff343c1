//! Attacks an outside review found on the Rust ledger core, kept as regression tests on the embedded chain: each
//! one plays the attack and asserts the defence (each failed before its fix).

use crate::common::*;
use alloy::primitives::{B256, U256};
use ferry_adjudicator::{Chain, watcher};
use ferry_ledger::protocol::{ChainTx, LedgerMessage, Phase};
use ferry_ledger::{Signature, State};

/// S14 (every state a participant signed may be completed and registered by its peer): the honest leader (party 0)
/// asks to close and proposes the final F; the attacker (party 1) never sends its countersignature, completes F
/// itself and finalizes the ledger with the plain `conclude` (no payout). The honest node sees `Concluded(v)` with
/// F only in flight, not supported: it must still find F (it signed one state per version) and withdraw with it
/// after its grace period. Before the fix it looked only at the registered and supported states, never withdrew,
/// and its whole balance stayed in the adjudicator for as long as the attacker liked.
#[tokio::test]
async fn s14_a_plain_conclude_of_a_proposed_final_still_pays_the_honest_leader() {
    let (mut net, id) = running_channel(1, 7).await;
    let params = channel_params(&mut net, id);
    let adjudicator = net.chain.adjudicator();
    // The attacker pays the honest party everything it has: it has nothing left to lose in the channel.
    let now = net.now;
    net.node(1)
        .pay(id, ETH, U256::from(DEPOSIT), now)
        .expect("pay");
    let paid = net
        .run_until(100, |n| {
            n.parties[0]
                .node
                .as_ref()
                .and_then(|x| x.channel(&id))
                .is_some_and(|c| c.balance(&ETH) == U256::from(2 * DEPOSIT))
        })
        .await
        .expect("run");
    assert!(paid);
    // From now on the attacker owns its inbox.
    net.divert_to = Some(1);
    let now = net.now;
    net.node(0).close(id, now).expect("close");
    let mut final_state = None;
    for _ in 0..20 {
        net.step().await.expect("step");
        for m in std::mem::take(&mut net.diverted) {
            if let LedgerMessage::Propose { state, sig, .. } = m.msg
                && state.isFinal
            {
                final_state = Some((state, sig));
            }
        }
        if final_state.is_some() {
            break;
        }
    }
    let (fin, honest_sig) = final_state.expect("the honest leader proposed a final");
    let sigs = complete(&net, &fin, honest_sig);
    let attacker = net.address(1);
    net.client
        .conclude(attacker, &params, &fin, &sigs)
        .await
        .expect("plain conclude");
    let held_before = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held_before, U256::from(2 * DEPOSIT));
    // The honest node runs for a long time (many grace periods); the attacker stays silent.
    steps_silent(&mut net, 400).await;
    // The honest node withdrew with F: the whole channel (all of it the honest party's) is paid out.
    assert!(
        net.landed.iter().any(|(n, _)| *n == "withdraw"),
        "the honest node withdrew: {:?}",
        net.landed
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    let held_after = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held_after, U256::ZERO, "nothing stays in the adjudicator");
}

/// S16 and "nothing a stranger sends makes a node spend gas": while an honest node's funding deposit is in flight, a
/// stranger deposits 1 wei for it. The node sends nothing more: its deposit takes only what is missing when it
/// lands. Before the fix the node keyed its "deposit due" guard by its own total on-chain, saw it move 0 → 1 and
/// sent a second full deposit that took nothing and burnt gas, once per dust deposit.
#[tokio::test]
async fn s16_a_strangers_dust_never_makes_a_funding_node_send_another_deposit() {
    // Hand-driven: the nodes' messages are passed by hand, the chain is the embedded one (1 confirmation).
    let (mut net, id) = prefunded_by_hand(11).await;
    let a0 = net.address(0);
    let first = net
        .node(0)
        .poll_tx()
        .expect("the honest node's funding deposit");
    assert!(matches!(
        first,
        ChainTx::Deposit { expected_held, amount, .. }
            if expected_held.is_zero() && amount == U256::from(DEPOSIT)
    ));
    assert!(net.node(0).poll_tx().is_none());
    // The deposit is in the mempool; a stranger's 1 wei for party 0 lands first.
    let stranger = net.chain.accounts()[0];
    net.client
        .deposit(stranger, ETH, id, 0, U256::ZERO, U256::from(1))
        .await
        .expect("dust");
    let chain: std::sync::Arc<dyn Chain> = net.chain.clone();
    watcher::sync::<_, ferry_adjudicator::Error>(chain.as_ref(), net.node(0), 0)
        .await
        .expect("sync");
    // The stranger's deposit does not make the honest node ask for another deposit.
    assert!(net.node(0).poll_tx().is_none(), "no second deposit");
    // The first one lands and takes what is missing: the total is what was agreed.
    watcher::submit(&net.client, a0, &first)
        .await
        .expect("first");
    let held = net.client.holdings(id, ETH).await.expect("holdings");
    assert_eq!(
        held.deposited[0],
        U256::from(DEPOSIT),
        "party 0's total is what was agreed"
    );
}

/// S14 (a node's guarantees hold against every state it signed, refused proposals included): the attacker refuses
/// the honest leader's proposal v that adds a leaf (the honest party locks `LEAF` in it), then refuses v+1 too (a
/// payment), and registers v, completed with its own signature. The honest node must adopt v with its table change,
/// so that its table is the one the chain finalized and the leaf can be claimed (the virtual layer claims when
/// `table.root() == subRoot`). Before the fix the leader remembered only the last refused proposal, did not adopt
/// v, and the `LEAF` it locked stayed in the adjudicator for good.
#[tokio::test]
async fn s14_a_refused_proposal_the_peer_registers_is_adopted_with_its_leaf() {
    const LEAF: u64 = 400_000;
    let Attacked {
        mut net,
        id,
        params,
        adjudicator,
        attacker: a1,
        ..
    } = attacked_channel(21).await;
    net.node(0).set_guard(Box::new(AcceptAll));
    let ctx = *net.node(0).context();
    let vid = B256::repeat_byte(0x77);
    add_own_leaf(&mut net, id, vid, LEAF);
    // The attacker rejects every proposal, keeping each with the honest signature.
    let mut hoard: Vec<(State, Signature)> = Vec::new();
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let with_leaf = hoard
        .iter()
        .find(|(s, _)| s.outcome.assets[0].locked == U256::from(LEAF))
        .cloned()
        .expect("the leaf proposal");
    // A later proposal, rejected too: it replaces the leaf proposal as the one `abandoned` remembers.
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    assert!(
        hoard
            .iter()
            .any(|(s, _)| s.version > with_leaf.0.version && s.outcome.assets[0].locked.is_zero()),
        "a newer proposal was rejected too"
    );
    // The attacker completes the forgotten leaf proposal and registers it.
    let (state, honest_sig) = with_leaf;
    let sigs = vec![honest_sig, net.parties[1].signer.sign_state(&ctx, &state)];
    net.client
        .challenge(a1, &params, &state, &sigs, None)
        .await
        .expect("challenge with the forgotten proposal");
    steps_silent(&mut net, 10).await;
    after_window(&mut net, 60).await;
    let ch = net.node(0).channel(&id).expect("ch").clone();
    let fin = ch
        .finalized_state()
        .expect("finalized by the registered state")
        .clone();
    assert_eq!(
        fin, state,
        "the ledger finalized with the forgotten proposal"
    );
    let table = net.node(0).table(&id).expect("table");
    // The honest node's table is the finalized one: the leaf it funded is there to be claimed.
    assert_eq!(
        table.root(),
        fin.outcome.subRoot,
        "the node's table is the finalized one"
    );
    assert!(table.contains(&vid), "the node keeps the leaf it funded");
    // The withdraw paid the balances; only the leaf, claimable by the table, is still held.
    assert!(net.landed.iter().any(|(n, _)| *n == "withdraw"));
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(LEAF), "the leaf waits for its claim");
}
