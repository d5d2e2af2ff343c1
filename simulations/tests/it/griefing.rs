//! S17, griefing bonds, property-based on the embedded chain: a participant of a bonded ledger channel registers a
//! stale state it holds (any state both signed, generated among every state of the channel's life) from its own
//! account and goes away; the honest node answers with its newest state, and once the channel finalized it is
//! paid and takes its own bond back.
//!
//! Invariants, whatever state is registered: the victim is paid its whole balance in its newest state, gets its own
//! bond back, and the chain holds no bond afterwards. A state at least `BOND_GRACE` (66) versions stale costs the
//! griefer its bond, and the griefer ends poorer than its victim: each side's cost is the gas it spent from the
//! attack on, priced at `GAS_PRICE`, minus the bonds it took in net. A state less stale than that may be an honest
//! challenger's (its own proposals in flight), so its bond comes back; the griefer still pays more gas for its
//! challenge than the victim pays for its answer and the reclaim of its own bond.
//!
//! Cases: `FERRY_PROPTEST_CASES / 4` (default 16: a case runs a channel's whole life on the embedded chain).

use crate::common::*;
use alloy::primitives::U256;
use alloy::primitives::aliases::U96;
use ferry_adjudicator::Chain;
use ferry_ledger::SignedState;
use ferry_ledger::protocol::{BOND_GRACE, Config, Phase};
use ferry_ledger::store::MemoryStore;
use ferry_simulations::ledger_net::LedgerNet;
use proptest::prelude::*;

/// The bond in the params: a node's default, 0.001 ETH.
const BOND: u64 = 1_000_000_000_000_000;
/// The gas price the costs are compared at: the default bond's reference (9 gwei).
const GAS_PRICE: u64 = 9_000_000_000;

fn bonded() -> Config {
    let mut c = config();
    c.durations.challenge_bond = U96::from(BOND);
    c
}

fn supported(net: &LedgerNet<MemoryStore>, i: usize, id: alloy::primitives::B256) -> SignedState {
    net.parties[i]
        .node
        .as_ref()
        .and_then(|n| n.channel(&id))
        .and_then(|c| c.supported().cloned())
        .expect("a supported state")
}

