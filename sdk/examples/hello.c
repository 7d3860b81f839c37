/* hello: entry 0 logs "hello, tos" (10 bytes) and succeeds. See docs/EXAMPLES.md. */
#include "tos.h"

TOS_ENTRY(0) {
    (void)params;
    (void)len;
    tosp_log(TOS_LIT("hello, tos"));
    return 0;
}
