//! `tosvm bench`: how fast each engine runs the same contract logic, measured in one run so
//! the figures compare as ratios.
//!
//! Every case deploys a module into an in-memory state (no database: the figures are the
//! host's and the engine's), makes `--warmup` calls, then times `--iterations` calls one by
//! one and reports the median. `prepare` cases time a cold preparation (parse, verify,
//! compile) without the module cache.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tos_engine_api::{Call, Gas, Hash, ModuleTag};
use tos_host::{ContractModule, DeployRequest, Host, InvokeRequest, MemoryProvider, TxContext};

use crate::args::{named_key, parse_params};
use crate::commands::{Ctx, make_host};
use crate::demo::EXAMPLES;
use crate::error::{CliError, EXIT_OK};
use crate::output::{print_json, thousands};
use crate::progress::Progress;
use crate::{ModeArgs, ParamsArgs};

/// The options of `tosvm bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// A module to benchmark instead of the built-in suite (needs --entry or --hook).
    pub(crate) file: Option<PathBuf>,
    /// With FILE: time calls to entry N.
    #[arg(long, value_name = "N", conflicts_with = "hook")]
    pub(crate) entry: Option<u16>,
    /// With FILE: time calls to hook N.
    #[arg(long, value_name = "N")]
    pub(crate) hook: Option<u8>,
    #[command(flatten)]
    pub(crate) params: ParamsArgs,
    /// Timed calls per case.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub(crate) iterations: u32,
    /// Untimed calls before the timed ones.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) warmup: u32,
    /// Run the adversarial suite instead: the worst modules and calls of `tos-adversarial`,
    /// each priced as CPU time per gas against ordinary TBPF compute (goal: at most 20x).
    #[arg(long, conflicts_with = "file")]
    pub(crate) adversarial: bool,
    /// Gas limit of every deploy and call (at most the network's per-transaction cap). A call
    /// that does not succeed within it is reported as a failure, never timed.
    #[arg(long, value_name = "N", default_value_t = 100_000_000)]
    pub(crate) gas: Gas,
}

/// One engine configuration a case runs on.
struct Runner {
    label: &'static str,
    host: Host,
}

/// One measured line.
struct Row {
    case: String,
    engine: &'static str,
    gas: Option<Gas>,
    median: Duration,
}

pub(crate) fn tx(height: u64, source: Hash) -> TxContext {
    TxContext {
        height,
        block_hash: [1; 32],
        tx_hash: [2; 32],
        source,
        timestamp: 1_700_000_000,
    }
}

pub(crate) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The engine configurations of this binary: TBPF in both modes where the JIT exists.
fn runners(ctx: &Ctx) -> Result<Vec<Runner>, CliError> {
    let mode = |interpreter, jit| ModeArgs { interpreter, jit };
    let mut out = vec![Runner {
        label: "tbpf-interp",
        host: make_host(&ctx.network, &mode(true, false))?,
    }];
    if cfg!(target_arch = "x86_64") {
        out.push(Runner {
            label: "tbpf-jit",
            host: make_host(&ctx.network, &mode(false, true))?,
        });
    }
    Ok(out)
}

/// The label of a non-TBPF engine, `None` when the host lacks it.
fn other_label(host: &Host, tag: ModuleTag) -> Option<&'static str> {
    host.registry()
        .engines()
        .find(|e| e.tag == tag)
        .map(|e| e.name)
}

struct Case<'a> {
    name: String,
    module: ContractModule,
    /// Calls made once after deploy (setup), then the timed call.
    setup: Vec<(Hash, Call, Vec<u8>)>,
    from: Hash,
    call: Call,
    params: Vec<u8>,
    engine: &'static str,
    host: &'a Host,
}

