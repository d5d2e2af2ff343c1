//! Unit tests of the ledger protocol: every objective step and every rejection, on two in-memory nodes with the
//! chain replaced by synthetic adjudicator events.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};

use super::*;
use crate::store::{MemoryStore, backup};
use crate::{ChainContext, Error, Signer};

const ETH: Address = Address::ZERO;

fn ctx() -> ChainContext {
    ChainContext {
        chain_id: 31337,
        adjudicator: Address::repeat_byte(0xad),
    }
}

fn config() -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(1000),
            ..OpenPolicy::default()
        },
        ..Config::default()
    }
}

struct Pair {
    keys: [Signer; 2],
    n: [Option<LedgerNode<MemoryStore>>; 2],
    now: u64,
    pos: u64,
    /// Messages taken off the wire and not delivered (to test loss, reordering and duplication).
    held: Vec<(usize, LedgerMessage)>,
    events: [Vec<LedgerEvent>; 2],
    txs: [Vec<ChainTx>; 2],
}

impl Pair {
    fn new() -> Self {
        let keys = [Signer::random(), Signer::random()];
        let node = |k: &Signer| {
            LedgerNode::open_store(k.clone(), ctx(), config(), MemoryStore::new(), 0).unwrap()
        };
        Self {
            n: [Some(node(&keys[0])), Some(node(&keys[1]))],
            keys,
            now: 0,
            pos: 1,
            held: vec![],
            events: [vec![], vec![]],
            txs: [vec![], vec![]],
        }
    }

    fn node(&mut self, i: usize) -> &mut LedgerNode<MemoryStore> {
        self.n[i].as_mut().unwrap()
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    /// Drains outputs: messages of `i` into `held`, events and transactions into the logs.
    fn drain(&mut self, i: usize) {
        let Some(node) = self.n[i].as_mut() else {
            return;
        };
        while let Some((_, m)) = node.poll_transmit() {
            self.held.push((i, m));
        }
        while let Some(e) = node.poll_event() {
            self.events[i].push(e);
        }
        while let Some(t) = node.poll_tx() {
            self.txs[i].push(t);
        }
    }

    /// Delivers everything until quiet.
    fn pump(&mut self) {
        for _ in 0..100 {
            self.drain(0);
            self.drain(1);
            if self.held.is_empty() {
                return;
            }
            for (from, m) in std::mem::take(&mut self.held) {
                let sender = self.addr(from);
                let now = self.now;
                if let Some(node) = self.n[1 - from].as_mut() {
                    node.handle_message(sender, m, now).unwrap();
                }
            }
        }
        panic!("no quiescence");
    }

    fn chain(&mut self, ev: Ev) {
        self.pos += 1;
        let (pos, now) = (self.pos, self.now);
        for i in 0..2 {
            if let Some(n) = self.n[i].as_mut() {
                n.handle_chain_event(pos, 0, &ev, now).unwrap();
            }
        }
    }

    fn block(&mut self, timestamp: u64) {
        self.pos += 1;
        let (pos, now) = (self.pos, self.now);
        for i in 0..2 {
            if let Some(n) = self.n[i].as_mut() {
                n.handle_block(pos, timestamp, now).unwrap();
            }
        }
    }

    fn deposit(&mut self, id: B256, p: u8, amount: u64) {
        self.chain(Ev::Deposited(IAdjudicator::Deposited {
            channelId: id,
            asset: ETH,
            participant: U256::from(p),
            taken: U256::from(amount),
            depositedTotal: U256::ZERO,
        }));
    }

    fn open(&mut self) -> B256 {
        let b = self.addr(1);
        let id = self
            .node(0)
            .open(b, &[(ETH, [U256::from(100), U256::from(100)])], 3600, 0)
            .unwrap();
        self.pump();
        self.deposit(id, 0, 100);
        self.pump();
        self.deposit(id, 1, 100);
        self.pump();
        assert_eq!(self.phase(0, id), Phase::Running);
        assert_eq!(self.phase(1, id), Phase::Running);
        id
    }

    fn ch(&self, i: usize, id: B256) -> &LedgerChannel {
        self.n[i].as_ref().unwrap().channel(&id).unwrap()
    }

    fn phase(&self, i: usize, id: B256) -> Phase {
        self.ch(i, id).phase()
    }

    fn version(&self, i: usize, id: B256) -> u64 {
        self.ch(i, id)
            .supported()
            .map(|s| s.version())
            .unwrap_or_default()
    }

    fn crash_restart(&mut self, i: usize) {
        let store = self.n[i].take().unwrap().into_store();
        self.n[i] = Some(
            LedgerNode::open_store(self.keys[i].clone(), ctx(), config(), store, self.now).unwrap(),
        );
    }
}

#[test]
fn open_deposits_in_participant_order_then_post_fund() {
    let mut p = Pair::new();
    let b = p.addr(1);
    let id = p
        .node(0)
        .open(b, &[(ETH, [U256::from(100), U256::from(50)])], 3600, 0)
        .unwrap();
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Funding);
    assert_eq!(p.phase(1, id), Phase::Funding);
    // Only participant 0 deposits first, with expectedHeld 0.
    assert!(
        matches!(p.txs[0].as_slice(), [ChainTx::Deposit { participant: 0, expected_held, .. }] if expected_held.is_zero())
    );
    assert!(
        p.txs[1].is_empty(),
        "participant 1 waits for participant 0's deposit"
    );
    p.deposit(id, 0, 100);
    p.pump();
    assert!(
        matches!(p.txs[1].as_slice(), [ChainTx::Deposit { participant: 1, expected_held, amount, .. }]
        if expected_held.is_zero() && *amount == U256::from(50)),
        "participant 1 expects its own deposit (none yet), not the channel's (S16)"
    );
    assert_eq!(
        p.phase(0, id),
        Phase::Funding,
        "no post-fund before both deposits"
    );
    p.deposit(id, 1, 50);
    p.pump();
    assert_eq!(p.version(0, id), 1);
    assert_eq!(p.phase(0, id), Phase::Running);
    assert!(p.events[0].contains(&LedgerEvent::Funded { channel_id: id }));
    assert!(p.events[1].contains(&LedgerEvent::OpenAccepted { channel_id: id }));
}

