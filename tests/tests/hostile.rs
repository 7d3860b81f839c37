//! What a stranger's module or call can make the host do: nothing read, prepared or stored
//! that is not paid for, and no engine panic that takes the node down.

mod common;

use std::cell::Cell;
use std::sync::Arc;

use common::*;
use tos_engine_api::{
    Call, EngineFault, ExecutionEngine, ExitStatus, Gas, HostAbi, LoadError, ModuleInfo, ModuleTag,
    Outcome, PreparedModule, Protocol, Trap,
};
use tos_host::{
    ActivationSchedule, AssetInfo, ChangeSet, ContractHeader, ContractModule, ContractProvider,
    DeployRequest, EngineRegistry, Error, Host, InvokeRequest, MemoryProvider, ProviderError,
    StoredContract,
};

/// The real in-memory state, counting how often the whole contract (its code) is read.
#[derive(Default)]
struct Counting {
    inner: MemoryProvider,
    code_reads: Cell<u32>,
}

impl ContractProvider for Counting {
    fn contract(&self, address: &[u8; 32]) -> Result<Option<StoredContract>, ProviderError> {
        self.code_reads.set(self.code_reads.get() + 1);
        self.inner.contract(address)
    }
    fn contract_header(&self, address: &[u8; 32]) -> Result<Option<ContractHeader>, ProviderError> {
        self.inner.contract_header(address)
    }
    fn storage(&self, c: &[u8; 32], k: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
        self.inner.storage(c, k)
    }
    fn balance(&self, a: &[u8; 32], asset: &[u8; 32]) -> Result<u64, ProviderError> {
        self.inner.balance(a, asset)
    }
    fn asset(&self, asset: &[u8; 32]) -> Result<Option<AssetInfo>, ProviderError> {
        self.inner.asset(asset)
    }
    fn apply(&mut self, changes: &ChangeSet) -> Result<(), ProviderError> {
        self.inner.apply(changes)
    }
}

fn request(contract: [u8; 32], call: Call) -> InvokeRequest {
    InvokeRequest {
        contract,
        call,
        params: vec![],
        gas_limit: GAS,
        deposits: vec![],
    }
}

#[test]
fn a_warm_call_never_reads_the_code_and_a_missing_entry_never_prepares() {
    for tag in [ModuleTag::TBPF, ModuleTag::LEGACY, ModuleTag::WASM] {
        let host = host();
        let mut state = Counting::default();
        let d = host
            .deploy(
                &mut state,
                &tx(1, OWNER),
                &DeployRequest {
                    envelope: example(tag, "counter").encode(),
                    params: vec![],
                    gas_limit: GAS,
                },
            )
            .unwrap();
        let reads = state.code_reads.get();
        let r = host
            .invoke(
                &mut state,
                &tx(2, ALICE),
                &request(d.address, Call::Entry(0)),
            )
            .unwrap();
        assert!(r.is_success(), "{tag}");
        assert_eq!(
            state.code_reads.get(),
            reads,
            "{tag}: a cached module's code is not read"
        );

        // A node that restarted (cold cache): a call to an entry the module lacks is refused
        // from the entry table kept at deploy, for the intrinsic gas, without reading or
        // preparing the code.
        let cold = common::host();
        let r = cold
            .invoke(
                &mut state,
                &tx(3, ALICE),
                &request(d.address, Call::Entry(999)),
            )
            .unwrap();
        assert_eq!(
            r.outcome.status,
            ExitStatus::Trap(Trap::UnknownEntry(Call::Entry(999))),
            "{tag}"
        );
        assert_eq!(r.outcome.gas_used, cold.protocol_at(3).intrinsic(), "{tag}");
        assert_eq!(cold.cache().stats().misses, 0, "{tag}: nothing prepared");
        assert_eq!(state.code_reads.get(), reads, "{tag}: nothing read");
        // The next real call prepares it once, reading the code once.
        assert!(
            cold.invoke(
                &mut state,
                &tx(4, ALICE),
                &request(d.address, Call::Entry(0))
            )
            .unwrap()
            .is_success()
        );
        assert_eq!(
            (cold.cache().stats().misses, state.code_reads.get()),
            (1, reads + 1),
            "{tag}"
        );
    }
}

