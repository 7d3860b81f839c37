//! The legacy adapter of the one syscall table.
//!
//! The syscall opcode names a syscall by id; the definition, the cost and the body come from
//! `tos-syscalls`. The legacy VM has values, not memory, so the adapter lays the byte values
//! a syscall reads out in a per-call *scratch* memory (a [`SliceMemory`] at
//! [`SCRATCH_BASE`]), passes guest pointers into it, and turns what the body writes to its
//! out-pointers back into values. Which stack value or scratch buffer stands for each
//! argument register comes from the syscall's parameters as the one table declares them
//! ([`Param`]), so a syscall added in any crate works here without a word of this adapter.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use tos_engine_api::{EngineFault, GasMeter, HostAbi, SliceMemory, Trap};
use tos_syscalls::{LiveSyscall, OutSize, Param, SyscallDef, invoke};

use crate::ValueCell;
use crate::limits::{MAX_BYTES_LEN, SCRATCH_BASE};
use crate::program::Costs;
use crate::vm::Stop;

/// The legacy shape of one syscall: its parameters, as the one table declares them
/// ([`SyscallDef::params`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Signature {
    /// The syscall's name in the table.
    pub(crate) name: &'static str,
    /// Its parameters, in register order.
    pub(crate) args: &'static [Param],
}

impl Signature {
    /// The shape of `def`.
    pub(crate) fn of(def: &'static SyscallDef) -> Signature {
        Signature {
            name: def.name,
            args: def.params,
        }
    }

    /// Values popped from the stack.
    pub(crate) fn inputs(&self) -> usize {
        self.args.iter().filter(|a| a.is_input()).count()
    }

    /// Values pushed before the result.
    pub(crate) fn outputs(&self) -> usize {
        self.args.len().saturating_sub(self.inputs())
    }
}

use Param::*;

/// A syscall a module uses, resolved once at validation.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) live: LiveSyscall,
    pub(crate) sig: Signature,
}

/// What a syscall with an out-buffer returns when it has nothing to give (an absent key).
const ABSENT: u64 = tos_syscalls::ABSENT;

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
    costs: &Costs,
) -> Result<(), Stop> {
    let sig = &bound.sig;
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
            Bytes | Hash | Signature | U64 => {
                let value = inputs
                    .get(next_input)
                    .ok_or_else(|| fault("syscall input missing"))?;
                next_input = next_input.saturating_add(1);
                if *arg == U64 {
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
                let fixed = match arg {
                    Hash => Some(32),
                    Signature => Some(64),
                    _ => None,
                };
                if let Some(n) = fixed.filter(|n| bytes.len() != *n) {
                    return Err(bad_arg(
                        sig,
                        index,
                        format!("expected {n} bytes, found {}", bytes.len()),
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
            Out32 | OutU64 | OutBuf(_) => {
                let len = match arg {
                    Out32 => 32,
                    OutU64 => 8,
                    OutBuf(OutSize::Input) => host.input().len().min(MAX_BYTES_LEN),
                    OutBuf(OutSize::Max(n)) => {
                        usize::try_from(*n).map_or(MAX_BYTES_LEN, |n| n.min(MAX_BYTES_LEN))
                    }
                    _ => 0,
                };
                let r = take_region(len, &mut cursor)?;
                if let Some(slot) = regions.get_mut(index) {
                    *slot = r;
                }
                put(address(r.offset), &mut reg)?;
                if matches!(arg, OutBuf(_)) {
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
        if !arg.is_input() {
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
    let result = invoke(&bound.live, host, &mut memory, &mut *gas, registers);
    let result = match result {
        Ok(v) => v,
        Err(e) => {
            return Err(match e.into_trap(bound.live.def.name, crate::ENGINE_NAME) {
                Ok(trap) => Stop::Trap(trap),
                Err(f) => Stop::Fault(f),
            });
        }
    };

    for (index, arg) in sig.args.iter().enumerate() {
        let r = regions.get(index).copied().unwrap_or_default();
        let len = match arg {
            Out32 | OutU64 => r.len,
            OutBuf(_) if result == ABSENT => {
                stack.push(ValueCell::Null);
                continue;
            }
            OutBuf(_) => usize::try_from(result).map_or(r.len, |n| n.min(r.len)),
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
            gas.consume(costs.words(len as u64))
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
            let sig = Signature::of(def);
            let registers: usize = sig.args.iter().map(|a| usize::from(a.registers())).sum();
            assert_eq!(registers, usize::from(def.arity), "{}", def.name);
        }
    }
}
