/*
 * edt.c: exact Euclidean distances with anisotropic spacing, by the separable
 * lower-envelope transform of edt_line.h, computed only where scoring needs it.
 *
 * Scoring needs the distance from each query voxel (one mask's surface) to the
 * nearest feature voxel (the other mask's surface), both given as voxel lists
 * (sa_points). So:
 *   pass A, per z slice: 1D distances along x from each row's features, then the
 *           envelope along y, kept only in columns (x, y) that hold a query;
 *   pass B, per y row:   the envelope along z in those columns, evaluated only at
 *           the query voxels, each written straight to its place in the query
 *           list (voxel index order), so that every later sum runs in the same
 *           order whatever the thread count.
 * Everything runs on the bounding box of features and queries (a separable
 * transform on a box that holds every feature is exact for every voxel in it).
 *
 * Band rounds: most query voxels lie near a feature, so a first round drops every
 * sample above a band limit L (see edt_line.h: results <= L are exact), which
 * leaves most lines nearly empty; lines are handled as lists of their in-band
 * samples, so the work follows the band's volume rather than the box's. Query
 * voxels left above L are solved again, with a 4x larger L (twice the band), by a
 * round that touches only their columns, until L covers the box's diagonal.
 *
 * Pass A's results are kept as two integers a voxel (plane_entry), one
 * contiguous z line for each column that holds a query (and only for those), so
 * that pass B reads each column in one sweep and later rounds touch little memory.
 */
#include <float.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edt_line.h"
#include "engine.h"
#include "parallel.h"

/* First band: this many voxels of the coarsest spacing; each later band x2
 * (measured on the bench's phantoms: narrower first bands and faster growth do
 * less work in all than one wide band). */
#define FIRST_BAND_VOXELS 6.0
#define UNRESOLVED (-1.0)
/* A column (x, y) without queries has no place in g. Places are 32-bit: a box
 * of 65535 x 65535 columns (the grid's limit) numbers them up to 2^32 - 2^17,
 * which a signed 32-bit counter could not (past 2^31 query columns it wrapped
 * negative and wrote outside g); sa_edt_columns_fit guards the bound. */
#define NO_SLOT UINT32_MAX

/* Pass A's result for one voxel: the nearest feature of its z slice lies in row
 * ystar, dx voxels away along x (dx == SA_EDT_NONE: none within the band). The
 * squared distance is recomputed from these two integers, exactly as pass A
 * computed it, so the buffer needs 4 bytes a voxel instead of 8. */
typedef struct {
    uint16_t dx, ystar;
} plane_entry;

typedef struct {
    uint16_t *col_pos, *col_d; /* pass A: per column x, its band samples (row, x distance) */
    int *col_count;            /* pass A: samples per column */
    uint16_t *row_x, *row_d;   /* one row's band samples */
    int *pos, *v;              /* compacted line: sample positions; envelope */
    double *f;                 /* compacted line: sample values */
    uint16_t *sample_dx;       /* pass A: each sample's x distance */
    uint16_t *query_k;         /* pass B: per column x, the z of its queries */
    int *query_count;          /* pass B: queries per column */
    size_t *cursor;            /* pass B: next output slot of each row (j, k) */
    uint64_t unresolved;
} worker_scratch;

typedef struct {
    const sa_points *features;
    const sa_points *queries;  /* NULL: every voxel (sa_edt_squared) */
    uint32_t *slot;            /* [x][y]: column (x, y)'s place in g, NO_SLOT without queries */
    uint8_t *query_x;          /* [x]: some column with this x holds a query */
    const sa_region *r;
    double sx, sy, sz, limit;
    unsigned cap_x, cap_y, cap_z; /* samples farther than this many voxels are dropped */
    size_t query_lo[3], query_hi[3]; /* bounding box of the queries (box-local) */
    plane_entry *g;        /* [slot][z], SA_EDT_NONE where nothing is in the band */
    worker_scratch *scratch;
    double *out; /* queries: distances in query order; else squared, grid order */
} edt_ctx;

