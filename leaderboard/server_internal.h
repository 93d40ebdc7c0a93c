/*
 * server_internal.h: what the server's own files share (server.c, router.c,
 * pages*.c, api_*.c, upload_form.c), beside web.h: the server context handed to
 * every request, one routed call with its identity and path arguments, the
 * helpers every handler uses (JSON answers, ids, query and form parameters,
 * CSRF, phase and submission look-ups with their permission checks), the upload
 * form's reader, the page and leaderboard cache, the helpers of pages, and the
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
/* The upload form's body beyond its file: the other fields and the multipart
 * framing (a declared length over max_upload_mb plus this is too large). */
#define SA_WEB_FORM_OVERHEAD ((uint64_t)64 << 10)

/* Requests counted per status code, and the server's start, for /metrics. */
typedef struct sa_web_stats {
    uint64_t by_status[600]; /* updated with __atomic builtins */
    double started;
} sa_web_stats;

typedef struct sa_page_cache sa_page_cache; /* pages.c */

/* ---- open connections per client address (conn_limit.c) ---- */
#define SA_CONN_SLOTS 512 /* addresses with open connections (the server allows 256) */
typedef struct sa_conn_count {
    char addr[SA_ADDR_TEXT];
    unsigned open; /* 0: a free slot */
} sa_conn_count;
typedef struct sa_conn_limit {
    pthread_mutex_t lock;
    unsigned per_address;
    const sa_trusted_proxies *exempt; /* trusted proxies: not limited */
    sa_conn_count slots[SA_CONN_SLOTS];
} sa_conn_limit;
struct sockaddr;
/* The peer address as text (inet_ntop; an IPv4-mapped IPv6 address as IPv4;
 * "" for another family). */
void sa_peer_text(const struct sockaddr *sa, char out[SA_ADDR_TEXT]);
void sa_conn_limit_init(sa_conn_limit *cl, unsigned per_address, const sa_trusted_proxies *exempt);
void sa_conn_limit_destroy(sa_conn_limit *cl);
/* 1 when a connection from sa may be accepted (fewer than per_address open, or
 * exempt), else 0. */
int sa_conn_limit_allows(sa_conn_limit *cl, const struct sockaddr *sa);
/* A connection from sa started: counted (1), or not (0: exempt, or no free
 * slot); only a counted one is given back with sa_conn_limit_closed. */
int sa_conn_limit_opened(sa_conn_limit *cl, const struct sockaddr *sa);
void sa_conn_limit_closed(sa_conn_limit *cl, const struct sockaddr *sa);

typedef struct sa_server_ctx {
    const char *data_dir;
    sa_web_stats *stats;
    sa_page_cache *cache;
    /* whose X-Forwarded-* headers are believed (forwarded.c); may be NULL */
    const sa_trusted_proxies *proxies;
    /* Where the server's own problems go (store failures, worker events); may
     * be NULL. Called from any thread. */
    void (*on_log)(const char *line, void *ctx);
    void *log_ctx;
} sa_server_ctx;

/* Handles one complete request (the body read, an upload already on disk). */
void sa_web_handle(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                   sa_http_response *res);

/* How the server reads the body of a route: kept whole (small), streamed to
 * disk as it is (the API upload), or read as the upload form's multipart body
 * whose file part is streamed to disk (upload_form.c). */
enum { SA_UPLOAD_NONE, SA_UPLOAD_RAW, SA_UPLOAD_FORM };
int sa_web_upload_kind(const char *method, const char *path);

/* The upload's checks before its body is read. The API upload (raw): identity,
 * team, permission, CSRF, the phase's dates and quota, the declared length
 * (declared_bytes, 0: unknown) against the phase's max_upload_mb. The upload
 * form: identity, the phase, the declared length against max_upload_mb plus
 * room for the form's other fields (the team and CSRF token are in the body).
 * 1: go on, *max_bytes the phase's limit on the file; 0: refused, res holds the
 * answer. */
int sa_web_upload_preflight(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                            uint64_t declared_bytes, uint64_t *max_bytes, sa_http_response *res);
/* The upload form's checks once its small fields are read (req->form), before
 * any byte of its file is kept: every check of the API upload, with the team
 * and the CSRF token taken from the form. 1 go on (*max_bytes set), 0 refused
 * (res holds the answer, an HTML page). */
int sa_web_upload_form_check(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                             uint64_t *max_bytes, sa_http_response *res);

/* ---- the upload form's multipart body (upload_form.c) ---- */

struct MHD_Connection;
typedef struct sa_form_reader sa_form_reader;
/* Gets the file part's bytes as they arrive (the first call once every field
 * before the file is in fields): 0 go on, -1 stop reading the form. */
typedef int (*sa_form_file_sink)(void *ctx, const char *fields, const char *data, size_t size);
/* A reader of the connection's multipart/form-data (or urlencoded) body whose
 * field file_field goes to the sink; the other fields are kept, URL-encoded,
 * up to SA_FORM_MAX_FIELDS bytes. NULL when the content type is not a form. */
