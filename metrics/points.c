/*
 * points.c: voxel sets as per-row lists of x coordinates (sa_points). Surfaces
 * are thin: a few hundred thousand voxels in a box of tens of millions, so the
 * distance transform reads them as lists, and never scans or allocates a
 * box-sized array to find them.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "parallel.h"

void sa_region_from_box(sa_region *r, const sa_box *box) {
    r->box = *box;
    r->nx = box->hi[0] - box->lo[0] + 1;
    r->ny = box->hi[1] - box->lo[1] + 1;
    r->nz = box->hi[2] - box->lo[2] + 1;
}

void sa_region_from_boxes(sa_region *r, const sa_box *a, const sa_box *b) {
    sa_box box = *a;
    for (int k = 0; k < 3; k++) {
        if (b->lo[k] < box.lo[k]) box.lo[k] = b->lo[k];
        if (b->hi[k] > box.hi[k]) box.hi[k] = b->hi[k];
    }
    sa_region_from_box(r, &box);
}

size_t sa_region_voxels(const sa_region *r) { return r->nx * r->ny * r->nz; }

void sa_points_free(sa_points *p) {
    if (!p) return;
    free(p->row_start);
    free(p->x);
    memset(p, 0, sizeof *p);
}

typedef struct {
    const sa_region *r;
    sa_row_flags_fn fn;
    void *ctx;
    sa_points *out;
    uint8_t **flags;    /* per worker: one row of flags */
    uint16_t **slice_x; /* per slice: its points, until they are joined */
    atomic_int failed;
} collect_ctx;

static void collect_slice(void *vctx, size_t k, int worker) {
    collect_ctx *c = vctx;
    const sa_region *r = c->r;
    uint8_t *flags = c->flags[worker];
    size_t count = 0, cap = 0;
    uint16_t *xs = NULL;
    for (size_t j = 0; j < r->ny; j++) {
        c->fn(c->ctx, j, k, flags);
        size_t row_count = 0;
        const uint8_t *p = flags, *end = flags + r->nx;
        while ((p = memchr(p, 1, (size_t)(end - p))) != NULL) {
            if (count == cap) {
                cap = cap ? 2 * cap : 1024;
                uint16_t *grown = realloc(xs, cap * sizeof *xs);
                if (!grown) {
                    atomic_store(&c->failed, 1);
                    free(xs);
                    c->slice_x[k] = NULL;
                    return;
                }
                xs = grown;
            }
            xs[count++] = (uint16_t)(p - flags);
            row_count++;
            p++;
        }
        c->out->row_start[k * r->ny + j] = row_count;
    }
    c->slice_x[k] = xs;
}

int sa_points_collect(const sa_region *r, int threads, sa_row_flags_fn fn, void *ctx,
                      sa_points *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    size_t rows = r->ny * r->nz;
    int workers = sa_parallel_workers(threads, r->nz);
    collect_ctx c = {.r = r, .fn = fn, .ctx = ctx, .out = out, .flags = calloc((size_t)workers, sizeof(uint8_t *)),
                     .slice_x = calloc(r->nz, sizeof(uint16_t *))};
    atomic_init(&c.failed, 0);
    out->row_start = malloc((rows + 1) * sizeof *out->row_start);
    int ok = c.flags && c.slice_x && out->row_start;
    for (int w = 0; ok && w < workers; w++) ok = (c.flags[w] = malloc(r->nx)) != NULL;
    if (ok) {
        sa_parallel_for(workers, r->nz, collect_slice, &c);
        ok = !atomic_load(&c.failed);
    }
    if (ok) {
        size_t total = 0; /* row counts -> offsets */
        for (size_t row = 0; row < rows; row++) {
            size_t n = out->row_start[row];
            out->row_start[row] = total;
            total += n;
        }
        out->row_start[rows] = total;
        out->count = total;
        out->x = malloc((total ? total : 1) * sizeof *out->x);
        ok = out->x != NULL;
        for (size_t k = 0; ok && k < r->nz; k++) {
            size_t from = out->row_start[k * r->ny], n = out->row_start[(k + 1) * r->ny] - from;
            if (n) memcpy(out->x + from, c.slice_x[k], n * sizeof *out->x);
        }
    }
    for (int w = 0; c.flags && w < workers; w++) free(c.flags[w]);
    for (size_t k = 0; c.slice_x && k < r->nz; k++) free(c.slice_x[k]);
    free(c.flags);
    free(c.slice_x);
    if (!ok) {
        sa_points_free(out);
        return sa_error_set(err, "out of memory for voxel lists");
    }
    return 0;
}

typedef struct {
    const uint8_t *mask;
    const sa_grid *g;
    const sa_region *r;
} mask_rows;

static void mask_row_flags(void *vctx, size_t j, size_t k, uint8_t *flags) {
    const mask_rows *m = vctx;
    const uint8_t *src = m->mask + ((m->r->box.lo[2] + k) * m->g->ny + m->r->box.lo[1] + j) * m->g->nx + m->r->box.lo[0];
    for (size_t i = 0; i < m->r->nx; i++) flags[i] = src[i] != 0;
}

int sa_points_from_mask(const uint8_t *mask, const sa_grid *g, const sa_region *r, int threads,
                        sa_points *out, sa_error *err) {
    mask_rows m = {mask, g, r};
    return sa_points_collect(r, threads, mask_row_flags, &m, out, err);
}
