/*
 * accounts.c: what the web layer needs to know who is asking: API tokens and
 * browser sessions (each stored as the sha256 of the secret the client holds,
 * never the secret), failed login attempts for rate limiting, and the user
 * queries that go with them (list, teams of a user, password change).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* A user's columns, in the order read_user expects, from "users AS u". */
#define USER_COLUMNS "u.id, u.name, u.role, u.password_hash, u.created"

/* How old a failed login attempt may get before it is pruned. */
#define LOGIN_ATTEMPT_KEEP_SECONDS 86400.0

/* A token's last_used is written at most this often (a busy API client would
 * otherwise write to the database on every request). */
#define TOKEN_LAST_USED_RESOLUTION 60.0

/* A sha256 in lower-case hex, as auth.c makes them. */
static int check_hash(const char *what, const char *hash, sa_error *err) {
    if (!hash || strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64)
        return sa_error_set(err, "%s is not a sha256 in hex", what);
    return 0;
}

/* ---- users ---- */

/* Columns 0..4 are USER_COLUMNS. */
static int read_user_at(sqlite3_stmt *stmt, sa_user_row *u) {
    u->id = sqlite3_column_int64(stmt, 0);
    sa_db_text(stmt, 1, u->name, sizeof u->name);
    sa_db_text(stmt, 2, u->role, sizeof u->role);
    u->created = sqlite3_column_double(stmt, 4);
    return sa_db_dup(stmt, 3, &u->password_hash);
}

static int read_user(sqlite3_stmt *stmt, void *row) {
    return read_user_at(stmt, row);
}

static void free_user(void *row) {
    sa_user_row_free(row);
}

static const sa_db_row_type user_type = {sizeof(sa_user_row), read_user, free_user};

int sa_store_user_list(sa_store *st, sa_user_row **rows, size_t *n, sa_error *err) {
    sqlite3_stmt *stmt =
        sa_db_prepare(st, err, "SELECT " USER_COLUMNS " FROM users AS u ORDER BY u.name", NULL);
    return sa_db_collect(st, stmt, &user_type, (void **)rows, n, err);
}

void sa_user_rows_free(sa_user_row *rows, size_t n) {
    sa_db_rows_free(&user_type, rows, n);
}

int sa_store_user_teams(sa_store *st, int64_t user_id, int64_t *team_ids, size_t max, size_t *n,
                        sa_error *err) {
    *n = 0;
    sqlite3_stmt *stmt = sa_db_prepare_cached(
        st, err, "SELECT team_id FROM team_members WHERE user_id = ? ORDER BY team_id", "i",
        user_id);
    if (!stmt) return -1;
    int rc = 0;
    while (*n < max && (rc = sa_db_step(st, stmt, err)) == 1)
        team_ids[(*n)++] = sqlite3_column_int64(stmt, 0);
    sa_db_finish(st, stmt);
    return *n < max && rc < 0 ? -1 : 0;
}

int sa_store_user_set_password(sa_store *st, int64_t user_id, const char *password_hash,
                               sa_error *err) {
    sa_db_atomic atomic;
    if (sa_db_atomic_begin(st, &atomic, err)) return -1;
    int changed = sa_db_exec(st, err, "UPDATE users SET password_hash = ? WHERE id = ?", "ti",
                             password_hash, user_id);
    if (changed == 0) {
        sa_db_atomic_rollback(st, &atomic);
        return sa_db_not_found(err, "user", user_id);
    }
    if (changed < 0 ||
        sa_db_exec(st, err, "DELETE FROM sessions WHERE user_id = ?", "i", user_id) < 0 ||
        sa_db_atomic_commit(st, &atomic, err)) {
        sa_db_atomic_rollback(st, &atomic);
        return -1;
    }
    return 0;
}

/* ---- API tokens ---- */

static int read_token(sqlite3_stmt *stmt, void *row) {
    sa_token_row *t = row;
    t->id = sqlite3_column_int64(stmt, 0);
    t->user_id = sqlite3_column_int64(stmt, 1);
    sa_db_text(stmt, 2, t->user, sizeof t->user);
    sa_db_text(stmt, 3, t->label, sizeof t->label);
    t->created = sqlite3_column_double(stmt, 4);
    t->last_used = sqlite3_column_double(stmt, 5);
    t->revoked = sqlite3_column_int(stmt, 6);
    return 0;
}

static const sa_db_row_type token_type = {sizeof(sa_token_row), read_token, NULL};

