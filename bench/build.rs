//! Builds the benchmark's C code with clang, three ways, into `OUT_DIR`:
//!
//! - `contract.so`, `trivial.so`, `big.so`: TBPF modules (`clang -target bpf -mcpu=v2`, then
//!   this workspace's `tos-tbpf-link`, as `sdk/build.sh` does);
//! - `contract.wasm`, `trivial.wasm`, `big.wasm`: wasm modules (`clang --target=wasm32` and
//!   `wasm-ld`), when `wasm-ld` is found;
//! - `libtos_bench_kernels.a`: `kernels/kernels.c` compiled natively with the same `-O2`,
//!   linked into the crate, when the build is not a cross build.
//!
//! What was built is told to the crate by the cfgs `tos_bench_tbpf`, `tos_bench_wasm` and
//! `tos_bench_native`; without clang none is set and the benches print why they skip the
//! cases that need it, so the workspace still builds and tests without a C toolchain.
//! `big_table.h` is generated: a pseudo-random read-only table that brings `big.so` and
//! `big.wasm` near the host's 1 MiB module limit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bytes of the generated table: the modules stay under the host's limit of 1 MiB for the
/// whole envelope (code plus 5 bytes) and wasm's 1 MiB of data segments, with room for the
/// code and headers (a few KiB).
const BIG_TABLE_BYTES: usize = 1_036_288;

/// Flags of every contract build; those of `sdk/build.sh`.
const CFLAGS: &[&str] = &[
    "-O2",
    "-ffreestanding",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
];

fn main() {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env("OUT_DIR"));
    let kernels = manifest.join("kernels");
    let include = manifest.join("../sdk/include");
    for cfg in ["tos_bench_tbpf", "tos_bench_wasm", "tos_bench_native"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    for file in ["kernels.c", "contract.c", "trivial.c"] {
        println!("cargo::rerun-if-changed={}", kernels.join(file).display());
    }
    println!(
        "cargo::rerun-if-changed={}",
        include.join("tos.h").display()
    );
    println!("cargo::rerun-if-changed=build.rs");

    let mut missing = Vec::new();
    if !found("clang") {
        missing.push("clang");
    }
    if !found("wasm-ld") {
        missing.push("wasm-ld");
    }
    println!(
        "cargo::rustc-env=TOS_BENCH_MISSING_TOOLS={}",
        missing.join(",")
    );
    if missing.contains(&"clang") {
        println!(
            "cargo::warning=tos-bench: clang not found (apt-get install clang lld); the C kernels and the modules built from them are skipped"
        );
        return;
    }

    write_big_table(&out.join("big_table.h"));
    let include_flags = [
        format!("-I{}", include.display()),
        format!("-I{}", out.display()),
    ];

    // TBPF
    for (name, source, defines) in modules() {
        let object = out.join(format!("{name}.bpf.o"));
        compile(
            &["-target", "bpf", "-mcpu=v2"],
            &include_flags,
            defines,
            &kernels.join(source),
            &object,
        );
        let bytes = read(&object);
        let module = tos_tbpf_link::link(
            &[(&format!("{name}.bpf.o"), &bytes)],
            &tos_tbpf_link::LinkOptions::tos_abi(),
        )
        .unwrap_or_else(|e| panic!("tbpf-link {name}.bpf.o: {e}"));
        write(&out.join(format!("{name}.so")), &module);
    }
    println!("cargo::rustc-cfg=tos_bench_tbpf");

    // wasm
    if !missing.contains(&"wasm-ld") {
        for (name, source, defines) in modules() {
            let object = out.join(format!("{name}.wasm.o"));
            compile(
                &["--target=wasm32", "-nostdlib"],
                &include_flags,
                defines,
                &kernels.join(source),
                &object,
            );
            let exports: &[&str] = match name {
                "big" => &["--export=entry_0", "--export=entry_1"],
                _ => &["--export=entry_0"],
            };
            let mut cmd = Command::new("wasm-ld");
            cmd.arg("--no-entry")
                .args(exports)
                .arg("-o")
                .arg(out.join(format!("{name}.wasm")))
                .arg(&object);
            run(&mut cmd);
        }
        println!("cargo::rustc-cfg=tos_bench_wasm");
    }

    // Native: only when the crate runs where it is built (clang's default target).
    if std::env::var("TARGET").ok() == std::env::var("HOST").ok() {
        let object = out.join("kernels.o");
        let mut cmd = Command::new("clang");
        cmd.args(CFLAGS)
            .arg("-fPIC")
            .arg("-c")
            .arg(kernels.join("kernels.c"))
            .arg("-o")
            .arg(&object);
        run(&mut cmd);
        let archive = out.join("libtos_bench_kernels.a");
        // A stale archive would keep old members: `ar r` replaces, so start afresh.
        let _ = std::fs::remove_file(&archive);
        let ar = if found("ar") { "ar" } else { "llvm-ar" };
        let mut cmd = Command::new(ar);
        cmd.arg("crs").arg(&archive).arg(&object);
        run(&mut cmd);
        println!("cargo::rustc-link-search=native={}", out.display());
        println!("cargo::rustc-link-lib=static=tos_bench_kernels");
        println!("cargo::rustc-cfg=tos_bench_native");
    }
}

/// The contract modules: (output name, source in `kernels/`, extra clang flags).
fn modules() -> [(&'static str, &'static str, &'static [&'static str]); 3] {
    [
        ("contract", "contract.c", &[]),
        ("trivial", "trivial.c", &[]),
        ("big", "trivial.c", &["-DBENCH_BIG_TABLE"]),
    ]
}

/// `big_table.h`: `BIG_TABLE_BYTES` bytes of splitmix64 output as a `static const` array.
fn write_big_table(path: &Path) {
    let mut text = String::with_capacity(BIG_TABLE_BYTES * 5 + 256);
    text.push_str(
        "/* Generated by bench/build.rs: pseudo-random bytes, to make a module big. */\n",
    );
    let _ = writeln!(
        text,
        "static const uint8_t big_table[{BIG_TABLE_BYTES}] = {{"
    );
    let mut x: u64 = 0;
    for i in 0..BIG_TABLE_BYTES {
        if i % 8 == 0 {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        }
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let byte = (z >> ((i % 8) * 8)) as u8;
        let _ = write!(text, "{byte},");
        if i % 32 == 31 {
            text.push('\n');
        }
    }
    text.push_str("};\n");
    write(path, text.as_bytes());
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}

/// Whether `tool --version` runs.
fn found(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles the C `source` to `object` with clang for `target` (its target flags), with the
/// common flags, the include directories and the module's defines.
fn compile(
    target: &[&str],
    include_flags: &[String],
    defines: &[&str],
    source: &Path,
    object: &Path,
) {
    let mut cmd = Command::new("clang");
    cmd.args(target)
        .args(CFLAGS)
        .args(include_flags)
        .args(defines)
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(object);
    run(&mut cmd);
}

fn run(cmd: &mut Command) {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
