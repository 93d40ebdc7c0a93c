/*
 * aggregate.c: how one case's stored scores become the numbers a leaderboard
 * averages and ranks (shared/spec/metrics.md, "Aggregation over cases"), and the
 * per-metric statistics over cases (mean, median, sample std, bootstrap CI).
 *
 * The substitution table lives here and only here, so that the leaderboard, the
 * CSV export and the rank-stability analysis can never disagree on what a failed
 * case or a null is worth. docs/ranking.md states every rule.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "rank_internal.h"

/* The spec's aggregation classes by name; any other published metric is not
 * rankable (volumes, rve_percent, lesion counts). */
static const char *const ratio_metrics[] = {
    "dice", "jaccard", "nsd", "sensitivity", "ppv", "specificity", "pet_accuracy",
    "lesion_sensitivity", "lesion_ppv", "lesion_f1",
};
static const char *const distance_metrics[] = {
    "hd", "hd95", "hd95_pooled", "hd95_mean", "assd", "masd",
};

static int in_list(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0) return 1;
    return 0;
}

/* Index of `name` in sa_metric_table (and within sa_case_values.pair), or -1. */
static long pair_index(const char *name) {
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    size_t slots = sizeof(((sa_case_values *)0)->pair) / sizeof(sa_value);
    for (size_t i = 0; i < count && i < slots; i++)
        if (strcmp(table[i].name, name) == 0) return (long)i;
    return -1;
}

/* Index of `name` in sa_lesion_metric_table (and sa_case_values.lesion), or -1. */
static long lesion_index(const char *name) {
    size_t count;
    const sa_lesion_metric_info *table = sa_lesion_metric_table(&count);
    size_t slots = sizeof(((sa_case_values *)0)->lesion) / sizeof(sa_value);
    for (size_t i = 0; i < count && i < slots; i++)
        if (strcmp(table[i].name, name) == 0) return (long)i;
    return -1;
}

int sa_metric_agg_kind(const char *name) {
    if (!name || (pair_index(name) < 0 && lesion_index(name) < 0)) return -1;
    if (in_list(name, ratio_metrics, sizeof ratio_metrics / sizeof ratio_metrics[0]))
        return SA_AGG_RATIO;
    if (in_list(name, distance_metrics, sizeof distance_metrics / sizeof distance_metrics[0]))
        return SA_AGG_DISTANCE;
    return SA_AGG_NOT_RANKABLE;
}

int sa_metric_direction(const char *name) {
    switch (sa_metric_agg_kind(name)) {
    case SA_AGG_RATIO: return 1;
    case SA_AGG_DISTANCE: return 0;
    default: return -1; /* not rankable (abs_volume_diff_ml included) or unknown */
    }
}

/* A ratio metric's value after substitution. v is the stored value, none_either_side
 * says whether a null stands for "nothing on either side" (worth 1). */
static double ratio_value(const sa_case_values *cv, sa_value v, int none_either_side) {
    if (cv->failed) return 0.0;
    if (!v.reason) return v.value;
    return none_either_side ? 1.0 : 0.0;
}

/* A lesion count of the case, when it is defined. */
static int lesion_count(const sa_case_values *cv, const char *name, double *count) {
    long i = lesion_index(name);
    if (i < 0 || cv->lesion[i].reason) return 0;
    *count = cv->lesion[i].value;
    return 1;
}