#define SA_FORM_MAX_FIELDS 8192
sa_form_reader *sa_form_reader_new(struct MHD_Connection *c, const char *file_field,
                                   sa_form_file_sink sink, void *ctx);
/* Feeds body bytes: 0, or -1 when the body is malformed, its fields too large,
 * or the sink stopped. */
int sa_form_reader_feed(sa_form_reader *r, const char *data, size_t size);
/* The body is complete: flushes what is held back; 0, or -1 malformed. */
int sa_form_reader_finish(sa_form_reader *r);
/* The fields so far ("a=1&b=2"), never NULL. */
const char *sa_form_reader_fields(const sa_form_reader *r);
/* 1 when the fields went over SA_FORM_MAX_FIELDS. */
int sa_form_reader_too_large(const sa_form_reader *r);
void sa_form_reader_free(sa_form_reader *r);

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
/* A field of the request's form (req->form, or an urlencoded body), URL-decoded
 * into buf: 1 found, 0 absent, -1 too long or badly encoded. */
int sa_web_form_value(const sa_http_request *req, const char *name, char *buf, size_t cap);
/* A write from a browser session needs its CSRF token (the X-CSRF-Token header,
 * or the form's csrf field): 1 fine, 0 answered 403. */
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
/* 1 when an unpublished phase may be shown to the caller all the same: an
 * organiser always; a challenger only while the phase takes submissions (from
 * its opens to its closes; what sa_submit checks) — a hidden test phase's upload
 * form, never a phase that has not opened yet or has closed. The caller checks
 * the team's permission to submit. */
int sa_web_unpublished_open(const sa_web_call *call, const sa_phase_spec *spec, double now);
/* The subject of a submission's phase and team. */
void sa_web_subject(const sa_phase_row *phase, const sa_phase_spec *spec, int64_t team_id,
                    sa_subject *out);
/* A submission the caller may read (owner team or organiser): 1 found (rows
 * filled; free both), 0 answered (401, or 404 for a missing one and for
 * another team's alike). */
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

/* ---- valid UTF-8 in answers (utf8.c) ---- */

/* A JSON string of s with each invalid UTF-8 sequence replaced by U+FFFD; json
 * null for NULL; NULL when out of memory. Every stored or echoed text goes into
 * JSON through it (jansson refuses invalid UTF-8). */
json_t *sa_web_json_text(const char *s);
/* json_object_set_new with the key repaired the same way (value stolen). */
int sa_web_json_set_text(json_t *object, const char *key, json_t *value);

/* ---- how much of a run's progress a viewer sees (run_view.c) ---- */

typedef struct sa_run_view {
    int details;             /* the viewer sees case details (sa_web_allowed) */
    int counts_shown;        /* progress and failures below are filled; 0: the status only */
    sa_run_progress progress;
    char **classes;          /* failures per class (base names without details) */
    int64_t *counts;
    size_t n;
} sa_run_view;

/* With case details: everything, live. Without (a hidden phase's owner team):
 * nothing but the status while a case of the run is queued or running, then
 * the counts with classes cut to their base names. 0, or -1 err. */
int sa_web_run_view(sa_web_call *call, const sa_run_row *run, const sa_subject *about,
                    sa_run_view *out, sa_error *err);
void sa_web_run_view_free(sa_run_view *v);
/* The run's aggregate as the viewer may see it: NULL when not allowed (a
 * hidden phase not published yet, for a viewer without case details) or none
 * stored; with case details the stored JSON; without, one rebuilt from a
 * whitelist: "cases", "succeeded", "failed" per base class, "metrics" (mean,
 * median, std, ci_lo, ci_hi, n of each), "metric_version". */
json_t *sa_web_run_aggregate(sa_web_call *call, const sa_run_row *run, const sa_subject *about);
/* The length of a class's base name: "exit_code 3" -> "exit_code",
 * "invalid_output: too big" -> "invalid_output". */
size_t sa_web_class_base_len(const char *error_class);

/* ---- page and leaderboard cache (page_cache.c) ---- */

/* data_dir: where the cache's builder thread opens its own store connection;
 * suspend and resume: how a request is suspended on a build (called on its HTTP
 * thread, from its handler) and resumed (from the builder thread), given the
 * handle the request carries. NULL: no builder thread, every build runs on its
 * request. */
sa_page_cache *sa_page_cache_new(const char *data_dir, void (*suspend)(void *handle),
                                 void (*resume)(void *handle));
/* Stops the builder thread and resumes the requests still waiting on it (before
 * the HTTP daemon stops: it cannot stop with suspended connections). */
void sa_page_cache_stop_builder(sa_page_cache *cache);
void sa_page_cache_free(sa_page_cache *cache);

/* What one look-up of a phase's board wants back. */
enum {
    SA_CACHED_JSON = 1, /* the board JSON without per-case values */
    SA_CACHED_HTML = 2, /* the page as the public sees it */
    SA_CACHED_GZIP = 4  /* their gzip'd copies too */
};

/* A phase's board from the cache: shared bodies (one reference each, held
 * until sa_cached_board_release; NULL where not asked, and the gzip'd ones
 * NULL when not asked or not made) and its row count. */
