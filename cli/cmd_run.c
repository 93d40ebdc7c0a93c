/*
 * cmd_run.c: `segarena run start|status|list|cancel|rescore|rerun|wait` (evaluation
 * runs: one submission on one phase, one job per case) and `segarena worker` (the
 * process that carries the jobs out, with progress on stderr).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_args.h"
#include "commands.h"
#include "evaluator.h"
#include "store.h"

static const char run_help[] =
    "usage: segarena run start SUBMISSION | --phase CHALLENGE/PHASE --all\n"
    "       segarena run status RUN | --phase CHALLENGE/PHASE\n"
    "       segarena run list --phase CHALLENGE/PHASE\n"
    "       segarena run cancel RUN\n"
    "       segarena run rescore RUN | --phase CHALLENGE/PHASE\n"
    "       segarena run rerun RUN\n"
    "       segarena run wait RUN [--timeout SECONDS]\n"
    "       (every form takes --data-dir DIR, default ./segarena-data)\n"
    "\n"
    "A run is one submission on one phase: one job per case of the phase's split, with\n"
    "the phase's spec frozen into the run. Workers (`segarena worker`, or the threads of\n"
    "`segarena serve`) claim jobs with a lease, run the container sandboxed, check and\n"
    "score its mask against the consensus and every rater, and store each case; the run\n"
    "is aggregated (missing-case policy: docs/ranking.md) when its last case is stored.\n"
    "\n"
    "  start     queue a first evaluation (--all: every submission of the phase that has\n"
    "            no run yet)\n"
    "  status    progress: cases done, failed per class, remaining, ETA, queue position\n"
    "            (--phase: the phase's runs, as list)\n"
    "  list      the phase's runs: id, submission, kind, status, parent run, created\n"
    "            (list RUN: as status RUN)\n"
    "  cancel    queued cases are dropped; cases running finish\n"
    "  rescore   score the stored outputs again with the phase's current spec (after a\n"
    "            change of tau, consensus, metrics, or the metric definitions); no\n"
    "            container runs; the previous run and its results are kept (--phase:\n"
    "            the latest finished run of every submission that evaluated it, not\n"
    "            one where every case was an engine error)\n"
    "  rerun     run the containers again (a new run; the previous one is kept)\n"
    "  wait      print progress until the run is done or cancelled\n"
    "\n"
    "exit status: 0 done; 2 bad usage, unknown run, submission or phase, or a refused\n"
    "request; 1 internal error, a stored aggregate that cannot be computed again\n"
    "(status), or wait's --timeout passed.\n";

static const char worker_help[] =
    "usage: segarena worker [--threads N] [--until-idle] [--lease SECONDS]\n"
    "                       [--retry-delays S,S,...] [--sweep SECONDS] [--data-dir DIR]\n"
    "                       [--quiet]\n"
    "\n"
    "Carries out the queued jobs of the data directory: N jobs at once (default 1), each\n"
    "claimed with a lease of SECONDS (default 60, renewed while the job lasts). Any\n"
    "number of workers may share a data directory; a job whose worker died is taken\n"
    "over when its lease expires (at once when that worker was a process of this host,\n"
    "boot and pid namespace),\n"
    "after its container is removed. --until-idle returns once no run is queued or\n"
    "running; otherwise the worker runs until SIGINT or SIGTERM, then finishes its\n"
    "current jobs. Progress goes to stderr: one line per case (class, container and\n"
    "platform time), per case sent back to the queue and per finished run; --quiet\n"
    "leaves those out and prints only the worker's problems.\n"
    "\n"
    "A case that failed by the platform's fault (an engine error, a file that could not\n"
    "be written or read) goes back to the queue and is claimed again only after a delay:\n"
    "--retry-delays, seconds after the first, second, ... failed claim, the last one\n"
    "repeated (default 30,120,600,1800). While the data directory takes no writes (disk\n"
    "full, read-only, I/O errors, quota) the case goes back uncounted and no job is\n"
    "claimed; the worker looks again every first delay. Every --sweep SECONDS (default\n"
    "300) it removes the containers and scratch folders of jobs that no live worker runs\n"
    "(a dead worker's, a cancelled run's), as it does at start-up.\n"
    "\n"
    "exit status: 0 stopped (idle with --until-idle, or by SIGINT or SIGTERM); 2 bad\n"
    "usage; 1 the worker could not run (no database in the data directory, a store\n"
    "failure; one line says why).\n";

static void print_progress(FILE *out, int64_t run_id, const sa_run_progress *p,
                           const char *status) {
    int64_t left = p->queued + p->running;
    fprintf(out, "run %lld %s: %lld/%lld cases done (%lld succeeded, %lld failed), %lld left",
            (long long)run_id, status, (long long)p->done, (long long)p->total,
            (long long)p->succeeded, (long long)p->failed, (long long)left);
    if (left > 0 && p->mean_case_seconds > 0) {
        double eta = p->mean_case_seconds * (double)left;
        fprintf(out, ", ETA %d:%02d (one worker)", (int)(eta / 60), (int)eta % 60);
    }
    if (p->queue_position > 0)
        fprintf(out, ", %lld queued case(s) of other runs ahead", (long long)p->queue_position);
    fputc('\n', out);
}

/* The stored aggregate of a finished run (docs/results.md), one line per metric:
 * what a rescore is compared with. */
