//! The wasm costs of the gas schedule, and the wasmtime fuel table built from them.
//!
//! Wasmtime meters fuel per operator from a table fixed when its `Engine` is built, so the
//! engine keeps one wasmtime `Engine` per distinct set of these costs (a handful over a chain's
//! life) and compiles each module with the one of the schedule in force.

use tos_engine_api::{Gas, GasSchedule};
use wasmtime::OperatorCost;

use crate::prepass::InstanceWork;

/// Every wasm cost of the gas schedule: name, version-1 value, and what it prices.
pub(crate) const COSTS: &[(&str, Gas, &str)] = &[
    ("wasm.op", 1, "each operator not in a class below"),
    (
        "wasm.op.control",
        0,
        "nop, drop, block, loop, unreachable, return, else, end",
    ),
    ("wasm.op.call", 1, "call, call_indirect"),
    ("wasm.op.memory", 1, "each load and store"),
    ("wasm.op.divide", 1, "integer division and remainder"),
    (
        "wasm.bulk_per_byte",
        1,
        "each byte moved by memory.copy, memory.fill, memory.init",
    ),
    (
        "wasm.table_per_element",
        1,
        "each element moved by table.copy, table.fill, table.init, table.grow",
    ),
    (
        "wasm.memory_page",
        255,
        "each 64 KiB page: the initial pages of a call, and each page memory.grow asks for",
    ),
    (
        "wasm.instance",
        INSTANCE,
        "every call, before wasm runs: creating the store and instance, mapping memory",
    ),
    (
        "wasm.instance_function",
        INSTANCE_FUNCTION,
        "every call, per function of the module (imported or defined)",
    ),
    (
        "wasm.instance_global",
        INSTANCE_GLOBAL,
        "every call, per global the module defines",
    ),
    (
        "wasm.instance_table_element",
        INSTANCE_TABLE_ELEMENT,
        "every call, per initial table element and per element of an active segment",
    ),
    (
        "wasm.prepare_per_byte",
        PREPARE_PER_BYTE,
        "every deploy, per byte of wasm code: validation, instrumentation and compilation",
    ),
    (
        "wasm.prepare_base",
        PREPARE_BASE,
        "every deploy of wasm code, whatever its size: the fixed part of compiling a module",
    ),
];

// Calibration (engine-wasm/tests/adversarial.rs, `measure_*`, release build, on a 2-core
// machine shared with other builds; the goal is at most 20 × ordinary compute per gas, and a
// gas unit is one TBPF instruction, about 0.24 ns on the JIT, so at most 4.8 ns per gas):
// - `wasm.prepare_per_byte`: the slowest shapes the limits allow compile at 1.3 to 2.3 µs
//   per byte (many small functions, sequential loops over 2,048 locals, 64 KiB straight-line
//   bodies, 2,047-local recursive frames), and the costliest shape per byte, a function holding
//   hundreds of operand-stack values across a call, about 5 µs per byte; 1,100 gas per byte
//   covers 5.3 µs per byte at 20 × 0.24 ns. At the 100,000,000-gas cap a wasm module can then be
//   up to about 88 KB.
// - `wasm.instance` and the per-item costs: an empty call takes about 5 µs (store, instance,
//   memory mapping), about 3,300 gas with the host's intrinsic 1,000 and one page; each of
//   1,024 globals adds about 3 ns, each of 4,096 table elements about 0.2 ns, each function
//   about 0.02 ns. Measured calls cost 0.1 to 0.6 ns per gas.

/// Version-1 value of `wasm.instance`.
const INSTANCE: Gas = 2_000;
/// Version-1 value of `wasm.instance_function`.
const INSTANCE_FUNCTION: Gas = 2;
/// Version-1 value of `wasm.instance_global`.
const INSTANCE_GLOBAL: Gas = 10;
/// Version-1 value of `wasm.instance_table_element`.
const INSTANCE_TABLE_ELEMENT: Gas = 4;
/// Version-1 value of `wasm.prepare_per_byte`.
const PREPARE_PER_BYTE: Gas = 1_100;
/// Version-1 value of `wasm.prepare_base`: compiling even a small module takes 1 to 4 ms
/// (`tosvm bench --adversarial`: a 4 KB module with loops nested to the limit compiled in
/// 2.6 ms), which the per-byte price does not cover; 1,000,000 gas pays 4.8 ms at 20 × ordinary
/// compute.
const PREPARE_BASE: Gas = 1_000_000;

