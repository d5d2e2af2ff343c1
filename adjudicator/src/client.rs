//! The Adjudicator's entry points as typed async methods over any [`Chain`].

use std::sync::Arc;

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolCall;
use ferry_contracts::IAdjudicator as Adj;
use ferry_contracts::{
    Artifact, Certificate, ChannelParams, LeafProof, Signature, State, SubAlloc,
};

use futures::stream::BoxStream;

use crate::chain::{
    Chain, ChainEvent, ChannelStatus, Holdings, IERC20, Receipt, TxRequest, event_stream,
};
use crate::{Error, Result};

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

    /// The Adjudicator's address.
    pub fn address(&self) -> Address {
        self.chain.adjudicator()
    }

    async fn send(&self, from: Address, data: Vec<u8>, value: U256) -> Result<Receipt> {
        self.chain
            .send(TxRequest::new(from, self.chain.adjudicator(), data).with_value(value))
            .await
    }

    async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return> {
        let out = self.chain.call(to, Bytes::from(call.abi_encode())).await?;
        C::abi_decode_returns(&out).map_err(|e| Error::Decode {
            what: "call return",
            reason: e.to_string(),
        })
    }

    /// The Adjudicator's events from `from_block` on, past ones first, then live (see [`event_stream`]).
    pub fn events(&self, from_block: u64) -> BoxStream<'static, Result<ChainEvent>> {
        event_stream(self.chain.clone(), from_block)
    }

    /// `deposit`: ETH when `asset` is zero (sent along), otherwise a token the sender approved.
    pub async fn deposit(
        &self,
        from: Address,
        asset: Address,
        channel_id: B256,
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

    /// `challenge` (with V's certificate where needed), sending `params.challengeBond` as the bond (S17).
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
        let bond = U256::from(params.challengeBond);
        self.send(from, call.abi_encode(), bond).await
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

    /// `withdrawUnlisted`: pays back both participants' deposits of `asset`, which the finalized `state` does not
    /// list.
    pub async fn withdraw_unlisted(
        &self,
        from: Address,
        params: &ChannelParams,
        state: &State,
        asset: Address,
    ) -> Result<Receipt> {
        let call = Adj::withdrawUnlistedCall {
            params: params.clone(),
            state: state.clone(),
            asset,
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

    /// `reclaimBond`: pays a finalized channel's challenge bond back to its challenger (S17).
    pub async fn reclaim_bond(&self, from: Address, channel_id: B256) -> Result<Receipt> {
        self.send(
            from,
            Adj::reclaimBondCall {
                channelId: channel_id,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// `reclaimBond`, sent only when the bond held for the channel is `from`'s own (S17): nobody pays gas to return
    /// another challenger's bond, and no transaction is sent that would revert. [`Error::NotOurBond`] otherwise.
    pub async fn reclaim_own_bond(&self, from: Address, channel_id: B256) -> Result<Receipt> {
        let (poster, amount) = self.bond_of(channel_id).await?;
        if poster != from || amount.is_zero() {
            return Err(Error::NotOurBond {
                channel_id,
                sender: from,
            });
        }
        self.reclaim_bond(from, channel_id).await
    }

    /// `bondOf`: the challenge bond held for a channel, `(poster, amount)`, both zero when none is (S17).
    pub async fn bond_of(&self, channel_id: B256) -> Result<(Address, U256)> {
        let r: Adj::bondOfReturn = self
            .view(
                self.chain.adjudicator(),
                Adj::bondOfCall {
                    channelId: channel_id,
                },
            )
            .await?;
        Ok((r.poster, r.amount))
    }

    /// `statusOf`.
    pub async fn status_of(&self, channel_id: B256) -> Result<ChannelStatus> {
        self.chain.status_of(channel_id).await
    }

    /// `holdings`.
    pub async fn holdings(&self, channel_id: B256, asset: Address) -> Result<Holdings> {
        self.chain.holdings(channel_id, asset).await
    }

    /// `claimedTotal`: paid out by claims against a ledger.
    pub async fn claimed_total(&self, ledger_id: B256, asset: Address) -> Result<U256> {
        self.view(
            self.chain.adjudicator(),
            Adj::claimedTotalCall {
                ledgerId: ledger_id,
                asset,
            },
        )
        .await
    }

    /// `isClaimed`: whether a leaf slot of a ledger was claimed.
    pub async fn is_claimed(&self, ledger_id: B256, slot: u32) -> Result<bool> {
        self.view(
            self.chain.adjudicator(),
            Adj::isClaimedCall {
                ledgerId: ledger_id,
                index: slot,
            },
        )
        .await
    }

    /// `credit`: payouts credited to `owner`.
    pub async fn credit(&self, asset: Address, owner: Address) -> Result<U256> {
        self.view(self.chain.adjudicator(), Adj::creditCall { asset, owner })
            .await
    }

    /// Deploys one of the bundled contracts (apps, test tokens, the harness) and returns its address.
    pub async fn deploy(&self, from: Address, artifact: Artifact) -> Result<Address> {
        Ok(self
            .deploy_receipt(from, artifact)
            .await?
            .contract_address
            .unwrap_or_default())
    }

    /// Deploys one of the bundled contracts; the receipt has its address and the deployment's gas.
    pub async fn deploy_receipt(&self, from: Address, artifact: Artifact) -> Result<Receipt> {
        self.chain.deploy(from, artifact.bytecode()?).await
    }

    /// Deploys a fresh [`Artifact::TestToken`] (an ERC-20 with a public mint).
    pub async fn deploy_test_token(&self, from: Address) -> Result<Address> {
        self.deploy(from, Artifact::TestToken).await
    }

    /// The chain's payment app, deploying one from `from` if the chain has none.
    pub async fn payment_app(&self, from: Address) -> Result<Address> {
        self.bundled_app(from, Artifact::PaymentApp).await
    }

    /// The chain's rock-paper-scissors app, deploying one from `from` if the chain has none.
    pub async fn rock_paper_scissors(&self, from: Address) -> Result<Address> {
        self.bundled_app(from, Artifact::RockPaperScissors).await
    }

    async fn bundled_app(&self, from: Address, artifact: Artifact) -> Result<Address> {
        match self.chain.deployed(artifact) {
            Some(a) => Ok(a),
            None => self.deploy(from, artifact).await,
        }
    }

    async fn token_tx(&self, from: Address, token: Address, data: Vec<u8>) -> Result<Receipt> {
        self.chain.send(TxRequest::new(from, token, data)).await
    }

    /// Mints test tokens (any of the bundled test tokens).
    pub async fn mint(
        &self,
        from: Address,
        token: Address,
        to: Address,
        amount: U256,
    ) -> Result<Receipt> {
        self.token_tx(from, token, IERC20::mintCall { to, amount }.abi_encode())
            .await
    }

    /// Approves the adjudicator to pull `amount` of `token` from `from`.
    pub async fn approve(&self, from: Address, token: Address, amount: U256) -> Result<Receipt> {
        let spender = self.chain.adjudicator();
        self.token_tx(
            from,
            token,
            IERC20::approveCall { spender, amount }.abi_encode(),
        )
        .await
    }

    /// Transfers `amount` of `token` from `from` to `to`.
    pub async fn transfer(
        &self,
        from: Address,
        token: Address,
        to: Address,
        amount: U256,
    ) -> Result<Receipt> {
        self.token_tx(
            from,
            token,
            IERC20::transferCall { to, amount }.abi_encode(),
        )
        .await
    }

    /// `RevertingToken`/`GasBurningToken`: makes transfers to `who` fail (or work again).
    pub async fn set_blocked(
        &self,
        from: Address,
        token: Address,
        who: Address,
        blocked: bool,
    ) -> Result<Receipt> {
        let call = IERC20::setBlockedCall {
            who,
            isBlocked: blocked,
        };
        self.token_tx(from, token, call.abi_encode()).await
    }

    /// A token balance.
    pub async fn token_balance(&self, token: Address, owner: Address) -> Result<U256> {
        self.chain.token_balance(token, owner).await
    }

    /// ETH or token balance, by asset.
    pub async fn asset_balance(&self, asset: Address, owner: Address) -> Result<U256> {
        self.chain.asset_balance(asset, owner).await
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
