//! Adversarial legacy modules: the stack VM's most expensive operations per gas, and the
//! largest module its validator must check.

use tos_engine_api::{Call, ModuleTag};

use crate::Case;

fn module(source: &str) -> Vec<u8> {
    // The sources below are fixed and valid; a failure is a bug of this crate.
    let module = tos_engine_legacy::assemble(source)
        .unwrap_or_else(|e| panic!("adversarial legacy source: {e}"));
    module
        .to_bytes()
        .unwrap_or_else(|e| panic!("adversarial legacy module: {e}"))
}

/// A loop that runs `body` (which must leave the stack as it found it) until gas runs out.
fn looping(name: &str, what: &'static str, consts: &str, body: &str) -> Case {
    let source = format!(
        "{consts}\n.chunk main args=1 locals=1\ntop:\n{body}\n    jmp top\n.entry 0 main\n"
    );
    Case {
        name: format!("legacy.{name}"),
        what,
        tag: ModuleTag::LEGACY,
        code: module(&source),
        call: Some((Call::Entry(0), Vec::new())),
    }
}

/// Every adversarial legacy case.
pub fn cases() -> Vec<Case> {
    let big = format!(".const big x\"{}\"", "ab".repeat(64 * 1024));
    let other = format!(".const other x\"{}\"", "ab".repeat(64 * 1024));
    let mut cases = vec![
        looping(
            "copy_64k",
            "copy a 64 KiB bytes value over and over (paid per 8 bytes)",
            &big,
            "    const big\n    pop",
        ),
        looping(
            "eq_64k",
            "compare two equal 64 KiB values over and over",
            &format!("{big}\n{other}"),
            "    const big\n    const other\n    eq\n    pop",
        ),
        looping(
            "slice_concat",
            "build 64 KiB values from two 32 KiB slices, over and over",
            &big,
            "    const big\n    imm 0\n    const big\n    len\n    imm 2\n    div\n    bytes.slice\n    const big\n    imm 0\n    const big\n    len\n    imm 2\n    div\n    bytes.slice\n    bytes.concat\n    pop",
        ),
    ];
    // The largest module the engine accepts, full of short chunks: what validation costs.
    let mut source = String::new();
    let mut n = 0;
    while source.len() < 1_400_000 && n < 1000 {
        source.push_str(&format!(".chunk c{n} args=1\n"));
        for _ in 0..250 {
            source.push_str("    imm 1\n    pop\n");
        }
        source.push_str("    imm 0\n    exit\n");
        n += 1;
    }
    source.push_str(".entry 0 c0\n");
    cases.push(Case {
        name: "legacy.largest_module".into(),
        what: "deploy the largest module validation must walk",
        tag: ModuleTag::LEGACY,
        code: module(&source),
        call: None,
    });
    cases
}
