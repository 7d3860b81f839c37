//! Function-level traces of wasm calls, for tools (`tosvm --trace`, see
//! `tos_engine_api::trace`).
//!
//! Wasm is compiled to machine code, so nothing sees its instructions run. A *traceable*
//! module (prepared while `tos_engine_api::trace::module_tracing()` is on) is instrumented
//! further: two imports, `tos_trace.enter(i32)` and `tos_trace.exit()`, are added after the
//! module's own; every defined function's body starts with `i32.const <function>; call enter`
//! and is wrapped in a `block` of the function's results followed by `call exit` (so the
//! fall-through end and every branch to the function's label pass through it), and every
//! `return` is preceded by `call exit`. A trap leaves frames open; the engine closes them when
//! the call ends.
//!
//! # Outcomes and gas are those of the ordinary module
//! The added operators consume fuel like any other (`i32.const` is `wasm.op`, `call` is
//! `wasm.op.call`, `block`/`end` are `wasm.op.control`). Each host function gives back exactly
//! what its own sequence consumed, so at every syscall and at the end the fuel is what the
//! ordinary module would have left. Between the consumption and the refund the fuel is lower
//! by at most one sequence's cost, so a traceable call gets [`Tracer::slack`] extra fuel that
//! every reading subtracts again: fuel checks then never fire earlier than in the ordinary
//! module. They may fire later, by at most the slack, when the call is out of gas anyway;
//! every host function stops a call whose true remaining gas is negative, and a call that
//! ended over its limit is out of gas whatever else happened (see `module.rs`), so the
//! outcome is the same. Tests (`tests/trace.rs`) compare both modules on every example and at
//! limits around the out-of-gas boundary.
//!
//! The gas of each function is its own: what ran while it was the innermost frame, syscalls
//! excluded (the trace's syscall lines and `--profile` show those).

use std::sync::Arc;

use wasmparser::{Name, Parser, Payload, ValType};

/// The module the trace imports come from (never a contract's: the pre-pass accepts `env`
/// imports only).
pub(crate) const TRACE_MODULE: &str = "tos_trace";
/// The import announcing a function's entry: `(i32 defined-function index) -> ()`.
pub(crate) const ENTER: &str = "enter";
/// The import announcing a function's exit: `() -> ()`.
pub(crate) const EXIT: &str = "exit";

/// Longest function name kept in traces (names come from the module's name section).
const MAX_NAME: usize = 80;

/// What instrumenting a traceable module needs, read from its original bytes.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Parameters and results of each type of the type section.
    pub(crate) types: Vec<(Vec<ValType>, Vec<ValType>)>,
    /// Type index of each defined function.
    pub(crate) func_types: Vec<u32>,
    /// Name of each defined function: from the name section, else an export, else
    /// `func[N]` (N the index in the module's function index space).
    pub(crate) names: Vec<String>,
}

