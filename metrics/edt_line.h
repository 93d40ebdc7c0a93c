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

/* Loops the GPU should unroll (their small arrays then live in registers);
 * only in nvcc's device pass, which the host compiler never sees. */
#ifdef __CUDA_ARCH__
#define SA_UNROLL _Pragma("unroll")
#else
#define SA_UNROLL
#endif

/* The lean builders read a line this many samples at a time, so that a GPU
 * thread has that many loads in flight instead of one. */
#define SA_EDT_READ_AHEAD 8

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

/* The envelope arrays may be strided (element t at [t * st]): the GPU keeps the
 * scratch of many lines interleaved, so that neighbouring threads touch
 * neighbouring addresses. The CPU passes st = 1.
 *
 * No division anywhere: where Felzenszwalb & Huttenlocher compare breakpoints
 * (the abscissae where two parabolas meet, a quotient), the envelope asks the
 * same questions of the parabolas' heights by products of small integers:
 * whether a parabola is hidden (sa_parabola_hidden) and whether the next one
 * lies below at a point (sa_parabola_below, sa_envelope_lowest_st). An IEEE
 * double division costs a GPU about twenty instructions; this saves two or
 * three of them per voxel, and no breakpoint is stored or recomputed. */

/* Whether parabola p, between b and q (b < p < q, heights fb, fp, fq), is lowest
 * nowhere once q is added: q overtakes p no later than p overtakes b. That is
 * breakpoint(p, q) <= breakpoint(b, p), where breakpoint(a, c) =
 * ((fc - fa) / (w2 * (c - a)) + (c + a)) / 2, multiplied out by the positive
 * w2 * (q - p) * (p - b): the integer products are exact in a double (lines are
 * shorter than 2^16). */
SA_HOST_DEVICE static inline int sa_parabola_hidden(int b, double fb, int p, double fp, int q, double fq,
                                                    double w2) {
    const double a = (double)(q - p), c = (double)(p - b);
    return (fq - fp) * c + w2 * (a * c * (a + c)) <= (fp - fb) * a;
}

/* Lower envelope of the parabolas y -> f[i] + (w*(y - pos[i]))^2 of m samples
 * (pos increasing): fills v with the indices of the samples whose parabolas are
 * lowest somewhere, in order, and returns their count (0 when m == 0). */
SA_HOST_DEVICE static inline int sa_envelope_build_st(const int *pos, const double *f, int m, double w, int *v,
                                                      size_t st) {
    if (m <= 0) return 0;
    const double w2 = w * w;
    int k = 0;
    v[0] = 0;
    for (int q = 1; q < m; q++) {
        const double fq = f[(size_t)q * st];
        const int pq = pos[(size_t)q * st];
        while (k > 0) {
            const int b = v[(size_t)(k - 1) * st], p = v[(size_t)k * st];
            if (!sa_parabola_hidden(pos[(size_t)b * st], f[(size_t)b * st], pos[(size_t)p * st],
                                    f[(size_t)p * st], pq, fq, w2))
                break;
            k--;
        }
        v[(size_t)(++k) * st] = q;
    }
    return k + 1;
}

SA_HOST_DEVICE static inline int sa_envelope_build(const int *pos, const double *f, int m, double w, int *v) {
    return sa_envelope_build_st(pos, f, m, w, v, 1);
}

/* Whether the parabola rooted at q (height fq) lies strictly below the one
 * rooted at p < q (height fp) at `at`: fq + w2*(at - q)^2 < fp + w2*(at - p)^2,
 * asked as fq - fp < w2 * ((q - p) * (2*at - p - q)). The integer product is
 * exact in a double and rounding never reverses an order, so the right side
 * never decreases as `at` grows: once q is below p, it stays below at every
 * later point, as in exact arithmetic. */
SA_HOST_DEVICE static inline int sa_parabola_below(int p, double fp, int q, double fq, double w2, int at) {
    return fq - fp < w2 * ((double)(q - p) * (double)(2 * at - p - q));
}

