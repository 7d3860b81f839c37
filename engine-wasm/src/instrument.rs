//! The instrumentation pass: rewrites an accepted module (wasmparser → wasm-encoder) so that
//! stack exhaustion and fuel checks follow rules fixed by the module's bytes.
//!
//! - **Deterministic stack.** A mutable `i32` global counts the stack slots of the frames
//!   live below the running one. Around every call of a module function (`call` of a defined
//!   function, `call_indirect`), the caller adds the callee's frame cost (from the pre-pass;
//!   `call_indirect` adds the largest frame cost of the module), traps if the total passed
//!   [`WasmConfig::STACK_SLOTS`], and subtracts it again when the callee returns. The trap is
//!   an `unreachable` with the counter left above the limit, which the engine reports as
//!   `StackOverflow`; the counter is exported as [`STACK_EXPORT`] for that. Calls of
//!   syscalls (imports) are not counted: they run host code, whose stack the host bounds.
//! - **Bounded fuel overrun.** Wasmtime checks fuel only at function entries and loop
//!   headers. An empty `loop end` (which wasmtime turns into a fuel check) is inserted after
//!   every [`FUEL_CHECK_INTERVAL`] operators of straight-line code and right after every
//!   counted call returns, so a call that ran out of gas stops within that many operators
//!   (see [`WasmConfig::MAX_FUEL_OVERRUN`]).
//!   The inserted `loop`/`end` are control operators (`wasm.op.control`, 0 in version 1):
//!   they never change an outcome, only how soon an out-of-gas call stops.
//!
//! Custom sections are dropped: they have no meaning at run time.
//!
//! A traceable module (tools only) gets the function entry and exit reports described in
//! [`crate::tracing`] on top of all this.

use std::collections::HashMap;
use std::convert::Infallible;

use tos_engine_api::LoadError;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, EntityType, ExportKind, ExportSection, Function,
    GlobalSection, GlobalType, ImportSection, Instruction, Module, SectionId, TypeSection, ValType,
};
use wasmparser::Operator;

use crate::config::WasmConfig;
use crate::prepass::{Facts, STACK_EXPORT};
use crate::tracing::{ENTER, EXIT, Layout, TRACE_MODULE};

/// Most operators between two fuel checks on any path through a function body.
pub(crate) const FUEL_CHECK_INTERVAL: u32 = 1_024;

/// The rewriter.
struct Instrument<'f> {
    facts: &'f Facts,
    /// Index of the added stack-slot global.
    global: u32,
    /// Whether the added global has been emitted.
    global_emitted: bool,
    /// The largest frame cost of the module (charged by `call_indirect`).
    max_cost: u32,
    /// For a traceable module: the entry and exit reports.
    trace: Option<Trace<'f>>,
    /// Mutable globals to export (index, name), for resetting a reused instance.
    export_globals: &'f [(u32, String, crate::reuse::Initial)],
    /// Whether an operator changes the instance beyond what a reset restores.
    changes_instance: bool,
}

/// What the instrumentation adds besides the stack counter and fuel checks.
#[derive(Default)]
pub(crate) struct Options<'a> {
    /// Make the module traceable (crate::tracing).
    pub(crate) trace: Option<&'a Layout>,
    /// Export these mutable globals (crate::reuse).
    pub(crate) export_globals: &'a [(u32, String, crate::reuse::Initial)],
}

/// An instrumented module.
pub(crate) struct Instrumented {
    /// Its bytes.
    pub(crate) code: Vec<u8>,
    /// Whether an operator changes the instance beyond what a reset restores
    /// (crate::reuse::changes_instance).
    pub(crate) changes_instance: bool,
}

/// The state of the entry and exit reports of a traceable module.
struct Trace<'f> {
    layout: &'f Layout,
    /// Index of the `enter` import's type; `exit`'s is the next one.
    enter_type: u32,
    /// For each type of a function with parameters and several results: the added type
    /// with the same results and no parameters, which the wrapping block uses.
    block_types: HashMap<u32, u32>,
    /// Whether the import section (with the two imports) has been emitted.
    imports_emitted: bool,
    /// Index of the defined function whose body is being rewritten.
    function: u32,
}

impl Trace<'_> {
    fn new(layout: &Layout) -> Trace<'_> {
        let base = u32::try_from(layout.types.len()).unwrap_or(u32::MAX);
        let mut block_types = HashMap::new();
        let mut next = base.saturating_add(2);
        for ty in &layout.func_types {
            let Some((params, results)) = layout.types.get(*ty as usize) else {
                continue;
            };
            if !params.is_empty() && results.len() > 1 && !block_types.contains_key(ty) {
                block_types.insert(*ty, next);
                next = next.saturating_add(1);
            }
        }
        Trace {
            layout,
            enter_type: base,
            block_types,
            imports_emitted: false,
            function: 0,
        }
    }
}