fn measure(case: &Case<'_>, args: &BenchArgs) -> Result<Vec<Row>, CliError> {
    let height = first_height(case.host, case.module.tag);
    let deployer = named_key("alice");
    // Cold preparation, without the cache.
    let mut samples = Vec::new();
    for _ in 0..args.iterations.clamp(5, 50) {
        let t = Instant::now();
        case.host
            .prepare_uncached(&case.module, height)
            .map_err(|e| CliError::user(format!("{}: {e}", case.name)))?;
        samples.push(t.elapsed());
    }
    let prepare = Row {
        case: format!(
            "prepare {}",
            case.name.split('.').next().unwrap_or(&case.name)
        ),
        engine: case.engine,
        gas: None,
        median: median(samples),
    };
    let mut state = MemoryProvider::default();
    let deployed = case
        .host
        .deploy(
            &mut state,
            &tx(height, deployer),
            &DeployRequest {
                envelope: case.module.encode(),
                params: vec![],
                gas_limit: args.gas,
            },
        )
        .map_err(|e| CliError::user(format!("{}: deploy refused: {e}", case.name)))?;
    if !deployed.deployed {
        return Err(CliError::user(format!(
            "{}: the constructor failed",
            case.name
        )));
    }
    let request = |call, params: &[u8]| InvokeRequest {
        contract: deployed.address,
        call,
        params: params.to_vec(),
        gas_limit: args.gas,
        deposits: vec![],
    };
    for (from, call, params) in &case.setup {
        let r = case
            .host
            .invoke(&mut state, &tx(height, *from), &request(*call, params))
            .map_err(|e| CliError::user(format!("{}: {e}", case.name)))?;
        if !r.is_success() {
            return Err(CliError::fault(format!(
                "{}: setup call {call} failed: {}",
                case.name, r.outcome.status
            )));
        }
    }
    let timed = request(case.call, &case.params);
    let tx = tx(height, case.from);
    let mut gas = 0;
    let mut samples = Vec::with_capacity(args.iterations as usize);
    for i in 0..args.warmup.saturating_add(args.iterations) {
        let t = Instant::now();
        let r = case
            .host
            .invoke(&mut state, &tx, &timed)
            .map_err(|e| CliError::user(format!("{}: {e}", case.name)))?;
        let elapsed = t.elapsed();
        if !r.is_success() {
            return Err(CliError::user(format!(
                "{}: the call failed ({}, {} gas of a limit of {}); nothing is timed for a \
                 failing call (raise --gas if it ran out)",
                case.name, r.outcome.status, r.outcome.gas_used, args.gas
            )));
        }
        gas = r.outcome.gas_used;
        if i >= args.warmup {
            samples.push(elapsed);
        }
    }
    Ok(vec![
        prepare,
        Row {
            case: case.name.clone(),
            engine: case.engine,
            gas: Some(gas),
            median: median(samples),
        },
    ])
}

/// The first height at which the schedule accepts deploys of `tag` (1 at least).
pub(crate) fn first_height(host: &Host, tag: ModuleTag) -> u64 {
    host.schedule().tag(tag).map_or(1, |t| t.deploy_from.max(1))
}

fn example(contract: &str, tag: &str) -> Option<ContractModule> {
    let e = EXAMPLES
        .iter()
        .filter(|e| e.contract == contract && e.tag == tag)
        .min_by_key(|e| !e.path.starts_with("sdk/"))?;
    Some(ContractModule::new(
        ModuleTag::from_name(tag)?,
        e.bytes.to_vec(),
    ))
}

fn suite<'a>(runners: &'a [Runner]) -> Vec<Case<'a>> {
    let alice = named_key("alice");
    let bob = named_key("bob");
    let mint = [alice.as_slice(), &u64::MAX.to_le_bytes()].concat();
    let transfer = [bob.as_slice(), &1u64.to_le_bytes()].concat();
    let mut engines: Vec<(&'static str, &'static str, &Host)> =
        runners.iter().map(|r| (r.label, "tbpf", &r.host)).collect();
    if let Some(first) = runners.first() {
        for tag in [ModuleTag::LEGACY, ModuleTag::WASM] {
            if let (Some(label), Some(name)) = (other_label(&first.host, tag), tag.name()) {
                engines.push((label, name, &first.host));
            }
        }
    }
    let mut cases = Vec::new();
    for (engine, tag, host) in &engines {
        let mut add = |contract: &str,
                       name: &str,
                       setup: Vec<(Hash, Call, Vec<u8>)>,
                       call,
                       params: Vec<u8>| {
            if let Some(module) = example(contract, tag) {
                cases.push(Case {
                    name: name.to_owned(),
                    module,
                    setup,
                    from: alice,
                    call,
                    params,
                    engine,
                    host,
                });
            }
        };
        add(
            "counter",
            "counter.increment",
            vec![],
            Call::Entry(0),
            vec![],
        );
        add(
            "token",
            "token.transfer",
            vec![(alice, Call::Entry(0), mint.clone())],
            Call::Entry(1),
            transfer.clone(),
        );
        add(
            "compute",
            "compute.hash_chain(10000)",
            vec![],
            Call::Entry(0),
            10_000u32.to_le_bytes().to_vec(),
        );
        add(
            "compute",
            "compute.sieve(32768)",
            vec![],
            Call::Entry(1),
            32_768u32.to_le_bytes().to_vec(),
        );
    }
    cases
}

