/*
 * test_board.c: the leaderboard (evaluator/leaderboard.c) and a run's aggregate
 * (evaluator/aggregate_run.c) on a store filled by hand: phases, teams,
 * submissions, runs whose case results are written here, then the board's ranks,
 * keys and means checked against numbers worked out in the comments. Covers the
 * three leaderboard_entry rules and all_entries, the three ranking rules, a tie
 * sharing a rank, a failed case (0 Dice, distance cap HD95), a case missing from
 * a run, the latest done run of a submission, the field-of-view fallback, a fixed
 * distance cap, the human reference rows, entries scored under another scoring
 * hash than the phase's (left unranked, listed as needing a rescore) and the JSON.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evaluator.h"
#include "store.h"
#include "test.h"

#define TOL 1e-9

/* A JSON string's text, or "" when it is not a string. */
static const char *text_of(const json_t *v) {
    return json_is_string(v) ? json_string_value(v) : "";
}

static sa_store *st;
static char data_dir[4096] = "/tmp/segarena-board-XXXXXX";

/* One case of a fixture run: scores, or a failure class. */
typedef struct case_fixture {
    const char *id;
    double fov, dice, hd95, volume;
    const char *failure; /* NULL: succeeded */
} case_fixture;

/* The stored JSON of a scored case, as sa_case_values_from_json reads it: the
 * stamp's scoring hash (omitted when NULL), the "case" object and the
 * "consensus" metrics, every published metric present (those not given here
 * null with a reason). */
static int drop_dice; /* 1: results without "dice", as older metric definitions could leave them */

static char *result_json(const char *hash, double fov, double dice, double hd95, double volume) {
    json_t *consensus = json_object();
    size_t n;
    const sa_metric_info *table = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++) {
        const char *name = table[i].name;
        double v = !strcmp(name, "dice") ? dice : !strcmp(name, "hd95") ? hd95
                                                : !strcmp(name, "volume_pred_ml") ? volume : NAN;
        if (isnan(v)) {
            char key[64];
            snprintf(key, sizeof key, "%s_reason", name);
            json_object_set_new(consensus, name, json_null());
            json_object_set_new(consensus, key, json_string("empty_reference"));
        } else {
            json_object_set_new(consensus, name, json_real(v));
        }
    }
    json_object_set_new(consensus, "both_empty", json_false());
    if (drop_dice) json_object_del(consensus, "dice");
    json_t *root = json_pack("{s:{s:f}, s:o}", "case", "fov_diagonal_mm", fov, "consensus", consensus);
    if (hash) json_object_set_new(root, "stamp", json_pack("{s:s}", "scoring_hash", hash));
    char *text = json_dumps(root, JSON_REAL_PRECISION(17));
    json_decref(root);
    return text;
}

static int64_t add_submission(int64_t phase_id, int64_t team_id, double created, const char *status) {
    static int serial;
    sa_submission_row in;
    memset(&in, 0, sizeof in);
    in.phase_id = phase_id;
    in.team_id = team_id;
    snprintf(in.status, sizeof in.status, "%s", status);
    if (!strcmp(status, "ready")) snprintf(in.image_digest, sizeof in.image_digest, "sha256:%064d", ++serial);
    else in.intake_reason = "no entrypoint";
    in.created = created;
    int64_t id = 0;
    sa_error err;
    int rc = sa_store_submission_add(st, &in, &id, &err);
    if (rc) fprintf(stderr, "submission: %s\n", err.msg);
    CHECK(rc == 0);
    return id;
}

/* The dataset checksum of the fixture's dataset "ds". */
#define CHECKSUM "0000000000000000000000000000000000000000000000000000000000000007"

/* The scoring hash of a stored phase spec with the fixture dataset. */
static void stored_spec_hash(const char *spec_json, char hash[65]) {
    sa_phase_spec spec;
    sa_problems problems;
    sa_error err;
    sa_problems_init(&problems);
    CHECK(sa_phase_spec_parse(spec_json, "fixture", &spec, &problems, &err) == 0);
    sa_problems_free(&problems);
    sa_phase_scoring_hash(&spec, CHECKSUM, hash);
}

/* Creates a run of the cases, completes every job with the fixture's result
 * (stamped with the scoring hash of the phase's spec, as a worker does), stores
 * the run's aggregate and marks it done (queue_only: leaves it queued). */
static int64_t add_run(int64_t phase_id, int64_t submission_id, const char *kind, int64_t parent,
                       const case_fixture *cases, size_t n, int queue_only) {
    sa_phase_row phase;
    sa_error err;
    CHECK(sa_store_phase_get_by_id(st, phase_id, &phase, &err) == 1);
    char hash[65];
    stored_spec_hash(phase.spec_json, hash);
    const char *ids[8];
    for (size_t i = 0; i < n; i++) ids[i] = cases[i].id;
    int64_t run_id = 0;
    int rc = sa_store_run_create(st, submission_id, phase_id, kind, parent, phase.spec_json, ids, n, &run_id, NULL, &err);
    if (rc) fprintf(stderr, "run: %s\n", err.msg);
    CHECK(rc == 0);
    sa_phase_row_free(&phase);
    if (queue_only) return run_id;
    sa_job_row job;
    while (sa_store_job_claim(st, "test-board", 60, NULL, NULL, &job, &err) == 1) {
        CHECK(job.run_id == run_id);
        const case_fixture *f = NULL;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(cases[i].id, job.case_id)) f = &cases[i];
        CHECK(f != NULL);
        if (!f) break;
        sa_case_result_row res;
        memset(&res, 0, sizeof res);
        snprintf(res.status, sizeof res.status, "%s", f->failure ? "failed" : "succeeded");
        snprintf(res.error_class, sizeof res.error_class, "%s", f->failure ? f->failure : "succeeded");
        res.peak_memory_bytes = -1;
        res.exit_code = f->failure ? -1 : 0;
        res.result_json = f->failure ? NULL : result_json(hash, f->fov, f->dice, f->hd95, f->volume);
        res.metric_version = SA_METRIC_DEFINITION_VERSION;
        /* a platform failure that could not read the dataset records no checksum */
        snprintf(res.dataset_checksum, sizeof res.dataset_checksum, "%s",
                 f->failure && !strcmp(f->failure, "engine_error: platform error") ? "" : CHECKSUM);
        res.attempts = job.attempts;
        res.fov_diagonal_mm = f->fov; /* a failed fixture's 0: not recorded (older results) */
        rc = sa_store_job_complete(st, &job, &res, &err);
        if (rc != 1) fprintf(stderr, "job complete: %s\n", err.msg);
        CHECK(rc == 1);
        free(res.result_json);
    }
    char *aggregate = NULL;
    if (drop_dice) /* the aggregate of its own time, which these definitions cannot redo */
        rc = (aggregate = strdup("{}")) ? 0 : -1;
    else
        rc = sa_run_aggregate_json(st, run_id, &aggregate, &err);
    if (rc) fprintf(stderr, "aggregate: %s\n", err.msg);
    CHECK(rc == 0);
    CHECK(sa_store_run_finish(st, run_id, aggregate, &err) == 1);
    free(aggregate);
    return run_id;
}

/* Stores spec as the phase's (update) or creates the phase (phase_id 0). */
static int64_t put_spec(int64_t challenge_id, int64_t dataset_id, int64_t phase_id, const sa_phase_spec *spec) {
    char *json;
    sa_error err;
    int rc = sa_phase_spec_to_json(spec, &json, &err);
    if (rc) fprintf(stderr, "spec: %s\n", err.msg);
    CHECK(rc == 0);
    if (phase_id) rc = sa_store_phase_update_spec(st, phase_id, 0, json, 0, NULL, &err);
    else rc = sa_store_phase_add(st, challenge_id, spec->name, dataset_id, json, &phase_id, &err);
    if (rc) fprintf(stderr, "phase: %s\n", err.msg);
    CHECK(rc == 0);
    free(json);
    return phase_id;
}

static void base_spec(sa_phase_spec *spec, const char *name) {
    sa_phase_spec_default(spec);
    snprintf(spec->name, sizeof spec->name, "%s", name);
    snprintf(spec->title, sizeof spec->title, "Test phase %s", name);
    snprintf(spec->dataset, sizeof spec->dataset, "ds");
    snprintf(spec->input_roles[0], sizeof spec->input_roles[0], "flair");
    spec->n_input_roles = 1;
    static const char *const metrics[] = {"dice", "hd95", "volume_pred_ml"};
    for (size_t i = 0; i < 3; i++) snprintf(spec->metrics[i], sizeof spec->metrics[i], "%s", metrics[i]);
    spec->n_metrics = 3;
    spec->bootstrap_resamples = 200;
    spec->human_reference = 0;
}

/* DATA_DIR/datasets/NAME/dataset.json with cases c1..c5 (no image files: the
 * board reads the geometry only): c1 100 x 100 x 100 voxels of 1 mm, c2 200 x 100
 * x 100 of 1 mm, c3 100 x 100 x 50 of 1 x 1 x 2 mm (diagonal 100√3 mm), c4 and c5
 * 10 x 10 x 10 of 3 mm (30√3 mm). */
