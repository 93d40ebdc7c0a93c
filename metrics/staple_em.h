/*
 * staple_em.h: private. The parts of the consensus (consensus.c) that the CPU and
 * the GPU (metrics/cuda/consensus_gpu.cu) share, written once as inline
 * functions that compile both as plain C and as CUDA __host__ __device__ code, so
 * that the CPU tests exercise the very logic the GPU path runs:
 *  - binary STAPLE's EM over the distinct vote patterns (sa_staple_em) and the
 *    tables that turn its W into the outputs (sa_staple_pattern_list,
 *    sa_staple_tables, sa_staple_mask_of);
 *  - the majority rule per voxel (sa_majority_mask, sa_majority_probability);
 *  - the city-block distance step and line of the dilated-union region
 *    (sa_cityblock_step, sa_cityblock_line) and the growth of the union's box.
 * Compile with floating-point contraction off (no fused multiply-add).
 */
#ifndef SEGARENA_STAPLE_EM_H
#define SEGARENA_STAPLE_EM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#include "host_device.h"

/* ---- Majority vote ---------------------------------------------------------- */

/* In the consensus when more than half of the k raters mark the voxel. */
SA_HOST_DEVICE static inline uint8_t sa_majority_mask(unsigned votes, unsigned k) {
    return (uint8_t)(2u * votes > k);
}

/* The vote fraction, rounded once from double. */
SA_HOST_DEVICE static inline float sa_majority_probability(unsigned votes, unsigned k) {
    return (float)((double)votes / (double)k);
}

/* ---- The dilated-union region -------------------------------------------------
 * City-block distances to the union, saturated at d + 1 (d <= 65534), as 16-bit
 * values: 0 on the union, d + 1 elsewhere before the transform. The transform is
 * separable (the city-block distance is a sum of per-axis terms) and exact with
 * the saturation (min and +1 commute with the cap): one forward and one backward
 * sweep of sa_cityblock_step along x, then y, then z. */

/* One sweep step: the distance at a voxel given its neighbour's along the line. */
SA_HOST_DEVICE static inline uint16_t sa_cityblock_step(uint16_t d, uint16_t neighbour) {
    unsigned b = (unsigned)neighbour + 1u;
    return b < d ? (uint16_t)b : d;
}

/* Both sweeps along one line of n values, element i at d[i * stride]. */
SA_HOST_DEVICE static inline void sa_cityblock_line(uint16_t *d, size_t n, size_t stride) {
    for (size_t i = 1; i < n; i++) d[i * stride] = sa_cityblock_step(d[i * stride], d[(i - 1) * stride]);
    for (size_t i = n - 1; i-- > 0;) d[i * stride] = sa_cityblock_step(d[i * stride], d[(i + 1) * stride]);
}

/* [lo, hi] grown by d on both sides, clipped to [0, n). */
SA_HOST_DEVICE static inline void sa_staple_grow(size_t *lo, size_t *hi, size_t d, size_t n) {
    *lo = *lo > d ? *lo - d : 0;
    *hi = n - 1 - *hi > d ? *hi + d : n - 1;
}

/* ---- EM over the vote patterns ---------------------------------------------------
 * pat[j], cnt[j]: the n distinct patterns of the region and their voxel counts
 * (bit r of a pattern: rater r marks the voxel). Binary STAPLE has no spatial
 * term, so EM over the patterns weighted by their counts computes the quantities
 * of a per-voxel implementation at O(patterns x K) per iteration: microseconds,
 * which is why the GPU path runs it on the host too.
 * Order as ITK 5.2's STAPLEImageFilter::GenerateData: W = mean vote; prior
 * g = mean W over the region (ConfidenceWeight 1, held fixed); then per iteration an
 * M-step (p, q from W), an E-step (W from p, q, g) and the convergence test, which
 * is never passed on the first iteration (ITK's previous p and q start at -10:
 * "delta" is undefined there and counts as not converged), later when every
 * |p - p_prev| and |q - q_prev| is <= tol. The W kept is that of the last E-step.
 * Guards ITK lacks (it would produce NaN): a zero M-step denominator gives a ratio
 * of 1, a zero E-step denominator gives W = 0. */
typedef struct sa_em_out {
    double p[SA_MAX_RATERS], q[SA_MAX_RATERS], prior;
    int iterations, converged;
} sa_em_out;

