//! Whole-network property test of virtual channels: a line of 3 to 6 nodes with a funded ledger between
//! neighbours, random virtual channels between any two of them (0 to 4 intermediaries), random payments and
//! settles, a wire that drops, duplicates, delays and reorders messages, and crashes with restart from the store.
//! Once the network heals and every channel settles: funds are conserved, every ledger's sub-channel table is
//! empty (nothing stays locked), every intermediary breaks even, and no endpoint ends below what its own payments
//! leave it. Cases: `FERRY_PROPTEST_CASES` (default 64).

use alloy::primitives::{B256, U256};
use ferry_simulations::virtual_net::{ETH, Faults, Leaders, OpenV, VirtualNet};
use ferry_virtual::protocol::VirtualPhase;
use proptest::prelude::*;

const DEPOSIT: u64 = 1_000_000;

/// A line of `n` members, each leading its ledger towards B, with quick resends and peers never given up on (the
/// wire heals in the end: liveness comes from resending).
fn line(n: usize, seed: u64) -> VirtualNet {
    VirtualNet::builder(n)
        .deposit(U256::from(DEPOSIT))
        .leaders(Leaders::TowardA)
        .ledger_config(|c| {
            c.resend_ms = 300;
            c.max_resend_ms = 2_000;
            c.peer_timeout_ms = u64::MAX / 4;
        })
        .seed(seed)
        .build()
}

#[derive(Debug, Clone)]
enum Action {
    Open {
        from: usize,
        to: usize,
        a: u64,
        b: u64,
    },
    Pay {
        v: usize,
        by_first: bool,
        amount: u64,
    },
    Settle {
        v: usize,
        by_first: bool,
    },
    Crash {
        who: usize,
    },
    Wait {
        steps: usize,
    },
}

fn action(n: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..n, 0..n, 1..1000u64, 0..1000u64).prop_map(move |(x, y, a, b)| {
            let (from, to) = if x < y { (x, y) } else if y < x { (y, x) } else { (0, n - 1) };
            Action::Open { from, to, a, b }
        }),
        6 => (0..8usize, any::<bool>(), 1..300u64).prop_map(|(v, by_first, amount)| Action::Pay { v, by_first, amount }),
        2 => (0..8usize, any::<bool>()).prop_map(|(v, by_first)| Action::Settle { v, by_first }),
        1 => (0..n).prop_map(|who| Action::Crash { who }),
        2 => (1..20usize).prop_map(|steps| Action::Wait { steps }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: super::proptest_cases(64), max_shrink_iters: 100, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn virtual_channels_settle_and_release_everything_under_faults_and_crashes(
        n in 3..7usize,
        actions in proptest::collection::vec(action(6), 1..30),
        drop_pct in 0..20u8,
        dup_pct in 0..20u8,
        max_delay in 0..500u64,
        seed in any::<u64>(),
    ) {
        let mut net = line(n, seed);
        let initial: Vec<U256> = (0..n).map(|i| net.total(i)).collect();
        net.set_faults(Faults { drop_pct, dup_pct, max_delay_ms: max_delay });
        // (V, first endpoint, last endpoint)
        let mut vs: Vec<(B256, usize, usize)> = vec![];
        let mut paid = vec![U256::ZERO; n];
        for a in actions {
            match a {
                Action::Open { from, to, a, b } => {
                    let (from, to) = (from % n, to % n);
                    if from >= to { continue; }
                    let fees = vec![U256::ZERO; to - from + 1];
                    if let Ok(v) = net.open(OpenV::payment(a, b).between(from, to).fees(fees)) {
                        vs.push((v, from, to));
                    }
                }
                Action::Pay { v, by_first, amount } => {
                    if let Some((id, f, l)) = vs.get(v % vs.len().max(1)).copied() {
                        let who = if by_first { f } else { l };
                        if net.node_mut(who).pay(id, ETH, U256::from(amount)).is_ok() {
                            paid[who] += U256::from(amount);
                        }
                    }
                }
                Action::Settle { v, by_first } => {
                    if let Some((id, f, l)) = vs.get(v % vs.len().max(1)).copied() {
                        let now = net.now();
                        let _ = net.node_mut(if by_first { f } else { l }).settle(id, now);
                    }
                }
                Action::Crash { who } => net.crash_restart(who % n),
                Action::Wait { steps } => net.run(steps),
            }
            net.tick();
        }
        // Heal, let every open finish (or time out), settle every channel that opened, and let it all run out.
        net.set_faults(Faults::default());
        net.run(400);
        for (id, f, _) in &vs {
            let now = net.now();
            let _ = net.node_mut(*f).settle(*id, now);
        }
        net.run(1200);
        for (id, f, l) in &vs {
            for i in *f..=*l {
                let phase = net.v_phase(i, *id);
                prop_assert!(
                    phase.is_none_or(|p| p == VirtualPhase::Released),
                    "V {} at member {} is {:?}", id, i, phase
                );
            }
        }
        for h in 0..n - 1 {
            let t = net.table(h, h).unwrap().len();
            prop_assert_eq!(t, 0, "ledger {} still hosts sub-channels", h);
        }
        let finals: Vec<U256> = (0..n).map(|i| net.total(i)).collect();
        prop_assert_eq!(finals.iter().fold(U256::ZERO, |a, b| a + *b), initial.iter().fold(U256::ZERO, |a, b| a + *b), "funds not conserved");
        for i in 0..n {
            let endpoint = vs.iter().any(|(_, f, l)| *f == i || *l == i);
            if !endpoint {
                prop_assert_eq!(finals[i], initial[i], "intermediary {} does not break even", i);
            }
            prop_assert!(finals[i] + paid[i] >= initial[i], "node {} ended below what its own payments leave it", i);
        }
    }
}
