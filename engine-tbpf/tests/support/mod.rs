//! Test support: a small writer of TBPF modules (ELF64 shared objects, SBPFv1 or SBPFv2) in
//! the shapes rbpf 0.8.5's loader accepts, from rbpf assembly, plus helpers that run a module
//! on the interpreter and the JIT, through the real host, and demand identical results.
//!
//! Assembly is rbpf's syntax with three additions handled here:
//! - `syscall NAME` imports syscall `NAME` (an `R_BPF_64_32` relocation against an undefined
//!   `.dynsym` symbol for SBPFv1; a static call for SBPFv2 unless `v2_syscall_relocs`);
//! - `call LABEL` becomes a pc-relative call, as linkers emit them;
//! - `addr rN, TARGET` loads the run-time address of `rodata+OFF`, `relro+OFF` or `fn:LABEL`
//!   (an `lddw` for SBPFv1, `mov32`+`hor64` for SBPFv2, with an `R_BPF_64_RELATIVE`
//!   relocation).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use solana_rbpf::{
    assembler::assemble,
    ebpf,
    program::{BuiltinProgram, FunctionRegistry},
    vm::{Config, TestContextObject},
};
use tos_engine_api::{
    Call, CallRequest, CallResult, ExecutionEngine, Hash, HostAbi, HostError, Outcome,
    PreparedModule,
};
use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
use tos_host::Host;
use tos_syscalls::murmur3_32;

/// SBPF version of a module.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sbpf {
    V1,
    V2,
}

/// An entry of `.data.rel.ro`.
#[derive(Clone, Debug)]
pub enum RelRo {
    /// Plain bytes.
    Bytes(Vec<u8>),
    /// A relocated pointer to a function (label) of `.text`.
    FnPtr(String),
}

/// A module to build.
#[derive(Clone, Debug)]
pub struct Module {
    pub version: Sbpf,
    pub asm: String,
    pub rodata: Vec<u8>,
    pub relro: Vec<RelRo>,
    /// `(symbol, label)` exported as global functions in `.dynsym` (e.g. `entry_0`).
    pub exports: Vec<(String, String)>,
    /// The label of the ELF entry point (exported as `entrypoint`); `None`: `e_entry` = 0.
    pub entry: Option<String>,
    /// A writable `.data` section with these bytes.
    pub writable_data: Option<Vec<u8>>,
    /// A `.bss` section of this size.
    pub bss: Option<u64>,
    /// For SBPFv2: import syscalls through relocations instead of static calls.
    pub v2_syscall_relocs: bool,
    /// Extra raw relocations: (instruction index in .text, type, symbol index).
    pub extra_relocs: Vec<(usize, u32, u32)>,
    /// Extra undefined symbols in `.dynsym` (imports that no instruction uses).
    pub extra_imports: Vec<String>,
    /// `e_machine`: `EM_BPF` (247) by default; Solana's toolchain writes `EM_SBPF` (263).
    pub machine: u16,
}

impl Module {
    pub fn new(version: Sbpf, asm: &str) -> Module {
        Module {
            version,
            asm: asm.to_owned(),
            rodata: Vec::new(),
            relro: Vec::new(),
            exports: Vec::new(),
            entry: Some("entrypoint".into()),
            writable_data: None,
            bss: None,
            v2_syscall_relocs: false,
            extra_relocs: Vec::new(),
            extra_imports: Vec::new(),
            machine: 247,
        }
    }
    pub fn rodata(mut self, bytes: &[u8]) -> Self {
        self.rodata = bytes.to_vec();
        self
    }
    pub fn relro(mut self, items: Vec<RelRo>) -> Self {
        self.relro = items;
        self
    }
    pub fn export(mut self, symbol: &str, label: &str) -> Self {
        self.exports.push((symbol.into(), label.into()));
        self
    }
    pub fn build(&self) -> Built {
        build(self)
    }
}

/// A built module and where things are in it.
#[derive(Clone, Debug)]
pub struct Built {
    pub bytes: Vec<u8>,
    pub text_offset: usize,
    pub text_vaddr: u64,
    pub shoff: usize,
    pub rel_offset: Option<usize>,
}

