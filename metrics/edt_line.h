/*
 * edt_line.h: private. The per-line steps of the separable exact Euclidean
 * distance transform (Felzenszwalb & Huttenlocher 2012, "Distance Transforms of
 * Sampled Functions"), with per-axis spacing. Written once, as inline functions
 * that compile both as plain C and as CUDA __host__ __device__ code, so that the
 * CPU tests exercise the very logic a GPU kernel runs.
 *
 * A line is first compacted into the samples that matter (position, value); the
 * lower envelope of their parabolas is built over those, and evaluated where
 * needed. Values are squared distances in mm^2, always built in the same order,
 * so that every path (CPU, GPU, the brute-force reference of the tests) rounds
 * the same way:
 *     d2 = ((sx*dx)*(sx*dx) + (sy*dy)*(sy*dy)) + (sz*dz)*(sz*dz)
 * (compile with floating-point contraction off: no fused multiply-add).
 *
 * Band limit: a pass may drop any sample whose value exceeds a limit L (mm^2).
 * The result at a voxel is then a minimum over a subset of the features, so it is
 * never too small; and when it is <= L it is exact, because every partial sum on
 * the path to the true nearest feature is <= the true distance <= L. Dropping
 * fewer samples than allowed is always safe.
 */
#ifndef SEGARENA_EDT_LINE_H
#define SEGARENA_EDT_LINE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define SA_HOST_DEVICE __host__ __device__
#else
#define SA_HOST_DEVICE
#endif

/* Distances along a line are voxel counts below this; it marks "no feature". */
#define SA_EDT_NONE 0xFFFFu

/* The samples of one line that lie within `cap` voxels of a feature of the line,
 * given the line's n_features feature positions fx[] (ascending, < n): positions
 * xs[] in increasing order and their distance in voxels to the nearest feature
 * ds[]. Returns the count (0 when the line has no feature). n <= 65535. */
SA_HOST_DEVICE static inline int sa_line_band_samples(const uint16_t *fx, int n_features, int n,
                                                      unsigned cap, uint16_t *xs, uint16_t *ds) {
    if (n_features == 0) return 0;
    int count = 0, t = 0, p = fx[0];
    for (int x = p > (int)cap ? p - (int)cap : 0; x < p; x++) xs[count] = (uint16_t)x, ds[count++] = (uint16_t)(p - x);
    for (;;) {
        xs[count] = (uint16_t)p, ds[count++] = 0;
        if (++t == n_features) {
            for (int x = p + 1; x < n && (unsigned)(x - p) <= cap; x++) xs[count] = (uint16_t)x, ds[count++] = (uint16_t)(x - p);
            return count;
        }
        int q = fx[t];
        /* the gap (p, q): nearest of the two, within the band */
        for (int x = p + 1; x < q; x++) {
            unsigned a = (unsigned)(x - p), b = (unsigned)(q - x), d = a < b ? a : b;
            if (d <= cap) {
                xs[count] = (uint16_t)x, ds[count++] = (uint16_t)d;
            } else if (a > cap) { /* past the left band: jump to the right band */
                x = q - (int)cap - 1;
            }
        }
        p = q;
    }
}

/* The square of one axis's contribution: (w*d)^2. */
SA_HOST_DEVICE static inline double sa_axis_sq(double w, int d) {
    double t = w * (double)d;
    return t * t;
}

/* Value at `at` of the parabola rooted at `from` with height f. */
SA_HOST_DEVICE static inline double sa_parabola(double f, double w, int from, int at) {
    return f + sa_axis_sq(w, at - from);
}

/* Lower envelope of the parabolas y -> f[i] + (w*(y - pos[i]))^2 of m samples
 * (pos increasing). Fills v (sample indices, m entries) and zb (breakpoints,
 * m+1 entries; parabola k is lowest on [zb[k], zb[k+1]]). Returns the number of
 * parabolas (0 when m == 0). */
SA_HOST_DEVICE static inline int sa_envelope_build(const int *pos, const double *f, int m, double w,
                                                   int *v, double *zb) {
    if (m <= 0) return 0;
    const double w2 = w * w;
    int k = 0;
    v[0] = 0;
    zb[0] = -INFINITY;
    zb[1] = INFINITY;
    for (int q = 1; q < m; q++) {
        double s;
        for (;;) {
            int p = v[k];
            /* abscissa where parabolas p and q meet */
            s = ((f[q] - f[p]) / (w2 * (double)(pos[q] - pos[p])) + (double)(pos[q] + pos[p])) * 0.5;
            if (s <= zb[k] && k > 0) {
                k--;
                continue;
            }
            break;
        }
        if (s <= zb[k]) { /* k == 0 and q lies below p everywhere */
            v[0] = q;
            continue;
        }
        k++;
        v[k] = q;
        zb[k] = s;
        zb[k + 1] = INFINITY;
    }
    return k + 1;
}

/* Advances k to the parabola whose interval holds `at` (positions visited in
 * increasing order). */
SA_HOST_DEVICE static inline int sa_envelope_seek(const double *zb, int count, int k, int at) {
    while (k + 1 < count && zb[k + 1] < (double)at) k++;
    return k;
}

/* The sample whose parabola is lowest at `at`, among parabola k (the one the
 * breakpoints select) and its two neighbours, so that a breakpoint put on the
 * wrong side of `at` by rounding cannot give more than the true minimum.
 * Writes the value to *value and returns the sample index. */
SA_HOST_DEVICE static inline int sa_envelope_argmin(const int *pos, const double *f, double w,
                                                    const int *v, int count, int k, int at,
                                                    double *value) {
    int best = v[k];
    double best_value = sa_parabola(f[best], w, pos[best], at);
    if (k > 0) {
        int c = v[k - 1];
        double cv = sa_parabola(f[c], w, pos[c], at);
        if (cv < best_value) best = c, best_value = cv;
    }
    if (k + 1 < count) {
        int c = v[k + 1];
        double cv = sa_parabola(f[c], w, pos[c], at);
        if (cv < best_value) best = c, best_value = cv;
    }
    *value = best_value;
    return best;
}

#endif
