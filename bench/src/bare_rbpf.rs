//! The floor of TBPF: the same module on solana-rbpf 0.8.5 alone, with rbpf's configuration
//! as the TBPF engine sets it, the same instruction budget and memory regions (program, stack,
//! 32 KiB heap, input), and one stub syscall, `tos_set_return_data`, that keeps the bytes.
//!
//! What the engine adds above this floor is the host (journal, input, outcome), the gas
//! settlement at syscalls and the per-call memory pool.

use std::sync::Arc;

use solana_rbpf::aligned_memory::AlignedMemory;
use solana_rbpf::ebpf;
use solana_rbpf::elf::Executable;
use solana_rbpf::error::ProgramResult;
use solana_rbpf::memory_region::{AccessType, MemoryMapping, MemoryRegion};
use solana_rbpf::program::{BuiltinFunction, BuiltinProgram, FunctionRegistry};
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{Config, ContextObject, EbpfVm, get_runtime_environment_key};
use tos_engine_api::{Call, CallInput};

use crate::BenchError;

/// The heap region's size: the TBPF engine's default (`TbpfConfig::DEFAULT_HEAP_SIZE`).
const HEAP_SIZE: usize = 32 * 1024;
/// The most return data the stub keeps (the host's limit is larger; kernels return 8 bytes).
const MAX_RETURN_DATA: u64 = 1024;

/// rbpf's context for one call: the instruction meter and the return data.
#[derive(Debug, Default)]
pub struct BareContext {
    remaining: u64,
    return_data: Vec<u8>,
}

impl ContextObject for BareContext {
    fn trace(&mut self, _state: [u64; 12]) {}

    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }

    fn get_remaining(&self) -> u64 {
        self.remaining
    }
}

/// `tos_set_return_data(ptr, len)`: copies the bytes into the context; returns 0. It settles
/// the meter as rbpf's own builtin functions do, so the count stays exact.
fn set_return_data(
    vm: *mut EbpfVm<'_, BareContext>,
    ptr: u64,
    len: u64,
    _a3: u64,
    _a4: u64,
    _a5: u64,
) {
    let key = get_runtime_environment_key() as isize;
    // SAFETY: rbpf (interpreter and JIT) calls a builtin function with the address of the
    // running `EbpfVm` displaced by `key` words; undoing the displacement gives back that VM,
    // live and not otherwise borrowed during the call (rbpf's `declare_builtin_function!`
    // does the same).
    let vm = unsafe {
        &mut *vm
            .cast::<u64>()
            .wrapping_offset(key.wrapping_neg())
            .cast::<EbpfVm<'_, BareContext>>()
    };
    let ran = vm
        .previous_instruction_meter
        .saturating_sub(vm.due_insn_count);
    vm.context_object_pointer.consume(ran);
    let len = len.min(MAX_RETURN_DATA);
    vm.program_result = match vm.memory_mapping.map(AccessType::Load, ptr, len) {
        ProgramResult::Ok(host) => {
            // SAFETY: `map` succeeded for `len` bytes at `ptr`, so `host` points to that many
            // readable bytes inside one region owned by the running call.
            let bytes =
                unsafe { std::slice::from_raw_parts(host as usize as *const u8, len as usize) };
            vm.context_object_pointer.return_data = bytes.to_vec();
            ProgramResult::Ok(0)
        }
        ProgramResult::Err(e) => ProgramResult::Err(e),
    };
    vm.previous_instruction_meter = vm.context_object_pointer.get_remaining();
}

/// rbpf's configuration exactly as the TBPF engine sets it by default.
fn config() -> Config {
    tos_engine_tbpf::TbpfConfig::default().rbpf_config()
}

/// What a bare run returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BareOutcome {
    /// r0 at exit: the exit code.
    pub exit: u64,
    /// Instructions run.
    pub instructions: u64,
    /// The bytes of the last `tos_set_return_data`.
    pub return_data: Vec<u8>,
}

/// A TBPF module loaded, verified and (for the JIT) compiled by rbpf alone.
pub struct BareRbpf {
    executable: Executable<BareContext>,
    jit: bool,
}

impl std::fmt::Debug for BareRbpf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BareRbpf")
            .field("jit", &self.jit)
            .finish_non_exhaustive()
    }
}

impl BareRbpf {
    /// Loads `elf`, verifies it and, with `jit`, compiles it.
    ///
    /// # Errors
    /// rbpf's refusal, or a syscall other than `tos_set_return_data`.
    pub fn load(elf: &[u8], jit: bool) -> Result<Self, BenchError> {
        let mut functions = FunctionRegistry::<BuiltinFunction<BareContext>>::default();
        functions
            .register_function_hashed(*b"tos_set_return_data", set_return_data)
            .map_err(|e| BenchError::new(format!("rbpf: {e}")))?;
        let loader = Arc::new(BuiltinProgram::new_loader(config(), functions));
        let mut executable = Executable::load(elf, loader)
            .map_err(|e| BenchError::new(format!("rbpf refused the ELF: {e}")))?;
        executable
            .verify::<RequisiteVerifier>()
            .map_err(|e| BenchError::new(format!("rbpf's verifier: {e}")))?;
        if jit {
            executable
                .jit_compile()
                .map_err(|e| BenchError::new(format!("rbpf's JIT: {e}")))?;
        }
        Ok(BareRbpf { executable, jit })
    }

    /// Runs `call` with `params` (the input region holds the ABI's header and the params, as
    /// the engine's does) with a budget of `instructions`.
    ///
    /// # Errors
    /// A trap, running out of instructions, or a refused input.
    pub fn run(
        &self,
        call: Call,
        params: &[u8],
        instructions: u64,
    ) -> Result<BareOutcome, BenchError> {
        let input = CallInput::new(call, params.to_vec())
            .try_encode()
            .map_err(|e| BenchError::new(format!("input: {e}")))?;
        let exe = &self.executable;
        let config = exe.get_config();
        let version = exe.get_sbpf_version();
        let stack_size = config.stack_size();
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(stack_size);
        let mut heap = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(HEAP_SIZE);
        let input = AlignedMemory::<{ ebpf::HOST_ALIGN }>::from_slice(&input);
        let gap = if !version.dynamic_stack_frames() && config.enable_stack_frame_gaps {
            config.stack_frame_size as u64
        } else {
            0
        };
        let regions = vec![
            exe.get_ro_region(),
            MemoryRegion::new_writable_gapped(stack.as_slice_mut(), ebpf::MM_STACK_START, gap),
            MemoryRegion::new_writable(heap.as_slice_mut(), ebpf::MM_HEAP_START),
            MemoryRegion::new_readonly(input.as_slice(), ebpf::MM_INPUT_START),
        ];
        let mapping = MemoryMapping::new(regions, config, version)
            .map_err(|e| BenchError::new(format!("memory mapping: {e}")))?;
        let mut ctx = BareContext {
            remaining: instructions,
            return_data: Vec::new(),
        };
        let (count, result) = {
            let mut vm = EbpfVm::new(
                exe.get_loader().clone(),
                version,
                &mut ctx,
                mapping,
                stack_size,
            );
            vm.execute_program(exe, !self.jit)
        };
        match result {
            ProgramResult::Ok(exit) => Ok(BareOutcome {
                exit,
                instructions: count,
                return_data: ctx.return_data,
            }),
            ProgramResult::Err(e) => Err(BenchError::new(format!("bare rbpf: {e}"))),
        }
    }
}
