//! Validation: a [`Module`] becomes a [`Program`] once, when it is prepared.
//!
//! Every chunk is decoded into [`Instr`]s; every operand is checked (constant, chunk and
//! local ids in range, jump targets on instruction boundaries, syscalls live under the
//! feature set and given a legacy shape); jump targets become instruction indices and
//! syscall ids indices into the program's bound syscalls; and an abstract interpretation of
//! stack heights proves that no instruction pops below its frame, that every path reaching an
//! instruction agrees on the height, that `ret` leaves exactly the chunk's results, that
//! control never runs off the end of a chunk, and computes each chunk's peak height. The
//! interpreter relies on all of it and checks none of it again per instruction.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use std::collections::BTreeSet;

use tos_engine_api::{EntryTable, Gas, LoadError, ModuleInfo, Protocol};
use tos_syscalls::SyscallTable;

use crate::Module;
use crate::limits::MAX_STACK_SIZE;
use crate::opcode::{DecodeError, Effect, Instr, Opcode};
use crate::syscall::{Bound, Signature};

/// A validated chunk.
#[derive(Debug)]
pub(crate) struct CompiledChunk {
    pub(crate) args: u8,
    pub(crate) rets: u8,
    pub(crate) locals: u8,
    /// Peak operand stack height above the frame's base.
    pub(crate) max_height: usize,
    /// Instructions; jump targets are instruction indices, syscall operands indices into
    /// [`Program::syscalls`].
    pub(crate) code: Vec<Instr>,
    /// Byte offset of each instruction, for error messages.
    pub(crate) offsets: Vec<u16>,
}

/// A validated module, ready to run any number of times.
#[derive(Debug)]
pub(crate) struct Program {
    pub(crate) module: Module,
    pub(crate) chunks: Vec<CompiledChunk>,
    /// Gas charged for copying each constant: `words(heap_size)` times the word cost.
    pub(crate) const_cost: Vec<u64>,
    pub(crate) syscalls: Vec<Bound>,
    pub(crate) info: ModuleInfo,
    /// The costs of the gas schedule the program was prepared under.
    pub(crate) costs: Costs,
}

/// The gas-schedule name of the cost of each started 8-byte word of a value created or copied.
pub(crate) const WORD_COST: &str = "legacy.word";
/// Its value in a network's first gas schedule.
pub(crate) const WORD_COST_V1: Gas = 1;

/// The gas-schedule name of an opcode's static cost: `legacy.op.<mnemonic>`.
pub(crate) fn op_cost_name(op: Opcode) -> String {
    format!("legacy.op.{}", op.name())
}

/// Every cost the legacy engine reads, with its version-1 value.
pub(crate) fn gas_costs() -> Vec<(String, Gas)> {
    Opcode::ALL
        .iter()
        .map(|op| (op_cost_name(*op), op.gas()))
        .chain([(WORD_COST.to_owned(), WORD_COST_V1)])
        .collect()
}

/// The legacy costs of one gas schedule, resolved once per prepared program.
#[derive(Clone, Debug)]
pub(crate) struct Costs {
    /// Static cost of each opcode, by opcode byte.
    pub(crate) op: [Gas; 256],
    /// Cost of each started 8-byte word of a value created or copied.
    pub(crate) word: Gas,
}

impl Costs {
    /// The costs of `protocol`'s gas schedule (each at its version-1 value where the schedule
    /// lacks it).
    pub(crate) fn of(protocol: &Protocol) -> Costs {
        let gas = protocol.gas();
        let mut op = [0; 256];
        for o in Opcode::ALL {
            op[*o as u8 as usize] = gas.cost_or(&op_cost_name(*o), o.gas());
        }
        Costs {
            op,
            word: gas.cost_or(WORD_COST, WORD_COST_V1),
        }
    }

    /// Gas for `bytes` bytes of values created or copied.
    #[inline]
    pub(crate) fn words(&self, bytes: u64) -> Gas {
        crate::vm::words(bytes).saturating_mul(self.word)
    }
}

fn verr(chunk: usize, offset: usize, msg: impl std::fmt::Display) -> LoadError {
    LoadError::Verification(format!("chunk {chunk} at offset {offset:#x}: {msg}"))
}

