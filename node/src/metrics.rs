//! The node's metrics in the Prometheus text format, served at `GET /metrics` on the API port (behind the same bearer
//! token): what an intermediary watches — its channels by phase, its liquidity free and locked per asset, the fees it
//! earned — and the node's counters.
//!
//! Everything is computed from one [`NodeStatus`] at scrape time, so the figures are a consistent snapshot of the
//! node task. Amounts are in the asset's base unit (wei for ETH) as Prometheus floats (exact up to 2^53).

use std::sync::atomic::AtomicU64;

use alloy::primitives::{Address, U256};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::runtime::NodeStatus;
use ferry_virtual::protocol::VirtualPhase;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn amount(v: U256) -> f64 {
    // U256's decimal text always parses as a float (rounded beyond 2^53).
    v.to_string().parse().unwrap_or(f64::MAX)
}

fn asset_label(asset: &Address) -> (String, String) {
    ("asset".into(), format!("{asset:#x}"))
}

fn phase_name(phase: VirtualPhase) -> String {
    format!("{phase:?}").to_lowercase()
}

/// Renders `status` as a Prometheus text exposition (ending with `# EOF`).
pub fn render(status: &NodeStatus) -> String {
    let mut registry = Registry::with_prefix("ferry");

    let ledgers = Family::<Labels, Gauge>::default();
    let balance = Family::<Labels, FloatGauge>::default();
    let locked = Family::<Labels, FloatGauge>::default();
    for l in &status.ledgers {
        ledgers
            .get_or_create(&vec![("phase".into(), l.phase.clone())])
            .inc();
        for b in &l.balances {
            for (side, v) in [("mine", b.mine), ("peer", b.theirs)] {
                balance
                    .get_or_create(&vec![asset_label(&b.asset), ("side".into(), side.into())])
                    .inc_by(amount(v));
            }
        }
        for a in &l.locked {
            locked
                .get_or_create(&vec![asset_label(&a.asset)])
                .inc_by(amount(a.amount));
        }
    }
    registry.register(
        "ledger_channels",
        "Ledger channels of this node, by phase",
        ledgers,
    );
    registry.register(
        "ledger_balance",
        "Balances in this node's ledger channels (latest state signed by both), by asset and side",
        balance,
    );
    registry.register(
        "ledger_locked",
        "What virtual channels lock in this node's ledger channels (both sides, fees included), by asset",
        locked,
    );

    let virtuals = Family::<Labels, Gauge>::default();
    let fees = Family::<Labels, FloatGauge>::default();
    for v in &status.virtuals {
        let last = v.path.len().saturating_sub(1);
        let role = if v.me == 0 || v.me == last {
            "endpoint"
        } else {
            "intermediary"
        };
        virtuals
            .get_or_create(&vec![
                ("phase".into(), phase_name(v.phase)),
                ("role".into(), role.into()),
            ])
            .inc();
        if role == "intermediary"
            && v.funded
            && let Some(first) = v.balances.first()
        {
            fees.get_or_create(&vec![asset_label(&first.asset)])
                .inc_by(amount(v.fee));
        }
    }
    registry.register(
        "virtual_channels",
        "Virtual channels this node is on, by phase and role",
        virtuals,
    );
    registry.register(
        "fees_earned",
        "Routing fees this node earned as an intermediary: its fee on every virtual channel it holds the funding \
         certificate of, by asset",
        fees,
    );

    let peers = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    peers.set(i64::try_from(status.peers.len()).unwrap_or(i64::MAX));
    registry.register("peers_connected", "Peers connected now", peers);

    let s = &status.stats;
    for (name, help, value) in [
        (
            "transactions_in_flight",
            "Transactions submitted and not yet landed or failed",
            s.txs_in_flight,
        ),
        (
            "chain_next_block",
            "The first block the node has not read yet",
            s.next_block,
        ),
    ] {
        let gauge = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, gauge);
    }
    for (name, help, value) in [
        (
            "messages_sent",
            "Protocol messages handed to the network",
            s.messages_sent,
        ),
        (
            "messages_received",
            "Protocol messages received",
            s.messages_received,
        ),
        ("messages_refused", "Messages refused", s.refused),
        (
            "refusal_disconnects",
            "Peers disconnected for too many refused messages",
            s.refusal_disconnects,
        ),
        (
            "transactions_landed",
            "Transactions that landed",
            s.txs_landed,
        ),
        (
            "gas_used",
            "Gas of the transactions that landed",
            s.gas_used,
        ),
        (
            "chain_reorgs",
            "Reorganizations deeper than the confirmations below blocks the node had read",
            s.reorgs,
        ),
    ] {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        registry.register(name, help, counter);
    }

    let short = Gauge::<i64>::default();
    short.set(i64::from(s.bond_funds_short));
    registry.register(
        "bond_funds_short",
        "1 when the account holds less ETH than a challenge bond of its open channels (S17)",
        short,
    );

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{AssetAmount, AssetBalance, LedgerInfo, NodeStats, VirtualInfo};
    use alloy::primitives::B256;

    fn virtual_on(me: usize, phase: VirtualPhase, fee: u64, funded: bool) -> VirtualInfo {
        VirtualInfo {
            id: B256::repeat_byte(me as u8 + 1),
            path: vec![
                Address::repeat_byte(1),
                Address::repeat_byte(2),
                Address::repeat_byte(3),
            ],
            me,
            phase,
            version: 1,
            balances: vec![AssetBalance {
                asset: Address::ZERO,
                mine: U256::from(50),
                theirs: U256::from(20),
            }],
            fee: U256::from(fee),
            funded,
            challenge_bond: U256::ZERO,
        }
    }

    #[test]
    fn an_intermediarys_channels_liquidity_and_fees() {
        let status = NodeStatus {
            address: Address::repeat_byte(2),
            ledgers: vec![
                LedgerInfo {
                    id: B256::repeat_byte(9),
                    peer: Address::repeat_byte(1),
                    phase: "running".into(),
                    version: 4,
                    balances: vec![AssetBalance {
                        asset: Address::ZERO,
                        mine: U256::from(80),
                        theirs: U256::from(47),
                    }],
                    sub_channels: 1,
                    locked: vec![AssetAmount {
                        asset: Address::ZERO,
                        amount: U256::from(73),
                    }],
                    reorganized: false,
                    challenge_bond: U256::ZERO,
                },
                LedgerInfo {
                    id: B256::repeat_byte(8),
                    peer: Address::repeat_byte(3),
                    phase: "running".into(),
                    version: 2,
                    balances: vec![AssetBalance {
                        asset: Address::ZERO,
                        mine: U256::from(50),
                        theirs: U256::from(80),
                    }],
                    sub_channels: 1,
                    locked: vec![AssetAmount {
                        asset: Address::ZERO,
                        amount: U256::from(70),
                    }],
                    reorganized: false,
                    challenge_bond: U256::ZERO,
                },
            ],
            virtuals: vec![
                virtual_on(1, VirtualPhase::Open, 3, true),
                // Not funded: its fee is not earned (it goes back to A if the open fails).
                virtual_on(1, VirtualPhase::Opening, 5, false),
                virtual_on(0, VirtualPhase::Open, 0, true),
            ],
            peers: vec![Address::repeat_byte(1)],
            stats: NodeStats {
                messages_sent: 12,
                messages_received: 10,
                refused: 1,
                refusal_disconnects: 0,
                txs_landed: 2,
                gas_used: 100_000,
                txs_in_flight: 3,
                next_block: 42,
                reorgs: 1,
                bond_funds_short: true,
            },
        };
        let text = render(&status);
        let eth = "0x0000000000000000000000000000000000000000";
        for line in [
            "ferry_ledger_channels{phase=\"running\"} 2".to_string(),
            format!("ferry_ledger_balance{{asset=\"{eth}\",side=\"mine\"}} 130.0"),
            format!("ferry_ledger_balance{{asset=\"{eth}\",side=\"peer\"}} 127.0"),
            format!("ferry_ledger_locked{{asset=\"{eth}\"}} 143.0"),
            "ferry_virtual_channels{phase=\"open\",role=\"intermediary\"} 1".to_string(),
            "ferry_virtual_channels{phase=\"opening\",role=\"intermediary\"} 1".to_string(),
            "ferry_virtual_channels{phase=\"open\",role=\"endpoint\"} 1".to_string(),
            format!("ferry_fees_earned{{asset=\"{eth}\"}} 3.0"),
            "ferry_peers_connected 1".to_string(),
            "ferry_messages_sent_total 12".to_string(),
            "ferry_messages_refused_total 1".to_string(),
            "ferry_gas_used_total 100000".to_string(),
            "ferry_transactions_in_flight 3".to_string(),
            "ferry_chain_next_block 42".to_string(),
            "ferry_chain_reorgs_total 1".to_string(),
            "ferry_bond_funds_short 1".to_string(),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn an_empty_node_renders_its_counters() {
        let status = NodeStatus {
            address: Address::ZERO,
            ledgers: vec![],
            virtuals: vec![],
            peers: vec![],
            stats: NodeStats::default(),
        };
        let text = render(&status);
        assert!(
            text.lines()
                .any(|l| l == "ferry_transactions_landed_total 0")
        );
        assert!(text.lines().any(|l| l == "ferry_peers_connected 0"));
    }
}