#[test]
fn open_refusals_change_nothing() {
    let mut p = Pair::new();
    let (a, b) = (p.addr(0), p.addr(1));
    let params = crate::channel::ledger_params(&ctx(), a, b, 3600);
    let id = ferry_contracts::channel_id(&params);
    let prefund = crate::channel::state(
        &params,
        0,
        vec![crate::channel::funded_asset(
            ETH,
            vec![U256::from(1), U256::from(1)],
        )],
        Default::default(),
        false,
    );
    let good_sig = p.keys[0].sign_state(&ctx(), &prefund);
    let open = |params: ChannelParams, prefund: State, sig| LedgerMessage::Open {
        params,
        prefund,
        sig,
    };
    // Signed by someone else.
    let bad_sig = Signer::random().sign_state(&ctx(), &prefund);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), prefund.clone(), bad_sig), 0),
        Err(Error::WrongSigner { .. })
    ));
    // From someone who is not participant 0.
    assert!(matches!(
        p.node(1).handle_message(
            Address::repeat_byte(9),
            open(params.clone(), prefund.clone(), good_sig.clone()),
            0
        ),
        Err(Error::Protocol(ProtocolError::NotPeer(_)))
    ));
    // Asks this node to deposit more than its policy allows.
    let mut greedy = prefund.clone();
    greedy.outcome.assets[0] =
        crate::channel::funded_asset(ETH, vec![U256::from(1), U256::from(5000)]);
    let sig = p.keys[0].sign_state(&ctx(), &greedy);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), greedy, sig), 0),
        Err(Error::Protocol(ProtocolError::OpenRefused(_)))
    ));
    // A pre-fund that is not version 0 / claims withdrawals.
    let mut v3 = prefund.clone();
    v3.version = crate::state::version(3).unwrap();
    let sig = p.keys[0].sign_state(&ctx(), &v3);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), v3, sig), 0),
        Err(Error::Protocol(ProtocolError::InvalidPrefund(_)))
    ));
    // A challenge window below the node's minimum (S6).
    let short = crate::channel::ledger_params(&ctx(), a, b, 5);
    let mut s2 = prefund.clone();
    s2.channelId = ferry_contracts::channel_id(&short);
    let sig = p.keys[0].sign_state(&ctx(), &s2);
    assert!(matches!(
        p.node(1).handle_message(a, open(short, s2, sig), 0),
        Err(Error::DurationPolicy(_))
    ));
    // Another chain (S1).
    let mut other = params.clone();
    other.chainId = U256::from(1);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(other, prefund.clone(), good_sig.clone()), 0),
        Err(Error::WrongChain { .. })
    ));
    assert_eq!(
        p.node(1).channels().count(),
        0,
        "no refused open left a channel"
    );
    p.drain(1);
    assert!(p.held.is_empty());
    // The good one is accepted, and a second open of the same id is refused (S1: never sign twice).
    p.node(1)
        .handle_message(
            a,
            open(params.clone(), prefund.clone(), good_sig.clone()),
            0,
        )
        .unwrap();
    assert!(p.node(1).channel(&id).is_some());
    let mut other_prefund = prefund.clone();
    other_prefund.outcome.assets[0] =
        crate::channel::funded_asset(ETH, vec![U256::from(2), U256::from(0)]);
    let sig = p.keys[0].sign_state(&ctx(), &other_prefund);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), other_prefund, sig), 0),
        Err(Error::Protocol(ProtocolError::ChannelExists(_)))
    ));
    let amounts = [(ETH, [U256::from(1), U256::from(1)])];
    p.node(0)
        .open_with_params(params.clone(), &amounts, 0)
        .unwrap();
    assert!(matches!(
        p.node(0).open_with_params(params, &amounts, 0),
        Err(Error::Protocol(ProtocolError::ChannelExists(_)))
    ));
}

#[test]
fn leader_and_follower_updates_and_every_message_rejection() {
    let mut p = Pair::new();
    let id = p.open();
    let (a, b) = (p.addr(0), p.addr(1));
    p.node(0).pay(id, ETH, U256::from(10), 0).unwrap();
    p.pump();
    p.node(1).pay(id, ETH, U256::from(3), 0).unwrap();
    p.pump();
    assert_eq!(p.version(0, id), 3);
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(93));
    assert_eq!(p.ch(1, id).balance(&ETH), U256::from(107));
    let snapshot = p.ch(1, id).clone();
    let s = p.ch(1, id).supported().unwrap().clone();
    let mallory = Signer::random();
    let mut next = s.state.clone();
    next.version = crate::state::version(4).unwrap();
    next.outcome.assets[0].balances = vec![U256::from(0), U256::from(200)];
    // Forged leader signature.
    let forged = LedgerMessage::Propose {
        state: next.clone(),
        sig: mallory.sign_state(&ctx(), &next),
        batch: vec![],
    };
    assert!(matches!(
        p.node(1).handle_message(a, forged, 0),
        Err(Error::WrongSigner { .. })
    ));
    // A state that does not match its (empty) batch: rejected with a Reject message, nothing signed.
    let lying = LedgerMessage::Propose {
        state: next.clone(),
        sig: p.keys[0].sign_state(&ctx(), &next),
        batch: vec![],
    };
    p.node(1).handle_message(a, lying, 0).unwrap();
    p.drain(1);
    assert!(matches!(
        p.held.as_slice(),
        [(1, LedgerMessage::Reject { version: 4, .. })]
    ));
    p.held.clear();
    // A batch taking the follower's funds without its request.
    let theft = vec![Proposal {
        proposer: 0,
        seq: 99,
        op: Op::Pay {
            from: 1,
            asset: ETH,
            amount: U256::from(5),
        },
    }];
    let mut stolen = s.state.clone();
    stolen.version = crate::state::version(5).unwrap();
    let msg = LedgerMessage::Propose {
        sig: p.keys[0].sign_state(&ctx(), &stolen),
        state: stolen,
        batch: theft,
    };
    p.node(1).handle_message(a, msg, 0).unwrap();
    p.drain(1);
    assert!(
        matches!(&p.held[..], [(1, LedgerMessage::Reject { reason, .. })] if reason.contains("would take funds"))
    );
    p.held.clear();
    // A conflicting state with the supported version, a stale version, a message from a stranger, an unknown channel.
    let mut conflict = s.state.clone();
    conflict.outcome.assets[0].balances.swap(0, 1);
    let msg = LedgerMessage::Propose {
        sig: p.keys[0].sign_state(&ctx(), &conflict),
        state: conflict,
        batch: vec![],
    };
    assert!(matches!(
        p.node(1).handle_message(a, msg, 0),
        Err(Error::Protocol(ProtocolError::ConflictingState(3)))
    ));
    let mut old = s.state.clone();
    old.version = crate::state::version(2).unwrap();
    let msg = LedgerMessage::Propose {
        sig: p.keys[0].sign_state(&ctx(), &old),
        state: old,
        batch: vec![],
    };
    assert!(matches!(
        p.node(1).handle_message(a, msg, 0),
        Err(Error::Protocol(ProtocolError::StaleVersion { .. }))
    ));
    let sign = LedgerMessage::Sign {
        channel_id: id,
        version: 3,
        sig: s.sigs[0].clone(),
        have_yours: true,
    };
    assert!(matches!(
        p.node(1)
            .handle_message(Address::repeat_byte(3), sign.clone(), 0),
        Err(Error::Protocol(ProtocolError::NotPeer(_)))
    ));
    let unknown = LedgerMessage::Sign {
        channel_id: B256::repeat_byte(1),
        version: 3,
        sig: s.sigs[0].clone(),
        have_yours: true,
    };
    assert!(matches!(
        p.node(1).handle_message(a, unknown, 0),
        Err(Error::Protocol(ProtocolError::UnknownChannel(_)))
    ));
    let far = LedgerMessage::Sign {
        channel_id: id,
        version: 40,
        sig: s.sigs[0].clone(),
        have_yours: true,
    };
    assert!(matches!(
        p.node(1).handle_message(a, far, 0),
        Err(Error::Protocol(ProtocolError::UnexpectedVersion(40)))
    ));
    assert_eq!(
        p.ch(1, id),
        &snapshot,
        "no rejected message changed the follower"
    );
    // The follower's request that takes the leader's funds is refused by the leader.
    let req = LedgerMessage::Request {
        channel_id: id,
        proposals: vec![Proposal {
            proposer: 1,
            seq: 2,
            op: Op::Pay {
                from: 0,
                asset: ETH,
                amount: U256::from(1),
            },
        }],
    };
    p.node(0).handle_message(b, req, 0).unwrap();
    p.drain(0);
    assert!(matches!(
        p.held.as_slice(),
        [(0, LedgerMessage::Refuse { seq: 2, .. })]
    ));
    p.held.clear();
    // Commands that take the peer's funds, overdraw, or pay zero are refused at once.
    assert!(p.node(0).pay(id, ETH, U256::from(1000), 0).is_err());
    assert!(p.node(0).pay(id, ETH, U256::ZERO, 0).is_err());
    assert!(
        p.node(0)
            .pay(id, Address::repeat_byte(5), U256::from(1), 0)
            .is_err()
    );
    assert!(matches!(
        p.node(0).add_sub_channel(
            id,
            SubAlloc {
                fee: U256::ZERO,
                channelId: B256::repeat_byte(8),
                amounts: vec![]
            },
            [vec![], vec![]],
            0
        ),
        Err(Error::Protocol(ProtocolError::GuardRefused(_)))
    ));
}

