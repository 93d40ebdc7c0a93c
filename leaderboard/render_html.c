/*
 * render_html.c: the public pages as complete HTML5 documents, rendered on the
 * server from the evaluator's numbers (it shows sa_board, it never ranks): the
 * challenge list and a phase's leaderboard (table, ranking rule, missing-case
 * policy, bootstrap summary, the SVG plots of render_svg.c: per-case values
 * only in a phase with show_case_details), as the public sees them (pages.c adds a viewer's header bar and upload form per request, at the
 * marks of render_page.c, whose frame and style every page shares). The pages
 * need no JavaScript, fit a phone (viewport, the table scrolls inside its own
 * box) and follow the browser's light or dark theme. Every text that comes from data goes
 * through sa_strbuf_append_html; the markup is also well-formed XML (void
 * elements closed with "/>"), which lets tests check it with an XML parser.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"
#include "web.h"

#define PLUS_MINUS "\xC2\xB1"
#define EN_DASH "\xE2\x80\x93"

/* Where a phase's leaderboard page lives (router.c): /challenges/<slug>/phases/<phase>. */
#define PHASE_PAGE_PREFIX "/challenges/"
#define PHASE_PAGE_INFIX "/phases/"

/* The public view of a page: the header bar's "log in" link comes back to here. */
static void page_open(sa_strbuf *b, const char *title, const char *here) {
    sa_page_viewer public_view = {NULL, NULL, NULL, here};
    sa_render_page_open(b, title, &public_view, 0);
}

/* ---- the challenge list ---- */

char *sa_render_challenges(const sa_page_challenge *c, size_t n, size_t *len) {
    sa_strbuf b = {0};
    page_open(&b, "SegArena challenges", "/");
    sa_strbuf_append(&b, "<h1>Challenges</h1>\n");
    if (n == 0 || !c) sa_strbuf_append(&b, "<p>No challenge yet.</p>\n");
    for (size_t i = 0; c && i < n; i++) {
        sa_strbuf_append(&b, "<section class=\"challenge\"><h2>");
        sa_strbuf_append_html(&b, c[i].title && *c[i].title ? c[i].title : c[i].slug);
        sa_strbuf_append(&b, "</h2>");
        if (c[i].description && *c[i].description) {
            sa_strbuf_append(&b, "<p>");
            sa_strbuf_append_html(&b, c[i].description);
            sa_strbuf_append(&b, "</p>");
        }
        if (c[i].n_phases == 0) sa_strbuf_append(&b, "<p>No phase yet.</p>");
        else sa_strbuf_append(&b, "<ul>");
        for (size_t k = 0; k < c[i].n_phases; k++) {
            const sa_page_phase *ph = &c[i].phases[k];
            sa_strbuf_append(&b, "<li><a href=\"" PHASE_PAGE_PREFIX);
            sa_render_path_segment(&b, c[i].slug);
            sa_strbuf_append(&b, PHASE_PAGE_INFIX);
            sa_render_path_segment(&b, ph->name);
            sa_strbuf_append(&b, "\">");
            sa_strbuf_append_html(&b, ph->title && *ph->title ? ph->title : ph->name);
            sa_strbuf_appendf(&b, "</a> " EN_DASH " %zu %s", ph->n_rows,
                              ph->n_rows == 1 ? "team" : "teams");
            if (!ph->published) sa_strbuf_append(&b, " <span class=\"marker\">(unpublished)</span>");
            sa_strbuf_append(&b, "</li>");
        }
        if (c[i].n_phases > 0) sa_strbuf_append(&b, "</ul>");
        sa_strbuf_append(&b, "</section>\n");
    }
    return sa_render_page_close(&b, len);
}

/* ---- the leaderboard table ---- */

