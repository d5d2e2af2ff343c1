// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./utils/FerryBase.sol";
import {ChannelLib} from "../src/ChannelLib.sol";
import {ChannelParams, State, AssetOutcome, Signature, PaymentData, GameData, Voucher} from "../src/Types.sol";

/// The bundled apps' rules (SPEC.md "Apps"), called directly: every branch of PaymentApp and RockPaperScissors.
contract AppsTest is FerryBase {
    ChannelParams internal p;
    bytes32 internal cid;

    function setUp() public override {
        super.setUp();
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = keccak256("l1");
        hops[1] = keccak256("l2");
        p = virtualParams(addrs(alice, hub, bob), hops, address(payApp), 10);
        cid = id(p);
    }

    // ================================================================ PaymentApp

    function pay(uint48 version, uint256 a, uint256 b, uint256 byFirst, uint256 byLast, Signature[] memory vs)
        internal
        view
        returns (State memory s)
    {
        uint256[] memory f = new uint256[](1);
        uint256[] memory l = new uint256[](1);
        f[0] = byFirst;
        l[0] = byLast;
        s = virtualState(cid, version, 3, a, b, abi.encode(PaymentData(f, l, vs)), false);
    }

    function none() internal pure returns (Signature[] memory) {
        return new Signature[](0);
    }

    function voucher(uint256 pk, address payer, uint256 amount) internal view returns (Signature[] memory vs) {
        bytes32 d = harness.voucherDigest(Voucher(cid, payer, address(0), amount), block.chainid, address(adj));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, d);
        vs = new Signature[](1);
        vs[0] = Signature(v, r, s);
    }

    function valid(State memory from, State memory to, uint256 mover) internal view returns (bool) {
        return payApp.validTransition(p, from, to, mover);
    }

    function test_payment_moverPaysOnItsOwnSignature() public view {
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        assertTrue(valid(from, pay(6, 2 ether, 2 ether, 1 ether, 0, none()), 0), "A pays B");
        assertTrue(valid(from, pay(6, 3.5 ether, 0.5 ether, 0, 0.5 ether, none()), 2), "B pays A");
    }

    function test_payment_payeeRedeemsAVoucher() public view {
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        assertTrue(valid(from, pay(6, 1 ether, 3 ether, 2 ether, 0, voucher(ALICE_PK, alice, 2 ether)), 2), "B redeems");
        assertTrue(
            valid(from, pay(6, 3.5 ether, 0.5 ether, 0, 0.5 ether, voucher(BOB_PK, bob, 0.5 ether)), 0), "A redeems"
        );
    }

    function test_payment_payeeCannotPayItselfWithoutAValidVoucher() public view {
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        assertTrue(!valid(from, pay(6, 1 ether, 3 ether, 2 ether, 0, none()), 2), "no voucher");
        assertTrue(!valid(from, pay(6, 1 ether, 3 ether, 2 ether, 0, voucher(ALICE_PK, alice, 1 ether)), 2), "amount");
        assertTrue(!valid(from, pay(6, 1 ether, 3 ether, 2 ether, 0, voucher(BOB_PK, alice, 2 ether)), 2), "signer");
        assertTrue(!valid(from, pay(6, 1 ether, 3 ether, 2 ether, 0, voucher(ALICE_PK, bob, 2 ether)), 2), "payer");
        Signature[] memory high = voucher(ALICE_PK, alice, 2 ether);
        high[0].s = bytes32(ChannelLib.SECP256K1_N - uint256(high[0].s));
        high[0].v = high[0].v == 27 ? 28 : 27;
        assertTrue(!valid(from, pay(6, 1 ether, 3 ether, 2 ether, 0, high), 2), "high-s voucher");
    }

    function test_payment_cumulativeTotalsNeverDecrease() public view {
        State memory from = pay(5, 2 ether, 2 ether, 1 ether, 0, none());
        assertTrue(!valid(from, pay(6, 3 ether, 1 ether, 0, 0, none()), 0), "paidByFirst decreased");
    }

    function test_payment_balancesMustFollowThePayments() public view {
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        assertTrue(!valid(from, pay(6, 2 ether, 1 ether, 1 ether, 0, none()), 0), "B not credited");
        State memory hubPaid = pay(6, 2 ether, 1 ether, 1 ether, 0, none());
        hubPaid.outcome.assets[0].balances[1] = 1 ether;
        assertTrue(!valid(from, hubPaid, 0), "intermediary balance changed");
        State memory overdraft = pay(6, 0, 4 ether, 4 ether, 0, none());
        assertTrue(!valid(from, overdraft, 0), "pays more than A holds");
    }

    function test_payment_assetsLockedAndShapeAreFixed() public view {
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        State memory otherAsset = pay(6, 2 ether, 2 ether, 1 ether, 0, none());
        otherAsset.outcome.assets[0].asset = address(token);
        assertTrue(!valid(from, otherAsset, 0), "asset changed");
        State memory locked = pay(6, 2 ether, 2 ether, 1 ether, 0, none());
        locked.outcome.assets[0].locked = 1;
        assertTrue(!valid(from, locked, 0), "locked changed");
        State memory shape = pay(6, 2 ether, 2 ether, 1 ether, 0, none());
        shape.appData = abi.encode(PaymentData(new uint256[](2), new uint256[](1), none()));
        assertTrue(!valid(from, shape, 0), "paidBy arrays sized to the asset count");
        assertTrue(!valid(from, pay(6, 2 ether, 2 ether, 1 ether, 0, none()), 1), "the hub never moves");
    }

    function test_payment_malformedAppDataReverts() public {
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        State memory bad = pay(6, 2 ether, 2 ether, 1 ether, 0, none());
        bad.appData = hex"1234";
        vm.expectRevert();
        payApp.validTransition(p, from, bad, 0);
    }

    function testFuzz_payment_verdictFollowsTheRules(uint256 paidA, uint256 paidB, bool aMoves, bool withVouchers)
        public
        view
    {
        paidA = bound(paidA, 0, 3 ether);
        paidB = bound(paidB, 0, 1 ether);
        State memory from = pay(5, 3 ether, 1 ether, 0, 0, none());
        uint256 a = 3 ether - paidA + paidB;
        uint256 b = 1 ether - paidB + paidA;
        uint256 mover = aMoves ? 0 : 2;
        // The non-mover's cumulative rose: it needs that endpoint's voucher.
        bool othersRose = aMoves ? paidB > 0 : paidA > 0;
        Signature[] memory vs = none();
        if (withVouchers && othersRose) vs = aMoves ? voucher(BOB_PK, bob, paidB) : voucher(ALICE_PK, alice, paidA);
        bool expected = !othersRose || withVouchers;
        assertTrue(valid(from, pay(6, a, b, paidA, paidB, vs), mover) == expected, "verdict");
    }

    // ================================================================ RockPaperScissors

    function game(uint48 version, uint256 a, uint256 b, GameData memory g) internal view returns (State memory) {
        return virtualState(cid, version, 3, a, b, abi.encode(g), false);
    }

    function play(State memory from, State memory to, uint256 mover) internal view returns (bool) {
        return rps.validTransition(p, from, to, mover);
    }

    bytes32 internal constant SALT = keccak256("salt");

    function commit(uint8 move) internal pure returns (bytes32) {
        return keccak256(abi.encode(move, SALT));
    }

    function test_rps_aRoundForEveryPairOfMoves() public view {
        for (uint8 mf = 1; mf <= 3; mf++) {
            for (uint8 ml = 1; ml <= 3; ml++) {
                State memory ready = game(1, 3 ether, 1 ether, GameData(0, 0, 0, 0, 0, 0));
                State memory committed = game(2, 3 ether, 1 ether, GameData(1, 1 ether, commit(mf), 0, 0, 0));
                assertTrue(play(ready, committed, 0), "first commits");
                State memory played = game(3, 2 ether, 2 ether, GameData(2, 1 ether, commit(mf), ml, 0, 0));
                assertTrue(play(committed, played, 2), "last plays, stake moves to it");
                bool firstWins = (mf == 1 && ml == 3) || (mf == 2 && ml == 1) || (mf == 3 && ml == 2);
                uint256 back = mf == ml ? 1 ether : (firstWins ? 2 ether : 0);
                State memory revealed =
                    game(4, 2 ether + back, 2 ether - back, GameData(0, 1 ether, commit(mf), ml, mf, SALT));
                assertTrue(play(played, revealed, 0), "reveal settles");
                State memory wrong = game(
                    4, 2 ether + (back == 0 ? 1 ether : 0), 2 ether - (back == 0 ? 1 ether : 0),
                    GameData(0, 1 ether, commit(mf), ml, mf, SALT)
                );
                if (back != 1 ether) {
                    State memory draw = game(4, 3 ether, 1 ether, GameData(0, 1 ether, commit(mf), ml, mf, SALT));
                    assertTrue(!play(played, draw, 0), "not a draw");
                }
                if (back == 0) assertTrue(!play(played, wrong, 0), "loser takes nothing back");
            }
        }
    }

    function test_rps_turnsBelongToTheRightEndpoint() public view {
        State memory ready = game(1, 3 ether, 1 ether, GameData(0, 0, 0, 0, 0, 0));
        State memory committed = game(2, 3 ether, 1 ether, GameData(1, 1 ether, commit(2), 0, 0, 0));
        assertTrue(!play(ready, committed, 2), "last cannot commit");
        State memory played = game(3, 2 ether, 2 ether, GameData(2, 1 ether, commit(2), 1, 0, 0));
        assertTrue(!play(committed, played, 0), "first cannot play for last");
        State memory revealed = game(4, 4 ether, 0, GameData(0, 1 ether, commit(2), 1, 2, SALT));
        assertTrue(!play(played, revealed, 2), "last cannot reveal");
        assertTrue(!play(ready, committed, 1), "the hub never moves");
    }

    function test_rps_commitRules() public view {
        State memory ready = game(1, 3 ether, 1 ether, GameData(0, 0, 0, 0, 0, 0));
        assertTrue(!play(ready, game(2, 3 ether, 1 ether, GameData(1, 0, commit(1), 0, 0, 0)), 0), "zero stake");
        assertTrue(!play(ready, game(2, 3 ether, 1 ether, GameData(1, 2 ether, commit(1), 0, 0, 0)), 0), "stake > B");
        assertTrue(!play(ready, game(2, 3 ether, 1 ether, GameData(1, 1 ether, 0, 0, 0, 0)), 0), "no commitment");
        assertTrue(!play(ready, game(2, 2 ether, 2 ether, GameData(1, 1 ether, commit(1), 0, 0, 0)), 0), "balances");
        assertTrue(!play(ready, game(2, 3 ether, 1 ether, GameData(2, 1 ether, commit(1), 0, 0, 0)), 0), "phase");
    }

    function test_rps_playAndRevealRules() public view {
        State memory committed = game(2, 3 ether, 1 ether, GameData(1, 1 ether, commit(2), 0, 0, 0));
        assertTrue(!play(committed, game(3, 2 ether, 2 ether, GameData(2, 1 ether, commit(2), 4, 0, 0)), 2), "move 4");
        assertTrue(!play(committed, game(3, 2 ether, 2 ether, GameData(2, 1 ether, commit(2), 0, 0, 0)), 2), "move 0");
        assertTrue(!play(committed, game(3, 3 ether, 1 ether, GameData(2, 1 ether, commit(2), 1, 0, 0)), 2), "stake");
        assertTrue(!play(committed, game(3, 2 ether, 2 ether, GameData(2, 2 ether, commit(2), 1, 0, 0)), 2), "raise");
        State memory played = game(3, 2 ether, 2 ether, GameData(2, 1 ether, commit(2), 1, 0, 0));
        assertTrue(!play(played, game(4, 4 ether, 0, GameData(0, 1 ether, commit(2), 1, 3, SALT)), 0), "not the commit");
        assertTrue(
            !play(played, game(4, 4 ether, 0, GameData(0, 1 ether, commit(2), 1, 2, keccak256("x"))), 0), "salt"
        );
        assertTrue(!play(played, game(4, 4 ether, 0, GameData(0, 1 ether, commit(2), 3, 2, SALT)), 0), "moveLast");
        assertTrue(play(played, game(4, 4 ether, 0, GameData(0, 1 ether, commit(2), 1, 2, SALT)), 0), "paper wins");
    }

    function test_rps_otherAssetsStayUnchanged() public view {
        State memory ready = game(1, 3 ether, 1 ether, GameData(0, 0, 0, 0, 0, 0));
        State memory committed = game(2, 3 ether, 1 ether, GameData(1, 1 ether, commit(1), 0, 0, 0));
        AssetOutcome[] memory two = new AssetOutcome[](2);
        two[0] = ready.outcome.assets[0];
        two[1] = AssetOutcome(address(token), u3(5, 0, 5), u3(5, 0, 5), u3(0, 0, 0), 0);
        ready.outcome.assets = two;
        AssetOutcome[] memory two2 = new AssetOutcome[](2);
        two2[0] = committed.outcome.assets[0];
        two2[1] = AssetOutcome(address(token), u3(6, 0, 4), u3(5, 0, 5), u3(0, 0, 0), 0);
        committed.outcome.assets = two2;
        assertTrue(!play(ready, committed, 0), "second asset moved");
        committed.outcome.assets[1] = two[1];
        assertTrue(play(ready, committed, 0), "unchanged second asset");
    }
}