static void scratch_free(worker_scratch *s, int workers) {
    if (!s) return;
    for (int w = 0; w < workers; w++) {
        free(s[w].col_pos), free(s[w].col_d), free(s[w].col_count), free(s[w].row_x), free(s[w].row_d);
        free(s[w].pos), free(s[w].v), free(s[w].f), free(s[w].sample_dx);
        free(s[w].query_k), free(s[w].query_count), free(s[w].cursor);
    }
    free(s);
}

static worker_scratch *scratch_alloc(const sa_region *r, int workers) {
    worker_scratch *s = calloc((size_t)workers, sizeof *s);
    if (!s) return NULL;
    size_t longest = r->ny > r->nz ? r->ny : r->nz;
    for (int w = 0; w < workers; w++) {
        worker_scratch *t = &s[w];
        t->col_pos = malloc(sizeof(uint16_t) * r->nx * r->ny);
        t->col_d = malloc(sizeof(uint16_t) * r->nx * r->ny);
        t->col_count = malloc(sizeof(int) * r->nx);
        t->row_x = malloc(sizeof(uint16_t) * r->nx);
        t->row_d = malloc(sizeof(uint16_t) * r->nx);
        t->pos = malloc(sizeof(int) * longest);
        t->v = malloc(sizeof(int) * longest);
        t->f = malloc(sizeof(double) * longest);
        t->sample_dx = malloc(sizeof(uint16_t) * longest);
        t->query_k = malloc(sizeof(uint16_t) * r->nx * r->nz);
        t->query_count = malloc(sizeof(int) * r->nx);
        t->cursor = malloc(sizeof(size_t) * r->nz);
        if (!t->col_pos || !t->col_d || !t->col_count || !t->row_x || !t->row_d || !t->pos || !t->v ||
            !t->f || !t->sample_dx || !t->query_k || !t->query_count || !t->cursor) {
            scratch_free(s, workers);
            return NULL;
        }
    }
    return s;
}

/* Pass A: for slice k, the nearest feature of the slice at every voxel of a
 * query column that lies within the band. */
static void pass_in_plane(void *vctx, size_t k, int worker) {
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    const size_t nx = r->nx, ny = r->ny, nz = r->nz;
    const size_t *start = c->features->row_start;
    worker_scratch *s = &c->scratch[worker];
    if (start[k * ny] == start[(k + 1) * ny]) return; /* no feature in this slice */
    /* a slice (or row) farther than the band from every query adds nothing */
    if (k + c->cap_z < c->query_lo[2] || k > c->query_hi[2] + c->cap_z) return;
    size_t j_lo = c->query_lo[1] > c->cap_y ? c->query_lo[1] - c->cap_y : 0;
    size_t j_hi = c->query_hi[1] + c->cap_y < ny - 1 ? c->query_hi[1] + c->cap_y : ny - 1;

    /* 1D distances along x, kept as per-column sample lists (rows ascending) */
    memset(s->col_count, 0, nx * sizeof(int));
    for (size_t j = j_lo; j <= j_hi; j++) {
        size_t row = k * ny + j;
        int m = sa_line_band_samples(c->features->x + start[row], (int)(start[row + 1] - start[row]), (int)nx,
                                     c->cap_x, s->row_x, s->row_d);
        for (int t = 0; t < m; t++) {
            size_t x = s->row_x[t];
            if (!c->query_x[x]) continue;
            size_t at = x * ny + (size_t)s->col_count[x]++;
            s->col_pos[at] = (uint16_t)j;
            s->col_d[at] = s->row_d[t];
        }
    }

    /* the envelope along y, evaluated in the band of each sample */
    const int cap_y = (int)c->cap_y;
    for (size_t i = 0; i < nx; i++) {
        int m = s->col_count[i];
        if (!m) continue;
        const uint16_t *cp = s->col_pos + i * ny, *cd = s->col_d + i * ny;
        for (int t = 0; t < m; t++) {
            s->pos[t] = cp[t];
            s->f[t] = sa_axis_sq(c->sx, cd[t]);
            s->sample_dx[t] = cd[t];
        }
        int count = sa_envelope_build(s->pos, s->f, m, c->sy, s->v);
        const uint32_t *slot = c->slot + i * ny;
        int kk = 0, t = 0;
        for (int j = 0; j < (int)ny;) {
            while (t < m && s->pos[t] + cap_y < j) t++; /* samples whose band ends before j */
            if (t == m) break;
            if (s->pos[t] - cap_y > j) { /* nothing within the band: jump */
                j = s->pos[t] - cap_y;
                continue;
            }
            if (slot[j] != NO_SLOT) {
                double d2;
                kk = sa_envelope_lowest(s->pos, s->f, c->sy, s->v, count, kk, j, &d2);
                int b = s->v[kk];
                if (d2 <= c->limit)
                    c->g[(size_t)slot[j] * nz + k] = (plane_entry){s->sample_dx[b], (uint16_t)s->pos[b]};
            }
            j++;
        }
    }
}

