/*
 * bench_web_data.c: the data directory the web benchmark (bench/bench_web.py)
 * serves: a challenge "bench" with one published phase "test" holding N
 * submissions (one team each) evaluated on C cases, written through the store
 * API without any container or dataset file, so that a leaderboard of the size
 * the issue names (100 submissions x 38 cases) is ready in seconds.
 *
 * The case results are real ones: each (submission, case) gets small synthetic
 * masks (a few spherical "lesions" on a 24x24x16 grid, 3 raters who draw them a
 * little differently, a prediction whose quality depends on the submission),
 * scored with sa_score_multi and stored with sa_case_result_json, exactly what a
 * worker stores; a few cases fail ("timeout", no scores) to exercise the
 * missing-case path. The raters' leave-one-out rows (human reference) are stored
 * too. The board reads the dataset only as the store's record (its checksum),
 * never its files.
 *
 *   bench_web_data [--submissions N] [--cases C] [--out DIR]
 *   bench_web_data --touch DIR     re-publish the phase: the results version
 *                                  changes (a cached board is stale), nothing else
 *   bench_web_data --live DIR [--interval S]
 *                                  one more team's run evaluated "live": a case
 *                                  result stored every S seconds (default 1), as a
 *                                  worker would while the server is being read
 *
 * Prints "data_dir: DIR" and "phase: bench/test" on stdout.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evaluator.h"
#include "metrics.h"
#include "store.h"

#define CHALLENGE "bench"
#define PHASE "test"
#define DATASET "bench-ms"
#define N_RATERS 3
#define MAX_LESIONS 8

static const sa_grid case_grid = {24, 24, 16, {1.0, 1.0, 1.5}};
static const char *const rater_ids[N_RATERS] = {"1", "2", "3"};

/* ---- deterministic random numbers (splitmix64, evaluator.h) ---- */

static double uniform(uint64_t *state) {
    return (double)(sa_rng_next(state) >> 11) * 0x1p-53;
}

static void random_hex(uint64_t *state, char *out, size_t digits) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < digits; i++) out[i] = hex[sa_rng_next(state) >> 60];
    out[digits] = '\0';
}

/* ---- synthetic masks ---- */

typedef struct sphere {
    double c[3]; /* centre, mm */
    double r;    /* radius, mm */
} sphere;

/* The true lesions of a case: 3 to 5 spheres of radius 2 to 4.5 mm. */
static size_t case_lesions(size_t case_index, sphere *out) {
    uint64_t state = 0xca5e0000u + case_index;
    size_t n = 3 + case_index % 3;
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; a < 3; a++) {
            size_t extent = a == 0 ? case_grid.nx : a == 1 ? case_grid.ny : case_grid.nz;
            double size_mm = (double)extent * case_grid.spacing[a];
            out[i].c[a] = 5.0 + uniform(&state) * (size_mm - 10.0);
        }
        out[i].r = 2.0 + 2.5 * uniform(&state);
    }
    return n;
}

static void draw_spheres(uint8_t *mask, const sphere *s, size_t n) {
    const sa_grid *g = &case_grid;
    memset(mask, 0, sa_grid_voxels(g));
    for (size_t z = 0; z < g->nz; z++)
        for (size_t y = 0; y < g->ny; y++)
            for (size_t x = 0; x < g->nx; x++) {
                double p[3] = {(double)x * g->spacing[0], (double)y * g->spacing[1],
                               (double)z * g->spacing[2]};
                for (size_t i = 0; i < n; i++) {
                    double dx = p[0] - s[i].c[0], dy = p[1] - s[i].c[1], dz = p[2] - s[i].c[2];
                    if (dx * dx + dy * dy + dz * dz <= s[i].r * s[i].r) {
                        mask[x + g->nx * (y + g->ny * z)] = 1;
                        break;
                    }
                }
            }
}

/* Rater k of a case: each has a boundary habit (drawn tighter, as is, wider), now
 * and then misses a lesion, and sometimes adds a small one. */
static void rater_mask(size_t case_index, size_t k, uint8_t *mask) {
    sphere truth[MAX_LESIONS], drawn[MAX_LESIONS + 1];
    size_t n = case_lesions(case_index, truth), m = 0;
    uint64_t state = 0x4a7e0000u + case_index * 16 + k;
    double habit = ((double)k - 1.0) * 0.4;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && uniform(&state) < 0.1) continue;
        drawn[m] = truth[i];
        drawn[m].r += habit + 0.2 * (uniform(&state) - 0.5);
        m++;
    }
    if (uniform(&state) < 0.2) {
        drawn[m] = (sphere){{6.0 + 12.0 * uniform(&state), 6.0 + 12.0 * uniform(&state),
                             4.0 + 16.0 * uniform(&state)}, 1.6};
        m++;
    }
    draw_spheres(mask, drawn, m);
}

