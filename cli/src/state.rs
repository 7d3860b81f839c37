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
//! | `history` | sequence number (u64) | borsh [`Undo`]: what a commit overwrote, for `state rewind` |
//! | `integrity` | `digest` | blake3 of everything above ([`digest_read`]), checked at every open |
//!
//! Every process opens the file in redb's `SingleWriter` mode: one writer, and any number of
//! read-only handles beside it ([`OpenMode::ReadOnly`], for the commands that only read).
//! Nothing redb does on a damaged file reaches the user as a panic: opens are guarded, the
//! content digest is checked before any answer, and a panic raised inside redb later is turned
//! into the one-line "damaged" error of [`damaged_message`] (exit 2) by the panic hook.
//!
//! Every deploy or call runs inside ONE redb write transaction ([`Database::transact`]): the
//! host reads the state through it, its `apply` writes into it, the chain height and the
//! transaction counter are bumped in it, and it commits only when the transaction
//! succeeded. A failed call, a refused deploy or a killed process leaves the file as it was.

use std::path::{Path, PathBuf};

use redb::{
    Builder, ConcurrencyMode, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
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
/// `digest` = blake3 of the whole content ([`digest_read`]), written with every commit and
/// checked at every open, so a byte changed behind tosvm's back is reported, never shown.
const INTEGRITY: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("integrity");
/// Undo records, one per commit that changed content (a transaction, a `fund`), keyed by a
/// sequence number: what `tosvm state rewind` applies backwards.
const HISTORY: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("history");

/// What one commit overwrote, to put it back (`tosvm state rewind`). `None` values were
/// absent before the commit.
#[derive(Clone, PartialEq, Eq, Debug, Default, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub(crate) struct Undo {
    /// Height and transaction count before the commit.
    pub(crate) before: (Height, u64),
    /// The chain height after it.
    pub(crate) after_height: Height,
    contracts: Vec<(Hash, Option<Vec<u8>>)>,
    storage: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    balances: Vec<([u8; 64], Option<u64>)>,
    assets: Vec<(Hash, Option<Vec<u8>>)>,
}

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
            Some(h) => check_height(h)?,
            None => self
                .height
                .checked_add(1)
                .filter(|h| *h < Height::MAX)
                .ok_or_else(|| {
                    CliError::user(format!(
                        "the chain height is at {}, the last usable block; move it back with \
                         `tosvm state rewind HEIGHT`",
                        self.height
                    ))
                })?,
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

/// The highest height a transaction may run at: u64::MAX − 1, so that a block always follows.
pub(crate) const MAX_HEIGHT: Height = Height::MAX - 1;

