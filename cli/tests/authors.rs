//! `tosvm` for contract authors (issue 14): dry-run calls, typed arguments and decoding,
//! accounts and funding, the contract list, storage keys, heights and rewind, state export
//! and import, read-only commands beside a writer, and every message that used to mislead.
//! Each test runs the built binary on real redb files in its own temporary directory.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

mod common;

use common::*;

fn key(name: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"tosvm/account/v1");
    h.update(name.as_bytes());
    h.finalize().to_hex().to_string()
}

#[test]
fn call_runs_on_the_state_and_commits_nothing() {
    let env = Env::new();
    let vault = env.deploy(&example("vault.wasm"), &[]);
    let router = env.deploy(&example("router.so"), &[]);
    let before = env.content();
    let h = env.height();
    // A routed deposit: router (TBPF) -> vault (wasm), with the call tree.
    let args = [
        "call",
        &router,
        "--entry",
        "0",
        "--args",
        &format!("hex:{vault}"),
        "u16:0",
        "u64:30",
        "u64:0",
        "--deposit",
        "native:50",
        "--returns",
        "u64",
    ];
    let v = env.json(0, &args);
    assert_eq!(v["command"], "call");
    assert_eq!(v["committed"], false);
    assert_eq!(v["success"], true);
    assert_eq!(
        v["height"],
        h + 1,
        "it runs in the block a transaction would"
    );
    assert_eq!(v["chain_height"], h);
    assert_eq!(v["return_decoded"][0]["value"], 30);
    let callee = &v["frame"]["trace"][0];
    assert_eq!(callee["kind"], "call");
    assert_eq!(callee["frame"]["engine"]["name"], "wasm");
    assert_eq!(callee["frame"]["contract"], vault);
    let writes = v["would_write"]["storage"].as_array().unwrap();
    assert_eq!(writes.len(), 1, "the vault's record of the router: {v}");
    assert_eq!(writes[0]["value"], "1e00000000000000");
    // Nothing moved: same content, same height.
    assert_eq!(env.content(), before);
    assert_eq!(env.height(), h);
    // The text form shows the tree and says nothing was committed.
    let text = env.ok(&args);
    assert!(text.contains("call tree   2 frames"), "{text}");
    assert!(text.contains("decoded     u64:30"), "{text}");
    assert!(
        text.contains(&format!(
            "committed   no (dry run: nothing was written; the chain stays at height {h})"
        )),
        "{text}"
    );
    // The same call as an invoke commits and moves the height.
    let mut inv = args.to_vec();
    inv[0] = "invoke";
    env.json(0, &inv);
    assert_eq!(env.height(), h + 1);
    assert_ne!(env.content(), before);
    // A failing dry run exits 3 like an invoke.
    let v = env.json(3, &["call", &router, "--entry", "0", "--args", "hex:00"]);
    assert_eq!(v["exit_code"], 2);
}

#[test]
fn typed_arguments_pack_little_endian_and_decode() {
    let env = Env::new();
    let token = env.deploy(&example("token.wasm"), &[]);
    let mint = env.json(
        0,
        &[
            "invoke",
            &token,
            "--entry",
            "0",
            "--args",
            "addr:bob",
            "u64:100",
            "--events-as",
            "addr,u64",
        ],
    );
    assert_eq!(
        mint["params"],
        format!("{}{}", key("bob"), "6400000000000000")
    );
    let decoded = &mint["events"][0]["decoded"];
    assert_eq!(
        decoded[0],
        serde_json::json!({"type": "addr", "value": key("bob")})
    );
    assert_eq!(decoded[1], serde_json::json!({"type": "u64", "value": 100}));
    // --args-json packs the same bytes; u64 beyond 2^53 as strings.
    let v = env.json(
        0,
        &[
            "call",
            &token,
            "--entry",
            "2",
            "--args-json",
            r#"[{"addr": "bob"}]"#,
            "--returns",
            "u64",
        ],
    );
    assert_eq!(v["params"], key("bob"));
    assert_eq!(v["return_decoded"][0]["value"], 100);
    let v = env.json(0, &["call", &token, "--entry", "3", "--returns", "u32"]);
    assert!(
        v["return_decoded"]["error"]
            .as_str()
            .unwrap()
            .contains("4 bytes are left over"),
        "{v}"
    );
    let text = env.ok(&["call", &token, "--entry", "3", "--returns", "u64"]);
    assert!(text.contains("decoded     u64:100"), "{text}");
    // Malformed tokens are named.
    let e = env.error(1, &["call", &token, "--entry", "2", "--args", "u8:300"]);
    assert!(
        e.contains("`u8:300`") && e.contains("does not fit in 8 bits"),
        "{e}"
    );
    let e = env.error(1, &["call", &token, "--entry", "2", "--args", "bob"]);
    assert!(e.contains("`bob`") && e.contains("TYPE:VALUE"), "{e}");
    let e = env.error(1, &["call", &token, "--entry", "2", "--args", "asset:GOLD"]);
    assert!(e.contains("no asset named `GOLD`"), "{e}");
    let e = env.error(1, &["call", &token, "--entry", "3", "--returns", "f64"]);
    assert!(e.contains("unknown type `f64`"), "{e}");
    let e = env.error(1, &["call", &token, "--entry", "2", "--args-json", "{}"]);
    assert!(e.contains("must be an array"), "{e}");
}

