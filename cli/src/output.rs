//! Output for people (aligned fields, text where bytes are printable) and for machines (JSON).

use serde_json::{Value, json};
use tos_engine_api::{CALL_REFUSED, CALL_TRAPPED, Call};
use tos_engine_api::{ExitStatus, Gas, Hash, NATIVE_ASSET};
use tos_host::{CallFrame, CallReport, FrameItem};

/// Width of the label column of the text output.
const LABEL_WIDTH: usize = 12;

/// Lower-case hex of a 32-byte value.
pub(crate) fn hex32(h: &Hash) -> String {
    hex::encode(h)
}

/// An asset for people: `native` or its hex id.
pub(crate) fn asset_name(asset: &Hash) -> String {
    if *asset == NATIVE_ASSET {
        "native".to_owned()
    } else {
        hex32(asset)
    }
}

/// `bytes` as text when they are non-empty UTF-8 without control characters.
pub(crate) fn printable(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    (!s.is_empty() && !s.chars().any(char::is_control)).then_some(s)
}

/// Bytes for people: `(empty)`, `"text"` when printable, else `0x…` hex; 8 bytes also show
/// their value as a little-endian u64.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_owned();
    }
    if let Some(s) = printable(bytes) {
        return format!("\"{s}\"");
    }
    let mut out = format!("0x{}", hex::encode(bytes));
    if let Ok(b) = <[u8; 8]>::try_from(bytes) {
        out.push_str(&format!(" (u64 {})", u64::from_le_bytes(b)));
    }
    out
}

/// A storage key for people, column one: its hex, every byte (`0x62616c…`; `(empty)`).
/// [`escaped`] is the readable column beside it.
pub(crate) fn show_key(key: &[u8]) -> String {
    if key.is_empty() {
        return "(empty)".to_owned();
    }
    format!("0x{}", hex::encode(key))
}

/// Bytes as a quoted string that hides none of them: printable ASCII as itself, `\\` and `\"`
/// escaped, every other byte as `\xNN` (`"bal\xa1\x07…"`). Never shortened.
pub(crate) fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// A number with thousands separators (`10,000,000`).
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One aligned `label value` line, indented by `indent` spaces.
pub(crate) fn field(indent: usize, label: &str, value: impl std::fmt::Display) -> String {
    let width = LABEL_WIDTH.saturating_sub(indent).max(label.len() + 1);
    format!("{:indent$}{label:<width$}{value}", "")
}

/// Prints a JSON object on one line of stdout.
pub(crate) fn print_json(v: &Value) {
    outln!("{v}");
}

/// The outcome of a call as text.
pub(crate) fn status_text(status: &ExitStatus) -> String {
    match status {
        ExitStatus::Exit(0) => "exit 0 (success)".to_owned(),
        ExitStatus::Exit(c) => format!("exit {c} (contract failure: state rolled back)"),
        ExitStatus::Trap(t) => format!("trap: {t} (state rolled back)"),
    }
}

/// Text lines describing a call report, each indented by `indent`.
pub(crate) fn call_lines(report: &CallReport, gas_limit: Gas, indent: usize) -> Vec<String> {
    let o = &report.outcome;
    let mut lines = vec![
        field(indent, "result", status_text(&o.status)),
        field(
            indent,
            "gas used",
            format!("{} of {}", thousands(o.gas_used), thousands(gas_limit)),
        ),
        field(indent, "return", show_bytes(&o.return_data)),
        field(
            indent,
            "engine",
            format!("{} version {}", report.engine, report.engine_version),
        ),
    ];
    if report.events.is_empty() {
        lines.push(field(indent, "events", "none"));
    }
    for (i, e) in report.events.iter().enumerate() {
        let label = if i == 0 { "events" } else { "" };
        lines.push(field(
            indent,
            label,
            format!("#{} {}", e.id, show_bytes(&e.data)),
        ));
    }
    if report.logs.is_empty() {
        lines.push(field(indent, "logs", "none"));
    }
    for (i, l) in report.logs.iter().enumerate() {
        let label = if i == 0 { "logs" } else { "" };
        lines.push(field(indent, label, show_bytes(l)));
    }
    if report.transfers.is_empty() {
        lines.push(field(indent, "transfers", "none"));
    }
    for (i, t) in report.transfers.iter().enumerate() {
        let label = if i == 0 { "transfers" } else { "" };
        lines.push(field(
            indent,
            label,
            format!("{} {} -> {}", t.amount, asset_name(&t.asset), hex32(&t.to)),
        ));
    }
    let nested = report
        .frame
        .trace
        .iter()
        .any(|i| matches!(i, FrameItem::Call(_) | FrameItem::Refused { .. }));
    if nested {
        lines.push(field(
            indent,
            "call tree",
            match report.frame.frame_count() {
                1 => "1 frame, in execution order".to_owned(),
                n => format!("{n} frames, in execution order"),
            },
        ));
        tree_lines(&report.frame, indent + 2, &mut lines);
    }
    lines
}

