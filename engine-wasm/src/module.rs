//! Checking a compiled module against the ABI, and running calls on it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tos_engine_api::{
    Access, Call, EngineFault, EntryTable, ExitStatus, Gas, GasMeter, HostAbi, LoadError,
    ModuleInfo, Outcome, PreparedModule, Trap,
};
use tos_syscalls::ActiveSyscalls;
use wasmtime::{ExternType, FuncType, InstancePre, Module, ModuleExport, Store, ValType};

use crate::ENGINE_NAME;
use crate::bind::{CallState, IMPORT_MODULE, Limits, fuel_for, remaining_for};
use crate::config::WasmConfig;

/// Most tables a module may define (C and Rust toolchains emit one, for indirect calls).
pub(crate) const MAX_TABLES: usize = 1;

/// The export a self-dispatching module runs for every call.
const ENTRYPOINT: &str = "entrypoint";
/// The export every module must have: its linear memory.
const MEMORY: &str = "memory";

/// A module compiled once and checked against the ABI; every call instantiates it afresh.
pub(crate) struct WasmModule {
    info: ModuleInfo,
    pre: InstancePre<CallState>,
    memory: ModuleExport,
    initial_pages: u64,
    /// Gas per page of linear memory under the protocol the module was prepared for.
    page_cost: Gas,
    max_memory_bytes: usize,
    max_table_elements: usize,
    summary: String,
}

impl std::fmt::Debug for WasmModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmModule")
            .field("info", &self.info)
            .field("initial_pages", &self.initial_pages)
            .finish_non_exhaustive()
    }
}

/// `(i64, i64) -> i64` and the like, for messages.
fn signature(ty: &FuncType) -> String {
    let list = |types: &mut dyn Iterator<Item = ValType>| {
        types.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "({}) -> ({})",
        list(&mut ty.params()),
        list(&mut ty.results())
    )
}

/// Whether `ty` returns exactly one i64.
fn returns_i64(ty: &FuncType) -> bool {
    let mut results = ty.results();
    matches!((results.next(), results.next()), (Some(ValType::I64), None))
}

/// `() -> i64`: the type of entries, hooks and `entrypoint`.
fn is_entry_type(ty: &FuncType) -> bool {
    ty.params().len() == 0 && returns_i64(ty)
}

/// `(i64 × arity) -> i64`: the type of a syscall import.
fn is_syscall_type(ty: &FuncType, arity: u8) -> bool {
    ty.params().len() == usize::from(arity)
        && ty.params().all(|t| matches!(t, ValType::I64))
        && returns_i64(ty)
}

/// What kind of thing an extern is, for messages.
fn kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "a function",
        ExternType::Global(_) => "a global",
        ExternType::Table(_) => "a table",
        ExternType::Memory(_) => "a memory",
        ExternType::Tag(_) => "a tag",
    }
}

