/*
 * evaluator.h: the public face of SegArena's evaluator: what ties datasets,
 * submissions and the metric engine into a challenge.
 *
 *  - Phase specs (phase_spec.c): the JSON that defines a phase (docs/phase.md).
 *  - Case results (case_result.c): the stored JSON of one scored case and the
 *    values read back from it.
 *  - Aggregation and ranking (aggregate.c, ranking.c, bootstrap.c): pure
 *    functions, following ../shared/spec/metrics.md "Aggregation over cases":
 *    the missing-case policy, per-metric statistics, the three ranking rules with
 *    shared ranks on ties, and bootstrap rank stability.
 *  - Runs, jobs and workers (runs.c, worker.c, results.c): below.
 *
 * Library code never prints; errors come back as one line in sa_error.
 */
#ifndef SEGARENA_EVALUATOR_H
#define SEGARENA_EVALUATOR_H

#include <stddef.h>
#include <stdint.h>

#include "datasets.h"
#include "metrics.h"
#include "submissions.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================= Phase specs (phase_spec.c) ======================= */

#define SA_PHASE_SCHEMA "segarena-phase/1"
#define SA_PHASE_MAX_ROLES 16
#define SA_PHASE_MAX_METRICS 32
#define SA_PHASE_MAX_RANKED 8

typedef enum sa_rank_rule {
    SA_RANK_SCORE,               /* "score": one metric, aggregate (mean) then rank */
    SA_RANK_MEAN_RANK,           /* "mean_rank": rank per metric, average the ranks */
    SA_RANK_THEN_AGGREGATE       /* "rank_then_aggregate": rank per case, average */
} sa_rank_rule;

typedef enum sa_entry_rule {
    SA_ENTRY_LATEST,   /* "latest": the team's most recent evaluated submission */
    SA_ENTRY_BEST,     /* "best": the team's best-ranked evaluated submission */
    SA_ENTRY_SELECTED  /* "selected": the one the team selected (none: no row) */
} sa_entry_rule;

const char *sa_rank_rule_name(sa_rank_rule r);   /* "score", ... */
const char *sa_entry_rule_name(sa_entry_rule r); /* "latest", ... */

typedef struct sa_ranked_metric {
    char name[32];        /* a name of sa_metric_table or sa_lesion_metric_table */
    int higher_is_better; /* 1 or 0, must agree with the metric's own direction */
} sa_ranked_metric;

/* A phase, as docs/phase.md defines it (schema segarena-phase/1). Defaults in
 * brackets are what sa_phase_spec_default sets and what a spec that omits the key
 * gets. */
typedef struct sa_phase_spec {
    char name[64];                /* required; [A-Za-z0-9][A-Za-z0-9._-]{0,62} */
    char title[256];              /* [name] */
    char dataset[64];             /* required: a dataset name of the data directory */
    char split[64];               /* ["" = every case] else only cases of that split */
    char input_roles[SA_PHASE_MAX_ROLES][64]; /* required, >= 1: roles handed to /input */
    size_t n_input_roles;
    long label;                   /* [-1 = any non-zero voxel] else that label value */
    sa_consensus_options consensus; /* method ["staple"], region ["dilated_union"] */
    double tau_mm;                /* NSD tolerance [1] */
    int lesions;                  /* lesion-wise detection on: [1 when a lesion metric
                                   * is listed, else 0] */
    sa_lesion_options lesion;     /* ["lesions": {connectivity, min_volume_mm3, alpha,
                                   * beta, gamma}, the spec's defaults] */
    char metrics[SA_PHASE_MAX_METRICS][32]; /* reported and aggregated, in order
                                   * [dice, hd95, assd, nsd, sensitivity, ppv]; the
                                   * ranked metrics are always included */
    size_t n_metrics;
    sa_rank_rule rule;            /* ["mean_rank"] */
    sa_ranked_metric ranked[SA_PHASE_MAX_RANKED]; /* [dice, hd95]; "score": exactly 1 */
    size_t n_ranked;
    double distance_cap_mm;       /* [0 = each case's field-of-view diagonal] */
    sa_run_limits limits;         /* "limits": wall_seconds [600], memory_mb [8192],
                                   * cpus [2], pids [256], output_mb [1024], tmp_mb
                                   * [2048]; gpu: [false] (limits.gpu stays -1 here;
                                   * the worker assigns the index) */
    int gpu;                      /* limits.gpu requested */
    uint64_t max_upload_bytes;    /* "max_upload_mb" [10240] */
    int quota_submissions;        /* "quota": {"submissions": N, "days": D}; [0 = none] */
    double quota_days;
    double opens, closes;         /* ISO 8601 UTC ("2026-11-01T00:00:00Z"); [0 = unset] */
    int show_case_details;        /* [0] */
    int show_logs;                /* [0]; only meaningful with show_case_details */
    sa_entry_rule leaderboard_entry; /* ["latest"] */
    int auto_evaluate;            /* evaluate new submissions at once [1] */
    int human_reference;          /* compute and show the rater rows [1] */
    int bootstrap_resamples;      /* [1000] */
    uint64_t bootstrap_seed;      /* [20160101] */
} sa_phase_spec;

