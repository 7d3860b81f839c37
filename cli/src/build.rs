//! `tosvm build`: builds a Rust contract crate (docs/RUST.md) into a TBPF module and a wasm
//! module with Debian's own Rust toolchain — no downloaded toolchain, no script to keep.
//!
//! **TBPF** (`bpfel-unknown-none`, prebuilt `core` from `libstd-rust-web-dev-bpf`): rustc
//! emits LLVM bitcode for that target, so the crate is built as a `staticlib` with fat LTO
//! (one bitcode module: the contract plus what it uses of `core`), then lowered by LLVM's
//! tools of the major version rustc was built with:
//! 1. `cargo rustc --release --target bpfel-unknown-none --crate-type staticlib`, LTO fat,
//!    one codegen unit, `panic = "abort"`, `-C target-cpu=v2`;
//! 2. `llvm-ar-N x`, `llvm-link-N` of the archive's members;
//! 3. `opt-N -strip-debug` running `expand-ir-insts` (128-bit division into loops);
//! 4. [`tos_tbpf_link::ir_fixup::fixup_ir`]: what the BPF backend cannot lower;
//! 5. `opt-N -passes=always-inline`, then [`tos_tbpf_link::ir_fixup::check_ir`], which
//!    refuses floats, functions of more than five arguments and aggregate returns, naming
//!    the function;
//! 6. `llc-N -march=bpfel -mcpu=v2 -O2 -bpf-stack-size=4096` (TBPF frames are 4 KiB;
//!    `-mcpu=v3` would emit JMP32, which TBPF refuses);
//! 7. `tos_tbpf_link::link_module` with the TOS syscalls.
//!
//! **wasm** (`wasm32v1-none`): `core` is rebuilt from `rust-web-src` (`-Zbuild-std=core`,
//! hence `RUSTC_BOOTSTRAP=1`), linked by `wasm-ld` with a 32 KiB stack (rustc's 1 MiB would
//! cost 17 initial pages of gas on every call), symbols stripped.
//!
//! **Reproducible**: the same sources and toolchain give the same bytes. Every local
//! package's directory, the cargo registry, the Rust sources and the target directory are
//! remapped (`--remap-path-prefix`), so panic locations do not carry the machine's paths.
//! The crate builds in its own target directory (`CARGO_TARGET_DIR` is ignored), with
//! RUSTFLAGS and wrappers of the environment removed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tos_tbpf_link::LinkOptions;
use tos_tbpf_link::ir_fixup::{check_ir, fixup_ir};

use crate::commands::Ctx;
use crate::error::{CliError, EXIT_OK};
use crate::output::{field, print_json, thousands};

/// Arguments of `tosvm build`.
#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// Build the TBPF module (`<name>.so`).
    #[arg(long)]
    pub(crate) tbpf: bool,
    /// Build the wasm module (`<name>.wasm`).
    #[arg(long)]
    pub(crate) wasm: bool,
    /// Build both (the default when neither --tbpf nor --wasm is given).
    #[arg(long, conflicts_with_all = ["tbpf", "wasm"])]
    pub(crate) all: bool,
    /// The contract crate: its directory or its Cargo.toml.
    #[arg(default_value = ".", value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// The package to build, when PATH is a workspace of several.
    #[arg(short = 'p', long, value_name = "NAME")]
    pub(crate) package: Option<String>,
    /// Write the modules here (default: `<target dir>/tos`).
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,
}

/// Which Debian package provides what is missing.
const PKG_RUSTC: &str = "rustc-web cargo-web";
const PKG_BPF: &str = "libstd-rust-web-dev-bpf";
const PKG_SRC: &str = "rust-web-src";

fn install_hint(packages: &str) -> String {
    format!("install it with: sudo apt-get install -y --no-install-recommends {packages}")
}

/// The toolchain: Debian's rustc and cargo (named explicitly: rustup's may come first in
/// PATH), and the LLVM major version rustc was built with.
#[derive(Debug)]
struct Toolchain {
    rustc: PathBuf,
    cargo: PathBuf,
    release: String,
    llvm_major: String,
    sysroot: PathBuf,
}

