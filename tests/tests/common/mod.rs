//! Shared helpers: the real example modules, a host with every engine, and call shortcuts.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use tos_engine_api::{Call, Hash, ModuleTag};
use tos_host::{
    ActivationSchedule, BuiltinConfig, CallReport, ContractModule, DeployRequest, DeployResult,
    EngineRegistry, Host, InvokeRequest, MemoryProvider, TxContext,
};

// Link the wasm plug-in: the host itself never names it.
use tos_engine_wasm as _;

pub const GAS: u64 = 10_000_000;
pub const OWNER: Hash = [0x11; 32];
pub const ALICE: Hash = [0xA1; 32];
pub const BOB: Hash = [0xB0; 32];

pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
}

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An example module of `name` for `tag`, as committed in the repository.
pub fn example(tag: ModuleTag, name: &str) -> ContractModule {
    let path = match tag {
        ModuleTag::TBPF => format!("sdk/examples/build/{name}.so"),
        ModuleTag::LEGACY => format!("engine-legacy/examples/{name}.tosl"),
        ModuleTag::WASM => format!("sdk/examples/build/{name}.wasm"),
        _ => unreachable!(),
    };
    ContractModule::new(tag, read(&path))
}

pub fn host_with(schedule: ActivationSchedule, jit: bool) -> Host {
    let mut cfg = BuiltinConfig::default();
    cfg.set_tbpf_jit(jit);
    Host::new(
        EngineRegistry::builtin(&cfg).expect("engines start"),
        schedule,
    )
    .expect("the schedule is valid")
}

pub fn host() -> Host {
    host_with(ActivationSchedule::devnet(), cfg!(target_arch = "x86_64"))
}

pub fn tx(height: u64, source: Hash) -> TxContext {
    let mut tx_hash = [0u8; 32];
    tx_hash[..8].copy_from_slice(&height.to_le_bytes());
    TxContext {
        height,
        block_hash: [height as u8; 32],
        tx_hash,
        source,
        timestamp: 1_700_000_000 + height * 5,
    }
}

pub fn deploy(
    host: &Host,
    state: &mut MemoryProvider,
    module: &ContractModule,
    height: u64,
) -> DeployResult {
    host.deploy(
        state,
        &tx(height, OWNER),
        &DeployRequest {
            envelope: module.encode(),
            params: vec![],
            gas_limit: GAS,
        },
    )
    .unwrap_or_else(|e| panic!("deploy of {} module: {e}", module.tag))
}

pub fn invoke_gas(
    host: &Host,
    state: &mut MemoryProvider,
    contract: Hash,
    from: Hash,
    call: Call,
    params: &[u8],
    gas_limit: u64,
) -> CallReport {
    host.invoke(
        state,
        &tx(10, from),
        &InvokeRequest {
            contract,
            call,
            params: params.to_vec(),
            gas_limit,
            deposits: vec![],
        },
    )
    .unwrap_or_else(|e| panic!("invoke {call}: {e}"))
}

/// Calls `contract` as [`invoke`] does, with `deposit` of the native asset credited to it
/// (nothing when 0).
pub fn invoke_deposit(
    host: &Host,
    state: &mut MemoryProvider,
    contract: Hash,
    from: Hash,
    call: Call,
    params: Vec<u8>,
    deposit: u64,
) -> CallReport {
    host.invoke(
        state,
        &tx(10, from),
        &InvokeRequest {
            contract,
            call,
            params,
            gas_limit: GAS,
            deposits: if deposit > 0 {
                vec![(tos_engine_api::NATIVE_ASSET, deposit)]
            } else {
                vec![]
            },
        },
    )
    .unwrap_or_else(|e| panic!("invoke {call}: {e}"))
}

pub fn invoke(
    host: &Host,
    state: &mut MemoryProvider,
    contract: Hash,
    from: Hash,
    call: Call,
    params: &[u8],
) -> CallReport {
    invoke_gas(host, state, contract, from, call, params, GAS)
}

/// The storage of one contract, key → value.
pub fn storage_of(state: &MemoryProvider, contract: &Hash) -> BTreeMap<Vec<u8>, Vec<u8>> {
    state
        .storage
        .iter()
        .filter(|((c, _), _)| c == contract)
        .map(|((_, k), v)| (k.clone(), v.clone()))
        .collect()
}

pub fn to_amount(to: &Hash, amount: u64) -> Vec<u8> {
    [to.as_slice(), &amount.to_le_bytes()].concat()
}

pub fn u64_le(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// xorshift64*: a tiny deterministic generator, so randomized tests reproduce from a seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An index below `n` (0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Up to `max` random bytes.
    pub fn some_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max as u64) as usize;
        self.bytes(n)
    }
}
