/* test_case_result.c: the stored case-result JSON (docs/evaluator.md "Stored case
 * results"): its shape, every value read back bit for bit (nulls with their reasons
 * included), the human reference, the rater mean's counts, and the refusals (NaN,
 * missing human reference, duplicate rater ids, broken stored text). Masks are small
 * synthetic blobs scored with sa_score_multi. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "test.h"

#define NX 20
#define NY 20
#define NZ 10
static const sa_grid grid = {NX, NY, NZ, {0.8, 1.0, 1.5}};
static const char *const ids[3] = {"r1", "r2", "r3"};
static const sa_case_stamp stamp = {SA_METRIC_DEFINITION_VERSION, "ds-checksum", "sha256:image", "hash"};

/* Spheres of radius r (voxels) at the centres, or'ed into m. */
static void spheres(uint8_t *m, const double (*c)[3], int n, double r) {
    for (size_t z = 0; z < NZ; z++)
        for (size_t y = 0; y < NY; y++)
            for (size_t x = 0; x < NX; x++)
                for (int b = 0; b < n; b++) {
                    double dx = (double)x - c[b][0], dy = (double)y - c[b][1], dz = (double)z - c[b][2];
                    if (dx * dx + dy * dy + dz * dz <= r * r) m[x + NX * (y + NY * z)] = 1;
                }
}

static double expected_fov(void) {
    double s = 0;
    const size_t n[3] = {grid.nx, grid.ny, grid.nz};
    for (int a = 0; a < 3; a++) {
        double e = (double)n[a] * grid.spacing[a];
        s += e * e;
    }
    return sqrt(s);
}

static int same_value(sa_value stored, sa_value back) {
    if (stored.reason || back.reason) return stored.reason && back.reason && !strcmp(stored.reason, back.reason);
    return memcmp(&stored.value, &back.value, sizeof(double)) == 0;
}

/* The values read back equal the scores they were written from, bit for bit. */
static int same_scores(const sa_scores *sc, const sa_case_values *cv) {
    size_t n;
    const sa_metric_info *mt = sa_metric_table(&n);
    int ok = !cv->failed && cv->both_empty == sc->pair.both_empty && cv->has_lesions == sc->has_lesions;
    for (size_t i = 0; i < n; i++) {
        sa_value v = sa_metric_get(&sc->pair, &mt[i]);
        if (!same_value(v, cv->pair[i])) {
            fprintf(stderr, "  %s: %.17g (%s) read back as %.17g (%s)\n", mt[i].name, v.value,
                    v.reason ? v.reason : "defined", cv->pair[i].value, cv->pair[i].reason ? cv->pair[i].reason : "defined");
            ok = 0;
        }
    }
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&n);
    for (size_t i = 0; i < n && sc->has_lesions; i++) {
        sa_value v;
        const char *field = (const char *)&sc->lesions + lt[i].offset;
        if (lt[i].is_count) {
            uint64_t c;
            memcpy(&c, field, sizeof c);
            v = (sa_value){(double)c, NULL};
        } else {
            memcpy(&v, field, sizeof v);
        }
        if (!same_value(v, cv->lesion[i])) {
            fprintf(stderr, "  %s differs\n", lt[i].name);
            ok = 0;
        }
    }
    return ok;
}

/* Scores pred against the raters with the spec's options (and the human reference). */
static sa_multi_result *score(const uint8_t *pred, uint8_t *const *raters, size_t k, const sa_phase_spec *spec) {
    sa_multi_options opt;
    sa_phase_multi_options(spec, &opt);
    opt.human_reference = k >= 2;
    sa_multi_result *r = calloc(1, sizeof *r);
    sa_error err;
    if (sa_score_multi(pred, (const uint8_t *const *)raters, k, &grid, &opt, r, &err)) {
        fprintf(stderr, "sa_score_multi: %s\n", err.msg);
        free(r);
        return NULL;
    }
    return r;
}

static void free_result(sa_multi_result *r) {
    sa_multi_result_free(r);
    free(r);
}

static sa_phase_spec lesion_spec(sa_consensus_method method) {
    sa_phase_spec s;
    sa_phase_spec_default(&s);
    snprintf(s.name, sizeof s.name, "p");
    s.lesions = 1;
    s.lesion.min_volume_mm3 = 1.0;
    s.consensus.method = method;
    return s;
}

