//! Checking a compiled module against the ABI, and running calls on it.

use std::panic::AssertUnwindSafe;

use tos_engine_api::{
    Access, Call, CallInput, EngineFault, ExitStatus, Gas, GasMeter, HostAbi, LoadError,
    ModuleInfo, Outcome, PreparedModule, Trap,
};
use wasmtime::{Extern, Instance, InstancePre, Module, ModuleExport, Store, Val};

use crate::ENGINE_NAME;
use crate::bind::Written;
use crate::bind::{CallState, Limits};
use crate::config::WasmConfig;
use crate::prepass::{ENTRYPOINT, Facts, MEMORY, STACK_EXPORT};
use crate::reuse::{Handles, Idle, MemoryWrites, ResetPlan};
use crate::tracing::{TraceInfo, Tracer};

/// A module compiled once and checked against the ABI; each call runs on a reset instance
/// of it or a new one (crate::reuse).
pub(crate) struct WasmModule {
    info: ModuleInfo,
    pre: InstancePre<CallState>,
    memory: ModuleExport,
    /// The instrumentation's stack-slot counter.
    stack: ModuleExport,
    /// The export each call runs (`entrypoint` for a self-dispatching module), resolved once.
    exports: std::collections::BTreeMap<Call, ModuleExport>,
    /// `entrypoint`, for a self-dispatching module.
    entrypoint: Option<ModuleExport>,
    /// Gas charged before anything runs: the initial pages and the instantiation work.
    setup_gas: Gas,
    max_memory_bytes: usize,
    max_table_elements: usize,
    /// The memory's initial size, in pages.
    initial_pages: u64,
    summary: String,
    /// For a traceable module (tools only, crate::tracing): function names and the fuel of
    /// the reports.
    trace: Option<std::sync::Arc<TraceInfo>>,
    /// Unique among the modules of this process: keys the idle instances (crate::reuse).
    id: u64,
    /// How to reset an instance for reuse, with the exports of its mutable globals; `None`
    /// when instances of this module are never reused.
    reset: Option<(ResetPlan, Vec<(ModuleExport, Val)>)>,
    /// Which calls can write memory: after one that cannot, the memory needs no clearing.
    writes: MemoryWrites,
}

/// What `bind_module` adds to a module besides the pre-pass's facts.
pub(crate) struct Extras {
    /// Function names and report costs of a traceable module.
    pub(crate) trace: Option<std::sync::Arc<TraceInfo>>,
    /// The reset plan of a module whose instances may be reused.
    pub(crate) reset: Option<ResetPlan>,
}

/// The next module id.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl std::fmt::Debug for WasmModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmModule")
            .field("info", &self.info)
            .field("setup_gas", &self.setup_gas)
            .finish_non_exhaustive()
    }
}

/// Binds a module compiled from the instrumented form of a module the pre-pass accepted
/// (with `facts`) to `linker`'s syscalls. `code_size` is the size of the original binary.
pub(crate) fn bind_module(
    module: &Module,
    facts: Facts,
    code_size: usize,
    linker: &wasmtime::Linker<CallState>,
    config: &WasmConfig,
    backend: &crate::engine::Backend,
    extras: Extras,
) -> Result<WasmModule, LoadError> {
    let missing = |name: &str| {
        LoadError::Fault(EngineFault::new(
            ENGINE_NAME,
            format!("the compiled module lacks `{name}`, which the pre-pass found"),
        ))
    };
    let memory = module
        .get_export_index(MEMORY)
        .ok_or_else(|| missing(MEMORY))?;
    let stack = module
        .get_export_index(STACK_EXPORT)
        .ok_or_else(|| missing(STACK_EXPORT))?;
    let calls = facts
        .entries
        .entries
        .iter()
        .map(|id| Call::Entry(*id))
        .chain(facts.entries.hooks.iter().map(|id| Call::Hook(*id)));
    let mut exports = std::collections::BTreeMap::new();
    for call in calls {
        let name = call.symbol();
        let export = module
            .get_export_index(&name)
            .ok_or_else(|| missing(&name))?;
        exports.insert(call, export);
    }
    let entrypoint = if facts.entries.self_dispatch {
        Some(
            module
                .get_export_index(ENTRYPOINT)
                .ok_or_else(|| missing(ENTRYPOINT))?,
        )
    } else {
        None
    };
    let pre = linker.instantiate_pre(module).map_err(|e| {
        LoadError::Fault(EngineFault::new(
            ENGINE_NAME,
            format!("binding imports the pre-pass accepted failed: {e:#}"),
        ))
    })?;
    let setup_gas = backend
        .costs
        .setup_gas(facts.initial_pages, &facts.instance);
    let reset = match extras.reset {
        Some(plan) => {
            let mut globals = vec![(stack, Val::I32(0))];
            for (_, name, initial) in &plan.globals {
                globals.push((
                    module.get_export_index(name).ok_or_else(|| missing(name))?,
                    initial.val(),
                ));
            }
            Some((plan, globals))
        }
        None => None,
    };
    Ok(WasmModule {
        info: ModuleInfo {
            entries: facts.entries,
            imports: facts.imports,
            code_size,
        },
        pre,
        memory,
        stack,
        exports,
        entrypoint,
        setup_gas,
        max_memory_bytes: config.max_memory_bytes(),
        // At most MAX_TABLE_ELEMENTS (4096): fits every usize.
        max_table_elements: config.max_table_elements as usize,
        initial_pages: facts.initial_pages,
        summary: facts.summary,
        trace: extras.trace,
        id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        reset,
        writes: facts.writes,
    })
}

