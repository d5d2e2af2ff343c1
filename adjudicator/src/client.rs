//! The Adjudicator's entry points as typed async methods over any [`Chain`].

use std::sync::Arc;

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;
use ferry_contracts::IAdjudicator as Adj;
use ferry_contracts::{
    Artifact, Certificate, ChannelParams, LeafProof, Signature, State, SubAlloc,
};

use crate::chain::{Chain, ChannelStatus, Holdings, Receipt, TxRequest};
use crate::{Error, Result};

alloy::sol! {
    /// The ERC-20 subset Ferry uses, plus the test tokens' `mint`.
    interface IERC20Min {
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function mint(address to, uint256 amount) external;
    }
}

/// A handle on the Adjudicator of a chain.
#[derive(Clone)]
pub struct AdjudicatorClient {
    chain: Arc<dyn Chain>,
}

impl std::fmt::Debug for AdjudicatorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdjudicatorClient")
            .field("adjudicator", &self.chain.adjudicator())
            .finish()
    }
}

impl AdjudicatorClient {
    /// A client for `chain`'s adjudicator.
    pub fn new(chain: Arc<dyn Chain>) -> Self {
        Self { chain }
    }

    /// The chain.
    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    async fn send(&self, from: Address, data: Vec<u8>, value: U256) -> Result<Receipt> {
        self.chain
            .send(TxRequest {
                from,
                to: self.chain.adjudicator(),
                data: Bytes::from(data),
                value,
            })
            .await
    }

