//! tos-tests
