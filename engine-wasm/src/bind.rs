//! The syscall adapter: the one table of `tos-syscalls` bound as imports of module `env`,
//! and the per-call state a wasmtime `Store` carries.
//!
//! Fuel and the [`GasMeter`] are settled at every syscall: the fuel left becomes the meter's
//! `used`, the syscall charges the meter (base cost, then per byte), and what the meter has
//! left becomes the fuel again. One unit of fuel is one unit of gas, so the meter and the
//! fuel never disagree about what a call has used.

use std::ptr::NonNull;

use tos_engine_api::{
    EngineFault, Gas, GasMeter, GuestMemory, HostAbi, MemoryError, SliceMemory, Trap,
};
use tos_syscalls::{ActiveSyscalls, LiveSyscall, invoke};
use wasmtime::{Caller, Engine, Extern, Linker, ModuleExport, ResourceLimiter};

use crate::ENGINE_NAME;
use crate::tracing::{ENTER, EXIT, TRACE_MODULE, Tracer};

/// The module every syscall import must come from (ABI.md, "Per engine").
pub(crate) const IMPORT_MODULE: &str = "env";

/// What a `Store` holds for one call.
pub(crate) struct CallState {
    /// The host of the running call.
    ///
    /// A raw pointer because wasmtime wants `'static` store data: it is created from the
    /// `&mut dyn HostAbi` that [`run`](crate::module) borrows for the whole call, and the store
    /// (hence this pointer) is dropped before that borrow ends and before the borrow is used
    /// again. It is only dereferenced inside a syscall, while wasm code of this call runs.
    host: NonNull<dyn HostAbi>,
    /// The call's gas limit: fuel starts at (at most) this much.
    gas_limit: Gas,
    /// The module's `memory` export, resolved once at prepare.
    memory: ModuleExport,
    /// Memory and table limits.
    pub(crate) limits: Limits,
    /// The trap a syscall raised, if any: it is what the call reports, whatever error
    /// wasmtime unwinds with.
    pub(crate) trap: Option<Trap>,
    /// A fault of the node (a failing host, an engine bug) seen during the call.
    pub(crate) fault: Option<EngineFault>,
    /// The function trace of a traceable module's call (crate::tracing).
    pub(crate) tracer: Option<Tracer>,
    /// Extra fuel the call runs with, subtracted from every reading: the tracer's slack, or
    /// 0.
    slack: u64,
    /// The bytes of linear memory syscalls wrote during the call (crate::reuse).
    pub(crate) written: Written,
}

/// Byte ranges of linear memory the host wrote during a call, merged where they touch; past
/// [`Written::RANGES`] separate ranges it only records that there were more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    ranges: [(usize, usize); Written::RANGES],
    len: usize,
    more: bool,
}

impl Written {
    /// Separate ranges kept.
    pub(crate) const RANGES: usize = 8;

    /// Records that `start..end` was written.
    pub(crate) fn add(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        for r in &mut self.ranges[..self.len] {
            if start <= r.1 && r.0 <= end {
                *r = (r.0.min(start), r.1.max(end));
                return;
            }
        }
        match self.ranges.get_mut(self.len) {
            Some(r) => {
                *r = (start, end);
                self.len = self.len.saturating_add(1);
            }
            None => self.more = true,
        }
    }

    /// The ranges written, or `None` when there were more than [`Written::RANGES`].
    pub(crate) fn ranges(&self) -> Option<&[(usize, usize)]> {
        (!self.more).then(|| &self.ranges[..self.len])
    }
}

/// The call's linear memory as syscalls see it, recording what they write.
struct Tracked<'m, 'w> {
    memory: SliceMemory<'m>,
    written: &'w mut Written,
}

impl GuestMemory for Tracked<'_, '_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.memory.read(addr, buf)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.memory.write(addr, data)?;
        // Written, so the range lies in memory, whose length is a usize.
        let start = usize::try_from(addr).unwrap_or(usize::MAX);
        self.written.add(start, start.saturating_add(data.len()));
        Ok(())
    }
}

impl CallState {
    /// State for one call against `host`.
    ///
    /// # Safety
    /// `host` must stay valid, and must not be used through any other path, for as long as
    /// the `Store` holding this state may run wasm code; the caller drops the store before it
    /// uses `host` again.
    pub(crate) unsafe fn new(
        host: &mut dyn HostAbi,
        gas_limit: Gas,
        memory: ModuleExport,
        limits: Limits,
    ) -> Self {
        let host: NonNull<dyn HostAbi + '_> = NonNull::from(host);
        // SAFETY: only the lifetime bound of the trait object changes (same fat-pointer layout);
        // the caller guarantees the pointer is not used after the borrow it came from ends.
        let host = unsafe {
            std::mem::transmute::<NonNull<dyn HostAbi + '_>, NonNull<dyn HostAbi + 'static>>(host)
        };
        CallState {
            host,
            gas_limit,
            memory,
            limits,
            trap: None,
            fault: None,
            tracer: None,
            slack: 0,
            written: Written::default(),
        }
    }

