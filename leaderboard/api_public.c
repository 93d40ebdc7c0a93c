/*
 * api_public.c: what the API shows without an account and the organiser's
 * switch that makes a phase public: health (its counts and the Prometheus
 * metrics for organisers only), challenges and
 * their phases (unpublished ones only to organisers), a phase's leaderboard
 * (published only, else 404; per-case values only with EXPORT_BOARD), publish
 * and unpublish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

/* Everyone: {"status": "ok"}; organisers also the schema version and the
 * job and run counts (SA_ACT_READ_SERVER_STATUS: they move as each case of a
 * hidden phase's run starts and ends). */
int sa_api_health(sa_web_call *call) {
    if (!sa_web_allowed(&call->who, SA_ACT_READ_SERVER_STATUS, NULL))
        return sa_web_send_json(call->res, 200, json_pack("{s:s}", "status", "ok"));
    sa_error err = {{0}};
    sa_status_counts n;
    if (sa_store_status_counts(call->st, &n, &err)) return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 200,
                            json_pack("{s:s,s:i,s:I,s:I,s:I,s:I}", "status", "ok",
                                      "schema_version", sa_store_schema_version(call->st),
                                      "queued_jobs", (json_int_t)n.jobs_queued, "running_jobs",
                                      (json_int_t)n.jobs_running, "queued_runs",
                                      (json_int_t)n.runs_queued, "running_runs",
                                      (json_int_t)n.runs_running));
}

/* Organisers only (a Prometheus scraper sends an organiser's API token): the
 * job counts by status would tell a hidden case's time to anyone polling. */
int sa_api_metrics(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_READ_SERVER_STATUS, NULL)) return 0;
    sa_error err = {{0}};
    sa_status_counts n;
    if (sa_store_status_counts(call->st, &n, &err)) return sa_web_internal_error(call, &err);
    sa_strbuf b = {0};
    sa_strbuf_append(&b, "# HELP segarena_http_requests_total HTTP requests answered, by status "
                         "code.\n# TYPE segarena_http_requests_total counter\n");
    const sa_web_stats *s = call->ctx->stats;
    for (int code = 100; code < 600; code++) {
        uint64_t v = __atomic_load_n(&s->by_status[code], __ATOMIC_RELAXED);
        if (v) sa_strbuf_appendf(&b, "segarena_http_requests_total{code=\"%d\"} %llu\n", code,
                                 (unsigned long long)v);
    }
    const struct {
        const char *name;
        int64_t value;
    } jobs[] = {{"queued", n.jobs_queued}, {"running", n.jobs_running}, {"done", n.jobs_done},
                {"cancelled", n.jobs_cancelled}},
      runs[] = {{"queued", n.runs_queued}, {"running", n.runs_running}, {"done", n.runs_done},
                {"cancelled", n.runs_cancelled}};
    sa_strbuf_append(&b, "# HELP segarena_jobs Jobs (one case of a run) by status.\n"
                         "# TYPE segarena_jobs gauge\n");
    for (size_t i = 0; i < 4; i++)
        sa_strbuf_appendf(&b, "segarena_jobs{status=\"%s\"} %lld\n", jobs[i].name,
                          (long long)jobs[i].value);
    sa_strbuf_append(&b, "# HELP segarena_runs Evaluation runs by status.\n"
                         "# TYPE segarena_runs gauge\n");
    for (size_t i = 0; i < 4; i++)
        sa_strbuf_appendf(&b, "segarena_runs{status=\"%s\"} %lld\n", runs[i].name,
                          (long long)runs[i].value);
    double now = sa_store_now();
    sa_strbuf_appendf(&b,
                      "# HELP segarena_submissions_total Submissions recorded (ready or refused "
                      "at intake).\n# TYPE segarena_submissions_total counter\n"
                      "segarena_submissions_total %lld\n"
                      "# HELP process_start_time_seconds Start time of the server, Unix seconds.\n"
                      "# TYPE process_start_time_seconds gauge\n"
                      "process_start_time_seconds %.3f\n"
                      "# HELP segarena_uptime_seconds Seconds since the server started.\n"
                      "# TYPE segarena_uptime_seconds gauge\n"
                      "segarena_uptime_seconds %.3f\n",
                      (long long)n.submissions, s->started, now - s->started);
    size_t len;
    char *text = sa_strbuf_take(&b, &len);
    if (!text) return sa_web_json_error(call->res, 500, "out of memory");
    sa_web_set_body(call->res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    return 0;
}