#[test]
fn a_rejected_proposal_is_dropped_and_its_version_never_reused() {
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    p.node(0).pay(id, ETH, U256::from(10), 0).unwrap();
    p.drain(0);
    let (_, propose) = p.held.pop().unwrap();
    let LedgerMessage::Propose { state, .. } = &propose else {
        panic!("{propose:?}")
    };
    let v = state.version.to::<u64>();
    p.node(0)
        .handle_message(
            b,
            LedgerMessage::Reject {
                channel_id: id,
                version: v,
                index: 0,
                reason: "no".into(),
            },
            0,
        )
        .unwrap();
    p.drain(0);
    assert!(
        p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::Refused { .. }))
    );
    p.node(0).pay(id, ETH, U256::from(4), 0).unwrap();
    p.pump();
    assert_eq!(
        p.version(1, id),
        v + 1,
        "the next proposal skips the rejected version"
    );
    assert_eq!(p.ch(1, id).balance(&ETH), U256::from(104));
}

#[test]
fn lost_duplicated_and_reordered_messages_recover() {
    let mut p = Pair::new();
    let id = p.open();
    // Lost: the leader's proposal disappears; the resend timer brings it back.
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.drain(0);
    p.held.clear();
    let t = p.node(0).poll_timeout().unwrap();
    p.now = t;
    p.node(0).handle_timeout(t).unwrap();
    p.pump();
    assert_eq!(p.version(0, id), 2);
    // Lost answer: the follower signed, its Sign is lost; the resent proposal gets the same signature again.
    p.node(0).pay(id, ETH, U256::from(1), t).unwrap();
    p.drain(0);
    let proposal = p.held.pop().unwrap();
    let a = p.addr(0);
    p.node(1).handle_message(a, proposal.1.clone(), t).unwrap();
    p.drain(1);
    p.held.clear();
    assert_eq!(p.version(1, id), 3);
    // Duplicate: delivered twice more, it changes nothing and is answered each time.
    let before = p.ch(1, id).clone();
    p.node(1).handle_message(a, proposal.1.clone(), t).unwrap();
    p.node(1).handle_message(a, proposal.1, t).unwrap();
    assert_eq!(p.ch(1, id), &before);
    p.pump();
    assert_eq!(p.version(0, id), 3);
    // Reordered requests: seq 2 before seq 1 waits; the resend carries both.
    let b = p.addr(1);
    p.node(1).pay(id, ETH, U256::from(1), t).unwrap();
    p.node(1).pay(id, ETH, U256::from(1), t).unwrap();
    p.drain(1);
    let mut reqs: Vec<_> = std::mem::take(&mut p.held);
    reqs.reverse();
    let (_, second) = reqs.remove(0);
    let LedgerMessage::Request { proposals, .. } = &second else {
        panic!()
    };
    let only_second = LedgerMessage::Request {
        channel_id: id,
        proposals: proposals
            .iter()
            .filter(|q| q.seq == proposals.iter().map(|q| q.seq).max().unwrap())
            .cloned()
            .collect(),
    };
    p.node(0).handle_message(b, only_second, t).unwrap();
    p.drain(0);
    assert!(p.held.is_empty(), "a request after a gap waits");
    p.node(0).handle_message(b, second, t).unwrap();
    p.pump();
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(100 - 2 + 2));
}

#[test]
fn a_crash_before_sending_resumes_from_the_store_and_resends() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    // The proposal was committed, then the process died before the message left.
    p.crash_restart(0);
    assert_eq!(
        p.ch(0, id).signed_up_to(),
        2,
        "the signed proposal survived"
    );
    p.pump();
    assert_eq!(p.version(1, id), 2);
    assert_eq!(p.version(0, id), 2);
    // The follower crashes after signing; the leader's resend gets the stored signature back.
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    p.drain(0);
    let (_, m) = p.held.pop().unwrap();
    let a = p.addr(0);
    p.node(1).handle_message(a, m.clone(), 0).unwrap();
    p.crash_restart(1);
    p.held.clear();
    assert_eq!(p.version(1, id), 3);
    p.node(1).handle_message(a, m, 0).unwrap();
    p.pump();
    assert_eq!(p.version(0, id), 3);
}

