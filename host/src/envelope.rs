//! The deploy envelope: what a deploy transaction carries.
//!
//! The format and the limits are documented on [`ContractModule`].

use borsh::{BorshDeserialize, BorshSerialize};
use ruzstd::decoding::errors::{FrameDecoderError, FrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use ruzstd::encoding::{CompressionLevel, compress_to_vec};
use ruzstd::io::Read as _;
use tos_engine_api::{Hash, ModuleTag};

/// Default cap on an encoded envelope: 1 MiB.
pub const DEFAULT_MAX_MODULE_SIZE: usize = 1024 * 1024;

/// The high bit of the first envelope byte: set, the code is zstd-compressed.
const COMPRESSED: u8 = 0x80;

/// Bytes before the code of a plain envelope: tag, code length.
const PLAIN_HEADER: u64 = 5;

/// Bytes before the frame of a compressed envelope: tag, declared size, compressed length.
const COMPRESSED_HEADER: u64 = 9;

/// The smallest window limit: zstd's largest block (128 KiB), which is also the window the
/// pure-Rust encoder declares, whatever the size of the code.
const MIN_WINDOW_LIMIT: u64 = 128 * 1024;

/// A contract module as deployed: the engine tag and the engine-specific code.
///
/// [`encode`](Self::encode) writes the plain envelope,
/// [`encode_compressed`](Self::encode_compressed) the zstd-compressed one, and
/// [`decode`](Self::decode) reads both.
///
/// # Format
/// The first byte holds the module tag ([`ModuleTag`]) in its low seven bits. Its high bit
/// (`0x80`) is reserved by the envelope: it says whether the code that follows is
/// compressed. Module tags are append-only and stay below `0x80`, so the bit never collides
/// with a tag; a tag that is unknown once the bit is cleared is refused
/// ([`EnvelopeError::UnknownTag`]).
///
/// **Plain** (high bit clear), the borsh encoding of [`ContractModule`]:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | tag |
/// | 1 | 4 | code length `n`, u32 LE |
/// | 5 | `n` | the code |
///
/// **Compressed** (high bit set), written by [`ContractModule::encode_compressed`]:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | `tag \| 0x80` |
/// | 1 | 4 | declared decompressed size `d`, u32 LE |
/// | 5 | 4 | compressed length `n`, u32 LE |
/// | 9 | `n` | exactly one zstd frame (RFC 8878) that decompresses to exactly `d` bytes |
///
/// Nothing may follow the code or the frame, neither in the envelope nor inside the `n`
/// compressed bytes. The decoded module is the *decompressed* code: its code hash and its
/// contract address do not depend on how it was carried.
///
/// # Limits
/// [`ContractModule::decode`] takes a cap, `max_size` (the host's
/// [`HostConfig::set_max_module_size`](crate::HostConfig::set_max_module_size), default
/// [`DEFAULT_MAX_MODULE_SIZE`]). It bounds the envelope's length, and, for the compressed form,
/// the declared decompressed size too, which is checked before anything is allocated. A
/// compressed envelope is then decoded in bounded time and memory, whatever its bytes:
/// - the zstd frame's window (from its header) may be at most the declared size, or 128 KiB
///   when that is larger, rounded up to a power of two; the frame is refused before the
///   decoder allocates anything for a larger window ([`EnvelopeError::WindowTooLarge`]);
/// - a content size stated in the frame header must be the declared size;
/// - decompression streams into a buffer that never grows past the declared size, and stops
///   as soon as the output would exceed it ([`EnvelopeError::DecompressesToMore`]), so a "zip
///   bomb" costs at most one window and one block (128 KiB) of work past the declared size;
///   output shorter than declared is refused too ([`EnvelopeError::DecompressesToLess`]);
/// - a frame that carries a content checksum must match it; any other zstd failure is
///   [`EnvelopeError::Zstd`].
#[derive(Clone, PartialEq, Eq, Debug, BorshSerialize, BorshDeserialize)]
pub struct ContractModule {
    /// Which engine runs the code.
    pub tag: ModuleTag,
    /// The code, in the engine's format (ELF, legacy bytecode, wasm), decompressed.
    pub code: Vec<u8>,
}

/// How a decoded envelope carried its code ([`ContractModule::decode_with_info`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EnvelopeForm {
    /// The code as is (high bit of the first byte clear).
    Plain,
    /// One zstd frame (high bit of the first byte set).
    Compressed {
        /// Length of the zstd frame in bytes; the envelope is 9 bytes longer.
        frame_len: usize,
    },
}

