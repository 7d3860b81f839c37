//! Running calls: exits, traps and their gas, limits at run time, self-dispatch.

mod common;

use common::{GAS, World, fixture, prepare, run};
use std::sync::{Arc, OnceLock};

use tos_engine_api::{Access, Call, ExitStatus, Gas, Outcome, PreparedModule, Trap};
use tos_engine_wasm::WasmConfig;

/// Gas of one page of memory.
const PAGE: Gas = WasmConfig::GAS_PER_MEMORY_PAGE;
/// `wasm.instance`: every call's instantiation, before anything runs.
const INSTANCE: Gas = 2_000;
/// What every call of `traps.wat` pays before it starts: its one page, the instantiation,
/// 2 per function (2 syscall imports + 17 defined) and 4 per table element (2 initial + 1
/// from the active segment).
const SETUP: Gas = PAGE + INSTANCE + 2 * 19 + 4 * (2 + 1);
/// What a call of a module function adds for the stack accounting around it: 12 operators.
const CALL_ACCOUNTING: Gas = 12;
/// Copying traps.wat's data segment ("hi") into memory at instantiation: one unit per byte
/// plus 2 for the copy itself.
const DATA: Gas = 2 + 2;

/// traps.wat, compiled once for the whole test binary.
fn traps_module() -> &'static dyn PreparedModule {
    static MODULE: OnceLock<Arc<dyn PreparedModule>> = OnceLock::new();
    MODULE.get_or_init(|| prepare(&fixture("traps"))).as_ref()
}

fn traps(call: Call, gas: Gas) -> (Outcome, World) {
    let module = traps_module();
    let mut host = World::default();
    let outcome = run(module, &mut host, call, &[], gas);
    (outcome, host)
}

#[test]
fn running_out_of_fuel_is_out_of_gas_charging_the_limit() {
    for limit in [0, 1, PAGE, PAGE + 1, 10_000, 123_457] {
        let (outcome, _) = traps(Call::Entry(0), limit);
        assert_eq!(outcome.trap(), Some(&Trap::OutOfGas), "limit {limit}");
        assert_eq!(outcome.gas_used, limit);
    }
}

#[test]
fn running_out_of_gas_between_or_inside_syscalls_charges_the_limit() {
    // entry_1 calls tos_get_block_height (20 gas) in a loop: whether the meter or the fuel
    // runs dry first, the call is out of gas and charged its limit.
    for limit in 300..340 {
        let (outcome, _) = traps(Call::Entry(1), limit);
        assert_eq!(outcome.trap(), Some(&Trap::OutOfGas), "limit {limit}");
        assert_eq!(outcome.gas_used, limit);
    }
}

#[test]
fn wasm_traps_map_to_engine_api_traps_with_pinned_gas() {
    // A trap raised by a wasm instruction charges the whole limit (see the crate docs).
    let cases: [(u16, Trap, Gas); 6] = [
        (2, Trap::DivisionByZero, GAS),
        (3, Trap::DivisionOverflow, GAS),
        (4, Trap::Unreachable, GAS),
        (
            5,
            Trap::MemoryAccess {
                addr: 0,
                len: 0,
                access: Access::Read,
            },
            GAS,
        ),
        (10, Trap::Invalid("uninitialized element".into()), GAS),
        (
            14,
            Trap::Invalid("invalid conversion to integer".into()),
            GAS,
        ),
    ];
    let mut seen = Vec::new();
    for (entry, trap, _) in &cases {
        let (outcome, host) = traps(Call::Entry(*entry), GAS);
        assert_eq!(outcome.trap(), Some(trap), "entry {entry}");
        assert!(host.logs().is_empty());
        seen.push((*entry, trap.clone(), outcome.gas_used));
    }
    assert_eq!(seen, cases);
}

