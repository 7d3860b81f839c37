//! `tbpf-link -o OUT IN.o...`: links BPF objects into a TBPF module.

use std::process::ExitCode;

use tos_tbpf_link::{LinkOptions, link_module};

const USAGE: &str = "usage: tbpf-link [--allow-unknown-syscalls] [-v] -o OUT.so IN.o...

Links relocatable objects built with `clang -target bpf -mcpu=v2 -O2 -c` into a TBPF
module (SBPFv1 ELF shared object). Calls to undefined functions must name TOS syscalls
unless --allow-unknown-syscalls is given. -v prints the exports and imports.";

fn main() -> ExitCode {
    let mut out: Option<String> = None;
    let mut inputs: Vec<String> = Vec::new();
    let mut opts = LinkOptions::tos_abi();
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" => match args.next() {
                Some(p) => out = Some(p),
                None => return usage("-o needs a file name"),
            },
            "--allow-unknown-syscalls" => opts.known_syscalls = None,
            "-v" | "--verbose" => verbose = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') && s.len() > 1 => return usage(&format!("unknown option {s}")),
            _ => inputs.push(arg),
        }
    }
    let Some(out) = out else {
        return usage("missing -o OUT");
    };
    if inputs.is_empty() {
        return usage("no input objects");
    }
    let mut data = Vec::with_capacity(inputs.len());
    for path in &inputs {
        match std::fs::read(path) {
            Ok(bytes) => data.push(bytes),
            Err(e) => {
                eprintln!("tbpf-link: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let named: Vec<(&str, &[u8])> = inputs
        .iter()
        .map(String::as_str)
        .zip(data.iter().map(Vec::as_slice))
        .collect();
    let module = match link_module(&named, &opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("tbpf-link: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&out, &module.bytes) {
        eprintln!("tbpf-link: cannot write {out}: {e}");
        return ExitCode::FAILURE;
    }
    if verbose {
        println!(
            "{out}: {} bytes, entry {:#x}{}",
            module.bytes.len(),
            module.entry,
            if module.generated_entrypoint {
                " (generated dispatcher)"
            } else {
                ""
            }
        );
        for e in &module.exports {
            println!("  export {:<16} {:#x}", e.name, e.addr);
        }
        for s in &module.syscalls {
            println!(
                "  import {s:<16} hash {:#010x}",
                tos_tbpf_link::syscall_hash(s.as_bytes())
            );
        }
    }
    ExitCode::SUCCESS
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("tbpf-link: {msg}\n{USAGE}");
    ExitCode::from(2)
}
