//! A fourth outside reviewer's attacks on the virtual-channel protocol and its app interface. Each test PASSES WHEN
//! THE ATTACK WORKS: it asserts the damage done to an honest member.

use alloy::primitives::U256;
use ferry_ledger::app::payment;
use ferry_simulations::virtual_net::{DEFAULT_DEPOSIT as DEPOSIT, ETH, VirtualNet};
use ferry_virtual::protocol::{Message, VirtualMessage, VirtualPhase};

/// S4 ("B signs only a final worth its vouchers"). In a payment channel the core also accepts app `Move`s (nothing
/// limits `Move`/`make_move` to turn-based apps), and once a co-signed move exists an endpoint's own accounting
/// (`VirtualChannel::balance`) reads the balances of that move alone, forgetting every voucher received. A pays B 30
/// by vouchers (B delivers), then plays a no-op payment move (pays 0 on its own signature) from the post-fund; B's
/// node countersigns it (a valid payment-app transition), which resets B's view of its balance to the post-fund's.
/// A then settles: the final gives A its 50 back; B checks the final against its (now forgotten) vouchers and signs.
/// B is paid nothing of the 30 it was given.
#[test]
fn s4_a_no_op_move_in_a_payment_channel_makes_the_payee_sign_away_its_vouchers() {
    let mut net = VirtualNet::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    assert!(net.all_in(v, VirtualPhase::Open));
    net.node_mut(0).pay(v, ETH, U256::from(30)).unwrap();
    net.pump();
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(50));

    // A's no-op move: it pays 0 on its own signature, from the post-fund (a valid payment-app transition).
    let ch = net.node(0).channel(&v).unwrap().clone();
    let to = payment::pay(ch.params(), &ch.current(), 0, &[U256::ZERO]).unwrap();
    net.node_mut(0).make_move(v, to).unwrap();
    net.pump();
    // B countersigned: its own accounting now says it holds 20, the 30 received forgotten.
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(20));

    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    assert!(net.all_in(v, VirtualPhase::Released), "V settled and released");
    // B's due in its ledger with the hub: DEPOSIT - 20 + 50. It got DEPOSIT - 20 + 20.
    let b = net.balance(2, 1);
    eprintln!("B's balance {b}, due {}", DEPOSIT + 30);
    assert_eq!(b, U256::from(DEPOSIT), "B got back only its own 20");
    assert!(b < U256::from(DEPOSIT + 30), "B lost the 30 it was paid");
    // A got its 50 back: A paid nothing for what B delivered.
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT));
    let _ = (Message::Virtual, VirtualMessage::SettleRequest { channel_id: v });
}