/// Checks the imports, exports, memory and tables of `module` and binds it to `linker`'s
/// syscalls. `code_size` is the size of the binary it was compiled from.
pub(crate) fn check(
    module: &Module,
    code_size: usize,
    syscalls: &ActiveSyscalls,
    linker: &wasmtime::Linker<CallState>,
    config: &WasmConfig,
    backend: &crate::engine::Backend,
) -> Result<WasmModule, LoadError> {
    let mut summary = String::new();
    let _ = writeln!(summary, "wasm module, {code_size} bytes");

    // Imports: syscalls only, from `env`, live, with the ABI's signature.
    let mut imports = BTreeSet::new();
    let _ = writeln!(summary, "imports:");
    for import in module.imports() {
        let (from, name, ty) = (import.module(), import.name(), import.ty());
        if from != IMPORT_MODULE {
            return Err(LoadError::Unsupported(format!(
                "import `{from}`.`{name}`: syscalls are imported from module `{IMPORT_MODULE}` only"
            )));
        }
        let ExternType::Func(func) = &ty else {
            return Err(LoadError::Unsupported(format!(
                "import `{from}`.`{name}` is {}; a module imports syscall functions only",
                kind(&ty)
            )));
        };
        let def = syscalls
            .by_name(name)
            .ok_or_else(|| LoadError::UnknownSyscall(name.to_owned()))?
            .def;
        if !is_syscall_type(func, def.arity) {
            return Err(LoadError::Verification(format!(
                "import `{from}`.`{name}` has type {}; syscall `{name}` takes {} i64 \
                 argument(s) and returns one i64",
                signature(func),
                def.arity
            )));
        }
        let _ = writeln!(summary, "  {from}.{name} {}", signature(func));
        imports.insert(name.to_owned());
    }

    // Exports: `memory`, and `entry_<N>` / `hook_<N>` or `entrypoint`, each `() -> i64`.
    let mut entries = EntryTable::default();
    let mut has_entrypoint = false;
    let mut memory_type = None;
    let _ = writeln!(summary, "exports:");
    for export in module.exports() {
        let (name, ty) = (export.name(), export.ty());
        let call = Call::from_symbol(name);
        let is_function_name = call.is_some() || name == ENTRYPOINT;
        if is_function_name {
            match &ty {
                ExternType::Func(func) if is_entry_type(func) => {
                    let _ = writeln!(summary, "  {name} {}", signature(func));
                }
                ExternType::Func(func) => {
                    return Err(LoadError::Verification(format!(
                        "export `{name}` has type {}; entries, hooks and `entrypoint` must be \
                         () -> (i64)",
                        signature(func)
                    )));
                }
                other => {
                    return Err(LoadError::Verification(format!(
                        "export `{name}` is {}; it must be a function () -> (i64)",
                        kind(other)
                    )));
                }
            }
        }
        match call {
            Some(Call::Entry(id)) => {
                entries.entries.insert(id);
            }
            Some(Call::Hook(id)) => {
                entries.hooks.insert(id);
            }
            None if name == ENTRYPOINT => has_entrypoint = true,
            None if name == MEMORY => {
                let ExternType::Memory(mem) = &ty else {
                    return Err(LoadError::Verification(format!(
                        "export `{MEMORY}` is {}; it must be the module's linear memory",
                        kind(&ty)
                    )));
                };
                let _ = writeln!(
                    summary,
                    "  {MEMORY} min {} pages, max {}",
                    mem.minimum(),
                    mem.maximum()
                        .map_or_else(|| "none".to_owned(), |m| format!("{m} pages"))
                );
                memory_type = Some(mem.clone());
            }
            None if name.starts_with("entry_") || name.starts_with("hook_") => {
                return Err(LoadError::Verification(format!(
                    "export `{name}` is not a valid entry or hook name: use entry_<N> (N a u16) \
                     or hook_<N> (N a u8), N decimal without leading zeros"
                )));
            }
            None => {
                let _ = writeln!(summary, "  {name} ({})", kind(&ty));
            }
        }
    }

    let memory_type = memory_type.ok_or_else(|| LoadError::MissingExport(MEMORY.to_owned()))?;
    if memory_type.is_64() || memory_type.is_shared() {
        // Both proposals are off, so validation refuses them first; kept as a second line.
        return Err(LoadError::Unsupported(format!(
            "`{MEMORY}` must be a 32-bit, unshared memory"
        )));
    }
    let max_pages = u64::from(config.max_memory_pages);
    if memory_type.minimum() > max_pages {
        return Err(LoadError::Unsupported(format!(
            "`{MEMORY}` declares {} initial pages, over the limit of {max_pages} pages \
             ({} bytes)",
            memory_type.minimum(),
            config.max_memory_bytes()
        )));
    }
    let resources = module.resources_required();
    if resources.num_memories != 1 {
        return Err(LoadError::Unsupported(format!(
            "the module defines {} memories; it must define exactly one, exported as \
             `{MEMORY}`",
            resources.num_memories
        )));
    }
    if usize::try_from(resources.num_tables).map_or(true, |n| n > MAX_TABLES) {
        return Err(LoadError::Unsupported(format!(
            "the module defines {} tables, over the limit of {MAX_TABLES}",
            resources.num_tables
        )));
    }
    if let Some(elements) = resources.max_initial_table_size
        && elements > u64::from(config.max_table_elements)
    {
        return Err(LoadError::Unsupported(format!(
            "a table declares {elements} initial elements, over the limit of {}",
            config.max_table_elements
        )));
    }

    if entries.entries.is_empty() && entries.hooks.is_empty() {
        if !has_entrypoint {
            return Err(LoadError::MissingExport(format!(
                "{ENTRYPOINT}` or `entry_<N>` / `hook_<N>"
            )));
        }
        entries.self_dispatch = true;
    }

    let memory = module
        .get_export_index(MEMORY)
        .ok_or_else(|| LoadError::MissingExport(MEMORY.to_owned()))?;
    let pre = linker.instantiate_pre(module).map_err(|e| {
        LoadError::Verification(format!("binding the module's imports failed: {e:#}"))
    })?;

    Ok(WasmModule {
        info: ModuleInfo {
            entries,
            imports: imports.into_iter().collect(),
            code_size,
        },
        pre,
        memory,
        initial_pages: memory_type.minimum(),
        page_cost: backend.costs.memory_page(),
        max_memory_bytes: config.max_memory_bytes(),
        // At most MAX_TABLE_ELEMENTS (4096): fits every usize.
        max_table_elements: config.max_table_elements as usize,
        summary,
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
        return Ok(Stop::Instruction(map_trap(*trap)));
    }
    Err(EngineFault::new(
        ENGINE_NAME,
        format!("unexpected wasmtime error: {error:#}"),
    ))
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
        _params: &[u8],
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault> {
        if !self.info.entries.accepts(call) {
            return Ok(Outcome::unknown_entry(call, host));
        }
        let export = if self.info.entries.self_dispatch {
            ENTRYPOINT.to_owned()
        } else {
            call.symbol()
        };

        // The initial pages are paid for before anything runs; the params reach the guest
        // through `tos_get_input`, from `host.input()`.
        let mut meter = GasMeter::new(gas_limit);
        let setup = self
            .initial_pages
            .checked_mul(self.page_cost)
            .unwrap_or(Gas::MAX);
        if meter.consume(setup).is_err() {
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
        let state = unsafe { CallState::new(host, gas_limit, self.memory, limits) };
        let status = {
            let mut store = Store::new(self.pre.module().engine(), state);
            store.limiter(|state| &mut state.limits);
            store.set_fuel(fuel_for(meter.remaining())).map_err(fault)?;
            let result = self.pre.instantiate(&mut store).and_then(|instance| {
                let func = instance.get_typed_func::<(), i64>(&mut store, &export)?;
                func.call(&mut store, ())
            });
            let (status, charge_limit) = match result {
                // The exit code is the returned i64's bits (ABI.md: a u64).
                Ok(code) => (ExitStatus::Exit(code as u64), false),
                Err(e) => match classify(&e, store.data_mut())? {
                    Stop::Syscall(trap) => (ExitStatus::Trap(trap), false),
                    Stop::Instruction(trap) => (ExitStatus::Trap(trap), true),
                },
            };
            match remaining_for(store.get_fuel().map_err(fault)?) {
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
            }
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
}
