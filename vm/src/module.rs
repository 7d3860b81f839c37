//! [`Module`]: a contract's code and the engine tag it runs under.

use tos_engine_api::{Hash, ModuleTag};
use tos_host::{ContractModule, contract_address};

use crate::VmError;

const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
const WASM_MAGIC: [u8; 4] = *b"\0asm";
const LEGACY_MAGIC: [u8; 4] = *b"TOSL";
/// The high bit of a tag byte marks a compressed envelope; no tag has it.
const RESERVED_TAG_BIT: u8 = 0x80;

/// A contract module: its code and the [`ModuleTag`] that picks its engine.
///
/// The old API's `Module` held legacy bytecode; this one holds any engine's code. The engine
/// is chosen by the tag, and the engine *version* by the network's schedule at the block's
/// height, when the module is deployed or called. Build one with:
///
/// | constructor | tag |
/// |---|---|
/// | [`Module::new`] | from the magic: `\x7fELF` → TBPF, `\0asm` → wasm, `TOSL` → legacy |
/// | [`Module::from_elf`] | TBPF (the bytes must be an ELF) |
/// | [`Module::from_wasm`] | wasm (the bytes must start with `\0asm`) |
/// | [`Module::from_legacy`] | legacy, from an assembled [`tos_engine_legacy::Module`] |
/// | [`Module::with_tag`] | any tag, for an engine without a magic of its own |
/// | [`Module::from_envelope`] / `From<ContractModule>` | the tag inside the deploy envelope |
///
/// ```
/// use tos_vm::{Module, ModuleTag};
///
/// let tbpf = Module::new(std::fs::read("../sdk/examples/build/counter.so")?)?;
/// assert_eq!(tbpf.tag(), ModuleTag::TBPF);
/// let legacy = Module::new(std::fs::read("../engine-legacy/examples/counter.tosl")?)?;
/// assert_eq!(legacy.tag(), ModuleTag::LEGACY);
/// assert!(Module::new(b"MZ\x90\x00".to_vec()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Module {
    module: ContractModule,
    code_hash: Hash,
}

impl Module {
    /// A module whose engine is told by the code's first four bytes: an ELF (`\x7fELF`) is
    /// TBPF, `\0asm` is wasm, `TOSL` is legacy.
    ///
    /// # Errors
    /// [`VmError::UnknownFormat`] naming the first bytes when none matches (use
    /// [`Module::with_tag`] for an engine without a magic); [`VmError::InvalidModule`] for
    /// empty code.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Module, VmError> {
        let code = bytes.into();
        let tag = match code.first_chunk::<4>() {
            Some(&ELF_MAGIC) => ModuleTag::TBPF,
            Some(&WASM_MAGIC) => ModuleTag::WASM,
            Some(&LEGACY_MAGIC) => ModuleTag::LEGACY,
            _ if code.is_empty() => return Err(empty()),
            _ => {
                return Err(VmError::UnknownFormat {
                    first: code.iter().take(4).copied().collect(),
                });
            }
        };
        Ok(Module::build(tag, code))
    }

    /// A TBPF module: an ELF shared object.
    ///
    /// # Errors
    /// [`VmError::InvalidModule`] when the bytes do not start with the ELF magic. The engine
    /// checks the rest when the module is deployed.
    pub fn from_elf(bytes: impl Into<Vec<u8>>) -> Result<Module, VmError> {
        Module::with_magic(
            ModuleTag::TBPF,
            ELF_MAGIC,
            "an ELF (\\x7fELF)",
            bytes.into(),
        )
    }

    /// A wasm module.
    ///
    /// # Errors
    /// [`VmError::InvalidModule`] when the bytes do not start with the wasm magic.
    pub fn from_wasm(bytes: impl Into<Vec<u8>>) -> Result<Module, VmError> {
        Module::with_magic(ModuleTag::WASM, WASM_MAGIC, "wasm (\\0asm)", bytes.into())
    }

    /// A legacy module from the legacy engine's module type (what its assembler builds).
    ///
    /// # Errors
    /// [`VmError::InvalidModule`] when the module cannot be encoded.
    pub fn from_legacy(module: &tos_engine_legacy::Module) -> Result<Module, VmError> {
        let code = module
            .to_bytes()
            .map_err(|e| VmError::InvalidModule(format!("legacy module: {e}")))?;
        Ok(Module::build(ModuleTag::LEGACY, code))
    }

    /// A module for `tag`, whatever its bytes: the way to a plug-in engine whose code has no
    /// magic this crate knows. The host refuses a tag it has no engine for when the module is
    /// deployed.
    ///
    /// # Errors
    /// [`VmError::InvalidModule`] for empty code or a tag with the high bit set (reserved for
    /// compressed envelopes).
    pub fn with_tag(tag: ModuleTag, code: impl Into<Vec<u8>>) -> Result<Module, VmError> {
        let code = code.into();
        if code.is_empty() {
            return Err(empty());
        }
        if tag.0 & RESERVED_TAG_BIT != 0 {
            return Err(VmError::InvalidModule(format!(
                "tag {} has the high bit set, which marks compressed envelopes",
                tag.0
            )));
        }
        Ok(Module::build(tag, code))
    }

    /// The module inside a deploy envelope (plain or zstd-compressed, see
    /// [`ContractModule`]), decoded under a cap of `max_size` bytes.
    ///
    /// # Errors
    /// [`VmError::Host`] with the envelope's error.
    pub fn from_envelope(bytes: &[u8], max_size: usize) -> Result<Module, VmError> {
        let module = ContractModule::decode(bytes, max_size).map_err(tos_host::Error::from)?;
        Ok(Module::from(module))
    }

    fn with_magic(
        tag: ModuleTag,
        magic: [u8; 4],
        what: &str,
        code: Vec<u8>,
    ) -> Result<Module, VmError> {
        if code.is_empty() {
            return Err(empty());
        }
        if code.first_chunk::<4>() != Some(&magic) {
            return Err(VmError::InvalidModule(format!(
                "a {tag} module must be {what}, but it starts with {:02x?}",
                &code[..code.len().min(4)]
            )));
        }
        Ok(Module::build(tag, code))
    }

    fn build(tag: ModuleTag, code: Vec<u8>) -> Module {
        let module = ContractModule::new(tag, code);
        Module {
            code_hash: module.code_hash(),
            module,
        }
    }

    /// The tag that picks the module's engine.
    pub fn tag(&self) -> ModuleTag {
        self.module.tag
    }

    /// The code.
    pub fn code(&self) -> &[u8] {
        &self.module.code
    }

    /// blake3 of the code.
    pub fn code_hash(&self) -> &Hash {
        &self.code_hash
    }

    /// The address the module gets when `deployer` deploys it:
    /// `blake3("tos/contract/v1" ‖ deployer ‖ tag ‖ code hash)` (see
    /// [`tos_host::contract_address`]).
    pub fn address(&self, deployer: &Hash) -> Hash {
        contract_address(deployer, self.module.tag, &self.code_hash)
    }

    /// The module as the host's [`ContractModule`].
    pub fn contract_module(&self) -> &ContractModule {
        &self.module
    }

    /// The plain deploy envelope (tag, u32 LE length, code), what `Host::deploy` takes.
    pub fn envelope(&self) -> Vec<u8> {
        self.module.encode()
    }
}

