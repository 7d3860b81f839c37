//! The legacy adapter of the one syscall table.
//!
//! The syscall opcode names a syscall by id; the definition, the cost and the body come from
//! `tos-syscalls`. The legacy VM has values, not memory, so the adapter lays the byte values
//! a syscall reads out in a per-call *scratch* memory (a [`SliceMemory`] at
//! [`SCRATCH_BASE`]), passes guest pointers into it, and turns what the body writes to its
//! out-pointers back into values. The table below says, per syscall, which stack value or
//! scratch buffer stands for each argument register; the syscalls crate declares only
//! arities, so this shape is the one piece of per-syscall knowledge the adapter adds
//! (a test checks it against the table's arities).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use tos_engine_api::{EngineFault, GasMeter, HostAbi, SliceMemory, Trap};
use tos_syscalls::limits::MAX_VALUE_LEN;
use tos_syscalls::{SyscallCtx, SyscallDef, invoke};

use crate::ValueCell;
use crate::limits::{MAX_BYTES_LEN, SCRATCH_BASE};
use crate::vm::{Stop, words};

/// Where a syscall's argument registers come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Arg {
    /// A bytes (or string) value popped from the stack, copied to scratch: two registers,
    /// pointer and length.
    Bytes,
    /// A bytes value of exactly 32 bytes popped from the stack, copied to scratch: one
    /// register, the pointer.
    Hash,
    /// An unsigned integer that fits u64 popped from the stack: one register.
    Int,
    /// A 32-byte scratch buffer: one register, the pointer; pushed back as bytes.
    Out32,
    /// An 8-byte scratch buffer: one register, the pointer; pushed back as a u64.
    OutU64,
    /// A scratch buffer and its capacity: two registers, pointer and capacity. Pushed back
    /// as the `min(result, capacity)` bytes written, or `null` when the result is
    /// `u64::MAX` (absent).
    OutCap(Cap),
}

/// The capacity of an [`Arg::OutCap`] buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Cap {
    /// The call input's length, at most [`MAX_BYTES_LEN`].
    Input,
    /// The largest storage value (`tos_syscalls::limits::MAX_VALUE_LEN`).
    StorageValue,
}

/// The legacy shape of one syscall.
#[derive(Debug)]
pub(crate) struct Signature {
    /// The syscall's name in the table.
    pub(crate) name: &'static str,
    /// Its argument registers, in order.
    pub(crate) args: &'static [Arg],
}

impl Signature {
    /// Values popped from the stack.
    pub(crate) fn inputs(&self) -> usize {
        self.args
            .iter()
            .filter(|a| matches!(a, Arg::Bytes | Arg::Hash | Arg::Int))
            .count()
    }

    /// Values pushed before the result.
    pub(crate) fn outputs(&self) -> usize {
        self.args.len().saturating_sub(self.inputs())
    }

    /// Argument registers used: must equal the table's arity.
    pub(crate) fn registers(&self) -> usize {
        self.args
            .iter()
            .map(|a| match a {
                Arg::Bytes | Arg::OutCap(_) => 2,
                _ => 1,
            })
            .sum()
    }
}

use Arg::*;

/// The legacy shape of every syscall of ABI.md (documented in ASM.md, "Syscalls").
pub(crate) const SIGNATURES: &[Signature] = &[
    Signature {
        name: "tos_log",
        args: &[Bytes],
    },
    Signature {
        name: "tos_get_input",
        args: &[OutCap(Cap::Input)],
    },
    Signature {
        name: "tos_set_return_data",
        args: &[Bytes],
    },
    Signature {
        name: "tos_get_contract_hash",
        args: &[Out32],
    },
    Signature {
        name: "tos_get_tx_hash",
        args: &[Out32],
    },
    Signature {
        name: "tos_get_tx_source",
        args: &[Out32],
    },
    Signature {
        name: "tos_get_block_hash",
        args: &[Out32],
    },
    Signature {
        name: "tos_get_block_height",
        args: &[],
    },
    Signature {
        name: "tos_get_balance",
        args: &[Hash, OutU64],
    },
    Signature {
        name: "tos_transfer",
        args: &[Hash, Int, Hash],
    },
    Signature {
        name: "tos_burn",
        args: &[Hash, Int],
    },
    Signature {
        name: "tos_storage_load",
        args: &[Bytes, OutCap(Cap::StorageValue)],
    },
    Signature {
        name: "tos_storage_store",
        args: &[Bytes, Bytes],
    },
    Signature {
        name: "tos_storage_delete",
        args: &[Bytes],
    },
    Signature {
        name: "tos_asset_create",
        args: &[Bytes, Int, Out32],
    },
    Signature {
        name: "tos_asset_mint",
        args: &[Hash, Int],
    },
    Signature {
        name: "tos_fire_event",
        args: &[Int, Bytes],
    },
];