/// Why envelope bytes are not a deployable module. Each failure has its own variant.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope is larger than the configured cap.
    #[error("module envelope is {size} bytes, over the cap of {limit} bytes")]
    TooLarge {
        /// Size of the envelope.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The envelope ends before the length it declares.
    #[error("module envelope is truncated: {needed} bytes needed, {present} present")]
    Truncated {
        /// Bytes the header declares (header + code, or header + compressed bytes), or the
        /// header's own size when it is cut short.
        needed: u64,
        /// Bytes present.
        present: usize,
    },
    /// Bytes follow the code (or the compressed bytes).
    #[error("module envelope has {0} trailing bytes after the code")]
    TrailingBytes(usize),
    /// The tag is a number this build does not know.
    #[error("module envelope carries {0}; known tags are 0 (legacy), 1 (tbpf), 2 (wasm)")]
    UnknownTag(ModuleTag),
    /// The module has no code.
    #[error("module envelope carries no code")]
    EmptyCode,
    /// A compressed envelope declares a decompressed size over the cap. Refused before
    /// anything is decompressed or allocated.
    #[error(
        "compressed module envelope declares {declared} decompressed bytes, over the cap of \
         {limit} bytes"
    )]
    DeclaredSizeTooLarge {
        /// The declared decompressed size.
        declared: u32,
        /// The cap.
        limit: usize,
    },
    /// The zstd frame's header asks for a window over the limit for the declared size.
    /// Refused before the decoder allocates it.
    #[error(
        "compressed module's zstd frame asks for a {window}-byte window, over the limit of \
         {limit} bytes for its declared size"
    )]
    WindowTooLarge {
        /// The window the frame header asks for.
        window: u64,
        /// The largest window accepted for the declared size.
        limit: u64,
    },
    /// The zstd frame's header states a content size other than the declared size.
    #[error(
        "compressed module's zstd frame states {stated} decompressed bytes, the envelope \
         declares {declared}"
    )]
    ContentSizeMismatch {
        /// The content size in the frame header.
        stated: u64,
        /// The declared decompressed size.
        declared: u32,
    },
    /// The compressed code decompresses to more than it declares; decompression stopped
    /// there.
    #[error("compressed module decompresses to more than the declared {declared} bytes")]
    DecompressesToMore {
        /// The declared decompressed size.
        declared: u32,
    },
    /// The compressed code decompresses to less than it declares.
    #[error("compressed module decompresses to {actual} bytes, fewer than the declared {declared}")]
    DecompressesToLess {
        /// The declared decompressed size.
        declared: u32,
        /// What the frame decompressed to.
        actual: usize,
    },
    /// Bytes follow the zstd frame inside the compressed length.
    #[error("compressed module has {0} bytes after its zstd frame")]
    TrailingCompressedBytes(usize),
    /// The compressed bytes are not a valid zstd frame; the text is the decoder's.
    #[error("compressed module is not a valid zstd frame: {0}")]
    Zstd(String),
}

impl ContractModule {
    /// A module of `tag` with `code`.
    pub fn new(tag: ModuleTag, code: Vec<u8>) -> Self {
        ContractModule { tag, code }
    }

    /// The plain envelope: the borsh encoding (tag, u32 LE code length, code).
    ///
    /// Empty when the code is longer than `u32::MAX` bytes. A tag with the high bit set
    /// (never a real tag) reads back as a compressed envelope and is refused.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// The compressed envelope: `tag | 0x80`, the code length as a u32 LE declared size, the
    /// frame length as a u32 LE, then the code as one zstd frame (pure-Rust encoder, fastest
    /// level, with a content checksum).
    ///
    /// Empty, like [`encode`](Self::encode) of an oversize module, when the code or its frame
    /// is longer than `u32::MAX` bytes or when the tag has the high bit set (it could not be
    /// told from the compressed flag).
    pub fn encode_compressed(&self) -> Vec<u8> {
        let Ok(declared) = u32::try_from(self.code.len()) else {
            return Vec::new();
        };
        if self.tag.0 & COMPRESSED != 0 {
            return Vec::new();
        }
        let frame = compress_to_vec(self.code.as_slice(), CompressionLevel::Fastest);
        let Ok(frame_len) = u32::try_from(frame.len()) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(COMPRESSED_HEADER as usize + frame.len());
        out.push(self.tag.0 | COMPRESSED);
        out.extend_from_slice(&declared.to_le_bytes());
        out.extend_from_slice(&frame_len.to_le_bytes());
        out.extend_from_slice(&frame);
        out
    }

    /// Decodes a plain or compressed envelope, checking the cap before anything is allocated.
    ///
    /// `max_size` caps the envelope's length and, for a compressed envelope, its declared
    /// decompressed size; see [`ContractModule`] for the format and the limits.
    ///
    /// # Errors
    /// A distinct [`EnvelopeError`] for an oversize, truncated, trailing, unknown-tag or empty
    /// envelope, and for each way a compressed one can fail.
    pub fn decode(bytes: &[u8], max_size: usize) -> Result<ContractModule, EnvelopeError> {
        Self::decode_with_info(bytes, max_size).map(|(module, _)| module)
    }

    /// [`decode`](Self::decode), also telling how the envelope carried the code.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_with_info(
        bytes: &[u8],
        max_size: usize,
    ) -> Result<(ContractModule, EnvelopeForm), EnvelopeError> {
        if bytes.len() > max_size {
            return Err(EnvelopeError::TooLarge {
                size: bytes.len(),
                limit: max_size,
            });
        }
        match bytes.first() {
            Some(first) if first & COMPRESSED != 0 => decode_compressed(bytes, max_size),
            _ => decode_plain(bytes).map(|module| (module, EnvelopeForm::Plain)),
        }
    }

    /// blake3 of the code: the module's code hash.
    pub fn code_hash(&self) -> Hash {
        *blake3::hash(&self.code).as_bytes()
    }
}

