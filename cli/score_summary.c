/*
 * score_summary.c: folder mode's per-case table and its summary over cases:
 * mean, median and sample standard deviation of each metric (and of the lesion
 * metrics when they were asked for) over the cases where it is defined, with the
 * counts of defined, undefined and failed cases (n + undefined + failed = the
 * cases: a failed case has no value, and is never dropped silently). A
 * statistic that cannot be computed is "n/a" in the table and null with a
 * "<stat>_reason" in JSON.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "score_output.h"

/* One summarised column: a pair metric or a lesion metric. */
typedef struct {
    const char *name;
    const sa_metric_info *pair;
    const sa_lesion_metric_info *lesion;
} column;

static sa_value column_value(const column *c, const sa_scores *sc) {
    if (c->pair) return sa_metric_get(&sc->pair, c->pair);
    if (!sc->has_lesions) return (sa_value){0.0, "no_lesion_detection"};
    return lesion_metric_get(&sc->lesions, c->lesion);
}

static int any_lesions(const case_result *cases, size_t n) {
    for (size_t c = 0; c < n; c++)
        for (size_t b = 0; b < cases[c].n_blocks; b++)
            if (cases[c].scores[b].has_lesions) return 1;
    return 0;
}

/* The columns summarised: every pair metric, then every lesion metric. */
static size_t summary_columns(const case_result *cases, size_t n, column *out, size_t cap) {
    size_t count, k = 0;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t i = 0; i < count && k < cap; i++) out[k++] = (column){table[i].name, &table[i], NULL};
    if (!any_lesions(cases, n)) return k;
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
    for (size_t i = 0; i < count && k < cap; i++) out[k++] = (column){lt[i].name, NULL, &lt[i]};
    return k;
}

static const char *const table_metrics[] = {"dice", "jaccard", "sensitivity", "ppv", "hd", "hd95", "assd", "nsd"};
#define N_TABLE_METRICS (sizeof table_metrics / sizeof table_metrics[0])

static void print_cell(FILE *out, sa_value v) {
    if (v.reason)
        fprintf(out, " %10s", "n/a");
    else
        fprintf(out, " %10.4f", v.value);
}

void print_cases_table(FILE *out, const case_result *cases, size_t n) {
    int lesions = any_lesions(cases, n);
    fprintf(out, "%-24s %-6s", "case", "label");
    for (size_t i = 0; i < N_TABLE_METRICS; i++) fprintf(out, " %10s", table_metrics[i]);
    if (lesions) fprintf(out, " %10s", "lesion_f1");
    fputc('\n', out);
    for (size_t c = 0; c < n; c++) {
        const case_result *r = &cases[c];
        if (r->failed) {
            fprintf(out, "%-24s %-6s FAILED: ", r->case_id, "-");
            for (const char *e = r->error; *e; e++) /* one row: the problems joined by "; " */
                fputs(*e == '\n' ? "; " : (char[2]){*e, 0}, out);
            fputc('\n', out);
            continue;
        }
        for (size_t b = 0; b < r->n_blocks; b++) {
            char lbuf[24];
            if (r->block_label[b] < 0)
                snprintf(lbuf, sizeof lbuf, ">0");
            else
                snprintf(lbuf, sizeof lbuf, "%ld", r->block_label[b]);
            fprintf(out, "%-24s %-6s", r->case_id, lbuf);
            for (size_t i = 0; i < N_TABLE_METRICS; i++)
                print_cell(out, sa_metric_get(&r->scores[b].pair, sa_metric_find(table_metrics[i])));
            if (lesions) print_cell(out, r->scores[b].lesions.lesion_f1);
            fputc('\n', out);
        }
    }
}

