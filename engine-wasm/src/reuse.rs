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
//!   (`tos_engine_api::pages::zero_touched`).
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

use wasmparser::{DataKind, Operator, Payload};
use wasmtime::{Instance, Store, Val};

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
