// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ChannelParams, State, AssetOutcome, PaymentData, Signature, Voucher} from "../Types.sol";
import {ChannelLib} from "../ChannelLib.sol";
import {IApp} from "../Types.sol";

/// Payments by vouchers (SPEC.md "Apps"). `PaymentData` tracks, per asset, what each endpoint paid the other in
/// total. A move may raise the mover's own total freely (it signs the move) and the other endpoint's total only
/// with that endpoint's voucher for the new total.
contract PaymentApp is IApp {
    /// @inheritdoc IApp
    function validTransition(ChannelParams calldata params, State calldata from, State calldata to, uint256 moverIndex)
        external
        pure
        override
        returns (bool)
    {
        uint256 n = params.participants.length;
        uint256 last = n - 1;
        if (moverIndex != 0 && moverIndex != last) return false;
        PaymentData memory f = abi.decode(from.appData, (PaymentData));
        PaymentData memory t = abi.decode(to.appData, (PaymentData));
        uint256 m = to.outcome.assets.length;
        if (from.outcome.assets.length != m) return false;
        if (f.paidByFirst.length != m || f.paidByLast.length != m) return false;
        if (t.paidByFirst.length != m || t.paidByLast.length != m) return false;
        bytes32 separator = ChannelLib.domainSeparator(params.chainId, params.adjudicator);
        for (uint256 j = 0; j < m; j++) {
            AssetOutcome calldata fa = from.outcome.assets[j];
            AssetOutcome calldata ta = to.outcome.assets[j];
            if (fa.asset != ta.asset || fa.locked != ta.locked) return false;
            if (t.paidByFirst[j] < f.paidByFirst[j] || t.paidByLast[j] < f.paidByLast[j]) return false;
            uint256 dF = t.paidByFirst[j] - f.paidByFirst[j];
            uint256 dL = t.paidByLast[j] - f.paidByLast[j];
            // first: -dF + dL; last: -dL + dF; everyone else unchanged.
            if (fa.balances[0] + dL < dF || ta.balances[0] != fa.balances[0] + dL - dF) return false;
            if (fa.balances[last] + dF < dL || ta.balances[last] != fa.balances[last] + dF - dL) return false;
            for (uint256 p = 1; p < last; p++) {
                if (ta.balances[p] != fa.balances[p]) return false;
            }
            uint256 othersIncrease = moverIndex == 0 ? dL : dF;
            if (othersIncrease != 0) {
                if (t.voucherSigs.length != m) return false;
                address payer = params.participants[moverIndex == 0 ? last : 0];
                uint256 total = moverIndex == 0 ? t.paidByLast[j] : t.paidByFirst[j];
                bytes32 structHash = ChannelLib.hashVoucher(Voucher(to.channelId, payer, ta.asset, total));
                if (!_signedBy(ChannelLib.digest(separator, structHash), t.voucherSigs[j], payer)) return false;
            }
        }
        return true;
    }

    function _signedBy(bytes32 d, Signature memory sig, address signer) private pure returns (bool) {
        uint256 r = uint256(sig.r);
        uint256 s = uint256(sig.s);
        if ((sig.v != 27 && sig.v != 28) || r == 0 || r >= ChannelLib.SECP256K1_N || s == 0) return false;
        if (s > ChannelLib.SECP256K1_HALF_N) return false;
        address got = ecrecover(d, sig.v, sig.r, sig.s);
        return got != address(0) && got == signer;
    }
}
