/*
 * multi_rater.c: a prediction against several raters, as the spec's "Several
 * raters per case" asks: against their consensus (the ranked scores), against
 * each rater, the mean over raters, and the human reference (each rater against
 * the consensus of the others). Lesion sets are found once per mask and reused
 * by every comparison that involves that mask.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

void sa_multi_options_default(sa_multi_options *opt) {
    memset(opt, 0, sizeof *opt);
    sa_score_options_default(&opt->score);
    sa_consensus_options_default(&opt->consensus);
    sa_lesion_options_default(&opt->lesion);
}

void sa_multi_result_free(sa_multi_result *r) {
    if (r) sa_consensus_free(&r->consensus);
}

static void mean_of_values(const sa_value *v, size_t n, sa_value *mean, unsigned *defined) {
    double sum = 0;
    unsigned count = 0;
    const char *reason = NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].reason) {
            if (!reason) reason = v[i].reason;
            continue;
        }
        sum += v[i].value;
        count++;
    }
    *defined = count;
    *mean = count ? (sa_value){sum / count, NULL} : (sa_value){0.0, reason};
}

void sa_scores_mean_of(const sa_scores *each, size_t n, sa_scores_mean *out) {
    memset(out, 0, sizeof *out);
    out->raters = (unsigned)n;
    sa_value values[SA_MAX_RATERS];
    if (n > SA_MAX_RATERS) n = SA_MAX_RATERS;
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t m = 0; m < count && m < 24; m++) {
        for (size_t i = 0; i < n; i++) values[i] = sa_metric_get(&each[i].pair, &table[m]);
        mean_of_values(values, n, &out->pair[m], &out->pair_defined[m]);
    }
    out->has_lesions = n > 0 && each[0].has_lesions;
    if (!out->has_lesions) return;
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
    for (size_t m = 0; m < count && m < 12; m++) {
        for (size_t i = 0; i < n; i++) {
            const char *field = (const char *)&each[i].lesions + lt[m].offset;
            if (lt[m].is_count) {
                uint64_t c;
                memcpy(&c, field, sizeof c);
                values[i] = (sa_value){(double)c, NULL};
            } else {
                memcpy(&values[i], field, sizeof values[i]);
            }
        }
        mean_of_values(values, n, &out->lesion[m], &out->lesion_defined[m]);
    }
}

/* One comparison; ref_lesions and pred_lesions are NULL without lesions. */
static int compare(const uint8_t *ref, const uint8_t *pred, const sa_lesions *ref_lesions,
                   const sa_lesions *pred_lesions, const sa_grid *g, const sa_multi_options *opt,
                   sa_scores *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (sa_score_pair(ref, pred, g, &opt->score, &out->pair, err)) return -1;
    if (ref_lesions && pred_lesions) {
        if (sa_lesions_match(ref_lesions, pred_lesions, &opt->lesion, &out->lesions, err)) return -1;
        out->has_lesions = 1;
    }
    return 0;
}

/* Each rater against the consensus of the other k - 1. */
static int human_reference(const uint8_t *const *raters, size_t k, const sa_grid *g,
                           sa_lesions *const *rater_lesions, const sa_multi_options *opt,
                           sa_multi_result *out, sa_error *err) {
    const uint8_t *others[SA_MAX_RATERS];
    for (size_t left_out = 0; left_out < k; left_out++) {
        size_t n = 0;
        for (size_t i = 0; i < k; i++)
            if (i != left_out) others[n++] = raters[i];
        sa_consensus_result c;
        if (sa_consensus(others, n, g, &opt->consensus, &c, err)) return -1;
        sa_lesions *cl = NULL;
        int rc = opt->lesions ? sa_lesions_find(c.mask, g, &opt->lesion, &cl, err) : 0;
        if (rc == 0)
            rc = compare(c.mask, raters[left_out], cl, opt->lesions ? rater_lesions[left_out] : NULL, g, opt,
                         &out->human_reference[left_out], err);
        sa_lesions_free(cl);
        sa_consensus_free(&c);
        if (rc) return -1;
    }
    out->has_human_reference = 1;
    return 0;
}

int sa_score_multi(const uint8_t *pred, const uint8_t *const *raters, size_t k, const sa_grid *g,
                   const sa_multi_options *opt_in, sa_multi_result *out, sa_error *err) {
    sa_multi_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        sa_multi_options_default(&opt);
    memset(out, 0, sizeof *out);
    if (!pred || !raters) return sa_error_set(err, "no mask given");
    if (k < 1 || k > SA_MAX_RATERS) return sa_error_set(err, "%zu raters: between 1 and %d are supported", k, SA_MAX_RATERS);
    if (opt.human_reference && k < 2) return sa_error_set(err, "the human reference needs at least 2 raters");
    out->raters = k;

    sa_lesions *pred_lesions = NULL, *consensus_lesions = NULL, *rater_lesions[SA_MAX_RATERS] = {0};
    int rc = -1;
    if (sa_consensus(raters, k, g, &opt.consensus, &out->consensus, err)) goto done;
    if (opt.lesions) {
        if (sa_lesions_find(pred, g, &opt.lesion, &pred_lesions, err) ||
            sa_lesions_find(out->consensus.mask, g, &opt.lesion, &consensus_lesions, err))
            goto done;
        for (size_t i = 0; i < k; i++)
            if (sa_lesions_find(raters[i], g, &opt.lesion, &rater_lesions[i], err)) goto done;
    }
    if (compare(out->consensus.mask, pred, consensus_lesions, pred_lesions, g, &opt, &out->vs_consensus, err))
        goto done;
    for (size_t i = 0; i < k; i++)
        if (compare(raters[i], pred, rater_lesions[i], pred_lesions, g, &opt, &out->vs_rater[i], err)) goto done;
    sa_scores_mean_of(out->vs_rater, k, &out->rater_mean);
    if (opt.human_reference && human_reference(raters, k, g, rater_lesions, &opt, out, err)) goto done;
    rc = 0;
done:
    sa_lesions_free(pred_lesions);
    sa_lesions_free(consensus_lesions);
    for (size_t i = 0; i < k && i < SA_MAX_RATERS; i++) sa_lesions_free(rater_lesions[i]);
    if (rc) sa_multi_result_free(out);
    return rc;
}
