/*
 * leaderboard.h: the public face of SegArena's web layer: `segarena serve` runs
 * one process with an HTTP server (libmicrohttpd) that serves the JSON API under
 * /api/v1 (jansson), the public leaderboard pages (server-rendered HTML with SVG
 * plots), and, beside it, the evaluator's worker threads. The web layer shows the
 * evaluator's rankings (sa_board); it never ranks by itself, and no request
 * handler runs a contestant container (the worker threads do, as `segarena
 * worker` does; an upload only loads its image, and removes a refused one).
 */
#ifndef SEGARENA_LEADERBOARD_H
#define SEGARENA_LEADERBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h" /* sa_error */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sa_server_options {
    const char *data_dir;     /* default ./segarena-data; must hold a database (never created) */
    const char *bind_address; /* default 127.0.0.1 */
    int port;                 /* default 8080; 0: any free port (on_listening gets it) */
    int http_threads;         /* libmicrohttpd thread pool; default 4 */
    int worker_threads;       /* evaluator workers in this process; 0: none */
    /* Reverse proxies whose X-Forwarded-For (the client's address), -Host and
     * -Proto are believed: "ADDRESS[/PREFIX],..." (IPv4 or IPv6); NULL: none,
     * the client is the connection's peer. */
    const char *trusted_proxies;
    volatile int *stop;       /* the server returns once *stop != 0 */
    /* Called once the server listens (port known), e.g. to print the address. */
    void (*on_listening)(int port, void *ctx);
    /* Called with one line for what the server cannot answer a client with
     * (store failures, interrupted uploads, worker problems); may be NULL.
     * Called from any thread. */
    void (*on_log)(const char *line, void *ctx);
    void *ctx;
} sa_server_options;

void sa_server_options_default(sa_server_options *opt);
/* Checks a trusted_proxies list: 0, or -1 with err naming the bad entry. */
int sa_server_check_trusted_proxies(const char *list, sa_error *err);

/* Runs the server (and the worker threads) until *opt->stop; 0, or -1 with err
 * (cannot bind, no database). */
int sa_server_run(const sa_server_options *opt, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
