//! The VM: call frames, the operand stack, locals, gas, and the interpreter loop.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::mem::discriminant;
use std::sync::Arc;

use tos_engine_api::{EngineFault, Gas, GasMeter, HostAbi, Trap};
#[cfg(test)]
use tos_engine_api::{LoadError, Protocol};

#[cfg(test)]
use crate::Module;
use crate::limits::{MAX_BYTES_LEN, MAX_CALL_DEPTH, MAX_STACK_SIZE};
use crate::opcode::{Instr, Opcode};
use crate::program::{Costs, Program};
use crate::value::check_key;
use crate::{ENGINE_NAME, ValueCell, syscall};

/// Started 8-byte words in `bytes` bytes: values created or copied are charged per word
/// (`legacy.word` of the gas schedule each).
#[inline]
pub(crate) fn words(bytes: u64) -> u64 {
    bytes.div_ceil(8)
}

/// Why the interpreter stopped early: the contract's fault or the node's.
#[derive(Debug)]
pub(crate) enum Stop {
    Trap(Trap),
    Fault(EngineFault),
}

impl From<Trap> for Stop {
    fn from(t: Trap) -> Self {
        Stop::Trap(t)
    }
}

/// Why the interpreter could not run, or how a run failed.
///
/// Crate-private: the engine turns it into an [`Outcome`](tos_engine_api::Outcome) or an
/// [`EngineFault`]. The daemon's old `VM` API lives in the `tos-vm` crate, over the host.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub(crate) enum VmError {
    /// [`VM::run`] or `invoke_chunk_id` was called before a module was set.
    #[error("no module has been appended to the VM")]
    NoModule,
    /// [`VM::append_module`] was called twice: a VM runs one module.
    #[cfg(test)]
    #[error("the VM already holds a module")]
    ModuleAlreadyAppended,
    /// The module failed decoding or validation.
    #[cfg(test)]
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The module has no such chunk.
    #[error("the module has no chunk {0}")]
    UnknownChunk(u16),
    /// [`VM::run`] was called without invoking a chunk first.
    #[error("nothing was invoked before run")]
    NothingInvoked,
    /// The values pushed do not match the invoked chunk's arguments.
    #[error("chunk {chunk} takes {expected} arguments but {found} values were pushed")]
    ArgumentCount {
        /// The invoked chunk.
        chunk: u16,
        /// Its argument count.
        expected: u8,
        /// Values on the stack.
        found: usize,
    },
    /// A value pushed from outside breaks a limit of [`limits`](crate::limits), or the stack
    /// is full.
    #[error("value refused: {0}")]
    Value(String),
    /// The contract trapped; gas used is in the [`Context`].
    #[error("trap: {0}")]
    Trap(Trap),
    /// The node failed (a broken invariant of the engine, or a host fault).
    #[error(transparent)]
    Fault(EngineFault),
}

/// The execution context of a [`VM`]: its gas meter and call depth limit.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    gas: GasMeter,
    max_call_depth: u32,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            gas: GasMeter::new(0),
            max_call_depth: MAX_CALL_DEPTH,
        }
    }
}

impl Context {
    /// Sets the gas limit, keeping what was used so far (a limit below it exhausts the
    /// meter). Default: 0, so a VM whose limit was never set runs nothing.
    pub(crate) fn set_gas_limit(&mut self, limit: Gas) -> &mut Self {
        let used = self.gas.used();
        self.gas = GasMeter::new(limit);
        // A limit below the usage leaves the meter exhausted, which is what we want.
        let _ = self.gas.set_used(used);
        self
    }

    /// Gas used so far, by every run of the VM; the whole limit after running out.
    #[cfg(test)]
    pub(crate) fn current_gas_usage(&self) -> Gas {
        self.gas.used()
    }

    pub(crate) fn meter(&self) -> &GasMeter {
        &self.gas
    }

    pub(crate) fn set_max_call_depth(&mut self, depth: u32) {
        self.max_call_depth = depth;
    }
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    chunk: u16,
    pc: usize,
    lbase: usize,
}

/// A VM's working memory: operand stack, locals, call frames and syscall scratch. Kept per
/// thread from one call to the next (nested calls take their own), emptied when given back:
/// a call starts with empty vectors either way, only their capacity is reused.
#[derive(Default)]
struct Buffers {
    stack: Vec<ValueCell>,
    locals: Vec<ValueCell>,
    frames: Vec<Frame>,
    scratch: Vec<u8>,
}

impl Buffers {
    /// Sets of buffers kept per thread.
    const KEPT: usize = 16;
    /// Most bytes a kept vector may hold (its capacity); a set with a larger one is freed
    /// rather than held by an idle thread.
    const MAX_KEPT_BYTES: usize = 1 << 20;
}

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Buffers>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Buffers {
    /// A set from this thread's spares, or a new one.
    fn take() -> Buffers {
        SPARE
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Empties the set and keeps it for a later call on this thread, unless it grew large.
    fn give_back(mut self) {
        self.stack.clear();
        self.locals.clear();
        self.frames.clear();
        self.scratch.clear();
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity().saturating_mul(size_of::<T>())
        }
        let large = [
            bytes(&self.stack),
            bytes(&self.locals),
            bytes(&self.frames),
            bytes(&self.scratch),
        ]
        .into_iter()
        .any(|b| b > Self::MAX_KEPT_BYTES);
        if large {
            return;
        }
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.len() < Self::KEPT
            {
                spare.push(self);
            }
        });
    }
}

