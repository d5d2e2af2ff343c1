//! The on-chain fallback of a virtual channel, end to end on the embedded chain (A–I–B over two ledgers): B offline
//! after payments; A registering a stale state; the intermediary offline during open, during run and during settle;
//! a game player stopping mid-round. Every honest party gets at least its latest balance, funds are conserved, and
//! where the ledgers close nothing stays in the adjudicator. `Sim` steps every node in turn (messages, timers, its
//! chain duties through `protocol::driver`), with selective delivery to stop a protocol half-way.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use ferry_virtual::adjudicator::{AdjudicatorClient, Chain, DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_virtual::ledger::contracts::Artifact;
use ferry_virtual::ledger::params::DurationPolicy;
use ferry_virtual::ledger::protocol::{Config, LedgerNode, OpenPolicy, Phase};
use ferry_virtual::ledger::store::MemoryStore;
use ferry_virtual::ledger::{ChainContext, Signer};
use ferry_virtual::protocol::{
    AppKind, IntermediaryPolicy, Message, OPEN_TIMEOUT_MS, OpenRequest, VirtualNode, VirtualPhase,
    driver,
};

const ETH: Address = Address::ZERO;
const DEPOSIT: u64 = 100;
const WINDOW: u64 = 3_600;

/// Which messages the wire loses: `(from, to, message)` → dropped.
type Drop = Box<dyn Fn(usize, usize, &Message) -> bool>;

struct Sim {
    chain: Arc<EmbeddedChain>,
    client: AdjudicatorClient,
    keys: Vec<Signer>,
    nodes: Vec<Option<VirtualNode<MemoryStore>>>,
    now: u64,
    landed: Vec<&'static str>,
    failed: Vec<String>,
    /// Selective delivery: messages this picks are lost (nothing is lost when `None`).
    drop: Option<Drop>,
}

impl Sim {
    async fn new(n: usize) -> Self {
        Self::with_confirmations(n, 1).await
    }

    /// A chain whose nodes count an event after `confirmations` blocks; each step mines a block so that the
    /// nodes' view keeps moving.
    async fn with_confirmations(n: usize, confirmations: u64) -> Self {
        let chain = Arc::new(
            EmbeddedChain::builder()
                .chain_id(DEFAULT_CHAIN_ID)
                .accounts(n + 1)
                .confirmations(confirmations)
                .build()
                .unwrap(),
        );
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
                ..OpenPolicy::default()
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
                let mut v = VirtualNode::open_store(l, 0).unwrap();
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
            drop: None,
        }
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    fn ctx(&self) -> ChainContext {
        ChainContext {
            chain_id: self.chain.chain_id(),
            adjudicator: self.chain.adjudicator(),
        }
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
            if self.drop.as_ref().is_some_and(|lost| lost(from, to, &m)) {
                continue;
            }
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
        if self.chain.confirmations() > 1 {
            self.chain.mine();
        }
        self.now += 100;
    }

