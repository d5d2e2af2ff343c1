// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./utils/FerryBase.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {IAdjudicator} from "../src/Types.sol";
import {RevertingToken, GasBurningToken, TestToken} from "../src/tokens/TestTokens.sol";
import {ChannelParams, State, Signature, Certificate} from "../src/Types.sol";

/// A recipient that refuses ETH.
contract RevertingReceiver {
    receive() external payable {
        revert("no");
    }

    /// Pulls its credit (and would refuse it).
    function pull(Adjudicator adj) external {
        adj.withdrawCredit(address(0));
    }
}

/// A recipient that burns all the gas it is given.
contract GasBurningReceiver {
    receive() external payable {
        uint256 x;
        while (true) {
            x++;
        }
    }
}

/// A recipient that accepts its credit once and tries to re-enter the adjudicator while being paid.
contract ReentrantReceiver {
    Adjudicator internal immutable adj;
    bool internal armed;
    /// Whether the re-entry attempt was refused.
    bool public reentryRefused;

    constructor(Adjudicator a) {
        adj = a;
    }

    /// Pulls credit, re-entering on receipt.
    function pull() external {
        armed = true;
        adj.withdrawCredit(address(0));
    }

    receive() external payable {
        if (!armed) revert("push refused"); // refuse pushed payouts so they get credited
        armed = false;
        try adj.withdrawCredit(address(0)) {} catch (bytes memory reason) {
            reentryRefused = bytes4(reason) == IAdjudicator.Reentrancy.selector;
        }
    }
}

/// S11: payouts no recipient can block, credits, reentrancy.
contract PayoutsTest is FerryBase {
    function closeWith(ChannelParams memory p, address asset, uint256 b0, uint256 b1) internal {
        State memory s = ledgerState(id(p), 3, asset, b0, b1, true);
        s.outcome.assets[0].deposited = u2(b0, b1);
        adj.concludeAndWithdraw(p, s, signAll(s, pksFor(p)));
    }

    mapping(address => uint256) internal keyOf;

    function pksFor(ChannelParams memory p) internal view returns (uint256[] memory) {
        return pks(keyOf[p.participants[0]], keyOf[p.participants[1]]);
    }

    function setUp() public override {
        super.setUp();
        keyOf[alice] = ALICE_PK;
        keyOf[hub] = HUB_PK;
        keyOf[bob] = BOB_PK;
    }

    /// A ledger whose second participant is a contract; states are signed by the contract's stand-in key, so the
    /// test makes the participant an EOA key and then etches the receiver's code at that address.
    function ledgerWithContractRecipient(bytes memory code) internal returns (ChannelParams memory p, address r) {
        r = bob;
        vm.etch(r, code);
        p = ledgerParams(alice, r);
    }

    function test_s11_revertingEthRecipientIsCreditedAndOthersArePaid() public {
        (ChannelParams memory p, address r) = ledgerWithContractRecipient(address(new RevertingReceiver()).code);
        fundEth(id(p), 1 ether, 2 ether, alice, r);
        uint256 a0 = alice.balance;
        closeWith(p, address(0), 1 ether, 2 ether);
        assertEq(alice.balance - a0, 1 ether, "alice paid despite the other recipient");
        assertEq(adj.credit(address(0), r), 2 ether, "refused payout credited");
        vm.expectRevert(IAdjudicator.CreditTransferFailed.selector);
        RevertingReceiver(payable(r)).pull(adj);
        assertEq(adj.credit(address(0), r), 2 ether, "credit kept after a failed pull");
    }

    function test_s11_gasBurningEthRecipientCannotBlockTheClose() public {
        (ChannelParams memory p, address r) = ledgerWithContractRecipient(address(new GasBurningReceiver()).code);
        fundEth(id(p), 1 ether, 2 ether, alice, r);
        uint256 a0 = alice.balance;
        closeWith(p, address(0), 1 ether, 2 ether);
        assertEq(alice.balance - a0, 1 ether, "alice paid");
        assertEq(adj.credit(address(0), r), 2 ether, "credited");
    }

    function test_s11_revertingTokenRecipientIsCredited() public {
        RevertingToken t = new RevertingToken();
        ChannelParams memory p = ledgerParams(alice, bob);
        _fundToken(t, p, 10, 20);
        t.setBlocked(bob, true);
        closeWith(p, address(t), 10, 20);
        assertEq(t.balanceOf(alice), 10, "alice paid in tokens");
        assertEq(adj.credit(address(t), bob), 20, "bob credited");
        t.setBlocked(bob, false);
        vm.prank(bob);
        adj.withdrawCredit(address(t));
        assertEq(t.balanceOf(bob), 20, "pulled later");
        vm.prank(bob);
        vm.expectRevert(IAdjudicator.NothingCredited.selector);
        adj.withdrawCredit(address(t));
    }

    function test_s11_gasBurningTokenCannotBlockOtherPayouts() public {
        GasBurningToken t = new GasBurningToken();
        ChannelParams memory p = ledgerParams(alice, bob);
        _fundToken(TestToken(address(t)), p, 10, 20);
        t.setBlocked(alice, true);
        closeWith(p, address(t), 10, 20);
        assertEq(t.balanceOf(bob), 20, "bob paid");
        assertEq(adj.credit(address(t), alice), 10, "alice credited");
    }

    function test_s11_reentrancyIsRefused() public {
        ReentrantReceiver impl = new ReentrantReceiver(adj);
        (ChannelParams memory p, address r) = ledgerWithContractRecipient(address(impl).code);
        // The etched code reads `adj` from its immutable, copied with the code.
        fundEth(id(p), 1 ether, 2 ether, alice, r);
        closeWith(p, address(0), 1 ether, 2 ether);
        assertEq(adj.credit(address(0), r), 2 ether, "push refused, credited");
        ReentrantReceiver(payable(r)).pull();
        assertTrue(ReentrantReceiver(payable(r)).reentryRefused(), "re-entry refused");
        assertEq(adj.credit(address(0), r), 0, "credit paid once");
        assertEq(address(adj).balance, 0, "nothing paid twice");
    }

    function _fundToken(TestToken t, ChannelParams memory p, uint256 a, uint256 b) internal {
        t.mint(p.participants[0], a);
        t.mint(p.participants[1], b);
        vm.prank(p.participants[0]);
        t.approve(address(adj), a);
        vm.prank(p.participants[1]);
        t.approve(address(adj), b);
        vm.prank(p.participants[0]);
        adj.deposit(address(t), id(p), 0, 0, a);
        vm.prank(p.participants[1]);
        adj.deposit(address(t), id(p), 1, 0, b);
    }
}