/// The interpreter of the legacy stack VM, for one validated program and one host.
///
/// The engine ([`LegacyEngine`](crate::LegacyEngine)) builds one per call over a prepared
/// program; unit tests build one from a module. The daemon's old `VM` API (any engine,
/// through the host) is the `tos-vm` crate's.
pub(crate) struct VM<'a> {
    host: &'a mut dyn HostAbi,
    #[cfg(test)]
    protocol: Protocol,
    program: Option<Arc<Program>>,
    context: Context,
    invoked: Option<u16>,
    stack: Vec<ValueCell>,
    locals: Vec<ValueCell>,
    frames: Vec<Frame>,
    scratch: Vec<u8>,
}

impl Drop for VM<'_> {
    /// Gives the working memory back to this thread's spares.
    fn drop(&mut self) {
        Buffers {
            stack: std::mem::take(&mut self.stack),
            locals: std::mem::take(&mut self.locals),
            frames: std::mem::take(&mut self.frames),
            scratch: std::mem::take(&mut self.scratch),
        }
        .give_back();
    }
}

impl fmt::Debug for VM<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VM")
            .field("context", &self.context)
            .field("invoked", &self.invoked)
            .field("stack", &self.stack)
            .finish_non_exhaustive()
    }
}

impl<'a> VM<'a> {
    /// A VM over an already validated program (the engine's path: no validation per call).
    pub(crate) fn with_program(host: &'a mut dyn HostAbi, program: Arc<Program>) -> Self {
        let Buffers {
            stack,
            locals,
            frames,
            scratch,
        } = Buffers::take();
        VM {
            host,
            #[cfg(test)]
            protocol: Protocol::default(),
            program: Some(program),
            context: Context::default(),
            invoked: None,
            stack,
            locals,
            frames,
            scratch,
        }
    }

