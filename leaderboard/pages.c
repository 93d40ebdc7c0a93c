/*
 * pages.c: the HTML pages (the challenge list, a phase's leaderboard) and the
 * cache of what is costly to compute: a phase's board (ranking and bootstrap)
 * as JSON and as its rendered page. An entry is kept under the phase's results
 * version (store/version.c), so a new result, run, selection, spec change or
 * publication makes the next request build it again. What is cached is the same
 * for every viewer (no per-case values, nothing that depends on who asks): the
 * public's view. For a logged-in viewer the header bar and the upload form are
 * put into a copy per request, at the marks render_page.c leaves, and never
 * cached; the public gets the cached page as it is. Who may see it is decided
 * before the cache is asked. Also the helpers every page shares: error pages,
 * redirects, the viewer of the header bar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define CACHE_ENTRIES 64

typedef struct cache_entry {
    int64_t phase_id; /* 0: free */
    int64_t version;
    uint64_t last_used;
    char *json, *html;
    size_t json_len, html_len, n_rows;
} cache_entry;

struct sa_page_cache {
    pthread_mutex_t lock;
    uint64_t clock;
    cache_entry entries[CACHE_ENTRIES];
};

sa_page_cache *sa_page_cache_new(void) {
    sa_page_cache *c = calloc(1, sizeof *c);
    if (c && pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void entry_clear(cache_entry *e) {
    free(e->json);
    free(e->html);
    memset(e, 0, sizeof *e);
}

void sa_page_cache_free(sa_page_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < CACHE_ENTRIES; i++) entry_clear(&c->entries[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* What one lookup wants back (each may be NULL). */
typedef struct cache_want {
    char **json, **html;
    size_t *json_len, *html_len, *n_rows;
} cache_want;

/* Copies out of a current entry under the lock: 1 hit, 0 miss, -1 memory. */
static int cache_copy(sa_page_cache *c, int64_t phase_id, int64_t version, const cache_want *w) {
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < CACHE_ENTRIES && !hit; i++) {
        cache_entry *e = &c->entries[i];
        if (e->phase_id != phase_id || e->version != version) continue;
        hit = 1;
        e->last_used = ++c->clock;
        if (w->json && !(*w->json = dup_bytes(e->json, e->json_len))) hit = -1;
        if (w->json_len) *w->json_len = e->json_len;
        if (w->html && !(*w->html = dup_bytes(e->html, e->html_len))) hit = -1;
        if (w->html_len) *w->html_len = e->html_len;
        if (w->n_rows) *w->n_rows = e->n_rows;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

/* Stores a freshly built entry (taking json and html), replacing the phase's old
 * one or the least recently used. */
static void cache_put(sa_page_cache *c, int64_t phase_id, int64_t version, char *json,
                      size_t json_len, char *html, size_t html_len, size_t n_rows) {
    pthread_mutex_lock(&c->lock);
    cache_entry *slot = NULL;
    for (size_t i = 0; i < CACHE_ENTRIES && !slot; i++)
        if (c->entries[i].phase_id == phase_id) slot = &c->entries[i];
    for (size_t i = 0; i < CACHE_ENTRIES && !slot; i++)
        if (!c->entries[i].phase_id) slot = &c->entries[i];
    if (!slot) {
        slot = &c->entries[0];
        for (size_t i = 1; i < CACHE_ENTRIES; i++)
            if (c->entries[i].last_used < slot->last_used) slot = &c->entries[i];
    }
    entry_clear(slot);
    slot->phase_id = phase_id;
    slot->version = version;
    slot->last_used = ++c->clock;
    slot->json = json;
    slot->json_len = json_len;
    slot->html = html;
    slot->html_len = html_len;
    slot->n_rows = n_rows;
    pthread_mutex_unlock(&c->lock);
}

/* Builds the phase's board, its JSON and page, and caches them. */
static int cache_build(const sa_server_ctx *ctx, sa_store *st, int64_t phase_id, int64_t version,
                       sa_error *err) {
    sa_board b;
    if (sa_board_build(st, phase_id, 0, &b, err)) return -1;
    char *json = NULL, *html = NULL;
    size_t html_len = 0;
    int rc = sa_board_to_json(&b, 0, &json, err);
    if (rc == 0) {
        sa_challenge_row ch;
        int found = sa_store_challenge_get(st, b.challenge, &ch, err);
        if (found < 0) rc = -1;
        if (found > 0) {
            html = sa_render_leaderboard(&b, ch.title, &html_len);
            sa_challenge_row_free(&ch);
        }
        if (rc == 0 && !html) rc = sa_error_set(err, "phase %lld: cannot render its page",
                                                (long long)phase_id);
    }
    if (rc == 0) cache_put(ctx->cache, phase_id, version, json, strlen(json), html, html_len, b.n_rows);
    else free(json), free(html);
    sa_board_free(&b);
    return rc;
}

static int cache_get(const sa_server_ctx *ctx, sa_store *st, int64_t phase_id,
                     const cache_want *w, sa_error *err) {
    int64_t version;
    if (sa_store_results_version(st, phase_id, &version, err)) return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int hit = cache_copy(ctx->cache, phase_id, version, w);
        if (hit < 0) return sa_error_set(err, "out of memory");
        if (hit) return 0;
        if (cache_build(ctx, st, phase_id, version, err)) return -1;
    }
    return sa_error_set(err, "phase %lld: the cache lost its entry", (long long)phase_id);
}

int sa_page_board_json(const sa_server_ctx *ctx, sa_store *st, int64_t phase_id, char **json,
                       size_t *len, sa_error *err) {
    cache_want w = {json, NULL, len, NULL, NULL};
    *json = NULL;
    return cache_get(ctx, st, phase_id, &w, err);
}

/* ---- helpers every page shares ---- */

static int send_html(sa_http_response *res, int status, char *html, size_t len) {
    sa_web_set_body(res, status, "text/html; charset=utf-8", html, len);
    return 0;
}

int sa_page_send(sa_http_response *res, int status, char *html, size_t len) {
    if (!html) return sa_page_error(res, 500, "internal error: out of memory");
    return send_html(res, status, html, len);
}

int sa_page_finish(sa_web_call *call, sa_strbuf *b, int rc, const sa_error *err) {
    if (rc) {
        free(sa_strbuf_take(b, NULL));
        return sa_web_internal_error(call, err);
    }
    size_t len;
    char *html = sa_render_page_close(b, &len);
    return sa_page_send(call->res, 200, html, len);
}

static const char *status_words(int status) {
    switch (status) {
    case 400: return "Bad request";
    case 401: return "Log in first";
    case 403: return "Not allowed";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 409: return "Conflict";
    case 413: return "Too large";
    case 414: return "Too long";
    case 429: return "Too many requests";
    default: return status >= 500 ? "Server error" : "Error";
    }
}

int sa_page_error(sa_http_response *res, int status, const char *message) {
    sa_strbuf b = {0};
    char title[64];
    snprintf(title, sizeof title, "%d %s", status, status_words(status));
    sa_page_viewer nobody = {NULL, NULL, NULL, NULL};
    sa_render_page_open(&b, title, &nobody, 0);
    sa_strbuf_append(&b, "<h1>");
    sa_strbuf_append_html(&b, title);
    sa_strbuf_append(&b, "</h1>\n<p class=\"message\">");
    sa_strbuf_append_html(&b, message);
    sa_strbuf_append(&b, "</p>\n");
    if (status == 401) sa_strbuf_append(&b, "<p><a href=\"/login\">Log in</a></p>\n");
    sa_strbuf_append(&b, "<p><a href=\"/\">All challenges</a></p>\n");
    size_t len;
    char *html = sa_render_page_close(&b, &len);
    if (!html) return sa_web_json_error(res, 500, "out of memory");
    return send_html(res, status, html, len);
}

void sa_page_from_json_error(sa_http_response *res) {
    if (res->status < 400 || !res->content_type || strcmp(res->content_type, "application/json") ||
        !res->body)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(res->body, res->body_len, 0, &jerr);
    const char *message = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    char text[600];
    snprintf(text, sizeof text, "%s", message ? message : "error");
    json_decref(root);
    sa_page_error(res, res->status, text);
}

int sa_page_redirect(sa_http_response *res, const char *location) {
    snprintf(res->location, sizeof res->location, "%s", location);
    sa_strbuf b = {0};
    sa_strbuf_append(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
                         "<title>See other</title></head><body><p><a href=\"");
    sa_strbuf_append_html(&b, res->location);
    sa_strbuf_append(&b, "\">Go on</a></p></body></html>\n");
    size_t len;
    char *html = sa_strbuf_take(&b, &len);
    return sa_page_send(res, 303, html, len);
}

int sa_page_login_redirect(sa_web_call *call) {
    sa_strbuf b = {0};
    sa_strbuf_append(&b, "/login?next=");
    /* the path is a routed one: names and ids, '/' between them */
    sa_strbuf_append(&b, call->req->path);
    char *location = sa_strbuf_take(&b, NULL);
    int rc = sa_page_redirect(call->res, location && strlen(location) < sizeof call->res->location
                                             ? location : "/login");
    free(location);
    return rc;
}

static const char *role_name(sa_role role) {
    switch (role) {
    case SA_ROLE_ORGANISER: return "organiser";
    case SA_ROLE_CHALLENGER: return "challenger";
    default: return "public";
    }
}

void sa_page_viewer_of(const sa_web_call *call, const char *here, sa_page_viewer *out) {
    memset(out, 0, sizeof *out);
    out->here = here;
    if (call->who.role == SA_ROLE_PUBLIC) return;
    out->name = call->who.name;
    out->role = role_name(call->who.role);
    out->csrf = call->who.via_session ? call->who.csrf : NULL;
}

/* A page cached for the public, for this viewer: the header bar replaced and
 * the actions put at their mark. Takes html; NULL when out of memory. */
static char *personalise(const sa_web_call *call, char *html, size_t *len, const char *here,
                         const char *actions) {
    if (call->who.role == SA_ROLE_PUBLIC && !actions) return html;
    const char *bar = strstr(html, SA_PAGE_BAR_OPEN);
    const char *bar_end = bar ? strstr(bar, SA_PAGE_BAR_CLOSE) : NULL;
    const char *mark = bar_end ? strstr(bar_end, SA_PAGE_ACTIONS_MARK) : NULL;
    if (!bar_end) return html; /* not a framed page: as it is */
    sa_page_viewer viewer;
    sa_page_viewer_of(call, here, &viewer);
    sa_strbuf b = {0};
    sa_strbuf_appendf(&b, "%.*s", (int)(bar - html), html);
    sa_render_header_bar(&b, &viewer);
    const char *rest = bar_end + strlen(SA_PAGE_BAR_CLOSE);
    if (*rest == '\n') rest++;
    if (mark && actions) {
        sa_strbuf_appendf(&b, "%.*s", (int)(mark - rest), rest);
        sa_strbuf_append(&b, actions);
        rest = mark;
    }
    sa_strbuf_append(&b, rest);
    free(html);
    return sa_strbuf_take(&b, len);
}

/* ---- pages ---- */

static void free_page_challenges(sa_page_challenge *pc, size_t n) {
    for (size_t i = 0; pc && i < n; i++) free((void *)pc[i].phases);
    free(pc);
}

int sa_html_index(sa_web_call *call) {
    sa_error err;
    sa_challenge_row *chs = NULL;
    sa_phase_row *phases = NULL;
    size_t n_ch = 0, n_ph = 0;
    sa_page_challenge *pc = NULL;
    int rc = sa_store_challenge_list(call->st, &chs, &n_ch, &err);
    if (rc == 0) rc = sa_store_phase_list(call->st, 0, &phases, &n_ph, &err);
    if (rc == 0 && n_ch && !(pc = calloc(n_ch, sizeof *pc))) rc = sa_error_set(&err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n_ch; i++) {
        sa_page_phase *pp = calloc(n_ph + 1, sizeof *pp);
        if (!pp) {
            rc = sa_error_set(&err, "out of memory");
            break;
        }
        pc[i].slug = chs[i].slug;
        pc[i].title = chs[i].title;
        pc[i].description = chs[i].description;
        pc[i].phases = pp;
        for (size_t k = 0; rc == 0 && k < n_ph; k++) {
            if (phases[k].challenge_id != chs[i].id) continue;
            sa_subject about = {0, phases[k].published, 0, 0};
            if (!phases[k].published &&
                !sa_web_allowed(&call->who, SA_ACT_READ_UNPUBLISHED_BOARD, &about))
                continue;
            sa_phase_spec spec;
            sa_problems problems;
            sa_problems_init(&problems);
            int bad = sa_phase_spec_parse(phases[k].spec_json, phases[k].name, &spec, &problems,
                                          &err);
            sa_problems_free(&problems);
            size_t n_rows = 0;
            cache_want w = {NULL, NULL, NULL, NULL, &n_rows};
            if (bad || cache_get(call->ctx, call->st, phases[k].id, &w, &err)) {
                rc = -1;
                break;
            }
            sa_page_phase *p = &pp[pc[i].n_phases++];
            p->name = phases[k].name;
            p->title = spec.title[0] ? strdup(spec.title) : NULL;
            p->published = phases[k].published;
            p->n_rows = n_rows;
        }
    }
    char *html = NULL;
    size_t len = 0;
    if (rc == 0 && !(html = sa_render_challenges(pc, n_ch, &len)))
        rc = sa_error_set(&err, "cannot render the challenge list");
    for (size_t i = 0; pc && i < n_ch; i++)
        for (size_t k = 0; k < pc[i].n_phases; k++) free((void *)pc[i].phases[k].title);
    free_page_challenges(pc, n_ch);
    sa_phase_rows_free(phases, n_ph);
    sa_challenge_rows_free(chs, n_ch);
    if (rc) {
        sa_web_log(call->ctx, "GET /: %s", err.msg);
        return sa_page_error(call->res, 500, "internal error");
    }
    html = personalise(call, html, &len, "/", NULL);
    return sa_page_send(call->res, 200, html, len);
}

/* An unpublished phase (a hidden test phase) for a challenger whose team may
 * submit to it: the upload form and the phase's title, no results. 1 answered,
 * 0 not such a viewer or phase (the caller answers 404). */
static int hidden_phase_page(sa_web_call *call) {
    if (call->who.role != SA_ROLE_CHALLENGER || call->who.n_teams == 0) return 0;
    sa_phase_row row;
    sa_phase_spec spec;
    sa_problems problems;
    sa_error err;
    int found = sa_store_phase_get(call->st, call->arg[0], call->arg[1], &row, &err);
    if (found <= 0) return 0;
    sa_problems_init(&problems);
    int ok = sa_phase_spec_parse(row.spec_json, "stored spec", &spec, &problems, &err) == 0;
    sa_problems_free(&problems);
    int may_submit = 0;
    for (size_t i = 0; ok && i < call->who.n_teams && i < SA_WEB_MAX_TEAMS; i++) {
        sa_subject about;
        sa_web_subject(&row, &spec, call->who.teams[i], &about);
        may_submit |= sa_web_allowed(&call->who, SA_ACT_SUBMIT, &about);
    }
    if (!may_submit) {
        sa_phase_row_free(&row);
        return 0;
    }
    sa_page_viewer viewer;
    sa_page_viewer_of(call, call->req->path, &viewer);
    sa_strbuf b = {0};
    sa_render_page_open(&b, spec.title, &viewer, 0);
    sa_strbuf_append(&b, "<p><a href=\"/\">All challenges</a></p>\n<h1>");
    sa_strbuf_append_html(&b, spec.title);
    sa_strbuf_append(&b, "</h1>\n<p>The results of this phase are not published yet. Your team's "
                         "runs are on your submission pages.</p>\n");
    int rc = sa_page_upload_form(call, &row, &spec, &b);
    sa_phase_row_free(&row);
    size_t len = 0;
    char *html = sa_render_page_close(&b, &len);
    if (rc) {
        free(html);
        return 1; /* answered */
    }
    if (!html) return sa_page_error(call->res, 500, "internal error"), 1;
    sa_page_send(call->res, 200, html, len);
    return 1;
}

int sa_html_phase(sa_web_call *call) {
    sa_phase_row row;
    sa_phase_spec spec;
    if (!sa_web_phase_visible(call, call->arg[0], call->arg[1], &row, &spec)) {
        if (call->res->status == 404 && hidden_phase_page(call)) return 0;
        return sa_page_error(call->res, call->res->status,
                             call->res->status == 404 ? "no such phase" : "internal error");
    }
    sa_error err;
    char *html = NULL;
    size_t len = 0;
    cache_want w = {NULL, &html, NULL, &len, NULL};
    int rc = cache_get(call->ctx, call->st, row.id, &w, &err);
    if (rc) {
        sa_phase_row_free(&row);
        sa_web_log(call->ctx, "GET %s: %s", call->req->path, err.msg);
        return sa_page_error(call->res, 500, "internal error");
    }
    if (call->who.role != SA_ROLE_PUBLIC) {
        /* per request, never cached: the viewer's bar and upload form */
        sa_strbuf form = {0};
        rc = sa_page_upload_form(call, &row, &spec, &form);
        char *actions = sa_strbuf_take(&form, NULL);
        if (rc == 0 && actions) html = personalise(call, html, &len, call->req->path, actions);
        free(actions);
        if (rc) {
            sa_phase_row_free(&row);
            free(html);
            return 0; /* answered */
        }
    }
    sa_phase_row_free(&row);
    return sa_page_send(call->res, 200, html, len);
}
