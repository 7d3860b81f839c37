//! The storage the host runs against, and the journal that stages a call's writes.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use tos_engine_api::{Call, EntryTable, Hash, Height, ModuleTag};

use crate::ContractModule;

/// A deployed contract as the state keeps it.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct StoredContract {
    /// The module (tag and code).
    pub module: ContractModule,
    /// blake3 of the code.
    pub code_hash: Hash,
    /// Who deployed it.
    pub deployer: Hash,
    /// Height of the deploy.
    pub deployed_at: Height,
    /// The module's entry table, read when it was deployed: a call to an entry it lacks is
    /// refused without reading or preparing the code.
    pub entries: StoredEntries,
}

/// An entry table as the state keeps it (see [`EntryTable`]). Shared, not copied, by the
/// headers a call reads (its encoding is that of a `Vec`).
#[derive(Clone, PartialEq, Eq, Debug, Default, BorshSerialize, BorshDeserialize)]
pub struct StoredEntries {
    /// Entry ids, ascending.
    pub entries: std::sync::Arc<[u16]>,
    /// Hook ids, ascending.
    pub hooks: std::sync::Arc<[u8]>,
    /// The module dispatches every call itself.
    pub self_dispatch: bool,
}

impl From<&EntryTable> for StoredEntries {
    fn from(t: &EntryTable) -> Self {
        StoredEntries {
            entries: t.entries.iter().copied().collect(),
            hooks: t.hooks.iter().copied().collect(),
            self_dispatch: t.self_dispatch,
        }
    }
}

impl StoredEntries {
    /// Whether the module may be run for `call` (as [`EntryTable::accepts`]).
    pub fn accepts(&self, call: Call) -> bool {
        self.self_dispatch
            || match call {
                Call::Entry(id) => self.entries.binary_search(&id).is_ok(),
                Call::Hook(id) => self.hooks.binary_search(&id).is_ok(),
            }
    }
}

/// A storage key, `(contract, key)`, owned (as maps keep it) or borrowed (as lookups have it):
/// maps keyed by `(Hash, Vec<u8>)` are searched with a borrowed `(Hash, &[u8])`, without
/// copying the key.
pub(crate) trait StorageKey {
    /// The contract and the key.
    fn parts(&self) -> (&Hash, &[u8]);
}

impl StorageKey for (Hash, Vec<u8>) {
    fn parts(&self) -> (&Hash, &[u8]) {
        (&self.0, &self.1)
    }
}

impl StorageKey for (Hash, &[u8]) {
    fn parts(&self) -> (&Hash, &[u8]) {
        (&self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn StorageKey + 'a> for (Hash, Vec<u8>) {
    fn borrow(&self) -> &(dyn StorageKey + 'a) {
        self
    }
}

// The order of `(Hash, Vec<u8>)`: contract, then key bytes.
impl PartialEq for dyn StorageKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn StorageKey + '_ {}

impl PartialOrd for dyn StorageKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn StorageKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

/// What the host needs of a contract before it touches the code: enough to refuse a call and
/// to find the prepared module in the cache.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct ContractHeader {
    /// The module's tag.
    pub tag: ModuleTag,
    /// blake3 of the code.
    pub code_hash: Hash,
    /// Bytes of code.
    pub code_len: u64,
    /// The entry table.
    pub entries: StoredEntries,
}

impl StoredContract {
    /// The contract's header.
    pub fn header(&self) -> ContractHeader {
        ContractHeader {
            tag: self.module.tag,
            code_hash: self.code_hash,
            code_len: self.module.code.len() as u64,
            entries: self.entries.clone(),
        }
    }
}

/// An asset created by a contract.
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct AssetInfo {
    /// The contract that created it (the only one that may mint).
    pub creator: Hash,
    /// Its name.
    pub name: Vec<u8>,
    /// Display decimals.
    pub decimals: u8,
    /// Units in existence.
    pub supply: u64,
}

/// A failure of the state backend. Always a node fault, never the contract's.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("state provider: {0}")]
pub struct ProviderError(pub String);

/// Every write of a successful transaction, applied at once by [`ContractProvider::apply`].
/// `None` values delete.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ChangeSet {
    /// Contracts deployed (or removed).
    pub contracts: BTreeMap<Hash, Option<StoredContract>>,
    /// Storage writes by (contract, key).
    pub storage: BTreeMap<(Hash, Vec<u8>), Option<Vec<u8>>>,
    /// New balances by (account, asset).
    pub balances: BTreeMap<(Hash, Hash), u64>,
    /// New asset records.
    pub assets: BTreeMap<Hash, AssetInfo>,
}

