/*
 * edt.c: exact Euclidean distances with anisotropic spacing, by the separable
 * lower-envelope transform of edt_line.h.
 *
 * The scoring path needs distances only at query voxels (the other mask's
 * surface), so the work is:
 *   pass A, per z slice: 1D distances along x, then the envelope along y, into a
 *           box-sized buffer of squared in-plane distances;
 *   pass B, per y row:   the envelope along z, evaluated only in columns that
 *           hold query voxels, and only at those voxels;
 *   gather, per z slice: the query distances in voxel index order, so that every
 *           later sum is computed in the same order whatever the thread count.
 * Everything runs on the bounding box of features and queries: a separable
 * transform restricted to a box that holds every feature is exact for every
 * voxel of the box.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edt_line.h"
#include "engine.h"
#include "parallel.h"

typedef struct {
    double *slice; /* pass A: nx*ny in-plane distances of one slice */
    double *plane; /* pass B: nz*nx values of one y row */
    double *line;  /* max(ny, nz) values of one line */
    double *zb;    /* envelope breakpoints */
    int *v;        /* envelope roots */
} worker_scratch;

typedef struct {
    const uint8_t *features, *queries; /* box-local; queries NULL: evaluate all */
    const uint8_t *query_columns;      /* ny*nx flags: column (x,y) holds a query */
    const sa_region *r;
    double sx, sy, sz;
    double *g; /* box-sized: pass A output, then pass B results in place */
    worker_scratch *scratch;
    const size_t *slice_offset; /* gather: where each slice's distances start */
    double *out;
} edt_ctx;

static void scratch_free(worker_scratch *s, int workers) {
    if (!s) return;
    for (int w = 0; w < workers; w++) {
        free(s[w].slice);
        free(s[w].plane);
        free(s[w].line);
        free(s[w].zb);
        free(s[w].v);
    }
    free(s);
}

static worker_scratch *scratch_alloc(const sa_region *r, int workers) {
    worker_scratch *s = calloc((size_t)workers, sizeof *s);
    if (!s) return NULL;
    size_t longest = r->nx > r->ny ? r->nx : r->ny;
    if (r->nz > longest) longest = r->nz;
    for (int w = 0; w < workers; w++) {
        s[w].slice = malloc(sizeof(double) * r->nx * r->ny);
        s[w].plane = malloc(sizeof(double) * r->nz * r->nx);
        s[w].line = malloc(sizeof(double) * longest);
        s[w].zb = malloc(sizeof(double) * (longest + 1));
        s[w].v = malloc(sizeof(int) * longest);
        if (!s[w].slice || !s[w].plane || !s[w].line || !s[w].zb || !s[w].v) {
            scratch_free(s, workers);
            return NULL;
        }
    }
    return s;
}

/* Pass A: squared distance to the nearest feature of the same z slice. */
static void pass_in_plane(void *vctx, size_t k, int worker) {
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    const int nx = (int)r->nx, ny = (int)r->ny;
    worker_scratch *s = &c->scratch[worker];
    const uint8_t *feat = c->features + k * r->nx * r->ny;
    double *g = c->g + k * r->nx * r->ny;

    int any = 0;
    for (int j = 0; j < ny; j++)
        any |= sa_line_feature_sqdist(feat + (size_t)j * nx, 1, nx, c->sx, s->slice + (size_t)j * nx, 1);
    if (!any) {
        for (size_t i = 0, n = r->nx * r->ny; i < n; i++) g[i] = INFINITY;
        return;
    }
    for (int i = 0; i < nx; i++) {
        for (int j = 0; j < ny; j++) s->line[j] = s->slice[(size_t)j * nx + i];
        sa_line_envelope_all(s->line, 1, ny, c->sy, s->v, s->zb, g + i, nx);
    }
}

/* Pass B: along z, at the query voxels of row j (or at every voxel). */
static void pass_across_slices(void *vctx, size_t j, int worker) {
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    const size_t nx = r->nx, plane_stride = r->nx * r->ny;
    const int nz = (int)r->nz;
    worker_scratch *s = &c->scratch[worker];
    double *g_row = c->g + j * nx;

    for (int k = 0; k < nz; k++) memcpy(s->plane + (size_t)k * nx, g_row + k * plane_stride, nx * sizeof(double));
    for (size_t i = 0; i < nx; i++) {
        if (c->queries && !c->query_columns[j * nx + i]) continue;
        const double *f = s->plane + i;
        int count = sa_envelope_build(f, (ptrdiff_t)nx, nz, c->sz, s->v, s->zb);
        int kk = 0;
        for (int k = 0; k < nz; k++) {
            size_t at = (size_t)k * plane_stride + i;
            if (c->queries && !c->queries[j * nx + at]) continue;
            double d2 = INFINITY;
            if (count > 0) {
                kk = sa_envelope_seek(s->zb, count, kk, k);
                d2 = sa_envelope_value(f, (ptrdiff_t)nx, c->sz, s->v, count, kk, k);
            }
            g_row[at] = c->queries ? sqrt(d2) : d2;
        }
    }
}

