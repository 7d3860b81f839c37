//! The frozen table: complete, sorted, order-independent, refusing clashes.

use std::sync::Arc;

use tos_engine_api::{FeatureSet, GasSchedule, Protocol};
use tos_syscalls::{
    ABI_V1, ABI_V2, Cost, Param, SyscallCtx, SyscallDef, SyscallError, SyscallTable, TableError,
    invoke, murmur3_32,
};

/// Every syscall of ABI v2 (ABI.md) with its arity.
const ABI_2: [(&str, u8); 8] = [
    ("tos_call", 2),
    ("tos_get_return_data", 2),
    ("tos_get_caller", 1),
    ("tos_get_call_deposit", 1),
    ("tos_abort", 2),
    ("tos_hash", 4),
    ("tos_ed25519_verify", 4),
    ("tos_get_block_timestamp", 0),
];

/// Every syscall of ABI v1 (ABI.md) with its arity.
const ABI: [(&str, u8); 17] = [
    ("tos_log", 2),
    ("tos_get_input", 2),
    ("tos_set_return_data", 2),
    ("tos_get_contract_hash", 1),
    ("tos_get_tx_hash", 1),
    ("tos_get_tx_source", 1),
    ("tos_get_block_hash", 1),
    ("tos_get_block_height", 0),
    ("tos_get_balance", 2),
    ("tos_transfer", 3),
    ("tos_burn", 2),
    ("tos_storage_load", 4),
    ("tos_storage_store", 4),
    ("tos_storage_delete", 2),
    ("tos_asset_create", 4),
    ("tos_asset_mint", 2),
    ("tos_fire_event", 3),
];

