/* score_output.h: how `segarena score` shows its results: a readable report, the
 * spec's JSON shape, or CSV rows; and the summary over cases. */
#ifndef SEGARENA_SCORE_OUTPUT_H
#define SEGARENA_SCORE_OUTPUT_H

#include <stdio.h>

#include "json_writer.h"
#include "score_case.h"

/* One pair, as a report that explains each number. */
void print_case_report(FILE *out, const score_settings *s, const case_result *r);
/* One pair as the spec's object {"metrics"|"labels", "conventions", "inputs", "engine"}. */
void write_case_json(json_writer *w, const score_settings *s, const case_result *r);
/* The conventions object (also used by the multi-case JSON). */
void write_conventions_json(json_writer *w, const score_settings *s);

void write_csv_header(FILE *out);
void write_csv_rows(FILE *out, const case_result *r);

/* Several cases: a per-case table, then mean, median and std per metric. */
void print_cases_table(FILE *out, const case_result *cases, size_t n);
void print_summary_table(FILE *out, const case_result *cases, size_t n);
void write_summary_json(json_writer *w, const case_result *cases, size_t n);

#endif