/// Runs one case and checks its invariants.
async fn grief(
    payments: Vec<(bool, u64)>,
    back: usize,
    griefer: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let victim = 1 - griefer;
    let (mut net, id) = running_channel_with(bonded(), 1, seed).await;
    let params = channel_params(&mut net, id);
    prop_assert_eq!(
        params.challengeBond,
        U96::from(BOND),
        "the opener wrote its bond"
    );
    let mut held = vec![supported(&net, griefer, id)];
    for (by_victim, amount) in payments {
        let payer = if by_victim { victim } else { griefer };
        let now = net.now;
        net.node(payer)
            .pay(id, ETH, U256::from(amount), now)
            .expect("pay");
        let quiet = net.run_until(200, |n| n.quiet()).await.expect("run");
        prop_assert!(quiet, "the payment did not settle");
        held.push(supported(&net, griefer, id));
    }
    let newest = supported(&net, victim, id);
    let stale = held[held.len() - 1 - back.min(held.len() - 1)].clone();
    prop_assume!(stale.version() < newest.version());

    let balance = |net: &LedgerNet<MemoryStore>, i: usize| {
        let (chain, who) = (net.chain.clone(), net.address(i));
        async move { chain.balance(who).await.expect("balance") }
    };
    let before = [balance(&net, 0).await, balance(&net, 1).await];
    let victim_gas_before = net.parties[victim].gas_used;
    let landed_before = net.landed.len();
    // The griefer registers the stale state from its own account, bond attached, and goes away.
    let receipt = net
        .client
        .challenge(
            net.address(griefer),
            &params,
            &stale.state,
            &stale.sigs,
            None,
        )
        .await
        .expect("the stale challenge lands");
    net.crash(griefer);
    let griefer_gas = receipt.gas_used;
    steps_silent(&mut net, 20).await;
    after_window(&mut net, 1).await;
    let done = net
        .run_until(400, |n| {
            matches!(phase(n, victim, id), Some(Phase::Finalized | Phase::Closed))
        })
        .await
        .expect("run");
    prop_assert!(done, "the victim's channel did not finalize");
    // Let the withdrawal (the follower waits its grace period) and the bond's reclaim land.
    steps_silent(&mut net, 40).await;
    let (poster, amount) = net.client.bond_of(id).await.expect("bondOf");
    prop_assert!(
        amount.is_zero(),
        "a bond is still held by {poster}: the victim did not reclaim its own"
    );
    let after = [balance(&net, 0).await, balance(&net, 1).await];
    let paid = |i: usize| newest.state.outcome.assets[0].balances[i];
    // The embedded chain charges no gas: a balance moves by the payout and the bonds only.
    let bonds_in = |i: usize| -> i128 {
        let delta =
            i128::try_from(after[i]).expect("fits") - i128::try_from(before[i]).expect("fits");
        delta - i128::try_from(paid(i)).expect("fits")
    };
    let victim_gas = net.parties[victim].gas_used - victim_gas_before;
    prop_assert!(victim_gas > 0, "the victim answered on-chain");
    if newest.version() >= stale.version() + BOND_GRACE {
        prop_assert_eq!(
            bonds_in(griefer),
            -i128::from(BOND),
            "the griefer lost its bond"
        );
        prop_assert_eq!(
            bonds_in(victim),
            i128::from(BOND),
            "the victim took the griefer's bond and got its own back"
        );
        let cost = |gas: u64, bonds: i128| i128::from(gas) * i128::from(GAS_PRICE) - bonds;
        let (griefer_cost, victim_cost) = (
            cost(griefer_gas, bonds_in(griefer)),
            cost(victim_gas, bonds_in(victim)),
        );
        prop_assert!(
            griefer_cost > victim_cost,
            "the griefer spent {griefer_cost} wei, its victim {victim_cost}"
        );
    } else {
        prop_assert_eq!(
            bonds_in(griefer),
            0,
            "within the grace the griefer's bond comes back"
        );
        prop_assert_eq!(bonds_in(victim), 0, "the victim's own bond came back");
        // The victim's own answer and reclaim (the griefer's node is down: every transaction since is the victim's).
        let answer: u64 = net.landed[landed_before..]
            .iter()
            .filter(|(name, _)| matches!(*name, "challenge" | "reclaimBond"))
            .map(|(_, gas)| gas)
            .sum();
        prop_assert!(
            griefer_gas > answer,
            "the griefer's challenge cost {griefer_gas} gas, the victim's answer and reclaim {answer}"
        );
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(16, |n| (n / 4).max(1))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn s17_a_griefer_registering_a_stale_state_pays_more_than_its_victim(
        payments in proptest::collection::vec((any::<bool>(), 1..1_000u64), 70..90),
        far in any::<bool>(),
        depth in any::<u16>(),
        griefer in 0..2usize,
        seed in any::<u64>(),
    ) {
        // Half the cases register a state at least BOND_GRACE versions stale, half one within it.
        let grace = BOND_GRACE as usize;
        let back = if far {
            grace + usize::from(depth) % (payments.len() - grace + 1)
        } else {
            1 + usize::from(depth) % (grace - 1)
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(grief(payments, back, griefer, seed))?;
    }
}

/// The adjudicator's grace is the ledger protocol's (which covers a leader's proposals in flight, `MAX_ABANDONED`).
#[tokio::test]
async fn s17_the_adjudicators_bond_grace_is_the_protocols() {
    use alloy::sol_types::SolCall;
    use ferry_ledger::contracts::IAdjudicator::BOND_GRACECall;
    let net = LedgerNet::in_memory(2, config(), 1).await.expect("net");
    let out = net
        .chain
        .call(
            net.chain.adjudicator(),
            BOND_GRACECall {}.abi_encode().into(),
        )
        .await
        .expect("call");
    let grace = BOND_GRACECall::abi_decode_returns(&out).expect("decode");
    assert_eq!(grace, U256::from(BOND_GRACE));
}

/// The leader's own proposals, refused or left pending by a hoarding follower, are states it signed and never got
/// back countersigned: when the follower goes silent and the leader challenges with its newest state signed by
/// both, the follower completes the newest of them and registers it over the leader's challenge. That is not an
/// answer to a stale state, and the leader's bond comes back to it (it is within `BOND_GRACE`).
#[tokio::test]
async fn s17_a_hoarder_completing_the_leaders_own_proposals_never_takes_its_bond() {
    let mut a = attacked_channel_with(bonded(), 7).await;
    let mut hoard = Vec::new();
    for _ in 0..3 {
        let now = a.net.now;
        a.net
            .node(0)
            .pay(a.id, ETH, U256::from(10u8), now)
            .expect("pay");
        steps_rejecting(&mut a.net, a.id, &mut hoard, 3).await;
    }
    let now = a.net.now;
    a.net
        .node(0)
        .pay(a.id, ETH, U256::from(10u8), now)
        .expect("pay");
    hoard.extend(last_proposal(&mut a.net, 3).await);
    assert!(
        hoard.len() >= 2,
        "the leader signed proposals the hoarder kept"
    );
    let before = a.net.chain.balance(a.honest).await.expect("balance");
    // The follower is silent: the leader times out and challenges with its newest state signed by both.
    steps_silent(&mut a.net, 100).await;
    let (poster, amount) = a.net.client.bond_of(a.id).await.expect("bondOf");
    assert_eq!(
        (poster, amount),
        (a.honest, U256::from(BOND)),
        "the leader challenged"
    );
    // The hoarder completes the leader's newest proposal and registers it over the leader's challenge.
    let (state, sig) = hoard
        .iter()
        .max_by_key(|(s, _)| s.version)
        .cloned()
        .expect("a proposal");
    let sigs = complete(&a.net, &state, sig);
    a.net
        .client
        .challenge(a.attacker, &a.params, &state, &sigs, None)
        .await
        .expect("the hoarder's registration lands");
    assert_eq!(
        a.net.chain.balance(a.honest).await.expect("balance"),
        before,
        "the leader's bond came back"
    );
    let (poster, _) = a.net.client.bond_of(a.id).await.expect("bondOf");
    assert_eq!(poster, a.attacker, "only the hoarder's own bond is held");
}