static void print_aggregate(const char *aggregate_json) {
    json_error_t jerr;
    json_t *root = aggregate_json ? json_loads(aggregate_json, 0, &jerr) : NULL;
    json_t *metrics = root ? json_object_get(root, "metrics") : NULL;
    const char *name;
    json_t *m;
    json_object_foreach(metrics, name, m) {
        json_t *mean = json_object_get(m, "mean"), *lo = json_object_get(m, "ci_lo"),
               *hi = json_object_get(m, "ci_hi");
        if (json_is_number(mean))
            printf("  %-20s mean %.6g  (95 %% CI %.6g to %.6g, n %lld)\n", name,
                   json_number_value(mean), json_number_value(lo), json_number_value(hi),
                   (long long)json_integer_value(json_object_get(m, "n")));
        else
            printf("  %-20s no value\n", name);
    }
    json_decref(root);
}

/* Mean container and platform seconds per stored case. */
static int print_timing(sa_store *st, int64_t run_id, sa_error *err) {
    sa_case_result_row *rows = NULL;
    size_t n = 0;
    if (sa_store_case_results(st, run_id, &rows, &n, err)) return -1;
    double container = 0, platform = 0;
    for (size_t i = 0; i < n; i++) {
        container += rows[i].container_seconds;
        platform += rows[i].platform_seconds;
    }
    if (n)
        printf("  time per case: container %.3f s, platform %.3f s (staging, checking, scoring, "
               "storing), mean of %zu\n", container / (double)n, platform / (double)n, n);
    sa_case_result_rows_free(rows, n);
    return 0;
}

/* The run, or -1 with "no run N" when there is none. */
static int load_run(sa_store *st, int64_t run_id, sa_run_row *run, sa_error *err) {
    int found = sa_store_run_get(st, run_id, run, err);
    if (found == 0) sa_error_set(err, "no run %lld", (long long)run_id);
    return found == 1 ? 0 : -1;
}

static int show_status(sa_store *st, int64_t run_id, sa_error *err) {
    sa_run_row run;
    if (load_run(st, run_id, &run, err)) return -1;
    sa_run_progress p;
    char **classes = NULL;
    int64_t *counts = NULL;
    size_t n = 0;
    int rc = sa_store_run_progress(st, run_id, &p, err);
    if (rc == 0) rc = sa_store_run_failure_classes(st, run_id, &classes, &counts, &n, err);
    if (rc == 0) {
        printf("run %lld: %s of submission %lld\n", (long long)run.id, run.kind,
               (long long)run.submission_id);
        if (run.parent_run_id) printf("  repeats run %lld\n", (long long)run.parent_run_id);
        print_progress(stdout, run.id, &p, run.status);
        for (size_t i = 0; i < n; i++)
            printf("  failed: %lld x %s\n", (long long)counts[i], classes[i]);
        sa_class_counts_free(classes, counts, n);
        rc = print_timing(st, run_id, err);
        if (rc == 0 && run.aggregate_json) {
            /* as it reads now: one stored under older rules is computed again */
            char *aggregate = NULL;
            sa_error why;
            if (sa_run_aggregate_current(st, &run, &aggregate, &why))
                rc = sa_error_set(err, "%s", why.msg); /* exit 1: no number shown that is not current */
            else
                print_aggregate(aggregate);
            free(aggregate);
        }
    }
    sa_run_row_free(&run);
    return rc;
}

static int list_runs(sa_store *st, int64_t phase_id, sa_error *err) {
    sa_run_row *rows = NULL;
    size_t n = 0;
    if (sa_store_run_list(st, phase_id, 0, &rows, &n, err)) return -1;
    printf("%-6s %-10s %-10s %-10s %-8s %s\n", "run", "submission", "kind", "status", "parent",
           "created");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        cli_format_time(rows[i].created, when);
        printf("%-6lld %-10lld %-10s %-10s %-8lld %s\n", (long long)rows[i].id,
               (long long)rows[i].submission_id, rows[i].kind, rows[i].status,
               (long long)rows[i].parent_run_id, when);
    }
    sa_run_rows_free(rows, n);
    return 0;
}