void sa_phase_spec_default(sa_phase_spec *spec);

/* The shortest text that reads back to v (finite): "600", "0.1", "123.45", as the
 * canonical spec writes numbers. */
void sa_format_number(char buf[40], double v);

/* Parses and validates a phase spec (every problem listed in problems, each one
 * line naming `label` and the key). Unknown keys are problems. Returns 0 or -1. */
int sa_phase_spec_parse(const char *json_text, const char *label, sa_phase_spec *out,
                        sa_problems *problems, sa_error *err);
/* Reads a file and parses it (label = path). */
int sa_phase_spec_read(const char *path, sa_phase_spec *out, sa_problems *problems,
                       sa_error *err);
/* Canonical JSON of a spec with every default written out, keys in a fixed order
 * (so that parse(to_json(s)) == s). *json_out malloc'ed. */
int sa_phase_spec_to_json(const sa_phase_spec *spec, char **json_out, sa_error *err);
/* sha256 (hex) of what scoring a case depends on: the dataset checksum, label,
 * consensus, tau, lesion options and SA_METRIC_DEFINITION_VERSION. Keys stored
 * human-reference results and says whether a rescore would change anything. */
void sa_phase_scoring_hash(const sa_phase_spec *spec, const char *dataset_checksum,
                           char hex[65]);
/* The sa_multi_options a case of this phase is scored with. */
void sa_phase_multi_options(const sa_phase_spec *spec, sa_multi_options *opt);
/* Scoring on a host whose GPUs contestant containers also get (gpu_share.c): when
 * opt would use the GPU for grid g and that many raters, takes CUDA device 0's lock
 * (and lets the upload's packing use every core) (the one
 * sa_gpu_claim hands to containers) and returns its index, or, when a container
 * holds it, sets opt->score.device to the CPU and returns -1; -1 as well when the
 * GPU would not be used. sa_scoring_gpu_give(index) after scoring frees the
 * engine's kept device memory and the lock (nothing for -1). */
int sa_scoring_gpu_take(const sa_grid *g, size_t raters, sa_multi_options *opt);
void sa_scoring_gpu_give(int gpu);
/* Parses "2026-11-01T00:00:00Z" (also without seconds or with +hh:mm) into Unix
 * seconds; 0 or -1. And formats one back (UTC, 'Z'). */
int sa_iso8601_parse(const char *text, double *out);
void sa_iso8601_format(double t, char buf[32]);

/* ==================== Case results (case_result.c) ==================== */

/* What a stored case result is stamped with. */
typedef struct sa_case_stamp {
    int metric_version;       /* SA_METRIC_DEFINITION_VERSION */
    const char *dataset_checksum;
    const char *image_digest;
    const char *scoring_hash; /* sa_phase_scoring_hash */
} sa_case_stamp;

