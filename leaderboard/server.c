/*
 * server.c: the libmicrohttpd daemon of `segarena serve` and the evaluator's
 * worker threads beside it. It turns MHD's callbacks into complete requests for
 * sa_web_handle: small bodies are kept (1 MiB at most, 413 beyond); the API
 * upload route is checked (identity, permission, quota, declared size) before
 * its body is read, then streamed to a temporary file under DATA_DIR/uploads/
 * with the phase's size limit enforced as it arrives; the browser's upload form
 * is read as multipart/form-data (upload_form.c): identity, phase and declared
 * size before the body, every other check (team, CSRF, quota) from its small
 * fields before the first byte of its file is kept, and the file streamed to
 * the same kind of temporary file. That file is removed whatever happens
 * (answered, refused, or the client gone). Each HTTP thread keeps its own
 * store handle. A cached body (shared_body.c) is sent as it is, never copied,
 * and its reference given back once MHD is done with it. A request from a
 * trusted proxy (--trusted-proxy) has its client address, host and scheme
 * taken from the X-Forwarded-* headers (forwarded.c). Nothing here prints:
 * problems go to the on_log callback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server_internal.h"

#define CONNECTION_TIMEOUT_S 30
#define CONNECTION_LIMIT 256
#define PER_IP_CONNECTION_LIMIT 64 /* conn_limit.c: trusted proxies exempt */
#define MAX_QUERY 2048
/* an upload past the phase's limit is read and dropped up to this much more
 * (so that the client gets its 413), then the connection is closed */
#define MAX_DISCARD ((uint64_t)64 << 20)

void sa_server_options_default(sa_server_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->data_dir = "segarena-data";
    opt->bind_address = "127.0.0.1";
    opt->port = 8080;
    opt->http_threads = 4;
    opt->worker_threads = 0;
}

/* ---- one store handle per HTTP thread ---- */

typedef struct thread_store {
    sa_store *st;
    const sa_server_ctx *owner;
} thread_store;

static pthread_key_t store_key;
static pthread_once_t store_key_once = PTHREAD_ONCE_INIT;

static void thread_store_free(void *p) {
    thread_store *ts = p;
    if (ts) sa_store_close(ts->st);
    free(ts);
}

static void make_store_key(void) {
    pthread_key_create(&store_key, thread_store_free);
}

/* This thread's handle on the data directory (opened on first use). */
static sa_store *thread_store_get(const sa_server_ctx *ctx, sa_error *err) {
    pthread_once(&store_key_once, make_store_key);
    thread_store *ts = pthread_getspecific(store_key);
    if (ts && ts->owner == ctx) return ts->st;
    if (ts) {
        sa_store_close(ts->st);
        ts->st = NULL;
    } else if (!(ts = calloc(1, sizeof *ts))) {
        sa_error_set(err, "out of memory");
        return NULL;
    } else if (pthread_setspecific(store_key, ts) != 0) {
        free(ts);
        sa_error_set(err, "cannot keep a store handle for this thread");
        return NULL;
    }
    ts->owner = ctx;
    if (sa_store_open(ctx->data_dir, 0, &ts->st, err)) {
        ts->st = NULL;
        ts->owner = NULL;
        return NULL;
    }
    return ts->st;
}

/* ---- one connection's request ---- */

typedef struct server server;

typedef struct request_state {
    int responded;          /* an answer was queued before the body */
    int is_upload;          /* SA_UPLOAD_RAW or SA_UPLOAD_FORM; 0 none */
    /* the upload form: its reader, and what the file sink needs */
    sa_form_reader *form;
    server *srv;
    struct MHD_Connection *conn;
    const char *url, *method;
    int file_checked;       /* the form's checks ran (first byte of the file) */
    int refused, form_failed;
    sa_http_response refusal; /* the answer of refused checks */
    /* small body */
    char *body;
    size_t len, cap;
    int body_too_large;
    /* streamed upload */
    int fd;
    char path[4200];        /* "" when no file exists */
    uint64_t bytes, max_bytes, discarded;
    int upload_too_large, write_failed;
} request_state;

struct server {
    sa_server_ctx ctx;
    sa_web_stats stats;
    struct MHD_Daemon *daemon;
    const sa_server_options *opt;
    sa_trusted_proxies proxies;
    sa_conn_limit conns; /* per client address; trusted proxies exempt */
};

