//! `tosvm bench --adversarial`: the worst modules and calls of `tos-adversarial`, each timed
//! through the host and priced: the node's CPU time per gas as a ratio to ordinary TBPF-JIT
//! compute (`compute.hash_chain`) measured in the same run. Goal: no case above 20×.

use std::time::{Duration, Instant};

use serde_json::json;
use tos_engine_api::{Call, Gas, ModuleTag};
use tos_host::{ContractModule, DeployRequest, Host, InvokeRequest, MemoryProvider};

use crate::ModeArgs;
use crate::args::named_key;
use crate::bench::{BenchArgs, first_height, median, tx};
use crate::commands::{Ctx, make_host};
use crate::error::CliError;
use crate::output::{print_json, thousands};

/// The ratio no case should exceed.
pub(crate) const GOAL: f64 = 20.0;

/// One measured case.
struct Measured {
    name: String,
    engine: String,
    what: &'static str,
    outcome: String,
    gas: Gas,
    time: Duration,
}

impl Measured {
    fn ns_per_gas(&self) -> f64 {
        self.time.as_nanos() as f64 / self.gas.max(1) as f64
    }
}

fn host(ctx: &Ctx) -> Result<Host, CliError> {
    make_host(
        &ctx.network,
        &ModeArgs {
            interpreter: false,
            jit: false,
        },
    )
}

fn deploy_request(module: &ContractModule, gas_limit: Gas) -> DeployRequest {
    DeployRequest {
        envelope: module.encode(),
        params: vec![],
        gas_limit,
    }
}

/// Ordinary compute: ns per gas of `compute.hash_chain(10000)` on TBPF (JIT where it exists).
fn baseline(ctx: &Ctx, iterations: u32) -> Result<f64, CliError> {
    let host = host(ctx)?;
    let module = ContractModule::new(
        ModuleTag::TBPF,
        include_bytes!("../../sdk/examples/build/compute.so").to_vec(),
    );
    let height = first_height(&host, ModuleTag::TBPF);
    let cap = host.protocol_at(height).max_tx_gas();
    let mut state = MemoryProvider::default();
    let d = host
        .deploy(
            &mut state,
            &tx(height, named_key("alice")),
            &deploy_request(&module, cap),
        )
        .map_err(|e| CliError::user(format!("baseline: {e}")))?;
    let call = InvokeRequest {
        contract: d.address,
        call: Call::Entry(0),
        params: 10_000u32.to_le_bytes().to_vec(),
        gas_limit: cap,
        deposits: vec![],
    };
    let mut samples = Vec::new();
    let mut gas = 0;
    for _ in 0..iterations.clamp(5, 100) {
        let t = Instant::now();
        let r = host
            .invoke(&mut state, &tx(height, named_key("alice")), &call)
            .map_err(|e| CliError::user(format!("baseline: {e}")))?;
        samples.push(t.elapsed());
        gas = r.outcome.gas_used;
    }
    Ok(median(samples).as_nanos() as f64 / gas.max(1) as f64)
}

fn measure(ctx: &Ctx, case: &tos_adversarial::Case, iterations: u32) -> Result<Measured, CliError> {
    let module = ContractModule::new(case.tag, case.code.clone());
    let alice = named_key("alice");
    let mut out = Measured {
        name: case.name.clone(),
        engine: case.tag.to_string(),
        what: case.what,
        outcome: String::new(),
        gas: 0,
        time: Duration::ZERO,
    };
    // Deploy: a fresh host each time, so preparation is never served from a cache; the gas is
    // what the deploy costs whether it is accepted or refused.
    let mut samples = Vec::new();
    let mut deployed = None;
    for _ in 0..iterations.clamp(1, 5) {
        let host = host(ctx)?;
        let height = first_height(&host, case.tag);
        let cap = host.protocol_at(height).max_tx_gas();
        let mut state = MemoryProvider::default();
        let t = Instant::now();
        let r = host.deploy(
            &mut state,
            &tx(height, alice),
            &deploy_request(&module, cap),
        );
        samples.push(t.elapsed());
        let engine = host
            .registry()
            .engines()
            .find(|e| e.tag == case.tag)
            .map_or("?", |e| e.name);
        out.engine = engine.to_owned();
        let cost = host
            .protocol_at(height)
            .deploy_cost_for(engine, module.code.len());
        match r {
            Ok(d) if d.deployed => {
                out.gas = d.gas_used;
                out.outcome = "deployed".into();
                deployed = Some((host, state, d.address, height));
            }
            Ok(d) => {
                out.gas = d.gas_used;
                out.outcome = "constructor failed".into();
            }
            Err(e) => {
                out.gas = cost;
                let text = e.to_string();
                out.outcome = format!("refused: {}", text.chars().take(70).collect::<String>());
            }
        }
    }
    out.time = median(samples);
    let (Some((call, params)), Some((host, mut state, address, height))) = (&case.call, deployed)
    else {
        return Ok(out);
    };
    let cap = host.protocol_at(height).max_tx_gas();
    let request = InvokeRequest {
        contract: address,
        call: *call,
        params: params.clone(),
        gas_limit: cap,
        deposits: vec![],
    };
    let mut samples = Vec::new();
    for _ in 0..iterations.clamp(3, 50) {
        let t = Instant::now();
        let r = host
            .invoke(&mut state, &tx(height + 1, alice), &request)
            .map_err(|e| CliError::user(format!("{}: {e}", case.name)))?;
        samples.push(t.elapsed());
        out.gas = r.outcome.gas_used;
        out.outcome = format!("call: {}", r.outcome.status);
    }
    out.time = median(samples);
    Ok(out)
}