#[test]
fn a_failed_commit_changes_nothing_and_releases_nothing() {
    let mut p = Pair::new();
    let id = p.open();
    let before = p.ch(0, id).clone();
    // Reach into the store through a crash-restart cycle: fail the next commit of the leader's store.
    let mut store = p.n[0].take().unwrap().into_store();
    store.fail_next_commit();
    p.n[0] = Some(LedgerNode::open_store(p.keys[0].clone(), ctx(), config(), store, 0).unwrap());
    p.drain(0);
    p.held.clear();
    let before_restart = p.ch(0, id).clone();
    assert_eq!(before_restart.supported(), before.supported());
    assert!(matches!(
        p.node(0).pay(id, ETH, U256::from(5), 0),
        Err(Error::Store(_))
    ));
    p.drain(0);
    assert!(p.held.is_empty(), "nothing released");
    assert_eq!(p.ch(0, id).supported(), before.supported());
    assert_eq!(p.ch(0, id).signed_up_to(), before.signed_up_to());
    // The next attempt works.
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    p.pump();
    assert_eq!(p.version(1, id), 2);
}

#[test]
fn top_ups_wait_for_the_chain_and_partial_withdrawals_follow_agreement() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(1).top_up(id, ETH, U256::from(30)).unwrap();
    p.drain(1);
    assert!(
        matches!(p.txs[1].last(), Some(ChainTx::Deposit { participant: 1, expected_held, .. }) if *expected_held == U256::from(100))
    );
    p.deposit(id, 1, 30);
    p.pump();
    let s = p.ch(0, id).supported().unwrap().clone();
    assert_eq!(s.state.outcome.assets[0].deposited[1], U256::from(130));
    assert_eq!(p.ch(1, id).balance(&ETH), U256::from(130));
    // A leader's proposal counting a top-up the follower's chain view lacks waits, then goes through.
    p.node(0).top_up(id, ETH, U256::from(7)).unwrap();
    p.pos += 1;
    let ev = Ev::Deposited(IAdjudicator::Deposited {
        channelId: id,
        asset: ETH,
        participant: U256::ZERO,
        taken: U256::from(7),
        depositedTotal: U256::ZERO,
    });
    let pos = p.pos;
    p.node(0).handle_chain_event(pos, 0, &ev, 0).unwrap();
    p.pump();
    assert_eq!(
        p.version(1, id),
        s.version(),
        "the follower waits for the chain"
    );
    p.node(1).handle_chain_event(pos, 0, &ev, 0).unwrap();
    p.pump();
    assert_eq!(p.version(1, id), s.version() + 1);
    // Re-delivering the same event changes nothing.
    let before = p.ch(1, id).clone();
    p.node(1).handle_chain_event(pos, 0, &ev, 0).unwrap();
    assert_eq!(p.ch(1, id), &before);
    // Partial withdrawal: agreed, then withdrawPartial asked for.
    p.node(1).withdraw(id, ETH, U256::from(20), 0).unwrap();
    p.pump();
    assert!(
        p.txs[1]
            .iter()
            .any(|t| matches!(t, ChainTx::WithdrawPartial { participant: 1, .. }))
    );
}

#[test]
fn cooperative_close_and_the_dispute_answer() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    let stale = p.ch(1, id).supported().unwrap().clone();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    // A stale challenge: both answer with the newer state.
    p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: id,
        finalizesAt: alloy::primitives::aliases::U48::from(5000u32),
        state: stale.state.clone(),
        sigs: stale.sigs.clone(),
    }));
    p.drain(0);
    p.drain(1);
    assert!(
        p.txs[0]
            .iter()
            .any(|t| matches!(t, ChainTx::Challenge { state, .. } if state.version() == 3))
    );
    assert!(p.events[0].iter().any(|e| matches!(
        e,
        LedgerEvent::ChallengeAnswered {
            stale: 2,
            answered_with: 3,
            ..
        }
    )));
    assert_eq!(p.phase(0, id), Phase::Disputed);
    assert!(
        p.node(0).pay(id, ETH, U256::from(1), 0).is_err(),
        "no updates while disputed"
    );
    // The window passes: participant 0 withdraws with the registered state.
    p.block(5000);
    p.drain(0);
    assert!(
        p.txs[0]
            .iter()
            .any(|t| matches!(t, ChainTx::Withdraw { .. }))
    );
    assert_eq!(p.phase(0, id), Phase::Finalized);

    // Cooperative close on a fresh pair: exactly one concludeAndWithdraw, from the closer.
    let mut q = Pair::new();
    let id = q.open();
    q.node(1).close(id, 0).unwrap();
    q.pump();
    assert_eq!(q.phase(0, id), Phase::Closing);
    let closes = |txs: &[ChainTx]| {
        txs.iter()
            .filter(|t| matches!(t, ChainTx::ConcludeAndWithdraw { .. }))
            .count()
    };
    assert_eq!((closes(&q.txs[0]), closes(&q.txs[1])), (0, 1));
    assert!(
        q.node(0).pay(id, ETH, U256::from(1), 0).is_err(),
        "nothing after the final state"
    );
    q.chain(Ev::Concluded(IAdjudicator::Concluded {
        channelId: id,
        version: alloy::primitives::aliases::U48::from(3u8),
    }));
    let to = q.addr(0);
    q.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
        channelId: id,
        asset: ETH,
        to,
        amount: U256::from(100),
    }));
    q.drain(0);
    assert_eq!(q.phase(0, id), Phase::Closed);
    assert_eq!(
        closes(&q.txs[0]),
        0,
        "the leader never sent a second closing transaction"
    );
}

#[test]
fn a_final_countersigned_after_the_chain_closed_the_channel_leaves_it_closed() {
    let mut q = Pair::new();
    let id = q.open();
    q.node(0).close(id, 0).unwrap();
    // The leader's final reaches the follower, which countersigns it; the countersignature is slow to come back.
    q.drain(0);
    for (from, m) in std::mem::take(&mut q.held) {
        let sender = q.addr(from);
        q.node(1).handle_message(sender, m, 0).unwrap();
    }
    q.drain(1);
    let late = std::mem::take(&mut q.held);
    assert!(!late.is_empty());
    // Meanwhile the follower concluded with it on-chain: the leader reads the conclusion and the payouts.
    let version = q.ch(1, id).supported().unwrap().version();
    q.chain(Ev::Concluded(IAdjudicator::Concluded {
        channelId: id,
        version: alloy::primitives::aliases::U48::from(version),
    }));
    for i in 0..2 {
        let to = q.addr(i);
        q.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
            channelId: id,
            asset: ETH,
            to,
            amount: U256::from(100),
        }));
    }
    q.drain(0);
    assert_eq!(q.phase(0, id), Phase::Closed);
    q.txs[0].clear();
    // The countersignature arrives: the final is complete, the channel stays closed and nothing is sent on-chain.
    for (from, m) in late {
        let sender = q.addr(from);
        q.node(0).handle_message(sender, m, 0).unwrap();
    }
    q.drain(0);
    assert_eq!(q.phase(0, id), Phase::Closed);
    assert!(q.txs[0].is_empty(), "{:?}", q.txs[0]);
}