static void write_manifest(const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/datasets", data_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/datasets/%s", data_dir, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/datasets/%s/dataset.json", data_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    static const struct {
        const char *id;
        int size[3];
        double spacing[3];
    } cases[] = {{"c1", {100, 100, 100}, {1, 1, 1}}, {"c2", {200, 100, 100}, {1, 1, 1}},
                 {"c3", {100, 100, 50}, {1, 1, 2}}, {"c4", {10, 10, 10}, {3, 3, 3}},
                 {"c5", {10, 10, 10}, {3, 3, 3}}};
    fprintf(f, "{\"schema\": \"segarena-dataset/1\", \"name\": \"%s\", \"kind\": \"ms\", \"description\": \"\", "
               "\"roles\": [\"flair\"], \"raters\": [\"r1\"], \"created\": \"2024-01-01T00:00:00Z\", "
               "\"source\": {\"layout\": \"plain\", \"path\": \"\"}, \"cases\": [",
            name);
    for (size_t i = 0; i < 5; i++)
        fprintf(f, "%s{\"id\": \"%s\", \"split\": \"test\", \"geometry\": {\"size\": [%d, %d, %d], "
                   "\"spacing\": [%g, %g, %g], \"origin\": [0, 0, 0], \"direction\": [1, 0, 0, 0, 1, 0, 0, 0, 1]}, "
                   "\"inputs\": {\"flair\": {\"path\": \"cases/%s/flair.nii.gz\", \"sha256\": \"%064d\", \"bytes\": 1}}, "
                   "\"raters\": {\"r1\": {\"path\": \"cases/%s/raters/r1.nii.gz\", \"sha256\": \"%064d\", \"bytes\": 1}}}",
                i ? ", " : "", cases[i].id, cases[i].size[0], cases[i].size[1], cases[i].size[2], cases[i].spacing[0],
                cases[i].spacing[1], cases[i].spacing[2], cases[i].id, 1, cases[i].id, 2);
    fprintf(f, "]}\n");
    fclose(f);
}

static void remove_manifest(const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/datasets/%s/dataset.json", data_dir, name);
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/datasets/%s", data_dir, name);
    rmdir(path);
}

static int build(int64_t phase_id, int all_entries, sa_board *b) {
    sa_error err;
    int rc = sa_board_build(st, phase_id, all_entries, b, &err);
    if (rc) fprintf(stderr, "board: %s\n", err.msg);
    CHECK(rc == 0);
    return rc;
}

/* The row of a submission, or NULL. */
static const sa_board_row *row_of(const sa_board *b, int64_t submission_id) {
    for (size_t r = 0; r < b->n_rows; r++)
        if (b->rows[r].submission_id == submission_id) return &b->rows[r];
    return NULL;
}

#define DICE 0
#define HD95 1
#define VOLUME 2

/* Phase 1 (metrics dice, hd95, volume_pred_ml; mean_rank on dice and hd95;
 * distance cap 0 = the case's field of view: c1 100, c2 200, c3 300 mm):
 *   alpha A0 (t 900)  c1 .9/2  c2 .8/4   c3 .7/6   dice .8      hd95 4
 *   alpha A1 (t 1000) the same as A0                dice .8      hd95 4
 *   gamma G1 (t 1200) the same as A0                dice .8      hd95 4
 *   beta  B1 (t 1500) c1 .8/3  c2 .8/5   c3 missing: 0 / 300
 *                                                   dice 1.6/3   hd95 308/3
 *                     (its first run, worse, was rescored: the rescore counts)
 *   alpha A2 (t 2000) c1 .6/10 c2 timeout: 0 / 200 (c2's diagonal as others
 *                     scored it)  c3 .5/20          dice 1.1/3   hd95 230/3
 *   gamma G2 (t 3000) only a cancelled run: not an entry; G3 (t 3500) invalid. */
static int64_t A0, A1, A2, B1, G1, G2, run_A2;

static int64_t phase1(int64_t challenge_id, int64_t dataset_id, sa_phase_spec *spec) {
    base_spec(spec, "val");
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, spec);
    int64_t alpha, beta, gamma;
    sa_error err;
    CHECK(sa_store_team_add(st, "alpha", &alpha, &err) == 0);
    CHECK(sa_store_team_add(st, "beta", &beta, &err) == 0);
    CHECK(sa_store_team_add(st, "gamma", &gamma, &err) == 0);
    static const case_fixture good[] = {{"c1", 100, .9, 2, 10, NULL}, {"c2", 200, .8, 4, 20, NULL},
                                        {"c3", 300, .7, 6, 30, NULL}};
    static const case_fixture b_first[] = {{"c1", 100, .1, 50, 8, NULL}, {"c2", 200, .1, 50, 9, NULL}};
    static const case_fixture b_rescored[] = {{"c1", 100, .8, 3, 8, NULL}, {"c2", 200, .8, 5, 9, NULL}};
    static const case_fixture a2[] = {{"c1", 100, .6, 10, 5, NULL}, {"c2", 0, 0, 0, 0, "timeout"},
                                      {"c3", 300, .5, 20, 15, NULL}};
    A0 = add_submission(phase_id, alpha, 900, "ready");
    add_run(phase_id, A0, "evaluate", 0, good, 3, 0);
    A1 = add_submission(phase_id, alpha, 1000, "ready");
    add_run(phase_id, A1, "evaluate", 0, good, 3, 0);
    G1 = add_submission(phase_id, gamma, 1200, "ready");
    add_run(phase_id, G1, "evaluate", 0, good, 3, 0);
    B1 = add_submission(phase_id, beta, 1500, "ready");
    int64_t first = add_run(phase_id, B1, "evaluate", 0, b_first, 2, 0);
    add_run(phase_id, B1, "rescore", first, b_rescored, 2, 0);
    A2 = add_submission(phase_id, alpha, 2000, "ready");
    run_A2 = add_run(phase_id, A2, "evaluate", 0, a2, 3, 0);
    G2 = add_submission(phase_id, gamma, 3000, "ready");
    CHECK(sa_store_run_cancel(st, add_run(phase_id, G2, "evaluate", 0, good, 3, 1), &err) == 1);
    add_submission(phase_id, gamma, 3500, "invalid");
    return phase_id;
}