    /// A VM over `host` whose modules may use the syscalls live under `protocol`, at the
    /// costs of its gas schedule (unit tests: validate a module, then run any chunk).
    #[cfg(test)]
    pub(crate) fn new(host: &'a mut dyn HostAbi, protocol: &Protocol) -> Self {
        VM {
            host,
            protocol: protocol.clone(),
            program: None,
            context: Context::default(),
            invoked: None,
            stack: Vec::new(),
            locals: Vec::new(),
            frames: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Validates `module` and makes it the VM's module. A VM runs one module.
    ///
    /// # Errors
    /// [`VmError::Load`] when validation fails; [`VmError::ModuleAlreadyAppended`].
    #[cfg(test)]
    pub(crate) fn append_module(&mut self, module: Module) -> Result<(), VmError> {
        if self.program.is_some() {
            return Err(VmError::ModuleAlreadyAppended);
        }
        let table = tos_syscalls::SyscallTable::global()
            .map_err(|e| VmError::Fault(EngineFault::new(ENGINE_NAME, e.to_string())))?;
        let size = module.to_bytes().map(|b| b.len())?;
        self.program = Some(Arc::new(Program::new(module, table, &self.protocol, size)?));
        Ok(())
    }

    fn program(&self) -> Result<&Program, VmError> {
        self.program.as_deref().ok_or(VmError::NoModule)
    }

    /// Prepares a run of any chunk; push its arguments next, first argument first.
    ///
    /// # Errors
    /// [`VmError::UnknownChunk`], [`VmError::NoModule`].
    pub(crate) fn invoke_chunk_id(&mut self, chunk: u16) -> Result<(), VmError> {
        if usize::from(chunk) >= self.program()?.chunks.len() {
            return Err(VmError::UnknownChunk(chunk));
        }
        self.invoke(chunk);
        Ok(())
    }

    fn invoke(&mut self, chunk: u16) {
        self.stack.clear();
        self.invoked = Some(chunk);
    }

    /// Pushes an argument for the invoked chunk (or any value).
    ///
    /// # Errors
    /// [`VmError::Value`] when the value breaks a limit or the stack is full.
    pub(crate) fn push_stack(&mut self, value: ValueCell) -> Result<(), VmError> {
        value.check_limits().map_err(|e| VmError::Value(e.0))?;
        if self.stack.len() >= MAX_STACK_SIZE {
            return Err(VmError::Value(format!(
                "the stack is full ({MAX_STACK_SIZE} values)"
            )));
        }
        self.stack.push(value);
        Ok(())
    }

    /// Pops the top of the stack: after a run whose chunk returned values, its results.
    #[cfg(test)]
    pub(crate) fn pop_stack(&mut self) -> Option<ValueCell> {
        self.stack.pop()
    }

    /// The context: gas limit and usage.
    pub(crate) fn context(&self) -> &Context {
        &self.context
    }

    /// The context, to set the gas limit.
    pub(crate) fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// Runs the invoked chunk to its end; returns its exit code (`exit`, or 0 for `ret` from
    /// the invoked chunk, whose results then stay on the stack).
    ///
    /// # Errors
    /// [`VmError::Trap`] when the contract traps (gas used is in the context: the whole
    /// limit after [`Trap::OutOfGas`]); [`VmError::Fault`] when the node fails; the other
    /// variants when the VM is not ready to run.
    pub(crate) fn run(&mut self) -> Result<u64, VmError> {
        let program = self.program.clone().ok_or(VmError::NoModule)?;
        let entry = self.invoked.take().ok_or(VmError::NothingInvoked)?;
        let chunk = program
            .chunks
            .get(usize::from(entry))
            .ok_or(VmError::UnknownChunk(entry))?;
        if self.stack.len() != usize::from(chunk.args) {
            let found = self.stack.len();
            self.stack.clear();
            return Err(VmError::ArgumentCount {
                chunk: entry,
                expected: chunk.args,
                found,
            });
        }
        let result = self.execute(&program, entry);
        self.locals.clear();
        self.frames.clear();
        match result {
            Ok(code) => Ok(code),
            Err(stop) => {
                self.stack.clear();
                Err(match stop {
                    Stop::Trap(t) => VmError::Trap(t),
                    Stop::Fault(f) => VmError::Fault(f),
                })
            }
        }
    }

    fn execute(&mut self, program: &Program, entry: u16) -> Result<u64, Stop> {
        let VM {
            host,
            context,
            stack,
            locals,
            frames,
            scratch,
            ..
        } = self;
        let max_depth = context.max_call_depth;
        let gas = &mut context.gas;
        let consts = &program.module.constants;
        let costs = &program.costs;

        let mut ci = entry;
        let Some(mut chunk) = program.chunks.get(usize::from(entry)) else {
            return Err(fault("invoked chunk vanished"));
        };
        if max_depth == 0 {
            return Err(Trap::CallDepthExceeded { limit: 0 }.into());
        }
        locals.clear();
        locals.append(stack);
        locals.resize(usize::from(chunk.locals), ValueCell::Null);
        stack.reserve(chunk.max_height);
        let mut lbase = 0usize;
        let mut code: &[Instr] = &chunk.code;
        let mut pc = 0usize;
        let mut at = 0usize;
        // Tools only (`tosvm --trace`): one line per opcode into the open trace, and the gas
        // of each chunk's own opcodes (syscalls included). Changes no outcome and no gas.
        let tracing = tos_engine_api::trace::is_open();
        let mut traced_gas = gas.used();
        let mut traced_chunk = ci;
        let mut chunk_gas: BTreeMap<u16, u64> = BTreeMap::new();

        let result: Result<u64, Stop> = 'run: loop {
            // Leave the loop with a trap or fault.
            macro_rules! tri {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => break 'run Err(Stop::from(e)),
                    }
                };
            }
            // Validation proved the stack deep enough; an empty pop is an engine bug.
            macro_rules! pop {
                () => {
                    match stack.pop() {
                        Some(v) => v,
                        None => break 'run Err(fault("operand stack underflow")),
                    }
                };
            }
            // The top value, to replace in place (saves a pop and a push).
            macro_rules! top {
                () => {
                    match stack.last_mut() {
                        Some(v) => v,
                        None => break 'run Err(fault("operand stack underflow")),
                    }
                };
            }
            macro_rules! trap {
                ($t:expr) => {
                    break 'run Err(Stop::Trap($t))
                };
            }
            macro_rules! push {
                ($v:expr) => {
                    stack.push($v)
                };
            }

            let Some(&instr) = code.get(pc) else {
                break 'run Err(fault("pc past the end of a validated chunk"));
            };
            at = pc;
            // Cannot overflow: `pc < code.len()`.
            pc = pc.wrapping_add(1);
            if tracing {
                let used = gas.used();
                let g = chunk_gas.entry(traced_chunk).or_default();
                *g = g.saturating_add(used.saturating_sub(traced_gas));
                traced_gas = used;
                traced_chunk = ci;
                let offset = chunk.offsets.get(at).copied().unwrap_or_default();
                tos_engine_api::trace::line(|| {
                    format!(
                        "legacy chunk {ci} @{offset:#06x}  {:<14} stack {:>3}  gas used {used}",
                        instr.opcode().name(),
                        stack.len()
                    )
                });
            }
            if gas
                .consume(costs.op[instr.opcode() as u8 as usize])
                .is_err()
            {
                break 'run Err(Trap::OutOfGas.into());
            }

            match instr {
                Instr::Nop() => {}
                Instr::Const(id) => {
                    let id = usize::from(id);
                    let (Some(v), Some(&cost)) = (consts.get(id), program.const_cost.get(id))
                    else {
                        break 'run Err(fault("constant out of range"));
                    };
                    tri!(charge(gas, cost));
                    push!(v.clone());
                }
                Instr::Null() => push!(ValueCell::Null),
                Instr::True() => push!(ValueCell::Bool(true)),
                Instr::False() => push!(ValueCell::Bool(false)),
                Instr::Imm(v) => push!(ValueCell::U64(u64::from(v))),
                Instr::Pop() => {
                    pop!();
                }
                Instr::Copy(depth) => {
                    let v = stack
                        .len()
                        .checked_sub(usize::from(depth))
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| stack.get(i));
                    let Some(v) = v else {
                        break 'run Err(fault("copy below the stack"));
                    };
                    tri!(charge(gas, costs.words(v.heap_size())));
                    let v = v.clone();
                    push!(v);
                }
                Instr::Swap(depth) => {
                    let top = stack.len().checked_sub(1);
                    let Some((top, other)) =
                        top.and_then(|t| Some((t, t.checked_sub(usize::from(depth))?)))
                    else {
                        break 'run Err(fault("swap below the stack"));
                    };
                    // Both indices are below `stack.len()`.
                    stack.swap(top, other);
                }
                Instr::Load(l) => {
                    let Some(v) = locals.get(lbase.saturating_add(usize::from(l))) else {
                        break 'run Err(fault("local out of range"));
                    };
                    tri!(charge(gas, costs.words(v.heap_size())));
                    push!(v.clone());
                }
                Instr::Store(l) => {
                    let v = pop!();
                    let Some(slot) = locals.get_mut(lbase.saturating_add(usize::from(l))) else {
                        break 'run Err(fault("local out of range"));
                    };
                    *slot = v;
                }

                Instr::Add() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_add(std::mem::take(a), b));
                }
                Instr::Sub() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_sub(std::mem::take(a), b));
                }
                Instr::Mul() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_mul(std::mem::take(a), b));
                }
                Instr::Div() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_div(std::mem::take(a), b));
                }
                Instr::Rem() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_rem(std::mem::take(a), b));
                }
                Instr::Shl() => {
                    let n = pop!();
                    let a = top!();
                    *a = tri!(op_shift(true, std::mem::take(a), n));
                }
                Instr::Shr() => {
                    let n = pop!();
                    let a = top!();
                    *a = tri!(op_shift(false, std::mem::take(a), n));
                }
                Instr::And() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_and(std::mem::take(a), b));
                }
                Instr::Or() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_or(std::mem::take(a), b));
                }
                Instr::Xor() => {
                    let b = pop!();
                    let a = top!();
                    *a = tri!(op_xor(std::mem::take(a), b));
                }
                Instr::Not() => {
                    let a = top!();
                    *a = tri!(op_not(std::mem::take(a)));
                }

                Instr::Eq() | Instr::Ne() => {
                    let b = pop!();
                    let a = top!();
                    tri!(charge(gas, costs.words(a.heap_size().min(b.heap_size()))));
                    *a = ValueCell::Bool((*a == b) == matches!(instr, Instr::Eq()));
                }
                Instr::Lt() | Instr::Le() | Instr::Gt() | Instr::Ge() => {
                    let b = pop!();
                    let a = top!();
                    let op = instr.opcode();
                    let ord = tri!(op_order(op, a, &b));
                    tri!(charge(gas, costs.words(a.heap_size().min(b.heap_size()))));
                    *a = ValueCell::Bool(match instr {
                        Instr::Lt() => ord == Ordering::Less,
                        Instr::Le() => ord != Ordering::Greater,
                        Instr::Gt() => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    });
                }
                Instr::IsNull() => {
                    let a = top!();
                    *a = ValueCell::Bool(*a == ValueCell::Null);
                }
                Instr::CastU8()
                | Instr::CastU16()
                | Instr::CastU32()
                | Instr::CastU64()
                | Instr::CastU128() => {
                    let a = top!();
                    *a = tri!(op_cast(instr.opcode(), std::mem::take(a)));
                }

                Instr::Jmp(t) => pc = usize::from(t),
                Instr::JmpIf(t) | Instr::JmpIfNot(t) => {
                    let cond = match pop!() {
                        ValueCell::Bool(b) => b,
                        other => trap!(type_error(instr.opcode(), "a bool", &other)),
                    };
                    if cond == matches!(instr, Instr::JmpIf(_)) {
                        pc = usize::from(t);
                    }
                }
                Instr::Call(c) => {
                    let Some(callee) = program.chunks.get(usize::from(c)) else {
                        break 'run Err(fault("call to a missing chunk"));
                    };
                    // Depth after the call: the suspended frames, the current one, the callee.
                    if frames.len().saturating_add(2) > max_depth as usize {
                        break 'run Err(Trap::CallDepthExceeded {
                            limit: u64::from(max_depth),
                        }
                        .into());
                    }
                    let Some(first) = stack.len().checked_sub(usize::from(callee.args)) else {
                        break 'run Err(fault("call arguments missing"));
                    };
                    if first.saturating_add(callee.max_height) > MAX_STACK_SIZE {
                        break 'run Err(Trap::StackOverflow.into());
                    }
                    frames.push(Frame {
                        chunk: ci,
                        pc,
                        lbase,
                    });
                    lbase = locals.len();
                    locals.extend(stack.drain(first..));
                    locals.resize(
                        lbase.saturating_add(usize::from(callee.locals)),
                        ValueCell::Null,
                    );
                    ci = c;
                    chunk = callee;
                    code = &callee.code;
                    pc = 0;
                }
                Instr::Ret() => {
                    let Some(frame) = frames.pop() else {
                        break 'run Ok(0);
                    };
                    locals.truncate(lbase);
                    let Some(caller) = program.chunks.get(usize::from(frame.chunk)) else {
                        break 'run Err(fault("return to a missing chunk"));
                    };
                    ci = frame.chunk;
                    chunk = caller;
                    code = &caller.code;
                    pc = frame.pc;
                    lbase = frame.lbase;
                }
                Instr::Exit() => {
                    let v = pop!();
                    match v.as_u64() {
                        Some(code) => break 'run Ok(code),
                        None => trap!(type_error(
                            Opcode::Exit,
                            "an unsigned integer that fits u64",
                            &v
                        )),
                    }
                }
                Instr::Abort() => break 'run Err(Trap::Unreachable.into()),
                Instr::Syscall(s) => {
                    let Some(bound) = program.syscalls.get(s as usize) else {
                        break 'run Err(fault("unbound syscall"));
                    };
                    if let Err(e) = syscall::call(bound, stack, scratch, &mut **host, gas, costs) {
                        break 'run Err(e);
                    }
                }

                Instr::ArrayNew(n) => {
                    let Some(first) = stack.len().checked_sub(usize::from(n)) else {
                        break 'run Err(fault("array items missing"));
                    };
                    let v = ValueCell::Array(stack.drain(first..).collect());
                    tri!(built(gas, costs, &v));
                    push!(v);
                }
                Instr::ArrayGet() => {
                    let i = pop!();
                    let a = pop!();
                    let mut items = tri!(array(Opcode::ArrayGet, a));
                    let i = tri!(index(Opcode::ArrayGet, &i, items.len()));
                    push!(items.swap_remove(i));
                }
                Instr::ArraySet() => {
                    let v = pop!();
                    let i = pop!();
                    let a = pop!();
                    let mut items = tri!(array(Opcode::ArraySet, a));
                    let i = tri!(index(Opcode::ArraySet, &i, items.len()));
                    if let Some(slot) = items.get_mut(i) {
                        *slot = v;
                    }
                    let a = ValueCell::Array(items);
                    tri!(built(gas, costs, &a));
                    push!(a);
                }
                Instr::ArrayPush() => {
                    let v = pop!();
                    let a = pop!();
                    let mut items = tri!(array(Opcode::ArrayPush, a));
                    items.push(v);
                    let a = ValueCell::Array(items);
                    tri!(built(gas, costs, &a));
                    push!(a);
                }
                Instr::ArrayPop() => {
                    let a = pop!();
                    let mut items = tri!(array(Opcode::ArrayPop, a));
                    let Some(last) = items.pop() else {
                        trap!(Trap::Invalid("`array.pop` on an empty array".into()))
                    };
                    push!(ValueCell::Array(items));
                    push!(last);
                }
                Instr::Len() => {
                    let v = pop!();
                    let n = match &v {
                        ValueCell::String(s) => s.len(),
                        ValueCell::Bytes(b) => b.len(),
                        ValueCell::Array(a) => a.len(),
                        ValueCell::Map(m) => m.len(),
                        other => trap!(type_error(
                            Opcode::Len,
                            "a string, bytes, an array or a map",
                            other
                        )),
                    };
                    push!(ValueCell::U64(n as u64));
                }

                Instr::MapNew() => push!(ValueCell::Map(BTreeMap::new())),
                Instr::MapGet() => {
                    let k = pop!();
                    let m = pop!();
                    let mut m = tri!(map(Opcode::MapGet, m, &k));
                    push!(m.remove(&k).unwrap_or(ValueCell::Null));
                }
                Instr::MapSet() => {
                    let v = pop!();
                    let k = pop!();
                    let m = pop!();
                    let mut m = tri!(map(Opcode::MapSet, m, &k));
                    m.insert(k, v);
                    let m = ValueCell::Map(m);
                    tri!(built(gas, costs, &m));
                    push!(m);
                }
                Instr::MapHas() => {
                    let k = pop!();
                    let m = pop!();
                    let m = tri!(map(Opcode::MapHas, m, &k));
                    push!(ValueCell::Bool(m.contains_key(&k)));
                }
                Instr::MapRemove() => {
                    let k = pop!();
                    let m = pop!();
                    let mut m = tri!(map(Opcode::MapRemove, m, &k));
                    m.remove(&k);
                    push!(ValueCell::Map(m));
                }

                Instr::BytesNew() => {
                    let n = pop!();
                    let n = tri!(length(Opcode::BytesNew, &n));
                    tri!(charge(gas, costs.words(n as u64)));
                    push!(ValueCell::Bytes(vec![0; n]));
                }
                Instr::BytesGet() => {
                    let i = pop!();
                    let b = pop!();
                    let b = tri!(bytes(Opcode::BytesGet, b));
                    let i = tri!(index(Opcode::BytesGet, &i, b.len()));
                    let Some(&byte) = b.get(i) else {
                        break 'run Err(fault("index checked above"));
                    };
                    push!(ValueCell::U8(byte));
                }
                Instr::BytesSlice() => {
                    let end = pop!();
                    let start = pop!();
                    let b = pop!();
                    let mut b = tri!(bytes(Opcode::BytesSlice, b));
                    let (Some(s), Some(e)) = (start.as_u64(), end.as_u64()) else {
                        let bad = if start.as_u64().is_none() {
                            &start
                        } else {
                            &end
                        };
                        trap!(type_error(
                            Opcode::BytesSlice,
                            "integer bounds that fit u64",
                            bad
                        ))
                    };
                    if s > e || e > b.len() as u64 {
                        trap!(Trap::Invalid(format!(
                            "`bytes.slice` range {s}..{e} is not within 0..{}",
                            b.len()
                        )));
                    }
                    // Both fit `usize`: `e <= b.len()`.
                    let (start, end) = (s as usize, e as usize);
                    tri!(charge(gas, costs.words(end.saturating_sub(start) as u64)));
                    b.truncate(end);
                    b.drain(..start);
                    push!(ValueCell::Bytes(b));
                }
                Instr::BytesConcat() => {
                    let b = pop!();
                    let a = pop!();
                    let mut a = tri!(bytes(Opcode::BytesConcat, a));
                    let b = tri!(bytes(Opcode::BytesConcat, b));
                    let total = a.len().saturating_add(b.len());
                    if total > MAX_BYTES_LEN {
                        trap!(Trap::Invalid(format!(
                            "`bytes.concat` result of {total} bytes exceeds the limit of \
                             {MAX_BYTES_LEN}"
                        )));
                    }
                    tri!(charge(gas, costs.words(total as u64)));
                    a.extend_from_slice(&b);
                    push!(ValueCell::Bytes(a));
                }
                Instr::BytesFromInt() => {
                    let v = pop!();
                    let out = match v {
                        ValueCell::U8(x) => x.to_le_bytes().to_vec(),
                        ValueCell::U16(x) => x.to_le_bytes().to_vec(),
                        ValueCell::U32(x) => x.to_le_bytes().to_vec(),
                        ValueCell::U64(x) => x.to_le_bytes().to_vec(),
                        ValueCell::U128(x) => x.to_le_bytes().to_vec(),
                        other => trap!(type_error(Opcode::BytesFromInt, "an integer", &other)),
                    };
                    tri!(charge(gas, costs.words(out.len() as u64)));
                    push!(ValueCell::Bytes(out));
                }
                Instr::BytesToU16() => {
                    let b = pop!();
                    let arr = tri!(fixed::<2>(Opcode::BytesToU16, b));
                    push!(ValueCell::U16(u16::from_le_bytes(arr)));
                }
                Instr::BytesToU32() => {
                    let b = pop!();
                    let arr = tri!(fixed::<4>(Opcode::BytesToU32, b));
                    push!(ValueCell::U32(u32::from_le_bytes(arr)));
                }
                Instr::BytesToU64() => {
                    let b = pop!();
                    let arr = tri!(fixed::<8>(Opcode::BytesToU64, b));
                    push!(ValueCell::U64(u64::from_le_bytes(arr)));
                }
                Instr::BytesToU128() => {
                    let b = pop!();
                    let arr = tri!(fixed::<16>(Opcode::BytesToU128, b));
                    push!(ValueCell::U128(u128::from_le_bytes(arr)));
                }
                Instr::StrBytes() => {
                    let s = match pop!() {
                        ValueCell::String(s) => s,
                        other => trap!(type_error(Opcode::StrBytes, "a string", &other)),
                    };
                    tri!(charge(gas, costs.words(s.len() as u64)));
                    push!(ValueCell::Bytes(s.into_bytes()));
                }
                Instr::StrFromBytes() => {
                    let b = pop!();
                    let b = tri!(bytes(Opcode::StrFromBytes, b));
                    tri!(charge(gas, costs.words(b.len() as u64)));
                    let s = tri!(String::from_utf8(b).map_err(|e| Trap::Invalid(format!(
                        "`str.from_bytes`: bytes are not UTF-8 (invalid at byte {})",
                        e.utf8_error().valid_up_to()
                    ))));
                    push!(ValueCell::String(s));
                }
            }
        };

        if tracing {
            let g = chunk_gas.entry(traced_chunk).or_default();
            *g = g.saturating_add(gas.used().saturating_sub(traced_gas));
            for (chunk, g) in chunk_gas {
                tos_engine_api::trace::function_gas(&format!("chunk {chunk}"), g);
            }
        }
        result.map_err(|stop| match stop {
            Stop::Trap(Trap::Invalid(msg)) => {
                let offset = chunk.offsets.get(at).copied().unwrap_or_default();
                let op = chunk.code.get(at).map_or("?", |i| i.opcode().name());
                Stop::Trap(Trap::Invalid(format!(
                    "chunk {ci} at offset {offset:#x} (`{op}`): {msg}"
                )))
            }
            other => other,
        })
    }
}

