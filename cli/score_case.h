/* score_case.h: scoring one case of `segarena score` (read both files, check
 * them, score each requested label) and what comes out of it. */
#ifndef SEGARENA_SCORE_CASE_H
#define SEGARENA_SCORE_CASE_H

#include <stddef.h>

#include "datasets.h"
#include "metrics.h"

#define SCORE_MAX_LABELS 256

typedef struct score_settings {
    long labels[SCORE_MAX_LABELS]; /* explicit labels (--label L) */
    size_t n_labels;               /* 0: binary mode, voxel > 0 */
    int all_labels;                /* --label all */
    double tau_mm;
    int threads;
    sa_reader reader;
} score_settings;

typedef struct case_geometry {
    size_t size[3];
    double spacing[3], origin[3], direction[9];
    const char *pixel_type;
} case_geometry;

typedef struct case_result {
    char case_id[256];
    char ref_path[4096], pred_path[4096];
    int failed;          /* 1: error holds "<file>: <problem>" */
    char error[600];
    case_geometry geometry;
    size_t n_blocks;                    /* one per label (1 in binary mode) */
    long block_label[SCORE_MAX_LABELS]; /* -1: binary mode (> 0) */
    sa_pair_metrics metrics[SCORE_MAX_LABELS];
    int threads_used;
    double seconds; /* read + score, wall clock */
} case_result;

/* Fills res (ref_path, pred_path and case_id must be set by the caller). */
void score_case(const score_settings *s, int threads, case_result *res);

#endif
