/* engine.h: private interfaces shared by the metric engine's source files. */
#ifndef SEGARENA_ENGINE_H
#define SEGARENA_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Result of the first pass over a pair of masks (overlap.c). */
typedef struct sa_mask_scan {
    uint64_t ref_voxels, pred_voxels, both_voxels;
    sa_box ref_box, pred_box;
    int ref_has, pred_has;
} sa_mask_scan;

/* pred may be NULL (then only ref is scanned; pred fields mirror ref). */
int sa_mask_scan_pair(const uint8_t *ref, const uint8_t *pred, const sa_grid *g, int threads,
                      sa_mask_scan *out, sa_error *err);

/* The runs of a mask and their component numbers (components.c; lesions.c
 * keeps them). On success *row_start_out has ny*nz + 1 entries (the runs of row
 * y + ny*z are [row_start[row], row_start[row+1]), in ascending x), *runs_out
 * holds 2 entries per run (first and last x, inclusive), *comp_out the component
 * (1..count) of each run. All three are malloc'ed; the caller frees them. */
int sa_component_runs(const uint8_t *mask, const sa_grid *g, int connectivity,
                      uint32_t **row_start_out, uint16_t **runs_out, uint32_t **comp_out,
                      size_t *run_count_out, uint32_t *comp_count_out, sa_error *err);

/* The region the surface work runs on: a box of the full grid. */
typedef struct sa_region {
    sa_box box;        /* inclusive, full-grid coordinates */
    size_t nx, ny, nz; /* box extent */
} sa_region;

void sa_region_from_box(sa_region *r, const sa_box *box);
/* The region of the union of two boxes. */
void sa_region_from_boxes(sa_region *r, const sa_box *a, const sa_box *b);
size_t sa_region_voxels(const sa_region *r);

/* A set of voxels of a region, row by row (points.c): the points of row (y=j,
 * z=k) have box-local x coordinates x[row_start[k*ny + j] .. row_start[k*ny + j + 1]),
 * ascending. Listing points in this order is listing them in voxel index order. */
typedef struct sa_points {
    size_t *row_start; /* ny*nz + 1 entries */
    uint16_t *x;
    size_t count;
} sa_points;

void sa_points_free(sa_points *p);

/* Fills flags[0..r->nx) with 0/1 for the voxels of row (j, k) of the region. */
typedef void (*sa_row_flags_fn)(void *ctx, size_t j, size_t k, uint8_t *flags);

/* Collects the points flagged by fn, slices in parallel. Returns 0 or -1. */
int sa_points_collect(const sa_region *r, int threads, sa_row_flags_fn fn, void *ctx,
                      sa_points *out, sa_error *err);

/* The non-zero voxels of a full-grid mask inside region r. */
int sa_points_from_mask(const uint8_t *mask, const sa_grid *g, const sa_region *r, int threads,
                        sa_points *out, sa_error *err);

/* Surface voxels of a full-grid mask inside region r (surface.c). */
int sa_surface_points(const uint8_t *mask, const sa_grid *g, const sa_region *r, int threads,
                      sa_points *out, sa_error *err);

/* For every query point, the exact distance in mm to the nearest feature point
 * (at least one), written to out[] in the queries' order (voxel index order).
 * work is scratch space of sa_region_voxels(r) * SA_EDT_WORK_BYTES bytes.
 * Returns 0 or -1 (out of memory, or a box past sa_edt_columns_fit). */
#define SA_EDT_WORK_BYTES 4
/* 1 when a box of nx x ny columns fits the transform's 32-bit column places
 * (true up to 65535 x 65535, the grid's limit); sa_edt_query_distances refuses
 * a box that does not, with a message. */
int sa_edt_columns_fit(size_t nx, size_t ny);
int sa_edt_query_distances(const sa_points *features, const sa_points *queries, const sa_region *r,
                           const double spacing[3], int threads, void *work, double *out,
                           sa_error *err);

/* ---- Surface summaries: what the metrics are computed from -------------------
 * Both the CPU path (score.c) and the GPU path (gpu.h) reduce the two directed
 * distance sets to these numbers; score.c turns them into the metrics. Every
 * field is order-independent (a maximum, counts, an exact sum, order
 * statistics), so both paths give the same bits. */
typedef struct sa_directed_summary {
    uint64_t count;      /* query (surface) voxels measured */
    double max;          /* largest distance, mm */
    double sum;          /* exact sum of the distances, rounded once (exact_sum.h) */
    uint64_t within_tau; /* distances <= tau */
    double p95;          /* 95th percentile (percentile_rule.h) */
} sa_directed_summary;

typedef struct sa_surface_summary {
    uint64_t ref_surface_voxels, pred_surface_voxels;
    int has_distances;                     /* both masks non-empty */
    sa_directed_summary pred_to_ref;       /* D_TR: pred's surface to ref's */
    sa_directed_summary ref_to_pred;       /* D_RT */
    double p95_pooled;                     /* P95 of D_TR and D_RT together */
} sa_surface_summary;

/* The CPU's summary of one directed set (d is reordered by the percentile). */
void sa_directed_summarize(double *d, size_t n, double tau, sa_directed_summary *out);

/* score.c: options checked and resolved for a grid (threads, small images on
 * one thread); the metrics from the counts and the surface summary (surf may be
 * NULL when a mask is empty), for both paths. */
int sa_score_options_resolve(const sa_grid *grid, const sa_score_options *opt_in, sa_score_options *opt,
                             sa_error *err);
void sa_pair_metrics_finish(const sa_grid *grid, const sa_mask_scan *scan, const sa_surface_summary *surf,
                            const sa_score_options *opt, sa_pair_metrics *out);

/* Argument checks, each shared by the CPU and the GPU path of its entry point and
 * run before either touches a mask (an upload reads every voxel of every mask):
 * sa_consensus_check: what sa_consensus and sa_consensus_on_device need (grid, k,
 * every rater's mask, options; opt NULL: the defaults); sa_consensus_options_check
 * the options alone (sa_gpu_consensus: raters in GPU slots); sa_lesion_options_check
 * (lesions.c) what sa_lesions_find and sa_lesions_match need of their options.
 * Each returns 0 or -1 with err set, in the messages of the CPU engine. */
int sa_consensus_check(const uint8_t *const *raters, size_t k, const sa_grid *g, const sa_consensus_options *opt,
                       sa_error *err);
int sa_consensus_options_check(const sa_consensus_options *opt, sa_error *err);
int sa_lesion_options_check(const sa_lesion_options *opt, sa_error *err);

/* Which engine runs a job of `comparisons` comparisons on a grid of `voxels`
 * voxels with `threads` CPU threads (device.c; sa_device_auto_size_ok gives auto's
 * rule): 1 GPU, 0 CPU, -1 with err (gpu asked for and none usable). *note: NULL,
 * or why auto chose the CPU. */
int sa_device_choose(sa_device want, size_t voxels, size_t comparisons, int threads, const char **note,
                     sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
