//! tos-engine-wasm