#[test]
fn a_channel_backup_restores_a_node() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(9), 0).unwrap();
    p.pump();
    let bytes = backup::export(p.node(0).store(), &id, &NAMESPACES).unwrap();
    let mut fresh = MemoryStore::new();
    assert_eq!(backup::import(&mut fresh, &bytes, &NAMESPACES).unwrap(), id);
    let restored = LedgerNode::open_store(p.keys[0].clone(), ctx(), config(), fresh, 0).unwrap();
    assert_eq!(
        restored.channel(&id).unwrap().supported(),
        p.ch(0, id).supported()
    );
}

/// A guard that agrees to every sub-channel operation whose leaf id starts with 0x5b ("sub").
struct TestGuard;

impl SubChannelGuard for TestGuard {
    fn check_add(
        &self,
        _: &ChannelParams,
        leaf: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), String> {
        (leaf.channelId[0] == 0x5b)
            .then_some(())
            .ok_or_else(|| "unknown virtual channel".into())
    }
    fn check_remove(
        &self,
        _: &ChannelParams,
        leaf: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), String> {
        (leaf.channelId[0] == 0x5b)
            .then_some(())
            .ok_or_else(|| "no final state".into())
    }
}

#[test]
fn undoing_the_removal_of_the_last_leaf_restores_the_table_it_narrowed() {
    // Two leaves; the first is removed, then the second (the table narrows to nothing), and that removal is undone
    // (a challenge landing while it was a proposal in flight).
    let mut table = crate::SubTree::new();
    table.insert(leaf(1, 5)).unwrap();
    table.insert(leaf(2, 7)).unwrap();
    table.remove(&leaf(1, 5).channelId).unwrap();
    let before = table.clone();
    let removed = table.remove(&leaf(2, 7).channelId).unwrap();
    assert!(table.is_empty());
    ops::undo(&mut table, &[ops::UndoStep::Reinsert(1, removed)]).unwrap();
    assert_eq!(table.root(), before.root());
    assert_eq!(table.slot_of(&leaf(2, 7).channelId), Some(1));
    // The free slot below it is usable again.
    assert_eq!(table.insert(leaf(3, 1)).unwrap(), 0);
}

fn leaf(id: u8, amount: u64) -> SubAlloc {
    let mut channel = [0x5b; 32];
    channel[31] = id;
    SubAlloc {
        fee: U256::ZERO,
        channelId: B256::from(channel),
        amounts: vec![ferry_contracts::AssetAmount {
            asset: ETH,
            amount: U256::from(amount),
        }],
    }
}

#[test]
fn sub_channels_are_added_and_removed_through_both_guards_and_survive_a_restart() {
    let mut p = Pair::new();
    p.node(0).set_guard(Box::new(TestGuard));
    p.node(1).set_guard(Box::new(TestGuard));
    let id = p.open();
    // Added by the leader and (as requests) by the follower, in one go: the leader places the slots.
    p.node(0)
        .add_sub_channel(
            id,
            leaf(1, 10),
            [vec![U256::from(6)], vec![U256::from(4)]],
            0,
        )
        .unwrap();
    p.node(1)
        .add_sub_channel(id, leaf(2, 5), [vec![U256::ZERO], vec![U256::from(5)]], 0)
        .unwrap();
    p.node(1)
        .add_sub_channel(id, leaf(3, 1), [vec![U256::from(1)], vec![U256::ZERO]], 0)
        .unwrap();
    p.pump();
    for i in 0..2 {
        let t = p.n[i].as_ref().unwrap().table(&id).unwrap();
        assert_eq!(t.len(), 3);
        let s = p.ch(i, id).supported().unwrap();
        assert_eq!(s.state.outcome.subRoot, t.root());
        assert_eq!(s.state.outcome.assets[0].locked, U256::from(16));
    }
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(93));
    // A leaf the peer's guard does not know is refused, and the channel goes on.
    let mut unknown = leaf(9, 1);
    unknown.channelId = B256::repeat_byte(1);
    assert!(
        p.node(0)
            .add_sub_channel(id, unknown, [vec![U256::from(1)], vec![U256::ZERO]], 0)
            .is_err()
    );
    // Both restart: the tables come back from the stored leaves.
    let root = p.n[0].as_ref().unwrap().table(&id).unwrap().root();
    p.crash_restart(0);
    p.crash_restart(1);
    // The guard is the runtime's (the virtual layer's), set again after a restart.
    p.node(0).set_guard(Box::new(TestGuard));
    p.node(1).set_guard(Box::new(TestGuard));
    p.pump();
    assert_eq!(p.n[0].as_ref().unwrap().table(&id).unwrap().root(), root);
    assert_eq!(p.n[1].as_ref().unwrap().table(&id).unwrap().root(), root);
    // Removing one pays its leaf out; a close waits until the table is empty.
    p.node(1)
        .remove_sub_channel(
            id,
            leaf(2, 5).channelId,
            [vec![U256::from(2)], vec![U256::from(3)]],
            0,
        )
        .unwrap();
    p.pump();
    assert_eq!(p.n[0].as_ref().unwrap().table(&id).unwrap().len(), 2);
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(95));
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert!(
        p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::Refused { op: Op::Close, .. })),
        "no close with hosted sub-channels"
    );
    assert_eq!(p.phase(0, id), Phase::Running);
    for l in [leaf(1, 10), leaf(3, 1)] {
        let n = l.amounts[0].amount;
        p.node(0)
            .remove_sub_channel(id, l.channelId, [vec![n], vec![U256::ZERO]], 0)
            .unwrap();
    }
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert_eq!(p.phase(1, id), Phase::Closing);
    let s = p.ch(1, id).supported().unwrap();
    assert!(s.state.isFinal);
    assert_eq!(s.state.outcome.subRoot, ferry_contracts::empty_root());
    assert_eq!(
        s.state.outcome.assets[0].balances,
        vec![U256::from(106), U256::from(94)]
    );
}

