//! The validation pre-pass: everything that can refuse a module, decided from its bytes
//! before anything expensive (compilation, instantiation) happens.
//!
//! One pass over the binary with wasmparser's validator (the version wasmtime itself uses,
//! with the proposals the engine enables) plus our own counting: every structural limit of
//! [`WasmConfig`], the ABI (syscall imports against the live table, entry exports and their
//! types, the `memory` export), and the facts the engine needs later: each function's frame
//! cost for the deterministic stack, and the per-call instantiation work to charge. The pass
//! is linear in the module's size, so refusing a module costs about as much as reading it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tos_engine_api::{Call, EntryTable, LoadError};
use tos_syscalls::ActiveSyscalls;
use wasmparser::{
    CompositeInnerType, ElementItems, ElementKind, ExternalKind, FuncType,
    FuncValidatorAllocations, FunctionBody, Operator, Parser, Payload, TypeRef, ValType, Validator,
    WasmFeatures,
};

use crate::bind::IMPORT_MODULE;
use crate::config::WasmConfig;

/// The export a self-dispatching module runs for every call.
pub(crate) const ENTRYPOINT: &str = "entrypoint";
/// The export every module must have: its linear memory.
pub(crate) const MEMORY: &str = "memory";
/// The export the instrumentation adds: the stack-slot counter (a module may not use it).
pub(crate) const STACK_EXPORT: &str = "__tos_stack_slots";

/// What the pre-pass learns about a module it accepts.
#[derive(Debug)]
pub(crate) struct Facts {
    /// Entries and hooks.
    pub(crate) entries: EntryTable,
    /// The syscalls the module imports, sorted.
    pub(crate) imports: Vec<String>,
    /// A human-readable summary (`disassemble`).
    pub(crate) summary: String,
    /// Initial pages of the one memory.
    pub(crate) initial_pages: u64,
    /// Imported functions (they come first in the function index space).
    pub(crate) imported_functions: u32,
    /// Globals the module defines (no global is imported).
    pub(crate) globals: u32,
    /// The frame cost, in stack slots, of each defined function.
    pub(crate) frame_costs: Vec<u32>,
    /// The work a call's instantiation does, before any wasm runs.
    pub(crate) instance: InstanceWork,
    /// How to reset an instance for reuse, or `None` when a section rules it out (the
    /// operators are checked by the instrumentation).
    pub(crate) reset: Option<crate::reuse::ResetPlan>,
    /// Which calls can write the linear memory (crate::reuse::MemoryWrites).
    pub(crate) writes: crate::reuse::MemoryWrites,
}

/// What instantiating a module costs, counted from its bytes.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct InstanceWork {
    /// Functions (imported and defined): each gets a slot in the instance's context.
    pub(crate) functions: u64,
    /// Globals, each initialized.
    pub(crate) globals: u64,
    /// Initial elements of the table (each written), plus the elements of active segments.
    pub(crate) table_elements: u64,
}

/// The proposals the engine enables, as wasmparser features (the same set the wasmtime
/// engine gets, so the pre-pass refuses exactly what compilation would).
fn features() -> WasmFeatures {
    crate::engine::ENABLED
        .iter()
        .fold(WasmFeatures::MVP, |all, f| all | *f)
}

/// A limit exceeded: names the limit, the value found and where.
fn over(
    limit: &str,
    max: impl std::fmt::Display,
    found: impl std::fmt::Display,
    what: &str,
) -> LoadError {
    LoadError::Unsupported(format!(
        "limit {limit} ({max}) exceeded: {what} has {found}"
    ))
}

/// Checks `value <= max`, or refuses with the limit's name.
fn limit(limit_name: &str, max: u64, found: u64, what: &str) -> Result<(), LoadError> {
    if found > max {
        return Err(over(limit_name, max, found, what));
    }
    Ok(())
}

fn invalid(e: wasmparser::BinaryReaderError) -> LoadError {
    LoadError::Verification(e.to_string())
}

/// `(i64, i64) -> (i64)`, for messages.
fn signature(ty: &FuncType) -> String {
    let list = |types: &[ValType]| {
        types
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(ty.params()), list(ty.results()))
}

fn returns_i64(ty: &FuncType) -> bool {
    ty.results() == [ValType::I64]
}

