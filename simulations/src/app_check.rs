//! [`AppCheck`]: an app's Rust rules against its contract, on the same inputs. A node signs only the moves its
//! rules accept and the chain plays only the moves the contract accepts (S7), so an app whose two halves disagree
//! can lose its users' funds; an app builder runs its own property test through this.
//!
//! ```
//! use ferry_ledger::app::RockPaperScissors;
//! use ferry_ledger::contracts::Artifact;
//! use ferry_simulations::app_check::AppCheck;
//!
//! let check = AppCheck::deploy(Artifact::RockPaperScissors.bytecode().unwrap()).unwrap();
//! let params = check.params(3);
//! let from = check.state(&params, 1, &[30, 0, 30], ferry_ledger::app::rps::ready_data());
//! // A move by the last endpoint from a ready game: both halves refuse it.
//! let to = ferry_ledger::state::next(&from).unwrap();
//! assert_eq!(check.agree(&RockPaperScissors, &params, &from, &to, 2), Ok(false));
//! ```

use std::sync::Arc;

use alloy::primitives::aliases::{U48, U96};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolCall;
use ferry_adjudicator::{Chain, EmbeddedChain, Error as ChainError};
use ferry_ledger::app::App;
use ferry_ledger::contracts::{AssetOutcome, IApp, Outcome};
use ferry_ledger::{ChannelParams, State};

use crate::virtual_net::ready;
use crate::{Error, Result};

/// An app's contract deployed on an [`EmbeddedChain`] of its own, to compare its verdicts with the app's rules.
#[derive(Debug, Clone)]
pub struct AppCheck {
    chain: Arc<EmbeddedChain>,
    address: Address,
}

impl AppCheck {
    /// Deploys the contract with creation bytecode `bytecode` on a fresh embedded chain.
    pub fn deploy(bytecode: Bytes) -> Result<Self> {
        let chain = Arc::new(EmbeddedChain::new()?);
        let from = chain.accounts()[0];
        let receipt = ready(chain.deploy(from, bytecode))?;
        let address = receipt
            .contract_address
            .ok_or(Error::Chain(ChainError::Node(
                "the deployment created no contract".into(),
            )))?;
        Ok(Self { chain, address })
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The contract's verdict on the move `from` → `to` by the participant at `mover`: `true` when
    /// `validTransition` returns `true`, `false` when it returns `false` or reverts.
    pub fn contract_verdict(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<bool> {
        let call = IApp::validTransitionCall {
            params: params.clone(),
            from: from.clone(),
            to: to.clone(),
            moverIndex: U256::from(mover),
        };
        match ready(self.chain.call(self.address, call.abi_encode().into())) {
            Ok(out) => IApp::validTransitionCall::abi_decode_returns(&out).map_err(|e| {
                Error::Chain(ChainError::Node(format!(
                    "validTransition returned no bool: {e}"
                )))
            }),
            Err(ChainError::Reverted { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The verdict of both halves on the move `from` → `to` by the participant at `mover`, when they agree
    /// (`true`: valid); `Err` with both verdicts when they do not.
    pub fn agree(
        &self,
        rules: &dyn App,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<bool, String> {
        let rust = rules.valid_transition(params, from, to, mover);
        let contract = self
            .contract_verdict(params, from, to, mover)
            .map_err(|e| format!("the contract could not be asked: {e}"))?;
        if rust.is_ok() == contract {
            Ok(contract)
        } else {
            Err(format!(
                "the rules say {rust:?}, the contract says {contract} (mover {mover}, from version {}, to \
                 version {})",
                from.version, to.version
            ))
        }
    }

    /// Params of a virtual channel over `n` members (made-up addresses) with this app, as a test input.
    pub fn params(&self, n: usize) -> ChannelParams {
        ChannelParams {
            kind: ferry_ledger::contracts::KIND_VIRTUAL,
            chainId: U256::from(self.chain.chain_id()),
            adjudicator: Address::repeat_byte(0xad),
            participants: (1..=n)
                .map(|i| Address::with_last_byte(u8::try_from(i).unwrap_or(u8::MAX)))
                .collect(),
            nonce: U256::from(1),
            app: self.address,
            challengeDuration: U48::from(60u8),
            maxMoves: U48::from(2u8),
            challengeBond: U96::ZERO,
            hops: (1..n)
                .map(|i| B256::with_last_byte(u8::try_from(i).unwrap_or(u8::MAX)))
                .collect(),
        }
    }

    /// A state of the channel `params` at `version` with one ETH asset holding `balances` (one per member), as a
    /// test input.
    pub fn state(
        &self,
        params: &ChannelParams,
        version: u64,
        balances: &[u64],
        app_data: Bytes,
    ) -> State {
        let bal: Vec<U256> = balances.iter().map(|b| U256::from(*b)).collect();
        State {
            channelId: ferry_ledger::contracts::channel_id(params),
            version: U48::from(version),
            outcome: Outcome {
                assets: vec![AssetOutcome {
                    asset: Address::ZERO,
                    deposited: bal.clone(),
                    balances: bal,
                    withdrawn: vec![U256::ZERO; balances.len()],
                    locked: U256::ZERO,
                }],
                subRoot: ferry_ledger::contracts::empty_root(),
            },
            appData: app_data,
            isFinal: false,
        }
    }
}
