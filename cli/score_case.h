/* score_case.h: scoring one case of `segarena score` (read the files, check them,
 * score each requested label against one reference or several raters) and what
 * comes out of it. */
#ifndef SEGARENA_SCORE_CASE_H
#define SEGARENA_SCORE_CASE_H

#include <stddef.h>

#include "case_files.h"
#include "datasets.h"
#include "metrics.h"

#define SCORE_MAX_LABELS 256

typedef struct score_settings {
    long labels[SCORE_MAX_LABELS]; /* explicit labels (--label L) */
    size_t n_labels;               /* 0: binary mode, voxel > 0 */
    int all_labels;                /* --label all */
    sa_reader reader;
    /* several raters (--ref R1 --ref R2 ...): n_raters >= 2 */
    size_t n_raters;
    const char *rater_paths[SA_MAX_RATERS];
    char rater_ids[SA_MAX_RATERS][RATER_NAME_SIZE]; /* rater_names() (case_files.h) */
    /* tau and threads (score), consensus, lesions, human reference */
    sa_multi_options options;
} score_settings;

typedef struct case_geometry {
    size_t size[3];
    double spacing[3], origin[3], direction[9];
    const char *pixel_type;
} case_geometry;

typedef struct case_result {
    char case_id[256];
    char ref_path[4096], pred_path[4096]; /* ref_path: one-reference mode only */
    int failed;                           /* 1: error holds "<file>: <problem>" lines */
    char error[8192];                     /* one line per bad file, joined by '\n' */
    size_t problems_left_out;             /* lines that did not fit (said in the last line) */
    case_geometry geometry;
    size_t n_blocks;                    /* one per label (1 in binary mode) */
    long block_label[SCORE_MAX_LABELS]; /* -1: binary mode (> 0) */
    sa_scores scores[SCORE_MAX_LABELS]; /* one reference */
    sa_multi_result *multi[SCORE_MAX_LABELS]; /* several raters (malloc'ed) */
    int threads_used;
    int gpu_used;            /* 1: the metrics were computed on the GPU */
    const char *device_note; /* why auto kept to the CPU, or NULL */
    double seconds; /* read + score, wall clock */
} case_result;

/* Fills res (pred_path, case_id and, with one reference, ref_path must be set
 * by the caller). Release with case_result_clear. */
void score_case(const score_settings *s, int threads, case_result *res);
void case_result_clear(case_result *res);

#endif
