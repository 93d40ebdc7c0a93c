/*
 * render_svg.c: the leaderboard's two plots as inline SVG, drawn on the server so
 * that the page works without JavaScript:
 *  - per metric, one strip per team: a box of the quartiles and, only in a
 *    phase that shows case details (show_case_details), whiskers to min and
 *    max and every case's value as a dot (jittered deterministically from the
 *    case index, so the same board gives the same picture) with its case id
 *    as a tooltip. The page is the public's: in a hidden phase nothing on it
 *    is one case's value or tied to one case (no dot, no id, no position that
 *    follows the case index, no whisker: min and max are single cases'
 *    values; the axis spans the quartiles);
 *  - rank stability (challengeR's blob plot): per team, in rank order, a circle
 *    at each rank with area proportional to how often the bootstrap resamples
 *    gave that rank, and the median rank with the 95 % interval.
 * Everything drawn has explicit colours on its own light background, so that a
 * plot reads the same under a dark or a light page theme. Every text from data
 * is escaped; the output is well-formed XML.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"
#include "web.h"

/* Colours (one palette, light background). */
#define C_BACKGROUND "#fcfcfd"
#define C_TEXT "#1f2328"
#define C_AXIS "#57606a"
#define C_GRID "#d8dee4"
#define C_DOT "#0969da"
#define C_BOX_FILL "#ddf4ff"
#define C_BOX_LINE "#0550ae"
#define C_MEDIAN "#cf222e"
#define C_BLOB "#8250df"

#define CHAR_WIDTH 7.0 /* px per character of 12 px sans-serif, roughly */

/* ---- shared with render_html.c (render_internal.h) ---- */

const char *sa_render_unit(const char *metric) {
    const sa_metric_info *info = sa_metric_find(metric);
    return info && info->unit ? info->unit : "";
}

size_t sa_render_metric_index(const sa_phase_spec *spec, const char *metric) {
    size_t m = 0;
    while (m < spec->n_metrics && strcmp(spec->metrics[m], metric) != 0) m++;
    return m;
}

const char *sa_render_direction(const sa_phase_spec *spec, const char *metric) {
    int direction = sa_metric_direction(metric);
    for (size_t k = 0; k < spec->n_ranked; k++)
        if (!strcmp(spec->ranked[k].name, metric)) direction = spec->ranked[k].higher_is_better;
    return direction == 1 ? "higher is better" : direction == 0 ? "lower is better" : "";
}

/* ---- SVG pieces ---- */

/* Plot sizes beyond which detail is dropped to keep the page light (a phase of
 * 100 teams x 38 cases would otherwise put megabytes of SVG in every answer). */
#define SA_PLOT_MAX_DOTS 1500            /* values per metric plot drawn as dots */
#define SA_PLOT_MAX_TOOLTIPS 300         /* values per metric plot with a tooltip each */
#define SA_PLOT_MAX_BLOB_TOOLTIP_TEAMS 30 /* teams up to which each blob has a tooltip */

/* The opening tag, an accessible title and the background. */
static void svg_open(sa_strbuf *b, double width, double height, const char *title) {
    sa_strbuf_appendf(b,
                      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                      "viewBox=\"0 0 %.0f %.0f\" role=\"img\" font-family=\"sans-serif\" "
                      "font-size=\"12\" fill=\"" C_TEXT "\" aria-label=\"",
                      width, height, width, height);
    sa_strbuf_append_html(b, title);
    sa_strbuf_append(b, "\"><title>");
    sa_strbuf_append_html(b, title);
    sa_strbuf_appendf(b, "</title><rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"" C_BACKGROUND
                         "\" stroke=\"" C_GRID "\"/>",
                      width, height);
}

/* The opening <text> tag at (x, y) with the given anchor and extra attributes;
 * the caller writes the content and "</text>". */
static void svg_text_open(sa_strbuf *b, double x, double y, const char *anchor, const char *extra) {
    sa_strbuf_appendf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor,
                      extra ? " " : "", extra ? extra : "");
}

/* A whole <text> element, content escaped. */
static void svg_text(sa_strbuf *b, double x, double y, const char *anchor, const char *extra,
                     const char *text) {
    svg_text_open(b, x, y, anchor, extra);
    sa_strbuf_append_html(b, text);
    sa_strbuf_append(b, "</text>");
}

