//! The in-memory chain, calls and their outcomes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tos_engine_api::{Call, ExitStatus, Gas, Hash, Height, ModuleTag, NATIVE_ASSET};
use tos_host::{
    CallFrame, CallReport, ContractModule, DeployRequest, Event, FrameItem, Host, InvokeRequest,
    MemoryProvider, TxContext,
};

use crate::args::{self, Decoded, Resolver, account_key};

/// The simulated chain's first timestamp: 2026-01-01T00:00:00Z, as in `tosvm`.
pub const GENESIS_TIMESTAMP: u64 = 1_767_225_600;
/// Seconds between two blocks, as in `tosvm`.
pub const BLOCK_SECONDS: u64 = 5;
/// The gas limit of a deploy or call unless [`CallBuilder::gas`] says otherwise: 10,000,000.
pub const DEFAULT_GAS: Gas = 10_000_000;

/// Anything that names an account or contract: a name (`"bob"`, hashed as `tosvm` does), a
/// key, or a [`Contract`].
pub trait Party {
    /// The 32-byte key.
    fn key(&self) -> Hash;
    /// A name to show in messages, when it has one.
    fn label(&self) -> Option<String> {
        None
    }
}

impl Party for &str {
    fn key(&self) -> Hash {
        account_key(self)
    }
    fn label(&self) -> Option<String> {
        Some((*self).to_owned())
    }
}

impl Party for String {
    fn key(&self) -> Hash {
        account_key(self)
    }
    fn label(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl Party for Hash {
    fn key(&self) -> Hash {
        *self
    }
}

impl Party for &Hash {
    fn key(&self) -> Hash {
        **self
    }
}

impl Party for Contract {
    fn key(&self) -> Hash {
        self.address
    }
    fn label(&self) -> Option<String> {
        Some(self.label.clone())
    }
}

impl Party for &Contract {
    fn key(&self) -> Hash {
        self.address
    }
    fn label(&self) -> Option<String> {
        Some(self.label.clone())
    }
}

/// A deployed contract.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Contract {
    /// Its address.
    pub address: Hash,
    /// Its engine's tag.
    pub tag: ModuleTag,
    /// The name messages show (`wasm#1`, or what [`Chain::deploy_as`] gave).
    pub label: String,
    /// The height it was deployed at.
    pub deployed_at: Height,
}

/// A chain in memory over the real [`Host`]: named accounts, deploys on every engine, typed
/// calls, heights and time, balances, and assertions with readable failures.
///
/// Every deploy and call is a transaction in a new block (height + 1), with the simulated
/// timestamp of `tosvm` (2026-01-01T00:00:00Z + 5 s per height) plus whatever
/// [`advance_time`](Self::advance_time) added. A call commits only when it exits 0.
pub struct Chain {
    host: Host,
    state: MemoryProvider,
    height: Height,
    time_offset: u64,
    txs: u64,
    names: BTreeMap<Hash, String>,
    deployed: usize,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("height", &self.height)
            .field("timestamp", &self.timestamp())
            .field("contracts", &self.state.contracts.len())
            .finish()
    }
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new()
    }
}

impl Resolver for Chain {
    fn asset(&self, name: &str) -> Result<Hash, String> {
        let hits: Vec<Hash> = self
            .state
            .assets
            .iter()
            .filter(|(_, a)| a.name == name.as_bytes())
            .map(|(id, _)| *id)
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!("no asset named `{name}` exists on this chain")),
            _ => Err(format!(
                "{} assets are named `{name}`; give the id in hex",
                hits.len()
            )),
        }
    }
}

impl Chain {
    /// A chain on the devnet schedule (ABI v1 and v2 live from genesis) with every engine
    /// compiled in (TBPF with its JIT where the platform has one, legacy, wasm), at height 0.
    pub fn new() -> Chain {
        Chain::with_host(tos_host::testing::devnet_host())
    }

