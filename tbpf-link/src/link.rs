//! Symbol resolution, layout and relocation.

use std::collections::BTreeMap;

use crate::emit::{self, DynReloc, Image};
use crate::error::LinkError;
use crate::insn::{self, CodeSite, INSN, Insn, OP_CALL, OP_LDDW};
use crate::object::*;
use crate::{Export, ExportKind, LinkOptions, LinkedModule};

// BPF relocation types (as found in the input objects).
const R_BPF_NONE: u32 = 0;
const R_BPF_64_64: u32 = 1;
const R_BPF_64_ABS64: u32 = 2;
const R_BPF_64_ABS32: u32 = 3;
const R_BPF_64_NODYLD32: u32 = 4;
const R_BPF_64_32: u32 = 10;

fn reloc_name(kind: u32) -> &'static str {
    match kind {
        R_BPF_NONE => "R_BPF_NONE",
        R_BPF_64_64 => "R_BPF_64_64",
        R_BPF_64_ABS64 => "R_BPF_64_ABS64",
        R_BPF_64_ABS32 => "R_BPF_64_ABS32",
        R_BPF_64_NODYLD32 => "R_BPF_64_NODYLD32",
        R_BPF_64_32 => "R_BPF_64_32",
        _ => "unknown",
    }
}

/// Longest symbol name solana-rbpf 0.8.5 reads from `.dynstr` (64 bytes with the NUL).
const MAX_DYN_NAME: usize = 63;

/// What an input section becomes in the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Not loaded (debug info, symbol tables, empty writable sections...).
    Dropped,
    /// Merged into `.text`.
    Code,
    /// Merged into `.rodata`.
    Rodata,
}

struct Input<'a> {
    file: &'a str,
    obj: Object<'a>,
    roles: Vec<Role>,
    /// Module address of each loaded section (0 for dropped ones).
    addr: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct GlobalDef {
    input: usize,
    sym: usize,
    weak: bool,
}

/// Where a symbol reference ends up.
enum Resolved {
    /// A module address (byte offset == virtual address) and whether it is in `.text`.
    Addr { addr: u64, code: bool },
    /// An absolute value (`SHN_ABS`).
    Abs(u64),
    /// No object defines it.
    Undefined(String),
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    debug_assert!(a.is_power_of_two());
    v.checked_add(a - 1).map(|x| x & !(a - 1))
}

fn classify(file: &str, sec: &Section) -> Result<Role, LinkError> {
    let writable_err = || LinkError::WritableData {
        file: file.to_string(),
        section: sec.name.clone(),
        size: sec.size,
    };
    if sec.flags & SHF_ALLOC == 0 {
        return Ok(Role::Dropped);
    }
    if sec.sh_type == SHT_NOBITS {
        return if sec.size == 0 {
            Ok(Role::Dropped)
        } else {
            Err(writable_err())
        };
    }
    if sec.flags & SHF_EXECINSTR != 0 {
        if sec.flags & SHF_WRITE != 0 {
            return Err(LinkError::UnsupportedSection {
                file: file.to_string(),
                section: sec.name.clone(),
                reason: "code section is writable".into(),
            });
        }
        if sec.sh_type != SHT_PROGBITS {
            return Err(LinkError::UnsupportedSection {
                file: file.to_string(),
                section: sec.name.clone(),
                reason: format!(
                    "code section has type {}, expected SHT_PROGBITS",
                    sec.sh_type
                ),
            });
        }
        return Ok(Role::Code);
    }
    if sec.name == ".data.rel.ro" || sec.name.starts_with(".data.rel.ro.") {
        // Written only by relocations, which the loader applies: read-only at run time.
        return Ok(Role::Rodata);
    }
    if sec.flags & SHF_WRITE != 0 {
        return if sec.size == 0 {
            Ok(Role::Dropped)
        } else {
            Err(writable_err())
        };
    }
    if sec.sh_type == SHT_PROGBITS {
        return Ok(Role::Rodata);
    }
    if sec.size == 0 {
        return Ok(Role::Dropped);
    }
    Err(LinkError::UnsupportedSection {
        file: file.to_string(),
        section: sec.name.clone(),
        reason: format!("allocated section of type {} is not supported", sec.sh_type),
    })
}

