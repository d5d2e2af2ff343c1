//! The same scenarios against `EmbeddedChain` and against `RpcChain` on a real anvil.

mod harness;
mod rpc_only;
mod scenarios;

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Runs each scenario once per backend.
macro_rules! on_both_chains {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() -> crate::R {
                let h = crate::harness::Harness::embedded().await?;
                crate::scenarios::$name(&h).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn anvil() -> crate::R {
                let (h, _anvil) = crate::harness::Harness::anvil().await?;
                crate::scenarios::$name(&h).await
            }
        }
    )*};
}

on_both_chains!(
    eth_deposits_follow_expected_held,
    happy_close_is_one_transaction,
    erc20_ledger_round_trip,
    challenge_is_cleared_by_checkpoint,
    challenge_then_withdraw_after_timeout,
    virtual_channel_claims_pay_both_ledgers,
    reverts_are_decoded_by_name,
    events_stream_from_a_past_block,
);
