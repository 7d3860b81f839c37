//! `tosvm`: deploy, call and inspect TOS contracts locally, over an embedded redb state.
//!
//! Every subcommand, flag, exit status and the JSON schema are documented in
//! `cli/README.md`. The binary is a thin layer over `tos-host`: it builds a
//! [`Host`](tos_host::Host) from the built-in engines (and every plug-in linked in, such as
//! the wasm engine) and the chosen activation schedule, and keeps the chain state in a redb
//! file that implements [`ContractProvider`](tos_host::ContractProvider) (see `state.rs`).

/// `println!` that ignores a closed stdout (`tosvm demo | head`) instead of panicking.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod adversarial;
mod args;
mod authoring;
mod bench;
mod build;
mod commands;
mod demo;
mod error;
mod module_file;
mod output;
mod progress;
mod state;
mod tools;

use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
// Linking the crate registers the wasm plug-in engine (the host never names it).
use tos_engine_wasm as _;

#[cfg(test)]
use crate::error::CliError;
use crate::error::{EXIT_INTERNAL, EXIT_USER};

/// One example per command, shown under `tosvm --help`.
const EXAMPLES: &str = "Examples:
  tosvm deploy sdk/examples/build/token.so
  tosvm invoke ADDRESS --entry 0 --args addr:bob u64:100
  tosvm call ADDRESS --entry 2 --args addr:bob --returns u64
  tosvm run sdk/examples/build/counter.so --entry 0
  tosvm storage ADDRESS --prefix str:bal
  tosvm balance bob
  tosvm account bob
  tosvm fund bob 1000
  tosvm contracts
  tosvm state check
  tosvm state export backup.json
  tosvm state import backup.json --force
  tosvm state rewind 10
  tosvm inspect sdk/examples/build/token.so --disasm
  tosvm engines --height 5
  tosvm link -o my.so a.o b.o
  tosvm asm engine-legacy/examples/counter.tasm -o counter.tosl
  tosvm disasm counter.tosl
  tosvm demo
  tosvm bench --iterations 300";

