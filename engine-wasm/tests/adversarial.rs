//! The security review's modules (built by `tos-adversarial`): each is refused fast with a
//! named limit, charged, or deterministic.
//!
//! The `measure_*` tests are ignored: they print the node's CPU time per byte or per gas for
//! each shape. Run them in release mode:
//! `cargo test --release -p tos-engine-wasm --test adversarial -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::{GAS, World, run};
use tos_adversarial::wasm::{self as adv, limits};
use tos_engine_api::{Call, ExecutionEngine, ExitStatus, LoadError, Outcome, Trap};
use tos_engine_wasm::{WasmConfig, WasmEngine};
use tos_syscalls::testing::abi_v1;

fn engine_with(optimize: bool) -> WasmEngine {
    let mut config = WasmConfig::new();
    config.set_optimize(optimize);
    WasmEngine::new(config).unwrap()
}

/// Prepares `code`, returning the result and how long it took.
fn timed_prepare(
    engine: &WasmEngine,
    code: &[u8],
) -> (
    Result<std::sync::Arc<dyn tos_engine_api::PreparedModule>, LoadError>,
    Duration,
) {
    let start = Instant::now();
    let result = engine.prepare(code, &abi_v1());
    (result, start.elapsed())
}

/// The refusal of `code`, which must name `limit`.
fn refused_naming(code: &[u8], limit: &str) -> Duration {
    let (result, took) = timed_prepare(&common::engine(), code);
    match result {
        Err(LoadError::Unsupported(m)) => assert!(m.contains(limit), "{m}"),
        Err(e) => panic!("refused, but not for {limit}: {e}"),
        Ok(_) => panic!("loaded, but should be refused for {limit}"),
    }
    took
}

#[test]
fn every_case_loads_or_is_refused_with_a_named_limit() {
    let engine = common::engine();
    for case in adv::cases() {
        let refused = ["global", "review", "over", "too_deep", "tiny"];
        if cfg!(debug_assertions) && !refused.iter().any(|r| case.name.contains(r)) {
            continue;
        }
        let (result, took) = timed_prepare(&engine, &case.code);
        let expect = match case.name.as_str() {
            "wasm.globals_in_one_function" | "wasm.globals_200k" => Some("MAX_GLOBALS"),
            "wasm.nested_loops_over_limit" => Some("MAX_LOOP_CARRIED_LOCALS"),
            "wasm.nested_loops_too_deep" | "wasm.nested_loops_review" => Some("MAX_LOOP_NESTING"),
            "wasm.many_tiny_functions" => Some("BYTES_PER_FUNCTION"),
            _ => None,
        };
        match (expect, result) {
            // Unoptimized Cranelift compiles the largest shapes slowly: only their refusals
            // are checked in debug builds.
            (None, _) if cfg!(debug_assertions) => {}
            (Some(limit), Err(LoadError::Unsupported(m))) => {
                assert!(m.contains(limit), "{}: {m}", case.name);
                // Refused by the pre-pass: no compilation. Generous for debug builds.
                assert!(took < Duration::from_secs(2), "{}: {took:?}", case.name);
            }
            (None, Ok(_)) => {}
            (expect, result) => panic!(
                "{}: expected {expect:?}, got {:?}",
                case.name,
                result.map(|_| ())
            ),
        }
    }
}

#[test]
fn the_review_shapes_are_refused_by_name() {
    refused_naming(&adv::globals_in_one_function(65_533), "MAX_GLOBALS");
    refused_naming(&adv::nested_loops(100, 2_048), "MAX_LOOP_NESTING");
    refused_naming(&adv::nested_loops(16, 2_048), "MAX_LOOP_CARRIED_LOCALS");
    refused_naming(&adv::many_functions(1_000), "BYTES_PER_FUNCTION");
    refused_naming(
        &adv::nested_loops(1, limits::LOCALS_PER_FUNCTION + 1),
        "MAX_LOCALS_PER_FUNCTION",
    );
    refused_naming(
        &adv::br_table(limits::CONTROL_DEPTH + 1, 1),
        "MAX_CONTROL_DEPTH",
    );
    refused_naming(
        &adv::br_table(4, limits::BR_TABLE_TARGETS + 1),
        "MAX_BR_TABLE_TARGETS",
    );
    refused_naming(
        &adv::many_functions_padded(limits::FUNCTIONS + 1, 700_000),
        "MAX_FUNCTIONS",
    );
    refused_naming(
        &adv::straight_line(limits::FUNCTION_BODY_SIZE + 64),
        "MAX_FUNCTION_BODY_SIZE",
    );
}