/* The envelope's lowest parabola at `at`, for positions visited in increasing
 * order: from parabola k, steps to the next while the next one lies strictly
 * below it there (sa_parabola_below; along the envelope, the parabolas at a
 * point fall to the lowest and rise after it). Writes the lowest one's value to
 * *value and returns the new k (its sample: v[k]); count > 0. As each step,
 * once taken, would be taken at every later point, the parabola chosen does
 * not depend on which earlier points were visited: the CPU, which evaluates
 * only some, and the GPU, which evaluates all, choose the same one. */
SA_HOST_DEVICE static inline int sa_envelope_lowest_st(const int *pos, const double *f, double w, const int *v,
                                                       int count, int k, int at, double *value, size_t st) {
    const double w2 = w * w;
    while (k + 1 < count) {
        const int c = v[(size_t)k * st], n = v[(size_t)(k + 1) * st];
        if (!sa_parabola_below(pos[(size_t)c * st], f[(size_t)c * st], pos[(size_t)n * st], f[(size_t)n * st], w2,
                               at))
            break;
        k++;
    }
    const int s = v[(size_t)k * st];
    *value = sa_parabola(f[(size_t)s * st], w, pos[(size_t)s * st], at);
    return k;
}

SA_HOST_DEVICE static inline int sa_envelope_lowest(const int *pos, const double *f, double w, const int *v,
                                                    int count, int k, int at, double *value) {
    return sa_envelope_lowest_st(pos, f, w, v, count, k, at, value, 1);
}

/* ---- The dense transform's per-line steps, with the envelope above: the
 * reference that tests/unit/test_edt_line.c holds the GPU's lean steps (below)
 * to, and checks against the brute force and the CPU engine ---------------- */

/* Pass X: along one row of n flags (feature where flags[x] & bit), each voxel's
 * distance in voxels to the nearest feature of the row, or SA_EDT_NONE: a
 * forward sweep, then a backward one. (The GPU computes the same from the row's
 * bits: sa_row_bits_nearest.) */
SA_HOST_DEVICE static inline void sa_line_nearest(const uint8_t *flags, uint8_t bit, int n, uint16_t *d) {
    unsigned l = SA_EDT_NONE;
    for (int x = 0; x < n; x++) {
        if (flags[x] & bit) l = 0;
        else if (l != SA_EDT_NONE) l++;
        d[x] = (uint16_t)l;
    }
    l = SA_EDT_NONE;
    for (int x = n - 1; x >= 0; x--) {
        if (flags[x] & bit) l = 0;
        else if (l != SA_EDT_NONE) l++;
        if (l < d[x]) d[x] = (uint16_t)l;
    }
}

/* Pass X's result for a voxel and pass Y's: the nearest feature of its z slice
 * lies dx voxels away along x in row ystar, packed as (dx << 16) | ystar;
 * SA_EDT_ENTRY_NONE when the slice has no feature. */
#define SA_EDT_ENTRY_NONE 0xFFFFFFFFu

/* Pass Y: one column (x, z) of n voxels along y. dx[j * dst] is pass X's
 * distance at row j; writes entry[j * est] for every j where need is NULL or
 * need[j * nst] != 0 (pass Z reads only the (x, y) columns that hold a query).
 * Scratch: pos, f, v of n strided elements (stride sst). */
SA_HOST_DEVICE static inline void sa_edt_column_y(const uint16_t *dx, size_t dst, int n, double sx, double sy,
                                                  int *pos, double *f, int *v, size_t sst,
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
    int count = sa_envelope_build_st(pos, f, m, sy, v, sst), k = 0;
    for (int j = 0; j < n; j++) {
        if (need && !need[(size_t)j * nst]) continue;
        double d2;
        k = sa_envelope_lowest_st(pos, f, sy, v, count, k, j, &d2, sst);
        int row = pos[(size_t)v[(size_t)k * sst] * sst];
        entry[(size_t)j * est] = ((uint32_t)dx[(size_t)row * dst] << 16) | (uint32_t)row;
    }
}

