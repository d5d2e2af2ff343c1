//! App moves (the game): a move checked by the app's rules and S3, signed by its mover and countersigned by the
//! other endpoint (`Move`, `MoveAck`), one in flight per endpoint; and played on-chain by `progress` on V's
//! registered state when the other stops (S7).

use alloy::primitives::Address;
use ferry_ledger::store::Store;
use ferry_ledger::{Signature, State, outcome};

use super::super::{
    AppRules, MAX_AHEAD_OF_REGISTRATION, MoveError, VirtualError, VirtualEvent, VirtualMessage,
    VirtualTx,
};
use super::{NodeContext, VirtualChannel, verr};
use crate::{Error, Result};

fn bad(e: MoveError) -> Error {
    verr(VirtualError::InvalidMove(e))
}

impl VirtualChannel {
    /// The checks of a move from the latest co-signed state (or the post-fund) to `to` by the endpoint at
    /// `mover`: V's next version, not final, a valid outcome keeping S3, and the app's rules.
    pub(super) fn check_move<S: Store>(
        &self,
        cx: &NodeContext<'_, S>,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        self.check_move_from(cx, &self.current(), to, mover)
    }

    /// The checks of a move from `from` to `to` by the endpoint at `mover` (see [`Self::check_move`]).
    fn check_move_from<S: Store>(
        &self,
        cx: &NodeContext<'_, S>,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        if !self.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        // Settling once this member signed a final (it signs no other state of V, S4). A final it holds but refused
        // (below its entitlement) blocks nothing: its moves, off-chain and on-chain, are how it gets its due.
        if self.final_sigs[self.me].is_some() {
            return Err(verr(VirtualError::Settling));
        }
        if to.channelId != self.id || to.isFinal {
            return Err(bad(MoveError::NotANonFinalStateOfV));
        }
        if to.version.to::<u64>() != from.version.to::<u64>() + 1 {
            return Err(bad(MoveError::NotNextVersion));
        }
        outcome::validate(
            &to.outcome,
            self.params.participants.len(),
            ferry_ledger::contracts::KIND_VIRTUAL,
        )?;
        outcome::check_conserved(&self.prefund.outcome, &to.outcome)?;
        let verdict = match cx.app_of(&self.params)? {
            AppRules::Turns(app) => app.valid_transition(&self.params, from, to, mover),
            // Vouchers are the payment channel's moves; a co-signed move there would stand for them and erase
            // those it does not count (S4: the payee signs only a final worth its vouchers).
            AppRules::Payment => return Err(bad(MoveError::PaymentChannel)),
        };
        verdict.map_err(|e| bad(MoveError::AppRules(e)))
    }

    /// S17: while V is registered on-chain and not final, neither endpoint signs a move
    /// [`MAX_AHEAD_OF_REGISTRATION`] or more versions above the registered state. Every state both signed then stays
    /// within `BOND_GRACE` of any registration of it, so no honest registration's bond is taken by states signed
    /// after it (play goes on once the chain's registration, moved by these same moves, catches up).
    fn check_not_ahead_of_registration(&self, to: &State) -> Result<()> {
        if self.onchain_final.is_none()
            && let Some(registered) = self.registered.as_ref().map(|(s, _)| s.version.to::<u64>())
        {
            let version = to.version.to::<u64>();
            if version >= registered.saturating_add(MAX_AHEAD_OF_REGISTRATION) {
                return Err(bad(MoveError::AheadOfRegistration {
                    registered,
                    version,
                }));
            }
        }
        Ok(())
    }

