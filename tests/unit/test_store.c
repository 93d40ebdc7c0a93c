/* test_store.c: store/ on one handle: opening (and every way it can fail),
 * migrations, CRUD of every entity, unique-key conflicts, the job queue with
 * leases, cancellation, finishing, progress, quotas and human references; the
 * statements kept per handle and the results version remembered per handle
 * (changes by other handles and processes seen, rolled-back ones not kept).
 * The concurrent claimers are in test_store_concurrency.c. */
#define _GNU_SOURCE /* mkdtemp, usleep, nftw */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"
#include "store_internal.h"

/* ---- small helpers ---- */

static int64_t pragma_int(sa_store *st, const char *sql) {
    sqlite3_stmt *stmt = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(sa_store_db(st), sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static void write_file(const char *path, const char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static sa_submission_row submission_of(const world *w, const char *status, const char *digest,
                                       double created) {
    sa_submission_row s;
    memset(&s, 0, sizeof s);
    s.phase_id = w->phase;
    s.team_id = w->team;
    snprintf(s.status, sizeof s.status, "%s", status);
    snprintf(s.image_digest, sizeof s.image_digest, "%s", digest);
    s.intake_reason = strcmp(status, "invalid") == 0 ? (char *)"no /entrypoint" : NULL;
    s.created = created;
    return s;
}

static int64_t make_run(sa_store *st, const world *w, const char *const *cases, size_t n) {
    int64_t run = 0;
    sa_error err;
    if (sa_store_run_create(st, w->submission, w->phase, "evaluate", 0, "{\"frozen\":1}", cases,
                            n, &run, NULL, &err)) {
        fprintf(stderr, "make_run: %s\n", err.msg);
        exit(1);
    }
    return run;
}

/* Runs fn in a child process; returns its exit status (0 when all its checks
 * held; it reports its own failures on stderr). */
static int in_child(void (*fn)(const scratch *), const scratch *s) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fn(s);
        fflush(NULL);
        _exit(test_failed_count ? 1 : 0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- opening ---- */

static void test_open_create_and_reopen(void) {
    scratch s;
    scratch_make(&s);
    char nested[160];
    snprintf(nested, sizeof nested, "%s/a/b/data", s.base);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(nested, 1, &st, &err) == 0);
    CHECK(st != NULL);
    if (!st) return;
    struct stat sb;
    CHECK(stat(nested, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK(sa_store_schema_version(st) == SA_STORE_SCHEMA_VERSION);
    const char *tag = sa_store_instance(st);
    CHECK(strlen(tag) == 8 && strspn(tag, "0123456789abcdef") == 8);
    char first_tag[9];
    snprintf(first_tag, sizeof first_tag, "%s", tag);

    sqlite3_stmt *stmt = NULL;
    CHECK(sqlite3_prepare_v2(sa_store_db(st), "PRAGMA journal_mode", -1, &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW &&
          strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0);
    sqlite3_finalize(stmt);
    CHECK(pragma_int(st, "PRAGMA foreign_keys") == 1);
    CHECK(pragma_int(st, "PRAGMA synchronous") == 2); /* FULL */
    CHECK(pragma_int(st, "PRAGMA busy_timeout") == 10000);
    CHECK(pragma_int(st, "PRAGMA user_version") == SA_STORE_SCHEMA_VERSION);
    CHECK(sa_store_now() > 1.7e9);
    sa_store_close(st);

    st = NULL;
    CHECK(sa_store_open(nested, 0, &st, &err) == 0);
    if (st) {
        CHECK(strcmp(sa_store_instance(st), first_tag) == 0);
        sa_store_close(st);
    }

    /* another data directory gets another tag (2^-32 chance of a false failure) */
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0);
    if (st) {
        CHECK(strcmp(sa_store_instance(st), first_tag) != 0);
        sa_store_close(st);
    }
    scratch_remove(&s);
}

static void test_open_missing(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = (sa_store *)&s; /* any non-NULL value: a failed open sets it to NULL */
    sa_error err = {{0}};
    CHECK(sa_store_open(s.data, 0, &st, &err) == -1);
    CHECK(st == NULL);
    CHECK_STR_CONTAINS(err.msg, s.data);
    CHECK_STR_CONTAINS(err.msg, "segarena.db: no database");
    struct stat sb;
    CHECK(stat(s.data, &sb) != 0 && errno == ENOENT); /* nothing created */

    /* an existing directory without a database: still nothing created */
    CHECK(mkdir(s.data, 0755) == 0);
    CHECK(sa_store_open(s.data, 0, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "no database");
    char db[160];
    snprintf(db, sizeof db, "%s/segarena.db", s.data);
    CHECK(stat(db, &sb) != 0);

    /* an empty file (a create that failed half-way) is not a database either */
    write_file(db, "", 0);
    CHECK(sa_store_open(s.data, 0, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "no database");
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0); /* but create sets it up */
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_open_bad_places(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};

    /* a file where the data directory should be */
    char file[160], below_file[200];
    snprintf(file, sizeof file, "%s/plain-file", s.base);
    write_file(file, "x", 1);
    CHECK(sa_store_open(file, 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "plain-file");
    CHECK_STR_CONTAINS(err.msg, "not a directory");
    snprintf(below_file, sizeof below_file, "%s/sub", file);
    CHECK(sa_store_open(below_file, 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "plain-file");
    CHECK(st == NULL);

    /* /proc refuses new directories even to root */
    CHECK(sa_store_open("/proc/segarena-store-test/data", 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "/proc/segarena-store-test");
    CHECK_STR_CONTAINS(err.msg, "cannot create data directory");

    /* a directory where the database file should be */
    char db_dir[200];
    snprintf(db_dir, sizeof db_dir, "%s/segarena.db", s.data);
    CHECK(mkdir(s.data, 0755) == 0 && mkdir(db_dir, 0755) == 0);
    CHECK(sa_store_open(s.data, 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, db_dir);
    CHECK(rmdir(db_dir) == 0);

    /* a corrupt database: garbage where the header should be */
    char garbage[8192];
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (char)(i * 7 + 3);
    write_file(db_dir, garbage, sizeof garbage);
    CHECK(sa_store_open(s.data, 0, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, db_dir);
    CHECK_STR_CONTAINS(err.msg, "not a database");
    CHECK(strchr(err.msg, '\n') == NULL);
    CHECK(st == NULL);
    scratch_remove(&s);
}

static void test_open_newer_schema(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0);
    CHECK(sqlite3_exec(sa_store_db(st), "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sa_store_close(st);
    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == -1);
    CHECK(st == NULL);
    CHECK_STR_CONTAINS(err.msg, "segarena.db");
    CHECK_STR_CONTAINS(err.msg, "schema version 99 is newer");
    CHECK(sa_store_open(s.data, 1, &st, &err) == -1); /* create changes nothing */
    CHECK_STR_CONTAINS(err.msg, "newer");
    scratch_remove(&s);
}

/* In a child without root's powers (as nobody when run as root): a data
 * directory the process cannot write. */
static void open_read_only_dir_child(const scratch *s) {
    char ro_new[160], ro_existing[160];
    snprintf(ro_new, sizeof ro_new, "%s/ro-new", s->base);
    snprintf(ro_existing, sizeof ro_existing, "%s/ro-existing", s->base);
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
        fprintf(stderr, "open_read_only_dir_child: cannot drop root (%s)\n", strerror(errno));
        test_failed_count++;
        return;
    }
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(ro_new, 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "ro-new/segarena.db");
    CHECK(sa_store_open(ro_existing, 0, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "ro-existing/segarena.db");
    CHECK(st == NULL);
}

static void test_open_read_only_dir(void) {
    scratch s;
    scratch_make(&s);
    char ro_new[160], ro_existing[160];
    snprintf(ro_new, sizeof ro_new, "%s/ro-new", s.base);
    snprintf(ro_existing, sizeof ro_existing, "%s/ro-existing", s.base);
    sa_store *st = NULL;
    sa_error err;
    CHECK(sa_store_open(ro_existing, 1, &st, &err) == 0);
    sa_store_close(st);
    CHECK(mkdir(ro_new, 0555) == 0 && chmod(ro_new, 0555) == 0);
    CHECK(chmod(ro_existing, 0555) == 0);
    CHECK(chmod(s.base, 0755) == 0); /* nobody may walk to them */
    CHECK(in_child(open_read_only_dir_child, &s) == 0);
    struct stat sb;
    char db[200];
    snprintf(db, sizeof db, "%s/segarena.db", ro_new);
    CHECK(stat(db, &sb) != 0); /* nothing was created */
    chmod(ro_new, 0755);
    chmod(ro_existing, 0755);
    /* the existing database is intact */
    CHECK(sa_store_open(ro_existing, 0, &st, &err) == 0);
    sa_store_close(st);
    scratch_remove(&s);
}

/* In a child whose files may not grow past a few KiB: the disk is "full". */
static void open_disk_full_child(const scratch *s) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {2048, 2048};
    CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s->data, 1, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "segarena.db");
    CHECK(st == NULL);
}

/* An existing database whose next write does not fit. */
static void write_disk_full_child(const scratch *s) {
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s->data, 0, &st, &err) == 0);
    if (!st) return;
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {64 * 1024, 64 * 1024};
    CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0);
    size_t big = 512 * 1024;
    char *title = malloc(big + 1);
    memset(title, 't', big);
    title[big] = 0;
    CHECK(sa_store_challenge_add(st, "too-big", title, "", NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "segarena.db");
    free(title);
    sa_store_close(st);
}

static void test_disk_full(void) {
    scratch s;
    scratch_make(&s);
    CHECK(in_child(open_disk_full_child, &s) == 0);
    /* room again: the same directory opens and works */
    sa_store *st = NULL;
    sa_error err;
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == SA_STORE_SCHEMA_VERSION);
    CHECK(sa_store_team_add(st, "before", NULL, &err) == 0);
    sa_store_close(st);

    CHECK(in_child(write_disk_full_child, &s) == 0);
    CHECK(sa_store_open(s.data, 0, &st, &err) == 0);
    if (!st) return;
    sa_team_row team;
    CHECK(sa_store_team_get(st, "before", &team, &err) == 1);
    sa_challenge_row c;
    CHECK(sa_store_challenge_get(st, "too-big", &c, &err) == 0);
    CHECK(sa_store_challenge_add(st, "fits", "t", "", NULL, &err) == 0);
    /* names and titles are valid UTF-8 (pages and JSON answers need it) */
    CHECK(sa_store_challenge_add(st, "latin1", "Caf\xe9", "", NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "challenge title is not valid UTF-8 (byte 4)");
    CHECK(sa_store_challenge_add(st, "latin1", "Caf\xc3\xa9", "\xff", NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "challenge description is not valid UTF-8");
    CHECK(sa_store_challenge_add(st, "utf8", "Caf\xc3\xa9 \xe2\x80\x94 MS", "", NULL, &err) == 0);
    int64_t bad_team;
    CHECK(sa_store_team_add(st, "t\xe9" "am", &bad_team, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "team name is not valid UTF-8");
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- migrations ---- */

static void test_migration_1_to_2(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open_at_version(s.data, 1, 1, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == 1);
    char tag[9];
    snprintf(tag, sizeof tag, "%s", sa_store_instance(st));
    int64_t team, challenge, dataset, phase;
    CHECK(sa_store_team_add(st, "old-team", &team, &err) == 0);
    CHECK(sa_store_challenge_add(st, "old", "Old", "", &challenge, &err) == 0);
    CHECK(sa_store_dataset_record(st, "old-data", "cc", "pet", 2, &dataset, &err) == 0);
    CHECK(sa_store_phase_add(st, challenge, "p", dataset, "{}", &phase, &err) == 0);
    /* version 1 has no quota_exempt column: a row as an old build wrote it */
    CHECK(sa_db_exec(st, &err,
                     "INSERT INTO submissions (phase_id, team_id, status, image_digest, "
                     "image_name, upload_sha256, upload_bytes, created) "
                     "VALUES (?, ?, 'ready', 'sha256:old', 'img', '', 10, 1000)",
                     "ii", phase, team) == 1);
    CHECK(sa_store_human_ref_put(st, "h", "c1", "{}", &err) == -1); /* no such table yet */
    sa_store_close(st);

    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == SA_STORE_SCHEMA_VERSION);
    CHECK(strcmp(sa_store_instance(st), tag) == 0);
    sa_team_row t;
    CHECK(sa_store_team_get(st, "old-team", &t, &err) == 1 && t.id == team);
    sa_phase_row p;
    CHECK(sa_store_phase_get(st, "old", "p", &p, &err) == 1);
    CHECK(strcmp(p.spec_json, "{}") == 0);
    sa_phase_row_free(&p);
    sa_submission_row *subs = NULL;
    size_t n = 0;
    CHECK(sa_store_submission_list(st, phase, 0, &subs, &n, &err) == 0);
    CHECK(n == 1);
    if (n == 1) {
        CHECK(strcmp(subs[0].image_digest, "sha256:old") == 0);
        CHECK(subs[0].quota_exempt == 0);
        CHECK(strcmp(subs[0].team, "old-team") == 0);
        CHECK(sa_store_submission_set_quota_exempt(st, subs[0].id, 1, &err) == 0);
    }
    sa_submission_rows_free(subs, n);
    int64_t used = -1;
    CHECK(sa_store_quota_used(st, phase, team, 0, 1, &used, NULL, &err) == 0);
    CHECK(used == 0);
    CHECK(sa_store_human_ref_put(st, "h", "c1", "{\"dice\":1}", &err) == 0);
    char *json = NULL;
    CHECK(sa_store_human_ref_get(st, "h", "c1", &json, &err) == 1);
    CHECK(json && strcmp(json, "{\"dice\":1}") == 0);
    free(json);
    sa_store_close(st);
    scratch_remove(&s);
}

/* Version 3 adds the accounts tables; what version 2 held stays. */
static void test_migration_2_to_3(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open_at_version(s.data, 1, 2, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == 2);
    char tag[9];
    snprintf(tag, sizeof tag, "%s", sa_store_instance(st));
    int64_t user, team;
    CHECK(sa_store_user_add(st, "old-user", "challenger", "$argon2id$old", &user, &err) == 0);
    CHECK(sa_store_team_add(st, "old-team", &team, &err) == 0);
    CHECK(sa_store_team_add_member(st, team, user, &err) == 0);
    CHECK(sa_store_human_ref_put(st, "h", "c1", "{}", &err) == 0);
    const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    CHECK(sa_store_token_add(st, user, hash, "x", NULL, &err) == -1); /* no such table yet */
    sa_store_close(st);

    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == SA_STORE_SCHEMA_VERSION);
    CHECK(strcmp(sa_store_instance(st), tag) == 0);
    sa_user_row u;
    CHECK(sa_store_user_get(st, "old-user", &u, &err) == 1);
    CHECK(u.id == user && u.password_hash && strcmp(u.password_hash, "$argon2id$old") == 0);
    sa_user_row_free(&u);
    int64_t teams[2];
    size_t n = 0;
    CHECK(sa_store_user_teams(st, user, teams, 2, &n, &err) == 0 && n == 1 && teams[0] == team);
    char *json = NULL;
    CHECK(sa_store_human_ref_get(st, "h", "c1", &json, &err) == 1);
    free(json);
    /* the new tables work */
    int64_t token_id = 0;
    CHECK(sa_store_token_add(st, user, hash, "ci", &token_id, &err) == 0);
    CHECK(sa_store_token_add(st, user, hash, "again", NULL, &err) == SA_STORE_CONFLICT);
    CHECK(sa_store_token_user(st, hash, &u, &err) == 1 && u.id == user);
    sa_user_row_free(&u);
    CHECK(sa_store_token_revoke(st, token_id, &err) == 1);
    CHECK(sa_store_token_user(st, hash, &u, &err) == 0);
    CHECK(sa_store_session_add(st, user, hash, "csrf", sa_store_now() + 60, &err) == 0);
    char csrf[80];
    CHECK(sa_store_session_user(st, hash, sa_store_now(), &u, csrf, &err) == 1);
    CHECK(strcmp(csrf, "csrf") == 0 && u.id == user);
    sa_user_row_free(&u);
    CHECK(sa_store_session_delete(st, hash, &err) == 1);
    CHECK(sa_store_session_delete(st, hash, &err) == 0);
    int64_t count = -1;
    CHECK(sa_store_login_attempt_add(st, "ip:1.2.3.4", sa_store_now(), &err) == 0);
    CHECK(sa_store_login_attempts(st, "ip:1.2.3.4", 0, &count, NULL, &err) == 0 && count == 1);
    sa_store_close(st);
    scratch_remove(&s);
}

static int has_column(sa_store *st, const char *table, const char *column) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table,
             column);
    return pragma_int(st, sql) == 1;
}

/* Version 4: case results keep their case's field-of-view diagonal; results stored
 * before read it as 0 (unknown). */
static void test_migration_3_to_4(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open_at_version(s.data, 1, 3, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == 3 && !has_column(st, "case_results", "fov_diagonal_mm"));
    sa_store_close(st);
    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == SA_STORE_SCHEMA_VERSION && has_column(st, "case_results", "fov_diagonal_mm"));
    sa_store_close(st);
    scratch_remove(&s);
}

/* Version 5: submissions keep the numeric run user of their intake; those stored
 * before read it as '' (they do not run). */
static void test_migration_4_to_5(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open_at_version(s.data, 1, 4, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == 4 && !has_column(st, "submissions", "run_user"));
    sa_store_close(st);
    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == 5 && has_column(st, "submissions", "run_user"));
    sa_store_close(st);
    scratch_remove(&s);
}

/* A step that fails leaves the database at the version before it. */
static void test_migration_failure_rolls_back(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open_at_version(s.data, 1, 1, &st, &err) == 0);
    if (!st) return;
    /* something in the way of step 2 (which first adds a column, then this table) */
    CHECK(sqlite3_exec(sa_store_db(st), "CREATE TABLE human_reference (x)", NULL, NULL, NULL) ==
          SQLITE_OK);
    sa_store_close(st);
    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "migration to schema version 2 failed");
    CHECK_STR_CONTAINS(err.msg, "segarena.db");
    CHECK(sa_store_open_at_version(s.data, 0, 1, &st, &err) == 0);
    if (!st) return;
    CHECK(sa_store_schema_version(st) == 1);
    sqlite3_stmt *stmt = NULL;
    CHECK(sqlite3_prepare_v2(sa_store_db(st), "SELECT quota_exempt FROM submissions", -1, &stmt,
                             NULL) != SQLITE_OK); /* the ALTER TABLE was rolled back */
    sqlite3_finalize(stmt);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- users, teams, challenges, datasets, phases ---- */

static void test_users_and_teams(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0);
    if (!st) return;
    int64_t org = 0, bob = 0;
    CHECK(sa_store_user_add(st, "olga", "organiser", "$argon2id$x", &org, &err) == 0);
    CHECK(sa_store_user_add(st, "bob", "challenger", NULL, &bob, &err) == 0);
    CHECK(org > 0 && bob > org);
    CHECK(sa_store_user_add(st, "olga", "challenger", NULL, NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "user 'olga' exists");
    CHECK(sa_store_user_add(st, "eve", "admin", NULL, NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "role 'admin'");
    sa_user_row u;
    CHECK(sa_store_user_get(st, "olga", &u, &err) == 1);
    CHECK(u.id == org && strcmp(u.role, "organiser") == 0);
    CHECK(u.password_hash && strcmp(u.password_hash, "$argon2id$x") == 0);
    CHECK(u.created > 0);
    sa_user_row_free(&u);
    CHECK(u.password_hash == NULL);
    CHECK(sa_store_user_get(st, "bob", &u, &err) == 1 && u.password_hash == NULL);
    sa_user_row_free(&u);
    CHECK(sa_store_user_get(st, "nobody", &u, &err) == 0);

    int64_t t1 = 0, t2 = 0;
    CHECK(sa_store_team_add(st, "alpha", &t1, &err) == 0);
    CHECK(sa_store_team_add(st, "beta", &t2, &err) == 0);
    CHECK(sa_store_team_add(st, "alpha", NULL, &err) == SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "team 'alpha' exists");
    char long_name[80];
    memset(long_name, 'n', 64);
    long_name[64] = 0;
    CHECK(sa_store_team_add(st, long_name, NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "too long");
    long_name[63] = 0;
    CHECK(sa_store_team_add(st, long_name, NULL, &err) == 0);
    sa_team_row t;
    CHECK(sa_store_team_get(st, "beta", &t, &err) == 1 && t.id == t2);
    CHECK(sa_store_team_get_by_id(st, t1, &t, &err) == 1 && strcmp(t.name, "alpha") == 0);
    CHECK(sa_store_team_get_by_id(st, 999, &t, &err) == 0);
    CHECK(sa_store_team_get(st, "gamma", &t, &err) == 0);
    sa_team_row *teams = NULL;
    size_t n = 0;
    CHECK(sa_store_team_list(st, &teams, &n, &err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(teams[0].name, "alpha") == 0 && strcmp(teams[1].name, "beta") == 0);
        CHECK(strcmp(teams[2].name, long_name) == 0);
    }
    free(teams);

    CHECK(sa_store_team_add_member(st, t1, bob, &err) == 0);
    CHECK(sa_store_team_add_member(st, t1, bob, &err) == 0); /* already: no change */
    CHECK(sa_store_team_add_member(st, t2, bob, &err) == 0);
    CHECK(sa_store_team_add_member(st, t1, 999, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "does not exist");
    CHECK(pragma_int(st, "SELECT count(*) FROM team_members") == 2);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_challenges_and_datasets(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0);
    if (!st) return;
    int64_t c1 = 0, c2 = 0;
    CHECK(sa_store_challenge_add(st, "ms", "MS lesions", "FLAIR", &c1, &err) == 0);
    CHECK(sa_store_challenge_add(st, "pet", "PET", NULL, &c2, &err) == 0);
    CHECK(sa_store_challenge_add(st, "ms", "again", "", NULL, &err) == SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "challenge 'ms' exists");
    sa_challenge_row c;
    CHECK(sa_store_challenge_get(st, "ms", &c, &err) == 1);
    CHECK(c.id == c1 && strcmp(c.title, "MS lesions") == 0 && strcmp(c.description, "FLAIR") == 0);
    sa_challenge_row_free(&c);
    CHECK(sa_store_challenge_get_by_id(st, c2, &c, &err) == 1);
    CHECK(strcmp(c.slug, "pet") == 0 && strcmp(c.description, "") == 0);
    sa_challenge_row_free(&c);
    CHECK(sa_store_challenge_get(st, "none", &c, &err) == 0);
    sa_challenge_row *rows = NULL;
    size_t n = 0;
    CHECK(sa_store_challenge_list(st, &rows, &n, &err) == 0);
    CHECK(n == 2 && rows && strcmp(rows[1].title, "PET") == 0);
    sa_challenge_rows_free(rows, n);

    int64_t d1 = 0, d1_again = 0, d2 = 0;
    CHECK(sa_store_dataset_record(st, "ms-test", "aaaa", "ms", 10, &d1, &err) == 0);
    CHECK(sa_store_dataset_record(st, "pet-test", "bbbb", "pet", 4, &d2, &err) == 0);
    CHECK(sa_store_dataset_record(st, "ms-test", "cccc", "ms-v2", 12, &d1_again, &err) == 0);
    CHECK(d1 > 0 && d1_again == d1 && d2 != d1);
    sa_dataset_row d;
    CHECK(sa_store_dataset_get_by_id(st, d1, &d, &err) == 0);
    CHECK(strcmp(d.checksum, "cccc") == 0 && strcmp(d.kind, "ms-v2") == 0 && d.n_cases == 12);
    CHECK(strcmp(d.name, "ms-test") == 0 && d.recorded > 0);
    CHECK(sa_store_dataset_get_by_id(st, 999, &d, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "dataset 999 not found");
    CHECK(pragma_int(st, "SELECT count(*) FROM datasets") == 2);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_phases(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    int64_t other_challenge = 0, p2 = 0, p3 = 0;
    CHECK(sa_store_phase_add(st, w.challenge, "final", w.dataset, "{}", NULL, &err) ==
          SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "phase 'final' exists");
    CHECK(sa_store_phase_add(st, w.challenge, "debug", w.dataset, "{\"a\":1}", &p2, &err) == 0);
    CHECK(sa_store_challenge_add(st, "other", "Other", "", &other_challenge, &err) == 0);
    CHECK(sa_store_phase_add(st, other_challenge, "final", w.dataset, "{}", &p3, &err) == 0);
    CHECK(sa_store_phase_add(st, other_challenge, "x", 999, "{}", NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "does not exist");

    sa_phase_row p;
    CHECK(sa_store_phase_get(st, "ms2024", "final", &p, &err) == 1);
    CHECK(p.id == w.phase && p.challenge_id == w.challenge && p.dataset_id == w.dataset);
    CHECK(strcmp(p.challenge, "ms2024") == 0 && strcmp(p.name, "final") == 0);
    CHECK(strcmp(p.spec_json, "{\"metrics\":[\"dice\"]}") == 0 && p.published == 0);
    double created = p.created;
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_get(st, "other", "debug", &p, &err) == 0);

    CHECK(sa_store_phase_update_spec(st, w.phase, 0, "{\"metrics\":[\"hd95\"]}", 0, NULL, &err) == 0);
    CHECK(sa_store_phase_set_published(st, w.phase, 1, &err) == 0);
    CHECK(sa_store_phase_get_by_id(st, w.phase, &p, &err) == 1);
    CHECK(strcmp(p.spec_json, "{\"metrics\":[\"hd95\"]}") == 0 && p.published == 1);
    CHECK(p.updated >= created && p.created == created);
    CHECK(strcmp(p.challenge, "ms2024") == 0);
    sa_phase_row_free(&p);
    /* a new dataset goes with the spec, in the same statement; 0 keeps it */
    int64_t other_ds = 0;
    CHECK(sa_store_dataset_record(st, "ms-other", "dddd", "ms", 3, &other_ds, &err) == 0);
    CHECK(sa_store_phase_update_spec(st, w.phase, other_ds, "{\"metrics\":[\"hd95\"]}", 0, NULL, &err) == 0);
    CHECK(sa_store_phase_get_by_id(st, w.phase, &p, &err) == 1 && p.dataset_id == other_ds);
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_update_spec(st, w.phase, 0, "{\"metrics\":[\"hd95\"]}", 0, NULL, &err) == 0);
    CHECK(sa_store_phase_get_by_id(st, w.phase, &p, &err) == 1 && p.dataset_id == other_ds);
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_update_spec(st, w.phase, w.dataset, "{\"metrics\":[\"hd95\"]}", 0, NULL, &err) == 0);
    /* once the phase has a run, its dataset stays (checked by the update itself) */
    const char *const one_case[] = {"c1"};
    CHECK(sa_store_run_create(st, w.submission, w.phase, "evaluate", 0, "{}", one_case, 1, NULL, NULL,
                              &err) == 0);
    CHECK(sa_store_phase_update_spec(st, w.phase, other_ds, "{}", 0, NULL, &err) == SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "has runs");
    CHECK(sa_store_phase_update_spec(st, w.phase, w.dataset, "{\"metrics\":[\"hd95\"]}", 0, NULL, &err) == 0);
    /* an update the caller marks as changing what runs saw (split, inputs) waits
     * for a phase without runs, on the same dataset too */
    CHECK(sa_store_phase_update_spec(st, w.phase, w.dataset, "{\"split\":\"test\"}", 1, NULL, &err) ==
          SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "has runs");
    CHECK(sa_store_phase_update_spec(st, w.phase, 0, "{\"split\":\"test\"}", 1, NULL, &err) ==
          SA_STORE_CONFLICT);
    CHECK(sa_store_phase_get_by_id(st, w.phase, &p, &err) == 1);
    CHECK(strcmp(p.spec_json, "{\"metrics\":[\"hd95\"]}") == 0);
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_update_spec(st, p3, 0, "{\"split\":\"test\"}", 1, NULL, &err) == 0);
    /* judged against a spec that is no longer the stored one: nothing changes */
    CHECK(sa_store_phase_update_spec(st, p3, 0, "{\"split\":\"val\"}", 0, "{}", &err) ==
          SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "changed meanwhile");
    CHECK(sa_store_phase_update_spec(st, p3, 0, "{\"split\":\"val\"}", 0, "{\"split\":\"test\"}",
                                     &err) == 0);
    CHECK(sa_store_phase_get_by_id(st, p3, &p, &err) == 1 && !strcmp(p.spec_json, "{\"split\":\"val\"}"));
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_update_spec(st, 999, 0, "{}", 0, NULL, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "phase 999 not found");
    CHECK(sa_store_phase_set_published(st, 999, 0, &err) == -1);

    sa_phase_row *rows = NULL;
    size_t n = 0;
    CHECK(sa_store_phase_list(st, 0, &rows, &n, &err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(rows[0].id == w.phase && rows[1].id == p2 && rows[2].id == p3);
        CHECK(strcmp(rows[2].challenge, "other") == 0);
    }
    sa_phase_rows_free(rows, n);
    CHECK(sa_store_phase_list(st, other_challenge, &rows, &n, &err) == 0);
    CHECK(n == 1 && rows[0].id == p3);
    sa_phase_rows_free(rows, n);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- submissions and quota ---- */

static void test_submissions(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    sa_submission_row in = submission_of(&w, "ready", "sha256:aa", 0);
    in.user_id = w.user;
    snprintf(in.image_name, sizeof in.image_name, "segarena/aa");
    snprintf(in.upload_sha256, sizeof in.upload_sha256, "%064d", 7);
    in.upload_bytes = 12345;
    snprintf(in.run_user, sizeof in.run_user, "1000:1001");
    int64_t id = 0;
    CHECK(sa_store_submission_add(st, &in, &id, &err) == 0);
    CHECK(sa_store_submission_add(st, &in, NULL, &err) == SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "sha256:aa");

    /* refusals never conflict, not with each other nor with the ready one */
    sa_submission_row bad = submission_of(&w, "invalid", "sha256:aa", 0);
    int64_t bad1 = 0, bad2 = 0;
    CHECK(sa_store_submission_add(st, &bad, &bad1, &err) == 0);
    CHECK(sa_store_submission_add(st, &bad, &bad2, &err) == 0);
    bad = submission_of(&w, "invalid", "", 0);
    CHECK(sa_store_submission_add(st, &bad, NULL, &err) == 0);
    CHECK(sa_store_submission_add(st, &bad, NULL, &err) == 0);
    /* the same image in another phase is another submission */
    int64_t phase2 = 0;
    CHECK(sa_store_phase_add(st, w.challenge, "second", w.dataset, "{}", &phase2, &err) == 0);
    sa_submission_row elsewhere = in;
    elsewhere.phase_id = phase2;
    CHECK(sa_store_submission_add(st, &elsewhere, NULL, &err) == 0);
    sa_submission_row odd = submission_of(&w, "pending", "sha256:bb", 0);
    CHECK(sa_store_submission_add(st, &odd, NULL, &err) == -1);
    odd = submission_of(&w, "ready", "", 0);
    CHECK(sa_store_submission_add(st, &odd, NULL, &err) == -1);

    sa_submission_row got;
    CHECK(sa_store_submission_get(st, id, &got, &err) == 1);
    CHECK(got.phase_id == w.phase && got.team_id == w.team && got.user_id == w.user);
    CHECK(strcmp(got.team, "lesion-hunters") == 0 && strcmp(got.status, "ready") == 0);
    CHECK(got.intake_reason == NULL && strcmp(got.image_name, "segarena/aa") == 0);
    CHECK(strlen(got.upload_sha256) == 64 && got.upload_bytes == 12345);
    CHECK(got.selected == 0 && got.quota_exempt == 0 && got.created > 0);
    CHECK(strcmp(got.run_user, "1000:1001") == 0);
    sa_submission_row_free(&got);
    CHECK(sa_store_submission_get(st, bad1, &got, &err) == 1);
    CHECK(got.user_id == 0 && got.intake_reason && got.run_user[0] == '\0');
    CHECK(got.intake_reason && strcmp(got.intake_reason, "no /entrypoint") == 0);
    sa_submission_row_free(&got);
    CHECK(sa_store_submission_get(st, 999, &got, &err) == 0);

    /* listing, and a second team */
    int64_t team2 = 0;
    CHECK(sa_store_team_add(st, "rivals", &team2, &err) == 0);
    sa_submission_row theirs = submission_of(&w, "ready", "sha256:cc", 0);
    theirs.team_id = team2;
    int64_t their_id = 0;
    CHECK(sa_store_submission_add(st, &theirs, &their_id, &err) == 0);
    sa_submission_row *rows = NULL;
    size_t n = 0;
    /* world + aa + 4 invalid + rivals' one in phase 1 */
    CHECK(sa_store_submission_list(st, w.phase, 0, &rows, &n, &err) == 0);
    CHECK(n == 7);
    for (size_t i = 1; i < n; i++) CHECK(rows[i].id > rows[i - 1].id);
    sa_submission_rows_free(rows, n);
    CHECK(sa_store_submission_list(st, w.phase, team2, &rows, &n, &err) == 0);
    CHECK(n == 1 && rows[0].id == their_id && strcmp(rows[0].team, "rivals") == 0);
    sa_submission_rows_free(rows, n);

    /* selection: one per team and phase */
    CHECK(sa_store_submission_select(st, id, &err) == 0);
    CHECK(sa_store_submission_select(st, their_id, &err) == 0);
    CHECK(sa_store_submission_select(st, w.submission, &err) == 0);
    CHECK(sa_store_submission_get(st, w.submission, &got, &err) == 1 && got.selected == 1);
    sa_submission_row_free(&got);
    CHECK(sa_store_submission_get(st, id, &got, &err) == 1 && got.selected == 0);
    sa_submission_row_free(&got);
    CHECK(sa_store_submission_get(st, their_id, &got, &err) == 1 && got.selected == 1);
    sa_submission_row_free(&got);
    CHECK(sa_store_submission_select(st, 999, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "submission 999 not found");
    CHECK(sa_store_submission_set_quota_exempt(st, 999, 1, &err) == -1);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_quota(void) {
    scratch s;
    scratch_make(&s);
    world w; /* world's own submission is created now */
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    double day = 86400, now = sa_store_now();
    sa_submission_row in;
    int64_t exempt_id = 0;
    in = submission_of(&w, "ready", "sha256:old", now - 3 * day);
    CHECK(sa_store_submission_add(st, &in, NULL, &err) == 0);
    in = submission_of(&w, "ready", "sha256:y1", now - 0.5 * day);
    CHECK(sa_store_submission_add(st, &in, NULL, &err) == 0);
    in = submission_of(&w, "ready", "sha256:y2", now - 0.25 * day);
    CHECK(sa_store_submission_add(st, &in, &exempt_id, &err) == 0);
    in = submission_of(&w, "invalid", "", now - 0.1 * day);
    CHECK(sa_store_submission_add(st, &in, NULL, &err) == 0);
    int64_t team2 = 0;
    CHECK(sa_store_team_add(st, "rivals", &team2, &err) == 0);
    in = submission_of(&w, "ready", "sha256:r", now - 0.1 * day);
    in.team_id = team2;
    CHECK(sa_store_submission_add(st, &in, NULL, &err) == 0);

    int64_t count = -1;
    double oldest = -1;
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - day, 3, &count, &oldest, &err) == 0);
    CHECK(count == 3); /* y1, y2, world's; not old, not the invalid one, not the rivals' */
    CHECK_NEAR(oldest, now - 0.5 * day, 1e-3);
    /* with a quota of 2 (lowered), the slot frees when the second oldest leaves */
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - day, 2, &count, &oldest, &err) == 0);
    CHECK(count == 3);
    CHECK_NEAR(oldest, now - 0.25 * day, 1e-3);
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - day, 1, &count, &oldest, &err) == 0);
    CHECK(oldest > now - 0.1 * day); /* world's, created now */
    CHECK(sa_store_submission_set_quota_exempt(st, exempt_id, 1, &err) == 0);
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - day, 1, &count, &oldest, &err) == 0);
    CHECK(count == 2);
    CHECK(sa_store_quota_used(st, w.phase, w.team, 0, 3, &count, &oldest, &err) == 0);
    CHECK(count == 3); /* old, y1, world's */
    CHECK_NEAR(oldest, now - 3 * day, 1e-3);
    CHECK(sa_store_quota_used(st, w.phase, w.team, 0, 5, &count, &oldest, &err) == 0);
    CHECK_NEAR(oldest, now - 3 * day, 1e-3);
    /* since is exclusive: one created at exactly since is out of the window, as its
     * slot opens at created + window */
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - 0.5 * day, 1, &count, &oldest, &err) == 0);
    CHECK(count == 1);
    CHECK(sa_store_quota_used(st, w.phase, w.team, now + day, 1, &count, &oldest, &err) == 0);
    CHECK(count == 0 && oldest == 0);
    CHECK(sa_store_quota_used(st, w.phase, team2, now - day, 1, &count, &oldest, &err) == 0);
    CHECK(count == 1);
    /* the exempt one counts again once a done run of it scored a case; a run with
     * only failures, or not done, does not do that */
    world we = w;
    we.submission = exempt_id;
    const char *const one[] = {"c1"};
    sa_job_row job;
    sa_case_result_row failed = result_of("failed", "engine_error: platform error", 0, 1);
    sa_case_result_row ok = result_of("succeeded", "succeeded", 1, 1);
    int64_t run1 = make_run(st, &we, one, 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
    CHECK(sa_store_job_complete(st, &job, &failed, &err) == 1);
    CHECK(sa_store_run_finish(st, run1, "{}", &err) == 1);
    int64_t run2 = make_run(st, &we, one, 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
    CHECK(sa_store_job_complete(st, &job, &ok, &err) == 1);
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - day, 1, &count, NULL, &err) == 0);
    CHECK(count == 2);
    CHECK(sa_store_run_finish(st, run2, "{}", &err) == 1);
    CHECK(sa_store_quota_used(st, w.phase, w.team, now - day, 1, &count, NULL, &err) == 0);
    CHECK(count == 3);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- runs and jobs ---- */

