//! Signatures a batch of inputs will need, computed without changing anything, for a runtime to compute them ahead
//! on several cores (see `channel/ahead.rs`).

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::Signature;
use ferry_ledger::protocol::Phase;
use ferry_ledger::store::Store;

use super::super::channel::new_signatures;
use super::super::{Message, VirtualMessage};
use super::VirtualNode;

impl<S: Store> VirtualNode<S> {
    /// The `(digest, signature)` pairs handling `msg` from `from` would recover, for a runtime to recover ahead
    /// with [`ferry_ledger::signature::precompute_recover`]. Only for a channel this node holds with `from` (a
    /// ledger channel with it, a V it is on, or a pre-fund introducing a V from a neighbour it holds a running
    /// ledger channel with): a stranger's message gets nothing computed ahead.
    ///
    /// At most [`crate::protocol::MAX_PATH`] pairs: no message makes the core recover more than one signature per
    /// path member, so a message that would yield more gets nothing computed ahead (what a peer's message can
    /// cost here is bounded whatever it holds).
    pub fn signatures_to_check(&self, from: Address, msg: &Message) -> Vec<(B256, Signature)> {
        let pairs = self.predicted_recoveries(from, msg);
        if pairs.len() > crate::protocol::MAX_PATH {
            return vec![];
        }
        pairs
    }

    fn predicted_recoveries(&self, from: Address, msg: &Message) -> Vec<(B256, Signature)> {
        match msg {
            Message::Ledger(m) => self.ledger.signatures_to_check(from, m),
            Message::Virtual(m) => {
                let id = m.channel_id();
                if let Some(ch) = self.channels.get(&id) {
                    return ch.signatures_to_check(&self.ctx, from, m);
                }
                match m {
                    VirtualMessage::Sigs {
                        params: Some(params),
                        state,
                        sigs,
                        ..
                    } if !self.pruned.contains(&id) => {
                        // What the core checks first, before any recovery (so a pre-fund it refuses at once costs
                        // no recovery ahead): the introduction (path, slots, neighbour), params of this chain and
                        // adjudicator, a pre-fund of this V, and a running ledger with `from` on the hop between.
                        let Ok((_, hop)) = self.introduction(from, params, sigs) else {
                            return vec![];
                        };
                        if ferry_ledger::params::validate_for(
                            params,
                            self.ctx.chain_id,
                            self.ctx.adjudicator,
                        )
                        .ok()
                            != Some(state.channelId)
                            || state.version.to::<u64>() != 0
                        {
                            return vec![];
                        }
                        let ledger_with_from = hop
                            .and_then(|h| self.ledger.channel(&h))
                            .is_some_and(|l| l.peer() == from && l.phase() == Phase::Running);
                        if !ledger_with_from {
                            return vec![];
                        }
                        new_signatures(&self.ctx, state, &vec![None; sigs.len()], sigs)
                    }
                    _ => vec![],
                }
            }
        }
    }

    /// The digests of the vouchers `pays` (V, asset, amount; in the order they will be made) will sign, for a
    /// runtime to sign ahead with [`ferry_ledger::Signer::presign`]: each on top of the one before it in the same
    /// V and asset. A pay this node cannot make (not an endpoint, unknown V or asset) is skipped.
    pub fn voucher_digests(&self, pays: &[(B256, Address, U256)]) -> Vec<B256> {
        let me = self.address();
        let mut running: std::collections::HashMap<(B256, Address), U256> =
            std::collections::HashMap::new();
        let mut digests = Vec::with_capacity(pays.len());
        for (id, asset, amount) in pays {
            let Some(ch) = self.channels.get(id) else {
                continue;
            };
            let already = running.get(&(*id, *asset)).copied();
            if let Some((digest, cumulative)) = ch.voucher_to_sign(me, asset, already, *amount) {
                running.insert((*id, *asset), cumulative);
                digests.push(digest);
            }
        }
        digests
    }
}
