/*
 * runs.c: runs (one submission on one phase, with the phase spec frozen in it)
 * and their life: creation with one queued job per case, cancellation, the
 * final transition to done with the aggregate, progress and failure counts.
 * Claiming and finishing single jobs is in jobs.c.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define RUN_COLUMNS                                                                     \
    "SELECT id, submission_id, phase_id, coalesce(parent_run_id, 0), kind, status, "    \
    "config_json, aggregate_json, created, started, finished FROM runs "

static int read_run(sqlite3_stmt *stmt, void *row) {
    sa_run_row *r = row;
    r->id = sqlite3_column_int64(stmt, 0);
    r->submission_id = sqlite3_column_int64(stmt, 1);
    r->phase_id = sqlite3_column_int64(stmt, 2);
    r->parent_run_id = sqlite3_column_int64(stmt, 3);
    sa_db_text(stmt, 4, r->kind, sizeof r->kind);
    sa_db_text(stmt, 5, r->status, sizeof r->status);
    r->created = sqlite3_column_double(stmt, 8);
    r->started = sqlite3_column_double(stmt, 9);
    r->finished = sqlite3_column_double(stmt, 10);
    return sa_db_dup(stmt, 6, &r->config_json) | sa_db_dup(stmt, 7, &r->aggregate_json);
}

static void free_run(void *row) {
    sa_run_row_free(row);
}

static const sa_db_row_type run_type = {sizeof(sa_run_row), read_run, free_run};

static int kind_known(const char *kind) {
    return kind && (strcmp(kind, "evaluate") == 0 || strcmp(kind, "rerun") == 0 ||
                    strcmp(kind, "rescore") == 0);
}

/* The jobs of a new run, inside run creation's transaction. */
static int insert_jobs(sa_store *st, int64_t run_id, const char *const *case_ids,
                       size_t n_cases, sa_error *err) {
    sqlite3_stmt *stmt =
        sa_db_prepare(st, err, "INSERT INTO jobs (run_id, case_id) VALUES (?, ?)", NULL);
    if (!stmt) return -1;
    int rc = 0;
    for (size_t i = 0; i < n_cases && rc == 0; i++) {
        sqlite3_reset(stmt);
        sqlite3_bind_int64(stmt, 1, run_id);
        if (sqlite3_bind_text(stmt, 2, case_ids[i], -1, SQLITE_TRANSIENT) != SQLITE_OK) {
            rc = sa_error_set(err, "%s: %s", st->db_path, sqlite3_errmsg(st->db));
            break;
        }
        rc = sa_db_step(st, stmt, err);
        if (rc == SA_STORE_CONFLICT)
            rc = sa_error_set(err, "run: case '%s' listed twice", case_ids[i]);
    }
    sqlite3_finalize(stmt);
    return rc < 0 ? -1 : 0;
}

static int create_run(sa_store *st, int64_t submission_id, int64_t phase_id, const char *kind,
                      int64_t parent_run_id, const char *config_json, const char *const *case_ids,
                      size_t n_cases, int first_only, int64_t *run_id_out, const char *phase_spec_json,
                      sa_error *err) {
    if (sa_db_require_no_transaction(st, "run creation", err)) return -1;
    if (!kind_known(kind))
        return sa_error_set(err, "run: kind '%s' is not evaluate, rerun or rescore",
                            kind ? kind : "");
    if (!config_json) return sa_error_set(err, "run: no configuration");
    for (size_t i = 0; i < n_cases; i++)
        if (sa_db_check_text("run: case id", case_ids[i], SA_DB_FIELD_SIZE(sa_job_row, case_id),
                             err))
            return -1;

    if (sa_store_begin(st, err)) return -1;
    /* first_only: created only while the submission has no run, in the same
     * statement, so that two queuers at once (the submission's own and a worker's
     * start-up sweep for forgotten runs) cannot both create one; phase_spec_json:
     * only while the phase's stored spec is still the one the run's was made from,
     * so that a run cannot slip in on the old spec while `phase update` (which
     * refuses another dataset or split once runs exist) changes it */
    int rc = sa_db_exec(st, err,
                        "INSERT INTO runs (submission_id, phase_id, parent_run_id, kind, "
                        "config_json, created) SELECT ?1, ?2, ?3, ?4, ?5, ?6 "
                        "WHERE (?7 = 0 OR NOT EXISTS (SELECT 1 FROM runs WHERE submission_id = ?1)) "
                        "AND (?8 IS NULL OR EXISTS (SELECT 1 FROM phases WHERE id = ?2 AND spec_json = ?8))",
                        "iiIttdit", submission_id, phase_id, parent_run_id, kind, config_json,
                        sa_store_now(), first_only, phase_spec_json);
    if (rc < 0 && st->last_code == SQLITE_CONSTRAINT_FOREIGNKEY)
        sa_error_set(err, "run: submission %lld, phase %lld or parent run %lld does not exist",
                     (long long)submission_id, (long long)phase_id, (long long)parent_run_id);
    if (rc == 0) {
        sa_store_rollback(st);
        sa_phase_row phase;
        int spec_changed = 0;
        if (phase_spec_json && sa_store_phase_get_by_id(st, phase_id, &phase, err) == 1) {
            spec_changed = strcmp(phase.spec_json, phase_spec_json) != 0;
            sa_phase_row_free(&phase);
        }
        if (spec_changed)
            sa_error_set(err, "phase %lld: its spec changed while the run was being made: no run "
                              "was made (queue it again)", (long long)phase_id);
        else
            sa_error_set(err, "submission %lld already has a run: rerun or rescore one of them",
                         (long long)submission_id);
        return SA_STORE_CONFLICT;
    }
    int64_t run_id = sqlite3_last_insert_rowid(st->db);
    if (rc < 0 || insert_jobs(st, run_id, case_ids, n_cases, err) || sa_store_commit(st, err)) {
        sa_store_rollback(st);
        return -1;
    }
    if (run_id_out) *run_id_out = run_id;
    return 0;
}