static const char *const three_cases[] = {"c1", "c2", "c3"};

static void test_run_create_and_claim_order(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    sa_job_row job;
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 0); /* empty queue */

    int64_t run1 = make_run(st, &w, three_cases, 3);
    const char *const two_cases[] = {"z9", "a1"};
    int64_t run2 = 0;
    CHECK(sa_store_run_create(st, w.submission, w.phase, "rerun", run1, "{\"frozen\":2}",
                              two_cases, 2, &run2, NULL, &err) == 0);
    CHECK(run2 > run1);
    const char *const twice[] = {"c1", "c1"};
    CHECK(sa_store_run_create(st, w.submission, w.phase, "evaluate", 0, "{}", twice, 2, NULL, NULL,
                              &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "case 'c1' listed twice");
    /* a first run only while there is none: the check is the insert's own (two
     * queuers at once cannot both add one) */
    CHECK(sa_store_run_create_first(st, w.submission, w.phase, "evaluate", "{}", two_cases, 2,
                                    NULL, NULL, &err) == SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "already has a run");
    /* made only on the phase's spec as the caller read it: not after an update */
    sa_phase_row phase_now;
    CHECK(sa_store_phase_get_by_id(st, w.phase, &phase_now, &err) == 1);
    int64_t run3 = 0;
    CHECK(sa_store_run_create(st, w.submission, w.phase, "rerun", run1, "{}", two_cases, 2, &run3,
                              "{\"an\":\"older spec\"}", &err) == SA_STORE_CONFLICT);
    CHECK_STR_CONTAINS(err.msg, "spec changed");
    CHECK(run3 == 0); /* (with the stored text it is made: every sa_run_queue does so) */
    sa_phase_row_free(&phase_now);
    CHECK(sa_store_run_create(st, w.submission, w.phase, "bogus", 0, "{}", twice, 1, NULL, NULL, &err) ==
          -1);
    CHECK(sa_store_run_create(st, 999, w.phase, "evaluate", 0, "{}", three_cases, 3, NULL, NULL, &err) ==
          -1);
    CHECK_STR_CONTAINS(err.msg, "does not exist");
    sa_run_row *runs = NULL;
    size_t n = 0;
    CHECK(sa_store_run_list(st, 0, 0, &runs, &n, &err) == 0);
    CHECK(n == 2); /* the failed creations left nothing */
    sa_run_rows_free(runs, n);
    CHECK(pragma_int(st, "SELECT count(*) FROM jobs") == 5);

    sa_run_row r;
    CHECK(sa_store_run_get(st, run2, &r, &err) == 1);
    CHECK(strcmp(r.kind, "rerun") == 0 && strcmp(r.status, "queued") == 0);
    CHECK(r.parent_run_id == run1 && r.phase_id == w.phase && r.submission_id == w.submission);
    CHECK(strcmp(r.config_json, "{\"frozen\":2}") == 0 && r.aggregate_json == NULL);
    CHECK(r.created > 0 && r.started == 0 && r.finished == 0);
    sa_run_row_free(&r);
    CHECK(sa_store_run_get(st, run1, &r, &err) == 1 && r.parent_run_id == 0);
    sa_run_row_free(&r);
    CHECK(sa_store_run_get(st, 999, &r, &err) == 0);

    /* run 1's jobs in case order of creation, then run 2's */
    const char *expected[] = {"c1", "c2", "c3", "z9", "a1"};
    int64_t expected_run[] = {run1, run1, run1, run2, run2};
    for (int i = 0; i < 5; i++) {
        double before = sa_store_now();
        CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
        CHECK(strcmp(job.case_id, expected[i]) == 0);
        CHECK(job.run_id == expected_run[i]);
        CHECK(strcmp(job.status, "running") == 0 && job.attempts == 1);
        CHECK(strcmp(job.lease_owner, "w1") == 0);
        CHECK(job.lease_expires >= before + 60 && job.lease_expires < before + 70);
        if (i == 0) {
            CHECK(sa_store_run_get(st, run1, &r, &err) == 1);
            CHECK(strcmp(r.status, "running") == 0 && r.started >= before);
            sa_run_row_free(&r);
            CHECK(sa_store_run_get(st, run2, &r, &err) == 1);
            CHECK(strcmp(r.status, "queued") == 0);
            sa_run_row_free(&r);
        }
    }
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 0);

    CHECK(sa_store_run_list(st, w.phase, 0, &runs, &n, &err) == 0);
    CHECK(n == 2 && runs[0].id == run1 && runs[1].id == run2);
    sa_run_rows_free(runs, n);
    CHECK(sa_store_run_list(st, 999, 0, &runs, &n, &err) == 0);
    CHECK(n == 0 && runs == NULL);
    CHECK(sa_store_run_list(st, 0, w.submission, &runs, &n, &err) == 0);
    CHECK(n == 2);
    sa_run_rows_free(runs, n);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_complete_once(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    int64_t run = make_run(st, &w, three_cases, 3);
    sa_job_row job;
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
    sa_case_result_row res = result_of("succeeded", "succeeded", 2.5, 0.5);
    res.detail = (char *)"all fine";
    res.output_path = (char *)"runs/1/c1/output";
    res.log_path = (char *)"runs/1/c1/log.txt";
    res.peak_memory_bytes = 1 << 20;
    CHECK(sa_store_job_complete(st, &job, &res, &err) == 1);
    CHECK(sa_store_job_complete(st, &job, &res, &err) == 0); /* no longer held */
    CHECK(sa_store_job_renew(st, &job, 60, &err) == 0);
    CHECK(sa_store_job_release(st, &job, &err) == 0);
    sa_case_result_row bad = result_of("maybe", "x", 0, 0);
    CHECK(sa_store_job_complete(st, &job, &bad, &err) == -1);

    sa_case_result_row got;
    CHECK(sa_store_case_result_get(st, run, "c1", &got, &err) == 1);
    CHECK(got.run_id == run && strcmp(got.case_id, "c1") == 0);
    CHECK(strcmp(got.status, "succeeded") == 0 && strcmp(got.error_class, "succeeded") == 0);
    CHECK(got.container_seconds == 2.5 && got.platform_seconds == 0.5);
    CHECK(got.peak_memory_bytes == 1 << 20 && got.exit_code == 0);
    CHECK(got.result_json && strcmp(got.result_json, "{\"dice\":0.8}") == 0);
    CHECK(got.detail && strcmp(got.detail, "all fine") == 0);
    CHECK(got.output_path && strcmp(got.output_path, "runs/1/c1/output") == 0);
    CHECK(got.log_path && strcmp(got.log_path, "runs/1/c1/log.txt") == 0);
    CHECK(got.metric_version == SA_METRIC_DEFINITION_VERSION);
    CHECK(strcmp(got.dataset_checksum, "ab12") == 0);
    CHECK(strcmp(got.image_digest, "sha256:world") == 0);
    CHECK(got.attempts == 1 && got.finished > 0);
    sa_case_result_row_free(&got);
    CHECK(got.result_json == NULL && got.detail == NULL);
    CHECK(sa_store_case_result_get(st, run, "c2", &got, &err) == 0);

    /* the others, one failing without result json or paths */
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
    sa_case_result_row failed = result_of("failed", "timeout", 600, 1);
    CHECK(sa_store_job_complete(st, &job, &failed, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
    CHECK(sa_store_job_complete(st, &job, &res, &err) == 1);
    sa_case_result_row *rows = NULL;
    size_t n = 0;
    CHECK(sa_store_case_results(st, run, &rows, &n, &err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(rows[0].case_id, "c1") == 0 && strcmp(rows[2].case_id, "c3") == 0);
        CHECK(strcmp(rows[1].status, "failed") == 0 && rows[1].result_json == NULL);
        CHECK(rows[1].output_path == NULL && rows[1].exit_code == -1);
    }
    sa_case_result_rows_free(rows, n);
    sa_job_row *jobs = NULL;
    CHECK(sa_store_job_list(st, run, &jobs, &n, &err) == 0);
    CHECK(n == 3);
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(jobs[i].status, "done") == 0 && jobs[i].attempts == 1);
    free(jobs);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_lease_expiry(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    const char *const one[] = {"c1"};
    int64_t run = make_run(st, &w, one, 1);
    sa_job_row first, second, third;
    /* leases of 1 s: the claim and renew below must land inside it even on a loaded
     * machine under the sanitizers (50 ms was too tight for that) */
    CHECK(sa_store_job_claim(st, "slow", 1.0, NULL, NULL, &first, &err) == 1);
    CHECK(sa_store_job_claim(st, "fast", 60, NULL, NULL, &second, &err) == 0); /* still held */
    CHECK(sa_store_job_renew(st, &first, 1.0, &err) == 1);
    usleep(1200 * 1000);
    CHECK(sa_store_job_claim(st, "fast", 60, NULL, NULL, &second, &err) == 1);
    CHECK(second.id == first.id && second.attempts == 2);
    CHECK(strcmp(second.lease_owner, "fast") == 0);

    /* the first worker's lease is gone: nothing it does counts */
    sa_case_result_row res = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_renew(st, &first, 60, &err) == 0);
    CHECK(sa_store_job_complete(st, &first, &res, &err) == 0);
    CHECK(sa_store_job_release(st, &first, &err) == 0);
    sa_case_result_row got;
    CHECK(sa_store_case_result_get(st, run, "c1", &got, &err) == 0);
    /* the same owner name with a stale token is refused too */
    sa_job_row forged = second;
    forged.attempts = 1;
    CHECK(sa_store_job_complete(st, &forged, &res, &err) == 0);
    CHECK(sa_store_case_result_get(st, run, "c1", &got, &err) == 0);

    /* the new holder renews, releases, a third takes it, completes it */
    CHECK(sa_store_job_renew(st, &second, 60, &err) == 1);
    CHECK(sa_store_job_release(st, &second, &err) == 1);
    sa_job_row *jobs = NULL;
    size_t n = 0;
    CHECK(sa_store_job_list(st, run, &jobs, &n, &err) == 0);
    CHECK(n == 1 && strcmp(jobs[0].status, "queued") == 0 && jobs[0].lease_owner[0] == 0);
    free(jobs);
    CHECK(sa_store_job_claim(st, "third", 60, NULL, NULL, &third, &err) == 1);
    CHECK(third.attempts == 3);
    /* a give-back (no GPU free) is not an attempt: the next claim has its number;
     * the old token is refused, and so is a second give-back */
    CHECK(sa_store_job_give_back(st, &third, &err) == 1);
    CHECK(sa_store_job_give_back(st, &third, &err) == 0);
    CHECK(sa_store_job_claim(st, "third", 60, NULL, NULL, &third, &err) == 1);
    CHECK(third.attempts == 3);
    CHECK(sa_store_job_complete(st, &second, &res, &err) == 0);
    CHECK(sa_store_job_complete(st, &third, &res, &err) == 1);
    CHECK(sa_store_case_result_get(st, run, "c1", &got, &err) == 1);
    CHECK(got.attempts == 3);
    sa_case_result_row_free(&got);
    CHECK(pragma_int(st, "SELECT count(*) FROM case_results") == 1);
    sa_store_close(st);
    scratch_remove(&s);
}

/* A job released with a not-before time is not claimed before it (later jobs are),
 * then is; a counted release uses up an attempt, an uncounted one does not. */
static void test_release_until(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    const char *const two[] = {"c1", "c2"};
    int64_t run = make_run(st, &w, two, 2);
    sa_job_row a, b;
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(strcmp(a.case_id, "c1") == 0 && a.attempts == 1);
    double not_before = sa_store_now() + 1.0;
    CHECK(sa_store_job_release_until(st, &a, not_before, 1, &err) == 1);
    CHECK(sa_store_job_release_until(st, &a, not_before, 1, &err) == 0); /* token used */
    sa_job_row *jobs = NULL;
    size_t n = 0;
    CHECK(sa_store_job_list(st, run, &jobs, &n, &err) == 0);
    CHECK(n == 2 && strcmp(jobs[0].status, "queued") == 0 && jobs[0].lease_expires == not_before);
    free(jobs);
    /* c1 waits: c2 is claimed, then nothing */
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    CHECK(strcmp(b.case_id, "c2") == 0);
    CHECK(sa_store_job_claim(st, "w2", 60, NULL, NULL, &b, &err) == 0);
    usleep(1200 * 1000);
    CHECK(sa_store_job_claim(st, "w2", 60, NULL, NULL, &a, &err) == 1);
    CHECK(strcmp(a.case_id, "c1") == 0 && a.attempts == 2);
    /* uncounted with a delay: the next claim has the same number */
    CHECK(sa_store_job_release_until(st, &a, sa_store_now() + 0.3, 0, &err) == 1);
    CHECK(sa_store_job_claim(st, "w2", 60, NULL, NULL, &b, &err) == 0);
    usleep(400 * 1000);
    CHECK(sa_store_job_claim(st, "w2", 60, NULL, NULL, &a, &err) == 1);
    CHECK(strcmp(a.case_id, "c1") == 0 && a.attempts == 2);
    /* a plain release is claimable at once */
    CHECK(sa_store_job_release(st, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w2", 60, NULL, NULL, &a, &err) == 1 && a.attempts == 3);
    /* a not-before time more than a day ahead (the longest delay) was set before
     * the clock was stepped back: due now, not a wait of the whole step */
    CHECK(sa_store_job_release_until(st, &a, sa_store_now() + 3 * 86400.0, 1, &err) == 1);
    CHECK(sa_store_job_claim(st, "w2", 60, NULL, NULL, &a, &err) == 1 && strcmp(a.case_id, "c1") == 0);
    sa_store_close(st);
    scratch_remove(&s);
}

typedef struct dead_list {
    const char *dead;
    int calls;
    char seen[4][32];
} dead_list;

static int owner_is_dead(const char *owner, void *ctx) {
    dead_list *d = ctx;
    if (d->calls < 4) snprintf(d->seen[d->calls], sizeof d->seen[0], "%s", owner);
    d->calls++;
    return d->dead && strcmp(owner, d->dead) == 0;
}

static void test_owner_dead(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    const char *const one[] = {"c1"};
    int64_t run = make_run(st, &w, one, 1);
    sa_job_row held, taken;
    CHECK(sa_store_job_claim(st, "host:1234", 3600, NULL, NULL, &held, &err) == 1);
    dead_list alive = {NULL, 0, {{0}}};
    CHECK(sa_store_job_claim(st, "host:99", 60, owner_is_dead, &alive, &taken, &err) == 0);
    CHECK(alive.calls == 1 && strcmp(alive.seen[0], "host:1234") == 0);
    dead_list dead = {"host:1234", 0, {{0}}};
    CHECK(sa_store_job_claim(st, "host:99", 60, owner_is_dead, &dead, &taken, &err) == 1);
    CHECK(taken.id == held.id && taken.attempts == 2 && dead.calls == 1);
    /* the owner that was thought dead has lost it */
    sa_case_result_row res = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_complete(st, &held, &res, &err) == 0);
    CHECK(sa_store_job_complete(st, &taken, &res, &err) == 1);
    sa_case_result_row got;
    CHECK(sa_store_case_result_get(st, run, "c1", &got, &err) == 1 && got.attempts == 2);
    sa_case_result_row_free(&got);
    /* no running jobs: the callback is not asked about anyone */
    dead_list none = {NULL, 0, {{0}}};
    CHECK(sa_store_job_claim(st, "host:99", 60, owner_is_dead, &none, &taken, &err) == 0);
    CHECK(none.calls == 0);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_cancel(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    int64_t run = make_run(st, &w, three_cases, 3);
    sa_job_row running, short_lease;
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &running, &err) == 1);
    CHECK(sa_store_job_claim(st, "w2", 0.05, NULL, NULL, &short_lease, &err) == 1);
    CHECK(sa_store_run_cancel(st, run, &err) == 1);
    CHECK(sa_store_run_cancel(st, run, &err) == 0);
    CHECK(sa_store_run_cancel(st, 999, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "run 999 not found");
    sa_run_row r;
    CHECK(sa_store_run_get(st, run, &r, &err) == 1);
    CHECK(strcmp(r.status, "cancelled") == 0 && r.finished > 0);
    sa_run_row_free(&r);

    /* nothing of a cancelled run is claimed, not even an expired lease */
    usleep(120 * 1000);
    sa_job_row job;
    dead_list everyone_dead = {"w1", 0, {{0}}};
    CHECK(sa_store_job_claim(st, "w3", 60, owner_is_dead, &everyone_dead, &job, &err) == 0);

    /* the running job finishes and keeps its result; the run stays cancelled */
    sa_case_result_row res = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_renew(st, &running, 60, &err) == 1);
    CHECK(sa_store_job_complete(st, &running, &res, &err) == 1);
    sa_case_result_row kept;
    CHECK(sa_store_case_result_get(st, run, running.case_id, &kept, &err) == 1);
    sa_case_result_row_free(&kept);
    CHECK(sa_store_run_finish(st, run, "{}", &err) == 0);
    CHECK(sa_store_run_get(st, run, &r, &err) == 1 && strcmp(r.status, "cancelled") == 0);
    sa_run_row_free(&r);
    sa_run_progress p;
    CHECK(sa_store_run_progress(st, run, &p, &err) == 0);
    /* c3 was queued; c2's worker let its lease lapse, so it was let go too */
    CHECK(p.total == 3 && p.done == 1 && p.cancelled == 2 && p.queued == 0 && p.running == 0);
    CHECK(sa_store_job_complete(st, &short_lease, &res, &err) == 0);
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK(sa_store_runs_to_finish(st, &ids, &n, &err) == 0);
    CHECK(n == 0);
    free(ids);

    /* a done run cannot be cancelled */
    const char *const one[] = {"c1"};
    int64_t run2 = make_run(st, &w, one, 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1 && job.run_id == run2);
    CHECK(sa_store_job_complete(st, &job, &res, &err) == 1);
    CHECK(sa_store_run_finish(st, run2, "{\"mean\":1}", &err) == 1);
    CHECK(sa_store_run_cancel(st, run2, &err) == 0);
    CHECK(sa_store_run_get(st, run2, &r, &err) == 1 && strcmp(r.status, "done") == 0);
    sa_run_row_free(&r);

    /* a job released after its run was cancelled is cancelled, not queued */
    int64_t run3 = make_run(st, &w, one, 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1 && job.run_id == run3);
    CHECK(sa_store_run_cancel(st, run3, &err) == 1);
    CHECK(sa_store_job_release(st, &job, &err) == 1);
    CHECK(sa_store_run_progress(st, run3, &p, &err) == 0);
    CHECK(p.cancelled == 1 && p.queued == 0);

    /* even a queued job left in a finished run (by hand) is never claimed */
    int64_t run4 = make_run(st, &w, one, 1);
    const char *set_status = "UPDATE runs SET status = ? WHERE id = ?";
    CHECK(sa_db_exec(st, &err, set_status, "ti", "done", run4) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 0);
    CHECK(sa_db_exec(st, &err, set_status, "ti", "cancelled", run4) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 0);
    CHECK(sa_db_exec(st, &err, set_status, "ti", "running", run4) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1 && job.run_id == run4);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_finish(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    const char *const two[] = {"c1", "c2"};
    int64_t run = make_run(st, &w, two, 2);
    int64_t *ids = NULL;
    size_t n = 0;
    sa_run_row r;
    CHECK(sa_store_run_latest_done(st, w.submission, &r, &err) == 0);
    CHECK(sa_store_run_finish(st, run, "{}", &err) == 0); /* two queued */
    CHECK(sa_store_runs_to_finish(st, &ids, &n, &err) == 0 && n == 0);
    sa_job_row a, b;
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    sa_case_result_row res = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_complete(st, &a, &res, &err) == 1);
    CHECK(sa_store_run_finish(st, run, "{}", &err) == 0); /* one running */
    CHECK(sa_store_runs_to_finish(st, &ids, &n, &err) == 0 && n == 0);
    CHECK(sa_store_job_complete(st, &b, &res, &err) == 1);
    CHECK(sa_store_runs_to_finish(st, &ids, &n, &err) == 0);
    CHECK(n == 1 && ids && ids[0] == run);
    free(ids);
    CHECK(sa_store_run_finish(st, run, "{\"dice\":0.8}", &err) == 1);
    CHECK(sa_store_run_finish(st, run, "{\"dice\":0.1}", &err) == 0);
    CHECK(sa_store_run_finish(st, 999, "{}", &err) == -1);
    CHECK(sa_store_runs_to_finish(st, &ids, &n, &err) == 0 && n == 0);
    CHECK(sa_store_run_get(st, run, &r, &err) == 1);
    CHECK(strcmp(r.status, "done") == 0 && r.finished >= r.started && r.started > 0);
    CHECK(r.aggregate_json && strcmp(r.aggregate_json, "{\"dice\":0.8}") == 0);
    sa_run_row_free(&r);
    CHECK(sa_store_run_latest_done(st, w.submission, &r, &err) == 1 && r.id == run);
    sa_run_row_free(&r);

    /* a rescore with no case left to do is finishable at once; the newest done wins */
    int64_t rescore = 0;
    CHECK(sa_store_run_create(st, w.submission, w.phase, "rescore", run, "{}", NULL, 0, &rescore, NULL,
                              &err) == 0);
    CHECK(sa_store_run_latest_done(st, w.submission, &r, &err) == 1 && r.id == run);
    sa_run_row_free(&r);
    CHECK(sa_store_runs_to_finish(st, &ids, &n, &err) == 0);
    CHECK(n == 1 && ids && ids[0] == rescore);
    free(ids);
    CHECK(sa_store_run_finish(st, rescore, "{\"dice\":0.7}", &err) == 1);
    CHECK(sa_store_run_latest_done(st, w.submission, &r, &err) == 1 && r.id == rescore);
    CHECK(strcmp(r.kind, "rescore") == 0 && r.parent_run_id == run);
    sa_run_row_free(&r);
    /* a later cancelled run does not count as done */
    int64_t cancelled = make_run(st, &w, two, 2);
    CHECK(sa_store_run_cancel(st, cancelled, &err) == 1);
    CHECK(sa_store_run_latest_done(st, w.submission, &r, &err) == 1 && r.id == rescore);
    sa_run_row_free(&r);
    CHECK(sa_store_run_latest_evaluation(st, w.submission, 1, &r, &err) == 1 && r.id == rescore);
    sa_run_row_free(&r); /* a done run without case results (this rescore) still counts */

    /* a later run whose every case ended with an engine_error is done, but is not an
     * evaluation: the rescore stays the submission's; one real failure among engine
     * errors makes it one */
    int64_t broken = make_run(st, &w, two, 2);
    sa_case_result_row engine = result_of("failed", "engine_error: platform error", 0, 1);
    sa_case_result_row ok_of_other = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    CHECK(sa_store_job_complete(st, &a, &engine, &err) == 1);
    CHECK(sa_store_job_complete(st, &b, &engine, &err) == 1);
    CHECK(sa_store_run_finish(st, broken, "{}", &err) == 1);
    CHECK(sa_store_run_latest_done(st, w.submission, &r, &err) == 1 && r.id == broken);
    sa_run_row_free(&r);
    CHECK(sa_store_run_latest_evaluation(st, w.submission, 1, &r, &err) == 1 && r.id == rescore);
    sa_run_row_free(&r);
    int64_t mixed = make_run(st, &w, two, 2);
    sa_case_result_row timeout = result_of("failed", "timeout", 600, 1);
    timeout.fov_diagonal_mm = 123.5; /* kept; 0 reads back as 0 (unknown) */
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    CHECK(sa_store_job_complete(st, &a, &engine, &err) == 1);
    CHECK(sa_store_job_complete(st, &b, &timeout, &err) == 1);
    CHECK(sa_store_run_finish(st, mixed, "{}", &err) == 1);
    /* it is an evaluation, but one with engine_error cases does not replace the
     * rescore, which has none */
    CHECK(sa_store_run_latest_evaluation(st, w.submission, 1, &r, &err) == 1 && r.id == rescore);
    sa_run_row_free(&r);
    /* of another submission without a clean evaluation it is the one taken */
    sa_submission_row other = submission_of(&w, "ready", "sha256:other", 0);
    world w2 = w;
    CHECK(sa_store_submission_add(st, &other, &w2.submission, &err) == 0);
    int64_t mixed2 = make_run(st, &w2, two, 2);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    CHECK(sa_store_job_complete(st, &a, &engine, &err) == 1);
    CHECK(sa_store_job_complete(st, &b, &ok_of_other, &err) == 1);
    CHECK(sa_store_run_finish(st, mixed2, "{}", &err) == 1);
    CHECK(sa_store_run_latest_evaluation(st, w2.submission, 1, &r, &err) == 1 && r.id == mixed2);
    sa_run_row_free(&r);
    sa_case_result_row kept;
    CHECK(sa_store_case_result_get(st, mixed, b.case_id, &kept, &err) == 1 && kept.fov_diagonal_mm == 123.5);
    sa_case_result_row_free(&kept);
    CHECK(sa_store_case_result_get(st, mixed, a.case_id, &kept, &err) == 1 && kept.fov_diagonal_mm == 0);
    sa_case_result_row_free(&kept);
    CHECK(sa_store_run_latest_evaluation(st, 999, 1, &r, &err) == 0);

    /* a rescore that scored nothing where its parent had scored a case (its stored
     * output unusable; the parent's timeout copied) is no evaluation either; a
     * rescore of a parent that had scored nothing is one, but one with an
     * engine_error case, so the clean run before it stays the submission's */
    int64_t good = make_run(st, &w, two, 2);
    sa_case_result_row ok = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    CHECK(sa_store_job_complete(st, &a, &ok, &err) == 1);
    CHECK(sa_store_job_complete(st, &b, &timeout, &err) == 1);
    CHECK(sa_store_run_finish(st, good, "{}", &err) == 1);
    for (int parent_scored = 1; parent_scored >= 0; parent_scored--) {
        int64_t parent = parent_scored ? good : mixed, lost = 0;
        CHECK(sa_store_run_create(st, w.submission, w.phase, "rescore", parent, "{}", two, 2, &lost, NULL,
                                  &err) == 0);
        sa_case_result_row unusable = result_of("failed", "engine_error: stored output unusable", 0, 1);
        CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
        CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
        CHECK(sa_store_job_complete(st, &a, parent_scored ? &unusable : &engine, &err) == 1);
        CHECK(sa_store_job_complete(st, &b, &timeout, &err) == 1);
        CHECK(sa_store_run_finish(st, lost, "{}", &err) == 1);
        CHECK(sa_store_run_latest_evaluation(st, w.submission, 1, &r, &err) == 1);
        CHECK(r.id == good);
        sa_run_row_free(&r);
    }
    /* without prefer_clean the newest counting run is taken, engine errors or not */
    CHECK(sa_store_run_latest_evaluation(st, w.submission, 0, &r, &err) == 1);
    CHECK(r.id != good && strcmp(r.kind, "rescore") == 0);
    sa_run_row_free(&r);

    /* a clean run whose every case failed (the contestant's timeouts) does not hide a
     * later one that scored a case beside an engine_error: it scored fewer */
    sa_submission_row third = submission_of(&w, "ready", "sha256:third", 0);
    world w3 = w;
    CHECK(sa_store_submission_add(st, &third, &w3.submission, &err) == 0);
    int64_t timed_out = make_run(st, &w3, two, 2);
    for (int k = 0; k < 2; k++) {
        CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
        CHECK(sa_store_job_complete(st, &a, &timeout, &err) == 1);
    }
    CHECK(sa_store_run_finish(st, timed_out, "{}", &err) == 1);
    int64_t partly = make_run(st, &w3, two, 2);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &a, &err) == 1);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &b, &err) == 1);
    CHECK(sa_store_job_complete(st, &a, &engine, &err) == 1);
    CHECK(sa_store_job_complete(st, &b, &ok, &err) == 1);
    CHECK(sa_store_run_finish(st, partly, "{}", &err) == 1);
    CHECK(sa_store_run_latest_evaluation(st, w3.submission, 1, &r, &err) == 1 && r.id == partly);
    sa_run_row_free(&r);
    sa_store_close(st);
    scratch_remove(&s);
}