static void svg_line(sa_strbuf *b, double x1, double y1, double x2, double y2, const char *colour,
                     double width, const char *cls) {
    sa_strbuf_appendf(b,
                      "<line%s%s%s x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"%.1f\"/>",
                      cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "", x1, y1, x2, y2,
                      colour, width);
}

/* A small complete SVG that only says something (no data to plot). */
static char *svg_message(const char *title, const char *message) {
    sa_strbuf b = {0};
    svg_open(&b, 480, 64, title);
    svg_text(&b, 12, 24, "start", "font-weight=\"bold\"", title);
    svg_text(&b, 12, 46, "start", NULL, message);
    sa_strbuf_append(&b, "</svg>");
    return sa_strbuf_take(&b, NULL);
}

/* The longest of the team names of rows[0..n-1], in bytes. */
static size_t longest_name(const sa_board_row *rows, size_t n) {
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rows[i].team);
        if (len > longest) longest = len;
    }
    return longest;
}

/* ---- metric plot ---- */

/* An axis from lo to hi with about five round steps covering [min, max]; its
 * labels with the decimals of the step (0.2 -> 1, 5e-06 -> 6). */
typedef struct axis {
    double lo, hi, step;
    int decimals;
} axis;

static axis nice_axis(double min, double max) {
    double span = max - min;
    if (!(span > 0)) { /* one value: a band around it */
        span = min != 0 ? fabs(min) * 0.2 : 1.0;
        min -= span / 2;
        max += span / 2;
    }
    double raw = span / 5, magnitude = pow(10, floor(log10(raw))), f = raw / magnitude;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
    int decimals = (int)-floor(log10(step) + 1e-9);
    axis a = {floor(min / step) * step, ceil(max / step) * step, step, decimals > 0 ? decimals : 0};
    return a;
}

/* The value of team row r, metric m, case c. */
static double board_value(const sa_board *b, size_t r, size_t m, size_t c) {
    return b->values[(r * b->spec.n_metrics + m) * b->n_cases + c];
}

/* In a hidden phase a team's box needs this many defined values: with fewer, its
 * quartiles are (or pin down) single cases' values (the board's median, std and
 * CI follow the same floor: sa_board_public_view). */
#define SA_PLOT_MIN_HIDDEN_VALUES SA_BOARD_MIN_HIDDEN_VALUES

/* A deterministic offset in [-0.5, 0.5) for case c (golden-ratio sequence). */
static double jitter(size_t c) {
    double x = (double)c * 0.6180339887498949;
    return x - floor(x) - 0.5;
}

/* The finite values of row r for metric m into out[]; their count. */
static size_t finite_values(const sa_board *b, size_t r, size_t m, double *out) {
    size_t k = 0;
    for (size_t c = 0; c < b->n_cases; c++) {
        double v = board_value(b, r, m, c);
        if (isfinite(v)) out[k++] = v;
    }
    return k;
}

/* One row's box (quartiles; with whiskers, lines to min and max) from its k
 * finite values (reordered). */
static void draw_box(sa_strbuf *b, double *values, size_t k, double y, const axis *a, double left,
                     double width, int whiskers) {
    double at[5] = {0, 25, 50, 75, 100}, x[5];
    for (int i = 0; i < 5; i++)
        x[i] = left + (sa_percentile(values, k, at[i]) - a->lo) / (a->hi - a->lo) * width;
    if (whiskers) {
        svg_line(b, x[0], y, x[1], y, C_BOX_LINE, 1, "whisker");
        svg_line(b, x[3], y, x[4], y, C_BOX_LINE, 1, "whisker");
        svg_line(b, x[0], y - 5, x[0], y + 5, C_BOX_LINE, 1, NULL);
        svg_line(b, x[4], y - 5, x[4], y + 5, C_BOX_LINE, 1, NULL);
    }
    sa_strbuf_appendf(b,
                      "<rect class=\"box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" "
                      "fill=\"" C_BOX_FILL "\" fill-opacity=\"0.8\" stroke=\"" C_BOX_LINE "\"/>",
                      x[1], y - 8, x[3] - x[1] > 1 ? x[3] - x[1] : 1);
    svg_line(b, x[2], y - 8, x[2], y + 8, C_MEDIAN, 2, "median");
}

