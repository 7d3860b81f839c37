//! The linker's error type.

use thiserror::Error;

/// Why a link was refused.
///
/// Every variant names the input file and, where it applies, the section, the byte
/// offset inside that section and the symbol involved, so that the message alone
/// points at the offending code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LinkError {
    /// No input objects were given.
    #[error("no input objects")]
    NoInputs,

    /// The file is not a 64-bit little-endian relocatable BPF ELF object.
    #[error("{file}: not a BPF relocatable object: {reason}")]
    NotBpfObject {
        /// The input file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A header, table, string or section points outside the file or is inconsistent.
    #[error("{file}: malformed object: {reason}")]
    Malformed {
        /// The input file.
        file: String,
        /// What is inconsistent.
        reason: String,
    },

    /// The object has writable data (`.data*`, `.bss*`, or any allocated writable or
    /// zero-filled section of non-zero size), which TBPF modules cannot have.
    #[error(
        "{file}: section {section} holds {size} bytes of writable data; TBPF modules have no \
         writable globals (make it `const`, or keep state on the stack, in the heap at \
         0x300000000, or in contract storage)"
    )]
    WritableData {
        /// The input file.
        file: String,
        /// The offending section.
        section: String,
        /// Its size in bytes.
        size: u64,
    },

    /// A tentative definition (`SHN_COMMON`, from `-fcommon`) would need writable memory.
    #[error(
        "{file}: symbol `{symbol}` is a common (tentative, writable) definition; TBPF modules have no writable globals"
    )]
    CommonSymbol {
        /// The input file.
        file: String,
        /// The symbol.
        symbol: String,
    },

    /// A JMP32-class instruction (emitted by `-mcpu=v3` and later), which SBPFv1 does not have.
    #[error(
        "{file}: {section}+{offset:#x}: JMP32 instruction (opcode {opcode:#04x}) is not supported \
         by SBPFv1; compile with -mcpu=v2"
    )]
    Jmp32 {
        /// The input file.
        file: String,
        /// The code section.
        section: String,
        /// Byte offset of the instruction in the section.
        offset: u64,
        /// The opcode byte.
        opcode: u8,
    },

    /// An ALU instruction with a non-zero offset field: `-mcpu=v4` signed division/modulo
    /// or sign-extending move, which solana-rbpf 0.8.5 would silently run as the unsigned
    /// or plain operation.
    #[error(
        "{file}: {section}+{offset:#x}: ALU instruction (opcode {opcode:#04x}) has offset field \
         {field} (a -mcpu=v4 signed division/modulo or sign-extending move) which SBPFv1 would \
         run with different semantics; compile with -mcpu=v2"
    )]
    AluOffset {
        /// The input file.
        file: String,
        /// The code section.
        section: String,
        /// Byte offset of the instruction in the section.
        offset: u64,
        /// The opcode byte.
        opcode: u8,
        /// The non-zero offset field.
        field: i16,
    },

    /// An opcode outside the SBPFv1 instruction set (atomics, packet loads, v4 forms...).
    #[error(
        "{file}: {section}+{offset:#x}: instruction with opcode {opcode:#04x} is not supported by SBPFv1{hint}"
    )]
    UnsupportedInstruction {
        /// The input file.
        file: String,
        /// The code section.
        section: String,
        /// Byte offset of the instruction in the section.
        offset: u64,
        /// The opcode byte.
        opcode: u8,
        /// Extra explanation (may be empty).
        hint: String,
    },

    /// A code section whose instructions are inconsistent (size, `lddw` halves, jumps
    /// or calls leaving the section).
    #[error("{file}: {section}+{offset:#x}: {reason}")]
    BadCode {
        /// The input file.
        file: String,
        /// The code section.
        section: String,
        /// Byte offset of the instruction in the section.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// A relocation type the linker does not know.
    #[error("{file}: {section}+{offset:#x}: unknown relocation type {kind} (against `{symbol}`)")]
    UnknownRelocation {
        /// The input file.
        file: String,
        /// The section being relocated.
        section: String,
        /// Byte offset of the relocated field in the section.
        offset: u64,
        /// The relocation type number.
        kind: u32,
        /// The symbol it refers to.
        symbol: String,
    },

    /// A known relocation type used where it cannot be honoured.
    #[error("{file}: {section}+{offset:#x}: relocation {kind_name} against `{symbol}`: {reason}")]
    BadRelocation {
        /// The input file.
        file: String,
        /// The section being relocated.
        section: String,
        /// Byte offset of the relocated field in the section.
        offset: u64,
        /// The relocation type name.
        kind_name: &'static str,
        /// The symbol it refers to.
        symbol: String,
        /// Why it cannot be applied.
        reason: String,
    },

    /// An undefined symbol is used as data (its address is loaded or stored), not called.
    /// Only calls can be left to the runtime (as syscalls).
    #[error(
        "{file}: {section}+{offset:#x}: undefined symbol `{symbol}` is used as data; only calls \
         may refer to symbols no object defines (they become syscalls)"
    )]
    UndefinedDataSymbol {
        /// The input file.
        file: String,
        /// The section holding the reference.
        section: String,
        /// Byte offset of the reference.
        offset: u64,
        /// The symbol.
        symbol: String,
    },

    /// A call to a symbol no object defines and that is not a known syscall
    /// (only reported when [`crate::LinkOptions::known_syscalls`] is set).
    #[error(
        "{file}: {section}+{offset:#x}: call to undefined function `{symbol}`, which is neither \
         defined by an input object nor a known syscall"
    )]
    UnknownSyscall {
        /// The input file.
        file: String,
        /// The section holding the call.
        section: String,
        /// Byte offset of the call.
        offset: u64,
        /// The symbol.
        symbol: String,
    },

    /// Two objects (or one object twice) define the same global symbol.
    #[error("duplicate global symbol `{symbol}`: defined in {first} and in {second}")]
    DuplicateSymbol {
        /// The symbol.
        symbol: String,
        /// The first defining file.
        first: String,
        /// The second defining file.
        second: String,
    },

    /// A symbol that the module exports or uses as its entry is unusable.
    #[error("{file}: symbol `{symbol}`: {reason}")]
    BadSymbol {
        /// The input file.
        file: String,
        /// The symbol.
        symbol: String,
        /// Why.
        reason: String,
    },

    /// An allocated section kind the linker does not support.
    #[error("{file}: section {section}: {reason}")]
    UnsupportedSection {
        /// The input file.
        file: String,
        /// The section.
        section: String,
        /// Why.
        reason: String,
    },

    /// Nothing to run: no `entrypoint` and no `entry_<N>` / `hook_<N>` function.
    #[error(
        "no `entrypoint` function and no `entry_<N>` / `hook_<N>` function in any input object"
    )]
    NoEntry,

    /// The linked module would exceed a loader limit.
    #[error("module too large: {reason}")]
    TooLarge {
        /// Which limit.
        reason: String,
    },
}
