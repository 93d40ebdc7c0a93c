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
    double spacing[3]; /* mm along x, y, z; between 1e-6 and 1e6 */
} sa_grid;

size_t sa_grid_voxels(const sa_grid *g);
/* Returns 0 when the grid is usable (non-zero size, spacing in [1e-6, 1e6] mm,
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
#define SA_REASON_NO_REFERENCE_LESIONS "no_reference_lesions"
#define SA_REASON_NO_PREDICTED_LESIONS "no_predicted_lesions"

/* Where the engine runs (docs/gpu.md). SA_DEVICE_AUTO (0, the default) uses a
 * GPU when this build has CUDA, a GPU is present and the job is large enough
 * for the GPU to win (sa_device_auto_size_ok), else the CPU; SA_DEVICE_GPU
 * without a usable GPU is an error. Both give the same results, bit for bit. */
typedef enum sa_device {
    SA_DEVICE_AUTO = 0,
    SA_DEVICE_CPU,
    SA_DEVICE_GPU
} sa_device;

/* --device auto's size rule. Starting the GPU costs a process a fixed 0.2-0.35 s
 * (CUDA's initialisation and its context; measured on an H100 host with 16 cores,
 * docs/benchmarks.md); once started, a job is 1.2x (32^3) to 12x faster on the GPU
 * than on every core. So auto uses the GPU for a job on a grid of `voxels` voxels
 * that makes `comparisons` comparisons (1 for a pair or a consensus alone;
 * sa_multi_comparisons for sa_score_multi) on `threads` CPU threads (<= 0: all
 * cores) when the grid has at least SA_GPU_AUTO_MIN_VOXELS voxels and either
 *  - this process has started the GPU already (a worker, after its first large
 *    case), or
 *  - the job's work, voxels x comparisons, reaches SA_GPU_AUTO_START_WORK x the
 *    square root of the threads: enough CPU time to repay the start (the CPU
 *    engine's time falls about as that root of its threads).
 * Returns 1 or 0; asks nothing of the GPU (its presence is checked after). */
#define SA_GPU_AUTO_MIN_VOXELS ((size_t)1 << 18)
#define SA_GPU_AUTO_START_WORK ((size_t)1 << 26)
int sa_device_auto_size_ok(size_t voxels, size_t comparisons, int threads);
/* sa_score_multi takes at most this many raters on the GPU (the prediction shares
 * their upload); with more, auto computes on the CPU and gpu is an error. */
#define SA_GPU_MAX_RATERS 15

/* "auto", "cpu" or "gpu"; parse returns 0, or -1 for another word. */
const char *sa_device_name(sa_device d);
int sa_device_parse(const char *word, sa_device *out);

/* 1 when this build holds the CUDA code (a constant: asks nothing of a GPU). */
int sa_gpu_built(void);

/* Starts the GPU in this process (CUDA's context, a kernel of this build loaded),
 * as auto does before its first GPU job: 1, or 0 with err saying why not. After
 * it auto's rule needs only SA_GPU_AUTO_MIN_VOXELS voxels (a caller that has
 * decided on the GPU, such as the evaluator's GPU lock, makes auto agree). */
int sa_gpu_start(sa_error *err);

/* Whether this process can use a GPU: 1, or 0 with err saying why not (built
 * without CUDA, no driver, no device). */
int sa_gpu_usable(sa_error *err);

/* Frees the device memory the GPU engine keeps between jobs to save allocating it
 * again (up to a quarter of the GPU's memory). A process that shares its GPU with
 * others between jobs (the evaluator's workers, with contestant containers) calls
 * it after each job; the CUDA context and its local-memory reservation stay. No-op
 * without CUDA or before the GPU was used; safe while other threads score. */
void sa_gpu_free_cached(void);

/* Which HD95 definition the "hd95" name means is fixed by the spec (max of the two
 * directed P95s); the variants are always computed too. */