    /// A chain over `host` (another schedule, TBPF interpreted, …).
    pub fn with_host(host: Host) -> Chain {
        Chain {
            host,
            state: MemoryProvider::default(),
            height: 0,
            time_offset: 0,
            txs: 0,
            names: BTreeMap::new(),
            deployed: 0,
        }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The state, for reads the kit does not wrap.
    pub fn state(&self) -> &MemoryProvider {
        &self.state
    }

    /// The key of the account `name` (as `tosvm account NAME`), remembered so messages show
    /// the name.
    pub fn account(&mut self, name: &str) -> Hash {
        let key = account_key(name);
        self.names.insert(key, name.to_owned());
        key
    }

    /// Gives `key` a name in messages.
    pub fn name(&mut self, key: Hash, name: &str) {
        self.names.insert(key, name.to_owned());
    }

    /// `key` for people: its name, else its first 8 hex digits.
    pub fn show(&self, key: &Hash) -> String {
        self.names
            .get(key)
            .cloned()
            .unwrap_or_else(|| hex::encode(&key[..4]))
    }

    /// `p` for people: its own label, else the name the chain knows, else short hex.
    fn show_party(&self, p: &dyn Party) -> String {
        p.label().unwrap_or_else(|| self.show(&p.key()))
    }

    /// Remembers the names in `addr:NAME` tokens, for messages.
    fn remember_tokens<S: AsRef<str>>(&mut self, tokens: &[S]) {
        for t in tokens {
            if let Some(name) = t.as_ref().strip_prefix("addr:")
                && !(name.len() == 64 || name.starts_with("0x"))
            {
                self.names
                    .entry(account_key(name))
                    .or_insert(name.to_owned());
            }
        }
    }

    fn remember(&mut self, p: &dyn Party) -> Hash {
        let key = p.key();
        if let Some(l) = p.label() {
            self.names.entry(key).or_insert(l);
        }
        key
    }

    /// Height of the last block.
    pub fn height(&self) -> Height {
        self.height
    }

    /// Timestamp of the block at the current height.
    pub fn timestamp(&self) -> u64 {
        self.timestamp_at(self.height)
    }

    fn timestamp_at(&self, height: Height) -> u64 {
        GENESIS_TIMESTAMP
            .saturating_add(height.saturating_mul(BLOCK_SECONDS))
            .saturating_add(self.time_offset)
    }

    /// Moves `blocks` blocks ahead with no transaction in them.
    pub fn advance(&mut self, blocks: u64) -> &mut Self {
        self.height = self.height.saturating_add(blocks);
        self
    }

    /// Moves the clock `seconds` ahead of the simulated one (every later block keeps the lead).
    pub fn advance_time(&mut self, seconds: u64) -> &mut Self {
        self.time_offset = self.time_offset.saturating_add(seconds);
        self
    }

    fn next_tx(&mut self, source: Hash) -> TxContext {
        self.height = self.height.saturating_add(1);
        self.txs = self.txs.saturating_add(1);
        let mut tx_hash = [0u8; 32];
        tx_hash[..8].copy_from_slice(&self.txs.to_le_bytes());
        let mut block_hash = [0u8; 32];
        block_hash[..8].copy_from_slice(&self.height.to_le_bytes());
        TxContext {
            height: self.height,
            block_hash,
            tx_hash,
            source,
            timestamp: self.timestamp_at(self.height),
        }
    }

    /// Credits `amount` of the native asset to `who` (as `tosvm fund`).
    pub fn fund(&mut self, who: impl Party, amount: u64) -> &mut Self {
        self.fund_asset(who, NATIVE_ASSET, amount)
    }

    /// Credits `amount` of `asset` to `who`.
    ///
    /// # Panics
    /// When the balance would overflow.
    #[track_caller]
    pub fn fund_asset(&mut self, who: impl Party, asset: Hash, amount: u64) -> &mut Self {
        let key = self.remember(&who);
        let b = self.state.balances.entry((key, asset)).or_insert(0);
        *b = b.checked_add(amount).unwrap_or_else(|| {
            panic!(
                "funding {} with {amount} overflows its balance",
                self.names.get(&key).cloned().unwrap_or_default()
            )
        });
        self
    }

    /// The native balance of `who`.
    pub fn balance(&self, who: impl Party) -> u64 {
        self.balance_of(who, NATIVE_ASSET)
    }

    /// The balance of `who` in `asset`.
    pub fn balance_of(&self, who: impl Party, asset: Hash) -> u64 {
        self.state
            .balances
            .get(&(who.key(), asset))
            .copied()
            .unwrap_or(0)
    }

    /// The value under `key` of `contract`'s storage.
    pub fn storage(&self, contract: impl Party, key: &[u8]) -> Option<Vec<u8>> {
        self.state
            .storage
            .get(&(contract.key(), key.to_vec()))
            .cloned()
    }

    /// Every (key, value) of `contract`, in key order.
    pub fn storage_all(&self, contract: impl Party) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let c = contract.key();
        self.state
            .storage
            .iter()
            .filter(|((owner, _), _)| *owner == c)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Asserts the value under `key` (`None`: absent).
    ///
    /// # Panics
    /// When it differs, showing both values and the contract's whole storage.
    #[track_caller]
    pub fn assert_storage(&self, contract: impl Party, key: &[u8], expected: Option<&[u8]>) {
        let got = self.storage(contract.key(), key);
        if got.as_deref() != expected {
            let who = self.show_party(&contract);
            let mut all = String::new();
            for (k, v) in self.storage_all(contract.key()) {
                let _ = writeln!(all, "    {} = {}", show_bytes(&k), show_bytes(&v));
            }
            panic!(
                "storage {} of {who}: expected {}, found {}\n  its storage:\n{all}",
                show_bytes(key),
                expected.map_or("(absent)".to_owned(), show_bytes),
                got.as_deref().map_or("(absent)".to_owned(), show_bytes),
            );
        }
    }

    /// Asserts the native balance of `who`.
    ///
    /// # Panics
    /// When it differs, naming the account.
    #[track_caller]
    pub fn assert_balance(&self, who: impl Party, expected: u64) {
        let got = self.balance(who.key());
        assert!(
            got == expected,
            "native balance of {}: expected {expected}, found {got}",
            self.show_party(&who)
        );
    }

    /// Deploys `module` from `from` with no constructor params.
    ///
    /// # Panics
    /// When the host refuses the deploy or the constructor fails, with the outcome.
    #[track_caller]
    pub fn deploy(&mut self, from: impl Party, module: &ContractModule) -> Contract {
        let label = format!("{}#{}", module.tag, self.deployed + 1);
        self.deploy_as(&label, from, module, &[] as &[&str])
    }

    /// Deploys `module` from `from`, naming it `label` in messages, with the constructor's
    /// params given as typed tokens (`addr:bob`, `u64:5`, see [`crate::args`]).
    ///
    /// # Panics
    /// When the tokens are malformed, the host refuses the deploy or the constructor fails.
    #[track_caller]
    pub fn deploy_as<S: AsRef<str>>(
        &mut self,
        label: &str,
        from: impl Party,
        module: &ContractModule,
        ctor_args: &[S],
    ) -> Contract {
        let params = args::pack(ctor_args, self).unwrap_or_else(|e| panic!("deploy {label}: {e}"));
        self.remember_tokens(ctor_args);
        let source = self.remember(&from);
        let tx = self.next_tx(source);
        let request = DeployRequest {
            envelope: module.encode(),
            params,
            gas_limit: DEFAULT_GAS,
        };
        let r = match self.host.deploy(&mut self.state, &tx, &request) {
            Ok(r) => r,
            Err(e) => panic!("deploy {label} ({} module): refused: {e}", module.tag),
        };
        if !r.deployed {
            let why = r.constructor.map_or_else(String::new, |c| {
                Outcome {
                    report: c,
                    names: self.names.clone(),
                }
                .describe()
            });
            panic!("deploy {label}: the constructor failed\n{why}");
        }
        self.deployed += 1;
        self.names.insert(r.address, label.to_owned());
        Contract {
            address: r.address,
            tag: r.tag,
            label: label.to_owned(),
            deployed_at: tx.height,
        }
    }

    /// A call of `entry` of `contract` sent by `from`; add arguments, deposits or gas, then
    /// [`send`](CallBuilder::send) it (or [`query`](CallBuilder::query) it: nothing commits).
    pub fn call(&mut self, from: impl Party, contract: impl Party, entry: u16) -> CallBuilder<'_> {
        let source = self.remember(&from);
        let contract = self.remember(&contract);
        CallBuilder {
            chain: self,
            source,
            request: InvokeRequest {
                contract,
                call: Call::Entry(entry),
                params: Vec::new(),
                gas_limit: DEFAULT_GAS,
                deposits: Vec::new(),
            },
        }
    }
}

