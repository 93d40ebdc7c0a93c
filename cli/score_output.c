/*
 * score_output.c: rendering of `segarena score` results. Every format lists the
 * same metrics, in the spec's order and under the spec's names (metrics/names.c);
 * an undefined value is never printed as a number: "n/a (reason)" in reports,
 * null plus "<name>_reason" in JSON, an empty cell plus a note in CSV.
 */
#include "score_output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *label_text(long label, char *buf, size_t size) {
    if (label < 0)
        snprintf(buf, size, "voxels > 0");
    else
        snprintf(buf, size, "%ld", label);
    return buf;
}

static void print_value(FILE *out, sa_value v, const char *unit) {
    if (v.reason) {
        fprintf(out, "%-14s", "n/a");
        fprintf(out, "(%s)", v.reason);
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.6g%s%s", v.value, *unit ? " " : "", unit);
    fprintf(out, "%-14s", buf);
}

static void explain(FILE *out, const char *name, const sa_pair_metrics *m) {
    char a[40], b[40];
#define NUM(buf, v) (v.reason ? "n/a" : (snprintf(buf, sizeof buf, "%.6g", v.value), buf))
    if (!strcmp(name, "dice")) fprintf(out, "2TP/(2TP+FP+FN)%s", m->both_empty ? ", both masks empty" : "");
    else if (!strcmp(name, "jaccard")) fprintf(out, "TP/(TP+FP+FN)");
    else if (!strcmp(name, "sensitivity")) fprintf(out, "TP/(TP+FN)");
    else if (!strcmp(name, "specificity")) fprintf(out, "TN/(TN+FP)");
    else if (!strcmp(name, "ppv")) fprintf(out, "TP/(TP+FP)");
    else if (!strcmp(name, "volume_ref_ml")) fprintf(out, "%llu voxels", (unsigned long long)m->ref_voxels);
    else if (!strcmp(name, "volume_pred_ml")) fprintf(out, "%llu voxels", (unsigned long long)m->pred_voxels);
    else if (!strcmp(name, "abs_volume_diff_ml")) fprintf(out, "|V_pred - V_ref|");
    else if (!strcmp(name, "rve_percent")) fprintf(out, "(V_pred - V_ref)/V_ref x 100");
    else if (!strcmp(name, "pet_accuracy")) fprintf(out, "(sensitivity + ppv)/2");
    else if (!strcmp(name, "hd"))
        fprintf(out, "max of pred->ref %s, ref->pred %s", NUM(a, m->hd_pred_to_ref), NUM(b, m->hd_ref_to_pred));
    else if (!strcmp(name, "hd95"))
        fprintf(out, "max of P95 pred->ref %s, P95 ref->pred %s", NUM(a, m->p95_pred_to_ref), NUM(b, m->p95_ref_to_pred));
    else if (!strcmp(name, "hd95_pooled")) fprintf(out, "P95 of both directions pooled");
    else if (!strcmp(name, "hd95_mean")) fprintf(out, "mean of the two directed P95s");
    else if (!strcmp(name, "assd")) fprintf(out, "all distances summed / (|dT| + |dR|)");
    else if (!strcmp(name, "masd"))
        fprintf(out, "(mean pred->ref %s + mean ref->pred %s)/2", NUM(a, m->mean_pred_to_ref), NUM(b, m->mean_ref_to_pred));
    else if (!strcmp(name, "nsd")) fprintf(out, "share of surface voxels within tau = %g mm", m->tau_mm);
#undef NUM
}

void print_case_report(FILE *out, const score_settings *s, const case_result *r) {
    (void)s;
    const case_geometry *g = &r->geometry;
    fprintf(out, "reference   %s\nprediction  %s\n", r->ref_path, r->pred_path);
    fprintf(out, "grid        %zu x %zu x %zu voxels, spacing %g x %g x %g mm, %s\n", g->size[0], g->size[1],
            g->size[2], g->spacing[0], g->spacing[1], g->spacing[2], g->pixel_type);
    fprintf(out, "engine      cpu, %d threads, %.3f s (metric definitions v%d)\n", r->threads_used, r->seconds,
            SA_METRIC_DEFINITION_VERSION);
    if (r->n_blocks == 0) fprintf(out, "\nno label found in either mask: nothing to score\n");
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t b = 0; b < r->n_blocks; b++) {
        const sa_pair_metrics *m = &r->metrics[b];
        char lbuf[32];
        fprintf(out, "\nlabel %s\n", label_text(r->block_label[b], lbuf, sizeof lbuf));
        fprintf(out, "  voxels    TP %llu  FP %llu  FN %llu  TN %llu\n", (unsigned long long)m->tp,
                (unsigned long long)m->fp, (unsigned long long)m->fn, (unsigned long long)m->tn);
        fprintf(out, "  surface   reference %llu voxels, prediction %llu voxels (inner boundary, 6-connectivity)\n",
                (unsigned long long)m->ref_surface_voxels, (unsigned long long)m->pred_surface_voxels);
        for (size_t i = 0; i < count; i++) {
            fprintf(out, "  %-19s", table[i].name);
            print_value(out, sa_metric_get(m, &table[i]), table[i].unit);
            fputs("  ", out);
            explain(out, table[i].name, m);
            fputc('\n', out);
        }
    }
}