impl ChangeSet {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.contracts.is_empty()
            && self.storage.is_empty()
            && self.balances.is_empty()
            && self.assets.is_empty()
    }

    /// Lays `newer` over `self` (newer writes win).
    pub fn merge(&mut self, newer: ChangeSet) {
        self.contracts.extend(newer.contracts);
        self.storage.extend(newer.storage);
        self.balances.extend(newer.balances);
        self.assets.extend(newer.assets);
    }
}

/// The chain state as the host needs it. The daemon implements it over its database;
/// [`MemoryProvider`] keeps it in memory; `tosvm` keeps it in redb.
///
/// Reads see committed state only; the host stages writes in a [`Journal`] and hands
/// them to [`apply`](Self::apply) in one piece when a transaction succeeds, so an
/// implementation makes `apply` atomic (one database transaction).
pub trait ContractProvider {
    /// The contract at `address`.
    ///
    /// # Errors
    /// [`ProviderError`] when the backend fails.
    fn contract(&self, address: &Hash) -> Result<Option<StoredContract>, ProviderError>;
    /// The header of the contract at `address`: what a call needs before the code. The host
    /// reads the code only when the prepared module is not cached, so a provider should answer
    /// this without reading the code (the default reads the whole contract).
    ///
    /// # Errors
    /// [`ProviderError`] when the backend fails.
    fn contract_header(&self, address: &Hash) -> Result<Option<ContractHeader>, ProviderError> {
        Ok(self.contract(address)?.map(|c| c.header()))
    }
    /// The value under `key` in `contract`'s storage.
    ///
    /// # Errors
    /// [`ProviderError`] when the backend fails.
    fn storage(&self, contract: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ProviderError>;
    /// The balance of `account` in `asset` (0 when never set).
    ///
    /// # Errors
    /// [`ProviderError`] when the backend fails.
    fn balance(&self, account: &Hash, asset: &Hash) -> Result<u64, ProviderError>;
    /// The asset `asset`.
    ///
    /// # Errors
    /// [`ProviderError`] when the backend fails.
    fn asset(&self, asset: &Hash) -> Result<Option<AssetInfo>, ProviderError>;
    /// Applies every change at once, or none.
    ///
    /// # Errors
    /// [`ProviderError`] when the backend fails; nothing is applied then.
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), ProviderError>;
}

/// A [`ContractProvider`] in memory: for tests, and for embedding without a database.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct MemoryProvider {
    /// Deployed contracts.
    pub contracts: BTreeMap<Hash, StoredContract>,
    /// Storage by (contract, key).
    pub storage: BTreeMap<(Hash, Vec<u8>), Vec<u8>>,
    /// Balances by (account, asset).
    pub balances: BTreeMap<(Hash, Hash), u64>,
    /// Assets by id.
    pub assets: BTreeMap<Hash, AssetInfo>,
}

impl ContractProvider for MemoryProvider {
    fn contract(&self, address: &Hash) -> Result<Option<StoredContract>, ProviderError> {
        Ok(self.contracts.get(address).cloned())
    }
    fn contract_header(&self, address: &Hash) -> Result<Option<ContractHeader>, ProviderError> {
        Ok(self.contracts.get(address).map(StoredContract::header))
    }
    fn storage(&self, contract: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
        Ok(self
            .storage
            .get(&(*contract, key) as &dyn StorageKey)
            .cloned())
    }
    fn balance(&self, account: &Hash, asset: &Hash) -> Result<u64, ProviderError> {
        Ok(self.balances.get(&(*account, *asset)).copied().unwrap_or(0))
    }
    fn asset(&self, asset: &Hash) -> Result<Option<AssetInfo>, ProviderError> {
        Ok(self.assets.get(asset).cloned())
    }
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), ProviderError> {
        for (addr, c) in &changes.contracts {
            match c {
                Some(c) => self.contracts.insert(*addr, c.clone()),
                None => self.contracts.remove(addr),
            };
        }
        for (key, v) in &changes.storage {
            match v {
                Some(v) => self.storage.insert(key.clone(), v.clone()),
                None => self.storage.remove(key),
            };
        }
        for (key, v) in &changes.balances {
            self.balances.insert(*key, *v);
        }
        for (id, a) in &changes.assets {
            self.assets.insert(*id, a.clone());
        }
        Ok(())
    }
}

