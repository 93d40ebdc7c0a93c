/*
 * results.c: reading case results back (they are written only by job completion
 * in jobs.c, under the lease), and the human-reference results: each rater
 * against the consensus of the others, computed once per dataset and scoring
 * configuration and kept by a hash of the two.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define CASE_RESULT_COLUMNS                                                                 \
    "SELECT run_id, case_id, status, error_class, container_seconds, platform_seconds, "    \
    "peak_memory_bytes, exit_code, result_json, detail, output_path, log_path, "            \
    "metric_version, dataset_checksum, image_digest, attempts, finished, "                  \
    "coalesce(fov_diagonal_mm, 0) FROM case_results "

static int read_case_result(sqlite3_stmt *stmt, void *row) {
    sa_case_result_row *r = row;
    r->run_id = sqlite3_column_int64(stmt, 0);
    sa_db_text(stmt, 1, r->case_id, sizeof r->case_id);
    sa_db_text(stmt, 2, r->status, sizeof r->status);
    sa_db_text(stmt, 3, r->error_class, sizeof r->error_class);
    r->container_seconds = sqlite3_column_double(stmt, 4);
    r->platform_seconds = sqlite3_column_double(stmt, 5);
    r->peak_memory_bytes = sqlite3_column_int64(stmt, 6);
    r->exit_code = sqlite3_column_int(stmt, 7);
    r->metric_version = sqlite3_column_int(stmt, 12);
    sa_db_text(stmt, 13, r->dataset_checksum, sizeof r->dataset_checksum);
    sa_db_text(stmt, 14, r->image_digest, sizeof r->image_digest);
    r->attempts = sqlite3_column_int64(stmt, 15);
    r->finished = sqlite3_column_double(stmt, 16);
    r->fov_diagonal_mm = sqlite3_column_double(stmt, 17);
    return sa_db_dup(stmt, 8, &r->result_json) | sa_db_dup(stmt, 9, &r->detail) |
           sa_db_dup(stmt, 10, &r->output_path) | sa_db_dup(stmt, 11, &r->log_path);
}

static void free_case_result(void *row) {
    sa_case_result_row_free(row);
}

static const sa_db_row_type case_result_type = {sizeof(sa_case_result_row), read_case_result,
                                                free_case_result};

int sa_store_case_results(sa_store *st, int64_t run_id, sa_case_result_row **rows, size_t *n,
                          sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, CASE_RESULT_COLUMNS "WHERE run_id = ? ORDER BY case_id", "i", run_id);
    return sa_db_collect(st, stmt, &case_result_type, (void **)rows, n, err);
}

int sa_store_case_result_get(sa_store *st, int64_t run_id, const char *case_id,
                             sa_case_result_row *out, sa_error *err) {
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, CASE_RESULT_COLUMNS "WHERE run_id = ? AND case_id = ?", "it", run_id, case_id);
    return sa_db_fetch_one(st, stmt, &case_result_type, out, err);
}

void sa_case_result_row_free(sa_case_result_row *row) {
    if (!row) return;
    free(row->result_json);
    free(row->detail);
    free(row->output_path);
    free(row->log_path);
    row->result_json = row->detail = row->output_path = row->log_path = NULL;
}

void sa_case_result_rows_free(sa_case_result_row *rows, size_t n) {
    sa_db_rows_free(&case_result_type, rows, n);
}

/* ---- human reference ---- */

int sa_store_human_ref_get(sa_store *st, const char *config_hash, const char *case_id,
                           char **json, sa_error *err) {
    *json = NULL;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err, "SELECT result_json FROM human_reference WHERE config_hash = ? AND case_id = ?",
        "tt", config_hash, case_id);
    if (!stmt) return -1;
    int rc = sa_db_step(st, stmt, err);
    if (rc == 1 && sa_db_dup(stmt, 0, json))
        rc = sa_error_set(err, "%s: out of memory", st->db_path);
    sqlite3_finalize(stmt);
    return rc < 0 ? -1 : rc;
}

