//! Adversarial wasm modules, built with `wasm-encoder` (never committed bytes).
//!
//! Every module follows the engine's ABI where it can (one exported `memory`, entries
//! `entry_<N>` of type `() -> i64`), so what it probes is the cost it tries to make cheap,
//! not a plain ABI refusal. The parametric builders are public so tests can measure how
//! the node's work scales with each shape; [`cases`] gives the shapes of the security
//! review at the sizes that matter (the largest the engine's limits allow, and just over).

use tos_engine_api::{Call, ModuleTag};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, ElementSection, Elements, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    Instruction as I, MemorySection, MemoryType, Module, RefType, TableSection, TableType,
    TypeSection, ValType,
};

use crate::Case;

/// The engine limits these shapes are sized against (engine-wasm's `WasmConfig`
/// constants, restated: this crate does not depend on the engine).
pub mod limits {
    /// `WasmConfig::MAX_GLOBALS`.
    pub const GLOBALS: u32 = 1_024;
    /// `WasmConfig::MAX_FUNCTIONS`.
    pub const FUNCTIONS: u32 = 10_000;
    /// `WasmConfig::MAX_TABLE_ELEMENTS`.
    pub const TABLE_ELEMENTS: u32 = 4_096;
    /// `WasmConfig::MAX_FUNCTION_BODY_SIZE`.
    pub const FUNCTION_BODY_SIZE: u32 = 64 * 1024;
    /// `WasmConfig::MAX_LOCALS_PER_FUNCTION`.
    pub const LOCALS_PER_FUNCTION: u32 = 2_048;
    /// `WasmConfig::FREE_LOOP_CARRIED_LOCALS`.
    pub const FREE_LOOP_CARRIED_LOCALS: u32 = 64;
    /// `WasmConfig::BYTES_PER_LOOP_CARRIED_LOCAL`.
    pub const BYTES_PER_LOOP_CARRIED_LOCAL: u32 = 8;
    /// `WasmConfig::FREE_FUNCTIONS`.
    pub const FREE_FUNCTIONS: u32 = 64;
    /// `WasmConfig::BYTES_PER_FUNCTION`.
    pub const BYTES_PER_FUNCTION: u32 = 64;
    /// `WasmConfig::MAX_LOOP_NESTING`.
    pub const LOOP_NESTING: u32 = 16;
    /// `WasmConfig::MAX_CONTROL_DEPTH`.
    pub const CONTROL_DEPTH: u32 = 512;
    /// `WasmConfig::MAX_OPERAND_STACK`.
    pub const OPERAND_STACK: u32 = 256;
    /// `WasmConfig::MAX_BR_TABLE_TARGETS`.
    pub const BR_TABLE_TARGETS: u32 = 4_096;
}

/// A module under construction: functions of type `() -> i64` unless given other types.
#[derive(Default)]
struct Builder {
    /// Extra function types (type 0 is `() -> i64`).
    types: Vec<(Vec<ValType>, Vec<ValType>)>,
    /// Syscall imports (`env`.name, type index).
    imports: Vec<(&'static str, u32)>,
    /// Defined functions: (type index, body).
    functions: Vec<(u32, Function)>,
    /// Mutable i32 globals, initialized to 0.
    globals: u32,
    /// A funcref table of this size, filled from index 0 with defined function 0.
    table: Option<u32>,
    /// Exports of defined functions: (name, defined index).
    exports: Vec<(String, u32)>,
    /// Bytes of a passive data segment (padding that costs nothing to compile).
    padding: u32,
}

impl Builder {
    fn function(&mut self, ty: u32, body: Function) -> u32 {
        self.functions.push((ty, body));
        (self.functions.len() - 1) as u32
    }

    fn export(&mut self, name: &str, defined: u32) {
        self.exports.push((name.to_owned(), defined));
    }