int sa_store_run_create(sa_store *st, int64_t submission_id, int64_t phase_id, const char *kind,
                        int64_t parent_run_id, const char *config_json,
                        const char *const *case_ids, size_t n_cases, int64_t *run_id_out,
                        const char *phase_spec_json, sa_error *err) {
    return create_run(st, submission_id, phase_id, kind, parent_run_id, config_json, case_ids,
                      n_cases, 0, run_id_out, phase_spec_json, err);
}

int sa_store_run_create_first(sa_store *st, int64_t submission_id, int64_t phase_id,
                              const char *kind, const char *config_json,
                              const char *const *case_ids, size_t n_cases, int64_t *run_id_out,
                              const char *phase_spec_json, sa_error *err) {
    return create_run(st, submission_id, phase_id, kind, 0, config_json, case_ids, n_cases, 1,
                      run_id_out, phase_spec_json, err);
}

int sa_store_run_get(sa_store *st, int64_t id, sa_run_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, RUN_COLUMNS "WHERE id = ?", "i", id);
    return sa_db_fetch_one(st, stmt, &run_type, out, err);
}

int sa_store_run_list(sa_store *st, int64_t phase_id, int64_t submission_id, sa_run_row **rows,
                      size_t *n, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, RUN_COLUMNS "WHERE (?1 = 0 OR phase_id = ?1) AND (?2 = 0 OR submission_id = ?2) "
                             "ORDER BY id",
        "ii", phase_id, submission_id);
    return sa_db_collect(st, stmt, &run_type, (void **)rows, n, err);
}

void sa_run_row_free(sa_run_row *row) {
    if (!row) return;
    free(row->config_json);
    free(row->aggregate_json);
    row->config_json = row->aggregate_json = NULL;
}

void sa_run_rows_free(sa_run_row *rows, size_t n) {
    sa_db_rows_free(&run_type, rows, n);
}

int sa_store_run_latest_done(sa_store *st, int64_t submission_id, sa_run_row *out,
                             sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, RUN_COLUMNS "WHERE submission_id = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
        "i", submission_id);
    return sa_db_fetch_one(st, stmt, &run_type, out, err);
}

