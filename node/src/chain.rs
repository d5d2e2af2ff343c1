//! The node's chain side: its [`VirtualNode`]'s transactions, turned into
//! adjudicator calls ([`VirtualTxs`]) for the one chain driver, [`ferry_adjudicator::watcher::drive`].

use alloy::primitives::Address;
use ferry_adjudicator::watcher::{self, Round, Submit};
use ferry_adjudicator::{AdjudicatorClient, Receipt};
use ferry_ledger::store::Store;
use ferry_virtual::protocol::{Tx, VirtualNode, VirtualTx};

/// Submits what a [`VirtualNode`] asks for: its ledgers' transactions as
/// [`watcher::LedgerTxs`] does, its virtual channels' as below.
#[derive(Debug, Clone, Copy, Default)]
pub struct VirtualTxs;

impl Submit<Tx> for VirtualTxs {
    fn name(&self, tx: &Tx) -> &'static str {
        match tx {
            Tx::Ledger(t) => t.name(),
            Tx::Virtual(t) => t.name(),
        }
    }

    async fn submit(
        &self,
        client: &AdjudicatorClient,
        from: Address,
        tx: &Tx,
    ) -> ferry_adjudicator::Result<Receipt> {
        match tx {
            Tx::Ledger(t) => watcher::submit(client, from, t).await,
            Tx::Virtual(t) => submit_virtual(client, from, t).await,
        }
    }
}

/// Submits one virtual-channel transaction from `from`.
pub async fn submit_virtual(
    client: &AdjudicatorClient,
    from: Address,
    tx: &VirtualTx,
) -> ferry_adjudicator::Result<Receipt> {
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
        VirtualTx::ReclaimBond { channel_id } => client.reclaim_own_bond(from, *channel_id).await,
    }
}

/// One round of a virtual node's chain duties: [`watcher::drive`] with [`VirtualTxs`].
pub async fn drive<S: Store>(
    client: &AdjudicatorClient,
    from: Address,
    node: &mut VirtualNode<S>,
    now: u64,
) -> crate::Result<Round> {
    watcher::drive(client, &VirtualTxs, from, node, now).await
}
