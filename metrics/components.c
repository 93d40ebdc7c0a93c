/*
 * components.c: connected components of a binary mask with 6-, 18- or
 * 26-connectivity, the first step of lesion-wise detection (lesions.c) and a
 * building block of its own (sa_connected_components).
 *
 * Why runs: lesion masks are mostly background, and the multi-rater evaluation
 * labels every mask of a case many times, so the work follows the mask's
 * foreground rather than its voxels. Each row (y, z) is cut into maximal x-runs
 * of inside voxels (zero bytes are skipped eight at a time), and union-find runs
 * on those runs, not on voxels:
 *  - Two runs of the same row are never connected (they are maximal).
 *  - Runs of neighbouring rows are connected when their x-intervals overlap, or
 *    overlap after widening by one voxel when a diagonal step in x is allowed:
 *      row offset (dy, dz)        6-conn     18-conn    26-conn
 *      (-1, 0), (0, -1)  (face)   overlap    widened    widened
 *      (-1, -1), (+1, -1) (edge)  -          overlap    widened
 *    (18-connectivity: neighbours share a face or an edge, |dx|+|dy|+|dz| <= 2;
 *    the edge rows already use two of the three steps, so there dx must be 0.)
 *    Only the rows before the current one in index order are visited, so each
 *    pair of neighbouring rows is merged once, by a linear two-pointer sweep.
 *  - Union-find links the larger root to the smaller one and halves paths, so a
 *    run's parent always has an index no larger than its own: one forward pass
 *    then numbers the components in the order of their first run, which is the
 *    order of their first voxel in index order (x fastest).
 * Cost: one pass over the mask bytes plus near-linear work in the number of runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Non-zero when some byte of v is zero (exact for existence). */
static inline uint64_t has_zero_byte(uint64_t v) { return (v - ONES) & ~v & HIGHS; }

static inline uint32_t uf_find(uint32_t *parent, uint32_t a) {
    while (parent[a] != a) {
        parent[a] = parent[parent[a]]; /* path halving: parents only decrease */
        a = parent[a];
    }
    return a;
}