typedef struct sa_cached_board {
    sa_shared_body *json, *html, *json_gz, *html_gz;
    size_t n_rows;
} sa_cached_board;

/* The board of a phase as of its results version (store/version.c): from the
 * cache when built for that version; else one thread builds it (the board,
 * its JSON, its page, their gzip'd copies) while the other requests for the
 * phase get the entry built before, if there is one, or wait for that one
 * build. 0, or -1 with err. */
/* suspend: the request's handle (sa_http_request.suspend), or NULL. Returns 0
 * with *out, -1 with err, or 1: the request has been suspended until the board
 * is built (the caller sets res->suspended and returns); when resumed, its
 * handler runs again. */
int sa_page_cache_board(const sa_server_ctx *ctx, sa_store *st, int64_t phase_id, unsigned want,
                        void *suspend, sa_cached_board *out, sa_error *err);
void sa_cached_board_release(sa_cached_board *b);

/* The parsed spec of a phase row: kept with the phase's cache entry and
 * parsed again only when the row's stored text differs. 0, or -1 with err. */
int sa_page_cache_spec(const sa_server_ctx *ctx, const sa_phase_row *row, sa_phase_spec *spec,
                       sa_error *err);

/* The gzip'd copy of data (gzip_body.c): 0 with *out malloc'ed, -1 when out
 * of memory or too large for zlib. */
int sa_web_gzip(const char *data, size_t len, char **out, size_t *out_len);

/* Sends a cached body: its gzip'd copy when there is one and the client takes
 * gzip, else the plain one (NULL: 500); takes the references of both (the one
 * not sent is released). */
void sa_page_send_cached(const sa_http_request *req, sa_http_response *res,
                         const char *content_type, sa_shared_body *plain, sa_shared_body *gz);

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
/* The phase of an upload route (arg[0]/arg[1]) with its spec: 1, or 0 with the
 * answer made: 404 for a missing phase and for an unpublished one that takes no
 * submissions now (not revealed), 500 for a store error. Used by the API's and
 * the upload form's checks alike. */
int sa_web_upload_phase(sa_web_call *call, sa_phase_row *row, sa_phase_spec *spec);
/* The upload's checks (sa_web_upload_preflight, once the call is routed). */
int sa_api_submit_preflight(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes);
/* Everything checked before an upload is kept (identity, phase, team from
 * ?team= or the form, permission, CSRF, dates, quota, declared size): 1 go on
 * (*phase_id, *team_id, *max_bytes set), 0 answered. */
int sa_api_submit_checks(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes,
                         int64_t *phase_id, int64_t *team_id);
/* The upload on disk handed to sa_submit (its reason never names a server
 * path): 0 with *out, or -1 answered (500). */
int sa_web_submit_upload(sa_web_call *call, int64_t phase_id, int64_t team_id,
                         sa_submit_outcome *out);
/* Answers a refusal of the evaluator with its status code (429 with
 * Retry-After for the quota). */
int sa_api_answer_refusal(sa_web_call *call, const sa_submit_outcome *out);
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
/* A JSON error answer turned into the HTML error page of the same status and
 * message (headers kept); anything else is left as it is. */
void sa_page_from_json_error(sa_http_response *res);
/* Sends a page (takes the malloc'ed html; NULL: 500). */
int sa_page_send(sa_http_response *res, int status, char *html, size_t len);
/* Ends a page built in b (sa_render_page_open ... ): sends it with 200, or, when
 * rc says building it failed, drops it and answers 500 with err logged. */
int sa_page_finish(sa_web_call *call, sa_strbuf *b, int rc, const sa_error *err);
/* 303 See Other to a local path. */
int sa_page_redirect(sa_http_response *res, const char *location);
/* The public asking for a page that needs a login: 303 to /login?next=PATH. */
int sa_page_login_redirect(sa_web_call *call);
/* The header bar's viewer for the caller (here: this page's path). */
void sa_page_viewer_of(const sa_web_call *call, const char *here, sa_page_viewer *out);
/* pages_login.c: GET /login, POST /login, POST /logout (forms) */
int sa_page_login_form(sa_web_call *call);
int sa_page_login(sa_web_call *call);
int sa_page_logout(sa_web_call *call);
/* pages_upload.c: the upload form on a phase page, and its POST */
int sa_page_upload_form(sa_web_call *call, const sa_phase_row *row, const sa_phase_spec *spec,
                        sa_strbuf *out);
int sa_page_submit_preflight(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes);
int sa_page_submit(sa_web_call *call);
/* pages_submission.c: GET /submissions/{id}, its case logs */
int sa_page_submission(sa_web_call *call);
int sa_page_case_log(sa_web_call *call);
/* pages_run.c: GET /runs/{id}; a run's status, progress and failures as a
 * block of HTML (the submission page shows each run with it). 0, or -1 err. */
int sa_page_run(sa_web_call *call);
int sa_page_run_block(sa_web_call *call, sa_strbuf *b, const sa_run_row *run,
                      const sa_phase_spec *spec, const sa_subject *about, sa_error *err);

#endif
