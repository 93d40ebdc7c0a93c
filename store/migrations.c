/*
 * migrations.c: the schema, as a list of steps from one PRAGMA user_version to
 * the next. Each step runs in one IMMEDIATE transaction together with its
 * user_version bump, so a database is always at exactly one version: a failed
 * step (disk full, a clashing table) leaves it where it was. Steps are never
 * edited once released; a change to the schema is a new step.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_internal.h"

/* Version 1: the platform's tables, the instance tag in meta. */
static const char schema_v1[] =
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);"
    "INSERT INTO meta (key, value) VALUES ('instance', lower(hex(randomblob(4))));"

    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('organiser', 'challenger')),"
    "  password_hash TEXT,"
    "  created REAL NOT NULL);"

    "CREATE TABLE teams ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created REAL NOT NULL);"

    "CREATE TABLE team_members ("
    "  team_id INTEGER NOT NULL REFERENCES teams (id),"
    "  user_id INTEGER NOT NULL REFERENCES users (id),"
    "  PRIMARY KEY (team_id, user_id));"
    "CREATE INDEX team_members_user ON team_members (user_id);"

    "CREATE TABLE challenges ("
    "  id INTEGER PRIMARY KEY,"
    "  slug TEXT NOT NULL UNIQUE,"
    "  title TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  created REAL NOT NULL);"

    "CREATE TABLE datasets ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  checksum TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  n_cases INTEGER NOT NULL CHECK (n_cases >= 0),"
    "  recorded REAL NOT NULL);"

    "CREATE TABLE phases ("
    "  id INTEGER PRIMARY KEY,"
    "  challenge_id INTEGER NOT NULL REFERENCES challenges (id),"
    "  dataset_id INTEGER NOT NULL REFERENCES datasets (id),"
    "  name TEXT NOT NULL,"
    "  spec_json TEXT NOT NULL,"
    "  published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),"
    "  created REAL NOT NULL,"
    "  updated REAL NOT NULL,"
    "  UNIQUE (challenge_id, name));"

    "CREATE TABLE submissions ("
    "  id INTEGER PRIMARY KEY,"
    "  phase_id INTEGER NOT NULL REFERENCES phases (id),"
    "  team_id INTEGER NOT NULL REFERENCES teams (id),"
    "  user_id INTEGER REFERENCES users (id)," /* NULL: from the command line */
    "  status TEXT NOT NULL CHECK (status IN ('ready', 'invalid')),"
    "  intake_reason TEXT,"
    "  image_digest TEXT NOT NULL,"
    "  image_name TEXT NOT NULL,"
    "  upload_sha256 TEXT NOT NULL,"
    "  upload_bytes INTEGER NOT NULL,"
    "  selected INTEGER NOT NULL DEFAULT 0 CHECK (selected IN (0, 1)),"
    "  created REAL NOT NULL);"
    /* the same image twice in a phase is one submission; refusals never clash */
    "CREATE UNIQUE INDEX submissions_ready_image ON submissions (phase_id, image_digest)"
    "  WHERE status = 'ready';"
    "CREATE INDEX submissions_phase_team ON submissions (phase_id, team_id, created);"

    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  submission_id INTEGER NOT NULL REFERENCES submissions (id),"
    "  phase_id INTEGER NOT NULL REFERENCES phases (id),"
    "  parent_run_id INTEGER REFERENCES runs (id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('evaluate', 'rerun', 'rescore')),"
    "  status TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK (status IN ('queued', 'running', 'done', 'cancelled')),"
    "  config_json TEXT NOT NULL,"
    "  aggregate_json TEXT,"
    "  created REAL NOT NULL,"
    "  started REAL NOT NULL DEFAULT 0,"
    "  finished REAL NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_submission ON runs (submission_id, status);"
    "CREATE INDEX runs_phase ON runs (phase_id);"
    "CREATE INDEX runs_status ON runs (status);"

    /* attempts counts the claims; the current one is the lease token */
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL REFERENCES runs (id),"
    "  case_id TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK (status IN ('queued', 'running', 'done', 'cancelled')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  lease_owner TEXT NOT NULL DEFAULT '',"
    "  lease_expires REAL NOT NULL DEFAULT 0,"
    "  finished REAL NOT NULL DEFAULT 0,"
    "  UNIQUE (run_id, case_id));"
    "CREATE INDEX jobs_claim ON jobs (status, run_id, id);"

    "CREATE TABLE case_results ("
    "  run_id INTEGER NOT NULL REFERENCES runs (id),"
    "  case_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),"
    "  error_class TEXT NOT NULL,"
    "  container_seconds REAL NOT NULL,"
    "  platform_seconds REAL NOT NULL,"
    "  peak_memory_bytes INTEGER NOT NULL,"
    "  exit_code INTEGER NOT NULL,"
    "  result_json TEXT,"
    "  detail TEXT,"
    "  output_path TEXT,"
    "  log_path TEXT,"
    "  metric_version INTEGER NOT NULL,"
    "  dataset_checksum TEXT NOT NULL,"
    "  image_digest TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  finished REAL NOT NULL,"
    "  PRIMARY KEY (run_id, case_id));"

    "PRAGMA user_version = 1;";

