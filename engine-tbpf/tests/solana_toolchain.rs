//! Compatibility with Solana's own toolchain: every ELF file that solana-rbpf 0.8.5 ships in its
//! crate source (`tests/elfs/*.so`, built by Solana's rustc/clang and lld) is prepared by
//! [`TbpfEngine`] on the interpreter and the JIT, and each gets the verdict rbpf's own tests give
//! it: the same result and the same instruction count (our gas) for the programs rbpf runs, and
//! a clear [`LoadError`] for those the TOS ABI refuses (unknown syscalls, writable data) or that
//! are broken.
//!
//! The files are read from cargo's registry at test time (they are not copied into this
//! repository): `$CARGO_HOME/registry/src/*/solana_rbpf-0.8.5/tests/elfs`, `CARGO_HOME`
//! defaulting to `$HOME/.cargo`. When the directory cannot be found the test prints why and
//! passes without checking anything.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use solana_rbpf::ebpf::MM_PROGRAM_START;
use support::*;
use tos_engine_api::{Call, ExecutionEngine, ExitStatus, LoadError};

/// The rbpf version whose test files are checked: the one the engine is built on.
const RBPF_DIR: &str = "solana_rbpf-0.8.5";

/// Where rbpf's test ELF files are, or why they cannot be found.
fn rbpf_elfs() -> Result<PathBuf, String> {
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".cargo"),
            None => return Err("neither CARGO_HOME nor HOME is set".into()),
        },
    };
    let src = cargo_home.join("registry").join("src");
    let indexes = std::fs::read_dir(&src).map_err(|e| {
        format!(
            "cannot read cargo's registry sources at {}: {e}",
            src.display()
        )
    })?;
    let mut found: Vec<PathBuf> = indexes
        .filter_map(Result::ok)
        .map(|index| index.path().join(RBPF_DIR).join("tests").join("elfs"))
        .filter(|dir| dir.is_dir())
        .collect();
    found.sort();
    found.into_iter().next().ok_or_else(|| {
        format!(
            "no {RBPF_DIR}/tests/elfs under {} (has cargo fetched solana_rbpf 0.8.5 into this \
             CARGO_HOME?)",
            src.display()
        )
    })
}

/// What rbpf's tests say a file does, translated into the TOS engine's terms.
#[derive(Debug)]
enum Verdict {
    /// Loads and returns `r0` after exactly `insns` instructions, whatever the call.
    Runs { r0: u64, insns: u64 },
    /// Loads; `(call, r0, insns)` for each call tried (the program reads the input).
    RunsWith(Vec<(Call, u64, u64)>),
    /// Refused with exactly this error.
    Refused(LoadError),
    /// Refused with this kind of error, whose message contains every one of these texts.
    RefusedWith(fn(&LoadError) -> bool, &'static [&'static str]),
}

fn malformed(e: &LoadError) -> bool {
    matches!(e, LoadError::Malformed(_))
}

fn unsupported(e: &LoadError) -> bool {
    matches!(e, LoadError::Unsupported(_))
}

