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
