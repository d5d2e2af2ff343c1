//! Export and import of one channel's records as a backup file.
//!
//! Every per-channel key of a Ferry store starts with the channel's 32-byte id, so a channel's records are the
//! keys under that prefix in the channel namespaces. [`export`] collects them into a [`Backup`]; the file is
//!
//! ```text
//! b"FERRYBAK" | FORMAT_VERSION (1 byte) | bincode body of the Backup | keccak256(body) (32 bytes)
//! ```
//!
//! [`import`] checks all of it (magic, version, checksum, that every namespace is known and every key belongs to
//! the channel) and that the target store has no record of the channel yet, then writes everything in one
//! [`Batch`]: a backup is imported whole or not at all. [`export_to_file`] writes through a temporary file that is
//! fsynced and renamed into place, so a crash never leaves half a backup under the final name.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use alloy::primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

use super::{Batch, FORMAT_VERSION, Store};
use crate::{Error, Result};

/// The first bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"FERRYBAK";

/// Length of the checksum that ends a backup file.
const CHECKSUM_LEN: usize = 32;

/// The largest backup body [`Backup::from_bytes`] decodes (one channel's records are far smaller).
pub const MAX_BODY_LEN: usize = 512 << 20;

/// The bincode configuration of a backup body: bincode 2's standard one, as [`encode`](super::encode) uses.
fn body_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Decodes a body with bincode's allocation limit at four times the size tier of the body: bincode allocates a
/// string's claimed length before reading it, so without a limit a crafted length (behind a valid checksum, which
/// anyone can compute) would make the node try to allocate terabytes.
fn decode_body(body: &[u8]) -> std::result::Result<(Backup, usize), String> {
    fn limited<const LIMIT: usize>(
        body: &[u8],
    ) -> std::result::Result<(Backup, usize), bincode::error::DecodeError> {
        bincode::serde::decode_from_slice(body, body_config().with_limit::<LIMIT>())
    }
    let decoded = match body.len() {
        len if len <= 1 << 20 => limited::<{ 4 << 20 }>(body),
        len if len <= 64 << 20 => limited::<{ 256 << 20 }>(body),
        len if len <= MAX_BODY_LEN => limited::<{ 4 * MAX_BODY_LEN }>(body),
        len => {
            return Err(format!(
                "body of {len} bytes, more than the {MAX_BODY_LEN} a backup may have"
            ));
        }
    };
    decoded.map_err(|e| format!("malformed body: {e}"))
}

/// One channel's records, as a backup file carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// The format version of the file (and of the values in it): [`FORMAT_VERSION`] when written by this build.
    pub format: u8,
    /// The channel whose records these are; every key starts with it.
    pub channel_id: B256,
    /// `(namespace, key, value)` for every record, namespace by namespace (in the order given to [`export`]) and in
    /// ascending key order within a namespace.
    pub entries: Vec<(String, Vec<u8>, Vec<u8>)>,
}

fn codec(reason: impl Into<String>) -> Error {
    Error::Codec {
        what: "backup",
        reason: reason.into(),
    }
}

impl Backup {
    /// Encodes the backup as a file's bytes: magic, format version, bincode body, keccak256 of the body.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let body = bincode::serde::encode_to_vec(self, body_config())
            .map_err(|e| codec(format!("encode: {e}")))?;
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + body.len() + CHECKSUM_LEN);
        out.extend_from_slice(MAGIC);
        out.push(self.format);
        out.extend_from_slice(&body);
        out.extend_from_slice(keccak256(&body).as_slice());
        Ok(out)
    }

    /// Decodes a file's bytes, checking the magic, the format version, the checksum, the body's encoding (no
    /// trailing bytes, at most [`MAX_BODY_LEN`] bytes) and that the body's own format field agrees. Every failure is an [`Error::Codec`] naming
    /// `"backup"`. The entries themselves are checked by [`import`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let minimum = MAGIC.len() + 1 + CHECKSUM_LEN;
        if bytes.len() < minimum {
            return Err(codec(format!(
                "truncated: {} bytes, a backup has at least {minimum}",
                bytes.len()
            )));
        }
        let (magic, rest) = bytes.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(codec("not a Ferry backup (wrong magic)"));
        }
        let (&version, rest) = rest
            .split_first()
            .ok_or_else(|| codec("truncated: no format version"))?;
        if version != FORMAT_VERSION {
            return Err(codec(format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            )));
        }
        let (body, checksum) = rest.split_at(rest.len() - CHECKSUM_LEN);
        if keccak256(body).as_slice() != checksum {
            return Err(codec("checksum mismatch: the file is corrupt or truncated"));
        }
        let (backup, read) = decode_body(body).map_err(codec)?;
        if read != body.len() {
            return Err(codec(format!("{} trailing bytes", body.len() - read)));
        }
        if backup.format != version {
            return Err(codec(format!(
                "body says format version {}, header says {version}",
                backup.format
            )));
        }
        Ok(backup)
    }
}

