//! The commands for contract authors: `call` (a dry run), `account`, `fund`, `contracts`,
//! `state check|export|import|rewind`, and the decoding of return and event data.

use std::io::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use tos_engine_api::{Hash, ModuleTag};
use tos_host::{
    AssetInfo, CallReport, ChangeSet, ContractModule, DEFAULT_MAX_MODULE_SIZE, StoredContract,
    StoredEntries,
};

use crate::args::{StateNames, parse_account, read_limited};
use crate::commands::{Ctx, Invoked, invoke_json, make_host, print_invoke_text};
use crate::error::{CliError, EXIT_CONTRACT_FAILED, EXIT_OK};
use crate::output::{asset_name, escaped, field, hex32, print_json, show_bytes, thousands};
use crate::progress::with_progress;
use crate::state::{ChainMeta, Content, Database, DryRun, OpenMode, STATE_FORMAT, damaged_message};
use crate::{InvokeArgs, StateCommand};

/// The name and version of the export format (`tosvm state export`).
pub(crate) const EXPORT_FORMAT: &str = "tosvm-state";
/// The export format's version; an import refuses any other.
pub(crate) const EXPORT_VERSION: u64 = 1;
/// Largest export `tosvm state import` reads: 256 MiB.
const MAX_EXPORT: usize = 256 * 1024 * 1024;

/// The envelope a deploy sends: the plain one, or — when the code plus the plain envelope's
/// 5-byte header is over the 1 MiB cap, so a module of exactly 1 MiB deploys — the
/// compressed one, whose cap applies to the decompressed code.
///
/// # Errors
/// A user error naming the size when the code itself is over the cap, or when it does not
/// compress enough to fit.
pub(crate) fn envelope_for(module: &ContractModule) -> Result<Vec<u8>, CliError> {
    let plain = module.encode();
    if !plain.is_empty() && plain.len() <= DEFAULT_MAX_MODULE_SIZE {
        return Ok(plain);
    }
    if module.code.len() > DEFAULT_MAX_MODULE_SIZE {
        return Err(CliError::user(format!(
            "the module's code is {} bytes, over the limit of {} bytes (1 MiB)",
            thousands(module.code.len() as u64),
            thousands(DEFAULT_MAX_MODULE_SIZE as u64)
        )));
    }
    let compressed = module.encode_compressed();
    if compressed.is_empty() || compressed.len() > DEFAULT_MAX_MODULE_SIZE {
        return Err(CliError::user(format!(
            "the module's code is {} bytes: with the envelope's 5-byte header it is over the \
             1 MiB cap, and it does not compress below it",
            thousands(module.code.len() as u64)
        )));
    }
    Ok(compressed)
}

/// Adds `return_decoded` and each event's `decoded` (per `--returns` / `--events-as`) to a
/// call object; a value that does not decode gets `{"error": …}`.
pub(crate) fn add_decoded_json(ctx: &Ctx, v: &mut Value, report: &CallReport) {
    let decode = |spec: &str, data: &[u8]| match tos_testkit::args::decode(spec, data) {
        Ok(vals) => json!(
            vals.iter()
                .map(|d| json!({ "type": d.type_name(), "value": d.json_value() }))
                .collect::<Vec<_>>()
        ),
        Err(e) => json!({ "error": e.0 }),
    };
    if let Some(spec) = &ctx.returns {
        v["return_decoded"] = decode(spec, &report.outcome.return_data);
    }
    if let Some(spec) = &ctx.events_as
        && let Some(events) = v["events"].as_array_mut()
    {
        for (e, ev) in events.iter_mut().zip(&report.events) {
            e["decoded"] = decode(spec, &ev.data);
        }
    }
}

