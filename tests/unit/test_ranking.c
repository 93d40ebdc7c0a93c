/* test_ranking.c: the leaderboard's numbers (evaluator/aggregate.c, ranking.c,
 * bootstrap.c) against hand computations written out in the comments, and the
 * bootstrap statistics against a brute-force reimplementation kept inside this
 * file (its own splitmix64, ranking loops, sort-based percentile and pairwise
 * Kendall tau-b, and means summed in 113-bit __float128, exact for the values
 * used, then rounded once), so that the library's code is never its own
 * reference. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "rank_internal.h"
#include "test.h"

/* ======================= helpers for case values ======================= */

static long pair_slot(const char *name) {
    size_t n;
    const sa_metric_info *t = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return (long)i;
    return -1;
}

static long lesion_slot(const char *name) {
    size_t n;
    const sa_lesion_metric_info *t = sa_lesion_metric_table(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return (long)i;
    return -1;
}

/* A scored case with every value defined and 0, the given FOV diagonal. */
static void scored_case(sa_case_values *cv, double fov) {
    memset(cv, 0, sizeof *cv);
    cv->fov_diagonal_mm = fov;
}

/* A failed case as the worker stores it: failed, every value undefined. Built
 * here rather than with sa_case_values_failed so that this test needs only the
 * aggregation code. */
static void failed_case(sa_case_values *cv, double fov) {
    memset(cv, 0, sizeof *cv);
    cv->failed = 1;
    cv->fov_diagonal_mm = fov;
    for (size_t i = 0; i < 24; i++) cv->pair[i].reason = "failed";
    for (size_t i = 0; i < 12; i++) cv->lesion[i].reason = "failed";
}

static void set_pair(sa_case_values *cv, const char *name, double v) {
    long i = pair_slot(name);
    CHECK(i >= 0);
    if (i < 0) return;
    cv->pair[i].value = v;
    cv->pair[i].reason = NULL;
}

static void null_pair(sa_case_values *cv, const char *name, const char *reason) {
    long i = pair_slot(name);
    CHECK(i >= 0);
    if (i < 0) return;
    cv->pair[i].value = 0;
    cv->pair[i].reason = reason;
}

static void set_lesion(sa_case_values *cv, const char *name, double v) {
    long i = lesion_slot(name);
    CHECK(i >= 0);
    if (i < 0) return;
    cv->lesion[i].value = v;
    cv->lesion[i].reason = NULL;
}

static void null_lesion(sa_case_values *cv, const char *name, const char *reason) {
    long i = lesion_slot(name);
    CHECK(i >= 0);
    if (i < 0) return;
    cv->lesion[i].value = 0;
    cv->lesion[i].reason = reason;
}

/* sa_aggregate_value's return code, and the value through *out (NAN when left out). */
static int agg(const sa_case_values *cv, const char *metric, double cap, double *out) {
    *out = NAN;
    return sa_aggregate_value(cv, metric, cap, out);
}

/* ============================== classes ============================== */

static void test_classes(void) {
    static const char *ratio[] = {"dice", "jaccard", "nsd", "sensitivity", "ppv", "specificity",
                                  "pet_accuracy", "lesion_sensitivity", "lesion_ppv", "lesion_f1"};
    static const char *distance[] = {"hd", "hd95", "hd95_pooled", "hd95_mean", "assd", "masd"};
    static const char *not_rankable[] = {
        "volume_ref_ml", "volume_pred_ml", "abs_volume_diff_ml", "rve_percent", "lesions_ref",
        "lesions_pred", "lesions_ref_detected", "lesions_pred_detected", "lesions_fn", "lesions_fp"};
    for (size_t i = 0; i < sizeof ratio / sizeof *ratio; i++) {
        CHECK(sa_metric_agg_kind(ratio[i]) == SA_AGG_RATIO);
        CHECK(sa_metric_direction(ratio[i]) == 1);
    }
    for (size_t i = 0; i < sizeof distance / sizeof *distance; i++) {
        CHECK(sa_metric_agg_kind(distance[i]) == SA_AGG_DISTANCE);
        CHECK(sa_metric_direction(distance[i]) == 0);
    }
    for (size_t i = 0; i < sizeof not_rankable / sizeof *not_rankable; i++) {
        CHECK(sa_metric_agg_kind(not_rankable[i]) == SA_AGG_NOT_RANKABLE);
        CHECK(sa_metric_direction(not_rankable[i]) == -1);
    }
    CHECK(sa_metric_agg_kind("bogus") == -1);
    CHECK(sa_metric_direction("bogus") == -1);
    CHECK(sa_metric_agg_kind("") == -1);
    CHECK(sa_metric_agg_kind(NULL) == -1);
    CHECK(sa_metric_agg_kind("Dice") == -1); /* names are exact */

    /* every published name has a class, and ratio/distance directions agree
     * with the engine's table (abs_volume_diff_ml, "lower is better" there, is
     * a volume: not rankable by the spec) */
    size_t n;
    const sa_metric_info *t = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++) {
        int kind = sa_metric_agg_kind(t[i].name);
        CHECK(kind >= 0);
        if (kind != SA_AGG_NOT_RANKABLE) CHECK(sa_metric_direction(t[i].name) == t[i].higher_is_better);
    }
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&n);
    for (size_t i = 0; i < n; i++)
        CHECK(sa_metric_agg_kind(lt[i].name) ==
              (lt[i].is_count ? SA_AGG_NOT_RANKABLE : SA_AGG_RATIO));
}

/* =========================== substitutions =========================== */

static void test_defined_values(void) {
    sa_case_values cv;
    double v;
    scored_case(&cv, 200);
    set_pair(&cv, "dice", 0.8);
    set_pair(&cv, "nsd", 0.625);
    set_pair(&cv, "specificity", 0.999);
    set_pair(&cv, "hd95", 12.5);
    set_pair(&cv, "masd", 1.25);
    set_pair(&cv, "volume_ref_ml", 3.2);
    set_pair(&cv, "rve_percent", -12.5);
    CHECK(agg(&cv, "dice", 50, &v) == 1 && v == 0.8);
    CHECK(agg(&cv, "nsd", 50, &v) == 1 && v == 0.625);
    CHECK(agg(&cv, "specificity", 0, &v) == 1 && v == 0.999);
    CHECK(agg(&cv, "hd95", 50, &v) == 1 && v == 12.5);
    CHECK(agg(&cv, "masd", 0, &v) == 1 && v == 1.25);
    CHECK(agg(&cv, "volume_ref_ml", 0, &v) == 1 && v == 3.2);
    CHECK(agg(&cv, "rve_percent", 0, &v) == 1 && v == -12.5);
    /* a defined distance above an explicit cap counts as the cap, as a failed
     * case does: failing never scores better than an honest poor mask; the
     * default cap (the diagonal) clamps nothing */
    set_pair(&cv, "hd", 300);
    CHECK(agg(&cv, "hd", 50, &v) == 1 && v == 50);
    CHECK(agg(&cv, "hd", 0, &v) == 1 && v == 300);
    CHECK(agg(&cv, "hd", 300, &v) == 1 && v == 300);
    CHECK(agg(&cv, "hd", 299.5, &v) == 1 && v == 299.5);
}

