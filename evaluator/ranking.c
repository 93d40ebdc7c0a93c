/*
 * ranking.c: the leaderboard's ranking rules (shared/spec/metrics.md,
 * "Aggregation over cases"): competition ranks with shared ranks on ties
 * ("1, 2, 2, 4"), the rules score, mean_rank and rank_then_aggregate over a list
 * of cases (a bootstrap resample may repeat cases), and Kendall's tau-b between
 * two rankings. Pure functions on numbers already substituted by aggregate.c;
 * a mean over cases is the exact sum rounded once (fsum.c), so it depends on the
 * values only, not on the order of the cases (two teams with the same values in
 * another order tie), and rank sums are exact integers. docs/ranking.md states
 * the rules.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "rank_internal.h"

/* 1 when key a is strictly better than key b. NaN (never produced by
 * aggregation) is worse than any number and ties with NaN, so that ranks stay
 * well defined whatever a caller passes. */
static int strictly_better(double a, double b, int higher_is_better) {
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return higher_is_better ? a > b : a < b;
}

void sa_competition_ranks(const double *keys, size_t n, int higher_is_better, int *ranks) {
    for (size_t i = 0; i < n; i++) {
        int rank = 1;
        for (size_t j = 0; j < n; j++)
            if (strictly_better(keys[j], keys[i], higher_is_better)) rank++;
        ranks[i] = rank;
    }
}

static double table_value(const sa_rank_table *t, size_t e, size_t m, size_t c) {
    return t->values[(e * t->n_metrics + m) * t->n_cases + c];
}

int sa_rank_table_check(const sa_rank_table *t, sa_error *err) {
    if (!t) return sa_error_set(err, "ranking: no table");
    if (t->n_entries == 0 || t->n_metrics == 0 || t->n_cases == 0)
        return sa_error_set(err, "ranking: empty table (%zu entries, %zu metrics, %zu cases)",
                            t->n_entries, t->n_metrics, t->n_cases);
    if (!t->values || !t->higher_is_better) return sa_error_set(err, "ranking: table without values");
    if (t->n_entries > (size_t)INT32_MAX)
        return sa_error_set(err, "ranking: too many entries (%zu)", t->n_entries);
    size_t cells = t->n_entries;
    if (cells > SIZE_MAX / t->n_metrics) return sa_error_set(err, "ranking: table too large");
    cells *= t->n_metrics;
    if (cells > SIZE_MAX / t->n_cases / sizeof(double) / 2)
        return sa_error_set(err, "ranking: table too large");
    for (size_t m = 0; m < t->n_metrics; m++)
        if (t->higher_is_better[m] != 0 && t->higher_is_better[m] != 1)
            return sa_error_set(err, "ranking: metric %zu has direction %d (must be 1 or 0)", m,
                                t->higher_is_better[m]);
    for (size_t e = 0; e < t->n_entries; e++)
        for (size_t m = 0; m < t->n_metrics; m++)
            for (size_t c = 0; c < t->n_cases; c++)
                if (isnan(table_value(t, e, m, c)))
                    return sa_error_set(err, "ranking: entry %zu, metric %zu, case %zu is NaN", e,
                                        m, c);
    return 0;
}

int sa_rank_case_ranks(const sa_rank_table *t, int **out, sa_error *err) {
    size_t E = t->n_entries, M = t->n_metrics, C = t->n_cases;
    int *ranks = malloc(C * M * E * sizeof *ranks);
    double *column = malloc(E * sizeof *column);
    if (!ranks || !column) {
        free(ranks);
        free(column);
        return sa_error_set(err, "ranking: out of memory (%zu cases)", C);
    }
    for (size_t c = 0; c < C; c++)
        for (size_t m = 0; m < M; m++) {
            for (size_t e = 0; e < E; e++) column[e] = table_value(t, e, m, c);
            sa_competition_ranks(column, E, t->higher_is_better[m], ranks + (c * M + m) * E);
        }
    free(column);
    *out = ranks;
    return 0;
}