/// Prints the decoded return and event data (per `--returns` / `--events-as`).
pub(crate) fn print_decoded_text(ctx: &Ctx, report: &CallReport) {
    let show = |spec: &str, data: &[u8]| match tos_testkit::args::decode(spec, data) {
        Ok(vals) => vals
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("(does not decode: {e})"),
    };
    if let Some(spec) = &ctx.returns {
        outln!(
            "{}",
            field(0, "decoded", show(spec, &report.outcome.return_data))
        );
    }
    if let Some(spec) = &ctx.events_as {
        for e in &report.events {
            outln!(
                "{}",
                field(0, "event", format!("#{} {}", e.id, show(spec, &e.data)))
            );
        }
    }
}

/// `tosvm call`: the call on the current state, read-only; nothing commits.
pub(crate) fn call(ctx: &Ctx, args: &InvokeArgs) -> Result<i32, CliError> {
    let (request, source) = crate::commands::invoke_request(ctx, args)?;
    let (call, tx) = (request.call, &args.tx);
    let host = make_host(&ctx.network, &args.mode)?;
    let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
    db.bind_network(host.schedule().network())?;
    let meta = db.meta()?;
    let txc = meta.next_tx(source, tx.at())?;
    let mut dry = DryRun::new(db.reader()?);
    let ((report, profile), trace) = crate::commands::maybe_traced(|| {
        tos_syscalls::profile::profile(|| {
            with_progress(format!("running {call} (dry run)"), || {
                host.invoke(&mut dry, &txc, &request)
            })
        })
    });
    let report =
        report.map_err(|e| crate::commands::explain_host_error(e, &host, &db, txc.height))?;
    let invoked = Invoked {
        report,
        request,
        tx: txc,
        profile,
        trace,
    };
    let changes = dry.changes.unwrap_or_default();
    if ctx.json {
        let mut v = invoke_json(&invoked, &tx.from);
        v["command"] = json!("call");
        v["committed"] = json!(false);
        v["chain_height"] = json!(meta.height);
        v["would_write"] = would_write_json(&changes);
        add_decoded_json(ctx, &mut v, &invoked.report);
        if ctx.profile {
            v["profile"] = crate::commands::profile_json(&invoked);
        }
        if invoked.trace.is_some() {
            v["trace"] = crate::commands::trace_json(&invoked);
        }
        print_json(&v);
    } else {
        print_invoke_text(&invoked, &tx.from);
        print_decoded_text(ctx, &invoked.report);
        if ctx.profile {
            for line in crate::commands::profile_lines(&invoked) {
                outln!("{line}");
            }
        }
        for line in crate::commands::trace_text_lines(&invoked) {
            outln!("{line}");
        }
        for line in would_write_lines(&changes) {
            outln!("{line}");
        }
        outln!(
            "{}",
            field(
                0,
                "committed",
                format!(
                    "no (dry run: nothing was written; the chain stays at height {})",
                    meta.height
                )
            )
        );
    }
    Ok(if invoked.report.is_success() {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    })
}

fn would_write_json(c: &ChangeSet) -> Value {
    json!({
        "storage": c.storage.iter().map(|((contract, key), v)| json!({
            "contract": hex32(contract),
            "key": hex::encode(key),
            "value": v.as_ref().map(hex::encode),
        })).collect::<Vec<_>>(),
        "balances": c.balances.iter().map(|((account, asset), n)| json!({
            "account": hex32(account),
            "asset": hex32(asset),
            "amount": n,
        })).collect::<Vec<_>>(),
        "assets": c.assets.keys().map(hex32).collect::<Vec<_>>(),
    })
}

fn would_write_lines(c: &ChangeSet) -> Vec<String> {
    let mut lines = Vec::new();
    for ((contract, key), v) in &c.storage {
        let value = v
            .as_deref()
            .map_or_else(|| "(deleted)".to_owned(), show_bytes);
        lines.push(field(
            0,
            if lines.is_empty() { "would write" } else { "" },
            format!("{} {} = {value}", &hex32(contract)[..8], escaped(key)),
        ));
    }
    for ((account, asset), n) in &c.balances {
        lines.push(field(
            0,
            if lines.is_empty() { "would write" } else { "" },
            format!(
                "balance of {} = {n} {}",
                &hex32(account)[..8],
                asset_name(asset)
            ),
        ));
    }
    lines
}