/* Pass Z, first half: the envelope along one column (x, y) of n voxels from pass
 * Y's entries (entry[k * est]); j is the column's y. Returns the parabola count
 * (0: no feature anywhere); evaluate with sa_envelope_lowest_st (weight sz) at
 * the voxels that need it. */
SA_HOST_DEVICE static inline int sa_edt_column_z_build(const uint32_t *entry, size_t est, int n, int j, double sx,
                                                       double sy, double sz, int *pos, double *f, int *v,
                                                       size_t sst) {
    int m = 0;
    for (int k = 0; k < n; k++) {
        uint32_t e = entry[(size_t)k * est];
        if (e == SA_EDT_ENTRY_NONE) continue;
        pos[(size_t)m * sst] = k;
        f[(size_t)m * sst] = sa_axis_sq(sx, (int)(e >> 16)) + sa_axis_sq(sy, j - (int)(e & 0xFFFFu));
        m++;
    }
    return sa_envelope_build_st(pos, f, m, sz, v, sst);
}

/* ---- The lean envelope (what the GPU's kernels keep per line) ---------------
 * The same envelope again, storing per parabola one 32-bit node: its root
 * position in the high bits and a payload in the low bits, from which its
 * height is computed again when needed (sa_height). Pass Y's payload is pass
 * X's distance; pass Z's is pass Y's entry (dx, row), packed in as few bits as
 * the region needs. Where root and payload do not fit 32 bits together (pass Z
 * on very large regions) the roots go to a second, 16-bit array. So 4 bytes a
 * parabola (6 in that case) instead of 20.
 *
 * A parabola's height is the same expression of the same payload as the
 * reference's f[] (sa_height), and the lean builder and walk ask the same
 * questions in the same order (sa_parabola_hidden, sa_parabola_below), so
 * decisions and results are those of sa_envelope_build_st and
 * sa_envelope_lowest_st, bit for bit (test_edt_line checks). The top two
 * parabolas stay in the builder's registers (sa_lean_envelope), the two around
 * the evaluation point in the cursor's (sa_lean_cursor): 4 bytes a parabola in
 * memory instead of the 16 a sample and 4 a parabola the reference keeps. */

/* Where a line's parabolas are kept: parabola t's node at node[t * st]; with
 * root NULL its root is node >> shift and its payload the bits below; else its
 * root is root[t * st] and its payload the whole node. */
typedef struct sa_lean_store {
    uint32_t *node;
    uint16_t *root;
    size_t st;
    int shift;
} sa_lean_store;

SA_HOST_DEVICE static inline void sa_lean_load(const sa_lean_store *s, int t, int *root, uint32_t *pay) {
    uint32_t node = s->node[(size_t)t * s->st];
    if (s->root) {
        *root = s->root[(size_t)t * s->st], *pay = node;
    } else {
        *root = (int)(node >> s->shift), *pay = node & ((1u << s->shift) - 1u);
    }
}

SA_HOST_DEVICE static inline void sa_lean_keep(const sa_lean_store *s, int t, int root, uint32_t pay) {
    if (s->root) {
        s->root[(size_t)t * s->st] = (uint16_t)root, s->node[(size_t)t * s->st] = pay;
    } else {
        s->node[(size_t)t * s->st] = ((uint32_t)root << s->shift) | pay;
    }
}

/* Bits to write any value below `n` (0 for n <= 1). */
SA_HOST_DEVICE static inline int sa_bits_below(unsigned n) {
    int b = 0;
    while (b < 32 && (n - 1u) >> b && n > 1) b++;
    return b;
}

/* How a parabola's height follows from its payload: pass Y (two_axes 0):
 * (sx*d)^2 for pass X's distance d; pass Z (two_axes 1): the 2-D squared
 * distance of the entry (dx << row_bits) | row from row j:
 * (sx*dx)^2 + (sy*(j-row))^2 (sa_edt_column_z_build's expression). */
typedef struct sa_height_rule {
    double sx, sy;
    int j, two_axes, row_bits;
} sa_height_rule;

