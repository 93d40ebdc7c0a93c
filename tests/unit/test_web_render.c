/*
 * test_web_render.c: the web layer's pure rendering (leaderboard/escape.c, numbers.c,
 * render_html.c, render_svg.c) and the bootstrap rank counts behind the
 * stability plot (evaluator/bootstrap.c, sa_rank_bootstrap_counts).
 *  - sa_strbuf: escaping of & < > " ', growth, formatting, failure.
 *  - rank counts: every entry's counts sum to the resamples, and the median and
 *    95 % interval read off the counts equal sa_rank_bootstrap's, for each rule.
 *  - a board built by hand (three teams, two ranked metrics and one other, four
 *    cases with a NaN and a failed case, a rater row) with hostile names: the
 *    escaped forms are there and the raw ones never; rank order, the rater row's
 *    style, the rule, missing-case and bootstrap notes; every SVG and the page
 *    itself well-formed (a small XML checker below), one box per team.
 *  - the frame every page shares (render_page.c): the header bar escaped, for a
 *    viewer and for the public, its marks, the self-refresh.
 *  - numbers on pages (numbers.c): never e-notation, a value that is not whole
 *    never shown as whole (a Dice of 0.99996 is not "1"), a column's different
 *    means never the same text, one number of decimals per column.
 * With a folder argument the page and plots are written there for
 * check_render_xml.py, which reads them with Python's XML parser.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "render_internal.h"
#include "test.h"
#include "web.h"

static const char *out_dir; /* NULL: write nothing */

static void save(const char *name, const char *text) {
    if (!out_dir || !text) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    CHECK(fclose(f) == 0);
}

static size_t count(const char *haystack, const char *needle) {
    size_t n = 0, len = strlen(needle);
    for (const char *p = haystack; p && (p = strstr(p, needle)); p += len) n++;
    return n;
}

#define CHECK_ABSENT(haystack, needle)                                                   \
    do {                                                                                 \
        CHECK(strstr((haystack), (needle)) == NULL);                                     \
        if (strstr((haystack), (needle))) fprintf(stderr, "  found \"%s\"\n", (needle)); \
    } while (0)

/* ---- a small XML well-formedness checker ---- */

static int is_name_start(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
}
static int is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

/* The end of a valid entity reference starting at p ('&'), or NULL. */
static const char *entity_end(const char *p) {
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strncmp(p, named[i], strlen(named[i]))) return p + strlen(named[i]);
    if (p[1] != '#') return NULL;
    const char *q = p + 2;
    int hex = *q == 'x';
    if (hex) q++;
    const char *digits = q;
    while ((*q >= '0' && *q <= '9') || (hex && ((*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))) q++;
    return q > digits && *q == ';' ? q + 1 : NULL;
}

/* 1 when doc is one well-formed XML element (after an optional doctype):
 * names, balanced and matching tags, quoted attributes without '<', entity
 * references only of the XML kinds, nothing but space outside the root. */