int sa_store_run_latest_evaluation(sa_store *st, int64_t submission_id, int prefer_clean,
                                   sa_run_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        RUN_COLUMNS "WHERE id = (WITH counting AS (SELECT r.id,"
        " (SELECT count(*) FROM case_results c WHERE c.run_id = r.id AND c.status = 'succeeded')"
        "  AS succeeded,"
        " EXISTS (SELECT 1 FROM case_results c WHERE c.run_id = r.id AND c.status = 'failed'"
        "  AND substr(coalesce(c.error_class, ''), 1, 12) = 'engine_error') AS engine_errors"
        " FROM runs r WHERE r.submission_id = ?1 AND r.status = 'done' AND NOT ("
        /* every case an engine_error: the platform could not run or score anything */
        "  EXISTS (SELECT 1 FROM case_results c WHERE c.run_id = r.id)"
        "  AND NOT EXISTS (SELECT 1 FROM case_results c WHERE c.run_id = r.id"
        "   AND (c.status <> 'failed' OR substr(coalesce(c.error_class, ''), 1, 12) <> 'engine_error')))"
        /* a rescore that scored nothing where its parent had scored cases: every
         * stored output it had to score was unusable (its other cases are the
         * parent's failures, copied) */
        " AND NOT (r.kind = 'rescore'"
        "  AND EXISTS (SELECT 1 FROM case_results c WHERE c.run_id = r.id)"
        "  AND NOT EXISTS (SELECT 1 FROM case_results c WHERE c.run_id = r.id AND c.status = 'succeeded')"
        "  AND EXISTS (SELECT 1 FROM case_results p WHERE p.run_id = r.parent_run_id"
        "   AND p.status = 'succeeded')))"
        /* prefer_clean: when the newest has engine_error cases, the newest run
         * without any that scored at least as many cases comes first */
        " SELECT id FROM counting ORDER BY CASE WHEN ?2 AND engine_errors = 0 AND succeeded >="
        "  (SELECT succeeded FROM counting ORDER BY id DESC LIMIT 1) THEN 0 ELSE 1 END,"
        " id DESC LIMIT 1)",
        "ii", submission_id, (int64_t)(prefer_clean ? 1 : 0));
    return sa_db_fetch_one(st, stmt, &run_type, out, err);
}

/* 1 the run exists, 0 it does not (err says so), -1 error. */
static int run_exists(sa_store *st, int64_t run_id, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, "SELECT 1 FROM runs WHERE id = ?", "i", run_id);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    sqlite3_finalize(stmt);
    if (rc == 0) sa_db_not_found(err, "run", run_id);
    return rc < 0 ? -1 : rc;
}

int sa_store_run_cancel(sa_store *st, int64_t run_id, sa_error *err) {
    sa_db_atomic atomic;
    if (sa_db_atomic_begin(st, &atomic, err)) return -1;
    int changed = sa_db_exec(st, err,
                             "UPDATE runs SET status = 'cancelled', finished = ? "
                             "WHERE id = ? AND status IN ('queued', 'running')",
                             "di", sa_store_now(), run_id);
    if (changed == 0) {
        int exists = run_exists(st, run_id, err);
        sa_db_atomic_rollback(st, &atomic);
        return exists == 1 ? 0 : -1;
    }
    if (changed < 0 ||
        sa_db_exec(st, err, "UPDATE jobs SET status = 'cancelled' "
                            "WHERE run_id = ? AND status = 'queued'",
                   "i", run_id) < 0 ||
        sa_db_atomic_commit(st, &atomic, err)) {
        sa_db_atomic_rollback(st, &atomic);
        return -1;
    }
    return 1;
}

/* One statement: the check for jobs left and the transition are atomic. */
int sa_store_run_finish(sa_store *st, int64_t run_id, const char *aggregate_json,
                        sa_error *err) {
    int changed = sa_db_exec(
        st, err,
        "UPDATE runs SET status = 'done', aggregate_json = ?2, finished = ?3 "
        "WHERE id = ?1 AND status IN ('queued', 'running') AND NOT EXISTS "
        "(SELECT 1 FROM jobs WHERE run_id = ?1 AND status IN ('queued', 'running'))",
        "itd", run_id, aggregate_json, sa_store_now());
    if (changed == 0) return run_exists(st, run_id, err) == 1 ? 0 : -1;
    return changed < 0 ? -1 : 1;
}

static int read_id(sqlite3_stmt *stmt, void *row) {
    *(int64_t *)row = sqlite3_column_int64(stmt, 0);
    return 0;
}

static const sa_db_row_type id_type = {sizeof(int64_t), read_id, NULL};

int sa_store_runs_to_finish(sa_store *st, int64_t **ids, size_t *n, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT id FROM runs r WHERE status IN ('queued', 'running') AND NOT EXISTS "
        "(SELECT 1 FROM jobs j WHERE j.run_id = r.id AND j.status IN ('queued', 'running')) "
        "ORDER BY id",
        NULL);
    return sa_db_collect(st, stmt, &id_type, (void **)ids, n, err);
}

