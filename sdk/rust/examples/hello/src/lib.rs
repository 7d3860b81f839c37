//! hello: entry 0 logs "hello, tos" (10 bytes) and succeeds. See docs/EXAMPLES.md.
#![no_std]

tos_sdk::entrypoint! {
    entry 0 => hello,
}

fn hello(_params: &[u8]) -> u64 {
    tos_sdk::log(b"hello, tos");
    0
}
