//! Adversarial TBPF modules: the shapes of the TBPF security review, built by code.
//!
//! Every module is an ELF64 shared object written by the small writer below (SBPFv1 unless a
//! case says otherwise), sized against the engine's default limits: a 1 MiB module, at most
//! 16 program headers, 65,536 relocations (`TbpfEngine::MAX_*`). Deploy cases (`call: None`)
//! time `prepare`, whether it accepts or refuses; call cases are deployable modules whose call
//! does what the review feared was cheap.

use tos_engine_api::{Call, ModuleTag};

use crate::Case;

/// The default module size limit of the TBPF engine (1 MiB).
pub const MAX_MODULE_SIZE: usize = 1024 * 1024;
/// The engine's limit on program headers (`TbpfEngine::MAX_PROGRAM_HEADERS`).
pub const MAX_PROGRAM_HEADERS: usize = 16;
/// The engine's limit on relocations (`TbpfEngine::MAX_RELOCATIONS`).
pub const MAX_RELOCATIONS: usize = 64 * 1024;
/// The engine's limit on dynamic symbols (`TbpfEngine::MAX_DYNAMIC_SYMBOLS`).
pub const MAX_DYNAMIC_SYMBOLS: usize = 16 * 1024;
/// The engine's limit on functions (`TbpfEngine::MAX_FUNCTIONS`).
pub const MAX_FUNCTIONS: usize = 8 * 1024;
/// The largest storage value (`tos_syscalls::limits::MAX_VALUE_LEN`).
const MAX_VALUE_LEN: usize = 64 * 1024;

/// Every adversarial tbpf case.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "tbpf.max_relocations_x_program_headers".into(),
            what: "the most relocations and program headers in 1 MiB, each relocation's \
                   address looked up through every program header (SBPFv2)",
            tag: ModuleTag::TBPF,
            code: max_relocations(true),
            call: None,
        },
        Case {
            name: "tbpf.max_relocations_v1".into(),
            what: "the most call relocations in 1 MiB, each applied by rbpf (a loadable SBPFv1 \
                   module)",
            tag: ModuleTag::TBPF,
            code: max_relocations(false),
            call: None,
        },
        Case {
            name: "tbpf.max_dynamic_symbols".into(),
            what: "the most dynamic symbols the limit allows, each a function named by a call \
                   relocation",
            tag: ModuleTag::TBPF,
            code: max_dynamic_symbols(),
            call: None,
        },
        Case {
            name: "tbpf.fall_through".into(),
            what: "a last instruction that falls through past .text, once a way to opt out of \
                   the JIT into the 50x slower interpreter",
            tag: ModuleTag::TBPF,
            code: fall_through(),
            call: None,
        },
        Case {
            name: "tbpf.max_text_jit".into(),
            what: "the largest .text 1 MiB allows, of the instructions the JIT spends most on \
                   (memory accesses and branches)",
            tag: ModuleTag::TBPF,
            code: max_text(TextShape::Mixed),
            call: None,
        },
        Case {
            name: "tbpf.max_functions_jit".into(),
            what: "a 1 MiB .text of calls only: the most functions the limit allows, then calls \
                   to one function (the most call sequences for the JIT to compile)",
            tag: ModuleTag::TBPF,
            code: max_text(TextShape::MaxFunctions),
            call: None,
        },
        Case {
            name: "tbpf.input_cap_0".into(),
            what: "tos_get_input with cap 0 on a 64 KiB input, 100,000 times: once a 64 KiB \
                   copy for the base cost",
            tag: ModuleTag::TBPF,
            code: input_cap_zero(100_000),
            call: Some((Call::Entry(0), vec![0xA5; MAX_VALUE_LEN])),
        },
        Case {
            name: "tbpf.storage_load_cap_0".into(),
            what: "stores a 64 KiB value from the input, then loads it with cap 0 100 times: \
                   once a 64 KiB clone by the host for the base cost",
            tag: ModuleTag::TBPF,
            code: storage_load_cap_zero(100),
            call: Some((Call::Entry(0), vec![0x5A; MAX_VALUE_LEN])),
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// The modules.

/// `.text` of `call <syscall>; exit` (relocated) and as many `R_BPF_64_32` relocations of that
/// call as fit in 1 MiB, with [`MAX_PROGRAM_HEADERS`] program headers, the loadable one last
/// (so finding the segment of an address walks them all).
pub fn max_relocations(v2: bool) -> Vec<u8> {
    let mut elf = ElfSpec::new(v2);
    elf.text = [
        call_imm(-1),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]
    .concat();
    elf.imports.push("tos_get_block_height".into());
    elf.program_headers = MAX_PROGRAM_HEADERS;
    elf.load_last = true;
    elf.relocs.push((0, R_BPF_64_32, 1));
    let room = MAX_MODULE_SIZE
        .saturating_sub(elf.build().len())
        .saturating_sub(64);
    let n = (room / REL_SIZE).min(MAX_RELOCATIONS);
    elf.relocs = vec![(0, R_BPF_64_32, 1); n];
    let code = elf.build();
    debug_assert!(code.len() <= MAX_MODULE_SIZE);
    code
}

/// The most dynamic symbols the engine accepts (16,384): defined functions with distinct
/// names as long as 1 MiB allows, each the target of a call relocation (so rbpf hashes and
/// registers every one).
pub fn max_dynamic_symbols() -> Vec<u8> {
    let mut elf = ElfSpec::new(false);
    elf.text = [
        call_imm(-1),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]
    .concat();
    let count = MAX_DYNAMIC_SYMBOLS - 2; // the null symbol and `entrypoint` complete it
    // Each symbol takes 24 bytes, a 16-byte relocation and its name with a terminator.
    let name_len = (MAX_MODULE_SIZE - 4096) / MAX_DYNAMIC_SYMBOLS - SYM - REL_SIZE - 1;
    for i in 0..count {
        elf.defined
            .push((format!("f{i:0>width$}", width = name_len - 1), 0));
        elf.relocs.push((0, R_BPF_64_32, (i + 1) as u32));
    }
    let code = elf.build();
    debug_assert!(code.len() <= MAX_MODULE_SIZE, "{}", code.len());
    code
}

/// `mov64 r0, 1; mov64 r0, 2`: the last instruction falls through past `.text`.
pub fn fall_through() -> Vec<u8> {
    let mut elf = ElfSpec::new(false);
    elf.text = [insn(MOV64_IMM, 0, 0, 0, 1), insn(MOV64_IMM, 0, 0, 0, 2)].concat();
    elf.build()
}

/// What fills a [`max_text`] module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextShape {
    /// Memory loads and stores (address translation) and conditional branches.
    Mixed,
    /// Calls only: `call +0` ([`MAX_FUNCTIONS`] - 1 times, each registering a new function),
    /// then calls to the last instruction.
    MaxFunctions,
    /// Calls only, every one to the last instruction (one function).
    CallsToOne,
    /// SBPFv2 static syscalls (`tos_get_block_height`) only.
    StaticSyscalls,
    /// One instruction repeated.
    Repeat([u8; 8]),
}

