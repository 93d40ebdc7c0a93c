/*
 * cmd_serve.c: `segarena serve`: the web leaderboard, the JSON API and, in the
 * same process, evaluation workers; prints the address once listening, logs the
 * server's problems on stderr, and stops cleanly on SIGINT or SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_args.h"
#include "commands.h"
#include "leaderboard.h"

static const char serve_help[] =
    "usage: segarena serve [--data-dir DIR] [--bind ADDRESS] [--port N] [--workers N]\n"
    "                      [--http-threads N] [--port-file FILE]\n"
    "                      [--trusted-proxy ADDRESS[,ADDRESS...]]\n"
    "\n"
    "Serves the public leaderboard pages and the JSON API under /api/v1\n"
    "(docs/api.md) from the data directory, and runs N evaluation workers in the same\n"
    "process (default 2; 0: none, run `segarena worker` beside it). No HTTP request\n"
    "handler runs a contestant container: the workers run them as `segarena worker`\n"
    "does; an upload's handler loads the image with skopeo and removes a refused one.\n"
    "\n"
    "  --bind ADDRESS      IPv4 or IPv6 address to listen on (default 127.0.0.1)\n"
    "  --port N            TCP port (default 8080; 0: any free port)\n"
    "  --http-threads N    HTTP threads (default 4)\n"
    "  --port-file FILE    write the port there once listening (for scripts)\n"
    "  --trusted-proxy ADDRESS[,ADDRESS...]\n"
    "                      the reverse proxies (IPv4 or IPv6 addresses, or ADDRESS/PREFIX)\n"
    "                      in front of the server: from them, the client's address is the\n"
    "                      right-most X-Forwarded-For address that is not a trusted proxy\n"
    "                      (login rate limits), and X-Forwarded-Host and -Proto name the\n"
    "                      site (log-in origin check); from anyone else those headers are\n"
    "                      ignored. Without it, behind a proxy every client has the\n"
    "                      proxy's address.\n"
    "\n"
    "The data directory must hold a SegArena database already: serve never sets one\n"
    "up (a mistyped --data-dir would serve an empty platform). `segarena challenge\n"
    "create`, `team add` or `user add` with the same --data-dir creates it.\n"
    "\n"
    "Prints \"SegArena on http://ADDRESS:PORT/\" once listening; SIGINT or SIGTERM stop\n"
    "it (workers finish their current cases). Accounts: `segarena user`.\n"
    "exit status: 0 stopped; 2 bad usage, or no SegArena database in the data directory\n"
    "(one line names it); 1 cannot listen or open the database.\n";

static volatile int stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct serve_ctx {
    const char *bind;
    const char *port_file;
    int port_file_failed;
} serve_ctx;

static void on_listening(int port, void *ctx) {
    serve_ctx *s = ctx;
    int v6 = strchr(s->bind, ':') != NULL;
    printf("SegArena on http://%s%s%s:%d/\n", v6 ? "[" : "", s->bind, v6 ? "]" : "", port);
    fflush(stdout);
    if (!s->port_file) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->port_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, s->port_file) != 0) {
        fprintf(stderr, "segarena serve: cannot write %s\n", s->port_file);
        s->port_file_failed = 1;
        stop_requested = 1;
    }
}

static void on_log(const char *line, void *ctx) {
    (void)ctx;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s segarena serve: %s\n", when, line);
}

/* A count option in [lo, hi]: 0 or -1 (printed). */
static int parse_count(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        fprintf(stderr, "segarena serve: %s takes %d to %d, not '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(serve_help, stdout);
            return EXIT_OK;
        }
    cli_opt opts[] = {{"--data-dir", 1, 0, 0}, {"--bind", 1, 0, 0}, {"--port", 1, 0, 0},
                      {"--workers", 1, 0, 0}, {"--http-threads", 1, 0, 0},
                      {"--port-file", 1, 0, 0}, {"--trusted-proxy", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    size_t n_pos;
    if (cli_parse("serve", argc, argv, 1, opts, n_opts, pos, 0, &n_pos)) return EXIT_BAD_INPUT;
    sa_server_options opt;
    sa_server_options_default(&opt);
    opt.data_dir = cli_data_dir(cli_value(opts, n_opts, "--data-dir"));
    opt.worker_threads = 2;
    const char *v;
    if ((v = cli_value(opts, n_opts, "--bind"))) opt.bind_address = v;
    if ((v = cli_value(opts, n_opts, "--port")) && parse_count("--port", v, 0, 65535, &opt.port))
        return EXIT_BAD_INPUT;
    if ((v = cli_value(opts, n_opts, "--workers")) &&
        parse_count("--workers", v, 0, 256, &opt.worker_threads))
        return EXIT_BAD_INPUT;
    if ((v = cli_value(opts, n_opts, "--http-threads")) &&
        parse_count("--http-threads", v, 1, 256, &opt.http_threads))
        return EXIT_BAD_INPUT;
    opt.trusted_proxies = cli_value(opts, n_opts, "--trusted-proxy");
    sa_error perr;
    if (opt.trusted_proxies && sa_server_check_trusted_proxies(opt.trusted_proxies, &perr)) {
        fprintf(stderr, "segarena serve: --trusted-proxy: %s\n", perr.msg);
        return EXIT_BAD_INPUT;
    }
    /* a data directory without a database is a mistyped --data-dir far more
     * often than a wish for an empty platform: refused, never created */
    char db_path[4200];
    struct stat sb;
    snprintf(db_path, sizeof db_path, "%s/segarena.db", opt.data_dir);
    if (stat(db_path, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
        fprintf(stderr, "segarena serve: %s: no SegArena database (wrong --data-dir? `segarena "
                        "challenge create SLUG --data-dir %s` sets one up)\n",
                db_path, opt.data_dir);
        return EXIT_BAD_INPUT;
    }
    serve_ctx s = {opt.bind_address, cli_value(opts, n_opts, "--port-file"), 0};
    opt.stop = &stop_requested;
    opt.on_listening = on_listening;
    opt.on_log = on_log;
    opt.ctx = &s;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sa_error err;
    if (sa_server_run(&opt, &err) != 0) {
        fprintf(stderr, "segarena serve: %s\n", err.msg);
        return EXIT_INTERNAL;
    }
    if (s.port_file_failed) return EXIT_INTERNAL;
    fprintf(stderr, "segarena serve: stopped\n");
    return EXIT_OK;
}