static inline void uf_union(uint32_t *parent, uint32_t a, uint32_t b) {
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

/* Unions the runs [a, a_end) of one row with the runs [b, b_end) of a neighbour
 * row when their intervals, the first widened by `widen` (0 or 1), intersect. */
static void merge_rows(uint32_t *parent, const uint16_t *runs, uint32_t a, uint32_t a_end,
                       uint32_t b, uint32_t b_end, uint32_t widen) {
    while (a < a_end && b < b_end) {
        uint32_t ax0 = runs[2 * (size_t)a], ax1 = runs[2 * (size_t)a + 1];
        uint32_t bx0 = runs[2 * (size_t)b], bx1 = runs[2 * (size_t)b + 1];
        if (bx1 + widen < ax0) {
            b++;
        } else if (ax1 + widen < bx0) {
            a++;
        } else {
            uf_union(parent, a, b);
            /* The run that ends first cannot meet the other row's next run
             * (runs of a row are at least one voxel apart). */
            if (ax1 < bx1)
                a++;
            else
                b++;
        }
    }
}

int sa_component_runs(const uint8_t *mask, const sa_grid *g, int connectivity,
                      uint32_t **row_start_out, uint16_t **runs_out, uint32_t **comp_out,
                      size_t *run_count_out, uint32_t *comp_count_out, sa_error *err) {
    if (connectivity != 6 && connectivity != 18 && connectivity != 26)
        return sa_error_set(err, "invalid connectivity %d (must be 6, 18 or 26)", connectivity);
    if (sa_grid_check(g, err)) return -1;
    const size_t nx = g->nx, ny = g->ny, nz = g->nz, rows = ny * nz;
    if (rows > SIZE_MAX / sizeof(uint32_t) - 1)
        return sa_error_set(err, "image too large for connected components");

    uint32_t *row_start = malloc((rows + 1) * sizeof *row_start);
    size_t cap = 1024, n = 0;
    uint16_t *runs = malloc(2 * cap * sizeof *runs);
    uint32_t *parent = NULL;
    if (!row_start || !runs) goto oom;

    /* 1. Runs, row by row in index order. */
    for (size_t row = 0; row < rows; row++) {
        const uint8_t *p = mask + row * nx;
        row_start[row] = (uint32_t)n;
        size_t x = 0;
        for (;;) {
            while (x + 8 <= nx && load64(p + x) == 0) x += 8;
            while (x < nx && !p[x]) x++;
            if (x >= nx) break;
            size_t start = x;
            while (x + 8 <= nx && !has_zero_byte(load64(p + x))) x += 8;
            while (x < nx && p[x]) x++;
            if (n == cap) {
                if (cap >= (size_t)UINT32_MAX / 2) {
                    free(row_start);
                    free(runs);
                    return sa_error_set(err, "mask too fragmented for connected components "
                                             "(more than 2^31 runs)");
                }
                uint16_t *grown = realloc(runs, 4 * cap * sizeof *runs);
                if (!grown) goto oom;
                runs = grown;
                cap *= 2;
            }
            runs[2 * n] = (uint16_t)start;
            runs[2 * n + 1] = (uint16_t)(x - 1);
            n++;
        }
    }
    row_start[rows] = (uint32_t)n;

    /* 2. Union-find over the runs of neighbouring rows. */
    parent = malloc((n ? n : 1) * sizeof *parent);
    if (!parent) goto oom;
    for (size_t r = 0; r < n; r++) parent[r] = (uint32_t)r;
    const uint32_t face_widen = connectivity == 6 ? 0 : 1;
    const uint32_t edge_widen = connectivity == 26 ? 1 : 0;
    for (size_t z = 0; z < nz; z++) {
        for (size_t y = 0; y < ny; y++) {
            size_t row = y + ny * z;
            uint32_t a = row_start[row], a_end = row_start[row + 1];
            if (a == a_end) continue;
            if (y > 0)
                merge_rows(parent, runs, a, a_end, row_start[row - 1], row_start[row], face_widen);
            if (z > 0) {
                size_t below = row - ny;
                merge_rows(parent, runs, a, a_end, row_start[below], row_start[below + 1], face_widen);
                if (connectivity != 6) {
                    if (y > 0)
                        merge_rows(parent, runs, a, a_end, row_start[below - 1], row_start[below],
                                   edge_widen);
                    if (y + 1 < ny)
                        merge_rows(parent, runs, a, a_end, row_start[below + 1], row_start[below + 2],
                                   edge_widen);
                }
            }
        }
    }

    /* 3. Component numbers in order of first run (parent[r] <= r, roots are minima):
     * in place, parent[] becomes the component number of each run. */
    uint32_t count = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t p = parent[r];
        parent[r] = p == r ? ++count : parent[p];
    }

    *row_start_out = row_start;
    *runs_out = runs;
    *comp_out = parent;
    *run_count_out = n;
    *comp_count_out = count;
    return 0;

oom:
    free(row_start);
    free(runs);
    free(parent);
    return sa_error_set(err, "out of memory in connected components");
}

int sa_connected_components(const uint8_t *mask, const sa_grid *g, int connectivity,
                            uint32_t *labels, uint32_t *count_out, sa_error *err) {
    if (!mask || !g || !labels) return sa_error_set(err, "connected components: missing argument");
    uint32_t *row_start, *comp, count;
    uint16_t *runs;
    size_t n;
    if (sa_component_runs(mask, g, connectivity, &row_start, &runs, &comp, &n, &count, err))
        return -1;
    const size_t nx = g->nx, rows = g->ny * g->nz;
    memset(labels, 0, sa_grid_voxels(g) * sizeof *labels);
    for (size_t row = 0; row < rows; row++) {
        uint32_t *out = labels + row * nx;
        for (uint32_t r = row_start[row]; r < row_start[row + 1]; r++) {
            uint32_t c = comp[r];
            for (size_t x = runs[2 * (size_t)r]; x <= runs[2 * (size_t)r + 1]; x++) out[x] = c;
        }
    }
    free(row_start);
    free(runs);
    free(comp);
    if (count_out) *count_out = count;
    return 0;
}
