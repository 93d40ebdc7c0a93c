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

#include "host_device.h"

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

/* The envelope's arrays may be strided (element t at [t * st]): the GPU keeps the
 * scratch of many lines interleaved, so that neighbouring threads touch
 * neighbouring addresses. The CPU passes st = 1. */

/* Lower envelope of the parabolas y -> f[i] + (w*(y - pos[i]))^2 of m samples
 * (pos increasing). Fills v (sample indices, m entries) and zb (breakpoints,
 * m+1 entries; parabola k is lowest on [zb[k], zb[k+1]]). Returns the number of
 * parabolas (0 when m == 0). */
SA_HOST_DEVICE static inline int sa_envelope_build_st(const int *pos, const double *f, int m, double w,
                                                      int *v, double *zb, size_t st) {
    if (m <= 0) return 0;
    const double w2 = w * w;
    int k = 0;
    v[0] = 0;
    zb[0] = -INFINITY;
    zb[st] = INFINITY;
    for (int q = 1; q < m; q++) {
        double s;
        const double fq = f[(size_t)q * st];
        const int pq = pos[(size_t)q * st];
        for (;;) {
            int p = v[(size_t)k * st];
            /* abscissa where parabolas p and q meet */
            s = ((fq - f[(size_t)p * st]) / (w2 * (double)(pq - pos[(size_t)p * st])) +
                 (double)(pq + pos[(size_t)p * st])) * 0.5;
            if (s <= zb[(size_t)k * st] && k > 0) {
                k--;
                continue;
            }
            break;
        }
        if (s <= zb[(size_t)k * st]) { /* k == 0 and q lies below p everywhere */
            v[0] = q;
            continue;
        }
        k++;
        v[(size_t)k * st] = q;
        zb[(size_t)k * st] = s;
        zb[(size_t)(k + 1) * st] = INFINITY;
    }
    return k + 1;
}

SA_HOST_DEVICE static inline int sa_envelope_build(const int *pos, const double *f, int m, double w,
                                                   int *v, double *zb) {
    return sa_envelope_build_st(pos, f, m, w, v, zb, 1);
}

/* Advances k to the parabola whose interval holds `at` (positions visited in
 * increasing order). */
SA_HOST_DEVICE static inline int sa_envelope_seek_st(const double *zb, int count, int k, int at, size_t st) {
    while (k + 1 < count && zb[(size_t)(k + 1) * st] < (double)at) k++;
    return k;
}

SA_HOST_DEVICE static inline int sa_envelope_seek(const double *zb, int count, int k, int at) {
    return sa_envelope_seek_st(zb, count, k, at, 1);
}

/* The sample whose parabola is lowest at `at`, among parabola k (the one the
 * breakpoints select) and its two neighbours, so that a breakpoint put on the
 * wrong side of `at` by rounding cannot give more than the true minimum.
 * Writes the value to *value and returns the sample index. */
SA_HOST_DEVICE static inline int sa_envelope_argmin_st(const int *pos, const double *f, double w,
                                                       const int *v, int count, int k, int at,
                                                       double *value, size_t st) {
    int best = v[(size_t)k * st];
    double best_value = sa_parabola(f[(size_t)best * st], w, pos[(size_t)best * st], at);
    if (k > 0) {
        int c = v[(size_t)(k - 1) * st];
        double cv = sa_parabola(f[(size_t)c * st], w, pos[(size_t)c * st], at);
        if (cv < best_value) best = c, best_value = cv;
    }
    if (k + 1 < count) {
        int c = v[(size_t)(k + 1) * st];
        double cv = sa_parabola(f[(size_t)c * st], w, pos[(size_t)c * st], at);
        if (cv < best_value) best = c, best_value = cv;
    }
    *value = best_value;
    return best;
}

SA_HOST_DEVICE static inline int sa_envelope_argmin(const int *pos, const double *f, double w,
                                                    const int *v, int count, int k, int at,
                                                    double *value) {
    return sa_envelope_argmin_st(pos, f, w, v, count, k, at, value, 1);
}

/* ---- The dense transform's per-line steps (the GPU's kernels run these, one
 * line per thread; tests/unit/test_edt_line.c runs them on the CPU) ----------- */

/* Pass X, in pieces: a row may be swept one segment at a time (the GPU loads it
 * tile by tile), carrying *last, the distance to the nearest feature seen so
 * far (SA_EDT_NONE before any; start each sweep with that). The forward sweep
 * (segments left to right) writes d; the backward sweep (segments right to
 * left) lowers it. */
SA_HOST_DEVICE static inline void sa_line_nearest_forward(const uint8_t *flags, uint8_t bit, int n, unsigned *last,
                                                          uint16_t *d) {
    unsigned l = *last;
    for (int x = 0; x < n; x++) {
        if (flags[x] & bit) l = 0;
        else if (l != SA_EDT_NONE) l++;
        d[x] = (uint16_t)l;
    }
    *last = l;
}