fn run_capture(cmd: &mut Command, what: &str) -> Result<String, CliError> {
    let out = cmd
        .output()
        .map_err(|e| CliError::user(format!("cannot run {what}: {e}")))?;
    if !out.status.success() {
        // Errors print as one line: keep every line of the tool's message, joined.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return Err(CliError::user(format!(
            "{what} failed ({}): {}",
            out.status,
            lines.join(" | ")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs cargo with stderr passed through, so the compiler's diagnostics reach the user as
/// rustc formats them.
fn run_cargo(cmd: &mut Command, what: &str) -> Result<(), CliError> {
    let status = cmd
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| CliError::user(format!("cannot run {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::user(format!(
            "{what} failed ({status}): the compiler's messages are above"
        )))
    }
}

/// Runs a tool, passing its output through only when it fails.
fn run_tool(cmd: &mut Command, what: &str) -> Result<(), CliError> {
    run_capture(cmd, what).map(|_| ())
}

impl Toolchain {
    fn find() -> Result<Self, CliError> {
        let rustc = std::env::var_os("TOS_RUSTC")
            .map_or_else(|| PathBuf::from("/usr/bin/rustc"), PathBuf::from);
        let cargo = std::env::var_os("TOS_CARGO")
            .map_or_else(|| PathBuf::from("/usr/bin/cargo"), PathBuf::from);
        for (tool, pkg) in [(&rustc, "rustc-web"), (&cargo, "cargo-web")] {
            if !tool.is_file() {
                return Err(CliError::user(format!(
                    "Debian's Rust toolchain is missing ({} not found; package {pkg}): {}",
                    tool.display(),
                    install_hint(PKG_RUSTC)
                )));
            }
        }
        let vv = run_capture(Command::new(&rustc).arg("-vV"), "rustc -vV")?;
        let get = |key: &str| {
            vv.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
        };
        let release = get("release:").unwrap_or_default();
        let llvm = get("LLVM version:").ok_or_else(|| {
            CliError::user(format!("{} -vV names no LLVM version", rustc.display()))
        })?;
        let llvm_major = llvm.split('.').next().unwrap_or_default().to_owned();
        let sysroot = PathBuf::from(
            run_capture(
                Command::new(&rustc).args(["--print", "sysroot"]),
                "rustc --print sysroot",
            )?
            .trim(),
        );
        Ok(Toolchain {
            rustc,
            cargo,
            release,
            llvm_major,
            sysroot,
        })
    }

    /// `llvm-ar-N` etc.: on PATH, or in /usr/lib/llvm-N/bin.
    fn llvm_tool(&self, name: &str) -> Result<PathBuf, CliError> {
        let versioned = format!("{name}-{}", self.llvm_major);
        if let Some(p) = find_on_path(&versioned) {
            return Ok(p);
        }
        let p = PathBuf::from(format!("/usr/lib/llvm-{}/bin/{name}", self.llvm_major));
        if p.is_file() {
            return Ok(p);
        }
        Err(CliError::user(format!(
            "{versioned} not found (rustc {} uses LLVM {}; TBPF needs that LLVM's tools): {}",
            self.release,
            self.llvm_major,
            install_hint(&format!("llvm-{}", self.llvm_major))
        )))
    }