int sa_store_human_ref_put(sa_store *st, const char *config_hash, const char *case_id,
                           const char *json, sa_error *err) {
    if (!config_hash || !case_id || !json)
        return sa_error_set(err, "human reference: configuration hash, case or result missing");
    int rc = sa_db_exec(st, err,
                        "INSERT INTO human_reference (config_hash, case_id, result_json, created) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        "tttd", config_hash, case_id, json, sa_store_now());
    return rc < 0 ? -1 : 0;
}

typedef struct case_json {
    char *case_id, *json;
} case_json;

static int read_case_json(sqlite3_stmt *stmt, void *row) {
    case_json *c = row;
    return sa_db_dup(stmt, 0, &c->case_id) | sa_db_dup(stmt, 1, &c->json);
}

static void free_case_json(void *row) {
    case_json *c = row;
    free(c->case_id);
    free(c->json);
}

static const sa_db_row_type case_json_type = {sizeof(case_json), read_case_json, free_case_json};

int sa_store_human_ref_list(sa_store *st, const char *config_hash, char ***case_ids,
                            char ***jsons, size_t *n, sa_error *err) {
    *case_ids = *jsons = NULL;
    *n = 0;
    case_json *rows;
    size_t n_rows;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT case_id, result_json FROM human_reference WHERE config_hash = ? ORDER BY case_id",
        "t", config_hash);
    if (sa_db_collect(st, stmt, &case_json_type, (void **)&rows, &n_rows, err)) return -1;
    if (n_rows == 0) return 0;
    char **ids = malloc(n_rows * sizeof *ids);
    char **texts = malloc(n_rows * sizeof *texts);
    if (!ids || !texts) {
        free(ids);
        free(texts);
        sa_db_rows_free(&case_json_type, rows, n_rows);
        return sa_error_set(err, "%s: out of memory", st->db_path);
    }
    for (size_t i = 0; i < n_rows; i++) { /* ownership moves to the caller's arrays */
        ids[i] = rows[i].case_id;
        texts[i] = rows[i].json;
    }
    free(rows);
    *case_ids = ids;
    *jsons = texts;
    *n = n_rows;
    return 0;
}

/* ---- the field-of-view diagonal of a phase's cases ---- */

typedef struct case_fov {
    char *case_id;
    double fov;
} case_fov;

static int read_case_fov(sqlite3_stmt *stmt, void *row) {
    case_fov *c = row;
    c->fov = sqlite3_column_double(stmt, 1);
    return sa_db_dup(stmt, 0, &c->case_id);
}

static void free_case_fov(void *row) {
    free(((case_fov *)row)->case_id);
}

static const sa_db_row_type case_fov_type = {sizeof(case_fov), read_case_fov, free_case_fov};

/* Sources in order (src): 0 a result of any run of the phase (a scored one
 * stamped with the scoring hash: the column, else its JSON's case; a failed one
 * of the dataset checksum: the column it recorded), 1 the human reference of the
 * scoring hash. The bare fov of a min() aggregate is that of a row with the
 * least src (SQLite's rule). */
int sa_store_phase_case_fov(sa_store *st, int64_t phase_id, const char *scoring_hash,
                            const char *dataset_checksum, char ***case_ids, double **fov, size_t *n,
                            sa_error *err) {
    *case_ids = NULL;
    *fov = NULL;
    *n = 0;
    case_fov *rows;
    size_t n_rows;
    sqlite3_stmt *stmt = sa_db_prepare(
        st, err,
        "SELECT case_id, fov, min(src) FROM ("
        "  SELECT r.case_id AS case_id, 0 AS src,"
        "    CASE WHEN r.status = 'failed' THEN r.fov_diagonal_mm"
        "      WHEN coalesce(r.fov_diagonal_mm, 0) > 0 THEN r.fov_diagonal_mm"
        "      WHEN json_valid(r.result_json) THEN json_extract(r.result_json, '$.case.fov_diagonal_mm')"
        "    END AS fov"
        "  FROM case_results r JOIN runs u ON u.id = r.run_id"
        "  WHERE u.phase_id = ?1 AND CASE"
        "    WHEN r.status = 'failed' THEN r.dataset_checksum = ?3"
        "    WHEN json_valid(r.result_json) THEN json_extract(r.result_json, '$.stamp.scoring_hash') = ?2"
        "    ELSE 0 END"
        "  UNION ALL"
        "  SELECT case_id, 1,"
        "    CASE WHEN json_valid(result_json) THEN json_extract(result_json, '$.case.fov_diagonal_mm') END"
        "  FROM human_reference WHERE config_hash = ?2)"
        " WHERE typeof(fov) IN ('real', 'integer') AND fov > 0"
        " GROUP BY case_id ORDER BY case_id",
        "itt", phase_id, scoring_hash, dataset_checksum);
    if (sa_db_collect(st, stmt, &case_fov_type, (void **)&rows, &n_rows, err)) return -1;
    if (n_rows == 0) return 0;
    char **ids = malloc(n_rows * sizeof *ids);
    double *values = malloc(n_rows * sizeof *values);
    if (!ids || !values) {
        free(ids);
        free(values);
        sa_db_rows_free(&case_fov_type, rows, n_rows);
        return sa_error_set(err, "%s: out of memory", st->db_path);
    }
    for (size_t i = 0; i < n_rows; i++) { /* ownership moves to the caller's arrays */
        ids[i] = rows[i].case_id;
        values[i] = rows[i].fov;
    }
    free(rows);
    *case_ids = ids;
    *fov = values;
    *n = n_rows;
    return 0;
}

void sa_strings_free(char **strings, size_t n) {
    if (!strings) return;
    for (size_t i = 0; i < n; i++) free(strings[i]);
    free(strings);
}