int sa_store_token_add(sa_store *st, int64_t user_id, const char *token_hash, const char *label,
                       int64_t *id_out, sa_error *err) {
    if (check_hash("token hash", token_hash, err)) return -1;
    if (!label) label = "";
    if (sa_db_check_text("token label", label, SA_DB_FIELD_SIZE(sa_token_row, label), err))
        return -1;
    int rc = sa_db_exec(st, err,
                        "INSERT INTO api_tokens (user_id, token_hash, label, created) "
                        "VALUES (?, ?, ?, ?)",
                        "ittd", user_id, token_hash, label, sa_store_now());
    if (rc == SA_STORE_CONFLICT) {
        sa_error_set(err, "token exists");
        return SA_STORE_CONFLICT;
    }
    if (rc < 0 && st->last_code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return sa_error_set(err, "user %lld does not exist", (long long)user_id);
    if (rc < 0) return -1;
    if (id_out) *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int sa_store_token_revoke(sa_store *st, int64_t token_id, sa_error *err) {
    int rc = sa_db_exec(st, err, "UPDATE api_tokens SET revoked = 1 WHERE id = ? AND revoked = 0",
                        "i", token_id);
    return rc < 0 ? -1 : rc > 0;
}

int sa_store_token_revoke_hash(sa_store *st, const char *token_hash, sa_error *err) {
    if (check_hash("token hash", token_hash, err)) return -1;
    int rc = sa_db_exec(st, err,
                        "UPDATE api_tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0",
                        "t", token_hash);
    return rc < 0 ? -1 : rc > 0;
}

/* A user together with the id of the token that led to them. */
typedef struct token_user {
    sa_user_row user;
    int64_t token_id;
    double last_used;
} token_user;

static int read_token_user(sqlite3_stmt *stmt, void *row) {
    token_user *t = row;
    t->token_id = sqlite3_column_int64(stmt, 5);
    t->last_used = sqlite3_column_double(stmt, 6);
    return read_user_at(stmt, &t->user);
}

static void free_token_user(void *row) {
    sa_user_row_free(&((token_user *)row)->user);
}

static const sa_db_row_type token_user_type = {sizeof(token_user), read_token_user,
                                               free_token_user};

int sa_store_token_user(sa_store *st, const char *token_hash, sa_user_row *user, sa_error *err) {
    memset(user, 0, sizeof *user);
    if (check_hash("token hash", token_hash, err)) return -1;
    token_user found;
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err,
                                       "SELECT " USER_COLUMNS ", t.id, t.last_used "
                                       "FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id "
                                       "WHERE t.token_hash = ? AND t.revoked = 0",
                                       "t", token_hash);
    int rc = sa_db_fetch_one(st, stmt, &token_user_type, &found, err);
    if (rc != 1) return rc;
    double now = sa_store_now();
    if (now - found.last_used >= TOKEN_LAST_USED_RESOLUTION &&
        sa_db_exec(st, err, "UPDATE api_tokens SET last_used = ? WHERE id = ?", "di", now,
                   found.token_id) < 0) {
        sa_user_row_free(&found.user);
        return -1;
    }
    *user = found.user;
    return 1;
}

int sa_store_token_list(sa_store *st, int64_t user_id, sa_token_row **rows, size_t *n,
                        sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT t.id, t.user_id, u.name, t.label, t.created, t.last_used, t.revoked "
        "FROM api_tokens AS t JOIN users AS u ON u.id = t.user_id "
        "WHERE ?1 = 0 OR t.user_id = ?1 ORDER BY t.id",
        "i", user_id);
    return sa_db_collect(st, stmt, &token_type, (void **)rows, n, err);
}

/* ---- sessions ---- */

int sa_store_session_add(sa_store *st, int64_t user_id, const char *session_hash,
                         const char *csrf, double expires, sa_error *err) {
    if (check_hash("session hash", session_hash, err)) return -1;
    if (!csrf || !*csrf) return sa_error_set(err, "session without a CSRF token");
    if (sa_db_check_text("session CSRF token", csrf, 80, err)) return -1;
    double now = sa_store_now();
    sa_db_atomic atomic;
    if (sa_db_atomic_begin(st, &atomic, err)) return -1;
    int rc = sa_db_exec(st, err, "DELETE FROM sessions WHERE expires <= ?", "d", now);
    if (rc >= 0)
        rc = sa_db_exec(st, err,
                        "INSERT INTO sessions (user_id, session_hash, csrf, created, expires) "
                        "VALUES (?, ?, ?, ?, ?)",
                        "ittdd", user_id, session_hash, csrf, now, expires);
    if (rc < 0) {
        if (st->last_code == SQLITE_CONSTRAINT_FOREIGNKEY)
            sa_error_set(err, "user %lld does not exist", (long long)user_id);
        else if (rc == SA_STORE_CONFLICT)
            sa_error_set(err, "session exists");
        sa_db_atomic_rollback(st, &atomic);
        return rc == SA_STORE_CONFLICT ? SA_STORE_CONFLICT : -1;
    }
    return sa_db_atomic_commit(st, &atomic, err);
}