SA_HOST_DEVICE static inline void sa_line_nearest_backward(const uint8_t *flags, uint8_t bit, int n, unsigned *last,
                                                           uint16_t *d) {
    unsigned l = *last;
    for (int x = n - 1; x >= 0; x--) {
        if (flags[x] & bit) l = 0;
        else if (l != SA_EDT_NONE) l++;
        if (l < d[x]) d[x] = (uint16_t)l;
    }
    *last = l;
}

/* Pass X: along one row of n flags (feature where flags[x] & bit), each voxel's
 * distance in voxels to the nearest feature of the row, or SA_EDT_NONE. */
SA_HOST_DEVICE static inline void sa_line_nearest(const uint8_t *flags, uint8_t bit, int n, uint16_t *d) {
    unsigned last = SA_EDT_NONE;
    sa_line_nearest_forward(flags, bit, n, &last, d);
    last = SA_EDT_NONE;
    sa_line_nearest_backward(flags, bit, n, &last, d);
}

/* Pass X's result for a voxel and pass Y's: the nearest feature of its z slice
 * lies dx voxels away along x in row ystar, packed as (dx << 16) | ystar;
 * SA_EDT_ENTRY_NONE when the slice has no feature. */
#define SA_EDT_ENTRY_NONE 0xFFFFFFFFu

/* Pass Y: one column (x, z) of n voxels along y. dx[j * dst] is pass X's
 * distance at row j; writes entry[j * est] for every j where need is NULL or
 * need[j * nst] != 0 (pass Z reads only the (x, y) columns that hold a query).
 * Scratch: pos, f, v, zb of n (zb: n + 1) strided elements (stride sst). */
SA_HOST_DEVICE static inline void sa_edt_column_y(const uint16_t *dx, size_t dst, int n, double sx, double sy,
                                                  int *pos, double *f, int *v, double *zb, size_t sst,
                                                  const unsigned long long *need, size_t nst, uint32_t *entry,
                                                  size_t est) {
    int m = 0;
    for (int j = 0; j < n; j++) {
        unsigned d = dx[(size_t)j * dst];
        if (d == SA_EDT_NONE) continue;
        pos[(size_t)m * sst] = j;
        f[(size_t)m * sst] = sa_axis_sq(sx, (int)d);
        m++;
    }
    if (m == 0) {
        for (int j = 0; j < n; j++)
            if (!need || need[(size_t)j * nst]) entry[(size_t)j * est] = SA_EDT_ENTRY_NONE;
        return;
    }
    int count = sa_envelope_build_st(pos, f, m, sy, v, zb, sst), k = 0;
    for (int j = 0; j < n; j++) {
        if (need && !need[(size_t)j * nst]) continue;
        double d2;
        k = sa_envelope_seek_st(zb, count, k, j, sst);
        int b = sa_envelope_argmin_st(pos, f, sy, v, count, k, j, &d2, sst);
        int row = pos[(size_t)b * sst];
        entry[(size_t)j * est] = ((uint32_t)dx[(size_t)row * dst] << 16) | (uint32_t)row;
    }
}

/* Pass Z, first half: the envelope along one column (x, y) of n voxels from pass
 * Y's entries (entry[k * est]); j is the column's y. Returns the parabola count
 * (0: no feature anywhere); evaluate with sa_envelope_seek_st and
 * sa_envelope_argmin_st (weight sz) at the voxels that need it. */
SA_HOST_DEVICE static inline int sa_edt_column_z_build(const uint32_t *entry, size_t est, int n, int j, double sx,
                                                       double sy, double sz, int *pos, double *f, int *v,
                                                       double *zb, size_t sst) {
    int m = 0;
    for (int k = 0; k < n; k++) {
        uint32_t e = entry[(size_t)k * est];
        if (e == SA_EDT_ENTRY_NONE) continue;
        pos[(size_t)m * sst] = k;
        f[(size_t)m * sst] = sa_axis_sq(sx, (int)(e >> 16)) + sa_axis_sq(sy, j - (int)(e & 0xFFFFu));
        m++;
    }
    return sa_envelope_build_st(pos, f, m, sz, v, zb, sst);
}

/* ---- The compact envelope (what the GPU's kernels keep per line) -------------
 * The same envelope as sa_envelope_build_st, built one sample at a time and
 * storing, per parabola, its root position vp, its height vf and a 16-bit payload
 * vd (pass X's distance, for pass Y) instead of sample indices into separate
 * position and value arrays: 20 bytes per parabola instead of 24 bytes per sample
 * plus 12 per parabola, so the GPU moves less memory. The arithmetic is operation
 * for operation that of sa_envelope_build_st and sa_envelope_argmin_st, so the
 * results are the same bits (tests/unit/test_edt_line.c checks it). */