/// A call being put together by [`Chain::call`].
#[derive(Debug)]
pub struct CallBuilder<'c> {
    chain: &'c mut Chain,
    source: Hash,
    request: InvokeRequest,
}

impl CallBuilder<'_> {
    /// Params from typed tokens (`u64:5`, `addr:bob`, `str:hi`, see [`crate::args`]);
    /// appended to any params given before.
    ///
    /// # Panics
    /// When a token is malformed, naming it.
    #[track_caller]
    pub fn args<S: AsRef<str>>(mut self, tokens: &[S]) -> Self {
        let packed = args::pack(tokens, &*self.chain).unwrap_or_else(|e| panic!("{e}"));
        self.chain.remember_tokens(tokens);
        self.request.params.extend(packed);
        self
    }

    /// Raw params, appended.
    pub fn params(mut self, bytes: &[u8]) -> Self {
        self.request.params.extend_from_slice(bytes);
        self
    }

    /// Calls hook `id` instead of the entry.
    pub fn hook(mut self, id: u8) -> Self {
        self.request.call = Call::Hook(id);
        self
    }

    /// Deposits `amount` of the native asset with the call.
    pub fn deposit(self, amount: u64) -> Self {
        self.deposit_asset(NATIVE_ASSET, amount)
    }

    /// Deposits `amount` of `asset` with the call. Like `tosvm`, the sender is not debited:
    /// fund contracts and accounts with [`Chain::fund`].
    pub fn deposit_asset(mut self, asset: Hash, amount: u64) -> Self {
        self.request.deposits.push((asset, amount));
        self
    }

    /// The gas limit (default [`DEFAULT_GAS`]).
    pub fn gas(mut self, limit: Gas) -> Self {
        self.request.gas_limit = limit;
        self
    }

    /// Runs the call in a new block; its effects commit when it exits 0.
    ///
    /// # Panics
    /// When the host refuses the call before running it (unknown contract, gas below the
    /// intrinsic cost, …), with the reason.
    #[track_caller]
    pub fn send(self) -> Outcome {
        let tx = self.chain.next_tx(self.source);
        let report = self
            .chain
            .host
            .invoke(&mut self.chain.state, &tx, &self.request)
            .unwrap_or_else(|e| panic!("{}: refused before it ran: {e}", self.request.call));
        Outcome {
            report,
            names: self.chain.names.clone(),
        }
    }

    /// Runs the call on a copy of the state at the next height: nothing commits and the
    /// height does not move (as `tosvm call`).
    ///
    /// # Panics
    /// As [`send`](Self::send).
    #[track_caller]
    pub fn query(self) -> Outcome {
        let mut copy = self.chain.state.clone();
        let mut tx = self.chain.next_tx(self.source);
        self.chain.height -= 1;
        self.chain.txs -= 1;
        tx.tx_hash = [0; 32];
        let report = self
            .chain
            .host
            .invoke(&mut copy, &tx, &self.request)
            .unwrap_or_else(|e| panic!("{}: refused before it ran: {e}", self.request.call));
        Outcome {
            report,
            names: self.chain.names.clone(),
        }
    }
}

