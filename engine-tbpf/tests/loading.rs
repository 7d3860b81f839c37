//! Preparing modules: every refusal has its own clear error, imports and entries are read, and
//! no input makes the engine panic.

mod support;

use support::*;
use tos_engine_api::{Call, ExecutionEngine, LoadError};
use tos_engine_tbpf::{TbpfConfig, TbpfEngine};
use tos_syscalls::murmur3_32;

const COUNTER_LIKE: &str = "entrypoint:
    mov64 r1, r10
    add64 r1, -8
    mov64 r2, 1
    syscall tos_log
    mov64 r1, r10
    add64 r1, -8
    mov64 r2, 1
    syscall tos_set_return_data
    syscall tos_get_block_height
    exit";

fn ok_module(v: Sbpf) -> Built {
    Module::new(v, COUNTER_LIKE).rodata(b"abc").build()
}

fn err(code: &[u8]) -> LoadError {
    prepare(code).err().expect("the module must be refused")
}

fn patched(mut code: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    code[at..at + bytes.len()].copy_from_slice(bytes);
    code
}

/// Every refusal case: (what, error). Used to check each error and that they are all distinct.
fn refusals() -> Vec<(&'static str, LoadError)> {
    let v1 = ok_module(Sbpf::V1).bytes;
    let v2 = ok_module(Sbpf::V2).bytes;
    let nope_id = murmur3_32(b"tos_nope", 0);
    let out = vec![
        ("not an ELF", err(b"hello, tos")),
        ("truncated", err(&v1[..v1.len() - 40])),
        ("ELF32", err(&patched(v1.clone(), 4, &[1]))),
        ("big endian", err(&patched(v1.clone(), 5, &[2]))),
        (
            "wrong machine",
            err(&patched(v1.clone(), 18, &62u16.to_le_bytes())),
        ),
        (
            "not a shared object",
            err(&patched(v1.clone(), 16, &2u16.to_le_bytes())),
        ),
        (
            "unknown e_flags",
            err(&patched(v1.clone(), 48, &3u32.to_le_bytes())),
        ),
        (
            "entry outside .text",
            err(&patched(v1.clone(), 24, &0x10u64.to_le_bytes())),
        ),
        (
            "entry misaligned",
            err(&patched(v1.clone(), 24, &(0xb0u64 + 4).to_le_bytes())),
        ),
        ("missing entrypoint", {
            let mut m = Module::new(Sbpf::V1, COUNTER_LIKE);
            m.entry = None;
            err(&m.build().bytes)
        }),
        ("writable .data", {
            let mut m = Module::new(Sbpf::V1, COUNTER_LIKE);
            m.writable_data = Some(vec![1; 8]);
            err(&m.build().bytes)
        }),
        ("writable .bss", {
            let mut m = Module::new(Sbpf::V2, COUNTER_LIKE);
            m.bss = Some(64);
            err(&m.build().bytes)
        }),
        (
            "unknown syscall v1",
            err(
                &Module::new(Sbpf::V1, "entrypoint:\nsyscall tos_nope\nexit")
                    .build()
                    .bytes,
            ),
        ),
        (
            "unknown static syscall v2",
            err(
                &Module::new(Sbpf::V2, "entrypoint:\nsyscall tos_nope\nexit")
                    .build()
                    .bytes,
            ),
        ),
        ("unknown import", {
            let mut m = Module::new(Sbpf::V1, COUNTER_LIKE);
            m.extra_imports.push("tos_ghost".into());
            err(&m.build().bytes)
        }),
        ("relocation type", {
            let mut m = Module::new(Sbpf::V1, COUNTER_LIKE);
            m.extra_relocs.push((0, 7, 0));
            err(&m.build().bytes)
        }),
        ("relocation symbol", {
            let mut m = Module::new(Sbpf::V1, COUNTER_LIKE);
            m.extra_relocs.push((3, 10, 99));
            err(&m.build().bytes)
        }),
        ("call relocation off a call", {
            let mut m = Module::new(Sbpf::V1, COUNTER_LIKE);
            m.extra_relocs.push((0, 10, 1));
            err(&m.build().bytes)
        }),
        (
            "unresolved call",
            err(&Module::new(
                Sbpf::V1,
                "entrypoint:\nmov64 r0, 0\ncall self_\nexit\nself_:\ncall self_\nexit",
            )
            .build()
            .bytes),
        ),
        (
            "verifier",
            err(&Module::new(Sbpf::V1, "entrypoint:\nmov64 r10, 1\nexit")
                .build()
                .bytes),
        ),
        ("too large", {
            let mut c = TbpfConfig::default();
            c.set_max_module_size(512).set_jit(false);
            TbpfEngine::new(c)
                .unwrap()
                .prepare(&v1, &tos_syscalls::testing::abi_v1())
                .err()
                .unwrap()
        }),
        ("v2 on a v1-only engine", {
            let mut c = TbpfConfig::default();
            c.set_sbpf_versions(1..=1).set_jit(false);
            TbpfEngine::new(c)
                .unwrap()
                .prepare(&v2, &tos_syscalls::testing::abi_v1())
                .err()
                .unwrap()
        }),
        // Program header #1 (PT_DYNAMIC) turned into a PT_LOAD, #0 (at 0) moved above it.
        (
            "loadable segments out of order",
            err(&patched(
                patched(v1.clone(), 120, &1u32.to_le_bytes()),
                80,
                &0x10_0000u64.to_le_bytes(),
            )),
        ),
        (
            "loadable segment past the end",
            err(&patched(v1.clone(), 96, &u64::MAX.to_le_bytes())),
        ),
        // A module that could run off the end of .text would be interpreted (rbpf's JIT does
        // not report it exactly): refused on every node instead, JIT or not.
        (
            "falls through the end of .text",
            err(
                &Module::new(Sbpf::V1, "entrypoint:\nmov64 r0, 1\nmov64 r0, 2")
                    .build()
                    .bytes,
            ),
        ),
    ];
    // Keep the expected texts next to the cases that produce them.
    let expected: Vec<LoadError> = vec![
        LoadError::Malformed("not an ELF file: ".into()),
        LoadError::Malformed("truncated".into()),
        LoadError::Malformed("not a 64-bit ELF".into()),
        LoadError::Malformed("not a little-endian ELF".into()),
        LoadError::Malformed("ELF machine 62 is neither EM_BPF (247) nor EM_SBPF (263)".into()),
        LoadError::Malformed("ELF type 2 is not ET_DYN".into()),
        LoadError::Unsupported("ELF flags 0x3 name no SBPF version".into()),
        LoadError::Malformed("ELF entry point 0x10 is not an instruction in .text".into()),
        LoadError::Malformed("ELF entry point 0xb4 is not an instruction in .text".into()),
        LoadError::MissingExport("entrypoint".into()),
        LoadError::Unsupported("writable section `.data`".into()),
        LoadError::Unsupported("writable section `.bss`".into()),
        LoadError::UnknownSyscall("tos_nope".into()),
        LoadError::UnknownSyscall(format!(
            "syscall id {nope_id:#010x} (call at instruction 0)"
        )),
        LoadError::UnknownSyscall("tos_ghost".into()),
        LoadError::Malformed("has type 7, which TBPF does not support".into()),
        LoadError::Malformed("names symbol #99, but there are".into()),
        LoadError::Malformed("does not patch a call instruction in .text".into()),
        LoadError::Verification(
            "call at instruction 3 reaches neither a function nor a live syscall".into(),
        ),
        LoadError::Verification("cannot write into register r10".into()),
        LoadError::TooLarge {
            size: v1.len(),
            limit: 512,
        },
        LoadError::Unsupported("SBPFv2 modules are not accepted".into()),
        LoadError::Malformed(
            "comes after #0 at 0x100000: loadable segments must be sorted by address".into(),
        ),
        LoadError::Malformed(
            "program header #0 (PT_LOAD, offset 0x0, size 0xffffffffffffffff) extends past the end"
                .into(),
        ),
        LoadError::Verification(
            "the last instruction of .text (#1) can fall through past its end".into(),
        ),
    ];
    assert_eq!(out.len(), expected.len());
    for ((what, got), want) in out.iter().zip(&expected) {
        let same_kind = std::mem::discriminant(got) == std::mem::discriminant(want);
        let text = |e: &LoadError| match e {
            LoadError::Malformed(s)
            | LoadError::UnknownSyscall(s)
            | LoadError::MissingExport(s)
            | LoadError::Verification(s)
            | LoadError::Unsupported(s)
            | LoadError::Compile(s) => s.clone(),
            other => other.to_string(),
        };
        let ok = same_kind
            && match want {
                LoadError::UnknownSyscall(_)
                | LoadError::MissingExport(_)
                | LoadError::TooLarge { .. } => got == want,
                _ => text(got).contains(&text(want)),
            };
        assert!(ok, "{what}: got `{got:?}`, want {want:?}");
    }
    out
}

