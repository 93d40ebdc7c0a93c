/*
 * bootstrap.c: the evaluator's random numbers and rank stability
 * (shared/spec/metrics.md, "Rank stability"). The generator is splitmix64 with a
 * fixed index mapping, so that a phase's seed gives the same resamples on every
 * machine and a test can redo the whole computation independently. Resample r
 * uses draws r*n_cases .. r*n_cases+n_cases-1 of one stream; each resample is
 * ranked with the phase's rule and compared with the full ranking (Kendall's
 * tau-b); the same resamples also give how often each entry got each rank (the
 * web layer's rank-stability plot). docs/ranking.md states every convention.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "rank_internal.h"

uint64_t sa_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

size_t sa_rng_index(uint64_t *state, size_t n) {
    __extension__ typedef unsigned __int128 u128;
    uint64_t draw = sa_rng_next(state);
    return (size_t)(((u128)draw * (u128)n) >> 64);
}

/* The ranks of every resample: resampled[r * n_entries + e] (malloc'ed), resample r
 * drawn as draws r*n_cases .. r*n_cases+n_cases-1 of one stream seeded with seed.
 * The one place resamples are drawn, so that sa_rank_bootstrap and
 * sa_rank_bootstrap_counts describe the same resamples. */
static int resampled_ranks(const sa_rank_table *t, sa_rank_rule rule, size_t resamples,
                           uint64_t seed, int **out, sa_error *err) {
    *out = NULL;
    if (resamples == 0) return sa_error_set(err, "rank bootstrap: 0 resamples");
    if (sa_rank_table_check(t, err) != 0) return -1;
    size_t E = t->n_entries, C = t->n_cases;
    if (resamples > SIZE_MAX / sizeof(double) / E)
        return sa_error_set(err, "rank bootstrap: too many resamples (%zu)", resamples);

    int *resampled = malloc(resamples * E * sizeof *resampled);
    size_t *draws = malloc(C * sizeof *draws);
    int *case_ranks = NULL;
    int rc = -1;
    if (!resampled || !draws) {
        sa_error_set(err, "rank bootstrap: out of memory (%zu resamples)", resamples);
        goto done;
    }
    if (rule == SA_RANK_THEN_AGGREGATE && sa_rank_case_ranks(t, &case_ranks, err) != 0) goto done;
    uint64_t state = seed;
    for (size_t r = 0; r < resamples; r++) {
        for (size_t k = 0; k < C; k++) draws[k] = sa_rng_index(&state, C);
        if (sa_rank_entries_checked(t, rule, draws, C, case_ranks, NULL, resampled + r * E, err) != 0)
            goto done;
    }
    *out = resampled;
    resampled = NULL;
    rc = 0;
done:
    free(resampled);
    free(draws);
    free(case_ranks);
    return rc;
}

int sa_rank_bootstrap(const sa_rank_table *t, sa_rank_rule rule, size_t resamples,
                      uint64_t seed, sa_rank_stability *per_entry, sa_bootstrap_summary *summary,
                      sa_error *err) {
    if (!per_entry || !summary) return sa_error_set(err, "rank bootstrap: no output");
    int *resampled; /* [r * E + e] */
    if (resampled_ranks(t, rule, resamples, seed, &resampled, err) != 0) return -1;
    size_t E = t->n_entries;

    int *full = malloc(E * sizeof *full);
    double *taus = malloc(resamples * sizeof *taus);
    double *column = malloc(resamples * sizeof *column);
    int rc = -1;
    if (!full || !taus || !column) {
        sa_error_set(err, "rank bootstrap: out of memory (%zu resamples)", resamples);
        goto done;
    }
    if (sa_rank_entries_checked(t, rule, NULL, 0, NULL, NULL, full, err) != 0) goto done;

    size_t n_taus = 0;
    for (size_t r = 0; r < resamples; r++) {
        int defined;
        double tau = sa_kendall_tau_b(full, resampled + r * E, E, &defined);
        if (defined) taus[n_taus++] = tau;
    }

    for (size_t e = 0; e < E; e++) {
        for (size_t r = 0; r < resamples; r++) column[r] = (double)resampled[r * E + e];
        per_entry[e].median_rank = sa_percentile(column, resamples, 50.0);
        per_entry[e].rank_lo = sa_percentile(column, resamples, 2.5);
        per_entry[e].rank_hi = sa_percentile(column, resamples, 97.5);
    }

    memset(summary, 0, sizeof *summary);
    summary->resamples = resamples;
    summary->tau_defined = n_taus;
    if (n_taus > 0) {
        summary->tau_mean = sa_fsum_mean(taus, n_taus);
        summary->tau_lo = sa_percentile(taus, n_taus, 2.5);
        summary->tau_hi = sa_percentile(taus, n_taus, 97.5);
    }
    rc = 0;
done:
    free(full);
    free(resampled);
    free(taus);
    free(column);
    return rc;
}

int sa_rank_bootstrap_counts(const sa_rank_table *t, sa_rank_rule rule, size_t resamples,
                             uint64_t seed, unsigned *counts, sa_error *err) {
    if (!counts) return sa_error_set(err, "rank bootstrap counts: no output");
    int *resampled; /* [r * E + e] */
    if (resampled_ranks(t, rule, resamples, seed, &resampled, err) != 0) return -1;
    size_t E = t->n_entries;
    memset(counts, 0, E * E * sizeof *counts);
    for (size_t r = 0; r < resamples; r++)
        for (size_t e = 0; e < E; e++) counts[e * E + (size_t)(resampled[r * E + e] - 1)]++;
    free(resampled);
    return 0;
}
