/* probe: a test fixture for the cross-engine conformance test, not a contract to deploy.
 * See docs/EXAMPLES.md ("probe") for the script format.
 *   entry 0   runs its params as a script, op by op: end of params -> exit 0; a truncated
 *             or unknown op -> exit 254 (the ops before it have run).
 * The script is read in place (TBPF: the read-only input region; wasm: the input buffer
 * of TOS_ENTRY), so any params the host accepts (64 KiB) can be run; exit 253 is never
 * used. The only buffer is the 256 bytes of op 0x05's return data, on the stack. */
#include "tos.h"

#define BAD_SCRIPT 254

static uint16_t read_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void store_u64(uint8_t k, uint64_t v) { tos_storage_store_u64(&k, 1, v); }

/* Op 0x05: calls with the descriptor, stores the result under [k] and the first 256 bytes
 * of the return data, if any, under [k, 'd']. Its own function keeps the 256-byte buffer
 * out of the loop's frame. */
static __attribute__((noinline)) void op_call(uint8_t k, const uint8_t *desc, uint64_t n) {
    uint64_t r = tosp_call(desc, n);
    store_u64(k, r);
    uint8_t data[256];
    uint64_t got = tosp_get_return_data(data, sizeof data);
    if (got != TOS_NO_RETURN_DATA) {
        uint8_t key[2] = {k, 'd'};
        tosp_storage_store(key, 2, data, got < sizeof data ? got : sizeof data);
    }
}

TOS_ENTRY(0) {
    uint64_t i = 0;
    while (i < len) {
        uint8_t op = params[i];
        const uint8_t *a = params + i + 1; /* the op's operands */
        uint64_t left = len - i - 1;       /* bytes after the opcode */
        uint64_t n;                        /* operand bytes of this op */
        switch (op) {
        case 0x01: /* k v[8]: storage[k] = v */
            n = 9;
            if (left < n) return BAD_SCRIPT;
            tosp_storage_store(a, 1, a + 1, 8);
            break;
        case 0x02: /* id: event id, empty data */
            n = 1;
            if (left < n) return BAD_SCRIPT;
            tosp_fire_event(a[0], a, 0);
            break;
        case 0x03: /* code[8]: exit */
            if (left < 8) return BAD_SCRIPT;
            return tos_read_u64(a);
        case 0x04: /* loop forever */
            for (;;) __asm__ volatile("" ::: "memory");
        case 0x05: { /* k len[2] desc[len]: call */
            if (left < 3) return BAD_SCRIPT;
            uint64_t dlen = read_u16(a + 1);
            n = 3 + dlen;
            if (left < n) return BAD_SCRIPT;
            op_call(a[0], a + 3, dlen);
            break;
        }
        case 0x06: { /* k: storage[k] = caller */
            n = 1;
            if (left < n) return BAD_SCRIPT;
            uint8_t caller[32];
            tosp_get_caller(caller);
            tosp_storage_store(a, 1, caller, 32);
            break;
        }
        case 0x07: /* k asset[32]: storage[k] = deposit of asset */
            n = 33;
            if (left < n) return BAD_SCRIPT;
            store_u64(a[0], tosp_get_call_deposit(a + 1));
            break;
        case 0x08: /* len[2] data[len]: return data */
            if (left < 2) return BAD_SCRIPT;
            n = 2 + (uint64_t)read_u16(a);
            if (left < n) return BAD_SCRIPT;
            tosp_set_return_data(a + 2, n - 2);
            break;
        case 0x09: /* len[2] msg[len]: abort */
            if (left < 2) return BAD_SCRIPT;
            n = 2 + (uint64_t)read_u16(a);
            if (left < n) return BAD_SCRIPT;
            tosp_abort(a + 2, n - 2);
        case 0x0A: /* to[32] amount[8]: native transfer, result ignored */
            n = 40;
            if (left < n) return BAD_SCRIPT;
            tos_transfer_native(a, tos_read_u64(a + 32));
            break;
        case 0x0B: /* k: storage[k] = block timestamp */
            n = 1;
            if (left < n) return BAD_SCRIPT;
            store_u64(a[0], tosp_get_block_timestamp());
            break;
        case 0x0C: { /* k algo data_len[2] data: storage[k] = hash */
            if (left < 4) return BAD_SCRIPT;
            uint64_t dlen = read_u16(a + 2);
            n = 4 + dlen;
            if (left < n) return BAD_SCRIPT;
            uint8_t digest[32];
            tosp_hash(a[1], a + 4, dlen, digest);
            tosp_storage_store(a, 1, digest, 32);
            break;
        }
        default:
            return BAD_SCRIPT;
        }
        i += 1 + n;
    }
    return 0;
}
