//! Helpers shared by the integration tests: the engine, the committed fixtures, and calls run
//! against the real host (`tos_host::testing`) over a state in memory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use tos_engine_api::{
    Call, EngineFault, ExecutionEngine, Gas, Hash, HostAbi, LoadError, Outcome, PreparedModule,
};
use tos_engine_wasm::{WasmConfig, WasmEngine};
use tos_host::{CallFrame, Host, MemoryProvider, TxContext};

/// Plenty of gas for every well-behaved call of the tests.
pub const GAS: Gas = 1_000_000;

pub fn engine() -> WasmEngine {
    WasmEngine::new(WasmConfig::default()).expect("the default configuration is valid")
}

/// The committed binary of `tests/fixtures/<name>.wat`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The committed binary of `examples/<name>.wat`.
pub fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("examples/{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn prepare(code: &[u8]) -> Arc<dyn PreparedModule> {
    engine()
        .prepare(code, &tos_syscalls::testing::abi_v1())
        .expect("the module loads")
}

pub fn load_error(code: &[u8]) -> LoadError {
    match engine().prepare(code, &tos_syscalls::testing::abi_v1()) {
        Ok(_) => panic!("the module loaded but should have been refused"),
        Err(e) => e,
    }
}

/// The real host (devnet schedule), shared by every test of a binary.
pub static HOST: LazyLock<Host> = LazyLock::new(tos_host::testing::devnet_host);

/// Where a module runs: the real host over a state in memory, as contract `contract` in a
/// transaction `tx`.
#[derive(Clone, Debug)]
pub struct World {
    /// The chain state (storage, balances, assets).
    pub state: MemoryProvider,
    /// Height, source (the caller), block and transaction hashes.
    pub tx: TxContext,
    /// The running contract's address.
    pub contract: Hash,
    /// The frame of the last call run in this world: its events, logs and transfers.
    pub last: Option<CallFrame>,
}

impl Default for World {
    fn default() -> Self {
        World {
            state: MemoryProvider::default(),
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

    /// The events of the last call: (id, data).
    pub fn events(&self) -> Vec<(u64, Vec<u8>)> {
        let frame = self.last.as_ref();
        frame.map_or_else(Vec::new, |f| {
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
    pub fn with_host<R>(
        &mut self,
        call: Call,
        params: &[u8],
        f: impl FnOnce(&mut dyn HostAbi) -> R,
    ) -> R {
        let (r, frame) = tos_host::testing::with_call_host(
            &HOST,
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
    pub fn try_run(
        &mut self,
        module: &dyn PreparedModule,
        call: Call,
        params: &[u8],
        gas: Gas,
    ) -> Result<Outcome, EngineFault> {
        self.with_host(call, params, |h| module.run(call, h, gas))
    }
}

/// Runs `call` with `params` on `module` in `world`, the way the host does: the input is the
/// host's.
pub fn run(
    module: &dyn PreparedModule,
    world: &mut World,
    call: Call,
    params: &[u8],
    gas: Gas,
) -> Outcome {
    world
        .try_run(module, call, params, gas)
        .expect("no engine fault")
}
