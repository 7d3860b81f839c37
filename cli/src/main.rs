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

/// Local runner for TOS contracts: deploy, call and inspect them over a local state.
#[derive(Debug, Parser)]
#[command(name = "tosvm", version, about, long_about = None, max_term_width = 100)]
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
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Deploy a module (TBPF ELF, wasm, legacy, or an envelope) and run its constructor.
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
    Invoke {
        /// The contract's address (64 hex digits).
        address: String,
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
    /// Deploy a module into a throwaway state and call it once.
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
    Storage {
        /// The contract's address (64 hex digits).
        address: String,
        /// The key, in hex (all keys when omitted).
        key_hex: Option<String>,
    },
    /// Show the balances of an account or contract.
    Balance {
        /// The account or contract (64 hex digits, or a --from style name).
        address: String,
        /// The asset: `native` or 64 hex digits (all recorded assets when omitted).
        asset: Option<String>,
    },
    /// List the engines and what the schedule activates at a height.
    Engines {
        /// The height (default: the next block of the state, 1 without a state).
        #[arg(long, value_name = "H")]
        height: Option<u64>,
    },
    /// Link BPF objects (clang -target bpf) into a TBPF module.
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
    Asm {
        /// The assembly source.
        input: PathBuf,
        /// The output module.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: PathBuf,
    },
    /// Disassemble a legacy module.
    Disasm {
        /// The legacy module.
        input: PathBuf,
    },
    /// Deploy and call the example contracts on every engine, on a throwaway state.
    Demo,
    /// Measure prepare and call times of the example contracts (or of FILE) on every engine.
    Bench(bench::BenchArgs),
    /// Build a Rust contract crate into TBPF and wasm modules (docs/RUST.md).
    Build(build::BuildArgs),
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

/// Params of a call.
#[derive(Debug, Args)]
pub(crate) struct ParamsArgs {
    /// Params, in hex (an optional 0x prefix; empty for none).
    #[arg(long, value_name = "HEX", conflicts_with = "params_file")]
    pub(crate) params_hex: Option<String>,
    /// Params, read from a file.
    #[arg(long, value_name = "F")]
    pub(crate) params_file: Option<PathBuf>,
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
    QUIET_PANIC.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANIC.with(|q| q.set(false));
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
