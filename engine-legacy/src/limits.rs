//! The documented limits of the legacy VM.
//!
//! Every limit is enforced identically when a module is decoded (constants, chunks), when it is
//! validated (stack heights) and when a contract builds values at run time, so a module or a
//! value that breaks one is refused the same way on every node.
//!
//! # Sizes of values
//! The *size* of a [`ValueCell`](crate::ValueCell), which [`MAX_VALUE_SIZE`] bounds and
//! which gas is charged for, is:
//!
//! | value | size in bytes |
//! |---|---|
//! | `null`, `bool`, `u8` | 1 |
//! | `u16`, `u32`, `u64`, `u128` | 2, 4, 8, 16 |
//! | `string`, `bytes` | their length |
//! | `array` | 8 + the sizes of the items |
//! | `map` | 8 + the sizes of the keys and the values |
//!
//! The *depth* of a scalar, a string or a bytes value is 0; an array or a map is one deeper
//! than its deepest element (an empty one has depth 1).

/// Largest module [`LegacyEngine`](crate::LegacyEngine) prepares by default (see
/// [`LegacyConfig::set_max_module_size`](crate::LegacyConfig::set_max_module_size)).
pub const MAX_MODULE_SIZE: usize = 512 * 1024;

/// Most constants in a module's pool (constant ids are `u16`).
pub const MAX_CONSTANTS: usize = 4096;

/// Most chunks in a module (chunk ids are `u16`).
pub const MAX_CHUNKS: usize = 1024;

/// Longest chunk, in bytes of code: jump targets are `u16` byte offsets in their chunk.
pub const MAX_CHUNK_CODE: usize = 65_535;

/// Most entries a module may export (hooks are at most 256, one per `u8` id).
pub const MAX_ENTRIES: usize = 1024;

/// Longest string or bytes value, in bytes. Equal to the largest storage value, so a value
/// loaded from storage always fits.
pub const MAX_BYTES_LEN: usize = 64 * 1024;

/// Most items in an array, or entries in a map.
pub const MAX_COLLECTION_LEN: usize = 1024;

/// Deepest nesting of arrays and maps (see the module docs for depth).
pub const MAX_VALUE_DEPTH: u32 = 16;

/// Largest size of one value (see the module docs for size).
pub const MAX_VALUE_SIZE: u64 = 128 * 1024;

/// Largest size of a map key. Keys are `bool`, integers, strings or bytes.
pub const MAX_MAP_KEY_SIZE: u64 = 256;

/// Most values on the operand stack, all call frames together. Validation computes each
/// chunk's peak height, so the check happens once per call, not once per push.
pub const MAX_STACK_SIZE: usize = 1024;

/// Default limit on nested chunk calls, the entry chunk included (see
/// [`LegacyConfig::set_max_call_depth`](crate::LegacyConfig::set_max_call_depth)); exceeding
/// it traps with `Trap::CallDepthExceeded`.
pub const MAX_CALL_DEPTH: u32 = 64;

/// The largest call depth a configuration may ask for.
pub const MAX_CALL_DEPTH_CAP: u32 = 256;

/// Guest address of the scratch memory through which syscalls see byte values.
pub const SCRATCH_BASE: u64 = 0x4000_0000;