/* `run start --phase P --all` and `run rescore --phase P`: every ready
 * submission of the phase. */
static int for_each_submission(sa_store *st, const char *data_dir, int64_t phase_id,
                               const char *kind, sa_error *err) {
    sa_submission_row *subs = NULL;
    size_t n = 0;
    if (sa_store_submission_list(st, phase_id, 0, &subs, &n, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(subs[i].status, "ready")) continue;
        int64_t parent = 0, run_id;
        if (!strcmp(kind, "rescore")) {
            sa_run_row last;
            int found = sa_store_run_latest_evaluation(st, subs[i].id, 1, &last, err);
            if (found < 0) rc = -1;
            if (found <= 0) continue;
            parent = last.id;
            sa_run_row_free(&last);
        } else {
            sa_run_row *runs = NULL;
            size_t n_runs = 0;
            if ((rc = sa_store_run_list(st, 0, subs[i].id, &runs, &n_runs, err))) break;
            sa_run_rows_free(runs, n_runs);
            if (n_runs > 0) continue;
        }
        rc = sa_run_queue(st, data_dir, subs[i].id, kind, parent, &run_id, err);
        if (rc == SA_STORE_CONFLICT) { /* queued meanwhile by a worker or a submission */
            rc = 0;
            continue;
        }
        if (rc) break;
        printf("run %lld queued: %s of submission %lld (team %s)\n", (long long)run_id, kind,
               (long long)subs[i].id, subs[i].team);
    }
    sa_submission_rows_free(subs, n);
    return rc;
}

/* 0 once the run is over; -1 (*unknown set when there is no such run). */
static int wait_for_run(sa_store *st, int64_t run_id, double timeout, int *unknown, sa_error *err) {
    time_t start = time(NULL);
    int64_t last_done = -1;
    for (;;) {
        sa_run_row run;
        int found = sa_store_run_get(st, run_id, &run, err);
        if (found == 0) *unknown = 1, sa_error_set(err, "no run %lld", (long long)run_id);
        if (found != 1) return -1;
        sa_run_progress p;
        int rc = sa_store_run_progress(st, run_id, &p, err);
        int over = !strcmp(run.status, "done") || !strcmp(run.status, "cancelled");
        if (rc == 0 && (p.done != last_done || over)) {
            print_progress(stderr, run_id, &p, run.status);
            last_done = p.done;
        }
        sa_run_row_free(&run);
        if (rc) return -1;
        if (over) return 0;
        if (timeout > 0 && difftime(time(NULL), start) > timeout)
            return sa_error_set(err, "run %lld: not done after %g s", (long long)run_id, timeout);
        sleep(1);
    }
}

