//! What every integration test of `tosvm` shares: the built binary, run in a temporary
//! directory of its own, with assertions on exit codes, stdout and stderr.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const TOSVM: &str = env!("CARGO_BIN_EXE_tosvm");

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate lives in the workspace")
        .to_path_buf()
}

/// An example module of sdk/examples/build.
pub fn example(name: &str) -> String {
    workspace()
        .join("sdk/examples/build")
        .join(name)
        .display()
        .to_string()
}

/// The probe contract of tests/fixtures/probe.wat.
pub fn probe() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/probe.wasm")
        .display()
        .to_string()
}

/// A temporary working directory; the default state lands in `.tosvm/state.redb` under it.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn state(&self) -> PathBuf {
        self.path(".tosvm/state.redb")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(TOSVM);
        c.args(args).current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked")
                && !stderr.contains("RUST_BACKTRACE")
                && !stderr.contains("internal error"),
            "tosvm {args:?} panicked: {stderr}"
        );
        out
    }

    /// Runs and expects exit status `code`; returns stdout.
    pub fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "tosvm {args:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        if code == 0 || code == 3 {
            assert!(
                stderr.is_empty(),
                "tosvm {args:?} wrote to stderr: {stderr}"
            );
        }
        stdout
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(0, args)
    }

    /// Runs with `--json` and expects `code`; returns the one JSON object printed.
    pub fn json(&self, code: i32, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let stdout = self.expect(code, &all);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one JSON object expected: {stdout}");
        serde_json::from_str(lines[0]).unwrap()
    }

    /// Expects exit `code` with one `error: ` line and nothing on stdout; returns the line.
    pub fn error(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "tosvm {args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "tosvm {args:?} printed to stdout");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one line expected: {stderr}"
        );
        stderr
    }

    /// Runs and expects a user error: exit 1, nothing on stdout, one `error: ` line.
    pub fn user_error(&self, args: &[&str]) -> String {
        self.error(1, args)
    }

    pub fn deploy(&self, file: &str, extra: &[&str]) -> String {
        let mut args = vec!["deploy", file];
        args.extend_from_slice(extra);
        let v = self.json(0, &args);
        assert_eq!(v["deployed"], true, "{v}");
        v["address"].as_str().unwrap().to_owned()
    }
    /// The height of the last block, as `state check` reports it.
    pub fn height(&self) -> u64 {
        self.json(0, &["state", "check"])["height"]
            .as_u64()
            .unwrap()
    }

    /// The whole content, as `state export -` prints it.
    pub fn content(&self) -> String {
        self.ok(&["state", "export", "-"])
    }
}
