//! The TOS contract host: the crate the daemon embeds.
//!
//! It picks the engine for a module by its tag and the block height
//! ([`ActivationSchedule`] + [`EngineRegistry`]), prepares modules once and caches them
//! ([`ModuleCache`]), meters gas, and runs deploys and calls against a [`Journal`] over the
//! daemon's state ([`ContractProvider`]), committing only what succeeds.
//!
//! ```
//! use tos_engine_api::{Call, ModuleTag};
//! use tos_host::{
//!     ActivationSchedule, BuiltinConfig, ContractModule, DeployRequest, EngineRegistry, Host,
//!     InvokeRequest, MemoryProvider, TxContext,
//! };
//!
//! // Engines (built-ins plus every linked plug-in) and the network's schedule.
//! let registry = EngineRegistry::builtin(&BuiltinConfig::default())?;
//! let host = Host::new(registry, ActivationSchedule::devnet())?;
//! // The daemon brings its own state; this one lives in memory.
//! let mut state = MemoryProvider::default();
//! let tx = TxContext { height: 1, source: [7; 32], ..TxContext::default() };
//!
//! // Deploy the example counter (TBPF): its constructor stores count = 0.
//! let code = include_bytes!("../../sdk/examples/build/counter.so").to_vec();
//! let envelope = ContractModule::new(ModuleTag::TBPF, code).encode();
//! let deployed =
//!     host.deploy(&mut state, &tx, &DeployRequest { envelope, params: vec![], gas_limit: 1_000_000 })?;
//! assert!(deployed.deployed);
//!
//! // Call entry 0 (increment): committed because it exited with 0.
//! let call = InvokeRequest {
//!     contract: deployed.address,
//!     call: Call::Entry(0),
//!     params: vec![],
//!     gas_limit: 100_000,
//!     deposits: vec![],
//! };
//! let report = host.invoke(&mut state, &tx, &call)?;
//! assert!(report.is_success());
//! assert_eq!(report.outcome.return_data, 1u64.to_le_bytes());
//! assert_eq!(report.events[0].id, 1);
//! assert_eq!(state.storage[&(deployed.address, b"count".to_vec())], 1u64.to_le_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Deploy envelope
//! A deploy carries a [`ContractModule`] envelope: the module tag, then the code, either plain
//! or as one zstd frame (the high bit of the tag byte set, written by
//! [`ContractModule::encode_compressed`]). [`ContractModule::decode`] reads both under the
//! host's cap, in bounded time and memory; the code hash and the address are those of the
//! decompressed code. The [`ContractModule`] docs give the format and the limits.
//!
//! # Addresses
//! A contract's address is `blake3("tos/contract/v1" ‖ deployer ‖ tag ‖ blake3(code))`
//! ([`contract_address`]); an asset's id is `blake3("tos/asset/v1" ‖ creator ‖ name)`
//! ([`asset_id`]).
//!
//! # Gas
//! Every cost comes from the gas schedule the network's [`ActivationSchedule`] puts in force at
//! the block's height ([`Host::protocol_at`]). Every call costs `call.intrinsic` (1,000 in
//! version 1, [`INTRINSIC_GAS`]) before the contract runs; the engine then meters the rest of
//! the limit. A call refused because the module lacks the entry is charged the intrinsic gas
//! only. A deploy costs `deploy.base + deploy.per_byte × code length` before its constructor,
//! and is refused before any compilation when its limit does not cover that. No transaction
//! may ask for more than `tx.max_gas`.

mod cache;
mod envelope;
mod frame;
mod host;
mod protocol;
mod provider;
mod registry;
mod schedule;
pub mod testing;

pub use cache::{CacheKey, CacheStats, DEFAULT_CACHE_CAPACITY, ModuleCache};
pub use envelope::{
    ContractModule, DEFAULT_MAX_MODULE_SIZE, EnvelopeError, EnvelopeForm, asset_id,
    contract_address,
};
pub use frame::{CallFrame, FrameItem};
pub use host::{
    CallReport, DeployRequest, DeployResult, Error, Event, Host, HostConfig, INTRINSIC_GAS,
    InvokeRequest, MAX_PARAMS_LEN, Transfer, TxContext,
};
pub use protocol::{ActiveProtocol, costs};
pub use provider::{
    AssetInfo, ChangeSet, ContractHeader, ContractProvider, Journal, MemoryProvider, ProviderError,
    StoredContract, StoredEntries,
};
pub use registry::{BuiltinConfig, EngineInfo, EngineOrigin, EngineRegistry, RegistryError};
pub use schedule::{
    ActivationError, ActivationSchedule, GasSwitch, ScheduleError, TagSchedule, VersionSwitch,
};