/// The engine-api trap for a wasmtime trap.
fn map_trap(trap: wasmtime::Trap) -> Trap {
    match trap {
        wasmtime::Trap::OutOfFuel => Trap::OutOfGas,
        wasmtime::Trap::StackOverflow => Trap::StackOverflow,
        // Wasmtime does not report the faulting address of an out-of-bounds access, so the
        // trap carries address 0 and length 0: the same on every node.
        wasmtime::Trap::MemoryOutOfBounds => Trap::MemoryAccess {
            addr: 0,
            len: 0,
            access: Access::Read,
        },
        wasmtime::Trap::IntegerDivisionByZero => Trap::DivisionByZero,
        wasmtime::Trap::IntegerOverflow => Trap::DivisionOverflow,
        wasmtime::Trap::UnreachableCodeReached => Trap::Unreachable,
        // Table faults, bad indirect calls, float-to-int conversions of NaN or out-of-range
        // values: named by wasmtime's own description.
        other => Trap::Invalid(
            other
                .to_string()
                .trim_start_matches("wasm trap: ")
                .to_owned(),
        ),
    }
}

/// How a call stopped by an error ends.
enum Stop {
    /// A syscall stopped it; fuel was settled there, so the gas used is exact.
    Syscall(Trap),
    /// A wasm instruction trapped. Wasmtime flushes its fuel counter only at calls, returns
    /// and when fuel runs out, so what the trapping function ran since its last call is not
    /// counted: such a call is charged its whole limit.
    Instruction(Trap),
}

/// How a wasmtime error ends the call: the trap or fault recorded by a syscall or the
/// limiter first, then a wasm trap; anything else is a fault of the node.
fn classify(error: &wasmtime::Error, state: &mut CallState) -> Result<Stop, EngineFault> {
    if let Some(fault) = state.fault.take() {
        return Err(fault);
    }
    if let Some(why) = state.limits.fault.take() {
        return Err(EngineFault::new(ENGINE_NAME, why));
    }
    if let Some(trap) = state.trap.take() {
        return Ok(Stop::Syscall(trap));
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        if *trap == wasmtime::Trap::StackOverflow {
            // The deterministic stack limit fires long before the native one (see
            // `WasmConfig::MIN_WASM_STACK`): reaching it is an engine bug, not an outcome.
            return Err(EngineFault::new(
                ENGINE_NAME,
                "the native stack ran out before the deterministic stack limit",
            ));
        }
        return Ok(Stop::Instruction(map_trap(*trap)));
    }
    Err(EngineFault::new(
        ENGINE_NAME,
        format!("unexpected wasmtime error: {error:#}"),
    ))
}

/// Runs `f`, turning a panic into a message naming it and `what` was being done.
pub(crate) fn catch_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        format!("panic while {what}: {message}")
    })
}

