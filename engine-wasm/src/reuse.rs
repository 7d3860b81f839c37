//! Reusing a module's instance from one call to the next, on the same thread.
//!
//! Instantiating a module per call (a `Store`, an instance, a linear memory mapped and
//! unmapped) was most of a trivial wasm call's time, and mapping memory per call contended in
//! the kernel across threads. After a call that returned normally, the engine instead resets
//! the instance to the state a fresh instantiation gives and keeps it in a per-thread list of
//! idle instances; the next call of the same module on that thread takes it back.
//!
//! # What a reset restores
//! - **Linear memory**: back to its initial size (an instance whose memory grew is dropped,
//!   since wasm memories cannot shrink), every byte zero, then the active data segments
//!   copied in again. Zeroing costs what the call touched, not the memory's size
//!   (`tos_engine_api::pages::zero_touched`: the kernel's page map says which pages are
//!   present). After a call whose code cannot store into memory (no store, no bulk-memory
//!   operator and no call through a table is reachable from its entry: [`MemoryWrites`]),
//!   only what syscalls wrote differs from a fresh instance; the engine records those byte
//!   ranges as they are written (bind.rs `Written`) and clears just them, putting the data
//!   segments' bytes back where they lie, without asking the kernel anything. Clearing is not
//!   batched across instances as TBPF's slots are: each linear memory sits in its own 4 GiB
//!   reservation, and one page-map question spanning several costs more than one per memory.
//! - **Mutable globals**: each set back to its initial value (the instrumentation exports
//!   them under names no module uses), the engine's stack counter included.
//! - Nothing else can change during a call of a module that qualifies: it has no start
//!   function, no passive data segments, no mutable global initialised other than by a
//!   numeric constant, and no operator that changes a table or drops a segment
//!   (`table.set/grow/fill/copy/init`, `elem.drop`, `memory.init`, `data.drop`). Other
//!   modules are instantiated afresh on every call, as before.
//!
//! # Gas is unchanged
//! Gas never depends on reuse: the set-up gas is charged either way, and the fuel wasmtime's
//! start-up code consumes while instantiating (it copies the data segments in wasm code) is
//! measured on the fresh instantiation and consumed again on each reuse. Tests run every
//! example and shape both ways and compare outcomes, gas and effects, and check that no call
//! observes anything an earlier call left in memory or globals.
//!
//! Idle instances are bounded per thread ([`MAX_IDLE`]); past it the oldest is dropped. A
//! call that finds none instantiates afresh, so reuse never makes a call fail or behave
//! differently, whatever the load.

use std::cell::RefCell;

use tos_engine_api::Call;
use wasmparser::{DataKind, Operator, Payload};
use wasmtime::{Global, Instance, Memory, Store, TypedFunc, Val};

use crate::bind::CallState;

/// Most idle instances a thread keeps (each holds a linear memory's reservation and the
/// pages its data segments occupy).
pub(crate) const MAX_IDLE: usize = 32;

/// How to reset an instance of a module that qualifies for reuse.
#[derive(Debug, Default)]
pub(crate) struct ResetPlan {
    /// Active data segments: offset in memory and bytes.
    pub(crate) data: Vec<(usize, Box<[u8]>)>,
    /// Mutable defined globals: index among the module's globals, the name the
    /// instrumentation exports it under, and its initial value.
    pub(crate) globals: Vec<(u32, String, Initial)>,
}

/// A numeric initial value of a global.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Initial {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

impl Initial {
    pub(crate) fn val(self) -> Val {
        match self {
            Initial::I32(v) => Val::I32(v),
            Initial::I64(v) => Val::I64(v),
            Initial::F32(v) => Val::F32(v),
            Initial::F64(v) => Val::F64(v),
        }
    }
}

impl ResetPlan {
    /// Folds one section of a module into `plan` (the pre-pass calls it on every section it
    /// reads, so the module is parsed once); sets it to `None` when the module's instances
    /// cannot be reused (see the module docs). Operators are checked by [`changes_instance`]
    /// during instrumentation, and the globals' export names by [`ResetPlan::name_globals`].
    pub(crate) fn observe(plan: &mut Option<ResetPlan>, payload: &Payload<'_>) {
        if let Some(p) = plan
            && p.add(payload).is_none()
        {
            *plan = None;
        }
    }