/* The skill of submission s, in [0.15, 1]: how close its masks are to the truth. */
static double submission_skill(size_t s) {
    uint64_t state = 0x5c111000u + s;
    return 0.15 + 0.85 * uniform(&state);
}

/* Submission s's mask of a case: lesions shifted, resized or missed in
 * proportion to its lack of skill, plus false positives. */
static void prediction_mask(size_t s, size_t case_index, uint8_t *mask) {
    sphere truth[MAX_LESIONS], drawn[MAX_LESIONS + 2];
    size_t n = case_lesions(case_index, truth), m = 0;
    uint64_t state = 0x9e3d0000u + s * 4096 + case_index;
    double miss = 1.0 - submission_skill(s);
    for (size_t i = 0; i < n; i++) {
        if (uniform(&state) < 0.35 * miss) continue;
        drawn[m] = truth[i];
        for (int a = 0; a < 3; a++) drawn[m].c[a] += 3.0 * miss * (uniform(&state) - 0.5);
        drawn[m].r *= 1.0 + 0.6 * miss * (uniform(&state) - 0.5);
        m++;
    }
    for (int fp = 0; fp < 2; fp++)
        if (uniform(&state) < 0.5 * miss) {
            drawn[m] = (sphere){{5.0 + 14.0 * uniform(&state), 5.0 + 14.0 * uniform(&state),
                                 4.0 + 16.0 * uniform(&state)}, 1.5 + 1.5 * uniform(&state)};
            m++;
        }
    draw_spheres(mask, drawn, m);
}

/* A few failed cases: about one submission in ten times out on one case. */
static int case_fails(size_t s, size_t case_index, size_t n_cases) {
    return s % 10 == 3 && case_index == (s / 10 * 7) % n_cases;
}

/* ---- the phase ---- */

static void bench_spec(sa_phase_spec *spec) {
    static const char *const metrics[] = {"dice", "hd95", "assd", "nsd", "lesion_f1"};
    sa_phase_spec_default(spec);
    snprintf(spec->name, sizeof spec->name, PHASE);
    snprintf(spec->title, sizeof spec->title, "Benchmark phase (synthetic MS lesions)");
    snprintf(spec->dataset, sizeof spec->dataset, DATASET);
    snprintf(spec->input_roles[0], sizeof spec->input_roles[0], "flair");
    spec->n_input_roles = 1;
    spec->n_metrics = sizeof metrics / sizeof metrics[0];
    for (size_t i = 0; i < spec->n_metrics; i++)
        snprintf(spec->metrics[i], sizeof spec->metrics[i], "%s", metrics[i]);
    spec->lesions = 1;
    spec->rule = SA_RANK_MEAN_RANK;
    spec->ranked[0] = (sa_ranked_metric){"dice", 1};
    spec->ranked[1] = (sa_ranked_metric){"hd95", 0};
    spec->ranked[2] = (sa_ranked_metric){"lesion_f1", 1};
    spec->n_ranked = 3;
    spec->bootstrap_resamples = 1000;
    spec->human_reference = 1;
}

/* ---- building the data directory ---- */

typedef struct builder {
    sa_store *st;
    sa_phase_spec spec;
    char *spec_json;
    char checksum[65], scoring_hash[65];
    int64_t phase_id;
    size_t n_submissions, n_cases;
    char **case_ids;
    uint8_t *raters[N_RATERS]; /* of the current case */
    uint8_t *pred;
    sa_multi_result *scores;
    size_t scored, failed;
} builder;

static int fail(const char *what, const sa_error *err) {
    fprintf(stderr, "bench_web_data: %s: %s\n", what, err->msg);
    return -1;
}

/* Scores submission s on case c into a stored result JSON; with human_ref the
 * raters' leave-one-out scores of the case are stored too. */