/// Collects every record of `channel_id` (each key starting with the channel id) in `namespaces` and encodes it as
/// a backup file's bytes. A namespace named twice is read once. A channel with no record at all is refused with
/// [`Error::Store`]: an empty backup is almost certainly a wrong id or namespace list.
pub fn export<S: Store + ?Sized>(
    store: &S,
    channel_id: &B256,
    namespaces: &[&'static str],
) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    for (i, namespace) in namespaces.iter().enumerate() {
        if namespaces[..i].contains(namespace) {
            continue;
        }
        for (key, value) in store.scan(namespace, channel_id.as_slice())? {
            entries.push((namespace.to_string(), key, value));
        }
    }
    if entries.is_empty() {
        return Err(Error::Store(format!(
            "backup: no record of channel {channel_id} in namespaces {namespaces:?}"
        )));
    }
    Backup {
        format: FORMAT_VERSION,
        channel_id: *channel_id,
        entries,
    }
    .to_bytes()
}

/// Imports a backup made by [`export`] into `store`, in one batch, and returns its channel id.
///
/// Refused, with nothing written: a file that [`Backup::from_bytes`] refuses, an entry whose namespace is not in
/// `namespaces` or whose key does not start with the channel id ([`Error::Codec`]), and a store that already holds
/// any record of the channel in `namespaces` ([`Error::Store`]; importing over a live channel could roll it back).
pub fn import<S: Store + ?Sized>(
    store: &mut S,
    bytes: &[u8],
    namespaces: &[&'static str],
) -> Result<B256> {
    let backup = Backup::from_bytes(bytes)?;
    let channel_id = backup.channel_id;
    let mut batch = Batch::new();
    for (name, key, value) in backup.entries {
        let namespace = namespaces
            .iter()
            .copied()
            .find(|namespace| *namespace == name)
            .ok_or_else(|| {
                codec(format!(
                    "entry in namespace {name:?}, which is not one of {namespaces:?}"
                ))
            })?;
        if !key.starts_with(channel_id.as_slice()) {
            return Err(codec(format!(
                "entry key 0x{} in {namespace} is not under channel {channel_id}",
                alloy::primitives::hex::encode(&key)
            )));
        }
        batch.put_raw(namespace, key, value);
    }
    for namespace in namespaces {
        if !store.scan(namespace, channel_id.as_slice())?.is_empty() {
            return Err(Error::Store(format!(
                "backup: channel {channel_id} already has records in namespace {namespace}; refusing to import \
                 over them"
            )));
        }
    }
    store.commit(batch)?;
    Ok(channel_id)
}

fn io_error(action: &str, path: &Path, error: std::io::Error) -> Error {
    Error::Store(format!("backup: {action} {}: {error}", path.display()))
}

/// [`export`]s the channel into the file at `path`, replacing any file there only once the new one is complete:
/// the bytes go to a temporary file in the same directory, which is fsynced, renamed over `path`, and the directory
/// fsynced. A crash leaves either the old file or the new one (and perhaps a stray `.tmp` file), never half a
/// backup.
pub fn export_to_file<S: Store + ?Sized>(
    path: impl AsRef<Path>,
    store: &S,
    channel_id: &B256,
    namespaces: &[&'static str],
) -> Result<()> {
    let path = path.as_ref();
    let bytes = export(store, channel_id, namespaces)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Store(format!("backup: {} names no file", path.display())))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    let temp = dir.join(temp_name);

    if let Err(error) = write_synced(&temp, &bytes)
        .and_then(|()| fs::rename(&temp, path).map_err(|e| io_error("rename into place", path, e)))
    {
        // Best effort: the temporary file is not the backup, whatever state it is in.
        let _ = fs::remove_file(&temp);
        return Err(error);
    }
    sync_dir(&dir)
}

/// Writes `bytes` to the new file `path` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io_error("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| io_error("write", path, e))?;
    file.sync_all().map_err(|e| io_error("fsync", path, e))
}