typedef struct sa_score_options {
    double tau_mm; /* NSD tolerance in mm, >= 0; default 1 */
    int threads;   /* worker threads; <= 0: all online cores (images under 2^20
                    * voxels always run on one) */
    sa_device device; /* default SA_DEVICE_AUTO */
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
    int gpu_used;            /* 1: computed on the GPU */
    const char *device_note; /* static text, or NULL: why auto stayed on the CPU or fell back */
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

/* ---- Several raters: consensus (consensus.c) ----------------------------
 * ../shared/spec/metrics.md, "Several raters per case". Rater masks are full-grid
 * byte arrays, non-zero = inside (a 0/255 mask is passed as it is: every
 * consumer, CPU and GPU, tests bytes against 0). */

#define SA_MAX_RATERS 32

typedef enum sa_consensus_method {
    SA_CONSENSUS_MAJORITY, /* voxel set by more than half of the K raters */
    SA_CONSENSUS_STAPLE    /* binary STAPLE (Warfield 2004) */
} sa_consensus_method;

typedef enum sa_staple_region {
    SA_STAPLE_DILATED_UNION, /* union of the raters dilated by 2 voxels (6-conn.); default */
    SA_STAPLE_IMAGE          /* the whole image, as ITK's STAPLEImageFilter */
} sa_staple_region;

typedef struct sa_consensus_options {
    sa_consensus_method method;  /* default SA_CONSENSUS_STAPLE */
    sa_staple_region region;     /* default SA_STAPLE_DILATED_UNION */
    int dilation_voxels;         /* default 2 */
    double tolerance;            /* convergence: every |dp|, |dq| <= this; default 1e-7 */
    int max_iterations;          /* default 100 */
    double threshold;            /* consensus = W > threshold; default 0.5 */
    int threads;                 /* <= 0: all cores */
} sa_consensus_options;

void sa_consensus_options_default(sa_consensus_options *opt);

typedef struct sa_consensus_result {
    uint8_t *mask;       /* malloc'ed, one 0/1 byte per voxel */
    float *probability;  /* malloc'ed, per voxel: STAPLE's W, or the vote fraction */
    size_t raters;
    /* STAPLE only (zero for majority): each rater's estimated sensitivity p and
     * specificity q, the prior, and how the iterations ended */
    double sensitivity[SA_MAX_RATERS], specificity[SA_MAX_RATERS];
    double prior;
    int iterations, converged;
    uint64_t region_voxels; /* voxels STAPLE ran on */
    int gpu_used;            /* 1: computed on the GPU (sa_consensus_on_device, sa_score_multi) */
    const char *device_note; /* static text, or NULL: why auto stayed on the CPU or fell back */
} sa_consensus_result;

/* Consensus of k >= 2 raters (k <= SA_MAX_RATERS); with k == 1 the consensus is
 * that rater's mask (used by the leave-one-out human reference with K = 2). */
int sa_consensus(const uint8_t *const *raters, size_t k, const sa_grid *g,
                 const sa_consensus_options *opt, sa_consensus_result *out, sa_error *err);
void sa_consensus_free(sa_consensus_result *r);

/* sa_consensus on the device `device` asks for (docs/gpu.md): auto uses a GPU
 * when sa_device_auto_size_ok(voxels, 1, opt->threads) says so, one is usable and
 * the raters are at most 16, and the CPU otherwise or when the GPU fails or lacks
 * memory (out->device_note says why); gpu without a usable GPU is an error.
 * The result is the same, bit for bit; out->gpu_used says where it ran. */
int sa_consensus_on_device(const uint8_t *const *raters, size_t k, const sa_grid *g,
                           const sa_consensus_options *opt, sa_device device, sa_consensus_result *out,
                           sa_error *err);

/* ---- Lesion-wise detection, MSSEG 2016 rule (components.c, lesions.c) ---- */

typedef struct sa_lesion_options {
    int connectivity;      /* 6 (default), 18 or 26 */
    double min_volume_mm3; /* components of volume <= this are removed; default 3 */
    double alpha;          /* default 0.10 */
    double beta;           /* default 0.70 */
    double gamma;          /* default 0.65 */
} sa_lesion_options;

void sa_lesion_options_default(sa_lesion_options *opt);

/* Connected components of a mask: labels[i] = 0 for background, 1..count for the
 * components, numbered in the order of their first voxel in index order.
 * Union-find, linear time. labels covers the whole grid. */
int sa_connected_components(const uint8_t *mask, const sa_grid *g, int connectivity,
                            uint32_t *labels, uint32_t *count_out, sa_error *err);

/* The lesions of one mask (components after the volume filter), kept in a form
 * that matching against many other masks reuses (opaque). */
typedef struct sa_lesions sa_lesions;
int sa_lesions_find(const uint8_t *mask, const sa_grid *g, const sa_lesion_options *opt,
                    sa_lesions **out, sa_error *err);
size_t sa_lesions_count(const sa_lesions *l);
uint64_t sa_lesions_removed(const sa_lesions *l); /* components removed as too small */
void sa_lesions_free(sa_lesions *l);

typedef struct sa_lesion_metrics {
    sa_value lesion_sensitivity, lesion_ppv, lesion_f1;
    uint64_t lesions_ref, lesions_pred;                    /* #R, #T */
    uint64_t lesions_ref_detected, lesions_pred_detected;  /* TP_R, TP_T */
    uint64_t lesions_fn, lesions_fp;                       /* #R - TP_R, #T - TP_T */
} sa_lesion_metrics;

/* Detection metrics of pred's lesions against ref's (both from sa_lesions_find
 * on the same grid with the same options). */
int sa_lesions_match(const sa_lesions *ref, const sa_lesions *pred, const sa_lesion_options *opt,
                     sa_lesion_metrics *out, sa_error *err);

/* The published lesion metrics with their JSON/CSV names, like sa_metric_table. */
typedef struct sa_lesion_metric_info {
    const char *name;
    size_t offset;  /* offsetof(sa_lesion_metrics, field) */
    int is_count;   /* 1: a uint64_t count, 0: an sa_value */
} sa_lesion_metric_info;
const sa_lesion_metric_info *sa_lesion_metric_table(size_t *count);

/* ---- Scoring against several raters (multi_rater.c) ----------------------- */

/* Every metric of one comparison: overlap and surface, and lesion detection
 * when it was asked for. */
typedef struct sa_scores {
    sa_pair_metrics pair;
    sa_lesion_metrics lesions;
    int has_lesions;
} sa_scores;

/* Mean of each published metric over the raters (sa_metric_table and
 * sa_lesion_metric_table order), over the raters where it is defined; a metric
 * undefined for every rater is undefined with the first rater's reason. */
typedef struct sa_scores_mean {
    sa_value pair[24];
    unsigned pair_defined[24];   /* raters with a defined value */
    sa_value lesion[12];
    unsigned lesion_defined[12];
    unsigned raters;
    int has_lesions;
} sa_scores_mean;

typedef struct sa_multi_options {
    sa_score_options score;
    sa_consensus_options consensus;
    int lesions;              /* also lesion-wise detection */
    sa_lesion_options lesion;
    int human_reference;      /* also each rater against the others' consensus */
    int consensus_maps;       /* return the consensus mask and W in the result
                               * (default 1; 0 saves copying them back from the
                               * GPU, where they are then NULL) */
} sa_multi_options;

void sa_multi_options_default(sa_multi_options *opt);

/* The comparisons sa_score_multi makes with k raters, for sa_device_auto_size_ok:
 * each rater and the consensus, and each rater again with the human reference. */
size_t sa_multi_comparisons(size_t k, const sa_multi_options *opt);

typedef struct sa_multi_result {
    size_t raters;
    sa_consensus_result consensus;     /* of all K raters */
    sa_scores vs_consensus;            /* the ranked scores */
    sa_scores vs_rater[SA_MAX_RATERS];
    sa_scores_mean rater_mean;
    int has_human_reference;
    sa_scores human_reference[SA_MAX_RATERS]; /* rater k vs consensus of the others */
    int gpu_used;            /* 1: consensus and distances computed on the GPU */
    const char *device_note; /* static text, or NULL: why auto stayed on the CPU */
} sa_multi_result;

/* Scores pred against k >= 1 raters: against their consensus, each of them, the
 * mean over them and, if asked, the leave-one-out human reference (k >= 2).
 * The result is large: allocate it (malloc); free its consensus with
 * sa_multi_result_free. */
int sa_score_multi(const uint8_t *pred, const uint8_t *const *raters, size_t k, const sa_grid *g,
                   const sa_multi_options *opt, sa_multi_result *out, sa_error *err);
void sa_multi_result_free(sa_multi_result *r);

/* The mean over n comparisons (exposed for tests and aggregation). */
void sa_scores_mean_of(const sa_scores *each, size_t n, sa_scores_mean *out);

/* What sa_score_pair gives for two empty masks on this grid, without the masks
 * (a label absent from both images of a case). */
int sa_score_both_empty(const sa_grid *grid, const sa_score_options *opt, sa_pair_metrics *out,
                        sa_error *err);

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