static void test_latest(int64_t phase_id) {
    /* latest: gamma G1, beta B1, alpha A2.
     * dice means .8, .5333, .3667 -> ranks 1, 2, 3; hd95 4, 102.67, 76.67 -> 1, 3, 2;
     * mean ranks: G1 1, B1 2.5, A2 2.5 -> ranks 1, 2, 2 (a tie shares rank 2);
     * order: rank, then time: G1, B1 (t 1500), A2 (t 2000). */
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3);
    CHECK(b.n_cases == 3);
    CHECK(!strcmp(b.case_ids[0], "c1") && !strcmp(b.case_ids[1], "c2") && !strcmp(b.case_ids[2], "c3"));
    CHECK(!strcmp(b.challenge, "demo") && !strcmp(b.phase, "val"));
    CHECK(b.published == 0);
    CHECK(b.n_human == 0);
    if (b.n_rows == 3) {
        CHECK(b.rows[0].submission_id == G1 && b.rows[0].rank == 1);
        CHECK(b.rows[1].submission_id == B1 && b.rows[1].rank == 2);
        CHECK(b.rows[2].submission_id == A2 && b.rows[2].rank == 2);
        CHECK_NEAR(b.rows[0].key, 1.0, TOL);
        CHECK_NEAR(b.rows[1].key, 2.5, TOL);
        CHECK_NEAR(b.rows[2].key, 2.5, TOL);
        CHECK(!strcmp(b.rows[0].team, "gamma") && !strcmp(b.rows[2].team, "alpha"));
        CHECK_NEAR(b.rows[1].submitted, 1500, 0);
        /* G1: dice .9 .8 .7: mean .8, median .8, std .1 */
        CHECK_NEAR(b.rows[0].stats[DICE].mean, 0.8, TOL);
        CHECK_NEAR(b.rows[0].stats[DICE].median, 0.8, TOL);
        CHECK_NEAR(b.rows[0].stats[DICE].std, 0.1, TOL);
        CHECK(b.rows[0].stats[DICE].n == 3);
        CHECK(b.rows[0].stats[DICE].ci_lo >= 0.7 - TOL && b.rows[0].stats[DICE].ci_hi <= 0.9 + TOL);
        CHECK(b.rows[0].stats[DICE].ci_lo < 0.8 && b.rows[0].stats[DICE].ci_hi > 0.8);
        CHECK_NEAR(b.rows[0].stats[HD95].mean, 4.0, TOL);
        CHECK_NEAR(b.rows[0].stats[VOLUME].mean, 20.0, TOL);
        /* B1: c3 missing: dice 0, hd95 = c3's diagonal 300, volume left out */
        CHECK_NEAR(b.rows[1].stats[DICE].mean, 1.6 / 3, TOL);
        CHECK_NEAR(b.rows[1].stats[HD95].mean, 308.0 / 3, TOL);
        CHECK(b.rows[1].stats[VOLUME].n == 2);
        CHECK_NEAR(b.rows[1].stats[VOLUME].mean, 8.5, TOL);
        CHECK(b.rows[1].n_failed == 1 && b.rows[1].n_cases == 3);
        CHECK(!strcmp(b.case_class[1 * 3 + 2], "missing"));
        CHECK(!strcmp(b.case_class[1 * 3 + 0], "succeeded"));
        CHECK_NEAR(b.values[(1 * 3 + HD95) * 3 + 2], 300, 0);
        CHECK_NEAR(b.values[(1 * 3 + DICE) * 3 + 2], 0, 0);
        CHECK(isnan(b.values[(1 * 3 + VOLUME) * 3 + 2]));
        /* A2: c2 timed out: dice 0, hd95 200 (c2's diagonal from the others) */
        CHECK_NEAR(b.rows[2].stats[DICE].mean, 1.1 / 3, TOL);
        CHECK_NEAR(b.rows[2].stats[HD95].mean, 230.0 / 3, TOL);
        CHECK_NEAR(b.rows[2].stats[VOLUME].mean, 10.0, TOL);
        CHECK(b.rows[2].n_failed == 1);
        CHECK(!strcmp(b.case_class[2 * 3 + 1], "timeout"));
        CHECK_NEAR(b.values[(2 * 3 + HD95) * 3 + 1], 200, 0);
        /* bootstrap: ran (3 rows), ranks within 1..3 */
        CHECK(b.bootstrap.resamples == 200);
        for (size_t r = 0; r < b.n_rows; r++)
            CHECK(b.rows[r].stability.rank_lo >= 1 && b.rows[r].stability.rank_hi <= 3 &&
                  b.rows[r].stability.rank_lo <= b.rows[r].stability.median_rank &&
                  b.rows[r].stability.median_rank <= b.rows[r].stability.rank_hi);
    }

    /* JSON: parses back with the same ranks; per-case values with nulls */
    char *text = NULL;
    sa_error err;
    CHECK(sa_board_to_json(&b, SA_BOARD_JSON_CASES, &text, &err) == 0);
    CHECK(text && !strstr(text, "NaN") && !strstr(text, "nan"));
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(root != NULL);
    json_t *rows = json_object_get(root, "rows");
    CHECK(json_array_size(rows) == 3);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 0), "rank")) == 1);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 1), "rank")) == 2);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 2), "rank")) == 2);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 1), "submission_id")) == B1);
    CHECK(!strcmp(text_of(json_object_get(json_array_get(rows, 1), "submitted")),
                  "1970-01-01T00:25:00Z"));
    CHECK_NEAR(json_real_value(json_object_get(json_array_get(rows, 2), "key")), 2.5, 0);
    json_t *b1_dice = json_object_get(json_object_get(json_array_get(rows, 1), "metrics"), "dice");
    CHECK_NEAR(json_number_value(json_object_get(b1_dice, "mean")), 1.6 / 3, 0);
    CHECK(json_integer_value(json_object_get(b1_dice, "n")) == 3);
    json_t *b1_c3 = json_object_get(json_object_get(json_array_get(rows, 1), "cases"), "c3");
    CHECK(!strcmp(text_of(json_object_get(b1_c3, "class")), "missing"));
    CHECK_NEAR(json_number_value(json_object_get(b1_c3, "hd95")), 300, 0);
    CHECK(json_is_null(json_object_get(b1_c3, "volume_pred_ml")));
    CHECK(json_array_size(json_object_get(root, "case_ids")) == 3);
    CHECK(json_is_false(json_object_get(root, "published")));
    CHECK(!strcmp(text_of(json_object_get(root, "rule")), "mean_rank"));
    CHECK(!strcmp(text_of(json_object_get(root, "leaderboard_entry")), "latest"));
    CHECK(json_integer_value(json_object_get(root, "cases")) == 3);
    json_t *ranked = json_object_get(root, "ranked_metrics");
    CHECK(!strcmp(text_of(json_object_get(json_array_get(ranked, 1), "direction")), "lower"));
    CHECK_STR_CONTAINS(json_string_value(json_object_get(root, "missing_case_policy")), "field-of-view diagonal");
    CHECK_STR_CONTAINS(json_string_value(json_object_get(root, "missing_case_policy")),
                       "for lesion-wise metrics: when neither mask has a lesion after the volume filter");
    /* a fixed cap is named exactly as the spec holds it (not rounded to 4 digits) */
    {
        sa_phase_spec capped;
        sa_phase_spec_default(&capped);
        char policy[1024];
        const double caps[] = {123.45, 99999.5, 1234567, 50, 0.1};
        const char *const shown[] = {"(123.45 mm)", "(99999.5 mm)", "(1234567 mm)", "(50 mm)", "(0.1 mm)"};
        for (size_t i = 0; i < 5; i++) {
            capped.distance_cap_mm = caps[i];
            sa_missing_case_policy(&capped, policy, sizeof policy);
            CHECK_STR_CONTAINS(policy, shown[i]);
        }
    }
    CHECK(json_integer_value(json_object_get(json_object_get(root, "bootstrap"), "resamples")) == 200);
    json_decref(root);
    free(text);
    /* without cases: no per-case keys */
    CHECK(sa_board_to_json(&b, 0, &text, &err) == 0);
    CHECK(text && !strstr(text, "case_ids") && !strstr(text, "\"class\""));
    CHECK(text && !strchr(text, '\n') && !strncmp(text, "{\"challenge\":\"demo\",", 20)); /* compact */
    free(text);

    /* the view without case details: over 3 cases the median and the CI are
     * single cases' values, and the std with the mean gives away 2 of them (over
     * 2 cases mean ± std / √2 are both): dropped in a hidden phase, kept with
     * case details */
    double mean = b.rows[1].stats[DICE].mean, median = b.rows[1].stats[DICE].median;
    CHECK(b.rows[1].stats[DICE].n == 3 && 3 < SA_BOARD_MIN_HIDDEN_VALUES);
    b.spec.show_case_details = 1;
    sa_board_public_view(&b);
    CHECK(b.rows[1].stats[DICE].median == median && isfinite(b.rows[1].stats[DICE].ci_lo) &&
          isfinite(b.rows[1].stats[DICE].std));
    b.spec.show_case_details = 0;
    sa_board_public_view(&b);
    for (size_t r = 0; r < b.n_rows; r++)
        for (size_t m = 0; m < b.spec.n_metrics; m++) {
            const sa_metric_stats *s = &b.rows[r].stats[m];
            CHECK(s->n == 0 || (isnan(s->median) && isnan(s->std) && isnan(s->ci_lo) && isnan(s->ci_hi) &&
                                isfinite(s->mean)));
        }
    CHECK(b.rows[1].stats[DICE].mean == mean);
    CHECK(sa_board_to_json(&b, 0, &text, &err) == 0);
    root = text ? json_loads(text, 0, NULL) : NULL;
    b1_dice = json_object_get(json_object_get(json_array_get(json_object_get(root, "rows"), 1), "metrics"),
                              "dice");
    CHECK(json_is_number(json_object_get(b1_dice, "mean")) && json_is_null(json_object_get(b1_dice, "std")));
    CHECK(json_is_null(json_object_get(b1_dice, "median")) && json_is_null(json_object_get(b1_dice, "ci_lo")) &&
          json_is_null(json_object_get(b1_dice, "ci_hi")));
    json_decref(root);
    free(text);
    sa_board_free(&b);
}

/* Stored text that is not valid UTF-8 (a team name of an older version, a case
 * id, a class): every key stays in the board JSON, with U+FFFD for each bad
 * byte (jansson refuses such a string; the key used to be left out). */
static void test_non_utf8_text(int64_t phase_id) {
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3 && b.n_cases == 3);
    if (b.n_rows != 3 || b.n_cases != 3) {
        sa_board_free(&b);
        return;
    }
    snprintf(b.rows[1].team, sizeof b.rows[1].team, "be\xfft");
    snprintf(b.challenge, sizeof b.challenge, "de\xc3mo");
    free(b.case_ids[0]);
    b.case_ids[0] = strdup("c\xff" "1");
    free(b.case_class[1 * 3 + 0]);
    b.case_class[1 * 3 + 0] = strdup("exit_code \xe2\x28");
    char *text = NULL;
    sa_error err;
    CHECK(sa_board_to_json(&b, SA_BOARD_JSON_CASES, &text, &err) == 0);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(root != NULL);
    json_t *row = json_array_get(json_object_get(root, "rows"), 1);
    CHECK(!strcmp(text_of(json_object_get(row, "team")), "be\xEF\xBF\xBDt"));
    CHECK(!strcmp(text_of(json_object_get(root, "challenge")), "de\xEF\xBF\xBDmo"));
    CHECK(!strcmp(text_of(json_array_get(json_object_get(root, "case_ids"), 0)), "c\xEF\xBF\xBD" "1"));
    json_t *c1 = json_object_get(json_object_get(row, "cases"), "c\xEF\xBF\xBD" "1");
    CHECK(json_is_object(c1));
    CHECK(!strcmp(text_of(json_object_get(c1, "class")), "exit_code \xEF\xBF\xBD("));
    for (size_t r = 0; r < 3; r++)
        CHECK(json_is_string(json_object_get(json_array_get(json_object_get(root, "rows"), r), "team")));
    json_decref(root);
    free(text);
    sa_board_free(&b);
}

