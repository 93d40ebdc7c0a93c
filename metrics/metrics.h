/*
 * metrics.h: the public face of SegArena's metric engine.
 *
 * Pure computation on voxel masks already in memory: overlap counts and ratios,
 * exact Euclidean surface distances (HD, HD95 and variants, ASSD, MASD, NSD) with
 * anisotropic spacing, following ../shared/spec/metrics.md (definition version 1).
 * No file, database or network access: image reading lives in datasets/.
 *
 * Conventions (also in docs/metrics.md):
 *  - Volumes are stored x fastest, then y, then z: index = x + nx*(y + ny*z).
 *  - A mask voxel is "inside" when its byte is non-zero.
 *  - Spacing is in mm; distances are in mm; volumes in mL.
 *  - Surface: inner boundary with 6-connectivity; outside the image is background.
 *  - Percentiles: linear interpolation between order statistics, as numpy's default.
 */
#ifndef SEGARENA_METRICS_H
#define SEGARENA_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of ../shared/spec/metrics.md that this engine implements. */
#define SA_METRIC_DEFINITION_VERSION 1

/* An error message for the caller to print; library code never prints. */
typedef struct sa_error {
    char msg[512];
} sa_error;

/* Set err->msg printf-style (err may be NULL); always returns -1. */
int sa_error_set(sa_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Size and voxel spacing of a volume: all the geometry metrics need. */
typedef struct sa_grid {
    size_t nx, ny, nz;
    double spacing[3]; /* mm along x, y, z; finite and > 0 */
} sa_grid;

size_t sa_grid_voxels(const sa_grid *g);
/* Returns 0 when the grid is usable (non-zero size, finite positive spacing,
 * coordinates fit the engine's index types), else -1 with a message. */
int sa_grid_check(const sa_grid *g, sa_error *err);

/* A metric value that may be undefined. reason == NULL means value is defined;
 * otherwise value is 0 and reason is a static string such as "empty_reference". */
typedef struct sa_value {
    double value;
    const char *reason;
} sa_value;

/* Reasons used for undefined values (JSON: "<name>_reason"). */
#define SA_REASON_EMPTY_REFERENCE "empty_reference"
#define SA_REASON_EMPTY_PREDICTION "empty_prediction"
#define SA_REASON_NO_BACKGROUND "reference_fills_image"

/* Which HD95 definition the "hd95" name means is fixed by the spec (max of the two
 * directed P95s); the variants are always computed too. */
typedef struct sa_score_options {
    double tau_mm; /* NSD tolerance in mm, >= 0; default 1 */
    int threads;   /* worker threads; <= 0 means all online cores */
} sa_score_options;

void sa_score_options_default(sa_score_options *opt);

/* Every overlap and surface metric of one (reference, prediction) pair. */
typedef struct sa_pair_metrics {
    /* voxel counts */
    uint64_t tp, fp, fn, tn;
    uint64_t ref_voxels, pred_voxels;
    uint64_t ref_surface_voxels, pred_surface_voxels;
    int both_empty; /* R and T both empty: Dice = NSD = 1, distances 0 */

    /* overlap */
    sa_value dice, jaccard, sensitivity, specificity, ppv;
    sa_value volume_ref_ml, volume_pred_ml, abs_volume_diff_ml, rve_percent;
    sa_value pet_accuracy;

    /* surface distances, mm */
    sa_value hd, hd95, hd95_pooled, hd95_mean, assd, masd;
    sa_value nsd; /* at tau_mm */
    double tau_mm;

    /* the directed parts, for explanation and tests (undefined like hd) */
    sa_value hd_pred_to_ref, hd_ref_to_pred;     /* max D_TR, max D_RT */
    sa_value p95_pred_to_ref, p95_ref_to_pred;   /* P95(D_TR), P95(D_RT) */
    sa_value mean_pred_to_ref, mean_ref_to_pred; /* mean D_TR, mean D_RT */

    int threads_used;
} sa_pair_metrics;

/* Scores one pair of masks on the same grid. ref and pred hold one byte per
 * voxel (non-zero = inside). Returns 0, or -1 with err set (bad grid, options
 * or out of memory); never returns NaN in a defined value. */
int sa_score_pair(const uint8_t *ref, const uint8_t *pred, const sa_grid *grid,
                  const sa_score_options *opt, sa_pair_metrics *out, sa_error *err);

/* The published metrics in the spec's order, with their JSON/CSV names. */
typedef struct sa_metric_info {
    const char *name;     /* JSON key and CSV column, e.g. "hd95" */
    size_t offset;        /* offsetof(sa_pair_metrics, field), an sa_value */
    const char *unit;     /* "", "mL", "%" or "mm" */
    int higher_is_better; /* 1, 0 (lower is better) or -1 (not rankable) */
} sa_metric_info;

const sa_metric_info *sa_metric_table(size_t *count);
const sa_metric_info *sa_metric_find(const char *name); /* NULL if unknown */
sa_value sa_metric_get(const sa_pair_metrics *m, const sa_metric_info *info);

/* Number of online CPU cores (>= 1). */
int sa_cpu_count(void);

/* ---- Building blocks, public so tests and later modules can use them ---- */

/* Overlap counts of two masks (threads <= 0: all cores). */
typedef struct sa_overlap_counts {
    uint64_t tp, fp, fn, tn;
} sa_overlap_counts;
int sa_overlap_count(const uint8_t *ref, const uint8_t *pred, size_t n, int threads,
                     sa_overlap_counts *out, sa_error *err);

/* Inclusive bounding box of non-zero voxels; returns 0 if the mask is empty. */
typedef struct sa_box {
    size_t lo[3], hi[3];
} sa_box;
int sa_mask_bbox(const uint8_t *mask, const sa_grid *g, sa_box *box);

/* Writes 1 into surface[i] for voxels of the inner 6-connected boundary of mask,
 * 0 elsewhere; both arrays cover the whole grid. Returns the surface voxel count. */
uint64_t sa_surface_extract(const uint8_t *mask, const sa_grid *g, uint8_t *surface);

/* Directed surface distances: for every non-zero voxel of `from` (in index order),
 * the exact Euclidean distance in mm to the nearest non-zero voxel of `to`.
 * `to` must have at least one non-zero voxel. *dist_out is malloc'ed (caller frees),
 * *count_out its length. Computed over the bounding box of both sets only. */
int sa_directed_distances(const uint8_t *from, const uint8_t *to, const sa_grid *g,
                          int threads, double **dist_out, size_t *count_out,
                          sa_error *err);

/* Squared-distance transform: out[i] = squared Euclidean distance in mm² from voxel i
 * to the nearest non-zero voxel of features (INFINITY when there is none). Whole grid;
 * for tests and tools, the scoring path uses sa_directed_distances. */
int sa_edt_squared(const uint8_t *features, const sa_grid *g, int threads, double *out,
                   sa_error *err);

/* Percentile q in [0,100] of values[0..n-1] (n >= 1) with linear interpolation
 * between order statistics, bit-identical to numpy.percentile's default. The
 * array is reordered. */
double sa_percentile(double *values, size_t n, double q);

#ifdef __cplusplus
}
#endif
#endif