/* The stored JSON of one scored case (docs/evaluator.md): {"stamp", "conventions",
 * "case": {fov_diagonal_mm, both_empty, ...}, "consensus": {...every metric...},
 * "raters": {"<id>": {...}}, "rater_mean": {...}, "staple": {...}}. Every
 * published metric is stored (not only the phase's), undefined ones as null with
 * "<name>_reason", never NaN. rater_ids[k] names r->vs_rater[k]. *json malloc'ed. */
int sa_case_result_json(const sa_multi_result *r, const char *const *rater_ids,
                        const sa_grid *grid, const sa_phase_spec *spec,
                        const sa_case_stamp *stamp, char **json, sa_error *err);
/* The stored JSON of a case's human reference: {"stamp", "raters": {"<id>":
 * {...metrics of that rater against the others' consensus...}}}. */
int sa_human_reference_json(const sa_multi_result *r, const char *const *rater_ids,
                            const sa_grid *grid, const sa_case_stamp *stamp, char **json,
                            sa_error *err);

/* The values of one case that aggregation needs, in sa_metric_table /
 * sa_lesion_metric_table order. */
typedef struct sa_case_values {
    int failed;            /* no valid mask: every value undefined */
    int both_empty;        /* reference and prediction both empty */
    int has_lesions;       /* lesion values present */
    double fov_diagonal_mm; /* the default distance cap of this case */
    sa_value pair[24];
    sa_value lesion[12];
    char scoring_hash[65]; /* the stored result's stamp.scoring_hash; "" when none */
} sa_case_values;

/* The field-of-view diagonal of a grid, sqrt(sum over axes of (size * spacing)^2) in
 * mm: a case's distance penalty when it failed (docs/ranking.md). */
double sa_fov_diagonal_mm(const size_t size[3], const double spacing[3]);
/* Values of a failed case (failed = 1, every value undefined). */
void sa_case_values_failed(sa_case_values *out, double fov_diagonal_mm);
/* Reads the "consensus" scores of a stored case result (and its stamp's
 * scoring_hash). */
int sa_case_values_from_json(const char *json, sa_case_values *out, sa_error *err);
/* The stamp's scoring_hash of a stored case result into hash: 0, or -1 when the
 * text is not JSON or has none (hash ""). Readable even where the scores are not
 * (a result from older metric definitions). */
int sa_case_result_scoring_hash(const char *json, char hash[65]);
/* The same, remembered per process by the text of the JSON (memo.c): what the
 * leaderboard uses, so that a rebuild parses only new results. */
int sa_case_values_from_json_cached(const char *json, sa_case_values *out, sa_error *err);
/* Reads rater `rater_id`'s scores of a stored human reference. 1 found, 0 no such
 * rater, -1 error. */
int sa_case_values_from_human_json(const char *json, const char *rater_id,
                                   sa_case_values *out, sa_error *err);
/* Rater ids present in a stored human reference, in stored order (malloc'ed
 * strings in a malloc'ed array; free each then the array). */
int sa_human_json_raters(const char *json, char ***ids, size_t *n, sa_error *err);

/* ============ Aggregation and ranking (aggregate.c, ranking.c, bootstrap.c) ============ */

typedef enum sa_agg_kind {
    SA_AGG_RATIO,        /* dice ... lesion_f1: failed 0, null 1 if both empty else 0 */
    SA_AGG_DISTANCE,     /* hd, hd95 (and variants), assd, masd: failed/null = cap */
    SA_AGG_NOT_RANKABLE  /* volumes, rve_percent, lesion counts: mean over defined */
} sa_agg_kind;

/* The aggregation class of a published metric name; -1 when unknown. */
int sa_metric_agg_kind(const char *name);
/* Direction of a published metric: 1 higher is better, 0 lower, -1 not rankable
 * or unknown. */
int sa_metric_direction(const char *name);

/* The value of `metric` for one case as the leaderboard aggregates it (spec table
 * "Aggregation over cases"): failed cases and nulls substituted (distance cap =
 * distance_cap_mm when > 0, else the case's fov_diagonal_mm; a defined distance
 * above an explicit cap counts as the cap, so that failing a case never scores
 * better than scoring it; pet_accuracy from the
 * substituted sensitivity and PPV; lesion metrics: "no lesion on either side"
 * counts as both_empty). Returns 1 with *out set, 0 when the value is left out
 * (a not-rankable metric that is undefined; a failed or null distance with no
 * cap known: distance_cap_mm <= 0 and fov_diagonal_mm 0, which would otherwise
 * read 0 mm, the best value), -1 for an unknown metric. */
