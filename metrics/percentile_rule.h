/*
 * percentile_rule.h: private. The percentile rule of numpy.percentile's default
 * ("linear") method, split into its two halves so that the CPU (selection,
 * percentile.c) and the GPU (radix sort, metrics/cuda/) find the same order
 * statistics and combine them with the same operations, bit for bit:
 *     h = (n - 1) * (q / 100);  i = floor(h);  t = h - i
 *     a = x(i), b = x(i+1) (order statistics; b = a when i = n - 1)
 *     result = t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t
 */
#ifndef SEGARENA_PERCENTILE_RULE_H
#define SEGARENA_PERCENTILE_RULE_H

#include <math.h>
#include <stddef.h>

#include "host_device.h"

/* The order statistic i (0-based) and the weight t of percentile q of n >= 1 values. */
SA_HOST_DEVICE static inline size_t sa_percentile_rank(size_t n, double q, double *t) {
    double h = (double)(n - 1) * (q / 100.0);
    double fl = floor(h);
    size_t i = (size_t)fl;
    if (i > n - 1) i = n - 1;
    *t = h - fl;
    return i;
}

/* The percentile from x(i) = a and x(i+1) = b (b = a when i is the last). */
SA_HOST_DEVICE static inline double sa_percentile_combine(double a, double b, double t) {
    double diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

#endif