#[test]
fn each_refusal_has_its_own_clear_error() {
    let cases = refusals();
    let mut seen = std::collections::BTreeMap::new();
    for (what, e) in &cases {
        if let Some(other) = seen.insert(e.to_string(), *what) {
            panic!("`{what}` and `{other}` give the same error: {e}");
        }
    }
}

#[test]
fn valid_modules_list_their_imports_and_size() {
    for v in [Sbpf::V1, Sbpf::V2] {
        let code = ok_module(v).bytes;
        let info = prepare(&code).unwrap().info().clone();
        assert_eq!(
            info.imports,
            ["tos_get_block_height", "tos_log", "tos_set_return_data"],
            "{v:?}"
        );
        assert_eq!(info.code_size, code.len());
    }
    // SBPFv2 may import through relocations too.
    let mut m = Module::new(Sbpf::V2, COUNTER_LIKE);
    m.v2_syscall_relocs = true;
    let info = prepare(&m.build().bytes).unwrap().info().clone();
    assert_eq!(
        info.imports,
        ["tos_get_block_height", "tos_log", "tos_set_return_data"]
    );
    // An unknown syscall imported through a v2 relocation is named.
    let mut m = Module::new(Sbpf::V2, "entrypoint:\nsyscall tos_nope\nexit");
    m.v2_syscall_relocs = true;
    assert_eq!(
        err(&m.build().bytes),
        LoadError::UnknownSyscall("tos_nope".into())
    );
}

