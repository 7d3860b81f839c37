//! The subcommands.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tos_engine_api::{Call, Gas, Hash, Height, ModuleTag};
use tos_host::{
    ActivationSchedule, BuiltinConfig, CallReport, ContractModule, DeployRequest, DeployResult,
    EngineOrigin, EngineRegistry, Host, InvokeRequest, TxContext,
};

use crate::args::{
    parse_account, parse_address, parse_asset, parse_call, parse_deposits, parse_hex, parse_params,
};
use crate::error::{CliError, EXIT_CONTRACT_FAILED, EXIT_OK};
use crate::module_file::{self, TagSource, parse_tag};
use crate::output::{
    asset_name, call_json, call_lines, escaped, field, hex32, print_json, printable, show_bytes,
    show_key, thousands,
};
use crate::progress::with_progress;
use crate::state::{BlockAt, Database, OpenMode};
use crate::{Cli, Command, InvokeArgs, ModeArgs};

/// Gas limit of a deploy or call when `--gas` is not given: 10,000,000.
pub(crate) const DEFAULT_GAS_LIMIT: Gas = 10_000_000;

/// Options every command shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// `--json`.
    pub(crate) json: bool,
    /// `--network`.
    pub(crate) network: String,
    /// `--state`.
    pub(crate) state: PathBuf,
    /// `--returns`: how to decode return data.
    pub(crate) returns: Option<String>,
    /// `--events-as`: how to decode event data.
    pub(crate) events_as: Option<String>,
    /// `--profile`: print the gas per syscall of calls.
    pub(crate) profile: bool,
}