/* One statement, so every count comes from the same snapshot. */
int sa_store_run_progress(sa_store *st, int64_t run_id, sa_run_progress *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT"
        " (SELECT count(*) FROM jobs WHERE run_id = r.id),"
        " (SELECT count(*) FROM jobs WHERE run_id = r.id AND status = 'queued'),"
        " (SELECT count(*) FROM jobs WHERE run_id = r.id AND status = 'running'),"
        " (SELECT count(*) FROM jobs WHERE run_id = r.id AND status = 'done'),"
        " (SELECT count(*) FROM jobs WHERE run_id = r.id AND status = 'cancelled'),"
        " (SELECT count(*) FROM case_results WHERE run_id = r.id AND status = 'succeeded'),"
        " (SELECT count(*) FROM case_results WHERE run_id = r.id AND status = 'failed'),"
        " (SELECT count(*) FROM case_results WHERE run_id = r.id AND status = 'failed'"
        "    AND substr(error_class, 1, 12) = 'engine_error'),"
        " (SELECT coalesce(avg(container_seconds + platform_seconds), 0) FROM case_results"
        "    WHERE run_id = r.id),"
        " (SELECT count(*) FROM jobs j JOIN runs older ON older.id = j.run_id"
        "    WHERE j.status = 'queued' AND older.id < r.id"
        "    AND older.status IN ('queued', 'running')),"
        " (SELECT count(*) FROM runs older WHERE older.id < r.id"
        "    AND older.status IN ('queued', 'running'))"
        " FROM runs r WHERE r.id = ?",
        "i", run_id);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) {
        out->total = sqlite3_column_int64(stmt, 0);
        out->queued = sqlite3_column_int64(stmt, 1);
        out->running = sqlite3_column_int64(stmt, 2);
        out->done = sqlite3_column_int64(stmt, 3);
        out->cancelled = sqlite3_column_int64(stmt, 4);
        out->succeeded = sqlite3_column_int64(stmt, 5);
        out->failed = sqlite3_column_int64(stmt, 6);
        out->engine_errors = sqlite3_column_int64(stmt, 7);
        out->mean_case_seconds = sqlite3_column_double(stmt, 8);
        out->queue_position = sqlite3_column_int64(stmt, 9);
        out->runs_ahead = sqlite3_column_int64(stmt, 10);
    }
    sqlite3_finalize(stmt);
    if (rc == 0) return sa_db_not_found(err, "run", run_id);
    return rc == 1 ? 0 : -1;
}

typedef struct class_count {
    char *error_class;
    int64_t count;
} class_count;

static int read_class_count(sqlite3_stmt *stmt, void *row) {
    class_count *c = row;
    c->count = sqlite3_column_int64(stmt, 1);
    return sa_db_dup(stmt, 0, &c->error_class);
}

static void free_class_count(void *row) {
    free(((class_count *)row)->error_class);
}

static const sa_db_row_type class_count_type = {sizeof(class_count), read_class_count,
                                                free_class_count};

/* Most frequent class first, then by name. */
int sa_store_run_failure_classes(sa_store *st, int64_t run_id, char ***classes,
                                 int64_t **counts, size_t *n, sa_error *err) {
    *classes = NULL;
    *counts = NULL;
    *n = 0;
    class_count *rows;
    size_t n_rows;
    sqlite3_stmt *stmt = sa_db_prepare(st, err,
                                       "SELECT error_class, count(*) FROM case_results "
                                       "WHERE run_id = ? AND status = 'failed' "
                                       "GROUP BY error_class ORDER BY count(*) DESC, error_class",
                                       "i", run_id);
    if (sa_db_collect(st, stmt, &class_count_type, (void **)&rows, &n_rows, err)) return -1;
    if (n_rows == 0) return 0;
    char **names = malloc(n_rows * sizeof *names);
    int64_t *numbers = malloc(n_rows * sizeof *numbers);
    if (!names || !numbers) {
        free(names);
        free(numbers);
        sa_db_rows_free(&class_count_type, rows, n_rows);
        return sa_error_set(err, "%s: out of memory", st->db_path);
    }
    for (size_t i = 0; i < n_rows; i++) {
        names[i] = rows[i].error_class; /* ownership moves to the caller's array */
        numbers[i] = rows[i].count;
    }
    free(rows);
    *classes = names;
    *counts = numbers;
    *n = n_rows;
    return 0;
}

void sa_class_counts_free(char **classes, int64_t *counts, size_t n) {
    sa_strings_free(classes, n);
    free(counts);
}