/// Decodes a plain envelope (high bit of the first byte clear); the cap is already checked.
fn decode_plain(bytes: &[u8]) -> Result<ContractModule, EnvelopeError> {
    let Some((&tag, rest)) = bytes.split_first() else {
        return Err(EnvelopeError::Truncated {
            needed: PLAIN_HEADER,
            present: 0,
        });
    };
    let Some((len, code)) = rest.split_first_chunk::<4>() else {
        return Err(EnvelopeError::Truncated {
            needed: PLAIN_HEADER,
            present: bytes.len(),
        });
    };
    let len = u64::from(u32::from_le_bytes(*len));
    let present = code.len() as u64;
    if present < len {
        return Err(EnvelopeError::Truncated {
            needed: len + PLAIN_HEADER,
            present: bytes.len(),
        });
    }
    if present > len {
        return Err(EnvelopeError::TrailingBytes((present - len) as usize));
    }
    let tag = ModuleTag(tag);
    if !tag.is_known() {
        return Err(EnvelopeError::UnknownTag(tag));
    }
    if code.is_empty() {
        return Err(EnvelopeError::EmptyCode);
    }
    Ok(ContractModule {
        tag,
        code: code.to_vec(),
    })
}

/// Decodes a compressed envelope (high bit of the first byte set); the envelope's length is
/// already checked against `max_size`.
fn decode_compressed(
    bytes: &[u8],
    max_size: usize,
) -> Result<(ContractModule, EnvelopeForm), EnvelopeError> {
    let truncated_header = || EnvelopeError::Truncated {
        needed: COMPRESSED_HEADER,
        present: bytes.len(),
    };
    let (&first, rest) = bytes.split_first().ok_or_else(truncated_header)?;
    let (declared, rest) = rest.split_first_chunk::<4>().ok_or_else(truncated_header)?;
    let (frame_len, frame) = rest.split_first_chunk::<4>().ok_or_else(truncated_header)?;
    let declared = u32::from_le_bytes(*declared);
    let frame_len = u64::from(u32::from_le_bytes(*frame_len));
    let present = frame.len() as u64;
    if present < frame_len {
        return Err(EnvelopeError::Truncated {
            needed: frame_len + COMPRESSED_HEADER,
            present: bytes.len(),
        });
    }
    if present > frame_len {
        return Err(EnvelopeError::TrailingBytes((present - frame_len) as usize));
    }
    let tag = ModuleTag(first & !COMPRESSED);
    if !tag.is_known() {
        return Err(EnvelopeError::UnknownTag(tag));
    }
    let declared_len = match usize::try_from(declared) {
        Ok(len) if len <= max_size => len,
        _ => {
            return Err(EnvelopeError::DeclaredSizeTooLarge {
                declared,
                limit: max_size,
            });
        }
    };
    if declared == 0 {
        return Err(EnvelopeError::EmptyCode);
    }
    let code = decompress(frame, declared, declared_len)?;
    let form = EnvelopeForm::Compressed {
        frame_len: frame.len(),
    };
    Ok((ContractModule { tag, code }, form))
}

/// The largest zstd window accepted for `declared` decompressed bytes: the declared size or
/// [`MIN_WINDOW_LIMIT`], whichever is larger, rounded up to a power of two.
fn window_limit(declared: u32) -> u64 {
    u64::from(declared)
        .max(MIN_WINDOW_LIMIT)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
}

/// Decompresses `frame`, which must be exactly one zstd frame of exactly `declared` bytes
/// (`declared_len` as a `usize`), in bounded time and memory.
fn decompress(frame: &[u8], declared: u32, declared_len: usize) -> Result<Vec<u8>, EnvelopeError> {
    let zstd = |e: &dyn std::fmt::Display| EnvelopeError::Zstd(e.to_string());
    let window_limit = window_limit(declared);
    let mut decoder = FrameDecoder::new();
    decoder.set_max_window_size(window_limit);
    let mut source = frame;
    // Reads the frame header only; a window over the limit is refused before the decoder
    // allocates anything for it.
    decoder.init(&mut source).map_err(|e| match e {
        FrameDecoderError::WindowSizeTooBig { requested, .. } => EnvelopeError::WindowTooLarge {
            window: requested,
            limit: window_limit,
        },
        FrameDecoderError::FrameHeaderError(FrameHeaderError::WindowTooBig { got }) => {
            EnvelopeError::WindowTooLarge {
                window: got,
                limit: window_limit,
            }
        }
        other => zstd(&other),
    })?;
    // Zero when the header states no content size.
    let stated = decoder.content_size();
    if stated != 0 && stated != u64::from(declared) {
        return Err(EnvelopeError::ContentSizeMismatch { stated, declared });
    }
    let mut code = Vec::new();
    loop {
        if !decoder.is_finished() {
            // One block: at most 128 KiB (and at most the window) of output. Every block
            // consumes at least its 3-byte header, so the loop ends with the input.
            decoder
                .decode_blocks(&mut source, BlockDecodingStrategy::UptoBlocks(1))
                .map_err(|e| zstd(&e))?;
        }
        // What the decoder can hand out: all it holds once finished, else what lies beyond
        // the window it keeps.
        let ready = decoder.can_collect();
        if ready == 0 {
            if decoder.is_finished() {
                break;
            }
            continue;
        }
        let start = code.len();
        let end = start
            .checked_add(ready)
            .filter(|&end| end <= declared_len)
            .ok_or(EnvelopeError::DecompressesToMore { declared })?;
        reserve_capped(&mut code, end, declared_len);
        code.resize(end, 0);
        let read = decoder
            .read(code.get_mut(start..).unwrap_or_default())
            .map_err(|e| zstd(&e))?;
        code.truncate(start + read);
        if read == 0 {
            return Err(EnvelopeError::Zstd(
                "the decoder reports output it does not hand out".into(),
            ));
        }
    }
    if !source.is_empty() {
        return Err(EnvelopeError::TrailingCompressedBytes(source.len()));
    }
    if code.len() < declared_len {
        return Err(EnvelopeError::DecompressesToLess {
            declared,
            actual: code.len(),
        });
    }
    if let Some(expected) = decoder.get_checksum_from_data() {
        let actual = decoder.get_calculated_checksum();
        if actual != Some(expected) {
            return Err(EnvelopeError::Zstd(format!(
                "content checksum {expected:08x} does not match the content ({})",
                actual.map_or_else(|| "not computed".to_string(), |a| format!("{a:08x}"))
            )));
        }
    }
    Ok(code)
}