/* MHD's accept policy: the per-address limit (conn_limit.c). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len) {
    (void)len;
    server *srv = cls;
    return sa_conn_limit_allows(&srv->conns, addr) ? MHD_YES : MHD_NO;
}

/* Counts a connection from its start to its close (a counted one carries a
 * mark in its socket context). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server *srv = cls;
    static char counted;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *addr = info ? info->client_addr : NULL;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = sa_conn_limit_opened(&srv->conns, addr) ? &counted : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context == &counted) {
        sa_conn_limit_closed(&srv->conns, addr);
        *socket_context = NULL;
    }
}

static void remove_upload(request_state *rs) {
    if (rs->fd >= 0) close(rs->fd);
    rs->fd = -1;
    if (rs->path[0]) unlink(rs->path);
    rs->path[0] = '\0';
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    server *srv = cls;
    request_state *rs = *con_cls;
    if (!rs) return;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && rs->is_upload && rs->path[0])
        sa_web_log(&srv->ctx, "upload interrupted after %llu bytes; nothing kept",
                   (unsigned long long)rs->bytes);
    remove_upload(rs);
    sa_form_reader_free(rs->form);
    sa_web_response_clear(&rs->refusal);
    free(rs->body);
    free(rs);
    *con_cls = NULL;
}

/* ---- the request as sa_web_handle sees it ---- */

typedef struct query_builder {
    char buf[MAX_QUERY];
    size_t len;
    int overflow;
} query_builder;

static void query_append_escaped(query_builder *q, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (q->len + 4 >= sizeof q->buf) {
            q->overflow = 1;
            return;
        }
        if (plain) {
            q->buf[q->len++] = (char)ch;
        } else {
            q->buf[q->len++] = '%';
            q->buf[q->len++] = hex[ch >> 4];
            q->buf[q->len++] = hex[ch & 15];
        }
    }
    q->buf[q->len] = '\0';
}

/* MHD hands the query parsed and decoded; it is written back in one string. */
static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    (void)kind;
    query_builder *q = cls;
    if (q->len && q->len + 1 < sizeof q->buf) q->buf[q->len++] = '&';
    query_append_escaped(q, key);
    if (value) {
        if (q->len + 1 < sizeof q->buf) q->buf[q->len++] = '=';
        query_append_escaped(q, value);
    }
    return q->overflow ? MHD_NO : MHD_YES;
}

/* 1 when an Accept-Encoding value lists gzip (or x-gzip) without q=0. */
static int accepts_gzip(const char *value) {
    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t name = strcspn(p, " \t,;");
        size_t item = strcspn(p, ",");
        int gzip = (name == 4 && !strncasecmp(p, "gzip", 4)) ||
                   (name == 6 && !strncasecmp(p, "x-gzip", 6));
        if (gzip) {
            double q = 1.0;
            for (const char *x = p + name; x < p + item; x++) {
                x += strspn(x, " \t;");
                if (x + 1 < p + item && (*x == 'q' || *x == 'Q') && x[1] == '=') {
                    q = strtod(x + 2, NULL);
                    break;
                }
                x += strcspn(x, ";,");
                if (*x != ';') break;
            }
            if (q > 0) return 1;
        }
        p += item;
    }
    return 0;
}

typedef struct request_view {
    sa_http_request req;
    query_builder query;
    char client_ip[SA_ADDR_TEXT];
    char host[256], scheme[8];
} request_view;

/* The values of the X-Forwarded-* headers, in the order received (the last
 * MAX_FORWARDED values of each). */
#define MAX_FORWARDED 32
typedef struct forwarded_headers {
    const char *xff[MAX_FORWARDED];
    size_t n_xff;
    const char *host, *proto, *port; /* the last value of each */
} forwarded_headers;

static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value) {
    (void)kind;
    forwarded_headers *f = cls;
    if (!key || !value) return MHD_YES;
    if (!strcasecmp(key, "X-Forwarded-For")) {
        if (f->n_xff == MAX_FORWARDED) {
            memmove(f->xff, f->xff + 1, (MAX_FORWARDED - 1) * sizeof *f->xff);
            f->n_xff--;
        }
        f->xff[f->n_xff++] = value;
    } else if (!strcasecmp(key, "X-Forwarded-Host")) {
        f->host = value;
    } else if (!strcasecmp(key, "X-Forwarded-Proto")) {
        f->proto = value;
    } else if (!strcasecmp(key, "X-Forwarded-Port")) {
        f->port = value;
    }
    return MHD_YES;
}

