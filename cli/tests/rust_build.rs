//! `tosvm build` on the tutorial of docs/RUST.md: the crate written from the page alone
//! (its `Cargo.toml` and `src/lib.rs` blocks) builds with `tosvm build --all`, and the
//! modules behave the same on TBPF (interpreter and JIT) and wasm. Needs Debian's Rust
//! packages (docs/RUST.md, "What you need"); without them the test says why and passes, as
//! every other test runs from committed modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const TOSVM: &str = env!("CARGO_BIN_EXE_tosvm");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate lives in the workspace")
        .to_path_buf()
}

/// Why the toolchain cannot build for `engine`, or `None` when it can.
fn missing(engine: &str) -> Option<String> {
    let rustc = Path::new("/usr/bin/rustc");
    if !rustc.is_file() || !Path::new("/usr/bin/cargo").is_file() {
        return Some("rustc-web and cargo-web are not installed".into());
    }
    let out = Command::new(rustc)
        .arg("--print")
        .arg("sysroot")
        .output()
        .ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let vv = Command::new(rustc).arg("-vV").output().ok()?;
    let llvm = String::from_utf8_lossy(&vv.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next().map(str::to_owned))
        .unwrap_or_default();
    match engine {
        "tbpf" if !sysroot.join("lib/rustlib/bpfel-unknown-none/lib").is_dir() => {
            Some("libstd-rust-web-dev-bpf is not installed".into())
        }
        "tbpf" if !Path::new(&format!("/usr/bin/llc-{llvm}")).is_file() => {
            Some(format!("llvm-{llvm} is not installed"))
        }
        "wasm" if !sysroot.join("lib/rustlib/src/rust/library/core").is_dir() => {
            Some("rust-web-src is not installed".into())
        }
        _ => None,
    }
}

/// The fenced blocks of docs/RUST.md whose info string names a file: (file, text).
fn tutorial_files() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(workspace().join("docs/RUST.md")).unwrap();
    let mut files = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let (Some(_lang), Some(file)) = (words.next(), words.next()) else {
            // Skip the body of a block that names no file.
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
            }
            continue;
        };
        let mut text = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        files.push((file.to_owned(), text));
    }
    files
}

