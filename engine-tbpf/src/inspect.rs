//! The engine's own reading of a module's ELF, before rbpf sees it.
//!
//! rbpf refuses bad files too, but its errors do not always say which symbol or section is at
//! fault, and it knows nothing of the TOS entry table. This pass (goblin for the headers and
//! sections, plus the dynamic table read exactly the way rbpf 0.8.5 reads it) gives each
//! problem its own [`LoadError`] and collects the entry table and the imported syscalls.

use std::collections::BTreeSet;
use std::ops::Range;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::{
    Elf, header,
    program_header::{PT_DYNAMIC, PT_LOAD, ProgramHeader},
    section_header::{
        SHF_ALLOC, SHF_WRITE, SHT_DYNAMIC, SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB, SectionHeader,
    },
};
use goblin::strtab::Strtab;
use solana_rbpf::ebpf;
use tos_engine_api::{Call, EntryTable, LoadError};
use tos_syscalls::{ActiveSyscalls, SyscallTable, murmur3_32};

/// `e_flags` of an SBPFv2 module (rbpf's `EF_SBPF_V2`); SBPFv1 modules have 0.
const EF_SBPF_V2: u32 = 0x20;
/// `e_machine` of Solana's toolchain (`EM_SBPF`), which rbpf 0.8.5 accepts like `EM_BPF` (247):
/// Solana's LLVM and lld write it.
const EM_SBPF: u16 = 263;
/// Longest section name rbpf accepts, terminator excluded.
const MAX_SECTION_NAME: usize = 15;
/// Longest symbol name rbpf reads, terminator excluded.
const MAX_SYMBOL_NAME: usize = 63;
/// Syscalls of other runtimes that Solana's toolchain calls statically (SBPFv2: the murmur3 hash
/// of the name as immediate, no symbol in the file), known only to name them when a module
/// calls one: TOS defines none of them.
const FOREIGN_SYSCALLS: &[&str] = &[
    "abort",
    "log",
    "log_64",
    "sol_alloc_free_",
    "sol_get_clock_sysvar",
    "sol_get_rent_sysvar",
    "sol_get_return_data",
    "sol_invoke_signed_c",
    "sol_invoke_signed_rust",
    "sol_log_",
    "sol_log_64_",
    "sol_log_compute_units_",
    "sol_log_data",
    "sol_log_pubkey",
    "sol_memcmp_",
    "sol_memcpy_",
    "sol_memmove_",
    "sol_memset_",
    "sol_panic_",
    "sol_set_return_data",
    "sol_sha256",
];
/// Size of one instruction slot.
const INSN: u64 = ebpf::INSN_SIZE as u64;

// Structural limits, checked before the work they bound (consensus: a change refuses or
// accepts different modules). Solana's toolchain writes at most 4 program headers and a few
// dozen sections (rbpf 0.8.5's own test files: ≤ 4 and ≤ 14); the other limits are far above
// what a 1 MiB program needs and bound the work of the larger sizes a configuration may allow
// (up to 16 MiB). Every pass over these tables is linear, or n log n, in their size.

/// Most program headers (`e_phnum`). rbpf refuses 10 or more for SBPFv2 anyway.
pub(crate) const MAX_PROGRAM_HEADERS: usize = 16;
/// Most section headers (`e_shnum`).
pub(crate) const MAX_SECTIONS: usize = 128;
/// Most dynamic symbols: entries of any `SHT_DYNSYM` section (and of the table `DT_SYMTAB`
/// names).
pub(crate) const MAX_DYNAMIC_SYMBOLS: usize = 16 * 1024;
/// Most static symbols: entries of any `SHT_SYMTAB` section (which rbpf does not read with
/// symbol labels off, but which must not be free to grow either).
pub(crate) const MAX_SYMBOLS: usize = 64 * 1024;
/// Most relocations: entries of the table `DT_REL`/`DT_RELSZ` name, and of any `SHT_REL` or
/// `SHT_RELA` section.
pub(crate) const MAX_RELOCATIONS: usize = 64 * 1024;
/// Largest string table (`SHT_STRTAB`: `.dynstr`, `.strtab`), in bytes.
pub(crate) const MAX_STRING_TABLE_SIZE: usize = 1024 * 1024;
/// Largest section name table (`e_shstrndx`), in bytes: 128 names of at most 15 bytes fit
/// in 2 KiB, so 4 KiB is ample.
pub(crate) const MAX_SECTION_NAME_TABLE_SIZE: usize = 4 * 1024;

