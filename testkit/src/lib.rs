//! `tos-testkit`: test TOS contracts from Rust, the way cw-multi-test and near-workspaces do
//! for their chains — an in-memory chain over the real host, named accounts, deploys on every
//! engine, typed arguments, heights and time, and assertions whose failures read well.
//!
//! ```
//! use tos_engine_api::ModuleTag;
//! use tos_testkit::{Chain, example};
//!
//! let mut chain = Chain::new();
//! // The example token of docs/EXAMPLES.md, on wasm; its constructor makes alice the owner.
//! let token = chain.deploy("alice", &example(ModuleTag::WASM, "token"));
//! chain.call("alice", &token, 0).args(&["addr:bob", "u64:100"]).send().assert_ok();
//! let out = chain.call("carol", &token, 2).args(&["addr:bob"]).send();
//! assert_eq!(out.assert_ok().return_u64(), 100);
//! // A query runs on the current state and commits nothing.
//! let h = chain.height();
//! chain.call("bob", &token, 1).args(&["addr:carol", "u64:40"]).query().assert_ok();
//! assert_eq!(chain.height(), h);
//! ```
//!
//! # Concepts
//! - [`Chain`]: the state ([`tos_host::MemoryProvider`]) and a [`tos_host::Host`] on the
//!   devnet schedule. Each deploy or [`CallBuilder::send`] is one transaction in a new block;
//!   [`CallBuilder::query`] runs on a copy and moves nothing.
//! - Accounts are names: `"bob"` is `blake3("tosvm/account/v1" ‖ "bob")`, the key `tosvm
//!   account bob` prints, so a test and a `tosvm` session agree on addresses.
//! - Arguments are typed tokens ([`args`]): `u64:5`, `addr:bob`, `asset:native`, `str:hi`,
//!   `hex:00ff`, packed little-endian in order — the syntax of `tosvm --args`.
//! - Modules come from files ([`file`]: ELF, wasm, legacy, `.wat`, `.tasm`), text ([`wat`],
//!   [`legacy_asm`]) or the repository's examples ([`example`]).
//! - [`Outcome`] carries the host's report: `assert_ok`, `assert_exit`, `assert_trap`,
//!   `assert_return`, `assert_event`, `assert_tree`; each failure prints the whole outcome
//!   (status, gas, return data, events, logs, transfers, call tree) with names for addresses.

// Linking the crate registers the wasm plug-in engine (the host never names it).
use tos_engine_wasm as _;

pub mod args;
mod chain;
mod module;

pub use chain::{
    BLOCK_SECONDS, CallBuilder, Chain, Contract, DEFAULT_GAS, GENESIS_TIMESTAMP, Outcome, Party,
    show_bytes,
};
pub use module::{example, file, from_bytes, legacy_asm, repo_root, wat};