static int score_case(builder *b, size_t s, size_t c, const char *digest, int human_ref,
                      char **json) {
    sa_error err;
    for (size_t k = 0; k < N_RATERS; k++) rater_mask(c, k, b->raters[k]);
    prediction_mask(s, c, b->pred);
    sa_multi_options opt;
    sa_phase_multi_options(&b->spec, &opt);
    opt.score.threads = 1;
    opt.consensus.threads = 1;
    opt.human_reference = human_ref;
    memset(b->scores, 0, sizeof *b->scores);
    if (sa_score_multi(b->pred, (const uint8_t *const *)b->raters, N_RATERS, &case_grid, &opt,
                       b->scores, &err))
        return fail("sa_score_multi", &err);
    sa_case_stamp stamp = {SA_METRIC_DEFINITION_VERSION, b->checksum, digest, b->scoring_hash};
    int rc = sa_case_result_json(b->scores, rater_ids, &case_grid, &b->spec, &stamp, json, &err);
    if (rc) fail("sa_case_result_json", &err);
    if (rc == 0 && human_ref) {
        char *human = NULL;
        rc = sa_human_reference_json(b->scores, rater_ids, &case_grid, &stamp, &human, &err);
        if (rc == 0)
            rc = sa_store_human_ref_put(b->st, b->scoring_hash, b->case_ids[c], human, &err);
        if (rc) fail("human reference", &err);
        free(human);
    }
    sa_multi_result_free(b->scores);
    return rc;
}

/* Live mode stops on SIGTERM or SIGINT: the case in hand is given back and the
 * unfinished run cancelled, so that a later live run finds no job of it. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void sleep_seconds(double seconds) {
    if (seconds <= 0) return;
    struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    while (!stop_requested && nanosleep(&ts, &ts) != 0) {
    }
}

/* Submission s: its team, the submission, a run with one job per case, every job
 * claimed and completed with its result (one every `interval` seconds: a worker
 * at work), the run's aggregate. */
static int add_submission(builder *b, size_t s, double created, double interval) {
    sa_error err;
    char team[64];
    snprintf(team, sizeof team, "team-%03zu", s + 1);
    int64_t team_id;
    if (sa_store_team_add(b->st, team, &team_id, &err)) return fail("team", &err);

    uint64_t state = 0xd16e5700u + s;
    sa_submission_row sub;
    memset(&sub, 0, sizeof sub);
    sub.phase_id = b->phase_id;
    sub.team_id = team_id;
    snprintf(sub.status, sizeof sub.status, "ready");
    memcpy(sub.image_digest, "sha256:", 7);
    random_hex(&state, sub.image_digest + 7, 64);
    snprintf(sub.image_name, sizeof sub.image_name, "localhost/segarena-bench/%s:1", team);
    random_hex(&state, sub.upload_sha256, 64);
    sub.upload_bytes = 150000000 + (int64_t)(sa_rng_next(&state) % 100000000);
    sub.created = created;
    int64_t sub_id, run_id;
    if (sa_store_submission_add(b->st, &sub, &sub_id, &err)) return fail("submission", &err);
    if (sa_store_run_create(b->st, sub_id, b->phase_id, "evaluate", 0, b->spec_json,
                            (const char *const *)b->case_ids, b->n_cases, &run_id, NULL, &err))
        return fail("run", &err);

    sa_job_row job;
    int claimed;
    while ((claimed = sa_store_job_claim(b->st, "bench_web_data", 600, NULL, NULL, &job, &err)) == 1) {
        sleep_seconds(interval);
        if (stop_requested) {
            if (sa_store_job_release(b->st, &job, &err) < 0 || sa_store_run_cancel(b->st, run_id, &err) < 0)
                return fail("stopping", &err);
            return 0;
        }
        size_t c = 0;
        while (c < b->n_cases && strcmp(b->case_ids[c], job.case_id) != 0) c++;
        if (job.run_id != run_id || c == b->n_cases) {
            fprintf(stderr, "bench_web_data: unexpected job %s of run %lld\n", job.case_id,
                    (long long)job.run_id);
            return -1;
        }
        sa_case_result_row res;
        memset(&res, 0, sizeof res);
        res.run_id = run_id;
        snprintf(res.case_id, sizeof res.case_id, "%s", job.case_id);
        res.metric_version = SA_METRIC_DEFINITION_VERSION;
        snprintf(res.dataset_checksum, sizeof res.dataset_checksum, "%s", b->checksum);
        snprintf(res.image_digest, sizeof res.image_digest, "%s", sub.image_digest);
        res.attempts = job.attempts;
        res.platform_seconds = 0.15 + 0.1 * uniform(&state);
        res.peak_memory_bytes = (int64_t)(1.5e9 + 1e9 * uniform(&state));
        if (case_fails(s, c, b->n_cases)) {
            snprintf(res.status, sizeof res.status, "failed");
            snprintf(res.error_class, sizeof res.error_class, "timeout");
            res.container_seconds = 600.0;
            res.exit_code = -1;
            res.detail = "killed after the phase's wall-clock limit (600 s)";
            b->failed++;
        } else {
            snprintf(res.status, sizeof res.status, "succeeded");
            snprintf(res.error_class, sizeof res.error_class, "succeeded");
            res.container_seconds = 30.0 + 40.0 * uniform(&state);
            res.exit_code = 0;
            if (score_case(b, s, c, sub.image_digest, s == 0, &res.result_json)) return -1;
            b->scored++;
        }
        res.finished = sa_store_now();
        int stored = sa_store_job_complete(b->st, &job, &res, &err);
        free(res.result_json);
        if (stored != 1) return stored < 0 ? fail("job complete", &err) : -1;
    }
    if (claimed < 0) return fail("job claim", &err);
    char *aggregate = NULL;
    if (sa_run_aggregate_json(b->st, run_id, &aggregate, &err)) return fail("aggregate", &err);
    int finished = sa_store_run_finish(b->st, run_id, aggregate, &err);
    free(aggregate);
    if (finished != 1) return finished < 0 ? fail("run finish", &err) : -1;
    return 0;
}

