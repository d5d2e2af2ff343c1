//! What this node knows of the virtual channels its ledgers host, shared with the ledger protocol as its
//! sub-channel guard (rules S8 and S10).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy::primitives::{B256, U256};
use ferry_ledger::protocol::{GuardRefusal, SubChannelGuard};
use ferry_ledger::{ChannelParams, State, SubAlloc};

use super::VirtualChannel;

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

pub use super::leaf::{fee_in, leaf_in, split};

/// The registry shared with a ledger node as its guard.
#[derive(Debug, Clone, Default)]
pub struct RegistryGuard(pub Arc<Mutex<Registry>>);

impl RegistryGuard {
    fn entry(&self, id: &B256) -> Result<Entry, GuardRefusal> {
        let reg = self.0.lock().map_err(|_| GuardRefusal::RegistryPoisoned)?;
        reg.entries
            .get(id)
            .cloned()
            .ok_or(GuardRefusal::UnknownVirtualChannel { channel: *id })
    }
}

/// A channel rule broken by the ledger, the leaf or V's state, as the guard's refusal for V's leaf `channel`.
fn invalid(channel: B256) -> impl FnOnce(ferry_ledger::Error) -> GuardRefusal {
    move |e| GuardRefusal::Invalid {
        channel,
        error: Box::new(e),
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
    ) -> Result<(), GuardRefusal> {
        let channel = leaf.channelId;
        let e = self.entry(&channel)?;
        if !e.joining {
            return Err(GuardRefusal::NotJoining { channel });
        }
        let (Some(params), Some(prefund)) = (e.params, e.prefund) else {
            return Err(GuardRefusal::PrefundNotSigned { channel });
        };
        let expected = leaf_in(ledger, &params, &prefund, &e.fees).map_err(invalid(channel))?;
        if leaf.fee != expected.fee {
            return Err(GuardRefusal::WrongFee {
                channel,
                expected: expected.fee,
                got: leaf.fee,
            });
        }
        if *leaf != expected {
            return Err(GuardRefusal::LeafNotPrefund { channel });
        }
        if split(ledger, &params, &prefund, leaf).map_err(invalid(channel))? != *contributions {
            return Err(GuardRefusal::WrongContributions { channel });
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
    ) -> Result<(), GuardRefusal> {
        let channel = leaf.channelId;
        let e = self.entry(&channel)?;
        let Some(params) = e.params else {
            return Err(GuardRefusal::UnknownVirtualChannel { channel });
        };
        // S8: a refund (each side gets its contribution back, A's side the fee) only once this member gave up the
        // open without ever signing the post-fund.
        if e.aborted
            && let Some(prefund) = &e.prefund
            && split(ledger, &params, prefund, leaf).map_err(invalid(channel))? == *payout
        {
            return Ok(());
        }
        // S10: V finalized on-chain; its registered outcome decides every ledger's leaf.
        if let Some(onchain) = &e.onchain_final
            && split(ledger, &params, onchain, leaf).map_err(invalid(channel))? == *payout
        {
            return Ok(());
        }
        let Some(fin) = e.final_state else {
            return Err(GuardRefusal::NoFinal { channel });
        };
        if e.registered {
            return Err(GuardRefusal::RegisteredOnChain { channel });
        }
        if split(ledger, &params, &fin, leaf).map_err(invalid(channel))? != *payout {
            return Err(GuardRefusal::WrongPayout { channel });
        }
        Ok(())
    }
}