static void write_value_json(json_writer *w, const char *name, sa_value v) {
    json_key(w, name);
    if (v.reason) {
        json_null(w);
        char key[64];
        snprintf(key, sizeof key, "%s_reason", name);
        json_key(w, key);
        json_string(w, v.reason);
    } else {
        json_number(w, v.value);
    }
}

static void write_block_json(json_writer *w, const sa_pair_metrics *m) {
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    json_key(w, "metrics");
    json_object_open(w);
    for (size_t i = 0; i < count; i++) write_value_json(w, table[i].name, sa_metric_get(m, &table[i]));
    json_key(w, "both_empty");
    json_bool(w, m->both_empty);
    json_object_close(w);
    json_key(w, "details");
    json_object_open(w);
    json_key(w, "tp"), json_integer(w, (long long)m->tp);
    json_key(w, "fp"), json_integer(w, (long long)m->fp);
    json_key(w, "fn"), json_integer(w, (long long)m->fn);
    json_key(w, "tn"), json_integer(w, (long long)m->tn);
    json_key(w, "ref_voxels"), json_integer(w, (long long)m->ref_voxels);
    json_key(w, "pred_voxels"), json_integer(w, (long long)m->pred_voxels);
    json_key(w, "ref_surface_voxels"), json_integer(w, (long long)m->ref_surface_voxels);
    json_key(w, "pred_surface_voxels"), json_integer(w, (long long)m->pred_surface_voxels);
    write_value_json(w, "hd_pred_to_ref", m->hd_pred_to_ref);
    write_value_json(w, "hd_ref_to_pred", m->hd_ref_to_pred);
    write_value_json(w, "p95_pred_to_ref", m->p95_pred_to_ref);
    write_value_json(w, "p95_ref_to_pred", m->p95_ref_to_pred);
    write_value_json(w, "mean_pred_to_ref", m->mean_pred_to_ref);
    write_value_json(w, "mean_ref_to_pred", m->mean_ref_to_pred);
    json_object_close(w);
}

void write_conventions_json(json_writer *w, const score_settings *s) {
    json_key(w, "conventions");
    json_object_open(w);
    json_key(w, "definition_version"), json_integer(w, SA_METRIC_DEFINITION_VERSION);
    json_key(w, "surface"), json_string(w, "inner boundary, 6-connectivity; outside the image counts as background");
    json_key(w, "distance"), json_string(w, "exact Euclidean distance between voxel centres, mm, per-axis spacing");
    json_key(w, "percentile"), json_string(w, "linear interpolation between order statistics (numpy default)");
    json_key(w, "hd95"), json_string(w, "max of the two directed P95s");
    json_key(w, "tau_mm"), json_number(w, s->tau_mm);
    json_key(w, "mask"), json_string(w, s->all_labels || s->n_labels ? "voxel value == label" : "voxel value > 0");
    json_key(w, "units"), json_string(w, "distances mm, volumes mL, rve_percent %");
    json_key(w, "empty_masks"),
        json_string(w, "both empty: dice, jaccard, nsd 1 and distances 0 (both_empty); one empty: dice, jaccard, nsd 0 and distances null");
    json_object_close(w);
}