/* Version 2: quota exemption for submissions lost to a platform fault, and the
 * human-reference results (raters against each other), computed once per dataset
 * and scoring configuration. */
static const char schema_v2[] =
    "ALTER TABLE submissions ADD COLUMN quota_exempt INTEGER NOT NULL DEFAULT 0"
    "  CHECK (quota_exempt IN (0, 1));"

    "CREATE TABLE human_reference ("
    "  config_hash TEXT NOT NULL,"
    "  case_id TEXT NOT NULL,"
    "  result_json TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  PRIMARY KEY (config_hash, case_id));"

    "PRAGMA user_version = 2;";

/* Version 3: accounts for the web layer. API tokens and browser sessions are
 * stored as the sha256 of the secret the client holds (never the secret);
 * failed logins are kept for rate limiting (and pruned as they age). */
static const char schema_v3[] =
    "CREATE TABLE api_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id),"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  label TEXT NOT NULL DEFAULT '',"
    "  created REAL NOT NULL,"
    "  last_used REAL NOT NULL DEFAULT 0,"
    "  revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)));"
    "CREATE INDEX api_tokens_user ON api_tokens (user_id);"

    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users (id),"
    "  session_hash TEXT NOT NULL UNIQUE,"
    "  csrf TEXT NOT NULL,"
    "  created REAL NOT NULL,"
    "  expires REAL NOT NULL);"
    "CREATE INDEX sessions_user ON sessions (user_id);"
    "CREATE INDEX sessions_expires ON sessions (expires);"

    "CREATE TABLE login_attempts ("
    "  key TEXT NOT NULL,"
    "  at REAL NOT NULL);"
    "CREATE INDEX login_attempts_key_at ON login_attempts (key, at);"

    "PRAGMA user_version = 3;";

/* Version 4: each case result keeps its case's field-of-view diagonal (from the
 * dataset's geometry), so that a failed case's distance penalty is its own case's,
 * whoever else scored that case (NULL in results stored before: unknown). */
static const char schema_v4[] =
    "ALTER TABLE case_results ADD COLUMN fov_diagonal_mm REAL;"

    "PRAGMA user_version = 4;";

/* Version 5: each ready submission keeps the numeric "uid:gid" its intake resolved,
 * which every run passes to the engine as --user (the engine never resolves the
 * image's USER name itself: its /etc/passwd reader is not SegArena's). '' for refused
 * submissions and for those stored before (they do not run: submit them again). */
static const char schema_v5[] =
    "ALTER TABLE submissions ADD COLUMN run_user TEXT NOT NULL DEFAULT '';"

    "PRAGMA user_version = 5;";

/* steps[v - 1] takes a database from version v - 1 to v */
static const char *const steps[] = {schema_v1, schema_v2, schema_v3, schema_v4, schema_v5};

_Static_assert(sizeof steps / sizeof steps[0] == SA_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

int sa_db_read_user_version(sa_store *st, int *version, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(st, err, "PRAGMA user_version", NULL);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1) *version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == 1 ? 0 : -1;
}

/* One step in one transaction. The version is read again after BEGIN IMMEDIATE
 * so that two processes opening the same database never both run a step. */
static int run_step(sa_store *st, int to_version, sa_error *err) {
    if (sa_store_begin(st, err)) return -1;
    int version = 0;
    if (sa_db_read_user_version(st, &version, err)) {
        sa_store_rollback(st);
        return -1;
    }
    if (version >= to_version) {
        sa_store_rollback(st);
        return 0;
    }
    char *message = NULL;
    if (sqlite3_exec(st->db, steps[to_version - 1], NULL, NULL, &message) != SQLITE_OK) {
        sa_error_set(err, "%s: migration to schema version %d failed: %s", st->db_path,
                     to_version, message ? message : sqlite3_errmsg(st->db));
        sqlite3_free(message);
        sa_store_rollback(st);
        return -1;
    }
    return sa_store_commit(st, err);
}

int sa_store_migrate(sa_store *st, int target, sa_error *err) {
    int version = 0;
    if (sa_db_read_user_version(st, &version, err)) return -1;
    if (version > SA_STORE_SCHEMA_VERSION)
        return sa_error_set(err, "%s: schema version %d is newer than this build of SegArena "
                                 "understands (%d); use a newer segarena", st->db_path, version,
                            SA_STORE_SCHEMA_VERSION);
    if (version < 0)
        return sa_error_set(err, "%s: invalid schema version %d", st->db_path, version);
    for (int v = version + 1; v <= target; v++)
        if (run_step(st, v, err)) return -1;
    return 0;
}
