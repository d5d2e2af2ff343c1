// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./utils/Test.sol";
import {AttackerBase} from "./utils/AttackerBase.sol";
import {AnyMoveApp} from "./utils/Hostile.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {TestToken} from "../src/tokens/TestTokens.sol";
import {ChannelParams, State, AssetOutcome, Signature, SubAlloc, LeafProof} from "../src/Types.sol";

/// The attacker X against two ledger channels, one where the honest party is participant 0 ([H0, X]) and one
/// where it is participant 1 ([X, H1]). X picks each channel's params (possibly naming an app and allowing moves:
/// H funds a ledger only if the contract's own `validateParams` accepts them), holds every signature H ever gave
/// (the states H signed over time, countersigned back or refused), signs anything itself, deposits for anyone (ETH
/// or a token, dust included, front-running H's own deposits), calls every entry point with any of those states in
/// any order, and moves time. H reacts after every step like Ferry's watcher (see `AttackerBase`).
contract LedgerAttackerHandler is AttackerBase {
    uint256 internal constant X_PK = 0xBAD;
    address public x;
    AnyMoveApp internal anyApp;
    uint256[2] internal hPks;
    /// H's ETH before anything: its net gain is its balance minus this.
    uint256[2] public honestInitial;

    /// H's own deposit, prepared in one step (`expected`: its own total then, S16) and landing in a later one;
    /// `target` is the own total H asks for.
    struct Pending {
        bool active;
        uint256 expected;
        uint256 amount;
        uint256 target;
        uint256 step;
    }

    mapping(uint256 => Pending) internal pending;
    uint256 internal steps;
    /// Set when H's deposit, once landed, left its own total below what it asked for (S16).
    bool public depositShort;

    function boot() external {
        setUp();
        clock = block.timestamp;
        anyApp = new AnyMoveApp();
        x = vm.addr(X_PK);
        hPks = [uint256(0x4051), 0x4052];
        vm.deal(x, 1_000_000 ether);
        token.mint(x, 1_000_000 ether);
        vm.prank(x);
        token.approve(address(adj), type(uint256).max);
        actors.push(x);
        for (uint256 c = 0; c < 2; c++) {
            address hc = vm.addr(hPks[c]);
            vm.deal(hc, 1_000 ether);
            honestInitial[c] = hc.balance;
            actors.push(hc);
            Chain storage ch = chains[c];
            ch.h = c;
            ch.hPk = hPks[c];
            ch.xPk = X_PK;
            ch.base = NONE;
            ch.seen = NONE;
            ch.registeredIdx = NONE;
        }
    }

    function adjudicator() external view returns (Adjudicator) {
        return adj;
    }

    function tokenContract() external view returns (TestToken) {
        return token;
    }

    function honest(uint256 c) public view returns (address) {
        return vm.addr(hPks[c]);
    }

    /// The channel ended for H: finalized and paid out.
    function ended(uint256 c) external view returns (bool) {
        return chains[c].open && chains[c].withdrawn && _isFinalized(chains[c].cid);
    }

    function netGain(uint256 c) external view returns (int256) {
        return int256(honest(c).balance) - int256(honestInitial[c]);
    }

    function entitlement(uint256 c) external view returns (int256) {
        return _entitlement(c);
    }

    // ------------------------------------------------------------ the honest party

    function _react() internal {
        for (uint256 c = 0; c < 2; c++) {
            Pending storage pd = pending[c];
            if (pd.active && steps >= pd.step) {
                pd.active = false;
                Chain storage ch = chains[c];
                address hc = honest(c);
                vm.prank(hc);
                try adj.deposit{value: pd.amount}(address(0), ch.cid, ch.h, pd.expected, pd.amount) {
                    (uint256 dep,) = _onchain(ch.cid, ch.h);
                    if (dep < pd.target) depositShort = true;
                } catch {}
            }
            _reactLedger(c);
        }
        steps++;
    }

    /// H reads its own deposit total now; the transaction lands one to three steps later.
    function _prepare(uint256 c, uint256 amount, uint256 delay) internal view returns (Pending memory) {
        (uint256 own,) = _onchain(chains[c].cid, c);
        return Pending(true, own, amount, own + amount, steps + 1 + delay % 3);
    }

    // ------------------------------------------------------------ steps

    /// X proposes params for channel `c` (an app and moves or none); H funds it only if they are valid.
    function open(uint256 c, uint256 seed) external {
        c %= 2;
        Chain storage ch = chains[c];
        if (!ch.open) {
            address[] memory ps = new address[](2);
            ps[c] = honest(c);
            ps[1 - c] = x;
            ChannelParams memory p = ledgerParams(ps[0], ps[1]);
            if (seed % 2 == 1) {
                p.app = address(anyApp);
                p.maxMoves = uint48(1 + (seed >> 4) % 2);
            }
            ch.params = p;
            ch.cid = id(p);
            ids.push(ch.cid);
            try harness.validateParams(p) {
                ch.open = true;
                uint256 dh = bound(seed >> 16, 1 ether, 10 ether);
                uint256 dx = bound(seed >> 80, 0, 10 ether);
                uint256[] memory bal = new uint256[](2);
                bal[c] = dh;
                bal[1 - c] = dx;
                _honestSigns(
                    c, _ledgerState(ch.cid, 0, bal, bal, new uint256[](2), 0, harness.emptyRoot(), false), 0, true
                );
                if ((seed >> 160) % 4 != 0) _atkDeposit(x, ch.cid, 1 - c, dx, 0, false);
                pending[c] = _prepare(c, dh, seed >> 240);
            } catch {}
        }
        _react();
    }

    /// H tops up its own deposit (lands in a later step).
    function honestTopUp(uint256 c, uint256 amount) external {
        c %= 2;
        Chain storage ch = chains[c];
        if (ch.open && !pending[c].active && !_isFinalized(ch.cid)) {
            pending[c] = _prepare(c, bound(amount, 1, 2 ether), amount >> 128);
        }
        _react();
    }

    /// The off-chain protocol runs one step: H signs the next state; X countersigns it back or not.
    function honestSigns(uint256 c, uint256 seed) external {
        c %= 2;
        Chain storage ch = chains[c];
        if (ch.open && !ch.signedFinal && !_isFinalized(ch.cid)) {
            State memory prev = _last(c);
            if (_funded(c, prev)) {
                _honestSigns(c, _nextLedgerState(c, prev, seed), 0, (seed >> 200) % 3 != 0);
            }
        }
        _react();
    }

    function deposit(uint256 c, uint256 who, uint256 amount, uint256 mode, bool useToken) external {
        c %= 2;
        if (chains[c].cid != bytes32(0)) _atkDeposit(x, chains[c].cid, who, amount, mode, useToken);
        _react();
    }

    function challenge(uint256 c, uint256 idx) external {
        c %= 2;
        if (chains[c].open) _atkChallenge(c, idx);
        _react();
    }

    function checkpoint(uint256 c, uint256 idx) external {
        c %= 2;
        if (chains[c].open) _atkCheckpoint(c, idx);
        _react();
    }

    function conclude(uint256 c, uint256 idx, bool andWithdraw) external {
        c %= 2;
        if (chains[c].open) _atkConclude(c, idx, andWithdraw);
        _react();
    }

    function withdraw(uint256 c, uint256 idx, bool registered) external {
        c %= 2;
        if (chains[c].open) _atkWithdraw(c, idx, registered);
        _react();
    }

    function withdrawPartial(uint256 c, uint256 idx, uint256 who) external {
        c %= 2;
        if (chains[c].open) _atkWithdrawPartial(c, idx, who);
        _react();
    }

    function withdrawUnlisted(uint256 c, uint256 idx, bool registered) external {
        c %= 2;
        if (chains[c].open) _atkWithdrawUnlisted(c, idx, registered);
        _react();
    }

    /// A move signed by X alone on top of the registered state (registering a state first if none is pending),
    /// giving X every balance: S13 makes it impossible for a ledger.
    function progress(uint256 c, uint256 idx) external {
        c %= 2;
        Chain storage ch = chains[c];
        if (ch.open && !_isFinalized(ch.cid)) {
            (, uint48 deadline) = _status(ch.cid);
            if (deadline == 0) _atkChallenge(c, idx);
            if (ch.registered.length != 0) {
                State memory from = abi.decode(ch.registered, (State));
                State memory to = abi.decode(ch.registered, (State));
                to.version = from.version + 1;
                AssetOutcome memory a = to.outcome.assets[0];
                uint256 xi = 1 - ch.h;
                a.balances[xi] += a.balances[ch.h] + a.locked;
                a.balances[ch.h] = 0;
                a.locked = 0;
                to.outcome.subRoot = harness.emptyRoot();
                try adj.progress(ch.params, from, to, xi, signState(to, X_PK)) {
                    _noteRegistered(c, to, NONE);
                } catch {}
            }
        }
        _react();
    }

    /// Claims and credit pulls X can try against a ledger (no sub-channels here: they must all fail harmlessly).
    function junk(uint256 c, uint256 idx) external {
        c %= 2;
        Chain storage ch = chains[c];
        if (ch.open) {
            State memory s = _st(c, idx % _count(c));
            bytes32[] memory hops = new bytes32[](1);
            hops[0] = ch.cid;
            address[] memory path = new address[](2);
            path[0] = x;
            path[1] = honest(c);
            ChannelParams memory vp = virtualParams(path, hops, address(0), 0);
            SubAlloc memory leaf = leafFor(id(vp), 1 ether);
            try adj.claim(ch.params, s, leaf, LeafProof(0, new bytes32[](0)), vp, s) {} catch {}
        }
        vm.prank(x);
        try adj.withdrawCredit(address(0)) {} catch {}
        _react();
    }

    function honestCloses(uint256 c) external {
        _honestCloses(c % 2);
        _react();
    }

    /// Time passes; with `race`, X gets its withdrawals in before H reacts (a deadline passes for everyone).
    function warp(uint256 secs, bool race) external {
        _warp(secs);
        if (race) {
            for (uint256 c = 0; c < 2; c++) {
                if (!chains[c].open) continue;
                _atkWithdraw(c, 0, true);
                _atkWithdrawUnlisted(c, 0, true);
            }
        }
        _react();
    }

    function isOpen(uint256 c) external view returns (bool) {
        return chains[c].open;
    }
}

