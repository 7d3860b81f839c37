//! [`WasmEngine`]: a wasmtime `Engine` configured for deterministic, metered execution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tos_engine_api::{
    EngineFault, ExecutionEngine, FeatureSet, LoadError, ModuleTag, PreparedModule,
};
use tos_syscalls::SyscallTable;
use wasmtime::{Linker, Module, OperatorCost, OptLevel, WasmFeatures};

use crate::bind::{CallState, build_linker};
use crate::config::{MAX_CACHED_LINKERS, WasmConfig};
use crate::module::check;
use crate::{ENGINE_NAME, ENGINE_VERSION};

/// The proposals a module may use: WebAssembly 1.0 plus the deterministic, widely emitted
/// extensions (what `clang --target=wasm32` and `rustc` produce by default). Floats stay
/// allowed because NaN canonicalization makes them deterministic.
const ENABLED: &[WasmFeatures] = &[
    WasmFeatures::MUTABLE_GLOBAL,
    WasmFeatures::SATURATING_FLOAT_TO_INT,
    WasmFeatures::SIGN_EXTENSION,
    WasmFeatures::MULTI_VALUE,
    WasmFeatures::BULK_MEMORY,
    WasmFeatures::REFERENCE_TYPES,
    WasmFeatures::FLOATS,
];

/// The proposals refused at load: nondeterministic (threads, relaxed SIMD), unbounded
/// (multiple or 64-bit memories), or not needed by contracts (everything else).
const DISABLED: &[WasmFeatures] = &[
    WasmFeatures::SIMD,
    WasmFeatures::RELAXED_SIMD,
    WasmFeatures::THREADS,
    WasmFeatures::SHARED_EVERYTHING_THREADS,
    WasmFeatures::MULTI_MEMORY,
    WasmFeatures::MEMORY64,
    WasmFeatures::CUSTOM_PAGE_SIZES,
    WasmFeatures::TAIL_CALL,
    WasmFeatures::EXTENDED_CONST,
    WasmFeatures::FUNCTION_REFERENCES,
    WasmFeatures::GC,
    WasmFeatures::EXCEPTIONS,
    WasmFeatures::LEGACY_EXCEPTIONS,
    WasmFeatures::STACK_SWITCHING,
    WasmFeatures::WIDE_ARITHMETIC,
    WasmFeatures::COMPONENT_MODEL,
];

/// The fuel cost table: wasmtime's per-operator costs (1 per operator; 0 for `nop`, `drop`,
/// `block`, `loop`, `unreachable`, `return`, `else`, `end`; 1 per byte or element moved by
/// bulk memory and table operators) pinned explicitly, plus
/// [`WasmConfig::GAS_PER_MEMORY_PAGE`] per page `memory.grow` asks for.
fn operator_cost() -> OperatorCost {
    const GROW: u8 = {
        assert!(WasmConfig::GAS_PER_MEMORY_PAGE <= u8::MAX as u64);
        WasmConfig::GAS_PER_MEMORY_PAGE as u8
    };
    let mut cost = OperatorCost::new();
    cost.variable.memory_grow_per_page = GROW;
    cost
}