/// Every `.so` of rbpf 0.8.5's `tests/elfs`, with the verdict rbpf's `tests/execution.rs` and
/// `src/elf.rs` tests give it (results and instruction counts are theirs).
fn expectations() -> BTreeMap<&'static str, Verdict> {
    use Verdict::*;
    BTreeMap::from([
        // `entrypoint(x: &u8)` returns `function_sum(function_stack_ref(..) , *x)`, i.e.
        // `2 * x + 1`. r1 points at the call input, whose first byte is the kind: 0 for an
        // entry, 1 for a hook (rbpf's test passes [1] and expects 3 after 18 instructions).
        (
            "relative_call.so",
            RunsWith(vec![(Call::Hook(0), 3, 18), (Call::Entry(0), 1, 18)]),
        ),
        // Returns the address of `entrypoint`, placed by the linker at MM_PROGRAM_START (v2).
        (
            "reloc_64_64.so",
            Runs {
                r0: MM_PROGRAM_START,
                insns: 3,
            },
        ),
        // The same built for SBPFv1: .text at file offset 0x120.
        (
            "reloc_64_64_sbpfv1.so",
            Runs {
                r0: MM_PROGRAM_START + 0x120,
                insns: 2,
            },
        ),
        // Returns the address of a string in .rodata (R_BPF_64_RELATIVE in an lddw).
        (
            "reloc_64_relative.so",
            Runs {
                r0: MM_PROGRAM_START + 0x18,
                insns: 3,
            },
        ),
        (
            "reloc_64_relative_sbpfv1.so",
            Runs {
                r0: MM_PROGRAM_START + 0x138,
                insns: 2,
            },
        ),
        // Returns a pointer stored in .data.rel.ro (R_BPF_64_RELATIVE in data).
        (
            "reloc_64_relative_data.so",
            Runs {
                r0: MM_PROGRAM_START + 0x20,
                insns: 4,
            },
        ),
        // SBPFv1: the old toolchain's encoding of such a pointer (target in the upper half).
        (
            "reloc_64_relative_data_sbpfv1.so",
            Runs {
                r0: MM_PROGRAM_START + 0x108,
                insns: 3,
            },
        ),
        // Reads a u64 from .rodata.
        ("rodata_section.so", Runs { r0: 42, insns: 4 }),
        ("rodata_section_sbpfv1.so", Runs { r0: 42, insns: 3 }),
        // A table in .data.rel.ro with a function pointer next to the value returned.
        (
            "struct_func_pointer.so",
            Runs {
                r0: 0x0102_0304_0506_0708,
                insns: 3,
            },
        ),
        // Imports Solana's `log` through an R_BPF_64_32 relocation: not a TOS syscall.
        (
            "syscall_reloc_64_32.so",
            Refused(LoadError::UnknownSyscall("log".into())),
        ),
        // Calls `log` statically (SBPFv2: the murmur3 hash of the name as immediate, no
        // symbol); the engine names the well-known foreign syscalls.
        (
            "syscall_static.so",
            Refused(LoadError::UnknownSyscall("log".into())),
        ),
        // Mutable globals: refused by rbpf and by the TOS ABI.
        (
            "bss_section.so",
            RefusedWith(unsupported, &["writable section `.bss`"]),
        ),
        (
            "data_section.so",
            RefusedWith(unsupported, &["writable section `.data`"]),
        ),
        // A section name longer than rbpf reads (rbpf: StringTooLong).
        (
            "long_section_name.so",
            RefusedWith(malformed, &[".bss.__rust_no_alloc_shim_is_unstable"]),
        ),
        // .text at 0xffff_ffff_ffff_fff0, its segment listed before lower ones (rbpf:
        // InvalidProgramHeader).
        (
            "program_headers_overflow.so",
            RefusedWith(
                malformed,
                &[
                    "program header #1",
                    "loadable segments must be sorted by address",
                ],
            ),
        ),
    ])
}