/* Pass B: for row j, the envelope along z of every query column, evaluated at
 * its query voxels (or at every voxel). */
static void pass_across_slices(void *vctx, size_t j, int worker) {
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    const size_t nx = r->nx, ny = r->ny, nz = r->nz;
    worker_scratch *s = &c->scratch[worker];
    const sa_points *q = c->queries;

    /* the query voxels of this row, per column, z ascending */
    if (q) {
        memset(s->query_count, 0, nx * sizeof(int));
        for (size_t k = 0; k < nz; k++) {
            size_t row = k * ny + j;
            s->cursor[k] = q->row_start[row];
            for (size_t p = q->row_start[row]; p < q->row_start[row + 1]; p++) {
                size_t x = q->x[p];
                s->query_k[x * nz + (size_t)s->query_count[x]++] = (uint16_t)k;
            }
        }
    }
    for (size_t i = 0; i < nx; i++) {
        int nq = q ? s->query_count[i] : (int)nz;
        if (!nq) continue;
        const plane_entry *col = c->g + (size_t)c->slot[i * ny + j] * nz;
        int m = 0;
        for (size_t k = 0; k < nz; k++) {
            plane_entry e = col[k];
            if (e.dx == SA_EDT_NONE) continue;
            s->pos[m] = (int)k;
            s->f[m] = sa_axis_sq(c->sx, e.dx) + sa_axis_sq(c->sy, (int)j - (int)e.ystar);
            m++;
        }
        int count = sa_envelope_build(s->pos, s->f, m, c->sz, s->v);
        int kk = 0;
        for (int t = 0; t < nq; t++) {
            int k = q ? s->query_k[i * nz + (size_t)t] : t;
            double d2 = INFINITY;
            if (count > 0) {
                kk = sa_envelope_lowest(s->pos, s->f, c->sz, s->v, count, kk, k, &d2);
            }
            if (!q) {
                c->out[((size_t)k * ny + j) * nx + i] = d2;
            } else if (d2 <= c->limit) {
                c->out[s->cursor[k]++] = sqrt(d2);
            } else {
                c->out[s->cursor[k]++] = UNRESOLVED;
                s->unresolved++;
            }
        }
    }
}

