//! The counter of docs/EXAMPLES.md: the WAT version (examples/counter.wat) with pinned gas, and
//! the C version from the SDK (sdk/examples/build/counter.wasm) against the same table.

mod common;

use std::path::PathBuf;

use common::{GAS, World, example, prepare, run};
use tos_engine_api::{Call, ExitStatus, Gas, PreparedModule};

const KEY: &[u8] = b"count";

fn count(host: &World) -> Option<u64> {
    host.stored(KEY)
        .map(|v| u64::from_le_bytes(v.as_slice().try_into().expect("count is 8 bytes")))
}

/// One step of the scenario: a call, its params, and everything EXAMPLES.md says follows.
struct Step {
    call: Call,
    params: Vec<u8>,
    exit: u64,
    count_after: Option<u64>,
    event: Option<u64>,
    return_data: Option<u64>,
}

fn step(
    call: Call,
    params: &[u8],
    exit: u64,
    count_after: Option<u64>,
    event: Option<u64>,
    ret: Option<u64>,
) -> Step {
    Step {
        call,
        params: params.to_vec(),
        exit,
        count_after,
        event,
        return_data: ret,
    }
}

/// Runs the scenario on `module`; returns the gas of each step.
fn scenario(module: &dyn PreparedModule) -> Vec<Gas> {
    let le = |v: u64| v.to_le_bytes().to_vec();
    let steps = [
        // Absent count reads as 0, and increment starts from 0.
        step(Call::Entry(1), &[], 0, None, None, Some(0)),
        step(Call::Hook(0), &[], 0, Some(0), None, None),
        step(Call::Entry(1), b"ignored", 0, Some(0), None, Some(0)),
        step(Call::Entry(0), &[], 0, Some(1), Some(1), Some(1)),
        step(Call::Entry(0), b"ignored", 0, Some(2), Some(2), Some(2)),
        step(Call::Entry(2), &le(40), 0, Some(42), Some(42), Some(42)),
        step(Call::Entry(2), &[1; 7], 1, Some(42), None, None),
        step(Call::Entry(2), &[1; 9], 1, Some(42), None, None),
        step(Call::Entry(2), &[], 1, Some(42), None, None),
        step(Call::Entry(2), &le(u64::MAX - 41), 2, Some(42), None, None),
        step(
            Call::Entry(2),
            &le(u64::MAX - 42),
            0,
            Some(u64::MAX),
            Some(u64::MAX),
            Some(u64::MAX),
        ),
        step(Call::Entry(1), &[], 0, Some(u64::MAX), None, Some(u64::MAX)),
        step(
            Call::Entry(2),
            &le(0),
            0,
            Some(u64::MAX),
            Some(u64::MAX),
            Some(u64::MAX),
        ),
        // Incrementing u64::MAX is refused with exit 2 and stores nothing.
        step(Call::Entry(0), &[], 2, Some(u64::MAX), None, None),
    ];
    let mut host = World::default();
    let mut gas = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let outcome = run(module, &mut host, s.call, &s.params, GAS);
        assert_eq!(
            outcome.status,
            ExitStatus::Exit(s.exit),
            "step {i}: {}",
            s.call
        );
        assert_eq!(count(&host), s.count_after, "step {i}: count");
        let events: Vec<_> = s
            .event
            .map(|v| (1, v.to_le_bytes().to_vec()))
            .into_iter()
            .collect();
        assert_eq!(host.events(), events, "step {i}: events");
        let ret = s
            .return_data
            .map(|v| v.to_le_bytes().to_vec())
            .unwrap_or_default();
        assert_eq!(outcome.return_data, ret, "step {i}: return data");
        assert!(
            outcome.gas_used > 0 && outcome.gas_used < GAS,
            "step {i}: gas {}",
            outcome.gas_used
        );
        gas.push(outcome.gas_used);
    }
    // A failing add writes nothing even before any rollback: the storage holds only "count".
    assert_eq!(host.state.storage.len(), 1);
    gas
}

#[test]
fn wat_counter_follows_examples_md_with_pinned_gas() {
    let module = prepare(&example("counter"));
    let gas = scenario(module.as_ref());
    // Golden values: a change in the cost model or the contract shows up here as a diff.
    assert_eq!(gas, GOLDEN_COUNTER_GAS);
}

/// Per step of `scenario`. For example the first, `get` with no count stored: the page (255),
/// instantiation (engine version 2): `wasm.instance` 2,000 + 2 per function × 12 (5 syscall
/// imports and 7 defined functions), copying the 5-byte data segment "count" into memory at
/// instantiation (5 bytes + 2), tos_storage_load of the 5-byte key finding nothing (500 + 5),
/// tos_set_return_data of 8 bytes (50 + 8), 17 operators and 2 function entries, and the
/// stack accounting around the one call of a module function (`$load_count`: 12
/// operators): 255 + 2,024 + 7 + 505 + 58 + 19 + 12 = 2,880. Each step is its version-1
/// figure + 2,024 (instantiation) + 12 per call of `$load_count`, `$store_count` or
/// `$publish` (0, 1 or 3 calls).
const GOLDEN_COUNTER_GAS: [Gas; 14] = [
    2880, 3376, 2888, 4216, 4216, 4291, 2359, 2360, 2352, 2907, 4291, 2888, 4291, 2830,
];

#[test]
fn gas_is_the_same_on_every_run() {
    let module = prepare(&example("counter"));
    assert_eq!(scenario(module.as_ref()), scenario(module.as_ref()));
    // A second engine (a second compilation) charges the same.
    let again = prepare(&example("counter"));
    assert_eq!(scenario(module.as_ref()), scenario(again.as_ref()));
}

#[test]
fn counter_runs_out_of_gas_at_every_budget_below_what_it_needs() {
    let module = prepare(&example("counter"));
    let mut host = World::default();
    let need = run(module.as_ref(), &mut host, Call::Entry(0), &[], GAS).gas_used;
    for limit in [0, 1, need / 2, need - 1] {
        let mut host = World::default();
        let outcome = run(module.as_ref(), &mut host, Call::Entry(0), &[], limit);
        assert_eq!(
            outcome.trap(),
            Some(&tos_engine_api::Trap::OutOfGas),
            "limit {limit}"
        );
        assert_eq!(outcome.gas_used, limit);
    }
    let mut host = World::default();
    let exact = run(module.as_ref(), &mut host, Call::Entry(0), &[], need);
    assert_eq!(exact.status, ExitStatus::Exit(0));
    assert_eq!(exact.gas_used, need);
}

/// The C counter compiled by the SDK (sdk/examples/build/counter.wasm), when it has been built.
#[test]
fn c_counter_follows_examples_md() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk/examples/build/counter.wasm");
    let Ok(code) = std::fs::read(&path) else {
        println!(
            "note: {} is absent (not built yet); skipping",
            path.display()
        );
        return;
    };
    scenario(prepare(&code).as_ref());
}
