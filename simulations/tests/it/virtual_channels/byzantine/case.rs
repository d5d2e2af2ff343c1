//! The generated case: the network, V, the wire's faults, the honest operations before the attack, and the attack.

use std::collections::BTreeSet;

use proptest::prelude::*;

/// The network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Topology {
    /// A–I–B.
    OneHub,
    /// A–I1–I2–B.
    TwoHubs,
    /// A hub with two users, A–I–B, and a second virtual channel from B to A over the same two ledgers, running
    /// beside the attacked one (every payment on the first is made again by the same user on the second).
    HubTwoChannels,
}

impl Topology {
    pub(super) fn members(self) -> usize {
        match self {
            Topology::OneHub | Topology::HubTwoChannels => 3,
            Topology::TwoHubs => 4,
        }
    }
}

/// A path member, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Member {
    A,
    I1,
    I2,
    B,
}

impl Member {
    pub(super) fn index(self, n: usize) -> usize {
        match self {
            Member::A => 0,
            Member::I1 => 1,
            Member::I2 => 2.min(n - 2),
            Member::B => n - 1,
        }
    }
}

/// An endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    A,
    B,
}

impl End {
    pub(super) fn index(self, n: usize) -> usize {
        match self {
            End::A => 0,
            End::B => n - 1,
        }
    }
}

/// An honest operation while V runs.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// An endpoint pays the other by a voucher.
    Pay { by: End, amount: u64 },
    /// Time passes.
    Run { steps: u8 },
}

/// What a griefer registers again and again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// V: its pre-fund and its certificate.
    V,
    /// The griefer's ledger towards A (older states signed by both).
    LedgerTowardA,
    /// The griefer's ledger towards B.
    LedgerTowardB,
}

/// The byzantine behaviour of the case.
#[derive(Debug, Clone)]
pub(super) enum Attack {
    /// Everyone honest (the control).
    None,
    /// A and B sign two different finals of V and show the first to A's hub, the second to B's hub (S4).
    TwoFinals { a_pct_first: u8, a_pct_second: u8 },
    /// An endpoint asks its hub for a refund of V's leaf after the post-fund (S8): a forged ledger proposal
    /// removing the leaf with each side's contribution back, or on-chain a challenge of V with its pre-fund.
    Refund { by: End, on_chain: bool },
    /// A and B register new states of V on-chain again and again (each a new split, higher version) and play
    /// progress moves, to keep V open (S5: the deadline stays; S7: `max_moves` caps the moves).
    KeepOpen {
        registrations: u8,
        moves: u8,
        a_pcts: Vec<u8>,
    },
    /// The ledger `blocked_hop` never gets V's leaf during the open (its messages are lost); A and B sign a state
    /// moving V's balance and try to register it and to move V on-chain (S8: no post-fund, no certificate).
    MoveWhileUnfunded { blocked_hop: u8, a_pct: u8 },
    /// An endpoint registers V's certificate and at once plays every move `max_moves` allows, moving nothing, so
    /// that the other payee has no move left to redeem its vouchers with (S7).
    BurnMoves { by: End },
    /// An endpoint signs V's post-fund but never lets its signature out (the others sign theirs, leaves in place),
    /// so nobody else gets V's certificate; it may vanish. The open times out: members that signed the post-fund
    /// go on-chain where they have something in V (S8, S16), the others give it up.
    WithholdPostfund { by: End },
    /// A member registers stale states of V or of one of its ledgers, `times` times (griefing).
    StaleChallenges {
        who: Member,
        target: Target,
        times: u8,
    },
    /// A and B hoard: their nodes take any leaf operation on their ledgers (their guards accept everything), they
    /// keep every message their hubs sent them, and they act from that at any point of V's life — while V runs
    /// (`during`) and after it settled (`after`).
    Hoard {
        during: Vec<HoardAct>,
        after: Vec<HoardAct>,
    },
}

/// One action of a hoarding endpoint, built from its key, its node and what it holds.
#[derive(Debug, Clone)]
pub(super) enum HoardAct {
    /// Proposes V's leaf again in its ledger with its hub (through its own node, so as leader or as follower).
    ReAdd { by: End },
    /// Proposes removing V's leaf from its ledger, paid out by V's final if it holds one, else refunded by the
    /// pre-fund.
    Remove { by: End },
    /// Sends its hub again a message the hub sent it earlier (old gossip, old proposals and signatures).
    Replay { by: End, pick: u8 },
    /// Registers on-chain a state of its ledger with its hub that both signed, picked from everything it holds.
    RegisterLedger { by: End, pick: u8 },
    /// A and B register a state of V of their own (above whatever is registered, giving A `a_pct` %), with the
    /// certificate.
    RegisterV { a_pct: u8 },
    /// The chain's clock runs to `secs` seconds before the nearest pending deadline (V's or a ledger's), once the
    /// honest members had the blocks they need to answer: the adversary acts right before it, and the next blocks
    /// pass it.
    NearDeadline { secs: u8 },
    /// Time passes.
    Run { steps: u8 },
}

impl Attack {
    /// The byzantine members.
    pub(super) fn byzantine(&self, n: usize) -> BTreeSet<usize> {
        match self {
            Attack::Hoard { .. } => [0, n - 1].into(),
            Attack::None => BTreeSet::new(),
            Attack::StaleChallenges { who, .. } => [who.index(n)].into(),
            Attack::BurnMoves { by } | Attack::WithholdPostfund { by } => [by.index(n)].into(),
            _ => [0, n - 1].into(),
        }
    }
}

/// The wire's faults while the case runs (healed at the end).
#[derive(Debug, Clone, Copy)]
pub(super) struct Wire {
    pub(super) drop_pct: u8,
    pub(super) max_delay_steps: u8,
}

