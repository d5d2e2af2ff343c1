//! The sub-channel table: a fixed-depth (32) Merkle tree of `SubAlloc` leaves, one slot per virtual channel
//! (ARCH.md "Sub-channel tree"). Adding, removing or proving one leaf costs O(log n) hashing; the root is cached.
//!
//! Slots are allocated lowest-free first, so with n leaves the used part of the tree has height ⌈log2 n⌉ and
//! proofs carry only that many siblings: everything above is an empty subtree the contract recomputes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use alloy::primitives::B256;
use ferry_contracts::{EMPTY_SUBTREES, LeafProof, SubAlloc, TREE_DEPTH, leaf_hash, tree_node};

use crate::{Error, Result};

/// The sub-channel table of one ledger state.
#[derive(Debug, Clone, Default)]
pub struct SubTree {
    /// `levels[h][i]`: node `i` at height `h` (height 0 = leaf hashes), for the used width only.
    levels: Vec<Vec<B256>>,
    leaves: Vec<Option<SubAlloc>>,
    slots: HashMap<B256, u32>,
    free: BinaryHeap<Reverse<u32>>,
    root: B256,
}

impl PartialEq for SubTree {
    fn eq(&self, other: &Self) -> bool {
        self.root == other.root
    }
}

impl SubTree {
    /// An empty table (root = the empty root).
    pub fn new() -> Self {
        Self {
            root: ferry_contracts::empty_root(),
            ..Default::default()
        }
    }

