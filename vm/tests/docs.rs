//! The parameters example of docs/ABI.md is what `tos-vm` sends.

use tos_engine_api::ModuleTag;
use tos_vm::{ValueCell, decode_params, encode_params};

fn doc(path: &str) -> String {
    let path = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_abi_parameters_example_is_the_encoding() {
    let abi = doc("docs/ABI.md");
    let section = &abi[abi.find("## Parameters").expect("a Parameters section")..];
    let block = section.split("```").nth(1).expect("the example block");
    let bytes: Vec<u8> = block
        .split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect();
    // transfer(to, amount): the daemon pushes parameters.rev(), the contract reads in order.
    let parameters = vec![ValueCell::Bytes(vec![0xaa; 32]), ValueCell::U64(250)];
    assert_eq!(bytes.len(), 46);
    assert_eq!(encode_params(&parameters).unwrap(), bytes);
    assert_eq!(decode_params(&bytes).unwrap(), parameters);
    assert!(section.contains("46 bytes"));
}

#[test]
fn the_migration_page_names_what_the_code_has() {
    let page = doc("docs/MIGRATION.md");
    for needle in [
        "tos-vm",
        "Environment::new",
        "invoke_deploy",
        "ParamsEncoding::Bytes",
        "tos_params.h",
        "current_gas_usage",
        "deploy_from",
    ] {
        assert!(
            page.contains(needle),
            "docs/MIGRATION.md does not mention {needle}"
        );
    }
    assert_eq!(ModuleTag::TBPF.name(), Some("tbpf"));
    // The operators' example schedule is the mainnet preset.
    let toml = page
        .split("```toml")
        .nth(2)
        .and_then(|rest| rest.split("```").next())
        .expect("the example schedule");
    let schedule = tos_host::ActivationSchedule::from_toml_str(toml).expect("valid schedule");
    assert_eq!(schedule, tos_host::ActivationSchedule::mainnet());
}
