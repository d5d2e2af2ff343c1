//! The steps V takes after any input, as the list of the rules that decide them (each rule's function, in the
//! file of its phase, says what it enforces and which safety rule of SECURITY.md / ARCH.md it serves).

use ferry_ledger::store::Store;

use super::{NodeContext, VirtualChannel};

impl VirtualChannel {
    /// Runs every step V can take now, with the guard's entry for V in line with the record before and after.
    pub(crate) fn progress<S: Store>(&mut self, cx: &mut NodeContext<'_, S>, now: u64) {
        cx.sync(self);
        self.progress_steps(cx, now);
        self.resend_if_due(cx, now);
        cx.sync(self);
    }

    /// The rules, in the order they apply. Each may change V's record, ask the ledger node for a leaf operation, or
    /// queue messages, events and transactions; a later rule sees what an earlier one did.
    fn progress_steps<S: Store>(&mut self, cx: &mut NodeContext<'_, S>, now: u64) {
        // An open that does not complete in time (S8).
        self.give_up_open_after_timeout(cx, now);
        self.challenge_open_stuck_after_postfund(cx, now);
        // V has to go on-chain: a ledger went there with its leaf (S9), or V is registered (S10, S5).
        let ledger_onchain = self.leaf_in_ledger_onchain(cx);
        self.challenge_when_ledger_onchain(cx, ledger_onchain);
        self.conclude_with_final_when_onchain(cx, ledger_onchain);
        // A given-up open is refunded off-chain (S8), and takes no other step.
        if self.refund_given_up_open(cx, now) {
            return;
        }
        // Nothing more before the whole path signed the pre-fund (S8).
        if !self.prefund_complete() {
            return;
        }
        // The ledgers' guards (S8, S10) read V's entry while the requests below are made: in line with the record.
        cx.sync(self);
        // Funding: the leaf, then the post-fund (S8).
        self.request_leaf(cx, now);
        self.forget_fulfilled_leaf_requests(cx);
        self.sign_postfund_once_leaves_held(cx);
        self.open_once_certified(cx);
        // The final (S4), and a registration older than what this member now holds (S5).
        self.sign_final_once_certified(cx);
        self.answer_registration_with_newer_state(cx);
        cx.sync(self);
        // Settled: V's resolution replaces the leaves by their payouts (S10), claims where a ledger is final (S9).
        let Some(fin) = self.resolution() else {
            return;
        };
        self.note_resolved(now);
        self.escalate_stuck_leaves(cx, now);
        self.settled_once_resolved(cx);
        self.request_payout(cx, &fin, now);
        self.request_payout_from_b_side_once_final_onchain(cx, &fin, now);
        self.claim_leaves_in_finalized_ledgers(cx);
        self.reclaim_bond_once_final_onchain(cx);
        self.release_once_leaves_gone(cx, now);
    }
}
