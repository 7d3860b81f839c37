//! tos-engine-api
