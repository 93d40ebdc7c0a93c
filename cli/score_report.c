/*
 * score_report.c: the readable report of `segarena score`. Every number comes
 * with what it is made of (counts, directed parts); an undefined value prints as
 * "n/a (reason)", never as a number.
 */
#include <string.h>

#include "score_output.h"

const char *label_text(long label, char *buf, size_t size) {
    if (label < 0)
        snprintf(buf, size, "voxels > 0");
    else
        snprintf(buf, size, "%ld", label);
    return buf;
}

sa_value lesion_metric_get(const sa_lesion_metrics *m, const sa_lesion_metric_info *info) {
    const char *field = (const char *)m + info->offset;
    if (info->is_count) {
        uint64_t c;
        memcpy(&c, field, sizeof c);
        return (sa_value){(double)c, NULL};
    }
    sa_value v;
    memcpy(&v, field, sizeof v);
    return v;
}

const char *rater_id(const score_settings *s, size_t i) { return s->rater_ids[i]; }

/* A value in a column of `width`, always followed by at least one space; an
 * undefined value is "n/a (reason)" where there is room (reports of one
 * comparison), else "n/a" (the wide multi-rater tables; their JSON has the reasons). */
static void print_value(FILE *out, sa_value v, const char *unit, int width) {
    char buf[64];
    if (v.reason)
        snprintf(buf, sizeof buf, width >= 24 ? "n/a (%s)" : "n/a", v.reason);
    else
        snprintf(buf, sizeof buf, "%.6g%s%s", v.value, *unit ? " " : "", unit);
    fprintf(out, "%-*s ", width - 1, buf);
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

static void print_lesion_lines(FILE *out, const sa_lesion_metrics *l, const score_settings *s) {
    const sa_lesion_options *o = &s->options.lesion;
    fprintf(out, "  lesions   %d-connected components over %g mm^3, MSSEG rule alpha %g beta %g gamma %g\n",
            o->connectivity, o->min_volume_mm3, o->alpha, o->beta, o->gamma);
    size_t count;
    const sa_lesion_metric_info *table = sa_lesion_metric_table(&count);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "  %-22s", table[i].name);
        print_value(out, lesion_metric_get(l, &table[i]), "", 24);
        fputc('\n', out);
    }
}

static void print_pair_block(FILE *out, const score_settings *s, const sa_scores *sc) {
    const sa_pair_metrics *m = &sc->pair;
    fprintf(out, "  voxels    TP %llu  FP %llu  FN %llu  TN %llu\n", (unsigned long long)m->tp,
            (unsigned long long)m->fp, (unsigned long long)m->fn, (unsigned long long)m->tn);
    fprintf(out, "  surface   reference %llu voxels, prediction %llu voxels (inner boundary, 6-connectivity)\n",
            (unsigned long long)m->ref_surface_voxels, (unsigned long long)m->pred_surface_voxels);
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t i = 0; i < count; i++) {
        fprintf(out, "  %-19s", table[i].name);
        print_value(out, sa_metric_get(m, &table[i]), table[i].unit, 24);
        fputs("  ", out);
        explain(out, table[i].name, m);
        fputc('\n', out);
    }
    if (sc->has_lesions) print_lesion_lines(out, &sc->lesions, s);
}

/* One row of the multi-rater table: a metric against the consensus, each rater
 * and their mean. A mean over fewer raters than all is marked "(k/K)" (the last
 * column, so a longer cell shifts nothing); returns 1 when it was. */
static int print_multi_row(FILE *out, const char *name, const sa_value *v, size_t n, int rater_width,
                           sa_value mean, unsigned defined, unsigned raters) {
    fprintf(out, "  %-23s", name);
    for (size_t i = 0; i < n; i++) print_value(out, v[i], "", i == 0 ? 12 : rater_width);
    int partial = !mean.reason && defined < raters;
    if (partial)
        fprintf(out, "%.6g (%u/%u)", mean.value, defined, raters);
    else
        print_value(out, mean, "", 12);
    fputc('\n', out);
    return partial;
}