impl Layout {
    /// Reads the layout of `code`, which the pre-pass accepted (`imported` functions come
    /// first in its function index space). `None` when the module has no type section (it
    /// then has no function to trace).
    pub(crate) fn read(code: &[u8], imported: u32) -> Option<Layout> {
        let mut layout = Layout::default();
        let mut has_types = false;
        let mut exported: Vec<(u32, String)> = Vec::new();
        let mut named: Vec<(u32, String)> = Vec::new();
        for payload in Parser::new(0).parse_all(code) {
            // The pre-pass validated the module: an error here cannot happen, and the trace
            // just ends up without the rest.
            let Ok(payload) = payload else { break };
            match payload {
                Payload::TypeSection(reader) => {
                    has_types = true;
                    for ty in reader.into_iter_err_on_gc_types() {
                        let ty = ty.ok()?;
                        layout
                            .types
                            .push((ty.params().to_vec(), ty.results().to_vec()));
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        layout.func_types.push(ty.ok()?);
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader.into_iter().flatten() {
                        if export.kind == wasmparser::ExternalKind::Func {
                            exported.push((export.index, export.name.to_owned()));
                        }
                    }
                }
                Payload::CustomSection(section) => {
                    if let wasmparser::KnownCustom::Name(reader) = section.as_known() {
                        for part in reader.into_iter().flatten() {
                            if let Name::Function(map) = part {
                                for naming in map.into_iter().flatten() {
                                    named.push((naming.index, naming.name.to_owned()));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !has_types {
            return None;
        }
        let count = layout.func_types.len();
        layout.names = (0..count)
            .map(|i| format!("func[{}]", u64::from(imported).saturating_add(i as u64)))
            .collect();
        // Exports first, then the name section, which wins.
        for (index, name) in exported.into_iter().chain(named) {
            let Some(defined) = index.checked_sub(imported) else {
                continue;
            };
            if let Some(slot) = layout.names.get_mut(defined as usize) {
                *slot = shorten(&name);
            }
        }
        Some(layout)
    }
}

/// `name` with control characters replaced and at most [`MAX_NAME`] characters kept.
fn shorten(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(MAX_NAME)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if name.chars().count() > MAX_NAME {
        out.push('…');
    }
    out
}

/// What a traceable prepared module keeps for its calls.
#[derive(Debug)]
pub(crate) struct TraceInfo {
    /// Name of each defined function.
    pub(crate) names: Vec<String>,
    /// Fuel the entry sequence consumes (`i32.const` + `call`).
    pub(crate) enter_cost: u64,
    /// Fuel the exit sequence consumes (`call`).
    pub(crate) exit_cost: u64,
}

/// One open frame of a traced call.
#[derive(Debug)]
struct Frame {
    function: u32,
    /// Gas used when it was entered.
    entered_at: u64,
    /// Gas this frame ran itself.
    own: u64,
}

/// The per-call state of a traceable module's run.
#[derive(Debug)]
pub(crate) struct Tracer {
    info: Arc<TraceInfo>,
    /// Whether a trace is open on this thread (lines are written only then).
    record: bool,
    stack: Vec<Frame>,
    /// Own gas of each defined function.
    own: Vec<u64>,
    /// Gas used at the last event.
    last: u64,
    /// Gas charged by syscalls since the last event.
    syscalls: u64,
}

impl Tracer {
    /// A tracer for one call whose gas used so far (set-up) is `used`.
    pub(crate) fn new(info: Arc<TraceInfo>, used: u64) -> Tracer {
        Tracer {
            own: vec![0; info.names.len()],
            info,
            record: tos_engine_api::trace::is_open(),
            stack: Vec::new(),
            last: used,
            syscalls: 0,
        }
    }

    /// The extra fuel a traceable call runs with (see the module docs).
    pub(crate) fn slack(&self) -> u64 {
        self.info.enter_cost.saturating_add(self.info.exit_cost)
    }

    /// Fuel the entry sequence consumed, given back by the host function.
    pub(crate) fn enter_cost(&self) -> u64 {
        self.info.enter_cost
    }

    /// Fuel the exit sequence consumed, given back by the host function.
    pub(crate) fn exit_cost(&self) -> u64 {
        self.info.exit_cost
    }

    /// Counts `gas` charged by a syscall, which is nobody's own gas.
    pub(crate) fn syscall(&mut self, gas: u64) {
        self.syscalls = self.syscalls.saturating_add(gas);
    }

    /// Gives what ran since the last event to the innermost frame.
    fn settle(&mut self, used: u64) {
        let ran = used.saturating_sub(self.last).saturating_sub(self.syscalls);
        if let Some(top) = self.stack.last_mut() {
            top.own = top.own.saturating_add(ran);
            if let Some(own) = self.own.get_mut(top.function as usize) {
                *own = own.saturating_add(ran);
            }
        }
        self.last = used;
        self.syscalls = 0;
    }

    fn name(&self, function: u32) -> &str {
        self.info
            .names
            .get(function as usize)
            .map_or("?", String::as_str)
    }

    /// `function` was entered, with `used` gas used so far.
    pub(crate) fn enter(&mut self, function: u32, used: u64) {
        self.settle(used);
        if self.record {
            let depth = self.stack.len();
            let name = self.name(function);
            tos_engine_api::trace::line(|| format!("wasm {:depth$}-> {name}", ""));
        }
        self.stack.push(Frame {
            function,
            entered_at: used,
            own: 0,
        });
    }

    /// The innermost function returned, with `used` gas used so far.
    pub(crate) fn exit(&mut self, used: u64) {
        self.settle(used);
        self.close(used, None);
    }

    /// Closes the innermost frame; `stopped` says why it did not return.
    fn close(&mut self, used: u64, stopped: Option<&str>) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if self.record {
            let depth = self.stack.len();
            let name = self.name(frame.function);
            let (own, total) = (frame.own, used.saturating_sub(frame.entered_at));
            let how = stopped.map_or(String::new(), |why| format!(" ({why})"));
            tos_engine_api::trace::line(|| {
                format!(
                    "wasm {:depth$}<- {name}{how}: {total} gas, {own} its own",
                    ""
                )
            });
        }
    }

    /// The call ended with `used` gas used; `stopped` names why, when it did not return.
    /// Closes the frames left open and writes each function's own gas to the trace.
    pub(crate) fn finish(mut self, used: u64, stopped: Option<&str>) {
        self.settle(used);
        while !self.stack.is_empty() {
            self.close(used, Some(stopped.unwrap_or("did not return")));
        }
        for (i, gas) in self.own.iter().enumerate() {
            if *gas > 0 {
                tos_engine_api::trace::function_gas(self.name(i as u32), *gas);
            }
        }
    }
}
