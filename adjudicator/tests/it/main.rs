//! The same scenarios against `EmbeddedChain` and against `RpcChain` on a real anvil, a gas-parity check between
//! the two, and what only one of them has.

mod embedded_only;
mod harness;
mod rpc_only;
mod scenarios;

type R = Result<(), harness::BoxError>;

/// Every scenario, run once per backend: `<name>::embedded` on a default embedded chain, `<name>::anvil` on
/// `RpcChain` + anvil and then on an embedded twin of it (same accounts) to compare the gas of every recorded
/// transaction.
macro_rules! on_both_chains {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() -> crate::R {
                    let h = crate::harness::Harness::embedded()?;
                    crate::scenarios::$name(&h).await
                }

                /// On anvil; then again on an embedded chain with anvil's accounts, which deploys at the same
                /// addresses, so every transaction is the same bytes on both chains: the gas used must be equal.
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn anvil() -> crate::R {
                    let anvil = crate::harness::spawn_anvil()?;
                    let rpc = crate::harness::Harness::on_anvil(&anvil).await?;
                    let embedded = crate::harness::Harness::embedded_like(&anvil)?;
                    assert_eq!(rpc.chain.adjudicator(), embedded.chain.adjudicator());
                    crate::scenarios::$name(&rpc).await?;
                    crate::scenarios::$name(&embedded).await?;
                    let (a, e) = (rpc.gas.lock().map_err(|e| e.to_string())?, embedded.gas.lock().map_err(|e| e.to_string())?);
                    for ((label, gas_anvil), (_, gas_embedded)) in a.iter().zip(e.iter()) {
                        println!("gas {:<48} {gas_embedded:>9} (anvil {gas_anvil})", label);
                    }
                    assert_eq!(*a, *e, "gas differs between anvil and the embedded chain");
                    Ok(())
                }
            }
        )*
    };
}

on_both_chains!(
    deploys_contracts_and_reads_the_head,
    transfers_pay_intrinsic_and_calldata_gas,
    eth_deposits_follow_expected_held,
    happy_close_is_one_transaction,
    conclude_then_withdraw,
    erc20_ledger_round_trip,
    challenge_is_cleared_by_checkpoint,
    challenge_then_withdraw_after_timeout,
    withdraw_partial_pays_one_side,
    failed_payouts_are_credited_then_pulled,
    virtual_channel_claims_pay_both_ledgers,
    progress_registers_an_app_move,
    reverts_are_decoded_by_name,
    out_of_gas_is_its_own_error,
    events_stream_from_a_past_block,
);
