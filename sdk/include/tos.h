/*
 * tos.h - C SDK for TOS contracts (TBPF and wasm32).
 *
 * One header, no library. Build a contract with
 *   TBPF:  clang -target bpf -mcpu=v2 -O2 -ffreestanding -I sdk/include -c c.c -o c.o
 *          tbpf-link -o c.so c.o
 *   wasm:  clang --target=wasm32 -nostdlib -ffreestanding -O2 -I sdk/include -c c.c -o c.wasm.o
 *          wasm-ld --no-entry --export=memory --export=entry_0 ... -o c.wasm c.wasm.o
 * See sdk/README.md.
 *
 * Contents
 *   - fixed-width integer types (from the compiler, no libc needed)
 *   - every syscall of the TOS ABI, with u64 arguments and result, under its ABI name
 *   - typed wrappers tosp_<name> taking pointers
 *   - little-endian helpers, memcpy/memset/memcmp
 *   - ABI v2: constants (TOS_CALL_REFUSED, TOS_HASH_*, ...), native-asset helpers, the
 *     call-descriptor builder tos_call_desc_* and tos_call_simple
 *   - TOS_ENTRY(N) / TOS_HOOK(N): define entry N / hook N for the current target
 */
#ifndef TOS_H
#define TOS_H

#if !defined(__bpf__) && !defined(__wasm32__)
#error "tos.h targets BPF (clang -target bpf) and wasm32 (clang --target=wasm32)"
#endif

/* ---- integer types ------------------------------------------------------ */
/* Identical typedefs may be repeated in C11, so <stdint.h> may also be included. */
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINTPTR_TYPE__ uintptr_t;
typedef __SIZE_TYPE__ size_t;

/* A guest pointer as a syscall argument. */
#define TOS_PTR(p) ((uint64_t)(uintptr_t)(p))
/* A string literal as (pointer, length) arguments, without the NUL: TOS_LIT("count"). */
#define TOS_LIT(s) (s), (sizeof(s) - 1)

/* ---- constants ----------------------------------------------------------- */
#define TOS_SUCCESS 0
/* Returned by tos_storage_load when the key is absent. */
#define TOS_ABSENT ((uint64_t)-1)
/* Sizes of hashes, addresses, account keys and asset ids. */
#define TOS_HASH_SIZE 32
/* The input header that precedes params (ABI: kind u8, reserved u8, id u16, len u32). */
#define TOS_INPUT_HEADER_SIZE 8
#define TOS_KIND_ENTRY 0
#define TOS_KIND_HOOK 1

/* Portable contracts (docs/ENGINES-DIFFER.md): the engines differ between syscalls.
 * - Writable globals: refused by the TBPF linker; on wasm allowed but reset on every call
 *   (each call instantiates the module afresh). Keep anything that outlives a call in storage.
 * - Low addresses: TBPF maps nothing below 0x100000000, so a null or small pointer traps; wasm
 *   memory starts at 0 and every address is valid. wasm-ld puts C data at 1024 and above and
 *   the 64 KiB stack above the data, so a null-pointer write lands in the unused first KiB
 *   instead of in your data -- but nothing traps: check pointers yourself. (The SDK cannot
 *   make address 0 trap on wasm: wasm has no unmapped pages.)
 * - Recursion: TBPF and legacy allow 64 call frames, wasm thousands: recurse at most ~60 deep.
 * - A trap raised by an instruction (division by zero, out of bounds, unreachable) costs the
 *   whole gas limit on wasm and only what ran on TBPF: return a non-zero exit code for
 *   expected failures instead of trapping. */

#if defined(__bpf__)
/* TBPF has no writable globals: keep state on the stack (4 KiB per call frame) or
 * in the heap region, 32 KiB at 0x300000000. */
#define TOS_HEAP ((uint8_t *)0x300000000ULL)
#define TOS_HEAP_SIZE 32768
#endif

/* ---- syscalls (exact ABI names, u64 arguments and result) ---------------- */
#if defined(__wasm32__)
#define TOS_SYSCALL(name) __attribute__((import_module("env"), import_name(#name))) uint64_t name
#else
/* On BPF an undefined called function becomes a syscall (R_BPF_64_32 by name). */
#define TOS_SYSCALL(name) uint64_t name
#endif

