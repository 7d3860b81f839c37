//! Traceable modules (`WasmEngine::prepare_traceable`, what `tosvm --trace` runs): the same
//! outcomes, gas and effects as the ordinary module on every example and shape, including at
//! every limit around the out-of-gas boundary; and traces that follow every way into and out
//! of a function.

mod common;

use std::sync::Arc;

use common::{GAS, World, engine, example, fixture};
use tos_engine_api::{Call, ExecutionEngine, ExitStatus, Gas, Outcome, PreparedModule, trace};
use tos_syscalls::testing::abi_v2;

fn both(code: &[u8]) -> (Arc<dyn PreparedModule>, Arc<dyn PreparedModule>) {
    let engine = engine();
    let plain = engine.prepare(code, &abi_v2()).expect("the module loads");
    let traced = engine
        .prepare_traceable(code, &abi_v2())
        .expect("the traceable module loads");
    (plain, traced)
}

/// The outcome and the world after `call` on a fresh world, with a trace open when `record`.
fn run(
    module: &dyn PreparedModule,
    call: Call,
    params: &[u8],
    gas: Gas,
    record: bool,
) -> (Outcome, World, Option<trace::Trace>) {
    let mut world = World::default();
    let (outcome, t) = if record {
        let (o, t) = trace::record(100_000, || world.run(module, call, params, gas));
        (o, Some(t))
    } else {
        (world.run(module, call, params, gas), None)
    };
    (outcome.expect("no engine fault"), world, t)
}

/// The traceable module behaves as the ordinary one for `call` at `gas`.
fn same(
    name: &str,
    plain: &dyn PreparedModule,
    traced: &dyn PreparedModule,
    call: Call,
    params: &[u8],
    gas: Gas,
) -> Outcome {
    let (a, wa, _) = run(plain, call, params, gas, false);
    // Alternate between a recording trace and none: both paths must keep the gas.
    let (b, wb, _) = run(traced, call, params, gas, gas.is_multiple_of(2));
    let what = format!("{name} {call} at {gas} gas");
    assert_eq!(a.status, b.status, "{what}");
    assert_eq!(a.gas_used, b.gas_used, "{what}");
    assert_eq!(a.return_data, b.return_data, "{what}");
    assert_eq!(wa.state.storage, wb.state.storage, "{what}");
    assert_eq!(wa.events(), wb.events(), "{what}");
    assert_eq!(wa.logs(), wb.logs(), "{what}");
    a
}

/// Every call at a generous limit, then at every limit in a window around the gas it used
/// (the out-of-gas boundary) and at twenty limits below it.
fn compare(name: &str, code: &[u8], calls: &[(Call, Vec<u8>)]) {
    let (plain, traced) = both(code);
    for (call, params) in calls {
        let full = same(name, plain.as_ref(), traced.as_ref(), *call, params, GAS);
        let used = full.gas_used;
        let mut limits: Vec<Gas> = (used.saturating_sub(40)..=used.saturating_add(2)).collect();
        limits.extend((1..20).map(|i| used / 20 * i));
        for gas in limits {
            same(name, plain.as_ref(), traced.as_ref(), *call, params, gas);
        }
    }
}

fn sdk(name: &str) -> Option<Vec<u8>> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../sdk/examples/build/{name}.wasm"));
    std::fs::read(&path).ok()
}

#[test]
fn traceable_modules_keep_outcomes_gas_and_effects() {
    let entries =
        |n: u16| -> Vec<(Call, Vec<u8>)> { (0..n).map(|i| (Call::Entry(i), Vec::new())).collect() };
    compare("trace_shapes", &fixture("trace_shapes"), &entries(3));
    compare("traps", &fixture("traps"), &entries(8));
    compare("counter.wat", &example("counter"), &entries(2));
    for name in ["hello", "counter", "token", "router", "vault", "probe"] {
        let Some(code) = sdk(name) else {
            println!("note: sdk/examples/build/{name}.wasm is absent; skipped");
            continue;
        };
        compare(name, &code, &entries(4));
    }
    use tos_adversarial::wasm::{bounded_recursion, limits, many_functions_padded, nested_loops};
    compare(
        "bounded_recursion",
        &bounded_recursion(3, 4, 200),
        &entries(1),
    );
    compare("nested_loops", &nested_loops(4, 8), &entries(1));
    compare(
        "many_functions",
        &many_functions_padded(300, 300 * limits::BYTES_PER_FUNCTION),
        &entries(1),
    );
}

