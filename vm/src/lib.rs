//! The daemon's old VM API — [`VM`], [`Module`], [`Context`], [`ValueCell`], [`VmError`] —
//! over `tos-host`, so that the daemon's contract code keeps its shape and runs any module:
//! legacy, TBPF, wasm, or a plug-in engine's.
//!
//! ```
//! // Link the wasm plug-in engine (tag 2): the host finds it at start-up.
//! use tos_engine_wasm as _;
//! use tos_vm::host::{ActivationSchedule, BuiltinConfig, EngineRegistry, MemoryProvider};
//! use tos_vm::{Environment, Host, Module, TxContext, VM, ValueCell};
//!
//! let host = Host::new(EngineRegistry::builtin(&BuiltinConfig::default())?, ActivationSchedule::devnet())?;
//! let mut state = MemoryProvider::default();
//! let tx = TxContext { height: 1, source: [7; 32], ..TxContext::default() };
//!
//! for file in ["counter.tosl", "counter.so", "counter.wasm"] {
//!     let path = if file.ends_with("tosl") { "../engine-legacy/examples/" } else { "../sdk/examples/build/" };
//!     // The engine is told by the code's magic (ELF, wasm, TOSL).
//!     let module = Module::new(std::fs::read(format!("{path}{file}"))?)?;
//!     let contract = module.address(&tx.source);
//!
//!     // Deploy: store the module and run its constructor.
//!     let mut vm = VM::new(Environment::new(&host, &mut state, tx.clone(), contract));
//!     vm.append_module(module.clone())?;
//!     vm.invoke_deploy()?;
//!     vm.context_mut().set_gas_limit(10_000_000);
//!     assert_eq!(vm.run()?, 0);
//!
//!     // Call entry 2, add(amount), in the daemon's shape; the SDK examples read their
//!     // params as raw bytes, which one bytes value gives on every engine.
//!     let mut env = Environment::new(&host, &mut state, tx.clone(), contract);
//!     env.set_params_encoding(tos_vm::ParamsEncoding::Bytes);
//!     let (max_gas, parameters) = (100_000, vec![ValueCell::Bytes(41u64.to_le_bytes().to_vec())]);
//!     let mut vm = VM::new(env);
//!     vm.append_module(module)?;
//!     vm.invoke_entry_chunk(2)?;
//!     for constant in parameters.into_iter().rev() {
//!         vm.push_stack(constant)?;
//!     }
//!     vm.context_mut().set_gas_limit(max_gas);
//!     assert_eq!(vm.run()?, 0);
//!     assert_eq!(vm.context().return_data(), 41u64.to_le_bytes());
//!     assert!(vm.context().current_gas_usage() <= max_gas);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The environment
//! [`VM::new`] takes an [`Environment`]: the [`Host`] (engines, the network's
//! [`ActivationSchedule`](tos_host::ActivationSchedule), the prepared-module cache), the
//! daemon's state as a [`ContractProvider`], the [`TxContext`] (height, block, transaction,
//! signer), the contract's address, the call's deposits and how params are encoded. The
//! daemon builds the `Host` once and an `Environment` per deploy or call (docs/MIGRATION.md).
//!
//! # Runs
//! Each [`VM::run`] is one [`Host::deploy`](tos_host::Host::deploy)
//! ([`VM::invoke_deploy`]) or [`Host::invoke`](tos_host::Host::invoke)
//! ([`VM::invoke_entry_chunk`], [`VM::invoke_hook_id`]): the engine is chosen by the module's
//! tag and the schedule at the environment's height; the module is prepared once and cached;
//! deposits are credited in the call's journal; the journal is committed only when the
//! contract exits with 0. `run` returns the exit code; a trap is [`VmError::Trap`]. The gas
//! charged ([`Context::current_gas_usage`]), the return data, events, logs, transfers and the
//! whole [`CallReport`] are in the [`Context`], exactly as the host reports them.
//!
//! # Parameters
//! [`VM::push_stack`] collects [`ValueCell`]s; the last pushed is the first parameter (the
//! daemon pushes `parameters.rev()`). TBPF, wasm and plug-in contracts receive the borsh
//! encodings of the values in call order ([`ParamsEncoding::Borsh`], [`encode_params`]; the C
//! SDK decodes them with `sdk/include/tos_params.h`). Legacy contracts take one bytes value,
//! as their entry chunk's only argument: push one `ValueCell::Bytes` (or nothing).
//! [`ParamsEncoding::Bytes`] applies that convention to every engine, for contracts that lay
//! out their params themselves.
//!
//! # What the crate re-exports
//! [`ValueCell`] is the legacy engine's value type (one copy, re-exported). The host and the
//! engine vocabulary are re-exported whole as [`host`] and [`engine_api`], so that the daemon
//! needs this one dependency (plus the plug-in engines it links, such as `tos-engine-wasm`).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod environment;
mod error;
mod module;
mod params;
mod vm;

pub use environment::Environment;
pub use error::VmError;
pub use module::Module;
pub use params::{ParamsEncoding, decode_params, encode_params};
pub use vm::{Context, VM};

pub use tos_engine_api::{ExitStatus, Gas, Hash, ModuleTag, Trap};
pub use tos_engine_legacy::{LimitError, ValueCell};
pub use tos_host::{CallReport, ContractProvider, DeployResult, Event, Host, Transfer, TxContext};

/// The host crate (`tos-host`), re-exported: registry, schedule, providers, envelope.
pub use tos_host as host;

/// The engine vocabulary (`tos-engine-api`), re-exported.
pub use tos_engine_api as engine_api;