/// Rewrites `code`, which the pre-pass accepted with `facts`.
///
/// # Errors
/// [`LoadError::Fault`] if the rewriting fails: the pre-pass validated the module, so that is
/// an engine bug.
pub(crate) fn instrument(
    code: &[u8],
    facts: &Facts,
    options: &Options<'_>,
) -> Result<Instrumented, LoadError> {
    let mut pass = Instrument {
        facts,
        global: facts.globals,
        global_emitted: false,
        max_cost: facts.frame_costs.iter().copied().max().unwrap_or(0),
        trace: options.trace.map(Trace::new),
        export_globals: options.export_globals,
        changes_instance: false,
    };
    let mut module = Module::new();
    pass.parse_core_module(&mut module, wasmparser::Parser::new(0), code)
        .map_err(|e| {
            LoadError::Fault(tos_engine_api::EngineFault::new(
                crate::ENGINE_NAME,
                format!("instrumenting a validated module failed: {e}"),
            ))
        })?;
    Ok(Instrumented {
        code: module.finish(),
        changes_instance: pass.changes_instance,
    })
}

impl Instrument<'_> {
    fn add_global(&mut self, globals: &mut GlobalSection) {
        globals.global(
            GlobalType {
                val_type: ValType::I32,
                mutable: true,
                shared: false,
            },
            &ConstExpr::i32_const(0),
        );
        self.global_emitted = true;
    }

    /// Charges `cost` slots before a call, trapping past the limit.
    fn enter(&self, f: &mut Function, cost: u32) {
        let g = self.global;
        // Frame costs and the limit are far below i32::MAX (see the pre-pass limits).
        let cost = i32::try_from(cost).unwrap_or(i32::MAX);
        let max = i32::try_from(WasmConfig::STACK_SLOTS).unwrap_or(i32::MAX);
        f.instruction(&Instruction::GlobalGet(g))
            .instruction(&Instruction::I32Const(cost))
            .instruction(&Instruction::I32Add)
            .instruction(&Instruction::GlobalSet(g))
            .instruction(&Instruction::GlobalGet(g))
            .instruction(&Instruction::I32Const(max))
            .instruction(&Instruction::I32GtU)
            .instruction(&Instruction::If(BlockType::Empty))
            .instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
    }

    /// Appends the `enter` and `exit` imports of a traceable module.
    fn add_trace_imports(&mut self, imports: &mut ImportSection) {
        if let Some(trace) = &mut self.trace {
            imports.import(TRACE_MODULE, ENTER, EntityType::Function(trace.enter_type));
            imports.import(
                TRACE_MODULE,
                EXIT,
                EntityType::Function(trace.enter_type.saturating_add(1)),
            );
            trace.imports_emitted = true;
        }
    }

    /// A traceable function's prologue: reports the entry, then opens the block its body
    /// runs in (of the function's results), so that every way out passes the exit report.
    fn trace_prologue(&mut self, f: &mut Function) -> Result<(), reencode::Error<Infallible>> {
        let imported = self.facts.imported_functions;
        let Some(trace) = &self.trace else {
            return Ok(());
        };
        let function = trace.function;
        let ty = trace.layout.func_types.get(function as usize).copied();
        let sig = ty.and_then(|t| trace.layout.types.get(t as usize));
        // The block's type: empty, one result (converted below), or a type index.
        let (block, one) = match (ty, sig) {
            (Some(ty), Some((params, results))) => match results.as_slice() {
                [] => (BlockType::Empty, None),
                [one] => (BlockType::Empty, Some(*one)),
                _ if params.is_empty() => (BlockType::FunctionType(ty), None),
                _ => (
                    BlockType::FunctionType(trace.block_types.get(&ty).copied().unwrap_or(ty)),
                    None,
                ),
            },
            _ => (BlockType::Empty, None),
        };
        let block = match one {
            Some(t) => BlockType::Result(self.val_type(t)?),
            None => block,
        };
        f.instruction(&Instruction::I32Const(function as i32))
            .instruction(&Instruction::Call(imported))
            .instruction(&Instruction::Block(block));
        Ok(())
    }

    /// The exit report of a traceable function.
    fn trace_exit(&self, f: &mut Function) {
        if self.trace.is_some() {
            f.instruction(&Instruction::Call(
                self.facts.imported_functions.saturating_add(1),
            ));
        }
    }

    /// Gives `cost` slots back after a call returned.
    fn leave(&self, f: &mut Function, cost: u32) {
        let g = self.global;
        let cost = i32::try_from(cost).unwrap_or(i32::MAX);
        f.instruction(&Instruction::GlobalGet(g))
            .instruction(&Instruction::I32Const(cost))
            .instruction(&Instruction::I32Sub)
            .instruction(&Instruction::GlobalSet(g));
    }
}

