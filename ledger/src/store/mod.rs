//! Durable storage behind a trait: namespaced keys, versioned values, atomic batches.
//!
//! A [`Store`] maps `(namespace, key)` to bytes. Values written by Ferry carry a one-byte format version in front
//! of their bincode encoding ([`encode`], [`decode`]), so a store written by a newer release is refused with a
//! clear error instead of being misread. Writes happen only through [`Store::commit`], which applies a whole
//! [`Batch`] atomically and durably: after it returns `Ok`, a crash cannot lose any of it; after it fails or the
//! process dies inside it, none of it is visible.
//!
//! The protocol rule built on this (ARCH.md "Store"): the new state and our own signature are committed before
//! the message that carries them can leave the node.
//!
//! Implementations: [`MemoryStore`] (tests and simulations; "durable" for the life of the value, and clonable to
//! model a crash that keeps exactly what was committed) and [`RedbStore`] (the embedded ACID database, the
//! default). [`backup`] exports and imports a channel's records as a file.

pub mod backup;
mod memory;
mod redb_store;

pub use memory::MemoryStore;
pub use redb_store::RedbStore;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The format version written in front of every value Ferry stores. 2: sub-channel leaves hold their routing fee
/// (`SubAlloc::fee`) and an added leaf carries no separate fee; values of version 1 are refused by name (no
/// migration: a store written before holds channels under the old leaf hashing, which the contracts no longer
/// accept). 3: a ledger channel keeps the final state its node signed (S14), a virtual channel whether its open
/// was given up and when its resolution became known (S8, S10), and the adjudicator binds registered states by
/// their full hash (S15) and counts deposits per participant (S16); values of version 2 are refused by name. 4: a
/// ledger channel keeps every proposal of its own refused above the latest supported state, not only the last one
/// (S14); values of version 3 are refused by name.
pub const FORMAT_VERSION: u8 = 4;

/// One write of a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Sets `(namespace, key)` to `value`.
    Put {
        /// Namespace (a table in redb).
        namespace: &'static str,
        /// Key within the namespace.
        key: Vec<u8>,
        /// Value bytes (as [`encode`] makes them).
        value: Vec<u8>,
    },
    /// Removes `(namespace, key)`; removing a missing key is not an error.
    Delete {
        /// Namespace.
        namespace: &'static str,
        /// Key within the namespace.
        key: Vec<u8>,
    },
}

/// Writes committed together by [`Store::commit`]: all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The writes, applied in order (a later write to the same key wins).
    pub writes: Vec<Write>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of raw bytes.
    pub fn put_raw(&mut self, namespace: &'static str, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.writes.push(Write::Put {
            namespace,
            key: key.into(),
            value,
        });
    }

    /// Adds a put of `value`, encoded with [`encode`].
    pub fn put<T: Serialize>(
        &mut self,
        namespace: &'static str,
        key: impl Into<Vec<u8>>,
        value: &T,
    ) -> Result<()> {
        let bytes = encode(value)?;
        self.put_raw(namespace, key, bytes);
        Ok(())
    }

    /// Adds a delete.
    pub fn delete(&mut self, namespace: &'static str, key: impl Into<Vec<u8>>) {
        self.writes.push(Write::Delete {
            namespace,
            key: key.into(),
        });
    }

    /// Whether the batch holds no writes.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Appends another batch's writes after this one's.
    pub fn extend(&mut self, other: Batch) {
        self.writes.extend(other.writes);
    }
}

/// A durable key-value store with atomic batches.
pub trait Store: Send {
    /// The value at `(namespace, key)`, if any.
    fn get(&self, namespace: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Every `(key, value)` of `namespace` whose key starts with `prefix`, in ascending key order.
    fn scan(&self, namespace: &'static str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Applies `batch` atomically and durably; on error nothing of it is applied. A store in group-commit mode
    /// ([`RedbStore::set_group_commit`]) applies it atomically and makes it durable at the next [`Store::sync`].
    fn commit(&mut self, batch: Batch) -> Result<()>;

    /// Makes every commit so far durable (one fsync for all of them). A store whose every commit is durable
    /// already does nothing. Whoever groups commits calls it before anything that depends on them leaves the
    /// process (a message, a transaction, an answer).
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    /// The value at `(namespace, key)`, decoded with [`decode`].
    fn get_decoded<T: DeserializeOwned>(
        &self,
        namespace: &'static str,
        key: &[u8],
    ) -> Result<Option<T>>
    where
        Self: Sized,
    {
        self.get(namespace, key)?
            .map(|bytes| decode(namespace, &bytes))
            .transpose()
    }
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn get(&self, namespace: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        (**self).get(namespace, key)
    }
    fn scan(&self, namespace: &'static str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        (**self).scan(namespace, prefix)
    }
    fn commit(&mut self, batch: Batch) -> Result<()> {
        (**self).commit(batch)
    }
    fn sync(&mut self) -> Result<()> {
        (**self).sync()
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// A record's fingerprint, to skip writing a record that did not change: SHA-256 of its encoding (collision
/// resistant, so a changed record is never taken for the one stored; and computed by the CPU's SHA extensions where
/// it has them, several times faster than Keccak in software on records of kilobytes).
pub fn fingerprint(bytes: &[u8]) -> alloy::primitives::B256 {
    use sha2::Digest;
    alloy::primitives::B256::from(<[u8; 32]>::from(sha2::Sha256::digest(bytes)))
}

/// Encodes `value` as Ferry stores it: [`FORMAT_VERSION`], then its bincode 2 (serde, standard config) encoding.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![FORMAT_VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, bincode_config()).map_err(|e| {
        Error::Codec {
            what: "value",
            reason: e.to_string(),
        }
    })?;
    Ok(out)
}

/// Decodes what [`encode`] wrote; an unknown format version, trailing bytes or malformed data is
/// [`Error::Codec`] naming `what`.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T> {
    let codec = |reason: String| Error::Codec { what, reason };
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| codec("empty value".into()))?;
    if version != FORMAT_VERSION {
        return Err(codec(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let (value, read) = bincode::serde::decode_from_slice(body, bincode_config())
        .map_err(|e| codec(e.to_string()))?;
    if read != body.len() {
        return Err(codec(format!("{} trailing bytes", body.len() - read)));
    }
    Ok(value)
}
