//! [`WasmEngine`]: a wasmtime `Engine` configured for deterministic, metered execution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tos_engine_api::{
    EngineFault, ExecutionEngine, Gas, GasSchedule, LoadError, ModuleTag, PreparedModule, Protocol,
};
use tos_syscalls::{ActiveSyscalls, SyscallTable};
use wasmtime::{Linker, Module, OptLevel, WasmFeatures};

use crate::ENGINE_NAME;
use crate::bind::{CallState, build_linker};
use crate::config::{MAX_CACHED_LINKERS, WasmConfig};
use crate::costs::{COSTS, WasmCosts};
use crate::instrument::instrument;
use crate::module::{bind_module, catch_panic};
use crate::prepass::scan;

/// The proposals a module may use: WebAssembly 1.0 plus the deterministic, widely emitted
/// extensions (what `clang --target=wasm32` and `rustc` produce by default). Floats stay
/// allowed because NaN canonicalization makes them deterministic.
pub(crate) const ENABLED: &[WasmFeatures] = &[
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

/// Runs TOS contracts compiled to core WebAssembly, on wasmtime (Cranelift).
///
/// Built once per node and shared across threads. It compiles each module once in
/// [`prepare`](ExecutionEngine::prepare); each call then gets an instance in a fresh state:
/// the one the last call of the module on the thread left, reset, or a new one (crate docs,
/// "Calls").
/// The syscall imports of each live table (syscalls and their costs) are bound into a `Linker`
/// once and kept.
///
/// # Determinism
/// Fuel metering is the gas meter (one fuel is one gas; the fuel table comes from the `wasm.*`
/// costs of the gas schedule in force, see the crate docs), NaN results are canonicalized, and
/// every nondeterministic proposal (threads, SIMD, relaxed SIMD) is refused at load. Memory,
/// tables and the wasm stack are bounded by [`WasmConfig`].
pub struct WasmEngine {
    config: WasmConfig,
    syscalls: &'static SyscallTable,
    /// One wasmtime engine per distinct set of wasm costs: wasmtime fixes its fuel table
    /// when an engine is built.
    backends: Mutex<HashMap<WasmCosts, Arc<Backend>>>,
}

/// A wasmtime engine with one fuel table, and the linkers built on it.
pub(crate) struct Backend {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) costs: WasmCosts,
    /// Linkers by the digest of the live syscall table they bind (syscalls and costs).
    linkers: Mutex<HashMap<[u8; 32], Arc<Linker<CallState>>>>,
}

/// The most wasmtime engines kept (one per distinct set of wasm costs; a gas schedule changes
/// them a handful of times over a chain's life). Past it the map is emptied and refilled.
const MAX_BACKENDS: usize = 8;

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Address space reserved for a linear memory: all a 32-bit memory can address.
const MEMORY_RESERVATION: u64 = 1 << 32;
/// Guard region after a linear memory's reservation: loads and stores whose static offset
/// falls inside it need no bounds check either.
const WASM_GUARD_SIZE: u64 = 32 * 1024 * 1024;

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
        let engine = WasmEngine {
            config,
            syscalls,
            backends: Mutex::new(HashMap::new()),
        };
        // Build the version-1 backend now, so a configuration wasmtime refuses fails here.
        engine.backend(&GasSchedule::new(0))?;
        Ok(engine)
    }

    /// An engine with a configuration outside the ceilings, for tests of the margins.
    #[cfg(test)]
    pub(crate) fn new_unchecked(config: WasmConfig) -> Self {
        WasmEngine {
            config,
            syscalls: SyscallTable::global().unwrap(),
            backends: Mutex::new(HashMap::new()),
        }
    }

    /// The wasmtime engine for the wasm costs of `schedule`, built on first use.
    fn backend(&self, schedule: &GasSchedule) -> Result<Arc<Backend>, String> {
        let costs = WasmCosts::of(schedule)?;
        let mut backends = self.backends.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = backends.get(&costs) {
            return Ok(Arc::clone(b));
        }
        let config = &self.config;
        let mut wasm = wasmtime::Config::new();
        wasm.consume_fuel(true)
            .operator_cost(costs.operator_cost()?)
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
            // The whole 32-bit address space is reserved, with a guard after it, so compiled
            // code needs no bounds check on loads and stores (a fault in the reservation is
            // the trap). Calls reuse instances (crate::reuse), so this mapping is made once
            // per instance kept, not per call; it is address space, not memory.
            .memory_reservation(MEMORY_RESERVATION)
            .memory_guard_size(WASM_GUARD_SIZE);
        for feature in ENABLED {
            wasm.wasm_features(*feature, true);
        }
        for feature in DISABLED {
            wasm.wasm_features(*feature, false);
        }
        let engine = wasmtime::Engine::new(&wasm).map_err(|e| format!("wasmtime: {e:#}"))?;
        let backend = Arc::new(Backend {
            engine,
            costs,
            linkers: Mutex::new(HashMap::new()),
        });
        if backends.len() >= MAX_BACKENDS {
            backends.clear();
        }
        backends.insert(costs, Arc::clone(&backend));
        Ok(backend)
    }

    /// How many idle instances, kept for reuse by the next call of their module, the calling
    /// thread holds (at most 32; see [`WasmConfig::set_instance_reuse`]).
    pub fn idle_instances() -> usize {
        crate::reuse::count()
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &WasmConfig {
        &self.config
    }
}