/* A metric's column heading: name, unit, and an arrow for ranked metrics. */
static void metric_heading(sa_strbuf *b, const sa_phase_spec *spec, const char *name, int ranked) {
    const char *unit = sa_render_unit(name), *direction = sa_render_direction(spec, name);
    sa_strbuf_append(b, "<th scope=\"col\"");
    if (*direction) {
        sa_strbuf_append(b, " title=\"");
        sa_strbuf_append(b, direction);
        sa_strbuf_append(b, "\"");
    }
    sa_strbuf_append(b, ">");
    sa_strbuf_append_html(b, name);
    if (*unit) {
        sa_strbuf_append(b, " (");
        sa_strbuf_append_html(b, unit);
        sa_strbuf_append(b, ")");
    }
    if (ranked && *direction) /* an arrow up or down */
        sa_strbuf_append(b, !strcmp(direction, "higher is better") ? " \xE2\x86\x91" : " \xE2\x86\x93");
    sa_strbuf_append(b, "</th>");
}

/* The decimals of each number column of the table (numbers.c): one count per
 * column, so that its numbers line up; a ranked metric's means and the key
 * with enough that different values never read the same. */
typedef struct columns {
    int mean[SA_PHASE_MAX_RANKED], std[SA_PHASE_MAX_RANKED]; /* ranked metrics (CI: mean's) */
    int key;
    int other[SA_PHASE_MAX_METRICS]; /* by spec.metrics index */
} columns;

/* Decimals of one column over the team rows then the rater rows: what(row)
 * for each row with a value (n > 0). */
static int column_decimals(const sa_board *board, size_t m, double *scratch,
                           double (*what)(const sa_metric_stats *)) {
    size_t k = 0;
    for (size_t r = 0; r < board->n_rows; r++)
        if (board->rows[r].stats[m].n > 0) scratch[k++] = what(&board->rows[r].stats[m]);
    for (size_t r = 0; r < board->n_human; r++)
        if (board->human[r].stats[m].n > 0) scratch[k++] = what(&board->human[r].stats[m]);
    return sa_render_decimals(scratch, k, sa_render_min_decimals(board->spec.metrics[m]), 0);
}

static double stat_mean(const sa_metric_stats *s) { return s->mean; }
static double stat_std(const sa_metric_stats *s) { return s->std; }
static double stat_ci_lo(const sa_metric_stats *s) { return s->ci_lo; }
static double stat_ci_hi(const sa_metric_stats *s) { return s->ci_hi; }

static int max_of(int a, int b) {
    return a > b ? a : b;
}

/* The decimals of every column; 0, or -1 out of memory. */
static int table_columns(const sa_board *board, columns *col) {
    const sa_phase_spec *spec = &board->spec;
    memset(col, 0, sizeof *col);
    double *scratch = malloc((board->n_rows + board->n_human + 1) * sizeof *scratch);
    if (!scratch) return -1;
    for (size_t k = 0; k < spec->n_ranked; k++) {
        size_t m = sa_render_metric_index(spec, spec->ranked[k].name);
        if (m >= spec->n_metrics) continue;
        /* first what the means of teams and raters and the intervals need, then
         * more until the teams' different means read differently at that count
         * (more decimals can merge two means that fewer told apart) */
        int d = column_decimals(board, m, scratch, stat_mean);
        d = max_of(d, column_decimals(board, m, scratch, stat_ci_lo));
        d = max_of(d, column_decimals(board, m, scratch, stat_ci_hi));
        size_t n = 0;
        for (size_t r = 0; r < board->n_rows; r++)
            if (board->rows[r].stats[m].n > 0) scratch[n++] = board->rows[r].stats[m].mean;
        col->mean[k] = sa_render_decimals_apart(scratch, n, d);
        col->std[k] = column_decimals(board, m, scratch, stat_std);
    }
    size_t k = 0;
    for (size_t r = 0; board->n_cases > 0 && r < board->n_rows; r++) scratch[k++] = board->rows[r].key;
    col->key = sa_render_decimals(scratch, k, -1, 1);
    for (size_t m = 0; m < spec->n_metrics; m++)
        col->other[m] = column_decimals(board, m, scratch, stat_mean);
    free(scratch);
    return 0;
}

