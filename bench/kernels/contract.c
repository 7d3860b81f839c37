/* contract.c: the kernels of kernels.c as a TOS contract, for TBPF and wasm32.
 *   entry 0   kernel(id u32, n u32): runs kernel `id` with `n` (kernels.c); return data =
 *             the checksum (u64 LE). Exits 1 on params other than 8 bytes, 2 on an unknown
 *             id or an n out of range.
 * The scratch memory is the 32 KiB heap region on TBPF (no writable globals there) and a
 * static array on wasm (reset by every call, which instantiates the module afresh). */
#include "tos.h"
#include "kernels.c"

#if defined(__wasm32__)
static uint8_t scratch_buffer[KERNEL_SCRATCH_SIZE] __attribute__((aligned(8)));
#define KERNEL_SCRATCH scratch_buffer
#else
#define KERNEL_SCRATCH TOS_HEAP
#endif

TOS_ENTRY(0) {
    if (len != 8) return 1;
    uint64_t sum = kernel_run(tos_read_u32(params), tos_read_u32(params + 4), KERNEL_SCRATCH);
    if (sum == KERNEL_BAD_ARGS) return 2;
    tos_return_u64(sum);
    return 0;
}
