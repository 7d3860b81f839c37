//! tos-engine-legacy
