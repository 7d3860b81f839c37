//! The protocol in force for a call: which syscall features are live and what every
//! operation costs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::{FeatureSet, Gas};

/// Every cost that decides gas, as versioned data.
///
/// A schedule is a flat table of named costs (`"call.intrinsic"`,
/// `"syscall.tos_storage_store.base"`, `"wasm.memory_page"`, `"legacy.op.add"`, ...) with a
/// version number. The host builds version 1 from the costs every linked syscall and engine
/// declares (see [`ExecutionEngine::gas_costs`](crate::ExecutionEngine::gas_costs)), and the
/// network's activation schedule switches to later versions, each overriding a few costs,
/// from given heights. Two schedules with the same version on one network are the same table.
///
/// Engines read their costs by name when they prepare a module, through
/// [`GasSchedule::cost_or`]: the default is the engine's own declared value, used only when a
/// schedule was built by hand without it (a unit test); a host always hands engines a
/// complete schedule.
///
/// ```
/// use tos_engine_api::GasSchedule;
///
/// let mut v1 = GasSchedule::new(1);
/// v1.set("syscall.tos_storage_store.base", 1_000);
/// let mut v2 = v1.revised(2);
/// v2.set("syscall.tos_storage_store.base", 2_500);
/// assert_eq!(v1.get("syscall.tos_storage_store.base"), Some(1_000));
/// assert_eq!(v2.get("syscall.tos_storage_store.base"), Some(2_500));
/// assert_eq!(v2.cost_or("wasm.memory_page", 255), 255);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct GasSchedule {
    version: u32,
    costs: BTreeMap<String, Gas>,
}

impl GasSchedule {
    /// An empty schedule with `version`: every cost at the reader's default.
    pub fn new(version: u32) -> Self {
        GasSchedule {
            version,
            costs: BTreeMap::new(),
        }
    }

    /// A copy of this schedule under a new version number, to override some costs of.
    pub fn revised(&self, version: u32) -> Self {
        GasSchedule {
            version,
            costs: self.costs.clone(),
        }
    }

    /// The version number.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Sets the cost `name`.
    pub fn set(&mut self, name: impl Into<String>, gas: Gas) -> &mut Self {
        self.costs.insert(name.into(), gas);
        self
    }

    /// The cost `name`, if the schedule has it.
    pub fn get(&self, name: &str) -> Option<Gas> {
        self.costs.get(name).copied()
    }

    /// The cost `name`, or `default` when the schedule lacks it.
    pub fn cost_or(&self, name: &str, default: Gas) -> Gas {
        self.get(name).unwrap_or(default)
    }

    /// Whether the schedule has the cost `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.costs.contains_key(name)
    }

    /// Every cost, in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, Gas)> {
        self.costs.iter().map(|(n, g)| (n.as_str(), *g))
    }

    /// Number of costs.
    pub fn len(&self) -> usize {
        self.costs.len()
    }

    /// Whether the schedule has no cost.
    pub fn is_empty(&self) -> bool {
        self.costs.is_empty()
    }

    /// The canonical bytes of the schedule: the version (u32 LE), then each cost in name
    /// order as name length (u32 LE), name, cost (u64 LE). What a digest of it is taken over.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = self.version.to_le_bytes().to_vec();
        for (name, gas) in &self.costs {
            // Names are short identifiers; a name over 4 GiB cannot be built.
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&gas.to_le_bytes());
        }
        out
    }
}

impl fmt::Debug for GasSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GasSchedule")
            .field("version", &self.version)
            .field("costs", &self.costs.len())
            .finish()
    }
}

/// The protocol in force for a call: the live syscall features and the gas schedule.
///
/// The host computes one per span of heights from the network's activation schedule and
/// hands it to [`ExecutionEngine::prepare`](crate::ExecutionEngine::prepare). A prepared module
/// is bound to the protocol it was prepared under: its syscalls, their costs and any cost an
/// engine compiles into code. The host caches prepared modules by a digest of the protocol, so
/// a module is never reused under another one.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Protocol {
    features: FeatureSet,
    gas: Arc<GasSchedule>,
}

impl Protocol {
    /// The protocol with `features` live and costs from `gas`.
    pub fn new(features: FeatureSet, gas: Arc<GasSchedule>) -> Self {
        Protocol { features, gas }
    }

    /// The live syscall features.
    pub fn features(&self) -> &FeatureSet {
        &self.features
    }

    /// The gas schedule.
    pub fn gas(&self) -> &GasSchedule {
        &self.gas
    }

    /// The gas schedule, shared.
    pub fn gas_arc(&self) -> &Arc<GasSchedule> {
        &self.gas
    }
}

impl From<FeatureSet> for Protocol {
    /// `features` live, every cost at its declared default (an empty version-0 schedule): for
    /// tests and tools that run engines without a host.
    fn from(features: FeatureSet) -> Self {
        Protocol::new(features, Arc::new(GasSchedule::new(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_cover_version_names_and_costs() {
        let mut a = GasSchedule::new(1);
        a.set("x", 1).set("yz", 2);
        let mut b = GasSchedule::new(1);
        b.set("yz", 2).set("x", 1);
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
        let mut c = a.clone();
        c.set("x", 3);
        assert_ne!(a.canonical_bytes(), c.canonical_bytes());
        assert_ne!(a.canonical_bytes(), a.revised(2).canonical_bytes());
        let mut d = GasSchedule::new(1);
        d.set("xy", 1).set("z", 2);
        assert_ne!(a.canonical_bytes(), d.canonical_bytes());
    }
}
