//! The local chain state: a redb database that implements [`ContractProvider`].
//!
//! # Layout
//! | table | key | value |
//! |---|---|---|
//! | `contracts` | address (32 bytes) | borsh [`StoredContract`] |
//! | `contract_headers` | address (32 bytes) | borsh [`ContractHeader`]: what a call needs before the code (a warm call never reads the code) |
//! | `storage` | contract (32) ‖ key | value bytes |
//! | `balances` | account (32) ‖ asset (32) | u64 |
//! | `assets` | asset id (32) | borsh [`AssetInfo`] |
//! | `meta` | name | u64: `format`, `height` (last committed block), `txs` (committed transactions) |
//!
//! Every deploy or call runs inside ONE redb write transaction ([`Database::transact`]): the
//! host reads the state through it, its `apply` writes into it, the chain height and the
//! transaction counter are bumped in it, and it commits only when the transaction
//! succeeded. A failed call, a refused deploy or a killed process leaves the file as it was.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tos_engine_api::{Hash, Height};
use tos_host::{
    AssetInfo, ChangeSet, ContractHeader, ContractProvider, ProviderError, StoredContract,
    TxContext,
};

use crate::error::CliError;

const CONTRACTS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("contracts");
const HEADERS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("contract_headers");
const STORAGE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("storage");
const BALANCES: TableDefinition<'_, &[u8; 64], u64> = TableDefinition::new("balances");
const ASSETS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("assets");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The state format this build writes; a database with another one is refused.
/// Format 2 added the contract headers and the entry table kept with each contract.
pub(crate) const STATE_FORMAT: u64 = 2;

/// The simulated chain's first timestamp: 2026-01-01T00:00:00Z.
pub(crate) const GENESIS_TIMESTAMP: u64 = 1_767_225_600;

/// Seconds between two simulated blocks.
pub(crate) const BLOCK_SECONDS: u64 = 5;

/// The block a transaction runs in, as the command line chose it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct BlockAt {
    /// `--height`: the next block when `None`.
    pub(crate) height: Option<Height>,
    /// `--timestamp`: the simulated one when `None`.
    pub(crate) timestamp: Option<u64>,
}

/// The simulated timestamp of the block at `height`: [`GENESIS_TIMESTAMP`] plus
/// [`BLOCK_SECONDS`] per block (saturating).
pub(crate) fn block_timestamp(height: Height) -> u64 {
    GENESIS_TIMESTAMP.saturating_add(height.saturating_mul(BLOCK_SECONDS))
}

/// Where the chain stands: the last committed block and how many transactions committed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct ChainMeta {
    /// Height of the last committed transaction's block (0: nothing committed yet).
    pub(crate) height: Height,
    /// Transactions committed so far.
    pub(crate) txs: u64,
}

impl ChainMeta {
    /// The context of the next transaction, sent by `source`, at `height` or, when `None`, at
    /// the block after the last one.
    ///
    /// Hashes are simulated and deterministic: the block hash is
    /// `blake3("tosvm/block/v1" ‖ height as u64 LE)`, the transaction hash
    /// `blake3("tosvm/tx/v1" ‖ n as u64 LE)` where n is the transaction's 1-based number. The
    /// timestamp is `--timestamp`, or [`block_timestamp`] of the height.
    pub(crate) fn next_tx(&self, source: Hash, at: BlockAt) -> Result<TxContext, CliError> {
        let height = match at.height {
            Some(h) => h,
            None => self
                .height
                .checked_add(1)
                .ok_or_else(|| CliError::user("the chain height is at u64::MAX; pass --height"))?,
        };
        let n = self
            .txs
            .checked_add(1)
            .ok_or_else(|| CliError::user("the transaction counter is exhausted"))?;
        Ok(TxContext {
            height,
            block_hash: block_hash(height),
            tx_hash: tx_hash(n),
            source,
            timestamp: at.timestamp.unwrap_or_else(|| block_timestamp(height)),
        })
    }

    /// The meta after committing a transaction at `height`: the chain height never goes
    /// back (a transaction run with a lower `--height` leaves it where it is).
    pub(crate) fn after(&self, height: Height) -> ChainMeta {
        ChainMeta {
            height: self.height.max(height),
            txs: self.txs.saturating_add(1),
        }
    }
}

/// The simulated hash of the block at `height`.
pub(crate) fn block_hash(height: Height) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tosvm/block/v1");
    h.update(&height.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The simulated hash of the `n`-th transaction (1-based).
pub(crate) fn tx_hash(n: u64) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tosvm/tx/v1");
    h.update(&n.to_le_bytes());
    *h.finalize().as_bytes()
}

