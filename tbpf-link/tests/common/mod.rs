//! Test support: object fixtures and a small mock TOS host running linked modules
//! in solana-rbpf 0.8.5's interpreter with the real loader and verifier.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use solana_rbpf::{
    aligned_memory::AlignedMemory,
    declare_builtin_function, ebpf,
    elf::Executable,
    error::StableResult,
    memory_region::{MemoryMapping, MemoryRegion},
    program::{BuiltinFunction, BuiltinProgram, FunctionRegistry},
    verifier::RequisiteVerifier,
    vm::{Config, ContextObject, EbpfVm},
};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The committed fixture `name.o`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(format!("{name}.o"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn have_clang() -> bool {
    std::process::Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds every fixture afresh with clang into a temporary directory (None without clang).
pub fn fresh_fixtures() -> Option<tempfile::TempDir> {
    if !have_clang() {
        eprintln!("note: clang not found; using only the committed fixtures");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("sh")
        .arg(fixtures_dir().join("build.sh"))
        .arg(dir.path())
        .status()
        .expect("run build.sh");
    assert!(status.success(), "tests/fixtures/build.sh failed");
    Some(dir)
}

/// The variants of an object to test with: the committed fixture, and a fresh clang
/// build when clang is present.
pub fn variants(name: &str) -> Vec<Vec<u8>> {
    let mut v = vec![fixture(name)];
    if let Some(dir) = fresh_fixtures() {
        v.push(std::fs::read(dir.path().join(format!("{name}.o"))).expect("fresh object"));
    }
    v
}

/// Builds the 8-byte input header followed by `params`.
pub fn input(kind: u8, id: u16, params: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0];
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(params.len() as u32).to_le_bytes());
    v.extend_from_slice(params);
    v
}

/// A mock host: records what the contract does.
#[derive(Debug, Default)]
pub struct Host {
    pub remaining: u64,
    pub input: Vec<u8>,
    pub logs: Vec<Vec<u8>>,
    pub return_data: Vec<u8>,
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    pub events: Vec<(u64, Vec<u8>)>,
    pub tx_source: [u8; 32],
}

impl ContextObject for Host {
    fn trace(&mut self, _state: [u64; 12]) {}
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }
    fn get_remaining(&self) -> u64 {
        self.remaining
    }
}

type SysResult = Result<u64, Box<dyn std::error::Error>>;

fn read(
    mm: &MemoryMapping<'_>,
    addr: u64,
    len: u64,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        match mm.load::<u8>(addr + i) {
            StableResult::Ok(b) => out.push(b as u8),
            StableResult::Err(e) => return Err(Box::new(e)),
        }
    }
    Ok(out)
}

fn write(mm: &MemoryMapping<'_>, addr: u64, data: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    for (i, b) in data.iter().enumerate() {
        if let StableResult::Err(e) = mm.store::<u8>(*b, addr + i as u64) {
            return Err(Box::new(e));
        }
    }
    Ok(())
}

declare_builtin_function!(
    SysLog,
    fn rust(
        host: &mut Host,
        ptr: u64,
        len: u64,
        _c: u64,
        _d: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        host.logs.push(read(mm, ptr, len)?);
        Ok(0)
    }
);

declare_builtin_function!(
    SysSetReturnData,
    fn rust(
        host: &mut Host,
        ptr: u64,
        len: u64,
        _c: u64,
        _d: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        host.return_data = read(mm, ptr, len)?;
        Ok(0)
    }
);

declare_builtin_function!(
    SysGetInput,
    fn rust(
        host: &mut Host,
        ptr: u64,
        cap: u64,
        _c: u64,
        _d: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        let n = (host.input.len() as u64).min(cap) as usize;
        write(mm, ptr, &host.input[..n])?;
        Ok(host.input.len() as u64)
    }
);

declare_builtin_function!(
    SysGetTxSource,
    fn rust(
        host: &mut Host,
        ptr: u64,
        _b: u64,
        _c: u64,
        _d: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        write(mm, ptr, &host.tx_source)?;
        Ok(0)
    }
);

