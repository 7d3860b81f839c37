/* counter: a u64 under "count". See docs/EXAMPLES.md for the exact behaviour.
 *   hook 0    constructor: count = 0
 *   entry 0   increment: count += 1 (absent = 0); store; event 1; return data;
 *             exit 2 if count is already u64::MAX
 *   entry 1   get: return data = count
 *   entry 2   add(amount u64): exit 1 if params are not 8 bytes, 2 on overflow */
#include "tos.h"

#define KEY_COUNT TOS_LIT("count")

/* Stores the new count, fires event 1 with it and returns it as return data. */
static void publish(uint64_t count) {
    uint8_t buf[8];
    tos_write_u64(buf, count);
    tosp_storage_store(KEY_COUNT, buf, 8);
    tosp_fire_event(1, buf, 8);
    tosp_set_return_data(buf, 8);
}

TOS_HOOK(0) {
    (void)params;
    (void)len;
    tos_storage_store_u64(KEY_COUNT, 0);
    return 0;
}

TOS_ENTRY(0) {
    (void)params;
    (void)len;
    uint64_t count = tos_storage_load_u64(KEY_COUNT);
    if (count == ~(uint64_t)0) return 2;
    publish(count + 1);
    return 0;
}

TOS_ENTRY(1) {
    (void)params;
    (void)len;
    tos_return_u64(tos_storage_load_u64(KEY_COUNT));
    return 0;
}

TOS_ENTRY(2) {
    if (len != 8) return 1;
    uint64_t amount = tos_read_u64(params);
    uint64_t count = tos_storage_load_u64(KEY_COUNT);
    uint64_t sum = count + amount;
    if (sum < count) return 2;
    publish(sum);
    return 0;
}