static void mark_query_columns(void *vctx, size_t j, int worker) {
    (void)worker;
    edt_ctx *c = vctx;
    const sa_region *r = c->r;
    uint8_t *cols = (uint8_t *)c->query_columns + j * r->nx;
    memset(cols, 0, r->nx);
    for (size_t k = 0; k < r->nz; k++) {
        const uint8_t *q = c->queries + (k * r->ny + j) * r->nx;
        for (size_t i = 0; i < r->nx; i++) cols[i] |= q[i];
    }
}

static void gather_slice(void *vctx, size_t k, int worker) {
    (void)worker;
    edt_ctx *c = vctx;
    size_t n = c->r->nx * c->r->ny, pos = c->slice_offset[k];
    const uint8_t *q = c->queries + k * n;
    const double *g = c->g + k * n;
    for (size_t i = 0; i < n; i++)
        if (q[i]) c->out[pos++] = g[i];
}

static int run_transform(edt_ctx *c, int threads, sa_error *err) {
    const sa_region *r = c->r;
    int workers = sa_parallel_workers(threads, r->nz > r->ny ? r->nz : r->ny);
    c->scratch = scratch_alloc(r, workers);
    if (!c->scratch) return sa_error_set(err, "out of memory for the distance transform");
    if (c->queries) sa_parallel_for(sa_parallel_workers(threads, r->ny), r->ny, mark_query_columns, c);
    sa_parallel_for(sa_parallel_workers(workers, r->nz), r->nz, pass_in_plane, c);
    sa_parallel_for(sa_parallel_workers(workers, r->ny), r->ny, pass_across_slices, c);
    scratch_free(c->scratch, workers);
    c->scratch = NULL;
    return 0;
}

int sa_edt_query_distances(const uint8_t *features, const uint8_t *queries,
                           const uint64_t *slice_query_count, const sa_region *r,
                           const double spacing[3], int threads, double *out, sa_error *err) {
    size_t n = sa_region_voxels(r);
    double *g = malloc(n * sizeof *g);
    uint8_t *columns = malloc(r->nx * r->ny);
    size_t *offsets = malloc(r->nz * sizeof *offsets);
    if (!g || !columns || !offsets) {
        free(g), free(columns), free(offsets);
        return sa_error_set(err, "out of memory for the distance transform (%zu voxels)", n);
    }
    size_t pos = 0;
    for (size_t k = 0; k < r->nz; k++) offsets[k] = pos, pos += (size_t)slice_query_count[k];
    edt_ctx c = {features, queries, columns, r, spacing[0], spacing[1], spacing[2], g, NULL, offsets, out};
    int rc = run_transform(&c, threads, err);
    if (rc == 0) sa_parallel_for(sa_parallel_workers(threads, r->nz), r->nz, gather_slice, &c);
    free(g), free(columns), free(offsets);
    return rc;
}

int sa_edt_squared(const uint8_t *features, const sa_grid *g, int threads, double *out,
                   sa_error *err) {
    if (sa_grid_check(g, err)) return -1;
    if (!features || !out) return sa_error_set(err, "no mask given");
    sa_box all = {{0, 0, 0}, {g->nx - 1, g->ny - 1, g->nz - 1}};
    sa_region r;
    sa_region_from_box(&r, &all);
    edt_ctx c = {features, NULL, NULL, &r, g->spacing[0], g->spacing[1], g->spacing[2], out, NULL, NULL, NULL};
    return run_transform(&c, threads, err);
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
    int rc = -1;
    if (!counts || !q || !f || !dist)
        sa_error_set(err, "out of memory");
    else
        rc = sa_edt_query_distances(f, q, counts, &r, g->spacing, threads, dist, err);
    free(counts), free(q), free(f);
    if (rc) {
        free(dist);
        return -1;
    }
    *dist_out = dist;
    *count_out = (size_t)scan.ref_voxels;
    return 0;
}
