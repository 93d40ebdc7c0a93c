/*
 * phases.c: the phases of a challenge, each with its dataset and its JSON spec
 * (metrics, ranking, limits, dates: docs/phase.md) stored as given; the store
 * never reads inside the spec.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define PHASE_COLUMNS                                                                    \
    "SELECT p.id, p.challenge_id, p.dataset_id, c.slug, p.name, p.spec_json, p.published, " \
    "p.created, p.updated FROM phases p JOIN challenges c ON c.id = p.challenge_id "

static int read_phase(sqlite3_stmt *stmt, void *row) {
    sa_phase_row *p = row;
    p->id = sqlite3_column_int64(stmt, 0);
    p->challenge_id = sqlite3_column_int64(stmt, 1);
    p->dataset_id = sqlite3_column_int64(stmt, 2);
    sa_db_text(stmt, 3, p->challenge, sizeof p->challenge);
    sa_db_text(stmt, 4, p->name, sizeof p->name);
    p->published = sqlite3_column_int(stmt, 6);
    p->created = sqlite3_column_double(stmt, 7);
    p->updated = sqlite3_column_double(stmt, 8);
    return sa_db_dup(stmt, 5, &p->spec_json);
}

static void free_phase(void *row) {
    sa_phase_row_free(row);
}

static const sa_db_row_type phase_type = {sizeof(sa_phase_row), read_phase, free_phase};

int sa_store_phase_add(sa_store *st, int64_t challenge_id, const char *name, int64_t dataset_id,
                       const char *spec_json, int64_t *id_out, sa_error *err) {
    if (sa_db_check_text("phase name", name, SA_DB_FIELD_SIZE(sa_phase_row, name), err))
        return -1;
    if (!*name) return sa_error_set(err, "phase name empty");
    if (!spec_json) return sa_error_set(err, "phase '%s': no spec", name);
    double now = sa_store_now();
    int rc = sa_db_exec(st, err,
                        "INSERT INTO phases (challenge_id, dataset_id, name, spec_json, created, "
                        "updated) VALUES (?, ?, ?, ?, ?, ?)",
                        "iittdd", challenge_id, dataset_id, name, spec_json, now, now);
    if (rc == SA_STORE_CONFLICT) {
        sa_error_set(err, "phase '%s' exists in challenge %lld", name, (long long)challenge_id);
        return SA_STORE_CONFLICT;
    }
    if (rc < 0 && st->last_code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return sa_error_set(err, "phase '%s': challenge %lld or dataset %lld does not exist",
                            name, (long long)challenge_id, (long long)dataset_id);
    if (rc < 0) return -1;
    if (id_out) *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int sa_store_phase_update_spec(sa_store *st, int64_t phase_id, int64_t dataset_id,
                               const char *spec_json, int only_without_runs,
                               const char *previous_spec_json, sa_error *err) {
    if (!spec_json) return sa_error_set(err, "phase %lld: no spec", (long long)phase_id);
    /* another dataset, or any update the caller marks as changing the cases or inputs
     * a run saw, only while the phase has no run, judged by the update itself; a run
     * being made from the old spec at that moment is not made (sa_store_run_create
     * with the spec it was made from: its insert checks it is still the phase's) */
    int rc = sa_db_exec(st, err,
                        "UPDATE phases SET spec_json = ?1, dataset_id = COALESCE(NULLIF(?2, 0), dataset_id), "
                        "updated = ?3 WHERE id = ?4 AND ((?5 = 0 AND (?2 = 0 OR ?2 = dataset_id)) OR "
                        "NOT EXISTS (SELECT 1 FROM runs WHERE phase_id = ?4)) "
                        "AND (?6 IS NULL OR spec_json = ?6)",
                        "tidiit", spec_json, dataset_id, sa_store_now(), phase_id,
                        (int64_t)(only_without_runs != 0), previous_spec_json);
    if (rc == 0) {
        sa_phase_row row;
        int found = sa_store_phase_get_by_id(st, phase_id, &row, err);
        if (found <= 0) return found < 0 ? -1 : sa_db_not_found(err, "phase", phase_id);
        int changed = previous_spec_json && strcmp(row.spec_json, previous_spec_json) != 0;
        sa_phase_row_free(&row);
        if (changed)
            sa_error_set(err, "phase %lld: its spec changed meanwhile (another update): nothing "
                              "was changed, try again", (long long)phase_id);
        else
            sa_error_set(err, "phase %lld has runs: its dataset, cases and inputs cannot change",
                         (long long)phase_id);
        return SA_STORE_CONFLICT;
    }
    return rc < 0 ? -1 : 0;
}

int sa_store_phase_set_published(sa_store *st, int64_t phase_id, int published, sa_error *err) {
    int rc = sa_db_exec(st, err, "UPDATE phases SET published = ?, updated = ? WHERE id = ?",
                        "ndi", published ? 1 : 0, sa_store_now(), phase_id);
    if (rc == 0) return sa_db_not_found(err, "phase", phase_id);
    return rc < 0 ? -1 : 0;
}

int sa_store_phase_get(sa_store *st, const char *challenge_slug, const char *name,
                       sa_phase_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(
        st, err, PHASE_COLUMNS "WHERE c.slug = ? AND p.name = ?", "tt", challenge_slug, name);
    return sa_db_fetch_one(st, stmt, &phase_type, out, err);
}

int sa_store_phase_get_by_id(sa_store *st, int64_t id, sa_phase_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err, PHASE_COLUMNS "WHERE p.id = ?", "i", id);
    return sa_db_fetch_one(st, stmt, &phase_type, out, err);
}

int sa_store_phase_list(sa_store *st, int64_t challenge_id, sa_phase_row **rows, size_t *n,
                        sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(
        st, err, PHASE_COLUMNS "WHERE ?1 = 0 OR p.challenge_id = ?1 "
                               "ORDER BY p.challenge_id, p.created, p.id",
        "i", challenge_id);
    return sa_db_collect(st, stmt, &phase_type, (void **)rows, n, err);
}

void sa_phase_row_free(sa_phase_row *row) {
    if (!row) return;
    free(row->spec_json);
    row->spec_json = NULL;
}

void sa_phase_rows_free(sa_phase_row *rows, size_t n) {
    sa_db_rows_free(&phase_type, rows, n);
}