/* A ranked metric's cell: mean ± std, the 95 % CI below (and as a tooltip). */
static void ranked_cell(sa_strbuf *b, const sa_metric_stats *s, int decimals, int std_decimals) {
    if (s->n == 0) {
        sa_strbuf_append(b, "<td>" EN_DASH "</td>");
        return;
    }
    if (!isfinite(s->ci_lo) || !isfinite(s->ci_hi) || !isfinite(s->std)) { /* withheld: sa_board_public_view */
        sa_strbuf_appendf(b, "<td title=\"std and 95 %% CI not shown: over fewer than %d values they "
                             "are, or give away, single cases' values\">",
                          SA_BOARD_MIN_HIDDEN_VALUES);
        sa_strbuf_append_fixed(b, s->mean, decimals);
        sa_strbuf_append(b, "<small>std and 95 % CI not shown</small></td>");
        return;
    }
    sa_strbuf_append(b, "<td title=\"95 % CI of the mean: ");
    sa_strbuf_append_fixed(b, s->ci_lo, decimals);
    sa_strbuf_append(b, " " EN_DASH " ");
    sa_strbuf_append_fixed(b, s->ci_hi, decimals);
    sa_strbuf_append(b, "\">");
    sa_strbuf_append_fixed(b, s->mean, decimals);
    sa_strbuf_append(b, " " PLUS_MINUS " ");
    sa_strbuf_append_fixed(b, s->std, std_decimals);
    sa_strbuf_append(b, "<small>95 % CI ");
    sa_strbuf_append_fixed(b, s->ci_lo, decimals);
    sa_strbuf_append(b, EN_DASH);
    sa_strbuf_append_fixed(b, s->ci_hi, decimals);
    sa_strbuf_append(b, "</small></td>");
}

/* A cell with one number (SA_RENDER_NO_VALUE when there is none). */
static void number_cell(sa_strbuf *b, double v, int defined, int decimals) {
    sa_strbuf_append(b, "<td>");
    if (defined) sa_strbuf_append_fixed(b, v, decimals);
    else sa_strbuf_append(b, SA_RENDER_NO_VALUE);
    sa_strbuf_append(b, "</td>");
}

/* 1 when metric m of the spec is one of its ranked metrics. */
static int is_ranked(const sa_phase_spec *spec, size_t m) {
    for (size_t k = 0; k < spec->n_ranked; k++)
        if (!strcmp(spec->ranked[k].name, spec->metrics[m])) return 1;
    return 0;
}

/* The ranked metrics' cells, in ranked order. */
static void ranked_cells(sa_strbuf *b, const sa_phase_spec *spec, const sa_board_row *row,
                         const columns *col) {
    for (size_t k = 0; k < spec->n_ranked; k++) {
        size_t m = sa_render_metric_index(spec, spec->ranked[k].name);
        if (m < spec->n_metrics) ranked_cell(b, &row->stats[m], col->mean[k], col->std[k]);
        else number_cell(b, 0, 0, 0);
    }
}

/* The other metrics' means, in the spec's order. */
static void other_cells(sa_strbuf *b, const sa_phase_spec *spec, const sa_board_row *row,
                        const columns *col) {
    for (size_t m = 0; m < spec->n_metrics; m++)
        if (!is_ranked(spec, m)) number_cell(b, row->stats[m].mean, row->stats[m].n > 0, col->other[m]);
}

