//! Cross-crate tests of tos-engine live in `tests/tests/`; this library is empty on purpose.
