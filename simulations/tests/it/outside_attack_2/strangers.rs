//! Strangers (S16): a stranger's junk-token dust never makes the leader sign or challenge.

use crate::common::*;
use alloy::primitives::U256;
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::Phase;

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
    let junk = stranger_token(&net, stranger, 10).await;
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
    after_window(&mut net, 50).await;
    assert_eq!(phase(&net, 0, id), Some(Phase::Running));
    assert_eq!(phase(&net, 1, id), Some(Phase::Running));
}