SA_HOST_DEVICE static inline double sa_height(const sa_height_rule *h, uint32_t payload) {
    if (!h->two_axes) return sa_axis_sq(h->sx, (int)payload);
    return sa_axis_sq(h->sx, (int)(payload >> h->row_bits)) +
           sa_axis_sq(h->sy, h->j - (int)(payload & ((1u << h->row_bits) - 1u)));
}

typedef struct sa_lean_envelope {
    int count;             /* parabolas */
    int top_p, below_p;    /* the last two parabolas' roots (below: with count >= 2) */
    double top_f, below_f; /* and heights */
} sa_lean_envelope;

SA_HOST_DEVICE static inline void sa_lean_clear(sa_lean_envelope *e) {
    e->count = 0, e->top_p = e->below_p = 0, e->top_f = e->below_f = 0.0;
}

/* Adds the sample at position q (greater than every earlier one) with payload
 * pay (height sa_height(h, pay)); w2 is the squared spacing along the line.
 * sa_envelope_build_st's steps: the top is dropped while the one below it and q
 * hide it. */
SA_HOST_DEVICE static inline void sa_lean_push(sa_lean_envelope *e, int q, uint32_t pay, const sa_height_rule *h,
                                               double w2, const sa_lean_store *s) {
    const double fq = sa_height(h, pay);
    while (e->count >= 2 && sa_parabola_hidden(e->below_p, e->below_f, e->top_p, e->top_f, q, fq, w2)) {
        e->count--;
        e->top_p = e->below_p, e->top_f = e->below_f;
        if (e->count >= 2) {
            uint32_t pb;
            sa_lean_load(s, e->count - 2, &e->below_p, &pb);
            e->below_f = sa_height(h, pb);
        }
    }
    sa_lean_keep(s, e->count, q, pay);
    e->below_p = e->top_p, e->below_f = e->top_f;
    e->top_p = q, e->top_f = fq;
    e->count++;
}

/* Walks an envelope's parabolas for positions visited in increasing order,
 * holding parabola k (cur) and k+1 (next) with their heights, and parabola k+2
 * as stored (ahead: read one step early). */
typedef struct sa_lean_cursor {
    int k, count;
    int cur_p, next_p, ahead_p;
    double cur_f, next_f;
    uint32_t cur_pl, next_pl, ahead_pl;
} sa_lean_cursor;

SA_HOST_DEVICE static inline void sa_lean_cursor_load_next(sa_lean_cursor *c, const sa_height_rule *h,
                                                           const sa_lean_store *s) {
    if (c->k + 1 < c->count) {
        c->next_p = c->ahead_p, c->next_pl = c->ahead_pl;
        c->next_f = sa_height(h, c->next_pl);
        if (c->k + 2 < c->count) sa_lean_load(s, c->k + 2, &c->ahead_p, &c->ahead_pl);
    }
}

/* A cursor at the first parabola of an envelope of `count` parabolas (with
 * none, a cursor that must not be evaluated). */
SA_HOST_DEVICE static inline void sa_lean_cursor_start(sa_lean_cursor *c, int count, const sa_height_rule *h,
                                                       const sa_lean_store *s) {
    c->k = 0, c->count = count;
    c->cur_p = c->next_p = c->ahead_p = 0;
    c->cur_f = c->next_f = 0.0;
    c->cur_pl = c->next_pl = c->ahead_pl = 0;
    if (count <= 0) return;
    sa_lean_load(s, 0, &c->cur_p, &c->cur_pl);
    c->cur_f = sa_height(h, c->cur_pl);
    if (count > 1) sa_lean_load(s, 1, &c->ahead_p, &c->ahead_pl);
    sa_lean_cursor_load_next(c, h, s);
}

/* sa_envelope_lowest_st at `at` (weight w): the value in *value, the lowest
 * parabola's root in *root and payload in *pay. */