#[test]
fn every_rbpf_test_elf_gets_rbpfs_verdict() {
    let dir = match rbpf_elfs() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!("NOTE: skipping the Solana toolchain compatibility test: {why}");
            return;
        }
    };
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(".so"))
        .collect();
    files.sort();
    let expected = expectations();
    let unexpected: Vec<&String> = files
        .iter()
        .filter(|f| !expected.contains_key(f.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "files without a verdict: {unexpected:?}"
    );
    let missing: Vec<&&str> = expected
        .keys()
        .filter(|k| !files.iter().any(|f| f == *k))
        .collect();
    assert!(
        missing.is_empty(),
        "files missing from {}: {missing:?}",
        dir.display()
    );

    let mut failures = Vec::new();
    for name in &files {
        let code = std::fs::read(dir.join(name)).unwrap();
        if let Err(why) = check(&code, &expected[name.as_str()]) {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Checks one file's verdict on every engine (interpreter and JIT).
fn check(code: &[u8], verdict: &Verdict) -> Result<(), String> {
    let runs: Vec<(Call, u64, u64)> = match verdict {
        Verdict::Runs { r0, insns } => vec![
            (Call::Entry(0), *r0, *insns),
            (Call::Entry(7), *r0, *insns),
            (Call::CONSTRUCTOR, *r0, *insns),
        ],
        Verdict::RunsWith(runs) => runs.clone(),
        Verdict::Refused(want) => {
            for (mode, engine) in engines() {
                match engine.prepare(code, &tos_syscalls::testing::abi_v1()) {
                    Err(got) if got == *want => {}
                    Err(got) => return Err(format!("{mode}: refused with `{got}`, not `{want}`")),
                    Ok(_) => return Err(format!("{mode}: loaded; expected `{want}`")),
                }
            }
            return Ok(());
        }
        Verdict::RefusedWith(kind, texts) => {
            for (mode, engine) in engines() {
                match engine.prepare(code, &tos_syscalls::testing::abi_v1()) {
                    Err(got) if kind(&got) && texts.iter().all(|t| got.to_string().contains(t)) => {
                        println!("{mode}: refused as expected: {got}");
                    }
                    Err(got) => {
                        return Err(format!(
                            "{mode}: refused with `{got}`, expected a message with {texts:?}"
                        ));
                    }
                    Ok(_) => return Err(format!("{mode}: loaded; expected a refusal")),
                }
            }
            return Ok(());
        }
    };
    for (mode, engine) in engines() {
        let module = engine
            .prepare(code, &tos_syscalls::testing::abi_v1())
            .map_err(|e| format!("{mode}: refused: {e}"))?;
        if !module.info().entries.self_dispatch {
            return Err(format!(
                "{mode}: has an entry table, expected self-dispatch"
            ));
        }
    }
    for (call, r0, insns) in runs {
        // `run` compares the interpreter and the JIT, status, gas and host effects.
        let (o, _) = run(code, call, &[], 1_000);
        if (o.status.clone(), o.gas_used) != (ExitStatus::Exit(r0), insns) {
            return Err(format!(
                "{call}: got {:?} with {} gas, expected exit {r0:#x} with {insns}",
                o.status, o.gas_used
            ));
        }
        // One unit less is out of gas.
        let (o, _) = run(code, call, &[], insns - 1);
        if o.status != ExitStatus::Trap(tos_engine_api::Trap::OutOfGas) {
            return Err(format!("{call}: with {} gas: {:?}", insns - 1, o.status));
        }
    }
    Ok(())
}

/// A module in the shape of rbpf's `syscall_reloc_64_32.so` and `syscall_static.so` (Solana's
/// `EM_SBPF` machine, the string in `.rodata`) whose import is a TOS syscall instead of `log`:
/// it loads and the syscall runs, charged to the same meter, on the interpreter and the JIT.
#[test]
fn a_toolchain_shaped_module_importing_a_tos_syscall_runs_it() {
    const ASM: &str = "entrypoint:
        addr r1, rodata+0
        mov64 r2, 4
        syscall tos_log
        mov64 r0, 0
        exit";
    let log_cost = tos_syscalls::SyscallTable::global()
        .unwrap()
        .by_name("tos_log")
        .unwrap()
        .cost
        .charge(4);
    // (version, relocated import for SBPFv2, instructions: `addr` is one lddw on SBPFv1 and
    // two instructions on SBPFv2)
    for (version, v2_relocs, insns) in [
        (Sbpf::V1, false, 5),
        (Sbpf::V2, false, 6),
        (Sbpf::V2, true, 6),
    ] {
        for machine in [247, 263] {
            let mut m = Module::new(version, ASM).rodata(b"foo\n");
            m.machine = machine;
            m.v2_syscall_relocs = v2_relocs;
            let code = m.build().bytes;
            for (mode, engine) in engines() {
                let module = engine
                    .prepare(&code, &tos_syscalls::testing::abi_v1())
                    .unwrap_or_else(|e| panic!("{mode} {version:?} machine {machine}: {e}"));
                assert_eq!(module.info().imports, vec!["tos_log".to_owned()]);
            }
            let (o, host) = run(&code, Call::Entry(0), &[], 10_000);
            assert_eq!(
                (o.status, o.gas_used),
                (ExitStatus::Exit(0), insns + log_cost),
                "{version:?} machine {machine}"
            );
            assert_eq!(host.logs(), vec![b"foo\n".to_vec()]);
        }
    }
}
