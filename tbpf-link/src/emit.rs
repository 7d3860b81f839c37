//! Writes the output ELF shared object.
//!
//! Layout (every address equals its file offset, as SBPFv1 requires):
//!
//! ```text
//! ELF header | program headers | .text | .rodata | .dynamic | .dynsym | .dynstr
//!            | .hash | .rel.dyn | .shstrtab | section headers
//! ```

use crate::Export;
use crate::error::LinkError;

const EHDR_SIZE: u64 = 64;
const PHDR_SIZE: u64 = 56;
const SHDR_SIZE: u64 = 64;
const SYM_SIZE: u64 = 24;
const REL_SIZE: u64 = 16;
const DYN_SIZE: u64 = 16;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PF_X: u32 = 1;
const PF_R: u32 = 4;

const SHT_PROGBITS: u32 = 1;
const SHT_STRTAB: u32 = 3;
const SHT_HASH: u32 = 5;
const SHT_DYNAMIC: u32 = 6;
const SHT_REL: u32 = 9;
const SHT_DYNSYM: u32 = 11;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;

const DT_NULL: u64 = 0;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;
const DT_SYMENT: u64 = 11;
const DT_REL: u64 = 17;
const DT_RELSZ: u64 = 18;
const DT_RELENT: u64 = 19;
const DT_TEXTREL: u64 = 22;
const DT_FLAGS: u64 = 30;
const DF_TEXTREL: u64 = 4;
const DT_RELCOUNT: u64 = 0x6fff_fffa;

/// R_BPF_64_RELATIVE in the output (`.rel.dyn`).
pub(crate) const R_BPF_64_RELATIVE: u32 = 8;
/// R_BPF_64_32 in the output: a call resolved by the loader through the hash of the name.
pub(crate) const R_BPF_64_32: u32 = 10;

/// Where the two loaded sections go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub phnum: u64,
    pub text_addr: u64,
    pub text_size: u64,
    pub rodata_addr: u64,
    pub rodata_size: u64,
    pub rodata_align: u64,
}

impl Layout {
    pub(crate) fn new(
        text_size: u64,
        rodata_size: u64,
        rodata_align: u64,
    ) -> Result<Self, LinkError> {
        let phnum = if rodata_size > 0 { 4 } else { 3 };
        let text_addr = align(EHDR_SIZE + phnum * PHDR_SIZE, 8);
        let text_end = text_addr.checked_add(text_size).ok_or_else(too_large)?;
        let rodata_addr = align(text_end, rodata_align.max(1));
        let end = rodata_addr.checked_add(rodata_size).ok_or_else(too_large)?;
        // Module addresses are relocated through 32-bit fields.
        if end > u64::from(u32::MAX) / 2 {
            return Err(LinkError::TooLarge {
                reason: format!("{end} bytes of code and read-only data"),
            });
        }
        Ok(Layout {
            phnum,
            text_addr,
            text_size,
            rodata_addr,
            rodata_size,
            rodata_align,
        })
    }
}

fn too_large() -> LinkError {
    LinkError::TooLarge {
        reason: "sizes overflow".into(),
    }
}

fn align(v: u64, a: u64) -> u64 {
    (v + a - 1) & !(a - 1)
}

/// A dynamic relocation to emit.
#[derive(Debug, Clone)]
pub(crate) enum DynReloc {
    /// R_BPF_64_RELATIVE at `offset` (an lddw or a 64-bit slot in read-only data).
    Relative { offset: u64 },
    /// R_BPF_64_32 at the call at `offset`, against the import `name`.
    Syscall { offset: u64, name: String },
    /// R_BPF_64_32 at the call at `offset`, against a defined function symbol for `target`
    /// (the export at that address, or a local symbol called `name`): how a call of the
    /// instruction itself, which the SBPFv1 loader cannot take as pc-relative, reaches it.
    LocalCall {
        offset: u64,
        target: u64,
        name: String,
    },
}

/// Everything the writer needs.
#[derive(Debug)]
pub(crate) struct Image {
    pub layout: Layout,
    pub text: Vec<u8>,
    pub rodata: Vec<u8>,
    pub entry: u64,
    /// Exported functions, in output order.
    pub exports: Vec<Export>,
    /// Imported syscall names, sorted.
    pub imports: Vec<String>,
    pub relocs: Vec<DynReloc>,
}

/// The SysV ELF hash of a name (for `.hash`).
fn elf_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

struct Strtab {
    bytes: Vec<u8>,
}

impl Strtab {
    fn new() -> Self {
        Strtab { bytes: vec![0] }
    }
    fn add(&mut self, s: &str) -> u32 {
        let at = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        at
    }
}

#[derive(Default)]
struct Out {
    buf: Vec<u8>,
}

