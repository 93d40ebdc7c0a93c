/* score_output.h: how `segarena score` shows its results: a readable report, the
 * spec's JSON shape, or CSV rows; and the summary over cases. */
#ifndef SEGARENA_SCORE_OUTPUT_H
#define SEGARENA_SCORE_OUTPUT_H

#include <stdio.h>

#include "json_writer.h"
#include "score_case.h"

/* One case, as a report that explains each number. */
void print_case_report(FILE *out, const score_settings *s, const case_result *r);
/* One case as the spec's object: "metrics" (one reference) or "consensus",
 * "raters", "rater_mean", "staple", "human_reference" (several raters), under
 * "labels" with several labels; then "conventions", "inputs", "engine". */
void write_case_json(json_writer *w, const score_settings *s, const case_result *r, int with_conventions);
/* The conventions object (also used by the multi-case JSON). */
void write_conventions_json(json_writer *w, const score_settings *s);

/* ---- shared by the output files ---- */

/* "voxels > 0" or the label number. */
const char *label_text(long label, char *buf, size_t size);
/* A lesion metric as a value (counts become defined numbers). */
sa_value lesion_metric_get(const sa_lesion_metrics *m, const sa_lesion_metric_info *info);
/* The name of comparison `i` of a multi-rater block: "consensus", the rater ids... */
const char *rater_id(const score_settings *s, size_t i);

void write_csv_header(FILE *out);
void write_csv_rows(FILE *out, const score_settings *s, const case_result *r);

/* Several cases: a per-case table, then mean, median and std per metric. */
void print_cases_table(FILE *out, const case_result *cases, size_t n);
void print_summary_table(FILE *out, const case_result *cases, size_t n);
void write_summary_json(json_writer *w, const case_result *cases, size_t n);

#endif
