/*
 * fsum.c: sums whose result depends only on the values summed, never on
 * their order. Two teams with the same per-case values in another case order must
 * get the same mean, hence the same rank (shared/spec: "Equal values share the
 * lower rank"); a left-to-right double sum gives 0.1 + 0.2 + 0.3 and 0.3 + 0.2 +
 * 0.1 different last bits. This is Shewchuk's exact summation as Python's
 * math.fsum does it: the running total is kept exactly as non-overlapping double
 * partials, and the result is the exact sum rounded once to the nearest double
 * (ties to even). Finite doubles need at most about 40 partials (2098 exponent
 * positions, 53 bits each).
 */
#include <math.h>
#include <string.h>

#include "rank_internal.h"

void sa_fsum_init(sa_fsum *s) { memset(s, 0, sizeof *s); }

void sa_fsum_add(sa_fsum *s, double x) {
    s->plain += x;
    if (!isfinite(x)) {
        s->nonfinite = 1;
        return;
    }
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
    if (!isfinite(x)) { /* the exact total left the double range */
        s->nonfinite = 1;
        return;
    }
    if (i < SA_FSUM_PARTIALS) s->p[i++] = x;
    else s->nonfinite = 1; /* cannot happen for finite doubles (see above) */
    s->n = i;
}

double sa_fsum_result(const sa_fsum *s) {
    if (s->nonfinite) return s->plain; /* inf, -inf or NaN whatever the order */
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