/// `() -> i64`: the type of entries, hooks and `entrypoint`.
fn is_entry_type(ty: &FuncType) -> bool {
    ty.params().is_empty() && returns_i64(ty)
}

/// `(i64 × arity) -> i64`: the type of a syscall import.
fn is_syscall_type(ty: &FuncType, arity: u8) -> bool {
    ty.params().len() == usize::from(arity)
        && ty.params().iter().all(|t| *t == ValType::I64)
        && returns_i64(ty)
}

fn kind_name(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "a function",
        ExternalKind::Table => "a table",
        ExternalKind::Memory => "a memory",
        ExternalKind::Global => "a global",
        ExternalKind::Tag => "a tag",
    }
}

/// The running state of the pass.
struct Scan<'c> {
    config: &'c WasmConfig,
    types: Vec<FuncType>,
    /// Type index of every function, imported first.
    functions: Vec<u32>,
    imported_functions: u32,
    memories: Vec<wasmparser::MemoryType>,
    tables: u64,
    globals: u32,
    locals_total: u64,
    frame_costs: Vec<u32>,
    instance: InstanceWork,
    imports: BTreeSet<String>,
    summary: String,
    exports: Vec<(String, ExternalKind, u32)>,
    data_bytes: u64,
    elements: u64,
    code_size: u64,
    reset: Option<crate::reuse::ResetPlan>,
    /// Whether each function (imported first) can write memory itself, and whom it calls.
    writes: crate::reuse::CallGraph,
}

/// Runs the pre-pass over `code` (already size- and header-checked).
///
/// # Errors
/// The first problem found: malformed or invalid wasm ([`LoadError::Verification`]), a
/// limit exceeded or a refused construct ([`LoadError::Unsupported`], naming the limit and
/// the value found), an unknown syscall, a missing export.
pub(crate) fn scan(
    code: &[u8],
    syscalls: &ActiveSyscalls,
    config: &WasmConfig,
) -> Result<Facts, LoadError> {
    let mut s = Scan {
        config,
        types: Vec::new(),
        functions: Vec::new(),
        imported_functions: 0,
        memories: Vec::new(),
        tables: 0,
        globals: 0,
        locals_total: 0,
        frame_costs: Vec::new(),
        instance: InstanceWork::default(),
        imports: BTreeSet::new(),
        summary: String::new(),
        exports: Vec::new(),
        data_bytes: 0,
        elements: 0,
        code_size: code.len() as u64,
        reset: Some(crate::reuse::ResetPlan::default()),
        writes: crate::reuse::CallGraph::default(),
    };
    let _ = writeln!(s.summary, "wasm module, {} bytes", code.len());
    let _ = writeln!(s.summary, "imports:");
    let mut validator = Validator::new_with_features(features());
    let mut allocs = FuncValidatorAllocations::default();
    let mut function_index = 0u32;
    for payload in Parser::new(0).parse_all(code) {
        let payload = payload.map_err(invalid)?;
        // Count before validating: the validator's own work is linear, but a section count
        // over a limit is refused without reading the section.
        s.section(&payload, syscalls)?;
        crate::reuse::ResetPlan::observe(&mut s.reset, &payload);
        match validator.payload(&payload).map_err(invalid)? {
            wasmparser::ValidPayload::Func(func, body) => {
                let defined = function_index;
                function_index = function_index.saturating_add(1);
                let mut v = func.into_validator(std::mem::take(&mut allocs));
                let cost = s.function(defined, &mut v, &body)?;
                s.frame_costs.push(cost);
                allocs = v.into_allocations();
            }
            wasmparser::ValidPayload::End(_) => break,
            _ => {}
        }
    }
    s.finish()
}