    fn finish(self) -> Vec<u8> {
        let imported = self.imports.len() as u32;
        let mut types = TypeSection::new();
        types.ty().function([], [ValType::I64]);
        for (params, results) in &self.types {
            types.ty().function(params.clone(), results.clone());
        }
        let mut module = Module::new();
        module.section(&types);
        if !self.imports.is_empty() {
            let mut imports = ImportSection::new();
            for (name, ty) in &self.imports {
                imports.import("env", name, EntityType::Function(*ty));
            }
            module.section(&imports);
        }
        let mut functions = FunctionSection::new();
        for (ty, _) in &self.functions {
            functions.function(*ty);
        }
        module.section(&functions);
        if let Some(size) = self.table {
            let mut tables = TableSection::new();
            tables.table(TableType {
                element_type: RefType::FUNCREF,
                table64: false,
                minimum: u64::from(size),
                maximum: Some(u64::from(size)),
                shared: false,
            });
            module.section(&tables);
        }
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: 1,
            maximum: Some(1),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        if self.globals > 0 {
            let mut globals = GlobalSection::new();
            for _ in 0..self.globals {
                globals.global(
                    GlobalType {
                        val_type: ValType::I32,
                        mutable: true,
                        shared: false,
                    },
                    &ConstExpr::i32_const(0),
                );
            }
            module.section(&globals);
        }
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        for (name, defined) in &self.exports {
            exports.export(name, ExportKind::Func, imported + defined);
        }
        module.section(&exports);
        if let Some(size) = self.table {
            let mut elements = ElementSection::new();
            let funcs = vec![imported; size as usize];
            elements.active(
                None,
                &ConstExpr::i32_const(0),
                Elements::Functions(funcs.into()),
            );
            module.section(&elements);
        }
        if self.padding > 0 {
            module.section(&wasm_encoder::DataCountSection { count: 1 });
        }
        let mut code = CodeSection::new();
        for (_, body) in &self.functions {
            code.function(body);
        }
        module.section(&code);
        if self.padding > 0 {
            let mut data = wasm_encoder::DataSection::new();
            data.passive(vec![0u8; self.padding as usize]);
            module.section(&data);
        }
        module.finish()
    }
}

/// One function touching `globals` distinct globals (`global.get`, add 1, `global.set`):
/// the shape that made Cranelift panic at about 65,533 globals.
pub fn globals_in_one_function(globals: u32) -> Vec<u8> {
    let mut b = Builder {
        globals,
        ..Builder::default()
    };
    let mut f = Function::new([]);
    for g in 0..globals {
        f.instruction(&I::GlobalGet(g))
            .instruction(&I::I32Const(1))
            .instruction(&I::I32Add)
            .instruction(&I::GlobalSet(g));
    }
    f.instruction(&I::I64Const(0)).instruction(&I::End);
    let entry = b.function(0, f);
    b.export("entry_0", entry);
    b.finish()
}

/// One function with `locals` i64 locals and `loops` nested loops; the innermost loop
/// updates every local and each level loops back while local 0 is small. Every loop header
/// then merges every local: compile work grows with `loops × locals`, not with the body.
pub fn nested_loops(loops: u32, locals: u32) -> Vec<u8> {
    let mut b = Builder::default();
    let mut f = Function::new([(locals, ValType::I64)]);
    for _ in 0..loops {
        f.instruction(&I::Loop(BlockType::Empty));
    }
    for l in 0..locals {
        f.instruction(&I::LocalGet(l))
            .instruction(&I::I64Const(1))
            .instruction(&I::I64Add)
            .instruction(&I::LocalSet(l));
    }
    for _ in 0..loops {
        f.instruction(&I::LocalGet(0))
            .instruction(&I::I64Const(100))
            .instruction(&I::I64LtS)
            .instruction(&I::BrIf(0))
            .instruction(&I::End);
    }
    f.instruction(&I::LocalGet(0)).instruction(&I::End);
    let entry = b.function(0, f);
    b.export("entry_0", entry);
    b.finish()
}

/// One function with `locals` i64 locals and `loops` loops one after the other, each
/// updating every local.
pub fn sequential_loops(loops: u32, locals: u32) -> Vec<u8> {
    let mut b = Builder::default();
    let mut f = Function::new([(locals, ValType::I64)]);
    for _ in 0..loops {
        f.instruction(&I::Loop(BlockType::Empty));
        for l in 0..locals {
            f.instruction(&I::LocalGet(l))
                .instruction(&I::I64Const(1))
                .instruction(&I::I64Add)
                .instruction(&I::LocalSet(l));
        }
        f.instruction(&I::LocalGet(0))
            .instruction(&I::I64Const(100))
            .instruction(&I::I64LtS)
            .instruction(&I::BrIf(0))
            .instruction(&I::End);
    }
    f.instruction(&I::LocalGet(0)).instruction(&I::End);
    let entry = b.function(0, f);
    b.export("entry_0", entry);
    b.finish()
}

/// `depth` nested blocks around a `br_table` of `targets` targets (cycling over the
/// enclosing blocks).
pub fn br_table(depth: u32, targets: u32) -> Vec<u8> {
    let mut b = Builder::default();
    let mut f = Function::new([]);
    for _ in 0..depth {
        f.instruction(&I::Block(BlockType::Empty));
    }
    let labels: Vec<u32> = (0..targets).map(|t| t % depth.max(1)).collect();
    f.instruction(&I::I32Const(0))
        .instruction(&I::BrTable(labels.into(), 0));
    for _ in 0..depth {
        f.instruction(&I::End);
    }
    f.instruction(&I::I64Const(0)).instruction(&I::End);
    let entry = b.function(0, f);
    b.export("entry_0", entry);
    b.finish()
}

/// `count` functions, each calling the next one (the last returns 0).
pub fn many_functions(count: u32) -> Vec<u8> {
    many_functions_padded(count, 0)
}

/// [`many_functions`] with `padding` bytes of passive data, which buy the module the right
/// to more functions without costing anything to compile.
pub fn many_functions_padded(count: u32, padding: u32) -> Vec<u8> {
    chain(count, padding, 1)
}

/// `count` functions, each calling the next and each exported as an entry (`entry_<i>`),
/// with `padding` bytes of passive data: the engine's prepare-time analysis of which entries
/// can write memory walks the call graph, and must not walk it once per entry.
pub fn many_entries_one_chain(count: u32, padding: u32) -> Vec<u8> {
    chain(count, padding, count)
}

/// `count` functions, each calling the next one (the last returns 0), the first `exported`
/// of them exported as `entry_<i>`, with `padding` bytes of passive data.
fn chain(count: u32, padding: u32, exported: u32) -> Vec<u8> {
    let mut b = Builder {
        padding,
        ..Builder::default()
    };
    for i in 0..count {
        let mut f = Function::new([]);
        if i + 1 < count {
            f.instruction(&I::Call(i + 1));
        } else {
            f.instruction(&I::I64Const(0));
        }
        f.instruction(&I::End);
        let defined = b.function(0, f);
        if i < exported {
            b.export(&format!("entry_{i}"), defined);
        }
    }
    b.finish()
}

/// `count` functions with `locals` locals each, all live across a loop.
pub fn many_functions_with_locals(count: u32, locals: u32) -> Vec<u8> {
    let mut b = Builder::default();
    for _ in 0..count {
        let mut f = Function::new([(locals, ValType::I64)]);
        f.instruction(&I::Loop(BlockType::Empty));
        for l in 0..locals {
            f.instruction(&I::LocalGet(l))
                .instruction(&I::I64Const(1))
                .instruction(&I::I64Add)
                .instruction(&I::LocalSet(l));
        }
        f.instruction(&I::LocalGet(0))
            .instruction(&I::I64Const(100))
            .instruction(&I::I64LtS)
            .instruction(&I::BrIf(0))
            .instruction(&I::End)
            .instruction(&I::LocalGet(0))
            .instruction(&I::End);
        b.function(0, f);
    }
    b.export("entry_0", 0);
    b.finish()
}

/// A call that does nothing in a module whose instantiation does the most work the limits
/// allow: `globals` globals, a table of `elements` elements filled by an active segment,
/// and `functions` functions (with the padding their number needs).
pub fn heavy_instance(globals: u32, elements: u32, functions: u32) -> Vec<u8> {
    let mut b = Builder {
        globals,
        table: (elements > 0).then_some(elements),
        padding: functions.saturating_mul(limits::BYTES_PER_FUNCTION),
        ..Builder::default()
    };
    for _ in 0..functions.max(1) {
        let mut f = Function::new([]);
        f.instruction(&I::I64Const(0)).instruction(&I::End);
        b.function(0, f);
    }
    b.export("entry_0", 0);
    b.finish()
}

/// Pushes one i64: local `l` (cycling), or a constant when there are no locals.
fn push(f: &mut Function, l: u32, locals: u32) {
    if locals == 0 {
        f.instruction(&I::I64Const(i64::from(l)));
    } else {
        f.instruction(&I::LocalGet(l % locals));
    }
}

/// Unbounded recursion of the most stack-hungry function: `locals` i64 locals, and `stack`
/// values pushed on its operand stack before it calls itself (then all dropped).
pub fn recursion(locals: u32, stack: u32) -> Vec<u8> {
    let mut b = Builder::default();
    let mut f = Function::new([(locals, ValType::I64)]);
    // Touch every local so none is optimized away.
    for l in 0..locals {
        f.instruction(&I::LocalGet(l))
            .instruction(&I::I64Const(1))
            .instruction(&I::I64Add)
            .instruction(&I::LocalSet(l));
    }
    for l in 0..stack.saturating_sub(1) {
        push(&mut f, l, locals);
    }
    f.instruction(&I::Call(0));
    // Fold the pushed values into the result, then add every local back.
    for _ in 0..stack.saturating_sub(1) {
        f.instruction(&I::I64Add);
    }
    for l in 0..locals {
        f.instruction(&I::LocalGet(l)).instruction(&I::I64Add);
    }
    f.instruction(&I::End);
    b.function(0, f);
    b.export("entry_0", 0);
    b.finish()
}

/// A recursion `depth` calls deep of a function with `locals` locals that keeps `stack`
/// values on its operand stack across each call, then unwinds: for the deepest chain the
/// deterministic stack allows. The depth is fixed in the code and counted in a global.
pub fn bounded_recursion(locals: u32, stack: u32, depth: u32) -> Vec<u8> {
    let mut b = Builder {
        globals: 1,
        ..Builder::default()
    };
    let mut f = Function::new([(locals, ValType::I64)]);
    for l in 0..locals {
        f.instruction(&I::LocalGet(l))
            .instruction(&I::I64Const(1))
            .instruction(&I::I64Add)
            .instruction(&I::LocalSet(l));
    }
    // The depth counter: return 0 once it reaches `depth`.
    f.instruction(&I::GlobalGet(0))
        .instruction(&I::I32Const(depth as i32))
        .instruction(&I::I32GeU)
        .instruction(&I::If(BlockType::Empty))
        .instruction(&I::I64Const(0))
        .instruction(&I::Return)
        .instruction(&I::End)
        .instruction(&I::GlobalGet(0))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(0));
    for l in 0..stack.saturating_sub(1) {
        push(&mut f, l, locals);
    }
    f.instruction(&I::Call(0));
    for _ in 0..stack.saturating_sub(1) {
        f.instruction(&I::I64Add);
    }
    for l in 0..locals {
        f.instruction(&I::LocalGet(l)).instruction(&I::I64Add);
    }
    f.instruction(&I::End);
    b.function(0, f);
    b.export("entry_0", 0);
    b.finish()
}