static int well_formed(const char *doc, const char *what) {
    const char *names[256];
    size_t lengths[256], depth = 0;
    int roots = 0;
    const char *p = doc, *why = NULL;
    while (*p && !why) {
        if (*p == '&') {
            const char *end = entity_end(p);
            if (!end) why = "a bare &";
            p = end ? end : p;
            continue;
        }
        if (*p != '<') {
            if (depth == 0 && !strchr(" \n\t\r", *p)) why = "text outside the root";
            p++;
            continue;
        }
        if (!strncmp(p, "<!--", 4) || !strncmp(p, "<!DOCTYPE", 9) || !strncmp(p, "<?", 2)) {
            const char *end = strstr(p, p[1] == '?' ? "?>" : p[2] == '-' ? "-->" : ">");
            if (!end) why = "an unclosed declaration";
            else p = end + 1;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing, *q = name;
        if (!is_name_start(*q)) {
            why = "a tag without a name";
            break;
        }
        while (is_name_char(*q)) q++;
        size_t len = (size_t)(q - name);
        if (closing) {
            q = skip_space(q);
            if (depth == 0 || lengths[depth - 1] != len || strncmp(names[depth - 1], name, len) != 0)
                why = "a closing tag that does not match";
            else if (*q != '>')
                why = "a malformed closing tag";
            depth--;
            p = q + 1;
            continue;
        }
        if (depth == 0 && roots++ > 0) {
            why = "a second root";
            break;
        }
        for (;;) { /* attributes */
            const char *r = skip_space(q);
            if (*r == '>' || (r[0] == '/' && r[1] == '>')) {
                if (*r == '>') {
                    if (depth == 256) why = "too deep";
                    else names[depth] = name, lengths[depth++] = len;
                }
                p = r + (*r == '>' ? 1 : 2);
                break;
            }
            if (r == q || !is_name_start(*r)) {
                why = "a malformed attribute";
                break;
            }
            while (is_name_char(*r)) r++;
            r = skip_space(r);
            if (*r != '=') {
                why = "an attribute without a value";
                break;
            }
            r = skip_space(r + 1);
            char quote = *r;
            if (quote != '"' && quote != '\'') {
                why = "an unquoted attribute";
                break;
            }
            for (r++; *r && *r != quote && !why; r++) {
                if (*r == '<') why = "a < in an attribute";
                if (*r == '&' && !entity_end(r)) why = "a bare & in an attribute";
            }
            if (why) break;
            if (!*r) {
                why = "an unterminated attribute";
                break;
            }
            q = r + 1;
        }
    }
    if (!why && depth != 0) why = "unclosed elements";
    if (!why && roots != 1) why = "no root element";
    if (why) fprintf(stderr, "%s: not well-formed: %s (at offset %zu)\n", what, why, (size_t)(p - doc));
    return why == NULL;
}

static void check_checker(void) {
    CHECK(well_formed("<svg a=\"1\"><g><text>x &amp; y</text></g><circle r='2'/></svg>", "good"));
    CHECK(well_formed("<!DOCTYPE html>\n<html><br/></html>\n", "good doctype"));
    fprintf(stderr, "(the next five not-well-formed lines are expected)\n");
    CHECK(!well_formed("<svg><g></svg>", "bad nesting"));
    CHECK(!well_formed("<svg>a & b</svg>", "bare amp"));
    CHECK(!well_formed("<svg a=1></svg>", "unquoted"));
    CHECK(!well_formed("<svg a=\"<\"></svg>", "lt in attribute"));
    CHECK(!well_formed("<svg></svg><svg></svg>", "two roots"));
}

/* ---- sa_strbuf ---- */

static void check_strbuf(void) {
    sa_strbuf b = {0};
    sa_strbuf_append_html(&b, "a&b<c>\"d'e");
    size_t len;
    char *s = sa_strbuf_take(&b, &len);
    CHECK(s && !strcmp(s, "a&amp;b&lt;c&gt;&quot;d&#39;e") && len == strlen(s));
    CHECK(b.data == NULL && b.len == 0);
    free(s);

    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sa_strbuf_append(&b, "<");
    sa_strbuf_appendf(&b, "%s|%d", big, 42); /* grows past the first capacity */
    sa_strbuf_append_html(&b, NULL);
    s = sa_strbuf_take(&b, &len);
    CHECK(s && len == 1 + strlen(big) + 3 && s[0] == '<' && !strcmp(s + len - 3, "|42"));
    free(s);

    s = sa_strbuf_take(&b, &len); /* nothing appended: "" */
    CHECK(s && *s == '\0' && len == 0);
    free(s);

    sa_strbuf_append(&b, "lost");
    b.failed = 1;
    sa_strbuf_append(&b, "more");
    CHECK(sa_strbuf_take(&b, &len) == NULL && len == 0);
    CHECK(b.data == NULL && b.failed == 0);
}

/* ---- numbers ---- */

/* v as a page writes it on its own (metric NULL) or in a metric's column. */
static int number_is(const char *metric, double v, const char *want) {
    sa_strbuf b = {0};
    sa_strbuf_append_metric_number(&b, metric, v);
    char *s = sa_strbuf_take(&b, NULL);
    int same = s && !strcmp(s, want);
    if (!same) fprintf(stderr, "  %.17g (%s): \"%s\", expected \"%s\"\n", v, metric ? metric : "-",
                       s ? s : "(null)", want);
    free(s);
    return same;
}

/* 1 when the text holds a number in e-notation (a digit, e or E, a sign or digit). */
static int has_e_notation(const char *text) {
    for (const char *p = text; p && *p; p++)
        if (p[0] >= '0' && p[0] <= '9' && (p[1] == 'e' || p[1] == 'E') &&
            (p[2] == '-' || p[2] == '+' || (p[2] >= '0' && p[2] <= '9')))
            return 1;
    return 0;
}

static void check_numbers(void) {
    CHECK(number_is(NULL, 0.99996, "0.99996"));           /* not "1" */
    CHECK(number_is(NULL, 1.4142135623730951e-05, "0.00001414")); /* not "1.414e-05" */
    CHECK(number_is(NULL, 0.123456, "0.1235"));
    CHECK(number_is(NULL, 1234.5678, "1234.6"));           /* not whole: not "1235" */
    CHECK(number_is(NULL, 1e21, "1000000000000000000000")); /* not "1e+21" */
    CHECK(number_is(NULL, 0.9, "0.9"));                     /* exact: as short as that */
    CHECK(number_is(NULL, 2.5, "2.5"));
    CHECK(number_is(NULL, 1, "1"));
    CHECK(number_is(NULL, -0.0, "0"));
    CHECK(number_is(NULL, 1 - 0x1p-53, "0.9999999999999999")); /* the double below 1 */
    CHECK(number_is(NULL, 0x1p-53, "0.0000000000000001110"));
    CHECK(number_is(NULL, NAN, SA_RENDER_NO_VALUE));
    CHECK(number_is(NULL, 1e-30, "\xE2\x89\x88" "0.00000000000000000000")); /* marked */
    CHECK(number_is("hd95", 12.3456, "12.35")); /* mm: 2 decimals */
    CHECK(number_is("hd95", 0.004, "0.004"));   /* not "0.00" */
    CHECK(number_is("hd95", 99.999, "99.999")); /* not "100.00" */
    CHECK(number_is("dice", 0.5, "0.5"));

    /* a column: one count of decimals, enough to tell its values apart */
    const double near[] = {0.99996, 0.99994, 0.99992};
    CHECK(sa_render_decimals(near, 3, -1, 1) == 5);
    const double close[] = {0.812344, 0.812341, 0.5};
    CHECK(sa_render_decimals(close, 3, -1, 1) == 6);
    CHECK(sa_render_decimals(close, 3, -1, 0) == 4); /* not ranked: 4 digits */
    const double exact[] = {0.5, 0.75, 1, NAN};
    CHECK(sa_render_decimals(exact, 4, -1, 1) == 2); /* 0.50, 0.75, 1.00 */
    const double ranks[] = {1, 2, 3};
    CHECK(sa_render_decimals(ranks, 3, -1, 1) == 0);
    const double apart[] = {0.3, 0.1 + 0.2}; /* 0.30000000000000004 */
    CHECK(sa_render_decimals(apart, 2, -1, 1) == 17);
    /* rounding is not nested: 0.81234999 and 0.81235001 are apart at 4 decimals
     * (0.8123, 0.8124) but not at 5 to 7 (0.81235), which the pair 0.81235001,
     * 0.81236 needs: the column gets decimals until every pair is apart at once */
    const double unnested[] = {0.81236, 0.81235001, 0.81234999};
    CHECK(sa_render_decimals(unnested, 3, -1, 1) == 8);
    CHECK(sa_render_decimals_apart(unnested, 3, 4) == 8);
    /* the same when a CI bound, not another mean, raises the column to 5 */
    const double two[] = {0.81235001, 0.81234999};
    CHECK(sa_render_decimals(two, 2, -1, 1) == 4);
    CHECK(sa_render_decimals_apart(two, 2, 5) == 8);
    CHECK(sa_render_decimals_apart(two, 2, 9) == 9);
    const double mm[] = {2.875, 5.75, 54.5};
    CHECK(sa_render_decimals(mm, 3, sa_render_min_decimals("hd95"), 1) == 2);
    CHECK(sa_render_min_decimals("hd95") == 2 && sa_render_min_decimals("dice") < 0);
}

/* ---- rank counts ---- */

/* Deterministic values in [0, 1) for the tables. */
static double pseudo(unsigned *state) {
    *state = *state * 1103515245u + 12345u;
    return (double)((*state >> 8) & 0xFFFF) / 65536.0;
}

/* counts of one entry -> the sorted list of its resampled ranks, then the
 * percentiles as sa_rank_bootstrap takes them (numpy linear). */
static void check_counts_against_bootstrap(const sa_rank_table *t, sa_rank_rule rule, size_t resamples,
                                           uint64_t seed) {
    size_t E = t->n_entries;
    unsigned *counts = malloc(E * E * sizeof *counts);
    sa_rank_stability *per = malloc(E * sizeof *per);
    double *ranks = malloc(resamples * sizeof *ranks);
    sa_bootstrap_summary summary;
    sa_error err = {{0}};
    CHECK(counts && per && ranks);
    if (!counts || !per || !ranks) goto done;
    CHECK(sa_rank_bootstrap(t, rule, resamples, seed, per, &summary, &err) == 0);
    CHECK(sa_rank_bootstrap_counts(t, rule, resamples, seed, counts, &err) == 0);
    for (size_t e = 0; e < E; e++) {
        size_t n = 0;
        for (size_t r = 0; r < E; r++)
            for (unsigned k = 0; k < counts[e * E + r] && n < resamples; k++) ranks[n++] = (double)(r + 1);
        size_t total = 0;
        for (size_t r = 0; r < E; r++) total += counts[e * E + r];
        CHECK(total == resamples);
        if (total != resamples) continue;
        CHECK(sa_percentile(ranks, n, 50.0) == per[e].median_rank);
        CHECK(sa_percentile(ranks, n, 2.5) == per[e].rank_lo);
        CHECK(sa_percentile(ranks, n, 97.5) == per[e].rank_hi);
    }
done:
    free(counts);
    free(per);
    free(ranks);
}

static void check_rank_counts(void) {
    enum { E = 5, M = 2, C = 7 };
    double values[E * M * C];
    unsigned state = 7;
    for (size_t i = 0; i < E * M * C; i++) values[i] = pseudo(&state);
    values[(1 * M + 0) * C + 3] = values[(2 * M + 0) * C + 3]; /* a tie on one case */
    int directions[M] = {1, 0};
    sa_rank_table two = {E, M, C, values, directions};
    check_counts_against_bootstrap(&two, SA_RANK_MEAN_RANK, 301, 20160101);
    check_counts_against_bootstrap(&two, SA_RANK_THEN_AGGREGATE, 250, 42);
    /* score: one metric; entries 0 and 4 identical, so that they tie in every resample */
    double one_metric[E * C];
    for (size_t e = 0; e < E; e++)
        for (size_t c = 0; c < C; c++) one_metric[e * C + c] = values[(e * M) * C + c];
    for (size_t c = 0; c < C; c++) one_metric[4 * C + c] = one_metric[c];
    sa_rank_table one = {E, 1, C, one_metric, directions};
    check_counts_against_bootstrap(&one, SA_RANK_SCORE, 200, 1);

    unsigned counts[E * E];
    sa_error err = {{0}};
    CHECK(sa_rank_bootstrap_counts(&one, SA_RANK_SCORE, 200, 1, counts, &err) == 0);
    for (size_t r = 0; r < E; r++) CHECK(counts[0 * E + r] == counts[4 * E + r]);
    CHECK(sa_rank_bootstrap_counts(&one, SA_RANK_SCORE, 0, 1, counts, &err) == -1);
    CHECK(sa_rank_bootstrap_counts(&one, SA_RANK_SCORE, 10, 1, NULL, &err) == -1);
    CHECK(sa_rank_bootstrap_counts(&two, SA_RANK_SCORE, 10, 1, counts, &err) == -1); /* 2 metrics */
}

/* ---- a board built by hand ---- */

#define N_TEAMS 3
#define N_METRICS 3
#define N_CASES 4
#define HOSTILE_TEAM "<script>alert(1)</script>"
#define HOSTILE_TITLE "\"><img src=x onerror=alert(1)>"

typedef struct fixture {
    sa_board board;
    sa_board_row rows[N_TEAMS], human[1];
    double values[N_TEAMS * N_METRICS * N_CASES];
    char *case_ids[N_CASES];
} fixture;

/* Team t's values of metric m (dice, hd95, volume_pred_ml) on the four cases;
 * gamma's case c2 failed (Dice 0, HD95 at a 200 mm cap, volume left out). */
static const double team_values[N_TEAMS][N_METRICS][N_CASES] = {
    {{0.90, 0.85, 0.80, 0.88}, {2, 3, 4, 2.5}, {10, NAN, 12, 11}},
    {{0.70, 0.75, 0.60, 0.80}, {5, 6, 8, 4}, {9, 10, 11, 12}},
    {{0.72, 0.00, 0.78, 0.65}, {4, 200, 5, 9}, {8, NAN, 9, 10}},
};
static const char *const team_names[N_TEAMS] = {HOSTILE_TEAM, "beta & co", "gamma"};

/* The statistics of values[0..n-1] without the NaNs, as the board computes them. */
static void stats_of(const double *values, size_t n, const sa_phase_spec *spec, sa_metric_stats *out) {
    double used[N_CASES];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(values[i])) used[k++] = values[i];
    sa_error err = {{0}};
    CHECK(sa_metric_stats_compute(used, k, (size_t)spec->bootstrap_resamples, spec->bootstrap_seed, out,
                                  &err) == 0);
}

