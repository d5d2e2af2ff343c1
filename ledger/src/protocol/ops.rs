//! The operations a ledger update batches, and how they change a ledger state: pure functions over an outcome and
//! its sub-channel table, each checked before it changes anything.

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{AssetOutcome, State, SubAlloc};
use serde::{Deserialize, Serialize};

use super::ProtocolError;
use crate::state::version;
use crate::sub_tree::{self, SubTree};
use crate::{Error, Result, outcome};

/// One change to a ledger channel's state. Participants are indices into the ledger's `participants` (0 or 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `from` pays `amount` of `asset` to the other participant.
    Pay {
        /// The payer.
        from: u8,
        /// The asset (zero address: ETH).
        asset: Address,
        /// The amount.
        amount: U256,
    },
    /// Counts a deposit `participant` made on-chain since the last state (S12): its balance and its deposited
    /// total grow by `amount`. Signed only once the chain shows the deposit.
    TopUp {
        /// Who deposited.
        participant: u8,
        /// The asset (may be new to the channel).
        asset: Address,
        /// The amount.
        amount: U256,
    },
    /// A partial withdrawal (S12): `participant`'s balance shrinks and its withdrawn total grows by `amount`; it
    /// then takes the amount out with `withdrawPartial` while the channel stays open.
    Withdraw {
        /// Who withdraws.
        participant: u8,
        /// The asset.
        asset: Address,
        /// The amount.
        amount: U256,
    },
    /// Adds a sub-channel leaf at `slot`, funded by the two participants' `contributions` (per asset of the leaf,
    /// in the leaf's order).
    AddSub {
        /// The slot in the sub-channel table (chosen by the proposer, checked by the peer).
        slot: u32,
        /// The leaf.
        leaf: SubAlloc,
        /// What each participant puts in, per asset of the leaf (the routing fee the leaf holds included).
        contributions: [Vec<U256>; 2],
    },
    /// Removes a sub-channel leaf and pays its amounts out to the two participants (per asset of the leaf).
    RemoveSub {
        /// The virtual channel whose leaf goes.
        channel_id: B256,
        /// What each participant receives, per asset of the leaf.
        payout: [Vec<U256>; 2],
    },
    /// Makes the state final: the cooperative close. Only as the last operation of a batch, with no sub-channel
    /// left.
    Close,
}

impl Op {
    /// The participant whose funds this operation takes without a sub-channel check: the payer, the withdrawer.
    /// Sub-channel operations concern both sides and are checked by each side's
    /// [`SubChannelGuard`](super::SubChannelGuard).
    pub fn costs(&self) -> Option<u8> {
        match self {
            Op::Pay { from, .. } => Some(*from),
            Op::Withdraw { participant, .. } => Some(*participant),
            Op::TopUp { .. } | Op::AddSub { .. } | Op::RemoveSub { .. } | Op::Close => None,
        }
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Pay { .. } => "pay",
            Op::TopUp { .. } => "top-up",
            Op::Withdraw { .. } => "withdraw",
            Op::AddSub { .. } => "add sub-channel",
            Op::RemoveSub { .. } => "remove sub-channel",
            Op::Close => "close",
        }
    }
}

/// An operation with who proposed it and that proposer's sequence number (deduplication across resends).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposer's participant index.
    pub proposer: u8,
    /// The proposer's sequence number, 1, 2, … without gaps.
    pub seq: u64,
    /// The operation.
    pub op: Op,
}

/// How to take back one applied operation's change to the sub-channel table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UndoStep {
    /// Remove the leaf an `AddSub` inserted (its slot, its channel).
    Remove(u32, B256),
    /// Put back the leaf a `RemoveSub` took out, at its slot.
    Reinsert(u32, SubAlloc),
}

