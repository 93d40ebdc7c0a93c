/*
 * version.c: what the web layer asks the store to know whether something
 * changed and how busy the platform is, without reading the results
 * themselves: a phase's "results version" (so that a cached leaderboard is
 * reused until a result, a run, a selection or the phase itself changes) and
 * the counts of jobs, runs and submissions by status (health and metrics).
 */
#include <string.h>

#include "store_internal.h"

/* Everything a phase's leaderboard is computed from, reduced to numbers that
 * only grow or change when it changes: finished runs (the newest, their count,
 * the latest finish: a board reads only the case results of done runs, which
 * never change once the run is done, so results stored while a run is in
 * progress leave the cached board valid), submissions (count, the selected ones'
 * ids, listed: a sum could stay the same when two teams change their choice),
 * the phase's spec time and published flag, the human reference rows, and when
 * the phase's dataset was last recorded (its checksum is in every entry's scoring
 * hash: `phase create` or `update` of another phase on the same dataset records
 * it again). */
static const char results_version_sql[] =
    "SELECT"
    " (SELECT coalesce(max(id), 0) FROM runs WHERE phase_id = ?1 AND status = 'done'),"
    " (SELECT count(*) FROM runs WHERE phase_id = ?1 AND status = 'done'),"
    " (SELECT coalesce(max(finished), 0) FROM runs WHERE phase_id = ?1),"
    " (SELECT count(*) FROM submissions WHERE phase_id = ?1),"
    " (SELECT coalesce(group_concat(id), '') FROM"
    "   (SELECT id FROM submissions WHERE phase_id = ?1 AND selected = 1 ORDER BY id)),"
    " (SELECT coalesce(max(rowid), 0) FROM human_reference),"
    " updated, published,"
    " (SELECT coalesce(recorded, 0) FROM datasets WHERE id = phases.dataset_id)"
    " FROM phases WHERE id = ?1";

int sa_db_change_stamp(sa_store *st, uint64_t *stamp, sa_error *err) {
    static const char sql[] = "PRAGMA data_version";
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err, sql, NULL);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    uint64_t data_version = rc == 1 ? (uint64_t)sqlite3_column_int64(stmt, 0) : 0;
    sa_db_finish(st, stmt);
    if (rc != 1) return rc == 0 ? sa_error_set(err, "%s: no data_version", st->db_path) : -1;
    /* data_version is small (a counter of this connection); own changes in the
     * high half */
    *stamp = data_version ^ ((uint64_t)sqlite3_total_changes64(st->db) << 32);
    return 0;
}

/* Reads the version from the tables: 1 found, 0 no such phase, -1 error. */
static int read_results_version(sa_store *st, int64_t phase_id, int64_t *version, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err, results_version_sql, "i", phase_id);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) {
        /* FNV-1a over the columns' 64-bit values (column 4: the text of the
         * selected ids, its bytes and a terminator) */
        uint64_t h = 1469598103934665603ull;
        for (int col = 0; col < 9; col++) {
            if (col == 4) {
                const unsigned char *text = sqlite3_column_text(stmt, col);
                for (const unsigned char *p = text ? text : (const unsigned char *)""; *p; p++) {
                    h ^= *p;
                    h *= 1099511628211ull;
                }
                h ^= 0xff;
                h *= 1099511628211ull;
                continue;
            }
            int64_t v = col == 2 || col == 6 || col == 8 ? (int64_t)(sqlite3_column_double(stmt, col) * 1e6)
                                             : sqlite3_column_int64(stmt, col);
            for (int b = 0; b < 8; b++) {
                h ^= (uint64_t)((v >> (8 * b)) & 0xff);
                h *= 1099511628211ull;
            }
        }
        *version = (int64_t)(h >> 1);
    }
    sa_db_finish(st, stmt);
    return rc;
}

/* The versions read on this handle stay true while nothing may have changed:
 * the change stamp is taken before the tables are read (a commit in between
 * changes the next stamp, so a version is never remembered as newer than it
 * is), and nothing is remembered inside a transaction (it may be rolled back). */
int sa_store_results_version(sa_store *st, int64_t phase_id, int64_t *version, sa_error *err) {
    int in_transaction = !sqlite3_get_autocommit(st->db);
    uint64_t stamp = 0;
    if (!in_transaction) {
        if (sa_db_change_stamp(st, &stamp, err)) return -1;
        if (!st->memo_valid || stamp != st->memo_stamp) {
            memset(st->versions, 0, sizeof st->versions);
            st->memo_stamp = stamp;
            st->memo_valid = 1;
        }
        for (size_t i = 0; i < SA_DB_VERSION_MEMO; i++)
            if (st->versions[i].phase_id == phase_id) {
                *version = st->versions[i].version;
                return 0;
            }
    }
    int rc = read_results_version(st, phase_id, version, err);
    if (rc == 0) return sa_db_not_found(err, "phase", phase_id);
    if (rc < 0) return -1;
    if (!in_transaction) {
        sa_db_version_memo *m = &st->versions[st->next_memo++ % SA_DB_VERSION_MEMO];
        m->phase_id = phase_id;
        m->version = *version;
    }
    return 0;
}

/* Adds "status -> count" rows of one query into the counts. */
static int count_by_status(sa_store *st, const char *sql, int64_t *queued, int64_t *running,
                           int64_t *done, int64_t *cancelled, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, sql, NULL);
    if (!stmt) return -1;
    int rc;
    while ((rc = sa_db_step(st, stmt, err)) == 1) {
        const char *status = (const char *)sqlite3_column_text(stmt, 0);
        int64_t n = sqlite3_column_int64(stmt, 1);
        if (!status) continue;
        if (!strcmp(status, "queued")) *queued = n;
        else if (!strcmp(status, "running")) *running = n;
        else if (!strcmp(status, "done")) *done = n;
        else if (!strcmp(status, "cancelled")) *cancelled = n;
    }
    sqlite3_finalize(stmt);
    return rc == 0 ? 0 : -1;
}

int sa_store_status_counts(sa_store *st, sa_status_counts *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (count_by_status(st, "SELECT status, count(*) FROM jobs GROUP BY status", &out->jobs_queued,
                        &out->jobs_running, &out->jobs_done, &out->jobs_cancelled, err))
        return -1;
    if (count_by_status(st, "SELECT status, count(*) FROM runs GROUP BY status", &out->runs_queued,
                        &out->runs_running, &out->runs_done, &out->runs_cancelled, err))
        return -1;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT count(*), coalesce(sum(status = 'ready'), 0) FROM submissions", NULL);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) {
        out->submissions = sqlite3_column_int64(stmt, 0);
        out->submissions_ready = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_finalize(stmt);
    return rc == 1 ? 0 : -1;
}
