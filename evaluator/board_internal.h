/*
 * board_internal.h: helpers that the run aggregate (aggregate_run.c) and the
 * leaderboard (leaderboard.c) share, so that a run's numbers and its row on the
 * board come from the same code: a stored case result read back as values, the
 * distance cap of cases that have no field of view of their own, the values of
 * the spec's metrics after the missing-case policy, their statistics and their
 * JSON. Private to evaluator/.
 */
#ifndef SEGARENA_BOARD_INTERNAL_H
#define SEGARENA_BOARD_INTERNAL_H

#include <jansson.h>

#include "evaluator.h"
#include "store.h"

/* The values of one case of a run: res NULL (the run has no result for the case,
 * "missing") or a failed result gives a failed case whose field of view is set
 * later by sa_board_fill_failed_fov; a succeeded one is read from its JSON. */
int sa_board_case_load(const sa_case_result_row *res, sa_case_values *out, sa_error *err);

/* The field-of-view diagonal of a dataset's cases from its manifest
 * (DATA_DIR/datasets/NAME/dataset.json: each case's geometry, the grid all its
 * images share), read at the first sa_manifest_fov_case. */
typedef struct sa_manifest_fov {
    sa_store *st; /* its data directory holds the dataset */
    const char *dataset;
    int tried, ok;
    sa_dataset ds;
} sa_manifest_fov;
void sa_manifest_fov_init(sa_manifest_fov *m, sa_store *st, const char *dataset);
/* The diagonal of the case in mm; 0 when the manifest cannot be read or has no
 * such case. */
double sa_manifest_fov_case(sa_manifest_fov *m, const char *case_id);
void sa_manifest_fov_free(sa_manifest_fov *m);

/* Where a failed case that recorded no field of view of its own finds its
 * diagonal, the same for the board and for a run's aggregate (so that a run and
 * its row agree): in this order, a result of the case of any run of the phase
 * under the phase's scoring hash, the human reference stored under it, the
 * dataset's manifest. The store is asked once (one query for all the phase's
 * cases), at the first sa_case_fov_get. */
typedef struct sa_case_fov {
    sa_store *st;
    int64_t phase_id;
    int loaded;
    char **ids; /* sorted; fov[i] > 0 */
    double *fov;
    size_t n;
    char dataset[64];
    sa_manifest_fov manifest;
} sa_case_fov;
void sa_case_fov_init(sa_case_fov *f, sa_store *st, int64_t phase_id);
/* *fov: the case's diagonal in mm, 0 when known nowhere; 0 or -1 (err). */
int sa_case_fov_get(sa_case_fov *f, const char *case_id, double *fov, sa_error *err);
void sa_case_fov_free(sa_case_fov *f);

/* cv[e * n_cases + c]: entry e's case c (case_ids[c]). A failed case whose field
 * of view is not set yet (0) gets the diagonal of that case that any entry's
 * result holds (scored, or recorded by a failed one), else the one src gives. A
 * case left with none keeps 0: its failures have no distance value
 * (sa_aggregate_value leaves them out), the same for every entry. *unknown: the
 * number of such cases; left_out (n_cases flags, may be NULL) marks them. 0 or
 * -1 (err). */
int sa_board_fill_failed_fov(sa_case_values *cv, size_t n_entries, size_t n_cases,
                             const char *const *case_ids, sa_case_fov *src, size_t *unknown,
                             unsigned char *left_out, sa_error *err);

/* values[m * n_cases + c]: metric spec->metrics[m] of case c, through
 * sa_aggregate_value (NaN where a not-rankable metric is left out, or a failed
 * case's distance has no cap known). */
int sa_board_metric_values(const sa_phase_spec *spec, const sa_case_values *cv, size_t n_cases,
                           double *values, sa_error *err);

/* stats[m]: statistics of values[m * n_cases ..] over the non-NaN values, with
 * the spec's bootstrap resamples and seed. */
int sa_board_metric_stats(const sa_phase_spec *spec, const double *values, size_t n_cases,
                          sa_metric_stats *stats, sa_error *err);

/* A number, or null when it is not finite. */
json_t *sa_board_json_number(double v);
/* Stored text as a JSON string, each byte that is not valid UTF-8 as U+FFFD
 * (jansson refuses such a string, and json_object_set_new would then leave the
 * key out); null for NULL; NULL only when out of memory. The same rule as the
 * web layer's sa_web_json_text (leaderboard/utf8.c). */
json_t *sa_board_json_text(const char *s);
/* json_object_set_new with a key made valid the same way. 0, or -1 (value
 * released). */
int sa_board_json_set_text(json_t *object, const char *key, json_t *value);
/* {name: {mean, median, std, ci_lo, ci_hi, n}} over spec->metrics (nulls when
 * n is 0). NULL when out of memory. */
json_t *sa_board_metrics_json(const sa_phase_spec *spec, const sa_metric_stats *stats);
/* json_dumps with 17 significant digits (values read back bit-identical):
 * indented for people (pretty) or compact for storage. */
int sa_board_json_dump(json_t *root, int pretty, char **json, sa_error *err);

/* The spec stored with a phase or frozen in a run, parsed (label names it). */
int sa_board_spec_parse(const char *json_text, const char *label, sa_phase_spec *spec,
                        sa_error *err);

#endif