#[test]
fn s14_a_refused_close_stays_proposed_and_the_leader_signs_nothing_after_its_final() {
    // The leader proposes the close (a final at v+1); the follower answers Reject but keeps the signature. Were
    // the channel to go on at v+2 and later, the follower could countersign the old final at any time and
    // `conclude` with it, erasing every later state. The leader signs nothing else of the channel: the same final
    // stays proposed (resent), new operations are refused by name, and a restart changes none of it.
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    p.node(0).close(id, 0).unwrap();
    p.drain(0);
    let (_, propose) = p.held.pop().unwrap();
    let LedgerMessage::Propose { state: fin, .. } = &propose else {
        panic!("{propose:?}")
    };
    assert!(fin.isFinal);
    let v = fin.version.to::<u64>();
    p.node(0)
        .handle_message(
            b,
            LedgerMessage::Reject {
                channel_id: id,
                version: v,
                index: 0,
                reason: "not now".into(),
            },
            0,
        )
        .unwrap();
    p.drain(0);
    assert!(p.held.is_empty(), "nothing new is proposed");
    for restart in [false, true] {
        if restart {
            p.crash_restart(0);
            p.held.clear();
        }
        assert_eq!(p.ch(0, id).signed_final(), Some(fin));
        assert_eq!(p.ch(0, id).signed_up_to(), v);
        let err = p.node(0).pay(id, ETH, U256::from(1), 0).unwrap_err();
        assert!(
            matches!(err, Error::Protocol(ProtocolError::FinalSigned(x)) if x == v),
            "{err}"
        );
        // The follower's requests are refused as well: the leader never builds a state on top of them.
        p.node(1).pay(id, ETH, U256::from(1), 0).unwrap();
        p.drain(1);
        let (from, request) = p.held.pop().unwrap();
        assert_eq!(from, 1);
        let now = p.now;
        p.node(0).handle_message(b, request, now).unwrap();
        p.drain(0);
        assert!(
            p.held.iter().all(|(_, m)| match m {
                LedgerMessage::Propose { state, .. } => state == fin,
                _ => true,
            }),
            "{:?}",
            p.held
        );
        assert_eq!(p.ch(0, id).signed_up_to(), v);
        p.held.clear();
    }
    // The resend timer proposes the very same final again; the follower, once it agrees, completes the close.
    p.now += 60_000;
    let now = p.now;
    p.node(0).handle_timeout(now).unwrap();
    p.drain(0);
    assert!(
        p.held
            .iter()
            .any(|(_, m)| matches!(m, LedgerMessage::Propose { state, .. } if state == fin))
    );
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Closing);
    assert_eq!(p.phase(1, id), Phase::Closing);
    assert_eq!(p.version(1, id), v);
}

#[test]
fn s14_a_follower_that_countersigned_a_final_signs_no_later_state() {
    // A leader that got the follower's signature on the final proposes another state at v+2 anyway (say a payment
    // to itself): the follower refuses it, whatever it holds.
    let mut p = Pair::new();
    let id = p.open();
    let a = p.addr(0);
    p.node(0).close(id, 0).unwrap();
    p.pump();
    let fin = p.ch(1, id).supported().unwrap().state.clone();
    assert!(fin.isFinal);
    let mut later = fin.clone();
    later.isFinal = false;
    later.version = crate::state::version(fin.version.to::<u64>() + 1).unwrap();
    let sig = p.keys[0].sign_state(&ctx(), &later);
    let before = p.ch(1, id).clone();
    let now = p.now;
    let _ = p.node(1).handle_message(
        a,
        LedgerMessage::Propose {
            state: later,
            sig,
            batch: vec![],
        },
        now,
    );
    p.drain(1);
    assert_eq!(p.ch(1, id).signed_up_to(), before.signed_up_to());
    assert_eq!(p.ch(1, id).signed_final(), Some(&fin));
    assert!(
        p.held
            .iter()
            .all(|(_, m)| !matches!(m, LedgerMessage::Sign { .. }))
    );
}

#[test]
fn s13_a_ledger_naming_an_app_or_allowing_moves_is_refused_at_open_and_at_accept() {
    // An attacker opening a ledger with a hub that names an always-true app and `max_moves >= 1` could, once it
    // registered the latest state, "move" the ledger alone with `progress` (every balance to itself, `locked` 0, the
    // sub-channel table emptied). Neither side of a ledger ever signs for such params.
    let mut p = Pair::new();
    let (a, b) = (p.addr(0), p.addr(1));
    let base = crate::channel::ledger_params(&ctx(), a, b, 3600);
    let mut with_app = base.clone();
    with_app.app = Address::repeat_byte(0xee);
    let mut with_moves = base.clone();
    with_moves.maxMoves = alloy::primitives::aliases::U48::from(1u8);
    let mut too_long = base.clone();
    too_long.challengeDuration =
        alloy::primitives::aliases::U48::from(crate::params::MAX_CHALLENGE_DURATION + 1);
    let amounts = [(ETH, [U256::from(10), U256::from(10)])];
    for (params, code) in [(with_app, 9), (with_moves, 10), (too_long, 11)] {
        // The opener refuses to sign the pre-fund.
        let err = p
            .node(0)
            .open_with_params(params.clone(), &amounts, 0)
            .unwrap_err();
        assert_eq!(err, Error::InvalidParams(code));
        // The peer refuses an `Open` carrying them, signed as it would be.
        let prefund = crate::channel::state(
            &params,
            0,
            vec![crate::channel::funded_asset(
                ETH,
                vec![U256::from(10), U256::from(10)],
            )],
            Default::default(),
            false,
        );
        let sig = p.keys[0].sign_state(&ctx(), &prefund);
        let err = p
            .node(1)
            .handle_message(
                a,
                LedgerMessage::Open {
                    params: params.clone(),
                    prefund,
                    sig,
                },
                0,
            )
            .unwrap_err();
        assert_eq!(err, Error::InvalidParams(code));
        assert!(p.n[1].as_ref().unwrap().channels().next().is_none());
    }
}

#[test]
fn s11_a_token_off_the_nodes_list_is_refused_by_name_at_open_and_at_top_up() {
    // All channels' funds of a token sit pooled in the adjudicator: a token whose balances shrink by themselves or
    // that charges its sender would leave some channel short. A node takes only ETH and the tokens it lists.
    let token = Address::repeat_byte(0x70);
    let mut p = Pair::new();
    let (a, b) = (p.addr(0), p.addr(1));
    p.node(0)
        .open(b, &[(token, [U256::from(10), U256::from(10)])], 3600, 0)
        .unwrap();
    p.drain(0);
    let (_, open) = p.held.pop().unwrap();
    let err = p.node(1).handle_message(a, open, 0).unwrap_err();
    assert_eq!(
        err,
        Error::Protocol(ProtocolError::AssetNotAccepted(token)),
        "{err}"
    );
    assert!(p.n[1].as_ref().unwrap().channels().next().is_none());
    // A running ETH channel: the leader deposits the token on-chain and proposes counting it; the follower refuses.
    let id = p.open();
    let v = p.version(1, id);
    p.node(0).top_up(id, token, U256::from(5)).unwrap();
    p.chain(Ev::Deposited(IAdjudicator::Deposited {
        channelId: id,
        asset: token,
        participant: U256::ZERO,
        taken: U256::from(5),
        depositedTotal: U256::from(5),
    }));
    p.pump();
    assert_eq!(p.version(1, id), v);
    assert!(p.events[0].iter().any(|e| matches!(
        e,
        LedgerEvent::Refused { reason, .. } if reason.contains("list of accepted tokens")
    )));
    // With the token on its list the follower takes it.
    let mut listed = Pair::new();
    for n in 0..2 {
        let node = listed.n[n].take().unwrap();
        let mut config = config();
        config.open.tokens = vec![token];
        listed.n[n] = Some(
            LedgerNode::open_store(listed.keys[n].clone(), ctx(), config, node.into_store(), 0)
                .unwrap(),
        );
    }
    let b = listed.addr(1);
    listed
        .node(0)
        .open(b, &[(token, [U256::from(10), U256::from(10)])], 3600, 0)
        .unwrap();
    listed.pump();
    assert_eq!(listed.n[1].as_ref().unwrap().channels().count(), 1);
}