fn db_err(what: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError(format!("redb {what}: {e}"))
}

/// The local state file.
pub(crate) struct Database {
    db: redb::Database,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .finish()
    }
}

/// How to open the state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OpenMode {
    /// Create the file (and its folder) when it does not exist.
    Create,
    /// The file must exist.
    Existing,
}

impl Database {
    /// Opens the state at `path`.
    ///
    /// # Errors
    /// A user error naming the file when it is missing (in [`OpenMode::Existing`]), is not a
    /// redb database, is locked by another `tosvm`, or has another format.
    pub(crate) fn open(path: &Path, mode: OpenMode) -> Result<Database, CliError> {
        let shown = path.display();
        if mode == OpenMode::Existing && !path.exists() {
            return Err(CliError::user(format!(
                "no state at {shown} (deploy a contract first, or pass --state)"
            )));
        }
        if mode == OpenMode::Create
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::user(format!(
                    "cannot create the state folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        // redb trusts a file it did not write and may panic on one altered behind its back;
        // such a file is reported as corrupted instead of crashing the command.
        let opened = crate::quiet_catch(|| match mode {
            OpenMode::Create => redb::Database::create(path),
            OpenMode::Existing => redb::Database::open(path),
        });
        let db = match opened {
            Some(Ok(db)) => db,
            Some(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(CliError::user(format!(
                    "the state {shown} is in use by another tosvm process"
                )));
            }
            Some(Err(e)) => {
                return Err(CliError::user(format!(
                    "cannot open the state {shown}: {e} (is it a tosvm state file?)"
                )));
            }
            None => {
                return Err(CliError::user(format!(
                    "the state {shown} is corrupted and cannot be opened"
                )));
            }
        };
        let this = Database {
            db,
            path: path.to_path_buf(),
        };
        this.check_format()?;
        Ok(this)
    }

    fn check_format(&self) -> Result<(), CliError> {
        let read = self.db.begin_read().map_err(|e| self.fault("read", e))?;
        let format = match read.open_table(META) {
            Ok(t) => t
                .get("format")
                .map_err(|e| self.fault("read", e))?
                .map(|g| g.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(self.fault("read", e)),
        };
        match format {
            None | Some(STATE_FORMAT) => Ok(()),
            Some(other) => Err(CliError::user(format!(
                "the state {} has format {other}; this tosvm reads format {STATE_FORMAT} \
                 (start a new state: remove the file or pass another --state)",
                self.path.display()
            ))),
        }
    }

    fn fault(&self, what: &str, e: impl std::fmt::Display) -> CliError {
        CliError::fault(format!("state {}: {what}: {e}", self.path.display()))
    }

    /// The chain meta as committed.
    pub(crate) fn meta(&self) -> Result<ChainMeta, CliError> {
        let read = self.db.begin_read().map_err(|e| self.fault("read", e))?;
        let table = match read.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(ChainMeta::default()),
            Err(e) => return Err(self.fault("read", e)),
        };
        let get = |k: &str| -> Result<u64, CliError> {
            Ok(table
                .get(k)
                .map_err(|e| self.fault("read", e))?
                .map_or(0, |g| g.value()))
        };
        Ok(ChainMeta {
            height: get("height")?,
            txs: get("txs")?,
        })
    }

    /// Runs one transaction: `body` gets a [`ContractProvider`] over a fresh write transaction
    /// and the current meta, and says whether to commit and at which height. On commit the
    /// meta is bumped in the same transaction; otherwise the transaction is aborted and the
    /// file is untouched.
    ///
    /// # Errors
    /// The body's error (nothing is written then), or a fault when redb fails.
    pub(crate) fn transact<T>(
        &self,
        body: impl FnOnce(&mut TxnState<'_>, ChainMeta) -> Result<(T, Option<Height>), CliError>,
    ) -> Result<T, CliError> {
        let meta = self.meta()?;
        let txn = self.db.begin_write().map_err(|e| self.fault("begin", e))?;
        let mut state = TxnState { txn: &txn };
        let (value, commit_at) = body(&mut state, meta)?;
        match commit_at {
            Some(height) => {
                let next = meta.after(height);
                {
                    let mut table = txn.open_table(META).map_err(|e| self.fault("write", e))?;
                    for (k, v) in [
                        ("format", STATE_FORMAT),
                        ("height", next.height),
                        ("txs", next.txs),
                    ] {
                        table.insert(k, v).map_err(|e| self.fault("write", e))?;
                    }
                }
                txn.commit().map_err(|e| self.fault("commit", e))?;
            }
            None => txn.abort().map_err(|e| self.fault("abort", e))?,
        }
        Ok(value)
    }

    /// A read-only view of the committed state.
    pub(crate) fn reader(&self) -> Result<Reader, CliError> {
        Ok(Reader {
            txn: self.db.begin_read().map_err(|e| self.fault("read", e))?,
        })
    }
}

/// A [`ContractProvider`] over one open write transaction: reads see what the transaction
/// wrote so far, and `apply` writes into it without committing.
pub(crate) struct TxnState<'t> {
    txn: &'t WriteTransaction,
}

impl std::fmt::Debug for TxnState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxnState")
    }
}

