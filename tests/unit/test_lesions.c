/*
 * test_lesions.c: lesion-wise detection (metrics/lesions.c), the MSSEG 2016 rule
 * of shared/spec/metrics.md. Small hand-made cases each isolate one condition of
 * the rule (alpha, beta, gamma, the tie-break, split and merged lesions, the
 * volume filter, connectivity, empty sets, PPV by the swapped rule), with the
 * working in a comment; then random masks against a dense, straightforward
 * implementation of the rule written here (the engine's table is sparse).
 *
 * Most cases lie on one row of voxels (ny = nz = 1): "x∈[a,b]" is the inclusive
 * set of voxels a..b. Spacing is 1 mm unless said, so volume = voxel count.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "metrics.h"


static void span(uint8_t *m, size_t x0, size_t x1) {
    for (size_t x = x0; x <= x1; x++) m[x] = 1;
}

/* Finds both sides' lesions and matches them; returns the matcher's rc. */
static int run_match(const uint8_t *ref, const uint8_t *pred, const sa_grid *g,
                     const sa_lesion_options *opt, sa_lesion_metrics *m) {
    sa_lesions *lr = NULL, *lt = NULL;
    sa_error err = {{0}};
    int rc = -1;
    if (sa_lesions_find(ref, g, opt, &lr, &err) == 0 && sa_lesions_find(pred, g, opt, &lt, &err) == 0)
        rc = sa_lesions_match(lr, lt, opt, m, &err);
    if (rc) fprintf(stderr, "run_match: %s\n", err.msg);
    sa_lesions_free(lr);
    sa_lesions_free(lt);
    return rc;
}

static sa_lesion_options opts_novolume(void) {
    sa_lesion_options o;
    sa_lesion_options_default(&o);
    o.min_volume_mm3 = 0; /* keep every component: the cases below isolate the rule */
    return o;
}

static void test_defaults_and_table(void) {
    sa_lesion_options o;
    sa_lesion_options_default(&o);
    CHECK(o.connectivity == 6);
    CHECK(o.min_volume_mm3 == 3.0 && o.alpha == 0.10 && o.beta == 0.70 && o.gamma == 0.65);
    size_t n = 0;
    const sa_lesion_metric_info *t = sa_lesion_metric_table(&n);
    static const char *names[] = {"lesion_sensitivity", "lesion_ppv", "lesion_f1",
                                  "lesions_ref", "lesions_pred", "lesions_ref_detected",
                                  "lesions_pred_detected", "lesions_fn", "lesions_fp"};
    CHECK(n == 9);
    for (size_t i = 0; i < n && i < 9; i++) {
        CHECK(strcmp(t[i].name, names[i]) == 0);
        CHECK(t[i].is_count == (i >= 3));
    }
    CHECK(t[0].offset == offsetof(sa_lesion_metrics, lesion_sensitivity));
    CHECK(t[8].offset == offsetof(sa_lesion_metrics, lesions_fp));
}

/* (a) alpha: "> alpha" is strict.
 * R = a 10x10 square (100 voxels). T lies inside R.
 *  - T = one row of 10 voxels: sum_j o = 10, 10/100 = 0.10, not > 0.10: R missed.
 *  - T = that row + one voxel above it (11 voxels, one 6-connected lesion):
 *    11/100 = 0.11 > 0.10, and T has 0 % outside R: R detected, Se = 1.
 * PPV, swapped rule: T's share 11/11 > alpha, but R (the lesion in T's list) has
 * 89/100 = 0.89 > beta of its voxels outside every T lesion: T not detected,
 * PPV = 0, F1 = 0. */