fn fault(msg: &str) -> Stop {
    Stop::Fault(EngineFault::new(
        ENGINE_NAME,
        format!("broken invariant of a validated module: {msg}"),
    ))
}

#[inline]
fn charge(gas: &mut GasMeter, amount: u64) -> Result<(), Trap> {
    gas.consume(amount).map_err(|_| Trap::OutOfGas)
}

/// Checks the limits of a value just built and charges for its size.
fn built(gas: &mut GasMeter, costs: &Costs, v: &ValueCell) -> Result<(), Trap> {
    let size = v.check_limits().map_err(|e| Trap::Invalid(e.0))?;
    charge(gas, costs.words(size))
}

fn type_error(op: Opcode, expected: &str, found: &ValueCell) -> Trap {
    Trap::Invalid(format!(
        "`{}` expects {expected}, found {}",
        op.name(),
        found.type_name()
    ))
}

fn mismatch(op: Opcode, a: &ValueCell, b: &ValueCell) -> Trap {
    Trap::Invalid(format!(
        "`{}` cannot take {} and {}",
        op.name(),
        a.type_name(),
        b.type_name()
    ))
}

fn array(op: Opcode, v: ValueCell) -> Result<Vec<ValueCell>, Trap> {
    match v {
        ValueCell::Array(items) => Ok(items),
        other => Err(type_error(op, "an array", &other)),
    }
}