const EHDR: usize = 64;
const PHDR: usize = 56;
const SHDR: usize = 64;

enum Fix {
    Rodata(u64),
    Relro(u64),
    Func(String),
}

struct Sections {
    names: Vec<u8>,
}
impl Sections {
    fn name(&mut self, n: &str) -> u32 {
        let at = self.names.len() as u32;
        self.names.extend_from_slice(n.as_bytes());
        self.names.push(0);
        at
    }
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

/// Assembles the text and returns (bytes, labels, fixups, syscall names by pc).
type Assembled = (
    Vec<u8>,
    BTreeMap<String, usize>,
    Vec<(usize, Fix)>,
    BTreeMap<usize, String>,
);

fn assemble_text(m: &Module) -> Assembled {
    let mut src = String::new();
    let mut labels = BTreeMap::new();
    let mut fixes = Vec::new();
    let mut syscalls = BTreeMap::new();
    let mut pc = 0usize;
    for raw in m.asm.lines() {
        let line = raw.split("//").next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(label) = line.strip_suffix(':') {
            labels.insert(label.trim().to_owned(), pc);
            src.push_str(line);
            src.push('\n');
            continue;
        }
        if let Some(rest) = line.strip_prefix("addr ") {
            let (reg, target) = rest.split_once(',').expect("addr rN, target");
            let (reg, target) = (reg.trim(), target.trim());
            let fix = if let Some(off) = target.strip_prefix("rodata+") {
                Fix::Rodata(off.parse().unwrap())
            } else if let Some(off) = target.strip_prefix("relro+") {
                Fix::Relro(off.parse().unwrap())
            } else if let Some(label) = target.strip_prefix("fn:") {
                Fix::Func(label.to_owned())
            } else {
                panic!("bad addr target {target}")
            };
            fixes.push((pc, fix));
            match m.version {
                Sbpf::V1 => src.push_str(&format!("lddw {reg}, 0\n")),
                Sbpf::V2 => src.push_str(&format!("mov32 {reg}, 0\nhor64 {reg}, 0\n")),
            }
            pc += 2;
            continue;
        }
        if let Some(name) = line.strip_prefix("syscall ") {
            syscalls.insert(pc, name.trim().to_owned());
        }
        pc += if line.starts_with("lddw ") { 2 } else { 1 };
        src.push_str(line);
        src.push('\n');
    }
    let config = Config {
        enable_sbpf_v2: m.version == Sbpf::V2,
        ..Config::default()
    };
    let loader = Arc::new(BuiltinProgram::<TestContextObject>::new_loader(
        config,
        FunctionRegistry::default(),
    ));
    let exe = assemble::<TestContextObject>(&src, loader).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let text = exe.get_text_bytes().1.to_vec();
    assert_eq!(text.len(), pc * 8, "instruction count of\n{src}");
    (text, labels, fixes, syscalls)
}

fn build(m: &Module) -> Built {
    let v2 = m.version == Sbpf::V2;
    let base: u64 = if v2 { ebpf::MM_PROGRAM_START } else { 0 };
    let (mut text, labels, fixes, syscalls) = assemble_text(m);
    let label = |l: &str| *labels.get(l).unwrap_or_else(|| panic!("no label {l}"));

    // Symbols: null, imports, exports.
    let mut dynstr = vec![0u8];
    let str_at = |s: &str, dynstr: &mut Vec<u8>| {
        let at = dynstr.len() as u32;
        dynstr.extend_from_slice(s.as_bytes());
        dynstr.push(0);
        at
    };
    // (name offset, info, shndx, value)
    let mut syms: Vec<(u32, u8, u16, u64)> = vec![(0, 0, 0, 0)];
    let mut import_index: BTreeMap<String, u32> = BTreeMap::new();
    let needs_reloc = !v2 || m.v2_syscall_relocs;
    let mut import_names: Vec<String> = Vec::new();
    if needs_reloc {
        import_names.extend(syscalls.values().cloned());
    }
    import_names.extend(m.extra_imports.iter().cloned());
    for name in import_names {
        if import_index.contains_key(&name) {
            continue;
        }
        let at = str_at(&name, &mut dynstr);
        import_index.insert(name, syms.len() as u32);
        syms.push((at, 0x10, 0, 0)); // GLOBAL, NOTYPE, undefined
    }

    // Layout.
    let mut out = vec![0u8; EHDR + 2 * PHDR];
    align(&mut out, 8);
    let text_off = out.len();
    let text_vaddr = base + text_off as u64;
    // Patch calls now that the text's position is known.
    let mut relocs: Vec<(u64, u32, u32)> = Vec::new(); // (r_offset, type, sym)
    for pc in 0..text.len() / 8 {
        let at = pc * 8;
        if text[at] == ebpf::CALL_IMM {
            let src = text[at + 1] >> 4;
            let imm = i32::from_le_bytes(text[at + 4..at + 8].try_into().unwrap());
            if src == 1 {
                let rel = imm - (pc as i32 + 1);
                put_u32(&mut text, at + 4, rel as u32);
            } else if let Some(name) = syscalls.get(&pc) {
                assert_eq!(imm as u32, murmur3_32(name.as_bytes(), 0));
                if needs_reloc {
                    put_u32(&mut text, at + 4, u32::MAX);
                    relocs.push((text_vaddr + at as u64, 10, import_index[name]));
                }
            }
        }
    }
    out.extend_from_slice(&text);
    let text_size = text.len();
    align(&mut out, 8);
    let rodata_off = out.len();
    out.extend_from_slice(&m.rodata);
    let rodata_size = m.rodata.len();
    align(&mut out, 8);
    let relro_off = out.len();
    let mut relro_bytes = Vec::new();
    let mut relro_ptrs = Vec::new();
    for item in &m.relro {
        match item {
            RelRo::Bytes(b) => relro_bytes.extend_from_slice(b),
            RelRo::FnPtr(l) => {
                relro_ptrs.push((relro_bytes.len(), label(l)));
                relro_bytes.extend_from_slice(&[0; 8]);
            }
        }
    }
    for (at, pc) in &relro_ptrs {
        let fn_addr = text_vaddr + (*pc as u64) * 8;
        let stored = if v2 { fn_addr } else { fn_addr << 32 };
        put_u64(&mut relro_bytes, *at, stored);
        relocs.push((base + (relro_off + at) as u64, 8, 0));
    }
    out.extend_from_slice(&relro_bytes);
    let relro_size = relro_bytes.len();
    align(&mut out, 8);
    let data_off = out.len();
    if let Some(d) = &m.writable_data {
        out.extend_from_slice(d);
    }
    align(&mut out, 8);
    let bss_off = out.len();

    // Address fixups in text.
    for (pc, fix) in &fixes {
        let target = match fix {
            Fix::Rodata(o) => base + rodata_off as u64 + o,
            Fix::Relro(o) => base + relro_off as u64 + o,
            Fix::Func(l) => text_vaddr + label(l) as u64 * 8,
        };
        let at = text_off + pc * 8;
        put_u32(&mut out, at + 4, target as u32);
        put_u32(&mut out, at + 12, (target >> 32) as u32);
        relocs.push((text_vaddr + (pc * 8) as u64, 8, 0));
    }
    for (pc, ty, sym) in &m.extra_relocs {
        relocs.push((text_vaddr + (pc * 8) as u64, *ty, *sym));
    }

    // Exports (after the text position is known).
    let mut exports: Vec<(String, usize)> = m
        .exports
        .iter()
        .map(|(s, l)| (s.clone(), label(l)))
        .collect();
    if let Some(e) = &m.entry {
        exports.push(("entrypoint".into(), label(e)));
    }
    for (name, pc) in &exports {
        let at = str_at(name, &mut dynstr);
        syms.push((at, 0x12, 1, text_vaddr + *pc as u64 * 8)); // GLOBAL FUNC in .text
    }

    // .dynamic is written after the tables whose addresses it holds; reserve it first.
    let dyn_count = if relocs.is_empty() { 6 } else { 9 };
    let dynamic_off = out.len();
    out.extend(std::iter::repeat_n(0, dyn_count * 16));
    let dynsym_off = out.len();
    for (name, info, shndx, value) in &syms {
        let mut s = [0u8; 24];
        put_u32(&mut s, 0, *name);
        s[4] = *info;
        put_u16(&mut s, 6, *shndx);
        put_u64(&mut s, 8, *value);
        out.extend_from_slice(&s);
    }
    let dynstr_off = out.len();
    out.extend_from_slice(&dynstr);
    align(&mut out, 8);
    let rel_off = out.len();
    for (off, ty, sym) in &relocs {
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&((u64::from(*sym) << 32) | u64::from(*ty)).to_le_bytes());
    }
    let load_end = out.len();
    let mut dyns: Vec<(u64, u64)> = vec![
        (6, base + dynsym_off as u64), // DT_SYMTAB
        (5, base + dynstr_off as u64), // DT_STRTAB
        (10, dynstr.len() as u64),     // DT_STRSZ
        (11, 24),                      // DT_SYMENT
    ];
    if !relocs.is_empty() {
        dyns.push((17, base + rel_off as u64)); // DT_REL
        dyns.push((18, (relocs.len() * 16) as u64)); // DT_RELSZ
        dyns.push((19, 16)); // DT_RELENT
    }
    dyns.push((0x6fff_fffb, 0)); // DT_FLAGS_1 (ignored)
    dyns.push((0, 0)); // DT_NULL
    assert_eq!(dyns.len(), dyn_count);
    for (i, (t, v)) in dyns.iter().enumerate() {
        put_u64(&mut out, dynamic_off + i * 16, *t);
        put_u64(&mut out, dynamic_off + i * 16 + 8, *v);
    }