static void test_progress_and_failure_classes(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    const char *const six[] = {"c1", "c2", "c3", "c4", "c5", "c6"};
    int64_t run1 = make_run(st, &w, six, 6);
    int64_t run2 = make_run(st, &w, three_cases, 3);
    sa_run_progress p;
    CHECK(sa_store_run_progress(st, run1, &p, &err) == 0);
    CHECK(p.total == 6 && p.queued == 6 && p.done == 0 && p.queue_position == 0 && p.runs_ahead == 0);
    CHECK(p.mean_case_seconds == 0 && p.succeeded == 0);
    CHECK(sa_store_run_progress(st, run2, &p, &err) == 0);
    CHECK(p.queue_position == 6 && p.runs_ahead == 1);

    sa_case_result_row results[5] = {
        result_of("succeeded", "succeeded", 10, 2),
        result_of("failed", "timeout", 600, 4),
        result_of("failed", "engine_error: podman exited 125", 0, 2),
        result_of("failed", "timeout", 600, 4),
        result_of("failed", "exit_code 3", 5, 1),
    };
    for (int i = 0; i < 5; i++) {
        sa_job_row job;
        CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
        CHECK(sa_store_job_complete(st, &job, &results[i], &err) == 1);
    }
    sa_job_row running;
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &running, &err) == 1);
    CHECK(sa_store_run_progress(st, run1, &p, &err) == 0);
    CHECK(p.total == 6 && p.queued == 0 && p.running == 1 && p.done == 5 && p.cancelled == 0);
    CHECK(p.succeeded == 1 && p.failed == 4 && p.engine_errors == 1);
    CHECK_NEAR(p.mean_case_seconds, (12.0 + 604 + 2 + 604 + 6) / 5, 1e-9);
    CHECK(sa_store_run_progress(st, run2, &p, &err) == 0);
    /* run1's cases all started: no queued case ahead, but run1 is still ahead
     * as a whole (runs_ahead moves only when a run ends, never per case) */
    CHECK(p.queue_position == 0 && p.queued == 3 && p.runs_ahead == 1);
    CHECK(sa_store_run_progress(st, 999, &p, &err) == -1);

    char **classes = NULL;
    int64_t *counts = NULL;
    size_t n = 0;
    CHECK(sa_store_run_failure_classes(st, run1, &classes, &counts, &n, &err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(classes[0], "timeout") == 0 && counts[0] == 2);
        CHECK(strcmp(classes[1], "engine_error: podman exited 125") == 0 && counts[1] == 1);
        CHECK(strcmp(classes[2], "exit_code 3") == 0 && counts[2] == 1);
    }
    sa_class_counts_free(classes, counts, n);
    CHECK(sa_store_run_failure_classes(st, run2, &classes, &counts, &n, &err) == 0);
    CHECK(n == 0 && classes == NULL && counts == NULL);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- human reference ---- */