/// The legacy shape of the syscall named `name`.
pub(crate) fn signature(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

/// A syscall a module uses, resolved once at validation.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) def: &'static SyscallDef,
    pub(crate) sig: &'static Signature,
}

/// What `tos_storage_load` returns for an absent key. The syscalls crate defines it as
/// `bodies::ABSENT` but does not re-export it, so it is restated here (ABI.md pins it).
const ABSENT: u64 = u64::MAX;

/// Where one argument lives in scratch.
#[derive(Clone, Copy, Default)]
struct Region {
    offset: usize,
    len: usize,
}

fn bad_arg(sig: &Signature, index: usize, why: String) -> Stop {
    Stop::Trap(Trap::Syscall {
        name: sig.name.to_owned(),
        reason: format!("argument {index}: {why}"),
    })
}

fn fault(msg: &str) -> Stop {
    Stop::Fault(EngineFault::new(crate::ENGINE_NAME, msg.to_owned()))
}

/// Runs `bound` with its inputs on top of `stack`; pushes its outputs and result.
pub(crate) fn call(
    bound: &Bound,
    stack: &mut Vec<ValueCell>,
    scratch: &mut Vec<u8>,
    host: &mut dyn HostAbi,
    gas: &mut GasMeter,
) -> Result<(), Stop> {
    let sig = bound.sig;
    let first = stack
        .len()
        .checked_sub(sig.inputs())
        .ok_or_else(|| fault("syscall inputs missing from a validated stack"))?;
    let inputs = stack
        .get(first..)
        .ok_or_else(|| fault("syscall inputs missing from a validated stack"))?;

    // Lay out every argument: byte inputs first in argument order, then buffers.
    let mut regions = [Region::default(); 5];
    let mut registers = [0u64; 5];
    let mut reg = 0usize;
    let mut cursor = 0usize;
    let mut next_input = 0usize;
    let mut put = |value: u64, reg: &mut usize| -> Result<(), Stop> {
        let slot = registers
            .get_mut(*reg)
            .ok_or_else(|| fault("syscall shape needs more than five registers"))?;
        *slot = value;
        *reg = reg.saturating_add(1);
        Ok(())
    };
    let address = |offset: usize| SCRATCH_BASE.saturating_add(offset as u64);
    for (index, arg) in sig.args.iter().enumerate() {
        let take_region = |len: usize, cursor: &mut usize| -> Result<Region, Stop> {
            let region = Region {
                offset: *cursor,
                len,
            };
            *cursor = cursor
                .checked_add(len)
                .ok_or_else(|| fault("scratch size overflow"))?;
            Ok(region)
        };
        match arg {
            Bytes | Hash | Int => {
                let value = inputs
                    .get(next_input)
                    .ok_or_else(|| fault("syscall input missing"))?;
                next_input = next_input.saturating_add(1);
                if *arg == Int {
                    let v = value.as_u64().ok_or_else(|| {
                        bad_arg(
                            sig,
                            index,
                            format!(
                                "expected an integer that fits u64, found {}",
                                value.type_name()
                            ),
                        )
                    })?;
                    put(v, &mut reg)?;
                    continue;
                }
                let bytes = match value {
                    ValueCell::Bytes(b) => b.as_slice(),
                    ValueCell::String(s) => s.as_bytes(),
                    other => {
                        return Err(bad_arg(
                            sig,
                            index,
                            format!("expected bytes, found {}", other.type_name()),
                        ));
                    }
                };
                if *arg == Hash && bytes.len() != 32 {
                    return Err(bad_arg(
                        sig,
                        index,
                        format!("expected 32 bytes, found {}", bytes.len()),
                    ));
                }
                let r = take_region(bytes.len(), &mut cursor)?;
                if let Some(slot) = regions.get_mut(index) {
                    *slot = r;
                }
                put(address(r.offset), &mut reg)?;
                if *arg == Bytes {
                    put(bytes.len() as u64, &mut reg)?;
                }
            }
            Out32 | OutU64 | OutCap(_) => {
                let len = match arg {
                    Out32 => 32,
                    OutU64 => 8,
                    OutCap(Cap::Input) => host.input().len().min(MAX_BYTES_LEN),
                    _ => usize::try_from(MAX_VALUE_LEN).unwrap_or(MAX_BYTES_LEN),
                };
                let r = take_region(len, &mut cursor)?;
                if let Some(slot) = regions.get_mut(index) {
                    *slot = r;
                }
                put(address(r.offset), &mut reg)?;
                if matches!(arg, OutCap(_)) {
                    put(len as u64, &mut reg)?;
                }
            }
        }
    }

    // Copy the byte inputs in. The buffer only grows, so out-buffers may hold stale bytes;
    // only what the body wrote is ever read back.
    if scratch.len() < cursor {
        scratch.resize(cursor, 0);
    }
    let mut next_input = 0usize;
    for (index, arg) in sig.args.iter().enumerate() {
        if !matches!(arg, Bytes | Hash | Int) {
            continue;
        }
        let value = inputs.get(next_input);
        next_input = next_input.saturating_add(1);
        let bytes = match value {
            Some(ValueCell::Bytes(b)) => b.as_slice(),
            Some(ValueCell::String(s)) => s.as_bytes(),
            _ => continue,
        };
        let r = regions.get(index).copied().unwrap_or_default();
        let end = r.offset.saturating_add(r.len);
        scratch
            .get_mut(r.offset..end)
            .ok_or_else(|| fault("scratch region out of range"))?
            .copy_from_slice(bytes);
    }
    stack.truncate(first);

    let used = scratch
        .get_mut(..cursor)
        .ok_or_else(|| fault("scratch shorter than its layout"))?;
    let mut memory = SliceMemory::new(SCRATCH_BASE, used, true);
    let result = invoke(
        bound.def,
        &mut SyscallCtx {
            host,
            memory: &mut memory,
            gas: &mut *gas,
        },
        registers,
    );
    let result = match result {
        Ok(v) => v,
        Err(e) => {
            return Err(match e.into_trap(bound.def.name, crate::ENGINE_NAME) {
                Ok(trap) => Stop::Trap(trap),
                Err(f) => Stop::Fault(f),
            });
        }
    };

    for (index, arg) in sig.args.iter().enumerate() {
        let r = regions.get(index).copied().unwrap_or_default();
        let len = match arg {
            Out32 | OutU64 => r.len,
            OutCap(Cap::StorageValue) if result == ABSENT => {
                stack.push(ValueCell::Null);
                continue;
            }
            OutCap(_) => usize::try_from(result).map_or(r.len, |n| n.min(r.len)),
            _ => continue,
        };
        let end = r.offset.saturating_add(len);
        let bytes = scratch
            .get(r.offset..end)
            .ok_or_else(|| fault("scratch region out of range"))?;
        if *arg == OutU64 {
            let arr = <[u8; 8]>::try_from(bytes).map_err(|_| fault("u64 out-buffer"))?;
            stack.push(ValueCell::U64(u64::from_le_bytes(arr)));
        } else {
            gas.consume(words(len as u64))
                .map_err(|_| Stop::Trap(Trap::OutOfGas))?;
            stack.push(ValueCell::Bytes(bytes.to_vec()));
        }
    }
    stack.push(ValueCell::U64(result));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_of_the_table_has_a_legacy_shape_of_its_arity() {
        let table = tos_syscalls::SyscallTable::global().unwrap();
        for def in table.iter() {
            let sig =
                signature(def.name).unwrap_or_else(|| panic!("{} has no legacy shape", def.name));
            assert_eq!(sig.registers(), usize::from(def.arity), "{}", def.name);
        }
        for sig in SIGNATURES {
            assert!(
                table.by_name(sig.name).is_some(),
                "{} is not in the table",
                sig.name
            );
        }
    }
}
