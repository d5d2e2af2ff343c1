//! The gas report runs every path end to end and its figures have the expected shape.

use ferry_simulations::anchors::Anchors;
use ferry_simulations::gas::measure;

#[tokio::test]
async fn gas_report_covers_every_path_and_claims_grow_with_log_n()
-> Result<(), ferry_simulations::Error> {
    let report = measure(&[1, 1_000]).await?;
    let anchors = Anchors::load()?;
    for key in [
        "eth_deposit_first",
        "eth_deposit_second",
        "erc20_deposit_first",
        "erc20_deposit_second",
        "happy_exit_eth_both_paid",
        "direct_dispute_both_paid.total",
        "checkpoint_no_challenge_pending",
        "checkpoint_clearing_a_challenge",
        "ledger_funded_dispute_total",
        "virtual_funded_dispute.total",
    ] {
        let row = report.rows.iter().find(|r| r.anchor == Some(key));
        assert!(row.is_some_and(|r| r.ferry > 21_000), "row for {key}");
        assert!(anchors.nitro(key).is_some(), "anchor {key}");
    }
    // A table of 1,000 needs 10 siblings, a table of 1 none: the claim costs more, by the proof only.
    assert_eq!(report.claims[0].siblings, 0);
    assert_eq!(report.claims[1].siblings, 10);
    assert!(report.claims[1].gas > report.claims[0].gas);
    assert!(
        report.claims[1].gas - report.claims[0].gas < 10 * 2_000,
        "about one hash and 32 calldata bytes per level"
    );
    let table = report.render(&anchors);
    assert!(table.contains("| lifecycles | virtual-funded dispute with a claim: total |"));
    assert!(table.contains("claim against 1,000 sub-channels (10 proof siblings)"));
    Ok(())
}