impl Program {
    /// Validates `module` against the syscalls `table` makes live under `protocol`.
    pub(crate) fn new(
        module: Module,
        table: &SyscallTable,
        protocol: &Protocol,
        code_size: usize,
    ) -> Result<Program, LoadError> {
        let active = table.active(protocol);
        let costs = Costs::of(protocol);
        let mut syscalls: Vec<Bound> = Vec::new();
        let mut chunks = Vec::with_capacity(module.chunks.len());

        for (ci, chunk) in module.chunks.iter().enumerate() {
            // Decode.
            let mut code = Vec::new();
            let mut offsets: Vec<u16> = Vec::new();
            let mut pos = 0usize;
            while pos < chunk.code.len() {
                let (instr, next) = Instr::decode(&chunk.code, pos).map_err(|e| match e {
                    DecodeError::BadOpcode(b) => verr(ci, pos, format!("unknown opcode {b:#04x}")),
                    DecodeError::Truncated => verr(ci, pos, "code ends inside an operand"),
                })?;
                let off = u16::try_from(pos)
                    .map_err(|_| verr(ci, pos, "chunk longer than the code limit"))?;
                code.push(instr);
                offsets.push(off);
                pos = next;
            }
            if code.is_empty() {
                return Err(LoadError::Verification(format!("chunk {ci} has no code")));
            }

            // Resolve operands.
            for (i, instr) in code.iter_mut().enumerate() {
                let at = offsets.get(i).copied().map_or(0, usize::from);
                match instr {
                    Instr::Const(id) if usize::from(*id) >= module.constants.len() => {
                        return Err(verr(
                            ci,
                            at,
                            format!(
                                "constant {id} does not exist (the pool has {})",
                                module.constants.len()
                            ),
                        ));
                    }
                    Instr::Load(l) | Instr::Store(l) if *l >= chunk.locals => {
                        return Err(verr(
                            ci,
                            at,
                            format!("local {l} does not exist (the chunk has {})", chunk.locals),
                        ));
                    }
                    Instr::Call(c) if usize::from(*c) >= module.chunks.len() => {
                        return Err(verr(
                            ci,
                            at,
                            format!(
                                "chunk {c} does not exist (the module has {})",
                                module.chunks.len()
                            ),
                        ));
                    }
                    Instr::Jmp(t) | Instr::JmpIf(t) | Instr::JmpIfNot(t) => {
                        let index = offsets.binary_search(t).map_err(|_| {
                            verr(ci, at, format!("jump target {t:#x} is not an instruction"))
                        })?;
                        *t = u16::try_from(index)
                            .map_err(|_| verr(ci, at, "too many instructions"))?;
                    }
                    Instr::Syscall(id) => {
                        let live = *active.get(*id).ok_or_else(|| {
                            LoadError::UnknownSyscall(match table.get(*id) {
                                Some(d) => format!("{} (not active)", d.name),
                                None => format!("{id:#010x}"),
                            })
                        })?;
                        let sig = Signature::of(live.def);
                        let index = match syscalls.iter().position(|b| b.live.def.id == live.def.id)
                        {
                            Some(i) => i,
                            None => {
                                syscalls.push(Bound { live, sig });
                                syscalls.len().saturating_sub(1)
                            }
                        };
                        *id =
                            u32::try_from(index).map_err(|_| verr(ci, at, "too many syscalls"))?;
                    }
                    _ => {}
                }
            }
            chunks.push(CompiledChunk {
                args: chunk.args,
                rets: chunk.rets,
                locals: chunk.locals,
                max_height: 0,
                code,
                offsets,
            });
        }

        // Stack heights, now that every chunk's signature and every syscall is known.
        for ci in 0..chunks.len() {
            let max = stack_heights(ci, &chunks, &syscalls)?;
            if let Some(c) = chunks.get_mut(ci) {
                c.max_height = max;
            }
        }

        let mut entries = EntryTable::default();
        let calls = module
            .entries
            .iter()
            .map(|(id, c)| (format!("entry {id}"), *c))
            .chain(
                module
                    .hooks
                    .iter()
                    .map(|(id, c)| (format!("hook {id}"), *c)),
            );
        for (what, c) in calls {
            let chunk = chunks.get(usize::from(c)).ok_or_else(|| {
                LoadError::Malformed(format!("{what} names chunk {c}, which does not exist"))
            })?;
            if chunk.args != 1 || chunk.rets != 0 {
                return Err(LoadError::Verification(format!(
                    "{what} runs chunk {c}, which takes {} arguments and returns {} values; \
                     entry and hook chunks take 1 (the params) and return none",
                    chunk.args, chunk.rets
                )));
            }
        }
        entries.entries = module.entries.keys().copied().collect();
        entries.hooks = module.hooks.keys().copied().collect();

        let imports: BTreeSet<String> = syscalls
            .iter()
            .map(|b| b.live.def.name.to_owned())
            .collect();
        let const_cost = module
            .constants
            .iter()
            .map(|c| costs.words(c.heap_size()))
            .collect();
        Ok(Program {
            module,
            chunks,
            const_cost,
            syscalls,
            costs,
            info: ModuleInfo {
                entries,
                imports: imports.into_iter().collect(),
                code_size,
            },
        })
    }
}

