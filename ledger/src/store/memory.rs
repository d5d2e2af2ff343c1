//! [`MemoryStore`]: the in-memory [`Store`] of tests and simulations.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{Batch, Store, Write};
use crate::{Error, Result};

/// An in-memory [`Store`]: one ordered map per namespace.
///
/// A commit is atomic (every write of the batch is checked before any is applied) and "durable" for the life of
/// the value. Cloning it models a crash that keeps exactly what was committed: the clone holds every committed
/// batch and nothing else, since there is no other state to lose. The failure armed by
/// [`fail_next_commit`](MemoryStore::fail_next_commit) is part of the value and is cloned with it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    namespaces: BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>,
    fail_next_commit: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next [`commit`](Store::commit) fail with `Error::Store("injected failure")` and apply nothing, as a
    /// disk error would; the commit after it works again. For crash and error-path tests.
    pub fn fail_next_commit(&mut self) {
        self.fail_next_commit = true;
    }
}

/// Refuses the empty namespace, which no backend can name (a redb table needs a non-empty name).
pub(super) fn check_namespace(namespace: &str) -> Result<()> {
    if namespace.is_empty() {
        return Err(Error::Store("empty namespace name".into()));
    }
    Ok(())
}

impl Store for MemoryStore {
    fn get(&self, namespace: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        check_namespace(namespace)?;
        Ok(self
            .namespaces
            .get(namespace)
            .and_then(|table| table.get(key))
            .cloned())
    }