/// A module refused after compiling would burn the compile time again at every
/// resubmission: the ABI checks come first.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "compiles the largest shape: run in release mode"
)]
fn abi_refusals_happen_before_compiling() {
    // One of the slowest compiles the limits allow (about 2 s), without a `memory` export:
    // refused in the pre-pass, as fast as reading it.
    let shape = || adv::many_functions_with_locals(50, limits::LOCALS_PER_FUNCTION);
    let mut code = shape();
    // Rename the `memory` export (same length keeps the binary valid).
    let at = code
        .windows(6)
        .position(|w| w == b"memory")
        .expect("a memory export");
    code[at..at + 6].copy_from_slice(b"memorx");
    let (result, took) = timed_prepare(&common::engine(), &code);
    assert!(
        matches!(result, Err(LoadError::MissingExport(ref m)) if m == "memory"),
        "{:?}",
        result.map(|_| ())
    );
    let (loaded, compile) = timed_prepare(&common::engine(), &shape());
    assert!(loaded.is_ok());
    assert!(took * 4 < compile, "refusal {took:?}, compile {compile:?}");
}

/// The per-call instantiation work is charged before anything runs.
#[test]
fn instantiation_work_is_charged() {
    let cheap = common::prepare(&adv::heavy_instance(0, 0, 1));
    let heavy = common::prepare(&adv::heavy_instance(
        limits::GLOBALS,
        limits::TABLE_ELEMENTS,
        4_000,
    ));
    let call = |m: &dyn tos_engine_api::PreparedModule| {
        let mut host = World::default();
        run(m, &mut host, Call::Entry(0), &[], GAS)
    };
    let (a, b) = (call(&*cheap), call(&*heavy));
    assert_eq!(a.status, ExitStatus::Exit(0));
    assert_eq!(b.status, ExitStatus::Exit(0));
    // 255 per page + wasm.instance 2,000 + 2 per function, 10 per global, 4 per table
    // element (4,096 initial + 4,096 from the active segment), then `i64.const 0` (1) and
    // the function entry (1).
    assert_eq!(a.gas_used, 255 + 2_000 + 2 + 2);
    assert_eq!(
        b.gas_used,
        255 + 2_000 + 2 * 4_000 + 10 * 1_024 + 4 * (4_096 + 4_096) + 2
    );
}

/// The deepest chain of the most stack-hungry function the limits allow: same result and
/// same gas with and without Cranelift's optimizations, never a native overflow; one call
/// deeper overflows deterministically in both.
#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "compiles the largest frames: run in release mode"
)]
fn the_stack_limit_is_deterministic_for_the_hungriest_frame() {
    deepest_chain_is_deterministic(limits::LOCALS_PER_FUNCTION - 1, limits::OPERAND_STACK - 2);
}

/// The same rule for frames that debug builds compile quickly.
#[test]
fn the_stack_limit_is_deterministic() {
    deepest_chain_is_deterministic(200, 100);
    deepest_chain_is_deterministic(0, 1);
}

fn deepest_chain_is_deterministic(locals: u32, stack: u32) {
    // The depth is a constant in the body, so it changes the body's size: iterate.
    let mut deepest =
        WasmConfig::STACK_SLOTS / frame_cost(&adv::bounded_recursion(locals, stack, 1));
    for _ in 0..3 {
        deepest =
            WasmConfig::STACK_SLOTS / frame_cost(&adv::bounded_recursion(locals, stack, deepest));
    }
    let cost = frame_cost(&adv::bounded_recursion(locals, stack, deepest));
    assert_eq!(
        cost,
        frame_cost(&adv::bounded_recursion(locals, stack, deepest + 1))
    );
    assert_eq!(deepest, WasmConfig::STACK_SLOTS / cost);
    assert!(deepest >= 2, "frame cost {cost}");
    let mut seen = Vec::new();
    for optimize in [true, false] {
        let engine = engine_with(optimize);
        for depth in [deepest, deepest + 1] {
            let code = adv::bounded_recursion(locals, stack, depth);
            let module = engine.prepare(&code, &abi_v1()).unwrap();
            let mut host = World::default();
            let outcome: Outcome = run(&*module, &mut host, Call::Entry(0), &[], 50_000_000);
            seen.push((optimize, depth, outcome.status.clone(), outcome.gas_used));
        }
    }
    let (ok, over) = (&seen[0], &seen[1]);
    assert!(matches!(ok.2, ExitStatus::Exit(_)), "{seen:?}");
    assert_eq!(over.2, ExitStatus::Trap(Trap::StackOverflow), "{seen:?}");
    assert_eq!(over.3, 50_000_000);
    assert_eq!((&seen[2].2, seen[2].3), (&ok.2, ok.3), "{seen:?}");
    assert_eq!((&seen[3].2, seen[3].3), (&over.2, over.3), "{seen:?}");
}