static void test_all_entries(int64_t phase_id) {
    /* every entry: A0, A1, G1 share rank 1 (identical); dice ranks B1 4, A2 5;
     * hd95 ranks A2 4, B1 5; mean ranks 4.5 and 4.5 -> both rank 4.
     * Order: A0 (900), A1 (1000), G1 (1200), B1 (1500), A2 (2000). */
    sa_board b;
    if (build(phase_id, 1, &b)) return;
    CHECK(b.n_rows == 5);
    int64_t order[] = {A0, A1, G1, B1, A2};
    int ranks[] = {1, 1, 1, 4, 4};
    double keys[] = {1, 1, 1, 4.5, 4.5};
    for (size_t r = 0; r < 5 && r < b.n_rows; r++) {
        CHECK(b.rows[r].submission_id == order[r]);
        CHECK(b.rows[r].rank == ranks[r]);
        CHECK_NEAR(b.rows[r].key, keys[r], TOL);
    }
    CHECK(row_of(&b, G2) == NULL);
    sa_board_free(&b);
}

static void test_best(int64_t phase_id, int64_t challenge_id, int64_t dataset_id, sa_phase_spec *spec) {
    /* best: all entries ranked as in test_all_entries; alpha's best is rank 1,
     * shared by A0 and A1: the earlier, A0. Rows A0, G1, B1 re-ranked: dice .8, .8,
     * .533 and hd95 4, 4, 102.67 -> keys 1, 1, 3 -> ranks 1, 1, 3. */
    spec->leaderboard_entry = SA_ENTRY_BEST;
    put_spec(challenge_id, dataset_id, phase_id, spec);
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3);
    if (b.n_rows == 3) {
        CHECK(b.rows[0].submission_id == A0 && b.rows[0].rank == 1);
        CHECK(b.rows[1].submission_id == G1 && b.rows[1].rank == 1);
        CHECK(b.rows[2].submission_id == B1 && b.rows[2].rank == 3);
        CHECK_NEAR(b.rows[2].key, 3, TOL);
    }
    sa_board_free(&b);
}

static void test_selected(int64_t phase_id, int64_t challenge_id, int64_t dataset_id, sa_phase_spec *spec) {
    /* selected: alpha selected A1 (neither its latest nor, by tie-break, its best),
     * beta B1, gamma nothing (no row). A1 beats B1 on both metrics: keys 1 and 2. */
    sa_error err;
    CHECK(sa_store_submission_select(st, A1, &err) == 0);
    CHECK(sa_store_submission_select(st, B1, &err) == 0);
    spec->leaderboard_entry = SA_ENTRY_SELECTED;
    put_spec(challenge_id, dataset_id, phase_id, spec);
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 2);
    if (b.n_rows == 2) {
        CHECK(b.rows[0].submission_id == A1 && b.rows[0].rank == 1);
        CHECK(b.rows[1].submission_id == B1 && b.rows[1].rank == 2);
        CHECK_NEAR(b.rows[0].key, 1, TOL);
        CHECK_NEAR(b.rows[1].key, 2, TOL);
    }
    sa_board_free(&b);
}

static void test_rank_then_aggregate(int64_t phase_id, int64_t challenge_id, int64_t dataset_id,
                                     sa_phase_spec *spec) {
    /* rank_then_aggregate, latest (G1, B1, A2), ranks per case:
     *   dice  c1 .9 .8 .6 -> 1 2 3; c2 .8 .8 0 -> 1 1 3; c3 .7 0 .5 -> 1 3 2
     *   hd95  c1 2 3 10 -> 1 2 3;   c2 4 5 200 -> 1 2 3; c3 6 300 20 -> 1 3 2
     * sums 6, 13, 16 over 6 ranks: keys 1, 13/6, 16/6. */
    spec->leaderboard_entry = SA_ENTRY_LATEST;
    spec->rule = SA_RANK_THEN_AGGREGATE;
    put_spec(challenge_id, dataset_id, phase_id, spec);
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3);
    if (b.n_rows == 3) {
        CHECK(b.rows[0].submission_id == G1 && b.rows[0].rank == 1);
        CHECK(b.rows[1].submission_id == B1 && b.rows[1].rank == 2);
        CHECK(b.rows[2].submission_id == A2 && b.rows[2].rank == 3);
        CHECK_NEAR(b.rows[0].key, 1, TOL);
        CHECK_NEAR(b.rows[1].key, 13.0 / 6, TOL);
        CHECK_NEAR(b.rows[2].key, 16.0 / 6, TOL);
    }
    sa_board_free(&b);
}

static void test_score(int64_t phase_id, int64_t challenge_id, int64_t dataset_id, sa_phase_spec *spec) {
    /* score on dice, latest: keys are the dice means .8 (G1), .5333 (B1), .3667 (A2). */
    spec->rule = SA_RANK_SCORE;
    spec->n_ranked = 1; /* dice */
    put_spec(challenge_id, dataset_id, phase_id, spec);
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3);
    if (b.n_rows == 3) {
        CHECK(b.rows[0].submission_id == G1 && b.rows[0].rank == 1);
        CHECK(b.rows[1].submission_id == B1 && b.rows[1].rank == 2);
        CHECK(b.rows[2].submission_id == A2 && b.rows[2].rank == 3);
        CHECK_NEAR(b.rows[0].key, 0.8, TOL);
        CHECK_NEAR(b.rows[1].key, 1.6 / 3, TOL);
        CHECK_NEAR(b.rows[2].key, 1.1 / 3, TOL);
    }
    sa_board_free(&b);
}

static void test_run_aggregate(void) {
    /* A2's run: 3 cases, 2 succeeded, 1 timeout; dice (.6 + 0 + .5) / 3; hd95
     * (10 + 200 + 20) / 3 with c2's diagonal from another run of the phase; volume
     * over the 2 scored cases: (5 + 15) / 2. */
    char *text = NULL;
    sa_error err;
    int rc = sa_run_aggregate_json(st, run_A2, &text, &err);
    if (rc) fprintf(stderr, "aggregate: %s\n", err.msg);
    CHECK(rc == 0);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(root != NULL);
    CHECK(json_integer_value(json_object_get(root, "cases")) == 3);
    CHECK(json_integer_value(json_object_get(root, "succeeded")) == 2);
    CHECK(json_integer_value(json_object_get(json_object_get(root, "failed"), "timeout")) == 1);
    CHECK(json_integer_value(json_object_get(root, "metric_version")) == SA_METRIC_DEFINITION_VERSION);
    json_t *metrics = json_object_get(root, "metrics");
    json_t *dice = json_object_get(metrics, "dice"), *hd95 = json_object_get(metrics, "hd95");
    json_t *volume = json_object_get(metrics, "volume_pred_ml");
    CHECK_NEAR(json_number_value(json_object_get(dice, "mean")), 1.1 / 3, TOL);
    CHECK_NEAR(json_number_value(json_object_get(dice, "median")), 0.5, TOL);
    CHECK(json_integer_value(json_object_get(dice, "n")) == 3);
    CHECK_NEAR(json_number_value(json_object_get(hd95, "mean")), 230.0 / 3, TOL);
    CHECK_NEAR(json_number_value(json_object_get(volume, "mean")), 10, TOL);
    CHECK(json_integer_value(json_object_get(volume, "n")) == 2);
    /* std of 5 and 15: sqrt(50) */
    CHECK_NEAR(json_number_value(json_object_get(volume, "std")), sqrt(50.0), TOL);
    json_decref(root);
    /* the stored aggregate is the same text, compact */
    sa_run_row run;
    CHECK(sa_store_run_get(st, run_A2, &run, &err) == 1);
    CHECK(run.aggregate_json && text && !strcmp(run.aggregate_json, text));
    CHECK_STR_CONTAINS(run.aggregate_json, "\"failed\":{\"timeout\":1}");
    sa_run_row_free(&run);
    free(text);
    CHECK(sa_run_aggregate_json(st, 999999, &text, &err) == -1);
}

/* Phase 2: one team (delta, D1): c1 fov 100 .5/8 vol 1, c2 fov 250 .7/6 vol 3,
 * c3 failed "exit_code 3" (recording no diagonal, as results before schema 4)
 * and nobody scored c3. With no manifest of the dataset, c3's diagonal is known
 * nowhere: its hd95 has no value (never 0 mm, the best one; never another
 * case's diagonal): dice .4, hd95 (8 + 6) / 2 = 7 over n 2, volume 2 over 2
 * cases. With the dataset's manifest (c3: 100 x 100 x 50 voxels of 1 x 1 x 2
 * mm, diagonal 100√3 mm), hd95 (8 + 6 + 100√3) / 3.
 * Human reference stored for c1, c2, c3 and c9 (not on the board): r1 on every
 * case, r2 not on c3; c3's records no diagonal (0), so it gives none, and c3,
 * left out for the team, is left out of the raters' rows too (same cases). */