static void test_alpha(void) {
    sa_grid g = {12, 12, 1, {1, 1, 1}};
    uint8_t r[144] = {0}, t[144] = {0};
    for (size_t y = 0; y < 10; y++) span(r + 12 * y, 0, 9);
    span(t, 0, 9);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref == 1 && m.lesions_pred == 1);
    CHECK(m.lesions_ref_detected == 0 && m.lesion_sensitivity.value == 0.0 && !m.lesion_sensitivity.reason);
    CHECK(m.lesions_pred_detected == 0 && m.lesion_ppv.value == 0.0);
    t[12 * 1 + 0] = 1;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_pred == 1);
    CHECK(m.lesions_ref_detected == 1 && m.lesion_sensitivity.value == 1.0);
    CHECK(m.lesions_pred_detected == 0 && m.lesion_ppv.value == 0.0);
    CHECK(m.lesion_f1.value == 0.0 && !m.lesion_f1.reason);
    CHECK(m.lesions_fn == 0 && m.lesions_fp == 1);
}

/* (b) beta: a test lesion mostly outside every reference lesion.
 * R = x∈[0,49] (50 voxels).
 *  - T = x∈[20,119] (100): o = 30, 30/50 = 0.6 > alpha; T has 70/100 = 0.70
 *    outside R, "at most beta" holds: R detected (Se = 1).
 *  - T = x∈[21,120] (100): o = 29; 71/100 = 0.71 > beta: R missed (Se = 0).
 * PPV, swapped: T's share 30/100 (29/100) > alpha, and R has 20/50 = 0.4
 * (21/50 = 0.42) outside T, <= beta: T detected both times, PPV = 1. */
static void test_beta(void) {
    sa_grid g = {200, 1, 1, {1, 1, 1}};
    uint8_t r[200] = {0}, t[200] = {0};
    span(r, 0, 49);
    span(t, 20, 119);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref_detected == 1 && m.lesion_sensitivity.value == 1.0);
    CHECK(m.lesions_pred_detected == 1 && m.lesion_ppv.value == 1.0 && m.lesion_f1.value == 1.0);
    memset(t, 0, sizeof t);
    span(t, 21, 120);
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref_detected == 0 && m.lesion_sensitivity.value == 0.0);
    CHECK(m.lesions_pred_detected == 1 && m.lesion_ppv.value == 1.0);
    CHECK(m.lesion_f1.value == 0.0); /* 2*1*0/(1+0) */
    CHECK(m.lesions_fn == 1 && m.lesions_fp == 0);
}

/* (b) gamma: beta is checked only for the test lesions needed to reach 65 % of
 * R's overlap. R = x∈[0,99].
 *  - T1 = x∈[0,69] (70, inside R), T2 = x∈[71,199] (129 voxels, 29 in R, 100/129
 *    = 0.775 outside: fails beta). Sum o = 99 > 10. Decreasing o: T1 (70) is fine,
 *    cumulated share 70/99 = 0.707 >= 0.65: stop, T2 is never checked: detected.
 *  - T1 = x∈[0,59] (60), T2 = x∈[61,199] (139, 39 in R, 100/139 = 0.719 outside).
 *    T1 is fine, share 60/99 = 0.606 < 0.65, so T2 is checked: fails: missed. */
static void test_gamma(void) {
    sa_grid g = {300, 1, 1, {1, 1, 1}};
    uint8_t r[300] = {0}, t[300] = {0};
    span(r, 0, 99);
    span(t, 0, 69);
    span(t, 71, 199);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_pred == 2 && m.lesions_ref_detected == 1);
    /* PPV: T1 70/70, T2 29/129 = 0.22 > alpha; R has 1/100 outside T: both found */
    CHECK(m.lesions_pred_detected == 2);
    memset(t, 0, sizeof t);
    span(t, 0, 59);
    span(t, 61, 199);
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_pred == 2 && m.lesions_ref_detected == 0);
}

/* Tie-break: equal overlaps are taken in increasing lesion number (order of the
 * first voxel). With gamma = 0.5, the first of two equal contributors already
 * reaches the share, so only it is checked.
 *  - R = x∈[0,80] (81). T1 = x∈[0,39] (40, inside R), T2 = x∈[41,199] (159,
 *    40 in R, 119/159 = 0.748 outside: bad). o = 40, 40; T1 (lower number) is
 *    checked first: fine, 40/80 = 0.5 >= 0.5: detected.
 *  - Mirrored: R = x∈[119,199] (81), Tbad = x∈[0,158] (159, 40 in R, bad),
 *    Tgood = x∈[160,199] (40). Tbad has the lower number: checked first: missed.
 * With the default gamma 0.65 both are checked in both layouts: missed. */