static void test_failed_case(void) {
    sa_case_values cv;
    double v;
    failed_case(&cv, 173.2);
    /* ratio metrics: 0 */
    static const char *ratio[] = {"dice", "jaccard", "nsd", "sensitivity", "ppv", "specificity",
                                  "pet_accuracy", "lesion_sensitivity", "lesion_ppv", "lesion_f1"};
    for (size_t i = 0; i < sizeof ratio / sizeof *ratio; i++)
        CHECK(agg(&cv, ratio[i], 0, &v) == 1 && v == 0.0);
    /* distances: the explicit cap, else the case's FOV diagonal */
    static const char *distance[] = {"hd", "hd95", "hd95_pooled", "hd95_mean", "assd", "masd"};
    for (size_t i = 0; i < sizeof distance / sizeof *distance; i++) {
        CHECK(agg(&cv, distance[i], 50, &v) == 1 && v == 50);
        CHECK(agg(&cv, distance[i], 0, &v) == 1 && v == 173.2);
        CHECK(agg(&cv, distance[i], -1, &v) == 1 && v == 173.2); /* <= 0: default */
    }
    /* no cap known (no explicit one, no diagonal): no value, never 0 mm (the best) */
    sa_case_values unknown;
    failed_case(&unknown, 0);
    for (size_t i = 0; i < sizeof distance / sizeof *distance; i++) {
        CHECK(agg(&unknown, distance[i], 0, &v) == 0);
        CHECK(agg(&unknown, distance[i], 50, &v) == 1 && v == 50);
    }
    CHECK(agg(&unknown, "dice", 0, &v) == 1 && v == 0);
    /* not rankable: left out */
    CHECK(agg(&cv, "volume_ref_ml", 0, &v) == 0);
    CHECK(agg(&cv, "rve_percent", 0, &v) == 0);
    CHECK(agg(&cv, "lesions_ref", 0, &v) == 0);
    CHECK(agg(&cv, "lesions_fp", 0, &v) == 0);

    /* failed wins over anything a failed record might still carry */
    cv.both_empty = 1;
    cv.has_lesions = 1;
    set_pair(&cv, "dice", 0.9);
    set_pair(&cv, "hd95", 3);
    set_pair(&cv, "volume_pred_ml", 2);
    set_lesion(&cv, "lesion_f1", 1);
    set_lesion(&cv, "lesions_ref", 0);
    set_lesion(&cv, "lesions_pred", 0);
    CHECK(agg(&cv, "dice", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "sensitivity", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "hd95", 0, &v) == 1 && v == 173.2);
    CHECK(agg(&cv, "volume_pred_ml", 0, &v) == 0);
    CHECK(agg(&cv, "lesion_f1", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "lesion_sensitivity", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "lesions_ref", 0, &v) == 0);
}

static void test_both_empty_case(void) {
    /* R and T empty: the engine gives dice 1, distances 0, sensitivity and PPV
     * null (zero denominators), rve null (V_R = 0). */
    sa_case_values cv;
    double v;
    scored_case(&cv, 100);
    cv.both_empty = 1;
    set_pair(&cv, "dice", 1);
    set_pair(&cv, "jaccard", 1);
    set_pair(&cv, "nsd", 1);
    set_pair(&cv, "specificity", 1);
    set_pair(&cv, "hd95", 0);
    null_pair(&cv, "sensitivity", SA_REASON_EMPTY_REFERENCE);
    null_pair(&cv, "ppv", SA_REASON_EMPTY_PREDICTION);
    null_pair(&cv, "pet_accuracy", SA_REASON_EMPTY_REFERENCE);
    null_pair(&cv, "rve_percent", SA_REASON_EMPTY_REFERENCE);
    CHECK(agg(&cv, "dice", 0, &v) == 1 && v == 1.0);
    CHECK(agg(&cv, "sensitivity", 0, &v) == 1 && v == 1.0); /* null, both empty: 1 */
    CHECK(agg(&cv, "ppv", 0, &v) == 1 && v == 1.0);
    CHECK(agg(&cv, "pet_accuracy", 0, &v) == 1 && v == 1.0); /* (1 + 1) / 2 */
    CHECK(agg(&cv, "hd95", 0, &v) == 1 && v == 0.0);        /* defined 0, not the cap */
    CHECK(agg(&cv, "rve_percent", 0, &v) == 0);             /* not rankable, undefined */
    CHECK(agg(&cv, "volume_ref_ml", 0, &v) == 1 && v == 0.0);
    /* a null ratio of a both-empty case is 1 whichever ratio it is */
    null_pair(&cv, "nsd", SA_REASON_EMPTY_REFERENCE);
    CHECK(agg(&cv, "nsd", 0, &v) == 1 && v == 1.0);
}

static void test_one_empty_case(void) {
    sa_case_values cv;
    double v;
    /* R non-empty, T empty: dice 0, sensitivity 0, PPV null, distances null */
    scored_case(&cv, 250);
    set_pair(&cv, "dice", 0);
    set_pair(&cv, "sensitivity", 0);
    null_pair(&cv, "ppv", SA_REASON_EMPTY_PREDICTION);
    null_pair(&cv, "pet_accuracy", SA_REASON_EMPTY_PREDICTION);
    null_pair(&cv, "nsd", SA_REASON_EMPTY_PREDICTION);
    null_pair(&cv, "hd", SA_REASON_EMPTY_PREDICTION);
    null_pair(&cv, "hd95", SA_REASON_EMPTY_PREDICTION);
    null_pair(&cv, "assd", SA_REASON_EMPTY_PREDICTION);
    set_pair(&cv, "rve_percent", -100);
    CHECK(agg(&cv, "ppv", 0, &v) == 1 && v == 0.0);  /* null, not both empty: 0 */
    CHECK(agg(&cv, "nsd", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "pet_accuracy", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "hd", 0, &v) == 1 && v == 250);   /* null distance: FOV diagonal */
    CHECK(agg(&cv, "hd95", 80, &v) == 1 && v == 80); /* or the explicit cap */
    CHECK(agg(&cv, "assd", 0, &v) == 1 && v == 250);
    CHECK(agg(&cv, "rve_percent", 0, &v) == 1 && v == -100);
    /* R empty, T non-empty: sensitivity null -> 0, PPV 0, rve null -> left out */
    scored_case(&cv, 250);
    null_pair(&cv, "sensitivity", SA_REASON_EMPTY_REFERENCE);
    set_pair(&cv, "ppv", 0);
    null_pair(&cv, "rve_percent", SA_REASON_EMPTY_REFERENCE);
    CHECK(agg(&cv, "rve_percent", 0, &v) == 0);
    CHECK(agg(&cv, "sensitivity", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "ppv", 0, &v) == 1 && v == 0.0);
}

static void test_pet_accuracy(void) {
    sa_case_values cv;
    double v;
    /* recomputed from sensitivity and PPV, never read: the stored 0.1 is ignored */
    scored_case(&cv, 100);
    set_pair(&cv, "sensitivity", 0.5);
    set_pair(&cv, "ppv", 0.75);
    set_pair(&cv, "pet_accuracy", 0.1);
    CHECK(agg(&cv, "pet_accuracy", 0, &v) == 1 && v == 0.625); /* (0.5 + 0.75) / 2 */
    /* after substitution: PPV null (not both empty) -> 0, so (0.75 + 0) / 2 */
    null_pair(&cv, "ppv", SA_REASON_EMPTY_PREDICTION);
    set_pair(&cv, "sensitivity", 0.75);
    set_pair(&cv, "pet_accuracy", 0.99);
    CHECK(agg(&cv, "pet_accuracy", 0, &v) == 1 && v == 0.375);
    /* a stored null pet_accuracy with both parts defined: still computed */
    set_pair(&cv, "ppv", 0.25);
    null_pair(&cv, "pet_accuracy", SA_REASON_EMPTY_PREDICTION);
    CHECK(agg(&cv, "pet_accuracy", 0, &v) == 1 && v == 0.5); /* (0.75 + 0.25) / 2 */
}