static void make_board(fixture *f) {
    memset(f, 0, sizeof *f);
    sa_board *b = &f->board;
    sa_phase_spec *spec = &b->spec;
    sa_phase_spec_default(spec);
    snprintf(spec->name, sizeof spec->name, "val");
    snprintf(spec->title, sizeof spec->title, "Phase <b>one</b>");
    const char *metrics[N_METRICS] = {"dice", "hd95", "volume_pred_ml"};
    for (size_t m = 0; m < N_METRICS; m++)
        snprintf(spec->metrics[m], sizeof spec->metrics[m], "%s", metrics[m]);
    spec->n_metrics = N_METRICS;
    spec->rule = SA_RANK_MEAN_RANK;
    snprintf(spec->ranked[0].name, sizeof spec->ranked[0].name, "dice");
    spec->ranked[0].higher_is_better = 1;
    snprintf(spec->ranked[1].name, sizeof spec->ranked[1].name, "hd95");
    spec->ranked[1].higher_is_better = 0;
    spec->n_ranked = 2;
    spec->distance_cap_mm = 0;
    spec->bootstrap_resamples = 200;
    spec->bootstrap_seed = 20160101;
    spec->show_case_details = 1; /* a validation phase: per-case values on the page */
    snprintf(b->challenge, sizeof b->challenge, "demo");
    snprintf(b->phase, sizeof b->phase, "val");

    static char id0[] = "c&1", id1[] = "c2", id2[] = "c3", id3[] = "c4";
    char *ids[N_CASES] = {id0, id1, id2, id3};
    memcpy(f->case_ids, ids, sizeof ids);
    b->case_ids = f->case_ids;
    b->n_cases = N_CASES;
    for (size_t t = 0; t < N_TEAMS; t++)
        for (size_t m = 0; m < N_METRICS; m++)
            for (size_t c = 0; c < N_CASES; c++)
                f->values[(t * N_METRICS + m) * N_CASES + c] = team_values[t][m][c];
    b->values = f->values;

    /* ranks and keys as the evaluator would compute them */
    double table[N_TEAMS * 2 * N_CASES], keys[N_TEAMS];
    int directions[2] = {1, 0}, ranks[N_TEAMS];
    for (size_t t = 0; t < N_TEAMS; t++)
        for (size_t k = 0; k < 2; k++)
            for (size_t c = 0; c < N_CASES; c++) table[(t * 2 + k) * N_CASES + c] = team_values[t][k][c];
    sa_rank_table rt = {N_TEAMS, 2, N_CASES, table, directions};
    sa_error err = {{0}};
    sa_rank_stability stability[N_TEAMS];
    CHECK(sa_rank_entries(&rt, spec->rule, NULL, 0, keys, ranks, &err) == 0);
    CHECK(sa_rank_bootstrap(&rt, spec->rule, 200, spec->bootstrap_seed, stability, &b->bootstrap, &err) == 0);
    for (size_t t = 0; t < N_TEAMS; t++) {
        sa_board_row *row = &f->rows[t];
        CHECK(ranks[t] == (int)t + 1); /* the fixture is in rank order */
        snprintf(row->team, sizeof row->team, "%s", team_names[t]);
        row->submission_id = row->run_id = (int64_t)t + 1;
        row->team_id = (int64_t)t + 10;
        row->submitted = 1700000000.0 + 3600.0 * (double)t;
        row->rank = ranks[t];
        row->key = keys[t];
        row->stability = stability[t];
        row->n_cases = N_CASES;
        row->n_failed = t == 2 ? 1 : 0;
        for (size_t m = 0; m < N_METRICS; m++) stats_of(team_values[t][m], N_CASES, spec, &row->stats[m]);
    }
    b->rows = f->rows;
    b->n_rows = N_TEAMS;

    sa_board_row *h = &f->human[0];
    snprintf(h->team, sizeof h->team, "rater r1");
    snprintf(h->rater, sizeof h->rater, "r1");
    h->n_cases = N_CASES;
    const double rater[N_METRICS][N_CASES] = {{0.8, 0.82, 0.79, 0.9}, {3, 3, 5, 2}, {10, 11, 12, 10}};
    for (size_t m = 0; m < N_METRICS; m++) stats_of(rater[m], N_CASES, spec, &h->stats[m]);
    b->human = f->human;
    b->n_human = 1;
}