static void test_tie_break(void) {
    sa_grid g = {200, 1, 1, {1, 1, 1}};
    uint8_t r[200] = {0}, t[200] = {0}, r2[200] = {0}, t2[200] = {0};
    span(r, 0, 80);
    span(t, 0, 39);
    span(t, 41, 199);
    span(r2, 119, 199);
    span(t2, 0, 158);
    span(t2, 160, 199);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    o.gamma = 0.5;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref_detected == 1);
    CHECK(run_match(r2, t2, &g, &o, &m) == 0);
    CHECK(m.lesions_ref_detected == 0);
    o.gamma = 0.65;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref_detected == 0);
    CHECK(run_match(r2, t2, &g, &o, &m) == 0);
    CHECK(m.lesions_ref_detected == 0);
}

/* A reference lesion split in two test lesions. R = x∈[0,99]; T1 = x∈[0,48],
 * T2 = x∈[50,99]. R: 99/100 > alpha; T2 (50) then T1 (49), both 0 % outside:
 * detected. Each T_j: 49/49, 50/50 > alpha; R has 1/100 outside every T: both
 * detected. Se = PPV = F1 = 1; #R = 1, #T = 2. */
static void test_split(void) {
    sa_grid g = {120, 1, 1, {1, 1, 1}};
    uint8_t r[120] = {0}, t[120] = {0};
    span(r, 0, 99);
    span(t, 0, 48);
    span(t, 50, 99);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref == 1 && m.lesions_pred == 2);
    CHECK(m.lesions_ref_detected == 1 && m.lesions_pred_detected == 2);
    CHECK(m.lesions_fn == 0 && m.lesions_fp == 0);
    CHECK(m.lesion_sensitivity.value == 1.0 && m.lesion_ppv.value == 1.0 && m.lesion_f1.value == 1.0);
}

/* Two reference lesions merged by one test lesion. R1 = x∈[0,40] (41),
 * R2 = x∈[60,99] (40), T = x∈[0,99] (100, 19 outside R: 0.19 <= beta).
 * R1: 41/41, R2: 40/40 > alpha, T fine: both detected. T: 81/100 > alpha; R1
 * (41, share 41/81 = 0.506) then R2, both 0 % outside T: detected. */
static void test_merge(void) {
    sa_grid g = {120, 1, 1, {1, 1, 1}};
    uint8_t r[120] = {0}, t[120] = {0};
    span(r, 0, 40);
    span(r, 60, 99);
    span(t, 0, 99);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesions_ref == 2 && m.lesions_pred == 1);
    CHECK(m.lesions_ref_detected == 2 && m.lesions_pred_detected == 1);
    CHECK(m.lesion_f1.value == 1.0);
}

/* PPV by the swapped rule, with a false positive. R = x∈[0,19]; T1 = x∈[0,19]
 * (same), T2 = x∈[40,49] far away. Se = 1; T1 detected, T2 has 0 overlap (0/10
 * not > alpha): PPV = 1/2, F1 = 2*0.5*1/1.5 = 2/3, one FP lesion. */
static void test_ppv_false_positive(void) {
    sa_grid g = {60, 1, 1, {1, 1, 1}};
    uint8_t r[60] = {0}, t[60] = {0};
    span(r, 0, 19);
    span(t, 0, 19);
    span(t, 40, 49);
    sa_lesion_options o = opts_novolume();
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g, &o, &m) == 0);
    CHECK(m.lesion_sensitivity.value == 1.0);
    CHECK_NEAR(m.lesion_ppv.value, 0.5, 0);
    CHECK_NEAR(m.lesion_f1.value, 2.0 / 3.0, 1e-15);
    CHECK(m.lesions_fp == 1 && m.lesions_fn == 0 && m.lesions_pred_detected == 1);
}