static void team_row(sa_strbuf *b, const sa_board *board, const sa_board_row *row, const columns *col) {
    char submitted[32];
    sa_iso8601_format(row->submitted, submitted);
    sa_strbuf_appendf(b, "<tr><td>%d</td><td class=\"team\">", row->rank);
    sa_strbuf_append_html(b, row->team);
    sa_strbuf_append(b, "</td><td><time datetime=\"");
    sa_strbuf_append_html(b, submitted);
    sa_strbuf_append(b, "\">");
    sa_strbuf_append_html(b, submitted);
    sa_strbuf_append(b, "</time></td>");
    ranked_cells(b, &board->spec, row, col);
    number_cell(b, row->key, board->n_cases > 0, col->key);
    other_cells(b, &board->spec, row, col);
    sa_strbuf_appendf(b, "<td>%zu/%zu</td><td>", row->n_failed, row->n_cases);
    sa_strbuf_append_number(b, row->stability.median_rank);
    sa_strbuf_append(b, " [");
    sa_strbuf_append_number(b, row->stability.rank_lo);
    sa_strbuf_append(b, EN_DASH);
    sa_strbuf_append_number(b, row->stability.rank_hi);
    sa_strbuf_append(b, "]</td></tr>\n");
}

static void human_row(sa_strbuf *b, const sa_board *board, const sa_board_row *row, const columns *col) {
    sa_strbuf_append(b, "<tr class=\"human\"><td>" EN_DASH "</td><td class=\"team\">");
    sa_strbuf_append_html(b, row->team);
    sa_strbuf_append(b, "</td><td>" EN_DASH "</td>");
    ranked_cells(b, &board->spec, row, col);
    number_cell(b, 0, 0, 0);
    other_cells(b, &board->spec, row, col);
    sa_strbuf_appendf(b, "<td title=\"scored on %zu cases\">" EN_DASH "</td><td>" EN_DASH "</td></tr>\n",
                      row->n_cases);
}

static void board_table(sa_strbuf *b, const sa_board *board) {
    const sa_phase_spec *spec = &board->spec;
    size_t n_columns = 6 + spec->n_metrics;
    columns col;
    if (table_columns(board, &col)) {
        b->failed = 1;
        return;
    }
    sa_strbuf_append(b, "<div class=\"wrap\"><table class=\"board\"><thead><tr>"
                        "<th scope=\"col\">rank</th><th scope=\"col\" class=\"team\">team</th>"
                        "<th scope=\"col\">submitted</th>");
    for (size_t k = 0; k < spec->n_ranked; k++) metric_heading(b, spec, spec->ranked[k].name, 1);
    sa_strbuf_appendf(b, "<th scope=\"col\">%s</th>", spec->rule == SA_RANK_SCORE ? "score" : "mean rank");
    for (size_t m = 0; m < spec->n_metrics; m++)
        if (!is_ranked(spec, m)) metric_heading(b, spec, spec->metrics[m], 0);
    sa_strbuf_append(b, "<th scope=\"col\">failed</th><th scope=\"col\">rank stability</th>"
                        "</tr></thead>\n<tbody>\n");
    if (board->n_rows == 0)
        sa_strbuf_appendf(b, "<tr><td colspan=\"%zu\" class=\"team\">No evaluated submission yet."
                             "</td></tr>\n",
                          n_columns);
    for (size_t r = 0; r < board->n_rows; r++) team_row(b, board, &board->rows[r], &col);
    if (board->n_human > 0)
        sa_strbuf_appendf(b,
                          "<tr class=\"human-heading\"><td colspan=\"%zu\">Human reference: each rater "
                          "scored against the consensus of the other raters (not ranked).</td></tr>\n",
                          n_columns);
    for (size_t r = 0; r < board->n_human; r++) human_row(b, board, &board->human[r], &col);
    sa_strbuf_append(b, "</tbody></table></div>\n");
}

/* ---- the notes under the table ---- */

/* The evaluator's missing-case sentence (the same as the board's JSON). */
static void missing_case_policy(sa_strbuf *b, const sa_phase_spec *spec) {
    char policy[1024];
    sa_missing_case_policy(spec, policy, sizeof policy);
    sa_strbuf_append_html(b, policy);
}