/* Where needle starts in haystack, or SIZE_MAX. */
static size_t position(const char *haystack, const char *needle) {
    const char *p = strstr(haystack, needle);
    if (!p) fprintf(stderr, "  \"%s\" not found\n", needle);
    return p ? (size_t)(p - haystack) : SIZE_MAX;
}

/* Each <svg>...</svg> inside a page well-formed on its own; returns how many. */
static size_t check_inline_svgs(const char *page) {
    size_t n = 0;
    for (const char *p = strstr(page, "<svg"); p; p = strstr(p + 1, "<svg")) {
        const char *end = strstr(p, "</svg>");
        CHECK(end != NULL);
        if (!end) break;
        size_t len = (size_t)(end + 6 - p);
        char *svg = malloc(len + 1);
        memcpy(svg, p, len);
        svg[len] = '\0';
        CHECK(well_formed(svg, "inline svg"));
        CHECK(strstr(svg, "width=\"") && strstr(svg, "height=\"") && strstr(svg, "viewBox=\""));
        free(svg);
        n++;
    }
    return n;
}

static void check_leaderboard_page(fixture *f) {
    size_t len = 0;
    char *page = sa_render_leaderboard(&f->board, HOSTILE_TITLE, &len);
    CHECK(page != NULL);
    if (!page) return;
    save("leaderboard.html", page);
    CHECK(len == strlen(page));
    CHECK(!strncmp(page, "<!DOCTYPE html>", 15));
    CHECK_STR_CONTAINS(page, "name=\"viewport\"");
    CHECK_STR_CONTAINS(page, "overflow-x:auto");
    CHECK(well_formed(page, "leaderboard page"));

    /* hostile strings: escaped, never raw */
    CHECK_STR_CONTAINS(page, "&lt;script&gt;alert(1)&lt;/script&gt;");
    CHECK_ABSENT(page, "<script");
    CHECK_STR_CONTAINS(page, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    CHECK_ABSENT(page, "<img");
    CHECK_STR_CONTAINS(page, "Phase &lt;b&gt;one&lt;/b&gt;");
    CHECK_ABSENT(page, "<b>one");
    CHECK_STR_CONTAINS(page, "c&amp;1");
    CHECK_ABSENT(page, "c&1");
    CHECK_STR_CONTAINS(page, "beta &amp; co");
    CHECK_ABSENT(page, "beta & co");
    CHECK_STR_CONTAINS(page, "(unpublished)");

    /* the table: ranks and teams in order, then the rater row in its own style */
    size_t first = position(page, "<td>1</td><td class=\"team\">&lt;script&gt;");
    size_t second = position(page, "<td>2</td><td class=\"team\">beta &amp; co</td>");
    size_t third = position(page, "<td>3</td><td class=\"team\">gamma</td>");
    size_t human = position(page, "<tr class=\"human\"><td>\xE2\x80\x93</td>"
                                  "<td class=\"team\">rater r1</td>");
    CHECK(first < second && second < third && third < human && human != SIZE_MAX);
    CHECK(count(page, "<tr class=\"human\">") == 1);
    CHECK_STR_CONTAINS(page, "2023-11-14T22:13:20Z"); /* the first team's submission date */
    CHECK_STR_CONTAINS(page, "0.8575 \xC2\xB1 ");       /* its Dice mean ± std */
    CHECK_STR_CONTAINS(page, "95 % CI ");
    CHECK_STR_CONTAINS(page, "<td>1/4</td>");            /* gamma's failed case */
    CHECK_STR_CONTAINS(page, "hd95 (mm)");
    CHECK_STR_CONTAINS(page, ">mean rank</th>");
    CHECK_STR_CONTAINS(page, "volume_pred_ml (mL)");

    /* the notes: rule, missing-case policy, bootstrap */
    CHECK_STR_CONTAINS(page, "<code>mean_rank</code>");
    CHECK_STR_CONTAINS(page, "dice (higher is better), hd95 (lower is better)");
    CHECK_STR_CONTAINS(page, "<code>latest</code>");
    CHECK_STR_CONTAINS(page, "A failed or missing case counts as 0 on overlap and detection metrics");
    CHECK_STR_CONTAINS(page, "the distance cap (each case&#39;s field-of-view diagonal)");
    CHECK_STR_CONTAINS(page, "left out of volumes and counts");
    CHECK_STR_CONTAINS(page, "counts as 1 on overlap and detection metrics when both masks are empty");
    CHECK_STR_CONTAINS(page, "200 bootstrap resamples");
    CHECK_STR_CONTAINS(page, "Kendall's \xCF\x84-b");

    /* the plots: one per ranked metric, then the stability plot */
    CHECK(check_inline_svgs(page) == 3);
    CHECK(count(page, "class=\"box\"") == 2 * N_TEAMS);
    CHECK_ABSENT(page, "no distance value");
    free(page);

    /* a case whose distance cap is known nowhere: said under the policy */
    f->board.n_cases_without_cap = 1;
    page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page && well_formed(page, "leaderboard page, a case without a cap"));
    if (page)
        CHECK_STR_CONTAINS(page, "1 case has no distance value: no entry scored it and its field-of-view diagonal "
                                 "(the distance cap) is known nowhere");
    free(page);
    f->board.n_cases_without_cap = 0;

    /* published, a fixed cap, the score rule */
    f->board.published = 1;
    f->board.spec.distance_cap_mm = 50;
    page = sa_render_leaderboard(&f->board, NULL, NULL);
    CHECK(page != NULL);
    if (page) {
        CHECK_ABSENT(page, "(unpublished)");
        CHECK_STR_CONTAINS(page, "the distance cap (50 mm)");
        CHECK_STR_CONTAINS(page, "<h1>demo: ");
        CHECK(well_formed(page, "published page"));
    }
    free(page);
    f->board.published = 0;
    f->board.spec.distance_cap_mm = 0;
}