#[test]
fn the_table_has_every_abi_syscall_once_with_its_murmur3_id() {
    let table = SyscallTable::global().unwrap();
    assert_eq!(
        table.len(),
        ABI.len() + ABI_2.len(),
        "{:?}",
        table.iter().map(|d| d.name).collect::<Vec<_>>()
    );
    for (name, arity) in ABI {
        let def = table
            .by_name(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(def.arity, arity, "{name}");
        assert_eq!(def.id, murmur3_32(name.as_bytes(), 0));
        assert_eq!(table.get(def.id).unwrap().name, name);
        assert_eq!(def.feature, ABI_V1, "ABI v1 syscalls belong to `abi_v1`");
    }
    for (name, arity) in ABI_2 {
        let def = table
            .by_name(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(def.arity, arity, "{name}");
        assert_eq!(def.id, murmur3_32(name.as_bytes(), 0));
        assert_eq!(def.feature, ABI_V2, "ABI v2 syscalls belong to `abi_v2`");
    }
    let ids: Vec<u32> = table.iter().map(|d| d.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by id");
}

fn nothing(_: &mut SyscallCtx<'_>, _: &[u64; 5]) -> Result<u64, SyscallError> {
    Ok(7)
}

static A: SyscallDef = SyscallDef::new("t_alpha", &[Param::U64], Cost::new(1, 0), "alpha", nothing);
static B: SyscallDef = SyscallDef::new("t_beta", &[Param::Bytes], Cost::new(1, 0), "beta", nothing);
static C: SyscallDef = SyscallDef::new("t_gamma", &[], Cost::new(1, 0), "alpha", nothing);
static A_AGAIN: SyscallDef = SyscallDef::new(
    "t_alpha",
    &[Param::U64, Param::Bytes],
    Cost::new(9, 0),
    "alpha",
    nothing,
);
static FORGED: SyscallDef = SyscallDef {
    id: murmur3_32(b"t_alpha", 0),
    ..SyscallDef::new("t_forged", &[Param::U64], Cost::new(1, 0), "alpha", nothing)
};
static SIX: SyscallDef = SyscallDef::new(
    "t_six",
    &[Param::Bytes, Param::Bytes, Param::Bytes],
    Cost::new(1, 0),
    "alpha",
    nothing,
);

#[test]
fn freezing_is_independent_of_registration_order() {
    let orders: [[&'static SyscallDef; 3]; 3] = [[&A, &B, &C], [&C, &A, &B], [&B, &C, &A]];
    let frozen: Vec<Vec<&str>> = orders
        .iter()
        .map(|o| {
            SyscallTable::from_defs(o.iter().copied())
                .unwrap()
                .iter()
                .map(|d| d.name)
                .collect()
        })
        .collect();
    assert!(frozen.windows(2).all(|w| w[0] == w[1]), "{frozen:?}");
}

#[test]
fn a_duplicate_name_is_refused_naming_it() {
    let e = SyscallTable::from_defs([&A, &C, &A_AGAIN]).unwrap_err();
    assert!(
        matches!(
            e,
            TableError::DuplicateName {
                name: "t_alpha",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("`t_alpha` is declared twice"), "{e}");
}

#[test]
fn a_duplicate_id_is_refused_naming_both() {
    let e = SyscallTable::from_defs([&A, &FORGED]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("t_alpha") && text.contains("t_forged"),
        "{text}"
    );
}

#[test]
fn more_than_five_arguments_is_refused() {
    let e = SyscallTable::from_defs([&SIX]).unwrap_err();
    assert_eq!(
        e,
        TableError::Arity {
            name: "t_six",
            arity: 6
        }
    );
}

#[test]
fn feature_gated_syscalls_are_live_only_when_their_feature_is() {
    let table = SyscallTable::from_defs([&A, &B, &C]).unwrap();
    let alpha = Protocol::from(FeatureSet::from_iter(["alpha"]));
    let off = table.active(&alpha);
    assert!(off.by_name("t_beta").is_none());
    assert_eq!(off.len(), 2);
    assert!(table.active(&Protocol::default()).is_empty());
    let on = table.active(&Protocol::from(FeatureSet::from_iter(["alpha", "beta"])));
    assert_eq!(on.by_name("t_beta").unwrap().def.arity, 2);
    assert_eq!(
        table.features().into_iter().collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
}

#[test]
fn costs_come_from_the_schedule_in_force_and_the_digest_covers_them() {
    let table = SyscallTable::from_defs([&A, &B, &C]).unwrap();
    let features = FeatureSet::from_iter(["alpha", "beta"]);
    let v1 = Protocol::from(features.clone());
    let mut gas = GasSchedule::new(2);
    gas.set("syscall.t_beta.per_byte", 3);
    let v2 = Protocol::new(features.clone(), Arc::new(gas));
    let (a, b) = (table.active(&v1), table.active(&v2));
    assert_eq!(a.by_name("t_beta").unwrap().cost, Cost::new(1, 0));
    assert_eq!(b.by_name("t_beta").unwrap().cost, Cost::new(1, 3));
    assert_eq!(a.by_name("t_alpha"), b.by_name("t_alpha"));
    assert_ne!(
        a.digest(),
        b.digest(),
        "a re-priced syscall changes the digest"
    );
    // The same syscalls at the same costs give the same digest, however the schedule is
    // numbered; one syscall fewer changes it.
    let mut same = GasSchedule::new(7);
    same.set("syscall.t_alpha.base", 1);
    assert_eq!(
        a.digest(),
        table
            .active(&Protocol::new(features, Arc::new(same)))
            .digest()
    );
    assert_ne!(
        a.digest(),
        table
            .active(&Protocol::from(FeatureSet::from_iter(["alpha"])))
            .digest()
    );
    // Every declared cost is named for the gas schedule.
    assert!(
        table
            .gas_costs()
            .contains(&("syscall.t_gamma.base".to_owned(), 1))
    );
    assert_eq!(table.gas_costs().len(), 6);
}

#[test]
fn invoke_charges_the_cost_in_force() {
    use tos_engine_api::{GasMeter, SliceMemory};
    let table = SyscallTable::global().unwrap();
    let mut gas = GasSchedule::new(2);
    gas.set("syscall.tos_log.base", 400)
        .set("syscall.tos_log.per_byte", 10);
    let repriced = Protocol::new(FeatureSet::from_iter([ABI_V1]), Arc::new(gas));
    for (protocol, expected) in [
        (tos_syscalls::testing::abi_v1(), 100 + 4),
        (repriced, 400 + 40),
    ] {
        let live = table.active(&protocol);
        let log = live.by_name("tos_log").unwrap();
        let host = tos_host::testing::devnet_host();
        let mut state = tos_host::MemoryProvider::default();
        let tx = tos_host::TxContext {
            height: 1,
            ..Default::default()
        };
        let mut meter = GasMeter::new(10_000);
        let call = tos_engine_api::Call::Entry(0);
        let (r, frame) =
            tos_host::testing::with_call_host(&host, &mut state, &tx, [3; 32], call, &[], |h| {
                let mut bytes = *b"four";
                let mut memory = SliceMemory::new(0, &mut bytes, false);
                invoke(log, h, &mut memory, &mut meter, [0, 4, 0, 0, 0])
            })
            .unwrap();
        r.unwrap();
        assert_eq!(frame.all_logs(), [b"four".to_vec()]);
        assert_eq!(meter.used(), expected);
    }
}
