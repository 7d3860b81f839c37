//! The protocol in force at each height: live syscalls, the gas schedule, the digests, and the
//! protocol constants (intrinsic call cost, deploy costs, the per-transaction gas cap).
//!
//! Computed once, when a [`Host`](crate::Host) is built, for every span of heights over which
//! nothing changes; a call looks its span up and allocates nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use tos_engine_api::{FeatureSet, Gas, GasSchedule, Height, Protocol};
use tos_syscalls::{ActiveSyscalls, SyscallTable};

use crate::registry::{Engine, EngineRegistry};
use crate::schedule::{ActivationSchedule, ScheduleError};

/// Names and version-1 values of the costs the host itself charges.
pub mod costs {
    use tos_engine_api::Gas;

    /// Gas every call costs before the contract runs (reading the contract, the journal and
    /// the input). Version 1: 1,000.
    pub const INTRINSIC: &str = "call.intrinsic";
    /// Gas every deploy costs whatever its size. Version 1: 20,000.
    pub const DEPLOY_BASE: &str = "deploy.base";
    /// Gas per byte of (decompressed) code a deploy stores and prepares. Version 1: 20.
    pub const DEPLOY_PER_BYTE: &str = "deploy.per_byte";
    /// The most gas one transaction (a deploy or a call) may ask for. Version 1: 100,000,000.
    pub const MAX_TX_GAS: &str = "tx.max_gas";
    /// The most contract frames one transaction's call stack may hold (ABI v2 `tos_call`): the
    /// top-level call counts as one. A protocol constant, not a price. Version 1: 8.
    pub const MAX_CALL_DEPTH: &str = "call.max_depth";

    /// The largest `call.max_depth` a schedule may set.
    pub const MAX_CALL_DEPTH_LIMIT: Gas = 64;

    /// The host's costs with their version-1 values.
    pub const V1: [(&str, Gas); 5] = [
        (INTRINSIC, 1_000),
        (DEPLOY_BASE, 20_000),
        (DEPLOY_PER_BYTE, 20),
        (MAX_TX_GAS, 100_000_000),
        (MAX_CALL_DEPTH, 8),
    ];
}

/// The protocol in force over a span of heights.
#[derive(Debug)]
pub struct ActiveProtocol {
    from: Height,
    protocol: Protocol,
    syscalls: ActiveSyscalls,
    table_digest: [u8; 32],
    digest: [u8; 32],
    intrinsic: Gas,
    deploy_base: Gas,
    deploy_per_byte: Gas,
    max_tx_gas: Gas,
    max_call_depth: u64,
}

impl ActiveProtocol {
    /// First height of the span.
    pub fn from(&self) -> Height {
        self.from
    }

    /// Live features and gas schedule, as engines get them.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The live features.
    pub fn features(&self) -> &FeatureSet {
        self.protocol.features()
    }

    /// The gas schedule in force.
    pub fn gas(&self) -> &GasSchedule {
        self.protocol.gas()
    }

    /// The live syscalls with their costs.
    pub fn syscalls(&self) -> &ActiveSyscalls {
        &self.syscalls
    }

    /// [`ActiveSyscalls::digest`] of the live table: every live syscall's name, id,
    /// parameters and costs, in id order.
    pub fn table_digest(&self) -> [u8; 32] {
        self.table_digest
    }

    /// blake3 of the table digest and the whole gas schedule: what prepared modules are
    /// cached under, so none is reused under other syscalls or other costs.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Gas every call costs before the contract runs.
    pub fn intrinsic(&self) -> Gas {
        self.intrinsic
    }

    /// The gas a deploy of `code_len` bytes of code costs before its constructor, leaving out
    /// the engine's own price per byte (`deploy.base + deploy.per_byte × code_len`).
    pub fn deploy_cost(&self, code_len: usize) -> Gas {
        self.deploy_per_byte
            .saturating_mul(code_len as u64)
            .saturating_add(self.deploy_base)
    }

    /// The gas a deploy of `code_len` bytes of code for `engine` costs before its constructor:
    /// `deploy.base + <engine>.prepare_base + (deploy.per_byte + <engine>.prepare_per_byte) ×
    /// code_len`, where the engine's prices pay for preparing (compiling) its code, when it
    /// declares them.
    pub fn deploy_cost_for(&self, engine: &str, code_len: usize) -> Gas {
        let engine_cost = |what: &str| self.gas().get(&format!("{engine}.{what}")).unwrap_or(0);
        self.deploy_per_byte
            .saturating_add(engine_cost("prepare_per_byte"))
            .saturating_mul(code_len as u64)
            .saturating_add(self.deploy_base)
            .saturating_add(engine_cost("prepare_base"))
    }