    /// A `cargo` command with the environment a reproducible contract build needs.
    fn cargo(&self, rustflags: &str) -> Command {
        let mut c = Command::new(&self.cargo);
        for v in [
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_BUILD_RUSTC_WRAPPER",
            "RUSTC_BOOTSTRAP",
            "RUSTDOCFLAGS",
            "CARGO_INCREMENTAL",
            "CARGO_PROFILE_RELEASE_LTO",
            "CARGO_PROFILE_RELEASE_PANIC",
            "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
            "CARGO_PROFILE_RELEASE_DEBUG",
        ] {
            c.env_remove(v);
        }
        c.env("RUSTC", &self.rustc);
        c.env("RUSTFLAGS", rustflags);
        c
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The crate to build, from `cargo metadata`.
#[derive(Debug)]
struct Crate {
    manifest: PathBuf,
    package: String,
    /// The lib target's name, as in file names (`-` → `_`).
    lib_name: String,
    target_dir: PathBuf,
    /// Directories of the local packages (the crate, path dependencies), with their names.
    local_dirs: Vec<(PathBuf, String)>,
}

fn locate(tc: &Toolchain, args: &BuildArgs) -> Result<Crate, CliError> {
    let manifest = if args.path.is_dir() {
        args.path.join("Cargo.toml")
    } else {
        args.path.clone()
    };
    if !manifest.is_file() {
        return Err(CliError::user(format!(
            "no contract crate at {} (no Cargo.toml)",
            args.path.display()
        )));
    }
    let manifest = manifest
        .canonicalize()
        .map_err(|e| CliError::user(format!("{}: {e}", manifest.display())))?;
    let text = run_capture(
        tc.cargo("")
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest),
        "cargo metadata",
    )?;
    let meta: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::user(format!("cargo metadata gave bad JSON: {e}")))?;
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let member_pkgs: Vec<&Value> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .collect();
    let pkg = match &args.package {
        Some(name) => member_pkgs
            .iter()
            .find(|p| p["name"] == name.as_str())
            .copied()
            .ok_or_else(|| {
                CliError::user(format!("no package `{name}` in {}", manifest.display()))
            })?,
        None => match member_pkgs
            .iter()
            .find(|p| p["manifest_path"].as_str().map(PathBuf::from) == Some(manifest.clone()))
        {
            Some(p) => *p,
            None if member_pkgs.len() == 1 => member_pkgs[0],
            None => {
                let names: Vec<&str> = member_pkgs
                    .iter()
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                return Err(CliError::user(format!(
                    "{} is a workspace of several packages ({}): choose one with -p",
                    manifest.display(),
                    names.join(", ")
                )));
            }
        },
    };
    let package = pkg["name"].as_str().unwrap_or_default().to_owned();
    let lib = pkg["targets"]
        .as_array()
        .and_then(|ts| {
            ts.iter().find(|t| {
                t["kind"].as_array().is_some_and(|k| {
                    k.iter().any(|k| matches!(k.as_str(), Some("lib" | "cdylib" | "staticlib" | "rlib")))
                })
            })
        })
        .ok_or_else(|| {
            CliError::user(format!(
                "package `{package}` has no library target: a contract is a `[lib]` crate (src/lib.rs)"
            ))
        })?;
    let lib_name = lib["name"].as_str().unwrap_or(&package).replace('-', "_");
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or("target"));
    let local_dirs = packages
        .iter()
        .filter(|p| p["source"].is_null())
        .filter_map(|p| {
            let dir = Path::new(p["manifest_path"].as_str()?)
                .parent()?
                .to_path_buf();
            Some((dir, p["name"].as_str()?.to_owned()))
        })
        .collect();
    Ok(Crate {
        manifest,
        package,
        lib_name,
        target_dir,
        local_dirs,
    })
}

/// `--remap-path-prefix` flags: broad prefixes first (rustc applies the last match).
fn remaps(tc: &Toolchain, krate: &Crate) -> String {
    let mut maps: Vec<(PathBuf, String)> = Vec::new();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        maps.push((home, "/cargo".to_owned()));
    }
    maps.push((
        tc.sysroot.join("lib/rustlib/src/rust"),
        "/rustc/src".to_owned(),
    ));
    maps.push((krate.target_dir.clone(), "/target".to_owned()));
    for (dir, name) in &krate.local_dirs {
        maps.push((dir.clone(), name.clone()));
    }
    maps.sort_by_key(|(p, _)| p.as_os_str().len());
    maps.iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cargo flags that force what a contract build needs, whatever the crate's profile.
fn profile_flags() -> [&'static str; 10] {
    [
        "--config",
        "profile.release.lto=\"fat\"",
        "--config",
        "profile.release.codegen-units=1",
        "--config",
        "profile.release.panic=\"abort\"",
        "--config",
        "profile.release.debug=false",
        "--config",
        "profile.release.incremental=false",
    ]
}