fn storage_key(contract: &Hash, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + key.len());
    k.extend_from_slice(contract);
    k.extend_from_slice(key);
    k
}

fn balance_key(account: &Hash, asset: &Hash) -> [u8; 64] {
    let mut k = [0; 64];
    k[..32].copy_from_slice(account);
    k[32..].copy_from_slice(asset);
    k
}

fn decode_contract(bytes: &[u8]) -> Result<StoredContract, ProviderError> {
    borsh::from_slice(bytes).map_err(|e| db_err("decoding a stored contract", e))
}

fn decode_asset(bytes: &[u8]) -> Result<AssetInfo, ProviderError> {
    borsh::from_slice(bytes).map_err(|e| db_err("decoding an asset record", e))
}

impl ContractProvider for TxnState<'_> {
    fn contract(&self, address: &Hash) -> Result<Option<StoredContract>, ProviderError> {
        let table = self
            .txn
            .open_table(CONTRACTS)
            .map_err(|e| db_err("open", e))?;
        let got = table.get(address).map_err(|e| db_err("read", e))?;
        got.map(|g| decode_contract(g.value())).transpose()
    }

    fn contract_header(&self, address: &Hash) -> Result<Option<ContractHeader>, ProviderError> {
        let table = self
            .txn
            .open_table(HEADERS)
            .map_err(|e| db_err("open", e))?;
        let got = table.get(address).map_err(|e| db_err("read", e))?;
        got.map(|g| {
            borsh::from_slice(g.value()).map_err(|e| db_err("decoding a contract header", e))
        })
        .transpose()
    }

    fn storage(&self, contract: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
        let table = self
            .txn
            .open_table(STORAGE)
            .map_err(|e| db_err("open", e))?;
        let k = storage_key(contract, key);
        let got = table.get(k.as_slice()).map_err(|e| db_err("read", e))?;
        Ok(got.map(|g| g.value().to_vec()))
    }

    fn balance(&self, account: &Hash, asset: &Hash) -> Result<u64, ProviderError> {
        let table = self
            .txn
            .open_table(BALANCES)
            .map_err(|e| db_err("open", e))?;
        let got = table
            .get(&balance_key(account, asset))
            .map_err(|e| db_err("read", e))?;
        Ok(got.map_or(0, |g| g.value()))
    }

    fn asset(&self, asset: &Hash) -> Result<Option<AssetInfo>, ProviderError> {
        let table = self.txn.open_table(ASSETS).map_err(|e| db_err("open", e))?;
        let got = table.get(asset).map_err(|e| db_err("read", e))?;
        got.map(|g| decode_asset(g.value())).transpose()
    }

    fn apply(&mut self, changes: &ChangeSet) -> Result<(), ProviderError> {
        // Every write lands in the one open transaction; `Database::transact` commits it
        // together with the height bump, or drops it all.
        {
            let mut t = self
                .txn
                .open_table(CONTRACTS)
                .map_err(|e| db_err("open", e))?;
            let mut h = self
                .txn
                .open_table(HEADERS)
                .map_err(|e| db_err("open", e))?;
            for (addr, c) in &changes.contracts {
                match c {
                    Some(c) => {
                        let bytes = borsh::to_vec(c).map_err(|e| db_err("encoding", e))?;
                        t.insert(addr, bytes.as_slice())
                            .map_err(|e| db_err("write", e))?;
                        let header =
                            borsh::to_vec(&c.header()).map_err(|e| db_err("encoding", e))?;
                        h.insert(addr, header.as_slice())
                            .map_err(|e| db_err("write", e))?;
                    }
                    None => {
                        t.remove(addr).map_err(|e| db_err("write", e))?;
                        h.remove(addr).map_err(|e| db_err("write", e))?;
                    }
                }
            }
        }
        {
            let mut t = self
                .txn
                .open_table(STORAGE)
                .map_err(|e| db_err("open", e))?;
            for ((contract, key), v) in &changes.storage {
                let k = storage_key(contract, key);
                match v {
                    Some(v) => {
                        t.insert(k.as_slice(), v.as_slice())
                            .map_err(|e| db_err("write", e))?;
                    }
                    None => {
                        t.remove(k.as_slice()).map_err(|e| db_err("write", e))?;
                    }
                }
            }
        }
        {
            let mut t = self
                .txn
                .open_table(BALANCES)
                .map_err(|e| db_err("open", e))?;
            for ((account, asset), v) in &changes.balances {
                t.insert(&balance_key(account, asset), *v)
                    .map_err(|e| db_err("write", e))?;
            }
        }
        {
            let mut t = self.txn.open_table(ASSETS).map_err(|e| db_err("open", e))?;
            for (id, a) in &changes.assets {
                let bytes = borsh::to_vec(a).map_err(|e| db_err("encoding", e))?;
                t.insert(id, bytes.as_slice())
                    .map_err(|e| db_err("write", e))?;
            }
        }
        Ok(())
    }
}