impl WasmModule {
    /// Whether an `unreachable` trap was the stack accounting's: its counter is left above
    /// the limit only then.
    fn stack_exhausted(
        &self,
        store: &mut Store<CallState>,
        instance: Option<wasmtime::Instance>,
    ) -> bool {
        let Some(instance) = instance else {
            return false;
        };
        match instance.get_module_export(&mut *store, &self.stack) {
            Some(Extern::Global(g)) => match g.get(&mut *store) {
                Val::I32(slots) => slots as u32 > WasmConfig::STACK_SLOTS,
                _ => false,
            },
            _ => false,
        }
    }
}

impl WasmModule {
    /// Resets `instance` to the state a fresh instantiation gives (crate::reuse): its globals
    /// and its memory, all of it (`written` is `None`: the call's code may have stored into
    /// it) or only the byte ranges syscalls wrote. Returns its handles (resolved now unless
    /// `handles` has them), or `None` when it cannot be reused.
    fn recycle(
        &self,
        store: &mut Store<CallState>,
        instance: Instance,
        handles: Option<Handles>,
        written: Option<Written>,
    ) -> Option<Handles> {
        let (plan, globals) = self.reset.as_ref()?;
        let handles = match handles {
            Some(handles) => handles,
            None => {
                let memory = match instance.get_module_export(&mut *store, &self.memory)? {
                    Extern::Memory(memory) => memory,
                    _ => return None,
                };
                let mut resolved = Vec::with_capacity(globals.len());
                for (export, _) in globals {
                    match instance.get_module_export(&mut *store, export)? {
                        Extern::Global(global) => resolved.push(global),
                        _ => return None,
                    }
                }
                Handles {
                    memory,
                    globals: resolved,
                    funcs: Vec::new(),
                }
            }
        };
        if handles.memory.size(&*store) != self.initial_pages {
            return None;
        }
        let bytes = handles.memory.data_mut(&mut *store);
        match written.as_ref().and_then(Written::ranges) {
            // Only syscalls wrote: those bytes back to zeros, then to the data segments'
            // bytes where a segment lies.
            Some(ranges) => {
                for &(start, end) in ranges {
                    bytes.get_mut(start..end)?.fill(0);
                    for (offset, data) in &plan.data {
                        let segment_end = offset.saturating_add(data.len());
                        let (from, to) = (start.max(*offset), end.min(segment_end));
                        if from < to {
                            // `offset <= from < to`: the part of the segment in the range.
                            let part =
                                data.get(from.wrapping_sub(*offset)..to.wrapping_sub(*offset))?;
                            bytes.get_mut(from..to)?.copy_from_slice(part);
                        }
                    }
                }
            }
            None => {
                crate::reuse::zero(bytes);
                for (offset, data) in &plan.data {
                    bytes
                        .get_mut(*offset..offset.checked_add(data.len())?)?
                        .copy_from_slice(data);
                }
            }
        }
        for (global, (_, value)) in handles.globals.iter().zip(globals) {
            global.set(&mut *store, *value).ok()?;
        }
        Some(handles)
    }
}

fn fault(e: impl std::fmt::Display) -> EngineFault {
    EngineFault::new(ENGINE_NAME, format!("{e:#}"))
}