static int build(builder *b, const char *data_dir) {
    sa_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/segarena.db", data_dir);
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "bench_web_data: %s already exists; give a new --out\n", path);
        return -1;
    }
    if (sa_store_open(data_dir, 1, &b->st, &err)) return fail(data_dir, &err);

    bench_spec(&b->spec);
    if (sa_phase_spec_to_json(&b->spec, &b->spec_json, &err)) return fail("phase spec", &err);
    /* store what the board will parse back, checked the same way */
    sa_problems problems;
    sa_problems_init(&problems);
    int bad = sa_phase_spec_parse(b->spec_json, "bench phase", &b->spec, &problems, &err);
    for (size_t i = 0; bad && i < problems.count; i++) fprintf(stderr, "  %s\n", problems.msg[i]);
    sa_problems_free(&problems);
    if (bad) return fail("phase spec", &err);

    uint64_t state = 0xda7a5e7u;
    random_hex(&state, b->checksum, 64);
    sa_phase_scoring_hash(&b->spec, b->checksum, b->scoring_hash);
    int64_t challenge_id, dataset_id;
    if (sa_store_challenge_add(b->st, CHALLENGE, "Web benchmark challenge",
                               "Synthetic results for bench/bench_web.py.", &challenge_id, &err) ||
        sa_store_dataset_record(b->st, DATASET, b->checksum, "ms", (int64_t)b->n_cases, &dataset_id,
                                &err) ||
        sa_store_phase_add(b->st, challenge_id, PHASE, dataset_id, b->spec_json, &b->phase_id, &err))
        return fail("challenge and phase", &err);

    double start = sa_store_now() - (double)b->n_submissions * 3600.0;
    for (size_t s = 0; s < b->n_submissions; s++)
        if (add_submission(b, s, start + (double)s * 3600.0, 0)) return -1;
    if (sa_store_phase_set_published(b->st, b->phase_id, 1, &err)) return fail("publish", &err);
    return 0;
}

static int touch(const char *data_dir) {
    sa_error err;
    sa_store *st;
    int64_t phase_id;
    if (sa_store_open(data_dir, 0, &st, &err)) return fail(data_dir, &err);
    int found = sa_phase_find(st, CHALLENGE "/" PHASE, &phase_id, NULL, &err);
    int rc = found == 1 ? sa_store_phase_set_published(st, phase_id, 1, &err) : -1;
    if (rc) fail("touch", &err);
    sa_store_close(st);
    return rc;
}

/* Live mode: one more team submits and its run is evaluated in front of the
 * server, one case result every `interval` seconds. The new submission changes
 * the phase's results version (one rebuild of the cached board), the stored
 * results do not (a running run is not on the board), the run's end does. */