/// A contract address, shortened for the tree: the first 8 hex digits.
fn short(h: &Hash) -> String {
    hex::encode(&h[..4])
}

/// How a frame ended, in a few words.
fn frame_status(frame: &CallFrame) -> String {
    match &frame.outcome.status {
        ExitStatus::Exit(c) => format!("exit {c}"),
        ExitStatus::Trap(t) => format!("trap: {t}"),
    }
}

/// The call tree under `frame` (the frame itself first), one line per frame and per thing it
/// did, indented by depth.
pub(crate) fn tree_lines(frame: &CallFrame, indent: usize, lines: &mut Vec<String>) {
    let deposits: Vec<String> = frame
        .deposits
        .iter()
        .map(|(a, n)| format!("{n} {}", asset_name(a)))
        .collect();
    lines.push(format!(
        "{:indent$}{} {} {}: {}, {} gas{}{}{}",
        "",
        frame.engine,
        short(&frame.contract),
        frame.call,
        frame_status(frame),
        thousands(frame.outcome.gas_used),
        if deposits.is_empty() {
            String::new()
        } else {
            format!(", deposit {}", deposits.join(" + "))
        },
        if frame.outcome.return_data.is_empty() {
            String::new()
        } else {
            format!(", return {}", show_bytes(&frame.outcome.return_data))
        },
        if frame.discarded { "  [discarded]" } else { "" },
    ));
    let inner = indent + 2;
    for item in &frame.trace {
        match item {
            FrameItem::Event(e) => {
                lines.push(format!(
                    "{:inner$}event #{} {}",
                    "",
                    e.id,
                    show_bytes(&e.data)
                ));
            }
            FrameItem::Log(l) => lines.push(format!("{:inner$}log {}", "", show_bytes(l))),
            FrameItem::Transfer(t) => lines.push(format!(
                "{:inner$}transfer {} {} -> {}",
                "",
                t.amount,
                asset_name(&t.asset),
                short(&t.to)
            )),
            FrameItem::Call(callee) => tree_lines(callee, inner, lines),
            FrameItem::Refused {
                callee,
                entry,
                reason,
            } => lines.push(format!(
                "{:inner$}refused {} entry {entry}: {reason}",
                "",
                short(callee)
            )),
        }
    }
}

/// What `tos_call` returned to the caller for a frame that ran.
fn call_result(frame: &CallFrame) -> u64 {
    match frame.outcome.status {
        ExitStatus::Exit(c) => c,
        ExitStatus::Trap(_) => CALL_TRAPPED,
    }
}

