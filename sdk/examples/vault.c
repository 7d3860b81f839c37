/* vault: keeps native deposits per caller. See docs/EXAMPLES.md.
 * Storage: caller (32-byte key) = u64 total deposited (absent = 0).
 *   entry 0   deposit: amount = native deposit of this call; 1 if 0; 3 if the total would
 *             overflow; total += amount; event 1 = caller ++ amount; return data = total
 *   entry 1   withdraw: 1 if nothing recorded; delete the record; transfer the total back
 *             to the caller (2 if that fails); event 2 = caller ++ total; return data = total
 *   entry 2   balance_of(address[32]): return data = recorded total (0 if none); 1 if
 *             params are not 32 bytes
 * "caller" is tos_get_caller: the calling contract, or the transaction's source. */
#include "tos.h"

static void publish(uint64_t event, const uint8_t caller[32], uint64_t amount, uint64_t total) {
    uint8_t ev[40];
    memcpy(ev, caller, 32);
    tos_write_u64(ev + 32, amount);
    tosp_fire_event(event, ev, 40);
    tos_return_u64(total);
}

TOS_ENTRY(0) {
    (void)params;
    (void)len;
    uint64_t amount = tos_call_deposit_native();
    if (amount == 0) return 1;
    uint8_t caller[32];
    tosp_get_caller(caller);
    uint64_t total = tos_storage_load_u64(caller, 32);
    if (total + amount < total) return 3;
    total += amount;
    tos_storage_store_u64(caller, 32, total);
    publish(1, caller, amount, total);
    return 0;
}

TOS_ENTRY(1) {
    (void)params;
    (void)len;
    uint8_t caller[32];
    tosp_get_caller(caller);
    uint64_t total = tos_storage_load_u64(caller, 32);
    if (total == 0) return 1;
    tosp_storage_delete(caller, 32);
    if (tos_transfer_native(caller, total) != 0) return 2;
    publish(2, caller, total, total);
    return 0;
}

TOS_ENTRY(2) {
    if (len != 32) return 1;
    tos_return_u64(tos_storage_load_u64(params, 32));
    return 0;
}