declare_builtin_function!(
    SysStorageLoad,
    fn rust(
        host: &mut Host,
        kp: u64,
        kl: u64,
        out: u64,
        cap: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        let key = read(mm, kp, kl)?;
        match host.storage.get(&key) {
            None => Ok(u64::MAX),
            Some(v) => {
                let n = (v.len() as u64).min(cap) as usize;
                write(mm, out, &v[..n])?;
                Ok(v.len() as u64)
            }
        }
    }
);

declare_builtin_function!(
    SysStorageStore,
    fn rust(
        host: &mut Host,
        kp: u64,
        kl: u64,
        vp: u64,
        vl: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        let key = read(mm, kp, kl)?;
        let val = read(mm, vp, vl)?;
        host.storage.insert(key, val);
        Ok(0)
    }
);

declare_builtin_function!(
    SysFireEvent,
    fn rust(
        host: &mut Host,
        id: u64,
        ptr: u64,
        len: u64,
        _d: u64,
        _e: u64,
        mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        let data = read(mm, ptr, len)?;
        host.events.push((id, data));
        Ok(0)
    }
);

declare_builtin_function!(
    SysTestMul,
    fn rust(
        _host: &mut Host,
        a: u64,
        b: u64,
        _c: u64,
        _d: u64,
        _e: u64,
        _mm: &mut MemoryMapping<'_>,
    ) -> SysResult {
        Ok(a.wrapping_mul(b))
    }
);

fn loader() -> Arc<BuiltinProgram<Host>> {
    let config = Config {
        reject_broken_elfs: true,
        enable_sbpf_v2: false,
        ..Config::default()
    };
    let mut reg = FunctionRegistry::<BuiltinFunction<Host>>::default();
    reg.register_function_hashed(*b"tos_log", SysLog::vm)
        .unwrap();
    reg.register_function_hashed(*b"tos_set_return_data", SysSetReturnData::vm)
        .unwrap();
    reg.register_function_hashed(*b"tos_get_input", SysGetInput::vm)
        .unwrap();
    reg.register_function_hashed(*b"tos_get_tx_source", SysGetTxSource::vm)
        .unwrap();
    reg.register_function_hashed(*b"tos_storage_load", SysStorageLoad::vm)
        .unwrap();
    reg.register_function_hashed(*b"tos_storage_store", SysStorageStore::vm)
        .unwrap();
    reg.register_function_hashed(*b"tos_fire_event", SysFireEvent::vm)
        .unwrap();
    reg.register_function_hashed(*b"test_mul", SysTestMul::vm)
        .unwrap();
    Arc::new(BuiltinProgram::new_loader(config, reg))
}

/// Loads `module` with solana-rbpf (reject_broken_elfs on) and verifies it.
pub fn load(module: &[u8]) -> Result<Executable<Host>, String> {
    let exe = Executable::<Host>::from_elf(module, loader()).map_err(|e| format!("load: {e}"))?;
    exe.verify::<RequisiteVerifier>()
        .map_err(|e| format!("verify: {e}"))?;
    Ok(exe)
}

/// Runs one call of `module` in the interpreter; returns r0 or the VM error.
pub fn run(module: &[u8], input: &[u8], host: &mut Host) -> Result<u64, String> {
    let exe = load(module)?;
    host.input = input.to_vec();
    host.remaining = 10_000_000;
    let config = exe.get_config();
    let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
    let stack_len = stack.len();
    let mut heap = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(32 * 1024);
    let regions = vec![
        exe.get_ro_region(),
        MemoryRegion::new_writable(stack.as_slice_mut(), ebpf::MM_STACK_START),
        MemoryRegion::new_writable(heap.as_slice_mut(), ebpf::MM_HEAP_START),
        MemoryRegion::new_readonly(input, ebpf::MM_INPUT_START),
    ];
    let mm =
        MemoryMapping::new(regions, config, exe.get_sbpf_version()).map_err(|e| e.to_string())?;
    let mut vm = EbpfVm::new(
        exe.get_loader().clone(),
        exe.get_sbpf_version(),
        host,
        mm,
        stack_len,
    );
    let (_count, result) = vm.execute_program(&exe, true);
    match result {
        StableResult::Ok(v) => Ok(v),
        StableResult::Err(e) => Err(format!("run: {e}")),
    }
}