/// Runs `tosvm bench`.
pub(crate) fn bench(ctx: &Ctx, args: &BenchArgs) -> Result<i32, CliError> {
    if args.iterations == 0 {
        return Err(CliError::user("--iterations must be at least 1"));
    }
    if args.adversarial {
        return crate::adversarial::run(ctx, args);
    }
    let runners = runners(ctx)?;
    let custom;
    let cases = match &args.file {
        Some(file) => {
            let call = match (args.entry, args.hook) {
                (Some(id), _) => Call::Entry(id),
                (None, Some(id)) => Call::Hook(id),
                (None, None) => {
                    return Err(CliError::user("bench FILE needs --entry N or --hook N"));
                }
            };
            let (module, _) = crate::module_file::load(file, None)?;
            let params = parse_params(&args.params, &ctx.state)?;
            let name = format!("{} {call}", file.display());
            let hosts: Vec<(&'static str, &Host)> = if module.tag == ModuleTag::TBPF {
                runners.iter().map(|r| (r.label, &r.host)).collect()
            } else {
                let host = &runners[0].host;
                let label = other_label(host, module.tag).ok_or_else(|| {
                    CliError::user(format!("no engine for {} in this binary", module.tag))
                })?;
                vec![(label, host)]
            };
            custom = hosts
                .into_iter()
                .map(|(engine, host)| Case {
                    name: name.clone(),
                    module: module.clone(),
                    setup: vec![],
                    from: named_key("alice"),
                    call,
                    params: params.clone(),
                    engine,
                    host,
                })
                .collect::<Vec<_>>();
            custom
        }
        None => suite(&runners),
    };
    let mut rows = Vec::new();
    for case in &cases {
        let _progress = Progress::start(format!("bench {} on {}", case.name, case.engine));
        for row in measure(case, args)? {
            // Several cases share a module: its preparation is reported once per engine.
            let seen = rows
                .iter()
                .any(|r: &Row| r.gas.is_none() && r.case == row.case && r.engine == row.engine);
            if row.gas.is_some() || !seen {
                rows.push(row);
            }
        }
    }
    // Prepare rows first, grouped by case, in the order cases first appear.
    let mut order: Vec<String> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.gas.is_none())
        .chain(rows.iter().filter(|r| r.gas.is_some()))
    {
        if !order.contains(&r.case) {
            order.push(r.case.clone());
        }
    }
    if !ctx.json {
        outln!(
            "tosvm bench: median of {} timed calls per case after {} warm-up calls, one run; compare the ratios",
            args.iterations,
            args.warmup
        );
        outln!(
            "{:<28} {:<12} {:>12} {:>13} {:>10} {:>8}",
            "case",
            "engine",
            "gas/call",
            "time/call",
            "Mgas/s",
            "vs best"
        );
    }
    for case in &order {
        let group: Vec<&Row> = rows.iter().filter(|r| &r.case == case).collect();
        let best = group.iter().map(|r| r.median).min().unwrap_or_default();
        for r in group {
            let ratio = r.median.as_secs_f64() / best.as_secs_f64().max(1e-12);
            let mgas = r
                .gas
                .map(|g| g as f64 / r.median.as_secs_f64().max(1e-12) / 1e6);
            if ctx.json {
                print_json(&json!({
                    "case": r.case,
                    "engine": r.engine,
                    "gas": r.gas,
                    "median_ns": r.median.as_nanos() as u64,
                    "mgas_per_s": mgas,
                    "ratio_to_best": ratio,
                }));
            } else {
                outln!(
                    "{:<28} {:<12} {:>12} {:>13} {:>10} {:>7.2}x",
                    r.case,
                    r.engine,
                    r.gas.map_or("-".to_owned(), thousands),
                    show_duration(r.median),
                    mgas.map_or("-".to_owned(), |m| format!("{m:.1}")),
                    ratio
                );
            }
        }
    }
    Ok(EXIT_OK)
}

fn show_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}