#[test]
fn s16_a_strangers_deposit_never_calls_for_another_deposit_and_a_failed_one_is_asked_again() {
    // While participant 0's deposit of 100 is in flight, a stranger lands 60 for it (and 1 for participant 1). The
    // node sends nothing more: its deposit in flight takes only what is missing (S16), so a stranger cannot make it
    // pay gas. When that deposit fails, the node asks again for the missing 40, expecting its own 60.
    let mut p = Pair::new();
    let b = p.addr(1);
    let id = p
        .node(0)
        .open(b, &[(ETH, [U256::from(100), U256::from(100)])], 3600, 0)
        .unwrap();
    p.pump();
    assert!(matches!(
        p.txs[0].as_slice(),
        [ChainTx::Deposit { expected_held, amount, .. }] if expected_held.is_zero() && *amount == U256::from(100)
    ));
    let first = p.txs[0][0].clone();
    p.deposit(id, 0, 60);
    p.pump();
    assert_eq!(p.txs[0].len(), 1, "{:?}", p.txs[0]);
    p.node(0)
        .handle_tx_failed(&first, "reverted".into())
        .unwrap();
    // Asked again at the channel's next chain event (here a stranger's 1 wei for participant 1).
    p.deposit(id, 1, 1);
    p.pump();
    assert!(matches!(
        p.txs[0].last(),
        Some(ChainTx::Deposit { participant: 0, expected_held, amount, .. })
            if *expected_held == U256::from(60) && *amount == U256::from(40)
    ));
    p.deposit(id, 0, 40);
    p.pump();
    // Participant 1 (holding 1 from the stranger) tops its own deposit up to 100.
    assert!(matches!(
        p.txs[1].last(),
        Some(ChainTx::Deposit { participant: 1, expected_held, amount, .. })
            if *expected_held == U256::from(1) && *amount == U256::from(99)
    ));
    assert_eq!(p.txs[1].len(), 1);
    p.deposit(id, 1, 99);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Running);
    assert_eq!(p.phase(1, id), Phase::Running);
}

#[test]
fn s14_a_partial_withdrawal_in_a_refused_proposal_is_carried_into_every_later_state() {
    // The follower asks to withdraw 20, refuses the leader's proposal carrying it (keeping the leader's
    // signature), and lets the channel go on. Were the withdrawal left out of later states, the follower could
    // complete the refused one, take the 20 with `withdrawPartial`, and still hold them in the newer states: the
    // leader would be short at the close. The leader signs no state below the withdrawal it once signed.
    let mut p = Pair::new();
    let id = p.open();
    let a = p.addr(0);
    let b = p.addr(1);
    p.node(1).withdraw(id, ETH, U256::from(20), 0).unwrap();
    p.drain(1);
    let (_, request) = p.held.pop().unwrap();
    p.node(0).handle_message(b, request, 0).unwrap();
    p.drain(0);
    let (_, propose) = p.held.pop().unwrap();
    let LedgerMessage::Propose { state, .. } = &propose else {
        panic!("{propose:?}")
    };
    assert_eq!(state.outcome.assets[0].withdrawn[1], U256::from(20));
    let v = state.version.to::<u64>();
    p.node(0)
        .handle_message(
            b,
            LedgerMessage::Reject {
                channel_id: id,
                version: v,
                index: 0,
                reason: "no".into(),
            },
            0,
        )
        .unwrap();
    // The leader pays 5 meanwhile; whatever it proposes from now on keeps the withdrawal.
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    for _ in 0..5 {
        p.now += 60_000;
        let now = p.now;
        p.node(0).handle_timeout(now).unwrap();
        p.drain(0);
        for (_, m) in std::mem::take(&mut p.held) {
            if let LedgerMessage::Propose { state, .. } = &m {
                assert!(
                    state.outcome.assets[0].withdrawn[1] >= U256::from(20),
                    "a later proposal left the withdrawal out: {state:?}"
                );
            }
            let _ = p.node(1).handle_message(a, m, now);
        }
        p.drain(1);
        for (_, m) in std::mem::take(&mut p.held) {
            let _ = p.node(0).handle_message(b, m, now);
        }
    }
    let s = p.ch(0, id).supported().unwrap().clone();
    assert_eq!(s.state.outcome.assets[0].withdrawn[1], U256::from(20));
    assert_eq!(
        s.state.outcome.assets[0].balances[1],
        U256::from(100 - 20 + 5)
    );
}

#[test]
fn s5_a_closing_node_answers_a_stale_challenge_with_the_final_at_once() {
    // The follower signed the leader's final and waits the grace period for the leader's closing transaction.
    // The leader registers an older state instead, with a challenge window shorter than that grace period (chain
    // time is not the node's clock): the follower must not wait, the final it holds ends the dispute now.
    let mut p = Pair::new();
    let id = p.open();
    let stale = p.ch(1, id).supported().unwrap().clone();
    p.node(1).pay(id, ETH, U256::from(30), 0).unwrap();
    p.pump();
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert_eq!(p.phase(1, id), Phase::Closing);
    let concludes = |txs: &[ChainTx]| {
        txs.iter()
            .filter(|t| matches!(t, ChainTx::ConcludeAndWithdraw { .. }))
            .count()
    };
    assert_eq!(concludes(&p.txs[1]), 0, "the follower waits for the closer");
    p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: id,
        finalizesAt: alloy::primitives::aliases::U48::from(10u32),
        state: stale.state.clone(),
        sigs: stale.sigs.clone(),
    }));
    p.drain(1);
    let close = p.txs[1]
        .iter()
        .find_map(|t| match t {
            ChainTx::ConcludeAndWithdraw { state, .. } => Some(state.clone()),
            _ => None,
        })
        .expect("the follower concludes with the final before the window closes");
    assert!(close.state.isFinal);
    assert_eq!(close.state.outcome.assets[0].balances[1], U256::from(70));
    assert_eq!(concludes(&p.txs[1]), 1);
}