#[test]
fn solana_machine_number_is_accepted() {
    // Solana's toolchain writes EM_SBPF (263); rbpf 0.8.5 accepts it like EM_BPF (247).
    for v in [Sbpf::V1, Sbpf::V2] {
        let mut m = Module::new(v, COUNTER_LIKE).rodata(b"abc");
        m.machine = 263;
        let code = m.build().bytes;
        let info = prepare(&code).unwrap().info().clone();
        assert_eq!(info.imports.len(), 3, "{v:?}");
        let (o, _) = run(&code, Call::Entry(0), &[], 100_000);
        let mut m = Module::new(v, COUNTER_LIKE).rodata(b"abc");
        m.machine = 247;
        let (same, _) = run(&m.build().bytes, Call::Entry(0), &[], 100_000);
        assert_eq!(o, same, "{v:?}: the machine number changes nothing else");
    }
}

#[test]
fn sbpf_version_filter_refuses_v1_when_asked() {
    let mut c = TbpfConfig::default();
    c.set_sbpf_versions(2..=2).set_jit(false);
    let e = TbpfEngine::new(c).unwrap();
    assert!(matches!(
        e.prepare(&ok_module(Sbpf::V1).bytes, &tos_syscalls::testing::abi_v1()),
        Err(LoadError::Unsupported(m)) if m.contains("SBPFv1")
    ));
    assert!(
        e.prepare(&ok_module(Sbpf::V2).bytes, &tos_syscalls::testing::abi_v1())
            .is_ok()
    );
}

#[test]
fn every_truncation_is_refused_without_panic() {
    for v in [Sbpf::V1, Sbpf::V2] {
        let code = ok_module(v).bytes;
        for len in 0..code.len() {
            assert!(
                prepare(&code[..len]).is_err(),
                "{v:?}: {len} bytes accepted"
            );
        }
    }
}

/// Flips every byte of valid modules: preparing must never panic, and whatever loads must run
/// identically on the interpreter and the JIT (`run` checks).
#[test]
fn corrupted_modules_never_panic_and_run_identically() {
    let mut loaded = 0;
    for v in [Sbpf::V1, Sbpf::V2] {
        let code = Module::new(v, COUNTER_LIKE)
            .rodata(b"abc")
            .export("entry_0", "entrypoint")
            .build()
            .bytes;
        for at in 0..code.len() {
            for flip in [0xff, 0x01, 0x80] {
                let mut bad = code.clone();
                bad[at] ^= flip;
                if prepare(&bad).is_ok() {
                    loaded += 1;
                    for call in [Call::Entry(0), Call::Entry(1)] {
                        run(&bad, call, b"params", 5_000);
                    }
                }
            }
        }
    }
    assert!(
        loaded > 0,
        "some flips (e.g. in immediates) must still load"
    );
}

#[test]
fn tbpf_features_pick_the_loader() {
    // A module importing ABI v1 syscalls loads only where `abi_v1` is live.
    let code = ok_module(Sbpf::V1).bytes;
    let engine = engine(false);
    let a = engine
        .prepare(&code, &tos_syscalls::testing::abi_v1())
        .unwrap();
    assert!(!a.info().imports.is_empty());
    let without = tos_engine_api::FeatureSet::from_iter(["some_future_feature"]);
    match engine.prepare(&code, &without.into()) {
        Err(LoadError::UnknownSyscall(name)) => {
            assert!(a.info().imports.contains(&name), "{name}")
        }
        Err(e) => panic!("expected an unknown syscall, got {e}"),
        Ok(_) => panic!("a module importing syscalls of an inactive feature loaded"),
    }
}