/* Volume filter: volume <= min_volume_mm3 is removed.
 * Spacing 0.5 x 2 x 3 mm: one voxel is exactly 3 mm^3 (0.5*2 = 1, *3 = 3):
 * a one-voxel component is removed (3 <= 3), a two-voxel one (6 mm^3) kept.
 * Spacing 1 mm: 3 voxels (3 mm^3) removed, 4 kept. */
static void test_volume_filter(void) {
    sa_grid g = {10, 1, 1, {0.5, 2.0, 3.0}};
    uint8_t m1[10] = {0};
    m1[0] = 1;
    span(m1, 3, 4);
    m1[8] = 1;
    sa_lesions *l = NULL;
    sa_error err = {{0}};
    CHECK(sa_lesions_find(m1, &g, NULL, &l, &err) == 0);
    CHECK(sa_lesions_count(l) == 1 && sa_lesions_removed(l) == 2);
    sa_lesions_free(l);
    sa_lesion_options o = opts_novolume();
    CHECK(sa_lesions_find(m1, &g, &o, &l, &err) == 0);
    CHECK(sa_lesions_count(l) == 3 && sa_lesions_removed(l) == 0);
    sa_lesions_free(l);

    sa_grid g1 = {12, 1, 1, {1, 1, 1}};
    uint8_t m2[12] = {0};
    span(m2, 0, 2); /* 3 mm^3: removed */
    span(m2, 5, 8); /* 4 mm^3: kept */
    CHECK(sa_lesions_find(m2, &g1, NULL, &l, &err) == 0);
    CHECK(sa_lesions_count(l) == 1 && sa_lesions_removed(l) == 1);
    sa_lesions_free(l);

    /* removed lesions do not count: a tiny predicted lesion is no FP, and a tiny
     * reference lesion is "outside every reference lesion" for beta.
     * R = x∈[0,9] + x∈[20,22] (removed); T = x∈[0,9] + x∈[30,31] (removed). */
    sa_grid g2 = {40, 1, 1, {1, 1, 1}};
    uint8_t r[40] = {0}, t[40] = {0};
    span(r, 0, 9);
    span(r, 20, 22);
    span(t, 0, 9);
    span(t, 30, 31);
    sa_lesion_metrics m;
    CHECK(run_match(r, t, &g2, NULL, &m) == 0);
    CHECK(m.lesions_ref == 1 && m.lesions_pred == 1 && m.lesion_f1.value == 1.0);
}

/* Empty lesion sets: none on either side: F1 = 1, Se and PPV null; one side
 * only: F1 = 0, the undefined one null; masks whose only components are removed
 * by the volume filter count as empty. */
static void test_empty(void) {
    sa_grid g = {10, 1, 1, {1, 1, 1}};
    uint8_t none[10] = {0}, some[10] = {0}, tiny[10] = {0};
    span(some, 2, 7);
    tiny[5] = 1;
    sa_lesion_metrics m;
    CHECK(run_match(none, none, &g, NULL, &m) == 0);
    CHECK(m.lesion_f1.value == 1.0 && !m.lesion_f1.reason);
    CHECK_STR_CONTAINS(m.lesion_sensitivity.reason, "no_reference_lesions");
    CHECK_STR_CONTAINS(m.lesion_ppv.reason, "no_predicted_lesions");
    CHECK(m.lesion_sensitivity.value == 0 && m.lesion_ppv.value == 0);
    CHECK(m.lesions_ref == 0 && m.lesions_pred == 0 && m.lesions_fn == 0 && m.lesions_fp == 0);

    CHECK(run_match(tiny, tiny, &g, NULL, &m) == 0); /* 1 mm^3 <= 3: both empty */
    CHECK(m.lesion_f1.value == 1.0 && m.lesion_sensitivity.reason && m.lesion_ppv.reason);

    CHECK(run_match(none, some, &g, NULL, &m) == 0); /* predicted only */
    CHECK(m.lesion_f1.value == 0.0 && !m.lesion_f1.reason);
    CHECK_STR_CONTAINS(m.lesion_sensitivity.reason, "no_reference_lesions");
    CHECK(!m.lesion_ppv.reason && m.lesion_ppv.value == 0.0);
    CHECK(m.lesions_pred == 1 && m.lesions_fp == 1);

    CHECK(run_match(some, none, &g, NULL, &m) == 0); /* reference only */
    CHECK(m.lesion_f1.value == 0.0);
    CHECK(!m.lesion_sensitivity.reason && m.lesion_sensitivity.value == 0.0);
    CHECK_STR_CONTAINS(m.lesion_ppv.reason, "no_predicted_lesions");
    CHECK(m.lesions_ref == 1 && m.lesions_fn == 1);
}

