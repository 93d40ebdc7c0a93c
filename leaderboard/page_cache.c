/*
 * page_cache.c: the cache of what is costly to compute for a phase: its board
 * (ranking and bootstrap, about a second on a large phase) as JSON and as its
 * rendered page, each also gzip'd, and the phase's parsed spec. An entry is
 * kept under the phase's results version (store/version.c), so a new done run,
 * selection, spec change or publication makes the next request build it again.
 * What is cached is the same for every viewer (no per-case values, in a hidden
 * phase no median, std or CI over fewer than 4 values: sa_board_public_view; nothing
 * that depends on who asks): the public's view; who may see it is decided before
 * the cache is asked.
 *
 * Bodies are shared (shared_body.c): a hit takes references, never copies. A
 * miss is built by one thread at a time per phase: the other requests for the
 * phase meanwhile get the entry of the version before when there is one (the
 * board as it was a moment ago), or wait for that one build; so a change under
 * load costs one build, not one per HTTP thread.
 *
 * The request that finds the board out of date does not build it on its HTTP
 * thread when it can be suspended (its server gives a handle): the cache's
 * builder thread, with its own store connection, builds it, and the request is
 * resumed when the build is done, answered with the new board (so a change is
 * on the very next answer), while its HTTP thread goes on serving its other
 * connections. Without a handle, a builder thread or room in its queue, the
 * request builds the board itself, as before; so does a request for a version
 * whose background build failed, so that the failure reaches it (500).
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define CACHE_ENTRIES 64
#define BUILD_QUEUE CACHE_ENTRIES /* phases queued for the builder thread: one each at most */
#define SUSPENDED_MAX 16          /* requests suspended on one phase's build */

typedef struct cache_entry {
    int64_t phase_id; /* 0: free */
    uint64_t last_used;
    /* the board, as of version; json NULL until built once */
    int64_t version;
    sa_shared_body *json, *html, *json_gz, *html_gz;
    size_t n_rows;
    int building;     /* one thread builds it now */
    uint64_t builds;  /* builds ended, well or not */
    int last_failed;  /* the last one failed, with this message: */
    char last_error[512];
    void *suspended[SUSPENDED_MAX]; /* requests to resume when the builder thread is done */
    size_t n_suspended;
    /* the phase's spec as last parsed: the stored text and what it gave */
    char *spec_json;
    sa_phase_spec spec;
} cache_entry;

struct sa_page_cache {
    pthread_mutex_t lock;
    pthread_cond_t built; /* a build ended (well or not) */
    uint64_t clock;
    cache_entry entries[CACHE_ENTRIES];
    /* the builder thread */
    char *data_dir;
    void (*suspend)(void *handle); /* suspends a request (on its own HTTP thread) */
    void (*resume)(void *handle);  /* resumes it (from the builder thread) */
    pthread_t builder;
    int builder_running, stop;
    pthread_cond_t work; /* a phase was queued, or stop */
    int64_t queue[BUILD_QUEUE];
    size_t queued;
};

static void *builder_main(void *arg);

sa_page_cache *sa_page_cache_new(const char *data_dir, void (*suspend)(void *handle), void (*resume)(void *handle)) {
    sa_page_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    if (pthread_cond_init(&c->built, NULL) != 0 || pthread_cond_init(&c->work, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    /* without a builder thread every build runs on the request that needs it */
    c->suspend = suspend, c->resume = resume;
    c->data_dir = data_dir && suspend && resume ? strdup(data_dir) : NULL;
    if (c->data_dir) c->builder_running = pthread_create(&c->builder, NULL, builder_main, c) == 0;
    return c;
}

/* Resumes the requests suspended on an entry (under the lock). */
static void resume_all(sa_page_cache *c, cache_entry *e) {
    for (size_t i = 0; i < e->n_suspended; i++) c->resume(e->suspended[i]);
    e->n_suspended = 0;
}

void sa_page_cache_stop_builder(sa_page_cache *c) {
    if (!c || !c->builder_running) return;
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->builder, NULL);
    c->builder_running = 0;
    /* what was still queued: its requests resumed (they then build, or are closed) */
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < CACHE_ENTRIES; i++)
        if (c->entries[i].n_suspended) {
            c->entries[i].building = 0;
            resume_all(c, &c->entries[i]);
        }
    c->queued = 0;
    pthread_mutex_unlock(&c->lock);
}

