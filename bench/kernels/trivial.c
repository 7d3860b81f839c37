/* trivial.c: the smallest useful contract, for the cost of a call itself.
 *   entry 0   returns 0: no syscall, no memory access.
 * Built with -DBENCH_BIG_TABLE (and the generated big_table.h on the include path) it also
 * carries a read-only table that brings the module near 1 MiB, and
 *   entry 1   returns the table's byte at index len(params) (so the table is kept).
 * Entry 0 is the same code in both builds: the pair measures what module size alone costs
 * a call. */
#include "tos.h"

TOS_ENTRY(0) {
    (void)params;
    (void)len;
    return 0;
}

#if defined(BENCH_BIG_TABLE)
#include "big_table.h"
TOS_ENTRY(1) {
    (void)params;
    return big_table[len % sizeof(big_table)];
}
#endif
