//! Reading a module file and telling its engine.

use std::path::Path;

use tos_engine_api::ModuleTag;
use tos_host::{ContractModule, DEFAULT_MAX_MODULE_SIZE};

use crate::args::read_limited;
use crate::error::CliError;

/// First bytes of a TBPF module (an ELF file).
const ELF_MAGIC: &[u8] = b"\x7fELF";
/// First bytes of a wasm module.
const WASM_MAGIC: &[u8] = b"\0asm";
/// First bytes of a legacy module.
const LEGACY_MAGIC: &[u8] = b"TOSL";

/// The tag whose magic `code` starts with.
pub(crate) fn tag_by_magic(code: &[u8]) -> Option<ModuleTag> {
    if code.starts_with(ELF_MAGIC) {
        Some(ModuleTag::TBPF)
    } else if code.starts_with(WASM_MAGIC) {
        Some(ModuleTag::WASM)
    } else if code.starts_with(LEGACY_MAGIC) {
        Some(ModuleTag::LEGACY)
    } else {
        None
    }
}

/// How the tag of a module was found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TagSource {
    /// Given with `--tag`.
    Flag,
    /// Told from the magic bytes.
    Magic,
    /// The file is a deploy envelope (tag byte + borsh code).
    Envelope,
    /// The file is legacy assembly text, assembled on the fly.
    Assembled,
}

impl TagSource {
    /// A word for the output.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TagSource::Flag => "flag",
            TagSource::Magic => "magic",
            TagSource::Envelope => "envelope",
            TagSource::Assembled => "assembled",
        }
    }
}

/// Parses `--tag`: `auto` gives `None`.
pub(crate) fn parse_tag(text: &str) -> Result<Option<ModuleTag>, CliError> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    ModuleTag::from_name(text).map(Some).ok_or_else(|| {
        CliError::user(format!(
            "unknown tag `{text}`: use auto, tbpf, legacy or wasm"
        ))
    })
}

/// Makes a module of `bytes` read from `shown`: with an explicit tag the bytes are the code;
/// with `auto` the magic decides, and bytes without a known magic must be a deploy envelope.
pub(crate) fn module_from_bytes(
    bytes: Vec<u8>,
    tag: Option<ModuleTag>,
    shown: &str,
) -> Result<(ContractModule, TagSource), CliError> {
    if bytes.is_empty() {
        return Err(CliError::user(format!("module file {shown} is empty")));
    }
    let is_source = |b: &[u8]| !b.starts_with(LEGACY_MAGIC) && std::str::from_utf8(b).is_ok();
    if tag == Some(ModuleTag::LEGACY) && is_source(&bytes) {
        return assemble(&bytes, shown);
    }
    if bytes.starts_with(ELF_MAGIC) && tag.is_none_or(|t| t == ModuleTag::TBPF) {
        refuse_unlinked_elf(&bytes, shown)?;
    }
    if let Some(tag) = tag {
        return Ok((ContractModule::new(tag, bytes), TagSource::Flag));
    }
    if let Some(tag) = tag_by_magic(&bytes) {
        return Ok((ContractModule::new(tag, bytes), TagSource::Magic));
    }
    match ContractModule::decode(&bytes, DEFAULT_MAX_MODULE_SIZE) {
        Ok(m) => Ok((m, TagSource::Envelope)),
        Err(_) if shown.ends_with(".tasm") && is_source(&bytes) => assemble(&bytes, shown),
        // A first byte that is a known tag (plain, or with the compressed bit) says the file
        // was meant as an envelope: it is damaged, and --tag would not help.
        Err(e) if ModuleTag(bytes[0] & 0x7f).is_known() => {
            let tag = ModuleTag(bytes[0] & 0x7f);
            let form = if bytes[0] & 0x80 != 0 {
                "compressed "
            } else {
                ""
            };
            Err(CliError::user(format!(
                "{shown} starts like a {form}deploy envelope of a {tag} module (first byte \
                 0x{:02x}) but it is damaged: {e}; rebuild or re-download it",
                bytes[0]
            )))
        }
        Err(e) => {
            let head: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            Err(CliError::user(format!(
                "cannot tell the engine of {shown}: it starts with {head}, which is no TBPF \
                 (7f454c46), wasm (0061736d) or legacy (544f534c) magic, and it is not a deploy \
                 envelope ({e}); pass --tag (legacy assembly text is read from a .tasm file or \
                 with --tag legacy)"
            )))
        }
    }
}