/// Stages the writes of a transaction over a [`ContractProvider`], with nested savepoints.
///
/// Reads see the newest staged value, then the provider. [`savepoint`](Self::savepoint)
/// opens a layer (one per call, so a nested call can fail alone);
/// [`rollback`](Self::rollback) drops the top layer, [`release`](Self::release) folds it into
/// the one below; [`into_changes`](Self::into_changes) gives everything that remains.
#[derive(Debug)]
pub struct Journal<'p, P: ContractProvider + ?Sized> {
    provider: &'p P,
    layers: Layers,
}

/// The journal's layers, the base first: the base and one savepoint (a call's top frame)
/// inline, deeper savepoints (nested calls) on the heap, so a call that makes no nested call
/// allocates nothing for them.
#[derive(Debug, Default)]
struct Layers {
    inline: [ChangeSet; 2],
    /// How many of `inline` are in use (1 or 2).
    used: usize,
    more: Vec<ChangeSet>,
}

impl Layers {
    fn new() -> Layers {
        Layers {
            used: 1,
            ..Layers::default()
        }
    }

    fn len(&self) -> usize {
        self.used.saturating_add(self.more.len())
    }

    fn push(&mut self, layer: ChangeSet) {
        match self.inline.get_mut(self.used) {
            Some(slot) if self.more.is_empty() => {
                *slot = layer;
                self.used = self.used.saturating_add(1);
            }
            _ => self.more.push(layer),
        }
    }

    /// Removes the top layer, never the base.
    fn pop(&mut self) -> Option<ChangeSet> {
        if let Some(layer) = self.more.pop() {
            return Some(layer);
        }
        if self.used > 1 {
            self.used = self.used.saturating_sub(1);
            return self.inline.get_mut(self.used).map(std::mem::take);
        }
        None
    }

    fn last_mut(&mut self) -> &mut ChangeSet {
        let Layers { inline, used, more } = self;
        match more.last_mut() {
            Some(top) => top,
            // `used` is 1 or 2; the base is inline[0].
            None => &mut inline[used.saturating_sub(1).min(1)],
        }
    }

    /// The layers, base first.
    fn iter(&self) -> impl DoubleEndedIterator<Item = &ChangeSet> {
        self.inline.iter().take(self.used).chain(self.more.iter())
    }

    fn into_iter(self) -> impl Iterator<Item = ChangeSet> {
        let used = self.used;
        self.inline.into_iter().take(used).chain(self.more)
    }
}

impl<'p, P: ContractProvider + ?Sized> Journal<'p, P> {
    /// A journal with one base layer over `provider`.
    pub fn new(provider: &'p P) -> Self {
        Journal {
            provider,
            layers: Layers::new(),
        }
    }

    /// Opens a savepoint; returns the depth to pass to [`rollback_to`](Self::rollback_to).
    pub fn savepoint(&mut self) -> usize {
        self.layers.push(ChangeSet::default());
        self.layers.len() - 1
    }

    /// Discards the writes since the newest savepoint. The base layer stays.
    pub fn rollback(&mut self) {
        if self.layers.pop().is_none() {
            *self.layers.last_mut() = ChangeSet::default();
        }
    }

    /// Discards every layer from `depth` up (as returned by [`savepoint`](Self::savepoint)).
    pub fn rollback_to(&mut self, depth: usize) {
        while self.layers.len() > depth.max(1) {
            self.layers.pop();
        }
    }

    /// Keeps the writes since the newest savepoint, folding them into the layer below.
    pub fn release(&mut self) {
        if let Some(top) = self.layers.pop() {
            self.layers.last_mut().merge(top);
        }
    }

    /// Number of open savepoints.
    pub fn depth(&self) -> usize {
        self.layers.len() - 1
    }

    /// Every staged write, savepoints folded in.
    pub fn into_changes(self) -> ChangeSet {
        let mut out = ChangeSet::default();
        for layer in self.layers.into_iter() {
            out.merge(layer);
        }
        out
    }

    fn top(&mut self) -> &mut ChangeSet {
        self.layers.last_mut()
    }

