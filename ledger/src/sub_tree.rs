//! The sub-channel table of a ledger channel: a fixed-depth (32) Merkle tree of `SubAlloc` leaves, one slot per
//! virtual channel (contracts/SPEC.md "Sub-channel tree"; DESIGN.md "Sub-channel table").
//!
//! - Leaves hash as `keccak256(0x00 ‖ abi.encode(channelId, amounts, fee))`, inner nodes as `keccak256(0x01 ‖ l ‖ r)`,
//!   an empty slot is `Z[0] = 0` and an empty subtree of height h is `Z[h]`; the empty table's root is `Z[32]`.
//! - Slots are allocated lowest-free first, so with n leaves the used part of the tree (its *width*, one past the
//!   highest used slot) stays near n and its height is ⌈log2 width⌉. Only that part is stored, level by level
//!   (`Vec<B256>` per level); everything above is an empty subtree recomputed from the precomputed `Z`.
//! - Inserting, updating or removing a leaf rehashes its path: O(32) hashes. The root is cached (O(1)). A proof
//!   carries the siblings up to the used height with trailing empty subtrees trimmed (⌈log2 n⌉ siblings for a
//!   dense table of n leaves); the contract fills in the rest with `Z`.
//! - A `HashMap` keeps each virtual channel's slot (one position per V: duplicates are refused) and a `BTreeSet`
//!   the free slots below the width; per-asset totals of the leaves are kept as well, to check a ledger outcome's
//!   `locked` (see [`crate::outcome::check_sub_table`]).
//!
//! Memory: about 250 bytes per single-asset leaf (two tree nodes, the leaf, the slot map), so 1,000,000 leaves fit
//! in roughly 250 MB.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{
    AssetAmount, EMPTY_SUBTREES, LeafProof, SubAlloc, TREE_DEPTH, leaf_hash, tree_node,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Number of leaf slots of the fixed-depth tree: `2^32`.
pub const MAX_LEAVES: u64 = 1 << TREE_DEPTH;

/// The sub-channel table of one ledger state. Every method checks before it changes anything: on an error the
/// table is as it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "TableRepr", try_from = "TableRepr")]
pub struct SubTree {
    /// `levels[h][i]`: node `i` at height `h` (height 0 = leaf hashes), for the used width only:
    /// `levels[h].len() == ceil(width / 2^h)`, `levels.len() == height + 1` (empty for an empty table).
    levels: Vec<Vec<B256>>,
    /// The leaves by slot, `leaves.len() == width`; the last one is always occupied.
    leaves: Vec<Option<SubAlloc>>,
    /// Slot of each virtual channel.
    slots: HashMap<B256, u32>,
    /// Free slots below the width.
    free: BTreeSet<u32>,
    /// Per asset, the sum of the leaves' amounts (no zero entries).
    locked: BTreeMap<Address, U256>,
    /// The cached root.
    root: B256,
    /// The most leaves this table accepts.
    max_leaves: u64,
}

impl Default for SubTree {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for SubTree {
    /// Two tables are equal when they hold the same leaves in the same slots (the root commits to both) and accept
    /// as many leaves.
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root && self.len() == other.len() && self.max_leaves == other.max_leaves
    }
}

impl Eq for SubTree {}

/// Height of the smallest complete tree with `width` leaves.
fn height_for(width: usize) -> usize {
    if width <= 1 {
        0
    } else {
        (usize::BITS - (width - 1).leading_zeros()) as usize
    }
}

/// A leaf lists each asset once, strictly ascending (as V's outcome does), and its fee is part of its first amount
/// (`claim` reverts otherwise). The table does not require it (a leaf's
/// hash and proof do not depend on it); the protocol checks it, with the rest of S8, before it agrees to a leaf
/// (see [`crate::support::check_leaf`]).
pub fn validate_leaf(leaf: &SubAlloc) -> Result<()> {
    if leaf
        .amounts
        .windows(2)
        .any(|pair| pair[0].asset >= pair[1].asset)
    {
        return Err(Error::InvalidLeaf("assets must be strictly ascending"));
    }
    if leaf.fee > leaf.amounts.first().map_or(U256::ZERO, |a| a.amount) {
        return Err(Error::InvalidLeaf(
            "the fee is part of the first asset's amount",
        ));
    }
    Ok(())
}