SA_HOST_DEVICE static inline void sa_lean_lowest(sa_lean_cursor *c, int at, double w, const sa_height_rule *h,
                                                 const sa_lean_store *s, double *value, int *root, uint32_t *pay) {
    const double w2 = w * w;
    while (c->k + 1 < c->count && sa_parabola_below(c->cur_p, c->cur_f, c->next_p, c->next_f, w2, at)) {
        c->cur_p = c->next_p, c->cur_f = c->next_f, c->cur_pl = c->next_pl;
        c->k++;
        sa_lean_cursor_load_next(c, h, s);
    }
    *value = sa_parabola(c->cur_f, w, c->cur_p, at), *root = c->cur_p, *pay = c->cur_pl;
}

/* Pass Y with the lean envelope: as sa_edt_column_y (same entries, same need
 * rule); its nodes (root << 16 | pass X's distance) at node[t * sst], n of them. */
SA_HOST_DEVICE static inline void sa_edt_column_y_lean(const uint16_t *dx, size_t dst, int n, double sx, double sy,
                                                       uint32_t *node, size_t sst, const unsigned long long *need,
                                                       size_t nst, uint32_t *entry, size_t est) {
    const sa_height_rule h = {sx, 0.0, 0, 0, 0};
    const sa_lean_store s = {node, NULL, sst, 16};
    const double w2 = sy * sy;
    sa_lean_envelope e;
    sa_lean_clear(&e);
    for (int j0 = 0; j0 < n; j0 += SA_EDT_READ_AHEAD) {
        unsigned d[SA_EDT_READ_AHEAD];
        SA_UNROLL
        for (int u = 0; u < SA_EDT_READ_AHEAD; u++) d[u] = j0 + u < n ? dx[(size_t)(j0 + u) * dst] : SA_EDT_NONE;
        SA_UNROLL
        for (int u = 0; u < SA_EDT_READ_AHEAD; u++)
            if (d[u] != SA_EDT_NONE) sa_lean_push(&e, j0 + u, d[u], &h, w2, &s);
    }
    sa_lean_cursor c;
    sa_lean_cursor_start(&c, e.count, &h, &s);
    for (int j = 0; j < n; j++) {
        if (need && !need[(size_t)j * nst]) continue;
        if (e.count == 0) {
            entry[(size_t)j * est] = SA_EDT_ENTRY_NONE;
            continue;
        }
        double d2 = 0.0;
        int row = 0;
        uint32_t d = 0;
        sa_lean_lowest(&c, j, sy, &h, &s, &d2, &row, &d);
        entry[(size_t)j * est] = (d << 16) | (uint32_t)row;
    }
}

/* Pass Z's store and height rule for a region of rnx x rny columns and lines of
 * n voxels at row j: nodes packed (root, dx, row) when they fit 32 bits (and
 * allow_packed), else the payload is the entry and the roots go to `root`. */
SA_HOST_DEVICE static inline void sa_edt_z_layout(int rnx, int rny, int n, int j, double sx, double sy,
                                                  int allow_packed, uint32_t *node, uint16_t *root, size_t st,
                                                  sa_lean_store *s, sa_height_rule *h) {
    int row_bits = sa_bits_below((unsigned)rny), dx_bits = sa_bits_below((unsigned)rnx);
    int root_bits = sa_bits_below((unsigned)n) > 0 ? sa_bits_below((unsigned)n) : 1;
    int packed = allow_packed && row_bits + dx_bits + root_bits <= 32;
    h->sx = sx, h->sy = sy, h->j = j, h->two_axes = 1, h->row_bits = packed ? row_bits : 16;
    s->node = node, s->root = packed ? NULL : root, s->st = st, s->shift = packed ? row_bits + dx_bits : 32;
}

/* Pass Z's envelope, lean: the column (x, y) of n entries (entry[k * est]) in
 * the store and height rule of sa_edt_z_layout; returns the parabola count.
 * Evaluate with sa_lean_cursor_start and sa_lean_lowest (weight sz). */
