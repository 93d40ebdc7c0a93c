/*
 * render_internal.h: what render_html.c and render_svg.c share beyond web.h: how
 * a number and a missing value are written, a metric's unit and direction in
 * words. One definition each, so that the table and the plots never disagree.
 */
#ifndef SEGARENA_RENDER_INTERNAL_H
#define SEGARENA_RENDER_INTERNAL_H

#include "web.h"

/* What stands where there is no value (an en dash, UTF-8). */
#define SA_RENDER_NO_VALUE "\xE2\x80\x93"

/* Numbers as the pages show them (numbers.c; docs/ranking.md, "Numbers on the
 * pages"): fixed-point, never e-notation, no "-0", SA_RENDER_NO_VALUE for NaN
 * or infinity. */

/* The decimals of a column of n values (NaN and infinities skipped): at least
 * min_decimals, or with min_decimals < 0 at least 4 significant digits of each
 * value; more while a value that is not a whole number would read as one; with
 * distinct, more while two different values would read the same (up to 17
 * significant digits); fewer only when every value is exact with fewer. */
int sa_render_decimals(const double *values, size_t n, int min_decimals, int distinct);
/* The fewest decimals, at least `decimals`, at which no two different values of
 * the n (NaN and infinities skipped) read the same (up to 17 significant
 * digits): a ranked column's final count, once everything else that raises it
 * (other rows, CI bounds) is in `decimals`. Rounding is not nested (0.81234999
 * and 0.81235001 differ at 4 decimals, not at 5), so every pair is checked
 * again at the count the others need, until none needs more. */
int sa_render_decimals_apart(const double *values, size_t n, int decimals);

/* The min_decimals of a metric's column: 2 for distances in mm, else -1. */
int sa_render_min_decimals(const char *metric);

/* v with that many decimals (a value nearer to 0 than they show: "≈0.00"). */
void sa_strbuf_append_fixed(sa_strbuf *b, double v, int decimals);

/* One value on its own: its decimals as a column of one (metric NULL: any). */
void sa_strbuf_append_metric_number(sa_strbuf *b, const char *metric, double v);
void sa_strbuf_append_number(sa_strbuf *b, double v);

/* The metric's unit ("mm", "mL", "%"), or "" (lesion metrics and unknown names). */
const char *sa_render_unit(const char *metric);

/* "higher is better", "lower is better", or "" for a metric that is not ranked
 * by direction; a ranked metric's direction is the spec's. */
const char *sa_render_direction(const sa_phase_spec *spec, const char *metric);

/* The index of a metric name in spec->metrics, or spec->n_metrics when absent. */
size_t sa_render_metric_index(const sa_phase_spec *spec, const char *metric);

#endif