/// The largest `.text` a 1 MiB module holds, filled with `shape`, ending with `exit`.
pub fn max_text(shape: TextShape) -> Vec<u8> {
    let mut elf = ElfSpec::new(shape == TextShape::StaticSyscalls);
    elf.text = insn(EXIT, 0, 0, 0, 0).to_vec();
    let overhead = elf.build().len();
    let n = (MAX_MODULE_SIZE - overhead - 64) / 8;
    let mut text = Vec::with_capacity(n * 8);
    // r10 is the frame pointer: memory accesses at r10-8 are valid at run time.
    let mixed = [
        insn(LDXDW, 1, 10, -8, 0),
        insn(STXDW, 10, 1, -16, 0),
        insn(JEQ_IMM, 1, 0, 0, 7),
        insn(ADD64_IMM, 1, 0, 0, 3),
    ];
    let last = n - 1;
    let to_last = |i: usize| call_imm((last - i - 1) as i32);
    for i in 0..last {
        let one = match shape {
            TextShape::Mixed => mixed[i % mixed.len()],
            TextShape::MaxFunctions if i < MAX_FUNCTIONS - 2 => call_imm(0),
            TextShape::MaxFunctions | TextShape::CallsToOne => to_last(i),
            TextShape::StaticSyscalls => insn(
                CALL_IMM,
                0,
                0,
                0,
                murmur3_32(b"tos_get_block_height") as i32,
            ),
            TextShape::Repeat(one) => one,
        };
        text.extend_from_slice(&one);
    }
    text.extend_from_slice(&insn(EXIT, 0, 0, 0, 0));
    elf.text = text;
    let code = elf.build();
    debug_assert!(code.len() <= MAX_MODULE_SIZE, "{}", code.len());
    code
}

