//! `tasm`: assembles legacy assembly into a module, or disassembles a module.
//!
//! ```text
//! cargo run -p tos-engine-legacy --example tasm -- asm   input.tasm output.tosl
//! cargo run -p tos-engine-legacy --example tasm -- disasm input.tosl
//! ```

use std::process::ExitCode;

use tos_engine_legacy::{Module, assemble, disassemble};

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, input, output] if cmd == "asm" => {
            let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
            let module = assemble(&text).map_err(|e| format!("{input}: {e}"))?;
            let bytes = module.to_bytes().map_err(|e| format!("{input}: {e}"))?;
            std::fs::write(output, bytes).map_err(|e| format!("{output}: {e}"))
        }
        [cmd, input] if cmd == "disasm" => {
            let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
            let module = Module::from_bytes(&bytes).map_err(|e| format!("{input}: {e}"))?;
            print!("{}", disassemble(&module));
            Ok(())
        }
        _ => Err("usage: tasm asm <input.tasm> <output.tosl> | tasm disasm <input.tosl>".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tasm: {e}");
            ExitCode::FAILURE
        }
    }
}