impl SubTree {
    /// An empty table (root = the empty root) accepting up to [`MAX_LEAVES`] leaves.
    pub fn new() -> Self {
        Self {
            levels: Vec::new(),
            leaves: Vec::new(),
            slots: HashMap::new(),
            free: BTreeSet::new(),
            locked: BTreeMap::new(),
            root: ferry_contracts::empty_root(),
            max_leaves: MAX_LEAVES,
        }
    }

    /// An empty table accepting at most `max_leaves` leaves (capped at [`MAX_LEAVES`]): a hub's limit on how many
    /// virtual channels one ledger hosts.
    pub fn with_max_leaves(max_leaves: u64) -> Self {
        Self {
            max_leaves: max_leaves.min(MAX_LEAVES),
            ..Self::new()
        }
    }

    /// Builds a table from leaves placed in slots `0..n` in order, in O(n) hashing.
    pub fn from_leaves(leaves: impl IntoIterator<Item = SubAlloc>) -> Result<Self> {
        Self::build(MAX_LEAVES, leaves.into_iter().enumerate())
    }

    /// Rebuilds a table from leaves at given slots (as [`SubTree::iter`] lists them, e.g. from a store), in
    /// O(highest slot) time and memory: only for data from a trusted source (a peer's proposals go through
    /// [`SubTree::insert_at`], which refuses far slots). Fails on a repeated slot or channel, an invalid leaf, or more leaves than
    /// `max_leaves`.
    pub fn from_slots(
        max_leaves: u64,
        leaves: impl IntoIterator<Item = (u32, SubAlloc)>,
    ) -> Result<Self> {
        Self::build(
            max_leaves.min(MAX_LEAVES),
            leaves.into_iter().map(|(s, l)| (s as usize, l)),
        )
    }

    fn build(max_leaves: u64, leaves: impl Iterator<Item = (usize, SubAlloc)>) -> Result<Self> {
        let mut tree = Self::with_max_leaves(max_leaves);
        for (slot, leaf) in leaves {
            let slot32 = u32::try_from(slot).map_err(|_| Error::TreeFull {
                capacity: max_leaves,
            })?;
            if tree.len() as u64 >= max_leaves {
                return Err(Error::TreeFull {
                    capacity: max_leaves,
                });
            }
            if tree.slots.contains_key(&leaf.channelId) {
                return Err(Error::DuplicateSubChannel(leaf.channelId));
            }
            if tree.leaves.len() <= slot {
                tree.leaves.resize(slot + 1, None);
            } else if tree.leaves[slot].is_some() {
                return Err(Error::SlotUnavailable(u64::from(slot32)));
            }
            let totals = tree.adjusted_totals(&[], &leaf.amounts)?;
            tree.apply_totals(totals);
            tree.slots.insert(leaf.channelId, slot32);
            tree.leaves[slot] = Some(leaf);
        }
        tree.free = (0..tree.leaves.len())
            .filter(|i| tree.leaves[*i].is_none())
            .map(|i| i as u32)
            .collect();
        tree.rebuild();
        Ok(tree)
    }

    /// Recomputes every stored node from the leaves: O(width) hashes.
    fn rebuild(&mut self) {
        self.levels.clear();
        if !self.leaves.is_empty() {
            let mut level: Vec<B256> = self
                .leaves
                .iter()
                .map(|l| l.as_ref().map_or(EMPTY_SUBTREES[0], leaf_hash))
                .collect();
            let height = height_for(level.len());
            for h in 0..height {
                let up = level
                    .chunks(2)
                    .map(|pair| tree_node(&pair[0], pair.get(1).unwrap_or(&EMPTY_SUBTREES[h])))
                    .collect();
                self.levels.push(std::mem::replace(&mut level, up));
            }
            self.levels.push(level);
        }
        self.root = self.fold_root();
    }

    /// The root committed in the ledger state's `subRoot`.
    pub fn root(&self) -> B256 {
        self.root
    }

    /// Number of sub-channels.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The most leaves this table accepts.
    pub fn max_leaves(&self) -> u64 {
        self.max_leaves
    }

