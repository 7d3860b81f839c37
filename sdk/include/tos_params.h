/*
 * tos_params.h - decode the parameters tos-vm passes to TBPF and wasm contracts.
 *
 * With tos-vm's default ParamsEncoding::Borsh, a call's params are the borsh encodings of
 * the values the daemon pushed, one after the other, first parameter first (docs/ABI.md,
 * "Parameters"). Each value is a one-byte tag, then:
 *
 *   tag  type    then
 *   0    null    -
 *   1    bool    1 byte (0 or 1)
 *   2-6  u8..u128  1, 2, 4, 8, 16 bytes little-endian
 *   7    string  u32 LE length, then UTF-8 bytes
 *   8    bytes   u32 LE length, then the bytes
 *   9    array   u32 LE count, then the values
 *   10   map     u32 LE count, then key, value pairs
 *
 * A cursor reads the values in order; each reader checks the tag and every length against
 * the end of the params, and on failure returns a TOS_PARAMS_* error without moving the
 * cursor. Pointers returned point into the params themselves (no copy): on TBPF into the
 * read-only input, on wasm into the buffer TOS_ENTRY filled.
 *
 *   TOS_ENTRY(1) {                           // transfer(to: hash, amount: u64)
 *       tos_params p;
 *       const uint8_t *to;
 *       uint64_t amount;
 *       tos_params_init(&p, params, len);
 *       if (tos_params_hash(&p, &to) || tos_params_u64(&p, &amount) || !tos_params_done(&p))
 *           return 1;
 *       ...
 *   }
 *
 * Freestanding C11, no libc: include after (or instead of) tos.h.
 */
#ifndef TOS_PARAMS_H
#define TOS_PARAMS_H

#include "tos.h"

/* Value tags (the borsh encoding of tos-vm's ValueCell). */
#define TOS_VALUE_NULL 0
#define TOS_VALUE_BOOL 1
#define TOS_VALUE_U8 2
#define TOS_VALUE_U16 3
#define TOS_VALUE_U32 4
#define TOS_VALUE_U64 5
#define TOS_VALUE_U128 6
#define TOS_VALUE_STRING 7
#define TOS_VALUE_BYTES 8
#define TOS_VALUE_ARRAY 9
#define TOS_VALUE_MAP 10

/* Results of the readers: 0 on success, otherwise why the next value cannot be read. */
#define TOS_PARAMS_OK 0
/* The params end before the value does (or no value is left). */
#define TOS_PARAMS_TRUNCATED 1
/* The next value has another type (tag). */
#define TOS_PARAMS_WRONG_TYPE 2
/* A hash whose bytes value is not 32 bytes long. */
#define TOS_PARAMS_WRONG_LENGTH 3

/* A cursor over a call's params. */
typedef struct {
    const uint8_t *data;
    uint64_t len;
    uint64_t pos;
} tos_params;

/* Starts reading `len` bytes of params at `params` (what TOS_ENTRY's body receives). */
static inline void tos_params_init(tos_params *p, const uint8_t *params, uint64_t len) {
    p->data = params;
    p->len = len;
    p->pos = 0;
}

/* Bytes not read yet. */
static inline uint64_t tos_params_remaining(const tos_params *p) {
    return p->pos <= p->len ? p->len - p->pos : 0;
}

/* 1 when every byte was read (no parameter left over), else 0. */
static inline int tos_params_done(const tos_params *p) {
    return tos_params_remaining(p) == 0;
}

/* The tag of the next value, or -1 when none is left. */
static inline int tos_params_peek_tag(const tos_params *p) {
    return tos_params_remaining(p) == 0 ? -1 : (int)p->data[p->pos];
}

/* Reads a u64 (tag 5) into *out. */
static inline int tos_params_u64(tos_params *p, uint64_t *out) {
    uint64_t left = tos_params_remaining(p);
    if (left == 0) return TOS_PARAMS_TRUNCATED;
    if (p->data[p->pos] != TOS_VALUE_U64) return TOS_PARAMS_WRONG_TYPE;
    if (left < 9) return TOS_PARAMS_TRUNCATED;
    *out = tos_read_u64(p->data + p->pos + 1);
    p->pos += 9;
    return TOS_PARAMS_OK;
}

/* A length-prefixed value of `tag`: points *out at its bytes and sets *out_len. */
static inline int tos__params_lenval(tos_params *p, uint8_t tag, const uint8_t **out, uint64_t *out_len) {
    uint64_t left = tos_params_remaining(p);
    if (left == 0) return TOS_PARAMS_TRUNCATED;
    if (p->data[p->pos] != tag) return TOS_PARAMS_WRONG_TYPE;
    if (left < 5) return TOS_PARAMS_TRUNCATED;
    uint64_t n = tos_read_u32(p->data + p->pos + 1);
    if (n > left - 5) return TOS_PARAMS_TRUNCATED;
    *out = p->data + p->pos + 5;
    *out_len = n;
    p->pos += 5 + n;
    return TOS_PARAMS_OK;
}

/* Reads a bytes value (tag 8): *out points at its *out_len bytes. */
static inline int tos_params_bytes(tos_params *p, const uint8_t **out, uint64_t *out_len) {
    return tos__params_lenval(p, TOS_VALUE_BYTES, out, out_len);
}

/* Reads a string (tag 7): *out points at its *out_len bytes, not NUL-terminated. The bytes
 * are not checked for UTF-8 here (tos-vm only encodes valid strings, but params may come
 * from anywhere). */
static inline int tos_params_string(tos_params *p, const char **out, uint64_t *out_len) {
    const uint8_t *bytes;
    int e = tos__params_lenval(p, TOS_VALUE_STRING, &bytes, out_len);
    if (e == TOS_PARAMS_OK) *out = (const char *)bytes;
    return e;
}

/* Reads a 32-byte hash (an address, an account, an asset id): a bytes value (tag 8) of
 * exactly 32 bytes. *out points at them. */
static inline int tos_params_hash(tos_params *p, const uint8_t **out) {
    uint64_t save = p->pos;
    const uint8_t *bytes;
    uint64_t n;
    int e = tos__params_lenval(p, TOS_VALUE_BYTES, &bytes, &n);
    if (e != TOS_PARAMS_OK) return e;
    if (n != TOS_HASH_SIZE) {
        p->pos = save;
        return TOS_PARAMS_WRONG_LENGTH;
    }
    *out = bytes;
    return TOS_PARAMS_OK;
}

#endif /* TOS_PARAMS_H */
