//! The stories of the `custom_app` example, shared with its test (`tests/it/custom_app.rs`): a net of Alice, a hub
//! and Bob on the embedded chain, running Nim with its contract deployed.

use alloy::primitives::{B256, Bytes, U256};
pub use ferry_simulations::virtual_net::CHALLENGE_DURATION as CHALLENGE_WINDOW;
use ferry_simulations::virtual_net::{App, Faults, Leaders, OpenV, VirtualNet};
use ferry_virtual::protocol::VirtualPhase;

use super::nim::{self, Nim};

/// Alice, the hub, Bob.
pub const ALICE: usize = 0;
/// The hub.
pub const HUB: usize = 1;
/// Bob.
pub const BOB: usize = 2;
/// What each player puts in a game.
pub const BALANCE: u64 = 30;
/// What the lead is worth.
pub const STAKE: u64 = 5;
/// The pile a game starts with.
pub const PILE: u64 = 7;

/// The contract's creation bytecode, as `contracts/scripts/compile.js` compiled `Nim.sol` into `Nim.json`.
pub fn bytecode() -> Bytes {
    let artifact: serde_json::Value =
        serde_json::from_str(include_str!("Nim.json")).expect("Nim.json is JSON");
    let hex = artifact["bytecode"]
        .as_str()
        .expect("Nim.json has a bytecode");
    hex.parse().expect("Nim.json's bytecode is hex")
}

/// The rules every member knows Nim by.
pub fn rules() -> Nim {
    Nim {
        pile: PILE,
        stake: U256::from(STAKE),
    }
}

/// Alice–hub–Bob on the embedded chain (one confirmation), each ledger funded with the harness's deposit per
/// side, Nim deployed and declared by every member.
pub fn net() -> VirtualNet {
    VirtualNet::builder(3)
        .embedded(1)
        .leaders(Leaders::TowardA)
        .custom_app(rules(), bytecode())
        .build()
}

/// A Nim game between Alice and Bob through the hub.
pub fn open_game(net: &mut VirtualNet) -> B256 {
    net.open_and_run(OpenV::payment(BALANCE, BALANCE).app(App::Custom(0)), 300)
}

/// The latest version both players signed, as `k` holds it.
pub fn latest(net: &VirtualNet, k: usize, v: B256) -> Option<u64> {
    net.channel(k, v)?.latest().map(|l| l.version())
}

/// Player `k` takes `n` tokens; runs the net until both players hold the move countersigned (or `ticks` pass).
/// Returns whether they do.
pub fn take(net: &mut VirtualNet, v: B256, k: usize, n: u64, ticks: usize) -> bool {
    let ch = net.channel(k, v).expect("the player is on the game");
    let (params, from) = (ch.params().clone(), ch.current());
    let to = nim::take(&params, &from, n).expect("a move by the rules");
    let version = to.version.to::<u64>();
    net.node_mut(k)
        .make_move(v, to)
        .expect("the player's node signs its move");
    net.run_until(ticks, |n| {
        latest(n, ALICE, v) == Some(version) && latest(n, BOB, v) == Some(version)
    })
}

/// Story 1: a whole game over a wire that loses, duplicates and delays messages, with the hub and then Bob
/// crashing and restarting from their stores mid-game. Alice takes the last token; Bob's move on the empty pile
/// is refused by his own node; the game settles off-chain. Returns the players' ledger balances (Alice's with the
/// hub, Bob's with the hub) before and after.
pub fn a_game_over_a_faulty_wire(net: &mut VirtualNet) -> ([U256; 2], [U256; 2]) {
    let before = [net.balance(ALICE, 0), net.balance(BOB, 1)];
    net.set_faults(Faults {
        drop_pct: 20,
        dup_pct: 10,
        max_delay_ms: 300,
    });
    let v = open_game(net);
    assert!(take(net, v, ALICE, 2, 400), "Alice's first move (pile 5)");
    net.crash_restart(HUB);
    assert!(take(net, v, BOB, 2, 400), "Bob's move (pile 3)");
    net.crash_restart(BOB);
    assert!(take(net, v, ALICE, 3, 400), "Alice takes the last token");
    // The pile is empty: Bob's node refuses to sign any move.
    let ch = net.channel(BOB, v).expect("Bob is on the game");
    let mut late = ferry_ledger::state::next(&ch.current()).expect("a next version");
    late.outcome = ch.current().outcome;
    assert!(net.node_mut(BOB).make_move(v, late).is_err());
    let now = net.now();
    net.node_mut(BOB)
        .settle(v, now)
        .expect("Bob asks for the final");
    assert!(
        net.run_until(600, |n| n.all_in(v, VirtualPhase::Released)),
        "the game settles off-chain"
    );
    net.set_faults(Faults::default());
    (before, [net.balance(ALICE, 0), net.balance(BOB, 1)])
}

/// Story 2: Bob goes offline while Alice's move waits for his countersignature. Alice challenges the game with
/// the latest state both signed, her node plays the waiting move on-chain (`progress` runs Nim's contract), and
/// the game finalizes there with Alice in the lead; when Bob is back, every ledger pays the game out off-chain.
/// Returns the on-chain version and moves, and the players' ledger balances before and after.
pub fn bob_stops_answering(net: &mut VirtualNet) -> (u64, [U256; 2], [U256; 2]) {
    let before = [net.balance(ALICE, 0), net.balance(BOB, 1)];
    let v = open_game(net);
    assert!(take(net, v, ALICE, 1, 100), "pile 6");
    assert!(take(net, v, BOB, 1, 100), "pile 5");
    net.set_offline(BOB, true);
    assert!(!take(net, v, ALICE, 1, 20), "Bob never countersigns");
    net.node_mut(ALICE)
        .challenge(v)
        .expect("Alice challenges the game");
    assert!(
        net.run_until(50, |n| n.has_landed("progress V")),
        "Alice's waiting move is played on-chain: {:?} {:?}",
        net.landed(),
        net.failed()
    );
    let version = net.onchain_status(v).version;
    net.advance_chain_time(CHALLENGE_WINDOW + 1);
    net.set_offline(BOB, false);
    assert!(
        net.run_until(600, |n| n.all_in(v, VirtualPhase::Released)),
        "every ledger pays the game out: {:?}",
        net.failed()
    );
    (
        version,
        before,
        [net.balance(ALICE, 0), net.balance(BOB, 1)],
    )
}
