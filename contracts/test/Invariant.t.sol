// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./utils/FerryBase.sol";
import {Vm} from "./utils/Test.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {FerryHarness} from "../src/FerryHarness.sol";
import {ChannelParams, State, Outcome, AssetOutcome, Signature, Certificate} from "../src/Types.sol";

/// Drives random deposits, top-ups, challenges, closes and repeated withdrawals over three ledger channels with
/// distinct participants, and keeps ghost totals of what went in and out of each.
contract Handler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    Adjudicator public adj;
    FerryHarness internal harness;
    ChannelParams[3] internal chans;
    uint256[2][3] internal keys;
    uint256[3] public deposited;
    uint256[3] public paid;
    bool[3] public closed;
    /// Set if a repeated withdraw ever paid anything.
    bool public paidTwice;

    constructor(Adjudicator a, FerryHarness h) {
        adj = a;
        harness = h;
        for (uint256 c = 0; c < 3; c++) {
            keys[c][0] = 0x1000 + 2 * c;
            keys[c][1] = 0x1001 + 2 * c;
            address[] memory ps = new address[](2);
            ps[0] = vm.addr(keys[c][0]);
            ps[1] = vm.addr(keys[c][1]);
            vm.deal(ps[0], 1_000 ether);
            vm.deal(ps[1], 1_000 ether);
            chans[c] = ChannelParams(0, block.chainid, address(a), ps, c + 1, address(0), 100, 0, 0, new bytes32[](0));
        }
    }

    function _id(uint256 c) internal view returns (bytes32) {
        return keccak256(abi.encode(chans[c]));
    }

    function _held(uint256 c) internal view returns (uint256 d0, uint256 d1) {
        (d0, d1,,,) = adj.holdings(_id(c), address(0));
    }

    /// Deposits `amount` for a participant (expectedHeld = its own current cumulative deposits, S16).
    function deposit(uint256 c, uint256 who, uint256 amount) external {
        c %= 3;
        who %= 2;
        amount = amount % 5 ether;
        if (closed[c]) return;
        (uint256 d0, uint256 d1) = _held(c);
        address from = chans[c].participants[who];
        uint256 before = address(adj).balance;
        vm.prank(from);
        adj.deposit{value: amount}(address(0), _id(c), who, who == 0 ? d0 : d1, amount);
        deposited[c] += address(adj).balance - before;
    }

    /// Both sign a state splitting what they know of (possibly missing the latest top-up) and close: either at
    /// once (concludeAndWithdraw) or by challenge and timeout; then withdraw again, which must pay nothing.
    function close(uint256 c, uint256 split, bool dispute, uint256 forget) external {
        c %= 3;
        if (closed[c]) return;
        (uint256 d0, uint256 d1) = _held(c);
        // The signed state may not know the most recent part of participant 1's deposits (an uncountersigned top-up).
        uint256 known1 = d1 - (forget % (d1 + 1));
        uint256 total = d0 + known1;
        uint256 b0 = total == 0 ? 0 : split % (total + 1);
        State memory s = _state(c, b0, total - b0, d0, known1, !dispute);
        Signature[] memory sigs = _sign(c, s);
        address p0 = chans[c].participants[0];
        address p1 = chans[c].participants[1];
        uint256 before = p0.balance + p1.balance;
        if (dispute) {
            Certificate memory none;
            adj.challenge(chans[c], s, sigs, none);
            vm.warp(block.timestamp + 100);
            adj.withdraw(chans[c], s);
        } else {
            adj.concludeAndWithdraw(chans[c], s, sigs);
        }
        paid[c] += p0.balance + p1.balance - before;
        closed[c] = true;
        uint256 again = p0.balance + p1.balance;
        adj.withdraw(chans[c], s);
        if (p0.balance + p1.balance != again) paidTwice = true;
    }

    function _state(uint256 c, uint256 b0, uint256 b1, uint256 d0, uint256 d1, bool fin)
        internal
        view
        returns (State memory s)
    {
        uint256[] memory bal = new uint256[](2);
        uint256[] memory dep = new uint256[](2);
        bal[0] = b0;
        bal[1] = b1;
        dep[0] = d0;
        dep[1] = d1;
        AssetOutcome[] memory assets = new AssetOutcome[](1);
        assets[0] = AssetOutcome(address(0), bal, dep, new uint256[](2), 0);
        s = State(_id(c), 1, Outcome(assets, harness.emptyRoot()), "", fin);
    }

    function _sign(uint256 c, State memory s) internal view returns (Signature[] memory sigs) {
        bytes32 d = harness.stateDigest(s, block.chainid, address(adj));
        sigs = new Signature[](2);
        for (uint256 i = 0; i < 2; i++) {
            (uint8 v, bytes32 r, bytes32 ss) = vm.sign(keys[c][i], d);
            sigs[i] = Signature(v, r, ss);
        }
    }
}

/// Invariants: the adjudicator's ETH equals what went in minus what came out; no channel pays out more than was
/// deposited into it; a closed channel pays everything it held; nothing is paid twice.
contract InvariantTest is FerryBase {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new Handler(adj, harness);
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function invariant_fundsHeldEqualDepositsMinusPayouts() public view {
        uint256 inflow;
        uint256 outflow;
        for (uint256 c = 0; c < 3; c++) {
            inflow += handler.deposited(c);
            outflow += handler.paid(c);
            assertLe(handler.paid(c), handler.deposited(c), "a channel paid out more than it held");
            if (handler.closed(c)) assertEq(handler.paid(c), handler.deposited(c), "a closed channel paid all");
        }
        assertEq(address(adj).balance, inflow - outflow, "held == deposits - payouts");
    }

    function invariant_nothingPaidTwice() public view {
        assertTrue(!handler.paidTwice(), "a repeated withdraw paid again");
    }
}