TOS_SYSCALL(tos_log)(uint64_t msg_ptr, uint64_t msg_len);
TOS_SYSCALL(tos_get_input)(uint64_t out_ptr, uint64_t cap);
TOS_SYSCALL(tos_set_return_data)(uint64_t ptr, uint64_t len);
TOS_SYSCALL(tos_get_contract_hash)(uint64_t out_ptr);
TOS_SYSCALL(tos_get_tx_hash)(uint64_t out_ptr);
TOS_SYSCALL(tos_get_tx_source)(uint64_t out_ptr);
TOS_SYSCALL(tos_get_block_hash)(uint64_t out_ptr);
TOS_SYSCALL(tos_get_block_height)(void);
TOS_SYSCALL(tos_get_balance)(uint64_t asset_ptr, uint64_t out_ptr);
TOS_SYSCALL(tos_transfer)(uint64_t dest_ptr, uint64_t amount, uint64_t asset_ptr);
TOS_SYSCALL(tos_burn)(uint64_t asset_ptr, uint64_t amount);
TOS_SYSCALL(tos_storage_load)(uint64_t key_ptr, uint64_t key_len, uint64_t out_ptr, uint64_t cap);
TOS_SYSCALL(tos_storage_store)(uint64_t key_ptr, uint64_t key_len, uint64_t val_ptr, uint64_t val_len);
TOS_SYSCALL(tos_storage_delete)(uint64_t key_ptr, uint64_t key_len);
TOS_SYSCALL(tos_asset_create)(uint64_t name_ptr, uint64_t name_len, uint64_t decimals, uint64_t out_asset_ptr);
TOS_SYSCALL(tos_asset_mint)(uint64_t asset_ptr, uint64_t amount);
TOS_SYSCALL(tos_fire_event)(uint64_t event_id, uint64_t data_ptr, uint64_t data_len);

/* ABI v2 (docs/ABI.md, "ABI v2"; feature `abi_v2`): calls between contracts, caller and
 * deposits, abort, hashes, ed25519, block timestamp. A module importing one of these is
 * refused where the network has not activated the feature. */
/* Calls another contract with the call descriptor at desc_ptr (see tos_call_desc below).
 * Returns the callee's exit code, TOS_CALL_TRAPPED or TOS_CALL_REFUSED. desc_len must be
 * exactly 48 + 40*D + P, or the caller traps. */
TOS_SYSCALL(tos_call)(uint64_t desc_ptr, uint64_t desc_len);
/* The return data of this frame's last tos_call: copies min(len, cap) bytes and returns
 * len, or TOS_NO_RETURN_DATA when there was no call yet or the last one was refused or
 * trapped (a callee that exited with any code, 0 or not, has return data, maybe empty). */
TOS_SYSCALL(tos_get_return_data)(uint64_t out_ptr, uint64_t cap);
/* Writes the 32-byte caller: the calling contract, or the transaction's source for a
 * top-level call. Returns 0. */
TOS_SYSCALL(tos_get_caller)(uint64_t out_ptr);
/* The amount of the asset (32 bytes at asset_ptr) deposited with this call; 0 if none. */
TOS_SYSCALL(tos_get_call_deposit)(uint64_t asset_ptr);
/* Never returns: the call traps with the message (its first 1 KiB). Prefer tosp_abort,
 * which tells the compiler so. */
TOS_SYSCALL(tos_abort)(uint64_t msg_ptr, uint64_t msg_len);
/* Writes the 32-byte digest of the data with algorithm TOS_HASH_*; another algo traps.
 * Returns 0. */
TOS_SYSCALL(tos_hash)(uint64_t algo, uint64_t data_ptr, uint64_t data_len, uint64_t out_ptr);
/* Verifies an ed25519 signature (64 bytes) of the message under the 32-byte public key
 * (strict RFC 8032 rules). Returns 0 if valid, 1 if not. */
TOS_SYSCALL(tos_ed25519_verify)(uint64_t pubkey_ptr, uint64_t msg_ptr, uint64_t msg_len, uint64_t sig_ptr);
/* The block's timestamp, seconds since the Unix epoch. */
TOS_SYSCALL(tos_get_block_timestamp)(void);

