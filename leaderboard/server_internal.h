/*
 * server_internal.h: what the server's own files share (server.c, router.c,
 * pages.c, api_*.c), beside web.h: the server context handed to every request,
 * one routed call with its identity and path arguments, the helpers every
 * handler uses (JSON answers, ids, query parameters, CSRF, phase and submission
 * look-ups with their permission checks), the page and leaderboard cache, and the
 * handlers themselves.
 */
#ifndef SEGARENA_SERVER_INTERNAL_H
#define SEGARENA_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "web.h"

/* Bounds on what a client can make the server hold. */
#define SA_WEB_MAX_BODY (1u << 20)   /* small bodies (JSON, forms): 1 MiB, else 413 */
#define SA_WEB_MAX_PATH 1024         /* longer paths: 414 */
#define SA_WEB_MAX_ARG 128           /* one path segment */

/* Requests counted per status code, and the server's start, for /metrics. */
typedef struct sa_web_stats {
    uint64_t by_status[600]; /* updated with __atomic builtins */
    double started;
} sa_web_stats;

typedef struct sa_page_cache sa_page_cache; /* pages.c */

typedef struct sa_server_ctx {
    const char *data_dir;
    sa_web_stats *stats;
    sa_page_cache *cache;
    /* Where the server's own problems go (store failures, worker events); may
     * be NULL. Called from any thread. */
    void (*on_log)(const char *line, void *ctx);
    void *log_ctx;
} sa_server_ctx;

/* Handles one complete request (the body read, an upload already on disk). */
void sa_web_handle(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                   sa_http_response *res);

/* 1 when method + path is the upload route (the server streams its body to disk
 * instead of keeping it). */
int sa_web_is_upload(const char *method, const char *path);

/* The upload's checks before its body is read: identity, team, permission, CSRF,
 * the phase's dates and quota, the declared length (declared_bytes, 0: unknown)
 * against the phase's max_upload_mb. 1: go on, *max_bytes the phase's limit;
 * 0: refused, res holds the answer. */
int sa_web_upload_preflight(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                            uint64_t declared_bytes, uint64_t *max_bytes, sa_http_response *res);

/* Logs one line through ctx->on_log. */
void sa_web_log(const sa_server_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- one routed call ---- */

#define SA_WEB_MAX_ARGS 4

typedef struct sa_web_call {
    const sa_server_ctx *ctx;
    sa_store *st;
    const sa_http_request *req;
    sa_http_response *res;
    sa_identity who;
    const char *arg[SA_WEB_MAX_ARGS]; /* the {} segments of the route, in order */
    size_t n_args;
} sa_web_call;

typedef int (*sa_web_handler)(sa_web_call *call);

/* ---- helpers (router.c) ---- */

/* Sends a JSON value (takes the reference); 500 when it cannot be dumped. */
int sa_web_send_json(sa_http_response *res, int status, json_t *value);
/* A platform failure: logged with its message, answered 500 without it. */
int sa_web_internal_error(sa_web_call *call, const sa_error *err);
/* A positive integer id ("12", at most 18 digits): 0, or -1. */
int sa_web_parse_id(const char *text, int64_t *out);
/* The value of a query parameter, URL-decoded, into buf: 1 found, 0 absent,
 * -1 too long or badly encoded. */
int sa_web_query(const char *query, const char *name, char *buf, size_t cap);
/* 1 when the query parameter is "1" or "true". */
int sa_web_query_flag(const char *query, const char *name);
/* A write from a browser session needs its CSRF token: 1 fine, 0 answered 403. */
int sa_web_csrf_ok(sa_web_call *call);
/* Needs an identity: 1 fine, 0 answered 401 (the public). */
int sa_web_require_login(sa_web_call *call);
/* The permission, or answers (401 for the public, 403 otherwise) and returns 0. */
int sa_web_require(sa_web_call *call, sa_action action, const sa_subject *about);
/* 1 when the identity belongs to the team. */
int sa_web_in_team(const sa_identity *who, int64_t team_id);

/* A phase by challenge slug and name, visible to the caller (unpublished ones
 * only to who may read unpublished boards; otherwise 404, so that their
 * existence is not revealed). 1 found (row and spec filled; free the row),
 * 0 answered. */
int sa_web_phase_visible(sa_web_call *call, const char *challenge, const char *phase,
                         sa_phase_row *row, sa_phase_spec *spec);
/* The subject of a submission's phase and team. */
void sa_web_subject(const sa_phase_row *phase, const sa_phase_spec *spec, int64_t team_id,
                    sa_subject *out);
/* A submission the caller may read (owner team or organiser): 1 found (rows
 * filled; free both), 0 answered (401, 403 or 404). */
int sa_web_submission_readable(sa_web_call *call, int64_t id, sa_submission_row *sub,
                               sa_phase_row *phase, sa_phase_spec *spec);

/* ---- runs as the API shows them (api_runs.c) ---- */

/* A run with its progress and failures per class; its aggregate when the phase
 * is published or the caller sees case details; per-case results (and logs)
 * only as sa_web_allowed says for the subject. NULL with err on failure. */
json_t *sa_web_run_json(sa_web_call *call, const sa_run_row *run, const sa_phase_spec *spec,
                        const sa_subject *about, int with_cases, sa_error *err);
/* Per-case results of a run as a JSON array (logs with_logs, the classifier's
 * detail with_detail). */
json_t *sa_web_cases_json(sa_web_call *call, int64_t run_id, const sa_phase_spec *spec,
                          int with_logs, int with_detail, sa_error *err);

/* ---- page and leaderboard cache (pages.c) ---- */

sa_page_cache *sa_page_cache_new(void);
void sa_page_cache_free(sa_page_cache *cache);

/* The leaderboard JSON of a phase without per-case values, from the cache when
 * its results version is unchanged. 0 (*json malloc'ed), -1 error. */
int sa_page_board_json(const sa_server_ctx *ctx, sa_store *st, int64_t phase_id, char **json,
                       size_t *len, sa_error *err);

/* ---- handlers ---- */

/* api_public.c */
int sa_api_health(sa_web_call *call);
int sa_api_metrics(sa_web_call *call);
int sa_api_challenges(sa_web_call *call);
int sa_api_challenge(sa_web_call *call);
int sa_api_challenge_phases(sa_web_call *call);
int sa_api_leaderboard(sa_web_call *call);
int sa_api_publish(sa_web_call *call);
int sa_api_unpublish(sa_web_call *call);
/* api_submissions.c */
int sa_api_submit(sa_web_call *call);
/* The upload's checks (sa_web_upload_preflight, once the call is routed). */
int sa_api_submit_preflight(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes);
int sa_api_submission(sa_web_call *call);
int sa_api_submission_cases(sa_web_call *call);
/* api_runs.c */
int sa_api_run(sa_web_call *call);
int sa_api_run_cancel(sa_web_call *call);
int sa_api_run_rescore(sa_web_call *call);
int sa_api_run_rerun(sa_web_call *call);
int sa_api_run_start(sa_web_call *call);
/* api_admin.c */
int sa_api_datasets(sa_web_call *call);
int sa_api_users(sa_web_call *call);
int sa_api_teams(sa_web_call *call);
/* api_auth.c */
int sa_api_login(sa_web_call *call);
int sa_api_logout(sa_web_call *call);
/* pages.c */
int sa_html_index(sa_web_call *call);
int sa_html_phase(sa_web_call *call);
/* An HTML error page. */
int sa_page_error(sa_http_response *res, int status, const char *message);

#endif