/* The numbers of the table: three teams with Dice means 0.99996, 0.99994 and
 * 0.99992 (std 1.414e-05) read as such, never as "1", "CI 1–1" or the same
 * "0.9999" at different ranks, never in e-notation; then means that 4 digits
 * cannot tell apart get the decimals that do, the whole column alike. */
static void check_table_numbers(fixture *f) {
    sa_metric_stats kept[N_TEAMS];
    for (size_t t = 0; t < N_TEAMS; t++) kept[t] = f->rows[t].stats[0];
    const double near[N_TEAMS] = {0.99996, 0.99994, 0.99992};
    for (size_t t = 0; t < N_TEAMS; t++) {
        sa_metric_stats *s = &f->rows[t].stats[0];
        s->mean = near[t];
        s->std = 1.4142135623730951e-05;
        s->ci_lo = near[t] - 0.00001;
        s->ci_hi = near[t] + 0.00001;
    }
    char *page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page != NULL);
    if (page) {
        save("leaderboard_near_one.html", page);
        CHECK(!has_e_notation(page));
        CHECK_STR_CONTAINS(page, ">0.99996 \xC2\xB1 0.00001414<small>95 % CI 0.99995\xE2\x80\x93"
                                 "0.99997</small>");
        CHECK_STR_CONTAINS(page, ">0.99994 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.99992 \xC2\xB1 ");
        CHECK_ABSENT(page, ">1 \xC2\xB1");
        CHECK_ABSENT(page, ">1.0000 \xC2\xB1");
        CHECK_ABSENT(page, "0.9999 \xC2\xB1");
        CHECK_ABSENT(page, "\xE2\x80\x93" "1<");
        /* the rater's mean in the same column: the same decimals */
        CHECK_STR_CONTAINS(page, ">0.82750 \xC2\xB1 ");
    }
    free(page);

    const double close[N_TEAMS] = {0.812344, 0.812341, 0.5};
    for (size_t t = 0; t < N_TEAMS; t++) {
        sa_metric_stats *s = &f->rows[t].stats[0];
        s->mean = s->ci_lo = s->ci_hi = close[t];
    }
    page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page != NULL);
    if (page) {
        CHECK(!has_e_notation(page));
        CHECK_STR_CONTAINS(page, ">0.812344 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.812341 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.500000 \xC2\xB1 "); /* aligned with the others */
    }
    free(page);

    /* different means never read the same, also where more decimals, for
     * another pair or for the CI bounds, merge two that fewer kept apart */
    const double unnested[N_TEAMS] = {0.81236, 0.81235001, 0.81234999};
    for (size_t t = 0; t < N_TEAMS; t++) {
        sa_metric_stats *s = &f->rows[t].stats[0];
        s->mean = s->ci_lo = s->ci_hi = unnested[t];
    }
    page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page != NULL);
    if (page) {
        CHECK_ABSENT(page, ">0.81235 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.81235001 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.81234999 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.81236000 \xC2\xB1 ");
    }
    free(page);
    const double two[N_TEAMS] = {0.9, 0.81235001, 0.81234999};
    for (size_t t = 0; t < N_TEAMS; t++) {
        sa_metric_stats *s = &f->rows[t].stats[0];
        s->mean = two[t];
        s->ci_lo = 0.09123; /* 4 digits: 5 decimals */
        s->ci_hi = two[t];
    }
    page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page != NULL);
    if (page) {
        CHECK_ABSENT(page, ">0.81235 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.81235001 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, ">0.81234999 \xC2\xB1 ");
        CHECK_STR_CONTAINS(page, "95 % CI 0.09123000\xE2\x80\x93");
    }
    free(page);
    for (size_t t = 0; t < N_TEAMS; t++) f->rows[t].stats[0] = kept[t];
}