impl Backend {
    /// The linker binding `active` (the syscalls live under a protocol, with their costs),
    /// built on first use.
    fn linker(&self, active: &ActiveSyscalls) -> Result<Arc<Linker<CallState>>, LoadError> {
        let key = active.digest();
        // A panic while holding the lock cannot leave the map inconsistent (inserts are
        // atomic from its point of view), so a poisoned lock is still usable.
        let mut cache = self.linkers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(linker) = cache.get(&key) {
            return Ok(Arc::clone(linker));
        }
        let linker = Arc::new(build_linker(&self.engine, active).map_err(|e| {
            LoadError::Fault(EngineFault::new(
                ENGINE_NAME,
                format!("binding the syscall table: {e:#}"),
            ))
        })?);
        if cache.len() >= MAX_CACHED_LINKERS {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&linker));
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
        self.config.version()
    }

    fn gas_costs(&self) -> Vec<(String, Gas)> {
        COSTS
            .iter()
            .map(|(name, v1, _)| ((*name).to_owned(), *v1))
            .collect()
    }

    fn check_gas(&self, schedule: &GasSchedule) -> Result<(), String> {
        WasmCosts::of(schedule).map(|_| ())
    }

    /// wasmtime's stack limit for wasm frames, plus 512 KiB for the host functions (syscalls)
    /// and wasmtime's own frames.
    fn native_stack(&self) -> usize {
        self.config.max_wasm_stack.saturating_add(512 * 1024)
    }

    /// Prepares a traceable module when `tos_engine_api::trace::module_tracing()` is on
    /// (tools only; see [`WasmEngine::prepare_traceable`]).
    fn prepare(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        self.prepare_with(code, protocol, tos_engine_api::trace::module_tracing())
    }
}

impl WasmEngine {
    /// Prepares `code` as a traceable module: while a trace is open
    /// (`tos_engine_api::trace::record`), each call writes a line for every function it
    /// enters and leaves, with the gas it used, and the gas of each function's own code.
    /// Outcomes and gas are those of [`prepare`](ExecutionEngine::prepare)'s module; calls
    /// run slower, so only tools use it.
    ///
    /// # Errors
    /// As [`prepare`](ExecutionEngine::prepare).
    pub fn prepare_traceable(
        &self,
        code: &[u8],
        protocol: &Protocol,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        self.prepare_with(code, protocol, true)
    }

