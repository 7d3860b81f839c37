//! Links the fixtures, checks every refusal, and runs linked modules in
//! solana-rbpf 0.8.5 (real loader, verifier and interpreter).

mod common;

use common::{Host, fixture, input, run, variants};
use tos_tbpf_link::{ExportKind, LinkError, LinkOptions, link, link_module, syscall_hash};

fn any() -> LinkOptions {
    LinkOptions::default()
}

fn link_one(name: &str, bytes: &[u8]) -> Result<Vec<u8>, LinkError> {
    link(&[(name, bytes)], &any())
}

fn multi() -> Vec<u8> {
    let a = fixture("multi_a");
    let b = fixture("multi_b");
    link(&[("multi_a.o", &a), ("multi_b.o", &b)], &any()).expect("link multi")
}

#[test]
fn fixtures_are_reproducible_from_sources() {
    let Some(dir) = common::fresh_fixtures() else {
        return;
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(common::fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "o") {
            let name = path.file_name().unwrap();
            let fresh = std::fs::read(dir.path().join(name)).unwrap();
            assert_eq!(
                fresh,
                std::fs::read(&path).unwrap(),
                "{} differs from a fresh build",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 10);
}

#[test]
fn syscall_hash_matches_rbpf() {
    for name in tos_tbpf_link::TOS_SYSCALLS
        .iter()
        .chain(["", "a", "ab", "abc", "entrypoint", "test_mul"].iter())
    {
        assert_eq!(
            syscall_hash(name.as_bytes()),
            solana_rbpf::ebpf::hash_symbol_name(name.as_bytes()),
            "{name}"
        );
    }
}

#[test]
fn multi_object_link_runs_in_rbpf() {
    let a_variants = variants("multi_a");
    let b_variants = variants("multi_b");
    for (a, b) in a_variants.iter().zip(b_variants.iter()) {
        let module = link(&[("multi_a.o", a), ("multi_b.o", b)], &any()).expect("link");
        let mut host = Host::default();

        assert_eq!(run(&module, &input(0, 0, &[]), &mut host), Ok(0));
        assert_eq!(host.logs, vec![b"hello from a".to_vec()]);

        // callx through a table of local and cross-object functions; strings through a pointer table.
        for (op, x, want, name) in [
            (0u8, 5u8, 6u64, "inc"),
            (1, 9, 81, "square"),
            (2, 21, 42, "twice"),
        ] {
            let mut host = Host::default();
            assert_eq!(run(&module, &input(0, 1, &[op, x]), &mut host), Ok(0));
            assert_eq!(host.return_data, want.to_le_bytes().to_vec());
            assert_eq!(host.logs, vec![name.as_bytes().to_vec()]);
        }
        let mut host = Host::default();
        assert_eq!(run(&module, &input(0, 1, &[3, 1]), &mut host), Ok(1));

        // Syscall with a result, plus a call into the other object.
        assert_eq!(
            run(
                &module,
                &input(0, 7, &[1, 2, 3, 4, 5]),
                &mut Host::default()
            ),
            Ok(15 + 10)
        );
        // Entry defined in the second object.
        assert_eq!(
            run(&module, &input(0, 2, &[9, 9, 9]), &mut Host::default()),
            Ok(103)
        );
        // Hook reading global read-only data of the other object.
        let mut host = Host::default();
        assert_eq!(run(&module, &input(1, 0, &[]), &mut host), Ok(42));
        assert_eq!(host.logs, vec![b"greet".to_vec()]);
        // Unknown ids and kinds.
        for inp in [
            input(0, 3, &[]),
            input(1, 1, &[]),
            input(2, 0, &[]),
            input(0, 256, &[]),
            input(1, 7, &[]),
        ] {
            assert_eq!(
                run(&module, &inp, &mut Host::default()),
                Ok(u64::MAX),
                "{inp:?}"
            );
        }
    }
}

#[test]
fn multi_object_exports_imports_and_goblin_view() {
    let a = fixture("multi_a");
    let b = fixture("multi_b");
    let m = link_module(&[("multi_a.o", &a), ("multi_b.o", &b)], &any()).unwrap();
    assert!(m.generated_entrypoint);
    let names: Vec<&str> = m.exports.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["entry_0", "entry_1", "entry_2", "entry_7", "hook_0"]
    );
    assert_eq!(m.exports[4].kind, ExportKind::Hook);
    assert_eq!(m.syscalls, ["test_mul", "tos_log", "tos_set_return_data"]);

    // An independent ELF parser sees the same thing.
    let elf = goblin::elf::Elf::parse(&m.bytes).expect("goblin parses the module");
    assert_eq!(elf.header.e_type, goblin::elf::header::ET_DYN);
    assert_eq!(elf.header.e_machine, goblin::elf::header::EM_BPF);
    assert_eq!(elf.header.e_flags, 0);
    assert_eq!(elf.entry, m.entry);
    let dynsyms: Vec<(String, u64, bool)> = elf
        .dynsyms
        .iter()
        .skip(1)
        .map(|s| {
            (
                elf.dynstrtab.get_at(s.st_name).unwrap().to_string(),
                s.st_value,
                s.is_function(),
            )
        })
        .collect();
    let mut want: Vec<(String, u64, bool)> = m
        .exports
        .iter()
        .map(|e| (e.name.clone(), e.addr, true))
        .collect();
    want.extend(m.syscalls.iter().map(|s| (s.clone(), 0, false)));
    assert_eq!(dynsyms, want);
    for sh in &elf.section_headers {
        if sh.sh_addr != 0 {
            assert_eq!(sh.sh_addr, sh.sh_offset, "address == offset");
        }
    }
    assert!(!elf.dynrels.is_empty());
}

#[test]
fn link_is_deterministic_and_order_defines_layout() {
    let one = multi();
    for _ in 0..3 {
        assert_eq!(multi(), one);
    }
    let a = fixture("multi_a");
    let b = fixture("multi_b");
    let swapped = link(&[("multi_b.o", &b), ("multi_a.o", &a)], &any()).unwrap();
    assert_ne!(swapped, one);
    assert_eq!(
        run(&swapped, &input(0, 1, &[2, 21]), &mut Host::default()),
        Ok(0)
    );
    assert_eq!(
        run(&swapped, &input(0, 2, &[1]), &mut Host::default()),
        Ok(101)
    );
}

#[test]
fn own_entrypoint_is_kept() {
    for obj in variants("own_entry") {
        let m = link_module(&[("own_entry.o", &obj)], &any()).unwrap();
        assert!(!m.generated_entrypoint);
        assert_eq!(m.exports[0].kind, ExportKind::Entrypoint);
        assert_eq!(m.entry, m.exports[0].addr);
        assert_eq!(m.exports[1].name, "entry_5");
        // The object's entrypoint runs for every call: it returns id + 1000.
        assert_eq!(
            run(&m.bytes, &input(0, 5, &[]), &mut Host::default()),
            Ok(1005)
        );
        assert_eq!(
            run(&m.bytes, &input(0, 9, &[]), &mut Host::default()),
            Ok(1009)
        );
    }
}

#[test]
fn separate_code_sections_and_rodata_alignments() {
    for obj in variants("sections") {
        let module = link_one("sections.o", &obj).unwrap();
        // helper(x) = x + halves[x % 3] + words[x & 1]
        let helper = |x: u64| x + [3, 5, 7][(x % 3) as usize] + [11, 13][(x & 1) as usize];
        for len in [0u64, 1, 2, 5] {
            let params = vec![0u8; len as usize];
            assert_eq!(
                run(&module, &input(0, 9, &params), &mut Host::default()),
                Ok(helper(len) + helper(len + 1))
            );
        }
    }
}

#[test]
fn tos_abi_options_accept_abi_syscalls_and_refuse_others() {
    let a = fixture("multi_b");
    assert!(link(&[("multi_b.o", &a)], &LinkOptions::tos_abi()).is_ok());
    for obj in variants("unknown_syscall") {
        let err = link(&[("unknown_syscall.o", &obj)], &LinkOptions::tos_abi()).unwrap_err();
        assert!(
            matches!(&err, LinkError::UnknownSyscall { symbol, file, .. } if symbol == "tos_lgo" && file == "unknown_syscall.o"),
            "{err}"
        );
        // Without the list it links, and the loader then refuses the unknown syscall.
        let module = link_one("unknown_syscall.o", &obj).unwrap();
        let err = common::load(&module).unwrap_err();
        assert!(err.contains("tos_lgo"), "{err}");
    }
}

#[test]
fn refuses_writable_data() {
    for obj in variants("writable_data") {
        let err = link_one("writable_data.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::WritableData { section, file, size: 8 } if section == ".data" && file == "writable_data.o"),
            "{err}"
        );
        assert!(err.to_string().contains("writable_data.o") && err.to_string().contains(".data"));
    }
}

#[test]
fn refuses_bss() {
    for obj in variants("bss") {
        let err = link_one("bss.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::WritableData { section, .. } if section == ".bss"),
            "{err}"
        );
    }
}

#[test]
fn refuses_common_symbols() {
    for obj in variants("common") {
        let err = link_one("common.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::CommonSymbol { symbol, .. } if symbol == "counter"),
            "{err}"
        );
    }
}

#[test]
fn refuses_jmp32() {
    for obj in variants("jmp32") {
        let err = link_one("jmp32.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::Jmp32 { section, offset: 0x18, opcode: 0x26, .. } if section == ".text"),
            "{err}"
        );
        assert!(err.to_string().contains("jmp32.o: .text+0x18"), "{err}");
    }
}

#[test]
fn refuses_alu_with_offset() {
    for obj in variants("alu_offset") {
        let err = link_one("alu_offset.o", &obj).unwrap_err();
        assert!(
            matches!(
                &err,
                LinkError::AluOffset {
                    offset: 0,
                    opcode: 0x3f,
                    field: 1,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn refuses_undefined_data_symbols() {
    for obj in variants("undefined_data") {
        let err = link_one("undefined_data.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::UndefinedDataSymbol { symbol, section, .. } if symbol == "table" && section == ".text"),
            "{err}"
        );
    }
    for obj in variants("undefined_fnptr") {
        let err = link_one("undefined_fnptr.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::UndefinedDataSymbol { symbol, section, offset: 0, .. } if symbol == "external_fn" && section == ".rodata"),
            "{err}"
        );
    }
}

#[test]
fn refuses_duplicate_globals() {
    for (a, b) in variants("dup_a").iter().zip(variants("dup_b").iter()) {
        let err = link(&[("dup_a.o", a), ("dup_b.o", b)], &any()).unwrap_err();
        assert_eq!(
            err,
            LinkError::DuplicateSymbol {
                symbol: "helper".into(),
                first: "dup_a.o".into(),
                second: "dup_b.o".into()
            }
        );
        // The same object twice duplicates everything it defines.
        let err = link(&[("dup_a.o", a), ("again.o", a)], &any()).unwrap_err();
        assert!(matches!(err, LinkError::DuplicateSymbol { .. }));
    }
}

#[test]
fn refuses_objects_without_entries() {
    for obj in variants("no_entry") {
        assert_eq!(
            link_one("no_entry.o", &obj).unwrap_err(),
            LinkError::NoEntry
        );
    }
    assert_eq!(link(&[], &any()).unwrap_err(), LinkError::NoInputs);
}

/// Finds the file offset of the first REL entry of `section_name`'s relocation section.
fn first_rel_entry(obj: &[u8], rel_section: &str) -> usize {
    let elf = goblin::elf::Elf::parse(obj).unwrap();
    let sh = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(rel_section))
        .expect("relocation section");
    sh.sh_offset as usize
}

#[test]
fn refuses_unknown_relocation_types() {
    // clang cannot emit an unknown relocation type; patch one into a real object.
    for mut obj in variants("multi_a") {
        let at = first_rel_entry(&obj, ".rel.text");
        obj[at + 8..at + 12].copy_from_slice(&99u32.to_le_bytes());
        let err = link_one("multi_a.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::UnknownRelocation { kind: 99, section, .. } if section == ".text"),
            "{err}"
        );
    }
    // R_BPF_64_ABS64 patched onto an instruction: a known type in the wrong place.
    let mut obj = fixture("multi_a");
    let at = first_rel_entry(&obj, ".rel.text");
    obj[at + 8..at + 12].copy_from_slice(&2u32.to_le_bytes());
    let err = link_one("multi_a.o", &obj).unwrap_err();
    assert!(
        matches!(
            &err,
            LinkError::BadRelocation {
                kind_name: "R_BPF_64_ABS64",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn refuses_malformed_inputs_naming_the_file() {
    let err = link_one("empty.o", &[]).unwrap_err();
    assert!(
        matches!(&err, LinkError::NotBpfObject { file, .. } if file == "empty.o"),
        "{err}"
    );
    let err = link_one(
        "text.o",
        b"hello world, this is not an ELF file at all.....................",
    )
    .unwrap_err();
    assert!(matches!(err, LinkError::NotBpfObject { .. }));
    // A linked module is not a relocatable object.
    let err = link_one("out.so", &multi()).unwrap_err();
    assert!(err.to_string().contains("ET_REL"), "{err}");
    // Wrong machine.
    let mut obj = fixture("multi_b");
    obj[18] = 62;
    assert!(matches!(
        link_one("x86.o", &obj).unwrap_err(),
        LinkError::NotBpfObject { .. }
    ));
}

/// A small deterministic PRNG for the mutation tests.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_and_corrupted_objects_never_panic() {
    let names = [
        "multi_a",
        "multi_b",
        "own_entry",
        "sections",
        "undefined_fnptr",
        "alu_offset",
        "recursion",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut linked_ok = 0usize;
    for name in names {
        let obj = fixture(name);
        for cut in 0..obj.len() {
            let _ = link_one(name, &obj[..cut]);
        }
        for _ in 0..400 {
            let mut m = obj.clone();
            for _ in 0..(1 + rng.next() % 4) {
                let at = (rng.next() % m.len() as u64) as usize;
                m[at] = match rng.next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    2 => m[at] ^ (1 << (rng.next() % 8)),
                    _ => rng.next() as u8,
                };
            }
            if let Ok(module) = link_one(name, &m) {
                // Whatever the linker accepts, the loader must parse without panicking.
                let _ = common::load(&module);
                linked_ok += 1;
            }
        }
        // Garbage after a valid ELF header.
        let mut g = obj[..64].to_vec();
        g.extend((0..512).map(|_| rng.next() as u8));
        let _ = link_one(name, &g);
    }
    assert!(linked_ok > 0);
}

#[test]
fn every_accepted_fixture_loads_and_verifies() {
    for name in ["own_entry", "sections", "multi_b", "recursion"] {
        let module = link_one(name, &fixture(name)).unwrap();
        common::load(&module).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn data_rel_ro_tables_are_read_only_data() {
    for obj in variants("pic") {
        let module = link_one("pic.o", &obj).unwrap();
        let elf = goblin::elf::Elf::parse(&module).unwrap();
        let names: Vec<&str> = elf
            .section_headers
            .iter()
            .filter_map(|s| elf.shdr_strtab.get_at(s.sh_name))
            .collect();
        assert!(
            names.contains(&".rodata") && !names.iter().any(|n| n.starts_with(".data")),
            "{names:?}"
        );
        // len 2 -> add1(2) * 1000 + 7; len 3 -> add2(3) * 1000 + 9
        assert_eq!(
            run(&module, &input(0, 4, &[0; 2]), &mut Host::default()),
            Ok(3007)
        );
        assert_eq!(
            run(&module, &input(0, 4, &[0; 3]), &mut Host::default()),
            Ok(5009)
        );
    }
}

#[test]
fn refuses_32_bit_data_relocations() {
    for obj in variants("pic_reltable") {
        let err = link_one("pic_reltable.o", &obj).unwrap_err();
        assert!(
            matches!(&err, LinkError::BadRelocation { kind_name: "R_BPF_64_ABS32", section, offset: 0, .. } if section == ".rodata"),
            "{err}"
        );
        assert!(err.to_string().contains("-fPIC"), "{err}");
    }
}

#[test]
fn strong_definition_overrides_weak() {
    for (a, b) in variants("weak_a").iter().zip(variants("weak_b").iter()) {
        let alone = link_one("weak_a.o", a).unwrap();
        assert_eq!(
            run(&alone, &input(0, 0, &[0; 4]), &mut Host::default()),
            Ok(5)
        );
        for inputs in [
            [("weak_a.o", a.as_slice()), ("weak_b.o", b.as_slice())],
            [("weak_b.o", b.as_slice()), ("weak_a.o", a.as_slice())],
        ] {
            let module = link(&inputs, &any()).unwrap();
            assert_eq!(
                run(&module, &input(0, 0, &[0; 4]), &mut Host::default()),
                Ok(504)
            );
        }
    }
}