char *sa_render_metric_plot(const sa_board *b, size_t m) {
    if (!b || m >= b->spec.n_metrics) return NULL;
    const char *name = b->spec.metrics[m], *unit = sa_render_unit(name);
    const char *direction = sa_render_direction(&b->spec, name);
    /* per-case values (dots, case ids) only where the phase shows case details */
    int per_case = b->spec.show_case_details != 0;
    char title[160];
    snprintf(title, sizeof title, "%s %s%s%s", name, per_case ? "per case" : "over the cases",
             *direction ? ", " : "", direction);
    if (b->n_rows == 0 || b->n_cases == 0 || !b->values)
        return svg_message(title, "No case values to plot yet.");

    size_t R = b->n_rows, C = b->n_cases;
    double *finite = malloc(C * sizeof *finite);
    if (!finite) return NULL;
    /* the axis spans every value, or in a hidden phase every quartile */
    double min = INFINITY, max = -INFINITY;
    int any_value = 0;
    for (size_t r = 0; r < R; r++) {
        size_t k = finite_values(b, r, m, finite);
        any_value |= k > 0;
        if (k == 0 || (!per_case && k < SA_PLOT_MIN_HIDDEN_VALUES)) continue;
        double lo = per_case ? sa_percentile(finite, k, 0) : sa_percentile(finite, k, 25);
        double hi = per_case ? sa_percentile(finite, k, 100) : sa_percentile(finite, k, 75);
        min = lo < min ? lo : min, max = hi > max ? hi : max;
    }
    if (min > max) {
        free(finite);
        return svg_message(title, any_value ? "Too few values per team to show without showing "
                                              "single cases."
                                            : "No defined value to plot.");
    }
    axis a = nice_axis(min, max);

    const double row_height = 30, top = 36, plot_width = 440;
    double left = 16 + CHAR_WIDTH * (double)longest_name(b->rows, R);
    double width = left + plot_width + 24, axis_y = top + (double)R * row_height + 4;
    double height = axis_y + 44;

    sa_strbuf out = {0};
    svg_open(&out, width, height, title);
    svg_text(&out, 12, 22, "start", "font-weight=\"bold\"", title);
    /* grid and axis */
    size_t ticks = (size_t)llround((a.hi - a.lo) / a.step) + 1;
    double first = round(a.lo / a.step); /* ticks at whole multiples of the step: 0 is 0 */
    for (size_t i = 0; i < ticks; i++) {
        double v = (first + (double)i) * a.step, x = left + (v - a.lo) / (a.hi - a.lo) * plot_width;
        svg_line(&out, x, top, x, axis_y, C_GRID, 1, NULL);
        svg_line(&out, x, axis_y, x, axis_y + 5, C_AXIS, 1, "tick");
        svg_text_open(&out, x, axis_y + 18, "middle", "fill=\"" C_AXIS "\"");
        sa_strbuf_append_fixed(&out, v, a.decimals);
        sa_strbuf_append(&out, "</text>");
    }
    svg_line(&out, left, axis_y, left + plot_width, axis_y, C_AXIS, 1, "axis");
    char axis_label[96];
    snprintf(axis_label, sizeof axis_label, "%s%s%s%s", name, *unit ? " (" : "", unit, *unit ? ")" : "");
    svg_text(&out, left + plot_width / 2, axis_y + 36, "middle", NULL, axis_label);

    /* a hidden phase: boxes only; a large board would be megabytes of dots:
     * boxes only beyond a size, and a tooltip per dot only on small boards */
    int with_dots = per_case && R * C <= SA_PLOT_MAX_DOTS;
    int with_tooltips = with_dots && R * C <= SA_PLOT_MAX_TOOLTIPS;
    for (size_t r = 0; r < R; r++) {
        double y = top + ((double)r + 0.5) * row_height;
        svg_text(&out, left - 8, y + 4, "end", NULL, b->rows[r].team);
        size_t k = finite_values(b, r, m, finite);
        if (k == 0) {
            svg_text(&out, left + 4, y + 4, "start", "fill=\"" C_AXIS "\"", "no value");
            continue;
        }
        if (!per_case && k < SA_PLOT_MIN_HIDDEN_VALUES) { /* its quartiles would be case values */
            svg_text(&out, left + 4, y + 4, "start", "fill=\"" C_AXIS "\"", "too few values to show");
            continue;
        }
        draw_box(&out, finite, k, y, &a, left, plot_width, per_case);
        if (!with_dots) continue;
        /* one group carries the dots' style; each dot a bare circle */
        sa_strbuf_append(&out, "<g class=\"dots\" fill=\"" C_DOT "\" fill-opacity=\"0.45\">");
        for (size_t c = 0; c < C; c++) {
            double v = board_value(b, r, m, c);
            if (!isfinite(v)) continue;
            double x = left + (v - a.lo) / (a.hi - a.lo) * plot_width;
            sa_strbuf_appendf(&out, "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"", x,
                              y + jitter(c) * 16);
            if (!with_tooltips) {
                sa_strbuf_append(&out, "/>");
                continue;
            }
            sa_strbuf_append(&out, "><title>");
            sa_strbuf_append_html(&out, b->case_ids ? b->case_ids[c] : "");
            sa_strbuf_append(&out, ": ");
            sa_strbuf_append_metric_number(&out, name, v);
            sa_strbuf_append(&out, "</title></circle>");
        }
        sa_strbuf_append(&out, "</g>");
    }
    if (!with_dots) {
        char note[160];
        if (per_case)
            snprintf(note, sizeof note, "%zu values: boxes only (quartiles, whiskers to min and max)",
                     R * C);
        else
            snprintf(note, sizeof note, "quartiles over the cases");
        svg_text(&out, left + plot_width, 22, "end", "fill=\"" C_AXIS "\"", note);
    }
    sa_strbuf_append(&out, "</svg>");
    free(finite);
    return sa_strbuf_take(&out, NULL);
}

