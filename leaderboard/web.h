/*
 * web.h: what the files of leaderboard/ share (not part of the public API):
 * the request and response the handlers see, who is asking (identity), the one
 * place permissions are decided, authentication, and the pure HTML/SVG rendering
 * of the evaluator's boards.
 *
 *   server.c      libmicrohttpd daemon: reads requests (bodies capped; uploads
 *                 streamed to disk), calls sa_web_handle, sends
 *   router.c      sa_web_handle: method + path -> handler, JSON errors (HTML
 *                 error pages outside /api)
 *   api_*.c       /api/v1 handlers (jansson)
 *   pages.c       HTML pages (through render_*.c)
 *   page_cache.c  the cache of built boards (JSON and page, gzip'd too) and
 *                 parsed phase specs; one rebuild at a time per phase
 *   shared_body.c reference-counted bodies the cache and responses share
 *   pages_*.c     the browser's pages: log-in, upload form, submission, run
 *   upload_form.c the upload form's multipart body, streamed (MHD post processor)
 *   render_page.c the frame every page shares (head, style, header bar)
 *   render_html.c, render_svg.c, escape.c   pure rendering, escaping
 *   utf8.c        text made valid UTF-8 (U+FFFD) for JSON and pages
 *   run_view.c    how much of a run's progress a viewer sees (hidden phases)
 *   auth.c        passwords (Argon2id), API tokens, sessions, CSRF, rate limits
 *   forwarded.c   the client's address behind trusted proxies; log-in CSRF
 *   permissions.c sa_web_allowed: role x action, the only place that decides
 */
#ifndef SEGARENA_WEB_H
#define SEGARENA_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "evaluator.h"
#include "leaderboard.h"
#include "store.h"

/* ---- requests and responses ---- */

typedef struct sa_http_request {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* "/api/v1/challenges" (no query) */
    const char *query;         /* raw query string or NULL */
    const char *authorization; /* header value or NULL */
    const char *cookie;        /* header value or NULL */
    const char *csrf_token;    /* X-CSRF-Token header, or the form's csrf field */
    const char *content_type;
    const char *body;          /* small bodies (JSON, forms), NUL-terminated */
    size_t body_len;
    /* the small fields of a multipart upload form ("csrf=...&team=...", URL-
     * encoded like a query), or NULL; an urlencoded body is read from body */
    const char *form;
    const char *upload_path;   /* a streamed upload already on disk, or NULL */
    uint64_t upload_bytes;
    const char *client_ip;     /* the client's address (forwarded.c: behind a
                                * trusted proxy, from X-Forwarded-For) */
    const char *host;          /* the site's host[:port] as the client named it:
                                * X-Forwarded-Host (else Host) with X-Forwarded-Port
                                * from a trusted proxy (sa_forwarded_host), else Host */
    const char *scheme;        /* "http"/"https" from a trusted proxy's
                                * X-Forwarded-Proto, else NULL (unknown) */
    const char *origin;        /* Origin header or NULL */
    const char *sec_fetch_site; /* Sec-Fetch-Site header or NULL */
    int accept_gzip;           /* Accept-Encoding names gzip (not with q=0) */
    void *suspend;             /* the server's handle to suspend this request on a
                                * leaderboard build, or NULL (page_cache.c) */
} sa_http_request;

/* An immutable body shared by the page cache and the responses sending it
 * (shared_body.c): counted by references, freed with the last one. */
typedef struct sa_shared_body sa_shared_body;
/* Takes a malloc'ed buffer (NULL: returns NULL); NULL when out of memory (the
 * buffer freed). One reference, the caller's. */
sa_shared_body *sa_shared_body_new(char *data, size_t len);
sa_shared_body *sa_shared_body_ref(sa_shared_body *b); /* returns b; NULL: nothing */
void sa_shared_body_unref(sa_shared_body *b);          /* NULL: nothing */
const char *sa_shared_body_data(const sa_shared_body *b);
size_t sa_shared_body_len(const sa_shared_body *b);

typedef struct sa_http_response {
    int status;
    const char *content_type; /* static string */
    char *body;               /* malloc'ed */
    size_t body_len;
    /* instead of body: a shared body sent as it is (the response holds one
     * reference, which the server gives back once the body is sent) */
    sa_shared_body *shared;
    const char *content_encoding; /* static string ("gzip") or NULL */
    int vary_encoding;        /* 1: the body depends on Accept-Encoding */
    char set_cookie[512];     /* "" or a Set-Cookie value */
    char retry_after[32];     /* "" or seconds (429) */
    char location[256];       /* "" or a redirect target */
    int suspended;            /* 1: no answer yet: the request waits for a build and
                               * is handled again when resumed */
} sa_http_response;

