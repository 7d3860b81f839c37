//! The real host, for tests of engines and syscall bodies: no second, hand-written host whose
//! rules drift from the chain's.
//!
//! [`with_call_host`] hands a closure the very [`HostAbi`] a contract call gets from
//! [`Host::invoke`] — the journal over a state, the per-call limits, balances, assets, events,
//! nested calls (ABI v2) — for a contract address that need not hold code, so an engine test
//! can run a module it prepared itself, or a syscall test can call a body directly:
//!
//! ```
//! use tos_engine_api::{Call, GasMeter, SliceMemory};
//! use tos_host::testing::{devnet_host, with_call_host};
//! use tos_host::{MemoryProvider, TxContext};
//!
//! let host = devnet_host();
//! let mut state = MemoryProvider::default();
//! let tx = TxContext { height: 1, ..TxContext::default() };
//! let live = host.protocol_at(1).syscalls();
//! let log = live.by_name("tos_log").unwrap();
//! let (result, frame) = with_call_host(&host, &mut state, &tx, [5; 32], Call::Entry(0), &[], |h| {
//!     let mut bytes = *b"hi";
//!     let mut memory = SliceMemory::new(0x1000, &mut bytes, false);
//!     tos_syscalls::invoke(log, h, &mut memory, &mut GasMeter::new(1_000), [0x1000, 2, 0, 0, 0])
//! })?;
//! assert_eq!(result, Ok(0));
//! assert_eq!(frame.all_logs(), [b"hi".to_vec()]);
//! # Ok::<(), tos_host::Error>(())
//! ```

use tos_engine_api::{Call, Hash, HostAbi};

use crate::frame::Env;
use crate::{
    ActivationSchedule, BuiltinConfig, CallFrame, ContractProvider, EngineRegistry, Error, Host,
    TxContext,
};

/// Runs `f` with the host interface of a call of `call` with `params` on `contract`, sent by
/// `tx.source`, at `tx.height`, over `state`; then applies to `state` everything `f` staged
/// through it (storage, balances, assets — whatever `f` returned), and returns `f`'s result
/// and the frame's trace (events, logs, transfers, nested calls, return data set).
///
/// # Errors
/// [`Error::Provider`] when `state` fails, [`Error::Fault`] when a nested call faulted the
/// node, [`Error::ParamsTooLarge`] for params over the limit.
pub fn with_call_host<R>(
    host: &Host,
    state: &mut dyn ContractProvider,
    tx: &TxContext,
    contract: Hash,
    call: Call,
    params: &[u8],
    f: impl FnOnce(&mut dyn HostAbi) -> R,
) -> Result<(R, CallFrame), Error> {
    let env = Env {
        host,
        protocol: host.protocol_at(tx.height),
        tx,
    };
    crate::frame::with_call_host(&env, state, contract, call, params, f)
}

/// A host with the built-in engines (TBPF's JIT where the platform has it) and every linked
/// plug-in, on the devnet schedule: ABI v1 and v2 live from genesis.
///
/// # Panics
/// When the built-in engines cannot start or the devnet schedule is refused: both are bugs of
/// this build, not conditions a test should handle.
pub fn devnet_host() -> Host {
    let registry = EngineRegistry::builtin(&BuiltinConfig::default())
        .expect("the built-in engines start with their default configuration");
    Host::new(registry, ActivationSchedule::devnet()).expect("the devnet schedule is valid")
}