    /// Adds one section; `None` when it rules reuse out.
    fn add(&mut self, payload: &Payload<'_>) -> Option<()> {
        match payload {
            Payload::StartSection { .. } => return None,
            Payload::GlobalSection(reader) => {
                for (index, global) in reader.clone().into_iter().enumerate() {
                    let global = global.ok()?;
                    if !global.ty.mutable {
                        continue;
                    }
                    let mut ops = global.init_expr.get_operators_reader();
                    let initial = match ops.read().ok()? {
                        Operator::I32Const { value } => Initial::I32(value),
                        Operator::I64Const { value } => Initial::I64(value),
                        Operator::F32Const { value } => Initial::F32(value.bits()),
                        Operator::F64Const { value } => Initial::F64(value.bits()),
                        _ => return None,
                    };
                    self.globals
                        .push((u32::try_from(index).ok()?, String::new(), initial));
                }
            }
            Payload::DataSection(reader) => {
                for data in reader.clone() {
                    let data = data.ok()?;
                    let DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = data.kind
                    else {
                        return None;
                    };
                    let offset = match offset_expr.get_operators_reader().read().ok()? {
                        // The offset is an unsigned address.
                        Operator::I32Const { value } => value as u32 as usize,
                        _ => return None,
                    };
                    self.data.push((offset, data.data.into()));
                }
            }
            _ => {}
        }
        Some(())
    }

    /// Names the export of each mutable global so that no export of the module (`exported`)
    /// has it: a module may export anything, so the engine's names are made unique rather
    /// than reserved.
    pub(crate) fn name_globals<'n>(&mut self, exported: impl Iterator<Item = &'n str>) {
        let exported: std::collections::HashSet<&str> = exported.collect();
        for (index, name, _) in &mut self.globals {
            let mut candidate = format!("__tos_global_{index}");
            while exported.contains(candidate.as_str()) {
                candidate.push('_');
            }
            *name = candidate;
        }
    }
}

/// Whether `op` writes the linear memory: every store and bulk-memory operator. Complete for
/// the proposals the engine enables (engine.rs `ENABLED`: MVP, bulk memory, reference types
/// and the small ones); a proposal with other memory writes (SIMD, threads) must be added here
/// before it is enabled, which a test checks. `memory.grow` writes no byte: a grown memory is
/// never reused (see the module docs).
fn writes_memory(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::I32Store { .. }
            | Operator::I64Store { .. }
            | Operator::F32Store { .. }
            | Operator::F64Store { .. }
            | Operator::I32Store8 { .. }
            | Operator::I32Store16 { .. }
            | Operator::I64Store8 { .. }
            | Operator::I64Store16 { .. }
            | Operator::I64Store32 { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
    )
}

/// What each function of a module's code can do to memory, gathered by the pre-pass:
/// functions in index order (imports first), each with whether it writes memory itself and
/// whom it calls. Imports (syscalls) count as not writing: what the host writes into memory
/// is recorded as it happens (bind.rs `Written`).
#[derive(Debug, Default)]
pub(crate) struct CallGraph {
    functions: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    /// Writes memory itself (a store or a bulk-memory operator).
    writes: bool,
    /// Calls through a table: could reach any function.
    indirect: bool,
    /// Functions it calls directly.
    calls: Vec<u32>,
}

impl CallGraph {
    /// The next function is an import (a syscall).
    pub(crate) fn import(&mut self) {
        self.functions.push(Node::default());
    }

    /// The next function is defined; its operators follow ([`CallGraph::observe`]).
    pub(crate) fn define(&mut self) {
        self.functions.push(Node::default());
    }

    /// One operator of the function last defined.
    pub(crate) fn observe(&mut self, op: &Operator<'_>) {
        let Some(node) = self.functions.last_mut() else {
            return;
        };
        match op {
            Operator::Call { function_index } => node.calls.push(*function_index),
            Operator::CallIndirect { .. } => node.indirect = true,
            op if writes_memory(op) => node.writes = true,
            _ => {}
        }
    }

    /// For every function, whether it can write memory: it or anything it may call does (a
    /// call through a table may call anything). One walk backwards from the writers over
    /// the reversed call edges: linear in functions plus calls, however many entries ask, so
    /// a module of many entries over one deep call graph costs no more to prepare.
    fn writers(&self) -> Vec<bool> {
        let n = self.functions.len();
        // Callers of each function, as a compressed adjacency list.
        let mut start = vec![0usize; n.saturating_add(1)];
        for node in &self.functions {
            for &callee in &node.calls {
                if let Some(s) = start.get_mut(callee as usize) {
                    *s = s.saturating_add(1);
                }
            }
        }
        let mut total = 0usize;
        for s in start.iter_mut() {
            let count = *s;
            *s = total;
            total = total.saturating_add(count);
        }
        let mut callers = vec![0u32; total];
        let mut next = start.clone();
        for (caller, node) in self.functions.iter().enumerate() {
            for &callee in &node.calls {
                if let Some(at) = next.get_mut(callee as usize)
                    && let Some(slot) = callers.get_mut(*at)
                {
                    *slot = caller as u32;
                    *at = at.saturating_add(1);
                }
            }
        }
        // A call of a function that does not exist (not in a module the pre-pass accepted)
        // counts as a write.
        let mut writes: Vec<bool> = self
            .functions
            .iter()
            .map(|node| node.writes || node.indirect || node.calls.iter().any(|&c| c as usize >= n))
            .collect();
        let mut todo: Vec<usize> = (0..n).filter(|&f| writes[f]).collect();
        while let Some(f) = todo.pop() {
            let (from, to) = (start[f], start[f.saturating_add(1)]);
            for &caller in callers.get(from..to).unwrap_or(&[]) {
                if let Some(w) = writes.get_mut(caller as usize)
                    && !*w
                {
                    *w = true;
                    todo.push(caller as usize);
                }
            }
        }
        writes
    }