#[test]
fn stack_overflow_traps_and_charges_the_limit() {
    let (outcome, _) = traps(Call::Entry(6), 100_000_000);
    assert_eq!(outcome.trap(), Some(&Trap::StackOverflow));
    assert_eq!(outcome.gas_used, 100_000_000);
    // With less gas than the recursion needs, it is simply out of gas.
    let (outcome, _) = traps(Call::Entry(6), 10_000);
    assert_eq!(outcome.trap(), Some(&Trap::OutOfGas));
}

#[test]
fn a_bad_syscall_pointer_reports_the_real_address() {
    let (outcome, host) = traps(Call::Entry(7), GAS);
    assert_eq!(
        outcome.trap(),
        Some(&Trap::MemoryAccess {
            addr: 65530,
            len: 10,
            access: Access::Read
        })
    );
    assert!(host.logs().is_empty());
    // Exact, since fuel is settled at syscalls: the set-up, 4 for the function (entry, two
    // constants, the call), tos_log's base cost and its 10 bytes, charged before the read.
    assert_eq!(outcome.gas_used, SETUP + DATA + 4 + 100 + 10);
}

#[test]
fn exits_return_data_and_logs() {
    let (outcome, _) = traps(Call::Entry(8), GAS);
    assert_eq!(outcome.status, ExitStatus::Exit(u64::MAX));
    // The set-up, 1 for entering the function, 1 for `i64.const`.
    assert_eq!(outcome.gas_used, SETUP + DATA + 2);

    let (outcome, _) = traps(Call::Entry(11), GAS);
    assert_eq!(outcome.status, ExitStatus::Exit(7));
    // Two functions entered, `i32.const`, `call_indirect`, `i64.const`, and the stack
    // accounting around the indirect call.
    assert_eq!(outcome.gas_used, SETUP + DATA + 5 + CALL_ACCOUNTING);

    let (outcome, host) = traps(Call::Entry(13), GAS);
    assert_eq!(outcome.status, ExitStatus::Exit(0));
    assert_eq!(host.logs(), [b"hi".to_vec()]);
    // Entry, three constants, the call (`drop` is free), then tos_log: 100 + 2 bytes.
    assert_eq!(outcome.gas_used, SETUP + DATA + 5 + 102);
}

#[test]
fn nan_results_are_canonical() {
    let (outcome, _) = traps(Call::Entry(12), GAS);
    assert_eq!(outcome.status, ExitStatus::Exit(0x7ff8_0000_0000_0000));
}

#[test]
fn memory_growth_stops_at_the_declared_maximum_and_at_the_engine_limit() {
    // traps.wat: 1 page, max 4: growing by 3 returns the old size 1, then by 1 more fails.
    let (outcome, _) = traps(Call::Entry(9), GAS);
    assert_eq!(outcome.status, ExitStatus::Exit((1 << 32) | 0xffff_ffff));
    // The initial page, 3 + 1 pages asked for (the failed growth is charged too), 11
    // operators and the function's entry.
    assert_eq!(outcome.gas_used, SETUP + PAGE * (3 + 1) + DATA + 12);

    // grow.wat: no declared maximum; 255 more pages reach the 256-page limit, one more fails.
    let module = prepare(&fixture("grow"));
    let mut host = World::default();
    let outcome = run(module.as_ref(), &mut host, Call::Entry(0), &[], GAS);
    assert_eq!(outcome.status, ExitStatus::Exit((1 << 32) | 0xffff_ffff));
    // Its instantiation: 2,000 + 2 for its one function.
    assert_eq!(outcome.gas_used, PAGE * (1 + 255 + 1) + INSTANCE + 2 + 12);

    // A tighter configuration tightens the run-time limit too.
    let mut config = WasmConfig::new();
    config.set_max_memory_pages(16);
    let engine = tos_engine_wasm::WasmEngine::new(config).unwrap();
    let module =
        tos_engine_api::ExecutionEngine::prepare(&engine, &fixture("grow"), &Default::default())
            .unwrap();
    let outcome = run(module.as_ref(), &mut host, Call::Entry(0), &[], GAS);
    // The first growth (to 256 pages) is refused, the second (to 2) granted.
    assert_eq!(outcome.status, ExitStatus::Exit((0xffff_ffff << 32) | 1));
}

