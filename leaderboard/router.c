/*
 * router.c: sa_web_handle, the one entry of a complete request: method + path
 * matched against the route table (path arguments validated before any handler
 * sees them), who is asking (sa_auth_identify), then the handler; every error is
 * the same JSON shape (or an HTML page outside /api). Also the helpers every
 * handler shares: JSON answers, ids, query parameters, login, permission and
 * CSRF checks, and the phase and submission look-ups with their visibility rules.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_internal.h"

/* ---- responses ---- */

void sa_web_response_clear(sa_http_response *res) {
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
    sa_shared_body_unref(res->shared);
    res->shared = NULL;
    res->content_encoding = NULL;
    res->vary_encoding = 0;
}

void sa_web_set_body(sa_http_response *res, int status, const char *content_type, char *body,
                     size_t len) {
    sa_web_response_clear(res);
    res->status = status;
    res->content_type = content_type;
    res->body = body;
    res->body_len = body ? len : 0;
}

void sa_web_set_shared_body(sa_http_response *res, int status, const char *content_type,
                            sa_shared_body *body, const char *encoding, int vary_encoding) {
    if (!body) {
        sa_web_json_error(res, 500, "internal error: out of memory");
        return;
    }
    sa_web_response_clear(res);
    res->status = status;
    res->content_type = content_type;
    res->shared = body;
    res->content_encoding = encoding;
    res->vary_encoding = vary_encoding;
}

int sa_web_json_error(sa_http_response *res, int status, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a message may echo input or stored text: valid UTF-8 or jansson refuses it */
    json_t *root = json_pack("{s:{s:i,s:o}}", "error", "status", status, "message",
                             sa_web_json_text(msg));
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) {
        /* out of memory: a fixed answer */
        static const char oom[] = "{\"error\":{\"status\":500,\"message\":\"out of memory\"}}";
        text = strdup(oom);
        status = 500;
    }
    sa_web_set_body(res, status, "application/json", text, text ? strlen(text) : 0);
    return 0;
}

