//! A small, bounds-checked reader for relocatable ELF64 little-endian BPF objects
//! (`clang -target bpf -c`).
//!
//! Every read goes through [`Bytes`], which returns an error instead of panicking
//! when a header, table or string points outside the file, so a truncated or
//! garbage object yields a [`LinkError::Malformed`] naming the file.

use crate::error::LinkError;

pub(crate) const ET_REL: u16 = 1;
pub(crate) const EM_BPF: u16 = 247;

pub(crate) const SHT_PROGBITS: u32 = 1;
pub(crate) const SHT_SYMTAB: u32 = 2;
pub(crate) const SHT_STRTAB: u32 = 3;
pub(crate) const SHT_RELA: u32 = 4;
pub(crate) const SHT_NOBITS: u32 = 8;
pub(crate) const SHT_REL: u32 = 9;

pub(crate) const SHF_WRITE: u64 = 0x1;
pub(crate) const SHF_ALLOC: u64 = 0x2;
pub(crate) const SHF_EXECINSTR: u64 = 0x4;

pub(crate) const SHN_UNDEF: u16 = 0;
pub(crate) const SHN_LORESERVE: u16 = 0xff00;
pub(crate) const SHN_ABS: u16 = 0xfff1;
pub(crate) const SHN_COMMON: u16 = 0xfff2;
pub(crate) const SHN_XINDEX: u16 = 0xffff;

pub(crate) const STB_LOCAL: u8 = 0;
pub(crate) const STB_WEAK: u8 = 2;

pub(crate) const STT_FUNC: u8 = 2;
pub(crate) const STT_SECTION: u8 = 3;

/// Bounds-checked little-endian view of a file.
#[derive(Clone, Copy)]
pub(crate) struct Bytes<'a, 'f> {
    data: &'a [u8],
    file: &'f str,
}

impl<'a, 'f> Bytes<'a, 'f> {
    pub(crate) fn new(data: &'a [u8], file: &'f str) -> Self {
        Self { data, file }
    }

    fn malformed(&self, what: impl Into<String>) -> LinkError {
        LinkError::Malformed {
            file: self.file.to_string(),
            reason: what.into(),
        }
    }

    /// `len` bytes at `off`, or an error naming `what`.
    pub(crate) fn slice(&self, off: u64, len: u64, what: &str) -> Result<&'a [u8], LinkError> {
        let end = off.checked_add(len);
        let range = match end {
            Some(end) if end <= self.data.len() as u64 => off as usize..end as usize,
            _ => {
                return Err(self.malformed(format!(
                    "{what} (offset {off:#x}, {len} bytes) lies outside the file ({} bytes)",
                    self.data.len()
                )));
            }
        };
        // The range was checked against the length just above.
        self.data
            .get(range)
            .ok_or_else(|| self.malformed(what.to_string()))
    }

    fn array<const N: usize>(&self, off: u64, what: &str) -> Result<[u8; N], LinkError> {
        let s = self.slice(off, N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&self, off: u64, what: &str) -> Result<u8, LinkError> {
        Ok(self.array::<1>(off, what)?[0])
    }
    pub(crate) fn u16(&self, off: u64, what: &str) -> Result<u16, LinkError> {
        Ok(u16::from_le_bytes(self.array(off, what)?))
    }
    pub(crate) fn u32(&self, off: u64, what: &str) -> Result<u32, LinkError> {
        Ok(u32::from_le_bytes(self.array(off, what)?))
    }
    pub(crate) fn u64(&self, off: u64, what: &str) -> Result<u64, LinkError> {
        Ok(u64::from_le_bytes(self.array(off, what)?))
    }
}

/// One section header of an input object.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub align: u64,
}

/// One symbol of an input object's `.symtab`.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub name: String,
    pub bind: u8,
    pub kind: u8,
    pub shndx: u16,
    pub value: u64,
}

/// One REL entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rel {
    pub offset: u64,
    pub kind: u32,
    pub sym: u32,
}

/// A parsed relocatable object.
#[derive(Debug)]
pub(crate) struct Object<'a> {
    pub data: &'a [u8],
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
    /// Index of the `.symtab` section (0 when the object has none).
    pub symtab_index: usize,
}

