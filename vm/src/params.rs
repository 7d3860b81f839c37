//! How the values pushed with [`VM::push_stack`](crate::VM::push_stack) become a call's params.

use borsh::BorshDeserialize;
use tos_engine_api::ModuleTag;
use tos_engine_legacy::ValueCell;
use tos_host::MAX_PARAMS_LEN;

use crate::VmError;

/// How the values pushed on a [`VM`](crate::VM) reach a TBPF, wasm or plug-in contract.
/// Legacy contracts always take [`ParamsEncoding::Bytes`]: their entry chunk has one
/// argument, the params as a bytes value, which is what the old API pushed.
///
/// Set on the [`Environment`](crate::Environment); default [`ParamsEncoding::Borsh`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ParamsEncoding {
    /// The params are the borsh encodings of the values, one after the other, **in call
    /// order**: the last value pushed is the first parameter (the old VM popped its arguments
    /// from the top of the stack, so the daemon pushes `parameters.rev()`). Each value is
    /// encoded as [`ValueCell`] documents: a one-byte tag, then the value (integers
    /// little-endian, strings and bytes a u32 LE length then the bytes). No values, no bytes.
    /// See [`encode_params`] and docs/ABI.md ("Parameters").
    #[default]
    Borsh,
    /// The legacy convention on every engine: nothing pushed gives empty params, one
    /// `ValueCell::Bytes` gives exactly its bytes; anything else is refused
    /// ([`VmError::Params`]). For contracts that lay out their own params, like the SDK
    /// examples (`to ‖ amount`).
    Bytes,
}

/// The params of a TBPF, wasm or plug-in call under [`ParamsEncoding::Borsh`]: the borsh
/// encodings of `values`, first parameter first (`values` is in call order, *not* push
/// order).
///
/// ```
/// use tos_vm::{ValueCell, encode_params};
///
/// let params = encode_params(&[ValueCell::U64(7), ValueCell::String("hi".into())])?;
/// assert_eq!(params, [5, 7, 0, 0, 0, 0, 0, 0, 0, /* string */ 7, 2, 0, 0, 0, b'h', b'i']);
/// assert!(encode_params(&[])?.is_empty());
/// # Ok::<(), tos_vm::VmError>(())
/// ```
///
/// # Errors
/// [`VmError::Params`] when a value breaks a limit of the legacy VM's values
/// ([`tos_engine_legacy::limits`]) or the params would exceed [`MAX_PARAMS_LEN`].
pub fn encode_params(values: &[ValueCell]) -> Result<Vec<u8>, VmError> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        value
            .check_limits()
            .map_err(|e| VmError::Params(format!("parameter {i} ({}): {e}", value.type_name())))?;
        borsh::to_writer(&mut out, value).map_err(|e| {
            VmError::Params(format!(
                "parameter {i} ({}) cannot be encoded: {e}",
                value.type_name()
            ))
        })?;
        if out.len() > MAX_PARAMS_LEN {
            return Err(VmError::Params(format!(
                "parameter {i} ({}) brings the params to {} bytes, over the limit of \
                 {MAX_PARAMS_LEN}",
                value.type_name(),
                out.len()
            )));
        }
    }
    Ok(out)
}

/// Decodes params written by [`encode_params`] back into values, in call order: what a Rust
/// contract or a tool reading a call would do. Every limit is enforced while decoding.
///
/// ```
/// use tos_vm::{ValueCell, decode_params, encode_params};
///
/// let values = vec![ValueCell::Bytes(vec![1; 32]), ValueCell::U64(250)];
/// assert_eq!(decode_params(&encode_params(&values)?)?, values);
/// # Ok::<(), tos_vm::VmError>(())
/// ```
///
/// # Errors
/// [`VmError::Params`] naming the parameter that is truncated or invalid.
pub fn decode_params(mut params: &[u8]) -> Result<Vec<ValueCell>, VmError> {
    let mut values = Vec::new();
    while !params.is_empty() {
        let value = ValueCell::deserialize_reader(&mut params)
            .map_err(|e| VmError::Params(format!("parameter {}: {e}", values.len())))?;
        values.push(value);
    }
    Ok(values)
}