/* ---- challenges and phases ---- */

static json_t *time_json(double t) {
    if (t <= 0) return json_null();
    char buf[32];
    sa_iso8601_format(t, buf);
    return json_string(buf);
}

/* Stored text goes through sa_web_json_text (U+FFFD for bytes that are not
 * UTF-8: rows of older versions), never "s" (jansson refuses such text and the
 * whole object would be lost). */
static json_t *challenge_json(const sa_challenge_row *c) {
    return json_pack("{s:o,s:o,s:o,s:o}", "slug", sa_web_json_text(c->slug), "title",
                     sa_web_json_text(c->title ? c->title : ""), "description",
                     sa_web_json_text(c->description ? c->description : ""), "created",
                     time_json(c->created));
}

/* What a phase's spec says that challengers need to know to take part. */
static json_t *phase_json(sa_web_call *call, const sa_phase_row *row, const sa_phase_spec *spec) {
    json_t *ranked = json_array(), *metrics = json_array();
    for (size_t k = 0; ranked && k < spec->n_ranked; k++)
        json_array_append_new(ranked, json_pack("{s:o,s:s}", "name",
                                                sa_web_json_text(spec->ranked[k].name),
                                                "direction",
                                                spec->ranked[k].higher_is_better ? "higher"
                                                                                 : "lower"));
    for (size_t m = 0; metrics && m < spec->n_metrics; m++)
        json_array_append_new(metrics, sa_web_json_text(spec->metrics[m]));
    char board[300];
    snprintf(board, sizeof board, "/api/v1/phases/%s/%s/leaderboard", row->challenge, row->name);
    json_t *o = json_pack(
        "{s:o,s:o,s:o,s:b,s:o,s:o,s:I,s:{s:i,s:f},s:b,s:b,s:s,s:o,s:o,s:o,s:o}", "challenge",
        sa_web_json_text(row->challenge), "name", sa_web_json_text(row->name), "title",
        sa_web_json_text(spec->title), "published", row->published,
        "opens", time_json(spec->opens), "closes", time_json(spec->closes), "max_upload_mb",
        (json_int_t)(spec->max_upload_bytes >> 20), "quota", "submissions",
        spec->quota_submissions, "days", spec->quota_days, "show_case_details",
        spec->show_case_details, "show_logs", spec->show_logs, "rule",
        sa_rank_rule_name(spec->rule), "ranked_metrics", ranked, "metrics", metrics,
        "leaderboard", sa_web_json_text(board), "updated", time_json(row->updated));
    /* the held-out data set and the full spec are the organisers' */
    sa_subject about = {0, row->published, 0, 0};
    if (o && sa_web_allowed(&call->who, SA_ACT_LIST_DATASETS, &about)) {
        json_error_t jerr;
        json_object_set_new(o, "dataset", sa_web_json_text(spec->dataset));
        json_t *full = json_loads(row->spec_json, 0, &jerr);
        if (full) json_object_set_new(o, "spec", full);
    }
    return o;
}

int sa_api_challenges(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_LIST_CHALLENGES, NULL)) return 0;
    sa_error err = {{0}};
    sa_challenge_row *rows = NULL;
    size_t n = 0;
    if (sa_store_challenge_list(call->st, &rows, &n, &err)) return sa_web_internal_error(call, &err);
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) json_array_append_new(list, challenge_json(&rows[i]));
    sa_challenge_rows_free(rows, n);
    return sa_web_send_json(call->res, 200, json_pack("{s:o}", "challenges", list));
}

/* The challenge of the path: 1 found, 0 answered (404 or 500). */
static int find_challenge(sa_web_call *call, sa_challenge_row *row) {
    sa_error err = {{0}};
    int found = sa_store_challenge_get(call->st, call->arg[0], row, &err);
    if (found < 0) return sa_web_internal_error(call, &err), 0;
    if (!found) return sa_web_json_error(call->res, 404, "no challenge '%s'", call->arg[0]), 0;
    return 1;
}