fn lines(t: &trace::Trace) -> Vec<&str> {
    t.lines.iter().map(String::as_str).collect()
}

#[test]
fn the_trace_follows_every_way_into_and_out_of_a_function() {
    let (_, traced) = both(&fixture("trace_shapes"));
    let (outcome, world, t) = run(traced.as_ref(), Call::Entry(0), &[], GAS, true);
    let t = t.unwrap();
    assert_eq!(
        outcome.status,
        ExitStatus::Exit(743 + world.tx.height),
        "{t:?}"
    );
    // Without a name section, functions are named by their export or index.
    assert_eq!(
        lines(&t)
            .iter()
            .map(|l| l.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        [
            "wasm -> entry_0",
            "wasm  -> func[1]",
            "wasm  <- func[1]",
            "wasm  -> func[1]",
            "wasm  <- func[1]",
            "wasm  -> func[2]",
            "wasm  <- func[2]",
            "wasm  -> func[3]",
            "wasm  <- func[3]",
            "wasm  -> func[3]",
            "wasm  <- func[3]",
            "wasm  -> func[3]",
            "wasm  <- func[3]",
            "wasm  -> func[2]",
            "syscall tos_get_block_height() -> 0x1, 20 gas",
            "wasm  <- func[2]",
            "wasm <- entry_0",
        ],
        "{t:?}"
    );
    // Each function's own gas; with the syscall and the set-up, it is all the call used.
    let own: u64 = t.functions.values().sum();
    assert!(
        t.functions["entry_0"] > 0 && t.functions["func[3]"] > 0,
        "{t:?}"
    );
    assert!(own < outcome.gas_used, "{t:?}");
}

#[test]
fn a_trap_closes_the_frames_it_left_open() {
    let (_, traced) = both(&fixture("trace_shapes"));
    let (outcome, _, t) = run(traced.as_ref(), Call::Entry(1), &[], GAS, true);
    let t = t.unwrap();
    assert_eq!(
        outcome.status,
        ExitStatus::Trap(tos_engine_api::Trap::Unreachable)
    );
    let l = lines(&t);
    assert_eq!(
        l.iter().filter(|l| l.contains("-> func[4]")).count(),
        4,
        "{l:?}"
    );
    let closed: Vec<&&str> = l.iter().filter(|l| l.contains("<- ")).collect();
    assert_eq!(closed.len(), 5, "{l:?}");
    assert!(closed.iter().all(|l| l.contains("(unreachable")), "{l:?}");
    assert!(closed[4].starts_with("wasm <- entry_1"), "{l:?}");
}

/// The set-up a call pays before wasm runs is the same for every call of a module, so what
/// the trace gives the functions and the syscalls leaves the same remainder on every call.
#[test]
fn function_and_syscall_gas_add_up_to_the_call() {
    let (_, traced) = both(&example("counter"));
    let mut rest = Vec::new();
    for entry in [0, 1] {
        let (outcome, _, t) = run(traced.as_ref(), Call::Entry(entry), &[], GAS, true);
        let t = t.unwrap();
        assert!(outcome.is_success(), "{outcome:?}");
        let syscalls: u64 = t
            .lines
            .iter()
            .filter(|l| l.starts_with("syscall "))
            .map(|l| {
                let gas = l.rsplit(", ").next().unwrap();
                gas.trim_end_matches(" gas").parse::<u64>().unwrap()
            })
            .sum();
        let own: u64 = t.functions.values().sum();
        rest.push(outcome.gas_used - own - syscalls);
    }
    assert_eq!(
        rest[0], rest[1],
        "the set-up differs between calls: {rest:?}"
    );
}
