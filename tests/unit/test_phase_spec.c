/* test_phase_spec.c: phase specs (docs/phase.md): defaults, every key, every kind of
 * problem listed at once, the canonical JSON round trip, the scoring hash, the
 * scoring options, ISO 8601 dates. With a folder argument: every *.json in it must
 * parse without a problem and round-trip (examples/phases). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluator.h"
#include "test.h"

#define MIB 1048576ull

/* sha256 of {"metric_version":1,"dataset_checksum":"abc","label":"any","consensus":
 * {"method":"staple","region":"dilated_union","dilation_voxels":2,"tolerance":1e-07,
 * "max_iterations":100,"threshold":0.5},"tau_mm":1,"lesions":{"enabled":false}} */
#define PINNED_HASH "4cde4c178583b970d4a09112844167d7365da620b19c099e4914ac39b4a5a5d1"

/* Field-by-field equality, naming the first difference. */
static int spec_equal(const sa_phase_spec *a, const sa_phase_spec *b) {
#define SAME(cond, what)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            fprintf(stderr, "specs differ in %s\n", what);        \
            return 0;                                             \
        }                                                         \
    } while (0)
#define SAME_BITS(x, what) SAME(memcmp(&a->x, &b->x, sizeof a->x) == 0, what)
    SAME(!strcmp(a->name, b->name), "name");
    SAME(!strcmp(a->title, b->title), "title");
    SAME(!strcmp(a->dataset, b->dataset), "dataset");
    SAME(!strcmp(a->split, b->split), "split");
    SAME(a->n_input_roles == b->n_input_roles, "n_input_roles");
    for (size_t i = 0; i < a->n_input_roles; i++) SAME(!strcmp(a->input_roles[i], b->input_roles[i]), "input_roles");
    SAME(a->label == b->label, "label");
    SAME(a->consensus.method == b->consensus.method, "consensus.method");
    SAME(a->consensus.region == b->consensus.region, "consensus.region");
    SAME(a->consensus.dilation_voxels == b->consensus.dilation_voxels, "consensus.dilation_voxels");
    SAME_BITS(consensus.tolerance, "consensus.tolerance");
    SAME(a->consensus.max_iterations == b->consensus.max_iterations, "consensus.max_iterations");
    SAME_BITS(consensus.threshold, "consensus.threshold");
    SAME_BITS(tau_mm, "tau_mm");
    SAME(a->lesions == b->lesions, "lesions");
    SAME(a->lesion.connectivity == b->lesion.connectivity, "lesion.connectivity");
    SAME_BITS(lesion.min_volume_mm3, "lesion.min_volume_mm3");
    SAME_BITS(lesion.alpha, "lesion.alpha");
    SAME_BITS(lesion.beta, "lesion.beta");
    SAME_BITS(lesion.gamma, "lesion.gamma");
    SAME(a->n_metrics == b->n_metrics, "n_metrics");
    for (size_t i = 0; i < a->n_metrics; i++) SAME(!strcmp(a->metrics[i], b->metrics[i]), "metrics");
    SAME(a->rule == b->rule, "rule");
    SAME(a->n_ranked == b->n_ranked, "n_ranked");
    for (size_t i = 0; i < a->n_ranked; i++) {
        SAME(!strcmp(a->ranked[i].name, b->ranked[i].name), "ranked.name");
        SAME(a->ranked[i].higher_is_better == b->ranked[i].higher_is_better, "ranked.direction");
    }
    SAME_BITS(distance_cap_mm, "distance_cap_mm");
    SAME_BITS(limits.wall_seconds, "limits.wall_seconds");
    SAME(a->limits.memory_bytes == b->limits.memory_bytes, "limits.memory_bytes");
    SAME_BITS(limits.cpus, "limits.cpus");
    SAME(a->limits.pids == b->limits.pids, "limits.pids");
    SAME(a->limits.output_bytes == b->limits.output_bytes, "limits.output_bytes");
    SAME(a->limits.tmp_bytes == b->limits.tmp_bytes, "limits.tmp_bytes");
    SAME(a->limits.log_bytes == b->limits.log_bytes, "limits.log_bytes");
    SAME(a->limits.gpu == b->limits.gpu, "limits.gpu");
    SAME(a->gpu == b->gpu, "gpu");
    SAME(a->max_upload_bytes == b->max_upload_bytes, "max_upload_bytes");
    SAME(a->quota_submissions == b->quota_submissions, "quota_submissions");
    SAME_BITS(quota_days, "quota_days");
    SAME_BITS(opens, "opens");
    SAME_BITS(closes, "closes");
    SAME(a->show_case_details == b->show_case_details, "show_case_details");
    SAME(a->show_logs == b->show_logs, "show_logs");
    SAME(a->leaderboard_entry == b->leaderboard_entry, "leaderboard_entry");
    SAME(a->auto_evaluate == b->auto_evaluate, "auto_evaluate");
    SAME(a->human_reference == b->human_reference, "human_reference");
    SAME(a->bootstrap_resamples == b->bootstrap_resamples, "bootstrap_resamples");
    SAME(a->bootstrap_seed == b->bootstrap_seed, "bootstrap_seed");
    return 1;
#undef SAME
#undef SAME_BITS
}