/// Calls `tos_get_input(r10 - 8, 0)` `times` times, then exits with 0.
pub fn input_cap_zero(times: i32) -> Vec<u8> {
    let mut elf = ElfSpec::new(false);
    elf.imports.push("tos_get_input".into());
    elf.text = [
        insn(MOV64_IMM, 6, 0, 0, times),
        // loop:
        insn(MOV64_REG, 1, 10, 0, 0),
        insn(ADD64_IMM, 1, 0, 0, -8),
        insn(MOV64_IMM, 2, 0, 0, 0),
        call_imm(-1),
        insn(SUB64_IMM, 6, 0, 0, 1),
        insn(JNE_IMM, 6, 0, -6, 0),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]
    .concat();
    elf.relocs.push((4, R_BPF_64_32, 1));
    elf.build()
}

/// Stores the call's params (64 KiB) under key `k`, then calls
/// `tos_storage_load("k", r10 - 16, 0)` `times` times, then exits with 0.
pub fn storage_load_cap_zero(times: i32) -> Vec<u8> {
    let mut elf = ElfSpec::new(false);
    elf.imports.push("tos_storage_store".into());
    elf.imports.push("tos_storage_load".into());
    elf.text = [
        insn(MOV64_REG, 7, 1, 0, 0),
        insn(ST_B_IMM, 10, 0, -8, i32::from(b'k')),
        insn(MOV64_REG, 1, 10, 0, 0),
        insn(ADD64_IMM, 1, 0, 0, -8),
        insn(MOV64_IMM, 2, 0, 0, 1),
        insn(MOV64_REG, 3, 7, 0, 0),
        insn(ADD64_IMM, 3, 0, 0, 8),
        insn(MOV64_IMM, 4, 0, 0, MAX_VALUE_LEN as i32),
        call_imm(-1), // 8: tos_storage_store
        insn(MOV64_IMM, 6, 0, 0, times),
        // loop (10):
        insn(MOV64_REG, 1, 10, 0, 0),
        insn(ADD64_IMM, 1, 0, 0, -8),
        insn(MOV64_IMM, 2, 0, 0, 1),
        insn(MOV64_REG, 3, 10, 0, 0),
        insn(ADD64_IMM, 3, 0, 0, -16),
        insn(MOV64_IMM, 4, 0, 0, 0),
        call_imm(-1), // 16: tos_storage_load
        insn(SUB64_IMM, 6, 0, 0, 1),
        insn(JNE_IMM, 6, 0, -9, 0),
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]
    .concat();
    elf.relocs.push((8, R_BPF_64_32, 1));
    elf.relocs.push((16, R_BPF_64_32, 2));
    elf.build()
}

// ---------------------------------------------------------------------------------------------
// Instructions.

const LDXDW: u8 = 0x79;
const STXDW: u8 = 0x7b;
const ST_B_IMM: u8 = 0x72;
const ADD64_IMM: u8 = 0x07;
const SUB64_IMM: u8 = 0x17;
const MOV64_IMM: u8 = 0xb7;
const MOV64_REG: u8 = 0xbf;
const JEQ_IMM: u8 = 0x15;
const JNE_IMM: u8 = 0x55;
const CALL_IMM: u8 = 0x85;
const EXIT: u8 = 0x95;