/// A call frame and everything under it in JSON (schema in README.md, "frame object").
pub(crate) fn frame_json(frame: &CallFrame) -> Value {
    let o = &frame.outcome;
    let (status, exit_code, trap) = match &o.status {
        ExitStatus::Exit(c) => ("exit", Some(*c), None),
        ExitStatus::Trap(t) => ("trap", None, Some(t.to_string())),
    };
    let (kind, id) = match frame.call {
        Call::Entry(id) => ("entry", id),
        Call::Hook(id) => ("hook", u16::from(id)),
    };
    json!({
        "contract": hex32(&frame.contract),
        "call": { "kind": kind, "id": id },
        "caller": hex32(&frame.caller),
        "deposits": frame.deposits.iter().map(|(a, n)| json!({
            "asset": hex32(a),
            "amount": n,
        })).collect::<Vec<_>>(),
        "engine": { "name": frame.engine, "version": frame.engine_version },
        "status": status,
        "exit_code": exit_code,
        "trap": trap,
        "result": call_result(frame),
        "gas_limit": frame.gas_limit,
        "gas_used": o.gas_used,
        "return_data": hex::encode(&o.return_data),
        "discarded": frame.discarded,
        "trace": frame.trace.iter().map(|item| match item {
            FrameItem::Event(e) => json!({
                "kind": "event",
                "id": e.id,
                "data": hex::encode(&e.data),
                "text": printable(&e.data),
            }),
            FrameItem::Log(l) => json!({ "kind": "log", "hex": hex::encode(l), "text": printable(l) }),
            FrameItem::Transfer(t) => json!({
                "kind": "transfer",
                "to": hex32(&t.to),
                "asset": hex32(&t.asset),
                "amount": t.amount,
            }),
            FrameItem::Call(callee) => json!({ "kind": "call", "frame": frame_json(callee) }),
            FrameItem::Refused { callee, entry, reason } => json!({
                "kind": "refused",
                "callee": hex32(callee),
                "entry": entry,
                "reason": reason.to_string(),
                "result": CALL_REFUSED,
            }),
        }).collect::<Vec<_>>(),
    })
}

/// Bytes in JSON: `{"hex": "...", "text": "..." | null}`.
pub(crate) fn bytes_json(bytes: &[u8]) -> Value {
    json!({ "hex": hex::encode(bytes), "text": printable(bytes) })
}