fn bytes(op: Opcode, v: ValueCell) -> Result<Vec<u8>, Trap> {
    match v {
        ValueCell::Bytes(b) => Ok(b),
        other => Err(type_error(op, "bytes", &other)),
    }
}

fn map(op: Opcode, v: ValueCell, key: &ValueCell) -> Result<BTreeMap<ValueCell, ValueCell>, Trap> {
    check_key(key).map_err(|e| Trap::Invalid(format!("`{}`: {}", op.name(), e.0)))?;
    match v {
        ValueCell::Map(m) => Ok(m),
        other => Err(type_error(op, "a map", &other)),
    }
}

fn fixed<const N: usize>(op: Opcode, v: ValueCell) -> Result<[u8; N], Trap> {
    let b = bytes(op, v)?;
    <[u8; N]>::try_from(b.as_slice()).map_err(|_| {
        Trap::Invalid(format!(
            "`{}` needs exactly {N} bytes, found {}",
            op.name(),
            b.len()
        ))
    })
}

/// An index below `len`.
fn index(op: Opcode, i: &ValueCell, len: usize) -> Result<usize, Trap> {
    let Some(i) = i.as_u64().or(match i {
        ValueCell::U128(_) => Some(u64::MAX),
        _ => None,
    }) else {
        return Err(type_error(op, "an integer index", i));
    };
    match usize::try_from(i) {
        Ok(i) if i < len => Ok(i),
        _ => Err(Trap::Invalid(format!(
            "`{}`: index {i} is out of range for length {len}",
            op.name()
        ))),
    }
}

