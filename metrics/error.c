/* error.c: how library code hands a one-line error message back to its caller. */
#include <stdarg.h>
#include <stdio.h>

#include "metrics.h"

int sa_error_set(sa_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