/// Undoes table changes in reverse order. The steps come from successful applications, so they cannot fail on the
/// table they were made on; an error here means the table was changed behind the protocol's back.
pub fn undo(table: &mut SubTree, steps: &[UndoStep]) -> Result<()> {
    for step in steps.iter().rev() {
        match step {
            UndoStep::Remove(_, id) => {
                table.remove(id)?;
            }
            UndoStep::Reinsert(slot, leaf) => table.restore_at(*slot, leaf.clone())?,
        }
    }
    Ok(())
}

fn index(p: u8) -> Result<usize> {
    if p > 1 {
        return Err(Error::InvalidParticipant(usize::from(p)));
    }
    Ok(usize::from(p))
}

fn asset_mut(assets: &mut [AssetOutcome], asset: &Address) -> Result<usize> {
    assets
        .iter()
        .position(|a| a.asset == *asset)
        .ok_or(Error::Protocol(ProtocolError::UnknownAsset(*asset)))
}

fn short(what: &'static str) -> Error {
    Error::Protocol(ProtocolError::Insufficient(what))
}

/// Applies one operation to `state` (a two-party ledger state) and `table`; on error neither changes. Returns the
/// step that takes the table change back ([`undo`]), if any. Does not touch the version or `isFinal`, except
/// that [`Op::Close`] sets `isFinal`.
pub fn apply(state: &mut State, table: &mut SubTree, op: &Op) -> Result<Option<UndoStep>> {
    if state.isFinal {
        return Err(Error::Protocol(ProtocolError::ChannelClosing));
    }
    let zero = |a: &U256| a.is_zero();
    match op {
        Op::Pay {
            from,
            asset,
            amount,
        } => {
            let from = index(*from)?;
            if amount.is_zero() {
                return Err(Error::Protocol(ProtocolError::ZeroAmount));
            }
            let i = asset_mut(&mut state.outcome.assets, asset)?;
            let a = &mut state.outcome.assets[i];
            let left = a.balances[from]
                .checked_sub(*amount)
                .ok_or_else(|| short("the payer's balance is below the amount"))?;
            let right = a.balances[1 - from]
                .checked_add(*amount)
                .ok_or(Error::Overflow)?;
            a.balances[from] = left;
            a.balances[1 - from] = right;
            Ok(None)
        }
        Op::TopUp {
            participant,
            asset,
            amount,
        } => {
            let p = index(*participant)?;
            if amount.is_zero() {
                return Err(Error::Protocol(ProtocolError::ZeroAmount));
            }
            let assets = &mut state.outcome.assets;
            let i = match assets.iter().position(|a| a.asset >= *asset) {
                Some(i) if assets[i].asset == *asset => i,
                at => {
                    let i = at.unwrap_or(assets.len());
                    assets.insert(i, crate::channel::funded_asset(*asset, vec![U256::ZERO; 2]));
                    i
                }
            };
            let a = &mut assets[i];
            let (Some(b), Some(d)) = (
                a.balances[p].checked_add(*amount),
                a.deposited[p].checked_add(*amount),
            ) else {
                // Take back a freshly inserted empty asset.
                if a.deposited.iter().all(zero)
                    && a.withdrawn.iter().all(zero)
                    && a.locked.is_zero()
                {
                    assets.remove(i);
                }
                return Err(Error::Overflow);
            };
            a.balances[p] = b;
            a.deposited[p] = d;
            Ok(None)
        }
        Op::Withdraw {
            participant,
            asset,
            amount,
        } => {
            let p = index(*participant)?;
            if amount.is_zero() {
                return Err(Error::Protocol(ProtocolError::ZeroAmount));
            }
            let i = asset_mut(&mut state.outcome.assets, asset)?;
            let a = &mut state.outcome.assets[i];
            let b = a.balances[p]
                .checked_sub(*amount)
                .ok_or_else(|| short("the balance is below the withdrawal"))?;
            let w = a.withdrawn[p].checked_add(*amount).ok_or(Error::Overflow)?;
            a.balances[p] = b;
            a.withdrawn[p] = w;
            Ok(None)
        }
        Op::AddSub {
            slot,
            leaf,
            contributions,
        } => {
            sub_tree::validate_leaf(leaf)?;
            if contributions.iter().any(|c| c.len() != leaf.amounts.len()) {
                return Err(Error::Protocol(ProtocolError::ShapeMismatch(
                    "one contribution per asset of the leaf",
                )));
            }
            // Compute every new balance first, change after.
            let mut updates = Vec::with_capacity(leaf.amounts.len());
            for (j, aa) in leaf.amounts.iter().enumerate() {
                let sum = contributions[0][j]
                    .checked_add(contributions[1][j])
                    .ok_or(Error::Overflow)?;
                if sum != aa.amount {
                    return Err(Error::Protocol(ProtocolError::ShapeMismatch(
                        "the contributions must add up to the leaf's amounts",
                    )));
                }
                let i = asset_mut(&mut state.outcome.assets, &aa.asset)?;
                let a = &state.outcome.assets[i];
                let b = [
                    a.balances[0]
                        .checked_sub(contributions[0][j])
                        .ok_or_else(|| short("a contribution exceeds its balance"))?,
                    a.balances[1]
                        .checked_sub(contributions[1][j])
                        .ok_or_else(|| short("a contribution exceeds its balance"))?,
                ];
                let locked = a.locked.checked_add(aa.amount).ok_or(Error::Overflow)?;
                updates.push((i, b[0], b[1], locked));
            }
            table.insert_at(*slot, leaf.clone())?;
            for (i, b0, b1, locked) in updates {
                let a = &mut state.outcome.assets[i];
                a.balances[0] = b0;
                a.balances[1] = b1;
                a.locked = locked;
            }
            state.outcome.subRoot = table.root();
            Ok(Some(UndoStep::Remove(*slot, leaf.channelId)))
        }
        Op::RemoveSub { channel_id, payout } => {
            let slot = table
                .slot_of(channel_id)
                .ok_or(Error::UnknownSubChannel(*channel_id))?;
            let leaf = table
                .get(channel_id)
                .ok_or(Error::UnknownSubChannel(*channel_id))?
                .clone();
            if payout.iter().any(|c| c.len() != leaf.amounts.len()) {
                return Err(Error::Protocol(ProtocolError::ShapeMismatch(
                    "one payout per asset of the leaf",
                )));
            }
            let mut updates = Vec::with_capacity(leaf.amounts.len());
            for (j, aa) in leaf.amounts.iter().enumerate() {
                let sum = payout[0][j]
                    .checked_add(payout[1][j])
                    .ok_or(Error::Overflow)?;
                if sum != aa.amount {
                    return Err(Error::Protocol(ProtocolError::ShapeMismatch(
                        "the payouts must add up to the leaf's amounts",
                    )));
                }
                let i = asset_mut(&mut state.outcome.assets, &aa.asset)?;
                let a = &state.outcome.assets[i];
                let b0 = a.balances[0]
                    .checked_add(payout[0][j])
                    .ok_or(Error::Overflow)?;
                let b1 = a.balances[1]
                    .checked_add(payout[1][j])
                    .ok_or(Error::Overflow)?;
                let locked = a.locked.checked_sub(aa.amount).ok_or(Error::Overflow)?;
                updates.push((i, b0, b1, locked));
            }
            table.remove(channel_id)?;
            for (i, b0, b1, locked) in updates {
                let a = &mut state.outcome.assets[i];
                a.balances[0] = b0;
                a.balances[1] = b1;
                a.locked = locked;
            }
            state.outcome.subRoot = table.root();
            Ok(Some(UndoStep::Reinsert(slot, leaf)))
        }
        Op::Close => {
            if !table.is_empty() {
                return Err(Error::Protocol(ProtocolError::SubChannelsOpen(table.len())));
            }
            state.isFinal = true;
            Ok(None)
        }
    }
}

