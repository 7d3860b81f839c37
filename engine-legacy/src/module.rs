//! The legacy module and its binary encoding.

use std::collections::BTreeMap;
use std::io;

use borsh::{BorshDeserialize, BorshSerialize};
use tos_engine_api::LoadError;

use crate::ValueCell;
use crate::limits::{MAX_CHUNK_CODE, MAX_CHUNKS, MAX_CONSTANTS, MAX_ENTRIES};

/// The four bytes every legacy module starts with.
pub(crate) const MAGIC: [u8; 4] = *b"TOSL";

/// The version of the encoding that follows the magic. A new version gets a new number; a
/// decoder refuses versions it does not know.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// One chunk of bytecode: a function of the VM.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct Chunk {
    /// Values the chunk takes from its caller's stack into locals `0..args`.
    pub(crate) args: u8,
    /// Values it leaves on its caller's stack when it returns.
    pub(crate) rets: u8,
    /// Local slots (`>= args`); those past the arguments start as `null`.
    pub(crate) locals: u8,
    /// The bytecode (see OPCODES.md).
    pub(crate) code: Vec<u8>,
}

/// A legacy module: a constant pool, chunks of bytecode, and the entries and hooks that
/// name chunks.
///
/// # Binary encoding (version 1)
/// Integers are little-endian, `vec` is a `u32` count followed by the items, as in borsh;
/// constants are borsh-encoded [`ValueCell`]s.
///
/// ```text
/// magic      4 bytes   "TOSL"
/// version    u8        1
/// constants  vec<value>                      at most MAX_CONSTANTS
/// chunks     vec<chunk>                      at most MAX_CHUNKS
///   chunk    args u8, rets u8, locals u8 (>= args), code vec<u8> (at most MAX_CHUNK_CODE)
/// entries    vec<(entry id u16, chunk u16)>  ids strictly ascending, at most MAX_ENTRIES
/// hooks      vec<(hook id u8, chunk u16)>    ids strictly ascending
/// ```
///
/// Nothing may follow the hooks. Every module has exactly one encoding, so
/// `Module::from_bytes(b)?.to_bytes() == b`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Module {
    pub(crate) constants: Vec<ValueCell>,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) entries: BTreeMap<u16, u16>,
    pub(crate) hooks: BTreeMap<u8, u16>,
}

fn malformed(what: impl std::fmt::Display, e: io::Error) -> LoadError {
    // borsh reports a short input as `InvalidData` with this text; std readers as EOF.
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string() == "Unexpected length of input" {
        LoadError::Malformed(format!("truncated in {what}"))
    } else {
        LoadError::Malformed(format!("{what}: {e}"))
    }
}

fn count(r: &mut &[u8], what: &str, max: usize) -> Result<usize, LoadError> {
    let n = u32::deserialize_reader(r).map_err(|e| malformed(format!("{what} count"), e))?;
    match usize::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(LoadError::Malformed(format!(
            "{n} {what} exceed the limit of {max}"
        ))),
    }
}