/// The number of `COSTS` entries priced in wasmtime's fuel table (the first ones).
const FUEL_COSTS: usize = 8;

/// The wasm costs of one gas schedule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct WasmCosts {
    instance: Gas,
    instance_function: Gas,
    instance_global: Gas,
    instance_table_element: Gas,
    op: u8,
    control: u8,
    call: u8,
    memory: u8,
    divide: u8,
    bulk_per_byte: u8,
    table_per_element: u8,
    memory_page: u8,
}

/// Operators priced by `wasm.op.control`.
const CONTROL: &[&str] = &[
    "Nop",
    "Drop",
    "Block",
    "Loop",
    "Unreachable",
    "Return",
    "Else",
    "End",
];
/// Operators priced by `wasm.op.call`.
const CALL: &[&str] = &["Call", "CallIndirect"];
/// Operators priced by `wasm.op.divide`.
const DIVIDE: &[&str] = &[
    "I32DivS", "I32DivU", "I32RemS", "I32RemU", "I64DivS", "I64DivU", "I64RemS", "I64RemU",
];

/// Whether `op` (an `OperatorCost` field name) is a plain load or store.
fn is_memory_access(op: &str) -> bool {
    ["I32", "I64", "F32", "F64"].iter().any(|ty| {
        op.starts_with(ty) && (op[3..].starts_with("Load") || op[3..].starts_with("Store"))
    })
}

impl WasmCosts {
    /// The costs of `schedule` (each at its version-1 value where the schedule lacks it).
    ///
    /// # Errors
    /// A cost that does not fit wasmtime's 8-bit fuel table (above 255), named.
    pub(crate) fn of(schedule: &GasSchedule) -> Result<WasmCosts, String> {
        let mut values = [0u8; FUEL_COSTS];
        for (slot, (name, v1, _)) in values.iter_mut().zip(COSTS) {
            let gas = schedule.cost_or(name, *v1);
            *slot = u8::try_from(gas).map_err(|_| {
                format!("gas cost `{name}` = {gas} is above 255, the most wasm fuel tables hold")
            })?;
        }
        let [
            op,
            control,
            call,
            memory,
            divide,
            bulk_per_byte,
            table_per_element,
            memory_page,
        ] = values;
        let cost = |name: &str| {
            let v1 = COSTS
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or(0, |(_, v, _)| *v);
            schedule.cost_or(name, v1)
        };
        Ok(WasmCosts {
            instance: cost("wasm.instance"),
            instance_function: cost("wasm.instance_function"),
            instance_global: cost("wasm.instance_global"),
            instance_table_element: cost("wasm.instance_table_element"),
            op,
            control,
            call,
            memory,
            divide,
            bulk_per_byte,
            table_per_element,
            memory_page,
        })
    }

    /// Fuel of a traceable module's entry report: `i32.const` and `call`.
    pub(crate) fn trace_enter(&self) -> Gas {
        Gas::from(self.op).saturating_add(Gas::from(self.call))
    }

    /// Fuel of a traceable module's exit report: `call`.
    pub(crate) fn trace_exit(&self) -> Gas {
        Gas::from(self.call)
    }

    /// Gas per page of linear memory.
    pub(crate) fn memory_page(&self) -> Gas {
        Gas::from(self.memory_page)
    }

    /// The gas a call is charged before any wasm runs: its initial memory pages and the work
    /// of instantiating the module (saturating: a module whose set-up does not fit a `u64`
    /// simply runs out of gas).
    pub(crate) fn setup_gas(&self, initial_pages: u64, work: &InstanceWork) -> Gas {
        let terms = [
            (initial_pages, self.memory_page()),
            (1, self.instance),
            (work.functions, self.instance_function),
            (work.globals, self.instance_global),
            (work.table_elements, self.instance_table_element),
        ];
        terms.iter().fold(0 as Gas, |sum, (n, cost)| {
            sum.saturating_add(n.saturating_mul(*cost))
        })
    }