/* ---- typed wrappers: tosp_<name> takes pointers -------------------------- */
static inline uint64_t tosp_log(const void *msg, uint64_t len) { return tos_log(TOS_PTR(msg), len); }
static inline uint64_t tosp_get_input(void *out, uint64_t cap) { return tos_get_input(TOS_PTR(out), cap); }
static inline uint64_t tosp_set_return_data(const void *data, uint64_t len) { return tos_set_return_data(TOS_PTR(data), len); }
static inline uint64_t tosp_get_contract_hash(uint8_t out[32]) { return tos_get_contract_hash(TOS_PTR(out)); }
static inline uint64_t tosp_get_tx_hash(uint8_t out[32]) { return tos_get_tx_hash(TOS_PTR(out)); }
static inline uint64_t tosp_get_tx_source(uint8_t out[32]) { return tos_get_tx_source(TOS_PTR(out)); }
static inline uint64_t tosp_get_block_hash(uint8_t out[32]) { return tos_get_block_hash(TOS_PTR(out)); }
static inline uint64_t tosp_get_block_height(void) { return tos_get_block_height(); }
static inline uint64_t tosp_get_balance(const uint8_t asset[32], uint64_t *out) { return tos_get_balance(TOS_PTR(asset), TOS_PTR(out)); }
static inline uint64_t tosp_transfer(const uint8_t dest[32], uint64_t amount, const uint8_t asset[32]) { return tos_transfer(TOS_PTR(dest), amount, TOS_PTR(asset)); }
static inline uint64_t tosp_burn(const uint8_t asset[32], uint64_t amount) { return tos_burn(TOS_PTR(asset), amount); }
static inline uint64_t tosp_storage_load(const void *key, uint64_t key_len, void *out, uint64_t cap) { return tos_storage_load(TOS_PTR(key), key_len, TOS_PTR(out), cap); }
static inline uint64_t tosp_storage_store(const void *key, uint64_t key_len, const void *val, uint64_t val_len) { return tos_storage_store(TOS_PTR(key), key_len, TOS_PTR(val), val_len); }
static inline uint64_t tosp_storage_delete(const void *key, uint64_t key_len) { return tos_storage_delete(TOS_PTR(key), key_len); }
static inline uint64_t tosp_asset_create(const void *name, uint64_t name_len, uint64_t decimals, uint8_t out_asset[32]) { return tos_asset_create(TOS_PTR(name), name_len, decimals, TOS_PTR(out_asset)); }
static inline uint64_t tosp_asset_mint(const uint8_t asset[32], uint64_t amount) { return tos_asset_mint(TOS_PTR(asset), amount); }
static inline uint64_t tosp_fire_event(uint64_t event_id, const void *data, uint64_t len) { return tos_fire_event(event_id, TOS_PTR(data), len); }
static inline uint64_t tosp_call(const void *desc, uint64_t len) { return tos_call(TOS_PTR(desc), len); }
static inline uint64_t tosp_get_return_data(void *out, uint64_t cap) { return tos_get_return_data(TOS_PTR(out), cap); }
static inline uint64_t tosp_get_caller(uint8_t out[32]) { return tos_get_caller(TOS_PTR(out)); }
static inline uint64_t tosp_get_call_deposit(const uint8_t asset[32]) { return tos_get_call_deposit(TOS_PTR(asset)); }
static inline _Noreturn void tosp_abort(const void *msg, uint64_t len) {
    tos_abort(TOS_PTR(msg), len);
    __builtin_unreachable();
}
static inline uint64_t tosp_hash(uint64_t algo, const void *data, uint64_t len, uint8_t out[32]) { return tos_hash(algo, TOS_PTR(data), len, TOS_PTR(out)); }
static inline uint64_t tosp_ed25519_verify(const uint8_t pubkey[32], const void *msg, uint64_t len, const uint8_t sig[64]) { return tos_ed25519_verify(TOS_PTR(pubkey), TOS_PTR(msg), len, TOS_PTR(sig)); }
static inline uint64_t tosp_get_block_timestamp(void) { return tos_get_block_timestamp(); }

/* ---- memory functions ------------------------------------------------------
 * The compiler may emit calls to these (struct copies, large initialisers). They are
 * weak, so every object may carry them and the linkers keep one; no_builtin stops
 * clang from turning the loops back into calls to themselves. */
/* Word-sized accesses when both sides are 8-byte aligned: on TBPF every load and store is
 * an address translation, so moving 8 bytes at a time is ~8x cheaper in gas and time. */