/// A length of at most [`MAX_BYTES_LEN`].
fn length(op: Opcode, n: &ValueCell) -> Result<usize, Trap> {
    let Some(n) = n.as_u64().or(match n {
        ValueCell::U128(_) => Some(u64::MAX),
        _ => None,
    }) else {
        return Err(type_error(op, "an integer length", n));
    };
    match usize::try_from(n) {
        Ok(n) if n <= MAX_BYTES_LEN => Ok(n),
        _ => Err(Trap::Invalid(format!(
            "`{}`: length {n} exceeds the limit of {MAX_BYTES_LEN}",
            op.name()
        ))),
    }
}

macro_rules! int_binop {
    ($fname:ident, $op:ident, |$x:ident, $y:ident| $body:expr) => {
        #[inline]
        fn $fname(a: ValueCell, b: ValueCell) -> Result<ValueCell, Trap> {
            use ValueCell::*;
            match (a, b) {
                (U64($x), U64($y)) => $body.map(U64),
                (U8($x), U8($y)) => $body.map(U8),
                (U16($x), U16($y)) => $body.map(U16),
                (U32($x), U32($y)) => $body.map(U32),
                (U128($x), U128($y)) => $body.map(U128),
                (a, b) => Err(mismatch(Opcode::$op, &a, &b)),
            }
        }
    };
}

