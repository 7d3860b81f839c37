//! The legacy engine of tos-engine: the stack VM that ran TOS contracts before TBPF.
//!
//! Networks keep legacy contracts running after TBPF activates, so this is a complete VM:
//! a module of constants and chunks of bytecode, decoded and validated once when it is
//! prepared, then interpreted without re-checking what validation proved.
//!
//! ```
//! use tos_engine_api::{Call, ExecutionEngine, ExitStatus};
//! use tos_engine_legacy::{LegacyConfig, LegacyEngine, assemble};
//! use tos_host::testing::{devnet_host, with_call_host};
//! use tos_host::{MemoryProvider, TxContext};
//!
//! // Entry 0 logs "hello, tos" and exits with 0.
//! let module = assemble(
//!     ".chunk main args=1 locals=1\n\
//!          const b\"hello, tos\"\n\
//!          syscall tos_log\n\
//!          pop\n\
//!          imm 0\n\
//!          exit\n\
//!      .entry 0 main\n",
//! )?;
//! let code = module.to_bytes()?;
//!
//! let engine = LegacyEngine::new(LegacyConfig::default())?;
//! let prepared = engine.prepare(&code, &tos_syscalls::testing::abi_v1())?;
//!
//! // Run it as contract [5; 32] against the node's host, over a state in memory.
//! let host = devnet_host();
//! let mut state = MemoryProvider::default();
//! let tx = TxContext { height: 1, ..TxContext::default() };
//! let call = Call::Entry(0);
//! let (outcome, frame) =
//!     with_call_host(&host, &mut state, &tx, [5; 32], call, &[], |h| prepared.run(call, h, 10_000))?;
//! let outcome = outcome?;
//! assert_eq!(outcome.status, ExitStatus::Exit(0));
//! assert_eq!(frame.all_logs(), [b"hello, tos".to_vec()]);
//! // const: 1 + 2 for copying 10 bytes; syscall: 5 + tos_log's 100 + 1 per byte;
//! // pop, imm, exit: 1 each.
//! assert_eq!(outcome.gas_used, 3 + 115 + 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//! A [`Module`] holds a constant pool of [`ValueCell`]s, chunks of bytecode (each declares
//! its arguments, results and local slots), and the entries (`u16`) and hooks (`u8`) that
//! name chunks. Its binary encoding (magic `TOSL`, a version byte, borsh) is documented on
//! [`Module`]; its text form, the assembler and the disassembler ([`assemble`],
//! [`disassemble`]) in `ASM.md`; the instruction set in `OPCODES.md` (rendered from the one
//! opcode table that generates the decoder, the names and the costs).
//!
//! A call runs the chunk of its entry or hook with one argument, the params as a bytes value
//! (local 0). The chunk ends with `exit` (an exit code) or `ret` (exit code 0); the return
//! data is what the contract set with `tos_set_return_data`.
//!
//! # The old `VM` API
//! The daemon's old API (`VM`, `Module::new`, `Context`, `ValueCell` parameters, `VmError`)
//! is the `tos-vm` crate's: it runs legacy, TBPF, wasm and plug-in modules alike through
//! `tos-host`. This crate keeps only the engine: [`LegacyEngine`] and [`LegacyConfig`], the
//! module format [`Module`] with its assembler, and [`ValueCell`], the VM's value type, which
//! `tos-vm` re-exports (one copy).
//!
//! # Validation
//! `prepare` decodes every chunk once and checks every operand (constant, chunk and local
//! ids, jump targets on instruction boundaries, syscalls live under the call's features),
//! then proves by abstract interpretation that no instruction pops below its frame, that
//! all paths agree on stack heights, that `ret` leaves exactly the declared results and that
//! no path runs off a chunk's end. Entry and hook chunks take exactly one argument and
//! return nothing. The interpreter trusts all of it; where a proof is not total it still
//! uses checked access, and a violation is an [`EngineFault`](tos_engine_api::EngineFault),
//! never undefined behaviour (the crate has no `unsafe`).
//!
//! # Gas
//! One unit is one TBPF instruction. Every instruction costs its opcode's static cost (the
//! `gas` column of `OPCODES.md`: 1 for most, 2 for `div`, `rem`, `ret` and most array and
//! bytes operations, 4 for `call` and map lookups, 5 for `syscall`); on top of it:
//!
//! | charge | amount |
//! |---|---|
//! | a string, bytes, array or map created or copied (`const`, `load`, `copy`, `array.new`, `array.set`, `array.push`, `map.set`, `bytes.new`, `bytes.slice`, `bytes.concat`, `bytes.from_int`, `str.bytes`, `str.from_bytes`, syscall outputs) | 1 per started 8 bytes of the result's [size](limits) |
//! | comparisons (`eq`, `ne`, `lt`, `le`, `gt`, `ge`) | 1 per started 8 bytes of the smaller operand's size (0 for scalars) |
//! | `syscall` | the syscall's own cost (base + per byte), charged by `tos-syscalls` |
//!
//! Scalars cost nothing beyond their opcode. Costs are charged before the work; running out
//! stops the call with `Trap::OutOfGas` and charges the whole limit. Gas also bounds memory:
//! every byte a contract holds was paid for when it was created.
//!
//! # Syscalls
//! `syscall <id>` calls the syscall with that id in the one table of `tos-syscalls`; a module
//! naming an id that is not live is refused at prepare. Byte values go through a scratch
//! memory so that every syscall body is shared with the other engines; `ASM.md` lists the
//! stack shape of each syscall.
//!
//! # Limits
//! All limits are constants in [`limits`]: module size, constant, chunk and entry counts,
//! chunk length, value length, size and nesting, stack size and call depth.

#![deny(missing_docs)]

mod asm;
mod engine;
pub mod limits;
mod module;
mod opcode;
mod program;
mod syscall;
#[cfg(test)]
mod tests;
mod value;
mod vm;

pub use asm::{AsmError, assemble, disassemble};
pub use engine::{ConfigError, LegacyConfig, LegacyEngine};
pub use module::Module;
pub use value::{LimitError, ValueCell};

/// The engine's name, as [`ExecutionEngine::name`](tos_engine_api::ExecutionEngine::name)
/// reports it and faults name it.
const ENGINE_NAME: &str = "legacy";
