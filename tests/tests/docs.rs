//! The documentation states the same costs and limits as the code.

use tos_syscalls::{SyscallTable, limits};

fn abi_doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ABI.md")).unwrap()
}

#[test]
fn abi_doc_lists_every_syscall_with_its_real_cost() {
    let doc = abi_doc();
    let table = SyscallTable::global().unwrap();
    let mut seen = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 7 || !cells[1].starts_with("tos_") {
            continue;
        }
        let def = table
            .by_name(cells[1])
            .unwrap_or_else(|| panic!("docs list unknown {}", cells[1]));
        assert_eq!(
            cells[4].parse::<u64>().unwrap(),
            def.cost.base,
            "base gas of {}",
            def.name
        );
        assert_eq!(
            cells[5].parse::<u64>().unwrap(),
            def.cost.per_byte,
            "per-byte gas of {}",
            def.name
        );
        seen += 1;
    }
    let abi_syscalls = table
        .iter()
        .filter(|d| [tos_syscalls::ABI_V1, tos_syscalls::ABI_V2].contains(&d.feature))
        .count();
    assert_eq!(seen, abi_syscalls, "every ABI syscall is documented");
}

#[test]
fn abi_doc_states_the_limits_of_the_code() {
    let doc = abi_doc();
    let kib = |n: u64| format!("{} KiB", n / 1024);
    for (row, value) in [
        ("| storage key |", format!("{} bytes", limits::MAX_KEY_LEN)),
        ("| storage value |", kib(limits::MAX_VALUE_LEN)),
        ("| return data |", kib(limits::MAX_RETURN_DATA_LEN)),
        ("| log message |", kib(limits::MAX_LOG_LEN)),
        (
            "| logs per call (nested calls included) |",
            limits::MAX_LOGS_PER_CALL.to_string(),
        ),
        ("| event data |", kib(limits::MAX_EVENT_DATA_LEN)),
        (
            "| events per call (nested calls included) |",
            limits::MAX_EVENTS_PER_CALL.to_string(),
        ),
        ("| params |", kib(tos_host::MAX_PARAMS_LEN as u64)),
        (
            "| call descriptor deposits (ABI v2) |",
            tos_engine_api::MAX_CALL_DEPOSITS.to_string(),
        ),
        (
            "| call descriptor params (ABI v2) |",
            kib(tos_engine_api::MAX_CALL_PARAMS as u64),
        ),
        (
            "| contract frames on a call stack (ABI v2, `call.max_depth`) |",
            tos_host::costs::V1
                .iter()
                .find(|(n, _)| *n == tos_host::costs::MAX_CALL_DEPTH)
                .unwrap()
                .1
                .to_string(),
        ),
        (
            "| `tos_abort` message kept |",
            kib(limits::MAX_ABORT_MESSAGE_LEN),
        ),
        (
            "| `tos_hash` input, `tos_ed25519_verify` message |",
            format!("{} MiB", limits::MAX_HASH_INPUT_LEN >> 20),
        ),
    ] {
        let line = doc
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row} missing"));
        assert!(
            line.contains(&format!("| {value} |")),
            "{line} should state {value}"
        );
    }
    // The host's costs of gas schedule version 1, as the doc states them.
    let v1: std::collections::BTreeMap<&str, u64> = tos_host::costs::V1.into_iter().collect();
    let thousands = |n: u64| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for (needle, name) in [
        ("`call.intrinsic` = {}", tos_host::costs::INTRINSIC),
        ("`tx.max_gas` = {}", tos_host::costs::MAX_TX_GAS),
        ("= {} + ", tos_host::costs::DEPLOY_BASE),
    ] {
        let text = needle.replace("{}", &thousands(v1[name]));
        assert!(doc.contains(&text), "docs/ABI.md should state {text}");
    }
    let per_byte = format!("+ {} per byte", v1[tos_host::costs::DEPLOY_PER_BYTE]);
    assert!(
        doc.contains(&per_byte),
        "docs/ABI.md should state {per_byte}"
    );
    assert_eq!(v1[tos_host::costs::INTRINSIC], tos_host::INTRINSIC_GAS);
}
