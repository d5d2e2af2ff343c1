// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./utils/Test.sol";
import {VirtualBase} from "./utils/VirtualBase.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {ChannelParams, State, Signature} from "../src/Types.sol";

/// Drives one virtual channel V = [alice, hub, bob] over L1 = [alice, hub] and L2 = [hub, bob] through random
/// interleavings of uncountersigned top-ups, partial withdrawals, ledger closes (at once or by dispute), V's close
/// (a final or a timed-out endpoint state), claims and withdrawals, each possibly repeated, and keeps ghost totals.
contract VirtualHandler is VirtualBase {
    uint256[2] public deposited; // per ledger, what went in (10 ether each at the start + top-ups)
    uint256[2] public paid; // per ledger, what came out
    uint256 public hubFromClaims;
    uint256[2] public claims; // successful claims per ledger
    bool[2] public withdrawnAfterFinal;
    bool[2] internal ledgerFinal;
    uint48[2] internal ledgerVersion;
    bool[2] internal ledgerConcluded; // concluded with a final (else: a timed-out challenge)
    uint256[2][2] internal wdKnown; // partial withdrawals both signed, per ledger and participant
    bool public vFinal;
    uint256 internal vPaid;
    bool internal vConcluded;

    function boot() external {
        setUp();
        deposited[0] = 10 ether;
        deposited[1] = 10 ether;
        ledgerVersion[0] = 2;
        ledgerVersion[1] = 2;
    }

    function adjudicator() external view returns (Adjudicator) {
        return adj;
    }

    function _ledger(uint256 which) internal view returns (ChannelParams memory) {
        return which == 0 ? l1 : l2;
    }

    function _keys(uint256 which) internal pure returns (uint256[] memory) {
        return which == 0 ? pks(ALICE_PK, HUB_PK) : pks(HUB_PK, BOB_PK);
    }

    /// Each ledger locks V's leaf (A's 3 from its left side, B's 1 from its right side) and leaves 2 and 4 free.
    function _ledgerState(uint256 which, uint48 version, bool fin) internal view returns (State memory) {
        uint256[2] memory base = [uint256(2 ether), 4 ether];
        uint256[2] memory wk = wdKnown[which];
        return ledgerStateFull(
            id(_ledger(which)), version, address(0), u2(base[0] - wk[0], base[1] - wk[1]), u2(5 ether, 5 ether),
            u2(wk[0], wk[1]), LEAF, root, fin
        );
    }

    function _finalLedgerState(uint256 which) internal view returns (State memory) {
        return _ledgerState(which, ledgerVersion[which], ledgerConcluded[which]);
    }

    function _vState() internal view returns (State memory) {
        return vState(vConcluded ? 7 : 5, vPaid, vConcluded);
    }

    function _everyone() internal view returns (uint256) {
        return alice.balance + hub.balance + bob.balance;
    }

    function _finalized(bytes32 cid) internal view returns (bool) {
        (, uint48 at,,,,) = adj.statusOf(cid);
        return at != 0 && block.timestamp >= at;
    }

    // ------------------------------------------------------------ actions

    function topUp(uint256 which, uint256 who, uint256 amount) external {
        which %= 2;
        who %= 2;
        amount = bound(amount, 1, 1 ether);
        ChannelParams memory l = _ledger(which);
        if (_finalized(id(l))) return;
        (uint256 d0, uint256 d1,,,) = adj.holdings(id(l), address(0));
        vm.prank(l.participants[who]);
        adj.deposit{value: amount}(address(0), id(l), who, who == 0 ? d0 : d1, amount);
        deposited[which] += amount;
    }

    function partialWithdraw(uint256 which, uint256 who, uint256 amount) external {
        which %= 2;
        who %= 2;
        ChannelParams memory l = _ledger(which);
        if (_finalized(id(l))) return;
        uint256 free = (who == 0 ? 2 ether : 4 ether) - wdKnown[which][who];
        amount = bound(amount, 0, free);
        if (amount == 0) return;
        wdKnown[which][who] += amount;
        ledgerVersion[which] += 1;
        State memory s = _ledgerState(which, ledgerVersion[which], false);
        uint256 before = _everyone();
        adj.withdrawPartial(l, s, signAll(s, _keys(which)), who);
        paid[which] += _everyone() - before;
    }

    function finalizeLedger(uint256 which, bool dispute) external {
        which %= 2;
        ChannelParams memory l = _ledger(which);
        if (ledgerFinal[which] || _finalized(id(l))) return;
        ledgerVersion[which] += 1;
        ledgerConcluded[which] = !dispute;
        State memory s = _finalLedgerState(which);
        if (dispute) {
            adj.challenge(l, s, signAll(s, _keys(which)), noCert());
            (, uint48 at,,,,) = adj.statusOf(id(l));
            vm.warp(at);
        } else {
            adj.conclude(l, s, signAll(s, _keys(which)));
        }
        ledgerFinal[which] = true;
    }

    function finalizeV(uint256 paidA, bool dispute) external {
        if (vFinal || _finalized(vid)) return;
        vPaid = bound(paidA, 0, A_FUNDS);
        vConcluded = !dispute;
        State memory s = _vState();
        if (dispute) {
            adj.challenge(v, s, endpointSigs(s), certificate());
            (, uint48 at,,,,) = adj.statusOf(vid);
            vm.warp(at);
        } else {
            adj.conclude(v, s, signAll(s, pks(ALICE_PK, HUB_PK, BOB_PK)));
        }
        vFinal = true;
    }

    function claim(uint256 which) external {
        which %= 2;
        if (!ledgerFinal[which] || !vFinal) return;
        uint256 before = _everyone();
        uint256 hubBefore = hub.balance;
        try adj.claim(_ledger(which), _finalLedgerState(which), leaf, proof, v, _vState()) {
            claims[which] += 1;
            hubFromClaims += hub.balance - hubBefore;
        } catch {}
        paid[which] += _everyone() - before;
    }

    function withdraw(uint256 which) external {
        which %= 2;
        if (!ledgerFinal[which]) return;
        uint256 before = _everyone();
        adj.withdraw(_ledger(which), _finalLedgerState(which));
        paid[which] += _everyone() - before;
        withdrawnAfterFinal[which] = true;
    }
}