/// Refuses an ELF file that is not a linked shared object with the step that makes one: a
/// `.o` from `clang -target bpf -c` is relocatable (ET_REL) and must be linked first.
fn refuse_unlinked_elf(bytes: &[u8], shown: &str) -> Result<(), CliError> {
    const ET_REL: u16 = 1;
    const ET_EXEC: u16 = 2;
    let Some(e_type) = bytes.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]])) else {
        return Ok(());
    };
    match e_type {
        ET_REL => Err(CliError::user(format!(
            "{shown} is a relocatable object (ELF type ET_REL, what `clang -c` writes), not a \
             linked module: link it first with `tosvm link -o module.so {shown}`"
        ))),
        ET_EXEC => Err(CliError::user(format!(
            "{shown} is an ELF executable (ET_EXEC); TBPF modules are shared objects (ET_DYN): \
             link the objects with `tosvm link -o module.so FILE.o...`"
        ))),
        _ => Ok(()),
    }
}

/// Assembles legacy assembly text into a legacy module.
fn assemble(bytes: &[u8], shown: &str) -> Result<(ContractModule, TagSource), CliError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| CliError::user(format!("{shown} is not UTF-8 text: {e}")))?;
    let code = crate::tools::assemble_text(text, shown)?;
    Ok((
        ContractModule::new(ModuleTag::LEGACY, code),
        TagSource::Assembled,
    ))
}

/// Reads the module file at `path` (at most [`DEFAULT_MAX_MODULE_SIZE`] bytes).
pub(crate) fn load(
    path: &Path,
    tag: Option<ModuleTag>,
) -> Result<(ContractModule, TagSource), CliError> {
    let bytes = read_limited(path, DEFAULT_MAX_MODULE_SIZE, "module file")?;
    module_from_bytes(bytes, tag, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_decides_the_tag() {
        let cases: [(&[u8], ModuleTag); 3] = [
            (b"\x7fELF\x02\x01", ModuleTag::TBPF),
            (b"\0asm\x01\0\0\0", ModuleTag::WASM),
            (b"TOSL\x01", ModuleTag::LEGACY),
        ];
        for (bytes, tag) in cases {
            let (m, src) = module_from_bytes(bytes.to_vec(), None, "f").unwrap();
            assert_eq!((m.tag, src), (tag, TagSource::Magic));
            assert_eq!(m.code, bytes);
        }
    }

    #[test]
    fn envelopes_and_flags_are_accepted_and_garbage_is_named() {
        let env = ContractModule::new(ModuleTag::WASM, vec![1, 2, 3]).encode();
        let (m, src) = module_from_bytes(env, None, "f").unwrap();
        assert_eq!(
            (m.tag, m.code, src),
            (ModuleTag::WASM, vec![1, 2, 3], TagSource::Envelope)
        );
        let (m, src) = module_from_bytes(b"junk".to_vec(), Some(ModuleTag::TBPF), "f").unwrap();
        assert_eq!((m.tag, src), (ModuleTag::TBPF, TagSource::Flag));
        let (m, src) = module_from_bytes(vec![0xff, 0xfe], Some(ModuleTag::LEGACY), "f").unwrap();
        assert_eq!((m.tag, src), (ModuleTag::LEGACY, TagSource::Flag));
        let e = module_from_bytes(b"hello world".to_vec(), None, "x.bin").unwrap_err();
        assert!(
            e.to_string().contains("x.bin") && e.to_string().contains("--tag"),
            "{e}"
        );
        assert!(module_from_bytes(vec![], None, "e").is_err());
        assert_eq!(parse_tag("auto").unwrap(), None);
        assert_eq!(parse_tag("TBPF").unwrap(), Some(ModuleTag::TBPF));
        assert!(parse_tag("evm").is_err());
        let e = module_from_bytes(
            b"no such opcode".to_vec(),
            Some(ModuleTag::LEGACY),
            "a.tasm",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.tasm: "), "{e}");
    }

    #[test]
    fn legacy_assembly_is_assembled() {
        let src = b".chunk main args=1 locals=1\nimm 0\nexit\n.entry 0 main\n".to_vec();
        let (m, src_kind) = module_from_bytes(src.clone(), None, "x.tasm").unwrap();
        assert_eq!((m.tag, src_kind), (ModuleTag::LEGACY, TagSource::Assembled));
        assert!(m.code.starts_with(b"TOSL"));
        let (m2, _) = module_from_bytes(src, Some(ModuleTag::LEGACY), "x.txt").unwrap();
        assert_eq!(m, m2);
    }
}
