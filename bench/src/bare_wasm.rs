//! The floor of wasm: the same module on a plain wasmtime engine with the settings of the
//! project's wasm engine that decide the speed of compiled code and of instantiation (fuel on,
//! with version 1's fuel table — wasmtime's own plus 255 per page grown —, NaN
//! canonicalization, Cranelift at `Speed`, a 4 GiB memory reservation with a 32 MiB guard,
//! eager data-segment copies), a fresh instance per call (the engine reuses instances, which
//! only the call cases see; a kernel run is long enough for it not to matter), and stub imports:
//! `tos_get_input` copies the call's input, `tos_set_return_data` keeps the bytes, every other
//! `env` import returns 0.
//!
//! What the engine adds above this floor is its instrumentation (the deterministic stack
//! counter and fuel checks), the host, and the syscall bodies.

use wasmtime::{
    Caller, Config, Engine, Extern, InstancePre, Linker, Module, OperatorCost, OptLevel, Store, Val,
};

use tos_engine_api::{Call, CallInput};

use crate::BenchError;

/// Per-call state of the stubs.
#[derive(Debug, Default)]
struct StubState {
    input: Vec<u8>,
    return_data: Vec<u8>,
}

/// The most return data the stub keeps.
const MAX_RETURN_DATA: usize = 1024;
/// The address space reserved for a linear memory, as the engine sets it: all a 32-bit
/// memory can address.
const MEMORY_RESERVATION: u64 = 1 << 32;
/// The guard after it, as the engine sets it.
const GUARD: u64 = 32 * 1024 * 1024;
/// The native stack wasm code may use (`WasmConfig::MIN_WASM_STACK`, the default).
const MAX_WASM_STACK: usize = 1024 * 1024;
/// Fuel per page of `memory.grow` in version 1 of the wasm costs.
const MEMORY_PAGE_FUEL: u8 = 255;

/// What a bare call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BareWasmOutcome {
    /// The entry's i64 result, as a u64: the exit code.
    pub exit: u64,
    /// Fuel consumed.
    pub fuel: u64,
    /// The bytes of the last `tos_set_return_data`.
    pub return_data: Vec<u8>,
}

/// A wasm module compiled by a plain wasmtime engine, with its imports bound to stubs.
pub struct BareWasm {
    engine: Engine,
    pre: InstancePre<StubState>,
}

impl std::fmt::Debug for BareWasm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BareWasm").finish_non_exhaustive()
    }
}

fn err(what: &str) -> impl Fn(wasmtime::Error) -> BenchError + '_ {
    move |e| BenchError::new(format!("bare wasmtime: {what}: {e:#}"))
}

fn memory(caller: &mut Caller<'_, StubState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::Error::msg("the module exports no memory")),
    }
}

impl BareWasm {
    /// Compiles `code` and binds its imports.
    ///
    /// # Errors
    /// wasmtime's refusal, or an import outside module `env`.
    pub fn load(code: &[u8]) -> Result<Self, BenchError> {
        let mut fuel = OperatorCost::new();
        fuel.variable.memory_grow_per_page = MEMORY_PAGE_FUEL;
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .operator_cost(fuel)
            .cranelift_nan_canonicalization(true)
            .cranelift_opt_level(OptLevel::Speed)
            .max_wasm_stack(MAX_WASM_STACK)
            .wasm_backtrace_max_frames(None)
            .memory_init_cow(false)
            .memory_reservation(MEMORY_RESERVATION)
            .memory_guard_size(GUARD);
        let engine = Engine::new(&config).map_err(err("engine"))?;
        let module = Module::new(&engine, code).map_err(err("compile"))?;
        let mut linker = Linker::<StubState>::new(&engine);
        for import in module.imports() {
            if import.module() != "env" {
                return Err(BenchError::new(format!(
                    "bare wasmtime: import {}.{} is not a syscall",
                    import.module(),
                    import.name()
                )));
            }
            match import.name() {
                "tos_get_input" => {
                    linker
                        .func_wrap(
                            "env",
                            "tos_get_input",
                            |mut caller: Caller<'_, StubState>, ptr: i64, cap: i64| {
                                let mem = memory(&mut caller)?;
                                let (data, state) = mem.data_and_store_mut(&mut caller);
                                let n = state.input.len();
                                let take = n.min(usize::try_from(cap).unwrap_or(0));
                                let start = usize::try_from(ptr).unwrap_or(usize::MAX);
                                let dst = start
                                    .checked_add(take)
                                    .and_then(|end| data.get_mut(start..end))
                                    .ok_or_else(|| wasmtime::Error::msg("out of bounds"))?;
                                dst.copy_from_slice(&state.input[..take]);
                                Ok(n as i64)
                            },
                        )
                        .map_err(err("binding tos_get_input"))?;
                }
                "tos_set_return_data" => {
                    linker
                        .func_wrap(
                            "env",
                            "tos_set_return_data",
                            |mut caller: Caller<'_, StubState>, ptr: i64, len: i64| {
                                let mem = memory(&mut caller)?;
                                let (data, state) = mem.data_and_store_mut(&mut caller);
                                let len = usize::try_from(len)
                                    .unwrap_or(usize::MAX)
                                    .min(MAX_RETURN_DATA);
                                let start = usize::try_from(ptr).unwrap_or(usize::MAX);
                                let src = start
                                    .checked_add(len)
                                    .and_then(|end| data.get(start..end))
                                    .ok_or_else(|| wasmtime::Error::msg("out of bounds"))?;
                                state.return_data = src.to_vec();
                                Ok(0i64)
                            },
                        )
                        .map_err(err("binding tos_set_return_data"))?;
                }
                other => {
                    let ty =
                        import.ty().func().cloned().ok_or_else(|| {
                            BenchError::new(format!("import {other} is no function"))
                        })?;
                    linker
                        .func_new("env", other, ty, |_caller, _params, results| {
                            for r in results.iter_mut() {
                                *r = Val::I64(0);
                            }
                            Ok(())
                        })
                        .map_err(err("binding a stub"))?;
                }
            }
        }
        let pre = linker
            .instantiate_pre(&module)
            .map_err(err("instantiate_pre"))?;
        Ok(BareWasm { engine, pre })
    }

    /// Instantiates the module afresh and runs `call` (export `entry_<N>` or `hook_<N>`) with
    /// `params`, with `fuel`.
    ///
    /// # Errors
    /// A trap, running out of fuel, or a missing export.
    pub fn run(&self, call: Call, params: &[u8], fuel: u64) -> Result<BareWasmOutcome, BenchError> {
        let input = CallInput::new(call, params.to_vec())
            .try_encode()
            .map_err(|e| BenchError::new(format!("input: {e}")))?;
        let mut store = Store::new(
            &self.engine,
            StubState {
                input,
                return_data: Vec::new(),
            },
        );
        store.set_fuel(fuel).map_err(err("set_fuel"))?;
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(err("instantiate"))?;
        let name = match call {
            Call::Entry(n) => format!("entry_{n}"),
            Call::Hook(n) => format!("hook_{n}"),
        };
        let func = instance
            .get_typed_func::<(), i64>(&mut store, &name)
            .map_err(err("export"))?;
        let exit = func.call(&mut store, ()).map_err(err("call"))?;
        let left = store.get_fuel().map_err(err("get_fuel"))?;
        Ok(BareWasmOutcome {
            exit: exit as u64,
            fuel: fuel.saturating_sub(left),
            return_data: std::mem::take(&mut store.data_mut().return_data),
        })
    }
}
