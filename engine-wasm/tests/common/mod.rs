//! Helpers shared by the integration tests: the engine, the committed fixtures, and calls run
//! against a `RecordingHost` with the input the host would give.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use tos_engine_api::{Call, CallInput, ExecutionEngine, Gas, LoadError, Outcome, PreparedModule};
use tos_engine_wasm::{WasmConfig, WasmEngine};
use tos_syscalls::testing::RecordingHost;

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

/// Runs `call` with `params` the way the host does: the input is set on the host first.
pub fn run(
    module: &dyn PreparedModule,
    host: &mut RecordingHost,
    call: Call,
    params: &[u8],
    gas: Gas,
) -> Outcome {
    host.input = CallInput::new(call, params.to_vec()).encode();
    module
        .run(call, params, host, gas)
        .expect("no engine fault")
}
