// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./FerryBase.sol";
import {ChannelParams, State, Outcome, AssetOutcome, Signature, Certificate} from "../../src/Types.sol";

/// The generative attacker's bookkeeping for ledger channels between an honest party H and an attacker X (the
/// handlers of `Attacker.t.sol` and `VirtualAttacker.t.sol`). Per ledger ("chain") it keeps every state H ever
/// signed, in order (versions increasing; each built on the previous one H signed, countersigned by X or not), with
/// what H has locked in sub-channels in each. X holds all of them: it can countersign any of them at any time. H
/// reacts like Ferry's watcher (`_reactLedger`): it answers a registration older than the latest state it holds
/// fully signed, closes with a final both signed, takes its own partial withdrawals, and withdraws once finalized.
///
/// H's value in a state is `balance + withdrawn - deposited` (plus what it locked in a leaf, which the virtual suite
/// checks comes back): with S12's payout it is exactly H's net gain from the channel if that state is paid out.
/// H's entitlement is the lower of its value in the latest state it holds fully signed and in any newer state it
/// signed; once the channel ended, H's net gain must be at least that.
abstract contract AttackerBase is FerryBase {
    uint256 internal constant NONE = type(uint256).max;

    struct Chain {
        ChannelParams params;
        bytes32 cid;
        /// H's participant index.
        uint256 h;
        uint256 hPk;
        uint256 xPk;
        bool open;
        /// H signed a final (it signs nothing after).
        bool signedFinal;
        /// The latest state H holds fully signed (index into `signedStates`), NONE before the first.
        uint256 base;
        /// The newest H-signed state X revealed on-chain (so H holds it fully signed now); NONE if none.
        uint256 seen;
        /// The state registered on-chain (empty: none, or cleared by a checkpoint) and its index (NONE: not H's).
        bytes registered;
        uint256 registeredIdx;
        /// H withdrew after finalization (or closed with concludeAndWithdraw).
        bool withdrawn;
    }

    mapping(uint256 => Chain) internal chains;
    /// Per chain, every state H signed (abi-encoded), oldest first.
    mapping(uint256 => bytes[]) internal signedStates;
    /// Per chain and signed state, what H has locked in sub-channels in it: an amount counted as coming back, or
    /// (virtual suite) a marker `_lockedValue` turns into what comes back.
    mapping(uint256 => uint256[]) internal lockedByH;
    /// Every channel id funds may sit in, for the solvency invariant.
    bytes32[] public ids;
    /// Every address a payout may be credited to.
    address[] public actors;
    /// The handler's clock (forge's `block.timestamp` may be read once per transaction by the optimizer).
    uint256 public clock;
    /// Set when the honest party's withdraw with the registered state reverted: a bookkeeping bug of the handler.
    bool public honestWithdrawFailed;
    /// Coverage counters (how often each interesting thing happened), for tuning the handlers by hand.
    mapping(string => uint256) public hits;

    // ------------------------------------------------------------ views for the invariants

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    // ------------------------------------------------------------ states

    function _st(uint256 c, uint256 i) internal view returns (State memory) {
        return abi.decode(signedStates[c][i], (State));
    }

    function _count(uint256 c) internal view returns (uint256) {
        return signedStates[c].length;
    }

    function _last(uint256 c) internal view returns (State memory) {
        return _st(c, _count(c) - 1);
    }

    /// A one-asset (ETH) ledger state.
    function _ledgerState(
        bytes32 cid,
        uint48 version,
        uint256[] memory bal,
        uint256[] memory dep,
        uint256[] memory wd,
        uint256 locked,
        bytes32 subRoot,
        bool fin
    ) internal pure returns (State memory s) {
        AssetOutcome[] memory assets = new AssetOutcome[](1);
        assets[0] = AssetOutcome(address(0), bal, dep, wd, locked);
        s = State(cid, version, Outcome(assets, subRoot), "", fin);
    }

    /// Both participants' signatures (X signs whatever it likes).
    function _sigs(uint256 c, State memory s) internal view returns (Signature[] memory sigs) {
        Chain storage ch = chains[c];
        sigs = new Signature[](2);
        sigs[ch.h] = signState(s, ch.hPk);
        sigs[1 - ch.h] = signState(s, ch.xPk);
    }

    /// H signs `s` (and holds it fully signed if X countersigned it back).
    function _honestSigns(uint256 c, State memory s, uint256 locked, bool countersigned) internal {
        signedStates[c].push(abi.encode(s));
        lockedByH[c].push(locked);
        if (countersigned) chains[c].base = _count(c) - 1;
        if (s.isFinal) chains[c].signedFinal = true;
    }

    function _status(bytes32 cid) internal view returns (uint48 version, uint48 finalizesAt) {
        (version, finalizesAt,,,,) = adj.statusOf(cid);
    }

    function _isFinalized(bytes32 cid) internal view returns (bool) {
        (, uint48 deadline) = _status(cid);
        return deadline != 0 && clock >= deadline;
    }

    function _onchain(bytes32 cid, uint256 p) internal view returns (uint256 dep, uint256 wd) {
        (uint256 d0, uint256 d1, uint256 w0, uint256 w1,) = adj.holdings(cid, address(0));
        return p == 0 ? (d0, w0) : (d1, w1);
    }

    /// H can sign on top of `prev` only once the chain holds every deposit `prev` counts.
    function _funded(uint256 c, State memory prev) internal view returns (bool) {
        for (uint256 p = 0; p < 2; p++) {
            (uint256 dep,) = _onchain(chains[c].cid, p);
            if (dep < prev.outcome.assets[0].deposited[p]) return false;
        }
        return true;
    }

    // ------------------------------------------------------------ value and entitlement

    function _value(uint256 c, uint256 i) internal view returns (int256) {
        AssetOutcome memory a = _st(c, i).outcome.assets[0];
        uint256 h = chains[c].h;
        return int256(a.balances[h] + a.withdrawn[h] + _lockedValue(c, i)) - int256(a.deposited[h]);
    }

    /// What H gets back of what it locked in sub-channels in state `i` of chain `c`.
    function _lockedValue(uint256 c, uint256 i) internal view virtual returns (uint256) {
        return lockedByH[c][i];
    }

    /// The lower of H's value in the latest state it holds fully signed and in every newer state it signed.
    function _entitlement(uint256 c) internal view returns (int256 e) {
        uint256 b = chains[c].base;
        e = _value(c, b);
        for (uint256 i = b + 1; i < _count(c); i++) {
            int256 v = _value(c, i);
            if (v < e) e = v;
        }
    }

    // ------------------------------------------------------------ random ledger operations

    /// `prev` with one random operation applied at the next version: a payment either way, a partial withdrawal
    /// by either side, counting the chain's deposits (a top-up), or a final.
    function _nextLedgerState(uint256 c, State memory prev, uint256 seed) internal view returns (State memory s) {
        s = prev;
        s.version = prev.version + 1;
        AssetOutcome memory a = s.outcome.assets[0];
        uint256 p = (seed >> 8) % 2;
        uint256 op = seed % 10; // a final one time in ten
        if (op <= 1 || op >= 8) {
            uint256 amount = bound(seed >> 16, 0, a.balances[p]);
            a.balances[p] -= amount;
            a.balances[1 - p] += amount;
        } else if (op == 2 || op == 6) {
            uint256 amount = bound(seed >> 16, 0, a.balances[p]);
            a.balances[p] -= amount;
            a.withdrawn[p] += amount;
        } else if (op == 3 || op == 7) {
            for (uint256 q = 0; q < 2; q++) {
                (uint256 dep,) = _onchain(chains[c].cid, q);
                if (dep > a.deposited[q]) {
                    a.balances[q] += dep - a.deposited[q];
                    a.deposited[q] = dep;
                }
            }
        } else if (op == 4) {
            s.isFinal = true;
        } else {
            // Both: one side pays and withdraws in one step.
            uint256 amount = bound(seed >> 16, 0, a.balances[p] / 2);
            a.balances[p] -= 2 * amount;
            a.balances[1 - p] += amount;
            a.withdrawn[p] += amount;
        }
    }

    // ------------------------------------------------------------ the attacker's moves on a chain

    function _noteRegistered(uint256 c, State memory s, uint256 idx) internal {
        chains[c].registered = abi.encode(s);
        chains[c].registeredIdx = idx;
        if (idx != NONE && (chains[c].seen == NONE || idx > chains[c].seen)) chains[c].seen = idx;
    }

    function _atkChallenge(uint256 c, uint256 idx) internal {
        Chain storage ch = chains[c];
        idx %= _count(c);
        State memory s = _st(c, idx);
        try adj.challenge(ch.params, s, _sigs(c, s), noCert()) {
            _noteRegistered(c, s, idx);
            hits["attacker challenge"]++;
        } catch {}
    }

    function _atkCheckpoint(uint256 c, uint256 idx) internal {
        Chain storage ch = chains[c];
        idx %= _count(c);
        State memory s = _st(c, idx);
        try adj.checkpoint(ch.params, s, _sigs(c, s)) {
            delete ch.registered;
            ch.registeredIdx = NONE;
            hits["attacker checkpoint"]++;
            if (ch.seen == NONE || idx > ch.seen) ch.seen = idx;
        } catch {}
    }

    function _atkConclude(uint256 c, uint256 idx, bool andWithdraw) internal {
        Chain storage ch = chains[c];
        idx %= _count(c);
        State memory s = _st(c, idx);
        Signature[] memory sigs = _sigs(c, s);
        if (andWithdraw) {
            try adj.concludeAndWithdraw(ch.params, s, sigs) {
                _noteRegistered(c, s, idx);
                hits["attacker conclude"]++;
            } catch {}
        } else {
            try adj.conclude(ch.params, s, sigs) {
                _noteRegistered(c, s, idx);
                hits["attacker conclude"]++;
            } catch {}
        }
    }

    /// withdraw with any state H signed, or with the registered one.
    function _atkWithdraw(uint256 c, uint256 idx, bool registered) internal {
        Chain storage ch = chains[c];
        State memory s = registered && ch.registered.length != 0
            ? abi.decode(ch.registered, (State))
            : _st(c, idx % _count(c));
        try adj.withdraw(ch.params, s) {} catch {}
    }

    function _atkWithdrawPartial(uint256 c, uint256 idx, uint256 who) internal {
        Chain storage ch = chains[c];
        State memory s = _st(c, idx % _count(c));
        try adj.withdrawPartial(ch.params, s, _sigs(c, s), who % 2) {
            hits["attacker withdrawPartial"]++;
        } catch {}
    }

    function _atkWithdrawUnlisted(uint256 c, uint256 idx, bool registered) internal {
        Chain storage ch = chains[c];
        State memory s = registered && ch.registered.length != 0
            ? abi.decode(ch.registered, (State))
            : _st(c, idx % _count(c));
        try adj.withdrawUnlisted(ch.params, s, address(token)) {} catch {}
    }

    /// A deposit by `from` for either participant, in ETH or the token, expecting the participant's own total
    /// (`mode` 0), a stale lower figure (1), or both participants' together (2).
    function _atkDeposit(address from, bytes32 cid, uint256 who, uint256 amount, uint256 mode, bool useToken)
        internal
    {
        who %= 2;
        amount = amount % 3 == 0 ? 1 : bound(amount, 0, 3 ether); // dust often
        (uint256 d0, uint256 d1,,,) = adj.holdings(cid, useToken ? address(token) : address(0));
        uint256 own = who == 0 ? d0 : d1;
        uint256 expected = mode % 3 == 0 ? own : mode % 3 == 1 ? own / 2 : d0 + d1;
        vm.prank(from);
        if (useToken) {
            try adj.deposit(address(token), cid, who, expected, amount) {} catch {}
        } else {
            try adj.deposit{value: amount}(address(0), cid, who, expected, amount) {} catch {}
        }
    }

    // ------------------------------------------------------------ the honest party

    /// H's reaction to what is on-chain, run after every step: Ferry's watcher.
    function _reactLedger(uint256 c) internal {
        Chain storage ch = chains[c];
        if (!ch.open) return;
        (uint48 ver, uint48 deadline) = _status(ch.cid);
        if (deadline != 0 && clock >= deadline) {
            if (!ch.withdrawn) {
                ch.withdrawn = true;
                if (ch.registered.length == 0) {
                    honestWithdrawFailed = true;
                    return;
                }
                State memory r = abi.decode(ch.registered, (State));
                try adj.withdraw(ch.params, r) {
                    hits["ended"]++;
                } catch {
                    honestWithdrawFailed = true;
                }
                try adj.withdrawUnlisted(ch.params, r, address(token)) {} catch {} // a stranger's token top-up
            }
            return;
        }
        // A newer state of its own shown on-chain is fully signed now: H adopts it.
        if (ch.seen != NONE && (ch.base == NONE || ch.seen > ch.base)) ch.base = ch.seen;
        if (ch.base == NONE) return;
        State memory b = _st(c, ch.base);
        Signature[] memory sigs = _sigs(c, b);
        if (b.isFinal) {
            // Both signed a final: close at once.
            try adj.concludeAndWithdraw(ch.params, b, sigs) {
                _noteRegistered(c, b, ch.base);
                ch.withdrawn = true;
                hits["ended"]++;
                hits["honest concludeAndWithdraw"]++;
            } catch {}
            return;
        }
        if (deadline != 0 && ver < b.version) {
            // A stale registration: answer with the latest state both signed, before the deadline.
            try adj.challenge(ch.params, b, sigs, noCert()) {
                _noteRegistered(c, b, ch.base);
                hits["honest answer"]++;
            } catch {}
        }
        (, uint256 wd) = _onchain(ch.cid, ch.h);
        if (b.outcome.assets[0].withdrawn[ch.h] > wd) {
            try adj.withdrawPartial(ch.params, b, sigs, ch.h) {
                hits["honest withdrawPartial"]++;
            } catch {}
        }
    }

    /// H closes on its own: at once with a final both signed, else by a challenge with its latest such state.
    function _honestCloses(uint256 c) internal {
        Chain storage ch = chains[c];
        if (!ch.open || ch.base == NONE || _isFinalized(ch.cid)) return;
        State memory b = _st(c, ch.base);
        if (b.isFinal) return; // the reaction concludes it
        (, uint48 deadline) = _status(ch.cid);
        if (deadline != 0) return;
        try adj.challenge(ch.params, b, _sigs(c, b), noCert()) {
            _noteRegistered(c, b, ch.base);
        } catch {}
    }

    function _warp(uint256 secs) internal {
        clock += bound(secs, 1, 2 days);
        vm.warp(clock);
    }

    // ------------------------------------------------------------ solvency

    /// What the adjudicator still owes of `asset` over every channel it knows here: deposits - withdrawals -
    /// claims, plus credits.
    function owed(address asset) external view returns (uint256 total) {
        for (uint256 i = 0; i < ids.length; i++) {
            (uint256 d0, uint256 d1, uint256 w0, uint256 w1, uint256 claimed) = adj.holdings(ids[i], asset);
            total += d0 + d1 - w0 - w1 - claimed;
        }
        for (uint256 i = 0; i < actors.length; i++) {
            total += adj.credit(asset, actors[i]);
        }
    }
}