/// Small frames recurse deep, the same way in both code generation modes.
#[test]
fn unbounded_recursion_overflows_the_same_way_in_both_modes() {
    let hungriest = if cfg!(debug_assertions) {
        (300, 64)
    } else {
        (limits::LOCALS_PER_FUNCTION - 1, limits::OPERAND_STACK - 2)
    };
    for (locals, stack) in [(0, 1), (16, 8), hungriest] {
        let code = adv::recursion(locals, stack);
        let mut seen = Vec::new();
        for optimize in [true, false] {
            let module = engine_with(optimize).prepare(&code, &abi_v1()).unwrap();
            let mut host = World::default();
            let outcome = run(&*module, &mut host, Call::Entry(0), &[], 90_000_000);
            seen.push((outcome.status, outcome.gas_used));
        }
        assert_eq!(seen[0], seen[1], "{locals} locals");
        assert_eq!(seen[0].0, ExitStatus::Trap(Trap::StackOverflow));
    }
}

/// Loop-free code stops within [`WasmConfig::MAX_FUEL_OVERRUN`] operators of running out.
#[test]
fn straight_line_code_stops_soon_after_its_gas() {
    let code = adv::straight_line(limits::FUNCTION_BODY_SIZE - 64);
    let module = common::prepare(&code);
    let mut host = World::default();
    let full = run(&*module, &mut host, Call::Entry(0), &[], GAS);
    assert!(matches!(full.status, ExitStatus::Exit(_)));
    // One gas short of what it needs: out of gas, charged its limit.
    let short = run(&*module, &mut host, Call::Entry(0), &[], full.gas_used - 1);
    assert_eq!(short.status, ExitStatus::Trap(Trap::OutOfGas));
    assert_eq!(short.gas_used, full.gas_used - 1);
}

/// The frame cost the engine gives the one defined function of `code` (mirrors the
/// documented rule: `FRAME_OVERHEAD` + locals + highest operand stack + body bytes / 8).
fn frame_cost(code: &[u8]) -> u32 {
    use wasmparser::{Parser, Payload, ValidPayload, Validator};
    let mut validator = Validator::new();
    for payload in Parser::new(0).parse_all(code) {
        let payload = payload.unwrap();
        if let ValidPayload::Func(func, body) = validator.payload(&payload).unwrap() {
            let mut v = func.into_validator(Default::default());
            let mut locals = 0u64;
            let mut reader = body.get_locals_reader().unwrap();
            for _ in 0..reader.get_count() {
                let offset = reader.original_position();
                let (n, ty) = reader.read().unwrap();
                locals += u64::from(n);
                v.define_locals(offset, n, ty).unwrap();
            }
            let mut ops = body.get_operators_reader().unwrap();
            let mut max = 0;
            while !ops.eof() {
                let offset = ops.original_position();
                let op = ops.read().unwrap();
                v.op(offset, &op).unwrap();
                max = max.max(v.operand_stack_height());
            }
            let size = body.range().len() as u64;
            let slots =
                u64::from(WasmConfig::FRAME_OVERHEAD) + locals + u64::from(max) + size.div_ceil(8);
            return slots as u32;
        }
        if let Payload::End(_) = payload {
            break;
        }
    }
    panic!("no function")
}