static void print_multi_block(FILE *out, const score_settings *s, const sa_multi_result *mr) {
    const sa_consensus_result *c = &mr->consensus;
    size_t k = mr->raters;
    if (s->options.consensus.method == SA_CONSENSUS_STAPLE) {
        fprintf(out, "  consensus STAPLE over %s (%llu voxels): prior %.6g, %d iterations, %s\n",
                s->options.consensus.region == SA_STAPLE_IMAGE ? "the whole image" : "the raters' dilated union",
                (unsigned long long)c->region_voxels, c->prior, c->iterations,
                c->converged ? "converged" : "stopped at the iteration limit");
        fprintf(out, "  %-23s%-12s%-12s\n", "rater", "sensitivity", "specificity");
        for (size_t i = 0; i < k; i++)
            fprintf(out, "  %-23s%-12.6g%-12.6g\n", rater_id(s, i), c->sensitivity[i], c->specificity[i]);
    } else {
        fprintf(out, "  consensus majority: voxels marked by more than %zu of the %zu raters\n", k / 2, k);
    }
    /* the raters' columns as wide as their longest name (never cut: two names
     * may differ only at the end, "annotator_alice" and "annotator_alice#2") */
    int rater_width = 12;
    for (size_t i = 0; i < k; i++) {
        size_t len = strlen(rater_id(s, i)) + 1;
        if (len > (size_t)rater_width) rater_width = len > 200 ? 200 : (int)len;
    }
    fprintf(out, "\n  %-23s%-12s", "metric", "consensus");
    for (size_t i = 0; i < k; i++) fprintf(out, "%-*s", rater_width, rater_id(s, i));
    fprintf(out, "%-12s\n", "rater_mean");
    sa_value v[SA_MAX_RATERS + 1];
    size_t count;
    int partial = 0;
    const sa_scores_mean *mean = &mr->rater_mean;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t m = 0; m < count; m++) {
        v[0] = sa_metric_get(&mr->vs_consensus.pair, &table[m]);
        for (size_t i = 0; i < k; i++) v[1 + i] = sa_metric_get(&mr->vs_rater[i].pair, &table[m]);
        partial |= print_multi_row(out, table[m].name, v, k + 1, rater_width, mean->pair[m],
                                   mean->pair_defined[m], mean->raters);
    }
    if (mr->vs_consensus.has_lesions) {
        const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
        for (size_t m = 0; m < count; m++) {
            v[0] = lesion_metric_get(&mr->vs_consensus.lesions, &lt[m]);
            for (size_t i = 0; i < k; i++) v[1 + i] = lesion_metric_get(&mr->vs_rater[i].lesions, &lt[m]);
            partial |= print_multi_row(out, lt[m].name, v, k + 1, rater_width, mean->lesion[m], mean->lesion_defined[m],
                                       mean->raters);
        }
    }
    if (partial)
        fprintf(out, "  rater_mean (k/%u): the mean over the k of %u raters where the metric is defined\n",
                mean->raters, mean->raters);
    if (!mr->has_human_reference) return;
    static const char *const human_metrics[] = {"dice", "hd95", "assd", "nsd"};
    fprintf(out, "\n  human reference: each rater against the consensus of the others\n  %-23s", "rater");
    for (size_t m = 0; m < 4; m++) fprintf(out, "%-12s", human_metrics[m]);
    if (mr->human_reference[0].has_lesions) fprintf(out, "%-12s", "lesion_f1");
    fputc('\n', out);
    for (size_t i = 0; i < k; i++) {
        fprintf(out, "  %-23s", rater_id(s, i));
        for (size_t m = 0; m < 4; m++)
            print_value(out, sa_metric_get(&mr->human_reference[i].pair, sa_metric_find(human_metrics[m])), "", 12);
        if (mr->human_reference[i].has_lesions) print_value(out, mr->human_reference[i].lesions.lesion_f1, "", 12);
        fputc('\n', out);
    }
}

void print_case_report(FILE *out, const score_settings *s, const case_result *r) {
    const case_geometry *g = &r->geometry;
    if (s->n_raters >= 2) {
        fprintf(out, "raters      %zu:", s->n_raters);
        for (size_t i = 0; i < s->n_raters; i++) fprintf(out, " %s (%s)", rater_id(s, i), s->rater_paths[i]);
        fputc('\n', out);
    } else {
        fprintf(out, "reference   %s\n", r->ref_path);
    }
    fprintf(out, "prediction  %s\n", r->pred_path);
    fprintf(out, "grid        %zu x %zu x %zu voxels, spacing %g x %g x %g mm, %s\n", g->size[0], g->size[1],
            g->size[2], g->spacing[0], g->spacing[1], g->spacing[2], g->pixel_type);
    fprintf(out, "engine      %s, %d threads, %.3f s (metric definitions v%d)\n", r->gpu_used ? "gpu" : "cpu",
            r->threads_used, r->seconds, SA_METRIC_DEFINITION_VERSION);
    /* auto's reason for the CPU, in a build that could have used a GPU (asking
     * whether one is present would cost CUDA's initialisation, ~0.1 s) */
    if (r->device_note && sa_gpu_built()) fprintf(out, "            %s\n", r->device_note);
    if (r->n_blocks == 0) fprintf(out, "\nno label found in any mask: nothing to score\n");
    for (size_t b = 0; b < r->n_blocks; b++) {
        char lbuf[32];
        fprintf(out, "\nlabel %s\n", label_text(r->block_label[b], lbuf, sizeof lbuf));
        if (r->multi[b])
            print_multi_block(out, s, r->multi[b]);
        else
            print_pair_block(out, s, &r->scores[b]);
    }
}
