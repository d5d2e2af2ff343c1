//! The chain driver: the one loop that serves a sans-IO protocol core on the chain. It submits the transactions
//! the core asks for and reports how each went, then feeds the core the adjudicator's events from its persisted
//! cursor on. It is generic over [`ChainDuties`] (implemented by the ledger node and by the virtual node) and over a
//! [`Submit`] that turns the core's transaction type into adjudicator calls ([`LedgerTxs`] for the ledger's).
//!
//! The watcher is what answers stale challenges without the user: a `ChallengeRegistered` event with an older
//! state than the node's latest supported one makes the channel ask for a `challenge` with the newer state (the
//! deadline stays, the registered state is replaced), and [`drive`] submits it. The cursor (the next block to
//! read) is committed in the node's store together with what each block changed, so a node restarted after a
//! crash reads on from where it stopped and misses no event; events it had already applied are ignored.

use std::future::Future;

use alloy::primitives::Address;
use ferry_ledger::protocol::{ChainDuties, ChainTx};

use crate::chain::{Chain, Receipt};
use crate::client::AdjudicatorClient;
use crate::{Error, Result};

/// What one read of the chain found: every adjudicator event in the confirmed blocks `from..=last`, and `last`'s
/// timestamp (chain time). Read without the core ([`read`]) and handed to it later ([`apply`]), so a runtime can
/// read off its loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRead {
    /// The first block read (the core's cursor when the read started).
    pub from: u64,
    /// The last block read: the chain's confirmed head then.
    pub last: u64,
    /// `last`'s timestamp.
    pub timestamp: u64,
    /// `last`'s hash, to tell later whether the chain still holds it ([`check_reorg`]).
    pub hash: alloy::primitives::B256,
    /// The events, in chain order.
    pub events: Vec<crate::chain::ChainEvent>,
}

/// Reads every confirmed block from `from` to the chain's confirmed head; `None` when there is no new confirmed
/// block.
pub async fn read(chain: &dyn Chain, from: u64) -> Result<Option<ChainRead>> {
    let head = chain.head().await?;
    let Some(last) = (head.number + 1).checked_sub(chain.confirmations().max(1)) else {
        return Ok(None);
    };
    if last < from {
        return Ok(None);
    }
    // The last block before and after the events: a reorganization in between could pair one chain's events
    // with the other's hash (and the next check would pass on that hash): read again next time instead.
    let before = chain.block(last).await?;
    let events = chain.events_between(from, last).await?;
    // Chain time is that of the last block read, not the head's: an event in the unconfirmed blocks above it (a
    // newer state registered, a checkpoint) may still change a challenge whose deadline the head passed (S10).
    let confirmed = chain.block(last).await?;
    if confirmed.hash != before.hash {
        return Ok(None);
    }
    Ok(Some(ChainRead {
        from,
        last,
        timestamp: confirmed.timestamp,
        hash: confirmed.hash,
        events,
    }))
}

/// A reorganization deeper than the confirmations: a block a node read (and acted on) is no longer on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reorg {
    /// The newest block read that is still on the chain (`None`: none of those checked is).
    pub kept: Option<u64>,
    /// The newest block read, now replaced.
    pub read_up_to: u64,
}

/// Whether the blocks read before (`known`: number and hash, oldest first) are still on the chain: `None` when
/// the newest is, else the [`Reorg`] with the newest of them that still is.
pub async fn check_reorg(
    chain: &dyn Chain,
    known: &[(u64, alloy::primitives::B256)],
) -> Result<Option<Reorg>> {
    let Some(&(read_up_to, hash)) = known.last() else {
        return Ok(None);
    };
    if chain.block(read_up_to).await?.hash == hash {
        return Ok(None);
    }
    for &(number, hash) in known.iter().rev().skip(1) {
        if chain.block(number).await?.hash == hash {
            return Ok(Some(Reorg {
                kept: Some(number),
                read_up_to,
            }));
        }
    }
    Ok(Some(Reorg {
        kept: None,
        read_up_to,
    }))
}

/// What [`checked_read`] found: a read (or nothing new), or a reorganization below the blocks read before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The blocks read before are still on the chain; what the read found.
    Read(Option<ChainRead>),
    /// They are not.
    Reorg(Reorg),
}

/// [`read`] from `from`, then [`check_reorg`] of the blocks read before (`known`): a read is returned only when
/// the blocks read before are still on the chain after it, so a reorganization that lands before or while it runs
/// is reported rather than read past (a reorganization replaces a suffix of the chain, so the newest block read
/// before is replaced by any that replaces an older one).
pub async fn checked_read(
    chain: &dyn Chain,
    from: u64,
    known: &[(u64, alloy::primitives::B256)],
) -> Result<Checked> {
    let read = read(chain, from).await?;
    if let Some(reorg) = check_reorg(chain, known).await? {
        return Ok(Checked::Reorg(reorg));
    }
    Ok(Checked::Read(read))
}