/// A call report in JSON (schema in README.md, "call object").
pub(crate) fn call_json(report: &CallReport, gas_limit: Gas) -> Value {
    let o = &report.outcome;
    let (status, exit_code, trap) = match &o.status {
        ExitStatus::Exit(c) => ("exit", Some(*c), None),
        ExitStatus::Trap(t) => ("trap", None, Some(t.to_string())),
    };
    json!({
        "success": o.is_success(),
        "status": status,
        "exit_code": exit_code,
        "trap": trap,
        "gas_used": o.gas_used,
        "gas_limit": gas_limit,
        "return_data": hex::encode(&o.return_data),
        "engine": { "name": report.engine, "version": report.engine_version },
        "events": report.events.iter().map(|e| json!({
            "contract": hex32(&e.contract),
            "id": e.id,
            "data": hex::encode(&e.data),
            "text": printable(&e.data),
        })).collect::<Vec<_>>(),
        "logs": report.logs.iter().map(|l| bytes_json(l)).collect::<Vec<_>>(),
        "transfers": report.transfers.iter().map(|t| json!({
            "from": hex32(&t.from),
            "to": hex32(&t.to),
            "asset": hex32(&t.asset),
            "amount": t.amount,
        })).collect::<Vec<_>>(),
        "frame": frame_json(&report.frame),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tos_engine_api::{Outcome, Trap};
    use tos_host::{CallFrame, Event, FrameItem, Transfer};

    #[test]
    fn bytes_show_as_text_or_hex() {
        assert_eq!(show_bytes(b"hello, tos"), "\"hello, tos\"");
        assert_eq!(show_bytes(&[]), "(empty)");
        assert_eq!(
            show_bytes(&[1, 0, 0, 0, 0, 0, 0, 0]),
            "0x0100000000000000 (u64 1)"
        );
        assert_eq!(show_bytes(&[0xff, 0]), "0xff00");
        assert_eq!(show_bytes(b"a\nb"), "0x610a62");
        assert_eq!(show_key(b"count"), "0x636f756e74");
        assert_eq!(show_key(&[0, 1]), "0x0001");
        // A printable byte after the prefix is not swallowed into it: every byte shows.
        assert_eq!(escaped(&[b'b', b'a', b'l', b'Z', 0xa1]), "\"balZ\\xa1\"");
        assert_eq!(escaped(b"q\"\\"), "\"q\\\"\\\\\"");
    }

    #[test]
    fn numbers_and_fields_align() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(field(0, "gas used", 5), "gas used    5");
        assert_eq!(field(2, "gas used", 5), "  gas used  5");
        assert_eq!(field(0, "a-very-long-label", 5), "a-very-long-label 5");
    }

    #[test]
    fn reports_render_in_both_forms() {
        let report = CallReport::from_frame(CallFrame {
            contract: [1; 32],
            call: tos_engine_api::Call::Entry(0),
            caller: [9; 32],
            deposits: vec![],
            engine: "wasm",
            engine_version: 1,
            gas_limit: 5000,
            outcome: Outcome {
                status: ExitStatus::Trap(Trap::OutOfGas),
                gas_used: 1234,
                return_data: vec![],
            },
            discarded: false,
            trace: vec![
                FrameItem::Event(Event {
                    contract: [1; 32],
                    id: 7,
                    data: b"ev".to_vec(),
                }),
                FrameItem::Log(b"hi".to_vec()),
                FrameItem::Log(vec![0xff]),
                FrameItem::Transfer(Transfer {
                    from: [1; 32],
                    to: [2; 32],
                    asset: NATIVE_ASSET,
                    amount: 5,
                }),
                FrameItem::Call(Box::new(CallFrame {
                    contract: [0xab; 32],
                    call: tos_engine_api::Call::Entry(3),
                    caller: [1; 32],
                    deposits: vec![(NATIVE_ASSET, 9)],
                    engine: "tbpf",
                    engine_version: 1,
                    gas_limit: 900,
                    outcome: Outcome {
                        status: ExitStatus::Exit(4),
                        gas_used: 321,
                        return_data: b"no".to_vec(),
                    },
                    discarded: true,
                    trace: vec![FrameItem::Log(b"inner".to_vec())],
                })),
                FrameItem::Refused {
                    callee: [0xcd; 32],
                    entry: 1,
                    reason: tos_engine_api::CallRefusal::Reentrancy,
                },
            ],
        });
        let text = call_lines(&report, 5000, 0).join("\n");
        assert!(text.contains("call tree   2 frames"), "{text}");
        assert!(
            text.contains("    tbpf abababab entry 3: exit 4, 321 gas, deposit 9 native, return \"no\"  [discarded]"),
            "{text}"
        );
        assert!(text.contains("      log \"inner\""), "{text}");
        assert!(
            text.contains("    refused cdcdcdcd entry 1: the callee is already on the call stack"),
            "{text}"
        );
        assert!(text.contains("trap: out of gas"), "{text}");
        assert!(text.contains("1,234 of 5,000"), "{text}");
        assert!(text.contains("#7 \"ev\""), "{text}");
        assert!(text.contains("0xff"), "{text}");
        assert!(text.contains("5 native -> 0202"), "{text}");
        let j = call_json(&report, 5000);
        assert_eq!(j["success"], false);
        assert_eq!(j["status"], "trap");
        assert_eq!(j["trap"], "out of gas");
        assert_eq!(j["exit_code"], Value::Null);
        assert_eq!(j["gas_used"], 1234);
        assert_eq!(j["logs"][0]["text"], "hi");
        assert_eq!(j["logs"][1]["text"], Value::Null);
        assert_eq!(j["logs"][1]["hex"], "ff");
        assert_eq!(j["events"][0]["id"], 7);
        assert_eq!(j["transfers"][0]["amount"], 5);
        let trace = &j["frame"]["trace"];
        assert_eq!(trace[4]["kind"], "call");
        assert_eq!(trace[4]["frame"]["result"], 4);
        assert_eq!(trace[4]["frame"]["discarded"], true);
        assert_eq!(trace[4]["frame"]["deposits"][0]["amount"], 9);
        assert_eq!(trace[4]["frame"]["trace"][0]["text"], "inner");
        assert_eq!(trace[5]["kind"], "refused");
        assert_eq!(trace[5]["result"], u64::MAX);
        assert_eq!(j["engine"]["name"], "wasm");
        assert!(text.contains("wasm version 1"), "{text}");
    }
}