int_binop!(op_add, Add, |x, y| x
    .checked_add(y)
    .ok_or(Trap::ArithmeticOverflow));
int_binop!(op_sub, Sub, |x, y| x
    .checked_sub(y)
    .ok_or(Trap::ArithmeticOverflow));
int_binop!(op_mul, Mul, |x, y| x
    .checked_mul(y)
    .ok_or(Trap::ArithmeticOverflow));
// Unsigned division fails only for a zero divisor.
int_binop!(op_div, Div, |x, y| x
    .checked_div(y)
    .ok_or(Trap::DivisionByZero));
int_binop!(op_rem, Rem, |x, y| x
    .checked_rem(y)
    .ok_or(Trap::DivisionByZero));

macro_rules! bit_binop {
    ($fname:ident, $op:ident, $method:ident) => {
        #[inline]
        fn $fname(a: ValueCell, b: ValueCell) -> Result<ValueCell, Trap> {
            use ValueCell::*;
            use std::ops::*;
            match (a, b) {
                (Bool(x), Bool(y)) => Ok(Bool(x.$method(y))),
                (U8(x), U8(y)) => Ok(U8(x.$method(y))),
                (U16(x), U16(y)) => Ok(U16(x.$method(y))),
                (U32(x), U32(y)) => Ok(U32(x.$method(y))),
                (U64(x), U64(y)) => Ok(U64(x.$method(y))),
                (U128(x), U128(y)) => Ok(U128(x.$method(y))),
                (a, b) => Err(mismatch(Opcode::$op, &a, &b)),
            }
        }
    };
}

