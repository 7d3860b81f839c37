//! The TBPF engine of tos-engine: Solana-style eBPF modules run on solana-rbpf 0.8.5.
//!
//! ```
//! use tos_engine_api::{ExecutionEngine, FeatureSet, LoadError, ModuleTag};
//! use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
//!
//! let engine = TbpfEngine::new(TbpfConfig::default()).expect("the default configuration is valid");
//! assert_eq!((engine.name(), engine.tag(), engine.version()), ("tbpf", ModuleTag::TBPF, 1));
//!
//! // Refusals are data that name the problem.
//! let err = engine.prepare(b"\x7fELF but not really", &tos_syscalls::testing::abi_v1()).err().unwrap();
//! assert!(matches!(err, LoadError::Malformed(_)), "{err}");
//! ```
//!
//! # Modules
//! A module is an ELF shared object (`ET_DYN`, machine `EM_BPF` (247) or Solana's `EM_SBPF`
//! (263), SBPFv1 with `e_flags` 0 or SBPFv2 with `e_flags` 0x20) as Solana's toolchain or
//! `tbpf-link` produce it. [`prepare`] reads it with goblin first and refuses, each with its own
//! [`LoadError`]: a file over the size limit, a non-ELF, truncated or inconsistent file
//! (including loadable segments out of address order or past the file's end), a version the
//! configuration does not accept, writable `.data`/`.bss`, a missing or misplaced entry point,
//! relocations rbpf cannot apply, tables over the structural limits (below), and imports of
//! syscalls that are not live for the module's features ([`LoadError::UnknownSyscall`] names
//! the symbol; for an SBPFv2 static call, which carries only the murmur3 hash of the name, the
//! name is given when it is a TOS syscall or a well-known syscall of Solana's toolchain such as
//! `sol_log_` or `log`, and the hash and instruction otherwise). rbpf then loads the file
//! (`reject_broken_elfs`), the `RequisiteVerifier` checks the code, every `call` is checked to
//! reach a function or a live syscall, a `.text` that can run off its end is refused, and the
//! JIT compiles it when configured.
//!
//! The pre-checks read the file the way rbpf 0.8.5 does (the dynamic table from `PT_DYNAMIC`
//! when it is a whole array, else from the `.dynamic` section; the last value of a repeated
//! tag), so they judge the same relocations and symbols rbpf applies. Beyond rbpf they refuse
//! only what the ABI demands or what could only fail at run time: unknown `e_flags`, an entry
//! point other than the `entrypoint` symbol, undefined `.dynsym` symbols that are not live
//! syscalls (even unused ones), `R_BPF_64_32` relocations that do not patch a `call`, and calls
//! that reach nothing. The test `tests/solana_toolchain.rs` runs every ELF file of rbpf 0.8.5's
//! own test suite (built by Solana's toolchain) and demands rbpf's verdict, result and
//! instruction count.
//!
//! A function whose first instruction calls itself is a `call -1`, which rbpf's SBPFv1 loader
//! takes for an unresolved call; `tbpf-link` emits such calls with an `R_BPF_64_32` relocation
//! against a `.dynsym` symbol of the function, which rbpf resolves like any relative call.
//! Recursion deeper than the call depth traps with `CallDepthExceeded`.
//!
//! Exported function symbols `entry_<N>` / `hook_<N>` in `.dynsym` form the entry table; a call
//! the table lacks is refused with [`Trap::UnknownEntry`] and no gas used. Without such symbols
//! the module dispatches itself. Either way a call runs the ELF entry point (`entrypoint`),
//! which dispatches on the input header (ABI.md).
//!
//! # Memory
//! rbpf's layout: the read-only sections at `MM_PROGRAM_START` (0x1_0000_0000), the stack at
//! `MM_STACK_START` (`call depth × frame size`, gapped frames for SBPFv1), a zeroed heap at
//! `MM_HEAP_START` and, read-only at `MM_INPUT_START` (0x4_0000_0000), exactly the call input
//! (8-byte header and params) with `r1` pointing at it. The return value `r0` is the exit code.
//!
//! # Gas
//! One unit per executed instruction (an `lddw` counts once), plus each syscall's documented
//! cost, charged to the same meter before the syscall works: the instructions left shrink by
//! what a syscall charged. Running out charges the whole limit. Interpreter and JIT give the same
//! status and gas for every module they accept, and accept the same modules.
//!
//! A module cannot choose the interpreter (about 50 times slower for the same gas): one whose
//! last instruction can fall through past the end of `.text` (which rbpf's JIT reports without
//! pc or count) is refused with [`LoadError::Verification`] on every node, and every other
//! module property that would make rbpf's JIT refuse to compile is refused by the verifier
//! first. A JIT engine that still fails to compile a verified module reports
//! [`LoadError::Fault`] (the node's failure: no executable memory), never a silent fall-back.
//! Only a node configured without the JIT interprets.
//!
//! Preparing is paid: the engine declares `tbpf.prepare_per_byte` (see
//! [`ExecutionEngine::gas_costs`](tos_engine_api::ExecutionEngine::gas_costs)), which the host
//! charges per byte of code on every deploy; docs/GAS.md explains its calibration against the
//! worst shapes of `tos-adversarial`.
//!
//! # Structural limits
//! Before parsing a table, the engine checks its size against a documented constant and
//! refuses a module over it with [`LoadError::Unsupported`] naming the limit and the value:
//! program headers ([`TbpfEngine::MAX_PROGRAM_HEADERS`]), sections
//! ([`TbpfEngine::MAX_SECTIONS`]), dynamic and static symbols
//! ([`TbpfEngine::MAX_DYNAMIC_SYMBOLS`], [`TbpfEngine::MAX_SYMBOLS`]), relocations
//! ([`TbpfEngine::MAX_RELOCATIONS`]) and string tables
//! ([`TbpfEngine::MAX_STRING_TABLE_SIZE`], [`TbpfEngine::MAX_SECTION_NAME_TABLE_SIZE`]). Every
//! pass of the engine over a module is linear (or n log n) in its size; symbol names are read
//! up to the longest name that can matter (63 bytes).
//!
//! # Panics
//! `prepare` and `run` catch panics (in rbpf, the engine, or a host method called by a
//! syscall): a panic becomes [`LoadError::Fault`] or an [`EngineFault`] naming it. A syscall
//! catches its own panics, so none unwinds through JIT-compiled code.
//!
//! # Versions
//! [`ExecutionEngine::version`](tos_engine_api::ExecutionEngine::version) is 1 for the default
//! settings; any other setting that changes results (SBPF versions, limits) gives a fingerprint
//! with the top bit set. The JIT flag never changes it.
//!
//! # Traps
//! rbpf's errors map to [`Trap`]s: instruction budget → `OutOfGas`; access violations →
//! `MemoryAccess`; `DivisionByZero`; `DivisionOverflow`; call depth → `CallDepthExceeded`;
//! invalid or unsupported instructions, calls outside `.text` and running off its end →
//! `InvalidInstruction { pc }` where `pc` is the index of the 8-byte instruction slot in `.text`
//! (as [`disassemble`] numbers them); a syscall's refusal → the trap its
//! `SyscallError::into_trap` gives, and a host fault → [`EngineFault`].
//!
//! [`prepare`]: tos_engine_api::ExecutionEngine::prepare
//! [`disassemble`]: tos_engine_api::PreparedModule::disassemble
//! [`LoadError`]: tos_engine_api::LoadError
//! [`LoadError::Verification`]: tos_engine_api::LoadError::Verification
//! [`LoadError::Fault`]: tos_engine_api::LoadError::Fault
//! [`LoadError::Unsupported`]: tos_engine_api::LoadError::Unsupported
//! [`LoadError::UnknownSyscall`]: tos_engine_api::LoadError::UnknownSyscall
//! [`Trap`]: tos_engine_api::Trap
//! [`Trap::UnknownEntry`]: tos_engine_api::Trap::UnknownEntry
//! [`EngineFault`]: tos_engine_api::EngineFault

#![deny(missing_docs)]
#![deny(clippy::arithmetic_side_effects)]

mod arena;
mod config;
mod engine;
mod inspect;
mod module;
mod runtime;

pub use config::{ConfigError, TbpfConfig};
pub use engine::TbpfEngine;

/// The engine's name, as [`tos_engine_api::ExecutionEngine::name`] reports it.
pub(crate) const ENGINE_NAME: &str = "tbpf";
