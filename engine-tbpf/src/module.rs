//! [`TbpfModule`]: a verified (and JIT-compiled) executable, its info, and `run`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use solana_rbpf::{
    aligned_memory::AlignedMemory,
    disassembler::disassemble_instruction,
    ebpf,
    elf::Executable,
    error::{EbpfError, ProgramResult},
    memory_region::{AccessType, MemoryMapping, MemoryRegion, MemoryState},
    static_analysis::CfgNode,
    vm::{CallFrame, EbpfVm},
};
use tos_engine_api::{
    Access, Call, CallInput, EngineFault, ExitStatus, Gas, HostAbi, ModuleInfo, Outcome,
    PreparedModule, Trap,
};

use crate::ENGINE_NAME;
use crate::arena::Split;
use crate::config::TbpfConfig;
use crate::runtime::{RunContext, Stop};
use tos_syscalls::ActiveSyscalls;

/// A module ready to run: what the host caches. A call only maps memory and runs; no ELF
/// parsing, verification or compilation happens here.
pub(crate) struct TbpfModule {
    executable: Executable<RunContext>,
    info: ModuleInfo,
    interpreted: bool,
    heap_size: usize,
    stack_size: usize,
    call_depth: u64,
    /// The syscalls live under the protocol the module was prepared for, with their costs; the
    /// adapter in slot `i` serves the `i`-th.
    syscalls: ActiveSyscalls,
    /// Gas per instruction under that protocol.
    instruction_cost: Gas,
    /// Function names by instruction index, from the ELF's symbol tables.
    symbols: BTreeMap<usize, String>,
    /// What a traced call writes per instruction (only with instruction tracing on).
    trace: Option<std::sync::Arc<TraceTable>>,
    /// Unique among the modules of this process: keys the memory mappings kept per thread
    /// (`mappings`).
    id: u64,
}

/// The next module id.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Per instruction index: its text and the function it belongs to, for traces.
#[derive(Debug, Default)]
pub(crate) struct TraceTable {
    /// `function+offset: instruction` per instruction index (empty for the second slot of
    /// `lddw`).
    pub(crate) text: Vec<String>,
    /// Index into `functions` per instruction index.
    pub(crate) function_of: Vec<usize>,
    /// Function names.
    pub(crate) functions: Vec<String>,
}

/// Function symbols of the ELF by instruction index (`.symtab` and `.dynsym`, those inside
/// `.text`). A module without them, or one goblin cannot read, simply has none.
fn function_symbols(code: &[u8]) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    let Ok(elf) = goblin::elf::Elf::parse(code) else {
        return out;
    };
    let Some(text) = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".text"))
    else {
        return out;
    };
    let (start, size) = (text.sh_addr, text.sh_size);
    let tables = [(&elf.syms, &elf.strtab), (&elf.dynsyms, &elf.dynstrtab)];
    for (syms, names) in tables {
        for sym in syms.iter() {
            if sym.st_type() != goblin::elf::sym::STT_FUNC {
                continue;
            }
            let Some(offset) = sym.st_value.checked_sub(start).filter(|o| *o < size) else {
                continue;
            };
            if let (Some(name), Ok(pc)) = (names.get_at(sym.st_name), usize::try_from(offset / 8))
                && !name.is_empty()
            {
                out.entry(pc).or_insert_with(|| name.to_owned());
            }
        }
    }
    out
}

// The host shares prepared modules between threads. `Executable` is `Send + Sync` on its own
// (owned bytes, an `Arc` of the loader, whose function pointers are plain data, and the sealed,
// read-only JIT code), and `run` takes it by shared reference only; this assertion keeps it so
// across rbpf upgrades.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TbpfModule>();
};

impl std::fmt::Debug for TbpfModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TbpfModule")
            .field("info", &self.info)
            .field("interpreted", &self.interpreted)
            .finish_non_exhaustive()
    }
}

fn fault(message: impl Into<String>) -> EngineFault {
    EngineFault::new(ENGINE_NAME, message)
}

