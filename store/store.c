/*
 * store.c: opening and closing the database (data directory, pragmas, schema
 * migration, instance tag), the clock, explicit transactions, and the small
 * prepare/bind/step and row-copy helpers every other file of store/ is built on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

#define STORE_BUSY_TIMEOUT_MS 10000

/* ---- statements ---- */

/* "<db path>: <sqlite's message>", with the system's reason for a failed file
 * operation ("disk I/O error (File too large)"). */
static int fail_with_sqlite_message(sa_store *st, sa_error *err) {
    int primary = sqlite3_errcode(st->db);
    int sys_errno = sqlite3_system_errno(st->db);
    if (sys_errno && (primary == SQLITE_IOERR || primary == SQLITE_FULL))
        return sa_error_set(err, "%s: %s (%s)", st->db_path, sqlite3_errmsg(st->db),
                            strerror(sys_errno));
    if (primary == SQLITE_CANTOPEN)
        return sa_error_set(err, "%s: %s (is the data directory writable?)", st->db_path,
                            sqlite3_errmsg(st->db));
    return sa_error_set(err, "%s: %s", st->db_path, sqlite3_errmsg(st->db));
}

static int bind_params(sqlite3_stmt *stmt, const char *types, va_list ap) {
    int rc = SQLITE_OK;
    for (int i = 1; types && types[i - 1] && rc == SQLITE_OK; i++) {
        switch (types[i - 1]) {
        case 'i':
            rc = sqlite3_bind_int64(stmt, i, va_arg(ap, int64_t));
            break;
        case 'I': {
            int64_t v = va_arg(ap, int64_t);
            rc = v ? sqlite3_bind_int64(stmt, i, v) : sqlite3_bind_null(stmt, i);
            break;
        }
        case 'n':
            rc = sqlite3_bind_int(stmt, i, va_arg(ap, int));
            break;
        case 'd':
            rc = sqlite3_bind_double(stmt, i, va_arg(ap, double));
            break;
        case 't': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(stmt, i);
            break;
        }
        default:
            rc = SQLITE_MISUSE;
        }
    }
    return rc;
}

/* The message of a failed prepare or bind (rc), and the extended code kept. */
static int prepare_failed(sa_store *st, sa_error *err, int rc, const char *types) {
    st->last_code = sqlite3_extended_errcode(st->db);
    if (rc == SQLITE_MISUSE)
        return sa_error_set(err, "%s: bad parameter type in '%s'", st->db_path,
                            types ? types : "");
    return fail_with_sqlite_message(st, err);
}

int sa_db_bind_va(sa_store *st, sqlite3_stmt *stmt, sa_error *err, const char *types,
                  va_list ap) {
    int rc = bind_params(stmt, types, ap);
    return rc == SQLITE_OK ? 0 : prepare_failed(st, err, rc, types);
}

static sqlite3_stmt *prepare_v(sa_store *st, sa_error *err, const char *sql, const char *types,
                               va_list ap) {
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) rc = bind_params(stmt, types, ap);
    if (rc != SQLITE_OK) {
        prepare_failed(st, err, rc, types);
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

sqlite3_stmt *sa_db_prepare(sa_store *st, sa_error *err, const char *sql, const char *types,
                            ...) {
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *stmt = prepare_v(st, err, sql, types, ap);
    va_end(ap);
    return stmt;
}

int sa_db_step(sa_store *st, sqlite3_stmt *stmt, sa_error *err) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    st->last_code = sqlite3_extended_errcode(st->db);
    fail_with_sqlite_message(st, err);
    int unique_key = st->last_code == SQLITE_CONSTRAINT_UNIQUE ||
                     st->last_code == SQLITE_CONSTRAINT_PRIMARYKEY;
    return unique_key ? SA_STORE_CONFLICT : -1;
}