    /// Runs until A's ledger `l0` and B's ledger `l1` (with the vanished intermediary) are both disputed.
    async fn until_both_ledgers_disputed(&mut self, steps: usize, l0: B256, l1: B256) {
        assert!(
            self.run_until(steps, |s| s.ledger_phase(0, l0) == Some(Phase::Disputed)
                && s.ledger_phase(2, l1) == Some(Phase::Disputed))
                .await,
            "{:?} {:?} {:?}",
            self.ledger_phase(0, l0),
            self.ledger_phase(2, l1),
            self.failed
        );
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

    /// What party `k` holds on-chain.
    async fn balance_of(&self, k: usize) -> U256 {
        self.chain.balance(self.addr(k)).await.unwrap()
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

    /// A proposes V over A–I–B with the bundled `app`, A's and B's balances and the intermediary's `fee`; nothing
    /// is delivered yet.
    fn start_v(&mut self, hops: (B256, B256), app: Artifact, a: u64, b: u64, fee: u64) -> B256 {
        let app = self.chain.deployed(app).unwrap();
        let path = vec![self.addr(0), self.addr(1), self.addr(2)];
        let now = self.now;
        self.node(0)
            .open(
                OpenRequest {
                    path,
                    hops: vec![hops.0, hops.1],
                    app,
                    balances: vec![(ETH, [U256::from(a), U256::from(b)])],
                    fees: vec![U256::ZERO, U256::from(fee), U256::ZERO],
                    challenge_duration: WINDOW,
                },
                now,
            )
            .unwrap()
    }

    /// Opens V over A–I–B with the bundled `app` and A's and B's balances, and waits until all hold it open.
    async fn open_v(&mut self, hops: (B256, B256), app: Artifact, a: u64, b: u64) -> B256 {
        self.open_v_with_fee(hops, app, a, b, 0).await
    }

    /// [`Self::open_v`] with the intermediary's routing `fee` (its policy must ask for no more).
    async fn open_v_with_fee(
        &mut self,
        hops: (B256, B256),
        app: Artifact,
        a: u64,
        b: u64,
        fee: u64,
    ) -> B256 {
        let v = self.start_v(hops, app, a, b, fee);
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
    // The intermediary charges a fee, held in V's leaf in A's ledger with it: V got past its pre-fund, so the claim
    // pays it the fee even though it never comes back.
    const FEE: u64 = 4;
    let mut sim = Sim::new(3).await;
    let (start, total) = sim.holdings().await;
    let (l0, l1) = sim.open_ledgers().await;
    sim.node(1).set_policy(IntermediaryPolicy {
        fee_flat: U256::from(FEE),
        ..IntermediaryPolicy::default()
    });
    let v = sim
        .open_v_with_fee((l0, l1), Artifact::PaymentApp, 50, 20, FEE)
        .await;
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
    sim.until_both_ledgers_disputed(300, l0, l1).await;
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
    // A paid 10 and the fee; B ends 10 up; the intermediary's funds (paid to its address by the withdrawals and
    // the claims, without it doing anything) are whole, plus the fee it earned.
    let bal = |k: usize| sim.chain.balance(sim.addr(k));
    assert_eq!(bal(0).await.unwrap(), start[0] - U256::from(10 + FEE));
    assert_eq!(bal(2).await.unwrap(), start[2] + U256::from(10));
    assert_eq!(bal(1).await.unwrap(), start[1] + U256::from(FEE));
    assert_eq!(sim.holdings().await.1, total, "funds conserved");
}

/// What ledger `l` locks in sub-channels (ETH) in the latest state member `k` holds signed by both.
fn locked(sim: &Sim, k: usize, l: B256) -> U256 {
    sim.nodes[k]
        .as_ref()
        .and_then(|n| n.ledger().channel(&l))
        .and_then(|c| c.supported())
        .map(|s| s.state.outcome.assets[0].locked)
        .unwrap_or_default()
}

/// The intermediary (charging a fee) vanishes mid-open, once A–I holds V's leaf and before the certificate is
/// complete. With `b_side_funded`, B's ledger with I holds the leaf too (B countersigned it, I never got B's
/// signature); otherwise I never got to add it there. With `back_once_v_is_final`, I returns once V is final
/// on-chain by its pre-fund; otherwise it never does.
async fn intermediary_offline_during_open(b_side_funded: bool, back_once_v_is_final: bool) {
    const FEE: u64 = 3;
    let mut sim = Sim::new(3).await;
    let (start, total) = sim.holdings().await;
    let (l0, l1) = sim.open_ledgers().await;
    sim.node(1).set_policy(IntermediaryPolicy {
        fee_flat: U256::from(FEE),
        ..IntermediaryPolicy::default()
    });
    // The wire between I and B loses ledger messages: every one (B's ledger never hears of the leaf), or only B's
    // (B countersigns the leaf, I never learns it).
    sim.drop = Some(Box::new(move |from, to, m| {
        matches!(m, Message::Ledger(_))
            && if b_side_funded {
                (from, to) == (2, 1)
            } else {
                (from, to) == (1, 2) || (from, to) == (2, 1)
            }
    }));
    let v = sim.start_v((l0, l1), Artifact::PaymentApp, 50, 20, FEE);
    assert!(
        sim.run_until(100, |s| locked(s, 0, l0) == U256::from(70 + FEE)
            && (!b_side_funded || locked(s, 2, l1) == U256::from(70)))
            .await,
        "the leaves were not added: {:?}",
        sim.failed
    );
    // A–I holds V's leaf with I's fee in it (A put in its 50 and the fee); I–B's leaf holds no fee (B charges
    // none). The certificate is not complete.
    assert!(
        !sim.nodes[0]
            .as_ref()
            .unwrap()
            .channel(&v)
            .unwrap()
            .is_funded()
    );
    let ledger_balance = |s: &Sim, k: usize, l: B256| {
        s.nodes[k]
            .as_ref()
            .unwrap()
            .ledger()
            .channel(&l)
            .unwrap()
            .balance(&ETH)
    };
    assert_eq!(ledger_balance(&sim, 0, l0), U256::from(DEPOSIT - 50 - FEE));
    // I vanishes.
    let away = sim.nodes[1].take();
    sim.drop = None;
    // The open times out (S8). A (and B when its ledger holds the leaf) signed the post-fund, so they may not
    // refund: each challenges V with its pre-fund, signed by the whole path.
    assert!(
        sim.run_until((OPEN_TIMEOUT_MS / 100 + 50) as usize, |s| s
            .landed
            .contains(&"challenge V"))
            .await,
        "{:?}",
        sim.failed
    );
    let status = sim.chain.status_of(v).await.unwrap();
    assert_eq!((status.version, status.certified), (0, false));
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    if back_once_v_is_final {
        // I returns. It never signed the post-fund, so it has given the open up (S8); V is final on-chain by its
        // pre-fund, so A and I replace the leaf in their ledger by that outcome off-chain (S10), which gives the fee
        // in the leaf back to A: a failed open refunds the fee.
        sim.nodes[1] = away;
        assert!(
            sim.run_until(200, |s| s.v_phase(0, v) == Some(VirtualPhase::Released)
                && ledger_balance(s, 0, l0) == U256::from(DEPOSIT))
                .await,
            "{:?} {:?} {:?} {:?}",
            (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
            [
                sim.ledger_phase(1, l0),
                sim.ledger_phase(1, l1),
                sim.ledger_phase(2, l1)
            ],
            sim.landed,
            sim.failed
        );
        assert_eq!(ledger_balance(&sim, 1, l0), U256::from(DEPOSIT));
        let now = sim.now;
        sim.node(0).ledger_mut().close(l0, now).unwrap();
        assert!(
            sim.run_until(100, |s| s.ledger_phase(0, l0) == Some(Phase::Closed))
                .await,
            "{:?}",
            sim.failed
        );
        // I's proposal of the leaf to B went unanswered all along, so I's ledger, back, challenges B (with the state
        // before it); B's watcher answers with the update adding the leaf, which B countersigned. After the window
        // the leaf is claimed there by V's outcome.
        assert!(
            sim.run_until(100, |s| s.ledger_phase(2, l1) == Some(Phase::Disputed))
                .await,
            "{:?}",
            sim.failed
        );
        sim.chain.advance_time(WINDOW + 1).await.unwrap();
        assert!(
            sim.run_until(300, |s| (1..3)
                .all(|k| s.ledger_phase(k, l1) == Some(Phase::Closed)
                    && s.v_phase(k, v) == Some(VirtualPhase::Released)))
                .await,
            "{:?} {:?} {:?}",
            (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
            sim.landed,
            sim.failed
        );
        for (k, start) in start.iter().enumerate() {
            assert_eq!(sim.balance_of(k).await, *start, "party {k}");
        }
        assert!(sim.landed.contains(&"concludeAndWithdraw"));
    } else {
        // V is final on-chain with its pre-fund outcome. A's removal of the leaf goes unanswered: A challenges its
        // ledger with the vanished I. B's ledger with I is challenged too: after B's unanswered removal when it
        // holds the leaf, or after B's unanswered close when it never did (B gave the open up, nothing of V is
        // with it).
        assert!(
            sim.run_until(100, |s| s.ledger_phase(0, l0) == Some(Phase::Disputed))
                .await,
            "{:?} {:?}",
            sim.ledger_phase(0, l0),
            sim.failed
        );
        if !b_side_funded {
            assert_eq!(sim.v_phase(2, v), Some(VirtualPhase::Released));
            let now = sim.now;
            sim.node(2).ledger_mut().close(l1, now).unwrap();
        }
        assert!(
            sim.run_until(100, |s| s.ledger_phase(2, l1) == Some(Phase::Disputed))
                .await,
            "{:?} {:?}",
            sim.ledger_phase(2, l1),
            sim.failed
        );
        sim.chain.advance_time(WINDOW + 1).await.unwrap();
        assert!(
            sim.run_until(300, |s| s.ledger_phase(0, l0) == Some(Phase::Closed)
                && s.ledger_phase(2, l1) == Some(Phase::Closed)
                && s.v_phase(0, v) == Some(VirtualPhase::Released)
                && s.v_phase(2, v) == Some(VirtualPhase::Released))
                .await,
            "{:?} {:?} {:?} {:?}",
            sim.v_phase(0, v),
            sim.v_phase(2, v),
            sim.landed,
            sim.failed
        );
        // A gets its side of V and the fee back by the claim (V finalized by its pre-fund: the open never
        // completed, so the fee held in the leaf was not earned, S9) and B is whole. I, which never comes back, has
        // its deposits back at its address by the withdrawals and claims, without the fee.
        assert_eq!(sim.balance_of(0).await, start[0]);
        assert_eq!(sim.balance_of(2).await, start[2]);
        assert_eq!(sim.balance_of(1).await, start[1]);
        let claims = sim.landed.iter().filter(|t| **t == "claim").count();
        assert_eq!(claims, if b_side_funded { 2 } else { 1 });
    }
    assert_eq!(sim.holdings().await.1, total, "funds conserved");
    assert_eq!(
        sim.chain.balance(sim.chain.adjudicator()).await.unwrap(),
        U256::ZERO,
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_open_a_gets_its_side_back_on_chain_b_gives_the_open_up() {
    intermediary_offline_during_open(false, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_open_both_endpoints_get_their_sides_back_on_chain() {
    intermediary_offline_during_open(true, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_back_after_its_open_failed_pays_the_fee_back_and_everyone_ends_whole() {
    intermediary_offline_during_open(true, true).await;
}

/// A rock-paper-scissors V (stake 10) where player `stopper` stops mid-round: the other player's move waits for a
/// countersignature that never comes. The other challenges V with the latest state both signed (and the
/// certificate) and its node plays the waiting move on-chain with `progress`; the stopper never answers there, V
/// finalizes, and the outcome is claimed in the stopper's ledger with the intermediary.
async fn a_player_stops_mid_round(stopper: usize) {
    use ferry_virtual::ledger::app::rps::{self, Hand};
    let mut sim = Sim::new(3).await;
    let (start, total) = sim.holdings().await;
    let (l0, l1) = sim.open_ledgers().await;
    let v = sim
        .open_v((l0, l1), Artifact::RockPaperScissors, 30, 30)
        .await;
    let current = |s: &Sim, k: usize| s.nodes[k].as_ref().unwrap().channel(&v).unwrap().current();
    let latest = |s: &Sim, k: usize| {
        s.nodes[k]
            .as_ref()
            .unwrap()
            .channel(&v)
            .unwrap()
            .latest()
            .map(|l| l.version())
    };
    let params = sim.nodes[0]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .params()
        .clone();
    let (salt, stake) = (B256::repeat_byte(7), U256::from(10));
    // A commits rock.
    let m = rps::commit(&params, &current(&sim, 0), stake, Hand::Rock, salt).unwrap();
    sim.node(0).make_move(v, m).unwrap();
    sim.run_until(3, |_| false).await;
    assert_eq!(latest(&sim, 2), Some(2));
    let (active, winner, loser) = if stopper == 0 {
        // B plays paper and A, who would lose, stops before countersigning it.
        sim.nodes[0] = None;
        let m = rps::play(&params, &current(&sim, 2), Hand::Paper).unwrap();
        sim.node(2).make_move(v, m).unwrap();
        (2, 2, 0)
    } else {
        // B plays scissors (both sign it); A reveals rock and wins, and B stops before countersigning the reveal.
        let m = rps::play(&params, &current(&sim, 2), Hand::Scissors).unwrap();
        sim.node(2).make_move(v, m).unwrap();
        sim.run_until(3, |_| false).await;
        assert_eq!(latest(&sim, 0), Some(3));
        sim.nodes[2] = None;
        let m = rps::reveal(&params, &current(&sim, 0), Hand::Rock, salt).unwrap();
        sim.node(0).make_move(v, m).unwrap();
        (0, 0, 2)
    };
    sim.run_until(3, |_| false).await;
    let registered = latest(&sim, active).unwrap();
    sim.node(active).challenge(v).unwrap();
    assert!(
        sim.run_until(20, |s| s.landed.contains(&"progress V"))
            .await,
        "{:?} {:?}",
        sim.landed,
        sim.failed
    );
    // The round finished on-chain: one move on top of the registered state, within the game's max_moves.
    let status = sim.chain.status_of(v).await.unwrap();
    assert_eq!(status.version, registered + 1);
    assert_eq!(status.moves.iter().sum::<u8>(), 1);
    assert_eq!(
        params.maxMoves.to::<u64>(),
        2,
        "two moves per player: a round's share"
    );
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain: the active player and I replace the leaf in their ledger off-chain (S10); I's removal in
    // its ledger with the stopper goes unanswered, so I challenges that ledger and claims the leaf after the window.
    let (stopped_ledger, active_ledger) = if stopper == 0 { (l0, l1) } else { (l1, l0) };
    assert!(
        sim.run_until(200, |s| s.ledger_phase(1, stopped_ledger)
            == Some(Phase::Disputed)
            && s.v_phase(active, v) == Some(VirtualPhase::Released))
            .await,
        "{:?} {:?} {:?}",
        sim.ledger_phase(1, stopped_ledger),
        sim.v_phase(active, v),
        sim.failed
    );
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(300, |s| s.ledger_phase(1, stopped_ledger)
            == Some(Phase::Closed)
            && s.v_phase(1, v) == Some(VirtualPhase::Released))
            .await,
        "{:?} {:?} {:?}",
        sim.v_phase(1, v),
        sim.landed,
        sim.failed
    );
    assert!(sim.landed.contains(&"claim"), "{:?}", sim.landed);
    let now = sim.now;
    sim.node(active)
        .ledger_mut()
        .close(active_ledger, now)
        .unwrap();
    assert!(
        sim.run_until(100, |s| s.ledger_phase(active, active_ledger)
            == Some(Phase::Closed))
            .await,
        "{:?}",
        sim.failed
    );
    // The winner took the stake, the loser lost it; the intermediary breaks even; nothing stays locked.
    assert_eq!(sim.balance_of(winner).await, start[winner] + stake);
    assert_eq!(sim.balance_of(loser).await, start[loser] - stake);
    assert_eq!(sim.balance_of(1).await, start[1]);
    assert_eq!(sim.holdings().await.1, total, "funds conserved");
    assert_eq!(
        sim.chain.balance(sim.chain.adjudicator()).await.unwrap(),
        U256::ZERO,
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_player_stopping_before_revealing_loses_to_the_play_made_on_chain_by_progress() {
    a_player_stops_mid_round(0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_player_stopping_before_countersigning_the_reveal_loses_to_the_reveal_made_on_chain() {
    a_player_stops_mid_round(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_run_endpoints_get_their_latest_balances_and_the_hub_back_its_due()
 {
    let mut sim = Sim::new(3).await;
    let (start, total) = sim.holdings().await;
    let (l0, l1) = sim.open_ledgers().await;
    let v = sim.open_v((l0, l1), Artifact::PaymentApp, 50, 20).await;
    // Payments both ways: A pays 10 and 5, B pays 3.
    sim.node(0).pay(v, ETH, U256::from(10)).unwrap();
    sim.node(2).pay(v, ETH, U256::from(3)).unwrap();
    sim.node(0).pay(v, ETH, U256::from(5)).unwrap();
    sim.run_until(3, |_| false).await;
    let balance = |s: &Sim, k: usize| s.nodes[k].as_ref().unwrap().channel(&v).unwrap().balance(0);
    assert_eq!(
        (balance(&sim, 0), balance(&sim, 2)),
        (U256::from(38), U256::from(32))
    );
    // The intermediary disappears (its node is kept aside with everything it stored; it comes back later).
    let away = sim.nodes[1].take();
    // A and B still talk, but no final can be signed without I. A challenges V with its certificate; both payees
    // redeem on top of the registered state (S7), each with one progress move that nets both ways (the other's
    // latest voucher and its own payments). The first to land counts everything, so the second, built on the
    // certificate, is refused and has nothing left to redeem on the new registration: one move.
    sim.node(0).challenge(v).unwrap();
    assert!(
        sim.run_until(20, |s| s.landed.contains(&"progress V"))
            .await,
        "{:?} {:?}",
        sim.landed,
        sim.failed
    );
    sim.run_until(10, |_| false).await;
    let status = sim.chain.status_of(v).await.unwrap();
    assert_eq!((status.version, status.moves.iter().sum::<u8>()), (2, 1));
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain (A 38, B 32). Each endpoint's removal of V's leaf goes unanswered, so each challenges its
    // ledger with I.
    sim.until_both_ledgers_disputed(200, l0, l1).await;
    // I comes back before the ledgers finalize: from its stored cursor on it reads V's registration, the two
    // moves, V's finalization and the challenges of both its ledgers, and holds V's on-chain outcome.
    sim.nodes[1] = away;
    sim.run_until(10, |_| false).await;
    let outcome = sim.nodes[1]
        .as_ref()
        .unwrap()
        .channel(&v)
        .unwrap()
        .onchain_final()
        .cloned()
        .unwrap();
    assert_eq!(
        outcome.outcome.assets[0].balances,
        vec![U256::from(38), U256::ZERO, U256::from(32)]
    );
    for l in [l0, l1] {
        assert_eq!(sim.ledger_phase(1, l), Some(Phase::Disputed));
    }
    sim.chain.advance_time(WINDOW + 1).await.unwrap();
    // Both ledgers finalize with V's leaf in them; the leaf is claimed in each by V's outcome (with a Merkle proof
    // against the ledger's finalized state), and the withdrawals pay everyone's balances.
    assert!(
        sim.run_until(300, |s| (0..3)
            .all(|k| s.v_phase(k, v) == Some(VirtualPhase::Released))
            && [(0, l0), (1, l0), (1, l1), (2, l1)]
                .iter()
                .all(|(k, l)| s.ledger_phase(*k, *l) == Some(Phase::Closed)))
            .await,
        "{:?} {:?} {:?}",
        (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
        sim.landed,
        sim.failed
    );
    let claims = sim.landed.iter().filter(|t| **t == "claim").count();
    assert_eq!(claims, 2, "one claim per ledger: {:?}", sim.landed);
    // A paid 15 and received 3; B the reverse; I, not robbed, has exactly what it put in, at its address.
    assert_eq!(sim.balance_of(0).await, start[0] - U256::from(12));
    assert_eq!(sim.balance_of(2).await, start[2] + U256::from(12));
    assert_eq!(sim.balance_of(1).await, start[1]);
    assert_eq!(sim.holdings().await.1, total, "funds conserved");
    assert_eq!(
        sim.chain.balance(sim.chain.adjudicator()).await.unwrap(),
        U256::ZERO,
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s10_with_three_confirmations_v_is_final_by_the_state_registered_at_its_deadline_not_by_an_older_one()
 {
    // The nodes read the chain 2 blocks behind its head. A registers V's certificate (A 50, B 20); just before the
    // deadline A and B replace it with a newer state (A 30, B 40), and the next block is past the deadline. The
    // hub reads up to a block before the replacement: taking the head's time for "now" it would take V as final by
    // the certificate and pay its leaves out by it (S10) while the chain finalizes V by the newer state.
    let mut sim = Sim::with_confirmations(3, 3).await;
    let (l0, l1) = sim.open_ledgers().await;
    let v = sim.open_v((l0, l1), Artifact::PaymentApp, 50, 20).await;
    let ch = sim.nodes[0].as_ref().unwrap().channel(&v).unwrap().clone();
    let cert = ch.certificate().unwrap();
    let a = sim.addr(0);
    sim.client
        .challenge(a, ch.params(), &cert.state, &cert.sigs, None)
        .await
        .unwrap();
    let deadline = sim.chain.status_of(v).await.unwrap().finalizes_at;
    let mut newer = cert.state.clone();
    newer.version = alloy::primitives::aliases::U48::from(2u8);
    newer.outcome.assets[0].balances = vec![U256::from(30), U256::ZERO, U256::from(40)];
    let sigs = vec![
        sim.keys[0].sign_state(&sim.ctx(), &newer),
        sim.keys[2].sign_state(&sim.ctx(), &newer),
    ];
    sim.chain.set_time(deadline - 10);
    sim.client
        .challenge(a, ch.params(), &newer, &sigs, Some(&cert))
        .await
        .unwrap();
    sim.chain.set_time(deadline + 100);
    let hub = sim.addr(1);
    let now = sim.now;
    let node = sim.nodes[1].as_mut().unwrap();
    driver::drive(&sim.client, hub, node, now).await.unwrap();
    assert!(
        node.channel(&v).unwrap().onchain_final().is_none(),
        "V taken as final by a state the chain may not finalize it by"
    );
    // Two blocks later the replacement is confirmed and the deadline is behind the last confirmed block.
    sim.chain.mine();
    sim.chain.mine();
    driver::drive(&sim.client, hub, node, now).await.unwrap();
    assert_eq!(node.channel(&v).unwrap().onchain_final(), Some(&newer));
}