/* to_json, parse back, compare; and to_json of the copy gives the same text. */
static int round_trips(const sa_phase_spec *s) {
    char *text = NULL, *again = NULL;
    sa_error err = {{0}};
    sa_problems p;
    sa_problems_init(&p);
    sa_phase_spec back;
    int ok = sa_phase_spec_to_json(s, &text, &err) == 0;
    if (ok && sa_phase_spec_parse(text, "canonical", &back, &p, &err) != 0) {
        fprintf(stderr, "canonical text does not parse: %s\n%s", err.msg, text);
        ok = 0;
    }
    ok = ok && spec_equal(s, &back);
    ok = ok && sa_phase_spec_to_json(&back, &again, &err) == 0 && !strcmp(text, again);
    free(text);
    free(again);
    sa_problems_free(&p);
    return ok;
}

static int has_problem(const sa_problems *p, const char *needle) {
    for (size_t i = 0; i < p->count; i++)
        if (strstr(p->msg[i], needle)) return 1;
    fprintf(stderr, "no problem mentions \"%s\"; problems were:\n", needle);
    for (size_t i = 0; i < p->count; i++) fprintf(stderr, "  %s\n", p->msg[i]);
    return 0;
}

/* Parses text; returns the problems (caller frees) and the return code. */
static int parse(const char *text, sa_phase_spec *s, sa_problems *p) {
    sa_error err = {{0}};
    sa_problems_init(p);
    int rc = sa_phase_spec_parse(text, "t.json", s, p, &err);
    if (rc == 0 && p->count) return -2;
    if (rc != 0 && (!p->count || strcmp(err.msg, p->msg[0]))) return -3; /* err = the first problem */
    return rc;
}

#define MINIMAL                                                                              \
    "\"schema\": \"segarena-phase/1\", \"name\": \"val\", \"dataset\": \"ms-demo\", "     \
    "\"input_roles\": [\"flair\", \"t1\"]"

static void test_names(void) {
    CHECK(!strcmp(sa_rank_rule_name(SA_RANK_SCORE), "score"));
    CHECK(!strcmp(sa_rank_rule_name(SA_RANK_MEAN_RANK), "mean_rank"));
    CHECK(!strcmp(sa_rank_rule_name(SA_RANK_THEN_AGGREGATE), "rank_then_aggregate"));
    CHECK(!strcmp(sa_entry_rule_name(SA_ENTRY_LATEST), "latest"));
    CHECK(!strcmp(sa_entry_rule_name(SA_ENTRY_BEST), "best"));
    CHECK(!strcmp(sa_entry_rule_name(SA_ENTRY_SELECTED), "selected"));
}

static void test_minimal_and_defaults(void) {
    sa_phase_spec s;
    sa_problems p;
    CHECK(parse("{" MINIMAL "}", &s, &p) == 0);
    CHECK(!strcmp(s.name, "val") && !strcmp(s.title, "val") && !strcmp(s.dataset, "ms-demo"));
    CHECK(s.split[0] == 0 && s.n_input_roles == 2 && !strcmp(s.input_roles[1], "t1"));
    CHECK(s.label == -1);
    CHECK(s.consensus.method == SA_CONSENSUS_STAPLE && s.consensus.region == SA_STAPLE_DILATED_UNION);
    CHECK(s.tau_mm == 1.0 && s.lesions == 0);
    CHECK(s.lesion.connectivity == 6 && s.lesion.min_volume_mm3 == 3.0 && s.lesion.alpha == 0.10 &&
          s.lesion.beta == 0.70 && s.lesion.gamma == 0.65);
    CHECK(s.n_metrics == 6 && !strcmp(s.metrics[0], "dice") && !strcmp(s.metrics[1], "hd95") &&
          !strcmp(s.metrics[5], "ppv"));
    CHECK(s.rule == SA_RANK_MEAN_RANK && s.n_ranked == 2 && !strcmp(s.ranked[0].name, "dice") &&
          s.ranked[0].higher_is_better == 1 && !strcmp(s.ranked[1].name, "hd95") && s.ranked[1].higher_is_better == 0);
    CHECK(s.distance_cap_mm == 0);
    CHECK(s.limits.wall_seconds == 600 && s.limits.memory_bytes == 8192 * MIB && s.limits.cpus == 2 &&
          s.limits.pids == 256 && s.limits.output_bytes == 1024 * MIB && s.limits.tmp_bytes == 2048 * MIB &&
          s.limits.gpu == -1 && s.gpu == 0);
    CHECK(s.max_upload_bytes == 10240 * MIB);
    CHECK(s.quota_submissions == 0 && s.opens == 0 && s.closes == 0);
    CHECK(!s.show_case_details && !s.show_logs && s.leaderboard_entry == SA_ENTRY_LATEST);
    CHECK(s.auto_evaluate == 1 && s.human_reference == 1);
    CHECK(s.bootstrap_resamples == 1000 && s.bootstrap_seed == 20160101);
    CHECK(round_trips(&s));

    /* the canonical text writes every default out */
    char *text = NULL;
    sa_error err;
    CHECK(sa_phase_spec_to_json(&s, &text, &err) == 0);
    CHECK_STR_CONTAINS(text, "\"schema\": \"segarena-phase/1\"");
    CHECK_STR_CONTAINS(text, "\"label\": \"any\"");
    CHECK_STR_CONTAINS(text, "\"tau_mm\": 1,");
    CHECK_STR_CONTAINS(text, "\"alpha\": 0.1,");
    CHECK_STR_CONTAINS(text, "\"gamma\": 0.65\n");
    CHECK_STR_CONTAINS(text, "\"memory_mb\": 8192,");
    CHECK_STR_CONTAINS(text, "\"quota\": null");
    CHECK_STR_CONTAINS(text, "\"opens\": null");
    CHECK_STR_CONTAINS(text, "\"distance_cap_mm\": null");
    CHECK_STR_CONTAINS(text, "{\"name\": \"hd95\", \"direction\": \"lower\"}");
    CHECK_STR_CONTAINS(text, "\n  \"limits\": {\n    \"wall_seconds\": 600,");
    /* keys in the documented order */
    const char *order[] = {"\"schema\"", "\"name\"", "\"title\"", "\"dataset\"", "\"split\"", "\"input_roles\"",
                           "\"label\"", "\"consensus\"", "\"tau_mm\"", "\"lesions\"", "\"metrics\"", "\"ranking\"",
                           "\"distance_cap_mm\"", "\"limits\"", "\"max_upload_mb\"", "\"quota\"", "\"opens\"",
                           "\"closes\"", "\"show_case_details\"", "\"show_logs\"", "\"leaderboard_entry\"",
                           "\"auto_evaluate\"", "\"human_reference\"", "\"bootstrap\""};
    const char *prev = text;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *at = text ? strstr(text, order[i]) : NULL;
        CHECK(at && at >= prev);
        if (at) prev = at;
    }
    free(text);
    sa_problems_free(&p);

    /* sa_phase_spec_default itself */
    sa_phase_spec d;
    sa_phase_spec_default(&d);
    CHECK(d.label == -1 && d.n_metrics == 6 && d.n_ranked == 2 && d.n_input_roles == 0 && d.auto_evaluate == 1);
}