/// Parses `entry_<N>` / `hook_<N>`; `Ok(None)` for names of another form.
fn parse_export(name: &str) -> Result<Option<(ExportKind, u16)>, String> {
    let (kind, digits, max) = if let Some(d) = name.strip_prefix("entry_") {
        (ExportKind::Entry, d, u64::from(u16::MAX))
    } else if let Some(d) = name.strip_prefix("hook_") {
        (ExportKind::Hook, d, u64::from(u8::MAX))
    } else {
        return Ok(None);
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(format!(
            "the number in `{name}` has a leading zero; write it in canonical decimal"
        ));
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= max => Ok(Some((kind, n as u16))),
        _ => Err(format!("the id in `{name}` is larger than {max}")),
    }
}

pub(crate) fn link(
    inputs: &[(&str, &[u8])],
    opts: &LinkOptions,
) -> Result<LinkedModule, LinkError> {
    if inputs.is_empty() {
        return Err(LinkError::NoInputs);
    }

    // 1. Parse and classify.
    let mut objs = Vec::with_capacity(inputs.len());
    for (file, bytes) in inputs {
        let obj = Object::parse(bytes, file)?;
        let mut roles = Vec::with_capacity(obj.sections.len());
        for (i, sec) in obj.sections.iter().enumerate() {
            roles.push(if i == 0 {
                Role::Dropped
            } else {
                classify(file, sec)?
            });
        }
        // Relocations against loaded sections must be REL, and refer to the symtab.
        for sec in &obj.sections {
            if sec.sh_type == SHT_RELA
                && roles
                    .get(sec.info as usize)
                    .is_some_and(|r| *r != Role::Dropped)
            {
                return Err(LinkError::UnsupportedSection {
                    file: file.to_string(),
                    section: sec.name.clone(),
                    reason: "RELA relocations are not used by BPF objects and are not supported"
                        .into(),
                });
            }
        }
        let n = obj.sections.len();
        objs.push(Input {
            file,
            obj,
            roles,
            addr: vec![0; n],
        });
    }

    // 2. Global symbols.
    let mut globals: BTreeMap<String, GlobalDef> = BTreeMap::new();
    for (ii, inp) in objs.iter().enumerate() {
        for (si, sym) in inp.obj.symbols.iter().enumerate() {
            if si == 0 || sym.bind == STB_LOCAL || sym.shndx == SHN_UNDEF || sym.name.is_empty() {
                continue;
            }
            if sym.shndx == SHN_COMMON {
                return Err(LinkError::CommonSymbol {
                    file: inp.file.to_string(),
                    symbol: sym.name.clone(),
                });
            }
            let weak = sym.bind == STB_WEAK;
            let def = GlobalDef {
                input: ii,
                sym: si,
                weak,
            };
            match globals.get(&sym.name) {
                None => {
                    globals.insert(sym.name.clone(), def);
                }
                Some(prev) if prev.weak && !weak => {
                    globals.insert(sym.name.clone(), def);
                }
                Some(prev) if !prev.weak && !weak => {
                    return Err(LinkError::DuplicateSymbol {
                        symbol: sym.name.clone(),
                        first: objs[prev.input].file.to_string(),
                        second: inp.file.to_string(),
                    });
                }
                Some(_) => {}
            }
        }
    }

    // 3. Layout: headers, .text (objects in order, sections in order), dispatcher, .rodata.
    let mut code_size = 0u64;
    let mut ro_size = 0u64;
    let mut ro_align = 1u64;
    // Offsets relative to the start of .text / .rodata for now.
    for inp in objs.iter_mut() {
        for (i, sec) in inp.obj.sections.iter().enumerate() {
            match inp.roles[i] {
                Role::Dropped => {}
                Role::Code => {
                    if sec.size % INSN != 0 {
                        return Err(LinkError::BadCode {
                            file: inp.file.to_string(),
                            section: sec.name.clone(),
                            offset: sec.size - sec.size % INSN,
                            reason: format!(
                                "code section size {} is not a multiple of 8",
                                sec.size
                            ),
                        });
                    }
                    inp.addr[i] = code_size;
                    code_size = code_size.checked_add(sec.size).ok_or_else(too_large)?;
                }
                Role::Rodata => {
                    let a = sec.align.max(1);
                    if !a.is_power_of_two() || a > 4096 {
                        return Err(LinkError::UnsupportedSection {
                            file: inp.file.to_string(),
                            section: sec.name.clone(),
                            reason: format!("alignment {a} is not a power of two up to 4096"),
                        });
                    }
                    ro_align = ro_align.max(a);
                    ro_size = align_up(ro_size, a).ok_or_else(too_large)?;
                    inp.addr[i] = ro_size;
                    ro_size = ro_size.checked_add(sec.size).ok_or_else(too_large)?;
                }
            }
        }
    }

    // Exports and the entrypoint.
    let mut exports = Vec::new();
    let mut entrypoint: Option<GlobalDef> = None;
    for (name, def) in &globals {
        let parsed = parse_export(name).map_err(|reason| LinkError::BadSymbol {
            file: objs[def.input].file.to_string(),
            symbol: name.clone(),
            reason,
        })?;
        let kind_id = if name == "entrypoint" { None } else { parsed };
        if kind_id.is_none() && name != "entrypoint" {
            continue;
        }
        let inp = &objs[def.input];
        let sym = &inp.obj.symbols[def.sym];
        let in_code =
            is_regular_index(sym.shndx) && inp.roles.get(sym.shndx as usize) == Some(&Role::Code);
        if !in_code || (sym.kind != STT_FUNC && sym.kind != 0) {
            return Err(LinkError::BadSymbol {
                file: inp.file.to_string(),
                symbol: name.clone(),
                reason: "is exported to the runtime but is not a function in a code section".into(),
            });
        }
        if sym.value % INSN != 0 {
            return Err(LinkError::BadSymbol {
                file: inp.file.to_string(),
                symbol: name.clone(),
                reason: format!("address {:#x} is not instruction-aligned", sym.value),
            });
        }
        match kind_id {
            None => entrypoint = Some(*def),
            Some((kind, id)) => exports.push((kind, id, *def)),
        }
    }
    exports.sort_by_key(|(k, id, _)| (*k, *id));
    if entrypoint.is_none() && exports.is_empty() {
        return Err(LinkError::NoEntry);
    }
    // Dispatcher size is known before addresses are.
    let dispatcher_slots = if entrypoint.is_none() {
        insn::dispatcher_slots(exports.len())
    } else {
        0
    };
    if dispatcher_slots > 30_000 {
        return Err(LinkError::TooLarge {
            reason: format!("{} exported entries and hooks", exports.len()),
        });
    }
    let text_size = code_size
        .checked_add(dispatcher_slots * INSN)
        .ok_or_else(too_large)?;

    let layout = emit::Layout::new(text_size, ro_size, ro_align)?;
    for inp in objs.iter_mut() {
        for i in 0..inp.addr.len() {
            match inp.roles[i] {
                Role::Code => inp.addr[i] += layout.text_addr,
                Role::Rodata => inp.addr[i] += layout.rodata_addr,
                Role::Dropped => {}
            }
        }
    }

    // 4. Copy and relocate.
    let mut text = vec![0u8; text_size as usize];
    let mut rodata = vec![0u8; ro_size as usize];
    let mut dyn_relocs: Vec<DynReloc> = Vec::new();
    let mut imports: BTreeMap<String, ()> = BTreeMap::new();
    // Calls that the SBPFv1 loader would misread (`call -1` to the call itself), as
    // (call address, target address).
    let mut local_calls: Vec<(u64, u64)> = Vec::new();
    for ii in 0..objs.len() {
        let inp = &objs[ii];
        for i in 0..inp.obj.sections.len() {
            let role = inp.roles[i];
            if role == Role::Dropped {
                continue;
            }
            let data = inp.obj.contents(i, inp.file)?;
            let (buf, base) = match role {
                Role::Code => (&mut text, layout.text_addr),
                _ => (&mut rodata, layout.rodata_addr),
            };
            let start = (inp.addr[i] - base) as usize;
            buf[start..start + data.len()].copy_from_slice(data);
        }
        // Relocation sections, in section order.
        let mut relocated_calls: BTreeMap<usize, Vec<bool>> = BTreeMap::new();
        for (ri, rsec) in inp.obj.sections.iter().enumerate() {
            if rsec.sh_type != SHT_REL {
                continue;
            }
            let target = rsec.info as usize;
            let Some(&role) = inp.roles.get(target) else {
                return Err(LinkError::Malformed {
                    file: inp.file.to_string(),
                    reason: format!("{} applies to missing section {target}", rsec.name),
                });
            };
            if role == Role::Dropped {
                continue;
            }
            let tsec = &inp.obj.sections[target];
            let sec_addr = inp.addr[target];
            for rel in inp.obj.rels(ri, inp.file)? {
                let sym =
                    inp.obj
                        .symbols
                        .get(rel.sym as usize)
                        .ok_or_else(|| LinkError::Malformed {
                            file: inp.file.to_string(),
                            reason: format!(
                                "{}+{:#x}: relocation refers to symbol #{} which does not exist",
                                tsec.name, rel.offset, rel.sym
                            ),
                        })?;
                let site = RelSite {
                    file: inp.file,
                    section: &tsec.name,
                    offset: rel.offset,
                    kind: rel.kind,
                    symbol: &sym.name,
                };
                let width = match rel.kind {
                    R_BPF_NONE => 0,
                    R_BPF_64_64 => 16,
                    R_BPF_64_32 | R_BPF_64_ABS64 => 8,
                    R_BPF_64_ABS32 | R_BPF_64_NODYLD32 => 4,
                    kind => {
                        return Err(LinkError::UnknownRelocation {
                            file: inp.file.to_string(),
                            section: tsec.name.clone(),
                            offset: rel.offset,
                            kind,
                            symbol: sym.name.clone(),
                        });
                    }
                };
                if rel.kind == R_BPF_NONE {
                    continue;
                }
                if rel
                    .offset
                    .checked_add(width)
                    .is_none_or(|end| end > tsec.size)
                {
                    return Err(site.bad("the relocated field lies outside the section"));
                }
                let out_addr = sec_addr + rel.offset;
                let resolved = resolve(&objs, &globals, ii, rel.sym as usize)?;
                let resolved = match resolved {
                    Ok(r) => r,
                    Err(sec_name) => {
                        return Err(site.bad(&format!(
                            "the symbol lies in section {sec_name}, which is not loaded into the module"
                        )));
                    }
                };
                match (role, rel.kind) {
                    (Role::Code, R_BPF_64_64) => {
                        if rel.offset % INSN != 0 {
                            return Err(site.bad("not at an instruction boundary"));
                        }
                        let at = (out_addr - layout.text_addr) as usize;
                        if text[at] != OP_LDDW {
                            return Err(site.bad(&format!(
                                "applies to opcode {:#04x}, expected lddw (0x18)",
                                text[at]
                            )));
                        }
                        let addend = u64::from(read_u32(&text, at + 4));
                        let value = match resolved {
                            Resolved::Addr { addr, .. } => {
                                dyn_relocs.push(DynReloc::Relative { offset: out_addr });
                                addr.checked_add(addend).ok_or_else(too_large)?
                            }
                            Resolved::Abs(v) => v.wrapping_add(addend),
                            Resolved::Undefined(name) => return Err(site.undefined_data(&name)),
                        };
                        write_u32(&mut text, at + 4, value as u32);
                        write_u32(&mut text, at + 12, (value >> 32) as u32);
                    }
                    (Role::Code, R_BPF_64_32) => {
                        if rel.offset % INSN != 0 {
                            return Err(site.bad("not at an instruction boundary"));
                        }
                        let at = (out_addr - layout.text_addr) as usize;
                        if text[at] != OP_CALL {
                            return Err(site.bad(&format!(
                                "applies to opcode {:#04x}, expected call (0x85)",
                                text[at]
                            )));
                        }
                        let imm = read_u32(&text, at + 4) as i32;
                        match resolved {
                            Resolved::Addr { addr, code: true } => {
                                let target = addr as i64 + (i64::from(imm) + 1) * INSN as i64;
                                if target < layout.text_addr as i64
                                    || target >= (layout.text_addr + code_size) as i64
                                    || (target - layout.text_addr as i64) % INSN as i64 != 0
                                {
                                    return Err(site.bad(&format!(
                                        "call target {target:#x} is not an instruction in .text"
                                    )));
                                }
                                let rel_slots =
                                    (target - (out_addr as i64 + INSN as i64)) / INSN as i64;
                                let rel_slots =
                                    i32::try_from(rel_slots).map_err(|_| too_large())?;
                                write_u32(&mut text, at + 4, rel_slots as u32);
                                if rel_slots == -1 {
                                    // A call of itself: the SBPFv1 loader skips `call -1`
                                    // as unresolved, so the loader is told the target.
                                    local_calls.push((out_addr, target as u64));
                                }
                            }
                            Resolved::Addr { code: false, .. } | Resolved::Abs(_) => {
                                return Err(site.bad("call to a symbol that is not code"));
                            }
                            Resolved::Undefined(name) => {
                                if imm != -1 {
                                    return Err(site.bad(&format!(
                                        "call to undefined `{name}` with addend {imm} (expected -1)"
                                    )));
                                }
                                if name.len() > MAX_DYN_NAME {
                                    return Err(site.bad(&format!(
                                        "syscall name `{name}` is longer than {MAX_DYN_NAME} bytes, which the TBPF loader cannot read"
                                    )));
                                }
                                if let Some(known) = &opts.known_syscalls
                                    && !known.contains(&name)
                                {
                                    return Err(LinkError::UnknownSyscall {
                                        file: inp.file.to_string(),
                                        section: tsec.name.clone(),
                                        offset: rel.offset,
                                        symbol: name,
                                    });
                                }
                                imports.insert(name.clone(), ());
                                dyn_relocs.push(DynReloc::Syscall {
                                    offset: out_addr,
                                    name,
                                });
                            }
                        }
                        let slots = relocated_calls
                            .entry(target)
                            .or_insert_with(|| vec![false; (tsec.size / INSN) as usize]);
                        if let Some(s) = slots.get_mut((rel.offset / INSN) as usize) {
                            *s = true;
                        }
                    }
                    (Role::Rodata, R_BPF_64_ABS64) => {
                        let at = (out_addr - layout.rodata_addr) as usize;
                        let addend = read_u64(&rodata, at);
                        match resolved {
                            Resolved::Addr { addr, .. } => {
                                let value = addr.checked_add(addend).ok_or_else(too_large)?;
                                let value = u32::try_from(value).map_err(|_| {
                                    site.bad(&format!("pointer target {value:#x} does not fit the loader's 32-bit field"))
                                })?;
                                // SBPFv1 loader: reads the target from the upper half and
                                // stores MM_PROGRAM_START + target as a u64.
                                write_u32(&mut rodata, at, 0);
                                write_u32(&mut rodata, at + 4, value);
                                dyn_relocs.push(DynReloc::Relative { offset: out_addr });
                            }
                            Resolved::Abs(v) => {
                                let v = v.wrapping_add(addend).to_le_bytes();
                                rodata[at..at + 8].copy_from_slice(&v);
                            }
                            Resolved::Undefined(name) => return Err(site.undefined_data(&name)),
                        }
                    }
                    (Role::Rodata, R_BPF_64_ABS32) => match resolved {
                        Resolved::Abs(v) => {
                            let at = (out_addr - layout.rodata_addr) as usize;
                            let addend = read_u32(&rodata, at);
                            write_u32(&mut rodata, at, (v as u32).wrapping_add(addend));
                        }
                        Resolved::Undefined(name) => return Err(site.undefined_data(&name)),
                        Resolved::Addr { .. } => {
                            return Err(site.bad(
                                "a 32-bit absolute address, or a 32-bit offset of a relative lookup table \
                                 (clang -fPIC; BPF objects cannot tell the two apart), which the TBPF \
                                 loader cannot relocate; use 64-bit pointers and build without -fPIC",
                            ));
                        }
                    },
                    (Role::Code, _) => {
                        if let Resolved::Undefined(name) = &resolved {
                            return Err(site.undefined_data(name));
                        }
                        return Err(site.bad("data relocation inside code"));
                    }
                    _ => {
                        if let Resolved::Undefined(name) = &resolved {
                            return Err(site.undefined_data(name));
                        }
                        return Err(site.bad("instruction relocation inside read-only data"));
                    }
                }
            }
        }
        // Instruction checks on the input code (relocation-aware for calls).
        for i in 0..inp.obj.sections.len() {
            if inp.roles[i] != Role::Code {
                continue;
            }
            let sec = &inp.obj.sections[i];
            let code = inp.obj.contents(i, inp.file)?;
            let none = Vec::new();
            let calls = relocated_calls.get(&i).unwrap_or(&none);
            let site = CodeSite {
                file: inp.file,
                section: &sec.name,
            };
            let fixups = insn::check_code(&site, code, calls)?;
            for at in fixups.self_calls {
                let out = inp.addr[i] + at;
                local_calls.push((out, out));
            }
            for at in fixups.callx {
                let out = (inp.addr[i] - layout.text_addr + at) as usize;
                if let Some(mut insn) = Insn::read(&text, out as u64) {
                    insn.imm = i32::from(insn.dst);
                    insn.dst = 0;
                    text[out..out + 8].copy_from_slice(&insn.bytes());
                }
            }
        }
    }

    // 5. Entry point.
    let sym_addr = |def: &GlobalDef| -> u64 {
        let inp = &objs[def.input];
        let sym = &inp.obj.symbols[def.sym];
        inp.addr[sym.shndx as usize] + sym.value
    };
    let check_in_section = |def: &GlobalDef, name: &str| -> Result<(), LinkError> {
        let inp = &objs[def.input];
        let sym = &inp.obj.symbols[def.sym];
        let size = inp.obj.sections[sym.shndx as usize].size;
        if sym.value >= size {
            return Err(LinkError::BadSymbol {
                file: inp.file.to_string(),
                symbol: name.to_string(),
                reason: format!(
                    "address {:#x} lies outside its section ({size} bytes)",
                    sym.value
                ),
            });
        }
        Ok(())
    };
    let mut export_list = Vec::new();
    let entry_addr = match &entrypoint {
        Some(def) => {
            check_in_section(def, "entrypoint")?;
            let a = sym_addr(def);
            export_list.push(Export {
                name: "entrypoint".into(),
                kind: ExportKind::Entrypoint,
                id: 0,
                addr: a,
            });
            a
        }
        None => layout.text_addr + code_size,
    };
    let mut targets = Vec::new();
    for (kind, id, def) in &exports {
        let name = match kind {
            ExportKind::Hook => format!("hook_{id}"),
            _ => format!("entry_{id}"),
        };
        check_in_section(def, &name)?;
        let addr = sym_addr(def);
        targets.push(insn::Target {
            kind: if *kind == ExportKind::Entry { 0 } else { 1 },
            id: *id,
            addr,
        });
        export_list.push(Export {
            name,
            kind: *kind,
            id: *id,
            addr,
        });
    }
    if entrypoint.is_none() {
        let code = insn::dispatcher(entry_addr, &targets);
        let at = code_size as usize;
        text[at..at + code.len()].copy_from_slice(&code);
    }

    // Self-calls go through an R_BPF_64_32 relocation against a `.dynsym` function symbol
    // of the target, which rbpf 0.8.5 registers as a function and resolves like a relative
    // call (same registry key: the hash of the target's instruction index).
    for (offset, target) in local_calls {
        let name = call_target_name(&objs, &export_list, target, layout.text_addr);
        dyn_relocs.push(DynReloc::LocalCall {
            offset,
            target,
            name,
        });
    }

    // 6. Write the module.
    let image = Image {
        layout,
        text,
        rodata,
        entry: entry_addr,
        exports: export_list.clone(),
        imports: imports.keys().cloned().collect(),
        relocs: dyn_relocs,
    };
    let bytes = emit::write(&image)?;
    Ok(LinkedModule {
        bytes,
        entry: entry_addr,
        generated_entrypoint: entrypoint.is_none(),
        exports: export_list,
        syscalls: imports.into_keys().collect(),
    })
}

