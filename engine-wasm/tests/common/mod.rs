//! Helpers shared by the integration tests: the engine, the committed fixtures, and calls run
//! against the real host (`tos_host::testing`) over a state in memory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use tos_engine_api::{Call, ExecutionEngine, Gas, LoadError, Outcome, PreparedModule};
use tos_engine_wasm::{WasmConfig, WasmEngine};

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

pub use tos_host::testing::World;

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
        .run(module, call, params, gas)
        .expect("no engine fault")
}
