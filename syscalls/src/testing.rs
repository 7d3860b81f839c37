//! A self-contained [`HostAbi`] for engine and syscall tests that need no chain: storage,
//! balances and assets in maps, events and logs recorded, the per-call limits of [`limits`]
//! enforced as the real host enforces them. The node's host lives in crate `tos-host`.

use std::collections::BTreeMap;

use tos_engine_api::{Hash, Height, HostAbi, HostError};

use crate::limits;

/// An in-memory host for one contract. Fields are public so tests can set up and inspect.
#[derive(Clone, Debug, Default)]
pub struct RecordingHost {
    /// The call input (ABI.md layout).
    pub input: Vec<u8>,
    /// The running contract's address.
    pub contract: Hash,
    /// Transaction hash.
    pub tx_hash: Hash,
    /// Caller.
    pub tx_source: Hash,
    /// Block hash.
    pub block_hash: Hash,
    /// Block height.
    pub height: Height,
    /// The contract's storage.
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Balances by (account, asset).
    pub balances: BTreeMap<(Hash, Hash), u64>,
    /// Assets by id: (creator, supply).
    pub assets: BTreeMap<Hash, (Hash, u64)>,
    /// Events fired: (id, data).
    pub events: Vec<(u64, Vec<u8>)>,
    /// Log lines.
    pub logs: Vec<Vec<u8>>,
    /// Return data.
    pub return_data: Vec<u8>,
    /// The block's timestamp.
    pub timestamp: u64,
}

impl RecordingHost {
    /// A host whose call input is `input`.
    pub fn with_input(input: Vec<u8>) -> Self {
        RecordingHost {
            input,
            ..Self::default()
        }
    }
}

impl HostAbi for RecordingHost {
    fn input(&self) -> &[u8] {
        &self.input
    }
    fn contract_hash(&self) -> Hash {
        self.contract
    }
    fn tx_hash(&self) -> Hash {
        self.tx_hash
    }
    fn tx_source(&self) -> Hash {
        self.tx_source
    }
    fn block_hash(&self) -> Hash {
        self.block_hash
    }
    fn block_height(&self) -> Height {
        self.height
    }
    fn block_timestamp(&self) -> u64 {
        self.timestamp
    }
    fn caller(&self) -> Hash {
        self.tx_source
    }
    fn call_deposit(&self, _asset: &Hash) -> u64 {
        0
    }
    fn call(
        &mut self,
        _request: &tos_engine_api::CallRequest,
        _gas_limit: tos_engine_api::Gas,
    ) -> Result<tos_engine_api::CallResult, HostError> {
        // One contract and no chain: every other contract is unknown here.
        Ok(tos_engine_api::CallResult::Refused(
            tos_engine_api::CallRefusal::UnknownContract,
        ))
    }
    fn last_return_data(&self) -> Option<&[u8]> {
        None
    }
    fn log(&mut self, message: &[u8]) -> Result<(), HostError> {
        limits::check_count("logs per call", self.logs.len(), limits::MAX_LOGS_PER_CALL)?;
        self.logs.push(message.to_vec());
        Ok(())
    }
    fn set_return_data(&mut self, data: &[u8]) -> Result<(), HostError> {
        self.return_data = data.to_vec();
        Ok(())
    }
    fn take_return_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.return_data)
    }
    fn storage_load(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.storage.get(key).cloned())
    }
    fn storage_store(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        self.storage.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn storage_delete(&mut self, key: &[u8]) -> Result<bool, HostError> {
        Ok(self.storage.remove(key).is_some())
    }
    fn balance(&mut self, asset: &Hash) -> Result<u64, HostError> {
        Ok(self
            .balances
            .get(&(self.contract, *asset))
            .copied()
            .unwrap_or(0))
    }
    fn transfer(&mut self, to: &Hash, asset: &Hash, amount: u64) -> Result<bool, HostError> {
        let from_balance = self.balance(asset)?;
        let Some(left) = from_balance.checked_sub(amount) else {
            return Ok(false);
        };
        let to_balance = self.balances.get(&(*to, *asset)).copied().unwrap_or(0);
        if *to == self.contract {
            return Ok(true);
        }
        let credited = to_balance
            .checked_add(amount)
            .ok_or(HostError::LimitExceeded {
                what: "receiver balance",
                limit: u64::MAX,
            })?;
        self.balances.insert((self.contract, *asset), left);
        self.balances.insert((*to, *asset), credited);
        Ok(true)
    }
    fn burn(&mut self, asset: &Hash, amount: u64) -> Result<bool, HostError> {
        let Some(left) = self.balance(asset)?.checked_sub(amount) else {
            return Ok(false);
        };
        self.balances.insert((self.contract, *asset), left);
        Ok(true)
    }
    fn asset_create(&mut self, name: &[u8], _decimals: u8) -> Result<(Hash, bool), HostError> {
        let mut id = [0u8; 32];
        for (i, b) in self.contract.iter().chain(name).enumerate() {
            id[i % 32] = id[i % 32].wrapping_mul(31).wrapping_add(*b);
        }
        if self.assets.contains_key(&id) {
            return Ok((id, false));
        }
        self.assets.insert(id, (self.contract, 0));
        Ok((id, true))
    }
    fn asset_mint(&mut self, asset: &Hash, amount: u64) -> Result<bool, HostError> {
        let Some((creator, supply)) = self.assets.get(asset).copied() else {
            return Ok(false);
        };
        let balance = self.balance(asset)?;
        match (
            creator == self.contract,
            supply.checked_add(amount),
            balance.checked_add(amount),
        ) {
            (true, Some(supply), Some(balance)) => {
                self.assets.insert(*asset, (creator, supply));
                self.balances.insert((self.contract, *asset), balance);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    fn fire_event(&mut self, id: u64, data: &[u8]) -> Result<(), HostError> {
        limits::check_count(
            "events per call",
            self.events.len(),
            limits::MAX_EVENTS_PER_CALL,
        )?;
        self.events.push((id, data.to_vec()));
        Ok(())
    }
}

/// The protocol of ABI v1 with every cost at its declared (version-1) value: what engine and
/// syscall tests prepare modules under when no host builds a schedule.
pub fn abi_v1() -> tos_engine_api::Protocol {
    tos_engine_api::Protocol::from(
        [crate::ABI_V1]
            .into_iter()
            .collect::<tos_engine_api::FeatureSet>(),
    )
}
