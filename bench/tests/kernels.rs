//! Determinism of the benchmark kernels: natively, on TBPF (interpreter and JIT) and on wasm
//! through the real host, and on the bare floors, every kernel gives the same checksum; TBPF's
//! interpreter and JIT charge the same gas. Skipped, with a note, where clang is absent.

use tos_bench::bare_rbpf::BareRbpf;
use tos_bench::bare_wasm::BareWasm;
use tos_bench::modules::{self, Built, KERNELS};
use tos_bench::world::{Contract, make_host};
use tos_bench::{GAS_LIMIT, native};
use tos_engine_api::{Call, ModuleTag};

#[test]
fn every_kernel_gives_the_native_checksum_on_every_engine() {
    let (Some(so), Some(wasm)) = (modules::tbpf(Built::Kernels), modules::wasm(Built::Kernels))
    else {
        eprintln!("{}", modules::skip_note().unwrap_or_default());
        return;
    };
    if !native::AVAILABLE {
        eprintln!("{}", modules::skip_note().unwrap_or_default());
        return;
    }
    let interp_host = make_host(false, None).unwrap();
    let jit_host = make_host(true, None).unwrap();
    let mut interp = Contract::deploy(&interp_host, ModuleTag::TBPF, so).unwrap();
    let mut jit = Contract::deploy(&jit_host, ModuleTag::TBPF, so).unwrap();
    let mut on_wasm = Contract::deploy(&interp_host, ModuleTag::WASM, wasm).unwrap();
    let bare_rbpf = BareRbpf::load(so, false).unwrap();
    let bare_wasm = BareWasm::load(wasm).unwrap();
    let mut scratch = native::Scratch::new();
    let mut seen = Vec::new();
    for k in KERNELS {
        let n = k.test_n;
        let params = k.params(n);
        let expected = native::run(k.id, n, &mut scratch).unwrap();
        assert_ne!(expected, native::BAD_ARGS, "{}({n})", k.name);
        assert!(!seen.contains(&expected), "{}: checksum repeats", k.name);
        seen.push(expected);
        let (sum, gas) = interp.kernel(&params).unwrap();
        assert_eq!(sum, expected, "{}({n}) on the TBPF interpreter", k.name);
        let (jit_sum, jit_gas) = jit.kernel(&params).unwrap();
        assert_eq!(jit_sum, expected, "{}({n}) on the TBPF JIT", k.name);
        assert_eq!(jit_gas, gas, "{}({n}): JIT and interpreter gas", k.name);
        let (wasm_sum, _) = on_wasm.kernel(&params).unwrap();
        assert_eq!(wasm_sum, expected, "{}({n}) on wasm", k.name);
        let bare = bare_rbpf.run(Call::Entry(0), &params, GAS_LIMIT).unwrap();
        assert_eq!(bare.exit, 0);
        assert_eq!(
            bare.return_data,
            expected.to_le_bytes(),
            "{} on bare rbpf",
            k.name
        );
        let bare = bare_wasm.run(Call::Entry(0), &params, GAS_LIMIT).unwrap();
        assert_eq!(bare.exit, 0);
        assert_eq!(
            bare.return_data,
            expected.to_le_bytes(),
            "{} on bare wasmtime",
            k.name
        );
    }
}

#[test]
fn an_unknown_kernel_or_bad_params_exit_with_a_code() {
    let Some(so) = modules::tbpf(Built::Kernels) else {
        eprintln!("{}", modules::skip_note().unwrap_or_default());
        return;
    };
    let host = make_host(false, None).unwrap();
    let mut c = Contract::deploy(&host, ModuleTag::TBPF, so).unwrap();
    let code = |r: tos_host::CallReport| r.outcome.status.to_string();
    let unknown = c.call(Call::Entry(0), &[9, 0, 0, 0, 1, 0, 0, 0]).unwrap();
    let short = c.call(Call::Entry(0), &[0, 0, 0]).unwrap();
    assert!(!unknown.is_success() && !short.is_success());
    assert_ne!(code(unknown), code(short));
}

#[test]
fn the_trivial_modules_run_and_the_big_one_is_near_the_limit() {
    let host = make_host(false, None).unwrap();
    let legacy = modules::trivial_legacy().unwrap();
    let mut modules_to_run = vec![(ModuleTag::LEGACY, legacy)];
    for m in [Built::Trivial, Built::Big] {
        modules_to_run.extend(modules::tbpf(m).map(|c| (ModuleTag::TBPF, c.to_vec())));
        modules_to_run.extend(modules::wasm(m).map(|c| (ModuleTag::WASM, c.to_vec())));
    }
    if let Some(big) = modules::tbpf(Built::Big) {
        assert!(
            big.len() > 1_000_000 && big.len() < 1024 * 1024 - 5,
            "{}",
            big.len()
        );
    }
    if let Some(big) = modules::wasm(Built::Big) {
        // wasm charges per byte at deploy far more than TBPF: a 1 MiB wasm module is over the
        // per-transaction gas cap, and the host says so before compiling anything.
        let e = Contract::deploy(&host, ModuleTag::WASM, big).unwrap_err();
        assert!(e.0.contains("gas"), "{e}");
        modules_to_run.retain(|(tag, code)| !(*tag == ModuleTag::WASM && code == big));
    }
    for (tag, code) in modules_to_run {
        let mut c = Contract::deploy(&host, tag, &code).unwrap();
        let r = c.call_ok(0, &[]).unwrap();
        assert!(r.outcome.return_data.is_empty());
    }
}