    /// Builds a table from leaves placed in slots `0..n` in order, in O(n) hashing.
    pub fn from_leaves(leaves: impl IntoIterator<Item = SubAlloc>) -> Result<Self> {
        let mut tree = Self::new();
        let mut hashes = Vec::new();
        for leaf in leaves {
            let slot =
                u32::try_from(tree.leaves.len()).map_err(|_| Error::SlotUnavailable(u64::MAX))?;
            if tree.slots.insert(leaf.channelId, slot).is_some() {
                return Err(Error::DuplicateSubChannel(leaf.channelId));
            }
            hashes.push(leaf_hash(&leaf));
            tree.leaves.push(Some(leaf));
        }
        if hashes.is_empty() {
            return Ok(tree);
        }
        tree.levels.push(hashes);
        for h in 0..TREE_DEPTH {
            let below = &tree.levels[h];
            if below.len() == 1 {
                break;
            }
            let up: Vec<B256> = below
                .chunks(2)
                .map(|pair| tree_node(&pair[0], pair.get(1).unwrap_or(&EMPTY_SUBTREES[h])))
                .collect();
            tree.levels.push(up);
        }
        tree.root = tree.fold_root();
        Ok(tree)
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

    /// The slot of a virtual channel's leaf.
    pub fn slot_of(&self, channel_id: &B256) -> Option<u32> {
        self.slots.get(channel_id).copied()
    }

    /// The leaf of a virtual channel.
    pub fn get(&self, channel_id: &B256) -> Option<&SubAlloc> {
        let slot = self.slot_of(channel_id)?;
        self.leaves.get(slot as usize)?.as_ref()
    }

    /// Every leaf with its slot, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SubAlloc)> {
        self.leaves
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (i as u32, l)))
    }

    /// The lowest free slot.
    pub fn next_slot(&self) -> u32 {
        match self.free.peek() {
            Some(Reverse(s)) => *s,
            None => self.leaves.len() as u32,
        }
    }

    /// Adds a leaf at the lowest free slot; one position per virtual channel.
    pub fn insert(&mut self, leaf: SubAlloc) -> Result<u32> {
        let slot = self.next_slot();
        self.insert_at(slot, leaf)?;
        Ok(slot)
    }

    /// Adds a leaf at a given free slot (the slot a peer proposed).
    pub fn insert_at(&mut self, slot: u32, leaf: SubAlloc) -> Result<()> {
        if self.slots.contains_key(&leaf.channelId) {
            return Err(Error::DuplicateSubChannel(leaf.channelId));
        }
        let idx = slot as usize;
        if self.leaves.get(idx).is_some_and(Option::is_some) {
            return Err(Error::SlotUnavailable(u64::from(slot)));
        }
        if idx >= self.leaves.len() {
            // Slots skipped over become free.
            for s in self.leaves.len()..idx {
                self.free.push(Reverse(s as u32));
            }
            self.leaves.resize(idx + 1, None);
        } else {
            self.free = self.free.drain().filter(|Reverse(s)| *s != slot).collect();
        }
        let hash = leaf_hash(&leaf);
        self.slots.insert(leaf.channelId, slot);
        self.leaves[idx] = Some(leaf);
        self.set_leaf_hash(idx, hash);
        Ok(())
    }

    /// Removes a virtual channel's leaf; its slot becomes free.
    pub fn remove(&mut self, channel_id: &B256) -> Result<SubAlloc> {
        let slot = self
            .slots
            .remove(channel_id)
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        let idx = slot as usize;
        let leaf = self.leaves[idx]
            .take()
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        self.free.push(Reverse(slot));
        self.set_leaf_hash(idx, EMPTY_SUBTREES[0]);
        Ok(leaf)
    }

    /// Replaces a virtual channel's leaf amounts in place.
    pub fn update(&mut self, leaf: SubAlloc) -> Result<()> {
        let slot = self
            .slot_of(&leaf.channelId)
            .ok_or(Error::UnknownSubChannel(leaf.channelId))?;
        let idx = slot as usize;
        let hash = leaf_hash(&leaf);
        self.leaves[idx] = Some(leaf);
        self.set_leaf_hash(idx, hash);
        Ok(())
    }

    /// The inclusion proof of a virtual channel's leaf, trimmed of trailing empty-subtree siblings.
    pub fn proof(&self, channel_id: &B256) -> Result<LeafProof> {
        let slot = self
            .slot_of(channel_id)
            .ok_or(Error::UnknownSubChannel(*channel_id))?;
        let mut siblings: Vec<B256> = (0..self.levels.len().saturating_sub(1))
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

    fn set_leaf_hash(&mut self, idx: usize, hash: B256) {
        // Grow every level to cover the new width, padding with empty subtrees.
        let width = self.leaves.len();
        let mut needed = 1;
        while (1usize << (needed - 1)) < width {
            needed += 1;
        }
        while self.levels.len() < needed {
            self.levels.push(Vec::new());
        }
        for h in 0..self.levels.len() {
            let len = width.div_ceil(1 << h);
            if self.levels[h].len() < len {
                self.levels[h].resize(len, EMPTY_SUBTREES[h]);
            }
        }
        self.levels[0][idx] = hash;
        let mut i = idx;
        for h in 0..self.levels.len() - 1 {
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

    fn fold_root(&self) -> B256 {
        let Some(top) = self.levels.last() else {
            return ferry_contracts::empty_root();
        };
        let height = self.levels.len() - 1;
        let mut cur = top.first().copied().unwrap_or(EMPTY_SUBTREES[height]);
        for h in height..TREE_DEPTH {
            cur = tree_node(&cur, &EMPTY_SUBTREES[h]);
        }
        cur
    }
}

/// The root a leaf and its proof lead to (`ChannelLib.rootFromProof`).
pub fn root_from_proof(leaf: &SubAlloc, proof: &LeafProof) -> Result<B256> {
    if proof.siblings.len() > TREE_DEPTH {
        return Err(Error::InvalidParams(8));
    }
    let mut cur = leaf_hash(leaf);
    for h in 0..TREE_DEPTH {
        let sib = proof.siblings.get(h).copied().unwrap_or(EMPTY_SUBTREES[h]);
        cur = if (proof.index >> h) & 1 == 0 {
            tree_node(&cur, &sib)
        } else {
            tree_node(&sib, &cur)
        };
    }
    Ok(cur)
}

/// Whether `proof` shows `leaf` under `root`.
pub fn verify(root: &B256, leaf: &SubAlloc, proof: &LeafProof) -> bool {
    root_from_proof(leaf, proof).is_ok_and(|r| r == *root)
}