/* The phases of a challenge the caller may see, as a JSON array. */
static int visible_phases(sa_web_call *call, int64_t challenge_id, json_t **out, sa_error *err) {
    sa_phase_row *rows = NULL;
    size_t n = 0;
    *out = NULL;
    if (sa_store_phase_list(call->st, challenge_id, &rows, &n, err)) return -1;
    json_t *list = json_array();
    int rc = list ? 0 : sa_error_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sa_subject about = {0, rows[i].published, 0, 0};
        if (!rows[i].published && !sa_web_allowed(&call->who, SA_ACT_READ_UNPUBLISHED_BOARD, &about))
            continue;
        sa_phase_spec spec;
        rc = sa_page_cache_spec(call->ctx, &rows[i], &spec, err);
        if (rc == 0) json_array_append_new(list, phase_json(call, &rows[i], &spec));
    }
    sa_phase_rows_free(rows, n);
    if (rc) json_decref(list);
    else *out = list;
    return rc;
}

int sa_api_challenge(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_LIST_CHALLENGES, NULL)) return 0;
    sa_challenge_row row;
    if (!find_challenge(call, &row)) return 0;
    sa_error err = {{0}};
    json_t *phases, *o = NULL;
    if (visible_phases(call, row.id, &phases, &err) == 0) {
        o = challenge_json(&row);
        if (o) json_object_set_new(o, "phases", phases);
        else json_decref(phases);
    }
    sa_challenge_row_free(&row);
    if (!o) return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 200, o);
}

int sa_api_challenge_phases(sa_web_call *call) {
    if (!sa_web_require(call, SA_ACT_LIST_CHALLENGES, NULL)) return 0;
    sa_challenge_row row;
    if (!find_challenge(call, &row)) return 0;
    sa_error err = {{0}};
    json_t *phases;
    int rc = visible_phases(call, row.id, &phases, &err);
    sa_challenge_row_free(&row);
    if (rc) return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 200, json_pack("{s:o}", "phases", phases));
}

/* ---- leaderboards ---- */

int sa_api_leaderboard(sa_web_call *call) {
    sa_phase_row row;
    sa_phase_spec spec;
    if (!sa_web_phase_visible(call, call->arg[0], call->arg[1], &row, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&row, &spec, 0, &about);
    int64_t phase_id = row.id;
    sa_phase_row_free(&row);
    sa_error err = {{0}};
    char *json = NULL;
    size_t len = 0;
    if (sa_web_query_flag(call->req->query, "cases")) {
        if (!sa_web_require(call, SA_ACT_EXPORT_BOARD, &about)) return 0;
        sa_board b;
        if (sa_board_build(call->st, phase_id, 0, &b, &err)) return sa_web_internal_error(call, &err);
        int rc = sa_board_to_json(&b, 1, &json, &err);
        sa_board_free(&b);
        if (rc) return sa_web_internal_error(call, &err);
        len = strlen(json);
    } else {
        const sa_subject *s = &about;
        if (!sa_web_require(call, about.phase_published ? SA_ACT_READ_PUBLISHED_BOARD
                                                : SA_ACT_READ_UNPUBLISHED_BOARD, s))
            return 0;
        sa_cached_board board;
        int got = sa_page_cache_board(call->ctx, call->st, phase_id, SA_CACHED_JSON | SA_CACHED_GZIP,
                                      call->req->suspend, &board, &err);
        if (got == 1) { /* resumed when the board is built: then handled again */
            call->res->suspended = 1;
            return 0;
        }
        if (got) return sa_web_internal_error(call, &err);
        sa_page_send_cached(call->req, call->res, "application/json", board.json, board.json_gz);
        return 0;
    }
    sa_web_set_body(call->res, 200, "application/json", json, len);
    return 0;
}

static int set_published(sa_web_call *call, int published) {
    if (!sa_web_require_login(call)) return 0;
    sa_phase_row row;
    sa_phase_spec spec;
    if (!sa_web_phase_visible(call, call->arg[0], call->arg[1], &row, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&row, &spec, 0, &about);
    int64_t id = row.id;
    sa_phase_row_free(&row);
    if (!sa_web_require(call, SA_ACT_PUBLISH, &about) || !sa_web_csrf_ok(call)) return 0;
    sa_error err = {{0}};
    if (sa_store_phase_set_published(call->st, id, published, &err))
        return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 200,
                            json_pack("{s:s,s:s,s:b}", "challenge", call->arg[0], "phase",
                                      call->arg[1], "published", published));
}

int sa_api_publish(sa_web_call *call) {
    return set_published(call, 1);
}

int sa_api_unpublish(sa_web_call *call) {
    return set_published(call, 0);
}