bit_binop!(op_and, And, bitand);
bit_binop!(op_or, Or, bitor);
bit_binop!(op_xor, Xor, bitxor);

fn op_not(a: ValueCell) -> Result<ValueCell, Trap> {
    use ValueCell::*;
    Ok(match a {
        Bool(x) => Bool(!x),
        U8(x) => U8(!x),
        U16(x) => U16(!x),
        U32(x) => U32(!x),
        U64(x) => U64(!x),
        U128(x) => U128(!x),
        other => return Err(type_error(Opcode::Not, "an integer or a bool", &other)),
    })
}

fn op_shift(left: bool, a: ValueCell, n: ValueCell) -> Result<ValueCell, Trap> {
    use ValueCell::*;
    let op = if left { Opcode::Shl } else { Opcode::Shr };
    let amount = match &n {
        U8(_) | U16(_) | U32(_) | U64(_) | U128(_) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(u32::MAX),
        _ => return Err(mismatch(op, &a, &n)),
    };
    macro_rules! shift {
        ($x:expr, $v:ident) => {
            if left {
                $x.checked_shl(amount)
            } else {
                $x.checked_shr(amount)
            }
            .map($v)
            .ok_or(Trap::ArithmeticOverflow)
        };
    }
    match a {
        U8(x) => shift!(x, U8),
        U16(x) => shift!(x, U16),
        U32(x) => shift!(x, U32),
        U64(x) => shift!(x, U64),
        U128(x) => shift!(x, U128),
        other => Err(mismatch(op, &other, &n)),
    }
}

fn op_order(op: Opcode, a: &ValueCell, b: &ValueCell) -> Result<Ordering, Trap> {
    let comparable = !matches!(a, ValueCell::Null | ValueCell::Array(_) | ValueCell::Map(_));
    if comparable && discriminant(a) == discriminant(b) {
        Ok(a.cmp(b))
    } else {
        Err(mismatch(op, a, b))
    }
}

fn op_cast(op: Opcode, a: ValueCell) -> Result<ValueCell, Trap> {
    use ValueCell::*;
    let v: u128 = match a {
        Bool(b) => u128::from(b),
        U8(x) => u128::from(x),
        U16(x) => u128::from(x),
        U32(x) => u128::from(x),
        U64(x) => u128::from(x),
        U128(x) => x,
        other => return Err(type_error(op, "an integer or a bool", &other)),
    };
    let overflow = |_| Trap::ArithmeticOverflow;
    Ok(match op {
        Opcode::CastU8 => U8(u8::try_from(v).map_err(overflow)?),
        Opcode::CastU16 => U16(u16::try_from(v).map_err(overflow)?),
        Opcode::CastU32 => U32(u32::try_from(v).map_err(overflow)?),
        Opcode::CastU64 => U64(u64::try_from(v).map_err(overflow)?),
        _ => U128(v),
    })
}

#[cfg(test)]
mod buffer_tests {
    use super::{Buffers, Frame, ValueCell};

    /// What a call leaves in its working memory is gone when the next call on the thread
    /// takes it: only the capacity is reused. A set grown past the kept size is freed.
    #[test]
    fn kept_buffers_come_back_empty() {
        std::thread::spawn(|| {
            let mut b = Buffers::take();
            b.stack.extend((0..100).map(ValueCell::U64));
            b.locals.push(ValueCell::Bytes(vec![7; 10]));
            b.frames.push(Frame {
                chunk: 1,
                pc: 2,
                lbase: 3,
            });
            b.scratch.extend_from_slice(&[9; 300]);
            b.give_back();
            let again = Buffers::take();
            assert!(
                again.stack.is_empty() && again.stack.capacity() >= 100,
                "reused"
            );
            assert!(again.locals.is_empty() && again.frames.is_empty() && again.scratch.is_empty());
            let mut large = again;
            large.scratch.reserve(Buffers::MAX_KEPT_BYTES + 1);
            large.give_back();
            assert_eq!(
                Buffers::take().scratch.capacity(),
                0,
                "a large set is freed"
            );
        })
        .join()
        .unwrap();
    }
}