/// Invariants against the attacker: once a channel ended, H got at least its entitlement; the adjudicator always
/// holds everything it still owes (deposits - payouts over every channel, plus credits); H's own deposits are never
/// shortened by anyone else's (S16). Catches S13 and S16 when they are put back (see README).
contract AttackerTest is Test {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    LedgerAttackerHandler internal handler;
    Adjudicator internal adj;
    TestToken internal token;

    function setUp() public {
        handler = new LedgerAttackerHandler();
        handler.boot();
        adj = handler.adjudicator();
        token = handler.tokenContract();
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory s) {
        bytes4[] memory sel = new bytes4[](19);
        sel[0] = LedgerAttackerHandler.open.selector;
        sel[1] = LedgerAttackerHandler.honestTopUp.selector;
        sel[2] = LedgerAttackerHandler.honestSigns.selector;
        sel[3] = LedgerAttackerHandler.honestSigns.selector; // weighted: states to play with
        sel[4] = LedgerAttackerHandler.deposit.selector;
        sel[5] = LedgerAttackerHandler.challenge.selector;
        sel[6] = LedgerAttackerHandler.checkpoint.selector;
        sel[7] = LedgerAttackerHandler.conclude.selector;
        sel[8] = LedgerAttackerHandler.withdraw.selector;
        sel[9] = LedgerAttackerHandler.withdrawPartial.selector;
        sel[10] = LedgerAttackerHandler.withdrawUnlisted.selector;
        sel[11] = LedgerAttackerHandler.progress.selector;
        sel[12] = LedgerAttackerHandler.junk.selector;
        sel[13] = LedgerAttackerHandler.honestCloses.selector;
        sel[14] = LedgerAttackerHandler.warp.selector;
        sel[15] = LedgerAttackerHandler.warp.selector;
        sel[16] = LedgerAttackerHandler.open.selector;
        sel[17] = LedgerAttackerHandler.challenge.selector;
        sel[18] = LedgerAttackerHandler.deposit.selector;
        s = new FuzzSelector[](1);
        s[0] = FuzzSelector(address(handler), sel);
    }

    // ------------------------------------------------------------ replays of the holes the suite finds

    /// S13's attack through the handler: X proposes a ledger naming an always-true app with moves, then plays a
    /// one-sided move and lets the deadline pass. H refuses to fund such params, so nothing is at stake.
    function test_attacker_s13ReplayHonestRefusesALedgerWithAnApp() public {
        handler.open(0, 1); // odd seed: an app and one move
        assertTrue(!handler.isOpen(0), "params naming an app are invalid: H does not fund them");
        handler.progress(0, 0);
        handler.warp(100_000, true);
        assertEq(uint256(handler.netGain(0)), 0, "H lost nothing");
        handler.open(0, 0); // valid params: opened
        assertTrue(handler.isOpen(0), "a ledger without an app is funded");
    }

    /// S16's griefing through the handler: X puts 1 wei in for itself between H reading its own deposits and H's
    /// deposit landing; H's deposit is still whole.
    function test_attacker_s16ReplayDustBeforeTheHonestDepositLands() public {
        handler.open(0, 0); // H's deposit lands one step later; X deposits nothing yet
        handler.deposit(0, 1, 3, 0, false); // 1 wei for X, then H's deposit lands
        assertTrue(!handler.depositShort(), "H's deposit is whole");
        (uint256 d0, uint256 d1,,,) = adj.holdings(handler.ids(0), address(0));
        assertEq(d0, 1 ether, "H's own total: what it asked for");
        assertEq(d1, 1, "X's dust");
    }

    function invariant_attacker_honestGetsItsEntitlement() public view {
        for (uint256 c = 0; c < 2; c++) {
            if (!handler.ended(c)) continue;
            int256 net = handler.netGain(c);
            int256 ent = handler.entitlement(c);
            if (net < ent) {
                revert(
                    string.concat(
                        "honest party short: channel ", _i(int256(c)), " net ", _i(net), " < entitlement ", _i(ent)
                    )
                );
            }
        }
    }

    function invariant_attacker_adjudicatorHoldsWhatItOwes() public view {
        assertEq(address(adj).balance, handler.owed(address(0)), "ETH held == owed");
        assertLe(handler.owed(address(token)), token.balanceOf(address(adj)), "tokens held >= owed");
    }

    function invariant_attacker_noDepositShortenedByAnother() public view {
        assertTrue(!handler.depositShort(), "S16: an honest deposit fell short of what it asked for");
    }

    function invariant_attacker_honestWithdrawNeverFails() public view {
        assertTrue(!handler.honestWithdrawFailed(), "withdraw with the registered state failed");
    }

    function _i(int256 v) internal pure returns (string memory) {
        if (v < 0) return string.concat("-", _dec(uint256(-v)));
        return _dec(uint256(v));
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