/// Invariants over virtual channels and claims: the adjudicator's ETH is exactly what went in minus what came
/// out; no ledger pays more than was deposited into it; a leaf is claimed at most once; the hub gets back exactly
/// the leaf it locked once both ledgers settled V; a fully settled ledger has paid out everything.
contract VirtualInvariantTest is Test {
    /// forge's selector filter.
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    VirtualHandler internal handler;
    Adjudicator internal adj;
    uint256 internal initial;

    function setUp() public {
        handler = new VirtualHandler();
        handler.boot();
        adj = handler.adjudicator();
        initial = address(adj).balance;
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory s) {
        bytes4[] memory sel = new bytes4[](7);
        sel[0] = VirtualHandler.topUp.selector;
        sel[1] = VirtualHandler.partialWithdraw.selector;
        sel[2] = VirtualHandler.finalizeLedger.selector;
        sel[3] = VirtualHandler.finalizeV.selector;
        sel[4] = VirtualHandler.claim.selector;
        sel[5] = VirtualHandler.withdraw.selector;
        sel[6] = VirtualHandler.claim.selector; // weighted: claims are the point
        s = new FuzzSelector[](1);
        s[0] = FuzzSelector(address(handler), sel);
    }

    function invariant_virtual_fundsHeldEqualDepositsMinusPayouts() public view {
        uint256 inflow = handler.deposited(0) + handler.deposited(1);
        uint256 outflow = handler.paid(0) + handler.paid(1);
        assertEq(address(adj).balance, inflow - outflow, "held == deposits - payouts");
        for (uint256 w = 0; w < 2; w++) {
            assertLe(handler.paid(w), handler.deposited(w), "a ledger paid out more than it held");
        }
    }

    function invariant_virtual_eachLeafClaimedAtMostOnce() public view {
        assertLe(handler.claims(0), 1, "L1's leaf claimed twice");
        assertLe(handler.claims(1), 1, "L2's leaf claimed twice");
    }

    function invariant_virtual_hubBreaksEvenAndSettledLedgersAreEmpty() public view {
        if (handler.claims(0) == 1 && handler.claims(1) == 1) {
            assertEq(handler.hubFromClaims(), 4 ether, "the hub gets back exactly the leaf it locked");
        }
        for (uint256 w = 0; w < 2; w++) {
            if (handler.claims(w) == 1 && handler.withdrawnAfterFinal(w)) {
                assertEq(handler.paid(w), handler.deposited(w), "a settled ledger paid out all it held");
            }
        }
    }
}