    /// Traces the call with `tracer` (a traceable module's).
    pub(crate) fn trace(&mut self, tracer: Tracer) {
        self.slack = tracer.slack();
        self.tracer = Some(tracer);
    }

    /// The fuel a store is given for `remaining` gas: one unit more, as a sentinel (see
    /// [`remaining_for`]), plus the slack.
    pub(crate) fn fuel_for(&self, remaining: Gas) -> u64 {
        fuel_for(remaining).saturating_add(self.slack)
    }

    /// The gas left for `fuel` left in the store, or `None` when the call is out of gas.
    pub(crate) fn remaining_for(&self, fuel: u64) -> Option<Gas> {
        fuel.checked_sub(self.slack).and_then(remaining_for)
    }

    /// The gas used when `fuel` is left, or `None` when the call is out of gas.
    pub(crate) fn used_for(&self, fuel: u64) -> Option<Gas> {
        self.remaining_for(fuel)
            .and_then(|r| self.gas_limit.checked_sub(r))
    }
}

/// The [`ResourceLimiter`] of a call: bounds linear memory and tables deterministically.
///
/// Every growth the limits allow stays far inside the address space wasmtime reserves for a
/// 32-bit memory, so a growth that fails anyway is the node's fault (the OS refused memory),
/// not the contract's: it is recorded and the call ends with an [`EngineFault`].
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) max_memory_bytes: usize,
    pub(crate) max_table_elements: usize,
    pub(crate) fault: Option<String>,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Refusing here makes `memory.grow` return -1, the same on every node; checking the
        // module's declared maximum too keeps wasmtime from reporting it as a failure.
        Ok(desired <= self.max_memory_bytes && maximum.is_none_or(|max| desired <= max))
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.fault = Some(format!("linear memory growth failed: {error:#}"));
        Err(error)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements && maximum.is_none_or(|max| desired <= max))
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.fault = Some(format!("table growth failed: {error:#}"));
        Err(error)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        crate::WasmConfig::MAX_TABLES as usize
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Builds the linker that binds every syscall of `active`, at its cost there.
pub(crate) fn build_linker(
    engine: &Engine,
    active: &ActiveSyscalls,
) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    for live in active.iter() {
        bind(&mut linker, *live)?;
    }
    // Imported only by traceable modules (the pre-pass refuses every other import module).
    linker.func_wrap(
        TRACE_MODULE,
        ENTER,
        |mut caller: Caller<'_, CallState>, function: i32| -> wasmtime::Result<()> {
            // The index the instrumentation wrote, as the u32 it is.
            report(
                &mut caller,
                |t| t.enter_cost(),
                |t, used| t.enter(function as u32, used),
            )
        },
    )?;
    linker.func_wrap(
        TRACE_MODULE,
        EXIT,
        |mut caller: Caller<'_, CallState>| -> wasmtime::Result<()> {
            report(&mut caller, |t| t.exit_cost(), |t, used| t.exit(used))
        },
    )?;
    Ok(linker)
}

/// A trace report of a traceable module: gives back the fuel its sequence consumed (`cost`),
/// stops a call that is out of gas, then lets `event` record it with the gas used.
fn report(
    caller: &mut Caller<'_, CallState>,
    cost: impl Fn(&Tracer) -> u64,
    event: impl FnOnce(&mut Tracer, Gas),
) -> wasmtime::Result<()> {
    let fuel = caller.get_fuel()?;
    let Some(refund) = caller.data().tracer.as_ref().map(cost) else {
        return Ok(());
    };
    let fuel = fuel.saturating_add(refund);
    let state = caller.data_mut();
    let Some(used) = state.used_for(fuel) else {
        // Out of gas in the ordinary module too (crate::tracing): stop here.
        state.trap = Some(Trap::OutOfGas);
        return Err(stop("out of gas"));
    };
    if let Some(tracer) = &mut state.tracer {
        event(tracer, used);
    }
    caller.set_fuel(fuel)
}

/// Binds one syscall as `env.<name>`, a function of `arity` i64 arguments returning i64.
fn bind(linker: &mut Linker<CallState>, live: LiveSyscall) -> wasmtime::Result<()> {
    let def = live.def;
    macro_rules! wrap {
        ($($arg:ident),*) => {
            linker.func_wrap(
                IMPORT_MODULE,
                def.name,
                move |mut caller: Caller<'_, CallState>, $($arg: i64),*| -> wasmtime::Result<i64> {
                    let given: &[i64] = &[$($arg),*];
                    let mut args = [0u64; 5];
                    for (slot, value) in args.iter_mut().zip(given) {
                        // Arguments are u64 (ABI.md); wasm only has i64: same bits.
                        *slot = *value as u64;
                    }
                    syscall(&mut caller, &live, args)
                },
            )
        };
    }
    match def.arity {
        0 => wrap!(),
        1 => wrap!(a),
        2 => wrap!(a, b),
        3 => wrap!(a, b, c),
        4 => wrap!(a, b, c, d),
        5 => wrap!(a, b, c, d, e),
        n => {
            return Err(wasmtime::Error::msg(format!(
                "syscall `{}` declares {n} arguments; at most 5 exist",
                def.name
            )));
        }
    }?;
    Ok(())
}

