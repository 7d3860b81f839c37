//! tos-engine-tbpf