static void drop_board(cache_entry *e) {
    sa_shared_body_unref(e->json);
    sa_shared_body_unref(e->html);
    sa_shared_body_unref(e->json_gz);
    sa_shared_body_unref(e->html_gz);
    e->json = e->html = e->json_gz = e->html_gz = NULL;
    e->version = 0;
    e->n_rows = 0;
}

static void entry_clear(cache_entry *e) {
    drop_board(e);
    free(e->spec_json);
    memset(e, 0, sizeof *e);
}

void sa_page_cache_free(sa_page_cache *c) {
    if (!c) return;
    sa_page_cache_stop_builder(c);
    free(c->data_dir);
    for (size_t i = 0; i < CACHE_ENTRIES; i++) entry_clear(&c->entries[i]);
    pthread_cond_destroy(&c->work);
    pthread_cond_destroy(&c->built);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void sa_cached_board_release(sa_cached_board *b) {
    sa_shared_body_unref(b->json);
    sa_shared_body_unref(b->html);
    sa_shared_body_unref(b->json_gz);
    sa_shared_body_unref(b->html_gz);
    memset(b, 0, sizeof *b);
}

/* ---- entries (under the lock) ---- */

static cache_entry *find_entry(sa_page_cache *c, int64_t phase_id) {
    for (size_t i = 0; i < CACHE_ENTRIES; i++)
        if (c->entries[i].phase_id == phase_id) return &c->entries[i];
    return NULL;
}

/* The phase's entry, else a free one, else the least recently used one that
 * is not being built (emptied for the phase); NULL when every entry is being
 * built. */
static cache_entry *claim_entry(sa_page_cache *c, int64_t phase_id) {
    cache_entry *e = find_entry(c, phase_id);
    if (e) return e;
    for (size_t i = 0; i < CACHE_ENTRIES && !e; i++)
        if (!c->entries[i].phase_id) e = &c->entries[i];
    if (!e) { /* the least recently used entry not being built */
        cache_entry *oldest = NULL;
        for (size_t i = 0; i < CACHE_ENTRIES; i++) {
            cache_entry *x = &c->entries[i];
            if (!x->building && (!oldest || x->last_used < oldest->last_used)) oldest = x;
        }
        e = oldest;
    }
    if (!e) return NULL;
    entry_clear(e);
    e->phase_id = phase_id;
    return e;
}

/* References to what the lookup wants of a built entry. */
static void take_board(const cache_entry *e, unsigned want, sa_cached_board *out) {
    memset(out, 0, sizeof *out);
    if (want & SA_CACHED_JSON) {
        out->json = sa_shared_body_ref(e->json);
        if (want & SA_CACHED_GZIP) out->json_gz = sa_shared_body_ref(e->json_gz);
    }
    if (want & SA_CACHED_HTML) {
        out->html = sa_shared_body_ref(e->html);
        if (want & SA_CACHED_GZIP) out->html_gz = sa_shared_body_ref(e->html_gz);
    }
    out->n_rows = e->n_rows;
}

/* ---- building (outside the lock) ---- */

/* The gzip'd copy of a body, or NULL (then the plain one is sent). */
static sa_shared_body *gzip_copy(const sa_shared_body *plain) {
    char *gz;
    size_t gz_len;
    if (sa_web_gzip(sa_shared_body_data(plain), sa_shared_body_len(plain), &gz, &gz_len)) return NULL;
    return sa_shared_body_new(gz, gz_len);
}

/* Builds the phase's board, its JSON and page and their gzip'd copies, into
 * out (all four references the caller's). 0 or -1. */
static int build_board(sa_store *st, int64_t phase_id, sa_cached_board *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    sa_board b;
    if (sa_board_build(st, phase_id, 0, &b, err)) return -1;
    sa_board_public_view(&b); /* the same for every viewer: nothing of one hidden case */
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
        if (rc == 0 && !html)
            rc = sa_error_set(err, "phase %lld: cannot render its page", (long long)phase_id);
    }
    out->n_rows = b.n_rows;
    sa_board_free(&b);
    if (rc) {
        free(json);
        free(html);
        return -1;
    }
    out->json = sa_shared_body_new(json, strlen(json));
    out->html = sa_shared_body_new(html, html_len);
    if (!out->json || !out->html) {
        sa_cached_board_release(out);
        return sa_error_set(err, "out of memory");
    }
    out->json_gz = gzip_copy(out->json);
    out->html_gz = gzip_copy(out->html);
    return 0;
}

