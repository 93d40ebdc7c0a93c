/*
 * submissions_table.c: the submissions table (named so to keep it apart from the
 * submissions/ module, which validates and loads the images): one row per upload
 * to a phase, ready or refused at intake, the team's selected entry, and the
 * quota count.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define SUBMISSION_COLUMNS                                                                  \
    "SELECT s.id, s.phase_id, s.team_id, coalesce(s.user_id, 0), t.name, s.status, "         \
    "s.intake_reason, s.image_digest, s.image_name, s.upload_sha256, s.upload_bytes, "       \
    "s.selected, s.quota_exempt, s.created, s.run_user "                                      \
    "FROM submissions s JOIN teams t ON t.id = s.team_id "

static int read_submission(sqlite3_stmt *stmt, void *row) {
    sa_submission_row *s = row;
    s->id = sqlite3_column_int64(stmt, 0);
    s->phase_id = sqlite3_column_int64(stmt, 1);
    s->team_id = sqlite3_column_int64(stmt, 2);
    s->user_id = sqlite3_column_int64(stmt, 3);
    sa_db_text(stmt, 4, s->team, sizeof s->team);
    sa_db_text(stmt, 5, s->status, sizeof s->status);
    sa_db_text(stmt, 7, s->image_digest, sizeof s->image_digest);
    sa_db_text(stmt, 8, s->image_name, sizeof s->image_name);
    sa_db_text(stmt, 9, s->upload_sha256, sizeof s->upload_sha256);
    s->upload_bytes = sqlite3_column_int64(stmt, 10);
    s->selected = sqlite3_column_int(stmt, 11);
    s->quota_exempt = sqlite3_column_int(stmt, 12);
    s->created = sqlite3_column_double(stmt, 13);
    sa_db_text(stmt, 14, s->run_user, sizeof s->run_user);
    return sa_db_dup(stmt, 6, &s->intake_reason);
}

static void free_submission(void *row) {
    sa_submission_row_free(row);
}

static const sa_db_row_type submission_type = {sizeof(sa_submission_row), read_submission,
                                               free_submission};

/* in->id and in->team are ignored; in->created 0 means now. */
int sa_store_submission_add(sa_store *st, const sa_submission_row *in, int64_t *id_out,
                            sa_error *err) {
    int ready = strcmp(in->status, "ready") == 0;
    if (!ready && strcmp(in->status, "invalid") != 0)
        return sa_error_set(err, "submission: status '%s' is neither ready nor invalid",
                            in->status);
    if (ready && !in->image_digest[0])
        return sa_error_set(err, "submission: a ready submission needs an image digest");
    int rc = sa_db_exec(
        st, err,
        "INSERT INTO submissions (phase_id, team_id, user_id, status, intake_reason, "
        "image_digest, image_name, upload_sha256, upload_bytes, selected, quota_exempt, created, "
        "run_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "iiItttttinndt", in->phase_id, in->team_id, in->user_id, in->status, in->intake_reason,
        in->image_digest, in->image_name, in->upload_sha256, in->upload_bytes,
        in->selected ? 1 : 0, in->quota_exempt ? 1 : 0,
        in->created > 0 ? in->created : sa_store_now(), in->run_user);
    if (rc == SA_STORE_CONFLICT) {
        sa_error_set(err, "image %s was already submitted to phase %lld", in->image_digest,
                     (long long)in->phase_id);
        return SA_STORE_CONFLICT;
    }
    if (rc < 0 && st->last_code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return sa_error_set(err, "submission: phase %lld, team %lld or user %lld does not exist",
                            (long long)in->phase_id, (long long)in->team_id,
                            (long long)in->user_id);
    if (rc < 0) return -1;
    if (id_out) *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int sa_store_submission_get(sa_store *st, int64_t id, sa_submission_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, SUBMISSION_COLUMNS "WHERE s.id = ?", "i", id);
    return sa_db_fetch_one(st, stmt, &submission_type, out, err);
}

int sa_store_submission_list(sa_store *st, int64_t phase_id, int64_t team_id,
                             sa_submission_row **rows, size_t *n, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, SUBMISSION_COLUMNS "WHERE s.phase_id = ?1 AND (?2 = 0 OR s.team_id = ?2) "
                                    "ORDER BY s.id",
        "ii", phase_id, team_id);
    return sa_db_collect(st, stmt, &submission_type, (void **)rows, n, err);
}