/* Passes A and B; returns the number of queries left unresolved, or -1. */
static long long run_passes(edt_ctx *c, int threads, sa_error *err) {
    const sa_region *r = c->r;
    const size_t nx = r->nx, ny = r->ny;
    int workers = sa_parallel_workers(threads, r->nz > ny ? r->nz : ny);
    c->scratch = scratch_alloc(r, workers);
    if (!c->scratch) return sa_error_set(err, "out of memory for the distance transform");
    /* Only columns that hold a query get a place in g: later rounds, with few
     * queries, touch little memory, and the first round no more than it needs. */
    if (c->queries) {
        for (size_t i = 0; i < nx * ny; i++) c->slot[i] = NO_SLOT;
        for (int a = 0; a < 3; a++) c->query_lo[a] = SIZE_MAX, c->query_hi[a] = 0;
        for (size_t row = 0, rows = ny * r->nz; row < rows; row++) {
            size_t j = row % ny, k = row / ny, first = c->queries->row_start[row], end = c->queries->row_start[row + 1];
            if (first == end) continue;
            for (size_t p = first; p < end; p++) c->slot[(size_t)c->queries->x[p] * ny + j] = 0;
            size_t lo[3] = {c->queries->x[first], j, k}, hi[3] = {c->queries->x[end - 1], j, k};
            for (int a = 0; a < 3; a++) {
                if (lo[a] < c->query_lo[a]) c->query_lo[a] = lo[a];
                if (hi[a] > c->query_hi[a]) c->query_hi[a] = hi[a];
            }
        }
    } else {
        memset(c->slot, 0, nx * ny * sizeof *c->slot);
        c->query_lo[0] = c->query_lo[1] = c->query_lo[2] = 0;
        c->query_hi[0] = nx - 1, c->query_hi[1] = ny - 1, c->query_hi[2] = r->nz - 1;
    }
    size_t slots = 0; /* < NO_SLOT: sa_edt_columns_fit(nx, ny) */
    for (size_t i = 0; i < nx; i++) {
        uint8_t any = 0;
        for (size_t j = 0; j < ny; j++) {
            uint32_t *sl = &c->slot[i * ny + j];
            if (*sl == NO_SLOT) continue;
            *sl = (uint32_t)slots++;
            any = 1;
        }
        c->query_x[i] = any;
    }
    memset(c->g, 0xFF, slots * r->nz * sizeof(plane_entry)); /* all SA_EDT_NONE */
    sa_parallel_for(sa_parallel_workers(workers, r->nz), r->nz, pass_in_plane, c);
    sa_parallel_for(sa_parallel_workers(workers, ny), ny, pass_across_slices, c);
    long long unresolved = 0;
    for (int w = 0; w < workers; w++) unresolved += (long long)c->scratch[w].unresolved;
    scratch_free(c->scratch, workers);
    c->scratch = NULL;
    return unresolved;
}

static double box_diagonal_sq(const sa_region *r, const double s[3]) {
    return (sa_axis_sq(s[0], (int)r->nx - 1) + sa_axis_sq(s[1], (int)r->ny - 1)) + sa_axis_sq(s[2], (int)r->nz - 1);
}

/* The band in voxels along an axis: any sample farther than this is above the
 * limit (rounded up, so that nothing at or below the limit is dropped). */
static unsigned band_voxels(double limit, double spacing) {
    double cap = limit == DBL_MAX ? SA_EDT_NONE : floor(sqrt(limit) / spacing) + 1.0;
    return cap >= SA_EDT_NONE - 1 ? SA_EDT_NONE - 1 : (unsigned)cap;
}

static void set_limit(edt_ctx *c, double limit) {
    c->limit = limit;
    c->cap_x = band_voxels(limit, c->sx);
    c->cap_y = band_voxels(limit, c->sy);
    c->cap_z = band_voxels(limit, c->sz);
}

typedef struct {
    const sa_region *r;
    const double *spacing;
    int threads;
    plane_entry *g;
    uint32_t *slot;
    uint8_t *xs;
} edt_workspace;

/* The queries whose distance is still UNRESOLVED in out[], as a point list. */
static int unresolved_points(const sa_points *queries, const double *out, size_t rows, sa_points *pending) {
    pending->row_start = malloc((rows + 1) * sizeof *pending->row_start);
    pending->x = malloc(queries->count * sizeof *pending->x);
    if (!pending->row_start || !pending->x) return -1;
    size_t n = 0;
    for (size_t row = 0; row < rows; row++) {
        pending->row_start[row] = n;
        for (size_t p = queries->row_start[row]; p < queries->row_start[row + 1]; p++)
            if (out[p] == UNRESOLVED) pending->x[n++] = queries->x[p];
    }
    pending->row_start[rows] = n;
    pending->count = n;
    return 0;
}