/// `tosvm account NAME`.
pub(crate) fn account(ctx: &Ctx, name: &str) -> Result<i32, CliError> {
    let key = parse_account(name, "account")?;
    if ctx.json {
        print_json(&json!({ "command": "account", "name": name, "key": hex32(&key) }));
    } else {
        outln!("{}", hex32(&key));
    }
    Ok(EXIT_OK)
}

/// `tosvm fund ACCOUNT AMOUNT [--asset A]`.
pub(crate) fn fund(ctx: &Ctx, account: &str, amount: u64, asset: &str) -> Result<i32, CliError> {
    let key = parse_account(account, "account")?;
    let names = StateNames { state: &ctx.state };
    let asset_id = match asset {
        a if a.eq_ignore_ascii_case("native") || a.eq_ignore_ascii_case("tos") => {
            tos_engine_api::NATIVE_ASSET
        }
        a => {
            let packed = tos_testkit::args::pack(&[format!("asset:{a}")], &names)
                .map_err(|e| CliError::user(format!("--asset: {e}")))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(&packed);
            h
        }
    };
    let db = Database::open(&ctx.state, OpenMode::Create)?;
    let balance = db.fund(&key, &asset_id, amount)?;
    if ctx.json {
        print_json(&json!({
            "command": "fund",
            "account": hex32(&key),
            "from": account,
            "asset": hex32(&asset_id),
            "amount": amount,
            "balance": balance,
        }));
    } else {
        outln!(
            "{}",
            field(0, "account", format!("{} ({account})", hex32(&key)))
        );
        outln!(
            "{}",
            field(
                0,
                "funded",
                format!("{amount} {}  balance {balance}", asset_name(&asset_id))
            )
        );
    }
    Ok(EXIT_OK)
}

/// `tosvm contracts`.
pub(crate) fn contracts(ctx: &Ctx) -> Result<i32, CliError> {
    let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
    let rows = db.reader()?.contracts_all()?;
    if ctx.json {
        print_json(&json!({
            "command": "contracts",
            "contracts": rows.iter().map(|r| {
                let c = &r.contract;
                json!({
                    "address": hex32(&r.address),
                    "tag": c.module.tag.to_string(),
                    "code_hash": hex32(&c.code_hash),
                    "code_size": c.module.code.len(),
                    "deployed_at": c.deployed_at,
                    "deployer": hex32(&c.deployer),
                    "entries": &*c.entries.entries,
                    "hooks": &*c.entries.hooks,
                    "self_dispatch": c.entries.self_dispatch,
                })
            }).collect::<Vec<_>>(),
        }));
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        outln!("(no contracts)");
    }
    for r in &rows {
        let c = &r.contract;
        outln!(
            "{}  {:<6}  code {}  {:>9} bytes  height {}",
            hex32(&r.address),
            c.module.tag.to_string(),
            &hex32(&c.code_hash)[..16],
            thousands(c.module.code.len() as u64),
            c.deployed_at
        );
    }
    Ok(EXIT_OK)
}

/// `tosvm state …`.
pub(crate) fn state(ctx: &Ctx, cmd: &StateCommand) -> Result<i32, CliError> {
    match cmd {
        StateCommand::Check => check(ctx),
        StateCommand::Export { file } => export(ctx, file),
        StateCommand::Import { file, force } => import(ctx, file, *force),
        StateCommand::Rewind { height } => {
            let db = Database::open(&ctx.state, OpenMode::Existing)?;
            let before = db.meta()?;
            let (after, undone) = db.rewind(*height)?;
            if ctx.json {
                print_json(&json!({
                    "command": "state rewind",
                    "previous_height": before.height,
                    "height": after.height,
                    "undone": undone,
                    "txs": after.txs,
                }));
            } else {
                outln!(
                    "{}",
                    field(
                        0,
                        "height",
                        format!("{} (was {})", after.height, before.height)
                    )
                );
                outln!(
                    "{}",
                    field(
                        0,
                        "undone",
                        format!(
                            "{undone} commits (transactions and funds above height {})",
                            after.height
                        )
                    )
                );
            }
            Ok(EXIT_OK)
        }
    }
}

