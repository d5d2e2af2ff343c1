//! The chain side of a ledger node: the watcher that feeds a [`LedgerNode`] the adjudicator's events from its
//! persisted cursor on, and the submitter of the transactions its channels ask for.
//!
//! The watcher is what answers stale challenges without the user: a `ChallengeRegistered` event with an older
//! state than the node's latest supported one makes the channel ask for a `challenge` with the newer state (the
//! deadline stays, the registered state is replaced), and [`drive`] submits it. The cursor (the next block to
//! read) is committed in the node's store together with what each block changed, so a node restarted after a
//! crash reads on from where it stopped and misses no event; events it had already applied are ignored.

use ferry_ledger::protocol::{ChainTx, LedgerNode};
use ferry_ledger::store::Store;

use crate::chain::{Chain, Receipt};
use crate::client::AdjudicatorClient;
use crate::{Error, Result};

/// Reads every confirmed block from the node's cursor to the chain's confirmed head, hands each adjudicator event
/// to the node, then the last confirmed block with its own timestamp (chain time); returns how many events were handed over. Nothing new: `Ok(0)`
/// and the node is not touched.
pub async fn sync<S: Store>(
    chain: &dyn Chain,
    node: &mut LedgerNode<S>,
    now: u64,
) -> Result<usize> {
    let head = chain.head().await?;
    let Some(last) = (head.number + 1).checked_sub(chain.confirmations().max(1)) else {
        return Ok(0);
    };
    let from = node.next_block();
    if last < from {
        return Ok(0);
    }
    let events = chain.events_between(from, last).await?;
    for ev in &events {
        node.handle_chain_event(ev.block, ev.log_index, &ev.event, now)?;
    }
    // Chain time is that of the last block read, not the head's: an event in the unconfirmed blocks above it (a
    // newer state registered, a checkpoint) may still change a challenge whose deadline the head passed.
    let confirmed = chain.block(last).await?;
    node.handle_block(last, confirmed.timestamp, now)?;
    Ok(events.len())
}

/// Submits one transaction a channel asked for, from `from` (a token deposit is approved first).
pub async fn submit(
    client: &AdjudicatorClient,
    from: alloy::primitives::Address,
    tx: &ChainTx,
) -> Result<Receipt> {
    match tx {
        ChainTx::Deposit {
            channel_id,
            asset,
            participant,
            expected_held,
            amount,
        } => {
            if !asset.is_zero() {
                client.approve(from, *asset, *amount).await?;
            }
            client
                .deposit(
                    from,
                    *asset,
                    *channel_id,
                    *participant,
                    *expected_held,
                    *amount,
                )
                .await
        }
        ChainTx::ConcludeAndWithdraw { params, state } => {
            client
                .conclude_and_withdraw(from, params, &state.state, &state.sigs)
                .await
        }
        ChainTx::Challenge { params, state } => {
            client
                .challenge(from, params, &state.state, &state.sigs, None)
                .await
        }
        ChainTx::Withdraw { params, state } => client.withdraw(from, params, state).await,
        ChainTx::WithdrawPartial {
            params,
            state,
            participant,
        } => {
            client
                .withdraw_partial(from, params, &state.state, &state.sigs, *participant)
                .await
        }
    }
}

/// What one [`drive`] round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Events handed to the node.
    pub events: usize,
    /// Transactions that landed, with their gas.
    pub landed: Vec<(&'static str, u64)>,
    /// Transactions that failed, with the reason.
    pub failed: Vec<(&'static str, String)>,
}

/// One round of a node's chain duties: submits every transaction the node asks for from `from` (reporting each
/// result back to the node), then syncs the node with the chain ([`sync`]). A revert is reported to the channel,
/// which asks again when it is still due; only a store failure is an error here.
pub async fn drive<S: Store>(
    client: &AdjudicatorClient,
    from: alloy::primitives::Address,
    node: &mut LedgerNode<S>,
    now: u64,
) -> Result<Round> {
    let mut round = Round::default();
    while let Some(tx) = node.poll_tx() {
        match submit(client, from, &tx).await {
            Ok(receipt) => {
                round.landed.push((tx.name(), receipt.gas_used));
                node.handle_tx_done(&tx)?;
            }
            Err(e @ (Error::Ledger(_) | Error::Config(_) | Error::UnknownSender(_))) => {
                return Err(e);
            }
            Err(e) => {
                round.failed.push((tx.name(), e.to_string()));
                node.handle_tx_failed(&tx, e.to_string())?;
            }
        }
    }
    round.events = sync(client.chain().as_ref(), node, now).await?;
    Ok(round)
}