/// The `.dynsym` name for the target of a self-call at module address `target`: the name of
/// an export there, else of a function symbol there (a global one first), else
/// `function_<slot>` (its instruction index in `.text`). Names the loader would treat
/// specially (`entrypoint`, `entry_<N>`, `hook_<N>`) or could not read (over 63 bytes) are
/// only used for the export they belong to.
fn call_target_name(objs: &[Input<'_>], exports: &[Export], target: u64, text_addr: u64) -> String {
    if let Some(e) = exports.iter().find(|e| e.addr == target) {
        return e.name.clone();
    }
    let usable = |name: &str| {
        !name.is_empty()
            && name.len() <= MAX_DYN_NAME
            && name != "entrypoint"
            && parse_export(name) == Ok(None)
    };
    let mut best: Option<(bool, &str)> = None;
    for inp in objs {
        for sym in &inp.obj.symbols {
            let idx = sym.shndx as usize;
            if sym.kind != STT_FUNC
                || !is_regular_index(sym.shndx)
                || inp.roles.get(idx) != Some(&Role::Code)
                || inp.addr.get(idx).and_then(|a| a.checked_add(sym.value)) != Some(target)
                || !usable(&sym.name)
            {
                continue;
            }
            let global = sym.bind != STB_LOCAL;
            if best.is_none_or(|(g, _)| global && !g) {
                best = Some((global, &sym.name));
            }
        }
    }
    match best {
        Some((_, name)) => name.to_string(),
        None => format!("function_{}", (target - text_addr) / INSN),
    }
}

fn too_large() -> LinkError {
    LinkError::TooLarge {
        reason: "sizes or addresses overflow".into(),
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

fn write_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

struct RelSite<'a> {
    file: &'a str,
    section: &'a str,
    offset: u64,
    kind: u32,
    symbol: &'a str,
}

impl RelSite<'_> {
    fn bad(&self, reason: &str) -> LinkError {
        LinkError::BadRelocation {
            file: self.file.to_string(),
            section: self.section.to_string(),
            offset: self.offset,
            kind_name: reloc_name(self.kind),
            symbol: self.symbol.to_string(),
            reason: reason.to_string(),
        }
    }
    fn undefined_data(&self, name: &str) -> LinkError {
        LinkError::UndefinedDataSymbol {
            file: self.file.to_string(),
            section: self.section.to_string(),
            offset: self.offset,
            symbol: name.to_string(),
        }
    }
}

/// Resolves symbol `sym` of input `ii`. The inner `Err` carries the name of a section
/// that holds the symbol but is not loaded.
fn resolve(
    objs: &[Input<'_>],
    globals: &BTreeMap<String, GlobalDef>,
    ii: usize,
    sym: usize,
) -> Result<Result<Resolved, String>, LinkError> {
    let inp = &objs[ii];
    let s = &inp.obj.symbols[sym];
    let (inp, s) = if s.shndx == SHN_UNDEF {
        if s.name.is_empty() {
            return Err(LinkError::Malformed {
                file: inp.file.to_string(),
                reason: format!("relocation against undefined symbol #{sym} without a name"),
            });
        }
        match globals.get(&s.name) {
            Some(def) => (&objs[def.input], &objs[def.input].obj.symbols[def.sym]),
            None => return Ok(Ok(Resolved::Undefined(s.name.clone()))),
        }
    } else if s.bind != STB_LOCAL && !s.name.is_empty() {
        // A weak definition may have been overridden by a strong one elsewhere.
        match globals.get(&s.name) {
            Some(def) => (&objs[def.input], &objs[def.input].obj.symbols[def.sym]),
            None => (inp, s),
        }
    } else {
        (inp, s)
    };
    match s.shndx {
        SHN_ABS => return Ok(Ok(Resolved::Abs(s.value))),
        SHN_COMMON => {
            return Err(LinkError::CommonSymbol {
                file: inp.file.to_string(),
                symbol: s.name.clone(),
            });
        }
        _ => {}
    }
    let idx = s.shndx as usize;
    if !is_regular_index(s.shndx) || idx >= inp.obj.sections.len() {
        return Err(LinkError::Malformed {
            file: inp.file.to_string(),
            reason: format!(
                "symbol `{}` has unsupported section index {:#x}",
                s.name, s.shndx
            ),
        });
    }
    let sec = &inp.obj.sections[idx];
    if inp.roles[idx] == Role::Dropped {
        return Ok(Err(sec.name.clone()));
    }
    if s.value > sec.size {
        return Err(LinkError::Malformed {
            file: inp.file.to_string(),
            reason: format!(
                "symbol `{}` value {:#x} lies outside section {}",
                s.name, s.value, sec.name
            ),
        });
    }
    Ok(Ok(Resolved::Addr {
        addr: inp.addr[idx] + s.value,
        code: inp.roles[idx] == Role::Code,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names() {
        assert_eq!(parse_export("entry_0"), Ok(Some((ExportKind::Entry, 0))));
        assert_eq!(
            parse_export("entry_65535"),
            Ok(Some((ExportKind::Entry, 65535)))
        );
        assert_eq!(parse_export("hook_255"), Ok(Some((ExportKind::Hook, 255))));
        assert_eq!(parse_export("entry_foo"), Ok(None));
        assert_eq!(parse_export("entry_"), Ok(None));
        assert_eq!(parse_export("entry_-1"), Ok(None));
        assert_eq!(parse_export("entrypoint"), Ok(None));
        assert!(parse_export("entry_65536").is_err());
        assert!(parse_export("hook_256").is_err());
        assert!(parse_export("entry_01").is_err());
        assert!(parse_export("entry_99999999999999999999999").is_err());
    }
}