/// Builds the state a batch leads to from `base` (the latest supported state): applies the operations in order
/// to a copy of `base` and to `table`, sets `version`, and checks the result (outcome rules, the table link). On
/// error the table is as it was and the error names the failing operation's index.
pub fn build(
    base: &State,
    table: &mut SubTree,
    batch: &[Proposal],
    new_version: u64,
) -> std::result::Result<(State, Vec<UndoStep>), (usize, Error)> {
    build_inner(base, table, batch, new_version, None)
}

/// [`build`] for the leader: each added leaf goes to the lowest free slot at its turn, written back into `batch`
/// (a follower's request names no binding slot; the leader places it).
pub fn build_placing(
    base: &State,
    table: &mut SubTree,
    batch: &mut [Proposal],
    new_version: u64,
) -> std::result::Result<(State, Vec<UndoStep>), (usize, Error)> {
    let mut slots = Vec::new();
    let result = build_inner(base, table, batch, new_version, Some(&mut slots));
    if result.is_ok() {
        for (i, slot) in slots {
            if let Op::AddSub { slot: s, .. } = &mut batch[i].op {
                *s = slot;
            }
        }
    }
    result
}

fn build_inner(
    base: &State,
    table: &mut SubTree,
    batch: &[Proposal],
    new_version: u64,
    mut placing: Option<&mut Vec<(usize, u32)>>,
) -> std::result::Result<(State, Vec<UndoStep>), (usize, Error)> {
    let mut state = base.clone();
    state.version = version(new_version).map_err(|e| (0, e))?;
    let mut steps = Vec::new();
    for (i, p) in batch.iter().enumerate() {
        let placed;
        let op = match (&p.op, placing.as_deref_mut()) {
            (
                Op::AddSub {
                    leaf,
                    contributions,
                    ..
                },
                Some(slots),
            ) => {
                let slot = match table.next_slot() {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = undo(table, &steps);
                        return Err((i, e));
                    }
                };
                slots.push((i, slot));
                placed = Op::AddSub {
                    slot,
                    leaf: leaf.clone(),
                    contributions: contributions.clone(),
                };
                &placed
            }
            _ => &p.op,
        };
        match apply(&mut state, table, op) {
            Ok(step) => steps.extend(step),
            Err(e) => {
                // Cannot fail: the steps were just made on this table.
                let _ = undo(table, &steps);
                return Err((i, e));
            }
        }
    }
    let checked = outcome::validate(&state.outcome, 2, ferry_contracts::KIND_LEDGER)
        .and_then(|()| outcome::check_sub_table(&state.outcome, table));
    if let Err(e) = checked {
        let _ = undo(table, &steps);
        return Err((batch.len().saturating_sub(1), e));
    }
    Ok((state, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::funded_asset;
    use ferry_contracts::AssetAmount;

    fn base() -> State {
        State {
            channelId: B256::repeat_byte(1),
            version: version(5).unwrap_or_default(),
            outcome: ferry_contracts::Outcome {
                assets: vec![funded_asset(
                    Address::ZERO,
                    vec![U256::from(10), U256::from(10)],
                )],
                subRoot: ferry_contracts::empty_root(),
            },
            appData: Default::default(),
            isFinal: false,
        }
    }

    fn p(op: Op) -> Proposal {
        Proposal {
            proposer: 0,
            seq: 1,
            op,
        }
    }

    fn leaf(id: u8, amount: u64) -> SubAlloc {
        SubAlloc {
            fee: U256::ZERO,
            channelId: B256::repeat_byte(id),
            amounts: vec![AssetAmount {
                asset: Address::ZERO,
                amount: U256::from(amount),
            }],
        }
    }

    #[test]
    fn pay_top_up_withdraw_keep_the_funding_invariant() {
        let mut t = SubTree::new();
        let batch = [
            p(Op::Pay {
                from: 0,
                asset: Address::ZERO,
                amount: U256::from(3),
            }),
            p(Op::TopUp {
                participant: 1,
                asset: Address::ZERO,
                amount: U256::from(5),
            }),
            p(Op::Withdraw {
                participant: 1,
                asset: Address::ZERO,
                amount: U256::from(2),
            }),
        ];
        let (s, steps) = build(&base(), &mut t, &batch, 6).expect("valid batch");
        assert!(steps.is_empty());
        let a = &s.outcome.assets[0];
        assert_eq!(a.balances, vec![U256::from(7), U256::from(16)]);
        assert_eq!(a.deposited, vec![U256::from(10), U256::from(15)]);
        assert_eq!(a.withdrawn, vec![U256::ZERO, U256::from(2)]);
        assert_eq!(s.version.to::<u64>(), 6);
    }

    #[test]
    fn a_failing_op_names_its_index_and_leaves_the_table() {
        let mut t = SubTree::new();
        let batch = [
            p(Op::AddSub {
                slot: 0,
                leaf: leaf(7, 4),
                contributions: [vec![U256::from(1)], vec![U256::from(3)]],
            }),
            p(Op::Pay {
                from: 1,
                asset: Address::ZERO,
                amount: U256::from(100),
            }),
        ];
        let err = build(&base(), &mut t, &batch, 6).expect_err("overdraft");
        assert_eq!(err.0, 1);
        assert!(t.is_empty(), "the added leaf was taken back");
    }

    #[test]
    fn sub_channels_lock_and_release() {
        let mut t = SubTree::new();
        let add = [p(Op::AddSub {
            slot: 0,
            leaf: leaf(7, 4),
            contributions: [vec![U256::from(1)], vec![U256::from(3)]],
        })];
        let (s, _) = build(&base(), &mut t, &add, 6).expect("add");
        assert_eq!(s.outcome.assets[0].locked, U256::from(4));
        assert_eq!(s.outcome.subRoot, t.root());
        let close = [p(Op::Close)];
        assert!(matches!(
            build(&s, &mut t, &close, 7),
            Err((0, Error::Protocol(ProtocolError::SubChannelsOpen(1))))
        ));
        let rm = [p(Op::RemoveSub {
            channel_id: B256::repeat_byte(7),
            payout: [vec![U256::from(4)], vec![U256::ZERO]],
        })];
        let (s2, steps) = build(&s, &mut t, &rm, 7).expect("remove");
        assert_eq!(
            s2.outcome.assets[0].balances,
            vec![U256::from(13), U256::from(7)]
        );
        assert_eq!(s2.outcome.subRoot, ferry_contracts::empty_root());
        undo(&mut t, &steps).expect("undo");
        assert_eq!(t.root(), s.outcome.subRoot);
    }

    #[test]
    fn shape_and_amount_errors() {
        let mut t = SubTree::new();
        let bad = [
            Op::Pay {
                from: 2,
                asset: Address::ZERO,
                amount: U256::from(1),
            },
            Op::Pay {
                from: 0,
                asset: Address::ZERO,
                amount: U256::ZERO,
            },
            Op::Pay {
                from: 0,
                asset: Address::repeat_byte(9),
                amount: U256::from(1),
            },
            Op::AddSub {
                slot: 0,
                leaf: leaf(7, 4),
                contributions: [vec![U256::from(1)], vec![U256::from(1)]],
            },
            Op::AddSub {
                slot: 5,
                leaf: leaf(7, 2),
                contributions: [vec![U256::from(1)], vec![U256::from(1)]],
            },
            Op::RemoveSub {
                channel_id: B256::repeat_byte(7),
                payout: [vec![], vec![]],
            },
        ];
        for op in bad {
            assert!(
                build(&base(), &mut t, &[p(op.clone())], 6).is_err(),
                "{op:?}"
            );
            assert!(t.is_empty());
        }
    }
}