/// Local runner for TOS contracts: deploy, call and inspect them over a local state.
#[derive(Debug, Parser)]
#[command(
    name = "tosvm",
    version,
    about,
    long_about = None,
    max_term_width = 100,
    after_help = EXAMPLES
)]
pub(crate) struct Cli {
    /// The state database.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = ".tosvm/state.redb"
    )]
    pub(crate) state: PathBuf,
    /// The activation schedule: mainnet, testnet, devnet, or a TOML schedule file.
    #[arg(
        long,
        global = true,
        value_name = "NAME|FILE",
        default_value = "devnet"
    )]
    pub(crate) network: String,
    /// Print one JSON object per result on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// With invoke, call and run: also print the gas each syscall charged (calls and gas per
    /// syscall; `tos_call` includes its callee's gas).
    #[arg(long, global = true)]
    pub(crate) profile: bool,
    /// With invoke, call and run: also print an execution trace — each TBPF instruction
    /// (function+offset, registers), each legacy opcode, each wasm function entered and left
    /// (with its gas), each syscall of any engine — and the gas of each function's own code
    /// (TBPF and wasm functions, legacy chunks). Results and gas are those of an untraced
    /// run. Example: tosvm call counter --entry 1 --trace
    #[arg(long, global = true)]
    pub(crate) trace: bool,
    /// With --trace: the most trace lines kept (the trace says when it was cut).
    #[arg(long, global = true, value_name = "N", default_value_t = tos_engine_api::trace::DEFAULT_TRACE_LINES)]
    pub(crate) trace_lines: usize,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Deploy a module (TBPF ELF, wasm, legacy, or an envelope) and run its constructor.
    #[command(after_help = "Example:\n  tosvm deploy sdk/examples/build/token.so --from owner")]
    Deploy {
        /// The module file.
        file: PathBuf,
        /// The module's engine; `auto` tells it from the file's first bytes.
        #[arg(long, default_value = "auto", value_name = "auto|tbpf|legacy|wasm")]
        tag: String,
        #[command(flatten)]
        tx: TxArgs,
        #[command(flatten)]
        params: ParamsArgs,
        #[command(flatten)]
        gas: GasArgs,
        #[command(flatten)]
        mode: ModeArgs,
    },
    /// Call an entry or a hook of a deployed contract.
    #[command(
        after_help = "Example:\n  tosvm invoke ADDRESS --entry 1 --args addr:bob u64:30 --events-as addr,addr,u64"
    )]
    Invoke(InvokeArgs),
    /// Deploy a module into a throwaway state and call it once.
    #[command(
        after_help = "Example:\n  tosvm run sdk/examples/build/compute.so --entry 0 --args u32:10000 --returns u64"
    )]
    Run {
        /// The module file.
        file: PathBuf,
        /// The module's engine; `auto` tells it from the file's first bytes.
        #[arg(long, default_value = "auto", value_name = "auto|tbpf|legacy|wasm")]
        tag: String,
        /// Params of the constructor, in hex (default: none).
        #[arg(long, value_name = "HEX")]
        ctor_params_hex: Option<String>,
        #[command(flatten)]
        call: CallArgs,
        #[command(flatten)]
        tx: TxArgs,
        #[command(flatten)]
        params: ParamsArgs,
        #[command(flatten)]
        gas: GasArgs,
        #[command(flatten)]
        deposits: DepositArgs,
        #[command(flatten)]
        mode: ModeArgs,
    },
    /// Describe a module: engine, size, code hash, entries, imports, verification verdict.
    #[command(after_help = "Example:\n  tosvm inspect sdk/examples/build/token.so --disasm")]
    Inspect {
        /// The module file.
        file: PathBuf,
        /// The module's engine; `auto` tells it from the file's first bytes.
        #[arg(long, default_value = "auto", value_name = "auto|tbpf|legacy|wasm")]
        tag: String,
        /// Height whose engine and features verify the module (default: the height from
        /// which the network accepts deploys of the module's engine).
        #[arg(long, value_name = "H")]
        height: Option<u64>,
        /// Also print the engine's disassembly.
        #[arg(long)]
        disasm: bool,
    },
    /// Show one storage value of a contract, or all of them.
    #[command(after_help = "Example:\n  tosvm storage ADDRESS --prefix str:bal")]
    Storage {
        /// The contract's address (64 hex digits).
        address: String,
        /// The key, in hex (all keys when omitted).
        key_hex: Option<String>,
        /// Only keys starting with these typed bytes (e.g. --prefix str:bal, or hex:62616c).
        #[arg(long, value_name = "TYPE:VALUE", num_args = 1.., conflicts_with = "key_hex")]
        prefix: Vec<String>,
    },
    /// Show the balances of an account or contract.
    #[command(after_help = "Example:\n  tosvm balance bob native")]
    Balance {
        /// The account or contract (64 hex digits, or a --from style name).
        address: String,
        /// The asset: `native` or 64 hex digits (all recorded assets when omitted).
        asset: Option<String>,
    },
    /// List the engines and what the schedule activates at a height.
    #[command(after_help = "Example:\n  tosvm engines --height 5")]
    Engines {
        /// The height (default: the next block of the state, 1 without a state).
        #[arg(long, value_name = "H")]
        height: Option<u64>,
    },
    /// Link BPF objects (clang -target bpf) into a TBPF module.
    #[command(after_help = "Example:\n  tosvm link -o my.so a.o b.o")]
    Link {
        /// The output module.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
        /// The objects, in link order.
        #[arg(required = true, value_name = "IN.o")]
        inputs: Vec<PathBuf>,
        /// Accept calls to any undefined function as a syscall import (default: only the
        /// syscalls of the TOS ABI).
        #[arg(long)]
        any_syscall: bool,
    },
    /// Assemble legacy assembly into a legacy module.
    #[command(
        after_help = "Example:\n  tosvm asm engine-legacy/examples/counter.tasm -o counter.tosl"
    )]
    Asm {
        /// The assembly source.
        input: PathBuf,
        /// The output module.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
    },
    /// Disassemble a legacy module.
    #[command(after_help = "Example:\n  tosvm disasm counter.tosl")]
    Disasm {
        /// The legacy module.
        input: PathBuf,
    },
    /// Deploy and call the example contracts on every engine, on a throwaway state.
    #[command(after_help = "Example:\n  tosvm demo --json")]
    Demo,
    /// Measure prepare and call times of the example contracts (or of FILE) on every engine.
    #[command(after_help = "Example:\n  tosvm bench --iterations 300")]
    Bench(bench::BenchArgs),
    /// Build a Rust contract crate into TBPF and wasm modules (docs/RUST.md).
    #[command(after_help = "Example:\n  tosvm build --all sdk/rust/examples/counter")]
    Build(build::BuildArgs),
    /// Run a call on the current state without committing it (a dry run, a view call).
    #[command(
        after_help = "Example:\n  tosvm call ADDRESS --entry 2 --args addr:bob --returns u64"
    )]
    Call(InvokeArgs),
    /// Print the key of an account name (no state needed).
    #[command(after_help = "Example:\n  tosvm account bob")]
    Account {
        /// The name (or 64 hex digits, printed back).
        name: String,
    },
    /// Credit an account (or contract) in the local state: a faucet, no height moves.
    #[command(after_help = "Example:\n  tosvm fund bob 1000 --asset native")]
    Fund {
        /// The account: a name or 64 hex digits.
        account: String,
        /// The amount.
        amount: u64,
        /// The asset: native, 64 hex digits, or the name of an asset a contract created.
        #[arg(long, default_value = "native", value_name = "ASSET")]
        asset: String,
    },
    /// List the deployed contracts: engine, code hash, size, deploy height, deployer.
    #[command(after_help = "Example:\n  tosvm contracts --json")]
    Contracts,
    /// Check, export, import or rewind the state.
    #[command(
        subcommand,
        after_help = "Examples:\n  tosvm state check\n  tosvm state export backup.json\n  \
                      tosvm state import backup.json --force\n  tosvm state rewind 10"
    )]
    State(StateCommand),
}