/// The `probe` example (docs/EXAMPLES.md) for `tag`.
fn probe(tag: ModuleTag) -> ContractModule {
    let code: &[u8] = match tag {
        ModuleTag::TBPF => include_bytes!("../../sdk/examples/build/probe.so"),
        ModuleTag::WASM => include_bytes!("../../sdk/examples/build/probe.wasm"),
        _ => include_bytes!("../../engine-legacy/examples/probe.tosl"),
    };
    ContractModule::new(tag, code.to_vec())
}

/// Calls in one `call loop` transaction.
const CALLS_PER_LOOP: usize = 400;

/// A transaction of [`CALLS_PER_LOOP`] `tos_call`s from a probe on `caller` to a probe on
/// `callee` that does nothing: what a nested call costs the node (the host's frame, the
/// callee's engine set-up), against what it is charged.
fn measure_calls(
    ctx: &Ctx,
    caller: ModuleTag,
    callee: ModuleTag,
    iterations: u32,
) -> Result<Measured, CliError> {
    let host = host(ctx)?;
    let height = first_height(&host, caller).max(first_height(&host, callee));
    let cap = host.protocol_at(height).max_tx_gas();
    let mut state = MemoryProvider::default();
    let mut deploy = |tag, from: &str| {
        host.deploy(
            &mut state,
            &tx(height, named_key(from)),
            &deploy_request(&probe(tag), cap),
        )
        .map(|d| d.address)
        .map_err(|e| CliError::user(format!("call loop: {e}")))
    };
    let (a, b) = (deploy(caller, "alice")?, deploy(callee, "bob")?);
    let desc = tos_engine_api::CallRequest {
        callee: b,
        entry: 0,
        deposits: vec![],
        params: vec![],
        gas_limit: 0,
    }
    .encode();
    // Probe op 0x05: call, store the result under [1] (and the empty return data).
    let op = [&[0x05, 1][..], &(desc.len() as u16).to_le_bytes(), &desc].concat();
    let request = InvokeRequest {
        contract: a,
        call: Call::Entry(0),
        params: op.repeat(CALLS_PER_LOOP),
        gas_limit: cap,
        deposits: vec![],
    };
    let name = |t: ModuleTag| t.name().unwrap_or("?").to_owned();
    let mut out = Measured {
        name: format!("call loop {} -> {}", name(caller), name(callee)),
        engine: name(caller),
        what: "400 tos_call of a callee that returns at once",
        outcome: String::new(),
        gas: 0,
        time: Duration::ZERO,
    };
    let mut samples = Vec::new();
    for _ in 0..iterations.clamp(3, 30) {
        let t = Instant::now();
        let r = host
            .invoke(&mut state, &tx(height + 1, named_key("alice")), &request)
            .map_err(|e| CliError::user(format!("{}: {e}", out.name)))?;
        samples.push(t.elapsed());
        out.gas = r.outcome.gas_used;
        out.outcome = format!(
            "call: {}, {} frames",
            r.outcome.status,
            r.frame.frame_count()
        );
    }
    out.time = median(samples);
    Ok(out)
}

/// Runs the adversarial suite; exit 0 when every ratio is within [`GOAL`], 3 otherwise.
pub(crate) fn run(ctx: &Ctx, args: &BenchArgs) -> Result<i32, CliError> {
    let base = baseline(ctx, args.iterations)?;
    let cases = tos_adversarial::cases();
    let mut rows = Vec::new();
    for case in &cases {
        if !ctx.json {
            eprintln!("measuring {} ...", case.name);
        }
        rows.push(measure(ctx, case, args.iterations)?);
    }
    for (caller, callee) in [
        (ModuleTag::TBPF, ModuleTag::TBPF),
        (ModuleTag::TBPF, ModuleTag::WASM),
        (ModuleTag::TBPF, ModuleTag::LEGACY),
        (ModuleTag::WASM, ModuleTag::WASM),
        (ModuleTag::LEGACY, ModuleTag::LEGACY),
    ] {
        if !ctx.json {
            eprintln!("measuring call loop {caller} -> {callee} ...");
        }
        rows.push(measure_calls(ctx, caller, callee, args.iterations)?);
    }
    let ratio = |m: &Measured| m.ns_per_gas() / base.max(f64::MIN_POSITIVE);
    let worst = rows.iter().map(ratio).fold(0.0, f64::max);
    if ctx.json {
        print_json(&json!({
            "command": "bench",
            "adversarial": true,
            "baseline_ns_per_gas": base,
            "goal_ratio": GOAL,
            "worst_ratio": worst,
            "cases": rows.iter().map(|m| json!({
                "case": m.name,
                "engine": m.engine,
                "what": m.what,
                "outcome": m.outcome,
                "gas": m.gas,
                "median_ns": m.time.as_nanos() as u64,
                "ns_per_gas": m.ns_per_gas(),
                "ratio": ratio(m),
            })).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "ordinary compute (TBPF compute.hash_chain): {base:.3} ns per gas; goal: every case at most {GOAL}x"
        );
        println!(
            "{:<34} {:<7} {:>13} {:>11} {:>9} {:>8}  outcome",
            "case", "engine", "gas", "time", "ns/gas", "ratio"
        );
        for m in &rows {
            println!(
                "{:<34} {:<7} {:>13} {:>11} {:>9.3} {:>7.1}x  {}",
                m.name,
                m.engine,
                thousands(m.gas),
                format!("{:.1?}", m.time),
                m.ns_per_gas(),
                ratio(m),
                m.outcome
            );
        }
        println!("worst ratio: {worst:.1}x (goal: at most {GOAL}x)");
    }
    Ok(if worst <= GOAL { 0 } else { 3 })
}