static void write_inputs_json(json_writer *w, const case_result *r) {
    const case_geometry *g = &r->geometry;
    json_key(w, "inputs");
    json_object_open(w);
    json_key(w, "reference"), json_string(w, r->ref_path);
    json_key(w, "prediction"), json_string(w, r->pred_path);
    if (!r->failed) {
        json_key(w, "size");
        json_array_open(w);
        for (int a = 0; a < 3; a++) json_integer(w, (long long)g->size[a]);
        json_array_close(w);
        json_key(w, "spacing_mm");
        json_array_open(w);
        for (int a = 0; a < 3; a++) json_number(w, g->spacing[a]);
        json_array_close(w);
        json_key(w, "origin_lps_mm");
        json_array_open(w);
        for (int a = 0; a < 3; a++) json_number(w, g->origin[a]);
        json_array_close(w);
        json_key(w, "direction");
        json_array_open(w);
        for (int a = 0; a < 9; a++) json_number(w, g->direction[a]);
        json_array_close(w);
        json_key(w, "pixel_type"), json_string(w, g->pixel_type);
    }
    json_object_close(w);
}

static void write_results_json(json_writer *w, const case_result *r) {
    if (r->failed) {
        json_key(w, "error"), json_string(w, r->error);
        return;
    }
    if (r->n_blocks == 1 && r->block_label[0] < 0) {
        write_block_json(w, &r->metrics[0]);
        return;
    }
    json_key(w, "labels");
    json_object_open(w);
    for (size_t b = 0; b < r->n_blocks; b++) {
        char key[32];
        snprintf(key, sizeof key, "%ld", r->block_label[b]);
        json_key(w, key);
        json_object_open(w);
        write_block_json(w, &r->metrics[b]);
        json_object_close(w);
    }
    json_object_close(w);
}

void write_case_json(json_writer *w, const score_settings *s, const case_result *r) {
    json_object_open(w);
    if (r->case_id[0]) json_key(w, "case"), json_string(w, r->case_id);
    write_results_json(w, r);
    if (s) write_conventions_json(w, s);
    write_inputs_json(w, r);
    json_key(w, "engine");
    json_object_open(w);
    json_key(w, "device"), json_string(w, "cpu");
    json_key(w, "threads"), json_integer(w, r->threads_used);
    json_key(w, "seconds"), json_number(w, r->seconds);
    json_object_close(w);
    json_object_close(w);
}

void write_csv_header(FILE *out) {
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    fputs("case,label", out);
    for (size_t i = 0; i < count; i++) fprintf(out, ",%s", table[i].name);
    fputs(",both_empty,tp,fp,fn,tn,ref_surface_voxels,pred_surface_voxels,undefined,error\n", out);
}