/// Runs TOS contracts compiled to core WebAssembly, on wasmtime (Cranelift).
///
/// Built once per node and shared across threads. It compiles each module once in
/// [`prepare`](ExecutionEngine::prepare); each call then gets a fresh `Store` and instance.
/// The syscall imports of each feature set are bound into a `Linker` once and kept.
///
/// # Determinism
/// Fuel metering is the gas meter (one fuel is one gas; see the crate docs for the cost
/// table), NaN results are canonicalized, and every nondeterministic proposal (threads, SIMD,
/// relaxed SIMD) is refused at load. Memory, tables and the wasm stack are bounded by
/// [`WasmConfig`].
pub struct WasmEngine {
    config: WasmConfig,
    engine: wasmtime::Engine,
    syscalls: &'static SyscallTable,
    linkers: Mutex<HashMap<FeatureSet, Arc<Linker<CallState>>>>,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Guard region after a linear memory's reservation (one wasm page).
const WASM_GUARD_SIZE: u64 = 64 * 1024;

impl WasmEngine {
    /// Builds the engine.
    ///
    /// # Errors
    /// A message naming the problem when `config` is outside the documented ceilings, when
    /// the syscall table is inconsistent, or when wasmtime refuses the configuration (e.g. on
    /// a target Cranelift does not support).
    pub fn new(config: WasmConfig) -> Result<Self, String> {
        config.validate()?;
        let syscalls = SyscallTable::global().map_err(|e| format!("syscall table: {e}"))?;
        let mut wasm = wasmtime::Config::new();
        wasm.consume_fuel(true)
            .operator_cost(operator_cost())
            .cranelift_nan_canonicalization(true)
            .cranelift_opt_level(if config.optimize {
                OptLevel::Speed
            } else {
                OptLevel::None
            })
            .max_wasm_stack(config.max_wasm_stack)
            // Contracts get no backtraces; capturing them only costs time on every trap.
            .wasm_backtrace_max_frames(None)
            // Data segments are always copied eagerly. With copy-on-write images (wasmtime's
            // default) the copy is free, but wasmtime falls back to the eager copy, which
            // consumes fuel, whenever it cannot build an image (some modules, some hosts):
            // gas would then depend on the machine. Eager copying is also faster for the
            // small memories contracts have.
            .memory_init_cow(false)
            // Reserve only what a memory may grow to (plus a guard page) instead of 4 GiB +
            // guard per call: instantiation then maps and unmaps far less.
            .memory_reservation(config.max_memory_bytes() as u64)
            .memory_guard_size(WASM_GUARD_SIZE);
        for feature in ENABLED {
            wasm.wasm_features(*feature, true);
        }
        for feature in DISABLED {
            wasm.wasm_features(*feature, false);
        }
        let engine = wasmtime::Engine::new(&wasm).map_err(|e| format!("wasmtime: {e:#}"))?;
        Ok(WasmEngine {
            config,
            engine,
            syscalls,
            linkers: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &WasmConfig {
        &self.config
    }

    /// The linker binding the syscalls live under `features`, built on first use.
    fn linker(&self, features: &FeatureSet) -> Result<Arc<Linker<CallState>>, LoadError> {
        // A panic while holding the lock cannot leave the map inconsistent (inserts are
        // atomic from its point of view), so a poisoned lock is still usable.
        let mut cache = self.linkers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(linker) = cache.get(features) {
            return Ok(Arc::clone(linker));
        }
        let linker = Arc::new(build_linker(&self.engine, self.syscalls, features).map_err(
            |e| {
                LoadError::Fault(EngineFault::new(
                    ENGINE_NAME,
                    format!("binding the syscall table: {e:#}"),
                ))
            },
        )?);
        if cache.len() >= MAX_CACHED_LINKERS {
            cache.clear();
        }
        cache.insert(features.clone(), Arc::clone(&linker));
        Ok(linker)
    }
}

/// Checks the magic and version of a core wasm binary, so text, components and other
/// formats get a clear error before wasmtime sees them.
fn check_header(code: &[u8]) -> Result<(), LoadError> {
    let Some((magic, rest)) = code.split_first_chunk::<4>() else {
        return Err(LoadError::Malformed(format!(
            "{} bytes is too short for a wasm module",
            code.len()
        )));
    };
    if magic != b"\0asm" {
        return Err(LoadError::Malformed(
            "not a wasm binary: it does not start with the `\\0asm` magic".into(),
        ));
    }
    match rest.first_chunk::<4>() {
        Some([1, 0, 0, 0]) => Ok(()),
        Some([_, _, 1, 0]) => Err(LoadError::Unsupported(
            "the binary is a wasm component; only core modules are supported".into(),
        )),
        Some(v) => Err(LoadError::Malformed(format!(
            "wasm binary version {} is not 1",
            u32::from_le_bytes(*v)
        ))),
        None => Err(LoadError::Malformed(
            "the wasm binary is truncated in its version field".into(),
        )),
    }
}

impl ExecutionEngine for WasmEngine {
    fn name(&self) -> &'static str {
        ENGINE_NAME
    }

    fn tag(&self) -> ModuleTag {
        ModuleTag::WASM
    }

    fn version(&self) -> u32 {
        ENGINE_VERSION
    }

    fn prepare(
        &self,
        code: &[u8],
        features: &FeatureSet,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        LoadError::check_size(code, self.config.max_module_size)?;
        check_header(code)?;
        // `from_binary`, not `new`: the text format is for tests and tools, never for code
        // that reaches the chain.
        let module = Module::from_binary(&self.engine, code)
            .map_err(|e| LoadError::Verification(format!("{e:#}")))?;
        self.prepare_module(&module, code.len(), features)
    }
}

impl WasmEngine {
    /// Checks a compiled module and binds it to the syscalls of `features`.
    pub(crate) fn prepare_module(
        &self,
        module: &Module,
        code_size: usize,
        features: &FeatureSet,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        let linker = self.linker(features)?;
        let syscalls = self.syscalls.active(features);
        let prepared = check(module, code_size, &syscalls, &linker, &self.config)?;
        Ok(Arc::new(prepared))
    }

    /// The wasmtime engine, for tests that compile the text format.
    #[cfg(test)]
    pub(crate) fn wasmtime(&self) -> &wasmtime::Engine {
        &self.engine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_before_parsing() {
        assert!(matches!(
            check_header(b"\0as"),
            Err(LoadError::Malformed(_))
        ));
        assert!(matches!(
            check_header(b"(module)"),
            Err(LoadError::Malformed(m)) if m.contains("magic")
        ));
        assert!(matches!(
            check_header(b"\0asm\x0d\0\x01\0"),
            Err(LoadError::Unsupported(m)) if m.contains("component")
        ));
        assert!(matches!(
            check_header(b"\0asm\x02\0\0\0"),
            Err(LoadError::Malformed(m)) if m.contains("version 2")
        ));
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Ok(()));
    }

    #[test]
    fn linkers_are_cached_per_feature_set() {
        let engine = WasmEngine::new(WasmConfig::new()).unwrap();
        let none = FeatureSet::new();
        let a = engine.linker(&none).unwrap();
        let b = engine.linker(&none).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let other: FeatureSet = ["some_feature"].into_iter().collect();
        let c = engine.linker(&other).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
