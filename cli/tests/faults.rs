//! Fault injection: a real state file is damaged (bytes flipped across the whole file,
//! truncations) and every subcommand that opens a state runs on each damaged copy. None may
//! panic, and none may answer silently wrong: each either gives exactly the answer it gives on
//! the intact file (the damage hit bytes nothing reads) or exits 2 with one `error: ` line
//! saying the state is damaged and what to do.

use std::path::Path;
use std::process::Command;

const TOSVM: &str = env!("CARGO_BIN_EXE_tosvm");

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sdk/examples/build")
        .join(name)
        .display()
        .to_string()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn tosvm(dir: &Path, state: &Path, args: &[&str]) -> Run {
    let out = Command::new(TOSVM)
        .arg("--state")
        .arg(state)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// xorshift64*: deterministic damage, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn damaged_state_files_never_panic_and_never_answer_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.redb");
    let ok = |args: &[&str]| {
        let r = tosvm(dir.path(), &good, args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        r.stdout
    };
    let addr = |out: String| {
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v["address"].as_str().unwrap().to_owned()
    };
    let token = addr(ok(&["--json", "deploy", &example("token.so")]));
    let counter = addr(ok(&["--json", "deploy", &example("counter.wasm")]));
    ok(&[
        "invoke", &token, "--entry", "0", "--args", "addr:bob", "u64:100",
    ]);
    ok(&["invoke", &counter, "--entry", "0"]);
    ok(&["fund", "bob", "77"]);
    let hello = example("hello.so");
    let commands: Vec<Vec<&str>> = vec![
        vec!["storage", &token],
        vec!["storage", &counter, "636f756e74"],
        vec!["balance", "bob"],
        vec!["contracts"],
        vec!["state", "check"],
        vec!["state", "export", "-"],
        vec!["call", &token, "--entry", "2", "--args", "addr:bob"],
        vec!["invoke", &counter, "--entry", "0"],
        vec!["deploy", &hello],
        vec!["fund", "carol", "1"],
        vec!["state", "rewind", "2"],
        vec!["engines"],
    ];
    // The answers on the intact file (each on a fresh copy: some commands write).
    let bytes = std::fs::read(&good).unwrap();
    let copy = dir.path().join("copy.redb");
    let expected: Vec<Run> = commands
        .iter()
        .map(|args| {
            std::fs::write(&copy, &bytes).unwrap();
            let r = tosvm(dir.path(), &copy, args);
            assert_eq!(r.code, Some(0), "intact {args:?}: {}", r.stderr);
            r
        })
        .collect();

    // Flips spread over the whole file, then truncations.
    let mut rng = Rng(0x005e_ed14);
    let mut damages: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..32 {
        let mut b = bytes.clone();
        // Half the flips land in the first 16 KiB (headers, roots, tables), half anywhere.
        let span = if i % 2 == 0 {
            b.len().min(16 * 1024)
        } else {
            b.len()
        };
        let at = (rng.next() as usize) % span;
        let bit = 1u8 << (rng.next() % 8);
        b[at] ^= bit;
        damages.push((format!("bit {bit:#04x} flipped at byte {at}"), b));
    }
    for cut in [
        0,
        1,
        100,
        4096,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        damages.push((format!("truncated to {cut} bytes"), bytes[..cut].to_vec()));
    }

    let mut damaged_reports = 0;
    for (what, b) in &damages {
        for (args, intact) in commands.iter().zip(&expected) {
            std::fs::write(&copy, b).unwrap();
            let r = tosvm(dir.path(), &copy, args);
            let context = format!(
                "{what}, tosvm {args:?}\nstdout: {}\nstderr: {}",
                r.stdout, r.stderr
            );
            assert!(
                !r.stderr.contains("panicked") && !r.stderr.contains("internal error"),
                "a panic: {context}"
            );
            assert_ne!(r.code, Some(101), "{context}");
            if r.code == Some(2) {
                damaged_reports += 1;
                assert!(r.stderr.starts_with("error: "), "{context}");
                assert_eq!(
                    r.stderr.trim_end().lines().count(),
                    1,
                    "one line: {context}"
                );
                assert!(
                    r.stderr.contains("is damaged") || r.stderr.contains("being written"),
                    "says what is wrong: {context}"
                );
                assert!(
                    r.stderr.contains("state import") || r.stderr.contains("wait"),
                    "{context}"
                );
            } else {
                assert_eq!(
                    (r.code, &r.stdout),
                    (intact.code, &intact.stdout),
                    "a different answer from a damaged state, not reported: {context}"
                );
            }
        }
    }
    eprintln!("{damaged_reports} damaged reports");
    assert!(damaged_reports > 0, "some damage must be detected");
}