int sa_web_send_json(sa_http_response *res, int status, json_t *value) {
    char *text = value ? json_dumps(value, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(value);
    if (!text) return sa_web_json_error(res, 500, "internal error: cannot write the answer");
    sa_web_set_body(res, status, "application/json", text, strlen(text));
    return 0;
}

void sa_web_log(const sa_server_ctx *ctx, const char *fmt, ...) {
    if (!ctx->on_log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ctx->on_log(line, ctx->log_ctx);
}

int sa_web_internal_error(sa_web_call *call, const sa_error *err) {
    sa_web_log(call->ctx, "%s %s: %s", call->req->method, call->req->path,
               err && err->msg[0] ? err->msg : "internal error (no message)");
    return sa_web_json_error(call->res, 500, "internal error");
}

/* ---- parsing ---- */

int sa_web_parse_id(const char *text, int64_t *out) {
    if (!text || !*text || strlen(text) > 18 || text[0] == '0') return -1;
    int64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sa_web_query(const char *query, const char *name, char *buf, size_t cap) {
    if (!query || !cap) return 0;
    size_t name_len = strlen(name);
    for (const char *p = query; *p;) {
        const char *end = strchr(p, '&');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *key_end = eq ? eq : end;
        if ((size_t)(key_end - p) == name_len && !memcmp(p, name, name_len)) {
            size_t n = 0;
            for (const char *v = eq ? eq + 1 : end; v < end; v++) {
                int c = (unsigned char)*v;
                if (c == '+') c = ' ';
                else if (c == '%') {
                    if (end - v < 3) return -1;
                    int a = hex_value(v[1]), b = hex_value(v[2]);
                    if (a < 0 || b < 0) return -1;
                    c = a * 16 + b;
                    v += 2;
                }
                if (c == 0 || n + 1 >= cap) return -1;
                buf[n++] = (char)c;
            }
            buf[n] = '\0';
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

int sa_web_query_flag(const char *query, const char *name) {
    char v[8];
    return sa_web_query(query, name, v, sizeof v) == 1 && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* ---- identity and permissions ---- */

int sa_web_in_team(const sa_identity *who, int64_t team_id) {
    for (size_t i = 0; i < who->n_teams && i < SA_WEB_MAX_TEAMS; i++)
        if (who->teams[i] == team_id) return 1;
    return 0;
}

int sa_web_require_login(sa_web_call *call) {
    if (call->who.role != SA_ROLE_PUBLIC) return 1;
    sa_web_json_error(call->res, 401, "log in or give an API token (Authorization: Bearer ...)");
    return 0;
}

int sa_web_require(sa_web_call *call, sa_action action, const sa_subject *about) {
    sa_subject none = {0, 0, 0, 0};
    if (sa_web_allowed(&call->who, action, about ? about : &none)) return 1;
    if (!sa_web_require_login(call)) return 0;
    sa_web_json_error(call->res, 403, "not allowed");
    return 0;
}

/* 1 when the request's body is an urlencoded form. */
static int urlencoded_body(const sa_http_request *req) {
    static const char type[] = "application/x-www-form-urlencoded";
    return req->content_type && !strncasecmp(req->content_type, type, sizeof type - 1) &&
           req->body;
}

int sa_web_form_value(const sa_http_request *req, const char *name, char *buf, size_t cap) {
    if (req->form) return sa_web_query(req->form, name, buf, cap);
    if (urlencoded_body(req)) return sa_web_query(req->body, name, buf, cap);
    return 0;
}

int sa_web_csrf_ok(sa_web_call *call) {
    if (!call->who.via_session) return 1;
    const char *token = call->req->csrf_token;
    char field[96];
    if (!token && sa_web_form_value(call->req, "csrf", field, sizeof field) == 1) token = field;
    if (sa_auth_csrf_ok(&call->who, token)) return 1;
    sa_web_json_error(call->res, 403, "a write from a browser session needs its CSRF token "
                                      "(X-CSRF-Token header, or the form's csrf field)");
    return 0;
}

/* ---- look-ups with visibility ---- */

/* The spec stored with a phase (canonical JSON, so problems are not expected),
 * parsed once per stored text (page_cache.c). */
static int stored_spec(const sa_web_call *call, const sa_phase_row *row, sa_phase_spec *spec,
                       sa_error *err) {
    return sa_page_cache_spec(call->ctx, row, spec, err);
}

void sa_web_subject(const sa_phase_row *phase, const sa_phase_spec *spec, int64_t team_id,
                    sa_subject *out) {
    out->team_id = team_id;
    out->phase_published = phase->published;
    out->show_case_details = spec->show_case_details;
    out->show_logs = spec->show_logs;
}

int sa_web_phase_visible(sa_web_call *call, const char *challenge, const char *phase,
                         sa_phase_row *row, sa_phase_spec *spec) {
    sa_error err = {{0}};
    int found = sa_store_phase_get(call->st, challenge, phase, row, &err);
    if (found < 0) return sa_web_internal_error(call, &err), 0;
    sa_subject about = {0, found ? row->published : 0, 0, 0};
    if (found && !row->published &&
        !sa_web_allowed(&call->who, SA_ACT_READ_UNPUBLISHED_BOARD, &about)) {
        sa_phase_row_free(row);
        found = 0;
    }
    if (!found) {
        sa_web_json_error(call->res, 404, "no phase '%s/%s'", challenge, phase);
        return 0;
    }
    if (stored_spec(call, row, spec, &err)) {
        sa_phase_row_free(row);
        sa_web_internal_error(call, &err);
        return 0;
    }
    return 1;
}

int sa_web_unpublished_open(const sa_web_call *call, const sa_phase_spec *spec, double now) {
    sa_subject about = {0, 0, 0, 0};
    if (sa_web_allowed(&call->who, SA_ACT_READ_UNPUBLISHED_BOARD, &about)) return 1;
    return (spec->opens <= 0 || now >= spec->opens) && (spec->closes <= 0 || now < spec->closes);
}

int sa_web_submission_readable(sa_web_call *call, int64_t id, sa_submission_row *sub,
                               sa_phase_row *phase, sa_phase_spec *spec) {
    if (!sa_web_require_login(call)) return 0;
    sa_error err = {{0}};
    int found = sa_store_submission_get(call->st, id, sub, &err);
    if (found < 0) return sa_web_internal_error(call, &err), 0;
    if (!found) return sa_web_json_error(call->res, 404, "no submission %lld", (long long)id), 0;
    found = sa_store_phase_get_by_id(call->st, sub->phase_id, phase, &err);
    if (found <= 0) {
        sa_submission_row_free(sub);
        if (found == 0) sa_error_set(&err, "submission %lld: its phase is gone", (long long)id);
        return sa_web_internal_error(call, &err), 0;
    }
    int rc = stored_spec(call, phase, spec, &err);
    sa_subject about;
    sa_web_subject(phase, spec, sub->team_id, &about);
    if (rc == 0 && sa_web_allowed(&call->who, SA_ACT_READ_OWN_SUBMISSION, &about)) return 1;
    if (rc) sa_web_internal_error(call, &err);
    /* another team's submission is answered as a missing one: a 403 would let
     * anyone count the other teams' submissions */
    else sa_web_json_error(call->res, 404, "no submission %lld", (long long)id);
    sa_submission_row_free(sub);
    sa_phase_row_free(phase);
    return 0;
}

/* ---- routes ---- */

enum { ARG_NONE, ARG_NAME, ARG_ID };

typedef struct route {
    const char *method;
    const char *pattern; /* segments; "{name}" a challenge or phase name, "{id}" an id */
    sa_web_handler handler;
} route;

static const route routes[] = {
    {"GET", "/api/v1/health", sa_api_health},
    {"GET", "/metrics", sa_api_metrics},
    {"GET", "/api/v1/challenges", sa_api_challenges},
    {"GET", "/api/v1/challenges/{name}", sa_api_challenge},
    {"GET", "/api/v1/challenges/{name}/phases", sa_api_challenge_phases},
    {"GET", "/api/v1/phases/{name}/{name}/leaderboard", sa_api_leaderboard},
    {"POST", "/api/v1/phases/{name}/{name}/publish", sa_api_publish},
    {"POST", "/api/v1/phases/{name}/{name}/unpublish", sa_api_unpublish},
    {"POST", "/api/v1/phases/{name}/{name}/submissions", sa_api_submit},
    {"GET", "/api/v1/submissions/{id}", sa_api_submission},
    {"GET", "/api/v1/submissions/{id}/cases", sa_api_submission_cases},
    {"POST", "/api/v1/submissions/{id}/runs", sa_api_run_start},
    {"GET", "/api/v1/runs/{id}", sa_api_run},
    {"POST", "/api/v1/runs/{id}/cancel", sa_api_run_cancel},
    {"POST", "/api/v1/runs/{id}/rescore", sa_api_run_rescore},
    {"POST", "/api/v1/runs/{id}/rerun", sa_api_run_rerun},
    {"GET", "/api/v1/datasets", sa_api_datasets},
    {"GET", "/api/v1/users", sa_api_users},
    {"GET", "/api/v1/teams", sa_api_teams},
    {"POST", "/api/v1/login", sa_api_login},
    {"POST", "/api/v1/logout", sa_api_logout},
    {"GET", "/", sa_html_index},
    {"GET", "/challenges/{name}/phases/{name}", sa_html_phase},
    {"POST", "/challenges/{name}/phases/{name}/submissions", sa_page_submit},
    {"GET", "/login", sa_page_login_form},
    {"POST", "/login", sa_page_login},
    {"POST", "/logout", sa_page_logout},
    {"GET", "/submissions/{id}", sa_page_submission},
    {"GET", "/submissions/{id}/cases/{name}/log", sa_page_case_log},
    {"GET", "/runs/{id}", sa_page_run},
};

#define MAX_SEGMENTS 8

/* Splits a path into segments in buf ("/a/b" -> "a", "b"; "/" -> none). -1 when
 * it has too many, an empty one (//, a trailing /) or one too long. */
static int split_path(const char *path, char *buf, size_t cap, const char **seg, size_t *n) {
    *n = 0;
    if (path[0] != '/' || strlen(path) >= cap) return -1;
    strcpy(buf, path + 1);
    if (!*buf) return 0;
    for (char *p = buf;;) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (!*p || strlen(p) > SA_WEB_MAX_ARG || *n == MAX_SEGMENTS) return -1;
        seg[(*n)++] = p;
        if (!slash) return 0;
        p = slash + 1;
    }
}

/* 1 when the segments match the pattern (arguments collected and valid), 0 no,
 * -1 they would match but an argument is not a valid name or id. */
static int match(const char *pattern, const char *const *seg, size_t n, const char **args,
                 size_t *n_args) {
    char buf[SA_WEB_MAX_PATH];
    const char *pseg[MAX_SEGMENTS];
    size_t pn;
    if (split_path(pattern, buf, sizeof buf, pseg, &pn) || pn != n) return 0;
    int bad = 0;
    *n_args = 0;
    for (size_t i = 0; i < n; i++) {
        int kind = !strcmp(pseg[i], "{name}") ? ARG_NAME : !strcmp(pseg[i], "{id}") ? ARG_ID
                                                                                     : ARG_NONE;
        if (kind == ARG_NONE) {
            if (strcmp(pseg[i], seg[i])) return 0;
            continue;
        }
        int64_t id;
        if (kind == ARG_NAME ? !sa_dataset_id_valid(seg[i]) : sa_web_parse_id(seg[i], &id) != 0)
            bad = 1;
        if (*n_args < SA_WEB_MAX_ARGS) args[(*n_args)++] = seg[i];
    }
    return bad ? -1 : 1;
}

static int is_api(const char *path) {
    return !strncmp(path, "/api/", 5) || !strcmp(path, "/api");
}

static int not_found(const sa_http_request *req, sa_http_response *res, int status,
                     const char *message) {
    if (is_api(req->path)) return sa_web_json_error(res, status, "%s", message);
    return sa_page_error(res, status, message);
}

/* The route of method + path: 1 found, 0 none; *wrong_method when the path is
 * known under another method, *bad_arg when an argument is invalid. */
static const route *find_route(const char *method, const char *path, char *buf, size_t cap,
                               const char **args, size_t *n_args, int *wrong_method,
                               int *bad_arg) {
    const char *seg[MAX_SEGMENTS];
    size_t n;
    *wrong_method = *bad_arg = 0;
    if (split_path(path, buf, cap, seg, &n)) return NULL;
    /* HEAD is answered as GET (the server sends no body) */
    const char *m = !strcmp(method, "HEAD") ? "GET" : method;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        int r = match(routes[i].pattern, seg, n, args, n_args);
        if (r == 0) continue;
        if (strcmp(routes[i].method, m)) {
            *wrong_method = 1;
            continue;
        }
        if (r < 0) {
            *bad_arg = 1;
            continue;
        }
        return &routes[i];
    }
    return NULL;
}

int sa_web_upload_kind(const char *method, const char *path) {
    char buf[SA_WEB_MAX_PATH];
    const char *args[SA_WEB_MAX_ARGS];
    size_t n_args;
    int wrong, bad;
    const route *r = find_route(method, path, buf, sizeof buf, args, &n_args, &wrong, &bad);
    if (r && r->handler == sa_api_submit) return SA_UPLOAD_RAW;
    if (r && r->handler == sa_page_submit) return SA_UPLOAD_FORM;
    return SA_UPLOAD_NONE;
}

/* Routes and identifies a request: the route, or NULL with res answered. */
static const route *prepare_call(const sa_server_ctx *ctx, sa_store *st,
                                 const sa_http_request *req, sa_http_response *res,
                                 sa_web_call *call, char *buf, size_t cap) {
    memset(call, 0, sizeof *call);
    call->ctx = ctx;
    call->st = st;
    call->req = req;
    call->res = res;
    int wrong_method, bad_arg;
    if (strlen(req->path) >= SA_WEB_MAX_PATH) {
        not_found(req, res, 414, "path too long");
        return NULL;
    }
    const route *r = find_route(req->method, req->path, buf, cap, call->arg, &call->n_args,
                                &wrong_method, &bad_arg);
    if (!r) {
        if (bad_arg) not_found(req, res, 404, "not found (invalid name or id in the path)");
        else if (wrong_method) not_found(req, res, 405, "method not allowed");
        else not_found(req, res, 404, "not found");
        return NULL;
    }
    sa_error err = {{0}};
    if (sa_auth_identify(st, req, &call->who, &err) != 0) {
        /* a stale session cookie (no token) is the public where one logs in
         * or out, as on pages: else the stale cookie would block both */
        int cookie_only = !req->authorization || !req->authorization[strspn(req->authorization, " \t")];
        int login_route = r->handler == sa_api_login || r->handler == sa_api_logout;
        if (is_api(req->path) && !(login_route && cookie_only)) {
            sa_web_json_error(res, 401, "invalid credentials (unknown or revoked token, or an "
                                        "expired session)");
            return NULL;
        }
        /* a page with a stale cookie is shown as to the public */
        memset(&call->who, 0, sizeof call->who);
        call->who.role = SA_ROLE_PUBLIC;
    }
    return r;
}

/* An answer outside /api is a page: a JSON error of a shared helper becomes the
 * HTML error page of the same status. */
static void answer_as_page(const sa_http_request *req, sa_http_response *res) {
    if (!is_api(req->path) && strcmp(req->path, "/metrics")) sa_page_from_json_error(res);
}

int sa_web_upload_preflight(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                            uint64_t declared_bytes, uint64_t *max_bytes, sa_http_response *res) {
    sa_web_call call;
    char buf[SA_WEB_MAX_PATH];
    const route *r = prepare_call(ctx, st, req, res, &call, buf, sizeof buf);
    int go_on = 0;
    if (r && r->handler == sa_api_submit)
        go_on = sa_api_submit_preflight(&call, declared_bytes, max_bytes);
    else if (r && r->handler == sa_page_submit)
        go_on = sa_page_submit_preflight(&call, declared_bytes, max_bytes);
    else if (r)
        sa_web_json_error(res, 500, "internal error: not an upload");
    if (!go_on) answer_as_page(req, res);
    return go_on;
}

int sa_web_upload_form_check(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                             uint64_t *max_bytes, sa_http_response *res) {
    sa_web_call call;
    char buf[SA_WEB_MAX_PATH];
    const route *r = prepare_call(ctx, st, req, res, &call, buf, sizeof buf);
    int64_t phase_id, team_id;
    int go_on = r && r->handler == sa_page_submit &&
                sa_api_submit_checks(&call, 0, max_bytes, &phase_id, &team_id);
    if (r && r->handler != sa_page_submit) sa_web_json_error(res, 500, "internal error: not a form");
    if (!go_on) answer_as_page(req, res);
    return go_on;
}

void sa_web_handle(const sa_server_ctx *ctx, sa_store *st, const sa_http_request *req,
                   sa_http_response *res) {
    sa_web_call call;
    char buf[SA_WEB_MAX_PATH];
    const route *r = prepare_call(ctx, st, req, res, &call, buf, sizeof buf);
    if (r) r->handler(&call);
    if (!res->status) sa_web_json_error(res, 500, "internal error: no answer");
    answer_as_page(req, res);
}