impl Reencode for Instrument<'_> {
    type Error = Infallible;

    /// A traceable module's two imports come after the module's own imported functions:
    /// every defined function moves up by two.
    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Self::Error>> {
        Ok(match &self.trace {
            Some(_) if func >= self.facts.imported_functions => func.saturating_add(2),
            _ => func,
        })
    }

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_type_section(self, types, section)?;
        let Some(trace) = &self.trace else {
            return Ok(());
        };
        let mut added: Vec<(u32, u32)> = trace.block_types.iter().map(|(o, n)| (*n, *o)).collect();
        added.sort_unstable();
        let blocks: Vec<Vec<wasmparser::ValType>> = added
            .into_iter()
            .map(|(_, original)| {
                trace
                    .layout
                    .types
                    .get(original as usize)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default()
            })
            .collect();
        types.ty().function([ValType::I32], []);
        types.ty().function([], []);
        for results in blocks {
            let results = results
                .into_iter()
                .map(|t| self.val_type(t))
                .collect::<Result<Vec<_>, _>>()?;
            types.ty().function([], results);
        }
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        self.add_trace_imports(imports);
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        _module: &mut Module,
        _section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        Ok(())
    }

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_global_section(self, globals, section)?;
        self.add_global(globals);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        // Every accepted module has an export section (`memory`), which follows the global
        // section: a module without globals gets one holding only the counter.
        // A traceable module without imports gets an import section holding the two.
        if self.trace.as_ref().is_some_and(|t| !t.imports_emitted)
            && matches!(
                before,
                None | Some(
                    SectionId::Function
                        | SectionId::Table
                        | SectionId::Memory
                        | SectionId::Tag
                        | SectionId::Global
                        | SectionId::Export
                        | SectionId::Start
                        | SectionId::Element
                        | SectionId::DataCount
                        | SectionId::Code
                        | SectionId::Data
                )
            )
        {
            let mut imports = ImportSection::new();
            self.add_trace_imports(&mut imports);
            module.section(&imports);
        }
        if !self.global_emitted && before == Some(SectionId::Export) {
            let mut globals = GlobalSection::new();
            self.add_global(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        exports.export(STACK_EXPORT, ExportKind::Global, self.global);
        for (index, name, _) in self.export_globals {
            exports.export(name, ExportKind::Global, *index);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        let imported = self.facts.imported_functions;
        let mut since_check = 0u32;
        self.trace_prologue(&mut f)?;
        // Blocks open in the original body (its final `end` closes depth 0).
        let mut depth = 0u32;
        while !reader.eof() {
            let op = reader.read()?;
            if crate::reuse::changes_instance(&op) {
                self.changes_instance = true;
            }
            if self.trace.is_some() {
                match &op {
                    Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                        depth = depth.saturating_add(1);
                    }
                    Operator::End if depth == 0 => {
                        // The body's final `end`: close the wrapping block, report the exit.
                        f.instruction(&Instruction::End);
                        self.trace_exit(&mut f);
                    }
                    Operator::End => depth = depth.saturating_sub(1),
                    Operator::Return => self.trace_exit(&mut f),
                    _ => {}
                }
            }
            let counted = match &op {
                Operator::Call { function_index } if *function_index >= imported => {
                    let defined = function_index.saturating_sub(imported) as usize;
                    Some(
                        self.facts
                            .frame_costs
                            .get(defined)
                            .copied()
                            .unwrap_or(self.max_cost),
                    )
                }
                Operator::CallIndirect { .. } => Some(self.max_cost),
                _ => None,
            };
            let resets = matches!(op, Operator::Loop { .. });
            let instruction = self.instruction(op)?;
            match counted {
                Some(cost) => {
                    self.enter(&mut f, cost);
                    f.instruction(&instruction);
                    self.leave(&mut f, cost);
                    // A fuel check as soon as the callee returns: a call that ran out of gas
                    // in the callee cannot go on running the rest of every caller's body.
                    f.instruction(&Instruction::Loop(BlockType::Empty))
                        .instruction(&Instruction::End);
                }
                None => {
                    f.instruction(&instruction);
                }
            }
            since_check = if resets {
                0
            } else {
                since_check.saturating_add(1)
            };
            // Never after the body's final `end`.
            if since_check >= FUEL_CHECK_INTERVAL && !reader.eof() {
                f.instruction(&Instruction::Loop(BlockType::Empty))
                    .instruction(&Instruction::End);
                since_check = 0;
            }
        }
        code.function(&f);
        if let Some(trace) = &mut self.trace {
            trace.function = trace.function.saturating_add(1);
        }
        Ok(())
    }
}