static void test_phase2(int64_t challenge_id, int64_t dataset_id, const char *checksum) {
    sa_phase_spec spec;
    base_spec(&spec, "test");
    spec.human_reference = 1;
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    sa_error err;
    int64_t delta;
    CHECK(sa_store_team_add(st, "delta", &delta, &err) == 0);
    int64_t d1 = add_submission(phase_id, delta, 5000, "ready");
    static const case_fixture cases[] = {{"c1", 100, .5, 8, 1, NULL}, {"c2", 250, .7, 6, 3, NULL},
                                         {"c3", 0, 0, 0, 0, "exit_code 3"}};
    int64_t run = add_run(phase_id, d1, "evaluate", 0, cases, 3, 0);
    CHECK(sa_store_phase_set_published(st, phase_id, 1, &err) == 0);

    /* human reference, keyed by the phase's scoring hash */
    char hash[65];
    sa_phase_scoring_hash(&spec, checksum, hash);
    static const struct {
        const char *case_id;
        double fov, r1_dice, r1_hd95, r2_dice, r2_hd95; /* r2 NaN: absent */
    } human[] = {{"c1", 100, .8, 2, .6, 4}, {"c2", 250, .9, 1, .7, 3}, {"c3", 0, .85, 1.5, NAN, NAN},
                 {"c9", 100, .1, 90, .1, 90}};
    for (size_t i = 0; i < 4; i++) {
        char *r1 = result_json(NULL, human[i].fov, human[i].r1_dice, human[i].r1_hd95, 1);
        char *r2 = isnan(human[i].r2_dice) ? NULL : result_json(NULL, human[i].fov, human[i].r2_dice, human[i].r2_hd95, 1);
        json_t *j1 = json_loads(r1, 0, NULL), *j2 = r2 ? json_loads(r2, 0, NULL) : NULL;
        json_t *raters = json_object();
        json_object_set(raters, "r1", json_object_get(j1, "consensus"));
        if (j2) json_object_set(raters, "r2", json_object_get(j2, "consensus"));
        json_t *root = json_pack("{s:O, s:o}", "case", json_object_get(j1, "case"), "raters", raters);
        char *text = json_dumps(root, JSON_REAL_PRECISION(17));
        CHECK(sa_store_human_ref_put(st, hash, human[i].case_id, text, &err) == 0);
        free(text);
        json_decref(root);
        json_decref(j1);
        json_decref(j2);
        free(r1);
        free(r2);
    }

    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.published == 1);
    CHECK(b.n_rows == 1);
    if (b.n_rows == 1) {
        CHECK(b.rows[0].rank == 1 && b.rows[0].submission_id == d1 && b.rows[0].run_id == run);
        CHECK_NEAR(b.rows[0].stats[DICE].mean, 0.4, TOL);
        CHECK_NEAR(b.rows[0].stats[HD95].mean, 7, TOL);
        CHECK(b.rows[0].stats[HD95].n == 2 && b.rows[0].stats[DICE].n == 3 && b.rows[0].n_failed == 1);
        CHECK(b.n_cases == 3 && isnan(b.values[HD95 * 3 + 2]));
        CHECK_NEAR(b.rows[0].stats[VOLUME].mean, 2, TOL);
        CHECK(!strcmp(b.case_class[2], "exit_code 3"));
        /* one row: no bootstrap; stability is the rank itself */
        CHECK(b.bootstrap.resamples == 0 && b.bootstrap.tau_defined == 0);
        CHECK_NEAR(b.rows[0].stability.median_rank, 1, 0);
        CHECK_NEAR(b.rows[0].stability.rank_lo, 1, 0);
        CHECK_NEAR(b.rows[0].stability.rank_hi, 1, 0);
    }
    /* r1 over c1, c2 (c3 left out as for the team, c9 is not on the board): dice
     * .85, hd95 1.5; r2 over c1, c2: dice .65, hd95 3.5 */
    CHECK(b.n_human == 2);
    if (b.n_human == 2) {
        CHECK(!strcmp(b.human[0].rater, "r1") && !strcmp(b.human[0].team, "rater r1"));
        CHECK(b.human[0].rank == 0 && b.human[0].n_cases == 2);
        CHECK_NEAR(b.human[0].stats[DICE].mean, 0.85, TOL);
        CHECK_NEAR(b.human[0].stats[HD95].mean, 1.5, TOL);
        CHECK(!strcmp(b.human[1].rater, "r2") && b.human[1].n_cases == 2);
        CHECK_NEAR(b.human[1].stats[DICE].mean, 0.65, TOL);
        CHECK_NEAR(b.human[1].stats[HD95].mean, 3.5, TOL);
    }
    char *text = NULL;
    CHECK(sa_board_to_json(&b, 0, &text, &err) == 0);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    json_t *h = json_object_get(root, "human_reference");
    CHECK(json_array_size(h) == 2);
    CHECK(!strcmp(text_of(json_object_get(json_array_get(h, 1), "rater")), "r2"));
    CHECK_NEAR(json_number_value(json_object_get(
                   json_object_get(json_object_get(json_array_get(h, 1), "metrics"), "dice"), "mean")),
               0.65, TOL);
    CHECK(json_is_true(json_object_get(root, "published")));
    CHECK(json_is_null(json_object_get(json_object_get(root, "bootstrap"), "tau_mean")));
    CHECK(b.n_cases_without_cap == 1 && json_integer_value(json_object_get(root, "cases_without_distance_cap")) == 1);
    json_decref(root);
    free(text);
    sa_board_free(&b);

    /* the run's aggregate likewise: hd95 7 over 2 cases, and says why */
    CHECK(sa_run_aggregate_json(st, run, &text, &err) == 0);
    root = text ? json_loads(text, 0, NULL) : NULL;
    json_t *hd = json_object_get(json_object_get(root, "metrics"), "hd95");
    CHECK_NEAR(json_number_value(json_object_get(hd, "mean")), 7, TOL);
    CHECK(json_integer_value(json_object_get(hd, "n")) == 2);
    CHECK(json_integer_value(json_object_get(root, "cases_without_distance_cap")) == 1);
    CHECK(json_integer_value(json_object_get(json_object_get(root, "failed"), "exit_code 3")) == 1);
    json_decref(root);
    free(text);

    /* the dataset's manifest gives c3's diagonal: board and run aggregate alike */
    write_manifest("ds");
    double c3_fov = sqrt(100.0 * 100 + 100.0 * 100 + 100.0 * 100);
    if (build(phase_id, 0, &b)) return;
    if (b.n_rows == 1) {
        CHECK_NEAR(b.rows[0].stats[HD95].mean, (8 + 6 + c3_fov) / 3, TOL);
        CHECK(b.rows[0].stats[HD95].n == 3 && b.values[HD95 * 3 + 2] == c3_fov);
    }
    CHECK(b.n_cases_without_cap == 0);
    CHECK(b.n_human == 2 && b.human[0].n_cases == 3); /* c3 is ranked: the raters' rows have it */
    sa_board_free(&b);
    CHECK(sa_run_aggregate_json(st, run, &text, &err) == 0);
    root = text ? json_loads(text, 0, NULL) : NULL;
    hd = json_object_get(json_object_get(root, "metrics"), "hd95");
    CHECK_NEAR(json_number_value(json_object_get(hd, "mean")), (8 + 6 + c3_fov) / 3, TOL);
    CHECK(json_integer_value(json_object_get(root, "cases_without_distance_cap")) == 0);
    json_decref(root);
    free(text);
    remove_manifest("ds");

    /* a fixed distance cap of 50 mm: hd95 (8 + 6 + 50) / 3 */
    spec.distance_cap_mm = 50;
    put_spec(challenge_id, dataset_id, phase_id, &spec);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 1);
    if (b.n_rows == 1) CHECK_NEAR(b.rows[0].stats[HD95].mean, 64.0 / 3, TOL);
    CHECK(b.n_human == 2);
    sa_board_free(&b);

    /* a fixed cap of 7 mm below a scored distance: c1's 8 counts as 7, as the
     * failed c3 does (failing a case never beats scoring it): (7 + 6 + 7) / 3,
     * and the run's aggregate agrees */
    spec.distance_cap_mm = 7;
    put_spec(challenge_id, dataset_id, phase_id, &spec);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 1);
    if (b.n_rows == 1) {
        CHECK_NEAR(b.rows[0].stats[HD95].mean, 20.0 / 3, TOL);
        CHECK(b.values[HD95 * b.n_cases + 0] == 7 && b.values[HD95 * b.n_cases + 1] == 6);
    }
    char policy[1024];
    sa_missing_case_policy(&b.spec, policy, sizeof policy);
    CHECK_STR_CONTAINS(policy, "(7 mm)");
    CHECK_STR_CONTAINS(policy, "a scored distance above the cap counts as the cap");
    sa_board_free(&b);
    /* back to 50 mm, which the CLI test (test_cli_results.py) reads in this store */
    spec.distance_cap_mm = 50;
    put_spec(challenge_id, dataset_id, phase_id, &spec);
}

/* Phase "fovsrc": one team (kappa, K1) with two runs: the first scored c1 (fov
 * 100, hd95 8) and c2 (fov 250, hd95 6); the second, its evaluation, scored c1
 * and failed c2 and c3 without recording a diagonal. No manifest. c2's diagonal
 * comes from the first run (not a board entry), before the human reference's
 * (999); c3's from the human reference (300): hd95 (8 + 250 + 300) / 3 over 3
 * cases on the board and in the run's aggregate alike, and the rater's row over
 * the same 3 cases. */