static void ranking_rule(sa_strbuf *b, const sa_phase_spec *spec) {
    sa_strbuf_append(b, "Rule <code>");
    sa_strbuf_append(b, sa_rank_rule_name(spec->rule));
    sa_strbuf_append(b, "</code> on ");
    for (size_t k = 0; k < spec->n_ranked; k++) {
        if (k > 0) sa_strbuf_append(b, ", ");
        sa_strbuf_append_html(b, spec->ranked[k].name);
        sa_strbuf_append(b, spec->ranked[k].higher_is_better ? " (higher is better)" : " (lower is better)");
    }
    switch (spec->rule) {
    case SA_RANK_SCORE:
        sa_strbuf_append(b, ": the teams are ranked on the metric's mean over the cases.");
        break;
    case SA_RANK_MEAN_RANK:
        sa_strbuf_append(b, ": each metric's mean over the cases is ranked across teams, and a team's "
                            "key is the mean of its ranks (lower is better).");
        break;
    case SA_RANK_THEN_AGGREGATE:
        sa_strbuf_append(b, ": the teams are ranked on every case and metric, and a team's key is the "
                            "mean of all those ranks (lower is better).");
        break;
    }
    sa_strbuf_append(b, " Equal keys share the lower rank. One row per team: ");
    switch (spec->leaderboard_entry) {
    case SA_ENTRY_LATEST: sa_strbuf_append(b, "its latest evaluated submission"); break;
    case SA_ENTRY_BEST: sa_strbuf_append(b, "its best-ranked evaluated submission"); break;
    case SA_ENTRY_SELECTED: sa_strbuf_append(b, "the submission it selected"); break;
    }
    sa_strbuf_append(b, " (<code>");
    sa_strbuf_append(b, sa_entry_rule_name(spec->leaderboard_entry));
    sa_strbuf_append(b, "</code>).");
}

static void bootstrap_summary(sa_strbuf *b, const sa_board *board) {
    const sa_bootstrap_summary *s = &board->bootstrap;
    if (s->resamples == 0) {
        sa_strbuf_append(b, "No bootstrap: it needs at least two ranked teams. The stability column "
                            "repeats each rank.");
        return;
    }
    sa_strbuf_appendf(b, "Median rank and 95 %% interval over %zu bootstrap resamples of the cases "
                         "(seed %llu), each ranked with the same rule. ",
                      s->resamples, (unsigned long long)board->spec.bootstrap_seed);
    if (s->tau_defined == 0) {
        sa_strbuf_append(b, "Kendall's \xCF\x84-b with the full ranking is undefined in every resample.");
        return;
    }
    sa_strbuf_append(b, "Kendall's \xCF\x84-b with the full ranking: mean ");
    sa_strbuf_append_number(b, s->tau_mean);
    sa_strbuf_append(b, ", 95 % range ");
    sa_strbuf_append_number(b, s->tau_lo);
    sa_strbuf_append(b, " to ");
    sa_strbuf_append_number(b, s->tau_hi);
    sa_strbuf_appendf(b, " (defined in %zu resamples).", s->tau_defined);
}

/* A plot inside a scrolling figure; a plot that could not be drawn fails the page. */
static void figure(sa_strbuf *b, char *svg) {
    if (!svg) {
        b->failed = 1;
        return;
    }
    sa_strbuf_append(b, "<figure><div class=\"wrap\">");
    sa_strbuf_append(b, svg);
    sa_strbuf_append(b, "</div></figure>\n");
    free(svg);
}