static void test_lesions(void) {
    sa_case_values cv;
    double v;
    /* no lesion on either side (after the volume filter), although the masks
     * are not both empty (small specks removed): the lesion nulls are worth 1 */
    scored_case(&cv, 100);
    cv.has_lesions = 1;
    cv.both_empty = 0;
    set_lesion(&cv, "lesions_ref", 0);
    set_lesion(&cv, "lesions_pred", 0);
    null_lesion(&cv, "lesion_sensitivity", SA_REASON_NO_REFERENCE_LESIONS);
    null_lesion(&cv, "lesion_ppv", SA_REASON_NO_PREDICTED_LESIONS);
    set_lesion(&cv, "lesion_f1", 1);
    null_pair(&cv, "sensitivity", SA_REASON_EMPTY_REFERENCE);
    CHECK(agg(&cv, "lesion_sensitivity", 0, &v) == 1 && v == 1.0);
    CHECK(agg(&cv, "lesion_ppv", 0, &v) == 1 && v == 1.0);
    CHECK(agg(&cv, "lesion_f1", 0, &v) == 1 && v == 1.0);
    CHECK(agg(&cv, "lesions_ref", 0, &v) == 1 && v == 0.0); /* a count, defined */
    /* the voxel-level rule still follows both_empty */
    CHECK(agg(&cv, "sensitivity", 0, &v) == 1 && v == 0.0);

    /* predicted lesions only: sensitivity null -> 0, PPV 0, F1 0 */
    set_lesion(&cv, "lesions_pred", 2);
    set_lesion(&cv, "lesions_pred_detected", 0);
    set_lesion(&cv, "lesion_ppv", 0);
    set_lesion(&cv, "lesion_f1", 0);
    CHECK(agg(&cv, "lesion_sensitivity", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "lesion_ppv", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "lesion_f1", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "lesions_pred", 0, &v) == 1 && v == 2.0);

    /* reference lesions only: PPV null -> 0 */
    set_lesion(&cv, "lesions_ref", 3);
    set_lesion(&cv, "lesions_pred", 0);
    set_lesion(&cv, "lesion_sensitivity", 0);
    null_lesion(&cv, "lesion_ppv", SA_REASON_NO_PREDICTED_LESIONS);
    CHECK(agg(&cv, "lesion_ppv", 0, &v) == 1 && v == 0.0);
    CHECK(agg(&cv, "lesion_sensitivity", 0, &v) == 1 && v == 0.0);

    /* defined values pass through */
    set_lesion(&cv, "lesions_pred", 4);
    set_lesion(&cv, "lesion_sensitivity", 2.0 / 3.0);
    set_lesion(&cv, "lesion_ppv", 0.75);
    set_lesion(&cv, "lesion_f1", 12.0 / 17.0);
    CHECK(agg(&cv, "lesion_sensitivity", 0, &v) == 1 && v == 2.0 / 3.0);
    CHECK(agg(&cv, "lesion_f1", 0, &v) == 1 && v == 12.0 / 17.0);

    /* an undefined count is left out */
    null_lesion(&cv, "lesions_fn", "unknown");
    CHECK(agg(&cv, "lesions_fn", 0, &v) == 0);

    /* lesions not computed for this (scored) case: every lesion metric left out */
    scored_case(&cv, 100);
    cv.has_lesions = 0;
    cv.both_empty = 1;
    CHECK(agg(&cv, "lesion_f1", 0, &v) == 0);
    CHECK(agg(&cv, "lesion_sensitivity", 0, &v) == 0);
    CHECK(agg(&cv, "lesions_ref", 0, &v) == 0);
}

static void test_unknown(void) {
    sa_case_values cv;
    double v = 7;
    scored_case(&cv, 100);
    CHECK(sa_aggregate_value(&cv, "bogus", 0, &v) == -1);
    CHECK(v == 7); /* untouched */
    CHECK(sa_aggregate_value(&cv, "", 0, &v) == -1);
    CHECK(sa_aggregate_value(&cv, NULL, 0, &v) == -1);
    CHECK(sa_aggregate_value(NULL, "dice", 0, &v) == -1);
    CHECK(sa_aggregate_value(&cv, "dice", 0, NULL) == -1);
}

/* ============ independent reference: splitmix64, percentile, tau ============ */

static uint64_t ref_splitmix64(uint64_t *s) {
    *s += 0x9E3779B97F4A7C15ull;
    uint64_t z = *s;
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z;
}

static size_t ref_index(uint64_t *s, size_t n) {
    __extension__ unsigned __int128 p = (unsigned __int128)ref_splitmix64(s) * n;
    return (size_t)(p >> 64);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(x, q) (method "linear") by a full sort */
static double ref_percentile(const double *x, size_t n, double q) {
    double *s = malloc(n * sizeof *s);
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double h = (double)(n - 1) * (q / 100.0);
    size_t i = (size_t)floor(h);
    double t = h - floor(h);
    double a = s[i], b = i + 1 < n ? s[i + 1] : s[i];
    double r = t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
    free(s);
    return r;
}

/* Kendall tau-b by enumerating pairs; *ok = 0 when undefined */
static double ref_tau(const int *a, const int *b, size_t n, int *ok) {
    double nc = 0, nd = 0, ta = 0, tb = 0, n0 = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            n0++;
            if (a[i] == a[j]) ta++;
            if (b[i] == b[j]) tb++;
            if ((a[i] < a[j] && b[i] < b[j]) || (a[i] > a[j] && b[i] > b[j])) nc++;
            if ((a[i] < a[j] && b[i] > b[j]) || (a[i] > a[j] && b[i] < b[j])) nd++;
        }
    *ok = n >= 2 && n0 - ta > 0 && n0 - tb > 0;
    return *ok ? (nc - nd) / sqrt((n0 - ta) * (n0 - tb)) : 0.0;
}

static void test_rng(void) {
    /* splitmix64's published outputs for seed 0 and seed 1234567 */
    uint64_t s = 0;
    CHECK(sa_rng_next(&s) == 0xE220A8397B1DCDAFull);
    CHECK(sa_rng_next(&s) == 0x6E789E6AA1B965F4ull);
    CHECK(sa_rng_next(&s) == 0x06C45D188009454Full);
    CHECK(s == 3 * 0x9E3779B97F4A7C15ull);
    s = 1234567;
    CHECK(sa_rng_next(&s) == 0x599ED017FB08FC85ull);
    /* index = (draw * n) >> 64: the three draws of seed 1234567 with n = 10
     * are 0x599E..., 0x2C73..., 0x883E... -> 3, 1, 5 (top of draw * 10) */
    s = 1234567;
    CHECK(sa_rng_index(&s, 10) == 3);
    CHECK(sa_rng_index(&s, 10) == 1);
    CHECK(sa_rng_index(&s, 10) == 5);
    /* n = 1 always 0 (and still advances the state) */
    s = 42;
    CHECK(sa_rng_index(&s, 1) == 0);
    CHECK(s == 42 + 0x9E3779B97F4A7C15ull);
    /* against the independent copy over many draws and sizes */
    uint64_t a = 20160101, b = 20160101;
    int same = 1;
    for (size_t i = 0; i < 10000; i++) {
        size_t n = 1 + i % 97;
        if (sa_rng_index(&a, n) != ref_index(&b, n)) same = 0;
    }
    CHECK(same && a == b);
}

/* ============================== statistics ============================== */