    /// Makes an app move: `to` is V's next state; it is checked by the app's rules, signed and sent to the other
    /// endpoint, which countersigns it. While V is registered on-chain (not final yet) the move is also played
    /// there (S7).
    pub(crate) fn make_move<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        to: State,
    ) -> Result<()> {
        let other = self
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if self.my_move.is_some() {
            return Err(bad(MoveError::AlreadyWaiting));
        }
        self.check_not_ahead_of_registration(&to)?;
        self.check_move(cx, &to, self.me)?;
        let sig = cx.sign(&to);
        let peer = self.params.participants[other];
        self.my_move = Some((to.clone(), sig.clone()));
        cx.send(peer, VirtualMessage::Move { state: to, sig });
        if self.onchain_final.is_none()
            && let Some(version) = self.registered.as_ref().map(|(s, _)| s.version.to::<u64>())
            && let Some(tx) = self.move_onchain(cx, version)
        {
            self.submit(cx, tx);
        }
        Ok(())
    }

    /// The other endpoint's move `to`, signed `sig`: countersigned and kept as V's latest state once it passes the
    /// checks (a resent move already countersigned is answered again).
    pub(crate) fn on_move<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        from: Address,
        to: State,
        sig: Signature,
    ) -> Result<()> {
        let other = self
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if self.params.participants[other] != from {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        let version = to.version.to::<u64>();
        // A resent move we already countersigned: answer again.
        if let Some(l) = &self.latest
            && l.state == to
        {
            let ours = l.sigs[if self.me == 0 { 0 } else { 1 }].clone();
            cx.send(
                from,
                VirtualMessage::MoveAck {
                    channel_id: self.id,
                    version,
                    sig: ours,
                },
            );
            return Ok(());
        }
        if ferry_ledger::signature::recover(&cx.chain.digest(&to), &sig)? != from {
            return Err(Error::Ledger(ferry_ledger::Error::WrongSigner {
                index: other,
            }));
        }
        self.check_not_ahead_of_registration(&to)?;
        self.check_move(cx, &to, other)?;
        let ours = cx.sign(&to);
        let sigs = if self.me == 0 {
            vec![ours.clone(), sig]
        } else {
            vec![sig, ours.clone()]
        };
        self.latest = Some(ferry_ledger::SignedState { state: to, sigs });
        // A move of ours from the same state can no longer complete.
        self.my_move = None;
        cx.send(
            from,
            VirtualMessage::MoveAck {
                channel_id: self.id,
                version,
                sig: ours,
            },
        );
        cx.event(VirtualEvent::Moved {
            channel_id: self.id,
            version,
        });
        Ok(())
    }

    /// The other endpoint's countersignature on this endpoint's waiting move of `version`: the move becomes V's
    /// latest state (a duplicate or an answer to another move is ignored).
    pub(crate) fn on_move_ack<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        from: Address,
        version: u64,
        sig: Signature,
    ) -> Result<()> {
        let other = self
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if self.params.participants[other] != from {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        let Some((state, ours)) = self.my_move.clone() else {
            return Ok(()); // a duplicate
        };
        if state.version.to::<u64>() != version {
            return Ok(());
        }
        if ferry_ledger::signature::recover(&cx.chain.digest(&state), &sig)? != from {
            return Err(Error::Ledger(ferry_ledger::Error::WrongSigner {
                index: other,
            }));
        }
        let sigs = if self.me == 0 {
            vec![ours, sig]
        } else {
            vec![sig, ours]
        };
        self.latest = Some(ferry_ledger::SignedState { state, sigs });
        self.my_move = None;
        cx.event(VirtualEvent::Moved {
            channel_id: self.id,
            version,
        });
        Ok(())
    }

    /// S7: the `progress` move by which this player plays, on top of V's registered state, the move it made and the
    /// other player has not countersigned; `None` when it is not that state's valid next move by this player under
    /// the app's rules and S3 (or was asked for already on this registration).
    pub(super) fn move_onchain<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        version: u64,
    ) -> Option<VirtualTx> {
        let (to, sig) = self.my_move.clone()?;
        let (registered, _) = self.registered.clone()?;
        if registered.version.to::<u64>() != version {
            return None;
        }
        self.check_move_from(cx, &registered, &to, self.me).ok()?;
        self.own_move_once(cx, version, registered, to, sig)
    }
}