/// `tosvm state …`.
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Verify the state: it opens, its content matches its digest, every record decodes.
    #[command(after_help = "Example:\n  tosvm state check")]
    Check,
    /// Save the whole state to FILE (JSON, format tosvm-state version 1; see cli/README.md).
    #[command(after_help = "Example:\n  tosvm state export backup.json")]
    Export {
        /// The file to write (`-` for stdout).
        file: PathBuf,
    },
    /// Replace the state with the content of an export FILE.
    #[command(after_help = "Example:\n  tosvm state import backup.json --force")]
    Import {
        /// The export to read.
        file: PathBuf,
        /// Replace an existing state (otherwise the state must not exist yet).
        #[arg(long)]
        force: bool,
    },
    /// Rewind the chain to HEIGHT: undo every transaction and fund above it, newest first.
    #[command(after_help = "Example:\n  tosvm state rewind 10")]
    Rewind {
        /// The new height of the last block.
        height: u64,
    },
}

/// What `invoke` and `call` take: a contract, what to call, and the transaction around it.
#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The contract's address (64 hex digits).
    pub(crate) address: String,
    #[command(flatten)]
    pub(crate) call: CallArgs,
    #[command(flatten)]
    pub(crate) tx: TxArgs,
    #[command(flatten)]
    pub(crate) params: ParamsArgs,
    #[command(flatten)]
    pub(crate) gas: GasArgs,
    #[command(flatten)]
    pub(crate) deposits: DepositArgs,
    #[command(flatten)]
    pub(crate) mode: ModeArgs,
}

/// Who sends the transaction and at which height.
#[derive(Debug, Args)]
pub(crate) struct TxArgs {
    /// The sender: 64 hex digits, or a name hashed into a key (see README).
    #[arg(long = "from", value_name = "KEY", default_value = "alice")]
    pub(crate) from: String,
    /// Run at this block height instead of the next one.
    #[arg(long, value_name = "H")]
    pub(crate) height: Option<u64>,
    /// The block's timestamp, seconds since the Unix epoch (default: the simulated chain's,
    /// 2026-01-01T00:00:00Z plus 5 seconds per block).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) timestamp: Option<u64>,
}

impl TxArgs {
    /// The block the transaction runs in.
    pub(crate) fn at(&self) -> state::BlockAt {
        state::BlockAt {
            height: self.height,
            timestamp: self.timestamp,
        }
    }
}

