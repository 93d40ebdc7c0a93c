/*
 * pages.c: the HTML pages (the challenge list, a phase's leaderboard) and the
 * cache of what is costly to compute: a phase's board (ranking and bootstrap)
 * as JSON and as its rendered page. An entry is kept under the phase's results
 * version (store/version.c), so a new result, run, selection, spec change or
 * publication makes the next request build it again. What is cached is the same
 * for every viewer (no per-case values, nothing that depends on who asks); who
 * may see it is decided before the cache is asked.
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

/* ---- pages ---- */

static int send_html(sa_http_response *res, int status, char *html, size_t len) {
    sa_web_set_body(res, status, "text/html; charset=utf-8", html, len);
    return 0;
}

int sa_page_error(sa_http_response *res, int status, const char *message) {
    sa_strbuf b = {0};
    sa_strbuf_appendf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<title>%d</title></head><body><h1>%d</h1><p>",
                      status, status);
    sa_strbuf_append_html(&b, message);
    sa_strbuf_append(&b, "</p><p><a href=\"/\">SegArena</a></p></body></html>\n");
    size_t len;
    char *html = sa_strbuf_take(&b, &len);
    if (!html) return sa_web_json_error(res, 500, "out of memory");
    return send_html(res, status, html, len);
}

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
    return send_html(call->res, 200, html, len);
}

int sa_html_phase(sa_web_call *call) {
    sa_phase_row row;
    sa_phase_spec spec;
    if (!sa_web_phase_visible(call, call->arg[0], call->arg[1], &row, &spec))
        return sa_page_error(call->res, call->res->status,
                             call->res->status == 404 ? "no such phase" : "internal error");
    sa_error err;
    char *html = NULL;
    size_t len = 0;
    cache_want w = {NULL, &html, NULL, &len, NULL};
    int rc = cache_get(call->ctx, call->st, row.id, &w, &err);
    sa_phase_row_free(&row);
    if (rc) {
        sa_web_log(call->ctx, "GET %s: %s", call->req->path, err.msg);
        return sa_page_error(call->res, 500, "internal error");
    }
    return send_html(call->res, 200, html, len);
}
