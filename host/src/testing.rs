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

/// The devnet host of [`devnet_host`], built once per process and shared by every test.
pub fn shared_devnet_host() -> &'static Host {
    static HOST: std::sync::LazyLock<Host> = std::sync::LazyLock::new(devnet_host);
    &HOST
}

/// Where an engine test runs a module: the real host ([`shared_devnet_host`]) over a state in
/// memory, as contract `contract` in transaction `tx`. Clone it to run the same call from the
/// same start on several engines.
#[derive(Clone, Debug)]
pub struct World {
    /// The chain state (storage, balances, assets).
    pub state: crate::MemoryProvider,
    /// Height, source (the caller), block and transaction hashes, timestamp.
    pub tx: TxContext,
    /// The running contract's address.
    pub contract: Hash,
    /// The frame of the last call run in this world: its events, logs, transfers and calls.
    pub last: Option<CallFrame>,
}

impl Default for World {
    /// Contract `[0xC0; 32]` at height 1, an empty state.
    fn default() -> Self {
        World {
            state: crate::MemoryProvider::default(),
            tx: TxContext {
                height: 1,
                ..TxContext::default()
            },
            contract: [0xC0; 32],
            last: None,
        }
    }
}

impl World {
    /// The running contract's storage: key → value.
    pub fn storage(&self) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
        self.state
            .storage
            .iter()
            .filter(|((contract, _), _)| *contract == self.contract)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect()
    }

    /// The running contract's value under `key`.
    pub fn stored(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.state.storage.get(&(self.contract, key.to_vec()))
    }

    /// The kept events of the last call: (id, data).
    pub fn events(&self) -> Vec<(u64, Vec<u8>)> {
        self.last.as_ref().map_or_else(Vec::new, |f| {
            f.kept_events()
                .into_iter()
                .map(|e| (e.id, e.data))
                .collect()
        })
    }

    /// The log lines of the last call.
    pub fn logs(&self) -> Vec<Vec<u8>> {
        self.last
            .as_ref()
            .map_or_else(Vec::new, CallFrame::all_logs)
    }

    /// Runs `f` with the host interface of a call of `call` with `params`, here; the state
    /// keeps what `f` staged and `last` the frame.
    ///
    /// # Panics
    /// When the host fails (the state in memory cannot, so only a node fault of a nested
    /// call): a test should see that, not handle it.
    pub fn with_host<R>(
        &mut self,
        call: Call,
        params: &[u8],
        f: impl FnOnce(&mut dyn HostAbi) -> R,
    ) -> R {
        let (r, frame) = with_call_host(
            shared_devnet_host(),
            &mut self.state,
            &self.tx,
            self.contract,
            call,
            params,
            f,
        )
        .unwrap_or_else(|e| panic!("the host failed: {e}"));
        self.last = Some(frame);
        r
    }

    /// Runs `call` with `params` on `module` through the real host, here.
    ///
    /// # Errors
    /// The engine's fault.
    pub fn run(
        &mut self,
        module: &dyn tos_engine_api::PreparedModule,
        call: Call,
        params: &[u8],
        gas: tos_engine_api::Gas,
    ) -> Result<tos_engine_api::Outcome, tos_engine_api::EngineFault> {
        self.with_host(call, params, |h| module.run(call, h, gas))
    }
}
