//! The eighth outside attacker's finding, kept as a regression test: it asserted the bad outcome when written and
//! now asserts the fix (the doc comment describes the attack as it worked). Its node-level version is
//! `node/tests/it/outside_attack_8.rs`.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_ledger::{Signature, Signer, channel};
use ferry_simulations::virtual_net::VirtualNet;
use ferry_virtual::protocol::{MAX_PATH, Message, VirtualMessage};

/// A forged pre-fund "introducing V" from member 0 to the hub (member 1), over their running ledger: the path
/// `path` (member 0, the hub, then others), `n` distinct well-formed signatures nobody made (one `r`, `s` =
/// 1..=n), and params of kind `kind`.
fn forged_prefund(net: &VirtualNet, path: Vec<Address>, n: usize, kind_virtual: bool) -> Message {
    let ctx = net.ctx();
    let hops: Vec<B256> = (0..path.len() - 1)
        .map(|i| {
            if i == 0 {
                net.hop(0)
            } else {
                B256::repeat_byte(i as u8)
            }
        })
        .collect();
    let params = if kind_virtual {
        channel::virtual_params(&ctx, path, hops, net.payment_app(), 600, 2)
    } else {
        let mut p = channel::ledger_params(&ctx, net.addr(0), net.addr(1), 3_600);
        p.participants = path;
        p.hops = hops;
        p
    };
    let state = channel::state(&params, 0, vec![], Bytes::new(), false);
    let base = Signer::random().sign_digest(&B256::repeat_byte(9));
    let sigs = (1..=n as u64)
        .map(|i| {
            Some(Signature {
                v: base.v,
                r: base.r,
                s: B256::from(U256::from(i)),
            })
        })
        .collect();
    Message::Virtual(VirtualMessage::Sigs {
        params: Some(Box::new(params)),
        state,
        sigs,
        fees: vec![],
    })
}

/// Signatures recovered ahead for a pre-fund the core refuses at once (CPU at a peer's command). For a pre-fund
/// introducing an unknown V, `VirtualNode::signatures_to_check` only checked that the sender was the node's
/// neighbour on the claimed path over a running ledger, then predicted one recovery per signature in the message,
/// whatever their number; the core refuses such a message (params of the wrong kind) before recovering any. One
/// frame of ~15,000 made-up signatures (one `r`, many `s`) made a hub compute ~15,000 recoveries on every core
/// while its loop waited, each message one refusal of the 1,000 a minute allowed: 12 frames froze the hub 12.8 s.
/// Now the prediction makes the core's own first checks (path of at most `MAX_PATH` members with one signature
/// slot each, valid params of this chain, the pre-fund of that id) and never returns more than `MAX_PATH` pairs;
/// the core refuses a path longer than `MAX_PATH` before anything that costs its square.
#[test]
fn a_forged_prefund_gets_nothing_recovered_ahead_and_a_long_path_is_refused_first() {
    let mut net = VirtualNet::path(3);
    let (attacker, hub) = (net.addr(0), net.addr(1));
    let path = vec![attacker, hub, Address::repeat_byte(0x77)];
    // Thousands of signatures, params of a ledger channel: nothing predicted, refused.
    let forged = forged_prefund(&net, path.clone(), 5_000, false);
    assert!(
        net.node(1)
            .signatures_to_check(attacker, &forged)
            .is_empty()
    );
    assert!(net.inject(0, 1, forged).is_err());
    // Valid virtual params but one signature slot per member missing or extra: nothing predicted, refused.
    for n in [2, 4, 5_000] {
        let forged = forged_prefund(&net, path.clone(), n, true);
        assert!(
            net.node(1)
                .signatures_to_check(attacker, &forged)
                .is_empty(),
            "{n}"
        );
        assert!(net.inject(0, 1, forged).is_err(), "{n}");
    }
    // A path of thousands of members (the core's pairwise-distinct check costs its square): refused first.
    let mut long = path.clone();
    long.extend((0..3_000u32).map(|i| Address::left_padding_from(&(i + 1_000).to_be_bytes())));
    let forged = forged_prefund(&net, long, 3_003, true);
    assert!(
        net.node(1)
            .signatures_to_check(attacker, &forged)
            .is_empty()
    );
    let refused = net.inject(0, 1, forged).unwrap_err().to_string();
    assert!(refused.contains("MAX_PATH"), "{refused}");
    // The well-formed one (made-up signatures, right count) gets its three predicted, as the core checks them.
    let forged = forged_prefund(&net, path, 3, true);
    assert_eq!(net.node(1).signatures_to_check(attacker, &forged).len(), 3);
    // 0–4 intermediaries stay open.
    const { assert!(MAX_PATH >= 6) };
}