/// Checks the stack heights of chunk `ci` (see the module docs); returns its peak height.
fn stack_heights(
    ci: usize,
    chunks: &[CompiledChunk],
    syscalls: &[Bound],
) -> Result<usize, LoadError> {
    let Some(chunk) = chunks.get(ci) else {
        return Ok(0);
    };
    let n = chunk.code.len();
    let mut heights: Vec<Option<usize>> = vec![None; n];
    let mut work = vec![0usize];
    if let Some(h) = heights.get_mut(0) {
        *h = Some(0);
    }
    let mut max = 0usize;
    let at = |i: usize| chunk.offsets.get(i).copied().map_or(0, usize::from);

    while let Some(i) = work.pop() {
        let (Some(instr), Some(Some(h))) = (chunk.code.get(i), heights.get(i).copied()) else {
            continue;
        };
        let op = instr.opcode();
        let underflow = |need: usize| {
            verr(
                ci,
                at(i),
                format!(
                    "stack underflow: `{}` needs {need} values, the stack holds {h}",
                    op.name()
                ),
            )
        };
        let (pop, push) = match (op.effect(), instr) {
            (Effect::Fixed(p, q), _) => (usize::from(p), usize::from(q)),
            (_, Instr::Copy(d)) => {
                let need = usize::from(*d).saturating_add(1);
                if h < need {
                    return Err(underflow(need));
                }
                (0, 1)
            }
            (_, Instr::Swap(d)) => {
                let need = usize::from(*d).saturating_add(1);
                if h < need {
                    return Err(underflow(need));
                }
                (0, 0)
            }
            (_, Instr::ArrayNew(count)) => (usize::from(*count), 1),
            (_, Instr::Call(c)) => {
                let callee = chunks
                    .get(usize::from(*c))
                    .ok_or_else(|| verr(ci, at(i), format!("chunk {c} does not exist")))?;
                (usize::from(callee.args), usize::from(callee.rets))
            }
            (_, Instr::Syscall(s)) => {
                let b = usize::try_from(*s)
                    .ok()
                    .and_then(|s| syscalls.get(s))
                    .ok_or_else(|| verr(ci, at(i), "unbound syscall"))?;
                (b.sig.inputs(), b.sig.outputs().saturating_add(1))
            }
            (_, Instr::Ret()) => {
                if h != usize::from(chunk.rets) {
                    return Err(verr(
                        ci,
                        at(i),
                        format!(
                            "`ret` with {h} values on the stack; the chunk returns {}",
                            chunk.rets
                        ),
                    ));
                }
                continue;
            }
            _ => return Err(verr(ci, at(i), "no stack effect for this opcode")),
        };
        let Some(base) = h.checked_sub(pop) else {
            return Err(underflow(pop));
        };
        let after = base.saturating_add(push);
        max = max.max(after).max(h);
        if max > MAX_STACK_SIZE {
            return Err(verr(
                ci,
                at(i),
                format!("stack height exceeds the limit of {MAX_STACK_SIZE}"),
            ));
        }

        let mut succ: [Option<usize>; 2] = [None, None];
        match instr {
            Instr::Exit() | Instr::Abort() => {}
            Instr::Jmp(t) => succ[0] = Some(usize::from(*t)),
            Instr::JmpIf(t) | Instr::JmpIfNot(t) => {
                succ[0] = Some(usize::from(*t));
                succ[1] = Some(i.saturating_add(1));
            }
            _ => succ[0] = Some(i.saturating_add(1)),
        }
        for s in succ.into_iter().flatten() {
            let Some(slot) = heights.get_mut(s) else {
                return Err(verr(
                    ci,
                    at(i),
                    format!(
                        "control falls off the end of the chunk after `{}`",
                        op.name()
                    ),
                ));
            };
            match *slot {
                None => {
                    *slot = Some(after);
                    work.push(s);
                }
                Some(existing) if existing != after => {
                    return Err(verr(
                        ci,
                        at(s),
                        format!(
                            "paths reach this instruction with stack heights {existing} and {after}"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(max)
}
