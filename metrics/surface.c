/*
 * surface.c: surface voxels as the spec defines them: voxels of the mask with at
 * least one of their 6 face neighbours outside the mask, a neighbour outside the
 * image counting as outside. Computed only inside the region that holds both
 * masks, into box-local arrays.
 */
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

size_t sa_region_voxels(const sa_region *r) { return r->nx * r->ny * r->nz; }

static const uint8_t zero_row[65536]; /* stands for the rows outside the image */

/* Surface flags of one mask row: row points at full-grid voxel (x0, y, z).
 * The interior of the row runs branch-free so that the compiler vectorises it. */
static uint64_t surface_row(const uint8_t *mask, const sa_grid *g, size_t x0, size_t nx,
                            size_t y, size_t z, uint8_t *out) {
    const size_t gx = g->nx, plane = g->nx * g->ny;
    const uint8_t *row = mask + (z * g->ny + y) * gx;
    const uint8_t *below = y > 0 ? row - gx : zero_row, *above = y + 1 < g->ny ? row + gx : zero_row;
    const uint8_t *front = z > 0 ? row - plane : zero_row, *back = z + 1 < g->nz ? row + plane : zero_row;
    /* voxels on the image's x ends have an outside neighbour: surface if inside */
    size_t lo = x0 == 0 ? 1 : x0, hi = x0 + nx == gx ? gx - 1 : x0 + nx;
    if (x0 == 0) out[0] = row[0] != 0;
    if (x0 + nx == gx && gx - 1 >= lo) out[gx - 1 - x0] = row[gx - 1] != 0;
    if (gx == 1) out[0] = row[0] != 0;
    uint8_t *o = out - x0;
    for (size_t x = lo; x < hi; x++) {
        uint8_t inner = (row[x - 1] != 0) & (row[x + 1] != 0) & (below[x] != 0) & (above[x] != 0) &
                        (front[x] != 0) & (back[x] != 0);
        o[x] = (uint8_t)((row[x] != 0) & (inner ^ 1));
    }
    uint64_t count = 0;
    for (size_t i = 0; i < nx; i++) count += out[i];
    return count;
}

typedef struct {
    const uint8_t *a, *b;
    const sa_grid *g;
    const sa_region *r;
    uint8_t *surf_a, *surf_b;
    uint64_t *count_a, *count_b;
} surface_ctx;

static void surface_slice(void *vctx, size_t k, int worker) {
    (void)worker;
    surface_ctx *c = vctx;
    const sa_region *r = c->r;
    size_t z = r->box.lo[2] + k;
    uint64_t ca = 0, cb = 0;
    for (size_t j = 0; j < r->ny; j++) {
        size_t y = r->box.lo[1] + j;
        size_t off = (k * r->ny + j) * r->nx;
        if (c->surf_a) ca += surface_row(c->a, c->g, r->box.lo[0], r->nx, y, z, c->surf_a + off);
        if (c->surf_b) cb += surface_row(c->b, c->g, r->box.lo[0], r->nx, y, z, c->surf_b + off);
    }
    if (c->count_a) c->count_a[k] = ca;
    if (c->count_b) c->count_b[k] = cb;
}

int sa_surfaces_in_region(const uint8_t *mask_a, const uint8_t *mask_b, const sa_grid *g,
                          const sa_region *r, int threads, uint8_t *surf_a, uint8_t *surf_b,
                          uint64_t *slice_count_a, uint64_t *slice_count_b, sa_error *err) {
    (void)err;
    surface_ctx ctx = {mask_a, mask_b, g, r, surf_a, surf_b, slice_count_a, slice_count_b};
    sa_parallel_for(sa_parallel_workers(threads, r->nz), r->nz, surface_slice, &ctx);
    return 0;
}

uint64_t sa_surface_extract(const uint8_t *mask, const sa_grid *g, uint8_t *surface) {
    sa_box all = {{0, 0, 0}, {g->nx - 1, g->ny - 1, g->nz - 1}};
    sa_region r;
    sa_region_from_box(&r, &all);
    uint64_t *counts = calloc(g->nz, sizeof *counts);
    uint64_t total = 0;
    if (!counts) { /* fall back to a single pass without per-slice counts */
        sa_surfaces_in_region(mask, NULL, g, &r, 1, surface, NULL, NULL, NULL, NULL);
        for (size_t i = 0, n = sa_grid_voxels(g); i < n; i++) total += surface[i];
        return total;
    }
    sa_surfaces_in_region(mask, NULL, g, &r, 0, surface, NULL, counts, NULL, NULL);
    for (size_t z = 0; z < g->nz; z++) total += counts[z];
    free(counts);
    return total;
}
