//! Members (keys, nodes, runtime settings, crashes, offline) and their ledgers.

use super::*;

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- members

    /// How many members the path has.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Member `k`'s address (its channel key; on the embedded chain also its funded account).
    pub fn addr(&self, k: usize) -> Address {
        self.members[k].key.address()
    }

    /// Every member's address, A first.
    pub fn addresses(&self) -> Vec<Address> {
        self.members.iter().map(|m| m.key.address()).collect()
    }

    /// The member with address `a`.
    ///
    /// # Panics
    ///
    /// When no member has it.
    pub fn index(&self, a: Address) -> usize {
        self.members
            .iter()
            .position(|m| m.key.address() == a)
            .unwrap_or_else(|| panic!("{a} is no path member"))
    }

    /// Member `k`'s key.
    pub fn signer(&self, k: usize) -> &Signer {
        &self.members[k].key
    }

    /// `state` signed by member `k` (for the net's chain).
    pub fn sign(&self, k: usize, state: &State) -> Signature {
        self.members[k].key.sign_state(&self.ctx, state)
    }

    /// Member `k`'s node.
    pub fn node(&self, k: usize) -> &VirtualNode<MemoryStore> {
        &self.members[k].node
    }

    /// Member `k`'s node, for commands (pay, settle, challenge, its ledger's commands, …) and raw inputs.
    pub fn node_mut(&mut self, k: usize) -> &mut VirtualNode<MemoryStore> {
        &mut self.members[k].node
    }

    /// Two members' nodes at once (`a != b`).
    pub fn pair_mut(
        &mut self,
        a: usize,
        b: usize,
    ) -> (&mut VirtualNode<MemoryStore>, &mut VirtualNode<MemoryStore>) {
        assert_ne!(a, b, "two different members");
        if a < b {
            let (left, right) = self.members.split_at_mut(b);
            (&mut left[a].node, &mut right[0].node)
        } else {
            let (left, right) = self.members.split_at_mut(a);
            (&mut right[0].node, &mut left[b].node)
        }
    }

    /// The ledgers of the path: `hops()[k]` between members `k` and `k + 1`.
    pub fn hops(&self) -> &[B256] {
        &self.hops
    }

    /// Ledger `k`'s id (between members `k` and `k + 1`).
    pub fn hop(&self, k: usize) -> B256 {
        self.hops[k]
    }

    /// The ledgers member `k` is in, by index: towards A, then towards B.
    pub fn ledgers_of(&self, k: usize) -> Vec<usize> {
        let mut out = Vec::new();
        if k > 0 {
            out.push(k - 1);
        }
        if k + 1 < self.members() {
            out.push(k);
        }
        out
    }

    /// The chain context states are signed for.
    pub fn ctx(&self) -> ChainContext {
        self.ctx
    }

    /// The payment app's address.
    pub fn payment_app(&self) -> Address {
        self.apps.payment
    }

    /// The rock-paper-scissors game's address.
    pub fn game_app(&self) -> Address {
        self.apps.game
    }

    /// The address of the `i`-th custom app ([`VirtualNetBuilder::custom_app`]).
    ///
    /// # Panics
    ///
    /// When fewer than `i + 1` custom apps were declared.
    pub fn custom_app(&self, i: usize) -> Address {
        self.apps.custom[i].0
    }

    /// The ledger settings every member runs with.
    pub fn ledger_config(&self) -> &Config {
        &self.config
    }

    /// Sets member `k`'s routing policy (kept across restarts).
    pub fn set_policy(&mut self, k: usize, policy: IntermediaryPolicy) {
        self.members[k].set_policy(policy);
    }

    /// Sets how long member `k` keeps a released virtual channel (kept across restarts).
    pub fn set_release_retention(&mut self, k: usize, ms: u64) {
        self.members[k].node.set_release_retention(ms);
        self.members[k].retention = Some(ms);
    }

    /// Replaces the guard that decides on member `k`'s leaf operations in its ledgers (a byzantine member: e.g.
    /// [`AnyLeaf`]). A restart puts the node's own guard back.
    pub fn set_guard(&mut self, k: usize, guard: Box<dyn SubChannelGuard + Send>) {
        self.members[k].node.ledger_mut().set_guard(guard);
    }

    /// Crashes member `k` (whatever it had not sent is lost) and restarts it from its store, with its apps,
    /// policy and retention declared again.
    pub fn crash_restart(&mut self, k: usize) {
        let config = self.members[k].node.ledger().config().clone();
        let placeholder = start_node(
            &self.members[k].key,
            self.ctx,
            config.clone(),
            MemoryStore::new(),
            0,
            &self.apps,
        );
        let store = std::mem::replace(&mut self.members[k].node, placeholder).into_store();
        let member = &mut self.members[k];
        member.node = start_node(&member.key, self.ctx, config, store, self.now, &self.apps);
        if let Some(p) = member.policy.clone() {
            member.node.set_policy(p);
        }
        if let Some(ms) = member.retention {
            member.node.set_release_retention(ms);
        }
    }

    /// Takes member `k` offline (`true`: it neither sends nor receives, fires no timer and does no chain duty; it
    /// keeps everything it holds) or back online.
    pub fn set_offline(&mut self, k: usize, offline: bool) {
        self.members[k].offline = offline;
    }

    /// Whether member `k` is offline.
    pub fn is_offline(&self, k: usize) -> bool {
        self.members[k].offline
    }

    /// Keeps every message delivered to member `k` from now on ([`VirtualNet::inbox`], at most [`INBOX_CAP`]).
    pub fn keep_inbox(&mut self, k: usize) {
        self.members[k].inbox.get_or_insert_with(Vec::new);
    }

    /// The messages delivered to member `k` since [`VirtualNet::keep_inbox`]: (sender, message).
    pub fn inbox(&self, k: usize) -> &[(usize, Message)] {
        self.members[k].inbox.as_deref().unwrap_or_default()
    }

    // ------------------------------------------------------------------------------------------- ledgers

    /// Where ledger `hop` is at member `k`.
    pub fn ledger_phase(&self, k: usize, hop: usize) -> Option<Phase> {
        self.members[k]
            .node
            .ledger()
            .channel(&self.hops[hop])
            .map(|c| c.phase())
    }

    /// Member `k`'s ETH balance in ledger `hop` (what is locked in leaves is not counted).
    ///
    /// # Panics
    ///
    /// When `k` is not in that ledger.
    pub fn balance(&self, k: usize, hop: usize) -> U256 {
        self.members[k]
            .node
            .ledger()
            .channel(&self.hops[hop])
            .unwrap_or_else(|| panic!("member {k} is not in ledger {hop}"))
            .balance(&ETH)
    }

    /// Member `k`'s ETH balances summed over the net's ledgers it is in.
    pub fn total(&self, k: usize) -> U256 {
        let node = self.members[k].node.ledger();
        self.hops
            .iter()
            .filter_map(|h| node.channel(h))
            .map(|c| c.balance(&ETH))
            .fold(U256::ZERO, |a, b| a + b)
    }

    /// What ledger `hop` locks in leaves (ETH) in the latest state member `k` holds signed by both.
    pub fn locked(&self, k: usize, hop: usize) -> U256 {
        self.members[k]
            .node
            .ledger()
            .channel(&self.hops[hop])
            .and_then(|c| c.supported())
            .map(|s| s.state.outcome.assets[0].locked)
            .unwrap_or_default()
    }

    /// Member `k`'s leaves in ledger `hop`.
    pub fn table(&self, k: usize, hop: usize) -> Option<&SubTree> {
        self.members[k].node.ledger().table(&self.hops[hop])
    }
}
