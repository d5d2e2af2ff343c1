// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./utils/Test.sol";
import {AttackerBase} from "./utils/AttackerBase.sol";
import {AnyMoveApp} from "./utils/Hostile.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {TestToken} from "../src/tokens/TestTokens.sol";
import {
    ChannelParams, State, Outcome, AssetOutcome, Signature, SubAlloc, LeafProof, Certificate
} from "../src/Types.sol";

/// The colluding endpoints A and B against an honest hub H on V = [A, H, B] over L1 = [A, H] and L2 = [H, B] (V's
/// app accepts every move). A and B hold every signature H ever gave: its ledger states (countersigned back or
/// refused; each built on the previous one H signed: payments both ways, partial withdrawals, top-ups counted, V's
/// leaf added and removed, finals), V's pre-fund, post-fund and final. They sign any state of V as its endpoints,
/// deposit for anyone, call every entry point in any order (challenges, checkpoints, concludes, withdrawals, V's
/// challenges with any split and certificate, app moves, claims with the right or wrong states) and move time.
/// H reacts after every step like Ferry's watcher: it answers stale ledger registrations, closes with finals, takes
/// its partial withdrawals, withdraws once finalized, keeps V's latest state it holds registered (its final
/// concludes V over anything the endpoints registered, S5), gets V finalized when a ledger finalized with the leaf
/// locked, and claims. H adds V's leaf before signing the post-fund (once both ledgers lock it in a state countersigned
/// back), signs one final of V, and removes the leaf off-chain only by V's outcome (its final held fully signed, or
/// V's finalized on-chain state).
contract VirtualAttackerHandler is AttackerBase {
    AnyMoveApp internal anyApp;
    ChannelParams internal v;
    bytes32 public vid;
    uint256 internal constant A0 = 3 ether; // A's part of V
    uint256 internal constant B0 = 1 ether; // B's part of V
    uint256 internal constant T = A0 + B0;
    uint256 internal constant FEE = 0.1 ether; // A's routing fee to H, in L1's leaf
    SubAlloc[2] internal leaves;
    bytes32[2] internal roots;
    LeafProof internal proof0;

    /// H's ETH before it funded anything.
    uint256 public hubInitial;
    bool internal hubSignedPost;
    bool internal hubHoldsPost;
    bool internal hubSignedFinal;
    bool internal hubHoldsFinal;
    uint256 internal finalA;
    /// V's registered state (empty: none).
    bytes internal vRegistered;
    /// Per ledger: claims of V's leaf that went through, and what H received from them.
    uint256[2] public claims;
    uint256 public hubFromClaims;

    function boot() external {
        setUp();
        clock = block.timestamp;
        anyApp = new AnyMoveApp();
        hubInitial = hub.balance;
        actors.push(alice);
        actors.push(hub);
        actors.push(bob);
        token.mint(alice, 1_000_000 ether);
        token.mint(bob, 1_000_000 ether);
        vm.prank(alice);
        token.approve(address(adj), type(uint256).max);
        vm.prank(bob);
        token.approve(address(adj), type(uint256).max);
        ChannelParams memory l1 = ledgerParams(alice, hub);
        ChannelParams memory l2 = ledgerParams(hub, bob);
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        v = virtualParams(addrs(alice, hub, bob), hops, address(anyApp), 2);
        vid = id(v);
        leaves[0] = leafWithFee(vid, T, FEE);
        leaves[1] = leafFor(vid, T);
        (roots[0], proof0) = singleLeafTree(leaves[0]);
        (roots[1],) = singleLeafTree(leaves[1]);
        _openLedger(0, l1, 1, ALICE_PK);
        _openLedger(1, l2, 0, BOB_PK);
    }

    function _openLedger(uint256 c, ChannelParams memory p, uint256 h, uint256 xPk) internal {
        Chain storage ch = chains[c];
        ch.params = p;
        ch.cid = id(p);
        ch.h = h;
        ch.hPk = HUB_PK;
        ch.xPk = xPk;
        ch.open = true;
        ch.base = NONE;
        ch.seen = NONE;
        ch.registeredIdx = NONE;
        ids.push(ch.cid);
        fundEth(ch.cid, 5 ether, 5 ether, p.participants[0], p.participants[1]);
        _honestSigns(
            c, _ledgerState(ch.cid, 0, u2(5 ether, 5 ether), u2(5 ether, 5 ether), u2(0, 0), 0, harness.emptyRoot(), false), 0, true
        );
    }

    function adjudicator() external view returns (Adjudicator) {
        return adj;
    }

    function tokenContract() external view returns (TestToken) {
        return token;
    }

    // ------------------------------------------------------------ V

    /// A's part of V's total: all, nothing, or anything between.
    function _split(uint256 seed) internal pure returns (uint256) {
        uint256 k = seed % 3;
        return k == 0 ? 0 : k == 1 ? T : bound(seed >> 2, 0, T);
    }

    /// V's state where A holds `a` of the total (the hub nothing, B the rest).
    function _v(uint48 version, uint256 a, bool fin) internal view returns (State memory s) {
        AssetOutcome[] memory assets = new AssetOutcome[](1);
        assets[0] = AssetOutcome(address(0), u3(a, 0, T - a), u3(A0, 0, B0), u3(0, 0, 0), 0);
        s = State(vid, version, Outcome(assets, harness.emptyRoot()), "", fin);
    }

    function _allSigs(State memory s) internal view returns (Signature[] memory) {
        return signAll(s, pks(ALICE_PK, HUB_PK, BOB_PK));
    }

    function _final() internal view returns (State memory) {
        return _v(100, finalA, true);
    }

    function _vStatus() internal view returns (uint48 version, uint48 deadline, bool finalized) {
        (version, deadline) = _status(vid);
        finalized = deadline != 0 && clock >= deadline;
    }

    /// V's outcome H is entitled to: the final it holds fully signed (S5: it concludes V over anything else), else
    /// V's finalized on-chain state; `known` false before either (then the refund).
    function _outcome() internal view returns (bool known, uint256 a, bool earned) {
        if (hubHoldsFinal) return (true, finalA, true);
        (,, bool fin) = _vStatus();
        if (fin) {
            State memory r = abi.decode(vRegistered, (State));
            return (true, r.outcome.assets[0].balances[0], r.version >= 1);
        }
        return (false, A0, false);
    }

    /// What H gets out of V's leaf in ledger `c` by V's outcome (claim's split): in L1 H stands for B's side (and
    /// earns the fee once V got past its pre-fund), in L2 for A's. Before any outcome: the refund.
    function _share(uint256 c) internal view returns (uint256) {
        (, uint256 a, bool earned) = _outcome();
        uint256 toA = a < T ? a : T;
        return c == 0 ? T - toA + (earned ? FEE : 0) : toA;
    }

    function _lockedValue(uint256 c, uint256 i) internal view override returns (uint256) {
        return lockedByH[c][i] == 0 ? 0 : _share(c);
    }

    function _locksLeaf(State memory s) internal pure returns (bool) {
        return s.outcome.assets[0].locked != 0;
    }

    // ------------------------------------------------------------ the hub's reactions

    function _react() internal {
        _reactLedger(0);
        _reactLedger(1);
        _reactV();
        for (uint256 c = 0; c < 2; c++) {
            _hubClaims(c);
        }
    }

    function _ledgerLocksLeafFinalized(uint256 c) internal view returns (bool) {
        Chain storage ch = chains[c];
        return _isFinalized(ch.cid) && ch.registered.length != 0
            && _locksLeaf(abi.decode(ch.registered, (State)));
    }

    function _reactV() internal {
        (uint48 ver, uint48 deadline, bool fin) = _vStatus();
        if (fin) return;
        bool needed = deadline != 0 || _ledgerLocksLeafFinalized(0) || _ledgerLocksLeafFinalized(1);
        if (!needed) return;
        if (hubHoldsFinal) {
            // S5: its final concludes V over whatever the endpoints registered.
            State memory f = _final();
            try adj.conclude(v, f, _allSigs(f)) {
                vRegistered = abi.encode(f);
            } catch {}
            return;
        }
        if (deadline == 0 || (ver < 1 && hubHoldsPost)) {
            State memory s = _v(hubHoldsPost ? 1 : 0, A0, false);
            try adj.challenge(v, s, _allSigs(s), noCert()) {
                vRegistered = abi.encode(s);
            } catch {}
        }
    }

    function _claim(uint256 c, State memory ledgerState, SubAlloc memory leaf, State memory vState) internal {
        uint256 before = hub.balance;
        try adj.claim(chains[c].params, ledgerState, leaf, proof0, v, vState) {
            claims[c]++;
            hubFromClaims += hub.balance - before;
            hits["claim"]++;
        } catch {}
    }

    function _hubClaims(uint256 c) internal {
        (,, bool fin) = _vStatus();
        if (!fin || !_ledgerLocksLeafFinalized(c) || adj.isClaimed(chains[c].cid, 0)) return;
        _claim(c, abi.decode(chains[c].registered, (State)), leaves[c], abi.decode(vRegistered, (State)));
    }

    // ------------------------------------------------------------ views for the invariants

    /// H is done: both ledgers finalized and paid out, and V's leaf claimed wherever it stayed locked.
    function ended() public view returns (bool) {
        for (uint256 c = 0; c < 2; c++) {
            Chain storage ch = chains[c];
            if (!ch.withdrawn || !_isFinalized(ch.cid)) return false;
            if (_ledgerLocksLeafFinalized(c) && !adj.isClaimed(ch.cid, 0)) return false;
        }
        return true;
    }

    function netGain() external view returns (int256) {
        return int256(hub.balance) - int256(hubInitial);
    }

    function entitlement() external view returns (int256) {
        return _entitlement(0) + _entitlement(1);
    }

    // ------------------------------------------------------------ the off-chain protocol

    /// H signs the next state of a ledger (X countersigns it back or not): V's leaf added (before the post-fund)
    /// or removed (by V's outcome), or a payment, partial withdrawal, top-up or final.
    function ledgerStep(uint256 c, uint256 seed) external {
        c %= 2;
        Chain storage ch = chains[c];
        if (!ch.signedFinal && !_isFinalized(ch.cid)) {
            State memory prev = _last(c);
            if (_funded(c, prev)) {
                uint256 locks = lockedByH[c][_count(c) - 1];
                State memory next;
                if (seed % 4 == 0 && locks == 0 && !hubSignedPost && _addable(c, prev)) {
                    next = _withLeaf(c, prev);
                    locks = 1;
                    hits["leaf added"]++;
                } else if (seed % 4 == 1 && locks != 0) {
                    (bool known, uint256 a, bool earned) = _outcome();
                    if (!known) {
                        _react();
                        return;
                    }
                    next = _withoutLeaf(c, prev, a, earned);
                    locks = 0;
                    hits["leaf removed"]++;
                } else {
                    next = _nextLedgerState(c, prev, seed >> 2);
                }
                _honestSigns(c, next, locks, (seed >> 200) % 3 != 0);
            }
        }
        _react();
    }

    /// The leaf goes in once per ledger, before V is on-chain, from balances that hold each side's part.
    function _addable(uint256 c, State memory prev) internal view returns (bool) {
        (, uint48 deadline,) = _vStatus();
        if (deadline != 0) return false;
        for (uint256 i = 0; i < _count(c); i++) {
            if (lockedByH[c][i] != 0) return false; // added before (and maybe removed): never again
        }
        uint256[] memory b = prev.outcome.assets[0].balances;
        return c == 0 ? b[0] >= A0 + FEE && b[1] >= B0 : b[0] >= A0 && b[1] >= B0;
    }

    function _withLeaf(uint256 c, State memory prev) internal view returns (State memory s) {
        s = prev;
        s.version = prev.version + 1;
        AssetOutcome memory a = s.outcome.assets[0];
        if (c == 0) {
            a.balances[0] -= A0 + FEE; // A's part and the fee
            a.balances[1] -= B0; // H funds B's part
            a.locked = T + FEE;
        } else {
            a.balances[0] -= A0; // H funds A's part
            a.balances[1] -= B0;
            a.locked = T;
        }
        s.outcome.subRoot = roots[c];
    }

    /// The leaf paid out off-chain by V's outcome, as `claim` would.
    function _withoutLeaf(uint256 c, State memory prev, uint256 vA, bool earned)
        internal
        view
        returns (State memory s)
    {
        s = prev;
        s.version = prev.version + 1;
        AssetOutcome memory a = s.outcome.assets[0];
        uint256 toLeft = vA < T ? vA : T;
        uint256 toRight = T - toLeft;
        if (c == 0) {
            if (earned) toRight += FEE;
            else toLeft += FEE;
        }
        a.balances[0] += toLeft;
        a.balances[1] += toRight;
        a.locked = 0;
        s.outcome.subRoot = harness.emptyRoot();
    }

    /// V's open in one go: H adds the leaf in each ledger (A and B countersign it back or not), then signs the
    /// post-fund if both ledgers lock it in a state countersigned back (A and B send theirs back or not).
    function vOpen(uint256 seed) external {
        for (uint256 c = 0; c < 2; c++) {
            Chain storage ch = chains[c];
            if (ch.signedFinal || _isFinalized(ch.cid) || hubSignedPost) continue;
            State memory prev = _last(c);
            if (lockedByH[c][_count(c) - 1] == 0 && _funded(c, prev) && _addable(c, prev)) {
                _honestSigns(c, _withLeaf(c, prev), 1, (seed >> (8 * c)) % 4 != 0);
                hits["leaf added"]++;
            }
        }
        _fund((seed >> 16) % 4 != 0);
        _react();
    }

    /// H signs V's post-fund once both ledgers lock the leaf in a state countersigned back.
    function _fund(bool countersigned) internal {
        (,, bool fin) = _vStatus();
        uint256 b0 = chains[0].base;
        uint256 b1 = chains[1].base;
        if (!hubSignedPost && !fin && lockedByH[0][b0] != 0 && lockedByH[1][b1] != 0) {
            hubSignedPost = true;
            hubHoldsPost = countersigned;
            hits["post-fund"]++;
        }
    }

    function vFund(bool countersigned) external {
        _fund(countersigned);
        _react();
    }

    /// V's close: H signs V's one final (A holds `a` of the total) while V is not on-chain (A and B send theirs back
    /// or not); knowing V's outcome, H removes the leaf from each ledger by it (countersigned back or not).
    function vClose(uint256 a, uint256 seed) external {
        (, uint48 deadline,) = _vStatus();
        if (hubSignedPost && !hubSignedFinal && deadline == 0) {
            hubSignedFinal = true;
            hubHoldsFinal = seed % 4 != 0;
            finalA = _split(a);
            hits["V final"]++;
        }
        (bool known, uint256 vA, bool earned) = _outcome();
        for (uint256 c = 0; c < 2 && known; c++) {
            Chain storage ch = chains[c];
            if (ch.signedFinal || _isFinalized(ch.cid) || lockedByH[c][_count(c) - 1] == 0) continue;
            State memory prev = _last(c);
            if (!_funded(c, prev)) continue;
            _honestSigns(c, _withoutLeaf(c, prev, vA, earned), 0, (seed >> (8 + 8 * c)) % 2 != 0);
            hits["leaf removed"]++;
        }
        _react();
    }

    // ------------------------------------------------------------ the attackers' steps on the ledgers

    function _x(uint256 c) internal view returns (address) {
        return c == 0 ? alice : bob;
    }

    function deposit(uint256 c, uint256 who, uint256 amount, uint256 mode, bool useToken) external {
        c %= 2;
        _atkDeposit(_x(c), chains[c].cid, who, amount, mode, useToken);
        _react();
    }

    function challenge(uint256 c, uint256 idx) external {
        _atkChallenge(c % 2, idx);
        _react();
    }

    function checkpoint(uint256 c, uint256 idx) external {
        _atkCheckpoint(c % 2, idx);
        _react();
    }

    function conclude(uint256 c, uint256 idx, bool andWithdraw) external {
        _atkConclude(c % 2, idx, andWithdraw);
        _react();
    }

    function withdraw(uint256 c, uint256 idx, bool registered) external {
        _atkWithdraw(c % 2, idx, registered);
        _react();
    }

    function withdrawPartial(uint256 c, uint256 idx, uint256 who) external {
        _atkWithdrawPartial(c % 2, idx, who);
        _react();
    }

    function withdrawUnlisted(uint256 c, uint256 idx, bool registered) external {
        _atkWithdrawUnlisted(c % 2, idx, registered);
        _react();
    }

    // ------------------------------------------------------------ the attackers' steps on V

    /// Registers V's pre-fund, post-fund (if H signed it) or an endpoint state with any split and any version,
    /// with the certificate (the whole path's post-fund) or without.
    function vChallenge(uint256 kind, uint256 seed, bool withCert) external {
        State memory s;
        Signature[] memory sigs;
        Certificate memory cert;
        kind %= 6; // 0: pre-fund, 1: post-fund, else an endpoint state
        if (kind <= 1 && (kind == 0 || hubSignedPost)) {
            s = _v(uint48(kind), A0, false);
            sigs = _allSigs(s);
        } else {
            uint48 version = uint48(seed % 2 == 0 ? 2 + (seed >> 1) % 50 : 101 + (seed >> 1) % 100); // around the final's
            s = _v(version, _split(seed >> 8), false);
            sigs = signAll(s, pks(ALICE_PK, BOB_PK));
            if (withCert && hubSignedPost) {
                State memory post = _v(1, A0, false);
                cert = Certificate(post, _allSigs(post));
            }
        }
        try adj.challenge(v, s, sigs, cert) {
            vRegistered = abi.encode(s);
            if (s.version >= 2) hits["V endpoint state"]++;
        } catch {}
        _react();
    }

    /// An app move by A or B on top of V's registered state (the app accepts anything that keeps the totals).
    function vProgress(bool byB, uint256 a) external {
        if (vRegistered.length != 0) {
            State memory from = abi.decode(vRegistered, (State));
            State memory to = _v(from.version + 1, _split(a), false);
            try adj.progress(v, from, to, byB ? 2 : 0, signState(to, byB ? BOB_PK : ALICE_PK)) {
                vRegistered = abi.encode(to);
                hits["V move"]++;
            } catch {}
        }
        _react();
    }

    function vConclude() external {
        if (hubSignedFinal) {
            State memory f = _final();
            try adj.conclude(v, f, _allSigs(f)) {
                vRegistered = abi.encode(f);
            } catch {}
        }
        _react();
    }

    /// Claims V's leaf in a ledger: with the registered states (`mode` 0), the registered ledger state and any
    /// state of V (1), or any ledger state H signed and V's registered state (2).
    function claim(uint256 c, uint256 idx, uint256 seed, uint256 mode) external {
        _atkClaim(c % 2, idx, seed, mode);
        _react();
    }

    function _atkClaim(uint256 c, uint256 idx, uint256 seed, uint256 mode) internal {
        Chain storage ch = chains[c];
        mode %= 3;
        State memory ls = mode != 2 && ch.registered.length != 0
            ? abi.decode(ch.registered, (State))
            : _st(c, idx % _count(c));
        State memory vs = mode != 1 && vRegistered.length != 0
            ? abi.decode(vRegistered, (State))
            : _v(uint48(seed % 3 == 0 ? 1 : 2 + seed % 200), _split(seed >> 8), seed % 2 == 0);
        _claim(c, ls, leaves[c], vs);
    }

    /// H closes one ledger, or both (`c` >= 2).
    function honestCloses(uint256 c) external {
        c %= 3;
        if (c != 1) _honestCloses(0);
        if (c != 0) _honestCloses(1);
        _react();
    }

    /// Time passes; with `race`, A and B get their claims in before H reacts (a deadline passes for everyone).
    function warp(uint256 secs, bool race, uint256 seed) external {
        _warp(secs);
        if (race) {
            _atkClaim(0, seed, seed >> 8, seed >> 16);
            _atkClaim(1, seed >> 24, seed >> 32, seed >> 40);
        }
        _react();
    }
}