/// A loop-free body of about `bytes` bytes of 1-gas operators (`i64.const 1`, `i64.add`
/// pairs on a running sum), returning the sum.
pub fn straight_line(bytes: u32) -> Vec<u8> {
    let mut b = Builder::default();
    let mut f = Function::new([]);
    f.instruction(&I::I64Const(0));
    // `i64.const 1` is 2 bytes, `i64.add` 1: 3 bytes per pair; leave room for the rest.
    for _ in 0..bytes.saturating_sub(16) / 3 {
        f.instruction(&I::I64Const(1)).instruction(&I::I64Add);
    }
    f.instruction(&I::End);
    let entry = b.function(0, f);
    b.export("entry_0", entry);
    b.finish()
}

fn deploy(name: &str, what: &'static str, code: Vec<u8>) -> Case {
    Case {
        name: format!("wasm.{name}"),
        what,
        tag: ModuleTag::WASM,
        code,
        call: None,
    }
}

fn call(name: &str, what: &'static str, code: Vec<u8>) -> Case {
    Case {
        name: format!("wasm.{name}"),
        what,
        tag: ModuleTag::WASM,
        code,
        call: Some((Call::Entry(0), Vec::new())),
    }
}

/// The largest nested-loops shape the limits allow: 16 loops assigning `L` locals make
/// 16 × L loop-carried pairs from about 8 × L body bytes, allowed up to 64 + L.
fn nested_loops_at_limit() -> (u32, u32) {
    let loops = limits::LOOP_NESTING;
    let locals = limits::FREE_LOOP_CARRIED_LOCALS / (loops - 1);
    (loops, locals)
}