/// Compile time per byte of each deploy shape (the largest the limits allow), for
/// calibrating `wasm.prepare_per_byte`.
#[test]
#[ignore = "a measurement: run in release mode with --nocapture"]
fn measure_compile_time_per_byte() {
    let engine = common::engine();
    let mut shapes: Vec<(String, Vec<u8>)> =
        adv::cases().into_iter().map(|c| (c.name, c.code)).collect();
    for (loops, locals) in [(2, 70), (4, 24), (8, 9), (16, 4), (16, 68)] {
        shapes.push((
            format!("nested_loops({loops}, {locals})"),
            adv::nested_loops(loops, locals),
        ));
    }
    for (loops, locals) in [(3, 2048), (6, 1024), (25, 256)] {
        shapes.push((
            format!("sequential_loops({loops}, {locals})"),
            adv::sequential_loops(loops, locals),
        ));
    }
    for n in [1_000, 4_000, 10_000] {
        shapes.push((
            format!("many_functions_padded({n}, {})", n * 64),
            adv::many_functions_padded(n, n * 64),
        ));
    }
    for locals in [256, 1024, 2048] {
        let count = (900_000 / (8 * u64::from(locals))).min(400) as u32;
        shapes.push((
            format!("many_functions_with_locals({count}, {locals})"),
            adv::many_functions_with_locals(count, locals),
        ));
    }
    for (locals, stack) in [(1, 1000), (1, 254), (2047, 254), (2047, 1)] {
        shapes.push((
            format!("recursion({locals}, {stack})"),
            adv::recursion(locals, stack),
        ));
    }
    shapes.push((
        "straight_line(64K)".into(),
        adv::straight_line(64 * 1024 - 64),
    ));
    for (name, code) in shapes {
        let (result, took) = timed_prepare(&engine, &code);
        let ns_per_byte = took.as_nanos() as f64 / code.len() as f64;
        println!(
            "{name:45} {:>8} bytes {:>10.3} ms {:>9.1} ns/byte {}",
            code.len(),
            took.as_secs_f64() * 1e3,
            ns_per_byte,
            match result {
                Ok(_) => "loaded".to_owned(),
                Err(e) => format!("refused: {e}"),
            }
        );
    }
}

/// Time per gas of calls that do little but instantiate.
#[test]
#[ignore = "a measurement: run in release mode with --nocapture"]
fn measure_call_time_per_gas() {
    let shapes = [
        ("empty", adv::heavy_instance(0, 0, 1)),
        ("globals 1024", adv::heavy_instance(limits::GLOBALS, 0, 1)),
        (
            "table 4096",
            adv::heavy_instance(0, limits::TABLE_ELEMENTS, 1),
        ),
        (
            "functions 10000",
            adv::heavy_instance(0, 0, limits::FUNCTIONS),
        ),
        (
            "all",
            adv::heavy_instance(limits::GLOBALS, limits::TABLE_ELEMENTS, limits::FUNCTIONS),
        ),
        (
            "globals_in_one_function(1024)",
            adv::globals_in_one_function(limits::GLOBALS),
        ),
        ("straight_line 64K", adv::straight_line(64 * 1024 - 64)),
        ("recursion(0, 1)", adv::recursion(0, 1)),
        ("recursion(2047, 254)", adv::recursion(2047, 254)),
    ];
    for (name, code) in shapes {
        let module = common::prepare(&code);
        let mut host = World::default();
        let limit = 50_000_000;
        let first = run(&*module, &mut host, Call::Entry(0), &[], limit);
        let n = 200;
        let start = Instant::now();
        for _ in 0..n {
            run(&*module, &mut host, Call::Entry(0), &[], limit);
        }
        let per_call = start.elapsed() / n;
        // A call pays the host's intrinsic 1,000 gas on top of the engine's.
        let gas = first.gas_used + 1_000;
        println!(
            "{name:22} {:>10?} per call, {gas:>10} gas, {:>8.3} ns/gas ({:?})",
            per_call,
            per_call.as_nanos() as f64 / gas as f64,
            first.status
        );
    }
    // Running out of gas with 1 gas left in the largest straight-line body.
    let module = common::prepare(&adv::straight_line(64 * 1024 - 64));
    let mut host = World::default();
    let full = run(&*module, &mut host, Call::Entry(0), &[], GAS).gas_used;
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        run(&*module, &mut host, Call::Entry(0), &[], full - 1);
    }
    println!(
        "straight_line, 1 gas short of {full}: {:?} per call",
        start.elapsed() / n
    );
}