impl Out {
    fn pad_to(&mut self, at: u64) {
        debug_assert!(self.buf.len() as u64 <= at);
        self.buf.resize(at as usize, 0);
    }
    fn align(&mut self, a: u64) -> u64 {
        let at = align(self.buf.len() as u64, a);
        self.pad_to(at);
        at
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn pos(&self) -> u64 {
        self.buf.len() as u64
    }
}

struct Shdr {
    name: u32,
    sh_type: u32,
    flags: u64,
    addr: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

pub(crate) fn write(img: &Image) -> Result<Vec<u8>, LinkError> {
    let l = img.layout;
    let mut out = Out::default();
    let has_rodata = l.rodata_size > 0;

    // Dynamic symbols: null, local functions that self-calls target (by address), exports
    // (already ordered), then imports (sorted).
    let mut dynstr = Strtab::new();
    struct DSym {
        name: u32,
        info: u8,
        shndx: u16,
        value: u64,
        raw: String,
    }
    let mut dynsyms = vec![DSym {
        name: 0,
        info: 0,
        shndx: 0,
        value: 0,
        raw: String::new(),
    }];
    // Local function symbols for self-call targets that are not exports, by address.
    let mut local_targets: Vec<(u64, &str)> = img
        .relocs
        .iter()
        .filter_map(|r| match r {
            DynReloc::LocalCall { target, name, .. }
                if !img.exports.iter().any(|e| e.addr == *target) =>
            {
                Some((*target, name.as_str()))
            }
            _ => None,
        })
        .collect();
    local_targets.sort_unstable();
    local_targets.dedup_by_key(|(t, _)| *t);
    for (target, name) in &local_targets {
        let at = dynstr.add(name);
        dynsyms.push(DSym {
            name: at,
            info: 0x02, // STB_LOCAL, STT_FUNC
            shndx: 1,
            value: *target,
            raw: (*name).to_string(),
        });
    }
    let first_global = dynsyms.len();
    for e in &img.exports {
        let name = dynstr.add(&e.name);
        dynsyms.push(DSym {
            name,
            info: 0x12,
            shndx: 1,
            value: e.addr,
            raw: e.name.clone(),
        });
    }
    let first_import = dynsyms.len();
    for imp in &img.imports {
        let name = dynstr.add(imp);
        dynsyms.push(DSym {
            name,
            info: 0x10,
            shndx: 0,
            value: 0,
            raw: imp.clone(),
        });
    }

    // Dynamic relocations: RELATIVE first (for DT_RELCOUNT), each group by offset.
    let mut relative: Vec<u64> = Vec::new();
    let mut calls: Vec<(u64, u64)> = Vec::new();
    for r in &img.relocs {
        match r {
            DynReloc::Relative { offset } => relative.push(*offset),
            DynReloc::Syscall { offset, name } => {
                let idx = img.imports.iter().position(|n| n == name).unwrap_or(0) + first_import;
                calls.push((*offset, idx as u64));
            }
            DynReloc::LocalCall { offset, target, .. } => {
                let idx = match img.exports.iter().position(|e| e.addr == *target) {
                    Some(i) => i + first_global,
                    None => {
                        local_targets
                            .iter()
                            .position(|(t, _)| t == target)
                            .unwrap_or(0)
                            + 1
                    }
                };
                calls.push((*offset, idx as u64));
            }
        }
    }
    relative.sort_unstable();
    calls.sort_unstable();
    let nrel = relative.len() + calls.len();
    let text_relocs = relative
        .iter()
        .chain(calls.iter().map(|(o, _)| o))
        .any(|o| (l.text_addr..l.text_addr + l.text_size).contains(o));

    // Compute the addresses of the dynamic sections.
    let dynamic_addr = align(
        if has_rodata {
            l.rodata_addr + l.rodata_size
        } else {
            l.text_addr + l.text_size
        },
        8,
    );
    let mut dyn_count = 6u64; // HASH STRTAB SYMTAB STRSZ SYMENT NULL
    if nrel > 0 {
        dyn_count += 4; // REL RELSZ RELENT RELCOUNT
    }
    if text_relocs {
        dyn_count += 2; // TEXTREL FLAGS
    }
    let dynamic_size = dyn_count * DYN_SIZE;
    let dynsym_addr = dynamic_addr + dynamic_size;
    let dynsym_size = dynsyms.len() as u64 * SYM_SIZE;
    let dynstr_addr = dynsym_addr + dynsym_size;
    let dynstr_size = dynstr.bytes.len() as u64;
    let hash_addr = align(dynstr_addr + dynstr_size, 8);
    let nsyms = dynsyms.len() as u32;
    let nbucket = (nsyms / 2).max(1);
    let hash_size = u64::from(2 + nbucket + nsyms) * 4;
    let reldyn_addr = align(hash_addr + hash_size, 8);
    let reldyn_size = nrel as u64 * REL_SIZE;
    let dyn_end = reldyn_addr + reldyn_size;

    // Section header string table.
    let mut shstr = Strtab::new();
    let n_text = shstr.add(".text");
    let n_rodata = if has_rodata { shstr.add(".rodata") } else { 0 };
    let n_dynamic = shstr.add(".dynamic");
    let n_dynsym = shstr.add(".dynsym");
    let n_dynstr = shstr.add(".dynstr");
    let n_hash = shstr.add(".hash");
    let n_reldyn = if nrel > 0 { shstr.add(".rel.dyn") } else { 0 };
    let n_shstrtab = shstr.add(".shstrtab");
    let shstrtab_addr = dyn_end;
    let shoff = align(shstrtab_addr + shstr.bytes.len() as u64, 8);

    // Section indices.
    let idx_text = 1u32;
    let idx_dynamic = if has_rodata { 3 } else { 2 };
    let idx_dynsym = idx_dynamic + 1;
    let idx_dynstr = idx_dynamic + 2;
    let idx_reldyn = idx_dynamic + 4;
    let idx_shstrtab = if nrel > 0 {
        idx_dynamic + 5
    } else {
        idx_dynamic + 4
    };
    let shnum = u64::from(idx_shstrtab) + 1;
    let _ = idx_text;

    // ELF header.
    out.buf.extend_from_slice(b"\x7fELF");
    out.u8(2); // ELFCLASS64
    out.u8(1); // ELFDATA2LSB
    out.u8(1); // EV_CURRENT
    out.u8(0); // ELFOSABI_NONE
    out.buf.extend_from_slice(&[0; 8]);
    out.u16(3); // ET_DYN
    out.u16(247); // EM_BPF
    out.u32(1); // e_version
    out.u64(img.entry);
    out.u64(EHDR_SIZE); // e_phoff
    out.u64(shoff);
    out.u32(0); // e_flags: SBPFv1
    out.u16(EHDR_SIZE as u16);
    out.u16(PHDR_SIZE as u16);
    out.u16(l.phnum as u16);
    out.u16(SHDR_SIZE as u16);
    out.u16(shnum as u16);
    out.u16(idx_shstrtab as u16);

    // Program headers.
    let phdr = |out: &mut Out, p_type: u32, flags: u32, addr: u64, size: u64, align: u64| {
        out.u32(p_type);
        out.u32(flags);
        out.u64(addr); // p_offset
        out.u64(addr); // p_vaddr
        out.u64(addr); // p_paddr
        out.u64(size); // p_filesz
        out.u64(size); // p_memsz
        out.u64(align);
    };
    phdr(&mut out, PT_LOAD, PF_R | PF_X, l.text_addr, l.text_size, 8);
    if has_rodata {
        phdr(
            &mut out,
            PT_LOAD,
            PF_R,
            l.rodata_addr,
            l.rodata_size,
            l.rodata_align.max(1),
        );
    }
    phdr(
        &mut out,
        PT_LOAD,
        PF_R,
        dynamic_addr,
        dyn_end - dynamic_addr,
        8,
    );
    phdr(&mut out, PT_DYNAMIC, PF_R, dynamic_addr, dynamic_size, 8);

    // .text, .rodata
    out.pad_to(l.text_addr);
    out.buf.extend_from_slice(&img.text);
    if has_rodata {
        out.pad_to(l.rodata_addr);
        out.buf.extend_from_slice(&img.rodata);
    }

    // .dynamic
    out.pad_to(dynamic_addr);
    let dt = |out: &mut Out, tag: u64, val: u64| {
        out.u64(tag);
        out.u64(val);
    };
    dt(&mut out, DT_HASH, hash_addr);
    dt(&mut out, DT_STRTAB, dynstr_addr);
    dt(&mut out, DT_SYMTAB, dynsym_addr);
    dt(&mut out, DT_STRSZ, dynstr_size);
    dt(&mut out, DT_SYMENT, SYM_SIZE);
    if nrel > 0 {
        dt(&mut out, DT_REL, reldyn_addr);
        dt(&mut out, DT_RELSZ, reldyn_size);
        dt(&mut out, DT_RELENT, REL_SIZE);
        dt(&mut out, DT_RELCOUNT, relative.len() as u64);
    }
    if text_relocs {
        dt(&mut out, DT_TEXTREL, 0);
        dt(&mut out, DT_FLAGS, DF_TEXTREL);
    }
    dt(&mut out, DT_NULL, 0);
    debug_assert_eq!(out.pos(), dynsym_addr);

    // .dynsym
    for s in &dynsyms {
        out.u32(s.name);
        out.u8(s.info);
        out.u8(0); // st_other
        out.u16(s.shndx);
        out.u64(s.value);
        out.u64(0); // st_size
    }
    // .dynstr
    out.buf.extend_from_slice(&dynstr.bytes);

    // .hash
    out.pad_to(hash_addr);
    let mut buckets = vec![0u32; nbucket as usize];
    let mut chains = vec![0u32; nsyms as usize];
    for (i, s) in dynsyms.iter().enumerate().skip(1) {
        let b = (elf_hash(s.raw.as_bytes()) % nbucket) as usize;
        chains[i] = buckets[b];
        buckets[b] = i as u32;
    }
    out.u32(nbucket);
    out.u32(nsyms);
    for b in buckets {
        out.u32(b);
    }
    for c in chains {
        out.u32(c);
    }

    // .rel.dyn
    out.pad_to(reldyn_addr);
    for off in &relative {
        out.u64(*off);
        out.u64(u64::from(R_BPF_64_RELATIVE));
    }
    for (off, sym) in &calls {
        out.u64(*off);
        out.u64((sym << 32) | u64::from(R_BPF_64_32));
    }
    debug_assert_eq!(out.pos(), dyn_end);

    // .shstrtab
    out.buf.extend_from_slice(&shstr.bytes);

    // Section headers.
    out.align(8);
    debug_assert_eq!(out.pos(), shoff);
    let mut shdrs = vec![
        Shdr {
            name: 0,
            sh_type: 0,
            flags: 0,
            addr: 0,
            size: 0,
            link: 0,
            info: 0,
            align: 0,
            entsize: 0,
        },
        Shdr {
            name: n_text,
            sh_type: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_EXECINSTR,
            addr: l.text_addr,
            size: l.text_size,
            link: 0,
            info: 0,
            align: 8,
            entsize: 0,
        },
    ];
    if has_rodata {
        shdrs.push(Shdr {
            name: n_rodata,
            sh_type: SHT_PROGBITS,
            flags: SHF_ALLOC,
            addr: l.rodata_addr,
            size: l.rodata_size,
            link: 0,
            info: 0,
            align: l.rodata_align.max(1),
            entsize: 0,
        });
    }
    shdrs.push(Shdr {
        name: n_dynamic,
        sh_type: SHT_DYNAMIC,
        flags: SHF_ALLOC,
        addr: dynamic_addr,
        size: dynamic_size,
        link: idx_dynstr,
        info: 0,
        align: 8,
        entsize: DYN_SIZE,
    });
    shdrs.push(Shdr {
        name: n_dynsym,
        sh_type: SHT_DYNSYM,
        flags: SHF_ALLOC,
        addr: dynsym_addr,
        size: dynsym_size,
        link: idx_dynstr,
        info: first_global as u32, // one past the last local symbol
        align: 8,
        entsize: SYM_SIZE,
    });
    shdrs.push(Shdr {
        name: n_dynstr,
        sh_type: SHT_STRTAB,
        flags: SHF_ALLOC,
        addr: dynstr_addr,
        size: dynstr_size,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    shdrs.push(Shdr {
        name: n_hash,
        sh_type: SHT_HASH,
        flags: SHF_ALLOC,
        addr: hash_addr,
        size: hash_size,
        link: idx_dynsym,
        info: 0,
        align: 8,
        entsize: 4,
    });
    if nrel > 0 {
        shdrs.push(Shdr {
            name: n_reldyn,
            sh_type: SHT_REL,
            flags: SHF_ALLOC,
            addr: reldyn_addr,
            size: reldyn_size,
            link: idx_dynsym,
            info: 0,
            align: 8,
            entsize: REL_SIZE,
        });
        debug_assert_eq!(shdrs.len() as u32, idx_reldyn + 1);
    }
    shdrs.push(Shdr {
        name: n_shstrtab,
        sh_type: SHT_STRTAB,
        flags: 0,
        addr: 0,
        size: shstr.bytes.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    debug_assert_eq!(shdrs.len() as u64, shnum);
    for (i, s) in shdrs.iter().enumerate() {
        out.u32(s.name);
        out.u32(s.sh_type);
        out.u64(s.flags);
        out.u64(s.addr);
        // sh_offset: allocated sections sit at their address; .shstrtab right after .rel.dyn.
        out.u64(if i == 0 {
            0
        } else if s.addr != 0 {
            s.addr
        } else {
            shstrtab_addr
        });
        out.u64(s.size);
        out.u32(s.link);
        out.u32(s.info);
        out.u64(s.align);
        out.u64(s.entsize);
    }
    Ok(out.buf)
}