    /// The most gas one transaction may ask for.
    pub fn max_tx_gas(&self) -> Gas {
        self.max_tx_gas
    }

    /// The most contract frames a call stack may hold (`call.max_depth`).
    pub fn max_call_depth(&self) -> u64 {
        self.max_call_depth
    }
}

/// The protocol of every height of a network, by span.
#[derive(Debug)]
pub(crate) struct Protocols {
    /// Sorted by `from`; the first starts at 0.
    spans: Vec<Arc<ActiveProtocol>>,
}

impl Protocols {
    /// Checks `schedule` against what this node links and builds the protocol of each span.
    ///
    /// # Errors
    /// [`ScheduleError::Protocol`] for a feature no syscall declares, a gas switch out of
    /// order, a cost name nothing declares, or a cost an engine cannot take.
    pub(crate) fn build(
        schedule: &ActivationSchedule,
        registry: &EngineRegistry,
    ) -> Result<Protocols, ScheduleError> {
        schedule.check()?;
        let error = |message: String| ScheduleError::Protocol {
            network: schedule.network().to_owned(),
            message,
        };
        let table = SyscallTable::global()
            .map_err(|e| error(format!("the syscall table is inconsistent: {e}")))?;

        // Version 1: every declared cost at its declared value.
        let mut v1 = GasSchedule::new(1);
        for (name, gas) in costs::V1 {
            v1.set(name, gas);
        }
        for (name, gas) in table.gas_costs() {
            v1.set(name, gas);
        }
        for engine in registry.iter() {
            for (name, gas) in engine.gas_costs() {
                v1.set(name, gas);
            }
        }
        // Later versions, each the one before with its overrides.
        let mut versions: BTreeMap<u32, Arc<GasSchedule>> = BTreeMap::new();
        let mut current = Arc::new(v1);
        versions.insert(1, Arc::clone(&current));
        for switch in schedule.gas_switches() {
            let mut next = current.revised(switch.version);
            for (name, gas) in &switch.set {
                if !current.contains(name) {
                    return Err(error(format!(
                        "gas schedule version {} sets `{name}`, a cost no linked syscall or \
                         engine declares",
                        switch.version
                    )));
                }
                next.set(name.clone(), *gas);
            }
            current = Arc::new(next);
            versions.insert(switch.version, Arc::clone(&current));
        }
        for gas in versions.values() {
            let depth = gas.get(costs::MAX_CALL_DEPTH).unwrap_or_default();
            if !(1..=costs::MAX_CALL_DEPTH_LIMIT).contains(&depth) {
                return Err(error(format!(
                    "gas schedule version {}: `{}` = {depth} is outside 1..={}",
                    gas.version(),
                    costs::MAX_CALL_DEPTH,
                    costs::MAX_CALL_DEPTH_LIMIT
                )));
            }
            for engine in registry.iter() {
                engine.check_gas(gas).map_err(|e| {
                    error(format!(
                        "gas schedule version {}: engine `{}`: {e}",
                        gas.version(),
                        engine.name()
                    ))
                })?;
            }
        }

        let mut spans = Vec::new();
        for from in schedule.protocol_heights() {
            let (version, _) = schedule.gas_at(from);
            let gas = versions
                .get(&version)
                .cloned()
                .ok_or_else(|| error(format!("gas schedule version {version} is not built")))?;
            let cost = |name: &str| gas.get(name).unwrap_or_default();
            let protocol = Protocol::new(schedule.features_at(from), Arc::clone(&gas));
            let syscalls = table.active(&protocol);
            let table_digest = syscalls.digest();
            let mut h = blake3::Hasher::new();
            h.update(b"tos/protocol/v1");
            h.update(&table_digest);
            h.update(&gas.canonical_bytes());
            spans.push(Arc::new(ActiveProtocol {
                from,
                intrinsic: cost(costs::INTRINSIC),
                deploy_base: cost(costs::DEPLOY_BASE),
                deploy_per_byte: cost(costs::DEPLOY_PER_BYTE),
                max_tx_gas: cost(costs::MAX_TX_GAS),
                max_call_depth: cost(costs::MAX_CALL_DEPTH),
                digest: *h.finalize().as_bytes(),
                table_digest,
                syscalls,
                protocol,
            }));
        }
        Ok(Protocols { spans })
    }

    /// The protocol in force at `height`.
    pub(crate) fn at(&self, height: Height) -> &ActiveProtocol {
        let i = self.spans.partition_point(|p| p.from <= height);
        // `spans[0].from == 0`, so `i >= 1`.
        &self.spans[i.saturating_sub(1)]
    }
}
