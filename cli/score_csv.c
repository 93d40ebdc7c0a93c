/*
 * score_csv.c: `segarena score --csv` and folder mode's results file: one row
 * per case, label and comparison ("reference" with one reference; "consensus",
 * "rater:<id>", "rater_mean" and "human:<id>" with several raters). An
 * undefined value is an empty cell, listed as name=reason in the "undefined"
 * column (which also names a rater_mean taken over fewer raters than all, as
 * name=mean_of_<k>_of_<K>_raters); a failed case is one row with its error.
 */
#include <string.h>

#include "score_output.h"

#define N_DETAIL_COLUMNS 7 /* both_empty and six counts */

void write_csv_header(FILE *out) {
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    fputs("case,label,compared_to", out);
    for (size_t i = 0; i < count; i++) fprintf(out, ",%s", table[i].name);
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
    for (size_t i = 0; i < count; i++) fprintf(out, ",%s", lt[i].name);
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

static void add_undefined(char *buf, size_t size, const char *name, const char *reason) {
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s%s=%s", len ? " " : "", name, reason);
}

static void write_cell(FILE *out, sa_value v, const char *name, char *undefined, size_t size) {
    fputc(',', out);
    if (v.reason) {
        add_undefined(undefined, size, name, v.reason);
        return;
    }
    char buf[40];
    format_double(buf, sizeof buf, v.value == 0 ? 0.0 : v.value);
    fputs(buf, out);
}

static void row_start(FILE *out, const case_result *r, size_t b, const char *compared_to) {
    csv_text(out, r->case_id);
    if (r->block_label[b] < 0)
        fputs(",>0,", out);
    else
        fprintf(out, ",%ld,", r->block_label[b]);
    csv_text(out, compared_to);
}

/* A mean over fewer raters than all (the value is in its cell) is listed in
 * the undefined column as name=mean_of_<k>_of_<K>_raters: never a silent skip. */
static void note_partial_mean(sa_value v, unsigned defined, unsigned raters, const char *name, char *undefined,
                              size_t size) {
    if (v.reason || defined >= raters) return;
    char why[64];
    snprintf(why, sizeof why, "mean_of_%u_of_%u_raters", defined, raters);
    add_undefined(undefined, size, name, why);
}

/* One comparison; pair and lesions may come from sa_scores or from a mean. */
static void write_row(FILE *out, const case_result *r, size_t b, const char *compared_to, const sa_scores *sc,
                      const sa_scores_mean *mean) {
    char undefined[2048] = "";
    row_start(out, r, b, compared_to);
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t i = 0; i < count; i++) {
        write_cell(out, sc ? sa_metric_get(&sc->pair, &table[i]) : mean->pair[i], table[i].name, undefined,
                   sizeof undefined);
        if (mean) note_partial_mean(mean->pair[i], mean->pair_defined[i], mean->raters, table[i].name, undefined,
                                    sizeof undefined);
    }
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
    int lesions = sc ? sc->has_lesions : mean->has_lesions;
    for (size_t i = 0; i < count; i++) {
        if (!lesions) {
            fputc(',', out);
            continue;
        }
        write_cell(out, sc ? lesion_metric_get(&sc->lesions, &lt[i]) : mean->lesion[i], lt[i].name, undefined,
                   sizeof undefined);
        if (mean) note_partial_mean(mean->lesion[i], mean->lesion_defined[i], mean->raters, lt[i].name, undefined,
                                    sizeof undefined);
    }
    if (sc) {
        const sa_pair_metrics *m = &sc->pair;
        fprintf(out, ",%d,%llu,%llu,%llu,%llu,%llu,%llu,", m->both_empty, (unsigned long long)m->tp,
                (unsigned long long)m->fp, (unsigned long long)m->fn, (unsigned long long)m->tn,
                (unsigned long long)m->ref_surface_voxels, (unsigned long long)m->pred_surface_voxels);
    } else {
        for (int i = 0; i < N_DETAIL_COLUMNS + 1; i++) fputc(',', out);
    }
    csv_text(out, undefined);
    fputs(",\n", out);
}

void write_csv_rows(FILE *out, const score_settings *s, const case_result *r) {
    if (r->failed) {
        size_t metrics, lesions;
        sa_metric_table(&metrics);
        sa_lesion_metric_table(&lesions);
        csv_text(out, r->case_id);
        /* empty label, compared_to, metrics, details and undefined; then the error */
        for (size_t i = 0; i < 2 + metrics + lesions + N_DETAIL_COLUMNS + 1; i++) fputc(',', out);
        fputc(',', out);
        csv_text(out, r->error);
        fputc('\n', out);
        return;
    }
    char name[RATER_NAME_SIZE + 16];
    for (size_t b = 0; b < r->n_blocks; b++) {
        const sa_multi_result *mr = r->multi[b];
        if (!mr) {
            write_row(out, r, b, "reference", &r->scores[b], NULL);
            continue;
        }
        write_row(out, r, b, "consensus", &mr->vs_consensus, NULL);
        for (size_t i = 0; i < mr->raters; i++) {
            snprintf(name, sizeof name, "rater:%s", rater_id(s, i));
            write_row(out, r, b, name, &mr->vs_rater[i], NULL);
        }
        write_row(out, r, b, "rater_mean", NULL, &mr->rater_mean);
        for (size_t i = 0; mr->has_human_reference && i < mr->raters; i++) {
            snprintf(name, sizeof name, "human:%s", rater_id(s, i));
            write_row(out, r, b, name, &mr->human_reference[i], NULL);
        }
    }
}
