//! The chain side of a [`VirtualNode`]: submits what its ledgers and virtual channels ask for and feeds it the
//! adjudicator's events from its ledger node's persisted cursor on (the same watcher rule as
//! [`ferry_adjudicator::watcher`]).

use alloy::primitives::Address;
use ferry_adjudicator::{AdjudicatorClient, watcher};
use ferry_ledger::store::Store;

use super::{Tx, VirtualNode, VirtualTx};
use crate::{Error, Result};

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

fn chain_err(e: ferry_adjudicator::Error) -> Error {
    Error::Chain(e.to_string())
}

/// Submits one virtual-channel transaction from `from`.
pub async fn submit(
    client: &AdjudicatorClient,
    from: Address,
    tx: &VirtualTx,
) -> std::result::Result<ferry_adjudicator::Receipt, ferry_adjudicator::Error> {
    match tx {
        VirtualTx::Challenge {
            params,
            state,
            cert,
        } => {
            client
                .challenge(from, params, &state.state, &state.sigs, cert.as_ref())
                .await
        }
        VirtualTx::Progress {
            params,
            from: prev,
            to,
            mover,
            sig,
        } => client.progress(from, params, prev, to, *mover, sig).await,
        VirtualTx::Conclude { params, state } => {
            client
                .conclude(from, params, &state.state, &state.sigs)
                .await
        }
        VirtualTx::Claim {
            ledger,
            ledger_state,
            leaf,
            proof,
            virt,
            virt_state,
        } => {
            client
                .claim(from, ledger, ledger_state, leaf, proof, virt, virt_state)
                .await
        }
    }
}

/// One round of a node's chain duties: every transaction it asks for, submitted from `from` and reported back
/// (a revert is reported to the ledger, which asks again when still due); then every confirmed event from the
/// cursor on, and the last confirmed block with its own timestamp.
pub async fn drive<S: Store>(
    client: &AdjudicatorClient,
    from: Address,
    node: &mut VirtualNode<S>,
    now: u64,
) -> Result<Round> {
    let mut round = Round::default();
    while let Some(tx) = node.poll_tx() {
        match tx {
            Tx::Ledger(t) => match watcher::submit(client, from, &t).await {
                Ok(r) => {
                    round.landed.push((t.name(), r.gas_used));
                    node.ledger_mut().handle_tx_done(&t)?;
                }
                Err(e) => {
                    round.failed.push((t.name(), e.to_string()));
                    node.ledger_mut().handle_tx_failed(&t, e.to_string())?;
                }
            },
            Tx::Virtual(t) => match submit(client, from, &t).await {
                Ok(r) => round.landed.push((t.name(), r.gas_used)),
                Err(e) => round.failed.push((t.name(), e.to_string())),
            },
        }
    }
    let chain = client.chain();
    let head = chain.head().await.map_err(chain_err)?;
    let Some(last) = (head.number + 1).checked_sub(chain.confirmations().max(1)) else {
        return Ok(round);
    };
    let from_block = node.ledger().next_block();
    if last < from_block {
        return Ok(round);
    }
    let events = chain
        .events_between(from_block, last)
        .await
        .map_err(chain_err)?;
    for ev in &events {
        node.handle_chain_event(ev.block, ev.log_index, &ev.event, now)?;
    }
    // Chain time as of the last block read (not the head's): V or a ledger is final by a registered state only
    // once no event before its deadline can still be waiting in the unconfirmed blocks (S10).
    let confirmed = chain.block(last).await.map_err(chain_err)?;
    node.handle_block(last, confirmed.timestamp, now)?;
    round.events = events.len();
    Ok(round)
}