/// A storage key and its value.
pub(crate) type StorageEntry = (Vec<u8>, Vec<u8>);

/// Reads of the committed state for `storage`, `balance` and the demo.
pub(crate) struct Reader {
    txn: redb::ReadTransaction,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// Opens a table of a read transaction; a table never written reads as absent.
macro_rules! read_table {
    ($txn:expr, $def:expr) => {
        match $txn.open_table($def) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(CliError::fault(format!("state read: {e}"))),
        }
    };
}

fn read_fault(e: impl std::fmt::Display) -> CliError {
    CliError::fault(format!("state read: {e}"))
}

impl Reader {
    /// The contract at `address`.
    pub(crate) fn contract(&self, address: &Hash) -> Result<Option<StoredContract>, CliError> {
        let Some(t) = read_table!(self.txn, CONTRACTS) else {
            return Ok(None);
        };
        let got = t.get(address).map_err(read_fault)?;
        got.map(|g| decode_contract(g.value()).map_err(|e| CliError::fault(e.to_string())))
            .transpose()
    }

    /// The value under `key` of `contract`.
    pub(crate) fn storage(&self, contract: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, CliError> {
        let Some(t) = read_table!(self.txn, STORAGE) else {
            return Ok(None);
        };
        let k = storage_key(contract, key);
        let got = t.get(k.as_slice()).map_err(read_fault)?;
        Ok(got.map(|g| g.value().to_vec()))
    }

    /// Every (key, value) of `contract`, in key order.
    pub(crate) fn storage_all(&self, contract: &Hash) -> Result<Vec<StorageEntry>, CliError> {
        let Some(t) = read_table!(self.txn, STORAGE) else {
            return Ok(Vec::new());
        };
        let start: &[u8] = contract;
        let mut out = Vec::new();
        for item in t.range::<&[u8]>(start..).map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            let Some(key) = k.value().strip_prefix(contract.as_slice()) else {
                break;
            };
            out.push((key.to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The balance of `account` in `asset`.
    pub(crate) fn balance(&self, account: &Hash, asset: &Hash) -> Result<u64, CliError> {
        let Some(t) = read_table!(self.txn, BALANCES) else {
            return Ok(0);
        };
        let got = t.get(&balance_key(account, asset)).map_err(read_fault)?;
        Ok(got.map_or(0, |g| g.value()))
    }

    /// Every (asset, amount) recorded for `account`, in asset order.
    pub(crate) fn balances(&self, account: &Hash) -> Result<Vec<(Hash, u64)>, CliError> {
        let Some(t) = read_table!(self.txn, BALANCES) else {
            return Ok(Vec::new());
        };
        let mut from = [0u8; 64];
        from[..32].copy_from_slice(account);
        let mut out = Vec::new();
        for item in t.range::<&[u8; 64]>(&from..).map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            let k = k.value();
            if k[..32] != account[..] {
                break;
            }
            let mut asset = [0; 32];
            asset.copy_from_slice(&k[32..]);
            out.push((asset, v.value()));
        }
        Ok(out)
    }

    /// The asset `id`.
    pub(crate) fn asset(&self, id: &Hash) -> Result<Option<AssetInfo>, CliError> {
        let Some(t) = read_table!(self.txn, ASSETS) else {
            return Ok(None);
        };
        let got = t.get(id).map_err(read_fault)?;
        got.map(|g| decode_asset(g.value()).map_err(|e| CliError::fault(e.to_string())))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("s/state.redb"), OpenMode::Create).unwrap();
        (dir, db)
    }

    fn changes() -> ChangeSet {
        let mut c = ChangeSet::default();
        c.storage
            .insert(([1; 32], b"count".to_vec()), Some(vec![7; 8]));
        c.storage.insert(([1; 32], b"z".to_vec()), Some(vec![1]));
        c.storage
            .insert(([2; 32], b"other".to_vec()), Some(vec![2]));
        c.balances.insert(([3; 32], [0; 32]), 50);
        c.balances.insert(([3; 32], [9; 32]), 5);
        c.balances.insert(([4; 32], [0; 32]), 1);
        c
    }

    #[test]
    fn apply_then_commit_is_read_back_with_the_height_bump() {
        let (_d, db) = fresh();
        db.transact(|s, m| {
            assert_eq!(m, ChainMeta::default());
            s.apply(&changes()).map_err(|e| CliError::fault(e.0))?;
            // Reads inside the transaction see its own writes.
            assert_eq!(s.storage(&[1; 32], b"count").unwrap(), Some(vec![7; 8]));
            Ok(((), Some(1)))
        })
        .unwrap();
        assert_eq!(db.meta().unwrap(), ChainMeta { height: 1, txs: 1 });
        let r = db.reader().unwrap();
        assert_eq!(
            r.storage_all(&[1; 32]).unwrap(),
            vec![(b"count".to_vec(), vec![7; 8]), (b"z".to_vec(), vec![1])]
        );
        assert_eq!(r.storage_all(&[5; 32]).unwrap(), vec![]);
        assert_eq!(
            r.balances(&[3; 32]).unwrap(),
            vec![([0; 32], 50), ([9; 32], 5)]
        );
        assert_eq!(r.balance(&[4; 32], &[0; 32]).unwrap(), 1);
        assert_eq!(r.balance(&[4; 32], &[1; 32]).unwrap(), 0);
    }

    #[test]
    fn a_transaction_that_does_not_commit_leaves_nothing() {
        let (_d, db) = fresh();
        db.transact(|s, _| {
            s.apply(&changes()).map_err(|e| CliError::fault(e.0))?;
            Ok(((), None))
        })
        .unwrap();
        let err = db
            .transact(|s, _| -> Result<((), Option<Height>), CliError> {
                s.apply(&changes()).map_err(|e| CliError::fault(e.0))?;
                Err(CliError::user("refused"))
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "refused");
        assert_eq!(db.meta().unwrap(), ChainMeta::default());
        assert_eq!(db.reader().unwrap().storage_all(&[1; 32]).unwrap(), vec![]);
    }

    #[test]
    fn deletes_and_heights_follow_the_rules() {
        let (_d, db) = fresh();
        db.transact(|s, _| {
            s.apply(&changes()).map_err(|e| CliError::fault(e.0))?;
            Ok(((), Some(10)))
        })
        .unwrap();
        db.transact(|s, m| {
            let tx = m.next_tx([0; 32], BlockAt::default())?;
            assert_eq!(tx.height, 11);
            assert_eq!(tx.tx_hash, tx_hash(2));
            let mut c = ChangeSet::default();
            c.storage.insert(([1; 32], b"z".to_vec()), None);
            s.apply(&c).map_err(|e| CliError::fault(e.0))?;
            // A lower explicit height does not move the chain back.
            Ok(((), Some(3)))
        })
        .unwrap();
        assert_eq!(db.meta().unwrap(), ChainMeta { height: 10, txs: 2 });
        assert_eq!(db.reader().unwrap().storage(&[1; 32], b"z").unwrap(), None);
    }

    #[test]
    fn garbage_and_missing_files_are_user_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing =
            Database::open(&dir.path().join("nope.redb"), OpenMode::Existing).unwrap_err();
        assert!(missing.to_string().contains("no state at"), "{missing}");
        let junk = dir.path().join("junk.redb");
        std::fs::write(&junk, vec![0x5a; 9000]).unwrap();
        let e = Database::open(&junk, OpenMode::Existing).unwrap_err();
        assert!(!e.is_fault());
        assert!(e.to_string().contains("junk.redb"), "{e}");
    }

    #[test]
    fn hashes_are_deterministic_and_distinct() {
        assert_eq!(block_hash(5), block_hash(5));
        assert_ne!(block_hash(5), block_hash(6));
        assert_ne!(block_hash(1), tx_hash(1));
    }
}