/* The right-most entry of a comma-separated header value, trimmed, into out
 * (cut to its size). */
static void last_entry(const char *value, char *out, size_t cap) {
    const char *p = strrchr(value, ',');
    p = p ? p + 1 : value;
    p += strspn(p, " \t");
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    snprintf(out, cap, "%.*s", (int)len, p);
}

/* Who the request comes from, and the site it names: the peer, or behind a
 * trusted proxy what the proxy forwards (forwarded.c). */
static void view_client(const sa_server_ctx *ctx, struct MHD_Connection *c, request_view *v) {
    char peer[SA_ADDR_TEXT];
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    sa_peer_text(info ? info->client_addr : NULL, peer);
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    snprintf(v->host, sizeof v->host, "%s", host ? host : "");
    v->req.scheme = NULL;
    if (ctx->proxies && ctx->proxies->n && sa_is_trusted_proxy(ctx->proxies, peer)) {
        forwarded_headers f;
        memset(&f, 0, sizeof f);
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_forwarded, &f);
        sa_client_address(ctx->proxies, peer, f.xff, f.n_xff, v->client_ip);
        if (f.host) last_entry(f.host, v->host, sizeof v->host);
        if (f.port) { /* a host without its port ($host): the proxy's port */
            char port[16], named[sizeof v->host];
            last_entry(f.port, port, sizeof port);
            sa_forwarded_host(v->host, port, named, sizeof named);
            memcpy(v->host, named, sizeof v->host);
        }
        if (f.proto) {
            last_entry(f.proto, v->scheme, sizeof v->scheme);
            if (!strcasecmp(v->scheme, "https")) v->req.scheme = "https";
            else if (!strcasecmp(v->scheme, "http")) v->req.scheme = "http";
        }
    } else {
        sa_client_address(NULL, peer, NULL, 0, v->client_ip);
    }
    v->req.client_ip = v->client_ip;
    v->req.host = v->host[0] ? v->host : NULL;
}

static void view_request(const sa_server_ctx *ctx, struct MHD_Connection *c, const char *url,
                         const char *method, request_view *v) {
    memset(v, 0, sizeof *v);
    v->req.method = method;
    v->req.path = url;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &v->query);
    v->req.query = v->query.len ? v->query.buf : NULL;
    v->req.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    v->req.cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
    v->req.csrf_token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    v->req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    v->req.accept_gzip =
        accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding"));
    v->req.origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    v->req.sec_fetch_site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    view_client(ctx, c, v);
}

/* The declared Content-Length: 1 with *out, 0 none (chunked), -1 unreadable. */
static int declared_length(struct MHD_Connection *c, uint64_t *out) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (!v) return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end) return -1;
    *out = n;
    return 1;
}

/* ---- answers ---- */

static void count_status(server *srv, int status) {
    if (status < 100 || status >= 600) status = 500;
    __atomic_add_fetch(&srv->stats.by_status[status], 1, __ATOMIC_RELAXED);
}

/* MHD is done with a shared body: its reference given back. */
static void release_shared(void *cls) {
    sa_shared_body_unref(cls);
}

/* The MHD response of a body (taken from res: MHD frees it, or gives the
 * shared body's reference back once sent). NULL when out of memory. */
static struct MHD_Response *response_body(sa_http_response *res) {
    struct MHD_Response *r;
    if (res->shared) {
        sa_shared_body *b = res->shared;
        res->shared = NULL;
        r = MHD_create_response_from_buffer_with_free_callback_cls(
            sa_shared_body_len(b), (void *)sa_shared_body_data(b), release_shared, b);
        if (!r) sa_shared_body_unref(b);
        return r;
    }
    r = MHD_create_response_from_buffer(res->body_len, res->body ? res->body : (void *)"",
                                        res->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) free(res->body);
    res->body = NULL;
    return r;
}