    /// The contract at `address`.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub fn contract(&self, address: &Hash) -> Result<Option<StoredContract>, ProviderError> {
        for layer in self.layers.iter().rev() {
            if let Some(c) = layer.contracts.get(address) {
                return Ok(c.clone());
            }
        }
        self.provider.contract(address)
    }

    /// The header of the contract at `address` (tag, code hash and length, entries), without
    /// reading its code from the provider.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub fn contract_header(&self, address: &Hash) -> Result<Option<ContractHeader>, ProviderError> {
        for layer in self.layers.iter().rev() {
            if let Some(c) = layer.contracts.get(address) {
                return Ok(c.as_ref().map(StoredContract::header));
            }
        }
        self.provider.contract_header(address)
    }

    /// Stages a deploy (or a removal with `None`).
    pub fn set_contract(&mut self, address: Hash, contract: Option<StoredContract>) {
        self.top().contracts.insert(address, contract);
    }

    /// The value under `key`.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub fn storage(&self, contract: &Hash, key: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
        let k = (*contract, key);
        for layer in self.layers.iter().rev() {
            if let Some(v) = layer.storage.get(&k as &dyn StorageKey) {
                return Ok(v.clone());
            }
        }
        self.provider.storage(contract, key)
    }

    /// Stages a storage write (`None` deletes).
    pub fn set_storage(&mut self, contract: Hash, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.top().storage.insert((contract, key), value);
    }

    /// A balance.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub fn balance(&self, account: &Hash, asset: &Hash) -> Result<u64, ProviderError> {
        for layer in self.layers.iter().rev() {
            if let Some(v) = layer.balances.get(&(*account, *asset)) {
                return Ok(*v);
            }
        }
        self.provider.balance(account, asset)
    }

    /// Stages a balance.
    pub fn set_balance(&mut self, account: Hash, asset: Hash, amount: u64) {
        self.top().balances.insert((account, asset), amount);
    }

    /// An asset.
    ///
    /// # Errors
    /// [`ProviderError`].
    pub fn asset(&self, asset: &Hash) -> Result<Option<AssetInfo>, ProviderError> {
        for layer in self.layers.iter().rev() {
            if let Some(a) = layer.assets.get(asset) {
                return Ok(Some(a.clone()));
            }
        }
        self.provider.asset(asset)
    }

    /// Stages an asset record.
    pub fn set_asset(&mut self, id: Hash, info: AssetInfo) {
        self.top().assets.insert(id, info);
    }
}

#[cfg(test)]
mod tests {
    /// The shared entry table encodes as the `Vec`s it replaced: states written before read
    /// the same.
    #[test]
    fn stored_entries_encode_as_before() {
        #[derive(borsh::BorshSerialize)]
        struct Before {
            entries: Vec<u16>,
            hooks: Vec<u8>,
            self_dispatch: bool,
        }
        let now = StoredEntries {
            entries: vec![0, 1, 7, 300].into(),
            hooks: vec![0, 2].into(),
            self_dispatch: false,
        };
        let before = Before {
            entries: vec![0, 1, 7, 300],
            hooks: vec![0, 2],
            self_dispatch: false,
        };
        let bytes = borsh::to_vec(&now).unwrap();
        assert_eq!(bytes, borsh::to_vec(&before).unwrap());
        assert_eq!(borsh::from_slice::<StoredEntries>(&bytes).unwrap(), now);
    }

    use super::*;

    #[test]
    fn nested_savepoints_roll_back_alone() {
        let mut state = MemoryProvider::default();
        state
            .storage
            .insert(([1; 32], b"k".to_vec()), b"base".to_vec());
        let mut j = Journal::new(&state);
        j.set_storage([1; 32], b"k".to_vec(), Some(b"outer".to_vec()));
        let inner = j.savepoint();
        j.set_storage([1; 32], b"k".to_vec(), Some(b"inner".to_vec()));
        j.set_balance([2; 32], [0; 32], 5);
        assert_eq!(j.storage(&[1; 32], b"k").unwrap(), Some(b"inner".to_vec()));
        j.rollback_to(inner);
        assert_eq!(j.storage(&[1; 32], b"k").unwrap(), Some(b"outer".to_vec()));
        assert_eq!(j.balance(&[2; 32], &[0; 32]).unwrap(), 0);
        j.savepoint();
        j.set_storage([1; 32], b"k".to_vec(), None);
        j.release();
        assert_eq!(j.depth(), 0);
        assert_eq!(j.storage(&[1; 32], b"k").unwrap(), None);
        let changes = j.into_changes();
        state.apply(&changes).unwrap();
        assert!(state.storage.is_empty());
    }
}
