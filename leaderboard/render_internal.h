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

/* A number as the pages show it: 4 significant digits ("%.4g"), no "-0", and
 * SA_RENDER_NO_VALUE for NaN or infinity (escape.c). */
void sa_strbuf_append_number(sa_strbuf *b, double v);

/* The metric's unit ("mm", "mL", "%"), or "" (lesion metrics and unknown names). */
const char *sa_render_unit(const char *metric);

/* "higher is better", "lower is better", or "" for a metric that is not ranked
 * by direction; a ranked metric's direction is the spec's. */
const char *sa_render_direction(const sa_phase_spec *spec, const char *metric);

/* The index of a metric name in spec->metrics, or spec->n_metrics when absent. */
size_t sa_render_metric_index(const sa_phase_spec *spec, const char *metric);

#endif
