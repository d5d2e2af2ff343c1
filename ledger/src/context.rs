//! The chain context every signature is bound to (S1): the EIP-712 domain's chain id and verifying contract. The
//! lowest layer above the errors; re-exported as [`ferry_ledger::ChainContext`](crate::ChainContext) (and, for older
//! paths, `ferry_ledger::support::ChainContext`).

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{State, state_digest};

/// The chain context states are signed for (the EIP-712 domain's chain id and verifying contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainContext {
    /// The chain id.
    pub chain_id: u64,
    /// The adjudicator's address.
    pub adjudicator: Address,
}

impl ChainContext {
    /// The EIP-712 digest of `state` in this context.
    pub fn digest(&self, state: &State) -> B256 {
        state_digest(state, U256::from(self.chain_id), self.adjudicator)
    }

    /// The EIP-712 domain of this context.
    pub fn domain(&self) -> alloy::sol_types::Eip712Domain {
        ferry_contracts::domain(U256::from(self.chain_id), self.adjudicator)
    }
}