/// What `state check` verified.
fn check(ctx: &Ctx) -> Result<i32, CliError> {
    // Opening checks the format and the content digest (a failure is the "damaged" error).
    let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
    let r = db.reader()?;
    let meta = db.meta()?;
    let mut problems: Vec<String> = Vec::new();
    let contracts = r.contracts_all()?;
    let headers = r.headers_raw()?;
    for row in &contracts {
        let c = &row.contract;
        if *blake3::hash(&c.module.code).as_bytes() != c.code_hash {
            problems.push(format!(
                "contract {}: its code does not hash to its code hash",
                hex32(&row.address)
            ));
        }
        let header = borsh::to_vec(&c.header()).unwrap_or_default();
        if !headers
            .iter()
            .any(|(a, h)| *a == row.address && *h == header)
        {
            problems.push(format!(
                "contract {}: its header is missing or differs from the contract",
                hex32(&row.address)
            ));
        }
    }
    if headers.len() != contracts.len() {
        problems.push(format!(
            "{} contract headers for {} contracts",
            headers.len(),
            contracts.len()
        ));
    }
    let assets = r.assets_all()?;
    let storage = r.storage_everything()?;
    let balances = r.balances_all()?;
    if meta.height == u64::MAX {
        problems.push(
            "the chain height is u64::MAX: no block can follow (`tosvm state rewind HEIGHT`)"
                .to_owned(),
        );
    }
    let (digest, recorded) = r.digests()?;
    let structure = redb_structure(db.path());
    if let Err(e) = &structure {
        problems.push(e.clone());
    }
    let ok = problems.is_empty();
    if ctx.json {
        print_json(&json!({
            "command": "state check",
            "state": ctx.state.display().to_string(),
            "ok": ok,
            "problems": problems,
            "format": STATE_FORMAT,
            "network": db.network()?,
            "height": meta.height,
            "txs": meta.txs,
            "contracts": contracts.len(),
            "storage_entries": storage.len(),
            "balances": balances.len(),
            "assets": assets.len(),
            "digest": hex::encode(&digest),
            "digest_recorded": recorded.is_some(),
            "structure": structure.as_ref().map_or("damaged", |s| s.as_str()),
        }));
    } else {
        outln!("{}", field(0, "state", ctx.state.display()));
        outln!(
            "{}",
            field(
                0,
                "chain",
                format!(
                    "height {}, {} transactions, network {}",
                    meta.height,
                    meta.txs,
                    db.network()?.unwrap_or_else(|| "(not recorded)".into())
                )
            )
        );
        outln!(
            "{}",
            field(
                0,
                "content",
                format!(
                    "{} contracts, {} storage entries, {} balances, {} assets",
                    contracts.len(),
                    storage.len(),
                    balances.len(),
                    assets.len()
                )
            )
        );
        outln!(
            "{}",
            field(
                0,
                "digest",
                format!(
                    "{} ({})",
                    hex::encode(&digest),
                    if recorded.is_some() {
                        "matches the one recorded"
                    } else {
                        "none recorded yet: written at the next commit"
                    }
                )
            )
        );
        outln!(
            "{}",
            field(
                0,
                "structure",
                structure.as_ref().map_or("damaged", |s| s.as_str())
            )
        );
        if ok {
            outln!("{}", field(0, "verdict", "ok"));
        }
    }
    if ok {
        Ok(EXIT_OK)
    } else {
        Err(CliError::fault(damaged_message(
            &ctx.state,
            &problems.join("; "),
        )))
    }
}

