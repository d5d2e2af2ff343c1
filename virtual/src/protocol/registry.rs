//! What this node knows of the virtual channels its ledgers host, shared with the ledger protocol as its
//! sub-channel guard (rules S8 and S10).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy::primitives::{B256, U256};
use ferry_ledger::params::path_position;
use ferry_ledger::protocol::{Fee, SubChannelGuard};
use ferry_ledger::support::leaf_of;
use ferry_ledger::{ChannelParams, State, SubAlloc};

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
}

/// The virtual channels this node knows, by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Entries by V's id.
    pub entries: HashMap<B256, Entry>,
}

/// Per asset of `leaf`, the balance of V's participant `index` in `state` (0 where V does not list the asset).
fn side(state: &State, index: usize, leaf: &SubAlloc) -> Vec<U256> {
    leaf.amounts
        .iter()
        .map(|aa| {
            state
                .outcome
                .assets
                .iter()
                .find(|a| a.asset == aa.asset)
                .and_then(|a| a.balances.get(index).copied())
                .unwrap_or_default()
        })
        .collect()
}

/// What each ledger participant puts into (or takes out of) V's leaf in `ledger`, in the ledger's participant
/// order: the one standing for A's side its A balances, the other its B balances, per asset of the leaf.
pub fn split(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    state: &State,
    leaf: &SubAlloc,
) -> Result<[Vec<U256>; 2], String> {
    let pos = path_position(ledger, virt).map_err(|e| e.to_string())?;
    let last = virt.participants.len() - 1;
    let a = side(state, 0, leaf);
    let b = side(state, last, leaf);
    Ok(if pos.left_index == 0 { [a, b] } else { [b, a] })
}

/// The fee paid in V's leaf-adding update of `ledger`: the side standing for A pays the other side every fee of the
/// intermediaries further towards B (each intermediary keeps its own and passes the rest on), in V's first asset.
pub fn fee_for(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    fees: &[U256],
    leaf: &SubAlloc,
) -> Result<Fee, String> {
    let pos = path_position(ledger, virt).map_err(|e| e.to_string())?;
    let total = fees
        .iter()
        .skip(pos.hop + 1)
        .fold(U256::ZERO, |acc, f| acc.saturating_add(*f));
    if total.is_zero() || leaf.amounts.is_empty() {
        return Ok(Fee::default());
    }
    let mut amounts = vec![U256::ZERO; leaf.amounts.len()];
    amounts[0] = total;
    Ok(Fee {
        payer: pos.left_index as u8,
        amounts,
    })
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
    /// S8: V's params and pre-fund signed by the whole path are known, this ledger is on V's path with the right
    /// participants, the leaf is exactly the pre-fund's totals, and each side puts in the balance of the side of V
    /// it stands for.
    fn check_add(
        &self,
        ledger: &ChannelParams,
        leaf: &SubAlloc,
        contributions: &[Vec<U256>; 2],
        fee: &Fee,
    ) -> Result<(), String> {
        let e = self.entry(&leaf.channelId)?;
        if let Some(params) = &e.params
            && fee_for(ledger, params, &e.fees, leaf)? != *fee
        {
            return Err("the fee is not the one quoted for this path".into());
        }
        let (Some(params), Some(prefund)) = (e.params, e.prefund) else {
            return Err("the pre-fund is not signed by the whole path".into());
        };
        if *leaf != leaf_of(&params, &prefund) {
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
        // S8: a refund (each side gets its contribution back) only once this member gave up the open without
        // ever signing the post-fund.
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
