/*
 * jobs.c: the job queue. Workers (threads or processes, each with its own
 * handle) claim one case at a time under a lease; the claim count (attempts) is
 * the lease token, so a worker whose lease ran out and whose job was claimed
 * again can neither renew, release nor complete it. Everything that decides who
 * holds a job happens inside one BEGIN IMMEDIATE transaction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define JOB_COLUMNS \
    "SELECT id, run_id, case_id, status, attempts, lease_owner, lease_expires FROM jobs "

/* What a lease-holding call matches: still running under this owner and claim. */
#define HELD_BY_LEASE "id = ? AND status = 'running' AND lease_owner = ? AND attempts = ?"

static int read_job(sqlite3_stmt *stmt, void *row) {
    sa_job_row *j = row;
    j->id = sqlite3_column_int64(stmt, 0);
    j->run_id = sqlite3_column_int64(stmt, 1);
    sa_db_text(stmt, 2, j->case_id, sizeof j->case_id);
    sa_db_text(stmt, 3, j->status, sizeof j->status);
    j->attempts = sqlite3_column_int64(stmt, 4);
    sa_db_text(stmt, 5, j->lease_owner, sizeof j->lease_owner);
    j->lease_expires = sqlite3_column_double(stmt, 6);
    return 0;
}

static const sa_db_row_type job_type = {sizeof(sa_job_row), read_job, NULL};

int sa_store_job_list(sa_store *st, int64_t run_id, sa_job_row **rows, size_t *n,
                      sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, JOB_COLUMNS "WHERE run_id = ? ORDER BY id", "i",
                                       run_id);
    return sa_db_collect(st, stmt, &job_type, (void **)rows, n, err);
}

/* The id of the first job a statement yields: 1 found, 0 none, -1 error. */
static int first_job_id(sa_store *st, sqlite3_stmt *stmt, int64_t *job_id, sa_error *err) {
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) *job_id = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc < 0 ? -1 : rc;
}

/* Jobs of runs still going, in queue order. */
#define ACTIVE_JOBS                                                                       \
    "SELECT j.id FROM jobs j JOIN runs r ON r.id = j.run_id "                             \
    "WHERE r.status IN ('queued', 'running') AND "

/* A queued job's lease_expires is its not-before time (0: at once): a job given
 * back after a platform or engine error waits there, so that its retries are
 * spread out instead of burnt one after another. No delay is longer than a day
 * (`worker --retry-delays` takes up to 86400 s), so a not-before time further
 * ahead than that was set before the clock was stepped back, and is due. */
#define SA_JOB_LONGEST_DELAY 86400.0
static int oldest_queued_job(sa_store *st, double now, int64_t *job_id, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        ACTIVE_JOBS "j.status = 'queued' AND (j.lease_expires <= ?1 OR j.lease_expires > ?1 + ?2) "
                    "ORDER BY j.run_id, j.id LIMIT 1",
        "dd", now, SA_JOB_LONGEST_DELAY);
    return first_job_id(st, stmt, job_id, err);
}

static int oldest_expired_job(sa_store *st, double now, int64_t *job_id, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        ACTIVE_JOBS "j.status = 'running' AND j.lease_expires < ? ORDER BY j.run_id, j.id LIMIT 1",
        "d", now);
    return first_job_id(st, stmt, job_id, err);
}

typedef struct owner_name {
    char name[SA_DB_FIELD_SIZE(sa_job_row, lease_owner)];
} owner_name;

static int read_owner(sqlite3_stmt *stmt, void *row) {
    sa_db_text(stmt, 0, ((owner_name *)row)->name, sizeof(owner_name));
    return 0;
}

static const sa_db_row_type owner_type = {sizeof(owner_name), read_owner, NULL};

/* A running job whose owner owner_dead says is dead. The owners are collected
 * first and the callback runs with no statement in progress. */
