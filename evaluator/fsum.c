/*
 * fsum.c: sums whose result depends only on the values summed, never on
 * their order. Two teams with the same per-case values in another case order must
 * get the same mean, hence the same rank (shared/spec: "Equal values share the
 * lower rank"); a left-to-right double sum gives 0.1 + 0.2 + 0.3 and 0.3 + 0.2 +
 * 0.1 different last bits. This is Shewchuk's exact summation as Python's
 * math.fsum does it: the running total is kept exactly as non-overlapping double
 * partials, and the result is the exact sum rounded once to the nearest double
 * (ties to even). Non-overlapping partials hold distinct bit positions, and
 * finite doubles span 2098 of them (2^-1074 to 2^1023), so 2100 partials always
 * suffice (a sum of metric values needs a few). Exact whenever no running total
 * leaves the double range (about 1.8e308, far above any sum of metric values);
 * one that does gives NaN, as Python's fsum raises an error.
 */
#include <math.h>
#include <string.h>

#include "rank_internal.h"

void sa_fsum_init(sa_fsum *s) { /* the partials are written before they are read */
    s->n = 0;
    s->nonfinite = 0;
    s->overflow = 0;
    s->plain = 0.0;
}

void sa_fsum_add(sa_fsum *s, double x) {
    s->plain += x;
    if (!isfinite(x)) {
        s->nonfinite = 1;
        return;
    }
    if (s->overflow) return;
    int i = 0;
    for (int j = 0; j < s->n; j++) {
        double y = s->p[j];
        if (fabs(x) < fabs(y)) {
            double t = x;
            x = y;
            y = t;
        }
        double hi = x + y;
        double lo = y - (hi - x);
        if (lo != 0.0) s->p[i++] = lo;
        x = hi;
    }
    if (!isfinite(x) || i >= SA_FSUM_PARTIALS) { /* the total left the double range */
        s->overflow = 1;
        return;
    }
    s->p[i++] = x;
    s->n = i;
}

double sa_fsum_result(const sa_fsum *s) {
    if (s->nonfinite) return s->plain; /* inf, -inf or NaN whatever the order */
    if (s->overflow) return NAN;
    int n = s->n;
    if (n == 0) return 0.0;
    double hi = s->p[--n], lo = 0.0;
    while (n > 0) {
        double x = hi, y = s->p[--n];
        hi = x + y;
        double yr = hi - x;
        lo = y - yr;
        if (lo != 0.0) break;
    }
    /* round half to even across partials: when the rest below lo pulls the same
     * way, the exact sum is past the halfway point lo marks */
    if (n > 0 && ((lo < 0.0 && s->p[n - 1] < 0.0) || (lo > 0.0 && s->p[n - 1] > 0.0))) {
        double y = lo * 2.0;
        double x = hi + y;
        double yr = x - hi;
        if (y == yr) hi = x;
    }
    return hi;
}

double sa_fsum_mean(const double *values, size_t n) {
    if (n == 0) return 0.0;
    sa_fsum s;
    sa_fsum_init(&s);
    for (size_t i = 0; i < n; i++) sa_fsum_add(&s, values[i]);
    return sa_fsum_result(&s) / (double)n;
}