/// Refuses a `--height` that would leave no room for another block.
pub(crate) fn check_height(h: Height) -> Result<Height, CliError> {
    if h > MAX_HEIGHT {
        return Err(CliError::user(format!(
            "--height {h} leaves no room for another block; the highest usable height is \
             {MAX_HEIGHT}"
        )));
    }
    Ok(h)
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

/// The path of the state opened last, for the panic hook's message.
static OPENED: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// What to tell the user about the state at `path`, damaged in the way `what` says: the one
/// line of exit status 2, with the ways out.
pub(crate) fn damaged_message(path: &Path, what: &str) -> String {
    format!(
        "the state {} is damaged ({what}); nothing was changed. Check it with `tosvm state \
         check`, restore a saved copy with `tosvm state import FILE --force`, or remove the file \
         to start a new state",
        path.display()
    )
}

/// The line the panic hook prints when a panic was raised inside redb (it trusts the file it
/// reads, and may panic on one altered behind its back): the state is damaged, not tosvm.
pub(crate) fn panic_in_database(file: &str, message: &str) -> Option<String> {
    if !file.contains("/redb-") && !file.contains("\\redb-") {
        return None;
    }
    let path = OPENED
        .lock()
        .ok()
        .and_then(|p| p.clone())
        .unwrap_or_else(|| PathBuf::from("(unknown)"));
    Some(damaged_message(
        &path,
        &format!("the database library failed reading it: {message}"),
    ))
}

/// The open handle: a writer, or a read-only handle that runs beside one.
enum Handle {
    Write(redb::Database),
    Read(redb::ReadOnlyDatabase),
}

/// The local state file.
pub(crate) struct Database {
    db: Option<Handle>,
    path: PathBuf,
    /// The network to record at the next commit ([`Database::bind_network`]).
    network: std::cell::RefCell<Option<String>>,
}

impl Drop for Database {
    fn drop(&mut self) {
        // Closing flushes; on a damaged file redb may panic there: the answer is already out.
        if let Some(h) = self.db.take() {
            let _ = crate::quiet_catch(move || drop(h));
        }
    }
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
    /// The file must exist; opened for writing.
    Existing,
    /// The file must exist; opened read-only, beside a writer if one runs.
    ReadOnly,
}

fn builder() -> Builder {
    let mut b = Builder::new();
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    // A local state is small; redb's default 1 GiB cache is for servers.
    b.set_cache_size(64 * 1024 * 1024);
    b
}

impl Database {
    /// Opens the state at `path` and checks its format and content digest.
    ///
    /// # Errors
    /// A user error naming the file when it is missing (in [`OpenMode::Existing`] and
    /// [`OpenMode::ReadOnly`]) or written by another tosvm; a fault (exit 2) when it is
    /// locked by another writer, is not a redb database, or is damaged.
    pub(crate) fn open(path: &Path, mode: OpenMode) -> Result<Database, CliError> {
        let shown = path.display();
        if mode != OpenMode::Create && !path.exists() {
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
        // redb starts a new database in an empty file: an existing state of 0 bytes was
        // truncated, and must not silently become an empty chain.
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
            return Err(CliError::fault(damaged_message(
                path,
                "the file is empty (0 bytes)",
            )));
        }
        if let Ok(mut o) = OPENED.lock() {
            *o = Some(path.to_path_buf());
        }
        // redb trusts a file it did not write and may panic on one altered behind its back;
        // such a file is reported as damaged instead of crashing the command.
        let opened = crate::quiet_catch(|| match mode {
            OpenMode::Create => builder().create(path).map(Handle::Write),
            OpenMode::Existing => builder().open(path).map(Handle::Write),
            // A file a killed writer left behind needs redb's recovery, which only a writer
            // runs: recover it (the content is the last commit's), then read.
            OpenMode::ReadOnly => match builder().open_read_only(path) {
                Err(redb::DatabaseError::RepairAborted) => builder().open(path).map(Handle::Write),
                other => other.map(Handle::Read),
            },
        });
        let db = match opened {
            Some(Ok(db)) => db,
            Some(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(CliError::fault(format!(
                    "the state {shown} is being written by another tosvm process; wait for it \
                     to finish (read-only commands such as storage, balance and call run beside \
                     it)"
                )));
            }
            Some(Err(e)) => {
                return Err(CliError::fault(damaged_message(
                    path,
                    &format!("it does not open as a tosvm state: {e}"),
                )));
            }
            None => {
                return Err(CliError::fault(damaged_message(
                    path,
                    "the database library failed opening it",
                )));
            }
        };
        let this = Database {
            db: Some(db),
            path: path.to_path_buf(),
            network: std::cell::RefCell::new(None),
        };
        crate::quiet_catch(|| this.check_format())
            .unwrap_or_else(|| Err(this.damaged("the database library failed reading it")))?;
        crate::quiet_catch(|| this.check_digest())
            .unwrap_or_else(|| Err(this.damaged("the database library failed reading it")))?;
        Ok(this)
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The network the state was made on (recorded at its first commit), if known.
    pub(crate) fn network(&self) -> Result<Option<String>, CliError> {
        let read = self.begin_read()?;
        match read.open_table(INTEGRITY) {
            Ok(t) => Ok(t
                .get("network")
                .map_err(|e| self.damaged(e))?
                .map(|g| String::from_utf8_lossy(g.value()).into_owned())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.damaged(e)),
        }
    }

    /// Records `network` at the next commit of a state that has none, so that an error
    /// under another `--network` can name the one the state was made on.
    ///
    /// # Errors
    /// A fault when the state cannot be read.
    pub(crate) fn bind_network(&self, network: &str) -> Result<(), CliError> {
        if self.network()?.is_none() {
            *self.network.borrow_mut() = Some(network.to_owned());
        }
        Ok(())
    }

    fn damaged(&self, what: impl std::fmt::Display) -> CliError {
        CliError::fault(damaged_message(&self.path, &what.to_string()))
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, CliError> {
        let r = match &self.db {
            Some(Handle::Write(d)) => d.begin_read(),
            Some(Handle::Read(d)) => d.begin_read(),
            None => return Err(CliError::fault("the state is closed")),
        };
        r.map_err(|e| self.damaged(format!("cannot begin a read: {e}")))
    }

    fn begin_write(&self) -> Result<WriteTransaction, CliError> {
        match &self.db {
            Some(Handle::Write(d)) => d
                .begin_write()
                .map_err(|e| self.damaged(format!("cannot begin a write: {e}"))),
            _ => Err(CliError::fault(format!(
                "internal: the state {} was opened read-only",
                self.path.display()
            ))),
        }
    }

    fn check_format(&self) -> Result<(), CliError> {
        let read = self.begin_read()?;
        let format = match read.open_table(META) {
            Ok(t) => t
                .get("format")
                .map_err(|e| self.damaged(e))?
                .map(|g| g.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(self.damaged(e)),
        };
        match format {
            None | Some(STATE_FORMAT) => Ok(()),
            Some(other) if other < 16 => Err(CliError::user(format!(
                "the state {} has format {other}; this tosvm reads format {STATE_FORMAT} \
                 (start a new state: remove the file or pass another --state)",
                self.path.display()
            ))),
            Some(other) => Err(self.damaged(format!("its format number reads {other}"))),
        }
    }

    /// Recomputes the content digest and compares it with the one recorded at the last commit
    /// (a state written before digests were recorded has none, and gets one at its next
    /// commit).
    fn check_digest(&self) -> Result<(), CliError> {
        let read = self.begin_read()?;
        let recorded = match read.open_table(INTEGRITY) {
            Ok(t) => t
                .get("digest")
                .map_err(|e| self.damaged(e))?
                .map(|g| g.value().to_vec()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(self.damaged(e)),
        };
        let Some(recorded) = recorded else {
            return Ok(());
        };
        let actual = digest_read(&read).map_err(|e| self.damaged(e))?;
        if recorded != actual {
            return Err(self.damaged(
                "its content does not match the digest recorded at its last commit: bytes were \
                 changed behind tosvm's back",
            ));
        }
        Ok(())
    }

    /// The chain meta as committed.
    pub(crate) fn meta(&self) -> Result<ChainMeta, CliError> {
        let read = self.begin_read()?;
        let table = match read.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(ChainMeta::default()),
            Err(e) => return Err(self.damaged(e)),
        };
        let get = |k: &str| -> Result<u64, CliError> {
            Ok(table
                .get(k)
                .map_err(|e| self.damaged(e))?
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
        let txn = self.begin_write()?;
        let mut state = TxnState {
            txn: &txn,
            undo: Undo::default(),
        };
        let (value, commit_at) = body(&mut state, meta)?;
        let mut undo = state.undo;
        match commit_at {
            Some(height) => {
                let next = meta.after(height);
                undo.before = (meta.height, meta.txs);
                undo.after_height = next.height;
                self.record(&txn, &undo)?;
                self.set_meta(&txn, next)?;
                self.commit(txn)?;
            }
            None => txn.abort().map_err(|e| self.damaged(e))?,
        }
        Ok(value)
    }

    /// Writes `meta` (and the format) into `txn`.
    fn set_meta(&self, txn: &WriteTransaction, meta: ChainMeta) -> Result<(), CliError> {
        let mut table = txn.open_table(META).map_err(|e| self.damaged(e))?;
        for (k, v) in [
            ("format", STATE_FORMAT),
            ("height", meta.height),
            ("txs", meta.txs),
        ] {
            table.insert(k, v).map_err(|e| self.damaged(e))?;
        }
        Ok(())
    }

    /// Records the content digest in `txn` and commits it.
    fn commit(&self, txn: WriteTransaction) -> Result<(), CliError> {
        let digest = digest_write(&txn).map_err(|e| self.damaged(e))?;
        {
            let mut t = txn.open_table(INTEGRITY).map_err(|e| self.damaged(e))?;
            t.insert("digest", digest.as_slice())
                .map_err(|e| self.damaged(e))?;
            if let Some(n) = self.network.borrow().as_deref() {
                t.insert("network", n.as_bytes())
                    .map_err(|e| self.damaged(e))?;
            }
        }
        txn.commit()
            .map_err(|e| CliError::fault(format!("state {}: commit: {e}", self.path.display())))
    }

    /// Credits `amount` of `asset` to `account` (`tosvm fund`): a faucet, not a transaction,
    /// so no height moves. Returns the new balance.
    ///
    /// # Errors
    /// A user error when the balance would overflow; a fault when redb fails.
    pub(crate) fn fund(&self, account: &Hash, asset: &Hash, amount: u64) -> Result<u64, CliError> {
        let meta = self.meta()?;
        let txn = self.begin_write()?;
        let new = {
            let mut t = txn.open_table(BALANCES).map_err(|e| self.damaged(e))?;
            let k = balance_key(account, asset);
            let old = t.get(&k).map_err(|e| self.damaged(e))?.map(|g| g.value());
            let old_value = old.unwrap_or(0);
            let new = old_value.checked_add(amount).ok_or_else(|| {
                CliError::user(format!(
                    "funding {amount} would overflow the balance of {} (now {old_value})",
                    hex::encode(account)
                ))
            })?;
            t.insert(&k, new).map_err(|e| self.damaged(e))?;
            (new, old)
        };
        let (new, old) = new;
        let undo = Undo {
            before: (meta.height, meta.txs),
            after_height: meta.height,
            balances: vec![(balance_key(account, asset), old)],
            ..Undo::default()
        };
        self.record(&txn, &undo)?;
        self.set_meta(&txn, meta)?;
        self.commit(txn)?;
        Ok(new)
    }

    /// Appends an undo record to the history.
    fn record(&self, txn: &WriteTransaction, undo: &Undo) -> Result<(), CliError> {
        let bytes = borsh::to_vec(undo).map_err(|e| self.damaged(e))?;
        let mut t = txn.open_table(HISTORY).map_err(|e| self.damaged(e))?;
        let next = match t.last().map_err(|e| self.damaged(e))? {
            Some((k, _)) => k.value().saturating_add(1),
            None => 0,
        };
        t.insert(next, bytes.as_slice())
            .map_err(|e| self.damaged(e))?;
        Ok(())
    }

    /// Rewinds the chain to `height` (`tosvm state rewind`): undoes, newest first, every
    /// commit that left the chain above `height` (transactions and `fund`s), restoring the
    /// content, the height and the transaction count they found, then sets the height to
    /// `height`. Commits with no undo record (a state imported, or written by an older tosvm)
    /// cannot be undone: their content stays. Returns the new meta and how many commits were
    /// undone.
    ///
    /// # Errors
    /// A user error when `height` is above the current height; a fault when redb fails.
    pub(crate) fn rewind(&self, height: Height) -> Result<(ChainMeta, usize), CliError> {
        let meta = self.meta()?;
        if height > meta.height {
            return Err(CliError::user(format!(
                "rewind only moves back: the chain is at height {}, below {height} (a \
                 transaction with --height H moves it forward)",
                meta.height
            )));
        }
        let txn = self.begin_write()?;
        let mut undone = 0;
        let mut txs = meta.txs;
        loop {
            let last = {
                let t = txn.open_table(HISTORY).map_err(|e| self.damaged(e))?;
                let last = t.last().map_err(|e| self.damaged(e))?;
                last.map(|(k, v)| (k.value(), v.value().to_vec()))
            };
            let Some((key, bytes)) = last else { break };
            let undo: Undo = borsh::from_slice(&bytes)
                .map_err(|e| self.damaged(format!("a history record: {e}")))?;
            if undo.after_height <= height {
                break;
            }
            self.undo(&txn, &undo)?;
            txn.open_table(HISTORY)
                .map_err(|e| self.damaged(e))?
                .remove(key)
                .map_err(|e| self.damaged(e))?;
            txs = undo.before.1;
            undone += 1;
        }
        let next = ChainMeta { height, txs };
        self.set_meta(&txn, next)?;
        self.commit(txn)?;
        Ok((next, undone))
    }

    /// Puts back what one commit overwrote.
    fn undo(&self, txn: &WriteTransaction, u: &Undo) -> Result<(), CliError> {
        let e = |e: redb::Error| self.damaged(e);
        {
            let mut c = txn.open_table(CONTRACTS).map_err(|x| e(x.into()))?;
            let mut h = txn.open_table(HEADERS).map_err(|x| e(x.into()))?;
            for (addr, old) in &u.contracts {
                match old {
                    Some(bytes) => {
                        let contract = decode_contract(bytes).map_err(|x| self.damaged(x.0))?;
                        let header = borsh::to_vec(&contract.header()).unwrap_or_default();
                        c.insert(addr, bytes.as_slice()).map_err(|x| e(x.into()))?;
                        h.insert(addr, header.as_slice()).map_err(|x| e(x.into()))?;
                    }
                    None => {
                        c.remove(addr).map_err(|x| e(x.into()))?;
                        h.remove(addr).map_err(|x| e(x.into()))?;
                    }
                }
            }
        }
        {
            let mut t = txn.open_table(STORAGE).map_err(|x| e(x.into()))?;
            for (k, old) in &u.storage {
                match old {
                    Some(v) => t.insert(k.as_slice(), v.as_slice()).map(|_| ()),
                    None => t.remove(k.as_slice()).map(|_| ()),
                }
                .map_err(|x| e(x.into()))?;
            }
        }
        {
            let mut t = txn.open_table(BALANCES).map_err(|x| e(x.into()))?;
            for (k, old) in &u.balances {
                match old {
                    Some(v) => t.insert(k, *v).map(|_| ()),
                    None => t.remove(k).map(|_| ()),
                }
                .map_err(|x| e(x.into()))?;
            }
        }
        {
            let mut t = txn.open_table(ASSETS).map_err(|x| e(x.into()))?;
            for (k, old) in &u.assets {
                match old {
                    Some(v) => t.insert(k, v.as_slice()).map(|_| ()),
                    None => t.remove(k).map(|_| ()),
                }
                .map_err(|x| e(x.into()))?;
            }
        }
        Ok(())
    }

    /// Replaces the whole content with `content` (`tosvm state import`), in one transaction.
    ///
    /// # Errors
    /// A fault when redb fails.
    pub(crate) fn replace_all(&self, content: &Content) -> Result<(), CliError> {
        let txn = self.begin_write()?;
        let deleted = [
            txn.delete_table(CONTRACTS),
            txn.delete_table(HEADERS),
            txn.delete_table(STORAGE),
            txn.delete_table(BALANCES),
            txn.delete_table(ASSETS),
            txn.delete_table(META),
        ];
        for d in deleted {
            d.map_err(|e| self.damaged(e))?;
        }
        {
            let deleted = txn.delete_table(HISTORY);
            deleted.map_err(|e| self.damaged(e))?;
            let mut state = TxnState {
                txn: &txn,
                undo: Undo::default(),
            };
            state
                .apply(&content.changes)
                .map_err(|e| self.damaged(e.0))?;
        }
        self.set_meta(&txn, content.meta)?;
        self.commit(txn)
    }

    /// A read-only view of the committed state.
    pub(crate) fn reader(&self) -> Result<Reader, CliError> {
        Ok(Reader {
            txn: self.begin_read()?,
        })
    }
}

/// A whole state, as `tosvm state import` writes it.
#[derive(Debug, Default)]
pub(crate) struct Content {
    /// Every contract, storage value, balance and asset.
    pub(crate) changes: ChangeSet,
    /// Height and transaction count.
    pub(crate) meta: ChainMeta,
}

/// Feeds one table into the digest: its name, then every (key, value), lengths first.
macro_rules! hash_table {
    ($h:expr, $txn:expr, $def:expr, $name:literal, $kb:expr, $vb:expr, $missing:pat) => {{
        $h.update(&($name.len() as u64).to_le_bytes());
        $h.update($name.as_bytes());
        match $txn.open_table($def) {
            Ok(t) => {
                for item in t.iter().map_err(|e| format!("{} table: {e}", $name))? {
                    let (k, v) = item.map_err(|e| format!("{} table: {e}", $name))?;
                    let kb: Vec<u8> = $kb(k.value());
                    let vb: Vec<u8> = $vb(v.value());
                    $h.update(&(kb.len() as u64).to_le_bytes());
                    $h.update(&kb);
                    $h.update(&(vb.len() as u64).to_le_bytes());
                    $h.update(&vb);
                }
            }
            Err($missing) => {}
            #[allow(unreachable_patterns)]
            Err(e) => return Err(format!("{} table: {e}", $name)),
        }
    }};
}

/// Every table, in a fixed order, into one hasher (`history` only when `$history`).
macro_rules! digest_body {
    ($txn:expr, $missing:pat, $history:expr) => {{
        let mut h = blake3::Hasher::new();
        h.update(b"tosvm/state-digest/v1");
        let b32 = |k: &[u8; 32]| k.to_vec();
        let b64 = |k: &[u8; 64]| k.to_vec();
        let raw = |v: &[u8]| v.to_vec();
        let num = |v: u64| v.to_le_bytes().to_vec();
        let text = |k: &str| k.as_bytes().to_vec();
        hash_table!(h, $txn, CONTRACTS, "contracts", b32, raw, $missing);
        hash_table!(h, $txn, HEADERS, "contract_headers", b32, raw, $missing);
        hash_table!(h, $txn, STORAGE, "storage", raw, raw, $missing);
        hash_table!(h, $txn, BALANCES, "balances", b64, num, $missing);
        hash_table!(h, $txn, ASSETS, "assets", b32, raw, $missing);
        hash_table!(h, $txn, META, "meta", text, num, $missing);
        if $history {
            let seq = |k: u64| k.to_le_bytes().to_vec();
            hash_table!(h, $txn, HISTORY, "history", seq, raw, $missing);
        }
        Ok(h.finalize().as_bytes().to_vec())
    }};
}

/// The content digest of a committed state: blake3 over `"tosvm/state-digest/v1"`, then each
/// table (contracts, contract_headers, storage, balances, assets, meta) as its name and every
/// (key, value) in key order, each length-prefixed (u64 LE). A missing table reads as empty.
/// The `history` table is included in the state's digest (checked at every open), not in the
/// content digest of an export ([`content_digest_read`]), which carries no history.
pub(crate) fn digest_read(txn: &redb::ReadTransaction) -> Result<Vec<u8>, String> {
    digest_body!(txn, redb::TableError::TableDoesNotExist(_), true)
}

/// [`digest_read`] without the `history` table: what `state export` writes as `digest`.
pub(crate) fn content_digest_read(txn: &redb::ReadTransaction) -> Result<Vec<u8>, String> {
    digest_body!(txn, redb::TableError::TableDoesNotExist(_), false)
}

fn digest_write(txn: &WriteTransaction) -> Result<Vec<u8>, String> {
    digest_body!(txn, redb::TableError::TableDoesNotExist(_), true)
}

/// A [`ContractProvider`] over one open write transaction: reads see what the transaction
/// wrote so far, and `apply` writes into it without committing.
pub(crate) struct TxnState<'t> {
    txn: &'t WriteTransaction,
    /// What `apply` overwrote, first value of each key only.
    undo: Undo,
}

impl std::fmt::Debug for TxnState<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TxnState")
    }
}

impl TxnState<'_> {
    /// Remembers, for each key `changes` writes, the value it had before this transaction
    /// (only the first time the transaction touches the key).
    fn capture(&mut self, changes: &ChangeSet) -> Result<(), ProviderError> {
        {
            let t = self
                .txn
                .open_table(CONTRACTS)
                .map_err(|e| db_err("open", e))?;
            for addr in changes.contracts.keys() {
                if self.undo.contracts.iter().any(|(a, _)| a == addr) {
                    continue;
                }
                let old = t.get(addr).map_err(|e| db_err("read", e))?;
                self.undo
                    .contracts
                    .push((*addr, old.map(|g| g.value().to_vec())));
            }
        }
        {
            let t = self
                .txn
                .open_table(STORAGE)
                .map_err(|e| db_err("open", e))?;
            for (contract, key) in changes.storage.keys() {
                let k = storage_key(contract, key);
                if self.undo.storage.iter().any(|(x, _)| *x == k) {
                    continue;
                }
                let old = t.get(k.as_slice()).map_err(|e| db_err("read", e))?;
                let old = old.map(|g| g.value().to_vec());
                self.undo.storage.push((k, old));
            }
        }
        {
            let t = self
                .txn
                .open_table(BALANCES)
                .map_err(|e| db_err("open", e))?;
            for (account, asset) in changes.balances.keys() {
                let k = balance_key(account, asset);
                if self.undo.balances.iter().any(|(x, _)| *x == k) {
                    continue;
                }
                let old = t.get(&k).map_err(|e| db_err("read", e))?.map(|g| g.value());
                self.undo.balances.push((k, old));
            }
        }
        {
            let t = self.txn.open_table(ASSETS).map_err(|e| db_err("open", e))?;
            for id in changes.assets.keys() {
                if self.undo.assets.iter().any(|(x, _)| x == id) {
                    continue;
                }
                let old = t.get(id).map_err(|e| db_err("read", e))?;
                self.undo
                    .assets
                    .push((*id, old.map(|g| g.value().to_vec())));
            }
        }
        Ok(())
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
        self.capture(changes)?;
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

/// A storage row: contract, key, value.
pub(crate) type StorageRow = (Hash, Vec<u8>, Vec<u8>);

/// A contract as `tosvm contracts` lists it.
#[derive(Clone, Debug)]
pub(crate) struct ContractRow {
    /// Its address.
    pub(crate) address: Hash,
    /// The stored contract.
    pub(crate) contract: StoredContract,
}

impl Reader {
    /// Every contract, in address order.
    pub(crate) fn contracts_all(&self) -> Result<Vec<ContractRow>, CliError> {
        let Some(t) = read_table!(self.txn, CONTRACTS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            out.push(ContractRow {
                address: *k.value(),
                contract: decode_contract(v.value()).map_err(|e| CliError::fault(e.0))?,
            });
        }
        Ok(out)
    }

    /// The header of the contract at `address`.
    pub(crate) fn contract_header(
        &self,
        address: &Hash,
    ) -> Result<Option<ContractHeader>, CliError> {
        let Some(t) = read_table!(self.txn, HEADERS) else {
            return Ok(None);
        };
        let got = t.get(address).map_err(read_fault)?;
        got.map(|g| {
            borsh::from_slice(g.value())
                .map_err(|e| CliError::fault(format!("state read: a contract header: {e}")))
        })
        .transpose()
    }

    /// Every asset, in id order.
    pub(crate) fn assets_all(&self) -> Result<Vec<(Hash, AssetInfo)>, CliError> {
        let Some(t) = read_table!(self.txn, ASSETS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            out.push((
                *k.value(),
                decode_asset(v.value()).map_err(|e| CliError::fault(e.0))?,
            ));
        }
        Ok(out)
    }

    /// Every (account, asset, amount), in key order.
    pub(crate) fn balances_all(&self) -> Result<Vec<(Hash, Hash, u64)>, CliError> {
        let Some(t) = read_table!(self.txn, BALANCES) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            let k = k.value();
            let mut account = [0; 32];
            let mut asset = [0; 32];
            account.copy_from_slice(&k[..32]);
            asset.copy_from_slice(&k[32..]);
            out.push((account, asset, v.value()));
        }
        Ok(out)
    }

    /// Every (contract, key, value) of the storage table, in key order.
    pub(crate) fn storage_everything(&self) -> Result<Vec<StorageRow>, CliError> {
        let Some(t) = read_table!(self.txn, STORAGE) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            let k = k.value();
            if k.len() < 32 {
                return Err(CliError::fault(format!(
                    "state read: a storage key of {} bytes, shorter than a contract address",
                    k.len()
                )));
            }
            let mut c = [0; 32];
            c.copy_from_slice(&k[..32]);
            out.push((c, k[32..].to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Every row of the `contract_headers` table, raw.
    pub(crate) fn headers_raw(&self) -> Result<Vec<(Hash, Vec<u8>)>, CliError> {
        let Some(t) = read_table!(self.txn, HEADERS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in t.iter().map_err(read_fault)? {
            let (k, v) = item.map_err(read_fault)?;
            out.push((*k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The content digest of this snapshot without its history (an export's `digest`).
    pub(crate) fn content_digest(&self) -> Result<Vec<u8>, CliError> {
        content_digest_read(&self.txn).map_err(CliError::fault)
    }

    /// The content digest of this snapshot and the one recorded with it.
    pub(crate) fn digests(&self) -> Result<(Vec<u8>, Option<Vec<u8>>), CliError> {
        let actual = digest_read(&self.txn).map_err(CliError::fault)?;
        let recorded = match read_table!(self.txn, INTEGRITY) {
            Some(t) => t
                .get("digest")
                .map_err(read_fault)?
                .map(|g| g.value().to_vec()),
            None => None,
        };
        Ok((actual, recorded))
    }
}

/// A [`ContractProvider`] over a read-only snapshot for `tosvm call`: reads see the committed
/// state, and `apply` keeps the changes for display instead of writing them.
#[derive(Debug)]
pub(crate) struct DryRun {
    reader: Reader,
    /// What the call would have written, when it succeeded.
    pub(crate) changes: Option<ChangeSet>,
}

impl DryRun {
    /// A dry run over `reader`'s snapshot.
    pub(crate) fn new(reader: Reader) -> DryRun {
        DryRun {
            reader,
            changes: None,
        }
    }
}

fn provider(e: CliError) -> ProviderError {
    ProviderError(e.to_string())
}

impl ContractProvider for DryRun {
    fn contract(&self, address: &Hash) -> Result<Option<StoredContract>, ProviderError> {
        self.reader.contract(address).map_err(provider)
    }
    fn contract_header(&self, address: &Hash) -> Result<Option<ContractHeader>, ProviderError> {
        self.reader.contract_header(address).map_err(provider)
    }
    fn storage(&self, contract: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
        self.reader.storage(contract, key).map_err(provider)
    }
    fn balance(&self, account: &Hash, asset: &Hash) -> Result<u64, ProviderError> {
        self.reader.balance(account, asset).map_err(provider)
    }
    fn asset(&self, asset: &Hash) -> Result<Option<AssetInfo>, ProviderError> {
        self.reader.asset(asset).map_err(provider)
    }
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), ProviderError> {
        self.changes = Some(changes.clone());
        Ok(())
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
    fn missing_files_are_user_errors_and_garbage_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let missing =
            Database::open(&dir.path().join("nope.redb"), OpenMode::Existing).unwrap_err();
        assert!(missing.to_string().contains("no state at"), "{missing}");
        let junk = dir.path().join("junk.redb");
        std::fs::write(&junk, vec![0x5a; 9000]).unwrap();
        for mode in [OpenMode::Existing, OpenMode::ReadOnly] {
            let e = Database::open(&junk, mode).unwrap_err();
            assert!(e.is_fault(), "a file that is no state is damaged: exit 2");
            assert!(e.to_string().contains("junk.redb is damaged"), "{e}");
        }
    }

    #[test]
    fn rewind_undoes_commits_newest_first() {
        let (_d, db) = fresh();
        let commit = |c: ChangeSet, at: Height| {
            db.transact(|s, _| {
                s.apply(&c).map_err(|e| CliError::fault(e.0))?;
                Ok(((), Some(at)))
            })
            .unwrap()
        };
        commit(changes(), 1);
        let first = db.reader().unwrap().storage_all(&[1; 32]).unwrap();
        let mut c = ChangeSet::default();
        c.storage.insert(([1; 32], b"count".to_vec()), None);
        c.storage.insert(([1; 32], b"new".to_vec()), Some(vec![5]));
        c.balances.insert(([3; 32], [0; 32]), 7);
        commit(c, 9);
        db.fund(&[8; 32], &[0; 32], 4).unwrap();
        let (meta, undone) = db.rewind(1).unwrap();
        assert_eq!((meta, undone), (ChainMeta { height: 1, txs: 1 }, 2));
        let r = db.reader().unwrap();
        assert_eq!(r.storage_all(&[1; 32]).unwrap(), first);
        assert_eq!(r.balance(&[3; 32], &[0; 32]).unwrap(), 50);
        assert_eq!(r.balances(&[8; 32]).unwrap(), vec![]);
        drop(r);
        let (meta, undone) = db.rewind(0).unwrap();
        assert_eq!((meta, undone), (ChainMeta::default(), 1));
        assert_eq!(db.reader().unwrap().storage_all(&[1; 32]).unwrap(), vec![]);
    }

    #[test]
    fn hashes_are_deterministic_and_distinct() {
        assert_eq!(block_hash(5), block_hash(5));
        assert_ne!(block_hash(5), block_hash(6));
        assert_ne!(block_hash(1), tx_hash(1));
    }
}