static void test_fov_sources(int64_t challenge_id, int64_t dataset_id) {
    sa_phase_spec spec;
    base_spec(&spec, "fovsrc");
    spec.human_reference = 1;
    spec.label = 2; /* a scoring hash of its own: no other phase's human reference */
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    sa_error err;
    int64_t kappa;
    CHECK(sa_store_team_add(st, "kappa-fov", &kappa, &err) == 0);
    int64_t k1 = add_submission(phase_id, kappa, 7000, "ready");
    static const case_fixture first[] = {{"c1", 100, .5, 8, 1, NULL}, {"c2", 250, .7, 6, 3, NULL}};
    static const case_fixture second[] = {
        {"c1", 100, .5, 8, 1, NULL}, {"c2", 0, 0, 0, 0, "timeout"}, {"c3", 0, 0, 0, 0, "exit_code 3"}};
    add_run(phase_id, k1, "evaluate", 0, first, 2, 0);
    int64_t run = add_run(phase_id, k1, "evaluate", 0, second, 3, 0);
    char hash[65];
    sa_phase_scoring_hash(&spec, CHECKSUM, hash);
    static const struct {
        const char *case_id;
        double fov;
    } human[] = {{"c1", 100}, {"c2", 999}, {"c3", 300}};
    for (size_t i = 0; i < 3; i++) {
        char *r1 = result_json(NULL, human[i].fov, .8, 2, 1);
        json_t *j1 = json_loads(r1, 0, NULL);
        json_t *root = json_pack("{s:O, s:{s:O}}", "case", json_object_get(j1, "case"), "raters", "r1",
                                 json_object_get(j1, "consensus"));
        char *text = json_dumps(root, JSON_REAL_PRECISION(17));
        CHECK(sa_store_human_ref_put(st, hash, human[i].case_id, text, &err) == 0);
        free(text);
        json_decref(root);
        json_decref(j1);
        free(r1);
    }
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 1 && b.n_cases == 3 && b.n_cases_without_cap == 0);
    if (b.n_rows == 1 && b.n_cases == 3) {
        CHECK(b.rows[0].run_id == run);
        CHECK_NEAR(b.rows[0].stats[HD95].mean, (8 + 250 + 300) / 3.0, TOL);
        CHECK(b.rows[0].stats[HD95].n == 3);
        CHECK(b.values[HD95 * 3 + 1] == 250 && b.values[HD95 * 3 + 2] == 300);
    }
    CHECK(b.n_human == 1 && b.human[0].n_cases == 3);
    sa_board_free(&b);
    char *text = NULL;
    CHECK(sa_run_aggregate_json(st, run, &text, &err) == 0);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    json_t *hd = json_object_get(json_object_get(root, "metrics"), "hd95");
    CHECK_NEAR(json_number_value(json_object_get(hd, "mean")), (8 + 250 + 300) / 3.0, TOL);
    CHECK(json_integer_value(json_object_get(hd, "n")) == 3);
    CHECK(json_integer_value(json_object_get(root, "cases_without_distance_cap")) == 0);
    json_decref(root);
    free(text);
}

/* The stale entry of a submission, or NULL. */
static const sa_board_stale *stale_of(const sa_board *b, int64_t submission_id) {
    for (size_t i = 0; i < b->n_stale; i++)
        if (b->stale[i].submission_id == submission_id) return &b->stale[i];
    return NULL;
}

/* Phase "rescore": entries scored under different scoring hashes.
 *   eps E1 (t 100)   c1 .9/2 c2 .8/4, scored with tau 1 (the first spec)
 *   eta H1 (t 150)   both cases timed out, under tau 1 (no stamp: the run's spec)
 *   theta T1 (t 160) like E1, but its results lack "dice" (unreadable now)
 *   zeta Z1 (t 200)  c1 .5/9 c2 .4/8, scored after `phase update` set tau 2
 * The board ranks only Z1 and lists E1, H1 and T1 as needing a rescore; a ranked
 * lesion metric that no stored result has leaves every entry stale, and the
 * board still builds; E1 rescored under the current spec is ranked again. */
static void test_rescoring(int64_t challenge_id, int64_t dataset_id) {
    sa_phase_spec spec;
    base_spec(&spec, "rescore");
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    char old_hash[65], new_hash[65];
    sa_phase_scoring_hash(&spec, CHECKSUM, old_hash);
    sa_error err;
    int64_t eps, eta, zeta;
    CHECK(sa_store_team_add(st, "eps", &eps, &err) == 0);
    CHECK(sa_store_team_add(st, "eta", &eta, &err) == 0);
    CHECK(sa_store_team_add(st, "zeta", &zeta, &err) == 0);
    static const case_fixture good[] = {{"c1", 100, .9, 2, 10, NULL}, {"c2", 200, .8, 4, 20, NULL}};
    static const case_fixture timeouts[] = {{"c1", 0, 0, 0, 0, "timeout"}, {"c2", 0, 0, 0, 0, "timeout"}};
    static const case_fixture weak[] = {{"c1", 100, .5, 9, 10, NULL}, {"c2", 200, .4, 8, 20, NULL}};
    int64_t e1 = add_submission(phase_id, eps, 100, "ready");
    int64_t e1_run = add_run(phase_id, e1, "evaluate", 0, good, 2, 0);
    int64_t h1 = add_submission(phase_id, eta, 150, "ready");
    int64_t h1_run = add_run(phase_id, h1, "evaluate", 0, timeouts, 2, 0);
    /* theta T1 (t 160): results these metric definitions cannot read, stamped
     * with the first hash: stale, not an error */
    int64_t theta;
    CHECK(sa_store_team_add(st, "theta", &theta, &err) == 0);
    int64_t t1 = add_submission(phase_id, theta, 160, "ready");
    drop_dice = 1;
    int64_t t1_run = add_run(phase_id, t1, "evaluate", 0, good, 2, 0);
    drop_dice = 0;
    spec.tau_mm = 2; /* in the scoring hash */
    put_spec(challenge_id, dataset_id, phase_id, &spec);
    sa_phase_scoring_hash(&spec, CHECKSUM, new_hash);
    CHECK(strcmp(old_hash, new_hash) != 0);
    int64_t z1 = add_submission(phase_id, zeta, 200, "ready");
    add_run(phase_id, z1, "evaluate", 0, weak, 2, 0);

    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(!strcmp(b.scoring_hash, new_hash));
    CHECK(b.n_rows == 1 && b.n_cases == 2);
    if (b.n_rows == 1) {
        CHECK(b.rows[0].submission_id == z1 && b.rows[0].rank == 1);
        CHECK_NEAR(b.rows[0].stats[DICE].mean, 0.45, TOL);
    }
    CHECK(b.n_stale == 3 && stale_of(&b, t1) != NULL);
    const sa_board_stale *se = stale_of(&b, e1), *sh = stale_of(&b, h1);
    CHECK(se && se->run_id == e1_run && !strcmp(se->team, "eps") && !strcmp(se->scoring_hash, old_hash));
    CHECK(sh && sh->run_id == h1_run && !strcmp(sh->scoring_hash, old_hash));
    char *text = NULL;
    CHECK(sa_board_to_json(&b, 0, &text, &err) == 0);
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(!strcmp(text_of(json_object_get(root, "scoring_hash")), new_hash));
    json_t *stale = json_object_get(root, "needs_rescoring");
    CHECK(json_array_size(stale) == 3);
    json_t *first = json_array_get(stale, 0);
    CHECK(!strcmp(text_of(json_object_get(first, "team")), "eps"));
    CHECK(json_integer_value(json_object_get(first, "submission_id")) == e1);
    CHECK(json_integer_value(json_object_get(first, "run_id")) == e1_run);
    CHECK(!strcmp(text_of(json_object_get(first, "scoring_hash")), old_hash));
    CHECK(!strcmp(text_of(json_object_get(first, "submitted")), "1970-01-01T00:01:40Z"));
    CHECK(json_array_size(json_object_get(root, "rows")) == 1);
    json_decref(root);
    free(text);
    sa_board_free(&b);
    /* all entries: the same split */
    if (build(phase_id, 1, &b)) return;
    CHECK(b.n_rows == 1 && b.n_stale == 3);
    sa_board_free(&b);
    /* selected: only selected stale entries are listed */
    CHECK(sa_store_submission_select(st, h1, &err) == 0);
    spec.leaderboard_entry = SA_ENTRY_SELECTED;
    put_spec(challenge_id, dataset_id, phase_id, &spec);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 0 && b.n_stale == 1 && stale_of(&b, h1) != NULL);
    sa_board_free(&b);
    spec.leaderboard_entry = SA_ENTRY_LATEST;

    /* a ranked lesion metric no stored result has: every entry is stale, no error */
    spec.lesions = 1;
    snprintf(spec.metrics[spec.n_metrics++], sizeof spec.metrics[0], "lesion_f1");
    snprintf(spec.ranked[spec.n_ranked].name, sizeof spec.ranked[0].name, "lesion_f1");
    spec.ranked[spec.n_ranked++].higher_is_better = 1;
    put_spec(challenge_id, dataset_id, phase_id, &spec);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 0 && b.n_cases == 0 && b.n_stale == 4);
    sa_board_free(&b);

    /* back to tau 2 without lesions, and E1 rescored: E1 and Z1 ranked, H1 and T1 stale */
    spec.lesions = 0;
    spec.n_metrics--;
    spec.n_ranked--;
    put_spec(challenge_id, dataset_id, phase_id, &spec);
    add_run(phase_id, e1, "rescore", e1_run, good, 2, 0);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 2 && b.n_stale == 2 && stale_of(&b, h1) != NULL && stale_of(&b, t1) != NULL);
    if (b.n_rows == 2) CHECK(b.rows[0].submission_id == e1 && b.rows[1].submission_id == z1);
    sa_board_free(&b);

    /* a current run with a platform failure whose dataset checksum is unknown: still
     * ranked (the failed case has no scores and no say on the configuration) */
    static const case_fixture platform[] = {{"c1", 100, .7, 3, 10, NULL},
                                            {"c2", 0, 0, 0, 0, "engine_error: platform error"}};
    int64_t iota;
    CHECK(sa_store_team_add(st, "iota", &iota, &err) == 0);
    int64_t i1 = add_submission(phase_id, iota, 300, "ready");
    add_run(phase_id, i1, "evaluate", 0, platform, 2, 0);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3 && b.n_stale == 2 && stale_of(&b, i1) == NULL);
    sa_board_free(&b);

    /* a run the platform could not carry out at all (every case an engine_error) is
     * no evaluation: iota's newer submission I2 leaves I1 its row (latest), and E1's
     * rescore that found no stored output usable leaves E1 on its previous run */
    static const case_fixture all_engine[] = {{"c1", 0, 0, 0, 0, "engine_error: platform error"},
                                              {"c2", 0, 0, 0, 0, "engine_error: platform error"}};
    static const case_fixture unusable[] = {{"c1", 0, 0, 0, 0, "engine_error: stored output unusable"},
                                            {"c2", 0, 0, 0, 0, "engine_error: stored output unusable"}};
    const sa_board_row *row_before = NULL;
    if (build(phase_id, 0, &b)) return;
    row_before = row_of(&b, e1);
    int64_t e1_current_run = row_before ? row_before->run_id : 0;
    sa_board_free(&b);
    int64_t i2 = add_submission(phase_id, iota, 400, "ready");
    add_run(phase_id, i2, "evaluate", 0, all_engine, 2, 0);
    add_run(phase_id, e1, "rescore", e1_current_run, unusable, 2, 0);
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 3 && b.n_stale == 2);
    CHECK(row_of(&b, i1) != NULL && row_of(&b, i2) == NULL);
    const sa_board_row *e1_row = row_of(&b, e1);
    CHECK(e1_row && e1_row->run_id == e1_current_run && e1_row->rank == 1);
    sa_board_free(&b);

    /* theta's clean run (2 cases scored) is stale; its rescore under the current
     * spec scored c1 and had a platform failure on c2: the clean run is preferred,
     * found stale, and the newer current run is the evaluation (theta was left off
     * the board for good: `run rescore --phase` kept rescoring the stale run) */
    int64_t t1_rescore = add_run(phase_id, t1, "rescore", t1_run, platform, 2, 0);
    if (build(phase_id, 0, &b)) return;
    const sa_board_row *t1_row = row_of(&b, t1);
    CHECK(b.n_rows == 4 && b.n_stale == 1 && stale_of(&b, t1) == NULL);
    CHECK(t1_row && t1_row->run_id == t1_rescore);
    sa_board_free(&b);
}

