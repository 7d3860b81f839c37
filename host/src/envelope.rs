//! The deploy envelope: what a deploy transaction carries.

use borsh::{BorshDeserialize, BorshSerialize};
use tos_engine_api::{Hash, ModuleTag};

/// Default cap on an encoded envelope: 1 MiB.
pub const DEFAULT_MAX_MODULE_SIZE: usize = 1024 * 1024;

/// A contract module as deployed: the engine tag and the engine-specific code.
///
/// Encoded with borsh: one tag byte, then the code as a `u32` little-endian length and the
/// bytes (5 + code length bytes in all).
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct ContractModule {
    /// Which engine runs the code.
    pub tag: ModuleTag,
    /// The code, in the engine's format (ELF, legacy bytecode, wasm).
    pub code: Vec<u8>,
}

/// Why envelope bytes are not a deployable module. Each failure has its own variant.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope is larger than the configured cap.
    #[error("module envelope is {size} bytes, over the cap of {limit} bytes")]
    TooLarge {
        /// Size of the envelope.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The envelope ends before the length it declares.
    #[error("module envelope is truncated: {needed} bytes needed, {present} present")]
    Truncated {
        /// Bytes the header declares (tag + length field + code).
        needed: u64,
        /// Bytes present.
        present: usize,
    },
    /// Bytes follow the code.
    #[error("module envelope has {0} trailing bytes after the code")]
    TrailingBytes(usize),
    /// The tag is a number this build does not know.
    #[error("module envelope carries {0}; known tags are 0 (legacy), 1 (tbpf), 2 (wasm)")]
    UnknownTag(ModuleTag),
    /// The module has no code.
    #[error("module envelope carries no code")]
    EmptyCode,
}

impl ContractModule {
    /// A module of `tag` with `code`.
    pub fn new(tag: ModuleTag, code: Vec<u8>) -> Self {
        ContractModule { tag, code }
    }

    /// The borsh encoding.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes an envelope, checking the cap before anything is allocated.
    ///
    /// # Errors
    /// A distinct [`EnvelopeError`] for an oversize, truncated, trailing, unknown-tag or empty
    /// envelope.
    pub fn decode(bytes: &[u8], max_size: usize) -> Result<ContractModule, EnvelopeError> {
        if bytes.len() > max_size {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                limit: max_size,
            });
        }
        let Some((&tag, rest)) = bytes.split_first() else {
            return Err(EnvelopeError::Truncated {
                needed: 5,
                present: 0,
            });
        };
        let Some((len, code)) = rest.split_first_chunk::<4>() else {
            return Err(EnvelopeError::Truncated {
                needed: 5,
                present: bytes.len(),
            });
        };
        let len = u64::from(u32::from_le_bytes(*len));
        let needed = len + 5;
        let present = code.len() as u64;
        if present < len {
            return Err(EnvelopeError::Truncated {
                needed,
                present: bytes.len(),
            });
        }
        if present > len {
            return Err(EnvelopeError::TrailingBytes((present - len) as usize));
        }
        let tag = ModuleTag(tag);
        if !tag.is_known() {
            return Err(EnvelopeError::UnknownTag(tag));
        }
        if code.is_empty() {
            return Err(EnvelopeError::EmptyCode);
        }
        Ok(ContractModule {
            tag,
            code: code.to_vec(),
        })
    }

    /// blake3 of the code: the module's code hash.
    pub fn code_hash(&self) -> Hash {
        *blake3::hash(&self.code).as_bytes()
    }
}

/// The address of a contract: `blake3("tos/contract/v1" ‖ deployer ‖ tag ‖ code hash)`.
///
/// The same deployer deploying the same code under the same tag gets the same address, so
/// a second deploy is refused as a duplicate.
pub fn contract_address(deployer: &Hash, tag: ModuleTag, code_hash: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tos/contract/v1");
    h.update(deployer);
    h.update(&[tag.0]);
    h.update(code_hash);
    *h.finalize().as_bytes()
}

/// The id of an asset: `blake3("tos/asset/v1" ‖ creator ‖ name)`.
pub fn asset_id(creator: &Hash, name: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tos/asset/v1");
    h.update(creator);
    h.update(name);
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_tag_then_borsh_bytes() {
        let m = ContractModule::new(ModuleTag::TBPF, vec![0xAA, 0xBB]);
        assert_eq!(m.encode(), vec![1, 2, 0, 0, 0, 0xAA, 0xBB]);
        assert_eq!(ContractModule::decode(&m.encode(), 100), Ok(m));
    }

    #[test]
    fn every_envelope_error_is_distinct() {
        let ok = ContractModule::new(ModuleTag::WASM, vec![1, 2, 3]).encode();
        let errors = [
            ContractModule::decode(&ok, ok.len() - 1).unwrap_err(),
            ContractModule::decode(&ok[..6], 100).unwrap_err(),
            ContractModule::decode(&ok[..3], 100).unwrap_err(),
            ContractModule::decode(&[ok.clone(), vec![0]].concat(), 100).unwrap_err(),
            ContractModule::decode(&[9, 1, 0, 0, 0, 1], 100).unwrap_err(),
            ContractModule::decode(&[0, 0, 0, 0, 0], 100).unwrap_err(),
        ];
        assert_eq!(errors[0], EnvelopeError::TooLarge { size: 8, limit: 7 });
        assert_eq!(
            errors[1],
            EnvelopeError::Truncated {
                needed: 8,
                present: 6
            }
        );
        assert_eq!(
            errors[2],
            EnvelopeError::Truncated {
                needed: 5,
                present: 3
            }
        );
        assert_eq!(errors[3], EnvelopeError::TrailingBytes(1));
        assert_eq!(errors[4], EnvelopeError::UnknownTag(ModuleTag(9)));
        assert_eq!(errors[5], EnvelopeError::EmptyCode);
        let texts: std::collections::BTreeSet<String> =
            errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(texts.len(), errors.len());
        assert!(errors[4].to_string().contains("unknown tag 9"));
    }

    #[test]
    fn a_huge_declared_length_is_truncation_not_allocation() {
        let e = ContractModule::decode(&[1, 0xff, 0xff, 0xff, 0xff, 0], 100).unwrap_err();
        assert_eq!(
            e,
            EnvelopeError::Truncated {
                needed: 0xffff_ffff + 5,
                present: 6
            }
        );
    }
}
