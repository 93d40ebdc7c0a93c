/*
 * users.c: users (organisers and challengers), teams and who belongs to which
 * team. Submissions belong to teams; users act for them.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- users ---- */

static int read_user(sqlite3_stmt *stmt, void *row) {
    sa_user_row *u = row;
    u->id = sqlite3_column_int64(stmt, 0);
    sa_db_text(stmt, 1, u->name, sizeof u->name);
    sa_db_text(stmt, 2, u->role, sizeof u->role);
    u->created = sqlite3_column_double(stmt, 4);
    return sa_db_dup(stmt, 3, &u->password_hash);
}

static void free_user(void *row) {
    sa_user_row_free(row);
}

static const sa_db_row_type user_type = {sizeof(sa_user_row), read_user, free_user};

int sa_store_user_add(sa_store *st, const char *name, const char *role,
                      const char *password_hash, int64_t *id_out, sa_error *err) {
    if (sa_db_check_text("user name", name, SA_DB_FIELD_SIZE(sa_user_row, name), err)) return -1;
    if (!*name) return sa_error_set(err, "user name empty");
    if (!role || (strcmp(role, "organiser") != 0 && strcmp(role, "challenger") != 0))
        return sa_error_set(err, "user '%s': role '%s' is neither organiser nor challenger",
                            name, role ? role : "");
    int rc = sa_db_exec(st, err,
                        "INSERT INTO users (name, role, password_hash, created) "
                        "VALUES (?, ?, ?, ?)",
                        "tttd", name, role, password_hash, sa_store_now());
    if (rc == SA_STORE_CONFLICT) return sa_error_set(err, "user '%s' exists", name);
    if (rc < 0) return -1;
    if (id_out) *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int sa_store_user_get(sa_store *st, const char *name, sa_user_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, "SELECT id, name, role, password_hash, created FROM users WHERE name = ?", "t",
        name);
    return sa_db_fetch_one(st, stmt, &user_type, out, err);
}

void sa_user_row_free(sa_user_row *row) {
    if (!row) return;
    free(row->password_hash);
    row->password_hash = NULL;
}

/* ---- teams ---- */

#define TEAM_COLUMNS "SELECT id, name, created FROM teams "

static int read_team(sqlite3_stmt *stmt, void *row) {
    sa_team_row *t = row;
    t->id = sqlite3_column_int64(stmt, 0);
    sa_db_text(stmt, 1, t->name, sizeof t->name);
    t->created = sqlite3_column_double(stmt, 2);
    return 0;
}

static const sa_db_row_type team_type = {sizeof(sa_team_row), read_team, NULL};

int sa_store_team_add(sa_store *st, const char *name, int64_t *id_out, sa_error *err) {
    if (sa_db_check_text("team name", name, SA_DB_FIELD_SIZE(sa_team_row, name), err)) return -1;
    if (!*name) return sa_error_set(err, "team name empty");
    int rc = sa_db_exec(st, err, "INSERT INTO teams (name, created) VALUES (?, ?)", "td", name,
                        sa_store_now());
    if (rc == SA_STORE_CONFLICT) {
        sa_error_set(err, "team '%s' exists", name);
        return SA_STORE_CONFLICT;
    }
    if (rc < 0) return -1;
    if (id_out) *id_out = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int sa_store_team_get(sa_store *st, const char *name, sa_team_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, TEAM_COLUMNS "WHERE name = ?", "t", name);
    return sa_db_fetch_one(st, stmt, &team_type, out, err);
}

int sa_store_team_get_by_id(sa_store *st, int64_t id, sa_team_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, TEAM_COLUMNS "WHERE id = ?", "i", id);
    return sa_db_fetch_one(st, stmt, &team_type, out, err);
}

int sa_store_team_list(sa_store *st, sa_team_row **rows, size_t *n, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, TEAM_COLUMNS "ORDER BY id", NULL);
    return sa_db_collect(st, stmt, &team_type, (void **)rows, n, err);
}

/* Adding someone who is already a member changes nothing and succeeds. */
int sa_store_team_add_member(sa_store *st, int64_t team_id, int64_t user_id, sa_error *err) {
    int rc = sa_db_exec(st, err,
                        "INSERT INTO team_members (team_id, user_id) VALUES (?, ?) "
                        "ON CONFLICT DO NOTHING",
                        "ii", team_id, user_id);
    if (rc < 0 && st->last_code == SQLITE_CONSTRAINT_FOREIGNKEY)
        return sa_error_set(err, "team %lld or user %lld does not exist", (long long)team_id,
                            (long long)user_id);
    return rc < 0 ? -1 : 0;
}