static int job_of_dead_owner(sa_store *st, sa_owner_dead_fn owner_dead, void *ctx,
                             int64_t *job_id, sa_error *err) {
    owner_name *owners;
    size_t n_owners;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT DISTINCT j.lease_owner FROM jobs j JOIN runs r ON r.id = j.run_id "
        "WHERE r.status IN ('queued', 'running') AND j.status = 'running' ORDER BY 1",
        NULL);
    if (sa_db_collect(st, stmt, &owner_type, (void **)&owners, &n_owners, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n_owners && rc == 0; i++) {
        if (!owner_dead(owners[i].name, ctx)) continue;
        stmt = sa_db_prepare(st, err,
                             ACTIVE_JOBS "j.status = 'running' AND j.lease_owner = ? "
                                         "ORDER BY j.run_id, j.id LIMIT 1",
                             "t", owners[i].name);
        rc = first_job_id(st, stmt, job_id, err);
    }
    free(owners);
    return rc;
}

/* Running jobs of cancelled runs whose worker let the lease run out will never
 * finish: they become cancelled, so that the run's progress tells the truth. */
static int cancel_abandoned_jobs(sa_store *st, double now, sa_error *err) {
    int changed = sa_db_exec(
        st, err,
        "UPDATE jobs SET status = 'cancelled', lease_owner = '', lease_expires = 0 "
        "WHERE status = 'running' AND lease_expires < ? AND run_id IN "
        "(SELECT id FROM runs WHERE status NOT IN ('queued', 'running'))",
        "d", now);
    return changed < 0 ? -1 : 0;
}

/* Inside the claim's transaction: the job to take, 1 found, 0 none, -1 error. */
static int choose_job(sa_store *st, double now, sa_owner_dead_fn owner_dead, void *ctx,
                      int64_t *job_id, sa_error *err) {
    /* jobs of dead workers first: their runs were started earliest, and their
     * leftover containers still hold memory and GPUs until taken over */
    int rc = oldest_expired_job(st, now, job_id, err);
    if (rc == 0 && owner_dead) rc = job_of_dead_owner(st, owner_dead, ctx, job_id, err);
    if (rc == 0) rc = oldest_queued_job(st, now, job_id, err);
    return rc;
}

static int take_job(sa_store *st, int64_t job_id, const char *owner, double now,
                    double lease_seconds, sa_job_row *out, sa_error *err) {
    if (sa_db_exec(st, err,
                   "UPDATE jobs SET status = 'running', lease_owner = ?, lease_expires = ?, "
                   "attempts = attempts + 1 WHERE id = ?",
                   "tdi", owner, now + lease_seconds, job_id) < 0)
        return -1;
    sqlite3_stmt *stmt = sa_db_prepare(st, err, JOB_COLUMNS "WHERE id = ?", "i", job_id);
    int found = sa_db_fetch_one(st, stmt, &job_type, out, err);
    if (found == 0) return sa_db_not_found(err, "job", job_id);
    if (found < 0) return -1;
    int changed = sa_db_exec(st, err,
                             "UPDATE runs SET status = 'running', started = ? "
                             "WHERE id = ? AND status = 'queued'",
                             "di", now, out->run_id);
    return changed < 0 ? -1 : 0;
}