int sa_rank_entries_checked(const sa_rank_table *t, sa_rank_rule rule, const size_t *cases,
                            size_t n_cases_used, const int *case_ranks, double *key_out,
                            int *rank_out, sa_error *err) {
    size_t E = t->n_entries, M = t->n_metrics;
    size_t n = cases ? n_cases_used : t->n_cases;
    if (!rank_out) return sa_error_set(err, "ranking: no output");
    if (n == 0) return sa_error_set(err, "ranking: no cases to rank on");
    if (cases)
        for (size_t k = 0; k < n; k++)
            if (cases[k] >= t->n_cases)
                return sa_error_set(err, "ranking: case index %zu out of range (%zu cases)",
                                    cases[k], t->n_cases);
    if (rule == SA_RANK_SCORE && M != 1)
        return sa_error_set(err, "ranking: rule \"score\" ranks on exactly one metric, not %zu", M);
    if (rule != SA_RANK_SCORE && rule != SA_RANK_MEAN_RANK && rule != SA_RANK_THEN_AGGREGATE)
        return sa_error_set(err, "ranking: unknown rule %d", (int)rule);

    double *keys = malloc(E * sizeof *keys);
    double *column = malloc(E * sizeof *column); /* one value per entry */
    double *sums = calloc(E, sizeof *sums);      /* rank sums (integers, exact) */
    int *column_ranks = malloc(E * sizeof *column_ranks);
    if (!keys || !column || !sums || !column_ranks) {
        free(keys);
        free(column);
        free(sums);
        free(column_ranks);
        return sa_error_set(err, "ranking: out of memory (%zu entries)", E);
    }

    int key_higher_is_better = 0; /* mean ranks: lower is better */
    if (rule == SA_RANK_SCORE) {
        for (size_t e = 0; e < E; e++) {
            sa_fsum s;
            sa_fsum_init(&s);
            for (size_t k = 0; k < n; k++) sa_fsum_add(&s, table_value(t, e, 0, cases ? cases[k] : k));
            keys[e] = sa_fsum_result(&s) / (double)n;
        }
        key_higher_is_better = t->higher_is_better[0];
    } else if (rule == SA_RANK_MEAN_RANK) {
        for (size_t m = 0; m < M; m++) {
            for (size_t e = 0; e < E; e++) {
                sa_fsum s;
                sa_fsum_init(&s);
                for (size_t k = 0; k < n; k++)
                    sa_fsum_add(&s, table_value(t, e, m, cases ? cases[k] : k));
                column[e] = sa_fsum_result(&s) / (double)n;
            }
            sa_competition_ranks(column, E, t->higher_is_better[m], column_ranks);
            for (size_t e = 0; e < E; e++) sums[e] += (double)column_ranks[e];
        }
        for (size_t e = 0; e < E; e++) keys[e] = sums[e] / (double)M;
    } else {
        for (size_t k = 0; k < n; k++) {
            size_t c = cases ? cases[k] : k;
            for (size_t m = 0; m < M; m++) {
                const int *r = column_ranks;
                if (case_ranks) {
                    r = case_ranks + (c * M + m) * E;
                } else {
                    for (size_t e = 0; e < E; e++) column[e] = table_value(t, e, m, c);
                    sa_competition_ranks(column, E, t->higher_is_better[m], column_ranks);
                }
                for (size_t e = 0; e < E; e++) sums[e] += (double)r[e];
            }
        }
        double count = (double)n * (double)M;
        for (size_t e = 0; e < E; e++) keys[e] = sums[e] / count;
    }

    sa_competition_ranks(keys, E, key_higher_is_better, rank_out);
    if (key_out) memcpy(key_out, keys, E * sizeof *keys);
    free(keys);
    free(column);
    free(sums);
    free(column_ranks);
    return 0;
}

int sa_rank_entries(const sa_rank_table *t, sa_rank_rule rule, const size_t *cases,
                    size_t n_cases_used, double *key_out, int *rank_out, sa_error *err) {
    if (sa_rank_table_check(t, err) != 0) return -1;
    return sa_rank_entries_checked(t, rule, cases, n_cases_used, NULL, key_out, rank_out, err);
}

double sa_kendall_tau_b(const int *a, const int *b, size_t n, int *defined) {
    if (defined) *defined = 0;
    if (!a || !b || n < 2) return 0.0;
    /* counts of pairs i < j, exact in 64-bit integers */
    uint64_t concordant = 0, discordant = 0, tied_a = 0, tied_b = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            int da = (a[i] > a[j]) - (a[i] < a[j]);
            int db = (b[i] > b[j]) - (b[i] < b[j]);
            if (da == 0) tied_a++;
            if (db == 0) tied_b++;
            if (da * db > 0)
                concordant++;
            else if (da * db < 0)
                discordant++;
        }
    uint64_t pairs = (uint64_t)n * (uint64_t)(n - 1) / 2;
    if (tied_a == pairs || tied_b == pairs) return 0.0;
    double denominator = sqrt((double)(pairs - tied_a) * (double)(pairs - tied_b));
    if (defined) *defined = 1;
    return ((double)concordant - (double)discordant) / denominator;
}