/// redb's own integrity check (every page checksum), run on a copy so the state itself is
/// never written.
fn redb_structure(path: &Path) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary copy: {e}"))?;
    let copy = dir.path().join("copy.redb");
    std::fs::copy(path, &copy).map_err(|e| format!("cannot copy the state: {e}"))?;
    let repaired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = repaired.clone();
    let opened = crate::quiet_catch(|| {
        let mut b = redb::Builder::new();
        b.set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::Relaxed));
        b.open(&copy)
    });
    let mut db = match opened {
        Some(Ok(db)) => db,
        Some(Err(e)) => return Err(format!("redb cannot open it: {e}")),
        None => return Err("redb failed opening it".to_owned()),
    };
    match crate::quiet_catch(|| db.check_integrity()) {
        Some(Ok(true)) if !repaired.load(std::sync::atomic::Ordering::Relaxed) => {
            Ok("ok (every page checksum verified)".to_owned())
        }
        Some(Ok(_)) => Ok(
            "ok after redb's recovery (a tosvm was killed mid-write; the next write recovers it)"
                .to_owned(),
        ),
        Some(Err(e)) => Err(format!("redb's integrity check failed: {e}")),
        None => Err("redb failed checking it".to_owned()),
    }
}

/// The whole state as the export document (deterministic: keys sorted, rows in key order).
fn export_json(db: &Database) -> Result<Value, CliError> {
    let r = db.reader()?;
    let meta = db.meta()?;
    let digest = r.content_digest()?;
    let contracts: Vec<Value> = r
        .contracts_all()?
        .iter()
        .map(|row| {
            let c = &row.contract;
            json!({
                "address": hex32(&row.address),
                "tag": c.module.tag.0,
                "code": hex::encode(&c.module.code),
                "code_hash": hex32(&c.code_hash),
                "deployer": hex32(&c.deployer),
                "deployed_at": c.deployed_at,
                "entries": &*c.entries.entries,
                "hooks": &*c.entries.hooks,
                "self_dispatch": c.entries.self_dispatch,
            })
        })
        .collect();
    let storage: Vec<Value> = r
        .storage_everything()?
        .iter()
        .map(|(c, k, v)| json!({ "contract": hex32(c), "key": hex::encode(k), "value": hex::encode(v) }))
        .collect();
    let balances: Vec<Value> = r
        .balances_all()?
        .iter()
        .map(|(a, s, n)| json!({ "account": hex32(a), "asset": hex32(s), "amount": n }))
        .collect();
    let assets: Vec<Value> = r
        .assets_all()?
        .iter()
        .map(|(id, a)| {
            json!({
                "id": hex32(id),
                "creator": hex32(&a.creator),
                "name": hex::encode(&a.name),
                "decimals": a.decimals,
                "supply": a.supply,
            })
        })
        .collect();
    Ok(json!({
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "state_format": STATE_FORMAT,
        "network": db.network()?,
        "height": meta.height,
        "txs": meta.txs,
        "contracts": contracts,
        "storage": storage,
        "balances": balances,
        "assets": assets,
        "digest": hex::encode(digest),
    }))
}

fn export(ctx: &Ctx, file: &Path) -> Result<i32, CliError> {
    let db = Database::open(&ctx.state, OpenMode::ReadOnly)?;
    let doc = export_json(&db)?;
    let text = format!("{doc}\n");
    if file == Path::new("-") {
        let _ = std::io::stdout().write_all(text.as_bytes());
        return Ok(EXIT_OK);
    }
    std::fs::write(file, &text)
        .map_err(|e| CliError::user(format!("cannot write {}: {e}", file.display())))?;
    if ctx.json {
        print_json(&json!({
            "command": "state export",
            "file": file.display().to_string(),
            "bytes": text.len(),
            "digest": doc["digest"],
        }));
    } else {
        outln!(
            "{}",
            field(
                0,
                "exported",
                format!(
                    "{} ({} bytes, {EXPORT_FORMAT} version {EXPORT_VERSION})",
                    file.display(),
                    thousands(text.len() as u64)
                )
            )
        );
    }
    Ok(EXIT_OK)
}

