//! Cross-crate tests of tos-engine live in `tests/tests/`; this library holds only the bodies
//! of the fuzz targets ([`fuzz`]), so that stable tests can replay the fuzz corpus.

pub mod fuzz;
