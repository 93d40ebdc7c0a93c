/*
 * reference_metrics.h: an independent, deliberately naive implementation of the
 * spec's surface definition and distances (quadratic time), for tests only.
 * It shares no code with metrics/: surfaces from the definition, distances as a
 * minimum over every surface voxel, summed in the order the spec documents.
 */
#ifndef SEGARENA_REFERENCE_METRICS_H
#define SEGARENA_REFERENCE_METRICS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "metrics.h"

static inline int ref_inside(const uint8_t *m, const sa_grid *g, long x, long y, long z) {
    if (x < 0 || y < 0 || z < 0 || x >= (long)g->nx || y >= (long)g->ny || z >= (long)g->nz) return 0;
    return m[(size_t)x + g->nx * ((size_t)y + g->ny * (size_t)z)] != 0;
}

/* Surface voxel coordinates of m, in index order; returns the count. */
static inline size_t ref_surface(const uint8_t *m, const sa_grid *g, long (*xyz)[3]) {
    size_t count = 0;
    for (long z = 0; z < (long)g->nz; z++)
        for (long y = 0; y < (long)g->ny; y++)
            for (long x = 0; x < (long)g->nx; x++) {
                if (!ref_inside(m, g, x, y, z)) continue;
                if (ref_inside(m, g, x - 1, y, z) && ref_inside(m, g, x + 1, y, z) &&
                    ref_inside(m, g, x, y - 1, z) && ref_inside(m, g, x, y + 1, z) &&
                    ref_inside(m, g, x, y, z - 1) && ref_inside(m, g, x, y, z + 1))
                    continue;
                if (xyz) xyz[count][0] = x, xyz[count][1] = y, xyz[count][2] = z;
                count++;
            }
    return count;
}

/* Squared distance, summed in the documented order. */
static inline double ref_sqdist(const long a[3], const long b[3], const double s[3]) {
    double tx = s[0] * (double)(a[0] - b[0]), ty = s[1] * (double)(a[1] - b[1]),
           tz = s[2] * (double)(a[2] - b[2]);
    return (tx * tx + ty * ty) + tz * tz;
}

/* For each point of `from` the distance to the nearest point of `to`. */
static inline void ref_directed(long (*from)[3], size_t nf, long (*to)[3], size_t nt,
                                const double s[3], double *out) {
    for (size_t i = 0; i < nf; i++) {
        double best = INFINITY;
        for (size_t j = 0; j < nt; j++) {
            double d = ref_sqdist(from[i], to[j], s);
            if (d < best) best = d;
        }
        out[i] = sqrt(best);
    }
}

static int ref_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's linear percentile, by sorting. */
static inline double ref_percentile(const double *v, size_t n, double q) {
    double *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) s[i] = v[i];
    qsort(s, n, sizeof *s, ref_cmp_double);
    double h = (double)(n - 1) * (q / 100.0), fl = floor(h);
    size_t i = (size_t)fl;
    double t = h - fl, a = s[i], b = i + 1 < n ? s[i + 1] : s[i];
    free(s);
    return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

#endif
