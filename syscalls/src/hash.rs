/// MurmurHash3, x86 32-bit variant, as a `const fn` so syscall ids are computed at compile
/// time. With seed 0 it is the hash sBPF (solana-rbpf) uses for symbol names.
pub const fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    const fn scramble(k: u32) -> u32 {
        k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }
    let len = data.len();
    let mut h = seed;
    let mut i = 0;
    while i + 4 <= len {
        let k = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        h ^= scramble(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
        i += 4;
    }
    let rest = len - i;
    if rest > 0 {
        let mut k = 0u32;
        if rest == 3 {
            k |= (data[i + 2] as u32) << 16;
        }
        if rest >= 2 {
            k |= (data[i + 1] as u32) << 8;
        }
        k |= data[i] as u32;
        h ^= scramble(k);
    }
    // Only the low 32 bits of the length enter the hash, as in the reference algorithm.
    h ^= len as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::murmur3_32;

    #[test]
    fn matches_the_hash_solana_rbpf_uses_for_symbols() {
        for name in [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "tos_log",
            "sol_log_",
            "entrypoint",
            "tos_storage_store",
        ] {
            assert_eq!(
                murmur3_32(name.as_bytes(), 0),
                solana_rbpf::ebpf::hash_symbol_name(name.as_bytes()),
                "{name}"
            );
        }
    }

    #[test]
    fn known_vectors() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
    }
}
