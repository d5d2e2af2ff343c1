//! Signatures computed ahead (a runtime recovers a burst's signatures on several cores before the core handles it,
//! and signs a batch of payments' vouchers the same way): what the core predicts is exactly what it then checks or
//! signs, a stranger's message gets nothing computed ahead, and a wrong guess changes nothing the core decides.

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::signature::{memo, precompute_recover, recover};
use ferry_simulations::virtual_net::{ETH, VirtualNet};
use ferry_virtual::protocol::{Message, VirtualMessage, VirtualPhase};

/// Over one delivery: recoveries the core found computed ahead and those it computed itself.
#[derive(Default, Debug)]
struct Tally {
    used_ahead: u64,
    computed_here: u64,
}

/// Delivers every message until the net is quiet, each one by hand: its predicted signatures are recovered ahead
/// first, and the core must use every one of them (no work wasted on a wrong prediction).
fn deliver_predicting(net: &mut VirtualNet, tally: &mut Tally) {
    for _ in 0..200 {
        let mut captured = vec![];
        net.step_selective(|from, to, msg| {
            captured.push((from, to, msg.clone()));
            true
        });
        if captured.is_empty() {
            return;
        }
        for (from, to, msg) in captured {
            let predicted = net.node(to).signatures_to_check(net.addr(from), &msg);
            for (digest, sig) in &predicted {
                precompute_recover(digest, sig);
            }
            let before = memo::thread_counts();
            net.inject(from, to, msg.clone())
                .unwrap_or_else(|e| panic!("{from} → {to}: {e} ({msg:?})"));
            let after = memo::thread_counts();
            assert_eq!(
                after.recovered_ahead - before.recovered_ahead,
                predicted.len() as u64,
                "every prediction is what the core checks: {msg:?}"
            );
            tally.used_ahead += after.recovered_ahead - before.recovered_ahead;
            tally.computed_here += after.recovered_here - before.recovered_here;
        }
    }
    panic!("the net is not quiet");
}

#[test]
fn signatures_predicted_for_a_burst_are_those_the_core_checks_through_open_payments_and_settle() {
    let mut net = VirtualNet::path(3);
    let mut tally = Tally::default();
    let v = net.open_payment(50, 20);
    deliver_predicting(&mut net, &mut tally);
    assert!(net.all_in(v, VirtualPhase::Open));
    for k in 1..=9u64 {
        net.node_mut(0).pay(v, ETH, U256::from(k)).unwrap();
        net.node_mut(2).pay(v, ETH, U256::from(1)).unwrap();
    }
    deliver_predicting(&mut net, &mut tally);
    assert_eq!(
        net.channel(2, v).unwrap().balance(0),
        U256::from(20 + 45 - 9)
    );
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    deliver_predicting(&mut net, &mut tally);
    assert!(net.all_in(v, VirtualPhase::Released));
    // Each message predicted just before it is handled: every recovery of the open, the payments and the settle
    // was computed ahead (in a runtime's burst, one that depends on a message handled before it in the same burst
    // is computed by the core).
    assert_eq!(tally.computed_here, 0, "{tally:?}");
    assert!(tally.used_ahead >= 30, "{tally:?}");
}

#[test]
fn a_batch_of_payments_signs_the_vouchers_predicted_for_it() {
    let mut net = VirtualNet::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    let pays: Vec<(B256, Address, U256)> = (1..=5u64).map(|k| (v, ETH, U256::from(k))).collect();
    let digests = net.node(0).voucher_digests(&pays);
    assert_eq!(digests.len(), pays.len());
    let me = net.addr(0);
    let signer = net.signer(0).clone();
    for d in &digests {
        signer.presign(d);
    }
    let before = memo::thread_counts();
    for (id, asset, amount) in &pays {
        net.node_mut(0).pay(*id, *asset, *amount).unwrap();
    }
    let after = memo::thread_counts();
    assert_eq!(after.signed_ahead - before.signed_ahead, pays.len() as u64);
    assert_eq!(after.signed_here, before.signed_here);
    // The vouchers sent carry those signatures, for the predicted digests, in order.
    let mut sent = vec![];
    net.step_selective(|_, _, msg| {
        if let Message::Virtual(VirtualMessage::Voucher { sig, .. }) = msg {
            sent.push(sig.clone());
        }
        false
    });
    assert_eq!(sent.len(), digests.len());
    for (d, sig) in digests.iter().zip(&sent) {
        assert_eq!(recover(d, sig).unwrap(), me);
    }
    // A member that is no endpoint, or a V it does not know, predicts nothing to sign.
    assert!(net.node(1).voucher_digests(&pays).is_empty());
    assert!(
        net.node(0)
            .voucher_digests(&[(B256::repeat_byte(9), ETH, U256::from(1))])
            .is_empty()
    );
}

#[test]
fn a_strangers_message_gets_nothing_computed_ahead_and_a_wrong_guess_changes_nothing() {
    let mut net = VirtualNet::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    // A voucher of A's as the core would see it from A, and the same from the intermediary (not the payer).
    net.node_mut(0).pay(v, ETH, U256::from(5)).unwrap();
    let mut voucher = None;
    net.step_selective(|_, _, msg| {
        if matches!(msg, Message::Virtual(VirtualMessage::Voucher { .. })) {
            voucher = Some(msg.clone());
        }
        true
    });
    let voucher = voucher.expect("A sent a voucher");
    assert_eq!(
        net.node(2).signatures_to_check(net.addr(0), &voucher).len(),
        1
    );
    assert!(
        net.node(2)
            .signatures_to_check(net.addr(1), &voucher)
            .is_empty()
    );
    assert!(
        net.node(2)
            .signatures_to_check(Address::repeat_byte(0x55), &voucher)
            .is_empty()
    );
    // Someone computes ahead a recovery of the same signature for another digest (as a wrong prediction would):
    // the core's check is unchanged, the forged voucher (another amount, A's signature) is refused.
    let Message::Virtual(VirtualMessage::Voucher {
        channel_id,
        asset,
        sig,
        ..
    }) = voucher.clone()
    else {
        unreachable!()
    };
    let forged = Message::Virtual(VirtualMessage::Voucher {
        channel_id,
        asset,
        cumulative: U256::from(15),
        sig: sig.clone(),
    });
    for (digest, s) in net.node(2).signatures_to_check(net.addr(0), &forged) {
        precompute_recover(&digest, &s);
    }
    assert!(net.inject(0, 2, forged).is_err());
    // A voucher above what the payer holds in V (A put in 50) is refused before its signature: nothing ahead.
    let too_much = Message::Virtual(VirtualMessage::Voucher {
        channel_id,
        asset,
        cumulative: U256::from(51),
        sig: sig.clone(),
    });
    assert!(
        net.node(2)
            .signatures_to_check(net.addr(0), &too_much)
            .is_empty()
    );
    assert!(net.inject(0, 2, too_much).is_err());
    net.inject(0, 2, voucher).unwrap();
    assert_eq!(net.channel(2, v).unwrap().balance(0), U256::from(25));
}
