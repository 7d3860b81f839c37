use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};

/// A block height.
pub type Height = u64;

/// An amount of gas. Every engine measures execution in the same unit: one TBPF instruction
/// (docs/GAS.md).
pub type Gas = u64;

/// A 32-byte value: a hash, a contract address, an account key or an asset id.
pub type Hash = [u8; 32];

/// The native TOS asset: 32 zero bytes.
pub const NATIVE_ASSET: Hash = [0; 32];

/// Which engine runs a module. Serialized as one byte in the deploy envelope.
///
/// The numbering is **append-only**: a number, once given, keeps its meaning forever, because
/// deployed modules carry it. A tag this build does not know is still a value (it prints as
/// `unknown tag N`); the host turns it into a clear error, never a panic.
///
/// Tags stay below `0x80`: the deploy envelope reserves the high bit of its tag byte to flag a
/// zstd-compressed module.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, BorshSerialize, BorshDeserialize,
)]
pub struct ModuleTag(pub u8);

impl ModuleTag {
    /// The stack VM of the contracts deployed before TBPF.
    pub const LEGACY: ModuleTag = ModuleTag(0);
    /// TBPF: Solana-style eBPF modules (ELF) run on solana-rbpf.
    pub const TBPF: ModuleTag = ModuleTag(1);
    /// Core WebAssembly modules run on wasmtime (a plug-in engine).
    pub const WASM: ModuleTag = ModuleTag(2);

    /// Every tag this build has a name for, in numeric order.
    pub const KNOWN: [ModuleTag; 3] = [Self::LEGACY, Self::TBPF, Self::WASM];

    /// The tag's name (`legacy`, `tbpf`, `wasm`), or `None` for a number this build does not know.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("legacy"),
            1 => Some("tbpf"),
            2 => Some("wasm"),
            _ => None,
        }
    }

    /// Whether this build knows the tag's meaning (it may still lack the engine for it).
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// Looks a tag up by name (`legacy`, `tbpf`, `wasm`), ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<ModuleTag> {
        Self::KNOWN
            .into_iter()
            .find(|t| t.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }
}

impl From<u8> for ModuleTag {
    fn from(v: u8) -> Self {
        ModuleTag(v)
    }
}

impl fmt::Display for ModuleTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "unknown tag {}", self.0),
        }
    }
}

/// What a call runs: an entry (u16) or a hook (u8). Hook 0 is the constructor.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Call {
    /// A public entry point of the contract, `entry_<N>`.
    Entry(u16),
    /// A hook run by the chain itself, `hook_<N>`; hook 0 runs once at deploy.
    Hook(u8),
}

impl Call {
    /// The constructor: hook 0, run once at deploy when the module has it.
    pub const CONSTRUCTOR: Call = Call::Hook(0);

    /// The `kind` byte of the input header: 0 for an entry, 1 for a hook.
    pub const fn kind(self) -> u8 {
        match self {
            Call::Entry(_) => 0,
            Call::Hook(_) => 1,
        }
    }

    /// The entry or hook id as it appears in the input header.
    pub const fn id(self) -> u16 {
        match self {
            Call::Entry(id) => id,
            Call::Hook(id) => id as u16,
        }
    }

    /// The exported symbol name of the function this call runs (`entry_7`, `hook_0`).
    pub fn symbol(self) -> String {
        match self {
            Call::Entry(id) => format!("entry_{id}"),
            Call::Hook(id) => format!("hook_{id}"),
        }
    }

    /// Parses an exported symbol name (`entry_<N>` / `hook_<N>`, N decimal without sign or
    /// leading zeros) back into a call. Other names give `None`.
    pub fn from_symbol(name: &str) -> Option<Call> {
        fn number(digits: &str) -> Option<u64> {
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            if canonical { digits.parse().ok() } else { None }
        }
        if let Some(rest) = name.strip_prefix("entry_") {
            return u16::try_from(number(rest)?).ok().map(Call::Entry);
        }
        if let Some(rest) = name.strip_prefix("hook_") {
            return u8::try_from(number(rest)?).ok().map(Call::Hook);
        }
        None
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Entry(id) => write!(f, "entry {id}"),
            Call::Hook(id) => write!(f, "hook {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_append_only_numbers() {
        assert_eq!(ModuleTag::LEGACY.0, 0);
        assert_eq!(ModuleTag::TBPF.0, 1);
        assert_eq!(ModuleTag::WASM.0, 2);
        assert_eq!(ModuleTag::from_name("TBPF"), Some(ModuleTag::TBPF));
        assert_eq!(ModuleTag::from_name("evm"), None);
        assert!(!ModuleTag(200).is_known());
        assert_eq!(ModuleTag(200).to_string(), "unknown tag 200");
    }

    #[test]
    fn symbols_round_trip_and_reject_non_canonical_numbers() {
        for call in [
            Call::Entry(0),
            Call::Entry(65535),
            Call::Hook(0),
            Call::Hook(255),
        ] {
            assert_eq!(Call::from_symbol(&call.symbol()), Some(call));
        }
        for bad in [
            "entry_",
            "entry_01",
            "entry_65536",
            "hook_256",
            "entry_+1",
            "entry_x",
            "main",
        ] {
            assert_eq!(Call::from_symbol(bad), None, "{bad}");
        }
    }
}