#[test]
fn an_unknown_entry_runs_nothing_and_uses_no_gas() {
    for call in [Call::Entry(99), Call::Hook(0), Call::Hook(1)] {
        let (outcome, _) = traps(call, GAS);
        assert_eq!(outcome.status, ExitStatus::Trap(Trap::UnknownEntry(call)));
        assert_eq!(outcome.gas_used, 0);
        assert!(outcome.return_data.is_empty());
    }
}

#[test]
fn a_self_dispatching_module_gets_every_call_and_reads_its_input() {
    let module = prepare(&fixture("entrypoint"));
    let mut host = World::default();
    for call in [
        Call::Entry(0),
        Call::Entry(513),
        Call::Hook(0),
        Call::Hook(7),
    ] {
        let outcome = run(module.as_ref(), &mut host, call, b"abc", GAS);
        assert_eq!(
            outcome.status,
            ExitStatus::Exit(u64::from(call.id())),
            "{call}"
        );
        let header = tos_engine_api::CallInput::header(call, 3).unwrap();
        assert_eq!(outcome.return_data, header);
        // The page; the instantiation (2,000 + 2 per function: 2 imports and 1 defined);
        // two syscalls copying 8 bytes each (50 + 8); 9 operators and the entry.
        assert_eq!(outcome.gas_used, PAGE + INSTANCE + 2 * 3 + 2 * 58 + 10);
    }
}

#[test]
fn a_call_that_needs_exactly_its_limit_succeeds() {
    let (outcome, _) = traps(Call::Entry(13), GAS);
    let need = outcome.gas_used;
    let (exact, _) = traps(Call::Entry(13), need);
    assert_eq!(exact.status, ExitStatus::Exit(0));
    assert_eq!(exact.gas_used, need);
    let (short, host) = traps(Call::Entry(13), need - 1);
    assert_eq!(short.trap(), Some(&Trap::OutOfGas));
    assert_eq!(short.gas_used, need - 1);
    // The log was the last thing the call did and it still fit: it ran before the
    // shortfall was found. The host drops it with the failed call.
    assert_eq!(host.logs(), [b"hi".to_vec()]);
}

#[test]
fn straight_line_code_cannot_overrun_the_limit() {
    // entry_8 costs 2 after the set-up (entering the function, then `i64.const`, which comes
    // after wasmtime's last fuel check): one unit short, the call is still out of gas.
    for limit in [SETUP + DATA, SETUP + DATA + 1] {
        let (outcome, _) = traps(Call::Entry(8), limit);
        assert_eq!(outcome.trap(), Some(&Trap::OutOfGas), "limit {limit}");
        assert_eq!(outcome.gas_used, limit);
    }
    let (outcome, _) = traps(Call::Entry(8), SETUP + DATA + 2);
    assert_eq!(outcome.status, ExitStatus::Exit(u64::MAX));
    assert_eq!(outcome.gas_used, SETUP + DATA + 2);
}

#[test]
fn a_host_whose_input_is_another_call_is_a_fault() {
    // The host's input is entry 0's: running entry 13 (or a hook) against it is a host bug.
    let module = traps_module();
    for other in [Call::Entry(13), Call::Hook(0)] {
        let fault = World::default()
            .with_host(Call::Entry(0), b"ab", |h| module.run(other, h, GAS))
            .unwrap_err();
        assert_eq!(fault.engine, "wasm");
        assert!(fault.message.contains("input"), "{fault}");
    }
    let mut world = World::default();
    let outcome = run(module, &mut world, Call::Entry(13), b"ab", GAS);
    assert_eq!(outcome.status, ExitStatus::Exit(0));
}