/* ---- rank stability ---- */

/* The board's rank table over its team rows and ranked metrics, from b->values.
 * *values malloc'ed; directions has SA_PHASE_MAX_RANKED room. 0 or -1 (err). */
static int board_rank_table(const sa_board *b, sa_rank_table *t, double **values, int *directions,
                            sa_error *err) {
    const sa_phase_spec *spec = &b->spec;
    size_t R = b->n_rows, K = spec->n_ranked, C = b->n_cases;
    if (K == 0 || K > SA_PHASE_MAX_RANKED) return sa_error_set(err, "%zu ranked metrics", K);
    size_t index[SA_PHASE_MAX_RANKED];
    for (size_t k = 0; k < K; k++) {
        index[k] = sa_render_metric_index(spec, spec->ranked[k].name);
        if (index[k] == spec->n_metrics)
            return sa_error_set(err, "ranked metric %s is not among the board's metrics",
                                spec->ranked[k].name);
        directions[k] = spec->ranked[k].higher_is_better;
    }
    double *v = malloc(R * K * C * sizeof *v);
    if (!v) return sa_error_set(err, "out of memory");
    for (size_t r = 0; r < R; r++)
        for (size_t k = 0; k < K; k++)
            for (size_t c = 0; c < C; c++) v[(r * K + k) * C + c] = board_value(b, r, index[k], c);
    sa_rank_table table = {R, K, C, v, directions};
    *t = table;
    *values = v;
    return 0;
}

/* One team's column: blobs at each rank, the 95 % interval and the median. */
static void draw_blobs(sa_strbuf *b, const sa_board_row *row, const unsigned *counts, size_t n,
                       size_t resamples, double x, double top, double cell) {
    double max_radius = cell * 0.45;
    /* the column's group carries the blobs' style and x (a large board has
     * thousands of blobs: each is only its y and radius) */
    sa_strbuf_appendf(b,
                      "<g class=\"blobs\" transform=\"translate(%.1f 0)\" fill=\"" C_BLOB
                      "\" fill-opacity=\"0.55\">",
                      x);
    for (size_t r = 0; r < n; r++) {
        if (counts[r] == 0) continue;
        double share = (double)counts[r] / (double)resamples;
        sa_strbuf_appendf(b, "<circle class=\"blob\" cy=\"%.1f\" r=\"%.2f\"",
                          top + ((double)r + 0.5) * cell, max_radius * sqrt(share));
        if (n > SA_PLOT_MAX_BLOB_TOOLTIP_TEAMS) {
            sa_strbuf_append(b, "/>");
            continue;
        }
        sa_strbuf_append(b, "><title>");
        sa_strbuf_append_html(b, row->team);
        sa_strbuf_appendf(b, ": rank %zu in %u of %zu resamples (%.1f %%)</title></circle>", r + 1,
                          counts[r], resamples, 100.0 * share);
    }
    sa_strbuf_append(b, "</g>");
    const sa_rank_stability *s = &row->stability;
    double y_lo = top + (s->rank_lo - 0.5) * cell, y_hi = top + (s->rank_hi - 0.5) * cell;
    double y_median = top + (s->median_rank - 0.5) * cell, half = cell * 0.3;
    svg_line(b, x, y_lo, x, y_hi, C_TEXT, 1.5, "interval");
    svg_line(b, x - 4, y_lo, x + 4, y_lo, C_TEXT, 1.5, NULL);
    svg_line(b, x - 4, y_hi, x + 4, y_hi, C_TEXT, 1.5, NULL);
    svg_line(b, x - half, y_median, x + half, y_median, C_TEXT, 2.5, "median");
}