    // Section names and headers.
    let mut sn = Sections { names: vec![0] };
    struct Sh {
        name: u32,
        ty: u32,
        flags: u64,
        addr: u64,
        off: usize,
        size: usize,
        link: u32,
        info: u32,
        align: u64,
        entsize: u64,
    }
    let sh = |name, ty, flags, off: usize, size, link, info, entsize| Sh {
        name,
        ty,
        flags,
        addr: base + off as u64,
        off,
        size,
        link,
        info,
        align: 8,
        entsize,
    };
    let mut shdrs = vec![Sh {
        name: 0,
        ty: 0,
        flags: 0,
        addr: 0,
        off: 0,
        size: 0,
        link: 0,
        info: 0,
        align: 0,
        entsize: 0,
    }];
    shdrs.push(sh(sn.name(".text"), 1, 0x6, text_off, text_size, 0, 0, 0));
    if rodata_size > 0 {
        shdrs.push(sh(
            sn.name(".rodata"),
            1,
            0x2,
            rodata_off,
            rodata_size,
            0,
            0,
            0,
        ));
    }
    if relro_size > 0 {
        shdrs.push(sh(
            sn.name(".data.rel.ro"),
            1,
            0x3,
            relro_off,
            relro_size,
            0,
            0,
            0,
        ));
    }
    if let Some(d) = &m.writable_data {
        shdrs.push(sh(sn.name(".data"), 1, 0x3, data_off, d.len(), 0, 0, 0));
    }
    if let Some(size) = m.bss {
        shdrs.push(sh(sn.name(".bss"), 8, 0x3, bss_off, size as usize, 0, 0, 0));
    }
    let dynstr_index = shdrs.len() as u32 + 2;
    shdrs.push(sh(
        sn.name(".dynamic"),
        6,
        0x3,
        dynamic_off,
        dyn_count * 16,
        dynstr_index,
        0,
        16,
    ));
    let dynsym_index = shdrs.len() as u32;
    shdrs.push(sh(
        sn.name(".dynsym"),
        11,
        0x2,
        dynsym_off,
        syms.len() * 24,
        dynstr_index,
        1,
        24,
    ));
    shdrs.push(sh(
        sn.name(".dynstr"),
        3,
        0x2,
        dynstr_off,
        dynstr.len(),
        0,
        0,
        0,
    ));
    let rel_offset = if relocs.is_empty() {
        None
    } else {
        shdrs.push(sh(
            sn.name(".rel.dyn"),
            9,
            0x2,
            rel_off,
            relocs.len() * 16,
            dynsym_index,
            0,
            16,
        ));
        Some(rel_off)
    };
    let shstr_name = sn.name(".shstrtab");
    let shstr_off = out.len();
    out.extend_from_slice(&sn.names);
    shdrs.push(Sh {
        name: shstr_name,
        ty: 3,
        flags: 0,
        addr: 0,
        off: shstr_off,
        size: sn.names.len(),
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    align(&mut out, 8);
    let shoff = out.len();
    for s in &shdrs {
        let mut b = [0u8; SHDR];
        put_u32(&mut b, 0, s.name);
        put_u32(&mut b, 4, s.ty);
        put_u64(&mut b, 8, s.flags);
        put_u64(&mut b, 16, s.addr);
        put_u64(&mut b, 24, s.off as u64);
        put_u64(&mut b, 32, s.size as u64);
        put_u32(&mut b, 40, s.link);
        put_u32(&mut b, 44, s.info);
        put_u64(&mut b, 48, s.align);
        put_u64(&mut b, 56, s.entsize);
        out.extend_from_slice(&b);
    }

    // ELF header.
    out[0..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // ELFCLASS64
    out[5] = 1; // little-endian
    out[6] = 1; // EV_CURRENT
    put_u16(&mut out, 16, 3); // ET_DYN
    put_u16(&mut out, 18, m.machine); // EM_BPF unless set
    put_u32(&mut out, 20, 1);
    let entry = m
        .entry
        .as_ref()
        .map_or(0, |e| text_vaddr + label(e) as u64 * 8);
    put_u64(&mut out, 24, entry);
    put_u64(&mut out, 32, EHDR as u64); // e_phoff
    put_u64(&mut out, 40, shoff as u64);
    put_u32(&mut out, 48, if v2 { 0x20 } else { 0 });
    put_u16(&mut out, 52, EHDR as u16);
    put_u16(&mut out, 54, PHDR as u16);
    put_u16(&mut out, 56, 2);
    put_u16(&mut out, 58, SHDR as u16);
    put_u16(&mut out, 60, shdrs.len() as u16);
    put_u16(&mut out, 62, shdrs.len() as u16 - 1);
    // PT_LOAD over everything loadable, PT_DYNAMIC.
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
    ph(&mut out, 0, 1, 7, 0, load_end);
    ph(&mut out, 1, 2, 6, dynamic_off, dyn_count * 16);

    Built {
        bytes: out,
        text_offset: text_off,
        text_vaddr,
        shoff,
        rel_offset,
    }
}

// ---------------------------------------------------------------------------------------------
// Running.

/// An engine with the JIT on or off and otherwise default settings.
pub fn engine(jit: bool) -> TbpfEngine {
    let mut c = TbpfConfig::default();
    c.set_jit(jit);
    TbpfEngine::new(c).unwrap()
}

/// Interpreter and JIT engines (the JIT only where it exists).
pub fn engines() -> Vec<(&'static str, TbpfEngine)> {
    let mut v = vec![("interpreter", engine(false))];
    if cfg!(all(target_arch = "x86_64", not(target_os = "windows"))) {
        v.push(("jit", engine(true)));
    }
    v
}

/// The real host (devnet schedule), shared by every test of a binary.
pub static HOST: LazyLock<&'static Host> = LazyLock::new(tos_host::testing::shared_devnet_host);

pub use tos_host::testing::World;

/// A fault to inject into the real host ([`Tampered`]).
#[derive(Clone, Debug)]
pub enum Tamper {
    /// `input()` answers these bytes instead of the call's input: a host bug.
    Input(Vec<u8>),
    /// `log` fails with a fault of the node (a dying disk) with this message.
    FailLog(&'static str),
    /// `block_height` panics with this message.
    PanicHeight(&'static str),
}

/// The real host with one fault injected, everything else delegated to it: for tests of how
/// an engine reports a broken node. No rule of the chain lives here.
pub struct Tampered<'h> {
    /// The real host.
    pub host: &'h mut dyn HostAbi,
    /// What is broken.
    pub tamper: Tamper,
}

impl HostAbi for Tampered<'_> {
    fn input(&self) -> &[u8] {
        match &self.tamper {
            Tamper::Input(input) => input,
            _ => self.host.input(),
        }
    }
    fn contract_hash(&self) -> Hash {
        self.host.contract_hash()
    }
    fn tx_hash(&self) -> Hash {
        self.host.tx_hash()
    }
    fn tx_source(&self) -> Hash {
        self.host.tx_source()
    }
    fn block_hash(&self) -> Hash {
        self.host.block_hash()
    }
    fn block_height(&self) -> u64 {
        match &self.tamper {
            Tamper::PanicHeight(why) => panic!("{why}"),
            _ => self.host.block_height(),
        }
    }
    fn block_timestamp(&self) -> u64 {
        self.host.block_timestamp()
    }
    fn caller(&self) -> Hash {
        self.host.caller()
    }
    fn call_deposit(&self, a: &Hash) -> u64 {
        self.host.call_deposit(a)
    }
    fn call(&mut self, r: &CallRequest, g: u64) -> Result<CallResult, HostError> {
        self.host.call(r, g)
    }
    fn last_return_data(&self) -> Option<&[u8]> {
        self.host.last_return_data()
    }
    fn log(&mut self, m: &[u8]) -> Result<(), HostError> {
        match &self.tamper {
            Tamper::FailLog(why) => Err(HostError::Fault((*why).into())),
            _ => self.host.log(m),
        }
    }
    fn set_return_data(&mut self, d: Vec<u8>) -> Result<(), HostError> {
        self.host.set_return_data(d)
    }
    fn take_return_data(&mut self) -> Vec<u8> {
        self.host.take_return_data()
    }
    fn storage_load(&mut self, k: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        self.host.storage_load(k)
    }
    fn storage_store(&mut self, k: Vec<u8>, v: Vec<u8>) -> Result<(), HostError> {
        self.host.storage_store(k, v)
    }
    fn storage_delete(&mut self, k: &[u8]) -> Result<bool, HostError> {
        self.host.storage_delete(k)
    }
    fn balance(&mut self, a: &Hash) -> Result<u64, HostError> {
        self.host.balance(a)
    }
    fn transfer(&mut self, t: &Hash, a: &Hash, n: u64) -> Result<bool, HostError> {
        self.host.transfer(t, a, n)
    }
    fn burn(&mut self, a: &Hash, n: u64) -> Result<bool, HostError> {
        self.host.burn(a, n)
    }
    fn asset_create(&mut self, n: &[u8], d: u8) -> Result<(Hash, bool), HostError> {
        self.host.asset_create(n, d)
    }
    fn asset_mint(&mut self, a: &Hash, n: u64) -> Result<bool, HostError> {
        self.host.asset_mint(a, n)
    }
    fn fire_event(&mut self, i: u64, d: &[u8]) -> Result<(), HostError> {
        self.host.fire_event(i, d)
    }
}

/// Prepares `code` on every engine and runs `call`, starting each run from a clone of
/// `world`; asserts that every engine gives the same outcome and the same effects (state and
/// frame), and returns them.
pub fn run_all(
    code: &[u8],
    call: Call,
    params: &[u8],
    world: &World,
    gas: u64,
) -> (Outcome, World) {
    let mut results: Vec<(&str, Outcome, World)> = Vec::new();
    for (name, engine) in engines() {
        let module = engine
            .prepare(code, &tos_syscalls::testing::abi_v1())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut w = world.clone();
        let outcome = w
            .run(&*module, call, params, gas)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        results.push((name, outcome, w));
    }
    let (first_name, first, first_world) = results.remove(0);
    for (name, outcome, w) in &results {
        assert_eq!(
            &first, outcome,
            "{first_name} and {name} disagree on the outcome"
        );
        assert_eq!(
            first_world.state, w.state,
            "{first_name} and {name} disagree on the state"
        );
        assert_eq!(
            first_world.last, w.last,
            "{first_name} and {name} disagree on events, logs or transfers"
        );
    }
    (first, first_world)
}

/// `run_all` in a fresh world.
pub fn run(code: &[u8], call: Call, params: &[u8], gas: u64) -> (Outcome, World) {
    run_all(code, call, params, &World::default(), gas)
}

/// Prepares on the default (interpreter) engine.
pub fn prepare(code: &[u8]) -> Result<Arc<dyn PreparedModule>, tos_engine_api::LoadError> {
    engine(false).prepare(code, &tos_syscalls::testing::abi_v1())
}