static void test_human_reference(void) {
    scratch s;
    scratch_make(&s);
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s.data, 1, &st, &err) == 0);
    if (!st) return;
    char *json = (char *)"untouched";
    CHECK(sa_store_human_ref_get(st, "h1", "c1", &json, &err) == 0);
    CHECK(json == NULL);
    CHECK(sa_store_human_ref_put(st, "h1", "c2", "{\"r\":2}", &err) == 0);
    CHECK(sa_store_human_ref_put(st, "h1", "c1", "{\"r\":1}", &err) == 0);
    CHECK(sa_store_human_ref_put(st, "h1", "c1", "{\"r\":\"second\"}", &err) == 0);
    CHECK(sa_store_human_ref_put(st, "h2", "c1", "{\"other\":1}", &err) == 0);
    CHECK(sa_store_human_ref_get(st, "h1", "c1", &json, &err) == 1);
    CHECK(json && strcmp(json, "{\"r\":1}") == 0); /* first one wins */
    free(json);
    char **cases = NULL, **jsons = NULL;
    size_t n = 0;
    CHECK(sa_store_human_ref_list(st, "h1", &cases, &jsons, &n, &err) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(strcmp(cases[0], "c1") == 0 && strcmp(cases[1], "c2") == 0);
        CHECK(strcmp(jsons[1], "{\"r\":2}") == 0);
    }
    sa_strings_free(cases, n);
    sa_strings_free(jsons, n);
    CHECK(sa_store_human_ref_list(st, "none", &cases, &jsons, &n, &err) == 0);
    CHECK(n == 0 && cases == NULL && jsons == NULL);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- transactions ---- */

