/* token: a fungible token kept in contract storage. See docs/EXAMPLES.md.
 * Storage: "owner" = 32-byte owner, "supply" = u64, "bal" ++ account = u64.
 *   hook 0    constructor: owner = caller, supply = 0
 *   entry 0   mint(to[32], amount u64)      1 bad length, 2 not owner, 4 overflow
 *   entry 1   transfer(to[32], amount u64)  1 bad length, 3 insufficient, 4 overflow
 *   entry 2   balance_of(account[32])       1 bad length
 *   entry 3   supply()
 * Every check happens before the first write. */
#include "tos.h"

#define KEY_OWNER TOS_LIT("owner")
#define KEY_SUPPLY TOS_LIT("supply")
#define BAL_KEY_LEN 35

static void bal_key(uint8_t key[BAL_KEY_LEN], const uint8_t account[32]) {
    key[0] = 'b';
    key[1] = 'a';
    key[2] = 'l';
    memcpy(key + 3, account, 32);
}

static uint64_t bal_get(const uint8_t account[32]) {
    uint8_t key[BAL_KEY_LEN];
    bal_key(key, account);
    return tos_storage_load_u64(key, BAL_KEY_LEN);
}

static void bal_set(const uint8_t account[32], uint64_t value) {
    uint8_t key[BAL_KEY_LEN];
    bal_key(key, account);
    tos_storage_store_u64(key, BAL_KEY_LEN, value);
}

static int caller_is_owner(const uint8_t caller[32]) {
    uint8_t owner[32];
    if (tosp_storage_load(KEY_OWNER, owner, 32) != 32) return 0;
    return memcmp(owner, caller, 32) == 0;
}

TOS_HOOK(0) {
    (void)params;
    (void)len;
    uint8_t caller[32];
    tosp_get_tx_source(caller);
    tosp_storage_store(KEY_OWNER, caller, 32);
    tos_storage_store_u64(KEY_SUPPLY, 0);
    return 0;
}

/* mint: to (32) ++ amount (8). */
TOS_ENTRY(0) {
    if (len != 40) return 1;
    uint8_t caller[32];
    tosp_get_tx_source(caller);
    if (!caller_is_owner(caller)) return 2;
    const uint8_t *to = params;
    uint64_t amount = tos_read_u64(params + 32);
    uint64_t balance = bal_get(to);
    uint64_t supply = tos_storage_load_u64(KEY_SUPPLY);
    if (balance + amount < balance || supply + amount < supply) return 4;
    bal_set(to, balance + amount);
    tos_storage_store_u64(KEY_SUPPLY, supply + amount);
    uint8_t event[40];
    memcpy(event, params, 40);
    tosp_fire_event(1, event, 40);
    return 0;
}

/* transfer: to (32) ++ amount (8), from the caller. */
TOS_ENTRY(1) {
    if (len != 40) return 1;
    uint8_t from[32];
    tosp_get_tx_source(from);
    const uint8_t *to = params;
    uint64_t amount = tos_read_u64(params + 32);
    uint64_t from_balance = bal_get(from);
    if (from_balance < amount) return 3;
    /* bal[from] -= amount happens first, so a transfer to oneself sees the reduced balance. */
    uint64_t to_balance = memcmp(from, to, 32) == 0 ? from_balance - amount : bal_get(to);
    if (to_balance + amount < to_balance) return 4;
    bal_set(from, from_balance - amount);
    bal_set(to, to_balance + amount);
    uint8_t event[72];
    memcpy(event, from, 32);
    memcpy(event + 32, params, 40);
    tosp_fire_event(2, event, 72);
    return 0;
}

/* balance_of: account (32). */
TOS_ENTRY(2) {
    if (len != 32) return 1;
    tos_return_u64(bal_get(params));
    return 0;
}

TOS_ENTRY(3) {
    (void)params;
    (void)len;
    tos_return_u64(tos_storage_load_u64(KEY_SUPPLY));
    return 0;
}
