//! What runs between rbpf and the syscall table: the context object rbpf meters with, the one
//! generic syscall adapter, and [`GuestMemory`] over rbpf's memory mapping.
//!
//! # Metering
//! rbpf counts instructions against [`ContextObject::get_remaining`] and settles the count with
//! [`ContextObject::consume`] at every syscall and at the end. The context object *is* the call's
//! [`GasMeter`]: at a syscall the adapter first charges the instructions run since the last
//! settlement, then [`tos_syscalls::invoke`] charges the syscall's cost to the same meter, and
//! the adapter hands rbpf the new remainder, so the instructions left shrink by what the syscall
//! cost. Each instruction costs `tbpf.instruction` gas of the schedule in force (1 in version
//! 1): rbpf counts instructions, and the context converts between instructions and gas.

use std::ptr::NonNull;

use solana_rbpf::{
    error::{EbpfError, ProgramResult},
    memory_region::{AccessType, MemoryMapping},
    program::BuiltinFunction,
    vm::{ContextObject, EbpfVm, get_runtime_environment_key},
};
use tos_engine_api::{Access, EngineFault, GasMeter, GuestMemory, HostAbi, MemoryError, Trap};
use tos_syscalls::{ActiveSyscalls, invoke};

use crate::ENGINE_NAME;
use crate::config::MAX_METERED_INSTRUCTIONS;

/// Why a run stopped inside a syscall, recorded for the engine to report after rbpf returns.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The contract's fault: a trap.
    Trap(Trap),
    /// The node's fault.
    Fault(EngineFault),
}

/// The error rbpf carries out of a syscall that stopped the run; the reason is in
/// [`RunContext::stop`].
#[derive(Debug, thiserror::Error)]
#[error("the syscall stopped the contract")]
pub(crate) struct SyscallStopped;

/// rbpf's context object for one call: the gas meter and the host.
#[derive(Debug)]
pub(crate) struct RunContext {
    /// The call's meter: instructions and syscall costs.
    pub(crate) gas: GasMeter,
    /// The host of the running call, with its lifetime erased; see [`RunContext::new`].
    host: NonNull<dyn HostAbi>,
    /// The live syscalls of the running module, with its lifetime erased likewise.
    syscalls: NonNull<ActiveSyscalls>,
    /// Gas per instruction (at least 1).
    instruction_cost: u64,
    /// Set when rbpf settled more instructions than the meter had left.
    pub(crate) overdrawn: bool,
    /// Why a syscall stopped the run, if one did.
    pub(crate) stop: Option<Stop>,
    /// When a trace is open and the module was prepared with tracing: what to write.
    pub(crate) trace: Option<std::sync::Arc<crate::module::TraceTable>>,
    /// Instructions run per function of the trace table.
    traced: Vec<u64>,
}

impl RunContext {
    /// A context over `host` with `gas_limit`, serving `syscalls`, charging `instruction_cost`
    /// gas per instruction (0 is taken as 1: an instruction is never free).
    ///
    /// The lifetimes of `host` and `syscalls` are erased because rbpf's executable is generic
    /// over one context type for all calls. The context must not outlive either borrow: the
    /// engine creates it in `run`, lends it to one VM and drops both before `run` returns.
    pub(crate) fn new(
        host: &mut dyn HostAbi,
        gas_limit: u64,
        syscalls: &ActiveSyscalls,
        instruction_cost: u64,
    ) -> Self {
        let ptr: NonNull<dyn HostAbi + '_> = NonNull::from(host);
        // SAFETY: only the trait object's lifetime bound changes (same layout and vtable).
        // The pointer is dereferenced only by `syscall_adapter`, during the `run` that created
        // this context while `host` is mutably borrowed by it and used by nothing else.
        let host = unsafe {
            std::mem::transmute::<NonNull<dyn HostAbi + '_>, NonNull<dyn HostAbi + 'static>>(ptr)
        };
        RunContext {
            gas: GasMeter::new(gas_limit),
            host,
            syscalls: NonNull::from(syscalls),
            instruction_cost: instruction_cost.max(1),
            overdrawn: false,
            stop: None,
            trace: None,
            traced: Vec::new(),
        }
    }