int sa_aggregate_value(const sa_case_values *cv, const char *metric, double distance_cap_mm,
                       double *out);

/* Deterministic random numbers for the bootstrap (splitmix64), so that results
 * are reproducible and testable: sa_rng_next advances the state; sa_rng_index
 * maps a draw to [0, n) as (draw * n) >> 64 (128-bit product). */
uint64_t sa_rng_next(uint64_t *state);
size_t sa_rng_index(uint64_t *state, size_t n);

typedef struct sa_metric_stats {
    size_t n;              /* values used */
    double mean, median;   /* median: numpy's percentile 50 */
    double std;            /* sample standard deviation (n - 1); 0 when n < 2 */
    double ci_lo, ci_hi;   /* 95 % bootstrap CI of the mean: percentiles 2.5 and 97.5
                            * (numpy linear) of the means of `resamples` resamples
                            * drawn with sa_rng_index from `seed`; = mean when n < 2 */
} sa_metric_stats;

/* Statistics of n >= 0 values (n == 0: everything 0 and n = 0). */
int sa_metric_stats_compute(const double *values, size_t n, size_t resamples, uint64_t seed,
                            sa_metric_stats *out, sa_error *err);
/* The same, remembered per process by its inputs (memo.c), for board rebuilds. */
int sa_metric_stats_compute_cached(const double *values, size_t n, size_t resamples, uint64_t seed,
                                   sa_metric_stats *out, sa_error *err);

/* Competition ranks ("1, 2, 2, 4"): rank of i = 1 + number of keys strictly
 * better than key i (higher_is_better: greater is better). Exact comparison. */
void sa_competition_ranks(const double *keys, size_t n, int higher_is_better, int *ranks);

/* The numbers a ranking is computed from: values[(e * n_metrics + m) * n_cases + c]
 * is entry e's value of ranked metric m on case c, already through
 * sa_aggregate_value (no NaN, no missing). */
typedef struct sa_rank_table {
    size_t n_entries, n_metrics, n_cases;
    const double *values;
    const int *higher_is_better; /* per metric */
} sa_rank_table;

/* Ranks the entries by a rule over the cases cases[0..n_cases_used-1] (indices
 * into the table, repeats allowed: a bootstrap resample; cases NULL: every case
 * once).
 *  - score: key = mean over cases of metric 0 (n_metrics must be 1), ranked in
 *    that metric's direction.
 *  - mean_rank: per metric, the mean over cases, ranked across entries; key = the
 *    mean of those ranks over metrics, lower is better.
 *  - rank_then_aggregate: per case and metric, entries ranked on that value; key =
 *    the mean of all those ranks, lower is better.
 * Ties share the lower rank. key_out[e] (may be NULL) receives the key, rank_out[e]
 * the rank. Returns 0, or -1 (empty table, score with several metrics, memory). */
int sa_rank_entries(const sa_rank_table *t, sa_rank_rule rule, const size_t *cases,
                    size_t n_cases_used, double *key_out, int *rank_out, sa_error *err);

/* Kendall's tau-b between two rankings of n items (ties allowed). *defined = 0
 * (and 0 returned) when n < 2 or one ranking is all ties. */
double sa_kendall_tau_b(const int *a, const int *b, size_t n, int *defined);

typedef struct sa_rank_stability {
    double median_rank;      /* numpy percentile 50 of the entry's resampled ranks */
    double rank_lo, rank_hi; /* percentiles 2.5 and 97.5 */
} sa_rank_stability;

typedef struct sa_bootstrap_summary {
    size_t resamples;
    size_t tau_defined;        /* resamples where tau-b was defined */
    double tau_mean, tau_lo, tau_hi; /* over those: mean, percentiles 2.5 and 97.5 */
} sa_bootstrap_summary;