#define TOS_ALIGNED8(p) ((((size_t)(p)) & 7) == 0)
/* A u64 that may alias any other type, so word accesses to byte buffers are well defined. */
typedef uint64_t __attribute__((__may_alias__)) tos_u64_alias;
__attribute__((weak, no_builtin)) void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    size_t i = 0;
    if (TOS_ALIGNED8(d) && TOS_ALIGNED8(s)) {
        for (; i + 8 <= n; i += 8) *(tos_u64_alias *)(d + i) = *(const tos_u64_alias *)(s + i);
    }
    for (; i < n; i++) d[i] = s[i];
    return dst;
}
__attribute__((weak, no_builtin)) void *memset(void *dst, int c, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    size_t i = 0;
    if (TOS_ALIGNED8(d)) {
        uint64_t w = (uint64_t)(uint8_t)c * 0x0101010101010101ull;
        for (; i + 8 <= n; i += 8) *(tos_u64_alias *)(d + i) = w;
    }
    for (; i < n; i++) d[i] = (uint8_t)c;
    return dst;
}
__attribute__((weak, no_builtin)) int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    size_t i = 0;
    if (TOS_ALIGNED8(x) && TOS_ALIGNED8(y)) {
        /* Skip equal words; a differing word is compared bytewise below. */
        while (i + 8 <= n && *(const tos_u64_alias *)(x + i) == *(const tos_u64_alias *)(y + i)) i += 8;
    }
    for (; i < n; i++) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

