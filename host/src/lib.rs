//! The TOS contract host: the crate the daemon embeds.
//!
//! It picks the engine for a module by its tag and the block height
//! ([`ActivationSchedule`] + [`EngineRegistry`]), prepares modules once and caches them
//! ([`ModuleCache`]), meters gas, and runs deploys and calls against a [`Journal`] over the
//! daemon's state ([`ContractProvider`]), committing only what succeeds.
//!
//! # Addresses
//! A contract's address is `blake3("tos/contract/v1" ‖ deployer ‖ tag ‖ blake3(code))`
//! ([`contract_address`]); an asset's id is `blake3("tos/asset/v1" ‖ creator ‖ name)`
//! ([`asset_id`]).
//!
//! # Gas
//! Every call costs [`INTRINSIC_GAS`] before the contract runs; the engine then meters the
//! rest of the limit. A call refused because the module lacks the entry is charged the
//! intrinsic gas only.

mod cache;
mod envelope;
mod host;
mod provider;
mod registry;
mod schedule;

pub use cache::{CacheKey, CacheStats, DEFAULT_CACHE_CAPACITY, ModuleCache};
pub use envelope::{
    ContractModule, DEFAULT_MAX_MODULE_SIZE, EnvelopeError, asset_id, contract_address,
};
pub use host::{
    CallReport, DeployRequest, DeployResult, Error, Event, Host, HostConfig, INTRINSIC_GAS,
    InvokeRequest, MAX_PARAMS_LEN, Transfer, TxContext,
};
pub use provider::{
    AssetInfo, ChangeSet, ContractProvider, Journal, MemoryProvider, ProviderError, StoredContract,
};
pub use registry::{BuiltinConfig, EngineInfo, EngineOrigin, EngineRegistry, RegistryError};
pub use schedule::{
    ActivationError, ActivationSchedule, ScheduleError, TagSchedule, VersionSwitch,
};
