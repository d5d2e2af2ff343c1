//! What this node knows of the virtual channels its ledgers host, shared with the ledger protocol as its
//! sub-channel guard (rules S8 and S10).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy::primitives::{B256, U256};
use ferry_ledger::protocol::SubChannelGuard;
use ferry_ledger::{ChannelParams, State, SubAlloc};

use super::{VirtualChannel, leaf};

/// What the guard needs to know of one virtual channel.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// V's params.
    pub params: Option<ChannelParams>,
    /// V's pre-fund, once signed by the whole path.
    pub prefund: Option<State>,
    /// V's final state, once signed by the whole path.
    pub final_state: Option<State>,
    /// The routing fee each path member charges (in V's first asset; 0 for the endpoints).
    pub fees: Vec<U256>,
    /// This member gave up the open without ever signing V's post-fund: it agrees to refund V's leaves (S8).
    pub aborted: bool,
    /// V's state as finalized on-chain (S10: any ledger may replace the leaf by this outcome off-chain).
    pub onchain_final: Option<State>,
    /// A state of V is registered on-chain (a challenge or a move): its final replaces a leaf off-chain only once V
    /// is concluded with it (S10), for V may finalize by another outcome.
    pub registered: bool,
    /// This member is still joining V ([`VirtualChannel::is_joining`]): the only time a leaf for V may be added
    /// (S8).
    pub joining: bool,
}

impl Entry {
    /// The entry for a virtual channel as this member's record of it says: derived from the persisted record
    /// alone, so it is the same after a restart as before it.
    pub fn of(ch: &VirtualChannel) -> Self {
        Self {
            params: Some(ch.params.clone()),
            prefund: ch.prefund_signed().map(|s| s.state),
            final_state: ch.final_signed().map(|s| s.state),
            fees: ch.fees.clone(),
            aborted: ch.gave_up,
            onchain_final: ch.onchain_final.clone(),
            registered: ch.registered.is_some(),
            joining: ch.is_joining(),
        }
    }
}

/// The virtual channels this node knows, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Entries by V's id.
    pub entries: HashMap<B256, Entry>,
}

// The guard's reasons are `String`s (the `SubChannelGuard` trait's), so the guard uses these wrappers of
// [`super::leaf`]'s typed functions; the protocol uses those.

/// [`leaf::split`] with the error as the guard's reason.
pub fn split(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    state: &State,
    leaf: &SubAlloc,
) -> Result<[Vec<U256>; 2], String> {
    leaf::split(ledger, virt, state, leaf).map_err(|e| e.to_string())
}

/// [`leaf::fee_in`] with the error as the guard's reason.
pub fn fee_in(ledger: &ChannelParams, virt: &ChannelParams, fees: &[U256]) -> Result<U256, String> {
    leaf::fee_in(ledger, virt, fees).map_err(|e| e.to_string())
}

/// [`leaf::leaf_in`] with the error as the guard's reason.
pub fn leaf_in(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    prefund: &State,
    fees: &[U256],
) -> Result<SubAlloc, String> {
    leaf::leaf_in(ledger, virt, prefund, fees).map_err(|e| e.to_string())
}

/// The registry shared with a ledger node as its guard.
#[derive(Debug, Clone, Default)]
pub struct RegistryGuard(pub Arc<Mutex<Registry>>);

impl RegistryGuard {
    fn entry(&self, id: &B256) -> Result<Entry, String> {
        let reg = self.0.lock().map_err(|_| "registry poisoned".to_string())?;
        reg.entries
            .get(id)
            .cloned()
            .ok_or_else(|| format!("unknown virtual channel {id}"))
    }
}

impl SubChannelGuard for RegistryGuard {
    /// S8: this member is still joining V (so a leaf for V enters each of its ledgers at most once in V's whole
    /// life), V's params and pre-fund signed by the whole path are known, this ledger is on V's path with the right
    /// participants, the leaf is exactly the pre-fund's totals plus the routing fee quoted for this ledger, and each
    /// side puts in the balance of the side of V it stands for (A's side the fee too).
    fn check_add(
        &self,
        ledger: &ChannelParams,
        leaf: &SubAlloc,
        contributions: &[Vec<U256>; 2],
    ) -> Result<(), String> {
        let e = self.entry(&leaf.channelId)?;
        if !e.joining {
            return Err(
                "this member is no longer joining V (post-fund signed, open given up, or V final)"
                    .into(),
            );
        }
        let (Some(params), Some(prefund)) = (e.params, e.prefund) else {
            return Err("the pre-fund is not signed by the whole path".into());
        };
        let expected = leaf_in(ledger, &params, &prefund, &e.fees)?;
        if leaf.fee != expected.fee {
            return Err("the fee is not the one quoted for this path".into());
        }
        if *leaf != expected {
            return Err("the leaf is not the pre-fund's totals".into());
        }
        if split(ledger, &params, &prefund, leaf)? != *contributions {
            return Err("the contributions are not the two sides' balances".into());
        }
        Ok(())
    }

    /// S10: V's final state signed by the whole path is known (and V is not registered on-chain, where it could
    /// finalize by another outcome), or V's outcome finalized on-chain, and the payout gives each side what that
    /// state gives the side of V it stands for.
    fn check_remove(
        &self,
        ledger: &ChannelParams,
        leaf: &SubAlloc,
        payout: &[Vec<U256>; 2],
    ) -> Result<(), String> {
        let e = self.entry(&leaf.channelId)?;
        let Some(params) = e.params else {
            return Err("unknown virtual channel".into());
        };
        // S8: a refund (each side gets its contribution back, A's side the fee) only once this member gave up the
        // open without ever signing the post-fund.
        if e.aborted
            && let Some(prefund) = &e.prefund
            && split(ledger, &params, prefund, leaf)? == *payout
        {
            return Ok(());
        }
        // S10: V finalized on-chain; its registered outcome decides every ledger's leaf.
        if let Some(onchain) = &e.onchain_final
            && split(ledger, &params, onchain, leaf)? == *payout
        {
            return Ok(());
        }
        let Some(fin) = e.final_state else {
            return Err("no final state signed by the whole path".into());
        };
        if e.registered {
            return Err("V is registered on-chain: conclude it with the final first".into());
        }
        if split(ledger, &params, &fin, leaf)? != *payout {
            return Err("the payout is not the final state's".into());
        }
        Ok(())
    }
}