static void test_stats_hand(void) {
    sa_metric_stats st;
    sa_error err;
    /* {1, 2, 4, 7}: mean 14/4 = 3.5; median: h = 3 * 0.5 = 1.5 -> 2 + (4 - 2) * 0.5 = 3;
     * squared deviations 6.25 + 2.25 + 0.25 + 12.25 = 21, / (4 - 1) = 7 -> std sqrt 7 */
    double v4[] = {7, 1, 4, 2};
    CHECK(sa_metric_stats_compute(v4, 4, 0, 1, &st, &err) == 0);
    CHECK(st.n == 4);
    CHECK(st.mean == 3.5);
    CHECK(st.median == 3.0);
    CHECK_NEAR(st.std, sqrt(7.0), 1e-15);
    CHECK(st.ci_lo == 3.5 && st.ci_hi == 3.5); /* no resamples: CI = mean */
    CHECK(v4[0] == 7 && v4[3] == 2);           /* input untouched */
    /* {3, 1, 2}: mean 2, median 2, std sqrt((1 + 1 + 0) / 2) = 1 */
    double v3[] = {3, 1, 2};
    CHECK(sa_metric_stats_compute(v3, 3, 100, 5, &st, &err) == 0);
    CHECK(st.mean == 2 && st.median == 2 && st.std == 1.0);
    CHECK(st.ci_lo >= 1.0 && st.ci_lo <= st.mean && st.ci_hi >= st.mean && st.ci_hi <= 3.0);
    /* the memo (memo.c): the same statistics, computed or remembered, and other
     * inputs (values, resamples, seed) are not taken for these */
    sa_metric_stats a, b, c;
    CHECK(sa_metric_stats_compute_cached(v3, 3, 100, 5, &a, &err) == 0);
    CHECK(sa_metric_stats_compute_cached(v3, 3, 100, 5, &b, &err) == 0);
    CHECK(memcmp(&a, &st, sizeof st) == 0 && memcmp(&b, &st, sizeof st) == 0);
    CHECK(sa_metric_stats_compute_cached(v3, 3, 100, 6, &c, &err) == 0);
    CHECK(sa_metric_stats_compute(v3, 3, 100, 6, &b, &err) == 0 && memcmp(&b, &c, sizeof c) == 0);
    double v3b[] = {3, 1, 2.5};
    CHECK(sa_metric_stats_compute_cached(v3b, 3, 100, 5, &c, &err) == 0);
    CHECK(sa_metric_stats_compute(v3b, 3, 100, 5, &b, &err) == 0 && memcmp(&b, &c, sizeof c) == 0 && c.mean != a.mean);
    /* one value: std 0, CI = the value */
    double v1[] = {0.625};
    CHECK(sa_metric_stats_compute(v1, 1, 1000, 5, &st, &err) == 0);
    CHECK(st.n == 1 && st.mean == 0.625 && st.median == 0.625 && st.std == 0);
    CHECK(st.ci_lo == 0.625 && st.ci_hi == 0.625);
    /* none: all zero */
    st.mean = 9;
    CHECK(sa_metric_stats_compute(NULL, 0, 1000, 5, &st, &err) == 0);
    CHECK(st.n == 0 && st.mean == 0 && st.median == 0 && st.std == 0 && st.ci_lo == 0 &&
          st.ci_hi == 0);
    /* constant values: CI collapses on the value */
    double vc[] = {0.5, 0.5, 0.5, 0.5, 0.5};
    CHECK(sa_metric_stats_compute(vc, 5, 200, 9, &st, &err) == 0);
    CHECK(st.std == 0 && st.ci_lo == 0.5 && st.ci_hi == 0.5);
    /* NaN refused */
    double vn[] = {1, NAN};
    CHECK(sa_metric_stats_compute(vn, 2, 10, 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "finite");
}

static void test_stats_bootstrap(void) {
    /* 13 values, seed 777, 1000 resamples; reference: resample r takes n draws
     * of the one stream, mean in draw order, percentiles 2.5/97.5 of the means */
    double v[13];
    for (size_t i = 0; i < 13; i++) v[i] = 0.1 * (double)((i * 7) % 13) + 0.03 * (double)i;
    size_t n = 13, R = 1000;
    double *means = malloc(R * sizeof *means);
    uint64_t s = 777;
    for (size_t r = 0; r < R; r++) {
        double sum = 0;
        for (size_t k = 0; k < n; k++) sum += v[ref_index(&s, n)];
        means[r] = sum / (double)n;
    }
    double lo = ref_percentile(means, R, 2.5), hi = ref_percentile(means, R, 97.5);
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    sa_metric_stats st;
    sa_error err;
    CHECK(sa_metric_stats_compute(v, n, R, 777, &st, &err) == 0);
    CHECK_NEAR(st.ci_lo, lo, 1e-12);
    CHECK_NEAR(st.ci_hi, hi, 1e-12);
    CHECK_NEAR(st.mean, mean, 1e-15);
    CHECK(st.ci_lo < st.mean && st.mean < st.ci_hi);
    /* another seed gives another interval; the same seed the same */
    sa_metric_stats st2;
    CHECK(sa_metric_stats_compute(v, n, R, 777, &st2, &err) == 0);
    CHECK(st2.ci_lo == st.ci_lo && st2.ci_hi == st.ci_hi);
    CHECK(sa_metric_stats_compute(v, n, R, 778, &st2, &err) == 0);
    CHECK(st2.ci_lo != st.ci_lo || st2.ci_hi != st.ci_hi);
    free(means);
}

/* ============================ competition ranks ============================ */

/* 1 when r[0..n-1] equals the n ints that follow */
static int ranks_are(const int *r, size_t n, ...) {
    va_list ap;
    va_start(ap, n);
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        int want = va_arg(ap, int);
        if (r[i] != want) {
            fprintf(stderr, "  rank[%zu] = %d, expected %d\n", i, r[i], want);
            same = 0;
        }
    }
    va_end(ap);
    return same;
}

/* sa_competition_ranks of keys, compared with the n ints that follow */
static int competition_is(const double *keys, size_t n, int higher_is_better, ...) {
    int r[16];
    sa_competition_ranks(keys, n, higher_is_better, r);
    va_list ap;
    va_start(ap, higher_is_better);
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        int want = va_arg(ap, int);
        if (r[i] != want) {
            fprintf(stderr, "  rank[%zu] = %d, expected %d\n", i, r[i], want);
            same = 0;
        }
    }
    va_end(ap);
    return same;
}

static void test_competition_ranks(void) {
    double hi[] = {5, 3, 3, 1};
    CHECK(competition_is(hi, 4, 1, 1, 2, 2, 4));
    CHECK(competition_is(hi, 4, 0, 4, 2, 2, 1));
    double mixed[] = {0.5, 0.75, 0.5, 0.75, 0.25, 0.75};
    /* higher: three 0.75 share 1, two 0.5 share 4, 0.25 is 6 */
    CHECK(competition_is(mixed, 6, 1, 4, 1, 4, 1, 6, 1));
    CHECK(competition_is(mixed, 6, 0, 2, 4, 2, 4, 1, 4));
    double same[] = {2, 2, 2};
    CHECK(competition_is(same, 3, 1, 1, 1, 1));
    double zeros[] = {-0.0, 0.0, 1};
    CHECK(competition_is(zeros, 3, 0, 1, 1, 3));
    /* exact comparison: 0.1 + 0.2 is not 0.3 */
    double close[] = {0.1 + 0.2, 0.3};
    CHECK(competition_is(close, 2, 1, 1, 2));
    /* infinities compare like numbers; NaN (never produced by aggregation) is
     * worse than any number in either direction and ties with NaN */
    double inf[] = {INFINITY, 1, INFINITY};
    CHECK(competition_is(inf, 3, 0, 2, 1, 2));
    double nan1[] = {NAN, 1, 2};
    CHECK(competition_is(nan1, 3, 1, 3, 2, 1));
    CHECK(competition_is(nan1, 3, 0, 3, 1, 2));
    double nan2[] = {NAN, NAN, 1};
    CHECK(competition_is(nan2, 3, 1, 2, 2, 1));
    sa_competition_ranks(NULL, 0, 1, NULL); /* nothing to do */
}

/* ====================== ranking rules, by hand ====================== */

/* Four entries A, B, C, D, two ranked metrics (dice, higher is better; hd95,
 * lower is better, cap 100 mm), four cases. Entry A failed case 3: aggregate
 * gives it dice 0 and hd95 = cap = 100. Values are multiples of 1/4 so that
 * every sum and mean below is exact.
 *
 *          dice per case          hd95 per case
 *          c0    c1    c2    c3   c0  c1  c2  c3
 *   A    1.00  0.75  0.75  0.00    2   4   4  100   (c3 failed)
 *   B    0.75  0.75  0.75  0.75    4   4   8    8
 *   C    0.50  1.00  0.50  1.00    2   2   4    8
 *   D    0.50  0.50  0.50  0.50    8   8   8    8
 */
enum { NE = 4, NM = 2, NC = 4 };
static const double hand_values[NE][NM][NC] = {
    {{1.00, 0.75, 0.75, 0.00}, {2, 4, 4, 100}},
    {{0.75, 0.75, 0.75, 0.75}, {4, 4, 8, 8}},
    {{0.50, 1.00, 0.50, 1.00}, {2, 2, 4, 8}},
    {{0.50, 0.50, 0.50, 0.50}, {8, 8, 8, 8}},
};
/* The same, had A's case 3 been scored dice 0.75, hd95 4. */
static const double hand_values_ok[NE][NM][NC] = {
    {{1.00, 0.75, 0.75, 0.75}, {2, 4, 4, 4}},
    {{0.75, 0.75, 0.75, 0.75}, {4, 4, 8, 8}},
    {{0.50, 1.00, 0.50, 1.00}, {2, 2, 4, 8}},
    {{0.50, 0.50, 0.50, 0.50}, {8, 8, 8, 8}},
};
static const int dice_hd95_dir[NM] = {1, 0};

static sa_rank_table hand_table(const double (*v)[NM][NC]) {
    sa_rank_table t = {NE, NM, NC, &v[0][0][0], dice_hd95_dir};
    return t;
}