/// Most functions: distinct targets of calls and call relocations, the entry point included
/// (each costs rbpf a registry entry and the JIT a function prologue; a real program has about
/// one per hundred instructions).
pub(crate) const MAX_FUNCTIONS: usize = 8 * 1024;

/// A set of instruction indices, as a bitmap: linear to build and count, whatever the order.
struct FunctionSet {
    bits: Vec<u64>,
    len: usize,
}

impl FunctionSet {
    fn new(slots: usize) -> Self {
        FunctionSet {
            bits: vec![0; slots.div_ceil(64)],
            len: 0,
        }
    }
    fn insert(&mut self, pc: usize) {
        if let Some(word) = self.bits.get_mut(pc / 64) {
            let bit = 1u64 << (pc % 64);
            if *word & bit == 0 {
                *word |= bit;
                self.len = self.len.saturating_add(1);
            }
        }
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// Size of an ELF64 symbol.
const SYM_SIZE: usize = 24;
/// Size of an ELF64 `REL` entry.
const REL_SIZE: usize = 16;
/// Size of an ELF64 `RELA` entry.
const RELA_SIZE: usize = 24;
const SHT_STRTAB: u32 = 3;
const SHT_RELA: u32 = 4;
const SHT_REL: u32 = 9;

/// Refuses `value` over `limit`, naming the limit.
fn check_limit(what: &str, name: &str, value: usize, limit: usize) -> Result<(), LoadError> {
    if value > limit {
        return Err(LoadError::Unsupported(format!(
            "{value} {what} exceed the limit of {limit} ({name})"
        )));
    }
    Ok(())
}

/// Relocation types rbpf 0.8.5 applies (it uses the x86-64 numbers).
const R_BPF_NONE: u32 = 0;
const R_BPF_64_64: u32 = 1;
const R_BPF_64_RELATIVE: u32 = 8;
const R_BPF_64_32: u32 = 10;

const DT_NULL: u64 = 0;
/// rbpf reads dynamic tags below this one and ignores the rest.
const DT_NUM: u64 = 35;
const DT_SYMTAB: u64 = 6;
const DT_REL: u64 = 17;
const DT_RELSZ: u64 = 18;
const DT_RELENT: u64 = 19;

const STT_FUNC: u8 = 2;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;

/// What the engine learned from the ELF.
#[derive(Debug)]
pub(crate) struct ElfFacts {
    /// Exported entries and hooks.
    pub(crate) entries: EntryTable,
    /// Names of the imported syscalls, all live in the active table.
    pub(crate) imports: BTreeSet<&'static str>,
}

/// One dynamic symbol, as rbpf reads it.
struct DynSym {
    /// The name, or its first [`MAX_SYMBOL_NAME`] bytes followed by `…` when it is longer
    /// (such a name can be neither an export nor a syscall; only so much is read).
    name: String,
    info: u8,
    shndx: u16,
    value: u64,
}

impl DynSym {
    fn is_function(&self) -> bool {
        self.info & 0xf == STT_FUNC
    }
    fn is_defined(&self) -> bool {
        self.shndx != 0
    }
    fn is_exported(&self) -> bool {
        self.is_defined() && matches!(self.info >> 4, STB_GLOBAL | STB_WEAK)
    }
}

fn malformed(m: impl Into<String>) -> LoadError {
    LoadError::Malformed(m.into())
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The file bytes of a section, checked against the file's end.
fn file_range(code: &[u8], name: &str, sh: &SectionHeader) -> Result<Range<usize>, LoadError> {
    if sh.sh_type == SHT_NOBITS {
        return Ok(0..0);
    }
    let end = sh.sh_offset.checked_add(sh.sh_size);
    match (
        usize::try_from(sh.sh_offset),
        end.and_then(|e| usize::try_from(e).ok()),
    ) {
        (Ok(start), Some(end)) if end <= code.len() => Ok(start..end),
        _ => Err(malformed(format!(
            "section `{name}` (offset {:#x}, size {:#x}) extends past the end of the \
             {}-byte file: truncated?",
            sh.sh_offset,
            sh.sh_size,
            code.len()
        ))),
    }
}

/// A NUL-terminated string at `offset` in a string table's bytes, at most `max` bytes long.
fn string_at(table: &[u8], offset: usize, max: usize) -> Option<&str> {
    let rest = table.get(offset..)?;
    let len = rest
        .iter()
        .take(max.saturating_add(1))
        .position(|b| *b == 0)?;
    std::str::from_utf8(rest.get(..len)?).ok()
}

/// A symbol name at `offset`: the whole name when it has at most [`MAX_SYMBOL_NAME`] bytes,
/// else its first bytes (up to a character boundary) and `…`. Reads at most
/// `MAX_SYMBOL_NAME + 1` bytes, so reading every symbol's name is linear in the symbol count.
fn symbol_name(table: &[u8], offset: usize) -> Option<String> {
    if let Some(name) = string_at(table, offset, MAX_SYMBOL_NAME) {
        return Some(name.to_owned());
    }
    let rest = table.get(offset..)?;
    // Either longer than the limit or unterminated; a name must have a terminator somewhere,
    // which rbpf would look for too, but only this prefix decides anything here.
    let prefix = rest.get(..MAX_SYMBOL_NAME.min(rest.len()))?;
    if prefix.contains(&0) || rest.len() <= MAX_SYMBOL_NAME {
        return None;
    }
    let valid = match std::str::from_utf8(prefix) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(prefix.get(..e.valid_up_to())?).ok()?,
    };
    Some(format!("{valid}…"))
}

/// Reads the module's ELF: format, version, sections, entry point, exports and imports.
///
/// `accepts` says whether an SBPF version (1 or 2) is accepted; `active` is the syscall table
/// live for the module's features and `all` the whole table (to name a syscall that exists but
/// is not live).
pub(crate) fn inspect(
    code: &[u8],
    accepts: impl Fn(u8) -> bool,
    active: &ActiveSyscalls,
    all: &SyscallTable,
) -> Result<ElfFacts, LoadError> {
    let hdr = Elf::parse_header(code).map_err(|e| malformed(format!("not an ELF file: {e}")))?;
    if hdr.e_ident[header::EI_CLASS] != header::ELFCLASS64 {
        return Err(malformed("not a 64-bit ELF (TBPF modules are ELF64)"));
    }
    if hdr.e_ident[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(malformed("not a little-endian ELF"));
    }
    if hdr.e_ident[header::EI_OSABI] != header::ELFOSABI_NONE {
        return Err(malformed(format!(
            "ELF OS/ABI {} is not ELFOSABI_NONE (0)",
            hdr.e_ident[header::EI_OSABI]
        )));
    }
    if hdr.e_machine != header::EM_BPF && hdr.e_machine != EM_SBPF {
        return Err(malformed(format!(
            "ELF machine {} is neither EM_BPF ({}) nor EM_SBPF ({EM_SBPF})",
            hdr.e_machine,
            header::EM_BPF
        )));
    }
    if hdr.e_type != header::ET_DYN {
        return Err(malformed(format!(
            "ELF type {} is not ET_DYN (a shared object)",
            hdr.e_type
        )));
    }
    let sbpf_version = match hdr.e_flags {
        0 => 1,
        EF_SBPF_V2 => 2,
        other => {
            return Err(LoadError::Unsupported(format!(
                "ELF flags {other:#x} name no SBPF version (0 = SBPFv1, 0x20 = SBPFv2)"
            )));
        }
    };
    if !accepts(sbpf_version) {
        return Err(LoadError::Unsupported(format!(
            "SBPFv{sbpf_version} modules are not accepted by this engine configuration"
        )));
    }
    // Only the headers: the dynamic table is read below the way rbpf reads it, not goblin's way.
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let corrupt = |what: &str, e: goblin::error::Error| {
        malformed(format!("truncated or corrupt {what}: {e}"))
    };
    check_limit(
        "program headers",
        "MAX_PROGRAM_HEADERS",
        usize::from(hdr.e_phnum),
        MAX_PROGRAM_HEADERS,
    )?;
    check_limit(
        "section headers",
        "MAX_SECTIONS",
        usize::from(hdr.e_shnum),
        MAX_SECTIONS,
    )?;
    let phdrs = usize::try_from(hdr.e_phoff)
        .map_err(|_| malformed("program header offset out of range"))
        .and_then(|off| {
            ProgramHeader::parse(code, off, usize::from(hdr.e_phnum), ctx)
                .map_err(|e| corrupt("program headers", e))
        })?;
    // rbpf's parser: loadable segments ascend by address and lie inside the file.
    let mut prev_load: Option<(usize, u64)> = None;
    for (i, p) in phdrs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.p_type == PT_LOAD)
    {
        if let Some((j, prev)) = prev_load
            && p.p_vaddr < prev
        {
            return Err(malformed(format!(
                "program header #{i} (PT_LOAD at {:#x}) comes after #{j} at {prev:#x}: loadable \
                 segments must be sorted by address",
                p.p_vaddr
            )));
        }
        if p.p_offset
            .checked_add(p.p_filesz)
            .is_none_or(|end| end > code.len() as u64)
        {
            return Err(malformed(format!(
                "program header #{i} (PT_LOAD, offset {:#x}, size {:#x}) extends past the end \
                 of the {}-byte file",
                p.p_offset,
                p.p_filesz,
                code.len()
            )));
        }
        prev_load = Some((i, p.p_vaddr));
    }
    let shdrs = usize::try_from(hdr.e_shoff)
        .map_err(|_| malformed("section header offset out of range"))
        .and_then(|off| {
            SectionHeader::parse(code, off, usize::from(hdr.e_shnum), ctx)
                .map_err(|e| corrupt("section headers", e))
        })?;
    let names_sh = shdrs
        .get(usize::from(hdr.e_shstrndx))
        .ok_or_else(|| malformed("no section name table (e_shstrndx)"))?;
    let names_range = file_range(code, "section names", names_sh)?;
    check_limit(
        "bytes of section names",
        "MAX_SECTION_NAME_TABLE_SIZE",
        names_range.len(),
        MAX_SECTION_NAME_TABLE_SIZE,
    )?;
    let names = Strtab::parse(code, names_range.start, names_range.len(), 0)
        .map_err(|e| corrupt("section name table", e))?;

    // Sections: names, bounds, exactly one .text, no writable data.
    let mut sections = Vec::with_capacity(shdrs.len());
    for (i, sh) in shdrs.iter().enumerate() {
        let name = names
            .get_at(sh.sh_name)
            .ok_or_else(|| malformed(format!("section #{i} has no readable name")))?;
        if name.len() > MAX_SECTION_NAME {
            return Err(malformed(format!(
                "section name `{name}` is longer than {MAX_SECTION_NAME} bytes"
            )));
        }
        // Limits first: a table over its limit is refused whatever else is wrong with it.
        let size = usize::try_from(sh.sh_size).unwrap_or(usize::MAX);
        match sh.sh_type {
            SHT_DYNSYM => check_limit(
                &format!("dynamic symbols in `{name}`"),
                "MAX_DYNAMIC_SYMBOLS",
                size / SYM_SIZE,
                MAX_DYNAMIC_SYMBOLS,
            )?,
            SHT_SYMTAB => check_limit(
                &format!("symbols in `{name}`"),
                "MAX_SYMBOLS",
                size / SYM_SIZE,
                MAX_SYMBOLS,
            )?,
            SHT_REL => check_limit(
                &format!("relocations in `{name}`"),
                "MAX_RELOCATIONS",
                size / REL_SIZE,
                MAX_RELOCATIONS,
            )?,
            SHT_RELA => check_limit(
                &format!("relocations in `{name}`"),
                "MAX_RELOCATIONS",
                size / RELA_SIZE,
                MAX_RELOCATIONS,
            )?,
            SHT_STRTAB => check_limit(
                &format!("bytes of strings in `{name}`"),
                "MAX_STRING_TABLE_SIZE",
                size,
                MAX_STRING_TABLE_SIZE,
            )?,
            _ => {}
        }
        let range = file_range(code, name, sh)?;
        let writable =
            sh.sh_flags & u64::from(SHF_ALLOC | SHF_WRITE) == u64::from(SHF_ALLOC | SHF_WRITE);
        if name.starts_with(".bss")
            || (writable && name.starts_with(".data") && !name.starts_with(".data.rel"))
        {
            return Err(LoadError::Unsupported(format!(
                "writable section `{name}`: TBPF modules may not have mutable global data"
            )));
        }
        sections.push((name, sh, range));
    }
    let mut texts = sections.iter().filter(|(n, _, _)| *n == ".text");
    let (_, text, text_bytes) = match (texts.next(), texts.next()) {
        (Some(t), None) => t,
        (None, _) => return Err(malformed("no .text section")),
        (Some(_), Some(_)) => return Err(malformed("more than one .text section")),
    };
    let text_bytes = code.get(text_bytes.clone()).unwrap_or_default();
    if text_bytes.is_empty() || text_bytes.len() % ebpf::INSN_SIZE != 0 {
        return Err(malformed(format!(
            ".text is {} bytes, not a non-empty whole number of 8-byte instructions",
            text_bytes.len()
        )));
    }
    let text_vm = text.sh_addr..text.sh_addr.saturating_add(text.sh_size);
    let insn_at = |addr: u64| -> Option<usize> {
        let off = addr.checked_sub(text.sh_addr)?;
        (text_vm.contains(&addr) && off.checked_rem(INSN)? == 0)
            .then(|| usize::try_from(off.checked_div(INSN)?).ok())
            .flatten()
    };

    // The dynamic table, found and read the way rbpf reads it.
    let dynamic = dynamic_table(code, &phdrs, &sections)?;
    let dyn_val = |tag: u64| dynamic.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);

