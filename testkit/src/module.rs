//! Modules from files, text or the repository's examples.

use std::path::{Path, PathBuf};

use tos_engine_api::ModuleTag;
use tos_host::{ContractModule, DEFAULT_MAX_MODULE_SIZE};

/// A module from WAT text (a wasm contract).
///
/// # Panics
/// When the text is not valid WAT, with the parser's message.
#[track_caller]
pub fn wat(text: &str) -> ContractModule {
    match wat::parse_str(text) {
        Ok(code) => ContractModule::new(ModuleTag::WASM, code),
        Err(e) => panic!("the WAT text does not assemble: {e}"),
    }
}

/// A legacy module from legacy assembly text (`engine-legacy/ASM.md`).
///
/// # Panics
/// When the text does not assemble, with the assembler's message.
#[track_caller]
pub fn legacy_asm(text: &str) -> ContractModule {
    let module = tos_engine_legacy::assemble(text)
        .unwrap_or_else(|e| panic!("the legacy assembly does not assemble: {e}"));
    let code = module
        .to_bytes()
        .unwrap_or_else(|e| panic!("the assembled legacy module is not valid: {e}"));
    ContractModule::new(ModuleTag::LEGACY, code)
}

/// A module from bytes: the first bytes tell the engine (`\x7fELF` TBPF, `\0asm` wasm,
/// `TOSL` legacy); anything else must be a deploy envelope.
///
/// # Errors
/// A message when the bytes are none of those.
pub fn from_bytes(bytes: Vec<u8>) -> Result<ContractModule, String> {
    let tag = if bytes.starts_with(b"\x7fELF") {
        ModuleTag::TBPF
    } else if bytes.starts_with(b"\0asm") {
        ModuleTag::WASM
    } else if bytes.starts_with(b"TOSL") {
        ModuleTag::LEGACY
    } else {
        return ContractModule::decode(&bytes, DEFAULT_MAX_MODULE_SIZE).map_err(|e| {
            format!(
                "no TBPF, wasm or legacy magic, and not a deploy envelope either ({e}); \
                 use ContractModule::new(tag, bytes) to name the engine"
            )
        });
    };
    Ok(ContractModule::new(tag, bytes))
}

/// A module read from `path`: `.wat` is WAT text, `.tasm` legacy assembly, anything else is
/// told by its first bytes ([`from_bytes`]).
///
/// # Panics
/// When the file cannot be read or is no module, naming the file.
#[track_caller]
pub fn file(path: impl AsRef<Path>) -> ContractModule {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    match path.extension().and_then(|e| e.to_str()) {
        Some("wat") => wat(&String::from_utf8_lossy(&bytes)),
        Some("tasm") => legacy_asm(&String::from_utf8_lossy(&bytes)),
        _ => from_bytes(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    }
}

/// The repository's root (the folder holding `sdk/` and `engine-legacy/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The committed example `name` (docs/EXAMPLES.md) for the engine of `tag`:
/// `sdk/examples/build/NAME.so` (TBPF), `sdk/examples/build/NAME.wasm` (wasm) or
/// `engine-legacy/examples/NAME.tosl` (legacy).
///
/// # Panics
/// For another tag, or when the file is missing.
#[track_caller]
pub fn example(tag: ModuleTag, name: &str) -> ContractModule {
    let rel = match tag {
        ModuleTag::TBPF => format!("sdk/examples/build/{name}.so"),
        ModuleTag::WASM => format!("sdk/examples/build/{name}.wasm"),
        ModuleTag::LEGACY => format!("engine-legacy/examples/{name}.tosl"),
        other => panic!("no examples are built for tag {other}"),
    };
    let path = repo_root().join(&rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("example {rel}: {e}"));
    ContractModule::new(tag, bytes)
}