/// `--trace` and `--trace-lines`, for every host and call this process makes.
static TRACE_LINES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The most trace lines to keep, or `None` without `--trace`.
pub(crate) fn trace_lines() -> Option<usize> {
    match TRACE_LINES.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Runs `f` inside a trace when `--trace` was given.
pub(crate) fn maybe_traced<T>(f: impl FnOnce() -> T) -> (T, Option<tos_engine_api::trace::Trace>) {
    match trace_lines() {
        Some(n) => {
            let (r, t) = tos_engine_api::trace::record(n, f);
            (r, Some(t))
        }
        None => (f(), None),
    }
}

/// Runs the command of `cli`; returns the exit status when it ran.
pub(crate) fn run(cli: &Cli) -> Result<i32, CliError> {
    let decode = match &cli.command {
        Command::Deploy { params, .. }
        | Command::Run { params, .. }
        | Command::Invoke(InvokeArgs { params, .. })
        | Command::Call(InvokeArgs { params, .. }) => {
            (params.returns.clone(), params.events_as.clone())
        }
        _ => (None, None),
    };
    if cli.trace {
        TRACE_LINES.store(cli.trace_lines.max(1), std::sync::atomic::Ordering::Relaxed);
    }
    let ctx = Ctx {
        profile: cli.profile,
        json: cli.json,
        network: cli.network.clone(),
        state: cli.state.clone(),
        returns: decode.0,
        events_as: decode.1,
    };
    // Refuse a spec that names an unknown type before anything runs.
    for spec in [&ctx.returns, &ctx.events_as].into_iter().flatten() {
        tos_testkit::args::check_spec(spec).map_err(|e| CliError::user(e.0))?;
    }
    match &cli.command {
        Command::Deploy {
            file,
            tag,
            tx,
            params,
            gas,
            mode,
        } => {
            let (module, src) = module_file::load(file, parse_tag(tag)?)?;
            let params = parse_params(params, &ctx.state)?;
            let source = parse_account(&tx.from, "--from")?;
            let host = make_host(&ctx.network, mode)?;
            let deployed =
                deploy_into_state(&host, &ctx.state, &module, params, gas.gas, source, tx.at())?;
            Ok(print_deploy(&ctx, "deploy", &deployed, src, &tx.from))
        }
        Command::Invoke(args) => {
            let (request, source) = invoke_request(&ctx, args)?;
            let host = make_host(&ctx.network, &args.mode)?;
            let db = Database::open(&ctx.state, OpenMode::Existing)?;
            db.bind_network(host.schedule().network())?;
            let tx = &args.tx;
            let invoked = invoke(&host, &db, &request, source, tx.at())?;
            Ok(print_invoke(&ctx, "invoke", &invoked, &tx.from))
        }
        Command::Run {
            file,
            tag,
            ctor_params_hex,
            call,
            tx,
            params,
            gas,
            deposits,
            mode,
        } => {
            let (module, src) = module_file::load(file, parse_tag(tag)?)?;
            let ctor_params = match ctor_params_hex {
                Some(h) => parse_hex(h, "--ctor-params-hex")?,
                None => Vec::new(),
            };
            let call = parse_call(call)?;
            let params = parse_params(params, &ctx.state)?;
            let deposits = parse_deposits(&deposits.deposits)?;
            let source = parse_account(&tx.from, "--from")?;
            let host = make_host(&ctx.network, mode)?;
            let dir = tempfile::tempdir()
                .map_err(|e| CliError::fault(format!("cannot make a temporary state: {e}")))?;
            let db = Database::open(&dir.path().join("state.redb"), OpenMode::Create)?;
            let deployed = deploy(&host, &db, &module, ctor_params, gas.gas, source, tx.at())?;
            if !deployed.result.deployed {
                return Ok(print_deploy(&ctx, "run", &deployed, src, &tx.from));
            }
            let request = InvokeRequest {
                contract: deployed.result.address,
                call,
                params,
                gas_limit: gas.gas,
                deposits,
            };
            // The call runs in the block after the deploy (or at the same --height).
            let invoked = invoke(&host, &db, &request, source, tx.at())?;
            if ctx.json {
                let mut inv = invoke_json(&invoked, &tx.from);
                crate::authoring::add_decoded_json(&ctx, &mut inv, &invoked.report);
                if ctx.profile {
                    inv["profile"] = profile_json(&invoked);
                }
                if invoked.trace.is_some() {
                    inv["trace"] = trace_json(&invoked);
                }
                print_json(&json!({
                    "command": "run",
                    "deploy": deploy_json(&deployed, src, &tx.from),
                    "invoke": inv,
                }));
            } else {
                print_deploy_text(&deployed, src, &tx.from);
                outln!();
                print_invoke_text(&invoked, &tx.from);
                crate::authoring::print_decoded_text(&ctx, &invoked.report);
                if ctx.profile {
                    for line in profile_lines(&invoked) {
                        outln!("{line}");
                    }
                }
                for line in trace_text_lines(&invoked) {
                    outln!("{line}");
                }
            }
            Ok(invoke_exit(&invoked))
        }
        Command::Inspect {
            file,
            tag,
            height,
            disasm,
        } => inspect(&ctx, file, tag, *height, *disasm),
        Command::Storage {
            address,
            key_hex,
            prefix,
        } => storage(&ctx, address, key_hex.as_deref(), prefix),
        Command::Balance { address, asset } => balance(&ctx, address, asset.as_deref()),
        Command::Engines { height } => engines(&ctx, *height),
        Command::Link {
            output,
            inputs,
            any_syscall,
        } => crate::tools::link(&ctx, output, inputs, *any_syscall),
        Command::Asm { input, output } => crate::tools::asm(&ctx, input, output),
        Command::Disasm { input } => crate::tools::disasm(&ctx, input),
        Command::Demo => crate::demo::demo(&ctx),
        Command::Bench(args) => crate::bench::bench(&ctx, args),
        Command::Call(args) => crate::authoring::call(&ctx, args),
        Command::Account { name } => crate::authoring::account(&ctx, name),
        Command::Fund {
            account,
            amount,
            asset,
        } => crate::authoring::fund(&ctx, account, *amount, asset),
        Command::Contracts => crate::authoring::contracts(&ctx),
        Command::State(cmd) => crate::authoring::state(&ctx, cmd),
        Command::Build(args) => crate::build::build(&ctx, args),
    }
}

/// The activation schedule of `--network`: a preset name or a TOML file.
pub(crate) fn schedule(network: &str) -> Result<ActivationSchedule, CliError> {
    if let Some(s) = ActivationSchedule::by_name(network) {
        return Ok(s);
    }
    let path = Path::new(network);
    if !path.exists() {
        return Err(CliError::user(format!(
            "unknown network `{network}`: use mainnet, testnet, devnet or the path of a TOML \
             schedule file"
        )));
    }
    ActivationSchedule::from_toml_file(path).map_err(|e| CliError::user(e.to_string()))
}

/// A host over the built-in engines, every linked plug-in and the `--network` schedule.
pub(crate) fn make_host(network: &str, mode: &ModeArgs) -> Result<Host, CliError> {
    let schedule = schedule(network)?;
    let mut config = BuiltinConfig::default();
    config.set_tracing(trace_lines().is_some());
    if mode.interpreter {
        config.set_tbpf_jit(false);
    } else if mode.jit {
        config.set_tbpf_jit(true);
    }
    let registry = EngineRegistry::builtin(&config)
        .map_err(|e| CliError::fault(format!("cannot start the engines: {e}")))?;
    Host::new(registry, schedule).map_err(|e| CliError::user(e.to_string()))
}

/// The host's refusal as a CLI error; "no engine" says which network and height lack it and,
/// when the state was made on another network, which `--network` to pass.
pub(crate) fn explain_host_error(
    e: tos_host::Error,
    host: &Host,
    db: &Database,
    height: Height,
) -> CliError {
    let tos_host::Error::EngineUnavailable { tag, version } = &e else {
        return e.into();
    };
    let net = host.schedule().network();
    let why = match version {
        Some(v) => format!("it names {tag} version {v}, which this tosvm does not include"),
        None => format!("it runs no {tag} engine there"),
    };
    let hint = match db.network() {
        Ok(Some(made)) if made != net => {
            format!("; this state was made on network `{made}`: pass --network {made}")
        }
        _ => format!("; `tosvm --network {net} engines --height {height}` shows what runs there"),
    };
    CliError::user(format!(
        "cannot run this {tag} contract at height {height} on network `{net}`: {why}{hint}"
    ))
}

/// A deploy that ran.
#[derive(Debug)]
pub(crate) struct Deployed {
    /// The host's result.
    pub(crate) result: DeployResult,
    /// The transaction.
    pub(crate) tx: TxContext,
    /// The constructor's gas limit.
    pub(crate) gas_limit: Gas,
    /// Size of the code.
    pub(crate) code_size: usize,
}

/// A call that ran.
#[derive(Debug)]
pub(crate) struct Invoked {
    /// The host's report.
    pub(crate) report: CallReport,
    /// The request.
    pub(crate) request: InvokeRequest,
    /// The transaction.
    pub(crate) tx: TxContext,
    /// Gas per syscall of the call (its nested calls included).
    pub(crate) profile: tos_syscalls::profile::Profile,
    /// The execution trace, with `--trace`.
    pub(crate) trace: Option<tos_engine_api::trace::Trace>,
}

/// Deploys `module` in one transaction of `db`, committed only when the contract exists
/// afterwards.
pub(crate) fn deploy(
    host: &Host,
    db: &Database,
    module: &ContractModule,
    params: Vec<u8>,
    gas_limit: Gas,
    source: Hash,
    at: BlockAt,
) -> Result<Deployed, CliError> {
    let request = DeployRequest {
        envelope: crate::authoring::envelope_for(module)?,
        params,
        gas_limit,
    };
    db.bind_network(host.schedule().network())?;
    db.transact(|state, meta| {
        let tx = meta.next_tx(source, at)?;
        let result = with_progress(format!("deploying a {} module", module.tag), || {
            host.deploy(state, &tx, &request)
        })
        .map_err(|e| explain_host_error(e, host, db, tx.height))?;
        let commit = result.deployed.then_some(tx.height);
        let deployed = Deployed {
            result,
            tx,
            gas_limit,
            code_size: module.code.len(),
        };
        Ok((deployed, commit))
    })
}

/// [`deploy`] into the state file at `path`, which is created when missing — and removed
/// again when the deploy is refused, so a refused first deploy leaves no file behind.
fn deploy_into_state(
    host: &Host,
    path: &Path,
    module: &ContractModule,
    params: Vec<u8>,
    gas_limit: Gas,
    source: Hash,
    at: BlockAt,
) -> Result<Deployed, CliError> {
    let existed = path.exists();
    let db = Database::open(path, OpenMode::Create)?;
    let r = deploy(host, &db, module, params, gas_limit, source, at);
    let keep = existed || matches!(&r, Ok(d) if d.result.deployed);
    drop(db);
    if !keep {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// The call `args` describe, and who sends it.
pub(crate) fn invoke_request(
    ctx: &Ctx,
    args: &InvokeArgs,
) -> Result<(InvokeRequest, Hash), CliError> {
    let request = InvokeRequest {
        contract: parse_address(&args.address)?,
        call: parse_call(&args.call)?,
        params: parse_params(&args.params, &ctx.state)?,
        gas_limit: args.gas.gas,
        deposits: parse_deposits(&args.deposits.deposits)?,
    };
    Ok((request, parse_account(&args.tx.from, "--from")?))
}

/// Runs `request` in one transaction of `db`, committed only when the call succeeded.
pub(crate) fn invoke(
    host: &Host,
    db: &Database,
    request: &InvokeRequest,
    source: Hash,
    at: BlockAt,
) -> Result<Invoked, CliError> {
    db.transact(|state, meta| {
        let tx = meta.next_tx(source, at)?;
        let ((report, profile), trace) = maybe_traced(|| {
            tos_syscalls::profile::profile(|| {
                with_progress(format!("running {}", request.call), || {
                    host.invoke(state, &tx, request)
                })
            })
        });
        let report = report.map_err(|e| explain_host_error(e, host, db, tx.height))?;
        let commit = report.is_success().then_some(tx.height);
        Ok((
            Invoked {
                report,
                request: request.clone(),
                tx,
                profile,
                trace,
            },
            commit,
        ))
    })
}

fn call_name(call: Call) -> Value {
    match call {
        Call::Entry(id) => json!({ "kind": "entry", "id": id }),
        Call::Hook(id) => json!({ "kind": "hook", "id": id }),
    }
}

/// The deploy object of the JSON output.
pub(crate) fn deploy_json(d: &Deployed, src: TagSource, from: &str) -> Value {
    let r = &d.result;
    json!({
        "address": hex32(&r.address),
        "deployed": r.deployed,
        "tag": r.tag.to_string(),
        "tag_source": src.as_str(),
        "code_hash": hex32(&r.code_hash),
        "code_size": d.code_size,
        "deployer": hex32(&d.tx.source),
        "from": from,
        "height": d.tx.height,
        "timestamp": d.tx.timestamp,
        "tx_hash": hex32(&d.tx.tx_hash),
        "gas_used": r.gas_used,
        "gas_limit": d.gas_limit,
        "deploy_gas": r.deploy_gas,
        "constructor": r.constructor.as_ref().map(|c| call_json(c, d.gas_limit.saturating_sub(r.deploy_gas))),
    })
}

fn print_deploy_text(d: &Deployed, src: TagSource, from: &str) {
    let r = &d.result;
    if r.deployed {
        outln!("{}", field(0, "deployed", hex32(&r.address)));
    } else {
        outln!(
            "{}",
            field(
                0,
                "not deployed",
                "the constructor failed; nothing was stored"
            )
        );
        outln!("{}", field(0, "address", hex32(&r.address)));
    }
    outln!(
        "{}",
        field(0, "tag", format!("{} ({})", r.tag, src.as_str()))
    );
    outln!("{}", field(0, "code hash", hex32(&r.code_hash)));
    outln!(
        "{}",
        field(
            0,
            "code size",
            format!("{} bytes", thousands(d.code_size as u64))
        )
    );
    outln!(
        "{}",
        field(0, "deployer", format!("{} ({from})", hex32(&d.tx.source)))
    );
    outln!(
        "{}",
        field(
            0,
            "height",
            format!("{}  time {}", d.tx.height, d.tx.timestamp)
        )
    );
    outln!("{}", field(0, "tx", hex32(&d.tx.tx_hash)));
    outln!(
        "{}",
        field(
            0,
            "gas",
            format!(
                "{} of {} (deploy {} for {} bytes{})",
                thousands(r.gas_used),
                thousands(d.gas_limit),
                thousands(r.deploy_gas),
                thousands(d.code_size as u64),
                if r.constructor.is_some() {
                    ", then the constructor"
                } else {
                    ""
                }
            )
        )
    );
    match &r.constructor {
        Some(c) => {
            outln!("constructor");
            for line in call_lines(c, d.gas_limit.saturating_sub(r.deploy_gas), 2) {
                outln!("{line}");
            }
        }
        None => outln!(
            "{}",
            field(0, "constructor", "none (the module has no hook 0)")
        ),
    }
}

fn print_deploy(ctx: &Ctx, command: &str, d: &Deployed, src: TagSource, from: &str) -> i32 {
    if ctx.json {
        let mut v = deploy_json(d, src, from);
        v["command"] = json!(command);
        print_json(&v);
    } else {
        print_deploy_text(d, src, from);
    }
    if d.result.deployed {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    }
}

/// The invoke object of the JSON output.
pub(crate) fn invoke_json(i: &Invoked, from: &str) -> Value {
    let mut v = call_json(&i.report, i.request.gas_limit);
    v["contract"] = json!(hex32(&i.request.contract));
    v["call"] = call_name(i.request.call);
    v["params"] = json!(hex::encode(&i.request.params));
    v["deposits"] = json!(
        i.request
            .deposits
            .iter()
            .map(|(a, n)| json!({ "asset": hex32(a), "amount": n }))
            .collect::<Vec<_>>()
    );
    v["caller"] = json!(hex32(&i.tx.source));
    v["from"] = json!(from);
    v["height"] = json!(i.tx.height);
    v["timestamp"] = json!(i.tx.timestamp);
    v["tx_hash"] = json!(hex32(&i.tx.tx_hash));
    v["committed"] = json!(i.report.is_success());
    v
}

pub(crate) fn print_invoke_text(i: &Invoked, from: &str) {
    outln!("{}", field(0, "contract", hex32(&i.request.contract)));
    outln!(
        "{}",
        field(
            0,
            "call",
            format!(
                "{}  params {}",
                i.request.call,
                show_bytes(&i.request.params)
            )
        )
    );
    for (asset, amount) in &i.request.deposits {
        outln!(
            "{}",
            field(0, "deposit", format!("{amount} {}", asset_name(asset)))
        );
    }
    outln!(
        "{}",
        field(0, "caller", format!("{} ({from})", hex32(&i.tx.source)))
    );
    outln!(
        "{}",
        field(
            0,
            "height",
            format!(
                "{}  time {}  tx {}",
                i.tx.height,
                i.tx.timestamp,
                hex32(&i.tx.tx_hash)
            )
        )
    );
    for line in call_lines(&i.report, i.request.gas_limit, 0) {
        outln!("{line}");
    }
}

fn invoke_exit(i: &Invoked) -> i32 {
    if i.report.is_success() {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    }
}

/// `--profile`: the gas per syscall of a call, in JSON.
pub(crate) fn profile_json(i: &Invoked) -> Value {
    json!({
        "syscalls": i.profile.syscalls.iter().map(|(name, s)| json!({
            "name": name,
            "calls": s.calls,
            "gas": s.gas,
        })).collect::<Vec<_>>(),
    })
}

/// `--trace`: the trace and the gas by function, in JSON.
pub(crate) fn trace_json(i: &Invoked) -> Value {
    let Some(t) = &i.trace else {
        return Value::Null;
    };
    json!({
        "lines": t.lines,
        "cut": t.cut,
        "functions": t.functions.iter().map(|(name, gas)| json!({ "name": name, "gas": gas })).collect::<Vec<_>>(),
    })
}

/// `--trace`: the trace lines, whether they were cut, and the gas by function, as text.
pub(crate) fn trace_text_lines(i: &Invoked) -> Vec<String> {
    let Some(t) = &i.trace else {
        return Vec::new();
    };
    let mut lines = vec![field(0, "trace", format!("{} lines", t.lines.len()))];
    lines.extend(t.lines.iter().map(|l| format!("  {l}")));
    if t.cut {
        lines.push(format!(
            "  ... cut at {} lines (--trace-lines N keeps more)",
            t.lines.len()
        ));
    }
    let mut functions: Vec<_> = t.functions.iter().collect();
    functions.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (n, (name, gas)) in functions.into_iter().enumerate() {
        let label = if n == 0 { "gas by fn" } else { "" };
        lines.push(field(
            0,
            label,
            format!("{name:<32} {:>12} gas", thousands(*gas)),
        ));
    }
    lines
}

/// `--profile`: the gas per syscall of a call, as text lines, the costliest first.
pub(crate) fn profile_lines(i: &Invoked) -> Vec<String> {
    let mut rows: Vec<_> = i.profile.syscalls.iter().collect();
    rows.sort_by(|a, b| b.1.gas.cmp(&a.1.gas).then(a.0.cmp(b.0)));
    let total = i.report.outcome.gas_used.max(1);
    let mut lines = Vec::new();
    if rows.is_empty() {
        lines.push(field(0, "profile", "no syscalls"));
    }
    for (n, (name, s)) in rows.into_iter().enumerate() {
        let label = if n == 0 { "profile" } else { "" };
        lines.push(field(
            0,
            label,
            format!(
                "{name:<24} {:>6} calls {:>12} gas  {:>5.1}%",
                thousands(s.calls),
                thousands(s.gas),
                s.gas as f64 * 100.0 / total as f64
            ),
        ));
    }
    lines
}

fn print_invoke(ctx: &Ctx, command: &str, i: &Invoked, from: &str) -> i32 {
    if ctx.json {
        let mut v = invoke_json(i, from);
        v["command"] = json!(command);
        crate::authoring::add_decoded_json(ctx, &mut v, &i.report);
        if ctx.profile {
            v["profile"] = profile_json(i);
        }
        if i.trace.is_some() {
            v["trace"] = trace_json(i);
        }
        print_json(&v);
    } else {
        print_invoke_text(i, from);
        if ctx.profile {
            for line in profile_lines(i) {
                outln!("{line}");
            }
        }
        for line in trace_text_lines(i) {
            outln!("{line}");
        }
        crate::authoring::print_decoded_text(ctx, &i.report);
    }
    invoke_exit(i)
}

fn inspect(
    ctx: &Ctx,
    file: &Path,
    tag: &str,
    height: Option<Height>,
    disasm: bool,
) -> Result<i32, CliError> {
    let (module, src) = module_file::load(file, parse_tag(tag)?)?;
    let host = make_host(
        &ctx.network,
        &ModeArgs {
            interpreter: false,
            jit: false,
        },
    )?;
    let schedule = host.schedule();
    let height = height.unwrap_or_else(|| schedule.tag(module.tag).map_or(0, |s| s.deploy_from));
    let version = schedule.engine_version(module.tag, height);
    let engine = version.and_then(|v| {
        host.registry()
            .engines()
            .find(|e| e.tag == module.tag && e.version == v)
    });
    let deploy_check = schedule.check_deploy(module.tag, height);
    let prepared = match with_progress("verifying the module", || host.prepare(&module, height)) {
        Ok(p) => Ok(p),
        Err(tos_host::Error::Load { source, .. }) => Err(("refused", source.to_string())),
        Err(e @ tos_host::Error::EngineUnavailable { .. }) => Err(("no engine", e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let (verdict, reason) = match &prepared {
        Ok(_) => ("ok", None),
        Err((v, r)) => (*v, Some(r.clone())),
    };
    let info = prepared.as_ref().ok().map(|p| p.info().clone());
    let disassembly = match (&prepared, disasm) {
        (Ok(p), true) if module.tag == ModuleTag::WASM => {
            // The engine keeps only compiled code; the code itself is printed from the file,
            // as wasm text, after the engine's summary of imports, exports and memory.
            let text = wasmprinter::print_bytes(&module.code)
                .unwrap_or_else(|e| format!(";; cannot print the code: {e}"));
            Some(format!("{}\n{text}", p.disassemble().unwrap_or_default()))
        }
        (Ok(p), true) => p.disassemble(),
        _ => None,
    };
    let code_hash = module.code_hash();
    if ctx.json {
        print_json(&json!({
            "command": "inspect",
            "file": file.display().to_string(),
            "tag": module.tag.to_string(),
            "tag_source": src.as_str(),
            "network": schedule.network(),
            "height": height,
            "engine": engine.as_ref().map(|e| json!({ "name": e.name, "version": e.version })),
            "code_size": module.code.len(),
            "code_hash": hex32(&code_hash),
            "verdict": verdict,
            "reason": reason,
            "deploy_allowed": deploy_check.is_ok(),
            "deploy_reason": deploy_check.as_ref().err().map(ToString::to_string),
            "entries": info.as_ref().map(|i| i.entries.entries.iter().copied().collect::<Vec<_>>()),
            "hooks": info.as_ref().map(|i| i.entries.hooks.iter().copied().collect::<Vec<_>>()),
            "self_dispatch": info.as_ref().map(|i| i.entries.self_dispatch),
            "imports": info.as_ref().map(|i| i.imports.clone()),
            "disassembly": disassembly,
        }));
    } else {
        outln!("{}", field(0, "file", file.display()));
        outln!(
            "{}",
            field(0, "tag", format!("{} ({})", module.tag, src.as_str()))
        );
        let engine_text = match (&engine, version) {
            (Some(e), _) => format!("{} version {}", e.name, e.version),
            (None, Some(v)) => format!("none (the schedule names version {v}, not compiled in)"),
            (None, None) => format!("none (not scheduled at height {height})"),
        };
        outln!("{}", field(0, "engine", engine_text));
        outln!(
            "{}",
            field(
                0,
                "network",
                format!("{} at height {height}", schedule.network())
            )
        );
        outln!(
            "{}",
            field(
                0,
                "size",
                format!("{} bytes", thousands(module.code.len() as u64))
            )
        );
        outln!("{}", field(0, "code hash", hex32(&code_hash)));
        match &reason {
            None => outln!("{}", field(0, "verified", "ok")),
            Some(r) => outln!("{}", field(0, "verified", format!("{verdict}: {r}"))),
        }
        match &deploy_check {
            Ok(()) => outln!("{}", field(0, "deploy", "allowed")),
            Err(e) => outln!("{}", field(0, "deploy", format!("refused: {e}"))),
        }
        if let Some(info) = &info {
            let list = |ids: Vec<String>| {
                if ids.is_empty() {
                    "none".to_owned()
                } else {
                    ids.join(", ")
                }
            };
            if info.entries.self_dispatch {
                outln!(
                    "{}",
                    field(
                        0,
                        "entries",
                        "any (the module dispatches every call itself)"
                    )
                );
            } else {
                outln!(
                    "{}",
                    field(
                        0,
                        "entries",
                        list(info.entries.entries.iter().map(|i| i.to_string()).collect())
                    )
                );
                outln!(
                    "{}",
                    field(
                        0,
                        "hooks",
                        list(info.entries.hooks.iter().map(|i| i.to_string()).collect())
                    )
                );
            }
            outln!("{}", field(0, "syscalls", list(info.imports.clone())));
        }
        if disasm {
            match &disassembly {
                Some(d) => {
                    outln!("disassembly");
                    for line in d.lines() {
                        outln!("  {line}");
                    }
                }
                None if prepared.is_ok() => {
                    outln!("{}", field(0, "disassembly", "not offered by this engine"));
                }
                None => {}
            }
        }
    }
    Ok(if verdict == "ok" {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    })
}

fn storage(
    ctx: &Ctx,
    address: &str,
    key_hex: Option<&str>,
    prefix: &[String],
) -> Result<i32, CliError> {
    let contract = parse_address(address)?;
    let key = key_hex.map(|k| parse_hex(k, "key")).transpose()?;
    let prefix = tos_testkit::args::pack(prefix, &crate::args::StateNames { state: &ctx.state })
        .map_err(|e| CliError::user(format!("--prefix: {e}")))?;
    let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
    let reader = db.reader()?;
    if reader.contract(&contract)?.is_none() {
        return Err(CliError::user(format!(
            "no contract at {} in {} (`tosvm contracts` lists them)",
            hex32(&contract),
            ctx.state.display()
        )));
    }
    match key {
        Some(key) => {
            let value = reader.storage(&contract, &key)?;
            if ctx.json {
                print_json(&json!({
                    "command": "storage",
                    "contract": hex32(&contract),
                    "key": hex::encode(&key),
                    "key_text": printable(&key),
                    "key_escaped": escaped(&key),
                    "value": value.as_ref().map(hex::encode),
                    "value_text": value.as_deref().and_then(printable),
                }));
            } else {
                let shown = value
                    .as_deref()
                    .map_or_else(|| "(absent)".to_owned(), show_bytes);
                outln!("{}  {}  {shown}", show_key(&key), escaped(&key));
            }
        }
        None => {
            let all: Vec<_> = reader
                .storage_all(&contract)?
                .into_iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .collect();
            if ctx.json {
                print_json(&json!({
                    "command": "storage",
                    "contract": hex32(&contract),
                    "prefix": hex::encode(&prefix),
                    "entries": all.iter().map(|(k, v)| json!({
                        "key": hex::encode(k),
                        "key_text": printable(k),
                        "key_escaped": escaped(k),
                        "value": hex::encode(v),
                        "value_text": printable(v),
                    })).collect::<Vec<_>>(),
                }));
            } else if all.is_empty() {
                if prefix.is_empty() {
                    outln!("(no storage)");
                } else {
                    outln!("(no key starts with {})", escaped(&prefix));
                }
            } else {
                let hexes: Vec<String> = all.iter().map(|(k, _)| show_key(k)).collect();
                let texts: Vec<String> = all.iter().map(|(k, _)| escaped(k)).collect();
                let w1 = hexes.iter().map(String::len).max().unwrap_or(0);
                let w2 = texts.iter().map(|t| t.chars().count()).max().unwrap_or(0);
                for ((h, t), (_, v)) in hexes.iter().zip(&texts).zip(&all) {
                    outln!("{h:<w1$}  {t:<w2$}  {}", show_bytes(v));
                }
            }
        }
    }
    Ok(EXIT_OK)
}

fn balance(ctx: &Ctx, address: &str, asset: Option<&str>) -> Result<i32, CliError> {
    let account = parse_account(address, "address")?;
    let asset = asset.map(parse_asset).transpose()?;
    let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
    let reader = db.reader()?;
    let balances = match asset {
        Some(a) => vec![(a, reader.balance(&account, &a)?)],
        None => reader.balances(&account)?,
    };
    let mut rows = Vec::new();
    for (a, amount) in &balances {
        let name = reader
            .asset(a)?
            .map(|info| String::from_utf8_lossy(&info.name).into_owned());
        rows.push((*a, *amount, name));
    }
    if ctx.json {
        print_json(&json!({
            "command": "balance",
            "account": hex32(&account),
            "balances": rows.iter().map(|(a, n, name)| json!({
                "asset": hex32(a),
                "amount": n,
                "name": name,
            })).collect::<Vec<_>>(),
        }));
    } else {
        outln!("{}", field(0, "account", hex32(&account)));
        if rows.is_empty() {
            outln!("{}", field(0, "balances", "none"));
        }
        for (a, n, name) in &rows {
            let label = match name {
                Some(name) => format!("{} ({name})", asset_name(a)),
                None => asset_name(a),
            };
            outln!("{}", field(2, &label, n));
        }
    }
    Ok(EXIT_OK)
}

fn origin_name(o: EngineOrigin) -> &'static str {
    match o {
        EngineOrigin::Builtin => "built-in",
        EngineOrigin::Plugin => "plug-in",
        EngineOrigin::Registered => "registered",
    }
}

fn engines(ctx: &Ctx, height: Option<Height>) -> Result<i32, CliError> {
    let host = make_host(
        &ctx.network,
        &ModeArgs {
            interpreter: false,
            jit: false,
        },
    )?;
    let height = match height {
        Some(h) => h,
        None if ctx.state.exists() => {
            let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
            db.meta()?.height.saturating_add(1)
        }
        None => 1,
    };
    let schedule = host.schedule();
    let registered: Vec<_> = host.registry().engines().collect();
    let mut tags: Vec<ModuleTag> = ModuleTag::KNOWN.to_vec();
    for (t, _) in schedule.tags() {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let protocol = host.protocol_at(height);
    let features = protocol.features();
    let mut syscalls: Vec<String> = protocol
        .syscalls()
        .iter()
        .map(|s| s.def.name.to_owned())
        .collect();
    syscalls.sort();
    // Syscalls linked into this binary whose feature the schedule never activates: they add
    // nothing to consensus until it does.
    let scheduled: Vec<&str> = schedule.features().map(|(n, _)| n).collect();
    let mut unscheduled: Vec<(String, &str)> = match tos_syscalls::SyscallTable::global() {
        Ok(t) => t
            .iter()
            .filter(|d| !scheduled.contains(&d.feature))
            .map(|d| (d.name.to_owned(), d.feature))
            .collect(),
        Err(e) => return Err(CliError::fault(format!("the syscall table is broken: {e}"))),
    };
    unscheduled.sort();
    let gas_version = protocol.gas().version();
    let table_digest = hex32(&protocol.table_digest());
    let protocol_digest = hex32(&protocol.digest());
    let rows: Vec<_> = tags
        .iter()
        .map(|&tag| {
            let deploy = schedule.check_deploy(tag, height);
            let version = schedule.engine_version(tag, height);
            let available = version.is_some_and(|v| host.registry().contains(tag, v));
            (tag, deploy, version, available)
        })
        .collect();
    if ctx.json {
        print_json(&json!({
            "command": "engines",
            "network": schedule.network(),
            "height": height,
            "engines": registered.iter().map(|e| json!({
                "name": e.name,
                "tag": e.tag.to_string(),
                "tag_id": e.tag.0,
                "version": e.version,
                "origin": origin_name(e.origin),
            })).collect::<Vec<_>>(),
            "tags": rows.iter().map(|(tag, deploy, version, available)| json!({
                "tag": tag.to_string(),
                "tag_id": tag.0,
                "deploy_allowed": deploy.is_ok() && *available,
                "deploy_reason": match (deploy, available) {
                    (Err(e), _) => Some(e.to_string()),
                    (Ok(()), false) => Some(format!("no engine for {tag} is compiled in")),
                    (Ok(()), true) => None,
                },
                "engine_version": version,
                "engine_available": available,
            })).collect::<Vec<_>>(),
            "features": features.iter().collect::<Vec<_>>(),
            "syscalls": syscalls,
            "table_digest": table_digest,
            "gas_schedule_version": gas_version,
            "protocol_digest": protocol_digest,
            "protocol_from_height": protocol.from(),
            "max_tx_gas": protocol.max_tx_gas(),
            "intrinsic_gas": protocol.intrinsic(),
            "deploy_gas": { "base": protocol.deploy_cost(0), "per_byte": protocol.gas().get(tos_host::costs::DEPLOY_PER_BYTE) },
            "unscheduled_syscalls": unscheduled.iter().map(|(n, f)| json!({"name": n, "feature": f})).collect::<Vec<_>>(),
        }));
        return Ok(EXIT_OK);
    }
    outln!(
        "{}",
        field(
            0,
            "network",
            format!("{} at height {height}", schedule.network())
        )
    );
    outln!("engines compiled in");
    if registered.is_empty() {
        outln!("  none");
    }
    for e in &registered {
        outln!(
            "  {:<8} tag {} ({}), version {}, {}",
            e.name,
            e.tag.0,
            e.tag,
            e.version,
            origin_name(e.origin)
        );
    }
    outln!("at height {height}");
    for (tag, deploy, version, available) in &rows {
        let serving = match (version, available) {
            (Some(v), true) => format!("runs on version {v}"),
            (Some(v), false) => format!("version {v} scheduled but not compiled in"),
            (None, _) => "not scheduled".to_owned(),
        };
        let dep = match (deploy, available) {
            (Ok(()), true) => "deploys allowed".to_owned(),
            (Ok(()), false) => "deploys refused: no engine compiled in".to_owned(),
            (Err(e), _) => format!("deploys refused: {e}"),
        };
        outln!("  {:<8} {serving}; {dep}", tag.to_string());
    }
    let feats: Vec<&str> = features.iter().collect();
    outln!(
        "{}",
        field(
            0,
            "features",
            if feats.is_empty() {
                "none".to_owned()
            } else {
                feats.join(", ")
            }
        )
    );
    outln!(
        "{}",
        field(0, "syscalls", format!("{} live", syscalls.len()))
    );
    for chunk in syscalls.chunks(4) {
        outln!("  {}", chunk.join(", "));
    }
    outln!("{}", field(0, "table digest", &table_digest));
    outln!(
        "{}",
        field(
            0,
            "gas schedule",
            format!(
                "version {gas_version} (in force from height {})",
                protocol.from()
            )
        )
    );
    outln!(
        "{}",
        field(
            0,
            "gas",
            format!(
                "{} per call, deploys {} + {} per byte, at most {} per transaction",
                protocol.intrinsic(),
                protocol.deploy_cost(0),
                protocol
                    .gas()
                    .get(tos_host::costs::DEPLOY_PER_BYTE)
                    .unwrap_or_default(),
                protocol.max_tx_gas()
            )
        )
    );
    outln!("{}", field(0, "protocol digest", &protocol_digest));
    if !unscheduled.is_empty() {
        outln!("linked syscalls no schedule activates (not live anywhere on this network)");
        for (name, feature) in &unscheduled {
            outln!("  {name} (feature {feature})");
        }
    }
    Ok(EXIT_OK)
}