#[test]
fn accounts_funding_contracts_and_storage_keys() {
    let env = Env::new();
    // The key of a name, without any state.
    assert_eq!(env.ok(&["account", "bob"]).trim(), key("bob"));
    assert!(!env.path(".tosvm/state.redb").exists());
    let v = env.json(0, &["account", "bob"]);
    assert_eq!(v["key"], key("bob"));
    // Funding creates the state and credits without moving the height.
    let v = env.json(0, &["fund", "bob", "1000"]);
    assert_eq!(
        (v["balance"].as_u64(), v["account"].as_str()),
        (Some(1000), Some(key("bob").as_str()))
    );
    env.json(0, &["fund", "bob", "5", "--asset", "native"]);
    let b = env.json(0, &["balance", "bob"]);
    assert_eq!(b["balances"][0]["amount"], 1005);
    assert_eq!(env.height(), 0);
    let e = env.error(1, &["fund", "bob", "18446744073709551615"]);
    assert!(e.contains("overflow"), "{e}");
    // The contract list.
    let token = env.deploy(&example("token.so"), &[]);
    let counter = env.deploy(&example("counter.wasm"), &["--from", "carol"]);
    let list = env.json(0, &["contracts"]);
    let rows = list["contracts"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let row = rows.iter().find(|r| r["address"] == token).unwrap();
    assert_eq!(row["tag"], "tbpf");
    assert_eq!(row["deployed_at"], 1);
    let size = std::fs::metadata(example("token.so")).unwrap().len();
    assert_eq!(row["code_size"], size);
    let code = std::fs::read(example("token.so")).unwrap();
    assert_eq!(row["code_hash"], blake3::hash(&code).to_hex().to_string());
    let row = rows.iter().find(|r| r["address"] == counter).unwrap();
    assert_eq!(
        (row["tag"].as_str(), row["deployer"].as_str()),
        (Some("wasm"), Some(key("carol").as_str()))
    );
    let text = env.ok(&["contracts"]);
    assert!(text.contains(&token) && text.contains("tbpf"), "{text}");
    // Storage keys: hex plus an escaped rendering that hides no byte; a prefix filter.
    env.ok(&[
        "invoke", &token, "--entry", "0", "--args", "addr:bob", "u64:7",
    ]);
    let text = env.ok(&["storage", &token, "--prefix", "str:bal"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "only the balance key: {text}");
    assert!(
        lines[0].starts_with(&format!("0x62616c{}", key("bob"))),
        "{text}"
    );
    assert!(lines[0].contains("\"bal"), "{text}");
    let v = env.json(0, &["storage", &token, "--prefix", "str:owner"]);
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert_eq!(v["entries"][0]["key_escaped"], "\"owner\"");
    let text = env.ok(&["storage", &token, "--prefix", "str:zz"]);
    assert!(text.contains("no key starts with \"zz\""), "{text}");
}

#[test]
fn heights_leave_room_and_rewind_moves_back() {
    let env = Env::new();
    let c = env.deploy(&example("counter.so"), &[]);
    let e = env.error(
        1,
        &[
            "invoke",
            &c,
            "--entry",
            "0",
            "--height",
            "18446744073709551615",
        ],
    );
    assert!(
        e.contains("--height 18446744073709551615 leaves no room for another block")
            && e.contains("18446744073709551614"),
        "{e}"
    );
    env.json(
        0,
        &[
            "invoke",
            &c,
            "--entry",
            "0",
            "--height",
            "18446744073709551614",
        ],
    );
    let e = env.error(1, &["invoke", &c, "--entry", "0"]);
    assert!(
        e.contains("last usable block") && e.contains("tosvm state rewind"),
        "{e}"
    );
    let v = env.json(0, &["state", "rewind", "5"]);
    assert_eq!(
        (
            v["previous_height"].as_u64(),
            v["height"].as_u64(),
            v["undone"].as_u64()
        ),
        (Some(18446744073709551614), Some(5), Some(1)),
        "the call that moved the chain past 5 is undone"
    );
    let s = env.json(0, &["storage", &c, "636f756e74"]);
    assert_eq!(
        s["value"], "0000000000000000",
        "count as it was at height 5"
    );
    let v = env.json(0, &["invoke", &c, "--entry", "0"]);
    assert_eq!(v["height"], 6);
    assert_eq!(v["return_data"], "0100000000000000");
    // Rewinding to 0 undoes everything, funds included.
    env.ok(&["fund", "bob", "9"]);
    let v = env.json(0, &["state", "rewind", "0"]);
    assert_eq!(v["undone"], 3, "the deploy, the call at 6, the fund");
    assert_eq!(
        env.json(0, &["contracts"])["contracts"],
        serde_json::json!([])
    );
    assert_eq!(
        env.json(0, &["balance", "bob"])["balances"],
        serde_json::json!([])
    );
    env.json(0, &["state", "check"]);
    let e = env.error(1, &["state", "rewind", "100"]);
    assert!(e.contains("only moves back"), "{e}");
    env.deploy(&example("counter.so"), &[]);
}

#[test]
fn export_and_import_round_trip_and_refuse_damage() {
    let env = Env::new();
    let t = env.deploy(&example("token.so"), &[]);
    env.ok(&["invoke", &t, "--entry", "0", "--args", "addr:bob", "u64:9"]);
    env.ok(&["fund", "dave", "3"]);
    env.ok(&["state", "export", "saved.json"]);
    let saved = std::fs::read_to_string(env.path("saved.json")).unwrap();
    let doc: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(
        (doc["format"].as_str(), doc["version"].as_u64()),
        (Some("tosvm-state"), Some(1))
    );
    assert_eq!(env.content(), saved, "deterministic");
    // Import into a new state: the same content, the same digest, calls work.
    env.ok(&["--state", "copy.redb", "state", "import", "saved.json"]);
    assert_eq!(
        env.ok(&["--state", "copy.redb", "state", "export", "-"]),
        saved
    );
    let v = env.json(
        0,
        &[
            "--state",
            "copy.redb",
            "call",
            &t,
            "--entry",
            "2",
            "--args",
            "addr:bob",
            "--returns",
            "u64",
        ],
    );
    assert_eq!(v["return_decoded"][0]["value"], 9);
    // An existing state is replaced only with --force.
    let e = env.error(1, &["state", "import", "saved.json"]);
    assert!(e.contains("--force"), "{e}");
    env.ok(&["invoke", &t, "--entry", "0", "--args", "addr:bob", "u64:1"]);
    env.ok(&["state", "import", "saved.json", "--force"]);
    assert_eq!(env.content(), saved, "restored");
    // A damaged export is refused, naming the problem; the state is untouched.
    std::fs::write(
        env.path("bad.json"),
        saved.replacen("\"amount\":3", "\"amount\":4", 1),
    )
    .unwrap();
    let e = env.error(1, &["state", "import", "bad.json", "--force"]);
    assert!(e.contains("does not match its \"digest\""), "{e}");
    std::fs::write(env.path("bad.json"), &saved[..saved.len() / 2]).unwrap();
    let e = env.error(1, &["state", "import", "bad.json", "--force"]);
    assert!(e.contains("bad.json is not a usable export"), "{e}");
    assert_eq!(env.content(), saved);
}

#[test]
fn misleading_messages_are_fixed() {
    let env = Env::new();
    let c = env.deploy(&example("counter.so"), &[]);
    // --network mainnet on a devnet state names the network to pass.
    let e = env.error(1, &["--network", "mainnet", "invoke", &c, "--entry", "0"]);
    assert!(
        e.contains("made on network `devnet`") && e.contains("pass --network devnet"),
        "{e}"
    );
    assert!(!e.trim_end().ends_with("no engine for tbpf"), "{e}");
    // An account name where an address goes.
    let e = env.error(1, &["invoke", "alice", "--entry", "0"]);
    assert!(
        e.contains("`alice` is not a contract address") && e.contains("tosvm account alice"),
        "{e}"
    );
    assert!(!e.contains("Odd number"), "{e}");
    // A relocatable object: link it first.
    let mut obj = vec![0u8; 64];
    obj[..4].copy_from_slice(b"\x7fELF");
    obj[4] = 2;
    obj[5] = 1;
    obj[16] = 1; // ET_REL
    obj[18] = 247; // EM_BPF
    std::fs::write(env.path("a.o"), &obj).unwrap();
    let e = env.error(1, &["deploy", "a.o"]);
    assert!(
        e.contains("relocatable object") && e.contains("tosvm link -o module.so a.o"),
        "{e}"
    );
    // A damaged envelope: no advice to pass --tag.
    let mut env_bytes = vec![1u8];
    env_bytes.extend_from_slice(&100u32.to_le_bytes());
    env_bytes.extend_from_slice(&[0; 10]);
    std::fs::write(env.path("m.env"), &env_bytes).unwrap();
    let e = env.error(1, &["deploy", "m.env"]);
    assert!(
        e.contains("starts like a deploy envelope of a tbpf module") && e.contains("damaged"),
        "{e}"
    );
    assert!(!e.contains("--tag"), "{e}");
    // A module of exactly 1 MiB deploys (the compressed envelope carries it); one byte more
    // is refused, naming the limit.
    let wasm = std::fs::read(probe()).unwrap();
    let exact = pad_wasm(&wasm, 1 << 20);
    assert_eq!(exact.len(), 1 << 20);
    std::fs::write(env.path("big.wasm"), &exact).unwrap();
    // (wasm deploys cost more than devnet's cap allows for 1 MiB: a schedule without one)
    let net = uncapped(&env);
    let gas = ["--gas", "2000000000"];
    let v = env.json(0, &[net[0], net[1], "deploy", "big.wasm", gas[0], gas[1]]);
    assert_eq!(v["code_size"], 1 << 20);
    std::fs::write(env.path("bigger.wasm"), pad_wasm(&wasm, (1 << 20) + 1)).unwrap();
    let e = env.error(
        1,
        &[net[0], net[1], "deploy", "bigger.wasm", gas[0], gas[1]],
    );
    assert!(e.contains("over the limit of 1048576 bytes"), "{e}");
}

/// `wasm` with one custom section appended so the module is exactly `size` bytes.
fn pad_wasm(wasm: &[u8], size: usize) -> Vec<u8> {
    let name = b"pad";
    // section = 0x00, LEB128 length (fixed 5 bytes), name length (1), name, payload
    let overhead = 1 + 5 + 1 + name.len();
    let payload = size - wasm.len() - overhead;
    let len = (1 + name.len() + payload) as u32;
    let mut out = wasm.to_vec();
    out.push(0);
    let mut l = len;
    for i in 0..5 {
        let mut b = (l & 0x7f) as u8;
        l >>= 7;
        if i < 4 {
            b |= 0x80;
        }
        out.push(b);
    }
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.resize(size, 0);
    out
}

/// A schedule file like devnet's without the per-transaction gas cap.
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
fn read_only_commands_run_beside_a_writer() {
    let env = Env::new();
    let net = uncapped(&env);
    let p = env.deploy(&probe(), &net);
    env.ok(&[net[0], net[1], "invoke", &p, "--entry", "3"]);
    let mut writer = env
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
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the writer still runs"
    );
    let s = env.json(0, &["storage", &p]);
    assert_eq!(s["entries"][0]["key_text"], "key");
    env.json(0, &["balance", "alice"]);
    env.json(0, &["contracts"]);
    env.json(0, &[net[0], net[1], "call", &p, "--entry", "3"]);
    env.json(0, &["state", "export", "-"]);
    // A second writer is told to wait, as a node fault (exit 2), in one line.
    let e = env.error(2, &[net[0], net[1], "invoke", &p, "--entry", "3"]);
    assert!(e.contains("being written by another tosvm"), "{e}");
    writer.kill().unwrap();
    writer.wait().unwrap();
    env.json(0, &["state", "check"]);
}

#[test]
fn help_lists_the_new_commands_with_examples() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    for cmd in ["call", "account", "fund", "contracts", "state"] {
        assert!(help.contains(&format!("\n  {cmd} ")), "{cmd} in {help}");
        assert!(
            help.contains(&format!("tosvm {cmd}")),
            "an example of {cmd} in {help}"
        );
    }
    for sub in [
        vec!["deploy", "--help"],
        vec!["invoke", "--help"],
        vec!["run", "--help"],
        vec!["inspect", "--help"],
        vec!["storage", "--help"],
        vec!["balance", "--help"],
        vec!["engines", "--help"],
        vec!["link", "--help"],
        vec!["asm", "--help"],
        vec!["disasm", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "--help"],
        vec!["call", "--help"],
        vec!["account", "--help"],
        vec!["fund", "--help"],
        vec!["contracts", "--help"],
        vec!["state", "check", "--help"],
        vec!["state", "export", "--help"],
        vec!["state", "import", "--help"],
        vec!["state", "rewind", "--help"],
    ] {
        let h = env.ok(&sub);
        assert!(h.contains("Example:\n  tosvm "), "{sub:?}: {h}");
    }
}