int sa_db_exec(sa_store *st, sa_error *err, const char *sql, const char *types, ...) {
    va_list ap;
    va_start(ap, types);
    sqlite3_stmt *stmt = prepare_v(st, err, sql, types, ap);
    va_end(ap);
    if (!stmt) return -1;
    int rc;
    while ((rc = sa_db_step(st, stmt, err)) == 1) {
    }
    sa_db_finish(st, stmt);
    return rc == 0 ? sqlite3_changes(st->db) : rc;
}

/* ---- rows ---- */

int sa_db_fetch_one(sa_store *st, sqlite3_stmt *stmt, const sa_db_row_type *type, void *row,
                    sa_error *err) {
    if (!stmt) return -1;
    memset(row, 0, type->size);
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1 && type->read(stmt, row) != 0) {
        if (type->free) type->free(row);
        memset(row, 0, type->size);
        rc = sa_error_set(err, "%s: out of memory reading a row", st->db_path);
    }
    sa_db_finish(st, stmt);
    return rc < 0 ? -1 : rc;
}

int sa_db_collect(sa_store *st, sqlite3_stmt *stmt, const sa_db_row_type *type, void **rows,
                  size_t *n, sa_error *err) {
    *rows = NULL;
    *n = 0;
    if (!stmt) return -1;
    char *array = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = sa_db_step(st, stmt, err)) == 1) {
        if (count == cap) {
            size_t new_cap = cap ? 2 * cap : 16;
            char *grown = realloc(array, new_cap * type->size);
            if (!grown) {
                rc = sa_error_set(err, "%s: out of memory reading rows", st->db_path);
                break;
            }
            array = grown;
            cap = new_cap;
        }
        void *row = array + count * type->size;
        memset(row, 0, type->size);
        count++;
        if (type->read(stmt, row) != 0) {
            rc = sa_error_set(err, "%s: out of memory reading rows", st->db_path);
            break;
        }
    }
    sa_db_finish(st, stmt);
    if (rc != 0) {
        sa_db_rows_free(type, array, count);
        return -1;
    }
    *rows = array;
    *n = count;
    return 0;
}

void sa_db_rows_free(const sa_db_row_type *type, void *rows, size_t n) {
    if (!rows) return;
    if (type->free)
        for (size_t i = 0; i < n; i++) type->free((char *)rows + i * type->size);
    free(rows);
}

void sa_db_text(sqlite3_stmt *stmt, int col, char *buf, size_t cap) {
    const unsigned char *text = sqlite3_column_text(stmt, col);
    snprintf(buf, cap, "%s", text ? (const char *)text : "");
}

int sa_db_dup(sqlite3_stmt *stmt, int col, char **out) {
    const unsigned char *text = sqlite3_column_text(stmt, col);
    *out = text ? strdup((const char *)text) : NULL;
    return text && !*out ? -1 : 0;
}

/* ---- checks and messages ---- */

