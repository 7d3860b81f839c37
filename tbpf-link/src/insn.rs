//! BPF instruction encoding, the SBPFv1 instruction-set check, and the generated
//! entry dispatcher.

use crate::error::LinkError;

/// Size of one instruction slot.
pub(crate) const INSN: u64 = 8;

pub(crate) const OP_LDDW: u8 = 0x18;
pub(crate) const OP_CALL: u8 = 0x85;
pub(crate) const OP_CALLX: u8 = 0x8d;
pub(crate) const OP_EXIT: u8 = 0x95;
pub(crate) const OP_JA: u8 = 0x05;

const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

/// A decoded instruction slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Insn {
    pub opc: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// Decodes the slot at byte `at` of `code`; `None` if it does not fit.
    pub(crate) fn read(code: &[u8], at: u64) -> Option<Insn> {
        let start = usize::try_from(at).ok()?;
        let b = code.get(start..start.checked_add(8)?)?;
        Some(Insn {
            opc: b[0],
            dst: b[1] & 0xf,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Encodes the instruction.
    pub(crate) fn bytes(&self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opc,
            (self.src << 4) | (self.dst & 0xf),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    fn new(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            opc,
            dst,
            src,
            off,
            imm,
        }
    }
}

/// True for opcodes that SBPFv1 (as verified by solana-rbpf 0.8.5) accepts.
fn is_sbpf_v1_opcode(opc: u8) -> bool {
    matches!(
        opc,
        // lddw
        0x18
        // ldx{w,h,b,dw}, st{w,h,b,dw} imm, stx{w,h,b,dw}
        | 0x61 | 0x69 | 0x71 | 0x79
        | 0x62 | 0x6a | 0x72 | 0x7a
        | 0x63 | 0x6b | 0x73 | 0x7b
        // 32-bit ALU: add sub mul div or and lsh rsh (K and X), neg, mod xor mov arsh, le, be
        | 0x04 | 0x0c | 0x14 | 0x1c | 0x24 | 0x2c | 0x34 | 0x3c
        | 0x44 | 0x4c | 0x54 | 0x5c | 0x64 | 0x6c | 0x74 | 0x7c
        | 0x84 | 0x94 | 0x9c | 0xa4 | 0xac | 0xb4 | 0xbc | 0xc4 | 0xcc
        | 0xd4 | 0xdc
        // 64-bit ALU
        | 0x07 | 0x0f | 0x17 | 0x1f | 0x27 | 0x2f | 0x37 | 0x3f
        | 0x47 | 0x4f | 0x57 | 0x5f | 0x67 | 0x6f | 0x77 | 0x7f
        | 0x87 | 0x97 | 0x9f | 0xa7 | 0xaf | 0xb7 | 0xbf | 0xc7 | 0xcf
        // jumps, call, callx, exit
        | 0x05 | 0x15 | 0x1d | 0x25 | 0x2d | 0x35 | 0x3d | 0x45 | 0x4d
        | 0x55 | 0x5d | 0x65 | 0x6d | 0x75 | 0x7d | 0xa5 | 0xad | 0xb5 | 0xbd
        | 0xc5 | 0xcd | 0xd5 | 0xdd
        | 0x85 | 0x8d | 0x95
    )
}

fn unsupported_hint(opc: u8) -> &'static str {
    match opc {
        0xc3 | 0xdb => " (atomic memory operation)",
        0x20 | 0x28 | 0x30 | 0x40 | 0x48 | 0x50 => " (legacy packet load)",
        0x81 | 0x89 | 0x91 => " (sign-extending load from -mcpu=v4)",
        0xd7 => " (unconditional byte swap from -mcpu=v4)",
        _ => "",
    }
}

/// Where a code section came from, for error messages.
pub(crate) struct CodeSite<'a> {
    pub file: &'a str,
    pub section: &'a str,
}

impl CodeSite<'_> {
    pub(crate) fn bad(&self, offset: u64, reason: impl Into<String>) -> LinkError {
        LinkError::BadCode {
            file: self.file.to_string(),
            section: self.section.to_string(),
            offset,
            reason: reason.into(),
        }
    }
}

/// What [`check_code`] found that the linker must rewrite, as byte offsets in the section.
#[derive(Debug, Default)]
pub(crate) struct CodeFixups {
    /// `callx` instructions whose register must move from the `dst` field into `imm`
    /// (the SBPFv1 encoding).
    pub callx: Vec<u64>,
    /// Relocation-free `call -1`: calls of the instruction itself (a function whose first
    /// instruction calls the function). They need a relocation, see `DynReloc::LocalCall`.
    pub self_calls: Vec<u64>,
}