    async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        let out = self.chain.call(to, Bytes::from(call.abi_encode())).await?;
        C::abi_decode_returns(&out).map_err(|e| Error::Decode {
            what: "call return",
            reason: e.to_string(),
        })
    }

    /// `deposit`: ETH when `asset` is zero (sent along), otherwise a token the sender approved.
    pub async fn deposit(
        &self,
        from: Address,
        asset: Address,
        channel_id: alloy::primitives::B256,
        participant: u8,
        expected_held: U256,
        amount: U256,
    ) -> Result<Receipt> {
        let call = Adj::depositCall {
            asset,
            channelId: channel_id,
            participant: U256::from(participant),
            expectedHeld: expected_held,
            amount,
        };
        let value = if asset == Address::ZERO {
            amount
        } else {
            U256::ZERO
        };
        self.send(from, call.abi_encode(), value).await
    }

    /// `conclude`.
    pub async fn conclude(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
        sigs: &[Signature],
    ) -> Result<Receipt> {
        let call = Adj::concludeCall {
            params: params.clone(),
            state: state.clone(),
            sigs: sigs.to_vec(),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `concludeAndWithdraw`: a ledger channel's happy-path close in one transaction.
    pub async fn conclude_and_withdraw(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
        sigs: &[Signature],
    ) -> Result<Receipt> {
        let call = Adj::concludeAndWithdrawCall {
            params: params.clone(),
            state: state.clone(),
            sigs: sigs.to_vec(),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `challenge` (with V's certificate where needed).
    pub async fn challenge(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
        sigs: &[Signature],
        cert: Option<&Certificate>,
    ) -> Result<Receipt> {
        let cert = cert.cloned().unwrap_or_else(empty_certificate);
        let call = Adj::challengeCall {
            params: params.clone(),
            state: state.clone(),
            sigs: sigs.to_vec(),
            cert,
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `checkpoint` (ledger channels).
    pub async fn checkpoint(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
        sigs: &[Signature],
    ) -> Result<Receipt> {
        let call = Adj::checkpointCall {
            params: params.clone(),
            state: state.clone(),
            sigs: sigs.to_vec(),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `progress`: an endpoint's app move on top of the registered state.
    pub async fn progress(
        &self,
        from: Address,
        params: &ChannelParams,
        prev: &State,
        next: &State,
        mover: usize,
        mover_sig: &Signature,
    ) -> Result<Receipt> {
        let call = Adj::progressCall {
            params: params.clone(),
            from: prev.clone(),
            to: next.clone(),
            moverIndex: U256::from(mover),
            moverSig: mover_sig.clone(),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `withdraw`: pays a finalized ledger channel's registered outcome out.
    pub async fn withdraw(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
    ) -> Result<Receipt> {
        let call = Adj::withdrawCall {
            params: params.clone(),
            state: state.clone(),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `withdrawPartial`.
    pub async fn withdraw_partial(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
        sigs: &[Signature],
        participant: u8,
    ) -> Result<Receipt> {
        let call = Adj::withdrawPartialCall {
            params: params.clone(),
            state: state.clone(),
            sigs: sigs.to_vec(),
            participant: U256::from(participant),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `claim`: pays one leaf of a finalized ledger by V's finalized outcome.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim(
        &self,
        from: Address,
        ledger: &ChannelParams,
        ledger_state: &State,
        leaf: &SubAlloc,
        proof: &LeafProof,
        virt: &ChannelParams,
        virt_state: &State,
    ) -> Result<Receipt> {
        let call = Adj::claimCall {
            ledgerParams: ledger.clone(),
            ledgerState: ledger_state.clone(),
            leaf: leaf.clone(),
            proof: proof.clone(),
            virtualParams: virt.clone(),
            virtualState: virt_state.clone(),
        };
        self.send(from, call.abi_encode(), U256::ZERO).await
    }

    /// `withdrawCredit`: pulls payouts that could not be pushed.
    pub async fn withdraw_credit(&self, from: Address, asset: Address) -> Result<Receipt> {
        self.send(
            from,
            Adj::withdrawCreditCall { asset }.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// `statusOf`.
    pub async fn status_of(&self, channel_id: alloy::primitives::B256) -> Result<ChannelStatus> {
        let r = self
            .view(
                self.chain.adjudicator(),
                Adj::statusOfCall {
                    channelId: channel_id,
                },
            )
            .await?;
        Ok(ChannelStatus {
            version: r.version.to::<u64>(),
            finalizes_at: r.finalizesAt.to::<u64>(),
            moves: r.moves,
            certified: r.certified,
            fingerprint: U256::from(r.fingerprint),
        })
    }

    /// `holdings`.
    pub async fn holdings(
        &self,
        channel_id: alloy::primitives::B256,
        asset: Address,
    ) -> Result<Holdings> {
        let r = self
            .view(
                self.chain.adjudicator(),
                Adj::holdingsCall {
                    channelId: channel_id,
                    asset,
                },
            )
            .await?;
        Ok(Holdings {
            deposited: [r.dep0, r.dep1],
            withdrawn: [r.wd0, r.wd1],
            claimed: r.claimed,
        })
    }

    /// `credit`: payouts credited to `owner`.
    pub async fn credit(&self, asset: Address, owner: Address) -> Result<U256> {
        self.view(self.chain.adjudicator(), Adj::creditCall { asset, owner })
            .await
    }

    /// Deploys one of the bundled contracts (apps, test tokens, the harness).
    pub async fn deploy(&self, from: Address, artifact: Artifact) -> Result<Address> {
        self.chain.deploy(from, artifact.bytecode()?).await
    }

    /// Mints test tokens.
    pub async fn mint(
        &self,
        from: Address,
        token: Address,
        to: Address,
        amount: U256,
    ) -> Result<Receipt> {
        let data = IERC20Min::mintCall { to, amount }.abi_encode();
        self.chain
            .send(TxRequest {
                from,
                to: token,
                data: data.into(),
                value: U256::ZERO,
            })
            .await
    }

    /// Approves the adjudicator to pull `amount` of `token` from `from`.
    pub async fn approve(&self, from: Address, token: Address, amount: U256) -> Result<Receipt> {
        let data = IERC20Min::approveCall {
            spender: self.chain.adjudicator(),
            amount,
        }
        .abi_encode();
        self.chain
            .send(TxRequest {
                from,
                to: token,
                data: data.into(),
                value: U256::ZERO,
            })
            .await
    }

    /// A token balance.
    pub async fn token_balance(&self, token: Address, owner: Address) -> Result<U256> {
        self.view(token, IERC20Min::balanceOfCall { owner }).await
    }

    /// ETH or token balance, by asset.
    pub async fn asset_balance(&self, asset: Address, owner: Address) -> Result<U256> {
        if asset == Address::ZERO {
            self.chain.balance(owner).await
        } else {
            self.token_balance(asset, owner).await
        }
    }
}

/// An empty certificate (no signatures): for challenges that need none.
pub fn empty_certificate() -> Certificate {
    Certificate {
        state: State {
            channelId: Default::default(),
            version: U48::ZERO,
            outcome: ferry_contracts::Outcome {
                assets: vec![],
                subRoot: Default::default(),
            },
            appData: Bytes::new(),
            isFinal: false,
        },
        sigs: vec![],
    }
}
