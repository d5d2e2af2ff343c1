//! An intermediary's terms for routing virtual channels, checked when it joins one: the fee quote's shape, its fee,
//! its per-channel and per-user caps, and its liquidity for its side of V in each of its ledgers on the path.

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::store::Store;
use ferry_ledger::{ChannelParams, State, outcome};

use super::super::{CapacityShort, PolicyRefusal, VirtualError};
use super::{VirtualNode, verr};
use crate::Result;

impl<S: Store> VirtualNode<S> {
    /// The fee this node charges to route a virtual channel holding `total` of its first asset.
    pub fn quote(&self, total: U256) -> U256 {
        self.policy.fee(total)
    }

    /// What this node has locked of `asset` for V's in `hop` (its side of each V on that ledger of its own).
    fn locked_in(&self, hop: B256, asset: &Address) -> U256 {
        self.index.locked_in(&hop, asset)
    }

    /// The fee quotes' shape, this member's terms (fee, per-channel and per-user caps) and its liquidity for its
    /// side of V in each of its ledgers on the path (plus the fees it passes on). A clear refusal, nothing changes.
    pub(super) fn check_policy(
        &self,
        params: &ChannelParams,
        prefund: &State,
        fees: &[U256],
        me: usize,
    ) -> Result<()> {
        let n = params.participants.len();
        let last = n - 1;
        if fees.len() != n || !fees[0].is_zero() || !fees[last].is_zero() {
            return Err(verr(VirtualError::InvalidPrefund(
                "one fee per path member, none for the endpoints",
            )));
        }
        let assets = &prefund.outcome.assets;
        let passed_on = fees
            .iter()
            .skip(me + 1)
            .fold(U256::ZERO, |acc, f| acc.saturating_add(*f));
        if me != 0 && me != last {
            let limit = self.policy.max_opening;
            if self.index.routing_opens.len() >= limit {
                return Err(verr(VirtualError::Policy(PolicyRefusal::Busy { limit })));
            }
            let total = assets.first().map(outcome::asset_total).unwrap_or_default();
            let charges = self.policy.fee(total);
            if fees[me] < charges {
                return Err(verr(VirtualError::Policy(PolicyRefusal::FeeBelowCharge {
                    charges,
                    offered: fees[me],
                })));
            }
            if let Some(a) = assets
                .iter()
                .find(|a| outcome::asset_total(a) > self.policy.max_per_channel)
            {
                return Err(verr(VirtualError::Policy(
                    PolicyRefusal::AbovePerChannelCap {
                        total: outcome::asset_total(a),
                        asset: a.asset,
                        cap: self.policy.max_per_channel,
                    },
                )));
            }
            for a in assets {
                for (hop, add) in [
                    (params.hops[me - 1], a.balances[last]),
                    (params.hops[me], a.balances[0]),
                ] {
                    let locked = self.locked_in(hop, &a.asset).saturating_add(add);
                    if locked > self.policy.max_per_user {
                        return Err(verr(VirtualError::Policy(PolicyRefusal::AbovePerUserCap {
                            locked,
                            cap: self.policy.max_per_user,
                        })));
                    }
                }
            }
        }
        // Liquidity: my side of V in each of my ledgers on the path, and the fees I pass on to the right.
        let mut sides = Vec::new();
        if me > 0 {
            sides.push((params.hops[me - 1], last, U256::ZERO));
        }
        if me < last {
            sides.push((params.hops[me], 0, passed_on));
        }
        for (hop, side, extra) in sides {
            for (j, a) in assets.iter().enumerate() {
                let need = a.balances[side].saturating_add(if j == 0 { extra } else { U256::ZERO });
                let have = self
                    .ledger
                    .channel(&hop)
                    .map(|l| l.balance(&a.asset))
                    .unwrap_or_default();
                if have < need {
                    return Err(verr(VirtualError::Capacity(Box::new(CapacityShort {
                        ledger: hop,
                        asset: a.asset,
                        have,
                        need,
                    }))));
                }
            }
        }
        Ok(())
    }
}