int sa_store_job_claim(sa_store *st, const char *owner, double lease_seconds,
                       sa_owner_dead_fn owner_dead, void *ctx, sa_job_row *out,
                       sa_error *err) {
    memset(out, 0, sizeof *out);
    if (sa_db_check_text("job lease owner", owner, SA_DB_FIELD_SIZE(sa_job_row, lease_owner), err))
        return -1;
    if (!*owner) return sa_error_set(err, "job claim: empty lease owner");
    if (sa_db_require_no_transaction(st, "job claim", err)) return -1;
    if (sa_store_begin(st, err)) return -1;
    double now = sa_store_now();
    int64_t job_id = 0;
    int rc = cancel_abandoned_jobs(st, now, err);
    if (rc == 0) rc = choose_job(st, now, owner_dead, ctx, &job_id, err);
    if (rc == 1 && take_job(st, job_id, owner, now, lease_seconds, out, err)) rc = -1;
    if (rc >= 0 && sa_store_commit(st, err)) rc = -1;
    if (rc < 0) {
        sa_store_rollback(st);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int sa_store_job_renew(sa_store *st, const sa_job_row *job, double lease_seconds, sa_error *err) {
    int changed = sa_db_exec(st, err, "UPDATE jobs SET lease_expires = ? WHERE " HELD_BY_LEASE,
                             "diti", sa_store_now() + lease_seconds, job->id, job->lease_owner,
                             job->attempts);
    return changed < 0 ? -1 : changed > 0;
}

/* A released job of a run cancelled meanwhile becomes cancelled, not queued.
 * uncounted: the claim is taken back from attempts (the next claim reuses its
 * number); not_before goes to lease_expires (see oldest_queued_job). */
static int release(sa_store *st, const sa_job_row *job, int uncounted, double not_before,
                   sa_error *err) {
    int changed = sa_db_exec(
        st, err,
        "UPDATE jobs SET lease_owner = '', lease_expires = ?, attempts = attempts - ?, status = "
        "CASE WHEN (SELECT status FROM runs WHERE id = jobs.run_id) IN ('queued', 'running') "
        "THEN 'queued' ELSE 'cancelled' END WHERE " HELD_BY_LEASE,
        "diiti", not_before > 0 ? not_before : 0.0, uncounted ? 1 : 0, job->id, job->lease_owner,
        job->attempts);
    return changed < 0 ? -1 : changed > 0;
}

int sa_store_job_release(sa_store *st, const sa_job_row *job, sa_error *err) {
    return release(st, job, 0, 0, err);
}

int sa_store_job_give_back(sa_store *st, const sa_job_row *job, sa_error *err) {
    return release(st, job, 1, 0, err);
}

int sa_store_job_release_until(sa_store *st, const sa_job_row *job, double not_before,
                               int counted, sa_error *err) {
    return release(st, job, !counted, not_before, err);
}

static int insert_case_result(sa_store *st, const sa_job_row *job, const sa_case_result_row *res,
                              double now, sa_error *err) {
    int rc = sa_db_exec(
        st, err,
        "INSERT INTO case_results (run_id, case_id, status, error_class, container_seconds, "
        "platform_seconds, peak_memory_bytes, exit_code, result_json, detail, output_path, "
        "log_path, metric_version, dataset_checksum, image_digest, attempts, finished, "
        "fov_diagonal_mm) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, 0))",
        "ittt" "dd" "in" "tttt" "ntt" "idd",
        job->run_id, job->case_id, res->status, res->error_class, res->container_seconds,
        res->platform_seconds, res->peak_memory_bytes, res->exit_code, res->result_json,
        res->detail, res->output_path, res->log_path, res->metric_version,
        res->dataset_checksum, res->image_digest, job->attempts, now,
        isfinite(res->fov_diagonal_mm) && res->fov_diagonal_mm > 0 ? res->fov_diagonal_mm : 0.0);
    if (rc == SA_STORE_CONFLICT)
        return sa_error_set(err, "run %lld: case '%s' already has a result",
                            (long long)job->run_id, job->case_id);
    return rc < 0 ? -1 : 0;
}

/* The run and case of the result are the job's (res->run_id and res->case_id
 * are not read), its attempts the job's lease token and finished the time of
 * completion. */
int sa_store_job_complete(sa_store *st, const sa_job_row *job, const sa_case_result_row *res,
                          sa_error *err) {
    if (strcmp(res->status, "succeeded") != 0 && strcmp(res->status, "failed") != 0)
        return sa_error_set(err, "run %lld, case '%s': result status '%s' is neither "
                                 "succeeded nor failed",
                            (long long)job->run_id, job->case_id, res->status);
    if (sa_db_require_no_transaction(st, "job completion", err)) return -1;
    if (sa_store_begin(st, err)) return -1;
    double now = sa_store_now();
    int changed = sa_db_exec(st, err,
                             "UPDATE jobs SET status = 'done', finished = ?, lease_expires = 0 "
                             "WHERE " HELD_BY_LEASE,
                             "diti", now, job->id, job->lease_owner, job->attempts);
    int rc = changed < 0 ? -1 : changed > 0;
    if (rc == 1 && insert_case_result(st, job, res, now, err)) rc = -1;
    if (rc == 1 && sa_store_commit(st, err)) rc = -1;
    if (rc != 1) sa_store_rollback(st); /* lease lost or error: nothing stored */
    return rc;
}