impl TbpfModule {
    pub(crate) fn new(
        executable: Executable<RunContext>,
        info: ModuleInfo,
        interpreted: bool,
        config: &TbpfConfig,
        syscalls: ActiveSyscalls,
        instruction_cost: Gas,
        code: &[u8],
    ) -> Self {
        let mut module = TbpfModule {
            executable,
            info,
            interpreted,
            heap_size: config.heap_size,
            stack_size: config.stack_size(),
            call_depth: config.call_depth as u64,
            syscalls,
            instruction_cost,
            symbols: function_symbols(code),
            trace: None,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        if config.tracing {
            module.trace = Some(std::sync::Arc::new(module.trace_table()));
        }
        module
    }

    /// The trace table of `.text`: each instruction's text and function.
    fn trace_table(&self) -> TraceTable {
        let (labels, rows, _) = self.decoded();
        let count = rows.last().map_or(0, |(pc, _)| pc.saturating_add(2));
        let mut table = TraceTable {
            text: vec![String::new(); count],
            function_of: vec![0; count],
            functions: vec!["(before any function)".to_owned()],
        };
        let mut current = (0usize, 0usize); // (function index, its first pc)
        for (pc, text) in rows {
            if let Some(label) = labels.get(&pc).filter(|l| !l.starts_with("lbb_")) {
                table.functions.push(label.clone());
                current = (table.functions.len().saturating_sub(1), pc);
            }
            let name = table.functions.get(current.0).map_or("", String::as_str);
            let line = format!("{name}+{}: {text}", pc.saturating_sub(current.1));
            if let Some(slot) = table.text.get_mut(pc) {
                *slot = line;
            }
            if let Some(slot) = table.function_of.get_mut(pc) {
                *slot = current.0;
            }
        }
        table
    }

    /// The status rbpf's result means, or the fault it reveals.
    fn status(
        &self,
        result: ProgramResult,
        pc: u64,
        ctx: &mut RunContext,
    ) -> Result<ExitStatus, EngineFault> {
        let stop = match ctx.stop.take() {
            Some(Stop::Fault(f)) => return Err(f),
            Some(Stop::Trap(t)) => Some(t),
            None => None,
        };
        // Work past the limit is out of gas whatever rbpf reports with it: the interpreter stops
        // at the limit, the JIT only checks at branches, and both must agree.
        if ctx.overdrawn {
            return Ok(ExitStatus::Trap(Trap::OutOfGas));
        }
        let trap = match result {
            ProgramResult::Ok(r0) => return Ok(ExitStatus::Exit(r0)),
            ProgramResult::Err(e) => match e {
                EbpfError::SyscallError(_) => match stop {
                    Some(t) => t,
                    None => return Err(fault("a syscall failed without saying why")),
                },
                EbpfError::ExceededMaxInstructions => Trap::OutOfGas,
                EbpfError::AccessViolation(kind, addr, len, _)
                | EbpfError::StackAccessViolation(kind, addr, len, _) => Trap::MemoryAccess {
                    addr,
                    len,
                    access: match kind {
                        AccessType::Load => Access::Read,
                        AccessType::Store => Access::Write,
                    },
                },
                EbpfError::InvalidVirtualAddress(addr) => Trap::MemoryAccess {
                    addr,
                    len: 0,
                    access: Access::Read,
                },
                EbpfError::DivideByZero => Trap::DivisionByZero,
                EbpfError::DivideOverflow => Trap::DivisionOverflow,
                EbpfError::CallDepthExceeded => Trap::CallDepthExceeded {
                    limit: self.call_depth,
                },
                EbpfError::InvalidInstruction
                | EbpfError::UnsupportedInstruction
                | EbpfError::CallOutsideTextSegment
                | EbpfError::ExecutionOverrun
                | EbpfError::ExitRootCallFrame => Trap::InvalidInstruction { pc },
                other => return Err(fault(format!("rbpf failed: {other}"))),
            },
        };
        Ok(ExitStatus::Trap(trap))
    }
}

/// Values kept per thread from one call to the next, by key: what a call builds (rbpf's
/// memory mapping, the interpreter's call frames) is taken back by the next call with the
/// same key, so it is not built again. Nested calls with the same key take their own (one is
/// built); past `KEPT` values of a kind the oldest is dropped.
mod kept {
    use std::cell::RefCell;
    use std::thread::LocalKey;

    use solana_rbpf::memory_region::MemoryMapping;
    use solana_rbpf::vm::CallFrame;

    /// Values kept per thread and shelf.
    const KEPT: usize = 16;

    /// A thread's kept values of one kind, with their keys.
    type Shelf<K, T> = &'static LocalKey<RefCell<Vec<(K, T)>>>;

    /// (module id, module address): a mapping borrows from the module at that address.
    pub(super) type MappingKey = (u64, usize);

