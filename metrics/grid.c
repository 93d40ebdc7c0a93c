/* grid.c: validation of the volume geometry every metric depends on. */
#include <math.h>
#include <stdint.h>

#include "metrics.h"

size_t sa_grid_voxels(const sa_grid *g) { return g->nx * g->ny * g->nz; }

int sa_grid_check(const sa_grid *g, sa_error *err) {
    if (!g) return sa_error_set(err, "no grid given");
    if (g->nx == 0 || g->ny == 0 || g->nz == 0)
        return sa_error_set(err, "empty image: size %zux%zux%zu", g->nx, g->ny, g->nz);
    /* The distance transform keeps per-axis positions in 16 bits. */
    if (g->nx > 65535 || g->ny > 65535 || g->nz > 65535)
        return sa_error_set(err, "image too large: size %zux%zux%zu (at most 65535 voxels along an axis)",
                            g->nx, g->ny, g->nz);
    if (g->nx > SIZE_MAX / g->ny || g->nx * g->ny > SIZE_MAX / 8 / g->nz)
        return sa_error_set(err, "image too large: size %zux%zux%zu", g->nx, g->ny, g->nz);
    for (int a = 0; a < 3; a++) {
        double s = g->spacing[a];
        /* beyond these bounds squared distances over- or underflow double */
        if (!isfinite(s) || !(s >= 1e-6 && s <= 1e6))
            return sa_error_set(err, "invalid spacing %g mm along axis %c (must lie between 1e-6 and 1e6 mm)",
                                s, "xyz"[a]);
    }
    return 0;
}