static const char *full_spec =
    "{\"schema\": \"segarena-phase/1\", \"name\": \"test-2026\", \"title\": \"Final test \\u00e9 \\\"q\\\"\","
    " \"dataset\": \"ms-demo\", \"split\": \"test\", \"input_roles\": [\"flair\", \"t1\", \"t2\", \"dp\", \"t1gd\"],"
    " \"label\": 2, \"consensus\": {\"method\": \"majority\", \"region\": \"image\"}, \"tau_mm\": 2.5,"
    " \"lesions\": {\"enabled\": true, \"connectivity\": 26, \"min_volume_mm3\": 0.3, \"alpha\": 0.2,"
    " \"beta\": 0.6, \"gamma\": 0.7},"
    " \"metrics\": [\"dice\", \"lesion_f1\", \"rve_percent\", \"lesions_ref\"],"
    " \"ranking\": {\"rule\": \"rank_then_aggregate\", \"metrics\": [{\"name\": \"dice\", \"direction\": \"higher\"},"
    " {\"name\": \"assd\"}, {\"name\": \"lesion_f1\", \"direction\": \"higher\"}]},"
    " \"distance_cap_mm\": 373.5,"
    " \"limits\": {\"wall_seconds\": 1200.5, \"memory_mb\": 16384, \"cpus\": 1.5, \"pids\": 64, \"output_mb\": 512,"
    " \"tmp_mb\": 4096, \"gpu\": true},"
    " \"max_upload_mb\": 2048, \"quota\": {\"submissions\": 3, \"days\": 0.5},"
    " \"opens\": \"2026-11-01T00:00:00Z\", \"closes\": \"2026-12-01T12:30:00+01:00\","
    " \"show_case_details\": true, \"show_logs\": true, \"leaderboard_entry\": \"selected\","
    " \"auto_evaluate\": false, \"human_reference\": false,"
    " \"bootstrap\": {\"resamples\": 200, \"seed\": 9007199254740993}}";

static void test_every_key(void) {
    sa_phase_spec s;
    sa_problems p;
    CHECK(parse(full_spec, &s, &p) == 0);
    CHECK(!strcmp(s.name, "test-2026") && !strcmp(s.title, "Final test \xc3\xa9 \"q\""));
    CHECK(!strcmp(s.split, "test") && s.n_input_roles == 5 && !strcmp(s.input_roles[4], "t1gd"));
    CHECK(s.label == 2);
    CHECK(s.consensus.method == SA_CONSENSUS_MAJORITY && s.consensus.region == SA_STAPLE_IMAGE);
    CHECK(s.tau_mm == 2.5 && s.lesions == 1 && s.lesion.connectivity == 26 && s.lesion.min_volume_mm3 == 0.3 &&
          s.lesion.alpha == 0.2 && s.lesion.beta == 0.6 && s.lesion.gamma == 0.7);
    /* the ranked assd appended to the listed metrics */
    CHECK(s.n_metrics == 5 && !strcmp(s.metrics[1], "lesion_f1") && !strcmp(s.metrics[4], "assd"));
    CHECK(s.rule == SA_RANK_THEN_AGGREGATE && s.n_ranked == 3 && s.ranked[1].higher_is_better == 0 &&
          !strcmp(s.ranked[2].name, "lesion_f1") && s.ranked[2].higher_is_better == 1);
    CHECK(s.distance_cap_mm == 373.5);
    CHECK(s.limits.wall_seconds == 1200.5 && s.limits.memory_bytes == 16384 * MIB && s.limits.cpus == 1.5 &&
          s.limits.pids == 64 && s.limits.output_bytes == 512 * MIB && s.limits.tmp_bytes == 4096 * MIB &&
          s.limits.gpu == -1 && s.gpu == 1);
    CHECK(s.max_upload_bytes == 2048 * MIB && s.quota_submissions == 3 && s.quota_days == 0.5);
    CHECK(s.opens == 1793491200.0);                 /* date -u -d 2026-11-01T00:00:00Z +%s */
    CHECK(s.closes == 1796124600.0);                /* 2026-12-01T11:30:00Z */
    CHECK(s.show_case_details && s.show_logs && s.leaderboard_entry == SA_ENTRY_SELECTED);
    CHECK(!s.auto_evaluate && !s.human_reference);
    CHECK(s.bootstrap_resamples == 200 && s.bootstrap_seed == 9007199254740993ull);
    CHECK(round_trips(&s));
    char *text = NULL;
    sa_error err;
    CHECK(sa_phase_spec_to_json(&s, &text, &err) == 0);
    CHECK_STR_CONTAINS(text, "\"closes\": \"2026-12-01T11:30:00Z\"");
    CHECK_STR_CONTAINS(text, "\"label\": 2,");
    CHECK_STR_CONTAINS(text, "\"min_volume_mm3\": 0.3,");
    CHECK_STR_CONTAINS(text, "\"quota\": {\n    \"submissions\": 3,\n    \"days\": 0.5\n  }");
    CHECK_STR_CONTAINS(text, "\"seed\": 9007199254740993");
    /* the canonical text is a valid JSON object with 24 keys */
    json_error_t jerr;
    json_t *root = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(root && json_object_size(root) == 24);
    json_decref(root);
    free(text);
    sa_problems_free(&p);

    /* a label given as 3.0 is the integer 3 (so is a seed); "any" is -1 */
    CHECK(parse("{" MINIMAL ", \"label\": 3.0, \"bootstrap\": {\"seed\": 5.0}}", &s, &p) == 0 && s.label == 3 &&
          s.bootstrap_seed == 5);
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"label\": \"any\", \"split\": \"\", \"quota\": null, \"opens\": null,"
                " \"distance_cap_mm\": null}",
                &s, &p) == 0 &&
          s.label == -1 && s.quota_submissions == 0 && s.opens == 0 && s.distance_cap_mm == 0);
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"distance_cap_mm\": 0, \"tau_mm\": -0.0}", &s, &p) == 0 && s.distance_cap_mm == 0);
    CHECK(round_trips(&s));
    sa_problems_free(&p);
}