/// One 8-byte instruction.
pub fn insn(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = opc;
    b[1] = (src << 4) | (dst & 0x0f);
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

/// `call imm`: `-1` for a relocated call, else a pc-relative call (SBPFv1).
fn call_imm(imm: i32) -> [u8; 8] {
    insn(CALL_IMM, 0, 0, 0, imm)
}

/// murmur3-32 with seed 0: the id of a syscall (what SBPFv2 static calls carry).
pub fn murmur3_32(data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let k = u32::from_le_bytes([c[0], c[1], c[2], c[3]])
            .wrapping_mul(C1)
            .rotate_left(15)
            .wrapping_mul(C2);
        h = (h ^ k)
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut k = 0u32;
        for (i, b) in rest.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

// ---------------------------------------------------------------------------------------------
// A small ELF writer: what rbpf 0.8.5's loader and the engine accept.

const EHDR: usize = 64;
const PHDR: usize = 56;
const SHDR: usize = 64;
const SYM: usize = 24;
const REL_SIZE: usize = 16;
const R_BPF_64_32: u32 = 10;
const MM_PROGRAM_START: u64 = 0x1_0000_0000;

/// A module to write.
#[derive(Clone, Debug)]
struct ElfSpec {
    v2: bool,
    text: Vec<u8>,
    /// Undefined `.dynsym` symbols (syscall imports), indices 1.. in order.
    imports: Vec<String>,
    /// Defined function symbols `(name, pc)`, after the imports; `entrypoint` at pc 0 follows.
    defined: Vec<(String, usize)>,
    /// `(pc, type, symbol index)`; the offset is the instruction's (file offset for SBPFv1,
    /// address for SBPFv2).
    relocs: Vec<(usize, u32, u32)>,
    /// Program headers in all: a `PT_LOAD`, a `PT_DYNAMIC`, the rest `PT_NULL`.
    program_headers: usize,
    /// Whether the `PT_LOAD` comes last.
    load_last: bool,
}

impl ElfSpec {
    fn new(v2: bool) -> Self {
        ElfSpec {
            v2,
            text: Vec::new(),
            imports: Vec::new(),
            defined: Vec::new(),
            relocs: Vec::new(),
            program_headers: 2,
            load_last: false,
        }
    }

    fn build(&self) -> Vec<u8> {
        let base = if self.v2 { MM_PROGRAM_START } else { 0 };
        let phnum = self.program_headers.max(2);
        let mut out = vec![0u8; EHDR + phnum * PHDR];
        align(&mut out, 8);
        let text_off = out.len();
        let text_addr = base + text_off as u64;
        out.extend_from_slice(&self.text);
        align(&mut out, 8);

        // Symbols and their names.
        let mut dynstr = vec![0u8];
        let mut syms: Vec<[u8; SYM]> = vec![[0; SYM]];
        let name = |s: &str, dynstr: &mut Vec<u8>| {
            let at = dynstr.len() as u32;
            dynstr.extend_from_slice(s.as_bytes());
            dynstr.push(0);
            at
        };
        for import in &self.imports {
            syms.push(sym(name(import, &mut dynstr), 0x10, 0, 0));
        }
        for (n, pc) in self
            .defined
            .iter()
            .map(|(n, pc)| (n.as_str(), *pc))
            .chain([("entrypoint", 0)])
        {
            let addr = text_addr + pc as u64 * 8;
            syms.push(sym(name(n, &mut dynstr), 0x12, 1, addr));
        }

        let dyn_count = if self.relocs.is_empty() { 5 } else { 8 };
        let dynamic_off = out.len();
        out.resize(out.len() + dyn_count * 16, 0);
        let dynsym_off = out.len();
        for s in &syms {
            out.extend_from_slice(s);
        }
        let dynstr_off = out.len();
        out.extend_from_slice(&dynstr);
        align(&mut out, 8);
        let rel_off = out.len();
        for (pc, ty, sym) in &self.relocs {
            let at = text_addr + *pc as u64 * 8;
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&((u64::from(*sym) << 32) | u64::from(*ty)).to_le_bytes());
        }
        let load_end = out.len();
        let mut dyns: Vec<(u64, u64)> = vec![
            (6, base + dynsym_off as u64), // DT_SYMTAB
            (5, base + dynstr_off as u64), // DT_STRTAB
            (10, dynstr.len() as u64),     // DT_STRSZ
            (11, SYM as u64),              // DT_SYMENT
        ];
        if !self.relocs.is_empty() {
            dyns.push((17, base + rel_off as u64)); // DT_REL
            dyns.push((18, (self.relocs.len() * REL_SIZE) as u64)); // DT_RELSZ
            dyns.push((19, REL_SIZE as u64)); // DT_RELENT
        }
        dyns.push((0, 0)); // DT_NULL
        for (i, (t, v)) in dyns.iter().enumerate() {
            put_u64(&mut out, dynamic_off + i * 16, *t);
            put_u64(&mut out, dynamic_off + i * 16 + 8, *v);
        }

        // Sections: null, .text, .dynamic, .dynsym, .dynstr, [.rel.dyn], .shstrtab.
        let mut names = vec![0u8];
        let mut sname = |s: &str| {
            let at = names.len() as u32;
            names.extend_from_slice(s.as_bytes());
            names.push(0);
            at
        };
        // (name, type, flags, offset, size, link, entsize)
        let mut shdrs: Vec<(u32, u32, u64, usize, usize, u32, u64)> = vec![(0, 0, 0, 0, 0, 0, 0)];
        shdrs.push((sname(".text"), 1, 0x6, text_off, self.text.len(), 0, 0));
        shdrs.push((
            sname(".dynamic"),
            6,
            0x3,
            dynamic_off,
            dyn_count * 16,
            4,
            16,
        ));
        shdrs.push((
            sname(".dynsym"),
            11,
            0x2,
            dynsym_off,
            syms.len() * SYM,
            4,
            24,
        ));
        shdrs.push((sname(".dynstr"), 3, 0x2, dynstr_off, dynstr.len(), 0, 0));
        if !self.relocs.is_empty() {
            let size = self.relocs.len() * REL_SIZE;
            shdrs.push((sname(".rel.dyn"), 9, 0x2, rel_off, size, 3, 16));
        }
        let shstr_name = sname(".shstrtab");
        let shstr_off = out.len();
        out.extend_from_slice(&names);
        shdrs.push((shstr_name, 3, 0, shstr_off, names.len(), 0, 0));
        align(&mut out, 8);
        let shoff = out.len();
        for (i, (name, ty, flags, off, size, link, entsize)) in shdrs.iter().enumerate() {
            let mut b = [0u8; SHDR];
            put_u32(&mut b, 0, *name);
            put_u32(&mut b, 4, *ty);
            put_u64(&mut b, 8, *flags);
            let loaded = i > 0 && *flags & 0x2 != 0;
            put_u64(&mut b, 16, if loaded { base + *off as u64 } else { 0 });
            put_u64(&mut b, 24, *off as u64);
            put_u64(&mut b, 32, *size as u64);
            put_u32(&mut b, 40, *link);
            put_u64(&mut b, 48, 8);
            put_u64(&mut b, 56, *entsize);
            out.extend_from_slice(&b);
        }

        // ELF header.
        out[0..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little-endian
        out[6] = 1; // EV_CURRENT
        put_u16(&mut out, 16, 3); // ET_DYN
        put_u16(&mut out, 18, 247); // EM_BPF
        put_u32(&mut out, 20, 1);
        put_u64(&mut out, 24, text_addr); // e_entry: the entrypoint, pc 0
        put_u64(&mut out, 32, EHDR as u64); // e_phoff
        put_u64(&mut out, 40, shoff as u64);
        put_u32(&mut out, 48, if self.v2 { 0x20 } else { 0 });
        put_u16(&mut out, 52, EHDR as u16);
        put_u16(&mut out, 54, PHDR as u16);
        put_u16(&mut out, 56, phnum as u16);
        put_u16(&mut out, 58, SHDR as u16);
        put_u16(&mut out, 60, shdrs.len() as u16);
        put_u16(&mut out, 62, shdrs.len() as u16 - 1);
        let (load, dynamic) = if self.load_last {
            (phnum - 1, phnum - 2)
        } else {
            (0, 1)
        };
        let ph = |out: &mut Vec<u8>, i: usize, ty: u32, flags: u32, off: usize, size: usize| {
            let at = EHDR + i * PHDR;
            put_u32(out, at, ty);
            put_u32(out, at + 4, flags);
            put_u64(out, at + 8, off as u64);
            put_u64(out, at + 16, base + off as u64);
            put_u64(out, at + 24, base + off as u64);
            put_u64(out, at + 32, size as u64);
            put_u64(out, at + 40, size as u64);
            put_u64(out, at + 48, 8);
        };
        ph(&mut out, load, 1, 7, 0, load_end); // PT_LOAD over everything loadable
        ph(&mut out, dynamic, 2, 6, dynamic_off, dyn_count * 16); // PT_DYNAMIC
        out
    }
}

fn sym(name: u32, info: u8, shndx: u16, value: u64) -> [u8; SYM] {
    let mut s = [0u8; SYM];
    put_u32(&mut s, 0, name);
    s[4] = info;
    put_u16(&mut s, 6, shndx);
    put_u64(&mut s, 8, value);
    s
}

fn align(v: &mut Vec<u8>, to: usize) {
    while !v.len().is_multiple_of(to) {
        v.push(0);
    }
}

fn put_u16(v: &mut [u8], at: usize, x: u16) {
    v[at..at + 2].copy_from_slice(&x.to_le_bytes());
}
fn put_u32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_le_bytes());
}
fn put_u64(v: &mut [u8], at: usize, x: u64) {
    v[at..at + 8].copy_from_slice(&x.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_fits_the_module_size_limit() {
        for case in cases() {
            assert!(case.code.len() <= MAX_MODULE_SIZE, "{}", case.name);
            assert!(case.name.starts_with("tbpf."));
        }
    }

    #[test]
    fn the_largest_cases_are_close_to_the_limit() {
        for code in [max_relocations(false), max_text(TextShape::Mixed)] {
            assert!(code.len() > MAX_MODULE_SIZE - 1024, "{}", code.len());
        }
    }
}
