/*
 * store.h: the public face of SegArena's database: SQLite in the data directory
 * (DATA_DIR/segarena.db; WAL, foreign keys, busy timeout), schema migrations by
 * PRAGMA user_version, prepared statements only. store/ is the only module with
 * SQL in it; everyone else calls these typed functions.
 *
 * Entities: users and teams, challenges, phases (each with its JSON spec, see
 * docs/phase.md), datasets (as imported), submissions, runs (one submission on one
 * phase), jobs (one per case of a run, claimed by workers with a lease), case
 * results and human-reference results.
 *
 * Conventions:
 *  - Every function returns 0 on success and -1 with err set on failure, unless
 *    it says otherwise ("1 found / 0 not found / -1 error").
 *  - Times are Unix seconds (double, UTC) from sa_store_now().
 *  - Strings in rows are copied into fixed buffers or malloc'ed (free with the
 *    matching *_free function); a row never points into SQLite's memory.
 *  - One sa_store handle per thread: SQLite connections are not shared between
 *    threads here (open one per worker thread).
 */
#ifndef SEGARENA_STORE_H
#define SEGARENA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h" /* sa_error */

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this build writes (PRAGMA user_version). */
#define SA_STORE_SCHEMA_VERSION 5

/* Returned (instead of -1) by functions that insert a row whose unique key
 * already exists, e.g. the same image submitted twice to one phase. */
#define SA_STORE_CONFLICT (-2)

/* The length of the valid UTF-8 character at text (1 to 4), or 0 at its end or
 * where its bytes are not valid UTF-8 (overlong, surrogate, beyond U+10FFFF, cut
 * short). Names and titles the store keeps are valid UTF-8 (pages and JSON need
 * it); the web layer judges other text with it too. */
size_t sa_utf8_char_len(const char *text);

typedef struct sa_store sa_store;

/* Opens DATA_DIR/segarena.db, creating the data directory and the database when
 * create is 1 (else a missing database is an error naming the path), sets WAL,
 * foreign_keys=ON, busy_timeout (10 s), and migrates the schema from whatever
 * user_version it has up to SA_STORE_SCHEMA_VERSION, each step in one
 * transaction. A database newer than this build is refused. A read-only data
 * directory or a full disk gives one clear error and changes nothing. */
int sa_store_open(const char *data_dir, int create, sa_store **out, sa_error *err);
void sa_store_close(sa_store *st);

/* The data directory the store was opened in (as given to sa_store_open): where
 * the evaluator finds a dataset's manifest (datasets/NAME/dataset.json). */
const char *sa_store_data_dir(sa_store *st);

/* Schema version of the open database (after migration). */
int sa_store_schema_version(sa_store *st);

/* A random 8-hex-digit tag chosen when the database was created: container names
 * of this data directory carry it so that two data directories on one host never
 * clash. */
const char *sa_store_instance(sa_store *st);

/* Wall-clock time now, Unix seconds. */
double sa_store_now(void);

/* Explicit transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK), for callers that
 * need several calls to be atomic. Functions below that must be atomic on their
 * own (run creation, job claim, job completion) use their own transaction and
 * must not be called inside one. */
int sa_store_begin(sa_store *st, sa_error *err);
int sa_store_commit(sa_store *st, sa_error *err);
void sa_store_rollback(sa_store *st);

/* ---- users and teams ---- */

typedef struct sa_user_row {
    int64_t id;
    char name[64];
    char role[16];       /* "organiser" or "challenger" */
    char *password_hash; /* NULL when none (token-only or CLI user) */
    double created;
} sa_user_row;