static void test_rule_mean_rank(void) {
    sa_rank_table t = hand_table(hand_values);
    double key[NE];
    int rank[NE];
    sa_error err;
    /* dice means: A 2.5/4 = 0.625, B 0.75, C 0.75, D 0.5 -> ranks A 3, B 1, C 1, D 4
     * hd95 means: A 110/4 = 27.5, B 6, C 4, D 8 -> ranks A 4, B 2, C 1, D 3
     * keys: A (3+4)/2 = 3.5, B (1+2)/2 = 1.5, C (1+1)/2 = 1, D (4+3)/2 = 3.5
     * final: C 1, B 2, A and D share 3 */
    CHECK(sa_rank_entries(&t, SA_RANK_MEAN_RANK, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 3.5 && key[1] == 1.5 && key[2] == 1.0 && key[3] == 3.5);
    CHECK(ranks_are(rank, NE, 3, 2, 1, 3));

    /* had A not failed: dice means A 3.25/4 = 0.8125, B .75, C .75, D .5 -> 1, 2, 2, 4;
     * hd95 means A 14/4 = 3.5, B 6, C 4, D 8 -> 1, 3, 2, 4;
     * keys A 1, B 2.5, C 2, D 4 -> A 1, C 2, B 3, D 4. The failure takes A from 1 to 3. */
    sa_rank_table ok = hand_table(hand_values_ok);
    CHECK(sa_rank_entries(&ok, SA_RANK_MEAN_RANK, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 1.0 && key[1] == 2.5 && key[2] == 2.0 && key[3] == 4.0);
    CHECK(ranks_are(rank, NE, 1, 3, 2, 4));

    /* a resample with repeats: cases {3, 3, 0}
     * dice: A (0+0+1)/3 = 1/3, B 2.25/3 = .75, C (1+1+.5)/3 = 5/6, D 1.5/3 = .5
     *   -> C 1, B 2, D 3, A 4
     * hd95: A (100+100+2)/3 = 67.3, B (8+8+4)/3 = 6.67, C (8+8+2)/3 = 6, D 8
     *   -> C 1, B 2, D 3, A 4
     * keys A 4, B 2, C 1, D 3 */
    size_t cases[] = {3, 3, 0};
    CHECK(sa_rank_entries(&t, SA_RANK_MEAN_RANK, cases, 3, key, rank, &err) == 0);
    CHECK(key[0] == 4 && key[1] == 2 && key[2] == 1 && key[3] == 3);
    CHECK(ranks_are(rank, NE, 4, 2, 1, 3));
    /* key_out may be NULL */
    CHECK(sa_rank_entries(&t, SA_RANK_MEAN_RANK, NULL, 0, NULL, rank, &err) == 0);
    CHECK(ranks_are(rank, NE, 3, 2, 1, 3));
}

static void test_rule_rank_then_aggregate(void) {
    sa_rank_table t = hand_table(hand_values);
    double key[NE];
    int rank[NE];
    sa_error err;
    /* per-case ranks (A, B, C, D):
     *   dice c0 (1, .75, .5, .5)   -> 1, 2, 3, 3     hd95 c0 (2, 4, 2, 8)   -> 1, 3, 1, 4
     *   dice c1 (.75, .75, 1, .5)  -> 2, 2, 1, 4     hd95 c1 (4, 4, 2, 8)   -> 2, 2, 1, 4
     *   dice c2 (.75, .75, .5, .5) -> 1, 1, 3, 3     hd95 c2 (4, 8, 4, 8)   -> 1, 3, 1, 3
     *   dice c3 (0, .75, 1, .5)    -> 4, 2, 1, 3     hd95 c3 (100, 8, 8, 8) -> 4, 1, 1, 1
     * rank sums over the 8 (case, metric) pairs:
     *   A 1+2+1+4 + 1+2+1+4 = 16   B 2+2+1+2 + 3+2+3+1 = 16
     *   C 3+1+3+1 + 1+1+1+1 = 12   D 3+4+3+3 + 4+4+3+1 = 25
     * keys = sums / 8: A 2, B 2, C 1.5, D 3.125 -> C 1, A 2, B 2, D 4 ("1, 2, 2, 4") */
    CHECK(sa_rank_entries(&t, SA_RANK_THEN_AGGREGATE, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 2.0 && key[1] == 2.0 && key[2] == 1.5 && key[3] == 3.125);
    CHECK(ranks_are(rank, NE, 2, 2, 1, 4));

    /* had A not failed, c3 would read dice (.75, .75, 1, .5) -> 2, 2, 1, 4 and
     * hd95 (4, 8, 8, 8) -> 1, 2, 2, 2: c3's share of the sums goes from
     * A 4+4, B 2+1, C 1+1, D 3+1 to A 2+1, B 2+2, C 1+2, D 4+2, so the sums are
     * A 16 - 8 + 3 = 11, B 16 - 3 + 4 = 17, C 12 - 2 + 3 = 13, D 25 - 4 + 6 = 27
     * -> A 1, C 2, B 3, D 4 */
    sa_rank_table ok = hand_table(hand_values_ok);
    CHECK(sa_rank_entries(&ok, SA_RANK_THEN_AGGREGATE, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 11.0 / 8 && key[1] == 17.0 / 8 && key[2] == 13.0 / 8 && key[3] == 27.0 / 8);
    CHECK(ranks_are(rank, NE, 1, 3, 2, 4));

    /* cases {3, 3, 0}: c3 counts twice.
     *   A (4+4)*2 + (1+1) = 18   B (2+1)*2 + (2+3) = 11
     *   C (1+1)*2 + (3+1) = 8    D (3+1)*2 + (3+4) = 15
     * keys = sums / 6 -> C 1, B 2, D 3, A 4 */
    size_t cases[] = {3, 3, 0};
    CHECK(sa_rank_entries(&t, SA_RANK_THEN_AGGREGATE, cases, 3, key, rank, &err) == 0);
    CHECK(key[0] == 18.0 / 6 && key[1] == 11.0 / 6 && key[2] == 8.0 / 6 && key[3] == 15.0 / 6);
    CHECK(ranks_are(rank, NE, 4, 2, 1, 3));
}

static void test_rule_score(void) {
    /* dice alone (metric 0 of the table above) */
    double dice[NE][1][NC];
    double hd95[NE][1][NC];
    for (int e = 0; e < NE; e++)
        for (int c = 0; c < NC; c++) {
            dice[e][0][c] = hand_values[e][0][c];
            hd95[e][0][c] = hand_values[e][1][c];
        }
    int up = 1, down = 0;
    sa_rank_table td = {NE, 1, NC, &dice[0][0][0], &up};
    sa_rank_table th = {NE, 1, NC, &hd95[0][0][0], &down};
    double key[NE];
    int rank[NE];
    sa_error err;
    /* dice means A .625, B .75, C .75, D .5 -> B and C share 1, A 3, D 4 */
    CHECK(sa_rank_entries(&td, SA_RANK_SCORE, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 0.625 && key[1] == 0.75 && key[2] == 0.75 && key[3] == 0.5);
    CHECK(ranks_are(rank, NE, 3, 1, 1, 4));
    /* hd95 means A 27.5, B 6, C 4, D 8, lower is better -> 4, 2, 1, 3 */
    CHECK(sa_rank_entries(&th, SA_RANK_SCORE, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 27.5 && key[1] == 6 && key[2] == 4 && key[3] == 8);
    CHECK(ranks_are(rank, NE, 4, 2, 1, 3));
    /* cases {3, 3, 0}: dice A 1/3, B .75, C 5/6, D .5 -> 4, 2, 1, 3 */
    size_t cases[] = {3, 3, 0};
    CHECK(sa_rank_entries(&td, SA_RANK_SCORE, cases, 3, key, rank, &err) == 0);
    CHECK(key[0] == 1.0 / 3 && key[1] == 0.75 && key[2] == 2.5 / 3 && key[3] == 0.5);
    CHECK(ranks_are(rank, NE, 4, 2, 1, 3));
    /* without A's failure: dice A .8125, B .75, C .75, D .5 -> 1, 2, 2, 4 */
    for (int e = 0; e < NE; e++)
        for (int c = 0; c < NC; c++) dice[e][0][c] = hand_values_ok[e][0][c];
    CHECK(sa_rank_entries(&td, SA_RANK_SCORE, NULL, 0, key, rank, &err) == 0);
    CHECK(ranks_are(rank, NE, 1, 2, 2, 4));

    /* score needs exactly one metric */
    sa_rank_table t2 = hand_table(hand_values);
    err.msg[0] = 0;
    CHECK(sa_rank_entries(&t2, SA_RANK_SCORE, NULL, 0, key, rank, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "score");
}

static void test_rank_errors(void) {
    sa_rank_table t = hand_table(hand_values);
    int rank[NE];
    sa_error err;
    sa_rank_table empty = t;
    empty.n_entries = 0;
    CHECK(sa_rank_entries(&empty, SA_RANK_MEAN_RANK, NULL, 0, NULL, rank, &err) == -1);
    empty = t;
    empty.n_cases = 0;
    CHECK(sa_rank_entries(&empty, SA_RANK_MEAN_RANK, NULL, 0, NULL, rank, &err) == -1);
    empty = t;
    empty.n_metrics = 0;
    CHECK(sa_rank_entries(&empty, SA_RANK_MEAN_RANK, NULL, 0, NULL, rank, &err) == -1);
    CHECK(sa_rank_entries(NULL, SA_RANK_MEAN_RANK, NULL, 0, NULL, rank, &err) == -1);
    size_t bad_case[] = {0, 4};
    CHECK(sa_rank_entries(&t, SA_RANK_MEAN_RANK, bad_case, 2, NULL, rank, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "out of range");
    CHECK(sa_rank_entries(&t, SA_RANK_MEAN_RANK, bad_case, 0, NULL, rank, &err) == -1);
    int bad_dir[NM] = {1, -1};
    sa_rank_table td = t;
    td.higher_is_better = bad_dir;
    CHECK(sa_rank_entries(&td, SA_RANK_MEAN_RANK, NULL, 0, NULL, rank, &err) == -1);
    double with_nan[NE][NM][NC];
    memcpy(with_nan, hand_values, sizeof with_nan);
    with_nan[2][1][3] = NAN;
    sa_rank_table tn = {NE, NM, NC, &with_nan[0][0][0], dice_hd95_dir};
    CHECK(sa_rank_entries(&tn, SA_RANK_THEN_AGGREGATE, NULL, 0, NULL, rank, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "NaN");
    CHECK(sa_rank_entries(&t, (sa_rank_rule)7, NULL, 0, NULL, rank, &err) == -1);
    CHECK(sa_rank_entries(&t, SA_RANK_MEAN_RANK, NULL, 0, NULL, NULL, &err) == -1);
}

/* ============================== Kendall tau-b ============================== */

static void test_kendall(void) {
    int ok;
    int a[] = {1, 2, 3, 4}, rev[] = {4, 3, 2, 1};
    CHECK(sa_kendall_tau_b(a, a, 4, &ok) == 1.0 && ok == 1);
    CHECK(sa_kendall_tau_b(a, rev, 4, &ok) == -1.0 && ok == 1);
    /* a = (1, 2, 2, 4), b = (1, 2, 3, 4): of the 6 pairs, (1,2) is tied in a
     * (n1 = 1), the other 5 concordant; n2 = 0: tau = 5 / sqrt(5 * 6) */
    int t1[] = {1, 2, 2, 4};
    CHECK_NEAR(sa_kendall_tau_b(t1, a, 4, &ok), 5.0 / sqrt(30.0), 1e-15);
    CHECK(ok == 1);
    /* a = (1, 1, 3, 4), b = (2, 1, 1, 4): pairs (0,1) tied in a, (1,2) tied in b,
     * (0,2) discordant, (0,3), (1,3), (2,3) concordant: (3 - 1) / sqrt(5 * 5) = 0.4 */
    int t2a[] = {1, 1, 3, 4}, t2b[] = {2, 1, 1, 4};
    CHECK_NEAR(sa_kendall_tau_b(t2a, t2b, 4, &ok), 0.4, 1e-15);
    CHECK(ok == 1);
    /* a pair tied in both counts in n1 and n2, in neither nc nor nd:
     * (1, 1, 2) vs itself: nc = 2, n1 = n2 = 1: 2 / sqrt(2 * 2) = 1 */
    int t3[] = {1, 1, 2};
    CHECK(sa_kendall_tau_b(t3, t3, 3, &ok) == 1.0 && ok == 1);
    /* symmetric in its arguments */
    CHECK(sa_kendall_tau_b(t2b, t2a, 4, &ok) == sa_kendall_tau_b(t2a, t2b, 4, &ok));
    /* undefined */
    int all_tied[] = {1, 1, 1, 1};
    ok = 7;
    CHECK(sa_kendall_tau_b(all_tied, a, 4, &ok) == 0.0 && ok == 0);
    ok = 7;
    CHECK(sa_kendall_tau_b(a, all_tied, 4, &ok) == 0.0 && ok == 0);
    ok = 7;
    CHECK(sa_kendall_tau_b(a, a, 1, &ok) == 0.0 && ok == 0);
    ok = 7;
    CHECK(sa_kendall_tau_b(a, a, 0, &ok) == 0.0 && ok == 0);
    CHECK(sa_kendall_tau_b(a, rev, 4, NULL) == -1.0); /* defined may be NULL */
    /* against the pairwise reference on pseudo-random rankings with ties */
    uint64_t s = 99;
    int same = 1;
    for (int trial = 0; trial < 200; trial++) {
        int x[9], y[9];
        size_t n = 2 + (size_t)trial % 8;
        for (size_t i = 0; i < n; i++) {
            x[i] = 1 + (int)ref_index(&s, 4);
            y[i] = 1 + (int)ref_index(&s, 5);
        }
        int ok1, ok2;
        double t = sa_kendall_tau_b(x, y, n, &ok1), r = ref_tau(x, y, n, &ok2);
        if (ok1 != ok2 || fabs(t - r) > 1e-12) same = 0;
    }
    CHECK(same);
}

/* ====================== bootstrap against brute force ====================== */

/* The reference ranking: explicit loops over the listed cases, no shortcut. */
/* The reference's mean: the sum in __float128 (113 bits: exact for a few dozen
 * values within 2^60 of each other, as every table here holds), rounded once to
 * double, divided by n. Where __float128 is missing, long double. */
#ifdef __SIZEOF_FLOAT128__
typedef __float128 ref_wide;
#else
typedef long double ref_wide;
#endif

static void ref_rank(const sa_rank_table *t, sa_rank_rule rule, const size_t *cases, size_t n,
                     int *rank) {
    size_t E = t->n_entries, M = t->n_metrics, C = t->n_cases;
#define V(e, m, c) t->values[((e) * M + (m)) * C + (c)]
    double key[64];
    for (size_t e = 0; e < E; e++) key[e] = 0;
    if (rule == SA_RANK_SCORE) {
        for (size_t e = 0; e < E; e++) {
            ref_wide s = 0;
            for (size_t k = 0; k < n; k++) s += V(e, 0, cases[k]);
            key[e] = (double)s / (double)n;
        }
    } else if (rule == SA_RANK_MEAN_RANK) {
        for (size_t m = 0; m < M; m++) {
            double mean[64];
            for (size_t e = 0; e < E; e++) {
                ref_wide s = 0;
                for (size_t k = 0; k < n; k++) s += V(e, m, cases[k]);
                mean[e] = (double)s / (double)n;
            }
            for (size_t e = 0; e < E; e++) {
                int r = 1;
                for (size_t f = 0; f < E; f++)
                    if (t->higher_is_better[m] ? mean[f] > mean[e] : mean[f] < mean[e]) r++;
                key[e] += r;
            }
        }
        for (size_t e = 0; e < E; e++) key[e] /= (double)M;
    } else {
        for (size_t k = 0; k < n; k++)
            for (size_t m = 0; m < M; m++)
                for (size_t e = 0; e < E; e++) {
                    int r = 1;
                    for (size_t f = 0; f < E; f++) {
                        double vf = V(f, m, cases[k]), ve = V(e, m, cases[k]);
                        if (t->higher_is_better[m] ? vf > ve : vf < ve) r++;
                    }
                    key[e] += r;
                }
        for (size_t e = 0; e < E; e++) key[e] /= (double)n * (double)M;
    }
    int higher = rule == SA_RANK_SCORE ? t->higher_is_better[0] : 0;
    for (size_t e = 0; e < E; e++) {
        int r = 1;
        for (size_t f = 0; f < E; f++)
            if (higher ? key[f] > key[e] : key[f] < key[e]) r++;
        rank[e] = r;
    }
#undef V
}

static void check_bootstrap_against_reference(const sa_rank_table *t, sa_rank_rule rule,
                                              size_t R, uint64_t seed, const char *what) {
    size_t E = t->n_entries, C = t->n_cases;
    sa_rank_stability *got = calloc(E, sizeof *got);
    sa_bootstrap_summary sum;
    sa_error err;
    int rc = sa_rank_bootstrap(t, rule, R, seed, got, &sum, &err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "  %s: %s\n", what, err.msg);
        free(got);
        return;
    }

    /* reference: full ranking, then R resamples of C draws from one stream */
    size_t *all = malloc(C * sizeof *all), *draw = malloc(C * sizeof *draw);
    for (size_t c = 0; c < C; c++) all[c] = c;
    int full[64];
    ref_rank(t, rule, all, C, full);
    int *ranks = malloc(R * E * sizeof *ranks);
    double *taus = malloc(R * sizeof *taus), *col = malloc(R * sizeof *col);
    size_t n_tau = 0;
    uint64_t s = seed;
    for (size_t r = 0; r < R; r++) {
        for (size_t k = 0; k < C; k++) draw[k] = ref_index(&s, C);
        ref_rank(t, rule, draw, C, ranks + r * E);
        int ok;
        double tau = ref_tau(full, ranks + r * E, E, &ok);
        if (ok) taus[n_tau++] = tau;
    }
    int same = 1;
    for (size_t e = 0; e < E; e++) {
        for (size_t r = 0; r < R; r++) col[r] = ranks[r * E + e];
        double med = ref_percentile(col, R, 50), lo = ref_percentile(col, R, 2.5),
               hi = ref_percentile(col, R, 97.5);
        if (fabs(got[e].median_rank - med) > 1e-12 || fabs(got[e].rank_lo - lo) > 1e-12 ||
            fabs(got[e].rank_hi - hi) > 1e-12) {
            fprintf(stderr, "  %s entry %zu: got %g [%g, %g], reference %g [%g, %g]\n", what, e,
                    got[e].median_rank, got[e].rank_lo, got[e].rank_hi, med, lo, hi);
            same = 0;
        }
    }
    CHECK(same);
    CHECK(sum.resamples == R);
    CHECK(sum.tau_defined == n_tau);
    if (n_tau > 0) {
        double m = 0;
        for (size_t i = 0; i < n_tau; i++) m += taus[i];
        m /= (double)n_tau;
        CHECK_NEAR(sum.tau_mean, m, 1e-12);
        CHECK_NEAR(sum.tau_lo, ref_percentile(taus, n_tau, 2.5), 1e-12);
        CHECK_NEAR(sum.tau_hi, ref_percentile(taus, n_tau, 97.5), 1e-12);
    } else {
        CHECK(sum.tau_mean == 0 && sum.tau_lo == 0 && sum.tau_hi == 0);
    }
    free(all);
    free(draw);
    free(ranks);
    free(taus);
    free(col);
    free(got);
}

/* 6 entries x 2 metrics x 12 cases. Dice in steps of 1/16 and integer hd95
 * (some capped at 150), so that equal sums are exactly equal; entry 5 copies
 * entry 2 (tied in every ranking) and entry 4 copies entry 1's dice (ties on
 * one metric). */
enum { BE = 6, BM = 2, BC = 12 };
static void random_table(double v[BE][BM][BC], uint64_t seed, int dyadic) {
    uint64_t s = seed;
    for (int e = 0; e < BE; e++)
        for (int c = 0; c < BC; c++) {
            double quality = 0.3 + 0.1 * e; /* later entries a little better on average */
            if (dyadic) {
                v[e][0][c] = (double)ref_index(&s, 17) / 16.0;
                if (ref_index(&s, 3) > 0 && v[e][0][c] < quality) v[e][0][c] += 0.25;
                v[e][1][c] = ref_index(&s, 10) == 0 ? 150.0 : (double)ref_index(&s, 21);
            } else {
                v[e][0][c] = quality + 0.5 * (double)(ref_splitmix64(&s) >> 11) / 9007199254740992.0;
                v[e][1][c] = 30.0 * (double)(ref_splitmix64(&s) >> 11) / 9007199254740992.0;
            }
        }
    for (int c = 0; c < BC; c++) {
        v[5][0][c] = v[2][0][c];
        v[5][1][c] = v[2][1][c];
        v[4][0][c] = v[1][0][c];
    }
}

static void test_bootstrap_brute_force(void) {
    static const int dir[BM] = {1, 0};
    for (int dyadic = 1; dyadic >= 0; dyadic--) {
        double v[BE][BM][BC];
        random_table(v, dyadic ? 31337 : 4242, dyadic);
        sa_rank_table t = {BE, BM, BC, &v[0][0][0], dir};
        check_bootstrap_against_reference(&t, SA_RANK_MEAN_RANK, 1000, 20160101,
                                          dyadic ? "mean_rank dyadic" : "mean_rank");
        check_bootstrap_against_reference(&t, SA_RANK_THEN_AGGREGATE, 1000, 20160101,
                                          dyadic ? "rank_then_aggregate dyadic"
                                                 : "rank_then_aggregate");
        double one[BE][1][BC];
        for (int e = 0; e < BE; e++)
            for (int c = 0; c < BC; c++) one[e][0][c] = v[e][1][c]; /* hd95 alone */
        sa_rank_table t1 = {BE, 1, BC, &one[0][0][0], &dir[1]};
        check_bootstrap_against_reference(&t1, SA_RANK_SCORE, 1000, 7,
                                          dyadic ? "score dyadic" : "score");
        /* entries 2 and 5 are identical: identical stability */
        sa_rank_stability st[BE];
        sa_bootstrap_summary sum;
        sa_error err;
        CHECK(sa_rank_bootstrap(&t, SA_RANK_MEAN_RANK, 300, 1, st, &sum, &err) == 0);
        CHECK(st[2].median_rank == st[5].median_rank && st[2].rank_lo == st[5].rank_lo &&
              st[2].rank_hi == st[5].rank_hi);
        CHECK(sum.tau_defined == 300); /* full ranking and resamples never all tied here */
        CHECK(sum.tau_lo <= sum.tau_mean && sum.tau_mean <= sum.tau_hi && sum.tau_hi <= 1.0);
    }
    /* the hand table too (4 x 2 x 4, failed case included) */
    sa_rank_table h = hand_table(hand_values);
    check_bootstrap_against_reference(&h, SA_RANK_MEAN_RANK, 1000, 5, "hand mean_rank");
    check_bootstrap_against_reference(&h, SA_RANK_THEN_AGGREGATE, 1000, 5, "hand rtA");
}

static void test_bootstrap_hand(void) {
    sa_rank_stability st[3];
    sa_bootstrap_summary sum;
    sa_error err;
    /* entry 0 better than entry 1 on every case and metric: every resample ranks
     * 1, 2, so medians 1 and 2, intervals [1, 1] and [2, 2], tau = 1 each time */
    double v[2][2][3] = {{{0.9, 0.8, 0.95}, {1, 2, 1}}, {{0.5, 0.6, 0.7}, {5, 6, 7}}};
    int dir[2] = {1, 0};
    sa_rank_table t = {2, 2, 3, &v[0][0][0], dir};
    for (int rule = SA_RANK_MEAN_RANK; rule <= SA_RANK_THEN_AGGREGATE; rule++) {
        CHECK(sa_rank_bootstrap(&t, (sa_rank_rule)rule, 50, 3, st, &sum, &err) == 0);
        CHECK(st[0].median_rank == 1 && st[0].rank_lo == 1 && st[0].rank_hi == 1);
        CHECK(st[1].median_rank == 2 && st[1].rank_lo == 2 && st[1].rank_hi == 2);
        CHECK(sum.resamples == 50 && sum.tau_defined == 50);
        CHECK(sum.tau_mean == 1 && sum.tau_lo == 1 && sum.tau_hi == 1);
    }
    /* three identical entries: every ranking all tied, tau never defined */
    double same[3][1][2] = {{{0.5, 0.25}}, {{0.5, 0.25}}, {{0.5, 0.25}}};
    int up = 1;
    sa_rank_table ts = {3, 1, 2, &same[0][0][0], &up};
    CHECK(sa_rank_bootstrap(&ts, SA_RANK_SCORE, 20, 3, st, &sum, &err) == 0);
    CHECK(st[0].median_rank == 1 && st[1].median_rank == 1 && st[2].rank_hi == 1);
    CHECK(sum.tau_defined == 0 && sum.tau_mean == 0 && sum.tau_lo == 0 && sum.tau_hi == 0);
    /* one entry: rank 1, tau undefined (n < 2) */
    sa_rank_table t1 = {1, 1, 2, &same[0][0][0], &up};
    CHECK(sa_rank_bootstrap(&t1, SA_RANK_SCORE, 10, 3, st, &sum, &err) == 0);
    CHECK(st[0].median_rank == 1 && sum.tau_defined == 0);
    /* errors */
    CHECK(sa_rank_bootstrap(&t, SA_RANK_MEAN_RANK, 0, 3, st, &sum, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "resamples");
    CHECK(sa_rank_bootstrap(&t, SA_RANK_SCORE, 10, 3, st, &sum, &err) == -1); /* 2 metrics */
    CHECK(sa_rank_bootstrap(&t, SA_RANK_MEAN_RANK, 10, 3, NULL, &sum, &err) == -1);
    /* reproducible: same seed, same answer */
    sa_rank_stability a[BE], b[BE];
    sa_bootstrap_summary sa_, sb;
    double rv[BE][BM][BC];
    random_table(rv, 5, 1);
    static const int d2[BM] = {1, 0};
    sa_rank_table tr = {BE, BM, BC, &rv[0][0][0], d2};
    CHECK(sa_rank_bootstrap(&tr, SA_RANK_THEN_AGGREGATE, 200, 11, a, &sa_, &err) == 0);
    CHECK(sa_rank_bootstrap(&tr, SA_RANK_THEN_AGGREGATE, 200, 11, b, &sb, &err) == 0);
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(&sa_, &sb, sizeof sa_) == 0);
}

/* ============================ order-free means ============================ */

static int bits_equal(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static double fsum_of(const double *v, size_t n) {
    sa_fsum s;
    sa_fsum_init(&s);
    for (size_t i = 0; i < n; i++) sa_fsum_add(&s, v[i]);
    return sa_fsum_result(&s);
}

/* 290 values that need about 130 partials (a reviewer's greedy search; fixture
 * fsum_many_partials.txt: the count, then hex floats), both ways round against
 * Python's math.fsum: -0x1.700172c408dd3p+958. */
static void test_fsum_many_partials(const char *path) {
    FILE *f = path ? fopen(path, "r") : NULL;
    CHECK(f != NULL);
    if (!f) return;
    int n = 0;
    double v[300], w[300];
    CHECK(fscanf(f, "%d", &n) == 1 && n == 290);
    for (int i = 0; i < n && i < 300; i++) {
        char word[64];
        CHECK(fscanf(f, "%63s", word) == 1);
        v[i] = strtod(word, NULL);
        w[n - 1 - i] = v[i];
    }
    fclose(f);
    double want = strtod("-0x1.700172c408dd3p+958", NULL);
    CHECK(bits_equal(fsum_of(v, (size_t)n), want));
    CHECK(bits_equal(fsum_of(w, (size_t)n), want));
}

static void test_fsum(void) {
    /* values from Python's math.fsum */
    double tenth[10];
    for (int i = 0; i < 10; i++) tenth[i] = 0.1;
    CHECK(fsum_of(tenth, 10) == 1.0); /* a left-to-right sum gives 0.9999999999999999 */
    double cancel[] = {1e100, 1.0, -1e100, 1e-100, 1e50, -1.0, -1e50};
    CHECK(fsum_of(cancel, 7) == 1e-100);
    double half[] = {1.0, 0x1p-53};                 /* exactly halfway: ties to even */
    CHECK(fsum_of(half, 2) == 1.0);
    double past_half[] = {1.0, 0x1p-53, 0x1p-106};  /* just past halfway: up */
    CHECK(fsum_of(past_half, 3) == 1.0 + 0x1p-52);
    double below[] = {1.0, -0x1p-54, -0x1p-107};    /* just past halfway, down */
    CHECK(fsum_of(below, 3) == 1.0 - 0x1p-53);
    double tiny[] = {0.1, 0.2, 0.3}, tiny_rev[] = {0.3, 0.2, 0.1};
    CHECK(fsum_of(tiny, 3) == 0.6 && fsum_of(tiny_rev, 3) == 0.6);
    CHECK(fsum_of(NULL, 0) == 0.0 && sa_fsum_mean(NULL, 0) == 0.0);
    CHECK(sa_fsum_mean(tiny_rev, 3) == 0.6 / 3);
    /* a running total beyond the double range: NaN (Python's fsum raises) */
    double over[] = {DBL_MAX, DBL_MAX, -DBL_MAX, -DBL_MAX}, within[] = {DBL_MAX, -DBL_MAX, DBL_MAX, -DBL_MAX};
    CHECK(isnan(fsum_of(over, 4)) && fsum_of(within, 4) == 0.0);
    /* not finite: what a plain sum gives, whatever the order */
    double with_inf[] = {1.0, INFINITY, 2.0}, both_inf[] = {INFINITY, 1.0, -INFINITY};
    CHECK(isinf(fsum_of(with_inf, 3)) && fsum_of(with_inf, 3) > 0);
    CHECK(isnan(fsum_of(both_inf, 3)));
    /* any order, the same bits, equal to the once-rounded wide sum */
    uint64_t s = 99;
    for (int round = 0; round < 200; round++) {
        double v[40], w[40];
        size_t n = 1 + ref_index(&s, 40);
        ref_wide exact = 0;
        for (size_t i = 0; i < n; i++) {
            double u = (double)(ref_splitmix64(&s) >> 11) / 9007199254740992.0;
            v[i] = round % 2 ? u * 300.0 : u; /* dice-like and distance-like */
            exact += v[i];
        }
        for (size_t i = 0; i < n; i++) w[i] = v[i];
        for (size_t i = n; i > 1; i--) { /* shuffle */
            size_t j = ref_index(&s, i);
            double t = w[i - 1];
            w[i - 1] = w[j];
            w[j] = t;
        }
        double a = fsum_of(v, n), b = fsum_of(w, n);
        CHECK(bits_equal(a, b));
        CHECK(bits_equal(a, (double)exact));
    }
}

/* Two teams with the same per-case values in another case order share a rank on
 * every rule, and the means the board shows are the same bits. */
static void test_tie_in_another_order(void) {
    double v[2][2][3] = {{{0.1, 0.2, 0.3}, {1.1, 2.2, 3.3}}, {{0.3, 0.2, 0.1}, {3.3, 2.2, 1.1}}};
    int dirs[2] = {1, 0};
    sa_rank_table t1 = {2, 1, 3, &v[0][0][0], dirs};
    double only_dice[2][1][3] = {{{0.1, 0.2, 0.3}}, {{0.3, 0.2, 0.1}}};
    t1.values = &only_dice[0][0][0];
    sa_rank_table t2 = {2, 2, 3, &v[0][0][0], dirs};
    double key[2];
    int rank[2];
    sa_error err;
    CHECK(sa_rank_entries(&t1, SA_RANK_SCORE, NULL, 0, key, rank, &err) == 0);
    CHECK(bits_equal(key[0], key[1]) && rank[0] == 1 && rank[1] == 1);
    double score_key = key[0];
    CHECK(sa_rank_entries(&t2, SA_RANK_MEAN_RANK, NULL, 0, key, rank, &err) == 0);
    CHECK(key[0] == 1.0 && key[1] == 1.0 && rank[0] == 1 && rank[1] == 1);
    size_t cases[] = {2, 0, 1, 1};
    size_t cases_b[] = {1, 1, 2, 0};
    double ka[2], kb[2];
    CHECK(sa_rank_entries(&t1, SA_RANK_SCORE, cases, 4, ka, rank, &err) == 0);
    CHECK(sa_rank_entries(&t1, SA_RANK_SCORE, cases_b, 4, kb, rank, &err) == 0);
    CHECK(bits_equal(ka[0], kb[0]) && bits_equal(ka[1], kb[1]));
    sa_metric_stats a, b;
    CHECK(sa_metric_stats_compute(only_dice[0][0], 3, 0, 1, &a, &err) == 0);
    CHECK(sa_metric_stats_compute(only_dice[1][0], 3, 0, 1, &b, &err) == 0);
    CHECK(bits_equal(a.mean, b.mean) && bits_equal(a.std, b.std) && bits_equal(a.mean, score_key));
}

int main(int argc, char **argv) {
    test_classes();
    test_defined_values();
    test_failed_case();
    test_both_empty_case();
    test_one_empty_case();
    test_pet_accuracy();
    test_lesions();
    test_unknown();
    test_rng();
    test_stats_hand();
    test_stats_bootstrap();
    test_competition_ranks();
    test_rule_mean_rank();
    test_rule_rank_then_aggregate();
    test_rule_score();
    test_rank_errors();
    test_kendall();
    test_bootstrap_hand();
    test_bootstrap_brute_force();
    test_fsum();
    test_fsum_many_partials(argc > 1 ? argv[1] : NULL);
    test_tie_in_another_order();
    return test_report("test_ranking");
}