SA_HOST_DEVICE static inline int sa_edt_column_z_lean(const uint32_t *entry, size_t est, int n, double sz,
                                                      const sa_lean_store *s, const sa_height_rule *h) {
    const double w2 = sz * sz;
    const int rb = h->row_bits;
    sa_lean_envelope e;
    sa_lean_clear(&e);
    for (int k0 = 0; k0 < n; k0 += SA_EDT_READ_AHEAD) {
        uint32_t en[SA_EDT_READ_AHEAD];
        SA_UNROLL
        for (int u = 0; u < SA_EDT_READ_AHEAD; u++) en[u] = k0 + u < n ? entry[(size_t)(k0 + u) * est] : SA_EDT_ENTRY_NONE;
        SA_UNROLL
        for (int u = 0; u < SA_EDT_READ_AHEAD; u++)
            if (en[u] != SA_EDT_ENTRY_NONE)
                sa_lean_push(&e, k0 + u, ((en[u] >> 16) << rb) | (en[u] & 0xFFFFu), h, w2, s);
    }
    return e.count;
}

/* ---- Pass X from bits (the GPU's pass X) --------------------------------------
 * A row held as 32-bit words of feature bits (bit b of word w: voxel 32w + b),
 * with, per word, the nearest word at or before it that holds a feature
 * (left_word, -1 for none) and at or after it (right_word, `words` for none).
 * sa_row_bits_nearest gives sa_line_nearest's distance at one voxel. */
SA_HOST_DEVICE static inline int sa_high_bit(uint32_t v) { /* v != 0 */
#ifdef __CUDA_ARCH__
    return 31 - __clz((int)v);
#else
    return 31 - __builtin_clz(v);
#endif
}

SA_HOST_DEVICE static inline int sa_low_bit(uint32_t v) { /* v != 0 */
#ifdef __CUDA_ARCH__
    return __ffs((int)v) - 1;
#else
    return __builtin_ctz(v);
#endif
}

/* Bit b of a 4-byte word's bytes, as 4 bits (bit i: byte i, the lowest address
 * first): the GPU reads rows 16 bytes at a time and packs them with this. The
 * product sets bit 24 + i from byte i and nothing else touches bits 24..27. */
SA_HOST_DEVICE static inline uint32_t sa_byte_bits4(uint32_t word, int b) {
    uint32_t u = (word >> b) & 0x01010101u;
    return ((u * 0x01020408u) >> 24) & 0xFu;
}

/* The distances of `count` consecutive voxels from x0, all in one word
 * (x0 % 32 + count <= 32), into out[0..count): the word and its neighbours are
 * read once for the run. */
SA_HOST_DEVICE static inline void sa_row_bits_nearest_run(const uint32_t *bits, const int *left_word,
                                                          const int *right_word, int words, int x0, int count,
                                                          unsigned *out) {
    int w = x0 >> 5;
    uint32_t here = bits[w];
    int before = -1, after = -1; /* the nearest features outside the word */
    if (w > 0 && left_word[w - 1] >= 0) before = (left_word[w - 1] << 5) + sa_high_bit(bits[left_word[w - 1]]);
    if (w + 1 < words && right_word[w + 1] < words) after = (right_word[w + 1] << 5) + sa_low_bit(bits[right_word[w + 1]]);
    for (int i = 0; i < count; i++) {
        int x = x0 + i, b = x & 31;
        uint32_t left = here & (0xFFFFFFFFu >> (31 - b)), right = here & (0xFFFFFFFFu << b);
        int l = left ? (w << 5) + sa_high_bit(left) : before;
        int r = right ? (w << 5) + sa_low_bit(right) : after;
        unsigned best = l >= 0 ? (unsigned)(x - l) : SA_EDT_NONE;
        if (r >= 0 && (unsigned)(r - x) < best) best = (unsigned)(r - x);
        out[i] = best;
    }
}

/* sa_line_nearest's distance at one voxel x. */
SA_HOST_DEVICE static inline unsigned sa_row_bits_nearest(const uint32_t *bits, const int *left_word,
                                                          const int *right_word, int words, int x) {
    unsigned d;
    sa_row_bits_nearest_run(bits, left_word, right_word, words, x, 1, &d);
    return d;
}


#endif
