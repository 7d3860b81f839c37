//! Tools for contract authors: `link` (TBPF objects → module, through tos-tbpf-link) and
//! `asm` / `disasm` (the legacy assembler of tos-engine-legacy).

use std::path::{Path, PathBuf};

use serde_json::json;
use tos_tbpf_link::{ExportKind, LinkOptions};

use crate::args::read_limited;
use crate::commands::Ctx;
use crate::error::{CliError, EXIT_OK};
use crate::output::{field, print_json, thousands};

/// Largest object file `link` reads, and largest assembly source `asm` reads: 16 MiB.
pub(crate) const MAX_TOOL_INPUT: usize = 16 * 1024 * 1024;

fn write_output(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::user(format!("cannot write {}: {e}", path.display())))
}

/// `tosvm link -o OUT IN.o...`.
pub(crate) fn link(
    ctx: &Ctx,
    output: &Path,
    inputs: &[PathBuf],
    any_syscall: bool,
) -> Result<i32, CliError> {
    let mut objects = Vec::with_capacity(inputs.len());
    for p in inputs {
        objects.push((
            p.display().to_string(),
            read_limited(p, MAX_TOOL_INPUT, "object file")?,
        ));
    }
    let refs: Vec<(&str, &[u8])> = objects
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let options = if any_syscall {
        LinkOptions::default()
    } else {
        LinkOptions::tos_abi()
    };
    let linked = tos_tbpf_link::link_module(&refs, &options)
        .map_err(|e| CliError::user(format!("link failed: {e}")))?;
    write_output(output, &linked.bytes)?;
    let kind = |k: ExportKind| match k {
        ExportKind::Entrypoint => "entrypoint",
        ExportKind::Entry => "entry",
        ExportKind::Hook => "hook",
    };
    if ctx.json {
        print_json(&json!({
            "command": "link",
            "output": output.display().to_string(),
            "size": linked.bytes.len(),
            "code_hash": hex::encode(blake3::hash(&linked.bytes).as_bytes()),
            "entry": linked.entry,
            "generated_entrypoint": linked.generated_entrypoint,
            "exports": linked.exports.iter().map(|e| json!({
                "name": e.name, "kind": kind(e.kind), "id": e.id, "addr": e.addr,
            })).collect::<Vec<_>>(),
            "syscalls": linked.syscalls,
        }));
    } else {
        outln!("{}", field(0, "wrote", output.display()));
        outln!(
            "{}",
            field(
                0,
                "size",
                format!("{} bytes", thousands(linked.bytes.len() as u64))
            )
        );
        outln!(
            "{}",
            field(
                0,
                "entrypoint",
                if linked.generated_entrypoint {
                    "generated dispatcher"
                } else {
                    "defined by the objects"
                }
            )
        );
        let exports: Vec<&str> = linked.exports.iter().map(|e| e.name.as_str()).collect();
        outln!("{}", field(0, "exports", exports.join(", ")));
        let syscalls = if linked.syscalls.is_empty() {
            "none".to_owned()
        } else {
            linked.syscalls.join(", ")
        };
        outln!("{}", field(0, "syscalls", syscalls));
    }
    Ok(EXIT_OK)
}

/// Assembles legacy assembly `text` (from `shown`) into module bytes.
pub(crate) fn assemble_text(text: &str, shown: &str) -> Result<Vec<u8>, CliError> {
    let module =
        tos_engine_legacy::assemble(text).map_err(|e| CliError::user(format!("{shown}: {e}")))?;
    module
        .to_bytes()
        .map_err(|e| CliError::user(format!("{shown}: the assembled module is not valid: {e}")))
}

/// `tosvm asm IN -o OUT`.
pub(crate) fn asm(ctx: &Ctx, input: &Path, output: &Path) -> Result<i32, CliError> {
    let bytes = read_limited(input, MAX_TOOL_INPUT, "assembly source")?;
    let shown = input.display().to_string();
    let text = String::from_utf8(bytes)
        .map_err(|e| CliError::user(format!("{shown} is not UTF-8 text: {e}")))?;
    let code = assemble_text(&text, &shown)?;
    write_output(output, &code)?;
    if ctx.json {
        print_json(&json!({
            "command": "asm",
            "output": output.display().to_string(),
            "size": code.len(),
            "code_hash": hex::encode(blake3::hash(&code).as_bytes()),
        }));
    } else {
        outln!("{}", field(0, "wrote", output.display()));
        outln!(
            "{}",
            field(0, "size", format!("{} bytes", thousands(code.len() as u64)))
        );
        outln!(
            "{}",
            field(0, "code hash", hex::encode(blake3::hash(&code).as_bytes()))
        );
    }
    Ok(EXIT_OK)
}

/// `tosvm disasm IN`.
pub(crate) fn disasm(ctx: &Ctx, input: &Path) -> Result<i32, CliError> {
    let bytes = read_limited(input, tos_host::DEFAULT_MAX_MODULE_SIZE, "legacy module")?;
    let module = tos_engine_legacy::Module::from_bytes(&bytes)
        .map_err(|e| CliError::user(format!("{} is not a legacy module: {e}", input.display())))?;
    let text = tos_engine_legacy::disassemble(&module);
    if ctx.json {
        print_json(&json!({
            "command": "disasm",
            "file": input.display().to_string(),
            "text": text,
        }));
    } else {
        outln!("{}", text.trim_end());
    }
    Ok(EXIT_OK)
}
