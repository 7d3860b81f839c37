/* router: forwards one call to another contract. See docs/EXAMPLES.md.
 *   entry 0   params = callee (32) | entry u16 | amount u64 | gas u64 | callee params (rest)
 *             Calls entry `entry` of `callee` with the callee params and gas limit `gas`
 *             (0 = all gas left), depositing `amount` of the native asset from the router's
 *             own balance (0 = no deposit). Fires event 1 with the 8-byte result; sets its
 *             return data to the callee's (empty if none).
 *             exit 0 if the result is 0, else 1; 2 if params are shorter than 50 bytes;
 *             3 if the descriptor would exceed 32 KiB (callee params over 32,680 bytes:
 *             nothing is called) or the callee's return data exceeds 32 KiB.
 * The descriptor and the return data go through one 32 KiB buffer: the TBPF heap, or a
 * static buffer on wasm (TBPF modules have no writable globals; the heap is 32 KiB). */
#include "tos.h"

#define HEADER 50                  /* callee 32, entry 2, amount 8, gas 8 */
#define BUF_SIZE 32768
#define MAX_CALLEE_PARAMS (BUF_SIZE - TOS_CALL_DESC_HEADER - TOS_CALL_DESC_DEPOSIT)

static uint8_t *buffer(void) {
#if defined(__bpf__)
    return TOS_HEAP;
#else
    static uint8_t buf[BUF_SIZE];
    return buf;
#endif
}

TOS_ENTRY(0) {
    if (len < HEADER) return 2;
    const uint8_t *callee = params;
    uint16_t entry = (uint16_t)(params[32] | params[33] << 8);
    uint64_t amount = tos_read_u64(params + 34);
    uint64_t gas = tos_read_u64(params + 42);
    uint64_t n = len - HEADER;
    if (n > MAX_CALLEE_PARAMS) return 3;

    uint8_t *buf = buffer();
    tos_call_desc d;
    tos_call_desc_init(&d, buf, BUF_SIZE, callee, entry, gas);
    if (amount != 0) tos_call_desc_add_native(&d, amount);
    tos_call_desc_set_params(&d, params + HEADER, n);
    uint64_t desc_len = tos_call_desc_finish(&d);
    if (desc_len == 0) return 3; /* cannot happen: checked above */
    uint64_t result = tosp_call(buf, desc_len);

    uint8_t ev[8];
    tos_write_u64(ev, result);
    tosp_fire_event(1, ev, 8);

    uint64_t rlen = tosp_get_return_data(buf, BUF_SIZE);
    if (rlen == TOS_NO_RETURN_DATA) rlen = 0;
    if (rlen > BUF_SIZE) return 3;
    tosp_set_return_data(buf, rlen);
    return result == 0 ? 0 : 1;
}
