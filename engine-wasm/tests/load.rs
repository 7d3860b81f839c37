//! What `prepare` refuses, and that each refusal names the offending thing.

mod common;

use common::{engine, fixture, load_error, prepare};
use tos_engine_api::{Call, ExecutionEngine, LoadError};
use tos_engine_wasm::{WasmConfig, WasmEngine};

#[test]
fn invalid_wasm_is_a_clear_load_error() {
    assert!(matches!(load_error(b""), LoadError::Malformed(m) if m.contains("too short")));
    assert!(matches!(load_error(b"(module)"), LoadError::Malformed(m) if m.contains("magic")));
    // A valid header followed by a section id that does not exist.
    let err = load_error(b"\0asm\x01\0\0\0\x7f\x00");
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("section")),
        "{err}"
    );
    // A truncated module: the header and half a type section.
    let err = load_error(b"\0asm\x01\0\0\0\x01\x05\x01");
    assert!(matches!(&err, LoadError::Verification(_)), "{err}");
}

#[test]
fn text_format_is_refused() {
    // The engine accepts binaries only, even though wasmtime could parse text.
    let wat = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/counter.wat")).unwrap();
    assert!(matches!(load_error(&wat), LoadError::Malformed(m) if m.contains("magic")));
}

#[test]
fn a_missing_memory_export_is_named() {
    assert_eq!(
        load_error(&fixture("no_memory")),
        LoadError::MissingExport("memory".into())
    );
}

#[test]
fn an_imported_memory_is_refused() {
    let err = load_error(&fixture("imported_memory"));
    assert!(
        matches!(&err, LoadError::Unsupported(m) if m.contains("`env`.`memory` is a memory")),
        "{err}"
    );
}

#[test]
fn wrongly_typed_entries_are_load_errors() {
    let err = load_error(&fixture("bad_entry_type"));
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("`entry_0`") && m.contains("(i32) -> (i64)")),
        "{err}"
    );
    let err = load_error(&fixture("entry_returns_i32"));
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("`hook_0`") && m.contains("() -> (i32)")),
        "{err}"
    );
    let err = load_error(&fixture("bad_entry_name"));
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("`entry_07`")),
        "{err}"
    );
}

#[test]
fn a_module_without_entries_is_refused() {
    let err = load_error(&fixture("no_entries"));
    assert!(
        matches!(&err, LoadError::MissingExport(m) if m.contains("entrypoint")),
        "{err}"
    );
}

#[test]
fn unknown_imports_name_the_syscall() {
    assert_eq!(
        load_error(&fixture("unknown_import")),
        LoadError::UnknownSyscall("tos_teleport".into())
    );
    assert_eq!(
        load_error(&fixture("unknown_import")).to_string(),
        "module imports unknown syscall `tos_teleport`"
    );
}

#[test]
fn imports_from_other_modules_or_with_other_types_are_refused() {
    let err = load_error(&fixture("foreign_import"));
    assert!(
        matches!(&err, LoadError::Unsupported(m) if m.contains("`wasi_snapshot_preview1`.`fd_write`") && m.contains("`env`")),
        "{err}"
    );
    let err = load_error(&fixture("bad_import_type"));
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("`env`.`tos_log`") && m.contains("(i32, i32) -> (i32)") && m.contains("2 i64")),
        "{err}"
    );
}

#[test]
fn nondeterministic_and_unbounded_features_are_refused() {
    let err = load_error(&fixture("simd"));
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("SIMD")),
        "{err}"
    );
    let err = load_error(&fixture("threads"));
    assert!(
        matches!(&err, LoadError::Verification(m) if m.contains("threads")),
        "{err}"
    );
    let err = load_error(&fixture("big_memory"));
    assert!(
        matches!(&err, LoadError::Unsupported(m) if m.contains("257 initial pages") && m.contains("256 pages")),
        "{err}"
    );
}

#[test]
fn oversized_modules_are_refused_before_parsing() {
    let mut config = WasmConfig::new();
    config.set_max_module_size(100);
    let small = WasmEngine::new(config).unwrap();
    let code = fixture("traps");
    assert!(code.len() > 100);
    assert!(matches!(
        small.prepare(&code, &tos_syscalls::testing::abi_v1()),
        Err(LoadError::TooLarge { size, limit: 100 }) if size == code.len()
    ));
    let big = vec![0u8; WasmConfig::MAX_MODULE_SIZE + 1];
    assert!(matches!(
        engine().prepare(&big, &tos_syscalls::testing::abi_v1()),
        Err(LoadError::TooLarge { .. })
    ));
}

#[test]
fn configurations_outside_the_ceilings_are_refused() {
    let mut config = WasmConfig::new();
    config.set_max_memory_pages(WasmConfig::MAX_MEMORY_PAGES + 1);
    let err = WasmEngine::new(config).unwrap_err();
    assert!(err.contains("max_memory_pages"), "{err}");
}

#[test]
fn module_info_lists_entries_and_sorted_imports() {
    let module = prepare(&common::example("counter"));
    let info = module.info();
    assert_eq!(
        info.entries.entries.iter().copied().collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(info.entries.hooks.iter().copied().collect::<Vec<_>>(), [0]);
    assert!(!info.entries.self_dispatch);
    assert!(info.entries.has_constructor());
    assert_eq!(
        info.imports,
        [
            "tos_fire_event",
            "tos_get_input",
            "tos_set_return_data",
            "tos_storage_load",
            "tos_storage_store"
        ]
    );
    assert_eq!(info.code_size, common::example("counter").len());
    let listing = module.disassemble().unwrap();
    assert!(
        listing.contains("env.tos_storage_load (i64, i64, i64, i64) -> (i64)"),
        "{listing}"
    );
    assert!(listing.contains("entry_2 () -> (i64)"), "{listing}");

    let module = prepare(&fixture("entrypoint"));
    assert!(module.info().entries.self_dispatch);
    assert!(module.info().entries.accepts(Call::Hook(9)));
    assert!(!module.info().entries.has_constructor());
}

#[test]
fn the_engine_identifies_itself() {
    let e = engine();
    assert_eq!(e.name(), "wasm");
    assert_eq!(e.tag(), tos_engine_api::ModuleTag::WASM);
    assert_eq!(e.version(), 2);
}