/// An engine with a bug a hostile module found: it panics while preparing, or while running.
struct Panicking {
    in_run: bool,
}

struct PanickingModule(ModuleInfo);

impl PreparedModule for PanickingModule {
    fn info(&self) -> &ModuleInfo {
        &self.0
    }
    fn run(&self, _: Call, host: &mut dyn HostAbi, _: Gas) -> Result<Outcome, EngineFault> {
        // Write first, so the test sees the write discarded.
        host.storage_store(b"half".to_vec(), b"done".to_vec())
            .unwrap();
        panic!("index out of bounds: the len is 3 but the index is 7")
    }
}

impl ExecutionEngine for Panicking {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn tag(&self) -> ModuleTag {
        ModuleTag::WASM
    }
    fn version(&self) -> u32 {
        9
    }
    fn prepare(&self, _: &[u8], _: &Protocol) -> Result<Arc<dyn PreparedModule>, LoadError> {
        if !self.in_run {
            panic!("attempt to add with overflow");
        }
        let mut info = ModuleInfo::default();
        info.entries.self_dispatch = true;
        Ok(Arc::new(PanickingModule(info)))
    }
}

#[test]
fn an_engine_panic_is_a_fault_for_that_module_not_a_dead_node() {
    let schedule = || {
        ActivationSchedule::from_toml_str(
            "network = \"n\"\n[engines.wasm]\ndeploy_from = 0\nversions = [{ from = 0, version = 9 }]\n[features]\nabi_v1 = 0",
        )
        .unwrap()
    };
    for in_run in [false, true] {
        let mut registry = EngineRegistry::empty();
        registry.register(Arc::new(Panicking { in_run })).unwrap();
        let host = Host::new(registry, schedule()).unwrap();
        let mut state = MemoryProvider::default();
        let e = host
            .deploy(
                &mut state,
                &tx(1, OWNER),
                &DeployRequest {
                    envelope: ContractModule::new(ModuleTag::WASM, b"\0asm".to_vec()).encode(),
                    params: vec![],
                    gas_limit: GAS,
                },
            )
            .map(|d| (d.deployed, d.constructor.is_some()));
        if !in_run {
            let e = e.unwrap_err();
            assert!(matches!(e, Error::Fault(_)), "{e:?}");
            assert!(
                e.to_string()
                    .contains("panicked while preparing: attempt to add with overflow"),
                "{e}"
            );
            assert_eq!(state, MemoryProvider::default());
            continue;
        }
        // A self-dispatching module has no constructor: it deploys; its call panics.
        assert_eq!(e.unwrap(), (true, false));
        let before = state.clone();
        let address = *state.contracts.keys().next().unwrap();
        let e = host
            .invoke(&mut state, &tx(2, ALICE), &request(address, Call::Entry(0)))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("panicked while running: index out of bounds"),
            "{e}"
        );
        assert_eq!(state, before, "the half-done write is discarded");
        // The node goes on: the next transaction runs.
        assert!(
            host.invoke(&mut state, &tx(3, ALICE), &request(address, Call::Entry(0)))
                .is_err()
        );
    }
}

#[test]
fn a_zero_transfer_stores_nothing() {
    // tos_transfer(dest, 0, native) to a fresh account, then exit 0.
    let wasm = wat::parse_str(
        r#"(module
            (import "env" "tos_transfer" (func $transfer (param i64 i64 i64) (result i64)))
            (memory (export "memory") 1)
            (data (i32.const 0) "\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b\0b")
            (func (export "entry_0") (result i64)
                (call $transfer (i64.const 0) (i64.const 0) (i64.const 32))))"#,
    )
    .unwrap();
    let host = host();
    let mut state = MemoryProvider::default();
    let c = deploy(
        &host,
        &mut state,
        &ContractModule::new(ModuleTag::WASM, wasm),
        1,
    )
    .address;
    let before = state.clone();
    let r = invoke(&host, &mut state, c, ALICE, Call::Entry(0), &[]);
    assert_eq!(
        r.outcome.status,
        ExitStatus::Exit(0),
        "the transfer succeeds"
    );
    assert_eq!(state, before, "and creates no balance record");
}