typedef struct {
    double mean, median, std;
    size_t n, undefined, failed;
} stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Statistics over the cases where the metric is defined; std is the sample
 * standard deviation (n - 1), undefined (NaN) below two values. Every case that
 * did not fail has a block for every label of the results (one label, the same
 * explicit labels, or --label all's completed union), so each case counts once:
 * in n, undefined or failed. */
static stats column_stats(const case_result *cases, size_t n, long label, const column *col) {
    stats s = {NAN, NAN, NAN, 0, 0, 0};
    for (size_t c = 0; c < n; c++) s.failed += cases[c].failed != 0;
    double *v = malloc((n + 1) * sizeof *v);
    if (!v) return s;
    for (size_t c = 0; c < n; c++)
        for (size_t b = 0; b < cases[c].n_blocks; b++) {
            if (cases[c].block_label[b] != label) continue;
            sa_value x = column_value(col, &cases[c].scores[b]);
            if (x.reason)
                s.undefined++;
            else
                v[s.n++] = x.value;
        }
    if (s.n > 0) {
        double sum = 0;
        for (size_t i = 0; i < s.n; i++) sum += v[i];
        s.mean = sum / (double)s.n;
        qsort(v, s.n, sizeof *v, cmp_double);
        s.median = s.n % 2 ? v[s.n / 2] : (v[s.n / 2 - 1] + v[s.n / 2]) / 2;
        if (s.n > 1) {
            double ss = 0;
            for (size_t i = 0; i < s.n; i++) ss += (v[i] - s.mean) * (v[i] - s.mean);
            s.std = sqrt(ss / (double)(s.n - 1));
        }
    }
    free(v);
    return s;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Labels that occur in the results, ascending (binary mode: just -1). Never
 * more than SCORE_MAX_LABELS: --label takes at most that many, and with --label
 * all score_case and complete_labels (cmd_score.c) refuse more, in a case or
 * over the cases. */
static size_t result_labels(const case_result *cases, size_t n, long *labels) {
    size_t count = 0;
    for (size_t c = 0; c < n; c++)
        for (size_t b = 0; b < cases[c].n_blocks; b++) {
            long l = cases[c].block_label[b];
            size_t k = 0;
            while (k < count && labels[k] != l) k++;
            if (k == count && count < SCORE_MAX_LABELS) labels[count++] = l;
        }
    qsort(labels, count, sizeof *labels, cmp_long);
    return count;
}

static void print_stat(FILE *out, double v) {
    if (isnan(v))
        fprintf(out, " %12s", "n/a");
    else
        fprintf(out, " %12.6g", v);
}

#define MAX_COLUMNS 40

void print_summary_table(FILE *out, const case_result *cases, size_t n) {
    long labels[SCORE_MAX_LABELS];
    size_t nl = result_labels(cases, n, labels);
    column cols[MAX_COLUMNS];
    size_t nc = summary_columns(cases, n, cols, MAX_COLUMNS);
    for (size_t l = 0; l < nl; l++) {
        char lbuf[32];
        fprintf(out, "\nsummary, label %s (over cases where the metric is defined)\n",
                label_text(labels[l], lbuf, sizeof lbuf));
        fprintf(out, "%-22s %12s %12s %12s %6s %10s %6s\n", "metric", "mean", "median", "std", "n", "undefined",
                "failed");
        for (size_t i = 0; i < nc; i++) {
            stats s = column_stats(cases, n, labels[l], &cols[i]);
            fprintf(out, "%-22s", cols[i].name);
            print_stat(out, s.mean);
            print_stat(out, s.median);
            print_stat(out, s.std);
            fprintf(out, " %6zu %10zu %6zu\n", s.n, s.undefined, s.failed);
        }
    }
}

/* A statistic, or null with the reason it is missing. */
static void write_stat(json_writer *w, const char *name, double v, size_t n) {
    jw_key(w, name);
    if (!isnan(v)) {
        jw_number(w, v);
        return;
    }
    jw_null(w);
    char key[48];
    snprintf(key, sizeof key, "%s_reason", name);
    jw_key(w, key);
    jw_string(w, n == 0 ? "no_defined_values" : "fewer_than_two_values");
}

void write_summary_json(json_writer *w, const case_result *cases, size_t n) {
    long labels[SCORE_MAX_LABELS];
    size_t nl = result_labels(cases, n, labels);
    column cols[MAX_COLUMNS];
    size_t nc = summary_columns(cases, n, cols, MAX_COLUMNS);
    jw_key(w, "summary");
    jw_object_open(w);
    for (size_t l = 0; l < nl; l++) {
        char key[32];
        if (labels[l] < 0)
            snprintf(key, sizeof key, ">0");
        else
            snprintf(key, sizeof key, "%ld", labels[l]);
        jw_key(w, key);
        jw_object_open(w);
        for (size_t i = 0; i < nc; i++) {
            stats s = column_stats(cases, n, labels[l], &cols[i]);
            jw_key(w, cols[i].name);
            jw_object_open(w);
            write_stat(w, "mean", s.mean, s.n);
            write_stat(w, "median", s.median, s.n);
            write_stat(w, "std", s.std, s.n);
            jw_key(w, "n"), jw_integer(w, (long long)s.n);
            jw_key(w, "undefined"), jw_integer(w, (long long)s.undefined);
            jw_key(w, "failed"), jw_integer(w, (long long)s.failed);
            jw_object_close(w);
        }
        jw_object_close(w);
    }
    jw_object_close(w);
}