/// Reads the export document in `text` into a state's content; `shown` names it in errors.
fn parse_export(
    text: &str,
    shown: &str,
) -> Result<(Content, Option<String>, Option<String>), CliError> {
    let bad = |what: String| CliError::user(format!("{shown} is not a usable export: {what}"));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    if v["format"] != EXPORT_FORMAT {
        return Err(bad(format!(
            "its \"format\" is {}, not \"{EXPORT_FORMAT}\"",
            v["format"]
        )));
    }
    if v["version"] != EXPORT_VERSION {
        return Err(bad(format!(
            "its version is {}; this tosvm reads version {EXPORT_VERSION}",
            v["version"]
        )));
    }
    let u64_of = |x: &Value, what: &str| {
        x.as_u64()
            .ok_or_else(|| bad(format!("{what} is not a u64: {x}")))
    };
    let bytes_of = |x: &Value, what: &str| -> Result<Vec<u8>, CliError> {
        let s = x
            .as_str()
            .ok_or_else(|| bad(format!("{what} is not a hex string")))?;
        hex::decode(s).map_err(|e| bad(format!("{what}: {e}")))
    };
    let hash_of = |x: &Value, what: &str| -> Result<Hash, CliError> {
        let b = bytes_of(x, what)?;
        <Hash>::try_from(b.as_slice()).map_err(|_| bad(format!("{what} is not 32 bytes")))
    };
    let list = |x: &Value, what: &str| -> Result<Vec<Value>, CliError> {
        x.as_array()
            .cloned()
            .ok_or_else(|| bad(format!("\"{what}\" is not an array")))
    };
    let mut content = Content {
        meta: ChainMeta {
            height: u64_of(&v["height"], "height")?,
            txs: u64_of(&v["txs"], "txs")?,
        },
        ..Content::default()
    };
    let c = &mut content.changes;
    for (i, row) in list(&v["contracts"], "contracts")?.iter().enumerate() {
        let what = format!("contracts[{i}]");
        let tag = u64_of(&row["tag"], &format!("{what}.tag"))?;
        let tag = ModuleTag(
            u8::try_from(tag).map_err(|_| bad(format!("{what}.tag {tag} is not a tag")))?,
        );
        let code = bytes_of(&row["code"], &format!("{what}.code"))?;
        let code_hash = hash_of(&row["code_hash"], &format!("{what}.code_hash"))?;
        if *blake3::hash(&code).as_bytes() != code_hash {
            return Err(bad(format!(
                "{what}: the code does not hash to its code_hash"
            )));
        }
        let ids = |k: &str| -> Result<Vec<u64>, CliError> {
            list(&row[k], &format!("{what}.{k}"))?
                .iter()
                .map(|x| u64_of(x, &format!("{what}.{k}")))
                .collect()
        };
        let entries = StoredEntries {
            entries: ids("entries")?
                .into_iter()
                .map(|x| u16::try_from(x).map_err(|_| bad(format!("{what}: entry {x}"))))
                .collect::<Result<_, _>>()?,
            hooks: ids("hooks")?
                .into_iter()
                .map(|x| u8::try_from(x).map_err(|_| bad(format!("{what}: hook {x}"))))
                .collect::<Result<_, _>>()?,
            self_dispatch: row["self_dispatch"]
                .as_bool()
                .ok_or_else(|| bad(format!("{what}.self_dispatch is not a bool")))?,
        };
        c.contracts.insert(
            hash_of(&row["address"], &format!("{what}.address"))?,
            Some(StoredContract {
                module: ContractModule::new(tag, code),
                code_hash,
                deployer: hash_of(&row["deployer"], &format!("{what}.deployer"))?,
                deployed_at: u64_of(&row["deployed_at"], &format!("{what}.deployed_at"))?,
                entries,
            }),
        );
    }
    for (i, row) in list(&v["storage"], "storage")?.iter().enumerate() {
        let what = format!("storage[{i}]");
        c.storage.insert(
            (
                hash_of(&row["contract"], &format!("{what}.contract"))?,
                bytes_of(&row["key"], &format!("{what}.key"))?,
            ),
            Some(bytes_of(&row["value"], &format!("{what}.value"))?),
        );
    }
    for (i, row) in list(&v["balances"], "balances")?.iter().enumerate() {
        let what = format!("balances[{i}]");
        c.balances.insert(
            (
                hash_of(&row["account"], &format!("{what}.account"))?,
                hash_of(&row["asset"], &format!("{what}.asset"))?,
            ),
            u64_of(&row["amount"], &format!("{what}.amount"))?,
        );
    }
    for (i, row) in list(&v["assets"], "assets")?.iter().enumerate() {
        let what = format!("assets[{i}]");
        let decimals = u64_of(&row["decimals"], &format!("{what}.decimals"))?;
        c.assets.insert(
            hash_of(&row["id"], &format!("{what}.id"))?,
            AssetInfo {
                creator: hash_of(&row["creator"], &format!("{what}.creator"))?,
                name: bytes_of(&row["name"], &format!("{what}.name"))?,
                decimals: u8::try_from(decimals)
                    .map_err(|_| bad(format!("{what}.decimals {decimals}")))?,
                supply: u64_of(&row["supply"], &format!("{what}.supply"))?,
            },
        );
    }
    let network = v["network"].as_str().map(str::to_owned);
    let digest = v["digest"].as_str().map(str::to_owned);
    Ok((content, network, digest))
}