typedef struct session_user {
    sa_user_row user;
    char csrf[80];
} session_user;

static int read_session_user(sqlite3_stmt *stmt, void *row) {
    session_user *s = row;
    sa_db_text(stmt, 5, s->csrf, sizeof s->csrf);
    return read_user_at(stmt, &s->user);
}

static void free_session_user(void *row) {
    sa_user_row_free(&((session_user *)row)->user);
}

static const sa_db_row_type session_user_type = {sizeof(session_user), read_session_user,
                                                 free_session_user};

int sa_store_session_user(sa_store *st, const char *session_hash, double now, sa_user_row *user,
                          char csrf[80], sa_error *err) {
    memset(user, 0, sizeof *user);
    csrf[0] = '\0';
    if (check_hash("session hash", session_hash, err)) return -1;
    session_user found;
    sqlite3_stmt *stmt = sa_db_prepare_cached(st, err,
                                       "SELECT " USER_COLUMNS ", s.csrf "
                                       "FROM sessions AS s JOIN users AS u ON u.id = s.user_id "
                                       "WHERE s.session_hash = ? AND s.expires > ?",
                                       "td", session_hash, now);
    int rc = sa_db_fetch_one(st, stmt, &session_user_type, &found, err);
    if (rc != 1) return rc;
    *user = found.user;
    memcpy(csrf, found.csrf, sizeof found.csrf);
    return 1;
}

int sa_store_session_delete(sa_store *st, const char *session_hash, sa_error *err) {
    if (check_hash("session hash", session_hash, err)) return -1;
    int rc = sa_db_exec(st, err, "DELETE FROM sessions WHERE session_hash = ?", "t", session_hash);
    return rc < 0 ? -1 : rc > 0;
}

/* ---- login attempts ---- */

/* Prunes old attempts (a day) and old known-address marks
 * (SA_LOGIN_KNOWN_KEEP_SECONDS). */
static int prune_login_attempts(sa_store *st, double now, sa_error *err) {
    return sa_db_exec(st, err,
                      "DELETE FROM login_attempts WHERE at < ? AND "
                      "(substr(key, 1, ?) <> ? OR at < ?)",
                      "ditd", now - LOGIN_ATTEMPT_KEEP_SECONDS,
                      (int64_t)strlen(SA_LOGIN_KNOWN_PREFIX), SA_LOGIN_KNOWN_PREFIX,
                      now - SA_LOGIN_KNOWN_KEEP_SECONDS) < 0
               ? -1
               : 0;
}

int sa_store_login_attempt_add(sa_store *st, const char *key, double now, sa_error *err) {
    if (!key || !*key) return sa_error_set(err, "login attempt without a key");
    sa_db_atomic atomic;
    if (sa_db_atomic_begin(st, &atomic, err)) return -1;
    if (prune_login_attempts(st, now, err) ||
        sa_db_exec(st, err, "INSERT INTO login_attempts (key, at) VALUES (?, ?)", "td", key,
                   now) < 0 ||
        sa_db_atomic_commit(st, &atomic, err)) {
        sa_db_atomic_rollback(st, &atomic);
        return -1;
    }
    return 0;
}

/* Keeps the SA_LOGIN_KNOWN_PER_NAME newest "known:ADDRESS@NAME" marks of the
 * name that `key` marks (no-op for other keys). The name is what follows the
 * first '@' after the prefix (an address has none; a name may have some). */