    // Dynamic symbols: the section DT_SYMTAB names, else the SHT_DYNSYM section.
    let dynstr = sections
        .iter()
        .find(|(n, _, _)| *n == ".dynstr")
        .map(|(_, _, r)| code.get(r.clone()).unwrap_or_default());
    let dynsym_section = match dyn_val(DT_SYMTAB) {
        Some(addr) => Some(
            sections
                .iter()
                .find(|(_, sh, _)| {
                    sh.sh_addr == addr && matches!(sh.sh_type, SHT_SYMTAB | SHT_DYNSYM)
                })
                .ok_or_else(|| {
                    malformed(format!(
                        "DT_SYMTAB {addr:#x} is the address of no symbol table section"
                    ))
                })?,
        ),
        None => sections.iter().find(|(_, sh, _)| sh.sh_type == SHT_DYNSYM),
    };
    let mut dynsyms = Vec::new();
    if let Some((name, _, range)) = dynsym_section {
        let bytes = code.get(range.clone()).unwrap_or_default();
        // The table DT_SYMTAB names may be a SHT_SYMTAB: it is read as dynamic symbols.
        check_limit(
            &format!("dynamic symbols in `{name}`"),
            "MAX_DYNAMIC_SYMBOLS",
            bytes.len() / SYM_SIZE,
            MAX_DYNAMIC_SYMBOLS,
        )?;
        for (i, s) in bytes.chunks_exact(24).enumerate() {
            let (Some(st_name), Some(shndx), Some(value)) =
                (u32_at(s, 0), u16_at(s, 6), u64_at(s, 8))
            else {
                continue;
            };
            let name = if st_name == 0 {
                String::new()
            } else {
                let table = dynstr.ok_or_else(|| malformed("dynamic symbols without a .dynstr"))?;
                symbol_name(table, st_name as usize)
                    .ok_or_else(|| malformed(format!("dynamic symbol #{i} has no readable name")))?
            };
            dynsyms.push(DynSym {
                name,
                info: s[4],
                shndx,
                value,
            });
        }
    }