static void test_problems_listed(void) {
    sa_phase_spec s;
    sa_problems p;
    const char *text =
        "{\"schema\": \"segarena-phase/2\", \"name\": \"-bad\", \"dataset\": 7, \"colour\": \"red\","
        " \"input_roles\": [\"flair\", \"flair\", \"case\", 3, \"a/b\"], \"label\": 0,"
        " \"consensus\": {\"method\": \"vote\", \"regoin\": \"image\"}, \"tau_mm\": -1,"
        " \"lesions\": {\"connectivity\": 8, \"alpha\": 1.5, \"extra\": 1},"
        " \"metrics\": [\"dice\", \"dice\", \"f1\"],"
        " \"ranking\": {\"rule\": \"best\", \"metrics\": [{\"name\": \"hd95\", \"direction\": \"higher\"},"
        " {\"name\": \"volume_ref_ml\"}, {\"name\": \"lesions_fp\"}, {\"name\": \"nope\"}, {\"direction\": \"lower\"},"
        " {\"name\": \"dice\", \"weight\": 2}, {\"name\": \"dice\"}]},"
        " \"distance_cap_mm\": -3, \"limits\": {\"wall_seconds\": 5, \"memory_mb\": 8, \"cpus\": 0, \"pids\": 4,"
        " \"output_mb\": 0.5, \"tmp_mb\": \"big\", \"gpu\": 1, \"swap\": 0}, \"max_upload_mb\": 0,"
        " \"quota\": {\"submissions\": 0}, \"opens\": \"2026-13-01T00:00:00Z\", \"closes\": \"tomorrow\","
        " \"show_case_details\": false, \"show_logs\": true, \"leaderboard_entry\": \"first\","
        " \"auto_evaluate\": \"yes\", \"human_reference\": null,"
        " \"bootstrap\": {\"resamples\": 0, \"seed\": -1}}";
    CHECK(parse(text, &s, &p) == -1);
    const char *expected[] = {
        "t.json: schema: must be \"segarena-phase/1\"",
        "t.json: name: \"-bad\" is not a valid id",
        "t.json: dataset: must be a string",
        "t.json: colour: unknown key",
        "t.json: input_roles[1]: \"flair\" is listed twice",
        "t.json: input_roles[2]: \"case\" is reserved",
        "t.json: input_roles[3]: must be a string",
        "t.json: input_roles[4]: \"a/b\" is not a valid id",
        "t.json: label: must be an integer from 1",
        "t.json: consensus.method: must be \"staple\" or \"majority\"",
        "t.json: consensus.regoin: unknown key",
        "t.json: tau_mm: must be a number",
        "t.json: lesions.connectivity: must be 6, 18 or 26",
        "t.json: lesions.alpha: must be a number from 0 to 1",
        "t.json: lesions.extra: unknown key",
        "t.json: metrics[1]: \"dice\" is listed twice",
        "t.json: metrics[2]: unknown metric \"f1\"",
        "t.json: ranking.rule: must be \"score\", \"mean_rank\" or \"rank_then_aggregate\"",
        "t.json: ranking.metrics[0].direction: \"higher\" disagrees with hd95, where lower is better",
        "t.json: ranking.metrics[1].name: \"volume_ref_ml\" is not rankable",
        "t.json: ranking.metrics[2].name: \"lesions_fp\" is not rankable",
        "t.json: ranking.metrics[3].name: unknown metric \"nope\"",
        "t.json: ranking.metrics[4].name: missing (required)",
        "t.json: ranking.metrics[5].weight: unknown key",
        "t.json: ranking.metrics[6].name: \"dice\" is ranked twice",
        "t.json: distance_cap_mm: must be a number from 0",
        "t.json: limits.wall_seconds: must be a number from 10 to 86400",
        "t.json: limits.memory_mb: must be an integer from 16",
        "t.json: limits.cpus: must be a number from 0.01 to 256",
        "t.json: limits.pids: must be an integer from 8",
        "t.json: limits.output_mb: must be an integer from 1",
        "t.json: limits.tmp_mb: must be an integer from 1",
        "t.json: limits.gpu: must be true or false",
        "t.json: limits.swap: unknown key",
        "t.json: max_upload_mb: must be an integer from 1",
        "t.json: quota.submissions: must be an integer from 1",
        "t.json: quota.days: missing",
        "t.json: opens: must be an ISO 8601 UTC time",
        "t.json: closes: must be an ISO 8601 UTC time",
        "t.json: show_logs: true needs \"show_case_details\": true",
        "t.json: leaderboard_entry: must be \"latest\", \"best\" or \"selected\"",
        "t.json: auto_evaluate: must be true or false",
        "t.json: human_reference: must be true or false",
        "t.json: bootstrap.resamples: must be an integer from 1 to 100000",
        "t.json: bootstrap.seed: must be an integer from 0",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) CHECK(has_problem(&p, expected[i]));
    CHECK(p.count == sizeof expected / sizeof expected[0]);
    if (p.count != sizeof expected / sizeof expected[0])
        for (size_t i = 0; i < p.count; i++) fprintf(stderr, "  problem: %s\n", p.msg[i]);
    sa_problems_free(&p);

    /* required keys, one by one */
    CHECK(parse("{}", &s, &p) == -1 && p.count == 4 && has_problem(&p, "t.json: schema: missing (required)") &&
          has_problem(&p, "t.json: name: missing") && has_problem(&p, "t.json: dataset: missing") &&
          has_problem(&p, "t.json: input_roles: missing"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"input_roles\": []}", &s, &p) == -1);
    sa_problems_free(&p);
    CHECK(parse("{\"schema\": \"segarena-phase/1\", \"name\": \"a\", \"dataset\": \"d\", \"input_roles\": []}", &s,
                &p) == -1 &&
          has_problem(&p, "t.json: input_roles: must be an array of 1 to 16 role ids"));
    sa_problems_free(&p);
    /* not JSON, not an object, duplicate keys */
    CHECK(parse("{\"schema\": ", &s, &p) == -1 && has_problem(&p, "t.json: not JSON (line 1"));
    sa_problems_free(&p);
    CHECK(parse("[1, 2]", &s, &p) == -1 && has_problem(&p, "t.json: top level: must be an object"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"name\": \"again\"}", &s, &p) == -1 && has_problem(&p, "duplicate"));
    sa_problems_free(&p);
    /* ids must fit the 64-byte fields: 64 characters is not an id (as for datasets) */
    char text64[400], id64[65];
    memset(id64, 'a', 64);
    id64[64] = 0;
    snprintf(text64, sizeof text64,
             "{\"schema\": \"segarena-phase/1\", \"name\": \"%s\", \"dataset\": \"d\", \"input_roles\": [\"x\"]}",
             id64);
    CHECK(parse(text64, &s, &p) == -1 && p.count == 1 && has_problem(&p, "t.json: name: \"aaaa") &&
          has_problem(&p, "is not a valid id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})"));
    sa_problems_free(&p);
    id64[63] = 0;
    snprintf(text64, sizeof text64,
             "{\"schema\": \"segarena-phase/1\", \"name\": \"%s\", \"dataset\": \"d\", \"input_roles\": [\"x\"]}",
             id64);
    CHECK(parse(text64, &s, &p) == 0 && strlen(s.name) == 63);
    sa_problems_free(&p);
    /* cpus: podman runs nothing below 0.01 (every case would be an engine error) */
    CHECK(parse("{" MINIMAL ", \"limits\": {\"cpus\": 0.0001}}", &s, &p) == -1 && p.count == 1 &&
          has_problem(&p, "t.json: limits.cpus: must be a number from 0.01 to 256"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"limits\": {\"cpus\": 0.01}}", &s, &p) == 0 && s.limits.cpus == 0.01);
    sa_problems_free(&p);
    /* a NULL problem list is allowed; err still says the first problem */
    sa_error err = {{0}};
    CHECK(sa_phase_spec_parse("{}", "x", &s, NULL, &err) == -1 && strstr(err.msg, "x: schema: missing"));
    /* too many roles, a too long title */
    CHECK(parse("{" MINIMAL ", \"input_roles\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\","
                "\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
                &s, &p) == -1);
    sa_problems_free(&p);
    char long_title[600];
    snprintf(long_title, sizeof long_title, "{" MINIMAL ", \"title\": \"%0300d\"}", 0);
    CHECK(parse(long_title, &s, &p) == -1 && has_problem(&p, "t.json: title: longer than 255 bytes"));
    sa_problems_free(&p);
}