/// The params of a call of a module of `tag` with `pushed` (in push order).
pub(crate) fn params_for(
    tag: ModuleTag,
    encoding: ParamsEncoding,
    pushed: &[ValueCell],
) -> Result<Vec<u8>, VmError> {
    if tag == ModuleTag::LEGACY || encoding == ParamsEncoding::Bytes {
        return bytes_params(tag, pushed);
    }
    let in_call_order: Vec<ValueCell> = pushed.iter().rev().cloned().collect();
    encode_params(&in_call_order)
}

/// The legacy convention: no value, or one bytes value.
fn bytes_params(tag: ModuleTag, pushed: &[ValueCell]) -> Result<Vec<u8>, VmError> {
    let why = if tag == ModuleTag::LEGACY {
        "a legacy entry chunk takes one argument, the params as a bytes value"
    } else {
        "the environment passes params as bytes (ParamsEncoding::Bytes)"
    };
    match pushed {
        [] => Ok(Vec::new()),
        [ValueCell::Bytes(bytes)] => {
            if bytes.len() > MAX_PARAMS_LEN {
                return Err(VmError::Params(format!(
                    "the bytes value of {} bytes is over the params limit of {MAX_PARAMS_LEN}",
                    bytes.len()
                )));
            }
            Ok(bytes.clone())
        }
        [other] => Err(VmError::Params(format!(
            "{why}: push one bytes value or nothing, not a {}",
            other.type_name()
        ))),
        more => Err(VmError::Params(format!(
            "{why}: push one bytes value or nothing, not {} values",
            more.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borsh_params_are_in_call_order_and_bytes_params_are_verbatim() {
        let pushed = [ValueCell::U64(2), ValueCell::U8(1)];
        // Pushed 2 then 1: the first parameter is the last pushed.
        assert_eq!(
            params_for(ModuleTag::TBPF, ParamsEncoding::Borsh, &pushed).unwrap(),
            [2, 1, 5, 2, 0, 0, 0, 0, 0, 0, 0]
        );
        let raw = [ValueCell::Bytes(vec![9, 8])];
        assert_eq!(
            params_for(ModuleTag::LEGACY, ParamsEncoding::Borsh, &raw).unwrap(),
            [9, 8]
        );
        assert_eq!(
            params_for(ModuleTag::WASM, ParamsEncoding::Bytes, &raw).unwrap(),
            [9, 8]
        );
        assert!(
            params_for(ModuleTag::LEGACY, ParamsEncoding::Borsh, &[])
                .unwrap()
                .is_empty()
        );
        let e = params_for(ModuleTag::LEGACY, ParamsEncoding::Borsh, &pushed).unwrap_err();
        assert!(e.to_string().contains("not 2 values"), "{e}");
        let e =
            params_for(ModuleTag::TBPF, ParamsEncoding::Bytes, &[ValueCell::U8(1)]).unwrap_err();
        assert!(e.to_string().contains("not a u8"), "{e}");
    }

    #[test]
    fn limits_are_checked_before_encoding() {
        let mut deep = ValueCell::Null;
        for _ in 0..100 {
            deep = ValueCell::Array(vec![deep]);
        }
        let e = encode_params(&[ValueCell::U8(0), deep]).unwrap_err();
        assert!(e.to_string().contains("parameter 1 (array)"), "{e}");
        let big = ValueCell::Bytes(vec![0; 40_000]);
        let e = encode_params(&[big.clone(), big]).unwrap_err();
        assert!(e.to_string().contains("over the limit of 65536"), "{e}");
        assert!(
            decode_params(&[5, 1])
                .unwrap_err()
                .to_string()
                .contains("parameter 0")
        );
        assert!(
            decode_params(&[5, 1, 0, 0, 0, 0, 0, 0, 0, 11])
                .unwrap_err()
                .to_string()
                .contains("parameter 1")
        );
    }
}
