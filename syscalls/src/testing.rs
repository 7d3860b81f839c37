//! Protocols for engine and syscall tests that prepare modules without a host's schedule.
//!
//! There is no test host here: tests run syscall bodies and modules against the real one,
//! `tos_host::testing::with_call_host` over a `tos_host::MemoryProvider`, so the chain's rules
//! (limits, balances, assets, calls) are written once, in crate `tos-host`.

use tos_engine_api::{FeatureSet, Protocol};

use crate::{ABI_V1, ABI_V2};

/// The protocol of ABI v1 with every cost at its declared (version-1) value: what engine and
/// syscall tests prepare modules under when no host builds a schedule.
pub fn abi_v1() -> Protocol {
    Protocol::from([ABI_V1].into_iter().collect::<FeatureSet>())
}

/// The protocol of ABI v1 and ABI v2 (calls between contracts, hashes, ed25519, ...) with
/// every cost at its declared (version-1) value.
pub fn abi_v2() -> Protocol {
    Protocol::from([ABI_V1, ABI_V2].into_iter().collect::<FeatureSet>())
}
