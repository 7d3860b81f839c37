//! tos-tbpf-link