impl PreparedModule for WasmModule {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn run(
        &self,
        call: Call,
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault> {
        // The guest reads its input through `tos_get_input`; the header must say what is run.
        CallInput::params_of(call, host.input())
            .map_err(|e| fault(format!("the host's input is not that of {call}: {e}")))?;
        if !self.info.entries.accepts(call) {
            return Ok(Outcome::unknown_entry(call, host));
        }
        let export = match &self.entrypoint {
            Some(entrypoint) => entrypoint,
            None => self.exports.get(&call).ok_or_else(|| {
                fault(format!(
                    "{call} is in the entry table but was not resolved at prepare"
                ))
            })?,
        };

        // The initial pages are paid for before anything runs; the params reach the guest
        // through `tos_get_input`, from `host.input()`.
        let mut meter = GasMeter::new(gas_limit);
        if meter.consume(self.setup_gas).is_err() {
            return Ok(Outcome::finish(
                ExitStatus::Trap(Trap::OutOfGas),
                &meter,
                host,
            ));
        }

        let limits = Limits {
            max_memory_bytes: self.max_memory_bytes,
            max_table_elements: self.max_table_elements,
            fault: None,
        };
        // SAFETY: `store` is dropped at the end of this block, before `host` is used again
        // (by `Outcome::finish` below), and nothing else uses `host` while it lives.
        let mut state = unsafe { CallState::new(host, gas_limit, self.memory, limits) };
        if let Some(info) = &self.trace {
            state.trace(Tracer::new(std::sync::Arc::clone(info), meter.used()));
        }
        let status = {
            // An idle instance of this module left by an earlier call on this thread, reset
            // (crate::reuse), or a fresh store.
            let idle = match &self.reset {
                Some(_) => crate::reuse::take(self.id),
                None => None,
            };
            let (mut store, reused, mut handles) = match idle {
                Some(idle) => {
                    let mut store = idle.store;
                    *store.data_mut() = state;
                    (
                        store,
                        Some((idle.instance, idle.startup_fuel)),
                        Some(idle.handles),
                    )
                }
                None => {
                    let mut store = Store::new(self.pre.module().engine(), state);
                    store.limiter(|state| &mut state.limits);
                    (store, None, None)
                }
            };
            let fuel = store.data().fuel_for(meter.remaining());
            store.set_fuel(fuel).map_err(fault)?;
            // A panic in wasmtime (or in a syscall body) must not take the node down: it
            // becomes a fault of the node, naming the panic.
            let mut instance = None;
            let mut startup_fuel = None;
            let mut resolved = None;
            let result = catch_panic("running a call", || -> wasmtime::Result<i64> {
                let started = match reused {
                    Some((instance, startup)) => {
                        // What the fresh instantiation's start-up code consumed, again.
                        match fuel.checked_sub(startup) {
                            Some(left) => store.set_fuel(left)?,
                            None => {
                                store.set_fuel(0)?;
                                return Err(wasmtime::Trap::OutOfFuel.into());
                            }
                        }
                        startup_fuel = Some(startup);
                        instance
                    }
                    None => {
                        let started = self.pre.instantiate(&mut store)?;
                        let left = store.get_fuel()?;
                        // Fuel at 0 may hide how much more the start-up wanted: not reused.
                        startup_fuel = (left > 0).then(|| fuel.saturating_sub(left));
                        started
                    }
                };
                instance = Some(started);
                #[cfg(test)]
                crate::tests::maybe_panic("run");
                // The entry, resolved on the instance's first call of it.
                let key = std::ptr::from_ref(export) as usize;
                if let Some(func) = handles.as_ref().and_then(|h| h.func(key)) {
                    return func.call(&mut store, ());
                }
                let func = started
                    .get_module_export(&mut store, export)
                    .and_then(wasmtime::Extern::into_func)
                    .ok_or_else(|| wasmtime::format_err!("the export of {call} is not a function"))?
                    .typed::<(), i64>(&store)?;
                let result = func.call(&mut store, ());
                resolved = Some((key, func));
                result
            })
            .map_err(|why| EngineFault::new(ENGINE_NAME, why))?;
            // A call that returned leaves an instance a reset can restore.
            let keep = result.is_ok();
            let (status, charge_limit) = match result {
                // The exit code is the returned i64's bits (ABI.md: a u64).
                Ok(code) => (ExitStatus::Exit(code as u64), false),
                Err(e) => match classify(&e, store.data_mut())? {
                    Stop::Syscall(trap) => (ExitStatus::Trap(trap), false),
                    Stop::Instruction(Trap::Unreachable)
                        if self.stack_exhausted(&mut store, instance) =>
                    {
                        (ExitStatus::Trap(Trap::StackOverflow), true)
                    }
                    Stop::Instruction(trap) => (ExitStatus::Trap(trap), true),
                },
            };
            let fuel = store.get_fuel().map_err(fault)?;
            let status = match store.data().remaining_for(fuel) {
                // Whatever else happened, a call that used more than its limit is out of gas.
                None => {
                    meter.exhaust();
                    ExitStatus::Trap(Trap::OutOfGas)
                }
                Some(remaining) => {
                    let used = gas_limit.checked_sub(remaining).ok_or_else(|| {
                        fault(format!(
                            "{remaining} gas left exceeds the limit {gas_limit}"
                        ))
                    })?;
                    meter
                        .set_used(used)
                        .map_err(|_| fault("gas used exceeds the limit"))?;
                    if charge_limit {
                        // See `Stop::Instruction`. It also makes a stack overflow cost the
                        // same everywhere, though the depth at which the native stack runs
                        // out depends on the target's frame sizes.
                        meter.exhaust();
                    }
                    status
                }
            };
            if let Some(tracer) = store.data_mut().tracer.take() {
                // What ran, before a trap's charge of the whole limit.
                let ran = store.data().used_for(fuel).unwrap_or(gas_limit);
                let stopped = match &status {
                    ExitStatus::Exit(_) => None,
                    ExitStatus::Trap(trap) => Some(trap.to_string()),
                };
                tracer.finish(ran, stopped.as_deref());
            }
            // What to clear: all memory if the call's code may have stored into it, else
            // the bytes syscalls wrote.
            let written = (!self.writes.can_write(call, self.entrypoint.is_some()))
                .then_some(store.data().written);
            if let (true, Some(instance), Some(startup_fuel)) = (keep, instance, startup_fuel)
                && let Some(mut handles) =
                    self.recycle(&mut store, instance, handles.take(), written)
            {
                handles.funcs.extend(resolved);
                crate::reuse::keep(Idle {
                    module: self.id,
                    store,
                    instance,
                    startup_fuel,
                    handles,
                });
            }
            status
        };
        Ok(Outcome::finish(status, &meter, host))
    }

    /// The module's structure: imports with their signatures, exports, memory limits. Wasm
    /// code is compiled to machine code, so there is no instruction listing to show.
    fn disassemble(&self) -> Option<String> {
        Some(self.summary.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traps_map_to_the_engine_api() {
        assert_eq!(map_trap(wasmtime::Trap::OutOfFuel), Trap::OutOfGas);
        assert_eq!(
            map_trap(wasmtime::Trap::IntegerDivisionByZero),
            Trap::DivisionByZero
        );
        assert_eq!(
            map_trap(wasmtime::Trap::IntegerOverflow),
            Trap::DivisionOverflow
        );
        assert_eq!(
            map_trap(wasmtime::Trap::UnreachableCodeReached),
            Trap::Unreachable
        );
        assert_eq!(
            map_trap(wasmtime::Trap::BadSignature),
            Trap::Invalid("indirect call type mismatch".into())
        );
    }

    /// The margin of [`WasmConfig::MIN_WASM_STACK`]: the deepest chain of the hungriest frame
    /// the deterministic limit allows also fits half of it natively, in both modes.
    #[test]
    #[cfg_attr(
        debug_assertions,
        ignore = "compiles the largest frames: run in release mode"
    )]
    fn the_deterministic_stack_fits_half_the_native_stack() {
        use tos_adversarial::wasm::{bounded_recursion, limits, recursion};
        use tos_engine_api::ExecutionEngine;
        use tos_syscalls::testing::abi_v1;

        let (locals, stack) = (limits::LOCALS_PER_FUNCTION - 1, limits::OPERAND_STACK - 2);
        for optimize in [true, false] {
            let mut config = WasmConfig::new();
            config.set_optimize(optimize);
            // Below the configurable floor on purpose: only this test may.
            config.max_wasm_stack = WasmConfig::MIN_WASM_STACK / 2;
            let engine = crate::WasmEngine::new_unchecked(config);
            for code in [
                recursion(locals, stack),
                recursion(0, 1),
                bounded_recursion(locals, stack, 1_000),
            ] {
                let module = engine.prepare(&code, &abi_v1()).unwrap();
                let call = Call::Entry(0);
                let host = tos_host::testing::devnet_host();
                let mut state = tos_host::MemoryProvider::default();
                let tx = tos_host::TxContext {
                    height: 1,
                    ..Default::default()
                };
                let (outcome, _) = tos_host::testing::with_call_host(
                    &host,
                    &mut state,
                    &tx,
                    [5; 32],
                    call,
                    &[],
                    |h| module.run(call, h, 90_000_000),
                )
                .unwrap();
                let outcome = outcome.expect("no native stack overflow");
                assert_eq!(outcome.status, ExitStatus::Trap(Trap::StackOverflow));
            }
        }
    }
}
