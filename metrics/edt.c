/*
 * edt.c: exact Euclidean distances with anisotropic spacing, by the separable
 * lower-envelope transform of edt_line.h, computed only where scoring needs it.
 *
 * Scoring needs distances at query voxels only (the other mask's surface), so:
 *   pass A, per z slice: 1D distances along x, then the envelope along y, kept
 *           only in columns (x, y) that hold a query voxel;
 *   pass B, per y row:   the envelope along z in those columns, evaluated only at
 *           the query voxels;
 *   gather, per z slice: the distances in voxel index order, so that every later
 *           sum runs in the same order whatever the thread count.
 * Everything runs on the bounding box of features and queries (a separable
 * transform on a box that holds every feature is exact for every voxel in it).
 *
 * Band rounds: most query voxels lie near a feature, so a first round drops every
 * partial value above a band limit L (see edt_line.h: results <= L are exact),
 * which makes most lines sparse. Query voxels left above L are solved again, with
 * a 16x larger L, by a round that touches only their columns, until L covers the
 * box's diagonal.
 *
 * The intermediate buffer is laid out [y][z][x], so that pass B reads each y row
 * as one contiguous z-by-x plane.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edt_line.h"
#include "engine.h"
#include "parallel.h"

/* First band: this many voxels of the coarsest spacing; later bands x4. */
#define FIRST_BAND_VOXELS 10.0
#define UNRESOLVED (-1.0)

typedef struct {
    double *slice_in;  /* nx*ny: x-pass results of one slice */
    double *slice_out; /* nx*ny: y-pass results in query columns */
    double *line;      /* one z line */
    double *zb;        /* envelope breakpoints */
    int *v;            /* envelope roots */
} worker_scratch;

typedef struct {
    const uint8_t *features, *queries; /* box-local; queries NULL: every voxel */
    uint8_t *query_columns;            /* [y][x]: the column holds a query */
    uint8_t *query_x;                  /* [x]: some column with this x does */
    const sa_region *r;
    double sx, sy, sz, limit;
    double *g; /* [y][z][x] */
    worker_scratch *scratch;
    const size_t *slice_offset;
    uint64_t *slice_unresolved;
    double *out;
} edt_ctx;

static void scratch_free(worker_scratch *s, int workers) {
    if (!s) return;
    for (int w = 0; w < workers; w++) {
        free(s[w].slice_in);
        free(s[w].slice_out);
        free(s[w].line);
        free(s[w].zb);
        free(s[w].v);
    }
    free(s);
}

static worker_scratch *scratch_alloc(const sa_region *r, int workers) {
    worker_scratch *s = calloc((size_t)workers, sizeof *s);
    if (!s) return NULL;
    size_t longest = r->ny > r->nz ? r->ny : r->nz, plane = r->nx * r->ny;
    for (int w = 0; w < workers; w++) {
        s[w].slice_in = malloc(sizeof(double) * plane);
        s[w].slice_out = malloc(sizeof(double) * plane);
        s[w].line = malloc(sizeof(double) * r->nz);
        s[w].zb = malloc(sizeof(double) * (longest + 1));
        s[w].v = malloc(sizeof(int) * longest);
        if (!s[w].slice_in || !s[w].slice_out || !s[w].line || !s[w].zb || !s[w].v) {
            scratch_free(s, workers);
            return NULL;
        }
        for (size_t i = 0; i < plane; i++) s[w].slice_out[i] = INFINITY;
    }
    return s;
}

