//! Replays the committed fuzz corpus and every committed crash through the bodies of the fuzz
//! targets (`tos_tests::fuzz`), on stable Rust, so a fixed crash stays fixed in CI.
//!
//! For each target `T` it reads `fuzz/corpus/T/`, `fuzz/artifacts/T/` and
//! `fuzz/regressions/T/`. Crash and regression files are always all replayed; a corpus
//! larger than the target's budget is sampled deterministically (every k-th file in name
//! order) so the test stays well under a minute in a debug build.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use tos_engine_api::ExecutionEngine;
use tos_tests::fuzz;

/// A target: its name (the folder under `fuzz/corpus/`), its body, and how many corpus files
/// a debug build replays at most.
type Target = (&'static str, fn(&[u8]), usize);

const TARGETS: &[Target] = &[
    ("envelope", fuzz::envelope, 400),
    ("tbpf_prepare", fuzz::tbpf_prepare, 3_000),
    ("tbpf_link", fuzz::tbpf_link, 3_000),
    ("legacy_module", fuzz::legacy_module, 3_000),
    ("wasm_prepare", fuzz::wasm_prepare, 200),
    ("call_input", fuzz::call_input, 3_000),
    ("schedule_toml", fuzz::schedule_toml, 3_000),
    ("sbpf_differential", fuzz::sbpf_differential, 3_000),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` in name order (none when it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// At most `budget` of `files`, spread evenly over the name order.
fn sample(files: Vec<PathBuf>, budget: usize) -> Vec<PathBuf> {
    if files.len() <= budget {
        return files;
    }
    let step = files.len().div_ceil(budget);
    files.into_iter().step_by(step).collect()
}

/// Runs `body` on every file; returns the files on which it panicked.
fn replay(body: fn(&[u8]), files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(file.display().to_string());
        }
    }
    failed
}

#[test]
fn every_committed_corpus_and_crash_file_replays_without_panicking() {
    let root = fuzz_dir();
    let mut failed = Vec::new();
    let mut replayed = 0;
    for &(target, body, budget) in TARGETS {
        let corpus = sample(files(&root.join("corpus").join(target)), budget);
        let mut crashes = files(&root.join("artifacts").join(target));
        crashes.extend(files(&root.join("regressions").join(target)));
        let start = std::time::Instant::now();
        failed.extend(replay(body, &corpus));
        failed.extend(replay(body, &crashes));
        replayed += corpus.len() + crashes.len();
        eprintln!(
            "{target}: {} corpus files, {} crash/regression files, {:?}",
            corpus.len(),
            crashes.len(),
            start.elapsed()
        );
    }
    assert!(
        replayed > 0,
        "no fuzz corpus found under {}",
        root.display()
    );
    assert!(failed.is_empty(), "fuzz bodies panicked on: {failed:#?}");
}

#[test]
fn every_target_has_a_committed_corpus() {
    let root = fuzz_dir();
    for &(target, _, _) in TARGETS {
        assert!(
            !files(&root.join("corpus").join(target)).is_empty(),
            "fuzz/corpus/{target} is empty"
        );
    }
}

#[test]
fn empty_and_tiny_inputs_do_not_panic() {
    for &(_, body, _) in TARGETS {
        for data in [&[][..], &[0], &[0xff], &[0x80; 9], &[1; 64]] {
            body(data);
        }
    }
}

/// xorshift64*, for deterministic pseudo-random inputs.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// The differential target is only worth running if the modules it writes load: most random
/// programs must pass the loader and the verifier, in both SBPF versions.
#[test]
fn generated_sbpf_programs_mostly_load() {
    let engine = tos_engine_tbpf::TbpfEngine::new(tos_engine_tbpf::TbpfConfig::default()).unwrap();
    let protocol = tos_syscalls::testing::abi_v1();
    for v2 in [false, true] {
        let mut loaded = 0;
        let mut first_error = None;
        for seed in 0..200u64 {
            let mut data = bytes(seed.wrapping_mul(0x9e37_79b9) + 1, 256);
            data[0] = (data[0] & !1) | u8::from(v2);
            let program = fuzz::sbpf::Program::from_fuzz(&data);
            match engine.prepare(&program.elf(), &protocol) {
                Ok(_) => loaded += 1,
                Err(e) => {
                    eprintln!("v2={v2} seed {seed}: {e}");
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        assert!(
            loaded >= 120,
            "v2={v2}: only {loaded}/200 generated programs load; first refusal: {first_error:?}"
        );
    }
}

/// Writes the hand-made seeds of every target into `fuzz/corpus/<target>/seed-*` from the
/// repository's real modules and objects (run it once before fuzzing a fresh checkout; the
/// committed corpus already holds them):
/// `cargo test -p tos-tests --test fuzz_corpus -- --ignored write_seeds`.
#[test]
#[ignore = "writes files: run by hand to (re)seed the fuzz corpus"]
fn write_seeds() {
    use tos_engine_api::{Call, CallInput, ModuleTag};
    use tos_host::ContractModule;

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read_dir = |dir: &str, ext: &str| -> Vec<(String, Vec<u8>)> {
        files(&repo.join(dir))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect()
    };
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    };

    let so = read_dir("sdk/examples/build", "so");
    let wasm: Vec<_> = [
        read_dir("sdk/examples/build", "wasm"),
        read_dir("engine-wasm/examples", "wasm"),
        read_dir("engine-wasm/tests/fixtures", "wasm"),
    ]
    .concat();
    let tosl = read_dir("engine-legacy/examples", "tosl");
    let objects = read_dir("tbpf-link/tests/fixtures", "o");

    for (name, code) in &so {
        write("tbpf_prepare", name, code);
    }
    for (name, code) in &wasm {
        write("wasm_prepare", name, code);
    }
    for (name, code) in &tosl {
        write("legacy_module", name, code);
    }
    for (tag, modules) in [
        (ModuleTag::TBPF, &so),
        (ModuleTag::WASM, &wasm),
        (ModuleTag::LEGACY, &tosl),
    ] {
        for (name, code) in modules.iter().take(4) {
            let module = ContractModule::new(tag, code.clone());
            write("envelope", &format!("{tag}-{name}"), &module.encode());
            write(
                "envelope",
                &format!("{tag}-{name}-zstd"),
                &module.encode_compressed(),
            );
        }
    }
    write("envelope", "empty-code", &[1, 0, 0, 0, 0]);

    // tbpf_link: one object (both option sets), and the pairs the linker tests link.
    for (name, object) in &objects {
        write(
            "tbpf_link",
            &format!("{name}-abi"),
            &[&[0x04][..], object].concat(),
        );
        write(
            "tbpf_link",
            &format!("{name}-any"),
            &[&[0x00][..], object].concat(),
        );
    }
    let object = |n: &str| &objects.iter().find(|(name, _)| name == n).unwrap().1;
    for (a, b) in [
        ("multi_a", "multi_b"),
        ("dup_a", "dup_b"),
        ("weak_a", "weak_b"),
    ] {
        let (a_bytes, b_bytes) = (object(a), object(b));
        let len = u16::try_from(a_bytes.len()).unwrap().to_le_bytes();
        let data = [&[0x05][..], &len, a_bytes, b_bytes].concat();
        write("tbpf_link", &format!("{a}+{b}"), &data);
    }
    let (a, b, c) = (object("multi_a"), object("multi_b"), object("pic"));
    let data = [
        &[0x06][..],
        &u16::try_from(a.len()).unwrap().to_le_bytes(),
        a,
        &u16::try_from(b.len()).unwrap().to_le_bytes(),
        b,
        c,
    ]
    .concat();
    write("tbpf_link", "multi_a+multi_b+pic", &data);

    for (name, call, params) in [
        ("entry0", Call::Entry(0), vec![]),
        ("entry-max", Call::Entry(u16::MAX), vec![1, 2, 3]),
        ("hook0", Call::Hook(0), vec![0; 40]),
        ("hook-max", Call::Hook(u8::MAX), vec![0xff]),
    ] {
        write("call_input", name, &CallInput::new(call, params).encode());
    }

    let schedules = [
        (
            "tags",
            "network = \"local\"\n[engines.tbpf]\ndeploy_from = 10\nversions = [{ from = 0, version = 1 }, { from = 500, version = 2 }]\n[engines.legacy]\ndeploy_from = 0\ndeploy_until = 100\nversions = [{ from = 0, version = 1 }]\n[engines.wasm]\ndeploy_from = 0\nversions = [{ from = 0, version = 1 }]\n[features]\nabi_v1 = 1000\n",
        ),
        (
            "gas",
            "network = \"local\"\n[features]\nabi_v1 = 0\n[[gas]]\nfrom = 5000\nversion = 2\nset = { \"syscall.tos_storage_store.base\" = 2000, \"deploy.per_byte\" = 30 }\n[[gas]]\nfrom = 9000\nversion = 3\nset = { \"wasm.memory_page\" = 300, \"tx.max_gas\" = 1 }\n",
        ),
        ("minimal", "network = \"x\"\n"),
        ("typo", "network = \"x\"\n[features]\nabi_v2_typo = 0\n"),
    ];
    for (name, text) in schedules {
        write("schedule_toml", name, text.as_bytes());
    }

    // sbpf_differential: a few deterministic byte strings in both versions; the generator
    // reads any bytes as a program.
    for seed in 0..8u64 {
        let mut data = bytes(seed * 7 + 3, 64 + 48 * seed as usize);
        data[0] = (data[0] & !1) | (seed & 1) as u8;
        write("sbpf_differential", &format!("random-{seed}"), &data);
        // The same programs as modules: small, loadable ELF files for tbpf_prepare.
        let elf = fuzz::sbpf::Program::from_fuzz(&data).elf();
        write("tbpf_prepare", &format!("generated-{seed}"), &elf);
    }
}