/* Sets a JSON error {"error": {"status": N, "message": "..."}}. Returns 0. */
int sa_web_json_error(sa_http_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes ownership of a malloc'ed body (any body held before is dropped). */
void sa_web_set_body(sa_http_response *res, int status, const char *content_type, char *body,
                     size_t len);
/* Takes one reference of a shared body (NULL: 500), sent as it is with the
 * encoding (NULL or "gzip"); vary_encoding 1 when another client would get
 * another encoding. */
void sa_web_set_shared_body(sa_http_response *res, int status, const char *content_type,
                            sa_shared_body *body, const char *encoding, int vary_encoding);
/* Drops what the response holds (body or shared body). */
void sa_web_response_clear(sa_http_response *res);

/* ---- who is asking ---- */

typedef enum sa_role {
    SA_ROLE_PUBLIC,      /* no account */
    SA_ROLE_CHALLENGER,
    SA_ROLE_ORGANISER
} sa_role;

#define SA_WEB_MAX_TEAMS 16

typedef struct sa_identity {
    sa_role role;
    int64_t user_id;      /* 0 for the public */
    char name[64];
    int64_t teams[SA_WEB_MAX_TEAMS];
    size_t n_teams;
    int via_session;      /* 1: browser session cookie (CSRF applies to writes) */
    char csrf[80];        /* the session's CSRF token */
} sa_identity;

/* ---- permissions: the only place that decides (permissions.c) ---- */

typedef enum sa_action {
    SA_ACT_READ_PUBLISHED_BOARD,  /* aggregates and ranks of a published phase */
    SA_ACT_READ_UNPUBLISHED_BOARD,
    SA_ACT_LIST_CHALLENGES,
    SA_ACT_SUBMIT,                /* upload to a phase (team member) */
    SA_ACT_READ_OWN_SUBMISSION,   /* status, counts per class, aggregates */
    SA_ACT_READ_CASE_DETAILS,     /* per-case class, timings, scores */
    SA_ACT_READ_LOGS,
    SA_ACT_MANAGE_RUNS,           /* launch, cancel, rescore, rerun */
    SA_ACT_PUBLISH,
    SA_ACT_LIST_DATASETS,
    SA_ACT_MANAGE_USERS,
    SA_ACT_EXPORT_BOARD,          /* full leaderboard export */
    SA_ACT_READ_SERVER_STATUS     /* job and run counts of /api/v1/health, /metrics */
} sa_action;

/* What the action is about, where it matters. */
typedef struct sa_subject {
    int64_t team_id;          /* the submission's team; 0: none */
    int phase_published;
    int show_case_details;    /* the phase's spec */
    int show_logs;
} sa_subject;

/* 1 allowed, 0 not. Follows ../shared/spec/container-contract.md "Who sees
 * what": organisers everything; a challenger its own team's submissions, per-case
 * details only where the phase shows them, logs only with show_logs too; the
 * public published boards only. */
int sa_web_allowed(const sa_identity *who, sa_action action, const sa_subject *about);

/* ---- authentication (auth.c) ---- */

/* Argon2id (libsodium crypto_pwhash_str, interactive limits). 0 or -1. */
int sa_auth_hash_password(const char *password, char out[128], sa_error *err);
int sa_auth_check_password(const char *hash, const char *password);
/* Who the request is: a Bearer token, else a session cookie, else the public.
 * An invalid token or session is an error (401), not the public. */
int sa_auth_identify(sa_store *st, const sa_http_request *req, sa_identity *who, sa_error *err);
/* sa_auth_check_password returns 1 when the password matches, 0 otherwise (a NULL
 * hash, a token-only user, never matches). sa_auth_hash_password refuses
 * passwords shorter than SA_AUTH_MIN_PASSWORD or longer than SA_AUTH_MAX_PASSWORD
 * bytes. sa_auth_identify fills the role from the user's role and the teams
 * from their memberships (at most SA_WEB_MAX_TEAMS); its -1 is also returned,
 * with the store's message, when the database fails. */
#define SA_AUTH_MIN_PASSWORD 8
#define SA_AUTH_MAX_PASSWORD 1024
#define SA_AUTH_SESSION_COOKIE "segarena_session"
#define SA_AUTH_SESSION_SECONDS 43200      /* 12 h, fixed (not extended by use) */
#define SA_AUTH_LOGIN_WINDOW_SECONDS 900   /* failed logins count for 15 min */
#define SA_AUTH_MAX_FAILED_PER_USER 5       /* closes the name to unknown addresses */
#define SA_AUTH_MAX_FAILED_PER_USER_ALL 25  /* closes the name to every address */
#define SA_AUTH_MAX_FAILED_PER_IP 20
#define SA_AUTH_KNOWN_ADDRESS_SECONDS (30.0 * 86400.0) /* a log-in makes its address known */

/* sha256 of a secret (token or session value) in lower-case hex: what the
 * store keeps instead of the secret. 0 or -1 (libsodium failed to start). */
int sa_auth_secret_hash(const char *secret, char hex[65]);
/* A new API token of the user: "sa_" + 43 base64url characters (32 random
 * bytes). Only its hash is stored, so token_out is the one chance to see it. */
int sa_auth_new_token(sa_store *st, int64_t user_id, const char *label, char token_out[80],
                      sa_error *err);
/* A password login. Rate limited first (counts within the window): when the
 * address (an IPv6 one by its /64) has SA_AUTH_MAX_FAILED_PER_IP failed
 * attempts; when the name has SA_AUTH_MAX_FAILED_PER_USER_ALL; or when the name
 * has SA_AUTH_MAX_FAILED_PER_USER and the address is not known for it (no
 * successful log-in to the name from there within SA_AUTH_KNOWN_ADDRESS_SECONDS)
 * or has itself SA_AUTH_MAX_FAILED_PER_USER failures on it (so that nobody can
 * lock the owner out by failing on its name, and more addresses give no more
 * guesses), returns 1 with *retry_after (seconds, >= 1) and checks nothing, not
 * even a right password. Otherwise the attempt is recorded (pending) for the
 * name, the address and the pair in the same store transaction as the counts
 * (sa_store_login_attempt_reserve), so that attempts made in parallel cannot
 * pass the limits together. Then the password (an unknown user or one without a
 * password costs the same verification against a dummy hash): wrong returns 2
 * and the pending attempt stays as a failure; right removes it, forgets this
 * address's failures on the name, marks the address known for the name, creates
 * a session (expires in SA_AUTH_SESSION_SECONDS), writes the cookie value (43
 * base64url characters; only its hash is stored) and the session's CSRF token,
 * and returns 0. -1 on errors. client_ip (the client's address, forwarded.c)
 * may be NULL; retry_after may be NULL. */
int sa_auth_login(sa_store *st, const char *name, const char *password, const char *client_ip,
                  char cookie_value_out[128], char csrf_out[80], double *retry_after,
                  sa_error *err);
/* Ends the session named by the Cookie header, if any (no session: nothing to
 * do). 0 or -1. */
int sa_auth_logout(sa_store *st, const char *cookie_header, sa_error *err);
/* The Set-Cookie value for a session: "segarena_session=V; HttpOnly;
 * SameSite=Strict; Path=/; Max-Age=43200", plus "; Secure" when the environment
 * has SEGARENA_SECURE_COOKIES=1. A NULL or empty value gives the cookie that
 * clears it (Max-Age=0), for logout. 0, or -1 when it does not fit. */
int sa_auth_session_cookie(const char *value, char *out, size_t size);
/* 1 when a write by this identity may go ahead: always for token (and public)
 * identities; for a session, only with its CSRF token (constant-time compare). */
int sa_auth_csrf_ok(const sa_identity *who, const char *token);

/* ---- the client behind a reverse proxy, and log-in CSRF (forwarded.c) ---- */

/* An IPv4 or IPv6 network (an address: the full prefix). */
typedef struct sa_net {
    int family; /* AF_INET, AF_INET6 */
    unsigned char bytes[16];
    int prefix;
} sa_net;
#define SA_MAX_TRUSTED_PROXIES 32
#define SA_ADDR_TEXT 64 /* an address as text, with room */
typedef struct sa_trusted_proxies {
    sa_net nets[SA_MAX_TRUSTED_PROXIES];
    size_t n;
} sa_trusted_proxies;
/* Parses "ADDRESS[/PREFIX],..." (IPv4 or IPv6; an IPv4-mapped IPv6 address is
 * taken as IPv4). NULL or "": none. 0, or -1 with err naming the entry. */
int sa_trusted_proxies_parse(const char *list, sa_trusted_proxies *out, sa_error *err);
/* 1 when the address (text) is in one of the trusted networks. */
int sa_is_trusted_proxy(const sa_trusted_proxies *tp, const char *addr);
/* The client's address, normalised (inet_ntop; IPv4-mapped as IPv4): the peer's,
 * or, when the peer is a trusted proxy, the right-most address of the
 * X-Forwarded-For values (xff: the header's values in the order received, each
 * a comma-separated list) that is not itself a trusted proxy; when every one
 * is, the left-most; an entry that is not an address stops the walk at the
 * last address believed. tp NULL or empty: always the peer. */
void sa_client_address(const sa_trusted_proxies *tp, const char *peer, const char *const *xff,
                       size_t n_xff, char out[SA_ADDR_TEXT]);
/* The site's host[:port] as a trusted proxy forwards it, into out: host (the
 * last X-Forwarded-Host value, else Host), with ":port" added when host names no
 * port and port (the last X-Forwarded-Port value, or NULL) is a number from 1 to
 * 65535 (nginx's $host has no port, its $server_port gives it); else host as it
 * is. */
void sa_forwarded_host(const char *host, const char *port, char *out, size_t cap);
/* 1 when a log-in may come from this browser request: not Sec-Fetch-Site:
 * cross-site, and no Origin or the site's own (scheme, host and port, compared
 * with req->host and, when known, req->scheme; default ports 80 and 443).
 * 0 with a one-line reason in why: the caller answers 403 (login CSRF). */
int sa_web_same_origin(const sa_http_request *req, char *why, size_t cap);

/* ---- rendering (render_html.c, render_svg.c, escape.c): pure functions ---- */

/* Appends text to a growing buffer, HTML-escaped (& < > " '). */
typedef struct sa_strbuf {
    char *data;
    size_t len, cap;
    int failed; /* out of memory: everything after is dropped */
} sa_strbuf;
void sa_strbuf_append(sa_strbuf *b, const char *s);
void sa_strbuf_appendf(sa_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sa_strbuf_append_html(sa_strbuf *b, const char *s);
char *sa_strbuf_take(sa_strbuf *b, size_t *len); /* NULL when failed */

/* UTF-8 (utf8.c): a malloc'ed copy of s with each invalid byte replaced by U+FFFD
 * (NULL for NULL or out of memory); characters judged by store.h's
 * sa_utf8_char_len. */
char *sa_utf8_repair(const char *s);

/* ---- the page frame (render_page.c): one head, style and header bar ---- */

/* Who a page is for, as its header bar shows it. */
typedef struct sa_page_viewer {
    const char *name; /* NULL or "": the public ("log in") */
    const char *role; /* "challenger", "organiser" */
    const char *csrf; /* the session's CSRF token (log-out form); NULL: no session */
    const char *here; /* this page's path (the log-in link comes back to it); may be NULL */
} sa_page_viewer;

/* The header bar sits between these two comments, so that a cached page
 * rendered for the public can have it replaced per request; the per-request
 * actions of a page (the upload form) go at SA_PAGE_ACTIONS_MARK. */
#define SA_PAGE_BAR_OPEN "<!--bar-->"
#define SA_PAGE_BAR_CLOSE "<!--/bar-->"
#define SA_PAGE_ACTIONS_MARK "<!--actions-->"

/* The document's start (doctype, head with the shared style, the header bar
 * between its marks) up to the opening <main>. refresh_seconds > 0 adds a
 * <meta http-equiv="refresh">. viewer NULL: the public, no log-in link. */
void sa_render_page_open(sa_strbuf *b, const char *title, const sa_page_viewer *viewer,
                         int refresh_seconds);
/* The header bar alone (with its marks). */
void sa_render_header_bar(sa_strbuf *b, const sa_page_viewer *viewer);
/* Closes <main> and the document; the text (NULL when out of memory). */
char *sa_render_page_close(sa_strbuf *b, size_t *len);
/* A URL path segment: unreserved characters as they are, the rest %XX. */
void sa_render_path_segment(sa_strbuf *b, const char *s);

/* One challenge with its phases, as the challenge list page shows it. */
typedef struct sa_page_phase {
    const char *name, *title;
    int published;
    size_t n_rows;
} sa_page_phase;
typedef struct sa_page_challenge {
    const char *slug, *title, *description;
    const sa_page_phase *phases;
    size_t n_phases;
} sa_page_challenge;

/* The whole HTML document of the challenge list. */
char *sa_render_challenges(const sa_page_challenge *c, size_t n, size_t *len);
/* The whole HTML document of a phase's leaderboard: table (rank, team, date,
 * ranked metrics mean ± std with CI, other metrics, failed cases), the human
 * reference rows in a distinct style, the ranking rule and missing-case policy
 * under the table, an SVG box/dot plot per ranked metric across cases and the
 * rank-stability blob plot. */
char *sa_render_leaderboard(const sa_board *b, const char *challenge_title, size_t *len);
/* SVG elements (inline <svg>...</svg>): dot plot with box of metric m (index
 * into b->spec.metrics) per row across cases; bootstrap rank-stability blobs. */
char *sa_render_metric_plot(const sa_board *b, size_t m);
char *sa_render_stability_plot(const sa_board *b);

#endif