static int cap_known_marks(sa_store *st, const char *key, sa_error *err) {
    size_t prefix = strlen(SA_LOGIN_KNOWN_PREFIX);
    if (strncmp(key, SA_LOGIN_KNOWN_PREFIX, prefix)) return 0;
    const char *at_sign = strchr(key + prefix, '@');
    if (!at_sign) return 0;
    /* ?1 prefix length, ?2 prefix, ?3 "@NAME", ?5 the prefix with its last byte
     * one higher: a key of the name begins with the prefix (as a range of the
     * (key, at) index, not a scan), ends with "@NAME", and has no '@' in between */
    static const char of_name[] =
        "key >= ?2 AND key < ?5 AND length(key) > ?1 + length(?3)"
        " AND substr(key, length(key) - length(?3) + 1) = ?3"
        " AND instr(substr(key, ?1 + 1, length(key) - length(?3) - ?1), '@') = 0";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "DELETE FROM login_attempts WHERE %s AND rowid NOT IN"
             " (SELECT rowid FROM login_attempts WHERE %s ORDER BY at DESC, rowid DESC LIMIT ?4)",
             of_name, of_name);
    char past_prefix[16];
    snprintf(past_prefix, sizeof past_prefix, "%s", SA_LOGIN_KNOWN_PREFIX);
    past_prefix[prefix - 1]++; /* "known;" */
    return sa_db_exec(st, err, sql, "ittit", (int64_t)prefix, SA_LOGIN_KNOWN_PREFIX, at_sign,
                      (int64_t)SA_LOGIN_KNOWN_PER_NAME, past_prefix) < 0
               ? -1
               : 0;
}

int sa_store_login_attempt_set(sa_store *st, const char *key, double at, sa_error *err) {
    if (!key || !*key) return sa_error_set(err, "login attempt without a key");
    sa_db_atomic atomic;
    if (sa_db_atomic_begin(st, &atomic, err)) return -1;
    if (prune_login_attempts(st, sa_store_now(), err) ||
        sa_db_exec(st, err, "DELETE FROM login_attempts WHERE key = ?", "t", key) < 0 ||
        sa_db_exec(st, err, "INSERT INTO login_attempts (key, at) VALUES (?, ?)", "td", key,
                   at) < 0 ||
        cap_known_marks(st, key, err) ||
        sa_db_atomic_commit(st, &atomic, err)) {
        sa_db_atomic_rollback(st, &atomic);
        return -1;
    }
    return 0;
}

int sa_store_login_attempt_reserve(sa_store *st, const sa_login_key *keys, size_t n, double now,
                                   sa_login_judge judge, void *ctx, int64_t *ids,
                                   sa_error *err) {
    if (n == 0 || n > SA_LOGIN_MAX_KEYS || !judge)
        return sa_error_set(err, "login attempt: 1 to %d keys and a judge", SA_LOGIN_MAX_KEYS);
    for (size_t i = 0; i < n; i++)
        if (!keys[i].key || !*keys[i].key) return sa_error_set(err, "login attempt without a key");
    int64_t counts[SA_LOGIN_MAX_KEYS];
    double oldest[SA_LOGIN_MAX_KEYS];
    sa_db_atomic atomic;
    /* BEGIN IMMEDIATE: the counts cannot change before the rows are added */
    if (sa_db_atomic_begin(st, &atomic, err)) return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = sa_store_login_attempts(st, keys[i].key, keys[i].since, &counts[i], &oldest[i], err);
    int refused = rc == 0 && judge(counts, oldest, n, ctx) != 0;
    if (rc == 0 && !refused) {
        rc = prune_login_attempts(st, now, err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            ids[i] = 0;
            if (keys[i].count_only) continue;
            if (sa_db_exec(st, err, "INSERT INTO login_attempts (key, at) VALUES (?, ?)", "td",
                           keys[i].key, now) < 0)
                rc = -1;
            else
                ids[i] = sqlite3_last_insert_rowid(st->db);
        }
    }
    if (rc == 0 && sa_db_atomic_commit(st, &atomic, err)) return -1;
    if (rc) {
        sa_db_atomic_rollback(st, &atomic);
        return -1;
    }
    return refused ? 1 : 0;
}

int sa_store_login_attempt_release(sa_store *st, const int64_t *ids, size_t n, sa_error *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] > 0 &&
            sa_db_exec(st, err, "DELETE FROM login_attempts WHERE rowid = ?", "i", ids[i]) < 0)
            return -1;
    return 0;
}

int sa_store_login_attempts(sa_store *st, const char *key, double since, int64_t *count,
                            double *oldest, sa_error *err) {
    *count = 0;
    if (oldest) *oldest = 0;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, "SELECT count(*), coalesce(min(at), 0) FROM login_attempts "
                 "WHERE key = ? AND at >= ?",
        "td", key ? key : "", since);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) {
        *count = sqlite3_column_int64(stmt, 0);
        if (oldest) *oldest = sqlite3_column_double(stmt, 1);
    }
    sqlite3_finalize(stmt);
    return rc == 1 ? 0 : -1;
}

int sa_store_login_attempts_clear(sa_store *st, const char *key, sa_error *err) {
    return sa_db_exec(st, err, "DELETE FROM login_attempts WHERE key = ?", "t", key ? key : "") < 0
               ? -1
               : 0;
}