/* A failed case that recorded its own case's diagonal is penalised with it, in the
 * run's stored aggregate and on the board alike: kappa (the phase's first run)
 * scores c1 (fov 100, hd95 2) and times out on c2 (fov 300, recorded); nobody else
 * has scored c2 when kappa's run finishes, so without its own diagonal the run
 * would take its largest scored one (100) and store hd95 (2 + 100) / 2 = 51 while
 * the board, once lambda scored c2, shows (2 + 300) / 2 = 151. */
static void test_failed_case_own_fov(int64_t challenge_id, int64_t dataset_id) {
    sa_phase_spec spec;
    base_spec(&spec, "fov");
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    sa_error err;
    int64_t kappa, lambda;
    CHECK(sa_store_team_add(st, "kappa", &kappa, &err) == 0);
    CHECK(sa_store_team_add(st, "lambda", &lambda, &err) == 0);
    static const case_fixture k_cases[] = {{"c1", 100, .9, 2, 10, NULL}, {"c2", 300, 0, 0, 0, "timeout"}};
    static const case_fixture l_cases[] = {{"c1", 100, .5, 4, 10, NULL}, {"c2", 300, .5, 4, 10, NULL}};
    int64_t k1 = add_submission(phase_id, kappa, 100, "ready");
    int64_t k1_run = add_run(phase_id, k1, "evaluate", 0, k_cases, 2, 0);
    int64_t l1 = add_submission(phase_id, lambda, 200, "ready");
    add_run(phase_id, l1, "evaluate", 0, l_cases, 2, 0);
    sa_run_row run;
    CHECK(sa_store_run_get(st, k1_run, &run, &err) == 1);
    json_t *stored = run.aggregate_json ? json_loads(run.aggregate_json, 0, NULL) : NULL;
    double stored_hd95 = json_number_value(
        json_object_get(json_object_get(json_object_get(stored, "metrics"), "hd95"), "mean"));
    CHECK_NEAR(stored_hd95, 151, TOL);
    json_decref(stored);
    sa_run_row_free(&run);
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    const sa_board_row *row = row_of(&b, k1);
    CHECK(row != NULL);
    if (row) {
        CHECK_NEAR(row->stats[HD95].mean, 151, TOL);
        CHECK(row->stats[HD95].mean == stored_hd95);
    }
    sa_board_free(&b);

    /* mu's c2 a platform failure that recorded no diagonal, and nobody scored c2:
     * it takes the diagonal kappa's failed c2 recorded (300), not the largest
     * scored one (100), so that both failures of c2 cost the same */
    static const case_fixture nobody_c2[] = {{"c1", 100, .9, 2, 10, NULL}, {"c2", 0, 0, 0, 0, "engine_error: platform error"}};
    sa_phase_spec spec2;
    base_spec(&spec2, "fov2");
    int64_t phase2 = put_spec(challenge_id, dataset_id, 0, &spec2);
    int64_t mu, nu;
    CHECK(sa_store_team_add(st, "mu", &mu, &err) == 0);
    CHECK(sa_store_team_add(st, "nu", &nu, &err) == 0);
    int64_t m1 = add_submission(phase2, mu, 100, "ready");
    add_run(phase2, m1, "evaluate", 0, k_cases, 2, 0);
    int64_t n1 = add_submission(phase2, nu, 200, "ready");
    int64_t n1_run = add_run(phase2, n1, "evaluate", 0, nobody_c2, 2, 0);
    if (build(phase2, 0, &b)) return;
    const sa_board_row *rm = row_of(&b, m1), *rn = row_of(&b, n1);
    CHECK(rm && rn);
    if (rm && rn) {
        CHECK_NEAR(rn->stats[HD95].mean, 151, TOL);
        CHECK(rm->stats[HD95].mean == rn->stats[HD95].mean && rm->rank == rn->rank);
    }
    sa_board_free(&b);
    CHECK(sa_store_run_get(st, n1_run, &run, &err) == 1);
    stored = run.aggregate_json ? json_loads(run.aggregate_json, 0, NULL) : NULL;
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(json_object_get(stored, "metrics"), "hd95"), "mean")),
               151, TOL);
    json_decref(stored);
    sa_run_row_free(&run);
}

/* Failed cases whose diagonal is known nowhere (results stored before schema 4,
 * platform failures that could not read the dataset; no manifest, nobody scored
 * the case) have no distance value:
 * it was 0 mm, the best one, in the run's aggregate and on the board. xi fails
 * both cases so; omicron scores c1 (fov 100, hd95 5) and fails c2 so. c2 has no
 * distance for either (left out of the ranking for both), c1 ranks omicron
 * first; xi's c1 gets omicron's diagonal (100). A run alone: hd95 null, n 0. */