/// Makes a rename in `dir` durable: on Unix by fsyncing the directory; elsewhere the rename is all there is.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("fsync directory", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads the backup file at `path` and [`import`]s it.
pub fn import_from_file<S: Store + ?Sized>(
    path: impl AsRef<Path>,
    store: &mut S,
    namespaces: &[&'static str],
) -> Result<B256> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| io_error("read", path, e))?;
    import(store, &bytes, namespaces)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::store::{MemoryStore, RedbStore};

    const STATES: &str = "backup_states";
    const SIGS: &str = "backup_sigs";
    const GLOBAL: &str = "backup_global";
    const NAMESPACES: &[&str] = &[STATES, SIGS];

    fn channel(byte: u8) -> B256 {
        B256::repeat_byte(byte)
    }

    fn key(channel_id: &B256, suffix: &[u8]) -> Vec<u8> {
        let mut key = channel_id.to_vec();
        key.extend_from_slice(suffix);
        key
    }

    /// Two channels side by side (0xaa and its neighbour 0xab), plus a key that is not per-channel.
    fn populate(store: &mut impl Store) {
        let mut batch = Batch::new();
        for id in [channel(0xaa), channel(0xab)] {
            batch.put_raw(STATES, key(&id, &[]), b"channel record".to_vec());
            for version in 0u64..3 {
                batch.put_raw(
                    STATES,
                    key(&id, &version.to_be_bytes()),
                    format!("state {version} of {id}").into_bytes(),
                );
            }
            batch.put_raw(SIGS, key(&id, b"sig"), vec![0xff; 65]);
        }
        // Shares the first 31 bytes with channel 0xaa's prefix.
        let mut near = channel(0xaa).to_vec();
        near[31] = 0xa9;
        batch.put_raw(STATES, near, b"not under 0xaa".to_vec());
        batch.put_raw(GLOBAL, b"node config".to_vec(), b"x".to_vec());
        store.commit(batch).unwrap();
    }

    fn snapshot(store: &impl Store) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
        let mut all = Vec::new();
        for namespace in [STATES, SIGS, GLOBAL] {
            for (key, value) in store.scan(namespace, &[]).unwrap() {
                all.push((namespace, key, value));
            }
        }
        all
    }

    fn channel_records(store: &impl Store, id: &B256) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
        snapshot(store)
            .into_iter()
            .filter(|(namespace, key, _)| {
                NAMESPACES.contains(namespace) && key.starts_with(id.as_slice())
            })
            .collect()
    }

    fn source() -> MemoryStore {
        let mut store = MemoryStore::new();
        populate(&mut store);
        store
    }

    /// Asserts that importing `bytes` into a store holding `existing` fails with a message containing `needle`
    /// and leaves the store as it was.
    fn refused(bytes: &[u8], namespaces: &[&'static str], existing: &MemoryStore, needle: &str) {
        let mut target = existing.clone();
        let before = snapshot(&target);
        let err = import(&mut target, bytes, namespaces).unwrap_err();
        assert!(
            err.to_string().contains(needle),
            "expected {needle:?} in: {err}"
        );
        assert_eq!(snapshot(&target), before);
    }

    #[test]
    fn backup_round_trips_exactly() {
        let source = source();
        let id = channel(0xaa);
        let bytes = export(&source, &id, NAMESPACES).unwrap();
        assert_eq!(&bytes[..8], MAGIC);
        assert_eq!(bytes[8], FORMAT_VERSION);
        let backup = Backup::from_bytes(&bytes).unwrap();
        assert_eq!(backup.channel_id, id);
        assert_eq!(backup.entries.len(), 5);

        let mut target = MemoryStore::new();
        assert_eq!(import(&mut target, &bytes, NAMESPACES).unwrap(), id);
        assert_eq!(snapshot(&target), channel_records(&source, &id));
        assert!(channel_records(&target, &channel(0xab)).is_empty());

        // Into a redb store, back out again: the same bytes.
        let mut redb = RedbStore::in_memory().unwrap();
        let dyn_store: &mut dyn Store = &mut redb;
        assert_eq!(import(dyn_store, &bytes, NAMESPACES).unwrap(), id);
        assert_eq!(export(&redb, &id, NAMESPACES).unwrap(), bytes);
        // Namespaces named twice are read once.
        assert_eq!(
            export(&source, &id, &[STATES, SIGS, STATES]).unwrap(),
            bytes
        );
    }

    #[test]
    fn backup_import_next_to_other_channels() {
        let source = source();
        let bytes = export(&source, &channel(0xaa), NAMESPACES).unwrap();
        let mut target = MemoryStore::new();
        let mut batch = Batch::new();
        batch.put_raw(STATES, key(&channel(0xab), b"live"), b"kept".to_vec());
        target.commit(batch).unwrap();
        import(&mut target, &bytes, NAMESPACES).unwrap();
        assert_eq!(
            channel_records(&target, &channel(0xaa)),
            channel_records(&source, &channel(0xaa))
        );
        assert_eq!(
            target.get(STATES, &key(&channel(0xab), b"live")).unwrap(),
            Some(b"kept".to_vec())
        );
    }

    #[test]
    fn backup_export_of_unknown_channel_is_refused() {
        let err = export(&source(), &channel(0x01), NAMESPACES).unwrap_err();
        assert!(
            matches!(&err, Error::Store(msg) if msg.contains("no record")),
            "{err}"
        );
    }

    #[test]
    fn backup_corrupt_byte_is_refused() {
        let bytes = export(&source(), &channel(0xaa), NAMESPACES).unwrap();
        let empty = MemoryStore::new();
        for position in [9, bytes.len() / 2, bytes.len() - 33, bytes.len() - 1] {
            let mut corrupt = bytes.clone();
            corrupt[position] ^= 0x01;
            refused(&corrupt, NAMESPACES, &empty, "checksum mismatch");
        }
    }

    #[test]
    fn backup_wrong_magic_or_version_is_refused() {
        let bytes = export(&source(), &channel(0xaa), NAMESPACES).unwrap();
        let empty = MemoryStore::new();
        let mut wrong = bytes.clone();
        wrong[0] = b'G';
        refused(&wrong, NAMESPACES, &empty, "wrong magic");
        let mut newer = bytes.clone();
        newer[8] = FORMAT_VERSION + 1;
        refused(&newer, NAMESPACES, &empty, "format version");
        refused(
            b"{\"json\": true} and more bytes to pass the length check",
            NAMESPACES,
            &empty,
            "wrong magic",
        );
    }

    #[test]
    fn backup_truncated_file_is_refused() {
        let bytes = export(&source(), &channel(0xaa), NAMESPACES).unwrap();
        let empty = MemoryStore::new();
        for len in [0, 5, 8, 9, 40] {
            refused(&bytes[..len], NAMESPACES, &empty, "truncated");
        }
        for len in [41, bytes.len() / 2, bytes.len() - 32, bytes.len() - 1] {
            refused(&bytes[..len], NAMESPACES, &empty, "checksum mismatch");
        }
        let mut extended = bytes.clone();
        extended.push(0);
        refused(&extended, NAMESPACES, &empty, "checksum mismatch");
    }

    #[test]
    fn backup_with_valid_checksum_but_trailing_body_bytes_is_refused() {
        let backup =
            Backup::from_bytes(&export(&source(), &channel(0xaa), NAMESPACES).unwrap()).unwrap();
        let bytes = backup.to_bytes().unwrap();
        let mut body = bytes[9..bytes.len() - 32].to_vec();
        body.push(0);
        let mut forged = bytes[..9].to_vec();
        forged.extend_from_slice(&body);
        forged.extend_from_slice(keccak256(&body).as_slice());
        refused(&forged, NAMESPACES, &MemoryStore::new(), "trailing bytes");
    }

    #[test]
    fn backup_with_crafted_huge_length_is_refused_without_allocating() {
        // A body whose namespace string claims 2^40 bytes, behind a valid checksum.
        let mut body = vec![FORMAT_VERSION, 32];
        body.extend_from_slice(channel(0xaa).as_slice());
        body.push(1); // one entry
        body.push(253); // varint: a u64 follows
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        body.extend_from_slice(b"states");
        let mut forged = MAGIC.to_vec();
        forged.push(FORMAT_VERSION);
        forged.extend_from_slice(&body);
        forged.extend_from_slice(keccak256(&body).as_slice());
        refused(
            &forged,
            NAMESPACES,
            &MemoryStore::new(),
            "malformed body: LimitExceeded",
        );
    }

    #[test]
    fn backup_unknown_namespace_is_refused() {
        let bytes = export(&source(), &channel(0xaa), NAMESPACES).unwrap();
        let empty = MemoryStore::new();
        refused(
            &bytes,
            &[STATES],
            &empty,
            "\"backup_sigs\", which is not one of",
        );

        let mut backup = Backup::from_bytes(&bytes).unwrap();
        backup.entries[0].0 = "backup_renamed".into();
        refused(
            &backup.to_bytes().unwrap(),
            NAMESPACES,
            &empty,
            "backup_renamed",
        );
    }

    #[test]
    fn backup_key_of_another_channel_is_refused() {
        let bytes = export(&source(), &channel(0xaa), NAMESPACES).unwrap();
        let empty = MemoryStore::new();
        let mut backup = Backup::from_bytes(&bytes).unwrap();
        backup.entries.push((
            SIGS.into(),
            key(&channel(0xab), b"sig"),
            b"smuggled".to_vec(),
        ));
        refused(
            &backup.to_bytes().unwrap(),
            NAMESPACES,
            &empty,
            "is not under channel",
        );

        let mut short = Backup::from_bytes(&bytes).unwrap();
        short.entries[1].1 = vec![0xaa; 31];
        refused(
            &short.to_bytes().unwrap(),
            NAMESPACES,
            &empty,
            "is not under channel",
        );
    }

    #[test]
    fn backup_import_over_existing_channel_is_refused() {
        let source = source();
        let bytes = export(&source, &channel(0xaa), NAMESPACES).unwrap();
        // The source itself holds the channel.
        refused(&bytes, NAMESPACES, &source, "already has records");
        // A single record of the channel, in any of the namespaces, is enough.
        let mut target = MemoryStore::new();
        let mut batch = Batch::new();
        batch.put_raw(SIGS, key(&channel(0xaa), b"newer sig"), b"live".to_vec());
        target.commit(batch).unwrap();
        refused(
            &bytes,
            NAMESPACES,
            &target,
            "already has records in namespace backup_sigs",
        );
    }

    #[test]
    fn backup_failed_commit_leaves_store_unchanged() {
        let bytes = export(&source(), &channel(0xaa), NAMESPACES).unwrap();
        let mut target = MemoryStore::new();
        target.fail_next_commit();
        assert_eq!(
            import(&mut target, &bytes, NAMESPACES),
            Err(Error::Store("injected failure".into()))
        );
        assert!(snapshot(&target).is_empty());
        assert_eq!(
            import(&mut target, &bytes, NAMESPACES).unwrap(),
            channel(0xaa)
        );
    }

    #[test]
    fn backup_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("channel-aa.ferrybak");
        let source = source();
        let id = channel(0xaa);
        export_to_file(&path, &source, &id, NAMESPACES).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            export(&source, &id, NAMESPACES).unwrap()
        );
        // Replaces an older backup whole, and leaves no temporary file behind.
        export_to_file(&path, &source, &id, NAMESPACES).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("channel-aa.ferrybak")]);

        let redb_path = dir.path().join("restored.redb");
        let mut target = RedbStore::open(&redb_path).unwrap();
        assert_eq!(
            import_from_file(&path, &mut target, NAMESPACES).unwrap(),
            id
        );
        drop(target);
        let target = RedbStore::open(&redb_path).unwrap();
        assert_eq!(snapshot(&target), channel_records(&source, &id));
    }

    #[test]
    fn backup_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let source = source();
        let id = channel(0xaa);
        let missing_dir = dir.path().join("no such dir").join("b.ferrybak");
        let err = export_to_file(&missing_dir, &source, &id, NAMESPACES).unwrap_err();
        assert!(
            matches!(&err, Error::Store(msg) if msg.contains("no such dir")),
            "{err}"
        );
        assert!(export_to_file(dir.path().join(".."), &source, &id, NAMESPACES).is_err());

        let mut target = MemoryStore::new();
        let err = import_from_file(dir.path().join("absent.ferrybak"), &mut target, NAMESPACES)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Store(msg) if msg.contains("absent.ferrybak")),
            "{err}"
        );

        let half = dir.path().join("half.ferrybak");
        let bytes = export(&source, &id, NAMESPACES).unwrap();
        fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
        let err = import_from_file(&half, &mut target, NAMESPACES).unwrap_err();
        assert!(matches!(err, Error::Codec { what: "backup", .. }), "{err}");
        assert!(snapshot(&target).is_empty());
    }
}