/// Hands what [`read`] found to the core: each event, then the last block with its timestamp; returns how many
/// events were handed over, or `None` for a read that does not start at the core's cursor (the core moved on
/// meanwhile), which is ignored and leaves the core untouched.
pub fn apply<C, E>(core: &mut C, read: &ChainRead, now: u64) -> Result<Option<usize>, E>
where
    C: ChainDuties + ?Sized,
    E: From<C::Error>,
{
    if read.from != core.next_block() {
        return Ok(None);
    }
    for ev in &read.events {
        core.chain_event(ev.block, ev.log_index, &ev.event, now)?;
    }
    core.block(read.last, read.timestamp, now)?;
    Ok(Some(read.events.len()))
}

/// Reads every confirmed block from the core's cursor to the chain's confirmed head, hands each adjudicator event
/// to the core, then the last confirmed block with its own timestamp (chain time); returns how many events were
/// handed over. Nothing new: `Ok(0)` and the core is not touched.
pub async fn sync<C, E>(chain: &dyn Chain, core: &mut C, now: u64) -> Result<usize, E>
where
    C: ChainDuties + ?Sized,
    E: From<Error> + From<C::Error>,
{
    match read(chain, core.next_block()).await? {
        Some(r) => Ok(apply::<C, E>(core, &r, now)?.unwrap_or(0)),
        None => Ok(0),
    }
}

/// Turns a core's transaction type into adjudicator calls.
pub trait Submit<Tx>: Sync {
    /// A short name of `tx` for logs and reports.
    fn name(&self, tx: &Tx) -> &'static str;
    /// Submits `tx` from `from`.
    fn submit(
        &self,
        client: &AdjudicatorClient,
        from: Address,
        tx: &Tx,
    ) -> impl Future<Output = Result<Receipt>> + Send;
}

/// Submits a ledger node's [`ChainTx`]s (a token deposit is approved first).
#[derive(Debug, Clone, Copy, Default)]
pub struct LedgerTxs;

impl Submit<ChainTx> for LedgerTxs {
    fn name(&self, tx: &ChainTx) -> &'static str {
        tx.name()
    }

    async fn submit(
        &self,
        client: &AdjudicatorClient,
        from: Address,
        tx: &ChainTx,
    ) -> Result<Receipt> {
        submit(client, from, tx).await
    }
}

/// Submits one transaction a ledger channel asked for, from `from` (a token deposit is approved first).
pub async fn submit(client: &AdjudicatorClient, from: Address, tx: &ChainTx) -> Result<Receipt> {
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
        ChainTx::WithdrawUnlisted {
            params,
            state,
            asset,
        } => client.withdraw_unlisted(from, params, state, *asset).await,
        ChainTx::ReclaimBond { channel_id } => client.reclaim_own_bond(from, *channel_id).await,
    }
}

/// What one [`drive`] round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Events handed to the core.
    pub events: usize,
    /// Transactions that landed, with their gas.
    pub landed: Vec<(&'static str, u64)>,
    /// Transactions that failed, with the reason.
    pub failed: Vec<(&'static str, String)>,
}

/// One round of a core's chain duties: submits every transaction the core asks for from `from` through `txs`,
/// reporting each result back to the core (a failure is reported, never dropped: the core asks again when the
/// transaction is still due), then syncs the core with the chain ([`sync`]). Only a failure to read the chain or
/// one of the core's own (its store) is an error here.
pub async fn drive<C, T, E>(
    client: &AdjudicatorClient,
    txs: &T,
    from: Address,
    core: &mut C,
    now: u64,
) -> Result<Round, E>
where
    C: ChainDuties + ?Sized,
    T: Submit<C::Tx>,
    E: From<Error> + From<C::Error>,
{
    let mut round = Round::default();
    while let Some(tx) = core.poll_tx() {
        match txs.submit(client, from, &tx).await {
            Ok(receipt) => {
                round.landed.push((txs.name(&tx), receipt.gas_used));
                core.tx_done(&tx)?;
            }
            Err(e) => {
                round.failed.push((txs.name(&tx), e.to_string()));
                core.tx_failed(&tx, e.to_string())?;
            }
        }
    }
    round.events = sync::<C, E>(client.chain().as_ref(), core, now).await?;
    Ok(round)
}