/* One band round; queries left above the band go to a round with a 4x larger
 * limit, and their results are put back in place. */
static int solve_round(const edt_workspace *ws, const sa_points *features, const sa_points *queries,
                       double limit, double *out, sa_error *err) {
    const sa_region *r = ws->r;
    /* A band as wide as the box is no band; DBL_MAX (not INFINITY) keeps the
     * "value <= limit" tests false for the INFINITY of "no feature". */
    if (limit >= box_diagonal_sq(r, ws->spacing)) limit = DBL_MAX;
    edt_ctx c = {.features = features, .queries = queries, .slot = ws->slot, .query_x = ws->xs,
                 .r = r, .sx = ws->spacing[0], .sy = ws->spacing[1], .sz = ws->spacing[2], .g = ws->g, .out = out};
    set_limit(&c, limit);
    long long left = run_passes(&c, ws->threads, err);
    if (left <= 0) return (int)left;
    if (limit == DBL_MAX) return sa_error_set(err, "distance transform: no feature voxel");

    sa_points pending = {0};
    double *sub = malloc((size_t)left * sizeof *sub);
    int rc = -1;
    if (!sub || unresolved_points(queries, out, r->ny * r->nz, &pending)) {
        sa_error_set(err, "out of memory for the distance transform");
    } else {
        rc = solve_round(ws, features, &pending, limit * 4.0, sub, err);
        for (size_t i = 0, s = 0; rc == 0 && i < queries->count; i++)
            if (out[i] == UNRESOLVED) out[i] = sub[s++];
    }
    sa_points_free(&pending);
    free(sub);
    return rc;
}

/* Splits queries into those that are features themselves (distance exactly 0,
 * often a large share when two surfaces agree) and the rest, which go through
 * the transform. is_feature[i] says which, for each query in order. */
static int split_coincident(const sa_points *features, const sa_points *queries, size_t rows,
                            uint8_t *is_feature, sa_points *rest) {
    rest->row_start = malloc((rows + 1) * sizeof *rest->row_start);
    rest->x = malloc((queries->count ? queries->count : 1) * sizeof *rest->x);
    if (!rest->row_start || !rest->x) return -1;
    size_t n = 0;
    for (size_t row = 0; row < rows; row++) {
        rest->row_start[row] = n;
        size_t f = features->row_start[row], f_end = features->row_start[row + 1];
        for (size_t p = queries->row_start[row]; p < queries->row_start[row + 1]; p++) {
            uint16_t x = queries->x[p];
            while (f < f_end && features->x[f] < x) f++; /* both lists ascend */
            is_feature[p] = f < f_end && features->x[f] == x;
            if (!is_feature[p]) rest->x[n++] = x;
        }
    }
    rest->row_start[rows] = n;
    rest->count = n;
    return 0;
}

int sa_edt_columns_fit(size_t nx, size_t ny) {
    return nx > 0 && ny > 0 && ny <= (size_t)(NO_SLOT - 1) / nx; /* every place < NO_SLOT */
}

static int columns_error(const sa_region *r, sa_error *err) {
    return sa_error_set(err,
                        "distance transform: a box of %zu x %zu columns is more than its 32-bit column places "
                        "hold (at most 65535 voxels along x and y)",
                        r->nx, r->ny);
}