static void test_lesion_switch(void) {
    sa_phase_spec s;
    sa_problems p;
    /* a listed lesion metric turns lesions on */
    CHECK(parse("{" MINIMAL ", \"metrics\": [\"dice\", \"lesion_sensitivity\"]}", &s, &p) == 0 && s.lesions == 1);
    sa_problems_free(&p);
    /* so does a ranked one (appended to metrics) */
    CHECK(parse("{" MINIMAL ", \"metrics\": [\"dice\"], \"ranking\": {\"metrics\": [{\"name\": \"lesion_f1\"}]}}",
                &s, &p) == 0 &&
          s.lesions == 1 && s.n_metrics == 2 && !strcmp(s.metrics[1], "lesion_f1") && s.ranked[0].higher_is_better);
    sa_problems_free(&p);
    /* counts are listable (reported) */
    CHECK(parse("{" MINIMAL ", \"metrics\": [\"lesions_ref\", \"lesions_pred_detected\"]}", &s, &p) == 0 &&
          s.lesions == 1 && s.n_metrics == 4);
    sa_problems_free(&p);
    /* enabled without a lesion metric: computed and stored, not reported */
    CHECK(parse("{" MINIMAL ", \"lesions\": {\"enabled\": true}}", &s, &p) == 0 && s.lesions == 1);
    CHECK(round_trips(&s));
    sa_problems_free(&p);
    /* no lesion metric: off */
    CHECK(parse("{" MINIMAL ", \"lesions\": {\"connectivity\": 18}}", &s, &p) == 0 && s.lesions == 0 &&
          s.lesion.connectivity == 18);
    sa_problems_free(&p);
    /* a lesion metric with enabled false */
    CHECK(parse("{" MINIMAL ", \"metrics\": [\"lesion_ppv\"], \"lesions\": {\"enabled\": false}}", &s, &p) == -1 &&
          has_problem(&p, "t.json: lesions.enabled: false, but lesion metric \"lesion_ppv\" is listed or ranked"));
    sa_problems_free(&p);
}