/* Rank stability (spec "Rank stability"): `resamples` resamples of the cases, each
 * of n_cases draws with sa_rng_index from one state seeded with `seed` (resample r
 * uses draws r*n_cases .. r*n_cases+n_cases-1), each ranked with `rule`; per entry
 * the median rank and 95 % interval, and Kendall's tau-b between the full ranking
 * and each resample's. per_entry has n_entries elements. */
int sa_rank_bootstrap(const sa_rank_table *t, sa_rank_rule rule, size_t resamples,
                      uint64_t seed, sa_rank_stability *per_entry, sa_bootstrap_summary *summary,
                      sa_error *err);
/* How often each entry got each rank over the same resamples as
 * sa_rank_bootstrap (same seed, same draws): counts[e * n_entries + (rank - 1)],
 * n_entries * n_entries elements, each entry's counts summing to `resamples`.
 * What a rank-stability blob plot draws. */
int sa_rank_bootstrap_counts(const sa_rank_table *t, sa_rank_rule rule, size_t resamples,
                             uint64_t seed, unsigned *counts, sa_error *err);


/* ============ Organising: phases, submissions, runs (organise.c, submit.c, runs.c) ============
 * Everything below works on a data directory (DATA_DIR: segarena.db, datasets/,
 * uploads/, runs/, scratch/) through an open store. */

typedef struct sa_store sa_store; /* store.h */

/* Defines a phase of a challenge from a spec file: the spec is validated, its
 * dataset must exist in DATA_DIR and verify (every checksum), its split must hold
 * at least one case and its input roles must be roles of the dataset; the
 * dataset is recorded with its checksum and the canonical spec stored. Every
 * problem goes to problems. */
int sa_phase_create(sa_store *st, const char *data_dir, const char *challenge_slug,
                    const char *spec_path, int64_t *phase_id, sa_problems *problems,
                    sa_error *err);
/* Replaces a phase's spec (same checks). The dataset may change only while the
 * phase has no run. Runs keep the spec they were created with; a rescore or
 * rerun uses the new one. */
int sa_phase_update(sa_store *st, const char *data_dir, int64_t phase_id, const char *spec_path,
                    sa_problems *problems, sa_error *err);
/* Finds "CHALLENGE/PHASE" (or a numeric phase id) and parses its stored spec.
 * 1 found, 0 not found (err says which part), -1 error. spec may be NULL. */
int sa_phase_find(sa_store *st, const char *ref, int64_t *phase_id, sa_phase_spec *spec,
                  sa_error *err);
/* Computes and stores the human reference (each rater against the consensus of
 * the others) of every case of the phase's split that has none for the spec's
 * scoring configuration; *computed says how many. Called by sa_phase_create and
 * sa_phase_update; workers compute a missing one themselves. */
int sa_phase_human_reference(sa_store *st, const char *data_dir, const sa_phase_spec *spec,
                             size_t *computed, sa_error *err);
/* sha256 hex of DATA_DIR/datasets/NAME/dataset.json. */
int sa_dataset_checksum(const char *data_dir, const char *name, char hex[65], sa_error *err);
/* The case ids of the phase's split, in manifest order (malloc'ed; free with
 * sa_strings_free from store.h). */
int sa_phase_case_ids(const char *data_dir, const sa_phase_spec *spec, char ***ids, size_t *n,
                      sa_error *err);

/* Why a submission was refused before or at intake. */
typedef enum sa_submit_refusal {
    SA_SUBMIT_ACCEPTED = 0,
    SA_SUBMIT_NOT_OPEN,     /* before the phase's opening date */
    SA_SUBMIT_CLOSED,       /* after its closing date */
    SA_SUBMIT_QUOTA,        /* the team used its quota; next_slot says when one frees */
    SA_SUBMIT_TOO_LARGE,    /* the upload exceeds the phase's max_upload_mb */
    SA_SUBMIT_INVALID,      /* refused at intake (reason from submissions/) */
    SA_SUBMIT_DUPLICATE     /* the same image is already a submission of the phase */
} sa_submit_refusal;