impl Scan<'_> {
    /// Counts and checks one section.
    fn section(
        &mut self,
        payload: &Payload<'_>,
        syscalls: &ActiveSyscalls,
    ) -> Result<(), LoadError> {
        match payload {
            Payload::TypeSection(reader) => {
                limit(
                    "MAX_TYPES",
                    WasmConfig::MAX_TYPES.into(),
                    reader.count().into(),
                    "the type section",
                )?;
                for group in reader.clone() {
                    let group = group.map_err(invalid)?;
                    for sub in group.types() {
                        let CompositeInnerType::Func(f) = &sub.composite_type.inner else {
                            return Err(LoadError::Unsupported(
                                "a type that is not a function type (GC proposal)".into(),
                            ));
                        };
                        let i = self.types.len();
                        limit(
                            "MAX_PARAMS",
                            WasmConfig::MAX_PARAMS.into(),
                            f.params().len() as u64,
                            &format!("type {i}"),
                        )?;
                        limit(
                            "MAX_RESULTS",
                            WasmConfig::MAX_RESULTS.into(),
                            f.results().len() as u64,
                            &format!("type {i}"),
                        )?;
                        self.types.push(f.clone());
                    }
                }
            }
            Payload::ImportSection(reader) => {
                limit(
                    "MAX_IMPORTS",
                    WasmConfig::MAX_IMPORTS.into(),
                    reader.count().into(),
                    "the import section",
                )?;
                for group in reader.clone() {
                    let import = match group.map_err(invalid)? {
                        wasmparser::Imports::Single(_, import) => import,
                        _ => {
                            return Err(LoadError::Unsupported(
                                "compact import groups (a proposal that is off)".into(),
                            ));
                        }
                    };
                    self.import(&import, syscalls)?;
                }
            }
            Payload::FunctionSection(reader) => {
                let total =
                    u64::from(self.imported_functions).saturating_add(u64::from(reader.count()));
                limit(
                    "MAX_FUNCTIONS",
                    WasmConfig::MAX_FUNCTIONS.into(),
                    total,
                    "the module",
                )?;
                let allowed = u64::from(WasmConfig::FREE_FUNCTIONS).saturating_add(
                    self.code_size
                        .div_ceil(u64::from(WasmConfig::BYTES_PER_FUNCTION)),
                );
                if u64::from(reader.count()) > allowed {
                    return Err(over(
                        "BYTES_PER_FUNCTION",
                        format!(
                            "{} + module bytes / {} = {allowed} functions",
                            WasmConfig::FREE_FUNCTIONS,
                            WasmConfig::BYTES_PER_FUNCTION
                        ),
                        format!("{} defined functions", reader.count()),
                        "the module",
                    ));
                }
                for ty in reader.clone() {
                    self.functions.push(ty.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                self.tables = self.tables.saturating_add(reader.count().into());
                limit(
                    "MAX_TABLES",
                    WasmConfig::MAX_TABLES.into(),
                    self.tables,
                    "the module",
                )?;
                for table in reader.clone() {
                    let table = table.map_err(invalid)?;
                    let max = self.config.max_table_elements;
                    if table.ty.initial > u64::from(max) {
                        return Err(over(
                            "max_table_elements",
                            max,
                            format!("{} initial elements", table.ty.initial),
                            "a table",
                        ));
                    }
                    self.instance.table_elements = self
                        .instance
                        .table_elements
                        .saturating_add(table.ty.initial);
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    self.memories.push(memory.map_err(invalid)?);
                }
                if self.memories.len() > 1 {
                    return Err(LoadError::Unsupported(format!(
                        "the module defines {} memories; it must define exactly one, exported \
                         as `{MEMORY}`",
                        self.memories.len()
                    )));
                }
            }
            Payload::GlobalSection(reader) => {
                limit(
                    "MAX_GLOBALS",
                    WasmConfig::MAX_GLOBALS.into(),
                    reader.count().into(),
                    "the global section",
                )?;
                self.globals = reader.count();
                self.instance.globals = reader.count().into();
            }
            Payload::ExportSection(reader) => {
                limit(
                    "MAX_EXPORTS",
                    WasmConfig::MAX_EXPORTS.into(),
                    reader.count().into(),
                    "the export section",
                )?;
                for export in reader.clone() {
                    let e = export.map_err(invalid)?;
                    self.exports.push((e.name.to_owned(), e.kind, e.index));
                }
            }
            Payload::ElementSection(reader) => {
                limit(
                    "MAX_ELEMENT_SEGMENTS",
                    WasmConfig::MAX_ELEMENT_SEGMENTS.into(),
                    reader.count().into(),
                    "the element section",
                )?;
                for element in reader.clone() {
                    let element = element.map_err(invalid)?;
                    let items = match &element.items {
                        ElementItems::Functions(f) => f.count(),
                        ElementItems::Expressions(_, e) => e.count(),
                    };
                    self.elements = self.elements.saturating_add(items.into());
                    limit(
                        "MAX_ELEMENTS",
                        WasmConfig::MAX_ELEMENTS.into(),
                        self.elements,
                        "the element segments",
                    )?;
                    if matches!(element.kind, ElementKind::Active { .. }) {
                        self.instance.table_elements =
                            self.instance.table_elements.saturating_add(items.into());
                    }
                }
            }
            Payload::DataSection(reader) => {
                limit(
                    "MAX_DATA_SEGMENTS",
                    WasmConfig::MAX_DATA_SEGMENTS.into(),
                    reader.count().into(),
                    "the data section",
                )?;
                for data in reader.clone() {
                    let data = data.map_err(invalid)?;
                    self.data_bytes = self.data_bytes.saturating_add(data.data.len() as u64);
                    limit(
                        "MAX_DATA_BYTES",
                        WasmConfig::MAX_DATA_BYTES.into(),
                        self.data_bytes,
                        "the data segments",
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks one import: a live syscall from `env`, with the ABI's signature.
    fn import(
        &mut self,
        import: &wasmparser::Import<'_>,
        syscalls: &ActiveSyscalls,
    ) -> Result<(), LoadError> {
        let (from, name) = (import.module, import.name);
        if from != IMPORT_MODULE {
            return Err(LoadError::Unsupported(format!(
                "import `{from}`.`{name}`: syscalls are imported from module `{IMPORT_MODULE}` only"
            )));
        }
        let TypeRef::Func(ty) = import.ty else {
            let kind = match import.ty {
                TypeRef::Table(_) => "a table",
                TypeRef::Memory(_) => "a memory",
                TypeRef::Global(_) => "a global",
                _ => "a tag",
            };
            return Err(LoadError::Unsupported(format!(
                "import `{from}`.`{name}` is {kind}; a module imports syscall functions only"
            )));
        };
        let func = self.types.get(ty as usize).ok_or_else(|| {
            LoadError::Verification(format!("import `{from}`.`{name}`: type {ty} out of bounds"))
        })?;
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
        let _ = writeln!(self.summary, "  {from}.{name} {}", signature(func));
        self.imports.insert(name.to_owned());
        self.functions.push(ty);
        self.imported_functions = self.imported_functions.saturating_add(1);
        self.writes.import();
        Ok(())
    }

    /// Validates one function body, checks its limits and returns its frame cost in slots.
    fn function(
        &mut self,
        defined: u32,
        v: &mut wasmparser::FuncValidator<wasmparser::ValidatorResources>,
        body: &FunctionBody<'_>,
    ) -> Result<u32, LoadError> {
        let index = self.imported_functions.saturating_add(defined);
        let what = format!("function {index}");
        let size = body.range().len() as u64;
        limit(
            "MAX_FUNCTION_BODY_SIZE",
            WasmConfig::MAX_FUNCTION_BODY_SIZE.into(),
            size,
            &what,
        )?;
        let ty = self
            .functions
            .get(index as usize)
            .and_then(|t| self.types.get(*t as usize))
            .ok_or_else(|| LoadError::Verification(format!("{what} has no type")))?;
        let params = ty.params().len() as u64;

        // Locals, counted before the validator allocates anything for them.
        let mut locals = params;
        let mut reader = body.get_locals_reader().map_err(invalid)?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, ty) = reader.read().map_err(invalid)?;
            locals = locals.saturating_add(count.into());
            limit(
                "MAX_LOCALS_PER_FUNCTION",
                WasmConfig::MAX_LOCALS_PER_FUNCTION.into(),
                locals,
                &what,
            )?;
            v.define_locals(offset, count, ty).map_err(invalid)?;
        }
        self.locals_total = self.locals_total.saturating_add(locals);
        limit(
            "MAX_LOCALS_TOTAL",
            WasmConfig::MAX_LOCALS_TOTAL.into(),
            self.locals_total,
            "the module",
        )?;

        let mut ops = body.get_operators_reader().map_err(invalid)?;
        let (mut max_stack, mut max_depth) = (0u32, 0u32);
        self.writes.define();
        // Which open control frames are loops, and how many of them are.
        let mut frames: Vec<bool> = Vec::new();
        let mut loop_nesting = 0u32;
        // Loop-carried locals: for each open loop (by nesting level), which locals it
        // assigns; each (loop, assigned local) pair is a block parameter Cranelift must
        // carry around the loop.
        let locals_len = usize::try_from(locals).unwrap_or(usize::MAX);
        let mut assigned: Vec<Vec<bool>> = Vec::new();
        let mut carried = 0u64;
        let carried_max = u64::from(WasmConfig::FREE_LOOP_CARRIED_LOCALS)
            .saturating_add(size.div_ceil(u64::from(WasmConfig::BYTES_PER_LOOP_CARRIED_LOCAL)));
        while !ops.eof() {
            let offset = ops.original_position();
            let op = ops.read().map_err(invalid)?;
            match &op {
                Operator::Block { .. } | Operator::If { .. } => frames.push(false),
                Operator::End if frames.pop() == Some(true) => {
                    loop_nesting = loop_nesting.saturating_sub(1);
                }
                _ => {}
            }
            match &op {
                Operator::Loop { .. } => {
                    frames.push(true);
                    loop_nesting = loop_nesting.saturating_add(1);
                    limit(
                        "MAX_LOOP_NESTING",
                        WasmConfig::MAX_LOOP_NESTING.into(),
                        loop_nesting.into(),
                        &what,
                    )?;
                    let level = (loop_nesting as usize).saturating_sub(1);
                    if assigned.len() <= level {
                        assigned.push(vec![false; locals_len]);
                    } else {
                        assigned[level].iter_mut().for_each(|a| *a = false);
                    }
                }
                Operator::LocalSet { local_index } | Operator::LocalTee { local_index } => {
                    for level in assigned.iter_mut().take(loop_nesting as usize) {
                        if let Some(a) = level.get_mut(*local_index as usize)
                            && !*a
                        {
                            *a = true;
                            carried = carried.saturating_add(1);
                        }
                    }
                    if carried > carried_max {
                        return Err(over(
                            "MAX_LOOP_CARRIED_LOCALS",
                            format!(
                                "{} + body bytes / {} = {carried_max}",
                                WasmConfig::FREE_LOOP_CARRIED_LOCALS,
                                WasmConfig::BYTES_PER_LOOP_CARRIED_LOCAL
                            ),
                            format!("{carried} (loop, assigned local) pairs"),
                            &what,
                        ));
                    }
                }
                Operator::BrTable { targets } => {
                    limit(
                        "MAX_BR_TABLE_TARGETS",
                        WasmConfig::MAX_BR_TABLE_TARGETS.into(),
                        targets.len().into(),
                        &what,
                    )?;
                }
                _ => {}
            }
            self.writes.observe(&op);
            v.op(offset, &op).map_err(invalid)?;
            max_stack = max_stack.max(v.operand_stack_height());
            max_depth = max_depth.max(v.control_stack_height());
            if max_stack > WasmConfig::MAX_OPERAND_STACK {
                return Err(over(
                    "MAX_OPERAND_STACK",
                    WasmConfig::MAX_OPERAND_STACK,
                    max_stack,
                    &what,
                ));
            }
            if max_depth > WasmConfig::MAX_CONTROL_DEPTH {
                return Err(over(
                    "MAX_CONTROL_DEPTH",
                    WasmConfig::MAX_CONTROL_DEPTH,
                    max_depth,
                    &what,
                ));
            }
        }
        ops.finish().map_err(invalid)?;
        Ok(frame_cost(locals, max_stack.into(), size))
    }

    /// The module-level checks once every section has been read: memory, exports, entries.
    fn finish(mut self) -> Result<Facts, LoadError> {
        let mut entries = EntryTable::default();
        let mut has_entrypoint = false;
        let mut memory_exported = false;
        let _ = writeln!(self.summary, "exports:");
        let exports = std::mem::take(&mut self.exports);
        for (name, kind, index) in &exports {
            let name = name.as_str();
            let call = Call::from_symbol(name);
            let is_function_name = call.is_some() || name == ENTRYPOINT;
            if is_function_name {
                if !matches!(kind, ExternalKind::Func) {
                    return Err(LoadError::Verification(format!(
                        "export `{name}` is {}; it must be a function () -> (i64)",
                        kind_name(*kind)
                    )));
                }
                let ty = self
                    .functions
                    .get(*index as usize)
                    .and_then(|t| self.types.get(*t as usize))
                    .ok_or_else(|| LoadError::Verification(format!("export `{name}`: no type")))?;
                if !is_entry_type(ty) {
                    return Err(LoadError::Verification(format!(
                        "export `{name}` has type {}; entries, hooks and `entrypoint` must be \
                         () -> (i64)",
                        signature(ty)
                    )));
                }
                let _ = writeln!(self.summary, "  {name} {}", signature(ty));
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
                    if !matches!(kind, ExternalKind::Memory) {
                        return Err(LoadError::Verification(format!(
                            "export `{MEMORY}` is {}; it must be the module's linear memory",
                            kind_name(*kind)
                        )));
                    }
                    memory_exported = true;
                }
                None if name == STACK_EXPORT => {
                    return Err(LoadError::Unsupported(format!(
                        "export `{STACK_EXPORT}` is reserved for the engine"
                    )));
                }
                None if name.starts_with("entry_") || name.starts_with("hook_") => {
                    return Err(LoadError::Verification(format!(
                        "export `{name}` is not a valid entry or hook name: use entry_<N> (N a \
                         u16) or hook_<N> (N a u8), N decimal without leading zeros"
                    )));
                }
                None => {
                    let _ = writeln!(self.summary, "  {name} ({})", kind_name(*kind));
                }
            }
        }
        if !memory_exported {
            return Err(LoadError::MissingExport(MEMORY.to_owned()));
        }
        let [memory] = self.memories.as_slice() else {
            return Err(LoadError::Unsupported(format!(
                "the module defines {} memories; it must define exactly one, exported as \
                 `{MEMORY}`",
                self.memories.len()
            )));
        };
        if memory.memory64 || memory.shared {
            return Err(LoadError::Unsupported(format!(
                "`{MEMORY}` must be a 32-bit, unshared memory"
            )));
        }
        let max_pages = u64::from(self.config.max_memory_pages);
        if memory.initial > max_pages {
            return Err(LoadError::Unsupported(format!(
                "`{MEMORY}` declares {} initial pages, over the limit of {max_pages} pages \
                 ({} bytes)",
                memory.initial,
                self.config.max_memory_bytes()
            )));
        }
        let _ = writeln!(
            self.summary,
            "  {MEMORY} min {} pages, max {}",
            memory.initial,
            memory
                .maximum
                .map_or_else(|| "none".to_owned(), |m| format!("{m} pages"))
        );
        if entries.entries.is_empty() && entries.hooks.is_empty() {
            if !has_entrypoint {
                return Err(LoadError::MissingExport(format!(
                    "{ENTRYPOINT}` or `entry_<N>` / `hook_<N>"
                )));
            }
            entries.self_dispatch = true;
        }
        self.instance.functions = self.functions.len() as u64;
        let mut reset = self.reset;
        if let Some(plan) = &mut reset {
            plan.name_globals(exports.iter().map(|(name, _, _)| name.as_str()));
        }
        let writes = self.writes.entries(
            exports
                .iter()
                .filter(|(_, kind, _)| matches!(kind, ExternalKind::Func))
                .filter_map(|(name, _, index)| {
                    let call = match Call::from_symbol(name) {
                        Some(call) => Some(call),
                        None if name == ENTRYPOINT => None,
                        None => return None,
                    };
                    Some((call, *index))
                }),
        );
        Ok(Facts {
            entries,
            imports: self.imports.into_iter().collect(),
            summary: self.summary,
            initial_pages: memory.initial,
            imported_functions: self.imported_functions,
            globals: self.globals,
            frame_costs: self.frame_costs,
            instance: self.instance,
            reset,
            writes,
        })
    }
}

/// The frame cost of a function, in stack slots: a fixed overhead, a slot per local
/// (parameters included) and per value its operand stack may hold, and a slot per 8 bytes
/// of its body, which bounds the spill slots an optimizing compiler may add for values it
/// keeps live across the body (common subexpressions) and the straight-line code a frame
/// can run after a callee returns.
pub(crate) fn frame_cost(locals: u64, max_stack: u64, body_size: u64) -> u32 {
    let slots = u64::from(WasmConfig::FRAME_OVERHEAD)
        .saturating_add(locals)
        .saturating_add(max_stack)
        .saturating_add(body_size.div_ceil(8));
    // Every term is bounded by a limit far below u32::MAX.
    u32::try_from(slots).unwrap_or(u32::MAX)
}