/* Pass A: squared distance to the nearest feature of the same z slice. */
static void pass_in_plane(void *vctx, size_t k, int worker) {
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    const size_t nx = r->nx, ny = r->ny, nz = r->nz;
    worker_scratch *s = &c->scratch[worker];
    const uint8_t *feat = c->features + k * nx * ny;

    int any = 0;
    for (size_t j = 0; j < ny; j++)
        any |= sa_line_feature_sqdist(feat + j * nx, 1, (int)nx, c->sx, c->limit, s->slice_in + j * nx, 1);
    if (!any) {
        for (size_t j = 0; j < ny; j++) {
            double *row = c->g + (j * nz + k) * nx;
            for (size_t i = 0; i < nx; i++) row[i] = INFINITY;
        }
        return;
    }
    for (size_t i = 0; i < nx; i++) {
        if (!c->query_x[i]) continue;
        int count = sa_envelope_build(s->slice_in + i, (ptrdiff_t)nx, (int)ny, c->sy, c->limit, s->v, s->zb);
        int kk = 0;
        for (size_t j = 0; j < ny; j++) {
            if (!c->query_columns[j * nx + i]) continue;
            double d2 = INFINITY;
            if (count > 0) {
                kk = sa_envelope_seek(s->zb, count, kk, (int)j);
                d2 = sa_envelope_value(s->slice_in + i, (ptrdiff_t)nx, c->sy, s->v, count, kk, (int)j);
            }
            s->slice_out[j * nx + i] = d2 <= c->limit ? d2 : INFINITY;
        }
    }
    for (size_t j = 0; j < ny; j++) memcpy(c->g + (j * nz + k) * nx, s->slice_out + j * nx, nx * sizeof(double));
}

/* Pass B: along z, at the query voxels of row j (or at every voxel). */
static void pass_across_slices(void *vctx, size_t j, int worker) {
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    const size_t nx = r->nx, ny = r->ny, nz = r->nz;
    worker_scratch *s = &c->scratch[worker];
    double *plane = c->g + j * nz * nx;

    for (size_t i = 0; i < nx; i++) {
        if (!c->query_columns[j * nx + i]) continue;
        for (size_t k = 0; k < nz; k++) s->line[k] = plane[k * nx + i];
        int count = sa_envelope_build(s->line, 1, (int)nz, c->sz, c->limit, s->v, s->zb);
        int kk = 0;
        for (size_t k = 0; k < nz; k++) {
            if (c->queries && !c->queries[(k * ny + j) * nx + i]) continue;
            double d2 = INFINITY;
            if (count > 0) {
                kk = sa_envelope_seek(s->zb, count, kk, (int)k);
                d2 = sa_envelope_value(s->line, 1, c->sz, s->v, count, kk, (int)k);
            }
            if (!c->queries)
                plane[k * nx + i] = d2;
            else
                plane[k * nx + i] = d2 <= c->limit ? sqrt(d2) : UNRESOLVED;
        }
    }
}

static void mark_query_columns(void *vctx, size_t j, int worker) {
    (void)worker;
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    uint8_t *cols = c->query_columns + j * r->nx;
    memset(cols, 0, r->nx);
    for (size_t k = 0; k < r->nz; k++) {
        const uint8_t *q = c->queries + (k * r->ny + j) * r->nx;
        for (size_t i = 0; i < r->nx; i++) cols[i] |= q[i];
    }
}

static void gather_slice(void *vctx, size_t k, int worker) {
    (void)worker;
    edt_ctx *c = vctx;
    const size_t nx = c->r->nx, ny = c->r->ny, nz = c->r->nz;
    size_t pos = c->slice_offset[k];
    uint64_t unresolved = 0;
    for (size_t j = 0; j < ny; j++) {
        const uint8_t *q = c->queries + (k * ny + j) * nx;
        const double *g = c->g + (j * nz + k) * nx;
        for (size_t i = 0; i < nx; i++) {
            if (!q[i]) continue;
            unresolved += g[i] == UNRESOLVED;
            c->out[pos++] = g[i];
        }
    }
    c->slice_unresolved[k] = unresolved;
}