/// Makes room for `needed` bytes in `code`, growing its capacity geometrically but never past
/// `cap` (`needed <= cap`).
fn reserve_capped(code: &mut Vec<u8>, needed: usize, cap: usize) {
    if needed > code.capacity() {
        let target = needed.max(code.capacity().saturating_mul(2)).min(cap);
        code.reserve_exact(target.saturating_sub(code.len()));
    }
}

/// The address of a contract: `blake3("tos/contract/v1" ‖ deployer ‖ tag ‖ code hash)`.
///
/// The same deployer deploying the same code under the same tag gets the same address, so
/// a second deploy is refused as a duplicate.
pub fn contract_address(deployer: &Hash, tag: ModuleTag, code_hash: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tos/contract/v1");
    h.update(deployer);
    h.update(&[tag.0]);
    h.update(code_hash);
    *h.finalize().as_bytes()
}

/// The id of an asset: `blake3("tos/asset/v1" ‖ creator ‖ name)`.
pub fn asset_id(creator: &Hash, name: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tos/asset/v1");
    h.update(creator);
    h.update(name);
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const TOKEN: &[u8] = include_bytes!("../../sdk/examples/build/token.so");

    /// A compressed envelope with first byte `first`, declared size `declared` and `frame`
    /// as its compressed bytes.
    fn compressed(first: u8, declared: u32, frame: &[u8]) -> Vec<u8> {
        let frame_len = u32::try_from(frame.len()).unwrap();
        [
            &[first][..],
            &declared.to_le_bytes(),
            &frame_len.to_le_bytes(),
            frame,
        ]
        .concat()
    }

    /// The zstd frame inside a compressed envelope.
    fn frame_of(envelope: &[u8]) -> &[u8] {
        &envelope[COMPRESSED_HEADER as usize..]
    }

    const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

    /// A frame header with no content size, checksum or dictionary, and the window of
    /// `window_descriptor` (`log2(window) = 10 + (descriptor >> 3)`, plus eighths in the
    /// low three bits).
    fn frame_header(window_descriptor: u8) -> Vec<u8> {
        [&ZSTD_MAGIC[..], &[0x00, window_descriptor]].concat()
    }

    /// A single-segment frame header stating a content size (and so a window) of
    /// `content_size` bytes.
    fn single_segment_header(content_size: u8) -> Vec<u8> {
        [&ZSTD_MAGIC[..], &[0x20, content_size]].concat()
    }

    /// A block header: `last`, type (0 raw, 1 RLE, 2 compressed, 3 reserved), size.
    fn block_header(last: bool, kind: u32, size: u32) -> [u8; 3] {
        let h = (size << 3) | (kind << 1) | u32::from(last);
        let [a, b, c, _] = h.to_le_bytes();
        [a, b, c]
    }

    /// An RLE block: `count` copies of `byte`.
    fn rle_block(byte: u8, count: u32, last: bool) -> Vec<u8> {
        [&block_header(last, 1, count)[..], &[byte]].concat()
    }

    /// A raw block holding `data`.
    fn raw_block(data: &[u8], last: bool) -> Vec<u8> {
        let size = u32::try_from(data.len()).unwrap();
        [&block_header(last, 0, size)[..], data].concat()
    }

    /// A frame of `total` zero bytes as RLE blocks of 128 KiB: about 32,000 : 1.
    fn rle_zeros(window_descriptor: u8, total: usize) -> Vec<u8> {
        const BLOCK: usize = 128 * 1024;
        let mut frame = frame_header(window_descriptor);
        let mut left = total;
        while left > 0 {
            let n = left.min(BLOCK);
            left -= n;
            frame.extend(rle_block(0, n as u32, left == 0));
        }
        frame
    }

    /// Window descriptor of a 128 KiB window (the pure-Rust encoder's).
    const WINDOW_128K: u8 = 7 << 3;

    /// A tiny deterministic PRNG (xorshift64) for the mutation loops.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Counts the bytes allocated on each thread, so a test can bound what one decode had
    /// live at once.
    mod probe {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        thread_local! {
            static LIVE: Cell<usize> = const { Cell::new(0) };
            static PEAK: Cell<usize> = const { Cell::new(0) };
        }

        fn grew(bytes: usize) {
            let _ = LIVE.try_with(|live| {
                let now = live.get().saturating_add(bytes);
                live.set(now);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
            });
        }

        fn shrank(bytes: usize) {
            let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
        }

        /// The system allocator, counting per thread.
        pub(super) struct Counting;

        // SAFETY: every method forwards to `System` with the caller's arguments unchanged;
        // the counters only observe sizes and never allocate.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                // SAFETY: the caller meets `GlobalAlloc::alloc`'s contract for `layout`.
                let ptr = unsafe { System.alloc(layout) };
                if !ptr.is_null() {
                    grew(layout.size());
                }
                ptr
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                // SAFETY: as for `alloc`.
                let ptr = unsafe { System.alloc_zeroed(layout) };
                if !ptr.is_null() {
                    grew(layout.size());
                }
                ptr
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                shrank(layout.size());
                // SAFETY: `ptr` was allocated by `System` (through this allocator) with
                // `layout`, as the caller guarantees.
                unsafe { System.dealloc(ptr, layout) }
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                // SAFETY: the caller meets `GlobalAlloc::realloc`'s contract, and `ptr` came
                // from `System` through this allocator.
                let new = unsafe { System.realloc(ptr, layout, new_size) };
                if !new.is_null() {
                    shrank(layout.size());
                    grew(new_size);
                }
                new
            }
        }

        /// Runs `f` and returns its result with the most bytes it had allocated at once on
        /// this thread.
        pub(super) fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
            let base = LIVE.with(Cell::get);
            PEAK.with(|peak| peak.set(base));
            let out = f();
            (out, PEAK.with(Cell::get).saturating_sub(base))
        }
    }

    #[global_allocator]
    static ALLOCATOR: probe::Counting = probe::Counting;

    /// Decodes under the default cap, returning the result, the peak allocation and the
    /// time taken.
    fn measured(bytes: &[u8]) -> (Result<ContractModule, EnvelopeError>, usize, Duration) {
        let start = Instant::now();
        let (result, peak) =
            probe::peak_of(|| ContractModule::decode(bytes, DEFAULT_MAX_MODULE_SIZE));
        (result, peak, start.elapsed())
    }

    #[test]
    fn encoding_is_tag_then_borsh_bytes() {
        let m = ContractModule::new(ModuleTag::TBPF, vec![0xAA, 0xBB]);
        assert_eq!(m.encode(), vec![1, 2, 0, 0, 0, 0xAA, 0xBB]);
        assert_eq!(ContractModule::decode(&m.encode(), 100), Ok(m));
    }

    #[test]
    fn every_envelope_error_is_distinct() {
        let ok = ContractModule::new(ModuleTag::WASM, vec![1, 2, 3]).encode();
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec()).encode_compressed();
        let declared = TOKEN.len() as u32;
        let max = DEFAULT_MAX_MODULE_SIZE;
        let errors = [
            ContractModule::decode(&ok, ok.len() - 1).unwrap_err(),
            ContractModule::decode(&ok[..6], 100).unwrap_err(),
            ContractModule::decode(&ok[..3], 100).unwrap_err(),
            ContractModule::decode(&[ok.clone(), vec![0]].concat(), 100).unwrap_err(),
            ContractModule::decode(&[9, 1, 0, 0, 0, 1], 100).unwrap_err(),
            ContractModule::decode(&[0, 0, 0, 0, 0], 100).unwrap_err(),
            ContractModule::decode(&compressed(0x82, 101, b"junk"), 100).unwrap_err(),
            ContractModule::decode(&compressed(0x81, 1000, &frame_header(0xF8)), max).unwrap_err(),
            ContractModule::decode(&compressed(0x81, 1000, &single_segment_header(10)), max)
                .unwrap_err(),
            ContractModule::decode(
                &compressed(0x81, 1000, &rle_zeros(WINDOW_128K, 1 << 20)),
                max,
            )
            .unwrap_err(),
            ContractModule::decode(&compressed(0x81, declared + 1, frame_of(&token)), max)
                .unwrap_err(),
            ContractModule::decode(
                &compressed(0x81, declared, &[frame_of(&token), &[0]].concat()),
                max,
            )
            .unwrap_err(),
            ContractModule::decode(&compressed(0x81, 3, b"not zstd"), max).unwrap_err(),
        ];
        assert_eq!(errors[0], EnvelopeError::TooLarge { size: 8, limit: 7 });
        assert_eq!(
            errors[1],
            EnvelopeError::Truncated {
                needed: 8,
                present: 6
            }
        );
        assert_eq!(
            errors[2],
            EnvelopeError::Truncated {
                needed: 5,
                present: 3
            }
        );
        assert_eq!(errors[3], EnvelopeError::TrailingBytes(1));
        assert_eq!(errors[4], EnvelopeError::UnknownTag(ModuleTag(9)));
        assert_eq!(errors[5], EnvelopeError::EmptyCode);
        assert_eq!(
            errors[6],
            EnvelopeError::DeclaredSizeTooLarge {
                declared: 101,
                limit: 100
            }
        );
        assert_eq!(
            errors[7],
            EnvelopeError::WindowTooLarge {
                window: 1 << 41,
                limit: 128 * 1024
            }
        );
        assert_eq!(
            errors[8],
            EnvelopeError::ContentSizeMismatch {
                stated: 10,
                declared: 1000
            }
        );
        assert_eq!(
            errors[9],
            EnvelopeError::DecompressesToMore { declared: 1000 }
        );
        assert_eq!(
            errors[10],
            EnvelopeError::DecompressesToLess {
                declared: declared + 1,
                actual: TOKEN.len()
            }
        );
        assert_eq!(errors[11], EnvelopeError::TrailingCompressedBytes(1));
        assert!(
            matches!(errors[12], EnvelopeError::Zstd(_)),
            "{:?}",
            errors[12]
        );
        let texts: std::collections::BTreeSet<String> =
            errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(texts.len(), errors.len());
        assert!(errors[4].to_string().contains("unknown tag 9"));
        assert!(errors[6].to_string().contains("101") && errors[6].to_string().contains("100"));
        assert!(
            errors[9]
                .to_string()
                .contains("decompresses to more than the declared 1000 bytes")
        );
    }

    #[test]
    fn a_huge_declared_length_is_truncation_not_allocation() {
        let e = ContractModule::decode(&[1, 0xff, 0xff, 0xff, 0xff, 0], 100).unwrap_err();
        assert_eq!(
            e,
            EnvelopeError::Truncated {
                needed: 0xffff_ffff + 5,
                present: 6
            }
        );
    }

    #[test]
    fn module_tags_leave_the_compressed_bit_free() {
        for tag in ModuleTag::KNOWN {
            assert_eq!(tag.0 & COMPRESSED, 0, "{tag}");
        }
        let high = ContractModule::new(ModuleTag(0x81), vec![1]);
        assert!(high.encode_compressed().is_empty());
    }

    #[test]
    fn compressed_and_plain_give_the_same_module() {
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec());
        let plain = token.encode();
        let packed = token.encode_compressed();
        assert_eq!(packed[0], 0x81);
        assert_eq!(packed[1..5], (TOKEN.len() as u32).to_le_bytes());
        assert_eq!(
            packed[5..9],
            ((packed.len() - 9) as u32).to_le_bytes(),
            "frame length"
        );
        assert!(
            packed.len() < plain.len(),
            "{} vs {}",
            packed.len(),
            plain.len()
        );

        let (from_plain, plain_form) =
            ContractModule::decode_with_info(&plain, DEFAULT_MAX_MODULE_SIZE).unwrap();
        let (from_packed, packed_form) =
            ContractModule::decode_with_info(&packed, DEFAULT_MAX_MODULE_SIZE).unwrap();
        assert_eq!(from_plain, token);
        assert_eq!(from_packed, token);
        assert_eq!(from_packed.code_hash(), from_plain.code_hash());
        assert_eq!(
            contract_address(&[7; 32], from_packed.tag, &from_packed.code_hash()),
            contract_address(&[7; 32], from_plain.tag, &from_plain.code_hash())
        );
        assert_eq!(plain_form, EnvelopeForm::Plain);
        assert_eq!(
            packed_form,
            EnvelopeForm::Compressed {
                frame_len: packed.len() - 9
            }
        );

        // Every example module, and codes of awkward sizes, round trip under every tag.
        let examples: [&[u8]; 6] = [
            include_bytes!("../../sdk/examples/build/counter.so"),
            include_bytes!("../../sdk/examples/build/counter.wasm"),
            include_bytes!("../../sdk/examples/build/hello.so"),
            include_bytes!("../../sdk/examples/build/hello.wasm"),
            include_bytes!("../../sdk/examples/build/compute.so"),
            include_bytes!("../../sdk/examples/build/token.wasm"),
        ];
        let sizes = [1, 2, 127 * 1024, 128 * 1024, 128 * 1024 + 1, 300_000];
        let codes = examples.iter().map(|c| c.to_vec()).chain(
            sizes
                .iter()
                .map(|&n| (0..n).map(|i| (i * 7 % 251) as u8).collect()),
        );
        for (i, code) in codes.enumerate() {
            let tag = ModuleTag::KNOWN[i % ModuleTag::KNOWN.len()];
            let m = ContractModule::new(tag, code);
            assert_eq!(
                ContractModule::decode(&m.encode_compressed(), DEFAULT_MAX_MODULE_SIZE),
                Ok(m)
            );
        }
    }

    #[test]
    fn compressed_empty_code_and_unknown_tags_are_refused_as_plain_ones_are() {
        let empty = ContractModule::new(ModuleTag::WASM, vec![]).encode_compressed();
        assert_eq!(empty[0], 0x82);
        assert_eq!(
            ContractModule::decode(&empty, 100),
            Err(EnvelopeError::EmptyCode)
        );
        // Declared empty: refused without looking at the frame.
        assert_eq!(
            ContractModule::decode(&compressed(0x80, 0, b"junk"), 100),
            Err(EnvelopeError::EmptyCode)
        );
        let mut unknown = ContractModule::new(ModuleTag::TBPF, vec![1]).encode_compressed();
        unknown[0] = 0x80 | 9;
        assert_eq!(
            ContractModule::decode(&unknown, 100),
            Err(EnvelopeError::UnknownTag(ModuleTag(9)))
        );
        unknown[0] = 0xff;
        assert_eq!(
            ContractModule::decode(&unknown, 100),
            Err(EnvelopeError::UnknownTag(ModuleTag(0x7f)))
        );
    }

    #[test]
    fn a_declared_size_over_the_cap_is_refused_without_decompressing() {
        // The frame is a bomb that no decoder could read quickly; it is never looked at.
        let bomb = rle_zeros(WINDOW_128K, 64 << 20);
        let cap = bomb.len() + 9;
        for declared in [cap as u32 + 1, u32::MAX] {
            let envelope = compressed(0x81, declared, &bomb);
            let (result, peak) = probe::peak_of(|| ContractModule::decode(&envelope, cap));
            assert_eq!(
                result,
                Err(EnvelopeError::DeclaredSizeTooLarge {
                    declared,
                    limit: cap
                })
            );
            assert_eq!(peak, 0, "nothing allocated");
        }
        // At the cap exactly it is decompressed (and here refused as a bomb).
        let at_cap = compressed(0x81, DEFAULT_MAX_MODULE_SIZE as u32, &bomb);
        assert_eq!(
            ContractModule::decode(&at_cap, DEFAULT_MAX_MODULE_SIZE),
            Err(EnvelopeError::DecompressesToMore {
                declared: DEFAULT_MAX_MODULE_SIZE as u32
            })
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_quickly_in_little_memory() {
        const BOMB: usize = 64 << 20;
        // 64 MiB of zeros from the real encoder, and as 128 KiB RLE blocks (2 KiB).
        let zeros = vec![0u8; BOMB];
        let encoded = ContractModule::new(ModuleTag::TBPF, zeros).encode_compressed();
        let frames = [frame_of(&encoded).to_vec(), rle_zeros(WINDOW_128K, BOMB)];
        drop(encoded);
        for frame in &frames {
            assert!(frame.len() < 64 * 1024, "{} bytes", frame.len());
            for declared in [1000, 4096, DEFAULT_MAX_MODULE_SIZE as u32] {
                let envelope = compressed(0x81, declared, frame);
                let (result, peak, took) = measured(&envelope);
                assert_eq!(result, Err(EnvelopeError::DecompressesToMore { declared }));
                // Loose sanity bounds, not a benchmark: the output buffer (at most the
                // declared size) plus the decoder's window and block.
                assert!(took < Duration::from_secs(2), "took {took:?}");
                assert!(
                    peak < declared as usize + (1 << 20),
                    "peak {peak} bytes for declared {declared}"
                );
            }
        }
    }

    #[test]
    fn a_frame_asking_for_a_huge_window_is_refused_before_allocating_it() {
        // 64 MiB (under the decoder's own 128 MiB default), 2 TiB, and past zstd's maximum.
        for (descriptor, window) in [
            (16 << 3, 64u64 << 20),
            (31 << 3, 1 << 41),
            (0xFF, (1 << 41) + 7 * (1 << 38)),
        ] {
            let mut frame = frame_header(descriptor);
            frame.extend(rle_block(0, 128 * 1024, false));
            frame.extend(rle_block(0, 128 * 1024, true));
            let envelope = compressed(0x81, 1000, &frame);
            let (result, peak, took) = measured(&envelope);
            assert_eq!(
                result,
                Err(EnvelopeError::WindowTooLarge {
                    window,
                    limit: 128 * 1024
                })
            );
            assert!(peak < 64 * 1024, "peak {peak} bytes");
            assert!(took < Duration::from_secs(2), "took {took:?}");
        }
        // The limit is the declared size (at least 128 KiB) rounded up to a power of two:
        // for 200 KiB, a 256 KiB window is fine and 288 KiB is not.
        let declared = 200 * 1024;
        let body = [
            rle_block(1, 128 * 1024, false),
            rle_block(2, declared - 128 * 1024, true),
        ]
        .concat();
        let fits = compressed(
            0x81,
            declared,
            &[frame_header(8 << 3), body.clone()].concat(),
        );
        let module = ContractModule::decode(&fits, DEFAULT_MAX_MODULE_SIZE).unwrap();
        assert_eq!(module.code.len(), declared as usize);
        let over = compressed(0x81, declared, &[frame_header((8 << 3) | 1), body].concat());
        assert_eq!(
            ContractModule::decode(&over, DEFAULT_MAX_MODULE_SIZE),
            Err(EnvelopeError::WindowTooLarge {
                window: 256 * 1024 + 32 * 1024,
                limit: 256 * 1024
            })
        );
    }

    #[test]
    fn the_frame_content_size_must_be_the_declared_size() {
        let frame = [single_segment_header(5), raw_block(b"hello", true)].concat();
        assert_eq!(
            ContractModule::decode(&compressed(0x82, 5, &frame), 100),
            Ok(ContractModule::new(ModuleTag::WASM, b"hello".to_vec()))
        );
        assert_eq!(
            ContractModule::decode(&compressed(0x82, 6, &frame), 100),
            Err(EnvelopeError::ContentSizeMismatch {
                stated: 5,
                declared: 6
            })
        );
        // A header stating 1 byte (so a 1-byte window) over 5 bytes of content: refused by
        // the content size, and never a panic with a tiny or empty window.
        for stated in [0, 1] {
            let lying = [single_segment_header(stated), raw_block(b"hello", true)].concat();
            assert!(ContractModule::decode(&compressed(0x82, 5, &lying), 100).is_err());
            assert!(ContractModule::decode(&compressed(0x82, 1, &lying), 100).is_err());
        }
    }

    #[test]
    fn declaring_more_than_the_frame_holds_is_refused() {
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec()).encode_compressed();
        let frame = frame_of(&token);
        let declared = TOKEN.len() as u32;
        for more in [1, 1000, 100_000] {
            assert_eq!(
                ContractModule::decode(
                    &compressed(0x81, declared + more, frame),
                    DEFAULT_MAX_MODULE_SIZE
                ),
                Err(EnvelopeError::DecompressesToLess {
                    declared: declared + more,
                    actual: TOKEN.len()
                })
            );
        }
        assert_eq!(
            ContractModule::decode(
                &compressed(0x81, declared - 1, frame),
                DEFAULT_MAX_MODULE_SIZE
            ),
            Err(EnvelopeError::DecompressesToMore {
                declared: declared - 1
            })
        );
    }

    #[test]
    fn bytes_after_the_frame_are_refused() {
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec()).encode_compressed();
        let max = DEFAULT_MAX_MODULE_SIZE;
        // After the compressed length: trailing envelope bytes.
        for extra in [1, 2, 100] {
            let envelope = [token.clone(), vec![0; extra]].concat();
            assert_eq!(
                ContractModule::decode(&envelope, max),
                Err(EnvelopeError::TrailingBytes(extra))
            );
        }
        // Inside the compressed length: junk, or a second frame.
        let declared = TOKEN.len() as u32;
        let frame = frame_of(&token);
        let junk = compressed(0x81, declared, &[frame, &[0; 3]].concat());
        assert_eq!(
            ContractModule::decode(&junk, max),
            Err(EnvelopeError::TrailingCompressedBytes(3))
        );
        let twice = compressed(0x81, declared, &[frame, frame].concat());
        assert_eq!(
            ContractModule::decode(&twice, max),
            Err(EnvelopeError::TrailingCompressedBytes(frame.len()))
        );
        let twice_declared = compressed(0x81, 2 * declared, &[frame, frame].concat());
        assert_eq!(
            ContractModule::decode(&twice_declared, max),
            Err(EnvelopeError::TrailingCompressedBytes(frame.len()))
        );
    }

    #[test]
    fn truncation_at_every_length_is_refused() {
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec()).encode_compressed();
        let max = DEFAULT_MAX_MODULE_SIZE;
        assert_eq!(
            ContractModule::decode(&[], max),
            Err(EnvelopeError::Truncated {
                needed: 5,
                present: 0
            })
        );
        for cut in 1..token.len() {
            let needed = if cut < 9 { 9 } else { token.len() as u64 };
            assert_eq!(
                ContractModule::decode(&token[..cut], max),
                Err(EnvelopeError::Truncated {
                    needed,
                    present: cut
                }),
                "cut at {cut}"
            );
        }
        // A frame cut short with the lengths fixed to match: a zstd error, never a panic.
        let frame = frame_of(&token);
        for cut in 0..frame.len() {
            let envelope = compressed(0x81, TOKEN.len() as u32, &frame[..cut]);
            match ContractModule::decode(&envelope, max) {
                Err(EnvelopeError::Zstd(_) | EnvelopeError::DecompressesToLess { .. }) => {}
                other => panic!("frame cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_compressed_bytes_are_zstd_errors() {
        let max = DEFAULT_MAX_MODULE_SIZE;
        let reserved_block =
            [frame_header(WINDOW_128K), block_header(true, 3, 1).to_vec()].concat();
        let bad_block_size = [
            frame_header(WINDOW_128K),
            block_header(true, 1, 200_000).to_vec(),
            vec![0],
        ]
        .concat();
        let skippable = [&0x184D_2A50u32.to_le_bytes()[..], &[0, 0, 0, 0]].concat();
        let with_dictionary = [&ZSTD_MAGIC[..], &[0x01, WINDOW_128K, 7]].concat();
        let garbage: [&[u8]; 8] = [
            b"",
            b"not zstd at all",
            &ZSTD_MAGIC,
            &frame_header(WINDOW_128K),
            &reserved_block,
            &bad_block_size,
            &skippable,
            &with_dictionary,
        ];
        for frame in garbage {
            match ContractModule::decode(&compressed(0x81, 10, frame), max) {
                Err(EnvelopeError::Zstd(text)) => assert!(!text.is_empty()),
                other => panic!("{frame:02x?}: {other:?}"),
            }
        }
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..500 {
            let len = rng.below(300);
            let mut frame: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 {
                frame.splice(0..0, frame_header(rng.next() as u8));
            }
            let declared = 1 + rng.below(4096) as u32;
            assert!(ContractModule::decode(&compressed(0x81, declared, &frame), max).is_err());
        }
        // A wrong content checksum.
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec()).encode_compressed();
        let mut bad_sum = token.clone();
        *bad_sum.last_mut().unwrap() ^= 1;
        match ContractModule::decode(&bad_sum, max) {
            Err(EnvelopeError::Zstd(text)) => assert!(text.contains("checksum"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn random_byte_flips_never_panic() {
        let token = ContractModule::new(ModuleTag::TBPF, TOKEN.to_vec());
        let envelope = token.encode_compressed();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let (mut refused, mut decoded) = (0, 0);
        for _ in 0..3000 {
            let mut bytes = envelope.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            match ContractModule::decode(&bytes, DEFAULT_MAX_MODULE_SIZE) {
                Ok(m) => {
                    decoded += 1;
                    assert!(!m.code.is_empty() && m.code.len() <= DEFAULT_MAX_MODULE_SIZE);
                }
                Err(_) => refused += 1,
            }
        }
        assert_eq!(refused + decoded, 3000);
        assert!(refused > 2000, "{refused} refused, {decoded} decoded");
    }
}
