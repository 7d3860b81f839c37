/* compute: the TBPF benchmark contract. See docs/EXAMPLES.md.
 *   entry 0   hash_chain(n u32): n rounds of splitmix64 from 0; return data = x
 *   entry 1   sieve(n u32, n <= 32768): primes below n, sieved in a byte array on the
 *             heap; return data = count
 * Both exit 1 on a bad params length (and sieve on n > 32768). */
#include "tos.h"

#if !defined(__bpf__)
#error "compute.c uses the TBPF heap region; build it for BPF only"
#endif

TOS_ENTRY(0) {
    if (len != 4) return 1;
    uint32_t n = tos_read_u32(params);
    uint64_t x = 0;
    for (uint32_t i = 0; i < n; i++) {
        x += 0x9E3779B97F4A7C15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        x = z ^ (z >> 31);
    }
    tos_return_u64(x);
    return 0;
}

TOS_ENTRY(1) {
    if (len != 4) return 1;
    uint32_t n = tos_read_u32(params);
    if (n > TOS_HEAP_SIZE) return 1;
    uint8_t *composite = TOS_HEAP;
    memset(composite, 0, n);
    uint64_t count = 0;
    for (uint64_t i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (uint64_t j = i * i; j < n; j += i) composite[j] = 1;
    }
    tos_return_u64(count);
    return 0;
}