impl Module {
    /// Decodes a module, checking the magic, the version, every length limit, the values'
    /// limits, chunk references of entries and hooks, and that no byte is left over.
    /// Bytecode is only checked by validation, when the module is prepared.
    ///
    /// # Errors
    /// [`LoadError::Malformed`] naming the first offending part.
    pub fn from_bytes(bytes: &[u8]) -> Result<Module, LoadError> {
        let Some((magic, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(LoadError::Malformed(format!(
                "{} bytes is too short for a legacy module",
                bytes.len()
            )));
        };
        if *magic != MAGIC {
            return Err(LoadError::Malformed(format!(
                "bad magic {magic:02x?}, expected \"TOSL\""
            )));
        }
        let Some((&version, mut r)) = rest.split_first() else {
            return Err(LoadError::Malformed("truncated in version".into()));
        };
        if version != FORMAT_VERSION {
            return Err(LoadError::Unsupported(format!(
                "legacy module format version {version} (this engine reads {FORMAT_VERSION})"
            )));
        }
        let r = &mut r;
        let mut module = Module::default();

        let n = count(r, "constants", MAX_CONSTANTS)?;
        for i in 0..n {
            let v = ValueCell::deserialize_reader(r)
                .map_err(|e| malformed(format!("constant {i}"), e))?;
            module.constants.push(v);
        }

        let n = count(r, "chunks", MAX_CHUNKS)?;
        for i in 0..n {
            let what = || format!("chunk {i}");
            let mut head = [0u8; 3];
            io::Read::read_exact(r, &mut head).map_err(|e| malformed(what(), e))?;
            let [args, rets, locals] = head;
            if locals < args {
                return Err(LoadError::Malformed(format!(
                    "chunk {i} has {locals} locals but takes {args} arguments"
                )));
            }
            let len = count(r, &format!("code bytes of chunk {i}"), MAX_CHUNK_CODE)?;
            let Some((code, rest)) = r.split_at_checked(len) else {
                return Err(LoadError::Malformed(format!(
                    "truncated in code of chunk {i}"
                )));
            };
            *r = rest;
            module.chunks.push(Chunk {
                args,
                rets,
                locals,
                code: code.to_vec(),
            });
        }

        let chunk_ref = |what: String, chunk: u16, chunks: usize| {
            if usize::from(chunk) >= chunks {
                Err(LoadError::Malformed(format!(
                    "{what} names chunk {chunk}, but the module has {chunks}"
                )))
            } else {
                Ok(())
            }
        };

        let n = count(r, "entries", MAX_ENTRIES)?;
        for _ in 0..n {
            let (id, chunk) =
                <(u16, u16)>::deserialize_reader(r).map_err(|e| malformed("entries", e))?;
            if module
                .entries
                .last_key_value()
                .is_some_and(|(&last, _)| last >= id)
            {
                return Err(LoadError::Malformed(format!(
                    "entry {id} is out of order or repeated"
                )));
            }
            chunk_ref(format!("entry {id}"), chunk, module.chunks.len())?;
            module.entries.insert(id, chunk);
        }

        let n = count(r, "hooks", 256)?;
        for _ in 0..n {
            let (id, chunk) =
                <(u8, u16)>::deserialize_reader(r).map_err(|e| malformed("hooks", e))?;
            if module
                .hooks
                .last_key_value()
                .is_some_and(|(&last, _)| last >= id)
            {
                return Err(LoadError::Malformed(format!(
                    "hook {id} is out of order or repeated"
                )));
            }
            chunk_ref(format!("hook {id}"), chunk, module.chunks.len())?;
            module.hooks.insert(id, chunk);
        }

        if !r.is_empty() {
            return Err(LoadError::Malformed(format!(
                "{} trailing bytes after the hooks",
                r.len()
            )));
        }
        Ok(module)
    }

    /// Encodes the module (see the type's docs for the layout).
    ///
    /// # Errors
    /// [`LoadError::Malformed`] if the module breaks a limit the encoding cannot express (more
    /// than `u32::MAX` items); modules built by the assembler or decoded never do.
    pub fn to_bytes(&self) -> Result<Vec<u8>, LoadError> {
        let mut out = Vec::with_capacity(64);
        self.write(&mut out)
            .map_err(|e| LoadError::Malformed(format!("cannot encode module: {e}")))?;
        Ok(out)
    }

    fn write(&self, out: &mut Vec<u8>) -> io::Result<()> {
        fn len(n: usize, out: &mut Vec<u8>) -> io::Result<()> {
            u32::try_from(n)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "count exceeds u32"))?
                .serialize(out)
        }
        out.extend_from_slice(&MAGIC);
        out.push(FORMAT_VERSION);
        len(self.constants.len(), out)?;
        for c in &self.constants {
            c.serialize(out)?;
        }
        len(self.chunks.len(), out)?;
        for c in &self.chunks {
            out.extend_from_slice(&[c.args, c.rets, c.locals]);
            len(c.code.len(), out)?;
            out.extend_from_slice(&c.code);
        }
        len(self.entries.len(), out)?;
        for (id, chunk) in &self.entries {
            (id, chunk).serialize(out)?;
        }
        len(self.hooks.len(), out)?;
        for (id, chunk) in &self.hooks {
            (id, chunk).serialize(out)?;
        }
        Ok(())
    }

    /// The constant pool.
    pub fn constants(&self) -> &[ValueCell] {
        &self.constants
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Entry ids and the chunks they run, by id.
    pub fn entries(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.entries.iter().map(|(&id, &c)| (id, c))
    }

    /// Hook ids and the chunks they run, by id.
    pub fn hooks(&self) -> impl Iterator<Item = (u8, u16)> + '_ {
        self.hooks.iter().map(|(&id, &c)| (id, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Module {
        let mut m = Module::default();
        m.constants.push(ValueCell::Bytes(b"count".to_vec()));
        m.chunks.push(Chunk {
            args: 1,
            rets: 0,
            locals: 2,
            code: vec![0x05, 0, 0x35],
        });
        m.entries.insert(3, 0);
        m.hooks.insert(0, 0);
        m
    }

    #[test]
    fn encoding_is_the_documented_layout_and_round_trips() {
        let m = sample();
        let bytes = m.to_bytes().unwrap();
        let mut expected = b"TOSL\x01".to_vec();
        expected.extend_from_slice(&[1, 0, 0, 0, 8, 5, 0, 0, 0]);
        expected.extend_from_slice(b"count");
        expected.extend_from_slice(&[1, 0, 0, 0, 1, 0, 2, 3, 0, 0, 0, 0x05, 0, 0x35]);
        expected.extend_from_slice(&[1, 0, 0, 0, 3, 0, 0, 0]);
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes, expected);
        assert_eq!(Module::from_bytes(&bytes).unwrap(), m);
    }

    #[test]
    fn malformed_modules_are_named() {
        let good = sample().to_bytes().unwrap();
        let msg = |b: &[u8]| Module::from_bytes(b).unwrap_err().to_string();
        assert!(msg(b"TOS").contains("too short"));
        assert!(msg(b"ELF\x7f\x01").contains("bad magic"));
        assert!(msg(b"TOSL\x02").contains("version 2"));
        for cut in 5..good.len() {
            assert!(msg(&good[..cut]).contains("truncated"), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(msg(&trailing).contains("1 trailing bytes"));
        let mut bad_entry = good.clone();
        let at = bad_entry.len() - 9;
        bad_entry[at] = 7; // entry 3 -> chunk 7
        assert!(msg(&bad_entry).contains("entry 3 names chunk 7"));
        let mut too_many = b"TOSL\x01".to_vec();
        too_many.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(msg(&too_many).contains("exceed the limit"));
        let mut locals = sample();
        locals.chunks[0].locals = 0;
        assert!(msg(&locals.to_bytes().unwrap()).contains("0 locals but takes 1"));
    }
}
