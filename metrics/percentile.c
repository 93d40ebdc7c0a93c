/*
 * percentile.c: percentiles by selection (linear time, no full sort), with the
 * interpolation rule of numpy.percentile's default method ("linear"), reproduced
 * operation by operation (percentile_rule.h, shared with the GPU) so that results
 * are bit-identical to numpy 1.22+:
 *     h = (n - 1) * (q / 100);  i = floor(h);  t = h - i
 *     a = x(i), b = x(i+1) (order statistics; b = a when i = n - 1)
 *     result = t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t
 */
#include <math.h>
#include <stddef.h>

#include "metrics.h"
#include "percentile_rule.h"

static void swap(double *a, double *b) {
    double t = *a;
    *a = *b;
    *b = t;
}

/* Puts the k-th smallest value at values[k], smaller ones before it and larger
 * or equal ones after. Three-way partitioning keeps runs of equal distances
 * (very common: surfaces that agree give many exact zeros) linear. */
static void select_kth(double *values, size_t n, size_t k) {
    size_t lo = 0, hi = n; /* the answer lies in [lo, hi) */
    uint64_t state = 0x9E3779B97F4A7C15ull;
    while (hi - lo > 1) {
        /* pivot: median of three pseudo-random samples */
        size_t span = hi - lo, idx[3];
        for (int s = 0; s < 3; s++) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            idx[s] = lo + (size_t)(state % span);
        }
        double a = values[idx[0]], b = values[idx[1]], c = values[idx[2]];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* [lo, lt) < pivot, [lt, i) == pivot, (gt, hi) > pivot */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (values[i] < pivot)
                swap(&values[lt++], &values[i++]);
            else if (values[i] > pivot)
                swap(&values[i], &values[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

double sa_percentile(double *values, size_t n, double q) {
    double t;
    size_t i = sa_percentile_rank(n, q, &t);
    select_kth(values, n, i);
    double a = values[i], b = a;
    if (i + 1 < n) { /* x(i+1) is the smallest value after position i */
        b = values[i + 1];
        for (size_t j = i + 2; j < n; j++)
            if (values[j] < b) b = values[j];
    }
    return sa_percentile_combine(a, b, t);
}
