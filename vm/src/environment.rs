//! [`Environment`]: what the host needs to run one deploy or call.

use std::fmt;

use tos_engine_api::Hash;
use tos_host::{ContractProvider, Host, TxContext};

use crate::ParamsEncoding;

/// Everything a [`VM`](crate::VM) needs besides the module: the engines and the schedule (the
/// [`Host`]), the chain state (a [`ContractProvider`]), the block and transaction
/// ([`TxContext`]), the contract's address, and the deposits of the call.
///
/// The daemon keeps one [`Host`] for the node's life (its engines, its network's
/// [`ActivationSchedule`](tos_host::ActivationSchedule) and its prepared-module cache) and
/// builds an `Environment` per deploy or call:
///
/// ```
/// use tos_vm::{Environment, Host, Module, ParamsEncoding, TxContext};
/// use tos_vm::host::{ActivationSchedule, BuiltinConfig, EngineRegistry, MemoryProvider};
///
/// // Once, at start-up: the engines linked into the node and the network's schedule.
/// let host = Host::new(EngineRegistry::builtin(&BuiltinConfig::default())?, ActivationSchedule::devnet())?;
/// // Per transaction: the daemon's state (here in memory), the block and the signer.
/// let mut state = MemoryProvider::default();
/// let tx = TxContext { height: 1, source: [7; 32], ..TxContext::default() };
/// let module = Module::new(std::fs::read("../sdk/examples/build/counter.so")?)?;
/// // A deploy names the address the module gets; a call names the deployed contract.
/// let contract = module.address(&tx.source);
/// let mut env = Environment::new(&host, &mut state, tx, contract);
/// env.set_deposits(vec![([0; 32], 5)]).set_params_encoding(ParamsEncoding::Borsh);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Environment<'a> {
    pub(crate) host: &'a Host,
    pub(crate) state: &'a mut dyn ContractProvider,
    pub(crate) tx: TxContext,
    pub(crate) contract: Hash,
    pub(crate) deposits: Vec<(Hash, u64)>,
    pub(crate) params: ParamsEncoding,
}

impl<'a> Environment<'a> {
    /// An environment for a deploy or a call of `contract` in the transaction `tx`, run by
    /// `host` against `state`.
    ///
    /// For a call, `contract` is the deployed contract's address; for a deploy it is the
    /// address the module gets ([`Module::address`](crate::Module::address) of the
    /// transaction's source), which the deploy checks.
    pub fn new(
        host: &'a Host,
        state: &'a mut dyn ContractProvider,
        tx: TxContext,
        contract: Hash,
    ) -> Self {
        Environment {
            host,
            state,
            tx,
            contract,
            deposits: Vec::new(),
            params: ParamsEncoding::default(),
        }
    }

    /// Assets (asset id, amount) credited to the contract before a call runs, in the call's
    /// journal: a call that fails never credits them. Debiting the sender stays the daemon's
    /// job. Not used by deploys. Default: none.
    pub fn set_deposits(&mut self, deposits: Vec<(Hash, u64)>) -> &mut Self {
        self.deposits = deposits;
        self
    }

    /// How pushed values reach TBPF, wasm and plug-in contracts (legacy contracts always take
    /// bytes). Default: [`ParamsEncoding::Borsh`].
    pub fn set_params_encoding(&mut self, encoding: ParamsEncoding) -> &mut Self {
        self.params = encoding;
        self
    }

    /// Replaces the transaction context (to run another transaction with the same VM).
    pub fn set_tx(&mut self, tx: TxContext) -> &mut Self {
        self.tx = tx;
        self
    }

    /// Replaces the contract's address.
    pub fn set_contract(&mut self, contract: Hash) -> &mut Self {
        self.contract = contract;
        self
    }

    /// The host.
    pub fn host(&self) -> &Host {
        self.host
    }

    /// The transaction context.
    pub fn tx(&self) -> &TxContext {
        &self.tx
    }

    /// The contract's address.
    pub fn contract(&self) -> &Hash {
        &self.contract
    }

    /// The deposits of the call.
    pub fn deposits(&self) -> &[(Hash, u64)] {
        &self.deposits
    }

    /// The params encoding.
    pub fn params_encoding(&self) -> ParamsEncoding {
        self.params
    }

    /// The state, to read it between runs.
    pub fn state(&self) -> &dyn ContractProvider {
        &*self.state
    }
}

impl fmt::Debug for Environment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("tx", &self.tx)
            .field("contract", &crate::error::hex(&self.contract))
            .field("deposits", &self.deposits)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