/* Connectivity changes the lesion count: two voxels sharing an edge are one
 * lesion at 18 and 26, two at 6; sharing a corner, one only at 26. */
static void test_connectivity(void) {
    sa_grid g = {3, 3, 3, {1, 1, 1}};
    uint8_t edge[27] = {0}, corner[27] = {0};
    edge[0] = edge[1 + 3 * 1] = 1;           /* (0,0,0), (1,1,0) */
    corner[0] = corner[1 + 3 * (1 + 3)] = 1; /* (0,0,0), (1,1,1) */
    static const int conn[3] = {6, 18, 26};
    static const size_t want_edge[3] = {2, 1, 1}, want_corner[3] = {2, 2, 1};
    sa_lesion_options o = opts_novolume();
    sa_error err = {{0}};
    for (int k = 0; k < 3; k++) {
        o.connectivity = conn[k];
        sa_lesions *l = NULL;
        CHECK(sa_lesions_find(edge, &g, &o, &l, &err) == 0);
        CHECK(sa_lesions_count(l) == want_edge[k]);
        sa_lesions_free(l);
        CHECK(sa_lesions_find(corner, &g, &o, &l, &err) == 0);
        CHECK(sa_lesions_count(l) == want_corner[k]);
        sa_lesions_free(l);
        /* and in matching: R = the edge pair, T = its first voxel only. At 6,
         * R1 = {(0,0,0)} detected, R2 missed: Se = 1/2; at 18/26 R = the pair,
         * 1/2 > alpha, T inside R: detected, Se = 1. */
        uint8_t t[27] = {0};
        t[0] = 1;
        sa_lesion_metrics m;
        CHECK(run_match(edge, t, &g, &o, &m) == 0);
        CHECK(m.lesion_sensitivity.value == (k == 0 ? 0.5 : 1.0));
    }
}