static void test_transactions(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    sa_team_row t;
    CHECK(sa_store_begin(st, &err) == 0);
    CHECK(sa_store_begin(st, &err) == -1);
    CHECK(sa_store_team_add(st, "ghost", NULL, &err) == 0);
    sa_store_rollback(st);
    CHECK(sa_store_team_get(st, "ghost", &t, &err) == 0);
    CHECK(sa_store_begin(st, &err) == 0);
    CHECK(sa_store_team_add(st, "real", NULL, &err) == 0);
    CHECK(sa_store_commit(st, &err) == 0);
    CHECK(sa_store_team_get(st, "real", &t, &err) == 1);

    /* the self-contained ones refuse to nest; the others join the caller's */
    int64_t run = make_run(st, &w, three_cases, 3);
    sa_job_row job;
    CHECK(sa_store_begin(st, &err) == 0);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "inside a transaction");
    CHECK(sa_store_run_create(st, w.submission, w.phase, "evaluate", 0, "{}", three_cases, 3, NULL, NULL,
                              &err) == -1);
    CHECK(sa_store_run_cancel(st, run, &err) == 1);
    sa_store_rollback(st);
    sa_run_row r;
    CHECK(sa_store_run_get(st, run, &r, &err) == 1 && strcmp(r.status, "queued") == 0);
    sa_run_row_free(&r);
    CHECK(sa_store_job_claim(st, "w1", 60, NULL, NULL, &job, &err) == 1);
    CHECK(sa_store_begin(st, &err) == 0);
    sa_case_result_row res = result_of("succeeded", "succeeded", 1, 1);
    CHECK(sa_store_job_complete(st, &job, &res, &err) == -1);
    CHECK(sa_store_run_cancel(st, run, &err) == 1);
    CHECK(sa_store_commit(st, &err) == 0);
    CHECK(sa_store_run_get(st, run, &r, &err) == 1 && strcmp(r.status, "cancelled") == 0);
    sa_run_row_free(&r);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- kept statements and the results version ---- */

