//! Embeds the example contracts of the workspace into `tosvm demo`, so the binary is
//! self-contained: every module present at build time in `sdk/examples/build/` (`*.so`,
//! `*.wasm`), `engine-legacy/examples/` (`*.tosl`) and `engine-wasm/examples/` (`*.wasm`)
//! becomes an `include_bytes!` entry of `$OUT_DIR/examples.rs`. Missing folders or files are
//! simply absent from the list; the demo says so.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// (folder relative to the workspace, file extension, engine tag name)
const SOURCES: &[(&str, &str, &str)] = &[
    ("sdk/examples/build", "so", "tbpf"),
    ("sdk/examples/build", "wasm", "wasm"),
    ("engine-legacy/examples", "tosl", "legacy"),
    ("engine-wasm/examples", "wasm", "wasm"),
];

/// The nearest existing ancestor of `p` (so creating a missing folder reruns this script).
fn watchable(p: &Path) -> PathBuf {
    let mut cur = p.to_path_buf();
    while !cur.exists() {
        match cur.parent() {
            Some(parent) => cur = parent.to_path_buf(),
            None => break,
        }
    }
    cur
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().map(Path::to_path_buf).unwrap_or(manifest);
    let mut found: Vec<(String, String, String, PathBuf)> = Vec::new();
    let mut watched = std::collections::BTreeSet::new();
    for (dir, ext, tag) in SOURCES {
        let path = root.join(dir);
        watched.insert(watchable(&path));
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.extension().and_then(|e| e.to_str()) != Some(ext) || !p.is_file() {
                continue;
            }
            let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Some(name) = p.file_name().and_then(|s| s.to_str()) else {
                continue;
            };
            found.push((
                format!("{dir}/{name}"),
                stem.to_owned(),
                (*tag).to_owned(),
                p.clone(),
            ));
        }
    }
    found.sort();
    for w in &watched {
        println!("cargo:rerun-if-changed={}", w.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    let mut out = String::from(
        "/// The example modules embedded at build time (see build.rs).\n\
         pub(crate) static EXAMPLES: &[Example] = &[\n",
    );
    for (rel, stem, tag, path) in &found {
        let _ = writeln!(
            out,
            "    Example {{ path: {rel:?}, contract: {stem:?}, tag: {tag:?}, bytes: include_bytes!({:?}) }},",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out_dir.join("examples.rs"), out) {
        println!("cargo:warning=cannot write examples.rs: {e}");
        std::process::exit(1);
    }
}