    fn scan(&self, namespace: &'static str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_namespace(namespace)?;
        let Some(table) = self.namespaces.get(namespace) else {
            return Ok(Vec::new());
        };
        Ok(table
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn commit(&mut self, batch: Batch) -> Result<()> {
        if std::mem::take(&mut self.fail_next_commit) {
            return Err(Error::Store("injected failure".into()));
        }
        // Check everything first: applying to the maps below cannot fail, so the batch is all or nothing.
        for write in &batch.writes {
            match write {
                Write::Put { namespace, .. } | Write::Delete { namespace, .. } => {
                    check_namespace(namespace)?
                }
            }
        }
        for write in batch.writes {
            match write {
                Write::Put {
                    namespace,
                    key,
                    value,
                } => {
                    self.namespaces
                        .entry(namespace)
                        .or_default()
                        .insert(key, value);
                }
                Write::Delete { namespace, key } => {
                    if let Some(table) = self.namespaces.get_mut(namespace) {
                        table.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
pub(super) mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::store::{FORMAT_VERSION, decode, encode};

    const A: &str = "conformance_a";
    const B: &str = "conformance_b";

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Record {
        version: u64,
        note: String,
        bytes: Vec<u8>,
    }

    fn put(store: &mut impl Store, namespace: &'static str, key: &[u8], value: &[u8]) {
        let mut batch = Batch::new();
        batch.put_raw(namespace, key, value.to_vec());
        store.commit(batch).unwrap();
    }

    fn keys(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<Vec<u8>> {
        entries.into_iter().map(|(key, _)| key).collect()
    }

    /// Every namespace-and-key the conformance test may leave behind, for "nothing changed" checks.
    fn snapshot(store: &impl Store) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all = store.scan(A, &[]).unwrap();
        all.extend(store.scan(B, &[]).unwrap());
        all
    }

    /// The behaviour every [`Store`] must have; `store` must be empty.
    pub(crate) fn conformance(store: &mut impl Store) {
        // Empty namespaces: nothing to get, nothing to scan, and no error.
        assert_eq!(store.get(A, b"k").unwrap(), None);
        assert!(store.scan(A, &[]).unwrap().is_empty());
        assert!(store.scan(B, &[0xff]).unwrap().is_empty());
        store.commit(Batch::new()).unwrap();
        assert!(snapshot(store).is_empty());

        // Put, get, overwrite, namespaces kept apart.
        put(store, A, b"k", b"one");
        assert_eq!(store.get(A, b"k").unwrap(), Some(b"one".to_vec()));
        assert_eq!(store.get(B, b"k").unwrap(), None);
        put(store, A, b"k", b"two");
        assert_eq!(store.get(A, b"k").unwrap(), Some(b"two".to_vec()));
        put(store, B, b"k", b"other");
        assert_eq!(store.get(A, b"k").unwrap(), Some(b"two".to_vec()));
        assert_eq!(store.get(B, b"k").unwrap(), Some(b"other".to_vec()));
        put(store, A, b"empty value", b"");
        assert_eq!(store.get(A, b"empty value").unwrap(), Some(Vec::new()));

        // Delete, and delete of a missing key (in a known and in an unknown namespace).
        let mut batch = Batch::new();
        batch.delete(A, b"k".to_vec());
        batch.delete(A, b"never written".to_vec());
        batch.delete("conformance_unknown", b"k".to_vec());
        store.commit(batch).unwrap();
        assert_eq!(store.get(A, b"k").unwrap(), None);
        assert_eq!(store.get(B, b"k").unwrap(), Some(b"other".to_vec()));
        let mut batch = Batch::new();
        batch.delete(A, b"k".to_vec());
        store.commit(batch).unwrap();

        // Within a batch, a later write to the same key wins.
        let mut batch = Batch::new();
        batch.put_raw(A, b"x", b"first".to_vec());
        batch.put_raw(A, b"x", b"second".to_vec());
        batch.put_raw(A, b"y", b"doomed".to_vec());
        batch.delete(A, b"y".to_vec());
        store.commit(batch).unwrap();
        assert_eq!(store.get(A, b"x").unwrap(), Some(b"second".to_vec()));
        assert_eq!(store.get(A, b"y").unwrap(), None);
        let mut batch = Batch::new();
        batch.delete(A, b"x".to_vec());
        batch.delete(A, b"empty value".to_vec());
        batch.delete(B, b"k".to_vec());
        store.commit(batch).unwrap();
        assert!(snapshot(store).is_empty());

        // Scan: ascending order, prefix boundaries, the 0xff end of the key space, the empty key.
        let all: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00, 0xff],
            vec![0x01],
            vec![0x01, 0x00],
            vec![0x01, 0x02],
            vec![0x01, 0x02, 0x03],
            vec![0x01, 0xff],
            vec![0x02],
            vec![0x02, 0x00],
            vec![0xfe, 0xff, 0xff],
            vec![0xff],
            vec![0xff, 0xff],
            vec![0xff, 0xff, 0x00],
            vec![0xff, 0xff, 0xff],
        ];
        let mut batch = Batch::new();
        for key in all.iter().rev() {
            let mut value = b"v".to_vec();
            value.extend_from_slice(key);
            batch.put_raw(A, key.clone(), value);
        }
        batch.put_raw(B, vec![0x01, 0x01], b"in B".to_vec());
        store.commit(batch).unwrap();
        let scanned = store.scan(A, &[]).unwrap();
        assert_eq!(keys(scanned.clone()), all);
        for (key, value) in &scanned {
            assert_eq!(&value[1..], key.as_slice());
        }
        assert_eq!(
            keys(store.scan(A, &[0x01]).unwrap()),
            vec![
                vec![0x01],
                vec![0x01, 0x00],
                vec![0x01, 0x02],
                vec![0x01, 0x02, 0x03],
                vec![0x01, 0xff]
            ]
        );
        assert_eq!(
            keys(store.scan(A, &[0x01, 0x02]).unwrap()),
            vec![vec![0x01, 0x02], vec![0x01, 0x02, 0x03]]
        );
        assert_eq!(
            keys(store.scan(A, &[0x01, 0x02, 0x03, 0x04]).unwrap()),
            Vec::<Vec<u8>>::new()
        );
        assert_eq!(
            keys(store.scan(A, &[0x00]).unwrap()),
            vec![vec![0x00, 0xff]]
        );
        assert!(store.scan(A, &[0x03]).unwrap().is_empty());
        assert!(store.scan(A, &[0x01, 0x01]).unwrap().is_empty());
        assert_eq!(
            keys(store.scan(A, &[0xff]).unwrap()),
            vec![
                vec![0xff],
                vec![0xff, 0xff],
                vec![0xff, 0xff, 0x00],
                vec![0xff, 0xff, 0xff]
            ]
        );
        assert_eq!(
            keys(store.scan(A, &[0xff, 0xff]).unwrap()),
            vec![
                vec![0xff, 0xff],
                vec![0xff, 0xff, 0x00],
                vec![0xff, 0xff, 0xff]
            ]
        );
        assert_eq!(
            keys(store.scan(A, &[0xff, 0xff, 0xff]).unwrap()),
            vec![vec![0xff, 0xff, 0xff]]
        );
        assert!(store.scan(A, &[0xff, 0xff, 0xff, 0xff]).unwrap().is_empty());
        assert_eq!(
            store.scan(B, &[0x01]).unwrap(),
            vec![(vec![0x01, 0x01], b"in B".to_vec())]
        );

        // A failing batch applies nothing, not even the writes before the one that fails.
        let before = snapshot(store);
        let mut batch = Batch::new();
        batch.put_raw(A, vec![0x01], b"changed".to_vec());
        batch.put_raw(B, b"new".to_vec(), b"new".to_vec());
        batch.delete(A, vec![0x02]);
        batch.put_raw("", b"bad".to_vec(), b"bad".to_vec());
        batch.put_raw(A, b"after".to_vec(), b"after".to_vec());
        let err = store.commit(batch).unwrap_err();
        assert!(
            matches!(&err, Error::Store(msg) if msg.contains("empty namespace")),
            "{err}"
        );
        assert_eq!(snapshot(store), before);
        assert!(matches!(store.get("", b"bad"), Err(Error::Store(_))));
        assert!(matches!(store.scan("", &[]), Err(Error::Store(_))));

        // Values as Ferry writes them: format version, then bincode; round trip and refusals.
        let record = Record {
            version: 7,
            note: "signed".into(),
            bytes: vec![0, 1, 0xff],
        };
        let mut batch = Batch::new();
        batch.put(B, b"record".to_vec(), &record).unwrap();
        store.commit(batch).unwrap();
        let raw = store.get(B, b"record").unwrap().unwrap();
        assert_eq!(raw[0], FORMAT_VERSION);
        assert_eq!(raw, encode(&record).unwrap());
        assert_eq!(
            store.get_decoded::<Record>(B, b"record").unwrap(),
            Some(record.clone())
        );
        assert_eq!(store.get_decoded::<Record>(B, b"missing").unwrap(), None);

        let mut newer = raw.clone();
        newer[0] = FORMAT_VERSION + 1;
        let mut trailing = raw.clone();
        trailing.push(0);
        let mut batch = Batch::new();
        batch.put_raw(B, b"newer".to_vec(), newer);
        batch.put_raw(B, b"trailing".to_vec(), trailing);
        batch.put_raw(B, b"truncated".to_vec(), raw[..raw.len() - 1].to_vec());
        batch.put_raw(B, b"empty".to_vec(), Vec::new());
        store.commit(batch).unwrap();
        match store.get_decoded::<Record>(B, b"newer") {
            Err(Error::Codec { what, reason }) => {
                assert_eq!(what, B);
                assert!(reason.contains("format version"), "{reason}");
            }
            other => panic!("newer format accepted: {other:?}"),
        }
        match store.get_decoded::<Record>(B, b"trailing") {
            Err(Error::Codec { reason, .. }) => assert!(reason.contains("trailing"), "{reason}"),
            other => panic!("trailing bytes accepted: {other:?}"),
        }
        assert!(matches!(
            store.get_decoded::<Record>(B, b"truncated"),
            Err(Error::Codec { .. })
        ));
        assert!(matches!(
            store.get_decoded::<Record>(B, b"empty"),
            Err(Error::Codec { .. })
        ));
        assert!(matches!(
            decode::<Record>("x", &[]),
            Err(Error::Codec { .. })
        ));
    }

    #[test]
    fn memory_store_conformance() {
        conformance(&mut MemoryStore::new());
    }

    #[test]
    fn memory_store_conformance_through_box_dyn() {
        let mut store: Box<dyn Store> = Box::new(MemoryStore::new());
        conformance(&mut store);
    }

    #[test]
    fn memory_store_injected_failure_applies_nothing_once() {
        let mut store = MemoryStore::new();
        put(&mut store, A, b"kept", b"1");
        store.fail_next_commit();
        let mut batch = Batch::new();
        batch.put_raw(A, b"lost".to_vec(), b"2".to_vec());
        batch.delete(A, b"kept".to_vec());
        assert_eq!(
            store.commit(batch.clone()),
            Err(Error::Store("injected failure".into()))
        );
        assert_eq!(
            store.scan(A, &[]).unwrap(),
            vec![(b"kept".to_vec(), b"1".to_vec())]
        );
        // Only the next commit fails.
        store.commit(batch).unwrap();
        assert_eq!(
            store.scan(A, &[]).unwrap(),
            vec![(b"lost".to_vec(), b"2".to_vec())]
        );
    }

    #[test]
    fn memory_store_clone_keeps_what_was_committed() {
        let mut store = MemoryStore::new();
        put(&mut store, A, b"committed", b"1");
        let crashed = store.clone();
        put(&mut store, A, b"later", b"2");
        assert_eq!(
            crashed.scan(A, &[]).unwrap(),
            vec![(b"committed".to_vec(), b"1".to_vec())]
        );
        assert_eq!(store.scan(A, &[]).unwrap().len(), 2);
    }
}