static int live(builder *b, const char *data_dir, double interval) {
    sa_error err;
    if (sa_store_open(data_dir, 0, &b->st, &err)) return fail(data_dir, &err);
    sa_phase_row phase;
    sa_dataset_row ds;
    sa_team_row *teams;
    size_t n_teams;
    int found = sa_phase_find(b->st, CHALLENGE "/" PHASE, &b->phase_id, &b->spec, &err);
    if (found != 1) return fail("live", &err);
    if (sa_store_phase_get_by_id(b->st, b->phase_id, &phase, &err) != 1) return fail("live", &err);
    b->spec_json = phase.spec_json;
    phase.spec_json = NULL;
    int rc = sa_store_dataset_get_by_id(b->st, phase.dataset_id, &ds, &err);
    sa_phase_row_free(&phase);
    if (rc == 0) rc = sa_store_team_list(b->st, &teams, &n_teams, &err);
    if (rc) return fail("live", &err);
    free(teams);
    snprintf(b->checksum, sizeof b->checksum, "%s", ds.checksum);
    sa_phase_scoring_hash(&b->spec, b->checksum, b->scoring_hash);
    if ((size_t)ds.n_cases != b->n_cases) {
        fprintf(stderr, "bench_web_data: the phase has %lld cases; give --cases %lld\n",
                (long long)ds.n_cases, (long long)ds.n_cases);
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return add_submission(b, n_teams, sa_store_now(), interval);
}

static int parse_count(const char *opt, const char *v, long lo, long hi, size_t *out) {
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || n < lo || n > hi) {
        fprintf(stderr, "bench_web_data: %s takes %ld to %ld\n", opt, lo, hi);
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

static const char usage[] =
    "usage: bench_web_data [--submissions N (100)] [--cases C (38)] [--out DIR]\n"
    "       bench_web_data --touch DIR\n"
    "       bench_web_data --live DIR [--cases C] [--interval SECONDS (1)]\n";

int main(int argc, char **argv) {
    builder b;
    memset(&b, 0, sizeof b);
    b.n_submissions = 100;
    b.n_cases = 38;
    const char *out = NULL, *touch_dir = NULL, *live_dir = NULL;
    double interval = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--submissions")) {
            if (parse_count(a, v, 1, 100000, &b.n_submissions)) return 2;
            i++;
        } else if (!strcmp(a, "--cases")) {
            if (parse_count(a, v, 1, 999, &b.n_cases)) return 2;
            i++;
        } else if (!strcmp(a, "--out") && v) {
            out = v, i++;
        } else if (!strcmp(a, "--touch") && v) {
            touch_dir = v, i++;
        } else if (!strcmp(a, "--live") && v) {
            live_dir = v, i++;
        } else if (!strcmp(a, "--interval") && v) {
            char *end;
            interval = strtod(v, &end);
            if (*end || !(interval >= 0 && interval <= 3600)) {
                fprintf(stderr, "bench_web_data: --interval takes 0 to 3600 seconds\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_web_data: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (touch_dir) return touch(touch_dir) ? 1 : 0;

    char made[4096];
    if (!out && !live_dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(made, sizeof made, "%s/segarena-webbench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(made)) {
            perror("bench_web_data: mkdtemp");
            return 1;
        }
        out = made;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t voxels = sa_grid_voxels(&case_grid);
    b.pred = malloc(voxels);
    b.scores = malloc(sizeof *b.scores);
    b.case_ids = calloc(b.n_cases, sizeof *b.case_ids);
    int rc = b.pred && b.scores && b.case_ids ? 0 : -1;
    for (size_t k = 0; rc == 0 && k < N_RATERS; k++)
        if (!(b.raters[k] = malloc(voxels))) rc = -1;
    for (size_t c = 0; rc == 0 && c < b.n_cases; c++) {
        char id[32];
        snprintf(id, sizeof id, "case-%03zu", c + 1);
        if (!(b.case_ids[c] = strdup(id))) rc = -1;
    }
    if (rc) fprintf(stderr, "bench_web_data: out of memory\n");
    else rc = live_dir ? live(&b, live_dir, interval) : build(&b, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (b.st) sa_store_close(b.st);
    if (rc == 0 && live_dir) {
        fprintf(stderr, "bench_web_data: one more run of %zu cases: %zu stored in %.1f s%s\n",
                b.n_cases, b.scored + b.failed,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                stop_requested ? ", stopped (run cancelled)" : "");
    } else if (rc == 0) {
        fprintf(stderr,
                "bench_web_data: %zu submissions x %zu cases (%zu scored, %zu failed) in %.1f s\n",
                b.n_submissions, b.n_cases, b.scored, b.failed,
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        printf("data_dir: %s\nphase: %s/%s\n", out, CHALLENGE, PHASE);
    }
    for (size_t c = 0; b.case_ids && c < b.n_cases; c++) free(b.case_ids[c]);
    free(b.case_ids);
    for (size_t k = 0; k < N_RATERS; k++) free(b.raters[k]);
    free(b.pred);
    free(b.scores);
    free(b.spec_json);
    return rc ? 1 : 0;
}