/* ---- little-endian helpers ------------------------------------------------ */
static inline uint32_t tos_read_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
/* Both targets are little-endian, so an aligned u64 is one load or store. */
static inline uint64_t tos_read_u64(const uint8_t *p) {
    if (TOS_ALIGNED8(p)) return *(const tos_u64_alias *)p;
    return (uint64_t)tos_read_u32(p) | (uint64_t)tos_read_u32(p + 4) << 32;
}
static inline void tos_write_u64(uint8_t *p, uint64_t v) {
    if (TOS_ALIGNED8(p)) {
        *(tos_u64_alias *)p = v;
        return;
    }
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Loads a u64 value stored under a key; absent (or shorter) values read as 0. */
static inline uint64_t tos_storage_load_u64(const void *key, uint64_t key_len) {
    uint8_t buf[8] = {0};
    tosp_storage_load(key, key_len, buf, 8);
    return tos_read_u64(buf);
}
/* Stores a u64 value (8 bytes, little-endian) under a key. */
static inline void tos_storage_store_u64(const void *key, uint64_t key_len, uint64_t v) {
    uint8_t buf[8];
    tos_write_u64(buf, v);
    tosp_storage_store(key, key_len, buf, 8);
}
/* Sets the return data to a u64 (8 bytes, little-endian). */
static inline void tos_return_u64(uint64_t v) {
    uint8_t buf[8];
    tos_write_u64(buf, v);
    tosp_set_return_data(buf, 8);
}

/* ---- ABI v2 helpers: native asset, calls ----------------------------------- */
/* The native asset id is 32 zero bytes; these helpers build it on the stack. */
/* What the caller deposited of the native asset with this call. */
static inline uint64_t tos_call_deposit_native(void) {
    uint8_t native[32] = {0};
    return tosp_get_call_deposit(native);
}
/* Moves `amount` of the contract's own native balance to `dest`: 0, or 1 if too low. */
static inline uint64_t tos_transfer_native(const uint8_t dest[32], uint64_t amount) {
    uint8_t native[32] = {0};
    return tosp_transfer(dest, amount, native);
}
/* The contract's own native balance. */
static inline uint64_t tos_balance_native(void) {
    uint8_t native[32] = {0};
    uint64_t balance = 0;
    tosp_get_balance(native, &balance);
    return balance;
}

/* Building a call descriptor (ABI.md, "The call descriptor") in a caller-provided buffer:
 *
 *   uint8_t buf[256];                 // or TOS_HEAP / a static buffer for large params
 *   tos_call_desc d;
 *   tos_call_desc_init(&d, buf, sizeof buf, callee, 0, 0);   // entry 0, all gas left
 *   tos_call_desc_add_native(&d, 100);                      // deposit 100 native units
 *   tos_call_desc_set_params(&d, params, params_len);
 *   uint64_t n = tos_call_desc_finish(&d);                  // 0: did not fit / misuse
 *   uint64_t r = n ? tosp_call(buf, n) : TOS_CALL_REFUSED;
 *
 * Deposits come before the params; the params are set at most once (none = empty). A
 * step that would overflow the buffer, a ninth deposit, params over 64 KiB or a deposit
 * after the params returns 0 and fails the builder: finish then returns 0 (a descriptor
 * of length 0 is never valid, so 0 cannot be mistaken for a length). Successful steps
 * return 1. The helpers are always inlined, so more than five arguments is fine on BPF. */
#define TOS_CALL_REFUSED ((uint64_t)0xFFFFFFFFFFFFFFFFull) /* the callee did not run */
#define TOS_CALL_TRAPPED ((uint64_t)0xFFFFFFFFFFFFFFFEull) /* it trapped or ran out of gas */
#define TOS_NO_RETURN_DATA ((uint64_t)0xFFFFFFFFFFFFFFFFull) /* tos_get_return_data: none */
#define TOS_HASH_BLAKE3 0
#define TOS_HASH_SHA256 1
#define TOS_HASH_KECCAK256 2
#define TOS_CALL_DESC_HEADER 48     /* callee 32, entry 2, D 2, P 4, gas 8 */
#define TOS_CALL_DESC_DEPOSIT 40    /* asset 32, amount 8 */
#define TOS_CALL_MAX_DEPOSITS 8
#define TOS_CALL_MAX_PARAMS 65536
/* The length of a descriptor with d deposits and p bytes of params. */
#define TOS_CALL_DESC_LEN(d, p) (TOS_CALL_DESC_HEADER + TOS_CALL_DESC_DEPOSIT * (uint64_t)(d) + (uint64_t)(p))

#define TOS__ALWAYS_INLINE static inline __attribute__((always_inline))

typedef struct {
    uint8_t *buf;
    uint64_t cap;
    uint64_t len;      /* bytes written so far */
    uint16_t deposits; /* D so far */
    uint8_t params_set;
    uint8_t failed;
} tos_call_desc;

static inline void tos__write_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void tos__write_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Starts a descriptor for entry `entry` of `callee` with gas limit `gas` (0 = all gas left).
 * Returns 1, or 0 if the buffer is shorter than the 48-byte header. */
TOS__ALWAYS_INLINE int tos_call_desc_init(tos_call_desc *d, void *buf, uint64_t cap, const uint8_t callee[32], uint16_t entry, uint64_t gas) {
    d->buf = (uint8_t *)buf;
    d->cap = cap;
    d->len = 0;
    d->deposits = 0;
    d->params_set = 0;
    d->failed = cap < TOS_CALL_DESC_HEADER;
    if (d->failed) return 0;
    memcpy(d->buf, callee, 32);
    tos__write_u16(d->buf + 32, entry);
    tos__write_u16(d->buf + 34, 0);
    tos__write_u32(d->buf + 36, 0);
    tos_write_u64(d->buf + 40, gas);
    d->len = TOS_CALL_DESC_HEADER;
    return 1;
}

/* Adds a deposit of `amount` of `asset`. Returns 1, or 0 (and fails the builder). */
TOS__ALWAYS_INLINE int tos_call_desc_add_deposit(tos_call_desc *d, const uint8_t asset[32], uint64_t amount) {
    if (d->failed || d->params_set || d->deposits >= TOS_CALL_MAX_DEPOSITS ||
        d->cap - d->len < TOS_CALL_DESC_DEPOSIT) {
        d->failed = 1;
        return 0;
    }
    memcpy(d->buf + d->len, asset, 32);
    tos_write_u64(d->buf + d->len + 32, amount);
    d->len += TOS_CALL_DESC_DEPOSIT;
    d->deposits++;
    tos__write_u16(d->buf + 34, d->deposits);
    return 1;
}

/* Adds a deposit of `amount` of the native asset. Returns 1, or 0 (and fails the builder). */
TOS__ALWAYS_INLINE int tos_call_desc_add_native(tos_call_desc *d, uint64_t amount) {
    uint8_t native[32] = {0};
    return tos_call_desc_add_deposit(d, native, amount);
}

/* Copies the callee's params (at most 64 KiB). Returns 1, or 0 (and fails the builder). */
TOS__ALWAYS_INLINE int tos_call_desc_set_params(tos_call_desc *d, const void *params, uint64_t len) {
    if (d->failed || d->params_set || len > TOS_CALL_MAX_PARAMS || d->cap - d->len < len) {
        d->failed = 1;
        return 0;
    }
    memcpy(d->buf + d->len, params, len);
    d->len += len;
    d->params_set = 1;
    tos__write_u32(d->buf + 36, (uint32_t)len);
    return 1;
}

/* The descriptor's length (pass it with the buffer to tos_call), or 0 if a step failed. */
TOS__ALWAYS_INLINE uint64_t tos_call_desc_finish(const tos_call_desc *d) {
    return d->failed ? 0 : d->len;
}

/* Calls entry `entry` of `callee` with `params`, depositing `native_amount` of the native
 * asset (0 = no deposit) and a gas limit `gas` (0 = all gas left), building the
 * descriptor in buf[0..cap). Returns what tos_call returns; TOS_CALL_REFUSED without
 * calling when the descriptor does not fit the buffer (48 + 40 + len bytes at most). */
TOS__ALWAYS_INLINE uint64_t tos_call_simple(void *buf, uint64_t cap, const uint8_t callee[32], uint16_t entry,
                                            uint64_t native_amount, uint64_t gas, const void *params, uint64_t len) {
    tos_call_desc d;
    tos_call_desc_init(&d, buf, cap, callee, entry, gas);
    if (native_amount != 0) tos_call_desc_add_native(&d, native_amount);
    tos_call_desc_set_params(&d, params, len);
    uint64_t n = tos_call_desc_finish(&d);
    if (n == 0) return TOS_CALL_REFUSED;
    return tosp_call(buf, n);
}

/* The last call's return data as a u64 (exactly 8 bytes); returns 1 and writes *out, or 0
 * if there is none or it is not 8 bytes long. */
static inline int tos_return_data_u64(uint64_t *out) {
    uint8_t buf[8];
    if (tosp_get_return_data(buf, 8) != 8) return 0;
    *out = tos_read_u64(buf);
    return 1;
}

/* ---- entries and hooks ------------------------------------------------------
 * TOS_ENTRY(N) { ... } defines entry N, TOS_HOOK(N) { ... } hook N (hook 0 is the
 * constructor). The body sees `const uint8_t *params` and `uint64_t len` (the call's
 * params, without the 8-byte input header) and returns the u64 exit code (0 = success).
 *
 *   TBPF:  uint64_t entry_N(const uint8_t *params, uint64_t len), called by the
 *          dispatcher that tbpf-link generates (params point into the read-only input).
 *   wasm:  an exported `int64_t entry_N(void)` that reads the input with tos_get_input
 *          into linear memory, skips the header and runs the body.
 */
#define TOS_ENTRY(N) TOS__DEFINE(entry_##N)
#define TOS_HOOK(N) TOS__DEFINE(hook_##N)

#if defined(__bpf__)
#define TOS__DEFINE(name) uint64_t name(const uint8_t *params, uint64_t len)
#else
#ifndef TOS_WASM_INPUT_BUFFER
#define TOS_WASM_INPUT_BUFFER 1024
#endif
static uint8_t tos__input_buffer[TOS_WASM_INPUT_BUFFER];

/* Reads the call input; returns the params length and points *params at them.
 * Inputs larger than the static buffer go into freshly grown linear memory. */
static inline uint64_t tos__wasm_params(const uint8_t **params) {
    uint8_t *in = tos__input_buffer;
    uint64_t n = tos_get_input(TOS_PTR(in), sizeof(tos__input_buffer));
    if (n > sizeof(tos__input_buffer)) {
        uint64_t pages = (n + 65535) / 65536;
        long old = __builtin_wasm_memory_grow(0, (unsigned long)pages);
        if (old < 0) __builtin_trap();
        in = (uint8_t *)((uintptr_t)old * 65536);
        tos_get_input(TOS_PTR(in), n);
    }
    if (n < TOS_INPUT_HEADER_SIZE) __builtin_trap();
    uint64_t len = tos_read_u32(in + 4);
    if (len > n - TOS_INPUT_HEADER_SIZE) len = n - TOS_INPUT_HEADER_SIZE;
    *params = in + TOS_INPUT_HEADER_SIZE;
    return len;
}

#define TOS__DEFINE(name)                                                   \
    static uint64_t name##__body(const uint8_t *params, uint64_t len);      \
    __attribute__((export_name(#name))) int64_t name(void) {                \
        const uint8_t *params_;                                             \
        uint64_t len_ = tos__wasm_params(&params_);                         \
        return (int64_t)name##__body(params_, len_);                        \
    }                                                                       \
    static uint64_t name##__body(const uint8_t *params, uint64_t len)
#endif

#endif /* TOS_H */