/// What one module build produced.
#[derive(Debug)]
struct Built {
    engine: &'static str,
    path: PathBuf,
    size: usize,
    notes: Vec<String>,
}

fn build_tbpf(tc: &Toolchain, krate: &Crate, out_dir: &Path) -> Result<Built, CliError> {
    let bpf_lib = tc.sysroot.join("lib/rustlib/bpfel-unknown-none/lib");
    if !bpf_lib.is_dir() {
        return Err(CliError::user(format!(
            "rustc {} has no core for bpfel-unknown-none ({} is missing): {}",
            tc.release,
            bpf_lib.display(),
            install_hint(PKG_BPF)
        )));
    }
    let ar = tc.llvm_tool("llvm-ar")?;
    let link = tc.llvm_tool("llvm-link")?;
    let opt = tc.llvm_tool("opt")?;
    let llc = tc.llvm_tool("llc")?;

    let rustflags = format!("-C target-cpu=v2 {}", remaps(tc, krate));
    run_cargo(
        tc.cargo(&rustflags)
            .args([
                "rustc",
                "--quiet",
                "--release",
                "--target",
                "bpfel-unknown-none",
                "--lib",
            ])
            .args([
                "--crate-type",
                "staticlib",
                "-p",
                &krate.package,
                "--manifest-path",
            ])
            .arg(&krate.manifest)
            .args(profile_flags()),
        "cargo rustc --target bpfel-unknown-none",
    )?;
    let archive = krate
        .target_dir
        .join("bpfel-unknown-none/release")
        .join(format!("lib{}.a", krate.lib_name));

    let tmp = tempfile::tempdir()
        .map_err(|e| CliError::fault(format!("cannot create a temporary directory: {e}")))?;
    let dir = tmp.path();
    let members = run_capture(Command::new(&ar).arg("t").arg(&archive), "llvm-ar t")?;
    let members: Vec<&str> = members.lines().filter(|m| !m.is_empty()).collect();
    run_tool(
        Command::new(&ar).current_dir(dir).arg("x").arg(&archive),
        "llvm-ar x",
    )?;
    run_tool(
        Command::new(&link)
            .current_dir(dir)
            .args(&members)
            .args(["-o", "linked.bc"]),
        "llvm-link",
    )?;
    run_tool(
        Command::new(&opt).current_dir(dir).args([
            "-mtriple=bpfel",
            "-mcpu=v2",
            "-strip-debug",
            "-expand-div-rem-bits=64",
            "-passes=require<libcall-lowering-info>,function(expand-ir-insts)",
            "-S",
            "linked.bc",
            "-o",
            "expanded.ll",
        ]),
        "opt (expand-ir-insts)",
    )?;
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| CliError::fault(format!("cannot read {name}: {e}")))
    };
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes)
            .map_err(|e| CliError::fault(format!("cannot write {name}: {e}")))
    };
    let fixed = fixup_ir(&read("expanded.ll")?)
        .map_err(|e| CliError::user(format!("TBPF build of `{}` failed: {e}", krate.package)))?;
    write("fixed.ll", fixed.text.as_bytes())?;
    run_tool(
        Command::new(&opt).current_dir(dir).args([
            "-passes=always-inline",
            "-S",
            "fixed.ll",
            "-o",
            "inlined.ll",
        ]),
        "opt (always-inline)",
    )?;
    check_ir(&read("inlined.ll")?)
        .map_err(|e| CliError::user(format!("TBPF build of `{}` failed: {e}", krate.package)))?;
    run_tool(
        Command::new(&llc).current_dir(dir).args([
            "-march=bpfel",
            "-mcpu=v2",
            "-O2",
            "-bpf-stack-size=4096",
            "-filetype=obj",
            "inlined.ll",
            "-o",
            "contract.o",
        ]),
        "llc",
    )
    .map_err(|e| CliError::user(format!("TBPF build of `{}`: {e}", krate.package)))?;
    let object = std::fs::read(dir.join("contract.o"))
        .map_err(|e| CliError::fault(format!("cannot read contract.o: {e}")))?;
    let name = format!("{}.o", krate.lib_name);
    let linked = tos_tbpf_link::link_module(&[(&name, &object)], &LinkOptions::tos_abi())
        .map_err(|e| CliError::user(format!("TBPF link of `{}` failed: {e}", krate.package)))?;
    let path = out_dir.join(format!("{}.so", krate.lib_name));
    std::fs::write(&path, &linked.bytes)
        .map_err(|e| CliError::user(format!("cannot write {}: {e}", path.display())))?;
    let notes = fixed
        .rewrites
        .iter()
        .filter(|(k, _)| *k != "target-cpu")
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    Ok(Built {
        engine: "tbpf",
        path,
        size: linked.bytes.len(),
        notes,
    })
}