size_t sa_utf8_char_len(const char *text) {
    const unsigned char *p = (const unsigned char *)text;
    unsigned c = p[0];
    if (c < 0x80) return c ? 1 : 0;
    size_t n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0; /* a NUL ends here too */
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

int sa_db_check_utf8(const char *what, const char *s, sa_error *err) {
    for (const char *p = s; p && *p;) {
        size_t k = sa_utf8_char_len(p);
        if (k == 0)
            return sa_error_set(err, "%s is not valid UTF-8 (byte %zu)", what, (size_t)(p - s) + 1);
        p += k;
    }
    return 0;
}

int sa_db_check_text(const char *what, const char *s, size_t cap, sa_error *err) {
    if (!s) return sa_error_set(err, "%s missing", what);
    if (strlen(s) >= cap)
        return sa_error_set(err, "%s too long (%zu bytes, at most %zu)", what, strlen(s), cap - 1);
    return sa_db_check_utf8(what, s, err); /* pages and JSON answers need it */
}

int sa_db_require_no_transaction(sa_store *st, const char *what, sa_error *err) {
    if (sqlite3_get_autocommit(st->db)) return 0;
    return sa_error_set(err, "%s: %s must not be called inside a transaction", st->db_path, what);
}

int sa_db_not_found(sa_error *err, const char *what, int64_t id) {
    return sa_error_set(err, "%s %lld not found", what, (long long)id);
}

/* ---- transactions ---- */

int sa_store_begin(sa_store *st, sa_error *err) {
    if (!sqlite3_get_autocommit(st->db))
        return sa_error_set(err, "%s: a transaction is already open", st->db_path);
    return sa_db_exec(st, err, "BEGIN IMMEDIATE", NULL) < 0 ? -1 : 0;
}

int sa_store_commit(sa_store *st, sa_error *err) {
    if (sa_db_exec(st, err, "COMMIT", NULL) < 0) {
        sa_store_rollback(st); /* never leave the handle inside a half-done transaction */
        return -1;
    }
    return 0;
}

void sa_store_rollback(sa_store *st) {
    if (!sqlite3_get_autocommit(st->db)) sa_db_exec(st, NULL, "ROLLBACK", NULL);
}

int sa_db_atomic_begin(sa_store *st, sa_db_atomic *a, sa_error *err) {
    a->nested = !sqlite3_get_autocommit(st->db);
    if (a->nested) return sa_db_exec(st, err, "SAVEPOINT sa_atomic", NULL) < 0 ? -1 : 0;
    return sa_store_begin(st, err);
}

int sa_db_atomic_commit(sa_store *st, sa_db_atomic *a, sa_error *err) {
    if (!a->nested) return sa_store_commit(st, err);
    if (sa_db_exec(st, err, "RELEASE sa_atomic", NULL) < 0) {
        sa_db_atomic_rollback(st, a);
        return -1;
    }
    return 0;
}

void sa_db_atomic_rollback(sa_store *st, sa_db_atomic *a) {
    if (!a->nested) {
        sa_store_rollback(st);
        return;
    }
    sa_db_exec(st, NULL, "ROLLBACK TO sa_atomic", NULL);
    sa_db_exec(st, NULL, "RELEASE sa_atomic", NULL);
}

/* ---- opening ---- */

double sa_store_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* mkdir -p with mode 0755. */
static int make_data_dir(const char *dir, sa_error *err) {
    char *path = strdup(dir);
    if (!path) return sa_error_set(err, "%s: out of memory", dir);
    int rc = 0;
    for (char *p = path + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        struct stat sb;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            rc = sa_error_set(err, "%s: cannot create data directory: %s", path, strerror(errno));
        else if (stat(path, &sb) != 0)
            rc = sa_error_set(err, "%s: %s", path, strerror(errno));
        else if (!S_ISDIR(sb.st_mode))
            rc = sa_error_set(err, "%s: not a directory", path);
        *p = saved;
        if (saved == '\0') break;
    }
    free(path);
    return rc;
}

/* PRAGMA journal_mode=WAL needs a moment alone with the file; two processes
 * opening a fresh database together may see SQLITE_BUSY without the busy
 * handler, so it is retried for as long as the busy timeout. */
static int set_wal_mode(sa_store *st, sa_error *err) {
    for (int waited_ms = 0;; waited_ms += 10) {
        sqlite3_stmt *stmt = sa_db_prepare(st, err, "PRAGMA journal_mode=WAL", NULL);
        if (!stmt) return -1;
        int rc = sa_db_step(st, stmt, err);
        char mode[16] = "";
        if (rc == 1) sa_db_text(stmt, 0, mode, sizeof mode);
        sqlite3_finalize(stmt);
        if (rc == 1 && strcmp(mode, "wal") == 0) return 0;
        if (rc == 1)
            return sa_error_set(err, "%s: cannot use WAL journal mode (got '%s')", st->db_path,
                                mode);
        if ((st->last_code & 0xff) != SQLITE_BUSY || waited_ms >= STORE_BUSY_TIMEOUT_MS) return -1;
        usleep(10000);
    }
}

/* Settings of this connection only: nothing is written to the file yet. */
static int configure_connection(sa_store *st, sa_error *err) {
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    if (sqlite3_db_readonly(st->db, "main") == 1)
        return sa_error_set(err, "%s: database is read-only here (the data directory must be "
                                 "writable)", st->db_path);
    if (sa_db_exec(st, err, "PRAGMA busy_timeout=10000", NULL) < 0) return -1;
    return sa_db_exec(st, err, "PRAGMA foreign_keys=ON", NULL) < 0 ? -1 : 0;
}

/* Settings kept in the file (WAL) or needed before the first write. */
static int configure_journal(sa_store *st, sa_error *err) {
    if (set_wal_mode(st, err)) return -1;
    /* FULL: a committed case result survives a power cut, worth an fsync per commit */
    return sa_db_exec(st, err, "PRAGMA synchronous=FULL", NULL) < 0 ? -1 : 0;
}

static int read_instance(sa_store *st, sa_error *err) {
    sqlite3_stmt *stmt =
        sa_db_prepare(st, err, "SELECT value FROM meta WHERE key = 'instance'", NULL);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) sa_db_text(stmt, 0, st->instance, sizeof st->instance);
    sqlite3_finalize(stmt);
    if (rc == 0) return sa_error_set(err, "%s: no instance tag in table meta", st->db_path);
    return rc == 1 ? 0 : -1;
}