int sa_aggregate_value(const sa_case_values *cv, const char *metric, double distance_cap_mm,
                       double *out) {
    if (!cv || !metric || !out) return -1;
    int kind = sa_metric_agg_kind(metric);
    if (kind < 0) return -1;

    long li = lesion_index(metric);
    if (li >= 0) {
        if (kind == SA_AGG_RATIO) {
            if (cv->failed) {
                *out = 0.0;
                return 1;
            }
            if (!cv->has_lesions) return 0; /* lesions were not computed: left out */
            double n_ref, n_pred;
            int none_either_side = lesion_count(cv, "lesions_ref", &n_ref) &&
                                   lesion_count(cv, "lesions_pred", &n_pred) &&
                                   n_ref == 0.0 && n_pred == 0.0;
            *out = ratio_value(cv, cv->lesion[li], none_either_side);
            return 1;
        }
        /* a lesion count: not rankable, mean over the cases where it is defined */
        if (cv->failed || !cv->has_lesions || cv->lesion[li].reason) return 0;
        *out = cv->lesion[li].value;
        return 1;
    }

    long pi = pair_index(metric);
    if (kind == SA_AGG_RATIO) {
        if (strcmp(metric, "pet_accuracy") == 0) {
            /* computed after substitution, never read from the stored value */
            double se = ratio_value(cv, cv->pair[pair_index("sensitivity")], cv->both_empty);
            double ppv = ratio_value(cv, cv->pair[pair_index("ppv")], cv->both_empty);
            *out = (se + ppv) / 2.0;
            return 1;
        }
        *out = ratio_value(cv, cv->pair[pi], cv->both_empty);
        return 1;
    }
    if (kind == SA_AGG_DISTANCE) {
        if (cv->failed || cv->pair[pi].reason) {
            double cap = distance_cap_mm > 0 ? distance_cap_mm : cv->fov_diagonal_mm;
            if (!(cap > 0 && isfinite(cap))) return 0; /* no cap known: no value, never 0 mm */
            *out = cap;
        } else if (distance_cap_mm > 0 && cv->pair[pi].value > distance_cap_mm)
            *out = distance_cap_mm; /* clamped: a failed case never beats a scored one */
        else
            *out = cv->pair[pi].value;
        return 1;
    }
    if (cv->failed || cv->pair[pi].reason) return 0;
    *out = cv->pair[pi].value;
    return 1;
}

int sa_metric_stats_compute(const double *values, size_t n, size_t resamples, uint64_t seed,
                            sa_metric_stats *out, sa_error *err) {
    if (!out) return sa_error_set(err, "metric statistics: no output");
    memset(out, 0, sizeof *out);
    if (n == 0) return 0;
    if (!values) return sa_error_set(err, "metric statistics: no values");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(values[i]))
            return sa_error_set(err, "metric statistics: value %zu is not a finite number", i);

    /* exact sums rounded once (fsum.c): the same bits whatever the order of the
     * cases, and the mean shown is the mean the ranking compares */
    double mean = sa_fsum_mean(values, n);
    sa_fsum ss;
    sa_fsum_init(&ss);
    for (size_t i = 0; i < n; i++) sa_fsum_add(&ss, (values[i] - mean) * (values[i] - mean));
    double std = n >= 2 ? sqrt(sa_fsum_result(&ss) / (double)(n - 1)) : 0.0;

    double *copy = malloc(n * sizeof *copy);
    if (!copy) return sa_error_set(err, "metric statistics: out of memory (%zu values)", n);
    memcpy(copy, values, n * sizeof *copy);
    double median = sa_percentile(copy, n, 50.0);
    free(copy);

    double ci_lo = mean, ci_hi = mean;
    if (n >= 2 && resamples > 0) {
        if (resamples > SIZE_MAX / sizeof(double))
            return sa_error_set(err, "metric statistics: too many resamples (%zu)", resamples);
        double *means = malloc(resamples * sizeof *means);
        if (!means)
            return sa_error_set(err, "metric statistics: out of memory (%zu resamples)",
                                resamples);
        uint64_t state = seed;
        for (size_t r = 0; r < resamples; r++) {
            sa_fsum s;
            sa_fsum_init(&s);
            for (size_t i = 0; i < n; i++) sa_fsum_add(&s, values[sa_rng_index(&state, n)]);
            means[r] = sa_fsum_result(&s) / (double)n;
        }
        ci_lo = sa_percentile(means, resamples, 2.5);
        ci_hi = sa_percentile(means, resamples, 97.5);
        free(means);
    }

    out->n = n;
    out->mean = mean;
    out->median = median;
    out->std = std;
    out->ci_lo = ci_lo;
    out->ci_hi = ci_hi;
    return 0;
}
