//! Integration tests of `tosvm`: each runs the built binary in its own temporary directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value;

mod common;

use common::*;

type Dump = BTreeMap<&'static str, Vec<(Vec<u8>, Vec<u8>)>>;

/// Every row of the state, read with redb directly (the layout of README.md).
fn dump(path: &Path) -> Dump {
    let db = redb::Database::open(path).unwrap();
    let r = db.begin_read().unwrap();
    let mut out = Dump::new();
    macro_rules! table {
        ($name:literal, $k:ty, $v:ty, $kf:expr, $vf:expr) => {{
            let def: TableDefinition<'_, $k, $v> = TableDefinition::new($name);
            let mut rows = Vec::new();
            match r.open_table(def) {
                Ok(t) => {
                    for item in t.iter().unwrap() {
                        let (k, v) = item.unwrap();
                        rows.push(($kf(k.value()), $vf(v.value())));
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => panic!("{e}"),
            }
            out.insert($name, rows);
        }};
    }
    table!(
        "contracts",
        &[u8; 32],
        &[u8],
        |k: &[u8; 32]| k.to_vec(),
        |v: &[u8]| v.to_vec()
    );
    table!(
        "storage",
        &[u8],
        &[u8],
        |k: &[u8]| k.to_vec(),
        |v: &[u8]| v.to_vec()
    );
    table!(
        "balances",
        &[u8; 64],
        u64,
        |k: &[u8; 64]| k.to_vec(),
        |v: u64| v.to_le_bytes().to_vec()
    );
    table!(
        "assets",
        &[u8; 32],
        &[u8],
        |k: &[u8; 32]| k.to_vec(),
        |v: &[u8]| v.to_vec()
    );
    table!(
        "meta",
        &str,
        u64,
        |k: &str| k.as_bytes().to_vec(),
        |v: u64| v.to_le_bytes().to_vec()
    );
    out
}

fn meta(d: &Dump, key: &str) -> u64 {
    d["meta"]
        .iter()
        .find(|(k, _)| k == key.as_bytes())
        .map(|(_, v)| u64::from_le_bytes(v.as_slice().try_into().unwrap()))
        .unwrap_or(0)
}

#[test]
fn state_persists_across_processes() {
    let env = Env::new();
    let counter = env.deploy(&example("counter.so"), &[]);
    // A second process increments, a third increments again, a fourth reads the storage.
    let v = env.json(0, &["invoke", &counter, "--entry", "0"]);
    assert_eq!(v["return_data"], "0100000000000000");
    assert_eq!(v["height"], 2);
    assert_eq!(v["committed"], true);
    assert_eq!(v["events"][0]["id"], 1);
    assert_eq!(v["engine"]["name"], "tbpf");
    let v = env.json(0, &["invoke", &counter, "--entry", "0", "--from", "bob"]);
    assert_eq!(v["return_data"], "0200000000000000");
    assert_eq!(v["height"], 3);
    let s = env.json(0, &["storage", &counter]);
    assert_eq!(s["entries"][0]["key_text"], "count");
    assert_eq!(s["entries"][0]["value"], "0200000000000000");
    let text = env.ok(&["storage", &counter, "636f756e74"]);
    assert!(
        text.contains("\"count\"") && text.contains("(u64 2)"),
        "{text}"
    );
    let d = dump(&env.state());
    assert_eq!(
        (meta(&d, "height"), meta(&d, "txs"), meta(&d, "format")),
        (3, 3, 2)
    );
    // --height runs a transaction at that height without moving the chain back.
    let v = env.json(0, &["invoke", &counter, "--entry", "1", "--height", "2"]);
    assert_eq!(v["height"], 2);
    assert_eq!(meta(&dump(&env.state()), "height"), 3);
}

#[test]
fn text_output_aligns_fields_and_shows_logs_as_text() {
    let env = Env::new();
    let hello = env.deploy(&example("hello.wasm"), &[]);
    let out = env.ok(&["invoke", &hello, "--entry", "0"]);
    assert!(out.contains("\nresult      exit 0 (success)\n"), "{out}");
    assert!(out.contains("\nlogs        \"hello, tos\"\n"), "{out}");
    assert!(out.contains("\ngas used    "), "{out}");
    assert!(out.contains("of 10,000,000"), "{out}");
}

#[test]
fn every_engine_and_the_envelope_deploy_by_magic() {
    let env = Env::new();
    let v = env.json(0, &["deploy", &example("token.wasm")]);
    assert_eq!(
        (v["tag"].as_str(), v["tag_source"].as_str()),
        (Some("wasm"), Some("magic"))
    );
    assert_eq!(v["constructor"]["success"], true);
    let v = env.json(0, &["deploy", &example("token.so")]);
    assert_eq!(v["tag"], "tbpf");
    // An envelope: tag byte 2, u32 LE length, the code.
    let code = std::fs::read(example("hello.wasm")).unwrap();
    let mut envelope = vec![2];
    envelope.extend_from_slice(&(code.len() as u32).to_le_bytes());
    envelope.extend_from_slice(&code);
    std::fs::write(env.path("hello.env"), &envelope).unwrap();
    let v = env.json(0, &["deploy", "hello.env"]);
    assert_eq!(
        (v["tag"].as_str(), v["tag_source"].as_str()),
        (Some("wasm"), Some("envelope"))
    );
    assert_eq!(v["constructor"], Value::Null);
}

#[test]
fn user_errors_exit_1_with_one_line() {
    let env = Env::new();
    std::fs::write(env.path("garbage.bin"), b"this is not a module at all").unwrap();
    let e = env.user_error(&["deploy", "garbage.bin"]);
    assert!(e.contains("garbage.bin") && e.contains("--tag"), "{e}");
    assert!(
        !env.state().exists(),
        "a refused first deploy leaves no state file"
    );
    let e = env.user_error(&["deploy", "missing.so"]);
    assert!(e.contains("missing.so"), "{e}");
    // A module the engine refuses.
    std::fs::write(env.path("bad.so"), b"\x7fELF but not really").unwrap();
    let e = env.user_error(&["deploy", "bad.so"]);
    assert!(e.contains("tbpf module refused"), "{e}");
    let e = env.user_error(&["deploy", &example("hello.so"), "--tag", "wasm"]);
    assert!(e.contains("wasm module refused"), "{e}");
    let e = env.user_error(&["deploy", &example("hello.so"), "--tag", "evm"]);
    assert!(e.contains("unknown tag `evm`"), "{e}");

    let counter = env.deploy(&example("counter.wasm"), &[]);
    let before = dump(&env.state());
    let e = env.user_error(&["deploy", &example("counter.wasm")]);
    assert!(e.contains("already exists"), "{e}");
    let unknown = "ab".repeat(32);
    let e = env.user_error(&["invoke", &unknown, "--entry", "0"]);
    assert!(e.contains("no contract at abab"), "{e}");
    let e = env.user_error(&["invoke", "1234", "--entry", "0"]);
    assert!(e.contains("64 hex digits"), "{e}");
    let e = env.user_error(&["invoke", &counter, "--entry", "2", "--params-hex", "zz"]);
    assert!(e.contains("not valid hex"), "{e}");
    let e = env.user_error(&["invoke", &counter, "--entry", "0", "--gas", "999"]);
    assert!(e.contains("below the 1000 gas"), "{e}");
    let e = env.user_error(&[
        "invoke",
        &counter,
        "--entry",
        "0",
        "--params-file",
        "nope.bin",
    ]);
    assert!(e.contains("nope.bin"), "{e}");
    let e = env.user_error(&["invoke", &counter, "--entry", "0", "--deposit", "native"]);
    assert!(e.contains("ASSET:AMOUNT"), "{e}");
    let e = env.user_error(&["invoke", &counter, "--entry", "0", "--from", "0x12"]);
    assert!(e.contains("--from"), "{e}");
    let e = env.user_error(&["storage", &unknown]);
    assert!(e.contains("no contract"), "{e}");
    let e = env.user_error(&["storage", &counter, "xyz"]);
    assert!(e.contains("not valid hex"), "{e}");
    let e = env.user_error(&["balance", &counter, "12"]);
    assert!(e.contains("asset"), "{e}");
    let e = env.user_error(&["--network", "moonnet", "engines"]);
    assert!(e.contains("unknown network `moonnet`"), "{e}");
    assert_eq!(
        dump(&env.state()),
        before,
        "refused commands change nothing"
    );

    // Missing state, garbage state.
    let fresh = Env::new();
    let e = fresh.user_error(&["invoke", &unknown, "--entry", "0"]);
    assert!(e.contains("no state at"), "{e}");
    std::fs::write(fresh.path("junk.redb"), vec![0x42; 10_000]).unwrap();
    // A file that is no state is a damaged state: exit 2, one line, the ways out.
    let out = fresh.run(&["--state", "junk.redb", "storage", &unknown]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("junk.redb is damaged") && e.contains("state check"),
        "{e}"
    );
    // Bad usage is a user error too (clap's message starts with `error: `).
    let out = fresh.run(&["invoke", &unknown]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    let out = fresh.run(&["invoke", &unknown, "--entry", "1", "--hook", "1"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_schedule_refuses_deploys_it_does_not_activate() {
    let env = Env::new();
    let e = env.user_error(&["--network", "mainnet", "deploy", &example("hello.so")]);
    assert!(e.contains("from height 1500000"), "{e}");
    let e = env.user_error(&["--network", "mainnet", "deploy", &example("hello.wasm")]);
    assert!(e.contains("not activated on mainnet"), "{e}");
    env.deploy(
        &example("hello.so"),
        &["--network", "mainnet", "--height", "1500000"],
    );
    // A schedule file, on a fresh state.
    let env = Env::new();
    std::fs::write(
        env.path("late.toml"),
        "network = \"late\"\n[engines.wasm]\ndeploy_from = 50\nversions = [{ from = 0, version = 2 }]\n[features]\nabi_v1 = 0\n",
    )
    .unwrap();
    let e = env.user_error(&["--network", "late.toml", "deploy", &example("counter.wasm")]);
    assert!(e.contains("from height 50 on late"), "{e}");
    env.deploy(
        &example("counter.wasm"),
        &["--network", "late.toml", "--height", "50"],
    );
    std::fs::write(env.path("broken.toml"), "network = 5").unwrap();
    let e = env.user_error(&["--network", "broken.toml", "engines"]);
    assert!(e.contains("broken.toml"), "{e}");
}

#[test]
fn a_failing_contract_exits_3_and_changes_nothing() {
    let env = Env::new();
    let counter = env.deploy(&example("counter.so"), &[]);
    env.ok(&["invoke", &counter, "--entry", "0"]);
    let before = dump(&env.state());
    let v = env.json(
        3,
        &[
            "invoke",
            &counter,
            "--entry",
            "2",
            "--params-hex",
            "ffffffffffffffff",
        ],
    );
    assert_eq!(
        (v["success"].as_bool(), v["exit_code"].as_u64()),
        (Some(false), Some(2))
    );
    assert_eq!(v["committed"], false);
    let v = env.json(3, &["invoke", &counter, "--entry", "9"]);
    assert_eq!(v["status"], "trap");
    assert_eq!(v["trap"], "the module has no entry 9");
    assert_eq!(v["gas_used"], 1000);
    let v = env.json(3, &["invoke", &counter, "--entry", "0", "--gas", "1200"]);
    assert_eq!(v["trap"], "out of gas");
    assert_eq!(v["gas_used"], 1200);
    assert_eq!(dump(&env.state()), before);
    let text = env.expect(
        3,
        &["invoke", &counter, "--entry", "2", "--params-hex", "01"],
    );
    assert!(text.contains("exit 1 (contract failure"), "{text}");
}

#[test]
fn a_trap_after_writes_leaves_the_database_as_it_was() {
    let env = Env::new();
    let p = env.deploy(&probe(), &[]);
    env.ok(&["invoke", &p, "--entry", "2", "--deposit", "native:10"]);
    let before = dump(&env.state());
    // Entry 0 stores, logs and fires an event, then traps.
    let v = env.json(3, &["invoke", &p, "--entry", "0", "--deposit", "native:99"]);
    assert_eq!(v["trap"], "unreachable executed (abort)");
    assert_eq!(v["logs"][0]["text"], "value", "logs are kept for diagnosis");
    assert_eq!(
        v["events"],
        serde_json::json!([]),
        "events of a failed call never happened"
    );
    assert_eq!(dump(&env.state()), before);
    let s = env.json(0, &["storage", &p]);
    assert_eq!(s["entries"], serde_json::json!([]));
    let b = env.json(0, &["balance", &p, "native"]);
    assert_eq!(
        b["balances"][0]["amount"], 5,
        "the deposit of the failed call is not credited"
    );
}

/// A network whose gas schedule version 2 (from height 1) lifts the per-transaction cap to
/// 10^18, so a call can run for minutes; written into `env`, returned as `--network` args.
fn uncapped(env: &Env) -> [&'static str; 2] {
    std::fs::write(
        env.path("uncapped.toml"),
        r#"network = "uncapped"
[engines.tbpf]
deploy_from = 0
versions = [{ from = 0, version = 1 }]
[engines.wasm]
deploy_from = 0
versions = [{ from = 0, version = 2 }]
[features]
abi_v1 = 0
[[gas]]
from = 1
version = 2
set = { "tx.max_gas" = 1000000000000000000 }
"#,
    )
    .unwrap();
    ["--network", "uncapped.toml"]
}

#[test]
fn gas_above_the_cap_is_refused_naming_it() {
    let env = Env::new();
    let p = env.deploy(&probe(), &[]);
    let e = env.user_error(&["invoke", &p, "--entry", "3", "--gas", "100000001"]);
    assert!(e.contains("above the cap of 100000000 gas"), "{e}");
    let e = env.user_error(&[
        "deploy",
        &example("counter.so"),
        "--gas",
        "18446744073709551615",
    ]);
    assert!(e.contains("above the cap of 100000000 gas"), "{e}");
    // A network may raise it from a height, through its gas schedule.
    let net = uncapped(&env);
    env.ok(&[
        net[0],
        net[1],
        "invoke",
        &p,
        "--entry",
        "3",
        "--gas",
        "100000001",
    ]);
}

#[test]
fn a_killed_invoke_leaves_the_database_as_it_was() {
    let env = Env::new();
    let net = uncapped(&env);
    let p = env.deploy(&probe(), &net);
    env.ok(&[net[0], net[1], "invoke", &p, "--entry", "3"]);
    let before = dump(&env.state());
    // Entry 1 stores, then loops until its (huge) gas runs out: kill it mid-call.
    let mut child = env
        .command(&[
            net[0],
            net[1],
            "invoke",
            &p,
            "--entry",
            "1",
            "--gas",
            "1000000000000000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the call should still be running"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The next process opens the database (recovering it) and sees exactly the prior state.
    let s = env.json(0, &["storage", &p]);
    assert_eq!(s["entries"][0]["key_text"], "key");
    assert_eq!(dump(&env.state()), before);
    let v = env.json(0, &[net[0], net[1], "invoke", &p, "--entry", "3"]);
    assert_eq!(v["height"], 3, "the killed call did not consume a height");
}

#[test]
fn a_killed_compute_call_on_tbpf_leaves_the_database_as_it_was() {
    let env = Env::new();
    let net = uncapped(&env);
    let compute = env.deploy(&example("compute.so"), &net);
    let before = dump(&env.state());
    let start = Instant::now();
    let mut child = env
        .command(&[
            net[0],
            net[1],
            "invoke",
            &compute,
            "--entry",
            "0",
            "--params-hex",
            "ffffffff",
            "--gas",
            "1000000000000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "hash_chain(2^32-1) should still be running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    env.ok(&["engines"]);
    assert_eq!(dump(&env.state()), before);
}

#[test]
fn deposits_transfers_and_balances() {
    let env = Env::new();
    let p = env.deploy(&probe(), &[]);
    let v = env.json(
        0,
        &[
            "invoke",
            &p,
            "--entry",
            "2",
            "--deposit",
            "native:10",
            "--from",
            "carol",
        ],
    );
    assert_eq!(v["transfers"][0]["amount"], 5);
    assert_eq!(v["deposits"][0]["amount"], 10);
    let carol = v["caller"].as_str().unwrap().to_owned();
    assert_eq!(v["transfers"][0]["to"], carol.as_str());
    let b = env.json(0, &["balance", &p]);
    assert_eq!(b["balances"][0]["asset"], "00".repeat(32));
    assert_eq!(b["balances"][0]["amount"], 5);
    // Names and keys reach the same account.
    assert_eq!(
        env.json(0, &["balance", "carol"])["balances"][0]["amount"],
        5
    );
    assert_eq!(
        env.json(0, &["balance", &carol, "native"])["balances"][0]["amount"],
        5
    );
    let out = env.ok(&["balance", "dave"]);
    assert!(out.contains("none"), "{out}");
    // Without a deposit the contract's 5 go out, then it has nothing left to send.
    env.ok(&["invoke", &p, "--entry", "2"]);
    let v = env.json(3, &["invoke", &p, "--entry", "2"]);
    assert_eq!(v["exit_code"], 1);
}

#[test]
fn hooks_are_called_by_number() {
    let env = Env::new();
    let p = env.deploy(&probe(), &[]);
    let v = env.json(0, &["invoke", &p, "--hook", "1"]);
    assert_eq!(v["call"], serde_json::json!({ "kind": "hook", "id": 1 }));
    assert_eq!(v["logs"][0]["text"], "hook one");
    let v = env.json(3, &["invoke", &p, "--hook", "2"]);
    assert_eq!(v["trap"], "the module has no hook 2");
}

#[test]
fn run_uses_a_throwaway_state() {
    let env = Env::new();
    let v = env.json(0, &["run", &example("counter.so"), "--entry", "0"]);
    assert_eq!(v["deploy"]["deployed"], true);
    assert_eq!(v["invoke"]["return_data"], "0100000000000000");
    assert_eq!(v["invoke"]["height"], 2);
    assert!(!env.state().exists(), "run must not touch the local state");
    let v = env.json(
        3,
        &[
            "run",
            &example("counter.wasm"),
            "--entry",
            "2",
            "--params-hex",
            "00",
        ],
    );
    assert_eq!(v["invoke"]["exit_code"], 1);
    let text = env.ok(&["run", &example("hello.so"), "--entry", "0"]);
    assert!(
        text.contains("deployed") && text.contains("\"hello, tos\""),
        "{text}"
    );
}

#[test]
fn interpreter_and_jit_agree() {
    let env = Env::new();
    let mut results = Vec::new();
    for mode in ["--interpreter", "--jit"] {
        for (entry, n) in [("0", "e8030000"), ("1", "10270000")] {
            let v = env.json(
                0,
                &[
                    "run",
                    &example("compute.so"),
                    mode,
                    "--entry",
                    entry,
                    "--params-hex",
                    n,
                ],
            );
            results.push((
                entry,
                v["invoke"]["gas_used"].clone(),
                v["invoke"]["return_data"].clone(),
            ));
        }
    }
    assert_eq!(results[0..2], results[2..4]);
    // sieve(10000) counts 1229 primes.
    assert_eq!(results[1].2, "cd04000000000000");
    let out = env.run(&[
        "run",
        &example("compute.so"),
        "--jit",
        "--interpreter",
        "--entry",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn inspect_describes_modules_and_refusals() {
    let env = Env::new();
    let v = env.json(0, &["inspect", &example("counter.so"), "--disasm"]);
    assert_eq!(v["tag"], "tbpf");
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["engine"]["name"], "tbpf");
    assert_eq!(v["entries"], serde_json::json!([0, 1, 2]));
    assert_eq!(v["hooks"], serde_json::json!([0]));
    let imports: Vec<&str> = v["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(imports.contains(&"tos_storage_store"), "{imports:?}");
    assert!(v["disassembly"].as_str().is_some_and(|d| !d.is_empty()));
    let code = std::fs::read(example("counter.so")).unwrap();
    assert_eq!(v["code_hash"], blake3::hash(&code).to_hex().as_str());
    assert_eq!(v["code_size"], code.len());
    let text = env.ok(&["inspect", &probe()]);
    assert!(text.contains("entries     0, 1, 2, 3"), "{text}");
    assert!(text.contains("hooks       1"), "{text}");
    assert!(text.contains("verified    ok"), "{text}");
    // A module the engine refuses: the verdict and its reason, exit 3.
    std::fs::write(env.path("bad.wasm"), b"\0asm\x01\0\0\0\x01\x02").unwrap();
    let v = env.json(3, &["inspect", "bad.wasm"]);
    assert_eq!(v["verdict"], "refused");
    assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(v["entries"], Value::Null);
    // Mainnet serves TBPF from 1,500,000 only: at height 5 there is no engine for it.
    let v = env.json(
        3,
        &[
            "--network",
            "mainnet",
            "inspect",
            &example("hello.so"),
            "--height",
            "5",
        ],
    );
    assert_eq!(v["verdict"], "no engine");
    assert_eq!(v["deploy_allowed"], false);
    assert!(v["deploy_reason"].as_str().unwrap().contains("1500000"));
}

#[test]
fn engines_lists_builtin_and_plugin_engines() {
    let env = Env::new();
    let v = env.json(0, &["engines"]);
    assert_eq!(v["network"], "devnet");
    assert_eq!(v["height"], 1);
    let engines = v["engines"].as_array().unwrap();
    assert!(
        engines
            .iter()
            .any(|e| e["name"] == "tbpf" && e["origin"] == "built-in"),
        "{v}"
    );
    assert!(
        engines
            .iter()
            .any(|e| e["name"] == "wasm" && e["origin"] == "plug-in"),
        "{v}"
    );
    assert_eq!(v["syscalls"].as_array().unwrap().len(), 25);
    assert_eq!(v["features"], serde_json::json!(["abi_v1", "abi_v2"]));
    assert_eq!(v["gas_schedule_version"], 1);
    assert_eq!(v["max_tx_gas"], 100_000_000);
    assert_eq!(v["table_digest"].as_str().unwrap().len(), 64);
    // A schedule that re-prices a syscall from height 7: version 2 and another digest there.
    std::fs::write(
        env.path("repriced.toml"),
        "network = \"r\"\n[features]\nabi_v1 = 0\n[[gas]]\nfrom = 7\nversion = 2\nset = { \"syscall.tos_log.base\" = 150 }\n",
    )
    .unwrap();
    let at = |h: &str| env.json(0, &["--network", "repriced.toml", "engines", "--height", h]);
    let (six, seven) = (at("6"), at("7"));
    assert_eq!(
        (
            six["gas_schedule_version"].clone(),
            seven["gas_schedule_version"].clone()
        ),
        (1.into(), 2.into())
    );
    assert_ne!(six["table_digest"], seven["table_digest"]);
    assert_eq!(at("5")["table_digest"], six["table_digest"]);
    assert_eq!(at("9")["table_digest"], seven["table_digest"]);
    let text = env.ok(&["--network", "repriced.toml", "engines", "--height", "7"]);
    assert!(
        text.contains("version 2 (in force from height 7)"),
        "{text}"
    );
    let v = env.json(0, &["--network", "mainnet", "engines", "--height", "10"]);
    let tbpf = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "tbpf")
        .unwrap()
        .clone();
    assert_eq!(tbpf["deploy_allowed"], false);
    assert!(tbpf["deploy_reason"].as_str().unwrap().contains("1500000"));
    // With a state, the default height is the next block.
    env.deploy(&example("hello.so"), &[]);
    assert_eq!(env.json(0, &["engines"])["height"], 2);
    let text = env.ok(&["engines"]);
    assert!(
        text.contains("plug-in") && text.contains("deploys allowed"),
        "{text}"
    );
}

#[test]
fn link_builds_a_module_that_deploys() {
    let env = Env::new();
    let fixtures = workspace().join("tbpf-link/tests/fixtures");
    let b = fixtures.join("multi_b.o").display().to_string();
    let v = env.json(0, &["link", "-o", "linked.so", &b]);
    assert!(v["size"].as_u64().unwrap() > 0);
    assert_eq!(v["generated_entrypoint"], true);
    assert_eq!(v["exports"][0]["name"], "entry_2");
    let linked = std::fs::read(env.path("linked.so")).unwrap();
    assert!(linked.starts_with(b"\x7fELF"));
    let v = env.json(0, &["inspect", "linked.so"]);
    assert_eq!(v["verdict"], "ok", "{v}");
    assert_eq!(v["entries"], serde_json::json!([2]));
    env.deploy("linked.so", &[]);
    // Objects calling functions outside the ABI link only with --any-syscall.
    let a = fixtures.join("multi_a.o").display().to_string();
    let e = env.user_error(&["link", "-o", "ab.so", &a, &b]);
    assert!(e.contains("test_mul"), "{e}");
    env.ok(&["link", "-o", "ab.so", &a, &b, "--any-syscall"]);
    let bad = fixtures.join("unknown_syscall.o").display().to_string();
    let e = env.user_error(&["link", "-o", "bad.so", &bad]);
    assert!(e.contains("link failed"), "{e}");
    let e = env.user_error(&["link", "-o", "x.so", "missing.o"]);
    assert!(e.contains("missing.o"), "{e}");
}

#[test]
fn asm_and_disasm_round_trip() {
    let env = Env::new();
    let src = ".chunk main args=1 locals=1\n    const b\"hello, tos\"\n    syscall tos_log\n    pop\n    imm 0\n    exit\n.entry 0 main\n";
    std::fs::write(env.path("hello.tasm"), src).unwrap();
    let v = env.json(0, &["asm", "hello.tasm", "-o", "hello.bin"]);
    let bytes = std::fs::read(env.path("hello.bin")).unwrap();
    assert!(bytes.starts_with(b"TOSL"));
    assert_eq!(v["size"], bytes.len());
    let text = env.ok(&["disasm", "hello.bin"]);
    assert!(
        text.contains("tos_log") && text.contains("hello, tos"),
        "{text}"
    );
    // The disassembly assembles back to the same module.
    std::fs::write(env.path("again.tasm"), &text).unwrap();
    env.ok(&["asm", "again.tasm", "-o", "again.bin"]);
    assert_eq!(std::fs::read(env.path("again.bin")).unwrap(), bytes);
    std::fs::write(env.path("bad.tasm"), "frobnicate 7\n").unwrap();
    let e = env.user_error(&["asm", "bad.tasm", "-o", "x.bin"]);
    assert!(e.contains("bad.tasm"), "{e}");
    let e = env.user_error(&["disasm", "hello.tasm"]);
    assert!(e.contains("not a legacy module"), "{e}");
}

#[test]
fn demo_runs_every_example_as_specified() {
    let env = Env::new();
    let out = env.ok(&["--json", "demo"]);
    let objects: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<&Value> = objects.iter().filter(|o| o.get("step").is_some()).collect();
    assert!(steps.iter().all(|s| s["ok"] == true), "{out}");
    for (contract, engine) in [
        ("hello", "tbpf"),
        ("counter", "wasm"),
        ("token", "tbpf"),
        ("compute", "tbpf"),
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s["contract_name"] == contract && s["engine"] == engine),
            "{contract} on {engine} missing: {out}"
        );
    }
    let summary = objects.last().unwrap();
    assert_eq!(summary["unexpected"], 0);
    assert!(summary["calls"].as_u64().unwrap() >= 30);
    assert!(!env.state().exists(), "the demo runs on a throwaway state");
    let text = env.ok(&["demo"]);
    assert!(
        text.contains("bob sends 10000 (too much)") && text.contains("exit 3"),
        "{text}"
    );
}

/// A legacy example module of engine-legacy/examples.
fn legacy_example(name: &str) -> String {
    workspace()
        .join("engine-legacy/examples")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn legacy_contracts_deploy_by_magic_and_keep_their_state_across_processes() {
    let env = Env::new();
    let v = env.json(0, &["deploy", &legacy_example("counter.tosl")]);
    assert_eq!(
        (v["tag"].as_str(), v["tag_source"].as_str()),
        (Some("legacy"), Some("magic"))
    );
    let addr = v["address"].as_str().unwrap().to_owned();
    for n in 1..=2u64 {
        let v = env.json(0, &["invoke", &addr, "--entry", "0"]);
        assert_eq!(v["return_data"], hex::encode(n.to_le_bytes()), "{v}");
    }
    let v = env.json(0, &["storage", &addr, &hex::encode("count")]);
    assert_eq!(v["value"], hex::encode(2u64.to_le_bytes()), "{v}");
    // The assembly source deploys too (assembled on the fly), at another address.
    let v = env.json(0, &["deploy", &legacy_example("token.tasm")]);
    assert_eq!(v["tag"], "legacy");
}

#[test]
fn bench_measures_every_engine_in_one_run() {
    let env = Env::new();
    let out = env.ok(&["--json", "bench", "--iterations", "3", "--warmup", "1"]);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |case: &str, engine: &str| {
        rows.iter().any(|r| {
            r["case"] == case && r["engine"] == engine && r["median_ns"].as_u64().unwrap() > 0
        })
    };
    for engine in ["tbpf-interp", "legacy", "wasm"] {
        assert!(has("counter.increment", engine), "{engine}: {out}");
        assert!(has("token.transfer", engine), "{engine}: {out}");
        assert!(has("prepare counter", engine), "{engine}: {out}");
    }
    assert!(has("compute.hash_chain(10000)", "tbpf-interp"), "{out}");
    // Gas is deterministic: the same contract call costs the same in both TBPF modes.
    let gas = |engine: &str| {
        rows.iter()
            .find(|r| r["case"] == "compute.hash_chain(10000)" && r["engine"] == engine)
            .map(|r| r["gas"].as_u64().unwrap())
    };
    assert_eq!(gas("tbpf-interp"), Some(201_096));
    if cfg!(target_arch = "x86_64") {
        assert_eq!(gas("tbpf-jit"), Some(201_096));
    }
    // In each case the fastest engine has ratio 1.
    for case in ["counter.increment", "token.transfer"] {
        let best = rows
            .iter()
            .filter(|r| r["case"] == case)
            .map(|r| r["ratio_to_best"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!((best - 1.0).abs() < 1e-9, "{case}: {best}");
    }
    // A module of one's own, and the errors.
    let out = env.ok(&[
        "bench",
        &example("counter.so"),
        "--entry",
        "1",
        "--iterations",
        "2",
    ]);
    assert!(
        out.contains("entry 1") && out.contains("tbpf-interp"),
        "{out}"
    );
    env.user_error(&["bench", &example("counter.so")]);
    env.user_error(&["bench", "--iterations", "0"]);
}

/// ABI v2: a router on wasm deposits into a vault on TBPF; `invoke` shows the call tree in
/// text and JSON, and the block's timestamp follows `--timestamp`.
#[test]
fn invoke_shows_the_call_tree_of_nested_calls() {
    let env = Env::new();
    let vault = env.json(0, &["deploy", &example("vault.so")])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let router = env.json(0, &["deploy", &example("router.wasm")])["address"]
        .as_str()
        .unwrap()
        .to_owned();
    // callee ‖ entry 0 ‖ deposit 30 ‖ gas 0 (all)
    let params = format!("{vault}0000{}{}", "1e00000000000000", "0000000000000000");
    let text = env.ok(&[
        "invoke",
        &router,
        "--entry",
        "0",
        "--params-hex",
        &params,
        "--deposit",
        "native:50",
        "--timestamp",
        "1800000000",
    ]);
    assert!(
        text.contains("call tree   2 frames, in execution order"),
        "{text}"
    );
    assert!(
        text.contains(&format!("    tbpf {} entry 0: exit 0", &vault[..8])),
        "{text}"
    );
    assert!(text.contains("deposit 30 native"), "{text}");
    assert!(text.contains("time 1800000000"), "{text}");
    let j = env.json(
        0,
        &[
            "invoke",
            &router,
            "--entry",
            "0",
            "--params-hex",
            &params,
            "--deposit",
            "native:50",
        ],
    );
    let callee = &j["frame"]["trace"][0];
    assert_eq!(callee["kind"], "call");
    assert_eq!(callee["frame"]["contract"], vault.as_str());
    assert_eq!(callee["frame"]["engine"]["name"], "tbpf");
    assert_eq!(callee["frame"]["caller"], router.as_str());
    assert_eq!(callee["frame"]["deposits"][0]["amount"], 30);
    assert_eq!(callee["frame"]["result"], 0);
    assert_eq!(callee["frame"]["discarded"], false);
    assert_eq!(
        j["timestamp"],
        1_767_225_600u64 + 5 * j["height"].as_u64().unwrap()
    );
    // An entry the vault lacks: refused, shown with the reason; the router exits 1.
    let refused = format!("{vault}0900{}{}", "1e00000000000000", "0000000000000000");
    let text = env.expect(
        3,
        &[
            "invoke",
            &router,
            "--entry",
            "0",
            "--params-hex",
            &refused,
            "--deposit",
            "native:50",
        ],
    );
    assert!(
        text.contains(&format!(
            "refused {} entry 9: the callee has no entry 9",
            &vault[..8]
        )),
        "{text}"
    );
}

/// `--profile`: the gas each syscall charged, in text and JSON; a routed call's `tos_call`
/// carries its callee's gas.
#[test]
fn profile_shows_the_gas_of_each_syscall() {
    let env = Env::new();
    let counter = env.deploy(&example("counter.so"), &[]);
    let text = env.ok(&["invoke", &counter, "--entry", "0", "--profile"]);
    assert!(text.contains("profile     tos_storage_store"), "{text}");
    assert!(text.contains("tos_fire_event"), "{text}");
    let j = env.json(0, &["call", &counter, "--entry", "0", "--profile"]);
    let rows = j["profile"]["syscalls"].as_array().unwrap();
    let store = rows
        .iter()
        .find(|r| r["name"] == "tos_storage_store")
        .unwrap();
    assert_eq!(store["calls"], 1);
    // 1,000 + 5 per byte of key ("count", 5) and value (8).
    assert_eq!(store["gas"], 1_000 + 5 * 13);
    let total: u64 = rows.iter().map(|r| r["gas"].as_u64().unwrap()).sum();
    assert!(total < j["gas_used"].as_u64().unwrap());
    // Without the flag, no profile.
    let j = env.json(0, &["call", &counter, "--entry", "0"]);
    assert!(j.get("profile").is_none());
}

/// `--trace`: TBPF instructions with the ELF's function names, legacy opcodes, wasm function
/// entries and exits, every engine's syscalls, the gas of each function, bounded and saying when it was cut — and the same
/// result and gas as without a trace.
#[test]
fn trace_shows_instructions_opcodes_and_syscalls_without_changing_gas() {
    let env = Env::new();
    let legacy = workspace()
        .join("engine-legacy/examples/counter.tosl")
        .display()
        .to_string();
    for (file, mode) in [
        (example("counter.so"), "--interpreter"),
        (example("counter.so"), "--jit"),
        (legacy, "--interpreter"),
        (example("counter.wasm"), "--interpreter"),
    ] {
        let plain = env.json(0, &["run", &file, "--entry", "0", mode]);
        let traced = env.json(0, &["run", &file, "--entry", "0", mode, "--trace"]);
        let (plain, traced) = (&plain["invoke"], &traced["invoke"]);
        assert_eq!(plain["gas_used"], traced["gas_used"], "{file} {mode}");
        assert_eq!(plain["return_data"], traced["return_data"], "{file} {mode}");
        assert!(plain.get("trace").is_none());
        let t = &traced["trace"];
        let lines: Vec<&str> = t["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("syscall tos_storage_store(")),
            "{file}: {lines:?}"
        );
        if file.ends_with(".so") {
            assert!(lines.iter().any(|l| l.contains("entry_0+0:")), "{lines:?}");
            let fns = t["functions"].as_array().unwrap();
            assert!(fns.iter().any(|f| f["name"] == "entry_0"), "{fns:?}");
        }
        if file.ends_with(".tosl") {
            assert!(
                lines.iter().any(|l| l.starts_with("legacy chunk ")),
                "{lines:?}"
            );
        }
        if file.ends_with(".wasm") {
            // Function entries and exits, named from the module's name section.
            assert_eq!(lines.first(), Some(&"wasm -> entry_0"), "{lines:?}");
            assert!(
                lines.last().unwrap().starts_with("wasm <- entry_0: "),
                "{lines:?}"
            );
            let fns = t["functions"].as_array().unwrap();
            assert!(fns.iter().any(|f| f["name"] == "entry_0"), "{fns:?}");
        }
        assert_eq!(t["cut"], false);
    }
    // Bounded: the trace says it was cut.
    let text = env.ok(&[
        "run",
        &example("counter.so"),
        "--entry",
        "0",
        "--trace",
        "--trace-lines",
        "3",
    ]);
    assert!(text.contains("trace       3 lines"), "{text}");
    assert!(text.contains("... cut at 3 lines"), "{text}");
    assert!(text.contains("gas by fn   entry_0"), "{text}");
}

/// `inspect --disasm` shows wasm code as text, and TBPF code with the ELF's function names.
#[test]
fn disassembly_shows_wasm_code_and_tbpf_symbols() {
    let env = Env::new();
    let wasm = env.ok(&["inspect", &example("counter.wasm"), "--disasm"]);
    assert!(wasm.contains("(module"), "{wasm}");
    assert!(wasm.contains("(export \"entry_0\""), "{wasm}");
    let tbpf = env.ok(&["inspect", &example("counter.so"), "--disasm"]);
    assert!(
        tbpf.contains("\nentry_0:\n") || tbpf.contains("  entry_0:"),
        "{tbpf}"
    );
}
