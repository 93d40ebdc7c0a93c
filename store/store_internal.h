/*
 * store_internal.h: what the files of store/ share and the public header does not
 * show: the handle itself, prepare+bind+step wrappers (so that no file repeats the
 * sqlite3 boilerplate and no value is ever formatted into SQL), row-copy helpers,
 * atomic sections, and a few functions that only tests use.
 */
#ifndef SEGARENA_STORE_INTERNAL_H
#define SEGARENA_STORE_INTERNAL_H

#include <stdarg.h>

#include <sqlite3.h>

#include "store.h"

/* Statements kept compiled per handle (stmt_cache.c): enough for the ones every
 * web request runs and the workers' loop; more are compiled per call. */
#define SA_DB_STMT_CACHE 32
/* Results versions remembered per handle (version.c). */
#define SA_DB_VERSION_MEMO 16

typedef struct sa_db_cached_stmt {
    const char *sql;     /* the key: the address of a static string */
    sqlite3_stmt *stmt;
    int in_use;          /* handed out and not yet finished */
} sa_db_cached_stmt;

typedef struct sa_db_version_memo {
    int64_t phase_id;    /* 0: free */
    int64_t version;
} sa_db_version_memo;

struct sa_store {
    sqlite3 *db;
    char *db_path;       /* DATA_DIR/segarena.db, for error messages */
    char *data_dir;      /* DATA_DIR as given to sa_store_open */
    char instance[9];    /* 8 hex digits from the meta table */
    int schema_version;  /* user_version after migration */
    int last_code;       /* extended result code of the last failed step */
    sa_db_cached_stmt cached[SA_DB_STMT_CACHE];
    size_t n_cached;
    /* results versions known to be current while the change stamp (what
     * sa_db_change_stamp returned when they were read) stays the same */
    sa_db_version_memo versions[SA_DB_VERSION_MEMO];
    size_t next_memo;
    uint64_t memo_stamp;
    int memo_valid;
};

/* ---- statements ----
 * Parameters are bound from a type string, one letter per parameter (?1, ?2, ...):
 *   'i' int64_t            'I' int64_t, NULL when 0 (optional foreign keys)
 *   'n' int (as integer)   'd' double
 *   't' const char *, NULL binds NULL
 */

/* Prepares sql and binds the parameters; NULL with err set on failure. */
sqlite3_stmt *sa_db_prepare(sa_store *st, sa_error *err, const char *sql, const char *types, ...);

/* Like sa_db_prepare, but the compiled statement is kept in the handle for the
 * next call (stmt_cache.c): for the statements every web request or worker
 * round runs. The key is the address of sql, so sql must be a string literal or
 * a static array (the same text always at the same address). While the kept
 * statement is in use (a nested call), a fresh one is compiled; when the cache
 * is full, too. End it with sa_db_finish (sa_db_fetch_one, sa_db_collect and
 * sa_db_exec do), never with sqlite3_finalize. */
sqlite3_stmt *sa_db_prepare_cached(sa_store *st, sa_error *err, const char *sql,
                                   const char *types, ...);
/* Ends a statement of either kind: a kept one is reset (its read transaction
 * ended) and its bindings cleared for the next call; any other is finalized.
 * NULL: nothing. */
void sa_db_finish(sa_store *st, sqlite3_stmt *stmt);
/* Finalizes every kept statement (before the connection is closed). */
void sa_db_stmt_cache_clear(sa_store *st);
/* Binds parameters from a type string (below) to a prepared statement: 0, or
 * -1 with err set. */
int sa_db_bind_va(sa_store *st, sqlite3_stmt *stmt, sa_error *err, const char *types,
                  va_list ap);

/* A number that changes whenever the database may have changed since the last
 * call on this handle: a commit of any other connection, of this process or
 * another (PRAGMA data_version), or a row changed through this handle
 * (sqlite3_total_changes64). Cheap (no table is read). 0 or -1. */
int sa_db_change_stamp(sa_store *st, uint64_t *stamp, sa_error *err);

/* Steps once: 1 a row, 0 done, SA_STORE_CONFLICT on a unique-key violation, -1 on
 * any other error (err set to "<db path>: <sqlite's message>" in both cases and
 * st->last_code to the extended code). */