impl From<ContractModule> for Module {
    fn from(module: ContractModule) -> Self {
        Module {
            code_hash: module.code_hash(),
            module,
        }
    }
}

impl From<Module> for ContractModule {
    fn from(module: Module) -> Self {
        module.module
    }
}

fn empty() -> VmError {
    VmError::InvalidModule("the module has no code".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_picks_the_tag_and_unknown_bytes_are_named() {
        assert_eq!(
            Module::new(b"\x7fELF rest".to_vec()).unwrap().tag(),
            ModuleTag::TBPF
        );
        assert_eq!(
            Module::new(b"\0asm\x01".to_vec()).unwrap().tag(),
            ModuleTag::WASM
        );
        assert_eq!(
            Module::new(b"TOSL\x01".to_vec()).unwrap().tag(),
            ModuleTag::LEGACY
        );
        let e = Module::new(b"MZ\x90\x00\x03".to_vec()).unwrap_err();
        assert!(e.to_string().contains("[4d, 5a, 90, 00]"), "{e}");
        assert!(
            Module::new(b"\x7fEL".to_vec())
                .unwrap_err()
                .to_string()
                .contains("[7f, 45, 4c]")
        );
        assert!(
            Module::new(Vec::new())
                .unwrap_err()
                .to_string()
                .contains("no code")
        );
        let e = Module::from_elf(b"\0asm".to_vec()).unwrap_err();
        assert!(e.to_string().contains("must be an ELF"), "{e}");
        assert!(Module::from_wasm(b"\x7fELF".to_vec()).is_err());
        assert!(Module::with_tag(ModuleTag(0x81), b"x".to_vec()).is_err());
        assert!(Module::with_tag(ModuleTag(7), Vec::new()).is_err());
        let plugin = Module::with_tag(ModuleTag(7), b"anything".to_vec()).unwrap();
        assert_eq!(plugin.tag(), ModuleTag(7));
    }

    #[test]
    fn the_hash_address_and_envelope_are_the_hosts() {
        let m = Module::new(b"TOSL\x01\0\0\0\0".to_vec()).unwrap();
        let cm = ContractModule::new(ModuleTag::LEGACY, m.code().to_vec());
        assert_eq!(*m.code_hash(), cm.code_hash());
        assert_eq!(m.envelope(), cm.encode());
        assert_eq!(
            m.address(&[1; 32]),
            contract_address(&[1; 32], ModuleTag::LEGACY, &cm.code_hash())
        );
        assert_eq!(Module::from_envelope(&cm.encode(), 1 << 20).unwrap(), m);
        assert_eq!(Module::from(cm.clone()), m);
        assert!(Module::from_envelope(&cm.encode(), 3).is_err());
    }
}
