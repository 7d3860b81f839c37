//! A syscall defined in another crate joins the one table through `inventory::submit!` alone.

use tos_engine_api::FeatureSet;
use tos_syscalls::{SyscallTable, murmur3_32};

// Linking the crate is the whole registration.
use tos_extra_syscall as _;

#[test]
fn a_syscall_from_another_crate_joins_the_table() {
    let table = SyscallTable::global().unwrap();
    let def = table
        .by_name("tos_test_double")
        .expect("registered by tos-extra-syscall");
    assert_eq!(def.id, murmur3_32(b"tos_test_double", 0));
    assert_eq!(table.len(), 18, "17 ABI syscalls + 1");
    // It is gated: live only where its feature is.
    assert!(
        table
            .active(&FeatureSet::new())
            .by_name("tos_test_double")
            .is_none()
    );
    let live = table.active(&[tos_extra_syscall::FEATURE].into_iter().collect());
    assert!(live.by_name("tos_test_double").is_some());
    assert_eq!(live.len(), 18);
}