const char *sa_submit_refusal_name(sa_submit_refusal r); /* "accepted", "quota", ... */

typedef struct sa_submit_request {
    const char *data_dir;
    int64_t phase_id;
    int64_t team_id;
    int64_t user_id;          /* 0: from the command line */
    const char *archive_path; /* the uploaded file (copied to uploads/<sha256>.tar) */
    sa_engine_kind engine;
    /* How refusal reasons (answered and stored) name the upload; NULL: its
     * archive_path. The web server's temporary path is nobody's business. */
    const char *display_name;
} sa_submit_request;

typedef struct sa_submit_outcome {
    sa_submit_refusal refusal;
    char reason[600];       /* one line when refused, naming no server path (the
                             * challenger reads it) */
    char detail[600];       /* an intake or engine refusal's message as it came,
                             * server paths and all: for the server's log */
    double next_slot;       /* SA_SUBMIT_QUOTA: when the oldest counted submission
                             * leaves the window */
    int64_t submission_id;  /* accepted, or recorded as invalid; 0 otherwise */
    int64_t run_id;         /* the evaluation run when the phase evaluates at once */
    sa_image_info image;    /* intake's findings */
} sa_submit_outcome;

/* Takes a submission: dates and quota first, then the upload is stored under
 * uploads/ (sha256, atomically), inspected and loaded by submissions/, checked
 * for a duplicate image in the phase, recorded, and (auto_evaluate) a run is
 * queued. A refusal is not an error: returns 0 with out->refusal set; -1 only for
 * platform failures (err). */
int sa_submit(sa_store *st, const sa_submit_request *req, sa_submit_outcome *out, sa_error *err);

/* The first check of sa_submit alone, for a caller that must refuse before it
 * reads an upload (the web server): the phase's dates and the team's quota at
 * time now. 0 with out->refusal SA_SUBMIT_ACCEPTED, or NOT_OPEN, CLOSED or QUOTA
 * (reason, next_slot); -1 on store errors or an unknown phase. */
int sa_quota_check(sa_store *st, int64_t phase_id, int64_t team_id, double now,
                   sa_submit_outcome *out, sa_error *err);

/* Queues a run of a submission on its phase with the phase's current spec:
 * kind "evaluate" (a first evaluation; SA_STORE_CONFLICT when the submission
 * already has a run, checked in the transaction that creates it), "rerun"
 * (containers again; parent_run the
 * run repeated, 0: none) or "rescore" (metrics again from the outputs stored by
 * parent_run, no container; parent_run required and done or cancelled).
 * 0; SA_RUN_REFUSED when the request cannot be done (an unknown kind,
 * submission or run, a submission refused at intake, a rescore of an
 * unfinished run, no case); SA_STORE_CONFLICT as above; -1 when the platform
 * failed (the store, the phase's dataset gone). err says why. */
#define SA_RUN_REFUSED (-3)
int sa_run_queue(sa_store *st, const char *data_dir, int64_t submission_id, const char *kind,
                 int64_t parent_run, int64_t *run_id, sa_error *err);

/* The aggregate JSON of a run whose jobs are all done (docs/results.md): per
 * metric of its spec: mean, median, std, 95 % CI and n; failed cases per class. */
int sa_run_aggregate_json(sa_store *st, int64_t run_id, char **json, sa_error *err);

/* The aggregation rules a stored run aggregate was computed under (its
 * "aggregation_version"; none: 1). 2: a scored distance above an explicit
 * distance cap counts as the cap, and a failed case's diagonal comes from the
 * dataset's manifest where no result holds one (known nowhere: no value, where
 * version 1 could give 0 mm). */
#define SA_AGGREGATION_VERSION 2

/* The aggregate of a run as it reads now, for showing (run pages and API,
 * `segarena run show`): its stored aggregate when that was computed under
 * SA_AGGREGATION_VERSION with every failed case's distance cap known, else
 * computed again from its case results (sa_run_aggregate_json: the rules of
 * this build, and a diagonal that another run or the manifest gives by now),
 * never stored. *json NULL (0 returned) when the run has no stored aggregate. */
