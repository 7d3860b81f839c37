//! The vocabulary and the traits that every tos-engine execution engine shares.
//!
//! A node hands the host a module (tagged with the [`ModuleTag`] of the engine that runs it)
//! and calls on it. The host asks the engine registered for the tag to
//! [`prepare`](ExecutionEngine::prepare) the code once — parse, validate, compile — and keeps
//! the resulting [`PreparedModule`] in a cache. Every call then only sets up memory and runs
//! against a [`HostAbi`], the one door through which a contract reaches the chain.
//!
//! ```
//! use tos_engine_api::{Call, CallInput, GasMeter, ModuleTag};
//!
//! // The input every engine hands a contract (ABI.md): an 8-byte header, then the params.
//! let input = CallInput::new(Call::Entry(7), b"hi".to_vec());
//! let bytes = input.encode();
//! assert_eq!(bytes, [0, 0, 7, 0, 2, 0, 0, 0, b'h', b'i']);
//! assert_eq!(CallInput::decode(&bytes).unwrap(), input);
//!
//! // Tags are append-only numbers; an unknown one is a value, not a panic.
//! assert_eq!(ModuleTag::TBPF.name(), Some("tbpf"));
//! assert_eq!(ModuleTag::from(9).to_string(), "unknown tag 9");
//!
//! // One gas meter, with checked arithmetic, for every engine.
//! let mut gas = GasMeter::new(10);
//! gas.consume(7).unwrap();
//! assert!(gas.consume(4).is_err());
//! assert_eq!(gas.used(), 10); // running out consumes the whole limit
//! ```
//!
//! # Two error tiers
//! What a contract does wrong — a trap, running out of gas, a bad memory access, an unknown
//! entry, a non-zero exit code — is *data*: an [`Outcome`] whose [`ExitStatus`] says what
//! happened, deterministic on every engine and every execution mode. [`EngineFault`] is
//! reserved for a broken node (an engine bug, a failing database) and aborts the block.
//!
//! # Gas
//! Gas is a plain `u64` ([`Gas`]). Engines meter execution with a [`GasMeter`]; syscalls charge
//! the same meter *before* doing their work. Running out of gas uses the whole limit.

#![deny(missing_docs)]

mod call;
mod engine;
mod error;
mod features;
mod gas;
mod host;
mod input;
mod memory;
mod outcome;
pub mod pages;
mod plugin;
mod protocol;
pub mod trace;
mod types;

pub use call::{
    CALL_DESCRIPTOR_DEPOSIT, CALL_DESCRIPTOR_HEADER, CALL_REFUSED, CALL_TRAPPED, CallRefusal,
    CallRequest, CallResult, DescriptorError, MAX_CALL_DEPOSITS, MAX_CALL_DESCRIPTOR,
    MAX_CALL_PARAMS,
};
pub use engine::{EntryTable, ExecutionEngine, ModuleInfo, PreparedModule, derived_version};
pub use error::{EngineFault, LoadError};
pub use features::FeatureSet;
pub use gas::{GasMeter, OutOfGas};
pub use host::{HostAbi, HostError};
pub use input::{CallInput, INPUT_HEADER_LEN, InputError};
pub use memory::{Access, GuestMemory, MemoryError, SliceMemory};
pub use outcome::{ExitStatus, Outcome, Trap};
pub use plugin::{EnginePlugin, plugins};
pub use protocol::{GasSchedule, Protocol};
pub use types::{Call, Gas, Hash, Height, ModuleTag, NATIVE_ASSET};