/* The database file's identity ("<st_dev>:<st_ino>" of segarena.db), kept in
 * meta as 'instance_file' beside the instance tag. A copy of the data directory
 * (cp -a, a restored backup, a file put in place by mv) is another file: its tag
 * would be the original's, and the names the tag scopes (images
 * "sub-<instance>-<id>", loads, containers "segarena-<instance>.…", work folders)
 * would be swept by either one as its own. So when the identity stored is not
 * this file's, this opener gives the database a new tag and records the file's
 * identity; the names under the old tag are then another data directory's to this
 * one (never swept by it). Racing openers agree: the check is done again inside
 * one IMMEDIATE transaction, so the second sees the first one's identity. A
 * database without an identity (made before it was kept) keeps its tag. */
static int file_identity(sa_store *st, char *buf, size_t size, sa_error *err) {
    struct stat sb;
    if (stat(st->db_path, &sb) != 0)
        return sa_error_set(err, "%s: cannot read the file's identity: %s", st->db_path,
                            strerror(errno));
    snprintf(buf, size, "%llu:%llu", (unsigned long long)sb.st_dev,
             (unsigned long long)sb.st_ino);
    return 0;
}

/* 1 with the stored identity in buf, 0 when none is stored, -1 on error. */
static int stored_identity(sa_store *st, char *buf, size_t size, sa_error *err) {
    sqlite3_stmt *stmt =
        sa_db_prepare(st, err, "SELECT value FROM meta WHERE key = 'instance_file'", NULL);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) sa_db_text(stmt, 0, buf, size);
    sqlite3_finalize(stmt);
    return rc;
}

static int check_instance_file(sa_store *st, sa_error *err) {
    char mine[64], stored[64] = "";
    if (file_identity(st, mine, sizeof mine, err)) return -1;
    int rc = stored_identity(st, stored, sizeof stored, err);
    if (rc < 0) return -1;
    if (rc == 1 && strcmp(stored, mine) == 0) return 0; /* the same file: the same tag */
    if (sa_store_begin(st, err)) return -1;
    rc = stored_identity(st, stored, sizeof stored, err);
    if (rc == 0)
        rc = sa_db_exec(st, err, "INSERT INTO meta (key, value) VALUES ('instance_file', ?)",
                        "t", mine);
    else if (rc == 1 && strcmp(stored, mine) != 0) {
        rc = sa_db_exec(st, err, "UPDATE meta SET value = lower(hex(randomblob(4))) "
                                 "WHERE key = 'instance'", NULL);
        if (rc == 1)
            rc = sa_db_exec(st, err, "UPDATE meta SET value = ? WHERE key = 'instance_file' "
                                     "AND value = ?", "tt", mine, stored);
        if (rc == 0) rc = sa_error_set(err, "%s: no instance tag in table meta", st->db_path);
    }
    if (rc < 0) {
        sa_store_rollback(st);
        return -1;
    }
    return sa_store_commit(st, err);
}