struct sa_run_row; /* store.h */
int sa_run_aggregate_current(sa_store *st, const struct sa_run_row *run, char **json, sa_error *err);

/* ======================== Workers (worker.c, job.c) ======================== */

typedef enum sa_worker_event_kind {
    SA_WORKER_CASE_DONE,   /* a case was stored */
    SA_WORKER_CASE_RETRY,  /* an engine error: the case goes back to the queue */
    SA_WORKER_RUN_DONE,    /* a run was aggregated and marked done */
    SA_WORKER_PROBLEM      /* a job could not be handled (message) */
} sa_worker_event_kind;

typedef struct sa_worker_event {
    sa_worker_event_kind kind;
    int64_t run_id;
    const char *case_id;
    const char *error_class;  /* CASE_DONE */
    double container_seconds, platform_seconds;
    const struct sa_run_progress *progress; /* CASE_DONE: the run's, after this case */
    const char *message;      /* PROBLEM */
} sa_worker_event;

typedef struct sa_worker_options {
    const char *data_dir;
    sa_engine_kind engine;
    int threads;            /* jobs run at once in this process (>= 1) */
    double lease_seconds;   /* default 60; renewed every third of it */
    int until_idle;         /* return once no job is queued or running anywhere */
    volatile int *stop;     /* set to non-zero to stop after the current jobs */
    /* Seconds a case waits in the queue before its next claim after a platform or
     * engine error: retry_delays[attempt - 1], the last one repeated. NULL: 30 s,
     * 2 min, 10 min, 30 min. retry_delays[0] is also how long the worker pauses
     * claiming while the data directory cannot be written (disk full, read-only,
     * I/O error, quota) before it looks again. Smaller values are for tests. */
    const double *retry_delays;
    size_t n_retry_delays;
    /* Seconds between sweeps for containers and scratch folders of jobs no live
     * worker is running (a dead worker's, a cancelled run's); 0: 300. */
    double sweep_seconds;
    /* Called from worker threads (serialised by the worker): progress. */
    void (*on_event)(const sa_worker_event *ev, void *ctx);
    void *ctx;
} sa_worker_options;

void sa_worker_options_default(sa_worker_options *opt);

/* Runs jobs until stopped (or idle): each thread claims a job with a lease, runs
 * the container (or reads the stored output for a rescore), checks and scores
 * the mask against the consensus and every rater, stores the result, and
 * aggregates a run when its last job is stored. Jobs of dead workers are taken
 * over when their lease expires (at once when the owner was a process of this
 * host that is gone), after removing their container. Returns 0, or -1 when the
 * store cannot be used (err). */
int sa_worker_run(const sa_worker_options *opt, sa_error *err);

/* The lease owner name of this process's thread `index`: "<host>:<pid>:<start>:<index>". */
void sa_worker_owner_name(int index, char *buf, size_t size);
/* 1 when an owner name is a process of this host that no longer exists. */
int sa_worker_owner_dead(const char *owner, void *ctx);

/* ===================== Leaderboard tables (leaderboard.c) ===================== */

typedef struct sa_board_row {
    int64_t submission_id, run_id, team_id; /* 0 for human-reference rows */
    char team[64];          /* team name, or "rater <id>" for a human-reference row */
    char rater[64];         /* human-reference rows: the rater id; else "" */
    double submitted;       /* submission time */
    int rank;               /* by the phase's rule; 0 for human-reference rows */
    double key;             /* the rule's key (score or mean rank) */
    sa_metric_stats stats[SA_PHASE_MAX_METRICS]; /* per spec.metrics entry */
    sa_rank_stability stability;               /* bootstrap; teams only */
    size_t n_cases, n_failed;
} sa_board_row;

/* An evaluated submission left off the board because its results were scored
 * under another scoring configuration than the phase's current one. */
typedef struct sa_board_stale {
    int64_t submission_id, run_id, team_id;
    char team[64];
    double submitted;
    int selected;          /* the team selected this submission */
    char scoring_hash[65]; /* a hash its results were scored under; "" unknown */
} sa_board_stale;

