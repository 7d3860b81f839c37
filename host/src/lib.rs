//! tos-host
