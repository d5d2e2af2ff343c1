//! The chain: each member's chain duties on the embedded chain, made-up events on the synthetic one, holdings.

use super::*;

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- the chain

    /// Whether the net runs on the embedded chain.
    pub fn is_embedded(&self) -> bool {
        self.chain.is_embedded()
    }

    /// The embedded chain.
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn chain(&self) -> &Arc<EmbeddedChain> {
        match &self.chain {
            ChainSide::Embedded { chain, .. } => chain,
            ChainSide::Synthetic { .. } => panic!("the net runs on the synthetic chain"),
        }
    }

    /// Moves the embedded chain's clock `secs` seconds on (a block is mined at the new time); nothing is read back
    /// until the next tick.
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn advance_chain_time(&self, secs: u64) {
        ready(self.chain().advance_time(secs))
            .unwrap_or_else(|e| panic!("the embedded chain moves its clock: {e}"));
    }

    /// What the adjudicator on the embedded chain holds for channel `id` (registered version, deadline, moves).
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn onchain_status(&self, id: B256) -> ChannelStatus {
        ready(self.chain().status_of(id))
            .unwrap_or_else(|e| panic!("the embedded chain answers a status: {e}"))
    }

    /// A client of the embedded chain (to act on-chain for a byzantine member).
    ///
    /// # Panics
    ///
    /// On the synthetic chain.
    pub fn client(&self) -> &AdjudicatorClient {
        match &self.chain {
            ChainSide::Embedded { client, .. } => client,
            ChainSide::Synthetic { .. } => panic!("the net runs on the synthetic chain"),
        }
    }

    /// One round of member `k`'s chain duties on the embedded chain ([`ferry_node::chain::drive`]), whether or not
    /// it is offline; what landed and failed is recorded.
    ///
    /// # Panics
    ///
    /// On the synthetic chain, or when the chain cannot be read.
    pub fn drive(&mut self, k: usize) {
        let ChainSide::Embedded { client, .. } = &self.chain else {
            panic!("the net runs on the synthetic chain");
        };
        let (from, now) = (self.members[k].key.address(), self.now);
        let round = ready(ferry_node::chain::drive(
            client,
            from,
            &mut self.members[k].node,
            now,
        ))
        .expect("a member's chain duties run");
        self.landed
            .extend(round.landed.iter().map(|(name, _)| (k, *name)));
        self.failed.extend(
            round
                .failed
                .iter()
                .map(|(name, e)| (k, format!("{name}: {e}"))),
        );
    }

    /// Hands the `members` a synthetic chain event, at the next chain position (block) and the local clock.
    ///
    /// # Panics
    ///
    /// On the embedded chain, or when a node fails on it (its store).
    pub fn feed(&mut self, members: impl IntoIterator<Item = usize>, event: &Event) {
        let ChainSide::Synthetic { position } = &mut self.chain else {
            panic!("on the embedded chain, events come from the chain");
        };
        *position += 1;
        let position = *position;
        let now = self.now;
        for k in members {
            self.members[k]
                .node
                .handle_chain_event(position, 0, event, now)
                .expect("a node handles a chain event");
        }
    }

    /// The embedded chain's head timestamp (s).
    pub fn chain_time(&self) -> u64 {
        self.chain().head_info().timestamp
    }

    /// What member `k` holds on the embedded chain.
    pub fn balance_of(&self, k: usize) -> U256 {
        ready(self.chain().balance(self.addr(k))).expect("read a balance")
    }

    /// What each member holds on the embedded chain, and the total with the adjudicator's holdings.
    pub fn holdings(&self) -> (Vec<U256>, U256) {
        let chain = self.chain();
        let each: Vec<U256> = (0..self.members()).map(|k| self.balance_of(k)).collect();
        let total = each.iter().fold(U256::ZERO, |x, y| x + *y)
            + ready(chain.balance(chain.adjudicator())).expect("read a balance");
        (each, total)
    }

    /// [`VirtualNet::holdings`] before the ledgers were funded (zeros on the synthetic chain).
    pub fn initial_holdings(&self) -> &(Vec<U256>, U256) {
        &self.initial_holdings
    }

    /// What the adjudicator holds on the embedded chain.
    pub fn adjudicator_balance(&self) -> U256 {
        let chain = self.chain();
        ready(chain.balance(chain.adjudicator())).expect("read a balance")
    }

    /// Transactions that landed on the embedded chain: (member, name).
    pub fn landed(&self) -> &[(usize, &'static str)] {
        &self.landed
    }

    /// Whether a transaction named `name` landed (any member).
    pub fn has_landed(&self, name: &str) -> bool {
        self.landed.iter().any(|(_, n)| *n == name)
    }

    /// How many transactions named `name` landed.
    pub fn landed_count(&self, name: &str) -> usize {
        self.landed.iter().filter(|(_, n)| *n == name).count()
    }

    /// Transactions that failed on the embedded chain: (member, "name: reason").
    pub fn failed(&self) -> &[(usize, String)] {
        &self.failed
    }
}
