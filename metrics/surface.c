/*
 * surface.c: surface voxels as the spec defines them: voxels of the mask with at
 * least one of their 6 face neighbours outside the mask, a neighbour outside the
 * image counting as outside. Computed only inside the region that holds both
 * masks, as voxel lists (points.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"


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
    const uint8_t *mask;
    const sa_grid *g;
    const sa_region *r;
} surface_rows;

static void surface_row_flags(void *vctx, size_t j, size_t k, uint8_t *flags) {
    const surface_rows *s = vctx;
    surface_row(s->mask, s->g, s->r->box.lo[0], s->r->nx, s->r->box.lo[1] + j, s->r->box.lo[2] + k, flags);
}

int sa_surface_points(const uint8_t *mask, const sa_grid *g, const sa_region *r, int threads,
                      sa_points *out, sa_error *err) {
    surface_rows s = {mask, g, r};
    return sa_points_collect(r, threads, surface_row_flags, &s, out, err);
}

uint64_t sa_surface_extract(const uint8_t *mask, const sa_grid *g, uint8_t *surface) {
    uint64_t total = 0;
    for (size_t z = 0; z < g->nz; z++)
        for (size_t y = 0; y < g->ny; y++)
            total += surface_row(mask, g, 0, g->nx, y, z, surface + (z * g->ny + y) * g->nx);
    return total;
}