/* Adds the sample at position q (greater than every earlier one) with height fq
 * to an envelope of `count` parabolas; returns the new count. */
SA_HOST_DEVICE static inline int sa_envelope_push(int count, int q, double fq, uint16_t payload, double w2,
                                                  uint16_t *vp, uint16_t *vd, double *vf, double *zb, size_t st) {
    if (count == 0) {
        vp[0] = (uint16_t)q, vf[0] = fq;
        if (vd) vd[0] = payload;
        zb[0] = -INFINITY;
        zb[st] = INFINITY;
        return 1;
    }
    int k = count - 1;
    double s;
    for (;;) {
        int p = vp[(size_t)k * st];
        s = ((fq - vf[(size_t)k * st]) / (w2 * (double)(q - p)) + (double)(q + p)) * 0.5;
        if (s <= zb[(size_t)k * st] && k > 0) {
            k--;
            continue;
        }
        break;
    }
    if (s <= zb[(size_t)k * st]) { /* k == 0 and q lies below p everywhere */
        vp[0] = (uint16_t)q, vf[0] = fq;
        if (vd) vd[0] = payload;
        return 1;
    }
    k++;
    vp[(size_t)k * st] = (uint16_t)q, vf[(size_t)k * st] = fq;
    if (vd) vd[(size_t)k * st] = payload;
    zb[(size_t)k * st] = s;
    zb[(size_t)(k + 1) * st] = INFINITY;
    return k + 1;
}

/* The parabola lowest at `at` among k (after sa_envelope_seek_st) and its two
 * neighbours, as sa_envelope_argmin_st: returns its index, value in *value. */
SA_HOST_DEVICE static inline int sa_envelope_lowest(const uint16_t *vp, const double *vf, double w, int count, int k,
                                                    int at, double *value, size_t st) {
    int best = k;
    double best_value = sa_parabola(vf[(size_t)k * st], w, vp[(size_t)k * st], at);
    if (k > 0) {
        double cv = sa_parabola(vf[(size_t)(k - 1) * st], w, vp[(size_t)(k - 1) * st], at);
        if (cv < best_value) best = k - 1, best_value = cv;
    }
    if (k + 1 < count) {
        double cv = sa_parabola(vf[(size_t)(k + 1) * st], w, vp[(size_t)(k + 1) * st], at);
        if (cv < best_value) best = k + 1, best_value = cv;
    }
    *value = best_value;
    return best;
}

/* Pass Y with the compact envelope: as sa_edt_column_y (same entries, same
 * need rule); scratch vp, vd, vf, zb of n (zb: n + 1) elements at stride sst. */
SA_HOST_DEVICE static inline void sa_edt_column_y_compact(const uint16_t *dx, size_t dst, int n, double sx, double sy,
                                                          uint16_t *vp, uint16_t *vd, double *vf, double *zb,
                                                          size_t sst, const unsigned long long *need, size_t nst,
                                                          uint32_t *entry, size_t est) {
    const double w2 = sy * sy;
    int count = 0;
    for (int j = 0; j < n; j++) {
        unsigned d = dx[(size_t)j * dst];
        if (d != SA_EDT_NONE) count = sa_envelope_push(count, j, sa_axis_sq(sx, (int)d), (uint16_t)d, w2, vp, vd, vf, zb, sst);
    }
    int k = 0;
    for (int j = 0; j < n; j++) {
        if (need && !need[(size_t)j * nst]) continue;
        if (count == 0) {
            entry[(size_t)j * est] = SA_EDT_ENTRY_NONE;
            continue;
        }
        double d2;
        k = sa_envelope_seek_st(zb, count, k, j, sst);
        int b = sa_envelope_lowest(vp, vf, sy, count, k, j, &d2, sst);
        entry[(size_t)j * est] = ((uint32_t)vd[(size_t)b * sst] << 16) | (uint32_t)vp[(size_t)b * sst];
    }
}

/* Pass Z's envelope with the compact layout, as sa_edt_column_z_build; evaluate
 * with sa_envelope_seek_st and sa_envelope_lowest (weight sz). */
SA_HOST_DEVICE static inline int sa_edt_column_z_compact(const uint32_t *entry, size_t est, int n, int j, double sx,
                                                         double sy, double sz, uint16_t *vp, double *vf, double *zb,
                                                         size_t sst) {
    const double w2 = sz * sz;
    int count = 0;
    for (int k = 0; k < n; k++) {
        uint32_t e = entry[(size_t)k * est];
        if (e == SA_EDT_ENTRY_NONE) continue;
        double f = sa_axis_sq(sx, (int)(e >> 16)) + sa_axis_sq(sy, j - (int)(e & 0xFFFFu));
        count = sa_envelope_push(count, k, f, 0, w2, vp, NULL, vf, zb, sst);
    }
    return count;
}

#endif