    // The entry point.
    let entry = hdr.e_entry;
    let entry_symbol = dynsyms
        .iter()
        .find(|s| s.name == "entrypoint" && s.is_defined())
        .map(|s| s.value);
    if entry == 0 && entry_symbol.is_none() {
        return Err(LoadError::MissingExport("entrypoint".into()));
    }
    if insn_at(entry).is_none() {
        return Err(malformed(format!(
            "ELF entry point {entry:#x} is not an instruction in .text ({:#x}..{:#x})",
            text_vm.start, text_vm.end
        )));
    }
    if let Some(sym) = entry_symbol
        && sym != entry
    {
        return Err(malformed(format!(
            "ELF entry point {entry:#x} is not the `entrypoint` symbol ({sym:#x})"
        )));
    }

    // Exports and imports.
    let mut entries = EntryTable::default();
    let mut imports = BTreeSet::new();
    let import = |name: &str, imports: &mut BTreeSet<&'static str>| match active.by_name(name) {
        Some(live) => {
            imports.insert(live.def.name);
            Ok(())
        }
        None => Err(LoadError::UnknownSyscall(name.to_owned())),
    };
    for sym in dynsyms.iter().skip(1) {
        if !sym.is_defined() {
            if !sym.name.is_empty() {
                import(&sym.name, &mut imports)?;
            }
            continue;
        }
        let Some(call) = Call::from_symbol(&sym.name) else {
            continue;
        };
        if !sym.is_exported() {
            continue;
        }
        if !sym.is_function() || insn_at(sym.value).is_none() {
            return Err(malformed(format!(
                "export `{}` at {:#x} is not a function in .text",
                sym.name, sym.value
            )));
        }
        match call {
            Call::Entry(id) => entries.entries.insert(id),
            Call::Hook(id) => entries.hooks.insert(id),
        };
    }
    entries.self_dispatch = entries.entries.is_empty() && entries.hooks.is_empty();

    // Functions rbpf will register: the entry point, the targets of relative calls (as rbpf's
    // loader finds them: every slot whose opcode is `call` with an immediate other than -1, and
    // for SBPFv2 a non-zero src), and the functions call relocations name.
    let slots = text_bytes.len() / ebpf::INSN_SIZE;
    let mut functions = FunctionSet::new(slots);
    if let Some(entry) = insn_at(entry) {
        functions.insert(entry);
    }
    for (pc, insn) in text_bytes.chunks_exact(ebpf::INSN_SIZE).enumerate() {
        let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        if insn[0] != ebpf::CALL_IMM || imm == -1 || (sbpf_version == 2 && insn[1] >> 4 == 0) {
            continue;
        }
        let target = i64::try_from(pc)
            .ok()
            .and_then(|pc| pc.checked_add(1)?.checked_add(i64::from(imm)))
            .and_then(|t| usize::try_from(t).ok());
        if let Some(target) = target.filter(|t| *t < slots) {
            functions.insert(target);
        }
    }

    // Relocations.
    let mut call_relocs = BTreeSet::new();
    if let Some(rel_addr) = dyn_val(DT_REL).filter(|a| *a != 0) {
        if dyn_val(DT_RELENT) != Some(16) {
            return Err(malformed("DT_RELENT is not 16 (ELF64 REL entries)"));
        }
        let size = dyn_val(DT_RELSZ).unwrap_or(0);
        check_limit(
            "relocations (DT_RELSZ / 16)",
            "MAX_RELOCATIONS",
            usize::try_from(size).map_or(usize::MAX, |s| s / REL_SIZE),
            MAX_RELOCATIONS,
        )?;
        let start = vaddr_to_offset(rel_addr, &phdrs, &sections).ok_or_else(|| {
            malformed(format!(
                "DT_REL {rel_addr:#x} lies in no segment or section"
            ))
        })?;
        let table = usize::try_from(size)
            .ok()
            .filter(|s| *s > 0)
            .and_then(|s| code.get(start..start.checked_add(s)?))
            .ok_or_else(|| malformed(format!("relocation table (size {size:#x}) is truncated")))?;
        for r in table.chunks(16) {
            let (Some(r_offset), Some(r_info)) = (u64_at(r, 0), u64_at(r, 8)) else {
                return Err(malformed("relocation table size is not a multiple of 16"));
            };
            let (r_type, r_sym) = ((r_info & 0xffff_ffff) as u32, (r_info >> 32) as usize);
            match r_type {
                R_BPF_NONE | R_BPF_64_RELATIVE => {}
                R_BPF_64_64 => {
                    if dynsyms.get(r_sym).is_none() {
                        return Err(malformed(format!(
                            "relocation at {r_offset:#x} names symbol #{r_sym}, but there are {} dynamic symbols",
                            dynsyms.len()
                        )));
                    }
                }
                R_BPF_64_32 => {
                    let sym = dynsyms.get(r_sym).ok_or_else(|| {
                        malformed(format!(
                            "relocation at {r_offset:#x} names symbol #{r_sym}, but there are {} dynamic symbols",
                            dynsyms.len()
                        ))
                    })?;
                    // The instruction the relocation patches must be a call in .text.
                    let file_off = if sbpf_version == 2 {
                        vaddr_to_offset(r_offset, &phdrs, &sections)
                    } else {
                        usize::try_from(r_offset).ok()
                    };
                    let text_off = text.sh_offset;
                    let pc = file_off
                        .and_then(|o| (o as u64).checked_sub(text_off))
                        .filter(|o| o.checked_rem(INSN) == Some(0))
                        .and_then(|o| usize::try_from(o.checked_div(INSN)?).ok())
                        .filter(|pc| {
                            pc.checked_mul(ebpf::INSN_SIZE)
                                .and_then(|at| text_bytes.get(at))
                                == Some(&ebpf::CALL_IMM)
                        });
                    let Some(pc) = pc else {
                        return Err(malformed(format!(
                            "R_BPF_64_32 relocation at {r_offset:#x} does not patch a call instruction in .text"
                        )));
                    };
                    call_relocs.insert(pc);
                    if sym.is_function() && sym.value != 0 {
                        let Some(target) = insn_at(sym.value) else {
                            return Err(malformed(format!(
                                "call relocation at {r_offset:#x} targets `{}` at {:#x}, outside .text",
                                sym.name, sym.value
                            )));
                        };
                        functions.insert(target);
                    } else {
                        if sym.name.len() > MAX_SYMBOL_NAME || sym.name.is_empty() {
                            return Err(LoadError::UnknownSyscall(sym.name.clone()));
                        }
                        import(&sym.name, &mut imports)?;
                    }
                }
                other => {
                    return Err(malformed(format!(
                        "relocation at {r_offset:#x} has type {other}, which TBPF does not support"
                    )));
                }
            }
        }
    }

    check_limit("functions", "MAX_FUNCTIONS", functions.len(), MAX_FUNCTIONS)?;

    // SBPFv2 calls syscalls statically: `call` with src 0 and the syscall id as immediate.
    if sbpf_version == 2 {
        for (pc, insn) in text_bytes.chunks_exact(ebpf::INSN_SIZE).enumerate() {
            if insn[0] != ebpf::CALL_IMM || insn[1] >> 4 != 0 || call_relocs.contains(&pc) {
                continue;
            }
            let id = u32_at(insn, 4).unwrap_or_default();
            match active.get(id) {
                Some(live) => {
                    imports.insert(live.def.name);
                }
                None => {
                    let name = all
                        .get(id)
                        .map(|d| d.name.to_owned())
                        .or_else(|| {
                            dynsyms
                                .iter()
                                .find(|s| {
                                    !s.name.is_empty() && murmur3_32(s.name.as_bytes(), 0) == id
                                })
                                .map(|s| s.name.clone())
                        })
                        .or_else(|| {
                            FOREIGN_SYSCALLS
                                .iter()
                                .find(|n| murmur3_32(n.as_bytes(), 0) == id)
                                .map(|n| (*n).to_owned())
                        })
                        .unwrap_or_else(|| {
                            format!("syscall id {id:#010x} (call at instruction {pc})")
                        });
                    return Err(LoadError::UnknownSyscall(name));
                }
            }
        }
    }

    Ok(ElfFacts { entries, imports })
}

