use std::fmt;

/// The kind of a guest memory access.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Access {
    /// Reading guest memory.
    Read,
    /// Writing guest memory.
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// A guest memory access outside what the guest may touch: out of bounds, or a write to
/// read-only memory. Becomes [`Trap::MemoryAccess`](crate::Trap::MemoryAccess).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
#[error("{access} of {len} bytes at guest address {addr:#x} is not allowed")]
pub struct MemoryError {
    /// Guest address of the access.
    pub addr: u64,
    /// Length of the access in bytes.
    pub len: u64,
    /// Read or write.
    pub access: Access,
}

/// A contract's memory as syscall bodies see it: bounds-checked, and read-only where the
/// engine says so (the program and the input are never writable).
///
/// Every engine treats a zero-length access the same way: it touches no byte, so it succeeds
/// at any address (docs/ABI.md).
///
/// Each engine implements it over its own memory (rbpf's memory mapping, a wasm linear
/// memory, the legacy VM's scratch buffer), so a syscall body is written once.
pub trait GuestMemory {
    /// Copies `buf.len()` bytes at guest address `addr` into `buf`.
    ///
    /// # Errors
    /// [`MemoryError`] when any byte of the range is not readable; `buf` is then unspecified.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError>;

    /// Copies `data` to guest address `addr`.
    ///
    /// # Errors
    /// [`MemoryError`] when any byte of the range is not writable; nothing is written then.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryError>;

    /// Reads `len` bytes into a new vector. Callers bound `len` (and charge gas for it)
    /// before calling, since the vector is allocated first.
    ///
    /// # Errors
    /// As [`GuestMemory::read`]; also when `len` does not fit in `usize`.
    fn read_vec(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemoryError> {
        let n = usize::try_from(len).map_err(|_| MemoryError {
            addr,
            len,
            access: Access::Read,
        })?;
        let mut buf = vec![0; n];
        self.read(addr, &mut buf)?;
        Ok(buf)
    }

    /// Reads a 32-byte value (a hash, an address, an asset id).
    ///
    /// # Errors
    /// As [`GuestMemory::read`].
    fn read_hash(&self, addr: u64) -> Result<[u8; 32], MemoryError> {
        let mut h = [0; 32];
        self.read(addr, &mut h)?;
        Ok(h)
    }
}

/// A [`GuestMemory`] over one byte slice mapped at a base address, writable or not. Engines
/// with one linear memory (wasm, the legacy scratch buffer) and tests use it directly.
#[derive(Debug)]
pub struct SliceMemory<'a> {
    base: u64,
    bytes: &'a mut [u8],
    writable: bool,
}

impl<'a> SliceMemory<'a> {
    /// Maps `bytes` at guest address `base`.
    pub fn new(base: u64, bytes: &'a mut [u8], writable: bool) -> Self {
        SliceMemory {
            base,
            bytes,
            writable,
        }
    }

    fn range(
        &self,
        addr: u64,
        len: usize,
        access: Access,
    ) -> Result<std::ops::Range<usize>, MemoryError> {
        if len == 0 {
            // A zero-length range touches no byte: valid at any address (docs/ABI.md).
            return Ok(0..0);
        }
        let err = MemoryError {
            addr,
            len: len as u64,
            access,
        };
        let start = addr.checked_sub(self.base).ok_or(err)?;
        let start = usize::try_from(start).map_err(|_| err)?;
        let end = start.checked_add(len).ok_or(err)?;
        if end > self.bytes.len() {
            return Err(err);
        }
        Ok(start..end)
    }
}

impl GuestMemory for SliceMemory<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let r = self.range(addr, buf.len(), Access::Read)?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemoryError> {
        let r = self.range(addr, data.len(), Access::Write)?;
        if !self.writable && !data.is_empty() {
            return Err(MemoryError {
                addr,
                len: data.len() as u64,
                access: Access::Write,
            });
        }
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_memory_checks_bounds_overflow_and_writability() {
        let mut backing = [1u8, 2, 3, 4];
        let mut m = SliceMemory::new(0x1000, &mut backing, true);
        let mut b = [0; 2];
        m.read(0x1002, &mut b).unwrap();
        assert_eq!(b, [3, 4]);
        assert!(m.read(0x1003, &mut b).is_err());
        assert!(m.read(0xfff, &mut b).is_err());
        assert!(m.read(u64::MAX, &mut b).is_err());
        m.read(u64::MAX, &mut [])
            .expect("zero-length reads touch nothing");
        m.write(0x1000, &[9]).unwrap();
        let mut ro_backing = [0u8; 4];
        let mut ro = SliceMemory::new(0, &mut ro_backing, false);
        assert_eq!(
            ro.write(0, &[1]),
            Err(MemoryError {
                addr: 0,
                len: 1,
                access: Access::Write
            })
        );
    }
}
