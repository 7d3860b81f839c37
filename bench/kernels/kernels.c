/* kernels.c: the six compute kernels of the benchmark suite (docs/BENCHMARKS.md).
 *
 * Pure C without libc or syscalls, so one source is built three ways: natively (linked into
 * the bench), for TBPF and for wasm32 (contract.c includes it). Each kernel is
 *     uint64_t kernel_<name>(uint64_t n, uint8_t *scratch)
 * and returns a checksum of its work, so the three builds can be compared. `n` scales the
 * work; `scratch` is KERNEL_SCRATCH_SIZE bytes of writable, 8-byte aligned memory that the
 * kernel fills itself before reading (nothing is assumed about its contents). The scratch
 * buffer exists because TBPF has no writable globals and 4 KiB stack frames: there it is the
 * 32 KiB heap region, on wasm a static array, natively a buffer of the bench.
 *
 * Kernel ids (kernel_run): 0 hash, 1 sieve, 2 crc32, 3 fib, 4 matmul, 5 heapsort. */

typedef __UINT8_TYPE__ uint8_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;

#define KERNEL_SCRATCH_SIZE 32768
#define KERNEL_COUNT 6
/* The checksum kernel_run returns for an unknown id or an n out of range. */
#define KERNEL_BAD_ARGS 0xFFFFFFFFFFFFFFFFull

static uint64_t kernel_xorshift(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* hash: n rounds of FNV-1a (64-bit) over a 1 KiB buffer of xorshift bytes, each round
 * seeded with the previous round's hash. */
#define HASH_BUFFER 1024
uint64_t kernel_hash(uint64_t n, uint8_t *scratch) {
    uint64_t s = 0x243F6A8885A308D3ull;
    for (uint32_t i = 0; i < HASH_BUFFER; i++) scratch[i] = (uint8_t)kernel_xorshift(&s);
    uint64_t h = 0xCBF29CE484222325ull;
    for (uint64_t r = 0; r < n; r++) {
        h ^= r;
        for (uint32_t i = 0; i < HASH_BUFFER; i++) {
            h ^= scratch[i];
            h *= 0x100000001B3ull;
        }
    }
    return h;
}

/* sieve: n sieves of Eratosthenes, the r-th over the numbers below 32768 - r (one byte per
 * number); returns the sum of the prime counts. */
uint64_t kernel_sieve(uint64_t n, uint8_t *scratch) {
    uint64_t total = 0;
    for (uint64_t r = 0; r < n; r++) {
        uint64_t limit = KERNEL_SCRATCH_SIZE - (r % 1024);
        for (uint64_t i = 0; i < limit; i++) scratch[i] = 0;
        uint64_t count = 0;
        for (uint64_t i = 2; i < limit; i++) {
            if (scratch[i]) continue;
            count++;
            for (uint64_t j = i * i; j < limit; j += i) scratch[j] = 1;
        }
        total += count;
    }
    return total;
}

/* crc32: the CRC-32 (IEEE, reflected, polynomial 0xEDB88320) of n passes over an 8 KiB
 * buffer of xorshift bytes, the table built in scratch first. */
#define CRC_BUFFER 8192
uint64_t kernel_crc32(uint64_t n, uint8_t *scratch) {
    uint32_t *table = (uint32_t *)scratch;
    uint8_t *data = scratch + 1024;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint64_t s = 0x13198A2E03707344ull;
    for (uint32_t i = 0; i < CRC_BUFFER; i++) data[i] = (uint8_t)kernel_xorshift(&s);
    uint32_t crc = 0xFFFFFFFFu;
    for (uint64_t r = 0; r < n; r++) {
        for (uint32_t i = 0; i < CRC_BUFFER; i++) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    }
    return (uint64_t)(crc ^ 0xFFFFFFFFu);
}

/* fib: the n-th Fibonacci number by naive double recursion (n <= 40; TBPF allows 64 frames). */
static uint64_t kernel_fib_rec(uint64_t n) {
    if (n < 2) return n;
    return kernel_fib_rec(n - 1) + kernel_fib_rec(n - 2);
}
uint64_t kernel_fib(uint64_t n, uint8_t *scratch) {
    (void)scratch;
    if (n > 40) return KERNEL_BAD_ARGS;
    return kernel_fib_rec(n);
}

/* matmul: n rounds of C = A x B on 24x24 u32 matrices (wrapping), A then taking C's values;
 * returns a position-weighted sum of the last C. */
#define MAT 24
uint64_t kernel_matmul(uint64_t n, uint8_t *scratch) {
    uint32_t *a = (uint32_t *)scratch;
    uint32_t *b = a + MAT * MAT;
    uint32_t *c = b + MAT * MAT;
    uint64_t s = 0xA4093822299F31D0ull;
    for (uint32_t i = 0; i < MAT * MAT; i++) {
        a[i] = (uint32_t)kernel_xorshift(&s) & 0xFFFF;
        b[i] = (uint32_t)kernel_xorshift(&s) & 0xFFFF;
        c[i] = 0;
    }
    for (uint64_t r = 0; r < n; r++) {
        for (uint32_t i = 0; i < MAT; i++) {
            for (uint32_t j = 0; j < MAT; j++) {
                uint32_t sum = 0;
                for (uint32_t k = 0; k < MAT; k++) sum += a[i * MAT + k] * b[k * MAT + j];
                c[i * MAT + j] = sum;
            }
        }
        for (uint32_t i = 0; i < MAT * MAT; i++) a[i] = c[i] ^ (uint32_t)r;
    }
    uint64_t check = 0;
    for (uint32_t i = 0; i < MAT * MAT; i++) check = check * 31 + c[i];
    return check;
}

/* heapsort: sorts n xorshift u32 values (n <= 8192, they fill scratch) with heapsort;
 * returns a position-weighted sum of the sorted array (0 if it is not sorted). */
static void kernel_sift_down(uint32_t *v, uint64_t root, uint64_t end) {
    for (;;) {
        uint64_t child = 2 * root + 1;
        if (child >= end) return;
        if (child + 1 < end && v[child] < v[child + 1]) child++;
        if (v[root] >= v[child]) return;
        uint32_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}
uint64_t kernel_heapsort(uint64_t n, uint8_t *scratch) {
    if (n > KERNEL_SCRATCH_SIZE / 4) return KERNEL_BAD_ARGS;
    uint32_t *v = (uint32_t *)scratch;
    uint64_t s = 0x082EFA98EC4E6C89ull;
    for (uint64_t i = 0; i < n; i++) v[i] = (uint32_t)kernel_xorshift(&s);
    for (uint64_t i = n / 2; i > 0; i--) kernel_sift_down(v, i - 1, n);
    for (uint64_t end = n; end > 1; end--) {
        uint32_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        kernel_sift_down(v, 0, end - 1);
    }
    uint64_t check = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i > 0 && v[i - 1] > v[i]) return 0;
        check = check * 31 + v[i];
    }
    return check;
}

/* Runs kernel `id` (see the top of the file); KERNEL_BAD_ARGS for an unknown id. */
uint64_t kernel_run(uint64_t id, uint64_t n, uint8_t *scratch) {
    switch (id) {
    case 0: return kernel_hash(n, scratch);
    case 1: return kernel_sieve(n, scratch);
    case 2: return kernel_crc32(n, scratch);
    case 3: return kernel_fib(n, scratch);
    case 4: return kernel_matmul(n, scratch);
    case 5: return kernel_heapsort(n, scratch);
    default: return KERNEL_BAD_ARGS;
    }
}