    /// One past the highest used slot.
    pub fn width(&self) -> usize {
        self.leaves.len()
    }

    /// Height of the used part of the tree: ⌈log2 width⌉, the most siblings a proof carries.
    pub fn height(&self) -> usize {
        self.levels.len().saturating_sub(1)
    }

    /// The slot of a virtual channel's leaf.
    pub fn slot_of(&self, channel_id: &B256) -> Option<u32> {
        self.slots.get(channel_id).copied()
    }

    /// Whether the table holds a leaf for this virtual channel.
    pub fn contains(&self, channel_id: &B256) -> bool {
        self.slots.contains_key(channel_id)
    }

    /// The leaf of a virtual channel.
    pub fn get(&self, channel_id: &B256) -> Option<&SubAlloc> {
        let slot = self.slot_of(channel_id)?;
        self.leaves.get(slot as usize)?.as_ref()
    }

    /// The leaf in a slot.
    pub fn at(&self, slot: u32) -> Option<&SubAlloc> {
        self.leaves.get(slot as usize)?.as_ref()
    }

    /// Every leaf with its slot, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SubAlloc)> {
        self.leaves
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (i as u32, l)))
    }

    /// The sum of the leaves' amounts of `asset`: what a ledger outcome must lock for it.
    pub fn locked(&self, asset: &Address) -> U256 {
        self.locked.get(asset).copied().unwrap_or_default()
    }

    /// Per asset, the sum of the leaves' amounts (assets with a zero total are left out).
    pub fn locked_totals(&self) -> &BTreeMap<Address, U256> {
        &self.locked
    }

    /// The slot [`SubTree::insert`] would use: the lowest free one.
    pub fn next_slot(&self) -> Result<u32> {
        if self.len() as u64 >= self.max_leaves {
            return Err(Error::TreeFull {
                capacity: self.max_leaves,
            });
        }
        match self.free.first() {
            Some(s) => Ok(*s),
            // Below max_leaves <= 2^32 leaves and no free slot below the width, so the width is below 2^32.
            None => u32::try_from(self.leaves.len()).map_err(|_| Error::TreeFull {
                capacity: self.max_leaves,
            }),
        }
    }

    /// Adds a leaf at the lowest free slot and returns the slot; one position per virtual channel.
    pub fn insert(&mut self, leaf: SubAlloc) -> Result<u32> {
        let slot = self.next_slot()?;
        self.insert_at(slot, leaf)?;
        Ok(slot)
    }

    /// Puts back a leaf a removal took out, at its slot (undoing that removal). Removing the last slot narrows
    /// the table past every trailing free slot, so the slot may lie beyond the width now: the table is widened back
    /// with free slots first, one at a time (each new slot's path rehashed), then the leaf goes in. Only for undoing
    /// the table's own removals; a peer's slot goes through [`SubTree::insert_at`].
    pub fn restore_at(&mut self, slot: u32, leaf: SubAlloc) -> Result<()> {
        if self.slots.contains_key(&leaf.channelId) {
            return Err(Error::DuplicateSubChannel(leaf.channelId));
        }
        if u64::from(slot) >= self.max_leaves || self.len() as u64 >= self.max_leaves {
            return Err(Error::TreeFull {
                capacity: self.max_leaves,
            });
        }
        while self.leaves.len() < slot as usize {
            let idx = self.leaves.len();
            self.leaves.push(None);
            self.resize_levels();
            self.set_leaf_hash(idx, EMPTY_SUBTREES[0]);
            self.free.insert(idx as u32);
        }
        self.insert_at(slot, leaf)
    }

    /// Adds a leaf at a given slot (the slot a peer proposed): a free slot below the width, or the width itself
    /// (the next new slot). Slots further out are refused, so a peer cannot make the table allocate for a far
    /// slot.
    pub fn insert_at(&mut self, slot: u32, leaf: SubAlloc) -> Result<()> {
        if self.slots.contains_key(&leaf.channelId) {
            return Err(Error::DuplicateSubChannel(leaf.channelId));
        }
        if self.len() as u64 >= self.max_leaves {
            return Err(Error::TreeFull {
                capacity: self.max_leaves,
            });
        }
        let idx = slot as usize;
        let append = idx == self.leaves.len();
        if !append && !self.free.contains(&slot) {
            return Err(Error::SlotUnavailable(u64::from(slot)));
        }
        let totals = self.adjusted_totals(&[], &leaf.amounts)?;
        // Checks done; change.
        self.apply_totals(totals);
        if append {
            self.leaves.push(None);
            self.resize_levels();
        } else {
            self.free.remove(&slot);
        }
        let hash = leaf_hash(&leaf);
        self.slots.insert(leaf.channelId, slot);
        self.leaves[idx] = Some(leaf);
        self.set_leaf_hash(idx, hash);
        Ok(())
    }

    /// Removes a virtual channel's leaf and returns it; its slot becomes free (or the table narrows when it was
    /// the last one).
    pub fn remove(&mut self, channel_id: &B256) -> Result<SubAlloc> {
        let slot = self
            .slot_of(channel_id)
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        let idx = slot as usize;
        let amounts = match self.leaves.get(idx) {
            Some(Some(leaf)) => &leaf.amounts,
            _ => return Err(Error::UnknownSubChannel(*channel_id)),
        };
        let totals = self.adjusted_totals(amounts, &[])?;
        // Checks done; change.
        self.apply_totals(totals);
        self.slots.remove(channel_id);
        let leaf = self.leaves[idx]
            .take()
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        self.set_leaf_hash(idx, EMPTY_SUBTREES[0]);
        if idx + 1 == self.leaves.len() {
            // Narrow the table past every trailing free slot; the nodes that stay are unchanged, since the part
            // cut off holds only empty slots.
            while let Some(None) = self.leaves.last() {
                self.leaves.pop();
                self.free.remove(&(self.leaves.len() as u32));
            }
            self.resize_levels();
            self.root = self.fold_root();
        } else {
            self.free.insert(slot);
        }
        Ok(leaf)
    }

    /// Replaces a virtual channel's leaf amounts in place (same slot).
    pub fn update(&mut self, leaf: SubAlloc) -> Result<()> {
        let slot = self
            .slot_of(&leaf.channelId)
            .ok_or(Error::UnknownSubChannel(leaf.channelId))?;
        let idx = slot as usize;
        let old = match self.leaves.get(idx) {
            Some(Some(old)) => &old.amounts,
            _ => return Err(Error::UnknownSubChannel(leaf.channelId)),
        };
        let totals = self.adjusted_totals(old, &leaf.amounts)?;
        // Checks done; change.
        self.apply_totals(totals);
        let hash = leaf_hash(&leaf);
        self.leaves[idx] = Some(leaf);
        self.set_leaf_hash(idx, hash);
        Ok(())
    }

    /// The inclusion proof of a virtual channel's leaf: its slot and the siblings from the leaf upwards, up to
    /// the used height, with trailing empty-subtree siblings trimmed. O(log n).
    pub fn proof(&self, channel_id: &B256) -> Result<LeafProof> {
        let slot = self
            .slot_of(channel_id)
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        let mut siblings: Vec<B256> = (0..self.height())
            .map(|h| {
                let sib = ((slot as usize) >> h) ^ 1;
                self.levels[h]
                    .get(sib)
                    .copied()
                    .unwrap_or(EMPTY_SUBTREES[h])
            })
            .collect();
        while let Some(last) = siblings.last() {
            if *last == EMPTY_SUBTREES[siblings.len() - 1] {
                siblings.pop();
            } else {
                break;
            }
        }
        Ok(LeafProof {
            index: slot,
            siblings,
        })
    }

    /// The leaf of a virtual channel with its proof.
    pub fn leaf_with_proof(&self, channel_id: &B256) -> Result<(SubAlloc, LeafProof)> {
        let proof = self.proof(channel_id)?;
        let leaf = self
            .get(channel_id)
            .cloned()
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        Ok((leaf, proof))
    }

    /// The locked totals after taking `remove` out and putting `add` in, for the assets involved.
    fn adjusted_totals(
        &self,
        remove: &[AssetAmount],
        add: &[AssetAmount],
    ) -> Result<Vec<(Address, U256)>> {
        let mut changed: BTreeMap<Address, U256> = BTreeMap::new();
        for a in remove {
            let cur = changed
                .entry(a.asset)
                .or_insert_with(|| self.locked(&a.asset));
            *cur = cur.checked_sub(a.amount).ok_or(Error::Overflow)?;
        }
        for a in add {
            let cur = changed
                .entry(a.asset)
                .or_insert_with(|| self.locked(&a.asset));
            *cur = cur.checked_add(a.amount).ok_or(Error::Overflow)?;
        }
        Ok(changed.into_iter().collect())
    }

    fn apply_totals(&mut self, totals: Vec<(Address, U256)>) {
        for (asset, total) in totals {
            if total.is_zero() {
                self.locked.remove(&asset);
            } else {
                self.locked.insert(asset, total);
            }
        }
    }

    /// Sizes the stored levels to the width. Nodes added cover only empty slots (`Z[h]`) or lie on the path of
    /// the slot being set, which [`SubTree::set_leaf_hash`] recomputes; nodes cut off covered only empty slots.
    fn resize_levels(&mut self) {
        let width = self.leaves.len();
        if width == 0 {
            self.levels.clear();
            return;
        }
        self.levels.resize_with(height_for(width) + 1, Vec::new);
        for (h, level) in self.levels.iter_mut().enumerate() {
            level.resize(width.div_ceil(1 << h), EMPTY_SUBTREES[h]);
        }
    }

    /// Sets a leaf hash and rehashes its path and the root: O(32) hashes.
    fn set_leaf_hash(&mut self, idx: usize, hash: B256) {
        self.levels[0][idx] = hash;
        let mut i = idx;
        for h in 0..self.height() {
            let parent = i / 2;
            let left = self.levels[h][parent * 2];
            let right = self.levels[h]
                .get(parent * 2 + 1)
                .copied()
                .unwrap_or(EMPTY_SUBTREES[h]);
            self.levels[h + 1][parent] = tree_node(&left, &right);
            i = parent;
        }
        self.root = self.fold_root();
    }

    /// The root: the top stored node, hashed up to depth 32 with empty subtrees on the right.
    fn fold_root(&self) -> B256 {
        let Some(top) = self.levels.last().and_then(|l| l.first()) else {
            return ferry_contracts::empty_root();
        };
        let mut cur = *top;
        for z in EMPTY_SUBTREES.iter().take(TREE_DEPTH).skip(self.height()) {
            cur = tree_node(&cur, z);
        }
        cur
    }
}