    /// The calls (`None`: `entrypoint`) and their functions' indices: which can write.
    pub(crate) fn entries(
        &self,
        entries: impl Iterator<Item = (Option<Call>, u32)>,
    ) -> MemoryWrites {
        let writers = self.writers();
        let mut writes = MemoryWrites::default();
        for (call, index) in entries {
            // An index past the functions (not in a module the pre-pass accepted) writes.
            if !writers.get(index as usize).copied().unwrap_or(true) {
                match call {
                    Some(call) => {
                        writes.read_only.insert(call);
                    }
                    None => writes.entrypoint_read_only = true,
                }
            }
        }
        writes
    }
}

/// Which calls of a module cannot write its linear memory from wasm code: nothing reachable
/// from their function stores into it (no store, no bulk-memory operator, no call through a
/// table). After such a call only the bytes syscalls wrote (recorded as they are written)
/// differ from a fresh instance, and only those are cleared.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryWrites {
    read_only: std::collections::BTreeSet<Call>,
    entrypoint_read_only: bool,
}

impl MemoryWrites {
    /// Whether `call`'s code (through `entrypoint` when `self_dispatch`) can write memory.
    pub(crate) fn can_write(&self, call: Call, self_dispatch: bool) -> bool {
        if self_dispatch {
            !self.entrypoint_read_only
        } else {
            !self.read_only.contains(&call)
        }
    }
}

/// Whether `op` changes an instance in a way a reset does not undo.
pub(crate) fn changes_instance(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. }
            | Operator::MemoryInit { .. }
            | Operator::DataDrop { .. }
    )
}

/// An instance waiting for its module's next call on this thread.
pub(crate) struct Idle {
    /// The module's unique id.
    pub(crate) module: u64,
    pub(crate) store: Store<CallState>,
    pub(crate) instance: Instance,
    /// The fuel the fresh instantiation consumed (wasmtime's start-up code), consumed again
    /// on each reuse.
    pub(crate) startup_fuel: u64,
    /// The instance's handles, resolved on its first call.
    pub(crate) handles: Handles,
}

/// An instance's exports the engine uses on every call, resolved once.
pub(crate) struct Handles {
    /// The linear memory.
    pub(crate) memory: Memory,
    /// The mutable globals, in the order of the module's reset list.
    pub(crate) globals: Vec<Global>,
    /// The entry functions called so far, keyed by the address of their `ModuleExport` in
    /// the prepared module.
    pub(crate) funcs: Vec<(usize, TypedFunc<(), i64>)>,
}

impl Handles {
    /// The entry function cached under `key` (borrowed: cloning one clones its type's
    /// registration, an atomic count every thread's calls would contend on).
    pub(crate) fn func(&self, key: usize) -> Option<&TypedFunc<(), i64>> {
        self.funcs.iter().find(|(k, _)| *k == key).map(|(_, f)| f)
    }
}