static const char kept_sql[] = "SELECT name FROM teams WHERE id = ?";

static void test_statement_cache(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    sqlite3_stmt *a = sa_db_prepare_cached(st, &err, kept_sql, "i", w.team);
    CHECK(a != NULL);
    /* in use: a nested call gets its own copy, finalized when finished */
    sqlite3_stmt *b = sa_db_prepare_cached(st, &err, kept_sql, "i", w.team);
    CHECK(b != NULL && b != a);
    CHECK(sa_db_step(st, a, &err) == 1 && sa_db_step(st, b, &err) == 1);
    sa_db_finish(st, b);
    CHECK(sqlite3_stmt_busy(a)); /* still stepping */
    sa_db_finish(st, a);
    CHECK(!sqlite3_stmt_busy(a)); /* reset: no read transaction left open */
    sqlite3_stmt *c = sa_db_prepare_cached(st, &err, kept_sql, "i", (int64_t)999);
    CHECK(c == a);                                  /* kept, and bound afresh */
    CHECK(sa_db_step(st, c, &err) == 0);
    sa_db_finish(st, c);
    /* a bad parameter type gives the statement back */
    CHECK(sa_db_prepare_cached(st, &err, kept_sql, "x", 1) == NULL);
    CHECK_STR_CONTAINS(err.msg, "bad parameter type");
    CHECK(sa_db_prepare_cached(st, &err, kept_sql, "i", w.team) == a);
    sa_db_finish(st, a);
    /* bad SQL: an error, nothing kept */
    static const char bad_sql[] = "SELECT x FROM nowhere";
    CHECK(sa_db_prepare_cached(st, &err, bad_sql, NULL) == NULL);
    CHECK_STR_CONTAINS(err.msg, "nowhere");

    /* kept look-ups see what another handle wrote since */
    sa_store *other = NULL;
    CHECK(sa_store_open(s.data, 0, &other, &err) == 0);
    sa_phase_row p;
    CHECK(sa_store_phase_get(st, "ms2024", "final", &p, &err) == 1 && p.published == 0);
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_set_published(other, w.phase, 1, &err) == 0);
    CHECK(sa_store_phase_get(st, "ms2024", "final", &p, &err) == 1 && p.published == 1);
    sa_phase_row_free(&p);
    CHECK(sa_store_phase_get_by_id(st, w.phase, &p, &err) == 1 && p.published == 1);
    sa_phase_row_free(&p);
    /* and a handle with kept statements does not keep the other from checkpointing */
    CHECK(sqlite3_wal_checkpoint_v2(sa_store_db(other), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                    NULL) == SQLITE_OK);
    sa_store_close(other);
    sa_store_close(st);
    scratch_remove(&s);
}