/// One generated case.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) topology: Topology,
    /// A's and B's balances in V.
    pub(super) v: (u64, u64),
    pub(super) wire: Wire,
    /// Payments and waits while V runs, before the attack.
    pub(super) before: Vec<Op>,
    /// Before the attack, A settles while withholding its ledger messages from its hub: the final completes on the
    /// whole path and the ledgers further on are paid out by it, A's ledger is not.
    pub(super) final_withheld: bool,
    pub(super) attack: Attack,
    /// The byzantine members vanish after the attack (no messages, no chain duties).
    pub(super) vanish: bool,
    /// How many blocks make a chain event count for the nodes (their view lags the head by one less).
    pub(super) confirmations: u64,
    pub(super) seed: u64,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop_oneof![Just(End::A), Just(End::B)], 1..25u64)
            .prop_map(|(by, amount)| Op::Pay { by, amount }),
        1 => (1..10u8).prop_map(|steps| Op::Run { steps }),
    ]
}

/// One act of a hoarding endpoint; `on_chain` weighs registrations of V and deadline races more.
fn hoard_act(on_chain: bool) -> impl Strategy<Value = HoardAct> {
    let end = || prop_oneof![Just(End::A), Just(End::B)];
    let chain = if on_chain { 8 } else { 3 };
    prop_oneof![
        3 => end().prop_map(|by| HoardAct::ReAdd { by }),
        3 => end().prop_map(|by| HoardAct::Remove { by }),
        2 => (end(), any::<u8>()).prop_map(|(by, pick)| HoardAct::Replay { by, pick }),
        1 => (end(), any::<u8>()).prop_map(|(by, pick)| HoardAct::RegisterLedger { by, pick }),
        chain => (0..=100u8).prop_map(|a_pct| HoardAct::RegisterV { a_pct }),
        chain => (2..4u8).prop_map(|secs| HoardAct::NearDeadline { secs }),
        2 => (1..10u8).prop_map(|steps| HoardAct::Run { steps }),
    ]
}

/// A hoarding attack: acts during V's life and after its settle.
fn hoard(on_chain: bool) -> impl Strategy<Value = Attack> {
    (
        proptest::collection::vec(hoard_act(on_chain), 0..6),
        proptest::collection::vec(hoard_act(on_chain), 1..8),
    )
        .prop_map(|(during, after)| Attack::Hoard { during, after })
}

fn attack(t: Topology) -> impl Strategy<Value = Attack> {
    let end = prop_oneof![Just(End::A), Just(End::B)];
    let members = match t {
        Topology::OneHub | Topology::HubTwoChannels => vec![Member::A, Member::I1, Member::B],
        Topology::TwoHubs => vec![Member::A, Member::I1, Member::I2, Member::B],
    };
    let hops = t.members() as u8 - 1;
    let griefing = (
        proptest::sample::select(members),
        prop_oneof![
            Just(Target::V),
            Just(Target::LedgerTowardA),
            Just(Target::LedgerTowardB)
        ],
        1..4u8,
    )
        .prop_map(|(who, target, times)| {
            // An endpoint has one ledger.
            let target = match (who, target) {
                (Member::A, Target::LedgerTowardA) => Target::LedgerTowardB,
                (Member::B, Target::LedgerTowardB) => Target::LedgerTowardA,
                (_, t) => t,
            };
            Attack::StaleChallenges { who, target, times }
        });
    prop_oneof![
        1 => Just(Attack::None),
        2 => (0..=100u8, 0..=100u8)
            .prop_map(|(a_pct_first, a_pct_second)| Attack::TwoFinals { a_pct_first, a_pct_second }),
        2 => (end, any::<bool>()).prop_map(|(by, on_chain)| Attack::Refund { by, on_chain }),
        2 => (1..4u8, 0..4u8, proptest::collection::vec(0..=100u8, 3))
            .prop_map(|(registrations, moves, a_pcts)| Attack::KeepOpen { registrations, moves, a_pcts }),
        2 => (0..hops, 0..=100u8).prop_map(|(blocked_hop, a_pct)| Attack::MoveWhileUnfunded { blocked_hop, a_pct }),
        3 => griefing,
        1 => prop_oneof![Just(End::A), Just(End::B)].prop_map(|by| Attack::BurnMoves { by }),
        2 => prop_oneof![Just(End::A), Just(End::B)].prop_map(|by| Attack::WithholdPostfund { by }),
        3 => hoard(false),
    ]
}

/// Any case; with `hoarding`, only hoarding endpoints, weighing their on-chain acts more, on a chain with 3
/// confirmations (where a node that takes the head's time for the confirmed blocks' is caught: hole 6 of issue 11).
pub(super) fn case(hoarding: bool) -> impl Strategy<Value = Case> {
    prop_oneof![
        Just(Topology::OneHub),
        Just(Topology::TwoHubs),
        Just(Topology::HubTwoChannels)
    ]
    .prop_flat_map(move |topology| {
        (
            (1..=60u64, 0..=40u64),
            (0..15u8, 0..4u8),
            proptest::collection::vec(op(), 0..8),
            any::<bool>(),
            if hoarding {
                hoard(true).boxed()
            } else {
                attack(topology).boxed()
            },
            any::<bool>(),
            if hoarding { 3..=3u64 } else { 1..=3u64 },
            any::<u64>(),
        )
            .prop_map(
                move |(
                    v,
                    (drop_pct, max_delay_steps),
                    before,
                    final_withheld,
                    attack,
                    vanish,
                    confirmations,
                    seed,
                )| {
                    Case {
                        topology,
                        v,
                        wire: Wire {
                            drop_pct,
                            max_delay_steps,
                        },
                        before,
                        final_withheld,
                        attack,
                        vanish,
                        confirmations,
                        seed,
                    }
                },
            )
    })
}