/// Runs tosvm with `--json`: its JSON result, or its stderr when it printed none.
fn try_tosvm(dir: &Path, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(TOSVM)
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).map_err(|e| {
        format!(
            "{e}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn tosvm(dir: &Path, args: &[&str]) -> Value {
    try_tosvm(dir, args).unwrap_or_else(|e| panic!("tosvm {args:?}: {e}"))
}

/// Deploys `module` into a fresh state and runs the tutorial's calls; returns for each call
/// (status, exit code or trap, return data, events) and the gas.
fn session(dir: &Path, module: &Path, mode: &str) -> Vec<Value> {
    let state = dir.join(format!(
        "{}-{mode}.redb",
        module.display().to_string().replace('/', "_")
    ));
    let state = state.to_str().unwrap();
    let m = module.to_str().unwrap();
    let d = tosvm(dir, &["--state", state, "deploy", m, mode]);
    assert_eq!(d["deployed"], true, "{d}");
    let address = d["address"].as_str().unwrap().to_owned();
    let alice = {
        // score_of takes a borsh hash: tag 8, length 32, the deployer's key.
        let key = d["deployer"].as_str().unwrap();
        format!("0820000000{key}")
    };
    let calls: [(&str, String); 8] = [
        ("0", "050a00000000000000".into()),
        ("0", "050500000000000000".into()),
        ("0", "05ffffffffffffffff".into()),
        ("0", "0a".into()),
        ("1", alice),
        ("2", "050400000000000000".into()),
        ("2", "050000000000000000".into()),
        ("1", "08".into()),
    ];
    calls
        .iter()
        .map(|(entry, params)| {
            let r = tosvm(
                dir,
                &[
                    "--state",
                    state,
                    "invoke",
                    &address,
                    "--entry",
                    entry,
                    "--params-hex",
                    params,
                    mode,
                ],
            );
            let events: Vec<Value> = r["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| serde_json::json!([e["id"], e["data"]]))
                .collect();
            serde_json::json!({
                "status": r["status"],
                "exit_code": r["exit_code"],
                "trap": r["trap"],
                "return_data": r["return_data"],
                "events": events,
            })
        })
        .collect()
}

#[test]
fn the_tutorial_contract_builds_and_behaves_the_same_on_every_engine() {
    let mut engines: Vec<&str> = ["tbpf", "wasm"]
        .into_iter()
        .filter(|e| match missing(e) {
            Some(why) => {
                println!("skipped the {e} build: {why} (docs/RUST.md, \"What you need\")");
                false
            }
            None => true,
        })
        .collect();
    if engines.is_empty() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The crate lives in cargo's persistent test directory, so its target/ (with the `core`
    // that wasm builds compile, ~50 s) is reused by the next run.
    let krate = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-tutorial/scoreboard");
    if krate.join("src").is_dir() {
        std::fs::remove_dir_all(krate.join("src")).unwrap();
    }
    let sdk = workspace().join("sdk/rust/tos-sdk");
    let files = tutorial_files();
    assert!(files.iter().any(|(f, _)| f == "Cargo.toml"), "{files:?}");
    let lib = files
        .iter()
        .find(|(f, _)| f == "src/lib.rs")
        .map(|(_, t)| t.clone())
        .expect("the tutorial has src/lib.rs");
    for (file, text) in &files {
        let text = text.replace("../tos-engine/sdk/rust/tos-sdk", sdk.to_str().unwrap());
        let path = krate.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    let mut args = vec!["build"];
    if engines.len() == 2 {
        args.push("--all");
    } else {
        args.push(if engines[0] == "tbpf" {
            "--tbpf"
        } else {
            "--wasm"
        });
    }
    let built = match try_tosvm(&krate, &args) {
        Ok(v) => v,
        // The wasm build fetches the standard library's dependencies from crates.io the first
        // time (docs/RUST.md): without a network that is the machine's limit, not a bug.
        Err(e)
            if engines.contains(&"tbpf")
                && (e.contains("download") || e.contains("failed to get")) =>
        {
            println!("skipped the wasm build: std's dependencies cannot be fetched ({e})");
            engines.retain(|e| *e == "tbpf");
            tosvm(&krate, &["build", "--tbpf"])
        }
        Err(e) => panic!("tosvm {args:?}: {e}"),
    };
    let modules: Vec<PathBuf> = built["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| PathBuf::from(m["path"].as_str().unwrap()))
        .collect();
    assert_eq!(modules.len(), engines.len(), "{built}");

    let mut runs = Vec::new();
    for m in &modules {
        if m.extension().is_some_and(|e| e == "so") {
            runs.push((
                format!("{} interpreter", m.display()),
                session(tmp.path(), m, "--interpreter"),
            ));
            if cfg!(target_arch = "x86_64") {
                runs.push((
                    format!("{} jit", m.display()),
                    session(tmp.path(), m, "--jit"),
                ));
            }
        } else {
            runs.push((
                m.display().to_string(),
                session(tmp.path(), m, "--interpreter"),
            ));
        }
    }
    let (first, reference) = &runs[0];
    let exits: Vec<String> = reference
        .iter()
        .map(|c| match c["exit_code"].as_u64() {
            Some(code) => format!("exit {code}"),
            None => format!("trap {}", c["trap"].as_str().unwrap_or("")),
        })
        .collect();
    // The line of the division, where `parts` = 0 panics.
    let line = lib
        .lines()
        .position(|l| l.contains("score / parts"))
        .expect("the tutorial divides")
        + 1;
    assert_eq!(
        exits,
        [
            "exit 0".to_owned(),
            "exit 0".into(),
            "exit 2".into(),
            "exit 1".into(),
            "exit 0".into(),
            "exit 0".into(),
            format!("trap aborted: panicked at src/lib.rs:{line}"),
            "exit 1".into(),
        ],
        "{first}"
    );
    assert_eq!(
        reference[1]["return_data"],
        hex::encode(15u64.to_le_bytes())
    );
    assert_eq!(
        reference[4]["return_data"],
        hex::encode(15u64.to_le_bytes())
    );
    assert_eq!(
        reference[5]["return_data"],
        hex::encode([3i64.to_le_bytes(), 3i64.to_le_bytes()].concat())
    );
    for (name, run) in &runs[1..] {
        assert_eq!(run, reference, "{name} differs from {first}");
    }
}

/// Runs `entry` of `module` once in a throwaway state; returns (status text, return data).
fn run_entry(
    dir: &Path,
    module: &Path,
    entry: u16,
    params: &[u8],
    mode: &str,
) -> (String, Vec<u8>) {
    let state = dir.join(format!("run-{entry}-{mode}.redb"));
    let r = tosvm(
        dir,
        &[
            "--state",
            state.to_str().unwrap(),
            "run",
            module.to_str().unwrap(),
            "--entry",
            &entry.to_string(),
            "--params-hex",
            &hex::encode(params),
            mode,
        ],
    );
    let invoke = &r["invoke"];
    let status = match invoke["exit_code"].as_u64() {
        Some(code) => format!("exit {code}"),
        None => format!("trap {}", invoke["trap"].as_str().unwrap_or("")),
    };
    let data = hex::decode(invoke["return_data"].as_str().unwrap()).unwrap();
    (status, data)
}

/// What rustc emits for signed division, checked multiplication, u128 and i128 arithmetic,
/// `copy_within` and runtime-length copies — which LLVM's BPF backend refuses — runs right
/// on TBPF after `tosvm build` (tests/fixtures/arith), interpreted and compiled.
#[test]
fn rust_arithmetic_the_bpf_backend_refuses_computes_right_on_tbpf() {
    if let Some(why) = missing("tbpf") {
        println!("skipped: {why} (docs/RUST.md, \"What you need\")");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arith");
    let krate = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-arith");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let sdk = workspace().join("sdk/rust/tos-sdk");
    let manifest = std::fs::read_to_string(src.join("Cargo.toml"))
        .unwrap()
        .replace("../../../../sdk/rust/tos-sdk", sdk.to_str().unwrap());
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(src.join("src/lib.rs"), krate.join("src/lib.rs")).unwrap();
    let built = tosvm(&krate, &["build", "--tbpf"]);
    let module = PathBuf::from(built["modules"][0]["path"].as_str().unwrap());
    let tmp = tempfile::tempdir().unwrap();

    let signed: [i64; 12] = [
        0,
        1,
        -1,
        7,
        -7,
        300,
        -128,
        3_037_000_500,
        -3_037_000_500,
        1 << 62,
        i64::MAX,
        i64::MIN,
    ];
    let mut params = Vec::new();
    let mut want = Vec::new();
    for &a in &signed {
        for &b in &signed {
            params.extend_from_slice(&a.to_le_bytes());
            params.extend_from_slice(&b.to_le_bytes());
            let results: [u64; 8] = [
                a.checked_div(b).unwrap_or(i64::MIN + 7) as u64,
                a.checked_rem(b).unwrap_or(i64::MIN + 9) as u64,
                (a as u64).checked_mul(b as u64).unwrap_or(u64::MAX - 3),
                a.checked_mul(b).unwrap_or(i64::MIN + 11) as u64,
                a.saturating_mul(b) as u64,
                (a as i32).checked_div(b as i32).unwrap_or(13) as i64 as u64,
                (a as i8).checked_rem(b as i8).unwrap_or(17) as i64 as u64,
                a.checked_div_euclid(b | 1).unwrap_or(19) as u64,
            ];
            for r in results {
                want.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
    let wide: [u128; 8] = [
        0,
        1,
        3,
        u128::from(u64::MAX),
        (1 << 64) + 12_345,
        u128::MAX,
        0x8000_0000_0000_0000_0000_0000_0000_0001,
        0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
    ];
    let mut wide_params = Vec::new();
    let mut wide_want = Vec::new();
    for &x in &wide {
        for &y in &wide {
            wide_params.extend_from_slice(&x.to_le_bytes());
            wide_params.extend_from_slice(&y.to_le_bytes());
            let s = (y % 128) as u32;
            let results: [u128; 8] = [
                x.wrapping_mul(y),
                x.checked_mul(y).unwrap_or(9),
                x.checked_div(y).unwrap_or(3),
                x.checked_rem(y).unwrap_or(5),
                x << s,
                x >> s,
                ((x as i128) >> s) as u128,
                (x as i128).checked_div(y as i128).unwrap_or(7) as u128,
            ];
            for r in results {
                wide_want.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
    let mut modes = vec!["--interpreter"];
    if cfg!(target_arch = "x86_64") {
        modes.push("--jit");
    }
    for mode in modes {
        let at = format!("{} {mode}", module.display());
        assert_eq!(
            run_entry(tmp.path(), &module, 0, &params, mode),
            ("exit 0".to_owned(), want.clone()),
            "{at}: i64"
        );
        assert_eq!(
            run_entry(tmp.path(), &module, 1, &wide_params, mode),
            ("exit 0".to_owned(), wide_want.clone()),
            "{at}: u128"
        );
        for (from, to, len, fill) in [
            (0u8, 1u8, 20u8, 0u8),
            (5, 0, 30, 3),
            (9, 9, 0, 40),
            (1, 30, 33, 17),
        ] {
            let data: Vec<u8> = (0..64).collect();
            let mut p = vec![from, to, len, fill];
            p.extend_from_slice(&data);
            let mut d = data.clone();
            let (f, t, l) = (usize::from(from), usize::from(to), usize::from(len));
            d.copy_within(f..f + l, t);
            d[..usize::from(fill)].fill(0xEE);
            assert_eq!(
                run_entry(tmp.path(), &module, 2, &p, mode),
                ("exit 0".to_owned(), d),
                "{at}: copy_within({from}..{from}+{len}, {to}), fill {fill}"
            );
        }
        let (status, _) = run_entry(tmp.path(), &module, 3, &[9, 1, 2], mode);
        assert!(
            status.starts_with("trap aborted: panicked at src/lib.rs:"),
            "{at}: {status}"
        );
    }
}

/// Without Debian's toolchain, `tosvm build` says which packages to install.
#[test]
fn a_missing_toolchain_names_the_debian_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(TOSVM)
        .args(["build", "--all"])
        .env("TOS_RUSTC", "/nonexistent/rustc")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("apt-get install -y --no-install-recommends rustc-web cargo-web"),
        "{err}"
    );
}