static int64_t version_of(sa_store *st, int64_t phase) {
    int64_t v = -1;
    sa_error err = {{0}};
    if (sa_store_results_version(st, phase, &v, &err)) {
        fprintf(stderr, "results version: %s\n", err.msg);
        return -1;
    }
    return v;
}

/* A child process publishes the phase of the world (its id is 1). */
static void publish_in_child(const scratch *s) {
    sa_store *st = NULL;
    sa_error err = {{0}};
    CHECK(sa_store_open(s->data, 0, &st, &err) == 0);
    if (st) CHECK(sa_store_phase_set_published(st, 1, 0, &err) == 0);
    if (err.msg[0]) fprintf(stderr, "publish_in_child: %s\n", err.msg);
    sa_store_close(st);
}

static void test_results_version(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err = {{0}};
    sa_store *other = NULL;
    CHECK(sa_store_open(s.data, 0, &other, &err) == 0);
    int64_t v0 = version_of(st, w.phase);
    CHECK(v0 >= 0 && version_of(st, w.phase) == v0); /* remembered */
    CHECK(version_of(other, w.phase) == v0);
    int64_t missing;
    CHECK(sa_store_results_version(st, 999, &missing, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "not found");

    /* another handle's commit */
    CHECK(sa_store_phase_set_published(other, w.phase, 1, &err) == 0);
    int64_t v1 = version_of(st, w.phase);
    CHECK(v1 != v0 && version_of(st, w.phase) == v1);
    /* this handle's own change */
    CHECK(sa_store_phase_set_published(st, w.phase, 0, &err) == 0);
    int64_t v2 = version_of(st, w.phase);
    CHECK(v2 != v1 && version_of(other, w.phase) == v2);
    /* another process */
    CHECK(sa_store_phase_set_published(st, w.phase, 1, &err) == 0);
    int64_t v3 = version_of(st, w.phase);
    CHECK(in_child(publish_in_child, &s) == 0);
    int64_t v4 = version_of(st, w.phase);
    CHECK(v4 != v3);

    /* inside a transaction: the uncommitted version, forgotten on rollback */
    CHECK(sa_store_begin(st, &err) == 0);
    CHECK(sa_store_phase_set_published(st, w.phase, 1, &err) == 0);
    int64_t inside = version_of(st, w.phase);
    CHECK(inside != v4);
    sa_store_rollback(st);
    CHECK(version_of(st, w.phase) == v4);

    /* results stored while a run is in progress leave it; the run done changes it */
    int64_t run = make_run(st, &w, three_cases, 3);
    int64_t v5 = version_of(st, w.phase);
    sa_job_row job;
    sa_case_result_row res = result_of("succeeded", "succeeded", 1, 1);
    for (int i = 0; i < 3; i++) {
        CHECK(sa_store_job_claim(other, "w1", 60, NULL, NULL, &job, &err) == 1);
        CHECK(sa_store_job_complete(other, &job, &res, &err) == 1);
    }
    CHECK(version_of(st, w.phase) == v5);
    CHECK(sa_store_run_finish(other, run, "{}", &err) == 1);
    int64_t v6 = version_of(st, w.phase);
    CHECK(v6 != v5);

    /* selections: two teams changing their choice by opposite id steps between two
     * reads (their ids' sum unchanged) still change it */
    int64_t t2 = 0, ids[4] = {0};
    CHECK(sa_store_team_add(st, "second-team", &t2, &err) == 0);
    for (int i = 0; i < 4; i++) {
        char digest[80];
        snprintf(digest, sizeof digest, "sha256:%064d", 100 + i);
        sa_submission_row sub = submission_of(&w, "ready", digest, 2000.0 + i);
        sub.team_id = i < 2 ? w.team : t2; /* ids[0], ids[1]: the world's team; ids[2], ids[3]: the second */
        CHECK(sa_store_submission_add(st, &sub, &ids[i], &err) == 0);
    }
    CHECK(sa_store_submission_select(st, ids[0], &err) == 0 && sa_store_submission_select(st, ids[3], &err) == 0);
    int64_t before = version_of(st, w.phase);
    /* ids ascend by one: ids[0] -> ids[1] is +1, ids[3] -> ids[2] is -1 */
    CHECK(ids[1] == ids[0] + 1 && ids[3] == ids[2] + 1);
    CHECK(sa_store_begin(st, &err) == 0);
    CHECK(sa_store_submission_select(st, ids[1], &err) == 0 && sa_store_submission_select(st, ids[2], &err) == 0);
    CHECK(sa_store_commit(st, &err) == 0);
    CHECK(version_of(st, w.phase) != before);

    /* the phase's dataset recorded again (another phase created on it, perhaps with
     * a new checksum, which every entry's scoring hash holds) */
    before = version_of(st, w.phase);
    usleep(2000); /* recorded times in microseconds */
    int64_t same_dataset = 0;
    CHECK(sa_store_dataset_record(st, "ms-test", "e3b0", "ms", 3, &same_dataset, &err) == 0);
    CHECK(same_dataset == w.dataset);
    CHECK(version_of(st, w.phase) != before);
    sa_store_close(other);
    sa_store_close(st);
    scratch_remove(&s);
}

int main(void) {
    umask(022);
    test_open_create_and_reopen();
    test_open_missing();
    test_open_bad_places();
    test_open_newer_schema();
    test_open_read_only_dir();
    test_disk_full();
    test_migration_1_to_2();
    test_migration_2_to_3();
    test_migration_3_to_4();
    test_migration_4_to_5();
    test_migration_failure_rolls_back();
    test_users_and_teams();
    test_challenges_and_datasets();
    test_phases();
    test_submissions();
    test_quota();
    test_run_create_and_claim_order();
    test_complete_once();
    test_lease_expiry();
    test_release_until();
    test_owner_dead();
    test_cancel();
    test_finish();
    test_progress_and_failure_classes();
    test_human_reference();
    test_transactions();
    test_statement_cache();
    test_results_version();
    return test_report("test_store");
}
