//! A WebAssembly engine for TOS contracts, on wasmtime, shipped as a plug-in.
//!
//! The host never names this crate: it registers itself with
//! `inventory::submit!(tos_engine_api::EnginePlugin { .. })`, so a binary that links it
//! (`use tos_engine_wasm as _;`) runs modules of tag 2 ([`ModuleTag::WASM`](tos_engine_api::ModuleTag::WASM)) and one that
//! does not gets a clear "no engine for tag wasm" from the host.
//!
//! ```
//! use tos_engine_api::{Call, ExecutionEngine, ExitStatus};
//! use tos_engine_wasm::{WasmConfig, WasmEngine};
//! use tos_host::testing::{devnet_host, with_call_host};
//! use tos_host::{MemoryProvider, TxContext};
//!
//! let engine = WasmEngine::new(WasmConfig::default())?;
//! // The counter of docs/EXAMPLES.md, assembled from examples/counter.wat.
//! let code = include_bytes!("../examples/counter.wasm");
//! let module = engine.prepare(code, &tos_syscalls::testing::abi_v1())?;
//!
//! // Run it as contract [5; 32] against the node's host, over a state in memory.
//! let host = devnet_host();
//! let mut state = MemoryProvider::default();
//! let tx = TxContext { height: 1, ..TxContext::default() };
//! let call = Call::Entry(0); // increment
//! let (outcome, frame) =
//!     with_call_host(&host, &mut state, &tx, [5; 32], call, &[], |h| module.run(call, h, 1_000_000))?;
//! let outcome = outcome?;
//! assert_eq!(outcome.status, ExitStatus::Exit(0));
//! assert_eq!(outcome.return_data, 1u64.to_le_bytes());
//! assert_eq!(frame.kept_events()[0].id, 1);
//! assert_eq!(state.storage[&([5; 32], b"count".to_vec())], 1u64.to_le_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//! A core wasm module (binary format only) that exports `memory` and functions
//! `entry_<N>` / `hook_<N>` of type `() -> i64`, or only `entrypoint` (which then receives
//! every call and dispatches on the input header itself). Syscalls are imports of module
//! `env` named as in ABI.md, each `(i64 × arity) -> i64`; the call's input (header and
//! params) is read with `tos_get_input`. The returned i64, read as a u64, is the exit code.
//! `prepare` refuses, with a [`LoadError`](tos_engine_api::LoadError) naming the culprit:
//! other imports, unknown or not yet active syscalls, wrongly typed entries, a missing
//! `memory`, more than one memory or table, a structural limit exceeded (see "Limits"), and
//! every proposal outside WebAssembly 1.0 + mutable globals, sign extension, non-trapping
//! float-to-int, multi-value, bulk memory and reference types.
//!
//! # Preparing: nothing expensive before every refusal
//! `prepare` runs in three steps, and only the last is expensive:
//! 1. a **pre-pass** over the bytes: wasmparser's validator (the version wasmtime 48 itself
//!    uses, with the engine's proposals) plus the engine's own counting of every structural
//!    limit, and every ABI check (imports against the live syscall table, entry types, the
//!    `memory` export). Every refusal happens here, in time linear in the module's size;
//! 2. an **instrumentation** pass (wasmparser → wasm-encoder) adding the deterministic
//!    stack counter and fuel checks (below);
//! 3. compilation by Cranelift, inside `catch_unwind`: a panic there (or while
//!    instantiating or running a call) becomes `LoadError::Fault` / `EngineFault` naming
//!    the panic, never a dead process. The limits keep compile time linear in the module's
//!    size; deploys pay it through `wasm.prepare_per_byte` (docs/GAS.md).
//!
//! # Deterministic stack
//! Stack exhaustion is decided by a rule the module's bytes fix. Each function has a
//! **frame cost** in slots, computed by the pre-pass: [`WasmConfig::FRAME_OVERHEAD`] (16) +
//! parameters + locals + its highest operand stack (from the validator) + one slot per 8
//! bytes of its body. The instrumentation keeps a global counter of the slots of the frames
//! live below the running one: each `call` of a module function adds the callee's cost
//! (`call_indirect` adds the module's largest), traps with
//! [`Trap::StackOverflow`](tos_engine_api::Trap::StackOverflow) when the total passes
//! [`WasmConfig::STACK_SLOTS`] (65,536), and gives it back on return. The same module
//! overflows at the same depth with or without Cranelift's optimizations, on every CPU and
//! wasmtime version. Wasmtime's own stack limit ([`WasmConfig::MIN_WASM_STACK`], 1 MiB) is
//! far above what that many slots take natively; reaching it would be an engine bug and is
//! reported as an `EngineFault`, never as an outcome.
//!
//! Why our own pass rather than a kept crate: NEAR's `finite-wasm` computes the same kind of
//! frame sizes but brings its own analysis framework and its own version of wasmparser;
//! Filecoin's `fvm-wasm-instrument` stack limiter works on `parity-wasm`, which is
//! unmaintained and does not parse the proposals enabled here (bulk memory, reference
//! types, multi-value). The validator wasmtime already uses gives the operand stack height
//! exactly, and wasm-encoder's re-encoder rewrites the module in about 200 lines we own.
//!
//! The instrumentation's operators are metered like any others: each counted call runs 12
//! more operators priced at `wasm.op` (8 before, 4 after it), so a call of a module function
//! costs `wasm.op.call` + 12 × `wasm.op` + 1 for the callee's entry. Calls of syscalls and
//! the entry call itself are not counted.
//!
//! # Gas
//! Wasmtime's fuel is the gas meter: **one fuel is one gas**. The cost table is pinned:
//! - 1 per executed wasm operator, except `nop`, `drop`, `block`, `loop`, `unreachable`,
//!   `return`, `else` and `end`, which cost 0;
//! - 1 per function entered (wasmtime charges every function body one unit up front);
//! - 1 more per byte moved by `memory.copy`, `memory.fill`, `memory.init` and per element by
//!   `table.copy`, `table.fill`, `table.init`, `table.grow`;
//! - [`WasmConfig::GAS_PER_MEMORY_PAGE`] (255) per 64 KiB page: for the module's initial pages
//!   before the call starts, and for each page `memory.grow` asks for (granted or not);
//! - at instantiation, copying each active data segment into memory: 1 per byte plus 2 per
//!   segment. Segments are always copied eagerly (copy-on-write memory images are off),
//!   because wasmtime would otherwise copy, and charge, only where it cannot build an image,
//!   which depends on the module and the machine;
//! - every syscall's cost from `tos-syscalls` (base, then per byte), charged to the same
//!   meter: fuel is settled with the [`GasMeter`](tos_engine_api::GasMeter) at each syscall.
//!
//! - before anything runs, the **instantiation work** computed at prepare: `wasm.instance`
//!   (2,000) per call, `wasm.instance_function` (2) per function (imported or defined),
//!   `wasm.instance_global` (10) per global, `wasm.instance_table_element` (4) per initial
//!   table element and per element of an active segment.
//!
//! A call that needs more than its limit is
//! [`Trap::OutOfGas`](tos_engine_api::Trap::OutOfGas) and is charged the whole limit, even
//! where wasmtime's own checks (at function entries and loop headers) would let straight-line
//! code finish: the store gets one spare unit of fuel as a sentinel, and a call that touched
//! it is out of gas. The instrumentation inserts a fuel check (an empty `loop`) after every
//! 1,024 operators of a body, so such a call stops at most
//! [`WasmConfig::MAX_FUEL_OVERRUN`] operators after its gas ran out. A trap raised by a wasm
//! instruction (division by zero, `unreachable`, an out-of-bounds access, a stack overflow,
//! ...) also charges the whole limit: wasmtime flushes its fuel counter only at calls and
//! returns, so the work done since is unknown, and a loop must not be able to run nearly
//! free and then trap. A trap raised by a syscall is charged exactly. A call of an entry the
//! module does not export is [`Trap::UnknownEntry`](tos_engine_api::Trap::UnknownEntry) with
//! no gas used.
//!
//! # Traps
//! Out of fuel → `OutOfGas`; out-of-bounds memory access → `MemoryAccess` (wasmtime does not
//! report the address, so it is 0 with length 0 — a bad pointer given to a syscall reports
//! the real address and length); integer division by zero → `DivisionByZero`; `i64::MIN / -1`
//! → `DivisionOverflow`; `unreachable` → `Unreachable`; stack exhaustion → `StackOverflow`;
//! a refused syscall → `Syscall`; table faults, bad indirect calls and invalid float-to-int
//! conversions → `Invalid` with wasmtime's description.
//!
//! # Limits
//! The associated constants of [`WasmConfig`], each checked by the pre-pass and refused with
//! a `LoadError::Unsupported` that names the constant and the value found: module size
//! (1 MiB), linear memory (256 pages, 16 MiB, checked at `prepare` for the declared minimum
//! and by a resource limiter at run time), one table of at most 4096 elements, types (1,024),
//! imports (256), exports (1,024), functions (10,000), parameters (128) and results (16) per
//! type, function body size (64 KiB), locals per function (2,048) and in total (200,000),
//! control nesting (512), loop nesting (16), loop-carried locals per function (64 + one
//! per 8 body bytes), defined functions (64 + one per 64 module bytes), operand stack (256),
//! `br_table` targets (4,096), globals (1,024),
//! data segments (1,024) and bytes (1 MiB), element segments (256) and elements (16,384).
//!
//! # Calls
//! Each call runs on an instance in a fresh state: the module's instance left by the previous
//! call of the same module on the same thread, reset (memory cleared at the cost of the
//! pages that call touched, data segments copied in again, mutable globals set back), or, when
//! there is none or the module does not qualify (a start function, passive segments, table
//! writes), a new `Store` and instance. Outcomes and gas are the same either way: the set-up
//! gas is charged on every call, and the fuel wasmtime's start-up code took on the fresh
//! instantiation is taken again on a reuse. See `WasmConfig::set_instance_reuse`, and
//! `tests/reuse.rs` for the tests (no call observes an earlier one; every example and shape
//! gives the same outcomes, gas and effects both ways, at every limit around the out-of-gas
//! boundary).
//!
//! # Traces (tools only)
//! Wasm runs as machine code, so `tosvm --trace` cannot show its instructions. A *traceable*
//! module — prepared by [`WasmEngine::prepare_traceable`], or by `prepare` while
//! `tos_engine_api::trace::module_tracing()` is on — reports every function it enters and
//! leaves (named from the module's name section, else its export, else `func[N]`) with the
//! gas used, and each function's own gas, to the trace open on the thread. Its outcomes and
//! gas are those of the ordinary module, out-of-gas boundary included: the added operators'
//! fuel is given back as they run, and a margin keeps fuel checks from firing earlier
//! (`tests/trace.rs` compares both on every example, at every limit around the boundary).
//! A node never prepares one.