/// Checks that `code` is SBPFv1 code the linker can place anywhere: only v1 opcodes,
/// no JMP32, no ALU offset fields, `lddw` pairs complete, jumps and relocation-free
/// calls staying inside the section. `relocated_calls[i]` tells whether slot `i` is
/// a call that carries a relocation (and so may leave the section).
///
/// Returns what the linker must rewrite (see [`CodeFixups`]).
pub(crate) fn check_code(
    site: &CodeSite<'_>,
    code: &[u8],
    relocated_calls: &[bool],
) -> Result<CodeFixups, LinkError> {
    let len = code.len() as u64;
    if !len.is_multiple_of(INSN) {
        return Err(site.bad(
            len - len % INSN,
            format!("code section size {len} is not a multiple of 8"),
        ));
    }
    let slots = len / INSN;
    // Slots that hold the second half of an lddw; jumping there is an error.
    let mut second_half = vec![false; slots as usize];
    let mut fixups = CodeFixups::default();
    let mut i = 0u64;
    while i < slots {
        let at = i * INSN;
        let Some(insn) = Insn::read(code, at) else {
            return Err(site.bad(at, "truncated instruction"));
        };
        let class = insn.opc & 0x07;
        if class == CLASS_JMP32 {
            return Err(LinkError::Jmp32 {
                file: site.file.to_string(),
                section: site.section.to_string(),
                offset: at,
                opcode: insn.opc,
            });
        }
        if (class == CLASS_ALU || class == CLASS_ALU64) && insn.off != 0 {
            return Err(LinkError::AluOffset {
                file: site.file.to_string(),
                section: site.section.to_string(),
                offset: at,
                opcode: insn.opc,
                field: insn.off,
            });
        }
        if !is_sbpf_v1_opcode(insn.opc) {
            return Err(LinkError::UnsupportedInstruction {
                file: site.file.to_string(),
                section: site.section.to_string(),
                offset: at,
                opcode: insn.opc,
                hint: unsupported_hint(insn.opc).to_string(),
            });
        }
        match insn.opc {
            OP_LDDW => {
                if insn.src != 0 {
                    return Err(site.bad(at, format!("lddw with source register field {} (a map or BTF reference) is not supported", insn.src)));
                }
                let next = Insn::read(code, at + INSN)
                    .ok_or_else(|| site.bad(at, "lddw is missing its second slot"))?;
                if next.opc != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                    return Err(site.bad(at + INSN, "second slot of lddw is not empty"));
                }
                if let Some(flag) = second_half.get_mut((i + 1) as usize) {
                    *flag = true;
                }
                i += 2;
                continue;
            }
            OP_CALL => {
                let relocated = relocated_calls.get(i as usize).copied().unwrap_or(false);
                if !relocated {
                    if insn.imm == -1 {
                        // A function whose first instruction calls itself: the assembler
                        // resolved it to -1, which the SBPFv1 loader takes for "unresolved".
                        fixups.self_calls.push(at);
                        i += 1;
                        continue;
                    }
                    let target = i as i64 + 1 + i64::from(insn.imm);
                    if target < 0 || target >= slots as i64 {
                        return Err(site.bad(
                            at,
                            format!(
                                "call with immediate {} leaves its section and has no relocation",
                                insn.imm
                            ),
                        ));
                    }
                }
            }
            OP_CALLX => {
                let reg = if insn.imm == 0 && insn.dst != 0 {
                    // Newer LLVM encodes the register in the dst field; SBPFv1 reads imm.
                    fixups.callx.push(at);
                    i64::from(insn.dst)
                } else {
                    i64::from(insn.imm)
                };
                if !(0..=9).contains(&reg) {
                    return Err(site.bad(at, format!("callx through invalid register {reg}")));
                }
            }
            OP_EXIT => {}
            op if op & 0x07 == CLASS_JMP => {
                let target = i as i64 + 1 + i64::from(insn.off);
                if target < 0 || target >= slots as i64 {
                    return Err(
                        site.bad(at, format!("jump offset {} leaves the section", insn.off))
                    );
                }
            }
            _ => {}
        }
        i += 1;
    }
    // Second pass: no jump may land in the middle of an lddw.
    let mut i = 0u64;
    while i < slots {
        let at = i * INSN;
        let insn = Insn::read(code, at).ok_or_else(|| site.bad(at, "truncated instruction"))?;
        if insn.opc == OP_LDDW {
            i += 2;
            continue;
        }
        if insn.opc & 0x07 == CLASS_JMP && !matches!(insn.opc, OP_CALL | OP_CALLX | OP_EXIT) {
            let target = (i as i64 + 1 + i64::from(insn.off)) as usize;
            if second_half.get(target).copied().unwrap_or(false) {
                return Err(site.bad(at, "jump into the middle of an lddw"));
            }
        }
        i += 1;
    }
    Ok(fixups)
}