static void test_errors(void) {
    sa_grid g = {4, 4, 1, {1, 1, 1}};
    uint8_t mask[16] = {0};
    mask[5] = 1;
    sa_lesions *l = NULL, *l2 = NULL;
    sa_error err = {{0}};
    sa_lesion_options o;
    sa_lesion_options_default(&o);
    o.connectivity = 8;
    CHECK(sa_lesions_find(mask, &g, &o, &l, &err) == -1 && l == NULL);
    CHECK_STR_CONTAINS(err.msg, "connectivity");
    sa_lesion_options_default(&o);
    o.alpha = NAN;
    CHECK(sa_lesions_find(mask, &g, &o, &l, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "alpha");
    sa_lesion_options_default(&o);
    o.beta = 1.5;
    CHECK(sa_lesions_find(mask, &g, &o, &l, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "beta");
    sa_lesion_options_default(&o);
    o.gamma = -0.1;
    CHECK(sa_lesions_find(mask, &g, &o, &l, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "gamma");
    sa_lesion_options_default(&o);
    o.min_volume_mm3 = -1;
    CHECK(sa_lesions_find(mask, &g, &o, &l, &err) == -1);
    o.min_volume_mm3 = INFINITY;
    CHECK(sa_lesions_find(mask, &g, &o, &l, &err) == -1);
    CHECK(sa_lesions_find(NULL, &g, NULL, &l, &err) == -1);
    sa_grid bad = {4, 4, 1, {1, 0, 1}};
    CHECK(sa_lesions_find(mask, &bad, NULL, &l, &err) == -1);

    /* grids must match */
    sa_lesion_options_default(&o);
    sa_grid g2 = {16, 1, 1, {1, 1, 1}}, g3 = {4, 4, 1, {1, 1, 2}};
    sa_lesion_metrics m;
    CHECK(sa_lesions_find(mask, &g, NULL, &l, &err) == 0);
    CHECK(sa_lesions_find(mask, &g2, NULL, &l2, &err) == 0);
    CHECK(sa_lesions_match(l, l2, NULL, &m, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "grid");
    sa_lesions_free(l2);
    CHECK(sa_lesions_find(mask, &g3, NULL, &l2, &err) == 0);
    CHECK(sa_lesions_match(l, l2, NULL, &m, &err) == -1);
    sa_lesions_free(l2);
    /* options must be those the lesions were found with */
    o.connectivity = 26;
    CHECK(sa_lesions_find(mask, &g, &o, &l2, &err) == 0);
    CHECK(sa_lesions_match(l, l2, NULL, &m, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "connectivity");
    CHECK(sa_lesions_match(l2, l2, &o, &m, &err) == 0);
    o.alpha = 2;
    CHECK(sa_lesions_match(l2, l2, &o, &m, &err) == -1);
    sa_lesions_free(l);
    sa_lesions_free(l2);
    sa_lesions_free(NULL);
    CHECK(sa_lesions_count(NULL) == 0);
}

/* ---- Random masks against a dense implementation of the rule ------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1Du;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_unit(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

/* Lesion numbers per voxel (0 = none) after the volume filter, dense. */
static size_t dense_lesions(const uint8_t *mask, const sa_grid *g, const sa_lesion_options *o,
                            uint32_t *lab, uint64_t *size) {
    size_t n = sa_grid_voxels(g);
    uint32_t count = 0;
    sa_error err = {{0}};
    if (sa_connected_components(mask, g, o->connectivity, lab, &count, &err)) return 0;
    uint64_t *vox = calloc(count + 1, sizeof *vox);
    uint32_t *renum = calloc(count + 1, sizeof *renum);
    for (size_t i = 0; i < n; i++) vox[lab[i]]++;
    double vv = g->spacing[0] * g->spacing[1] * g->spacing[2];
    size_t kept = 0;
    for (uint32_t c = 1; c <= count; c++)
        if ((double)vox[c] * vv > o->min_volume_mm3) {
            renum[c] = (uint32_t)++kept;
            size[kept] = vox[c];
        }
    for (size_t i = 0; i < n; i++) lab[i] = lab[i] ? renum[lab[i]] : 0;
    free(vox);
    free(renum);
    return kept;
}

/* Detected lesions of side A (1..na) against side B, o[a*(nb+1) + b]. */
static uint64_t dense_detected(size_t na, size_t nb, const uint64_t *o, const uint64_t *size_a,
                               const uint64_t *size_b, const sa_lesion_options *opt, int swap) {
#define O(a, b) (swap ? o[(b) * (na + 1) + (a)] : o[(a) * (nb + 1) + (b)])
    uint64_t det = 0;
    for (size_t a = 1; a <= na; a++) {
        uint64_t total = 0;
        for (size_t b = 1; b <= nb; b++) total += O(a, b);
        if (!((double)total / (double)size_a[a] > opt->alpha)) continue;
        char *used = calloc(nb + 1, 1);
        uint64_t cum = 0;
        int ok = 1;
        for (;;) {
            size_t best = 0; /* largest unused overlap, lowest number on ties */
            for (size_t b = 1; b <= nb; b++)
                if (!used[b] && O(a, b) > 0 && (best == 0 || O(a, b) > O(a, best))) best = b;
            if (!best) break;
            used[best] = 1;
            uint64_t in = 0;
            for (size_t a2 = 1; a2 <= na; a2++) in += O(a2, best);
            if ((double)(size_b[best] - in) / (double)size_b[best] > opt->beta) {
                ok = 0;
                break;
            }
            cum += O(a, best);
            if ((double)cum / (double)total >= opt->gamma) break;
        }
        free(used);
        det += (uint64_t)ok;
    }
    return det;
#undef O
}

static void test_random_vs_dense(void) {
    int mismatches = 0, cases = 0;
    uint64_t sum_r = 0, sum_rd = 0, sum_t = 0, sum_td = 0;
    for (int iter = 0; iter < 300; iter++) {
        sa_grid g = {1 + rng() % 30, 1 + rng() % 12, 1 + rng() % 8,
                     {0.5 + rng_unit(), 0.5 + rng_unit(), 0.5 + 2 * rng_unit()}};
        size_t n = sa_grid_voxels(&g);
        uint8_t *r = malloc(n), *t = malloc(n);
        double dr = 0.05 + 0.5 * rng_unit(), dt = 0.05 + 0.5 * rng_unit();
        for (size_t i = 0; i < n; i++) {
            r[i] = rng_unit() < dr;
            /* the test mask is the reference with noise, so lesions overlap */
            t[i] = rng_unit() < 0.75 ? r[i] : rng_unit() < dt;
        }
        sa_lesion_options o;
        sa_lesion_options_default(&o);
        o.connectivity = (int[]){6, 18, 26}[iter % 3];
        o.min_volume_mm3 = 4 * rng_unit();
        o.alpha = 0.3 * rng_unit();
        o.beta = 0.3 + 0.7 * rng_unit();
        o.gamma = rng_unit();

        uint32_t *lr = malloc(n * sizeof *lr), *lt = malloc(n * sizeof *lt);
        uint64_t *sr = calloc(n + 1, sizeof *sr), *st = calloc(n + 1, sizeof *st);
        size_t nr = dense_lesions(r, &g, &o, lr, sr), nt = dense_lesions(t, &g, &o, lt, st);
        uint64_t *ov = calloc((nr + 1) * (nt + 1), sizeof *ov);
        for (size_t i = 0; i < n; i++) ov[lr[i] * (nt + 1) + lt[i]]++;
        /* only real pairs count */
        for (size_t a = 0; a <= nr; a++) ov[a * (nt + 1)] = 0;
        for (size_t b = 0; b <= nt; b++) ov[b] = 0;
        uint64_t want_r = dense_detected(nr, nt, ov, sr, st, &o, 0);
        uint64_t want_t = dense_detected(nt, nr, ov, st, sr, &o, 1);

        sa_lesion_metrics m;
        int rc = run_match(r, t, &g, &o, &m);
        cases++;
        sum_r += nr, sum_rd += want_r, sum_t += nt, sum_td += want_t;
        if (rc || m.lesions_ref != nr || m.lesions_pred != nt || m.lesions_ref_detected != want_r ||
            m.lesions_pred_detected != want_t) {
            mismatches++;
            fprintf(stderr, "random case %d: got R %llu/%llu T %llu/%llu, want R %llu/%zu T %llu/%zu\n",
                    iter, (unsigned long long)m.lesions_ref_detected,
                    (unsigned long long)m.lesions_ref, (unsigned long long)m.lesions_pred_detected,
                    (unsigned long long)m.lesions_pred, (unsigned long long)want_r, nr,
                    (unsigned long long)want_t, nt);
        }
        free(r);
        free(t);
        free(lr);
        free(lt);
        free(sr);
        free(st);
        free(ov);
    }
    printf("random masks: %d cases against the dense rule (%llu of %llu reference and %llu of "
           "%llu predicted lesions detected), %d mismatches\n",
           cases, (unsigned long long)sum_rd, (unsigned long long)sum_r, (unsigned long long)sum_td,
           (unsigned long long)sum_t, mismatches);
    CHECK(mismatches == 0);
}

int main(void) {
    test_defaults_and_table();
    test_alpha();
    test_beta();
    test_gamma();
    test_tie_break();
    test_split();
    test_merge();
    test_ppv_false_positive();
    test_volume_filter();
    test_empty();
    test_connectivity();
    test_errors();
    test_random_vs_dense();
    return test_report("test_lesions");
}