int cmd_run(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(run_help, stdout);
            return EXIT_OK;
        }
    cli_opt opts[] = {{"--phase", 1, 0, 0}, {"--all", 0, 0, 0}, {"--timeout", 1, 0, 0},
                      {"--data-dir", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[2];
    size_t n_pos;
    if (cli_parse("run", argc, argv, 1, opts, n_opts, pos, 2, &n_pos)) return EXIT_BAD_INPUT;
    if (n_pos == 0) {
        fputs(run_help, stderr);
        return EXIT_BAD_INPUT;
    }
    const char *cmd = pos[0];
    static const char *const known[] = {"start", "status", "list", "cancel", "rescore", "rerun", "wait"};
    int is_known = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) is_known |= !strcmp(cmd, known[i]);
    if (!is_known) {
        fprintf(stderr, "segarena run: unknown command '%s' (segarena run --help)\n", cmd);
        return EXIT_BAD_INPUT;
    }
    const char *data_dir = cli_data_dir(cli_value(opts, n_opts, "--data-dir"));
    const char *phase = cli_value(opts, n_opts, "--phase");
    int64_t id = 0, phase_id = 0;
    if (n_pos == 2 && cli_parse_id("run", "the id", pos[1], &id)) return EXIT_BAD_INPUT;
    int by_phase = phase && n_pos == 1 &&
                   (!strcmp(cmd, "status") || !strcmp(cmd, "list") || !strcmp(cmd, "rescore") ||
                    (!strcmp(cmd, "start") && cli_flag(opts, n_opts, "--all")));
    if (!by_phase && n_pos != 2) {
        if (!strcmp(cmd, "list"))
            fputs("segarena run list: give --phase CHALLENGE/PHASE (segarena run --help)\n", stderr);
        else
            fprintf(stderr, "segarena run %s: give a%s id%s (segarena run --help)\n", cmd,
                    !strcmp(cmd, "start") ? " submission" : " run",
                    !strcmp(cmd, "status") || !strcmp(cmd, "rescore") ? " or --phase P"
                    : !strcmp(cmd, "start")                           ? " or --phase P --all"
                                                                      : "");
        return EXIT_BAD_INPUT;
    }
    sa_store *st = NULL;
    if (cli_open_store("run", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    sa_error err;
    int rc = 0, bad_input = 0; /* an unknown id or a refused request (2), else 1 */
    int found_phase = by_phase ? cli_phase_find(st, phase, &phase_id, NULL, &err) : 1;
    if (found_phase <= 0) {
        rc = -1;
        bad_input = found_phase == 0;
    } else if (!strcmp(cmd, "start")) {
        if (by_phase) {
            rc = for_each_submission(st, data_dir, phase_id, "evaluate", &err);
        } else {
            sa_run_row *runs = NULL;
            size_t n_runs = 0;
            rc = sa_store_run_list(st, 0, id, &runs, &n_runs, &err);
            sa_run_rows_free(runs, n_runs);
            if (rc == 0 && n_runs > 0 && (bad_input = 1))
                rc = sa_error_set(&err, "submission %lld already has %zu run(s): use `segarena "
                                        "run rerun RUN` or `segarena run rescore RUN`",
                                  (long long)id, n_runs);
            int64_t run_id;
            if (rc == 0 && (rc = sa_run_queue(st, data_dir, id, "evaluate", 0, &run_id, &err)))
                bad_input = rc != -1; /* unknown or refused submission, not a platform failure */
            if (rc == 0) printf("run %lld queued\n", (long long)run_id);
        }
    } else if (!strcmp(cmd, "status") || !strcmp(cmd, "list")) {
        rc = by_phase ? list_runs(st, phase_id, &err) : show_status(st, id, &err);
        bad_input = rc != 0 && !by_phase && strncmp(err.msg, "no run", 6) == 0;
    } else if (!strcmp(cmd, "cancel")) {
        int cancelled = sa_store_run_cancel(st, id, &err);
        if (cancelled < 0) rc = -1, bad_input = strstr(err.msg, "not found") != NULL;
        else printf(cancelled ? "run %lld cancelled (cases already running finish)\n"
                              : "run %lld was already over; nothing changed\n", (long long)id);
    } else if (!strcmp(cmd, "rescore") && by_phase) {
        rc = for_each_submission(st, data_dir, phase_id, "rescore", &err);
    } else if (!strcmp(cmd, "rescore") || !strcmp(cmd, "rerun")) {
        sa_run_row run;
        int found = sa_store_run_get(st, id, &run, &err);
        if (found == 0) sa_error_set(&err, "no run %lld", (long long)id);
        bad_input = found == 0;
        rc = found <= 0 ? -1 : 0;
        int64_t run_id;
        if (rc == 0) {
            rc = sa_run_queue(st, data_dir, run.submission_id, cmd, id, &run_id, &err);
            bad_input = rc != 0 && rc != -1; /* e.g. a rescore of an unfinished run */
            sa_run_row_free(&run);
        }
        if (rc == 0) printf("run %lld queued: %s of run %lld\n", (long long)run_id, cmd, (long long)id);
    } else if (!strcmp(cmd, "wait")) {
        const char *t = cli_value(opts, n_opts, "--timeout");
        char *end = NULL;
        double timeout = t ? strtod(t, &end) : 0;
        if (t && (*end || !(timeout > 0))) {
            bad_input = 1;
            rc = sa_error_set(&err, "--timeout takes a number of seconds, not '%s'", t);
        } else {
            rc = wait_for_run(st, id, timeout, &bad_input, &err);
        }
    }
    sa_store_close(st);
    if (rc) {
        fprintf(stderr, "segarena run %s: %s\n", cmd, err.msg);
        return bad_input ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    return EXIT_OK;
}

/* ---- worker ---- */

static volatile int stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void print_event(const sa_worker_event *ev, void *ctx) {
    if (*(int *)ctx && ev->kind != SA_WORKER_PROBLEM) return; /* --quiet */
    switch (ev->kind) {
    case SA_WORKER_CASE_DONE:
        fprintf(stderr, "run %lld case %s: %s (container %.2f s, platform %.2f s)",
                (long long)ev->run_id, ev->case_id, ev->error_class, ev->container_seconds,
                ev->platform_seconds);
        if (ev->progress) {
            const sa_run_progress *p = ev->progress;
            int64_t left = p->queued + p->running;
            fprintf(stderr, "; %lld/%lld done, %lld failed, %lld left", (long long)p->done,
                    (long long)p->total, (long long)p->failed, (long long)left);
            if (left > 0 && p->mean_case_seconds > 0) {
                double eta = p->mean_case_seconds * (double)left;
                fprintf(stderr, ", ETA %d:%02d (one worker)", (int)(eta / 60), (int)eta % 60);
            }
        }
        fputc('\n', stderr);
        break;
    case SA_WORKER_CASE_RETRY:
        fprintf(stderr, "run %lld case %s: %s; the case goes back to the queue\n",
                (long long)ev->run_id, ev->case_id, ev->error_class);
        break;
    case SA_WORKER_RUN_DONE:
        fprintf(stderr, "run %lld done\n", (long long)ev->run_id);
        break;
    case SA_WORKER_PROBLEM: /* shown even with --quiet */
        if (ev->case_id)
            fprintf(stderr, "worker: run %lld case %s: %s\n", (long long)ev->run_id, ev->case_id,
                    ev->message ? ev->message : "");
        else if (ev->run_id)
            fprintf(stderr, "worker: run %lld: %s\n", (long long)ev->run_id,
                    ev->message ? ev->message : "");
        else
            fprintf(stderr, "worker: %s\n", ev->message ? ev->message : "");
        break;
    }
}

int cmd_worker(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(worker_help, stdout);
            return EXIT_OK;
        }
    cli_opt opts[] = {{"--threads", 1, 0, 0}, {"--until-idle", 0, 0, 0}, {"--lease", 1, 0, 0},
                      {"--data-dir", 1, 0, 0}, {"--quiet", 0, 0, 0}, {"--retry-delays", 1, 0, 0},
                      {"--sweep", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    size_t n_pos;
    if (cli_parse("worker", argc, argv, 1, opts, n_opts, pos, 0, &n_pos)) return EXIT_BAD_INPUT;
    sa_worker_options opt;
    sa_worker_options_default(&opt);
    opt.data_dir = cli_data_dir(cli_value(opts, n_opts, "--data-dir"));
    opt.until_idle = cli_flag(opts, n_opts, "--until-idle");
    sa_error err;
    const char *v;
    if ((v = cli_value(opts, n_opts, "--threads"))) {
        int64_t n;
        if (cli_parse_id("worker", "--threads", v, &n)) return EXIT_BAD_INPUT;
        if (n > 256) {
            fputs("segarena worker: --threads takes 1 to 256\n", stderr);
            return EXIT_BAD_INPUT;
        }
        opt.threads = (int)n;
    }
    if ((v = cli_value(opts, n_opts, "--lease"))) {
        char *end;
        opt.lease_seconds = strtod(v, &end);
        if (*end || !(opt.lease_seconds >= 1 && opt.lease_seconds <= 86400)) {
            fprintf(stderr, "segarena worker: --lease must be between 1 and 86400 seconds\n");
            return EXIT_BAD_INPUT;
        }
    }
    double delays[16];
    if ((v = cli_value(opts, n_opts, "--retry-delays"))) {
        size_t n = 0;
        const char *p = v;
        for (;;) {
            char *end;
            double d = strtod(p, &end);
            if (end == p || !(d >= 0 && d <= 86400) || n == 16 || (*end && *end != ',')) {
                fprintf(stderr, "segarena worker: --retry-delays takes 1 to 16 comma-separated "
                                "seconds, each 0 to 86400\n");
                return EXIT_BAD_INPUT;
            }
            delays[n++] = d;
            if (!*end) break;
            p = end + 1;
        }
        opt.retry_delays = delays;
        opt.n_retry_delays = n;
    }
    if ((v = cli_value(opts, n_opts, "--sweep"))) {
        char *end;
        opt.sweep_seconds = strtod(v, &end);
        if (*end || !(opt.sweep_seconds >= 1 && opt.sweep_seconds <= 86400)) {
            fprintf(stderr, "segarena worker: --sweep must be between 1 and 86400 seconds\n");
            return EXIT_BAD_INPUT;
        }
    }
    int quiet = cli_flag(opts, n_opts, "--quiet");
    opt.on_event = print_event;
    opt.ctx = &quiet;
    opt.stop = &stop_requested;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (sa_worker_run(&opt, &err)) {
        fprintf(stderr, "segarena worker: %s\n", err.msg);
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}