fn build_wasm(tc: &Toolchain, krate: &Crate, out_dir: &Path) -> Result<Built, CliError> {
    let src = tc.sysroot.join("lib/rustlib/src/rust/library/core");
    if !src.is_dir() {
        return Err(CliError::user(format!(
            "the Rust sources that -Zbuild-std needs for wasm are missing ({}): {}",
            src.display(),
            install_hint(PKG_SRC)
        )));
    }
    if find_on_path("wasm-ld").is_none() {
        return Err(CliError::user(format!(
            "wasm-ld not found: {}",
            install_hint("lld")
        )));
    }
    let rustflags = format!(
        "-C linker=wasm-ld -C link-arg=-zstack-size=32768 -C strip=symbols {}",
        remaps(tc, krate)
    );
    run_cargo(
        tc.cargo(&rustflags)
            .env("RUSTC_BOOTSTRAP", "1")
            .args([
                "rustc",
                "--quiet",
                "--release",
                "--target",
                "wasm32v1-none",
                "--lib",
            ])
            .args([
                "-Zbuild-std=core",
                "--crate-type",
                "cdylib",
                "-p",
                &krate.package,
            ])
            .arg("--manifest-path")
            .arg(&krate.manifest)
            .args(profile_flags()),
        "cargo rustc --target wasm32v1-none",
    )?;
    let built = krate
        .target_dir
        .join("wasm32v1-none/release")
        .join(format!("{}.wasm", krate.lib_name));
    let bytes = std::fs::read(&built)
        .map_err(|e| CliError::fault(format!("cannot read {}: {e}", built.display())))?;
    let path = out_dir.join(format!("{}.wasm", krate.lib_name));
    std::fs::write(&path, &bytes)
        .map_err(|e| CliError::user(format!("cannot write {}: {e}", path.display())))?;
    Ok(Built {
        engine: "wasm",
        path,
        size: bytes.len(),
        notes: Vec::new(),
    })
}

/// `tosvm build [--tbpf|--wasm|--all] [PATH]`.
pub(crate) fn build(ctx: &Ctx, args: &BuildArgs) -> Result<i32, CliError> {
    let (tbpf, wasm) = match (args.tbpf, args.wasm) {
        (false, false) => (true, true),
        other => other,
    };
    let tc = Toolchain::find()?;
    let krate = locate(&tc, args)?;
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| krate.target_dir.join("tos"));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| CliError::user(format!("cannot create {}: {e}", out_dir.display())))?;
    let mut built = Vec::new();
    if tbpf {
        built.push(build_tbpf(&tc, &krate, &out_dir)?);
    }
    if wasm {
        built.push(build_wasm(&tc, &krate, &out_dir)?);
    }
    if ctx.json {
        print_json(&json!({
            "command": "build",
            "package": krate.package,
            "rustc": tc.release,
            "llvm": tc.llvm_major,
            "modules": built.iter().map(|b| json!({
                "engine": b.engine,
                "path": b.path.display().to_string(),
                "size": b.size,
                "rewrites": b.notes,
            })).collect::<Vec<_>>(),
        }));
    } else {
        for b in &built {
            outln!("{}", field(0, "wrote", b.path.display()));
            let mut line = format!("{} module, {} bytes", b.engine, thousands(b.size as u64));
            if !b.notes.is_empty() {
                line.push_str(&format!(" (rewrote {})", b.notes.join(", ")));
            }
            outln!("{}", field(0, "", line));
        }
    }
    Ok(EXIT_OK)
}