SA_HOST_DEVICE static inline void sa_staple_em(const uint32_t *pat, const double *cnt, size_t n, size_t k,
                                               const sa_consensus_options *opt, double *W, sa_em_out *o) {
    double total = 0, wsum = 0;
    for (size_t j = 0; j < n; j++) {
        unsigned votes = 0;
        for (size_t r = 0; r < k; r++) votes += (pat[j] >> r) & 1u;
        W[j] = (double)votes / (double)k;
        total += cnt[j];
        wsum += cnt[j] * W[j];
    }
    double g = total > 0 ? wsum / total : 0;
    double last_p[SA_MAX_RATERS], last_q[SA_MAX_RATERS];
    o->prior = g;
    o->converged = 0;
    o->iterations = 0;
    for (int iter = 0; iter < opt->max_iterations; iter++) {
        /* M-step */
        double sw = 0, s1w = 0;
        double pn[SA_MAX_RATERS], qn[SA_MAX_RATERS];
        for (size_t r = 0; r < k; r++) pn[r] = 0, qn[r] = 0;
        for (size_t j = 0; j < n; j++) {
            double a = cnt[j] * W[j], b = cnt[j] * (1.0 - W[j]);
            sw += a;
            s1w += b;
            for (size_t r = 0; r < k; r++) {
                if ((pat[j] >> r) & 1u)
                    pn[r] += a;
                else
                    qn[r] += b;
            }
        }
        for (size_t r = 0; r < k; r++) {
            o->p[r] = sw > 0 ? pn[r] / sw : 1.0;
            o->q[r] = s1w > 0 ? qn[r] / s1w : 1.0;
        }
        /* E-step: products in rater order, as ITK */
        for (size_t j = 0; j < n; j++) {
            double alpha = 1.0, beta = 1.0;
            for (size_t r = 0; r < k; r++) {
                if ((pat[j] >> r) & 1u) {
                    alpha *= o->p[r];
                    beta *= 1.0 - o->q[r];
                } else {
                    alpha *= 1.0 - o->p[r];
                    beta *= o->q[r];
                }
            }
            double num = g * alpha, den = g * alpha + (1.0 - g) * beta;
            W[j] = den > 0 ? num / den : 0.0;
        }
        o->iterations = iter + 1;
        int done = iter != 0;
        for (size_t r = 0; r < k && done; r++)
            if (!(fabs(o->p[r] - last_p[r]) <= opt->tolerance) ||
                !(fabs(o->q[r] - last_q[r]) <= opt->tolerance))
                done = 0;
        for (size_t r = 0; r < k; r++) last_p[r] = o->p[r], last_q[r] = o->q[r];
        if (done) {
            o->converged = 1;
            break;
        }
    }
}

/* ---- From counts to the output tables --------------------------------------------- */

/* The output mask of a voxel of STAPLE probability W (the double, not its float). */
SA_HOST_DEVICE static inline uint8_t sa_staple_mask_of(double W, double threshold) {
    return (uint8_t)(W > threshold);
}

/* The entry of the output tables for a voxel of the region's box with vote
 * pattern `pattern` and city-block distance `dist` to the union: its pattern
 * inside the region (dist <= dil), else `outside` (the tables' last entry). */
SA_HOST_DEVICE static inline uint32_t sa_staple_entry(uint32_t pattern, uint16_t dist, unsigned dil,
                                                      uint32_t outside) {
    return dist > dil ? outside : pattern;
}

/* The patterns present in a direct table of counts hist[0..table-1] (entry 0
 * already holding the region's pattern-0 count), in ascending pattern order, and
 * their counts as doubles; pat and cnt may be NULL to count them only. Returns how
 * many there are. */
SA_HOST_DEVICE static inline size_t sa_staple_pattern_list(const uint64_t *hist, size_t table, uint32_t *pat,
                                                           double *cnt) {
    size_t n = 0;
    for (size_t t = 0; t < table; t++) {
        if (!hist[t]) continue;
        if (pat) pat[n] = (uint32_t)t;
        if (cnt) cnt[n] = (double)hist[t];
        n++;
    }
    return n;
}

/* The output tables from EM's W over the n patterns pat[]: W as float and the
 * mask from the double W, at entry pat[t] (by_pattern, a direct table) or t (a
 * hash's index); and the outputs of voxels outside the region: W = 0 and mask
 * 0 > threshold beyond the dilated union, the values of pattern 0 for the whole
 * image (which holds no such voxel when pattern 0 is absent). */
SA_HOST_DEVICE static inline void sa_staple_tables(const uint32_t *pat, const double *W, size_t n,
                                                   double threshold, int by_pattern, int dilated,
                                                   float *w_table, uint8_t *m_table, float *w_outside,
                                                   uint8_t *m_outside) {
    uint8_t m_zero = 0;
    float w_zero = 0.0f;
    for (size_t t = 0; t < n; t++) {
        size_t at = by_pattern ? pat[t] : t;
        w_table[at] = (float)W[t];
        m_table[at] = sa_staple_mask_of(W[t], threshold);
        if (pat[t] == 0) w_zero = (float)W[t], m_zero = sa_staple_mask_of(W[t], threshold);
    }
    if (dilated) {
        *w_outside = 0.0f;
        *m_outside = sa_staple_mask_of(0.0, threshold);
    } else {
        *w_outside = w_zero;
        *m_outside = m_zero;
    }
}

#endif