/* A hidden phase (show_case_details false, the default): the page is the
 * public's, so no value of one case is on it: no dot, no case id, no tooltip;
 * the boxes (quartiles, min, max: aggregates) and the stability plot stay. */
static void check_hidden_phase_page(fixture *f) {
    f->board.spec.show_case_details = 0;
    char *page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page != NULL);
    if (page) {
        save("leaderboard_hidden.html", page);
        CHECK(well_formed(page, "hidden phase page"));
        CHECK(count(page, "class=\"dot\"") == 0);
        CHECK(count(page, "<circle class=\"dot") == 0);
        CHECK_ABSENT(page, "Per-case values");
        CHECK_ABSENT(page, "per case");
        CHECK_STR_CONTAINS(page, "Distribution over the cases");
        for (size_t c = 0; c < N_CASES; c++) {
            sa_strbuf id = {0};
            sa_strbuf_append_html(&id, f->case_ids[c]);
            char *escaped = sa_strbuf_take(&id, NULL);
            char tooltip[64];
            snprintf(tooltip, sizeof tooltip, "%s: ", escaped ? escaped : "?");
            CHECK_ABSENT(page, tooltip);
            free(escaped);
        }
        CHECK(count(page, "class=\"box\"") == 2 * N_TEAMS);
        CHECK(count(page, "class=\"blob\"") >= N_TEAMS);
        CHECK(check_inline_svgs(page) == 3);
    }
    free(page);
    char *svg = sa_render_metric_plot(&f->board, 0);
    CHECK(svg && well_formed(svg, "hidden dice plot"));
    if (svg) {
        CHECK(count(svg, "<circle") == 0);
        CHECK(count(svg, "whisker") == 0); /* min and max are single cases' values */
        CHECK(count(svg, "<title>") == 1); /* the plot's own title only */
        CHECK_STR_CONTAINS(svg, "dice over the cases");
    }
    free(svg);
    /* a team with one defined value: its quartiles would be that case's value */
    double *row0 = f->board.values; /* team 0, metric 0, its cases */
    double kept[N_CASES];
    memcpy(kept, row0, sizeof kept);
    for (size_t c = 1; c < N_CASES; c++) row0[c] = NAN;
    svg = sa_render_metric_plot(&f->board, 0);
    CHECK(svg && well_formed(svg, "hidden plot, one value"));
    if (svg) {
        CHECK_STR_CONTAINS(svg, "too few values to show");
        CHECK(count(svg, "class=\"box\"") == N_TEAMS - 1);
    }
    free(svg);
    memcpy(row0, kept, sizeof kept);

    /* the page says what it keeps back, and keeps it: a team's Dice over 3
     * values has its mean and std, no CI (sa_board_public_view) */
    sa_metric_stats kept_stats = f->rows[0].stats[0];
    f->rows[0].stats[0].n = 3;
    sa_board_public_view(&f->board);
    CHECK(isnan(f->rows[0].stats[0].ci_lo) && isfinite(f->rows[1].stats[0].ci_lo));
    page = sa_render_leaderboard(&f->board, "Demo", NULL);
    CHECK(page && well_formed(page, "hidden phase page, CI withheld"));
    if (page) {
        CHECK_ABSENT(page, "not even the lowest or the highest");
        CHECK_STR_CONTAINS(page, "The values of single cases are not listed");
        CHECK_STR_CONTAINS(page, "fewer than 4 values of a metric gets no box, and its median, std and 95 % CI "
                                 "are not shown");
        CHECK(count(page, "<small>std and 95 % CI not shown</small>") == 1);
        CHECK(count(page, "<small>95 % CI 0.") == N_TEAMS - 1 + 1); /* the others, the rater */
    }
    free(page);
    f->rows[0].stats[0] = kept_stats;
    f->board.spec.show_case_details = 1;
}

/* Submissions scored under an earlier scoring configuration: named as awaiting
 * rescoring (escaped), not ranked. */