void sa_submission_row_free(sa_submission_row *row) {
    if (!row) return;
    free(row->intake_reason);
    row->intake_reason = NULL;
}

void sa_submission_rows_free(sa_submission_row *rows, size_t n) {
    sa_db_rows_free(&submission_type, rows, n);
}

/* One statement, so atomic: every submission of the same team and phase gets
 * selected = 0 but this one. */
int sa_store_submission_select(sa_store *st, int64_t id, sa_error *err) {
    int rc = sa_db_exec(st, err,
                        "UPDATE submissions SET selected = (id = ?1) "
                        "WHERE (phase_id, team_id) = "
                        "(SELECT phase_id, team_id FROM submissions WHERE id = ?1)",
                        "i", id);
    if (rc == 0) return sa_db_not_found(err, "submission", id);
    return rc < 0 ? -1 : 0;
}

int sa_store_submission_set_run_user(sa_store *st, int64_t id, const char *run_user,
                                     sa_error *err) {
    int rc = sa_db_exec(st, err, "UPDATE submissions SET run_user = ? WHERE id = ?", "ti",
                        run_user ? run_user : "", id);
    if (rc == 0) return sa_db_not_found(err, "submission", id);
    return rc < 0 ? -1 : 0;
}

int sa_store_submission_image_used(sa_store *st, const char *image_name, int *used,
                                   sa_error *err) {
    *used = 0;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, "SELECT EXISTS (SELECT 1 FROM submissions WHERE image_name = ?)", "t",
        image_name ? image_name : "");
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) *used = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == 1 ? 0 : -1;
}

int sa_store_submission_set_quota_exempt(sa_store *st, int64_t id, int exempt, sa_error *err) {
    int rc = sa_db_exec(st, err, "UPDATE submissions SET quota_exempt = ? WHERE id = ?", "ni",
                        exempt ? 1 : 0, id);
    if (rc == 0) return sa_db_not_found(err, "submission", id);
    return rc < 0 ? -1 : 0;
}

/* Counted: ready, created after since, and not exempt, or exempt but scored since
 * by a done run (a rerun or rescore of a first evaluation the platform failed). */
#define COUNTED_SUBMISSIONS                                                               \
    "FROM submissions s WHERE s.phase_id = ?1 AND s.team_id = ?2 AND s.created > ?3 "      \
    "AND s.status = 'ready' AND (s.quota_exempt = 0 OR EXISTS (SELECT 1 FROM runs r "     \
    "JOIN case_results c ON c.run_id = r.id WHERE r.submission_id = s.id "                \
    "AND r.status = 'done' AND c.status = 'succeeded')) "

int sa_store_quota_used(sa_store *st, int64_t phase_id, int64_t team_id, double since,
                        int64_t quota, int64_t *count, double *slot_frees, sa_error *err) {
    sqlite3_stmt *stmt =
        sa_db_prepare(st, err, "SELECT count(*) " COUNTED_SUBMISSIONS, "iid", phase_id, team_id, since);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    int64_t n = rc == 1 ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    if (rc != 1) return -1;
    if (count) *count = n;
    if (!slot_frees) return 0;
    *slot_frees = 0;
    if (n == 0) return 0;
    stmt = sa_db_prepare(st, err, "SELECT s.created " COUNTED_SUBMISSIONS
                                  "ORDER BY s.created, s.id LIMIT 1 OFFSET ?4",
                         "iidi", phase_id, team_id, since, n > quota ? n - quota : (int64_t)0);
    if (!stmt) return -1;
    rc = sa_db_step(st, stmt, err);
    if (rc == 1) *slot_frees = sqlite3_column_double(stmt, 0);
    sqlite3_finalize(stmt);
    return rc < 0 ? -1 : 0;
}