/// Every adversarial wasm case.
pub fn cases() -> Vec<Case> {
    let (loops, locals) = nested_loops_at_limit();
    vec![
        deploy(
            "globals_in_one_function",
            "a Cranelift panic from one function touching 65,533 globals",
            globals_in_one_function(65_533),
        ),
        deploy(
            "nested_loops_at_limit",
            "superlinear compile time: nested loops merging every local, at the limit",
            nested_loops(loops, locals),
        ),
        deploy(
            "nested_loops_over_limit",
            "superlinear compile time: nested loops merging every local, over the limit",
            nested_loops(loops, locals + 8),
        ),
        deploy(
            "nested_loops_too_deep",
            "superlinear compile time: one loop nested too deep",
            nested_loops(loops + 1, 1),
        ),
        deploy(
            "sequential_loops",
            "compile time: loops one after the other, each assigning every local",
            sequential_loops(3, limits::LOCALS_PER_FUNCTION),
        ),
        deploy(
            "nested_loops_review",
            "the review's bomb: 2,048 locals merged at 100 nested loop headers",
            nested_loops(100, 2_048),
        ),
        deploy(
            "deep_nesting",
            "compile time of the deepest block nesting, with the largest br_table",
            br_table(limits::CONTROL_DEPTH - 1, limits::BR_TABLE_TARGETS),
        ),
        deploy(
            "many_functions",
            "compile time: the most one-call functions the module's size allows",
            many_functions_padded(4_000, 4_000 * limits::BYTES_PER_FUNCTION),
        ),
        deploy(
            "many_tiny_functions",
            "compile time: the most functions, each one call, without padding",
            many_functions(limits::FUNCTIONS),
        ),
        deploy(
            "many_entries_one_chain",
            "prepare time: every function an entry, each calling the next (a call-graph walk per entry would be quadratic)",
            many_entries_one_chain(1_000, 1_000 * 45),
        ),
        deploy(
            "many_functions_with_locals",
            "compile time of many functions, each assigning many locals in a loop",
            many_functions_with_locals(50, limits::LOCALS_PER_FUNCTION),
        ),
        call(
            "heavy_instance",
            "free per-call instantiation: most globals, table elements and functions",
            heavy_instance(limits::GLOBALS, limits::TABLE_ELEMENTS, 4_000),
        ),
        call(
            "globals_200k",
            "free per-call instantiation: the review's 200,000 globals",
            heavy_instance(200_000, 0, 1),
        ),
        call(
            "deep_recursion",
            "a stack depth that depends on code generation: the hungriest frame, unbounded",
            recursion(limits::LOCALS_PER_FUNCTION - 1, limits::OPERAND_STACK - 2),
        ),
        call(
            "straight_line",
            "fuel overrun: the largest loop-free body",
            straight_line(limits::FUNCTION_BODY_SIZE - 64),
        ),
    ]
}
