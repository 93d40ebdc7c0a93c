/*
 * challenges.c: challenges (a slug, a title, a description; phases hang off
 * them) and the store's record of the datasets imported under datasets/, which
 * phases point at.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- challenges ---- */

#define CHALLENGE_COLUMNS "SELECT id, slug, title, description, created FROM challenges "

static int read_challenge(sqlite3_stmt *stmt, void *row) {
    sa_challenge_row *c = row;
    c->id = sqlite3_column_int64(stmt, 0);
    sa_db_text(stmt, 1, c->slug, sizeof c->slug);
    c->created = sqlite3_column_double(stmt, 4);
    return sa_db_dup(stmt, 2, &c->title) | sa_db_dup(stmt, 3, &c->description);
}

static void free_challenge(void *row) {
    sa_challenge_row_free(row);
}

static const sa_db_row_type challenge_type = {sizeof(sa_challenge_row), read_challenge,
                                              free_challenge};

int sa_store_challenge_add(sa_store *st, const char *slug, const char *title,
                           const char *description, int64_t *id_out, sa_error *err) {
    if (sa_db_check_text("challenge slug", slug, SA_DB_FIELD_SIZE(sa_challenge_row, slug), err))
        return -1;
    if (!*slug) return sa_error_set(err, "challenge slug empty");
    if (sa_db_check_utf8("challenge title", title, err) ||
        sa_db_check_utf8("challenge description", description, err))
        return -1;
    int rc = sa_db_exec(st, err,
                        "INSERT INTO challenges (slug, title, description, created) "
                        "VALUES (?, ?, ?, ?)",
                        "tttd", slug, title ? title : "", description ? description : "",
                        sa_store_now());
    if (rc == SA_STORE_CONFLICT) {
        sa_error_set(err, "challenge '%s' exists", slug);
        return SA_STORE_CONFLICT;
    }
    if (rc < 0) return -1;
    if (id_out) *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int sa_store_challenge_get(sa_store *st, const char *slug, sa_challenge_row *out,
                           sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err, CHALLENGE_COLUMNS "WHERE slug = ?", "t", slug);
    return sa_db_fetch_one(st, stmt, &challenge_type, out, err);
}

int sa_store_challenge_get_by_id(sa_store *st, int64_t id, sa_challenge_row *out,
                                 sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err, CHALLENGE_COLUMNS "WHERE id = ?", "i", id);
    return sa_db_fetch_one(st, stmt, &challenge_type, out, err);
}

int sa_store_challenge_list(sa_store *st, sa_challenge_row **rows, size_t *n, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err, CHALLENGE_COLUMNS "ORDER BY id", NULL);
    return sa_db_collect(st, stmt, &challenge_type, (void **)rows, n, err);
}

void sa_challenge_row_free(sa_challenge_row *row) {
    if (!row) return;
    free(row->title);
    free(row->description);
    row->title = row->description = NULL;
}

void sa_challenge_rows_free(sa_challenge_row *rows, size_t n) {
    sa_db_rows_free(&challenge_type, rows, n);
}

/* ---- datasets ---- */

static int read_dataset(sqlite3_stmt *stmt, void *row) {
    sa_dataset_row *d = row;
    d->id = sqlite3_column_int64(stmt, 0);
    sa_db_text(stmt, 1, d->name, sizeof d->name);
    sa_db_text(stmt, 2, d->checksum, sizeof d->checksum);
    sa_db_text(stmt, 3, d->kind, sizeof d->kind);
    d->n_cases = sqlite3_column_int64(stmt, 4);
    d->recorded = sqlite3_column_double(stmt, 5);
    return 0;
}

static const sa_db_row_type dataset_type = {sizeof(sa_dataset_row), read_dataset, NULL};

int sa_store_dataset_record(sa_store *st, const char *name, const char *checksum,
                            const char *kind, int64_t n_cases, int64_t *id_out, sa_error *err) {
    if (sa_db_check_text("dataset name", name, SA_DB_FIELD_SIZE(sa_dataset_row, name), err) ||
        sa_db_check_text("dataset checksum", checksum,
                         SA_DB_FIELD_SIZE(sa_dataset_row, checksum), err) ||
        sa_db_check_text("dataset kind", kind, SA_DB_FIELD_SIZE(sa_dataset_row, kind), err))
        return -1;
    if (!*name) return sa_error_set(err, "dataset name empty");
    if (n_cases < 0)
        return sa_error_set(err, "dataset '%s': negative case count %lld", name,
                            (long long)n_cases);
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "INSERT INTO datasets (name, checksum, kind, n_cases, recorded) "
        "VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (name) DO UPDATE SET checksum = ?2, kind = ?3, n_cases = ?4, recorded = ?5 "
        "RETURNING id",
        "tttid", name, checksum, kind, n_cases, sa_store_now());
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1 && id_out) *id_out = sqlite3_column_int64(stmt, 0);
    if (rc == 1) rc = sa_db_step(st, stmt, err); /* finishes the statement */
    sqlite3_finalize(stmt);
    return rc == 0 ? 0 : -1;
}

/* store.h gives this one no "1 found" note, so it follows the general rule: 0 when
 * found, -1 with "dataset N not found" when not. */
int sa_store_dataset_get_by_id(sa_store *st, int64_t id, sa_dataset_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, "SELECT id, name, checksum, kind, n_cases, recorded FROM datasets WHERE id = ?",
        "i", id);
    int rc = sa_db_fetch_one(st, stmt, &dataset_type, out, err);
    if (rc == 0) return sa_db_not_found(err, "dataset", id);
    return rc < 0 ? -1 : 0;
}