#[test]
fn s14_a_peer_refusing_every_proposal_holds_a_bounded_number_of_them_and_is_reported() {
    // The follower refuses each of the leader's proposals and keeps them all (it may complete and register any).
    // The leader keeps every refused one to adopt it if it is registered, but signs at most
    // `MAX_ABANDONED` of them: then it proposes nothing more and reports the peer unresponsive.
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    for _ in 0..(super::channel::MAX_ABANDONED + 10) {
        p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    }
    let mut refused = 0;
    loop {
        p.drain(0);
        let proposals: Vec<u64> = std::mem::take(&mut p.held)
            .into_iter()
            .filter_map(|(_, m)| match m {
                LedgerMessage::Propose { state, .. } => Some(state.version.to::<u64>()),
                _ => None,
            })
            .collect();
        if proposals.is_empty() {
            break;
        }
        for version in proposals {
            p.node(0)
                .handle_message(
                    b,
                    LedgerMessage::Reject {
                        channel_id: id,
                        version,
                        index: 0,
                        reason: "no".into(),
                    },
                    0,
                )
                .unwrap();
            refused += 1;
        }
    }
    assert_eq!(refused, super::channel::MAX_ABANDONED);
    assert_eq!(
        p.ch(0, id).signed_states().len(),
        1 + super::channel::MAX_ABANDONED
    );
    let later = Config::default().peer_timeout_ms + 1;
    p.node(0).handle_timeout(later).unwrap();
    p.drain(0);
    assert!(
        p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::PeerUnresponsive { .. })),
        "{:?}",
        p.events[0]
    );
    assert!(
        !p.held
            .iter()
            .any(|(_, m)| matches!(m, LedgerMessage::Propose { .. })),
        "no proposal past the bound"
    );
}

#[test]
fn s14_every_state_the_leader_signed_above_the_supported_one_is_adopted_when_registered_in_any_order()
 {
    // The follower refuses the leader's proposal v, leaves v+1 unanswered, and keeps both. It registers v (the
    // leader adopts it), then, within the window, v+1: the leader must adopt v+1 too, rebuilt on the state both were
    // built on, and withdraw by it.
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    let mut proposals = Vec::new();
    for amount in [7u64, 11] {
        p.node(0).pay(id, ETH, U256::from(amount), 0).unwrap();
        p.drain(0);
        for (_, m) in std::mem::take(&mut p.held) {
            if let LedgerMessage::Propose { state, sig, .. } = m {
                proposals.push((state, sig));
            }
        }
        if proposals.len() == 1 {
            let version = proposals[0].0.version.to::<u64>();
            p.node(0)
                .handle_message(
                    b,
                    LedgerMessage::Reject {
                        channel_id: id,
                        version,
                        index: 0,
                        reason: "no".into(),
                    },
                    0,
                )
                .unwrap();
        }
    }
    assert_eq!(proposals.len(), 2, "{proposals:?}");
    let (v1, v2) = (proposals[0].clone(), proposals[1].clone());
    assert!(v2.0.version > v1.0.version);
    for (state, sig) in [&v1, &v2] {
        let theirs = p.keys[1].sign_state(&ctx(), state);
        p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
            channelId: id,
            finalizesAt: alloy::primitives::aliases::U48::from(10u32),
            state: state.clone(),
            sigs: vec![sig.clone(), theirs],
        }));
        assert_eq!(
            p.ch(0, id).supported().unwrap().state,
            *state,
            "the registered state is adopted"
        );
    }
    p.block(11);
    p.drain(0);
    let withdrawn = p.txs[0].iter().find_map(|t| match t {
        ChainTx::Withdraw { state, .. } => Some(state.clone()),
        _ => None,
    });
    assert_eq!(withdrawn, Some(v2.0));
}

#[test]
fn s14_a_refused_proposal_built_on_an_adopted_one_is_adopted_with_the_whole_table() {
    // The follower refuses the leader's v1 (adding leaf 1), leaves v2 (adding leaf 2, built on the same state)
    // unanswered, registers v1 (the leader adopts it), then checkpoints v2 (adopted too: the channel runs again on
    // v2, without leaf 1). It refuses v3 (adding leaf 3, built on v2) and registers it: the leader's table must be
    // v3's, leaf 2 and leaf 3, the one the claims will need.
    let mut p = Pair::new();
    p.node(0).set_guard(Box::new(TestGuard));
    p.node(1).set_guard(Box::new(TestGuard));
    let id = p.open();
    let b = p.addr(1);
    let propose = |p: &mut Pair, l: SubAlloc, reject: bool| {
        p.node(0)
            .add_sub_channel(id, l, [vec![U256::from(1)], vec![U256::ZERO]], 0)
            .unwrap();
        p.drain(0);
        let (state, sig) = std::mem::take(&mut p.held)
            .into_iter()
            .find_map(|(_, m)| match m {
                LedgerMessage::Propose { state, sig, .. } => Some((state, sig)),
                _ => None,
            })
            .expect("a proposal");
        if reject {
            p.node(0)
                .handle_message(
                    b,
                    LedgerMessage::Reject {
                        channel_id: id,
                        version: state.version.to::<u64>(),
                        index: 0,
                        reason: "no".into(),
                    },
                    0,
                )
                .unwrap();
        }
        (state, sig)
    };
    let register = |p: &mut Pair, (state, sig): &(State, Signature)| {
        let theirs = p.keys[1].sign_state(&ctx(), state);
        p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
            channelId: id,
            finalizesAt: alloy::primitives::aliases::U48::from(10u32),
            state: state.clone(),
            sigs: vec![sig.clone(), theirs],
        }));
        assert_eq!(p.ch(0, id).supported().unwrap().state, *state);
        let t = p.n[0].as_ref().unwrap().table(&id).unwrap();
        assert_eq!(
            t.root(),
            state.outcome.subRoot,
            "the table is the registered state's"
        );
    };
    let v1 = propose(&mut p, leaf(1, 1), true);
    let v2 = propose(&mut p, leaf(2, 1), false);
    register(&mut p, &v1);
    let theirs = p.keys[1].sign_state(&ctx(), &v2.0);
    p.chain(Ev::Checkpointed(IAdjudicator::Checkpointed {
        channelId: id,
        version: v2.0.version,
        state: v2.0.clone(),
        sigs: vec![v2.1.clone(), theirs],
    }));
    assert_eq!(p.phase(0, id), Phase::Running);
    assert_eq!(
        p.ch(0, id).supported().unwrap().state,
        v2.0,
        "the checkpointed state is adopted"
    );
    let v3 = propose(&mut p, leaf(3, 1), true);
    assert!(v3.0.version > v2.0.version);
    register(&mut p, &v3);
    let t = p.n[0].as_ref().unwrap().table(&id).unwrap();
    assert!(t.contains(&leaf(2, 1).channelId) && t.contains(&leaf(3, 1).channelId));
    assert!(!t.contains(&leaf(1, 1).channelId));
}