static void test_no_diagonal_anywhere(int64_t challenge_id, int64_t dataset_id) {
    sa_phase_spec spec;
    base_spec(&spec, "nofov");
    spec.label = 3; /* a scoring hash of its own: no human reference gives a diagonal */
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    sa_error err;
    int64_t xi, omicron;
    CHECK(sa_store_team_add(st, "xi", &xi, &err) == 0);
    CHECK(sa_store_team_add(st, "omicron", &omicron, &err) == 0);
    /* timeouts that recorded no diagonal (results stored before schema 4; a run
     * of platform failures only is no evaluation, not an entry) */
    static const case_fixture none[] = {{"c1", 0, 0, 0, 0, "timeout"}, {"c2", 0, 0, 0, 0, "timeout"}};
    static const case_fixture one[] = {{"c1", 100, .5, 5, 1, NULL}, {"c2", 0, 0, 0, 0, "timeout"}};
    int64_t x1 = add_submission(phase_id, xi, 100, "ready");
    int64_t x1_run = add_run(phase_id, x1, "evaluate", 0, none, 2, 0);
    sa_run_row run;
    CHECK(sa_store_run_get(st, x1_run, &run, &err) == 1);
    json_t *stored = run.aggregate_json ? json_loads(run.aggregate_json, 0, NULL) : NULL;
    json_t *hd = json_object_get(json_object_get(stored, "metrics"), "hd95");
    CHECK(json_is_null(json_object_get(hd, "mean")) && json_integer_value(json_object_get(hd, "n")) == 0);
    CHECK(json_integer_value(json_object_get(stored, "cases_without_distance_cap")) == 2);
    json_decref(stored);
    sa_run_row_free(&run);

    /* a board of xi alone: no distance at all, rank 1, key null */
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 1 && b.n_cases_without_cap == 2);
    if (b.n_rows == 1) {
        CHECK(b.rows[0].rank == 1 && isnan(b.rows[0].key) && b.rows[0].stats[HD95].n == 0);
        CHECK(b.rows[0].stats[DICE].n == 2 && b.rows[0].stats[DICE].mean == 0);
    }
    char *text = NULL;
    CHECK(sa_board_to_json(&b, SA_BOARD_JSON_CASES, &text, &err) == 0);
    CHECK(text && !strstr(text, "NaN") && !strstr(text, "nan"));
    CHECK_STR_CONTAINS(text, "\"hd95\":{\"mean\":null");
    CHECK_STR_CONTAINS(text, "\"cases_without_distance_cap\":2");
    free(text);
    char note[512];
    sa_board_no_cap_note(&b, note, sizeof note);
    CHECK_STR_CONTAINS(note, "2 cases have no distance value");
    sa_board_free(&b);

    int64_t o1 = add_submission(phase_id, omicron, 200, "ready");
    add_run(phase_id, o1, "evaluate", 0, one, 2, 0);
    if (build(phase_id, 0, &b)) return;
    const sa_board_row *rx = row_of(&b, x1), *ro = row_of(&b, o1);
    CHECK(b.n_rows == 2 && rx && ro && b.n_cases_without_cap == 1);
    if (rx && ro) {
        CHECK(ro->rank == 1 && rx->rank == 2);
        CHECK(rx->stats[HD95].n == 1 && rx->stats[HD95].mean == 100); /* c1: omicron's diagonal */
        CHECK(ro->stats[HD95].n == 1 && ro->stats[HD95].mean == 5);
    }
    sa_board_free(&b);
}

/* hd95 mean of an aggregate JSON text. */
static double aggregate_hd95(const char *text) {
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    double v = json_number_value(json_object_get(json_object_get(json_object_get(root, "metrics"), "hd95"), "mean"));
    json_decref(root);
    return v;
}

/* A run's stored aggregate is shown as it reads now (sa_run_aggregate_current):
 * one stored under the older rules (no aggregation_version: a scored hd95 of 80
 * above the run's 10 mm cap kept as 80) or with a case whose cap was unknown is
 * computed again; a current one is returned as stored. pi scores c1 (hd95 80)
 * and c2 (hd95 4) under a 10 mm cap: (10 + 4) / 2 = 7. */
static void test_stale_run_aggregate(int64_t challenge_id, int64_t dataset_id) {
    sa_phase_spec spec;
    base_spec(&spec, "stale");
    spec.distance_cap_mm = 10;
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    sa_error err;
    int64_t pi;
    CHECK(sa_store_team_add(st, "pi", &pi, &err) == 0);
    static const case_fixture cases[] = {{"c1", 100, .5, 80, 1, NULL}, {"c2", 100, .5, 4, 1, NULL}};
    int64_t p1 = add_submission(phase_id, pi, 100, "ready");
    int64_t run_id = add_run(phase_id, p1, "evaluate", 0, cases, 2, 0);
    sa_run_row run;
    CHECK(sa_store_run_get(st, run_id, &run, &err) == 1);
    CHECK_NEAR(aggregate_hd95(run.aggregate_json), 7, TOL);
    CHECK_STR_CONTAINS(run.aggregate_json, "\"aggregation_version\":2");
    char *now = NULL;
    CHECK(sa_run_aggregate_current(st, &run, &now, &err) == 0 && now && !strcmp(now, run.aggregate_json));
    free(now);
    /* as a version before this rule stored it */
    free(run.aggregate_json);
    run.aggregate_json = strdup("{\"cases\":2,\"succeeded\":2,\"failed\":{},\"metrics\":{\"hd95\":{\"mean\":42.0,"
                                "\"median\":42.0,\"std\":53.7,\"ci_lo\":4.0,\"ci_hi\":80.0,\"n\":2}},\"metric_version\":1}");
    now = NULL;
    CHECK(sa_run_aggregate_current(st, &run, &now, &err) == 0);
    CHECK_NEAR(aggregate_hd95(now), 7, TOL);
    free(now);
    /* current rules, but a case's cap was unknown when it was stored */
    free(run.aggregate_json);
    run.aggregate_json = strdup("{\"cases\":2,\"metrics\":{\"hd95\":{\"mean\":4.0,\"n\":1}},"
                                "\"cases_without_distance_cap\":1,\"aggregation_version\":2}");
    now = NULL;
    CHECK(sa_run_aggregate_current(st, &run, &now, &err) == 0);
    CHECK_NEAR(aggregate_hd95(now), 7, TOL);
    free(now);
    /* no stored aggregate (not done): none */
    free(run.aggregate_json);
    run.aggregate_json = NULL;
    now = (char *)"x";
    CHECK(sa_run_aggregate_current(st, &run, &now, &err) == 0 && now == NULL);
    sa_run_row_free(&run);
}

static void test_empty_phase(int64_t challenge_id, int64_t dataset_id) {
    sa_phase_spec spec;
    base_spec(&spec, "empty");
    int64_t phase_id = put_spec(challenge_id, dataset_id, 0, &spec);
    sa_board b;
    if (build(phase_id, 0, &b)) return;
    CHECK(b.n_rows == 0 && b.n_cases == 0 && b.n_human == 0);
    char *text = NULL;
    sa_error err;
    CHECK(sa_board_to_json(&b, SA_BOARD_JSON_CASES, &text, &err) == 0);
    CHECK_STR_CONTAINS(text, "\"rows\":[]");
    free(text);
    /* indented for people (segarena results --json) */
    CHECK(sa_board_to_json(&b, SA_BOARD_JSON_CASES | SA_BOARD_JSON_INDENT, &text, &err) == 0);
    CHECK_STR_CONTAINS(text, "{\n  \"challenge\": \"demo\",\n");
    CHECK_STR_CONTAINS(text, "\"rows\": []");
    free(text);
    sa_board_free(&b);
    CHECK(sa_board_build(st, 424242, 0, &b, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "424242");
}

/* test_board [DIR]: with DIR, the store is made there and kept (the CLI test
 * runs `segarena results` on it); else in a temporary folder, removed after. */
int main(int argc, char **argv) {
    int keep = argc > 1;
    if (keep) snprintf(data_dir, sizeof data_dir, "%s", argv[1]);
    if (keep ? strlen(argv[1]) >= sizeof data_dir : !mkdtemp(data_dir)) {
        fprintf(stderr, "test_board: cannot make a data directory\n");
        return 1;
    }
    sa_error err;
    if (sa_store_open(data_dir, 1, &st, &err)) {
        fprintf(stderr, "store: %s\n", err.msg);
        return 1;
    }
    int64_t challenge_id, dataset_id;
    char checksum[65];
    snprintf(checksum, sizeof checksum, "%064d", 7);
    CHECK(sa_store_challenge_add(st, "demo", "Demo challenge", "", &challenge_id, &err) == 0);
    CHECK(sa_store_dataset_record(st, "ds", checksum, "ms", 4, &dataset_id, &err) == 0);

    sa_phase_spec spec;
    int64_t phase_id = phase1(challenge_id, dataset_id, &spec);
    test_latest(phase_id);
    test_non_utf8_text(phase_id);
    test_all_entries(phase_id);
    test_best(phase_id, challenge_id, dataset_id, &spec);
    test_selected(phase_id, challenge_id, dataset_id, &spec);
    test_rank_then_aggregate(phase_id, challenge_id, dataset_id, &spec);
    test_score(phase_id, challenge_id, dataset_id, &spec);
    test_run_aggregate();
    test_phase2(challenge_id, dataset_id, checksum);
    test_fov_sources(challenge_id, dataset_id);
    test_rescoring(challenge_id, dataset_id);
    test_failed_case_own_fov(challenge_id, dataset_id);
    test_no_diagonal_anywhere(challenge_id, dataset_id);
    test_stale_run_aggregate(challenge_id, dataset_id);
    test_empty_phase(challenge_id, dataset_id);

    sa_store_close(st);
    char cmd[sizeof data_dir + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    if (!keep && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", data_dir);
    return test_report("test_board");
}
