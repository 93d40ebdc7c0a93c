/*
 * edt_line.h: private. The per-line steps of the separable exact Euclidean
 * distance transform (Felzenszwalb & Huttenlocher 2012, "Distance Transforms of
 * Sampled Functions"), with per-axis spacing. Written once, as inline functions
 * that compile both as plain C and as CUDA __host__ __device__ code, so that the
 * CPU tests exercise the very logic a GPU kernel runs.
 *
 * Band limit: a pass may drop every partial value above a limit L (mm^2). The
 * result at a voxel is then a minimum over a subset of the features, so it is
 * never too small; and when it is <= L it is exact, because every partial sum on
 * the path to the true nearest feature is <= the true distance <= L.
 *
 * Squared distances are always built in the same order, so that every path (CPU,
 * GPU, the brute-force reference of the tests) rounds the same way:
 *     d2 = ((sx*dx)*(sx*dx) + (sy*dy)*(sy*dy)) + (sz*dz)*(sz*dz)
 * (compile with floating-point contraction off: no fused multiply-add).
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

/* Squared 1D distance (w*d)^2 from each of n samples to the nearest feature on
 * the line (feat[i*fs] != 0); INFINITY where there is none or where it exceeds
 * `limit` (a band limit in mm^2; DBL_MAX for none, never INFINITY). Returns whether the line
 * has a feature. */
SA_HOST_DEVICE static inline int sa_line_feature_sqdist(const uint8_t *feat, ptrdiff_t fs, int n,
                                                        double w, double limit, double *out,
                                                        ptrdiff_t os) {
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (feat[i * fs]) last = i;
        out[i * os] = last >= 0 ? (double)(i - last) : INFINITY;
    }
    if (last < 0) return 0;
    int next = -1;
    for (int i = n - 1; i >= 0; i--) {
        if (feat[i * fs]) next = i;
        double d = out[i * os];
        if (next >= 0 && (double)(next - i) < d) d = (double)(next - i);
        double t = w * d;
        out[i * os] = t * t <= limit ? t * t : INFINITY;
    }
    return 1;
}

/* Value at `at` of the parabola rooted at `from` with height f: f + (w*(at-from))^2. */
SA_HOST_DEVICE static inline double sa_parabola(double f, double w, int from, int at) {
    double t = w * (double)(at - from);
    return f + t * t;
}

/* Lower envelope of the parabolas y -> f[q] + (w*(y-q))^2 for the f[q] <= limit,
 * q in [0, n). Fills v (roots, n entries) and zb (breakpoints, n+1 entries;
 * parabola k is lowest on [zb[k], zb[k+1]]). Returns the number of parabolas. */
SA_HOST_DEVICE static inline int sa_envelope_build(const double *f, ptrdiff_t fs, int n, double w,
                                                   double limit, int *v, double *zb) {
    const double w2 = w * w;
    int k = -1;
    for (int q = 0; q < n; q++) {
        double fq = f[q * fs];
        if (!(fq <= limit)) continue;
        if (k < 0) {
            k = 0;
            v[0] = q;
            zb[0] = -INFINITY;
            zb[1] = INFINITY;
            continue;
        }
        double s;
        for (;;) {
            int p = v[k];
            /* Abscissa where parabolas p and q meet. */
            s = ((fq - f[p * fs]) / (w2 * (double)(q - p)) + (double)(q + p)) * 0.5;
            if (s <= zb[k] && k > 0) {
                k--;
                continue;
            }
            break;
        }
        if (s <= zb[k]) { /* k == 0 and q dominates p everywhere */
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

/* The envelope's value at `at`, where parabola k is the one the breakpoints
 * select. Its neighbours are evaluated too, so that a breakpoint that rounding
 * put on the wrong side of `at` cannot make the result larger than the true
 * minimum over these parabolas. */
SA_HOST_DEVICE static inline double sa_envelope_value(const double *f, ptrdiff_t fs, double w,
                                                      const int *v, int count, int k, int at) {
    double best = sa_parabola(f[v[k] * fs], w, v[k], at);
    if (k > 0) {
        double c = sa_parabola(f[v[k - 1] * fs], w, v[k - 1], at);
        if (c < best) best = c;
    }
    if (k + 1 < count) {
        double c = sa_parabola(f[v[k + 1] * fs], w, v[k + 1], at);
        if (c < best) best = c;
    }
    return best;
}

/* Advances k to the parabola whose interval holds `at` (positions visited in
 * increasing order). */
SA_HOST_DEVICE static inline int sa_envelope_seek(const double *zb, int count, int k, int at) {
    while (k + 1 < count && zb[k + 1] < (double)at) k++;
    return k;
}

/* One full line of a separable pass: out[i] = min_q f[q] + (w*(i-q))^2 over the
 * f[q] <= limit (out must not alias f). */
SA_HOST_DEVICE static inline void sa_line_envelope_all(const double *f, ptrdiff_t fs, int n,
                                                       double w, double limit, int *v,
                                                       double *zb, double *out, ptrdiff_t os) {
    int count = sa_envelope_build(f, fs, n, w, limit, v, zb);
    if (count == 0) {
        for (int i = 0; i < n; i++) out[i * os] = INFINITY;
        return;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        k = sa_envelope_seek(zb, count, k, i);
        out[i * os] = sa_envelope_value(f, fs, w, v, count, k, i);
    }
}

#endif