/// One dispatch target of the generated entrypoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    /// 0 = entry, 1 = hook (the input header's `kind`).
    pub kind: u8,
    /// The entry or hook id.
    pub id: u16,
    /// Address of the function (module byte offset).
    pub addr: u64,
}

/// Number of instruction slots of the dispatcher for `targets` targets.
pub(crate) fn dispatcher_slots(targets: usize) -> u64 {
    11 + 3 * targets as u64
}

/// Generates the dispatcher placed at `base` (module byte offset). It reads the input
/// header at r1 (`kind` u8 at 0, `id` u16 at 2, `len` u32 at 4), calls the matching
/// function as `f(r1 + 8, len)` and returns its r0, or returns u64::MAX when no target
/// matches. `targets` must be sorted by (kind, id).
pub(crate) fn dispatcher(base: u64, targets: &[Target]) -> Vec<u8> {
    // Layout (in slots):
    //   0..4   load header, r1 += 8
    //   4..6   jeq kind,0 -> entries ; jeq kind,1 -> hooks
    //   6      ja fail
    //   entries: one jeq per entry, then ja fail
    //   hooks:   one jeq per hook, then ja fail
    //   fail:  mov64 r0, -1 ; exit
    //   stubs: call f ; exit   (one per target)
    let entries: Vec<&Target> = targets.iter().filter(|t| t.kind == 0).collect();
    let hooks: Vec<&Target> = targets.iter().filter(|t| t.kind == 1).collect();
    let entries_at = 7i64;
    let hooks_at = entries_at + entries.len() as i64 + 1;
    let fail_at = hooks_at + hooks.len() as i64 + 1;
    let stubs_at = fail_at + 2;

    let mut prog: Vec<Insn> = vec![
        Insn::new(0x71, 5, 1, 0, 0), // ldxb r5, [r1+0]   kind
        Insn::new(0x69, 3, 1, 2, 0), // ldxh r3, [r1+2]   id
        Insn::new(0x61, 2, 1, 4, 0), // ldxw r2, [r1+4]   len
        Insn::new(0x07, 1, 0, 0, 8), // add64 r1, 8       params
    ];
    let jump = |from: i64, to: i64| (to - from - 1) as i16;
    prog.push(Insn::new(0x15, 5, 0, jump(4, entries_at), 0)); // jeq r5, 0
    prog.push(Insn::new(0x15, 5, 0, jump(5, hooks_at), 1)); // jeq r5, 1
    prog.push(Insn::new(OP_JA, 0, 0, jump(6, fail_at), 0));
    let mut stub = stubs_at;
    for group in [&entries, &hooks] {
        for t in group.iter() {
            let here = prog.len() as i64;
            prog.push(Insn::new(0x15, 3, 0, jump(here, stub), i32::from(t.id))); // jeq r3, id
            stub += 2;
        }
        let here = prog.len() as i64;
        prog.push(Insn::new(OP_JA, 0, 0, jump(here, fail_at), 0));
    }
    debug_assert_eq!(prog.len() as i64, fail_at);
    prog.push(Insn::new(0xb7, 0, 0, 0, -1)); // mov64 r0, -1 (sign-extended: u64::MAX)
    prog.push(Insn::new(OP_EXIT, 0, 0, 0, 0));
    for t in entries.iter().chain(hooks.iter()) {
        let here = prog.len() as u64;
        let pc_after = base + (here + 1) * INSN;
        // Targets precede the dispatcher and are 8-aligned, so this is exact.
        let rel = (t.addr as i64 - pc_after as i64) / INSN as i64;
        prog.push(Insn::new(OP_CALL, 0, 1, 0, rel as i32));
        prog.push(Insn::new(OP_EXIT, 0, 0, 0, 0));
    }
    debug_assert_eq!(prog.len() as u64, dispatcher_slots(targets.len()));
    prog.iter().flat_map(|i| i.bytes()).collect()
}