typedef struct sa_board {
    sa_phase_spec spec;
    int published;
    char challenge[64], phase[64];
    char scoring_hash[65];  /* the phase's current sa_phase_scoring_hash */
    size_t n_stale;         /* entries that need rescoring: not ranked, no row */
    sa_board_stale *stale;  /* in submission order */
    size_t n_rows;          /* team rows, ranked (rank order, then submission time) */
    sa_board_row *rows;
    size_t n_human;
    sa_board_row *human;    /* the raters' leave-one-out rows (spec.human_reference) */
    size_t n_cases;
    char **case_ids;
    /* per team row, metric and case: the value aggregated (after the missing-case
     * policy; NaN where a not-rankable metric is left out, or a distance has no
     * cap known: n_cases_without_cap):
     * values[(row * spec.n_metrics + m) * n_cases + c] */
    double *values;
    char **case_class;      /* per row and case: "succeeded", "timeout", ..., "missing" */
    sa_bootstrap_summary bootstrap;
    /* cases that no entry scored and whose field-of-view diagonal is known
     * nowhere (no result recorded it, the dataset's manifest cannot be read),
     * with the default cap: their failures have no distance value (NaN, null in
     * the JSON), for every entry alike, and they are left out of the ranking */
    size_t n_cases_without_cap;
} sa_board;

/* Builds the ranked table of a phase from the latest done run of each submission,
 * one row per team by spec.leaderboard_entry (all_entries: every evaluated
 * submission instead). Ranks with the spec's rule, bootstrap stability, and the
 * human-reference rows. A submission whose run was scored under another scoring
 * hash than the phase's current one is not an entry: it is listed in stale
 * ("needs rescoring"; with the selected rule and not all_entries, only selected
 * ones) and takes no part in cases, rows or ranks. */
int sa_board_build(sa_store *st, int64_t phase_id, int all_entries, sa_board *out,
                   sa_error *err);
void sa_board_free(sa_board *b);
/* A hidden phase (spec.show_case_details 0) shows no single case's value to
 * those without case details: its plots draw no box for fewer values than this
 * (the quartiles would be case values), and sa_board_public_view drops the
 * median, std and CI over fewer (the median of an odd count is one case's value;
 * the bootstrap CI bounds of up to 3 values are the lowest and highest of them;
 * the mean and std of 2 values are both values, mean ± std / √2). */
#define SA_BOARD_MIN_HIDDEN_VALUES 4
/* The board as viewers without case details get it (the public's page and JSON):
 * in a hidden phase, each row's and rater row's median, std, ci_lo and ci_hi of a
 * metric with fewer than SA_BOARD_MIN_HIDDEN_VALUES values (stats n) become NaN
 * (null in the JSON, not shown on the page). A phase with case details is left
 * as it is. Organisers' exports (with cases, the CLI) do not call it. */
void sa_board_public_view(sa_board *b);
/* The missing-case policy of a phase in one sentence (leaderboard JSON, pages,
 * the CLI table): how failed and missing cases and undefined values count, with
 * the distance cap in force. */
void sa_missing_case_policy(const sa_phase_spec *spec, char *buf, size_t size);
/* One sentence on the board's cases without a distance cap
 * (n_cases_without_cap), to follow the policy; "" when there are none. */
void sa_board_no_cap_note(const sa_board *b, char *buf, size_t size);
/* The table as JSON (docs/results.md), compact (as the API answers it). flags:
 * SA_BOARD_JSON_CASES adds per-case values, SA_BOARD_JSON_INDENT indents by 2
 * (for people: segarena results --json). */
#define SA_BOARD_JSON_CASES 1
#define SA_BOARD_JSON_INDENT 2
int sa_board_to_json(const sa_board *b, int flags, char **json, sa_error *err);

#ifdef __cplusplus
}
#endif
/* A malloc'ed copy of s with every byte that does not start a valid UTF-8
 * character (store.h's sa_utf8_char_len) replaced by U+FFFD; NULL when out of
 * memory. Stored text goes into JSON and pages through it (aggregate_run.c). */
char *sa_text_valid_utf8(const char *s);

#endif
