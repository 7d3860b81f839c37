//! Parsing of addresses, account keys, assets, hex, params and deposits from the command line.

use std::path::Path;

use tos_engine_api::{Call, Hash, NATIVE_ASSET};
use tos_host::MAX_PARAMS_LEN;

use tos_testkit::args::Resolver;

use crate::error::CliError;
use crate::state::{Database, OpenMode};
use crate::{CallArgs, ParamsArgs};

/// Decodes hex with an optional `0x` prefix; `what` names the argument in the error.
pub(crate) fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>, CliError> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    hex::decode(t).map_err(|e| CliError::user(format!("{what} `{text}` is not valid hex: {e}")))
}

/// A 32-byte value written as 64 hex digits (optionally `0x`-prefixed).
pub(crate) fn parse_hash(text: &str, what: &str) -> Result<Hash, CliError> {
    let bytes = parse_hex(text, what)?;
    <Hash>::try_from(bytes.as_slice()).map_err(|_| {
        CliError::user(format!(
            "{what} `{text}` must be 32 bytes (64 hex digits), not {} bytes",
            bytes.len()
        ))
    })
}

/// A contract address: 64 hex digits. Anything else is refused with what an address looks
/// like and where to find one (an account name is not a contract).
pub(crate) fn parse_address(text: &str) -> Result<Hash, CliError> {
    let t = text.strip_prefix("0x").unwrap_or(text);
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return parse_hash(text, "address");
    }
    let looks_like_name = !t.is_empty() && !t.bytes().all(|b| b.is_ascii_hexdigit());
    let hint = if looks_like_name {
        format!(
            "; `{text}` looks like an account name, and accounts hold no code \
             (`tosvm account {text}` prints its key)"
        )
    } else {
        String::new()
    };
    Err(CliError::user(format!(
        "`{text}` is not a contract address: give the 64 hex digits `tosvm deploy` printed \
         (`tosvm contracts` lists them){hint}"
    )))
}

/// Whether `text` is exactly 64 hex digits, with or without `0x`.
fn is_key_hex(text: &str) -> bool {
    let t = text.strip_prefix("0x").unwrap_or(text);
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The key of an account name: `blake3("tosvm/account/v1" ‖ name)`.
pub(crate) fn named_key(name: &str) -> Hash {
    tos_testkit::args::account_key(name)
}

/// An account key: 64 hex digits are the key itself; `0x` followed by anything else is an
/// error; any other non-empty text is a name hashed with [`named_key`].
pub(crate) fn parse_account(text: &str, what: &str) -> Result<Hash, CliError> {
    if is_key_hex(text) {
        return parse_hash(text, what);
    }
    if text.starts_with("0x") {
        return parse_hash(text, what);
    }
    if text.is_empty() {
        return Err(CliError::user(format!("{what} is empty")));
    }
    Ok(named_key(text))
}

/// An asset: `native` (or `tos`) for the native asset, else 64 hex digits.
pub(crate) fn parse_asset(text: &str) -> Result<Hash, CliError> {
    if text.eq_ignore_ascii_case("native") || text.eq_ignore_ascii_case("tos") {
        return Ok(NATIVE_ASSET);
    }
    parse_hash(text, "asset")
}

/// `ASSET:AMOUNT`.
pub(crate) fn parse_deposit(text: &str) -> Result<(Hash, u64), CliError> {
    let (asset, amount) = text.rsplit_once(':').ok_or_else(|| {
        CliError::user(format!(
            "deposit `{text}` must be ASSET:AMOUNT (e.g. native:1000)"
        ))
    })?;
    let asset = parse_asset(asset)?;
    let amount = amount.trim().parse::<u64>().map_err(|e| {
        CliError::user(format!(
            "deposit `{text}`: amount `{amount}` is not a u64: {e}"
        ))
    })?;
    Ok((asset, amount))
}

/// Every `--deposit`, summed per asset is left to the host (each is credited in order).
pub(crate) fn parse_deposits(all: &[String]) -> Result<Vec<(Hash, u64)>, CliError> {
    all.iter().map(|d| parse_deposit(d)).collect()
}

/// The call of `--entry N` / `--hook N`.
pub(crate) fn parse_call(c: &CallArgs) -> Result<Call, CliError> {
    match (c.entry, c.hook) {
        (Some(e), None) => Ok(Call::Entry(e)),
        (None, Some(h)) => Ok(Call::Hook(h)),
        _ => Err(CliError::user("pass exactly one of --entry N or --hook N")),
    }
}

/// Reads a whole file no larger than `limit` bytes; `what` names it in errors.
pub(crate) fn read_limited(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>, CliError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::user(format!("cannot read {what} {shown}: {e}")))?;
    if !meta.is_file() {
        return Err(CliError::user(format!("{what} {shown} is not a file")));
    }
    if meta.len() > limit as u64 {
        return Err(CliError::user(format!(
            "{what} {shown} is {} bytes, over the limit of {limit} bytes",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::user(format!("cannot read {what} {shown}: {e}")))?;
    if bytes.len() > limit {
        return Err(CliError::user(format!(
            "{what} {shown} grew past the limit of {limit} bytes while being read"
        )));
    }
    Ok(bytes)
}

/// Names in typed arguments resolved against the state at a path: `asset:NAME` is the asset
/// of that name a contract created there (the state is opened read-only, only when needed).
#[derive(Debug)]
pub(crate) struct StateNames<'p> {
    /// The state.
    pub(crate) state: &'p Path,
}

impl Resolver for StateNames<'_> {
    fn asset(&self, name: &str) -> Result<Hash, String> {
        let db = Database::open(self.state, OpenMode::ReadOnly).map_err(|e| e.to_string())?;
        let assets = db
            .reader()
            .and_then(|r| r.assets_all())
            .map_err(|e| e.to_string())?;
        let hits: Vec<Hash> = assets
            .iter()
            .filter(|(_, a)| a.name == name.as_bytes())
            .map(|(id, _)| *id)
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!(
                "no asset named `{name}` in {} (`tosvm balance CONTRACT` lists assets by name)",
                self.state.display()
            )),
            _ => Err(format!(
                "{} assets are named `{name}` in {}; give the id in hex",
                hits.len(),
                self.state.display()
            )),
        }
    }
}