thread_local! {
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

/// Takes this thread's idle instance of `module`, if any.
pub(crate) fn take(module: u64) -> Option<Idle> {
    IDLE.with(|idle| {
        let mut idle = idle.try_borrow_mut().ok()?;
        let at = idle.iter().rposition(|i| i.module == module)?;
        Some(idle.remove(at))
    })
}

/// Keeps `instance` (already reset) for its module's next call on this thread.
pub(crate) fn keep(instance: Idle) {
    IDLE.with(|idle| {
        let Ok(mut idle) = idle.try_borrow_mut() else {
            return;
        };
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(instance);
    });
}

/// How many idle instances this thread holds.
pub(crate) fn count() -> usize {
    IDLE.with(|idle| idle.try_borrow().map_or(0, |i| i.len()))
}

/// Sets a linear memory's bytes to zero at a cost that follows the pages the call touched
/// (`tos_engine_api::pages::zero_touched`).
pub(crate) fn zero(bytes: &mut [u8]) {
    // SAFETY: `bytes` is a linear memory wasmtime mapped private and anonymous (copy-on-write
    // memory images are off, see engine.rs), borrowed mutably by the caller.
    unsafe { tos_engine_api::pages::zero_touched(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyse(wat: &str) -> MemoryWrites {
        let code = wat::parse_str(wat).expect("valid wat");
        let table = tos_syscalls::SyscallTable::global().expect("the syscall table");
        let syscalls = table.active(&tos_syscalls::testing::abi_v2());
        crate::prepass::scan(&code, &syscalls, &crate::WasmConfig::new())
            .expect("the pre-pass accepts it")
            .writes
    }

    /// An entry's code can write memory if anything it reaches does: a store, a bulk-memory
    /// operator or a call through a table; cycles end.
    #[test]
    fn an_entry_writes_memory_if_anything_it_reaches_does() {
        let writes = analyse(
            r#"(module
              (import "env" "tos_log" (func $log (param i64 i64) (result i64)))
              (import "env" "tos_get_input" (func $input (param i64 i64) (result i64)))
              (memory (export "memory") 1)
              (table 1 funcref)
              (type $t (func (result i64)))
              (func $reads (result i64) (i64.load (i32.const 8)))
              (func $stores (result i64) (i64.store (i32.const 8) (i64.const 1)) (i64.const 0))
              (func $loop_a (result i64) (call $loop_b))
              (func $loop_b (result i64) (call $loop_a))
              (func $loop_w (result i64) (call $loop_x))
              (func $loop_x (result i64) (drop (call $stores)) (call $loop_w))
              (func (export "entry_0") (result i64) (call $reads))
              (func (export "entry_1") (result i64) (call $stores))
              (func (export "entry_2") (result i64) (call $log (i64.const 0) (i64.const 0)))
              (func (export "entry_3") (result i64) (call $input (i64.const 0) (i64.const 0)))
              (func (export "entry_4") (result i64) (call_indirect (type $t) (i32.const 0)))
              (func (export "entry_5") (result i64) (call $loop_a))
              (func (export "entry_6") (result i64) (call $loop_w))
              (func (export "entry_7") (result i64)
                (memory.fill (i32.const 0) (i32.const 0) (i32.const 0)) (i64.const 0))
              (func (export "entry_8") (result i64) (drop (memory.grow (i32.const 0))) (i64.const 0)))"#,
        );
        let can = |e: u16| writes.can_write(Call::Entry(e), false);
        // Syscalls' writes (entry 3) are recorded as they happen, and a grown memory (entry
        // 8) is never reused: neither makes the code a writer.
        assert_eq!(
            (0..9).map(can).collect::<Vec<_>>(),
            [false, true, false, false, true, false, true, true, false]
        );
        // A call the module does not export is never taken as read-only.
        assert!(can(9));
    }

    /// Along a chain of a thousand entries, each calling the next: none writes, until the last
    /// one stores, and then every one does.
    #[test]
    fn writes_propagate_back_along_a_long_chain() {
        let n: u16 = 1_000;
        let pure = tos_adversarial::wasm::many_entries_one_chain(u32::from(n), 45_000);
        let table = tos_syscalls::SyscallTable::global().expect("the syscall table");
        let syscalls = table.active(&tos_syscalls::testing::abi_v2());
        let scan = |code: &[u8]| {
            crate::prepass::scan(code, &syscalls, &crate::WasmConfig::new())
                .expect("the pre-pass accepts it")
                .writes
        };
        let writes = scan(&pure);
        assert!((0..n).all(|e| !writes.can_write(Call::Entry(e), false)));
        // The same chain, its last function storing before it returns.
        // Padded with data: a module may define a function per 64 bytes.
        let mut chain = format!(
            "(module (memory (export \"memory\") 1) (data (i32.const 1024) \"{}\")",
            "a".repeat(64_000)
        );
        for i in 0..n {
            let body = if i + 1 < n {
                format!("(call {})", i + 1)
            } else {
                "(i64.store (i32.const 0) (i64.const 1)) (i64.const 0)".to_owned()
            };
            chain += &format!("(func (export \"entry_{i}\") (result i64) {body})");
        }
        chain += ")";
        let writes = scan(&wat::parse_str(&chain).expect("valid wat"));
        assert!((0..n).all(|e| writes.can_write(Call::Entry(e), false)));
    }

    /// Every memory-writing operator is known for the proposals the engine enables; enabling
    /// another (SIMD, threads) must extend `writes_memory` first.
    #[test]
    fn the_enabled_proposals_are_those_writes_memory_covers() {
        use wasmtime::WasmFeatures as F;
        assert_eq!(
            crate::engine::ENABLED,
            &[
                F::MUTABLE_GLOBAL,
                F::SATURATING_FLOAT_TO_INT,
                F::SIGN_EXTENSION,
                F::MULTI_VALUE,
                F::BULK_MEMORY,
                F::REFERENCE_TYPES,
                F::FLOATS,
            ]
        );
    }
}