int sa_store_user_add(sa_store *st, const char *name, const char *role,
                      const char *password_hash, int64_t *id_out, sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_user_get(sa_store *st, const char *name, sa_user_row *out, sa_error *err);
void sa_user_row_free(sa_user_row *row);

typedef struct sa_team_row {
    int64_t id;
    char name[64];
    double created;
} sa_team_row;

/* SA_STORE_CONFLICT when the name exists. */
int sa_store_team_add(sa_store *st, const char *name, int64_t *id_out, sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_team_get(sa_store *st, const char *name, sa_team_row *out, sa_error *err);
int sa_store_team_get_by_id(sa_store *st, int64_t id, sa_team_row *out, sa_error *err);
int sa_store_team_list(sa_store *st, sa_team_row **rows, size_t *n, sa_error *err);
int sa_store_team_add_member(sa_store *st, int64_t team_id, int64_t user_id, sa_error *err);

/* ---- accounts: API tokens, sessions, login attempts ----
 * Secrets never reach the database: tokens and session values are stored as the
 * sha256 (lower-case hex, 64 digits) of what the client holds, which
 * leaderboard/auth.c computes. */

/* Every user, ordered by name (free with sa_user_rows_free). */
int sa_store_user_list(sa_store *st, sa_user_row **rows, size_t *n, sa_error *err);
void sa_user_rows_free(sa_user_row *rows, size_t n);
/* The ids of the user's teams, ordered by id: at most max of them in team_ids,
 * *n how many were written (memberships beyond max are left out). */
int sa_store_user_teams(sa_store *st, int64_t user_id, int64_t *team_ids, size_t max, size_t *n,
                        sa_error *err);
/* Sets (NULL: clears) the user's password hash and ends the user's sessions, in
 * one transaction. -1 with "user N not found" when there is no such user. */
int sa_store_user_set_password(sa_store *st, int64_t user_id, const char *password_hash,
                               sa_error *err);

typedef struct sa_token_row {
    int64_t id, user_id;
    char user[64];       /* the user's name */
    char label[64];
    double created;
    double last_used;    /* 0: never */
    int revoked;
} sa_token_row;

/* A new API token of the user; token_hash is unique (SA_STORE_CONFLICT). */
int sa_store_token_add(sa_store *st, int64_t user_id, const char *token_hash, const char *label,
                       int64_t *id_out, sa_error *err);
/* Revokes a token by id, or by hash: 1 revoked, 0 no such token or already
 * revoked, -1 error. */
int sa_store_token_revoke(sa_store *st, int64_t token_id, sa_error *err);
int sa_store_token_revoke_hash(sa_store *st, const char *token_hash, sa_error *err);
/* The user a live (not revoked) token belongs to: 1 found, 0 not (unknown or
 * revoked), -1 error. Records the use (last_used, at most once a minute). */
int sa_store_token_user(sa_store *st, const char *token_hash, sa_user_row *user, sa_error *err);
/* The user's tokens (user_id 0: everyone's), revoked ones included, ordered by
 * id; rows own no memory: free(rows). */
int sa_store_token_list(sa_store *st, int64_t user_id, sa_token_row **rows, size_t *n,
                        sa_error *err);

/* A browser session of the user until `expires` (Unix seconds); csrf is the
 * session's anti-CSRF token (not a secret of the database's: it is only good
 * together with the session). Sessions expired by now are removed on the way. */
int sa_store_session_add(sa_store *st, int64_t user_id, const char *session_hash,
                         const char *csrf, double expires, sa_error *err);
/* The session's user and CSRF token: 1 found and not expired at `now`, 0 not
 * (unknown or expired), -1 error. */
int sa_store_session_user(sa_store *st, const char *session_hash, double now, sa_user_row *user,
                          char csrf[80], sa_error *err);
/* 1 deleted, 0 no such session, -1 error. */
int sa_store_session_delete(sa_store *st, const char *session_hash, sa_error *err);

/* Failed logins, keyed by what is limited ("user:NAME", "ip:1.2.3.4"). Adding
 * one also prunes: rows older than a day, those of keys beginning with
 * SA_LOGIN_KNOWN_PREFIX (a log-in's "known address" marks) older than
 * SA_LOGIN_KNOWN_KEEP_SECONDS. */
#define SA_LOGIN_KNOWN_PREFIX "known:"
#define SA_LOGIN_KNOWN_KEEP_SECONDS (31.0 * 86400.0)
int sa_store_login_attempt_add(sa_store *st, const char *key, double now, sa_error *err);
/* Replaces the key's rows with one at `at` (a mark such as a known address's
 * last log-in), pruning as sa_store_login_attempt_add. A known-address mark
 * ("known:ADDRESS@NAME", ADDRESS without '@') also drops the name's marks beyond
 * its SA_LOGIN_KNOWN_PER_NAME newest, so that a user logging in from ever new
 * addresses keeps a bounded set. 0 or -1. */
#define SA_LOGIN_KNOWN_PER_NAME 32
int sa_store_login_attempt_set(sa_store *st, const char *key, double at, sa_error *err);
/* Attempts of the key at or after `since`, and the time of the oldest of them
 * (0 when none; oldest may be NULL). */
int sa_store_login_attempts(sa_store *st, const char *key, double since, int64_t *count,
                            double *oldest, sa_error *err);
/* A key of a login attempt: its rows at or after `since` are counted; unless
 * count_only, the attempt adds one. */
typedef struct sa_login_key {
    const char *key;
    double since;
    int count_only;
} sa_login_key;
/* One login attempt counted before its password is checked, so that attempts
 * made in parallel cannot pass a limit together. In one IMMEDIATE transaction:
 * the rows of each of the n keys (at most SA_LOGIN_MAX_KEYS) at or after its
 * `since`, pending ones included, are counted and given to judge (counts[i],
 * oldest[i]: the key's count and its oldest row's time, 0 when none); when judge
 * returns 0, one attempt is added at `now` for each key that is not count_only
 * (their row ids in ids[], 0 for the others; pruning as
 * sa_store_login_attempt_add) and 0 returned: the attempt is pending, and counts
 * as a failure unless sa_store_login_attempt_release removes it. judge returning
 * non-zero: nothing added, 1. -1 on errors. */
#define SA_LOGIN_MAX_KEYS 4
typedef int (*sa_login_judge)(const int64_t *counts, const double *oldest, size_t n, void *ctx);
int sa_store_login_attempt_reserve(sa_store *st, const sa_login_key *keys, size_t n, double now,
                                   sa_login_judge judge, void *ctx, int64_t *ids, sa_error *err);
/* Removes the pending attempts of a reservation (a right password; ids of 0 are
 * skipped). 0 or -1. */
int sa_store_login_attempt_release(sa_store *st, const int64_t *ids, size_t n, sa_error *err);
/* Forgets the key's attempts (a successful login clears its user's). */
int sa_store_login_attempts_clear(sa_store *st, const char *key, sa_error *err);

/* ---- challenges ---- */

typedef struct sa_challenge_row {
    int64_t id;
    char slug[64];
    char *title, *description;
    double created;
} sa_challenge_row;

/* SA_STORE_CONFLICT when the slug exists. */
int sa_store_challenge_add(sa_store *st, const char *slug, const char *title,
                           const char *description, int64_t *id_out, sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_challenge_get(sa_store *st, const char *slug, sa_challenge_row *out, sa_error *err);
int sa_store_challenge_get_by_id(sa_store *st, int64_t id, sa_challenge_row *out, sa_error *err);
int sa_store_challenge_list(sa_store *st, sa_challenge_row **rows, size_t *n, sa_error *err);
void sa_challenge_row_free(sa_challenge_row *row);
void sa_challenge_rows_free(sa_challenge_row *rows, size_t n);

/* ---- datasets (the store's record of a dataset imported under datasets/) ---- */

typedef struct sa_dataset_row {
    int64_t id;
    char name[64];
    char checksum[65]; /* sha256 of its dataset.json */
    char kind[32];
    int64_t n_cases;
    double recorded;
} sa_dataset_row;

/* Inserts the dataset, or updates its checksum, kind and case count when the name
 * is known. */
int sa_store_dataset_record(sa_store *st, const char *name, const char *checksum,
                            const char *kind, int64_t n_cases, int64_t *id_out, sa_error *err);
int sa_store_dataset_get_by_id(sa_store *st, int64_t id, sa_dataset_row *out, sa_error *err);

/* ---- phases ---- */

typedef struct sa_phase_row {
    int64_t id, challenge_id, dataset_id;
    char challenge[64]; /* the challenge's slug */
    char name[64];
    char *spec_json;    /* the phase spec as stored (canonical JSON, docs/phase.md) */
    int published;
    double created, updated;
} sa_phase_row;

/* SA_STORE_CONFLICT when the challenge already has a phase of that name. */
int sa_store_phase_add(sa_store *st, int64_t challenge_id, const char *name, int64_t dataset_id,
                       const char *spec_json, int64_t *id_out, sa_error *err);
/* The phase's spec and, when dataset_id > 0, its dataset (one statement): another
 * dataset, or any update with only_without_runs set (the caller's judgement that it
 * changes which cases or inputs a run saw), only while the phase has no run; with
 * previous_spec_json, only while the stored spec is still that text (the one the
 * caller judged against). Else SA_STORE_CONFLICT, err saying which. */
int sa_store_phase_update_spec(sa_store *st, int64_t phase_id, int64_t dataset_id,
                               const char *spec_json, int only_without_runs,
                               const char *previous_spec_json, sa_error *err);
int sa_store_phase_set_published(sa_store *st, int64_t phase_id, int published, sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_phase_get(sa_store *st, const char *challenge_slug, const char *name,
                       sa_phase_row *out, sa_error *err);
int sa_store_phase_get_by_id(sa_store *st, int64_t id, sa_phase_row *out, sa_error *err);
/* challenge_id 0: every phase. Ordered by challenge then creation. */
int sa_store_phase_list(sa_store *st, int64_t challenge_id, sa_phase_row **rows, size_t *n,
                        sa_error *err);
void sa_phase_row_free(sa_phase_row *row);
void sa_phase_rows_free(sa_phase_row *rows, size_t n);

/* ---- submissions ---- */

typedef struct sa_submission_row {
    int64_t id, phase_id, team_id;
    int64_t user_id;        /* 0: none (submitted from the command line) */
    char team[64];          /* the team's name (filled by the getters) */
    char status[16];        /* "ready" or "invalid" (refused at intake) */
    char *intake_reason;    /* refusal reason; NULL when ready */
    char image_digest[80];  /* "sha256:..." config digest; "" when invalid */
    char image_name[160];   /* the name the engine holds it under */
    char upload_sha256[65]; /* of the uploaded file (uploads/<sha256>.tar) */
    int64_t upload_bytes;
    int selected;           /* the team's chosen entry (leaderboard_entry: selected) */
    int quota_exempt;       /* 1: does not count against the quota (platform fault) */
    char run_user[32];      /* "uid:gid" resolved at intake, passed as --user; ""
                             * when invalid or stored before schema 5 */
    double created;
} sa_submission_row;

/* SA_STORE_CONFLICT when a ready submission with the same image_digest exists in
 * the phase (invalid ones never conflict). */
int sa_store_submission_add(sa_store *st, const sa_submission_row *in, int64_t *id_out,
                            sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_submission_get(sa_store *st, int64_t id, sa_submission_row *out, sa_error *err);
/* team_id 0: every team. Ordered by id. */
int sa_store_submission_list(sa_store *st, int64_t phase_id, int64_t team_id,
                             sa_submission_row **rows, size_t *n, sa_error *err);
void sa_submission_row_free(sa_submission_row *row);
void sa_submission_rows_free(sa_submission_row *rows, size_t n);
/* Marks it the selected entry of its team in its phase (and no other). */
int sa_store_submission_select(sa_store *st, int64_t id, sa_error *err);
/* *used is 1 when a submission row (of any phase, ready or not) names the
 * engine image image_name: an image loaded for an upload that was then refused
 * may be removed only when none does. 0 or -1. */
int sa_store_submission_image_used(sa_store *st, const char *image_name, int *used, sa_error *err);
/* Records the numeric "uid:gid" of a ready submission stored before schema 5
 * (worked out again from its kept archive). 0, or -1 (not found too). */
int sa_store_submission_set_run_user(sa_store *st, int64_t id, const char *run_user,
                                     sa_error *err);
int sa_store_submission_set_quota_exempt(sa_store *st, int64_t id, int exempt, sa_error *err);
/* Submissions of the team in the phase created after `since` that count against
 * the quota: status ready, and not quota_exempt unless a done run of it has scored
 * a case since (a rerun or rescore). Also *slot_frees (may be NULL): the creation
 * time of the counted submission whose leaving the window brings the count below
 * quota, the (count - quota)-th oldest (0-based; the oldest when count <= quota),
 * 0 when none counts: that time + the window is when the next slot opens. */
int sa_store_quota_used(sa_store *st, int64_t phase_id, int64_t team_id, double since,
                        int64_t quota, int64_t *count, double *slot_frees, sa_error *err);

/* ---- runs and jobs ---- */

typedef struct sa_run_row {
    int64_t id, submission_id, phase_id;
    int64_t parent_run_id; /* rescore/rerun: the run it repeats; 0 otherwise */
    char kind[16];         /* "evaluate", "rerun" or "rescore" */
    char status[16];       /* "queued", "running", "done" or "cancelled" */
    char *config_json;     /* the phase spec frozen when the run was created */
    char *aggregate_json;  /* set when done; NULL before */
    double created, started, finished; /* 0 when not yet */
} sa_run_row;

/* Creates the run and one queued job per case, in one transaction. With
 * phase_spec_json (else NULL), only while the phase's stored spec is still that
 * text, judged by the insert itself: SA_STORE_CONFLICT when it changed (err says
 * so), so that no run is made on a spec `phase update` has just replaced. */
int sa_store_run_create(sa_store *st, int64_t submission_id, int64_t phase_id, const char *kind,
                        int64_t parent_run_id, const char *config_json,
                        const char *const *case_ids, size_t n_cases, int64_t *run_id_out,
                        const char *phase_spec_json, sa_error *err);
/* The same for a submission's first run: SA_STORE_CONFLICT when it already has
 * one (checked by the insert itself, so two callers at once make one run). */
int sa_store_run_create_first(sa_store *st, int64_t submission_id, int64_t phase_id,
                              const char *kind, const char *config_json,
                              const char *const *case_ids, size_t n_cases, int64_t *run_id_out,
                              const char *phase_spec_json, sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_run_get(sa_store *st, int64_t id, sa_run_row *out, sa_error *err);
/* Either filter may be 0 (any). Ordered by id. */
int sa_store_run_list(sa_store *st, int64_t phase_id, int64_t submission_id, sa_run_row **rows,
                      size_t *n, sa_error *err);
void sa_run_row_free(sa_run_row *row);
void sa_run_rows_free(sa_run_row *rows, size_t n);
/* The latest run of the submission with status done (any kind): 1 found, 0 none. */
int sa_store_run_latest_done(sa_store *st, int64_t submission_id, sa_run_row *out,
                             sa_error *err);
/* The latest done run that evaluated the submission: like sa_store_run_latest_done,
 * but passed over are a run whose every case ended with an engine_error (the
 * platform could not run or score anything of it) and a rescore that scored no
 * case where its parent had scored some (every stored output it had was unusable;
 * its other cases are the parent's failures, copied), so that the submission keeps
 * its previous evaluation, or has none. Of the others the newest, except with
 * prefer_clean when it has engine_error cases: then the newest run without any
 * that scored at least as many cases is taken, so that a platform failure in a
 * later run does not replace a clean evaluation (but a clean run whose cases
 * failed does not hide a later one that scored more). The board calls it with
 * prefer_clean, and again without when the clean run it got was scored under an
 * older configuration. 1 found, 0 none. */
int sa_store_run_latest_evaluation(sa_store *st, int64_t submission_id, int prefer_clean,
                                   sa_run_row *out, sa_error *err);
/* Queued jobs become cancelled and the run cancelled (unless already done or
 * cancelled: 0 is returned and nothing changes; 1 when it was cancelled). Jobs
 * running at that moment finish, their results are kept but the run stays
 * cancelled. */
int sa_store_run_cancel(sa_store *st, int64_t run_id, sa_error *err);
/* Marks the run done with its aggregate, only if it is queued or running and has
 * no queued or running job left: returns 1 when this call finished it, 0 when it
 * was not finishable (already done, cancelled, or jobs left). */
int sa_store_run_finish(sa_store *st, int64_t run_id, const char *aggregate_json,
                        sa_error *err);
/* Runs that are queued or running with no job left to do (a process died
 * between the last job and the aggregation): their ids, malloc'ed. */
int sa_store_runs_to_finish(sa_store *st, int64_t **ids, size_t *n, sa_error *err);

typedef struct sa_run_progress {
    int64_t total, queued, running, done, cancelled;
    int64_t succeeded, failed;  /* among done */
    int64_t engine_errors;      /* among failed: error class engine_error */
    double mean_case_seconds;   /* container + platform, over done cases; 0 if none */
    int64_t queue_position;     /* queued jobs of older runs ahead of this run's first
                                 * (the operator's view: it moves as each case of any
                                 * run ahead starts) */
    int64_t runs_ahead;         /* older runs not over yet (queued or running), of any
                                 * team and phase: moves only when a whole run ends
                                 * (what the web shows, docs/api.md) */
} sa_run_progress;

int sa_store_run_progress(sa_store *st, int64_t run_id, sa_run_progress *out, sa_error *err);
/* Failed cases of the run counted per error class ("timeout", "exit_code 3", ...):
 * parallel arrays, malloc'ed (free with sa_class_counts_free). */
int sa_store_run_failure_classes(sa_store *st, int64_t run_id, char ***classes,
                                 int64_t **counts, size_t *n, sa_error *err);
void sa_class_counts_free(char **classes, int64_t *counts, size_t n);

typedef struct sa_job_row {
    int64_t id, run_id;
    char case_id[72];
    char status[16];      /* "queued", "running", "done" or "cancelled" */
    int64_t attempts;     /* claims so far; the lease token of the current one */
    char lease_owner[128];
    double lease_expires; /* running: the lease's end; queued: not claimed before it */
} sa_job_row;

/* Says whether a lease owner (a worker's name as given to sa_store_job_claim) is
 * certainly dead, so its job can be taken before the lease expires (a worker of
 * this host whose process is gone). Return 1 dead, 0 alive or unknown. */
typedef int (*sa_owner_dead_fn)(const char *owner, void *ctx);

/* Claims one job in one IMMEDIATE transaction: a running job whose lease expired
 * (or whose owner owner_dead says is dead; owner_dead may be NULL) first, else the
 * oldest queued job of a queued or running run (runs in id order) whose not-before
 * time (lease_expires, see sa_store_job_release_until) has come, never a job of
 * a cancelled or done run. Sets status running, lease_owner = owner, lease_expires
 * = now + lease_seconds, attempts + 1, and the run running (started = now) if it
 * was queued. Returns 1 with *out filled, 0 when nothing is claimable, -1 error. */
int sa_store_job_claim(sa_store *st, const char *owner, double lease_seconds,
                       sa_owner_dead_fn owner_dead, void *ctx, sa_job_row *out,
                       sa_error *err);
/* Extends the lease if the job is still running under this owner and attempt:
 * 1 renewed, 0 lost (reclaimed or cancelled), -1 error. */
int sa_store_job_renew(sa_store *st, const sa_job_row *job, double lease_seconds, sa_error *err);
/* Every job of a run, ordered by id (rows own no memory: free(rows)). */
int sa_store_job_list(sa_store *st, int64_t run_id, sa_job_row **rows, size_t *n,
                      sa_error *err);
/* Gives the job back (queued again, lease cleared) if still held by this owner and
 * attempt; for a platform failure worth retrying. 1 released, 0 lost, -1 error. */
int sa_store_job_release(sa_store *st, const sa_job_row *job, sa_error *err);
/* The same for a claim that did nothing (no GPU free): not counted, the next claim
 * has the same attempt number, so waiting for a GPU uses up no retry. */
int sa_store_job_give_back(sa_store *st, const sa_job_row *job, sa_error *err);
/* Release (counted) or give back (counted 0) with a not-before time: the job is
 * queued again but not claimed before not_before (seconds since the epoch; kept in
 * lease_expires, which a queued job has no other use for: no schema change). So a
 * retry after a platform or engine error comes after a delay. 1, 0 lost, -1. */
int sa_store_job_release_until(sa_store *st, const sa_job_row *job, double not_before,
                               int counted, sa_error *err);

typedef struct sa_case_result_row {
    int64_t run_id;
    char case_id[72];
    char status[16];         /* "succeeded" or "failed" */
    char error_class[160];   /* "succeeded", "timeout", "exit_code 3", ... */
    double container_seconds; /* the container's wall time; 0 for rescore */
    double platform_seconds;  /* staging, checking, scoring, storing */
    int64_t peak_memory_bytes; /* -1 unknown */
    int exit_code;           /* -1 none */
    char *result_json;       /* the scores (docs/evaluator.md); NULL when failed */
    char *detail;            /* organisers only: why it was classified so; may be NULL */
    char *output_path;       /* relative to the data dir; NULL when no mask kept */
    char *log_path;          /* relative to the data dir; NULL when no log kept */
    int metric_version;      /* SA_METRIC_DEFINITION_VERSION used */
    char dataset_checksum[65];
    char image_digest[80];
    int64_t attempts;
    double finished;
    double fov_diagonal_mm;  /* the case's field-of-view diagonal from the dataset's
                              * geometry (failed cases too); 0 unknown (older results,
                              * a platform failure) */
} sa_case_result_row;

/* In one IMMEDIATE transaction: if the job is still running under this owner and
 * attempt, stores the case result (unique per run and case) and marks the job
 * done; returns 1. Returns 0 and stores nothing when the lease was lost, -1 on
 * error (nothing stored). */
int sa_store_job_complete(sa_store *st, const sa_job_row *job, const sa_case_result_row *res,
                          sa_error *err);
/* Results of a run, ordered by case id. */
int sa_store_case_results(sa_store *st, int64_t run_id, sa_case_result_row **rows, size_t *n,
                          sa_error *err);
/* 1 found, 0 not found, -1 error. */
int sa_store_case_result_get(sa_store *st, int64_t run_id, const char *case_id,
                             sa_case_result_row *out, sa_error *err);
void sa_case_result_row_free(sa_case_result_row *row);
void sa_case_result_rows_free(sa_case_result_row *rows, size_t n);

/* ---- what the web layer polls (version.c) ---- */

/* A number that changes whenever anything a phase's leaderboard is computed
 * from changes (a finished run, a submission or selection, the phase's spec or
 * published flag, a human-reference row; not the results of a run in
 * progress): a cache key. Cheap to ask again: the handle remembers the versions
 * it read while PRAGMA data_version and its own changes say nothing was
 * committed since (by any connection or process); inside a transaction it is
 * always read from the tables. */
int sa_store_results_version(sa_store *st, int64_t phase_id, int64_t *version, sa_error *err);

typedef struct sa_status_counts {
    int64_t jobs_queued, jobs_running, jobs_done, jobs_cancelled;
    int64_t runs_queued, runs_running, runs_done, runs_cancelled;
    int64_t submissions, submissions_ready;
} sa_status_counts;

/* Jobs and runs by status, submissions in all and ready ones. */
int sa_store_status_counts(sa_store *st, sa_status_counts *out, sa_error *err);

/* ---- human reference (each rater against the consensus of the others) ----
 * Keyed by a hash of the dataset checksum and the phase's scoring configuration,
 * so that it is computed once per dataset and configuration. */

/* 1 found (*json malloc'ed), 0 not found, -1 error. */
int sa_store_human_ref_get(sa_store *st, const char *config_hash, const char *case_id,
                           char **json, sa_error *err);
/* Stores it unless already stored (first one wins); 0 or -1. */
int sa_store_human_ref_put(sa_store *st, const char *config_hash, const char *case_id,
                           const char *json, sa_error *err);
/* Every stored case of a configuration: parallel arrays, ordered by case id,
 * malloc'ed (free with sa_strings_free on each). */
int sa_store_human_ref_list(sa_store *st, const char *config_hash, char ***case_ids,
                            char ***jsons, size_t *n, sa_error *err);
void sa_strings_free(char **strings, size_t n);

/* The field-of-view diagonal (mm, > 0) of each case of a phase that one is
 * known for, in one query, from the first source that has it: a case result of
 * any run of the phase (a scored one stamped with scoring_hash, a failed one
 * that recorded it for dataset_checksum), else the human reference stored under
 * scoring_hash. Parallel arrays ordered by case id, malloc'ed (sa_strings_free
 * the ids, free the values). */
int sa_store_phase_case_fov(sa_store *st, int64_t phase_id, const char *scoring_hash,
                            const char *dataset_checksum, char ***case_ids, double **fov, size_t *n,
                            sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