/// The error wasmtime unwinds with when a syscall stops the call. What the call reports is
/// in [`CallState::trap`] / [`CallState::fault`], never this text.
fn stop(what: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("syscall stopped the call: {what}"))
}

/// The fuel a store is given for `remaining` gas: one unit more, as a sentinel.
///
/// Wasmtime checks fuel only at function entries and loop headers, trapping when it has
/// reached zero; straight-line code after the last check may overrun, and the fuel then reads
/// 0 (it saturates). With one spare unit, "fuel left >= 1" means exactly "gas left =
/// fuel - 1, nothing overrun", and "fuel left = 0" means the call needed more than it had:
/// out of gas. (A limit of `u64::MAX` has no room for the sentinel; such a call is charged
/// at most one unit more than it used.)
pub(crate) fn fuel_for(remaining: Gas) -> u64 {
    remaining.saturating_add(1)
}

/// The gas left for `fuel` left in a store, or `None` when the call is out of gas.
pub(crate) fn remaining_for(fuel: u64) -> Option<Gas> {
    fuel.checked_sub(1)
}

/// Runs `def` for the guest: settles fuel with the meter, invokes the body, settles back.
fn syscall(
    caller: &mut Caller<'_, CallState>,
    live: &LiveSyscall,
    args: [u64; 5],
) -> wasmtime::Result<i64> {
    let def = live.def;
    let Some(remaining) = caller.data().remaining_for(caller.get_fuel()?) else {
        caller.data_mut().trap = Some(Trap::OutOfGas);
        return Err(stop("out of gas"));
    };
    let memory = caller.data().memory;
    let Some(Extern::Memory(memory)) = caller.get_module_export(&memory) else {
        caller.data_mut().fault = Some(EngineFault::new(
            ENGINE_NAME,
            format!(
                "{}: the module's `memory` export is not available",
                def.name
            ),
        ));
        return Err(stop("no memory"));
    };
    let (bytes, state) = memory.data_and_store_mut(&mut *caller);
    let mut meter = GasMeter::new(state.gas_limit);
    let Some(used) = state.gas_limit.checked_sub(remaining) else {
        state.fault = Some(EngineFault::new(
            ENGINE_NAME,
            format!("{remaining} gas left exceeds the limit {}", state.gas_limit),
        ));
        return Err(stop("fuel above the limit"));
    };
    // `used <= gas_limit` was just checked, so this cannot fail.
    meter
        .set_used(used)
        .map_err(|_| stop("fuel above the limit"))?;
    // Wasm has one linear memory starting at address 0, writable throughout.
    let mut guest = Tracked {
        memory: SliceMemory::new(0, bytes, true),
        written: &mut state.written,
    };
    // SAFETY: `CallState::new`'s contract: the host outlives the store and nothing else uses
    // it while wasm code of this call runs; this is the only live reference made from it.
    let host = unsafe { state.host.as_mut() };
    let before = meter.used();
    let result = invoke(live, host, &mut guest, &mut meter, args);
    if let Some(tracer) = &mut state.tracer {
        tracer.syscall(meter.used().saturating_sub(before));
    }
    let outcome = match result {
        Ok(value) => Ok(value as i64),
        Err(e) => {
            match e.into_trap(def.name, ENGINE_NAME) {
                Ok(trap) => state.trap = Some(trap),
                Err(fault) => state.fault = Some(fault),
            }
            Err(stop(def.name))
        }
    };
    let fuel = caller.data().fuel_for(meter.remaining());
    caller.set_fuel(fuel)?;
    outcome
}

#[cfg(test)]
mod written_tests {
    use super::Written;

    /// Touching ranges merge; past the kept number of separate ranges, only "more" is known.
    #[test]
    fn ranges_merge_and_overflow_to_unknown() {
        let mut w = Written::default();
        w.add(10, 20);
        w.add(20, 30);
        w.add(5, 12);
        w.add(40, 40);
        assert_eq!(w.ranges(), Some(&[(5, 30)][..]));
        for i in 1..Written::RANGES {
            w.add(100 * i, 100 * i + 1);
        }
        assert_eq!(w.ranges().map(<[_]>::len), Some(Written::RANGES));
        w.add(10_000, 10_001);
        assert_eq!(w.ranges(), None, "one range too many");
    }
}