static void test_ranking_rules(void) {
    sa_phase_spec s;
    sa_problems p;
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"rule\": \"score\", \"metrics\": [{\"name\": \"pet_accuracy\"}]},"
                " \"metrics\": [\"dice\", \"sensitivity\", \"ppv\"]}",
                &s, &p) == 0 &&
          s.rule == SA_RANK_SCORE && s.n_ranked == 1 && s.ranked[0].higher_is_better == 1 && s.n_metrics == 4 &&
          !strcmp(s.metrics[3], "pet_accuracy"));
    sa_problems_free(&p);
    /* score with the default two ranked metrics */
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"rule\": \"score\"}}", &s, &p) == -1 &&
          has_problem(&p, "t.json: ranking.metrics: the \"score\" rule ranks on exactly one metric, not 2"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"rule\": \"score\", \"metrics\": [{\"name\": \"dice\"},"
                " {\"name\": \"nsd\"}]}}",
                &s, &p) == -1 &&
          has_problem(&p, "exactly one metric"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"metrics\": [{\"name\": \"dice\", \"direction\": \"lower\"}]}}", &s,
                &p) == -1 &&
          has_problem(&p, "t.json: ranking.metrics[0].direction: \"lower\" disagrees with dice, where higher is better"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"metrics\": [{\"name\": \"rve_percent\"}]}}", &s, &p) == -1 &&
          has_problem(&p, "\"rve_percent\" is not rankable"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"metrics\": []}}", &s, &p) == -1 &&
          has_problem(&p, "t.json: ranking.metrics: must be an array of 1 to 8"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"ranking\": {\"metrics\": [\"dice\"]}}", &s, &p) == -1 &&
          has_problem(&p, "t.json: ranking.metrics[0]: must be an object"));
    sa_problems_free(&p);
    /* every rankable name is accepted with its own direction */
    size_t n;
    const sa_metric_info *mt = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++) {
        char text[400];
        int dir = sa_metric_direction(mt[i].name);
        snprintf(text, sizeof text, "{" MINIMAL ", \"ranking\": {\"metrics\": [{\"name\": \"%s\", \"direction\": \"%s\"}]}}",
                 mt[i].name, dir == 1 ? "higher" : "lower");
        int rc = parse(text, &s, &p);
        CHECK(dir == -1 ? rc == -1 : rc == 0);
        /* what aggregation cannot substitute cannot be ranked */
        if (!strcmp(mt[i].name, "abs_volume_diff_ml") || !strcmp(mt[i].name, "rve_percent") ||
            !strncmp(mt[i].name, "volume_", 7))
            CHECK(rc == -1);
        sa_problems_free(&p);
    }
}

