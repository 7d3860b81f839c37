//! `tosvm demo`: the example contracts of docs/EXAMPLES.md deployed and called on every
//! engine this binary has, on a throwaway state, with each result checked against the spec.

use serde_json::json;
use tos_engine_api::{Call, ExitStatus, Hash, ModuleTag};
use tos_host::{ContractModule, InvokeRequest};

use crate::ModeArgs;
use crate::args::named_key;
use crate::commands::{Ctx, DEFAULT_GAS_LIMIT, Deployed, Invoked, deploy, invoke, make_host};
use crate::error::{CliError, EXIT_CONTRACT_FAILED, EXIT_OK};
use crate::output::{field, hex32, print_json, show_bytes, status_text, thousands};
use crate::state::{BlockAt, Database, OpenMode};

/// An example module embedded at build time.
#[derive(Debug)]
pub(crate) struct Example {
    /// Path relative to the workspace.
    pub(crate) path: &'static str,
    /// The contract it implements (the file stem: hello, counter, token, compute).
    pub(crate) contract: &'static str,
    /// The engine's tag name.
    pub(crate) tag: &'static str,
    /// The module.
    pub(crate) bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// Which contracts each engine's examples should cover (docs/EXAMPLES.md, sdk/build.sh).
const EXPECTED: &[(&str, &[&str])] = &[
    ("tbpf", &["hello", "counter", "token", "compute"]),
    ("wasm", &["hello", "counter", "token"]),
    ("legacy", &["hello", "counter", "token"]),
];

/// What a step must end with to match the spec.
#[derive(Debug)]
struct Expect {
    exit: u64,
    ret: Option<Vec<u8>>,
    log: Option<&'static [u8]>,
}

fn ok_ret(v: u64) -> Expect {
    Expect {
        exit: 0,
        ret: Some(v.to_le_bytes().to_vec()),
        log: None,
    }
}

fn exit(code: u64) -> Expect {
    Expect {
        exit: code,
        ret: None,
        log: None,
    }
}

/// One call of the script.
#[derive(Debug)]
struct Step {
    what: String,
    from: &'static str,
    call: Call,
    params: Vec<u8>,
    expect: Expect,
}

fn step(what: &str, from: &'static str, call: Call, params: Vec<u8>, expect: Expect) -> Step {
    Step {
        what: what.to_owned(),
        from,
        call,
        params,
        expect,
    }
}

/// splitmix64 iterated `n` times from 0, as docs/EXAMPLES.md defines `hash_chain`.
fn hash_chain(n: u32) -> u64 {
    let mut x: u64 = 0;
    for _ in 0..n {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    x
}

/// Primes below `n`, counted plainly.
fn primes_below(n: u32) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

fn to_amount(account: &Hash, amount: u64) -> Vec<u8> {
    [account.as_slice(), &amount.to_le_bytes()].concat()
}

/// The script of a contract, or `None` for a file that implements no known contract.
fn script(contract: &str) -> Option<Vec<Step>> {
    let alice = named_key("alice");
    let bob = named_key("bob");
    Some(match contract {
        "hello" => vec![step(
            "say hello",
            "alice",
            Call::Entry(0),
            vec![],
            Expect {
                exit: 0,
                ret: None,
                log: Some(b"hello, tos"),
            },
        )],
        "counter" => vec![
            step("increment", "alice", Call::Entry(0), vec![], ok_ret(1)),
            step("increment", "bob", Call::Entry(0), vec![], ok_ret(2)),
            step(
                "add 40",
                "alice",
                Call::Entry(2),
                40u64.to_le_bytes().to_vec(),
                ok_ret(42),
            ),
            step("get", "alice", Call::Entry(1), vec![], ok_ret(42)),
            step(
                "add u64::MAX (overflow)",
                "alice",
                Call::Entry(2),
                u64::MAX.to_le_bytes().to_vec(),
                exit(2),
            ),
            step("get", "alice", Call::Entry(1), vec![], ok_ret(42)),
        ],
        "token" => vec![
            step(
                "alice mints 1000",
                "alice",
                Call::Entry(0),
                to_amount(&alice, 1000),
                exit(0),
            ),
            step(
                "bob mints (not owner)",
                "bob",
                Call::Entry(0),
                to_amount(&bob, 5),
                exit(2),
            ),
            step(
                "alice sends bob 250",
                "alice",
                Call::Entry(1),
                to_amount(&bob, 250),
                exit(0),
            ),
            step(
                "bob sends 10000 (too much)",
                "bob",
                Call::Entry(1),
                to_amount(&alice, 10_000),
                exit(3),
            ),
            step(
                "balance of alice",
                "alice",
                Call::Entry(2),
                alice.to_vec(),
                ok_ret(750),
            ),
            step(
                "balance of bob",
                "alice",
                Call::Entry(2),
                bob.to_vec(),
                ok_ret(250),
            ),
            step("supply", "alice", Call::Entry(3), vec![], ok_ret(1000)),
        ],
        "compute" => vec![
            step(
                "hash_chain 10000",
                "alice",
                Call::Entry(0),
                10_000u32.to_le_bytes().to_vec(),
                ok_ret(hash_chain(10_000)),
            ),
            step(
                "sieve 10000",
                "alice",
                Call::Entry(1),
                10_000u32.to_le_bytes().to_vec(),
                ok_ret(primes_below(10_000)),
            ),
        ],
        _ => return None,
    })
}

/// Whether a call ended as the spec says; otherwise what differs.
fn check(i: &Invoked, e: &Expect) -> Result<(), String> {
    let o = &i.report.outcome;
    if o.status != ExitStatus::Exit(e.exit) {
        return Err(format!("expected exit {}, got {}", e.exit, o.status));
    }
    if let Some(ret) = &e.ret
        && &o.return_data != ret
    {
        return Err(format!(
            "expected return {}, got {}",
            show_bytes(ret),
            show_bytes(&o.return_data)
        ));
    }
    if let Some(log) = e.log
        && !i.report.logs.iter().any(|l| l == log)
    {
        return Err(format!("expected log {}", show_bytes(log)));
    }
    Ok(())
}

fn describe(i: &Invoked) -> String {
    let o = &i.report.outcome;
    let mut s = match &o.status {
        ExitStatus::Exit(c) => format!("exit {c}"),
        ExitStatus::Trap(t) => format!("trap: {t}"),
    };
    if !o.return_data.is_empty() {
        s.push_str(&format!("  return {}", show_bytes(&o.return_data)));
    }
    for l in &i.report.logs {
        s.push_str(&format!("  log {}", show_bytes(l)));
    }
    for e in &i.report.events {
        s.push_str(&format!("  event #{} ({} bytes)", e.id, e.data.len()));
    }
    s
}

/// Runs the demo.
pub(crate) fn demo(ctx: &Ctx) -> Result<i32, CliError> {
    let host = make_host(
        &ctx.network,
        &ModeArgs {
            interpreter: false,
            jit: false,
        },
    )?;
    let dir = tempfile::tempdir()
        .map_err(|e| CliError::fault(format!("cannot make a temporary state: {e}")))?;
    let db = Database::open(&dir.path().join("state.redb"), OpenMode::Create)?;
    let mut failures = 0u32;
    let mut ran = 0u32;
    let mut modules = 0u32;
    if !ctx.json {
        outln!("tosvm demo: the example contracts of docs/EXAMPLES.md on every engine");
        outln!("{}", field(0, "network", host.schedule().network()));
        let engines: Vec<String> = host
            .registry()
            .engines()
            .map(|e| format!("{} v{}", e.name, e.version))
            .collect();
        outln!(
            "{}",
            field(
                0,
                "engines",
                if engines.is_empty() {
                    "none".to_owned()
                } else {
                    engines.join(", ")
                }
            )
        );
        outln!("{}", field(0, "state", "throwaway (a temporary redb file)"));
    }
    // Note what is missing, per engine.
    for (tag, contracts) in EXPECTED {
        let missing: Vec<&str> = contracts
            .iter()
            .copied()
            .filter(|c| !EXAMPLES.iter().any(|e| e.tag == *tag && e.contract == *c))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let note = format!(
            "no {tag} build of {} was present when tosvm was built",
            missing.join(", ")
        );
        if ctx.json {
            print_json(&json!({ "command": "demo", "note": note }));
        } else {
            outln!("{}", field(0, "skipped", note));
        }
    }
    // Contract by contract (hello, counter, token, compute), each on every engine.
    let order = |c: &str| {
        ["hello", "counter", "token", "compute"]
            .iter()
            .position(|n| *n == c)
    };
    let mut examples: Vec<&Example> = EXAMPLES.iter().collect();
    examples.sort_by_key(|e| (order(e.contract).unwrap_or(usize::MAX), e.tag, e.path));
    for ex in examples {
        let Some(steps) = script(ex.contract) else {
            continue;
        };
        let Some(tag) = ModuleTag::from_name(ex.tag) else {
            continue;
        };
        // An engine this binary lacks (or the schedule does not name) is a note, not a failure.
        let next = db.meta()?.height.saturating_add(1);
        let version = host.schedule().engine_version(tag, next);
        if !version.is_some_and(|v| host.registry().contains(tag, v)) {
            let note = format!(
                "{} ({}): no {} engine in this build for the {} schedule",
                ex.contract,
                ex.path,
                ex.tag,
                host.schedule().network()
            );
            if ctx.json {
                print_json(&json!({ "command": "demo", "note": note }));
            } else {
                outln!();
                outln!("{}", field(0, "skipped", note));
            }
            continue;
        }
        let label = format!("{} on {}", ex.contract, ex.tag);
        if !ctx.json {
            outln!();
            outln!("== {label}  ({})", ex.path);
        }
        let module = if tag == ModuleTag::LEGACY && !ex.bytes.starts_with(b"TOSL") {
            // Legacy examples may be kept as assembly text.
            let text = String::from_utf8_lossy(ex.bytes);
            match crate::tools::assemble_text(&text, ex.path) {
                Ok(code) => ContractModule::new(tag, code),
                Err(e) => {
                    failures += 1;
                    if ctx.json {
                        print_json(&json!({
                            "command": "demo", "contract_name": ex.contract, "engine": ex.tag,
                            "file": ex.path, "step": "assemble", "ok": false, "error": e.to_string(),
                        }));
                    } else {
                        outln!("  {:<28} cannot assemble: {e}", "deploy");
                    }
                    continue;
                }
            }
        } else {
            ContractModule::new(tag, ex.bytes.to_vec())
        };
        let deployed = match deploy(
            &host,
            &db,
            &module,
            vec![],
            DEFAULT_GAS_LIMIT,
            named_key("alice"),
            BlockAt::default(),
        ) {
            Ok(d) => d,
            Err(e) if !e.is_fault() => {
                failures += 1;
                if ctx.json {
                    print_json(&json!({
                        "command": "demo", "contract_name": ex.contract, "engine": ex.tag,
                        "file": ex.path, "step": "deploy", "ok": false, "error": e.to_string(),
                    }));
                } else {
                    outln!("{}", field(2, "deploy", format!("REFUSED: {e}")));
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        report_deploy(ctx, ex, &deployed, &mut failures);
        if !deployed.result.deployed {
            continue;
        }
        modules += 1;
        for s in steps {
            let request = InvokeRequest {
                contract: deployed.result.address,
                call: s.call,
                params: s.params.clone(),
                gas_limit: DEFAULT_GAS_LIMIT,
                deposits: vec![],
            };
            let i = match invoke(&host, &db, &request, named_key(s.from), BlockAt::default()) {
                Ok(i) => i,
                Err(e) if !e.is_fault() => {
                    failures += 1;
                    if ctx.json {
                        print_json(&json!({
                            "command": "demo", "contract_name": ex.contract, "engine": ex.tag,
                            "file": ex.path, "step": s.what, "ok": false, "error": e.to_string(),
                        }));
                    } else {
                        outln!("  {:<28} REFUSED: {e}", s.what);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            ran += 1;
            let verdict = check(&i, &s.expect);
            if verdict.is_err() {
                failures += 1;
            }
            if ctx.json {
                let mut v = crate::commands::invoke_json(&i, s.from);
                v["command"] = json!("demo");
                v["contract_name"] = json!(ex.contract);
                v["engine"] = json!(ex.tag);
                v["file"] = json!(ex.path);
                v["step"] = json!(s.what);
                v["ok"] = json!(verdict.is_ok());
                v["mismatch"] = json!(verdict.as_ref().err());
                print_json(&v);
            } else {
                let mark = match &verdict {
                    Ok(()) => "ok".to_owned(),
                    Err(why) => format!("UNEXPECTED: {why}"),
                };
                outln!(
                    "  {:<28} {:<6} {:>10} gas  {}  [{mark}]",
                    s.what,
                    s.from,
                    thousands(i.report.outcome.gas_used),
                    describe(&i)
                );
            }
        }
        if !ctx.json {
            let reader = db.reader()?;
            let n = reader.storage_all(&deployed.result.address)?.len();
            outln!("  {:<28} {n} storage keys", "state");
        }
    }
    chain(ctx, &host, &db, &mut ran, &mut modules, &mut failures)?;
    let done = format!("{ran} calls on {modules} modules, {failures} unexpected");
    if ctx.json {
        print_json(
            &json!({ "command": "demo", "summary": done, "calls": ran, "modules": modules, "unexpected": failures }),
        );
    } else {
        outln!();
        outln!("{}", field(0, "done", done));
    }
    Ok(if failures == 0 {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    })
}

/// The embedded module of `contract` for `tag`, when this build has one.
fn example_module(contract: &str, tag: &str) -> Option<ContractModule> {
    let ex = EXAMPLES
        .iter()
        .find(|e| e.contract == contract && e.tag == tag)?;
    Some(ContractModule::new(
        ModuleTag::from_name(tag)?,
        ex.bytes.to_vec(),
    ))
}

/// Router params: callee ‖ entry ‖ native deposit ‖ gas (0: all) ‖ callee params.
fn route(callee: &Hash, entry: u16, amount: u64, params: &[u8]) -> Vec<u8> {
    [
        callee.as_slice(),
        &entry.to_le_bytes(),
        &amount.to_le_bytes(),
        &0u64.to_le_bytes(),
        params,
    ]
    .concat()
}

/// A call chain across the three engines (ABI v2): a TBPF router forwards a deposit to a wasm
/// router, which forwards part of it to a legacy vault; the call tree shows each frame.
fn chain(
    ctx: &Ctx,
    host: &tos_host::Host,
    db: &Database,
    ran: &mut u32,
    modules: &mut u32,
    failures: &mut u32,
) -> Result<(), CliError> {
    let parts = [("router", "tbpf"), ("router", "wasm"), ("vault", "legacy")];
    let next = db.meta()?.height.saturating_add(1);
    let available = |tag: &str| {
        ModuleTag::from_name(tag).is_some_and(|t| {
            host.schedule()
                .engine_version(t, next)
                .is_some_and(|v| host.registry().contains(t, v))
        }) && host
            .schedule()
            .is_feature_active(tos_syscalls::ABI_V2, next)
    };
    let mut deployed = Vec::new();
    for (contract, tag) in parts {
        let module = match example_module(contract, tag) {
            Some(m) if available(tag) => m,
            _ => {
                let note = format!(
                    "the cross-engine call chain needs {contract} on {tag} with ABI v2 live \
                     (not in this build or not on the {} schedule at height {next})",
                    host.schedule().network()
                );
                if ctx.json {
                    print_json(&json!({ "command": "demo", "note": note }));
                } else {
                    outln!();
                    outln!("{}", field(0, "skipped", note));
                }
                return Ok(());
            }
        };
        let d = deploy(
            host,
            db,
            &module,
            vec![],
            DEFAULT_GAS_LIMIT,
            named_key("alice"),
            BlockAt::default(),
        )?;
        if !d.result.deployed {
            *failures += 1;
            return Ok(());
        }
        *modules += 1;
        deployed.push(d.result.address);
    }
    let (outer, inner, vault) = (deployed[0], deployed[1], deployed[2]);
    // Alice deposits 50 with the call; the TBPF router forwards 30 to the wasm router, which
    // deposits 20 of it in the legacy vault.
    let request = InvokeRequest {
        contract: outer,
        call: Call::Entry(0),
        params: route(&inner, 0, 30, &route(&vault, 0, 20, &[])),
        gas_limit: DEFAULT_GAS_LIMIT,
        deposits: vec![(tos_engine_api::NATIVE_ASSET, 50)],
    };
    let i = invoke(host, db, &request, named_key("alice"), BlockAt::default())?;
    *ran += 1;
    let expect = ok_ret(20);
    let verdict = check(&i, &expect).and_then(|()| {
        let frames = i.report.frame.frame_count();
        (frames == 3)
            .then_some(())
            .ok_or_else(|| format!("expected 3 frames, got {frames}"))
    });
    if verdict.is_err() {
        *failures += 1;
    }
    if ctx.json {
        let mut v = crate::commands::invoke_json(&i, "alice");
        v["command"] = json!("demo");
        v["step"] = json!("cross-engine call chain");
        v["ok"] = json!(verdict.is_ok());
        v["mismatch"] = json!(verdict.as_ref().err());
        print_json(&v);
    } else {
        outln!();
        outln!(
            "== a call chain across engines (ABI v2): router on tbpf -> router on wasm -> vault on legacy"
        );
        let mark = match &verdict {
            Ok(()) => "ok".to_owned(),
            Err(why) => format!("UNEXPECTED: {why}"),
        };
        outln!(
            "  {:<28} {:<6} {:>10} gas  {}  [{mark}]",
            "deposit 50, forward 30, 20",
            "alice",
            thousands(i.report.outcome.gas_used),
            describe(&i)
        );
        let mut lines = Vec::new();
        crate::output::tree_lines(&i.report.frame, 4, &mut lines);
        for l in lines {
            outln!("{l}");
        }
    }
    Ok(())
}

fn report_deploy(ctx: &Ctx, ex: &Example, d: &Deployed, failures: &mut u32) {
    let r = &d.result;
    let ctor_ok = r.constructor.as_ref().is_none_or(|c| c.is_success());
    if !ctor_ok || !r.deployed {
        *failures += 1;
    }
    if ctx.json {
        let mut v = crate::commands::deploy_json(d, crate::module_file::TagSource::Flag, "alice");
        v["command"] = json!("demo");
        v["contract_name"] = json!(ex.contract);
        v["engine"] = json!(ex.tag);
        v["file"] = json!(ex.path);
        v["step"] = json!("deploy");
        v["ok"] = json!(r.deployed);
        print_json(&v);
        return;
    }
    let ctor = match &r.constructor {
        Some(c) => format!(
            "constructor {} ({} gas)",
            status_text(&c.outcome.status),
            thousands(c.outcome.gas_used)
        ),
        None => "no constructor".to_owned(),
    };
    outln!(
        "  {:<28} {}  {} bytes  {ctor}",
        "deploy",
        &hex32(&r.address)[..16],
        thousands(d.code_size as u64)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values_follow_the_spec() {
        assert_eq!(hash_chain(0), 0);
        // splitmix64's first output from state 0.
        assert_eq!(hash_chain(1), 0xE220_A839_7B1D_CDAF);
        assert_eq!(primes_below(10), 4);
        assert_eq!(primes_below(10_000), 1229);
    }

    #[test]
    fn every_expected_contract_has_a_script() {
        for (_, contracts) in EXPECTED {
            for c in *contracts {
                assert!(script(c).is_some(), "{c}");
            }
        }
        assert!(script("nope").is_none());
    }
}