fn import(ctx: &Ctx, file: &Path, force: bool) -> Result<i32, CliError> {
    let shown = file.display().to_string();
    let bytes = read_limited(file, MAX_EXPORT, "export")?;
    let text = String::from_utf8(bytes)
        .map_err(|e| CliError::user(format!("{shown} is not UTF-8 text: {e}")))?;
    let (content, network, digest) = parse_export(&text, &shown)?;
    if ctx.state.exists() && !force {
        return Err(CliError::user(format!(
            "the state {} exists; pass --force to replace it with {shown}",
            ctx.state.display()
        )));
    }
    // Written beside the target, checked, then renamed over it: the old state stays whole
    // until the new one is complete.
    let tmp = ctx.state.with_extension("redb.importing");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let db = Database::open(&tmp, OpenMode::Create)?;
        if let Some(n) = &network {
            db.bind_network(n)?;
        }
        db.replace_all(&content)?;
        let actual = db.reader()?.content_digest()?;
        if let Some(d) = &digest
            && *d != hex::encode(&actual)
        {
            return Err(CliError::user(format!(
                "{shown} is damaged or was edited: its content does not match its \"digest\" \
                 (remove the \"digest\" field to import an edited export)"
            )));
        }
        Ok(actual)
    })();
    let actual = match result {
        Ok(a) => a,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &ctx.state).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::user(format!(
            "cannot move the imported state to {}: {e}",
            ctx.state.display()
        ))
    })?;
    if ctx.json {
        print_json(&json!({
            "command": "state import",
            "file": shown,
            "state": ctx.state.display().to_string(),
            "height": content.meta.height,
            "txs": content.meta.txs,
            "contracts": content.changes.contracts.len(),
            "digest": hex::encode(actual),
        }));
    } else {
        outln!(
            "{}",
            field(
                0,
                "imported",
                format!(
                    "{shown} into {}: {} contracts, height {}",
                    ctx.state.display(),
                    content.changes.contracts.len(),
                    content.meta.height
                )
            )
        );
    }
    Ok(EXIT_OK)
}
