/* engine.h: private interfaces shared by the metric engine's source files. */
#ifndef SEGARENA_ENGINE_H
#define SEGARENA_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* A buffer for box-sized data (large_alloc.c); release with free(). */
void *sa_large_alloc(size_t bytes);

/* Result of the first pass over a pair of masks (overlap.c). */
typedef struct sa_mask_scan {
    uint64_t ref_voxels, pred_voxels, both_voxels;
    sa_box ref_box, pred_box;
    int ref_has, pred_has;
} sa_mask_scan;

/* pred may be NULL (then only ref is scanned; pred fields mirror ref). */
int sa_mask_scan_pair(const uint8_t *ref, const uint8_t *pred, const sa_grid *g, int threads,
                      sa_mask_scan *out, sa_error *err);

/* A box-local copy of something: dims and the box's place in the full grid. */
typedef struct sa_region {
    sa_box box;          /* inclusive, full-grid coordinates */
    size_t nx, ny, nz;   /* box extent */
} sa_region;

void sa_region_from_box(sa_region *r, const sa_box *box);
size_t sa_region_voxels(const sa_region *r);

/* Surfaces of two masks inside region (surface.c). Writes box-local 0/1 arrays
 * (either may be NULL to skip that mask) and per-z-slice counts (arrays of
 * r->nz entries, may be NULL). Returns 0 or -1 (out of memory). */
int sa_surfaces_in_region(const uint8_t *mask_a, const uint8_t *mask_b, const sa_grid *g,
                          const sa_region *r, int threads, uint8_t *surf_a, uint8_t *surf_b,
                          uint64_t *slice_count_a, uint64_t *slice_count_b, sa_error *err);

/* For every query voxel (box-local 0/1 array) the exact distance in mm to the
 * nearest feature voxel (box-local 0/1 array, at least one set), written into
 * out[] in box index order (= full-grid index order). slice_query_count gives
 * the number of query voxels per z slice; work is scratch space of
 * sa_region_voxels(r) * SA_EDT_WORK_BYTES bytes. Returns 0 or -1 (out of memory). */
#define SA_EDT_WORK_BYTES 4
int sa_edt_query_distances(const uint8_t *features, const uint8_t *queries,
                           const uint64_t *slice_query_count, const sa_region *r,
                           const double spacing[3], int threads, void *work, double *out,
                           sa_error *err);

#endif
