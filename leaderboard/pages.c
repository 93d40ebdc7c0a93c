/*
 * pages.c: the HTML pages (the challenge list, a phase's leaderboard), the
 * leaderboard page served from the page cache (page_cache.c), and the helpers
 * every page shares: error pages, redirects, the viewer of the header bar. The
 * cached page is the public's view: the public gets it as it is (shared, not
 * copied, gzip'd when the client takes it); for a logged-in viewer the header
 * bar and the upload form are put into a copy per request, at the marks
 * render_page.c leaves, and never cached. Who may see it is decided before the
 * cache is asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

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

/* A page rendered for the public (html, len bytes), for this viewer: the
 * header bar replaced and the actions put at their mark. A new malloc'ed
 * text, NULL when out of memory. */
static char *personalise(const sa_web_call *call, const char *html, size_t len, size_t *out_len,
                         const char *here, const char *actions) {
    const char *bar = strstr(html, SA_PAGE_BAR_OPEN);
    const char *bar_end = bar ? strstr(bar, SA_PAGE_BAR_CLOSE) : NULL;
    const char *mark = bar_end ? strstr(bar_end, SA_PAGE_ACTIONS_MARK) : NULL;
    sa_strbuf b = {0};
    if (!bar_end) { /* not a framed page: as it is */
        sa_strbuf_appendf(&b, "%.*s", (int)len, html);
        return sa_strbuf_take(&b, out_len);
    }
    sa_page_viewer viewer;
    sa_page_viewer_of(call, here, &viewer);
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
    return sa_strbuf_take(&b, out_len);
}

/* ---- pages ---- */

static void free_page_challenges(sa_page_challenge *pc, size_t n) {
    for (size_t i = 0; pc && i < n; i++) free((void *)pc[i].phases);
    free(pc);
}

int sa_html_index(sa_web_call *call) {
    sa_error err = {{0}};
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
            sa_cached_board board;
            if (sa_page_cache_spec(call->ctx, &phases[k], &spec, &err) ||
                sa_page_cache_board(call->ctx, call->st, phases[k].id, 0, NULL, &board, &err)) {
                rc = -1;
                break;
            }
            size_t n_rows = board.n_rows;
            sa_cached_board_release(&board);
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
    if (html && call->who.role != SA_ROLE_PUBLIC) {
        size_t plen = 0;
        char *mine = personalise(call, html, len, &plen, "/", NULL);
        free(html);
        html = mine;
        len = plen;
    }
    return sa_page_send(call->res, 200, html, len);
}

/* An unpublished phase (a hidden test phase) for a challenger whose team may
 * submit to it, while it takes submissions: the upload form and the phase's
 * title, no results. 1 answered, 0 not such a viewer or phase, or not open now
 * (the caller answers 404: a phase not open yet is not revealed). */
static int hidden_phase_page(sa_web_call *call) {
    if (call->who.role != SA_ROLE_CHALLENGER || call->who.n_teams == 0) return 0;
    sa_phase_row row;
    sa_phase_spec spec;
    sa_error err = {{0}};
    int found = sa_store_phase_get(call->st, call->arg[0], call->arg[1], &row, &err);
    if (found <= 0) return 0;
    int ok = sa_page_cache_spec(call->ctx, &row, &spec, &err) == 0 &&
             sa_web_unpublished_open(call, &spec, sa_store_now());
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
    sa_error err = {{0}};
    sa_cached_board board;
    unsigned want = SA_CACHED_HTML | (call->who.role == SA_ROLE_PUBLIC ? SA_CACHED_GZIP : 0);
    int got = sa_page_cache_board(call->ctx, call->st, row.id, want, call->req->suspend, &board, &err);
    if (got == 1) { /* resumed when the board is built: then handled again */
        sa_phase_row_free(&row);
        call->res->suspended = 1;
        return 0;
    }
    if (got) {
        sa_phase_row_free(&row);
        sa_web_log(call->ctx, "GET %s: %s", call->req->path, err.msg);
        return sa_page_error(call->res, 500, "internal error");
    }
    if (call->who.role == SA_ROLE_PUBLIC) {
        /* the cached page as it is */
        sa_phase_row_free(&row);
        sa_page_send_cached(call->req, call->res, "text/html; charset=utf-8", board.html,
                            board.html_gz);
        return 0;
    }
    /* per request, never cached: the viewer's bar and upload form */
    sa_strbuf form = {0};
    int rc = sa_page_upload_form(call, &row, &spec, &form);
    sa_phase_row_free(&row);
    char *actions = sa_strbuf_take(&form, NULL);
    char *html = NULL;
    size_t len = 0;
    if (rc == 0 && actions)
        html = personalise(call, sa_shared_body_data(board.html),
                           sa_shared_body_len(board.html), &len, call->req->path, actions);
    free(actions);
    sa_cached_board_release(&board);
    if (rc) return 0; /* answered */
    return sa_page_send(call->res, 200, html, len);
}
