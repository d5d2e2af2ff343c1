// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./utils/FerryBase.sol";
import {Gas} from "./utils/Test.sol";
import {IAdjudicator} from "../src/Types.sol";
import {TestToken} from "../src/tokens/TestTokens.sol";
import {
    ChannelParams,
    State,
    AssetOutcome,
    Signature,
    SubAlloc,
    AssetAmount,
    LeafProof,
    Certificate,
    PaymentData,
    Voucher
} from "../src/Types.sol";

/// Transaction gas of every entry point in the steady state the Rust gas report measures (accounts exist, the
/// adjudicator already holds the token), as a real transaction pays it: 21,000 + calldata (EIP-7623 floor
/// included) + execution on cold storage - refunds (capped at a fifth). Run with `forge test --mc GasTest -vv` to
/// print the figures. Labels give Nitro's figure measured in the same steady state (`nitro_steady_state`: accounts
/// exist, both participants paid). The bounds catch regressions: Nitro's figure where Ferry is below it, else
/// today's figure (deposits: S1's status read and the larger `Deposited` event cost ~3k more than Nitro's deposit;
/// the cooperative close and the payouts after a dispute are above Nitro's today, see SPEC.md "Gas").
/// The authoritative figures are the Rust gas report's receipts (`ferry-simulations --bin gas-report`).
contract GasTest is FerryBase {
    address internal sender = address(0x5E11D3);
    address internal sender2 = address(0x5E11D4);

    function setUp() public override {
        super.setUp();
        vm.deal(sender, 1_000 ether);
        vm.deal(sender2, 1_000 ether);
    }

    /// Params with a random 256-bit nonce and a one-hour challenge, as the Rust side builds them.
    function params(uint8 kind, address[] memory ps, bytes32[] memory hops, string memory salt)
        internal
        view
        returns (ChannelParams memory)
    {
        return ChannelParams(
            kind, block.chainid, address(adj), ps, uint256(keccak256(bytes(salt))), address(0), 3600, 0, 0, hops
        );
    }

    /// Sends `data` to the adjudicator from `from` as one transaction on cold storage and returns its gas.
    function txGas(address from, uint256 value, bytes memory data, address[] memory touched)
        internal
        returns (uint256 gas)
    {
        vm.cool(address(adj));
        uint256 warmed;
        for (uint256 i = 0; i < touched.length; i++) {
            vm.cool(touched[i]); // cold storage
            warmed += touched[i].code.length; // and a warm account, for sure (added back below)
        }
        vm.prank(from);
        (bool ok, bytes memory ret) = address(adj).call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        Gas memory g = vm.lastCallGas();
        uint256 zeros;
        for (uint256 i = 0; i < data.length; i++) {
            if (data[i] == 0) zeros++;
        }
        uint256 nonzeros = data.length - zeros;
        emit log_named_uint("  calldata gas", 4 * zeros + 16 * nonzeros);
        emit log_named_uint("  execution gas", g.gasTotalUsed);
        // `vm.cool` makes storage cold again but leaves an account warm once this test touched it, so every touched
        // account was made warm above: a transaction pays 2,600 instead of 100 for its first access to each.
        uint256 coldAccounts = 2_500 * touched.length;
        uint256 standard = 21_000 + 4 * zeros + 16 * nonzeros + g.gasTotalUsed + coldAccounts;
        uint256 refund = g.gasRefunded > 0 ? uint256(int256(g.gasRefunded)) : 0;
        if (refund > standard / 5) refund = standard / 5;
        gas = standard - refund;
        uint256 floor = 21_000 + 10 * (zeros + 4 * nonzeros);
        if (gas < floor) gas = floor;
    }

    function none() internal pure returns (address[] memory) {
        return new address[](0);
    }

    function report(string memory what, uint256 gas, uint256 bound) internal {
        emit log_named_uint(what, gas);
        assertLe(gas, bound, what);
    }

    function depositGas(address from, address asset, bytes32 cid, uint256 who, uint256 expected, uint256 amount)
        internal
        returns (uint256)
    {
        bytes memory data = abi.encodeCall(IAdjudicator.deposit, (asset, cid, who, expected, amount));
        address[] memory touched = new address[](1);
        touched[0] = asset;
        return txGas(from, asset == address(0) ? amount : 0, data, asset == address(0) ? none() : touched);
    }

    function signed(State memory s, uint256 k0, uint256 k1) internal view returns (Signature[] memory) {
        return signAll(s, pks(k0, k1));
    }

    function payees(address a, address b) internal pure returns (address[] memory) {
        return addrs(a, b);
    }

    // ------------------------------------------------------------ ledger channels

    function test_gas_ledgerEth() public {
        ChannelParams memory p = params(0, addrs(alice, hub), new bytes32[](0), "eth");
        bytes32 cid = id(p);
        report("ETH deposit, first (Nitro steady state 46,496)", depositGas(sender, address(0), cid, 0, 0, 3 ether), 50_500);
        report("ETH deposit, second (Nitro steady state 29,408)", depositGas(sender2, address(0), cid, 1, 0, 5 ether), 33_500);
        State memory fin = ledgerStateFull(
            cid, 12, address(0), u2(2 ether, 6 ether), u2(3 ether, 5 ether), u2(0, 0), 0, harness.emptyRoot(), true
        );
        bytes memory data =
            abi.encodeCall(IAdjudicator.concludeAndWithdraw, (p, fin, signed(fin, ALICE_PK, HUB_PK)));
        report("concludeAndWithdraw ETH (Nitro steady state 94,341)", txGas(sender, 0, data, payees(alice, hub)), 103_000);
    }

    function test_gas_ledgerToken() public {
        TestToken t = new TestToken();
        t.mint(sender, 100 ether);
        t.mint(sender2, 100 ether);
        vm.prank(sender);
        t.approve(address(adj), 100 ether);
        vm.prank(sender2);
        t.approve(address(adj), 100 ether);
        t.mint(address(adj), 1);
        t.mint(alice, 1);
        t.mint(hub, 1);
        ChannelParams memory p = params(0, addrs(alice, hub), new bytes32[](0), "token");
        bytes32 cid = id(p);
        report("ERC-20 deposit, first (Nitro steady state 69,866)", depositGas(sender, address(t), cid, 0, 0, 10 ether), 73_000);
        report(
            "ERC-20 deposit, second (Nitro steady state 52,778)", depositGas(sender2, address(t), cid, 1, 0, 20 ether), 56_000
        );
        State memory fin = ledgerStateFull(
            cid, 3, address(t), u2(10 ether, 20 ether), u2(10 ether, 20 ether), u2(0, 0), 0, harness.emptyRoot(), true
        );
        bytes memory data =
            abi.encodeCall(IAdjudicator.concludeAndWithdraw, (p, fin, signed(fin, ALICE_PK, HUB_PK)));
        address[] memory touched = new address[](1); // token payouts touch the token, not the recipients' accounts
        touched[0] = address(t);
        report("concludeAndWithdraw ERC-20 (Nitro steady state 98,482)", txGas(sender, 0, data, touched), 109_000);
    }

    function test_gas_directDispute() public {
        ChannelParams memory p = params(0, addrs(alice, hub), new bytes32[](0), "dispute");
        bytes32 cid = id(p);
        fundEth(cid, 2 ether, 2 ether, alice, hub);
        State memory s = ledgerState(cid, 20, address(0), 2 ether, 2 ether, false);
        Certificate memory c;
        bytes memory data = abi.encodeCall(IAdjudicator.challenge, (p, s, signed(s, ALICE_PK, HUB_PK), c));
        report("challenge, ledger (Nitro steady state 113,158)", txGas(sender, 0, data, none()), 113_158);
        vm.warp(block.timestamp + 3601);
        data = abi.encodeCall(IAdjudicator.withdraw, (p, s));
        report("withdraw after challenge (Nitro steady state 63,726)", txGas(sender, 0, data, payees(alice, hub)), 68_000);
    }

    function test_gas_checkpoint() public {
        ChannelParams memory p = params(0, addrs(alice, hub), new bytes32[](0), "checkpoint");
        bytes32 cid = id(p);
        fundEth(cid, 1 ether, 1 ether, alice, hub);
        State memory s4 = ledgerState(cid, 4, address(0), 1 ether, 1 ether, false);
        bytes memory data = abi.encodeCall(IAdjudicator.checkpoint, (p, s4, signed(s4, ALICE_PK, HUB_PK)));
        report("checkpoint, none pending (Nitro steady state 90,999)", txGas(sender, 0, data, none()), 90_999);
        State memory s6 = ledgerState(cid, 6, address(0), 1 ether, 1 ether, false);
        adj.challenge(p, s6, signed(s6, ALICE_PK, HUB_PK), noCert());
        State memory s9 = ledgerState(cid, 9, address(0), 1 ether, 1 ether, false);
        data = abi.encodeCall(IAdjudicator.checkpoint, (p, s9, signed(s9, ALICE_PK, HUB_PK)));
        report("checkpoint answering a challenge (Nitro steady state 73,936)", txGas(sender, 0, data, none()), 73_936);
    }

    function test_gas_withdrawPartial() public {
        ChannelParams memory p = params(0, addrs(alice, hub), new bytes32[](0), "partial");
        bytes32 cid = id(p);
        fundEth(cid, 4 ether, 4 ether, alice, hub);
        State memory s = ledgerStateFull(
            cid, 3, address(0), u2(1 ether, 4 ether), u2(4 ether, 4 ether), u2(3 ether, 0), 0, harness.emptyRoot(), false
        );
        bytes memory data = abi.encodeCall(IAdjudicator.withdrawPartial, (p, s, signed(s, ALICE_PK, HUB_PK), 0));
        report("withdrawPartial ETH", txGas(sender, 0, data, payees(alice, hub)), 91_000);
    }

    // ------------------------------------------------------------ virtual channels

    function vState(bytes32 vid, uint256 n, uint48 version, uint256 a, uint256 b, uint256 paid, bool fin)
        internal
        view
        returns (State memory s)
    {
        s = virtualState(vid, version, n, a - paid, b + paid, "", fin);
        uint256[] memory dep = new uint256[](n);
        dep[0] = a;
        dep[n - 1] = b;
        s.outcome.assets[0].deposited = dep;
    }

    /// A ledger state locking `leaf` (alone in the table unless `others` leaves precede it).
    function ledgerWithLeaf(bytes32 cid, uint48 version, bytes32 subRoot, bool fin) internal pure returns (State memory) {
        return ledgerStateFull(
            cid, version, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), 4 ether, subRoot, fin
        );
    }

    function test_gas_virtualFundedDispute() public {
        ChannelParams memory l1 = params(0, addrs(alice, hub), new bytes32[](0), "l1");
        ChannelParams memory l2 = params(0, addrs(hub, bob), new bytes32[](0), "l2");
        fundEth(id(l1), 5 ether, 5 ether, alice, hub);
        fundEth(id(l2), 5 ether, 5 ether, hub, bob);
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        ChannelParams memory v = params(1, addrs(alice, hub, bob), hops, "v");
        bytes32 vid = id(v);
        SubAlloc memory leaf = leafFor(vid, 4 ether);
        (bytes32 root, LeafProof memory proof) = singleLeafTree(leaf);
        State memory s1 = ledgerWithLeaf(id(l1), 9, root, false);
        Certificate memory c;
        bytes memory data = abi.encodeCall(IAdjudicator.challenge, (l1, s1, signed(s1, ALICE_PK, HUB_PK), c));
        report("challenge ledger with a leaf (Nitro 122,389)", txGas(sender, 0, data, none()), 122_389);
        State memory sv = vState(vid, 3, 40, 3 ether, 1 ether, 2 ether, false);
        State memory post = vState(vid, 3, 1, 3 ether, 1 ether, 0, false);
        c = Certificate(post, signAll(post, pks(ALICE_PK, HUB_PK, BOB_PK)));
        data = abi.encodeCall(IAdjudicator.challenge, (v, sv, signed(sv, ALICE_PK, BOB_PK), c));
        report("challenge V, endpoints + certificate (Nitro 172,692)", txGas(sender, 0, data, none()), 172_692);
        State memory sv2 = vState(vid, 3, 41, 3 ether, 1 ether, 2.5 ether, false);
        Certificate memory noC;
        data = abi.encodeCall(IAdjudicator.challenge, (v, sv2, signed(sv2, ALICE_PK, BOB_PK), noC));
        report("challenge V again, certified on-chain", txGas(sender, 0, data, none()), 81_500);
        vm.warp(block.timestamp + 3601);
        data = abi.encodeCall(IAdjudicator.withdraw, (l1, s1));
        report("withdraw ledger with a locked leaf (Nitro steady state 63,726)", txGas(sender, 0, data, payees(alice, hub)), 90_500);
        data = abi.encodeCall(IAdjudicator.claim, (l1, s1, leaf, proof, v, sv2));
        report("claim V's leaf, 1 leaf (Nitro reclaim 61,713)", txGas(sender, 0, data, payees(alice, hub)), 143_500);
    }

    /// The payee's redeeming move: B registers A's voucher on top of V's registered state (PaymentApp, S7).
    function test_gas_progress() public {
        ChannelParams memory l1 = params(0, addrs(alice, hub), new bytes32[](0), "pl1");
        ChannelParams memory l2 = params(0, addrs(hub, bob), new bytes32[](0), "pl2");
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        ChannelParams memory v = params(1, addrs(alice, hub, bob), hops, "pv");
        v.app = address(payApp);
        v.maxMoves = 1;
        bytes32 vid = id(v);
        State memory post = vState(vid, 3, 1, 3 ether, 1 ether, 0, false);
        post.appData = payData(0, new Signature[](0));
        Certificate memory c = Certificate(post, signAll(post, pks(ALICE_PK, HUB_PK, BOB_PK)));
        State memory from = vState(vid, 3, 10, 3 ether, 1 ether, 1 ether, false);
        from.appData = payData(1 ether, new Signature[](0));
        adj.challenge(v, from, signed(from, ALICE_PK, BOB_PK), c);
        State memory to = vState(vid, 3, 11, 3 ether, 1 ether, 2 ether, false);
        Signature[] memory vs = new Signature[](1);
        (uint8 vv, bytes32 r, bytes32 ss) = vm.sign(
            ALICE_PK, harness.voucherDigest(Voucher(vid, alice, address(0), 2 ether), block.chainid, address(adj))
        );
        vs[0] = Signature(vv, r, ss);
        to.appData = payData(2 ether, vs);
        address[] memory touched = new address[](1);
        touched[0] = address(payApp);
        bytes memory data = abi.encodeCall(IAdjudicator.progress, (v, from, to, 2, signState(to, BOB_PK)));
        report("progress, payee redeems a voucher", txGas(sender, 0, data, touched), 110_500);
    }

    function payData(uint256 paidByFirst, Signature[] memory vs) internal pure returns (bytes memory) {
        uint256[] memory f = new uint256[](1);
        f[0] = paidByFirst;
        return abi.encode(PaymentData(f, new uint256[](1), vs));
    }

    /// Claims against a table of 2^depth leaves (V in the last slot; siblings are arbitrary non-empty hashes).
    function claimAgainstTable(uint256 depth) internal returns (uint256) {
        ChannelParams memory l = params(0, addrs(alice, hub), new bytes32[](0), string.concat("table", vm_u(depth)));
        fundEth(id(l), 5 ether, 5 ether, alice, hub);
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l);
        hops[1] = keccak256("other hop");
        ChannelParams memory v = params(1, addrs(alice, hub, bob), hops, string.concat("tv", vm_u(depth)));
        SubAlloc memory leaf = leafFor(id(v), 4 ether);
        bytes32[] memory sibs = new bytes32[](depth);
        for (uint256 i = 0; i < depth; i++) {
            sibs[i] = keccak256(abi.encode("sibling", i));
        }
        LeafProof memory proof = LeafProof(uint32((1 << depth) - 1), sibs);
        bytes32 root = harness.rootFromProof(leaf, proof);
        State memory s = ledgerWithLeaf(id(l), 5, root, true);
        adj.conclude(l, s, signed(s, ALICE_PK, HUB_PK));
        State memory fin = vState(id(v), 3, 30, 3 ether, 1 ether, 1 ether, true);
        adj.conclude(v, fin, signAll(fin, pks(ALICE_PK, HUB_PK, BOB_PK)));
        bytes memory data = abi.encodeCall(IAdjudicator.claim, (l, s, leaf, proof, v, fin));
        return txGas(sender, 0, data, payees(alice, hub));
    }

    function test_gas_claimScaling() public {
        report("claim, table of 1 (0 siblings)", claimAgainstTable(0), 143_500);
        report("claim, table of 1,024 (10 siblings)", claimAgainstTable(10), 149_000);
        report("claim, table of 1,048,576 (20 siblings)", claimAgainstTable(20), 154_500);
    }

    function test_gas_conclude() public {
        ChannelParams memory p = params(0, addrs(alice, hub), new bytes32[](0), "conclude");
        bytes32 cid = id(p);
        State memory fin = ledgerState(cid, 7, address(0), 1 ether, 1 ether, true);
        bytes memory data = abi.encodeCall(IAdjudicator.conclude, (p, fin, signed(fin, ALICE_PK, HUB_PK)));
        report("conclude ledger", txGas(sender, 0, data, none()), 94_000);
    }

    function vm_u(uint256 x) internal pure returns (string memory) {
        if (x == 0) return "0";
        bytes memory b;
        while (x != 0) {
            b = abi.encodePacked(bytes1(uint8(48 + (x % 10))), b);
            x /= 10;
        }
        return string(b);
    }
}