    /// Writes the gas each function's own instructions used to the open trace.
    pub(crate) fn flush_trace(&mut self) {
        let Some(table) = &self.trace else {
            return;
        };
        for (i, n) in self.traced.iter().enumerate() {
            if let Some(name) = table.functions.get(i).filter(|_| *n > 0) {
                tos_engine_api::trace::function_gas(name, n.saturating_mul(self.instruction_cost));
            }
        }
    }
}

impl ContextObject for RunContext {
    /// With tracing on (tools only): one line per instruction into the open trace, and the
    /// instruction counted to its function.
    fn trace(&mut self, state: [u64; 12]) {
        let Some(table) = &self.trace else {
            return;
        };
        let pc = usize::try_from(state[11]).unwrap_or(usize::MAX);
        if let Some(f) = table.function_of.get(pc) {
            if self.traced.len() <= *f {
                self.traced.resize(f.saturating_add(1), 0);
            }
            if let Some(n) = self.traced.get_mut(*f) {
                *n = n.saturating_add(1);
            }
        }
        tos_engine_api::trace::line(|| {
            let text = table.text.get(pc).map_or("?", String::as_str);
            format!(
                "tbpf {pc:>6}  {text:<48} r0={:#x} r1={:#x} r2={:#x} r3={:#x} r4={:#x} r5={:#x}",
                state[0], state[1], state[2], state[3], state[4], state[5]
            )
        });
    }

    /// Charges `instructions` instructions.
    fn consume(&mut self, instructions: u64) {
        let gas = instructions.saturating_mul(self.instruction_cost);
        if self.gas.consume(gas).is_err() {
            self.overdrawn = true;
        }
    }

    /// Instructions the remaining gas pays for.
    fn get_remaining(&self) -> u64 {
        // `instruction_cost >= 1` (see `new`), so the division cannot fail.
        self.gas
            .remaining()
            .checked_div(self.instruction_cost)
            .unwrap_or_default()
            .min(MAX_METERED_INSTRUCTIONS)
    }
}

/// The adapter registered for the syscall at index `SLOT` of the global table (sorted by id).
///
/// rbpf's builtin functions are plain function pointers that are not told which symbol was
/// called, so each table slot gets its own instance of this one generic body.
fn syscall_adapter<const SLOT: usize>(
    vm: *mut EbpfVm<'_, RunContext>,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
) {
    let key = get_runtime_environment_key() as isize;
    // SAFETY: rbpf (interpreter and JIT alike) calls builtin functions with the address of the
    // running `EbpfVm` displaced by `key` words; undoing the displacement gives back that VM,
    // which is live and not otherwise borrowed for the duration of the call (this is what
    // rbpf's own `declare_builtin_function!` does).
    let vm = unsafe {
        &mut *vm
            .cast::<u64>()
            .wrapping_offset(key.wrapping_neg())
            .cast::<EbpfVm<'_, RunContext>>()
    };
    // A panic must not unwind through rbpf's JIT-compiled frames (undefined behaviour): it
    // stops the run as a fault of the node instead.
    let result = match crate::engine::catch_panic(|| dispatch(SLOT, vm, [a1, a2, a3, a4, a5])) {
        Ok(result) => result,
        Err(panic) => {
            vm.context_object_pointer.stop = Some(Stop::Fault(EngineFault::new(
                ENGINE_NAME,
                format!("panic in a syscall: {panic}"),
            )));
            ProgramResult::Err(EbpfError::SyscallError(Box::new(SyscallStopped)))
        }
    };
    vm.program_result = result;
    vm.previous_instruction_meter = vm.context_object_pointer.get_remaining();
}

