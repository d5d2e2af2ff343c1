//! [`RedbStore`]: the [`Store`] on the embedded ACID database redb, Ferry's default.

use std::collections::BTreeMap;
use std::path::Path;

use redb::backends::InMemoryBackend;
use redb::{
    Builder, Database, Durability, ReadableDatabase, Table, TableDefinition, TableError,
    WriteTransaction,
};

use super::memory::check_namespace;
use super::{Batch, Store, Write};
use crate::{Error, Result};

/// Raw bytes to raw bytes: one redb table per namespace, named after it.
type RawTable<'a> = TableDefinition<'a, &'static [u8], &'static [u8]>;

fn table(namespace: &str) -> RawTable<'_> {
    // `check_namespace` has refused the empty name, the one name `TableDefinition::new` panics on.
    TableDefinition::new(namespace)
}

fn store_error(context: impl std::fmt::Display, error: impl std::fmt::Display) -> Error {
    Error::Store(format!("redb: {context}: {error}"))
}

/// A [`Store`] in a redb database file (or in memory, for tests): one table per namespace, keys and values as raw
/// bytes.
///
/// [`commit`](Store::commit) is one write transaction with [`Durability::Immediate`]: when it returns `Ok` the
/// batch is on disk (fsynced) and survives a crash; when anything fails before redb's own commit, the transaction
/// is aborted and nothing is applied. If redb's commit itself fails (an I/O error while writing it), redb keeps the
/// batch atomic but cannot say whether it reached the disk, and refuses further writes: the error says so, and the
/// store must be dropped and reopened, which repairs the file to its last complete commit.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    /// Whether commits are fsynced (the default; see [`RedbStore::set_durable`]).
    durable: bool,
    /// Commits are made durable by [`Store::sync`], not each on its own ([`RedbStore::set_group_commit`]).
    group: bool,
    /// A commit since the last durable one.
    unsynced: bool,
}

impl RedbStore {
    /// Opens the database file at `path`, creating it if it does not exist (or is empty). A file that is not a redb
    /// database, or one another handle or process has open, is refused with [`Error::Store`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let db = Database::create(path)
            .map_err(|e| store_error(format_args!("open {}", path.display()), e))?;
        Ok(Self::from_db(db))
    }

    /// [`RedbStore::open`] with redb's page cache capped at `bytes` (redb's default is 1 GiB): a smaller cache
    /// trades reads for memory.
    pub fn open_with_cache(path: impl AsRef<Path>, bytes: usize) -> Result<Self> {
        let path = path.as_ref();
        let db = Builder::new()
            .set_cache_size(bytes)
            .create(path)
            .map_err(|e| store_error(format_args!("open {}", path.display()), e))?;
        Ok(Self::from_db(db))
    }

    /// A fresh database held in memory (redb's in-memory backend): the same engine and transactions as a file,
    /// gone when the value is dropped. For tests and simulations.
    pub fn in_memory() -> Result<Self> {
        let db = Builder::new()
            .create_with_backend(InMemoryBackend::new())
            .map_err(|e| store_error("create in-memory database", e))?;
        Ok(Self::from_db(db))
    }

    /// Wraps an opened database (tests use it with fault-injecting backends).
    #[cfg(test)]
    fn from_database(db: Database) -> Self {
        Self::from_db(db)
    }

    fn from_db(db: Database) -> Self {
        Self {
            db,
            durable: true,
            group: false,
            unsynced: false,
        }
    }

    /// Whether [`commit`](Store::commit) fsyncs (`true`, the default, which the protocol's persistence rule relies
    /// on). `false` is for bulk loads only, such as a benchmark filling a store: a non-durable commit is atomic but
    /// survives a crash only once a durable commit follows it.
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    /// Group commits: each [`commit`](Store::commit) is atomic but not fsynced, and [`Store::sync`] makes all of
    /// them durable with one fsync (redb persists non-durable commits with the next durable one). A crash loses
    /// the commits since the last sync, all of them or none of each, and nothing else; whoever groups commits must
    /// let nothing that depends on them leave before the sync (the node runtime syncs before it sends).
    pub fn set_group_commit(&mut self, group: bool) {
        self.group = group;
    }
}