/// The serialized form of a [`SubTree`]: its limit and its leaves by slot; the nodes are recomputed on load.
#[derive(Serialize, Deserialize)]
struct TableRepr {
    max_leaves: u64,
    leaves: Vec<(u32, SubAlloc)>,
}

impl From<SubTree> for TableRepr {
    fn from(tree: SubTree) -> Self {
        TableRepr {
            max_leaves: tree.max_leaves,
            leaves: tree.iter().map(|(s, l)| (s, l.clone())).collect(),
        }
    }
}

impl TryFrom<TableRepr> for SubTree {
    type Error = Error;

    fn try_from(repr: TableRepr) -> Result<Self> {
        SubTree::from_slots(repr.max_leaves, repr.leaves)
    }
}

/// The root a leaf and its proof lead to (`ChannelLib.rootFromProof`): levels at and above `siblings.len()` use
/// the empty-subtree hash; more than 32 siblings are refused (`InvalidParams(8)`, as on-chain).
pub fn root_from_proof(leaf: &SubAlloc, proof: &LeafProof) -> Result<B256> {
    if proof.siblings.len() > TREE_DEPTH {
        return Err(Error::InvalidParams(8));
    }
    let mut cur = leaf_hash(leaf);
    for (h, z) in EMPTY_SUBTREES.iter().take(TREE_DEPTH).enumerate() {
        let sib = proof.siblings.get(h).unwrap_or(z);
        cur = if (proof.index >> h) & 1 == 0 {
            tree_node(&cur, sib)
        } else {
            tree_node(sib, &cur)
        };
    }
    Ok(cur)
}

/// Whether `proof` shows `leaf` under `root`.
pub fn verify(root: &B256, leaf: &SubAlloc, proof: &LeafProof) -> bool {
    root_from_proof(leaf, proof).is_ok_and(|r| r == *root)
}