    thread_local! {
        /// Memory mappings, boxed (they are moved in and out whole). Building one allocates
        /// its region list (32-byte aligned, through `posix_memalign`: a tenth of a warm
        /// call); a kept one only has its stack, heap and input regions replaced.
        pub(super) static MAPPINGS: RefCell<Vec<(MappingKey, Box<MemoryMapping<'static>>)>> =
            const { RefCell::new(Vec::new()) };
        /// The interpreter's call frames, by their number. The interpreter writes a frame on
        /// every call before it reads it on the matching return, so what an earlier call left
        /// there is never read.
        pub(super) static FRAMES: RefCell<Vec<(usize, Vec<CallFrame>)>> =
            const { RefCell::new(Vec::new()) };
    }

    /// The value kept under `key` on `shelf`, if any.
    pub(super) fn take<K: PartialEq, T>(shelf: Shelf<K, T>, key: &K) -> Option<T> {
        shelf
            .try_with(|kept| {
                let mut kept = kept.try_borrow_mut().ok()?;
                let at = kept.iter().rposition(|(k, _)| k == key)?;
                Some(kept.swap_remove(at).1)
            })
            .ok()
            .flatten()
    }

    /// Keeps `value` under `key` on `shelf` for a later call on this thread.
    pub(super) fn keep<K, T>(shelf: Shelf<K, T>, key: K, value: T) {
        let _ = shelf.try_with(|kept| {
            if let Ok(mut kept) = kept.try_borrow_mut() {
                if kept.len() >= KEPT {
                    kept.remove(0);
                }
                kept.push((key, value));
            }
        });
    }

    /// Keeps `mapping` for the next call of the module `key` names on this thread.
    ///
    /// # Safety
    /// `mapping` must borrow nothing but the module `key` names, at that address: it is
    /// handed back (by [`take`] on [`MAPPINGS`]) only for that key, and until then only
    /// dropped (its drop reads nothing it borrows).
    pub(super) unsafe fn keep_mapping(key: MappingKey, mapping: Box<MemoryMapping<'_>>) {
        // SAFETY: only the lifetime changes (same type otherwise); the caller's contract
        // makes every later use happen while what it borrows is alive.
        let mapping = unsafe {
            std::mem::transmute::<Box<MemoryMapping<'_>>, Box<MemoryMapping<'static>>>(mapping)
        };
        keep(&MAPPINGS, key, mapping);
    }
}

/// Room for the call's input in a call's arena: the input header and the host's largest
/// params (64 KiB), rounded up to whole pages.
const INPUT_ROOM: usize = 72 * 1024;

impl PreparedModule for TbpfModule {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn run(
        &self,
        call: Call,
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault> {
        // A panic (in rbpf, the engine or a host method reached through a syscall) is the
        // node's fault: it must not unwind into the host, let alone kill the node. Syscalls
        // catch their own panics, so none unwinds through JIT-compiled frames.
        crate::engine::catch_panic(|| self.run_unguarded(call, host, gas_limit))
            .unwrap_or_else(|panic| Err(fault(format!("panic while running a call: {panic}"))))
    }

    fn disassemble(&self) -> Option<String> {
        Some(self.listing())
    }
}

impl TbpfModule {
    /// `run` without the panic guard.
    fn run_unguarded(
        &self,
        call: Call,
        host: &mut dyn HostAbi,
        gas_limit: Gas,
    ) -> Result<Outcome, EngineFault> {
        // The guest reads the whole input (header and params) from its input region; the
        // header must say what the host dispatches on.
        let input = host.input();
        CallInput::params_of(call, input)
            .map_err(|e| fault(format!("the host's input is not that of {call}: {e}")))?;
        if !self.info.entries.accepts(call) {
            return Ok(Outcome::unknown_entry(call, host));
        }
        let input = host.input();
        // Stack, heap and a copy of the input (so the guest never reads the host's own buffer
        // while syscalls hold the host mutably): one zeroed arena from this thread's pool
        // (see `arena`). An input larger than the room kept for it (only a host that passes
        // more than the params limit) is copied to the heap instead.
        let parts = [self.stack_size, self.heap_size];
        let mut arena = crate::arena::Arena::take(parts, INPUT_ROOM);
        let Split {
            parts: [stack, heap],
            scratch: room,
            cow,
        } = arena.split(parts);
        // The input room is scratch: each call writes its input there before the guest can
        // read it, through a region exactly as long, so what an earlier call left past it is
        // out of reach and is never cleared.
        let copied;
        let aligned = room.as_ptr().align_offset(ebpf::HOST_ALIGN) == 0;
        let input: &[u8] = match room.get_mut(..input.len()).filter(|_| aligned) {
            Some(room) => {
                room.copy_from_slice(input);
                room
            }
            None => {
                copied = AlignedMemory::<{ ebpf::HOST_ALIGN }>::from_slice(input);
                copied.as_slice()
            }
        };

        let exe = &self.executable;
        let config = exe.get_config();
        let version = exe.get_sbpf_version();
        let gap = if !version.dynamic_stack_frames() && config.enable_stack_frame_gaps {
            config.stack_frame_size as u64
        } else {
            0
        };
        let stack = MemoryRegion::new_writable_gapped(stack, ebpf::MM_STACK_START, gap);
        let heap = MemoryRegion::new_writable(heap, ebpf::MM_HEAP_START);
        if let Some(tracking) = cow {
            // Stack and heap read the shared zeros until their first store, which moves
            // them onto the arena's memory and tells the arena (see `arena`).
            for (region, payload) in [&stack, &heap].into_iter().zip(tracking.payloads) {
                region.host_addr.set(tracking.zeros);
                region.state.set(MemoryState::Cow(payload));
            }
        }
        let input = MemoryRegion::new_readonly(input, ebpf::MM_INPUT_START);
        // The mapping this module's last call on this thread left (`kept`), with this
        // call's stack, heap and input put in; or a new one.
        let key = (self.id, std::ptr::from_ref(self) as usize);
        let mut boxed = match kept::take(&kept::MAPPINGS, &key) {
            Some(mut mapping) => {
                for (index, region) in [(2, stack), (3, heap), (4, input)] {
                    mapping
                        .replace_region(index, region)
                        .map_err(|e| fault(format!("memory mapping: {e}")))?;
                }
                mapping
            }
            None => {
                // Exactly the room rbpf needs (it adds a null region first, then boxes the
                // list), so it does not reallocate.
                let mut regions = Vec::with_capacity(5);
                regions.push(exe.get_ro_region());
                regions.push(stack);
                regions.push(heap);
                regions.push(input);
                // The callback only runs for a region in state `Cow`, which only a tracked
                // arena's regions are given.
                Box::new(
                    MemoryMapping::new_with_cow(
                        regions,
                        Box::new(crate::arena::first_write),
                        config,
                        version,
                    )
                    .map_err(|e| fault(format!("memory mapping: {e}")))?,
                )
            }
        };
        let mapping = std::mem::replace(&mut *boxed, MemoryMapping::Identity);

        let mut ctx = RunContext::new(host, gas_limit, &self.syscalls, self.instruction_cost);
        if tos_engine_api::trace::is_open() {
            ctx.trace = self.trace.clone();
        }
        // The interpreter keeps its call frames in the VM; the JIT keeps them on the native
        // stack and never reads the VM's. The interpreter's come from this thread's shelf
        // rather than a fresh zeroed vector per call (`kept`).
        let depth = config.max_call_depth;
        let frames = if self.interpreted {
            kept::take(&kept::FRAMES, &depth).unwrap_or_else(|| vec![CallFrame::default(); depth])
        } else {
            Vec::new()
        };
        let (result, pc, frames) = {
            // What `EbpfVm::new` builds (rbpf 0.8.5, address translation always on in our
            // configuration), with the call frames above.
            let stack_pointer =
                ebpf::MM_STACK_START.saturating_add(if version.dynamic_stack_frames() {
                    self.stack_size
                } else {
                    config.stack_frame_size
                } as u64);
            let mut vm = EbpfVm {
                host_stack_pointer: std::ptr::null_mut(),
                call_depth: 0,
                stack_pointer,
                context_object_pointer: &mut ctx,
                previous_instruction_meter: 0,
                due_insn_count: 0,
                stopwatch_numerator: 0,
                stopwatch_denominator: 0,
                registers: [0u64; 12],
                program_result: ProgramResult::Ok(0),
                memory_mapping: mapping,
                call_frames: frames,
                loader: exe.get_loader().clone(),
            };
            let (_, result) = vm.execute_program(exe, self.interpreted);
            *boxed = std::mem::replace(&mut vm.memory_mapping, MemoryMapping::Identity);
            // SAFETY: the mapping borrows only this module's executable (its configuration
            // and SBPF version), and `take` hands it back only to this module at this address
            // (`key`), which is then alive; kept or dropped meanwhile, it is not used.
            unsafe { kept::keep_mapping(key, boxed) };
            (
                result,
                vm.registers[11],
                std::mem::take(&mut vm.call_frames),
            )
        };
        if !frames.is_empty() {
            kept::keep(&kept::FRAMES, depth, frames);
        }
        ctx.flush_trace();
        let status = self.status(result, pc, &mut ctx)?;
        Ok(Outcome::finish(status, &ctx.gas, host))
    }