    fn prepare_with(
        &self,
        code: &[u8],
        protocol: &Protocol,
        traceable: bool,
    ) -> Result<Arc<dyn PreparedModule>, LoadError> {
        LoadError::check_size(code, self.config.max_module_size)?;
        check_header(code)?;
        let backend = self.backend_for(protocol)?;
        let syscalls = self.syscalls.active(protocol);
        // Everything that can refuse the module is decided here, in one linear pass over the
        // bytes, before anything expensive runs.
        let mut facts = scan(code, &syscalls, &self.config)?;
        let linker = backend.linker(&syscalls)?;
        // Tools may ask for traceable modules (crate::tracing); a node never does.
        let layout = traceable
            .then(|| crate::tracing::Layout::read(code, facts.imported_functions))
            .flatten();
        // Instances of most modules are reset and reused from call to call (crate::reuse).
        let reset = facts.reset.take().filter(|_| self.config.reuse_instances);
        let instrumented = instrument(
            code,
            &facts,
            &crate::instrument::Options {
                trace: layout.as_ref(),
                export_globals: reset.as_ref().map_or(&[], |r| r.globals.as_slice()),
            },
        )?;
        let reset = reset.filter(|_| !instrumented.changes_instance);
        let instrumented = instrumented.code;
        // `from_binary`, not `new`: the text format is for tests and tools, never for code
        // that reaches the chain. A panic in Cranelift is the node's fault, not a verdict.
        let module = catch_panic("compiling a module", || {
            #[cfg(test)]
            crate::tests::maybe_panic("compile");
            Module::from_binary(&backend.engine, &instrumented)
        })
        .map_err(|why| LoadError::Fault(EngineFault::new(ENGINE_NAME, why)))?
        .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let trace = layout.map(|l| {
            Arc::new(crate::tracing::TraceInfo {
                names: l.names,
                enter_cost: backend.costs.trace_enter(),
                exit_cost: backend.costs.trace_exit(),
            })
        });
        let prepared = bind_module(
            &module,
            facts,
            code.len(),
            &linker,
            &self.config,
            &backend,
            crate::module::Extras { trace, reset },
        )?;
        Ok(Arc::new(prepared))
    }
}

impl WasmEngine {
    /// The backend of `protocol`'s wasm costs. A cost wasmtime cannot hold is the node's
    /// misconfiguration (the host refuses such a schedule when it loads it), not the module's.
    pub(crate) fn backend_for(&self, protocol: &Protocol) -> Result<Arc<Backend>, LoadError> {
        self.backend(protocol.gas())
            .map_err(|e| LoadError::Fault(EngineFault::new(ENGINE_NAME, e)))
    }

    /// The version-1 wasmtime engine, for tests that compile the text format.
    #[cfg(test)]
    pub(crate) fn wasmtime(&self) -> wasmtime::Engine {
        self.backend(&GasSchedule::new(0))
            .map(|b| b.engine.clone())
            .unwrap_or_else(|e| panic!("{e}"))
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
    fn linkers_are_cached_per_live_table_and_backends_per_wasm_costs() {
        let engine = WasmEngine::new(WasmConfig::new()).unwrap();
        let v1 = tos_syscalls::testing::abi_v1();
        let backend = engine.backend_for(&v1).unwrap();
        let active = engine.syscalls.active(&v1);
        let a = backend.linker(&active).unwrap();
        let b = backend.linker(&active).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let none = engine
            .syscalls
            .active(&tos_engine_api::FeatureSet::new().into());
        let c = backend.linker(&none).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        // Re-pricing a syscall binds a new linker; re-pricing a wasm cost builds a new engine.
        let mut gas = GasSchedule::new(2);
        gas.set("syscall.tos_log.base", 7);
        let repriced = Protocol::new(v1.features().clone(), Arc::new(gas.clone()));
        let d = backend.linker(&engine.syscalls.active(&repriced)).unwrap();
        assert!(!Arc::ptr_eq(&a, &d));
        assert!(Arc::ptr_eq(
            &backend,
            &engine.backend_for(&repriced).unwrap()
        ));
        gas.set("wasm.memory_page", 300 - 100);
        let other = Protocol::new(v1.features().clone(), Arc::new(gas));
        assert!(!Arc::ptr_eq(&backend, &engine.backend_for(&other).unwrap()));
    }
}