static void csv_text(FILE *out, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void write_csv_rows(FILE *out, const case_result *r) {
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    if (r->failed) {
        csv_text(out, r->case_id);
        /* empty label, metrics, both_empty, 6 counts and undefined; then the error */
        for (size_t i = 0; i < 1 + count + 7 + 1; i++) fputc(',', out);
        fputc(',', out);
        csv_text(out, r->error);
        fputc('\n', out);
        return;
    }
    for (size_t b = 0; b < r->n_blocks; b++) {
        const sa_pair_metrics *m = &r->metrics[b];
        char undefined[512] = "";
        csv_text(out, r->case_id);
        if (r->block_label[b] < 0)
            fputs(",>0", out);
        else
            fprintf(out, ",%ld", r->block_label[b]);
        for (size_t i = 0; i < count; i++) {
            sa_value v = sa_metric_get(m, &table[i]);
            fputc(',', out);
            if (v.reason) {
                size_t len = strlen(undefined);
                snprintf(undefined + len, sizeof undefined - len, "%s%s=%s", len ? " " : "", table[i].name, v.reason);
            } else {
                char buf[40];
                format_double(buf, sizeof buf, v.value);
                fputs(buf, out);
            }
        }
        fprintf(out, ",%d,%llu,%llu,%llu,%llu,%llu,%llu,", m->both_empty, (unsigned long long)m->tp,
                (unsigned long long)m->fp, (unsigned long long)m->fn, (unsigned long long)m->tn,
                (unsigned long long)m->ref_surface_voxels, (unsigned long long)m->pred_surface_voxels);
        csv_text(out, undefined);
        fputs(",\n", out);
    }
}

/* ---- several cases ---- */

static const char *const table_metrics[] = {"dice", "jaccard", "sensitivity", "ppv", "hd", "hd95", "assd", "nsd"};
#define N_TABLE_METRICS (sizeof table_metrics / sizeof table_metrics[0])

void print_cases_table(FILE *out, const case_result *cases, size_t n) {
    fprintf(out, "%-24s %-6s", "case", "label");
    for (size_t i = 0; i < N_TABLE_METRICS; i++) fprintf(out, " %10s", table_metrics[i]);
    fputc('\n', out);
    for (size_t c = 0; c < n; c++) {
        const case_result *r = &cases[c];
        if (r->failed) {
            fprintf(out, "%-24s %-6s FAILED: %s\n", r->case_id, "-", r->error);
            continue;
        }
        for (size_t b = 0; b < r->n_blocks; b++) {
            char lbuf[24];
            if (r->block_label[b] < 0)
                snprintf(lbuf, sizeof lbuf, ">0");
            else
                snprintf(lbuf, sizeof lbuf, "%ld", r->block_label[b]);
            fprintf(out, "%-24s %-6s", r->case_id, lbuf);
            for (size_t i = 0; i < N_TABLE_METRICS; i++) {
                sa_value v = sa_metric_get(&r->metrics[b], sa_metric_find(table_metrics[i]));
                if (v.reason)
                    fprintf(out, " %10s", "n/a");
                else
                    fprintf(out, " %10.4f", v.value);
            }
            fputc('\n', out);
        }
    }
}

typedef struct {
    double mean, median, std;
    size_t n, undefined;
} stats;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Statistics over the cases where the metric is defined; std is the sample
 * standard deviation (n - 1), undefined (NaN) below two values. */
static stats metric_stats(const case_result *cases, size_t n, long label, const sa_metric_info *info) {
    stats s = {NAN, NAN, NAN, 0, 0};
    double *v = malloc((n + 1) * sizeof *v);
    if (!v) return s;
    for (size_t c = 0; c < n; c++)
        for (size_t b = 0; b < cases[c].n_blocks; b++) {
            if (cases[c].block_label[b] != label) continue;
            sa_value x = sa_metric_get(&cases[c].metrics[b], info);
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

/* Labels that occur in the results, ascending (binary mode: just -1). */
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

void print_summary_table(FILE *out, const case_result *cases, size_t n) {
    long labels[SCORE_MAX_LABELS];
    size_t nl = result_labels(cases, n, labels);
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t l = 0; l < nl; l++) {
        char lbuf[32];
        fprintf(out, "\nsummary, label %s (over cases where the metric is defined)\n",
                label_text(labels[l], lbuf, sizeof lbuf));
        fprintf(out, "%-20s %12s %12s %12s %6s %10s\n", "metric", "mean", "median", "std", "n", "undefined");
        for (size_t i = 0; i < count; i++) {
            stats s = metric_stats(cases, n, labels[l], &table[i]);
            fprintf(out, "%-20s", table[i].name);
            print_stat(out, s.mean);
            print_stat(out, s.median);
            print_stat(out, s.std);
            fprintf(out, " %6zu %10zu\n", s.n, s.undefined);
        }
    }
}

void write_summary_json(json_writer *w, const case_result *cases, size_t n) {
    long labels[SCORE_MAX_LABELS];
    size_t nl = result_labels(cases, n, labels);
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    json_key(w, "summary");
    json_object_open(w);
    for (size_t l = 0; l < nl; l++) {
        char key[32];
        if (labels[l] < 0)
            snprintf(key, sizeof key, ">0");
        else
            snprintf(key, sizeof key, "%ld", labels[l]);
        json_key(w, key);
        json_object_open(w);
        for (size_t i = 0; i < count; i++) {
            stats s = metric_stats(cases, n, labels[l], &table[i]);
            json_key(w, table[i].name);
            json_object_open(w);
            json_key(w, "mean"), json_number(w, s.mean);
            json_key(w, "median"), json_number(w, s.median);
            json_key(w, "std"), json_number(w, s.std);
            json_key(w, "n"), json_integer(w, (long long)s.n);
            json_key(w, "undefined"), json_integer(w, (long long)s.undefined);
            json_object_close(w);
        }
        json_object_close(w);
    }
    json_object_close(w);
}