char *sa_render_stability_plot(const sa_board *b) {
    const char *title = "Rank stability (bootstrap over the cases)";
    if (!b) return NULL;
    if (b->n_rows < 2 || b->n_cases == 0 || !b->values)
        return svg_message(title, "Rank stability needs at least two ranked teams and one case.");
    size_t resamples = b->bootstrap.resamples;
    if (resamples == 0 && b->spec.bootstrap_resamples > 0) resamples = (size_t)b->spec.bootstrap_resamples;
    if (resamples == 0) return svg_message(title, "No bootstrap resamples in this phase.");

    size_t n = b->n_rows;
    sa_rank_table table;
    double *values = NULL;
    int directions[SA_PHASE_MAX_RANKED];
    unsigned *counts = malloc(n * n * sizeof *counts);
    sa_error err = {{0}};
    if (!counts) return NULL;
    if (board_rank_table(b, &table, &values, directions, &err) != 0 ||
        sa_rank_bootstrap_counts(&table, b->spec.rule, resamples, b->spec.bootstrap_seed, counts,
                                 &err) != 0) {
        free(values);
        free(counts);
        char message[600];
        snprintf(message, sizeof message, "Not computed: %s", err.msg);
        return svg_message(title, message);
    }
    free(values);

    /* team names run down-left at 45 degrees under their column */
    double cell = n <= 12 ? 40 : 24, top = 36, label = 0.71 * CHAR_WIDTH * (double)longest_name(b->rows, n);
    double left = label - cell / 2 + 16 > 56 ? label - cell / 2 + 16 : 56;
    double plot_bottom = top + (double)n * cell, legend_y = plot_bottom + label + 36;
    double width = left + (double)n * cell + 24, height = legend_y + 24;
    if (width < 360) width = 360;

    sa_strbuf out = {0};
    svg_open(&out, width, height, title);
    svg_text(&out, 12, 22, "start", "font-weight=\"bold\"", title);
    for (size_t r = 0; r < n; r++) { /* rank rows, 1 at the top */
        double y = top + ((double)r + 0.5) * cell;
        svg_line(&out, left, y, left + (double)n * cell, y, C_GRID, 1, NULL);
        char label[32];
        snprintf(label, sizeof label, "%zu", r + 1);
        svg_text(&out, left - 8, y + 4, "end", "fill=\"" C_AXIS "\"", label);
    }
    char y_label[64];
    snprintf(y_label, sizeof y_label, "fill=\"" C_AXIS "\" transform=\"rotate(-90 14 %.1f)\"",
             top + (double)n * cell / 2);
    svg_text(&out, 14, top + (double)n * cell / 2, "middle", y_label, "rank");
    svg_line(&out, left, plot_bottom, left + (double)n * cell, plot_bottom, C_AXIS, 1, "axis");
    for (size_t e = 0; e < n; e++) {
        double x = left + ((double)e + 0.5) * cell;
        draw_blobs(&out, &b->rows[e], counts + e * n, n, resamples, x, top, cell);
        char rotate[64];
        snprintf(rotate, sizeof rotate, "transform=\"rotate(-45 %.1f %.1f)\"", x, plot_bottom + 14);
        svg_text(&out, x, plot_bottom + 14, "end", rotate, b->rows[e].team);
    }
    char legend[120];
    snprintf(legend, sizeof legend, "Circle area: share of the %zu resamples giving that rank.", resamples);
    svg_text(&out, 12, legend_y, "start", "fill=\"" C_AXIS "\" font-size=\"11\"", legend);
    svg_text(&out, 12, legend_y + 15, "start", "fill=\"" C_AXIS "\" font-size=\"11\"",
             "Bar: median rank; line: 95 % interval.");
    sa_strbuf_append(&out, "</svg>");
    free(counts);
    return sa_strbuf_take(&out, NULL);
}
