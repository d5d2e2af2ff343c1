// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {
    ChannelParams, State, Outcome, AssetOutcome, Signature, SubAlloc, LeafProof, Certificate
} from "./Types.sol";
import {ChannelLib, KIND_LEDGER, KIND_VIRTUAL} from "./ChannelLib.sol";
import {WrongSigner} from "./Types.sol";
import {IAdjudicator} from "./Types.sol";
import {IApp} from "./Types.sol";

/// The singleton that holds every Ferry channel's funds and settles disputes. SPEC.md (in `contracts/`) is its
/// specification; the safety rule each check enforces is named next to it.
contract Adjudicator is IAdjudicator {
    using ChannelLib for *;

    /// One slot per channel; the registered state's struct hash has a slot of its own (`_registered`, S15).
    struct Status {
        uint48 version;
        uint48 finalizesAt;
        /// `progress` moves made by participant 0 (S7).
        uint8 movesFirst;
        /// `progress` moves made by the last participant (S7).
        uint8 movesLast;
        bool certified;
        /// Concluded and paid out in one transaction with nothing locked (`concludeAndWithdraw`): no state stays
        /// registered, since nothing can be claimed or withdrawn by one any more (S15 costs a cooperative close
        /// nothing).
        bool settled;
    }

    /// S17: a newer state takes a held bond only if it is at least this many versions above the bonded one. An
    /// honest challenger registers its newest state signed by all, but may have signed up to 65 newer ones it never
    /// got back countersigned (a ledger leader's pending proposal and up to 64 refused ones, `MAX_ABANDONED` in
    /// `ferry-ledger`; a V member's move or post-fund in flight): a newer state within that reach proves nothing
    /// stale of it, and its bond goes back to it.
    uint256 public constant BOND_GRACE = 66;

    /// Gas given to an app's `validTransition` (S7).
    uint256 public constant APP_GAS = 1_000_000;
    /// Gas a pushed ETH payout's recipient gets (S11): the EVM's value-transfer stipend, as `transfer` gives it.
    uint256 public constant ETH_STIPEND = 2_300;
    /// Gas given to a pushed token payout (S11).
    uint256 public constant TOKEN_GAS = 100_000;
    /// Gas a token payout needs left before the call so that the call gets all of `TOKEN_GAS`: 64/63 of it (EIP-150)
    /// plus the call's own cost (cold account access, calldata in memory).
    uint256 internal constant TOKEN_GAS_NEEDED = TOKEN_GAS * 64 / 63 + 10_000;

    mapping(bytes32 => Status) internal _status;
    /// channel => the full EIP-712 struct hash of its registered state (S15): written by every `challenge`,
    /// `progress` and `conclude`, i.e. whenever `finalizesAt` becomes non-zero, and read only while it is (what
    /// `progress`, `withdraw`, `withdrawUnlisted` and `claim` accept as the registered state).
    mapping(bytes32 => bytes32) internal _registered;
    /// (channel, asset) => dep0 | dep1 << 128: cumulative deposits per participant (S12).
    mapping(bytes32 => mapping(address => uint256)) internal _deposits;
    /// (channel, asset) => wd0 | wd1 << 128: cumulative withdrawals per participant (S12).
    mapping(bytes32 => mapping(address => uint256)) internal _withdrawals;
    /// (ledger, asset) => total paid out by claims (S9).
    mapping(bytes32 => mapping(address => uint256)) public claimedTotal;
    /// (ledger, slot >> 8) => bitmap of claimed leaf slots (S9).
    mapping(bytes32 => mapping(uint256 => uint256)) internal _claimedLeaves;
    /// V => totals hash of its funding certificate (S3).
    mapping(bytes32 => bytes32) internal _certTotals;
    /// (asset, owner) => payouts that could not be pushed (S11).
    mapping(address => mapping(address => uint256)) public credit;
    /// channel => poster | amount << 160: the challenge bond held while a bonded challenge's state stands (S17).
    mapping(bytes32 => uint256) internal _bonds;

    /// Reentrancy lock (S11); a full transient word, so setting it needs no read-modify-write.
    uint256 transient _locked;

    uint256 internal immutable _cachedChainId;
    bytes32 internal immutable _cachedSeparator;

    modifier nonReentrant() {
        if (_locked != 0) revert Reentrancy();
        _locked = 1;
        _;
        _locked = 0;
    }

    constructor() {
        _cachedChainId = block.chainid;
        _cachedSeparator = ChannelLib.domainSeparator(block.chainid, address(this));
    }

    // ================================================================ views

    /// The registered status of a channel. `fingerprint` is the full EIP-712 struct hash of the registered state
    /// while a challenge is pending or once finalized, zero otherwise (none yet, a checkpoint cleared it, or a
    /// ledger settled in full by `concludeAndWithdraw`).
    function statusOf(bytes32 channelId)
        external
        view
        returns (
            uint48 version,
            uint48 finalizesAt,
            uint8 movesFirst,
            uint8 movesLast,
            bool certified,
            bytes32 fingerprint
        )
    {
        Status memory s = _status[channelId];
        fingerprint = s.finalizesAt == 0 || s.settled ? bytes32(0) : _registered[channelId];
        return (s.version, s.finalizesAt, s.movesFirst, s.movesLast, s.certified, fingerprint);
    }

    /// Cumulative on-chain deposits and withdrawals per participant, and the total claimed against a ledger.
    /// After a full payout with nothing locked, both totals are cleared.
    function holdings(bytes32 channelId, address asset)
        external
        view
        returns (uint256 dep0, uint256 dep1, uint256 wd0, uint256 wd1, uint256 claimed)
    {
        uint256 d = _deposits[channelId][asset];
        uint256 w = _withdrawals[channelId][asset];
        return (uint128(d), d >> 128, uint128(w), w >> 128, claimedTotal[channelId][asset]);
    }

    /// The EIP-712 domain separator of this adjudicator.
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == _cachedChainId
            ? _cachedSeparator
            : ChannelLib.domainSeparator(block.chainid, address(this));
    }

    /// The challenge bond held for a channel (S17); zero when none is.
    function bondOf(bytes32 channelId) external view returns (address poster, uint256 amount) {
        uint256 b = _bonds[channelId];
        return (address(uint160(b)), b >> 160);
    }

    /// Whether a leaf slot of a ledger was claimed.
    function isClaimed(bytes32 ledgerId, uint32 index) external view returns (bool) {
        return _claimedLeaves[ledgerId][index >> 8] & (1 << (index & 255)) != 0;
    }

    // ================================================================ deposits

    /// Deposits into a ledger channel for participant 0 or 1. `expectedHeld` is that participant's own cumulative
    /// deposit of `asset` as the depositor last saw it (S16: nobody else's deposit shortens this one): reverts if
    /// it is below, takes only what brings it to `expectedHeld + amount` and refunds the rest (ETH) or pulls only
    /// that (tokens).
    function deposit(address asset, bytes32 channelId, uint256 participant, uint256 expectedHeld, uint256 amount)
        external
        payable
        nonReentrant
    {
        if (participant > 1) revert InvalidParticipant();
        uint256 finalizesAt = _status[channelId].finalizesAt;
        if (finalizesAt != 0 && block.timestamp >= finalizesAt) revert ChannelFinalized(); // S1
        uint256 packed = _deposits[channelId][asset];
        uint256 shift = participant << 7;
        uint256 mine = (packed >> shift) & type(uint128).max;
        if (mine < expectedHeld) revert HeldBelowExpected(mine, expectedHeld); // S16: own deposits only
        uint256 wanted = expectedHeld + amount;
        uint256 take;
        unchecked {
            take = mine >= wanted ? 0 : wanted - mine;
        }
        if (asset == address(0)) {
            if (msg.value != amount) revert WrongValue(); // S11
        } else {
            if (msg.value != 0) revert WrongValue(); // S11
            if (take != 0) take = _pullToken(asset, take); // S11: credit what actually arrived
        }
        if (take != 0) {
            mine += take;
            if (mine > type(uint128).max) revert AmountOverflow();
            _deposits[channelId][asset] = (packed & ~(uint256(type(uint128).max) << shift)) | (mine << shift);
        }
        emit Deposited(channelId, asset, participant, take, mine);
        if (asset == address(0) && amount != take) _pay(bytes32(0), address(0), msg.sender, amount - take);
    }

    // ================================================================ finalization

    /// Finalizes a channel at once with a final state signed as S4 demands (all participants / the whole path).
    function conclude(ChannelParams calldata params, State calldata state, Signature[] calldata sigs)
        external
        nonReentrant
    {
        _conclude(params, state, sigs, true);
    }

    /// `conclude` then `withdraw` in one transaction (ledger channels).
    function concludeAndWithdraw(ChannelParams calldata params, State calldata state, Signature[] calldata sigs)
        external
        nonReentrant
    {
        if (params.kind != KIND_LEDGER) revert WrongKind();
        // With nothing locked the payout below is final for every listed asset (it pays out all the channel
        // holds of it and clears its totals), so no state needs to stay registered: no claim can follow, a later
        // `withdraw` has nothing to pay, and `withdrawUnlisted` pays by the zero view of any asset.
        bytes32 id = _conclude(params, state, sigs, _anyLocked(state.outcome));
        _payoutAll(id, params, state.outcome);
    }

    /// Registers a supported, non-final state; the first challenge fixes the deadline, later newer states replace
    /// the registered one without moving it (S5).
    function challenge(
        ChannelParams calldata params,
        State calldata state,
        Signature[] calldata sigs,
        Certificate calldata cert
    ) external payable nonReentrant {
        if (msg.value != params.challengeBond) revert WrongValue(); // S17
        bytes32 id = _checkedId(params);
        if (state.channelId != id) revert WrongChannel();
        Status memory st = _status[id];
        if (_finalized(st)) revert ChannelFinalized();
        if (state.isFinal) revert FinalityMismatch();
        bool pending = st.finalizesAt != 0;
        if (pending ? state.version <= st.version : state.version < st.version) {
            revert StaleVersion(state.version, st.version);
        }
        bytes32 sh = ChannelLib.checkedStateHash(state, params.participants.length, params.kind);
        st.certified = _challengeSupport(params, id, state, sh, sigs, cert, st.certified);
        if (!pending) {
            st.finalizesAt = uint48(block.timestamp) + params.challengeDuration;
            st.movesFirst = 0;
            st.movesLast = 0;
        }
        // A replacement keeps the deadline (S5) and the move counts: each move extends the deadline, so resetting
        // them would let colluding endpoints hold V open forever (S6: at most duration * (1 + 2 * maxMoves)).
        uint256 replacedVersion = st.version;
        st.version = state.version;
        _status[id] = st;
        _registered[id] = sh; // S15
        emit ChallengeRegistered(id, st.finalizesAt, state, sigs);
        if (msg.value != 0) {
            // S17: this challenge's bond now stands for the registered state; a replaced challenger's bond goes to
            // the caller if the newer state proves the replaced one stale (`_bondTo`), back to its poster if not.
            uint256 replaced = _bonds[id];
            _bonds[id] = uint160(msg.sender) | (msg.value << 160);
            if (replaced != 0) {
                address poster = address(uint160(replaced));
                // An intermediary of V never signs the endpoints' states (version >= 2): they prove nothing stale of
                // a state it signed (its certificate or V's pre-fund, version <= 1). An endpoint-signed state it
                // posted is no state of its own, and loses the bond like anyone's (outside attacker 11).
                bool proves =
                    !(replacedVersion <= 1 && state.version >= 2 && _isIntermediary(params, poster));
                _payBond(id, _bondTo(proves, poster, replacedVersion, state.version), replaced >> 160);
            }
        }
    }

    /// Raises a ledger channel's version with a newer state signed by all, clearing any challenge; the channel goes on
    /// off-chain (S5). The event carries the state and signatures (see `Checkpointed`).
    function checkpoint(ChannelParams calldata params, State calldata state, Signature[] calldata sigs)
        external
        nonReentrant
    {
        if (params.kind != KIND_LEDGER) revert WrongKind(); // a virtual channel has no checkpoint
        bytes32 id = _checkedId(params);
        if (state.channelId != id) revert WrongChannel();
        Status memory st = _status[id];
        if (_finalized(st)) revert ChannelFinalized();
        if (state.isFinal) revert FinalityMismatch();
        if (state.version <= st.version) revert StaleVersion(state.version, st.version);
        bytes32 sh = ChannelLib.checkedStateHash(state, 2, KIND_LEDGER);
        ChannelLib.requireSignedByAll(ChannelLib.digest(domainSeparator(), sh), sigs, params.participants);
        // No challenge pending: nothing reads `_registered` until the next challenge or conclude writes it.
        _status[id] = Status(state.version, 0, 0, 0, false, false);
        emit Checkpointed(id, state.version, state, sigs);
        if (params.challengeBond != 0) _releaseBond(id, true, st.version, state.version); // S17
    }

    /// Registers an app move by an endpoint on top of V's registered state (S7). Virtual channels only (S13): a
    /// ledger's states need both signatures, so a move signed by one side alone could rob the other.
    function progress(
        ChannelParams calldata params,
        State calldata from,
        State calldata to,
        uint256 moverIndex,
        Signature calldata moverSig
    ) external nonReentrant {
        if (params.kind != KIND_VIRTUAL) revert WrongKind(); // S13
        bytes32 id = _checkedId(params);
        Status memory st = _status[id];
        if (st.finalizesAt == 0) revert NoPendingChallenge();
        if (_finalized(st)) revert ChannelFinalized();
        if (params.app == address(0)) revert InvalidTransition();
        if (!st.certified) revert MissingCertificate();
        if (ChannelLib.hashState(from) != _registered[id]) revert FingerprintMismatch(); // S15
        if (to.channelId != id) revert WrongChannel();
        if (to.isFinal) revert FinalityMismatch();
        if (uint256(to.version) != uint256(from.version) + 1) revert StaleVersion(to.version, from.version);
        uint256 n = params.participants.length;
        if (moverIndex != 0 && moverIndex != n - 1) revert InvalidParticipant();
        // S7: each endpoint has its own `maxMoves` (at most 255), so neither can use up the moves the other needs
        // (a payee's redeeming move, a player's answer).
        uint256 made = moverIndex == 0 ? st.movesFirst : st.movesLast;
        if (made >= params.maxMoves || made == type(uint8).max) revert TooManyMoves();
        bytes32 sh = ChannelLib.checkedStateHash(to, n, params.kind);
        if (
            ChannelLib.totalsHash(to.outcome) != ChannelLib.totalsHash(from.outcome)
                || !ChannelLib.intermediariesEmpty(to.outcome)
        ) revert ConservationViolated(); // S3
        if (ChannelLib.recover(ChannelLib.digest(domainSeparator(), sh), moverSig) != params.participants[moverIndex]) {
            revert WrongSigner(moverIndex);
        }
        _requireAppAccepts(params, from, to, moverIndex);
        uint48 bumped = uint48(block.timestamp) + params.challengeDuration;
        uint48 finalizesAt = bumped > st.finalizesAt ? bumped : st.finalizesAt;
        unchecked {
            // made < 255: no overflow
            if (moverIndex == 0) st.movesFirst = uint8(made + 1);
            else st.movesLast = uint8(made + 1);
        }
        _status[id] = Status(to.version, finalizesAt, st.movesFirst, st.movesLast, st.certified, false);
        _registered[id] = sh; // S15
        emit Progressed(id, finalizesAt, moverIndex, to, moverSig);
    }

    // ================================================================ payouts

    /// Pays a ledger channel's finalized outcome out (S12); `locked` stays for claims. Running it again pays nothing.
    function withdraw(ChannelParams calldata params, State calldata state) external nonReentrant {
        if (params.kind != KIND_LEDGER) revert WrongKind();
        bytes32 id = ChannelLib.channelId(params); // finalized => validated when first registered
        if (_finalizedState(id, state)) return; // paid out in full by `concludeAndWithdraw`: nothing left
        _payoutAll(id, params, state.outcome);
    }

    /// Returns what a finalized ledger channel holds of an asset its registered state does not list (S12): that
    /// state's view of the asset is all zero, so each participant gets its on-chain deposits minus its on-chain
    /// withdrawals (a top-up in an asset the peer never countersigned). Running it again pays nothing.
    function withdrawUnlisted(ChannelParams calldata params, State calldata state, address asset)
        external
        nonReentrant
    {
        if (params.kind != KIND_LEDGER) revert WrongKind();
        bytes32 id = ChannelLib.channelId(params); // finalized => validated when first registered
        // Settled in full by `concludeAndWithdraw`: every asset the final listed was paid out and its totals
        // cleared, so the zero view pays nothing of it, and any other asset is paid by that view: no state needed.
        if (!_finalizedState(id, state)) {
            AssetOutcome[] calldata assets = state.outcome.assets;
            for (uint256 i = 0; i < assets.length; i++) {
                if (assets[i].asset == asset) revert AssetListed();
            }
        }
        // The state's view of the asset is zero; nothing of it is locked, so nothing of it can be claimed.
        _payoutAsset(id, params, asset, 0, 0, 0, 0, 0);
    }

    /// Pays `participant` the partial withdrawals a fully signed state agreed, while the channel stays open (S12).
    function withdrawPartial(
        ChannelParams calldata params,
        State calldata state,
        Signature[] calldata sigs,
        uint256 participant
    ) external nonReentrant {
        if (params.kind != KIND_LEDGER) revert WrongKind();
        if (participant > 1) revert InvalidParticipant();
        bytes32 id = _checkedId(params);
        if (state.channelId != id) revert WrongChannel();
        if (_finalized(_status[id])) revert ChannelFinalized();
        ChannelLib.requireSignedByAll(
            ChannelLib.digest(domainSeparator(), ChannelLib.checkedStateHash(state, 2, KIND_LEDGER)),
            sigs,
            params.participants
        );
        address to = params.participants[participant];
        uint256 shift = participant * 128;
        for (uint256 i = 0; i < state.outcome.assets.length; i++) {
            AssetOutcome calldata a = state.outcome.assets[i];
            uint256 w = _withdrawals[id][a.asset];
            uint256 mine = (w >> shift) & type(uint128).max;
            if (a.withdrawn[participant] <= mine) continue;
            uint256 amount = a.withdrawn[participant] - mine;
            uint256 avail = _available(_deposits[id][a.asset], w, a.locked);
            if (amount > avail) amount = avail;
            if (amount == 0) continue;
            uint256 total = mine + amount;
            if (total > type(uint128).max) revert AmountOverflow();
            _withdrawals[id][a.asset] = (w & ~(uint256(type(uint128).max) << shift)) | (total << shift);
            _pay(id, a.asset, to, amount);
        }
    }

    /// Pays one leaf of a finalized ledger according to V's finalized outcome (S9).
    function claim(
        ChannelParams calldata ledgerParams,
        State calldata ledgerState,
        SubAlloc calldata leaf,
        LeafProof calldata proof,
        ChannelParams calldata virtualParams,
        State calldata virtualState
    ) external nonReentrant {
        if (ledgerParams.kind != KIND_LEDGER || virtualParams.kind != KIND_VIRTUAL) revert WrongKind();
        // Both must be finalized, and a status is only ever written for params that passed `_checkedId`
        // (S1, S2), whose hash is the id: finalized params need no second validation.
        bytes32 lid = ChannelLib.channelId(ledgerParams);
        bytes32 vid = ChannelLib.channelId(virtualParams);
        if (leaf.channelId != vid) revert LeafMismatch();
        // A settled ledger locked nothing (no leaf to claim); a virtual channel is never settled.
        if (_finalizedState(lid, ledgerState) || _finalizedState(vid, virtualState)) revert FingerprintMismatch();
        (address left, address right) = _sides(lid, ledgerParams, virtualParams);
        if (ChannelLib.rootFromProof(ChannelLib.leafHash(leaf), proof) != ledgerState.outcome.subRoot) {
            revert InvalidProof();
        }
        uint256 bucket = uint256(proof.index) >> 8;
        uint256 bit = 1 << (uint256(proof.index) & 255);
        uint256 word = _claimedLeaves[lid][bucket];
        if (word & bit != 0) revert AlreadyClaimed();
        _claimedLeaves[lid][bucket] = word | bit;
        uint256 m = leaf.amounts.length;
        if (m != virtualState.outcome.assets.length) revert LeafMismatch();
        // The routing fee, part of the first amount: earned once V got past its pre-fund (its certificate exists, or
        // the whole path signed a final); an open that never completed gives it back to A's side.
        uint256 fee = leaf.fee;
        bool earned = virtualState.version >= 1;
        for (uint256 j = 0; j < m; j++) {
            address asset = leaf.amounts[j].asset;
            AssetOutcome calldata va = virtualState.outcome.assets[j];
            if (va.asset != asset) revert LeafMismatch();
            uint256 amount = leaf.amounts[j].amount;
            uint256 claimed = claimedTotal[lid][asset];
            if (claimed + amount > _lockedOf(ledgerState.outcome, asset)) revert ClaimExceedsLocked();
            if (amount > _held(lid, asset, claimed)) revert ClaimExceedsHeld();
            claimedTotal[lid][asset] = claimed + amount;
            if (fee > amount) revert LeafMismatch();
            uint256 vPart = amount - fee;
            uint256 toLeft = va.balances[0] < vPart ? va.balances[0] : vPart;
            uint256 toRight = vPart - toLeft;
            if (earned) toRight += fee;
            else toLeft += fee;
            fee = 0; // first asset only
            emit Claimed(lid, vid, asset, toLeft, toRight);
            _pay(lid, asset, left, toLeft);
            _pay(lid, asset, right, toRight);
        }
    }

    /// Pays a finalized channel's challenge bond back to its challenger (S17): the bonded state, or the moves made
    /// from it, finalized, since anything newer registered over it would have taken the bond. Anyone may call it.
    function reclaimBond(bytes32 channelId) external nonReentrant {
        if (!_finalized(_status[channelId])) revert NotFinalized();
        uint256 b = _bonds[channelId];
        if (b == 0) revert NoBond();
        delete _bonds[channelId];
        _payBond(channelId, address(uint160(b)), b >> 160);
    }

    /// Pulls the caller's credited payouts of `asset` (S11).
    function withdrawCredit(address asset) external nonReentrant {
        uint256 amount = credit[asset][msg.sender];
        if (amount == 0) revert NothingCredited();
        credit[asset][msg.sender] = 0;
        bool ok;
        if (asset == address(0)) {
            (ok,) = msg.sender.call{value: amount}("");
        } else {
            ok = _callToken(asset, abi.encodeWithSelector(0xa9059cbb, msg.sender, amount), gasleft());
        }
        if (!ok) revert CreditTransferFailed();
    }

    // ================================================================ internals

    function _finalized(Status memory s) internal view returns (bool) {
        return s.finalizesAt != 0 && block.timestamp >= s.finalizesAt;
    }

    /// Validates params (S1, S2) and returns the channel id.
    function _checkedId(ChannelParams calldata params) internal view returns (bytes32) {
        if (params.chainId != block.chainid) revert WrongChain();
        if (params.adjudicator != address(this)) revert WrongAdjudicator();
        ChannelLib.validate(params);
        return ChannelLib.channelId(params);
    }

    /// Finalizes with a final state; `register` keeps its hash for `withdraw`, `claim` and `withdrawUnlisted` (S15),
    /// otherwise the channel is marked settled (see `concludeAndWithdraw`).
    function _conclude(ChannelParams calldata params, State calldata state, Signature[] calldata sigs, bool register)
        internal
        returns (bytes32 id)
    {
        id = _checkedId(params);
        if (state.channelId != id) revert WrongChannel();
        Status memory st = _status[id];
        if (_finalized(st)) revert ChannelFinalized();
        if (!state.isFinal) revert FinalityMismatch();
        // S5: a final of V signed by the whole path concludes it even over a newer registered state: each member
        // signs at most one final (S4), so it is V's only final, and the ledgers may already have paid out by it.
        // Endpoints alone can register any later state of V; letting it win would let colluding endpoints take
        // back from a hub what the final gave it.
        if (params.kind == KIND_LEDGER && state.version < st.version) {
            revert StaleVersion(state.version, st.version);
        }
        bytes32 sh = ChannelLib.checkedStateHash(state, params.participants.length, params.kind);
        // S4: a final state needs every participant — for V, the whole path.
        ChannelLib.requireSignedByAll(ChannelLib.digest(domainSeparator(), sh), sigs, params.participants);
        _status[id] =
            Status(state.version, uint48(block.timestamp), st.movesFirst, st.movesLast, st.certified, !register);
        if (register) _registered[id] = sh; // S15
        emit Concluded(id, state.version);
        // S17: a final, signed by all, is the channel's agreed end, not an answer to a stale state: a held bond goes
        // back to its poster (a member may have signed the final and challenged while the last signature was
        // withheld from it).
        if (params.challengeBond != 0) _releaseBond(id, false, 0, 0);
    }

    /// S4 for a challenge: a ledger state or V up to its post-fund signed by all (V's post-fund certifies V), or an
    /// endpoint-signed state of V. Returns the new certified flag.
    function _challengeSupport(
        ChannelParams calldata params,
        bytes32 id,
        State calldata state,
        bytes32 sh,
        Signature[] calldata sigs,
        Certificate calldata cert,
        bool certified
    ) internal returns (bool) {
        bytes32 d = ChannelLib.digest(domainSeparator(), sh);
        if (params.kind == KIND_LEDGER || state.version <= 1) {
            ChannelLib.requireSignedByAll(d, sigs, params.participants);
            if (params.kind == KIND_VIRTUAL && state.version == 1 && !certified) {
                _certTotals[id] = ChannelLib.totalsHash(state.outcome);
                certified = true;
            }
            return certified;
        }
        return _checkEndpointState(params, id, state, d, sigs, cert, certified);
    }

    /// An endpoint-signed state of V (version >= 2, not final): both endpoints' signatures plus the certificate,
    /// or a certificate already registered; S3 against the certificate's totals. Returns the new certified flag.
    function _checkEndpointState(
        ChannelParams calldata params,
        bytes32 id,
        State calldata state,
        bytes32 d,
        Signature[] calldata sigs,
        Certificate calldata cert,
        bool certified
    ) internal returns (bool) {
        uint256 n = params.participants.length;
        if (sigs.length != 2) revert WrongSigner(sigs.length);
        if (ChannelLib.recover(d, sigs[0]) != params.participants[0]) revert WrongSigner(0);
        if (ChannelLib.recover(d, sigs[1]) != params.participants[n - 1]) revert WrongSigner(n - 1);
        bytes32 totals;
        if (cert.sigs.length != 0) {
            State calldata c = cert.state;
            if (c.channelId != id || c.version != 1 || c.isFinal) revert InvalidCertificate();
            ChannelLib.requireSignedByAll(
                ChannelLib.digest(domainSeparator(), ChannelLib.checkedStateHash(c, n, KIND_VIRTUAL)),
                cert.sigs,
                params.participants
            );
            totals = ChannelLib.totalsHash(c.outcome);
            if (!certified) {
                _certTotals[id] = totals;
                certified = true;
            } else if (_certTotals[id] != totals) {
                revert InvalidCertificate();
            }
        } else {
            if (!certified) revert MissingCertificate();
            totals = _certTotals[id];
        }
        if (ChannelLib.totalsHash(state.outcome) != totals || !ChannelLib.intermediariesEmpty(state.outcome)) {
            revert ConservationViolated(); // S3
        }
        return certified;
    }

    function _requireAppAccepts(
        ChannelParams calldata params,
        State calldata from,
        State calldata to,
        uint256 moverIndex
    ) internal view {
        bytes memory data = abi.encodeCall(IApp.validTransition, (params, from, to, moverIndex));
        address app = params.app;
        uint256 gasCap = APP_GAS;
        bool ok;
        uint256 verdict;
        assembly ("memory-safe") {
            ok := staticcall(gasCap, app, add(data, 0x20), mload(data), 0x00, 0x20)
            verdict := mload(0x00)
            if lt(returndatasize(), 0x20) { ok := 0 }
        }
        if (!ok || verdict != 1) revert InvalidTransition(); // S7: a revert or anything but true is invalid
    }

    /// Reverts unless the channel is finalized; returns true when it was settled in full by `concludeAndWithdraw`
    /// (no state is registered), otherwise checks that `state` is the registered one (S15).
    function _finalizedState(bytes32 id, State calldata state) internal view returns (bool settled) {
        Status memory st = _status[id];
        if (!_finalized(st)) revert NotFinalized();
        if (st.settled) return true;
        if (state.channelId != id || ChannelLib.hashState(state) != _registered[id]) revert FingerprintMismatch(); // S15
    }

    /// S9: k is found by searching V's hops for the ledger id; the ledger's participants are {P_k, P_k+1}; the one
    /// equal to P_k stands for A's side (left).
    function _sides(bytes32 lid, ChannelParams calldata lp, ChannelParams calldata vp)
        internal
        pure
        returns (address left, address right)
    {
        uint256 hops = vp.hops.length;
        for (uint256 k = 0; k < hops; k++) {
            if (vp.hops[k] == lid) {
                left = vp.participants[k];
                right = vp.participants[k + 1];
                address l0 = lp.participants[0];
                address l1 = lp.participants[1];
                if ((l0 == left && l1 == right) || (l0 == right && l1 == left)) return (left, right);
                revert LedgerNotOnPath();
            }
        }
        revert LedgerNotOnPath();
    }

    function _anyLocked(Outcome calldata o) internal pure returns (bool) {
        for (uint256 i = 0; i < o.assets.length; i++) {
            if (o.assets[i].locked != 0) return true;
        }
        return false;
    }

    function _lockedOf(Outcome calldata o, address asset) internal pure returns (uint256) {
        for (uint256 i = 0; i < o.assets.length; i++) {
            if (o.assets[i].asset == asset) return o.assets[i].locked;
        }
        return 0;
    }

    /// What a ledger still holds of an asset: deposits - withdrawals - claims.
    function _held(bytes32 id, address asset, uint256 claimed) internal view returns (uint256) {
        uint256 d = _deposits[id][asset];
        uint256 w = _withdrawals[id][asset];
        uint256 inflow = uint128(d) + (d >> 128);
        uint256 outflow = uint128(w) + (w >> 128) + claimed;
        return inflow > outflow ? inflow - outflow : 0;
    }

    /// What withdrawals may pay of an asset without touching `locked`: deposits - withdrawals - locked.
    function _available(uint256 d, uint256 w, uint256 locked) internal pure returns (uint256) {
        uint256 inflow = uint128(d) + (d >> 128);
        uint256 outflow = uint128(w) + (w >> 128) + locked;
        return inflow > outflow ? inflow - outflow : 0;
    }

    /// S12: payout_p = balance + (dep_onchain - dep_state) - (wd_onchain - wd_state), saturating at 0, paid in
    /// participant order while `deposits - withdrawals - locked` lasts. A full payout with nothing locked clears
    /// the channel's totals (nothing can be deposited or withdrawn afterwards). `o` is the finalized state's
    /// outcome, so claims against this ledger are bounded by its `locked` (`claim`): with `locked == 0` nothing was
    /// or will be claimed of that asset.
    function _payoutAll(bytes32 id, ChannelParams calldata params, Outcome calldata o) internal {
        AssetOutcome[] calldata assets = o.assets;
        for (uint256 i = 0; i < assets.length; i++) {
            AssetOutcome calldata a = assets[i];
            uint256[] calldata b = a.balances;
            uint256[] calldata dep = a.deposited;
            uint256[] calldata wd = a.withdrawn;
            _payoutAsset(id, params, a.asset, b[0] + wd[0], b[1] + wd[1], dep[0], dep[1], a.locked);
        }
    }

    /// S12 for one asset: `payout_p = credit_p + dep_onchain_p - debit_p - wd_onchain_p` (saturating at 0), where
    /// the state's view gives `credit_p = balance_p + withdrawn_p` and `debit_p = deposited_p`; paid in participant
    /// order while `deposits - withdrawals - locked` lasts.
    function _payoutAsset(
        bytes32 id,
        ChannelParams calldata params,
        address asset,
        uint256 credit0,
        uint256 credit1,
        uint256 debit0,
        uint256 debit1,
        uint256 locked
    ) internal {
        uint256 d = _deposits[id][asset];
        uint256 w = _withdrawals[id][asset];
        uint256 avail = _available(d, w, locked);
        uint256 plus = credit0 + uint128(d);
        uint256 minus = debit0 + uint128(w);
        uint256 pay0 = plus > minus ? plus - minus : 0;
        if (pay0 > avail) pay0 = avail;
        plus = credit1 + (d >> 128);
        minus = debit1 + (w >> 128);
        uint256 pay1 = plus > minus ? plus - minus : 0;
        unchecked {
            avail -= pay0; // pay0 <= avail
        }
        if (pay1 > avail) pay1 = avail;
        if (avail == pay1 && locked == 0) {
            // Everything left is paid out: clear the totals.
            if (d != 0) delete _deposits[id][asset];
            if (w != 0) delete _withdrawals[id][asset];
        } else if (pay0 != 0 || pay1 != 0) {
            uint256 w0 = uint128(w) + pay0;
            uint256 w1 = (w >> 128) + pay1;
            if (w0 > type(uint128).max || w1 > type(uint128).max) revert AmountOverflow();
            _withdrawals[id][asset] = w0 | (w1 << 128);
        }
        _pay(id, asset, params.participants[0], pay0);
        _pay(id, asset, params.participants[1], pay1);
    }

    /// Whether `who` is one of V's intermediaries (neither endpoint); never for a ledger, which has none.
    function _isIntermediary(ChannelParams calldata params, address who) internal pure returns (bool) {
        address[] calldata ps = params.participants;
        for (uint256 k = 1; k + 1 < ps.length; k++) {
            if (ps[k] == who) return true;
        }
        return false;
    }

    /// S17: who gets a bond whose state a newer one replaced: the caller, if the newer state `proves` the bonded
    /// one stale and is at least `BOND_GRACE` versions above it; its poster otherwise.
    function _bondTo(bool proves, address poster, uint256 registered, uint256 newer)
        internal
        view
        returns (address)
    {
        return proves && newer >= registered + BOND_GRACE ? msg.sender : poster;
    }

    /// S17: a checkpoint or a final replaced a bonded challenge's state: its bond is paid as `_bondTo` says.
    function _releaseBond(bytes32 id, bool proves, uint256 registered, uint256 newer) internal {
        uint256 b = _bonds[id];
        if (b == 0) return;
        delete _bonds[id];
        _payBond(id, _bondTo(proves, address(uint160(b)), registered, newer), b >> 160);
    }

    /// Pays a bond in ETH, pushed or credited (S11).
    function _payBond(bytes32 id, address to, uint256 amount) internal {
        emit BondPaid(id, to, amount);
        _pay(bytes32(0), address(0), to, amount);
    }

    /// Pushes a payout; a recipient that cannot take it is credited instead (S11).
    function _pay(bytes32 id, address asset, address to, uint256 amount) internal {
        if (amount == 0) return;
        bool ok;
        if (asset == address(0)) {
            // A value call adds the 2,300 stipend (ETH_STIPEND) to the gas passed: pass none, copy no return data.
            assembly ("memory-safe") {
                ok := call(0, to, amount, 0, 0, 0, 0)
            }
        } else {
            // A caller passing too little gas could starve the token call (EIP-150 forwards at most 63/64 of
            // what is left) and turn the payout into a credit: make sure the call gets its whole cap, or revert
            // like an out-of-gas.
            if (gasleft() < TOKEN_GAS_NEEDED) revert();
            ok = _callToken(asset, abi.encodeWithSelector(0xa9059cbb, to, amount), TOKEN_GAS);
        }
        if (ok) {
            if (id != bytes32(0)) emit Withdrawn(id, asset, to, amount);
        } else {
            credit[asset][to] += amount;
            emit PayoutCredited(asset, to, amount);
        }
    }

    /// Calls a token with bounded gas and no unbounded return-data copy; success = no revert and (no data or true).
    function _callToken(address token, bytes memory data, uint256 gasCap) internal returns (bool ok) {
        if (token.code.length == 0) return false;
        assembly ("memory-safe") {
            ok := call(gasCap, token, 0, add(data, 0x20), mload(data), 0x00, 0x20)
            if ok {
                if returndatasize() {
                    ok := and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1))
                }
            }
        }
    }

    /// Pulls `amount` of a token from the caller; returns what actually arrived (fee-on-transfer safe, S11).
    /// An address without code fails at the first `balanceOf`, which must return a word.
    function _pullToken(address token, uint256 amount) internal returns (uint256 received) {
        bool ok;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            // balanceOf(this) before.
            mstore(ptr, shl(224, 0x70a08231))
            mstore(add(ptr, 0x04), address())
            ok := staticcall(gas(), token, ptr, 0x24, 0x00, 0x20)
            ok := and(ok, gt(returndatasize(), 0x1f))
            let before := mload(0x00)
            // transferFrom(msg.sender, this, amount): success = no revert and (no data or true).
            mstore(ptr, shl(224, 0x23b872dd))
            mstore(add(ptr, 0x04), caller())
            mstore(add(ptr, 0x24), address())
            mstore(add(ptr, 0x44), amount)
            if ok {
                ok := call(gas(), token, 0, ptr, 0x64, 0x00, 0x20)
                if and(ok, iszero(iszero(returndatasize()))) {
                    ok := and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1))
                }
            }
            // balanceOf(this) after.
            if ok {
                mstore(ptr, shl(224, 0x70a08231))
                mstore(add(ptr, 0x04), address())
                ok := staticcall(gas(), token, ptr, 0x24, 0x00, 0x20)
                ok := and(ok, gt(returndatasize(), 0x1f))
                let afterwards := mload(0x00)
                ok := and(ok, iszero(lt(afterwards, before)))
                received := sub(afterwards, before)
            }
        }
        if (!ok) revert TokenTransferFailed();
    }
}