#![deny(missing_docs)]
#![deny(clippy::arithmetic_side_effects)]

mod bind;
mod config;
mod costs;
mod engine;
mod instrument;
mod module;
mod prepass;
mod reuse;
mod tracing;

pub use config::WasmConfig;
pub use engine::WasmEngine;

/// The engine's name.
const ENGINE_NAME: &str = "wasm";

/// The version of the engine's semantics (limits, cost table, enabled proposals). Bump it
/// with any change that alters a load decision, an outcome or gas.
const ENGINE_VERSION: u32 = 2;

inventory::submit! {
    tos_engine_api::EnginePlugin {
        name: ENGINE_NAME,
        tag: tos_engine_api::ModuleTag::WASM,
        create: || {
            let engine = WasmEngine::new(WasmConfig::default())?;
            Ok(std::sync::Arc::new(engine))
        },
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    thread_local! {
        /// Where an injected panic fires on this thread (`"compile"`, `"run"`), for the
        /// tests of the panic guards.
        static PANIC_AT: Cell<Option<&'static str>> = const { Cell::new(None) };
    }

    /// Panics if a test asked for a panic at `at` on this thread.
    pub(crate) fn maybe_panic(at: &str) {
        if PANIC_AT.get().is_some_and(|p| p == at) {
            panic!("injected panic at {at}");
        }
    }

    /// Makes the next [`maybe_panic`] at `at` on this thread panic (until reset with None).
    pub(crate) fn inject_panic(at: Option<&'static str>) {
        PANIC_AT.set(at);
    }

    use wasmtime::Module;

    use crate::{WasmConfig, WasmEngine};

    /// Each committed .wasm (examples/, tests/fixtures/) must be what its .wat assembles to:
    /// both compile to the same machine code (wasmtime can read the text format; the engine
    /// itself never accepts it). Run examples/build.sh after editing a .wat.
    #[test]
    fn committed_binaries_match_their_wat_sources() {
        let engine = WasmEngine::new(WasmConfig::default()).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for dir in ["examples", "tests/fixtures"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let wat = entry.unwrap().path();
                if wat.extension().is_none_or(|e| e != "wat") {
                    continue;
                }
                let wasm = wat.with_extension("wasm");
                let text = std::fs::read(&wat).unwrap();
                let binary = std::fs::read(&wasm)
                    .unwrap_or_else(|e| panic!("{}: {e} (run examples/build.sh)", wasm.display()));
                let (from_text, from_binary) = (
                    Module::new(&engine.wasmtime(), &text),
                    Module::from_binary(&engine.wasmtime(), &binary),
                );
                match (from_text, from_binary) {
                    (Ok(t), Ok(b)) => assert!(
                        t.text() == b.text(),
                        "{} is stale: run examples/build.sh",
                        wasm.display()
                    ),
                    // Fixtures the engine must refuse fail the same way from either form.
                    (Err(t), Err(b)) => assert_eq!(
                        t.to_string(),
                        b.to_string(),
                        "{} and its .wat fail differently",
                        wasm.display()
                    ),
                    (t, b) => panic!(
                        "{}: text compiles: {}, binary compiles: {}",
                        wasm.display(),
                        t.is_ok(),
                        b.is_ok()
                    ),
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} sources found");
    }

    /// A panic while compiling or running never escapes: it becomes a fault naming it.
    #[test]
    fn panics_while_compiling_or_running_become_faults() {
        use tos_engine_api::{Call, ExecutionEngine, LoadError};
        use tos_syscalls::testing::abi_v1;

        let engine = WasmEngine::new(WasmConfig::default()).unwrap();
        let code = include_bytes!("../examples/counter.wasm");
        inject_panic(Some("compile"));
        let refused = engine.prepare(code, &abi_v1());
        inject_panic(None);
        match refused {
            Err(LoadError::Fault(f)) => {
                assert!(f.message.contains("injected panic at compile"), "{f}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }

        let module = engine.prepare(code, &abi_v1()).unwrap();
        let call = Call::Entry(0);
        let run = || {
            let host = tos_host::testing::devnet_host();
            let mut state = tos_host::MemoryProvider::default();
            let tx = tos_host::TxContext {
                height: 1,
                ..Default::default()
            };
            tos_host::testing::with_call_host(&host, &mut state, &tx, [5; 32], call, &[], |h| {
                module.run(call, h, 1_000_000)
            })
            .unwrap()
            .0
        };
        inject_panic(Some("run"));
        let result = run();
        inject_panic(None);
        let fault = result.unwrap_err();
        assert!(fault.message.contains("injected panic at run"), "{fault}");
        // The module still runs afterwards.
        assert!(run().is_ok());
    }
}