const SHDR_SIZE: u64 = 64;
const SYM_SIZE: u64 = 24;
const REL_SIZE: u64 = 16;
/// Upper bound on header counts, so that a garbage count cannot make us allocate much.
const MAX_TABLE_ENTRIES: u64 = 1 << 20;

fn c_string(
    bytes: Bytes<'_, '_>,
    table: &Section,
    index: u32,
    what: &str,
) -> Result<String, LinkError> {
    if table.sh_type != SHT_STRTAB {
        return Err(bytes.malformed(format!("{what}: string table is not SHT_STRTAB")));
    }
    let all = bytes.slice(table.offset, table.size, "string table")?;
    let start = index as usize;
    let tail = all.get(start..).ok_or_else(|| {
        bytes.malformed(format!(
            "{what}: name offset {index:#x} outside its string table"
        ))
    })?;
    let len = tail
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| bytes.malformed(format!("{what}: unterminated name at {index:#x}")))?;
    let raw = tail.get(..len).unwrap_or_default();
    String::from_utf8(raw.to_vec())
        .map_err(|_| bytes.malformed(format!("{what}: name at {index:#x} is not UTF-8")))
}

impl<'a> Object<'a> {
    /// Parses the headers, section table and symbol table of `data`.
    pub(crate) fn parse(data: &'a [u8], file: &'a str) -> Result<Self, LinkError> {
        let b = Bytes::new(data, file);
        let not_bpf = |reason: String| LinkError::NotBpfObject {
            file: file.to_string(),
            reason,
        };
        let ident = b
            .slice(0, 16, "ELF identification")
            .map_err(|_| not_bpf("file is too small to be an ELF object".into()))?;
        if ident.get(0..4) != Some(b"\x7fELF".as_slice()) {
            return Err(not_bpf("missing ELF magic".into()));
        }
        if ident.get(4) != Some(&2) {
            return Err(not_bpf("not a 64-bit ELF file".into()));
        }
        if ident.get(5) != Some(&1) {
            return Err(not_bpf("not a little-endian ELF file".into()));
        }
        let e_type = b.u16(16, "ELF header")?;
        let e_machine = b.u16(18, "ELF header")?;
        if e_machine != EM_BPF {
            return Err(not_bpf(format!(
                "e_machine is {e_machine}, expected EM_BPF (247)"
            )));
        }
        if e_type != ET_REL {
            return Err(not_bpf(format!(
                "e_type is {e_type}, expected a relocatable object (ET_REL); compile with `-c`"
            )));
        }
        let e_shoff = b.u64(40, "ELF header")?;
        let e_shentsize = b.u16(58, "ELF header")?;
        let mut shnum = u64::from(b.u16(60, "ELF header")?);
        let mut shstrndx = u32::from(b.u16(62, "ELF header")?);
        if e_shoff == 0 {
            return Err(b.malformed("the object has no section header table"));
        }
        if u64::from(e_shentsize) != SHDR_SIZE {
            return Err(b.malformed(format!("e_shentsize is {e_shentsize}, expected 64")));
        }
        // Extended numbering: the real counts live in section header 0.
        if shnum == 0 {
            shnum = b.u64(e_shoff.saturating_add(32), "section header 0")?;
        }
        if shstrndx == u32::from(SHN_XINDEX) {
            shstrndx = b.u32(e_shoff.saturating_add(44), "section header 0")?;
        }
        if shnum > MAX_TABLE_ENTRIES {
            return Err(b.malformed(format!("implausible section count {shnum}")));
        }
        let table_len = shnum * SHDR_SIZE;
        b.slice(e_shoff, table_len, "section header table")?;

        let mut raw = Vec::with_capacity(shnum as usize);
        for i in 0..shnum {
            let at = e_shoff + i * SHDR_SIZE;
            let what = "section header";
            raw.push((
                b.u32(at, what)?,
                Section {
                    name: String::new(),
                    sh_type: b.u32(at + 4, what)?,
                    flags: b.u64(at + 8, what)?,
                    offset: b.u64(at + 24, what)?,
                    size: b.u64(at + 32, what)?,
                    link: b.u32(at + 40, what)?,
                    info: b.u32(at + 44, what)?,
                    align: b.u64(at + 48, what)?,
                },
            ));
        }
        let shstr = raw
            .get(shstrndx as usize)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                b.malformed(format!("section name table index {shstrndx} out of range"))
            })?;
        let mut sections = Vec::with_capacity(raw.len());
        for (i, (name_off, mut sec)) in raw.into_iter().enumerate() {
            if i != 0 {
                sec.name = c_string(b, &shstr, name_off, &format!("section #{i}"))?;
            }
            if sec.sh_type != SHT_NOBITS && i != 0 {
                b.slice(
                    sec.offset,
                    sec.size,
                    &format!("section {} contents", sec.name),
                )?;
            }
            sections.push(sec);
        }

        // The symbol table.
        let symtab_index = sections
            .iter()
            .position(|s| s.sh_type == SHT_SYMTAB)
            .unwrap_or(0);
        let mut symbols = Vec::new();
        if symtab_index != 0 {
            let symtab = &sections[symtab_index];
            if symtab.size % SYM_SIZE != 0 {
                return Err(b.malformed(format!(
                    ".symtab size {} is not a multiple of 24",
                    symtab.size
                )));
            }
            let strtab = sections.get(symtab.link as usize).ok_or_else(|| {
                b.malformed(format!(".symtab links to missing section {}", symtab.link))
            })?;
            let count = symtab.size / SYM_SIZE;
            if count > MAX_TABLE_ENTRIES {
                return Err(b.malformed(format!("implausible symbol count {count}")));
            }
            symbols.reserve(count as usize);
            for i in 0..count {
                let at = symtab.offset + i * SYM_SIZE;
                let what = "symbol";
                let st_name = b.u32(at, what)?;
                let st_info = b.u8(at + 4, what)?;
                let shndx = b.u16(at + 6, what)?;
                let value = b.u64(at + 8, what)?;
                let kind = st_info & 0xf;
                let mut name = if st_name == 0 {
                    String::new()
                } else {
                    c_string(b, strtab, st_name, &format!("symbol #{i}"))?
                };
                if name.is_empty()
                    && kind == STT_SECTION
                    && let Some(s) = sections.get(shndx as usize)
                {
                    name = s.name.clone();
                }
                symbols.push(Symbol {
                    name,
                    bind: st_info >> 4,
                    kind,
                    shndx,
                    value,
                });
            }
        }
        Ok(Object {
            data,
            sections,
            symbols,
            symtab_index,
        })
    }

    /// Contents of section `index` (empty for NOBITS).
    pub(crate) fn contents(&self, index: usize, file: &str) -> Result<&'a [u8], LinkError> {
        let b = Bytes::new(self.data, file);
        let sec = self
            .sections
            .get(index)
            .ok_or_else(|| b.malformed(format!("section index {index} out of range")))?;
        if sec.sh_type == SHT_NOBITS {
            return Ok(&[]);
        }
        b.slice(
            sec.offset,
            sec.size,
            &format!("section {} contents", sec.name),
        )
    }

    /// The REL entries of relocation section `index`.
    pub(crate) fn rels(&self, index: usize, file: &str) -> Result<Vec<Rel>, LinkError> {
        let b = Bytes::new(self.data, file);
        let sec = &self.sections[index];
        if !sec.size.is_multiple_of(REL_SIZE) {
            return Err(b.malformed(format!(
                "{} size {} is not a multiple of 16",
                sec.name, sec.size
            )));
        }
        if sec.link as usize != self.symtab_index || self.symtab_index == 0 {
            return Err(b.malformed(format!(
                "{} does not refer to the object's .symtab",
                sec.name
            )));
        }
        let count = sec.size / REL_SIZE;
        if count > MAX_TABLE_ENTRIES {
            return Err(b.malformed(format!(
                "implausible relocation count {count} in {}",
                sec.name
            )));
        }
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count {
            let at = sec.offset + i * REL_SIZE;
            let offset = b.u64(at, "relocation")?;
            let info = b.u64(at + 8, "relocation")?;
            out.push(Rel {
                offset,
                kind: (info & 0xffff_ffff) as u32,
                sym: (info >> 32) as u32,
            });
        }
        Ok(out)
    }
}

/// True for section indices that refer to a real section (not UNDEF/ABS/COMMON/...).
pub(crate) fn is_regular_index(shndx: u16) -> bool {
    shndx != SHN_UNDEF && shndx < SHN_LORESERVE
}