/* Puts a finished build into its entry and wakes the threads and requests
 * waiting for it (under the lock). version: what it was built from; rc: 0 built
 * (built holds it; the entry takes its own references), else err says why. */
static void finish_build(sa_page_cache *c, cache_entry *e, int64_t version, int rc, const sa_cached_board *built,
                         const sa_error *err) {
    e->building = 0;
    e->builds++;
    e->last_failed = rc != 0;
    if (rc) {
        snprintf(e->last_error, sizeof e->last_error, "%s", err ? err->msg : "the board could not be built");
    } else {
        drop_board(e);
        e->version = version;
        e->json = sa_shared_body_ref(built->json);
        e->html = sa_shared_body_ref(built->html);
        e->json_gz = sa_shared_body_ref(built->json_gz);
        e->html_gz = sa_shared_body_ref(built->html_gz);
        e->n_rows = built->n_rows;
    }
    pthread_cond_broadcast(&c->built);
    resume_all(c, e);
}

/* The builder thread: builds the queued phases one at a time with its own
 * store connection (opened at its first build), from the version it reads. */
static void *builder_main(void *arg) {
    sa_page_cache *c = arg;
    sa_store *st = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->stop && c->queued == 0) pthread_cond_wait(&c->work, &c->lock);
        if (c->stop) break;
        int64_t phase_id = c->queue[0];
        memmove(c->queue, c->queue + 1, (c->queued - 1) * sizeof *c->queue);
        c->queued--;
        cache_entry *e = find_entry(c, phase_id);
        int64_t version = e ? e->version : 0; /* replaced by what the builder reads */
        pthread_mutex_unlock(&c->lock);

        sa_error err = {{0}};
        sa_cached_board built;
        memset(&built, 0, sizeof built);
        int rc = !st && sa_store_open(c->data_dir, 0, &st, &err) ? -1 : 0;
        if (rc == 0) rc = sa_store_results_version(st, phase_id, &version, &err);
        if (rc == 0) rc = build_board(st, phase_id, &built, &err);

        pthread_mutex_lock(&c->lock);
        e = find_entry(c, phase_id); /* an entry being built is never evicted */
        /* after a failure (last_failed) the resumed requests build the board
         * themselves, so that its error reaches them */
        if (e && e->building) finish_build(c, e, version, rc, &built, &err);
        if (rc == 0) sa_cached_board_release(&built);
    }
    pthread_mutex_unlock(&c->lock);
    sa_store_close(st);
    return NULL;
}

/* ---- look-ups ---- */