/* Passes A and B over the columns that hold queries. */
static int run_passes(edt_ctx *c, int threads, sa_error *err) {
    const sa_region *r = c->r;
    int workers = sa_parallel_workers(threads, r->nz > r->ny ? r->nz : r->ny);
    c->scratch = scratch_alloc(r, workers);
    if (!c->scratch) return sa_error_set(err, "out of memory for the distance transform");
    if (c->queries) {
        sa_parallel_for(sa_parallel_workers(threads, r->ny), r->ny, mark_query_columns, c);
    } else {
        memset(c->query_columns, 1, r->nx * r->ny);
    }
    memset(c->query_x, 0, r->nx);
    for (size_t j = 0; j < r->ny; j++)
        for (size_t i = 0; i < r->nx; i++) c->query_x[i] |= c->query_columns[j * r->nx + i];
    sa_parallel_for(sa_parallel_workers(workers, r->nz), r->nz, pass_in_plane, c);
    sa_parallel_for(sa_parallel_workers(workers, r->ny), r->ny, pass_across_slices, c);
    scratch_free(c->scratch, workers);
    c->scratch = NULL;
    return 0;
}

static double box_diagonal_sq(const sa_region *r, const double s[3]) {
    double dx = s[0] * (double)(r->nx - 1), dy = s[1] * (double)(r->ny - 1), dz = s[2] * (double)(r->nz - 1);
    return (dx * dx + dy * dy) + dz * dz;
}

/* One band round for `queries`; queries left unresolved go to the next round. */
static int solve_round(const uint8_t *features, const uint8_t *queries, const uint64_t *slice_count,
                       const sa_region *r, const double spacing[3], double limit, int threads,
                       double *work, uint8_t *columns, uint8_t *xs, double *out, sa_error *err) {
    /* A band as wide as the box is no band; DBL_MAX (not INFINITY) keeps the
     * "value <= limit" tests false for the INFINITY of "no feature". */
    if (limit >= box_diagonal_sq(r, spacing)) limit = DBL_MAX;
    size_t *offsets = malloc(r->nz * sizeof *offsets);
    uint64_t *unresolved = malloc(r->nz * sizeof *unresolved);
    uint8_t *pending = NULL;
    double *sub = NULL;
    int rc = -1;
    if (!offsets || !unresolved) {
        sa_error_set(err, "out of memory for the distance transform");
        goto done;
    }
    size_t total = 0;
    for (size_t k = 0; k < r->nz; k++) offsets[k] = total, total += (size_t)slice_count[k];
    edt_ctx c = {features, queries, columns, xs, r, spacing[0], spacing[1], spacing[2], limit,
                 work, NULL, offsets, unresolved, out};
    if (run_passes(&c, threads, err)) goto done;
    sa_parallel_for(sa_parallel_workers(threads, r->nz), r->nz, gather_slice, &c);

    size_t left = 0;
    for (size_t k = 0; k < r->nz; k++) left += (size_t)unresolved[k];
    if (left == 0) {
        rc = 0;
        goto done;
    }
    if (limit == DBL_MAX) { /* cannot happen with at least one feature */
        sa_error_set(err, "distance transform: no feature voxel");
        goto done;
    }
    /* The voxels still unresolved become the next round's queries. */
    pending = calloc(sa_region_voxels(r), 1);
    sub = malloc(left * sizeof *sub);
    if (!pending || !sub) {
        sa_error_set(err, "out of memory for the distance transform");
        goto done;
    }
    size_t pos = 0;
    for (size_t i = 0, n = sa_region_voxels(r); i < n; i++)
        if (queries[i]) pending[i] = out[pos++] == UNRESOLVED;
    /* unresolved[] now holds the pending voxels' per-slice counts */
    if (solve_round(features, pending, unresolved, r, spacing, limit * 16.0, threads, work, columns, xs,
                    sub, err))
        goto done;
    for (size_t i = 0, s = 0; i < total; i++)
        if (out[i] == UNRESOLVED) out[i] = sub[s++];
    rc = 0;
done:
    free(offsets), free(unresolved), free(pending), free(sub);
    return rc;
}

