//! The on-chain fallback of a virtual channel, end to end on the embedded chain: B goes offline after payments;
//! A challenges V with its funding certificate; once V is final on-chain, A and the intermediary settle V's leaf in
//! their ledger off-chain from that outcome (S10), and the intermediary, whose peer B is gone, challenges its
//! ledger with B and claims V's leaf there (S9). Every honest party gets its due; funds are conserved.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use ferry_virtual::adjudicator::{AdjudicatorClient, Chain, DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_virtual::ledger::contracts::Artifact;
use ferry_virtual::ledger::params::DurationPolicy;
use ferry_virtual::ledger::protocol::{Config, LedgerNode, OpenPolicy, Phase};
use ferry_virtual::ledger::store::MemoryStore;
use ferry_virtual::ledger::{ChainContext, Signer};
use ferry_virtual::protocol::{AppKind, VirtualNode, VirtualPhase, driver};

const ETH: Address = Address::ZERO;
const DEPOSIT: u64 = 100;
const WINDOW: u64 = 3_600;

struct Sim {
    chain: Arc<EmbeddedChain>,
    client: AdjudicatorClient,
    keys: Vec<Signer>,
    nodes: Vec<Option<VirtualNode<MemoryStore>>>,
    now: u64,
    landed: Vec<&'static str>,
    failed: Vec<String>,
}

