/* overlap.c: one pass over both masks that counts TP/FP/FN and finds each mask's
 * bounding box, so that the surface work that follows touches only that box. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "parallel.h"

/* Counts of one row: loops written so that gcc vectorises them. */
static void count_row(const uint8_t *r, const uint8_t *p, size_t n, uint64_t *ref_count,
                      uint64_t *pred_count, uint64_t *both_count) {
    uint64_t rc = 0, pc = 0, bc = 0;
    size_t i = 0;
    while (i < n) {
        /* 8-bit partial sums over at most 255 voxels, then widened. */
        size_t end = n - i > 255 ? i + 255 : n;
        uint8_t rs = 0, ps = 0, bs = 0;
        for (size_t k = i; k < end; k++) {
            uint8_t a = r[k] != 0, b = p[k] != 0;
            rs += a;
            ps += b;
            bs += a & b;
        }
        rc += rs;
        pc += ps;
        bc += bs;
        i = end;
    }
    *ref_count += rc;
    *pred_count += pc;
    *both_count += bc;
}

static void row_extent(const uint8_t *row, size_t n, size_t *first, size_t *last) {
    size_t a = 0, b = n - 1;
    while (!row[a]) a++;
    while (!row[b]) b--;
    *first = a;
    *last = b;
}

static void box_add(sa_box *box, int *has, size_t x0, size_t x1, size_t y, size_t z) {
    if (!*has) {
        box->lo[0] = x0, box->hi[0] = x1;
        box->lo[1] = box->hi[1] = y;
        box->lo[2] = box->hi[2] = z;
        *has = 1;
        return;
    }
    if (x0 < box->lo[0]) box->lo[0] = x0;
    if (x1 > box->hi[0]) box->hi[0] = x1;
    if (y < box->lo[1]) box->lo[1] = y;
    if (y > box->hi[1]) box->hi[1] = y;
    if (z < box->lo[2]) box->lo[2] = z;
    if (z > box->hi[2]) box->hi[2] = z;
}

static void box_merge(sa_box *into, int *has, const sa_box *b, int b_has) {
    if (!b_has) return;
    box_add(into, has, b->lo[0], b->hi[0], b->lo[1], b->lo[2]);
    box_add(into, has, b->lo[0], b->hi[0], b->hi[1], b->hi[2]);
}

typedef struct {
    const uint8_t *ref, *pred;
    const sa_grid *g;
    sa_mask_scan *per_slice;
} scan_ctx;

static void scan_slice(void *vctx, size_t z, int worker) {
    (void)worker;
    scan_ctx *c = vctx;
    size_t nx = c->g->nx, ny = c->g->ny;
    sa_mask_scan *s = &c->per_slice[z];
    memset(s, 0, sizeof *s);
    for (size_t y = 0; y < ny; y++) {
        const uint8_t *r = c->ref + (z * ny + y) * nx;
        const uint8_t *p = c->pred ? c->pred + (z * ny + y) * nx : r;
        uint64_t rc = 0, pc = 0, bc = 0;
        count_row(r, p, nx, &rc, &pc, &bc);
        s->ref_voxels += rc;
        s->pred_voxels += pc;
        s->both_voxels += bc;
        size_t a, b;
        if (rc) {
            row_extent(r, nx, &a, &b);
            box_add(&s->ref_box, &s->ref_has, a, b, y, z);
        }
        if (pc) {
            row_extent(p, nx, &a, &b);
            box_add(&s->pred_box, &s->pred_has, a, b, y, z);
        }
    }
}

int sa_mask_scan_pair(const uint8_t *ref, const uint8_t *pred, const sa_grid *g, int threads,
                      sa_mask_scan *out, sa_error *err) {
    sa_mask_scan *per_slice = malloc(sizeof *per_slice * g->nz);
    if (!per_slice) return sa_error_set(err, "out of memory");
    scan_ctx ctx = {ref, pred, g, per_slice};
    sa_parallel_for(sa_parallel_workers(threads, g->nz), g->nz, scan_slice, &ctx);
    memset(out, 0, sizeof *out);
    for (size_t z = 0; z < g->nz; z++) {
        const sa_mask_scan *s = &per_slice[z];
        out->ref_voxels += s->ref_voxels;
        out->pred_voxels += s->pred_voxels;
        out->both_voxels += s->both_voxels;
        box_merge(&out->ref_box, &out->ref_has, &s->ref_box, s->ref_has);
        box_merge(&out->pred_box, &out->pred_has, &s->pred_box, s->pred_has);
    }
    free(per_slice);
    return 0;
}

int sa_overlap_count(const uint8_t *ref, const uint8_t *pred, size_t n, int threads,
                     sa_overlap_counts *out, sa_error *err) {
    if (!ref || !pred || !out) return sa_error_set(err, "no mask given");
    if (n == 0) return sa_error_set(err, "empty mask");
    /* A flat buffer is split into slices of 64 Ki voxels so that threads share it. */
    const size_t slice = 65536;
    sa_grid g = {n, 1, 1, {1, 1, 1}};
    if (n > slice && n % slice == 0) g.nx = slice, g.nz = n / slice;
    sa_mask_scan s;
    if (sa_mask_scan_pair(ref, pred, &g, threads, &s, err)) return -1;
    out->tp = s.both_voxels;
    out->fp = s.pred_voxels - s.both_voxels;
    out->fn = s.ref_voxels - s.both_voxels;
    out->tn = (uint64_t)n - s.ref_voxels - s.pred_voxels + s.both_voxels;
    return 0;
}

int sa_mask_bbox(const uint8_t *mask, const sa_grid *g, sa_box *box) {
    sa_mask_scan s;
    if (sa_mask_scan_pair(mask, NULL, g, 1, &s, NULL)) return 0;
    if (s.ref_has) *box = s.ref_box;
    return s.ref_has;
}