/// Params of a call, and how to decode what it returns.
#[derive(Debug, Args, Default)]
pub(crate) struct ParamsArgs {
    /// Params, in hex (an optional 0x prefix; empty for none).
    #[arg(long, value_name = "HEX", conflicts_with_all = ["params_file", "args", "args_json"])]
    pub(crate) params_hex: Option<String>,
    /// Params, read from a file.
    #[arg(long, value_name = "F", conflicts_with_all = ["args", "args_json"])]
    pub(crate) params_file: Option<PathBuf>,
    /// Params as typed values packed little-endian in order: u8/u16/u32/u64/u128/i64:N,
    /// bool:true, addr:NAME|HEX64, asset:native|HEX64|NAME, hex:HEX, str:TEXT
    /// (e.g. --args addr:bob u64:30).
    #[arg(long, value_name = "TYPE:VALUE", num_args = 1.., conflicts_with = "args_json")]
    pub(crate) args: Vec<String>,
    /// Params as a JSON array of "TYPE:VALUE" strings or {"TYPE": value} objects
    /// (e.g. '[{"addr":"bob"},{"u64":30}]').
    #[arg(long, value_name = "JSON")]
    pub(crate) args_json: Option<String>,
    /// Decode the return data as these types (e.g. u64, or addr,u64; hex and str take the
    /// rest).
    #[arg(long, value_name = "TYPES")]
    pub(crate) returns: Option<String>,
    /// Decode every event's data as these types (as --returns).
    #[arg(long, value_name = "TYPES")]
    pub(crate) events_as: Option<String>,
}

/// The gas limit.
#[derive(Debug, Args)]
pub(crate) struct GasArgs {
    /// Gas limit, the intrinsic cost included.
    #[arg(long, value_name = "N", default_value_t = commands::DEFAULT_GAS_LIMIT)]
    pub(crate) gas: u64,
}

/// Entry or hook.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct CallArgs {
    /// Call entry N.
    #[arg(long, value_name = "N")]
    pub(crate) entry: Option<u16>,
    /// Call hook N.
    #[arg(long, value_name = "N")]
    pub(crate) hook: Option<u8>,
}

/// Deposits credited to the contract before the call.
#[derive(Debug, Args)]
pub(crate) struct DepositArgs {
    /// Credit AMOUNT of ASSET (`native` or 64 hex digits) to the contract before it runs;
    /// repeatable.
    #[arg(long = "deposit", value_name = "ASSET:AMOUNT")]
    pub(crate) deposits: Vec<String>,
}

/// How TBPF executes.
#[derive(Debug, Args)]
pub(crate) struct ModeArgs {
    /// Interpret TBPF code.
    #[arg(long, conflicts_with = "jit")]
    pub(crate) interpreter: bool,
    /// Compile TBPF code to native code (the default where the JIT is available).
    #[arg(long)]
    pub(crate) jit: bool,
}

thread_local! {
    /// Set while a panic is expected and handled by [`quiet_catch`].
    static QUIET_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic inside it into `None` without printing anything. For third-party
/// code that documents panics on hostile input (redb on a corrupted file).
pub(crate) fn quiet_catch<T>(f: impl FnOnce() -> T) -> Option<T> {
    let before = QUIET_PANIC.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANIC.with(|q| q.set(before));
    r.ok()
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if QUIET_PANIC.with(Cell::get) {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        // A panic inside redb means a damaged state file, not a bug of tosvm: exit 2.
        if let Some(line) = info
            .location()
            .and_then(|l| state::panic_in_database(l.file(), &msg))
        {
            let _ = std::io::stdout().flush();
            let _ = writeln!(std::io::stderr(), "error: {}", line.replace('\n', " "));
            std::process::exit(error::EXIT_FAULT);
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let line = format!("error: internal error (a bug in tosvm): {msg}{place}");
        let _ = writeln!(std::io::stderr(), "{}", line.replace('\n', " "));
        std::process::exit(EXIT_INTERNAL);
    }));
}

/// Folds a multi-line message (a TOML parser's snippet) into one line: its first line and its
/// last, which carry the place and the cause.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => EXIT_USER,
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let code = match commands::run(&cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = std::io::stdout().flush();
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&e.to_string()));
            e.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn quiet_catch_turns_a_panic_into_none() {
        assert_eq!(quiet_catch(|| 5), Some(5));
        assert_eq!(quiet_catch(|| -> u8 { panic!("boom") }), None);
    }

    #[test]
    fn multi_line_messages_become_one_line() {
        assert_eq!(one_line("a"), "a");
        assert_eq!(
            one_line("parse error at 1\n  |\n1 | x\n  ^\ninvalid type\n"),
            "parse error at 1: invalid type"
        );
    }

    #[test]
    fn errors_map_to_exit_codes() {
        assert_eq!(CliError::user("x").exit_code(), EXIT_USER);
        assert_eq!(CliError::fault("x").exit_code(), error::EXIT_FAULT);
    }
}