int sa_edt_query_distances(const sa_points *features, const sa_points *queries, const sa_region *r,
                           const double spacing[3], int threads, void *work, double *out,
                           sa_error *err) {
    if (!sa_edt_columns_fit(r->nx, r->ny)) return columns_error(r, err);
    edt_workspace ws = {r, spacing, threads, (plane_entry *)work, malloc(r->nx * r->ny * sizeof(uint32_t)),
                        malloc(r->nx)};
    uint8_t *is_feature = malloc(queries->count ? queries->count : 1);
    sa_points rest = {0};
    double *rest_out = NULL;
    int rc = -1;
    if (!ws.slot || !ws.xs || !is_feature ||
        split_coincident(features, queries, r->ny * r->nz, is_feature, &rest) ||
        !(rest_out = malloc((rest.count ? rest.count : 1) * sizeof *rest_out))) {
        sa_error_set(err, "out of memory for the distance transform");
    } else {
        rc = 0;
        if (rest.count) {
            double smax = fmax(spacing[0], fmax(spacing[1], spacing[2]));
            double band = FIRST_BAND_VOXELS * smax;
            rc = solve_round(&ws, features, &rest, band * band, rest_out, err);
        }
        for (size_t i = 0, s = 0; rc == 0 && i < queries->count; i++) out[i] = is_feature[i] ? 0.0 : rest_out[s++];
    }
    free(ws.slot), free(ws.xs), free(is_feature), free(rest_out);
    sa_points_free(&rest);
    return rc;
}

int sa_edt_squared(const uint8_t *features, const sa_grid *g, int threads, double *out,
                   sa_error *err) {
    if (sa_grid_check(g, err)) return -1;
    if (!features || !out) return sa_error_set(err, "no mask given");
    sa_box all = {{0, 0, 0}, {g->nx - 1, g->ny - 1, g->nz - 1}};
    sa_region r;
    sa_region_from_box(&r, &all);
    if (!sa_edt_columns_fit(r.nx, r.ny)) return columns_error(&r, err);
    sa_points points;
    if (sa_points_from_mask(features, g, &r, threads, &points, err)) return -1;
    plane_entry *work = malloc(sa_grid_voxels(g) * sizeof *work);
    uint32_t *slot = malloc(r.nx * r.ny * sizeof *slot);
    uint8_t *xs = malloc(r.nx);
    int rc = -1;
    if (!work || !slot || !xs) {
        sa_error_set(err, "out of memory for the distance transform");
    } else {
        edt_ctx c = {.features = &points, .slot = slot, .query_x = xs, .r = &r,
                     .sx = g->spacing[0], .sy = g->spacing[1], .sz = g->spacing[2], .g = work, .out = out};
        set_limit(&c, DBL_MAX);
        rc = run_passes(&c, threads, err) < 0 ? -1 : 0;
    }
    free(work), free(slot), free(xs);
    sa_points_free(&points);
    return rc;
}

int sa_directed_distances(const uint8_t *from, const uint8_t *to, const sa_grid *g,
                          int threads, double **dist_out, size_t *count_out, sa_error *err) {
    *dist_out = NULL;
    *count_out = 0;
    if (sa_grid_check(g, err)) return -1;
    sa_mask_scan scan;
    if (sa_mask_scan_pair(from, to, g, threads, &scan, err)) return -1;
    if (!scan.pred_has) return sa_error_set(err, "no target voxel to measure distances to");
    if (!scan.ref_has) return 0;
    sa_region r;
    sa_region_from_boxes(&r, &scan.ref_box, &scan.pred_box);
    sa_points queries = {0}, features = {0};
    double *dist = malloc(((size_t)scan.ref_voxels) * sizeof *dist);
    void *work = malloc(sa_region_voxels(&r) * SA_EDT_WORK_BYTES);
    int rc = -1;
    if (!dist || !work)
        sa_error_set(err, "out of memory");
    else if (sa_points_from_mask(from, g, &r, threads, &queries, err) == 0 &&
             sa_points_from_mask(to, g, &r, threads, &features, err) == 0)
        rc = sa_edt_query_distances(&features, &queries, &r, g->spacing, threads, work, dist, err);
    sa_points_free(&queries), sa_points_free(&features);
    free(work);
    if (rc) {
        free(dist);
        return -1;
    }
    *dist_out = dist;
    *count_out = (size_t)scan.ref_voxels;
    return 0;
}