/// The dynamic table as `(tag, value)` pairs: from `PT_DYNAMIC`, else from the `SHT_DYNAMIC`
/// section (rbpf's order); empty for a module without one.
fn dynamic_table(
    code: &[u8],
    phdrs: &[ProgramHeader],
    sections: &[(&str, &SectionHeader, Range<usize>)],
) -> Result<Vec<(u64, u64)>, LoadError> {
    // rbpf uses PT_DYNAMIC only when it is a whole, aligned array of entries, and falls back to
    // the section otherwise (some old toolchains wrote a PT_DYNAMIC of the wrong size).
    let from_phdr = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC).and_then(|p| {
        let start = usize::try_from(p.p_offset).ok()?;
        let len = usize::try_from(p.p_filesz).ok()?;
        if !start.is_multiple_of(8) || !len.is_multiple_of(16) {
            return None;
        }
        code.get(start..start.checked_add(len)?)
    });
    let bytes = match from_phdr {
        Some(b) => b,
        None => match sections.iter().find(|(_, sh, _)| sh.sh_type == SHT_DYNAMIC) {
            Some((_, _, r)) => code.get(r.clone()).unwrap_or_default(),
            None => return Ok(Vec::new()),
        },
    };
    // rbpf keeps one value per tag below DT_NUM, the last one written.
    let mut out: Vec<(u64, u64)> = Vec::new();
    for d in bytes.chunks_exact(16) {
        let (Some(tag), Some(val)) = (u64_at(d, 0), u64_at(d, 8)) else {
            break;
        };
        if tag == DT_NULL {
            break;
        }
        if tag >= DT_NUM {
            continue;
        }
        match out.iter_mut().find(|(t, _)| *t == tag) {
            Some(slot) => slot.1 = val,
            None => out.push((tag, val)),
        }
    }
    Ok(out)
}

/// The file offset of virtual address `vaddr`: through the segment holding it, else the section
/// starting at it (rbpf's fallback for old toolchains).
fn vaddr_to_offset(
    vaddr: u64,
    phdrs: &[ProgramHeader],
    sections: &[(&str, &SectionHeader, Range<usize>)],
) -> Option<usize> {
    let off = match phdrs
        .iter()
        .find(|p| (p.p_vaddr..p.p_vaddr.saturating_add(p.p_memsz)).contains(&vaddr))
    {
        Some(p) => vaddr.checked_sub(p.p_vaddr)?.checked_add(p.p_offset)?,
        None => {
            sections
                .iter()
                .find(|(_, sh, _)| sh.sh_addr == vaddr)?
                .1
                .sh_offset
        }
    };
    usize::try_from(off).ok()
}
