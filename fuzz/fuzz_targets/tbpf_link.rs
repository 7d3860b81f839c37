#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tos_tests::fuzz::tbpf_link(data));
