//! tos-syscalls
