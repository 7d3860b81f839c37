use std::fmt;

use crate::{Access, Call, Gas, GasMeter, HostAbi};

/// Why a contract stopped abnormally. Deterministic: the same contract, input and gas give the
/// same trap on every engine mode (interpreter and JIT), so it may be part of consensus.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Trap {
    /// The gas limit was reached; the whole limit is charged.
    OutOfGas,
    /// A memory access outside the guest's memory, or a write to read-only memory.
    MemoryAccess {
        /// Guest address of the access.
        addr: u64,
        /// Length of the access.
        len: u64,
        /// Read or write.
        access: Access,
    },
    /// Integer division or remainder by zero.
    DivisionByZero,
    /// Signed division overflow (`i64::MIN / -1`).
    DivisionOverflow,
    /// Checked arithmetic overflowed (the legacy VM traps on overflow).
    ArithmeticOverflow,
    /// Calls nested deeper than the engine's documented limit.
    CallDepthExceeded {
        /// The limit that was hit.
        limit: u64,
    },
    /// The guest's stack is exhausted.
    StackOverflow,
    /// The module has no such entry or hook; nothing was executed.
    UnknownEntry(Call),
    /// An instruction that cannot execute (invalid opcode, bad jump or call target).
    InvalidInstruction {
        /// Position of the instruction (engine-specific units, documented by the engine).
        pc: u64,
    },
    /// The guest executed an explicit abort (`unreachable` in wasm, `abort` in the SDK).
    Unreachable,
    /// A syscall refused its arguments (a bad length, a limit reached, an inactive syscall).
    Syscall {
        /// Name of the syscall.
        name: String,
        /// What was wrong, for the user.
        reason: String,
    },
    /// The contract aborted with a message (ABI v2 `tos_abort`; at most 1 KiB, lossy UTF-8).
    Aborted(String),
    /// The guest violated a rule of its engine that no other variant names (e.g. a legacy
    /// value of the wrong type); the text says which.
    Invalid(String),
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trap::OutOfGas => f.write_str("out of gas"),
            Trap::MemoryAccess { addr, len, access } => {
                write!(
                    f,
                    "memory access violation: {access} of {len} bytes at {addr:#x}"
                )
            }
            Trap::DivisionByZero => f.write_str("division by zero"),
            Trap::DivisionOverflow => f.write_str("division overflow"),
            Trap::ArithmeticOverflow => f.write_str("arithmetic overflow"),
            Trap::CallDepthExceeded { limit } => write!(f, "call depth limit of {limit} exceeded"),
            Trap::StackOverflow => f.write_str("stack overflow"),
            Trap::UnknownEntry(call) => write!(f, "the module has no {call}"),
            Trap::InvalidInstruction { pc } => write!(f, "invalid instruction at pc {pc}"),
            Trap::Unreachable => f.write_str("unreachable executed (abort)"),
            Trap::Syscall { name, reason } => write!(f, "syscall {name} failed: {reason}"),
            Trap::Aborted(message) => write!(f, "aborted: {message}"),
            Trap::Invalid(why) => write!(f, "invalid operation: {why}"),
        }
    }
}

impl From<crate::MemoryError> for Trap {
    fn from(e: crate::MemoryError) -> Self {
        Trap::MemoryAccess {
            addr: e.addr,
            len: e.len,
            access: e.access,
        }
    }
}

/// How a call ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ExitStatus {
    /// The contract returned this exit code: 0 is success, anything else a contract-defined
    /// failure.
    Exit(u64),
    /// The contract trapped.
    Trap(Trap),
}

/// The result of running a call: deterministic data, whether the contract succeeded or not.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// Exit code or trap.
    pub status: ExitStatus,
    /// Gas used, syscalls included; the whole limit when the call ran out of gas.
    pub gas_used: Gas,
    /// What the contract set with `tos_set_return_data` (empty if nothing).
    pub return_data: Vec<u8>,
}

impl Outcome {
    /// Whether the call succeeded: exit code 0. Only then does the host commit its effects.
    pub fn is_success(&self) -> bool {
        self.status == ExitStatus::Exit(0)
    }

    /// The outcome of a call that ended with `status`, charging what `gas` used and taking the
    /// return data from `host`. A trap of [`Trap::OutOfGas`] charges the whole limit.
    pub fn finish(status: ExitStatus, gas: &GasMeter, host: &mut dyn HostAbi) -> Outcome {
        let gas_used = if status == ExitStatus::Trap(Trap::OutOfGas) {
            gas.limit()
        } else {
            gas.used()
        };
        Outcome {
            status,
            gas_used,
            return_data: host.take_return_data(),
        }
    }

    /// The outcome of a call the module does not export: nothing runs and no gas is used
    /// ([`Trap::UnknownEntry`]).
    pub fn unknown_entry(call: Call, host: &mut dyn HostAbi) -> Outcome {
        Outcome::finish(
            ExitStatus::Trap(Trap::UnknownEntry(call)),
            &GasMeter::new(0),
            host,
        )
    }

    /// The trap, if the call trapped.
    pub fn trap(&self) -> Option<&Trap> {
        match &self.status {
            ExitStatus::Trap(t) => Some(t),
            ExitStatus::Exit(_) => None,
        }
    }

    /// The exit code, if the call returned one.
    pub fn exit_code(&self) -> Option<u64> {
        match self.status {
            ExitStatus::Exit(code) => Some(code),
            ExitStatus::Trap(_) => None,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exit(code) => write!(f, "exit {code}"),
            ExitStatus::Trap(t) => write!(f, "trap: {t}"),
        }
    }
}