fn dispatch(slot: usize, vm: &mut EbpfVm<'_, RunContext>, args: [u64; 5]) -> ProgramResult {
    let stopped = || ProgramResult::Err(EbpfError::SyscallError(Box::new(SyscallStopped)));
    let ctx = &mut *vm.context_object_pointer;
    // Instructions run since the last settlement (the call instruction included).
    let Some(ran) = vm.previous_instruction_meter.checked_sub(vm.due_insn_count) else {
        ctx.stop = Some(Stop::Fault(EngineFault::new(
            ENGINE_NAME,
            "rbpf reported more pending instructions than it was granted",
        )));
        return stopped();
    };
    ctx.consume(ran);
    if ctx.overdrawn {
        return ProgramResult::Err(EbpfError::ExceededMaxInstructions);
    }
    // SAFETY: see `RunContext::new`: the module's syscall table outlives the run.
    let syscalls = unsafe { ctx.syscalls.as_ref() };
    let Some(live) = syscalls.at(slot) else {
        ctx.stop = Some(Stop::Fault(EngineFault::new(
            ENGINE_NAME,
            format!("no syscall in adapter slot {slot}"),
        )));
        return stopped();
    };
    // SAFETY: see `RunContext::new`: the host outlives the run, and nothing else uses it
    // while the syscall body runs.
    let host = unsafe { ctx.host.as_mut() };
    let mut memory = MappedMemory {
        mapping: &vm.memory_mapping,
    };
    match invoke(live, host, &mut memory, &mut ctx.gas, args) {
        Ok(value) => ProgramResult::Ok(value),
        Err(e) => {
            ctx.stop = Some(match e.into_trap(live.def.name, ENGINE_NAME) {
                Ok(trap) => Stop::Trap(trap),
                Err(fault) => Stop::Fault(fault),
            });
            stopped()
        }
    }
}

macro_rules! adapter_slots {
    ($($n:literal)*) => { [$(syscall_adapter::<$n> as BuiltinFunction<RunContext>),*] };
}

/// One adapter per slot; [`TbpfEngine::MAX_SYSCALLS`](crate::TbpfEngine::MAX_SYSCALLS) of them.
pub(crate) static ADAPTERS: [BuiltinFunction<RunContext>; crate::engine::MAX_SYSCALLS] = adapter_slots!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// [`GuestMemory`] over rbpf's memory mapping: the same regions, bounds and permissions the
/// program's own loads and stores see. A zero-length access touches nothing and always
/// succeeds, whatever the address.
pub(crate) struct MappedMemory<'m, 'a> {
    pub(crate) mapping: &'m MemoryMapping<'a>,
}

impl MappedMemory<'_, '_> {
    fn host_addr(&self, access: Access, addr: u64, len: usize) -> Result<*mut u8, MemoryError> {
        let len64 = len as u64;
        let err = MemoryError {
            addr,
            len: len64,
            access,
        };
        let kind = match access {
            Access::Read => AccessType::Load,
            Access::Write => AccessType::Store,
        };
        match self.mapping.map(kind, addr, len64) {
            ProgramResult::Ok(host) => Ok(host as usize as *mut u8),
            ProgramResult::Err(_) => Err(err),
        }
    }
}

impl GuestMemory for MappedMemory<'_, '_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        if buf.is_empty() {
            return Ok(());
        }
        let src = self.host_addr(Access::Read, addr, buf.len())?;
        // SAFETY: `map` succeeded for `buf.len()` bytes at `addr`, so `src` points to that many
        // readable bytes inside one region owned by the running call (program, stack, heap or
        // input); `buf` is host memory, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.cast_const(), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        if data.is_empty() {
            return Ok(());
        }
        let dst = self.host_addr(Access::Write, addr, data.len())?;
        // SAFETY: `map` with `AccessType::Store` succeeded for `data.len()` bytes, so `dst`
        // points to that many bytes of a writable region (stack or heap) owned by the running
        // call and borrowed by nothing else while the syscall runs; `data` is host memory.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        Ok(())
    }
}