static void check_awaiting_rescoring(void) {
    sa_board b;
    memset(&b, 0, sizeof b);
    sa_phase_spec_default(&b.spec);
    snprintf(b.challenge, sizeof b.challenge, "demo");
    snprintf(b.phase, sizeof b.phase, "val");
    sa_board_stale stale[2];
    memset(stale, 0, sizeof stale);
    snprintf(stale[0].team, sizeof stale[0].team, "a<b");
    stale[0].submission_id = 7;
    snprintf(stale[1].team, sizeof stale[1].team, "gamma");
    stale[1].submission_id = 12;
    b.stale = stale;
    b.n_stale = 2;
    char *page = sa_render_leaderboard(&b, "Demo", NULL);
    CHECK(page != NULL);
    if (page) {
        CHECK(well_formed(page, "awaiting rescoring"));
        CHECK_STR_CONTAINS(page, "Awaiting rescoring");
        CHECK_STR_CONTAINS(page, "a&lt;b (submission 7), gamma (submission 12)");
    }
    free(page);
    b.n_stale = 0;
    page = sa_render_leaderboard(&b, "Demo", NULL);
    CHECK(page && !strstr(page, "Awaiting rescoring"));
    free(page);
}

/* A phase with nothing evaluated yet (the default spec: dice and hd95 ranked). */
static void check_empty_leaderboard(void) {
    sa_board empty;
    memset(&empty, 0, sizeof empty);
    sa_phase_spec_default(&empty.spec);
    snprintf(empty.challenge, sizeof empty.challenge, "demo");
    snprintf(empty.phase, sizeof empty.phase, "val");
    char *page = sa_render_leaderboard(&empty, "Empty", NULL);
    CHECK(page != NULL);
    if (!page) return;
    save("leaderboard_empty.html", page);
    CHECK(well_formed(page, "empty leaderboard"));
    CHECK_STR_CONTAINS(page, "No evaluated submission yet.");
    CHECK_STR_CONTAINS(page, "No bootstrap");
    CHECK(check_inline_svgs(page) == empty.spec.n_ranked + 1);
    CHECK(count(page, "class=\"box\"") == 0);
    free(page);
}

