//! An app builder's own app through Ferry's harness: Nim (`nim.rs`, its contract `Nim.sol`) in virtual channels
//! between Alice and Bob through a hub, on the embedded chain with Nim's contract deployed, under a faulty wire,
//! crashes and a player who stops answering.
//!
//! Run it with `cargo run -p ferry-simulations --example custom_app`. After changing `Nim.sol`, run
//! `node contracts/scripts/compile.js` to refresh `Nim.json`.

use alloy::primitives::U256;

mod nim;
mod scenario;

fn main() {
    let mut net = scenario::net();
    println!(
        "Nim deployed at {} on the embedded chain; Alice, the hub and Bob know its rules",
        net.custom_app(0)
    );
    let (before, after) = scenario::a_game_over_a_faulty_wire(&mut net);
    println!(
        "{}",
        show(
            "game 1, lossy wire, hub and Bob restarted, Alice takes the last token, settled off-chain",
            before,
            after
        )
    );
    let (version, before, after) = scenario::bob_stops_answering(&mut net);
    println!(
        "{}",
        show(
            &format!(
                "game 2, Bob stops answering, Alice's move played on-chain (version {version}), paid out"
            ),
            before,
            after
        )
    );
}

/// A story's balances, for printing.
fn show(label: &str, before: [U256; 2], after: [U256; 2]) -> String {
    format!(
        "{label}: Alice {} -> {}, Bob {} -> {}",
        before[0], after[0], before[1], after[1]
    )
}
