/*
 * stmt_cache.c: statements kept compiled per store handle. Compiling SQL costs
 * more than running the small look-ups every web request makes (the phase by
 * name, the results version, a session); those are compiled once per
 * connection and reset after each use instead of finalized. Keyed by the
 * address of the SQL text, so only static strings may be kept.
 */
#include <string.h>

#include "store_internal.h"

/* The kept slot of sql, or a new one while there is room; NULL otherwise. */
static sa_db_cached_stmt *slot_of(sa_store *st, const char *sql) {
    for (size_t i = 0; i < st->n_cached; i++)
        if (st->cached[i].sql == sql) return &st->cached[i];
    if (st->n_cached == SA_DB_STMT_CACHE) return NULL;
    sa_db_cached_stmt *slot = &st->cached[st->n_cached++];
    memset(slot, 0, sizeof *slot);
    slot->sql = sql;
    return slot;
}

sqlite3_stmt *sa_db_prepare_cached(sa_store *st, sa_error *err, const char *sql,
                                   const char *types, ...) {
    sa_db_cached_stmt *slot = slot_of(st, sql);
    sqlite3_stmt *stmt = NULL;
    if (slot && !slot->in_use && slot->stmt) {
        stmt = slot->stmt;
    } else {
        unsigned flags = slot && !slot->in_use ? SQLITE_PREPARE_PERSISTENT : 0;
        int rc = sqlite3_prepare_v3(st->db, sql, -1, flags, &stmt, NULL);
        if (rc != SQLITE_OK) {
            st->last_code = sqlite3_extended_errcode(st->db);
            sa_error_set(err, "%s: %s", st->db_path, sqlite3_errmsg(st->db));
            sqlite3_finalize(stmt);
            return NULL;
        }
        if (slot && !slot->in_use) slot->stmt = stmt;
    }
    /* a fresh copy for a nested call is not kept: sa_db_finish finalizes it */
    if (slot && slot->stmt == stmt) slot->in_use = 1;
    va_list ap;
    va_start(ap, types);
    int rc = sa_db_bind_va(st, stmt, err, types, ap);
    va_end(ap);
    if (rc) {
        sa_db_finish(st, stmt);
        return NULL;
    }
    return stmt;
}

void sa_db_finish(sa_store *st, sqlite3_stmt *stmt) {
    if (!stmt) return;
    for (size_t i = 0; i < st->n_cached; i++) {
        if (st->cached[i].stmt != stmt) continue;
        /* reset ends the statement's read transaction; its error, if any, was
         * already reported by the step that failed */
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        st->cached[i].in_use = 0;
        return;
    }
    sqlite3_finalize(stmt);
}

void sa_db_stmt_cache_clear(sa_store *st) {
    for (size_t i = 0; i < st->n_cached; i++) sqlite3_finalize(st->cached[i].stmt);
    memset(st->cached, 0, sizeof st->cached);
    st->n_cached = 0;
}
