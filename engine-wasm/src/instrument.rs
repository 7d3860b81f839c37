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

use std::convert::Infallible;

use tos_engine_api::LoadError;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ExportKind, ExportSection, Function, GlobalSection,
    GlobalType, Instruction, Module, SectionId, ValType,
};
use wasmparser::Operator;

use crate::config::WasmConfig;
use crate::prepass::{Facts, STACK_EXPORT};

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
}

/// Rewrites `code`, which the pre-pass accepted with `facts`.
///
/// # Errors
/// [`LoadError::Fault`] if the rewriting fails: the pre-pass validated the module, so that is
/// an engine bug.
pub(crate) fn instrument(code: &[u8], facts: &Facts) -> Result<Vec<u8>, LoadError> {
    let mut pass = Instrument {
        facts,
        global: facts.globals,
        global_emitted: false,
        max_cost: facts.frame_costs.iter().copied().max().unwrap_or(0),
    };
    let mut module = Module::new();
    pass.parse_core_module(&mut module, wasmparser::Parser::new(0), code)
        .map_err(|e| {
            LoadError::Fault(tos_engine_api::EngineFault::new(
                crate::ENGINE_NAME,
                format!("instrumenting a validated module failed: {e}"),
            ))
        })?;
    Ok(module.finish())
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
        while !reader.eof() {
            let op = reader.read()?;
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
        Ok(())
    }
}