static void test_round_trip(void) {
    const size_t n = NX * NY * NZ;
    uint8_t *raters[3], *pred = calloc(n, 1);
    const double c[4][3] = {{5, 5, 3}, {14, 6, 5}, {9, 14, 6}, {15, 15, 2}};
    for (int k = 0; k < 3; k++) {
        raters[k] = calloc(n, 1);
        spheres(raters[k], c, 3 + (k > 0), 2.0 + 0.4 * k);
    }
    const double pc[3][3] = {{5.5, 5, 3}, {14, 7, 5}, {3, 16, 8}}; /* one lesion missed, one false */
    spheres(pred, pc, 3, 2.3);
    sa_phase_spec spec = lesion_spec(SA_CONSENSUS_STAPLE);
    sa_multi_result *r = score(pred, raters, 3, &spec);
    CHECK(r != NULL);
    if (!r) return;
    CHECK(r->vs_consensus.has_lesions && r->has_human_reference);

    char *text = NULL;
    sa_error err = {{0}};
    CHECK(sa_case_result_json(r, ids, &grid, &spec, &stamp, &text, &err) == 0);
    CHECK(text && !strstr(text, "NaN") && !strstr(text, "nan") && !strstr(text, "inf"));

    /* the shape */
    json_error_t jerr;
    json_t *root = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(root != NULL);
    const char *top[] = {"stamp", "conventions", "case", "consensus", "raters", "rater_mean", "staple"};
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(root, key, v) {
        CHECK(i < 7 && !strcmp(key, top[i]));
        i++;
    }
    CHECK(i == 7);
    json_t *st = json_object_get(root, "stamp");
    CHECK(json_integer_value(json_object_get(st, "metric_version")) == SA_METRIC_DEFINITION_VERSION);
    CHECK(!strcmp(json_string_value(json_object_get(st, "dataset_checksum")), "ds-checksum"));
    CHECK(!strcmp(json_string_value(json_object_get(st, "image_digest")), "sha256:image"));
    CHECK(!strcmp(json_string_value(json_object_get(st, "scoring_hash")), "hash"));
    json_t *conv = json_object_get(root, "conventions");
    CHECK(!strcmp(json_string_value(json_object_get(conv, "surface")), "inner boundary, 6-connectivity"));
    CHECK(!strcmp(json_string_value(json_object_get(conv, "percentile")), "linear (numpy default)"));
    CHECK(json_real_value(json_object_get(conv, "tau_mm")) == 1.0);
    CHECK(!strcmp(json_string_value(json_object_get(conv, "consensus")), "staple"));
    CHECK(!strcmp(json_string_value(json_object_get(conv, "label")), "any"));
    json_t *kase = json_object_get(root, "case");
    CHECK(json_real_value(json_object_get(kase, "fov_diagonal_mm")) == expected_fov());
    CHECK(json_is_false(json_object_get(kase, "both_empty")));
    CHECK(json_integer_value(json_object_get(kase, "raters")) == 3);
    json_t *cons = json_object_get(root, "consensus");
    size_t nm;
    const sa_metric_info *mt = sa_metric_table(&nm);
    for (size_t m = 0; m < nm; m++) CHECK(json_object_get(cons, mt[m].name) != NULL);
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&nm);
    for (size_t m = 0; m < nm; m++) {
        json_t *lv = json_object_get(cons, lt[m].name);
        CHECK(lv != NULL && (!lt[m].is_count || json_is_integer(lv)));
    }
    const char *counts[] = {"tp", "fp", "fn", "tn", "ref_voxels", "pred_voxels", "ref_surface_voxels",
                            "pred_surface_voxels"};
    for (size_t m = 0; m < sizeof counts / sizeof counts[0]; m++)
        CHECK(json_is_integer(json_object_get(cons, counts[m])));
    CHECK(json_integer_value(json_object_get(cons, "tp")) == (json_int_t)r->vs_consensus.pair.tp);
    CHECK(json_integer_value(json_object_get(cons, "lesions_fp")) == (json_int_t)r->vs_consensus.lesions.lesions_fp);
    CHECK(json_is_boolean(json_object_get(cons, "both_empty")));
    json_t *rs = json_object_get(root, "raters");
    i = 0;
    json_object_foreach(rs, key, v) CHECK(i < 3 && !strcmp(key, ids[i++]));
    CHECK(i == 3);
    CHECK(json_real_value(json_object_get(json_object_get(rs, "r2"), "dice")) == r->vs_rater[1].pair.dice.value);
    json_t *mean = json_object_get(root, "rater_mean");
    CHECK(json_real_value(json_object_get(mean, "dice")) == r->rater_mean.pair[0].value);
    CHECK(json_object_get(mean, "lesion_f1") != NULL && json_object_get(mean, "dice_raters") == NULL);
    json_t *staple = json_object_get(root, "staple");
    CHECK(json_object_size(staple) == 3);
    CHECK(json_real_value(json_object_get(json_object_get(staple, "r3"), "specificity")) ==
          r->consensus.specificity[2]);
    json_decref(root);

    /* every value back, bit for bit */
    sa_case_values cv;
    memset(&cv, 0, sizeof cv);
    CHECK(sa_case_values_from_json(text, &cv, &err) == 0);
    CHECK(same_scores(&r->vs_consensus, &cv));
    CHECK(memcmp(&cv.fov_diagonal_mm, &(double){expected_fov()}, sizeof(double)) == 0);
    CHECK(!strcmp(cv.scoring_hash, "hash")); /* the stamp's, which the leaderboard compares */
    /* the memo (memo.c) gives the same, the first time and from memory, and a
     * text differing in one character is not taken for this one */
    sa_case_values first, again, other; /* zeroed: memcmp also reads the padding */
    memset(&first, 0, sizeof first), memset(&again, 0, sizeof again), memset(&other, 0, sizeof other);
    CHECK(sa_case_values_from_json_cached(text, &first, &err) == 0);
    CHECK(sa_case_values_from_json_cached(text, &again, &err) == 0);
    CHECK(memcmp(&first, &cv, sizeof cv) == 0 && memcmp(&again, &cv, sizeof cv) == 0);
    char *dice = strstr(text, "\"dice\":");
    CHECK(dice != NULL);
    if (dice) {
        char *digit = dice + 7;
        while (*digit && (*digit < '1' || *digit > '8')) digit++;
        if (*digit) {
            (*digit)++; /* another value, same length */
            sa_case_values direct;
            memset(&direct, 0, sizeof direct);
            CHECK(sa_case_values_from_json_cached(text, &other, &err) == 0);
            CHECK(sa_case_values_from_json(text, &direct, &err) == 0);
            CHECK(memcmp(&other, &direct, sizeof direct) == 0 && memcmp(&other, &cv, sizeof cv) != 0);
        }
    }
    free(text);

    /* the human reference */
    CHECK(sa_human_reference_json(r, ids, &grid, &stamp, &text, &err) == 0);
    root = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(root && json_object_get(root, "stamp") && json_object_get(root, "case") && json_object_get(root, "raters") &&
          !json_object_get(root, "consensus"));
    json_decref(root);
    char **hr_ids = NULL;
    size_t n_ids = 0;
    CHECK(sa_human_json_raters(text, &hr_ids, &n_ids, &err) == 0 && n_ids == 3);
    for (size_t k = 0; k < n_ids; k++) {
        CHECK(!strcmp(hr_ids[k], ids[k]));
        free(hr_ids[k]);
    }
    free(hr_ids);
    for (size_t k = 0; k < 3; k++) {
        CHECK(sa_case_values_from_human_json(text, ids[k], &cv, &err) == 1);
        CHECK(same_scores(&r->human_reference[k], &cv));
        CHECK(cv.fov_diagonal_mm == expected_fov());
    }
    CHECK(sa_case_values_from_human_json(text, "r9", &cv, &err) == 0);
    CHECK(sa_case_values_from_human_json("{", "r1", &cv, &err) == -1);
    CHECK(sa_human_json_raters("[]", &hr_ids, &n_ids, &err) == -1 && hr_ids == NULL && n_ids == 0);
    free(text);

    /* refusals */
    sa_multi_result *bad = malloc(sizeof *bad);
    *bad = *r;
    bad->vs_consensus.pair.dice.value = NAN;
    CHECK(sa_case_result_json(bad, ids, &grid, &spec, &stamp, &text, &err) == -1 && text == NULL);
    CHECK_STR_CONTAINS(err.msg, "case result: consensus.dice: not a finite number");
    *bad = *r;
    bad->vs_rater[1].pair.hd.value = INFINITY;
    bad->vs_rater[1].pair.hd.reason = NULL;
    CHECK(sa_case_result_json(bad, ids, &grid, &spec, &stamp, &text, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "raters.r2.hd");
    *bad = *r;
    bad->has_human_reference = 0;
    CHECK(sa_human_reference_json(bad, ids, &grid, &stamp, &text, &err) == -1 && text == NULL);
    CHECK_STR_CONTAINS(err.msg, "human reference");
    const char *twice[3] = {"r1", "r1", "r3"};
    CHECK(sa_case_result_json(r, twice, &grid, &spec, &stamp, &text, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "\"r1\" is given twice");
    const char *missing[3] = {"r1", NULL, "r3"};
    CHECK(sa_case_result_json(r, missing, &grid, &spec, &stamp, &text, &err) == -1);
    CHECK(sa_case_result_json(r, ids, &grid, NULL, &stamp, &text, &err) == -1);
    free(bad);

    /* majority: no "staple" block; a label is written as a number */
    spec.consensus.method = SA_CONSENSUS_MAJORITY;
    spec.label = 3;
    CHECK(sa_case_result_json(r, ids, &grid, &spec, &stamp, &text, &err) == 0);
    root = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(root && !json_object_get(root, "staple") &&
          json_integer_value(json_object_get(json_object_get(root, "conventions"), "label")) == 3);
    json_decref(root);
    free(text);

    free_result(r);
    for (int k = 0; k < 3; k++) free(raters[k]);
    free(pred);
}

/* An empty prediction (nulls with reasons), a rater with an empty mask (the mean's
 * "<name>_raters" count), no lesions, and both-empty. */
static void test_nulls(void) {
    const size_t n = NX * NY * NZ;
    uint8_t *raters[3], *pred = calloc(n, 1);
    const double c[2][3] = {{6, 6, 4}, {13, 12, 5}};
    for (int k = 0; k < 3; k++) {
        raters[k] = calloc(n, 1);
        if (k < 2) spheres(raters[k], c, 2, 2.5 + k * 0.5);
    }
    sa_phase_spec spec = lesion_spec(SA_CONSENSUS_STAPLE);
    sa_multi_result *r = score(pred, raters, 3, &spec);
    CHECK(r != NULL);
    if (!r) return;
    char *text = NULL;
    sa_error err = {{0}};
    sa_case_values cv;
    CHECK(sa_case_result_json(r, ids, &grid, &spec, &stamp, &text, &err) == 0);
    CHECK(sa_case_values_from_json(text, &cv, &err) == 0);
    CHECK(same_scores(&r->vs_consensus, &cv));
    const sa_metric_info *hd95 = sa_metric_find("hd95");
    size_t i_hd95 = (size_t)(hd95 - sa_metric_table(&(size_t){0}));
    CHECK(cv.pair[i_hd95].reason && !strcmp(cv.pair[i_hd95].reason, SA_REASON_EMPTY_PREDICTION));
    CHECK(cv.pair[4].reason && !strcmp(cv.pair[4].reason, SA_REASON_EMPTY_PREDICTION)); /* ppv */
    CHECK(cv.pair[0].reason == NULL && cv.pair[0].value == 0);                        /* dice */
    CHECK(cv.has_lesions && cv.lesion[1].reason && !strcmp(cv.lesion[1].reason, SA_REASON_NO_PREDICTED_LESIONS));
    CHECK(cv.lesion[0].reason == NULL && cv.lesion[0].value == 0 && cv.lesion[3].value == 2); /* lesions_ref */
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    json_t *cons = json_object_get(root, "consensus");
    CHECK(json_is_null(json_object_get(cons, "hd95")) &&
          !strcmp(json_string_value(json_object_get(cons, "hd95_reason")), "empty_prediction"));
    json_t *r3 = json_object_get(json_object_get(root, "raters"), "r3");
    CHECK(json_is_true(json_object_get(r3, "both_empty")));
    json_t *mean = json_object_get(root, "rater_mean");
    /* sensitivity is undefined against the empty rater: mean over 2 */
    CHECK(json_integer_value(json_object_get(mean, "sensitivity_raters")) == 2);
    CHECK(json_object_get(mean, "dice_raters") == NULL);
    json_decref(root);
    free(text);
    free_result(r);

    /* no lesions, everything empty: both_empty and no lesion keys */
    memset(raters[0], 0, n), memset(raters[1], 0, n);
    spec.lesions = 0;
    r = score(pred, raters, 3, &spec);
    CHECK(r != NULL && !r->vs_consensus.has_lesions);
    if (r) {
        CHECK(sa_case_result_json(r, ids, &grid, &spec, &stamp, &text, &err) == 0);
        CHECK(sa_case_values_from_json(text, &cv, &err) == 0);
        CHECK(cv.both_empty == 1 && cv.has_lesions == 0 && same_scores(&r->vs_consensus, &cv));
        CHECK(!strstr(text, "lesion"));
        free(text);
        free_result(r);
    }

    /* one rater: no staple block, no human reference */
    spheres(raters[0], c, 2, 2.5);
    r = score(raters[0], raters, 1, &spec);
    CHECK(r != NULL);
    if (r) {
        CHECK(sa_case_result_json(r, ids, &grid, &spec, &stamp, &text, &err) == 0);
        CHECK(text && !strstr(text, "\"staple\":"));
        CHECK(sa_case_values_from_json(text, &cv, &err) == 0 && cv.pair[0].value == 1);
        free(text);
        CHECK(sa_human_reference_json(r, ids, &grid, &stamp, &text, &err) == -1);
        free_result(r);
    }
    for (int k = 0; k < 3; k++) free(raters[k]);
    free(pred);
}

static void test_failed_and_broken(void) {
    sa_case_values cv;
    sa_case_values_failed(&cv, 123.5);
    CHECK(cv.failed == 1 && cv.fov_diagonal_mm == 123.5 && !cv.both_empty);
    for (size_t i = 0; i < 24; i++) CHECK(cv.pair[i].reason != NULL);
    for (size_t i = 0; i < 12; i++) CHECK(cv.lesion[i].reason != NULL);

    sa_error err = {{0}};
    CHECK(sa_case_values_from_json("not json", &cv, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "case result: not JSON");
    CHECK(sa_case_values_from_json("{\"case\": {\"fov_diagonal_mm\": 3}}", &cv, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "consensus");
    CHECK(sa_case_values_from_json(NULL, &cv, &err) == -1);

    /* build a stored text by hand: unknown reasons read as "undefined" */
    json_t *cons = json_object();
    size_t n;
    const sa_metric_info *mt = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++) json_object_set_new(cons, mt[i].name, json_real(0.5));
    json_object_set_new(cons, "dice", json_null());
    json_object_set_new(cons, "dice_reason", json_string("cosmic_rays"));
    json_object_set_new(cons, "ppv", json_null()); /* no reason at all */
    json_object_set_new(cons, "both_empty", json_false());
    json_t *root = json_pack("{s:{s:f},s:o}", "case", "fov_diagonal_mm", 10.0, "consensus", cons);
    char *text = json_dumps(root, 0);
    CHECK(sa_case_values_from_json(text, &cv, &err) == 0);
    CHECK(cv.pair[0].reason && !strcmp(cv.pair[0].reason, "undefined"));
    CHECK(cv.pair[4].reason && !strcmp(cv.pair[4].reason, "undefined"));
    CHECK(cv.pair[1].reason == NULL && cv.pair[1].value == 0.5 && cv.has_lesions == 0 && cv.fov_diagonal_mm == 10);
    free(text);
    /* some lesion metrics but not all */
    json_object_set_new(cons, "lesion_f1", json_real(1));
    text = json_dumps(root, 0);
    CHECK(sa_case_values_from_json(text, &cv, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "some lesion metrics are missing");
    free(text);
    /* a metric missing, a metric of the wrong type */
    json_object_del(cons, "lesion_f1");
    json_object_del(cons, "nsd");
    text = json_dumps(root, 0);
    CHECK(sa_case_values_from_json(text, &cv, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "consensus.nsd: missing");
    free(text);
    json_object_set_new(cons, "nsd", json_string("high"));
    text = json_dumps(root, 0);
    CHECK(sa_case_values_from_json(text, &cv, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "consensus.nsd: not a number or null");
    free(text);
    json_decref(root);
}

int main(void) {
    test_round_trip();
    test_nulls();
    test_failed_and_broken();
    return test_report("test_case_result");
}