static enum MHD_Result send_response(server *srv, struct MHD_Connection *c, sa_http_response *res) {
    int status = res->status ? res->status : 500;
    count_status(srv, status);
    struct MHD_Response *r = response_body(res);
    if (!r) return MHD_NO;
    if (res->content_encoding)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, res->content_encoding);
    const char *type = res->content_type ? res->content_type : "application/json";
    int html = !strncmp(type, "text/html", 9);
    /* pages differ by who is logged in (the cookie), and cached bodies by encoding */
    if (html) MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, res->vary_encoding ? "Accept-Encoding, Cookie" : "Cookie");
    else if (res->vary_encoding) MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "same-origin");
    if (html) {
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                "form-action 'self'; frame-ancestors 'none'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    /* nothing is kept by browsers or proxies: pages of a logged-in viewer carry its
     * CSRF token, and every answer may change with the next finished run */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (res->set_cookie[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, res->set_cookie);
    if (res->retry_after[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, res->retry_after);
    if (res->location[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, res->location);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

/* An error of the server itself: JSON under /api, an HTML page elsewhere. */
static enum MHD_Result send_error(server *srv, struct MHD_Connection *c, const char *url,
                                  int status, const char *message) {
    sa_http_response res;
    memset(&res, 0, sizeof res);
    if (url && strncmp(url, "/api/", 5) && strcmp(url, "/metrics")) sa_page_error(&res, status, message);
    else sa_web_json_error(&res, status, "%s", message);
    return send_response(srv, c, &res);
}

/* ---- uploads on disk ---- */

/* Appends file bytes to the upload's temporary file, the phase's limit enforced:
 * past it, or when the disk fails, the file is deleted at once. 0 kept, -1 not. */
static int write_upload(server *srv, request_state *rs, const char *data, size_t size) {
    rs->bytes += size;
    if (rs->bytes > rs->max_bytes) {
        rs->upload_too_large = 1;
        remove_upload(rs); /* nothing half-stored */
        return -1;
    }
    for (size_t done = 0; done < size;) {
        ssize_t w = write(rs->fd, data + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            sa_web_log(&srv->ctx, "%s: write: %s", rs->path, strerror(errno));
            rs->write_failed = 1;
            remove_upload(rs);
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

/* The upload form's file part (upload_form.c's sink): before its first byte is
 * kept, every check with the form's fields read so far (team, CSRF, quota). */
static int form_file_data(void *ctx, const char *fields, const char *data, size_t size) {
    request_state *rs = ctx;
    server *srv = rs->srv;
    if (!rs->file_checked) {
        rs->file_checked = 1;
        sa_error err = {{0}};
        sa_store *st = thread_store_get(&srv->ctx, &err);
        if (!st) {
            sa_web_log(&srv->ctx, "cannot open the store: %s", err.msg);
            sa_page_error(&rs->refusal, 503, "the store cannot be opened");
            rs->refused = 1;
        } else {
            request_view v;
            view_request(&srv->ctx, rs->conn, rs->url, rs->method, &v);
            v.req.form = fields;
            if (!sa_web_upload_form_check(&srv->ctx, st, &v.req, &rs->max_bytes, &rs->refusal))
                rs->refused = 1;
        }
        if (rs->refused) {
            remove_upload(rs);
            return -1;
        }
    }
    return write_upload(srv, rs, data, size);
}

/* ---- the first call: decide how the body is read ---- */

static enum MHD_Result start_request(server *srv, struct MHD_Connection *c, const char *url,
                                     const char *method, request_state *rs) {
    uint64_t declared = 0;
    int has_length = declared_length(c, &declared);
    if (has_length < 0) {
        rs->responded = 1;
        return send_error(srv, c, url, 400, "unreadable Content-Length");
    }
    rs->is_upload = sa_web_upload_kind(method, url);
    if (!rs->is_upload) {
        if (has_length && declared > SA_WEB_MAX_BODY) {
            rs->responded = 1;
            return send_error(srv, c, url, 413, "request body too large (1 MiB at most)");
        }
        return MHD_YES;
    }
    sa_error err = {{0}};
    sa_store *st = thread_store_get(&srv->ctx, &err);
    if (!st) {
        sa_web_log(&srv->ctx, "cannot open the store: %s", err.msg);
        rs->responded = 1;
        return send_error(srv, c, url, 503, "the store cannot be opened");
    }
    request_view v;
    view_request(&srv->ctx, c, url, method, &v);
    sa_http_response res;
    memset(&res, 0, sizeof res);
    int form = rs->is_upload == SA_UPLOAD_FORM;
    /* a form's declared length is judged here, below */
    if (!sa_web_upload_preflight(&srv->ctx, st, &v.req, has_length && !form ? declared : 0,
                                 &rs->max_bytes, &res)) {
        rs->responded = 1;
        return send_response(srv, c, &res);
    }
    if (form && has_length && declared > rs->max_bytes + SA_WEB_FORM_OVERHEAD) {
        /* a browser does not wait for an early answer: within what is read and
         * dropped anyway, the body is dropped and the 413 page sent at its end;
         * beyond, answered now (and the connection closed) */
        if (declared - rs->max_bytes > MAX_DISCARD) {
            rs->responded = 1;
            return send_error(srv, c, url, 413, "upload too large");
        }
        rs->upload_too_large = 1;
        return MHD_YES;
    }
    char dir[4100];
    snprintf(dir, sizeof dir, "%s/uploads", srv->ctx.data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        sa_web_log(&srv->ctx, "%s: cannot create: %s", dir, strerror(errno));
        rs->responded = 1;
        return send_error(srv, c, url, 500, "internal error");
    }
    snprintf(rs->path, sizeof rs->path, "%s/.incoming-XXXXXX", dir);
    rs->fd = mkstemp(rs->path);
    if (rs->fd < 0) {
        sa_web_log(&srv->ctx, "%s: cannot create a file: %s", dir, strerror(errno));
        rs->path[0] = '\0';
        rs->responded = 1;
        return send_error(srv, c, url, 500, "internal error");
    }
    if (rs->is_upload == SA_UPLOAD_FORM) {
        rs->srv = srv;
        rs->conn = c;
        rs->url = url;
        rs->method = method;
        rs->form = sa_form_reader_new(c, "archive", form_file_data, rs);
        if (!rs->form) {
            remove_upload(rs);
            rs->responded = 1;
            return send_error(srv, c, url, 400, "send the upload form as multipart/form-data");
        }
    }
    return MHD_YES;
}

/* ---- body data ---- */

static enum MHD_Result take_data(server *srv, request_state *rs, const char *data, size_t size) {
    if (rs->responded) return MHD_YES; /* dropped */
    if (!rs->is_upload) {
        if (rs->body_too_large || rs->len + size > SA_WEB_MAX_BODY) {
            rs->body_too_large = 1;
            rs->discarded += size;
            return rs->discarded > MAX_DISCARD ? MHD_NO : MHD_YES;
        }
        if (rs->len + size + 1 > rs->cap) {
            size_t cap = rs->cap ? rs->cap : 4096;
            while (cap < rs->len + size + 1) cap *= 2;
            char *b = realloc(rs->body, cap);
            if (!b) return MHD_NO;
            rs->body = b;
            rs->cap = cap;
        }
        memcpy(rs->body + rs->len, data, size);
        rs->len += size;
        rs->body[rs->len] = '\0';
        return MHD_YES;
    }
    if (rs->upload_too_large || rs->write_failed || rs->refused || rs->form_failed) {
        rs->discarded += size;
        return rs->discarded > MAX_DISCARD ? MHD_NO : MHD_YES;
    }
    if (rs->is_upload == SA_UPLOAD_FORM) {
        if (sa_form_reader_feed(rs->form, data, size) != 0 && !rs->upload_too_large &&
            !rs->write_failed && !rs->refused) {
            rs->form_failed = 1; /* malformed, or its fields too large */
            remove_upload(rs);
        }
        return MHD_YES;
    }
    write_upload(srv, rs, data, size);
    return MHD_YES;
}

/* ---- the request complete ---- */

static enum MHD_Result finish_request(server *srv, struct MHD_Connection *c, const char *url,
                                      const char *method, request_state *rs) {
    if (rs->form) {
        /* the last bytes of the file may be held back until the end */
        int failed = !rs->form_failed && !rs->refused && !rs->upload_too_large &&
                     !rs->write_failed && sa_form_reader_finish(rs->form) != 0;
        if (failed && !rs->refused && !rs->upload_too_large && !rs->write_failed) {
            rs->form_failed = 1;
            remove_upload(rs);
        }
    }
    if (rs->refused) {
        remove_upload(rs);
        sa_http_response res = rs->refusal;
        memset(&rs->refusal, 0, sizeof rs->refusal);
        return send_response(srv, c, &res);
    }
    if (rs->form_failed) {
        remove_upload(rs);
        return sa_form_reader_too_large(rs->form)
                   ? send_error(srv, c, url, 413, "the form's fields are too large")
                   : send_error(srv, c, url, 400, "the upload form could not be read");
    }
    if (rs->body_too_large) return send_error(srv, c, url, 413, "request body too large (1 MiB at most)");
    if (rs->upload_too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "upload too large: more than the phase's %llu MiB",
                 (unsigned long long)(rs->max_bytes >> 20));
        return send_error(srv, c, url, 413, msg);
    }
    if (rs->write_failed) return send_error(srv, c, url, 500, "internal error: the upload could not be stored");
    sa_error err = {{0}};
    sa_store *st = thread_store_get(&srv->ctx, &err);
    if (!st) {
        sa_web_log(&srv->ctx, "cannot open the store: %s", err.msg);
        remove_upload(rs);
        return send_error(srv, c, url, 503, "the store cannot be opened");
    }
    request_view v;
    view_request(&srv->ctx, c, url, method, &v);
    if (v.query.overflow) {
        remove_upload(rs);
        return send_error(srv, c, url, 414, "query string too long");
    }
    v.req.body = rs->body ? rs->body : "";
    v.req.body_len = rs->len;
    if (rs->is_upload) {
        if (rs->fd >= 0 && close(rs->fd) != 0) {
            rs->fd = -1;
            remove_upload(rs);
            return send_error(srv, c, url, 500, "internal error: the upload could not be stored");
        }
        rs->fd = -1;
        v.req.upload_path = rs->path;
        v.req.upload_bytes = rs->bytes;
        if (rs->form) v.req.form = sa_form_reader_fields(rs->form);
    }
    /* a leaderboard read may wait, suspended, for its board to be built */
    if (!rs->is_upload && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) v.req.suspend = c;
    sa_http_response res;
    memset(&res, 0, sizeof res);
    sa_web_handle(&srv->ctx, st, &v.req, &res);
    if (res.suspended) { /* resumed by the page cache's builder: then handled again */
        sa_web_response_clear(&res);
        rs->responded = 0;
        return MHD_YES;
    }
    remove_upload(rs); /* sa_submit keeps its own copy */
    return send_response(srv, c, &res);
}

/* The page cache suspends a request on a build and resumes it (page_cache.c). */
static void suspend_request(void *handle) { MHD_suspend_connection((struct MHD_Connection *)handle); }
static void resume_request(void *handle) { MHD_resume_connection((struct MHD_Connection *)handle); }

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    server *srv = cls;
    request_state *rs = *con_cls;
    if (!rs) {
        if (!(rs = calloc(1, sizeof *rs))) return MHD_NO;
        rs->fd = -1;
        *con_cls = rs;
        if (strlen(url) >= SA_WEB_MAX_PATH) {
            rs->responded = 1;
            return send_error(srv, c, url, 414, "path too long");
        }
        return start_request(srv, c, url, method, rs);
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        return take_data(srv, rs, upload_data, size);
    }
    if (rs->responded) return MHD_YES;
    rs->responded = 1;
    return finish_request(srv, c, url, method, rs);
}

/* ---- logging ---- */

static void mhd_logger(void *cls, const char *fmt, va_list ap) {
    server *srv = cls;
    if (!srv->opt->on_log) return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    srv->opt->on_log(line, srv->opt->ctx);
}

/* ---- worker threads ---- */

typedef struct worker_thread {
    server *srv;
    sa_worker_options opt;
    volatile int stop;
    pthread_t thread;
    int started;
} worker_thread;

static void on_worker_event(const sa_worker_event *ev, void *ctx) {
    worker_thread *w = ctx;
    if (ev->kind == SA_WORKER_RUN_DONE)
        sa_web_log(&w->srv->ctx, "run %lld done", (long long)ev->run_id);
    else if (ev->kind == SA_WORKER_PROBLEM)
        sa_web_log(&w->srv->ctx, "worker: run %lld%s%s: %s", (long long)ev->run_id,
                   ev->case_id ? " case " : "", ev->case_id ? ev->case_id : "",
                   ev->message ? ev->message : "");
}

static void *worker_main(void *arg) {
    worker_thread *w = arg;
    sa_error err = {{0}};
    if (sa_worker_run(&w->opt, &err) != 0) sa_web_log(&w->srv->ctx, "workers stopped: %s", err.msg);
    return NULL;
}

/* ---- the server ---- */

static void forward_log(const char *line, void *ctx) {
    const sa_server_options *opt = ctx;
    if (opt->on_log) opt->on_log(line, opt->ctx);
}

/* Fills the listening address: IPv4 or IPv6 literal. */
static int listen_address(const char *text, int port, struct sockaddr_storage *addr,
                          int *ipv6, sa_error *err) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    *ipv6 = 0;
    if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *ipv6 = 1;
        return 0;
    }
    return sa_error_set(err, "bind address '%s' is not an IPv4 or IPv6 address", text);
}

int sa_server_run(const sa_server_options *opt, sa_error *err) {
    if (opt->port < 0 || opt->port > 65535) return sa_error_set(err, "port %d out of range", opt->port);
    if (opt->http_threads < 1 || opt->http_threads > 256)
        return sa_error_set(err, "http threads: 1 to 256, not %d", opt->http_threads);
    if (!opt->stop) return sa_error_set(err, "no stop flag given");
    struct sockaddr_storage addr;
    int ipv6;
    if (listen_address(opt->bind_address, opt->port, &addr, &ipv6, err)) return -1;

    /* the database is opened (and migrated) once before any thread uses it; never
     * created here: a data directory without one is refused, not served empty */
    sa_store *st;
    if (sa_store_open(opt->data_dir, 0, &st, err)) return -1;
    sa_store_close(st);

    server *srv = calloc(1, sizeof *srv);
    if (!srv) return sa_error_set(err, "out of memory");
    if (sa_trusted_proxies_parse(opt->trusted_proxies, &srv->proxies, err)) {
        free(srv);
        return -1;
    }
    srv->ctx.proxies = &srv->proxies;
    srv->opt = opt;
    srv->stats.started = sa_store_now();
    srv->ctx.data_dir = opt->data_dir;
    srv->ctx.stats = &srv->stats;
    srv->ctx.on_log = forward_log;
    srv->ctx.log_ctx = (void *)opt;
    srv->ctx.cache = sa_page_cache_new(opt->data_dir, suspend_request, resume_request);
    if (!srv->ctx.cache) {
        free(srv);
        return sa_error_set(err, "out of memory");
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                     (ipv6 ? MHD_USE_IPv6 : 0);
    sa_conn_limit_init(&srv->conns, PER_IP_CONNECTION_LIMIT, &srv->proxies);
    srv->daemon = MHD_start_daemon(
        flags, 0, accept_policy, srv, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opt->http_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_END);
    if (!srv->daemon) {
        sa_conn_limit_destroy(&srv->conns);
        sa_page_cache_free(srv->ctx.cache);
        free(srv);
        return sa_error_set(err, "cannot listen on %s port %d (in use, or not allowed)",
                            opt->bind_address, opt->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    int port = info ? (int)info->port : opt->port;

    worker_thread workers;
    memset(&workers, 0, sizeof workers);
    workers.srv = srv;
    if (opt->worker_threads > 0) {
        sa_worker_options_default(&workers.opt);
        workers.opt.data_dir = opt->data_dir;
        workers.opt.threads = opt->worker_threads;
        workers.opt.stop = &workers.stop;
        workers.opt.on_event = on_worker_event;
        workers.opt.ctx = &workers;
        workers.started = pthread_create(&workers.thread, NULL, worker_main, &workers) == 0;
        if (!workers.started) sa_web_log(&srv->ctx, "cannot start the worker threads");
    }

    if (opt->on_listening) opt->on_listening(port, opt->ctx);
    struct timespec tick = {0, 100 * 1000 * 1000};
    while (!*opt->stop) nanosleep(&tick, NULL);

    if (workers.started) {
        workers.stop = 1;
        pthread_join(workers.thread, NULL);
    }
    sa_page_cache_stop_builder(srv->ctx.cache); /* resumes what still waits on it */
    MHD_stop_daemon(srv->daemon);
    sa_conn_limit_destroy(&srv->conns);
    sa_page_cache_free(srv->ctx.cache);
    free(srv);
    return 0;
}