impl Sim {
    async fn new(n: usize) -> Self {
        let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, n + 1).unwrap());
        let client = AdjudicatorClient::new(chain.clone());
        let ctx = ChainContext {
            chain_id: chain.chain_id(),
            adjudicator: chain.adjudicator(),
        };
        let app = chain.deployed(Artifact::PaymentApp).unwrap();
        let config = Config {
            open: OpenPolicy {
                accept: true,
                max_own_deposit: U256::from(DEPOSIT),
            },
            peer_timeout_ms: 5_000,
            grace_ms: 1_000,
            durations: DurationPolicy {
                min_challenge: 60,
                max_lock: 30 * 24 * 3600,
            },
            ..Config::default()
        };
        let keys: Vec<Signer> = (0..n)
            .map(|i| Signer::from_bytes(&EmbeddedChain::account_key(i + 1)).unwrap())
            .collect();
        let nodes = keys
            .iter()
            .map(|k| {
                let l =
                    LedgerNode::open_store(k.clone(), ctx, config.clone(), MemoryStore::new(), 0)
                        .unwrap();
                let mut v = VirtualNode::open_store(l, k.clone(), 0).unwrap();
                v.set_app(app, AppKind::Payment);
                v.set_app(
                    chain.deployed(Artifact::RockPaperScissors).unwrap(),
                    AppKind::Game,
                );
                Some(v)
            })
            .collect();
        Sim {
            chain,
            client,
            keys,
            nodes,
            now: 0,
            landed: vec![],
            failed: vec![],
        }
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    fn node(&mut self, i: usize) -> &mut VirtualNode<MemoryStore> {
        self.nodes[i].as_mut().unwrap()
    }

    async fn step(&mut self) {
        let mut wire = vec![];
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Some(n) = n {
                while let Some((to, m)) = n.poll_transmit() {
                    wire.push((i, to, m));
                }
                while n.poll_event().is_some() {}
            }
        }
        for (from, to, m) in wire {
            let to = self.keys.iter().position(|k| k.address() == to).unwrap();
            let sender = self.addr(from);
            let now = self.now;
            if let Some(n) = self.nodes[to].as_mut() {
                let _ = n.handle_message(sender, m, now);
            }
        }
        for i in 0..self.nodes.len() {
            let now = self.now;
            let from = self.addr(i);
            let Some(n) = self.nodes[i].as_mut() else {
                continue;
            };
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now).unwrap();
            }
            let round = driver::drive(&self.client, from, n, now).await.unwrap();
            self.landed.extend(round.landed.iter().map(|(n, _)| *n));
            self.failed
                .extend(round.failed.iter().map(|(n, e)| format!("{n}: {e}")));
        }
        self.now += 100;
    }

    async fn run_until(&mut self, steps: usize, done: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..steps {
            if done(self) {
                return true;
            }
            self.step().await;
        }
        done(self)
    }

    /// What each party holds on-chain, and the total with the adjudicator's holdings.
    async fn holdings(&self) -> (Vec<U256>, U256) {
        let mut each = vec![];
        for k in 0..self.keys.len() {
            each.push(self.chain.balance(self.addr(k)).await.unwrap());
        }
        let total = each.iter().fold(U256::ZERO, |x, y| x + *y)
            + self.chain.balance(self.chain.adjudicator()).await.unwrap();
        (each, total)
    }

    /// Opens and funds A–I (A leads) and I–B (I leads), both sides depositing `DEPOSIT`.
    async fn open_ledgers(&mut self) -> (B256, B256) {
        let amounts = [(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])];
        let (i, b) = (self.addr(1), self.addr(2));
        let now = self.now;
        let l0 = self
            .node(0)
            .ledger_mut()
            .open(i, &amounts, WINDOW, now)
            .unwrap();
        let l1 = self
            .node(1)
            .ledger_mut()
            .open(b, &amounts, WINDOW, now)
            .unwrap();
        let running = self
            .run_until(200, |s| {
                (0..2).all(|k| {
                    s.ledger_phase(k, [l0, l1][k]) == Some(Phase::Running)
                        && s.ledger_phase(k + 1, [l0, l1][k]) == Some(Phase::Running)
                })
            })
            .await;
        assert!(running, "ledgers not funded: {:?}", self.failed);
        (l0, l1)
    }

    /// Opens V over A–I–B with the bundled `app` and A's and B's balances, and waits until all hold it open.
    async fn open_v(&mut self, hops: (B256, B256), app: Artifact, a: u64, b: u64) -> B256 {
        let app = self.chain.deployed(app).unwrap();
        let path = vec![self.addr(0), self.addr(1), self.addr(2)];
        let now = self.now;
        let v = self
            .node(0)
            .open(
                path,
                vec![hops.0, hops.1],
                app,
                &[(ETH, [U256::from(a), U256::from(b)])],
                vec![U256::ZERO; 3],
                WINDOW,
                now,
            )
            .unwrap();
        assert!(
            self.run_until(100, |s| (0..3)
                .all(|k| s.v_phase(k, v) == Some(VirtualPhase::Open)))
                .await
        );
        v
    }

    fn ledger_phase(&self, i: usize, id: B256) -> Option<Phase> {
        self.nodes[i]
            .as_ref()?
            .ledger()
            .channel(&id)
            .map(|c| c.phase())
    }

    fn v_phase(&self, i: usize, v: B256) -> Option<VirtualPhase> {
        self.nodes[i].as_ref()?.channel(&v).map(|c| c.phase())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn b_offline_after_payments_everyone_honest_gets_its_due_on_chain() {
    let mut sim = Sim::new(3).await;
    let (start, total) = sim.holdings().await;
    let (l0, l1) = sim.open_ledgers().await;
    let v = sim.open_v((l0, l1), Artifact::PaymentApp, 50, 20).await;
    sim.node(0).pay(v, ETH, U256::from(10)).unwrap();
    sim.run_until(5, |_| false).await;
    assert_eq!(
        sim.nodes[2]
            .as_ref()
            .unwrap()
            .channel(&v)
            .unwrap()
            .balance(0),
        U256::from(30)
    );
    // B disappears (it never redeems the voucher on-chain). A challenges V with its certificate.
    sim.nodes[2] = None;
    sim.node(0).challenge(v).unwrap();
    sim.run_until(5, |_| false).await;
    assert!(sim.landed.contains(&"challenge V"), "{:?}", sim.failed);
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain: A and I swap the leaf in their ledger off-chain (S10); I's ledger with B is challenged
    // when B does not answer the removal, and after its window I claims V's leaf there.
    let l0_clear = sim
        .run_until(100, |s| {
            s.nodes[0]
                .as_ref()
                .unwrap()
                .ledger()
                .table(&l0)
                .unwrap()
                .is_empty()
        })
        .await;
    assert!(l0_clear, "L0 still hosts V: {:?}", sim.failed);
    assert!(
        sim.run_until(200, |s| s.ledger_phase(1, l1) == Some(Phase::Disputed))
            .await,
        "{:?}",
        sim.failed
    );
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(200, |s| s.v_phase(1, v) == Some(VirtualPhase::Released))
            .await,
        "I did not get V's leaf back: {:?} {:?} {:?}",
        sim.v_phase(1, v),
        sim.landed,
        sim.failed
    );
    // A and I close their ledger cooperatively.
    let now = sim.now;
    sim.node(0).ledger_mut().close(l0, now).unwrap();
    assert!(
        sim.run_until(100, |s| s.ledger_phase(0, l0) == Some(Phase::Closed))
            .await,
        "{:?}",
        sim.failed
    );
    // A paid B 10 by a voucher B never redeemed: A ends where it started; I breaks even; B gets its 100 back.
    for (k, start) in start.iter().enumerate() {
        assert_eq!(
            sim.chain.balance(sim.addr(k)).await.unwrap(),
            *start,
            "party {k}"
        );
    }
    assert_eq!(sim.holdings().await.1, total, "funds conserved");
    for tx in [
        "challenge V",
        "challenge",
        "withdraw",
        "claim",
        "concludeAndWithdraw",
    ] {
        assert!(
            sim.landed.contains(&tx),
            "{tx} missing from {:?}",
            sim.landed
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_v_state_registered_by_a_is_answered_with_the_newest_and_the_ledgers_settle_by_it()
{
    use ferry_virtual::ledger::app::rps::{self, Hand};
    let mut sim = Sim::new(3).await;
    let (l0, l1) = sim.open_ledgers().await;
    let v = sim
        .open_v((l0, l1), Artifact::RockPaperScissors, 30, 30)
        .await;
    // A commits rock, B plays paper, A reveals: A lost 10.
    let params = sim.nodes[0]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .params()
        .clone();
    let salt = B256::repeat_byte(7);
    let from = sim.nodes[0]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .current();
    let m = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    sim.node(0).make_move(v, m).unwrap();
    sim.run_until(3, |_| false).await;
    let from = sim.nodes[2]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .current();
    let m = rps::play(&params, &from, Hand::Paper).unwrap();
    sim.node(2).make_move(v, m).unwrap();
    sim.run_until(3, |_| false).await;
    let from = sim.nodes[0]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .current();
    let m = rps::reveal(&params, &from, Hand::Rock, salt).unwrap();
    sim.node(0).make_move(v, m).unwrap();
    sim.run_until(3, |_| false).await;
    assert_eq!(
        sim.nodes[2]
            .as_ref()
            .unwrap()
            .channel(&v)
            .unwrap()
            .latest()
            .map(|l| l.version()),
        Some(4)
    );
    // A cheats: it registers V's certificate, where it still had its stake.
    let cert = sim.nodes[0]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .certificate()
        .unwrap();
    sim.client
        .challenge(sim.addr(0), &params, &cert.state, &cert.sigs, None)
        .await
        .unwrap();
    // B's node answers with the newest state both endpoints signed (and the certificate).
    assert!(
        sim.run_until(20, |s| s.landed.contains(&"challenge V"))
            .await,
        "no answer: {:?}",
        sim.failed
    );
    assert_eq!(sim.chain.status_of(v).await.unwrap().version, 4);
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain at version 4: both ledgers replace the leaf by that outcome, off-chain (S10).
    assert!(
        sim.run_until(100, |s| (0..3)
            .all(|k| s.v_phase(k, v) == Some(VirtualPhase::Released)))
            .await,
        "{:?} {:?}",
        (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
        sim.failed
    );
    let bal = |s: &Sim, k: usize, l: B256| {
        s.nodes[k]
            .as_ref()
            .unwrap()
            .ledger()
            .channel(&l)
            .unwrap()
            .balance(&ETH)
    };
    assert_eq!(bal(&sim, 0, l0), U256::from(DEPOSIT - 10));
    assert_eq!(bal(&sim, 1, l0) + bal(&sim, 1, l1), U256::from(2 * DEPOSIT));
    assert_eq!(bal(&sim, 2, l1), U256::from(DEPOSIT + 10));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_settle_the_payee_redeems_its_vouchers_and_both_ledgers_are_claimed()
 {
    let mut sim = Sim::new(3).await;
    let (start, total) = sim.holdings().await;
    let (l0, l1) = sim.open_ledgers().await;
    let v = sim.open_v((l0, l1), Artifact::PaymentApp, 50, 20).await;
    sim.node(0).pay(v, ETH, U256::from(10)).unwrap();
    sim.run_until(3, |_| false).await;
    // The intermediary vanishes as A settles: the final can never be signed by the whole path.
    sim.nodes[1] = None;
    let now = sim.now;
    sim.node(0).settle(v, now).unwrap();
    sim.run_until(10, |_| false).await;
    // B challenges V with its certificate and redeems A's voucher on-chain with one move (S7).
    sim.node(2).challenge(v).unwrap();
    assert!(
        sim.run_until(20, |s| s.landed.contains(&"progress V"))
            .await,
        "{:?} {:?}",
        sim.landed,
        sim.failed
    );
    assert_eq!(sim.chain.status_of(v).await.unwrap().version, 2);
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain (A 40, B 30). Each endpoint's removal goes unanswered, so each challenges its ledger
    // with the vanished intermediary; after the windows both claim V's leaf.
    assert!(
        sim.run_until(300, |s| s.ledger_phase(0, l0) == Some(Phase::Disputed)
            && s.ledger_phase(2, l1) == Some(Phase::Disputed))
            .await,
        "{:?} {:?} {:?}",
        sim.ledger_phase(0, l0),
        sim.ledger_phase(2, l1),
        sim.failed
    );
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(300, |s| s.v_phase(0, v) == Some(VirtualPhase::Released)
            && s.v_phase(2, v) == Some(VirtualPhase::Released))
            .await,
        "{:?} {:?} {:?}",
        sim.v_phase(0, v),
        sim.v_phase(2, v),
        sim.failed
    );
    assert!(
        sim.run_until(300, |s| s.ledger_phase(0, l0) == Some(Phase::Closed)
            && s.ledger_phase(2, l1) == Some(Phase::Closed))
            .await,
        "{:?} {:?}",
        sim.landed,
        sim.failed
    );
    // A paid 10 and ends 10 down; B ends 10 up; the intermediary's funds (paid to its address by the withdrawals
    // and the claims, without it doing anything) are whole.
    let bal = |k: usize| sim.chain.balance(sim.addr(k));
    assert_eq!(bal(0).await.unwrap(), start[0] - U256::from(10));
    assert_eq!(bal(2).await.unwrap(), start[2] + U256::from(10));
    assert_eq!(bal(1).await.unwrap(), start[1]);
    assert_eq!(sim.holdings().await.1, total, "funds conserved");
}
