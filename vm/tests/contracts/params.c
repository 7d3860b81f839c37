/* params: decodes tos-vm's borsh parameters with tos_params.h (vm/tests/params_c.rs).
 *   entry 0  (amount u64, data bytes, name string, account hash)
 *            logs data, then name; return data = amount (8) ++ account (32).
 *            Exit 100 + error on the first parameter, 200 + ... on the second, and so on;
 *            500 when parameters are left over. */
#include "tos.h"
#include "tos_params.h"

TOS_ENTRY(0) {
    tos_params p;
    uint64_t amount;
    const uint8_t *data;
    uint64_t data_len;
    const char *name;
    uint64_t name_len;
    const uint8_t *account;
    int e;
    tos_params_init(&p, params, len);
    if ((e = tos_params_u64(&p, &amount)) != TOS_PARAMS_OK) return 100 + (uint64_t)e;
    if ((e = tos_params_bytes(&p, &data, &data_len)) != TOS_PARAMS_OK) return 200 + (uint64_t)e;
    if ((e = tos_params_string(&p, &name, &name_len)) != TOS_PARAMS_OK) return 300 + (uint64_t)e;
    if ((e = tos_params_hash(&p, &account)) != TOS_PARAMS_OK) return 400 + (uint64_t)e;
    if (!tos_params_done(&p)) return 500;
    tosp_log(data, data_len);
    tosp_log(name, name_len);
    uint8_t out[40];
    tos_write_u64(out, amount);
    memcpy(out + 8, account, 32);
    tosp_set_return_data(out, 40);
    return 0;
}
