//! `tos-tbpf-link`: links relocatable BPF objects (`clang -target bpf -mcpu=v2 -O2 -c`)
//! into a TBPF module, an SBPFv1 ELF shared object that solana-rbpf 0.8.5 loads.
//!
//! ```no_run
//! let a = std::fs::read("a.o")?;
//! let b = std::fs::read("b.o")?;
//! let module = tos_tbpf_link::link(
//!     &[("a.o", a.as_slice()), ("b.o", b.as_slice())],
//!     &tos_tbpf_link::LinkOptions::tos_abi(),
//! )?;
//! std::fs::write("contract.so", module)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What the linker accepts, refuses and produces is described in the crate's README.
//! In short: code sections are merged into `.text`, read-only data (`.rodata*`,
//! `.data.rel.ro*`) into `.rodata`; calls between objects are resolved to
//! pc-relative calls (a call of itself, `call -1`, which the SBPFv1 loader would take
//! for unresolved, becomes an R_BPF_64_32 relocation against a `.dynsym` symbol of the
//! function); calls to undefined functions become syscalls (R_BPF_64_32
//! against a `.dynsym` import, resolved by the loader through the murmur3 hash of the
//! name); addresses of code and read-only data (in `lddw` or in pointer tables) become
//! R_BPF_64_RELATIVE relocations; `entry_<N>` / `hook_<N>` are exported in `.dynsym`;
//! and when no object defines `entrypoint`, a dispatcher is generated (see
//! [`LinkedModule::generated_entrypoint`]). Output depends only on the input bytes
//! and their order.

#![forbid(unsafe_code)]

mod emit;
mod error;
mod insn;
pub mod ir_fixup;
mod link;
mod object;

pub use error::LinkError;

/// The syscall names of the TOS contract ABI (docs/ABI.md), in ABI table order: the 17 of
/// ABI v1 (feature `abi_v1`), then the 8 of ABI v2 (feature `abi_v2`, "ABI v2" in ABI.md).
///
/// Pass them as [`LinkOptions::known_syscalls`] to have a misspelt or missing
/// function reported at link time instead of at deploy time. The list names every syscall
/// of the table whatever the network: whether a module importing a v2 syscall deploys is the
/// host's decision (the feature must be live at the block's height), not the linker's.
pub const TOS_SYSCALLS: &[&str] = &[
    "tos_log",
    "tos_get_input",
    "tos_set_return_data",
    "tos_get_contract_hash",
    "tos_get_tx_hash",
    "tos_get_tx_source",
    "tos_get_block_hash",
    "tos_get_block_height",
    "tos_get_balance",
    "tos_transfer",
    "tos_burn",
    "tos_storage_load",
    "tos_storage_store",
    "tos_storage_delete",
    "tos_asset_create",
    "tos_asset_mint",
    "tos_fire_event",
    // ABI v2
    "tos_call",
    "tos_get_return_data",
    "tos_get_caller",
    "tos_get_call_deposit",
    "tos_abort",
    "tos_hash",
    "tos_ed25519_verify",
    "tos_get_block_timestamp",
];

/// Options of a link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkOptions {
    /// When set, a call to a function that no input defines must name one of these
    /// syscalls, otherwise the link fails with [`LinkError::UnknownSyscall`].
    /// When `None`, any undefined called function becomes a syscall import.
    pub known_syscalls: Option<Vec<String>>,
}

impl LinkOptions {
    /// Options that accept exactly the syscalls of [`TOS_SYSCALLS`].
    pub fn tos_abi() -> Self {
        LinkOptions {
            known_syscalls: Some(TOS_SYSCALLS.iter().map(|s| s.to_string()).collect()),
        }
    }
}

/// What kind of function an [`Export`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExportKind {
    /// The module's ELF entry point, `entrypoint` (only when an object defines it).
    Entrypoint,
    /// `entry_<N>`.
    Entry,
    /// `hook_<N>`.
    Hook,
}

/// A function exported in the module's `.dynsym`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The symbol name (`entrypoint`, `entry_<N>` or `hook_<N>`).
    pub name: String,
    /// Its kind.
    pub kind: ExportKind,
    /// N for entries and hooks, 0 for `entrypoint`.
    pub id: u16,
    /// Its address in the module (byte offset in the file, equal to its ELF virtual address).
    pub addr: u64,
}

/// The result of a link, with a summary of the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedModule {
    /// The ELF shared object.
    pub bytes: Vec<u8>,
    /// The ELF entry point (module address).
    pub entry: u64,
    /// True when no object defined `entrypoint` and the linker generated the dispatcher.
    pub generated_entrypoint: bool,
    /// Exported functions in `.dynsym` order: `entrypoint` (if defined by an object),
    /// then entries by id, then hooks by id.
    pub exports: Vec<Export>,
    /// Syscalls the module imports, sorted by name.
    pub syscalls: Vec<String>,
}

/// Links `inputs` (each a file name, used in error messages, and the object's bytes)
/// into a TBPF module and returns its bytes.
pub fn link(inputs: &[(&str, &[u8])], opts: &LinkOptions) -> Result<Vec<u8>, LinkError> {
    link::link(inputs, opts).map(|m| m.bytes)
}

/// Like [`link`], and also describes the module (exports, imports, entry).
pub fn link_module(
    inputs: &[(&str, &[u8])],
    opts: &LinkOptions,
) -> Result<LinkedModule, LinkError> {
    link::link(inputs, opts)
}

/// The murmur3-32 (seed 0) hash of a symbol name: the key under which solana-rbpf
/// resolves a syscall named in `.dynsym` (and under which the TOS syscall table
/// registers it).
pub fn syscall_hash(name: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h: u32 = 0;
    let mut chunks = name.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut k: u32 = 0;
        for (i, b) in rest.iter().enumerate() {
            k |= u32::from(*b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= name.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The linker's list is exactly the one syscall table (tos-syscalls), and each name
    /// hashes to the id the table and the TBPF loader use.
    #[test]
    fn tos_syscalls_are_the_syscall_table() {
        let table = tos_syscalls::SyscallTable::global().expect("the table is consistent");
        let mut from_table: Vec<&str> = table.iter().map(|def| def.name).collect();
        let mut listed: Vec<&str> = TOS_SYSCALLS.to_vec();
        from_table.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, from_table);
        for def in table.iter() {
            assert_eq!(syscall_hash(def.name.as_bytes()), def.id, "{}", def.name);
        }
    }

    /// ABI v2's eight syscalls follow ABI v1's seventeen, in the order of ABI.md's tables,
    /// and the table puts them under the feature `abi_v2`.
    #[test]
    fn abi_v2_names_are_listed_after_abi_v1() {
        const V2: [&str; 8] = [
            "tos_call",
            "tos_get_return_data",
            "tos_get_caller",
            "tos_get_call_deposit",
            "tos_abort",
            "tos_hash",
            "tos_ed25519_verify",
            "tos_get_block_timestamp",
        ];
        assert_eq!(TOS_SYSCALLS.len(), 17 + V2.len());
        assert_eq!(&TOS_SYSCALLS[17..], &V2[..]);
        let table = tos_syscalls::SyscallTable::global().expect("the table is consistent");
        for def in table.iter() {
            let expected = if V2.contains(&def.name) {
                tos_syscalls::ABI_V2
            } else {
                tos_syscalls::ABI_V1
            };
            assert_eq!(def.feature, expected, "{}", def.name);
        }
        let opts = LinkOptions::tos_abi();
        let known = opts.known_syscalls.as_deref().unwrap_or_default();
        for name in V2 {
            assert!(known.iter().any(|k| k == name), "{name}");
        }
    }
}