static void test_dates(void) {
    double t = -1;
    char buf[32];
    CHECK(sa_iso8601_parse("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
    CHECK(sa_iso8601_parse("2026-11-01T00:00:00Z", &t) == 0 && t == 1793491200.0);
    CHECK(sa_iso8601_parse("2026-11-01T00:00Z", &t) == 0 && t == 1793491200.0);
    CHECK(sa_iso8601_parse("2026-11-01T02:00:00+02:00", &t) == 0 && t == 1793491200.0);
    CHECK(sa_iso8601_parse("2026-10-31T19:30-04:30", &t) == 0 && t == 1793491200.0);
    CHECK(sa_iso8601_parse("2000-02-29T12:00:00Z", &t) == 0 && t == 951825600.0);
    CHECK(sa_iso8601_parse("2024-02-29T00:00:00Z", &t) == 0 && t == 1709164800.0);
    CHECK(sa_iso8601_parse("1969-12-31T23:59:59Z", &t) == 0 && t == -1);
    const char *bad[] = {"", "2026-11-01", "2026-11-01T00:00:00", "2026-11-01 00:00:00Z", "2026-13-01T00:00:00Z",
                         "2026-00-10T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
                         "2026-04-31T00:00:00Z", "2026-11-01T24:00:00Z", "2026-11-01T10:60:00Z",
                         "2026-11-01T10:00:60Z", "2026-11-01T10:00:00.5Z", "2026-11-01T10:00:00+0200",
                         "2026-11-01T10:00:00ZZ", "26-11-01T10:00:00Z", "2026-1-01T10:00:00Z", "2026-11-01T10:00:00z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = sa_iso8601_parse(bad[i], &t);
        CHECK(rc == -1);
        if (rc != -1) fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
    }
    CHECK(sa_iso8601_parse(NULL, &t) == -1);
    sa_iso8601_format(0, buf);
    CHECK(!strcmp(buf, "1970-01-01T00:00:00Z"));
    sa_iso8601_format(1793491200.0, buf);
    CHECK(!strcmp(buf, "2026-11-01T00:00:00Z"));
    sa_iso8601_format(951825600.9, buf); /* whole seconds, rounded down */
    CHECK(!strcmp(buf, "2000-02-29T12:00:00Z"));
    sa_iso8601_format(-1, buf);
    CHECK(!strcmp(buf, "1969-12-31T23:59:59Z"));
    sa_iso8601_format(253402300799.0, buf);
    CHECK(!strcmp(buf, "9999-12-31T23:59:59Z"));
    /* format then parse, over four centuries in uneven steps */
    int ok = 1;
    for (double s = -2208988800.0; s < 10413792000.0; s += 86400.0 * 37 + 3671) {
        double back;
        sa_iso8601_format(s, buf);
        if (sa_iso8601_parse(buf, &back) || back != s) ok = 0;
    }
    CHECK(ok);

    /* in a spec: closes after opens, both after 1970 */
    sa_phase_spec s;
    sa_problems p;
    CHECK(parse("{" MINIMAL ", \"opens\": \"2026-11-01T00:00:00Z\", \"closes\": \"2026-11-01T00:00:00Z\"}", &s, &p) ==
              -1 &&
          has_problem(&p, "t.json: closes: must be later than \"opens\""));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"opens\": \"1970-01-01T00:00:00Z\"}", &s, &p) == -1 &&
          has_problem(&p, "t.json: opens: must be after 1970-01-01T00:00:00Z"));
    sa_problems_free(&p);
    CHECK(parse("{" MINIMAL ", \"closes\": \"2027-01-01T00:00:00Z\"}", &s, &p) == 0 && s.closes == 1798761600.0 &&
          s.opens == 0);
    CHECK(round_trips(&s));
    sa_problems_free(&p);
}

static void test_scoring_hash(void) {
    sa_phase_spec base, s;
    sa_problems p;
    char h0[65], h[65];
    CHECK(parse("{" MINIMAL "}", &base, &p) == 0);
    sa_problems_free(&p);
    sa_phase_scoring_hash(&base, "abc", h0);
    CHECK(strlen(h0) == 64 && strspn(h0, "0123456789abcdef") == 64);
    /* pinned: sha256 of the documented canonical text (docs/phase.md), computed with
     * Python's hashlib, so that the text cannot drift silently */
    CHECK(!strcmp(h0, PINNED_HASH));
    sa_phase_scoring_hash(&base, "abc", h);
    CHECK(!strcmp(h, h0));
    sa_phase_scoring_hash(&base, "abd", h);
    CHECK(strcmp(h, h0) != 0);
    sa_phase_scoring_hash(&base, NULL, h);
    CHECK(strcmp(h, h0) != 0);

#define CHANGES(edit, expect_change)         \
    do {                                     \
        s = base;                            \
        edit;                                \
        sa_phase_scoring_hash(&s, "abc", h); \
        CHECK((strcmp(h, h0) != 0) == (expect_change)); \
    } while (0)
    /* what changes a score changes the hash */
    CHANGES(s.tau_mm = 2, 1);
    CHANGES(s.label = 1, 1);
    CHANGES(s.consensus.method = SA_CONSENSUS_MAJORITY, 1);
    CHANGES(s.consensus.region = SA_STAPLE_IMAGE, 1);
    CHANGES(s.consensus.dilation_voxels = 3, 1);
    CHANGES(s.consensus.tolerance = 1e-6, 1);
    CHANGES(s.consensus.max_iterations = 50, 1);
    CHANGES(s.consensus.threshold = 0.4, 1);
    CHANGES(s.lesions = 1, 1);
    /* what does not, does not */
    CHANGES(s.rule = SA_RANK_SCORE; s.n_ranked = 1, 0);
    CHANGES(snprintf(s.ranked[0].name, sizeof s.ranked[0].name, "nsd"), 0);
    CHANGES(s.n_metrics = 1, 0);
    CHANGES(s.limits.wall_seconds = 30; s.limits.memory_bytes = 1 << 30; s.gpu = 1, 0);
    CHANGES(s.opens = 1e9; s.closes = 2e9, 0);
    CHANGES(s.show_case_details = 1; s.show_logs = 1, 0);
    CHANGES(s.quota_submissions = 1; s.quota_days = 1, 0);
    CHANGES(s.bootstrap_resamples = 10; s.bootstrap_seed = 1, 0);
    CHANGES(s.distance_cap_mm = 100, 0);
    CHANGES(snprintf(s.name, sizeof s.name, "other"); snprintf(s.title, sizeof s.title, "Other"), 0);
    CHANGES(s.leaderboard_entry = SA_ENTRY_BEST; s.auto_evaluate = 0; s.human_reference = 0, 0);
    CHANGES(s.consensus.threads = 7, 0);
    /* lesion options count only when lesions are on */
    CHANGES(s.lesion.alpha = 0.2, 0);
    base.lesions = 1;
    sa_phase_scoring_hash(&base, "abc", h0);
    CHANGES(s.lesion.alpha = 0.2, 1);
    CHANGES(s.lesion.connectivity = 26, 1);
    CHANGES(s.lesion.min_volume_mm3 = 0, 1);
    /* majority ignores the STAPLE settings */
    base.consensus.method = SA_CONSENSUS_MAJORITY;
    sa_phase_scoring_hash(&base, "abc", h0);
    CHANGES(s.consensus.region = SA_STAPLE_IMAGE; s.consensus.tolerance = 1, 0);
#undef CHANGES
}