/* SQLite's memory statistics take one process-wide mutex on every allocation,
 * which the HTTP threads (each with its own connection) would queue on; nothing
 * here reads them. Only possible before SQLite starts; later, it stays on. */
static pthread_once_t sqlite_setup_once = PTHREAD_ONCE_INIT;
static void sqlite_setup(void) {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* Refuses a missing database (create 0) before SQLite would make an empty one. */
static int check_db_file(const char *db_path, int create, sa_error *err) {
    struct stat sb;
    if (stat(db_path, &sb) != 0) {
        if (errno == ENOENT && create) return 0;
        if (errno == ENOENT || errno == ENOTDIR)
            return sa_error_set(err, "%s: no database (wrong --data-dir, or nothing set up "
                                     "in this data directory yet)", db_path);
        return sa_error_set(err, "%s: %s", db_path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) return sa_error_set(err, "%s: not a regular file", db_path);
    return 0;
}

/* A file without a schema is refused (create 0) before anything is written to
 * it; sa_store_migrate refuses a newer schema before any step. */
static int open_and_migrate(sa_store *st, int create, int target, sa_error *err) {
    pthread_once(&sqlite_setup_once, sqlite_setup);
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(st->db_path, &st->db, flags, NULL) != SQLITE_OK) {
        if (!st->db) return sa_error_set(err, "%s: out of memory", st->db_path);
        return fail_with_sqlite_message(st, err);
    }
    if (configure_connection(st, err)) return -1;
    int version = 0;
    if (sa_db_read_user_version(st, &version, err)) return -1;
    if (version == 0 && !create)
        return sa_error_set(err, "%s: no database (the file holds no SegArena schema; open it "
                                 "with create to set one up)", st->db_path);
    if (configure_journal(st, err) || sa_store_migrate(st, target, err)) return -1;
    if (sa_db_read_user_version(st, &st->schema_version, err)) return -1;
    if (check_instance_file(st, err)) return -1;
    return read_instance(st, err);
}

int sa_store_open_at_version(const char *data_dir, int create, int target, sa_store **out,
                             sa_error *err) {
    *out = NULL;
    if (!data_dir || !*data_dir) return sa_error_set(err, "store: no data directory given");
    if (target < 1 || target > SA_STORE_SCHEMA_VERSION)
        return sa_error_set(err, "store: schema version %d unknown to this build", target);
    if (create && make_data_dir(data_dir, err)) return -1;

    sa_store *st = calloc(1, sizeof *st);
    size_t len = strlen(data_dir) + sizeof "/segarena.db";
    if (st) st->db_path = malloc(len);
    if (st) st->data_dir = strdup(data_dir);
    if (!st || !st->db_path || !st->data_dir) {
        if (st) free(st->db_path), free(st->data_dir);
        free(st);
        return sa_error_set(err, "%s: out of memory", data_dir);
    }
    snprintf(st->db_path, len, "%s/segarena.db", data_dir);

    if (check_db_file(st->db_path, create, err) || open_and_migrate(st, create, target, err)) {
        sa_store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

int sa_store_open(const char *data_dir, int create, sa_store **out, sa_error *err) {
    return sa_store_open_at_version(data_dir, create, SA_STORE_SCHEMA_VERSION, out, err);
}

void sa_store_close(sa_store *st) {
    if (!st) return;
    sa_db_stmt_cache_clear(st);
    sqlite3_close_v2(st->db);
    free(st->db_path);
    free(st->data_dir);
    free(st);
}

int sa_store_schema_version(sa_store *st) {
    return st->schema_version;
}

const char *sa_store_data_dir(sa_store *st) {
    return st->data_dir;
}

const char *sa_store_instance(sa_store *st) {
    return st->instance;
}

sqlite3 *sa_store_db(sa_store *st) {
    return st->db;
}