    /// The fuel of `op`, an `OperatorCost` field name.
    fn of_operator(&self, op: &str) -> u8 {
        if CONTROL.contains(&op) {
            self.control
        } else if CALL.contains(&op) {
            self.call
        } else if DIVIDE.contains(&op) {
            self.divide
        } else if is_memory_access(op) {
            self.memory
        } else {
            self.op
        }
    }

    /// Wasmtime's fuel table for these costs.
    ///
    /// `OperatorCost` has one public field per operator of every proposal; it is filled through
    /// its serde form (a map from operator name to cost) so every operator gets a cost from
    /// this schedule, including those a future wasmtime adds.
    ///
    /// # Errors
    /// When wasmtime's table does not have the serde form this relies on (an upgrade changed
    /// it): a node fault, caught by a unit test first.
    pub(crate) fn operator_cost(&self) -> Result<OperatorCost, String> {
        let mut value = serde_json::to_value(OperatorCost::new())
            .map_err(|e| format!("wasmtime's fuel table cannot be serialized: {e}"))?;
        let map = value
            .as_object_mut()
            .ok_or("wasmtime's fuel table is not a map")?;
        for (name, cost) in map.iter_mut() {
            if name == "variable" {
                let variable = cost
                    .as_object_mut()
                    .ok_or("wasmtime's variable fuel table is not a map")?;
                for (name, cost) in variable.iter_mut() {
                    *cost = serde_json::Value::from(match name.as_str() {
                        "memory_grow_per_page" => self.memory_page,
                        n if n.starts_with("memory_") => self.bulk_per_byte,
                        n if n.starts_with("table_") => self.table_per_element,
                        // GC arrays: the proposal is refused at load.
                        _ => self.bulk_per_byte,
                    });
                }
            } else {
                *cost = serde_json::Value::from(self.of_operator(name));
            }
        }
        serde_json::from_value(value).map_err(|e| format!("wasmtime's fuel table: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_is_wasmtimes_table_plus_the_page_cost() {
        let v1 = WasmCosts::of(&GasSchedule::new(0)).unwrap();
        let mut expected = OperatorCost::new();
        expected.variable.memory_grow_per_page = 255;
        assert_eq!(v1.operator_cost().unwrap(), expected);
    }

    #[test]
    fn classes_reach_their_operators() {
        let mut s = GasSchedule::new(2);
        s.set("wasm.op", 3)
            .set("wasm.op.control", 2)
            .set("wasm.op.memory", 5)
            .set("wasm.op.divide", 7)
            .set("wasm.op.call", 11)
            .set("wasm.bulk_per_byte", 13)
            .set("wasm.table_per_element", 17)
            .set("wasm.memory_page", 19);
        let t = WasmCosts::of(&s).unwrap().operator_cost().unwrap();
        assert_eq!((t.I32Add, t.F64Sqrt, t.If), (3, 3, 3));
        assert_eq!((t.Nop, t.End, t.Loop), (2, 2, 2));
        assert_eq!(
            (t.I32Load, t.I64Store32, t.F32Load, t.MemorySize),
            (5, 5, 5, 3)
        );
        assert_eq!((t.I64RemU, t.I32DivS), (7, 7));
        assert_eq!((t.Call, t.CallIndirect), (11, 11));
        assert_eq!(t.variable.memory_copy_per_byte, 13);
        assert_eq!(t.variable.table_grow_per_element, 17);
        assert_eq!(t.variable.memory_grow_per_page, 19);
    }

    #[test]
    fn costs_above_255_are_refused_by_name() {
        let mut s = GasSchedule::new(2);
        s.set("wasm.memory_page", 256);
        let e = WasmCosts::of(&s).unwrap_err();
        assert!(e.contains("wasm.memory_page") && e.contains("256"), "{e}");
    }
}