static void check_metric_plots(fixture *f) {
    char *svg = sa_render_metric_plot(&f->board, 0);
    CHECK(svg != NULL);
    if (svg) {
        save("metric_dice.svg", svg);
        CHECK(well_formed(svg, "dice plot"));
        CHECK(!strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", 47));
        CHECK_STR_CONTAINS(svg, "viewBox=\"0 0 ");
        CHECK(count(svg, "class=\"box\"") == N_TEAMS);
        CHECK(count(svg, "class=\"dot\"") == N_TEAMS * N_CASES);
        CHECK(count(svg, "class=\"tick\"") >= 3);
        CHECK_STR_CONTAINS(svg, "higher is better");
        CHECK_STR_CONTAINS(svg, ">&lt;script&gt;alert(1)&lt;/script&gt;</text>");
        CHECK_STR_CONTAINS(svg, "<title>c&amp;1: 0.9</title>");
        CHECK_ABSENT(svg, "<script");
    }
    free(svg);

    svg = sa_render_metric_plot(&f->board, 1);
    CHECK(svg && well_formed(svg, "hd95 plot") && strstr(svg, "lower is better") && strstr(svg, "hd95 (mm)"));
    save("metric_hd95.svg", svg);
    free(svg);

    svg = sa_render_metric_plot(&f->board, 2); /* volume: two NaN left out */
    CHECK(svg != NULL);
    if (svg) {
        save("metric_volume.svg", svg);
        CHECK(well_formed(svg, "volume plot"));
        CHECK(count(svg, "class=\"dot\"") == N_TEAMS * N_CASES - 2);
        CHECK(count(svg, "class=\"box\"") == N_TEAMS);
    }
    free(svg);

    CHECK(sa_render_metric_plot(&f->board, N_METRICS) == NULL); /* no such metric */
    CHECK(sa_render_metric_plot(NULL, 0) == NULL);

    sa_board empty = f->board;
    empty.n_cases = 0;
    svg = sa_render_metric_plot(&empty, 0);
    CHECK(svg && well_formed(svg, "empty plot") && count(svg, "class=\"box\"") == 0);
    save("metric_empty.svg", svg);
    free(svg);

    /* one value only: an axis around it */
    sa_board single = f->board;
    single.n_rows = 1;
    single.n_cases = 1;
    svg = sa_render_metric_plot(&single, 0);
    CHECK(svg && well_formed(svg, "single value plot") && count(svg, "class=\"box\"") == 1);
    free(svg);
}

/* A large board (100 teams x 38 cases): dots without tooltips are too heavy to
 * serve, so the metric plot keeps boxes only and says so; every row still has
 * its box, and the plot stays well-formed and small. */
static void check_large_metric_plot(void) {
    enum { TEAMS = 100, CASES = 38 };
    sa_board big;
    memset(&big, 0, sizeof big);
    sa_phase_spec_default(&big.spec);
    big.spec.show_case_details = 1;
    big.spec.n_metrics = 1;
    snprintf(big.spec.metrics[0], sizeof big.spec.metrics[0], "dice");
    big.n_rows = TEAMS;
    big.n_cases = CASES;
    big.rows = calloc(TEAMS, sizeof *big.rows);
    big.values = malloc(sizeof(double) * TEAMS * CASES);
    CHECK(big.rows && big.values);
    if (!big.rows || !big.values) {
        free(big.rows);
        free(big.values);
        return;
    }
    for (size_t r = 0; r < TEAMS; r++) {
        snprintf(big.rows[r].team, sizeof big.rows[r].team, "team%zu", r);
        big.rows[r].rank = (int)r + 1;
        for (size_t c = 0; c < CASES; c++) big.values[r * CASES + c] = (double)((r * 7 + c * 3) % 100) / 100.0;
    }
    char *svg = sa_render_metric_plot(&big, 0);
    CHECK(svg != NULL);
    if (svg) {
        CHECK(well_formed(svg, "large dice plot"));
        CHECK(count(svg, "class=\"box\"") == TEAMS);
        CHECK(count(svg, "class=\"dot\"") == 0);
        CHECK_STR_CONTAINS(svg, "3800 values: boxes only");
        CHECK(strlen(svg) < 200000);
    }
    free(svg);
    free(big.rows);
    free(big.values);
}

static void check_stability_plot(fixture *f) {
    char *svg = sa_render_stability_plot(&f->board);
    CHECK(svg != NULL);
    if (!svg) return;
    save("stability.svg", svg);
    CHECK(well_formed(svg, "stability plot"));
    CHECK(count(svg, "class=\"interval\"") == N_TEAMS);
    CHECK(count(svg, "class=\"median\"") == N_TEAMS);
    CHECK(count(svg, "class=\"blob\"") >= N_TEAMS);
    CHECK_STR_CONTAINS(svg, "&lt;script&gt;alert(1)&lt;/script&gt;");
    CHECK_ABSENT(svg, "<script");

    /* the blobs are the counts: each team's shares over ranks add up to 100 % */
    unsigned counts[N_TEAMS * N_TEAMS];
    double table[N_TEAMS * 2 * N_CASES];
    int directions[2] = {1, 0};
    for (size_t t = 0; t < N_TEAMS; t++)
        for (size_t k = 0; k < 2; k++)
            for (size_t c = 0; c < N_CASES; c++) table[(t * 2 + k) * N_CASES + c] = team_values[t][k][c];
    sa_rank_table rt = {N_TEAMS, 2, N_CASES, table, directions};
    sa_error err = {{0}};
    CHECK(sa_rank_bootstrap_counts(&rt, SA_RANK_MEAN_RANK, 200, 20160101, counts, &err) == 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < N_TEAMS * N_TEAMS; i++) nonzero += counts[i] > 0;
    CHECK(count(svg, "class=\"blob\"") == nonzero);
    free(svg);

    sa_board one = f->board;
    one.n_rows = 1;
    svg = sa_render_stability_plot(&one);
    CHECK(svg && well_formed(svg, "one-row stability") && strstr(svg, "at least two"));
    save("stability_one_row.svg", svg);
    free(svg);

    /* a NaN in a ranked metric cannot be ranked: said in the plot, not a crash */
    fixture broken = *f;
    broken.board.values = broken.values;
    broken.values[1] = NAN;
    svg = sa_render_stability_plot(&broken.board);
    CHECK(svg && well_formed(svg, "broken stability") && strstr(svg, "Not computed"));
    free(svg);
}

static void check_challenges_page(void) {
    sa_page_phase phases[2] = {{"val", "Validation & test", 0, 3}, {"test", NULL, 1, 1}};
    sa_page_challenge c[2] = {
        {"ms seg", HOSTILE_TITLE, "Segment <script>x</script> lesions", phases, 2},
        {"pet", NULL, NULL, NULL, 0},
    };
    size_t len = 0;
    char *page = sa_render_challenges(c, 2, &len);
    CHECK(page != NULL);
    if (!page) return;
    save("challenges.html", page);
    CHECK(len == strlen(page));
    CHECK(well_formed(page, "challenges page"));
    CHECK_STR_CONTAINS(page, "name=\"viewport\"");
    CHECK_STR_CONTAINS(page, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    CHECK_STR_CONTAINS(page, "Segment &lt;script&gt;x&lt;/script&gt; lesions");
    CHECK_ABSENT(page, "<script");
    CHECK_ABSENT(page, "<img");
    CHECK_STR_CONTAINS(page, "href=\"/challenges/ms%20seg/phases/val\"");
    CHECK_STR_CONTAINS(page, ">Validation &amp; test</a>");
    CHECK_STR_CONTAINS(page, ">test</a>"); /* no title: the name */
    CHECK(count(page, "(unpublished)") == 1);
    CHECK_STR_CONTAINS(page, "<h2>pet</h2>");
    free(page);

    page = sa_render_challenges(NULL, 0, NULL);
    CHECK(page && well_formed(page, "empty challenges") && strstr(page, "No challenge yet."));
    free(page);
}

/* The frame every page shares (render_page.c): the header bar for a viewer with
 * a hostile name and for the public, the marks pages.c splices at, a refresh. */
static void check_page_frame(void) {
    sa_strbuf b = {0};
    sa_page_viewer who = {"<b>eve</b>\"'&", "challenger", "tok\"en", "/x"};
    sa_render_page_open(&b, "T <i>", &who, 3);
    sa_strbuf_append(&b, SA_PAGE_ACTIONS_MARK);
    char *page = sa_render_page_close(&b, NULL);
    CHECK(page != NULL);
    if (!page) return;
    CHECK(well_formed(page, "a framed page"));
    CHECK(strstr(page, "logged in as <strong>&lt;b&gt;eve&lt;/b&gt;&quot;&#39;&amp;</strong> "
                       "(challenger)") != NULL);
    CHECK(strstr(page, "name=\"csrf\" value=\"tok&quot;en\"") != NULL);
    CHECK(strstr(page, "<meta http-equiv=\"refresh\" content=\"3\"/>") != NULL);
    CHECK(strstr(page, "<title>T &lt;i&gt;</title>") != NULL);
    CHECK_ABSENT(page, "<b>eve");
    CHECK(count(page, SA_PAGE_BAR_OPEN) == 1 && count(page, SA_PAGE_BAR_CLOSE) == 1);
    save("frame.html", page);
    free(page);

    sa_page_viewer public_view = {NULL, NULL, NULL, "/challenges/a b/phases/p\"q"};
    sa_render_header_bar(&b, &public_view);
    page = sa_strbuf_take(&b, NULL);
    CHECK(page && strstr(page, "href=\"/login?next=/challenges/a%20b/phases/p%22q\">log in</a>"));
    CHECK(page && !strstr(page, "logged in"));
    free(page);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        out_dir = argv[1];
        CHECK(mkdir(out_dir, 0755) == 0 || errno == EEXIST);
    }
    check_checker();
    check_strbuf();
    check_numbers();
    check_rank_counts();
    fixture *f = malloc(sizeof *f);
    CHECK(f != NULL);
    if (f) {
        make_board(f);
        check_leaderboard_page(f);
        check_table_numbers(f);
        check_metric_plots(f);
        check_hidden_phase_page(f);
        check_large_metric_plot();
        check_stability_plot(f);
    }
    check_empty_leaderboard();
    check_awaiting_rescoring();
    free(f);
    check_challenges_page();
    check_page_frame();
    return test_report("test_web_render");
}