/// Applies every write of `batch` inside `txn`, opening each namespace's table once.
fn apply(txn: &WriteTransaction, batch: &Batch) -> Result<()> {
    let mut tables: BTreeMap<&'static str, Table<'_, &'static [u8], &'static [u8]>> =
        BTreeMap::new();
    for write in &batch.writes {
        let (namespace, key) = match write {
            Write::Put { namespace, key, .. } | Write::Delete { namespace, key } => {
                (*namespace, key.as_slice())
            }
        };
        let open = match tables.entry(namespace) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => entry.insert(
                txn.open_table(table(namespace))
                    .map_err(|e| store_error(format_args!("open table {namespace}"), e))?,
            ),
        };
        match write {
            Write::Put { value, .. } => {
                open.insert(key, value.as_slice())
                    .map_err(|e| store_error(format_args!("put into {namespace}"), e))?;
            }
            Write::Delete { .. } => {
                open.remove(key)
                    .map_err(|e| store_error(format_args!("delete from {namespace}"), e))?;
            }
        }
    }
    Ok(())
}

impl Store for RedbStore {
    fn get(&self, namespace: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        check_namespace(namespace)?;
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("begin read transaction", e))?;
        let table = match txn.open_table(table(namespace)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(store_error(format_args!("open table {namespace}"), e)),
        };
        let value = table
            .get(key)
            .map_err(|e| store_error(format_args!("get from {namespace}"), e))?;
        Ok(value.map(|guard| guard.value().to_vec()))
    }

    fn scan(&self, namespace: &'static str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        check_namespace(namespace)?;
        let txn = self
            .db
            .begin_read()
            .map_err(|e| store_error("begin read transaction", e))?;
        let table = match txn.open_table(table(namespace)) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(store_error(format_args!("open table {namespace}"), e)),
        };
        let scan_error = |e: redb::StorageError| store_error(format_args!("scan {namespace}"), e);
        let mut out = Vec::new();
        // Keys are ordered bytewise: everything under `prefix` follows it directly, up to the first key that does
        // not start with it (no upper bound to compute, so a prefix of 0xff bytes needs no special case).
        for entry in table.range::<&[u8]>(prefix..).map_err(scan_error)? {
            let (key, value) = entry.map_err(scan_error)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    fn commit(&mut self, batch: Batch) -> Result<()> {
        for write in &batch.writes {
            match write {
                Write::Put { namespace, .. } | Write::Delete { namespace, .. } => {
                    check_namespace(namespace)?
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| store_error("begin write transaction", e))?;
        // Immediate is redb's default; set it explicitly, since the protocol relies on it (fsync before `Ok`).
        let durability = if self.durable && !self.group {
            Durability::Immediate
        } else {
            Durability::None
        };
        let prepared = txn
            .set_durability(durability)
            .map_err(|e| store_error("set durability", e))
            .and_then(|()| apply(&txn, &batch));
        if let Err(error) = prepared {
            return Err(match txn.abort() {
                Ok(()) => error,
                Err(abort) => {
                    let message = match error {
                        Error::Store(message) => message,
                        other => other.to_string(),
                    };
                    Error::Store(format!(
                        "{message}; aborting the transaction also failed: {abort}"
                    ))
                }
            });
        }
        txn.commit().map_err(|e| {
            Error::Store(format!(
                "redb: commit failed: {e} (the batch is all or nothing but may or may not be on disk; \
                 reopen the store before writing again)"
            ))
        })?;
        if self.group {
            self.unsynced = true;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        if !self.unsynced || !self.durable {
            return Ok(());
        }
        // An empty durable commit: redb persists every non-durable commit before it with it (one fsync).
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| store_error("begin write transaction", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| store_error("set durability", e))?;
        txn.commit().map_err(|e| {
            Error::Store(format!(
                "redb: sync failed: {e} (the commits since the last sync may or may not be on disk; \
                 reopen the store before writing again)"
            ))
        })?;
        self.unsynced = false;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::store::MemoryStore;
    use crate::store::memory::tests::conformance;

    const NS: &str = "redb_test";
    const OTHER: &str = "redb_test_other";

    fn put(store: &mut impl Store, namespace: &'static str, key: &[u8], value: &[u8]) {
        let mut batch = Batch::new();
        batch.put_raw(namespace, key, value.to_vec());
        store.commit(batch).unwrap();
    }

    #[test]
    fn redb_store_conformance_in_memory() {
        conformance(&mut RedbStore::in_memory().unwrap());
    }

    #[test]
    fn redb_store_conformance_on_file() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&mut RedbStore::open(dir.path().join("ferry.redb")).unwrap());
    }

    #[test]
    fn redb_store_committed_batch_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.redb");
        {
            let mut store = RedbStore::open(&path).unwrap();
            let mut batch = Batch::new();
            batch.put_raw(NS, b"a", b"1".to_vec());
            batch.put_raw(OTHER, b"b", b"2".to_vec());
            store.commit(batch).unwrap();
            let mut batch = Batch::new();
            batch.put_raw(NS, b"c", b"3".to_vec());
            batch.delete(OTHER, b"b".to_vec());
            store.commit(batch).unwrap();
            // Built but never committed: the process "dies" with it in hand.
            let mut pending = Batch::new();
            pending.put_raw(NS, b"pending", b"4".to_vec());
            pending.delete(NS, b"a".to_vec());
            drop(store);
            drop(pending);
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(
            store.scan(NS, &[]).unwrap(),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"c".to_vec(), b"3".to_vec())
            ]
        );
        assert_eq!(store.get(NS, b"pending").unwrap(), None);
        assert_eq!(store.get(OTHER, b"b").unwrap(), None);
        assert!(store.scan("redb_never_written", &[]).unwrap().is_empty());
    }

    #[test]
    fn redb_store_refuses_a_second_handle_and_a_foreign_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.redb");
        let _open = RedbStore::open(&path).unwrap();
        match RedbStore::open(&path) {
            Err(Error::Store(msg)) => assert!(msg.contains("ferry.redb"), "{msg}"),
            other => panic!("second handle opened: {other:?}"),
        }
        let foreign = dir.path().join("notes.txt");
        std::fs::write(&foreign, vec![b'x'; 8192]).unwrap();
        match RedbStore::open(&foreign) {
            Err(Error::Store(msg)) => assert!(msg.contains("notes.txt"), "{msg}"),
            other => panic!("foreign file opened: {other:?}"),
        }
        assert!(matches!(
            RedbStore::open(dir.path().join("missing-dir").join("x.redb")),
            Err(Error::Store(_))
        ));
    }

    /// The error type of redb's backend I/O methods (without redb's `experimental-api-5` feature).
    type BackendIoError = std::io::Error;

    /// redb's in-memory backend behind a switch that makes every write and sync fail, as a dying disk would.
    #[derive(Debug, Clone)]
    struct FlakyBackend {
        inner: Arc<InMemoryBackend>,
        broken: Arc<AtomicBool>,
    }

    impl FlakyBackend {
        fn check(&self) -> std::result::Result<(), BackendIoError> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("injected disk failure"));
            }
            Ok(())
        }
    }

    impl redb::StorageBackend for FlakyBackend {
        fn len(&self) -> std::result::Result<u64, BackendIoError> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::result::Result<(), BackendIoError> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::result::Result<(), BackendIoError> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::result::Result<(), BackendIoError> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::result::Result<(), BackendIoError> {
            self.check()?;
            self.inner.write(offset, data)
        }
    }

    /// Commits a batch while the disk fails, "crashes", reopens: the batch is not there, what was before is.
    /// With `filler` puts the batch is big enough for redb to write pages before its commit (the failure hits
    /// a put); without, the failure hits redb's commit itself.
    fn failed_commit_applies_nothing(filler: u32, failing_step: &str) {
        let backend = FlakyBackend {
            inner: Arc::new(InMemoryBackend::new()),
            broken: Arc::new(AtomicBool::new(false)),
        };
        let mut store =
            RedbStore::from_database(Builder::new().create_with_backend(backend.clone()).unwrap());
        put(&mut store, NS, b"kept", b"1");

        backend.broken.store(true, Ordering::SeqCst);
        let mut batch = Batch::new();
        batch.put_raw(NS, b"lost", b"2".to_vec());
        batch.delete(NS, b"kept".to_vec());
        for i in 0..filler {
            batch.put_raw(OTHER, i.to_be_bytes(), vec![0xab; 100]);
        }
        match store.commit(batch) {
            Err(Error::Store(msg)) => {
                assert!(msg.contains("injected disk failure"), "{msg}");
                assert!(msg.contains(failing_step), "{msg}");
            }
            other => panic!("commit on a failing disk: {other:?}"),
        }
        // The process dies with the disk still failing; it comes back and reopens what is on "disk".
        drop(store);
        backend.broken.store(false, Ordering::SeqCst);
        let store = RedbStore::from_database(Builder::new().create_with_backend(backend).unwrap());
        assert_eq!(
            store.scan(NS, &[]).unwrap(),
            vec![(b"kept".to_vec(), b"1".to_vec())]
        );
        assert!(store.scan(OTHER, &[]).unwrap().is_empty());
    }

    /// redb's in-memory backend counting its fsyncs.
    #[derive(Debug, Clone, Default)]
    struct CountingBackend {
        inner: Arc<InMemoryBackend>,
        syncs: Arc<std::sync::atomic::AtomicU64>,
    }

    impl redb::StorageBackend for CountingBackend {
        fn len(&self) -> std::result::Result<u64, BackendIoError> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::result::Result<(), BackendIoError> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::result::Result<(), BackendIoError> {
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::result::Result<(), BackendIoError> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::result::Result<(), BackendIoError> {
            self.inner.write(offset, data)
        }
    }

    #[test]
    fn redb_store_group_commits_fsync_once_per_sync_and_a_crash_keeps_what_was_synced() {
        let backend = CountingBackend::default();
        let mut store =
            RedbStore::from_database(Builder::new().create_with_backend(backend.clone()).unwrap());
        store.set_group_commit(true);
        let syncs = || backend.syncs.load(Ordering::SeqCst);
        let before = syncs();
        for i in 0..50u32 {
            put(&mut store, NS, &i.to_be_bytes(), b"synced");
        }
        assert_eq!(syncs(), before, "a grouped commit does not fsync");
        assert_eq!(
            store.get(NS, &7u32.to_be_bytes()).unwrap(),
            Some(b"synced".to_vec())
        );
        store.sync().unwrap();
        let after = syncs();
        assert!(
            after > before && after - before <= 2,
            "one durable commit: {}",
            after - before
        );
        store.sync().unwrap();
        assert_eq!(syncs(), after, "nothing new: no fsync");
        // More commits, then the process dies before its next sync (no clean shutdown).
        for i in 50..60u32 {
            let mut batch = Batch::new();
            batch.put_raw(NS, i.to_be_bytes(), b"unsynced".to_vec());
            batch.put_raw(OTHER, i.to_be_bytes(), b"unsynced".to_vec());
            store.commit(batch).unwrap();
        }
        std::mem::forget(store);
        let store = RedbStore::from_database(Builder::new().create_with_backend(backend).unwrap());
        for i in 0..50u32 {
            assert_eq!(
                store.get(NS, &i.to_be_bytes()).unwrap(),
                Some(b"synced".to_vec())
            );
        }
        // Each later commit is there whole or not at all.
        for i in 50..60u32 {
            let k = i.to_be_bytes();
            assert_eq!(
                store.get(NS, &k).unwrap().is_some(),
                store.get(OTHER, &k).unwrap().is_some()
            );
        }
    }

    #[test]
    fn redb_store_failed_commit_applies_nothing() {
        failed_commit_applies_nothing(0, "commit failed");
    }

    #[test]
    fn redb_store_failed_put_applies_nothing() {
        failed_commit_applies_nothing(2000, "put into");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(bool, Vec<u8>, u8),
        Delete(bool, Vec<u8>),
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![Just(0x00u8), Just(0x01), Just(0x7f), Just(0xff)],
            0..4,
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<bool>(), key(), any::<u8>()).prop_map(|(ns, k, v)| Op::Put(ns, k, v)),
            1 => (any::<bool>(), key()).prop_map(|(ns, k)| Op::Delete(ns, k)),
        ]
    }

    fn namespace(first: bool) -> &'static str {
        if first { NS } else { OTHER }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 32,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn redb_store_matches_memory_store(
            batches in prop::collection::vec(prop::collection::vec(op(), 0..12), 1..8),
            prefixes in prop::collection::vec(key(), 1..6),
        ) {
            let mut memory = MemoryStore::new();
            let mut redb = RedbStore::in_memory().unwrap();
            for ops in batches {
                let mut batch = Batch::new();
                for op in ops {
                    match op {
                        Op::Put(ns, k, v) => batch.put_raw(namespace(ns), k, vec![v; usize::from(v % 4)]),
                        Op::Delete(ns, k) => batch.delete(namespace(ns), k),
                    }
                }
                memory.commit(batch.clone()).unwrap();
                redb.commit(batch).unwrap();
                for ns in [NS, OTHER] {
                    prop_assert_eq!(memory.scan(ns, &[]).unwrap(), redb.scan(ns, &[]).unwrap());
                    for prefix in &prefixes {
                        prop_assert_eq!(memory.scan(ns, prefix).unwrap(), redb.scan(ns, prefix).unwrap());
                        prop_assert_eq!(memory.get(ns, prefix).unwrap(), redb.get(ns, prefix).unwrap());
                    }
                }
            }
        }
    }
}