/// What a call did: the host's report and the names to show it with.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The host's report (outcome, events, logs, transfers, call tree).
    pub report: CallReport,
    names: BTreeMap<Hash, String>,
}

impl Outcome {
    /// Whether the call exited 0 (and so committed).
    pub fn is_ok(&self) -> bool {
        self.report.is_success()
    }

    /// The exit code, or `None` for a trap.
    pub fn exit_code(&self) -> Option<u64> {
        match self.report.outcome.status {
            ExitStatus::Exit(c) => Some(c),
            ExitStatus::Trap(_) => None,
        }
    }

    /// Gas used, the intrinsic cost included.
    pub fn gas_used(&self) -> Gas {
        self.report.outcome.gas_used
    }

    /// The return data.
    pub fn return_data(&self) -> &[u8] {
        &self.report.outcome.return_data
    }

    /// The return data as a little-endian u64.
    ///
    /// # Panics
    /// When it is not 8 bytes.
    #[track_caller]
    pub fn return_u64(&self) -> u64 {
        match <[u8; 8]>::try_from(self.return_data()) {
            Ok(b) => u64::from_le_bytes(b),
            Err(_) => panic!("return data is not a u64 (8 bytes)\n{}", self.describe()),
        }
    }

    /// The return data decoded as `spec` (`u64`, `addr,u64`, see [`crate::args::decode`]).
    ///
    /// # Panics
    /// When it does not decode.
    #[track_caller]
    pub fn returns(&self, spec: &str) -> Vec<Decoded> {
        args::decode(spec, self.return_data())
            .unwrap_or_else(|e| panic!("return data: {e}\n{}", self.describe()))
    }

    /// Events of the frames that were kept, in execution order.
    pub fn events(&self) -> &[Event] {
        &self.report.events
    }