char *sa_render_leaderboard(const sa_board *b, const char *challenge_title, size_t *len) {
    if (!b) return NULL;
    const sa_phase_spec *spec = &b->spec;
    const char *challenge = challenge_title && *challenge_title ? challenge_title : b->challenge;
    const char *phase = *spec->title ? spec->title : b->phase;
    sa_strbuf out = {0}, title = {0};
    sa_strbuf_append(&title, challenge);
    sa_strbuf_append(&title, " " EN_DASH " ");
    sa_strbuf_append(&title, phase);
    char *page_title = sa_strbuf_take(&title, NULL);
    if (!page_title) return NULL;
    sa_strbuf here = {0};
    sa_strbuf_append(&here, PHASE_PAGE_PREFIX);
    sa_render_path_segment(&here, b->challenge);
    sa_strbuf_append(&here, PHASE_PAGE_INFIX);
    sa_render_path_segment(&here, b->phase);
    char *here_path = sa_strbuf_take(&here, NULL);
    page_open(&out, page_title, here_path);
    free(page_title);
    free(here_path);

    sa_strbuf_append(&out, "<p><a href=\"/\">All challenges</a></p>\n<h1>");
    sa_strbuf_append_html(&out, challenge);
    sa_strbuf_append(&out, ": ");
    sa_strbuf_append_html(&out, phase);
    if (!b->published) sa_strbuf_append(&out, " <span class=\"marker\">(unpublished)</span>");
    sa_strbuf_appendf(&out, "</h1>\n<p>%zu %s, %zu %s.</p>\n", b->n_cases, b->n_cases == 1 ? "case" : "cases",
                      b->n_rows, b->n_rows == 1 ? "team" : "teams");
    sa_strbuf_append(&out, SA_PAGE_ACTIONS_MARK "\n");
    board_table(&out, b);
    if (b->n_stale > 0) {
        /* scored under another configuration of the phase: not ranked beside the rest */
        sa_strbuf_append(&out, "<p class=\"marker\"><strong>Awaiting rescoring.</strong> Scored under an "
                               "earlier scoring configuration of this phase, so not ranked until the "
                               "organisers rescore: ");
        for (size_t i = 0; i < b->n_stale; i++) {
            if (i) sa_strbuf_append(&out, ", ");
            sa_strbuf_append_html(&out, b->stale[i].team);
            sa_strbuf_appendf(&out, " (submission %lld)", (long long)b->stale[i].submission_id);
        }
        sa_strbuf_append(&out, ".</p>\n");
    }

    sa_strbuf_append(&out, "<section class=\"notes\"><p><strong>Ranking.</strong> ");
    ranking_rule(&out, spec);
    sa_strbuf_append(&out, "</p>\n<p><strong>Missing cases.</strong> ");
    missing_case_policy(&out, spec);
    char no_cap[512];
    sa_board_no_cap_note(b, no_cap, sizeof no_cap);
    if (no_cap[0]) {
        sa_strbuf_append(&out, " ");
        sa_strbuf_append_html(&out, no_cap);
    }
    sa_strbuf_append(&out, "</p>\n<p><strong>Rank stability.</strong> ");
    bootstrap_summary(&out, b);
    sa_strbuf_append(&out, "</p></section>\n");
    /* the public's page: values of single cases only where the phase shows them */
    if (spec->show_case_details)
        sa_strbuf_append(&out, "<h2>Per-case values</h2>\n");
    else
        sa_strbuf_appendf(&out, "<h2>Distribution over the cases</h2>\n<p>This phase keeps its cases "
                                "hidden. The values of single cases are not listed: each box gives "
                                "the quartiles of a team's values over the cases, without the lowest "
                                "or the highest value. A team with fewer than %d values of a metric "
                                "gets no box, and its median, std and 95 %% CI are not shown (they "
                                "would be, or with the mean give away, single cases' values); its "
                                "mean is (over one value, the mean is that value)."
                                "</p>\n",
                          SA_BOARD_MIN_HIDDEN_VALUES);
    for (size_t k = 0; k < spec->n_ranked; k++) {
        size_t m = sa_render_metric_index(spec, spec->ranked[k].name);
        if (m < spec->n_metrics) figure(&out, sa_render_metric_plot(b, m));
    }
    sa_strbuf_append(&out, "<h2>Rank stability</h2>\n");
    figure(&out, sa_render_stability_plot(b));
    return sa_render_page_close(&out, len);
}