/// The params of `--params-hex`, `--params-file`, `--args` or `--args-json` (empty when none
/// is given); `asset:NAME` arguments are looked up in the state at `state`.
pub(crate) fn parse_params(p: &ParamsArgs, state: &Path) -> Result<Vec<u8>, CliError> {
    let names = StateNames { state };
    let params = match (&p.params_hex, &p.params_file) {
        (None, None) if !p.args.is_empty() => {
            tos_testkit::args::pack(&p.args, &names).map_err(|e| CliError::user(e.0))?
        }
        (None, None) if p.args_json.is_some() => {
            tos_testkit::args::pack_json(p.args_json.as_deref().unwrap_or("[]"), &names)
                .map_err(|e| CliError::user(e.0))?
        }
        (Some(h), None) => parse_hex(h, "--params-hex")?,
        (None, Some(f)) => read_limited(f, MAX_PARAMS_LEN, "params file")?,
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => {
            return Err(CliError::user(
                "pass at most one of --params-hex and --params-file",
            ));
        }
    };
    if params.len() > MAX_PARAMS_LEN {
        return Err(CliError::user(format!(
            "params are {} bytes, over the limit of {MAX_PARAMS_LEN}",
            params.len()
        )));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_need_exactly_64_hex_digits() {
        let h = "ab".repeat(32);
        assert_eq!(parse_hash(&h, "address").unwrap(), [0xab; 32]);
        assert_eq!(
            parse_hash(&format!("0x{h}"), "address").unwrap(),
            [0xab; 32]
        );
        let e = parse_hash("abcd", "address").unwrap_err().to_string();
        assert!(e.contains("64 hex digits") && e.contains("2 bytes"), "{e}");
        let e = parse_hash(&"zz".repeat(32), "address")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid hex"), "{e}");
    }

    #[test]
    fn accounts_are_keys_or_hashed_names() {
        let h = "01".repeat(32);
        assert_eq!(parse_account(&h, "--from").unwrap(), [1; 32]);
        assert_eq!(
            parse_account("alice", "--from").unwrap(),
            named_key("alice")
        );
        assert_ne!(named_key("alice"), named_key("bob"));
        assert!(parse_account("", "--from").is_err());
        assert!(parse_account("0x1234", "--from").is_err());
    }

    #[test]
    fn typed_args_pack_and_names_are_not_addresses() {
        let st = Path::new("/nonexistent/state.redb");
        let p = ParamsArgs {
            args: vec!["addr:bob".into(), "u64:30".into()],
            ..ParamsArgs::default()
        };
        assert_eq!(
            parse_params(&p, st).unwrap(),
            [named_key("bob").as_slice(), &30u64.to_le_bytes()].concat()
        );
        let j = ParamsArgs {
            args_json: Some(r#"[{"u32": 7}]"#.into()),
            ..ParamsArgs::default()
        };
        assert_eq!(parse_params(&j, st).unwrap(), 7u32.to_le_bytes());
        let e = parse_address("alice").unwrap_err().to_string();
        assert!(
            e.contains("not a contract address") && e.contains("tosvm account alice"),
            "{e}"
        );
        assert!(!e.contains("Odd number"), "{e}");
        assert!(
            parse_address("abc")
                .unwrap_err()
                .to_string()
                .contains("64 hex digits")
        );
    }

    #[test]
    fn deposits_parse_asset_and_amount() {
        assert_eq!(parse_deposit("native:5").unwrap(), (NATIVE_ASSET, 5));
        let id = "07".repeat(32);
        assert_eq!(parse_deposit(&format!("{id}:9")).unwrap(), ([7; 32], 9));
        for bad in ["native", "native:-1", "native:x", "zz:1", ":1"] {
            assert!(parse_deposit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn params_come_from_hex_or_a_file() {
        let none = ParamsArgs::default();
        let st = Path::new("/nonexistent/state.redb");
        assert_eq!(parse_params(&none, st).unwrap(), Vec::<u8>::new());
        let hex = ParamsArgs {
            params_hex: Some("0x0102".into()),
            ..ParamsArgs::default()
        };
        assert_eq!(parse_params(&hex, st).unwrap(), vec![1, 2]);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.bin");
        std::fs::write(&f, [9, 9, 9]).unwrap();
        let file = ParamsArgs {
            params_file: Some(f),
            ..ParamsArgs::default()
        };
        assert_eq!(parse_params(&file, st).unwrap(), vec![9, 9, 9]);
        let big = dir.path().join("big.bin");
        std::fs::write(&big, vec![0; MAX_PARAMS_LEN + 1]).unwrap();
        let e = parse_params(
            &ParamsArgs {
                params_file: Some(big),
                ..ParamsArgs::default()
            },
            st,
        )
        .unwrap_err();
        assert!(e.to_string().contains("over the limit"), "{e}");
    }
}