int sa_edt_query_distances(const uint8_t *features, const uint8_t *queries,
                           const uint64_t *slice_query_count, const sa_region *r,
                           const double spacing[3], int threads, double *work, double *out,
                           sa_error *err) {
    uint8_t *columns = malloc(r->nx * r->ny), *xs = malloc(r->nx);
    int rc = -1;
    if (!columns || !xs) {
        sa_error_set(err, "out of memory for the distance transform");
    } else {
        double smax = fmax(spacing[0], fmax(spacing[1], spacing[2]));
        double band = FIRST_BAND_VOXELS * smax;
        rc = solve_round(features, queries, slice_query_count, r, spacing, band * band, threads, work,
                         columns, xs, out, err);
    }
    free(columns), free(xs);
    return rc;
}

int sa_edt_squared(const uint8_t *features, const sa_grid *g, int threads, double *out,
                   sa_error *err) {
    if (sa_grid_check(g, err)) return -1;
    if (!features || !out) return sa_error_set(err, "no mask given");
    sa_box all = {{0, 0, 0}, {g->nx - 1, g->ny - 1, g->nz - 1}};
    sa_region r;
    sa_region_from_box(&r, &all);
    size_t n = sa_grid_voxels(g);
    double *work = malloc(n * sizeof *work);
    uint8_t *columns = malloc(r.nx * r.ny), *xs = malloc(r.nx);
    int rc = -1;
    if (!work || !columns || !xs) {
        sa_error_set(err, "out of memory for the distance transform");
    } else {
        edt_ctx c = {features, NULL, columns, xs, &r, g->spacing[0], g->spacing[1], g->spacing[2],
                     DBL_MAX, work, NULL, NULL, NULL, NULL};
        rc = run_passes(&c, threads, err);
        /* [y][z][x] back to the grid's [z][y][x] */
        for (size_t k = 0; rc == 0 && k < r.nz; k++)
            for (size_t j = 0; j < r.ny; j++)
                memcpy(out + (k * r.ny + j) * r.nx, work + (j * r.nz + k) * r.nx, r.nx * sizeof *out);
    }
    free(work), free(columns), free(xs);
    return rc;
}

/* Box-local copy of a mask's voxels (as 0/1) and its per-slice counts. */
static uint8_t *copy_region(const uint8_t *mask, const sa_grid *g, const sa_region *r,
                            uint64_t *slice_count) {
    uint8_t *out = malloc(sa_region_voxels(r));
    if (!out) return NULL;
    for (size_t k = 0; k < r->nz; k++) {
        uint64_t count = 0;
        for (size_t j = 0; j < r->ny; j++) {
            const uint8_t *src = mask + ((r->box.lo[2] + k) * g->ny + r->box.lo[1] + j) * g->nx + r->box.lo[0];
            uint8_t *dst = out + (k * r->ny + j) * r->nx;
            for (size_t i = 0; i < r->nx; i++) count += dst[i] = src[i] != 0;
        }
        if (slice_count) slice_count[k] = count;
    }
    return out;
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
    sa_box box = scan.ref_box;
    for (int a = 0; a < 3; a++) {
        if (scan.pred_box.lo[a] < box.lo[a]) box.lo[a] = scan.pred_box.lo[a];
        if (scan.pred_box.hi[a] > box.hi[a]) box.hi[a] = scan.pred_box.hi[a];
    }
    sa_region r;
    sa_region_from_box(&r, &box);
    uint64_t *counts = malloc(r.nz * sizeof *counts);
    uint8_t *q = counts ? copy_region(from, g, &r, counts) : NULL;
    uint8_t *f = q ? copy_region(to, g, &r, NULL) : NULL;
    double *dist = malloc(((size_t)scan.ref_voxels) * sizeof *dist);
    double *work = malloc(sa_region_voxels(&r) * sizeof *work);
    int rc = -1;
    if (!counts || !q || !f || !dist || !work)
        sa_error_set(err, "out of memory");
    else
        rc = sa_edt_query_distances(f, q, counts, &r, g->spacing, threads, work, dist, err);
    free(counts), free(q), free(f), free(work);
    if (rc) {
        free(dist);
        return -1;
    }
    *dist_out = dist;
    *count_out = (size_t)scan.ref_voxels;
    return 0;
}
