/*
 * rank_internal.h: what ranking.c shares with bootstrap.c and aggregate.c and
 * nothing else needs. A bootstrap re-ranks the same cases a thousand times; for
 * the rank_then_aggregate rule the per-case ranks do not depend on the resample,
 * so bootstrap.c computes them once and hands them to the ranking core. Means
 * are exact sums rounded once (fsum.c), so they depend on the values only,
 * not on the order of the cases.
 */
#ifndef SEGARENA_RANK_INTERNAL_H
#define SEGARENA_RANK_INTERNAL_H

#include <stddef.h>

#include "evaluator.h"

/* 0 when the table can be ranked (non-empty, values present, no NaN, every
 * direction 0 or 1, sizes that fit in memory), else -1 with err set. */
int sa_rank_table_check(const sa_rank_table *t, sa_error *err);

/* Per case and metric, the competition ranks of the entries on that case's
 * value: (*out)[(c * n_metrics + m) * n_entries + e]. *out malloc'ed. The table
 * must have passed sa_rank_table_check. */
int sa_rank_case_ranks(const sa_rank_table *t, int **out, sa_error *err);

/* sa_rank_entries on a checked table; case_ranks (may be NULL) from
 * sa_rank_case_ranks, used by rank_then_aggregate instead of ranking each case
 * again. */
int sa_rank_entries_checked(const sa_rank_table *t, sa_rank_rule rule, const size_t *cases,
                            size_t n_cases_used, const int *case_ranks, double *key_out,
                            int *rank_out, sa_error *err);

/* The exact sum of doubles, rounded once to the nearest (ties to even): the
 * same bits whatever the order of the additions (fsum.c). With an infinite or
 * NaN value the plain sum (inf, -inf or NaN); NaN when a running total leaves the
 * double range. About 17 KB: a local variable, not an array element. */
#define SA_FSUM_PARTIALS 2100
typedef struct sa_fsum {
    double p[SA_FSUM_PARTIALS]; /* non-overlapping partials, increasing magnitude */
    int n;
    int nonfinite; /* an infinite or NaN value was added */
    int overflow;  /* a finite running total left the double range */
    double plain;
} sa_fsum;
void sa_fsum_init(sa_fsum *s);
void sa_fsum_add(sa_fsum *s, double x);
double sa_fsum_result(const sa_fsum *s);
/* sa_fsum_result of the n values, divided by n (0 when n = 0). */
double sa_fsum_mean(const double *values, size_t n);

#endif