int sa_db_step(sa_store *st, sqlite3_stmt *stmt, sa_error *err);

/* Prepares, binds and runs a statement that returns no rows: the number of rows
 * it changed (>= 0), SA_STORE_CONFLICT or -1. */
int sa_db_exec(sa_store *st, sa_error *err, const char *sql, const char *types, ...);

/* How a row of some table is copied out of a statement into a struct. */
typedef struct sa_db_row_type {
    size_t size;
    /* Fills the zeroed row from the current result row: 0, or -1 when out of
     * memory (the row is still safe to free). */
    int (*read)(sqlite3_stmt *stmt, void *row);
    void (*free)(void *row); /* NULL when the row owns no memory */
} sa_db_row_type;

/* Steps stmt once and reads its row: 1 found, 0 no row, -1 error. Finishes
 * stmt with sa_db_finish (a NULL stmt, from a failed prepare, returns -1). */
int sa_db_fetch_one(sa_store *st, sqlite3_stmt *stmt, const sa_db_row_type *type, void *row,
                    sa_error *err);

/* Steps stmt to the end, reading every row into a malloc'ed array (*rows NULL
 * and *n 0 when none). 0 or -1 (nothing returned). Finishes stmt with
 * sa_db_finish. */
int sa_db_collect(sa_store *st, sqlite3_stmt *stmt, const sa_db_row_type *type, void **rows,
                  size_t *n, sa_error *err);

/* Frees an array of n rows of the type. */
void sa_db_rows_free(const sa_db_row_type *type, void *rows, size_t n);

/* Column copies: text into a fixed buffer ("" for NULL, cut to fit), or
 * strdup'ed (NULL for NULL; -1 when out of memory). */
void sa_db_text(sqlite3_stmt *stmt, int col, char *buf, size_t cap);
int sa_db_dup(sqlite3_stmt *stmt, int col, char **out);

/* ---- checks and messages ---- */

/* The size of a row's fixed text buffer, e.g. SA_DB_FIELD_SIZE(sa_team_row, name). */
#define SA_DB_FIELD_SIZE(type, field) sizeof(((type *)0)->field)

/* Refuses a NULL string or one that does not fit a row's fixed buffer (cap
 * bytes with its terminator): -1 with "<what> ... too long" in err. */
int sa_db_check_text(const char *what, const char *s, size_t cap, sa_error *err);
/* 0 when s (may be NULL) is valid UTF-8, else -1 naming what and the byte. */
int sa_db_check_utf8(const char *what, const char *s, sa_error *err);

/* Refuses to run a self-contained transaction (claim, completion, run creation)
 * inside one the caller opened. */
int sa_db_require_no_transaction(sa_store *st, const char *what, sa_error *err);

/* Rewrites err after a failed call that left "not found" as the only sensible
 * reading of zero changed rows: -1 with "<what> <id> not found". */
int sa_db_not_found(sa_error *err, const char *what, int64_t id);

/* ---- atomic sections ----
 * BEGIN IMMEDIATE when no transaction is open, else a SAVEPOINT inside the
 * caller's transaction, so that multi-statement functions are atomic either way. */
typedef struct sa_db_atomic {
    int nested;
} sa_db_atomic;

int sa_db_atomic_begin(sa_store *st, sa_db_atomic *a, sa_error *err);
int sa_db_atomic_commit(sa_store *st, sa_db_atomic *a, sa_error *err);
void sa_db_atomic_rollback(sa_store *st, sa_db_atomic *a);

/* ---- migrations (migrations.c) ---- */

/* PRAGMA user_version of the open database. */
int sa_db_read_user_version(sa_store *st, int *version, sa_error *err);

/* Migrates the open database from its user_version up to target, each step in
 * one IMMEDIATE transaction; refuses a database newer than this build. */
int sa_store_migrate(sa_store *st, int target, sa_error *err);

/* ---- for tests ---- */

/* sa_store_open, stopping the migrations at schema version target (1 ..
 * SA_STORE_SCHEMA_VERSION), to make databases as older builds left them. */
int sa_store_open_at_version(const char *data_dir, int create, int target, sa_store **out,
                             sa_error *err);

/* The raw connection, for tests that need to look underneath the API. */
sqlite3 *sa_store_db(sa_store *st);

#endif