/// Invariants against the colluding endpoints: once the hub is done, it got at least its entitlement in both
/// ledgers together (each as in `Attacker.t.sol`, its leaf valued at what V's outcome pays it there: across the two
/// ledgers that is what it put in, plus the fee once V got past its pre-fund); claims of V's leaf pay it at least
/// what it locked in the two leaves; each leaf is claimed at most once; the adjudicator holds what it owes.
contract VirtualAttackerTest is Test {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    VirtualAttackerHandler internal handler;
    Adjudicator internal adj;
    TestToken internal token;

    function setUp() public {
        handler = new VirtualAttackerHandler();
        handler.boot();
        adj = handler.adjudicator();
        token = handler.tokenContract();
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory s) {
        bytes4[] memory sel = new bytes4[](24);
        sel[0] = VirtualAttackerHandler.ledgerStep.selector;
        sel[1] = VirtualAttackerHandler.ledgerStep.selector;
        sel[2] = VirtualAttackerHandler.vOpen.selector;
        sel[3] = VirtualAttackerHandler.vFund.selector;
        sel[4] = VirtualAttackerHandler.vClose.selector;
        sel[22] = VirtualAttackerHandler.vOpen.selector;
        sel[23] = VirtualAttackerHandler.vClose.selector;
        sel[5] = VirtualAttackerHandler.deposit.selector;
        sel[6] = VirtualAttackerHandler.challenge.selector;
        sel[7] = VirtualAttackerHandler.checkpoint.selector;
        sel[8] = VirtualAttackerHandler.conclude.selector;
        sel[9] = VirtualAttackerHandler.withdraw.selector;
        sel[10] = VirtualAttackerHandler.withdrawPartial.selector;
        sel[11] = VirtualAttackerHandler.withdrawUnlisted.selector;
        sel[12] = VirtualAttackerHandler.vChallenge.selector;
        sel[13] = VirtualAttackerHandler.vChallenge.selector;
        sel[14] = VirtualAttackerHandler.vProgress.selector;
        sel[15] = VirtualAttackerHandler.vConclude.selector;
        sel[16] = VirtualAttackerHandler.claim.selector;
        sel[17] = VirtualAttackerHandler.claim.selector;
        sel[18] = VirtualAttackerHandler.honestCloses.selector;
        sel[19] = VirtualAttackerHandler.warp.selector;
        sel[20] = VirtualAttackerHandler.warp.selector;
        sel[21] = VirtualAttackerHandler.challenge.selector;
        s = new FuzzSelector[](1);
        s[0] = FuzzSelector(address(handler), sel);
    }

    /// S5's hole through the handler: H holds V's final (A gets nothing) and removed the leaf from L2 by it; A
    /// refused the removal in L1; A and B register a newer endpoint state giving A everything. H's final concludes
    /// V over it, so L1's leaf pays by the final and H breaks even (on the code before S5 was closed, H lost 3.9
    /// ether here: its final could not conclude over the newer version).
    function test_virtualAttacker_s5ReplayFinalConcludesOverANewerEndpointState() public {
        handler.vOpen(0x010101); // both leaves in, countersigned back; the post-fund held
        handler.vClose(0, 0x010001); // the final (A: 0) held; L1's removal refused, L2's countersigned
        handler.vChallenge(2, 1 + (1 << 8), true); // version 129 > the final's 100, A gets all
        (uint48 version,,,,,) = adj.statusOf(handler.vid());
        assertEq(version, 100, "H's final concluded V");
        handler.warp(100_000, false, 0);
        handler.honestCloses(2);
        handler.warp(100_000, false, 0);
        handler.warp(100_000, false, 0);
        assertTrue(handler.ended(), "both ledgers settled, L1's leaf claimed");
        assertEq(handler.claims(0), 1, "L1's leaf claimed");
        assertLe(uint256(handler.entitlement()), uint256(handler.netGain()), "H got its entitlement");
    }

    function invariant_virtualAttacker_hubGetsItsEntitlement() public view {
        if (!handler.ended()) return;
        int256 net = handler.netGain();
        int256 ent = handler.entitlement();
        if (net < ent) revert(string.concat("hub short: net ", _i(net), " < entitlement ", _i(ent)));
    }

    function invariant_virtualAttacker_hubBreaksEvenOnTheLeaves() public view {
        if (handler.claims(0) == 1 && handler.claims(1) == 1) {
            assertLe(4 ether, handler.hubFromClaims(), "the hub got back at least what it locked in the two leaves");
        }
        assertLe(handler.claims(0), 1, "L1's leaf claimed twice");
        assertLe(handler.claims(1), 1, "L2's leaf claimed twice");
    }

    function invariant_virtualAttacker_adjudicatorHoldsWhatItOwes() public view {
        assertEq(address(adj).balance, handler.owed(address(0)), "ETH held == owed");
        assertLe(handler.owed(address(token)), token.balanceOf(address(adj)), "tokens held >= owed");
    }

    function invariant_virtualAttacker_hubWithdrawNeverFails() public view {
        assertTrue(!handler.honestWithdrawFailed(), "withdraw with the registered state failed");
    }

    function _i(int256 x) internal pure returns (string memory) {
        if (x < 0) return string.concat("-", _dec(uint256(-x)));
        return _dec(uint256(x));
    }

    function _dec(uint256 x) internal pure returns (string memory) {
        if (x == 0) return "0";
        bytes memory b;
        while (x != 0) {
            b = abi.encodePacked(bytes1(uint8(48 + (x % 10))), b);
            x /= 10;
        }
        return string(b);
    }
}