int sa_page_cache_board(const sa_server_ctx *ctx, sa_store *st, int64_t phase_id, unsigned want,
                        void *suspend, sa_cached_board *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    int64_t version;
    if (sa_store_results_version(st, phase_id, &version, err)) return -1;
    sa_page_cache *c = ctx->cache;
    pthread_mutex_lock(&c->lock);
    cache_entry *e;
    uint64_t waited_for = 0;
    int waited = 0;
    for (;;) {
        e = claim_entry(c, phase_id);
        if (e && e->json && (e->version == version || e->building)) {
            /* current; or, while another thread builds the new one, as it was */
            e->last_used = ++c->clock;
            take_board(e, want, out);
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        if (e && suspend && !e->building && !e->last_failed && c->builder_running && !c->stop &&
            c->queued < BUILD_QUEUE) {
            /* out of date (or never built): the builder thread builds it; this
             * request is resumed then, and asks again */
            e->building = 1;
            e->last_used = ++c->clock;
            /* suspended before the builder can resume it: both under the lock */
            c->suspend(suspend);
            e->suspended[e->n_suspended++] = suspend;
            c->queue[c->queued++] = phase_id;
            pthread_cond_signal(&c->work);
            pthread_mutex_unlock(&c->lock);
            return 1;
        }
        if (e && suspend && e->building && e->n_suspended > 0 && e->n_suspended < SUSPENDED_MAX) {
            /* the builder thread builds it already, and there is no board to give meanwhile */
            c->suspend(suspend);
            e->suspended[e->n_suspended++] = suspend;
            pthread_mutex_unlock(&c->lock);
            return 1;
        }
        if (waited && e && e->builds != waited_for && e->last_failed) {
            /* the build this request waited for failed: its error, not one more try
             * (each waiter would otherwise fail the same build again in turn) */
            sa_error_set(err, "%s", e->last_error);
            pthread_mutex_unlock(&c->lock);
            return -1;
        }
        if (!e || !e->building) break;
        waited_for = e->builds, waited = 1;
        pthread_cond_wait(&c->built, &c->lock); /* nothing built yet: wait for the one build */
    }
    if (e) {
        e->building = 1;
        e->last_used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);

    sa_cached_board built;
    int rc = build_board(st, phase_id, &built, err);

    pthread_mutex_lock(&c->lock);
    if (e) finish_build(c, e, version, rc, &built, err);
    pthread_mutex_unlock(&c->lock);
    if (rc) return -1;
    /* what was asked of what was built */
    sa_cached_board mine = built;
    memset(&built, 0, sizeof built);
    if (!(want & SA_CACHED_JSON)) sa_shared_body_unref(mine.json), mine.json = NULL;
    if (!(want & SA_CACHED_HTML)) sa_shared_body_unref(mine.html), mine.html = NULL;
    if (!(want & SA_CACHED_JSON) || !(want & SA_CACHED_GZIP))
        sa_shared_body_unref(mine.json_gz), mine.json_gz = NULL;
    if (!(want & SA_CACHED_HTML) || !(want & SA_CACHED_GZIP))
        sa_shared_body_unref(mine.html_gz), mine.html_gz = NULL;
    *out = mine;
    return 0;
}

int sa_page_cache_spec(const sa_server_ctx *ctx, const sa_phase_row *row, sa_phase_spec *spec,
                       sa_error *err) {
    sa_page_cache *c = ctx->cache;
    if (c && row->spec_json) {
        int hit = 0;
        pthread_mutex_lock(&c->lock);
        cache_entry *e = find_entry(c, row->id);
        if (e && e->spec_json && !strcmp(e->spec_json, row->spec_json)) {
            *spec = e->spec;
            e->last_used = ++c->clock;
            hit = 1;
        }
        pthread_mutex_unlock(&c->lock);
        if (hit) return 0;
    }
    /* the stored spec is canonical JSON, so problems are not expected */
    sa_problems problems;
    sa_problems_init(&problems);
    int rc = sa_phase_spec_parse(row->spec_json, row->name, spec, &problems, err);
    sa_problems_free(&problems);
    if (rc || !c || !row->spec_json) return rc;
    char *text = strdup(row->spec_json);
    if (!text) return 0; /* parsed; just not kept */
    pthread_mutex_lock(&c->lock);
    cache_entry *e = claim_entry(c, row->id);
    if (e) {
        free(e->spec_json);
        e->spec_json = text;
        e->spec = *spec;
        e->last_used = ++c->clock;
        text = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(text);
    return 0;
}

void sa_page_send_cached(const sa_http_request *req, sa_http_response *res,
                         const char *content_type, sa_shared_body *plain, sa_shared_body *gz) {
    int use_gz = gz && req->accept_gzip;
    sa_web_set_shared_body(res, 200, content_type, use_gz ? gz : plain, use_gz ? "gzip" : NULL,
                           gz != NULL);
    sa_shared_body_unref(use_gz ? plain : gz);
}