    /// A listing of `.text`: one line per instruction with its index (the unit of
    /// `Trap::InvalidInstruction::pc`), function labels (the ELF's symbol names where it has
    /// them) and jump-target labels, syscalls by name.
    fn listing(&self) -> String {
        let (labels, rows, header) = self.decoded();
        let mut out = header;
        for (pc, text) in rows {
            if let Some(label) = labels.get(&pc) {
                let _ = writeln!(out, "{label}:");
            }
            let _ = writeln!(out, "{pc:>6}    {text}");
        }
        out
    }

    /// `.text` decoded: labels by instruction index, each instruction's index and text, and a
    /// header line.
    fn decoded(&self) -> (BTreeMap<usize, String>, Vec<(usize, String)>, String) {
        let exe = &self.executable;
        let (_, text) = exe.get_text_bytes();
        let version = exe.get_sbpf_version();
        let static_syscalls = version.static_syscalls();
        let entry = exe.get_entrypoint_instruction_offset();
        let loader = exe.get_loader();
        let count = text.len() / ebpf::INSN_SIZE;

        // Labels: the entrypoint, every registered function, every jump target.
        let mut labels: BTreeMap<usize, String> = BTreeMap::new();
        for (_, (_, pc)) in exe.get_function_registry().iter() {
            let name = self.symbols.get(&pc).cloned();
            labels.insert(pc, name.unwrap_or_else(|| format!("function_{pc}")));
        }
        let mut insns = Vec::with_capacity(count);
        let mut pc = 0usize;
        while pc < count {
            let mut insn = ebpf::get_insn(text, pc);
            let width = if insn.opc == ebpf::LD_DW_IMM
                && version.enable_lddw()
                && pc.saturating_add(1) < count
            {
                ebpf::augment_lddw_unchecked(text, &mut insn);
                2
            } else {
                1
            };
            if ebpf::BPF_JMP == insn.opc & 0x07
                && !matches!(insn.opc, ebpf::CALL_IMM | ebpf::CALL_REG | ebpf::EXIT)
            {
                let target = (pc as i64)
                    .saturating_add(1)
                    .saturating_add(i64::from(insn.off));
                if let Ok(target) = usize::try_from(target) {
                    labels
                        .entry(target)
                        .or_insert_with(|| format!("lbb_{target}"));
                }
            }
            insns.push(insn);
            pc = pc.saturating_add(width);
        }
        labels.insert(entry, "entrypoint".to_owned());
        let cfg: BTreeMap<usize, CfgNode> = labels
            .iter()
            .map(|(pc, label)| {
                (
                    *pc,
                    CfgNode {
                        label: label.clone(),
                        ..CfgNode::default()
                    },
                )
            })
            .collect();

        let mut header = String::new();
        let _ = writeln!(
            header,
            "; TBPF module, SBPFv{}, {} instructions, entrypoint at {entry}",
            if static_syscalls { 2 } else { 1 },
            count
        );
        let mut rows = Vec::with_capacity(insns.len());
        for insn in &insns {
            let text = if insn.opc == ebpf::CALL_IMM {
                let key = insn.imm as u32;
                let external = !static_syscalls || insn.src == 0;
                let syscall = external
                    .then(|| loader.get_function_registry().lookup_by_key(key))
                    .flatten()
                    .map(|(name, _)| String::from_utf8_lossy(name).into_owned());
                match syscall {
                    Some(name) => format!("syscall {name}"),
                    None => match exe.get_function_registry().lookup_by_key(key) {
                        Some((_, pc)) => {
                            format!("call {}", labels.get(&pc).map_or("?", String::as_str))
                        }
                        None => format!("call [unresolved {key:#010x}]"),
                    },
                }
            } else {
                disassemble_instruction(insn, &cfg, exe.get_function_registry(), loader, version)
            };
            rows.push((insn.ptr, text));
        }
        (labels, rows, header)
    }
}