static void test_multi_options(void) {
    sa_phase_spec s;
    sa_problems p;
    CHECK(parse(full_spec, &s, &p) == 0);
    sa_problems_free(&p);
    sa_multi_options o;
    memset(&o, 0x5a, sizeof o);
    sa_phase_multi_options(&s, &o);
    CHECK(o.score.tau_mm == 2.5 && o.score.threads == 1);
    CHECK(o.consensus.method == SA_CONSENSUS_MAJORITY && o.consensus.region == SA_STAPLE_IMAGE &&
          o.consensus.threads == 1 && o.consensus.max_iterations == 100 && o.consensus.dilation_voxels == 2);
    CHECK(o.lesions == 1 && o.lesion.connectivity == 26 && o.lesion.min_volume_mm3 == 0.3 && o.lesion.gamma == 0.7);
    CHECK(o.human_reference == 0);
    CHECK(parse("{" MINIMAL "}", &s, &p) == 0);
    sa_problems_free(&p);
    sa_phase_multi_options(&s, &o);
    CHECK(o.score.tau_mm == 1 && o.lesions == 0 && o.consensus.method == SA_CONSENSUS_STAPLE &&
          o.consensus.region == SA_STAPLE_DILATED_UNION && o.lesion.connectivity == 6);
}

static void test_read_and_write_errors(void) {
    char dir[] = "/tmp/test_phase_spec_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[200];
    snprintf(path, sizeof path, "%s/phase.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(full_spec, f);
        fclose(f);
    }
    sa_phase_spec s, t;
    sa_problems p;
    sa_problems_init(&p);
    sa_error err = {{0}};
    CHECK(sa_phase_spec_read(path, &s, &p, &err) == 0 && p.count == 0);
    CHECK(parse(full_spec, &t, &p) == 0 && spec_equal(&s, &t));
    sa_problems_free(&p);
    f = fopen(path, "w");
    if (f) {
        fputs("{\"schema\": \"segarena-phase/1\"}", f);
        fclose(f);
    }
    CHECK(sa_phase_spec_read(path, &s, &p, &err) == -1 && p.count == 3);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, ": name: missing (required)");
    sa_problems_free(&p);
    unlink(path);
    CHECK(sa_phase_spec_read(path, &s, &p, &err) == -1 && p.count == 1);
    CHECK_STR_CONTAINS(err.msg, "cannot open");
    sa_problems_free(&p);
    rmdir(dir);

    /* to_json refuses what it cannot write */
    char *text = NULL;
    CHECK(parse("{" MINIMAL "}", &s, &p) == 0);
    sa_problems_free(&p);
    s.tau_mm = NAN;
    CHECK(sa_phase_spec_to_json(&s, &text, &err) == -1 && text == NULL);
    CHECK_STR_CONTAINS(err.msg, "not finite");
    s.tau_mm = 1;
    snprintf(s.title, sizeof s.title, "bad \xff utf-8");
    CHECK(sa_phase_spec_to_json(&s, &text, &err) == -1 && text == NULL);
    CHECK_STR_CONTAINS(err.msg, "UTF-8");
    s.title[0] = 0;
    s.bootstrap_seed = UINT64_MAX;
    CHECK(sa_phase_spec_to_json(&s, &text, &err) == -1 && text == NULL);
    s.bootstrap_seed = 1;
    /* an empty title is written as the name */
    CHECK(sa_phase_spec_to_json(&s, &text, &err) == 0);
    CHECK_STR_CONTAINS(text, "\"title\": \"val\"");
    free(text);
}

/* Every *.json of a folder parses without a problem and round-trips. */
static int check_examples(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return test_report("test_phase_spec (examples)");
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        sa_phase_spec s;
        sa_problems p;
        sa_problems_init(&p);
        sa_error err = {{0}};
        int rc = sa_phase_spec_read(path, &s, &p, &err);
        CHECK(rc == 0 && p.count == 0);
        for (size_t i = 0; i < p.count; i++) fprintf(stderr, "  %s\n", p.msg[i]);
        CHECK(round_trips(&s));
        /* a name that says test is a hidden phase */
        if (strstr(e->d_name, "test")) CHECK(!s.show_case_details && !s.show_logs);
        if (strstr(e->d_name, "validation")) CHECK(s.show_case_details && s.split[0] == 0);
        printf("%s: %s on %s, %zu roles, %zu metrics, rule %s\n", e->d_name, s.name, s.dataset, s.n_input_roles,
               s.n_metrics, sa_rank_rule_name(s.rule));
        sa_problems_free(&p);
        files++;
    }
    closedir(d);
    CHECK(files >= 4);
    return test_report("test_phase_spec (examples)");
}

int main(int argc, char **argv) {
    if (argc > 1) return check_examples(argv[1]);
    test_names();
    test_minimal_and_defaults();
    test_every_key();
    test_problems_listed();
    test_lesion_switch();
    test_ranking_rules();
    test_dates();
    test_scoring_hash();
    test_multi_options();
    test_read_and_write_errors();
    return test_report("test_phase_spec");
}
