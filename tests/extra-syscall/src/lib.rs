//! A syscall declared outside `tos-syscalls`: `tos_test_double(x) -> 2x`, live only under
//! the feature `test_double`. Linking this crate is all it takes to add it to the table.

use tos_syscalls::{Cost, Param, SyscallCtx, SyscallDef, SyscallError};

/// The feature that makes `tos_test_double` live.
pub const FEATURE: &str = "test_double";

fn double(_: &mut SyscallCtx<'_>, args: &[u64; 5]) -> Result<u64, SyscallError> {
    args[0]
        .checked_mul(2)
        .ok_or_else(|| SyscallError::Invalid(format!("{} doubled overflows", args[0])))
}

inventory::submit! { SyscallDef::new("tos_test_double", &[Param::U64], Cost::new(7, 0), FEATURE, double) }
