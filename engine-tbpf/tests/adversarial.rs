//! The TBPF security review, bullet by bullet, on the modules `tos-adversarial` builds:
//! structural limits before expensive work, no interpreter-only path a module can choose,
//! syscalls that copy at most what they charge, panics that become faults.
//!
//! `measure_adversarial_cases` (ignored: run it with `--release -- --ignored --nocapture`)
//! prints the figures docs/GAS.md calibrates `tbpf.prepare_per_byte` with.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tos_adversarial::tbpf::{self as adv, TextShape};
use tos_engine_api::{Call, ExecutionEngine, ExitStatus, LoadError, PreparedModule};
use tos_engine_tbpf::TbpfEngine;

fn case(name: &str) -> tos_adversarial::Case {
    adv::cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// Prepares on every engine (interpreter and JIT), demanding the same verdict; returns it and
/// the slowest time.
fn prepare_everywhere(code: &[u8]) -> (Result<(), LoadError>, Duration) {
    let mut verdicts = Vec::new();
    let mut slowest = Duration::ZERO;
    for (name, engine) in engines() {
        let start = Instant::now();
        let verdict = engine
            .prepare(code, &tos_syscalls::testing::abi_v1())
            .map(|_| ());
        slowest = slowest.max(start.elapsed());
        verdicts.push((name, verdict));
    }
    let (_, first) = verdicts.remove(0);
    for (name, v) in verdicts {
        assert_eq!(v, first, "{name} disagrees with the interpreter");
    }
    (first, slowest)
}

#[test]
fn the_generators_agree_with_the_engine_limits() {
    assert_eq!(adv::MAX_PROGRAM_HEADERS, TbpfEngine::MAX_PROGRAM_HEADERS);
    assert_eq!(adv::MAX_RELOCATIONS, TbpfEngine::MAX_RELOCATIONS);
    assert_eq!(adv::MAX_DYNAMIC_SYMBOLS, TbpfEngine::MAX_DYNAMIC_SYMBOLS);
    assert_eq!(adv::MAX_FUNCTIONS, TbpfEngine::MAX_FUNCTIONS);
    assert_eq!(
        adv::murmur3_32(b"tos_get_block_height"),
        tos_syscalls::murmur3_32(b"tos_get_block_height", 0)
    );
    assert_eq!(
        adv::MAX_MODULE_SIZE,
        tos_engine_tbpf::TbpfConfig::DEFAULT_MAX_MODULE_SIZE
    );
}

/// Bullet 1: the largest files the limits allow are judged, and fast (the bound is loose for
/// debug builds on a shared machine; the release figures are in docs/GAS.md).
#[test]
fn the_largest_allowed_elf_shapes_are_judged_quickly() {
    type Judge = fn(&Result<(), LoadError>) -> bool;
    let expect: [(&str, Judge); 3] = [
        // rbpf refuses SBPFv2 files with 10 or more program headers, after the engine's own
        // pass has read every relocation against all 16 of them.
        (
            "tbpf.max_relocations_x_program_headers",
            |v| matches!(v, Err(LoadError::Malformed(m)) if m.contains("program header")),
        ),
        ("tbpf.max_relocations_v1", Result::is_ok),
        ("tbpf.max_dynamic_symbols", Result::is_ok),
    ];
    for (name, ok) in expect {
        let code = case(name).code;
        assert!(code.len() > 1_000_000, "{name}: {} bytes", code.len());
        let (verdict, took) = prepare_everywhere(&code);
        assert!(ok(&verdict), "{name}: {verdict:?}");
        assert!(took < Duration::from_secs(5), "{name}: {took:?}");
    }
}

/// Bullet 1: each structural limit is refused, naming the limit and the value, before the
/// tables are parsed.
#[test]
fn each_structural_limit_is_named() {
    let base = case("tbpf.max_relocations_v1").code;
    let patched = |at: usize, bytes: &[u8]| {
        let mut c = base.clone();
        c[at..at + bytes.len()].copy_from_slice(bytes);
        c
    };
    let err = |code: &[u8]| prepare(code).err().expect("refused");
    let phnum = u16::try_from(TbpfEngine::MAX_PROGRAM_HEADERS + 1).unwrap();
    assert_eq!(
        err(&patched(56, &phnum.to_le_bytes())),
        LoadError::Unsupported(
            "17 program headers exceed the limit of 16 (MAX_PROGRAM_HEADERS)".into()
        )
    );
    let shnum = u16::try_from(TbpfEngine::MAX_SECTIONS + 1).unwrap();
    assert_eq!(
        err(&patched(60, &shnum.to_le_bytes())),
        LoadError::Unsupported("129 section headers exceed the limit of 128 (MAX_SECTIONS)".into())
    );
    // DT_RELSZ (the 6th dynamic entry) claiming one relocation too many.
    let dynamic = find_dynamic(&base);
    let relsz = ((TbpfEngine::MAX_RELOCATIONS + 1) * 16) as u64;
    let e = err(&patched(dynamic + 5 * 16 + 8, &relsz.to_le_bytes()));
    assert!(
        matches!(&e, LoadError::Unsupported(m) if m.contains("65537 relocations") && m.contains("MAX_RELOCATIONS")),
        "{e}"
    );
    // The `.rel.dyn` section claiming as much.
    let e = err(&patch_section_size(&base, 9, relsz));
    assert!(
        matches!(&e, LoadError::Unsupported(m) if m.contains("relocations in `.rel.dyn`") && m.contains("MAX_RELOCATIONS")),
        "{e}"
    );
    let e = err(&patch_section_size(
        &base,
        11,
        ((TbpfEngine::MAX_DYNAMIC_SYMBOLS + 1) * 24) as u64,
    ));
    assert!(
        matches!(&e, LoadError::Unsupported(m) if m.contains("16385 dynamic symbols in `.dynsym`") && m.contains("MAX_DYNAMIC_SYMBOLS")),
        "{e}"
    );
    let e = err(&patch_section_size(
        &base,
        3,
        (TbpfEngine::MAX_STRING_TABLE_SIZE + 1) as u64,
    ));
    assert!(
        matches!(&e, LoadError::Unsupported(m) if m.contains("MAX_STRING_TABLE_SIZE")),
        "{e}"
    );
}

/// Bullet 1 (the JIT's share): more functions than the limit are refused before rbpf
/// registers any, however the calls are laid out.
#[test]
fn too_many_functions_are_refused() {
    // Every instruction a `call +0`: each is a function.
    let code = adv::max_text(TextShape::Repeat(adv::insn(0x85, 0, 0, 0, 0)));
    let (verdict, _) = prepare_everywhere(&code);
    let limit = TbpfEngine::MAX_FUNCTIONS;
    assert!(
        matches!(&verdict, Err(LoadError::Unsupported(m))
            if m.ends_with(&format!("functions exceed the limit of {limit} (MAX_FUNCTIONS)"))),
        "{verdict:?}"
    );
}

/// The offset of the `PT_DYNAMIC` segment (the second program header of these modules).
fn find_dynamic(code: &[u8]) -> usize {
    let phoff = u64::from_le_bytes(code[32..40].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(code[56..58].try_into().unwrap()) as usize;
    (0..phnum)
        .map(|i| phoff + i * 56)
        .find(|at| u32::from_le_bytes(code[*at..*at + 4].try_into().unwrap()) == 2)
        .map(|at| u64::from_le_bytes(code[at + 8..at + 16].try_into().unwrap()) as usize)
        .expect("a PT_DYNAMIC")
}

/// `code` with the size of its first section of type `ty` set to `size` (the first string
/// table is `.dynstr`).
fn patch_section_size(code: &[u8], ty: u32, size: u64) -> Vec<u8> {
    let shoff = u64::from_le_bytes(code[40..48].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(code[60..62].try_into().unwrap()) as usize;
    let at = (0..shnum)
        .map(|i| shoff + i * 64)
        .find(|at| u32::from_le_bytes(code[at + 4..at + 8].try_into().unwrap()) == ty)
        .expect("a section of that type");
    let mut c = code.to_vec();
    c[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
    c
}

/// Bullet 2: a module cannot opt out of the JIT. Falling through the end of `.text` is refused
/// on every node, and the largest texts compile.
#[test]
fn no_module_chooses_the_interpreter() {
    let (verdict, _) = prepare_everywhere(&case("tbpf.fall_through").code);
    assert!(
        matches!(&verdict, Err(LoadError::Verification(m)) if m.contains("fall through past its end")),
        "{verdict:?}"
    );
    for name in ["tbpf.max_text_jit", "tbpf.max_functions_jit"] {
        let (verdict, took) = prepare_everywhere(&case(name).code);
        assert_eq!(verdict, Ok(()), "{name}");
        assert!(took < Duration::from_secs(10), "{name}: {took:?}");
    }
}

/// Runs a call case on every engine (interpreter and JIT agree), returning the outcome.
fn run_case(name: &str, gas: u64) -> tos_engine_api::Outcome {
    let c = case(name);
    let (call, params) = c.call.expect("a call case");
    let (outcome, _) = run(&c.code, call, &params, gas);
    outcome
}

/// Bullet 3: `tos_get_input` with cap 0 charges (and copies) nothing but its base cost.
#[test]
fn input_with_cap_zero_costs_the_base_only() {
    let o = run_case("tbpf.input_cap_0", 100_000_000);
    assert_eq!(o.status, ExitStatus::Exit(0));
    // 1 + 100,000 × (6 instructions + 50) + 2.
    assert_eq!(o.gas_used, 1 + 100_000 * (6 + 50) + 2);
}

/// Bullet 3: a load with cap 0 pays for every byte of the value the host reads.
#[test]
fn storage_load_with_cap_zero_pays_for_the_value() {
    let o = run_case("tbpf.storage_load_cap_0", 100_000_000);
    assert_eq!(o.status, ExitStatus::Exit(0));
    let value = 64 * 1024;
    // 10 instructions and the store (1,000 + 5 per byte of key and value), 100 loops of 9
    // instructions and a load (500 + 1 per byte of key and value), then 2 instructions.
    let store = 1_000 + 5 * (1 + value);
    let load = 500 + (1 + value);
    assert_eq!(o.gas_used, 10 + store + 100 * (9 + load) + 2);
}

/// Bullet 4: a panic in a host method reached through a syscall is an engine fault naming the
/// panic, on the interpreter and the JIT alike (it never unwinds through JIT code).
#[test]
fn a_panic_is_an_engine_fault() {
    let code = Module::new(Sbpf::V1, "entrypoint:\nsyscall tos_get_block_height\nexit")
        .build()
        .bytes;
    for (name, engine) in engines() {
        let module = engine
            .prepare(&code, &tos_syscalls::testing::abi_v1())
            .unwrap();
        let fault = World::default()
            .with_host(Call::Entry(0), &[], |host| {
                let mut host = Tampered {
                    host,
                    tamper: Tamper::PanicHeight("the block height is on fire"),
                };
                module.run(Call::Entry(0), &mut host, 1_000)
            })
            .unwrap_err();
        assert_eq!(fault.engine, "tbpf", "{name}");
        assert!(
            fault.message.contains("panic") && fault.message.contains("on fire"),
            "{name}: {fault}"
        );
        // The engine and the module stay usable: the module exits with the block height, 0.
        let mut world = World::default();
        world.tx.height = 0;
        let o = world.run(&*module, Call::Entry(0), &[], 1_000).unwrap();
        assert!(o.is_success(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement.

/// Ordinary compute on the TBPF JIT, in ns per gas (docs/GAS.md).
const ORDINARY_NS_PER_GAS: f64 = 0.24;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// Prints prepare time per byte of every adversarial deploy shape (and a few single-opcode
/// texts), in ns and in gas at ordinary compute, and the time per gas of the call cases.
#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
fn measure_adversarial_cases() {
    let features = tos_syscalls::testing::abi_v1();
    let mut deploys: Vec<(String, Vec<u8>)> = adv::cases()
        .into_iter()
        .filter(|c| c.call.is_none())
        .map(|c| (c.name, c.code))
        .collect();
    let one = |opc, dst, src, off, imm| TextShape::Repeat(adv::insn(opc, dst, src, off, imm));
    for (label, shape) in [
        ("ldxdw", one(0x79, 1, 10, -8, 0)),
        ("stxdw", one(0x7b, 10, 1, -8, 0)),
        ("jeq_imm +0", one(0x15, 1, 0, 0, 1)),
        ("ja +0", one(0x05, 0, 0, 0, 0)),
        ("exit", one(0x95, 0, 0, 0, 0)),
        ("div64_reg", one(0x3f, 1, 2, 0, 0)),
        ("mov64_imm", one(0xb7, 1, 0, 0, 1)),
        ("callx r1", one(0x8d, 0, 0, 0, 1)),
        ("calls to one function", TextShape::CallsToOne),
        ("v2 static syscalls", TextShape::StaticSyscalls),
    ] {
        deploys.push((format!("text of {label}"), adv::max_text(shape)));
    }
    deploys.push((
        "sdk example hello.so".into(),
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sdk/examples/build/hello.so"
        ))
        .unwrap(),
    ));
    deploys.push((
        "sdk example token.so".into(),
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../sdk/examples/build/token.so"
        ))
        .unwrap(),
    ));
    for (mode, engine) in engines() {
        for (name, code) in &deploys {
            let verdict = engine.prepare(code, &features).map(|_| ());
            let took = best_of(5, || engine.prepare(code, &features).is_ok());
            let ns_per_byte = took.as_nanos() as f64 / code.len() as f64;
            println!(
                "prepare {mode:11} {name:42} {:>8} B {:>9.3} ms {:>7.2} ns/B = {:>6.2} gas/B at ordinary compute {}",
                code.len(),
                took.as_secs_f64() * 1e3,
                ns_per_byte,
                ns_per_byte / ORDINARY_NS_PER_GAS,
                match verdict {
                    Ok(()) => "accepted".to_owned(),
                    Err(e) => format!("refused: {e}"),
                }
            );
        }
    }
    for c in adv::cases().into_iter().filter(|c| c.call.is_some()) {
        let (call, params) = c.call.clone().unwrap();
        for (mode, engine) in engines() {
            let module: std::sync::Arc<dyn PreparedModule> =
                engine.prepare(&c.code, &features).unwrap();
            let mut gas = 0;
            let took = best_of(3, || {
                let o = World::default()
                    .run(&*module, call, &params, 100_000_000)
                    .unwrap();
                assert!(o.is_success(), "{}: {o:?}", c.name);
                gas = o.gas_used;
            });
            let ns_per_gas = took.as_nanos() as f64 / gas as f64;
            println!(
                "call    {mode:11} {:42} {gas:>10} gas {:>9.3} ms {:>7.3} ns/gas = {:>6.2}x ordinary",
                c.name,
                took.as_secs_f64() * 1e3,
                ns_per_gas,
                ns_per_gas / ORDINARY_NS_PER_GAS
            );
        }
    }
}