    /// Asserts the call exited 0.
    ///
    /// # Panics
    /// Otherwise, with the whole outcome.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        if !self.is_ok() {
            panic!("expected exit 0\n{}", self.describe());
        }
        self
    }

    /// Asserts the call exited with `code`.
    ///
    /// # Panics
    /// Otherwise, with the whole outcome.
    #[track_caller]
    pub fn assert_exit(&self, code: u64) -> &Self {
        if self.exit_code() != Some(code) {
            panic!("expected exit {code}\n{}", self.describe());
        }
        self
    }

    /// Asserts the call trapped with a message containing `needle`.
    ///
    /// # Panics
    /// Otherwise, with the whole outcome.
    #[track_caller]
    pub fn assert_trap(&self, needle: &str) -> &Self {
        match &self.report.outcome.status {
            ExitStatus::Trap(t) if t.to_string().contains(needle) => self,
            _ => panic!("expected a trap containing `{needle}`\n{}", self.describe()),
        }
    }

    /// Asserts the return data.
    ///
    /// # Panics
    /// Otherwise, with the whole outcome.
    #[track_caller]
    pub fn assert_return(&self, expected: &[u8]) -> &Self {
        if self.return_data() != expected {
            panic!(
                "expected return data {}\n{}",
                show_bytes(expected),
                self.describe()
            );
        }
        self
    }

    /// Asserts that a kept event `id` with `data` was fired by `contract`.
    ///
    /// # Panics
    /// Otherwise, with every event.
    #[track_caller]
    pub fn assert_event(&self, contract: impl Party, id: u64, data: &[u8]) -> &Self {
        let c = contract.key();
        if !self
            .events()
            .iter()
            .any(|e| e.contract == c && e.id == id && e.data == data)
        {
            panic!(
                "expected event #{id} {} from {}\n{}",
                show_bytes(data),
                self.show(&c),
                self.describe()
            );
        }
        self
    }

    /// Asserts the call tree, one line per frame, indented two spaces per depth, as
    /// `ENGINE NAME entry N: exit C` (or `trap: …`), names as the chain knows them.
    ///
    /// # Panics
    /// Otherwise, showing both trees.
    #[track_caller]
    pub fn assert_tree(&self, expected: &[&str]) -> &Self {
        let got = self.tree();
        if got != expected {
            panic!(
                "call tree differs\n  expected:\n    {}\n  found:\n    {}\n{}",
                expected.join("\n    "),
                got.join("\n    "),
                self.describe()
            );
        }
        self
    }

    /// The call tree in the form [`assert_tree`](Self::assert_tree) compares.
    pub fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.frame_lines(&self.report.frame, 0, &mut out);
        out
    }

    fn frame_lines(&self, f: &CallFrame, depth: usize, out: &mut Vec<String>) {
        let status = match &f.outcome.status {
            ExitStatus::Exit(c) => format!("exit {c}"),
            ExitStatus::Trap(t) => format!("trap: {t}"),
        };
        out.push(format!(
            "{:w$}{} {} {}: {status}",
            "",
            f.engine,
            self.show(&f.contract),
            f.call,
            w = depth * 2
        ));
        for item in &f.trace {
            match item {
                FrameItem::Call(c) => self.frame_lines(c, depth + 1, out),
                FrameItem::Refused {
                    callee,
                    entry,
                    reason,
                } => out.push(format!(
                    "{:w$}refused {} entry {entry}: {reason}",
                    "",
                    self.show(callee),
                    w = (depth + 1) * 2
                )),
                _ => {}
            }
        }
    }

    fn show(&self, key: &Hash) -> String {
        self.names
            .get(key)
            .cloned()
            .unwrap_or_else(|| hex::encode(&key[..4]))
    }

    /// The whole outcome for a failure message: status, gas, return data, events, logs,
    /// transfers and the call tree.
    pub fn describe(&self) -> String {
        let r = &self.report;
        let mut s = String::new();
        let status = match &r.outcome.status {
            ExitStatus::Exit(c) => format!("exit {c}"),
            ExitStatus::Trap(t) => format!("trap: {t}"),
        };
        let _ = writeln!(
            s,
            "  outcome    {status} on {} ({} gas)",
            r.engine, r.outcome.gas_used
        );
        let _ = writeln!(s, "  return     {}", show_bytes(&r.outcome.return_data));
        for e in &r.events {
            let _ = writeln!(
                s,
                "  event      #{} {} from {}",
                e.id,
                show_bytes(&e.data),
                self.show(&e.contract)
            );
        }
        for l in r.frame.all_logs() {
            let _ = writeln!(s, "  log        {}", show_bytes(&l));
        }
        for t in &r.transfers {
            let _ = writeln!(
                s,
                "  transfer   {} from {} to {}",
                t.amount,
                self.show(&t.from),
                self.show(&t.to)
            );
        }
        let _ = writeln!(s, "  call tree");
        for line in self.tree() {
            let _ = writeln!(s, "    {line}");
        }
        s
    }
}

/// Bytes for messages: `"text"` when printable, else hex; 8 bytes also as a u64.
pub fn show_bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".to_owned();
    }
    if let Ok(s) = std::str::from_utf8(b)
        && !s.chars().any(char::is_control)
    {
        return format!("{s:?}");
    }
    let mut out = format!("0x{}", hex::encode(b));
    if let Ok(a) = <[u8; 8]>::try_from(b) {
        let _ = write!(out, " (u64 {})", u64::from_le_bytes(a));
    }
    out
}
